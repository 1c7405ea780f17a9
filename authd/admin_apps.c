/*
 * Applications (OAuth clients) through the admin API and `authd load`.
 *
 * authd makes the client_id of an application created through the API,
 * and for a confidential one a secret of 32 random bytes, shown in the
 * creation's reply (and in a rotation's) and nowhere else: the database
 * keeps its SHA-256 only.  `authd load` names both itself, the secret by
 * the environment variable that holds it, so that the file holds none.
 *
 * Deleting an application deletes its grants; the schema's triggers
 * revoke their access tokens, which then go into the policy document's
 * revoked list, as they do when an application is deactivated.
 */

#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "bb_buf.h"
#include "crypto.h"
#include "log.h"
#include "oauth.h"


#define ADMIN_URIS_MAX           32
#define ADMIN_CLIENT_ID_BYTES    16
#define ADMIN_SECRET_BYTES       32


static int admin_app_check(json_t *app, unsigned mode, admin_err_t *err);
static int admin_app_list_check(json_t *app, const char *field, int uris,
    admin_err_t *err);
static int admin_app_secret_hash(const char *secret, char *out, size_t len);
static int admin_app_id(admin_req_t *ar, char *id, size_t len,
    admin_err_t *err);
static int admin_app_reply(admin_req_t *ar, const char *id,
    const char *secret, admin_err_t *err);


static const admin_field_t  admin_app_fields[] = {
    { "client_id", ADMIN_T_STRING, ADMIN_LOAD, ADMIN_LOAD, 0 },
    { "name", ADMIN_T_STRING, ADMIN_CREATE | ADMIN_UPDATE | ADMIN_LOAD,
      ADMIN_CREATE | ADMIN_LOAD, 0 },
    { "client_type", ADMIN_T_STRING, ADMIN_CREATE | ADMIN_LOAD,
      ADMIN_CREATE | ADMIN_LOAD, 0 },
    { "client_secret_env", ADMIN_T_STRING, ADMIN_LOAD, 0, 0 },
    { "redirect_uris", ADMIN_T_STRINGS,
      ADMIN_CREATE | ADMIN_UPDATE | ADMIN_LOAD, ADMIN_CREATE | ADMIN_LOAD,
      0 },
    { "allowed_scopes", ADMIN_T_STRINGS,
      ADMIN_CREATE | ADMIN_UPDATE | ADMIN_LOAD, 0, 0 },
    { "active", ADMIN_T_BOOL, ADMIN_CREATE | ADMIN_UPDATE | ADMIN_LOAD, 0,
      0 },
    { NULL, 0, 0, 0, 0 }
};


#define ADMIN_APP_JSON                                                       \
    "json_build_object('id', id, 'client_id', client_id, 'name', name,"      \
    " 'client_type', client_type, 'redirect_uris', redirect_uris,"           \
    " 'allowed_scopes', allowed_scopes, 'active', active,"                   \
    " 'created_at', created_at)"


static const db_stmt_t  admin_app_insert = {
    "admin_app_insert",
    "INSERT INTO applications (client_id, name, client_type,"
    "    client_secret_hash, redirect_uris, allowed_scopes, active)"
    " VALUES ($1, $2, $3, $4::bytea, authd_json_texts($5::jsonb),"
    "         authd_json_texts(coalesce($6::jsonb, '[]')),"
    "         coalesce($7::boolean, true))"
    " RETURNING id"
};

static const db_stmt_t  admin_app_upsert = {
    "admin_app_upsert",
    "INSERT INTO applications (client_id, name, client_type,"
    "    client_secret_hash, redirect_uris, allowed_scopes, active)"
    " VALUES ($1, $2, $3, $4::bytea, authd_json_texts($5::jsonb),"
    "         authd_json_texts(coalesce($6::jsonb, '[]')),"
    "         coalesce($7::boolean, true))"
    " ON CONFLICT (client_id) DO UPDATE SET"
    "    name = excluded.name,"
    "    client_type = excluded.client_type,"
    "    client_secret_hash = excluded.client_secret_hash,"
    "    redirect_uris = excluded.redirect_uris,"
    "    allowed_scopes = excluded.allowed_scopes,"
    "    active = excluded.active"
    " RETURNING id, (xmax = 0)"
};

