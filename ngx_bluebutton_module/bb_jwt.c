/*
 * RFC 9068 access tokens in compact JWS form.  Keys come from the policy
 * as JWKs and become EVP_PKEYs once, when the policy loads (bb_jwk.c); a
 * verification then costs one base64url pass over the token, two small
 * jansson parses and the OpenSSL signature check, which is nearly all of
 * the time spent.
 *
 * The header is judged before the signature (typ, alg, crit, kid: nothing
 * there is trusted to choose the algorithm, the key decides), the claims
 * only after it.  Error messages name the check that failed and quote at
 * most a header's kid, alg or typ and the iss, never the token itself.
 */


#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "bb_b64.h"
#include "bb_jwt.h"


typedef struct {
    const char          *value;
    size_t               len;
} bb_jwt_claim_t;


static int bb_jwt_string(json_t *obj, const char *name, int required,
    bb_jwt_claim_t *claim, char *err, size_t errlen);
static int bb_jwt_integer(json_t *obj, const char *name, int required,
    int64_t *value, int *present, char *err, size_t errlen);
static int bb_jwt_header(const bb_policy_t *policy, json_t *hdr,
    const bb_key_t **key, bb_jwt_claim_t *kid, char *err, size_t errlen);
static int bb_jwt_audience(json_t *payload, const char *audience, char *err,
    size_t errlen);
static int bb_jwt_times(json_t *payload, const bb_jwt_limits_t *limits,
    bb_jwt_t *t, char *err, size_t errlen);
static bb_jwt_t *bb_jwt_result(bb_jwt_claim_t *claims, size_t n,
    const bb_jwt_t *t);


/* the string claims a token must carry, in the order of bb_jwt_t */
enum {
    BB_CLAIM_SUB = 0,
    BB_CLAIM_CLIENT_ID,
    BB_CLAIM_SCOPE,
    BB_CLAIM_PATIENT,
    BB_CLAIM_JTI,
    BB_CLAIM_KID,
    BB_CLAIM_N
};


