/*
 * Resource types through the admin API: a type is read and written in the
 * policy document's own form, validated by the gateway's parser
 * (policy_type_from_json()), and stored from that parser's normalized
 * output, so that what is stored is what the gateway would accept and a
 * GET gives back exactly what the document will hold.
 */

#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "bb_buf.h"
#include "log.h"
#include "policy.h"


static int admin_type_check(const char *name, json_t *in, json_t **out,
    admin_err_t *err);
static int admin_type_error(admin_err_t *err, const char *msg);
static json_t *admin_type_row(json_t *row, const char *req_id);


/* the columns in the document's form; the parser normalizes the rest */
#define ADMIN_TYPE_JSON                                                      \
    "json_strip_nulls(json_build_object("                                    \
    " 'name', name,"                                                         \
    " 'interactions', interactions,"                                         \
    " 'override_url_id', override_url_id,"                                   \
    " 'url_id_mismatch', url_id_mismatch,"                                   \
    " 'override_search', override_search,"                                   \
    " 'search_block', CASE WHEN override_search THEN search_block END,"      \
    " 'search_add', CASE WHEN override_search THEN search_add END,"          \
    " 'search_allow', search_allow,"                                         \
    " 'widening_allow', widening_allow,"                                     \
    " 'search_action', search_action,"                                       \
    " 'patient_reference', patient_reference))"


static const db_stmt_t  admin_type_upsert = {
    "admin_type_upsert",
    "INSERT INTO resource_types (name, interactions, override_url_id,"
    "    url_id_mismatch, override_search, search_block, search_add,"
    "    search_allow, widening_allow, search_action, patient_reference)"
    " SELECT $1,"
    "    authd_json_texts(coalesce(j -> 'interactions', '[]')),"
    "    coalesce((j ->> 'override_url_id')::boolean, false),"
    "    j ->> 'url_id_mismatch',"
    "    coalesce((j ->> 'override_search')::boolean, false),"
    "    authd_json_texts(coalesce(j -> 'search_block', '[]')),"
    "    authd_json_texts(coalesce(j -> 'search_add', '[]')),"
    "    authd_json_texts(j -> 'search_allow'),"
    "    authd_json_texts(coalesce(j -> 'widening_allow', '[]')),"
    "    coalesce(j ->> 'search_action', 'drop'),"
    "    j ->> 'patient_reference'"
    " FROM (SELECT $2::jsonb AS j) AS s"
    " ON CONFLICT (name) DO UPDATE SET"
    "    interactions = excluded.interactions,"
    "    override_url_id = excluded.override_url_id,"
    "    url_id_mismatch = excluded.url_id_mismatch,"
    "    override_search = excluded.override_search,"
    "    search_block = excluded.search_block,"
    "    search_add = excluded.search_add,"
    "    search_allow = excluded.search_allow,"
    "    widening_allow = excluded.widening_allow,"
    "    search_action = excluded.search_action,"
    "    patient_reference = excluded.patient_reference,"
    "    updated_at = now()"
    " RETURNING (xmax = 0)"
};

static const db_stmt_t  admin_type_select = {
    "admin_type_select",
    "SELECT " ADMIN_TYPE_JSON "::text FROM resource_types WHERE name = $1"
};

static const db_stmt_t  admin_type_select_all = {
    "admin_type_select_all",
    "SELECT coalesce(json_agg(" ADMIN_TYPE_JSON " ORDER BY name),"
    "                '[]')::text"
    " FROM resource_types"
};

static const db_stmt_t  admin_type_remove = {
    "admin_type_remove",
    "DELETE FROM resource_types WHERE name = $1 RETURNING name"
};


int
admin_type_put(db_conn_t *c, const admin_actor_t *who, const char *name,
    json_t *type, int *created, admin_err_t *err)
{
    int          rc;
    char        *text, target[128];
    json_t      *norm, *detail;
    PGresult    *res;
    const char  *params[2];

    rc = -1;
    text = NULL;
    norm = NULL;
    detail = NULL;
    res = NULL;

    if (admin_type_check(name, type, &norm, err) != 0) {
        goto done;
    }

    text = admin_json_text(norm);
    if (text == NULL) {
        log_error(who->req_id, "out of memory");
        admin_fail_db(err);
        goto done;
    }

    params[0] = name;
    params[1] = text;

    res = db_exec(c, &admin_type_upsert, 2, params);
    if (res == NULL) {
        admin_fail_db(err);
        goto done;
    }

    *created = PQgetvalue(res, 0, 0)[0] == 't';

    detail = json_pack("{s:O}", "type", norm);
    snprintf(target, sizeof(target), "resource_type:%s", name);

    if (detail == NULL
        || admin_audit(c, who,
                       *created ? "resource_type.create"
                                : "resource_type.replace",
                       target, NULL, detail)
           != 0)
    {
        admin_fail_db(err);
        goto done;
    }

    rc = 0;

done:

    PQclear(res);
    json_decref(detail);
    json_decref(norm);
    free(text);

    return rc;
}


