/*
 * authd's HTTP layer on a real listener: routes (exact, prefix, 404, 405),
 * what handlers read (query and form pairs with repeats, headers, cookies,
 * Basic credentials, JSON bodies), what they answer (JSON, HTML, redirects,
 * OAuth errors, cookies, headers), the security headers on every response,
 * the body limit, and the URL helpers.
 */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "config.h"
#include "http.h"
#include "log.h"


static int   port;
static char  resp[200000];


static json_t *
pairs_json(const http_pairs_t *p)
{
    size_t   i;
    json_t  *a;

    a = json_array();

    for (i = 0; i < p->n; i++) {
        json_array_append_new(a, json_pack("[s,s]", p->items[i].name,
                                           p->items[i].value));
    }

    return a;
}


static int
echo(http_req_t *req)
{
    const char  *rq, *rf, *h, *c;

    rq = http_pairs_repeated(&req->query);
    rf = http_pairs_repeated(&req->form);
    h = http_header(req, "x-test");
    c = http_cookie(req, "sid");

    return http_json(req, 200, json_pack(
        "{s:s,s:s,s:o,s:o,s:s?,s:s?,s:s?,s:s?,s:s,s:i,s:i,s:s}",
        "method", req->method, "path", req->path,
        "query", pairs_json(&req->query), "form", pairs_json(&req->form),
        "repeated_query", rq, "repeated_form", rf, "x_test", h,
        "sid", c, "subpath", req->subpath, "body_len", (int) req->body_len,
        "id_len", (int) strlen(req->id), "client_addr", req->client_addr));
}


static int
json_echo(http_req_t *req)
{
    char     err[256];
    json_t  *body;

    body = http_json_body(req, err, sizeof(err));

    if (body == NULL) {
        return http_oauth_error(req, 400, "invalid_request", err);
    }

    return http_json(req, 200, body);
}


static int
redirect(http_req_t *req)
{
    int                rc;
    char              *url;
    const char *const  params[] = {
        "code", "a b&c=d/é", "skipped", NULL, "state", "x~y", NULL
    };

    url = http_url_add_params("https://app.example/cb?from=app", params);
    rc = http_redirect(req, url);
    free(url);

    return rc;
}


static int
cookie(http_req_t *req)
{
    if (http_set_cookie(req, "sid", "first", 3600) != 0
        || http_set_cookie(req, "sid", "second", 3600) != 0
        || http_set_cookie(req, "csrf", "token", -1) != 0
        || http_set_cookie(req, "old", "x", 0) != 0
        || http_set_header(req, "Cache-Control", "public, max-age=60") != 0)
    {
        return -1;
    }

    ck_assert_int_eq(http_set_cookie(req, "bad", "a;b", 10), -1);
    ck_assert_int_eq(http_set_header(req, "X-Bad", "a\r\nb: c"), -1);

    return http_text(req, 200, "cookies");
}


static int
failing(http_req_t *req)
{
    (void) http_set_cookie(req, "sid", "leaked", 3600);
    (void) http_text(req, 200, "not this");

    return -1;
}


static int
none(http_req_t *req)
{
    return 0;
}


static int
page(http_req_t *req)
{
    return http_html(req, 200, "<!doctype html><title>t</title>");
}


static int
oauth(http_req_t *req)
{
    http_set_client_id(req, "app-1");

    return http_oauth_error(req, 400, "invalid_request",
                            "repeated parameter");
}


static int
basic(http_req_t *req)
{
    const char  *user, *pass;

    if (http_basic_auth(req, &user, &pass) != 0) {
        return http_oauth_error(req, 401, "invalid_client", NULL);
    }

    return http_json(req, 200, json_pack("{s:s,s:s}", "user", user,
                                         "pass", pass));
}


static int
empty(http_req_t *req)
{
    return http_empty(req, 204);
}


static const http_route_t  routes[] = {
    { "GET", "/echo", echo },
    { "POST", "/echo", echo },
    { "GET", "/items/*", echo },
    { "POST", "/json", json_echo },
    { "GET", "/redirect", redirect },
    { "POST", "/redirect", redirect },
    { "GET", "/cookie", cookie },
    { "GET", "/fail", failing },
    { "GET", "/none", none },
    { "GET", "/page", page },
    { "GET", "/oauth", oauth },
    { "GET", "/basic", basic },
    { "DELETE", "/empty", empty },
    { NULL, NULL, NULL }
};


