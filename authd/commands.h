/*
 * What main.c dispatches to that lives in other files: the subcommands and
 * the route tables of the two listeners.  admin.h, keys.h and oauth_http.h
 * may declare the same names; stubs.c holds weak stand-ins until the real
 * definitions are linked.
 */

#ifndef AUTHD_COMMANDS_H
#define AUTHD_COMMANDS_H

#include "http.h"


/*
 * When these run, authd_cfg is loaded and the database pool is ready
 * (db_acquire()).  argv[0] is the subcommand ("create-admin", "load",
 * "rotate"); they return the exit status, having logged any failure.
 */
int admin_cmd_create_admin(int argc, char **argv);
int admin_cmd_load(int argc, char **argv);
int keys_cmd_rotate(int argc, char **argv);

/* ended by an entry with a NULL path */
extern const http_route_t  oauth_routes[];
extern const http_route_t  admin_routes[];


#endif /* AUTHD_COMMANDS_H */
