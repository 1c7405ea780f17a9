/*
 * libFuzzer target for access token verification, against a fixed policy
 * holding an EC P-256 and an RSA key made once at start-up.  The first
 * input byte picks what the rest is:
 *
 *   0  the compact token itself, as a client could send it;
 *   1  a header and a payload in JSON, separated by the first newline,
 *      which the target signs with the EC key, so that the claim checks
 *      behind the signature are reached as well;
 *   2  base64url text, which must either be refused or decode to bytes
 *      that encode back to the very same text (one spelling per value);
 *   3  a JWK in JSON, to import as a policy key.
 *
 * Besides the sanitizers, the target checks the verifier's promises and
 * aborts when one is broken: a refusal comes with a one-line printable
 * message that never repeats the payload or the signature, and accepted
 * claims are complete, printable and live at the verification time.
 */

#define _GNU_SOURCE

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "bb_b64.h"
#include "bb_jwt.h"
#include "bb_scope.h"


#define FZ_ISS  "https://auth.fuzz.invalid"
#define FZ_AUD  "https://fhir.fuzz.invalid"
#define FZ_NOW  1700000000


#define fz_assert(cond)                                                      \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "invariant broken at line %d: %s\n",             \
                    __LINE__, #cond);                                        \
            abort();                                                         \
        }                                                                    \
    } while (0)


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);


static EVP_PKEY         *fz_ec;
static bb_key_t          fz_keys[2];
static bb_policy_t       fz_policy;
static bb_jwt_limits_t   fz_limits = {
    FZ_NOW, BB_JWT_DEFAULT_LEEWAY, 86400, BB_JWT_DEFAULT_MAX_SIZE
};


static char *
fz_b64(const void *data, size_t len)
{
    bb_buf_t  out = { 0 };

    fz_assert(bb_b64url_encode(data, len, &out) == 0);

    return bb_buf_cstr(&out);
}


static void
fz_import(EVP_PKEY *pkey, const char *kid, bb_key_t *key)
{
    char           *a, *b, err[256];
    json_t         *jwk;
    BIGNUM         *x, *y;
    unsigned char   bx[512], by[512];
    int             lx, ly;

    x = NULL;
    y = NULL;

    if (EVP_PKEY_is_a(pkey, "RSA")) {
        fz_assert(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &x));
        fz_assert(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &y));
        lx = BN_bn2bin(x, bx);
        ly = BN_bn2bin(y, by);

    } else {
        fz_assert(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x));
        fz_assert(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y));
        lx = BN_bn2binpad(x, bx, 32);
        ly = BN_bn2binpad(y, by, 32);
    }

    a = fz_b64(bx, lx);
    b = fz_b64(by, ly);

    if (EVP_PKEY_is_a(pkey, "RSA")) {
        jwk = json_pack("{s:s, s:s, s:s, s:s, s:s}", "kty", "RSA",
                        "kid", kid, "alg", "RS256", "n", a, "e", b);

    } else {
        jwk = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "EC",
                        "kid", kid, "alg", "ES256", "crv", "P-256",
                        "x", a, "y", b);
    }

    fz_assert(jwk != NULL);

    if (bb_key_from_jwk(key, jwk, err, sizeof(err)) != 0) {
        fprintf(stderr, "bb_key_from_jwk() failed: %s\n", err);
        abort();
    }

    json_decref(jwk);
    free(a);
    free(b);
    BN_free(x);
    BN_free(y);
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    EVP_PKEY  *rsa;

    fz_ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    fz_assert(fz_ec != NULL && rsa != NULL);

    fz_import(fz_ec, "ec1", &fz_keys[0]);
    fz_import(rsa, "rsa1", &fz_keys[1]);
    EVP_PKEY_free(rsa);

    fz_policy.issuer = FZ_ISS;
    fz_policy.audience = FZ_AUD;
    fz_policy.keys = fz_keys;
    fz_policy.nkeys = 2;

    return 0;
}


/* the raw JWS signature over input, by the EC key */

static char *
fz_sign(const char *input, size_t len)
{
    size_t                derlen;
    EVP_MD_CTX           *ctx;
    ECDSA_SIG            *es;
    const BIGNUM         *r, *s;
    const unsigned char  *p;
    unsigned char         der[128], raw[64];

    ctx = EVP_MD_CTX_new();
    derlen = sizeof(der);

    fz_assert(ctx != NULL);
    fz_assert(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, fz_ec) == 1);
    fz_assert(EVP_DigestSign(ctx, der, &derlen, (const unsigned char *) input,
                             len) == 1);
    EVP_MD_CTX_free(ctx);

    p = der;
    es = d2i_ECDSA_SIG(NULL, &p, derlen);
    fz_assert(es != NULL);
    ECDSA_SIG_get0(es, &r, &s);
    fz_assert(BN_bn2binpad(r, raw, 32) == 32);
    fz_assert(BN_bn2binpad(s, raw + 32, 32) == 32);
    ECDSA_SIG_free(es);

    return fz_b64(raw, sizeof(raw));
}


static void
fz_check_string(const char *s, int optional)
{
    if (s == NULL) {
        fz_assert(optional);
        return;
    }

    fz_assert(s[0] != '\0');

    for ( /* void */ ; *s; s++) {
        fz_assert((unsigned char) *s >= 0x20 && *s != 0x7f);
    }
}


/*
 * A refusal may quote a value from the decoded header or payload, and the
 * fuzzer can make one equal a segment; any other appearance of the
 * segment in the message is the token leaking into a log.
 */

