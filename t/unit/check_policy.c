/*
 * The policy document: the example in conf/ loads, every refusal gives its
 * exact message (the JSON path and the quoted value), each next to the same
 * document without the defect, and the lookups find what the document holds.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "bb_policy.h"


#define EXAMPLE  "/conf/policy.json"

#define KEY_X    "ftd06V5TGO-ScRHOssCyyZH6M5urQ7PQfGlMahM5gJo"
#define KEY_Y    "4sJseFPUi51J_yEqFa3cTFMq_xIQy95_2f4MjvR42zk"

#define JWK(kid)                                                             \
    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"alg\":\"ES256\",\"kid\":\"" kid     \
    "\",\"x\":\"" KEY_X "\",\"y\":\"" KEY_Y "\"}"

#define HEAD                                                                 \
    "\"policy_version\":1,\"issuer\":\"https://as.example\","                \
    "\"audience\":\"https://api.example/fhir\""

#define KEYS     "\"keys\":{\"keys\":[" JWK("k1") "]}"


static char         err[512];
static char         built[65536];
static bb_policy_t *policy;


static void
teardown(void)
{
    bb_policy_free(policy);
    policy = NULL;
}


static bb_policy_t *
parse(const char *doc)
{
    bb_policy_free(policy);

    err[0] = '\0';
    policy = bb_policy_parse(doc, strlen(doc), err, sizeof(err));

    return policy;
}


/* a document whose only type, Patient, has the given body */

static bb_policy_t *
parse_type(const char *body)
{
    snprintf(built, sizeof(built), "{" HEAD "," KEYS ",\"resource_types\":"
             "{\"Patient\":{%s}}}", body);

    return parse(built);
}


/* a document with the given fields after the header and keys */

static bb_policy_t *
parse_with(const char *fields)
{
    snprintf(built, sizeof(built), "{" HEAD "," KEYS
             ",\"resource_types\":{}%s}", fields);

    return parse(built);
}


/* a document with the given JWK Set */

static bb_policy_t *
parse_keys(const char *jwks)
{
    snprintf(built, sizeof(built), "{" HEAD ",\"keys\":%s,"
             "\"resource_types\":{}}", jwks);

    return parse(built);
}


#define assert_ok(call)                                                      \
    ck_assert_msg((call) != NULL, "refused: %s", err)

#define assert_refused(call, msg)                                            \
    do {                                                                     \
        ck_assert_msg((call) == NULL, "accepted, expected \"%s\"", msg);     \
        ck_assert_str_eq(err, msg);                                          \
    } while (0)


START_TEST(test_example)
{
    char                       path[1024];
    size_t                     n;
    const bb_resource_type_t  *rt;

    /* the repository's root is three levels above the test data */

    n = strlen(BB_TEST_DATA) - strlen("/t/unit/data");
    snprintf(path, sizeof(path), "%.*s" EXAMPLE, (int) n, BB_TEST_DATA);

    policy = bb_policy_load(path, err, sizeof(err));
    ck_assert_msg(policy != NULL, "%s: %s", path, err);

    ck_assert_str_eq(policy->issuer, "http://127.0.0.1:8400");
    ck_assert_str_eq(policy->audience, "http://127.0.0.1:8080/v1/fhir");
    ck_assert_str_eq(policy->serial, "example-1");
    ck_assert_uint_eq(policy->nkeys, 1);
    ck_assert_ptr_nonnull(policy->keys[0].pkey);
    ck_assert_int_eq(policy->keys[0].alg, BB_ALG_ES256);
    ck_assert_uint_eq(policy->nrevoked, 0);

    /* sorted by name, whatever the document's order */

    ck_assert_uint_eq(policy->ntypes, 3);
    ck_assert_str_eq(policy->types[0].name, "Coverage");
    ck_assert_str_eq(policy->types[1].name, "ExplanationOfBenefit");
    ck_assert_str_eq(policy->types[2].name, "Patient");

    rt = bb_policy_type(policy, "Patient", 7);
    ck_assert_ptr_nonnull(rt);
    ck_assert_uint_eq(rt->interactions,
                      BB_READ | BB_VREAD | BB_SEARCH | BB_HISTORY);
    ck_assert(rt->override_url_id);
    ck_assert(rt->override_search);
    ck_assert_int_eq(rt->url_id_mismatch, BB_ID_OVERRIDE);
    ck_assert_uint_eq(rt->nsearch_block, 1);
    ck_assert_str_eq(rt->search_block[0], "_id");
    ck_assert_uint_eq(rt->nsearch_add, 1);
    ck_assert_str_eq(rt->search_add[0].name, "_id");
    ck_assert_str_eq(rt->search_add[0].value, "%PATIENT%");
    ck_assert_ptr_null(rt->patient_reference);
    ck_assert(bb_type_needs_patient(rt));

    rt = bb_policy_type(policy, "Coverage", 8);
    ck_assert_ptr_nonnull(rt);
    ck_assert_uint_eq(rt->interactions, BB_READ | BB_SEARCH);
    ck_assert(!rt->override_url_id);
    ck_assert_str_eq(rt->search_add[0].name, "beneficiary");
    ck_assert_str_eq(rt->search_add[0].value, "Patient/%PATIENT%");
    ck_assert_str_eq(rt->patient_reference, "beneficiary");
    ck_assert_int_eq(rt->search_action, BB_SEARCH_DROP);

    rt = bb_policy_type(policy, "ExplanationOfBenefit", 20);
    ck_assert_ptr_nonnull(rt);
    ck_assert_str_eq(rt->search_add[0].name, "patient");
    ck_assert_str_eq(rt->search_add[0].value, "%PATIENT%");
    ck_assert_str_eq(rt->patient_reference, "patient");
}
END_TEST


