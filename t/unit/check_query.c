/*
 * FHIR query rewriting: each rule on the canonical output, with every
 * refused or removed parameter next to a query that passes.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "bb_request.h"


/* ExplanationOfBenefit: the patient is added, the client's never passes */

static char        *eob_block[] = { "_id" };
static bb_param_t   eob_add[] = { { "patient", "%PATIENT%" } };

static bb_resource_type_t  eob_rt = {
    .name = "ExplanationOfBenefit",
    .interactions = BB_READ | BB_SEARCH,
    .override_search = 1,
    .search_action = BB_SEARCH_DROP,
    .search_block = eob_block,
    .nsearch_block = 1,
    .search_add = eob_add,
    .nsearch_add = 1,
};

static bb_resource_type_t  eob_refuse_rt = {
    .name = "ExplanationOfBenefit",
    .interactions = BB_READ | BB_SEARCH,
    .override_search = 1,
    .search_action = BB_SEARCH_REFUSE,
    .search_block = eob_block,
    .nsearch_block = 1,
    .search_add = eob_add,
    .nsearch_add = 1,
};


/* Patient: a search finds the token's patient only */

static bb_param_t  patient_add[] = { { "_id", "%PATIENT%" } };

static bb_resource_type_t  patient_rt = {
    .name = "Patient",
    .interactions = BB_READ | BB_SEARCH,
    .override_url_id = 1,
    .override_search = 1,
    .search_add = patient_add,
    .nsearch_add = 1,
};


/* Coverage: an allowlist, with two added parameters */

static char        *cov_allow[] = { "type", "status" };
static char        *cov_widening[] = { "_include" };
static bb_param_t   cov_add[] = {
    { "beneficiary", "Patient/%PATIENT%" },
    { "payor", "cms" },
};

static bb_resource_type_t  cov_rt = {
    .name = "Coverage",
    .interactions = BB_READ | BB_SEARCH,
    .override_search = 1,
    .has_search_allow = 1,
    .search_action = BB_SEARCH_DROP,
    .search_add = cov_add,
    .nsearch_add = 2,
    .search_allow = cov_allow,
    .nsearch_allow = 2,
    .widening_allow = cov_widening,
    .nwidening_allow = 1,
};

static bb_resource_type_t  cov_refuse_rt = {
    .name = "Coverage",
    .interactions = BB_READ | BB_SEARCH,
    .override_search = 1,
    .has_search_allow = 1,
    .search_action = BB_SEARCH_REFUSE,
    .search_add = cov_add,
    .nsearch_add = 2,
    .search_allow = cov_allow,
    .nsearch_allow = 2,
};


/* a type without search controls */

static bb_resource_type_t  open_rt = {
    .name = "Organization",
    .interactions = BB_READ | BB_SEARCH,
};


static bb_buf_t  out;
static char      err[256];


static int
rewrite_form(const bb_resource_type_t *rt, unsigned interaction,
    const char *patient, const char *query, const char *form)
{
    int  rc;

    bb_buf_free(&out);
    strcpy(err, "(unset)");

    rc = bb_query_rewrite(rt, interaction, patient, query,
                          query ? strlen(query) : 0, form,
                          form ? strlen(form) : 0, &out, err, sizeof(err));

    /* a refused query leaves nothing behind */

    if (rc != 0) {
        ck_assert_uint_eq(out.len, 0);
    }

    return rc;
}


static int
rewrite(const bb_resource_type_t *rt, const char *query)
{
    return rewrite_form(rt, BB_SEARCH, "123", query, NULL);
}


static const char *
result(void)
{
    return out.data ? out.data : "";
}


#define assert_rewrite(rt, query, expect)                                    \
    do {                                                                     \
        ck_assert_msg(rewrite(rt, query) == 0, "\"%s\": %s", query, err);    \
        ck_assert_str_eq(result(), expect);                                  \
    } while (0)


#define assert_refused(rt, query, status, message)                           \
    do {                                                                     \
        ck_assert_int_eq(rewrite(rt, query), status);                        \
        ck_assert_str_eq(err, message);                                      \
    } while (0)


