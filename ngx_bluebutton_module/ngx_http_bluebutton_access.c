/*
 * The access half of the bluebutton module: one decision per request, taken
 * on the request line as the client sent it.  The path is classified, the
 * bearer token verified (or found in the worker's cache) and checked for
 * revocation, the resource type, interaction, scope and patient checked
 * against the policy, and only then are the URI, the query and the body of
 * a POST _search replaced by the canonical forms the upstream receives.
 * A refusal is a FHIR OperationOutcome; nothing refused reaches upstream.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "bb_jwt.h"
#include "bb_scope.h"
#include "ngx_http_bluebutton.h"


/* why a request is refused, before it becomes a response */
typedef struct {
    ngx_uint_t                     status;
    bb_issue_t                     issue;
    const char                    *bearer_error;
    char                           scope[96];
    char                           reason[256];
} ngx_http_bluebutton_refusal_t;


static ngx_int_t ngx_http_bluebutton_decide(ngx_http_request_t *r,
    ngx_http_bluebutton_ctx_t *ctx, ngx_http_bluebutton_refusal_t *ref);
static ngx_int_t ngx_http_bluebutton_authenticate(ngx_http_request_t *r,
    ngx_http_bluebutton_ctx_t *ctx, ngx_http_bluebutton_refusal_t *ref);
static ngx_int_t ngx_http_bluebutton_bearer(ngx_http_request_t *r,
    ngx_str_t *token, ngx_http_bluebutton_refusal_t *ref);
static ngx_int_t ngx_http_bluebutton_rewrite(ngx_http_request_t *r,
    ngx_http_bluebutton_ctx_t *ctx, const char *form, size_t flen,
    ngx_http_bluebutton_refusal_t *ref);
static void ngx_http_bluebutton_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_bluebutton_set_body(ngx_http_request_t *r,
    bb_buf_t *form);
static ngx_int_t ngx_http_bluebutton_read_form(ngx_http_request_t *r,
    ngx_str_t *form, ngx_http_bluebutton_refusal_t *ref);
static ngx_int_t ngx_http_bluebutton_strip_headers(ngx_http_request_t *r,
    ngx_flag_t pass_authorization);
static ngx_int_t ngx_http_bluebutton_refuse(ngx_http_request_t *r,
    ngx_http_bluebutton_refusal_t *ref);
static ngx_int_t ngx_http_bluebutton_send_json(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *type, bb_buf_t *body);
static ngx_int_t ngx_http_bluebutton_smart_config(ngx_http_request_t *r);
static void ngx_http_bluebutton_refusal(ngx_http_bluebutton_refusal_t *ref,
    ngx_uint_t status, bb_issue_t issue, const char *bearer_error,
    const char *reason);
static ngx_int_t ngx_http_bluebutton_has_access_token(ngx_str_t *query);
static ngx_int_t ngx_http_bluebutton_hide_query(ngx_http_request_t *r);
static ngx_int_t ngx_http_bluebutton_copy(ngx_http_request_t *r,
    ngx_str_t *dst, const char *src);


static ngx_str_t  ngx_http_bluebutton_fhir_json =
    ngx_string("application/fhir+json");
static ngx_str_t  ngx_http_bluebutton_json = ngx_string("application/json");
static ngx_str_t  ngx_http_bluebutton_format = ngx_string("_format=json");


ngx_int_t
ngx_http_bluebutton_handler(ngx_http_request_t *r)
{
    ngx_int_t                        rc;
    ngx_http_bluebutton_ctx_t       *ctx;
    ngx_http_bluebutton_loc_conf_t  *blcf;
    ngx_http_bluebutton_refusal_t    ref;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_bluebutton_module);

    if (!blcf->enable || r != r->main) {
        return NGX_DECLINED;
    }

    /*
     * The decision is taken once per request: after an internal redirect
     * the context comes back from the pool cleanup that holds it.
     */

    ctx = ngx_http_bluebutton_get_ctx(r);

    if (ctx != NULL) {
        if (ctx->reading_body) {
            return NGX_DONE;
        }

        return ctx->decided ? NGX_OK : NGX_HTTP_FORBIDDEN;
    }

    ctx = ngx_http_bluebutton_create_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(&ref, sizeof(ngx_http_bluebutton_refusal_t));

    rc = ngx_http_bluebutton_decide(r, ctx, &ref);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        rc = ngx_http_bluebutton_refuse(r, &ref);
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }

    if (rc == NGX_DONE || rc == NGX_AGAIN) {
        return NGX_DONE;
    }

    ctx->decided = 1;

    return NGX_OK;
}


