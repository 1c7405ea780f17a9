/*
 * The policy document parser.  The document is read whole with jansson,
 * refusing duplicate keys and every field it does not know, so that a typo
 * never silently weakens what the gateway enforces.  Each error names the
 * JSON path of the problem and quotes the bad value.  The parsed form keeps
 * resource types sorted by name and revoked token ids sorted by jti, so that
 * the per-request lookups are binary searches.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "bb_jwt.h"
#include "bb_policy.h"


#define BB_POLICY_VERSION      1
#define BB_POLICY_MAX_SIZE     (16 * 1024 * 1024)
#define BB_POLICY_MAX_KEYS     64

#define BB_POLICY_URL_MAX      2048
#define BB_POLICY_SERIAL_MAX   256
#define BB_POLICY_JTI_MAX      256
#define BB_POLICY_TYPE_MAX     64
#define BB_POLICY_FIELD_MAX    64
#define BB_POLICY_PARAM_MAX    128
#define BB_POLICY_VALUE_MAX    1024

#define BB_POLICY_PATH_LEN     256
#define BB_POLICY_QUOTE_LEN    80
#define BB_POLICY_MSG_LEN      512


typedef struct {
    char                *err;
    size_t               errlen;
} bb_policy_ctx_t;


typedef struct {
    const char          *name;
    unsigned             bit;
} bb_interaction_name_t;


static const bb_interaction_name_t  bb_interaction_names[] = {
    { "read",    BB_READ },
    { "vread",   BB_VREAD },
    { "search",  BB_SEARCH },
    { "history", BB_HISTORY },
    { "create",  BB_CREATE },
    { "update",  BB_UPDATE },
    { "delete",  BB_DELETE },
    { NULL, 0 }
};


static const char  *bb_policy_fields[] = {
    "policy_version", "serial", "issuer", "audience", "keys",
    "resource_types", "revoked", NULL
};


static const char  *bb_type_fields[] = {
    "interactions", "override_url_id", "url_id_mismatch", "override_search",
    "search_block", "search_add", "search_allow", "widening_allow",
    "search_action", "patient_reference", NULL
};


static const char  *bb_revoked_fields[] = {
    "jti", "exp", NULL
};


static int bb_policy_fail(bb_policy_ctx_t *ctx, const char *path,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void bb_policy_path(char *path, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static const char *bb_policy_quote_str(const char *s, size_t len, char *buf,
    size_t size);
static const char *bb_policy_quote(json_t *v, char *buf, size_t size);
static void bb_policy_printable(char *s);
static int bb_policy_known(bb_policy_ctx_t *ctx, json_t *obj,
    const char *path, const char **fields);
static int bb_policy_expect(bb_policy_ctx_t *ctx, json_t *v, json_type type,
    const char *path);
static const char *bb_policy_string(bb_policy_ctx_t *ctx, json_t *v,
    const char *path, size_t max);
static int bb_policy_strdup(bb_policy_ctx_t *ctx, json_t *v,
    const char *path, size_t max, char **out);
static int bb_policy_keys(bb_policy_ctx_t *ctx, bb_policy_t *policy,
    json_t *jwks);
static int bb_policy_types(bb_policy_ctx_t *ctx, bb_policy_t *policy,
    json_t *types);
static int bb_policy_type_parse(bb_policy_ctx_t *ctx, bb_resource_type_t *rt,
    const char *name, json_t *obj, const char *path);
static int bb_policy_interactions(bb_policy_ctx_t *ctx,
    bb_resource_type_t *rt, json_t *v, const char *path);
static int bb_policy_flag(bb_policy_ctx_t *ctx, json_t *v, const char *path,
    int *out);
static int bb_policy_choice(bb_policy_ctx_t *ctx, json_t *v,
    const char *path, const char *a, const char *b, int *out);
static int bb_policy_param_name(const char *s, size_t len);
static int bb_policy_names(bb_policy_ctx_t *ctx, json_t *v, const char *path,
    char ***out, size_t *n);
static int bb_policy_adds(bb_policy_ctx_t *ctx, bb_resource_type_t *rt,
    json_t *v, const char *path);
static int bb_policy_revoked_parse(bb_policy_ctx_t *ctx, bb_policy_t *policy,
    json_t *v);
static void bb_names_free(char **names, size_t n);
static int bb_type_cmp(const void *a, const void *b);
static int bb_revoked_cmp(const void *a, const void *b);
static int bb_lencmp(const char *s, size_t len, const char *cstr);


bb_policy_t *
bb_policy_parse(const char *json, size_t len, char *err, size_t errlen)
{
    json_t           *root, *v;
    bb_policy_t      *policy;
    json_error_t      jerr;
    bb_policy_ctx_t   ctx;
    char              q[BB_POLICY_QUOTE_LEN];

    ctx.err = err;
    ctx.errlen = errlen;

    policy = NULL;

    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        bb_policy_printable(jerr.text);
        bb_err(err, errlen, "line %d column %d: %s",
               jerr.line, jerr.column, jerr.text);
        return NULL;
    }

    if (!json_is_object(root)) {
        bb_policy_fail(&ctx, "", "expected an object, got %s",
                       bb_policy_quote(root, q, sizeof(q)));
        goto failed;
    }

    /*
     * The version comes first: a document of another version is refused
     * for that reason rather than for the fields it may have added.
     */

    v = json_object_get(root, "policy_version");
    if (v == NULL) {
        bb_policy_fail(&ctx, "", "missing \"policy_version\"");
        goto failed;
    }

    if (!json_is_integer(v)) {
        bb_policy_fail(&ctx, "policy_version", "expected an integer, got %s",
                       bb_policy_quote(v, q, sizeof(q)));
        goto failed;
    }

    if (json_integer_value(v) != BB_POLICY_VERSION) {
        bb_policy_fail(&ctx, "policy_version",
                       "unsupported version %" JSON_INTEGER_FORMAT
                       " (expected %d)",
                       json_integer_value(v), BB_POLICY_VERSION);
        goto failed;
    }

    if (bb_policy_known(&ctx, root, "", bb_policy_fields) != 0) {
        goto failed;
    }

    policy = calloc(1, sizeof(bb_policy_t));
    if (policy == NULL) {
        bb_policy_fail(&ctx, "", "out of memory");
        goto failed;
    }

    v = json_object_get(root, "serial");
    if (v != NULL
        && bb_policy_strdup(&ctx, v, "serial", BB_POLICY_SERIAL_MAX,
                            &policy->serial)
           != 0)
    {
        goto failed;
    }

    v = json_object_get(root, "issuer");
    if (v == NULL) {
        bb_policy_fail(&ctx, "", "missing \"issuer\"");
        goto failed;
    }

    if (bb_policy_strdup(&ctx, v, "issuer", BB_POLICY_URL_MAX,
                         &policy->issuer)
        != 0)
    {
        goto failed;
    }

    v = json_object_get(root, "audience");
    if (v == NULL) {
        bb_policy_fail(&ctx, "", "missing \"audience\"");
        goto failed;
    }

    if (bb_policy_strdup(&ctx, v, "audience", BB_POLICY_URL_MAX,
                         &policy->audience)
        != 0)
    {
        goto failed;
    }

    v = json_object_get(root, "keys");
    if (v == NULL) {
        bb_policy_fail(&ctx, "", "missing \"keys\"");
        goto failed;
    }

    if (bb_policy_keys(&ctx, policy, v) != 0) {
        goto failed;
    }

    v = json_object_get(root, "resource_types");
    if (v == NULL) {
        bb_policy_fail(&ctx, "", "missing \"resource_types\"");
        goto failed;
    }

    if (bb_policy_types(&ctx, policy, v) != 0) {
        goto failed;
    }

    v = json_object_get(root, "revoked");
    if (v != NULL && bb_policy_revoked_parse(&ctx, policy, v) != 0) {
        goto failed;
    }

    json_decref(root);

    return policy;

