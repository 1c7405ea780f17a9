/*
 * libFuzzer target for request classification and rewriting.  The input
 * is one configuration byte, then the raw path, the raw query and the form
 * body separated by the byte 0x01.  Besides the sanitizers, the target
 * checks the rewriting's promises and aborts when one is broken: a kept
 * parameter is never one the type blocks, "_format=json" ends every query
 * exactly once, the output is canonical (rewriting it again changes
 * nothing), and an accepted path rebuilt for the upstream classifies the
 * same way again.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bb_request.h"


#define FUZZ_MAX_LEN     512
#define FUZZ_MAX_PARAMS  256


static char        *fz_block[] = { "_id", "identifier" };
static bb_param_t   fz_eob_add[] = { { "patient", "%PATIENT%" } };
static bb_param_t   fz_patient_add[] = { { "_id", "%PATIENT%" } };
static char        *fz_allow[] = { "type", "status", "_lastUpdated" };
static char        *fz_widening[] = { "_include", "_revinclude" };
static bb_param_t   fz_cov_add[] = {
    { "beneficiary", "Patient/%PATIENT%" },
    { "payor", "a b&c=%PATIENT%%PATIENT%+%" },
};


static bb_resource_type_t  fz_types[] = {
    {
        .name = "ExplanationOfBenefit",
        .override_search = 1,
        .search_action = BB_SEARCH_DROP,
        .search_block = fz_block, .nsearch_block = 2,
        .search_add = fz_eob_add, .nsearch_add = 1,
    },
    {
        .name = "ExplanationOfBenefit",
        .override_search = 1,
        .search_action = BB_SEARCH_REFUSE,
        .search_block = fz_block, .nsearch_block = 2,
        .search_add = fz_eob_add, .nsearch_add = 1,
    },
    {
        .name = "Patient",
        .override_url_id = 1,
        .override_search = 1,
        .search_add = fz_patient_add, .nsearch_add = 1,
    },
    {
        .name = "Patient",
        .override_url_id = 1,
        .url_id_mismatch = BB_ID_NOT_FOUND,
        .override_search = 1,
        .search_action = BB_SEARCH_REFUSE,
        .search_add = fz_patient_add, .nsearch_add = 1,
    },
    {
        .name = "Coverage",
        .override_search = 1,
        .has_search_allow = 1,
        .search_action = BB_SEARCH_DROP,
        .search_add = fz_cov_add, .nsearch_add = 2,
        .search_allow = fz_allow, .nsearch_allow = 3,
        .widening_allow = fz_widening, .nwidening_allow = 2,
        .patient_reference = "beneficiary",
    },
    {
        .name = "Coverage",
        .override_search = 1,
        .has_search_allow = 1,
        .search_action = BB_SEARCH_REFUSE,
        .search_add = fz_cov_add, .nsearch_add = 2,
        .search_allow = fz_allow, .nsearch_allow = 3,
    },
    {
        .name = "Organization",
        .search_action = BB_SEARCH_REFUSE,
    },
    {
        .name = "Organization",
        .widening_allow = fz_widening, .nwidening_allow = 2,
    },
};


static const unsigned  fz_interactions[] = {
    BB_READ, BB_VREAD, BB_SEARCH, BB_HISTORY,
    BB_CREATE, BB_UPDATE, BB_DELETE, BB_SEARCH
};


static const char  *fz_patients[] = { "123", NULL, "-1.a", "../x" };


static const char  *fz_widening_names[] = {
    "_has", "_include", "_revinclude", "_filter", "_contained",
    "_containedType", NULL
};


static const char  *fz_result_names[] = {
    "_count", "_sort", "_elements", "_summary", "_total", NULL
};


#define fz_assert(cond)                                                      \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "invariant broken at line %d: %s\n",             \
                    __LINE__, #cond);                                        \
            abort();                                                         \
        }                                                                    \
    } while (0)


static int
fz_hex(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    /* the output uses upper-case escapes only */

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;
}


static int
fz_readable(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9')
           || (c != '\0' && strchr("-._~:,/*@!$", c) != NULL);
}


/*
 * Decode one name or value of the output, checking on the way that it is
 * in canonical form: the readable characters as they are, every other
 * byte escaped in upper case.
 */

static size_t
fz_decode(const char *s, size_t len, char *dst)
{
    int            hi, lo;
    size_t         i, n;
    unsigned char  c;

    n = 0;

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if (c == '%') {
            fz_assert(i + 2 < len);
            hi = fz_hex(s[i + 1]);
            lo = fz_hex(s[i + 2]);
            fz_assert(hi >= 0 && lo >= 0);

            c = (unsigned char) (hi << 4 | lo);
            fz_assert(!fz_readable(c));

            /* the rewriting refuses these in its input */

            fz_assert(c >= 0x20 && c != 0x7f);

            dst[n++] = (char) c;
            i += 2;
            continue;
        }

        fz_assert(fz_readable(c));

        dst[n++] = (char) c;
    }

    dst[n] = '\0';

    return n;
}


