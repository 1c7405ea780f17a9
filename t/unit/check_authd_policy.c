/*
 * authd's side of the policy document: what policy_build() writes is
 * accepted by the gateway's own parser (the contract) and holds what it
 * was given; revoked entries past their exp are left out; an admin's
 * resource type is refused with the exact message, each refusal next to
 * the same input without the defect; policy_write_file() replaces the
 * file atomically and leaves no temporary file.
 *
 * With AUTHD_TEST_DATABASE_URL naming an empty database holding
 * schema/001_authd.sql (t/integration/authd_schema.t provides one), the
 * "db" case also runs policy_refresh() on it.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "bb_policy.h"
#include "config.h"
#include "db.h"
#include "policy.h"


#define ISSUER    "http://127.0.0.1:8400"
#define AUDIENCE  "http://127.0.0.1:8080/v1/fhir"

/* 2026-12-03T10:00:00Z */
#define NOW       1796292000

#define KEY_X     "ftd06V5TGO-ScRHOssCyyZH6M5urQ7PQfGlMahM5gJo"
#define KEY_Y     "4sJseFPUi51J_yEqFa3cTFMq_xIQy95_2f4MjvR42zk"

#define MAX_TYPES  16


static char            err[512];
static json_t         *keys[2];
static policy_type_t   types[MAX_TYPES];
static size_t          ntypes;
static json_t         *doc;
static char            dir[64];


/* a file of the repository, from the test data directory */

static void
repo_path(char *buf, size_t size, const char *rel)
{
    size_t  n;

    n = strlen(BB_TEST_DATA) - strlen("/t/unit/data");
    snprintf(buf, size, "%.*s/%s", (int) n, BB_TEST_DATA, rel);
}


/* the resource types of conf/authd-load.json, through the admin check */

static void
load_fixture_types(void)
{
    size_t        i;
    json_t       *fixture, *entry;
    json_error_t  jerr;
    char          path[4096];

    repo_path(path, sizeof(path), "conf/authd-load.json");

    fixture = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    ck_assert_msg(fixture != NULL, "%s: %s", path, jerr.text);

    ntypes = 0;

    json_array_foreach(fixture, i, entry) {
        if (strcmp(json_string_value(json_object_get(entry, "model")),
                   "resource_types")
            != 0)
        {
            continue;
        }

        ck_assert_uint_lt(ntypes, MAX_TYPES);
        ck_assert_msg(policy_type_from_json(json_object_get(entry, "fields"),
                                            &types[ntypes], err,
                                            sizeof(err))
                      == 0,
                      "%s", err);
        ntypes++;
    }

    json_decref(fixture);
}


static void
setup(void)
{
    err[0] = '\0';
    doc = NULL;
    ntypes = 0;

    keys[0] = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "EC",
                        "crv", "P-256", "alg", "ES256", "use", "sig",
                        "kid", "k1", "x", KEY_X, "y", KEY_Y);
    keys[1] = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "EC",
                        "crv", "P-256", "alg", "ES256", "kid", "k2",
                        "x", KEY_X, "y", KEY_Y);
    ck_assert_ptr_nonnull(keys[0]);
    ck_assert_ptr_nonnull(keys[1]);
}


static void
teardown(void)
{
    size_t  i;

    for (i = 0; i < ntypes; i++) {
        policy_type_free(&types[i]);
    }

    json_decref(keys[0]);
    json_decref(keys[1]);
    json_decref(doc);
}


static policy_input_t
input(void)
{
    policy_input_t  in;

    memset(&in, 0, sizeof(policy_input_t));

    in.issuer = ISSUER;
    in.audience = AUDIENCE;
    in.serial = 42;
    in.now = NOW;
    in.keys = keys;
    in.nkeys = 2;
    in.types = types;
    in.ntypes = ntypes;

    return in;
}


/* the module's parser on a built document: NULL with err on refusal */

static bb_policy_t *
gateway_parse(json_t *d)
{
    char         *text;
    bb_policy_t  *policy;

    text = json_dumps(d, JSON_INDENT(4));
    ck_assert_ptr_nonnull(text);

    policy = bb_policy_parse(text, strlen(text), err, sizeof(err));

    free(text);

    return policy;
}


static void
assert_json(json_t *got, const char *expected)
{
    json_t        *want;
    char          *text;
    json_error_t   jerr;

    want = json_loads(expected, JSON_REJECT_DUPLICATES, &jerr);
    ck_assert_msg(want != NULL, "bad expected JSON: %s", jerr.text);

    text = json_dumps(got, JSON_COMPACT);

    ck_assert_msg(json_equal(got, want), "got %s, expected %s",
                  text ? text : "NULL", expected);

    free(text);
    json_decref(want);
}


