/*
 * libmicrohttpd glue.  MHD calls http_access() several times per request:
 * once when the headers are in (a request context is made, an announced
 * body over max_body is refused at once), once per piece of body (copied,
 * bounded), and once at the end, when the request is dispatched through
 * the route tables and the handler's response is queued with the security
 * headers (http_resp.c).  http_completed() writes the access line and
 * frees the context.
 *
 * Handlers run in MHD's pool threads and may block (database calls): the
 * pool size (threads) bounds how many requests run at once.
 */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/rand.h>

#include "bb_buf.h"
#include "http.h"
#include "http_int.h"
#include "log.h"


#define HTTP_MAX_SERVERS   2
#define HTTP_STOP_WAIT_MS  10000


static enum MHD_Result http_access(void *cls, struct MHD_Connection *conn,
    const char *url, const char *method, const char *version,
    const char *upload_data, size_t *upload_data_size, void **con_cls);
static void http_completed(void *cls, struct MHD_Connection *conn,
    void **con_cls, enum MHD_RequestTerminationCode toe);
static http_ctx_t *http_ctx_new(http_server_t *server,
    struct MHD_Connection *conn, const char *url, const char *method);
static void http_ctx_free(http_ctx_t *ctx);
static enum MHD_Result http_query_arg(void *cls, enum MHD_ValueKind kind,
    const char *key, const char *value);
static enum MHD_Result http_form_field(void *cls, enum MHD_ValueKind kind,
    const char *key, const char *filename, const char *content_type,
    const char *transfer_encoding, const char *data, uint64_t off,
    size_t size);
static void http_dispatch(http_ctx_t *ctx);
static int http_parse_form(http_ctx_t *ctx);
static enum MHD_Result http_queue(http_ctx_t *ctx);
static int http_add_headers(http_ctx_t *ctx, struct MHD_Response *r);
static void http_mhd_log(void *cls, const char *fmt, va_list ap);


static http_server_t  http_servers[HTTP_MAX_SERVERS];
static int            http_nservers;
static atomic_int     http_active;


int
http_start(const cfg_addr_t *addr, int admin,
    const http_route_t *const *tables)
{
    int             i;
    unsigned        flags;
    http_server_t  *server;

    if (http_nservers == HTTP_MAX_SERVERS) {
        log_fatal(NULL, "http_start() called more than %d times",
                  HTTP_MAX_SERVERS);
    }

    server = &http_servers[http_nservers];
    memset(server, 0, sizeof(http_server_t));
    server->admin = admin;

    for (i = 0; tables[i] != NULL; i++) {
        if (i == HTTP_MAX_TABLES) {
            log_fatal(NULL, "more than %d route tables", HTTP_MAX_TABLES);
        }

        server->tables[i] = tables[i];
    }

    flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC
            | MHD_USE_ERROR_LOG;

    if (addr->sa.ss_family == AF_INET6) {
        flags |= MHD_USE_IPv6;
    }

    server->daemon = MHD_start_daemon(
        flags, (uint16_t) addr->port, NULL, NULL, http_access, server,
        MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, (const struct sockaddr *) &addr->sa,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int) authd_cfg.threads,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) 30,
        MHD_OPTION_NOTIFY_COMPLETED, http_completed, server,
        MHD_OPTION_END);

    if (server->daemon == NULL) {
        log_error(NULL, "MHD_start_daemon() failed on \"%s\"", addr->text);
        return -1;
    }

    http_nservers++;

    return 0;
}


/*
 * Stop accepting first, let the requests in progress finish (for a while),
 * then stop the daemons, which closes the idle keep-alive connections.
 */

void
http_stop(void)
{
    int  i, fd, waited;

    for (i = 0; i < http_nservers; i++) {
        fd = MHD_quiesce_daemon(http_servers[i].daemon);

        if (fd >= 0) {
            close(fd);
        }
    }

    for (waited = 0; atomic_load(&http_active) > 0
                     && waited < HTTP_STOP_WAIT_MS; waited += 10)
    {
        usleep(10000);
    }

    for (i = 0; i < http_nservers; i++) {
        MHD_stop_daemon(http_servers[i].daemon);
        http_servers[i].daemon = NULL;
    }

    http_nservers = 0;
}


const char *
http_query(http_req_t *req, const char *name)
{
    return http_pairs_get(&req->query, name);
}


const char *
http_form(http_req_t *req, const char *name)
{
    return http_pairs_get(&req->form, name);
}


const char *
http_header(http_req_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}


const char *
http_cookie(http_req_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND, name);
}


