/*
 * Users through the admin API and `authd load`: beneficiaries, with the
 * crosswalk row that gives their patient_id, and admins.  Password hashes
 * never leave the database; passwords are hashed with scrypt at the cost
 * AUTHD_SCRYPT_LN.
 *
 * A change of patient_id revokes the user's grants, and so the tokens
 * whose "patient" claim named the old one; a deactivation revokes them as
 * well (the schema's trigger).  Either way the policy is rewritten.  A new
 * password or a deactivation ends the user's browser sessions.  An admin
 * cannot deactivate or delete their own account through the API.
 */

#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "bb_buf.h"
#include "config.h"
#include "crypto.h"
#include "log.h"


#define ADMIN_NAME_MAX           256
#define ADMIN_PATIENT_ID_MAX     64


/* a user's values once checked; NULL leaves a field as it is */
typedef struct {
    const char  *username;
    const char  *name;
    const char  *role;
    const char  *active;                /* "true", "false" */
    const char  *password;
    int          set_patient;           /* patient_id given, maybe null */
    const char  *patient_id;
    char         hash[CRYPTO_PASSWORD_HASH_SIZE];
} admin_user_t;


static int admin_user_check(json_t *body, unsigned mode, admin_user_t *u,
    admin_err_t *err);
static int admin_user_password(admin_user_t *u, const char *env,
    const char *role, const char *old_hash, const char *req_id,
    admin_err_t *err);
static int admin_user_insert(db_conn_t *c, const admin_actor_t *who,
    admin_user_t *u, json_t *detail, char *id, size_t idlen,
    admin_err_t *err);
static int admin_user_modify(db_conn_t *c, const admin_actor_t *who,
    const char *id, admin_user_t *u, unsigned mode, long long self,
    json_t *detail, int *policy, admin_err_t *err);
static int admin_user_patient_free(db_conn_t *c, const char *patient_id,
    const char *id, admin_err_t *err);
static int admin_user_conflict(db_conn_t *c, const char *field,
    const char *value, admin_err_t *err);
static json_t *admin_user_detail(json_t *body);
static int admin_user_id(admin_req_t *ar, char *id, size_t len,
    admin_err_t *err);
static int admin_user_reply(admin_req_t *ar, const char *id,
    admin_err_t *err);


static const admin_field_t  admin_user_fields[] = {
    { "username", ADMIN_T_STRING, ADMIN_CREATE | ADMIN_LOAD | ADMIN_CROSSWALK,
      ADMIN_CREATE | ADMIN_LOAD | ADMIN_CROSSWALK, 0 },
    { "password", ADMIN_T_STRING, ADMIN_CREATE | ADMIN_UPDATE,
      ADMIN_CREATE, 0 },
    { "password_env", ADMIN_T_STRING, ADMIN_LOAD, ADMIN_LOAD, 0 },
    { "name", ADMIN_T_STRING, ADMIN_CREATE | ADMIN_UPDATE | ADMIN_LOAD, 0,
      0 },
    { "role", ADMIN_T_STRING, ADMIN_CREATE | ADMIN_LOAD, 0, 0 },
    { "patient_id", ADMIN_T_STRING,
      ADMIN_CREATE | ADMIN_UPDATE | ADMIN_CROSSWALK, ADMIN_CROSSWALK,
      ADMIN_UPDATE },
    { "active", ADMIN_T_BOOL, ADMIN_CREATE | ADMIN_UPDATE | ADMIN_LOAD, 0,
      0 },
    { NULL, 0, 0, 0, 0 }
};


#define ADMIN_USER_JSON                                                      \
    "json_build_object('id', u.id, 'username', u.username, 'name', u.name,"  \
    " 'role', u.role, 'active', u.active, 'patient_id', x.patient_id,"       \
    " 'created_at', u.created_at)"


static const db_stmt_t  admin_user_find = {
    "admin_user_find",
    "SELECT u.id, u.role, u.password_hash, x.patient_id"
    " FROM users u LEFT JOIN crosswalk x ON x.user_id = u.id"
    " WHERE u.username = $1 FOR UPDATE OF u"
};

