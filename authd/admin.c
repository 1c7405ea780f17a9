/*
 * The admin API's frame: one route of the admin listener per method takes
 * everything under /admin/v1/, authenticates the caller as an active admin
 * by HTTP Basic, then finds the handler in admin_api[] by path segments.
 * An unauthenticated caller learns nothing, not even which paths exist.
 *
 * Handlers set a status and a body, or fail with an admin_err_t that goes
 * out as {"error", "field", "message"}.  The database connection is held
 * for the whole request; once the handler's transaction is committed and
 * the connection idle, the policy document is rewritten if the handler
 * changed what it holds, before the reply is sent: a caller that got its
 * answer finds the new document in place.
 *
 * Authentication costs one scrypt verification per request, also for an
 * unknown username (crypto_password_dummy()), and failures are counted in
 * login_failures per username and per address like the login form's:
 * past AUTHD_LOGIN_MAX_FAILURES in AUTHD_LOGIN_WINDOW the caller gets 429
 * without a verification.
 */

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "config.h"
#include "crypto.h"
#include "log.h"
#include "policy.h"


#define ADMIN_PREFIX             "/admin/v1/"
#define ADMIN_USERNAME_MAX       150


typedef struct {
    const char       *method;
    const char       *path;             /* "{}" matches one segment */
    admin_handler_t   handler;
} admin_route_t;


static int admin_dispatch(http_req_t *req);
static int admin_authenticate(admin_req_t *ar);
static int admin_throttled(admin_req_t *ar, const char *username);
static void admin_failed_login(admin_req_t *ar, const char *username);
static int admin_unauthorized(http_req_t *req);
static int admin_match(const char *pattern, const char *path,
    const char **arg, size_t *arglen);
static int admin_reply(admin_req_t *ar);
static int admin_reply_error(http_req_t *req, const admin_err_t *err);
static void admin_utf8_trim(char *s);
static int admin_utf8_valid(const char *s);
static void admin_dummy_cost(void);


static const admin_route_t  admin_api[] = {
    { "GET", "resource-types", admin_types_list },
    { "GET", "resource-types/{}", admin_types_get },
    { "PUT", "resource-types/{}", admin_types_put },
    { "DELETE", "resource-types/{}", admin_types_delete },

    { "GET", "applications", admin_apps_list },
    { "POST", "applications", admin_apps_create },
    { "GET", "applications/{}", admin_apps_get },
    { "PUT", "applications/{}", admin_apps_update },
    { "DELETE", "applications/{}", admin_apps_delete },
    { "POST", "applications/{}/secret", admin_apps_secret },

    { "GET", "users", admin_users_list },
    { "POST", "users", admin_users_create },
    { "GET", "users/{}", admin_users_get },
    { "PUT", "users/{}", admin_users_update },
    { "DELETE", "users/{}", admin_users_delete },

    { "GET", "grants", admin_grants_list },
    { "GET", "grants/{}", admin_grants_get },
    { "DELETE", "grants/{}", admin_grants_delete },

    { "GET", "keys", admin_keys_list },
    { "POST", "keys/rotate", admin_keys_rotate },

    { "GET", "audit", admin_audit_list },
    { "GET", "policy", admin_policy_get },

    { NULL, NULL, NULL }
};


const http_route_t  admin_routes[] = {
    { "GET", ADMIN_PREFIX "*", admin_dispatch },
    { "POST", ADMIN_PREFIX "*", admin_dispatch },
    { "PUT", ADMIN_PREFIX "*", admin_dispatch },
    { "DELETE", ADMIN_PREFIX "*", admin_dispatch },
    { NULL, NULL, NULL }
};


static const db_stmt_t  admin_find_admin = {
    "admin_find_admin",
    "SELECT id, password_hash, role = 'admin' AND active"
    " FROM users WHERE username = $1"
};

