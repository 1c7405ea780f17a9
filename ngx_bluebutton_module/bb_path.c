/*
 * FHIR request paths.  Classification works on the raw path, before any
 * decoding, and accepts only the few shapes of the FHIR RESTful API that
 * the gateway supports; a path that could mean two things to two parsers
 * (percent-encoding, dot segments, empty segments, ';' parameters,
 * backslashes) is refused, never normalized.  The upstream path is then
 * rebuilt from the validated parts alone.
 *
 * Statuses: 400 for a hostile or malformed path, 404 for a well-formed
 * path that names nothing the gateway serves, 405 for a known shape with
 * a method it never takes, 403 for a shape refused by design.  A first
 * segment that is not a syntactically valid type name ("patient", "1x",
 * "_history") is answered 404: FHIR servers answer an unknown type so, and
 * the caller answers a valid but unsupported name the same way, so the two
 * cannot be told apart by a client probing the gateway.
 */

#include <string.h>

#include "bb_request.h"


#define BB_PATH_MAX_SEGMENTS  4
#define BB_PATH_TYPE_MAX      64
#define BB_PATH_ID_MAX        64


static int bb_path_method_read(bb_method_t method, char *err, size_t errlen);
static int bb_path_valid_type(bb_str_t s);
static int bb_path_valid_id(const char *s, size_t len);
static int bb_path_has_id(unsigned interaction);
static int bb_path_needs_patient(const bb_resource_type_t *rt);


