/*
 * Response-side logic: URL rewriting at URL boundaries only, the patient
 * check on returned resources, the CapabilityStatement filter, the SMART
 * configuration document and OperationOutcome bodies.
 */

#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "bb_policy.h"
#include "bb_response.h"


#define FROM  "http://b/fhir"
#define TO    "https://api.example/v1/fhir"

#define KEY_X    "ftd06V5TGO-ScRHOssCyyZH6M5urQ7PQfGlMahM5gJo"
#define KEY_Y    "4sJseFPUi51J_yEqFa3cTFMq_xIQy95_2f4MjvR42zk"


static bb_buf_t  out;


static void
teardown(void)
{
    bb_buf_free(&out);
}


static int
rewrite(const char *in, const char *from, const char *to)
{
    bb_str_t  f, t;

    f.data = from;
    f.len = strlen(from);
    t.data = to;
    t.len = strlen(to);

    bb_buf_free(&out);

    return bb_rewrite_urls(in, strlen(in), f, t, &out);
}


#define assert_rewritten(in, n, expect)                                      \
    do {                                                                     \
        ck_assert_int_eq(rewrite(in, FROM, TO), n);                          \
        ck_assert_str_eq(bb_buf_cstr(&out), expect);                         \
    } while (0)

#define assert_kept(in)                                                      \
    do {                                                                     \
        ck_assert_int_eq(rewrite(in, FROM, TO), 0);                          \
        ck_assert_uint_eq(out.len, 0);                                       \
    } while (0)


START_TEST(test_rewrite_boundary_after)
{
    assert_rewritten(FROM "/Patient/1", 1, TO "/Patient/1");
    assert_kept(FROM "X/Patient/1");

    assert_rewritten(FROM, 1, TO);
    assert_kept(FROM "X");

    assert_rewritten(FROM "?_id=1", 1, TO "?_id=1");
    assert_kept(FROM "2?_id=1");

    assert_rewritten(FROM "#x", 1, TO "#x");
    assert_rewritten("\"" FROM "\"", 1, "\"" TO "\"");
    assert_rewritten("'" FROM "'", 1, "'" TO "'");
    assert_rewritten("<" FROM ">", 1, "<" TO ">");
    assert_rewritten("<a href=" FROM "<", 1, "<a href=" TO "<");
    assert_rewritten(FROM " x", 1, TO " x");
    assert_rewritten(FROM "\tx", 1, TO "\tx");
    assert_rewritten(FROM "\r\n", 1, TO "\r\n");
    assert_rewritten("[" FROM ",1]", 1, "[" TO ",1]");
    assert_rewritten("(" FROM ")", 1, "(" TO ")");
    assert_rewritten("[" FROM "]", 1, "[" TO "]");
    assert_rewritten("{" FROM "}", 1, "{" TO "}");

    assert_kept(FROM ".example/x");
    assert_kept(FROM "-old/x");
    assert_kept(FROM "_x/y");
    assert_kept(FROM ":8080/x");
}
END_TEST


START_TEST(test_rewrite_boundary_before)
{
    assert_rewritten(" " FROM "/P", 1, " " TO "/P");
    assert_kept("x" FROM "/P");
    assert_kept("1" FROM "/P");
    assert_kept("git+" FROM "/P");
    assert_kept("." FROM "/P");

    /* another scheme is another URL: "https://b/fhir" is no match */

    assert_kept("https://b/fhir/Patient");
}
END_TEST


START_TEST(test_rewrite_json_escapes)
{
    /* a JSON escape right after the base ends it */

    assert_rewritten("\"see \\\"" FROM "\\\"\"", 1,
                     "\"see \\\"" TO "\\\"\"");

    /* the form with escaped slashes is rewritten to the same form */

    assert_rewritten("{\"url\":\"http:\\/\\/b\\/fhir\\/Patient\\/1\"}", 1,
                     "{\"url\":\"https:\\/\\/api.example\\/v1\\/fhir"
                     "\\/Patient\\/1\"}");

    assert_kept("{\"url\":\"http:\\/\\/b\\/fhirX\\/Patient\\/1\"}");

    assert_rewritten("{\"a\":\"" FROM "/1\",\"b\":\"http:\\/\\/b\\/fhir\"}",
                     2,
                     "{\"a\":\"" TO "/1\",\"b\":\"https:\\/\\/api.example"
                     "\\/v1\\/fhir\"}");
}
END_TEST


