/*
 * What the admin API reads more than it writes: grants (listed, revoked),
 * the audit log, the signing keys (listed, rotated) and the policy
 * document.  Lists take their filters from the query string; a parameter
 * not listed for the resource is refused rather than ignored, so that a
 * misspelt filter does not return everything.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "bb_buf.h"
#include "keys.h"
#include "log.h"


static int admin_query_id(admin_req_t *ar, const char *name, char *out,
    size_t len, admin_err_t *err);
static int admin_query_time(admin_req_t *ar, const char *name,
    admin_err_t *err);
static int admin_time_valid(const char *s);
static int admin_digits(const char **p, size_t n, int min, int max);


static const db_stmt_t  admin_grant_select_all = {
    "admin_grant_select_all",
    "SELECT coalesce(json_agg(json_build_object("
    "    'id', g.id, 'user_id', g.user_id, 'username', u.username,"
    "    'application_id', g.application_id, 'client_id', a.client_id,"
    "    'scope', g.scope, 'created_at', g.created_at,"
    "    'expires_at', g.expires_at, 'revoked_at', g.revoked_at)"
    "    ORDER BY g.id), '[]')::text"
    " FROM grants g JOIN users u ON u.id = g.user_id"
    "      JOIN applications a ON a.id = g.application_id"
    " WHERE ($1::bigint IS NULL OR g.user_id = $1::bigint)"
    "   AND ($2::bigint IS NULL OR g.application_id = $2::bigint)"
    "   AND ($3::bigint IS NULL OR g.id = $3::bigint)"
};

static const db_stmt_t  admin_grant_revoke = {
    "admin_grant_revoke",
    "UPDATE grants g SET revoked_at = now() FROM applications a"
    " WHERE g.id = $1 AND g.revoked_at IS NULL AND a.id = g.application_id"
    " RETURNING g.user_id, a.client_id"
};

static const db_stmt_t  admin_grant_exists = {
    "admin_grant_exists",
    "SELECT 1 FROM grants WHERE id = $1"
};

static const db_stmt_t  admin_audit_select = {
    "admin_audit_select",
    "SELECT coalesce(json_agg(json_build_object("
    "    'id', id, 'at', at, 'actor', actor, 'action', action,"
    "    'target', target, 'client_id', client_id,"
    "    'request_id', request_id, 'detail', detail)"
    "    ORDER BY at, id), '[]')::text"
    " FROM (SELECT * FROM audit_log"
    "        WHERE ($1::timestamptz IS NULL OR at >= $1::timestamptz)"
    "          AND ($2::timestamptz IS NULL OR at < $2::timestamptz)"
    "          AND ($3::bigint IS NULL"
    "               OR actor IN ('user:' || $3::bigint,"
    "                            'admin:' || $3::bigint)"
    "               OR target = 'user:' || $3::bigint)"
    "          AND ($4::bigint IS NULL"
    "               OR target = 'application:' || $4::bigint"
    "               OR client_id = (SELECT client_id FROM applications"
    "                                WHERE id = $4::bigint))"
    "          AND ($5::text IS NULL OR client_id = $5::text)"
    "        ORDER BY at, id LIMIT $6::integer) AS l"
};


int
admin_grants_list(admin_req_t *ar, admin_err_t *err)
{
    char               user[24], app[24];
    const char        *params[3];
    static const char *names[] = { "user", "application", NULL };

    if (admin_check_query(ar, names, err) != 0
        || admin_query_id(ar, "user", user, sizeof(user), err) != 0
        || admin_query_id(ar, "application", app, sizeof(app), err) != 0)
    {
        return -1;
    }

    params[0] = user[0] ? user : NULL;
    params[1] = app[0] ? app : NULL;
    params[2] = NULL;

    if (admin_query_json(ar->db, &admin_grant_select_all, 3, params,
                         &ar->body)
        != 1)
    {
        return admin_fail_db(err);
    }

    ar->status = 200;

    return 0;
}


int
admin_grants_get(admin_req_t *ar, admin_err_t *err)
{
    char         id[24], q[BB_QUOTE_SIZE];
    json_t      *list;
    const char  *params[3];

    if (admin_parse_id(ar->arg, id, sizeof(id)) != 0) {
        return admin_fail(err, 404, "", "no grant \"%s\"",
                          bb_quote_cstr(q, ar->arg));
    }

    params[0] = NULL;
    params[1] = NULL;
    params[2] = id;

    if (admin_query_json(ar->db, &admin_grant_select_all, 3, params, &list)
        != 1)
    {
        return admin_fail_db(err);
    }

    if (json_array_size(list) == 0) {
        json_decref(list);
        return admin_fail(err, 404, "", "no grant \"%s\"", id);
    }

    ar->body = json_incref(json_array_get(list, 0));
    ar->status = 200;
    json_decref(list);

    return 0;
}


/*
 * The schema's trigger revokes the grant's refresh and access tokens with
 * it; the access tokens then go into the policy's revoked list.  A grant
 * revoked already is left as it is.
 */

