/*
 * SMART scopes: what each v1 and v2 form grants on a resource type, the
 * wildcards, and the scopes that must grant nothing, each next to the
 * nearest scope that does grant.
 */

#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "bb_policy.h"
#include "bb_scope.h"


#define C  BB_SCOPE_C
#define R  BB_SCOPE_R
#define U  BB_SCOPE_U
#define D  BB_SCOPE_D
#define S  BB_SCOPE_S


static unsigned
grants(const char *scope, const char *type)
{
    return bb_scope_grants(scope, strlen(scope), type, strlen(type));
}


#define assert_grants(scope, type, expect)                                   \
    ck_assert_msg(grants(scope, type) == (expect),                           \
                  "\"%s\" on %s grants 0x%x, expected 0x%x", scope, type,    \
                  grants(scope, type), (unsigned) (expect))


START_TEST(test_v1)
{
    assert_grants("patient/Coverage.read", "Coverage", R | S);
    assert_grants("patient/Coverage.write", "Coverage", C | U | D);
    assert_grants("patient/Coverage.*", "Coverage", C | R | U | D | S);
}
END_TEST


START_TEST(test_v2)
{
    assert_grants("patient/Coverage.cruds", "Coverage", C | R | U | D | S);
    assert_grants("patient/Coverage.rs", "Coverage", R | S);
    assert_grants("patient/Coverage.r", "Coverage", R);
    assert_grants("patient/Coverage.s", "Coverage", S);
    assert_grants("patient/Coverage.cud", "Coverage", C | U | D);
    assert_grants("patient/Coverage.cs", "Coverage", C | S);
    assert_grants("patient/Coverage.ud", "Coverage", U | D);
}
END_TEST


START_TEST(test_v2_out_of_order)
{
    assert_grants("patient/Coverage.rs", "Coverage", R | S);
    assert_grants("patient/Coverage.sr", "Coverage", 0);

    assert_grants("patient/Coverage.cud", "Coverage", C | U | D);
    assert_grants("patient/Coverage.duc", "Coverage", 0);

    assert_grants("patient/Coverage.r", "Coverage", R);
    assert_grants("patient/Coverage.rr", "Coverage", 0);

    assert_grants("patient/Coverage.cruds", "Coverage", C | R | U | D | S);
    assert_grants("patient/Coverage.crudss", "Coverage", 0);
}
END_TEST


START_TEST(test_type_wildcard)
{
    assert_grants("patient/*.read", "Coverage", R | S);
    assert_grants("patient/*.read", "ExplanationOfBenefit", R | S);
    assert_grants("patient/*.rs", "Patient", R | S);
    assert_grants("patient/*.*", "Patient", C | R | U | D | S);
}
END_TEST


START_TEST(test_type_match)
{
    assert_grants("patient/Coverage.read", "Coverage", R | S);
    assert_grants("patient/Coverage.read", "coverage", 0);
    assert_grants("patient/Coverage.read", "Cover", 0);
    assert_grants("patient/Coverage.read", "CoverageX", 0);
    assert_grants("patient/Coverage.read", "Patient", 0);
    assert_grants("patient/Cov*.read", "Coverage", 0);
}
END_TEST


START_TEST(test_other_contexts)
{
    assert_grants("patient/Coverage.read", "Coverage", R | S);
    assert_grants("user/Coverage.read", "Coverage", 0);
    assert_grants("system/Coverage.read", "Coverage", 0);
    assert_grants("Patient/Coverage.read", "Coverage", 0);
    assert_grants("/Coverage.read", "Coverage", 0);
    assert_grants("Coverage.read", "Coverage", 0);
}
END_TEST


START_TEST(test_non_resource_scopes)
{
    assert_grants("launch/patient openid fhirUser offline_access", "Patient",
                  0);
    assert_grants("patient/Patient.read", "Patient", R | S);
    assert_grants("launch/patient openid fhirUser offline_access "
                  "patient/Patient.read", "Patient", R | S);
}
END_TEST