START_TEST(test_load_errors)
{
    char   path[] = "/tmp/check_policy_XXXXXX";
    int    fd;

    assert_refused(bb_policy_load("/nonexistent/policy.json", err,
                                  sizeof(err)),
                   "open() failed: No such file or directory");

    assert_refused(bb_policy_load("/tmp", err, sizeof(err)),
                   "not a regular file");

    /* a sparse file just over the limit, then exactly at it */

    fd = mkstemp(path);
    ck_assert_int_ne(fd, -1);

    ck_assert_int_eq(ftruncate(fd, 16 * 1024 * 1024 + 1), 0);
    assert_refused(bb_policy_load(path, err, sizeof(err)),
                   "file too large (16777217 bytes, at most 16777216)");

    /* at the limit it is read, and refused only for what it holds */

    ck_assert_int_eq(ftruncate(fd, 16 * 1024 * 1024), 0);
    ck_assert_ptr_null(bb_policy_load(path, err, sizeof(err)));
    ck_assert_msg(strncmp(err, "line 1 column ", 14) == 0, "%s", err);

    close(fd);
    unlink(path);
}
END_TEST


START_TEST(test_json_syntax)
{
    assert_ok(parse("{" HEAD "," KEYS ",\n\"resource_types\":{}\n}"));

    assert_refused(parse("{" HEAD "," KEYS ",\n\"resource_types\":{}\n,}"),
                   "line 3 column 2: string or '}' expected near '}'");

    assert_refused(parse("{" HEAD "," KEYS ",\n\"resource_types\":\n  x}"),
                   "line 3 column 3: invalid token near 'x'");

    assert_refused(parse(""), "line 1 column 0: '[' or '{' expected near "
                   "end of file");
}
END_TEST


START_TEST(test_duplicate_json_key)
{
    assert_ok(parse("{" HEAD "," KEYS ",\"resource_types\":{}}"));

    assert_refused(parse("{" HEAD "," KEYS ",\"resource_types\":{},"
                         "\"issuer\":\"https://other\"}"),
                   "line 1 column 286: duplicate object key near "
                   "'\"issuer\"'");

    assert_ok(parse_type("\"override_url_id\":true"));
    assert_refused(parse_type("\"override_url_id\":true,"
                              "\"override_url_id\":false"),
                   "line 1 column 327: duplicate object key near "
                   "'\"override_url_id\"'");
}
END_TEST


START_TEST(test_root)
{
    assert_refused(parse("[]"), "expected an object, got an array");
    assert_ok(parse("{" HEAD "," KEYS ",\"resource_types\":{}}"));
}
END_TEST


START_TEST(test_policy_version)
{
    assert_ok(parse("{\"policy_version\":1,\"issuer\":\"i\","
                    "\"audience\":\"a\"," KEYS ",\"resource_types\":{}}"));

    assert_refused(parse("{\"issuer\":\"i\",\"audience\":\"a\"," KEYS
                         ",\"resource_types\":{}}"),
                   "missing \"policy_version\"");

    assert_refused(parse("{\"policy_version\":\"1\",\"issuer\":\"i\","
                         "\"audience\":\"a\"," KEYS ",\"resource_types\":{}}"),
                   "policy_version: expected an integer, got \"1\"");

    assert_refused(parse("{\"policy_version\":1.0,\"issuer\":\"i\","
                         "\"audience\":\"a\"," KEYS ",\"resource_types\":{}}"),
                   "policy_version: expected an integer, got 1");

    /* another version is refused for its version, not for its fields */

    assert_refused(parse("{\"policy_version\":2,\"issuer\":\"i\","
                         "\"audience\":\"a\"," KEYS ",\"resource_types\":{},"
                         "\"new_field\":true}"),
                   "policy_version: unsupported version 2 (expected 1)");
}
END_TEST


