/*
 * The PostgreSQL connection pool.  A bounded set of connections (db_pool)
 * shared by the HTTP threads: db_acquire() waits up to db_timeout seconds
 * for a free one.  SQL only comes from constant db_stmt_t objects; each is
 * prepared on a connection the first time it runs there, and values are
 * always passed as parameters (text format; bytea as '\x' hex text).
 *
 * A connection lost (PostgreSQL restarted) is reset transparently: outside
 * a transaction the statement is retried once on the new connection; inside
 * one the call fails and the caller rolls back and may retry it all.
 */

#ifndef AUTHD_DB_H
#define AUTHD_DB_H

#include <libpq-fe.h>


typedef struct db_conn_s  db_conn_t;


/*
 * One statement, defined once as a static const object next to the code
 * that runs it:
 *
 *   static const db_stmt_t  oauth_find_client = {
 *       "oauth_find_client",
 *       "SELECT id, name FROM applications WHERE client_id = $1"
 *   };
 *
 * Names must be unique across authd: they name prepared statements.
 */
typedef struct {
    const char  *name;
    const char  *sql;
} db_stmt_t;


/* the pool: conninfo is a libpq URI or key=value string */
int db_init(const char *conninfo, int size, int timeout_sec)
    __attribute__((warn_unused_result));
void db_shutdown(void);

/*
 * Returns a connection, or NULL (logged) when none became free in time or
 * the database cannot be reached.  req_id (may be NULL) goes into every
 * log line about this connection until db_release().
 */
db_conn_t *db_acquire(const char *req_id)
    __attribute__((warn_unused_result));

/* rolls back a transaction left open */
void db_release(db_conn_t *c);

/*
 * Runs a statement; params[i] NULL is SQL NULL.  Returns a result whose
 * status is PGRES_TUPLES_OK or PGRES_COMMAND_OK (free with PQclear()), or
 * NULL after logging the error; db_sqlstate() then tells which.
 */
PGresult *db_exec(db_conn_t *c, const db_stmt_t *stmt, int nparams,
    const char *const *params)
    __attribute__((warn_unused_result));

/* the SQLSTATE of the last failed call, "" when none, e.g. "23505" */
const char *db_sqlstate(db_conn_t *c);

#define DB_UNIQUE_VIOLATION  "23505"


/* 0 or -1 (logged) */
int db_begin(db_conn_t *c) __attribute__((warn_unused_result));
int db_commit(db_conn_t *c) __attribute__((warn_unused_result));
int db_rollback(db_conn_t *c);

/*
 * Runs a schema file (several statements, no parameters) inside the
 * current transaction.  For `authd migrate` only: the text is trusted.
 */
int db_exec_script(db_conn_t *c, const char *sql)
    __attribute__((warn_unused_result));

/* a SELECT 1 round trip: 0 when the database answers */
int db_ping(db_conn_t *c) __attribute__((warn_unused_result));


#endif /* AUTHD_DB_H */
