/*
 * /authorize: the authorization request (RFC 6749 4.1 with PKCE, RFC 9207
 * iss), the login and consent pages, and the code.
 *
 * Every request, GET or POST, passes the same checks.  What is wrong
 * before the client and its redirect URI are known to match is shown on a
 * page, never sent to the URI; what is wrong afterwards goes back to the
 * client as error, error_description, state and iss.  The request's
 * parameters travel from page to page in hidden fields and are checked
 * again on every POST, so that a form can carry nothing a GET could not.
 *
 * A signed-in user whose live grant for the client already covers the
 * scopes gets a code without a page (unless prompt=consent); otherwise the
 * consent page lists each scope with its own checkbox, and the grant
 * holds what the user left checked.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "bb_buf.h"
#include "config.h"
#include "crypto.h"
#include "db.h"
#include "html.h"
#include "http.h"
#include "log.h"
#include "oauth.h"
#include "oauth_http.h"
#include "session.h"


#define AUTHORIZE_STATE_MAX   2048
#define AUTHORIZE_NONCE_MAX   512
#define AUTHORIZE_SCOPE_MAX   4096
#define AUTHORIZE_CODE_BYTES  32

#define AUTHORIZE_PROMPT_NONE     0x01
#define AUTHORIZE_PROMPT_LOGIN    0x02
#define AUTHORIZE_PROMPT_CONSENT  0x04


/* an authorization request, once its client and redirect URI are known */
typedef struct {
    const char          *response_type;
    const char          *client_id;
    const char          *redirect_uri;
    const char          *scope;             /* as requested */
    const char          *state;
    const char          *code_challenge;
    const char          *code_challenge_method;
    const char          *nonce;
    const char          *prompt;
    const char          *aud;
    unsigned             prompts;

    char                 app_id[24];
    char                *app_name;
    char                *allowed;           /* the client's, space-separated */
    char                *offered;           /* requested and allowed */
} authorize_t;


static oauth_http_rc_t authorize_check(http_req_t *req, db_conn_t *c,
    const http_pairs_t *p, authorize_t *ar);
static oauth_http_rc_t authorize_client(http_req_t *req, db_conn_t *c,
    const http_pairs_t *p, authorize_t *ar);
static void authorize_free(authorize_t *ar);
static int authorize_show(http_req_t *req, db_conn_t *c, authorize_t *ar,
    session_t *s);
static int authorize_approve(http_req_t *req, db_conn_t *c, authorize_t *ar,
    session_t *s);
static int authorize_issue(http_req_t *req, db_conn_t *c, authorize_t *ar,
    const session_t *s, const char *scope, int consent);
static int authorize_error(http_req_t *req, const authorize_t *ar,
    const char *error, const char *description);
static int authorize_login_form(http_req_t *req, unsigned status,
    authorize_t *ar, const session_t *s, const char *username,
    const char *notice);
static int authorize_refuse(http_req_t *req, authorize_t *ar,
    const session_t *s);
static int authorize_show_consent(http_req_t *req, authorize_t *ar,
    const session_t *s);
static size_t authorize_fields(const authorize_t *ar, html_field_t *f);
static char *authorize_self_url(const authorize_t *ar);
static const char *authorize_repeated(const http_pairs_t *p);


static const db_stmt_t  authorize_find_client = {
    "authorize_find_client",
    "SELECT id, name, array_to_json(redirect_uris)::text,"
    "       array_to_string(allowed_scopes, ' ')"
    "  FROM applications WHERE client_id = $1 AND active"
};


static const db_stmt_t  authorize_find_grant = {
    "authorize_find_grant",
    "SELECT id, scope FROM grants"
    " WHERE user_id = $1::bigint AND application_id = $2::bigint"
    "   AND revoked_at IS NULL AND expires_at > now()"
};


/* a code under the user's live grant, which must still be there */

static const db_stmt_t  authorize_code = {
    "authorize_code",
    "INSERT INTO authorization_codes (code_hash, application_id, user_id,"
    "    grant_id, redirect_uri, scope, code_challenge, nonce, expires_at)"
    " SELECT $1::bytea, $2::bigint, $3::bigint, g.id, $4, $5, $6, $7,"
    "        now() + $8::bigint * interval '1 second'"
    "   FROM grants g"
    "  WHERE g.user_id = $3::bigint AND g.application_id = $2::bigint"
    "    AND g.revoked_at IS NULL AND g.expires_at > now()"
};


