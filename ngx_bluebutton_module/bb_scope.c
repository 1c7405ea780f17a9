/*
 * SMART App Launch scopes in the patient compartment.  A scope is
 * "patient/<type>.<permissions>" where the type is a FHIR resource type or
 * "*", and the permissions are v1 "read", "write" or "*", or v2 a non-empty
 * subset of "cruds" written in that order.  Anything else in the scope
 * string is skipped: it grants nothing here, whatever it means elsewhere.
 */

#include <string.h>

#include "bb_policy.h"
#include "bb_scope.h"


/*
 * What an unknown interaction needs: a bit no scope ever grants, so that
 * both "(grants & needed) == needed" and "grants & needed" refuse it.
 */
#define BB_SCOPE_NEVER  0x80000000u

#define BB_SCOPE_ALL                                                         \
    (BB_SCOPE_C | BB_SCOPE_R | BB_SCOPE_U | BB_SCOPE_D | BB_SCOPE_S)


static unsigned bb_scope_one(const char *s, size_t len, const char *type,
    size_t tlen);
static unsigned bb_scope_permissions(const char *p, size_t len);


unsigned
bb_scope_grants(const char *scope, size_t len, const char *type, size_t tlen)
{
    size_t      i, start;
    unsigned    grants;

    grants = 0;
    start = 0;

    for (i = 0; i <= len; i++) {
        if (i < len && scope[i] != ' ') {
            continue;
        }

        if (i > start) {
            grants |= bb_scope_one(scope + start, i - start, type, tlen);
        }

        start = i + 1;
    }

    return grants;
}


unsigned
bb_scope_needed(unsigned interaction)
{
    switch (interaction) {

    case BB_READ:
    case BB_VREAD:
    case BB_HISTORY:
        return BB_SCOPE_R;

    case BB_SEARCH:
        return BB_SCOPE_S;

    case BB_CREATE:
        return BB_SCOPE_C;

    case BB_UPDATE:
        return BB_SCOPE_U;

    case BB_DELETE:
        return BB_SCOPE_D;

    default:
        return BB_SCOPE_NEVER;
    }
}


static unsigned
bb_scope_one(const char *s, size_t len, const char *type, size_t tlen)
{
    const char  *dot, *t;
    size_t       n;

    static const char  prefix[] = "patient/";

    n = sizeof(prefix) - 1;

    if (len <= n || memcmp(s, prefix, n) != 0) {
        return 0;
    }

    t = s + n;
    len -= n;

    dot = memchr(t, '.', len);
    if (dot == NULL || dot == t) {
        return 0;
    }

    n = dot - t;

    if (!(n == 1 && t[0] == '*')
        && !(n == tlen && memcmp(t, type, tlen) == 0))
    {
        return 0;
    }

    return bb_scope_permissions(dot + 1, len - n - 1);
}


static unsigned
bb_scope_permissions(const char *p, size_t len)
{
    size_t       i, last;
    unsigned     grants;
    const char  *at;

    static const char      letters[] = "cruds";
    static const unsigned  bits[] = {
        BB_SCOPE_C, BB_SCOPE_R, BB_SCOPE_U, BB_SCOPE_D, BB_SCOPE_S
    };

    if (len == 4 && memcmp(p, "read", 4) == 0) {
        return BB_SCOPE_R | BB_SCOPE_S;
    }

    if (len == 5 && memcmp(p, "write", 5) == 0) {
        return BB_SCOPE_C | BB_SCOPE_U | BB_SCOPE_D;
    }

    if (len == 1 && p[0] == '*') {
        return BB_SCOPE_ALL;
    }

    /*
     * v2: each letter must come after the previous one in "cruds"; this
     * also refuses repeats, and a '?' restriction is not a letter, so a
     * restricted scope grants nothing rather than more than it says.
     */

    if (len == 0 || len > sizeof(letters) - 1) {
        return 0;
    }

    grants = 0;
    last = 0;

    for (i = 0; i < len; i++) {
        at = memchr(letters, p[i], sizeof(letters) - 1);
        if (at == NULL || (size_t) (at - letters) + 1 <= last) {
            return 0;
        }

        last = (at - letters) + 1;
        grants |= bits[at - letters];
    }

    return grants;
}