static const db_stmt_t  admin_app_change = {
    "admin_app_change",
    "UPDATE applications SET"
    "    name = coalesce($2, name),"
    "    redirect_uris = coalesce(authd_json_texts($3::jsonb),"
    "                             redirect_uris),"
    "    allowed_scopes = coalesce(authd_json_texts($4::jsonb),"
    "                              allowed_scopes),"
    "    active = coalesce($5::boolean, active)"
    " WHERE id = $1"
    " RETURNING client_id"
};

static const db_stmt_t  admin_app_lock = {
    "admin_app_lock",
    "SELECT client_id, client_type FROM applications WHERE id = $1"
    " FOR UPDATE"
};

static const db_stmt_t  admin_app_new_secret = {
    "admin_app_new_secret",
    "UPDATE applications SET client_secret_hash = $2::bytea WHERE id = $1"
};

static const db_stmt_t  admin_app_remove = {
    "admin_app_remove",
    "DELETE FROM applications WHERE id = $1 RETURNING client_id, name"
};

static const db_stmt_t  admin_app_select = {
    "admin_app_select",
    "SELECT " ADMIN_APP_JSON "::text FROM applications WHERE id = $1"
};

static const db_stmt_t  admin_app_select_all = {
    "admin_app_select_all",
    "SELECT coalesce(json_agg(" ADMIN_APP_JSON " ORDER BY id), '[]')::text"
    " FROM applications"
};


int
admin_app_load(db_conn_t *c, const admin_actor_t *who, json_t *app,
    admin_err_t *err)
{
    int          rc;
    char         hash[CRYPTO_SHA256_HEX_SIZE + 2], target[64], q[BB_QUOTE_SIZE];
    char        *uris, *scopes;
    json_t      *v;
    PGresult    *res;
    const char  *env, *secret, *params[7];

    rc = -1;
    uris = NULL;
    scopes = NULL;
    res = NULL;

    if (admin_app_check(app, ADMIN_LOAD, err) != 0) {
        return -1;
    }

    params[3] = NULL;

    v = json_object_get(app, "client_secret_env");
    if (v != NULL) {
        env = json_string_value(v);
        secret = getenv(env);

        if (secret == NULL || secret[0] == '\0') {
            return admin_fail(err, 400, "client_secret_env",
                              "client_secret_env: \"%s\" is not set",
                              bb_quote_cstr(q, env));
        }

        if (strlen(secret) < ADMIN_CLIENT_SECRET_MIN) {
            return admin_fail(err, 400, "client_secret_env",
                              "client_secret_env: the secret in \"%s\" is "
                              "shorter than %d bytes", bb_quote_cstr(q, env),
                              ADMIN_CLIENT_SECRET_MIN);
        }

        if (admin_app_secret_hash(secret, hash, sizeof(hash)) != 0) {
            return admin_fail_db(err);
        }

        params[3] = hash;
    }

    uris = admin_json_text(json_object_get(app, "redirect_uris"));
    v = json_object_get(app, "allowed_scopes");
    scopes = v ? admin_json_text(v) : NULL;

    if (uris == NULL || (v != NULL && scopes == NULL)) {
        admin_fail_db(err);
        goto done;
    }

    v = json_object_get(app, "active");

    params[0] = json_string_value(json_object_get(app, "client_id"));
    params[1] = json_string_value(json_object_get(app, "name"));
    params[2] = json_string_value(json_object_get(app, "client_type"));
    params[4] = uris;
    params[5] = scopes;
    params[6] = v == NULL ? NULL : json_is_true(v) ? "true" : "false";

    res = db_exec(c, &admin_app_upsert, 7, params);
    if (res == NULL) {
        admin_fail_db(err);
        goto done;
    }

    snprintf(target, sizeof(target), "application:%s",
             PQgetvalue(res, 0, 0));

    if (admin_audit(c, who,
                    PQgetvalue(res, 0, 1)[0] == 't' ? "application.create"
                                                    : "application.load",
                    target, params[0], app)
        != 0)
    {
        admin_fail_db(err);
        goto done;
    }

    rc = 0;

done:

    PQclear(res);
    free(uris);
    free(scopes);

    return rc;
}


