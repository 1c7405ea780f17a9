/*
 * The response half of the bluebutton module.  An upstream answer to a
 * request the access half let through is held whole (up to
 * bluebutton_max_response_size) before its header goes out, because the
 * decisions need all of it: a read of a patient-linked type is checked
 * against the token's patient, the CapabilityStatement is filtered to the
 * policy, and absolute backend URLs become public ones.  An upstream that
 * failed (5xx, or nginx's own 502/504) becomes a 502 OperationOutcome.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "bb_inflate.h"
#include "ngx_http_bluebutton.h"


#define NGX_HTTP_BLUEBUTTON_IDENTITY  0
#define NGX_HTTP_BLUEBUTTON_INFLATE   1


static ngx_int_t ngx_http_bluebutton_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_bluebutton_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_bluebutton_finish(ngx_http_request_t *r,
    ngx_http_bluebutton_ctx_t *ctx);
static ngx_int_t ngx_http_bluebutton_transform(ngx_http_request_t *r,
    ngx_http_bluebutton_ctx_t *ctx, bb_buf_t *out, ngx_uint_t *status,
    const char **reason);
static ngx_int_t ngx_http_bluebutton_replace(ngx_http_request_t *r,
    ngx_http_bluebutton_ctx_t *ctx, ngx_uint_t status, bb_issue_t issue,
    const char *reason);
static ngx_int_t ngx_http_bluebutton_emit(ngx_http_request_t *r,
    ngx_http_bluebutton_ctx_t *ctx, bb_buf_t *body);
static ngx_int_t ngx_http_bluebutton_rewrite_header(ngx_http_request_t *r,
    ngx_table_elt_t *h);
static ngx_table_elt_t *ngx_http_bluebutton_find_header(ngx_list_t *list,
    const char *name, size_t len);
static void ngx_http_bluebutton_free_buf(void *data);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


static ngx_int_t
ngx_http_bluebutton_header_filter(ngx_http_request_t *r)
{
    ngx_table_elt_t                 *h;
    ngx_http_bluebutton_ctx_t       *ctx;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_bluebutton_get_ctx(r);

    if (ctx == NULL || ctx->own_response
        || ctx->response == NGX_HTTP_BLUEBUTTON_PASS)
    {
        return ngx_http_next_header_filter(r);
    }

    /*
     * Whatever a failed upstream said stays here: the client learns only
     * that the gateway could not get an answer.
     */

    if (r->headers_out.status >= NGX_HTTP_INTERNAL_SERVER_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "bluebutton upstream answered %ui",
                      r->headers_out.status);

        return ngx_http_bluebutton_replace(r, ctx, NGX_HTTP_BAD_GATEWAY,
                                           BB_ISSUE_TRANSIENT,
                                           "the FHIR server did not answer");
    }

    if (r->headers_out.location
        && ngx_http_bluebutton_rewrite_header(r, r->headers_out.location)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    h = ngx_http_bluebutton_find_header(&r->headers_out.headers,
                                        "Content-Location",
                                        sizeof("Content-Location") - 1);
    if (h && ngx_http_bluebutton_rewrite_header(r, h) != NGX_OK) {
        return NGX_ERROR;
    }

    if (r->header_only
        || r->headers_out.status == NGX_HTTP_NO_CONTENT
        || r->headers_out.status == NGX_HTTP_NOT_MODIFIED)
    {
        if (ctx->check_patient && r->headers_out.status < 300) {

            /* nothing to check the patient against: nothing is shown */

            return ngx_http_bluebutton_replace(r, ctx, NGX_HTTP_NOT_FOUND,
                                               BB_ISSUE_NOT_FOUND,
                                               "resource not found");
        }

        return ngx_http_next_header_filter(r);
    }

    ctx->encoding = NGX_HTTP_BLUEBUTTON_IDENTITY;

    if (r->headers_out.content_encoding
        && r->headers_out.content_encoding->value.len)
    {
        if ((r->headers_out.content_encoding->value.len == 4
             && ngx_strncasecmp(r->headers_out.content_encoding->value.data,
                                (u_char *) "gzip", 4) == 0)
            || (r->headers_out.content_encoding->value.len == 7
                && ngx_strncasecmp(
                       r->headers_out.content_encoding->value.data,
                       (u_char *) "deflate", 7) == 0))
        {
            ctx->encoding = NGX_HTTP_BLUEBUTTON_INFLATE;

        } else if (r->headers_out.content_encoding->value.len != 8
                   || ngx_strncasecmp(
                          r->headers_out.content_encoding->value.data,
                          (u_char *) "identity", 8) != 0)
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "bluebutton cannot decode the upstream's "
                          "Content-Encoding \"%V\"",
                          &r->headers_out.content_encoding->value);

            return ngx_http_bluebutton_replace(r, ctx, NGX_HTTP_BAD_GATEWAY,
                                               BB_ISSUE_EXCEPTION,
                                               "the FHIR server answered in "
                                               "an unsupported encoding");
        }
    }

    /* the header goes out with the body, once the body is known */

    ctx->buffering = 1;
    r->filter_need_in_memory = 1;

    return NGX_OK;
}