START_TEST(test_rewrite_several)
{
    assert_rewritten("{\"fullUrl\":\"" FROM "/Patient/1\","
                     "\"link\":[\"" FROM "?_getpages=x\",\"" FROM "X\","
                     "\"" FROM "\"]}", 3,
                     "{\"fullUrl\":\"" TO "/Patient/1\","
                     "\"link\":[\"" TO "?_getpages=x\",\"" FROM "X\","
                     "\"" TO "\"]}");

    /* adjacent occurrences, the second one's start is the first one's end */

    assert_kept(FROM FROM);
    assert_rewritten(FROM " " FROM, 2, TO " " TO);
}
END_TEST


START_TEST(test_rewrite_none)
{
    bb_str_t  f = bb_string(FROM);
    bb_str_t  t = bb_string(TO);

    assert_kept("");
    assert_kept("{\"resourceType\":\"Patient\",\"id\":\"1\"}");
    assert_kept("http://b/fhi");

    /* out is left as it was: neither cleared nor written */

    bb_buf_free(&out);
    ck_assert_int_eq(bb_buf_append_str(&out, "keep"), 0);
    ck_assert_int_eq(bb_rewrite_urls("nothing", 7, f, t, &out), 0);
    ck_assert_str_eq(bb_buf_cstr(&out), "keep");

    ck_assert_int_eq(bb_rewrite_urls(FROM "/x", sizeof(FROM "/x") - 1, f, t,
                                     &out), 1);
    ck_assert_str_eq(bb_buf_cstr(&out), "keep" TO "/x");

    /* an empty base matches nothing */

    bb_buf_free(&out);
    ck_assert_int_eq(rewrite("abc", "", TO), 0);
    ck_assert_uint_eq(out.len, 0);
}
END_TEST


START_TEST(test_rewrite_base_with_slash)
{
    /* a base ending in '/' needs no boundary after it */

    ck_assert_int_eq(rewrite(FROM "/Patient", FROM "/", TO "/"), 1);
    ck_assert_str_eq(bb_buf_cstr(&out), TO "/Patient");

    /* any other base still ends at a boundary only */

    ck_assert_int_eq(rewrite(FROM "/Patient", FROM "/P", TO "/P"), 0);
    ck_assert_uint_eq(out.len, 0);

    ck_assert_int_eq(rewrite(FROM "/Patient/1", FROM "/Patient", "x"), 1);
    ck_assert_str_eq(bb_buf_cstr(&out), "x/1");
}
END_TEST


START_TEST(test_rewrite_header)
{
    /* a base without '/' takes the single scan */

    ck_assert_int_eq(rewrite("b:9000 and xb:9000", "b:9000", "api:443"), 1);
    ck_assert_str_eq(bb_buf_cstr(&out), "api:443 and xb:9000");
}
END_TEST


static int
belongs(const char *json, const char *type, const char *field)
{
    return bb_resource_belongs(json, strlen(json), type, field, "123");
}


#define COVERAGE(ref)                                                        \
    "{\"resourceType\":\"Coverage\",\"id\":\"c1\","                          \
    "\"beneficiary\":{\"reference\":\"" ref "\"}}"


