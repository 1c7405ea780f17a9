/*
 * authd's settings table: defaults, required settings, bounds, each type's
 * parsing, the exact messages for bad values, secrets never echoed, and
 * the optional file under the environment.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "config.h"


static char   err[512];
static cfg_t  cfg;


/* a clean environment: none of authd's settings */

static void
setup(void)
{
    extern char  **environ;
    char         **e, name[256];
    size_t         len;

again:

    for (e = environ; *e != NULL; e++) {
        if (strncmp(*e, "AUTHD_", 6) == 0
            || strncmp(*e, "DATABASE_URL=", 13) == 0)
        {
            len = strcspn(*e, "=");
            snprintf(name, sizeof(name), "%.*s", (int) len, *e);
            unsetenv(name);
            goto again;
        }
    }

    memset(&cfg, 0, sizeof(cfg));
    err[0] = '\0';
}


static void
teardown(void)
{
    cfg_free(&cfg);
}


static int
load(unsigned uses)
{
    cfg_free(&cfg);
    err[0] = '\0';

    return cfg_load(&cfg, uses, err, sizeof(err));
}


/* one bad value refused with this message, and a good one accepted */

static void
refused(const char *name, const char *bad, const char *good,
    const char *msg)
{
    setenv(name, bad, 1);
    ck_assert_int_eq(load(0), -1);
    ck_assert_str_eq(err, msg);

    setenv(name, good, 1);
    ck_assert_msg(load(0) == 0, "%s=\"%s\" refused: %s", name, good, err);

    unsetenv(name);
}


START_TEST(test_defaults)
{
    ck_assert_int_eq(load(0), 0);

    ck_assert_str_eq(cfg.database_url, "");
    ck_assert_str_eq(cfg.listen.text, "127.0.0.1:8400");
    ck_assert_int_eq(cfg.listen.port, 8400);
    ck_assert_int_eq(cfg.listen.sa.ss_family, AF_INET);
    ck_assert_str_eq(cfg.admin_listen.text, "127.0.0.1:8401");
    ck_assert_int_eq(cfg.admin_listen.port, 8401);
    ck_assert_str_eq(cfg.issuer, "");
    ck_assert_str_eq(cfg.audience, "");
    ck_assert_str_eq(cfg.policy_path, "");
    ck_assert_str_eq(cfg.key_passphrase, "");
    ck_assert_int_eq(cfg.access_token_ttl, 3600);
    ck_assert_int_eq(cfg.code_ttl, 60);
    ck_assert_int_eq(cfg.grant_ttl, 31536000);
    ck_assert_int_eq(cfg.session_ttl, 3600);
    ck_assert_int_eq(cfg.cookie_secure, 1);
    ck_assert_int_eq(cfg.threads, 16);
    ck_assert_int_eq(cfg.db_pool, 16);
    ck_assert_int_eq(cfg.db_timeout, 5);
    ck_assert_int_eq(cfg.max_body, 65536);
    ck_assert_int_eq(cfg.login_max_failures, 5);
    ck_assert_int_eq(cfg.login_window, 300);
    ck_assert_int_eq(cfg.scrypt_ln, 15);
    ck_assert_int_eq(cfg.key_publish_delay, 0);
    ck_assert_int_eq(cfg.log_level, CFG_LOG_INFO);
    ck_assert_ptr_nonnull(strstr(cfg.schema_dir, "schema"));
}
END_TEST


START_TEST(test_required)
{
    ck_assert_int_eq(load(CFG_USE_DB), -1);
    ck_assert_str_eq(err, "setting DATABASE_URL is required");

    setenv("DATABASE_URL", "postgresql:///authd", 1);
    ck_assert_int_eq(load(CFG_USE_DB), 0);
    ck_assert_str_eq(cfg.database_url, "postgresql:///authd");

    ck_assert_int_eq(load(CFG_USE_DB | CFG_USE_ISSUER), -1);
    ck_assert_str_eq(err, "setting AUTHD_ISSUER is required");

    setenv("AUTHD_ISSUER", "http://127.0.0.1:8400", 1);
    ck_assert_int_eq(load(CFG_USE_DB | CFG_USE_ISSUER), -1);
    ck_assert_str_eq(err, "setting AUTHD_AUDIENCE is required");

    setenv("AUTHD_AUDIENCE", "http://127.0.0.1:8080/v1/fhir", 1);
    ck_assert_int_eq(load(CFG_USE_DB | CFG_USE_ISSUER), 0);

    ck_assert_int_eq(load(CFG_USE_DB | CFG_USE_ISSUER | CFG_USE_KEYS), -1);
    ck_assert_str_eq(err, "setting AUTHD_KEY_PASSPHRASE is required");

    setenv("AUTHD_KEY_PASSPHRASE", "sixteen chars ok", 1);
    ck_assert_int_eq(load(CFG_USE_DB | CFG_USE_ISSUER | CFG_USE_KEYS), 0);
    ck_assert_str_eq(cfg.key_passphrase, "sixteen chars ok");

    /* what a command does not use may stay unset */

    unsetenv("DATABASE_URL");
    ck_assert_int_eq(load(CFG_USE_ISSUER), 0);
}
END_TEST


