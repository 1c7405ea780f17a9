/*
 * Response-side logic.  URL rewriting works on raw bytes so that JSON and
 * XML bodies and headers go through the same code; it also rewrites the
 * form of the base with escaped slashes ("http:\/\/..."), which JSON
 * writers may emit.  Everything that reads a FHIR resource parses it with
 * jansson, and everything the gateway writes is built with jansson, so that
 * no text from upstream or from a request is ever spliced into JSON.
 */


#ifndef _GNU_SOURCE
#define _GNU_SOURCE     /* memmem() */
#endif


#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "bb_request.h"
#include "bb_response.h"


#define BB_HISTORY_MARK  "/_history/"


typedef struct {
    const char          *code;
    unsigned             interaction;
} bb_capability_code_t;


/* CapabilityStatement interaction codes the policy can allow */

static const bb_capability_code_t  bb_capability_codes[] = {
    { "read",             BB_READ },
    { "vread",            BB_VREAD },
    { "search-type",      BB_SEARCH },
    { "history-instance", BB_HISTORY },
    { "create",           BB_CREATE },
    { "update",           BB_UPDATE },
    { "delete",           BB_DELETE },
    { NULL, 0 }
};


static const char  *bb_issue_codes[] = {
    "exception",
    "invalid",
    "security",
    "login",
    "forbidden",
    "not-found",
    "not-supported",
    "too-costly",
    "transient",
    "exception"
};


static int bb_url_char(unsigned char c);
static int bb_url_end(unsigned char c);
static int bb_rewrite_pass(const char *in, size_t len, bb_str_t from,
    bb_str_t to, bb_buf_t *out);
static int bb_escape_slashes(bb_str_t s, bb_buf_t *out);
static int bb_reference_is(const char *ref, const char *patient);
static int bb_resource_check(json_t *res, const char *type,
    const char *field, const char *patient);
static int bb_capability_rest(json_t *entry, const bb_policy_t *policy,
    const bb_smart_t *smart);
static int bb_capability_resource(json_t *res, const bb_resource_type_t *rt);
static json_t *bb_capability_security(const bb_smart_t *smart);
static int bb_oauth_uri(json_t *ext, const char *name, const char *uri);
static int bb_json_append(json_t *root, bb_buf_t *out);
static int bb_set_string(json_t *obj, const char *key, const char *value);
static json_t *bb_string_array(const char **values);


int
bb_rewrite_urls(const char *in, size_t len, bb_str_t from, bb_str_t to,
    bb_buf_t *out)
{
    int          n1, n2, rc;
    size_t       start;
    bb_buf_t     first, efrom, eto;
    bb_str_t     ef, et;
    const char  *src;

    if (from.len == 0) {
        return 0;
    }

    if (memchr(from.data, '/', from.len) == NULL) {
        start = out->len;

        rc = bb_rewrite_pass(in, len, from, to, out);
        if (rc == -1) {
            out->len = start;
        }

        return rc;
    }

    first = (bb_buf_t) { NULL, 0, 0 };
    efrom = (bb_buf_t) { NULL, 0, 0 };
    eto = (bb_buf_t) { NULL, 0, 0 };

    start = out->len;
    rc = -1;

    n1 = bb_rewrite_pass(in, len, from, to, &first);
    if (n1 == -1) {
        goto done;
    }

    if (bb_escape_slashes(from, &efrom) != 0
        || bb_escape_slashes(to, &eto) != 0)
    {
        goto done;
    }

    ef.data = efrom.data;
    ef.len = efrom.len;
    et.data = eto.data;
    et.len = eto.len;

    src = n1 ? first.data : in;

    n2 = bb_rewrite_pass(src, n1 ? first.len : len, ef, et, out);
    if (n2 == -1) {
        goto done;
    }

    if (n2 == 0 && n1 > 0) {
        if (bb_buf_append(out, first.data, first.len) != 0) {
            goto done;
        }
    }

    rc = n1 + n2;

done:

    if (rc == -1 && out->data != NULL) {
        out->len = start;
        out->data[start] = '\0';
    }

    bb_buf_free(&first);
    bb_buf_free(&efrom);
    bb_buf_free(&eto);

    return rc;
}