START_TEST(test_contract)
{
    const bb_resource_type_t  *rt;
    bb_policy_t               *policy;
    policy_input_t             in;
    policy_revoked_t           revoked[] = {
        { "jti-live", NOW + 3600 },
        { "jti-other", NOW + 60 },
    };

    load_fixture_types();
    ck_assert_uint_eq(ntypes, 3);

    in = input();
    in.revoked = revoked;
    in.nrevoked = 2;

    doc = policy_build(&in, err, sizeof(err));
    ck_assert_msg(doc != NULL, "%s", err);

    policy = gateway_parse(doc);
    ck_assert_msg(policy != NULL, "the gateway refuses it: %s", err);

    ck_assert_str_eq(policy->issuer, ISSUER);
    ck_assert_str_eq(policy->audience, AUDIENCE);
    ck_assert_str_eq(policy->serial, "2026-12-03T10:00:00Z#42");

    ck_assert_uint_eq(policy->nkeys, 2);
    ck_assert_ptr_nonnull(bb_policy_key(policy, "k1", 2));
    ck_assert_ptr_nonnull(bb_policy_key(policy, "k2", 2));

    ck_assert_uint_eq(policy->ntypes, 3);

    rt = bb_policy_type(policy, "Patient", 7);
    ck_assert_ptr_nonnull(rt);
    ck_assert_uint_eq(rt->interactions,
                      BB_READ | BB_VREAD | BB_SEARCH | BB_HISTORY);
    ck_assert(rt->override_url_id);
    ck_assert_int_eq(rt->url_id_mismatch, BB_ID_OVERRIDE);
    ck_assert(rt->override_search);
    ck_assert_uint_eq(rt->nsearch_add, 1);
    ck_assert_str_eq(rt->search_add[0].name, "_id");
    ck_assert_str_eq(rt->search_add[0].value, "%PATIENT%");

    rt = bb_policy_type(policy, "Coverage", 8);
    ck_assert_ptr_nonnull(rt);
    ck_assert_str_eq(rt->patient_reference, "beneficiary");
    ck_assert(!rt->override_url_id);

    ck_assert_ptr_nonnull(bb_policy_type(policy, "ExplanationOfBenefit",
                                         20));
    ck_assert_ptr_null(bb_policy_type(policy, "Observation", 11));

    ck_assert_uint_eq(policy->nrevoked, 2);
    ck_assert(bb_policy_revoked(policy, "jti-live", 8));
    ck_assert(bb_policy_revoked(policy, "jti-other", 9));
    ck_assert(!bb_policy_revoked(policy, "jti-none", 8));

    bb_policy_free(policy);
}
END_TEST


/*
 * The fixture's types are conf/policy.json's: each of the example's types,
 * parsed by the gateway and written out by authd, equals the one authd
 * built from the fixture.
 */

START_TEST(test_same_types_as_example)
{
    size_t          i;
    json_t         *built, *want;
    bb_policy_t    *example;
    policy_input_t  in;
    char            path[4096];

    load_fixture_types();

    in = input();

    doc = policy_build(&in, err, sizeof(err));
    ck_assert_msg(doc != NULL, "%s", err);

    repo_path(path, sizeof(path), "conf/policy.json");

    example = bb_policy_load(path, err, sizeof(err));
    ck_assert_msg(example != NULL, "%s", err);

    built = json_object_get(doc, "resource_types");
    ck_assert_uint_eq(json_object_size(built), example->ntypes);

    for (i = 0; i < example->ntypes; i++) {
        want = policy_type_json(&example->types[i], err, sizeof(err));
        ck_assert_msg(want != NULL, "%s", err);

        ck_assert_msg(json_equal(json_object_get(built,
                                                 example->types[i].name),
                                 want),
                      "type %s differs", example->types[i].name);

        json_decref(want);
    }

    bb_policy_free(example);
}
END_TEST


START_TEST(test_revoked_expired_left_out)
{
    bb_policy_t       *policy;
    policy_input_t     in;
    policy_revoked_t   revoked[] = {
        { "gone", NOW - 1 },
        { "edge", NOW },
        { "live", NOW + 1 },
        { "later", NOW + 3600 },
    };

    in = input();
    in.revoked = revoked;
    in.nrevoked = 4;

    doc = policy_build(&in, err, sizeof(err));
    ck_assert_msg(doc != NULL, "%s", err);

    assert_json(json_object_get(doc, "revoked"),
                "[{\"jti\": \"live\", \"exp\": 1796292001},"
                " {\"jti\": \"later\", \"exp\": 1796295600}]");

    policy = gateway_parse(doc);
    ck_assert_msg(policy != NULL, "%s", err);
    ck_assert(bb_policy_revoked(policy, "live", 4));
    ck_assert(!bb_policy_revoked(policy, "gone", 4));
    ck_assert(!bb_policy_revoked(policy, "edge", 4));
    bb_policy_free(policy);

    /* control: nothing revoked is an empty list, which the gateway takes */

    json_decref(doc);

    in.nrevoked = 0;

    doc = policy_build(&in, err, sizeof(err));
    ck_assert_msg(doc != NULL, "%s", err);
    assert_json(json_object_get(doc, "revoked"), "[]");

    policy = gateway_parse(doc);
    ck_assert_msg(policy != NULL, "%s", err);
    ck_assert_uint_eq(policy->nrevoked, 0);
    bb_policy_free(policy);
}
END_TEST