int
bb_path_classify(bb_method_t method, const char *path, size_t len,
    size_t max_len, bb_fhir_request_t *req, char *err, size_t errlen)
{
    char           quoted[BB_QUOTE_SIZE];
    size_t         i, n, nseg;
    bb_str_t       seg[BB_PATH_MAX_SEGMENTS];
    const char    *p, *end, *s;
    unsigned char  c;

    memset(req, 0, sizeof(bb_fhir_request_t));
    req->type.data = "";
    req->id.data = "";
    req->vid.data = "";

    if (len > max_len) {
        bb_err(err, errlen, "request path too long");
        return 400;
    }

    for (i = 0; i < len; i++) {
        c = (unsigned char) path[i];

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
            || (c >= '0' && c <= '9')
            || c == '-' || c == '.' || c == '_' || c == '$' || c == '/')
        {
            continue;
        }

        /*
         * No FHIR path needs an encoded character, and decoding one here
         * would let "%2F" or "%2e%2e" mean something else upstream.
         */

        if (c == '%') {
            bb_err(err, errlen, "percent-encoding in path is not allowed");
            return 400;
        }

        bb_quote(quoted, sizeof(quoted), &path[i], 1);
        bb_err(err, errlen, "invalid character \"%s\" in path", quoted);
        return 400;
    }

    if (len == 0) {
        bb_err(err, errlen, "unknown path");
        return 404;
    }

    /* every segment is checked, even past the ones any shape can use */

    nseg = 0;
    p = path;
    end = path + len;

    for ( ;; ) {
        s = memchr(p, '/', end - p);
        n = (s ? s : end) - p;

        if (n == 0) {
            bb_err(err, errlen, "empty path segment");
            return 400;
        }

        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
        {
            bb_quote(quoted, sizeof(quoted), p, n);
            bb_err(err, errlen, "invalid path segment \"%s\"", quoted);
            return 400;
        }

        if (p[0] == '$') {
            bb_err(err, errlen, "operations are not supported");
            return 400;
        }

        if (nseg < BB_PATH_MAX_SEGMENTS) {
            seg[nseg].data = p;
            seg[nseg].len = n;
        }

        nseg++;

        if (s == NULL) {
            break;
        }

        p = s + 1;
    }

    if (nseg == 1 && bb_str_eq(seg[0], "metadata")) {
        if (bb_path_method_read(method, err, errlen) != 0) {
            return 405;
        }

        req->kind = BB_PATH_METADATA;
        return 0;
    }

    if (nseg == 2
        && bb_str_eq(seg[0], ".well-known")
        && bb_str_eq(seg[1], "smart-configuration"))
    {
        if (bb_path_method_read(method, err, errlen) != 0) {
            return 405;
        }

        req->kind = BB_PATH_SMART_CONFIG;
        return 0;
    }

    if (nseg > BB_PATH_MAX_SEGMENTS
        || bb_str_eq(seg[0], "metadata")
        || bb_str_eq(seg[0], ".well-known")
        || seg[0].data[0] == '_')
    {
        bb_err(err, errlen, "unknown path");
        return 404;
    }

    if (!bb_path_valid_type(seg[0])) {
        bb_quote(quoted, sizeof(quoted), seg[0].data, seg[0].len);
        bb_err(err, errlen, "unknown resource type \"%s\"", quoted);
        return 404;
    }

    req->kind = BB_PATH_RESOURCE;
    req->type = seg[0];

    if (nseg == 1) {
        switch (method) {

        case BB_METHOD_GET:
        case BB_METHOD_HEAD:
            req->interaction = BB_SEARCH;
            return 0;

        case BB_METHOD_POST:
            req->interaction = BB_CREATE;
            return 0;

        default:
            bb_err(err, errlen, "method not allowed");
            return 405;
        }
    }

    if (bb_str_eq(seg[1], "_search")) {
        if (nseg != 2) {
            bb_err(err, errlen, "unknown path");
            return 404;
        }

        switch (method) {

        case BB_METHOD_GET:
            req->interaction = BB_SEARCH;
            return 0;

        case BB_METHOD_POST:
            req->interaction = BB_SEARCH;
            req->post_search = 1;
            return 0;

        default:
            bb_err(err, errlen, "method not allowed");
            return 405;
        }
    }

    /* it would list the changes of every patient's resources */

    if (nseg == 2 && bb_str_eq(seg[1], "_history")) {
        bb_err(err, errlen, "type-level history is not supported");
        return 403;
    }

    if (seg[1].data[0] == '_') {
        bb_err(err, errlen, "unknown path");
        return 404;
    }

    if (!bb_path_valid_id(seg[1].data, seg[1].len)) {
        bb_quote(quoted, sizeof(quoted), seg[1].data, seg[1].len);
        bb_err(err, errlen, "invalid resource id \"%s\"", quoted);
        return 400;
    }

    req->id = seg[1];

    if (nseg == 2) {
        switch (method) {

        case BB_METHOD_GET:
        case BB_METHOD_HEAD:
            req->interaction = BB_READ;
            return 0;

        case BB_METHOD_PUT:
            req->interaction = BB_UPDATE;
            return 0;

        case BB_METHOD_DELETE:
            req->interaction = BB_DELETE;
            return 0;

        default:
            bb_err(err, errlen, "method not allowed");
            return 405;
        }
    }

    if (!bb_str_eq(seg[2], "_history")) {
        bb_err(err, errlen, "unknown path");
        return 404;
    }

    if (nseg == 4) {
        if (seg[3].data[0] == '_') {
            bb_err(err, errlen, "unknown path");
            return 404;
        }

        if (!bb_path_valid_id(seg[3].data, seg[3].len)) {
            bb_quote(quoted, sizeof(quoted), seg[3].data, seg[3].len);
            bb_err(err, errlen, "invalid version id \"%s\"", quoted);
            return 400;
        }

        req->vid = seg[3];
    }

    if (bb_path_method_read(method, err, errlen) != 0) {
        return 405;
    }

    req->interaction = (nseg == 4) ? BB_VREAD : BB_HISTORY;

    return 0;
}