int
admin_apps_list(admin_req_t *ar, admin_err_t *err)
{
    return admin_reply_list(ar, &admin_app_select_all, err);
}


int
admin_apps_get(admin_req_t *ar, admin_err_t *err)
{
    char  id[24];

    if (admin_app_id(ar, id, sizeof(id), err) != 0) {
        return -1;
    }

    ar->status = 200;

    return admin_app_reply(ar, id, NULL, err);
}


int
admin_apps_create(admin_req_t *ar, admin_err_t *err)
{
    int            rc;
    char           client_id[crypto_b64url_len(ADMIN_CLIENT_ID_BYTES) + 1];
    char           secret[crypto_b64url_len(ADMIN_SECRET_BYTES) + 1];
    char           hash[CRYPTO_SHA256_HEX_SIZE + 2], id[24], target[64];
    char          *uris, *scopes;
    json_t        *body, *v;
    PGresult      *res;
    const char    *params[7];
    admin_actor_t  who;

    rc = -1;
    uris = NULL;
    scopes = NULL;
    res = NULL;
    secret[0] = '\0';

    body = admin_body(ar, err);
    if (body == NULL) {
        return -1;
    }

    if (admin_app_check(body, ADMIN_CREATE, err) != 0) {
        goto done;
    }

    params[3] = NULL;

    if (crypto_random_token(client_id, sizeof(client_id),
                            ADMIN_CLIENT_ID_BYTES)
        != 0)
    {
        log_error(ar->http->id, "crypto_random_token() failed");
        admin_fail_db(err);
        goto done;
    }

    if (strcmp(json_string_value(json_object_get(body, "client_type")),
               "confidential")
        == 0)
    {
        if (crypto_random_token(secret, sizeof(secret), ADMIN_SECRET_BYTES)
                != 0
            || admin_app_secret_hash(secret, hash, sizeof(hash)) != 0)
        {
            log_error(ar->http->id, "crypto_random_token() failed");
            admin_fail_db(err);
            goto done;
        }

        params[3] = hash;
    }

    uris = admin_json_text(json_object_get(body, "redirect_uris"));
    v = json_object_get(body, "allowed_scopes");
    scopes = v ? admin_json_text(v) : NULL;

    if (uris == NULL || (v != NULL && scopes == NULL)) {
        admin_fail_db(err);
        goto done;
    }

    v = json_object_get(body, "active");

    params[0] = client_id;
    params[1] = json_string_value(json_object_get(body, "name"));
    params[2] = json_string_value(json_object_get(body, "client_type"));
    params[4] = uris;
    params[5] = scopes;
    params[6] = v == NULL ? NULL : json_is_true(v) ? "true" : "false";

    if (admin_begin(ar->db, err) != 0) {
        goto done;
    }

    res = db_exec(ar->db, &admin_app_insert, 7, params);
    if (res == NULL) {
        admin_fail_db(err);
        goto done;
    }

    snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
    snprintf(target, sizeof(target), "application:%s", id);

    who.actor = ar->actor;
    who.req_id = ar->http->id;

    if (admin_audit(ar->db, &who, "application.create", target, client_id,
                    body)
            != 0
        || admin_commit(ar->db, err) != 0)
    {
        admin_fail_db(err);
        goto done;
    }

    ar->status = 201;
    snprintf(ar->location, sizeof(ar->location), "/admin/v1/applications/%s",
             id);

    rc = admin_app_reply(ar, id, secret[0] ? secret : NULL, err);

done:

    OPENSSL_cleanse(secret, sizeof(secret));
    PQclear(res);
    free(uris);
    free(scopes);
    json_decref(body);

    return rc;
}


