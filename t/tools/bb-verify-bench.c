/*
 * bb-verify-bench: what a full token verification costs next to the bare
 * OpenSSL signature check it cannot avoid.
 *
 *   bb-verify-bench [--key PRIV.pem --jwk PUB.json] [--iterations N]
 *
 * Without --key and --jwk it makes an ES256 key of its own.  It measures,
 * in CPU time per operation:
 *
 *   openssl_verify_us   EVP_DigestVerifyInit/Update/Final on a fresh
 *                       EVP_MD_CTX, the key parsed and the DER signature
 *                       prepared once;
 *   bb_jwt_verify_us    bb_jwt_verify() of a distinct pre-minted token each
 *                       time, so that nothing can be reused;
 *   ratio               the second over the first;
 *   libjwt_decode_us    libjwt's jwt_decode() with the public PEM, over
 *                       tokens of typ "JWT" (libjwt refuses "at+jwt"),
 *                       when libjwt was linked in.
 *
 * The two first run in alternating rounds, and each reports its fastest
 * round, so that other work on the machine weighs on neither.
 */


#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#ifdef BB_HAVE_LIBJWT
#include <jwt.h>
#endif

#include "bb_b64.h"
#include "bb_jwt.h"
#include "tool_jws.h"


#define BENCH_ISS     "https://auth.bench.invalid"
#define BENCH_AUD     "https://fhir.bench.invalid"
#define BENCH_KID     "bench"
#define BENCH_ROUNDS  20


typedef struct {
    char               **tokens;
    size_t               n;
} bench_tokens_t;