bb_jwt_t *
bb_jwt_verify(const bb_policy_t *policy, const char *token, size_t len,
    const bb_jwt_limits_t *limits, char *err, size_t errlen)
{
    size_t           i, nseg, max, dot[2], hlen, plen, slen, keysize;
    json_t          *hdr, *payload;
    bb_buf_t         buf;
    bb_jwt_t         t, *jwt;
    const char      *alg;
    const bb_key_t  *key;
    bb_jwt_claim_t   claims[BB_CLAIM_N], iss;
    char             q[BB_QUOTE_SIZE];

    static const char  *names[BB_CLAIM_N] = {
        "sub", "client_id", "scope", "patient", "jti", NULL
    };

    hdr = NULL;
    payload = NULL;
    jwt = NULL;
    memset(&buf, 0, sizeof(bb_buf_t));

    max = limits->max_size ? limits->max_size : BB_JWT_DEFAULT_MAX_SIZE;

    if (len > max) {
        bb_err(err, errlen, "token too large (%zu bytes, at most %zu)",
               len, max);
        return NULL;
    }

    nseg = 1;

    for (i = 0; i < len; i++) {
        if (token[i] == '.') {
            if (nseg <= 2) {
                dot[nseg - 1] = i;
            }

            nseg++;
        }
    }

    if (nseg != 3) {
        bb_err(err, errlen, "token has %zu segment%s, expected 3",
               nseg, nseg == 1 ? "" : "s");
        return NULL;
    }

    /*
     * One buffer holds the three decoded segments back to back, so that a
     * verification allocates it once.
     */

    if (bb_b64url_decode(token, dot[0], &buf) != 0) {
        bb_err(err, errlen, "token header is not base64url");
        goto failed;
    }

    hlen = buf.len;

    if (bb_b64url_decode(token + dot[0] + 1, dot[1] - dot[0] - 1, &buf)
        != 0)
    {
        bb_err(err, errlen, "token payload is not base64url");
        goto failed;
    }

    plen = buf.len - hlen;

    if (bb_b64url_decode(token + dot[1] + 1, len - dot[1] - 1, &buf) != 0) {
        bb_err(err, errlen, "token signature is not base64url");
        goto failed;
    }

    slen = buf.len - hlen - plen;

    hdr = json_loadb(buf.data, hlen, JSON_REJECT_DUPLICATES, NULL);
    if (hdr == NULL) {
        bb_err(err, errlen, "token header is not valid JSON");
        goto failed;
    }

    if (!json_is_object(hdr)) {
        bb_err(err, errlen, "token header is not a JSON object");
        goto failed;
    }

    if (bb_jwt_header(policy, hdr, &key, &claims[BB_CLAIM_KID], err, errlen)
        != 0)
    {
        goto failed;
    }

    alg = key->alg == BB_ALG_ES256 ? "ES256" : "RS256";
    keysize = key->alg == BB_ALG_ES256
              ? BB_ES256_SIG_LEN : (size_t) EVP_PKEY_get_size(key->pkey);

    if (slen != keysize) {
        bb_err(err, errlen, "%s signature is %zu bytes, expected %zu",
               alg, slen, keysize);
        goto failed;
    }

    if (bb_jws_verify(key, token, dot[1],
                      (unsigned char *) buf.data + hlen + plen, slen)
        != 0)
    {
        bb_err(err, errlen, "token signature does not verify");
        goto failed;
    }

    payload = json_loadb(buf.data + hlen, plen, JSON_REJECT_DUPLICATES, NULL);
    if (payload == NULL) {
        bb_err(err, errlen, "token payload is not valid JSON");
        goto failed;
    }

    if (!json_is_object(payload)) {
        bb_err(err, errlen, "token payload is not a JSON object");
        goto failed;
    }

    if (policy->issuer == NULL || policy->audience == NULL) {
        bb_err(err, errlen, "policy has no issuer or audience");
        goto failed;
    }

    if (bb_jwt_string(payload, "iss", 1, &iss, err, errlen) != 0) {
        goto failed;
    }

    if (strcmp(iss.value, policy->issuer) != 0) {
        bb_err(err, errlen, "token \"iss\" \"%s\" is not the policy issuer",
               bb_quote_cstr(q, iss.value));
        goto failed;
    }

    if (bb_jwt_audience(payload, policy->audience, err, errlen) != 0) {
        goto failed;
    }

    for (i = 0; i < BB_CLAIM_KID; i++) {
        if (bb_jwt_string(payload, names[i], i != BB_CLAIM_PATIENT,
                          &claims[i], err, errlen)
            != 0)
        {
            goto failed;
        }
    }

    if (bb_jwt_times(payload, limits, &t, err, errlen) != 0) {
        goto failed;
    }

    jwt = bb_jwt_result(claims, BB_CLAIM_N, &t);
    if (jwt == NULL) {
        bb_err(err, errlen, "out of memory");
    }

failed:

    json_decref(payload);
    json_decref(hdr);
    bb_buf_free(&buf);

    return jwt;
}


void
bb_jwt_free(bb_jwt_t *jwt)
{
    /* the strings live in the same allocation, see bb_jwt_result() */

    free(jwt);
}


int
bb_jwt_live(const bb_jwt_t *jwt, int64_t now, int64_t leeway)
{
    if (leeway < 0) {
        leeway = 0;
    }

    if (now - leeway > jwt->exp) {
        return 0;
    }

    if (jwt->nbf > now + leeway) {
        return 0;
    }

    return 1;
}


static int
bb_jwt_string(json_t *obj, const char *name, int required,
    bb_jwt_claim_t *claim, char *err, size_t errlen)
{
    size_t          i;
    json_t         *v;
    unsigned char   c;

    claim->value = NULL;
    claim->len = 0;

    v = json_object_get(obj, name);
    if (v == NULL) {
        if (required) {
            bb_err(err, errlen, "token has no \"%s\"", name);
            return -1;
        }

        return 0;
    }

    if (!json_is_string(v)) {
        bb_err(err, errlen, "token \"%s\" is not a string", name);
        return -1;
    }

    claim->value = json_string_value(v);
    claim->len = json_string_length(v);

    if (claim->len == 0) {
        bb_err(err, errlen, "token \"%s\" is empty", name);
        return -1;
    }

    /*
     * These values end up in logs, upstream queries and headers: a NUL
     * would cut them short and a control character could forge a line.
     */

    for (i = 0; i < claim->len; i++) {
        c = (unsigned char) claim->value[i];

        if (c < 0x20 || c == 0x7f) {
            bb_err(err, errlen, "token \"%s\" holds a control character",
                   name);
            return -1;
        }
    }

    return 0;
}