static const db_stmt_t  admin_count_failures = {
    "admin_count_failures",
    "SELECT (SELECT count(*) FROM login_failures"
    "         WHERE username = $1"
    "           AND at > now() - make_interval(secs => $3::bigint)),"
    "       (SELECT count(*) FROM login_failures"
    "         WHERE $2::inet IS NOT NULL AND address = $2::inet"
    "           AND at > now() - make_interval(secs => $3::bigint))"
};

/* old failures are purged a few at a time, as the login form does */
static const db_stmt_t  admin_add_failure = {
    "admin_add_failure",
    "WITH gone AS ("
    "    DELETE FROM login_failures"
    "     WHERE id = ANY (ARRAY(SELECT id FROM login_failures"
    "          WHERE at < now() - make_interval(secs => $3::bigint)"
    "          LIMIT 50)))"
    " INSERT INTO login_failures (username, address) VALUES ($1, $2::inet)"
};

static const db_stmt_t  admin_clear_failures = {
    "admin_clear_failures",
    "DELETE FROM login_failures WHERE username = $1"
};

static const db_stmt_t  admin_insert_audit = {
    "admin_insert_audit",
    "INSERT INTO audit_log (actor, action, target, client_id, request_id,"
    "                       detail)"
    " VALUES ($1, $2, $3, $4, $5, $6::jsonb)"
};


static pthread_once_t  admin_once = PTHREAD_ONCE_INIT;


static int
admin_dispatch(http_req_t *req)
{
    int                   rc;
    size_t                n, arglen;
    char                  allow[64], *arg;
    const char           *a;
    admin_req_t           ar;
    admin_err_t           err;
    const admin_route_t  *r, *found;

    memset(&ar, 0, sizeof(ar));
    arg = NULL;

    ar.http = req;
    ar.db = db_acquire(req->id);

    if (ar.db == NULL) {
        return http_json(req, 503,
                         json_pack("{s:s,s:s}", "error", "unavailable",
                                   "message", "the database is unavailable"));
    }

    rc = admin_authenticate(&ar);
    if (rc != 0) {
        db_release(ar.db);
        return rc > 0 ? 0 : -1;
    }

    found = NULL;
    allow[0] = '\0';
    n = 0;

    for (r = admin_api; r->method != NULL; r++) {
        if (!admin_match(r->path, req->subpath, &a, &arglen)) {
            continue;
        }

        if (strcmp(r->method, req->method) == 0
            || (strcmp(req->method, "HEAD") == 0
                && strcmp(r->method, "GET") == 0))
        {
            found = r;
            break;
        }

        n += snprintf(allow + n, sizeof(allow) - n, "%s%s", n ? ", " : "",
                      r->method);
        if (n >= sizeof(allow)) {
            n = sizeof(allow) - 1;
        }
    }

    if (found == NULL) {
        db_release(ar.db);

        if (allow[0] != '\0') {
            if (http_set_header(req, "Allow", allow) != 0) {
                return -1;
            }

            admin_fail(&err, 405, "", "method %s not allowed here",
                       req->method);

        } else {
            admin_fail(&err, 404, "", "no such resource");
        }

        return admin_reply_error(req, &err);
    }

    if (a != NULL) {
        arg = strndup(a, arglen);
        if (arg == NULL) {
            db_release(ar.db);
            log_error(req->id, "out of memory");
            return -1;
        }

        ar.arg = arg;
    }

    rc = found->handler(&ar, &err);

    /* a transaction the handler left open was not meant to be kept */

    db_release(ar.db);
    ar.db = NULL;

    if (rc == 0 && ar.policy_changed) {
        admin_policy_write(req->id);
    }

    free(arg);

    if (rc != 0) {
        json_decref(ar.body);
        return admin_reply_error(req, &err);
    }

    return admin_reply(&ar);
}


/*
 * 0 when the caller is an active admin (ar->admin_id and ar->actor set),
 * 1 when a refusal was sent, -1 when none could be.
 */

