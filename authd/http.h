/*
 * HTTP for authd, on libmicrohttpd: two listeners (public and admin), each
 * a thread pool dispatching requests through a route table to handlers.
 * MHD parses the protocol; handlers read the parsed request from
 * http_req_t and answer through exactly one response helper.  Every
 * response carries the security headers (frames refused, no sniffing, no
 * referrer) and "Cache-Control: no-store" unless the handler sets its own.
 */

#ifndef AUTHD_HTTP_H
#define AUTHD_HTTP_H

#include <stddef.h>

#include <jansson.h>

#include "config.h"


typedef struct {
    char        *name;
    char        *value;                 /* never NULL: "a" gives "" */
} http_pair_t;


/* every pair in arrival order, repeated names included */
typedef struct {
    http_pair_t *items;
    size_t       n;
    size_t       cap;
} http_pairs_t;


typedef struct http_resp_s  http_resp_t;


typedef struct {
    const char      *method;            /* "GET", "POST", ... */
    const char      *path;              /* decoded, without the query */
    const char      *subpath;           /* what a "prefix*" route left */
    http_pairs_t     query;
    http_pairs_t     form;              /* x-www-form-urlencoded bodies */
    const char      *content_type;      /* NULL when absent */
    const char      *body;              /* raw, NUL-terminated; "" none */
    size_t           body_len;
    char             client_addr[64];
    char             id[33];            /* random request id, hex */
    char             client_id[128];    /* for the access log; "" none */
    int              admin;             /* came on the admin listener */

    /* internal to http.c */
    void            *conn;
    http_resp_t     *resp;
} http_req_t;


/*
 * A handler answers with one of the response helpers below and returns
 * its result: 0, or -1 when the request could not be answered (then a
 * 500 goes out, and the handler must have logged why).
 */
typedef int (*http_handler_t)(http_req_t *req);


/*
 * A route: an exact path, or a prefix ending in '*' whose remainder is put
 * in req->subpath (the route "/admin/v1/applications/" followed by '*'
 * matches "/admin/v1/applications/7" with subpath "7").  A GET route also
 * answers HEAD.  A table ends with an entry whose path is NULL.  A path
 * matched with another method gets 405 and an Allow header.
 */
typedef struct {
    const char      *method;
    const char      *path;
    http_handler_t   handler;
} http_route_t;


/*
 * Starts a listener on addr serving the NULL-terminated list of route
 * tables (searched in order).  Returns 0, or -1 (logged).
 */
int http_start(const cfg_addr_t *addr, int admin,
    const http_route_t *const *tables)
    __attribute__((warn_unused_result));

/* stops every listener: waits for requests in progress */
void http_stop(void);


/* first value of a name, or NULL */
const char *http_pairs_get(const http_pairs_t *p, const char *name);

/* the first name given more than once, or NULL */
const char *http_pairs_repeated(const http_pairs_t *p);

/* copies both; 0 or -1 (out of memory) */
int http_pairs_add(http_pairs_t *p, const char *name, size_t nlen,
    const char *value, size_t vlen);
void http_pairs_free(http_pairs_t *p);

const char *http_query(http_req_t *req, const char *name);
const char *http_form(http_req_t *req, const char *name);

/* header (case-insensitive name) or cookie value, or NULL */
const char *http_header(http_req_t *req, const char *name);
const char *http_cookie(http_req_t *req, const char *name);

/*
 * The Basic credentials of the Authorization header, base64-decoded but
 * not form-decoded; owned by req.  0, or -1 when absent or malformed.
 */
int http_basic_auth(http_req_t *req, const char **user, const char **pass);

/*
 * The body as JSON when the content type is application/json; NULL with
 * a message for the client in err otherwise.  Returns a new reference.
 */
json_t *http_json_body(http_req_t *req, char *err, size_t errlen);

/* the client_id the access line shows */
void http_set_client_id(http_req_t *req, const char *client_id);


/*
 * Responses.  http_json() takes the reference to body (NULL body: 500).
 * http_html() adds the page policy (default-src 'self').  http_redirect()
 * answers 302, or 303 to a POST.  http_oauth_error() is the RFC 6749 JSON
 * error ({"error", "error_description"}; description may be NULL).
 */
int http_json(http_req_t *req, unsigned status, json_t *body);
int http_html(http_req_t *req, unsigned status, const char *html);
int http_text(http_req_t *req, unsigned status, const char *text);
int http_empty(http_req_t *req, unsigned status);
int http_redirect(http_req_t *req, const char *url);
int http_oauth_error(http_req_t *req, unsigned status, const char *error,
    const char *description);

/*
 * Extra headers, before or after the response helper; a header set twice
 * keeps the last value.  0 or -1 (out of memory).
 */
int http_set_header(http_req_t *req, const char *name, const char *value);

/*
 * Set-Cookie with Path=/, HttpOnly, SameSite=Lax, and Secure when the
 * cookie_secure setting is on; max_age 0 deletes the cookie, a negative
 * one makes a session cookie.  A cookie set twice keeps the last value.
 * -1 when the name or value holds a byte a cookie cannot carry.
 */
int http_set_cookie(http_req_t *req, const char *name, const char *value,
    long max_age);


/*
 * URLs.  http_url_encode() percent-encodes every byte outside the RFC 3986
 * unreserved set.  http_url_add_params() appends "name=value" pairs (a
 * NULL-terminated list of names and values; a NULL value skips the pair)
 * to a URL that may already hold a query, with '?' or '&'.
 * http_url_decode() undoes form encoding ('+' is a space) and returns NULL
 * on a malformed escape or an encoded NUL.  All return malloc()ed strings.
 */
char *http_url_encode(const char *s);
char *http_url_add_params(const char *url, const char *const *pairs);
char *http_url_decode(const char *s);


#endif /* AUTHD_HTTP_H */
