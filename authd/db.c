/*
 * The connection pool: a fixed array of slots guarded by one mutex, a
 * condition variable for threads waiting for a free slot, and a libpq
 * connection per slot opened on first use (so that authd starts, and
 * answers /healthz with 503, while PostgreSQL is down).  Each slot
 * remembers which statements are prepared on its connection; a reset
 * forgets them.
 */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "log.h"


struct db_conn_s {
    PGconn       *pg;
    int           busy;
    int           in_tx;
    int           tx_lost;              /* the connection died inside one */
    char          req_id[40];
    char          sqlstate[6];
    const char  **prepared;             /* statement names */
    size_t        nprepared;
    size_t        cap;
};


typedef struct {
    pthread_mutex_t   lock;
    pthread_cond_t    freed;
    db_conn_t        *conns;
    int               size;
    int               timeout;
    char             *conninfo;
} db_pool_t;


static int db_connect(db_conn_t *c);
static int db_reset(db_conn_t *c);
static int db_lost(db_conn_t *c, PGresult *res);
static int db_is_prepared(db_conn_t *c, const char *name);
static int db_add_prepared(db_conn_t *c, const char *name);
static int db_simple(db_conn_t *c, const char *sql);
static void db_fail(db_conn_t *c, const char *call, const char *name,
    PGresult *res);
static void db_notice(void *arg, const char *message);


static db_pool_t  db_pool = {
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0, NULL
};

static const db_stmt_t  db_select_one = { "db_ping", "SELECT 1" };


int
db_init(const char *conninfo, int size, int timeout_sec)
{
    pthread_condattr_t  attr;

    if (pthread_condattr_init(&attr) != 0
        || pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0
        || pthread_cond_init(&db_pool.freed, &attr) != 0)
    {
        log_error(NULL, "pthread_cond_init() failed");
        return -1;
    }

    pthread_condattr_destroy(&attr);

    db_pool.conns = calloc(size, sizeof(db_conn_t));
    db_pool.conninfo = strdup(conninfo);

    if (db_pool.conns == NULL || db_pool.conninfo == NULL) {
        log_error(NULL, "out of memory");
        free(db_pool.conns);
        free(db_pool.conninfo);
        db_pool.conns = NULL;
        db_pool.conninfo = NULL;
        return -1;
    }

    db_pool.size = size;
    db_pool.timeout = timeout_sec;

    return 0;
}


void
db_shutdown(void)
{
    int  i;

    for (i = 0; i < db_pool.size; i++) {
        if (db_pool.conns[i].pg != NULL) {
            PQfinish(db_pool.conns[i].pg);
        }

        free(db_pool.conns[i].prepared);
    }

    free(db_pool.conns);
    free(db_pool.conninfo);

    db_pool.conns = NULL;
    db_pool.conninfo = NULL;
    db_pool.size = 0;
}


db_conn_t *
db_acquire(const char *req_id)
{
    int              i, rc;
    db_conn_t       *c;
    struct timespec  deadline;

    c = NULL;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += db_pool.timeout;

    pthread_mutex_lock(&db_pool.lock);

    for ( ;; ) {

        /* prefer a slot already connected */

        for (i = 0; i < db_pool.size; i++) {
            if (!db_pool.conns[i].busy) {
                if (c == NULL || db_pool.conns[i].pg != NULL) {
                    c = &db_pool.conns[i];
                }
            }
        }

        if (c != NULL) {
            break;
        }

        rc = pthread_cond_timedwait(&db_pool.freed, &db_pool.lock,
                                    &deadline);

        if (rc == ETIMEDOUT) {
            break;
        }
    }

    if (c != NULL) {
        c->busy = 1;
    }

    pthread_mutex_unlock(&db_pool.lock);

    if (c == NULL) {
        log_error(req_id, "no database connection free after %ds",
                  db_pool.timeout);
        return NULL;
    }

    snprintf(c->req_id, sizeof(c->req_id), "%s", req_id ? req_id : "");
    c->sqlstate[0] = '\0';

    if (c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK) {
        if (db_connect(c) != 0) {
            db_release(c);
            return NULL;
        }
    }

    return c;
}


void
db_release(db_conn_t *c)
{
    if (c->in_tx) {
        (void) db_rollback(c);
    }

    c->req_id[0] = '\0';

    pthread_mutex_lock(&db_pool.lock);
    c->busy = 0;
    pthread_cond_signal(&db_pool.freed);
    pthread_mutex_unlock(&db_pool.lock);
}