int
bb_resource_belongs(const char *json, size_t len, const char *type,
    const char *field, const char *patient)
{
    int           rc;
    size_t        i;
    json_t       *root, *entries, *entry, *res;
    const char   *rtype;
    json_error_t  jerr;

    root = json_loadb(json, len, 0, &jerr);
    if (root == NULL) {
        return -1;
    }

    rtype = json_string_value(json_object_get(root, "resourceType"));
    if (rtype == NULL) {
        rc = -1;
        goto done;
    }

    if (strcmp(rtype, "Bundle") != 0 || strcmp(type, "Bundle") == 0) {
        rc = bb_resource_check(root, type, field, patient);
        goto done;
    }

    /*
     * A history Bundle: every version must belong.  An entry without a
     * resource is a deleted version and discloses nothing.
     */

    entries = json_object_get(root, "entry");
    if (entries == NULL) {
        rc = 1;
        goto done;
    }

    if (!json_is_array(entries)) {
        rc = -1;
        goto done;
    }

    rc = 1;

    json_array_foreach(entries, i, entry) {

        if (!json_is_object(entry)) {
            rc = -1;
            goto done;
        }

        res = json_object_get(entry, "resource");
        if (res == NULL) {
            continue;
        }

        if (!json_is_object(res)) {
            rc = -1;
            goto done;
        }

        if (bb_resource_check(res, type, field, patient) != 1) {
            rc = 0;
            goto done;
        }
    }

done:

    json_decref(root);

    return rc;
}


int
bb_capability_filter(const char *json, size_t len,
    const bb_policy_t *policy, const bb_smart_t *smart, bb_buf_t *out,
    char *err, size_t errlen)
{
    int            rc;
    char          *p;
    size_t         i;
    json_t        *root, *rest, *entry;
    const char    *rtype;
    json_error_t   jerr;

    root = json_loadb(json, len, 0, &jerr);
    if (root == NULL) {

        /* jansson quotes the bytes near the error as they are */

        for (p = jerr.text; *p; p++) {
            if ((unsigned char) *p < 0x20 || (unsigned char) *p >= 0x7f) {
                *p = '?';
            }
        }

        bb_err(err, errlen, "invalid JSON: line %d column %d: %s",
               jerr.line, jerr.column, jerr.text);
        return -1;
    }

    rc = -1;

    rtype = json_string_value(json_object_get(root, "resourceType"));

    if (rtype == NULL || strcmp(rtype, "CapabilityStatement") != 0) {
        bb_err(err, errlen, "not a CapabilityStatement");
        goto done;
    }

    /* the gateway always asks the upstream for JSON: say only that */

    if (json_object_get(root, "format") != NULL
        && json_object_set_new(root, "format",
                               json_pack("[ss]", "application/fhir+json",
                                         "json"))
           != 0)
    {
        bb_err(err, errlen, "out of memory");
        goto done;
    }

    rest = json_object_get(root, "rest");

    json_array_foreach(rest, i, entry) {

        if (json_is_object(entry)
            && bb_capability_rest(entry, policy, smart) != 0)
        {
            bb_err(err, errlen, "out of memory");
            goto done;
        }
    }

    if (bb_json_append(root, out) != 0) {
        bb_err(err, errlen, "out of memory");
        goto done;
    }

    rc = 0;

done:

    json_decref(root);

    return rc;
}


int
bb_smart_configuration(const bb_smart_t *smart, bb_buf_t *out)
{
    int      rc;
    json_t  *root;

    static const char  *grant_types[] = {
        "authorization_code", "refresh_token", NULL
    };

    static const char  *auth_methods[] = {
        "client_secret_basic", "client_secret_post", NULL
    };

    static const char  *scopes[] = {
        "openid", "fhirUser", "launch/patient", "offline_access",
        "patient/*.read", "patient/*.rs", NULL
    };

    static const char  *response_types[] = {
        "code", NULL
    };

    static const char  *challenge_methods[] = {
        "S256", NULL
    };

    static const char  *capabilities[] = {
        "launch-standalone", "client-public", "client-confidential-symmetric",
        "context-standalone-patient", "permission-offline",
        "permission-patient", "permission-v1", "permission-v2", NULL
    };

    /* both endpoints are required by SMART App Launch */

    if (smart->authorize_url == NULL || smart->token_url == NULL) {
        return -1;
    }

    rc = -1;

    root = json_object();
    if (root == NULL) {
        return -1;
    }

    if (bb_set_string(root, "issuer", smart->issuer) != 0
        || bb_set_string(root, "jwks_uri", smart->jwks_uri) != 0
        || bb_set_string(root, "authorization_endpoint",
                         smart->authorize_url) != 0
        || bb_set_string(root, "token_endpoint", smart->token_url) != 0
        || bb_set_string(root, "revocation_endpoint", smart->revoke_url) != 0
        || bb_set_string(root, "introspection_endpoint",
                         smart->introspect_url) != 0
        || json_object_set_new(root, "grant_types_supported",
                               bb_string_array(grant_types)) != 0
        || json_object_set_new(root, "token_endpoint_auth_methods_supported",
                               bb_string_array(auth_methods)) != 0
        || json_object_set_new(root, "scopes_supported",
                               bb_string_array(scopes)) != 0
        || json_object_set_new(root, "response_types_supported",
                               bb_string_array(response_types)) != 0
        || json_object_set_new(root, "code_challenge_methods_supported",
                               bb_string_array(challenge_methods)) != 0
        || json_object_set_new(root, "capabilities",
                               bb_string_array(capabilities)) != 0)
    {
        goto done;
    }

    rc = bb_json_append(root, out);

done:

    json_decref(root);

    return rc;
}