int
admin_types_list(admin_req_t *ar, admin_err_t *err)
{
    size_t              i;
    json_t             *rows, *row, *list, *item, *type;
    static const char  *names[] = { NULL };

    if (admin_check_query(ar, names, err) != 0) {
        return -1;
    }

    if (admin_query_json(ar->db, &admin_type_select_all, 0, NULL, &rows)
        != 1)
    {
        return admin_fail_db(err);
    }

    list = json_array();
    if (list == NULL) {
        json_decref(rows);
        return admin_fail_db(err);
    }

    json_array_foreach(rows, i, row) {
        type = admin_type_row(row, ar->http->id);
        item = json_pack("{s:O}", "name", json_object_get(row, "name"));

        if (type == NULL || item == NULL
            || json_object_update(item, type) != 0)
        {
            json_decref(type);
            json_decref(item);
            json_decref(list);
            json_decref(rows);
            return admin_fail_db(err);
        }

        json_decref(type);

        if (json_array_append_new(list, item) != 0) {
            json_decref(list);
            json_decref(rows);
            return admin_fail_db(err);
        }
    }

    json_decref(rows);

    ar->status = 200;
    ar->body = list;

    return 0;
}


int
admin_types_get(admin_req_t *ar, admin_err_t *err)
{
    int          rc;
    char         q[BB_QUOTE_SIZE];
    json_t      *row;
    const char  *params[1];

    params[0] = ar->arg;

    if (!bb_type_name_valid(ar->arg, strlen(ar->arg))) {
        return admin_fail(err, 404, "", "no resource type \"%s\"",
                          bb_quote_cstr(q, ar->arg));
    }

    rc = admin_query_json(ar->db, &admin_type_select, 1, params, &row);
    if (rc < 0) {
        return admin_fail_db(err);
    }

    if (rc == 0) {
        return admin_fail(err, 404, "", "no resource type \"%s\"", ar->arg);
    }

    ar->body = admin_type_row(row, ar->http->id);
    json_decref(row);

    if (ar->body == NULL) {
        return admin_fail_db(err);
    }

    ar->status = 200;

    return 0;
}


int
admin_types_put(admin_req_t *ar, admin_err_t *err)
{
    int            created;
    json_t        *body, *row;
    const char    *params[1];
    admin_actor_t  who;

    row = NULL;
    who.actor = ar->actor;
    who.req_id = ar->http->id;

    body = admin_body(ar, err);
    if (body == NULL) {
        return -1;
    }

    if (admin_begin(ar->db, err) != 0) {
        goto failed;
    }

    if (admin_type_put(ar->db, &who, ar->arg, body, &created, err) != 0) {
        goto failed;
    }

    params[0] = ar->arg;

    if (admin_query_json(ar->db, &admin_type_select, 1, params, &row) != 1) {
        admin_fail_db(err);
        goto failed;
    }

    if (admin_commit(ar->db, err) != 0) {
        goto failed;
    }

    json_decref(body);

    ar->policy_changed = 1;
    ar->status = created ? 201 : 200;
    ar->body = admin_type_row(row, ar->http->id);
    json_decref(row);

    if (created) {
        snprintf(ar->location, sizeof(ar->location),
                 "/admin/v1/resource-types/%s", ar->arg);
    }

    return ar->body != NULL ? 0 : admin_fail_db(err);

failed:

    json_decref(row);
    json_decref(body);

    return -1;
}


