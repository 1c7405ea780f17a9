/*
 * authd's OAuth rules: PKCE with RFC 7636's own example, redirect URIs
 * registered and matched, scopes checked and narrowed to what a client is
 * allowed, request parameters, and the access token, which must pass the
 * gateway's verifier bb_jwt_verify() with the key authd publishes: the
 * contract between the two programs.  Each refusal sits next to the same
 * input without its defect.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "bb_b64.h"
#include "bb_jwt.h"
#include "crypto.h"
#include "oauth.h"


#define ISS       "http://127.0.0.1:8400"
#define AUD       "http://127.0.0.1:8080/v1/fhir"
#define NOW       1700000000

/* RFC 7636 appendix B */
#define VERIFIER  "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
#define CHALLENGE "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


static char  err[256];


/* a string of n copies of c, for length bounds */

static char *
repeat(char c, size_t n)
{
    char  *s;

    s = malloc(n + 1);
    ck_assert_ptr_nonnull(s);
    memset(s, c, n);
    s[n] = '\0';

    return s;
}


START_TEST(test_pkce_rfc7636)
{
    ck_assert_int_eq(oauth_pkce_verify(VERIFIER, CHALLENGE), 1);

    /* one character of either side changed */

    ck_assert_int_eq(oauth_pkce_verify(
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl", CHALLENGE), 0);
    ck_assert_int_eq(oauth_pkce_verify(
        VERIFIER, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"), 0);

    /* "plain": the verifier itself as the challenge */

    ck_assert_int_eq(oauth_pkce_verify(VERIFIER, VERIFIER), 0);

    ck_assert_int_eq(oauth_pkce_verify(VERIFIER, CHALLENGE "A"), 0);
    ck_assert_int_eq(oauth_pkce_verify(VERIFIER, ""), 0);
    ck_assert_int_eq(oauth_pkce_verify(VERIFIER, NULL), 0);
}
END_TEST


START_TEST(test_pkce_verifier_form)
{
    char  *v, challenge[CRYPTO_SHA256_B64_SIZE];

    /* 43 and 128 characters pass, 42 and 129 do not */

    v = repeat('a', 43);
    ck_assert_int_eq(crypto_sha256_b64url(v, 43, challenge), 0);
    ck_assert_int_eq(oauth_pkce_verify(v, challenge), 1);
    v[42] = '\0';
    ck_assert_int_eq(oauth_pkce_verify(v, challenge), -1);
    free(v);

    v = repeat('~', 128);
    ck_assert_int_eq(crypto_sha256_b64url(v, 128, challenge), 0);
    ck_assert_int_eq(oauth_pkce_verify(v, challenge), 1);
    free(v);

    v = repeat('~', 129);
    ck_assert_int_eq(crypto_sha256_b64url(v, 129, challenge), 0);
    ck_assert_int_eq(oauth_pkce_verify(v, challenge), -1);
    free(v);

    /* every unreserved character, then one that is not */

    v = strdup("ABCXYZabcxyz0189-._~ABCXYZabcxyz0189-._~abc");
    ck_assert_int_eq(crypto_sha256_b64url(v, strlen(v), challenge), 0);
    ck_assert_int_eq(oauth_pkce_verify(v, challenge), 1);

    v[5] = '+';
    ck_assert_int_eq(crypto_sha256_b64url(v, strlen(v), challenge), 0);
    ck_assert_int_eq(oauth_pkce_verify(v, challenge), -1);

    v[5] = ' ';
    ck_assert_int_eq(oauth_pkce_verify(v, challenge), -1);

    free(v);

    ck_assert_int_eq(oauth_pkce_verify(NULL, CHALLENGE), -1);
}
END_TEST


START_TEST(test_pkce_challenge)
{
    ck_assert_int_eq(oauth_pkce_challenge_valid(CHALLENGE, "S256", err,
                                                sizeof(err)), 1);

    ck_assert_int_eq(oauth_pkce_challenge_valid(CHALLENGE, "plain", err,
                                                sizeof(err)), 0);
    ck_assert_str_eq(err, "code_challenge_method \"plain\" is not supported, "
                          "\"S256\" is required");

    ck_assert_int_eq(oauth_pkce_challenge_valid(CHALLENGE, "s256", err,
                                                sizeof(err)), 0);
    ck_assert_str_eq(err, "code_challenge_method \"s256\" is not supported, "
                          "\"S256\" is required");

    ck_assert_int_eq(oauth_pkce_challenge_valid(CHALLENGE, NULL, err,
                                                sizeof(err)), 0);
    ck_assert_str_eq(err,
                     "missing code_challenge_method, \"S256\" is required");

    ck_assert_int_eq(oauth_pkce_challenge_valid(CHALLENGE, "", err,
                                                sizeof(err)), 0);
    ck_assert_str_eq(err,
                     "missing code_challenge_method, \"S256\" is required");

    ck_assert_int_eq(oauth_pkce_challenge_valid(NULL, "S256", err,
                                                sizeof(err)), 0);
    ck_assert_str_eq(err, "missing code_challenge");
}
END_TEST


START_TEST(test_pkce_challenge_form)
{
    size_t  i;

    static const char  *bad[] = {
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c",       /* 42 */
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cMA",     /* 44 */
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM",      /* '+' */
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN",      /* extra bits */
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c=",      /* padding */
        VERIFIER "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        NULL
    };

    ck_assert_int_eq(oauth_pkce_challenge_valid(CHALLENGE, "S256", err,
                                                sizeof(err)), 1);

    for (i = 0; bad[i]; i++) {
        err[0] = '\0';
        ck_assert_msg(oauth_pkce_challenge_valid(bad[i], "S256", err,
                                                 sizeof(err)) == 0,
                      "\"%s\" accepted", bad[i]);
        ck_assert_str_eq(err, "code_challenge is not the base64url form of "
                              "a SHA-256 digest");
    }
}
END_TEST


START_TEST(test_redirect_match)
{
    static const char  *registered[] = {
        "https://app.example/cb",
        "http://127.0.0.1:9000/callback",
        "com.example.app:/oauth2"
    };

    ck_assert_int_eq(oauth_redirect_match("https://app.example/cb",
                                          registered, 3), 1);
    ck_assert_int_eq(oauth_redirect_match("http://127.0.0.1:9000/callback",
                                          registered, 3), 1);
    ck_assert_int_eq(oauth_redirect_match("com.example.app:/oauth2",
                                          registered, 3), 1);

    /* no prefix, no normalisation, no case folding, no extra query */

    ck_assert_int_eq(oauth_redirect_match("https://app.example/cb/",
                                          registered, 3), 0);
    ck_assert_int_eq(oauth_redirect_match("https://app.example/cbx",
                                          registered, 3), 0);
    ck_assert_int_eq(oauth_redirect_match("https://app.example/c",
                                          registered, 3), 0);
    ck_assert_int_eq(oauth_redirect_match("https://app.example/cb?x=1",
                                          registered, 3), 0);
    ck_assert_int_eq(oauth_redirect_match("https://APP.example/cb",
                                          registered, 3), 0);
    ck_assert_int_eq(oauth_redirect_match("https://app.example:443/cb",
                                          registered, 3), 0);
    ck_assert_int_eq(oauth_redirect_match("https://app.example/%63b",
                                          registered, 3), 0);
    ck_assert_int_eq(oauth_redirect_match("https://app.example/./cb",
                                          registered, 3), 0);
    ck_assert_int_eq(oauth_redirect_match("http://127.0.0.1:9001/callback",
                                          registered, 3), 0);

    /* only the first n count */

    ck_assert_int_eq(oauth_redirect_match("com.example.app:/oauth2",
                                          registered, 2), 0);
    ck_assert_int_eq(oauth_redirect_match("https://app.example/cb",
                                          registered, 0), 0);
    ck_assert_int_eq(oauth_redirect_match(NULL, registered, 3), 0);
}
END_TEST


typedef struct {
    const char  *uri;
    const char  *err;           /* NULL: valid */
} redirect_case_t;


START_TEST(test_redirect_uri_valid)
{
    int     valid;
    char   *s;
    size_t  i;

    static const redirect_case_t  cases[] = {
        { "https://app.example/cb", NULL },
        { "https://app.example", NULL },
        { "https://app.example:8443/cb?client=1", NULL },
        { "https://192.0.2.1/cb", NULL },
        { "https://[2001:db8::1]:8443/cb", NULL },
        { "http://localhost/cb", NULL },
        { "http://localhost:8080/cb", NULL },
        { "http://127.0.0.1:51234/", NULL },
        { "http://[::1]:51234/cb", NULL },
        { "com.example.app:/oauth2redirect", NULL },
        { "com.example.app://callback", NULL },

        { "http://app.example/cb",
          "redirect_uri \"http://app.example/cb\": http is allowed only on "
          "localhost, 127.0.0.1 and [::1]" },
        { "http://localhost.evil.example/cb",
          "redirect_uri \"http://localhost.evil.example/cb\": http is "
          "allowed only on localhost, 127.0.0.1 and [::1]" },
        { "http://127.0.0.2/cb",
          "redirect_uri \"http://127.0.0.2/cb\": http is allowed only on "
          "localhost, 127.0.0.1 and [::1]" },
        { "https://app.example/cb#x",
          "redirect_uri \"https://app.example/cb#x\" has a fragment" },
        { "https://app.example/cb#",
          "redirect_uri \"https://app.example/cb#\" has a fragment" },
        { "https://user@app.example/cb",
          "redirect_uri \"https://user@app.example/cb\" has userinfo" },
        { "https://app.example@evil.example/cb",
          "redirect_uri \"https://app.example@evil.example/cb\" has "
          "userinfo" },
        { "http://localhost@evil.example/cb",
          "redirect_uri \"http://localhost@evil.example/cb\" has userinfo" },
        { "com.example.app://u@host/cb",
          "redirect_uri \"com.example.app://u@host/cb\" has userinfo" },
        { "https://app.example\\@evil.example/cb",
          "redirect_uri \"https://app.example?@evil.example/cb\" holds a "
          "backslash" },
        { "https:/app.example/cb",
          "redirect_uri \"https:/app.example/cb\" has no host" },
        { "https:///cb", "redirect_uri \"https:///cb\" has no host" },
        { "https://:443/cb", "redirect_uri \"https://:443/cb\" has no host" },
        { "https://app.example:/cb",
          "redirect_uri \"https://app.example:/cb\" has an invalid port" },
        { "https://app.example:0/cb",
          "redirect_uri \"https://app.example:0/cb\" has an invalid port" },
        { "https://app.example:65536/cb",
          "redirect_uri \"https://app.example:65536/cb\" has an invalid "
          "port" },
        { "https://app.example:80x/cb",
          "redirect_uri \"https://app.example:80x/cb\" has an invalid port" },
        { "https://app_example/cb",
          "redirect_uri \"https://app_example/cb\" has an invalid host" },
        { "https://.app.example/cb",
          "redirect_uri \"https://.app.example/cb\" has an invalid host" },
        { "https://[::1/cb",
          "redirect_uri \"https://[::1/cb\" has an invalid host" },
        { "https://[::1]x/cb",
          "redirect_uri \"https://[::1]x/cb\" has an invalid host" },
        { "HTTPS://app.example/cb",
          "redirect_uri \"HTTPS://app.example/cb\" has an unsupported "
          "scheme" },
        { "javascript:alert(1)",
          "redirect_uri \"javascript:alert(1)\" has an unsupported scheme" },
        { "data:text/html,x",
          "redirect_uri \"data:text/html,x\" has an unsupported scheme" },
        { "myapp:/cb", "redirect_uri \"myapp:/cb\" has an unsupported "
          "scheme" },
        { "com.example.app:",
          "redirect_uri \"com.example.app:\" has no path" },
        { "/cb", "redirect_uri \"/cb\" is not an absolute URI" },
        { "app.example/cb",
          "redirect_uri \"app.example/cb\" is not an absolute URI" },
        { "1https://app.example/cb",
          "redirect_uri \"1https://app.example/cb\" is not an absolute URI" },
        { "https://app.example/c b",
          "redirect_uri holds whitespace, a control or a non-ASCII "
          "character" },
        { "https://app.example/cb\t",
          "redirect_uri holds whitespace, a control or a non-ASCII "
          "character" },
        { "https://app.example/caf\xc3\xa9",
          "redirect_uri holds whitespace, a control or a non-ASCII "
          "character" },
        { "", "missing redirect_uri" },
        { NULL, "missing redirect_uri" },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        valid = oauth_redirect_uri_valid(cases[i].uri, err, sizeof(err));

        if (cases[i].err == NULL) {
            ck_assert_msg(valid == 1, "\"%s\" refused: %s", cases[i].uri,
                          err);

        } else {
            ck_assert_msg(valid == 0, "\"%s\" accepted", cases[i].uri);
            ck_assert_str_eq(err, cases[i].err);
        }
    }

    /* the length bound, at the limit and past it */

    s = repeat('a', OAUTH_REDIRECT_URI_MAX);
    memcpy(s, "https://app.example/", 20);
    ck_assert_int_eq(oauth_redirect_uri_valid(s, err, sizeof(err)), 1);
    free(s);

    s = repeat('a', OAUTH_REDIRECT_URI_MAX + 1);
    memcpy(s, "https://app.example/", 20);
    ck_assert_int_eq(oauth_redirect_uri_valid(s, err, sizeof(err)), 0);
    ck_assert_str_eq(err, "redirect_uri is longer than 2048 bytes");
    free(s);
}
END_TEST


START_TEST(test_scope_valid)
{
    size_t  i;

    static const char  *good[] = {
        "openid", "fhirUser", "profile", "launch/patient", "offline_access",
        "patient/Coverage.read", "patient/Coverage.write",
        "patient/Coverage.*", "patient/*.read", "patient/*.*",
        "patient/ExplanationOfBenefit.rs", "patient/Patient.r",
        "patient/Patient.s", "patient/Patient.cruds", "patient/Patient.cud",
        "patient/*.rs", NULL
    };

    static const char  *bad[] = {
        "", "openid2", "OpenID", "fhiruser", "launch", "launch/encounter",
        "online_access", "user/Coverage.read", "system/Coverage.read",
        "patient/coverage.read", "patient/Cover1.read", "patient/.read",
        "patient/Coverage.", "patient/Coverage", "patient/Coverage.sr",
        "patient/Coverage.rr", "patient/Coverage.crudsx",
        "patient/Coverage.rs?category=x", "patient/Coverage.Read",
        "patient/Cov*.read", "patient/**.read", "Patient/Coverage.read",
        "patient/Coverage.read.x", NULL
    };

    for (i = 0; good[i]; i++) {
        ck_assert_msg(oauth_scope_valid(good[i], strlen(good[i])) == 1,
                      "\"%s\" refused", good[i]);
    }

    for (i = 0; bad[i]; i++) {
        ck_assert_msg(oauth_scope_valid(bad[i], strlen(bad[i])) == 0,
                      "\"%s\" accepted", bad[i]);
    }

    /* the length given counts, not the NUL */

    ck_assert_int_eq(oauth_scope_valid("openid profile", 6), 1);
    ck_assert_int_eq(oauth_scope_valid("openid profile", 7), 0);
}
END_TEST


static void
assert_normalized(const char *scope, const char *expect)
{
    char              *out;
    oauth_scope_rc_t   rc;

    rc = oauth_scope_normalize(scope, &out, err, sizeof(err));
    ck_assert_msg(rc == OAUTH_SCOPE_OK, "\"%s\" refused: %s", scope, err);
    ck_assert_str_eq(out, expect);
    free(out);
}


static void
assert_invalid(const char *scope, const char *expect)
{
    char              *out;
    oauth_scope_rc_t   rc;

    rc = oauth_scope_normalize(scope, &out, err, sizeof(err));
    ck_assert_msg(rc == OAUTH_SCOPE_INVALID, "\"%s\" gave %d", scope, rc);
    ck_assert_ptr_null(out);
    ck_assert_str_eq(err, expect);
}


START_TEST(test_scope_normalize)
{
    assert_normalized("openid patient/Coverage.read",
                      "openid patient/Coverage.read");
    assert_normalized("  openid   patient/Coverage.read  ",
                      "openid patient/Coverage.read");
    assert_normalized("patient/Coverage.read openid patient/Coverage.read "
                      "openid", "patient/Coverage.read openid");

    /* two forms of the same grant are two scopes, both kept */

    assert_normalized("patient/Coverage.read patient/Coverage.rs",
                      "patient/Coverage.read patient/Coverage.rs");
}
END_TEST


START_TEST(test_scope_refused)
{
    char  *s, *out;

    assert_normalized("openid patient/Coverage.read",
                      "openid patient/Coverage.read");
    assert_invalid("openid patient/Coverage.red",
                   "invalid scope \"patient/Coverage.red\"");
    assert_invalid("openid user/Coverage.read",
                   "scope \"user/Coverage.read\" is not supported, only "
                   "patient/ scopes are granted");
    assert_invalid("system/*.read",
                   "scope \"system/*.read\" is not supported, only patient/ "
                   "scopes are granted");
    assert_invalid("openid \"x\\", "invalid scope \"?x?\"");

    assert_normalized("openid profile", "openid profile");
    assert_invalid("openid\tprofile", "scope holds a control character");
    assert_invalid("openid\nprofile", "scope holds a control character");
    assert_invalid("openid profile\x7f", "scope holds a control character");
    assert_invalid("openid pr\xc3\xb6" "file",
                   "scope holds a non-ASCII character");

    assert_invalid("", "empty scope");
    assert_invalid("   ", "empty scope");
    assert_invalid(NULL, "missing scope");

    /* 64 scopes pass, 65 do not */

    s = malloc(65 * 7 + 1);
    s[0] = '\0';

    while (strlen(s) < 64 * 7) {
        strcat(s, "openid ");
    }

    ck_assert_int_eq(oauth_scope_normalize(s, &out, err, sizeof(err)),
                     OAUTH_SCOPE_OK);
    ck_assert_str_eq(out, "openid");
    free(out);

    strcat(s, "openid");
    assert_invalid(s, "more than 64 scopes");
    free(s);

    /* a long bad scope is quoted cut short */

    assert_invalid("patient/Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                   "aaaaaaaaaaaaaaaaaaaaaa.read",
                   "invalid scope \"patient/Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                   "aaaaaaaaaaaaaaaaaaaaaa...\"");
}
END_TEST


static void
assert_intersect(const char *requested, const char *allowed,
    const char *expect)
{
    char              *out;
    oauth_scope_rc_t   rc;

    rc = oauth_scope_intersect(requested, allowed, &out, err, sizeof(err));
    ck_assert_msg(rc == OAUTH_SCOPE_OK, "\"%s\" against \"%s\" gave %d: %s",
                  requested, allowed, rc, err);
    ck_assert_str_eq(out, expect);
    free(out);
}


static void
assert_not_intersect(const char *requested, const char *allowed,
    oauth_scope_rc_t expect, const char *expect_err)
{
    char              *out;
    oauth_scope_rc_t   rc;

    rc = oauth_scope_intersect(requested, allowed, &out, err, sizeof(err));
    ck_assert_msg(rc == expect, "\"%s\" against \"%s\" gave %d", requested,
                  allowed, rc);
    ck_assert_ptr_null(out);
    ck_assert_str_eq(err, expect_err);
}


START_TEST(test_scope_intersect_exact)
{
    static const char  allowed[] =
        "openid fhirUser launch/patient patient/Coverage.read "
        "patient/Patient.rs";

    assert_intersect("openid patient/Coverage.read", allowed,
                     "openid patient/Coverage.read");

    /* request order, not the allowed order; duplicates once */

    assert_intersect("patient/Patient.rs launch/patient openid "
                     "patient/Patient.rs", allowed,
                     "patient/Patient.rs launch/patient openid");

    /* what is not allowed is left out */

    assert_intersect("openid profile offline_access patient/Coverage.read",
                     allowed, "openid patient/Coverage.read");
    assert_intersect("openid patient/ExplanationOfBenefit.read", allowed,
                     "openid");
}
END_TEST


START_TEST(test_scope_intersect_wildcard_allowed)
{
    static const char  allowed[] = "openid patient/*.read";

    assert_intersect("patient/Coverage.read", allowed,
                     "patient/Coverage.read");
    assert_intersect("patient/Coverage.rs", allowed, "patient/Coverage.rs");
    assert_intersect("patient/Coverage.r patient/Patient.s", allowed,
                     "patient/Coverage.r patient/Patient.s");
    assert_intersect("patient/*.read", allowed, "patient/*.read");
    assert_intersect("patient/*.rs", allowed, "patient/*.rs");

    /* asked for more than allowed: narrowed to the allowed part */

    assert_intersect("patient/Coverage.cruds", allowed,
                     "patient/Coverage.rs");
    assert_intersect("patient/Coverage.*", allowed, "patient/Coverage.rs");
    assert_intersect("patient/*.*", allowed, "patient/*.rs");
    assert_intersect("patient/Coverage.read patient/Coverage.cruds",
                     allowed, "patient/Coverage.read patient/Coverage.rs");

    assert_not_intersect("patient/Coverage.write", allowed,
                         OAUTH_SCOPE_NOT_ALLOWED,
                         "none of the requested scopes is allowed for the "
                         "client");
    assert_not_intersect("patient/Coverage.cud", allowed,
                         OAUTH_SCOPE_NOT_ALLOWED,
                         "none of the requested scopes is allowed for the "
                         "client");
}
END_TEST


START_TEST(test_scope_intersect_wildcard_requested)
{
    static const char  allowed[] =
        "openid patient/Patient.read patient/Coverage.r "
        "patient/ExplanationOfBenefit.rs patient/Coverage.s";

    /* a wildcard request gets each allowed type, once, in allowed order */

    assert_intersect("patient/*.read", allowed,
                     "patient/Patient.read patient/Coverage.read "
                     "patient/ExplanationOfBenefit.read");
    assert_intersect("openid patient/*.rs", allowed,
                     "openid patient/Patient.rs patient/Coverage.rs "
                     "patient/ExplanationOfBenefit.rs");
    assert_intersect("patient/*.r", allowed,
                     "patient/Patient.r patient/Coverage.r "
                     "patient/ExplanationOfBenefit.r");
    assert_intersect("patient/*.cruds", allowed,
                     "patient/Patient.rs patient/Coverage.rs "
                     "patient/ExplanationOfBenefit.rs");

    /* a specific request next to the wildcard one is not repeated */

    assert_intersect("patient/Coverage.read patient/*.read", allowed,
                     "patient/Coverage.read patient/Patient.read "
                     "patient/ExplanationOfBenefit.read");

    assert_not_intersect("patient/*.write", allowed,
                         OAUTH_SCOPE_NOT_ALLOWED,
                         "none of the requested scopes is allowed for the "
                         "client");
}
END_TEST


/* allowed wildcards count first, per-type scopes add what they leave */

START_TEST(test_scope_intersect_mixed)
{
    assert_intersect("patient/*.cruds", "patient/*.rs patient/Coverage.cud",
                     "patient/*.rs patient/Coverage.cud");
    assert_intersect("patient/*.cruds", "patient/*.rs patient/Coverage.rs",
                     "patient/*.rs");
    assert_intersect("patient/Coverage.cruds",
                     "patient/*.rs patient/Coverage.cud",
                     "patient/Coverage.cruds");
}
END_TEST


START_TEST(test_scope_intersect_refused)
{
    static const char  allowed[] = "openid patient/*.read";

    assert_intersect("openid patient/Coverage.read", allowed,
                     "openid patient/Coverage.read");

    /* a malformed or unknown scope is invalid, even next to good ones */

    assert_not_intersect("openid patient/Coverage.reed", allowed,
                         OAUTH_SCOPE_INVALID,
                         "invalid scope \"patient/Coverage.reed\"");
    assert_not_intersect("openid user/Coverage.read", allowed,
                         OAUTH_SCOPE_INVALID,
                         "scope \"user/Coverage.read\" is not supported, "
                         "only patient/ scopes are granted");
    assert_not_intersect("", allowed, OAUTH_SCOPE_INVALID, "empty scope");

    /* valid but not the client's: not allowed, a different answer */

    assert_not_intersect("profile", allowed, OAUTH_SCOPE_NOT_ALLOWED,
                         "none of the requested scopes is allowed for the "
                         "client");
    assert_not_intersect("openid", "", OAUTH_SCOPE_NOT_ALLOWED,
                         "none of the requested scopes is allowed for the "
                         "client");
    assert_not_intersect("openid", NULL, OAUTH_SCOPE_NOT_ALLOWED,
                         "none of the requested scopes is allowed for the "
                         "client");

    /* an allowed scope matches whole, never by prefix */

    assert_not_intersect("openid", "openid2 xopenid", OAUTH_SCOPE_NOT_ALLOWED,
                         "none of the requested scopes is allowed for the "
                         "client");
    assert_intersect("openid", "openid2 openid", "openid");
}
END_TEST


static EVP_PKEY  *signer;
static EVP_PKEY  *stranger;


static void
setup_keys(void)
{
    signer = crypto_p256_generate();
    stranger = crypto_p256_generate();
}


static void
teardown_keys(void)
{
    EVP_PKEY_free(signer);
    EVP_PKEY_free(stranger);
}


/* the policy the gateway would load: authd's issuer, audience and JWK */

static void
policy_with(bb_policy_t *policy, bb_key_t *key, EVP_PKEY *pkey,
    const char *kid)
{
    json_t  *jwk;

    memset(policy, 0, sizeof(bb_policy_t));

    ck_assert_int_eq(crypto_jwk_public(pkey, kid, &jwk), 0);
    ck_assert_msg(bb_key_from_jwk(key, jwk, err, sizeof(err)) == 0,
                  "bb_key_from_jwk(): %s", err);
    json_decref(jwk);

    policy->issuer = ISS;
    policy->audience = AUD;
    policy->keys = key;
    policy->nkeys = 1;
}


static void
claims_init(oauth_claims_t *c)
{
    c->iss = ISS;
    c->aud = AUD;
    c->sub = "user-42";
    c->client_id = "app-1";
    c->scope = "openid patient/Coverage.read";
    c->patient = "-19990000000001";
    c->jti = "jti-0001";
    c->iat = NOW;
    c->exp = NOW + 3600;
}


static bb_jwt_limits_t
limits_at(int64_t now)
{
    bb_jwt_limits_t  limits;

    limits.now = now;
    limits.leeway = 30;
    limits.max_lifetime = 3600;
    limits.max_size = 0;

    return limits;
}


START_TEST(test_token_gateway_accepts)
{
    char             *token;
    bb_jwt_t         *jwt;
    bb_key_t          key;
    bb_policy_t       policy;
    oauth_claims_t    c;
    bb_jwt_limits_t   limits;

    policy_with(&policy, &key, signer, "k1");
    claims_init(&c);
    limits = limits_at(NOW + 10);

    ck_assert_int_eq(oauth_access_token(&c, "k1", signer, &token), 0);

    jwt = bb_jwt_verify(&policy, token, strlen(token), &limits, err,
                        sizeof(err));
    ck_assert_msg(jwt != NULL, "bb_jwt_verify(): %s", err);

    ck_assert_str_eq(jwt->sub, "user-42");
    ck_assert_str_eq(jwt->client_id, "app-1");
    ck_assert_str_eq(jwt->scope, "openid patient/Coverage.read");
    ck_assert_str_eq(jwt->patient, "-19990000000001");
    ck_assert_str_eq(jwt->jti, "jti-0001");
    ck_assert_str_eq(jwt->kid, "k1");
    ck_assert_int_eq(jwt->iat, NOW);
    ck_assert_int_eq(jwt->exp, NOW + 3600);

    bb_jwt_free(jwt);
    free(token);

    /* without a patient the claim is absent, not empty */

    c.patient = NULL;
    ck_assert_int_eq(oauth_access_token(&c, "k1", signer, &token), 0);

    jwt = bb_jwt_verify(&policy, token, strlen(token), &limits, err,
                        sizeof(err));
    ck_assert_msg(jwt != NULL, "bb_jwt_verify(): %s", err);
    ck_assert_ptr_null(jwt->patient);

    bb_jwt_free(jwt);
    free(token);
    bb_key_clear(&key);
}
END_TEST


START_TEST(test_token_gateway_refuses)
{
    char             *token;
    bb_jwt_t         *jwt;
    bb_key_t          key;
    bb_policy_t       policy;
    oauth_claims_t    c;
    bb_jwt_limits_t   limits;

    policy_with(&policy, &key, signer, "k1");
    claims_init(&c);
    limits = limits_at(NOW + 10);

    /* the right key passes, so each refusal below has one cause */

    ck_assert_int_eq(oauth_access_token(&c, "k1", signer, &token), 0);
    jwt = bb_jwt_verify(&policy, token, strlen(token), &limits, err,
                        sizeof(err));
    ck_assert_msg(jwt != NULL, "bb_jwt_verify(): %s", err);
    bb_jwt_free(jwt);
    free(token);

    /* signed by another key under the published kid */

    ck_assert_int_eq(oauth_access_token(&c, "k1", stranger, &token), 0);
    jwt = bb_jwt_verify(&policy, token, strlen(token), &limits, err,
                        sizeof(err));
    ck_assert_ptr_null(jwt);
    ck_assert_str_eq(err, "token signature does not verify");
    free(token);

    /* a kid the policy does not publish */

    ck_assert_int_eq(oauth_access_token(&c, "k2", signer, &token), 0);
    jwt = bb_jwt_verify(&policy, token, strlen(token), &limits, err,
                        sizeof(err));
    ck_assert_ptr_null(jwt);
    ck_assert_str_eq(err, "unknown kid \"k2\"");
    free(token);

    /* another audience */

    c.aud = "http://127.0.0.1:8080/v2/fhir";
    ck_assert_int_eq(oauth_access_token(&c, "k1", signer, &token), 0);
    jwt = bb_jwt_verify(&policy, token, strlen(token), &limits, err,
                        sizeof(err));
    ck_assert_ptr_null(jwt);
    ck_assert_str_eq(err, "token \"aud\" does not include the policy "
                          "audience");
    free(token);

    /* expired by the time it is presented */

    claims_init(&c);
    limits = limits_at(NOW + 3600 + 31);
    ck_assert_int_eq(oauth_access_token(&c, "k1", signer, &token), 0);
    jwt = bb_jwt_verify(&policy, token, strlen(token), &limits, err,
                        sizeof(err));
    ck_assert_ptr_null(jwt);
    ck_assert_str_eq(err, "token expired");
    free(token);

    bb_key_clear(&key);
}
END_TEST


START_TEST(test_token_form)
{
    char            *token, *dot, *dot2;
    json_t          *payload;
    bb_buf_t         hdr = { 0 }, body = { 0 }, sig = { 0 };
    oauth_claims_t   c;

    claims_init(&c);

    ck_assert_int_eq(oauth_access_token(&c, "k1", signer, &token), 0);

    dot = strchr(token, '.');
    ck_assert_ptr_nonnull(dot);
    dot2 = strchr(dot + 1, '.');
    ck_assert_ptr_nonnull(dot2);
    ck_assert_ptr_null(strchr(dot2 + 1, '.'));

    ck_assert_int_eq(bb_b64url_decode(token, dot - token, &hdr), 0);
    ck_assert_int_eq(bb_b64url_decode(dot + 1, dot2 - dot - 1, &body), 0);
    ck_assert_int_eq(bb_b64url_decode(dot2 + 1, strlen(dot2 + 1), &sig), 0);

    ck_assert_str_eq(bb_buf_cstr(&hdr),
                     "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}");
    ck_assert_uint_eq(sig.len, 64);

    /* compact JSON, the claims in a fixed order */

    ck_assert_str_eq(bb_buf_cstr(&body),
                     "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\","
                     "\"sub\":\"user-42\",\"client_id\":\"app-1\","
                     "\"scope\":\"openid patient/Coverage.read\","
                     "\"patient\":\"-19990000000001\",\"jti\":\"jti-0001\","
                     "\"iat\":1700000000,\"exp\":1700003600}");

    payload = json_loadb(body.data, body.len, JSON_REJECT_DUPLICATES, NULL);
    ck_assert_ptr_nonnull(payload);
    json_decref(payload);

    bb_buf_free(&hdr);
    bb_buf_free(&body);
    bb_buf_free(&sig);
    free(token);
}
END_TEST


START_TEST(test_token_claims_refused)
{
    char            *token;
    oauth_claims_t   c;

    claims_init(&c);
    ck_assert_int_eq(oauth_access_token(&c, "k1", signer, &token), 0);
    free(token);

    c.sub = NULL;
    ck_assert_int_eq(oauth_access_token(&c, "k1", signer, &token), -1);
    ck_assert_ptr_null(token);

    claims_init(&c);
    c.scope = "";
    ck_assert_int_eq(oauth_access_token(&c, "k1", signer, &token), -1);

    claims_init(&c);
    c.patient = "";
    ck_assert_int_eq(oauth_access_token(&c, "k1", signer, &token), -1);

    claims_init(&c);
    c.exp = c.iat;
    ck_assert_int_eq(oauth_access_token(&c, "k1", signer, &token), -1);

    claims_init(&c);
    ck_assert_int_eq(oauth_access_token(&c, "", signer, &token), -1);
    ck_assert_int_eq(oauth_access_token(&c, NULL, signer, &token), -1);
    ck_assert_int_eq(oauth_access_token(&c, "k1", NULL, &token), -1);

    /* the gateway refuses control characters in claims: so does authd */

    c.sub = "user\n42";
    ck_assert_int_eq(oauth_access_token(&c, "k1", signer, &token), -1);

    claims_init(&c);
    c.patient = "-1999\t0001";
    ck_assert_int_eq(oauth_access_token(&c, "k1", signer, &token), -1);

    /* a string that is not UTF-8 cannot become a claim */

    claims_init(&c);
    c.sub = "user-\xff";
    ck_assert_int_eq(oauth_access_token(&c, "k1", signer, &token), -1);
}
END_TEST


typedef struct {
    const char  *value;
    size_t       max;
    const char  *err;           /* NULL: accepted */
} param_case_t;


START_TEST(test_check_param)
{
    size_t  i;
    int     rc;

    static const param_case_t  cases[] = {
        { "xyz", 16, NULL },
        { "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 64, NULL },
        { "0123456789abcdef", 16, NULL },
        { "0123456789abcdefg", 16, "state is longer than 16 bytes" },
        { "", 16, "missing state" },
        { NULL, 16, "missing state" },
        { "a\tb", 16, "state holds a control character" },
        { "a\rb", 16, "state holds a control character" },
        { "a\x1f" "b", 16, "state holds a control character" },
        { "a\x7f" "b", 16, "state holds a control character" },
        { "a\xc2\x85" "b", 16, "state holds a control character" },
        { "a\xc2\xa0" "b", 16, NULL },
        { "a\xff" "b", 16, "state is not valid UTF-8" },
        { "a\xc3" "b", 16, "state is not valid UTF-8" },
        { "a\xc0\xaf" "b", 16, "state is not valid UTF-8" },
        { "a\xed\xa0\x80" "b", 16, "state is not valid UTF-8" },
        { "a\xf4\x90\x80\x80" "b", 16, "state is not valid UTF-8" },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        rc = oauth_check_param("state", cases[i].value, cases[i].max, err,
                               sizeof(err));

        if (cases[i].err == NULL) {
            ck_assert_msg(rc == 0, "case %zu refused: %s", i, err);

        } else {
            ck_assert_msg(rc == -1, "case %zu accepted", i);
            ck_assert_str_eq(err, cases[i].err);
        }
    }
}
END_TEST


START_TEST(test_client_id)
{
    char  *s;

    ck_assert_int_eq(oauth_client_id_valid("app-1", err, sizeof(err)), 1);
    ck_assert_int_eq(oauth_client_id_valid("A.b_c~d-9", err, sizeof(err)),
                     1);

    ck_assert_int_eq(oauth_client_id_valid("app 1", err, sizeof(err)), 0);
    ck_assert_str_eq(err, "invalid client_id \"app 1\"");
    ck_assert_int_eq(oauth_client_id_valid("app/1", err, sizeof(err)), 0);
    ck_assert_str_eq(err, "invalid client_id \"app/1\"");
    ck_assert_int_eq(oauth_client_id_valid("app\"1\n", err, sizeof(err)), 0);
    ck_assert_str_eq(err, "invalid client_id \"app?1?\"");
    ck_assert_int_eq(oauth_client_id_valid("", err, sizeof(err)), 0);
    ck_assert_str_eq(err, "missing client_id");
    ck_assert_int_eq(oauth_client_id_valid(NULL, err, sizeof(err)), 0);
    ck_assert_str_eq(err, "missing client_id");

    s = repeat('c', OAUTH_CLIENT_ID_MAX);
    ck_assert_int_eq(oauth_client_id_valid(s, err, sizeof(err)), 1);
    free(s);

    s = repeat('c', OAUTH_CLIENT_ID_MAX + 1);
    ck_assert_int_eq(oauth_client_id_valid(s, err, sizeof(err)), 0);
    ck_assert_str_eq(err, "client_id is longer than 128 bytes");
    free(s);
}
END_TEST


static Suite *
oauth_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("authd_oauth");

    tc = tcase_create("pkce");
    tcase_add_test(tc, test_pkce_rfc7636);
    tcase_add_test(tc, test_pkce_verifier_form);
    tcase_add_test(tc, test_pkce_challenge);
    tcase_add_test(tc, test_pkce_challenge_form);
    suite_add_tcase(s, tc);

    tc = tcase_create("redirect");
    tcase_add_test(tc, test_redirect_match);
    tcase_add_test(tc, test_redirect_uri_valid);
    suite_add_tcase(s, tc);

    tc = tcase_create("scope");
    tcase_add_test(tc, test_scope_valid);
    tcase_add_test(tc, test_scope_normalize);
    tcase_add_test(tc, test_scope_refused);
    tcase_add_test(tc, test_scope_intersect_exact);
    tcase_add_test(tc, test_scope_intersect_wildcard_allowed);
    tcase_add_test(tc, test_scope_intersect_wildcard_requested);
    tcase_add_test(tc, test_scope_intersect_mixed);
    tcase_add_test(tc, test_scope_intersect_refused);
    suite_add_tcase(s, tc);

    tc = tcase_create("token");
    tcase_add_unchecked_fixture(tc, setup_keys, teardown_keys);
    tcase_add_test(tc, test_token_gateway_accepts);
    tcase_add_test(tc, test_token_gateway_refuses);
    tcase_add_test(tc, test_token_form);
    tcase_add_test(tc, test_token_claims_refused);
    suite_add_tcase(s, tc);

    tc = tcase_create("params");
    tcase_add_test(tc, test_check_param);
    tcase_add_test(tc, test_client_id);
    suite_add_tcase(s, tc);

    return s;
}


int
main(void)
{
    int       failed;
    SRunner  *sr;

    sr = srunner_create(oauth_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