/*
 * NGX_OK: forward; NGX_DECLINED: refused as ref says; NGX_DONE: answered
 * here, or waiting for the body of a POST _search.
 */

static ngx_int_t
ngx_http_bluebutton_decide(ngx_http_request_t *r,
    ngx_http_bluebutton_ctx_t *ctx, ngx_http_bluebutton_refusal_t *ref)
{
    u_char                          *q;
    ngx_int_t                        rc;
    ngx_str_t                        path, query;
    bb_method_t                      method;
    ngx_http_bluebutton_loc_conf_t  *blcf;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_bluebutton_module);

    if (r->unparsed_uri.len > blcf->max_uri_length) {
        ngx_http_bluebutton_refusal(ref, NGX_HTTP_BAD_REQUEST,
                                    BB_ISSUE_TOO_COSTLY, NULL,
                                    "request URI too long");
        return NGX_DECLINED;
    }

    /*
     * Decisions are taken on the request line as the client sent it, not on
     * nginx's normalized r->uri: a path that only reaches the location after
     * merging slashes or resolving dot segments is refused.
     */

    q = ngx_strlchr(r->unparsed_uri.data,
                    r->unparsed_uri.data + r->unparsed_uri.len, '?');

    path.data = r->unparsed_uri.data;
    path.len = (q ? q : r->unparsed_uri.data + r->unparsed_uri.len)
               - path.data;

    if (q) {
        query.data = q + 1;
        query.len = r->unparsed_uri.data + r->unparsed_uri.len - query.data;

    } else {
        ngx_str_null(&query);
    }

    if (path.len <= blcf->base.len
        || ngx_strncmp(path.data, blcf->base.data, blcf->base.len) != 0
        || path.data[blcf->base.len] != '/')
    {
        ngx_http_bluebutton_refusal(ref, NGX_HTTP_BAD_REQUEST,
                                    BB_ISSUE_INVALID, NULL,
                                    "ambiguous request path");
        return NGX_DECLINED;
    }

    path.data += blcf->base.len + 1;
    path.len -= blcf->base.len + 1;

    switch (r->method) {
    case NGX_HTTP_GET:
        method = BB_METHOD_GET;
        break;
    case NGX_HTTP_HEAD:
        method = BB_METHOD_HEAD;
        break;
    case NGX_HTTP_POST:
        method = BB_METHOD_POST;
        break;
    case NGX_HTTP_PUT:
        method = BB_METHOD_PUT;
        break;
    case NGX_HTTP_DELETE:
        method = BB_METHOD_DELETE;
        break;
    case NGX_HTTP_PATCH:
        method = BB_METHOD_PATCH;
        break;
    default:
        method = BB_METHOD_OTHER;
    }

    rc = bb_path_classify(method, (const char *) path.data, path.len,
                          blcf->max_uri_length, &ctx->req, ref->reason,
                          sizeof(ref->reason));
    if (rc != 0) {
        ref->status = rc;
        ref->issue = rc == NGX_HTTP_NOT_FOUND ? BB_ISSUE_NOT_FOUND
                     : rc == NGX_HTTP_FORBIDDEN ? BB_ISSUE_FORBIDDEN
                     : rc == NGX_HTTP_NOT_ALLOWED ? BB_ISSUE_NOT_SUPPORTED
                     : BB_ISSUE_INVALID;
        return NGX_DECLINED;
    }

    /*
     * RFC 6750 allows a token in the query, where logs and caches keep it;
     * the gateway refuses it like any other token it will not accept
     */

    if (ngx_http_bluebutton_has_access_token(&query)) {
        if (ngx_http_bluebutton_hide_query(r) != NGX_OK) {
            return NGX_ERROR;
        }

        ngx_http_bluebutton_refusal(ref, NGX_HTTP_UNAUTHORIZED,
                                    BB_ISSUE_LOGIN, "invalid_token",
                                    "access token in the query string");
        return NGX_DECLINED;
    }

    switch (ctx->req.kind) {

    case BB_PATH_SMART_CONFIG:
        rc = ngx_http_bluebutton_smart_config(r);
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;

    case BB_PATH_METADATA:
        ctx->response = NGX_HTTP_BLUEBUTTON_CAPABILITY;

        r->uri.len = blcf->base.len + sizeof("/metadata") - 1;
        r->uri.data = ngx_pnalloc(r->pool, r->uri.len);
        if (r->uri.data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(ngx_cpymem(r->uri.data, blcf->base.data, blcf->base.len),
                   "/metadata", sizeof("/metadata") - 1);

        r->args = ngx_http_bluebutton_format;
        r->valid_unparsed_uri = 0;

        return ngx_http_bluebutton_strip_headers(r, blcf->pass_authorization);

    default: /* BB_PATH_RESOURCE */
        break;
    }

    rc = ngx_http_bluebutton_authenticate(r, ctx, ref);
    if (rc != NGX_OK) {
        return rc;
    }

    if (!ctx->req.post_search) {
        return ngx_http_bluebutton_rewrite(r, ctx, NULL, 0, ref);
    }

    /* the parameters of a POST _search are in its body: judge them too */

    if (r->headers_in.content_type == NULL
        || ngx_strncasecmp(r->headers_in.content_type->value.data,
                           (u_char *) "application/x-www-form-urlencoded",
                           sizeof("application/x-www-form-urlencoded") - 1)
           != 0)
    {
        ngx_http_bluebutton_refusal(ref, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                    BB_ISSUE_NOT_SUPPORTED, NULL,
                                    "_search needs a form-encoded body");
        return NGX_DECLINED;
    }

    r->request_body_in_single_buf = 1;
    r->request_body_in_persistent_file = 0;
    r->request_body_in_file_only = 0;

    ctx->reading_body = 1;

    rc = ngx_http_read_client_request_body(r,
                                           ngx_http_bluebutton_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }

    /* the body handler runs the phases again, now or when the body is in */

    ngx_http_finalize_request(r, NGX_DONE);

    return NGX_DONE;
}


