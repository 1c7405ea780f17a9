/*
 * Access token verification.  The test makes its own EC P-256 and RSA-2048
 * keys, imports their public halves through bb_key_from_jwk() into a policy
 * built by hand, and signs tokens itself, so that every refusal can be set
 * next to the same token without its defect.  libjwt, when present, serves
 * as an independent signer and verifier.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#if defined(__has_include)
#if __has_include(<jwt.h>)
#include <jwt.h>
#define HAVE_LIBJWT  1
#endif
#endif

#include "bb_b64.h"
#include "bb_jwt.h"


#define ISS        "https://auth.bluebutton.example"
#define AUD        "https://fhir.bluebutton.example"
#define NOW        1700000000
#define LEEWAY     30
#define LIFETIME   3600

#define HDR_EC     "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"ec1\"}"
#define HDR_RSA    "{\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":\"rsa1\"}"

/* for helpers that main() also calls, where ck_assert cannot report */
#define need(cond)                                                           \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond);       \
            abort();                                                         \
        }                                                                    \
    } while (0)


/* how the test signs: as a correct JWS, or with a deliberate defect */
typedef enum {
    SIGN_JWS = 0,
    SIGN_DER,               /* ES256 left in OpenSSL's DER form */
    SIGN_HMAC_PEM           /* HS256 keyed with the public key's PEM */
} sign_mode_t;


static EVP_PKEY         *ec_key;
static EVP_PKEY         *ec_other;
static EVP_PKEY         *rsa_key;
static bb_key_t          keys[2];
static bb_policy_t       policy;
static bb_jwt_limits_t   limits;
static char              err[256];


static char *
b64(const void *data, size_t len)
{
    bb_buf_t  out = { 0 };

    need(bb_b64url_encode(data, len, &out) == 0);

    return bb_buf_cstr(&out);
}


static char *
pem_public(EVP_PKEY *pkey, size_t *len)
{
    BIO   *bio;
    char  *data, *pem;
    long   n;

    bio = BIO_new(BIO_s_mem());
    need(PEM_write_bio_PUBKEY(bio, pkey) == 1);

    n = BIO_get_mem_data(bio, &data);
    pem = malloc(n + 1);
    memcpy(pem, data, n);
    pem[n] = '\0';
    *len = n;

    BIO_free(bio);

    return pem;
}


static json_t *
jwk_of(EVP_PKEY *pkey, const char *kid)
{
    int             rsa;
    json_t         *jwk;
    BIGNUM         *a, *b;
    unsigned char   x[32], y[32], n[1024], e[16];
    size_t          nlen, elen;
    char           *ax, *bx;

    a = NULL;
    b = NULL;
    rsa = EVP_PKEY_is_a(pkey, "RSA");

    if (rsa) {
        need(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &a));
        need(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &b));
        nlen = BN_bn2bin(a, n);
        elen = BN_bn2bin(b, e);
        ax = b64(n, nlen);
        bx = b64(e, elen);

    } else {
        need(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &a));
        need(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &b));
        need(BN_bn2binpad(a, x, 32) == 32);
        need(BN_bn2binpad(b, y, 32) == 32);
        ax = b64(x, 32);
        bx = b64(y, 32);
    }

    if (rsa) {
        jwk = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "RSA",
                        "kid", kid, "alg", "RS256", "use", "sig",
                        "n", ax, "e", bx);

    } else {
        jwk = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "EC",
                        "kid", kid, "alg", "ES256", "crv", "P-256",
                        "x", ax, "y", bx);
    }

    need(jwk != NULL);

    free(ax);
    free(bx);
    BN_free(a);
    BN_free(b);

    return jwk;
}


static char *
token_with_sig(const char *header, size_t hlen, const char *payload,
    const unsigned char *sig, size_t siglen)
{
    char      *h, *p, *s;
    bb_buf_t   out = { 0 };

    h = b64(header, hlen);
    p = b64(payload, strlen(payload));
    s = b64(sig, siglen);

    bb_buf_append_str(&out, h);
    bb_buf_append_char(&out, '.');
    bb_buf_append_str(&out, p);
    bb_buf_append_char(&out, '.');
    bb_buf_append_str(&out, s);

    free(h);
    free(p);
    free(s);

    return bb_buf_cstr(&out);
}


/*
 * The raw JWS signature over "b64(header).b64(payload)"; the algorithm
 * follows the key, whatever the header says.
 */

static size_t
sign_input(const char *input, EVP_PKEY *pkey, sign_mode_t mode,
    unsigned char *sig)
{
    size_t                derlen, pemlen;
    unsigned int          maclen;
    char                 *pem;
    EVP_MD_CTX           *ctx;
    ECDSA_SIG            *es;
    const BIGNUM         *r, *s;
    const unsigned char  *p;
    unsigned char         der[1024];

    if (mode == SIGN_HMAC_PEM) {
        pem = pem_public(pkey, &pemlen);
        ck_assert_ptr_nonnull(HMAC(EVP_sha256(), pem, (int) pemlen,
                                   (const unsigned char *) input,
                                   strlen(input), sig, &maclen));
        free(pem);

        return maclen;
    }

    ctx = EVP_MD_CTX_new();
    derlen = sizeof(der);

    ck_assert_int_eq(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey),
                     1);
    ck_assert_int_eq(EVP_DigestSign(ctx, der, &derlen,
                                    (const unsigned char *) input,
                                    strlen(input)), 1);
    EVP_MD_CTX_free(ctx);

    if (EVP_PKEY_is_a(pkey, "RSA") || mode == SIGN_DER) {
        memcpy(sig, der, derlen);
        return derlen;
    }

    p = der;
    es = d2i_ECDSA_SIG(NULL, &p, derlen);
    ck_assert_ptr_nonnull(es);
    ECDSA_SIG_get0(es, &r, &s);
    ck_assert_int_eq(BN_bn2binpad(r, sig, 32), 32);
    ck_assert_int_eq(BN_bn2binpad(s, sig + 32, 32), 32);
    ECDSA_SIG_free(es);

    return 64;
}


