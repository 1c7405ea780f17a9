/*
 * FHIR path classification and the upstream path: every supported shape
 * with every method, each hostile form next to the same path without the
 * defect, and the id override controls.
 */

#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "bb_request.h"


#define MAX_LEN  512


typedef struct {
    const char      *path;
    bb_path_kind_t   kind;

    /* indexed by bb_method_t; 0 means 405 */
    unsigned         interaction[BB_METHOD_OTHER + 1];
    unsigned         post_search[BB_METHOD_OTHER + 1];

    const char      *type;
    const char      *id;
    const char      *vid;
} shape_t;


typedef struct {
    const char  *path;
    size_t       len;           /* 0: strlen(path) */
    int          status;
    const char  *err;           /* when status != 0 */
} path_case_t;


static char  err[256];


static int
classify(bb_method_t method, const char *path, size_t len,
    bb_fhir_request_t *req)
{
    strcpy(err, "(unset)");

    return bb_path_classify(method, path, len, MAX_LEN, req, err,
                            sizeof(err));
}


static void
assert_slice(bb_str_t s, const char *path, const char *expect)
{
    ck_assert_uint_eq(s.len, strlen(expect));
    ck_assert(memcmp(s.data, expect, s.len) == 0);

    /* a slice of the request path itself, not a copy */

    if (s.len) {
        ck_assert(s.data >= path && s.data + s.len <= path + strlen(path));
    }
}


/*
 * Each supported shape against each method: the interaction it maps to,
 * or 0 for 405.
 */

static const shape_t  shapes[] = {
    { "Patient", BB_PATH_RESOURCE,
      { [BB_METHOD_GET] = BB_SEARCH, [BB_METHOD_HEAD] = BB_SEARCH,
        [BB_METHOD_POST] = BB_CREATE },
      { 0 }, "Patient", "", "" },

    { "Patient/_search", BB_PATH_RESOURCE,
      { [BB_METHOD_GET] = BB_SEARCH, [BB_METHOD_POST] = BB_SEARCH },
      { [BB_METHOD_POST] = 1 }, "Patient", "", "" },

    { "ExplanationOfBenefit/carrier-1.2", BB_PATH_RESOURCE,
      { [BB_METHOD_GET] = BB_READ, [BB_METHOD_HEAD] = BB_READ,
        [BB_METHOD_PUT] = BB_UPDATE, [BB_METHOD_DELETE] = BB_DELETE },
      { 0 }, "ExplanationOfBenefit", "carrier-1.2", "" },

    { "Coverage/part-a-1/_history", BB_PATH_RESOURCE,
      { [BB_METHOD_GET] = BB_HISTORY, [BB_METHOD_HEAD] = BB_HISTORY },
      { 0 }, "Coverage", "part-a-1", "" },

    { "Coverage/part-a-1/_history/7", BB_PATH_RESOURCE,
      { [BB_METHOD_GET] = BB_VREAD, [BB_METHOD_HEAD] = BB_VREAD },
      { 0 }, "Coverage", "part-a-1", "7" },

    { "metadata", BB_PATH_METADATA,
      { [BB_METHOD_GET] = 1, [BB_METHOD_HEAD] = 1 },
      { 0 }, "", "", "" },

    { ".well-known/smart-configuration", BB_PATH_SMART_CONFIG,
      { [BB_METHOD_GET] = 1, [BB_METHOD_HEAD] = 1 },
      { 0 }, "", "", "" },
};