START_TEST(test_patient_added)
{
    assert_rewrite(&eob_rt, "", "patient=123&_format=json");
    assert_rewrite(&eob_rt, "type=carrier",
                   "type=carrier&patient=123&_format=json");

    assert_rewrite(&eob_rt, "patient=other", "patient=123&_format=json");
    assert_rewrite(&eob_rt, "Patient=other", "patient=123&_format=json");
    assert_rewrite(&eob_rt, "pat%69ent=other", "patient=123&_format=json");
    assert_rewrite(&eob_rt, "PATIENT:exact=other",
                   "patient=123&_format=json");
    assert_rewrite(&eob_rt, "patient:missing=true",
                   "patient=123&_format=json");
    assert_rewrite(&eob_rt, "patient.identifier=x",
                   "patient=123&_format=json");
    assert_rewrite(&eob_rt, "patient:Patient=x", "patient=123&_format=json");
    assert_rewrite(&eob_rt, "patient", "patient=123&_format=json");

    /* a longer name is another parameter */

    assert_rewrite(&eob_rt, "patients=x",
                   "patients=x&patient=123&_format=json");

    /* each repeat is judged on its own */

    assert_rewrite(&eob_rt, "patient=a&type=carrier&patient=b&type=dme",
                   "type=carrier&type=dme&patient=123&_format=json");

    /* search_block */

    assert_rewrite(&eob_rt, "_id=1&type=carrier",
                   "type=carrier&patient=123&_format=json");
    assert_rewrite(&eob_rt, "_ID:not=1&type=carrier",
                   "type=carrier&patient=123&_format=json");
}
END_TEST


START_TEST(test_patient_type)
{
    assert_rewrite(&patient_rt, "_id=other&name=x",
                   "name=x&_id=123&_format=json");
    assert_rewrite(&patient_rt, "_ID=other", "_id=123&_format=json");
    assert_rewrite(&patient_rt, "_id:not=123", "_id=123&_format=json");
}
END_TEST


START_TEST(test_added_values)
{
    /* %PATIENT% inside a value, and a fixed value */

    assert_rewrite(&cov_rt, "type=a",
                   "type=a&beneficiary=Patient/123&payor=cms&_format=json");

    /* the client's payor never reaches the upstream */

    assert_rewrite(&cov_rt, "payor=other&type=a",
                   "type=a&beneficiary=Patient/123&payor=cms&_format=json");

    /* the patient claim is encoded like any value */

    ck_assert_int_eq(rewrite_form(&cov_rt, BB_SEARCH, "-1.a", "", NULL), 0);
    ck_assert_str_eq(result(),
                     "beneficiary=Patient/-1.a&payor=cms&_format=json");
}
END_TEST


START_TEST(test_widening)
{
    static const char  *widening[] = {
        "_has:Claim:patient:status=active",
        "_include=ExplanationOfBenefit:provider",
        "_include:iterate=ExplanationOfBenefit:provider",
        "_revinclude=Provenance:target",
        "_revinclude:iterate=Provenance:target",
        "_filter=patient%20eq%20other",
        "_contained=true",
        "_containedType=contained",
        "_INCLUDE=x",
        "_Has:Claim:patient:status=active",
        NULL
    };

    char         query[256];
    const char  **w;

    for (w = widening; *w; w++) {
        snprintf(query, sizeof(query), "type=carrier&%s", *w);
        assert_rewrite(&eob_rt, query,
                       "type=carrier&patient=123&_format=json");

        /* for every interaction */

        ck_assert_int_eq(rewrite_form(&eob_rt, BB_READ, "123", query, NULL),
                         0);
        ck_assert_str_eq(result(), "type=carrier&_format=json");

        ck_assert_int_eq(rewrite_form(&open_rt, BB_SEARCH, NULL, query,
                                      NULL), 0);
        ck_assert_str_eq(result(), "type=carrier&_format=json");
    }

    /* the type lets _include through, with its modifiers */

    assert_rewrite(&cov_rt, "_include=Coverage:payor",
                   "_include=Coverage:payor&beneficiary=Patient/123"
                   "&payor=cms&_format=json");
    assert_rewrite(&cov_rt, "_include:iterate=Coverage:payor",
                   "_include:iterate=Coverage:payor"
                   "&beneficiary=Patient/123&payor=cms&_format=json");
    assert_rewrite(&cov_rt, "_revinclude=Coverage:payor",
                   "beneficiary=Patient/123&payor=cms&_format=json");

    /* refused, with the action of the type */

    assert_refused(&eob_refuse_rt, "_include=ExplanationOfBenefit:provider",
                   400, "search parameter \"_include\" is not allowed");
    assert_refused(&eob_refuse_rt, "_revinclude:iterate=x", 400,
                   "search parameter \"_revinclude:iterate\" is not allowed");
    ck_assert_int_eq(rewrite_form(&eob_refuse_rt, BB_READ, "123",
                                  "_has:Claim:patient:x=1", NULL), 400);
    ck_assert_str_eq(err,
                     "search parameter \"_has:Claim:patient:x\" is not "
                     "allowed");
}
END_TEST