START_TEST(test_belongs_reference)
{
    ck_assert_int_eq(belongs(COVERAGE("Patient/123"), "Coverage",
                             "beneficiary"), 1);
    ck_assert_int_eq(belongs(COVERAGE("Patient/456"), "Coverage",
                             "beneficiary"), 0);
    ck_assert_int_eq(belongs(COVERAGE("Patient/1234"), "Coverage",
                             "beneficiary"), 0);
    ck_assert_int_eq(belongs(COVERAGE("Patient/12"), "Coverage",
                             "beneficiary"), 0);
    ck_assert_int_eq(belongs(COVERAGE("Patient/0123"), "Coverage",
                             "beneficiary"), 0);
    ck_assert_int_eq(belongs(COVERAGE("Group/123"), "Coverage",
                             "beneficiary"), 0);
    ck_assert_int_eq(belongs(COVERAGE("Patient/"), "Coverage",
                             "beneficiary"), 0);
    ck_assert_int_eq(belongs(COVERAGE("xPatient/123"), "Coverage",
                             "beneficiary"), 0);

    /* absolute references, with or without a version */

    ck_assert_int_eq(belongs(COVERAGE("http://b/fhir/Patient/123"),
                             "Coverage", "beneficiary"), 1);
    ck_assert_int_eq(belongs(COVERAGE("https://b/fhir/Patient/123"),
                             "Coverage", "beneficiary"), 1);
    ck_assert_int_eq(belongs(COVERAGE("http://b/fhir/Patient/456"),
                             "Coverage", "beneficiary"), 0);
    ck_assert_int_eq(belongs(COVERAGE("http://b/fhir/xPatient/123"),
                             "Coverage", "beneficiary"), 0);
    ck_assert_int_eq(belongs(COVERAGE("fhir/Patient/123"),
                             "Coverage", "beneficiary"), 0);
    ck_assert_int_eq(belongs(COVERAGE("Patient/123/_history/2"),
                             "Coverage", "beneficiary"), 1);
    ck_assert_int_eq(belongs(COVERAGE("http://b/fhir/Patient/123/_history/2"),
                             "Coverage", "beneficiary"), 1);
    ck_assert_int_eq(belongs(COVERAGE("Patient/123/_history/"),
                             "Coverage", "beneficiary"), 0);
    ck_assert_int_eq(belongs(COVERAGE("Patient/123/_history/2/x"),
                             "Coverage", "beneficiary"), 0);
    ck_assert_int_eq(belongs(COVERAGE("Patient/456/_history/123"),
                             "Coverage", "beneficiary"), 0);
}
END_TEST


START_TEST(test_belongs_resource)
{
    ck_assert_int_eq(belongs(COVERAGE("Patient/123"), "Coverage",
                             "beneficiary"), 1);

    /* another type, another field, or the field in another shape */

    ck_assert_int_eq(belongs(COVERAGE("Patient/123"), "ExplanationOfBenefit",
                             "beneficiary"), 0);
    ck_assert_int_eq(belongs(COVERAGE("Patient/123"), "Coverage",
                             "patient"), 0);
    ck_assert_int_eq(belongs("{\"resourceType\":\"Coverage\","
                             "\"beneficiary\":\"Patient/123\"}",
                             "Coverage", "beneficiary"), 0);
    ck_assert_int_eq(belongs("{\"resourceType\":\"Coverage\","
                             "\"beneficiary\":{\"reference\":123}}",
                             "Coverage", "beneficiary"), 0);
    ck_assert_int_eq(belongs("{\"resourceType\":\"Coverage\","
                             "\"beneficiary\":{\"display\":\"Patient/123\"}}",
                             "Coverage", "beneficiary"), 0);

    /* a list of references: every one must be the patient's */

    ck_assert_int_eq(belongs("{\"resourceType\":\"Observation\","
                             "\"subject\":[{\"reference\":\"Patient/123\"},"
                             "{\"reference\":\"Patient/123\"}]}",
                             "Observation", "subject"), 1);
    ck_assert_int_eq(belongs("{\"resourceType\":\"Observation\","
                             "\"subject\":[{\"reference\":\"Patient/123\"},"
                             "{\"reference\":\"Patient/456\"}]}",
                             "Observation", "subject"), 0);
    ck_assert_int_eq(belongs("{\"resourceType\":\"Observation\","
                             "\"subject\":[]}", "Observation", "subject"), 0);

    /* an empty patient matches no reference, not even an empty id */

    ck_assert_int_eq(bb_resource_belongs(COVERAGE("Patient/"),
                                         strlen(COVERAGE("Patient/")),
                                         "Coverage", "beneficiary", ""), 0);
}
END_TEST


#define ENTRY(ref)                                                           \
    "{\"fullUrl\":\"x\",\"resource\":" COVERAGE(ref) "}"