int
admin_apps_update(admin_req_t *ar, admin_err_t *err)
{
    int            rc;
    char           id[24], target[64], *uris, *scopes;
    json_t        *body, *v;
    PGresult      *res;
    const char    *params[5];
    admin_actor_t  who;

    rc = -1;
    uris = NULL;
    scopes = NULL;
    res = NULL;

    if (admin_app_id(ar, id, sizeof(id), err) != 0) {
        return -1;
    }

    body = admin_body(ar, err);
    if (body == NULL) {
        return -1;
    }

    if (admin_app_check(body, ADMIN_UPDATE, err) != 0) {
        goto done;
    }

    v = json_object_get(body, "redirect_uris");
    uris = v ? admin_json_text(v) : NULL;
    if (v != NULL && uris == NULL) {
        admin_fail_db(err);
        goto done;
    }

    v = json_object_get(body, "allowed_scopes");
    scopes = v ? admin_json_text(v) : NULL;
    if (v != NULL && scopes == NULL) {
        admin_fail_db(err);
        goto done;
    }

    v = json_object_get(body, "active");

    params[0] = id;
    params[1] = json_string_value(json_object_get(body, "name"));
    params[2] = uris;
    params[3] = scopes;
    params[4] = v == NULL ? NULL : json_is_true(v) ? "true" : "false";

    if (admin_begin(ar->db, err) != 0) {
        goto done;
    }

    res = db_exec(ar->db, &admin_app_change, 5, params);
    if (res == NULL) {
        admin_fail_db(err);
        goto done;
    }

    if (PQntuples(res) == 0) {
        admin_fail(err, 404, "", "no application \"%s\"", id);
        goto done;
    }

    snprintf(target, sizeof(target), "application:%s", id);

    who.actor = ar->actor;
    who.req_id = ar->http->id;

    if (admin_audit(ar->db, &who, "application.update", target,
                    PQgetvalue(res, 0, 0), body)
            != 0
        || admin_commit(ar->db, err) != 0)
    {
        admin_fail_db(err);
        goto done;
    }

    /* a deactivation revokes the application's grants and their tokens */

    if (json_is_false(json_object_get(body, "active"))) {
        ar->policy_changed = 1;
    }

    ar->status = 200;

    rc = admin_app_reply(ar, id, NULL, err);

done:

    PQclear(res);
    free(uris);
    free(scopes);
    json_decref(body);

    return rc;
}