static char *
mint_mode(const char *header, const char *payload, EVP_PKEY *pkey,
    sign_mode_t mode)
{
    char           *h, *p, *input, *token;
    size_t          siglen;
    unsigned char   sig[1024];

    h = b64(header, strlen(header));
    p = b64(payload, strlen(payload));
    input = malloc(strlen(h) + strlen(p) + 2);
    sprintf(input, "%s.%s", h, p);

    siglen = sign_input(input, pkey, mode, sig);
    token = token_with_sig(header, strlen(header), payload, sig, siglen);

    free(h);
    free(p);
    free(input);

    return token;
}


static char *
mint(const char *header, const char *payload, EVP_PKEY *pkey)
{
    return mint_mode(header, payload, pkey, SIGN_JWS);
}


/* the claims of a good token, for a test to change one of them */

static json_t *
claims(void)
{
    json_t  *c;

    c = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I}",
                  "iss", ISS, "aud", AUD, "sub", "user-1",
                  "client_id", "app-1", "scope", "patient/*.read",
                  "patient", "-19990000000001", "jti", "jti-1",
                  "iat", (json_int_t) NOW - 60,
                  "exp", (json_int_t) NOW + 3000);
    ck_assert_ptr_nonnull(c);

    return c;
}


static char *
dump(json_t *c)
{
    char  *s;

    s = json_dumps(c, JSON_COMPACT);
    ck_assert_ptr_nonnull(s);
    json_decref(c);

    return s;
}


/* a token over the claims c (consumed), signed by the EC key */

static char *
mint_claims(json_t *c)
{
    char  *payload, *token;

    payload = dump(c);
    token = mint(HDR_EC, payload, ec_key);
    free(payload);

    return token;
}


static json_t *
with(const char *name, json_t *value)
{
    json_t  *c;

    c = claims();
    ck_assert_int_eq(json_object_set_new(c, name, value), 0);

    return c;
}


static json_t *
without(const char *name)
{
    json_t  *c;

    c = claims();
    ck_assert_int_eq(json_object_del(c, name), 0);

    return c;
}


static json_t *
times(json_int_t iat, json_int_t exp)
{
    json_t  *c;

    c = claims();
    json_object_set_new(c, "iat", json_integer(iat));
    json_object_set_new(c, "exp", json_integer(exp));

    return c;
}


/* verify and free the token; expect NULL to accept, or the exact error */

static void
expect_line(char *token, const char *expect, int line)
{
    bb_jwt_t  *jwt;

    err[0] = '\0';
    jwt = bb_jwt_verify(&policy, token, strlen(token), &limits, err,
                        sizeof(err));

    if (expect == NULL) {
        ck_assert_msg(jwt != NULL, "line %d: refused: %s", line, err);

    } else {
        ck_assert_msg(jwt == NULL, "line %d: accepted, expected \"%s\"",
                      line, expect);
        ck_assert_msg(strcmp(err, expect) == 0,
                      "line %d: \"%s\", expected \"%s\"", line, err, expect);
    }

    bb_jwt_free(jwt);
    free(token);
}


#define expect(token, error)  expect_line(token, error, __LINE__)


START_TEST(test_accept_es256)
{
    char      *token;
    bb_jwt_t  *jwt;

    token = mint_claims(claims());
    jwt = bb_jwt_verify(&policy, token, strlen(token), &limits, err,
                        sizeof(err));
    ck_assert_msg(jwt != NULL, "refused: %s", err);

    ck_assert_str_eq(jwt->sub, "user-1");
    ck_assert_str_eq(jwt->client_id, "app-1");
    ck_assert_str_eq(jwt->scope, "patient/*.read");
    ck_assert_str_eq(jwt->patient, "-19990000000001");
    ck_assert_str_eq(jwt->jti, "jti-1");
    ck_assert_str_eq(jwt->kid, "ec1");
    ck_assert_int_eq(jwt->iat, NOW - 60);
    ck_assert_int_eq(jwt->exp, NOW + 3000);
    ck_assert_int_eq(jwt->nbf, 0);

    bb_jwt_free(jwt);
    free(token);
}
END_TEST


START_TEST(test_accept_rs256)
{
    char      *payload, *token;
    bb_jwt_t  *jwt;

    payload = dump(without("patient"));
    token = mint(HDR_RSA, payload, rsa_key);
    jwt = bb_jwt_verify(&policy, token, strlen(token), &limits, err,
                        sizeof(err));
    ck_assert_msg(jwt != NULL, "refused: %s", err);

    ck_assert_str_eq(jwt->kid, "rsa1");
    ck_assert_ptr_null(jwt->patient);

    bb_jwt_free(jwt);
    free(token);
    free(payload);
}
END_TEST


