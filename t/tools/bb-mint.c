/*
 * bb-mint: keys and access tokens for the integration tests, the local
 * demo and the benchmark.
 *
 *   bb-mint keygen --kid K [--alg ES256|RS256] --private OUT.pem
 *                  --jwk OUT.json
 *   bb-mint token --key PRIV.pem --kid K [--alg A] --iss I --aud A --sub S
 *                 --client-id C --scope "..." [--patient P] [--jti J]
 *                 [--ttl SECONDS] [--iat T] [--nbf T]
 *   bb-mint tokens --count N ...the options of token...
 *   bb-mint sign --key PRIV.pem --header JSON --payload JSON
 *
 * "sign" uses the header verbatim and signs with the algorithm of the key,
 * so that tests can present hostile headers with valid signatures.  Usage
 * errors exit 2, other failures 1.
 */


#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "bb_b64.h"
#include "bb_buf.h"
#include "tool_jws.h"


#define MINT_DEFAULT_TTL   3600
#define MINT_MAX_COUNT     10000000


typedef struct {
    const char          *kid;
    const char          *alg;
    const char          *private;
    const char          *jwk;
    const char          *key;
    const char          *iss;
    const char          *aud;
    const char          *sub;
    const char          *client_id;
    const char          *scope;
    const char          *patient;
    const char          *jti;
    const char          *header;
    const char          *payload;
    long long            ttl;
    long long            iat;
    long long            nbf;
    long long            count;
    unsigned             has_iat:1;
    unsigned             has_nbf:1;
} mint_opts_t;


enum {
    OPT_KID = 256,
    OPT_ALG,
    OPT_PRIVATE,
    OPT_JWK,
    OPT_KEY,
    OPT_ISS,
    OPT_AUD,
    OPT_SUB,
    OPT_CLIENT_ID,
    OPT_SCOPE,
    OPT_PATIENT,
    OPT_JTI,
    OPT_TTL,
    OPT_IAT,
    OPT_NBF,
    OPT_COUNT,
    OPT_HEADER,
    OPT_PAYLOAD
};


static const struct option  mint_options[] = {
    { "kid", required_argument, NULL, OPT_KID },
    { "alg", required_argument, NULL, OPT_ALG },
    { "private", required_argument, NULL, OPT_PRIVATE },
    { "jwk", required_argument, NULL, OPT_JWK },
    { "key", required_argument, NULL, OPT_KEY },
    { "iss", required_argument, NULL, OPT_ISS },
    { "aud", required_argument, NULL, OPT_AUD },
    { "sub", required_argument, NULL, OPT_SUB },
    { "client-id", required_argument, NULL, OPT_CLIENT_ID },
    { "scope", required_argument, NULL, OPT_SCOPE },
    { "patient", required_argument, NULL, OPT_PATIENT },
    { "jti", required_argument, NULL, OPT_JTI },
    { "ttl", required_argument, NULL, OPT_TTL },
    { "iat", required_argument, NULL, OPT_IAT },
    { "nbf", required_argument, NULL, OPT_NBF },
    { "count", required_argument, NULL, OPT_COUNT },
    { "header", required_argument, NULL, OPT_HEADER },
    { "payload", required_argument, NULL, OPT_PAYLOAD },
    { NULL, 0, NULL, 0 }
};