static void bench_usage(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
static double bench_cpu(void);
static EVP_PKEY *bench_load_key(const char *path);
static int bench_load_jwk(const char *path, EVP_PKEY *generated,
    bb_key_t *key);
static int bench_mint(EVP_PKEY *pkey, const char *typ, const char *kid,
    size_t n, int64_t now, bench_tokens_t *out);
static int bench_bare_input(const char *token, const bb_key_t *key,
    unsigned char **der, size_t *derlen);
static void bench_free_tokens(bench_tokens_t *t);


int
main(int argc, char **argv)
{
    int              c, rc, round;
    char            *end, *input, err[256];
    size_t           i, n, per, inlen, derlen;
    double           t0, t, bare, full;
    int64_t          now;
    bb_key_t         key;
    bb_jwt_t        *jwt;
    EVP_PKEY        *pkey;
    EVP_MD_CTX      *ctx;
    bb_policy_t      policy;
    const char      *keypath, *jwkpath;
    unsigned char   *der;
    bench_tokens_t   at;
    bb_jwt_limits_t  limits;

    static const struct option  options[] = {
        { "key", required_argument, NULL, 'k' },
        { "jwk", required_argument, NULL, 'j' },
        { "iterations", required_argument, NULL, 'n' },
        { NULL, 0, NULL, 0 }
    };

    rc = 1;
    keypath = NULL;
    jwkpath = NULL;
    n = 2000;
    pkey = NULL;
    der = NULL;
    memset(&key, 0, sizeof(bb_key_t));
    memset(&at, 0, sizeof(bench_tokens_t));

    opterr = 0;

    while ((c = getopt_long(argc, argv, ":", options, NULL)) != -1) {
        switch (c) {

        case 'k':
            keypath = optarg;
            break;

        case 'j':
            jwkpath = optarg;
            break;

        case 'n':
            errno = 0;
            n = strtoul(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || n < 1
                || n > 10000000)
            {
                bench_usage("invalid --iterations \"%s\"", optarg);
            }

            break;

        case ':':
            bench_usage("option \"%s\" needs a value", argv[optind - 1]);
            break;

        default:
            bench_usage("unknown option \"%s\"", argv[optind - 1]);
        }
    }

    if (optind < argc) {
        bench_usage("unexpected argument \"%s\"", argv[optind]);
    }

    if ((keypath == NULL) != (jwkpath == NULL)) {
        bench_usage("--key and --jwk go together");
    }

    if (keypath != NULL) {
        pkey = bench_load_key(keypath);

    } else {
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    }

    if (pkey == NULL) {
        fprintf(stderr, "bb-verify-bench: no private key\n");
        goto done;
    }

    if (bench_load_jwk(jwkpath, keypath ? NULL : pkey, &key) != 0) {
        goto done;
    }

    memset(&policy, 0, sizeof(bb_policy_t));
    policy.issuer = BENCH_ISS;
    policy.audience = BENCH_AUD;
    policy.keys = &key;
    policy.nkeys = 1;

    now = time(NULL);

    limits.now = now;
    limits.leeway = BB_JWT_DEFAULT_LEEWAY;
    limits.max_lifetime = 0;
    limits.max_size = BB_JWT_DEFAULT_MAX_SIZE;

    if (bench_mint(pkey, "at+jwt", key.kid, n, now, &at) != 0) {
        goto done;
    }

    if (bench_bare_input(at.tokens[0], &key, &der, &derlen) != 0) {
        goto done;
    }

    input = at.tokens[0];
    inlen = strrchr(input, '.') - input;

    /* one pass of each before measuring: lazy initialisation, caches */

    jwt = bb_jwt_verify(&policy, at.tokens[0], strlen(at.tokens[0]), &limits,
                        err, sizeof(err));
    if (jwt == NULL) {
        fprintf(stderr, "bb-verify-bench: bb_jwt_verify() refused: %s\n",
                err);
        goto done;
    }

    bb_jwt_free(jwt);

    bare = -1;
    full = -1;
    per = (n + BENCH_ROUNDS - 1) / BENCH_ROUNDS;

    for (round = 0; round < BENCH_ROUNDS; round++) {

        t0 = bench_cpu();

        for (i = 0; i < per; i++) {
            ctx = EVP_MD_CTX_new();

            if (ctx == NULL
                || EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL,
                                        key.pkey) != 1
                || EVP_DigestVerifyUpdate(ctx, input, inlen) != 1
                || EVP_DigestVerifyFinal(ctx, der, derlen) != 1)
            {
                fprintf(stderr, "bb-verify-bench: EVP_DigestVerify "
                        "refused the signature\n");
                EVP_MD_CTX_free(ctx);
                goto done;
            }

            EVP_MD_CTX_free(ctx);
        }

        t = (bench_cpu() - t0) / per;
        bare = (bare < 0 || t < bare) ? t : bare;

        t0 = bench_cpu();

        for (i = round * per; i < (round + 1) * per && i < n; i++) {
            jwt = bb_jwt_verify(&policy, at.tokens[i], strlen(at.tokens[i]),
                                &limits, err, sizeof(err));
            if (jwt == NULL) {
                fprintf(stderr, "bb-verify-bench: bb_jwt_verify() "
                        "refused: %s\n", err);
                goto done;
            }

            bb_jwt_free(jwt);
        }

        if (i > round * per) {
            t = (bench_cpu() - t0) / (i - round * per);
            full = (full < 0 || t < full) ? t : full;
        }
    }

    bare *= 1e6;
    full *= 1e6;

    printf("alg %s\n", key.alg == BB_ALG_ES256 ? "ES256" : "RS256");
    printf("iterations %zu\n", n);
    printf("openssl_verify_us %.1f\n", bare);
    printf("bb_jwt_verify_us %.1f\n", full);
    printf("ratio %.2f\n", full / bare);

#ifdef BB_HAVE_LIBJWT
    {
        BIO             *bio;
        char            *pem;
        long             pemlen;
        jwt_t           *j;
        bench_tokens_t   plain;

        memset(&plain, 0, sizeof(bench_tokens_t));

        if (bench_mint(pkey, "JWT", key.kid, n, now, &plain) != 0) {
            goto done;
        }

        bio = BIO_new(BIO_s_mem());
        if (bio == NULL || PEM_write_bio_PUBKEY(bio, key.pkey) != 1) {
            BIO_free(bio);
            bench_free_tokens(&plain);
            fprintf(stderr, "bb-verify-bench: PEM_write_bio_PUBKEY() "
                    "failed\n");
            goto done;
        }

        pemlen = BIO_get_mem_data(bio, &pem);

        t0 = bench_cpu();

        for (i = 0; i < n; i++) {
            j = NULL;

            if (jwt_decode(&j, plain.tokens[i], (unsigned char *) pem,
                           (int) pemlen) != 0)
            {
                fprintf(stderr, "bb-verify-bench: jwt_decode() refused "
                        "token %zu\n", i);
                BIO_free(bio);
                bench_free_tokens(&plain);
                goto done;
            }

            jwt_free(j);
        }

        printf("libjwt_decode_us %.1f\n", (bench_cpu() - t0) * 1e6 / n);

        BIO_free(bio);
        bench_free_tokens(&plain);
    }
#endif

    rc = 0;

done:

    free(der);
    bench_free_tokens(&at);
    bb_key_clear(&key);
    EVP_PKEY_free(pkey);

    return rc;
}


static void
bench_usage(const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    fprintf(stderr, "bb-verify-bench: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: bb-verify-bench [--key PRIV.pem --jwk PUB.json]"
            " [--iterations N]\n");

    exit(2);
}


static double
bench_cpu(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static EVP_PKEY *
bench_load_key(const char *path)
{
    FILE      *f;
    EVP_PKEY  *pkey;

    f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "bb-verify-bench: fopen(\"%s\") failed: %s\n", path,
                strerror(errno));
        return NULL;
    }

    pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);

    return pkey;
}


/*
 * The key the gateway would hold: from the JWK file, or for a generated
 * key from a JWK built here, so that both go through bb_key_from_jwk().
 */

