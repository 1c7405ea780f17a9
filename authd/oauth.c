/*
 * OAuth and SMART rules as pure functions.  A scope string is checked as a
 * whole first (characters), then scope by scope; resource scopes are read
 * by the gateway's own bb_scope_grants(), so that authd grants exactly the
 * permissions the gateway will later enforce.  Values quoted in reasons
 * pass through oauth_quote(): printable ASCII only, cut short.
 */

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bb_b64.h"
#include "bb_buf.h"
#include "bb_scope.h"
#include "crypto.h"
#include "oauth.h"


#define OAUTH_QUOTE_MAX        64
#define OAUTH_QUOTE_SIZE       (OAUTH_QUOTE_MAX + sizeof("..."))

#define OAUTH_TYPE_MAX         64


/* one scope of a scope string */
typedef struct {
    const char          *data;
    size_t               len;
} oauth_token_t;


/* a parsed resource scope: patient/<type>.<permissions> */
typedef struct {
    const char          *type;
    size_t               tlen;
    const char          *perm;
    size_t               plen;
    unsigned             bits;
} oauth_resource_t;


static const char *oauth_quote(char *buf, const char *s, size_t len);
static int oauth_unreserved(const char *s, size_t len);
static int oauth_resource(const char *s, size_t len, oauth_resource_t *res);
static oauth_scope_rc_t oauth_scope_split(const char *scope,
    oauth_token_t *tokens, size_t *n, char *err, size_t errlen);
static int oauth_scope_has(const oauth_token_t *tokens, size_t n,
    const char *s, size_t len);
static int oauth_scope_emit(bb_buf_t *out, const char *s, size_t len);
static int oauth_scope_emit_resource(bb_buf_t *out, const char *type,
    size_t tlen, const oauth_resource_t *req, unsigned bits);
static int oauth_scope_resource(bb_buf_t *out, const oauth_resource_t *req,
    const char *allowed, const oauth_token_t *atok, size_t na);
static int oauth_host_valid(const char *host, size_t len);
static int oauth_port_valid(const char *port, size_t len);
static int oauth_claim_ok(const char *s);


static const char  *oauth_plain_scopes[] = {
    "openid", "fhirUser", "profile", "launch/patient", "offline_access", NULL
};


int
oauth_pkce_verify(const char *verifier, const char *challenge)
{
    size_t  len;
    char    computed[CRYPTO_SHA256_B64_SIZE];

    if (verifier == NULL) {
        return -1;
    }

    len = strlen(verifier);

    if (len < OAUTH_VERIFIER_MIN || len > OAUTH_VERIFIER_MAX
        || !oauth_unreserved(verifier, len))
    {
        return -1;
    }

    if (crypto_sha256_b64url(verifier, len, computed) != 0) {
        return -1;
    }

    if (challenge == NULL || strlen(challenge) != OAUTH_CHALLENGE_LEN) {
        return 0;
    }

    return crypto_equal(computed, challenge, OAUTH_CHALLENGE_LEN);
}


int
oauth_pkce_challenge_valid(const char *challenge, const char *method,
    char *err, size_t errlen)
{
    int        valid;
    char       q[OAUTH_QUOTE_SIZE];
    bb_buf_t   raw;

    if (challenge == NULL || challenge[0] == '\0') {
        bb_err(err, errlen, "missing code_challenge");
        return 0;
    }

    /*
     * Without a method RFC 7636 means "plain", where the challenge is the
     * verifier itself and anyone who sees the authorization request can
     * redeem the code.
     */

    if (method == NULL || method[0] == '\0') {
        bb_err(err, errlen, "missing code_challenge_method, \"S256\" is "
               "required");
        return 0;
    }

    if (strcmp(method, "S256") != 0) {
        bb_err(err, errlen, "code_challenge_method \"%s\" is not supported, "
               "\"S256\" is required",
               oauth_quote(q, method, strlen(method)));
        return 0;
    }

    memset(&raw, 0, sizeof(bb_buf_t));

    valid = strlen(challenge) == OAUTH_CHALLENGE_LEN
            && bb_b64url_decode(challenge, OAUTH_CHALLENGE_LEN, &raw) == 0
            && raw.len == CRYPTO_SHA256_LEN;

    bb_buf_free(&raw);

    if (!valid) {
        bb_err(err, errlen, "code_challenge is not the base64url form of a "
               "SHA-256 digest");
        return 0;
    }

    return 1;
}