START_TEST(test_build_refusals)
{
    policy_input_t  in;

    load_fixture_types();

    in = input();
    in.nkeys = 0;

    ck_assert_ptr_null(policy_build(&in, err, sizeof(err)));
    ck_assert_str_eq(err, "no signing key to publish");

    in.nkeys = 1;
    doc = policy_build(&in, err, sizeof(err));
    ck_assert_msg(doc != NULL, "%s", err);
    json_decref(doc);
    doc = NULL;

    in = input();
    in.issuer = "";

    ck_assert_ptr_null(policy_build(&in, err, sizeof(err)));
    ck_assert_str_eq(err, "no issuer or no audience");

    /* two rows of one name */

    in = input();
    free(types[1].name);
    types[1].name = strdup("Patient");

    ck_assert_ptr_null(policy_build(&in, err, sizeof(err)));
    ck_assert_str_eq(err, "duplicate resource type \"Patient\"");

    free(types[1].name);
    types[1].name = strdup("Claim");

    doc = policy_build(&in, err, sizeof(err));
    ck_assert_msg(doc != NULL, "%s", err);
    json_decref(doc);
    doc = NULL;

    free(types[1].name);
    types[1].name = strdup("claim");

    ck_assert_ptr_null(policy_build(&in, err, sizeof(err)));
    ck_assert_str_eq(err, "invalid type name \"claim\"");

    free(types[1].name);
    types[1].name = strdup("Claim");

    /* a control without the one it depends on is a caller's bug */

    types[1].override_search = 0;

    ck_assert_ptr_null(policy_build(&in, err, sizeof(err)));
    ck_assert_str_eq(err, "resource type \"Claim\": search controls are "
                     "set but override_search is not true");

    types[1].override_search = 1;
    types[0].override_url_id = 0;
    types[0].url_id_mismatch = BB_ID_NOT_FOUND;

    ck_assert_ptr_null(policy_build(&in, err, sizeof(err)));
    ck_assert_str_eq(err, "resource type \"Patient\": url_id_mismatch is "
                     "set but override_url_id is not true");

    types[0].url_id_mismatch = BB_ID_OVERRIDE;

    doc = policy_build(&in, err, sizeof(err));
    ck_assert_msg(doc != NULL, "%s", err);
}
END_TEST


/* the fields of a type written out: every default, no forbidden combo */

static void
assert_type_json(const char *in, const char *expected)
{
    json_t        *j, *out;
    json_error_t   jerr;
    policy_type_t  t;

    j = json_loads(in, JSON_REJECT_DUPLICATES, &jerr);
    ck_assert_msg(j != NULL, "bad input JSON: %s", jerr.text);

    ck_assert_msg(policy_type_from_json(j, &t, err, sizeof(err)) == 0,
                  "%s: %s", in, err);

    out = policy_type_json(&t, err, sizeof(err));
    ck_assert_msg(out != NULL, "%s", err);

    assert_json(out, expected);

    json_decref(out);
    json_decref(j);
    policy_type_free(&t);
}


START_TEST(test_type_shape)
{
    assert_type_json("{\"name\": \"Observation\"}",
                     "{\"interactions\": [], \"override_url_id\": false,"
                     " \"override_search\": false, \"widening_allow\": [],"
                     " \"search_action\": \"drop\"}");

    assert_type_json("{\"name\": \"Patient\", \"override_url_id\": true,"
                     " \"override_search\": true}",
                     "{\"interactions\": [], \"override_url_id\": true,"
                     " \"url_id_mismatch\": \"override\","
                     " \"override_search\": true, \"search_block\": [],"
                     " \"search_add\": [], \"widening_allow\": [],"
                     " \"search_action\": \"drop\"}");

    /* an empty search_allow (nothing passes) differs from none */

    assert_type_json("{\"name\": \"Patient\", \"override_search\": true,"
                     " \"search_allow\": []}",
                     "{\"interactions\": [], \"override_url_id\": false,"
                     " \"override_search\": true, \"search_block\": [],"
                     " \"search_add\": [], \"search_allow\": [],"
                     " \"widening_allow\": [], \"search_action\": \"drop\"}");

    /* interactions in the schema's order, every control kept */

    assert_type_json("{\"name\": \"Claim\","
                     " \"interactions\": [\"history\", \"read\"],"
                     " \"override_url_id\": true,"
                     " \"url_id_mismatch\": \"not_found\","
                     " \"override_search\": true,"
                     " \"search_block\": [\"patient\", \"identifier\"],"
                     " \"search_add\": [\"patient=%PATIENT%\", \"a=b=c d\"],"
                     " \"search_allow\": [\"status\"],"
                     " \"widening_allow\": [\"_include\"],"
                     " \"search_action\": \"refuse\","
                     " \"patient_reference\": \"patient\"}",
                     "{\"interactions\": [\"read\", \"history\"],"
                     " \"override_url_id\": true,"
                     " \"url_id_mismatch\": \"not_found\","
                     " \"override_search\": true,"
                     " \"search_block\": [\"patient\", \"identifier\"],"
                     " \"search_add\": [\"patient=%PATIENT%\", \"a=b=c d\"],"
                     " \"search_allow\": [\"status\"],"
                     " \"widening_allow\": [\"_include\"],"
                     " \"search_action\": \"refuse\","
                     " \"patient_reference\": \"patient\"}");
}
END_TEST