static const db_stmt_t  admin_user_lock = {
    "admin_user_lock",
    "SELECT u.id, u.role, u.password_hash, x.patient_id"
    " FROM users u LEFT JOIN crosswalk x ON x.user_id = u.id"
    " WHERE u.id = $1 FOR UPDATE OF u"
};

static const db_stmt_t  admin_user_patient_owner = {
    "admin_user_patient_owner",
    "SELECT user_id FROM crosswalk"
    " WHERE patient_id = $1 AND user_id IS DISTINCT FROM $2::bigint"
};

static const db_stmt_t  admin_user_insert_row = {
    "admin_user_insert_row",
    "INSERT INTO users (username, password_hash, name, role, active)"
    " VALUES ($1, $2, coalesce($3, ''), coalesce($4, 'beneficiary'),"
    "         coalesce($5::boolean, true))"
    " RETURNING id"
};

static const db_stmt_t  admin_user_change = {
    "admin_user_change",
    "UPDATE users SET"
    "    name = coalesce($2, name),"
    "    role = coalesce($3, role),"
    "    active = coalesce($4::boolean, active),"
    "    password_hash = coalesce($5, password_hash)"
    " WHERE id = $1"
};

static const db_stmt_t  admin_user_link = {
    "admin_user_link",
    "INSERT INTO crosswalk (user_id, patient_id) VALUES ($1, $2)"
};

static const db_stmt_t  admin_user_unlink = {
    "admin_user_unlink",
    "DELETE FROM crosswalk WHERE user_id = $1"
};

static const db_stmt_t  admin_user_revoke_grants = {
    "admin_user_revoke_grants",
    "UPDATE grants SET revoked_at = now()"
    " WHERE user_id = $1 AND revoked_at IS NULL"
};

static const db_stmt_t  admin_user_end_sessions = {
    "admin_user_end_sessions",
    "DELETE FROM sessions WHERE user_id = $1"
};

static const db_stmt_t  admin_user_remove = {
    "admin_user_remove",
    "DELETE FROM users WHERE id = $1 RETURNING username, role"
};

static const db_stmt_t  admin_user_select = {
    "admin_user_select",
    "SELECT " ADMIN_USER_JSON "::text"
    " FROM users u LEFT JOIN crosswalk x ON x.user_id = u.id"
    " WHERE u.id = $1"
};

static const db_stmt_t  admin_user_select_all = {
    "admin_user_select_all",
    "SELECT coalesce(json_agg(" ADMIN_USER_JSON " ORDER BY u.id),"
    "                '[]')::text"
    " FROM users u LEFT JOIN crosswalk x ON x.user_id = u.id"
};


int
admin_user_create(db_conn_t *c, const admin_actor_t *who, json_t *user,
    char *id, size_t idlen, admin_err_t *err)
{
    int            rc;
    json_t        *detail;
    admin_user_t   u;

    if (admin_user_check(user, ADMIN_CREATE, &u, err) != 0) {
        return -1;
    }

    if (admin_user_password(&u, NULL, u.role ? u.role : "beneficiary", NULL,
                            who->req_id, err)
        != 0)
    {
        return -1;
    }

    detail = admin_user_detail(user);
    if (detail == NULL) {
        return admin_fail_db(err);
    }

    rc = admin_user_insert(c, who, &u, detail, id, idlen, err);

    json_decref(detail);
    OPENSSL_cleanse(u.hash, sizeof(u.hash));

    return rc;
}


