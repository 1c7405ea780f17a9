/*
 * authd's pages: html_escape() on every character that matters, and each
 * page builder with hostile values (markup, quotes, an attribute break-out)
 * that must come out escaped, next to plain values that come out as they
 * are.  Forms must carry the CSRF token and label every field.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "bb_buf.h"
#include "html.h"


#define HOSTILE   "<script>alert(\"x\")</script>&'"
#define ESCAPED   "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"
#define CSRF      "csrf0123456789abcdefghijklmnopqrstuvwxyzABC"


static char *
escape(const char *s)
{
    bb_buf_t  b;

    memset(&b, 0, sizeof(bb_buf_t));

    ck_assert_int_eq(html_escape(&b, s), 0);
    ck_assert_ptr_nonnull(bb_buf_cstr(&b));

    return b.data;
}


static char *
label(const char *scope)
{
    bb_buf_t  b;

    memset(&b, 0, sizeof(bb_buf_t));

    ck_assert_int_eq(html_scope_label(&b, scope), 0);
    ck_assert_ptr_nonnull(bb_buf_cstr(&b));

    return b.data;
}


static int
contains(const char *page, const char *s)
{
    return strstr(page, s) != NULL;
}


START_TEST(test_escape_each)
{
    size_t  i;
    char   *out;

    static const char  *cases[][2] = {
        { "&", "&amp;" },
        { "<", "&lt;" },
        { ">", "&gt;" },
        { "\"", "&quot;" },
        { "'", "&#39;" },
        { "a&b", "a&amp;b" },
        { "&amp;", "&amp;amp;" },
        { HOSTILE, ESCAPED },
        { "\" onmouseover=\"x", "&quot; onmouseover=&quot;x" }
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        out = escape(cases[i][0]);
        ck_assert_str_eq(out, cases[i][1]);
        free(out);
    }
}
END_TEST


START_TEST(test_escape_plain)
{
    size_t  i;
    char   *out;

    /* nothing to escape: the same bytes, UTF-8 and controls included */

    static const char  *cases[] = {
        "", "plain text", "caf\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x98\x80",
        "a=b;c/d?e#f%20", "tab\there"
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        out = escape(cases[i]);
        ck_assert_str_eq(out, cases[i]);
        free(out);
    }
}
END_TEST


START_TEST(test_escape_appends)
{
    bb_buf_t  b;

    memset(&b, 0, sizeof(bb_buf_t));

    ck_assert_int_eq(bb_buf_append_str(&b, "<p>"), 0);
    ck_assert_int_eq(html_escape(&b, "1 < 2"), 0);
    ck_assert_int_eq(bb_buf_append_str(&b, "</p>"), 0);
    ck_assert_str_eq(bb_buf_cstr(&b), "<p>1 &lt; 2</p>");

    bb_buf_free(&b);
}
END_TEST


START_TEST(test_scope_labels)
{
    size_t  i;
    char   *out;

    static const char  *cases[][2] = {
        { "patient/*.read", "Read and search all your records" },
        { "patient/Coverage.read", "Read and search your Coverage records" },
        { "patient/Coverage.rs", "Read and search your Coverage records" },
        { "patient/Patient.r", "Read your Patient records" },
        { "patient/Coverage.cruds",
          "Create, read, change, delete and search your Coverage records" },
        { "patient/Coverage.write",
          "Create, change and delete your Coverage records" },
        { "patient/*.*",
          "Create, read, change, delete and search all your records" },
        { "openid", "Confirm that it is you who signed in" },
        { "launch/patient", "Know your patient id" },
        { "profile", "See your name" },
        { "weird", "Use the permission weird" },
        { "patient/Coverage.xyz", "Use your Coverage records" }
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        out = label(cases[i][0]);
        ck_assert_str_eq(out, cases[i][1]);
        free(out);
    }
}
END_TEST


