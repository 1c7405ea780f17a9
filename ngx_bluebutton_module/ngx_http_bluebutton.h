/*
 * Shared between the access half (ngx_http_bluebutton_module.c: directives,
 * policy reloads, token checks, request rewriting) and the filter half
 * (ngx_http_bluebutton_filter.c: response rewriting) of the module.
 */


#ifndef NGX_HTTP_BLUEBUTTON_H
#define NGX_HTTP_BLUEBUTTON_H


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "bb_buf.h"
#include "bb_cache.h"
#include "bb_policy.h"
#include "bb_request.h"
#include "bb_response.h"


/* A parsed policy and the requests still using it. */
typedef struct {
    bb_policy_t                  *doc;
    ngx_uint_t                    refs;
} ngx_http_bluebutton_policy_t;


typedef struct {
    ngx_flag_t                    enable;

    ngx_str_t                     upstream_base;
    ngx_str_t                     public_base;
    ngx_str_t                     realm;

    time_t                        leeway;
    time_t                        max_lifetime;
    size_t                        max_token_size;
    size_t                        max_uri_length;
    size_t                        max_response_size;

    ngx_flag_t                    pass_authorization;

    ngx_str_t                     smart_authorize;
    ngx_str_t                     smart_token;
    ngx_str_t                     smart_revoke;
    ngx_str_t                     smart_introspect;

    /* the location's prefix without its trailing slash: the FHIR base */
    ngx_str_t                     base;
} ngx_http_bluebutton_loc_conf_t;


typedef struct {
    ngx_str_t                      policy_path;
    ngx_msec_t                     policy_check;
    ngx_int_t                      token_cache;

    /* the version in force in this process: one reference held */
    ngx_http_bluebutton_policy_t  *policy;

    /* identity of the file that version, or the last refused one, came from */
    dev_t                          file_dev;
    ino_t                          file_ino;
    off_t                          file_size;
    struct timespec                file_mtime;

    ngx_flag_t                     enabled;
    bb_cache_t                    *cache;
    ngx_event_t                    check_event;
} ngx_http_bluebutton_main_conf_t;


typedef enum {
    NGX_HTTP_BLUEBUTTON_PASS = 0,       /* response left alone */
    NGX_HTTP_BLUEBUTTON_REWRITE,        /* backend URLs made public */
    NGX_HTTP_BLUEBUTTON_CAPABILITY      /* metadata filtered, then rewritten */
} ngx_http_bluebutton_response_e;


typedef struct {
    ngx_http_bluebutton_policy_t *policy;   /* one reference held */
    const bb_resource_type_t     *type;
    bb_fhir_request_t             req;

    ngx_str_t                     patient;
    ngx_str_t                     client_id;
    ngx_str_t                     sub;
    ngx_str_t                     scope;
    ngx_str_t                     jti;

    ngx_http_bluebutton_response_e  response;

    /* response filter state */
    bb_buf_t                      body;
    ngx_uint_t                    encoding;

    unsigned                      decided:1;
    unsigned                      reading_body:1;
    unsigned                      own_response:1;
    unsigned                      check_patient:1;
    unsigned                      buffering:1;
    unsigned                      replaced:1;
    unsigned                      verified:1;
} ngx_http_bluebutton_ctx_t;


extern ngx_module_t  ngx_http_bluebutton_module;


ngx_int_t ngx_http_bluebutton_handler(ngx_http_request_t *r);
ngx_http_bluebutton_ctx_t *ngx_http_bluebutton_create_ctx(
    ngx_http_request_t *r);
ngx_http_bluebutton_ctx_t *ngx_http_bluebutton_get_ctx(ngx_http_request_t *r);
void ngx_http_bluebutton_policy_release(ngx_http_bluebutton_policy_t *policy);
ngx_int_t ngx_http_bluebutton_send_outcome(ngx_http_request_t *r,
    ngx_uint_t status, bb_issue_t issue, const char *diagnostics);
ngx_int_t ngx_http_bluebutton_filter_init(ngx_conf_t *cf);


#endif /* NGX_HTTP_BLUEBUTTON_H */