int
admin_user_load(db_conn_t *c, const admin_actor_t *who, json_t *fields,
    unsigned mode, admin_err_t *err)
{
    int            rc, policy, found;
    char           id[24], q[BB_QUOTE_SIZE];
    json_t        *detail;
    PGresult      *res;
    const char    *env, *params[1];
    admin_user_t   u;

    rc = -1;
    res = NULL;
    detail = NULL;

    if (admin_user_check(fields, mode, &u, err) != 0) {
        return -1;
    }

    detail = admin_user_detail(fields);
    if (detail == NULL) {
        return admin_fail_db(err);
    }

    params[0] = u.username;

    res = db_exec(c, &admin_user_find, 1, params);
    if (res == NULL) {
        admin_fail_db(err);
        goto done;
    }

    found = PQntuples(res) != 0;

    if (found) {
        snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
    }

    if (mode == ADMIN_CROSSWALK) {
        if (!found) {
            admin_fail(err, 400, "username", "username: no user \"%s\"",
                       bb_quote_cstr(q, u.username));
            goto done;
        }

        if (strcmp(PQgetvalue(res, 0, 1), "beneficiary") != 0) {
            admin_fail(err, 400, "username",
                       "username: \"%s\" is not a beneficiary",
                       bb_quote_cstr(q, u.username));
            goto done;
        }

        rc = admin_user_modify(c, who, id, &u, mode, 0, detail, &policy, err);
        goto done;
    }

    env = json_string_value(json_object_get(fields, "password_env"));

    u.password = getenv(env);
    if (u.password == NULL || u.password[0] == '\0') {
        admin_fail(err, 400, "password_env",
                   "password_env: \"%s\" is not set", bb_quote_cstr(q, env));
        goto done;
    }

    /*
     * An entry describes the user whole: what it leaves out takes its
     * default.  An admin has no crosswalk row; a beneficiary keeps theirs
     * (crosswalk entries set it).
     */

    if (u.role == NULL) {
        u.role = "beneficiary";
    }

    if (u.name == NULL) {
        u.name = "";
    }

    if (u.active == NULL) {
        u.active = "true";
    }

    u.set_patient = strcmp(u.role, "admin") == 0;

    /* the same password keeps its hash: loading twice changes nothing */

    if (admin_user_password(&u, env, u.role,
                            found ? PQgetvalue(res, 0, 2) : NULL,
                            who->req_id, err)
        != 0)
    {
        goto done;
    }

    if (found) {
        rc = admin_user_modify(c, who, id, &u, mode, 0, detail, &policy, err);

    } else {
        rc = admin_user_insert(c, who, &u, detail, id, sizeof(id), err);
    }

done:

    OPENSSL_cleanse(u.hash, sizeof(u.hash));
    json_decref(detail);
    PQclear(res);

    return rc;
}


int
admin_users_list(admin_req_t *ar, admin_err_t *err)
{
    return admin_reply_list(ar, &admin_user_select_all, err);
}


int
admin_users_get(admin_req_t *ar, admin_err_t *err)
{
    char  id[24];

    if (admin_user_id(ar, id, sizeof(id), err) != 0) {
        return -1;
    }

    ar->status = 200;

    return admin_user_reply(ar, id, err);
}


int
admin_users_create(admin_req_t *ar, admin_err_t *err)
{
    char           id[24];
    json_t        *body;
    admin_actor_t  who;

    body = admin_body(ar, err);
    if (body == NULL) {
        return -1;
    }

    who.actor = ar->actor;
    who.req_id = ar->http->id;

    if (admin_begin(ar->db, err) != 0
        || admin_user_create(ar->db, &who, body, id, sizeof(id), err) != 0
        || admin_commit(ar->db, err) != 0)
    {
        json_decref(body);
        return -1;
    }

    json_decref(body);

    ar->status = 201;
    snprintf(ar->location, sizeof(ar->location), "/admin/v1/users/%s", id);

    return admin_user_reply(ar, id, err);
}