START_TEST(test_alg_mismatch)
{
    char  *payload;

    payload = dump(claims());

    expect(mint(HDR_EC, payload, ec_key), NULL);
    expect(mint("{\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":\"ec1\"}",
                payload, ec_key),
           "token \"alg\" \"RS256\" does not match kid \"ec1\" (ES256)");
    expect(mint("{\"alg\":\"ES384\",\"typ\":\"at+jwt\",\"kid\":\"ec1\"}",
                payload, ec_key),
           "token \"alg\" \"ES384\" does not match kid \"ec1\" (ES256)");
    expect(mint("{\"alg\":\"es256\",\"typ\":\"at+jwt\",\"kid\":\"ec1\"}",
                payload, ec_key),
           "token \"alg\" \"es256\" does not match kid \"ec1\" (ES256)");

    expect(mint(HDR_RSA, payload, rsa_key), NULL);
    expect(mint("{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"rsa1\"}",
                payload, rsa_key),
           "token \"alg\" \"ES256\" does not match kid \"rsa1\" (RS256)");
    expect(mint("{\"alg\":\"PS256\",\"typ\":\"at+jwt\",\"kid\":\"rsa1\"}",
                payload, rsa_key),
           "token \"alg\" \"PS256\" does not match kid \"rsa1\" (RS256)");

    free(payload);
}
END_TEST


START_TEST(test_alg_none)
{
    size_t       i;
    char        *payload, hdr[128], msg[128];
    const char  *names[] = { "none", "NONE", "None", "nOnE" };

    payload = dump(claims());

    expect(mint(HDR_EC, payload, ec_key), NULL);

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(hdr, sizeof(hdr),
                 "{\"alg\":\"%s\",\"typ\":\"at+jwt\",\"kid\":\"ec1\"}",
                 names[i]);
        snprintf(msg, sizeof(msg), "token \"alg\" \"%s\" refused: unsigned",
                 names[i]);

        /* with an empty signature, as alg none has it, and with one */

        expect(token_with_sig(hdr, strlen(hdr), payload, NULL, 0), msg);
        expect(mint(hdr, payload, ec_key), msg);
    }

    free(payload);
}
END_TEST


START_TEST(test_alg_hmac_with_public_pem)
{
    char  *payload;

    payload = dump(claims());

    expect(mint(HDR_EC, payload, ec_key), NULL);
    expect(mint_mode("{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"ec1\"}",
                     payload, ec_key, SIGN_HMAC_PEM),
           "token \"alg\" \"HS256\" refused: symmetric");

    expect(mint(HDR_RSA, payload, rsa_key), NULL);
    expect(mint_mode("{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"rsa1\"}",
                     payload, rsa_key, SIGN_HMAC_PEM),
           "token \"alg\" \"HS256\" refused: symmetric");
    expect(mint_mode("{\"alg\":\"hs512\",\"typ\":\"at+jwt\",\"kid\":\"rsa1\"}",
                     payload, rsa_key, SIGN_HMAC_PEM),
           "token \"alg\" \"hs512\" refused: symmetric");

    free(payload);
}
END_TEST


START_TEST(test_alg_missing)
{
    char  *payload;

    payload = dump(claims());

    expect(mint(HDR_EC, payload, ec_key), NULL);
    expect(mint("{\"typ\":\"at+jwt\",\"kid\":\"ec1\"}", payload, ec_key),
           "token header has no \"alg\"");
    expect(mint("{\"alg\":256,\"typ\":\"at+jwt\",\"kid\":\"ec1\"}", payload,
                ec_key),
           "token \"alg\" is not a string");

    free(payload);
}
END_TEST


START_TEST(test_kid)
{
    char  *payload, xs[71], hdr[256], msg[256];

    payload = dump(claims());

    expect(mint(HDR_EC, payload, ec_key), NULL);
    expect(mint("{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"k9\"}",
                payload, ec_key),
           "unknown kid \"k9\"");
    expect(mint("{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"EC1\"}",
                payload, ec_key),
           "unknown kid \"EC1\"");
    expect(mint("{\"alg\":\"ES256\",\"typ\":\"at+jwt\"}", payload, ec_key),
           "token header has no \"kid\"");
    expect(mint("{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":1}", payload,
                ec_key),
           "token \"kid\" is not a string");

    /* a hostile kid is cut and cleaned before it reaches a log */

    memset(xs, 'x', 70);
    xs[70] = '\0';
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"typ\":\"at+jwt\","
             "\"kid\":\"a\\\"b\\n%s\"}", xs);
    snprintf(msg, sizeof(msg), "unknown kid \"a\\x22b\\x0A%.60s...\"", xs);
    expect(mint(hdr, payload, ec_key), msg);

    free(payload);
}
END_TEST


START_TEST(test_crit)
{
    char  *payload;

    payload = dump(claims());

    expect(mint(HDR_EC, payload, ec_key), NULL);
    expect(mint("{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"ec1\","
                "\"crit\":[\"exp\"]}", payload, ec_key),
           "token header \"crit\" is not supported");

    free(payload);
}
END_TEST


START_TEST(test_bad_signature)
{
    char    *payload, *token, *dot;
    size_t   n;

    payload = dump(claims());

    expect(mint(HDR_EC, payload, ec_key), NULL);
    expect(mint(HDR_EC, payload, ec_other), "token signature does not verify");
    expect(mint(HDR_RSA, payload, rsa_key), NULL);
    expect(mint(HDR_RSA, payload, ec_key), "RS256 signature is 64 bytes, "
           "expected 256");

    /* a claim changed after signing: one base64url character of the payload */

    token = mint(HDR_EC, payload, ec_key);
    dot = strchr(token, '.');
    n = strcspn(dot + 1, ".") / 2;
    dot[1 + n] = dot[1 + n] == 'A' ? 'B' : 'A';
    expect(token, "token signature does not verify");

    /* the signature itself changed: the last byte of s */

    token = mint(HDR_EC, payload, ec_key);
    n = strlen(token);
    token[n - 2] = token[n - 2] == 'A' ? 'B' : 'A';
    expect(token, "token signature does not verify");

    free(payload);
}
END_TEST