int
bb_path_rewrite(const bb_resource_type_t *rt, const bb_fhir_request_t *req,
    const char *patient, bb_buf_t *out, char *err, size_t errlen)
{
    size_t    start;
    bb_str_t  id;

    start = out->len;

    switch (req->kind) {

    case BB_PATH_METADATA:
        if (bb_buf_append_str(out, "metadata") != 0) {
            goto failed;
        }

        return 0;

    case BB_PATH_SMART_CONFIG:
        if (bb_buf_append_str(out, ".well-known/smart-configuration") != 0) {
            goto failed;
        }

        return 0;

    default:
        break;
    }

    if (bb_path_needs_patient(rt)) {
        if (patient == NULL) {
            bb_err(err, errlen, "token has no patient");
            return 403;
        }

        /*
         * The claim goes into the upstream path: only a FHIR id, which
         * needs no encoding and cannot change the path's shape, may.
         */

        if (!bb_path_valid_id(patient, strlen(patient))) {
            bb_err(err, errlen, "invalid patient claim");
            return 403;
        }
    }

    id = req->id;

    if (rt->override_url_id && bb_path_has_id(req->interaction)) {
        if (rt->url_id_mismatch == BB_ID_NOT_FOUND && !bb_str_eq(id, patient))
        {
            bb_err(err, errlen, "resource not found");
            return 404;
        }

        id.data = patient;
        id.len = strlen(patient);
    }

    if (bb_buf_append(out, req->type.data, req->type.len) != 0) {
        goto failed;
    }

    if (req->interaction == BB_SEARCH) {
        if (req->post_search && bb_buf_append_str(out, "/_search") != 0) {
            goto failed;
        }

        return 0;
    }

    if (!bb_path_has_id(req->interaction)) {
        return 0;
    }

    if (bb_buf_append_char(out, '/') != 0
        || bb_buf_append(out, id.data, id.len) != 0)
    {
        goto failed;
    }

    if (req->interaction == BB_HISTORY || req->interaction == BB_VREAD) {
        if (bb_buf_append_str(out, "/_history") != 0) {
            goto failed;
        }
    }

    if (req->interaction == BB_VREAD) {
        if (bb_buf_append_char(out, '/') != 0
            || bb_buf_append(out, req->vid.data, req->vid.len) != 0)
        {
            goto failed;
        }
    }

    return 0;

failed:

    out->len = start;

    if (out->data) {
        out->data[start] = '\0';
    }

    bb_err(err, errlen, "out of memory");

    return 500;
}


static int
bb_path_method_read(bb_method_t method, char *err, size_t errlen)
{
    if (method == BB_METHOD_GET || method == BB_METHOD_HEAD) {
        return 0;
    }

    bb_err(err, errlen, "method not allowed");

    return -1;
}


/* [A-Z][A-Za-z]{0,63}, the form of every FHIR resource type name */

static int
bb_path_valid_type(bb_str_t s)
{
    size_t         i;
    unsigned char  c;

    if (s.len == 0 || s.len > BB_PATH_TYPE_MAX) {
        return 0;
    }

    if (s.data[0] < 'A' || s.data[0] > 'Z') {
        return 0;
    }

    for (i = 1; i < s.len; i++) {
        c = (unsigned char) s.data[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) {
            return 0;
        }
    }

    return 1;
}


/* [A-Za-z0-9\-\.]{1,64}, the FHIR id type; "." and ".." are not ids here */

static int
bb_path_valid_id(const char *s, size_t len)
{
    size_t         i;
    unsigned char  c;

    if (len == 0 || len > BB_PATH_ID_MAX) {
        return 0;
    }

    if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
    {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '-' || c == '.'))
        {
            return 0;
        }
    }

    return 1;
}


static int
bb_path_has_id(unsigned interaction)
{
    switch (interaction) {

    case BB_READ:
    case BB_VREAD:
    case BB_HISTORY:
    case BB_UPDATE:
    case BB_DELETE:
        return 1;

    default:
        return 0;
    }
}


/*
 * The same question as bb_type_needs_patient(), answered here so that
 * request rewriting does not depend on the policy parser's file.
 */

static int
bb_path_needs_patient(const bb_resource_type_t *rt)
{
    size_t  i;

    if (rt->override_url_id || rt->patient_reference != NULL) {
        return 1;
    }

    for (i = 0; i < rt->nsearch_add; i++) {
        if (rt->search_add[i].value != NULL
            && strstr(rt->search_add[i].value, "%PATIENT%") != NULL)
        {
            return 1;
        }
    }

    return 0;
}