int
http_basic_auth(http_req_t *req, const char **user, const char **pass)
{
    char        *u, *p;
    http_ctx_t  *ctx;

    ctx = (http_ctx_t *) req;

    if (!ctx->auth_done) {
        ctx->auth_done = 1;

        p = NULL;
        u = MHD_basic_auth_get_username_password(ctx->conn, &p);

        if (u != NULL && p != NULL) {
            ctx->auth_user = strdup(u);
            ctx->auth_pass = strdup(p);
        }

        if (p != NULL) {
            explicit_bzero(p, strlen(p));
            MHD_free(p);
        }

        if (u != NULL) {
            MHD_free(u);
        }
    }

    if (ctx->auth_user == NULL || ctx->auth_pass == NULL) {
        return -1;
    }

    *user = ctx->auth_user;
    *pass = ctx->auth_pass;

    return 0;
}


json_t *
http_json_body(http_req_t *req, char *err, size_t errlen)
{
    json_t        *json;
    json_error_t   jerr;

    if (!http_type_is(req->content_type, "application/json")) {
        snprintf(err, errlen, "expected Content-Type application/json");
        return NULL;
    }

    if (req->body_len == 0) {
        snprintf(err, errlen, "empty body");
        return NULL;
    }

    json = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES,
                      &jerr);

    if (json == NULL) {
        snprintf(err, errlen, "invalid JSON at line %d column %d: %s",
                 jerr.line, jerr.column, jerr.text);
        return NULL;
    }

    return json;
}


static enum MHD_Result
http_access(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
    char                *end;
    size_t               size;
    http_ctx_t          *ctx;
    const char          *cl;
    unsigned long long   announced;

    ctx = *con_cls;

    if (ctx == NULL) {
        ctx = http_ctx_new(cls, conn, url, method);

        if (ctx == NULL) {
            return MHD_NO;
        }

        *con_cls = ctx;
        atomic_fetch_add(&http_active, 1);

        /* refused before it is read: MHD then closes the connection */

        cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                         MHD_HTTP_HEADER_CONTENT_LENGTH);

        if (cl != NULL) {
            announced = strtoull(cl, &end, 10);

            if (*end == '\0'
                && announced > (unsigned long long) authd_cfg.max_body)
            {
                ctx->too_large = 1;
                http_error(&ctx->req, 413, "request_too_large");
                return http_queue(ctx);
            }
        }

        return MHD_YES;
    }

    if (*upload_data_size > 0) {
        size = *upload_data_size;
        *upload_data_size = 0;

        if (ctx->too_large || ctx->failed) {
            return MHD_YES;
        }

        /* a chunked body over the limit is read and dropped, then 413 */

        if (ctx->body.len + size > (size_t) authd_cfg.max_body) {
            ctx->too_large = 1;
            bb_buf_free(&ctx->body);
            return MHD_YES;
        }

        if (bb_buf_append(&ctx->body, upload_data, size) != 0) {
            ctx->failed = 1;
        }

        return MHD_YES;
    }

    if (ctx->too_large) {
        http_error(&ctx->req, 413, "request_too_large");

    } else if (ctx->failed) {
        log_error(ctx->req.id, "out of memory reading the body");
        http_error(&ctx->req, 500, "server_error");

    } else {
        http_dispatch(ctx);
    }

    return http_queue(ctx);
}


static void
http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
    long             ms;
    http_ctx_t      *ctx;
    struct timespec  now;

    ctx = *con_cls;

    if (ctx == NULL) {
        return;
    }

    *con_cls = NULL;

    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (now.tv_sec - ctx->start.tv_sec) * 1000
         + (now.tv_nsec - ctx->start.tv_nsec) / 1000000;

    log_access(ctx->req.id, ctx->method, ctx->path, ctx->status, ms,
               ctx->req.client_id);

    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) {
        log_info(ctx->req.id, "connection ended early (%d)", (int) toe);
    }

    http_ctx_free(ctx);
    atomic_fetch_sub(&http_active, 1);
}


