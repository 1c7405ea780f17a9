/*
 * The public listener's route table, the discovery documents (RFC 8414,
 * OpenID Connect Discovery, SMART App Launch 2), the JWKS, and what the
 * back-channel endpoints share: the form checks and client
 * authentication.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "commands.h"
#include "config.h"
#include "crypto.h"
#include "db.h"
#include "http.h"
#include "keys.h"
#include "log.h"
#include "oauth.h"
#include "oauth_http.h"
#include "policy.h"


static int oauth_http_openid(http_req_t *req);
static int oauth_http_rfc8414(http_req_t *req);
static int oauth_http_smart(http_req_t *req);
static int oauth_http_jwks(http_req_t *req);
static json_t *oauth_http_metadata(void);
static int oauth_http_document(http_req_t *req, json_t *doc);
static int oauth_http_unauthorized(http_req_t *req, int basic,
    const char *description);
static int oauth_http_hex(const char *s, unsigned char *out, size_t len);


const http_route_t  oauth_routes[] = {
    { "GET", "/.well-known/openid-configuration", oauth_http_openid },
    { "GET", "/.well-known/oauth-authorization-server", oauth_http_rfc8414 },
    { "GET", "/.well-known/smart-configuration", oauth_http_smart },
    { "GET", "/jwks.json", oauth_http_jwks },
    { "GET", "/authorize", authorize_get },
    { "POST", "/authorize", authorize_post },
    { "POST", "/token", token_handler },
    { "POST", "/revoke", token_revoke },
    { "POST", "/introspect", token_introspect },
    { "GET", "/userinfo", token_userinfo },
    { "POST", "/userinfo", token_userinfo },
    { "GET", "/apps", apps_get },
    { "POST", "/apps", apps_post },
    { "POST", "/apps/revoke", apps_revoke },
    { "GET", "/logout", apps_logout_get },
    { "POST", "/logout", apps_logout_post },
    { NULL, NULL, NULL }
};


/* the scopes authd grants, as the discovery documents list them */

static const char  *oauth_http_scopes[] = {
    "openid", "fhirUser", "profile", "launch/patient", "offline_access",
    "patient/*.read", "patient/*.rs", NULL
};


static const db_stmt_t  oauth_http_find_client = {
    "oauth_http_find_client",
    "SELECT id, client_type = 'confidential', client_secret_hash, active"
    "  FROM applications WHERE client_id = $1"
};


void
oauth_http_hash(const char *secret, char out[OAUTH_HASH_PARAM_SIZE])
{
    out[0] = '\\';
    out[1] = 'x';
    crypto_sha256_hex(secret, strlen(secret), out + 2);
}


int
oauth_http_is_form(http_req_t *req)
{
    size_t       len;
    const char  *type;

    type = req->content_type;
    len = sizeof("application/x-www-form-urlencoded") - 1;

    return type != NULL
           && strncasecmp(type, "application/x-www-form-urlencoded", len)
              == 0
           && (type[len] == '\0' || type[len] == ';' || type[len] == ' ');
}


oauth_http_rc_t
oauth_http_form(http_req_t *req)
{
    char         q[BB_QUOTE_SIZE], msg[BB_QUOTE_SIZE + 64];
    const char  *name;

    /*
     * An app running in a browser calls these from its own origin; no
     * cookie is involved, so any origin may read the answers.
     */

    if (http_set_header(req, "Access-Control-Allow-Origin", "*") != 0) {
        return OAUTH_HTTP_FAILED;
    }

    if (!oauth_http_is_form(req)) {
        oauth_http_error(req, 400, "invalid_request",
                         "the body must be application/"
                         "x-www-form-urlencoded");
        return OAUTH_HTTP_ANSWERED;
    }

    name = http_pairs_repeated(&req->form);

    if (name == NULL) {
        name = http_pairs_repeated(&req->query);
    }

    if (name != NULL) {
        snprintf(msg, sizeof(msg), "parameter \"%s\" given more than once",
                 bb_quote_cstr(q, name));
        oauth_http_error(req, 400, "invalid_request", msg);
        return OAUTH_HTTP_ANSWERED;
    }

    return OAUTH_HTTP_PASS;
}