int
admin_apps_secret(admin_req_t *ar, admin_err_t *err)
{
    int            rc;
    char           secret[crypto_b64url_len(ADMIN_SECRET_BYTES) + 1];
    char           hash[CRYPTO_SHA256_HEX_SIZE + 2], id[24], target[64];
    char           client_id[OAUTH_CLIENT_ID_MAX + 1];
    PGresult      *res;
    const char    *params[2];
    admin_actor_t  who;

    rc = -1;
    res = NULL;
    secret[0] = '\0';

    if (admin_app_id(ar, id, sizeof(id), err) != 0) {
        return -1;
    }

    if (admin_begin(ar->db, err) != 0) {
        return -1;
    }

    params[0] = id;

    res = db_exec(ar->db, &admin_app_lock, 1, params);
    if (res == NULL) {
        admin_fail_db(err);
        goto done;
    }

    if (PQntuples(res) == 0) {
        admin_fail(err, 404, "", "no application \"%s\"", id);
        goto done;
    }

    if (strcmp(PQgetvalue(res, 0, 1), "confidential") != 0) {
        admin_fail(err, 409, "client_type",
                   "client_type: a public client has no secret");
        goto done;
    }

    snprintf(client_id, sizeof(client_id), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    res = NULL;

    if (crypto_random_token(secret, sizeof(secret), ADMIN_SECRET_BYTES) != 0
        || admin_app_secret_hash(secret, hash, sizeof(hash)) != 0)
    {
        log_error(ar->http->id, "crypto_random_token() failed");
        admin_fail_db(err);
        goto done;
    }

    params[1] = hash;

    res = db_exec(ar->db, &admin_app_new_secret, 2, params);
    if (res == NULL) {
        admin_fail_db(err);
        goto done;
    }

    snprintf(target, sizeof(target), "application:%s", id);

    who.actor = ar->actor;
    who.req_id = ar->http->id;

    if (admin_audit(ar->db, &who, "application.secret_rotate", target,
                    client_id, NULL)
            != 0
        || admin_commit(ar->db, err) != 0)
    {
        admin_fail_db(err);
        goto done;
    }

    ar->status = 200;

    rc = admin_app_reply(ar, id, secret, err);

done:

    OPENSSL_cleanse(secret, sizeof(secret));
    PQclear(res);

    return rc;
}


int
admin_apps_delete(admin_req_t *ar, admin_err_t *err)
{
    int            rc;
    char           id[24], target[64];
    json_t        *detail;
    PGresult      *res;
    const char    *params[1];
    admin_actor_t  who;

    rc = -1;
    detail = NULL;

    if (admin_app_id(ar, id, sizeof(id), err) != 0) {
        return -1;
    }

    if (admin_begin(ar->db, err) != 0) {
        return -1;
    }

    params[0] = id;

    res = db_exec(ar->db, &admin_app_remove, 1, params);
    if (res == NULL) {
        return admin_fail_db(err);
    }

    if (PQntuples(res) == 0) {
        admin_fail(err, 404, "", "no application \"%s\"", id);
        goto done;
    }

    snprintf(target, sizeof(target), "application:%s", id);

    who.actor = ar->actor;
    who.req_id = ar->http->id;

    detail = json_pack("{s:s}", "name", PQgetvalue(res, 0, 1));

    if (detail == NULL
        || admin_audit(ar->db, &who, "application.delete", target,
                       PQgetvalue(res, 0, 0), detail)
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


/* the values of an application's fields, as far as mode allows them */

static int
admin_app_check(json_t *app, unsigned mode, admin_err_t *err)
{
    char         msg[256], q[BB_QUOTE_SIZE];
    json_t      *v;
    const char  *type, *s;

    if (admin_check_fields(app, admin_app_fields, mode, err) != 0) {
        return -1;
    }

    v = json_object_get(app, "client_id");
    if (v != NULL
        && !oauth_client_id_valid(json_string_value(v), msg, sizeof(msg)))
    {
        return admin_fail(err, 400, "client_id", "client_id: %s", msg);
    }

    v = json_object_get(app, "name");
    if (v != NULL
        && admin_check_text("name", json_string_value(v), 256, 0, err) != 0)
    {
        return -1;
    }

    type = NULL;

    v = json_object_get(app, "client_type");
    if (v != NULL) {
        type = json_string_value(v);

        if (strcmp(type, "public") != 0 && strcmp(type, "confidential") != 0)
        {
            return admin_fail(err, 400, "client_type",
                              "client_type: \"%s\" is neither \"public\" nor "
                              "\"confidential\"", bb_quote_cstr(q, type));
        }
    }

    if (mode == ADMIN_LOAD) {
        v = json_object_get(app, "client_secret_env");

        if (strcmp(type, "confidential") == 0 && v == NULL) {
            return admin_fail(err, 400, "client_secret_env",
                              "client_secret_env: required for a "
                              "confidential client");
        }

        if (strcmp(type, "public") == 0 && v != NULL) {
            return admin_fail(err, 400, "client_secret_env",
                              "client_secret_env: a public client has no "
                              "secret");
        }

        if (v != NULL) {
            s = json_string_value(v);

            if (s[0] == '\0' || strlen(s) > 128 || strchr(s, '=') != NULL) {
                return admin_fail(err, 400, "client_secret_env",
                                  "client_secret_env: invalid variable name "
                                  "\"%s\"", bb_quote_cstr(q, s));
            }
        }
    }

    if (admin_app_list_check(app, "redirect_uris", 1, err) != 0
        || admin_app_list_check(app, "allowed_scopes", 0, err) != 0)
    {
        return -1;
    }

    return 0;
}


/*
 * redirect_uris (at least one, each registrable) or allowed_scopes (each
 * a scope authd grants), without repetition.
 */

static int
admin_app_list_check(json_t *app, const char *field, int uris,
    admin_err_t *err)
{
    size_t       i, j, n;
    char         name[64], msg[256], q[BB_QUOTE_SIZE];
    json_t      *list, *e;
    const char  *s;

    list = json_object_get(app, field);
    if (list == NULL) {
        return 0;
    }

    n = json_array_size(list);

    if (uris && n == 0) {
        return admin_fail(err, 400, field, "%s: at least one is required",
                          field);
    }

    if (n > (uris ? ADMIN_URIS_MAX : OAUTH_SCOPES_MAX)) {
        return admin_fail(err, 400, field, "%s: more than %d", field,
                          uris ? ADMIN_URIS_MAX : OAUTH_SCOPES_MAX);
    }

    json_array_foreach(list, i, e) {
        s = json_string_value(e);
        snprintf(name, sizeof(name), "%s[%zu]", field, i);

        if (uris) {
            if (!oauth_redirect_uri_valid(s, msg, sizeof(msg))) {
                return admin_fail(err, 400, name, "%s: %s", name, msg);
            }

        } else if (s[0] == '\0' || strlen(s) > OAUTH_SCOPE_TOKEN_MAX
                   || !oauth_scope_valid(s, strlen(s)))
        {
            return admin_fail(err, 400, name, "%s: invalid scope \"%s\"",
                              name, bb_quote_cstr(q, s));
        }

        for (j = 0; j < i; j++) {
            if (strcmp(json_string_value(json_array_get(list, j)), s) == 0) {
                return admin_fail(err, 400, name, "%s: \"%s\" is repeated",
                                  name, bb_quote_cstr(q, s));
            }
        }
    }

    return 0;
}


/* the SHA-256 of the secret's characters, as a bytea parameter */

static int
admin_app_secret_hash(const char *secret, char *out, size_t len)
{
    char  hex[CRYPTO_SHA256_HEX_SIZE];

    if (len < sizeof(hex) + 2) {
        return -1;
    }

    crypto_sha256_hex(secret, strlen(secret), hex);
    snprintf(out, len, "\\x%s", hex);

    return 0;
}


static int
admin_app_id(admin_req_t *ar, char *id, size_t len, admin_err_t *err)
{
    char  q[BB_QUOTE_SIZE];

    if (admin_parse_id(ar->arg, id, len) != 0) {
        return admin_fail(err, 404, "", "no application \"%s\"",
                          bb_quote_cstr(q, ar->arg));
    }

    return 0;
}


/* the application as stored, with its new secret when there is one */

static int
admin_app_reply(admin_req_t *ar, const char *id, const char *secret,
    admin_err_t *err)
{
    int          rc;
    const char  *params[1];

    params[0] = id;

    rc = admin_query_json(ar->db, &admin_app_select, 1, params, &ar->body);
    if (rc < 0) {
        return admin_fail_db(err);
    }

    if (rc == 0) {
        return admin_fail(err, 404, "", "no application \"%s\"", id);
    }

    if (secret != NULL
        && json_object_set_new(ar->body, "client_secret", json_string(secret))
               != 0)
    {
        return admin_fail_db(err);
    }

    return 0;
}