START_TEST(test_unknown_field)
{
    assert_ok(parse_with(",\"serial\":\"s1\""));
    ck_assert_str_eq(policy->serial, "s1");

    assert_refused(parse_with(",\"seriel\":\"s1\""),
                   "unknown field \"seriel\"");

    assert_refused(parse_with(",\"a\\\"b\\u00e9\":1"),
                   "unknown field \"a\\\"b\\xc3\\xa9\"");
}
END_TEST


START_TEST(test_issuer_audience)
{
    assert_ok(parse("{\"policy_version\":1,\"issuer\":\"i\","
                    "\"audience\":\"a\"," KEYS ",\"resource_types\":{}}"));
    ck_assert_ptr_null(policy->serial);

    assert_refused(parse("{\"policy_version\":1,"
                         "\"audience\":\"a\"," KEYS ",\"resource_types\":{}}"),
                   "missing \"issuer\"");

    assert_refused(parse("{\"policy_version\":1,\"issuer\":\"i\","
                         KEYS ",\"resource_types\":{}}"),
                   "missing \"audience\"");

    assert_refused(parse("{\"policy_version\":1,\"issuer\":\"\","
                         "\"audience\":\"a\"," KEYS ",\"resource_types\":{}}"),
                   "issuer: expected a non-empty string, got \"\"");

    assert_refused(parse("{\"policy_version\":1,\"issuer\":5,"
                         "\"audience\":\"a\"," KEYS ",\"resource_types\":{}}"),
                   "issuer: expected a non-empty string, got 5");

    assert_refused(parse("{\"policy_version\":1,\"issuer\":\"i\","
                         "\"audience\":[\"a\"]," KEYS
                         ",\"resource_types\":{}}"),
                   "audience: expected a non-empty string, got an array");

    assert_refused(parse("{\"policy_version\":1,\"issuer\":\"a\\nb\","
                         "\"audience\":\"a\"," KEYS ",\"resource_types\":{}}"),
                   "issuer: \"a\\x0ab\" holds a control character");
}
END_TEST


START_TEST(test_serial)
{
    assert_ok(parse_with(",\"serial\":\"2026-12-03T10:00:00Z#42\""));
    ck_assert_str_eq(policy->serial, "2026-12-03T10:00:00Z#42");

    assert_refused(parse_with(",\"serial\":42"),
                   "serial: expected a non-empty string, got 42");

    assert_refused(parse_with(",\"serial\":null"),
                   "serial: expected a non-empty string, got null");
}
END_TEST


START_TEST(test_long_value_quoted_short)
{
    char  doc[4096], big[1200];

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';

    snprintf(doc, sizeof(doc), ",\"serial\":\"%.256s\"", big);
    assert_ok(parse_with(doc));

    snprintf(doc, sizeof(doc), ",\"serial\":\"%.257s\"", big);
    assert_refused(parse_with(doc),
                   "serial: \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                   "xxxxxxxxxxxxxxxxxxxxxxxxxx...\" is longer than 256 bytes");
}
END_TEST


START_TEST(test_keys)
{
    assert_ok(parse_keys("{\"keys\":[" JWK("k1") "," JWK("k2") "]}"));
    ck_assert_uint_eq(policy->nkeys, 2);
    ck_assert_ptr_eq(bb_policy_key(policy, "k1", 2), &policy->keys[0]);
    ck_assert_ptr_eq(bb_policy_key(policy, "k2", 2), &policy->keys[1]);
    ck_assert_ptr_eq(bb_policy_key(policy, "k2x", 2), &policy->keys[1]);
    ck_assert_ptr_null(bb_policy_key(policy, "k3", 2));
    ck_assert_ptr_null(bb_policy_key(policy, "k", 1));
    ck_assert_ptr_null(bb_policy_key(policy, "K1", 2));
    ck_assert_ptr_null(bb_policy_key(policy, "", 0));

    assert_refused(parse_keys("{\"keys\":[" JWK("k1") "," JWK("k1") "]}"),
                   "keys.keys[1]: duplicate kid \"k1\"");

    /* members of a JWK Set other than "keys" are ignored (RFC 7517) */

    assert_ok(parse_keys("{\"keys\":[" JWK("k1") "],\"extra\":1}"));

    assert_refused(parse("{" HEAD ",\"resource_types\":{}}"),
                   "missing \"keys\"");

    assert_refused(parse_keys("[" JWK("k1") "]"),
                   "keys: expected an object, got an array");

    assert_refused(parse_keys("{\"kyes\":[" JWK("k1") "]}"),
                   "keys: missing \"keys\"");

    assert_refused(parse_keys("{\"keys\":" JWK("k1") "}"),
                   "keys.keys: expected an array, got an object");

    assert_refused(parse_keys("{\"keys\":[]}"), "keys.keys: no key");

    assert_refused(parse_keys("{\"keys\":[" JWK("k1") ",\"k2\"]}"),
                   "keys.keys[1]: expected an object, got \"k2\"");
}
END_TEST


