/*
 * FHIR query rewriting.  The query (and the form body of a POST _search)
 * is decoded once, every parameter is judged on its decoded name, and the
 * upstream receives one canonical query re-encoded from the decoded parts:
 * the client's kept parameters in their order, then the type's search_add
 * pairs, then "_format=json".  Decoding and re-encoding here, rather than
 * passing the client's bytes through, means the upstream cannot read a
 * parameter differently from the way it was judged.
 *
 * A parameter is judged by its base name, the part before the first ':'
 * (modifier) or '.' (chain), compared without regard to case: a client
 * that sends "PATIENT:exact" or "patient.identifier" meets the same
 * control as one sending "patient".
 */

#include <string.h>
#include <strings.h>

#include "bb_request.h"


#define BB_QUERY_MAX_PARAMS  256
#define BB_QUERY_ID_MAX      64


typedef struct {
    const bb_resource_type_t  *rt;
    const char                *patient;
    unsigned                   search;     /* the type's search controls */
    size_t                     nparams;
    size_t                     nout;
    bb_buf_t                  *out;
    bb_buf_t                   name;
    bb_buf_t                   value;
    char                      *err;
    size_t                     errlen;
} bb_query_ctx_t;


static int bb_query_part(bb_query_ctx_t *ctx, const char *s, size_t len);
static int bb_query_param(bb_query_ctx_t *ctx, const char *s, size_t len);
static int bb_query_judge(bb_query_ctx_t *ctx, int has_eq);
static int bb_query_add(bb_query_ctx_t *ctx, const bb_param_t *param);
static int bb_query_hex(unsigned char c);
static int bb_query_decode(bb_buf_t *dst, const char *s, size_t len);
static int bb_query_check_text(const char *s, size_t len);
static int bb_query_valid_name(const char *s, size_t len);
static size_t bb_query_base(const char *s, size_t len);
static int bb_query_listed(const char *base, size_t len, char **list,
    size_t n);
static int bb_query_named(const char *base, size_t len, const char **names);
static int bb_query_widening(const char *base, size_t len);
static int bb_query_result(const char *base, size_t len);
static int bb_query_valid_id(const char *s);
static int bb_query_encode(bb_buf_t *out, const char *s, size_t len);


/* parameters that widen a search past the resources it names */

static const char  *bb_query_widening_names[] = {
    "_has",
    "_include",
    "_revinclude",
    "_filter",
    "_contained",
    "_containedType",
    NULL
};


/* parameters that shape the result and never select resources */

static const char  *bb_query_result_names[] = {
    "_count",
    "_sort",
    "_elements",
    "_summary",
    "_total",
    NULL
};


int
bb_query_rewrite(const bb_resource_type_t *rt, unsigned interaction,
    const char *patient, const char *query, size_t qlen, const char *form,
    size_t flen, bb_buf_t *out, char *err, size_t errlen)
{
    int             rc;
    size_t          i, start;
    bb_query_ctx_t  ctx;

    memset(&ctx, 0, sizeof(bb_query_ctx_t));

    ctx.rt = rt;
    ctx.patient = patient;
    ctx.search = (interaction == BB_SEARCH && rt->override_search);
    ctx.out = out;
    ctx.err = err;
    ctx.errlen = errlen;

    start = out->len;

    if (ctx.search) {
        for (i = 0; i < rt->nsearch_add; i++) {
            if (rt->search_add[i].value == NULL
                || strstr(rt->search_add[i].value, "%PATIENT%") == NULL)
            {
                continue;
            }

            if (patient == NULL) {
                bb_err(err, errlen, "token has no patient");
                rc = 403;
                goto done;
            }

            if (!bb_query_valid_id(patient)) {
                bb_err(err, errlen, "invalid patient claim");
                rc = 403;
                goto done;
            }
        }
    }

    rc = bb_query_part(&ctx, query, qlen);
    if (rc != 0) {
        goto done;
    }

    rc = bb_query_part(&ctx, form, flen);
    if (rc != 0) {
        goto done;
    }

    if (ctx.search) {
        for (i = 0; i < rt->nsearch_add; i++) {
            rc = bb_query_add(&ctx, &rt->search_add[i]);
            if (rc != 0) {
                goto done;
            }
        }
    }

    if ((ctx.nout && bb_buf_append_char(out, '&') != 0)
        || bb_buf_append_str(out, "_format=json") != 0)
    {
        bb_err(err, errlen, "out of memory");
        rc = 500;
        goto done;
    }

    rc = 0;

done:

    if (rc != 0) {
        out->len = start;

        if (out->data) {
            out->data[start] = '\0';
        }
    }

    bb_buf_free(&ctx.name);
    bb_buf_free(&ctx.value);

    return rc;
}