static ngx_int_t
ngx_http_bluebutton_authenticate(ngx_http_request_t *r,
    ngx_http_bluebutton_ctx_t *ctx, ngx_http_bluebutton_refusal_t *ref)
{
    ngx_int_t                         rc;
    ngx_str_t                         token;
    unsigned char                     key[BB_CACHE_KEY_LEN];
    unsigned                          need;
    bb_jwt_t                         *fresh;
    const bb_jwt_t                   *jwt;
    bb_jwt_limits_t                   limits;
    const bb_policy_t                *doc;
    ngx_http_bluebutton_loc_conf_t   *blcf;
    ngx_http_bluebutton_main_conf_t  *bmcf;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_bluebutton_module);
    bmcf = ngx_http_get_module_main_conf(r, ngx_http_bluebutton_module);

    if (ngx_http_bluebutton_bearer(r, &token, ref) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (token.len > blcf->max_token_size) {
        ngx_http_bluebutton_refusal(ref, NGX_HTTP_UNAUTHORIZED,
                                    BB_ISSUE_LOGIN, "invalid_token",
                                    "token too large");
        return NGX_DECLINED;
    }

    doc = ctx->policy->doc;

    limits.now = ngx_time();
    limits.leeway = blcf->leeway;
    limits.max_lifetime = blcf->max_lifetime;
    limits.max_size = blcf->max_token_size;

    fresh = NULL;
    jwt = NULL;

    if (bmcf->cache) {
        bb_cache_key((const char *) token.data, token.len, key);
        jwt = bb_cache_get(bmcf->cache, key, limits.now, limits.leeway);
    }

    if (jwt == NULL) {
        fresh = bb_jwt_verify(doc, (const char *) token.data, token.len,
                              &limits, ref->reason, sizeof(ref->reason));
        if (fresh == NULL) {
            ref->status = NGX_HTTP_UNAUTHORIZED;
            ref->issue = BB_ISSUE_LOGIN;
            ref->bearer_error = "invalid_token";
            return NGX_DECLINED;
        }

        jwt = fresh;
    }

    rc = NGX_OK;

    if (ngx_http_bluebutton_copy(r, &ctx->jti, jwt->jti) != NGX_OK
        || ngx_http_bluebutton_copy(r, &ctx->sub, jwt->sub) != NGX_OK
        || ngx_http_bluebutton_copy(r, &ctx->client_id, jwt->client_id)
           != NGX_OK
        || ngx_http_bluebutton_copy(r, &ctx->scope, jwt->scope) != NGX_OK
        || ngx_http_bluebutton_copy(r, &ctx->patient, jwt->patient) != NGX_OK)
    {
        rc = NGX_ERROR;
    }

    /* the cache owns what it is given; the claims were copied first */

    if (fresh) {
        if (bmcf->cache) {
            if (bb_cache_put(bmcf->cache, key, fresh) != 0) {
                ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                              "bb_cache_put() failed");
            }

        } else {
            bb_jwt_free(fresh);
        }
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    /* a cached token may have been revoked since: checked every time */

    if (bb_policy_revoked(doc, (const char *) ctx->jti.data, ctx->jti.len)) {
        ngx_http_bluebutton_refusal(ref, NGX_HTTP_UNAUTHORIZED,
                                    BB_ISSUE_LOGIN, "invalid_token",
                                    "token revoked");
        return NGX_DECLINED;
    }

    ctx->verified = 1;

    ctx->type = bb_policy_type(doc, (const char *) ctx->req.type.data,
                               ctx->req.type.len);

    if (ctx->type == NULL) {
        ngx_http_bluebutton_refusal(ref, NGX_HTTP_NOT_FOUND,
                                    BB_ISSUE_NOT_SUPPORTED, NULL, "");
        ngx_snprintf((u_char *) ref->reason, sizeof(ref->reason) - 1,
                     "unknown resource type \"%*s\"%Z",
                     ngx_min(ctx->req.type.len, 64), ctx->req.type.data);
        return NGX_DECLINED;
    }

    if (!(ctx->type->interactions & ctx->req.interaction)) {
        ngx_http_bluebutton_refusal(ref, NGX_HTTP_FORBIDDEN,
                                    BB_ISSUE_FORBIDDEN, NULL,
                                    "interaction not allowed on this type");
        return NGX_DECLINED;
    }

    need = bb_scope_needed(ctx->req.interaction);

    if (!(bb_scope_grants((const char *) ctx->scope.data, ctx->scope.len,
                          ctx->type->name, ngx_strlen(ctx->type->name))
          & need))
    {
        ngx_http_bluebutton_refusal(ref, NGX_HTTP_FORBIDDEN,
                                    BB_ISSUE_FORBIDDEN, "insufficient_scope",
                                    "token lacks the scope for this request");

        /* the scope that would do, in its SMART v2 form */

        ngx_snprintf((u_char *) ref->scope, sizeof(ref->scope) - 1,
                     "patient/%s.%c%Z", ctx->type->name,
                     need == BB_SCOPE_C ? 'c' : need == BB_SCOPE_R ? 'r'
                     : need == BB_SCOPE_U ? 'u' : need == BB_SCOPE_D ? 'd'
                     : 's');
        return NGX_DECLINED;
    }

    if (ctx->patient.len == 0 && bb_type_needs_patient(ctx->type)) {
        ngx_http_bluebutton_refusal(ref, NGX_HTTP_FORBIDDEN,
                                    BB_ISSUE_FORBIDDEN, NULL,
                                    "token has no patient");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * Exactly one "Authorization: Bearer <token>" header (RFC 6750 section
 * 2.1); a request without credentials gets a challenge with no error code.
 */

static ngx_int_t
ngx_http_bluebutton_bearer(ngx_http_request_t *r, ngx_str_t *token,
    ngx_http_bluebutton_refusal_t *ref)
{
    u_char           *p, *last;
    ngx_uint_t        i, n;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *auth;

    auth = NULL;
    n = 0;
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == sizeof("Authorization") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "Authorization",
                               sizeof("Authorization") - 1) == 0)
        {
            auth = &h[i];
            n++;
        }
    }

    if (n > 1) {
        ngx_http_bluebutton_refusal(ref, NGX_HTTP_BAD_REQUEST,
                                    BB_ISSUE_SECURITY, "invalid_request",
                                    "several Authorization headers");
        return NGX_DECLINED;
    }

    if (auth == NULL
        || auth->value.len < sizeof("Bearer ") - 1
        || ngx_strncasecmp(auth->value.data, (u_char *) "Bearer ",
                           sizeof("Bearer ") - 1) != 0)
    {
        ngx_http_bluebutton_refusal(ref, NGX_HTTP_UNAUTHORIZED,
                                    BB_ISSUE_LOGIN, NULL,
                                    auth ? "not a bearer token"
                                         : "no access token");
        return NGX_DECLINED;
    }

    p = auth->value.data + sizeof("Bearer ") - 1;
    last = auth->value.data + auth->value.len;

    while (p < last && *p == ' ') {
        p++;
    }

    token->data = p;

    /* token68: the JWS compact form uses base64url and dots only */

    while (p < last
           && ((*p >= '0' && *p <= '9') || ((*p | 0x20) >= 'a'
                                              && (*p | 0x20) <= 'z')
               || *p == '-' || *p == '_' || *p == '.'
               || *p == '~' || *p == '+' || *p == '/' || *p == '='))
    {
        p++;
    }

    token->len = p - token->data;

    if (token->len == 0 || p != last) {
        ngx_http_bluebutton_refusal(ref, NGX_HTTP_UNAUTHORIZED,
                                    BB_ISSUE_LOGIN, "invalid_token",
                                    "malformed bearer token");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* Path and query for the upstream, from validated parts only. */

static ngx_int_t
ngx_http_bluebutton_rewrite(ngx_http_request_t *r,
    ngx_http_bluebutton_ctx_t *ctx, const char *form, size_t flen,
    ngx_http_bluebutton_refusal_t *ref)
{
    u_char                          *p;
    ngx_int_t                        rc;
    const char                      *patient;
    bb_buf_t                         path, query;
    ngx_http_bluebutton_loc_conf_t  *blcf;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_bluebutton_module);

    ngx_memzero(&path, sizeof(bb_buf_t));
    ngx_memzero(&query, sizeof(bb_buf_t));

    patient = ctx->patient.len ? (const char *) ctx->patient.data : NULL;

    rc = bb_path_rewrite(ctx->type, &ctx->req, patient, &path, ref->reason,
                         sizeof(ref->reason));
    if (rc != 0) {
        goto refused;
    }

    rc = bb_query_rewrite(ctx->type, ctx->req.interaction, patient,
                          (const char *) r->args.data, r->args.len,
                          form, flen, &query, ref->reason,
                          sizeof(ref->reason));
    if (rc != 0) {
        goto refused;
    }

    r->uri.len = blcf->base.len + 1 + path.len;
    r->uri.data = ngx_pnalloc(r->pool, r->uri.len);
    if (r->uri.data == NULL) {
        goto failed;
    }

    p = ngx_cpymem(r->uri.data, blcf->base.data, blcf->base.len);
    *p++ = '/';
    ngx_memcpy(p, path.data, path.len);

    if (ctx->req.post_search) {

        /* the parameters travel in the body, so the query stays empty */

        if (ngx_http_bluebutton_set_body(r, &query) != NGX_OK) {
            goto failed;
        }

        ngx_str_null(&r->args);

    } else {
        r->args.len = query.len;
        r->args.data = ngx_pnalloc(r->pool, query.len);
        if (r->args.data == NULL) {
            goto failed;
        }

        ngx_memcpy(r->args.data, query.data, query.len);
    }

    r->valid_unparsed_uri = 0;
    r->quoted_uri = 0;

    bb_buf_free(&path);
    bb_buf_free(&query);

    ctx->response = NGX_HTTP_BLUEBUTTON_REWRITE;

    if (ctx->type->patient_reference
        && (ctx->req.interaction & (BB_READ|BB_VREAD|BB_HISTORY)))
    {
        ctx->check_patient = 1;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "bluebutton upstream \"%V?%V\"", &r->uri, &r->args);

    return ngx_http_bluebutton_strip_headers(r, blcf->pass_authorization);

refused:

    bb_buf_free(&path);
    bb_buf_free(&query);

    ref->status = rc;
    ref->issue = rc == NGX_HTTP_NOT_FOUND ? BB_ISSUE_NOT_FOUND
                 : rc == NGX_HTTP_FORBIDDEN ? BB_ISSUE_FORBIDDEN
                 : BB_ISSUE_INVALID;

    return NGX_DECLINED;

failed:

    bb_buf_free(&path);
    bb_buf_free(&query);

    return NGX_ERROR;
}