static void mint_usage(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
static int mint_parse(int argc, char **argv, mint_opts_t *o);
static int mint_number(const char *name, const char *s, long long *v);
static int mint_keygen(mint_opts_t *o);
static int mint_token(mint_opts_t *o);
static int mint_sign(mint_opts_t *o);
static EVP_PKEY *mint_load_key(const char *path);
static const char *mint_key_alg(EVP_PKEY *pkey);
static json_t *mint_jwk(EVP_PKEY *pkey, const char *kid, const char *alg);
static int mint_random_hex(char *out, size_t bytes);


int
main(int argc, char **argv)
{
    const char   *cmd;
    mint_opts_t   o;

    if (argc < 2) {
        mint_usage("no subcommand");
    }

    cmd = argv[1];

    if (strcmp(cmd, "keygen") != 0 && strcmp(cmd, "token") != 0
        && strcmp(cmd, "tokens") != 0 && strcmp(cmd, "sign") != 0)
    {
        mint_usage("unknown subcommand \"%s\"", cmd);
    }

    memset(&o, 0, sizeof(mint_opts_t));
    o.ttl = MINT_DEFAULT_TTL;
    o.count = 1;

    if (mint_parse(argc - 1, argv + 1, &o) != 0) {
        return 2;
    }

    if (strcmp(cmd, "keygen") == 0) {
        return mint_keygen(&o);
    }

    if (strcmp(cmd, "token") == 0) {
        o.count = 1;
        return mint_token(&o);
    }

    if (strcmp(cmd, "tokens") == 0) {
        return mint_token(&o);
    }

    return mint_sign(&o);
}


static void
mint_usage(const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    fprintf(stderr, "bb-mint: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n"
        "usage: bb-mint keygen --kid K [--alg ES256|RS256] --private OUT.pem"
        " --jwk OUT.json\n"
        "       bb-mint token --key PRIV.pem --kid K [--alg A] --iss I"
        " --aud A --sub S\n"
        "                     --client-id C --scope \"...\" [--patient P]"
        " [--jti J]\n"
        "                     [--ttl SECONDS] [--iat T] [--nbf T]\n"
        "       bb-mint tokens --count N ...the options of token...\n"
        "       bb-mint sign --key PRIV.pem --header JSON --payload JSON\n");

    exit(2);
}


static int
mint_parse(int argc, char **argv, mint_opts_t *o)
{
    int  c;

    opterr = 0;
    optind = 1;

    while ((c = getopt_long(argc, argv, ":", mint_options, NULL)) != -1) {
        switch (c) {

        case OPT_KID:
            o->kid = optarg;
            break;

        case OPT_ALG:
            o->alg = optarg;
            break;

        case OPT_PRIVATE:
            o->private = optarg;
            break;

        case OPT_JWK:
            o->jwk = optarg;
            break;

        case OPT_KEY:
            o->key = optarg;
            break;

        case OPT_ISS:
            o->iss = optarg;
            break;

        case OPT_AUD:
            o->aud = optarg;
            break;

        case OPT_SUB:
            o->sub = optarg;
            break;

        case OPT_CLIENT_ID:
            o->client_id = optarg;
            break;

        case OPT_SCOPE:
            o->scope = optarg;
            break;

        case OPT_PATIENT:
            o->patient = optarg;
            break;

        case OPT_JTI:
            o->jti = optarg;
            break;

        case OPT_TTL:
            if (mint_number("--ttl", optarg, &o->ttl) != 0) {
                return -1;
            }

            break;

        case OPT_IAT:
            if (mint_number("--iat", optarg, &o->iat) != 0) {
                return -1;
            }

            o->has_iat = 1;
            break;

        case OPT_NBF:
            if (mint_number("--nbf", optarg, &o->nbf) != 0) {
                return -1;
            }

            o->has_nbf = 1;
            break;

        case OPT_COUNT:
            if (mint_number("--count", optarg, &o->count) != 0) {
                return -1;
            }

            if (o->count < 1 || o->count > MINT_MAX_COUNT) {
                mint_usage("invalid --count \"%s\"", optarg);
            }

            break;

        case OPT_HEADER:
            o->header = optarg;
            break;

        case OPT_PAYLOAD:
            o->payload = optarg;
            break;

        case ':':
            mint_usage("option \"%s\" needs a value", argv[optind - 1]);
            break;

        default:
            mint_usage("unknown option \"%s\"", argv[optind - 1]);
        }
    }

    if (optind < argc) {
        mint_usage("unexpected argument \"%s\"", argv[optind]);
    }

    return 0;
}


static int
mint_number(const char *name, const char *s, long long *v)
{
    char  *end;

    errno = 0;
    *v = strtoll(s, &end, 10);

    if (errno != 0 || end == s || *end != '\0') {
        fprintf(stderr, "bb-mint: invalid %s \"%s\"\n", name, s);
        return -1;
    }

    return 0;
}


static int
mint_keygen(mint_opts_t *o)
{
    int          fd, rc;
    FILE        *f;
    json_t      *jwk;
    EVP_PKEY    *pkey;
    const char  *alg;

    rc = 1;
    f = NULL;
    jwk = NULL;
    pkey = NULL;

    if (o->kid == NULL || o->private == NULL || o->jwk == NULL) {
        mint_usage("keygen needs --kid, --private and --jwk");
    }

    alg = o->alg ? o->alg : "ES256";

    if (strcmp(alg, "ES256") == 0) {
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

    } else if (strcmp(alg, "RS256") == 0) {
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);

    } else {
        mint_usage("unsupported --alg \"%s\"", alg);
    }

    if (pkey == NULL) {
        fprintf(stderr, "bb-mint: EVP_PKEY_Q_keygen() failed\n");
        goto done;
    }

    /* the private key is readable by its owner only, from the start */

    fd = open(o->private, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd == -1 || fchmod(fd, 0600) != 0) {
        fprintf(stderr, "bb-mint: open(\"%s\") failed: %s\n", o->private,
                strerror(errno));
        if (fd != -1) {
            close(fd);
        }

        goto done;
    }

    f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        fprintf(stderr, "bb-mint: fdopen() failed: %s\n", strerror(errno));
        goto done;
    }

    if (PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) != 1
        || fclose(f) != 0)
    {
        f = NULL;
        fprintf(stderr, "bb-mint: writing \"%s\" failed\n", o->private);
        goto done;
    }

    f = NULL;

    jwk = mint_jwk(pkey, o->kid, alg);
    if (jwk == NULL) {
        goto done;
    }

    if (json_dump_file(jwk, o->jwk, JSON_INDENT(2) | JSON_SORT_KEYS) != 0) {
        fprintf(stderr, "bb-mint: writing \"%s\" failed\n", o->jwk);
        goto done;
    }

    rc = 0;