static int
bb_jwt_integer(json_t *obj, const char *name, int required, int64_t *value,
    int *present, char *err, size_t errlen)
{
    json_t  *v;

    *value = 0;
    *present = 0;

    v = json_object_get(obj, name);
    if (v == NULL) {
        if (required) {
            bb_err(err, errlen, "token has no \"%s\"", name);
            return -1;
        }

        return 0;
    }

    if (!json_is_integer(v)) {
        bb_err(err, errlen, "token \"%s\" is not an integer", name);
        return -1;
    }

    *value = json_integer_value(v);
    *present = 1;

    return 0;
}


static int
bb_jwt_header(const bb_policy_t *policy, json_t *hdr, const bb_key_t **key,
    bb_jwt_claim_t *kid, char *err, size_t errlen)
{
    size_t       i;
    json_t      *v;
    const char  *typ, *alg, *keyalg;
    char         q[BB_QUOTE_SIZE], q2[BB_QUOTE_SIZE];

    *key = NULL;

    v = json_object_get(hdr, "typ");
    if (v == NULL) {
        bb_err(err, errlen, "token header has no \"typ\"");
        return -1;
    }

    if (!json_is_string(v)) {
        bb_err(err, errlen, "token \"typ\" is not a string");
        return -1;
    }

    typ = json_string_value(v);

    /*
     * RFC 9068 access tokens say so in typ; an ID token or any other JWT
     * signed by the same issuer must not pass for one.
     */

    if (strcasecmp(typ, "at+jwt") != 0
        && strcasecmp(typ, "application/at+jwt") != 0)
    {
        bb_err(err, errlen, "token \"typ\" \"%s\" is not \"at+jwt\"",
               bb_quote_cstr(q, typ));
        return -1;
    }

    v = json_object_get(hdr, "alg");
    if (v == NULL) {
        bb_err(err, errlen, "token header has no \"alg\"");
        return -1;
    }

    if (!json_is_string(v)) {
        bb_err(err, errlen, "token \"alg\" is not a string");
        return -1;
    }

    alg = json_string_value(v);

    if (strcasecmp(alg, "none") == 0) {
        bb_err(err, errlen, "token \"alg\" \"%s\" refused: unsigned",
               bb_quote_cstr(q, alg));
        return -1;
    }

    /*
     * An HMAC token is checked against a shared secret; the only material
     * we have is public, and keying HMAC with it would let anyone sign.
     */

    if (strncasecmp(alg, "HS", 2) == 0) {
        bb_err(err, errlen, "token \"alg\" \"%s\" refused: symmetric",
               bb_quote_cstr(q, alg));
        return -1;
    }

    if (json_object_get(hdr, "crit") != NULL) {
        bb_err(err, errlen, "token header \"crit\" is not supported");
        return -1;
    }

    v = json_object_get(hdr, "kid");
    if (v == NULL) {
        bb_err(err, errlen, "token header has no \"kid\"");
        return -1;
    }

    if (!json_is_string(v)) {
        bb_err(err, errlen, "token \"kid\" is not a string");
        return -1;
    }

    kid->value = json_string_value(v);
    kid->len = json_string_length(v);

    for (i = 0; i < policy->nkeys; i++) {
        if (policy->keys[i].kid != NULL
            && strlen(policy->keys[i].kid) == kid->len
            && memcmp(policy->keys[i].kid, kid->value, kid->len) == 0)
        {
            *key = &policy->keys[i];
            break;
        }
    }

    if (*key == NULL) {
        bb_err(err, errlen, "unknown kid \"%s\"", bb_quote_cstr(q, kid->value));
        return -1;
    }

    keyalg = (*key)->alg == BB_ALG_ES256 ? "ES256" : "RS256";

    if (strcmp(alg, keyalg) != 0) {
        bb_err(err, errlen,
               "token \"alg\" \"%s\" does not match kid \"%s\" (%s)",
               bb_quote_cstr(q, alg), bb_quote_cstr(q2, kid->value), keyalg);
        return -1;
    }

    return 0;
}


