/*
 * Every secret authd compares goes through crypto_equal(), every secret
 * it makes through RAND_bytes().  Password hashes are scrypt with the
 * parameters written into the stored string, so that the cost can rise
 * later and old hashes still verify.  Buffers that held a password, a
 * derived key or a private key are cleansed before they are freed.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "bb_b64.h"
#include "crypto.h"


#define CRYPTO_SCRYPT_R           8
#define CRYPTO_SCRYPT_P           1
#define CRYPTO_SCRYPT_R_MAX       8
#define CRYPTO_SCRYPT_P_MAX       4
#define CRYPTO_SALT_LEN           16
#define CRYPTO_KEY_LEN            32

#define CRYPTO_P256_COORD_LEN     32

/* the longest DER form of a P-256 ECDSA signature is 72 bytes */
#define CRYPTO_ES256_DER_MAX      80


typedef struct {
    int                  ln;
    uint64_t             r;
    uint64_t             p;
    unsigned char        salt[CRYPTO_SALT_LEN];
    unsigned char        key[CRYPTO_KEY_LEN];
} crypto_scrypt_hash_t;


static int crypto_b64url(const unsigned char *in, size_t len, char *out,
    size_t outlen);
static int crypto_b64url_fixed(const char *in, size_t len, unsigned char *out,
    size_t outlen);
static int crypto_parse_uint(const char **pp, uint64_t max, uint64_t *value);
static int crypto_password_parse(const char *encoded,
    crypto_scrypt_hash_t *h);
static int crypto_password_usable(const char *password);
static int crypto_p256_coords(EVP_PKEY *key, char *x, char *y);


static int  crypto_dummy_ln = CRYPTO_SCRYPT_LN_DEFAULT;


int
crypto_random_token(char *out, size_t outlen, size_t nbytes)
{
    int            rc;
    unsigned char  raw[CRYPTO_TOKEN_MAX_BYTES];

    if (nbytes == 0 || nbytes > CRYPTO_TOKEN_MAX_BYTES
        || outlen < crypto_b64url_len(nbytes) + 1)
    {
        return -1;
    }

    if (RAND_bytes(raw, (int) nbytes) != 1) {
        ERR_clear_error();
        return -1;
    }

    rc = crypto_b64url(raw, nbytes, out, outlen);

    OPENSSL_cleanse(raw, sizeof(raw));

    return rc;
}


void
crypto_sha256(const void *data, size_t len,
    unsigned char out[CRYPTO_SHA256_LEN])
{
    /*
     * Only a default provider without SHA-256 makes this fail; nothing
     * that hashes secrets can go on then.
     */

    if (SHA256(data, len, out) == NULL) {
        fprintf(stderr, "SHA256() failed\n");
        abort();
    }
}


void
crypto_sha256_hex(const void *data, size_t len,
    char out[CRYPTO_SHA256_HEX_SIZE])
{
    size_t         i;
    unsigned char  digest[CRYPTO_SHA256_LEN];

    static const char  hex[] = "0123456789abcdef";

    crypto_sha256(data, len, digest);

    for (i = 0; i < CRYPTO_SHA256_LEN; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 0x0f];
    }

    out[2 * CRYPTO_SHA256_LEN] = '\0';
}


int
crypto_sha256_b64url(const void *data, size_t len,
    char out[CRYPTO_SHA256_B64_SIZE])
{
    unsigned char  digest[CRYPTO_SHA256_LEN];

    crypto_sha256(data, len, digest);

    return crypto_b64url(digest, sizeof(digest), out, CRYPTO_SHA256_B64_SIZE);
}


int
crypto_equal(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}


