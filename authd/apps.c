/*
 * The beneficiary's own pages: the login form's check (shared with
 * /authorize), /apps (the apps they authorized, each with a Revoke
 * button) and /logout.  Every POST needs the session's CSRF token.
 * Revoking a grant revokes its tokens (a trigger does it in the same
 * transaction); the policy document then lists the access tokens.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "crypto.h"
#include "db.h"
#include "html.h"
#include "http.h"
#include "log.h"
#include "oauth.h"
#include "oauth_http.h"
#include "session.h"


#define APPS_MAX  200


static int apps_page(http_req_t *req, db_conn_t *c, const session_t *s);
static int apps_login_form(http_req_t *req, unsigned status,
    const session_t *s, const char *username, const char *notice);
static int apps_forbidden(http_req_t *req);


static const db_stmt_t  apps_list = {
    "apps_list",
    "SELECT a.client_id, a.name, g.scope,"
    "       to_char(g.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'),"
    "       to_char(g.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
    "  FROM grants g JOIN applications a ON a.id = g.application_id"
    " WHERE g.user_id = $1::bigint AND g.revoked_at IS NULL"
    "   AND g.expires_at > now()"
    " ORDER BY g.created_at DESC, g.id DESC"
    " LIMIT 200"
};


/*
 * The grant revoked (the trigger revokes its tokens) and audited in one
 * statement; the count of access tokens now revoked tells whether the
 * policy must be rewritten.
 */

static const db_stmt_t  apps_revoke_grant = {
    "apps_revoke_grant",
    "WITH g AS ("
    "    UPDATE grants SET revoked_at = now()"
    "     WHERE user_id = $1::bigint AND revoked_at IS NULL"
    "       AND application_id = (SELECT id FROM applications"
    "                              WHERE client_id = $2)"
    "    RETURNING id"
    "), audit AS ("
    "    INSERT INTO audit_log (actor, action, target, client_id,"
    "                           request_id)"
    "    SELECT 'user:' || $1, 'grant.revoke', 'grant:' || g.id, $2, $3"
    "      FROM g"
    ")"
    " SELECT id FROM g"
};


int
apps_get(http_req_t *req)
{
    int         rc, found;
    db_conn_t  *c;
    session_t   s;

    c = db_acquire(req->id);
    if (c == NULL) {
        return oauth_http_unavailable(req, 1);
    }

    rc = -1;

    found = session_load(c, req, &s);
    if (found < 0) {
        goto done;
    }

    if (s.signed_in) {
        rc = apps_page(req, c, &s);
        goto done;
    }

    if (!found && session_start(c, req, NULL, NULL, &s) != 0) {
        goto done;
    }

    rc = apps_login_form(req, 200, &s, NULL, NULL);

done:

    db_release(c);

    return rc;
}


int
apps_post(http_req_t *req)
{
    int          rc, found;
    char         user_id[24], notice[128];
    unsigned     status;
    db_conn_t   *c;
    session_t    s;
    const char  *action;

    if (!oauth_http_is_form(req) || http_pairs_repeated(&req->form) != NULL) {
        return oauth_http_page(req, 400, html_message("Invalid request",
                               "The form is malformed."));
    }

    c = db_acquire(req->id);
    if (c == NULL) {
        return oauth_http_unavailable(req, 1);
    }

    rc = -1;

    found = session_load(c, req, &s);
    if (found < 0) {
        goto done;
    }

    if (!found || !session_csrf_valid(req, &s)) {
        rc = apps_forbidden(req);
        goto done;
    }

    action = http_form(req, "action");

    if (action == NULL || strcmp(action, "login") != 0) {
        rc = oauth_http_page(req, 400, html_message("Invalid request",
                             "The form asked for nothing this page does."));
        goto done;
    }

    switch (apps_login(req, c, user_id, sizeof(user_id), &status, notice,
                       sizeof(notice)))
    {
    case 1:
        break;

    case 0:
        rc = apps_login_form(req, status, &s, http_form(req, "username"),
                             notice);
        goto done;

    default:
        goto done;
    }

    if (session_start(c, req, &s, user_id, &s) != 0) {
        goto done;
    }

    rc = http_redirect(req, "/apps");

done:

    db_release(c);

    return rc;
}


int
apps_revoke(http_req_t *req)
{
    int          rc, found;
    char         err[256];
    PGresult    *res;
    db_conn_t   *c;
    session_t    s;
    const char  *client_id, *params[3];

    if (!oauth_http_is_form(req) || http_pairs_repeated(&req->form) != NULL) {
        return oauth_http_page(req, 400, html_message("Invalid request",
                               "The form is malformed."));
    }

    c = db_acquire(req->id);
    if (c == NULL) {
        return oauth_http_unavailable(req, 1);
    }

    rc = -1;

    found = session_load(c, req, &s);
    if (found < 0) {
        goto done;
    }

    if (!found || !s.signed_in || !session_csrf_valid(req, &s)) {
        rc = apps_forbidden(req);
        goto done;
    }

    client_id = http_form(req, "client_id");

    if (!oauth_client_id_valid(client_id, err, sizeof(err))) {
        rc = oauth_http_page(req, 400, html_message("Invalid request",
                             "The form names no application."));
        goto done;
    }

    http_set_client_id(req, client_id);

    params[0] = s.user_id;
    params[1] = client_id;
    params[2] = req->id;

    res = db_exec(c, &apps_revoke_grant, 3, params);
    if (res == NULL) {
        goto done;
    }

    if (PQntuples(res) > 0) {
        log_info(req->id, "user %s revoked the grant of client \"%s\"",
                 s.user_id, client_id);
        PQclear(res);
        oauth_http_policy(req, c);

    } else {
        PQclear(res);
    }

    rc = http_redirect(req, "/apps");

done:

    db_release(c);

    return rc;
}