START_TEST(test_v2_query_restriction)
{
    assert_grants("patient/Observation.rs", "Observation", R | S);
    assert_grants("patient/Observation.rs?category=laboratory",
                  "Observation", 0);
    assert_grants("patient/Observation.rs?", "Observation", 0);
}
END_TEST


START_TEST(test_malformed)
{
    assert_grants("patient/Coverage.read", "Coverage", R | S);
    assert_grants("patient/Coverage.", "Coverage", 0);
    assert_grants("patient/Coverage", "Coverage", 0);
    assert_grants("patient/.read", "Coverage", 0);
    assert_grants("patient/", "Coverage", 0);
    assert_grants("patient/Coverage.reads", "Coverage", 0);
    assert_grants("patient/Coverage.READ", "Coverage", 0);
    assert_grants("patient/Coverage.RS", "Coverage", 0);
    assert_grants("patient/Coverage.x", "Coverage", 0);
    assert_grants("patient/Coverage.read.write", "Coverage", 0);
    assert_grants("patient/Coverage.**", "Coverage", 0);
    assert_grants("patient/Coverage.r\ts", "Coverage", 0);
}
END_TEST


START_TEST(test_scope_list)
{
    assert_grants("patient/Coverage.r patient/Coverage.s", "Coverage", R | S);
    assert_grants("  patient/Coverage.r   patient/Patient.c  ", "Coverage", R);
    assert_grants("patient/Patient.c patient/Coverage.cud", "Coverage",
                  C | U | D);
    assert_grants("", "Coverage", 0);
    assert_grants(" ", "Coverage", 0);
}
END_TEST


START_TEST(test_length_bounds)
{
    const char  *scope = "patient/Coverage.read patient/Patient.read";

    /* only the first len bytes count, and only tlen bytes of the type */

    ck_assert_uint_eq(bb_scope_grants(scope, 21, "Patient", 7), 0);
    ck_assert_uint_eq(bb_scope_grants(scope, strlen(scope), "Patient", 7),
                      R | S);
    ck_assert_uint_eq(bb_scope_grants(scope, 19, "Coverage", 8), 0);
    ck_assert_uint_eq(bb_scope_grants(scope, 21, "Coverage", 8), R | S);
    ck_assert_uint_eq(bb_scope_grants(scope, 21, "CoverageXYZ", 8), R | S);
}
END_TEST


START_TEST(test_needed)
{
    unsigned  all;

    ck_assert_uint_eq(bb_scope_needed(BB_READ), R);
    ck_assert_uint_eq(bb_scope_needed(BB_VREAD), R);
    ck_assert_uint_eq(bb_scope_needed(BB_HISTORY), R);
    ck_assert_uint_eq(bb_scope_needed(BB_SEARCH), S);
    ck_assert_uint_eq(bb_scope_needed(BB_CREATE), C);
    ck_assert_uint_eq(bb_scope_needed(BB_UPDATE), U);
    ck_assert_uint_eq(bb_scope_needed(BB_DELETE), D);

    /* an unknown interaction needs what no scope grants */

    all = grants("patient/*.*", "Coverage");

    ck_assert_uint_eq((all & bb_scope_needed(BB_READ)), R);
    ck_assert_uint_eq((all & bb_scope_needed(0)), 0);
    ck_assert_uint_eq((all & bb_scope_needed(BB_READ | BB_SEARCH)), 0);
    ck_assert_uint_eq((all & bb_scope_needed(0x80)), 0);
}
END_TEST


static Suite *
scope_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("scope");
    tc = tcase_create("core");

    tcase_add_test(tc, test_v1);
    tcase_add_test(tc, test_v2);
    tcase_add_test(tc, test_v2_out_of_order);
    tcase_add_test(tc, test_type_wildcard);
    tcase_add_test(tc, test_type_match);
    tcase_add_test(tc, test_other_contexts);
    tcase_add_test(tc, test_non_resource_scopes);
    tcase_add_test(tc, test_v2_query_restriction);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_scope_list);
    tcase_add_test(tc, test_length_bounds);
    tcase_add_test(tc, test_needed);
    suite_add_tcase(s, tc);

    return s;
}


int
main(void)
{
    int       failed;
    SRunner  *sr;

    sr = srunner_create(scope_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