/*
 * A consent: the grant created, or the live one given the new scope and
 * lifetime; the code under it; the audit entry.  One statement.
 */

static const db_stmt_t  authorize_consent = {
    "authorize_consent",
    "WITH g AS ("
    "    INSERT INTO grants (user_id, application_id, scope, expires_at)"
    "    VALUES ($3::bigint, $2::bigint, $5,"
    "            now() + $9::bigint * interval '1 second')"
    "    ON CONFLICT (user_id, application_id) WHERE revoked_at IS NULL"
    "    DO UPDATE SET scope = excluded.scope,"
    "                  expires_at = excluded.expires_at"
    "    RETURNING id"
    "), code AS ("
    "    INSERT INTO authorization_codes (code_hash, application_id,"
    "        user_id, grant_id, redirect_uri, scope, code_challenge, nonce,"
    "        expires_at)"
    "    SELECT $1::bytea, $2::bigint, $3::bigint, g.id, $4, $5, $6, $7,"
    "           now() + $8::bigint * interval '1 second'"
    "      FROM g"
    "), audit AS ("
    "    INSERT INTO audit_log (actor, action, target, client_id,"
    "                           request_id, detail)"
    "    SELECT 'user:' || $3, 'grant.consent', 'grant:' || g.id, $10, $11,"
    "           jsonb_build_object('scope', $5::text)"
    "      FROM g"
    ")"
    " SELECT id FROM g"
};


int
authorize_get(http_req_t *req)
{
    int           rc;
    db_conn_t    *c;
    session_t     s;
    authorize_t   ar;

    memset(&ar, 0, sizeof(authorize_t));

    c = db_acquire(req->id);
    if (c == NULL) {
        return oauth_http_unavailable(req, 1);
    }

    rc = -1;

    switch (authorize_check(req, c, &req->query, &ar)) {

    case OAUTH_HTTP_PASS:
        break;

    case OAUTH_HTTP_ANSWERED:
        rc = 0;
        goto done;

    default:
        goto done;
    }

    if (session_load(c, req, &s) < 0) {
        goto done;
    }

    rc = authorize_show(req, c, &ar, &s);

done:

    authorize_free(&ar);
    db_release(c);

    return rc;
}


int
authorize_post(http_req_t *req)
{
    int           rc, found;
    char          user_id[24], notice[128], *next;
    unsigned      status;
    db_conn_t    *c;
    session_t     s;
    const char   *action;
    authorize_t   ar;

    memset(&ar, 0, sizeof(authorize_t));

    if (!oauth_http_is_form(req)) {
        return oauth_http_page(req, 400, html_message("Invalid request",
                               "The form was not sent as a form."));
    }

    c = db_acquire(req->id);
    if (c == NULL) {
        return oauth_http_unavailable(req, 1);
    }

    rc = -1;
    next = NULL;

    switch (authorize_check(req, c, &req->form, &ar)) {

    case OAUTH_HTTP_PASS:
        break;

    case OAUTH_HTTP_ANSWERED:
        rc = 0;
        goto done;

    default:
        goto done;
    }

    found = session_load(c, req, &s);
    if (found < 0) {
        goto done;
    }

    if (!found || !session_csrf_valid(req, &s)) {
        rc = oauth_http_page(req, 403, html_message("Form expired",
                             "This form has expired or did not come from "
                             "this site.  Go back to the app and start "
                             "again."));
        goto done;
    }

    action = http_form(req, "action");
    if (action == NULL) {
        action = "";
    }

    if (strcmp(action, "login") == 0) {
        switch (apps_login(req, c, user_id, sizeof(user_id), &status, notice,
                           sizeof(notice)))
        {
        case 1:
            break;

        case 0:
            rc = authorize_login_form(req, status, &ar, &s,
                                      http_form(req, "username"), notice);
            goto done;

        default:
            goto done;
        }

        next = authorize_self_url(&ar);

        if (next == NULL || session_start(c, req, &s, user_id, &s) != 0) {
            goto done;
        }

        rc = http_redirect(req, next);
        goto done;
    }

    if (strcmp(action, "approve") != 0 && strcmp(action, "deny") != 0) {
        rc = oauth_http_page(req, 400, html_message("Invalid request",
                             "The form asked for nothing this page does."));
        goto done;
    }

    if (!s.signed_in) {
        rc = authorize_login_form(req, 200, &ar, &s, NULL,
                                  "Your session has ended: sign in again.");
        goto done;
    }

    if (strcmp(action, "deny") == 0) {
        rc = authorize_error(req, &ar, "access_denied",
                             "the user denied the request");
        goto done;
    }

    rc = authorize_approve(req, c, &ar, &s);

done:

    free(next);
    authorize_free(&ar);
    db_release(c);

    return rc;
}