failed:

    bb_policy_free(policy);
    json_decref(root);

    return NULL;
}


bb_policy_t *
bb_policy_load(const char *path, char *err, size_t errlen)
{
    int           fd;
    char         *data, *p;
    size_t        len, cap;
    ssize_t       n;
    struct stat   st;
    bb_policy_t  *policy;

    data = NULL;
    policy = NULL;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        bb_err(err, errlen, "open() failed: %s", strerror(errno));
        return NULL;
    }

    if (fstat(fd, &st) == -1) {
        bb_err(err, errlen, "fstat() failed: %s", strerror(errno));
        goto done;
    }

    if (!S_ISREG(st.st_mode)) {
        bb_err(err, errlen, "not a regular file");
        goto done;
    }

    if (st.st_size > BB_POLICY_MAX_SIZE) {
        bb_err(err, errlen, "file too large (%lld bytes, at most %d)",
               (long long) st.st_size, BB_POLICY_MAX_SIZE);
        goto done;
    }

    /*
     * The size from fstat() is a hint only: the file may be growing, so
     * reading stops at the limit plus one byte, which then refuses it.
     */

    cap = (size_t) st.st_size + 1;
    len = 0;

    data = malloc(cap);
    if (data == NULL) {
        bb_err(err, errlen, "out of memory");
        goto done;
    }

    for ( ;; ) {

        if (len == cap) {
            if (cap > BB_POLICY_MAX_SIZE) {
                bb_err(err, errlen, "file too large (more than %d bytes)",
                       BB_POLICY_MAX_SIZE);
                goto done;
            }

            cap = cap * 2 > BB_POLICY_MAX_SIZE + 1
                  ? BB_POLICY_MAX_SIZE + 1 : cap * 2;

            p = realloc(data, cap);
            if (p == NULL) {
                bb_err(err, errlen, "out of memory");
                goto done;
            }

            data = p;
        }

        n = read(fd, data + len, cap - len);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }

            bb_err(err, errlen, "read() failed: %s", strerror(errno));
            goto done;
        }

        if (n == 0) {
            break;
        }

        len += (size_t) n;
    }

    if (len > BB_POLICY_MAX_SIZE) {
        bb_err(err, errlen, "file too large (more than %d bytes)",
               BB_POLICY_MAX_SIZE);
        goto done;
    }

    policy = bb_policy_parse(data, len, err, errlen);

