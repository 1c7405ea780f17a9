/*
 * Schema migrations.  A session advisory lock serializes concurrent runs
 * (several authd sidecars may start at once).  Each file is applied in its
 * own transaction together with its row in schema_migrations (version: the
 * file name without ".sql"), so that a file is either applied and recorded
 * or neither.  Files are taken in byte order of their names.
 */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "db.h"
#include "log.h"
#include "migrate.h"


/* an arbitrary key, the same in every authd */
#define MIGRATE_LOCK  "7305011970"


static int migrate_file(db_conn_t *c, const char *dir, const char *name,
    int *applied);
static char *migrate_read(const char *path);
static int migrate_filter(const struct dirent *d);
static int migrate_order(const struct dirent **a, const struct dirent **b);


static const db_stmt_t  migrate_create = {
    "migrate_create",
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version text PRIMARY KEY,"
    " applied_at timestamptz NOT NULL DEFAULT now())"
};

static const db_stmt_t  migrate_lock = {
    "migrate_lock", "SELECT pg_advisory_lock(" MIGRATE_LOCK ")"
};

static const db_stmt_t  migrate_unlock = {
    "migrate_unlock", "SELECT pg_advisory_unlock(" MIGRATE_LOCK ")"
};

static const db_stmt_t  migrate_find = {
    "migrate_find", "SELECT 1 FROM schema_migrations WHERE version = $1"
};

static const db_stmt_t  migrate_record = {
    "migrate_record", "INSERT INTO schema_migrations (version) VALUES ($1)"
};


int
migrate_run(const char *dir)
{
    int              rc, i, n, applied, locked;
    PGresult        *res;
    db_conn_t       *c;
    struct dirent  **names;

    rc = -1;
    n = -1;
    names = NULL;
    applied = 0;
    locked = 0;

    c = db_acquire(NULL);

    if (c == NULL) {
        return -1;
    }

    n = scandir(dir, &names, migrate_filter, migrate_order);

    if (n < 0) {
        log_error(NULL, "scandir(\"%s\") failed: %s", dir, strerror(errno));
        goto done;
    }

    res = db_exec(c, &migrate_lock, 0, NULL);

    if (res == NULL) {
        goto done;
    }

    PQclear(res);
    locked = 1;

    res = db_exec(c, &migrate_create, 0, NULL);

    if (res == NULL) {
        goto done;
    }

    PQclear(res);

    for (i = 0; i < n; i++) {
        if (migrate_file(c, dir, names[i]->d_name, &applied) != 0) {
            goto done;
        }
    }

    if (applied == 0) {
        log_info(NULL, "schema up to date: nothing to apply in \"%s\"", dir);

    } else {
        log_info(NULL, "%d schema file%s applied", applied,
                 applied == 1 ? "" : "s");
    }

    rc = 0;

done:

    if (locked) {
        res = db_exec(c, &migrate_unlock, 0, NULL);

        if (res != NULL) {
            PQclear(res);
        }
    }

    for (i = 0; i < n; i++) {
        free(names[i]);
    }

    free(names);
    db_release(c);

    return rc;
}


static int
migrate_file(db_conn_t *c, const char *dir, const char *name, int *applied)
{
    int          rc;
    char        *path, *sql, *version;
    size_t       len;
    PGresult    *res;
    const char  *params[1];

    rc = -1;
    path = NULL;
    sql = NULL;
    res = NULL;

    len = strlen(name) - (sizeof(".sql") - 1);
    version = strndup(name, len);

    if (version == NULL
        || asprintf(&path, "%s/%s", dir, name) < 0)
    {
        log_error(NULL, "out of memory");
        path = NULL;
        goto done;
    }

    params[0] = version;

    if (db_begin(c) != 0) {
        goto done;
    }

    res = db_exec(c, &migrate_find, 1, params);

    if (res == NULL) {
        goto done;
    }

    if (PQntuples(res) > 0) {
        log_debug(NULL, "\"%s\" already applied", name);
        rc = 0;
        goto done;
    }

    PQclear(res);
    res = NULL;

    sql = migrate_read(path);

    if (sql == NULL) {
        goto done;
    }

    if (db_exec_script(c, sql) != 0) {
        log_error(NULL, "applying \"%s\" failed", path);
        goto done;
    }

    res = db_exec(c, &migrate_record, 1, params);

    if (res == NULL) {
        goto done;
    }

    if (db_commit(c) != 0) {
        goto done;
    }

    log_info(NULL, "applied \"%s\"", name);
    (*applied)++;
    rc = 0;

done:

    if (res != NULL) {
        PQclear(res);
    }

    /* nothing to undo when it was applied before; otherwise a failure */

    (void) db_rollback(c);

    free(sql);
    free(path);
    free(version);

    return rc;
}


static char *
migrate_read(const char *path)
{
    FILE         *f;
    char         *buf;
    size_t        n;
    struct stat   st;

    buf = NULL;

    f = fopen(path, "r");

    if (f == NULL) {
        log_error(NULL, "fopen(\"%s\") failed: %s", path, strerror(errno));
        return NULL;
    }

    if (fstat(fileno(f), &st) != 0) {
        log_error(NULL, "fstat(\"%s\") failed: %s", path, strerror(errno));
        goto done;
    }

    buf = malloc(st.st_size + 1);

    if (buf == NULL) {
        log_error(NULL, "out of memory");
        goto done;
    }

    n = fread(buf, 1, st.st_size, f);

    if (n != (size_t) st.st_size) {
        log_error(NULL, "fread(\"%s\") failed", path);
        free(buf);
        buf = NULL;
        goto done;
    }

    buf[n] = '\0';

done:

    fclose(f);

    return buf;
}


static int
migrate_filter(const struct dirent *d)
{
    size_t  len;

    len = strlen(d->d_name);

    return d->d_name[0] != '.' && len > 4
           && strcmp(d->d_name + len - 4, ".sql") == 0;
}


static int
migrate_order(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}