static int
admin_authenticate(admin_req_t *ar)
{
    int          ok, rc;
    PGresult    *res;
    const char  *user, *pass, *params[1];

    pthread_once(&admin_once, admin_dummy_cost);

    if (http_basic_auth(ar->http, &user, &pass) != 0) {
        return admin_unauthorized(ar->http) == 0 ? 1 : -1;
    }

    /*
     * A username no account can have is still checked and counted, under
     * the empty name: the database refuses invalid UTF-8 as a parameter.
     */

    if (user[0] == '\0' || strlen(user) > ADMIN_USERNAME_MAX
        || !admin_utf8_valid(user))
    {
        user = "";
    }

    rc = admin_throttled(ar, user);
    if (rc != 0) {
        return rc;
    }

    ok = 0;
    res = NULL;

    if (user[0] != '\0') {
        params[0] = user;

        res = db_exec(ar->db, &admin_find_admin, 1, params);
        if (res == NULL) {
            return -1;
        }
    }

    if (res != NULL && PQntuples(res) == 1) {

        /* the hash is verified whatever the role, to take the same time */

        ok = crypto_password_verify(pass, PQgetvalue(res, 0, 1)) == 1
             && PQgetvalue(res, 0, 2)[0] == 't';

        if (ok) {
            ar->admin_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
            snprintf(ar->actor, sizeof(ar->actor), "admin:%lld",
                     ar->admin_id);
        }

    } else {
        crypto_password_dummy(pass);
    }

    PQclear(res);

    /* a success forgives the account's earlier failures, as a login does */

    if (ok) {
        params[0] = user;

        res = db_exec(ar->db, &admin_clear_failures, 1, params);
        if (res == NULL) {
            return -1;
        }

        PQclear(res);

        return 0;
    }

    log_info(ar->http->id, "admin authentication failed from %s",
             ar->http->client_addr);

    admin_failed_login(ar, user);

    return admin_unauthorized(ar->http) == 0 ? 1 : -1;
}


static int
admin_throttled(admin_req_t *ar, const char *username)
{
    int          rc;
    char         window[32];
    PGresult    *res;
    const char  *params[3];

    snprintf(window, sizeof(window), "%ld", authd_cfg.login_window);

    params[0] = username;
    params[1] = ar->http->client_addr[0] ? ar->http->client_addr : NULL;
    params[2] = window;

    res = db_exec(ar->db, &admin_count_failures, 3, params);
    if (res == NULL) {
        return -1;
    }

    if ((username[0] != '\0'
         && atol(PQgetvalue(res, 0, 0)) >= authd_cfg.login_max_failures)
        || atol(PQgetvalue(res, 0, 1)) >= authd_cfg.login_max_failures)
    {
        PQclear(res);

        log_info(ar->http->id, "admin authentication throttled for %s",
                 ar->http->client_addr);

        if (http_set_header(ar->http, "Retry-After", window) != 0) {
            return -1;
        }

        rc = http_json(ar->http, 429,
                       json_pack("{s:s,s:s}", "error", "too_many_requests",
                                 "message", "too many failed attempts, "
                                            "try again later"));

        return rc == 0 ? 1 : -1;
    }

    PQclear(res);

    return 0;
}


/* a failure that cannot be recorded is logged: the refusal stands */

static void
admin_failed_login(admin_req_t *ar, const char *username)
{
    char         window[32];
    PGresult    *res;
    const char  *params[3];

    snprintf(window, sizeof(window), "%ld", authd_cfg.login_window);

    params[0] = username;
    params[1] = ar->http->client_addr[0] ? ar->http->client_addr : NULL;
    params[2] = window;

    if (params[1] == NULL) {
        return;
    }

    res = db_exec(ar->db, &admin_add_failure, 3, params);
    PQclear(res);
}


static int
admin_unauthorized(http_req_t *req)
{
    if (http_set_header(req, "WWW-Authenticate",
                        "Basic realm=\"authd admin\", charset=\"UTF-8\"")
        != 0)
    {
        return -1;
    }

    return http_json(req, 401,
                     json_pack("{s:s,s:s}", "error", "unauthorized",
                               "message", "admin credentials required"));
}