done:

    free(data);
    close(fd);

    return policy;
}


void
bb_policy_free(bb_policy_t *policy)
{
    size_t  i;

    if (policy == NULL) {
        return;
    }

    free(policy->serial);
    free(policy->issuer);
    free(policy->audience);

    for (i = 0; i < policy->nkeys; i++) {
        bb_key_clear(&policy->keys[i]);
    }

    free(policy->keys);

    for (i = 0; i < policy->ntypes; i++) {
        bb_type_free(&policy->types[i]);
    }

    free(policy->types);

    for (i = 0; i < policy->nrevoked; i++) {
        free(policy->revoked[i].jti);
    }

    free(policy->revoked);
    free(policy);
}


const bb_resource_type_t *
bb_policy_type(const bb_policy_t *policy, const char *name, size_t len)
{
    int     c;
    size_t  lo, hi, mid;

    lo = 0;
    hi = policy->ntypes;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        c = bb_lencmp(name, len, policy->types[mid].name);

        if (c == 0) {
            return &policy->types[mid];
        }

        if (c < 0) {
            hi = mid;

        } else {
            lo = mid + 1;
        }
    }

    return NULL;
}


const bb_key_t *
bb_policy_key(const bb_policy_t *policy, const char *kid, size_t len)
{
    size_t  i;

    /* a policy holds at most BB_POLICY_MAX_KEYS keys */

    for (i = 0; i < policy->nkeys; i++) {
        if (policy->keys[i].kid != NULL
            && bb_lencmp(kid, len, policy->keys[i].kid) == 0)
        {
            return &policy->keys[i];
        }
    }

    return NULL;
}


int
bb_policy_revoked(const bb_policy_t *policy, const char *jti, size_t len)
{
    int     c;
    size_t  lo, hi, mid;

    lo = 0;
    hi = policy->nrevoked;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        c = bb_lencmp(jti, len, policy->revoked[mid].jti);

        if (c == 0) {
            return 1;
        }

        if (c < 0) {
            hi = mid;

        } else {
            lo = mid + 1;
        }
    }

    return 0;
}


int
bb_type_needs_patient(const bb_resource_type_t *rt)
{
    size_t  i;

    if (rt->override_url_id || rt->patient_reference != NULL) {
        return 1;
    }

    for (i = 0; i < rt->nsearch_add; i++) {
        if (strstr(rt->search_add[i].value, "%PATIENT%") != NULL) {
            return 1;
        }
    }

    return 0;
}


int
bb_type_parse(bb_resource_type_t *rt, const char *name, json_t *obj,
    const char *path, char *err, size_t errlen)
{
    bb_policy_ctx_t  ctx;

    ctx.err = err;
    ctx.errlen = errlen;

    return bb_policy_type_parse(&ctx, rt, name, obj, path);
}


/* [A-Z][A-Za-z]{0,63}: the names FHIR gives its resource types */

int
bb_type_name_valid(const char *name, size_t len)
{
    size_t  i;

    if (len == 0 || len > BB_POLICY_TYPE_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((name[i] >= 'A' && name[i] <= 'Z')
              || (i > 0 && name[i] >= 'a' && name[i] <= 'z')))
        {
            return 0;
        }
    }

    return 1;
}


static int
bb_policy_fail(bb_policy_ctx_t *ctx, const char *path, const char *fmt, ...)
{
    char     msg[BB_POLICY_MSG_LEN];
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    if (path[0] == '\0') {
        bb_err(ctx->err, ctx->errlen, "%s", msg);

    } else {
        bb_err(ctx->err, ctx->errlen, "%s: %s", path, msg);
    }

    return -1;
}


static void
bb_policy_path(char *path, size_t size, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(path, size, fmt, ap);
    va_end(ap);
}


/*
 * Quote a string for an error message: printable ASCII as is, anything else
 * as \xNN, cut with "..." when long, so that a message stays one short line
 * whatever the document holds.
 */

