/*
 * The policy document from authd's side.  One SQL statement reads what
 * the document holds in one snapshot and takes the next serial; each
 * resource type row comes out of PostgreSQL already shaped as in the
 * document and is parsed by the gateway's own bb_type_parse(), as admin
 * input is.  The document built from them is parsed whole by
 * bb_policy_parse() before it is written: authd never replaces a working
 * policy with one nginx would refuse.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bb_buf.h"
#include "config.h"
#include "policy.h"


#define POLICY_ERR_LEN  512


typedef struct {
    const char  *name;
    unsigned     bit;
} policy_interaction_t;


static json_t *policy_names_json(char **names, size_t n);
static json_t *policy_adds_json(const bb_param_t *adds, size_t n);
static json_t *policy_interactions_json(unsigned interactions);
static void policy_set(json_t *obj, const char *key, json_t *v, int *rc);
static int policy_write_all(int fd, const char *data, size_t len);
static int policy_int64(const char *s, int64_t *out);
static json_t *policy_column(PGresult *res, int col, char *err,
    size_t errlen);


/* in the order the schema lists them, which the document keeps */
static const policy_interaction_t  policy_interactions[] = {
    { "read",    BB_READ },
    { "vread",   BB_VREAD },
    { "search",  BB_SEARCH },
    { "history", BB_HISTORY },
    { "create",  BB_CREATE },
    { "update",  BB_UPDATE },
    { "delete",  BB_DELETE },
    { NULL, 0 }
};


/*
 * What the document holds, read in one statement so that keys, types and
 * revocations come from one snapshot.  A type's row is shaped as in the
 * document: url_id_mismatch only with override_url_id, the search lists
 * only with override_search, absent fields (NULL) stripped.  A revoked
 * entry's exp is rounded up: listed a second too long rather than short.
 */
static const db_stmt_t  policy_stmt_state = {
    "policy_state",
    "SELECT nextval('policy_serial'),"
    " floor(extract(epoch FROM now()))::bigint,"
    " (SELECT coalesce(jsonb_agg(public_jwk ORDER BY created_at, kid),"
    "                  '[]')"
    "  FROM signing_keys"
    "  WHERE state <> 'retired' OR retire_after > now()),"
    " (SELECT coalesce(jsonb_agg(jsonb_build_array(name, jsonb_strip_nulls("
    "      jsonb_build_object("
    "          'interactions', to_jsonb(interactions),"
    "          'override_url_id', override_url_id,"
    "          'url_id_mismatch', CASE WHEN override_url_id"
    "              THEN coalesce(url_id_mismatch, 'override') END,"
    "          'override_search', override_search,"
    "          'search_block', CASE WHEN override_search"
    "              THEN to_jsonb(search_block) END,"
    "          'search_add', CASE WHEN override_search"
    "              THEN to_jsonb(search_add) END,"
    "          'search_allow', CASE WHEN override_search"
    "              THEN to_jsonb(search_allow) END,"
    "          'widening_allow', to_jsonb(widening_allow),"
    "          'search_action', search_action,"
    "          'patient_reference', patient_reference)))"
    "      ORDER BY name), '[]')"
    "  FROM resource_types),"
    " (SELECT coalesce(jsonb_agg(jsonb_build_array(jti,"
    "      ceil(extract(epoch FROM expires_at))::bigint) ORDER BY jti),"
    "      '[]')"
    "  FROM access_tokens"
    "  WHERE revoked_at IS NOT NULL AND expires_at > now())"
};


/* so that the last refresh to finish wrote the newest snapshot */
static pthread_mutex_t  policy_lock = PTHREAD_MUTEX_INITIALIZER;