START_TEST(test_shapes)
{
    int                 rc;
    bb_method_t         m;
    const shape_t      *sh;
    bb_fhir_request_t   req;

    sh = &shapes[_i];

    for (m = BB_METHOD_GET; m <= BB_METHOD_OTHER; m++) {
        rc = classify(m, sh->path, strlen(sh->path), &req);

        if (sh->interaction[m] == 0) {
            ck_assert_msg(rc == 405, "%s method %d: %d", sh->path, m, rc);
            ck_assert_str_eq(err, "method not allowed");
            continue;
        }

        ck_assert_msg(rc == 0, "%s method %d: %d %s", sh->path, m, rc, err);
        ck_assert_int_eq(req.kind, sh->kind);

        if (sh->kind == BB_PATH_RESOURCE) {
            ck_assert_uint_eq(req.interaction, sh->interaction[m]);

        } else {
            ck_assert_uint_eq(req.interaction, 0);
        }

        ck_assert_uint_eq(req.post_search, sh->post_search[m]);
        assert_slice(req.type, sh->path, sh->type);
        assert_slice(req.id, sh->path, sh->id);
        assert_slice(req.vid, sh->path, sh->vid);
    }
}
END_TEST


/*
 * Hostile and malformed paths, each after the same path without the
 * defect (status 0).
 */

static const path_case_t  cases[] = {
    { "Patient/1.2", 0, 0, NULL },
    { "Patient/..", 0, 400, "invalid path segment \"..\"" },
    { "Patient/.", 0, 400, "invalid path segment \".\"" },
    { "Patient/123", 0, 0, NULL },
    { "Patient/./123", 0, 400, "invalid path segment \".\"" },
    { "Patient/../Coverage/1", 0, 400, "invalid path segment \"..\"" },
    { "../Patient/123", 0, 400, "invalid path segment \"..\"" },
    { "Patient/123/_history/..", 0, 400, "invalid path segment \"..\"" },

    { "Patient/123", 0, 0, NULL },
    { "Patient%2F123", 0, 400, "percent-encoding in path is not allowed" },
    { "Patient%2f123", 0, 400, "percent-encoding in path is not allowed" },
    { "Patient/%2e%2e", 0, 400, "percent-encoding in path is not allowed" },
    { "Patient/123%00", 0, 400, "percent-encoding in path is not allowed" },
    { "Patient/%31", 0, 400, "percent-encoding in path is not allowed" },

    { "Patient/123", 0, 0, NULL },
    { "Patient//123", 0, 400, "empty path segment" },
    { "/Patient/123", 0, 400, "empty path segment" },
    { "Patient/123/", 0, 400, "empty path segment" },
    { "Patient/", 0, 400, "empty path segment" },
    { "/", 0, 400, "empty path segment" },

    { "Patient/123", 0, 0, NULL },
    { "Patient/123;jsessionid=1", 0, 400, "invalid character \";\" in path" },
    { "Patient\\123", 0, 400, "invalid character \"\\x5C\" in path" },
    { "Patient/123\0", 12, 400, "invalid character \"\\x00\" in path" },
    { "Patient/1\t23", 0, 400, "invalid character \"\\x09\" in path" },
    { "Patient/1 23", 0, 400, "invalid character \"\\x20\" in path" },
    { "Patient/123\r\n", 0, 400, "invalid character \"\\x0D\" in path" },
    { "Patient/12\x7f", 0, 400, "invalid character \"\\x7F\" in path" },
    { "Patient/\xc3\xa9", 0, 400, "invalid character \"\\xC3\" in path" },
    { "Patient/12\"3", 0, 400, "invalid character \"\\x22\" in path" },
    { "Patient/123?x=1", 0, 400, "invalid character \"?\" in path" },
    { "Patient/123#x", 0, 400, "invalid character \"#\" in path" },
    { "Patient/12:3", 0, 400, "invalid character \":\" in path" },
    { "Patient/1+2", 0, 400, "invalid character \"+\" in path" },

    { "Patient/ab", 0, 0, NULL },
    { "Patient/a$b", 0, 400, "invalid resource id \"a$b\"" },
    { "Patient/1/_history/2", 0, 0, NULL },
    { "Patient/1/_history/2$", 0, 400, "invalid version id \"2$\"" },
    { "Patient/"
      "1234567890123456789012345678901234567890123456789012345678901234",
      0, 0, NULL },
    { "Patient/"
      "12345678901234567890123456789012345678901234567890123456789012345",
      0, 400, "invalid resource id "
      "\"1234567890123456789012345678901234567890123456789012345678901234"
      "...\"" },

    /* system-level interactions and unknown types: 404 */

    { "", 0, 404, "unknown path" },
    { "Patient", 0, 0, NULL },
    { "patient", 0, 404, "unknown resource type \"patient\"" },
    { "PATIENT", 0, 0, NULL },
    { "1Patient", 0, 404, "unknown resource type \"1Patient\"" },
    { "Pat-ient", 0, 404, "unknown resource type \"Pat-ient\"" },
    { "Pat.ient", 0, 404, "unknown resource type \"Pat.ient\"" },
    { "_history", 0, 404, "unknown path" },
    { "_search", 0, 404, "unknown path" },
    { "Abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcd",
      0, 0, NULL },
    { "Abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcde",
      0, 404, "unknown resource type "
      "\"Abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcd"
      "...\"" },

    /* unknown shapes: 404 */

    { "Patient/123/_history", 0, 0, NULL },
    { "Patient/123/x", 0, 404, "unknown path" },
    { "Patient/123/_search", 0, 404, "unknown path" },
    { "Patient/123/_history/2/x", 0, 404, "unknown path" },
    { "Patient/123/_history/2/x/y", 0, 404, "unknown path" },
    { "Patient/123/_history/_x", 0, 404, "unknown path" },
    { "Patient/_search/x", 0, 404, "unknown path" },
    { "Patient/_history/1", 0, 404, "unknown path" },
    { "Patient/_foo", 0, 404, "unknown path" },
    { "metadata", 0, 0, NULL },
    { "metadata/x", 0, 404, "unknown path" },
    { ".well-known/smart-configuration", 0, 0, NULL },
    { ".well-known/openid-configuration", 0, 404, "unknown path" },
    { ".well-known/smart-configuration/x", 0, 404, "unknown path" },

    /* type-level history lists every patient's changes */

    { "Patient/123/_history", 0, 0, NULL },
    { "Patient/_history", 0, 403, "type-level history is not supported" },

    /* operations, at any level */

    { "Patient/123", 0, 0, NULL },
    { "Patient/123/$everything", 0, 400, "operations are not supported" },
    { "Patient/$match", 0, 400, "operations are not supported" },
    { "$export", 0, 400, "operations are not supported" },
    { "Patient/123/_history/$x", 0, 400, "operations are not supported" },
    { "Patient/123/$everything/x/y/z", 0, 400,
      "operations are not supported" },
};


