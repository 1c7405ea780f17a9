/*
 * libFuzzer target for the policy document parser.  The input is the
 * document itself.  Besides the sanitizers, the target checks the parser's
 * promises and aborts when one is broken: a refusal comes with a one-line
 * printable message, and an accepted policy is complete (issuer, audience,
 * at least one key with its kid) with types and revoked ids in the order
 * the lookups rely on, so that every type, key and revoked id it holds is
 * found again.  An accepted policy then filters a CapabilityStatement.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_policy.h"
#include "bb_response.h"


#define fz_assert(cond)                                                      \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "invariant broken at line %d: %s\n",             \
                    __LINE__, #cond);                                        \
            abort();                                                         \
        }                                                                    \
    } while (0)


static const char  fz_capability[] =
    "{\"resourceType\":\"CapabilityStatement\",\"rest\":[{\"mode\":\"server\","
    "\"resource\":[{\"type\":\"Patient\",\"interaction\":[{\"code\":\"read\"},"
    "{\"code\":\"search-type\"}],\"searchParam\":[{\"name\":\"_id\"},"
    "{\"name\":\"name\"}],\"searchInclude\":[\"*\"]},{\"type\":\"Coverage\","
    "\"interaction\":[{\"code\":\"read\"}],\"operation\":[{\"name\":\"x\"}]}],"
    "\"interaction\":[{\"code\":\"transaction\"}]}]}";


static void
fz_check_err(const char *err)
{
    size_t  i;

    fz_assert(err[0] != '\0');

    for (i = 0; err[i]; i++) {
        fz_assert(err[i] >= 0x20 && err[i] < 0x7f);
    }
}


static void
fz_check_names(char **names, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        fz_assert(names[i] != NULL && names[i][0] != '\0');
        fz_assert(strpbrk(names[i], "&= \t\r\n") == NULL);
    }
}


static void
fz_check_policy(const bb_policy_t *policy)
{
    char                       err[256];
    size_t                     i, j;
    bb_buf_t                   out;
    bb_smart_t                 smart;
    const bb_resource_type_t  *rt;

    fz_assert(policy->issuer != NULL && policy->issuer[0] != '\0');
    fz_assert(policy->audience != NULL && policy->audience[0] != '\0');
    fz_assert(policy->nkeys > 0);

    for (i = 0; i < policy->nkeys; i++) {
        fz_assert(policy->keys[i].kid != NULL);
        fz_assert(policy->keys[i].pkey != NULL);

        /* kids are unique, so the lookup finds this very key */

        fz_assert(bb_policy_key(policy, policy->keys[i].kid,
                                strlen(policy->keys[i].kid))
                  == &policy->keys[i]);
    }

    for (i = 0; i < policy->ntypes; i++) {
        rt = &policy->types[i];

        if (i > 0) {
            fz_assert(strcmp(policy->types[i - 1].name, rt->name) < 0);
        }

        fz_assert(bb_policy_type(policy, rt->name, strlen(rt->name)) == rt);

        fz_check_names(rt->search_block, rt->nsearch_block);
        fz_check_names(rt->search_allow, rt->nsearch_allow);
        fz_check_names(rt->widening_allow, rt->nwidening_allow);

        for (j = 0; j < rt->nsearch_add; j++) {
            fz_check_names(&rt->search_add[j].name, 1);
            fz_assert(rt->search_add[j].value[0] != '\0');
        }

        fz_assert(rt->override_search
                  || (rt->nsearch_block == 0 && rt->nsearch_add == 0
                      && !rt->has_search_allow));
    }

    for (i = 0; i < policy->nrevoked; i++) {
        if (i > 0) {
            fz_assert(strcmp(policy->revoked[i - 1].jti,
                             policy->revoked[i].jti) <= 0);
        }

        fz_assert(bb_policy_revoked(policy, policy->revoked[i].jti,
                                    strlen(policy->revoked[i].jti)));
    }

    memset(&out, 0, sizeof(bb_buf_t));
    memset(&smart, 0, sizeof(bb_smart_t));
    smart.authorize_url = "https://as/authorize";
    smart.token_url = "https://as/token";

    fz_assert(bb_capability_filter(fz_capability, sizeof(fz_capability) - 1,
                                   policy, &smart, &out, err, sizeof(err))
              == 0);

    bb_buf_free(&out);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char          err[512], *buf;
    bb_policy_t  *policy;

    /* a copy, so that reading past the input is the sanitizers' to find */

    buf = malloc(size ? size : 1);
    if (buf == NULL) {
        return 0;
    }

    memcpy(buf, data, size);

    err[0] = '\0';

    policy = bb_policy_parse(buf, size, err, sizeof(err));

    if (policy == NULL) {
        fz_check_err(err);

    } else {
        fz_check_policy(policy);
        bb_policy_free(policy);
    }

    free(buf);

    return 0;
}
