/*
 * RFC 9068 access tokens in compact JWS form.  Keys come from the policy
 * as JWKs and become EVP_PKEYs once, when the policy loads; a verification
 * then costs one base64url pass over the token, two small jansson parses
 * and the OpenSSL signature check, which is nearly all of the time spent.
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
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

#include "bb_b64.h"
#include "bb_jwt.h"


#define BB_ES256_COORD_LEN   32
#define BB_ES256_SIG_LEN     64

/* the longest DER form of a P-256 ECDSA signature is 72 bytes */
#define BB_ES256_DER_MAX     80

#define BB_RSA_MIN_BITS      2048


#define BB_JWS_CTX_CACHE     8


typedef struct {
    const char          *value;
    size_t               len;
} bb_jwt_claim_t;


typedef struct {
    EVP_PKEY            *pkey;
    EVP_PKEY_CTX        *ctx;
} bb_jws_ctx_t;


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
static int bb_jwk_string(json_t *jwk, const char *qkid, const char *name,
    const char **value, char *err, size_t errlen);
static int bb_jwk_bytes(json_t *jwk, const char *qkid, const char *name,
    bb_buf_t *out, char *err, size_t errlen);
static EVP_PKEY *bb_jwk_ec(json_t *jwk, const char *qkid, char *err,
    size_t errlen);
static EVP_PKEY *bb_jwk_rsa(json_t *jwk, const char *qkid, char *err,
    size_t errlen);
static int bb_jwk_public_check(EVP_PKEY *pkey);
static EVP_PKEY_CTX *bb_jws_ctx(EVP_PKEY *pkey);
static void bb_jws_ctx_drop(EVP_PKEY *pkey);


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


static _Thread_local bb_jws_ctx_t  bb_jws_ctx_cache[BB_JWS_CTX_CACHE];
static _Thread_local size_t        bb_jws_ctx_next;