/*
 * The parameters checked, in the order that decides where an error goes:
 * to a page until the client and its redirect URI are known, to the
 * redirect URI afterwards.
 */

static oauth_http_rc_t
authorize_check(http_req_t *req, db_conn_t *c, const http_pairs_t *p,
    authorize_t *ar)
{
    char              err[256], q[BB_QUOTE_SIZE];
    size_t            len;
    const char       *name, *s, *e;
    oauth_http_rc_t   rc;
    oauth_scope_rc_t  src;

    memset(ar, 0, sizeof(authorize_t));

    name = authorize_repeated(p);

    if (name != NULL) {
        snprintf(err, sizeof(err), "The parameter \"%s\" was given more "
                 "than once.", bb_quote_cstr(q, name));
        return oauth_http_page(req, 400, html_message("Invalid request", err))
               == 0 ? OAUTH_HTTP_ANSWERED : OAUTH_HTTP_FAILED;
    }

    rc = authorize_client(req, c, p, ar);
    if (rc != OAUTH_HTTP_PASS) {
        return rc;
    }

    /* from here on, errors go back to the client */

    ar->response_type = http_pairs_get(p, "response_type");
    ar->state = http_pairs_get(p, "state");
    ar->code_challenge = http_pairs_get(p, "code_challenge");
    ar->code_challenge_method = http_pairs_get(p, "code_challenge_method");
    ar->nonce = http_pairs_get(p, "nonce");
    ar->prompt = http_pairs_get(p, "prompt");
    ar->aud = http_pairs_get(p, "aud");
    ar->scope = http_pairs_get(p, "scope");

    if (ar->state != NULL
        && oauth_check_param("state", ar->state, AUTHORIZE_STATE_MAX, err,
                             sizeof(err)) != 0)
    {
        ar->state = NULL;
        goto invalid;
    }

    if (ar->response_type == NULL || ar->response_type[0] == '\0') {
        snprintf(err, sizeof(err), "missing response_type");
        goto invalid;
    }

    if (strcmp(ar->response_type, "code") != 0) {
        return authorize_error(req, ar, "unsupported_response_type",
                               "response_type must be code")
               == 0 ? OAUTH_HTTP_ANSWERED : OAUTH_HTTP_FAILED;
    }

    if (!oauth_pkce_challenge_valid(ar->code_challenge,
                                    ar->code_challenge_method, err,
                                    sizeof(err)))
    {
        goto invalid;
    }

    if (ar->nonce != NULL
        && oauth_check_param("nonce", ar->nonce, AUTHORIZE_NONCE_MAX, err,
                             sizeof(err)) != 0)
    {
        goto invalid;
    }

    /* SMART's aud names the FHIR server the token is for: this one */

    if (ar->aud != NULL) {
        len = strlen(authd_cfg.audience);

        if (len > 0 && authd_cfg.audience[len - 1] == '/') {
            len--;
        }

        if (strncmp(ar->aud, authd_cfg.audience, len) != 0
            || (ar->aud[len] != '\0' && strcmp(ar->aud + len, "/") != 0))
        {
            snprintf(err, sizeof(err), "aud is not the FHIR server this "
                     "server issues tokens for");
            goto invalid;
        }
    }

    if (ar->prompt != NULL) {
        for (s = ar->prompt; *s != '\0'; s = e) {
            while (*s == ' ') {
                s++;
            }

            e = strchr(s, ' ');
            if (e == NULL) {
                e = s + strlen(s);
            }

            len = e - s;

            if (len == 4 && strncmp(s, "none", 4) == 0) {
                ar->prompts |= AUTHORIZE_PROMPT_NONE;

            } else if (len == 5 && strncmp(s, "login", 5) == 0) {
                ar->prompts |= AUTHORIZE_PROMPT_LOGIN;

            } else if (len == 7 && strncmp(s, "consent", 7) == 0) {
                ar->prompts |= AUTHORIZE_PROMPT_CONSENT;

            } else if (len > 0) {
                snprintf(err, sizeof(err), "unsupported prompt \"%s\"",
                         bb_quote(q, sizeof(q), s, len));
                goto invalid;
            }
        }

        if ((ar->prompts & AUTHORIZE_PROMPT_NONE)
            && ar->prompts != AUTHORIZE_PROMPT_NONE)
        {
            snprintf(err, sizeof(err), "prompt none goes alone");
            goto invalid;
        }
    }

    if (ar->scope == NULL || ar->scope[0] == '\0') {
        return authorize_error(req, ar, "invalid_scope", "missing scope")
               == 0 ? OAUTH_HTTP_ANSWERED : OAUTH_HTTP_FAILED;
    }

    src = oauth_scope_intersect(ar->scope, ar->allowed, &ar->offered, err,
                                sizeof(err));

    if (src == OAUTH_SCOPE_ERROR) {
        log_error(req->id, "oauth_scope_intersect() failed: %s", err);
        return OAUTH_HTTP_FAILED;
    }

    if (src != OAUTH_SCOPE_OK) {
        return authorize_error(req, ar, "invalid_scope", err)
               == 0 ? OAUTH_HTTP_ANSWERED : OAUTH_HTTP_FAILED;
    }

    /* what grants and codes can hold */

    if (strlen(ar->offered) > AUTHORIZE_SCOPE_MAX) {
        return authorize_error(req, ar, "invalid_scope", "scope is too long")
               == 0 ? OAUTH_HTTP_ANSWERED : OAUTH_HTTP_FAILED;
    }

    return OAUTH_HTTP_PASS;

invalid:

    return authorize_error(req, ar, "invalid_request", err) == 0
           ? OAUTH_HTTP_ANSWERED : OAUTH_HTTP_FAILED;
}


