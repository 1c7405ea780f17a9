/*
 * The settings table and its loader.  Each setting is one row: its name
 * (the environment variable), its type, its default as text (parsed like
 * any given value, so a default cannot escape validation), its bounds
 * (numbers: the value; strings: the length), the commands that require it,
 * whether it is a secret, and where it goes in cfg_t.
 */

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpq-fe.h>

#include "config.h"


#ifndef AUTHD_SCHEMA_DIR
#define AUTHD_SCHEMA_DIR  "schema"
#endif

#define CFG_DAY           86400L


typedef enum {
    CFG_STRING,
    CFG_CONNINFO,                       /* a libpq URI or key=value list */
    CFG_URL,                            /* absolute http(s), no query */
    CFG_INT,
    CFG_BOOL,
    CFG_DURATION,                       /* seconds, or with s, m, h, d */
    CFG_ADDR,                           /* host:port */
    CFG_LEVEL                           /* debug, info, warn, error */
} cfg_type_t;


typedef struct {
    const char  *name;
    cfg_type_t   type;
    const char  *dflt;
    long         min;
    long         max;
    unsigned     required;              /* CFG_USE_* */
    int          secret;
    size_t       offset;
} cfg_setting_t;


#define CFG_OFF(field)  offsetof(cfg_t, field)

static const cfg_setting_t  cfg_settings[] = {

    { "DATABASE_URL", CFG_CONNINFO, "", 0, 0,
      CFG_USE_DB, 1, CFG_OFF(database_url) },

    { "AUTHD_LISTEN", CFG_ADDR, "127.0.0.1:8400", 0, 0,
      0, 0, CFG_OFF(listen) },

    { "AUTHD_ADMIN_LISTEN", CFG_ADDR, "127.0.0.1:8401", 0, 0,
      0, 0, CFG_OFF(admin_listen) },

    { "AUTHD_ISSUER", CFG_URL, "", 0, 0,
      CFG_USE_ISSUER, 0, CFG_OFF(issuer) },

    { "AUTHD_AUDIENCE", CFG_URL, "", 0, 0,
      CFG_USE_ISSUER, 0, CFG_OFF(audience) },

    { "AUTHD_POLICY_PATH", CFG_STRING, "", 0, 4096,
      0, 0, CFG_OFF(policy_path) },

    { "AUTHD_KEY_PASSPHRASE", CFG_STRING, "", 16, 1024,
      CFG_USE_KEYS, 1, CFG_OFF(key_passphrase) },

    { "AUTHD_ACCESS_TOKEN_TTL", CFG_DURATION, "3600", 60, CFG_DAY,
      0, 0, CFG_OFF(access_token_ttl) },

    { "AUTHD_CODE_TTL", CFG_DURATION, "60", 1, 600,
      0, 0, CFG_OFF(code_ttl) },

    { "AUTHD_GRANT_TTL", CFG_DURATION, "31536000", 60, 10 * 366 * CFG_DAY,
      0, 0, CFG_OFF(grant_ttl) },

    { "AUTHD_SESSION_TTL", CFG_DURATION, "3600", 60, 30 * CFG_DAY,
      0, 0, CFG_OFF(session_ttl) },

    { "AUTHD_COOKIE_SECURE", CFG_BOOL, "true", 0, 1,
      0, 0, CFG_OFF(cookie_secure) },

    { "AUTHD_THREADS", CFG_INT, "16", 1, 256,
      0, 0, CFG_OFF(threads) },

    { "AUTHD_DB_POOL", CFG_INT, "16", 1, 256,
      0, 0, CFG_OFF(db_pool) },

    { "AUTHD_DB_TIMEOUT", CFG_DURATION, "5", 1, 300,
      0, 0, CFG_OFF(db_timeout) },

    { "AUTHD_MAX_BODY", CFG_INT, "65536", 1024, 16 * 1024 * 1024,
      0, 0, CFG_OFF(max_body) },

    { "AUTHD_LOGIN_MAX_FAILURES", CFG_INT, "5", 1, 1000,
      0, 0, CFG_OFF(login_max_failures) },

    { "AUTHD_LOGIN_WINDOW", CFG_DURATION, "300", 1, CFG_DAY,
      0, 0, CFG_OFF(login_window) },

    { "AUTHD_SCRYPT_LN", CFG_INT, "15", 14, 22,
      0, 0, CFG_OFF(scrypt_ln) },

    { "AUTHD_KEY_PUBLISH_DELAY", CFG_DURATION, "0", 0, 30 * CFG_DAY,
      0, 0, CFG_OFF(key_publish_delay) },

    { "AUTHD_LOG_LEVEL", CFG_LEVEL, "info", 0, 0,
      0, 0, CFG_OFF(log_level) },

    { "AUTHD_SCHEMA_DIR", CFG_STRING, AUTHD_SCHEMA_DIR, 1, 4096,
      0, 0, CFG_OFF(schema_dir) },

    { NULL, 0, NULL, 0, 0, 0, 0, 0 }
};

