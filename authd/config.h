/*
 * authd's settings: one table in config.c names every setting with its
 * type, default, bounds and whether it is a secret.  Values come from the
 * environment and, optionally, from the file AUTHD_CONFIG_FILE (KEY=VALUE
 * lines); the environment wins.  Everything is validated once at start-up
 * and then read from authd_cfg without locking: nothing changes it later.
 */

#ifndef AUTHD_CONFIG_H
#define AUTHD_CONFIG_H

#include <stddef.h>
#include <sys/socket.h>


/*
 * What a subcommand needs: a setting marked with one of these bits is
 * required when cfg_load() is called with it.
 */
#define CFG_USE_DB          0x01    /* every command that opens the db */
#define CFG_USE_ISSUER      0x02    /* commands that sign or write policy */
#define CFG_USE_KEYS        0x04    /* commands that handle private keys */


/* log levels, also the values of the log_level setting */
#define CFG_LOG_DEBUG       0
#define CFG_LOG_INFO        1
#define CFG_LOG_WARN        2
#define CFG_LOG_ERROR       3


/* a listening address: "host:port" or "[v6addr]:port", resolved */
typedef struct {
    char                     text[300];
    struct sockaddr_storage  sa;
    socklen_t                salen;
    int                      port;
} cfg_addr_t;


/* strings are never NULL after cfg_load(); "" means unset */
typedef struct {
    char        *database_url;          /* secret: may hold a password */
    cfg_addr_t   listen;
    cfg_addr_t   admin_listen;
    char        *issuer;
    char        *audience;
    char        *policy_path;
    char        *key_passphrase;        /* secret */
    long         access_token_ttl;      /* durations are in seconds */
    long         code_ttl;
    long         grant_ttl;
    long         session_ttl;
    int          cookie_secure;
    long         threads;
    long         db_pool;
    long         db_timeout;
    long         max_body;
    long         login_max_failures;
    long         login_window;
    long         scrypt_ln;
    long         key_publish_delay;
    int          log_level;             /* CFG_LOG_* */
    char        *schema_dir;
} cfg_t;


extern cfg_t  authd_cfg;


/*
 * Fills cfg with defaults, then the file, then the environment; validates
 * every value and checks that the settings "uses" requires are set.
 * Returns 0, or -1 with a message naming the setting and, unless it is a
 * secret, quoting the bad value, e.g.
 * invalid AUTHD_THREADS "0": less than 1
 */
int cfg_load(cfg_t *cfg, unsigned uses, char *err, size_t errlen)
    __attribute__((warn_unused_result));

void cfg_free(cfg_t *cfg);


#endif /* AUTHD_CONFIG_H */