static const char *
bb_policy_quote_str(const char *s, size_t len, char *buf, size_t size)
{
    size_t          i, pos, w;
    unsigned char   c;
    char            tmp[5];

    pos = 0;
    buf[pos++] = '"';

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if (c == '"' || c == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char) c;
            w = 2;

        } else if (c < 0x20 || c >= 0x7f) {
            snprintf(tmp, sizeof(tmp), "\\x%02x", c);
            w = 4;

        } else {
            tmp[0] = (char) c;
            w = 1;
        }

        /* room for this character and for a closing "...\"" */

        if (pos + w + 5 > size) {
            memcpy(buf + pos, "...", 3);
            pos += 3;
            break;
        }

        memcpy(buf + pos, tmp, w);
        pos += w;
    }

    buf[pos++] = '"';
    buf[pos] = '\0';

    return buf;
}


static const char *
bb_policy_quote(json_t *v, char *buf, size_t size)
{
    switch (json_typeof(v)) {

    case JSON_STRING:
        return bb_policy_quote_str(json_string_value(v),
                                   json_string_length(v), buf, size);

    case JSON_INTEGER:
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;

    case JSON_REAL:
        snprintf(buf, size, "%g", json_real_value(v));
        return buf;

    case JSON_TRUE:
        return "true";

    case JSON_FALSE:
        return "false";

    case JSON_NULL:
        return "null";

    case JSON_OBJECT:
        return "an object";

    default:
        return "an array";
    }
}


/*
 * jansson's messages quote the bytes near a syntax error as they are: a
 * message must stay printable ASCII whatever the file holds.
 */

static void
bb_policy_printable(char *s)
{
    for ( /* void */ ; *s; s++) {
        if ((unsigned char) *s < 0x20 || (unsigned char) *s >= 0x7f) {
            *s = '?';
        }
    }
}


static int
bb_policy_known(bb_policy_ctx_t *ctx, json_t *obj, const char *path,
    const char **fields)
{
    size_t       i;
    json_t      *v;
    const char  *key;
    char         q[BB_POLICY_QUOTE_LEN];

    json_object_foreach(obj, key, v) {

        for (i = 0; fields[i] != NULL; i++) {
            if (strcmp(key, fields[i]) == 0) {
                break;
            }
        }

        if (fields[i] == NULL) {
            return bb_policy_fail(ctx, path, "unknown field %s",
                                  bb_policy_quote_str(key, strlen(key), q,
                                                      sizeof(q)));
        }
    }

    return 0;
}


static int
bb_policy_expect(bb_policy_ctx_t *ctx, json_t *v, json_type type,
    const char *path)
{
    const char  *what;
    char         q[BB_POLICY_QUOTE_LEN];

    if (json_typeof(v) == type) {
        return 0;
    }

    switch (type) {

    case JSON_OBJECT:
        what = "an object";
        break;

    case JSON_ARRAY:
        what = "an array";
        break;

    case JSON_STRING:
        what = "a string";
        break;

    case JSON_INTEGER:
        what = "an integer";
        break;

    default:
        what = "true or false";
        break;
    }

    return bb_policy_fail(ctx, path, "expected %s, got %s", what,
                          bb_policy_quote(v, q, sizeof(q)));
}


/*
 * Every string of the document may end up in a log line or a header, so
 * none may be empty, overly long or hold a control character.
 */

static const char *
bb_policy_string(bb_policy_ctx_t *ctx, json_t *v, const char *path,
    size_t max)
{
    size_t       i, len;
    const char  *s;
    char         q[BB_POLICY_QUOTE_LEN];

    if (!json_is_string(v) || json_string_length(v) == 0) {
        bb_policy_fail(ctx, path, "expected a non-empty string, got %s",
                       bb_policy_quote(v, q, sizeof(q)));
        return NULL;
    }

    s = json_string_value(v);
    len = json_string_length(v);

    if (len > max) {
        bb_policy_fail(ctx, path, "%s is longer than %zu bytes",
                       bb_policy_quote(v, q, sizeof(q)), max);
        return NULL;
    }

    for (i = 0; i < len; i++) {
        if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) {
            bb_policy_fail(ctx, path, "%s holds a control character",
                           bb_policy_quote(v, q, sizeof(q)));
            return NULL;
        }
    }

    return s;
}


static int
bb_policy_strdup(bb_policy_ctx_t *ctx, json_t *v, const char *path,
    size_t max, char **out)
{
    const char  *s;

    s = bb_policy_string(ctx, v, path, max);
    if (s == NULL) {
        return -1;
    }

    *out = strdup(s);
    if (*out == NULL) {
        return bb_policy_fail(ctx, path, "out of memory");
    }

    return 0;
}


/*
 * "keys" is a JWK Set (RFC 7517 section 5): members other than "keys" are
 * ignored as that RFC asks.  Each key is imported once, here, so that no
 * request ever parses key material.
 */

