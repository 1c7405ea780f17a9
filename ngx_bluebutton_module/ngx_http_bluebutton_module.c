/*
 * ngx_http_bluebutton_module: puts a FHIR server behind nginx so that each
 * beneficiary, through an app they authorized, sees only their own records.
 *
 * In the access phase it verifies the RFC 9068 bearer token locally against
 * the keys of the policy document, checks the SMART scope for the resource
 * type and interaction, and rewrites the request by the type's controls
 * before proxy_pass sends it: the id in the URL, the search parameters, the
 * body of a POST _search (ngx_http_bluebutton_access.c).  The response
 * half lives in ngx_http_bluebutton_filter.c, the request context in
 * ngx_http_bluebutton_ctx.c.  This file holds the configuration and the
 * policy's life cycle.
 *
 * The policy document is parsed when the configuration is read (so that
 * "nginx -t" refuses a bad one) and again in each worker whenever the file
 * is replaced; a request holds a reference to the version it was decided
 * by.  Verified tokens are cached per worker, keyed by their SHA-256.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "bb_cache.h"
#include "ngx_http_bluebutton.h"


static ngx_int_t ngx_http_bluebutton_policy_read(ngx_log_t *log,
    ngx_http_bluebutton_main_conf_t *bmcf, ngx_file_info_t *fi, char *err,
    size_t errlen);
static void ngx_http_bluebutton_check_policy(ngx_event_t *ev);
static void ngx_http_bluebutton_cycle_cleanup(void *data);


static ngx_int_t ngx_http_bluebutton_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_bluebutton_add_variables(ngx_conf_t *cf);
static void *ngx_http_bluebutton_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_bluebutton_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_bluebutton_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_bluebutton_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static char *ngx_http_bluebutton_check_base(ngx_conf_t *cf, ngx_str_t *url,
    const char *directive);
static char *ngx_http_bluebutton_policy(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_bluebutton_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_bluebutton_init_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_bluebutton_commands[] = {

    { ngx_string("bluebutton_policy"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_bluebutton_policy,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("bluebutton_policy_check"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_bluebutton_main_conf_t, policy_check),
      NULL },

    { ngx_string("bluebutton_token_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_bluebutton_main_conf_t, token_cache),
      NULL },

    { ngx_string("bluebutton"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bluebutton_loc_conf_t, enable),
      NULL },

    { ngx_string("bluebutton_upstream_base"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bluebutton_loc_conf_t, upstream_base),
      NULL },

    { ngx_string("bluebutton_public_base"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bluebutton_loc_conf_t, public_base),
      NULL },

    { ngx_string("bluebutton_realm"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bluebutton_loc_conf_t, realm),
      NULL },

    { ngx_string("bluebutton_leeway"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bluebutton_loc_conf_t, leeway),
      NULL },

    { ngx_string("bluebutton_max_token_lifetime"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bluebutton_loc_conf_t, max_lifetime),
      NULL },

    { ngx_string("bluebutton_max_token_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bluebutton_loc_conf_t, max_token_size),
      NULL },

    { ngx_string("bluebutton_max_uri_length"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bluebutton_loc_conf_t, max_uri_length),
      NULL },

    { ngx_string("bluebutton_max_response_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bluebutton_loc_conf_t, max_response_size),
      NULL },

    { ngx_string("bluebutton_pass_authorization"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bluebutton_loc_conf_t, pass_authorization),
      NULL },

    { ngx_string("bluebutton_smart_authorize_url"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bluebutton_loc_conf_t, smart_authorize),
      NULL },

    { ngx_string("bluebutton_smart_token_url"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bluebutton_loc_conf_t, smart_token),
      NULL },

    { ngx_string("bluebutton_smart_revoke_url"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bluebutton_loc_conf_t, smart_revoke),
      NULL },

    { ngx_string("bluebutton_smart_introspect_url"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bluebutton_loc_conf_t, smart_introspect),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_bluebutton_module_ctx = {
    ngx_http_bluebutton_add_variables,     /* preconfiguration */
    ngx_http_bluebutton_init,              /* postconfiguration */

    ngx_http_bluebutton_create_main_conf,  /* create main configuration */
    ngx_http_bluebutton_init_main_conf,    /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_bluebutton_create_loc_conf,   /* create location configuration */
    ngx_http_bluebutton_merge_loc_conf     /* merge location configuration */
};


