/*
 * authd's cryptographic primitives.  scrypt is held to RFC 7914's vector,
 * password hashes to their round trip and to every way a stored string
 * can be damaged, each next to the intact string; ES256 signatures are
 * checked by the gateway's own verifier with a key imported from authd's
 * JWK, which is the contract between the two programs.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "bb_b64.h"
#include "bb_jwt.h"
#include "crypto.h"


#define TEST_LN     14
#define PASSWORD    "correct horse battery staple"
#define PASSPHRASE  "a passphrase of some length"


static char  stored[CRYPTO_PASSWORD_HASH_SIZE];


static void
hex(const unsigned char *raw, size_t len, char *out)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        sprintf(out + 2 * i, "%02x", raw[i]);
    }
}


static size_t
b64url_decoded_len(const char *s)
{
    size_t     len;
    bb_buf_t   buf = { 0 };

    if (bb_b64url_decode(s, strlen(s), &buf) != 0) {
        return (size_t) -1;
    }

    len = buf.len;
    bb_buf_free(&buf);

    return len;
}


/* the stored hash with its first "from" replaced by "to" */

static char *
damage(const char *from, const char *to)
{
    char        *out, *at;
    size_t       flen, tlen;
    static char  buf[2 * CRYPTO_PASSWORD_HASH_SIZE];

    at = strstr(stored, from);
    ck_assert_ptr_nonnull(at);

    flen = strlen(from);
    tlen = strlen(to);
    out = buf;

    memcpy(out, stored, at - stored);
    memcpy(out + (at - stored), to, tlen);
    strcpy(out + (at - stored) + tlen, at + flen);

    return out;
}


static void
setup_hash(void)
{
    ck_assert_int_eq(crypto_password_hash(PASSWORD, TEST_LN, stored,
                                          sizeof(stored)), 0);
}


START_TEST(test_scrypt_rfc7914)
{
    char           out[129];
    unsigned char  key[64];

    static const char  expect[] =
        "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
        "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640";

    ck_assert_int_eq(crypto_scrypt_derive("password", 8,
                                          (const unsigned char *) "NaCl", 4,
                                          1024, 8, 16, key, sizeof(key)), 0);
    hex(key, sizeof(key), out);
    ck_assert_str_eq(out, expect);

    /* one byte of salt changed must change the key */

    ck_assert_int_eq(crypto_scrypt_derive("password", 8,
                                          (const unsigned char *) "NaCm", 4,
                                          1024, 8, 16, key, sizeof(key)), 0);
    hex(key, sizeof(key), out);
    ck_assert_str_ne(out, expect);

    /* N must be a power of two */

    ck_assert_int_eq(crypto_scrypt_derive("password", 8,
                                          (const unsigned char *) "NaCl", 4,
                                          1000, 8, 16, key, sizeof(key)), -1);
}
END_TEST


START_TEST(test_password_round_trip)
{
    char  *salt, *key, *dollar;
    char   other[CRYPTO_PASSWORD_HASH_SIZE], copy[CRYPTO_PASSWORD_HASH_SIZE];

    ck_assert_msg(strncmp(stored, "scrypt$ln=14,r=8,p=1$", 21) == 0,
                  "unexpected form \"%s\"", stored);

    strcpy(copy, stored);
    salt = copy + 21;
    dollar = strchr(salt, '$');
    ck_assert_ptr_nonnull(dollar);
    *dollar = '\0';
    key = dollar + 1;

    ck_assert_uint_eq(strlen(salt), 22);
    ck_assert_uint_eq(b64url_decoded_len(salt), 16);
    ck_assert_uint_eq(strlen(key), 43);
    ck_assert_uint_eq(b64url_decoded_len(key), 32);

    ck_assert_int_eq(crypto_password_verify(PASSWORD, stored), 1);

    /* a new salt every time */

    ck_assert_int_eq(crypto_password_hash(PASSWORD, TEST_LN, other,
                                          sizeof(other)), 0);
    ck_assert_str_ne(other, stored);
    ck_assert_int_eq(crypto_password_verify(PASSWORD, other), 1);

    /* the default cost is written as such */

    ck_assert_int_eq(crypto_password_hash(PASSWORD, CRYPTO_SCRYPT_LN_DEFAULT,
                                          other, sizeof(other)), 0);
    ck_assert_msg(strncmp(other, "scrypt$ln=15,r=8,p=1$", 21) == 0,
                  "unexpected form \"%s\"", other);
    ck_assert_int_eq(crypto_password_verify(PASSWORD, other), 1);
}
END_TEST