START_TEST(test_es256_signature_length)
{
    char           *payload, *input, *h, *p, msg[128];
    size_t          siglen;
    unsigned char   sig[1024];

    payload = dump(claims());
    h = b64(HDR_EC, strlen(HDR_EC));
    p = b64(payload, strlen(payload));
    input = malloc(strlen(h) + strlen(p) + 2);
    sprintf(input, "%s.%s", h, p);

    siglen = sign_input(input, ec_key, SIGN_JWS, sig);
    ck_assert_uint_eq(siglen, 64);

    expect(token_with_sig(HDR_EC, strlen(HDR_EC), payload, sig, 64), NULL);
    expect(token_with_sig(HDR_EC, strlen(HDR_EC), payload, sig, 63),
           "ES256 signature is 63 bytes, expected 64");

    sig[64] = 0;
    expect(token_with_sig(HDR_EC, strlen(HDR_EC), payload, sig, 65),
           "ES256 signature is 65 bytes, expected 64");

    /* the DER form OpenSSL makes, valid as such, is not a JWS signature */

    siglen = sign_input(input, ec_key, SIGN_DER, sig);
    ck_assert_uint_ne(siglen, 64);
    snprintf(msg, sizeof(msg), "ES256 signature is %zu bytes, expected 64",
             siglen);
    expect(token_with_sig(HDR_EC, strlen(HDR_EC), payload, sig, siglen), msg);

    free(h);
    free(p);
    free(input);
    free(payload);
}
END_TEST


START_TEST(test_issuer)
{
    expect(mint_claims(claims()), NULL);
    expect(mint_claims(with("iss", json_string("https://evil.example"))),
           "token \"iss\" \"https://evil.example\" is not the policy issuer");
    expect(mint_claims(with("iss", json_string(ISS "/"))),
           "token \"iss\" \"" ISS "/\" is not the policy issuer");
}
END_TEST


START_TEST(test_audience)
{
    expect(mint_claims(with("aud", json_string(AUD))), NULL);
    expect(mint_claims(with("aud", json_pack("[s]", AUD))), NULL);
    expect(mint_claims(with("aud", json_pack("[s,s]", "other", AUD))), NULL);

    expect(mint_claims(with("aud", json_string("https://other.example"))),
           "token \"aud\" does not include the policy audience");
    expect(mint_claims(with("aud", json_pack("[s,s]", "a", "b"))),
           "token \"aud\" does not include the policy audience");
    expect(mint_claims(with("aud", json_array())),
           "token \"aud\" does not include the policy audience");
    expect(mint_claims(with("aud", json_pack("[s,i]", AUD, 1))),
           "token \"aud\" is not a string or array of strings");
    expect(mint_claims(with("aud", json_integer(1))),
           "token \"aud\" is not a string or array of strings");
    expect(mint_claims(without("aud")), "token has no \"aud\"");
}
END_TEST


START_TEST(test_expired)
{
    /* exp may lie up to the leeway in the past, and no further */

    expect(mint_claims(times(NOW - 600, NOW - LEEWAY)), NULL);
    expect(mint_claims(times(NOW - 600, NOW - LEEWAY - 1)), "token expired");

    limits.leeway = 0;
    expect(mint_claims(times(NOW - 600, NOW)), NULL);
    expect(mint_claims(times(NOW - 600, NOW - 1)), "token expired");
}
END_TEST


START_TEST(test_not_yet_valid)
{
    expect(mint_claims(with("nbf", json_integer(NOW + LEEWAY))), NULL);
    expect(mint_claims(with("nbf", json_integer(NOW + LEEWAY + 1))),
           "token not yet valid");

    limits.leeway = 0;
    expect(mint_claims(with("nbf", json_integer(NOW))), NULL);
    expect(mint_claims(with("nbf", json_integer(NOW + 1))),
           "token not yet valid");
}
END_TEST


START_TEST(test_issued_in_future)
{
    expect(mint_claims(times(NOW + LEEWAY, NOW + 600)), NULL);
    expect(mint_claims(times(NOW + LEEWAY + 1, NOW + 600)),
           "token issued in the future");
}
END_TEST


START_TEST(test_lifetime)
{
    expect(mint_claims(times(NOW - 10, NOW - 10 + LIFETIME)), NULL);
    expect(mint_claims(times(NOW - 10, NOW - 10 + LIFETIME + 1)),
           "token lifetime exceeds 3600 seconds");

    limits.max_lifetime = 0;
    expect(mint_claims(times(NOW - 10, NOW - 10 + LIFETIME + 1)), NULL);

    /* extreme values neither overflow nor pass */

    limits.max_lifetime = LIFETIME;
    expect(mint_claims(times(-9223372036854775807LL - 1,
                             9223372036854775807LL)),
           "token lifetime exceeds 3600 seconds");
}
END_TEST


START_TEST(test_exp_after_iat)
{
    expect(mint_claims(times(NOW - 10, NOW - 9)), NULL);
    expect(mint_claims(times(NOW - 10, NOW - 10)),
           "token \"exp\" is not after \"iat\"");
    expect(mint_claims(times(NOW - 10, NOW - 11)),
           "token \"exp\" is not after \"iat\"");
}
END_TEST