/*
 * An admin's input refused with the exact message, next to the same input
 * without the defect, which passes.
 */

typedef struct {
    const char  *bad;
    const char  *message;
    const char  *good;
} refusal_t;


static const refusal_t  refusals[] = {
    { "{\"name\": \"Coverage\", \"override_search\": true,"
      " \"search_add\": [\"beneficiary=x\", \"patient\"]}",
      "search_add[1]: \"patient\" has no \"=\"",
      "{\"name\": \"Coverage\", \"override_search\": true,"
      " \"search_add\": [\"beneficiary=x\", \"patient=y\"]}" },

    { "{\"name\": \"Coverage\", \"override_search\": true,"
      " \"search_add\": [\"=x\"]}",
      "search_add[0]: \"=x\" has an invalid parameter name",
      "{\"name\": \"Coverage\", \"override_search\": true,"
      " \"search_add\": [\"a=x\"]}" },

    { "{\"name\": \"Coverage\", \"override_search\": true,"
      " \"search_add\": [\"a=\"]}",
      "search_add[0]: \"a=\" has an empty value",
      "{\"name\": \"Coverage\", \"override_search\": true,"
      " \"search_add\": [\"a=1\"]}" },

    { "{\"name\": \"Patient\", \"overide_url_id\": true}",
      "unknown field \"overide_url_id\"",
      "{\"name\": \"Patient\", \"override_url_id\": true}" },

    { "{\"name\": \"Patient\", \"override_url_id\": \"yes\"}",
      "override_url_id: expected true or false, got \"yes\"",
      "{\"name\": \"Patient\", \"override_url_id\": true}" },

    { "{\"name\": \"Patient\", \"interactions\": \"read\"}",
      "interactions: expected an array, got \"read\"",
      "{\"name\": \"Patient\", \"interactions\": [\"read\"]}" },

    { "{\"name\": \"Patient\","
      " \"interactions\": [\"read\", \"vread\", \"patch\"]}",
      "interactions[2]: unknown interaction \"patch\"",
      "{\"name\": \"Patient\","
      " \"interactions\": [\"read\", \"vread\", \"history\"]}" },

    { "{\"name\": \"Patient\", \"interactions\": [\"read\", \"read\"]}",
      "interactions[1]: duplicate interaction \"read\"",
      "{\"name\": \"Patient\", \"interactions\": [\"read\", \"search\"]}" },

    { "{\"name\": \"patient\"}",
      "name: invalid type name \"patient\"",
      "{\"name\": \"Patient\"}" },

    { "{\"name\": \"Pa tient\"}",
      "name: invalid type name \"Pa\\x20tient\"",
      "{\"name\": \"PaTient\"}" },

    { "{\"name\": \"\"}",
      "name: invalid type name \"\"",
      "{\"name\": \"P\"}" },

    { "{\"name\": 7}",
      "name: expected a string",
      "{\"name\": \"Patient\"}" },

    { "{\"interactions\": []}",
      "missing \"name\"",
      "{\"name\": \"Patient\", \"interactions\": []}" },

    { "[\"Patient\"]",
      "expected an object",
      "{\"name\": \"Patient\"}" },

    { "{\"name\": \"Patient\", \"url_id_mismatch\": \"not_found\"}",
      "url_id_mismatch is set but override_url_id is not true",
      "{\"name\": \"Patient\", \"url_id_mismatch\": \"not_found\","
      " \"override_url_id\": true}" },

    { "{\"name\": \"Patient\", \"override_url_id\": true,"
      " \"url_id_mismatch\": \"ignore\"}",
      "url_id_mismatch: expected \"override\" or \"not_found\", "
      "got \"ignore\"",
      "{\"name\": \"Patient\", \"override_url_id\": true,"
      " \"url_id_mismatch\": \"not_found\"}" },

    { "{\"name\": \"Patient\", \"search_block\": [\"_id\"]}",
      "search_block is set but override_search is not true",
      "{\"name\": \"Patient\", \"search_block\": [\"_id\"],"
      " \"override_search\": true}" },

    { "{\"name\": \"Patient\", \"override_search\": false,"
      " \"search_allow\": []}",
      "search_allow is set but override_search is not true",
      "{\"name\": \"Patient\", \"override_search\": true,"
      " \"search_allow\": []}" },

    { "{\"name\": \"Patient\", \"override_search\": true,"
      " \"search_block\": [\"a&b\"]}",
      "search_block[0]: invalid parameter name \"a&b\"",
      "{\"name\": \"Patient\", \"override_search\": true,"
      " \"search_block\": [\"ab\"]}" },

    { "{\"name\": \"Patient\", \"widening_allow\": [\"_include\", 1]}",
      "widening_allow[1]: expected a string, got 1",
      "{\"name\": \"Patient\", \"widening_allow\": [\"_include\", \"1\"]}" },

    { "{\"name\": \"Patient\", \"search_action\": \"ignore\"}",
      "search_action: expected \"drop\" or \"refuse\", got \"ignore\"",
      "{\"name\": \"Patient\", \"search_action\": \"refuse\"}" },

    { "{\"name\": \"Patient\", \"patient_reference\": \"a.b\"}",
      "patient_reference: invalid field name \"a.b\"",
      "{\"name\": \"Patient\", \"patient_reference\": \"ab\"}" },

    { "{\"name\": \"Patient\", \"patient_reference\": \"\"}",
      "patient_reference: expected a non-empty string, got \"\"",
      "{\"name\": \"Patient\", \"patient_reference\": \"x\"}" },
};


