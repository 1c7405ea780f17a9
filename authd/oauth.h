/*
 * The rules of OAuth 2.0 and SMART on FHIR as authd applies them, without
 * HTTP or database: PKCE (S256 only), redirect URIs (registered forms,
 * exact match), scopes (what may be asked, what a client is allowed), the
 * RFC 9068 access token, and the checks every request parameter passes.
 * Functions that judge input write a reason into err that the endpoints
 * may send back as error_description: it quotes at most a scope, a
 * redirect URI or a client_id, never a verifier, a code or a token.
 */

#ifndef OAUTH_H
#define OAUTH_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>


#define OAUTH_MUST_CHECK             __attribute__((warn_unused_result))

#define OAUTH_VERIFIER_MIN           43
#define OAUTH_VERIFIER_MAX           128
#define OAUTH_CHALLENGE_LEN          43

#define OAUTH_REDIRECT_URI_MAX       2048
#define OAUTH_CLIENT_ID_MAX          128

/* scopes in one request, and bytes in one scope */
#define OAUTH_SCOPES_MAX             64
#define OAUTH_SCOPE_TOKEN_MAX        128


typedef enum {
    OAUTH_SCOPE_OK = 0,
    OAUTH_SCOPE_INVALID,            /* malformed or unknown: invalid_scope */
    OAUTH_SCOPE_NOT_ALLOWED,        /* valid, but none the client may have */
    OAUTH_SCOPE_ERROR               /* out of memory */
} oauth_scope_rc_t;


/* the claims of an access token; patient may be NULL */
typedef struct {
    const char          *iss;
    const char          *aud;
    const char          *sub;
    const char          *client_id;
    const char          *scope;
    const char          *patient;
    const char          *jti;
    int64_t              iat;
    int64_t              exp;
} oauth_claims_t;


/*
 * PKCE with S256 (RFC 7636): 1 when base64url(SHA-256(verifier)) equals
 * the challenge (compared in constant time), 0 when it does not, -1 when
 * the verifier is not 43 to 128 characters of [A-Za-z0-9-._~].
 */
int oauth_pkce_verify(const char *verifier, const char *challenge)
    OAUTH_MUST_CHECK;

/*
 * 1 when an authorization request's code_challenge and
 * code_challenge_method are acceptable: method "S256" (a missing method
 * would mean "plain", which is refused) and a challenge of 43 base64url
 * characters.  Otherwise 0, with the reason in err.
 */
int oauth_pkce_challenge_valid(const char *challenge, const char *method,
    char *err, size_t errlen) OAUTH_MUST_CHECK;

/* 1 when given is, byte for byte, one of the n registered URIs */
int oauth_redirect_match(const char *given, const char *const *registered,
    size_t n);

/*
 * 1 when uri may be registered: https with a host; http only on
 * localhost, 127.0.0.1 or [::1]; or a private-use scheme holding a period
 * (com.example.app:/cb).  No fragment, no userinfo, no whitespace, control
 * or non-ASCII character, no backslash.  Otherwise 0, reason in err.
 */
int oauth_redirect_uri_valid(const char *uri, char *err, size_t errlen)
    OAUTH_MUST_CHECK;

/*
 * 1 when one scope is one that authd grants: openid, fhirUser, profile,
 * launch/patient, offline_access, patient/T.read|write|* (SMART v1) or
 * patient/T.<in-order subset of cruds> (v2), T a resource type
 * ([A-Z][A-Za-z]*) or "*".
 */
int oauth_scope_valid(const char *scope, size_t len);

/*
 * Check a space-separated scope string (repeated, leading and trailing
 * spaces allowed) and write into out, a new string for free(), its scopes
 * in order with duplicates and extra spaces removed.  OAUTH_SCOPE_INVALID
 * names the first bad scope in err; an empty string is invalid.
 */
oauth_scope_rc_t oauth_scope_normalize(const char *scope, char **out,
    char *err, size_t errlen) OAUTH_MUST_CHECK;

/*
 * The part of the requested scopes that the client's allowed scopes
 * cover, in request order, de-duplicated, into out (a new string for
 * free()).  A requested resource scope is narrowed to the permissions the
 * allowed ones grant (patient/Coverage.cruds against a wildcard read scope
 * gives patient/Coverage.rs); a requested wildcard against allowed
 * per-type scopes gives those types; other scopes pass only when allowed
 * verbatim.  OAUTH_SCOPE_INVALID when a requested scope is malformed or
 * unknown, OAUTH_SCOPE_NOT_ALLOWED when nothing is left; err says which.
 */
oauth_scope_rc_t oauth_scope_intersect(const char *requested,
    const char *allowed, char **out, char *err, size_t errlen)
    OAUTH_MUST_CHECK;

/*
 * An RFC 9068 access token in compact JWS form, ES256 with key under kid,
 * in a new string for free().  Returns 0, or -1 when a claim is missing,
 * empty or holds a control character (which the gateway would refuse),
 * exp is not after iat, or signing failed.
 */
int oauth_access_token(const oauth_claims_t *c, const char *kid,
    EVP_PKEY *key, char **out) OAUTH_MUST_CHECK;

/*
 * A request parameter: present, non-empty, at most max bytes, valid UTF-8
 * without control characters.  Returns 0, or -1 with a reason naming the
 * parameter (never quoting its value) in err.
 */
int oauth_check_param(const char *name, const char *value, size_t max,
    char *err, size_t errlen) OAUTH_MUST_CHECK;

/*
 * A client_id: 1 to OAUTH_CLIENT_ID_MAX characters of [A-Za-z0-9-._~].
 * Returns 1, or 0 with the reason in err.
 */
int oauth_client_id_valid(const char *client_id, char *err, size_t errlen)
    OAUTH_MUST_CHECK;


#endif /* OAUTH_H */