/*
 * 1 when path matches pattern segment by segment; the segment matched by
 * "{}" (never empty) is returned in arg, or NULL when there is none.
 */

static int
admin_match(const char *pattern, const char *path, const char **arg,
    size_t *arglen)
{
    size_t  n;

    *arg = NULL;
    *arglen = 0;

    while (*pattern != '\0') {
        if (pattern[0] == '{' && pattern[1] == '}') {
            n = strcspn(path, "/");
            if (n == 0) {
                return 0;
            }

            *arg = path;
            *arglen = n;
            path += n;
            pattern += 2;
            continue;
        }

        if (*pattern != *path) {
            return 0;
        }

        pattern++;
        path++;
    }

    return *path == '\0';
}


static int
admin_reply(admin_req_t *ar)
{
    if (ar->status == 204) {
        return http_empty(ar->http, 204);
    }

    if (ar->location[0] != '\0'
        && http_set_header(ar->http, "Location", ar->location) != 0)
    {
        json_decref(ar->body);
        return -1;
    }

    return http_json(ar->http, ar->status, ar->body);
}


static int
admin_reply_error(http_req_t *req, const admin_err_t *err)
{
    json_t      *body;
    const char  *code, *message;

    message = err->message;

    switch (err->status) {

    case 400:
        code = "invalid_request";
        break;

    case 404:
        code = "not_found";
        break;

    case 405:
        code = "method_not_allowed";
        break;

    case 409:
        code = "conflict";
        break;

    default:
        code = "server_error";
        message = "internal error";
        break;
    }

    if (err->field[0] != '\0') {
        body = json_pack("{s:s,s:s,s:s}", "error", code, "field", err->field,
                         "message", message);

    } else {
        body = json_pack("{s:s,s:s}", "error", code, "message", message);
    }

    return http_json(req, err->status >= 400 && err->status < 500
                              ? err->status : 500, body);
}


int
admin_fail(admin_err_t *err, unsigned status, const char *field,
    const char *fmt, ...)
{
    va_list  ap;

    err->status = status;

    snprintf(err->field, sizeof(err->field), "%s", field);
    admin_utf8_trim(err->field);

    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);

    admin_utf8_trim(err->message);

    return -1;
}


int
admin_fail_db(admin_err_t *err)
{
    return admin_fail(err, 500, "", "database error");
}


int
admin_check_fields(json_t *body, const admin_field_t *fields, unsigned mode,
    admin_err_t *err)
{
    size_t               i;
    json_t              *v, *e;
    const char          *key, *what;
    char                 name[256];
    const admin_field_t *f;

    if (!json_is_object(body)) {
        return admin_fail(err, 400, "", "expected a JSON object");
    }

    json_object_foreach(body, key, v) {
        for (f = fields; f->name != NULL; f++) {
            if ((f->allowed & mode) && strcmp(f->name, key) == 0) {
                break;
            }
        }

        if (f->name == NULL) {
            return admin_fail(err, 400, key, "unknown field \"%s\"", key);
        }
    }

    for (f = fields; f->name != NULL; f++) {
        if (!(f->allowed & mode)) {
            continue;
        }

        v = json_object_get(body, f->name);

        if (v == NULL) {
            if (f->required & mode) {
                return admin_fail(err, 400, f->name, "missing field \"%s\"",
                                  f->name);
            }

            continue;
        }

        if (json_is_null(v) && (f->nullable & mode)) {
            continue;
        }

        switch (f->type) {

        case ADMIN_T_STRING:
            what = json_is_string(v) ? NULL : "a string";
            break;

        case ADMIN_T_BOOL:
            what = json_is_boolean(v) ? NULL : "true or false";
            break;

        case ADMIN_T_OBJECT:
            what = json_is_object(v) ? NULL : "an object";
            break;

        default:
            if (!json_is_array(v)) {
                what = "an array of strings";
                break;
            }

            what = NULL;

            json_array_foreach(v, i, e) {
                if (!json_is_string(e)) {
                    snprintf(name, sizeof(name), "%s[%zu]", f->name, i);
                    return admin_fail(err, 400, name, "%s: expected a string",
                                      name);
                }
            }

            break;
        }

        if (what != NULL) {
            return admin_fail(err, 400, f->name, "%s: expected %s%s",
                              f->name, what,
                              (f->nullable & mode) ? " or null" : "");
        }
    }

    return 0;
}


