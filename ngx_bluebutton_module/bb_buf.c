#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bb_buf.h"


int
bb_buf_reserve(bb_buf_t *b, size_t more)
{
    char    *p;
    size_t   cap;

    if (more > SIZE_MAX / 2 - b->len) {
        return -1;
    }

    /* one spare byte so that bb_buf_cstr() never needs to grow */

    if (b->len + more + 1 <= b->cap) {
        return 0;
    }

    cap = b->cap ? b->cap : 64;

    while (cap < b->len + more + 1) {
        cap *= 2;
    }

    p = realloc(b->data, cap);
    if (p == NULL) {
        return -1;
    }

    b->data = p;
    b->cap = cap;

    return 0;
}


int
bb_buf_append(bb_buf_t *b, const void *data, size_t len)
{
    if (bb_buf_reserve(b, len) != 0) {
        return -1;
    }

    if (len) {
        memcpy(b->data + b->len, data, len);
    }

    b->len += len;
    b->data[b->len] = '\0';

    return 0;
}


int
bb_buf_append_str(bb_buf_t *b, const char *s)
{
    return bb_buf_append(b, s, strlen(s));
}


int
bb_buf_append_char(bb_buf_t *b, char c)
{
    return bb_buf_append(b, &c, 1);
}


char *
bb_buf_cstr(bb_buf_t *b)
{
    if (bb_buf_reserve(b, 0) != 0) {
        return NULL;
    }

    b->data[b->len] = '\0';

    return b->data;
}


void
bb_buf_free(bb_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}


int
bb_str_eq(bb_str_t a, const char *s)
{
    size_t  n;

    n = strlen(s);

    return a.len == n && memcmp(a.data, s, n) == 0;
}


int
bb_str_caseeq(bb_str_t a, const char *s)
{
    size_t  n;

    n = strlen(s);

    return a.len == n && strncasecmp(a.data, s, n) == 0;
}


const char *
bb_quote(char *dst, size_t size, const char *s, size_t len)
{
    static const char  hex[] = "0123456789ABCDEF";

    size_t         i, n;
    unsigned char  c;

    n = 0;

    for (i = 0; i < len && i < BB_QUOTE_MAX; i++) {
        c = (unsigned char) s[i];

        /* room for this byte escaped, "..." and the NUL */

        if (n + 8 > size) {
            break;
        }

        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\') {
            dst[n++] = '\\';
            dst[n++] = 'x';
            dst[n++] = hex[c >> 4];
            dst[n++] = hex[c & 0xf];

        } else {
            dst[n++] = (char) c;
        }
    }

    if (i < len && n + 4 <= size) {
        memcpy(&dst[n], "...", 3);
        n += 3;
    }

    dst[n] = '\0';

    return dst;
}


void
bb_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list  ap;

    if (err == NULL || errlen == 0) {
        return;
    }

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}
