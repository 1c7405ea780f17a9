#include <string.h>

#include <zlib.h>

#include "bb_inflate.h"


int
bb_inflate(const char *in, size_t len, size_t max, bb_buf_t *out, char *err,
    size_t errlen)
{
    int       rc, ret;
    z_stream  z;

    memset(&z, 0, sizeof(z));

    /* 32 + 15: zlib detects a gzip or a zlib header by itself */

    if (inflateInit2(&z, 32 + 15) != Z_OK) {
        bb_err(err, errlen, "inflateInit2() failed");
        return -1;
    }

    ret = -1;
    z.next_in = (Bytef *) in;
    z.avail_in = (uInt) len;

    if ((size_t) z.avail_in != len) {
        bb_err(err, errlen, "compressed body too large");
        goto done;
    }

    for ( ;; ) {
        if (bb_buf_reserve(out, 16384) != 0) {
            bb_err(err, errlen, "out of memory");
            goto done;
        }

        z.next_out = (Bytef *) out->data + out->len;
        z.avail_out = (uInt) (out->cap - out->len - 1);

        rc = inflate(&z, Z_NO_FLUSH);

        out->len = (char *) z.next_out - out->data;
        out->data[out->len] = '\0';

        if (out->len > max) {
            bb_err(err, errlen, "inflated body exceeds %zu bytes", max);
            goto done;
        }

        if (rc == Z_STREAM_END) {
            break;
        }

        if (rc != Z_OK) {
            bb_err(err, errlen, "inflate() failed: %s",
                   z.msg ? z.msg : "truncated stream");
            goto done;
        }

        if (z.avail_in == 0 && z.avail_out != 0) {
            bb_err(err, errlen, "inflate() failed: truncated stream");
            goto done;
        }
    }

    ret = 0;

done:

    inflateEnd(&z);

    return ret;
}