START_TEST(test_required_claims)
{
    size_t       i;
    char         msg[128];
    const char  *names[] = {
        "iss", "sub", "client_id", "scope", "jti", "iat", "exp"
    };

    expect(mint_claims(claims()), NULL);

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(msg, sizeof(msg), "token has no \"%s\"", names[i]);
        expect(mint_claims(without(names[i])), msg);
    }

    /* patient is the one optional string */

    expect(mint_claims(without("patient")), NULL);
}
END_TEST


START_TEST(test_string_claim_types)
{
    size_t       i;
    char         msg[128];
    const char  *names[] = {
        "iss", "sub", "client_id", "scope", "jti", "patient"
    };

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(msg, sizeof(msg), "token \"%s\" is not a string", names[i]);
        expect(mint_claims(with(names[i], json_integer(5))), msg);
        expect(mint_claims(with(names[i], json_pack("[s]", "x"))), msg);
        expect(mint_claims(with(names[i], json_null())), msg);

        snprintf(msg, sizeof(msg), "token \"%s\" is empty", names[i]);
        expect(mint_claims(with(names[i], json_string(""))), msg);

        snprintf(msg, sizeof(msg), "token \"%s\" holds a control character",
                 names[i]);
        expect(mint_claims(with(names[i], json_string("a\nb"))), msg);
        expect(mint_claims(with(names[i], json_string("a\x7f"))), msg);
    }

    /* the positive control for each: a plain value of the same claim */

    expect(mint_claims(with("sub", json_string("a b"))), NULL);
    expect(mint_claims(with("client_id", json_string("app\xc3\xa9"))), NULL);
    expect(mint_claims(with("scope", json_string("patient/Coverage.rs"))),
           NULL);
    expect(mint_claims(with("jti", json_string("x"))), NULL);
    expect(mint_claims(with("patient", json_string("1"))), NULL);
}
END_TEST


START_TEST(test_integer_claim_types)
{
    size_t       i;
    char         msg[128];
    const char  *names[] = { "iat", "exp", "nbf" };

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(msg, sizeof(msg), "token \"%s\" is not an integer",
                 names[i]);
        expect(mint_claims(with(names[i], json_string("1700000000"))), msg);
        expect(mint_claims(with(names[i], json_real(NOW + 1.5))), msg);
        expect(mint_claims(with(names[i], json_real(NOW))), msg);
        expect(mint_claims(with(names[i], json_true())), msg);
    }

    expect(mint_claims(with("exp", json_integer(NOW + 1))), NULL);
    expect(mint_claims(with("iat", json_integer(NOW))), NULL);
    expect(mint_claims(with("nbf", json_integer(NOW))), NULL);
}
END_TEST


START_TEST(test_bad_base64url)
{
    char    *token, *dot1, *dot2;
    size_t   n;

    expect(mint_claims(claims()), NULL);

    token = mint_claims(claims());
    token[0] = '+';
    expect(token, "token header is not base64url");

    token = mint_claims(claims());
    dot1 = strchr(token, '.');
    dot1[1] = '/';
    expect(token, "token payload is not base64url");

    token = mint_claims(claims());
    n = strlen(token);
    token[n - 1] = '=';
    expect(token, "token signature is not base64url");

    /* a padded header */

    token = mint_claims(claims());
    dot1 = strchr(token, '.');
    dot2 = malloc(strlen(token) + 3);
    memcpy(dot2, token, dot1 - token);
    strcpy(dot2 + (dot1 - token), "==");
    strcat(dot2, dot1);
    free(token);
    expect(dot2, "token header is not base64url");
}
END_TEST


START_TEST(test_bad_json)
{
    char  *payload;

    payload = dump(claims());

    expect(mint(HDR_EC, payload, ec_key), NULL);
    expect(mint("{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"ec1\"",
                payload, ec_key),
           "token header is not valid JSON");
    expect(mint("[\"ES256\"]", payload, ec_key),
           "token header is not a JSON object");
    expect(mint("", payload, ec_key), "token header is not valid JSON");
    expect(mint("{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"ec1\","
                "\"alg\":\"ES256\"}", payload, ec_key),
           "token header is not valid JSON");
    expect(mint(HDR_EC " x", payload, ec_key),
           "token header is not valid JSON");

    expect(mint(HDR_EC, "{\"sub\":", ec_key),
           "token payload is not valid JSON");
    expect(mint(HDR_EC, "[1]", ec_key), "token payload is not a JSON object");

    free(payload);

    /* a claim given twice: the two readings must not disagree */

    payload = dump(claims());
    ck_assert_int_eq(payload[strlen(payload) - 1], '}');
    payload[strlen(payload) - 1] = '\0';
    payload = realloc(payload, strlen(payload) + 32);
    strcat(payload, ",\"sub\":\"user-2\"}");
    expect(mint(HDR_EC, payload, ec_key), "token payload is not valid JSON");
    free(payload);
}
END_TEST


START_TEST(test_segments)
{
    char    *token, *dot, *t;
    size_t   n;

    expect(mint_claims(claims()), NULL);

    token = mint_claims(claims());
    dot = strrchr(token, '.');
    *dot = '\0';
    expect(token, "token has 2 segments, expected 3");

    token = mint_claims(claims());
    n = strlen(token);
    t = malloc(n + 6);
    memcpy(t, token, n);
    strcpy(t + n, ".AAAA");
    free(token);
    expect(t, "token has 4 segments, expected 3");

    expect(strdup("abc"), "token has 1 segment, expected 3");
    expect(strdup(""), "token has 1 segment, expected 3");
    expect(strdup(".."), "token header is not valid JSON");
}
END_TEST