static int
bench_load_jwk(const char *path, EVP_PKEY *generated, bb_key_t *key)
{
    int             rc;
    char            err[256];
    json_t         *jwk;
    BIGNUM         *x, *y;
    bb_buf_t        ex, ey;
    json_error_t    jerr;
    unsigned char   bx[32], by[32];

    rc = -1;
    jwk = NULL;
    x = NULL;
    y = NULL;
    memset(&ex, 0, sizeof(bb_buf_t));
    memset(&ey, 0, sizeof(bb_buf_t));

    if (path != NULL) {
        jwk = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
        if (jwk == NULL) {
            fprintf(stderr, "bb-verify-bench: \"%s\": %s\n", path,
                    jerr.text);
            goto done;
        }

    } else {
        if (EVP_PKEY_get_bn_param(generated, "qx", &x) != 1
            || EVP_PKEY_get_bn_param(generated, "qy", &y) != 1
            || BN_bn2binpad(x, bx, 32) != 32
            || BN_bn2binpad(y, by, 32) != 32
            || bb_b64url_encode(bx, 32, &ex) != 0
            || bb_b64url_encode(by, 32, &ey) != 0)
        {
            fprintf(stderr, "bb-verify-bench: exporting the key failed\n");
            goto done;
        }

        jwk = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "EC",
                        "crv", "P-256", "kid", BENCH_KID, "alg", "ES256",
                        "x", ex.data, "y", ey.data);
        if (jwk == NULL) {
            goto done;
        }
    }

    if (bb_key_from_jwk(key, jwk, err, sizeof(err)) != 0) {
        fprintf(stderr, "bb-verify-bench: %s\n", err);
        goto done;
    }

    rc = 0;

done:

    json_decref(jwk);
    BN_free(x);
    BN_free(y);
    bb_buf_free(&ex);
    bb_buf_free(&ey);

    return rc;
}


static int
bench_mint(EVP_PKEY *pkey, const char *typ, const char *kid, size_t n,
    int64_t now, bench_tokens_t *out)
{
    char        *header, *payload, jti[32];
    size_t       i;
    json_t      *h, *p;
    const char  *alg;

    alg = EVP_PKEY_is_a(pkey, "RSA") ? "RS256" : "ES256";

    out->tokens = calloc(n, sizeof(char *));
    if (out->tokens == NULL) {
        return -1;
    }

    h = json_pack("{s:s, s:s, s:s}", "alg", alg, "typ", typ, "kid", kid);
    header = h ? json_dumps(h, JSON_COMPACT) : NULL;
    json_decref(h);

    if (header == NULL) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        snprintf(jti, sizeof(jti), "bench-%zu", i);

        p = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I}",
                      "iss", BENCH_ISS, "aud", BENCH_AUD, "sub", "bench-user",
                      "client_id", "bench-app",
                      "scope", "patient/*.read launch/patient openid",
                      "patient", "-19990000000001", "jti", jti,
                      "iat", (json_int_t) now, "exp", (json_int_t) now + 3600);
        payload = p ? json_dumps(p, JSON_COMPACT) : NULL;
        json_decref(p);

        if (payload == NULL) {
            free(header);
            return -1;
        }

        out->tokens[i] = tool_jws_compact(pkey, header, payload);
        free(payload);

        if (out->tokens[i] == NULL) {
            free(header);
            return -1;
        }

        out->n++;
    }

    free(header);

    return 0;
}


/* the DER signature of the first token, as OpenSSL verifies it */

static int
bench_bare_input(const char *token, const bb_key_t *key, unsigned char **der,
    size_t *derlen)
{
    int             len;
    BIGNUM         *r, *s;
    bb_buf_t        sig;
    ECDSA_SIG      *es;
    const char     *dot;
    unsigned char  *p;

    memset(&sig, 0, sizeof(bb_buf_t));
    dot = strrchr(token, '.');

    if (bb_b64url_decode(dot + 1, strlen(dot + 1), &sig) != 0) {
        return -1;
    }

    if (key->alg == BB_ALG_RS256) {
        *der = (unsigned char *) sig.data;
        *derlen = sig.len;
        return 0;
    }

    es = ECDSA_SIG_new();
    r = BN_bin2bn((unsigned char *) sig.data, 32, NULL);
    s = BN_bin2bn((unsigned char *) sig.data + 32, 32, NULL);
    bb_buf_free(&sig);

    if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1)
    {
        ECDSA_SIG_free(es);
        BN_free(r);
        BN_free(s);
        return -1;
    }

    len = i2d_ECDSA_SIG(es, NULL);
    *der = len > 0 ? malloc(len) : NULL;

    if (*der == NULL) {
        ECDSA_SIG_free(es);
        return -1;
    }

    p = *der;
    *derlen = i2d_ECDSA_SIG(es, &p);
    ECDSA_SIG_free(es);

    return 0;
}


static void
bench_free_tokens(bench_tokens_t *t)
{
    size_t  i;

    for (i = 0; i < t->n; i++) {
        free(t->tokens[i]);
    }

    free(t->tokens);
    t->tokens = NULL;
    t->n = 0;
}