START_TEST(test_password_wrong)
{
    ck_assert_int_eq(crypto_password_verify(PASSWORD, stored), 1);

    ck_assert_int_eq(crypto_password_verify("correct horse battery stapler",
                                            stored), 0);
    ck_assert_int_eq(crypto_password_verify("correct horse battery stapl",
                                            stored), 0);
    ck_assert_int_eq(crypto_password_verify("Correct horse battery staple",
                                            stored), 0);
    ck_assert_int_eq(crypto_password_verify("", stored), 0);
    ck_assert_int_eq(crypto_password_verify(NULL, stored), 0);
}
END_TEST


START_TEST(test_password_malformed)
{
    size_t  i;
    char    longer[2 * CRYPTO_PASSWORD_HASH_SIZE];

    static const char  *cases[][2] = {
        { "scrypt$", "scrypt2$" },
        { "scrypt$", "Scrypt$" },
        { "scrypt$", "" },
        { "ln=14", "ln=9" },
        { "ln=14", "ln=21" },
        { "ln=14", "ln=014" },
        { "ln=14", "ln=+14" },
        { "ln=14", "ln= 14" },
        { "ln=14", "ln=" },
        { "ln=14", "ln=99999999999999999999999" },
        { "r=8", "r=0" },
        { "r=8", "r=9" },
        { "r=8", "r=08" },
        { "p=1", "p=0" },
        { "p=1", "p=5" },
        { ",r=8,p=1", ",p=1,r=8" },
        { "p=1$", "p=1$$" },
        { "p=1$", "p=1" },
        { "p=1$", "p=1$=" },
    };

    ck_assert_int_eq(crypto_password_verify(PASSWORD, stored), 1);

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_msg(crypto_password_verify(PASSWORD,
                                             damage(cases[i][0],
                                                    cases[i][1]))
                      == -1,
                      "\"%s\" -> \"%s\" was not refused", cases[i][0],
                      cases[i][1]);
    }

    /* the salt: one character short, one too many, out of the alphabet */

    ck_assert_int_eq(crypto_password_verify(PASSWORD,
                                            damage("p=1$", "p=1$A")), -1);
    strcpy(longer, stored);
    longer[21] = '+';
    ck_assert_int_eq(crypto_password_verify(PASSWORD, longer), -1);
    strcpy(longer, stored);
    memmove(longer + 21, longer + 22, strlen(longer + 22) + 1);
    ck_assert_int_eq(crypto_password_verify(PASSWORD, longer), -1);

    /* the key: cut, extended, padded, followed by another field */

    strcpy(longer, stored);
    longer[strlen(longer) - 1] = '\0';
    ck_assert_int_eq(crypto_password_verify(PASSWORD, longer), -1);

    snprintf(longer, sizeof(longer), "%sA", stored);
    ck_assert_int_eq(crypto_password_verify(PASSWORD, longer), -1);

    snprintf(longer, sizeof(longer), "%s=", stored);
    ck_assert_int_eq(crypto_password_verify(PASSWORD, longer), -1);

    snprintf(longer, sizeof(longer), "%s$x", stored);
    ck_assert_int_eq(crypto_password_verify(PASSWORD, longer), -1);

    ck_assert_int_eq(crypto_password_verify(PASSWORD, ""), -1);
    ck_assert_int_eq(crypto_password_verify(PASSWORD, NULL), -1);

    /* well formed but with another cost: no match, not malformed */

    ck_assert_int_eq(crypto_password_verify(PASSWORD,
                                            damage("ln=14", "ln=13")), 0);
}
END_TEST