START_TEST(test_belongs_bundle)
{
    ck_assert_int_eq(belongs("{\"resourceType\":\"Bundle\",\"type\":"
                             "\"history\",\"entry\":[" ENTRY("Patient/123") ","
                             ENTRY("Patient/123/_history/1") "]}",
                             "Coverage", "beneficiary"), 1);

    ck_assert_int_eq(belongs("{\"resourceType\":\"Bundle\",\"type\":"
                             "\"history\",\"entry\":[" ENTRY("Patient/123") ","
                             ENTRY("Patient/456") "]}",
                             "Coverage", "beneficiary"), 0);

    /* a deleted version has no resource, and discloses nothing */

    ck_assert_int_eq(belongs("{\"resourceType\":\"Bundle\",\"type\":"
                             "\"history\",\"entry\":[" ENTRY("Patient/123") ","
                             "{\"request\":{\"method\":\"DELETE\"}}]}",
                             "Coverage", "beneficiary"), 1);

    ck_assert_int_eq(belongs("{\"resourceType\":\"Bundle\",\"type\":"
                             "\"history\",\"entry\":[" ENTRY("Patient/123") ","
                             "{\"resource\":{\"resourceType\":\"Patient\","
                             "\"id\":\"123\"}}]}",
                             "Coverage", "beneficiary"), 0);

    ck_assert_int_eq(belongs("{\"resourceType\":\"Bundle\",\"type\":"
                             "\"history\",\"total\":0}",
                             "Coverage", "beneficiary"), 1);

    ck_assert_int_eq(belongs("{\"resourceType\":\"Bundle\",\"type\":"
                             "\"history\",\"entry\":[" ENTRY("Patient/123") ","
                             "\"x\"]}", "Coverage", "beneficiary"), -1);

    ck_assert_int_eq(belongs("{\"resourceType\":\"Bundle\",\"type\":"
                             "\"history\",\"entry\":{}}",
                             "Coverage", "beneficiary"), -1);
}
END_TEST


START_TEST(test_belongs_not_resource)
{
    ck_assert_int_eq(belongs(COVERAGE("Patient/123"), "Coverage",
                             "beneficiary"), 1);

    ck_assert_int_eq(belongs("not json", "Coverage", "beneficiary"), -1);
    ck_assert_int_eq(belongs("", "Coverage", "beneficiary"), -1);
    ck_assert_int_eq(belongs("[" COVERAGE("Patient/123") "]", "Coverage",
                             "beneficiary"), -1);
    ck_assert_int_eq(belongs("{\"beneficiary\":{\"reference\":"
                             "\"Patient/123\"}}", "Coverage",
                             "beneficiary"), -1);
    ck_assert_int_eq(belongs("{\"resourceType\":1}", "Coverage",
                             "beneficiary"), -1);
}
END_TEST


#define CAPABILITY                                                           \
    "{\"resourceType\":\"CapabilityStatement\",\"status\":\"active\","       \
    "\"fhirVersion\":\"4.0.1\",\"format\":[\"xml\",\"json\"],\"rest\":[{"    \
    "\"mode\":\"server\","                                                   \
    "\"security\":{\"cors\":true},"                                          \
    "\"resource\":["                                                         \
    "{\"type\":\"Observation\",\"interaction\":[{\"code\":\"read\"}]},"      \
    "{\"type\":\"Patient\",\"profile\":\"p\",\"interaction\":["              \
    "{\"code\":\"read\"},{\"code\":\"vread\"},{\"code\":\"update\"},"        \
    "{\"code\":\"patch\"},{\"code\":\"delete\"},"                            \
    "{\"code\":\"history-instance\"},{\"code\":\"history-type\"},"           \
    "{\"code\":\"create\"},{\"code\":\"search-type\"}],"                     \
    "\"searchInclude\":[\"*\"],\"searchRevInclude\":[\"*\"],"                \
    "\"searchParam\":[{\"name\":\"_id\",\"type\":\"token\"},"                \
    "{\"name\":\"name\",\"type\":\"string\"},"                               \
    "{\"name\":\"_has\",\"type\":\"special\"},"                               \
    "{\"name\":\"_revinclude\",\"type\":\"special\"},"                        \
    "{\"name\":\"_lastUpdated\",\"type\":\"date\"}],"                        \
    "\"operation\":[{\"name\":\"everything\",\"definition\":\"d\"}]},"       \
    "{\"type\":\"Coverage\",\"interaction\":["                               \
    "{\"code\":\"read\"},{\"code\":\"search-type\"}],"                       \
    "\"searchInclude\":[\"Coverage:payor\"],"                                \
    "\"searchParam\":[{\"name\":\"beneficiary\",\"type\":\"reference\"},"    \
    "{\"name\":\"status\",\"type\":\"token\"},"                              \
    "{\"name\":\"payor\",\"type\":\"reference\"},"                           \
    "{\"name\":\"_count\",\"type\":\"number\"}]},"                           \
    "{\"type\":\"ExplanationOfBenefit\",\"interaction\":["                   \
    "{\"code\":\"read\"},{\"code\":\"search-type\"}],"                       \
    "\"searchParam\":[{\"name\":\"patient\",\"type\":\"reference\"}]}],"     \
    "\"interaction\":[{\"code\":\"transaction\"},"                           \
    "{\"code\":\"history-system\"}],"                                        \
    "\"operation\":[{\"name\":\"reindex\",\"definition\":\"r\"}]}]}"