START_TEST(test_cases)
{
    int                 rc;
    size_t              len;
    const path_case_t  *c;
    bb_fhir_request_t   req;

    c = &cases[_i];
    len = c->len ? c->len : strlen(c->path);

    rc = classify(BB_METHOD_GET, c->path, len, &req);

    ck_assert_msg(rc == c->status, "\"%s\": %d, expected %d (%s)",
                  c->path, rc, c->status, err);

    if (c->status != 0) {
        ck_assert_str_eq(err, c->err);
    }
}
END_TEST


START_TEST(test_too_long)
{
    int                 rc;
    bb_fhir_request_t   req;

    rc = bb_path_classify(BB_METHOD_GET, "Patient/123456789012", 20, 20,
                          &req, err, sizeof(err));
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(req.interaction, BB_READ);

    rc = bb_path_classify(BB_METHOD_GET, "Patient/1234567890123", 21, 20,
                          &req, err, sizeof(err));
    ck_assert_int_eq(rc, 400);
    ck_assert_str_eq(err, "request path too long");
}
END_TEST


/* the hostile forms are refused whatever the method */

START_TEST(test_hostile_any_method)
{
    int                 rc;
    bb_method_t         m;
    bb_fhir_request_t   req;

    for (m = BB_METHOD_GET; m <= BB_METHOD_OTHER; m++) {
        rc = classify(m, "Patient/..", 10, &req);
        ck_assert_int_eq(rc, 400);

        rc = classify(m, "Patient%2F1", 11, &req);
        ck_assert_int_eq(rc, 400);

        rc = classify(m, "Patient/1/$x", 12, &req);
        ck_assert_int_eq(rc, 400);

        rc = classify(m, "Patient/_history", 16, &req);
        ck_assert_int_eq(rc, 403);
    }
}
END_TEST