done:

    if (f != NULL) {
        fclose(f);
    }

    json_decref(jwk);
    EVP_PKEY_free(pkey);

    return rc;
}


static int
mint_token(mint_opts_t *o)
{
    int          rc;
    char        *header, *payload, *token, jti[64];
    json_t      *h, *p;
    EVP_PKEY    *pkey;
    long long    i, iat;
    const char  *alg;

    rc = 1;
    h = NULL;
    p = NULL;
    header = NULL;
    pkey = NULL;

    if (o->key == NULL || o->kid == NULL || o->iss == NULL || o->aud == NULL
        || o->sub == NULL || o->client_id == NULL || o->scope == NULL)
    {
        mint_usage("token needs --key, --kid, --iss, --aud, --sub, "
                   "--client-id and --scope");
    }

    if (o->ttl <= 0) {
        mint_usage("--ttl must be positive");
    }

    pkey = mint_load_key(o->key);
    if (pkey == NULL) {
        goto done;
    }

    alg = mint_key_alg(pkey);
    if (alg == NULL) {
        fprintf(stderr, "bb-mint: \"%s\" is neither P-256 nor RSA\n",
                o->key);
        goto done;
    }

    if (o->alg != NULL && strcmp(o->alg, alg) != 0) {
        fprintf(stderr, "bb-mint: --alg \"%s\" does not fit the %s key "
                "(use \"sign\" for mismatched headers)\n", o->alg, alg);
        EVP_PKEY_free(pkey);
        exit(2);
    }

    h = json_pack("{s:s, s:s, s:s}", "alg", alg, "typ", "at+jwt",
                  "kid", o->kid);
    header = h ? json_dumps(h, JSON_COMPACT) : NULL;
    if (header == NULL) {
        fprintf(stderr, "bb-mint: json_dumps() failed\n");
        goto done;
    }

    iat = o->has_iat ? o->iat : (long long) time(NULL);

    for (i = 0; i < o->count; i++) {
        if (o->jti != NULL && o->count == 1) {
            snprintf(jti, sizeof(jti), "%.63s", o->jti);

        } else if (o->jti != NULL) {
            snprintf(jti, sizeof(jti), "%.40s-%lld", o->jti, i);

        } else if (mint_random_hex(jti, 16) != 0) {
            goto done;
        }

        p = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I}",
                      "iss", o->iss, "aud", o->aud, "sub", o->sub,
                      "client_id", o->client_id, "scope", o->scope,
                      "jti", jti, "iat", (json_int_t) iat,
                      "exp", (json_int_t) (iat + o->ttl));
        if (p == NULL) {
            fprintf(stderr, "bb-mint: json_pack() failed\n");
            goto done;
        }

        if ((o->patient != NULL
             && json_object_set_new(p, "patient", json_string(o->patient))
                != 0)
            || (o->has_nbf
                && json_object_set_new(p, "nbf", json_integer(o->nbf)) != 0))
        {
            fprintf(stderr, "bb-mint: json_object_set_new() failed\n");
            goto done;
        }

        payload = json_dumps(p, JSON_COMPACT);
        if (payload == NULL) {
            fprintf(stderr, "bb-mint: json_dumps() failed\n");
            goto done;
        }

        json_decref(p);
        p = NULL;

        token = tool_jws_compact(pkey, header, payload);
        free(payload);

        if (token == NULL) {
            goto done;
        }

        printf("%s\n", token);
        free(token);
    }

    if (fflush(stdout) != 0) {
        fprintf(stderr, "bb-mint: writing the tokens failed\n");
        goto done;
    }

    rc = 0;

