/*
 * The pure helpers the public endpoints share (oauth_http.c): scope
 * membership and coverage (which decides whether consent is skipped),
 * the scopes that need a patient id, error descriptions made fit for RFC
 * 6749, the bytea form of a secret's hash, and the issuer's URLs.  Each
 * refusal sits next to an input that passes.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "config.h"
#include "crypto.h"
#include "oauth_http.h"


START_TEST(test_has_scope)
{
    const char  *scope = "openid patient/*.read offline_access";

    ck_assert_int_eq(oauth_http_has_scope(scope, "openid"), 1);
    ck_assert_int_eq(oauth_http_has_scope(scope, "patient/*.read"), 1);
    ck_assert_int_eq(oauth_http_has_scope(scope, "offline_access"), 1);

    /* prefixes, suffixes and parts of a scope are not the scope */

    ck_assert_int_eq(oauth_http_has_scope(scope, "open"), 0);
    ck_assert_int_eq(oauth_http_has_scope(scope, "id"), 0);
    ck_assert_int_eq(oauth_http_has_scope(scope, "access"), 0);
    ck_assert_int_eq(oauth_http_has_scope(scope, "patient/*"), 0);
    ck_assert_int_eq(oauth_http_has_scope("xopenid", "openid"), 0);
    ck_assert_int_eq(oauth_http_has_scope("openidx openid", "openid"), 1);
    ck_assert_int_eq(oauth_http_has_scope("", "openid"), 0);
}
END_TEST


START_TEST(test_scope_covers)
{
    const char  *granted = "openid launch/patient patient/*.read";

    ck_assert_int_eq(oauth_http_scope_covers(granted, "openid"), 1);
    ck_assert_int_eq(oauth_http_scope_covers(granted,
                                             "patient/*.read openid"), 1);
    ck_assert_int_eq(oauth_http_scope_covers(granted, granted), 1);

    /* one scope more than granted is not covered */

    ck_assert_int_eq(oauth_http_scope_covers(granted,
                                             "openid offline_access"), 0);
    ck_assert_int_eq(oauth_http_scope_covers(granted,
                                             "patient/Coverage.read"), 0);
    ck_assert_int_eq(oauth_http_scope_covers("", "openid"), 0);
}
END_TEST


START_TEST(test_needs_patient)
{
    ck_assert_int_eq(oauth_http_scope_needs_patient("patient/*.read"), 1);
    ck_assert_int_eq(oauth_http_scope_needs_patient(
                         "openid patient/Coverage.rs"), 1);
    ck_assert_int_eq(oauth_http_scope_needs_patient("launch/patient"), 1);

    ck_assert_int_eq(oauth_http_scope_needs_patient("openid profile"), 0);
    ck_assert_int_eq(oauth_http_scope_needs_patient(
                         "openid fhirUser offline_access"), 0);
    ck_assert_int_eq(oauth_http_scope_needs_patient("xpatient/a.read"), 0);
}
END_TEST


START_TEST(test_scope_split)
{
    char         s[] = "openid patient/*.read offline_access";
    const char  *out[2];

    ck_assert_uint_eq(oauth_http_scope_split(s, out, 2), 2);
    ck_assert_str_eq(out[0], "openid");
    ck_assert_str_eq(out[1], "patient/*.read");
}
END_TEST


START_TEST(test_description)
{
    char  out[32];

    /* RFC 6749 5.2 allows neither '"' nor '\' */

    oauth_http_description("unsupported prompt \"x\\y\"", out, sizeof(out));
    ck_assert_str_eq(out, "unsupported prompt 'x/y'");

    oauth_http_description("caf\xc3\xa9\tnow", out, sizeof(out));
    ck_assert_str_eq(out, "caf???now");

    oauth_http_description("the code has expired", out, sizeof(out));
    ck_assert_str_eq(out, "the code has expired");

    oauth_http_description("0123456789012345678901234567890123456789", out,
                           sizeof(out));
    ck_assert_str_eq(out, "0123456789012345678901234567890");
}
END_TEST


START_TEST(test_hash)
{
    char  out[OAUTH_HASH_PARAM_SIZE];

    /* SHA-256("abc"), FIPS 180-2 */

    oauth_http_hash("abc", out);
    ck_assert_str_eq(out, "\\xba7816bf8f01cfea414140de5dae2223b00361a396177"
                          "a9cb410ff61f20015ad");
}
END_TEST


START_TEST(test_url)
{
    char  *url;

    authd_cfg.issuer = "https://auth.example";
    url = oauth_http_url("/token");
    ck_assert_str_eq(url, "https://auth.example/token");
    free(url);

    authd_cfg.issuer = "https://auth.example/base/";
    url = oauth_http_url("/jwks.json");
    ck_assert_str_eq(url, "https://auth.example/base/jwks.json");
    free(url);
}
END_TEST


static Suite *
oauth_http_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("authd_oauth_http");

    tc = tcase_create("scopes");
    tcase_add_test(tc, test_has_scope);
    tcase_add_test(tc, test_scope_covers);
    tcase_add_test(tc, test_needs_patient);
    tcase_add_test(tc, test_scope_split);
    suite_add_tcase(s, tc);

    tc = tcase_create("values");
    tcase_add_test(tc, test_description);
    tcase_add_test(tc, test_hash);
    tcase_add_test(tc, test_url);
    suite_add_tcase(s, tc);

    return s;
}


int
main(void)
{
    int       failed;
    SRunner  *sr;

    sr = srunner_create(oauth_http_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