START_TEST(test_bad_key)
{
    assert_ok(parse_keys("{\"keys\":[" JWK("k1") "]}"));

    /* the key's own problem comes from the JWK import, under its path */

    ck_assert_ptr_null(parse_keys("{\"keys\":[" JWK("k1") ","
                                  "{\"kty\":\"oct\",\"kid\":\"k2\","
                                  "\"alg\":\"HS256\",\"k\":\"AAAA\"}]}"));
    ck_assert_msg(strncmp(err, "keys.keys[1]: ", 14) == 0 && err[14] != '\0',
                  "%s", err);
}
END_TEST


START_TEST(test_too_many_keys)
{
    char    doc[65536];
    size_t  i, n;

    for (n = 64; n <= 65; n++) {
        strcpy(doc, "{\"keys\":[");

        for (i = 0; i < n; i++) {
            snprintf(doc + strlen(doc), sizeof(doc) - strlen(doc),
                     "%s" JWK("k%zu"), i ? "," : "", i);
        }

        strcat(doc, "]}");

        if (n == 64) {
            assert_ok(parse_keys(doc));
            ck_assert_ptr_eq(bb_policy_key(policy, "k63", 3),
                             &policy->keys[63]);

        } else {
            assert_refused(parse_keys(doc), "keys.keys: 65 keys, at most 64");
        }
    }
}
END_TEST


START_TEST(test_resource_types)
{
    char  doc[512], msg[128], name[66];

    assert_refused(parse("{" HEAD "," KEYS "}"),
                   "missing \"resource_types\"");

    assert_refused(parse("{" HEAD "," KEYS ",\"resource_types\":[]}"),
                   "resource_types: expected an object, got an array");

    assert_ok(parse("{" HEAD "," KEYS ",\"resource_types\":{\"Patient\":{}}}"));
    ck_assert_uint_eq(policy->ntypes, 1);
    ck_assert_uint_eq(policy->types[0].interactions, 0);
    ck_assert(!bb_type_needs_patient(&policy->types[0]));

    assert_refused(parse("{" HEAD "," KEYS
                         ",\"resource_types\":{\"patient\":{}}}"),
                   "resource_types: invalid type name \"patient\"");

    assert_refused(parse("{" HEAD "," KEYS
                         ",\"resource_types\":{\"Pat1ent\":{}}}"),
                   "resource_types: invalid type name \"Pat1ent\"");

    assert_refused(parse("{" HEAD "," KEYS
                         ",\"resource_types\":{\"\":{}}}"),
                   "resource_types: invalid type name \"\"");

    assert_refused(parse("{" HEAD "," KEYS
                         ",\"resource_types\":{\"Patient/\":{}}}"),
                   "resource_types: invalid type name \"Patient/\"");

    /* 64 characters are the most a name may have */

    memset(name, 'a', sizeof(name));
    name[0] = 'P';
    name[64] = '\0';

    snprintf(doc, sizeof(doc), "{" HEAD "," KEYS ",\"resource_types\":"
             "{\"%s\":{}}}", name);
    assert_ok(parse(doc));
    ck_assert_ptr_nonnull(bb_policy_type(policy, name, 64));

    name[64] = 'a';
    name[65] = '\0';
    snprintf(doc, sizeof(doc), "{" HEAD "," KEYS ",\"resource_types\":"
             "{\"%s\":{}}}", name);
    snprintf(msg, sizeof(msg), "resource_types: invalid type name \"%s\"",
             name);
    assert_refused(parse(doc), msg);
}
END_TEST


START_TEST(test_type_body)
{
    assert_ok(parse_type(""));

    assert_refused(parse("{" HEAD "," KEYS
                         ",\"resource_types\":{\"Patient\":true}}"),
                   "resource_types.Patient: expected an object, got true");

    assert_ok(parse_type("\"override_url_id\":true"));
    ck_assert(policy->types[0].override_url_id);

    assert_refused(parse_type("\"overide_url_id\":true"),
                   "resource_types.Patient: unknown field \"overide_url_id\"");
}
END_TEST


