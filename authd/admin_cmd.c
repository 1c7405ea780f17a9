/*
 * The admin subcommands.
 *
 * `authd create-admin USERNAME` makes the first admin (or another).  The
 * password never comes from the command line, where other users of the
 * host could read it: it is AUTHD_ADMIN_PASSWORD, or one line of standard
 * input when that is not a terminal.
 *
 * `authd load FILE.json` applies a fixture (authd/README.md): an array of
 * {"model", "fields"} entries, in order, in one transaction, each an
 * upsert by its natural key, so that loading a file twice leaves the
 * database as loading it once did.  Any refused entry rolls everything
 * back, with a message naming the entry by its index.  The policy
 * document is rewritten after the commit.
 *
 * Both audit their changes with the actor "cli".
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "admin.h"
#include "bb_buf.h"
#include "config.h"
#include "log.h"


static int admin_cmd_entry(db_conn_t *c, const admin_actor_t *who,
    json_t *entry, size_t i, admin_err_t *err);
static void admin_cmd_where(admin_err_t *err, size_t i);
static char *admin_cmd_password(void);
static int admin_cmd_has_key(db_conn_t *c);


static const db_stmt_t  admin_cmd_keys = {
    "admin_cmd_keys",
    "SELECT count(*) FROM signing_keys"
};


int
admin_cmd_create_admin(int argc, char **argv)
{
    int            rc;
    char           id[24], *password;
    json_t        *user;
    db_conn_t     *c;
    admin_err_t    err;
    admin_actor_t  who;

    if (argc != 2) {
        log_error(NULL, "usage: authd create-admin USERNAME (the password "
                        "in AUTHD_ADMIN_PASSWORD or on standard input)");
        return 2;
    }

    rc = 1;
    c = NULL;
    user = NULL;

    password = admin_cmd_password();
    if (password == NULL) {
        return 1;
    }

    user = json_pack("{s:s,s:s,s:s}", "username", argv[1],
                     "password", password, "role", "admin");

    if (user == NULL) {
        log_error(NULL, "create-admin: the username or the password is not "
                        "valid UTF-8");
        goto done;
    }

    c = db_acquire(NULL);
    if (c == NULL) {
        goto done;
    }

    who.actor = "cli";
    who.req_id = NULL;

    if (admin_begin(c, &err) != 0
        || admin_user_create(c, &who, user, id, sizeof(id), &err) != 0
        || admin_commit(c, &err) != 0)
    {
        log_error(NULL, "create-admin: %s", err.message);
        goto done;
    }

    log_info(NULL, "admin \"%s\" created with id %s", argv[1], id);

    rc = 0;

done:

    if (c != NULL) {
        db_release(c);
    }

    /* the copy of the password inside the JSON object cannot be reached */

    json_decref(user);
    OPENSSL_cleanse(password, strlen(password));
    free(password);

    return rc;
}


int
admin_cmd_load(int argc, char **argv)
{
    int            rc;
    size_t         i;
    json_t        *doc, *entry;
    db_conn_t     *c;
    admin_err_t    err;
    json_error_t   jerr;
    admin_actor_t  who;

    if (argc != 2) {
        log_error(NULL, "usage: authd load FILE.json");
        return 2;
    }

    rc = 1;
    c = NULL;

    doc = json_load_file(argv[1], JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        log_error(NULL, "load: %s: line %d column %d: %s", argv[1], jerr.line,
                  jerr.column, jerr.text);
        return 1;
    }

    if (!json_is_array(doc)) {
        log_error(NULL, "load: %s: expected an array of entries", argv[1]);
        goto done;
    }

    c = db_acquire(NULL);
    if (c == NULL) {
        goto done;
    }

    who.actor = "cli";
    who.req_id = NULL;

    if (admin_begin(c, &err) != 0) {
        log_error(NULL, "load: %s", err.message);
        goto done;
    }

    json_array_foreach(doc, i, entry) {
        if (admin_cmd_entry(c, &who, entry, i, &err) != 0) {
            log_error(NULL, "load: %s: %s", argv[1], err.message);
            goto done;
        }
    }

    if (admin_commit(c, &err) != 0) {
        log_error(NULL, "load: %s", err.message);
        goto done;
    }

    log_info(NULL, "loaded %zu entries from %s", json_array_size(doc),
             argv[1]);

    rc = 0;

    /*
     * Without a signing key there is no document to write yet: the first
     * key (`authd keys rotate`, or authd serve) writes it.
     */

    switch (admin_cmd_has_key(c)) {

    case 1:
        db_release(c);
        c = NULL;

        if (admin_policy_write(NULL) != 0) {
            rc = 1;
        }

        break;

    case 0:
        log_info(NULL, "policy document not written: no signing key yet");
        break;

    default:
        rc = 1;
        break;
    }

done:

    if (c != NULL) {
        db_release(c);
    }

    json_decref(doc);

    return rc;
}