START_TEST(test_size)
{
    char    *token, msg[128];
    size_t   n;

    token = mint_claims(claims());
    n = strlen(token);
    free(token);

    limits.max_size = n;
    expect(mint_claims(claims()), NULL);

    limits.max_size = n - 1;
    snprintf(msg, sizeof(msg), "token too large (%zu bytes, at most %zu)",
             n, n - 1);
    expect(mint_claims(claims()), msg);
}
END_TEST


START_TEST(test_typ)
{
    char  *payload;

    payload = dump(claims());

    expect(mint(HDR_EC, payload, ec_key), NULL);
    expect(mint("{\"alg\":\"ES256\",\"typ\":\"AT+JWT\",\"kid\":\"ec1\"}",
                payload, ec_key), NULL);
    expect(mint("{\"alg\":\"ES256\",\"typ\":\"application/at+jwt\","
                "\"kid\":\"ec1\"}", payload, ec_key), NULL);

    expect(mint("{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"ec1\"}",
                payload, ec_key),
           "token \"typ\" \"JWT\" is not \"at+jwt\"");
    expect(mint("{\"alg\":\"ES256\",\"typ\":\"at+jwt \",\"kid\":\"ec1\"}",
                payload, ec_key),
           "token \"typ\" \"at+jwt\\x20\" is not \"at+jwt\"");
    expect(mint("{\"alg\":\"ES256\",\"kid\":\"ec1\"}", payload, ec_key),
           "token header has no \"typ\"");
    expect(mint("{\"alg\":\"ES256\",\"typ\":null,\"kid\":\"ec1\"}", payload,
                ec_key),
           "token \"typ\" is not a string");

    free(payload);
}
END_TEST


START_TEST(test_live)
{
    bb_jwt_t  jwt;

    memset(&jwt, 0, sizeof(bb_jwt_t));
    jwt.iat = NOW - 100;
    jwt.exp = NOW;

    ck_assert_int_eq(bb_jwt_live(&jwt, NOW, 0), 1);
    ck_assert_int_eq(bb_jwt_live(&jwt, NOW + 1, 0), 0);
    ck_assert_int_eq(bb_jwt_live(&jwt, NOW + 30, 30), 1);
    ck_assert_int_eq(bb_jwt_live(&jwt, NOW + 31, 30), 0);

    jwt.nbf = NOW - 10;
    ck_assert_int_eq(bb_jwt_live(&jwt, NOW - 10, 0), 1);
    ck_assert_int_eq(bb_jwt_live(&jwt, NOW - 11, 0), 0);
    ck_assert_int_eq(bb_jwt_live(&jwt, NOW - 40, 30), 1);
    ck_assert_int_eq(bb_jwt_live(&jwt, NOW - 41, 30), 0);
}
END_TEST


START_TEST(test_jws_verify)
{
    char           *payload, *h, *p, *input;
    size_t          siglen;
    unsigned char   sig[1024];

    payload = dump(claims());
    h = b64(HDR_EC, strlen(HDR_EC));
    p = b64(payload, strlen(payload));
    input = malloc(strlen(h) + strlen(p) + 2);
    sprintf(input, "%s.%s", h, p);

    siglen = sign_input(input, ec_key, SIGN_JWS, sig);
    ck_assert_int_eq(bb_jws_verify(&keys[0], input, strlen(input), sig,
                                   siglen), 0);
    ck_assert_int_eq(bb_jws_verify(&keys[0], input, strlen(input) - 1, sig,
                                   siglen), -1);
    ck_assert_int_eq(bb_jws_verify(&keys[1], input, strlen(input), sig,
                                   siglen), -1);
    ck_assert_int_eq(bb_jws_verify(&keys[0], input, strlen(input), sig,
                                   siglen - 1), -1);

    siglen = sign_input(input, rsa_key, SIGN_JWS, sig);
    ck_assert_int_eq(bb_jws_verify(&keys[1], input, strlen(input), sig,
                                   siglen), 0);
    sig[0] ^= 1;
    ck_assert_int_eq(bb_jws_verify(&keys[1], input, strlen(input), sig,
                                   siglen), -1);

    free(h);
    free(p);
    free(input);
    free(payload);
}
END_TEST


static int
import(json_t *jwk, bb_key_t *key)
{
    int  rc;

    err[0] = '\0';
    rc = bb_key_from_jwk(key, jwk, err, sizeof(err));
    json_decref(jwk);

    return rc;
}


#define assert_jwk_refused(jwk, msg)                                         \
    do {                                                                     \
        bb_key_t  k_;                                                        \
        ck_assert_int_eq(import(jwk, &k_), -1);                              \
        ck_assert_str_eq(err, msg);                                          \
        ck_assert_ptr_null(k_.pkey);                                         \
    } while (0)


#define assert_jwk_accepted(jwk)                                             \
    do {                                                                     \
        bb_key_t  k_;                                                        \
        ck_assert_msg(import(jwk, &k_) == 0, "refused: %s", err);            \
        ck_assert_ptr_nonnull(k_.pkey);                                      \
        bb_key_clear(&k_);                                                   \
    } while (0)


static json_t *
jwk_with(EVP_PKEY *pkey, const char *name, json_t *value)
{
    json_t  *jwk;

    jwk = jwk_of(pkey, "k1");

    if (value == NULL) {
        json_object_del(jwk, name);

    } else {
        json_object_set_new(jwk, name, value);
    }

    return jwk;
}