START_TEST(test_interactions)
{
    assert_ok(parse_type("\"interactions\":[\"read\",\"vread\",\"search\","
                         "\"history\",\"create\",\"update\",\"delete\"]"));
    ck_assert_uint_eq(policy->types[0].interactions,
                      BB_READ | BB_VREAD | BB_SEARCH | BB_HISTORY
                      | BB_CREATE | BB_UPDATE | BB_DELETE);

    assert_ok(parse_type("\"interactions\":[]"));
    ck_assert_uint_eq(policy->types[0].interactions, 0);

    assert_refused(parse_type("\"interactions\":[\"read\",\"patch\"]"),
                   "resource_types.Patient.interactions[1]: unknown "
                   "interaction \"patch\"");

    assert_refused(parse_type("\"interactions\":[\"read\",\"Read\"]"),
                   "resource_types.Patient.interactions[1]: unknown "
                   "interaction \"Read\"");

    assert_refused(parse_type("\"interactions\":[\"read\",\"read\"]"),
                   "resource_types.Patient.interactions[1]: duplicate "
                   "interaction \"read\"");

    assert_refused(parse_type("\"interactions\":\"read\""),
                   "resource_types.Patient.interactions: expected an array, "
                   "got \"read\"");

    assert_refused(parse_type("\"interactions\":[1]"),
                   "resource_types.Patient.interactions[0]: expected a "
                   "string, got 1");
}
END_TEST


START_TEST(test_flags)
{
    assert_ok(parse_type("\"override_url_id\":false,"
                         "\"override_search\":false"));
    ck_assert(!policy->types[0].override_url_id);
    ck_assert(!policy->types[0].override_search);

    assert_ok(parse_type("\"override_search\":true"));
    ck_assert(policy->types[0].override_search);

    assert_refused(parse_type("\"override_url_id\":\"yes\""),
                   "resource_types.Patient.override_url_id: expected true or "
                   "false, got \"yes\"");

    assert_refused(parse_type("\"override_search\":1"),
                   "resource_types.Patient.override_search: expected true or "
                   "false, got 1");
}
END_TEST


START_TEST(test_url_id_mismatch)
{
    assert_ok(parse_type("\"override_url_id\":true"));
    ck_assert_int_eq(policy->types[0].url_id_mismatch, BB_ID_OVERRIDE);

    assert_ok(parse_type("\"override_url_id\":true,"
                         "\"url_id_mismatch\":\"not_found\""));
    ck_assert_int_eq(policy->types[0].url_id_mismatch, BB_ID_NOT_FOUND);

    assert_ok(parse_type("\"override_url_id\":true,"
                         "\"url_id_mismatch\":\"override\""));
    ck_assert_int_eq(policy->types[0].url_id_mismatch, BB_ID_OVERRIDE);

    assert_refused(parse_type("\"override_url_id\":true,"
                              "\"url_id_mismatch\":\"404\""),
                   "resource_types.Patient.url_id_mismatch: expected "
                   "\"override\" or \"not_found\", got \"404\"");

    assert_refused(parse_type("\"override_url_id\":true,"
                              "\"url_id_mismatch\":true"),
                   "resource_types.Patient.url_id_mismatch: expected "
                   "\"override\" or \"not_found\", got true");

    /* alone it would read as a protection the gateway does not give */

    assert_refused(parse_type("\"url_id_mismatch\":\"not_found\""),
                   "resource_types.Patient: url_id_mismatch is set but "
                   "override_url_id is not true");
}
END_TEST


START_TEST(test_search_block)
{
    const bb_resource_type_t  *rt;

    assert_ok(parse_type("\"override_search\":true,"
                         "\"search_block\":[\"_id\",\"identifier:of-type\"]"));
    rt = &policy->types[0];
    ck_assert_uint_eq(rt->nsearch_block, 2);
    ck_assert_str_eq(rt->search_block[0], "_id");
    ck_assert_str_eq(rt->search_block[1], "identifier:of-type");

    assert_refused(parse_type("\"override_search\":true,"
                              "\"search_block\":[\"_id\",\"a b\"]"),
                   "resource_types.Patient.search_block[1]: invalid "
                   "parameter name \"a b\"");

    assert_refused(parse_type("\"override_search\":true,"
                              "\"search_block\":[\"a&b\"]"),
                   "resource_types.Patient.search_block[0]: invalid "
                   "parameter name \"a&b\"");

    assert_refused(parse_type("\"override_search\":true,"
                              "\"search_block\":[\"a=b\"]"),
                   "resource_types.Patient.search_block[0]: invalid "
                   "parameter name \"a=b\"");

    assert_refused(parse_type("\"override_search\":true,"
                              "\"search_block\":[\"\"]"),
                   "resource_types.Patient.search_block[0]: invalid "
                   "parameter name \"\"");

    assert_refused(parse_type("\"override_search\":true,"
                              "\"search_block\":[\"a\\tb\"]"),
                   "resource_types.Patient.search_block[0]: invalid "
                   "parameter name \"a\\x09b\"");

    assert_refused(parse_type("\"override_search\":true,"
                              "\"search_block\":\"_id\""),
                   "resource_types.Patient.search_block: expected an array, "
                   "got \"_id\"");

    assert_refused(parse_type("\"search_block\":[\"_id\"]"),
                   "resource_types.Patient: search_block is set but "
                   "override_search is not true");
}
END_TEST