int
oauth_redirect_match(const char *given, const char *const *registered,
    size_t n)
{
    size_t  i;

    if (given == NULL) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (registered[i] != NULL && strcmp(given, registered[i]) == 0) {
            return 1;
        }
    }

    return 0;
}


int
oauth_redirect_uri_valid(const char *uri, char *err, size_t errlen)
{
    int             https, http;
    char            q[OAUTH_QUOTE_SIZE];
    size_t          i, len, slen, alen, hlen;
    const char     *auth, *host, *end, *colon, *at;
    unsigned char   c;

    if (uri == NULL || uri[0] == '\0') {
        bb_err(err, errlen, "missing redirect_uri");
        return 0;
    }

    len = strlen(uri);

    if (len > OAUTH_REDIRECT_URI_MAX) {
        bb_err(err, errlen, "redirect_uri is longer than %d bytes",
               OAUTH_REDIRECT_URI_MAX);
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = (unsigned char) uri[i];

        if (c <= 0x20 || c >= 0x7f) {
            bb_err(err, errlen, "redirect_uri holds whitespace, a control "
                   "or a non-ASCII character");
            return 0;
        }
    }

    oauth_quote(q, uri, len);

    /* browsers read a backslash as a slash: the host would not be ours */

    if (strchr(uri, '\\') != NULL) {
        bb_err(err, errlen, "redirect_uri \"%s\" holds a backslash", q);
        return 0;
    }

    if (strchr(uri, '#') != NULL) {
        bb_err(err, errlen, "redirect_uri \"%s\" has a fragment", q);
        return 0;
    }

    slen = 0;

    if ((uri[0] >= 'a' && uri[0] <= 'z') || (uri[0] >= 'A' && uri[0] <= 'Z'))
    {
        for (slen = 1; slen < len; slen++) {
            c = (unsigned char) uri[slen];

            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                  || (c >= '0' && c <= '9') || c == '+' || c == '-'
                  || c == '.'))
            {
                break;
            }
        }
    }

    if (slen == 0 || slen == len || uri[slen] != ':') {
        bb_err(err, errlen, "redirect_uri \"%s\" is not an absolute URI", q);
        return 0;
    }

    https = slen == 5 && memcmp(uri, "https", 5) == 0;
    http = slen == 4 && memcmp(uri, "http", 4) == 0;

    if (!https && !http) {

        /*
         * A native app's private-use scheme is a reversed domain name
         * (RFC 8252), so it holds a period; javascript:, data: or file:
         * do not.
         */

        if (memchr(uri, '.', slen) == NULL) {
            bb_err(err, errlen, "redirect_uri \"%s\" has an unsupported "
                   "scheme", q);
            return 0;
        }

        if (uri[slen + 1] == '\0') {
            bb_err(err, errlen, "redirect_uri \"%s\" has no path", q);
            return 0;
        }

        if (strncmp(uri + slen + 1, "//", 2) != 0) {
            return 1;
        }
    }

    if (strncmp(uri + slen + 1, "//", 2) != 0) {
        bb_err(err, errlen, "redirect_uri \"%s\" has no host", q);
        return 0;
    }

    auth = uri + slen + 3;
    alen = strcspn(auth, "/?");

    at = memchr(auth, '@', alen);
    if (at != NULL) {
        bb_err(err, errlen, "redirect_uri \"%s\" has userinfo", q);
        return 0;
    }

    if (!https && !http) {
        return 1;
    }

    host = auth;
    end = auth + alen;

    if (host < end && host[0] == '[') {
        colon = memchr(host, ']', alen);
        if (colon == NULL) {
            bb_err(err, errlen, "redirect_uri \"%s\" has an invalid host", q);
            return 0;
        }

        colon++;

        if (colon < end && *colon != ':') {
            bb_err(err, errlen, "redirect_uri \"%s\" has an invalid host", q);
            return 0;
        }

    } else {
        colon = memchr(host, ':', alen);
        if (colon == NULL) {
            colon = end;
        }
    }

    hlen = colon - host;

    if (hlen == 0) {
        bb_err(err, errlen, "redirect_uri \"%s\" has no host", q);
        return 0;
    }

    if (!oauth_host_valid(host, hlen)) {
        bb_err(err, errlen, "redirect_uri \"%s\" has an invalid host", q);
        return 0;
    }

    if (colon < end && !oauth_port_valid(colon + 1, end - colon - 1)) {
        bb_err(err, errlen, "redirect_uri \"%s\" has an invalid port", q);
        return 0;
    }

    /*
     * Plain http only where the traffic never leaves the device: a
     * native app's loopback listener or a developer's machine.
     */

    if (http
        && !(hlen == 9 && memcmp(host, "localhost", 9) == 0)
        && !(hlen == 9 && memcmp(host, "127.0.0.1", 9) == 0)
        && !(hlen == 5 && memcmp(host, "[::1]", 5) == 0))
    {
        bb_err(err, errlen, "redirect_uri \"%s\": http is allowed only on "
               "localhost, 127.0.0.1 and [::1]", q);
        return 0;
    }

    return 1;
}


