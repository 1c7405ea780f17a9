/*
 * Compact JWS for the test tools: base64url header and payload, signed
 * with the key's own algorithm (ES256 as the raw r||s JWS wants, RS256
 * as PKCS #1 v1.5), whatever the header claims, so that tests can sign
 * hostile headers too.
 */


#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "bb_b64.h"
#include "bb_buf.h"
#include "tool_jws.h"


/* b64url(header) "." b64url(payload) "." b64url(signature) */

char *
tool_jws_compact(EVP_PKEY *pkey, const char *header, const char *payload)
{
    size_t                siglen, inlen;
    bb_buf_t              out;
    EVP_MD_CTX           *ctx;
    ECDSA_SIG            *es;
    const BIGNUM         *r, *s;
    const unsigned char  *p;
    unsigned char         raw[64], *sig, *der;

    ctx = NULL;
    es = NULL;
    der = NULL;
    memset(&out, 0, sizeof(bb_buf_t));

    if (bb_b64url_encode((const unsigned char *) header, strlen(header), &out)
        != 0
        || bb_buf_append_char(&out, '.') != 0
        || bb_b64url_encode((const unsigned char *) payload, strlen(payload),
                            &out)
           != 0)
    {
        goto failed;
    }

    inlen = out.len;

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL
        || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey) != 1
        || EVP_DigestSign(ctx, NULL, &siglen, (unsigned char *) out.data,
                          inlen) != 1)
    {
        goto failed;
    }

    der = malloc(siglen);
    if (der == NULL
        || EVP_DigestSign(ctx, der, &siglen, (unsigned char *) out.data,
                          inlen) != 1)
    {
        goto failed;
    }

    sig = der;

    /* JWS wants r||s, each padded to the size of the curve */

    if (EVP_PKEY_is_a(pkey, "EC")) {
        p = der;
        es = d2i_ECDSA_SIG(NULL, &p, siglen);
        if (es == NULL) {
            goto failed;
        }

        ECDSA_SIG_get0(es, &r, &s);

        if (BN_bn2binpad(r, raw, 32) != 32
            || BN_bn2binpad(s, raw + 32, 32) != 32)
        {
            goto failed;
        }

        sig = raw;
        siglen = sizeof(raw);
    }

    if (bb_buf_append_char(&out, '.') != 0
        || bb_b64url_encode(sig, siglen, &out) != 0)
    {
        goto failed;
    }

    EVP_MD_CTX_free(ctx);
    ECDSA_SIG_free(es);
    free(der);

    return out.data;

failed:

    fprintf(stderr, "bb-mint: signing failed\n");

    EVP_MD_CTX_free(ctx);
    ECDSA_SIG_free(es);
    free(der);
    bb_buf_free(&out);

    return NULL;
}