ngx_module_t  ngx_http_bluebutton_module = {
    NGX_MODULE_V1,
    &ngx_http_bluebutton_module_ctx,       /* module context */
    ngx_http_bluebutton_commands,          /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_bluebutton_init_process,      /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_bluebutton_vars[] = {

    { ngx_string("bluebutton_patient"), NULL, ngx_http_bluebutton_variable,
      offsetof(ngx_http_bluebutton_ctx_t, patient),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("bluebutton_client_id"), NULL, ngx_http_bluebutton_variable,
      offsetof(ngx_http_bluebutton_ctx_t, client_id),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("bluebutton_sub"), NULL, ngx_http_bluebutton_variable,
      offsetof(ngx_http_bluebutton_ctx_t, sub),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("bluebutton_scope"), NULL, ngx_http_bluebutton_variable,
      offsetof(ngx_http_bluebutton_ctx_t, scope),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("bluebutton_jti"), NULL, ngx_http_bluebutton_variable,
      offsetof(ngx_http_bluebutton_ctx_t, jti),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


/*
 * Put the policy file in force; on NGX_ERROR the reason is in err and the
 * previous version stays.  The file's identity is remembered either way,
 * so that a refused version is not read (and logged) again every second.
 */

static ngx_int_t
ngx_http_bluebutton_policy_read(ngx_log_t *log,
    ngx_http_bluebutton_main_conf_t *bmcf, ngx_file_info_t *fi, char *err,
    size_t errlen)
{
    bb_policy_t                   *doc;
    ngx_http_bluebutton_policy_t  *policy;

    bmcf->file_dev = fi->st_dev;
    bmcf->file_ino = fi->st_ino;
    bmcf->file_size = fi->st_size;
    bmcf->file_mtime = fi->st_mtim;

    err[0] = '\0';

    doc = bb_policy_load((const char *) bmcf->policy_path.data, err, errlen);
    if (doc == NULL) {
        return NGX_ERROR;
    }

    policy = ngx_alloc(sizeof(ngx_http_bluebutton_policy_t), log);
    if (policy == NULL) {
        bb_policy_free(doc);
        ngx_cpystrn((u_char *) err, (u_char *) "out of memory", errlen);
        return NGX_ERROR;
    }

    policy->doc = doc;
    policy->refs = 1;

    if (bmcf->policy) {
        ngx_http_bluebutton_policy_release(bmcf->policy);
    }

    bmcf->policy = policy;

    /* keys may have changed: no token verified under the old ones is kept */

    if (bmcf->cache) {
        bb_cache_flush(bmcf->cache);
    }

    return NGX_OK;
}


static void
ngx_http_bluebutton_check_policy(ngx_event_t *ev)
{
    char                              err[512];
    ngx_file_info_t                   fi;
    ngx_http_bluebutton_main_conf_t  *bmcf;

    bmcf = ev->data;

    if (ngx_file_info(bmcf->policy_path.data, &fi) == NGX_FILE_ERROR) {

        /* said once, not every second; the version in force stays */

        if (bmcf->file_ino != 0) {
            ngx_log_error(NGX_LOG_ERR, ev->log, ngx_errno,
                          ngx_file_info_n " \"%V\" failed, "
                          "nginx keeps the previous policy",
                          &bmcf->policy_path);
            bmcf->file_ino = 0;
        }

    } else if (fi.st_ino != bmcf->file_ino
               || fi.st_dev != bmcf->file_dev
               || fi.st_size != bmcf->file_size
               || fi.st_mtim.tv_sec != bmcf->file_mtime.tv_sec
               || fi.st_mtim.tv_nsec != bmcf->file_mtime.tv_nsec)
    {
        if (ngx_http_bluebutton_policy_read(ev->log, bmcf, &fi, err,
                                            sizeof(err))
            == NGX_OK)
        {
            ngx_log_error(NGX_LOG_NOTICE, ev->log, 0,
                          "bluebutton_policy \"%V\" loaded, serial \"%s\"",
                          &bmcf->policy_path,
                          bmcf->policy->doc->serial
                          ? bmcf->policy->doc->serial : "");

        } else {
            ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                          "bluebutton_policy \"%V\": %s, "
                          "nginx keeps the previous policy",
                          &bmcf->policy_path, err);
        }
    }

    if (!ngx_exiting && !ngx_quit && !ngx_terminate) {
        ngx_add_timer(ev, bmcf->policy_check);
    }
}


static void
ngx_http_bluebutton_cycle_cleanup(void *data)
{
    ngx_http_bluebutton_main_conf_t  *bmcf = data;

    if (bmcf->policy) {
        ngx_http_bluebutton_policy_release(bmcf->policy);
        bmcf->policy = NULL;
    }

    if (bmcf->cache) {
        bb_cache_destroy(bmcf->cache);
        bmcf->cache = NULL;
    }
}


static ngx_int_t
ngx_http_bluebutton_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                  *s;
    ngx_http_bluebutton_ctx_t  *ctx;

    ctx = ngx_http_bluebutton_get_ctx(r->main);

    if (ctx == NULL || !ctx->verified) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = (ngx_str_t *) ((char *) ctx + data);

    v->len = s->len;
    v->data = s->data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_bluebutton_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_bluebutton_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static void *
ngx_http_bluebutton_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_bluebutton_main_conf_t  *bmcf;

    bmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_bluebutton_main_conf_t));
    if (bmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     bmcf->policy_path = { 0, NULL };
     *     bmcf->policy = NULL;
     *     bmcf->cache = NULL;
     *     bmcf->enabled = 0;
     */

    bmcf->policy_check = NGX_CONF_UNSET_MSEC;
    bmcf->token_cache = NGX_CONF_UNSET;

    return bmcf;
}


