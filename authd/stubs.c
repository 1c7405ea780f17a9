/*
 * Weak stand-ins for what other files of authd will define: the
 * subcommands and route tables declared in commands.h.  A real (strong)
 * definition replaces each one at link time; delete a stand-in once its
 * definition has landed.  This file is linked into the authd executable
 * only, never into the authdcore library the tests use.
 */

#include "commands.h"
#include "log.h"


static int stubs_missing(const char *what);


__attribute__((weak)) int
admin_cmd_create_admin(int argc, char **argv)
{
    return stubs_missing("create-admin");
}


__attribute__((weak)) int
admin_cmd_load(int argc, char **argv)
{
    return stubs_missing("load");
}


__attribute__((weak)) const http_route_t  admin_routes[] = {
    { NULL, NULL, NULL }
};


static int
stubs_missing(const char *what)
{
    log_error(NULL, "\"%s\" is not implemented yet", what);

    return 1;
}