/*
 * A hash made at a cost below today's minimum still verifies, so raising
 * the cost never locks anybody out; it is built here from the KDF itself.
 */

START_TEST(test_password_other_cost)
{
    char           encoded[CRYPTO_PASSWORD_HASH_SIZE];
    bb_buf_t       s = { 0 }, k = { 0 };
    unsigned char  salt[16], key[32];

    memset(salt, 0x5a, sizeof(salt));

    ck_assert_int_eq(crypto_scrypt_derive(PASSWORD, strlen(PASSWORD), salt,
                                          sizeof(salt), 1024, 8, 1, key,
                                          sizeof(key)), 0);
    ck_assert_int_eq(bb_b64url_encode(salt, sizeof(salt), &s), 0);
    ck_assert_int_eq(bb_b64url_encode(key, sizeof(key), &k), 0);

    snprintf(encoded, sizeof(encoded), "scrypt$ln=10,r=8,p=1$%s$%s",
             bb_buf_cstr(&s), bb_buf_cstr(&k));

    ck_assert_int_eq(crypto_password_verify(PASSWORD, encoded), 1);
    ck_assert_int_eq(crypto_password_verify("not it", encoded), 0);

    /* r and p come from the string too */

    ck_assert_int_eq(crypto_scrypt_derive(PASSWORD, strlen(PASSWORD), salt,
                                          sizeof(salt), 1024, 4, 2, key,
                                          sizeof(key)), 0);
    k.len = 0;
    ck_assert_int_eq(bb_b64url_encode(key, sizeof(key), &k), 0);

    snprintf(encoded, sizeof(encoded), "scrypt$ln=10,r=4,p=2$%s$%s",
             bb_buf_cstr(&s), bb_buf_cstr(&k));

    ck_assert_int_eq(crypto_password_verify(PASSWORD, encoded), 1);

    bb_buf_free(&s);
    bb_buf_free(&k);
}
END_TEST


START_TEST(test_password_limits)
{
    char  out[CRYPTO_PASSWORD_HASH_SIZE], big[CRYPTO_PASSWORD_MAX + 2];

    ck_assert_int_eq(crypto_password_hash("x", TEST_LN, out, sizeof(out)), 0);
    ck_assert_int_eq(crypto_password_hash("", TEST_LN, out, sizeof(out)), -1);
    ck_assert_int_eq(crypto_password_hash(NULL, TEST_LN, out, sizeof(out)),
                     -1);

    memset(big, 'p', CRYPTO_PASSWORD_MAX);
    big[CRYPTO_PASSWORD_MAX] = '\0';
    ck_assert_int_eq(crypto_password_hash(big, TEST_LN, out, sizeof(out)), 0);
    ck_assert_int_eq(crypto_password_verify(big, out), 1);

    big[CRYPTO_PASSWORD_MAX] = 'p';
    big[CRYPTO_PASSWORD_MAX + 1] = '\0';
    ck_assert_int_eq(crypto_password_hash(big, TEST_LN, out, sizeof(out)),
                     -1);

    /* a longer password never matches, even one that shares the prefix */

    ck_assert_int_eq(crypto_password_verify(big, stored), 0);

    /* the cost */

    ck_assert_int_eq(crypto_password_hash("x", CRYPTO_SCRYPT_LN_MIN, out,
                                          sizeof(out)), 0);
    ck_assert_int_eq(crypto_password_hash("x", CRYPTO_SCRYPT_LN_MIN - 1, out,
                                          sizeof(out)), -1);
    ck_assert_int_eq(crypto_password_hash("x", 21, out, sizeof(out)), -1);

    /* the output buffer */

    ck_assert_int_eq(crypto_password_hash("x", TEST_LN, out, 87), -1);
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(crypto_password_hash("x", TEST_LN, out, 88), 0);
    ck_assert_uint_eq(strlen(out), 87);
}
END_TEST


/*
 * An unknown account must cost what a known one costs: the dummy path runs
 * the same scrypt derivation at a cost set once at start-up, within the
 * bounds a stored hash may have.  (Its time is the benchmark's business,
 * not a test's.)
 */