static int
bb_policy_keys(bb_policy_ctx_t *ctx, bb_policy_t *policy, json_t *jwks)
{
    size_t   i, j, n;
    json_t  *keys, *jwk;
    char     path[BB_POLICY_PATH_LEN], q[BB_POLICY_QUOTE_LEN];
    char     kerr[BB_POLICY_MSG_LEN];

    if (bb_policy_expect(ctx, jwks, JSON_OBJECT, "keys") != 0) {
        return -1;
    }

    keys = json_object_get(jwks, "keys");
    if (keys == NULL) {
        return bb_policy_fail(ctx, "keys", "missing \"keys\"");
    }

    if (bb_policy_expect(ctx, keys, JSON_ARRAY, "keys.keys") != 0) {
        return -1;
    }

    n = json_array_size(keys);

    if (n == 0) {
        return bb_policy_fail(ctx, "keys.keys", "no key");
    }

    if (n > BB_POLICY_MAX_KEYS) {
        return bb_policy_fail(ctx, "keys.keys", "%zu keys, at most %d",
                              n, BB_POLICY_MAX_KEYS);
    }

    policy->keys = calloc(n, sizeof(bb_key_t));
    if (policy->keys == NULL) {
        return bb_policy_fail(ctx, "keys.keys", "out of memory");
    }

    json_array_foreach(keys, i, jwk) {

        bb_policy_path(path, sizeof(path), "keys.keys[%zu]", i);

        if (bb_policy_expect(ctx, jwk, JSON_OBJECT, path) != 0) {
            return -1;
        }

        /* the slot is counted first so that bb_policy_free() clears it */

        policy->nkeys++;

        kerr[0] = '\0';

        if (bb_key_from_jwk(&policy->keys[i], jwk, kerr, sizeof(kerr)) != 0) {
            return bb_policy_fail(ctx, path, "%s",
                                  kerr[0] ? kerr : "invalid key");
        }

        if (policy->keys[i].kid == NULL) {
            return bb_policy_fail(ctx, path, "missing \"kid\"");
        }

        for (j = 0; j < i; j++) {
            if (strcmp(policy->keys[j].kid, policy->keys[i].kid) == 0) {
                return bb_policy_fail(ctx, path, "duplicate kid %s",
                                      bb_policy_quote_str(
                                          policy->keys[i].kid,
                                          strlen(policy->keys[i].kid),
                                          q, sizeof(q)));
            }
        }
    }

    return 0;
}


static int
bb_policy_types(bb_policy_ctx_t *ctx, bb_policy_t *policy, json_t *types)
{
    size_t       n;
    json_t      *v;
    const char  *name;
    char         path[BB_POLICY_PATH_LEN], q[BB_POLICY_QUOTE_LEN];

    if (bb_policy_expect(ctx, types, JSON_OBJECT, "resource_types") != 0) {
        return -1;
    }

    n = json_object_size(types);
    if (n == 0) {
        return 0;
    }

    policy->types = calloc(n, sizeof(bb_resource_type_t));
    if (policy->types == NULL) {
        return bb_policy_fail(ctx, "resource_types", "out of memory");
    }

    json_object_foreach(types, name, v) {

        n = strlen(name);

        if (!bb_type_name_valid(name, n)) {
            return bb_policy_fail(ctx, "resource_types",
                                  "invalid type name %s",
                                  bb_policy_quote_str(name, n, q, sizeof(q)));
        }

        bb_policy_path(path, sizeof(path), "resource_types.%s", name);

        if (bb_policy_type_parse(ctx, &policy->types[policy->ntypes], name,
                                 v, path)
            != 0)
        {
            /* the partly filled slot is freed with the others */

            policy->ntypes++;
            return -1;
        }

        policy->ntypes++;
    }

    qsort(policy->types, policy->ntypes, sizeof(bb_resource_type_t),
          bb_type_cmp);

    return 0;
}