static int
admin_cmd_entry(db_conn_t *c, const admin_actor_t *who, json_t *entry,
    size_t i, admin_err_t *err)
{
    int          created;
    char         q[BB_QUOTE_SIZE];
    json_t      *v, *fields, *name;
    const char  *key, *model;

    if (!json_is_object(entry)) {
        return admin_fail(err, 400, "", "[%zu]: expected an object", i);
    }

    json_object_foreach(entry, key, v) {
        if (strcmp(key, "model") != 0 && strcmp(key, "fields") != 0) {
            return admin_fail(err, 400, "", "[%zu]: unknown field \"%s\"", i,
                              bb_quote_cstr(q, key));
        }
    }

    v = json_object_get(entry, "model");
    if (!json_is_string(v)) {
        return admin_fail(err, 400, "", "[%zu]%s", i,
                          v ? ".model: expected a string"
                            : ": missing field \"model\"");
    }

    model = json_string_value(v);

    fields = json_object_get(entry, "fields");
    if (!json_is_object(fields)) {
        return admin_fail(err, 400, "", "[%zu]%s", i,
                          fields ? ".fields: expected an object"
                                 : ": missing field \"fields\"");
    }

    if (strcmp(model, "resource_types") == 0) {
        name = json_object_get(fields, "name");

        if (!json_is_string(name)) {
            admin_fail(err, 400, "name", "%s",
                       name ? "name: expected a string"
                            : "missing field \"name\"");

        } else if (admin_type_put(c, who, json_string_value(name), fields,
                                  &created, err)
                   == 0)
        {
            return 0;
        }

    } else if (strcmp(model, "applications") == 0) {
        if (admin_app_load(c, who, fields, err) == 0) {
            return 0;
        }

    } else if (strcmp(model, "users") == 0) {
        if (admin_user_load(c, who, fields, ADMIN_LOAD, err) == 0) {
            return 0;
        }

    } else if (strcmp(model, "crosswalk") == 0) {
        if (admin_user_load(c, who, fields, ADMIN_CROSSWALK, err) == 0) {
            return 0;
        }

    } else {
        return admin_fail(err, 400, "", "[%zu].model: unknown model \"%s\"",
                          i, bb_quote_cstr(q, model));
    }

    /* the store functions speak of fields; the operator needs the entry */

    if (err->status != 500) {
        admin_cmd_where(err, i);
    }

    return -1;
}


/*
 * "[4].fields" before a field's message: "name: ..." becomes
 * "[4].fields.name: ...", any other message "[4].fields: ...".
 */

static void
admin_cmd_where(admin_err_t *err, size_t i)
{
    size_t  n;
    char    field[sizeof(err->field)], msg[sizeof(err->message)];

    n = strlen(err->field);

    snprintf(msg, sizeof(msg), "%s", err->message);
    snprintf(field, sizeof(field), "%s", err->field);

    if (n > 0 && strncmp(msg, field, n) == 0 && msg[n] == ':') {
        admin_fail(err, err->status, "", "[%zu].fields.%s", i, msg);

    } else {
        admin_fail(err, err->status, "", "[%zu].fields: %s", i, msg);
    }

    if (n > 0
        && snprintf(err->field, sizeof(err->field), "[%zu].fields.%s", i,
                    field)
               >= (int) sizeof(err->field))
    {
        err->field[0] = '\0';
    }
}


/* AUTHD_ADMIN_PASSWORD, or one line of standard input if not a terminal */

static char *
admin_cmd_password(void)
{
    char        *line;
    size_t       cap;
    ssize_t      n;
    const char  *env;

    env = getenv("AUTHD_ADMIN_PASSWORD");
    if (env != NULL && env[0] != '\0') {
        line = strdup(env);
        if (line == NULL) {
            log_error(NULL, "out of memory");
        }

        return line;
    }

    if (isatty(STDIN_FILENO)) {
        log_error(NULL, "create-admin: no password: set AUTHD_ADMIN_PASSWORD "
                        "or write it on standard input");
        return NULL;
    }

    line = NULL;
    cap = 0;

    n = getline(&line, &cap, stdin);

    if (n <= 0) {
        log_error(NULL, "create-admin: no password on standard input");
        free(line);
        return NULL;
    }

    if (n > 0 && line[n - 1] == '\n') {
        line[--n] = '\0';
    }

    if (n > 0 && line[n - 1] == '\r') {
        line[--n] = '\0';
    }

    if ((size_t) n != strlen(line)) {
        log_error(NULL, "create-admin: the password holds a NUL byte");
        OPENSSL_cleanse(line, cap);
        free(line);
        return NULL;
    }

    return line;
}


/* 1 when a signing key exists, 0 when none does, -1 on failure */

static int
admin_cmd_has_key(db_conn_t *c)
{
    int        n;
    PGresult  *res;

    res = db_exec(c, &admin_cmd_keys, 0, NULL);
    if (res == NULL) {
        return -1;
    }

    n = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);

    return n > 0;
}