START_TEST(test_type_refusals)
{
    json_t         *j;
    json_error_t    jerr;
    policy_type_t   t;
    const refusal_t *r;

    r = &refusals[_i];

    j = json_loads(r->bad, JSON_DECODE_ANY, &jerr);
    ck_assert_msg(j != NULL, "bad test JSON: %s", jerr.text);

    memset(&t, 0xff, sizeof(policy_type_t));

    ck_assert_int_eq(policy_type_from_json(j, &t, err, sizeof(err)), -1);
    ck_assert_str_eq(err, r->message);

    /* released on refusal: nothing left to free */

    ck_assert_ptr_null(t.name);
    ck_assert_uint_eq(t.nsearch_add, 0);

    json_decref(j);

    j = json_loads(r->good, JSON_DECODE_ANY, &jerr);
    ck_assert_msg(j != NULL, "bad test JSON: %s", jerr.text);

    ck_assert_msg(policy_type_from_json(j, &t, err, sizeof(err)) == 0,
                  "control %s refused: %s", r->good, err);
    ck_assert_str_eq(t.name,
                     json_string_value(json_object_get(j, "name")));

    policy_type_free(&t);
    json_decref(j);
}
END_TEST


START_TEST(test_type_from_json_fields)
{
    json_t        *j;
    json_error_t   jerr;
    policy_type_t  t;

    j = json_loads("{\"name\": \"Coverage\", \"interactions\": [\"read\"],"
                   " \"override_search\": true,"
                   " \"search_add\": [\"beneficiary=Patient/%PATIENT%\"],"
                   " \"search_allow\": [],"
                   " \"patient_reference\": \"beneficiary\"}",
                   0, &jerr);
    ck_assert_ptr_nonnull(j);

    ck_assert_msg(policy_type_from_json(j, &t, err, sizeof(err)) == 0, "%s",
                  err);

    ck_assert_str_eq(t.name, "Coverage");
    ck_assert_uint_eq(t.interactions, BB_READ);
    ck_assert(!t.override_url_id);
    ck_assert(t.override_search);
    ck_assert_uint_eq(t.nsearch_add, 1);
    ck_assert_str_eq(t.search_add[0].name, "beneficiary");
    ck_assert_str_eq(t.search_add[0].value, "Patient/%PATIENT%");
    ck_assert(t.has_search_allow);
    ck_assert_uint_eq(t.nsearch_allow, 0);
    ck_assert_str_eq(t.patient_reference, "beneficiary");
    ck_assert_int_eq(t.search_action, BB_SEARCH_DROP);

    /* the caller's object is left as it was */

    ck_assert_str_eq(json_string_value(json_object_get(j, "name")),
                     "Coverage");

    policy_type_free(&t);
    json_decref(j);
}
END_TEST