int
apps_logout_get(http_req_t *req)
{
    int         rc, found;
    db_conn_t  *c;
    session_t   s;

    c = db_acquire(req->id);
    if (c == NULL) {
        return oauth_http_unavailable(req, 1);
    }

    found = session_load(c, req, &s);

    rc = (found < 0) ? -1
                     : oauth_http_page(req, 200,
                                       html_logout(s.csrf, s.signed_in));

    db_release(c);

    return rc;
}


int
apps_logout_post(http_req_t *req)
{
    int         rc, found;
    db_conn_t  *c;
    session_t   s;

    if (!oauth_http_is_form(req)) {
        return oauth_http_page(req, 400, html_message("Invalid request",
                               "The form is malformed."));
    }

    c = db_acquire(req->id);
    if (c == NULL) {
        return oauth_http_unavailable(req, 1);
    }

    rc = -1;

    found = session_load(c, req, &s);
    if (found < 0) {
        goto done;
    }

    if (!found) {
        rc = oauth_http_page(req, 200, html_logout(NULL, 0));
        goto done;
    }

    if (!session_csrf_valid(req, &s)) {
        rc = apps_forbidden(req);
        goto done;
    }

    if (session_end(c, req, &s) != 0) {
        goto done;
    }

    rc = oauth_http_page(req, 200, html_logout(NULL, 0));

done:

    db_release(c);

    return rc;
}


int
apps_login(http_req_t *req, db_conn_t *c, char *user_id, size_t idlen,
    unsigned *status, char *notice, size_t noticelen)
{
    long                 retry;
    char                 err[256], value[24];
    const char          *username, *password;
    session_login_rc_t   rc;

    username = http_form(req, "username");
    password = http_form(req, "password");

    *status = 200;
    snprintf(notice, noticelen, "Incorrect username or password.");

    if (oauth_check_param("username", username, SESSION_USERNAME_MAX, err,
                          sizeof(err)) != 0
        || password == NULL || password[0] == '\0'
        || strlen(password) > CRYPTO_PASSWORD_MAX)
    {
        return 0;
    }

    rc = session_login(c, req, username, password, user_id, idlen, &retry);

    switch (rc) {

    case SESSION_LOGIN_OK:
        log_info(req->id, "user %s signed in", user_id);
        return 1;

    case SESSION_LOGIN_FAILED:
        log_info(req->id, "login failed");
        return 0;

    case SESSION_LOGIN_THROTTLED:
        snprintf(value, sizeof(value), "%ld", retry);

        if (http_set_header(req, "Retry-After", value) != 0) {
            return -1;
        }

        snprintf(notice, noticelen, "Too many failed sign-ins.  Try again "
                 "in %ld seconds.", retry);

        *status = 429;
        return 0;

    default:
        return -1;
    }
}


static int
apps_page(http_req_t *req, db_conn_t *c, const session_t *s)
{
    int          i, n, rc;
    PGresult    *res;
    html_app_t   apps[APPS_MAX];
    const char  *params[1];

    params[0] = s->user_id;

    res = db_exec(c, &apps_list, 1, params);
    if (res == NULL) {
        return -1;
    }

    n = PQntuples(res);

    for (i = 0; i < n && i < APPS_MAX; i++) {
        apps[i].client_id = PQgetvalue(res, i, 0);
        apps[i].name = PQgetvalue(res, i, 1);
        apps[i].scope = PQgetvalue(res, i, 2);
        apps[i].granted = PQgetvalue(res, i, 3);
        apps[i].expires = PQgetvalue(res, i, 4);
    }

    rc = oauth_http_page(req, 200,
                         html_apps(s->name[0] ? s->name : s->username,
                                   s->csrf, apps, (size_t) i));

    PQclear(res);

    return rc;
}


static int
apps_login_form(http_req_t *req, unsigned status, const session_t *s,
    const char *username, const char *notice)
{
    html_login_t  page;

    page.action = "/apps";
    page.csrf = s->csrf;
    page.hidden = NULL;
    page.nhidden = 0;
    page.app_name = NULL;
    page.username = username;
    page.notice = notice;

    return oauth_http_page(req, status, html_login(&page));
}


static int
apps_forbidden(http_req_t *req)
{
    return oauth_http_page(req, 403, html_message("Form expired",
                           "This form has expired or did not come from "
                           "this site.  Reload the page and try again."));
}