static char *
ngx_http_bluebutton_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_bluebutton_main_conf_t  *bmcf = conf;

    ngx_conf_init_msec_value(bmcf->policy_check, 1000);
    ngx_conf_init_value(bmcf->token_cache, 10000);

    if (bmcf->policy_check < 10) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"bluebutton_policy_check\" must be at least 10ms");
        return NGX_CONF_ERROR;
    }

    if (bmcf->token_cache < 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"bluebutton_token_cache\" must not be negative");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_bluebutton_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_bluebutton_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_bluebutton_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->upstream_base = { 0, NULL };
     *     conf->public_base = { 0, NULL };
     *     conf->realm = { 0, NULL };
     *     conf->smart_* = { 0, NULL };
     *     conf->base = { 0, NULL };
     */

    conf->enable = NGX_CONF_UNSET;
    conf->leeway = NGX_CONF_UNSET;
    conf->max_lifetime = NGX_CONF_UNSET;
    conf->max_token_size = NGX_CONF_UNSET_SIZE;
    conf->max_uri_length = NGX_CONF_UNSET_SIZE;
    conf->max_response_size = NGX_CONF_UNSET_SIZE;
    conf->pass_authorization = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_bluebutton_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_bluebutton_loc_conf_t *prev = parent;
    ngx_http_bluebutton_loc_conf_t *conf = child;

    u_char                           *p;
    ngx_str_t                        *s;
    ngx_flag_t                        explicit;
    ngx_http_core_loc_conf_t         *clcf;
    ngx_http_bluebutton_main_conf_t  *bmcf;

    explicit = (conf->enable != NGX_CONF_UNSET);

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_str_value(conf->upstream_base, prev->upstream_base, "");
    ngx_conf_merge_str_value(conf->public_base, prev->public_base, "");
    ngx_conf_merge_str_value(conf->realm, prev->realm, "bluebutton");
    ngx_conf_merge_sec_value(conf->leeway, prev->leeway, 30);
    ngx_conf_merge_sec_value(conf->max_lifetime, prev->max_lifetime, 3600);
    ngx_conf_merge_size_value(conf->max_token_size, prev->max_token_size,
                              8192);
    ngx_conf_merge_size_value(conf->max_uri_length, prev->max_uri_length,
                              2048);
    ngx_conf_merge_size_value(conf->max_response_size,
                              prev->max_response_size, 8 * 1024 * 1024);
    ngx_conf_merge_value(conf->pass_authorization, prev->pass_authorization,
                         0);
    ngx_conf_merge_str_value(conf->smart_authorize, prev->smart_authorize, "");
    ngx_conf_merge_str_value(conf->smart_token, prev->smart_token, "");
    ngx_conf_merge_str_value(conf->smart_revoke, prev->smart_revoke, "");
    ngx_conf_merge_str_value(conf->smart_introspect, prev->smart_introspect,
                             "");

    /* the pure code takes C strings: keep each one NUL-terminated */

    for (s = &conf->smart_authorize; s <= &conf->smart_introspect; s++) {
        if (s->len == 0) {
            s->data = NULL;
            continue;
        }

        p = ngx_pnalloc(cf->pool, s->len + 1);
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memcpy(p, s->data, s->len);
        p[s->len] = '\0';
        s->data = p;
    }

    if (!conf->enable) {
        return NGX_CONF_OK;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    bmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_bluebutton_module);

    bmcf->enabled = 1;

    if (clcf->satisfy == NGX_HTTP_SATISFY_ANY) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"bluebutton on\" cannot be combined with "
                           "\"satisfy any\": another module could let a "
                           "request through without a token");
        return NGX_CONF_ERROR;
    }

    if (conf->upstream_base.len == 0 || conf->public_base.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"bluebutton on\" needs both "
                           "\"bluebutton_upstream_base\" and "
                           "\"bluebutton_public_base\"");
        return NGX_CONF_ERROR;
    }

    if (ngx_http_bluebutton_check_base(cf, &conf->upstream_base,
                                       "bluebutton_upstream_base")
        != NGX_CONF_OK
        || ngx_http_bluebutton_check_base(cf, &conf->public_base,
                                          "bluebutton_public_base")
           != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (conf->max_token_size < 64 || conf->max_uri_length < 64) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"bluebutton_max_token_size\" and "
                           "\"bluebutton_max_uri_length\" must be at "
                           "least 64");
        return NGX_CONF_ERROR;
    }

    /*
     * The FHIR base is the location's prefix; the module classifies what
     * follows it, so a regex or exact location has no base to speak of.
     * Inherited into one (or into a named location, which only an internal
     * redirect reaches, with the decision already taken), the base is the
     * root: every path is still classified and checked.
     */

    if (clcf->named
#if (NGX_PCRE)
        || clcf->regex
#endif
        || clcf->exact_match || clcf->name.len == 0
        || clcf->name.data[0] != '/')
    {
        if (explicit && (clcf->exact_match
#if (NGX_PCRE)
                         || clcf->regex
#endif
            ))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"bluebutton on\" needs a prefix location, "
                               "not \"%V\"", &clcf->name);
            return NGX_CONF_ERROR;
        }

        ngx_str_set(&conf->base, "");
        return NGX_CONF_OK;
    }

    conf->base = clcf->name;

    while (conf->base.len && conf->base.data[conf->base.len - 1] == '/') {
        conf->base.len--;
    }

    return NGX_CONF_OK;
}