/* the client and its redirect URI: errors here are shown, never sent */

static oauth_http_rc_t
authorize_client(http_req_t *req, db_conn_t *c, const http_pairs_t *p,
    authorize_t *ar)
{
    int               ok;
    char              err[256];
    size_t            i;
    json_t           *uris;
    PGresult         *res;
    const char       *params[1], *text;
    oauth_http_rc_t   rc;

    ar->client_id = http_pairs_get(p, "client_id");
    ar->redirect_uri = http_pairs_get(p, "redirect_uri");

    text = NULL;

    if (!oauth_client_id_valid(ar->client_id, err, sizeof(err))) {
        text = "The request does not name a valid application (client_id).";

    } else if (oauth_check_param("redirect_uri", ar->redirect_uri,
                                 OAUTH_REDIRECT_URI_MAX, err, sizeof(err))
               != 0)
    {
        text = "The request has no valid redirect_uri.";
    }

    if (text != NULL) {
        return oauth_http_page(req, 400, html_message("Invalid request",
                               text)) == 0
               ? OAUTH_HTTP_ANSWERED : OAUTH_HTTP_FAILED;
    }

    http_set_client_id(req, ar->client_id);

    params[0] = ar->client_id;

    res = db_exec(c, &authorize_find_client, 1, params);
    if (res == NULL) {
        return OAUTH_HTTP_FAILED;
    }

    if (PQntuples(res) != 1) {
        PQclear(res);
        return oauth_http_page(req, 400, html_message("Unknown application",
                               "No active application has this "
                               "client_id.")) == 0
               ? OAUTH_HTTP_ANSWERED : OAUTH_HTTP_FAILED;
    }

    uris = json_loads(PQgetvalue(res, 0, 2), 0, NULL);
    ok = 0;

    for (i = 0; uris != NULL && i < json_array_size(uris) && !ok; i++) {
        text = json_string_value(json_array_get(uris, i));

        if (text != NULL) {
            ok = oauth_redirect_match(ar->redirect_uri, &text, 1);
        }
    }

    snprintf(ar->app_id, sizeof(ar->app_id), "%s", PQgetvalue(res, 0, 0));
    ar->app_name = strdup(PQgetvalue(res, 0, 1));
    ar->allowed = strdup(PQgetvalue(res, 0, 3));

    json_decref(uris);
    PQclear(res);

    if (ar->app_name == NULL || ar->allowed == NULL) {
        log_error(req->id, "out of memory");
        return OAUTH_HTTP_FAILED;
    }

    if (!ok) {
        rc = oauth_http_page(req, 400, html_message("Invalid request",
                             "The redirect_uri is not registered for this "
                             "application."))
             == 0 ? OAUTH_HTTP_ANSWERED : OAUTH_HTTP_FAILED;
        ar->redirect_uri = NULL;
        return rc;
    }

    return OAUTH_HTTP_PASS;
}