START_TEST(test_password_dummy)
{
    ck_assert_int_eq(crypto_password_dummy_cost(CRYPTO_SCRYPT_LN_MIN - 1),
                     -1);
    ck_assert_int_eq(crypto_password_dummy_cost(21), -1);
    ck_assert_int_eq(crypto_password_dummy_cost(TEST_LN), 0);

    /* usable and unusable passwords alike run and leave nothing behind */

    crypto_password_dummy("guess");
    crypto_password_dummy("");

    ck_assert_int_eq(crypto_password_verify("guess", stored), 0);
    ck_assert_int_eq(crypto_password_dummy_cost(CRYPTO_SCRYPT_LN_DEFAULT), 0);
}
END_TEST


START_TEST(test_equal)
{
    static const char  a[] = "0123456789abcdef";
    static const char  b[] = "0123456789abcdef";
    static const char  c[] = "0123456789abcdeF";
    static const char  d[] = "x123456789abcdef";

    ck_assert_int_eq(crypto_equal(a, b, 16), 1);
    ck_assert_int_eq(crypto_equal(a, c, 16), 0);
    ck_assert_int_eq(crypto_equal(a, d, 16), 0);
    ck_assert_int_eq(crypto_equal(a, c, 15), 1);
    ck_assert_int_eq(crypto_equal(a, d, 0), 1);
}
END_TEST


START_TEST(test_random_token)
{
    size_t  i, j;
    char    tokens[64][44], small[44];

    for (i = 0; i < 64; i++) {
        ck_assert_int_eq(crypto_random_token(tokens[i], sizeof(tokens[i]),
                                             32), 0);
        ck_assert_uint_eq(strlen(tokens[i]), 43);
        ck_assert_uint_eq(b64url_decoded_len(tokens[i]), 32);

        for (j = 0; j < i; j++) {
            ck_assert_str_ne(tokens[i], tokens[j]);
        }
    }

    ck_assert_int_eq(crypto_random_token(small, 44, 32), 0);
    ck_assert_int_eq(crypto_random_token(small, 43, 32), -1);

    ck_assert_int_eq(crypto_random_token(small, sizeof(small), 16), 0);
    ck_assert_uint_eq(strlen(small), 22);
    ck_assert_int_eq(crypto_random_token(small, sizeof(small), 1), 0);
    ck_assert_uint_eq(strlen(small), 2);
    ck_assert_int_eq(crypto_random_token(small, sizeof(small), 0), -1);
}
END_TEST


START_TEST(test_random_token_bound)
{
    char  big[crypto_b64url_len(CRYPTO_TOKEN_MAX_BYTES + 1) + 1];

    ck_assert_int_eq(crypto_random_token(big, sizeof(big),
                                         CRYPTO_TOKEN_MAX_BYTES), 0);
    ck_assert_uint_eq(strlen(big), crypto_b64url_len(CRYPTO_TOKEN_MAX_BYTES));
    ck_assert_int_eq(crypto_random_token(big, sizeof(big),
                                         CRYPTO_TOKEN_MAX_BYTES + 1), -1);
}
END_TEST


START_TEST(test_sha256)
{
    char           h[CRYPTO_SHA256_HEX_SIZE], b[CRYPTO_SHA256_B64_SIZE];
    char           raw_hex[CRYPTO_SHA256_HEX_SIZE];
    unsigned char  raw[CRYPTO_SHA256_LEN];

    /* FIPS 180-2's "abc" */

    crypto_sha256_hex("abc", 3, h);
    ck_assert_str_eq(h, "ba7816bf8f01cfea414140de5dae2223"
                        "b00361a396177a9cb410ff61f20015ad");

    crypto_sha256("abc", 3, raw);
    hex(raw, sizeof(raw), raw_hex);
    ck_assert_str_eq(raw_hex, h);

    ck_assert_int_eq(crypto_sha256_b64url("abc", 3, b), 0);
    ck_assert_str_eq(b, "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");

    crypto_sha256_hex("abd", 3, raw_hex);
    ck_assert_str_ne(raw_hex, h);
}
END_TEST