static const char  *bb_jwk_private[] = {
    "d", "p", "q", "dp", "dq", "qi", "oth", "k", NULL
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


int
bb_jws_verify(const bb_key_t *key, const char *input, size_t len,
    const unsigned char *sig, size_t siglen)
{
    int             rc, derlen;
    BIGNUM         *r, *s;
    ECDSA_SIG      *es;
    EVP_PKEY_CTX   *ctx;
    unsigned char  *p, der[BB_ES256_DER_MAX], digest[SHA256_DIGEST_LENGTH];

    rc = -1;
    es = NULL;
    r = NULL;
    s = NULL;

    if (key == NULL || key->pkey == NULL || sig == NULL) {
        return -1;
    }

    if (key->alg == BB_ALG_ES256) {

        /*
         * JWS carries r||s; OpenSSL's ECDSA verifier takes DER.  A DER
         * signature in the token is refused by its length alone.
         */

        if (siglen != BB_ES256_SIG_LEN) {
            return -1;
        }

        es = ECDSA_SIG_new();
        r = BN_bin2bn(sig, BB_ES256_COORD_LEN, NULL);
        s = BN_bin2bn(sig + BB_ES256_COORD_LEN, BB_ES256_COORD_LEN, NULL);

        if (es == NULL || r == NULL || s == NULL) {
            goto done;
        }

        if (ECDSA_SIG_set0(es, r, s) != 1) {
            goto done;
        }

        r = NULL;
        s = NULL;

        derlen = i2d_ECDSA_SIG(es, NULL);
        if (derlen <= 0 || derlen > (int) sizeof(der)) {
            goto done;
        }

        p = der;
        derlen = i2d_ECDSA_SIG(es, &p);
        if (derlen <= 0) {
            goto done;
        }

        sig = der;
        siglen = derlen;

    } else if (key->alg == BB_ALG_RS256) {

        if (siglen != (size_t) EVP_PKEY_get_size(key->pkey)) {
            return -1;
        }

    } else {
        return -1;
    }

    ctx = bb_jws_ctx(key->pkey);
    if (ctx == NULL) {
        goto done;
    }

    if (SHA256((const unsigned char *) input, len, digest) == NULL) {
        goto done;
    }

    if (EVP_PKEY_verify(ctx, sig, siglen, digest, sizeof(digest)) == 1) {
        rc = 0;

    } else {

        /* a context that saw a failure is not trusted again */

        bb_jws_ctx_drop(key->pkey);
    }

done:

    /*
     * A refused signature leaves errors in this thread's OpenSSL queue;
     * nginx's TLS code would later mistake them for its own.
     */

    if (rc != 0) {
        ERR_clear_error();
    }

    ECDSA_SIG_free(es);
    BN_free(r);
    BN_free(s);

    return rc;
}


int
bb_key_from_jwk(bb_key_t *key, json_t *jwk, char *err, size_t errlen)
{
    int          i;
    char         q[BB_QUOTE_SIZE], q2[BB_QUOTE_SIZE];
    json_t      *v;
    bb_alg_t     alg;
    EVP_PKEY    *pkey;
    const char  *kid, *kty, *algname, *qkid;

    memset(key, 0, sizeof(bb_key_t));

    if (!json_is_object(jwk)) {
        bb_err(err, errlen, "jwk is not a JSON object");
        return -1;
    }

    v = json_object_get(jwk, "kid");
    if (v == NULL) {
        bb_err(err, errlen, "jwk has no \"kid\"");
        return -1;
    }

    if (!json_is_string(v)) {
        bb_err(err, errlen, "jwk \"kid\" is not a string");
        return -1;
    }

    kid = json_string_value(v);

    if (kid[0] == '\0') {
        bb_err(err, errlen, "jwk \"kid\" is empty");
        return -1;
    }

    qkid = bb_quote_cstr(q, kid);

    for (i = 0; bb_jwk_private[i]; i++) {
        if (json_object_get(jwk, bb_jwk_private[i]) != NULL) {
            bb_err(err, errlen, "jwk \"%s\": private member \"%s\" refused",
                   qkid, bb_jwk_private[i]);
            return -1;
        }
    }

    if (bb_jwk_string(jwk, qkid, "kty", &kty, err, errlen) != 0
        || bb_jwk_string(jwk, qkid, "alg", &algname, err, errlen) != 0)
    {
        return -1;
    }

    v = json_object_get(jwk, "use");
    if (v != NULL
        && (!json_is_string(v) || strcmp(json_string_value(v), "sig") != 0))
    {
        bb_err(err, errlen, "jwk \"%s\": \"use\" is not \"sig\"", qkid);
        return -1;
    }

    if (strcmp(kty, "EC") == 0) {
        if (strcmp(algname, "ES256") != 0) {
            bb_err(err, errlen,
                   "jwk \"%s\": unsupported \"alg\" \"%s\" for \"kty\" \"EC\"",
                   qkid, bb_quote_cstr(q2, algname));
            return -1;
        }

        alg = BB_ALG_ES256;
        pkey = bb_jwk_ec(jwk, qkid, err, errlen);

    } else if (strcmp(kty, "RSA") == 0) {
        if (strcmp(algname, "RS256") != 0) {
            bb_err(err, errlen,
                   "jwk \"%s\": unsupported \"alg\" \"%s\" for \"kty\" \"RSA\"",
                   qkid, bb_quote_cstr(q2, algname));
            return -1;
        }

        alg = BB_ALG_RS256;
        pkey = bb_jwk_rsa(jwk, qkid, err, errlen);

    } else {
        bb_err(err, errlen, "jwk \"%s\": unsupported \"kty\" \"%s\"",
               qkid, bb_quote_cstr(q2, kty));
        return -1;
    }

    if (pkey == NULL) {
        return -1;
    }

    key->kid = strdup(kid);
    if (key->kid == NULL) {
        EVP_PKEY_free(pkey);
        bb_err(err, errlen, "out of memory");
        return -1;
    }

    key->alg = alg;
    key->pkey = pkey;

    return 0;
}


void
bb_key_clear(bb_key_t *key)
{
    if (key->pkey != NULL) {
        bb_jws_ctx_drop(key->pkey);
    }

    free(key->kid);
    EVP_PKEY_free(key->pkey);
    memset(key, 0, sizeof(bb_key_t));
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


static int
bb_jwk_string(json_t *jwk, const char *qkid, const char *name,
    const char **value, char *err, size_t errlen)
{
    json_t  *v;

    v = json_object_get(jwk, name);
    if (v == NULL) {
        bb_err(err, errlen, "jwk \"%s\": no \"%s\"", qkid, name);
        return -1;
    }

    if (!json_is_string(v)) {
        bb_err(err, errlen, "jwk \"%s\": \"%s\" is not a string", qkid, name);
        return -1;
    }

    *value = json_string_value(v);

    return 0;
}


static int
bb_jwk_bytes(json_t *jwk, const char *qkid, const char *name, bb_buf_t *out,
    char *err, size_t errlen)
{
    const char  *s;

    if (bb_jwk_string(jwk, qkid, name, &s, err, errlen) != 0) {
        return -1;
    }

    if (bb_b64url_decode(s, strlen(s), out) != 0 || out->len == 0) {
        bb_err(err, errlen, "jwk \"%s\": \"%s\" is not base64url", qkid,
               name);
        return -1;
    }

    return 0;
}


static EVP_PKEY *
bb_jwk_ec(json_t *jwk, const char *qkid, char *err, size_t errlen)
{
    char            group[] = "prime256v1";
    char            q[BB_QUOTE_SIZE];
    bb_buf_t        x, y;
    EVP_PKEY       *pkey;
    OSSL_PARAM      params[3];
    const char     *crv;
    EVP_PKEY_CTX   *ctx;
    unsigned char   point[1 + 2 * BB_ES256_COORD_LEN];

    pkey = NULL;
    ctx = NULL;
    memset(&x, 0, sizeof(bb_buf_t));
    memset(&y, 0, sizeof(bb_buf_t));

    if (bb_jwk_string(jwk, qkid, "crv", &crv, err, errlen) != 0) {
        goto done;
    }

    if (strcmp(crv, "P-256") != 0) {
        bb_err(err, errlen, "jwk \"%s\": unsupported \"crv\" \"%s\"", qkid,
               bb_quote_cstr(q, crv));
        goto done;
    }

    if (bb_jwk_bytes(jwk, qkid, "x", &x, err, errlen) != 0
        || bb_jwk_bytes(jwk, qkid, "y", &y, err, errlen) != 0)
    {
        goto done;
    }

    if (x.len != BB_ES256_COORD_LEN || y.len != BB_ES256_COORD_LEN) {
        bb_err(err, errlen, "jwk \"%s\": \"%s\" is not 32 bytes", qkid,
               x.len != BB_ES256_COORD_LEN ? "x" : "y");
        goto done;
    }

    point[0] = 0x04;
    memcpy(point + 1, x.data, BB_ES256_COORD_LEN);
    memcpy(point + 1 + BB_ES256_COORD_LEN, y.data, BB_ES256_COORD_LEN);

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                 group, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                                  point, sizeof(point));
    params[2] = OSSL_PARAM_construct_end();

    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1) {
        bb_err(err, errlen, "jwk \"%s\": EVP_PKEY_fromdata_init() failed",
               qkid);
        goto done;
    }

    if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1
        || bb_jwk_public_check(pkey) != 0)
    {
        bb_err(err, errlen, "jwk \"%s\": \"x\", \"y\" is not a P-256 point",
               qkid);
        EVP_PKEY_free(pkey);
        pkey = NULL;
        goto done;
    }

