/*
 * The authd_policy listener (see notify.h).  One thread holds a dedicated
 * libpq connection in LISTEN mode and waits on its socket; a burst of
 * notifications (a load, a revocation of many tokens) is taken whole
 * before the policy is rebuilt once.  A policy refresh failing, or the
 * connection going away, is logged and retried: the gateway keeps the
 * last document written until a good one replaces it.
 */

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "config.h"
#include "db.h"
#include "log.h"
#include "notify.h"
#include "policy.h"


#define NOTIFY_CHANNEL       "authd_policy"

/* how long a wait lasts before the stop flag is looked at again, in ms */
#define NOTIFY_POLL_MS       500

/* between attempts to reach PostgreSQL again, in seconds */
#define NOTIFY_RETRY_SEC     1


static void *notify_main(void *arg);
static PGconn *notify_connect(void);
static int notify_wait(PGconn *conn, int *pending);
static void notify_refresh(void);
static void notify_sleep(int seconds);


static pthread_t        notify_thread;
static int              notify_running;
static volatile int     notify_stopping;


int
notify_start(void)
{
    notify_stopping = 0;

    if (pthread_create(&notify_thread, NULL, notify_main, NULL) != 0) {
        log_error(NULL, "pthread_create() failed for the policy listener");
        return -1;
    }

    notify_running = 1;

    return 0;
}


void
notify_stop(void)
{
    if (!notify_running) {
        return;
    }

    notify_stopping = 1;
    pthread_join(notify_thread, NULL);
    notify_running = 0;
}


static void *
notify_main(void *arg)
{
    int      pending;
    PGconn  *conn;

    conn = NULL;

    while (!notify_stopping) {

        if (conn == NULL) {
            conn = notify_connect();

            if (conn == NULL) {
                notify_sleep(NOTIFY_RETRY_SEC);
                continue;
            }

            /* what changed while nobody listened is read afresh now */

            notify_refresh();
        }

        pending = 0;

        if (notify_wait(conn, &pending) != 0) {
            log_error(NULL, "policy listener lost its connection: %s",
                      PQerrorMessage(conn));
            PQfinish(conn);
            conn = NULL;
            continue;
        }

        if (pending) {
            notify_refresh();
        }
    }

    if (conn != NULL) {
        PQfinish(conn);
    }

    return NULL;
}


static PGconn *
notify_connect(void)
{
    PGconn    *conn;
    PGresult  *res;

    conn = PQconnectdb(authd_cfg.database_url);

    if (PQstatus(conn) != CONNECTION_OK) {

        /* libpq's message names the server, never the password */

        log_error(NULL, "policy listener: PQconnectdb() failed: %s",
                  PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }

    res = PQexec(conn, "LISTEN " NOTIFY_CHANNEL);

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        log_error(NULL, "policy listener: LISTEN failed: %s",
                  PQerrorMessage(conn));
        PQclear(res);
        PQfinish(conn);
        return NULL;
    }

    PQclear(res);

    log_info(NULL, "listening for policy changes on \"" NOTIFY_CHANNEL "\"");

    return conn;
}


/*
 * Waits up to NOTIFY_POLL_MS for the socket; sets *pending when one or
 * more notifications came.  Returns -1 when the connection is gone.
 */

static int
notify_wait(PGconn *conn, int *pending)
{
    int              n;
    struct pollfd    pfd;
    PGnotify        *note;

    pfd.fd = PQsocket(conn);
    pfd.events = POLLIN;
    pfd.revents = 0;

    if (pfd.fd < 0) {
        return -1;
    }

    n = poll(&pfd, 1, NOTIFY_POLL_MS);

    if (n < 0) {
        return errno == EINTR ? 0 : -1;
    }

    if (n == 0) {
        return 0;
    }

    if (PQconsumeInput(conn) == 0) {
        return -1;
    }

    while ((note = PQnotifies(conn)) != NULL) {
        *pending = 1;
        PQfreemem(note);
    }

    return PQstatus(conn) == CONNECTION_OK ? 0 : -1;
}


static void
notify_refresh(void)
{
    char        err[256];
    db_conn_t  *c;

    if (authd_cfg.policy_path[0] == '\0') {
        return;
    }

    c = db_acquire(NULL);
    if (c == NULL) {
        return;
    }

    if (policy_refresh(c, err, sizeof(err)) != 0) {

        /* before the first key there is nothing the gateway could use */

        if (strcmp(err, POLICY_NO_KEY) == 0) {
            log_info(NULL, "policy document not written: %s", err);

        } else {
            log_error(NULL, "policy_refresh() failed: %s", err);
        }
    }

    db_release(c);
}


static void
notify_sleep(int seconds)
{
    int              i;
    struct timespec  ts;

    ts.tv_sec = 0;
    ts.tv_nsec = 100 * 1000 * 1000;

    for (i = 0; i < seconds * 10 && !notify_stopping; i++) {
        nanosleep(&ts, NULL);
    }
}