static void
make_dir(void)
{
    snprintf(dir, sizeof(dir), "/tmp/check_authd_policy.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}


static void
remove_dir(void)
{
    char  path[256];

    snprintf(path, sizeof(path), "%s/policy.json", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/policy.json.%ld.tmp", dir,
             (long) getpid());
    unlink(path);
    rmdir(path);
    rmdir(dir);
}


static char *
read_all(int fd)
{
    char     *buf;
    ssize_t   n;
    size_t    len;

    buf = malloc(1 << 20);
    ck_assert_ptr_nonnull(buf);

    len = 0;

    while ((n = read(fd, buf + len, (1 << 20) - 1 - len)) > 0) {
        len += (size_t) n;
    }

    ck_assert_int_ge(n, 0);
    buf[len] = '\0';

    return buf;
}


static char *
read_file(const char *path)
{
    int    fd;
    char  *s;

    fd = open(path, O_RDONLY);
    ck_assert_msg(fd != -1, "open %s: %s", path, strerror(errno));

    s = read_all(fd);
    close(fd);

    return s;
}


static json_t *
small_doc(int64_t serial)
{
    policy_input_t  in;
    json_t         *d;

    in = input();
    in.serial = serial;
    in.ntypes = 0;

    d = policy_build(&in, err, sizeof(err));
    ck_assert_msg(d != NULL, "%s", err);

    return d;
}


START_TEST(test_write_new)
{
    char         path[256], tmp[256], *text;
    json_t      *d;
    struct stat  st;
    bb_policy_t *policy;

    make_dir();

    snprintf(path, sizeof(path), "%s/policy.json", dir);
    snprintf(tmp, sizeof(tmp), "%s/policy.json.%ld.tmp", dir,
             (long) getpid());

    /* the mode is 0644 whatever the umask: nginx's workers must read it */

    umask(077);

    d = small_doc(1);
    ck_assert_msg(policy_write_file(path, d, err, sizeof(err)) == 0, "%s",
                  err);

    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0644);
    ck_assert_int_eq(access(tmp, F_OK), -1);

    policy = bb_policy_load(path, err, sizeof(err));
    ck_assert_msg(policy != NULL, "%s", err);
    ck_assert_str_eq(policy->serial, "2026-12-03T10:00:00Z#1");
    bb_policy_free(policy);

    text = read_file(path);
    ck_assert_uint_gt(strlen(text), 0);
    ck_assert_int_eq(text[strlen(text) - 1], '\n');
    free(text);

    json_decref(d);
    remove_dir();
}
END_TEST


START_TEST(test_write_replaces_atomically)
{
    int          fd;
    char         path[256], tmp[256], *before, *old, *now;
    json_t      *d1, *d2;
    struct stat  st1, st2;
    bb_policy_t *policy;

    make_dir();

    snprintf(path, sizeof(path), "%s/policy.json", dir);
    snprintf(tmp, sizeof(tmp), "%s/policy.json.%ld.tmp", dir,
             (long) getpid());

    d1 = small_doc(1);
    d2 = small_doc(2);

    ck_assert_msg(policy_write_file(path, d1, err, sizeof(err)) == 0, "%s",
                  err);
    ck_assert_int_eq(stat(path, &st1), 0);

    before = read_file(path);

    /*
     * A reader that opened the old file before the replacement reads it
     * whole afterwards: the new one was written beside it and renamed over
     * the name, the old content never touched.
     */

    fd = open(path, O_RDONLY);
    ck_assert_int_ne(fd, -1);

    ck_assert_msg(policy_write_file(path, d2, err, sizeof(err)) == 0, "%s",
                  err);

    old = read_all(fd);
    close(fd);

    ck_assert_str_eq(old, before);

    ck_assert_int_eq(stat(path, &st2), 0);
    ck_assert_uint_ne(st1.st_ino, st2.st_ino);
    ck_assert_int_eq(access(tmp, F_OK), -1);

    now = read_file(path);
    ck_assert_str_ne(now, before);

    policy = bb_policy_load(path, err, sizeof(err));
    ck_assert_msg(policy != NULL, "%s", err);
    ck_assert_str_eq(policy->serial, "2026-12-03T10:00:00Z#2");
    bb_policy_free(policy);

    free(before);
    free(old);
    free(now);
    json_decref(d1);
    json_decref(d2);
    remove_dir();
}
END_TEST


START_TEST(test_write_failure_keeps_old)
{
    int            rc, left;
    char           path[256], tmp[256], msg[512], *before, *after;
    json_t        *d1, *d2;
    rlim_t         limit;
    struct rlimit  rl;

    make_dir();

    snprintf(path, sizeof(path), "%s/policy.json", dir);
    snprintf(tmp, sizeof(tmp), "%s/policy.json.%ld.tmp", dir,
             (long) getpid());

    d1 = small_doc(1);
    d2 = small_doc(2);

    ck_assert_msg(policy_write_file(path, d1, err, sizeof(err)) == 0, "%s",
                  err);

    before = read_file(path);

    /* the temporary file cannot be created */

    ck_assert_int_eq(mkdir(tmp, 0700), 0);

    ck_assert_int_eq(policy_write_file(path, d2, err, sizeof(err)), -1);
    snprintf(msg, sizeof(msg), "open() \"%s\" failed: Is a directory", tmp);
    ck_assert_str_eq(err, msg);

    after = read_file(path);
    ck_assert_str_eq(after, before);
    free(after);

    ck_assert_int_eq(rmdir(tmp), 0);

    /*
     * It is created but cannot be written whole (the file size limit of
     * this test process): it is removed and the old document stays.
     */

    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);

    signal(SIGXFSZ, SIG_IGN);

    /* Check reports through a file: asserts wait for the limit to go */

    limit = rl.rlim_cur;
    rl.rlim_cur = 100;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);

    rc = policy_write_file(path, d2, err, sizeof(err));
    left = access(tmp, F_OK);

    rl.rlim_cur = limit;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);

    ck_assert_int_eq(rc, -1);
    snprintf(msg, sizeof(msg), "write() \"%s\" failed: File too large", tmp);
    ck_assert_str_eq(err, msg);

    ck_assert_int_eq(left, -1);

    after = read_file(path);
    ck_assert_str_eq(after, before);
    free(after);

    /* control: the same write with room for it */

    ck_assert_msg(policy_write_file(path, d2, err, sizeof(err)) == 0, "%s",
                  err);

    after = read_file(path);
    ck_assert_str_ne(after, before);
    free(after);

    ck_assert_int_eq(access(tmp, F_OK), -1);

    free(before);
    json_decref(d1);
    json_decref(d2);
    remove_dir();
}
END_TEST