json_t *
policy_build(const policy_input_t *in, char *err, size_t errlen)
{
    int          rc;
    size_t       i;
    json_t      *doc, *jwks, *keys, *types, *revoked, *type, *entry;
    time_t       t;
    struct tm    tm;
    const char  *name;
    char         serial[80], q[BB_QUOTE_SIZE], terr[POLICY_ERR_LEN];

    doc = NULL;
    rc = 0;

    if (in->issuer == NULL || in->issuer[0] == '\0'
        || in->audience == NULL || in->audience[0] == '\0')
    {
        bb_err(err, errlen, "no issuer or no audience");
        return NULL;
    }

    if (in->nkeys == 0) {
        bb_err(err, errlen, POLICY_NO_KEY);
        return NULL;
    }

    /* the serial says which revision and when, for the gateway's logs */

    t = (time_t) in->now;

    if (gmtime_r(&t, &tm) == NULL
        || strftime(serial, sizeof(serial), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    {
        bb_err(err, errlen, "invalid time %lld", (long long) in->now);
        return NULL;
    }

    snprintf(serial + strlen(serial), sizeof(serial) - strlen(serial),
             "#%lld", (long long) in->serial);

    doc = json_object();
    keys = json_array();
    types = json_object();
    revoked = json_array();

    policy_set(doc, "policy_version", json_integer(1), &rc);
    policy_set(doc, "serial", json_string(serial), &rc);
    policy_set(doc, "issuer", json_string(in->issuer), &rc);
    policy_set(doc, "audience", json_string(in->audience), &rc);
    jwks = json_object();
    policy_set(jwks, "keys", keys, &rc);
    policy_set(doc, "keys", jwks, &rc);
    policy_set(doc, "resource_types", types, &rc);
    policy_set(doc, "revoked", revoked, &rc);

    if (doc == NULL || rc != 0) {
        goto nomem;
    }

    for (i = 0; i < in->nkeys; i++) {
        if (json_array_append_new(keys, json_deep_copy(in->keys[i])) != 0) {
            goto nomem;
        }
    }

    for (i = 0; i < in->ntypes; i++) {
        name = in->types[i].name;

        if (name == NULL || !bb_type_name_valid(name, strlen(name))) {
            bb_err(err, errlen, "invalid type name \"%s\"",
                   name ? bb_quote_cstr(q, name) : "");
            goto failed;
        }

        if (json_object_get(types, name) != NULL) {
            bb_err(err, errlen, "duplicate resource type \"%s\"", name);
            goto failed;
        }

        type = policy_type_json(&in->types[i], terr, sizeof(terr));
        if (type == NULL) {
            bb_err(err, errlen, "resource type \"%s\": %s", name, terr);
            goto failed;
        }

        if (json_object_set_new(types, name, type) != 0) {
            goto nomem;
        }
    }

    for (i = 0; i < in->nrevoked; i++) {

        /* past its exp a token is refused anyway: the entry is dead weight */

        if (in->revoked[i].exp <= in->now) {
            continue;
        }

        entry = json_pack("{s:s, s:I}", "jti", in->revoked[i].jti, "exp",
                          (json_int_t) in->revoked[i].exp);

        if (entry == NULL || json_array_append_new(revoked, entry) != 0) {
            goto nomem;
        }
    }

    return doc;

nomem:

    bb_err(err, errlen, "out of memory");

failed:

    json_decref(doc);

    return NULL;
}


json_t *
policy_type_json(const policy_type_t *type, char *err, size_t errlen)
{
    int      rc;
    json_t  *obj;

    /*
     * The schema refuses these controls alone; a caller holding one has
     * a bug that must not reach the gateway as a silently dropped field.
     */

    if (!type->override_url_id && type->url_id_mismatch != BB_ID_OVERRIDE) {
        bb_err(err, errlen, "url_id_mismatch is set but override_url_id "
               "is not true");
        return NULL;
    }

    if (!type->override_search
        && (type->nsearch_block || type->nsearch_add
            || type->has_search_allow))
    {
        bb_err(err, errlen, "search controls are set but override_search "
               "is not true");
        return NULL;
    }

    rc = 0;

    obj = json_object();
    if (obj == NULL) {
        bb_err(err, errlen, "out of memory");
        return NULL;
    }

    policy_set(obj, "interactions",
               policy_interactions_json(type->interactions), &rc);
    policy_set(obj, "override_url_id", json_boolean(type->override_url_id),
               &rc);

    if (type->override_url_id) {
        policy_set(obj, "url_id_mismatch",
                   json_string(type->url_id_mismatch == BB_ID_NOT_FOUND
                               ? "not_found" : "override"),
                   &rc);
    }

    policy_set(obj, "override_search", json_boolean(type->override_search),
               &rc);

    if (type->override_search) {
        policy_set(obj, "search_block",
                   policy_names_json(type->search_block,
                                     type->nsearch_block),
                   &rc);
        policy_set(obj, "search_add",
                   policy_adds_json(type->search_add, type->nsearch_add),
                   &rc);

        if (type->has_search_allow) {
            policy_set(obj, "search_allow",
                       policy_names_json(type->search_allow,
                                         type->nsearch_allow),
                       &rc);
        }
    }

    policy_set(obj, "widening_allow",
               policy_names_json(type->widening_allow,
                                 type->nwidening_allow),
               &rc);
    policy_set(obj, "search_action",
               json_string(type->search_action == BB_SEARCH_REFUSE
                           ? "refuse" : "drop"),
               &rc);

    if (type->patient_reference != NULL) {
        policy_set(obj, "patient_reference",
                   json_string(type->patient_reference), &rc);
    }

    if (rc != 0) {
        json_decref(obj);
        bb_err(err, errlen, "out of memory");
        return NULL;
    }

    return obj;
}


int
policy_type_from_json(json_t *in, policy_type_t *out, char *err,
    size_t errlen)
{
    int          rc;
    json_t      *name, *fields;
    const char  *s;
    size_t       len;
    char         q[BB_QUOTE_SIZE];

    memset(out, 0, sizeof(policy_type_t));

    rc = -1;
    fields = NULL;

    if (!json_is_object(in)) {
        bb_err(err, errlen, "expected an object");
        goto done;
    }

    name = json_object_get(in, "name");
    if (name == NULL) {
        bb_err(err, errlen, "missing \"name\"");
        goto done;
    }

    if (!json_is_string(name)) {
        bb_err(err, errlen, "name: expected a string");
        goto done;
    }

    s = json_string_value(name);
    len = json_string_length(name);

    if (!bb_type_name_valid(s, len)) {
        bb_err(err, errlen, "name: invalid type name \"%s\"",
               bb_quote(q, sizeof(q), s, len));
        goto done;
    }

    /* the rest is a type as the document holds it, checked as nginx will */

    fields = json_copy(in);
    if (fields == NULL || json_object_del(fields, "name") != 0) {
        bb_err(err, errlen, "out of memory");
        goto done;
    }

    if (bb_type_parse(out, s, fields, "", err, errlen) != 0) {
        goto done;
    }

    rc = 0;

done:

    json_decref(fields);

    if (rc != 0) {
        policy_type_free(out);
    }

    return rc;
}


void
policy_type_free(policy_type_t *type)
{
    bb_type_free(type);
    memset(type, 0, sizeof(policy_type_t));
}


int
policy_write_file(const char *path, json_t *doc, char *err, size_t errlen)
{
    int          fd, dfd, rc;
    char        *data, *slash;
    size_t       len;
    const char  *dir;
    char         tmp[PATH_MAX], dirbuf[PATH_MAX];

    fd = -1;
    dfd = -1;
    rc = -1;
    data = NULL;
    tmp[0] = '\0';

    /*
     * A name of this process's own: another authd (a load, a key rotation
     * from the command line) may write the same policy at the same moment;
     * the threads of one process are serialized by policy_refresh().
     */

    if (snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long) getpid())
        >= (int) sizeof(tmp))
    {
        bb_err(err, errlen, "path too long");
        return -1;
    }

    /* the directory to fsync once the new name is in it */

    snprintf(dirbuf, sizeof(dirbuf), "%s", path);

    slash = strrchr(dirbuf, '/');

    if (slash == NULL) {
        dir = ".";

    } else if (slash == dirbuf) {
        dir = "/";

    } else {
        *slash = '\0';
        dir = dirbuf;
    }

    data = json_dumps(doc, JSON_INDENT(4));
    if (data == NULL) {
        bb_err(err, errlen, "json_dumps() failed");
        goto failed;
    }

    len = strlen(data);
    data[len++] = '\n';

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
              0644);
    if (fd == -1) {
        bb_err(err, errlen, "open() \"%s\" failed: %s", tmp,
               strerror(errno));
        tmp[0] = '\0';
        goto failed;
    }

    /* whatever the umask: nginx's workers run as another user */

    if (fchmod(fd, 0644) == -1) {
        bb_err(err, errlen, "fchmod() \"%s\" failed: %s", tmp,
               strerror(errno));
        goto failed;
    }

    if (policy_write_all(fd, data, len) != 0) {
        bb_err(err, errlen, "write() \"%s\" failed: %s", tmp,
               strerror(errno));
        goto failed;
    }

    if (fsync(fd) == -1) {
        bb_err(err, errlen, "fsync() \"%s\" failed: %s", tmp,
               strerror(errno));
        goto failed;
    }

    if (close(fd) == -1) {
        fd = -1;
        bb_err(err, errlen, "close() \"%s\" failed: %s", tmp,
               strerror(errno));
        goto failed;
    }

    fd = -1;

    if (rename(tmp, path) == -1) {
        bb_err(err, errlen, "rename() \"%s\" to \"%s\" failed: %s", tmp,
               path, strerror(errno));
        goto failed;
    }

    tmp[0] = '\0';

    /* the rename itself is durable only once the directory is synced */

    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd == -1) {
        bb_err(err, errlen, "open() \"%s\" failed: %s", dir,
               strerror(errno));
        goto failed;
    }

    if (fsync(dfd) == -1) {
        bb_err(err, errlen, "fsync() \"%s\" failed: %s", dir,
               strerror(errno));
        goto failed;
    }

    rc = 0;