oauth_http_rc_t
oauth_http_client(db_conn_t *c, http_req_t *req, oauth_client_t *client)
{
    int              basic, ok;
    char            *id, *secret;
    char             err[256];
    PGresult        *res;
    const char      *auth, *user, *pass, *form_id, *form_secret;
    const char      *params[1];
    unsigned char    stored[CRYPTO_SHA256_LEN], given[CRYPTO_SHA256_LEN];
    oauth_http_rc_t  rc;

    memset(client, 0, sizeof(oauth_client_t));

    id = NULL;
    secret = NULL;
    res = NULL;
    rc = OAUTH_HTTP_ANSWERED;

    auth = http_header(req, "Authorization");
    basic = (auth != NULL && strncasecmp(auth, "Basic ", 6) == 0);

    form_id = http_form(req, "client_id");
    form_secret = http_form(req, "client_secret");

    if (basic) {

        /* RFC 6749 2.3.1: both halves are form-encoded before base64 */

        if (http_basic_auth(req, &user, &pass) != 0
            || (id = http_url_decode(user)) == NULL
            || (secret = http_url_decode(pass)) == NULL)
        {
            oauth_http_unauthorized(req, 1, "malformed Basic credentials");
            goto done;
        }

        if (form_secret != NULL) {
            oauth_http_error(req, 400, "invalid_request",
                             "the client authenticated twice (Basic and "
                             "client_secret)");
            goto done;
        }

        if (form_id != NULL && strcmp(form_id, id) != 0) {
            oauth_http_error(req, 400, "invalid_request",
                             "client_id differs from the Basic "
                             "credentials");
            goto done;
        }

    } else if (form_id != NULL) {
        id = strdup(form_id);
        secret = form_secret ? strdup(form_secret) : NULL;

        if (id == NULL || (form_secret != NULL && secret == NULL)) {
            log_error(req->id, "out of memory");
            rc = OAUTH_HTTP_FAILED;
            goto done;
        }

    } else {
        oauth_http_unauthorized(req, 0, "client authentication required");
        goto done;
    }

    if (!oauth_client_id_valid(id, err, sizeof(err))) {
        oauth_http_unauthorized(req, basic, "client authentication failed");
        goto done;
    }

    http_set_client_id(req, id);

    params[0] = id;

    res = db_exec(c, &oauth_http_find_client, 1, params);
    if (res == NULL) {
        rc = OAUTH_HTTP_FAILED;
        goto done;
    }

    if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 3), "t") != 0) {
        oauth_http_unauthorized(req, basic, "client authentication failed");
        goto done;
    }

    client->confidential = (strcmp(PQgetvalue(res, 0, 1), "t") == 0);

    if (client->confidential) {
        ok = 0;

        if (secret != NULL && secret[0] != '\0'
            && oauth_http_hex(PQgetvalue(res, 0, 2), stored, sizeof(stored))
               == 0)
        {
            crypto_sha256(secret, strlen(secret), given);
            ok = crypto_equal(given, stored, CRYPTO_SHA256_LEN);
        }

        if (!ok) {
            oauth_http_unauthorized(req, basic,
                                    "client authentication failed");
            goto done;
        }

    } else if (secret != NULL && secret[0] != '\0') {
        oauth_http_unauthorized(req, basic, "a public client has no secret");
        goto done;
    }

    snprintf(client->app_id, sizeof(client->app_id), "%s",
             PQgetvalue(res, 0, 0));
    snprintf(client->client_id, sizeof(client->client_id), "%s", id);

    rc = OAUTH_HTTP_PASS;

done:

    if (secret != NULL) {
        OPENSSL_cleanse(secret, strlen(secret));
        free(secret);
    }

    free(id);
    PQclear(res);

    return rc;
}


void
oauth_http_description(const char *description, char *out, size_t outlen)
{
    size_t  i;

    for (i = 0; description[i] != '\0' && i + 1 < outlen; i++) {
        switch (description[i]) {

        case '"':
            out[i] = '\'';
            break;

        case '\\':
            out[i] = '/';
            break;

        default:
            out[i] = (description[i] < 0x20 || description[i] > 0x7e)
                     ? '?' : description[i];
            break;
        }
    }

    out[i] = '\0';
}


int
oauth_http_error(http_req_t *req, unsigned status, const char *error,
    const char *description)
{
    char  text[256];

    if (http_set_header(req, "Pragma", "no-cache") != 0) {
        return -1;
    }

    if (description != NULL) {
        oauth_http_description(description, text, sizeof(text));
        description = text;
    }

    return http_oauth_error(req, status, error, description);
}


int
oauth_http_unavailable(http_req_t *req, int page)
{
    if (http_set_header(req, "Retry-After", "1") != 0) {
        return -1;
    }

    if (page) {
        return http_html(req, 503, "<!DOCTYPE html>\n<html lang=\"en\">\n"
                         "<head><meta charset=\"utf-8\">"
                         "<title>Unavailable</title></head>\n<body><main>"
                         "<h1>Unavailable</h1><p>The service is busy. "
                         "Please try again.</p></main></body></html>\n");
    }

    return oauth_http_error(req, 503, "temporarily_unavailable",
                            "the database is unavailable");
}