int
admin_users_update(admin_req_t *ar, admin_err_t *err)
{
    int            rc, policy;
    char           id[24];
    json_t        *body, *detail;
    admin_user_t   u;
    admin_actor_t  who;

    rc = -1;
    detail = NULL;

    if (admin_user_id(ar, id, sizeof(id), err) != 0) {
        return -1;
    }

    body = admin_body(ar, err);
    if (body == NULL) {
        return -1;
    }

    if (admin_user_check(body, ADMIN_UPDATE, &u, err) != 0) {
        goto done;
    }

    detail = admin_user_detail(body);
    if (detail == NULL) {
        admin_fail_db(err);
        goto done;
    }

    who.actor = ar->actor;
    who.req_id = ar->http->id;

    if (admin_begin(ar->db, err) != 0
        || admin_user_modify(ar->db, &who, id, &u, ADMIN_UPDATE,
                             ar->admin_id, detail, &policy, err)
               != 0
        || admin_commit(ar->db, err) != 0)
    {
        goto done;
    }

    ar->policy_changed = policy;
    ar->status = 200;

    rc = admin_user_reply(ar, id, err);

done:

    OPENSSL_cleanse(u.hash, sizeof(u.hash));
    json_decref(detail);
    json_decref(body);

    return rc;
}


int
admin_users_delete(admin_req_t *ar, admin_err_t *err)
{
    int            rc;
    char           id[24], target[64];
    json_t        *detail;
    PGresult      *res;
    const char    *params[1];
    admin_actor_t  who;

    rc = -1;
    detail = NULL;

    if (admin_user_id(ar, id, sizeof(id), err) != 0) {
        return -1;
    }

    if (strtoll(id, NULL, 10) == ar->admin_id) {
        return admin_fail(err, 409, "", "an admin cannot delete their own "
                                        "account");
    }

    if (admin_begin(ar->db, err) != 0) {
        return -1;
    }

    params[0] = id;

    res = db_exec(ar->db, &admin_user_remove, 1, params);
    if (res == NULL) {
        return admin_fail_db(err);
    }

    if (PQntuples(res) == 0) {
        admin_fail(err, 404, "", "no user \"%s\"", id);
        goto done;
    }

    snprintf(target, sizeof(target), "user:%s", id);

    who.actor = ar->actor;
    who.req_id = ar->http->id;

    detail = json_pack("{s:s,s:s}", "username", PQgetvalue(res, 0, 0),
                       "role", PQgetvalue(res, 0, 1));

    if (detail == NULL
        || admin_audit(ar->db, &who, "user.delete", target, NULL, detail)
               != 0
        || admin_commit(ar->db, err) != 0)
    {
        admin_fail_db(err);
        goto done;
    }

    /* the user's grants went with them, their tokens into revoked */

    ar->policy_changed = 1;
    ar->status = 204;

    rc = 0;

done:

    json_decref(detail);
    PQclear(res);

    return rc;
}


/* the fields of a user as far as mode allows them, into u */