START_TEST(test_non_search)
{
    /* reads keep their parameters, the search controls do not apply */

    ck_assert_int_eq(rewrite_form(&eob_rt, BB_READ, "123",
                                  "patient=other&_id=1&_elements=id", NULL),
                     0);
    ck_assert_str_eq(result(), "patient=other&_id=1&_elements=id"
                     "&_format=json");

    ck_assert_int_eq(rewrite_form(&eob_rt, BB_VREAD, NULL, "", NULL), 0);
    ck_assert_str_eq(result(), "_format=json");

    ck_assert_int_eq(rewrite_form(&eob_rt, BB_HISTORY, NULL,
                                  "_count=2&_format=xml", NULL), 0);
    ck_assert_str_eq(result(), "_count=2&_format=json");

    /* a search on a type without override_search is not controlled */

    ck_assert_int_eq(rewrite_form(&open_rt, BB_SEARCH, NULL,
                                  "patient=x&name=y", NULL), 0);
    ck_assert_str_eq(result(), "patient=x&name=y&_format=json");
}
END_TEST


START_TEST(test_form)
{
    ck_assert_int_eq(rewrite_form(&eob_rt, BB_SEARCH, "123", "type=a",
                                  "service-date=gt2020&type=b"), 0);
    ck_assert_str_eq(result(),
                     "type=a&service-date=gt2020&type=b&patient=123"
                     "&_format=json");

    /* the body is judged like the query */

    ck_assert_int_eq(rewrite_form(&eob_rt, BB_SEARCH, "123", "type=a",
                                  "patient=other&Patient:missing=true"
                                  "&_include=x&_id=1&_format=xml"), 0);
    ck_assert_str_eq(result(), "type=a&patient=123&_format=json");

    ck_assert_int_eq(rewrite_form(&eob_rt, BB_SEARCH, "123", NULL,
                                  "type=a+b"), 0);
    ck_assert_str_eq(result(), "type=a%20b&patient=123&_format=json");

    ck_assert_int_eq(rewrite_form(&eob_refuse_rt, BB_SEARCH, "123",
                                  "type=a", "pat%69ent=other"), 400);
    ck_assert_str_eq(err, "search parameter \"patient\" is not allowed");

    ck_assert_int_eq(rewrite_form(&eob_rt, BB_SEARCH, "123", "type=a",
                                  "x=%zz"), 400);
    ck_assert_str_eq(err, "invalid percent-encoding in query");
}
END_TEST


