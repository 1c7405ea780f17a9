/*
 * Log lines go to stderr, each written with one write() so that lines of
 * concurrent requests never interleave.  Control bytes in a message (libpq
 * ends its messages with a newline) are replaced, so that one message is
 * always one line.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"


#define LOG_LINE_MAX  2048


static void log_vwrite(const char *level, const char *req_id,
    const char *fmt, va_list ap);


static int          log_level = CFG_LOG_INFO;

static const char  *log_names[] = { "debug", "info", "warn", "error" };


void
log_set_level(int level)
{
    log_level = level;
}


void
log_msg(int level, const char *req_id, const char *fmt, ...)
{
    va_list  ap;

    if (level < log_level) {
        return;
    }

    if (level < CFG_LOG_DEBUG || level > CFG_LOG_ERROR) {
        level = CFG_LOG_ERROR;
    }

    va_start(ap, fmt);
    log_vwrite(log_names[level], req_id, fmt, ap);
    va_end(ap);
}


void
log_fatal(const char *req_id, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    log_vwrite("fatal", req_id, fmt, ap);
    va_end(ap);

    abort();
}


void
log_access(const char *req_id, const char *method, const char *path,
    unsigned status, long ms, const char *client_id)
{
    log_msg(CFG_LOG_INFO, req_id, "%s %s %u %ldms client_id=%s", method,
            path, status, ms,
            (client_id != NULL && *client_id != '\0') ? client_id : "-");
}


static void
log_vwrite(const char *level, const char *req_id, const char *fmt,
    va_list ap)
{
    int              n, m;
    char             line[LOG_LINE_MAX], *p, *q;
    size_t           len;
    struct tm        tm;
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);

    n = snprintf(line, sizeof(line),
                 "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s req=%s ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, level,
                 (req_id != NULL && *req_id != '\0') ? req_id : "-");

    if (n < 0 || n >= (int) sizeof(line)) {
        return;
    }

    m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);

    if (m < 0) {
        m = 0;
    }

    len = n + m;

    if (len > sizeof(line) - 2) {
        len = sizeof(line) - 2;
    }

    while (len > (size_t) n
           && (line[len - 1] == '\n' || line[len - 1] == '\r'
               || line[len - 1] == ' '))
    {
        len--;
    }

    /* a control byte becomes one space, not one after another space */

    for (p = q = line + n; p < line + len; p++) {
        if ((unsigned char) *p >= 0x20 && *p != 0x7f) {
            *q++ = *p;

        } else if (q > line + n && q[-1] != ' ') {
            *q++ = ' ';
        }
    }

    len = q - line;
    line[len++] = '\n';

    /* nothing to do when stderr is gone */

    if (write(STDERR_FILENO, line, len) < 0) {
        return;
    }
}