int
admin_check_query(admin_req_t *ar, const char *const *names,
    admin_err_t *err)
{
    size_t        i, j;
    const char   *name;
    http_pairs_t *q;

    q = &ar->http->query;

    for (i = 0; i < q->n; i++) {
        name = q->items[i].name;

        for (j = 0; names[j] != NULL; j++) {
            if (strcmp(names[j], name) == 0) {
                break;
            }
        }

        if (names[j] == NULL) {
            return admin_fail(err, 400, name, "unknown parameter \"%s\"",
                              name);
        }
    }

    name = http_pairs_repeated(q);
    if (name != NULL) {
        return admin_fail(err, 400, name, "%s: given more than once", name);
    }

    return 0;
}


int
admin_check_text(const char *field, const char *s, size_t max,
    int allow_empty, admin_err_t *err)
{
    size_t  len, i;

    len = strlen(s);

    if (len == 0 && !allow_empty) {
        return admin_fail(err, 400, field, "%s: must not be empty", field);
    }

    if (len > max) {
        return admin_fail(err, 400, field, "%s: longer than %zu bytes", field,
                          max);
    }

    for (i = 0; i < len; i++) {
        if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) {
            return admin_fail(err, 400, field, "%s: holds a control character",
                              field);
        }
    }

    return 0;
}


size_t
admin_utf8_len(const char *s)
{
    size_t  n;

    for (n = 0; *s != '\0'; s++) {
        if (((unsigned char) *s & 0xc0) != 0x80) {
            n++;
        }
    }

    return n;
}


int
admin_parse_id(const char *s, char *out, size_t len)
{
    size_t     n;
    long long  id;

    n = strspn(s, "0123456789");

    if (n == 0 || n > 18 || s[n] != '\0') {
        return -1;
    }

    id = strtoll(s, NULL, 10);
    if (id <= 0) {
        return -1;
    }

    snprintf(out, len, "%lld", id);

    return 0;
}


int
admin_query_json(db_conn_t *c, const db_stmt_t *stmt, int n,
    const char *const *params, json_t **out)
{
    json_t        *v;
    PGresult      *res;
    json_error_t   jerr;

    *out = NULL;

    res = db_exec(c, stmt, n, params);
    if (res == NULL) {
        return -1;
    }

    if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0)) {
        PQclear(res);
        return 0;
    }

    v = json_loads(PQgetvalue(res, 0, 0), JSON_DECODE_ANY, &jerr);
    PQclear(res);

    if (v == NULL) {
        log_error(NULL, "json_loads() failed on the result of \"%s\": %s",
                  stmt->name, jerr.text);
        return -1;
    }

    *out = v;

    return 1;
}


int
admin_reply_list(admin_req_t *ar, const db_stmt_t *stmt, admin_err_t *err)
{
    static const char  *names[] = { NULL };

    if (admin_check_query(ar, names, err) != 0) {
        return -1;
    }

    if (admin_query_json(ar->db, stmt, 0, NULL, &ar->body) != 1) {
        return admin_fail_db(err);
    }

    ar->status = 200;

    return 0;
}


int
admin_audit(db_conn_t *c, const admin_actor_t *who, const char *action,
    const char *target, const char *client_id, json_t *detail)
{
    char        *text;
    PGresult    *res;
    const char  *params[6];

    text = detail ? admin_json_text(detail) : strdup("{}");
    if (text == NULL) {
        log_error(who->req_id, "out of memory");
        return -1;
    }

    params[0] = who->actor;
    params[1] = action;
    params[2] = target;
    params[3] = client_id;
    params[4] = who->req_id;
    params[5] = text;

    res = db_exec(c, &admin_insert_audit, 6, params);
    free(text);

    if (res == NULL) {
        return -1;
    }

    PQclear(res);

    return 0;
}


