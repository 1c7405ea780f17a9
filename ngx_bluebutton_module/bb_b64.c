/*
 * base64url without padding on top of OpenSSL's standard base64 codec.
 * Input is checked against the url alphabet first, then translated to the
 * standard alphabet in small stack chunks, so that nothing but the output
 * buffer is allocated.  A short final group is completed with 'A' (zero
 * bits) rather than '=', and the bytes that completion produced are cut.
 */

#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>

#include "bb_b64.h"


/* multiples of 4 (encoded) and 3 (decoded) */
#define BB_B64_CHUNK_IN   512
#define BB_B64_CHUNK_RAW  384


static int bb_b64url_value(unsigned char c);


int
bb_b64url_decode(const char *in, size_t len, bb_buf_t *out)
{
    int             n, v;
    size_t          i, j, rest, chunk, max, start;
    unsigned char   buf[BB_B64_CHUNK_IN];

    rest = len % 4;

    if (rest == 1) {
        return -1;
    }

    for (i = 0; i < len; i++) {
        if (bb_b64url_value((unsigned char) in[i]) < 0) {
            return -1;
        }
    }

    /*
     * The last character of a short group carries bits that fall outside
     * the output; a canonical encoder leaves them zero, and accepting other
     * values would let many strings stand for one token.
     */

    if (rest) {
        v = bb_b64url_value((unsigned char) in[len - 1]);

        if ((rest == 2 && (v & 0x0f)) || (rest == 3 && (v & 0x03))) {
            return -1;
        }
    }

    max = len / 4 * 3 + (rest ? rest - 1 : 0);

    if (bb_buf_reserve(out, max + 3) != 0) {
        return -1;
    }

    start = out->len;

    for (i = 0; i < len; i += chunk) {
        chunk = len - i;

        if (chunk > BB_B64_CHUNK_IN) {
            chunk = BB_B64_CHUNK_IN;
        }

        memcpy(buf, in + i, chunk);

        for (j = 0; j < chunk; j++) {
            if (buf[j] == '-') {
                buf[j] = '+';

            } else if (buf[j] == '_') {
                buf[j] = '/';
            }
        }

        while (chunk % 4) {
            buf[chunk++] = 'A';
        }

        n = EVP_DecodeBlock((unsigned char *) out->data + out->len, buf,
                            (int) chunk);
        if (n < 0) {
            out->len = start;
            out->data[out->len] = '\0';
            return -1;
        }

        out->len += n;
    }

    /* drop the zero bytes that the 'A' completion decoded to */

    out->len = start + max;
    out->data[out->len] = '\0';

    return 0;
}


int
bb_b64url_encode(const unsigned char *in, size_t len, bb_buf_t *out)
{
    int             n;
    char           *p, *end;
    size_t          i, chunk;
    unsigned char   buf[BB_B64_CHUNK_IN + 1];

    if (len > (SIZE_MAX / 4) * 3 - 3) {
        return -1;
    }

    if (bb_buf_reserve(out, (len + 2) / 3 * 4) != 0) {
        return -1;
    }

    for (i = 0; i < len; i += chunk) {
        chunk = len - i;

        if (chunk > BB_B64_CHUNK_RAW) {
            chunk = BB_B64_CHUNK_RAW;
        }

        n = EVP_EncodeBlock(buf, in + i, (int) chunk);

        while (n > 0 && buf[n - 1] == '=') {
            n--;
        }

        p = out->data + out->len;
        end = p + n;

        memcpy(p, buf, n);

        for ( /* void */ ; p < end; p++) {
            if (*p == '+') {
                *p = '-';

            } else if (*p == '/') {
                *p = '_';
            }
        }

        out->len += n;
    }

    out->data[out->len] = '\0';

    return 0;
}


static int
bb_b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }

    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }

    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }

    if (c == '-') {
        return 62;
    }

    if (c == '_') {
        return 63;
    }

    return -1;
}
