/*
 * The public endpoints of authd: OAuth 2.0, OpenID Connect and SMART App
 * Launch.  oauth_http.c holds the route table, the metadata documents,
 * the JWKS and what the endpoints share; token.c the back channel
 * (/token, /revoke, /introspect, /userinfo); authorize.c the pages a
 * beneficiary sees (/authorize, /apps, /logout).
 */

#ifndef AUTHD_OAUTH_HTTP_H
#define AUTHD_OAUTH_HTTP_H

#include <stddef.h>

#include "commands.h"
#include "crypto.h"
#include "db.h"
#include "http.h"
#include "oauth.h"


/* '\x' and the hex SHA-256 of a secret: a bytea parameter */
#define OAUTH_HASH_PARAM_SIZE  (2 + CRYPTO_SHA256_HEX_SIZE)


/* a client that authenticated at /token, /revoke or /introspect */
typedef struct {
    char         app_id[24];
    char         client_id[OAUTH_CLIENT_ID_MAX + 1];
    int          confidential;
} oauth_client_t;


/* what a check did: passed, or answered the request itself */
typedef enum {
    OAUTH_HTTP_PASS = 0,
    OAUTH_HTTP_ANSWERED,
    OAUTH_HTTP_FAILED                   /* logged; the caller answers 500 */
} oauth_http_rc_t;


void oauth_http_hash(const char *secret, char out[OAUTH_HASH_PARAM_SIZE]);

/* 1 when the body is application/x-www-form-urlencoded */
int oauth_http_is_form(http_req_t *req);

/*
 * The checks every back-channel POST passes first: a form body
 * (application/x-www-form-urlencoded), no parameter given twice.
 */
oauth_http_rc_t oauth_http_form(http_req_t *req);

/*
 * Authenticates the client (RFC 6749 section 2.3): client_secret_basic or
 * client_secret_post for a confidential client, client_id alone for a
 * public one.  On failure the request is answered (401 invalid_client,
 * with WWW-Authenticate when Basic was tried; 400 invalid_request for
 * credentials given twice).
 */
oauth_http_rc_t oauth_http_client(db_conn_t *c, http_req_t *req,
    oauth_client_t *client);

/*
 * description made fit for error_description (RFC 6749 5.2: printable
 * ASCII without '"' and '\\'), into out
 */
void oauth_http_description(const char *description, char *out,
    size_t outlen);

/*
 * A required form parameter, checked by oauth_check_param(): 0, or -1
 * having answered 400 invalid_request.
 */
int oauth_http_param(http_req_t *req, const char *name, size_t max,
    const char **value);

/* an RFC 6749 error JSON with "Pragma: no-cache" */
int oauth_http_error(http_req_t *req, unsigned status, const char *error,
    const char *description);

/* 503 when no database connection came in time */
int oauth_http_unavailable(http_req_t *req, int page);

/*
 * Rewrites the policy document after a revocation, so that the gateway
 * refuses the tokens before they expire; a failure is logged.
 */
void oauth_http_policy(http_req_t *req, db_conn_t *c);

/* sends a page made by html.c and frees it; NULL (no memory) is a 500 */
int oauth_http_page(http_req_t *req, unsigned status, char *html);

/* the issuer with path appended, in a new string, e.g. ".../token" */
char *oauth_http_url(const char *path);

/* 1 when name is one of the space-separated scopes of scope */
int oauth_http_has_scope(const char *scope, const char *name);

/* 1 when every scope of wanted is one of granted */
int oauth_http_scope_covers(const char *granted, const char *wanted);

/* 1 when scope holds one that means nothing without a patient id */
int oauth_http_scope_needs_patient(const char *scope);

/* cuts a normalized scope string into its scopes, in place */
size_t oauth_http_scope_split(char *scope, const char **out, size_t max);


/* token.c */
int token_handler(http_req_t *req);

/*
 * Revokes a refresh token family and its access tokens, audited as
 * action; rewrites the policy when access tokens were revoked.  0 or -1.
 */
int token_family_revoke(http_req_t *req, db_conn_t *c, const char *family,
    const char *client_id, const char *action);


/* token_info.c */
int token_revoke(http_req_t *req);
int token_introspect(http_req_t *req);
int token_userinfo(http_req_t *req);


/* authorize.c */
int authorize_get(http_req_t *req);
int authorize_post(http_req_t *req);

/* apps.c: the beneficiary's authorized apps, and signing out */
int apps_get(http_req_t *req);

/*
 * The login form's username and password checked (session_login()):
 * 1 signed in as user_id; 0 refused, with the status and the notice the
 * login page shows again (Retry-After is set when throttled); -1 failure
 * (logged).  The caller starts the session.
 */
int apps_login(http_req_t *req, db_conn_t *c, char *user_id, size_t idlen,
    unsigned *status, char *notice, size_t noticelen);

int apps_post(http_req_t *req);
int apps_revoke(http_req_t *req);
int apps_logout_get(http_req_t *req);
int apps_logout_post(http_req_t *req);


#endif /* AUTHD_OAUTH_HTTP_H */
