#ifndef BB_INFLATE_H
#define BB_INFLATE_H

#include <stddef.h>

#include "bb_buf.h"


/*
 * Inflate a gzip or zlib ("deflate") body, stopping at max bytes of output
 * so that a small compressed body cannot exhaust memory.  Returns 0, or -1
 * with the reason in err.
 */
int bb_inflate(const char *in, size_t len, size_t max, bb_buf_t *out,
    char *err, size_t errlen);


#endif /* BB_INFLATE_H */