int
bb_operation_outcome(bb_issue_t code, const char *diagnostics,
    bb_buf_t *out)
{
    int       rc;
    char     *copy, *p;
    json_t   *root, *issue, *issues, *diag;

    rc = -1;
    copy = NULL;
    issue = NULL;

    if ((unsigned) code >= sizeof(bb_issue_codes) / sizeof(bb_issue_codes[0]))
    {
        code = BB_ISSUE_EXCEPTION;
    }

    root = json_pack("{s:s, s:[]}", "resourceType", "OperationOutcome",
                     "issue");
    if (root == NULL) {
        return -1;
    }

    issue = json_pack("{s:s, s:s}", "severity", "error",
                      "code", bb_issue_codes[code]);
    if (issue == NULL) {
        goto done;
    }

    if (diagnostics != NULL) {
        diag = json_string(diagnostics);

        if (diag == NULL) {

            /*
             * The text may quote bytes of a request that are not UTF-8:
             * they become '?' rather than losing the whole diagnostics.
             */

            copy = strdup(diagnostics);
            if (copy == NULL) {
                goto done;
            }

            for (p = copy; *p; p++) {
                if ((unsigned char) *p >= 0x80) {
                    *p = '?';
                }
            }

            diag = json_string(copy);
        }

        if (json_object_set_new(issue, "diagnostics", diag) != 0) {
            goto done;
        }
    }

    issues = json_object_get(root, "issue");

    if (json_array_append(issues, issue) != 0) {
        goto done;
    }

    rc = bb_json_append(root, out);

done:

    free(copy);
    json_decref(issue);
    json_decref(root);

    return rc;
}


/* bytes that may continue the scheme or host of a longer URL before "from" */

static int
bb_url_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9') || c == '+' || c == '.' || c == '-';
}


/* bytes that end a base URL: its path goes on, or the URL is over */

static int
bb_url_end(unsigned char c)
{
    switch (c) {
    case '/':
    case '?':
    case '#':
    case '"':
    case '\'':
    case '<':
    case '>':
    case ' ':
    case '\t':
    case '\r':
    case '\n':
    case ',':
    case ')':
    case ']':
    case '}':
    case '\\':
        return 1;

    default:
        return 0;
    }
}


/*
 * One scan for one pattern.  Nothing is written to out until the first
 * replacement, so that a body without the base costs one memmem() scan.
 */

static int
bb_rewrite_pass(const char *in, size_t len, bb_str_t from, bb_str_t to,
    bb_buf_t *out)
{
    int          n;
    size_t       after;
    const char  *p, *end, *m, *copied;

    n = 0;
    p = in;
    copied = in;
    end = in + len;

    while ((size_t) (end - p) >= from.len) {

        m = memmem(p, (size_t) (end - p), from.data, from.len);
        if (m == NULL) {
            break;
        }

        after = (size_t) (m - in) + from.len;

        if ((m > in && bb_url_char((unsigned char) m[-1]))
            || (from.data[from.len - 1] != '/' && after < len
                && !bb_url_end((unsigned char) in[after])))
        {
            p = m + 1;
            continue;
        }

        if (bb_buf_append(out, copied, (size_t) (m - copied)) != 0
            || bb_buf_append(out, to.data, to.len) != 0)
        {
            return -1;
        }

        n++;
        p = m + from.len;
        copied = p;
    }

    if (n > 0 && bb_buf_append(out, copied, (size_t) (end - copied)) != 0) {
        return -1;
    }

    return n;
}