START_TEST(test_jwk_ec)
{
    json_t         *jwk;
    bb_buf_t        y = { 0 };
    char           *s;

    assert_jwk_accepted(jwk_of(ec_key, "k1"));

    assert_jwk_refused(jwk_with(ec_key, "crv", json_string("P-384")),
                       "jwk \"k1\": unsupported \"crv\" \"P-384\"");
    assert_jwk_refused(jwk_with(ec_key, "crv", NULL),
                       "jwk \"k1\": no \"crv\"");
    assert_jwk_refused(jwk_with(ec_key, "alg", json_string("ES384")),
                       "jwk \"k1\": unsupported \"alg\" \"ES384\" for "
                       "\"kty\" \"EC\"");
    assert_jwk_refused(jwk_with(ec_key, "alg", json_string("RS256")),
                       "jwk \"k1\": unsupported \"alg\" \"RS256\" for "
                       "\"kty\" \"EC\"");
    assert_jwk_refused(jwk_with(ec_key, "alg", NULL),
                       "jwk \"k1\": no \"alg\"");
    assert_jwk_refused(jwk_with(ec_key, "kid", NULL), "jwk has no \"kid\"");
    assert_jwk_refused(jwk_with(ec_key, "kid", json_integer(1)),
                       "jwk \"kid\" is not a string");
    assert_jwk_refused(jwk_with(ec_key, "kid", json_string("")),
                       "jwk \"kid\" is empty");
    assert_jwk_refused(jwk_with(ec_key, "kty", json_string("oct")),
                       "jwk \"k1\": unsupported \"kty\" \"oct\"");
    assert_jwk_refused(jwk_with(ec_key, "use", json_string("enc")),
                       "jwk \"k1\": \"use\" is not \"sig\"");
    assert_jwk_accepted(jwk_with(ec_key, "use", json_string("sig")));

    /* a private key in a public document */

    assert_jwk_refused(jwk_with(ec_key, "d", json_string("AAAA")),
                       "jwk \"k1\": private member \"d\" refused");

    /* coordinates: length, encoding, and a point off the curve */

    assert_jwk_refused(jwk_with(ec_key, "x", json_string("AAAA")),
                       "jwk \"k1\": \"x\" is not 32 bytes");
    assert_jwk_refused(jwk_with(ec_key, "y", json_string("AA==")),
                       "jwk \"k1\": \"y\" is not base64url");
    assert_jwk_refused(jwk_with(ec_key, "y", NULL), "jwk \"k1\": no \"y\"");

    jwk = jwk_of(ec_key, "k1");
    s = (char *) json_string_value(json_object_get(jwk, "y"));
    ck_assert_int_eq(bb_b64url_decode(s, strlen(s), &y), 0);
    y.data[31] ^= 1;
    s = b64(y.data, 32);
    json_object_set_new(jwk, "y", json_string(s));
    free(s);
    bb_buf_free(&y);
    assert_jwk_refused(jwk, "jwk \"k1\": \"x\", \"y\" is not a P-256 point");

    assert_jwk_refused(json_string("k1"), "jwk is not a JSON object");
}
END_TEST


START_TEST(test_jwk_rsa)
{
    EVP_PKEY  *small;

    assert_jwk_accepted(jwk_of(rsa_key, "k1"));

    assert_jwk_refused(jwk_with(rsa_key, "alg", json_string("PS256")),
                       "jwk \"k1\": unsupported \"alg\" \"PS256\" for "
                       "\"kty\" \"RSA\"");
    assert_jwk_refused(jwk_with(rsa_key, "p", json_string("AAAA")),
                       "jwk \"k1\": private member \"p\" refused");
    assert_jwk_refused(jwk_with(rsa_key, "n", json_integer(3)),
                       "jwk \"k1\": \"n\" is not a string");
    assert_jwk_refused(jwk_with(rsa_key, "e", json_string("")),
                       "jwk \"k1\": \"e\" is not base64url");

    small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 1024);
    ck_assert_ptr_nonnull(small);
    assert_jwk_refused(jwk_of(small, "k1"),
                       "jwk \"k1\": RSA modulus of 1024 bits is under 2048");
    EVP_PKEY_free(small);
}
END_TEST


#ifdef HAVE_LIBJWT

static char *
pem_private(EVP_PKEY *pkey, size_t *len)
{
    BIO   *bio;
    char  *data, *pem;
    long   n;

    bio = BIO_new(BIO_s_mem());
    ck_assert_int_eq(PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL,
                                              NULL), 1);

    n = BIO_get_mem_data(bio, &data);
    pem = malloc(n + 1);
    memcpy(pem, data, n);
    pem[n] = '\0';
    *len = n;

    BIO_free(bio);

    return pem;
}