int
crypto_scrypt_derive(const void *pass, size_t passlen,
    const unsigned char *salt, size_t saltlen, uint64_t n, uint64_t r,
    uint64_t p, unsigned char *key, size_t keylen)
{
    uint64_t  maxmem;

    if (n < 2 || r == 0 || p == 0 || r > 64 || p > 64 || n > (1 << 24)) {
        return -1;
    }

    /*
     * OpenSSL refuses to allocate more than its 32 MiB default, which
     * N = 2^15 with r = 8 already exceeds by a little: allow exactly what
     * these parameters take, the block array and the working buffer.
     */

    maxmem = 128 * r * (n + 2 + p) + 1024;

    if (EVP_PBE_scrypt(pass, passlen, salt, saltlen, n, r, p, maxmem, key,
                       keylen)
        != 1)
    {
        ERR_clear_error();
        return -1;
    }

    return 0;
}


int
crypto_password_hash(const char *password, int ln, char *out, size_t outlen)
{
    int                    rc, n;
    char                   salt[crypto_b64url_len(CRYPTO_SALT_LEN) + 1];
    char                   key[crypto_b64url_len(CRYPTO_KEY_LEN) + 1];
    crypto_scrypt_hash_t   h;

    rc = -1;
    memset(&h, 0, sizeof(crypto_scrypt_hash_t));

    if (!crypto_password_usable(password)
        || ln < CRYPTO_SCRYPT_LN_MIN || ln > CRYPTO_SCRYPT_LN_VERIFY_MAX)
    {
        return -1;
    }

    if (RAND_bytes(h.salt, sizeof(h.salt)) != 1) {
        ERR_clear_error();
        goto done;
    }

    if (crypto_scrypt_derive(password, strlen(password), h.salt,
                             sizeof(h.salt), (uint64_t) 1 << ln,
                             CRYPTO_SCRYPT_R, CRYPTO_SCRYPT_P, h.key,
                             sizeof(h.key))
        != 0)
    {
        goto done;
    }

    if (crypto_b64url(h.salt, sizeof(h.salt), salt, sizeof(salt)) != 0
        || crypto_b64url(h.key, sizeof(h.key), key, sizeof(key)) != 0)
    {
        goto done;
    }

    n = snprintf(out, outlen, "scrypt$ln=%d,r=%d,p=%d$%s$%s", ln,
                 CRYPTO_SCRYPT_R, CRYPTO_SCRYPT_P, salt, key);
    if (n < 0 || (size_t) n >= outlen) {
        goto done;
    }

    rc = 0;

done:

    if (rc != 0 && outlen > 0) {
        out[0] = '\0';
    }

    OPENSSL_cleanse(&h, sizeof(crypto_scrypt_hash_t));
    OPENSSL_cleanse(key, sizeof(key));

    return rc;
}


int
crypto_password_verify(const char *password, const char *encoded)
{
    int                    rc;
    unsigned char          key[CRYPTO_KEY_LEN];
    crypto_scrypt_hash_t   h;

    if (encoded == NULL || crypto_password_parse(encoded, &h) != 0) {
        return -1;
    }

    if (!crypto_password_usable(password)) {
        return 0;
    }

    if (crypto_scrypt_derive(password, strlen(password), h.salt,
                             sizeof(h.salt), (uint64_t) 1 << h.ln, h.r, h.p,
                             key, sizeof(key))
        != 0)
    {
        rc = -1;

    } else {
        rc = crypto_equal(key, h.key, sizeof(key));
    }

    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(&h, sizeof(crypto_scrypt_hash_t));

    return rc;
}


void
crypto_password_dummy(const char *password)
{
    unsigned char  key[CRYPTO_KEY_LEN];
    unsigned char  salt[CRYPTO_SALT_LEN];

    static const unsigned char  nothing[CRYPTO_KEY_LEN];

    /* the same refusals as crypto_password_verify(), at the same cost */

    if (!crypto_password_usable(password)) {
        return;
    }

    memset(salt, 0, sizeof(salt));

    if (crypto_scrypt_derive(password, strlen(password), salt, sizeof(salt),
                             (uint64_t) 1 << crypto_dummy_ln,
                             CRYPTO_SCRYPT_R, CRYPTO_SCRYPT_P, key,
                             sizeof(key))
        == 0)
    {
        (void) crypto_equal(key, nothing, sizeof(key));
    }

    OPENSSL_cleanse(key, sizeof(key));
}