static int
bb_escape_slashes(bb_str_t s, bb_buf_t *out)
{
    size_t  i;

    for (i = 0; i < s.len; i++) {
        if (s.data[i] == '/' && bb_buf_append_char(out, '\\') != 0) {
            return -1;
        }

        if (bb_buf_append_char(out, s.data[i]) != 0) {
            return -1;
        }
    }

    /* an empty "to" still needs a buffer to point at */

    return bb_buf_cstr(out) == NULL ? -1 : 0;
}


/*
 * "Patient/<patient>" or an absolute URL ending in "/Patient/<patient>",
 * either optionally followed by "/_history/<version>".
 */

static int
bb_reference_is(const char *ref, const char *patient)
{
    size_t       rlen, plen, tlen;
    const char  *h, *next;

    plen = strlen(patient);
    if (plen == 0) {
        return 0;
    }

    rlen = strlen(ref);

    h = NULL;
    next = ref;

    while ((next = strstr(next, BB_HISTORY_MARK)) != NULL) {
        h = next;
        next++;
    }

    if (h != NULL) {
        next = h + sizeof(BB_HISTORY_MARK) - 1;

        if (*next == '\0' || strpbrk(next, "/?#") != NULL) {
            return 0;
        }

        rlen = (size_t) (h - ref);
    }

    tlen = sizeof("Patient/") - 1 + plen;

    if (rlen < tlen
        || memcmp(ref + rlen - plen, patient, plen) != 0
        || memcmp(ref + rlen - tlen, "Patient/", sizeof("Patient/") - 1) != 0)
    {
        return 0;
    }

    if (rlen == tlen) {
        return 1;
    }

    if (ref[rlen - tlen - 1] != '/') {
        return 0;
    }

    return strncmp(ref, "https://", 8) == 0 || strncmp(ref, "http://", 7) == 0;
}


static int
bb_resource_check(json_t *res, const char *type, const char *field,
    const char *patient)
{
    size_t       i;
    json_t      *v, *item;
    const char  *rtype, *ref;

    rtype = json_string_value(json_object_get(res, "resourceType"));

    if (rtype == NULL || strcmp(rtype, type) != 0) {
        return 0;
    }

    v = json_object_get(res, field);

    if (json_is_object(v)) {
        ref = json_string_value(json_object_get(v, "reference"));

        return ref != NULL && bb_reference_is(ref, patient);
    }

    /* a list of references must name the patient in every element */

    if (!json_is_array(v) || json_array_size(v) == 0) {
        return 0;
    }

    json_array_foreach(v, i, item) {
        ref = json_string_value(json_object_get(item, "reference"));

        if (ref == NULL || !bb_reference_is(ref, patient)) {
            return 0;
        }
    }

    return 1;
}


static int
bb_capability_rest(json_t *entry, const bb_policy_t *policy,
    const bb_smart_t *smart)
{
    size_t                     i;
    json_t                    *resources, *res, *kept, *security;
    const char                *name;
    const bb_resource_type_t  *rt;

    resources = json_object_get(entry, "resource");

    if (resources != NULL) {
        kept = json_array();
        if (kept == NULL) {
            return -1;
        }

        json_array_foreach(resources, i, res) {

            name = json_string_value(json_object_get(res, "type"));
            if (name == NULL) {
                continue;
            }

            rt = bb_policy_type(policy, name, strlen(name));
            if (rt == NULL) {
                continue;
            }

            if (bb_capability_resource(res, rt) != 0
                || json_array_append(kept, res) != 0)
            {
                json_decref(kept);
                return -1;
            }
        }

        if (json_object_set_new(entry, "resource", kept) != 0) {
            return -1;
        }
    }

    /* the gateway serves no system-level interaction or operation */

    json_object_del(entry, "interaction");
    json_object_del(entry, "operation");

    /* the upstream's own security, if any, is not what clients face */

    json_object_del(entry, "security");

    if (smart == NULL || smart->authorize_url == NULL
        || smart->token_url == NULL)
    {
        return 0;
    }

    security = bb_capability_security(smart);
    if (security == NULL) {
        return -1;
    }

    return json_object_set_new(entry, "security", security);
}