static void
ngx_http_bluebutton_body_handler(ngx_http_request_t *r)
{
    ngx_int_t                       rc;
    ngx_str_t                       form;
    ngx_http_bluebutton_ctx_t      *ctx;
    ngx_http_bluebutton_refusal_t   ref;

    ctx = ngx_http_bluebutton_get_ctx(r);
    if (ctx == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->reading_body = 0;

    ngx_memzero(&ref, sizeof(ngx_http_bluebutton_refusal_t));

    rc = ngx_http_bluebutton_read_form(r, &form, &ref);

    if (rc == NGX_OK) {
        rc = ngx_http_bluebutton_rewrite(r, ctx, (const char *) form.data,
                                         form.len, &ref);
    }

    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (rc == NGX_DECLINED) {
        ngx_http_finalize_request(r, ngx_http_bluebutton_refuse(r, &ref));
        return;
    }

    ctx->decided = 1;

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


/* The body as one string; nginx read it into memory or into a file. */

static ngx_int_t
ngx_http_bluebutton_read_form(ngx_http_request_t *r, ngx_str_t *form,
    ngx_http_bluebutton_refusal_t *ref)
{
    u_char       *p;
    size_t        len;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    ngx_str_null(form);

    if (r->request_body == NULL) {
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            ngx_http_bluebutton_refusal(ref,
                                        NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                        BB_ISSUE_TOO_COSTLY, NULL,
                                        "_search body exceeds "
                                        "client_body_buffer_size");
            return NGX_DECLINED;
        }

        len += b->last - b->pos;
    }

    if (len == 0) {
        return NGX_OK;
    }

    form->data = ngx_pnalloc(r->pool, len);
    if (form->data == NULL) {
        return NGX_ERROR;
    }

    p = form->data;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    form->len = len;

    return NGX_OK;
}


/* Replace the request body with the canonical form of its parameters. */

static ngx_int_t
ngx_http_bluebutton_set_body(ngx_http_request_t *r, bb_buf_t *form)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    b = ngx_create_temp_buf(r->pool, form->len ? form->len : 1);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->last = ngx_cpymem(b->pos, form->data, form->len);
    b->last_buf = 1;

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;

    if (r->request_body == NULL) {
        r->request_body = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
        if (r->request_body == NULL) {
            return NGX_ERROR;
        }
    }

    r->request_body->bufs = cl;
    r->request_body->temp_file = NULL;
    r->headers_in.content_length_n = form->len;
    r->headers_in.chunked = 0;

    return NGX_OK;
}