/* resource types for bb_path_rewrite */

static bb_resource_type_t  patient_rt = {
    .name = "Patient",
    .interactions = BB_READ | BB_VREAD | BB_HISTORY | BB_SEARCH,
    .override_url_id = 1,
    .url_id_mismatch = BB_ID_OVERRIDE,
};


static bb_resource_type_t  patient_nf_rt = {
    .name = "Patient",
    .interactions = BB_READ | BB_VREAD | BB_HISTORY | BB_SEARCH,
    .override_url_id = 1,
    .url_id_mismatch = BB_ID_NOT_FOUND,
};


static bb_param_t  eob_add[] = {
    { "patient", "%PATIENT%" },
};


static bb_resource_type_t  eob_rt = {
    .name = "ExplanationOfBenefit",
    .interactions = BB_READ | BB_SEARCH,
    .override_search = 1,
    .search_add = eob_add,
    .nsearch_add = 1,
};


static bb_param_t  fixed_add[] = {
    { "status", "active" },
};


static bb_resource_type_t  fixed_rt = {
    .name = "Organization",
    .interactions = BB_READ | BB_SEARCH,
    .override_search = 1,
    .search_add = fixed_add,
    .nsearch_add = 1,
};


static bb_resource_type_t  ref_rt = {
    .name = "Coverage",
    .interactions = BB_READ,
    .patient_reference = "beneficiary",
};


static bb_resource_type_t  open_rt = {
    .name = "Organization",
    .interactions = BB_READ | BB_SEARCH | BB_CREATE | BB_UPDATE
                    | BB_DELETE,
};


static bb_buf_t  out;


static int
rewrite(const bb_resource_type_t *rt, bb_method_t method, const char *path,
    const char *patient)
{
    int                rc;
    bb_fhir_request_t  req;

    bb_buf_free(&out);

    rc = classify(method, path, strlen(path), &req);
    ck_assert_msg(rc == 0, "classify \"%s\": %d %s", path, rc, err);

    strcpy(err, "(unset)");
    rc = bb_path_rewrite(rt, &req, patient, &out, err, sizeof(err));

    if (rc != 0) {
        ck_assert_uint_eq(out.len, 0);
    }

    return rc;
}


static const char *
result(void)
{
    return out.data ? out.data : "";
}


START_TEST(test_rewrite_override)
{
    ck_assert_int_eq(rewrite(&patient_rt, BB_METHOD_GET, "Patient/other",
                             "123"), 0);
    ck_assert_str_eq(result(), "Patient/123");

    ck_assert_int_eq(rewrite(&patient_rt, BB_METHOD_GET,
                             "Patient/other/_history/3", "123"), 0);
    ck_assert_str_eq(result(), "Patient/123/_history/3");

    ck_assert_int_eq(rewrite(&patient_rt, BB_METHOD_HEAD,
                             "Patient/other/_history", "123"), 0);
    ck_assert_str_eq(result(), "Patient/123/_history");

    ck_assert_int_eq(rewrite(&patient_rt, BB_METHOD_PUT, "Patient/other",
                             "123"), 0);
    ck_assert_str_eq(result(), "Patient/123");

    ck_assert_int_eq(rewrite(&patient_rt, BB_METHOD_DELETE, "Patient/other",
                             "123"), 0);
    ck_assert_str_eq(result(), "Patient/123");

    /* the same id is kept as it is */

    ck_assert_int_eq(rewrite(&patient_rt, BB_METHOD_GET, "Patient/123",
                             "123"), 0);
    ck_assert_str_eq(result(), "Patient/123");

    /* shapes without an id are not touched */

    ck_assert_int_eq(rewrite(&patient_rt, BB_METHOD_GET, "Patient", "123"),
                     0);
    ck_assert_str_eq(result(), "Patient");

    ck_assert_int_eq(rewrite(&patient_rt, BB_METHOD_POST, "Patient/_search",
                             "123"), 0);
    ck_assert_str_eq(result(), "Patient/_search");

    ck_assert_int_eq(rewrite(&patient_rt, BB_METHOD_GET, "Patient/_search",
                             "123"), 0);
    ck_assert_str_eq(result(), "Patient");
}
END_TEST