static int
admin_user_check(json_t *body, unsigned mode, admin_user_t *u,
    admin_err_t *err)
{
    size_t       len;
    char         q[BB_QUOTE_SIZE];
    json_t      *v;
    const char  *s;

    memset(u, 0, sizeof(admin_user_t));

    if (admin_check_fields(body, admin_user_fields, mode, err) != 0) {
        return -1;
    }

    v = json_object_get(body, "username");
    if (v != NULL) {
        u->username = json_string_value(v);
        len = strlen(u->username);

        if (admin_check_text("username", u->username, 150, 0, err) != 0) {
            return -1;
        }

        if (u->username[0] == ' ' || u->username[len - 1] == ' ') {
            return admin_fail(err, 400, "username",
                              "username: starts or ends with a space");
        }
    }

    v = json_object_get(body, "name");
    if (v != NULL) {
        u->name = json_string_value(v);

        if (admin_check_text("name", u->name, ADMIN_NAME_MAX, 1, err) != 0) {
            return -1;
        }
    }

    v = json_object_get(body, "role");
    if (v != NULL) {
        u->role = json_string_value(v);

        if (strcmp(u->role, "beneficiary") != 0
            && strcmp(u->role, "admin") != 0)
        {
            return admin_fail(err, 400, "role",
                              "role: \"%s\" is neither \"beneficiary\" nor "
                              "\"admin\"", bb_quote_cstr(q, u->role));
        }
    }

    v = json_object_get(body, "active");
    if (v != NULL) {
        u->active = json_is_true(v) ? "true" : "false";
    }

    v = json_object_get(body, "password");
    if (v != NULL) {
        u->password = json_string_value(v);
    }

    v = json_object_get(body, "patient_id");
    if (v != NULL) {
        u->set_patient = 1;
        u->patient_id = json_string_value(v);
        s = u->patient_id;

        if (s != NULL
            && (s[0] == '\0' || strlen(s) > ADMIN_PATIENT_ID_MAX
                || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                             "abcdefghijklmnopqrstuvwxyz0123456789.-")
                       != strlen(s)))
        {
            return admin_fail(err, 400, "patient_id",
                              "patient_id: \"%s\" is not 1 to 64 letters, "
                              "digits, \".\" or \"-\"", bb_quote_cstr(q, s));
        }
    }

    if (u->role != NULL && strcmp(u->role, "admin") == 0) {
        if (u->patient_id != NULL) {
            return admin_fail(err, 400, "patient_id",
                              "patient_id: only a beneficiary has one");
        }

        /* HTTP Basic credentials cannot carry a ':' in the username */

        if (u->username != NULL && strchr(u->username, ':') != NULL) {
            return admin_fail(err, 400, "username",
                              "username: an admin's cannot hold \":\"");
        }
    }

    return 0;
}


/*
 * u->password checked for role and hashed into u->hash, unless old_hash
 * already matches it (u->hash is then left empty).  No password, no hash.
 * env names the variable it came from, for `authd load`.
 */

static int
admin_user_password(admin_user_t *u, const char *env, const char *role,
    const char *old_hash, const char *req_id, admin_err_t *err)
{
    size_t  min;
    char    what[BB_QUOTE_SIZE + 32], q[BB_QUOTE_SIZE];

    u->hash[0] = '\0';

    if (u->password == NULL) {
        return 0;
    }

    if (env != NULL) {
        snprintf(what, sizeof(what), "password_env: the password in \"%s\" is",
                 bb_quote_cstr(q, env));

    } else {
        snprintf(what, sizeof(what), "password:");
    }

    min = strcmp(role, "admin") == 0 ? ADMIN_PASSWORD_MIN_ADMIN
                                     : ADMIN_PASSWORD_MIN_USER;

    if (admin_utf8_len(u->password) < min) {
        return admin_fail(err, 400, env ? "password_env" : "password",
                          "%s shorter than %zu characters", what, min);
    }

    if (strlen(u->password) > CRYPTO_PASSWORD_MAX) {
        return admin_fail(err, 400, env ? "password_env" : "password",
                          "%s longer than %d bytes", what,
                          CRYPTO_PASSWORD_MAX);
    }

    if (old_hash != NULL && crypto_password_verify(u->password, old_hash) == 1)
    {
        return 0;
    }

    if (crypto_password_hash(u->password, (int) authd_cfg.scrypt_ln, u->hash,
                             sizeof(u->hash))
        != 0)
    {
        log_error(req_id, "crypto_password_hash() failed");
        return admin_fail_db(err);
    }

    return 0;
}


/* a new user, its crosswalk row and the audit row */