static int
bb_policy_type_parse(bb_policy_ctx_t *ctx, bb_resource_type_t *rt,
    const char *name, json_t *obj, const char *path)
{
    int          flag;
    json_t      *v;
    const char  *s, *dot;
    char         fpath[BB_POLICY_PATH_LEN], q[BB_POLICY_QUOTE_LEN];

    flag = 0;

    /* an empty path (a type parsed alone) names fields without a prefix */

    dot = path[0] ? "." : "";

    rt->name = strdup(name);
    if (rt->name == NULL) {
        return bb_policy_fail(ctx, path, "out of memory");
    }

    if (bb_policy_expect(ctx, obj, JSON_OBJECT, path) != 0) {
        return -1;
    }

    if (bb_policy_known(ctx, obj, path, bb_type_fields) != 0) {
        return -1;
    }

    v = json_object_get(obj, "interactions");
    if (v != NULL) {
        bb_policy_path(fpath, sizeof(fpath), "%s%sinteractions", path, dot);

        if (bb_policy_interactions(ctx, rt, v, fpath) != 0) {
            return -1;
        }
    }

    v = json_object_get(obj, "override_url_id");
    if (v != NULL) {
        bb_policy_path(fpath, sizeof(fpath), "%s%soverride_url_id", path, dot);

        if (bb_policy_flag(ctx, v, fpath, &flag) != 0) {
            return -1;
        }

        rt->override_url_id = flag;
    }

    v = json_object_get(obj, "url_id_mismatch");
    if (v != NULL) {
        bb_policy_path(fpath, sizeof(fpath), "%s%surl_id_mismatch", path, dot);

        if (bb_policy_choice(ctx, v, fpath, "override", "not_found", &flag)
            != 0)
        {
            return -1;
        }

        rt->url_id_mismatch = flag ? BB_ID_NOT_FOUND : BB_ID_OVERRIDE;
    }

    v = json_object_get(obj, "override_search");
    if (v != NULL) {
        bb_policy_path(fpath, sizeof(fpath), "%s%soverride_search", path, dot);

        if (bb_policy_flag(ctx, v, fpath, &flag) != 0) {
            return -1;
        }

        rt->override_search = flag;
    }

    v = json_object_get(obj, "search_block");
    if (v != NULL) {
        bb_policy_path(fpath, sizeof(fpath), "%s%ssearch_block", path, dot);

        if (bb_policy_names(ctx, v, fpath, &rt->search_block,
                            &rt->nsearch_block)
            != 0)
        {
            return -1;
        }
    }

    v = json_object_get(obj, "search_add");
    if (v != NULL) {
        bb_policy_path(fpath, sizeof(fpath), "%s%ssearch_add", path, dot);

        if (bb_policy_adds(ctx, rt, v, fpath) != 0) {
            return -1;
        }
    }

    v = json_object_get(obj, "search_allow");
    if (v != NULL) {
        bb_policy_path(fpath, sizeof(fpath), "%s%ssearch_allow", path, dot);

        if (bb_policy_names(ctx, v, fpath, &rt->search_allow,
                            &rt->nsearch_allow)
            != 0)
        {
            return -1;
        }

        rt->has_search_allow = 1;
    }

    v = json_object_get(obj, "widening_allow");
    if (v != NULL) {
        bb_policy_path(fpath, sizeof(fpath), "%s%swidening_allow", path, dot);

        if (bb_policy_names(ctx, v, fpath, &rt->widening_allow,
                            &rt->nwidening_allow)
            != 0)
        {
            return -1;
        }
    }

    v = json_object_get(obj, "search_action");
    if (v != NULL) {
        bb_policy_path(fpath, sizeof(fpath), "%s%ssearch_action", path, dot);

        if (bb_policy_choice(ctx, v, fpath, "drop", "refuse", &flag) != 0) {
            return -1;
        }

        rt->search_action = flag ? BB_SEARCH_REFUSE : BB_SEARCH_DROP;
    }

    v = json_object_get(obj, "patient_reference");
    if (v != NULL) {
        bb_policy_path(fpath, sizeof(fpath), "%s%spatient_reference", path,
                       dot);

        s = bb_policy_string(ctx, v, fpath, BB_POLICY_FIELD_MAX);
        if (s == NULL) {
            return -1;
        }

        if (strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "abcdefghijklmnopqrstuvwxyz")
            != strlen(s))
        {
            return bb_policy_fail(ctx, fpath, "invalid field name %s",
                                  bb_policy_quote(v, q, sizeof(q)));
        }

        rt->patient_reference = strdup(s);
        if (rt->patient_reference == NULL) {
            return bb_policy_fail(ctx, fpath, "out of memory");
        }
    }

    /*
     * Controls that only take effect together with another one: alone they
     * would read as protection the gateway does not give.
     */

    if (!rt->override_url_id && json_object_get(obj, "url_id_mismatch")) {
        return bb_policy_fail(ctx, path, "url_id_mismatch is set but "
                              "override_url_id is not true");
    }

    if (!rt->override_search) {
        if (json_object_get(obj, "search_block")) {
            s = "search_block";

        } else if (json_object_get(obj, "search_add")) {
            s = "search_add";

        } else if (json_object_get(obj, "search_allow")) {
            s = "search_allow";

        } else {
            s = NULL;
        }

        if (s != NULL) {
            return bb_policy_fail(ctx, path, "%s is set but override_search "
                                  "is not true", s);
        }
    }

    return 0;
}


static int
bb_policy_interactions(bb_policy_ctx_t *ctx, bb_resource_type_t *rt,
    json_t *v, const char *path)
{
    size_t       i, j;
    json_t      *item;
    const char  *s;
    char         ipath[BB_POLICY_PATH_LEN], q[BB_POLICY_QUOTE_LEN];

    if (bb_policy_expect(ctx, v, JSON_ARRAY, path) != 0) {
        return -1;
    }

    json_array_foreach(v, i, item) {

        bb_policy_path(ipath, sizeof(ipath), "%s[%zu]", path, i);

        if (bb_policy_expect(ctx, item, JSON_STRING, ipath) != 0) {
            return -1;
        }

        s = json_string_value(item);

        for (j = 0; bb_interaction_names[j].name != NULL; j++) {
            if (strcmp(s, bb_interaction_names[j].name) == 0) {
                break;
            }
        }

        if (bb_interaction_names[j].name == NULL) {
            return bb_policy_fail(ctx, ipath, "unknown interaction %s",
                                  bb_policy_quote(item, q, sizeof(q)));
        }

        if (rt->interactions & bb_interaction_names[j].bit) {
            return bb_policy_fail(ctx, ipath, "duplicate interaction %s",
                                  bb_policy_quote(item, q, sizeof(q)));
        }

        rt->interactions |= bb_interaction_names[j].bit;
    }

    return 0;
}


