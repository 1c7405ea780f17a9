/*
 * authd's entry point: one table of subcommands, each with the settings it
 * needs.  The settings are loaded and validated, and the database pool
 * opened, before a subcommand runs; a bad setting stops authd here with a
 * message naming it.
 */

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "commands.h"
#include "config.h"
#include "db.h"
#include "http.h"
#include "log.h"
#include "migrate.h"
#include "notify.h"


typedef struct {
    const char  *name;
    const char  *sub;                   /* a second word, or NULL */
    unsigned     uses;                  /* CFG_USE_* */
    int        (*run)(int argc, char **argv);
    const char  *args;                  /* for the usage text */
} main_cmd_t;


static int main_serve(int argc, char **argv);
static int main_migrate(int argc, char **argv);
static int main_healthz(http_req_t *req);
static void main_usage(void);


static const main_cmd_t  main_cmds[] = {
    { "serve", NULL, CFG_USE_DB | CFG_USE_ISSUER | CFG_USE_KEYS,
      main_serve, "" },
    { "migrate", NULL, CFG_USE_DB, main_migrate, "" },
    { "create-admin", NULL, CFG_USE_DB, admin_cmd_create_admin,
      " USERNAME" },
    { "load", NULL, CFG_USE_DB | CFG_USE_ISSUER, admin_cmd_load,
      " FILE.json" },
    { "keys", "rotate", CFG_USE_DB | CFG_USE_ISSUER | CFG_USE_KEYS,
      keys_cmd_rotate, "" },
    { NULL, NULL, 0, NULL, NULL }
};


/* answered on both listeners, whatever else is linked */
static const http_route_t  main_routes[] = {
    { "GET", "/healthz", main_healthz },
    { NULL, NULL, NULL }
};


int
main(int argc, char **argv)
{
    int                rc;
    char               err[512];
    const main_cmd_t  *cmd;

    if (argc < 2) {
        main_usage();
        return 2;
    }

    for (cmd = main_cmds; cmd->name != NULL; cmd++) {
        if (strcmp(cmd->name, argv[1]) != 0) {
            continue;
        }

        if (cmd->sub == NULL
            || (argc > 2 && strcmp(cmd->sub, argv[2]) == 0))
        {
            break;
        }
    }

    if (cmd->name == NULL) {
        main_usage();
        return 2;
    }

    if (cfg_load(&authd_cfg, cmd->uses, err, sizeof(err)) != 0) {
        log_error(NULL, "%s", err);
        return 1;
    }

    log_set_level(authd_cfg.log_level);

    if (db_init(authd_cfg.database_url, (int) authd_cfg.db_pool,
                (int) authd_cfg.db_timeout)
        != 0)
    {
        rc = 1;
        goto done;
    }

    if (cmd->sub != NULL) {
        rc = cmd->run(argc - 2, argv + 2);

    } else {
        rc = cmd->run(argc - 1, argv + 1);
    }

    db_shutdown();

done:

    cfg_free(&authd_cfg);

    return rc;
}


static void
main_usage(void)
{
    const main_cmd_t  *cmd;

    fprintf(stderr, "usage:\n");

    for (cmd = main_cmds; cmd->name != NULL; cmd++) {
        fprintf(stderr, "    authd %s%s%s%s\n", cmd->name,
                cmd->sub ? " " : "", cmd->sub ? cmd->sub : "", cmd->args);
    }
}


/*
 * Signals are blocked before any thread starts, so that every thread
 * inherits the mask and only sigwait() here sees SIGTERM and SIGINT.
 */

static int
main_serve(int argc, char **argv)
{
    int                        sig;
    sigset_t                   set;
    const http_route_t *const  public_tables[] = {
        main_routes, oauth_routes, NULL
    };
    const http_route_t *const  admin_tables[] = {
        main_routes, admin_routes, NULL
    };

    if (argc > 1) {
        log_error(NULL, "unexpected argument \"%s\"", argv[1]);
        return 2;
    }

    signal(SIGPIPE, SIG_IGN);

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);

    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) {
        log_error(NULL, "pthread_sigmask() failed");
        return 1;
    }

    /*
     * The policy listener writes the gateway's policy as soon as it
     * reaches PostgreSQL, and again after every change any authd makes.
     */

    if (notify_start() != 0) {
        return 1;
    }

    if (http_start(&authd_cfg.listen, 0, public_tables) != 0
        || http_start(&authd_cfg.admin_listen, 1, admin_tables) != 0)
    {
        http_stop();
        notify_stop();
        return 1;
    }

    log_info(NULL, "listening on %s, admin on %s", authd_cfg.listen.text,
             authd_cfg.admin_listen.text);

    for ( ;; ) {
        if (sigwait(&set, &sig) == 0) {
            break;
        }
    }

    log_info(NULL, "signal %d received, stopping", sig);

    http_stop();
    notify_stop();

    log_info(NULL, "stopped");

    return 0;
}


static int
main_migrate(int argc, char **argv)
{
    if (argc > 1) {
        log_error(NULL, "unexpected argument \"%s\"", argv[1]);
        return 2;
    }

    return migrate_run(authd_cfg.schema_dir) == 0 ? 0 : 1;
}


static int
main_healthz(http_req_t *req)
{
    int         ok;
    db_conn_t  *c;

    c = db_acquire(req->id);
    ok = (c != NULL && db_ping(c) == 0);

    if (c != NULL) {
        db_release(c);
    }

    return http_json(req, ok ? 200 : 503,
                     json_pack("{s:s}", "status", ok ? "ok" : "unavailable"));
}