static int
admin_user_insert(db_conn_t *c, const admin_actor_t *who, admin_user_t *u,
    json_t *detail, char *id, size_t idlen, admin_err_t *err)
{
    char         target[64], q[BB_QUOTE_SIZE];
    PGresult    *res;
    const char  *params[5];

    params[0] = u->username;

    res = db_exec(c, &admin_user_find, 1, params);
    if (res == NULL) {
        return admin_fail_db(err);
    }

    if (PQntuples(res) != 0) {
        PQclear(res);
        return admin_fail(err, 409, "username", "username: \"%s\" is taken",
                          bb_quote_cstr(q, u->username));
    }

    PQclear(res);

    if (u->patient_id != NULL
        && admin_user_patient_free(c, u->patient_id, NULL, err) != 0)
    {
        return -1;
    }

    params[0] = u->username;
    params[1] = u->hash;
    params[2] = u->name;
    params[3] = u->role;
    params[4] = u->active;

    res = db_exec(c, &admin_user_insert_row, 5, params);
    if (res == NULL) {
        return admin_user_conflict(c, "username", u->username, err);
    }

    snprintf(id, idlen, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);

    if (u->patient_id != NULL) {
        params[0] = id;
        params[1] = u->patient_id;

        res = db_exec(c, &admin_user_link, 2, params);
        if (res == NULL) {
            return admin_user_conflict(c, "patient_id", u->patient_id, err);
        }

        PQclear(res);
    }

    snprintf(target, sizeof(target), "user:%s", id);

    if (admin_audit(c, who, "user.create", target, NULL, detail) != 0) {
        return admin_fail_db(err);
    }

    return 0;
}


/*
 * Changes the user id as u says (NULL fields stay) inside the caller's
 * transaction; *policy tells whether grants may have been revoked.
 */

static int
admin_user_modify(db_conn_t *c, const admin_actor_t *who, const char *id,
    admin_user_t *u, unsigned mode, long long self, json_t *detail,
    int *policy, admin_err_t *err)
{
    int          rc, relink, linked;
    char         target[64], role[16], *old_patient;
    PGresult    *res;
    const char  *params[5];

    rc = -1;
    old_patient = NULL;
    *policy = 0;

    params[0] = id;

    res = db_exec(c, &admin_user_lock, 1, params);
    if (res == NULL) {
        return admin_fail_db(err);
    }

    if (PQntuples(res) == 0) {
        PQclear(res);
        return admin_fail(err, 404, "", "no user \"%s\"", id);
    }

    snprintf(role, sizeof(role), "%s", PQgetvalue(res, 0, 1));
    linked = !PQgetisnull(res, 0, 3);
    old_patient = linked ? strdup(PQgetvalue(res, 0, 3)) : NULL;
    PQclear(res);
    res = NULL;

    if (linked && old_patient == NULL) {
        log_error(who->req_id, "out of memory");
        admin_fail_db(err);
        goto done;
    }

    if (mode == ADMIN_UPDATE) {
        if (strtoll(id, NULL, 10) == self && u->active != NULL
            && strcmp(u->active, "false") == 0)
        {
            admin_fail(err, 409, "active",
                       "active: an admin cannot deactivate their own "
                       "account");
            goto done;
        }

        if (u->patient_id != NULL && strcmp(role, "admin") == 0) {
            admin_fail(err, 400, "patient_id",
                       "patient_id: only a beneficiary has one");
            goto done;
        }

        if (admin_user_password(u, NULL, role, NULL, who->req_id, err) != 0) {
            goto done;
        }
    }

    if (!u->set_patient) {
        relink = 0;

    } else if (old_patient == NULL || u->patient_id == NULL) {
        relink = old_patient != u->patient_id;

    } else {
        relink = strcmp(old_patient, u->patient_id) != 0;
    }

    if (relink && u->patient_id != NULL
        && admin_user_patient_free(c, u->patient_id, id, err) != 0)
    {
        goto done;
    }

    /*
     * The crosswalk row goes before the role changes (it may only point at
     * a beneficiary) and comes back after; tokens issued for the old
     * patient_id lose their grant.
     */

    if (relink) {
        params[0] = id;

        res = db_exec(c, &admin_user_unlink, 1, params);
        PQclear(res);

        if (res == NULL) {
            admin_fail_db(err);
            goto done;
        }

        res = db_exec(c, &admin_user_revoke_grants, 1, params);
        if (res == NULL) {
            admin_fail_db(err);
            goto done;
        }

        *policy = 1;

        PQclear(res);
        res = NULL;
    }

    params[0] = id;
    params[1] = u->name;
    params[2] = u->role;
    params[3] = u->active;
    params[4] = u->hash[0] ? u->hash : NULL;

    res = db_exec(c, &admin_user_change, 5, params);
    if (res == NULL) {
        admin_fail_db(err);
        goto done;
    }

    PQclear(res);
    res = NULL;

    if (relink && u->patient_id != NULL) {
        params[1] = u->patient_id;

        res = db_exec(c, &admin_user_link, 2, params);
        if (res == NULL) {
            admin_user_conflict(c, "patient_id", u->patient_id, err);
            goto done;
        }

        PQclear(res);
        res = NULL;
    }

    if (u->hash[0] != '\0'
        || (u->active != NULL && strcmp(u->active, "false") == 0))
    {
        res = db_exec(c, &admin_user_end_sessions, 1, params);
        if (res == NULL) {
            admin_fail_db(err);
            goto done;
        }

        PQclear(res);
        res = NULL;
    }

    if (u->active != NULL && strcmp(u->active, "false") == 0) {
        *policy = 1;
    }

    snprintf(target, sizeof(target), "user:%s", id);

    if (admin_audit(c, who,
                    mode == ADMIN_UPDATE      ? "user.update"
                    : mode == ADMIN_CROSSWALK ? "crosswalk.load"
                                              : "user.load",
                    target, NULL, detail)
        != 0)
    {
        admin_fail_db(err);
        goto done;
    }

    rc = 0;

done:

    free(old_patient);

    return rc;
}