int
crypto_password_dummy_cost(int ln)
{
    if (ln < CRYPTO_SCRYPT_LN_MIN || ln > CRYPTO_SCRYPT_LN_VERIFY_MAX) {
        return -1;
    }

    crypto_dummy_ln = ln;

    return 0;
}


EVP_PKEY *
crypto_p256_generate(void)
{
    EVP_PKEY  *key;

    key = EVP_EC_gen("P-256");
    if (key == NULL) {
        ERR_clear_error();
    }

    return key;
}


int
crypto_p256_is(EVP_PKEY *key)
{
    char  group[32];

    if (key == NULL || !EVP_PKEY_is_a(key, "EC")) {
        return 0;
    }

    if (EVP_PKEY_get_group_name(key, group, sizeof(group), NULL) != 1) {
        ERR_clear_error();
        return 0;
    }

    return strcmp(group, "prime256v1") == 0;
}


int
crypto_es256_sign(EVP_PKEY *key, const char *input, size_t len,
    unsigned char sig[CRYPTO_ES256_SIG_LEN])
{
    int                   rc;
    size_t                derlen;
    ECDSA_SIG            *es;
    EVP_MD_CTX           *md;
    const BIGNUM         *r, *s;
    const unsigned char  *p;
    unsigned char         der[CRYPTO_ES256_DER_MAX];

    rc = -1;
    es = NULL;
    md = NULL;

    if (!crypto_p256_is(key)) {
        return -1;
    }

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        goto done;
    }

    derlen = sizeof(der);

    if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1
        || EVP_DigestSign(md, der, &derlen, (const unsigned char *) input,
                          len)
           != 1)
    {
        goto done;
    }

    /* OpenSSL signs in DER; JWS wants the two integers side by side */

    p = der;
    es = d2i_ECDSA_SIG(NULL, &p, (long) derlen);
    if (es == NULL) {
        goto done;
    }

    ECDSA_SIG_get0(es, &r, &s);

    if (BN_bn2binpad(r, sig, CRYPTO_P256_COORD_LEN) != CRYPTO_P256_COORD_LEN
        || BN_bn2binpad(s, sig + CRYPTO_P256_COORD_LEN,
                        CRYPTO_P256_COORD_LEN)
           != CRYPTO_P256_COORD_LEN)
    {
        goto done;
    }

    rc = 0;

done:

    if (rc != 0) {
        ERR_clear_error();
    }

    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(md);

    return rc;
}


int
crypto_jwk_public(EVP_PKEY *key, const char *kid, json_t **jwk)
{
    char  x[crypto_b64url_len(CRYPTO_P256_COORD_LEN) + 1];
    char  y[crypto_b64url_len(CRYPTO_P256_COORD_LEN) + 1];

    *jwk = NULL;

    if (kid == NULL || kid[0] == '\0' || crypto_p256_coords(key, x, y) != 0)
    {
        return -1;
    }

    *jwk = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
                     "kty", "EC", "crv", "P-256", "x", x, "y", y,
                     "kid", kid, "alg", "ES256", "use", "sig");

    return *jwk != NULL ? 0 : -1;
}


int
crypto_jwk_thumbprint(EVP_PKEY *key, char out[CRYPTO_SHA256_B64_SIZE])
{
    int   n;
    char  x[crypto_b64url_len(CRYPTO_P256_COORD_LEN) + 1];
    char  y[crypto_b64url_len(CRYPTO_P256_COORD_LEN) + 1];
    char  members[160];

    if (crypto_p256_coords(key, x, y) != 0) {
        return -1;
    }

    /* the required members only, in lexicographic order, no whitespace */

    n = snprintf(members, sizeof(members),
                 "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
                 x, y);
    if (n < 0 || (size_t) n >= sizeof(members)) {
        return -1;
    }

    return crypto_sha256_b64url(members, (size_t) n, out);
}