#define POLICY                                                               \
    "{\"policy_version\":1,\"issuer\":\"https://as\","                       \
    "\"audience\":\"https://api\",\"keys\":{\"keys\":[{\"kty\":\"EC\","      \
    "\"crv\":\"P-256\",\"alg\":\"ES256\",\"kid\":\"k1\","                    \
    "\"x\":\"" KEY_X "\",\"y\":\"" KEY_Y "\"}]},"                            \
    "\"resource_types\":{"                                                   \
    "\"Patient\":{\"interactions\":[\"read\",\"vread\",\"search\"],"         \
    "\"override_url_id\":true,\"override_search\":true,"                    \
    "\"search_block\":[\"_id\"],\"search_add\":[\"_id=%PATIENT%\"],"         \
    "\"widening_allow\":[\"_revinclude\"]},"                                 \
    "\"Coverage\":{\"interactions\":[\"read\",\"search\"],"                  \
    "\"override_search\":true,\"search_allow\":[\"status\",\"type\"],"       \
    "\"search_add\":[\"beneficiary=Patient/%PATIENT%\"]},"                   \
    "\"ExplanationOfBenefit\":{\"interactions\":[\"read\"]},"                \
    "\"Claim\":{\"interactions\":[\"read\"]}}}"


static bb_policy_t  *policy;


static void
capability_setup(void)
{
    char  err[256];

    policy = bb_policy_parse(POLICY, strlen(POLICY), err, sizeof(err));
    ck_assert_msg(policy != NULL, "%s", err);
}


static void
capability_teardown(void)
{
    bb_policy_free(policy);
    policy = NULL;
    bb_buf_free(&out);
}


/* the values of member "key" of each object of an array, joined by ',' */

static char *
join(json_t *array, const char *key)
{
    size_t       i;
    json_t      *item;
    bb_buf_t     b = { NULL, 0, 0 };
    const char  *s;
    static char  buf[512];

    json_array_foreach(array, i, item) {
        s = key ? json_string_value(json_object_get(item, key))
                : json_string_value(item);

        bb_buf_append_str(&b, i ? "," : "");
        bb_buf_append_str(&b, s ? s : "?");
    }

    snprintf(buf, sizeof(buf), "%s", b.data ? b.data : "");
    bb_buf_free(&b);

    return buf;
}


static json_t *
filter(const bb_smart_t *smart)
{
    int           rc;
    char          err[256];
    json_t       *root;
    json_error_t  jerr;

    bb_buf_free(&out);

    rc = bb_capability_filter(CAPABILITY, strlen(CAPABILITY), policy, smart,
                              &out, err, sizeof(err));
    ck_assert_msg(rc == 0, "%s", err);

    root = json_loadb(out.data, out.len, JSON_REJECT_DUPLICATES, &jerr);
    ck_assert_msg(root != NULL, "%s", jerr.text);

    return root;
}


#define HEAD                                                                 \
    "{\"resourceType\":\"CapabilityStatement\",\"status\":\"active\","       \
    "\"fhirVersion\":\"4.0.1\",\"format\":[\"application/fhir+json\","       \
    "\"json\"],\"rest\":[{"                                                  \
    "\"mode\":\"server\",\"resource\":[{\"type\":\"Patient\","