/*
 * The bases are replaced byte for byte inside JSON and XML bodies, so they
 * must be absolute URLs holding nothing that either would escape.
 */

static char *
ngx_http_bluebutton_check_base(ngx_conf_t *cf, ngx_str_t *url,
    const char *directive)
{
    ngx_uint_t  i;

    if (!(url->len > 7 && ngx_strncmp(url->data, "http://", 7) == 0)
        && !(url->len > 8 && ngx_strncmp(url->data, "https://", 8) == 0))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" must be an absolute http or https URL, "
                           "not \"%V\"", directive, url);
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < url->len; i++) {
        if (url->data[i] <= ' ' || url->data[i] >= 0x7f
            || url->data[i] == '"' || url->data[i] == '\\'
            || url->data[i] == '<' || url->data[i] == '>'
            || url->data[i] == '&' || url->data[i] == '\''
            || url->data[i] == '?' || url->data[i] == '#')
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%s\" holds a character it cannot: \"%V\"",
                               directive, url);
            return NGX_CONF_ERROR;
        }
    }

    while (url->len && url->data[url->len - 1] == '/') {
        url->len--;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_bluebutton_policy(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_bluebutton_main_conf_t  *bmcf = conf;

    char                 err[512];
    ngx_str_t           *value;
    ngx_file_info_t      fi;
    ngx_pool_cleanup_t  *cln;

    if (bmcf->policy_path.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    bmcf->policy_path = value[1];

    if (ngx_conf_full_name(cf->cycle, &bmcf->policy_path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_bluebutton_cycle_cleanup;
    cln->data = bmcf;

    if (ngx_file_info(bmcf->policy_path.data, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "bluebutton_policy \"%V\": "
                           ngx_file_info_n " failed", &bmcf->policy_path);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_bluebutton_policy_read(cf->log, bmcf, &fi, err, sizeof(err))
        != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "bluebutton_policy \"%V\": %s",
                           &bmcf->policy_path, err);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_bluebutton_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt              *h;
    ngx_http_core_main_conf_t        *cmcf;
    ngx_http_bluebutton_main_conf_t  *bmcf;

    bmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_bluebutton_module);

    if (bmcf->enabled && bmcf->policy_path.len == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"bluebutton on\" needs \"bluebutton_policy\" "
                      "in the http block");
        return NGX_ERROR;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_bluebutton_handler;

    return ngx_http_bluebutton_filter_init(cf);
}


static ngx_int_t
ngx_http_bluebutton_init_process(ngx_cycle_t *cycle)
{
    ngx_http_conf_ctx_t              *ctx;
    ngx_http_bluebutton_main_conf_t  *bmcf;

    ctx = (ngx_http_conf_ctx_t *) ngx_get_conf(cycle->conf_ctx,
                                               ngx_http_module);
    if (ctx == NULL) {
        return NGX_OK;
    }

    bmcf = ctx->main_conf[ngx_http_bluebutton_module.ctx_index];

    if (bmcf == NULL || bmcf->policy_path.len == 0) {
        return NGX_OK;
    }

    if (bmcf->token_cache > 0) {
        bmcf->cache = bb_cache_create(bmcf->token_cache);
        if (bmcf->cache == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                          "bb_cache_create(%i) failed", bmcf->token_cache);
            return NGX_ERROR;
        }
    }

    bmcf->check_event.handler = ngx_http_bluebutton_check_policy;
    bmcf->check_event.data = bmcf;
    bmcf->check_event.log = cycle->log;
    bmcf->check_event.cancelable = 1;

    ngx_add_timer(&bmcf->check_event, bmcf->policy_check);

    return NGX_OK;
}
