#ifndef BB_B64_H
#define BB_B64_H

#include <stddef.h>

#include "bb_buf.h"


/*
 * base64url without padding (RFC 7515 section 2), through OpenSSL's
 * base64 codec.  Decoding refuses padding, characters outside the url
 * alphabet and non-canonical trailing bits.  Return 0 or -1.
 */
int bb_b64url_decode(const char *in, size_t len, bb_buf_t *out);
int bb_b64url_encode(const unsigned char *in, size_t len, bb_buf_t *out);


#endif /* BB_B64_H */