int
oauth_scope_valid(const char *scope, size_t len)
{
    size_t            i;
    oauth_resource_t  res;

    for (i = 0; oauth_plain_scopes[i]; i++) {
        if (strlen(oauth_plain_scopes[i]) == len
            && memcmp(oauth_plain_scopes[i], scope, len) == 0)
        {
            return 1;
        }
    }

    return oauth_resource(scope, len, &res) == 0;
}


oauth_scope_rc_t
oauth_scope_normalize(const char *scope, char **out, char *err,
    size_t errlen)
{
    size_t            i, n;
    bb_buf_t          buf;
    oauth_token_t     tokens[OAUTH_SCOPES_MAX];
    oauth_scope_rc_t  rc;

    *out = NULL;

    rc = oauth_scope_split(scope, tokens, &n, err, errlen);
    if (rc != OAUTH_SCOPE_OK) {
        return rc;
    }

    memset(&buf, 0, sizeof(bb_buf_t));

    for (i = 0; i < n; i++) {
        if (oauth_scope_emit(&buf, tokens[i].data, tokens[i].len) != 0) {
            bb_buf_free(&buf);
            bb_err(err, errlen, "out of memory");
            return OAUTH_SCOPE_ERROR;
        }
    }

    *out = bb_buf_cstr(&buf);
    if (*out == NULL) {
        bb_buf_free(&buf);
        bb_err(err, errlen, "out of memory");
        return OAUTH_SCOPE_ERROR;
    }

    return OAUTH_SCOPE_OK;
}