int
crypto_key_encrypt(EVP_PKEY *key, const char *pass, char **pem)
{
    int    rc;
    BIO   *bio;
    char  *data;
    long   n;

    rc = -1;
    *pem = NULL;

    if (!crypto_p256_is(key) || pass == NULL || pass[0] == '\0') {
        return -1;
    }

    bio = BIO_new(BIO_s_mem());
    if (bio == NULL) {
        goto done;
    }

    if (PEM_write_bio_PKCS8PrivateKey(bio, key, EVP_aes_256_cbc(), pass,
                                      (int) strlen(pass), NULL, NULL)
        != 1)
    {
        goto done;
    }

    n = BIO_get_mem_data(bio, &data);
    if (n <= 0) {
        goto done;
    }

    *pem = malloc((size_t) n + 1);
    if (*pem == NULL) {
        goto done;
    }

    memcpy(*pem, data, (size_t) n);
    (*pem)[n] = '\0';

    rc = 0;

done:

    if (rc != 0) {
        ERR_clear_error();
    }

    BIO_free(bio);

    return rc;
}


EVP_PKEY *
crypto_key_decrypt(const char *pem, const char *pass)
{
    BIO                  *bio;
    X509_SIG             *p8;
    EVP_PKEY             *key;
    PKCS8_PRIV_KEY_INFO  *info;

    bio = NULL;
    p8 = NULL;
    info = NULL;
    key = NULL;

    if (pem == NULL || pass == NULL || pass[0] == '\0') {
        return NULL;
    }

    bio = BIO_new_mem_buf(pem, -1);
    if (bio == NULL) {
        goto done;
    }

    /*
     * Read as the encrypted PKCS#8 structure only: a key stored in the
     * clear must not load as if the passphrase had protected it.
     */

    p8 = PEM_read_bio_PKCS8(bio, NULL, NULL, NULL);
    if (p8 == NULL) {
        goto done;
    }

    info = PKCS8_decrypt(p8, pass, (int) strlen(pass));
    if (info == NULL) {
        goto done;
    }

    key = EVP_PKCS82PKEY(info);
    if (key != NULL && !crypto_p256_is(key)) {
        EVP_PKEY_free(key);
        key = NULL;
    }

done:

    if (key == NULL) {
        ERR_clear_error();
    }

    PKCS8_PRIV_KEY_INFO_free(info);
    X509_SIG_free(p8);
    BIO_free(bio);

    return key;
}


/* base64url into a caller's buffer; the temporary copy is cleansed */

static int
crypto_b64url(const unsigned char *in, size_t len, char *out, size_t outlen)
{
    int        rc;
    bb_buf_t   buf;

    rc = -1;
    memset(&buf, 0, sizeof(bb_buf_t));

    if (outlen < crypto_b64url_len(len) + 1) {
        return -1;
    }

    /* reserved once, so that the encoder never moves the secret */

    if (bb_buf_reserve(&buf, crypto_b64url_len(len) + 4) != 0) {
        return -1;
    }

    if (bb_b64url_encode(in, len, &buf) != 0 || buf.len + 1 > outlen) {
        goto done;
    }

    memcpy(out, buf.data, buf.len + 1);

    rc = 0;

done:

    OPENSSL_cleanse(buf.data, buf.cap);
    bb_buf_free(&buf);

    return rc;
}


/* base64url that must decode to exactly outlen bytes */