START_TEST(test_capability_types)
{
    json_t      *root, *rest, *res;
    bb_smart_t   smart = { "https://as/authorize", "https://as/token",
                           NULL, NULL, NULL, NULL };

    root = filter(&smart);

    /* compact, in upstream's order, top-level members untouched */

    ck_assert(strncmp(out.data, HEAD, sizeof(HEAD) - 1) == 0);

    rest = json_array_get(json_object_get(root, "rest"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(rest, "mode")),
                     "server");

    ck_assert_str_eq(join(json_object_get(rest, "resource"), "type"),
                     "Patient,Coverage,ExplanationOfBenefit");

    res = json_array_get(json_object_get(rest, "resource"), 0);
    ck_assert_str_eq(join(json_object_get(res, "interaction"), "code"),
                     "read,vread,search-type");
    ck_assert_ptr_null(json_object_get(res, "operation"));
    ck_assert_str_eq(json_string_value(json_object_get(res, "profile")), "p");

    /*
     * _id is set by the gateway; _has and _revinclude widen the search, and
     * the type allows only _revinclude
     */

    ck_assert_str_eq(join(json_object_get(res, "searchParam"), "name"),
                     "name,_revinclude,_lastUpdated");
    ck_assert_ptr_null(json_object_get(res, "searchInclude"));
    ck_assert_str_eq(join(json_object_get(res, "searchRevInclude"), NULL),
                     "*");

    res = json_array_get(json_object_get(rest, "resource"), 1);
    ck_assert_str_eq(join(json_object_get(res, "interaction"), "code"),
                     "read,search-type");
    ck_assert_str_eq(join(json_object_get(res, "searchParam"), "name"),
                     "status,_count");
    ck_assert_ptr_null(json_object_get(res, "searchInclude"));

    /* without search, no search parameter is advertised */

    res = json_array_get(json_object_get(rest, "resource"), 2);
    ck_assert_str_eq(join(json_object_get(res, "interaction"), "code"),
                     "read");
    ck_assert_ptr_null(json_object_get(res, "searchParam"));

    ck_assert_ptr_null(json_object_get(rest, "interaction"));
    ck_assert_ptr_null(json_object_get(rest, "operation"));

    json_decref(root);
}
END_TEST


START_TEST(test_capability_security)
{
    json_t      *root, *sec, *ext, *service;
    bb_smart_t   smart = { "https://as/authorize", "https://as/token",
                           "https://as/revoke", NULL, NULL, NULL };

    root = filter(&smart);

    sec = json_object_get(json_array_get(json_object_get(root, "rest"), 0),
                          "security");
    ck_assert_ptr_null(json_object_get(sec, "cors"));

    service = json_array_get(json_object_get(sec, "service"), 0);
    ck_assert_str_eq(join(json_object_get(service, "coding"), "code"),
                     "SMART-on-FHIR");
    ck_assert_str_eq(join(json_object_get(service, "coding"), "system"),
                     "http://terminology.hl7.org/CodeSystem/"
                     "restful-security-service");

    ext = json_array_get(json_object_get(sec, "extension"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(ext, "url")),
                     "http://fhir-registry.smarthealthit.org/"
                     "StructureDefinition/oauth-uris");

    ext = json_object_get(ext, "extension");
    ck_assert_str_eq(join(ext, "url"), "authorize,token,revoke");
    ck_assert_str_eq(join(ext, "valueUri"), "https://as/authorize,"
                     "https://as/token,https://as/revoke");

    json_decref(root);

    smart.revoke_url = NULL;
    smart.introspect_url = "https://as/introspect";

    root = filter(&smart);

    sec = json_object_get(json_array_get(json_object_get(root, "rest"), 0),
                          "security");
    ext = json_object_get(json_array_get(json_object_get(sec, "extension"),
                                         0), "extension");
    ck_assert_str_eq(join(ext, "url"), "authorize,token,introspect");

    json_decref(root);

    /* with no endpoints to tell, no security is claimed at all */

    root = filter(NULL);

    ck_assert_ptr_null(json_object_get(
        json_array_get(json_object_get(root, "rest"), 0), "security"));

    json_decref(root);
}
END_TEST