done:

    free(header);
    json_decref(h);
    json_decref(p);
    EVP_PKEY_free(pkey);

    return rc;
}


static int
mint_sign(mint_opts_t *o)
{
    char      *token;
    EVP_PKEY  *pkey;

    if (o->key == NULL || o->header == NULL || o->payload == NULL) {
        mint_usage("sign needs --key, --header and --payload");
    }

    pkey = mint_load_key(o->key);
    if (pkey == NULL) {
        return 1;
    }

    token = tool_jws_compact(pkey, o->header, o->payload);
    EVP_PKEY_free(pkey);

    if (token == NULL) {
        return 1;
    }

    printf("%s\n", token);
    free(token);

    return fflush(stdout) == 0 ? 0 : 1;
}


static EVP_PKEY *
mint_load_key(const char *path)
{
    FILE      *f;
    EVP_PKEY  *pkey;

    f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "bb-mint: fopen(\"%s\") failed: %s\n", path,
                strerror(errno));
        return NULL;
    }

    pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);

    if (pkey == NULL) {
        fprintf(stderr, "bb-mint: \"%s\" holds no private key\n", path);
    }

    return pkey;
}


static const char *
mint_key_alg(EVP_PKEY *pkey)
{
    char  group[32];

    if (EVP_PKEY_is_a(pkey, "RSA")) {
        return "RS256";
    }

    if (EVP_PKEY_is_a(pkey, "EC")
        && EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
                                          group, sizeof(group), NULL) == 1
        && strcmp(group, "prime256v1") == 0)
    {
        return "ES256";
    }

    return NULL;
}


static json_t *
mint_jwk(EVP_PKEY *pkey, const char *kid, const char *alg)
{
    int             rsa;
    json_t         *jwk;
    BIGNUM         *a, *b;
    bb_buf_t        ea, eb;
    unsigned char   ba[1024], bb[1024];
    int             la, lb;

    jwk = NULL;
    a = NULL;
    b = NULL;
    memset(&ea, 0, sizeof(bb_buf_t));
    memset(&eb, 0, sizeof(bb_buf_t));

    rsa = EVP_PKEY_is_a(pkey, "RSA");

    if (rsa) {
        if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &a) != 1
            || EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &b) != 1
            || BN_num_bytes(a) > (int) sizeof(ba))
        {
            goto failed;
        }

        la = BN_bn2bin(a, ba);
        lb = BN_bn2bin(b, bb);

    } else {
        if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &a) != 1
            || EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &b) != 1)
        {
            goto failed;
        }

        la = BN_bn2binpad(a, ba, 32);
        lb = BN_bn2binpad(b, bb, 32);
    }

    if (la <= 0 || lb <= 0
        || bb_b64url_encode(ba, la, &ea) != 0
        || bb_b64url_encode(bb, lb, &eb) != 0)
    {
        goto failed;
    }

    if (rsa) {
        jwk = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "RSA",
                        "kid", kid, "alg", alg, "use", "sig",
                        "n", ea.data, "e", eb.data);

    } else {
        jwk = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "EC",
                        "kid", kid, "alg", alg, "use", "sig",
                        "crv", "P-256", "x", ea.data, "y", eb.data);
    }

failed:

    if (jwk == NULL) {
        fprintf(stderr, "bb-mint: building the JWK failed\n");
    }

    BN_free(a);
    BN_free(b);
    bb_buf_free(&ea);
    bb_buf_free(&eb);

    return jwk;
}


static int
mint_random_hex(char *out, size_t bytes)
{
    size_t          i;
    unsigned char   buf[32];

    static const char  hex[] = "0123456789abcdef";

    if (bytes > sizeof(buf) || RAND_bytes(buf, (int) bytes) != 1) {
        fprintf(stderr, "bb-mint: RAND_bytes() failed\n");
        return -1;
    }

    for (i = 0; i < bytes; i++) {
        out[2 * i] = hex[buf[i] >> 4];
        out[2 * i + 1] = hex[buf[i] & 0x0f];
    }

    out[2 * bytes] = '\0';

    return 0;
}