#define CFG_NSETTINGS  (sizeof(cfg_settings) / sizeof(cfg_settings[0]) - 1)


static const char  *cfg_levels[] = { "debug", "info", "warn", "error" };


cfg_t  authd_cfg;


static int cfg_read_file(const char *path, char **values, char *err,
    size_t errlen);
static int cfg_set(cfg_t *cfg, const cfg_setting_t *s, const char *value,
    char *err, size_t errlen);
static int cfg_number(const cfg_setting_t *s, const char *value, long *n,
    char *err, size_t errlen);
static int cfg_addr(const cfg_setting_t *s, const char *value,
    cfg_addr_t *addr, char *err, size_t errlen);
static int cfg_url(const char *value);
static void cfg_invalid(const cfg_setting_t *s, const char *value,
    const char *why, char *err, size_t errlen);
static char *cfg_trim(char *s);


int
cfg_load(cfg_t *cfg, unsigned uses, char *err, size_t errlen)
{
    int                   rc;
    char                 *values[CFG_NSETTINGS];
    size_t                i;
    const char           *file, *value;
    const cfg_setting_t  *s;

    rc = -1;
    memset(cfg, 0, sizeof(cfg_t));
    memset(values, 0, sizeof(values));

    file = getenv("AUTHD_CONFIG_FILE");

    if (file != NULL && *file != '\0'
        && cfg_read_file(file, values, err, errlen) != 0)
    {
        goto done;
    }

    for (i = 0; i < CFG_NSETTINGS; i++) {
        s = &cfg_settings[i];

        value = getenv(s->name);

        if (value == NULL) {
            value = values[i] ? values[i] : s->dflt;
        }

        if (*value == '\0' && (s->required & uses)) {
            snprintf(err, errlen, "setting %s is required", s->name);
            goto done;
        }

        if (cfg_set(cfg, s, value, err, errlen) != 0) {
            goto done;
        }
    }

    rc = 0;

done:

    for (i = 0; i < CFG_NSETTINGS; i++) {
        free(values[i]);
    }

    if (rc != 0) {
        cfg_free(cfg);
    }

    return rc;
}


void
cfg_free(cfg_t *cfg)
{
    char                 **p;
    const cfg_setting_t   *s;

    for (s = cfg_settings; s->name != NULL; s++) {
        switch (s->type) {

        case CFG_STRING:
        case CFG_CONNINFO:
        case CFG_URL:
            p = (char **) ((char *) cfg + s->offset);
            free(*p);
            *p = NULL;
            break;

        default:
            break;
        }
    }
}


/*
 * KEY=VALUE lines; blank lines and lines starting with '#' are skipped.
 * Spaces around the key and before the value are dropped, but not after
 * it: a passphrase may end with one.  A line is never quoted in an error,
 * since it may hold a secret.
 */

static int
cfg_read_file(const char *path, char **values, char *err, size_t errlen)
{
    int     rc;
    char   *line, *eq, *key, *value;
    FILE   *f;
    size_t  cap, i, len, lineno;

    rc = -1;
    line = NULL;
    cap = 0;
    lineno = 0;

    f = fopen(path, "r");

    if (f == NULL) {
        snprintf(err, errlen, "fopen(\"%s\") failed: %s", path,
                 strerror(errno));
        return -1;
    }

    while (getline(&line, &cap, f) != -1) {
        lineno++;

        len = strlen(line);

        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) {
            line[--len] = '\0';
        }

        key = line;

        while (*key == ' ' || *key == '\t') {
            key++;
        }

        if (*key == '\0' || *key == '#') {
            continue;
        }

        eq = strchr(key, '=');

        if (eq == NULL) {
            snprintf(err, errlen, "%s:%zu: expected KEY=VALUE", path,
                     lineno);
            goto done;
        }

        *eq = '\0';
        key = cfg_trim(key);
        value = eq + 1;

        while (*value == ' ' || *value == '\t') {
            value++;
        }

        for (i = 0; i < CFG_NSETTINGS; i++) {
            if (strcmp(cfg_settings[i].name, key) == 0) {
                break;
            }
        }

        if (i == CFG_NSETTINGS) {
            snprintf(err, errlen, "%s:%zu: unknown setting \"%.64s\"", path,
                     lineno, key);
            goto done;
        }

        free(values[i]);
        values[i] = strdup(value);

        if (values[i] == NULL) {
            snprintf(err, errlen, "out of memory");
            goto done;
        }
    }

    if (ferror(f)) {
        snprintf(err, errlen, "reading \"%s\" failed: %s", path,
                 strerror(errno));
        goto done;
    }

    rc = 0;