static int
bb_policy_flag(bb_policy_ctx_t *ctx, json_t *v, const char *path, int *out)
{
    if (!json_is_boolean(v)) {
        return bb_policy_expect(ctx, v, JSON_TRUE, path);
    }

    *out = json_is_true(v);

    return 0;
}


/* one of two words: *out is 0 for the first, 1 for the second */

static int
bb_policy_choice(bb_policy_ctx_t *ctx, json_t *v, const char *path,
    const char *a, const char *b, int *out)
{
    const char  *s;
    char         q[BB_POLICY_QUOTE_LEN];

    s = json_string_value(v);

    if (s != NULL && strcmp(s, a) == 0) {
        *out = 0;
        return 0;
    }

    if (s != NULL && strcmp(s, b) == 0) {
        *out = 1;
        return 0;
    }

    return bb_policy_fail(ctx, path, "expected \"%s\" or \"%s\", got %s",
                          a, b, bb_policy_quote(v, q, sizeof(q)));
}


/*
 * A search parameter name as the gateway sees it once decoded: it must be
 * a name alone, never something that would split or join query parameters.
 */

static int
bb_policy_param_name(const char *s, size_t len)
{
    size_t  i;

    if (len == 0 || len > BB_POLICY_PARAM_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if ((unsigned char) s[i] <= 0x20 || s[i] == 0x7f
            || s[i] == '&' || s[i] == '=')
        {
            return 0;
        }
    }

    return 1;
}


static int
bb_policy_names(bb_policy_ctx_t *ctx, json_t *v, const char *path,
    char ***out, size_t *n)
{
    size_t   i;
    json_t  *item;
    char     ipath[BB_POLICY_PATH_LEN], q[BB_POLICY_QUOTE_LEN];

    if (bb_policy_expect(ctx, v, JSON_ARRAY, path) != 0) {
        return -1;
    }

    if (json_array_size(v) == 0) {
        return 0;
    }

    *out = calloc(json_array_size(v), sizeof(char *));
    if (*out == NULL) {
        return bb_policy_fail(ctx, path, "out of memory");
    }

    json_array_foreach(v, i, item) {

        bb_policy_path(ipath, sizeof(ipath), "%s[%zu]", path, i);

        if (bb_policy_expect(ctx, item, JSON_STRING, ipath) != 0) {
            return -1;
        }

        if (!bb_policy_param_name(json_string_value(item),
                                  json_string_length(item)))
        {
            return bb_policy_fail(ctx, ipath, "invalid parameter name %s",
                                  bb_policy_quote(item, q, sizeof(q)));
        }

        (*out)[i] = strdup(json_string_value(item));
        if ((*out)[i] == NULL) {
            return bb_policy_fail(ctx, ipath, "out of memory");
        }

        (*n)++;
    }

    return 0;
}


static int
bb_policy_adds(bb_policy_ctx_t *ctx, bb_resource_type_t *rt, json_t *v,
    const char *path)
{
    size_t       i, j, len, nlen;
    json_t      *item;
    const char  *s, *eq;
    bb_param_t  *p;
    char         ipath[BB_POLICY_PATH_LEN], q[BB_POLICY_QUOTE_LEN];

    if (bb_policy_expect(ctx, v, JSON_ARRAY, path) != 0) {
        return -1;
    }

    if (json_array_size(v) == 0) {
        return 0;
    }

    rt->search_add = calloc(json_array_size(v), sizeof(bb_param_t));
    if (rt->search_add == NULL) {
        return bb_policy_fail(ctx, path, "out of memory");
    }

    json_array_foreach(v, i, item) {

        bb_policy_path(ipath, sizeof(ipath), "%s[%zu]", path, i);

        if (bb_policy_expect(ctx, item, JSON_STRING, ipath) != 0) {
            return -1;
        }

        s = json_string_value(item);
        len = json_string_length(item);

        eq = memchr(s, '=', len);
        if (eq == NULL) {
            return bb_policy_fail(ctx, ipath, "%s has no \"=\"",
                                  bb_policy_quote(item, q, sizeof(q)));
        }

        nlen = (size_t) (eq - s);

        if (!bb_policy_param_name(s, nlen)) {
            return bb_policy_fail(ctx, ipath, "%s has an invalid parameter "
                                  "name", bb_policy_quote(item, q, sizeof(q)));
        }

        if (nlen + 1 == len) {
            return bb_policy_fail(ctx, ipath, "%s has an empty value",
                                  bb_policy_quote(item, q, sizeof(q)));
        }

        if (len - nlen - 1 > BB_POLICY_VALUE_MAX) {
            return bb_policy_fail(ctx, ipath, "%s has a value longer than "
                                  "%d bytes",
                                  bb_policy_quote(item, q, sizeof(q)),
                                  BB_POLICY_VALUE_MAX);
        }

        for (j = nlen + 1; j < len; j++) {
            if ((unsigned char) s[j] < 0x20 || s[j] == 0x7f) {
                return bb_policy_fail(ctx, ipath, "%s holds a control "
                                      "character",
                                      bb_policy_quote(item, q, sizeof(q)));
            }
        }

        p = &rt->search_add[rt->nsearch_add];

        p->name = strndup(s, nlen);
        p->value = strdup(eq + 1);

        /* counted before the check so that bb_type_free() releases both */

        rt->nsearch_add++;

        if (p->name == NULL || p->value == NULL) {
            return bb_policy_fail(ctx, ipath, "out of memory");
        }
    }

    return 0;
}