START_TEST(test_search_add)
{
    const bb_resource_type_t  *rt;

    assert_ok(parse_type("\"override_search\":true,\"search_add\":"
                         "[\"beneficiary=Patient/%PATIENT%\",\"a=b=c\"]"));
    rt = &policy->types[0];
    ck_assert_uint_eq(rt->nsearch_add, 2);
    ck_assert_str_eq(rt->search_add[0].name, "beneficiary");
    ck_assert_str_eq(rt->search_add[0].value, "Patient/%PATIENT%");
    ck_assert_str_eq(rt->search_add[1].name, "a");
    ck_assert_str_eq(rt->search_add[1].value, "b=c");

    assert_refused(parse_type("\"override_search\":true,\"search_add\":"
                              "[\"beneficiary=Patient/%PATIENT%\","
                              "\"patient\"]"),
                   "resource_types.Patient.search_add[1]: \"patient\" has "
                   "no \"=\"");

    assert_refused(parse_type("\"override_search\":true,\"search_add\":"
                              "[\"patient=\"]"),
                   "resource_types.Patient.search_add[0]: \"patient=\" has "
                   "an empty value");

    assert_refused(parse_type("\"override_search\":true,\"search_add\":"
                              "[\"=x\"]"),
                   "resource_types.Patient.search_add[0]: \"=x\" has an "
                   "invalid parameter name");

    assert_refused(parse_type("\"override_search\":true,\"search_add\":"
                              "[\"a&b=x\"]"),
                   "resource_types.Patient.search_add[0]: \"a&b=x\" has an "
                   "invalid parameter name");

    assert_refused(parse_type("\"override_search\":true,\"search_add\":"
                              "[\"a=x\\ny\"]"),
                   "resource_types.Patient.search_add[0]: \"a=x\\x0ay\" "
                   "holds a control character");

    assert_refused(parse_type("\"override_search\":true,\"search_add\":"
                              "[[\"a\",\"b\"]]"),
                   "resource_types.Patient.search_add[0]: expected a "
                   "string, got an array");

    assert_refused(parse_type("\"search_add\":[\"a=b\"]"),
                   "resource_types.Patient: search_add is set but "
                   "override_search is not true");
}
END_TEST


START_TEST(test_search_allow)
{
    assert_ok(parse_type("\"override_search\":true"));
    ck_assert(!policy->types[0].has_search_allow);

    /* an empty allowlist is an allowlist: nothing but result parameters */

    assert_ok(parse_type("\"override_search\":true,\"search_allow\":[]"));
    ck_assert(policy->types[0].has_search_allow);
    ck_assert_uint_eq(policy->types[0].nsearch_allow, 0);

    assert_ok(parse_type("\"override_search\":true,"
                         "\"search_allow\":[\"_lastUpdated\",\"type\"]"));
    ck_assert(policy->types[0].has_search_allow);
    ck_assert_uint_eq(policy->types[0].nsearch_allow, 2);
    ck_assert_str_eq(policy->types[0].search_allow[1], "type");

    assert_refused(parse_type("\"override_search\":true,"
                              "\"search_allow\":[\"_lastUpdated\",null]"),
                   "resource_types.Patient.search_allow[1]: expected a "
                   "string, got null");

    assert_refused(parse_type("\"search_allow\":[\"type\"]"),
                   "resource_types.Patient: search_allow is set but "
                   "override_search is not true");
}
END_TEST


START_TEST(test_widening_allow)
{
    assert_ok(parse_type("\"widening_allow\":[\"_include\"]"));
    ck_assert_uint_eq(policy->types[0].nwidening_allow, 1);
    ck_assert_str_eq(policy->types[0].widening_allow[0], "_include");

    assert_refused(parse_type("\"widening_allow\":{\"_include\":true}"),
                   "resource_types.Patient.widening_allow: expected an "
                   "array, got an object");

    assert_refused(parse_type("\"widening_allow\":[\"_include=x\"]"),
                   "resource_types.Patient.widening_allow[0]: invalid "
                   "parameter name \"_include=x\"");
}
END_TEST