static void
setup(void)
{
    int                        s;
    socklen_t                  len;
    cfg_addr_t                 addr;
    struct sockaddr_in        *sin;
    const http_route_t *const  tables[] = { routes, NULL };

    /* a free port, then released for the listener */

    s = socket(AF_INET, SOCK_STREAM, 0);
    memset(&addr, 0, sizeof(addr));
    sin = (struct sockaddr_in *) &addr.sa;
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(s, (struct sockaddr *) sin, sizeof(*sin)), 0);
    len = sizeof(*sin);
    ck_assert_int_eq(getsockname(s, (struct sockaddr *) sin, &len), 0);
    close(s);

    port = ntohs(sin->sin_port);
    addr.salen = sizeof(*sin);
    snprintf(addr.text, sizeof(addr.text), "127.0.0.1:%d", port);

    authd_cfg.threads = 2;
    authd_cfg.max_body = 1024;
    authd_cfg.cookie_secure = 1;
    log_set_level(CFG_LOG_ERROR);

    ck_assert_int_eq(http_start(&addr, 0, tables), 0);
}


static void
teardown(void)
{
    http_stop();
}


/* sends a whole request, returns the whole response (Connection: close) */

static const char *
send_raw(const char *req, size_t len)
{
    int                 s;
    size_t              got;
    ssize_t             n;
    struct sockaddr_in  sin;

    s = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    ck_assert_int_eq(connect(s, (struct sockaddr *) &sin, sizeof(sin)), 0);
    ck_assert_int_eq(write(s, req, len), (ssize_t) len);

    got = 0;

    while ((n = read(s, resp + got, sizeof(resp) - 1 - got)) > 0) {
        got += n;
    }

    close(s);
    resp[got] = '\0';

    return resp;
}


/* with a Content-Length when there is a body */

static const char *
request(const char *method, const char *target, const char *headers,
    const char *body)
{
    static char  req[100000];

    char         length[64];

    length[0] = '\0';

    if (body != NULL) {
        snprintf(length, sizeof(length), "Content-Length: %zu\r\n",
                 strlen(body));
    }

    snprintf(req, sizeof(req),
             "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n%s%s\r\n%s",
             method, target, headers ? headers : "", length,
             body ? body : "");

    return send_raw(req, strlen(req));
}


static int
status(const char *r)
{
    ck_assert_msg(strncmp(r, "HTTP/1.1 ", 9) == 0, "no status line: %s", r);

    return atoi(r + 9);
}


/* the value of the n-th header of that name, or NULL */

static char *
header_n(const char *r, const char *name, int n)
{
    size_t       len;
    const char  *p, *end, *eol;
    static char  value[1024];

    len = strlen(name);
    end = strstr(r, "\r\n\r\n");
    ck_assert_ptr_nonnull(end);

    for (p = strstr(r, "\r\n") + 2; p < end; p = eol + 2) {
        eol = strstr(p, "\r\n");

        if (strncasecmp(p, name, len) == 0 && p[len] == ':' && n-- == 0) {
            p += len + 1;

            while (*p == ' ') {
                p++;
            }

            snprintf(value, sizeof(value), "%.*s", (int) (eol - p), p);
            return value;
        }
    }

    return NULL;
}


static char *
header(const char *r, const char *name)
{
    return header_n(r, name, 0);
}


static json_t *
body_json(const char *r)
{
    json_t        *j;
    json_error_t   e;

    j = json_loads(strstr(r, "\r\n\r\n") + 4, 0, &e);
    ck_assert_msg(j != NULL, "not JSON: %s", r);

    return j;
}


static const char *
body_text(const char *r)
{
    return strstr(r, "\r\n\r\n") + 4;
}


static void
security_headers(const char *r, int page)
{
    ck_assert_str_eq(header(r, "X-Frame-Options"), "DENY");
    ck_assert_str_eq(header(r, "X-Content-Type-Options"), "nosniff");
    ck_assert_str_eq(header(r, "Referrer-Policy"), "no-referrer");
    ck_assert_str_eq(header(r, "Content-Security-Policy"), page
        ? "default-src 'self'; frame-ancestors 'none'; base-uri 'none'"
        : "default-src 'none'; frame-ancestors 'none'");
}