static void
authorize_free(authorize_t *ar)
{
    free(ar->app_name);
    free(ar->allowed);
    free(ar->offered);
}


/* a checked request from a GET, or after a login: a page or a code */

static int
authorize_show(http_req_t *req, db_conn_t *c, authorize_t *ar, session_t *s)
{
    int          covered;
    PGresult    *res;
    const char  *params[2];

    if (!s->signed_in || (ar->prompts & AUTHORIZE_PROMPT_LOGIN)) {
        if (ar->prompts & AUTHORIZE_PROMPT_NONE) {
            return authorize_error(req, ar, "login_required",
                                   "the user is not signed in");
        }

        /* the login form needs a session for its CSRF token */

        if (s->csrf[0] == '\0' && session_start(c, req, NULL, NULL, s) != 0) {
            return -1;
        }

        return authorize_login_form(req, 200, ar, s, NULL, NULL);
    }

    params[0] = s->user_id;
    params[1] = ar->app_id;

    res = db_exec(c, &authorize_find_grant, 2, params);
    if (res == NULL) {
        return -1;
    }

    covered = (PQntuples(res) == 1
               && oauth_http_scope_covers(PQgetvalue(res, 0, 1), ar->offered));

    PQclear(res);

    if (covered && !(ar->prompts & AUTHORIZE_PROMPT_CONSENT)) {
        return authorize_issue(req, c, ar, s, ar->offered, 0);
    }

    if (ar->prompts & AUTHORIZE_PROMPT_NONE) {
        return authorize_error(req, ar, "consent_required",
                               "the user has not authorized these scopes");
    }

    if (s->patient_id[0] == '\0'
        && oauth_http_scope_needs_patient(ar->offered))
    {
        return authorize_refuse(req, ar, s);
    }

    return authorize_show_consent(req, ar, s);
}


static int
authorize_show_consent(http_req_t *req, authorize_t *ar, const session_t *s)
{
    int             rc;
    char           *copy;
    html_field_t    fields[16];
    const char     *scopes[OAUTH_SCOPES_MAX];
    html_consent_t  page;

    copy = strdup(ar->offered);
    if (copy == NULL) {
        log_error(req->id, "out of memory");
        return -1;
    }

    page.action = "/authorize";
    page.csrf = s->csrf;
    page.hidden = fields;
    page.nhidden = authorize_fields(ar, fields);
    page.app_name = ar->app_name;
    page.user_name = s->name[0] != '\0' ? s->name : s->username;
    page.scopes = scopes;
    page.nscopes = oauth_http_scope_split(copy, scopes, OAUTH_SCOPES_MAX);

    rc = oauth_http_page(req, 200, html_consent(&page));

    free(copy);

    return rc;
}


/* the scopes the user left checked, among those offered */