/*
 * Authorization stays here unless the operator passes it on; the upstream
 * gets no Accept-Encoding, so that its URLs can be rewritten (a compressed
 * answer is inflated all the same).
 */

static ngx_int_t
ngx_http_bluebutton_strip_headers(ngx_http_request_t *r,
    ngx_flag_t pass_authorization)
{
    ngx_uint_t        i, n;
    ngx_list_t        headers;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *dst;

    n = 0;

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        n += part->nelts;
    }

    if (ngx_list_init(&headers, r->pool, n ? n : 1, sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {

            if (!pass_authorization
                && h[i].key.len == sizeof("Authorization") - 1
                && ngx_strncasecmp(h[i].key.data, (u_char *) "Authorization",
                                   sizeof("Authorization") - 1) == 0)
            {
                continue;
            }

            if (h[i].key.len == sizeof("Accept-Encoding") - 1
                && ngx_strncasecmp(h[i].key.data, (u_char *) "Accept-Encoding",
                                   sizeof("Accept-Encoding") - 1) == 0)
            {
                continue;
            }

            dst = ngx_list_push(&headers);
            if (dst == NULL) {
                return NGX_ERROR;
            }

            *dst = h[i];
        }
    }

    /*
     * r->headers_in.accept_encoding keeps pointing at the client's header:
     * gzip for the client still works
     */

    r->headers_in.headers = headers;

    if (!pass_authorization) {
        r->headers_in.authorization = NULL;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_bluebutton_refuse(ngx_http_request_t *r,
    ngx_http_bluebutton_refusal_t *ref)
{
    u_char                          *p, *last;
    size_t                           len;
    ngx_table_elt_t                 *h;
    ngx_http_bluebutton_loc_conf_t  *blcf;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_bluebutton_module);

    /* reasons never hold the token: they are safe to log and to return */

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "bluebutton refused request with %ui: %s",
                  ref->status, ref->reason);

    if (ref->status == NGX_HTTP_UNAUTHORIZED || ref->bearer_error) {

        len = sizeof("Bearer realm=\"\", error=\"\", error_description=\"\"")
              - 1 + blcf->realm.len + ngx_strlen(ref->reason)
              + sizeof(", scope=\"\"") - 1
              + (ref->bearer_error ? ngx_strlen(ref->bearer_error) : 0)
              + ngx_strlen(ref->scope);

        p = ngx_pnalloc(r->pool, len);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "WWW-Authenticate");
        h->value.data = p;

        last = ngx_sprintf(p, "Bearer realm=\"%V\"", &blcf->realm);

        if (ref->bearer_error) {
            last = ngx_sprintf(last, ", error=\"%s\"", ref->bearer_error);

            if (ref->scope[0]) {
                last = ngx_sprintf(last, ", scope=\"%s\"", ref->scope);

            } else if (ref->reason[0]) {
                last = ngx_sprintf(last, ", error_description=\"");

                /* a quoted-string: quotes and backslashes become quotes */

                for (p = (u_char *) ref->reason; *p; p++) {
                    *last++ = (*p == '"' || *p == '\\') ? '\'' : *p;
                }

                *last++ = '"';
            }
        }

        h->value.len = last - h->value.data;

        if (ref->status == NGX_HTTP_UNAUTHORIZED) {
            r->headers_out.www_authenticate = h;
        }
    }

    return ngx_http_bluebutton_send_outcome(r, ref->status, ref->issue,
                                            ref->reason);
}