static int
crypto_b64url_fixed(const char *in, size_t len, unsigned char *out,
    size_t outlen)
{
    int        rc;
    bb_buf_t   buf;

    rc = -1;
    memset(&buf, 0, sizeof(bb_buf_t));

    if (len != crypto_b64url_len(outlen)) {
        return -1;
    }

    if (bb_b64url_decode(in, len, &buf) == 0 && buf.len == outlen) {
        memcpy(out, buf.data, outlen);
        rc = 0;
    }

    if (buf.data != NULL) {
        OPENSSL_cleanse(buf.data, buf.cap);
    }

    bb_buf_free(&buf);

    return rc;
}


/* decimal without sign, spaces or leading zeros, at most max */

static int
crypto_parse_uint(const char **pp, uint64_t max, uint64_t *value)
{
    const char  *p;
    uint64_t     v;

    p = *pp;

    if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9'))
    {
        return -1;
    }

    v = 0;

    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (uint64_t) (*p - '0');

        if (v > max) {
            return -1;
        }

        p++;
    }

    *pp = p;
    *value = v;

    return 0;
}


static int
crypto_password_parse(const char *encoded, crypto_scrypt_hash_t *h)
{
    uint64_t     ln;
    const char  *p, *salt, *key;

    static const char  scheme[] = "scrypt$ln=";

    memset(h, 0, sizeof(crypto_scrypt_hash_t));

    p = encoded;

    if (strncmp(p, scheme, sizeof(scheme) - 1) != 0) {
        return -1;
    }

    p += sizeof(scheme) - 1;

    if (crypto_parse_uint(&p, CRYPTO_SCRYPT_LN_VERIFY_MAX, &ln) != 0
        || ln < CRYPTO_SCRYPT_LN_VERIFY_MIN
        || strncmp(p, ",r=", 3) != 0)
    {
        return -1;
    }

    p += 3;

    if (crypto_parse_uint(&p, CRYPTO_SCRYPT_R_MAX, &h->r) != 0
        || h->r == 0
        || strncmp(p, ",p=", 3) != 0)
    {
        return -1;
    }

    p += 3;

    if (crypto_parse_uint(&p, CRYPTO_SCRYPT_P_MAX, &h->p) != 0
        || h->p == 0
        || *p != '$')
    {
        return -1;
    }

    salt = p + 1;

    key = strchr(salt, '$');
    if (key == NULL) {
        return -1;
    }

    key++;

    if (crypto_b64url_fixed(salt, (size_t) (key - 1 - salt), h->salt,
                            sizeof(h->salt))
        != 0
        || crypto_b64url_fixed(key, strlen(key), h->key, sizeof(h->key))
           != 0)
    {
        return -1;
    }

    h->ln = (int) ln;

    return 0;
}


static int
crypto_password_usable(const char *password)
{
    size_t  len;

    if (password == NULL) {
        return 0;
    }

    len = strlen(password);

    return len > 0 && len <= CRYPTO_PASSWORD_MAX;
}


static int
crypto_p256_coords(EVP_PKEY *key, char *x, char *y)
{
    int             rc;
    BIGNUM         *bx, *by;
    unsigned char   raw[CRYPTO_P256_COORD_LEN];

    rc = -1;
    bx = NULL;
    by = NULL;

    if (!crypto_p256_is(key)) {
        return -1;
    }

    if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &bx) != 1
        || EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &by) != 1)
    {
        goto done;
    }

    if (BN_bn2binpad(bx, raw, sizeof(raw)) != (int) sizeof(raw)
        || crypto_b64url(raw, sizeof(raw), x,
                         crypto_b64url_len(CRYPTO_P256_COORD_LEN) + 1)
           != 0
        || BN_bn2binpad(by, raw, sizeof(raw)) != (int) sizeof(raw)
        || crypto_b64url(raw, sizeof(raw), y,
                         crypto_b64url_len(CRYPTO_P256_COORD_LEN) + 1)
           != 0)
    {
        goto done;
    }

    rc = 0;

done:

    if (rc != 0) {
        ERR_clear_error();
    }

    BN_free(bx);
    BN_free(by);

    return rc;
}