done:

    free(line);
    fclose(f);

    return rc;
}


static int
cfg_set(cfg_t *cfg, const cfg_setting_t *s, const char *value, char *err,
    size_t errlen)
{
    int                 i, *flag;
    long                n, len;
    char              **str, *msg;
    PQconninfoOption   *opts;

    str = (char **) ((char *) cfg + s->offset);
    flag = (int *) ((char *) cfg + s->offset);

    switch (s->type) {

    case CFG_STRING:
    case CFG_CONNINFO:
    case CFG_URL:
        len = (long) strlen(value);

        if (*value != '\0' && len < s->min) {
            snprintf(err, errlen, "shorter than %ld characters", s->min);
            cfg_invalid(s, value, err, err, errlen);
            return -1;
        }

        if (s->max > 0 && len > s->max) {
            snprintf(err, errlen, "longer than %ld characters", s->max);
            cfg_invalid(s, value, err, err, errlen);
            return -1;
        }

        if (*value != '\0' && s->type == CFG_URL && cfg_url(value) != 0) {
            cfg_invalid(s, value, "expected an http or https URL without "
                        "query or fragment", err, errlen);
            return -1;
        }

        if (*value != '\0' && s->type == CFG_CONNINFO) {
            msg = NULL;
            opts = PQconninfoParse(value, &msg);

            /* libpq's message may quote part of the value: not shown */

            PQfreemem(msg);

            if (opts == NULL) {
                cfg_invalid(s, value, "not a libpq connection string", err,
                            errlen);
                return -1;
            }

            PQconninfoFree(opts);
        }

        *str = strdup(value);

        if (*str == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }

        return 0;

    case CFG_INT:
    case CFG_DURATION:
        if (cfg_number(s, value, &n, err, errlen) != 0) {
            return -1;
        }

        *(long *) ((char *) cfg + s->offset) = n;
        return 0;

    case CFG_BOOL:
        if (strcasecmp(value, "true") == 0 || strcasecmp(value, "yes") == 0
            || strcasecmp(value, "on") == 0 || strcmp(value, "1") == 0)
        {
            *flag = 1;
            return 0;
        }

        if (strcasecmp(value, "false") == 0 || strcasecmp(value, "no") == 0
            || strcasecmp(value, "off") == 0 || strcmp(value, "0") == 0)
        {
            *flag = 0;
            return 0;
        }

        cfg_invalid(s, value, "expected true or false", err, errlen);
        return -1;

    case CFG_LEVEL:
        for (i = 0; i < (int) (sizeof(cfg_levels) / sizeof(cfg_levels[0]));
             i++)
        {
            if (strcmp(value, cfg_levels[i]) == 0) {
                *flag = i;
                return 0;
            }
        }

        cfg_invalid(s, value, "expected debug, info, warn or error", err,
                    errlen);
        return -1;

    case CFG_ADDR:
        return cfg_addr(s, value, (cfg_addr_t *) ((char *) cfg + s->offset),
                        err, errlen);
    }

    snprintf(err, errlen, "setting %s has an unknown type", s->name);

    return -1;
}


/* digits only; a duration may end with s, m, h or d */

static int
cfg_number(const cfg_setting_t *s, const char *value, long *n, char *err,
    size_t errlen)
{
    long         unit, v;
    const char  *p;
    char         why[64];

    v = 0;
    unit = 1;

    for (p = value; *p >= '0' && *p <= '9'; p++) {
        if (v > (CFG_DAY * 366 * 100 - (*p - '0')) / 10) {
            cfg_invalid(s, value, "too large", err, errlen);
            return -1;
        }

        v = v * 10 + (*p - '0');
    }

    if (p == value) {
        cfg_invalid(s, value, s->type == CFG_DURATION
                    ? "expected a number of seconds" : "expected a number",
                    err, errlen);
        return -1;
    }

    if (s->type == CFG_DURATION && *p != '\0' && p[1] == '\0') {
        switch (*p) {
        case 's':
            unit = 1;
            p++;
            break;
        case 'm':
            unit = 60;
            p++;
            break;
        case 'h':
            unit = 3600;
            p++;
            break;
        case 'd':
            unit = CFG_DAY;
            p++;
            break;
        }
    }

    if (*p != '\0') {
        cfg_invalid(s, value, s->type == CFG_DURATION
                    ? "expected a number of seconds" : "expected a number",
                    err, errlen);
        return -1;
    }

    v *= unit;

    if (v < s->min) {
        snprintf(why, sizeof(why), "less than %ld", s->min);
        cfg_invalid(s, value, why, err, errlen);
        return -1;
    }

    if (v > s->max) {
        snprintf(why, sizeof(why), "more than %ld", s->max);
        cfg_invalid(s, value, why, err, errlen);
        return -1;
    }

    *n = v;

    return 0;
}