START_TEST(test_values)
{
    /* '=' and '&' inside a value survive whole */

    assert_rewrite(&eob_rt, "type=a%3Db%26c",
                   "type=a%3Db%26c&patient=123&_format=json");
    assert_rewrite(&eob_rt, "type=a=b", "type=a%3Db&patient=123&_format=json");
    assert_rewrite(&eob_rt, "type=%3d", "type=%3D&patient=123&_format=json");

    /* '+' is a space, "%2B" a plus */

    assert_rewrite(&eob_rt, "type=a+b", "type=a%20b&patient=123&_format=json");
    assert_rewrite(&eob_rt, "type=a%2Bb",
                   "type=a%2Bb&patient=123&_format=json");
    assert_rewrite(&eob_rt, "type=a%20b",
                   "type=a%20b&patient=123&_format=json");

    /* what stays readable, and what is always encoded */

    assert_rewrite(&open_rt, "v=a:b,c|d/e*f@g!h$i~j-k.l_m",
                   "v=a:b,c%7Cd/e*f@g!h$i~j-k.l_m&_format=json");
    assert_rewrite(&open_rt, "v=a;b?c#d'e\"f%25g<h>",
                   "v=a%3Bb%3Fc%23d%27e%22f%25g%3Ch%3E&_format=json");
    assert_rewrite(&open_rt, "v=%2f%7C%3a", "v=/%7C:&_format=json");
    assert_rewrite(&open_rt, "v=%C3%A9", "v=%C3%A9&_format=json");
    assert_rewrite(&open_rt, "v=\xc3\xa9", "v=%C3%A9&_format=json");
    assert_rewrite(&open_rt, "v=%F0%9F%98%80", "v=%F0%9F%98%80&_format=json");

    /* a name without '=' keeps its meaning; an empty value stays one */

    assert_rewrite(&open_rt, "flag", "flag&_format=json");
    assert_rewrite(&open_rt, "flag=", "flag=&_format=json");
    assert_rewrite(&open_rt, "a&b=&c=1", "a&b=&c=1&_format=json");

    /* empty pairs are skipped */

    assert_rewrite(&eob_rt, "&&type=a&&", "type=a&patient=123&_format=json");
    assert_rewrite(&eob_rt, "&", "patient=123&_format=json");
}
END_TEST


START_TEST(test_format)
{
    assert_rewrite(&eob_rt, "_format=xml&type=a",
                   "type=a&patient=123&_format=json");
    assert_rewrite(&eob_rt, "_FORMAT=xml", "patient=123&_format=json");
    assert_rewrite(&eob_rt, "_format=json&_format=json",
                   "patient=123&_format=json");
    assert_rewrite(&eob_rt, "_Format:x=1", "patient=123&_format=json");
    assert_rewrite(&eob_rt, "_format", "patient=123&_format=json");

    /* even where _format would be blocked, it is removed silently */

    assert_rewrite(&cov_refuse_rt, "_format=xml&type=a",
                   "type=a&beneficiary=Patient/123&payor=cms&_format=json");

    /* a longer name is another parameter */

    assert_rewrite(&open_rt, "_formats=1", "_formats=1&_format=json");
}
END_TEST


START_TEST(test_allowlist)
{
    assert_rewrite(&cov_rt, "type=a&status=active",
                   "type=a&status=active&beneficiary=Patient/123&payor=cms"
                   "&_format=json");
    assert_rewrite(&cov_rt, "type=a&foo=b&TYPE:not=c",
                   "type=a&TYPE:not=c&beneficiary=Patient/123&payor=cms"
                   "&_format=json");

    /* result parameters always pass; _lastUpdated is a filter */

    assert_rewrite(&cov_rt,
                   "_count=10&_sort=-type&_elements=id&_summary=true"
                   "&_total=accurate&_lastUpdated=gt2020",
                   "_count=10&_sort=-type&_elements=id&_summary=true"
                   "&_total=accurate&beneficiary=Patient/123&payor=cms"
                   "&_format=json");

    /* refuse instead of drop */

    assert_rewrite(&cov_refuse_rt, "type=a&_count=5",
                   "type=a&_count=5&beneficiary=Patient/123&payor=cms"
                   "&_format=json");
    assert_refused(&cov_refuse_rt, "type=a&foo=b", 400,
                   "search parameter \"foo\" is not allowed");
    assert_refused(&cov_refuse_rt, "_lastUpdated=gt2020", 400,
                   "search parameter \"_lastUpdated\" is not allowed");
    assert_refused(&cov_refuse_rt, "beneficiary:missing=true", 400,
                   "search parameter \"beneficiary:missing\" is not allowed");
    assert_refused(&cov_refuse_rt, "_include=Coverage:payor", 400,
                   "search parameter \"_include\" is not allowed");

    /* the name in the message is cut */

    assert_refused(&cov_refuse_rt,
                   "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghij"
                   "abcdefghijabcdefghij=1", 400,
                   "search parameter \"abcdefghijabcdefghijabcdefghij"
                   "abcdefghijabcdefghijabcdefghijabcd...\" is not "
                   "allowed");
}
END_TEST