failed:

    if (fd != -1) {
        close(fd);
    }

    if (dfd != -1) {
        close(dfd);
    }

    if (tmp[0] != '\0') {
        unlink(tmp);
    }

    free(data);

    return rc;
}


json_t *
policy_from_db(db_conn_t *c, char *err, size_t errlen)
{
    size_t             i, n, ntypes;
    json_t            *keys, *types, *revoked, *doc, *item;
    char              *text;
    const char        *name;
    PGresult          *res;
    bb_policy_t       *check;
    policy_type_t     *rts;
    policy_input_t     in;
    policy_revoked_t  *rev;
    char               path[128], q[BB_QUOTE_SIZE];
    char               perr[POLICY_ERR_LEN];

    keys = NULL;
    types = NULL;
    revoked = NULL;
    doc = NULL;
    text = NULL;
    rts = NULL;
    rev = NULL;
    ntypes = 0;

    memset(&in, 0, sizeof(policy_input_t));

    res = db_exec(c, &policy_stmt_state, 0, NULL);
    if (res == NULL) {
        bb_err(err, errlen, "cannot read the policy from the database");
        return NULL;
    }

    if (PQntuples(res) != 1 || PQnfields(res) != 5) {
        bb_err(err, errlen, "policy_state returned %d rows of %d columns",
               PQntuples(res), PQnfields(res));
        goto failed;
    }

    if (policy_int64(PQgetvalue(res, 0, 0), &in.serial) != 0
        || policy_int64(PQgetvalue(res, 0, 1), &in.now) != 0)
    {
        bb_err(err, errlen, "invalid serial or time from policy_state");
        goto failed;
    }

    keys = policy_column(res, 2, err, errlen);
    types = policy_column(res, 3, err, errlen);
    revoked = policy_column(res, 4, err, errlen);

    if (keys == NULL || types == NULL || revoked == NULL) {
        goto failed;
    }

    in.issuer = authd_cfg.issuer;
    in.audience = authd_cfg.audience;

    n = json_array_size(keys);

    if (n > 0) {
        in.keys = calloc(n, sizeof(json_t *));
        if (in.keys == NULL) {
            goto nomem;
        }

        json_array_foreach(keys, i, item) {
            in.keys[i] = item;
        }

        in.nkeys = n;
    }

    n = json_array_size(types);

    if (n > 0) {
        rts = calloc(n, sizeof(policy_type_t));
        if (rts == NULL) {
            goto nomem;
        }
    }

    /* each row is [name, type as in the document] */

    json_array_foreach(types, i, item) {
        name = json_string_value(json_array_get(item, 0));

        if (name == NULL) {
            bb_err(err, errlen, "invalid resource type row %zu", i);
            goto failed;
        }

        snprintf(path, sizeof(path), "resource_types.%s",
                 bb_quote_cstr(q, name));

        ntypes++;

        if (bb_type_parse(&rts[i], name, json_array_get(item, 1), path,
                          err, errlen)
            != 0)
        {
            goto failed;
        }
    }

    in.types = rts;
    in.ntypes = ntypes;

    n = json_array_size(revoked);

    if (n > 0) {
        rev = calloc(n, sizeof(policy_revoked_t));
        if (rev == NULL) {
            goto nomem;
        }
    }

    json_array_foreach(revoked, i, item) {
        rev[i].jti = json_string_value(json_array_get(item, 0));
        rev[i].exp = json_integer_value(json_array_get(item, 1));

        if (rev[i].jti == NULL) {
            bb_err(err, errlen, "invalid revoked row %zu", i);
            goto failed;
        }
    }

    in.revoked = rev;
    in.nrevoked = n;

    doc = policy_build(&in, err, errlen);
    if (doc == NULL) {
        goto failed;
    }

    /* the gateway's parser has the last word */

    text = json_dumps(doc, JSON_COMPACT);
    if (text == NULL) {
        goto nomem;
    }

    check = bb_policy_parse(text, strlen(text), perr, sizeof(perr));
    if (check == NULL) {
        bb_err(err, errlen, "the gateway would refuse the policy: %s", perr);
        json_decref(doc);
        doc = NULL;
        goto failed;
    }

    bb_policy_free(check);

    goto done;

nomem:

    bb_err(err, errlen, "out of memory");

failed:

    json_decref(doc);
    doc = NULL;

done:

    free(text);

    for (i = 0; i < ntypes; i++) {
        policy_type_free(&rts[i]);
    }

    free(rts);
    free(rev);
    free(in.keys);
    json_decref(keys);
    json_decref(types);
    json_decref(revoked);
    PQclear(res);

    return doc;
}