START_TEST(test_capability_refused)
{
    char          err[256];
    const char   *patient = "{\"resourceType\":\"Patient\",\"id\":\"1\"}";

    ck_assert_int_eq(bb_capability_filter(CAPABILITY, strlen(CAPABILITY),
                                          policy, NULL, &out, err,
                                          sizeof(err)), 0);
    ck_assert_uint_gt(out.len, 0);

    bb_buf_free(&out);

    ck_assert_int_eq(bb_capability_filter(patient, strlen(patient), policy,
                                          NULL, &out, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "not a CapabilityStatement");
    ck_assert_uint_eq(out.len, 0);

    ck_assert_int_eq(bb_capability_filter("[]", 2, policy, NULL, &out, err,
                                          sizeof(err)), -1);
    ck_assert_str_eq(err, "not a CapabilityStatement");

    ck_assert_int_eq(bb_capability_filter("<CapabilityStatement/>", 22,
                                          policy, NULL, &out, err,
                                          sizeof(err)), -1);
    ck_assert_str_eq(err, "invalid JSON: line 1 column 1: '[' or '{' "
                     "expected near '<'");
    ck_assert_uint_eq(out.len, 0);
}
END_TEST


static json_t *
smart_config(const bb_smart_t *smart)
{
    json_t       *root;
    json_error_t  jerr;

    bb_buf_free(&out);

    ck_assert_int_eq(bb_smart_configuration(smart, &out), 0);

    root = json_loadb(out.data, out.len, JSON_REJECT_DUPLICATES, &jerr);
    ck_assert_msg(root != NULL, "%s", jerr.text);

    return root;
}


#define assert_member(root, key, value)                                      \
    ck_assert_str_eq(json_string_value(json_object_get(root, key)), value)


START_TEST(test_smart_configuration)
{
    json_t      *root;
    bb_smart_t   smart = { "https://as/authorize", "https://as/token",
                           "https://as/revoke", "https://as/introspect",
                           "https://as", "https://as/jwks" };

    root = smart_config(&smart);

    assert_member(root, "issuer", "https://as");
    assert_member(root, "jwks_uri", "https://as/jwks");
    assert_member(root, "authorization_endpoint", "https://as/authorize");
    assert_member(root, "token_endpoint", "https://as/token");
    assert_member(root, "revocation_endpoint", "https://as/revoke");
    assert_member(root, "introspection_endpoint", "https://as/introspect");

    ck_assert_str_eq(join(json_object_get(root, "grant_types_supported"),
                          NULL), "authorization_code,refresh_token");
    ck_assert_str_eq(join(json_object_get(root,
                          "token_endpoint_auth_methods_supported"), NULL),
                     "client_secret_basic,client_secret_post");
    ck_assert_str_eq(join(json_object_get(root, "response_types_supported"),
                          NULL), "code");
    ck_assert_str_eq(join(json_object_get(root,
                          "code_challenge_methods_supported"), NULL), "S256");
    ck_assert_str_eq(join(json_object_get(root, "scopes_supported"), NULL),
                     "openid,fhirUser,launch/patient,offline_access,"
                     "patient/*.read,patient/*.rs");
    ck_assert_str_eq(join(json_object_get(root, "capabilities"), NULL),
                     "launch-standalone,client-public,"
                     "client-confidential-symmetric,"
                     "context-standalone-patient,permission-offline,"
                     "permission-patient,permission-v1,permission-v2");

    json_decref(root);

    /* optional members are left out rather than set to null */

    smart.revoke_url = NULL;
    smart.introspect_url = NULL;
    smart.issuer = NULL;
    smart.jwks_uri = NULL;

    root = smart_config(&smart);

    assert_member(root, "token_endpoint", "https://as/token");
    ck_assert_ptr_null(json_object_get(root, "issuer"));
    ck_assert_ptr_null(json_object_get(root, "jwks_uri"));
    ck_assert_ptr_null(json_object_get(root, "revocation_endpoint"));
    ck_assert_ptr_null(json_object_get(root, "introspection_endpoint"));

    json_decref(root);

    /* the two endpoints SMART requires */

    bb_buf_free(&out);
    smart.token_url = NULL;
    ck_assert_int_eq(bb_smart_configuration(&smart, &out), -1);
    ck_assert_uint_eq(out.len, 0);
}
END_TEST


START_TEST(test_operation_outcome)
{
    ck_assert_int_eq(bb_operation_outcome(BB_ISSUE_INVALID,
                                          "unknown type \"Foo\"", &out), 0);
    ck_assert_str_eq(bb_buf_cstr(&out),
                     "{\"resourceType\":\"OperationOutcome\",\"issue\":[{"
                     "\"severity\":\"error\",\"code\":\"invalid\","
                     "\"diagnostics\":\"unknown type \\\"Foo\\\"\"}]}");

    /* quotes, backslashes and control characters are escaped */

    bb_buf_free(&out);
    ck_assert_int_eq(bb_operation_outcome(BB_ISSUE_NOT_FOUND,
                                          "a\\b\"}]\n\x01", &out), 0);
    ck_assert_str_eq(bb_buf_cstr(&out),
                     "{\"resourceType\":\"OperationOutcome\",\"issue\":[{"
                     "\"severity\":\"error\",\"code\":\"not-found\","
                     "\"diagnostics\":\"a\\\\b\\\"}]\\n\\u0001\"}]}");

    /* bytes that are not UTF-8 do not lose the diagnostics */

    bb_buf_free(&out);
    ck_assert_int_eq(bb_operation_outcome(BB_ISSUE_INVALID,
                                          "bad \xff\xfe path", &out), 0);
    ck_assert_str_eq(bb_buf_cstr(&out),
                     "{\"resourceType\":\"OperationOutcome\",\"issue\":[{"
                     "\"severity\":\"error\",\"code\":\"invalid\","
                     "\"diagnostics\":\"bad ?? path\"}]}");

    bb_buf_free(&out);
    ck_assert_int_eq(bb_operation_outcome(BB_ISSUE_TRANSIENT, NULL, &out), 0);
    ck_assert_str_eq(bb_buf_cstr(&out),
                     "{\"resourceType\":\"OperationOutcome\",\"issue\":[{"
                     "\"severity\":\"error\",\"code\":\"transient\"}]}");
}
END_TEST


START_TEST(test_operation_outcome_codes)
{
    size_t  i;

    static const struct {
        bb_issue_t   code;
        const char  *text;
    } codes[] = {
        { BB_ISSUE_INVALID,       "\"code\":\"invalid\"" },
        { BB_ISSUE_SECURITY,      "\"code\":\"security\"" },
        { BB_ISSUE_LOGIN,         "\"code\":\"login\"" },
        { BB_ISSUE_FORBIDDEN,     "\"code\":\"forbidden\"" },
        { BB_ISSUE_NOT_FOUND,     "\"code\":\"not-found\"" },
        { BB_ISSUE_NOT_SUPPORTED, "\"code\":\"not-supported\"" },
        { BB_ISSUE_TOO_COSTLY,    "\"code\":\"too-costly\"" },
        { BB_ISSUE_TRANSIENT,     "\"code\":\"transient\"" },
        { BB_ISSUE_EXCEPTION,     "\"code\":\"exception\"" },
        { (bb_issue_t) 99,        "\"code\":\"exception\"" }
    };

    for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        bb_buf_free(&out);
        ck_assert_int_eq(bb_operation_outcome(codes[i].code, "x", &out), 0);
        ck_assert_msg(strstr(out.data, codes[i].text) != NULL,
                      "%s lacks %s", out.data, codes[i].text);
    }
}
END_TEST