done:

    if (pkey == NULL) {
        ERR_clear_error();
    }

    EVP_PKEY_CTX_free(ctx);
    bb_buf_free(&x);
    bb_buf_free(&y);

    return pkey;
}


static EVP_PKEY *
bb_jwk_rsa(json_t *jwk, const char *qkid, char *err, size_t errlen)
{
    int              bits;
    BIGNUM          *n, *e;
    bb_buf_t         nb, eb;
    EVP_PKEY        *pkey;
    OSSL_PARAM      *params;
    EVP_PKEY_CTX    *ctx;
    OSSL_PARAM_BLD  *bld;

    pkey = NULL;
    ctx = NULL;
    bld = NULL;
    params = NULL;
    n = NULL;
    e = NULL;
    memset(&nb, 0, sizeof(bb_buf_t));
    memset(&eb, 0, sizeof(bb_buf_t));

    if (bb_jwk_bytes(jwk, qkid, "n", &nb, err, errlen) != 0
        || bb_jwk_bytes(jwk, qkid, "e", &eb, err, errlen) != 0)
    {
        goto done;
    }

    n = BN_bin2bn((unsigned char *) nb.data, nb.len, NULL);
    e = BN_bin2bn((unsigned char *) eb.data, eb.len, NULL);

    if (n == NULL || e == NULL) {
        bb_err(err, errlen, "jwk \"%s\": BN_bin2bn() failed", qkid);
        goto done;
    }

    bits = BN_num_bits(n);

    if (bits < BB_RSA_MIN_BITS) {
        bb_err(err, errlen, "jwk \"%s\": RSA modulus of %d bits is under %d",
               qkid, bits, BB_RSA_MIN_BITS);
        goto done;
    }

    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL
        || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1
        || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1)
    {
        bb_err(err, errlen, "jwk \"%s\": OSSL_PARAM_BLD_push_BN() failed",
               qkid);
        goto done;
    }

    params = OSSL_PARAM_BLD_to_param(bld);
    if (params == NULL) {
        bb_err(err, errlen, "jwk \"%s\": OSSL_PARAM_BLD_to_param() failed",
               qkid);
        goto done;
    }

    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1) {
        bb_err(err, errlen, "jwk \"%s\": EVP_PKEY_fromdata_init() failed",
               qkid);
        goto done;
    }

    if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1
        || bb_jwk_public_check(pkey) != 0)
    {
        bb_err(err, errlen, "jwk \"%s\": \"n\", \"e\" is not an RSA public key",
               qkid);
        EVP_PKEY_free(pkey);
        pkey = NULL;
        goto done;
    }