static int
bb_jwt_audience(json_t *payload, const char *audience, char *err,
    size_t errlen)
{
    size_t   i;
    json_t  *v, *item;

    v = json_object_get(payload, "aud");
    if (v == NULL) {
        bb_err(err, errlen, "token has no \"aud\"");
        return -1;
    }

    if (json_is_string(v)) {
        if (strcmp(json_string_value(v), audience) == 0) {
            return 0;
        }

    } else if (json_is_array(v)) {
        json_array_foreach(v, i, item) {
            if (!json_is_string(item)) {
                bb_err(err, errlen,
                       "token \"aud\" is not a string or array of strings");
                return -1;
            }
        }

        json_array_foreach(v, i, item) {
            if (strcmp(json_string_value(item), audience) == 0) {
                return 0;
            }
        }

    } else {
        bb_err(err, errlen,
               "token \"aud\" is not a string or array of strings");
        return -1;
    }

    bb_err(err, errlen, "token \"aud\" does not include the policy audience");

    return -1;
}


static int
bb_jwt_times(json_t *payload, const bb_jwt_limits_t *limits, bb_jwt_t *t,
    char *err, size_t errlen)
{
    int      present, has_nbf;
    int64_t  now, leeway;

    memset(t, 0, sizeof(bb_jwt_t));

    if (bb_jwt_integer(payload, "iat", 1, &t->iat, &present, err, errlen)
        != 0
        || bb_jwt_integer(payload, "exp", 1, &t->exp, &present, err, errlen)
           != 0
        || bb_jwt_integer(payload, "nbf", 0, &t->nbf, &has_nbf, err, errlen)
           != 0)
    {
        return -1;
    }

    now = limits->now;
    leeway = limits->leeway > 0 ? limits->leeway : 0;

    if (t->exp <= t->iat) {
        bb_err(err, errlen, "token \"exp\" is not after \"iat\"");
        return -1;
    }

    /* written so that no claim, however large, overflows */

    if (now - leeway > t->exp) {
        bb_err(err, errlen, "token expired");
        return -1;
    }

    if (has_nbf && t->nbf > now + leeway) {
        bb_err(err, errlen, "token not yet valid");
        return -1;
    }

    if (t->iat > now + leeway) {
        bb_err(err, errlen, "token issued in the future");
        return -1;
    }

    if (limits->max_lifetime > 0
        && (uint64_t) t->exp - (uint64_t) t->iat
           > (uint64_t) limits->max_lifetime)
    {
        bb_err(err, errlen, "token lifetime exceeds %lld seconds",
               (long long) limits->max_lifetime);
        return -1;
    }

    return 0;
}


/*
 * The result is a single allocation: the structure followed by its
 * strings, so that bb_jwt_free() and the cache free it with one call.
 */

static bb_jwt_t *
bb_jwt_result(bb_jwt_claim_t *claims, size_t n, const bb_jwt_t *t)
{
    char      *p, **dst[BB_CLAIM_N];
    size_t     i, size;
    bb_jwt_t  *jwt;

    size = sizeof(bb_jwt_t);

    for (i = 0; i < n; i++) {
        if (claims[i].value != NULL) {
            size += claims[i].len + 1;
        }
    }

    jwt = malloc(size);
    if (jwt == NULL) {
        return NULL;
    }

    *jwt = *t;

    dst[BB_CLAIM_SUB] = &jwt->sub;
    dst[BB_CLAIM_CLIENT_ID] = &jwt->client_id;
    dst[BB_CLAIM_SCOPE] = &jwt->scope;
    dst[BB_CLAIM_PATIENT] = &jwt->patient;
    dst[BB_CLAIM_JTI] = &jwt->jti;
    dst[BB_CLAIM_KID] = &jwt->kid;

    p = (char *) (jwt + 1);

    for (i = 0; i < n; i++) {
        if (claims[i].value == NULL) {
            *dst[i] = NULL;
            continue;
        }

        memcpy(p, claims[i].value, claims[i].len);
        p[claims[i].len] = '\0';
        *dst[i] = p;
        p += claims[i].len + 1;
    }

    return jwt;
}