START_TEST(test_refuse)
{
    assert_rewrite(&eob_refuse_rt, "type=a",
                   "type=a&patient=123&_format=json");
    assert_refused(&eob_refuse_rt, "type=a&patient=other", 400,
                   "search parameter \"patient\" is not allowed");
    assert_refused(&eob_refuse_rt, "Patient=other", 400,
                   "search parameter \"Patient\" is not allowed");
    assert_refused(&eob_refuse_rt, "pat%69ent:exact=other", 400,
                   "search parameter \"patient:exact\" is not allowed");
    assert_refused(&eob_refuse_rt, "_id=1", 400,
                   "search parameter \"_id\" is not allowed");
}
END_TEST


START_TEST(test_names)
{
    assert_rewrite(&open_rt, "patient=x", "patient=x&_format=json");
    assert_refused(&open_rt, "pat+ient=x", 400,
                   "invalid parameter name \"pat\\x20ient\"");
    assert_refused(&eob_rt, "patient%20=x", 400,
                   "invalid parameter name \"patient\\x20\"");
    assert_refused(&eob_rt, "=x", 400, "invalid parameter name \"\"");
    assert_refused(&eob_rt, ":missing=x", 400,
                   "invalid parameter name \":missing\"");
    assert_refused(&eob_rt, "1a=x", 400, "invalid parameter name \"1a\"");
    assert_refused(&eob_rt, "p%C3%A9=x", 400,
                   "invalid parameter name \"p\\xC3\\xA9\"");
    assert_refused(&eob_rt, "a%22b=x", 400,
                   "invalid parameter name \"a\\x22b\"");
    assert_refused(&eob_rt, "patient[0]=x", 400,
                   "invalid parameter name \"patient[0]\"");
}
END_TEST


START_TEST(test_encoding_errors)
{
    assert_rewrite(&open_rt, "v=%41%6a", "v=Aj&_format=json");
    assert_refused(&open_rt, "v=%zz", 400, "invalid percent-encoding in query");
    assert_refused(&open_rt, "v=%4", 400, "invalid percent-encoding in query");
    assert_refused(&open_rt, "v=%", 400, "invalid percent-encoding in query");
    assert_refused(&open_rt, "v=%%41", 400,
                   "invalid percent-encoding in query");
    assert_refused(&open_rt, "%G1=x", 400, "invalid percent-encoding in query");

    assert_rewrite(&open_rt, "v=a%20b", "v=a%20b&_format=json");
    assert_refused(&open_rt, "v=a%00b", 400, "control character in query");
    assert_refused(&open_rt, "v=a%0Ab", 400, "control character in query");
    assert_refused(&open_rt, "v=a%7Fb", 400, "control character in query");
    assert_refused(&open_rt, "v=a%1fb", 400, "control character in query");
    assert_refused(&open_rt, "v=a\tb", 400, "control character in query");
    assert_refused(&open_rt, "a%00=b", 400, "control character in query");

    assert_rewrite(&open_rt, "v=%C3%A9%E2%82%AC%F4%8F%BF%BF",
                   "v=%C3%A9%E2%82%AC%F4%8F%BF%BF&_format=json");
    assert_refused(&open_rt, "v=%C3%28", 400, "invalid utf-8 in query");
    assert_refused(&open_rt, "v=%C3", 400, "invalid utf-8 in query");
    assert_refused(&open_rt, "v=%C0%AF", 400, "invalid utf-8 in query");
    assert_refused(&open_rt, "v=%E0%80%AF", 400, "invalid utf-8 in query");
    assert_refused(&open_rt, "v=%ED%A0%80", 400, "invalid utf-8 in query");
    assert_refused(&open_rt, "v=%F4%90%80%80", 400, "invalid utf-8 in query");
    assert_refused(&open_rt, "v=%FF", 400, "invalid utf-8 in query");
    assert_refused(&open_rt, "v=%80", 400, "invalid utf-8 in query");
    assert_refused(&open_rt, "v=\xc3", 400, "invalid utf-8 in query");
}
END_TEST