START_TEST(test_message)
{
    char  *page;

    page = html_message(HOSTILE, HOSTILE);
    ck_assert_ptr_nonnull(page);

    ck_assert(!contains(page, "<script>"));
    ck_assert(contains(page, "<title>" ESCAPED " - Blue Button</title>"));
    ck_assert(contains(page, "<h1>" ESCAPED "</h1>"));
    ck_assert(contains(page, "<p>" ESCAPED "</p>"));
    ck_assert(contains(page, "<!DOCTYPE html>"));
    ck_assert(contains(page, "<html lang=\"en\">"));

    free(page);

    /* the positive control: plain text as it is */

    page = html_message("Signed out", "You are signed out.");
    ck_assert_ptr_nonnull(page);
    ck_assert(contains(page, "<h1>Signed out</h1>"));
    ck_assert(contains(page, "<p>You are signed out.</p>"));

    free(page);
}
END_TEST


START_TEST(test_login)
{
    char          *page;
    html_login_t   l;
    html_field_t   fields[] = {
        { "client_id", "demo-app" },
        { "state", HOSTILE },
        { "nonce", NULL }
    };

    l.action = "/authorize";
    l.csrf = CSRF;
    l.hidden = fields;
    l.nhidden = 3;
    l.app_name = HOSTILE;
    l.username = "\"><img src=x>";
    l.notice = "Incorrect <b>username</b>";

    page = html_login(&l);
    ck_assert_ptr_nonnull(page);

    ck_assert(!contains(page, "<script>"));
    ck_assert(!contains(page, "<img"));
    ck_assert(!contains(page, "<b>"));
    ck_assert(contains(page, "<strong>" ESCAPED "</strong>"));
    ck_assert(contains(page, "value=\"&quot;&gt;&lt;img src=x&gt;\""));
    ck_assert(contains(page, "Incorrect &lt;b&gt;username&lt;/b&gt;"));

    ck_assert(contains(page, "<form method=\"post\" action=\"/authorize\">"));
    ck_assert(contains(page, "<input type=\"hidden\" name=\"csrf_token\" "
                             "value=\"" CSRF "\">"));
    ck_assert(contains(page, "<input type=\"hidden\" name=\"client_id\" "
                             "value=\"demo-app\">"));
    ck_assert(contains(page, "<input type=\"hidden\" name=\"state\" "
                             "value=\"" ESCAPED "\">"));

    /* a NULL value leaves its field out */

    ck_assert(!contains(page, "name=\"nonce\""));

    ck_assert(contains(page, "<label for=\"username\">Username</label>"));
    ck_assert(contains(page, "<input id=\"username\" name=\"username\""));
    ck_assert(contains(page, "<label for=\"password\">Password</label>"));
    ck_assert(contains(page, "<input id=\"password\" name=\"password\" "
                             "type=\"password\""));
    ck_assert(!contains(page, "<script"));

    free(page);

    /* without an app, a notice or a username */

    l.app_name = NULL;
    l.notice = NULL;
    l.username = NULL;
    l.nhidden = 0;

    page = html_login(&l);
    ck_assert_ptr_nonnull(page);
    ck_assert(!contains(page, "Sign in to decide"));
    ck_assert(!contains(page, "role=\"alert\""));
    ck_assert(contains(page, "required value=\"\">"));
    ck_assert(contains(page, "name=\"csrf_token\""));

    free(page);
}
END_TEST