oauth_scope_rc_t
oauth_scope_intersect(const char *requested, const char *allowed,
    char **out, char *err, size_t errlen)
{
    int               rc;
    size_t            i, n, na, start, len;
    bb_buf_t          buf;
    oauth_token_t     tokens[OAUTH_SCOPES_MAX], *atok;
    oauth_resource_t  res;
    oauth_scope_rc_t  src;

    *out = NULL;
    atok = NULL;
    memset(&buf, 0, sizeof(bb_buf_t));

    src = oauth_scope_split(requested, tokens, &n, err, errlen);
    if (src != OAUTH_SCOPE_OK) {
        return src;
    }

    /*
     * The allowed scopes come from the client's registration, checked
     * when it was stored; here they are only split, and any scope this
     * code cannot read simply allows nothing.
     */

    if (allowed == NULL) {
        allowed = "";
    }

    len = strlen(allowed);
    atok = malloc((len / 2 + 1) * sizeof(oauth_token_t));
    if (atok == NULL) {
        goto nomem;
    }

    na = 0;
    start = 0;

    for (i = 0; i <= len; i++) {
        if (i < len && allowed[i] != ' ') {
            continue;
        }

        if (i > start) {
            atok[na].data = allowed + start;
            atok[na].len = i - start;
            na++;
        }

        start = i + 1;
    }

    for (i = 0; i < n; i++) {
        if (oauth_resource(tokens[i].data, tokens[i].len, &res) == 0) {
            rc = oauth_scope_resource(&buf, &res, allowed, atok, na);

        } else if (oauth_scope_has(atok, na, tokens[i].data, tokens[i].len))
        {
            rc = oauth_scope_emit(&buf, tokens[i].data, tokens[i].len);

        } else {
            rc = 0;
        }

        if (rc != 0) {
            goto nomem;
        }
    }

    free(atok);

    if (buf.len == 0) {
        bb_buf_free(&buf);
        bb_err(err, errlen,
               "none of the requested scopes is allowed for the client");
        return OAUTH_SCOPE_NOT_ALLOWED;
    }

    *out = bb_buf_cstr(&buf);

    return OAUTH_SCOPE_OK;

nomem:

    free(atok);
    bb_buf_free(&buf);
    bb_err(err, errlen, "out of memory");

    return OAUTH_SCOPE_ERROR;
}


int
oauth_access_token(const oauth_claims_t *c, const char *kid, EVP_PKEY *key,
    char **out)
{
    int             rc;
    char           *header, *payload;
    json_t         *hdr, *claims;
    size_t          input;
    bb_buf_t        buf;
    unsigned char   sig[CRYPTO_ES256_SIG_LEN];

    rc = -1;
    hdr = NULL;
    claims = NULL;
    header = NULL;
    payload = NULL;
    *out = NULL;
    memset(&buf, 0, sizeof(bb_buf_t));

    if (!oauth_claim_ok(kid) || !oauth_claim_ok(c->iss)
        || !oauth_claim_ok(c->aud) || !oauth_claim_ok(c->sub)
        || !oauth_claim_ok(c->client_id) || !oauth_claim_ok(c->scope)
        || !oauth_claim_ok(c->jti)
        || (c->patient != NULL && !oauth_claim_ok(c->patient))
        || c->exp <= c->iat)
    {
        return -1;
    }

    /* RFC 9068: the type names an access token, so no other JWT passes */

    hdr = json_pack("{s:s, s:s, s:s}", "alg", "ES256", "typ", "at+jwt",
                    "kid", kid);

    claims = json_pack("{s:s, s:s, s:s, s:s, s:s}", "iss", c->iss,
                       "aud", c->aud, "sub", c->sub,
                       "client_id", c->client_id, "scope", c->scope);

    if (hdr == NULL || claims == NULL) {
        goto done;
    }

    if (c->patient != NULL
        && json_object_set_new(claims, "patient", json_string(c->patient))
           != 0)
    {
        goto done;
    }

    if (json_object_set_new(claims, "jti", json_string(c->jti)) != 0
        || json_object_set_new(claims, "iat", json_integer(c->iat)) != 0
        || json_object_set_new(claims, "exp", json_integer(c->exp)) != 0)
    {
        goto done;
    }

    header = json_dumps(hdr, JSON_COMPACT);
    payload = json_dumps(claims, JSON_COMPACT);

    if (header == NULL || payload == NULL) {
        goto done;
    }

    if (bb_b64url_encode((unsigned char *) header, strlen(header), &buf) != 0
        || bb_buf_append_char(&buf, '.') != 0
        || bb_b64url_encode((unsigned char *) payload, strlen(payload), &buf)
           != 0)
    {
        goto done;
    }

    input = buf.len;

    if (crypto_es256_sign(key, buf.data, input, sig) != 0) {
        goto done;
    }

    if (bb_buf_append_char(&buf, '.') != 0
        || bb_b64url_encode(sig, sizeof(sig), &buf) != 0)
    {
        goto done;
    }

    *out = bb_buf_cstr(&buf);
    if (*out != NULL) {
        rc = 0;
    }

done:

    if (rc != 0) {
        bb_buf_free(&buf);
    }

    free(header);
    free(payload);
    json_decref(hdr);
    json_decref(claims);

    return rc;
}