START_TEST(test_int_bounds)
{
    refused("AUTHD_THREADS", "0", "1", "invalid AUTHD_THREADS \"0\": "
            "less than 1");
    ck_assert_int_eq(cfg.threads, 1);

    refused("AUTHD_THREADS", "257", "256", "invalid AUTHD_THREADS \"257\": "
            "more than 256");
    ck_assert_int_eq(cfg.threads, 256);

    refused("AUTHD_DB_POOL", "0", "2", "invalid AUTHD_DB_POOL \"0\": "
            "less than 1");
    refused("AUTHD_MAX_BODY", "1023", "1024", "invalid AUTHD_MAX_BODY "
            "\"1023\": less than 1024");
    refused("AUTHD_SCRYPT_LN", "13", "14", "invalid AUTHD_SCRYPT_LN \"13\": "
            "less than 14");
    refused("AUTHD_SCRYPT_LN", "23", "22", "invalid AUTHD_SCRYPT_LN \"23\": "
            "more than 22");
    refused("AUTHD_LOGIN_MAX_FAILURES", "0", "1",
            "invalid AUTHD_LOGIN_MAX_FAILURES \"0\": less than 1");
}
END_TEST


START_TEST(test_int_syntax)
{
    refused("AUTHD_THREADS", "four", "4", "invalid AUTHD_THREADS \"four\": "
            "expected a number");
    refused("AUTHD_THREADS", "-1", "1", "invalid AUTHD_THREADS \"-1\": "
            "expected a number");
    refused("AUTHD_THREADS", "4 ", "4", "invalid AUTHD_THREADS \"4 \": "
            "expected a number");
    refused("AUTHD_THREADS", "", "4", "invalid AUTHD_THREADS \"\": "
            "expected a number");
    refused("AUTHD_THREADS", "4s", "4", "invalid AUTHD_THREADS \"4s\": "
            "expected a number");
    refused("AUTHD_MAX_BODY", "99999999999999999999999", "65536",
            "invalid AUTHD_MAX_BODY \"99999999999999999999999\": too large");
}
END_TEST


START_TEST(test_durations)
{
    refused("AUTHD_CODE_TTL", "0", "1", "invalid AUTHD_CODE_TTL \"0\": "
            "less than 1");
    refused("AUTHD_CODE_TTL", "11m", "10m", "invalid AUTHD_CODE_TTL "
            "\"11m\": more than 600");
    ck_assert_int_eq(cfg.code_ttl, 600);

    refused("AUTHD_ACCESS_TOKEN_TTL", "59s", "60s",
            "invalid AUTHD_ACCESS_TOKEN_TTL \"59s\": less than 60");
    ck_assert_int_eq(cfg.access_token_ttl, 60);

    refused("AUTHD_ACCESS_TOKEN_TTL", "2d", "1d",
            "invalid AUTHD_ACCESS_TOKEN_TTL \"2d\": more than 86400");
    ck_assert_int_eq(cfg.access_token_ttl, 86400);

    refused("AUTHD_SESSION_TTL", "1w", "2h", "invalid AUTHD_SESSION_TTL "
            "\"1w\": expected a number of seconds");
    ck_assert_int_eq(cfg.session_ttl, 7200);

    refused("AUTHD_SESSION_TTL", "h", "3600", "invalid AUTHD_SESSION_TTL "
            "\"h\": expected a number of seconds");
    refused("AUTHD_SESSION_TTL", "1hh", "1h", "invalid AUTHD_SESSION_TTL "
            "\"1hh\": expected a number of seconds");

    refused("AUTHD_KEY_PUBLISH_DELAY", "31d", "0",
            "invalid AUTHD_KEY_PUBLISH_DELAY \"31d\": more than 2592000");
    ck_assert_int_eq(cfg.key_publish_delay, 0);
}
END_TEST