static int
bb_query_part(bb_query_ctx_t *ctx, const char *s, size_t len)
{
    int          rc;
    const char  *p, *end, *amp;

    if (s == NULL) {
        return 0;
    }

    p = s;
    end = s + len;

    while (p < end) {
        amp = memchr(p, '&', end - p);
        if (amp == NULL) {
            amp = end;
        }

        if (amp > p) {
            if (++ctx->nparams > BB_QUERY_MAX_PARAMS) {
                bb_err(ctx->err, ctx->errlen, "too many query parameters");
                return 400;
            }

            rc = bb_query_param(ctx, p, amp - p);
            if (rc != 0) {
                return rc;
            }
        }

        p = amp + 1;
    }

    return 0;
}


static int
bb_query_param(bb_query_ctx_t *ctx, const char *s, size_t len)
{
    int          rc;
    const char  *eq;

    eq = memchr(s, '=', len);

    ctx->name.len = 0;
    ctx->value.len = 0;

    rc = bb_query_decode(&ctx->name, s, eq ? (size_t) (eq - s) : len);

    if (rc == 0 && eq) {
        rc = bb_query_decode(&ctx->value, eq + 1, len - (eq + 1 - s));
    }

    if (rc == -2) {
        bb_err(ctx->err, ctx->errlen, "out of memory");
        return 500;
    }

    if (rc != 0) {
        bb_err(ctx->err, ctx->errlen, "invalid percent-encoding in query");
        return 400;
    }

    rc = bb_query_check_text(ctx->name.data, ctx->name.len);

    if (rc == 0) {
        rc = bb_query_check_text(ctx->value.data, ctx->value.len);
    }

    if (rc == -1) {
        bb_err(ctx->err, ctx->errlen, "control character in query");
        return 400;
    }

    if (rc != 0) {
        bb_err(ctx->err, ctx->errlen, "invalid utf-8 in query");
        return 400;
    }

    return bb_query_judge(ctx, eq != NULL);
}


int
bb_param_passes(const bb_resource_type_t *rt, int search, const char *base,
    size_t len)
{
    size_t    i;
    unsigned  widening;

    widening = bb_query_widening(base, len);

    if (widening) {
        return bb_query_listed(base, len, rt->widening_allow,
                               rt->nwidening_allow);
    }

    if (!search) {
        return 1;
    }

    if (bb_query_listed(base, len, rt->search_block, rt->nsearch_block)) {
        return 0;
    }

    /*
     * A client's own value for a parameter the type adds could widen or
     * contradict the added one, whatever modifier or chain it has.
     */

    for (i = 0; i < rt->nsearch_add; i++) {
        if (bb_query_listed(base, len, &rt->search_add[i].name, 1)) {
            return 0;
        }
    }

    if (rt->has_search_allow
        && !bb_query_result(base, len)
        && !bb_query_listed(base, len, rt->search_allow, rt->nsearch_allow))
    {
        return 0;
    }

    return 1;
}