int
oauth_http_param(http_req_t *req, const char *name, size_t max,
    const char **value)
{
    char  err[256];

    *value = http_form(req, name);

    if (oauth_check_param(name, *value, max, err, sizeof(err)) != 0) {
        oauth_http_error(req, 400, "invalid_request", err);
        return -1;
    }

    return 0;
}


void
oauth_http_policy(http_req_t *req, db_conn_t *c)
{
    char  err[256];

    if (policy_refresh(c, err, sizeof(err)) != 0) {
        log_error(req->id, "policy_refresh() failed: %s", err);
    }
}


int
oauth_http_page(http_req_t *req, unsigned status, char *html)
{
    int  rc;

    if (html == NULL) {
        log_error(req->id, "out of memory");
        return -1;
    }

    rc = http_html(req, status, html);
    free(html);

    return rc;
}


char *
oauth_http_url(const char *path)
{
    int     n;
    char   *url;
    size_t  len;

    len = strlen(authd_cfg.issuer);

    /* an issuer written with a trailing slash gets no second one */

    if (len > 0 && authd_cfg.issuer[len - 1] == '/') {
        len--;
    }

    n = asprintf(&url, "%.*s%s", (int) len, authd_cfg.issuer, path);

    return n < 0 ? NULL : url;
}


int
oauth_http_has_scope(const char *scope, const char *name)
{
    size_t       len;
    const char  *p;

    len = strlen(name);

    for (p = scope; (p = strstr(p, name)) != NULL; p += len) {
        if ((p == scope || p[-1] == ' ')
            && (p[len] == '\0' || p[len] == ' '))
        {
            return 1;
        }
    }

    return 0;
}


int
oauth_http_scope_covers(const char *granted, const char *wanted)
{
    char        one[OAUTH_SCOPE_TOKEN_MAX + 1];
    size_t      len;
    const char *s, *e;

    for (s = wanted; *s != '\0'; s = e) {
        while (*s == ' ') {
            s++;
        }

        e = strchr(s, ' ');
        if (e == NULL) {
            e = s + strlen(s);
        }

        len = e - s;

        if (len == 0) {
            continue;
        }

        if (len >= sizeof(one)) {
            return 0;
        }

        memcpy(one, s, len);
        one[len] = '\0';

        if (!oauth_http_has_scope(granted, one)) {
            return 0;
        }
    }

    return 1;
}


int
oauth_http_scope_needs_patient(const char *scope)
{
    const char  *p;

    if (oauth_http_has_scope(scope, "launch/patient")) {
        return 1;
    }

    for (p = scope; (p = strstr(p, "patient/")) != NULL; p++) {
        if (p == scope || p[-1] == ' ') {
            return 1;
        }
    }

    return 0;
}


size_t
oauth_http_scope_split(char *scope, const char **out, size_t max)
{
    size_t  n;
    char   *s, *save;

    n = 0;

    for (s = strtok_r(scope, " ", &save); s != NULL && n < max;
         s = strtok_r(NULL, " ", &save))
    {
        out[n++] = s;
    }

    return n;
}


static int
oauth_http_openid(http_req_t *req)
{
    json_t  *doc;

    doc = oauth_http_metadata();

    if (doc != NULL
        && (json_object_set_new(doc, "subject_types_supported",
                                json_pack("[s]", "public")) != 0
            || json_object_set_new(doc, "id_token_signing_alg_values_"
                                   "supported", json_pack("[s]", "ES256"))
               != 0
            || json_object_set_new(doc, "claims_supported",
                                   json_pack("[s,s,s,s,s,s,s,s]", "iss",
                                             "sub", "aud", "exp", "iat",
                                             "nonce", "name", "fhirUser"))
               != 0))
    {
        json_decref(doc);
        doc = NULL;
    }

    return oauth_http_document(req, doc);
}


static int
oauth_http_rfc8414(http_req_t *req)
{
    return oauth_http_document(req, oauth_http_metadata());
}


static int
oauth_http_smart(http_req_t *req)
{
    char    *apps;
    json_t  *doc;

    doc = oauth_http_metadata();
    apps = oauth_http_url("/apps");

    if (doc != NULL
        && (apps == NULL
            || json_object_set_new(doc, "management_endpoint",
                                   json_string(apps)) != 0
            || json_object_set_new(doc, "capabilities",
                                   json_pack("[s,s,s,s,s,s,s,s,s]",
                                             "launch-standalone",
                                             "client-public",
                                             "client-confidential-symmetric",
                                             "context-standalone-patient",
                                             "permission-offline",
                                             "permission-patient",
                                             "permission-v1",
                                             "permission-v2",
                                             "sso-openid-connect"))
               != 0))
    {
        json_decref(doc);
        doc = NULL;
    }

    free(apps);

    return oauth_http_document(req, doc);
}


