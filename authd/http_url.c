/*
 * Percent-encoding for the URLs authd builds (redirects carrying a code, a
 * state or an error), and the lists of name/value pairs requests carry.
 * No libmicrohttpd here: unit tests link this alone.
 */

#include <stdlib.h>
#include <string.h>

#include "bb_buf.h"
#include "http.h"


static int http_url_append(bb_buf_t *b, const char *s);
static int http_unreserved(unsigned char c);
static int http_hex(unsigned char c);


char *
http_url_encode(const char *s)
{
    bb_buf_t  b;

    memset(&b, 0, sizeof(b));

    if (http_url_append(&b, s) != 0 || bb_buf_cstr(&b) == NULL) {
        bb_buf_free(&b);
        return NULL;
    }

    return b.data;
}


char *
http_url_add_params(const char *url, const char *const *pairs)
{
    int          sep;
    size_t       i, len;
    bb_buf_t     b;

    memset(&b, 0, sizeof(b));

    /* '?' starts the query; none is needed after a '?' or '&' already */

    len = strlen(url);

    if (strchr(url, '?') == NULL) {
        sep = '?';

    } else if (url[len - 1] == '?' || url[len - 1] == '&') {
        sep = 0;

    } else {
        sep = '&';
    }

    if (bb_buf_append(&b, url, len) != 0) {
        goto failed;
    }

    for (i = 0; pairs[i] != NULL; i += 2) {
        if (pairs[i + 1] == NULL) {
            continue;
        }

        if ((sep != 0 && bb_buf_append_char(&b, (char) sep) != 0)
            || http_url_append(&b, pairs[i]) != 0
            || bb_buf_append_char(&b, '=') != 0
            || http_url_append(&b, pairs[i + 1]) != 0)
        {
            goto failed;
        }

        sep = '&';
    }

    if (bb_buf_cstr(&b) == NULL) {
        goto failed;
    }

    return b.data;

failed:

    bb_buf_free(&b);

    return NULL;
}


char *
http_url_decode(const char *s)
{
    int                   hi, lo;
    char                 *out, *p;
    const unsigned char  *q;

    out = malloc(strlen(s) + 1);

    if (out == NULL) {
        return NULL;
    }

    p = out;

    for (q = (const unsigned char *) s; *q != '\0'; q++) {
        if (*q == '+') {
            *p++ = ' ';
            continue;
        }

        if (*q != '%') {
            *p++ = (char) *q;
            continue;
        }

        hi = http_hex(q[1]);
        lo = (hi < 0) ? -1 : http_hex(q[2]);

        if (lo < 0 || (hi == 0 && lo == 0)) {
            free(out);
            return NULL;
        }

        *p++ = (char) (hi << 4 | lo);
        q += 2;
    }

    *p = '\0';

    return out;
}


const char *
http_pairs_get(const http_pairs_t *p, const char *name)
{
    size_t  i;

    for (i = 0; i < p->n; i++) {
        if (strcmp(p->items[i].name, name) == 0) {
            return p->items[i].value;
        }
    }

    return NULL;
}


const char *
http_pairs_repeated(const http_pairs_t *p)
{
    size_t  i, j;

    for (i = 0; i < p->n; i++) {
        for (j = i + 1; j < p->n; j++) {
            if (strcmp(p->items[i].name, p->items[j].name) == 0) {
                return p->items[i].name;
            }
        }
    }

    return NULL;
}


int
http_pairs_add(http_pairs_t *p, const char *name, size_t nlen,
    const char *value, size_t vlen)
{
    size_t        cap;
    http_pair_t  *items, *it;

    if (p->n == p->cap) {
        cap = p->cap ? p->cap * 2 : 8;
        items = realloc(p->items, cap * sizeof(http_pair_t));

        if (items == NULL) {
            return -1;
        }

        p->items = items;
        p->cap = cap;
    }

    it = &p->items[p->n];
    it->name = strndup(name, nlen);
    it->value = strndup(value, vlen);

    if (it->name == NULL || it->value == NULL) {
        free(it->name);
        free(it->value);
        return -1;
    }

    p->n++;

    return 0;
}


void
http_pairs_free(http_pairs_t *p)
{
    size_t  i;

    for (i = 0; i < p->n; i++) {
        free(p->items[i].name);
        free(p->items[i].value);
    }

    free(p->items);

    p->items = NULL;
    p->n = 0;
    p->cap = 0;
}


static int
http_url_append(bb_buf_t *b, const char *s)
{
    char                  esc[3];
    const unsigned char  *q;
    static const char     hex[] = "0123456789ABCDEF";

    if (bb_buf_reserve(b, strlen(s)) != 0) {
        return -1;
    }

    for (q = (const unsigned char *) s; *q != '\0'; q++) {
        if (http_unreserved(*q)) {
            if (bb_buf_append_char(b, (char) *q) != 0) {
                return -1;
            }

            continue;
        }

        esc[0] = '%';
        esc[1] = hex[*q >> 4];
        esc[2] = hex[*q & 0x0f];

        if (bb_buf_append(b, esc, 3) != 0) {
            return -1;
        }
    }

    return 0;
}


/* RFC 3986 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~" */

static int
http_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'
           || c == '~';
}


static int
http_hex(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;
}
