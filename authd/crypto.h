/*
 * The cryptographic primitives of authd, all through OpenSSL: random
 * tokens, SHA-256, constant-time comparison, scrypt password hashes, and
 * the P-256 keys that sign access tokens (generation, ES256 signatures in
 * JWS form, public JWKs, encrypted PKCS#8 PEM for storage).  Nothing here
 * logs: a caller that needs a reason logs it, and never the secret.
 */

#ifndef CRYPTO_H
#define CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>


#define CRYPTO_MUST_CHECK             __attribute__((warn_unused_result))

#define CRYPTO_SHA256_LEN             32
#define CRYPTO_SHA256_HEX_SIZE        (2 * CRYPTO_SHA256_LEN + 1)
#define CRYPTO_SHA256_B64_SIZE        44        /* 43 characters and NUL */

#define CRYPTO_ES256_SIG_LEN          64

/* log2 of scrypt's N: the default, the least for new hashes */
#define CRYPTO_SCRYPT_LN_DEFAULT      15
#define CRYPTO_SCRYPT_LN_MIN          14

/* the ln a stored hash may carry and still verify */
#define CRYPTO_SCRYPT_LN_VERIFY_MIN   10
#define CRYPTO_SCRYPT_LN_VERIFY_MAX   20

#define CRYPTO_PASSWORD_MAX           1024

/* enough for any hash crypto_password_hash() writes, NUL included */
#define CRYPTO_PASSWORD_HASH_SIZE     128

/* the longest token crypto_random_token() makes, in random bytes */
#define CRYPTO_TOKEN_MAX_BYTES        256

/* base64url characters of n bytes, without padding */
#define crypto_b64url_len(n)          (((n) * 4 + 2) / 3)


/*
 * nbytes from the CSPRNG as base64url without padding, NUL-terminated in
 * out; outlen must hold crypto_b64url_len(nbytes) + 1.  Returns 0 or -1.
 */
int crypto_random_token(char *out, size_t outlen, size_t nbytes)
    CRYPTO_MUST_CHECK;

void crypto_sha256(const void *data, size_t len,
    unsigned char out[CRYPTO_SHA256_LEN]);
void crypto_sha256_hex(const void *data, size_t len,
    char out[CRYPTO_SHA256_HEX_SIZE]);
int crypto_sha256_b64url(const void *data, size_t len,
    char out[CRYPTO_SHA256_B64_SIZE]) CRYPTO_MUST_CHECK;

/* 1 when the len bytes are equal; the time depends on len alone */
int crypto_equal(const void *a, const void *b, size_t len);

/*
 * scrypt (RFC 7914) itself, with any parameters: the password functions
 * use it, and the tests check it against the RFC's vectors.
 */
int crypto_scrypt_derive(const void *pass, size_t passlen,
    const unsigned char *salt, size_t saltlen, uint64_t n, uint64_t r,
    uint64_t p, unsigned char *key, size_t keylen) CRYPTO_MUST_CHECK;

/*
 * Hash a password (1 to CRYPTO_PASSWORD_MAX bytes) with log2 N = ln
 * (CRYPTO_SCRYPT_LN_MIN to CRYPTO_SCRYPT_LN_VERIFY_MAX), r = 8, p = 1, a
 * random 16-byte salt and a 32-byte key, written into out as
 * "scrypt$ln=15,r=8,p=1$<salt>$<key>" (base64url).  Returns 0 or -1.
 */
int crypto_password_hash(const char *password, int ln, char *out,
    size_t outlen) CRYPTO_MUST_CHECK;

/*
 * 1 when the password matches the encoded hash, 0 when it does not (an
 * empty or too long password never does), -1 when the encoded hash is
 * malformed or the derivation failed.  ln 10 to 20, r 1 to 8 and p 1 to 4
 * are accepted, so that hashes made with other costs still verify.
 */
int crypto_password_verify(const char *password, const char *encoded)
    CRYPTO_MUST_CHECK;

/*
 * The work of a verification that cannot succeed, for a login naming an
 * account that does not exist: the reply then takes as long as for one
 * that does.  crypto_password_dummy_cost() sets its ln (at start-up,
 * before threads; the default is CRYPTO_SCRYPT_LN_DEFAULT) and returns 0,
 * or -1 when ln is out of the range crypto_password_hash() takes.
 */
void crypto_password_dummy(const char *password);
int crypto_password_dummy_cost(int ln) CRYPTO_MUST_CHECK;

/* a new P-256 key pair, or NULL */
EVP_PKEY *crypto_p256_generate(void);

/* 1 when key is an EC key on P-256 */
int crypto_p256_is(EVP_PKEY *key);

/*
 * The JWS ES256 signature of input: r||s, each 32 bytes, big-endian and
 * left-padded.  Returns 0, or -1 when the key is not P-256 or signing
 * failed.
 */
int crypto_es256_sign(EVP_PKEY *key, const char *input, size_t len,
    unsigned char sig[CRYPTO_ES256_SIG_LEN]) CRYPTO_MUST_CHECK;

/*
 * The public half of a P-256 key as a new JWK object
 * {kty, crv, x, y, kid, alg, use}.  Returns 0 or -1.
 */
int crypto_jwk_public(EVP_PKEY *key, const char *kid, json_t **jwk)
    CRYPTO_MUST_CHECK;

/* the RFC 7638 SHA-256 thumbprint of a P-256 public key, base64url */
int crypto_jwk_thumbprint(EVP_PKEY *key, char out[CRYPTO_SHA256_B64_SIZE])
    CRYPTO_MUST_CHECK;

/*
 * The private key as encrypted PKCS#8 PEM (AES-256-CBC, key derived from
 * the passphrase), in a new NUL-terminated string for free().  Returns 0
 * or -1; an empty passphrase is refused.
 */
int crypto_key_encrypt(EVP_PKEY *key, const char *pass, char **pem)
    CRYPTO_MUST_CHECK;

/*
 * The P-256 private key of an encrypted PKCS#8 PEM, or NULL when the PEM
 * is malformed, not encrypted, not a P-256 key, or the passphrase is
 * wrong.
 */
EVP_PKEY *crypto_key_decrypt(const char *pem, const char *pass)
    CRYPTO_MUST_CHECK;


#endif /* CRYPTO_H */
