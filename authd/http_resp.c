/*
 * The answers handlers give: one response per request (the last one set
 * wins), the headers and cookies set on the way, kept in the request
 * context until http.c queues them with the security headers.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "http.h"
#include "http_int.h"
#include "log.h"


static int http_respond(http_req_t *req, unsigned status, const char *type,
    const char *body, size_t len, int page);
static int http_set_pair(http_pairs_t *p, const char *name,
    const char *value);
static int http_cookie_octets(const char *s, int name);
static int http_header_value_ok(const char *s);


void
http_set_client_id(http_req_t *req, const char *client_id)
{
    snprintf(req->client_id, sizeof(req->client_id), "%s",
             client_id ? client_id : "");
}


int
http_json(http_req_t *req, unsigned status, json_t *body)
{
    int    rc;
    char  *text;

    if (body == NULL) {
        log_error(req->id, "no JSON body to send");
        return -1;
    }

    text = json_dumps(body, JSON_COMPACT);
    json_decref(body);

    if (text == NULL) {
        log_error(req->id, "json_dumps() failed");
        return -1;
    }

    rc = http_respond(req, status, "application/json", text, strlen(text),
                      0);
    free(text);

    return rc;
}


int
http_html(http_req_t *req, unsigned status, const char *html)
{
    return http_respond(req, status, "text/html; charset=utf-8", html,
                        strlen(html), 1);
}


int
http_text(http_req_t *req, unsigned status, const char *text)
{
    return http_respond(req, status, "text/plain; charset=utf-8", text,
                        strlen(text), 0);
}


int
http_empty(http_req_t *req, unsigned status)
{
    return http_respond(req, status, NULL, "", 0, 0);
}


/* 303 after a POST makes the browser follow with a GET */

int
http_redirect(http_req_t *req, const char *url)
{
    if (!http_header_value_ok(url)) {
        log_error(req->id, "refused to redirect to a URL with control "
                  "characters");
        return -1;
    }

    if (http_set_header(req, "Location", url) != 0) {
        return -1;
    }

    return http_empty(req, strcmp(req->method, "POST") == 0 ? 303 : 302);
}


int
http_oauth_error(http_req_t *req, unsigned status, const char *error,
    const char *description)
{
    json_t  *body;

    body = json_pack("{s:s}", "error", error);

    if (body != NULL && description != NULL
        && json_object_set_new(body, "error_description",
                               json_string(description)) != 0)
    {
        json_decref(body);
        body = NULL;
    }

    return http_json(req, status, body);
}


int
http_set_header(http_req_t *req, const char *name, const char *value)
{
    http_ctx_t  *ctx;

    ctx = (http_ctx_t *) req;

    if (!http_header_value_ok(name) || !http_header_value_ok(value)) {
        log_error(req->id, "refused a header with control characters");
        return -1;
    }

    if (http_set_pair(&ctx->headers, name, value) != 0) {
        log_error(req->id, "out of memory");
        return -1;
    }

    return 0;
}


int
http_set_cookie(http_req_t *req, const char *name, const char *value,
    long max_age)
{
    int          rc;
    char        *line;
    char         age[48];
    http_ctx_t  *ctx;

    ctx = (http_ctx_t *) req;

    if (!http_cookie_octets(name, 1) || *name == '\0'
        || !http_cookie_octets(value, 0))
    {
        log_error(req->id, "refused cookie \"%s\": invalid characters",
                  http_cookie_octets(name, 1) ? name : "?");
        return -1;
    }

    age[0] = '\0';

    if (max_age >= 0) {
        snprintf(age, sizeof(age), "; Max-Age=%ld", max_age);
    }

    if (asprintf(&line, "%s=%s; Path=/%s; HttpOnly; SameSite=Lax%s", name,
                 max_age == 0 ? "" : value, age,
                 authd_cfg.cookie_secure ? "; Secure" : "")
        < 0)
    {
        log_error(req->id, "out of memory");
        return -1;
    }

    rc = http_set_pair(&ctx->cookies, name, line);

    explicit_bzero(line, strlen(line));
    free(line);

    if (rc != 0) {
        log_error(req->id, "out of memory");
    }

    return rc;
}


/* the last response set wins */

static int
http_respond(http_req_t *req, unsigned status, const char *type,
    const char *body, size_t len, int page)
{
    char        *copy;
    http_ctx_t  *ctx;

    ctx = (http_ctx_t *) req;

    copy = malloc(len + 1);

    if (copy == NULL) {
        log_error(req->id, "out of memory");
        return -1;
    }

    memcpy(copy, body, len);
    copy[len] = '\0';

    free(ctx->resp.body);

    ctx->resp.status = status;
    ctx->resp.body = copy;
    ctx->resp.len = len;
    ctx->resp.type = type;
    ctx->resp.page = page;
    ctx->has_resp = 1;

    return 0;
}


/* when even the memory for its JSON runs out, an empty body */

int
http_error(http_req_t *req, unsigned status, const char *error)
{
    http_ctx_t  *ctx;

    ctx = (http_ctx_t *) req;

    if (http_oauth_error(req, status, error, NULL) == 0) {
        return 0;
    }

    free(ctx->resp.body);

    ctx->resp.status = status;
    ctx->resp.body = NULL;
    ctx->resp.len = 0;
    ctx->resp.type = NULL;
    ctx->resp.page = 0;
    ctx->has_resp = 1;

    return 0;
}


int
http_type_is(const char *header, const char *type)
{
    size_t  len;

    if (header == NULL) {
        return 0;
    }

    len = strlen(type);

    if (strncasecmp(header, type, len) != 0) {
        return 0;
    }

    return header[len] == '\0' || header[len] == ';' || header[len] == ' '
           || header[len] == '\t';
}


static int
http_set_pair(http_pairs_t *p, const char *name, const char *value)
{
    char    *v;
    size_t   i;

    for (i = 0; i < p->n; i++) {
        if (strcasecmp(p->items[i].name, name) == 0) {
            v = strdup(value);

            if (v == NULL) {
                return -1;
            }

            explicit_bzero(p->items[i].value, strlen(p->items[i].value));
            free(p->items[i].value);
            p->items[i].value = v;

            return 0;
        }
    }

    return http_pairs_add(p, name, strlen(name), value, strlen(value));
}


/*
 * RFC 6265: a cookie value is cookie-octets (no space, quote, comma,
 * semicolon or backslash); a name is a token.
 */

static int
http_cookie_octets(const char *s, int name)
{
    const unsigned char  *p;

    for (p = (const unsigned char *) s; *p != '\0'; p++) {
        if (*p <= 0x20 || *p >= 0x7f || *p == '"' || *p == ',' || *p == ';'
            || *p == '\\')
        {
            return 0;
        }

        if (name && strchr("()<>@:/[]?={}", *p) != NULL) {
            return 0;
        }
    }

    return 1;
}


static int
http_header_value_ok(const char *s)
{
    const unsigned char  *p;

    for (p = (const unsigned char *) s; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            return 0;
        }
    }

    return 1;
}