ngx_int_t
ngx_http_bluebutton_send_outcome(ngx_http_request_t *r, ngx_uint_t status,
    bb_issue_t issue, const char *diagnostics)
{
    ngx_int_t  rc;
    bb_buf_t   body;

    ngx_memzero(&body, sizeof(bb_buf_t));

    if (bb_operation_outcome(issue, diagnostics, &body) != 0) {
        bb_buf_free(&body);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_bluebutton_send_json(r, status,
                                       &ngx_http_bluebutton_fhir_json, &body);

    bb_buf_free(&body);

    return rc;
}


static ngx_int_t
ngx_http_bluebutton_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, bb_buf_t *body)
{
    ngx_int_t                   rc;
    ngx_buf_t                  *b;
    ngx_chain_t                 out;
    ngx_http_bluebutton_ctx_t  *ctx;

    ctx = ngx_http_bluebutton_get_ctx(r);
    if (ctx) {
        ctx->own_response = 1;
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    b = ngx_create_temp_buf(r->pool, body->len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_cpymem(b->pos, body->data, body->len);
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = status;
    r->headers_out.content_type = *type;
    r->headers_out.content_type_len = type->len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = body->len;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static ngx_int_t
ngx_http_bluebutton_smart_config(ngx_http_request_t *r)
{
    ngx_int_t                        rc;
    bb_buf_t                         body;
    bb_smart_t                       smart;
    ngx_http_bluebutton_loc_conf_t  *blcf;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_bluebutton_module);

    /* the loc conf strings were NUL-terminated when merged */

    ngx_memzero(&smart, sizeof(bb_smart_t));
    ngx_memzero(&body, sizeof(bb_buf_t));

    smart.authorize_url = (const char *) blcf->smart_authorize.data;
    smart.token_url = (const char *) blcf->smart_token.data;
    smart.revoke_url = (const char *) blcf->smart_revoke.data;
    smart.introspect_url = (const char *) blcf->smart_introspect.data;

    if (bb_smart_configuration(&smart, &body) != 0) {
        bb_buf_free(&body);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_bluebutton_send_json(r, NGX_HTTP_OK,
                                       &ngx_http_bluebutton_json, &body);
    bb_buf_free(&body);

    return rc;
}


static void
ngx_http_bluebutton_refusal(ngx_http_bluebutton_refusal_t *ref,
    ngx_uint_t status, bb_issue_t issue, const char *bearer_error,
    const char *reason)
{
    ref->status = status;
    ref->issue = issue;
    ref->bearer_error = bearer_error;
    ref->scope[0] = '\0';
    ngx_cpystrn((u_char *) ref->reason, (u_char *) reason,
                sizeof(ref->reason));
}


/* Any "access_token" parameter, however its name is encoded. */

static ngx_int_t
ngx_http_bluebutton_has_access_token(ngx_str_t *query)
{
    u_char  *p, *end, *name, *last, *src, *dst;
    u_char   encoded[3 * (sizeof("access_token") - 1)];
    u_char   decoded[sizeof(encoded)];

    p = query->data;
    end = query->data + query->len;

    while (p < end) {
        name = p;

        while (p < end && *p != '&' && *p != '=') {
            p++;
        }

        last = p;

        while (p < end && *p != '&') {
            p++;
        }

        p++;

        /* three encoded bytes at most for each decoded one */

        if (last - name > (ssize_t) sizeof(encoded)) {
            continue;
        }

        ngx_memcpy(encoded, name, last - name);

        src = encoded;
        dst = decoded;
        ngx_unescape_uri(&dst, &src, last - name, 0);

        if (dst - decoded == sizeof("access_token") - 1
            && ngx_strncasecmp(decoded, (u_char *) "access_token",
                               sizeof("access_token") - 1) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * The request line and URI appear in every error log line of the request
 * and in access logs: a query holding a token is withheld from them.
 */

static ngx_int_t
ngx_http_bluebutton_hide_query(ngx_http_request_t *r)
{
    u_char  *p, *q, *end, *last, *line;
    size_t   len;

    static u_char  withheld[] = "?withheld";

    line = r->request_line.data;
    last = line + r->request_line.len;
    q = ngx_strlchr(line, last, '?');

    if (q != NULL) {
        end = ngx_strlchr(q, last, ' ');
        if (end == NULL) {
            end = last;
        }

        len = (q - line) + sizeof(withheld) - 1 + (last - end);

        p = ngx_pnalloc(r->pool, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        r->request_line.data = p;
        r->request_line.len = len;

        p = ngx_cpymem(p, line, q - line);
        p = ngx_cpymem(p, withheld, sizeof(withheld) - 1);
        ngx_memcpy(p, end, last - end);
    }

    q = ngx_strlchr(r->unparsed_uri.data,
                    r->unparsed_uri.data + r->unparsed_uri.len, '?');
    if (q != NULL) {
        r->unparsed_uri.len = q - r->unparsed_uri.data;
    }

    ngx_str_null(&r->args);

    return NGX_OK;
}


static ngx_int_t
ngx_http_bluebutton_copy(ngx_http_request_t *r, ngx_str_t *dst,
    const char *src)
{
    if (src == NULL) {
        ngx_str_null(dst);
        return NGX_OK;
    }

    dst->len = ngx_strlen(src);

    /* NUL-terminated so that the pure code can take it as a C string */

    dst->data = ngx_pnalloc(r->pool, dst->len + 1);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, src, dst->len + 1);

    return NGX_OK;
}