START_TEST(test_search_action)
{
    assert_ok(parse_type(""));
    ck_assert_int_eq(policy->types[0].search_action, BB_SEARCH_DROP);

    assert_ok(parse_type("\"search_action\":\"refuse\""));
    ck_assert_int_eq(policy->types[0].search_action, BB_SEARCH_REFUSE);

    assert_ok(parse_type("\"search_action\":\"drop\""));
    ck_assert_int_eq(policy->types[0].search_action, BB_SEARCH_DROP);

    assert_refused(parse_type("\"search_action\":\"ignore\""),
                   "resource_types.Patient.search_action: expected \"drop\" "
                   "or \"refuse\", got \"ignore\"");
}
END_TEST


START_TEST(test_patient_reference)
{
    assert_ok(parse_type("\"patient_reference\":\"beneficiary\""));
    ck_assert_str_eq(policy->types[0].patient_reference, "beneficiary");

    assert_refused(parse_type("\"patient_reference\":\"bene-ficiary\""),
                   "resource_types.Patient.patient_reference: invalid field "
                   "name \"bene-ficiary\"");

    assert_refused(parse_type("\"patient_reference\":\"subject.reference\""),
                   "resource_types.Patient.patient_reference: invalid field "
                   "name \"subject.reference\"");

    assert_refused(parse_type("\"patient_reference\":5"),
                   "resource_types.Patient.patient_reference: expected a "
                   "non-empty string, got 5");

    assert_refused(parse_type("\"patient_reference\":\"\""),
                   "resource_types.Patient.patient_reference: expected a "
                   "non-empty string, got \"\"");
}
END_TEST


START_TEST(test_needs_patient)
{
    assert_ok(parse_type("\"interactions\":[\"read\"],"
                         "\"override_search\":true,"
                         "\"search_add\":[\"status=active\"]"));
    ck_assert(!bb_type_needs_patient(&policy->types[0]));

    assert_ok(parse_type("\"override_search\":true,"
                         "\"search_add\":[\"status=active\","
                         "\"patient=Patient/%PATIENT%\"]"));
    ck_assert(bb_type_needs_patient(&policy->types[0]));

    assert_ok(parse_type("\"override_url_id\":true"));
    ck_assert(bb_type_needs_patient(&policy->types[0]));

    assert_ok(parse_type("\"patient_reference\":\"subject\""));
    ck_assert(bb_type_needs_patient(&policy->types[0]));

    /* only the exact placeholder counts */

    assert_ok(parse_type("\"override_search\":true,"
                         "\"search_add\":[\"patient=%PATIENT\"]"));
    ck_assert(!bb_type_needs_patient(&policy->types[0]));
}
END_TEST


START_TEST(test_type_lookup)
{
    const bb_resource_type_t  *rt;

    assert_ok(parse("{" HEAD "," KEYS ",\"resource_types\":{"
                    "\"Patient\":{},\"Coverage\":{},\"Claim\":{},"
                    "\"ExplanationOfBenefit\":{},\"A\":{}}}"));

    ck_assert_uint_eq(policy->ntypes, 5);
    ck_assert_str_eq(policy->types[0].name, "A");
    ck_assert_str_eq(policy->types[1].name, "Claim");
    ck_assert_str_eq(policy->types[2].name, "Coverage");
    ck_assert_str_eq(policy->types[3].name, "ExplanationOfBenefit");
    ck_assert_str_eq(policy->types[4].name, "Patient");

    rt = bb_policy_type(policy, "Patient", 7);
    ck_assert_ptr_eq(rt, &policy->types[4]);
    ck_assert_ptr_eq(bb_policy_type(policy, "A", 1), &policy->types[0]);
    ck_assert_ptr_eq(bb_policy_type(policy, "Claim", 5), &policy->types[1]);

    /* case-sensitive, and by length rather than by terminator */

    ck_assert_ptr_null(bb_policy_type(policy, "patient", 7));
    ck_assert_ptr_null(bb_policy_type(policy, "PATIENT", 7));
    ck_assert_ptr_eq(bb_policy_type(policy, "Patient/1", 7), rt);
    ck_assert_ptr_null(bb_policy_type(policy, "Patien", 6));
    ck_assert_ptr_null(bb_policy_type(policy, "Patients", 8));
    ck_assert_ptr_null(bb_policy_type(policy, "", 0));
    ck_assert_ptr_null(bb_policy_type(policy, "Cla", 3));

    assert_ok(parse_with(""));
    ck_assert_ptr_null(bb_policy_type(policy, "Patient", 7));
}
END_TEST