static Suite *
response_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("response");

    tc = tcase_create("rewrite");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_rewrite_boundary_after);
    tcase_add_test(tc, test_rewrite_boundary_before);
    tcase_add_test(tc, test_rewrite_json_escapes);
    tcase_add_test(tc, test_rewrite_several);
    tcase_add_test(tc, test_rewrite_none);
    tcase_add_test(tc, test_rewrite_base_with_slash);
    tcase_add_test(tc, test_rewrite_header);
    suite_add_tcase(s, tc);

    tc = tcase_create("belongs");
    tcase_add_test(tc, test_belongs_reference);
    tcase_add_test(tc, test_belongs_resource);
    tcase_add_test(tc, test_belongs_bundle);
    tcase_add_test(tc, test_belongs_not_resource);
    suite_add_tcase(s, tc);

    tc = tcase_create("capability");
    tcase_add_checked_fixture(tc, capability_setup, capability_teardown);
    tcase_add_test(tc, test_capability_types);
    tcase_add_test(tc, test_capability_security);
    tcase_add_test(tc, test_capability_refused);
    suite_add_tcase(s, tc);

    tc = tcase_create("documents");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_smart_configuration);
    tcase_add_test(tc, test_operation_outcome);
    tcase_add_test(tc, test_operation_outcome_codes);
    suite_add_tcase(s, tc);

    return s;
}


int
main(void)
{
    int       failed;
    SRunner  *sr;

    sr = srunner_create(response_suite());

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