static int
bb_query_judge(bb_query_ctx_t *ctx, int has_eq)
{
    char                       quoted[BB_QUOTE_SIZE];
    size_t                     blen;
    unsigned                   blocked;
    const char                *name;
    const bb_resource_type_t  *rt;

    rt = ctx->rt;
    name = ctx->name.data;

    if (!bb_query_valid_name(name, ctx->name.len)) {
        bb_quote(quoted, sizeof(quoted), name, ctx->name.len);
        bb_err(ctx->err, ctx->errlen, "invalid parameter name \"%s\"",
               quoted);
        return 400;
    }

    blen = bb_query_base(name, ctx->name.len);

    /* the gateway answers JSON only: the client's choice is replaced */

    if (blen == 7 && strncasecmp(name, "_format", 7) == 0) {
        return 0;
    }

    blocked = !bb_param_passes(rt, ctx->search, name, blen);

    if (blocked) {
        if (rt->search_action == BB_SEARCH_DROP) {
            return 0;
        }

        bb_quote(quoted, sizeof(quoted), name, ctx->name.len);
        bb_err(ctx->err, ctx->errlen,
               "search parameter \"%s\" is not allowed", quoted);
        return 400;
    }

    if ((ctx->nout && bb_buf_append_char(ctx->out, '&') != 0)
        || bb_query_encode(ctx->out, name, ctx->name.len) != 0
        || (has_eq && bb_buf_append_char(ctx->out, '=') != 0)
        || bb_query_encode(ctx->out, ctx->value.data, ctx->value.len) != 0)
    {
        bb_err(ctx->err, ctx->errlen, "out of memory");
        return 500;
    }

    ctx->nout++;

    return 0;
}


static int
bb_query_add(bb_query_ctx_t *ctx, const bb_param_t *param)
{
    const char  *p, *var;

    if (param->name == NULL) {
        return 0;
    }

    ctx->value.len = 0;

    p = param->value ? param->value : "";

    while ((var = strstr(p, "%PATIENT%")) != NULL) {
        if (bb_buf_append(&ctx->value, p, var - p) != 0
            || bb_buf_append_str(&ctx->value, ctx->patient) != 0)
        {
            goto failed;
        }

        p = var + sizeof("%PATIENT%") - 1;
    }

    if (bb_buf_append_str(&ctx->value, p) != 0) {
        goto failed;
    }

    if ((ctx->nout && bb_buf_append_char(ctx->out, '&') != 0)
        || bb_query_encode(ctx->out, param->name, strlen(param->name)) != 0
        || bb_buf_append_char(ctx->out, '=') != 0
        || bb_query_encode(ctx->out, ctx->value.data, ctx->value.len) != 0)
    {
        goto failed;
    }

    ctx->nout++;

    return 0;

failed:

    bb_err(ctx->err, ctx->errlen, "out of memory");

    return 500;
}


static int
bb_query_hex(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


/*
 * application/x-www-form-urlencoded decoding into dst, which is left
 * NUL-terminated.  Returns 0, -1 for a bad escape, -2 for lack of memory.
 */

static int
bb_query_decode(bb_buf_t *dst, const char *s, size_t len)
{
    int            hi, lo;
    char          *d;
    size_t         i;
    unsigned char  c;

    if (bb_buf_reserve(dst, len) != 0) {
        return -2;
    }

    d = dst->data + dst->len;

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if (c == '+') {
            c = ' ';

        } else if (c == '%') {
            if (len - i < 3) {
                return -1;
            }

            hi = bb_query_hex((unsigned char) s[i + 1]);
            lo = bb_query_hex((unsigned char) s[i + 2]);

            if (hi < 0 || lo < 0) {
                return -1;
            }

            c = (unsigned char) (hi << 4 | lo);
            i += 2;
        }

        *d++ = (char) c;
    }

    dst->len = d - dst->data;
    dst->data[dst->len] = '\0';

    return 0;
}


/*
 * Decoded text must be UTF-8 without control characters.  Returns 0, -1
 * for a control character (NUL included), -2 for invalid UTF-8.
 */