PGresult *
db_exec(db_conn_t *c, const db_stmt_t *stmt, int nparams,
    const char *const *params)
{
    int        retried;
    PGresult  *res;

    retried = 0;
    c->sqlstate[0] = '\0';

    if (c->tx_lost) {
        log_error(c->req_id, "statement \"%s\" refused: the connection was "
                  "lost inside the transaction", stmt->name);
        snprintf(c->sqlstate, sizeof(c->sqlstate), "08006");
        return NULL;
    }

again:

    if (PQstatus(c->pg) != CONNECTION_OK && !c->in_tx) {
        if (db_reset(c) != 0) {
            return NULL;
        }
    }

    if (!db_is_prepared(c, stmt->name)) {
        res = PQprepare(c->pg, stmt->name, stmt->sql, 0, NULL);

        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            if (db_lost(c, res) && !c->in_tx && !retried) {
                PQclear(res);
                retried = 1;
                goto again;
            }

            db_fail(c, "PQprepare", stmt->name, res);
            PQclear(res);
            return NULL;
        }

        PQclear(res);

        if (db_add_prepared(c, stmt->name) != 0) {
            log_error(c->req_id, "out of memory");
            return NULL;
        }
    }

    res = PQexecPrepared(c->pg, stmt->name, nparams, params, NULL, NULL, 0);

    switch (PQresultStatus(res)) {

    case PGRES_TUPLES_OK:
    case PGRES_COMMAND_OK:
        return res;

    default:
        break;
    }

    if (db_lost(c, res) && !c->in_tx && !retried) {
        PQclear(res);
        retried = 1;
        goto again;
    }

    db_fail(c, "PQexecPrepared", stmt->name, res);
    PQclear(res);

    return NULL;
}


const char *
db_sqlstate(db_conn_t *c)
{
    return c->sqlstate;
}


int
db_begin(db_conn_t *c)
{
    if (c->in_tx) {
        log_fatal(c->req_id, "db_begin() inside a transaction");
    }

    c->sqlstate[0] = '\0';

    if (PQstatus(c->pg) != CONNECTION_OK && db_reset(c) != 0) {
        return -1;
    }

    if (db_simple(c, "BEGIN") != 0) {
        if (PQstatus(c->pg) == CONNECTION_OK || db_reset(c) != 0
            || db_simple(c, "BEGIN") != 0)
        {
            return -1;
        }
    }

    c->in_tx = 1;
    c->tx_lost = 0;

    return 0;
}


int
db_commit(db_conn_t *c)
{
    int  rc;

    if (!c->in_tx) {
        log_fatal(c->req_id, "db_commit() outside a transaction");
    }

    if (c->tx_lost) {
        log_error(c->req_id, "commit refused: the connection was lost "
                  "inside the transaction");
        c->in_tx = 0;
        c->tx_lost = 0;
        return -1;
    }

    rc = db_simple(c, "COMMIT");
    c->in_tx = 0;

    return rc;
}


int
db_rollback(db_conn_t *c)
{
    int  rc;

    if (!c->in_tx) {
        return 0;
    }

    rc = 0;

    /* a lost connection took its transaction with it */

    if (!c->tx_lost && PQstatus(c->pg) == CONNECTION_OK) {
        rc = db_simple(c, "ROLLBACK");
    }

    c->in_tx = 0;
    c->tx_lost = 0;

    return rc;
}


int
db_exec_script(db_conn_t *c, const char *sql)
{
    PGresult  *res;

    c->sqlstate[0] = '\0';

    res = PQexec(c->pg, sql);

    switch (PQresultStatus(res)) {

    case PGRES_TUPLES_OK:
    case PGRES_COMMAND_OK:
        PQclear(res);
        return 0;

    default:
        break;
    }

    if (db_lost(c, res) && c->in_tx) {
        c->tx_lost = 1;
    }

    db_fail(c, "PQexec", "script", res);
    PQclear(res);

    return -1;
}


int
db_ping(db_conn_t *c)
{
    PGresult  *res;

    res = db_exec(c, &db_select_one, 0, NULL);

    if (res == NULL) {
        return -1;
    }

    PQclear(res);

    return 0;
}


/*
 * A server that does not answer must not hold a request forever: connect
 * within the pool's timeout unless the connection string says otherwise
 * (its values, expanded from dbname, come later and win).
 */