static http_ctx_t *
http_ctx_new(http_server_t *server, struct MHD_Connection *conn,
    const char *url, const char *method)
{
    size_t                         i;
    http_ctx_t                    *ctx;
    unsigned char                  rnd[16];
    const struct sockaddr         *sa;
    const union MHD_ConnectionInfo  *info;
    static const char              hex[] = "0123456789abcdef";

    ctx = calloc(1, sizeof(http_ctx_t));

    if (ctx == NULL) {
        log_error(NULL, "out of memory");
        return NULL;
    }

    clock_gettime(CLOCK_MONOTONIC, &ctx->start);

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        log_fatal(NULL, "RAND_bytes() failed");
    }

    for (i = 0; i < sizeof(rnd); i++) {
        ctx->req.id[2 * i] = hex[rnd[i] >> 4];
        ctx->req.id[2 * i + 1] = hex[rnd[i] & 0x0f];
    }

    ctx->server = server;
    ctx->conn = conn;
    ctx->method = strdup(method);
    ctx->path = strdup(url);

    if (ctx->method == NULL || ctx->path == NULL) {
        log_error(ctx->req.id, "out of memory");
        http_ctx_free(ctx);
        return NULL;
    }

    ctx->req.method = ctx->method;
    ctx->req.path = ctx->path;
    ctx->req.subpath = "";
    ctx->req.body = "";
    ctx->req.admin = server->admin;
    ctx->req.conn = conn;
    ctx->req.resp = &ctx->resp;
    ctx->req.content_type = MHD_lookup_connection_value(conn,
        MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);

    strcpy(ctx->req.client_addr, "-");

    info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    sa = info ? info->client_addr : NULL;

    if (sa != NULL && sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *) sa)->sin_addr,
                  ctx->req.client_addr, sizeof(ctx->req.client_addr));

    } else if (sa != NULL && sa->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) sa)->sin6_addr,
                  ctx->req.client_addr, sizeof(ctx->req.client_addr));
    }

    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, http_query_arg,
                              ctx);

    if (ctx->failed) {
        log_error(ctx->req.id, "out of memory");
        http_ctx_free(ctx);
        return NULL;
    }

    return ctx;
}


static void
http_ctx_free(http_ctx_t *ctx)
{
    http_pairs_free(&ctx->req.query);
    http_pairs_free(&ctx->req.form);
    http_pairs_free(&ctx->headers);
    http_pairs_free(&ctx->cookies);
    bb_buf_free(&ctx->body);
    free(ctx->resp.body);
    free(ctx->method);
    free(ctx->path);

    if (ctx->auth_pass != NULL) {
        explicit_bzero(ctx->auth_pass, strlen(ctx->auth_pass));
    }

    free(ctx->auth_user);
    free(ctx->auth_pass);
    free(ctx);
}


static enum MHD_Result
http_query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
    http_ctx_t  *ctx;

    ctx = cls;

    if (value == NULL) {
        value = "";
    }

    if (http_pairs_add(&ctx->req.query, key, strlen(key), value,
                       strlen(value))
        != 0)
    {
        ctx->failed = 1;
        return MHD_NO;
    }

    return MHD_YES;
}


/* a long value may come in pieces: off > 0 continues the last pair */

static enum MHD_Result
http_form_field(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *filename, const char *content_type,
    const char *transfer_encoding, const char *data, uint64_t off,
    size_t size)
{
    char          *v;
    size_t         len;
    http_ctx_t    *ctx;
    http_pair_t   *last;

    ctx = cls;

    if (off == 0) {
        if (http_pairs_add(&ctx->req.form, key, strlen(key),
                           data ? data : "", data ? size : 0)
            != 0)
        {
            ctx->failed = 1;
            return MHD_NO;
        }

        return MHD_YES;
    }

    last = ctx->req.form.n ? &ctx->req.form.items[ctx->req.form.n - 1]
                           : NULL;

    if (last == NULL || strcmp(last->name, key) != 0) {
        return MHD_NO;
    }

    len = strlen(last->value);
    v = realloc(last->value, len + size + 1);

    if (v == NULL) {
        ctx->failed = 1;
        return MHD_NO;
    }

    memcpy(v + len, data, size);
    v[len + size] = '\0';
    last->value = v;

    return MHD_YES;
}


static void
http_dispatch(http_ctx_t *ctx)
{
    int                   rc;
    char                  allow[128];
    size_t                plen;
    http_req_t           *req;
    const char           *method, *path;
    const http_route_t   *r, *found;
    const http_route_t  **table;

    req = &ctx->req;
    found = NULL;
    allow[0] = '\0';

    if (bb_buf_cstr(&ctx->body) == NULL) {
        http_error(req, 500, "server_error");
        return;
    }

    req->body = ctx->body.data;
    req->body_len = ctx->body.len;

    if (req->body_len > 0
        && http_type_is(req->content_type,
                        "application/x-www-form-urlencoded")
        && http_parse_form(ctx) != 0)
    {
        http_oauth_error(req, 400, "invalid_request", "malformed form body");
        return;
    }

    method = strcmp(req->method, "HEAD") == 0 ? "GET" : req->method;

    for (table = ctx->server->tables; *table != NULL && found == NULL;
         table++)
    {
        for (r = *table; r->path != NULL; r++) {
            plen = strlen(r->path);

            if (plen > 0 && r->path[plen - 1] == '*') {
                if (strncmp(req->path, r->path, plen - 1) != 0) {
                    continue;
                }

                path = req->path + plen - 1;

            } else if (strcmp(req->path, r->path) == 0) {
                path = "";

            } else {
                continue;
            }

            if (strcmp(r->method, method) == 0) {
                found = r;
                req->subpath = path;
                break;
            }

            if (strlen(allow) + strlen(r->method) + 3 < sizeof(allow)) {
                if (allow[0] != '\0') {
                    strcat(allow, ", ");
                }

                strcat(allow, r->method);
            }
        }
    }

    if (found == NULL && allow[0] != '\0') {
        (void) http_set_header(req, "Allow", allow);
        http_error(req, 405, "method_not_allowed");
        return;
    }

    if (found == NULL) {
        http_error(req, 404, "not_found");
        return;
    }

    rc = found->handler(req);

    if (rc == 0 && !ctx->has_resp) {
        log_error(req->id, "handler of \"%s\" answered nothing", found->path);
        rc = -1;
    }

    if (rc != 0) {

        /* nothing the handler queued (cookies included) goes out */

        http_pairs_free(&ctx->headers);
        http_pairs_free(&ctx->cookies);
        http_error(req, 500, "server_error");
    }
}