int
oauth_check_param(const char *name, const char *value, size_t max,
    char *err, size_t errlen)
{
    size_t          i, len;
    json_t         *utf8;
    unsigned char   c;

    if (value == NULL || value[0] == '\0') {
        bb_err(err, errlen, "missing %s", name);
        return -1;
    }

    len = strlen(value);

    if (len > max) {
        bb_err(err, errlen, "%s is longer than %zu bytes", name, max);
        return -1;
    }

    for (i = 0; i < len; i++) {
        c = (unsigned char) value[i];

        /* C0, DEL, and C1 as UTF-8 encodes it (U+0080 to U+009F) */

        if (c < 0x20 || c == 0x7f
            || (c == 0xc2 && i + 1 < len
                && (unsigned char) value[i + 1] >= 0x80
                && (unsigned char) value[i + 1] <= 0x9f))
        {
            bb_err(err, errlen, "%s holds a control character", name);
            return -1;
        }
    }

    /* jansson refuses to make a string of anything but valid UTF-8 */

    utf8 = json_stringn(value, len);
    if (utf8 == NULL) {
        bb_err(err, errlen, "%s is not valid UTF-8", name);
        return -1;
    }

    json_decref(utf8);

    return 0;
}


int
oauth_client_id_valid(const char *client_id, char *err, size_t errlen)
{
    char    q[OAUTH_QUOTE_SIZE];
    size_t  len;

    if (client_id == NULL || client_id[0] == '\0') {
        bb_err(err, errlen, "missing client_id");
        return 0;
    }

    len = strlen(client_id);

    if (len > OAUTH_CLIENT_ID_MAX) {
        bb_err(err, errlen, "client_id is longer than %d bytes",
               OAUTH_CLIENT_ID_MAX);
        return 0;
    }

    if (!oauth_unreserved(client_id, len)) {
        bb_err(err, errlen, "invalid client_id \"%s\"",
               oauth_quote(q, client_id, len));
        return 0;
    }

    return 1;
}


/*
 * A value fit for a reason: printable ASCII, quotes and backslashes
 * replaced by '?', cut at OAUTH_QUOTE_MAX characters.
 */

static const char *
oauth_quote(char *buf, const char *s, size_t len)
{
    size_t          i;
    unsigned char   c;

    for (i = 0; i < len && i < OAUTH_QUOTE_MAX; i++) {
        c = (unsigned char) s[i];

        buf[i] = (c < 0x20 || c > 0x7e || c == '"' || c == '\\') ? '?' : c;
    }

    if (i < len) {
        memcpy(buf + i, "...", sizeof("..."));

    } else {
        buf[i] = '\0';
    }

    return buf;
}


/* RFC 3986 unreserved characters, which PKCE and client ids use */

static int
oauth_unreserved(const char *s, size_t len)
{
    size_t          i;
    unsigned char   c;

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'
              || c == '~'))
        {
            return 0;
        }
    }

    return 1;
}


/*
 * Read patient/<type>.<permissions>; the permissions are judged by
 * bb_scope_grants(), the gateway's reading, so that a scope authd accepts
 * is one the gateway honours.
 */

static int
oauth_resource(const char *s, size_t len, oauth_resource_t *res)
{
    size_t       i;
    const char  *dot;

    static const char  prefix[] = "patient/";

    if (len <= sizeof(prefix) - 1
        || memcmp(s, prefix, sizeof(prefix) - 1) != 0)
    {
        return -1;
    }

    res->type = s + sizeof(prefix) - 1;

    dot = memchr(res->type, '.', len - (sizeof(prefix) - 1));
    if (dot == NULL) {
        return -1;
    }

    res->tlen = dot - res->type;
    res->perm = dot + 1;
    res->plen = s + len - res->perm;

    if (res->tlen == 0 || res->tlen > OAUTH_TYPE_MAX || res->plen == 0) {
        return -1;
    }

    if (!(res->tlen == 1 && res->type[0] == '*')) {
        if (res->type[0] < 'A' || res->type[0] > 'Z') {
            return -1;
        }

        for (i = 1; i < res->tlen; i++) {
            if (!((res->type[i] >= 'A' && res->type[i] <= 'Z')
                  || (res->type[i] >= 'a' && res->type[i] <= 'z')))
            {
                return -1;
            }
        }
    }

    res->bits = bb_scope_grants(s, len, res->type, res->tlen);

    return res->bits != 0 ? 0 : -1;
}