int
admin_grants_delete(admin_req_t *ar, admin_err_t *err)
{
    int            rc, found;
    char           id[24], target[64], q[BB_QUOTE_SIZE];
    json_t        *detail;
    PGresult      *res;
    const char    *params[1];
    admin_actor_t  who;

    rc = -1;
    detail = NULL;

    if (admin_parse_id(ar->arg, id, sizeof(id)) != 0) {
        return admin_fail(err, 404, "", "no grant \"%s\"",
                          bb_quote_cstr(q, ar->arg));
    }

    if (admin_begin(ar->db, err) != 0) {
        return -1;
    }

    params[0] = id;

    res = db_exec(ar->db, &admin_grant_revoke, 1, params);
    if (res == NULL) {
        return admin_fail_db(err);
    }

    if (PQntuples(res) == 0) {
        PQclear(res);

        res = db_exec(ar->db, &admin_grant_exists, 1, params);
        if (res == NULL) {
            return admin_fail_db(err);
        }

        found = PQntuples(res) != 0;
        PQclear(res);

        if (!found) {
            return admin_fail(err, 404, "", "no grant \"%s\"", id);
        }

        ar->status = 204;

        return 0;
    }

    snprintf(target, sizeof(target), "grant:%s", id);

    who.actor = ar->actor;
    who.req_id = ar->http->id;

    detail = json_pack("{s:I}", "user_id",
                       (json_int_t) strtoll(PQgetvalue(res, 0, 0), NULL, 10));

    if (detail == NULL
        || admin_audit(ar->db, &who, "grant.revoke", target,
                       PQgetvalue(res, 0, 1), detail)
               != 0
        || admin_commit(ar->db, err) != 0)
    {
        admin_fail_db(err);
        goto done;
    }

    ar->policy_changed = 1;
    ar->status = 204;

    rc = 0;

done:

    json_decref(detail);
    PQclear(res);

    return rc;
}


int
admin_audit_list(admin_req_t *ar, admin_err_t *err)
{
    char               user[24], app[24], limit[8];
    const char        *params[6], *s;
    static const char *names[] = {
        "since", "until", "user", "application", "client_id", "limit", NULL
    };

    if (admin_check_query(ar, names, err) != 0
        || admin_query_time(ar, "since", err) != 0
        || admin_query_time(ar, "until", err) != 0
        || admin_query_id(ar, "user", user, sizeof(user), err) != 0
        || admin_query_id(ar, "application", app, sizeof(app), err) != 0)
    {
        return -1;
    }

    s = http_query(ar->http, "client_id");
    if (s != NULL && admin_check_text("client_id", s, 128, 0, err) != 0) {
        return -1;
    }

    snprintf(limit, sizeof(limit), "%d", ADMIN_AUDIT_LIMIT);

    s = http_query(ar->http, "limit");
    if (s != NULL) {
        if (s[0] == '\0' || strlen(s) > 4
            || strspn(s, "0123456789") != strlen(s) || atoi(s) < 1
            || atoi(s) > ADMIN_AUDIT_LIMIT_MAX)
        {
            return admin_fail(err, 400, "limit",
                              "limit: expected 1 to %d",
                              ADMIN_AUDIT_LIMIT_MAX);
        }

        snprintf(limit, sizeof(limit), "%d", atoi(s));
    }

    params[0] = http_query(ar->http, "since");
    params[1] = http_query(ar->http, "until");
    params[2] = user[0] ? user : NULL;
    params[3] = app[0] ? app : NULL;
    params[4] = http_query(ar->http, "client_id");
    params[5] = limit;

    if (admin_query_json(ar->db, &admin_audit_select, 6, params, &ar->body)
        != 1)
    {
        if (strncmp(db_sqlstate(ar->db), "22", 2) == 0) {
            return admin_fail(err, 400, "", "since or until: not a valid "
                                            "time");
        }

        return admin_fail_db(err);
    }

    ar->status = 200;

    return 0;
}