static int
http_parse_form(http_ctx_t *ctx)
{
    int                       rc;
    struct MHD_PostProcessor *pp;

    pp = MHD_create_post_processor(ctx->conn, 1024, http_form_field, ctx);

    if (pp == NULL) {
        log_error(ctx->req.id, "MHD_create_post_processor() failed");
        return -1;
    }

    rc = MHD_post_process(pp, ctx->req.body, ctx->req.body_len) == MHD_YES
         ? 0 : -1;

    MHD_destroy_post_processor(pp);

    if (ctx->failed) {
        return -1;
    }

    return rc;
}


static enum MHD_Result
http_queue(http_ctx_t *ctx)
{
    enum MHD_Result       rc;
    struct MHD_Response  *r;

    if (!ctx->has_resp) {
        log_fatal(ctx->req.id, "http_queue() without a response");
    }

    r = MHD_create_response_from_buffer(ctx->resp.len, ctx->resp.body,
                                        MHD_RESPMEM_MUST_COPY);

    if (r == NULL) {
        log_error(ctx->req.id, "MHD_create_response_from_buffer() failed");
        return MHD_NO;
    }

    if (http_add_headers(ctx, r) != 0) {
        MHD_destroy_response(r);

        /* whatever went wrong, a bare 500 still goes out */

        r = MHD_create_response_from_buffer(0, (void *) "",
                                            MHD_RESPMEM_PERSISTENT);

        if (r == NULL) {
            return MHD_NO;
        }

        ctx->resp.status = 500;
    }

    ctx->status = ctx->resp.status;
    rc = MHD_queue_response(ctx->conn, ctx->resp.status, r);
    MHD_destroy_response(r);

    return rc;
}


/*
 * The defaults first, unless the handler set a header of the same name;
 * then the handler's headers and cookies.
 */

static int
http_add_headers(http_ctx_t *ctx, struct MHD_Response *r)
{
    size_t        i, j;
    const char   *csp;
    http_pair_t  *h;

    static const struct {
        const char  *name;
        const char  *value;
    } defaults[] = {
        { "X-Frame-Options", "DENY" },
        { "X-Content-Type-Options", "nosniff" },
        { "Referrer-Policy", "no-referrer" },
        { "Cache-Control", "no-store" },
        { "Content-Security-Policy", NULL }
    };

    csp = ctx->resp.page
          ? "default-src 'self'; frame-ancestors 'none'; base-uri 'none'"
          : "default-src 'none'; frame-ancestors 'none'";

    if (ctx->resp.type != NULL
        && MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                   ctx->resp.type)
           != MHD_YES)
    {
        return -1;
    }

    for (i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
        for (j = 0; j < ctx->headers.n; j++) {
            if (strcasecmp(ctx->headers.items[j].name, defaults[i].name)
                == 0)
            {
                break;
            }
        }

        if (j < ctx->headers.n) {
            continue;
        }

        if (MHD_add_response_header(r, defaults[i].name,
                                    defaults[i].value ? defaults[i].value
                                                      : csp)
            != MHD_YES)
        {
            return -1;
        }
    }

    for (i = 0; i < ctx->headers.n; i++) {
        h = &ctx->headers.items[i];

        if (MHD_add_response_header(r, h->name, h->value) != MHD_YES) {
            log_error(ctx->req.id, "MHD_add_response_header(\"%s\") failed",
                      h->name);
            return -1;
        }
    }

    for (i = 0; i < ctx->cookies.n; i++) {
        if (MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE,
                                    ctx->cookies.items[i].value)
            != MHD_YES)
        {
            log_error(ctx->req.id, "MHD_add_response_header(\"%s\") failed",
                      MHD_HTTP_HEADER_SET_COOKIE);
            return -1;
        }
    }

    return 0;
}


static void
http_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char  buf[512];

    vsnprintf(buf, sizeof(buf), fmt, ap);

    log_error(NULL, "libmicrohttpd: %s", buf);
}
