/*
 * The request context of the bluebutton module and the policy versions it
 * holds.  A context lives in a pool cleanup of the request, so that it
 * outlives an internal redirect (which clears r->ctx) and is found again:
 * the decision is taken once per request.  It holds one reference to the
 * policy version it was decided by, released with the request.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_bluebutton.h"


static void ngx_http_bluebutton_cleanup(void *data);


ngx_http_bluebutton_ctx_t *
ngx_http_bluebutton_create_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t               *cln;
    ngx_http_bluebutton_ctx_t        *ctx;
    ngx_http_bluebutton_main_conf_t  *bmcf;

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_bluebutton_module);

    if (bmcf->policy == NULL) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "bluebutton has no policy in force");
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_bluebutton_ctx_t));
    if (cln == NULL) {
        return NULL;
    }

    ctx = cln->data;
    ngx_memzero(ctx, sizeof(ngx_http_bluebutton_ctx_t));

    ctx->policy = bmcf->policy;
    ctx->policy->refs++;

    cln->handler = ngx_http_bluebutton_cleanup;

    ngx_http_set_ctx(r, ctx, ngx_http_bluebutton_module);

    return ctx;
}


ngx_http_bluebutton_ctx_t *
ngx_http_bluebutton_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t         *cln;
    ngx_http_bluebutton_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_bluebutton_module);

    if (ctx || !(r->internal || r->filter_finalize)) {
        return ctx;
    }

    /* an internal redirect cleared r->ctx; the cleanup still holds it */

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_bluebutton_cleanup) {
            ctx = cln->data;
            ngx_http_set_ctx(r, ctx, ngx_http_bluebutton_module);
            return ctx;
        }
    }

    return NULL;
}


static void
ngx_http_bluebutton_cleanup(void *data)
{
    ngx_http_bluebutton_ctx_t  *ctx = data;

    bb_buf_free(&ctx->body);

    if (ctx->policy) {
        ngx_http_bluebutton_policy_release(ctx->policy);
        ctx->policy = NULL;
    }
}


void
ngx_http_bluebutton_policy_release(ngx_http_bluebutton_policy_t *policy)
{
    if (--policy->refs == 0) {
        bb_policy_free(policy->doc);
        ngx_free(policy);
    }
}
