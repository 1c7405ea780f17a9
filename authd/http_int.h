/*
 * What http.c (the listener and the request's life) and http_resp.c (the
 * answers) share: the request context behind each http_req_t.  Private to
 * those two files.
 */

#ifndef AUTHD_HTTP_INT_H
#define AUTHD_HTTP_INT_H

#include <time.h>

#include "bb_buf.h"
#include "http.h"


#define HTTP_MAX_TABLES    8


struct MHD_Daemon;
struct MHD_Connection;


typedef struct {
    struct MHD_Daemon    *daemon;
    int                   admin;
    const http_route_t   *tables[HTTP_MAX_TABLES + 1];
} http_server_t;


struct http_resp_s {
    unsigned      status;
    char         *body;
    size_t        len;
    const char   *type;                 /* NULL: no body */
    int           page;                 /* HTML: a stricter policy */
};


/* req comes first: handlers get &ctx->req, which is cast back */
typedef struct {
    http_req_t              req;
    http_server_t          *server;
    struct MHD_Connection  *conn;
    struct timespec         start;
    char                   *method;
    char                   *path;
    bb_buf_t                body;
    int                     too_large;
    int                     failed;     /* out of memory on the way */
    unsigned                status;     /* what was queued */
    http_resp_t             resp;
    int                     has_resp;
    http_pairs_t            headers;    /* set by the handler */
    http_pairs_t            cookies;    /* name -> whole Set-Cookie value */
    int                     auth_done;
    char                   *auth_user;
    char                   *auth_pass;
} http_ctx_t;


/* http.c's own answers (404, 405, 413, 500) */
int http_error(http_req_t *req, unsigned status, const char *error);

/* "type" alone or followed by parameters, in any case */
int http_type_is(const char *header, const char *type);


#endif /* AUTHD_HTTP_INT_H */