static void
import_jwk(EVP_PKEY *pkey, const char *kid, bb_key_t *key)
{
    char     err[256];
    json_t  *jwk;

    ck_assert_int_eq(crypto_jwk_public(pkey, kid, &jwk), 0);
    ck_assert_msg(bb_key_from_jwk(key, jwk, err, sizeof(err)) == 0,
                  "bb_key_from_jwk(): %s", err);
    json_decref(jwk);
}


START_TEST(test_jwk_members)
{
    json_t    *jwk;
    EVP_PKEY  *pkey;

    pkey = crypto_p256_generate();
    ck_assert_ptr_nonnull(pkey);

    ck_assert_int_eq(crypto_jwk_public(pkey, "k1", &jwk), 0);

    ck_assert_str_eq(json_string_value(json_object_get(jwk, "kty")), "EC");
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "crv")), "P-256");
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "kid")), "k1");
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "alg")), "ES256");
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "use")), "sig");
    ck_assert_uint_eq(strlen(json_string_value(json_object_get(jwk, "x"))),
                      43);
    ck_assert_uint_eq(strlen(json_string_value(json_object_get(jwk, "y"))),
                      43);
    ck_assert_ptr_null(json_object_get(jwk, "d"));
    ck_assert_uint_eq(json_object_size(jwk), 7);

    json_decref(jwk);

    ck_assert_int_eq(crypto_jwk_public(pkey, "", &jwk), -1);
    ck_assert_ptr_null(jwk);
    ck_assert_int_eq(crypto_jwk_public(pkey, NULL, &jwk), -1);

    EVP_PKEY_free(pkey);
}
END_TEST


/* the thumbprint against the RFC 7638 recipe followed here with jansson */