START_TEST(test_consent)
{
    char            *page;
    const char      *scopes[] = { "openid", "patient/Coverage.rs",
                                  "a\"b<c" };
    html_field_t     fields[] = { { "scope", "openid x" } };
    html_consent_t   c;

    c.action = "/authorize";
    c.csrf = CSRF;
    c.hidden = fields;
    c.nhidden = 1;
    c.app_name = HOSTILE;
    c.user_name = "Alice <Example>";
    c.scopes = scopes;
    c.nscopes = 3;

    page = html_consent(&c);
    ck_assert_ptr_nonnull(page);

    ck_assert(!contains(page, "<script>"));
    ck_assert(contains(page, "<strong>" ESCAPED "</strong> asks to:"));
    ck_assert(contains(page, "Signed in as Alice &lt;Example&gt;."));
    ck_assert(contains(page, "name=\"csrf_token\" value=\"" CSRF "\""));

    /* one labelled checkbox per scope, checked */

    ck_assert(contains(page, "<input type=\"checkbox\" id=\"scope-0\" "
                             "name=\"scope_item\" value=\"openid\" "
                             "checked>"));
    ck_assert(contains(page, "<label for=\"scope-0\">Confirm that it is "
                             "you who signed in <small>(openid)</small>"));
    ck_assert(contains(page, "id=\"scope-1\" name=\"scope_item\" "
                             "value=\"patient/Coverage.rs\""));
    ck_assert(contains(page, "Read and search your Coverage records"));
    ck_assert(contains(page, "value=\"a&quot;b&lt;c\""));
    ck_assert(!contains(page, "id=\"scope-3\""));

    ck_assert(contains(page, "name=\"action\" value=\"approve\">Approve"));
    ck_assert(contains(page, "name=\"action\" value=\"deny\">Deny"));

    free(page);

    page = html_refusal(&c, "Not linked to <records>");
    ck_assert_ptr_nonnull(page);
    ck_assert(contains(page, "<p>Not linked to &lt;records&gt;</p>"));
    ck_assert(contains(page, "value=\"deny\">Return to " ESCAPED));
    ck_assert(contains(page, "name=\"csrf_token\" value=\"" CSRF "\""));
    ck_assert(!contains(page, "scope_item"));

    free(page);
}
END_TEST


START_TEST(test_apps)
{
    char        *page;
    html_app_t   apps[] = {
        { "demo-app", HOSTILE, "openid patient/*.read", "2024-01-01",
          "2025-01-01" },
        { "other", "Other app", "launch/patient", "2024-02-02",
          "2025-02-02" }
    };

    page = html_apps("Alice", CSRF, apps, 2);
    ck_assert_ptr_nonnull(page);

    ck_assert(!contains(page, "<script>"));
    ck_assert(contains(page, "<tr><td>" ESCAPED "</td>"));
    ck_assert(contains(page, "<li>Read and search all your records</li>"));
    ck_assert(contains(page, "<li>Know your patient id</li>"));
    ck_assert(contains(page, "<td>2024-01-01</td><td>2025-01-01</td>"));
    ck_assert(contains(page, "<form method=\"post\" "
                             "action=\"/apps/revoke\">"));
    ck_assert(contains(page, "name=\"client_id\" value=\"demo-app\""));
    ck_assert(contains(page, "name=\"client_id\" value=\"other\""));
    ck_assert(contains(page, "aria-label=\"Revoke the access of "
                             ESCAPED "\""));
    ck_assert(contains(page, "action=\"/logout\""));

    free(page);

    page = html_apps("Alice", CSRF, NULL, 0);
    ck_assert_ptr_nonnull(page);
    ck_assert(contains(page, "You have not authorized any app."));
    ck_assert(!contains(page, "<table>"));
    ck_assert(contains(page, "name=\"csrf_token\" value=\"" CSRF "\""));

    free(page);
}
END_TEST


START_TEST(test_logout)
{
    char  *page;

    page = html_logout(CSRF, 1);
    ck_assert_ptr_nonnull(page);
    ck_assert(contains(page, "action=\"/logout\""));
    ck_assert(contains(page, "name=\"csrf_token\" value=\"" CSRF "\""));
    free(page);

    page = html_logout(NULL, 0);
    ck_assert_ptr_nonnull(page);
    ck_assert(contains(page, "You are signed out."));
    ck_assert(!contains(page, "<form"));
    free(page);
}
END_TEST


static Suite *
html_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("authd_html");

    tc = tcase_create("escape");
    tcase_add_test(tc, test_escape_each);
    tcase_add_test(tc, test_escape_plain);
    tcase_add_test(tc, test_escape_appends);
    tcase_add_test(tc, test_scope_labels);
    suite_add_tcase(s, tc);

    tc = tcase_create("pages");
    tcase_add_test(tc, test_message);
    tcase_add_test(tc, test_login);
    tcase_add_test(tc, test_consent);
    tcase_add_test(tc, test_apps);
    tcase_add_test(tc, test_logout);
    suite_add_tcase(s, tc);

    return s;
}


int
main(void)
{
    int       failed;
    SRunner  *sr;

    sr = srunner_create(html_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