START_TEST(test_bool_level)
{
    refused("AUTHD_COOKIE_SECURE", "maybe", "off",
            "invalid AUTHD_COOKIE_SECURE \"maybe\": expected true or false");
    ck_assert_int_eq(cfg.cookie_secure, 0);

    setenv("AUTHD_COOKIE_SECURE", "FALSE", 1);
    ck_assert_int_eq(load(0), 0);
    ck_assert_int_eq(cfg.cookie_secure, 0);

    setenv("AUTHD_COOKIE_SECURE", "yes", 1);
    ck_assert_int_eq(load(0), 0);
    ck_assert_int_eq(cfg.cookie_secure, 1);

    refused("AUTHD_LOG_LEVEL", "verbose", "debug",
            "invalid AUTHD_LOG_LEVEL \"verbose\": expected debug, info, "
            "warn or error");
    ck_assert_int_eq(cfg.log_level, CFG_LOG_DEBUG);
}
END_TEST


START_TEST(test_addr)
{
    refused("AUTHD_LISTEN", "nonsense", "127.0.0.1:9000",
            "invalid AUTHD_LISTEN \"nonsense\": expected host:port");
    ck_assert_int_eq(cfg.listen.port, 9000);
    ck_assert_str_eq(cfg.listen.text, "127.0.0.1:9000");

    refused("AUTHD_LISTEN", ":8400", "0.0.0.0:8400",
            "invalid AUTHD_LISTEN \":8400\": expected host:port");
    refused("AUTHD_LISTEN", "127.0.0.1:", "127.0.0.1:1",
            "invalid AUTHD_LISTEN \"127.0.0.1:\": expected host:port");
    refused("AUTHD_LISTEN", "127.0.0.1:0", "127.0.0.1:65535",
            "invalid AUTHD_LISTEN \"127.0.0.1:0\": port out of range");
    refused("AUTHD_LISTEN", "127.0.0.1:65536", "127.0.0.1:65535",
            "invalid AUTHD_LISTEN \"127.0.0.1:65536\": port out of range");
    refused("AUTHD_LISTEN", "127.0.0.1:http", "127.0.0.1:80",
            "invalid AUTHD_LISTEN \"127.0.0.1:http\": expected host:port");
    refused("AUTHD_ADMIN_LISTEN", "::1:8401", "[::1]:8401",
            "invalid AUTHD_ADMIN_LISTEN \"::1:8401\": an IPv6 address goes "
            "in brackets");
    ck_assert_int_eq(cfg.admin_listen.sa.ss_family, AF_INET6);
    ck_assert_int_eq(cfg.admin_listen.port, 8401);

    refused("AUTHD_ADMIN_LISTEN", "[]:8401", "[::]:8401",
            "invalid AUTHD_ADMIN_LISTEN \"[]:8401\": expected host:port");
}
END_TEST


START_TEST(test_url)
{
    refused("AUTHD_ISSUER", "ftp://auth.example", "https://auth.example",
            "invalid AUTHD_ISSUER \"ftp://auth.example\": expected an http "
            "or https URL without query or fragment");
    ck_assert_str_eq(cfg.issuer, "https://auth.example");

    refused("AUTHD_ISSUER", "https://auth.example/?a=b",
            "https://auth.example/oauth",
            "invalid AUTHD_ISSUER \"https://auth.example/?a=b\": expected an "
            "http or https URL without query or fragment");
    refused("AUTHD_AUDIENCE", "http://api.example/fhir#x",
            "http://api.example/fhir",
            "invalid AUTHD_AUDIENCE \"http://api.example/fhir#x\": expected "
            "an http or https URL without query or fragment");
    refused("AUTHD_AUDIENCE", "http:///fhir", "http://h/fhir",
            "invalid AUTHD_AUDIENCE \"http:///fhir\": expected an http or "
            "https URL without query or fragment");
}
END_TEST