static int
bb_capability_resource(json_t *res, const bb_resource_type_t *rt)
{
    size_t       i, j;
    json_t      *list, *kept, *item;
    const char  *code, *name;

    list = json_object_get(res, "interaction");

    if (list != NULL) {
        kept = json_array();
        if (kept == NULL) {
            return -1;
        }

        json_array_foreach(list, i, item) {
            code = json_string_value(json_object_get(item, "code"));
            if (code == NULL) {
                continue;
            }

            for (j = 0; bb_capability_codes[j].code != NULL; j++) {
                if (strcmp(code, bb_capability_codes[j].code) == 0) {
                    break;
                }
            }

            if (bb_capability_codes[j].code == NULL
                || !(rt->interactions & bb_capability_codes[j].interaction))
            {
                continue;
            }

            if (json_array_append(kept, item) != 0) {
                json_decref(kept);
                return -1;
            }
        }

        if (json_object_set_new(res, "interaction", kept) != 0) {
            return -1;
        }
    }

    json_object_del(res, "operation");

    if (!(rt->interactions & BB_SEARCH)) {
        json_object_del(res, "searchParam");
        json_object_del(res, "searchInclude");
        json_object_del(res, "searchRevInclude");
        return 0;
    }

    if (!bb_param_passes(rt, 1, "_include", sizeof("_include") - 1)) {
        json_object_del(res, "searchInclude");
    }

    if (!bb_param_passes(rt, 1, "_revinclude", sizeof("_revinclude") - 1))
    {
        json_object_del(res, "searchRevInclude");
    }

    list = json_object_get(res, "searchParam");

    if (list == NULL) {
        return 0;
    }

    kept = json_array();
    if (kept == NULL) {
        return -1;
    }

    json_array_foreach(list, i, item) {
        name = json_string_value(json_object_get(item, "name"));

        if (name == NULL || !bb_param_passes(rt, 1, name, strlen(name))) {
            continue;
        }

        if (json_array_append(kept, item) != 0) {
            json_decref(kept);
            return -1;
        }
    }

    return json_object_set_new(res, "searchParam", kept);
}






static json_t *
bb_capability_security(const bb_smart_t *smart)
{
    json_t  *security, *uris, *ext;

    security = json_pack("{s:[{s:[{s:s, s:s}], s:s}]}",
        "service",
        "coding",
        "system",
        "http://terminology.hl7.org/CodeSystem/restful-security-service",
        "code", "SMART-on-FHIR",
        "text",
        "OAuth2 using SMART-on-FHIR profile"
        " (see http://docs.smarthealthit.org)");
    if (security == NULL) {
        return NULL;
    }

    ext = json_array();
    uris = json_pack("{s:s, s:o}",
        "url",
        "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
        "extension", ext);

    if (uris == NULL
        || json_object_set_new(security, "extension", json_pack("[o]", uris))
           != 0)
    {
        json_decref(security);
        return NULL;
    }

    if (bb_oauth_uri(ext, "authorize", smart->authorize_url) != 0
        || bb_oauth_uri(ext, "token", smart->token_url) != 0
        || bb_oauth_uri(ext, "revoke", smart->revoke_url) != 0
        || bb_oauth_uri(ext, "introspect", smart->introspect_url) != 0)
    {
        json_decref(security);
        return NULL;
    }

    return security;
}


static int
bb_oauth_uri(json_t *ext, const char *name, const char *uri)
{
    if (uri == NULL) {
        return 0;
    }

    return json_array_append_new(ext, json_pack("{s:s, s:s}", "url", name,
                                                "valueUri", uri));
}


static int
bb_json_append(json_t *root, bb_buf_t *out)
{
    int    rc;
    char  *s;

    s = json_dumps(root, JSON_COMPACT);
    if (s == NULL) {
        return -1;
    }

    rc = bb_buf_append_str(out, s);

    free(s);

    return rc;
}


/* sets key to value unless value is NULL (an optional member left out) */

static int
bb_set_string(json_t *obj, const char *key, const char *value)
{
    if (value == NULL) {
        return 0;
    }

    return json_object_set_new(obj, key, json_string(value));
}


static json_t *
bb_string_array(const char **values)
{
    json_t  *a;

    a = json_array();
    if (a == NULL) {
        return NULL;
    }

    for ( /* void */ ; *values != NULL; values++) {
        if (json_array_append_new(a, json_string(*values)) != 0) {
            json_decref(a);
            return NULL;
        }
    }

    return a;
}