json_t *
admin_body(admin_req_t *ar, admin_err_t *err)
{
    char     msg[256];
    json_t  *body;

    body = http_json_body(ar->http, msg, sizeof(msg));
    if (body == NULL) {
        admin_fail(err, 400, "", "%s", msg);
    }

    return body;
}


int
admin_begin(db_conn_t *c, admin_err_t *err)
{
    return db_begin(c) == 0 ? 0 : admin_fail_db(err);
}


int
admin_commit(db_conn_t *c, admin_err_t *err)
{
    return db_commit(c) == 0 ? 0 : admin_fail_db(err);
}


char *
admin_json_text(json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}


int
admin_policy_write(const char *req_id)
{
    int         rc;
    char        err[512];
    db_conn_t  *c;

    if (authd_cfg.policy_path[0] == '\0') {
        return 0;
    }

    c = db_acquire(req_id);
    if (c == NULL) {
        log_error(req_id, "policy not rewritten: no database connection");
        return -1;
    }

    rc = policy_refresh(c, err, sizeof(err));
    db_release(c);

    if (rc != 0) {
        log_error(req_id, "policy_refresh() failed: %s", err);
        return -1;
    }

    return 0;
}


json_t *
admin_policy_document(db_conn_t *c, const char *req_id)
{
    char     err[512];
    json_t  *doc;

    doc = policy_from_db(c, err, sizeof(err));
    if (doc == NULL) {
        log_error(req_id, "policy_from_db() failed: %s", err);
    }

    return doc;
}


/* cuts an incomplete UTF-8 sequence that truncation left at the end */

static void
admin_utf8_trim(char *s)
{
    size_t  len, i, need;

    len = strlen(s);
    i = len;

    while (i > 0 && ((unsigned char) s[i - 1] & 0xc0) == 0x80) {
        i--;
    }

    if (i == 0) {
        return;
    }

    i--;

    if ((unsigned char) s[i] < 0x80) {
        return;
    }

    if (((unsigned char) s[i] & 0xe0) == 0xc0) {
        need = 2;

    } else if (((unsigned char) s[i] & 0xf0) == 0xe0) {
        need = 3;

    } else {
        need = 4;
    }

    if (len - i < need) {
        s[i] = '\0';
    }
}


/* well-formed UTF-8 without NUL, overlong forms or surrogates */

static int
admin_utf8_valid(const char *s)
{
    size_t                n, i;
    unsigned long         cp;
    const unsigned char  *p;

    p = (const unsigned char *) s;

    while (*p != '\0') {
        if (*p < 0x80) {
            p++;
            continue;
        }

        if (*p >= 0xc2 && *p <= 0xdf) {
            n = 1;
            cp = *p & 0x1f;

        } else if (*p >= 0xe0 && *p <= 0xef) {
            n = 2;
            cp = *p & 0x0f;

        } else if (*p >= 0xf0 && *p <= 0xf4) {
            n = 3;
            cp = *p & 0x07;

        } else {
            return 0;
        }

        for (i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80) {
                return 0;
            }

            cp = (cp << 6) | (p[i] & 0x3f);
        }

        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)
            || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        {
            return 0;
        }

        p += n + 1;
    }

    return 1;
}


/*
 * A verification for an unknown username must cost what a real one does:
 * the dummy uses the cost new hashes are made with.
 */

static void
admin_dummy_cost(void)
{
    if (crypto_password_dummy_cost((int) authd_cfg.scrypt_ln) != 0) {
        log_warn(NULL, "crypto_password_dummy_cost(%ld) failed",
                 authd_cfg.scrypt_ln);
    }
}
