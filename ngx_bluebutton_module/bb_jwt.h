/*
 * RFC 9068 JWT access tokens: parsing, signature check with keys parsed
 * once (OpenSSL EVP), and claim checks.  libjwt 1.10.2 cannot be used here:
 * it refuses typ "at+jwt", accepts HS256 signed with a public key's PEM and
 * re-parses the PEM on every verification.
 */

#ifndef BB_JWT_H
#define BB_JWT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "bb_policy.h"


#define BB_JWT_DEFAULT_MAX_SIZE   8192
#define BB_JWT_DEFAULT_LEEWAY     30

/* an ES256 JWS signature: r and s, 32 bytes each */
#define BB_ES256_SIG_LEN          64


typedef struct {
    int64_t              now;
    int64_t              leeway;        /* seconds */
    int64_t              max_lifetime;  /* exp - iat, seconds; 0: no bound */
    size_t               max_size;      /* bytes of the compact form */
} bb_jwt_limits_t;


/* The verified claims; one allocation each, freed by bb_jwt_free(). */
typedef struct {
    char                *sub;
    char                *client_id;
    char                *scope;
    char                *patient;       /* NULL when the claim is absent */
    char                *jti;
    char                *kid;
    int64_t              iat;
    int64_t              exp;
    int64_t              nbf;           /* 0 when absent */
} bb_jwt_t;


/*
 * Verify a compact JWS access token against the policy's issuer, audience
 * and keys.  Returns a new bb_jwt_t, or NULL with a reason in err that
 * never quotes the token ("token expired", "unknown kid \"k9\"", ...).
 * Revocation is not checked here (see bb_policy_revoked()).
 */
bb_jwt_t *bb_jwt_verify(const bb_policy_t *policy, const char *token,
    size_t len, const bb_jwt_limits_t *limits, char *err, size_t errlen);
void bb_jwt_free(bb_jwt_t *jwt);

/* 1 when the claims are still within exp (and leeway) at now */
int bb_jwt_live(const bb_jwt_t *jwt, int64_t now, int64_t leeway);

/* Import one RFC 7517 JWK (EC P-256 or RSA) bound to its "alg". */
int bb_key_from_jwk(bb_key_t *key, json_t *jwk, char *err, size_t errlen);
void bb_key_clear(bb_key_t *key);

/*
 * The signature check alone, over "header.payload" with the raw JWS
 * signature (r||s for ES256), for benchmarks and interop tests.
 */
int bb_jws_verify(const bb_key_t *key, const char *input, size_t len,
    const unsigned char *sig, size_t siglen);


#endif /* BB_JWT_H */
