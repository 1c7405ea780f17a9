/*
 * Weak stand-ins for what other files of authd will define: the
 * subcommands and route tables declared in commands.h.  A real (strong)
 * definition replaces each one at link time; delete a stand-in once its
 * definition has landed.  This file is linked into the authd executable
 * only, never into the authdcore library the tests use.
 *
 * Every stand-in has been replaced: none is left.
 */

#include "commands.h"