static void
fz_contains_not(const char *err, const char *seg, size_t len,
    const bb_buf_t *decoded)
{
    /* short segments may occur in any message by chance */

    if (len < 8) {
        return;
    }

    if (decoded->len != 0
        && memmem(decoded->data, decoded->len, seg, len) != NULL)
    {
        return;
    }

    if (memmem(err, strlen(err), seg, len) != NULL) {
        fprintf(stderr, "segment \"%.*s\" in \"%s\"\n", (int) len, seg,
                err);
        abort();
    }
}


static void
fz_verify(const char *token, size_t len)
{
    char         err[256];
    size_t       i;
    bb_buf_t     decoded = { 0 };
    bb_jwt_t    *jwt;
    const char  *dot1, *dot2;

    err[0] = '\0';
    jwt = bb_jwt_verify(&fz_policy, token, len, &fz_limits, err, sizeof(err));

    if (jwt == NULL) {
        fz_assert(err[0] != '\0');

        for (i = 0; err[i]; i++) {
            fz_assert(err[i] >= 0x20 && err[i] < 0x7f);
        }

        dot1 = memchr(token, '.', len);
        dot2 = dot1 ? memchr(dot1 + 1, '.', len - (dot1 + 1 - token)) : NULL;

        if (dot2 != NULL) {
            (void) bb_b64url_decode(token, dot1 - token, &decoded);
            (void) bb_b64url_decode(dot1 + 1, dot2 - dot1 - 1, &decoded);

            fz_contains_not(err, dot1 + 1, dot2 - dot1 - 1, &decoded);
            fz_contains_not(err, dot2 + 1, len - (dot2 + 1 - token),
                            &decoded);
            bb_buf_free(&decoded);
        }

        return;
    }

    fz_check_string(jwt->sub, 0);
    fz_check_string(jwt->client_id, 0);
    fz_check_string(jwt->scope, 0);
    fz_check_string(jwt->patient, 1);
    fz_check_string(jwt->jti, 0);
    fz_check_string(jwt->kid, 0);

    fz_assert(jwt->exp > jwt->iat);
    fz_assert(bb_jwt_live(jwt, fz_limits.now, fz_limits.leeway));

    (void) bb_scope_grants(jwt->scope, strlen(jwt->scope), "Patient", 7);

    bb_jwt_free(jwt);
}


static void
fz_signed(const char *data, size_t size)
{
    char        *h, *p, *sig;
    size_t       hlen;
    bb_buf_t     token = { 0 };
    const char  *nl;

    static const char  header[] =
        "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"ec1\"}";

    nl = memchr(data, '\n', size);

    if (nl != NULL) {
        hlen = nl - data;
        h = fz_b64(data, hlen);
        p = fz_b64(nl + 1, size - hlen - 1);

    } else {
        h = fz_b64(header, sizeof(header) - 1);
        p = fz_b64(data, size);
    }

    fz_assert(bb_buf_append_str(&token, h) == 0);
    fz_assert(bb_buf_append_char(&token, '.') == 0);
    fz_assert(bb_buf_append_str(&token, p) == 0);

    sig = fz_sign(token.data, token.len);

    fz_assert(bb_buf_append_char(&token, '.') == 0);
    fz_assert(bb_buf_append_str(&token, sig) == 0);

    fz_verify(token.data, token.len);

    free(h);
    free(p);
    free(sig);
    bb_buf_free(&token);
}


static void
fz_b64_canonical(const char *data, size_t size)
{
    bb_buf_t  dec = { 0 }, enc = { 0 };

    if (bb_b64url_decode(data, size, &dec) == 0) {
        fz_assert(bb_b64url_encode((unsigned char *) dec.data, dec.len, &enc)
                  == 0);
        fz_assert(enc.len == size);
        fz_assert(memcmp(enc.data, data, size) == 0);
    }

    bb_buf_free(&dec);
    bb_buf_free(&enc);
}


static void
fz_jwk(const char *data, size_t size)
{
    char      err[256];
    size_t    i;
    json_t   *jwk;
    bb_key_t  key;

    jwk = json_loadb(data, size, 0, NULL);
    if (jwk == NULL) {
        return;
    }

    err[0] = '\0';

    if (bb_key_from_jwk(&key, jwk, err, sizeof(err)) != 0) {
        fz_assert(err[0] != '\0');
        fz_assert(key.pkey == NULL && key.kid == NULL);

        for (i = 0; err[i]; i++) {
            fz_assert(err[i] >= 0x20 && err[i] < 0x7f);
        }

    } else {
        fz_assert(key.kid != NULL && key.kid[0] != '\0');
        fz_assert(key.pkey != NULL);
        fz_assert(EVP_PKEY_is_a(key.pkey, key.alg == BB_ALG_ES256
                                          ? "EC" : "RSA"));
        bb_key_clear(&key);
    }

    json_decref(jwk);
}


int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char  *copy;

    if (size == 0) {
        return 0;
    }

    /* a copy of exactly the input, so that a read past it is caught */

    copy = malloc(size - 1 ? size - 1 : 1);
    fz_assert(copy != NULL);
    memcpy(copy, data + 1, size - 1);

    switch (data[0] % 4) {

    case 0:
        fz_verify(copy, size - 1);
        break;

    case 1:
        fz_signed(copy, size - 1);
        break;

    case 2:
        fz_b64_canonical(copy, size - 1);
        break;

    default:
        fz_jwk(copy, size - 1);
    }

    free(copy);

    return 0;
}