START_TEST(test_routes)
{
    const char  *r;
    json_t      *j;

    r = request("GET", "/echo", NULL, NULL);
    ck_assert_int_eq(status(r), 200);
    ck_assert_str_eq(header(r, "Content-Type"), "application/json");
    ck_assert_str_eq(header(r, "Cache-Control"), "no-store");
    security_headers(r, 0);
    j = body_json(r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "path")), "/echo");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "id_len")), 32);
    ck_assert_str_eq(json_string_value(json_object_get(j, "client_addr")),
                     "127.0.0.1");
    json_decref(j);

    r = request("GET", "/items/7/x", NULL, NULL);
    ck_assert_int_eq(status(r), 200);
    j = body_json(r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "subpath")),
                     "7/x");
    json_decref(j);

    r = request("GET", "/items/", NULL, NULL);
    ck_assert_int_eq(status(r), 200);
    j = body_json(r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "subpath")), "");
    json_decref(j);

    r = request("GET", "/items", NULL, NULL);
    ck_assert_int_eq(status(r), 404);
    security_headers(r, 0);

    r = request("GET", "/echo/more", NULL, NULL);
    ck_assert_int_eq(status(r), 404);
    ck_assert_str_eq(body_text(r), "{\"error\":\"not_found\"}");

    r = request("PUT", "/echo", NULL, NULL);
    ck_assert_int_eq(status(r), 405);
    ck_assert_str_eq(header(r, "Allow"), "GET, POST");
    security_headers(r, 0);

    r = request("HEAD", "/echo", NULL, NULL);
    ck_assert_int_eq(status(r), 200);
    ck_assert_str_eq(body_text(r), "");

    r = request("DELETE", "/empty", NULL, NULL);
    ck_assert_int_eq(status(r), 204);
    ck_assert_ptr_null(header(r, "Content-Type"));
    security_headers(r, 0);
}
END_TEST


START_TEST(test_query)
{
    const char  *r;
    json_t      *j;
    char        *q;

    r = request("GET", "/echo?a=1&b=x%20y+z&a=2&flag&e=", NULL, NULL);
    ck_assert_int_eq(status(r), 200);
    j = body_json(r);
    q = json_dumps(json_object_get(j, "query"), JSON_COMPACT);
    ck_assert_str_eq(q, "[[\"a\",\"1\"],[\"b\",\"x y z\"],[\"a\",\"2\"],"
                     "[\"flag\",\"\"],[\"e\",\"\"]]");
    ck_assert_str_eq(json_string_value(json_object_get(j,
                                                       "repeated_query")),
                     "a");
    ck_assert_str_eq(json_string_value(json_object_get(j, "path")), "/echo");
    free(q);
    json_decref(j);

    r = request("GET", "/echo?a=1&b=2", NULL, NULL);
    j = body_json(r);
    ck_assert(json_is_null(json_object_get(j, "repeated_query")));
    json_decref(j);
}
END_TEST


START_TEST(test_form)
{
    char         body[2000], hdr[200];
    const char  *r;
    json_t      *j;
    char        *f;

    r = request("POST", "/echo",
                "Content-Type: application/x-www-form-urlencoded\r\n",
                "grant_type=code&code=a%2Bb+c&scope=&code=2");
    ck_assert_int_eq(status(r), 200);
    j = body_json(r);
    f = json_dumps(json_object_get(j, "form"), JSON_COMPACT);
    ck_assert_str_eq(f, "[[\"grant_type\",\"code\"],[\"code\",\"a+b c\"],"
                     "[\"scope\",\"\"],[\"code\",\"2\"]]");
    ck_assert_str_eq(json_string_value(json_object_get(j, "repeated_form")),
                     "code");
    free(f);
    json_decref(j);

    /* a value longer than MHD's buffer arrives whole */

    memset(body, 'v', sizeof(body));
    memcpy(body, "long=", 5);
    body[1000] = '\0';
    snprintf(hdr, sizeof(hdr),
             "Content-Type: application/x-www-form-urlencoded; "
             "charset=UTF-8\r\n");
    r = request("POST", "/echo", hdr, body);
    ck_assert_int_eq(status(r), 200);
    j = body_json(r);
    ck_assert_int_eq(json_array_size(json_object_get(j, "form")), 1);
    ck_assert_int_eq(strlen(json_string_value(json_array_get(json_array_get(
        json_object_get(j, "form"), 0), 1))), 995);
    ck_assert(json_is_null(json_object_get(j, "repeated_form")));
    json_decref(j);

    /* what MHD cannot parse as a form is refused, not half read */

    r = request("POST", "/echo",
                "Content-Type: application/x-www-form-urlencoded\r\n",
                "a=1;b=2");
    ck_assert_int_eq(status(r), 400);
    ck_assert_str_eq(body_text(r), "{\"error\":\"invalid_request\","
                     "\"error_description\":\"malformed form body\"}");

    /* not a form: the body is left raw */

    r = request("POST", "/echo", "Content-Type: text/plain\r\n", "a=b");
    ck_assert_int_eq(status(r), 200);
    j = body_json(r);
    ck_assert_int_eq(json_array_size(json_object_get(j, "form")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "body_len")), 3);
    json_decref(j);
}
END_TEST