static int
authorize_approve(http_req_t *req, db_conn_t *c, authorize_t *ar,
    session_t *s)
{
    int          rc, offered;
    char        *copy;
    size_t       i, j, n;
    bb_buf_t     chosen;
    const char  *scopes[OAUTH_SCOPES_MAX];
    http_pair_t *item;

    memset(&chosen, 0, sizeof(bb_buf_t));
    rc = -1;

    copy = strdup(ar->offered);
    if (copy == NULL) {
        log_error(req->id, "out of memory");
        return -1;
    }

    n = oauth_http_scope_split(copy, scopes, OAUTH_SCOPES_MAX);

    for (i = 0; i < req->form.n; i++) {
        item = &req->form.items[i];

        if (strcmp(item->name, "scope_item") != 0) {
            continue;
        }

        offered = 0;

        for (j = 0; j < n; j++) {
            offered |= (strcmp(item->value, scopes[j]) == 0);
        }

        if (!offered) {
            rc = oauth_http_page(req, 400, html_message("Invalid request",
                                 "The form holds a permission the app did "
                                 "not ask for."));
            goto done;
        }
    }

    /* in the order offered, each once */

    for (j = 0; j < n; j++) {
        for (i = 0; i < req->form.n; i++) {
            item = &req->form.items[i];

            if (strcmp(item->name, "scope_item") == 0
                && strcmp(item->value, scopes[j]) == 0)
            {
                break;
            }
        }

        if (i == req->form.n) {
            continue;
        }

        if ((chosen.len > 0 && bb_buf_append_char(&chosen, ' ') != 0)
            || bb_buf_append_str(&chosen, scopes[j]) != 0)
        {
            log_error(req->id, "out of memory");
            goto done;
        }
    }

    if (chosen.len == 0) {
        rc = authorize_error(req, ar, "access_denied",
                             "the user approved no scope");
        goto done;
    }

    if (bb_buf_cstr(&chosen) == NULL) {
        log_error(req->id, "out of memory");
        goto done;
    }

    if (s->patient_id[0] == '\0'
        && oauth_http_scope_needs_patient(chosen.data))
    {
        rc = authorize_refuse(req, ar, s);
        goto done;
    }

    rc = authorize_issue(req, c, ar, s, chosen.data, 1);

done:

    bb_buf_free(&chosen);
    free(copy);

    return rc;
}


/*
 * A code for scope, under the user's grant: a consent (re)writes the
 * grant in the same statement.
 */

static int
authorize_issue(http_req_t *req, db_conn_t *c, authorize_t *ar,
    const session_t *s, const char *scope, int consent)
{
    int          rc;
    char        *url;
    char         code[crypto_b64url_len(AUTHORIZE_CODE_BYTES) + 1];
    char         hash[OAUTH_HASH_PARAM_SIZE], code_ttl[24], grant_ttl[24];
    PGresult    *res;
    const char  *params[11], *pairs[7];

    rc = -1;
    url = NULL;

    if (crypto_random_token(code, sizeof(code), AUTHORIZE_CODE_BYTES) != 0) {
        log_error(req->id, "crypto_random_token() failed");
        return -1;
    }

    oauth_http_hash(code, hash);
    snprintf(code_ttl, sizeof(code_ttl), "%ld", authd_cfg.code_ttl);
    snprintf(grant_ttl, sizeof(grant_ttl), "%ld", authd_cfg.grant_ttl);

    params[0] = hash;
    params[1] = ar->app_id;
    params[2] = s->user_id;
    params[3] = ar->redirect_uri;
    params[4] = scope;
    params[5] = ar->code_challenge;
    params[6] = ar->nonce;
    params[7] = code_ttl;
    params[8] = grant_ttl;
    params[9] = ar->client_id;
    params[10] = req->id;

    res = consent ? db_exec(c, &authorize_consent, 11, params)
                  : db_exec(c, &authorize_code, 8, params);
    if (res == NULL) {
        goto done;
    }

    /* the grant revoked between the look-up and now */

    if (!consent && strcmp(PQcmdTuples(res), "1") != 0) {
        PQclear(res);
        rc = authorize_error(req, ar, "access_denied",
                             "the grant was revoked");
        goto done;
    }

    PQclear(res);

    if (consent) {
        log_info(req->id, "user %s granted \"%s\" to client \"%s\"",
                 s->user_id, scope, ar->client_id);
    }

    pairs[0] = "code";
    pairs[1] = code;
    pairs[2] = "state";
    pairs[3] = ar->state;
    pairs[4] = "iss";
    pairs[5] = authd_cfg.issuer;
    pairs[6] = NULL;

    url = http_url_add_params(ar->redirect_uri, pairs);

    if (url == NULL) {
        log_error(req->id, "out of memory");
        goto done;
    }

    rc = http_redirect(req, url);

done:

    if (url != NULL) {
        OPENSSL_cleanse(url, strlen(url));
        free(url);
    }

    OPENSSL_cleanse(code, sizeof(code));

    return rc;
}


/* RFC 6749 4.1.2.1 with RFC 9207's iss */