static const db_stmt_t  test_keys = {
    "test_policy_keys",
    "INSERT INTO signing_keys (kid, public_jwk, private_pem_encrypted, state,"
    "                          retire_after)"
    " SELECT kid, jsonb_set($1::jsonb, '{kid}', to_jsonb(kid)),"
    "        '-----BEGIN ENCRYPTED PRIVATE KEY-----\n', state, after"
    " FROM (VALUES ('k-active', 'active', NULL::timestamptz),"
    "              ('k-next', 'published', NULL),"
    "              ('k-old', 'retired', now() + interval '1 hour'),"
    "              ('k-gone', 'retired', now() - interval '1 second'))"
    "      AS k (kid, state, after)"
};


static const db_stmt_t  test_types = {
    "test_policy_types",
    "INSERT INTO resource_types (name, interactions, override_url_id,"
    "    url_id_mismatch, override_search, search_block, search_add,"
    "    search_allow, widening_allow, search_action, patient_reference)"
    " VALUES ('Patient', '{read,vread,search,history}', true, NULL, true,"
    "         '{_id}', '{_id=%PATIENT%}', NULL, '{}', 'drop', NULL),"
    "        ('Coverage', '{read,search}', false, NULL, true,"
    "         '{beneficiary}', '{beneficiary=Patient/%PATIENT%}', '{}',"
    "         '{_include}', 'refuse', 'beneficiary'),"
    "        ('Observation', '{}', false, NULL, false, '{}', '{}', NULL,"
    "         '{}', 'drop', NULL)"
};


static const db_stmt_t  test_tokens = {
    "test_policy_tokens",
    "INSERT INTO access_tokens (jti, issued_at, expires_at, revoked_at)"
    " VALUES ('revoked-live', now(), now() + interval '1 hour', now()),"
    "        ('revoked-dead', now() - interval '2 hours',"
    "         now() - interval '1 hour', now() - interval '90 minutes'),"
    "        ('live', now(), now() + interval '1 hour', NULL)"
};


static const db_stmt_t  test_no_keys = {
    "test_policy_no_keys",
    "DELETE FROM signing_keys"
};


static void
db_exec_ok(db_conn_t *c, const db_stmt_t *stmt, int n,
    const char *const *params)
{
    PGresult  *res;

    res = db_exec(c, stmt, n, params);
    ck_assert_msg(res != NULL, "%s failed", stmt->name);
    PQclear(res);
}