static int
fz_named(const char *base, size_t len, char **list, size_t n)
{
    size_t  i, k;

    for (i = 0; i < n; i++) {
        k = strcspn(list[i], ":.");

        if (k == len && strncasecmp(list[i], base, len) == 0) {
            return 1;
        }
    }

    return 0;
}


static int
fz_fixed(const char *base, size_t len, const char **names)
{
    for ( /* void */ ; *names; names++) {
        if (strlen(*names) == len && strncasecmp(*names, base, len) == 0) {
            return 1;
        }
    }

    return 0;
}


/* could the type have let this client parameter through */

static void
fz_check_client(const bb_resource_type_t *rt, int search, const char *name)
{
    int     widening;
    size_t  i, blen;

    blen = strcspn(name, ":.");

    fz_assert(blen > 0);
    fz_assert(!(blen == 7 && strncasecmp(name, "_format", 7) == 0));

    widening = fz_fixed(name, blen, fz_widening_names);

    if (widening) {
        fz_assert(fz_named(name, blen, rt->widening_allow,
                           rt->nwidening_allow));
    }

    if (!search) {
        return;
    }

    fz_assert(!fz_named(name, blen, rt->search_block, rt->nsearch_block));

    for (i = 0; i < rt->nsearch_add; i++) {
        fz_assert(!fz_named(name, blen, &rt->search_add[i].name, 1));
    }

    if (rt->has_search_allow && !widening) {
        fz_assert(fz_fixed(name, blen, fz_result_names)
                  || fz_named(name, blen, rt->search_allow,
                              rt->nsearch_allow));
    }
}


/* the value search_add gives, with the patient put in */

static void
fz_added_value(const char *value, const char *patient, char *dst)
{
    const char  *p, *var;

    dst[0] = '\0';

    for (p = value; (var = strstr(p, "%PATIENT%")) != NULL; p = var + 9) {
        strncat(dst, p, var - p);
        strcat(dst, patient);
    }

    strcat(dst, p);
}


static void
fz_check_output(const bb_resource_type_t *rt, unsigned interaction,
    const char *patient, const char *out, size_t len)
{
    int                search;
    char              *name, *value, added[256];
    size_t             npairs, nclient, i, n;
    const char        *p, *end, *amp, *eq;
    const bb_param_t  *add;

    search = (interaction == BB_SEARCH && rt->override_search);

    name = malloc(len + 1);
    value = malloc(len + 1);
    fz_assert(name != NULL && value != NULL);

    /* "_format=json" exactly once, and last */

    fz_assert(len >= 12 && memcmp(out + len - 12, "_format=json", 12) == 0);
    fz_assert(len == 12 || out[len - 13] == '&');

    npairs = 1;

    for (i = 0; i < len; i++) {
        npairs += (out[i] == '&');
    }

    nclient = npairs - 1 - (search ? rt->nsearch_add : 0);
    fz_assert(nclient <= FUZZ_MAX_PARAMS);

    p = out;
    end = out + len;

    for (i = 0; i < npairs; i++) {
        amp = memchr(p, '&', end - p);
        if (amp == NULL) {
            amp = end;
        }

        fz_assert(amp > p);

        eq = memchr(p, '=', amp - p);

        n = fz_decode(p, (eq ? eq : amp) - p, name);
        fz_assert(strlen(name) == n);

        if (eq) {
            fz_decode(eq + 1, amp - eq - 1, value);

        } else {
            value[0] = '\0';
        }

        if (i < nclient) {
            fz_check_client(rt, search, name);

        } else if (i < npairs - 1) {
            add = &rt->search_add[i - nclient];

            fz_assert(patient != NULL
                      || strstr(add->value, "%PATIENT%") == NULL);
            fz_assert(strcmp(name, add->name) == 0);

            fz_added_value(add->value, patient ? patient : "", added);
            fz_assert(eq != NULL && strcmp(value, added) == 0);

        } else {
            fz_assert(strcmp(name, "_format") == 0);
            fz_assert(eq != NULL && strcmp(value, "json") == 0);
        }

        p = amp + 1;
    }

    free(name);
    free(value);
}


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
fz_query(const bb_resource_type_t *rt, unsigned interaction,
    const char *patient, const char *query, size_t qlen, const char *form,
    size_t flen)
{
    int                 rc;
    char                err[256];
    size_t              i, npairs;
    bb_buf_t            out, again;
    bb_resource_type_t  drop;

    memset(&out, 0, sizeof(bb_buf_t));
    memset(&again, 0, sizeof(bb_buf_t));

    err[0] = '\0';

    rc = bb_query_rewrite(rt, interaction, patient, query, qlen, form, flen,
                          &out, err, sizeof(err));

    if (rc != 0) {
        fz_assert(rc == 400 || rc == 403);
        fz_assert(out.len == 0);
        fz_check_err(err);
        goto done;
    }

    fz_assert(out.data != NULL && strlen(out.data) == out.len);

    fz_check_output(rt, interaction, patient, out.data, out.len);

    /*
     * The canonical form is a fixed point.  The parameters the type adds
     * come back as the client's and are dropped, so the second pass drops
     * instead of refusing.
     */

    drop = *rt;
    drop.search_action = BB_SEARCH_DROP;

    rc = bb_query_rewrite(&drop, interaction, patient, out.data, out.len,
                          NULL, 0, &again, err, sizeof(err));

    /* the added pairs and _format can take the output past the limit */

    for (i = 0, npairs = 1; i < out.len; i++) {
        npairs += (out.data[i] == '&');
    }

    if (npairs > FUZZ_MAX_PARAMS) {
        fz_assert(rc == 400);
        fz_assert(strcmp(err, "too many query parameters") == 0);
        goto done;
    }

    if (rc != 0) {
        fprintf(stderr, "rewriting \"%s\" again: %d %s\n", out.data, rc, err);
    }

    fz_assert(rc == 0);
    fz_assert(again.len == out.len);
    fz_assert(memcmp(again.data, out.data, out.len) == 0);

done:

    bb_buf_free(&out);
    bb_buf_free(&again);
}


