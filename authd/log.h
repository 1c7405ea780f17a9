/*
 * Logging to stderr, one line per message, every line carrying the request
 * id ("req=-" outside a request):
 *
 *   2024-01-02T03:04:05.678Z error req=3f2a... PQexecPrepared() failed: ...
 *
 * and one access line per request:
 *
 *   ... info req=<id> GET /authorize 302 3ms client_id=<id or ->
 *
 * Never pass a token, secret, password, code or session id to these.
 */

#ifndef AUTHD_LOG_H
#define AUTHD_LOG_H

#include "config.h"


/* messages below this level (CFG_LOG_*) are dropped; info by default */
void log_set_level(int level);

void log_msg(int level, const char *req_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* a broken invariant: logs and aborts */
void log_fatal(const char *req_id, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

/* path without the query string; client_id may be NULL */
void log_access(const char *req_id, const char *method, const char *path,
    unsigned status, long ms, const char *client_id);


#define log_debug(req_id, ...)  log_msg(CFG_LOG_DEBUG, req_id, __VA_ARGS__)
#define log_info(req_id, ...)   log_msg(CFG_LOG_INFO, req_id, __VA_ARGS__)
#define log_warn(req_id, ...)   log_msg(CFG_LOG_WARN, req_id, __VA_ARGS__)
#define log_error(req_id, ...)  log_msg(CFG_LOG_ERROR, req_id, __VA_ARGS__)


#endif /* AUTHD_LOG_H */