static int
authorize_error(http_req_t *req, const authorize_t *ar, const char *error,
    const char *description)
{
    int          rc;
    char        *url, text[256];
    const char  *pairs[9];

    oauth_http_description(description, text, sizeof(text));

    pairs[0] = "error";
    pairs[1] = error;
    pairs[2] = "error_description";
    pairs[3] = text;
    pairs[4] = "state";
    pairs[5] = ar->state;
    pairs[6] = "iss";
    pairs[7] = authd_cfg.issuer;
    pairs[8] = NULL;

    log_info(req->id, "authorization refused: %s: %s", error, text);

    url = http_url_add_params(ar->redirect_uri, pairs);

    if (url == NULL) {
        log_error(req->id, "out of memory");
        return -1;
    }

    rc = http_redirect(req, url);
    free(url);

    return rc;
}


static int
authorize_login_form(http_req_t *req, unsigned status, authorize_t *ar,
    const session_t *s, const char *username, const char *notice)
{
    html_field_t  fields[16];
    html_login_t  page;

    page.action = "/authorize";
    page.csrf = s->csrf;
    page.hidden = fields;
    page.nhidden = authorize_fields(ar, fields);
    page.app_name = ar->app_name;
    page.username = username;
    page.notice = notice;

    return oauth_http_page(req, status, html_login(&page));
}


/* patient scopes for a user the crosswalk does not know */

static int
authorize_refuse(http_req_t *req, authorize_t *ar, const session_t *s)
{
    int             rc;
    char           *text;
    html_field_t    fields[16];
    html_consent_t  page;

    if (asprintf(&text, "Your account is not linked to Medicare records, "
                 "so %s cannot be given access to them.", ar->app_name) < 0)
    {
        log_error(req->id, "out of memory");
        return -1;
    }

    page.action = "/authorize";
    page.csrf = s->csrf;
    page.hidden = fields;
    page.nhidden = authorize_fields(ar, fields);
    page.app_name = ar->app_name;
    page.user_name = s->name;
    page.scopes = NULL;
    page.nscopes = 0;

    rc = oauth_http_page(req, 403, html_refusal(&page, text));

    free(text);

    return rc;
}


/* the request's parameters, for the hidden fields of a form */

static size_t
authorize_fields(const authorize_t *ar, html_field_t *f)
{
    size_t  n;

    n = 0;

    f[n].name = "response_type";
    f[n++].value = ar->response_type;
    f[n].name = "client_id";
    f[n++].value = ar->client_id;
    f[n].name = "redirect_uri";
    f[n++].value = ar->redirect_uri;
    f[n].name = "scope";
    f[n++].value = ar->scope;
    f[n].name = "state";
    f[n++].value = ar->state;
    f[n].name = "code_challenge";
    f[n++].value = ar->code_challenge;
    f[n].name = "code_challenge_method";
    f[n++].value = ar->code_challenge_method;
    f[n].name = "nonce";
    f[n++].value = ar->nonce;
    f[n].name = "prompt";
    f[n++].value = ar->prompt;
    f[n].name = "aud";
    f[n++].value = ar->aud;

    return n;
}


/*
 * The request again as a GET, after a login: prompt=login is done with
 * (asking again would loop), prompt=consent stays.
 */

static char *
authorize_self_url(const authorize_t *ar)
{
    size_t        i, n;
    const char   *pairs[2 * 16 + 1];
    html_field_t  fields[16];

    n = authorize_fields(ar, fields);

    for (i = 0; i < n; i++) {
        pairs[2 * i] = fields[i].name;
        pairs[2 * i + 1] = fields[i].value;

        if (strcmp(fields[i].name, "prompt") == 0) {
            pairs[2 * i + 1] = (ar->prompts & AUTHORIZE_PROMPT_CONSENT)
                               ? "consent" : NULL;
        }
    }

    pairs[2 * n] = NULL;

    return http_url_add_params("/authorize", pairs);
}


/* the consent form sends one scope_item per checked box */

static const char *
authorize_repeated(const http_pairs_t *p)
{
    size_t  i, j;

    for (i = 0; i < p->n; i++) {
        if (strcmp(p->items[i].name, "scope_item") == 0) {
            continue;
        }

        for (j = i + 1; j < p->n; j++) {
            if (strcmp(p->items[i].name, p->items[j].name) == 0) {
                return p->items[i].name;
            }
        }
    }

    return NULL;
}