START_TEST(test_rewrite_not_found)
{
    ck_assert_int_eq(rewrite(&patient_nf_rt, BB_METHOD_GET, "Patient/123",
                             "123"), 0);
    ck_assert_str_eq(result(), "Patient/123");

    ck_assert_int_eq(rewrite(&patient_nf_rt, BB_METHOD_GET, "Patient/124",
                             "123"), 404);
    ck_assert_str_eq(err, "resource not found");

    /* a prefix of the patient is another id */

    ck_assert_int_eq(rewrite(&patient_nf_rt, BB_METHOD_GET, "Patient/12",
                             "123"), 404);
    ck_assert_int_eq(rewrite(&patient_nf_rt, BB_METHOD_GET, "Patient/1234",
                             "123"), 404);

    ck_assert_int_eq(rewrite(&patient_nf_rt, BB_METHOD_GET,
                             "Patient/123/_history/2", "123"), 0);
    ck_assert_str_eq(result(), "Patient/123/_history/2");

    ck_assert_int_eq(rewrite(&patient_nf_rt, BB_METHOD_GET,
                             "Patient/124/_history/2", "123"), 404);
    ck_assert_str_eq(err, "resource not found");

    ck_assert_int_eq(rewrite(&patient_nf_rt, BB_METHOD_GET,
                             "Patient/124/_history", "123"), 404);
}
END_TEST


START_TEST(test_rewrite_no_patient)
{
    ck_assert_int_eq(rewrite(&patient_rt, BB_METHOD_GET, "Patient/1", "1"),
                     0);
    ck_assert_int_eq(rewrite(&patient_rt, BB_METHOD_GET, "Patient/1", NULL),
                     403);
    ck_assert_str_eq(err, "token has no patient");

    /* even where there is no id to override */

    ck_assert_int_eq(rewrite(&patient_rt, BB_METHOD_GET, "Patient", NULL),
                     403);
    ck_assert_str_eq(err, "token has no patient");

    /* search_add naming the patient */

    ck_assert_int_eq(rewrite(&eob_rt, BB_METHOD_GET,
                             "ExplanationOfBenefit/a", "1"), 0);
    ck_assert_str_eq(result(), "ExplanationOfBenefit/a");
    ck_assert_int_eq(rewrite(&eob_rt, BB_METHOD_GET,
                             "ExplanationOfBenefit/a", NULL), 403);
    ck_assert_str_eq(err, "token has no patient");

    /* a search_add without %PATIENT% needs none */

    ck_assert_int_eq(rewrite(&fixed_rt, BB_METHOD_GET, "Organization",
                             NULL), 0);
    ck_assert_str_eq(result(), "Organization");

    /* patient_reference */

    ck_assert_int_eq(rewrite(&ref_rt, BB_METHOD_GET, "Coverage/c1", "1"),
                     0);
    ck_assert_str_eq(result(), "Coverage/c1");
    ck_assert_int_eq(rewrite(&ref_rt, BB_METHOD_GET, "Coverage/c1", NULL),
                     403);
    ck_assert_str_eq(err, "token has no patient");
}
END_TEST