START_TEST(test_too_many)
{
    char      *query, *p;
    size_t     i;
    bb_buf_t   expect = { NULL, 0, 0 };

    query = malloc(300 * 8);
    ck_assert_ptr_nonnull(query);

    /* 256 parameters, with empty pairs that do not count */

    p = query;

    for (i = 0; i < 256; i++) {
        p += sprintf(p, "a=%zu&&", i % 10);
        bb_buf_append_str(&expect, i ? "&a=" : "a=");
        bb_buf_append_char(&expect, (char) ('0' + i % 10));
    }

    bb_buf_append_str(&expect, "&_format=json");

    assert_rewrite(&open_rt, query, expect.data);

    /* one more */

    strcpy(p, "b");
    assert_refused(&open_rt, query, 400, "too many query parameters");

    /* the form body counts with the query */

    p[0] = '\0';
    ck_assert_int_eq(rewrite_form(&open_rt, BB_SEARCH, NULL, query, "b=1"),
                     400);
    ck_assert_str_eq(err, "too many query parameters");

    /* removed parameters count too */

    p = query;

    for (i = 0; i < 256; i++) {
        p += sprintf(p, "%s_id=1", i ? "&" : "");
    }

    ck_assert_int_eq(rewrite_form(&eob_rt, BB_SEARCH, "1", query, NULL),
                     0);
    ck_assert_str_eq(result(), "patient=1&_format=json");

    strcpy(p, "&_id=1");
    ck_assert_int_eq(rewrite_form(&eob_rt, BB_SEARCH, "1", query, NULL),
                     400);
    ck_assert_str_eq(err, "too many query parameters");

    free(query);
    bb_buf_free(&expect);
}
END_TEST


START_TEST(test_patient_missing)
{
    ck_assert_int_eq(rewrite_form(&eob_rt, BB_SEARCH, "1", "type=a", NULL),
                     0);
    ck_assert_int_eq(rewrite_form(&eob_rt, BB_SEARCH, NULL, "type=a", NULL),
                     403);
    ck_assert_str_eq(err, "token has no patient");

    ck_assert_int_eq(rewrite_form(&eob_rt, BB_SEARCH, "1/x", "type=a",
                                  NULL), 403);
    ck_assert_str_eq(err, "invalid patient claim");

    /* no %PATIENT% is used outside a search */

    ck_assert_int_eq(rewrite_form(&eob_rt, BB_READ, NULL, "type=a", NULL),
                     0);
    ck_assert_str_eq(result(), "type=a&_format=json");
}
END_TEST


/* appending to a buffer that holds something, and leaving it on error */

START_TEST(test_append)
{
    int  rc;

    bb_buf_free(&out);
    bb_buf_append_str(&out, "x?");

    rc = bb_query_rewrite(&open_rt, BB_SEARCH, NULL, "a=1", 3, NULL, 0,
                          &out, err, sizeof(err));
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(out.data, "x?a=1&_format=json");

    rc = bb_query_rewrite(&open_rt, BB_SEARCH, NULL, "a=%", 3, NULL, 0,
                          &out, err, sizeof(err));
    ck_assert_int_eq(rc, 400);
    ck_assert_str_eq(out.data, "x?a=1&_format=json");
}
END_TEST


static Suite *
query_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("query");

    tc = tcase_create("rewrite");
    tcase_add_test(tc, test_patient_added);
    tcase_add_test(tc, test_patient_type);
    tcase_add_test(tc, test_added_values);
    tcase_add_test(tc, test_widening);
    tcase_add_test(tc, test_non_search);
    tcase_add_test(tc, test_form);
    tcase_add_test(tc, test_values);
    tcase_add_test(tc, test_format);
    tcase_add_test(tc, test_allowlist);
    tcase_add_test(tc, test_refuse);
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_encoding_errors);
    tcase_add_test(tc, test_too_many);
    tcase_add_test(tc, test_patient_missing);
    tcase_add_test(tc, test_append);
    suite_add_tcase(s, tc);

    return s;
}


int
main(void)
{
    int       failed;
    SRunner  *sr;

    sr = srunner_create(query_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    bb_buf_free(&out);

    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