/* "host:port" or "[v6]:port", resolved once, here */

static int
cfg_addr(const cfg_setting_t *s, const char *value, cfg_addr_t *addr,
    char *err, size_t errlen)
{
    int              rc, port;
    char             host[256], why[300];
    const char      *colon, *p;
    size_t           hlen;
    struct addrinfo  hints, *res;

    colon = strrchr(value, ':');

    if (colon == NULL || colon == value || colon[1] == '\0'
        || strlen(value) >= sizeof(addr->text))
    {
        cfg_invalid(s, value, "expected host:port", err, errlen);
        return -1;
    }

    port = 0;

    for (p = colon + 1; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || port > 65535) {
            cfg_invalid(s, value, "expected host:port", err, errlen);
            return -1;
        }

        port = port * 10 + (*p - '0');
    }

    if (port < 1 || port > 65535) {
        cfg_invalid(s, value, "port out of range", err, errlen);
        return -1;
    }

    p = value;
    hlen = colon - value;

    if (*p == '[') {
        if (hlen < 3 || colon[-1] != ']') {
            cfg_invalid(s, value, "expected host:port", err, errlen);
            return -1;
        }

        p++;
        hlen -= 2;

    } else if (memchr(value, ':', hlen) != NULL) {
        cfg_invalid(s, value, "an IPv6 address goes in brackets", err,
                    errlen);
        return -1;
    }

    if (hlen >= sizeof(host)) {
        cfg_invalid(s, value, "expected host:port", err, errlen);
        return -1;
    }

    memcpy(host, p, hlen);
    host[hlen] = '\0';

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;

    rc = getaddrinfo(host, colon + 1, &hints, &res);

    if (rc != 0) {
        snprintf(why, sizeof(why), "getaddrinfo() failed: %s",
                 gai_strerror(rc));
        cfg_invalid(s, value, why, err, errlen);
        return -1;
    }

    memcpy(&addr->sa, res->ai_addr, res->ai_addrlen);
    addr->salen = res->ai_addrlen;
    addr->port = port;
    strcpy(addr->text, value);

    freeaddrinfo(res);

    return 0;
}


static int
cfg_url(const char *value)
{
    const char  *host, *p;

    if (strncmp(value, "https://", 8) == 0) {
        host = value + 8;

    } else if (strncmp(value, "http://", 7) == 0) {
        host = value + 7;

    } else {
        return -1;
    }

    if (*host == '\0' || *host == '/' || *host == ':') {
        return -1;
    }

    for (p = value; *p != '\0'; p++) {
        if (*p == '?' || *p == '#' || *p == '\\'
            || isspace((unsigned char) *p) || iscntrl((unsigned char) *p)
            || (unsigned char) *p >= 0x80)
        {
            return -1;
        }
    }

    return 0;
}


/*
 * The message; why may point into err.  A value is quoted with its control
 * and non-ASCII bytes shown as '?', so that it cannot forge a log line.
 */

static void
cfg_invalid(const cfg_setting_t *s, const char *value, const char *why,
    char *err, size_t errlen)
{
    char    copy[256], shown[129];
    size_t  i;

    snprintf(copy, sizeof(copy), "%s", why);

    if (s->secret) {
        snprintf(err, errlen, "invalid %s: %s", s->name, copy);
        return;
    }

    for (i = 0; i < sizeof(shown) - 1 && value[i] != '\0'; i++) {
        shown[i] = (value[i] < 0x20 || (unsigned char) value[i] >= 0x7f
                    || value[i] == '"') ? '?' : value[i];
    }

    shown[i] = '\0';

    snprintf(err, errlen, "invalid %s \"%s\": %s", s->name, shown, copy);
}


static char *
cfg_trim(char *s)
{
    size_t  len;

    while (*s == ' ' || *s == '\t') {
        s++;
    }

    len = strlen(s);

    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t')) {
        s[--len] = '\0';
    }

    return s;
}