START_TEST(test_rewrite_invalid_patient)
{
    ck_assert_int_eq(rewrite(&patient_rt, BB_METHOD_GET, "Patient/1",
                             "-19990000000001.a"), 0);
    ck_assert_str_eq(result(), "Patient/-19990000000001.a");

    ck_assert_int_eq(rewrite(&patient_rt, BB_METHOD_GET, "Patient/1",
                             "../Coverage/2"), 403);
    ck_assert_str_eq(err, "invalid patient claim");

    ck_assert_int_eq(rewrite(&patient_rt, BB_METHOD_GET, "Patient/1", ".."),
                     403);
    ck_assert_int_eq(rewrite(&patient_rt, BB_METHOD_GET, "Patient/1", ""),
                     403);
    ck_assert_int_eq(rewrite(&patient_rt, BB_METHOD_GET, "Patient/1",
                             "1?_id=2"), 403);
    ck_assert_int_eq(rewrite(&patient_rt, BB_METHOD_GET, "Patient/1",
                             "12345678901234567890123456789012345678901234"
                             "567890123456789012345"), 403);
    ck_assert_str_eq(err, "invalid patient claim");

    /* and a type that does not use the claim does not look at it */

    ck_assert_int_eq(rewrite(&open_rt, BB_METHOD_GET, "Organization/o1",
                             "../x"), 0);
    ck_assert_str_eq(result(), "Organization/o1");
}
END_TEST


START_TEST(test_rewrite_uncontrolled)
{
    ck_assert_int_eq(rewrite(&open_rt, BB_METHOD_GET, "Organization/o1",
                             NULL), 0);
    ck_assert_str_eq(result(), "Organization/o1");

    ck_assert_int_eq(rewrite(&open_rt, BB_METHOD_GET,
                             "Organization/o1/_history/4", NULL), 0);
    ck_assert_str_eq(result(), "Organization/o1/_history/4");

    ck_assert_int_eq(rewrite(&open_rt, BB_METHOD_GET,
                             "Organization/o1/_history", "123"), 0);
    ck_assert_str_eq(result(), "Organization/o1/_history");

    ck_assert_int_eq(rewrite(&open_rt, BB_METHOD_POST, "Organization",
                             NULL), 0);
    ck_assert_str_eq(result(), "Organization");

    ck_assert_int_eq(rewrite(&open_rt, BB_METHOD_PUT, "Organization/o1",
                             NULL), 0);
    ck_assert_str_eq(result(), "Organization/o1");

    ck_assert_int_eq(rewrite(&open_rt, BB_METHOD_POST,
                             "Organization/_search", NULL), 0);
    ck_assert_str_eq(result(), "Organization/_search");
}
END_TEST


START_TEST(test_rewrite_fixed_paths)
{
    ck_assert_int_eq(rewrite(&open_rt, BB_METHOD_GET, "metadata", NULL), 0);
    ck_assert_str_eq(result(), "metadata");

    ck_assert_int_eq(rewrite(&open_rt, BB_METHOD_GET,
                             ".well-known/smart-configuration", NULL), 0);
    ck_assert_str_eq(result(), ".well-known/smart-configuration");
}
END_TEST


static Suite *
path_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("path");

    tc = tcase_create("classify");
    tcase_add_loop_test(tc, test_shapes, 0,
                        sizeof(shapes) / sizeof(shapes[0]));
    tcase_add_loop_test(tc, test_cases, 0,
                        sizeof(cases) / sizeof(cases[0]));
    tcase_add_test(tc, test_too_long);
    tcase_add_test(tc, test_hostile_any_method);
    suite_add_tcase(s, tc);

    tc = tcase_create("rewrite");
    tcase_add_test(tc, test_rewrite_override);
    tcase_add_test(tc, test_rewrite_not_found);
    tcase_add_test(tc, test_rewrite_no_patient);
    tcase_add_test(tc, test_rewrite_invalid_patient);
    tcase_add_test(tc, test_rewrite_uncontrolled);
    tcase_add_test(tc, test_rewrite_fixed_paths);
    suite_add_tcase(s, tc);

    return s;
}


int
main(void)
{
    int       failed;
    SRunner  *sr;

    sr = srunner_create(path_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    bb_buf_free(&out);

    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