static ngx_int_t
ngx_http_bluebutton_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    size_t                           len;
    ngx_chain_t                     *cl;
    ngx_http_bluebutton_ctx_t       *ctx;
    ngx_http_bluebutton_loc_conf_t  *blcf;

    if (r != r->main) {
        return ngx_http_next_body_filter(r, in);
    }

    ctx = ngx_http_bluebutton_get_ctx(r);

    if (ctx == NULL || ctx->own_response || !(ctx->buffering || ctx->replaced))
    {
        return ngx_http_next_body_filter(r, in);
    }

    if (ctx->replaced) {

        /* the upstream's body is swallowed: the replacement is out */

        for (cl = in; cl; cl = cl->next) {
            cl->buf->pos = cl->buf->last;
            cl->buf->file_pos = cl->buf->file_last;
        }

        return NGX_OK;
    }

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_bluebutton_module);

    for (cl = in; cl; cl = cl->next) {
        len = cl->buf->last - cl->buf->pos;

        if (len && ngx_buf_in_memory(cl->buf)) {
            if (ctx->body.len + len > blcf->max_response_size) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "bluebutton upstream response exceeds "
                              "bluebutton_max_response_size %uz",
                              blcf->max_response_size);

                ctx->buffering = 0;
                bb_buf_free(&ctx->body);

                if (ngx_http_bluebutton_replace(r, ctx, NGX_HTTP_BAD_GATEWAY,
                                                BB_ISSUE_TOO_COSTLY,
                                                "the FHIR server's answer "
                                                "is too large")
                    == NGX_ERROR)
                {
                    return NGX_ERROR;
                }

                return ngx_http_bluebutton_body_filter(r, in);
            }

            if (bb_buf_append(&ctx->body, cl->buf->pos, len) != 0) {
                return NGX_ERROR;
            }
        }

        cl->buf->pos = cl->buf->last;

        if (cl->buf->last_buf) {
            ctx->buffering = 0;
            return ngx_http_bluebutton_finish(r, ctx);
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_bluebutton_finish(ngx_http_request_t *r,
    ngx_http_bluebutton_ctx_t *ctx)
{
    ngx_int_t    rc;
    ngx_uint_t   status;
    bb_buf_t     out;
    const char  *reason;

    ngx_memzero(&out, sizeof(bb_buf_t));

    status = 0;
    reason = NULL;

    rc = ngx_http_bluebutton_transform(r, ctx, &out, &status, &reason);

    bb_buf_free(&ctx->body);

    if (rc == NGX_ERROR) {
        bb_buf_free(&out);
        return NGX_ERROR;
    }

    if (status) {
        bb_buf_free(&out);

        return ngx_http_bluebutton_replace(r, ctx, status,
                                           status == NGX_HTTP_NOT_FOUND
                                           ? BB_ISSUE_NOT_FOUND
                                           : BB_ISSUE_EXCEPTION,
                                           reason);
    }

    return ngx_http_bluebutton_emit(r, ctx, &out);
}


/*
 * Decode, check, filter and rewrite the whole body into out; a nonzero
 * *status means the body must not reach the client at all.
 */

static ngx_int_t
ngx_http_bluebutton_transform(ngx_http_request_t *r,
    ngx_http_bluebutton_ctx_t *ctx, bb_buf_t *out, ngx_uint_t *status,
    const char **reason)
{
    int                              n;
    char                             err[256];
    bb_buf_t                         plain, filtered, *body;
    bb_str_t                         from, to;
    bb_smart_t                       smart;
    ngx_http_bluebutton_loc_conf_t  *blcf;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_bluebutton_module);

    ngx_memzero(&plain, sizeof(bb_buf_t));
    ngx_memzero(&filtered, sizeof(bb_buf_t));

    body = &ctx->body;

    if (bb_buf_cstr(body) == NULL) {
        return NGX_ERROR;
    }

    if (ctx->encoding == NGX_HTTP_BLUEBUTTON_INFLATE) {
        if (bb_inflate(body->data, body->len, blcf->max_response_size,
                       &plain, err, sizeof(err))
            != 0)
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "bluebutton upstream body: %s", err);
            *status = NGX_HTTP_BAD_GATEWAY;
            *reason = "the FHIR server's answer could not be decoded";
            goto done;
        }

        body = &plain;

        r->headers_out.content_encoding->hash = 0;
        r->headers_out.content_encoding = NULL;
    }

    if (ctx->check_patient && r->headers_out.status < 300) {
        n = bb_resource_belongs(body->data, body->len, ctx->type->name,
                                ctx->type->patient_reference,
                                (const char *) ctx->patient.data);
        if (n != 1) {

            /* the resource exists, but not for this client: 404, not 403 */

            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "bluebutton withheld %s/%*s: %s",
                          ctx->type->name, ctx->req.id.len, ctx->req.id.data,
                          n == 0 ? "another patient's resource"
                                 : "no patient reference found");
            *status = NGX_HTTP_NOT_FOUND;
            *reason = "resource not found";
            goto done;
        }
    }

    if (ctx->response == NGX_HTTP_BLUEBUTTON_CAPABILITY
        && r->headers_out.status == NGX_HTTP_OK)
    {
        ngx_memzero(&smart, sizeof(bb_smart_t));
        smart.authorize_url = (const char *) blcf->smart_authorize.data;
        smart.token_url = (const char *) blcf->smart_token.data;
        smart.revoke_url = (const char *) blcf->smart_revoke.data;
        smart.introspect_url = (const char *) blcf->smart_introspect.data;

        if (bb_capability_filter(body->data, body->len, ctx->policy->doc,
                                 &smart, &filtered, err, sizeof(err))
            != 0)
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "bluebutton upstream metadata: %s", err);
            *status = NGX_HTTP_BAD_GATEWAY;
            *reason = "the FHIR server's metadata could not be read";
            goto done;
        }

        body = &filtered;
    }

    from.data = (const char *) blcf->upstream_base.data;
    from.len = blcf->upstream_base.len;
    to.data = (const char *) blcf->public_base.data;
    to.len = blcf->public_base.len;

    n = bb_rewrite_urls(body->data, body->len, from, to, out);

    if (n < 0) {
        bb_buf_free(&plain);
        bb_buf_free(&filtered);
        return NGX_ERROR;
    }

    if (n == 0) {

        /* nothing to rewrite: hand over the body as it is */

        bb_buf_free(out);
        *out = *body;
        ngx_memzero(body, sizeof(bb_buf_t));
    }