static oauth_scope_rc_t
oauth_scope_split(const char *scope, oauth_token_t *tokens, size_t *n,
    char *err, size_t errlen)
{
    char            q[OAUTH_QUOTE_SIZE];
    size_t          i, len, start, tlen;
    const char     *t;
    unsigned char   c;

    *n = 0;

    if (scope == NULL) {
        bb_err(err, errlen, "missing scope");
        return OAUTH_SCOPE_INVALID;
    }

    len = strlen(scope);

    for (i = 0; i < len; i++) {
        c = (unsigned char) scope[i];

        if (c < 0x20 || c == 0x7f) {
            bb_err(err, errlen, "scope holds a control character");
            return OAUTH_SCOPE_INVALID;
        }

        if (c >= 0x80) {
            bb_err(err, errlen, "scope holds a non-ASCII character");
            return OAUTH_SCOPE_INVALID;
        }
    }

    start = 0;

    for (i = 0; i <= len; i++) {
        if (i < len && scope[i] != ' ') {
            continue;
        }

        t = scope + start;
        tlen = i - start;
        start = i + 1;

        if (tlen == 0) {
            continue;
        }

        if (*n == OAUTH_SCOPES_MAX) {
            bb_err(err, errlen, "more than %d scopes", OAUTH_SCOPES_MAX);
            return OAUTH_SCOPE_INVALID;
        }

        if (tlen > OAUTH_SCOPE_TOKEN_MAX || !oauth_scope_valid(t, tlen)) {
            oauth_quote(q, t, tlen);

            if ((tlen > 5 && memcmp(t, "user/", 5) == 0)
                || (tlen > 7 && memcmp(t, "system/", 7) == 0))
            {
                bb_err(err, errlen, "scope \"%s\" is not supported, only "
                       "patient/ scopes are granted", q);

            } else {
                bb_err(err, errlen, "invalid scope \"%s\"", q);
            }

            return OAUTH_SCOPE_INVALID;
        }

        tokens[*n].data = t;
        tokens[*n].len = tlen;
        (*n)++;
    }

    if (*n == 0) {
        bb_err(err, errlen, "empty scope");
        return OAUTH_SCOPE_INVALID;
    }

    return OAUTH_SCOPE_OK;
}


static int
oauth_scope_has(const oauth_token_t *tokens, size_t n, const char *s,
    size_t len)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (tokens[i].len == len && memcmp(tokens[i].data, s, len) == 0) {
            return 1;
        }
    }

    return 0;
}


/* append one scope unless out already holds it; 0 or -1 */

static int
oauth_scope_emit(bb_buf_t *out, const char *s, size_t len)
{
    size_t  i, start;

    start = 0;

    for (i = 0; i <= out->len; i++) {
        if (i < out->len && out->data[i] != ' ') {
            continue;
        }

        if (i - start == len && memcmp(out->data + start, s, len) == 0) {
            return 0;
        }

        start = i + 1;
    }

    if (out->len > 0 && bb_buf_append_char(out, ' ') != 0) {
        return -1;
    }

    return bb_buf_append(out, s, len);
}


/*
 * patient/<type>.<permissions> granting bits: in the request's own words
 * when it gets all it asked for, else as the v2 letters of what it gets.
 */

