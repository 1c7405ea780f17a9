/*
 * Growable byte buffers and length-counted strings shared by the pure
 * parts of the gateway (token checks, request rewriting, policy, response
 * rewriting).  These files include no nginx header so that unit tests and
 * fuzzers link them alone; the nginx glue copies results into request pools.
 */

#ifndef BB_BUF_H
#define BB_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>


typedef struct {
    const char  *data;
    size_t       len;
} bb_str_t;


typedef struct {
    char        *data;
    size_t       len;
    size_t       cap;
} bb_buf_t;


#define bb_string(s)  { (s), sizeof(s) - 1 }


/* All return 0, or -1 when memory runs out (the buffer is then unchanged). */
int bb_buf_reserve(bb_buf_t *b, size_t more);
int bb_buf_append(bb_buf_t *b, const void *data, size_t len);
int bb_buf_append_str(bb_buf_t *b, const char *s);
int bb_buf_append_char(bb_buf_t *b, char c);

/* Keeps the buffer NUL-terminated past len; returns data or NULL. */
char *bb_buf_cstr(bb_buf_t *b);
void bb_buf_free(bb_buf_t *b);

int bb_str_eq(bb_str_t a, const char *s);
int bb_str_caseeq(bb_str_t a, const char *s);

/*
 * A client's bytes fit for an error message: at most BB_QUOTE_MAX of them,
 * quotes, backslashes, spaces and non-printable bytes as \xHH, a longer
 * value cut with "...".  dst of BB_QUOTE_SIZE always holds the result.
 */
#define BB_QUOTE_MAX   64
#define BB_QUOTE_SIZE  (BB_QUOTE_MAX * 4 + 4)

const char *bb_quote(char *dst, size_t size, const char *s, size_t len);

#define bb_quote_cstr(buf, s)  bb_quote(buf, sizeof(buf), s, strlen(s))

/* Bounded copy that always terminates; the error-message helper. */
void bb_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));


#endif /* BB_BUF_H */