int
policy_refresh(db_conn_t *c, char *err, size_t errlen)
{
    int      rc;
    json_t  *doc;

    if (authd_cfg.policy_path == NULL || authd_cfg.policy_path[0] == '\0') {
        return 0;
    }

    pthread_mutex_lock(&policy_lock);

    rc = -1;

    doc = policy_from_db(c, err, errlen);

    if (doc != NULL) {
        rc = policy_write_file(authd_cfg.policy_path, doc, err, errlen);
    }

    pthread_mutex_unlock(&policy_lock);

    json_decref(doc);

    return rc;
}


static json_t *
policy_names_json(char **names, size_t n)
{
    size_t   i;
    json_t  *a;

    a = json_array();
    if (a == NULL) {
        return NULL;
    }

    for (i = 0; i < n; i++) {
        if (json_array_append_new(a, json_string(names[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    }

    return a;
}


static json_t *
policy_adds_json(const bb_param_t *adds, size_t n)
{
    size_t   i;
    json_t  *a;

    a = json_array();
    if (a == NULL) {
        return NULL;
    }

    for (i = 0; i < n; i++) {
        if (json_array_append_new(a, json_sprintf("%s=%s", adds[i].name,
                                                  adds[i].value))
            != 0)
        {
            json_decref(a);
            return NULL;
        }
    }

    return a;
}


static json_t *
policy_interactions_json(unsigned interactions)
{
    size_t   i;
    json_t  *a;

    a = json_array();
    if (a == NULL) {
        return NULL;
    }

    for (i = 0; policy_interactions[i].name != NULL; i++) {
        if (!(interactions & policy_interactions[i].bit)) {
            continue;
        }

        if (json_array_append_new(a, json_string(policy_interactions[i].name))
            != 0)
        {
            json_decref(a);
            return NULL;
        }
    }

    return a;
}


/*
 * Sets obj[key] = v, taking v; a NULL obj or v (a failed allocation) or a
 * failed set leaves *rc at -1, so that a run of sets is checked once.
 */

static void
policy_set(json_t *obj, const char *key, json_t *v, int *rc)
{
    if (obj == NULL || v == NULL) {
        json_decref(v);
        *rc = -1;
        return;
    }

    if (json_object_set_new(obj, key, v) != 0) {
        *rc = -1;
    }
}


static int
policy_write_all(int fd, const char *data, size_t len)
{
    ssize_t  n;

    while (len > 0) {
        n = write(fd, data, len);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }

            return -1;
        }

        data += n;
        len -= (size_t) n;
    }

    return 0;
}


static int
policy_int64(const char *s, int64_t *out)
{
    char       *end;
    long long   v;

    errno = 0;
    v = strtoll(s, &end, 10);

    if (errno != 0 || end == s || *end != '\0') {
        return -1;
    }

    *out = (int64_t) v;

    return 0;
}


/* a jsonb column, parsed; an array is what policy_state returns */

static json_t *
policy_column(PGresult *res, int col, char *err, size_t errlen)
{
    json_t        *v;
    json_error_t   jerr;

    if (PQgetisnull(res, 0, col)) {
        bb_err(err, errlen, "policy_state column %d is NULL", col);
        return NULL;
    }

    v = json_loads(PQgetvalue(res, 0, col), 0, &jerr);

    if (v == NULL || !json_is_array(v)) {
        json_decref(v);
        bb_err(err, errlen, "policy_state column %d is not a JSON array",
               col);
        return NULL;
    }

    return v;
}