START_TEST(test_jwk_thumbprint)
{
    char      *members, expect[CRYPTO_SHA256_B64_SIZE];
    char       got[CRYPTO_SHA256_B64_SIZE], other[CRYPTO_SHA256_B64_SIZE];
    json_t    *jwk, *req;
    EVP_PKEY  *pkey, *pkey2;

    pkey = crypto_p256_generate();
    pkey2 = crypto_p256_generate();

    ck_assert_int_eq(crypto_jwk_public(pkey, "k1", &jwk), 0);

    req = json_pack("{s:O, s:O, s:O, s:O}",
                    "crv", json_object_get(jwk, "crv"),
                    "kty", json_object_get(jwk, "kty"),
                    "x", json_object_get(jwk, "x"),
                    "y", json_object_get(jwk, "y"));
    members = json_dumps(req, JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_int_eq(crypto_sha256_b64url(members, strlen(members), expect),
                     0);

    ck_assert_int_eq(crypto_jwk_thumbprint(pkey, got), 0);
    ck_assert_str_eq(got, expect);

    ck_assert_int_eq(crypto_jwk_thumbprint(pkey2, other), 0);
    ck_assert_str_ne(other, got);

    free(members);
    json_decref(req);
    json_decref(jwk);
    EVP_PKEY_free(pkey);
    EVP_PKEY_free(pkey2);
}
END_TEST


/*
 * Signatures from authd, verified by the gateway: at least 1,024, and on
 * until four of them have an r or s starting with a zero byte (about one
 * in 128 does), so that the left padding is always tested.
 */

START_TEST(test_es256_gateway_verifies)
{
    int             i, padded;
    char            input[64];
    bb_key_t        key, other;
    EVP_PKEY       *pkey, *pkey2;
    unsigned char   sig[CRYPTO_ES256_SIG_LEN];

    pkey = crypto_p256_generate();
    pkey2 = crypto_p256_generate();
    ck_assert_ptr_nonnull(pkey);
    ck_assert_ptr_nonnull(pkey2);

    import_jwk(pkey, "k1", &key);
    import_jwk(pkey2, "k2", &other);

    padded = 0;

    for (i = 0; i < 1024 || (padded < 4 && i < 1000000); i++) {
        snprintf(input, sizeof(input), "eyJhbGciOiJFUzI1NiJ9.%d", i);

        ck_assert_int_eq(crypto_es256_sign(pkey, input, strlen(input), sig),
                         0);
        ck_assert_msg(bb_jws_verify(&key, input, strlen(input), sig,
                                    sizeof(sig)) == 0,
                      "signature %d does not verify", i);

        if (sig[0] == 0 || sig[32] == 0) {
            padded++;
        }
    }

    ck_assert_msg(padded >= 4, "%d signatures, %d with a leading zero byte",
                  i, padded);

    /* the same signature over other input, or under another key */

    ck_assert_int_eq(bb_jws_verify(&key, input, strlen(input), sig,
                                   sizeof(sig)), 0);
    ck_assert_int_eq(bb_jws_verify(&key, input, strlen(input) - 1, sig,
                                   sizeof(sig)), -1);
    ck_assert_int_eq(bb_jws_verify(&other, input, strlen(input), sig,
                                   sizeof(sig)), -1);

    sig[10] ^= 0x01;
    ck_assert_int_eq(bb_jws_verify(&key, input, strlen(input), sig,
                                   sizeof(sig)), -1);

    bb_key_clear(&key);
    bb_key_clear(&other);
    EVP_PKEY_free(pkey);
    EVP_PKEY_free(pkey2);
}
END_TEST


START_TEST(test_es256_other_keys)
{
    json_t         *jwk;
    EVP_PKEY       *p256, *p384, *rsa;
    unsigned char   sig[CRYPTO_ES256_SIG_LEN];

    p256 = crypto_p256_generate();
    p384 = EVP_EC_gen("P-384");
    rsa = EVP_RSA_gen(2048);

    ck_assert_ptr_nonnull(p384);
    ck_assert_ptr_nonnull(rsa);

    ck_assert_int_eq(crypto_p256_is(p256), 1);
    ck_assert_int_eq(crypto_es256_sign(p256, "x", 1, sig), 0);

    ck_assert_int_eq(crypto_p256_is(p384), 0);
    ck_assert_int_eq(crypto_es256_sign(p384, "x", 1, sig), -1);
    ck_assert_int_eq(crypto_jwk_public(p384, "k", &jwk), -1);

    ck_assert_int_eq(crypto_p256_is(rsa), 0);
    ck_assert_int_eq(crypto_es256_sign(rsa, "x", 1, sig), -1);
    ck_assert_int_eq(crypto_jwk_public(rsa, "k", &jwk), -1);

    ck_assert_int_eq(crypto_p256_is(NULL), 0);
    ck_assert_int_eq(crypto_es256_sign(NULL, "x", 1, sig), -1);

    EVP_PKEY_free(p256);
    EVP_PKEY_free(p384);
    EVP_PKEY_free(rsa);
}
END_TEST


START_TEST(test_pem_round_trip)
{
    char           *pem;
    bb_key_t        key;
    EVP_PKEY       *pkey, *back;
    unsigned char   sig[CRYPTO_ES256_SIG_LEN];

    pkey = crypto_p256_generate();

    ck_assert_int_eq(crypto_key_encrypt(pkey, PASSPHRASE, &pem), 0);
    ck_assert_msg(strncmp(pem, "-----BEGIN ENCRYPTED PRIVATE KEY-----\n", 38)
                  == 0, "unexpected PEM \"%.40s\"", pem);

    back = crypto_key_decrypt(pem, PASSPHRASE);
    ck_assert_ptr_nonnull(back);
    ck_assert_int_eq(EVP_PKEY_eq(pkey, back), 1);

    /* the key that came back signs for the JWK of the one that went in */

    import_jwk(pkey, "k1", &key);
    ck_assert_int_eq(crypto_es256_sign(back, "a.b", 3, sig), 0);
    ck_assert_int_eq(bb_jws_verify(&key, "a.b", 3, sig, sizeof(sig)), 0);

    bb_key_clear(&key);
    EVP_PKEY_free(back);
    free(pem);
    EVP_PKEY_free(pkey);
}
END_TEST


START_TEST(test_pem_refused)
{
    BIO       *bio;
    char      *pem, *clear, *bent;
    long       n;
    EVP_PKEY  *pkey, *back;

    pkey = crypto_p256_generate();
    ck_assert_int_eq(crypto_key_encrypt(pkey, PASSPHRASE, &pem), 0);

    back = crypto_key_decrypt(pem, PASSPHRASE);
    ck_assert_ptr_nonnull(back);
    EVP_PKEY_free(back);

    ck_assert_ptr_null(crypto_key_decrypt(pem, PASSPHRASE "x"));
    ck_assert_ptr_null(crypto_key_decrypt(pem, "A passphrase of some length"));
    ck_assert_ptr_null(crypto_key_decrypt(pem, ""));
    ck_assert_ptr_null(crypto_key_decrypt(pem, NULL));
    ck_assert_ptr_null(crypto_key_decrypt(NULL, PASSPHRASE));
    ck_assert_ptr_null(crypto_key_decrypt("not a PEM", PASSPHRASE));

    /* one base64 character of the body changed */

    bent = strdup(pem);
    bent[80] = bent[80] == 'A' ? 'B' : 'A';
    ck_assert_ptr_null(crypto_key_decrypt(bent, PASSPHRASE));
    free(bent);

    /* the same key in the clear is not taken for a protected one */

    bio = BIO_new(BIO_s_mem());
    ck_assert_int_eq(PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL,
                                              NULL), 1);
    n = BIO_get_mem_data(bio, &clear);
    clear = strndup(clear, n);
    BIO_free(bio);

    ck_assert_ptr_null(crypto_key_decrypt(clear, PASSPHRASE));
    free(clear);
    free(pem);

    ck_assert_int_eq(crypto_key_encrypt(pkey, "", &pem), -1);
    ck_assert_ptr_null(pem);

    EVP_PKEY_free(pkey);
}
END_TEST