START_TEST(test_refresh)
{
    char                      path[256], *jwk;
    db_conn_t                *c;
    bb_policy_t              *policy;
    const bb_resource_type_t *rt;
    const char               *params[1];

    make_dir();

    snprintf(path, sizeof(path), "%s/policy.json", dir);

    authd_cfg.issuer = ISSUER;
    authd_cfg.audience = AUDIENCE;
    authd_cfg.policy_path = path;

    ck_assert_int_eq(db_init(getenv("AUTHD_TEST_DATABASE_URL"), 2, 5), 0);

    c = db_acquire("test");
    ck_assert_ptr_nonnull(c);

    jwk = json_dumps(keys[0], JSON_COMPACT);
    params[0] = jwk;

    db_exec_ok(c, &test_keys, 1, params);
    db_exec_ok(c, &test_types, 0, NULL);
    db_exec_ok(c, &test_tokens, 0, NULL);

    ck_assert_msg(policy_refresh(c, err, sizeof(err)) == 0, "%s", err);

    policy = bb_policy_load(path, err, sizeof(err));
    ck_assert_msg(policy != NULL, "%s", err);

    ck_assert_str_eq(policy->issuer, ISSUER);
    ck_assert_str_eq(policy->audience, AUDIENCE);
    ck_assert_ptr_nonnull(strstr(policy->serial, "#1"));

    /* published, active, and retired until retire_after */

    ck_assert_uint_eq(policy->nkeys, 3);
    ck_assert_ptr_nonnull(bb_policy_key(policy, "k-active", 8));
    ck_assert_ptr_nonnull(bb_policy_key(policy, "k-next", 6));
    ck_assert_ptr_nonnull(bb_policy_key(policy, "k-old", 5));
    ck_assert_ptr_null(bb_policy_key(policy, "k-gone", 6));

    ck_assert_uint_eq(policy->ntypes, 3);

    rt = bb_policy_type(policy, "Patient", 7);
    ck_assert_ptr_nonnull(rt);
    ck_assert(rt->override_url_id);
    ck_assert_int_eq(rt->url_id_mismatch, BB_ID_OVERRIDE);
    ck_assert(!rt->has_search_allow);
    ck_assert_str_eq(rt->search_add[0].value, "%PATIENT%");

    rt = bb_policy_type(policy, "Coverage", 8);
    ck_assert_ptr_nonnull(rt);
    ck_assert(rt->has_search_allow);
    ck_assert_uint_eq(rt->nsearch_allow, 0);
    ck_assert_uint_eq(rt->nwidening_allow, 1);
    ck_assert_int_eq(rt->search_action, BB_SEARCH_REFUSE);
    ck_assert_str_eq(rt->patient_reference, "beneficiary");

    rt = bb_policy_type(policy, "Observation", 11);
    ck_assert_ptr_nonnull(rt);
    ck_assert_uint_eq(rt->interactions, 0);

    ck_assert_uint_eq(policy->nrevoked, 1);
    ck_assert(bb_policy_revoked(policy, "revoked-live", 12));
    ck_assert(!bb_policy_revoked(policy, "revoked-dead", 12));
    ck_assert(!bb_policy_revoked(policy, "live", 4));

    bb_policy_free(policy);

    /* a document the gateway would refuse is not written */

    db_exec_ok(c, &test_no_keys, 0, NULL);

    ck_assert_int_eq(policy_refresh(c, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "no signing key to publish");

    policy = bb_policy_load(path, err, sizeof(err));
    ck_assert_msg(policy != NULL, "%s", err);
    ck_assert_ptr_nonnull(strstr(policy->serial, "#1"));
    ck_assert_uint_eq(policy->nkeys, 3);
    bb_policy_free(policy);

    /* control: with a key again, a new serial */

    db_exec_ok(c, &test_keys, 1, params);

    ck_assert_msg(policy_refresh(c, err, sizeof(err)) == 0, "%s", err);

    policy = bb_policy_load(path, err, sizeof(err));
    ck_assert_msg(policy != NULL, "%s", err);
    ck_assert_ptr_nonnull(strstr(policy->serial, "#3"));
    bb_policy_free(policy);

    free(jwk);
    db_release(c);
    db_shutdown();
    remove_dir();
}
END_TEST


static Suite *
authd_policy_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("authd_policy");

    tc = tcase_create("build");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_contract);
    tcase_add_test(tc, test_same_types_as_example);
    tcase_add_test(tc, test_revoked_expired_left_out);
    tcase_add_test(tc, test_build_refusals);
    suite_add_tcase(s, tc);

    tc = tcase_create("type");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_type_shape);
    tcase_add_loop_test(tc, test_type_refusals, 0,
                        sizeof(refusals) / sizeof(refusals[0]));
    tcase_add_test(tc, test_type_from_json_fields);
    suite_add_tcase(s, tc);

    tc = tcase_create("write");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_write_new);
    tcase_add_test(tc, test_write_replaces_atomically);
    tcase_add_test(tc, test_write_failure_keeps_old);
    suite_add_tcase(s, tc);

    if (getenv("AUTHD_TEST_DATABASE_URL") != NULL) {
        tc = tcase_create("db");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_refresh);
        suite_add_tcase(s, tc);
    }

    return s;
}


int
main(void)
{
    int       failed;
    SRunner  *sr;

    sr = srunner_create(authd_policy_suite());

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