int
admin_types_delete(admin_req_t *ar, admin_err_t *err)
{
    int            found;
    char           target[128], q[BB_QUOTE_SIZE];
    PGresult      *res;
    const char    *params[1];
    admin_actor_t  who;

    who.actor = ar->actor;
    who.req_id = ar->http->id;

    if (!bb_type_name_valid(ar->arg, strlen(ar->arg))) {
        return admin_fail(err, 404, "", "no resource type \"%s\"",
                          bb_quote_cstr(q, ar->arg));
    }

    if (admin_begin(ar->db, err) != 0) {
        return -1;
    }

    params[0] = ar->arg;

    res = db_exec(ar->db, &admin_type_remove, 1, params);
    if (res == NULL) {
        return admin_fail_db(err);
    }

    found = PQntuples(res) == 1;
    PQclear(res);

    if (!found) {
        return admin_fail(err, 404, "", "no resource type \"%s\"", ar->arg);
    }

    snprintf(target, sizeof(target), "resource_type:%s", ar->arg);

    if (admin_audit(ar->db, &who, "resource_type.delete", target, NULL, NULL)
        != 0)
    {
        return admin_fail_db(err);
    }

    if (admin_commit(ar->db, err) != 0) {
        return -1;
    }

    ar->policy_changed = 1;
    ar->status = 204;

    return 0;
}


/*
 * The type name and controls checked by the gateway's rules; *out gets
 * the controls as the document writes them, without the name.  A "name"
 * in the object must be the type's name.
 */

static int
admin_type_check(const char *name, json_t *in, json_t **out,
    admin_err_t *err)
{
    int             rc;
    char            msg[512], q[BB_QUOTE_SIZE];
    json_t         *obj, *given;
    policy_type_t   type;

    *out = NULL;

    if (!bb_type_name_valid(name, strlen(name))) {
        return admin_fail(err, 400, "name",
                          "name: invalid resource type name \"%s\"",
                          bb_quote_cstr(q, name));
    }

    if (!json_is_object(in)) {
        return admin_fail(err, 400, "", "expected a JSON object");
    }

    given = json_object_get(in, "name");
    if (given != NULL
        && (!json_is_string(given)
            || strcmp(json_string_value(given), name) != 0))
    {
        return admin_fail(err, 400, "name",
                          "name: does not match the resource type \"%s\"",
                          name);
    }

    obj = json_copy(in);
    if (obj == NULL || json_object_set_new(obj, "name", json_string(name))) {
        json_decref(obj);
        return admin_fail_db(err);
    }

    memset(&type, 0, sizeof(type));

    rc = policy_type_from_json(obj, &type, msg, sizeof(msg));
    json_decref(obj);

    if (rc != 0) {
        return admin_type_error(err, msg);
    }

    *out = policy_type_json(&type, msg, sizeof(msg));
    policy_type_free(&type);

    if (*out == NULL) {
        return admin_type_error(err, msg);
    }

    return 0;
}


/*
 * The parser's messages start with the field they blame ("search_add[1]:
 * ...", "name: ..."), or name it: "unknown field \"x\"", "search_add is
 * set but override_search is not true".
 */

static int
admin_type_error(admin_err_t *err, const char *msg)
{
    size_t       n;
    char         field[128];
    const char  *p;

    field[0] = '\0';

    n = strspn(msg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                    "0123456789_.[]");

    if (n > 0 && n < sizeof(field) && msg[n] == ':') {
        memcpy(field, msg, n);
        field[n] = '\0';

    } else if (strncmp(msg, "unknown field \"", 15) == 0) {
        p = msg + 15;
        n = strcspn(p, "\"");

        if (p[n] == '"' && n < sizeof(field)) {
            memcpy(field, p, n);
            field[n] = '\0';
        }

    } else if (n > 0 && n < sizeof(field)
               && strncmp(msg + n, " is set but ", 12) == 0)
    {
        memcpy(field, msg, n);
        field[n] = '\0';
    }

    return admin_fail(err, 400, field, "%s", msg);
}


/* a row of ADMIN_TYPE_JSON in the document's form, without its name */

static json_t *
admin_type_row(json_t *row, const char *req_id)
{
    char            msg[512];
    json_t         *out;
    policy_type_t   type;

    memset(&type, 0, sizeof(type));

    if (policy_type_from_json(row, &type, msg, sizeof(msg)) != 0) {
        log_error(req_id, "stored resource type refused: %s", msg);
        return NULL;
    }

    out = policy_type_json(&type, msg, sizeof(msg));
    policy_type_free(&type);

    if (out == NULL) {
        log_error(req_id, "policy_type_json() failed: %s", msg);
    }

    return out;
}