static int
bb_policy_revoked_parse(bb_policy_ctx_t *ctx, bb_policy_t *policy,
    json_t *v)
{
    size_t         i;
    json_t        *item, *jti, *exp;
    bb_revoked_t  *r;
    char           path[BB_POLICY_PATH_LEN], fpath[BB_POLICY_PATH_LEN];

    if (bb_policy_expect(ctx, v, JSON_ARRAY, "revoked") != 0) {
        return -1;
    }

    if (json_array_size(v) == 0) {
        return 0;
    }

    policy->revoked = calloc(json_array_size(v), sizeof(bb_revoked_t));
    if (policy->revoked == NULL) {
        return bb_policy_fail(ctx, "revoked", "out of memory");
    }

    json_array_foreach(v, i, item) {

        bb_policy_path(path, sizeof(path), "revoked[%zu]", i);

        if (bb_policy_expect(ctx, item, JSON_OBJECT, path) != 0) {
            return -1;
        }

        if (bb_policy_known(ctx, item, path, bb_revoked_fields) != 0) {
            return -1;
        }

        jti = json_object_get(item, "jti");
        if (jti == NULL) {
            return bb_policy_fail(ctx, path, "missing \"jti\"");
        }

        exp = json_object_get(item, "exp");
        if (exp == NULL) {
            return bb_policy_fail(ctx, path, "missing \"exp\"");
        }

        bb_policy_path(fpath, sizeof(fpath), "%s.exp", path);

        if (bb_policy_expect(ctx, exp, JSON_INTEGER, fpath) != 0) {
            return -1;
        }

        r = &policy->revoked[policy->nrevoked];

        bb_policy_path(fpath, sizeof(fpath), "%s.jti", path);

        if (bb_policy_strdup(ctx, jti, fpath, BB_POLICY_JTI_MAX, &r->jti)
            != 0)
        {
            return -1;
        }

        r->exp = json_integer_value(exp);

        policy->nrevoked++;
    }

    qsort(policy->revoked, policy->nrevoked, sizeof(bb_revoked_t),
          bb_revoked_cmp);

    return 0;
}


void
bb_type_free(bb_resource_type_t *rt)
{
    size_t  i;

    free(rt->name);

    bb_names_free(rt->search_block, rt->nsearch_block);

    for (i = 0; i < rt->nsearch_add; i++) {
        free(rt->search_add[i].name);
        free(rt->search_add[i].value);
    }

    free(rt->search_add);

    bb_names_free(rt->search_allow, rt->nsearch_allow);
    bb_names_free(rt->widening_allow, rt->nwidening_allow);

    free(rt->patient_reference);
}


static void
bb_names_free(char **names, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        free(names[i]);
    }

    free(names);
}


static int
bb_type_cmp(const void *a, const void *b)
{
    const bb_resource_type_t  *x = a;
    const bb_resource_type_t  *y = b;

    return strcmp(x->name, y->name);
}


static int
bb_revoked_cmp(const void *a, const void *b)
{
    const bb_revoked_t  *x = a;
    const bb_revoked_t  *y = b;

    return strcmp(x->jti, y->jti);
}


/* the order of strcmp(), for a length-counted string against a C string */

static int
bb_lencmp(const char *s, size_t len, const char *cstr)
{
    int     c;
    size_t  clen, n;

    clen = strlen(cstr);
    n = len < clen ? len : clen;

    if (n > 0) {
        c = memcmp(s, cstr, n);
        if (c != 0) {
            return c;
        }
    }

    if (len == clen) {
        return 0;
    }

    return len < clen ? -1 : 1;
}