static int
oauth_scope_emit_resource(bb_buf_t *out, const char *type, size_t tlen,
    const oauth_resource_t *req, unsigned bits)
{
    int        rc;
    size_t     i;
    bb_buf_t   s;

    static const char      letters[] = "cruds";
    static const unsigned  order[] = {
        BB_SCOPE_C, BB_SCOPE_R, BB_SCOPE_U, BB_SCOPE_D, BB_SCOPE_S
    };

    memset(&s, 0, sizeof(bb_buf_t));

    rc = -1;

    if (bb_buf_append_str(&s, "patient/") != 0
        || bb_buf_append(&s, type, tlen) != 0
        || bb_buf_append_char(&s, '.') != 0)
    {
        goto done;
    }

    if (bits == req->bits) {
        if (bb_buf_append(&s, req->perm, req->plen) != 0) {
            goto done;
        }

    } else {
        for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
            if ((bits & order[i]) && bb_buf_append_char(&s, letters[i]) != 0)
            {
                goto done;
            }
        }
    }

    rc = oauth_scope_emit(out, s.data, s.len);

done:

    bb_buf_free(&s);

    return rc;
}


/*
 * What the allowed scopes grant of one requested resource scope.  For a
 * wildcard request the allowed wildcards count first, then each type the
 * allowed scopes name, for the permissions the wildcards left out.
 */

static int
oauth_scope_resource(bb_buf_t *out, const oauth_resource_t *req,
    const char *allowed, const oauth_token_t *atok, size_t na)
{
    size_t            i, j, alen;
    unsigned          bits, wild;
    oauth_resource_t  res, prev;

    alen = strlen(allowed);

    bits = req->bits & bb_scope_grants(allowed, alen, req->type, req->tlen);

    if (bits != 0
        && oauth_scope_emit_resource(out, req->type, req->tlen, req, bits)
           != 0)
    {
        return -1;
    }

    if (!(req->tlen == 1 && req->type[0] == '*')) {
        return 0;
    }

    wild = bits;

    for (i = 0; i < na; i++) {
        if (oauth_resource(atok[i].data, atok[i].len, &res) != 0
            || (res.tlen == 1 && res.type[0] == '*'))
        {
            continue;
        }

        /* each type once, where the allowed scopes first name it */

        for (j = 0; j < i; j++) {
            if (oauth_resource(atok[j].data, atok[j].len, &prev) == 0
                && prev.tlen == res.tlen
                && memcmp(prev.type, res.type, res.tlen) == 0)
            {
                break;
            }
        }

        if (j < i) {
            continue;
        }

        bits = req->bits & ~wild
               & bb_scope_grants(allowed, alen, res.type, res.tlen);

        if (bits != 0
            && oauth_scope_emit_resource(out, res.type, res.tlen, req, bits)
               != 0)
        {
            return -1;
        }
    }

    return 0;
}


/* a DNS name or an IPv6 literal in brackets */

static int
oauth_host_valid(const char *host, size_t len)
{
    size_t  i;
    char    c;

    if (host[0] == '[') {
        if (len < 3 || host[len - 1] != ']') {
            return 0;
        }

        for (i = 1; i < len - 1; i++) {
            c = host[i];

            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
                  || (c >= 'A' && c <= 'F') || c == ':' || c == '.'))
            {
                return 0;
            }
        }

        return 1;
    }

    if (host[0] == '.' || host[0] == '-' || host[len - 1] == '.'
        || host[len - 1] == '-')
    {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = host[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '-' || c == '.'))
        {
            return 0;
        }
    }

    return 1;
}


static int
oauth_port_valid(const char *port, size_t len)
{
    size_t    i;
    unsigned  v;

    if (len == 0 || len > 5 || port[0] == '0') {
        return 0;
    }

    v = 0;

    for (i = 0; i < len; i++) {
        if (port[i] < '0' || port[i] > '9') {
            return 0;
        }

        v = v * 10 + (unsigned) (port[i] - '0');
    }

    return v <= 65535;
}


/*
 * A claim value the gateway will take: present, and free of control
 * characters, which it refuses because the claims reach its logs and the
 * upstream request.
 */

static int
oauth_claim_ok(const char *s)
{
    if (s == NULL || s[0] == '\0') {
        return 0;
    }

    for ( /* void */ ; *s; s++) {
        if ((unsigned char) *s < 0x20 || *s == 0x7f) {
            return 0;
        }
    }

    return 1;
}