START_TEST(test_body_limit)
{
    char         body[4000], hdr[200];
    const char  *r, *chunked;

    memset(body, 'x', sizeof(body));
    body[1025] = '\0';
    snprintf(hdr, sizeof(hdr), "Content-Type: text/plain\r\n");
    r = request("POST", "/echo", hdr, body);
    ck_assert_int_eq(status(r), 413);
    ck_assert_str_eq(body_text(r), "{\"error\":\"request_too_large\"}");
    security_headers(r, 0);

    body[1024] = '\0';
    snprintf(hdr, sizeof(hdr), "Content-Type: text/plain\r\n");
    r = request("POST", "/echo", hdr, body);
    ck_assert_int_eq(status(r), 200);

    chunked = "POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
              "Transfer-Encoding: chunked\r\n\r\n"
              "200\r\n%0512d\r\n200\r\n%0512d\r\n1\r\nx\r\n0\r\n\r\n";
    snprintf(body, sizeof(body), chunked, 0, 0);
    r = send_raw(body, strlen(body));
    ck_assert_int_eq(status(r), 413);

    chunked = "POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
              "Transfer-Encoding: chunked\r\n\r\n"
              "200\r\n%0512d\r\n200\r\n%0512d\r\n0\r\n\r\n";
    snprintf(body, sizeof(body), chunked, 0, 0);
    r = send_raw(body, strlen(body));
    ck_assert_int_eq(status(r), 200);
}
END_TEST


START_TEST(test_headers_cookies_basic)
{
    const char  *r;
    json_t      *j;

    r = request("GET", "/echo", "X-Test: yes\r\n"
                "Cookie: a=1; sid=abc; b=2\r\n", NULL);
    j = body_json(r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "x_test")), "yes");
    ck_assert_str_eq(json_string_value(json_object_get(j, "sid")), "abc");
    json_decref(j);

    r = request("GET", "/echo", NULL, NULL);
    j = body_json(r);
    ck_assert(json_is_null(json_object_get(j, "x_test")));
    ck_assert(json_is_null(json_object_get(j, "sid")));
    json_decref(j);

    /* "app:s3cret:x" */

    r = request("GET", "/basic", "Authorization: Basic "
                "YXBwOnMzY3JldDp4\r\n", NULL);
    ck_assert_int_eq(status(r), 200);
    j = body_json(r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "user")), "app");
    ck_assert_str_eq(json_string_value(json_object_get(j, "pass")),
                     "s3cret:x");
    json_decref(j);

    r = request("GET", "/basic", "Authorization: Bearer abc\r\n", NULL);
    ck_assert_int_eq(status(r), 401);
    ck_assert_str_eq(body_text(r), "{\"error\":\"invalid_client\"}");
}
END_TEST


START_TEST(test_responses)
{
    const char  *r;

    r = request("GET", "/redirect", NULL, NULL);
    ck_assert_int_eq(status(r), 302);
    ck_assert_str_eq(header(r, "Location"), "https://app.example/cb?"
                     "from=app&code=a%20b%26c%3Dd%2F%C3%A9&state=x~y");
    security_headers(r, 0);

    r = request("POST", "/redirect", NULL, "");
    ck_assert_int_eq(status(r), 303);

    r = request("GET", "/page", NULL, NULL);
    ck_assert_int_eq(status(r), 200);
    ck_assert_str_eq(header(r, "Content-Type"), "text/html; charset=utf-8");
    ck_assert_str_eq(header(r, "Cache-Control"), "no-store");
    security_headers(r, 1);

    r = request("GET", "/oauth", NULL, NULL);
    ck_assert_int_eq(status(r), 400);
    ck_assert_str_eq(body_text(r), "{\"error\":\"invalid_request\","
                     "\"error_description\":\"repeated parameter\"}");

    r = request("GET", "/cookie", NULL, NULL);
    ck_assert_int_eq(status(r), 200);
    ck_assert_str_eq(header(r, "Cache-Control"), "public, max-age=60");
    ck_assert_str_eq(header_n(r, "Set-Cookie", 0), "sid=second; Path=/; "
                     "Max-Age=3600; HttpOnly; SameSite=Lax; Secure");
    ck_assert_str_eq(header_n(r, "Set-Cookie", 1), "csrf=token; Path=/; "
                     "HttpOnly; SameSite=Lax; Secure");
    ck_assert_str_eq(header_n(r, "Set-Cookie", 2), "old=; Path=/; "
                     "Max-Age=0; HttpOnly; SameSite=Lax; Secure");
    ck_assert_ptr_null(header_n(r, "Set-Cookie", 3));
    ck_assert_ptr_null(header(r, "X-Bad"));
    security_headers(r, 0);

    /* a failed handler: 500, and nothing it set goes out */

    r = request("GET", "/fail", NULL, NULL);
    ck_assert_int_eq(status(r), 500);
    ck_assert_ptr_null(header(r, "Set-Cookie"));
    ck_assert_str_eq(body_text(r), "{\"error\":\"server_error\"}");
    security_headers(r, 0);

    r = request("GET", "/none", NULL, NULL);
    ck_assert_int_eq(status(r), 500);
}
END_TEST