/* 409 when another user (than id, if not NULL) has patient_id */

static int
admin_user_patient_free(db_conn_t *c, const char *patient_id, const char *id,
    admin_err_t *err)
{
    int          taken;
    PGresult    *res;
    const char  *params[2];

    params[0] = patient_id;
    params[1] = id;

    res = db_exec(c, &admin_user_patient_owner, 2, params);
    if (res == NULL) {
        return admin_fail_db(err);
    }

    taken = PQntuples(res) != 0;
    PQclear(res);

    if (taken) {
        return admin_fail(err, 409, "patient_id",
                          "patient_id: \"%s\" belongs to another user",
                          patient_id);
    }

    return 0;
}


/*
 * A failed insert: a unique violation is a username or patient_id taken
 * by a concurrent request since it was checked.
 */

static int
admin_user_conflict(db_conn_t *c, const char *field, const char *value,
    admin_err_t *err)
{
    char  q[BB_QUOTE_SIZE];

    if (strcmp(db_sqlstate(c), DB_UNIQUE_VIOLATION) != 0) {
        return admin_fail_db(err);
    }

    return admin_fail(err, 409, field, "%s: \"%s\" is taken", field,
                      bb_quote_cstr(q, value));
}


/* the body for the audit log: no password, only that one was set */

static json_t *
admin_user_detail(json_t *body)
{
    json_t  *detail;

    detail = json_copy(body);
    if (detail == NULL) {
        return NULL;
    }

    if (json_object_get(detail, "password") != NULL) {
        json_object_del(detail, "password");

        if (json_object_set_new(detail, "password_set", json_true()) != 0) {
            json_decref(detail);
            return NULL;
        }
    }

    return detail;
}


static int
admin_user_id(admin_req_t *ar, char *id, size_t len, admin_err_t *err)
{
    char  q[BB_QUOTE_SIZE];

    if (admin_parse_id(ar->arg, id, len) != 0) {
        return admin_fail(err, 404, "", "no user \"%s\"",
                          bb_quote_cstr(q, ar->arg));
    }

    return 0;
}


static int
admin_user_reply(admin_req_t *ar, const char *id, admin_err_t *err)
{
    int          rc;
    const char  *params[1];

    params[0] = id;

    rc = admin_query_json(ar->db, &admin_user_select, 1, params, &ar->body);
    if (rc < 0) {
        return admin_fail_db(err);
    }

    if (rc == 0) {
        return admin_fail(err, 404, "", "no user \"%s\"", id);
    }

    return 0;
}