START_TEST(test_secrets)
{
    refused("AUTHD_KEY_PASSPHRASE", "fifteen chars!!", "sixteen chars!!!",
            "invalid AUTHD_KEY_PASSPHRASE: shorter than 16 characters");

    refused("DATABASE_URL", "host=db password=hunter2 bogus=1",
            "host=db password=hunter2 dbname=authd",
            "invalid DATABASE_URL: not a libpq connection string");

    refused("DATABASE_URL", "postgresql://u:hunter2@db/authd?bogus=1",
            "postgresql://u:hunter2@db/authd?sslmode=disable",
            "invalid DATABASE_URL: not a libpq connection string");
}
END_TEST


/* a value cannot forge a second log line, nor close the quotes */

START_TEST(test_value_shown_safely)
{
    refused("AUTHD_THREADS", "1\n2\"x", "2",
            "invalid AUTHD_THREADS \"1?2?x\": expected a number");
}
END_TEST


static char *
write_file(const char *text)
{
    int          fd;
    static char  path[64];

    snprintf(path, sizeof(path), "/tmp/check_authd_config.XXXXXX");
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (int) strlen(text));
    close(fd);

    return path;
}


START_TEST(test_file)
{
    char  *path, msg[256];

    path = write_file("# authd settings\n"
                      "\n"
                      "AUTHD_THREADS=7\n"
                      "  AUTHD_DB_POOL = 3\n"
                      "AUTHD_KEY_PASSPHRASE=a passphrase ending in a space \n"
                      "AUTHD_POLICY_PATH=/var/lib/authd/policy.json\r\n");
    setenv("AUTHD_CONFIG_FILE", path, 1);
    setenv("AUTHD_DB_POOL", "5", 1);

    ck_assert_int_eq(load(0), 0);
    ck_assert_int_eq(cfg.threads, 7);
    ck_assert_int_eq(cfg.db_pool, 5);
    ck_assert_str_eq(cfg.key_passphrase, "a passphrase ending in a space ");
    ck_assert_str_eq(cfg.policy_path, "/var/lib/authd/policy.json");

    unlink(path);

    path = write_file("AUTHD_THREADS=2\nAUTHD_THRAEDS=3\n");
    setenv("AUTHD_CONFIG_FILE", path, 1);
    ck_assert_int_eq(load(0), -1);
    snprintf(msg, sizeof(msg), "%s:2: unknown setting \"AUTHD_THRAEDS\"",
             path);
    ck_assert_str_eq(err, msg);
    unlink(path);

    /* a line without '=' may be a secret pasted alone: not quoted */

    path = write_file("AUTHD_THREADS=2\nhunter2 hunter2\n");
    setenv("AUTHD_CONFIG_FILE", path, 1);
    ck_assert_int_eq(load(0), -1);
    snprintf(msg, sizeof(msg), "%s:2: expected KEY=VALUE", path);
    ck_assert_str_eq(err, msg);
    unlink(path);

    path = write_file("AUTHD_KEY_PASSPHRASE=too short\n");
    setenv("AUTHD_CONFIG_FILE", path, 1);
    ck_assert_int_eq(load(0), -1);
    ck_assert_str_eq(err,
                     "invalid AUTHD_KEY_PASSPHRASE: shorter than 16 "
                     "characters");

    /* the environment wins over the file */

    setenv("AUTHD_KEY_PASSPHRASE", "long enough from the environment", 1);
    ck_assert_int_eq(load(0), 0);
    ck_assert_str_eq(cfg.key_passphrase, "long enough from the environment");
    unlink(path);

    setenv("AUTHD_CONFIG_FILE", "/nonexistent/authd.conf", 1);
    ck_assert_int_eq(load(0), -1);
    ck_assert_str_eq(err, "fopen(\"/nonexistent/authd.conf\") failed: "
                     "No such file or directory");
}
END_TEST


static Suite *
config_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("authd_config");
    tc = tcase_create("settings");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_required);
    tcase_add_test(tc, test_int_bounds);
    tcase_add_test(tc, test_int_syntax);
    tcase_add_test(tc, test_durations);
    tcase_add_test(tc, test_bool_level);
    tcase_add_test(tc, test_addr);
    tcase_add_test(tc, test_url);
    tcase_add_test(tc, test_secrets);
    tcase_add_test(tc, test_value_shown_safely);
    tcase_add_test(tc, test_file);
    suite_add_tcase(s, tc);

    return s;
}


int
main(void)
{
    int       failed;
    SRunner  *sr;

    sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    return failed == 0 ? 0 : 1;
}