START_TEST(test_json_body)
{
    const char  *r;

    r = request("POST", "/json", "Content-Type: application/json\r\n",
                "{\"a\":[1,\"b\"]} ");
    ck_assert_int_eq(status(r), 200);
    ck_assert_str_eq(body_text(r), "{\"a\":[1,\"b\"]}");

    r = request("POST", "/json", "Content-Type: application/json\r\n",
                "{\"a\":1,\"a\":2} ");
    ck_assert_int_eq(status(r), 400);
    ck_assert_ptr_nonnull(strstr(body_text(r), "duplicate object key"));

    r = request("POST", "/json", "Content-Type: text/plain\r\n", "{\"a\":1}");
    ck_assert_int_eq(status(r), 400);
    ck_assert_str_eq(body_text(r), "{\"error\":\"invalid_request\","
                     "\"error_description\":\"expected Content-Type "
                     "application/json\"}");

    r = request("POST", "/json", "Content-Type: application/json\r\n", "");
    ck_assert_int_eq(status(r), 400);
    ck_assert_ptr_nonnull(strstr(body_text(r), "empty body"));
}
END_TEST


START_TEST(test_url_helpers)
{
    char              *s;
    const char *const  none[] = { "a", NULL, NULL };
    const char *const  one[] = { "error", "access_denied", NULL };

    s = http_url_encode("AZaz09-._~ /?#&=+%\x01\xff");
    ck_assert_str_eq(s, "AZaz09-._~%20%2F%3F%23%26%3D%2B%25%01%FF");
    free(s);

    s = http_url_add_params("https://a.example/cb", one);
    ck_assert_str_eq(s, "https://a.example/cb?error=access_denied");
    free(s);

    s = http_url_add_params("https://a.example/cb?", one);
    ck_assert_str_eq(s, "https://a.example/cb?error=access_denied");
    free(s);

    s = http_url_add_params("https://a.example/cb?x=1", one);
    ck_assert_str_eq(s, "https://a.example/cb?x=1&error=access_denied");
    free(s);

    s = http_url_add_params("https://a.example/cb", none);
    ck_assert_str_eq(s, "https://a.example/cb");
    free(s);

    s = http_url_decode("a+b%20c%2b%C3%A9");
    ck_assert_str_eq(s, "a b c+\xc3\xa9");
    free(s);

    ck_assert_ptr_null(http_url_decode("a%2"));
    ck_assert_ptr_null(http_url_decode("a%zz"));
    ck_assert_ptr_null(http_url_decode("a%00b"));

    s = http_url_decode("a%01b");
    ck_assert_str_eq(s, "a\x01" "b");
    free(s);
}
END_TEST


static Suite *
http_suite(void)
{
    Suite  *s;
    TCase  *tc, *url;

    s = suite_create("authd_http");

    tc = tcase_create("listener");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_routes);
    tcase_add_test(tc, test_query);
    tcase_add_test(tc, test_form);
    tcase_add_test(tc, test_body_limit);
    tcase_add_test(tc, test_headers_cookies_basic);
    tcase_add_test(tc, test_responses);
    tcase_add_test(tc, test_json_body);
    suite_add_tcase(s, tc);

    url = tcase_create("url");
    tcase_add_test(url, test_url_helpers);
    suite_add_tcase(s, url);

    return s;
}


int
main(void)
{
    int       failed;
    SRunner  *sr;

    sr = srunner_create(http_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    return failed == 0 ? 0 : 1;
}