done:

    if (pkey == NULL) {
        ERR_clear_error();
    }

    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    bb_buf_free(&nb);
    bb_buf_free(&eb);

    return pkey;
}


static int
bb_jwk_public_check(EVP_PKEY *pkey)
{
    int            rc;
    EVP_PKEY_CTX  *ctx;

    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (ctx == NULL) {
        return -1;
    }

    rc = EVP_PKEY_public_check(ctx) == 1 ? 0 : -1;

    EVP_PKEY_CTX_free(ctx);

    return rc;
}


/*
 * Verification contexts prepared once per key: EVP_PKEY_verify() may be
 * called again on a context with the same parameters, which spares the
 * algorithm fetch and key export of EVP_DigestVerifyInit() on every token.
 * Each context holds a reference to its key, so a cached key pointer can
 * never be reused by another key while it is here.  The cache is per
 * thread because a context must not be shared by two verifications at once.
 */

static EVP_PKEY_CTX *
bb_jws_ctx(EVP_PKEY *pkey)
{
    size_t          i;
    EVP_PKEY_CTX   *ctx;
    bb_jws_ctx_t   *slot;

    for (i = 0; i < BB_JWS_CTX_CACHE; i++) {
        if (bb_jws_ctx_cache[i].pkey == pkey) {
            return bb_jws_ctx_cache[i].ctx;
        }
    }

    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (ctx == NULL) {
        return NULL;
    }

    if (EVP_PKEY_verify_init(ctx) != 1
        || EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) != 1)
    {
        EVP_PKEY_CTX_free(ctx);
        return NULL;
    }

    /* RSA keys verify PKCS#1 v1.5, the default padding, stated anyway */

    if (EVP_PKEY_is_a(pkey, "RSA")
        && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1)
    {
        EVP_PKEY_CTX_free(ctx);
        return NULL;
    }

    slot = &bb_jws_ctx_cache[bb_jws_ctx_next];
    bb_jws_ctx_next = (bb_jws_ctx_next + 1) % BB_JWS_CTX_CACHE;

    EVP_PKEY_CTX_free(slot->ctx);
    slot->pkey = pkey;
    slot->ctx = ctx;

    return ctx;
}


static void
bb_jws_ctx_drop(EVP_PKEY *pkey)
{
    size_t  i;

    for (i = 0; i < BB_JWS_CTX_CACHE; i++) {
        if (bb_jws_ctx_cache[i].pkey == pkey) {
            EVP_PKEY_CTX_free(bb_jws_ctx_cache[i].ctx);
            bb_jws_ctx_cache[i].pkey = NULL;
            bb_jws_ctx_cache[i].ctx = NULL;
        }
    }
}
