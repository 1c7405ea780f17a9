/*
 * Keys and signatures for the token checks.  The policy's JWKs become
 * EVP_PKEYs once, when a policy version loads, each bound to the one
 * algorithm its "alg" names; a JWK carrying private members is refused.
 * A signature check then hashes the signing input once and runs
 * EVP_PKEY_verify() on a context prepared for that key and kept in a small
 * per-thread cache, so that no key is parsed or set up per token.
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

/* the longest DER form of a P-256 ECDSA signature is 72 bytes */
#define BB_ES256_DER_MAX     80

#define BB_RSA_MIN_BITS      2048

#define BB_JWS_CTX_CACHE     8


typedef struct {
    EVP_PKEY            *pkey;
    EVP_PKEY_CTX        *ctx;
} bb_jws_ctx_t;


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


static _Thread_local bb_jws_ctx_t  bb_jws_ctx_cache[BB_JWS_CTX_CACHE];
static _Thread_local size_t        bb_jws_ctx_next;


static const char  *bb_jwk_private[] = {
    "d", "p", "q", "dp", "dq", "qi", "oth", "k", NULL
};


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