done:

    bb_buf_free(&plain);
    bb_buf_free(&filtered);

    return NGX_OK;
}


/*
 * Send a status and an OperationOutcome in place of the upstream's answer.
 * Called from the header filter, or from the body filter while the header
 * is still held back.
 */

static ngx_int_t
ngx_http_bluebutton_replace(ngx_http_request_t *r,
    ngx_http_bluebutton_ctx_t *ctx, ngx_uint_t status, bb_issue_t issue,
    const char *reason)
{
    ngx_int_t  rc;
    bb_buf_t   body;

    ngx_memzero(&body, sizeof(bb_buf_t));

    if (bb_operation_outcome(issue, reason, &body) != 0) {
        bb_buf_free(&body);
        return NGX_ERROR;
    }

    /* nothing of the upstream's header is kept */

    ngx_memzero(&r->headers_out.status,
                sizeof(ngx_http_headers_out_t)
                - offsetof(ngx_http_headers_out_t, status));

    r->headers_out.content_length_n = -1;
    r->headers_out.last_modified_time = -1;

    r->headers_out.headers.part.nelts = 0;
    r->headers_out.headers.part.next = NULL;
    r->headers_out.headers.last = &r->headers_out.headers.part;

    r->headers_out.status = status;
    ngx_str_set(&r->headers_out.content_type, "application/fhir+json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    ctx->replaced = 1;
    ctx->buffering = 0;
    ctx->check_patient = 0;

    rc = ngx_http_bluebutton_emit(r, ctx, &body);

    return rc == NGX_ERROR ? NGX_ERROR : NGX_OK;
}


/* Send the header held back so far, then the one buffer of body. */

static ngx_int_t
ngx_http_bluebutton_emit(ngx_http_request_t *r,
    ngx_http_bluebutton_ctx_t *ctx, bb_buf_t *body)
{
    ngx_int_t            rc;
    ngx_buf_t           *b;
    ngx_chain_t          out;
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(r->pool, sizeof(bb_buf_t));
    if (cln == NULL) {
        bb_buf_free(body);
        return NGX_ERROR;
    }

    /* the body lives in malloc()ed memory until the request ends */

    *(bb_buf_t *) cln->data = *body;
    cln->handler = ngx_http_bluebutton_free_buf;

    r->headers_out.content_length_n = body->len;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    ngx_http_clear_accept_ranges(r);
    ngx_http_weak_etag(r);

    rc = ngx_http_next_header_filter(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    if (body->len) {
        b->pos = (u_char *) body->data;
        b->last = b->pos + body->len;
        b->memory = 1;
    }

    b->last_buf = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}


/* Location and Content-Location point at the public base too. */

static ngx_int_t
ngx_http_bluebutton_rewrite_header(ngx_http_request_t *r, ngx_table_elt_t *h)
{
    int                              n;
    u_char                          *p;
    bb_buf_t                         out;
    bb_str_t                         from, to;
    ngx_http_bluebutton_loc_conf_t  *blcf;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_bluebutton_module);

    ngx_memzero(&out, sizeof(bb_buf_t));

    from.data = (const char *) blcf->upstream_base.data;
    from.len = blcf->upstream_base.len;
    to.data = (const char *) blcf->public_base.data;
    to.len = blcf->public_base.len;

    n = bb_rewrite_urls((const char *) h->value.data, h->value.len, from, to,
                        &out);
    if (n < 0) {
        return NGX_ERROR;
    }

    if (n > 0) {
        p = ngx_pnalloc(r->pool, out.len);
        if (p == NULL) {
            bb_buf_free(&out);
            return NGX_ERROR;
        }

        ngx_memcpy(p, out.data, out.len);
        h->value.data = p;
        h->value.len = out.len;
    }

    bb_buf_free(&out);

    return NGX_OK;
}


static ngx_table_elt_t *
ngx_http_bluebutton_find_header(ngx_list_t *list, const char *name,
    size_t len)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    for (part = &list->part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (h[i].hash && h[i].key.len == len
                && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
            {
                return &h[i];
            }
        }
    }

    return NULL;
}


static void
ngx_http_bluebutton_free_buf(void *data)
{
    bb_buf_free(data);
}


ngx_int_t
ngx_http_bluebutton_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_bluebutton_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_bluebutton_body_filter;

    return NGX_OK;
}