int
admin_keys_list(admin_req_t *ar, admin_err_t *err)
{
    static const char *names[] = { NULL };

    if (admin_check_query(ar, names, err) != 0) {
        return -1;
    }

    ar->body = keys_list(ar->db);
    if (ar->body == NULL) {
        return admin_fail_db(err);
    }

    ar->status = 200;

    return 0;
}


/*
 * keys_rotate() runs its own transaction, the audit row in it, and
 * rewrites the policy itself.
 */

int
admin_keys_rotate(admin_req_t *ar, admin_err_t *err)
{
    char  msg[512];

    if (keys_rotate(ar->db, ar->http->id, ar->actor, msg, sizeof(msg)) != 0)
    {
        log_error(ar->http->id, "keys_rotate() failed: %s", msg);
        return admin_fail_db(err);
    }

    ar->body = keys_list(ar->db);
    if (ar->body == NULL) {
        return admin_fail_db(err);
    }

    ar->status = 200;

    return 0;
}


int
admin_policy_get(admin_req_t *ar, admin_err_t *err)
{
    static const char *names[] = { NULL };

    if (admin_check_query(ar, names, err) != 0) {
        return -1;
    }

    ar->body = admin_policy_document(ar->db, ar->http->id);
    if (ar->body == NULL) {
        return admin_fail_db(err);
    }

    ar->status = 200;

    return 0;
}


/* an id filter into out, "" when absent */

static int
admin_query_id(admin_req_t *ar, const char *name, char *out, size_t len,
    admin_err_t *err)
{
    const char  *s;

    out[0] = '\0';

    s = http_query(ar->http, name);
    if (s == NULL) {
        return 0;
    }

    if (admin_parse_id(s, out, len) != 0) {
        return admin_fail(err, 400, name, "%s: expected an id", name);
    }

    return 0;
}


static int
admin_query_time(admin_req_t *ar, const char *name, admin_err_t *err)
{
    const char  *s;

    s = http_query(ar->http, name);

    if (s != NULL && !admin_time_valid(s)) {
        return admin_fail(err, 400, name,
                          "%s: expected a time such as "
                          "2024-01-02T03:04:05Z", name);
    }

    return 0;
}


/*
 * RFC 3339 and its shorter forms: a date, optionally with a time (to the
 * minute, the second or a fraction of it) and a zone ("Z" or +hh:mm).
 * The day of the month is checked by PostgreSQL.
 */

static int
admin_time_valid(const char *s)
{
    const char  *p;

    p = s;

    if (!admin_digits(&p, 4, 1, 9999) || *p++ != '-'
        || !admin_digits(&p, 2, 1, 12) || *p++ != '-'
        || !admin_digits(&p, 2, 1, 31))
    {
        return 0;
    }

    if (*p == '\0') {
        return 1;
    }

    if (*p != 'T' && *p != 't' && *p != ' ') {
        return 0;
    }

    p++;

    if (!admin_digits(&p, 2, 0, 23) || *p++ != ':'
        || !admin_digits(&p, 2, 0, 59))
    {
        return 0;
    }

    if (*p == ':') {
        p++;

        if (!admin_digits(&p, 2, 0, 60)) {
            return 0;
        }

        if (*p == '.') {
            p++;

            if (strspn(p, "0123456789") == 0 || strspn(p, "0123456789") > 9)
            {
                return 0;
            }

            p += strspn(p, "0123456789");
        }
    }

    if (*p == 'Z' || *p == 'z') {
        return p[1] == '\0';
    }

    if (*p == '+' || *p == '-') {
        p++;

        return admin_digits(&p, 2, 0, 23) && *p++ == ':'
               && admin_digits(&p, 2, 0, 59) && *p == '\0';
    }

    return *p == '\0';
}


static int
admin_digits(const char **p, size_t n, int min, int max)
{
    int     v;
    size_t  i;

    v = 0;

    for (i = 0; i < n; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9') {
            return 0;
        }

        v = v * 10 + (*p)[i] - '0';
    }

    *p += n;

    return v >= min && v <= max;
}