static int
oauth_http_jwks(http_req_t *req)
{
    int          rc;
    char        *jwks;
    db_conn_t   *c;

    c = db_acquire(req->id);
    if (c == NULL) {
        return oauth_http_unavailable(req, 0);
    }

    jwks = keys_jwks(c, req->id);

    db_release(c);

    if (jwks == NULL) {
        return -1;
    }

    rc = http_set_header(req, "Cache-Control", "public, max-age=60");

    if (rc == 0) {
        rc = http_set_header(req, "Access-Control-Allow-Origin", "*");
    }

    if (rc == 0) {
        rc = http_json(req, 200, json_loads(jwks, 0, NULL));
    }

    free(jwks);

    return rc;
}


/* what RFC 8414, OpenID Connect Discovery and SMART share */

static json_t *
oauth_http_metadata(void)
{
    size_t        i;
    json_t       *doc, *scopes;
    char         *url;
    const char  **e;

    static const char  *endpoints[][2] = {
        { "authorization_endpoint", "/authorize" },
        { "token_endpoint", "/token" },
        { "jwks_uri", "/jwks.json" },
        { "revocation_endpoint", "/revoke" },
        { "introspection_endpoint", "/introspect" },
        { "userinfo_endpoint", "/userinfo" }
    };

    doc = json_pack("{s:s, s:[s], s:[s], s:[s,s], s:[s], s:[s,s,s],"
                    " s:[s,s], s:[s,s], s:[s,s,s], s:b}",
                    "issuer", authd_cfg.issuer,
                    "response_types_supported", "code",
                    "response_modes_supported", "query",
                    "grant_types_supported", "authorization_code",
                    "refresh_token",
                    "code_challenge_methods_supported", "S256",
                    "token_endpoint_auth_methods_supported",
                    "client_secret_basic", "client_secret_post", "none",
                    "revocation_endpoint_auth_methods_supported",
                    "client_secret_basic", "client_secret_post",
                    "introspection_endpoint_auth_methods_supported",
                    "client_secret_basic", "client_secret_post",
                    "prompt_values_supported", "none", "login", "consent",
                    "authorization_response_iss_parameter_supported", 1);

    scopes = json_array();

    if (doc == NULL || scopes == NULL
        || json_object_set_new(doc, "scopes_supported", scopes) != 0)
    {
        json_decref(doc);
        return NULL;
    }

    for (e = oauth_http_scopes; *e != NULL; e++) {
        if (json_array_append_new(scopes, json_string(*e)) != 0) {
            json_decref(doc);
            return NULL;
        }
    }

    for (i = 0; i < sizeof(endpoints) / sizeof(endpoints[0]); i++) {
        url = oauth_http_url(endpoints[i][1]);

        if (url == NULL
            || json_object_set_new(doc, endpoints[i][0], json_string(url))
               != 0)
        {
            free(url);
            json_decref(doc);
            return NULL;
        }

        free(url);
    }

    return doc;
}


static int
oauth_http_document(http_req_t *req, json_t *doc)
{
    if (doc == NULL) {
        log_error(req->id, "out of memory");
        return -1;
    }

    if (http_set_header(req, "Cache-Control", "public, max-age=300") != 0
        || http_set_header(req, "Access-Control-Allow-Origin", "*") != 0)
    {
        json_decref(doc);
        return -1;
    }

    return http_json(req, 200, doc);
}


static int
oauth_http_unauthorized(http_req_t *req, int basic, const char *description)
{
    if (basic
        && http_set_header(req, "WWW-Authenticate",
                           "Basic realm=\"authd\", charset=\"UTF-8\"")
           != 0)
    {
        return -1;
    }

    return oauth_http_error(req, 401, "invalid_client", description);
}


/* the bytes of a '\x<hex>' bytea value of exactly len bytes */

static int
oauth_http_hex(const char *s, unsigned char *out, size_t len)
{
    size_t  i;
    int     hi, lo;

    if (s[0] != '\\' || s[1] != 'x' || strlen(s + 2) != 2 * len) {
        return -1;
    }

    s += 2;

    for (i = 0; i < len; i++) {
        hi = OPENSSL_hexchar2int((unsigned char) s[2 * i]);
        lo = OPENSSL_hexchar2int((unsigned char) s[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            return -1;
        }

        out[i] = (unsigned char) (hi << 4 | lo);
    }

    return 0;
}