static int
bb_query_check_text(const char *s, size_t len)
{
    size_t         i, n, k;
    uint32_t       cp;
    unsigned char  c;

    for (i = 0; i < len; i += n) {
        c = (unsigned char) s[i];

        if (c < 0x20 || c == 0x7f) {
            return -1;
        }

        if (c < 0x80) {
            n = 1;
            continue;
        }

        if (c >= 0xc2 && c <= 0xdf) {
            n = 2;
            cp = c & 0x1f;

        } else if (c >= 0xe0 && c <= 0xef) {
            n = 3;
            cp = c & 0x0f;

        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 4;
            cp = c & 0x07;

        } else {
            return -2;
        }

        if (len - i < n) {
            return -2;
        }

        for (k = 1; k < n; k++) {
            c = (unsigned char) s[i + k];

            if ((c & 0xc0) != 0x80) {
                return -2;
            }

            cp = cp << 6 | (c & 0x3f);
        }

        /* overlong forms, UTF-16 surrogates, past U+10FFFF */

        if ((n == 3 && cp < 0x800)
            || (n == 4 && cp < 0x10000)
            || (cp >= 0xd800 && cp <= 0xdfff)
            || cp > 0x10ffff)
        {
            return -2;
        }
    }

    return 0;
}


/*
 * FHIR parameter names, with their modifiers and chains, use letters,
 * digits, '_', '-', ':' and '.' and start with a letter or '_'.  Anything
 * else (spaces, brackets, non-ASCII) is refused rather than passed on to
 * an upstream that might trim or fold it into a controlled name.
 */

static int
bb_query_valid_name(const char *s, size_t len)
{
    size_t         i;
    unsigned char  c;

    if (len == 0) {
        return 0;
    }

    c = (unsigned char) s[0];

    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_')) {
        return 0;
    }

    for (i = 1; i < len; i++) {
        c = (unsigned char) s[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9')
              || c == '_' || c == '-' || c == ':' || c == '.'))
        {
            return 0;
        }
    }

    return 1;
}


static size_t
bb_query_base(const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (s[i] == ':' || s[i] == '.') {
            break;
        }
    }

    return i;
}


/* is the base name in the list, whose entries count by their base too */

static int
bb_query_listed(const char *base, size_t len, char **list, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (list[i] != NULL
            && bb_query_base(list[i], strlen(list[i])) == len
            && strncasecmp(list[i], base, len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


static int
bb_query_named(const char *base, size_t len, const char **names)
{
    for ( /* void */ ; *names; names++) {
        if (strlen(*names) == len && strncasecmp(*names, base, len) == 0) {
            return 1;
        }
    }

    return 0;
}


static int
bb_query_widening(const char *base, size_t len)
{
    return bb_query_named(base, len, bb_query_widening_names);
}


static int
bb_query_result(const char *base, size_t len)
{
    return bb_query_named(base, len, bb_query_result_names);
}


/* the patient claim as a FHIR id: [A-Za-z0-9\-\.]{1,64} */

static int
bb_query_valid_id(const char *s)
{
    size_t         i;
    unsigned char  c;

    for (i = 0; s[i]; i++) {
        c = (unsigned char) s[i];

        if (i == BB_QUERY_ID_MAX
            || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
                 || (c >= '0' && c <= '9') || c == '-' || c == '.'))
        {
            return 0;
        }
    }

    return i > 0;
}


/*
 * Percent-encode all but the unreserved characters and a few that RFC 3986
 * allows in a query, are common in FHIR values and mean nothing to a query
 * parser (':' ',' '/' '*' '@' '!' '$').  '|' (token system|code) is not
 * among them, so it goes as %7C.  '=', '&', '+', '%', '#', ';', '?',
 * spaces and quotes are always encoded, so a value survives whole.
 */

static int
bb_query_encode(bb_buf_t *out, const char *s, size_t len)
{
    static const char  hex[] = "0123456789ABCDEF";

    char           *d;
    size_t          i;
    unsigned char   c;

    if (len > (SIZE_MAX - 1) / 3 || bb_buf_reserve(out, len * 3) != 0) {
        return -1;
    }

    d = out->data + out->len;

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
            || (c >= '0' && c <= '9')
            || c == '-' || c == '.' || c == '_' || c == '~'
            || c == ':' || c == ',' || c == '/'
            || c == '*' || c == '@' || c == '!' || c == '$')
        {
            *d++ = (char) c;
            continue;
        }

        *d++ = '%';
        *d++ = hex[c >> 4];
        *d++ = hex[c & 0xf];
    }

    out->len = d - out->data;
    out->data[out->len] = '\0';

    return 0;
}