START_TEST(test_libjwt_signs)
{
    char      *pem, *token, *dot2;
    jwt_t     *jwt;
    size_t     pemlen;
    bb_buf_t   sig = { 0 };

    pem = pem_private(ec_key, &pemlen);

    ck_assert_int_eq(jwt_new(&jwt), 0);
    jwt_add_header(jwt, "kid", "ec1");
    jwt_add_grant(jwt, "iss", ISS);
    jwt_add_grant(jwt, "aud", AUD);
    jwt_add_grant(jwt, "sub", "user-1");
    jwt_add_grant(jwt, "client_id", "app-1");
    jwt_add_grant(jwt, "scope", "patient/*.read");
    jwt_add_grant(jwt, "jti", "jti-1");
    jwt_add_grant_int(jwt, "iat", NOW - 60);
    jwt_add_grant_int(jwt, "exp", NOW + 600);
    ck_assert_int_eq(jwt_set_alg(jwt, JWT_ALG_ES256, (unsigned char *) pem,
                                 (int) pemlen), 0);

    token = jwt_encode_str(jwt);
    ck_assert_ptr_nonnull(token);

    dot2 = strrchr(token, '.');
    ck_assert_int_eq(bb_b64url_decode(dot2 + 1, strlen(dot2 + 1), &sig), 0);
    ck_assert_uint_eq(sig.len, 64);

    /* libjwt's own signature over its own header and payload verifies */

    ck_assert_int_eq(bb_jws_verify(&keys[0], token, dot2 - token,
                                   (unsigned char *) sig.data, sig.len), 0);
    ck_assert_int_eq(bb_jws_verify(&keys[0], token, dot2 - token - 1,
                                   (unsigned char *) sig.data, sig.len), -1);
    ck_assert_int_eq(bb_jws_verify(&keys[1], token, dot2 - token,
                                   (unsigned char *) sig.data, sig.len), -1);

    /* and the token is still refused, for being a plain JWT */

    err[0] = '\0';
    ck_assert_ptr_null(bb_jwt_verify(&policy, token, strlen(token), &limits,
                                     err, sizeof(err)));
    ck_assert_str_eq(err, "token \"typ\" \"JWT\" is not \"at+jwt\"");

    bb_buf_free(&sig);
    free(token);
    jwt_free(jwt);
    free(pem);
}
END_TEST


START_TEST(test_libjwt_verifies)
{
    char    *pem, *payload, *token;
    jwt_t   *jwt;
    size_t   pemlen;

    /* the signer of these tests, checked by an independent verifier */

    pem = pem_public(ec_key, &pemlen);
    payload = dump(claims());

    token = mint("{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"ec1\"}",
                 payload, ec_key);
    jwt = NULL;
    ck_assert_int_eq(jwt_decode(&jwt, token, (unsigned char *) pem,
                                (int) pemlen), 0);
    ck_assert_str_eq(jwt_get_grant(jwt, "sub"), "user-1");
    jwt_free(jwt);
    free(token);

    token = mint("{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"ec1\"}",
                 payload, ec_other);
    jwt = NULL;
    ck_assert_int_ne(jwt_decode(&jwt, token, (unsigned char *) pem,
                                (int) pemlen), 0);
    jwt_free(jwt);
    free(token);

    free(payload);
    free(pem);
}
END_TEST

#endif


static void
setup(void)
{
    limits.now = NOW;
    limits.leeway = LEEWAY;
    limits.max_lifetime = LIFETIME;
    limits.max_size = BB_JWT_DEFAULT_MAX_SIZE;
}


static Suite *
jwt_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("jwt");
    tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 30);

    tcase_add_test(tc, test_accept_es256);
    tcase_add_test(tc, test_accept_rs256);
    tcase_add_test(tc, test_alg_mismatch);
    tcase_add_test(tc, test_alg_none);
    tcase_add_test(tc, test_alg_hmac_with_public_pem);
    tcase_add_test(tc, test_alg_missing);
    tcase_add_test(tc, test_kid);
    tcase_add_test(tc, test_crit);
    tcase_add_test(tc, test_bad_signature);
    tcase_add_test(tc, test_es256_signature_length);
    tcase_add_test(tc, test_issuer);
    tcase_add_test(tc, test_audience);
    tcase_add_test(tc, test_expired);
    tcase_add_test(tc, test_not_yet_valid);
    tcase_add_test(tc, test_issued_in_future);
    tcase_add_test(tc, test_lifetime);
    tcase_add_test(tc, test_exp_after_iat);
    tcase_add_test(tc, test_required_claims);
    tcase_add_test(tc, test_string_claim_types);
    tcase_add_test(tc, test_integer_claim_types);
    tcase_add_test(tc, test_bad_base64url);
    tcase_add_test(tc, test_bad_json);
    tcase_add_test(tc, test_segments);
    tcase_add_test(tc, test_size);
    tcase_add_test(tc, test_typ);
    tcase_add_test(tc, test_live);
    tcase_add_test(tc, test_jws_verify);
    tcase_add_test(tc, test_jwk_ec);
    tcase_add_test(tc, test_jwk_rsa);
#ifdef HAVE_LIBJWT
    tcase_add_test(tc, test_libjwt_signs);
    tcase_add_test(tc, test_libjwt_verifies);
#endif
    suite_add_tcase(s, tc);

    return s;
}


int
main(void)
{
    int       failed;
    json_t   *jwk;
    SRunner  *sr;

    ec_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ec_other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);

    if (ec_key == NULL || ec_other == NULL || rsa_key == NULL) {
        fprintf(stderr, "EVP_PKEY_Q_keygen() failed\n");
        return EXIT_FAILURE;
    }

    jwk = jwk_of(ec_key, "ec1");
    if (bb_key_from_jwk(&keys[0], jwk, err, sizeof(err)) != 0) {
        fprintf(stderr, "ec1: %s\n", err);
        return EXIT_FAILURE;
    }

    json_decref(jwk);

    jwk = jwk_of(rsa_key, "rsa1");
    if (bb_key_from_jwk(&keys[1], jwk, err, sizeof(err)) != 0) {
        fprintf(stderr, "rsa1: %s\n", err);
        return EXIT_FAILURE;
    }

    json_decref(jwk);

    policy.issuer = ISS;
    policy.audience = AUD;
    policy.keys = keys;
    policy.nkeys = 2;

    sr = srunner_create(jwt_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    bb_key_clear(&keys[0]);
    bb_key_clear(&keys[1]);
    EVP_PKEY_free(ec_key);
    EVP_PKEY_free(ec_other);
    EVP_PKEY_free(rsa_key);

    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