START_TEST(test_pem_other_key)
{
    BIO       *bio;
    char      *pem;
    long       n;
    EVP_PKEY  *rsa;

    rsa = EVP_RSA_gen(2048);
    ck_assert_int_eq(crypto_key_encrypt(rsa, PASSPHRASE, &pem), -1);

    /* an encrypted RSA key, made without crypto_key_encrypt() */

    bio = BIO_new(BIO_s_mem());
    ck_assert_int_eq(PEM_write_bio_PKCS8PrivateKey(bio, rsa,
                                                   EVP_aes_256_cbc(),
                                                   PASSPHRASE,
                                                   strlen(PASSPHRASE), NULL,
                                                   NULL), 1);
    n = BIO_get_mem_data(bio, &pem);
    pem = strndup(pem, n);
    BIO_free(bio);

    ck_assert_ptr_null(crypto_key_decrypt(pem, PASSPHRASE));

    free(pem);
    EVP_PKEY_free(rsa);
}
END_TEST


static Suite *
crypto_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("authd_crypto");

    tc = tcase_create("password");
    tcase_add_unchecked_fixture(tc, setup_hash, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_scrypt_rfc7914);
    tcase_add_test(tc, test_password_round_trip);
    tcase_add_test(tc, test_password_wrong);
    tcase_add_test(tc, test_password_malformed);
    tcase_add_test(tc, test_password_other_cost);
    tcase_add_test(tc, test_password_limits);
    tcase_add_test(tc, test_password_dummy);
    suite_add_tcase(s, tc);

    tc = tcase_create("primitives");
    tcase_add_test(tc, test_equal);
    tcase_add_test(tc, test_random_token);
    tcase_add_test(tc, test_random_token_bound);
    tcase_add_test(tc, test_sha256);
    suite_add_tcase(s, tc);

    tc = tcase_create("keys");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_jwk_members);
    tcase_add_test(tc, test_jwk_thumbprint);
    tcase_add_test(tc, test_es256_gateway_verifies);
    tcase_add_test(tc, test_es256_other_keys);
    tcase_add_test(tc, test_pem_round_trip);
    tcase_add_test(tc, test_pem_refused);
    tcase_add_test(tc, test_pem_other_key);
    suite_add_tcase(s, tc);

    return s;
}


int
main(void)
{
    int       failed;
    SRunner  *sr;

    sr = srunner_create(crypto_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