START_TEST(test_revoked)
{
    char    doc[8192], jti[32];
    size_t  i;

    assert_ok(parse_with(",\"revoked\":[{\"jti\":\"j1\",\"exp\":1790000000}]"));
    ck_assert_uint_eq(policy->nrevoked, 1);
    ck_assert_str_eq(policy->revoked[0].jti, "j1");
    ck_assert_int_eq(policy->revoked[0].exp, 1790000000);

    assert_refused(parse_with(",\"revoked\":{\"jti\":\"j1\",\"exp\":1}"),
                   "revoked: expected an array, got an object");

    assert_refused(parse_with(",\"revoked\":[{\"jti\":\"j1\",\"exp\":1},"
                              "\"j2\"]"),
                   "revoked[1]: expected an object, got \"j2\"");

    assert_refused(parse_with(",\"revoked\":[{\"exp\":1}]"),
                   "revoked[0]: missing \"jti\"");

    assert_refused(parse_with(",\"revoked\":[{\"jti\":\"j1\"}]"),
                   "revoked[0]: missing \"exp\"");

    assert_refused(parse_with(",\"revoked\":[{\"jti\":\"j1\",\"exp\":1,"
                              "\"reason\":\"lost\"}]"),
                   "revoked[0]: unknown field \"reason\"");

    assert_refused(parse_with(",\"revoked\":[{\"jti\":\"j1\","
                              "\"exp\":\"1790000000\"}]"),
                   "revoked[0].exp: expected an integer, got \"1790000000\"");

    assert_refused(parse_with(",\"revoked\":[{\"jti\":\"\",\"exp\":1}]"),
                   "revoked[0].jti: expected a non-empty string, got \"\"");

    /* many ids in reverse order: each is found by binary search */

    strcpy(doc, ",\"revoked\":[");

    for (i = 0; i < 100; i++) {
        snprintf(doc + strlen(doc), sizeof(doc) - strlen(doc),
                 "%s{\"jti\":\"jti-%03zu\",\"exp\":%zu}", i ? "," : "",
                 99 - i, i);
    }

    /* a duplicate, and an entry already expired, are both kept */

    strcat(doc, ",{\"jti\":\"jti-050\",\"exp\":0}]");

    assert_ok(parse_with(doc));
    ck_assert_uint_eq(policy->nrevoked, 101);

    for (i = 0; i < 100; i++) {
        snprintf(jti, sizeof(jti), "jti-%03zu", i);
        ck_assert_msg(bb_policy_revoked(policy, jti, strlen(jti)),
                      "%s not found", jti);
    }

    ck_assert(!bb_policy_revoked(policy, "jti-100", 7));
    ck_assert(!bb_policy_revoked(policy, "jti-05", 6));
    ck_assert(!bb_policy_revoked(policy, "jti-0500", 8));
    ck_assert(bb_policy_revoked(policy, "jti-0500", 7));
    ck_assert(!bb_policy_revoked(policy, "", 0));

    assert_ok(parse_with(""));
    ck_assert(!bb_policy_revoked(policy, "jti-050", 7));
}
END_TEST


static Suite *
policy_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("policy");
    tc = tcase_create("policy");
    tcase_add_checked_fixture(tc, NULL, teardown);

    tcase_add_test(tc, test_example);
    tcase_add_test(tc, test_load_errors);
    tcase_add_test(tc, test_json_syntax);
    tcase_add_test(tc, test_duplicate_json_key);
    tcase_add_test(tc, test_root);
    tcase_add_test(tc, test_policy_version);
    tcase_add_test(tc, test_unknown_field);
    tcase_add_test(tc, test_issuer_audience);
    tcase_add_test(tc, test_serial);
    tcase_add_test(tc, test_long_value_quoted_short);
    tcase_add_test(tc, test_keys);
    tcase_add_test(tc, test_bad_key);
    tcase_add_test(tc, test_too_many_keys);
    tcase_add_test(tc, test_resource_types);
    tcase_add_test(tc, test_type_body);
    tcase_add_test(tc, test_interactions);
    tcase_add_test(tc, test_flags);
    tcase_add_test(tc, test_url_id_mismatch);
    tcase_add_test(tc, test_search_block);
    tcase_add_test(tc, test_search_add);
    tcase_add_test(tc, test_search_allow);
    tcase_add_test(tc, test_widening_allow);
    tcase_add_test(tc, test_search_action);
    tcase_add_test(tc, test_patient_reference);
    tcase_add_test(tc, test_needs_patient);
    tcase_add_test(tc, test_type_lookup);
    tcase_add_test(tc, test_revoked);

    suite_add_tcase(s, tc);

    return s;
}


int
main(void)
{
    int       failed;
    SRunner  *sr;

    sr = srunner_create(policy_suite());

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