static int
db_connect(db_conn_t *c)
{
    char                timeout[16];
    const char         *values[3];
    static const char  *keywords[] = { "connect_timeout", "dbname", NULL };

    values[2] = NULL;

    if (c->pg != NULL) {
        return db_reset(c);
    }

    snprintf(timeout, sizeof(timeout), "%d", db_pool.timeout);

    values[0] = timeout;
    values[1] = db_pool.conninfo;

    c->pg = PQconnectdbParams(keywords, values, 1);

    if (c->pg == NULL) {
        log_error(c->req_id, "PQconnectdbParams() failed: out of memory");
        return -1;
    }

    PQsetNoticeProcessor(c->pg, db_notice, NULL);

    if (PQstatus(c->pg) != CONNECTION_OK) {
        log_error(c->req_id, "PQconnectdbParams() failed: %s",
                  PQerrorMessage(c->pg));
        PQfinish(c->pg);
        c->pg = NULL;
        return -1;
    }

    c->nprepared = 0;

    return 0;
}


/*
 * A new session: whatever was prepared on the old one is gone.  A
 * transaction open on it is gone too; the caller learns it from tx_lost.
 */

static int
db_reset(db_conn_t *c)
{
    c->nprepared = 0;

    if (c->in_tx) {
        c->tx_lost = 1;
    }

    if (c->pg == NULL) {
        return db_connect(c);
    }

    PQreset(c->pg);

    if (PQstatus(c->pg) != CONNECTION_OK) {
        log_error(c->req_id, "PQreset() failed: %s", PQerrorMessage(c->pg));
        snprintf(c->sqlstate, sizeof(c->sqlstate), "08006");
        return -1;
    }

    log_info(c->req_id, "database connection reset");

    return 0;
}


/*
 * Whether a failure means the session is gone: libpq saw the connection
 * close, or the server said it is shutting this session down (it may say
 * so before the socket closes).  A lost session is reset here when no
 * transaction is open; inside one, tx_lost is set instead.
 */

static int
db_lost(db_conn_t *c, PGresult *res)
{
    const char  *state;

    state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

    if (PQstatus(c->pg) == CONNECTION_OK
        && (state == NULL
            || (strncmp(state, "08", 2) != 0
                && strcmp(state, "57P01") != 0
                && strcmp(state, "57P02") != 0
                && strcmp(state, "57P03") != 0)))
    {
        return 0;
    }

    if (c->in_tx) {
        c->tx_lost = 1;
        return 1;
    }

    return db_reset(c) == 0;
}


static int
db_is_prepared(db_conn_t *c, const char *name)
{
    size_t  i;

    for (i = 0; i < c->nprepared; i++) {
        if (c->prepared[i] == name || strcmp(c->prepared[i], name) == 0) {
            return 1;
        }
    }

    return 0;
}


/* names point into constant db_stmt_t objects: not copied */

static int
db_add_prepared(db_conn_t *c, const char *name)
{
    size_t        cap;
    const char  **p;

    if (c->nprepared == c->cap) {
        cap = c->cap ? c->cap * 2 : 16;
        p = realloc(c->prepared, cap * sizeof(char *));

        if (p == NULL) {
            return -1;
        }

        c->prepared = p;
        c->cap = cap;
    }

    c->prepared[c->nprepared++] = name;

    return 0;
}


static int
db_simple(db_conn_t *c, const char *sql)
{
    PGresult  *res;

    res = PQexec(c->pg, sql);

    if (PQresultStatus(res) == PGRES_COMMAND_OK) {
        PQclear(res);
        return 0;
    }

    if (db_lost(c, res) && c->in_tx) {
        c->tx_lost = 1;
    }

    db_fail(c, "PQexec", sql, res);
    PQclear(res);

    return -1;
}


/*
 * Only the primary message is logged: the detail of a constraint violation
 * quotes the row's values.  A constraint violation is often expected (the
 * caller answers 409), so it is logged at info.
 */

static void
db_fail(db_conn_t *c, const char *call, const char *name, PGresult *res)
{
    const char  *state, *msg;

    state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

    if (msg == NULL) {
        msg = PQerrorMessage(c->pg);
    }

    if (state == NULL) {
        state = PQstatus(c->pg) == CONNECTION_OK ? "XX000" : "08006";
    }

    snprintf(c->sqlstate, sizeof(c->sqlstate), "%s", state);

    log_msg(strncmp(state, "23", 2) == 0 ? CFG_LOG_INFO : CFG_LOG_ERROR,
            c->req_id, "%s(\"%s\") failed: %s (%s)", call, name, msg, state);
}


static void
db_notice(void *arg, const char *message)
{
    log_debug(NULL, "postgres: %s", message);
}