static void
fz_path(const bb_resource_type_t *rt, bb_method_t method,
    const char *patient, const char *path, size_t len)
{
    int                rc;
    char               err[256];
    size_t             i;
    bb_buf_t           out;
    bb_fhir_request_t  req, again;

    memset(&out, 0, sizeof(bb_buf_t));
    err[0] = '\0';

    rc = bb_path_classify(method, path, len, FUZZ_MAX_LEN, &req, err,
                          sizeof(err));

    if (rc != 0) {
        fz_assert(rc == 400 || rc == 403 || rc == 404 || rc == 405);
        fz_check_err(err);
        return;
    }

    fz_assert(len <= FUZZ_MAX_LEN);

    /* nothing an accepted path holds can be decoded or normalized */

    for (i = 0; i < len; i++) {
        fz_assert(path[i] > 0x20 && path[i] < 0x7f);
        fz_assert(strchr("%;\\?#", path[i]) == NULL);
    }

    if (req.kind != BB_PATH_RESOURCE) {
        return;
    }

    fz_assert(req.type.data >= path
              && req.type.data + req.type.len <= path + len);

    rc = bb_path_rewrite(rt, &req, patient, &out, err, sizeof(err));

    if (rc != 0) {
        fz_assert(rc == 403 || rc == 404);
        fz_assert(out.len == 0);
        fz_check_err(err);
        goto done;
    }

    /* the upstream path means the same to the gateway's own parser */

    rc = bb_path_classify(method, out.data, out.len, FUZZ_MAX_LEN * 2,
                          &again, err, sizeof(err));

    fz_assert(rc == 0);
    fz_assert(again.kind == req.kind);
    fz_assert(again.interaction == req.interaction);
    fz_assert(again.post_search == req.post_search);
    fz_assert(again.type.len == req.type.len
              && memcmp(again.type.data, req.type.data, req.type.len) == 0);
    fz_assert(again.vid.len == req.vid.len
              && memcmp(again.vid.data, req.vid.data, req.vid.len) == 0);

    if (rt->override_url_id && req.id.len) {
        fz_assert(again.id.len == strlen(patient)
                  && memcmp(again.id.data, patient, again.id.len) == 0);

    } else {
        fz_assert(again.id.len == req.id.len
                  && memcmp(again.id.data, req.id.data, req.id.len) == 0);
    }

done:

    bb_buf_free(&out);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                       *buf, *path, *query, *form, *sep;
    size_t                      plen, qlen, flen;
    unsigned                    cfg, interaction;
    bb_method_t                 method;
    const char                 *patient;
    const bb_resource_type_t   *rt;

    if (size < 1) {
        return 0;
    }

    cfg = data[0];
    rt = &fz_types[cfg % (sizeof(fz_types) / sizeof(fz_types[0]))];
    interaction = fz_interactions[(cfg >> 3) & 7];
    patient = fz_patients[(cfg >> 6) & 3];
    method = (bb_method_t) (BB_METHOD_GET + (cfg >> 3) % 7);

    /* a copy, so that reading past the input is the sanitizers' to find */

    buf = malloc(size - 1);
    if (buf == NULL && size > 1) {
        return 0;
    }

    if (size > 1) {
        memcpy(buf, data + 1, size - 1);
    }

    path = buf;
    sep = (size > 1) ? memchr(path, 0x01, size - 1) : NULL;
    plen = sep ? (size_t) (sep - path) : size - 1;

    query = sep ? sep + 1 : NULL;
    qlen = 0;
    form = NULL;
    flen = 0;

    if (query) {
        sep = memchr(query, 0x01, buf + size - 1 - query);
        qlen = (sep ? sep : buf + size - 1) - query;

        if (sep) {
            form = sep + 1;
            flen = buf + size - 1 - form;
        }
    }

    fz_path(rt, method, patient, path, plen);

    if (query) {
        fz_query(rt, interaction, patient, query, qlen, form, flen);

    } else {
        fz_query(rt, interaction, patient, path, plen, NULL, 0);
    }

    free(buf);

    return 0;
}
