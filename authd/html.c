/*
 * Server-rendered pages.  Pages are assembled by html_put(), a tiny
 * formatter whose "%s" escapes its argument and "%r" copies a trusted one
 * (a literal of this file or a label built here), so that a value can
 * only reach a page escaped unless the call says otherwise in plain sight.
 * The pages use no script and no inline style: the page policy
 * (default-src 'self') would block both.
 */

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_buf.h"
#include "html.h"


#define HTML_SITE  "Blue Button"


static int html_put(bb_buf_t *b, const char *fmt, ...);
static int html_begin(bb_buf_t *b, const char *title);
static char *html_end(bb_buf_t *b);
static int html_hidden(bb_buf_t *b, const char *csrf,
    const html_field_t *fields, size_t n);
static int html_verbs(bb_buf_t *b, const char *perm, size_t len);


int
html_escape(bb_buf_t *b, const char *s)
{
    const char  *p, *rep;

    for (p = s; *p != '\0'; p++) {

        switch (*p) {

        case '&':
            rep = "&amp;";
            break;

        case '<':
            rep = "&lt;";
            break;

        case '>':
            rep = "&gt;";
            break;

        case '"':
            rep = "&quot;";
            break;

        case '\'':
            rep = "&#39;";
            break;

        default:
            rep = NULL;
            break;
        }

        if (rep != NULL) {
            if (bb_buf_append(b, s, p - s) != 0
                || bb_buf_append_str(b, rep) != 0)
            {
                return -1;
            }

            s = p + 1;
        }
    }

    return bb_buf_append(b, s, p - s);
}


int
html_scope_label(bb_buf_t *b, const char *scope)
{
    size_t       tlen;
    const char  *type, *dot;

    if (strcmp(scope, "openid") == 0) {
        return bb_buf_append_str(b, "Confirm that it is you who signed in");
    }

    if (strcmp(scope, "fhirUser") == 0) {
        return bb_buf_append_str(b, "Know which Medicare record is yours");
    }

    if (strcmp(scope, "profile") == 0) {
        return bb_buf_append_str(b, "See your name");
    }

    if (strcmp(scope, "launch/patient") == 0) {
        return bb_buf_append_str(b, "Know your patient id");
    }

    if (strcmp(scope, "offline_access") == 0) {
        return bb_buf_append_str(b, "Keep this access when you are not "
                                 "using the app, until you revoke it");
    }

    dot = strrchr(scope, '.');

    if (strncmp(scope, "patient/", 8) != 0 || dot == NULL
        || dot < scope + 9)
    {
        return (bb_buf_append_str(b, "Use the permission ") != 0
                || bb_buf_append_str(b, scope) != 0) ? -1 : 0;
    }

    type = scope + 8;
    tlen = dot - type;

    if (html_verbs(b, dot + 1, strlen(dot + 1)) != 0) {
        return -1;
    }

    if (tlen == 1 && type[0] == '*') {
        return bb_buf_append_str(b, " all your records");
    }

    return (bb_buf_append_str(b, " your ") != 0
            || bb_buf_append(b, type, tlen) != 0
            || bb_buf_append_str(b, " records") != 0) ? -1 : 0;
}


char *
html_message(const char *title, const char *text)
{
    bb_buf_t  b;

    memset(&b, 0, sizeof(bb_buf_t));

    if (html_begin(&b, title) != 0
        || html_put(&b, "<p>%s</p>\n", text) != 0)
    {
        bb_buf_free(&b);
        return NULL;
    }

    return html_end(&b);
}


char *
html_login(const html_login_t *page)
{
    bb_buf_t  b;

    memset(&b, 0, sizeof(bb_buf_t));

    if (html_begin(&b, "Sign in") != 0) {
        goto failed;
    }

    if (page->app_name != NULL
        && html_put(&b, "<p>Sign in to decide what <strong>%s</strong> "
                    "may see of your Medicare records.</p>\n",
                    page->app_name)
           != 0)
    {
        goto failed;
    }

    if (page->notice != NULL
        && html_put(&b, "<p role=\"alert\"><strong>%s</strong></p>\n",
                    page->notice)
           != 0)
    {
        goto failed;
    }

    if (html_put(&b, "<form method=\"post\" action=\"%s\">\n", page->action)
        != 0
        || html_hidden(&b, page->csrf, page->hidden, page->nhidden) != 0
        || html_put(&b, "<p><label for=\"username\">Username</label><br>\n"
                    "<input id=\"username\" name=\"username\" type=\"text\" "
                    "autocomplete=\"username\" required value=\"%s\"></p>\n"
                    "<p><label for=\"password\">Password</label><br>\n"
                    "<input id=\"password\" name=\"password\" "
                    "type=\"password\" autocomplete=\"current-password\" "
                    "required></p>\n"
                    "<p><button type=\"submit\" name=\"action\" "
                    "value=\"login\">Sign in</button></p>\n</form>\n",
                    page->username ? page->username : "")
           != 0)
    {
        goto failed;
    }

    return html_end(&b);

failed:

    bb_buf_free(&b);

    return NULL;
}


char *
html_consent(const html_consent_t *page)
{
    size_t    i;
    char      id[32];
    bb_buf_t  b, label;

    memset(&b, 0, sizeof(bb_buf_t));
    memset(&label, 0, sizeof(bb_buf_t));

    if (html_begin(&b, "Share your records") != 0
        || html_put(&b, "<p>Signed in as %s.</p>\n", page->user_name) != 0
        || html_put(&b, "<form method=\"post\" action=\"%s\">\n",
                    page->action)
           != 0
        || html_hidden(&b, page->csrf, page->hidden, page->nhidden) != 0
        || html_put(&b, "<fieldset>\n<legend><strong>%s</strong> asks "
                    "to:</legend>\n", page->app_name)
           != 0)
    {
        goto failed;
    }

    for (i = 0; i < page->nscopes; i++) {
        label.len = 0;
        snprintf(id, sizeof(id), "scope-%zu", i);

        if (html_scope_label(&label, page->scopes[i]) != 0
            || bb_buf_cstr(&label) == NULL
            || html_put(&b, "<p><input type=\"checkbox\" id=\"%r\" "
                        "name=\"scope_item\" value=\"%s\" checked>\n"
                        "<label for=\"%r\">%s <small>(%s)</small></label>"
                        "</p>\n", id, page->scopes[i], id, label.data,
                        page->scopes[i])
               != 0)
        {
            goto failed;
        }
    }

    if (html_put(&b, "</fieldset>\n<p>Uncheck what you do not want to "
                 "share.  You can revoke this access at any time on the "
                 "page <a href=\"/apps\">Your apps</a>.</p>\n"
                 "<p><button type=\"submit\" name=\"action\" "
                 "value=\"approve\">Approve</button>\n"
                 "<button type=\"submit\" name=\"action\" "
                 "value=\"deny\">Deny</button></p>\n</form>\n")
        != 0)
    {
        goto failed;
    }

    bb_buf_free(&label);

    return html_end(&b);

failed:

    bb_buf_free(&label);
    bb_buf_free(&b);

    return NULL;
}


char *
html_refusal(const html_consent_t *page, const char *text)
{
    bb_buf_t  b;

    memset(&b, 0, sizeof(bb_buf_t));

    if (html_begin(&b, "Your records cannot be shared") != 0
        || html_put(&b, "<p>%s</p>\n", text) != 0
        || html_put(&b, "<form method=\"post\" action=\"%s\">\n",
                    page->action)
           != 0
        || html_hidden(&b, page->csrf, page->hidden, page->nhidden) != 0
        || html_put(&b, "<p><button type=\"submit\" name=\"action\" "
                    "value=\"deny\">Return to %s</button></p>\n</form>\n",
                    page->app_name)
           != 0)
    {
        bb_buf_free(&b);
        return NULL;
    }

    return html_end(&b);
}


char *
html_apps(const char *user_name, const char *csrf, const html_app_t *apps,
    size_t napps)
{
    size_t       i;
    bb_buf_t     b, label;
    const char  *s, *e;
    char         scope[256];

    memset(&b, 0, sizeof(bb_buf_t));
    memset(&label, 0, sizeof(bb_buf_t));

    if (html_begin(&b, "Your apps") != 0
        || html_put(&b, "<p>Signed in as %s.</p>\n", user_name) != 0)
    {
        goto failed;
    }

    if (napps == 0) {
        if (html_put(&b, "<p>You have not authorized any app.</p>\n") != 0) {
            goto failed;
        }

    } else if (html_put(&b, "<table>\n<thead><tr><th scope=\"col\">App</th>"
                        "<th scope=\"col\">What it may do</th>"
                        "<th scope=\"col\">Authorized</th>"
                        "<th scope=\"col\">Until</th>"
                        "<th scope=\"col\">Revoke</th></tr></thead>\n"
                        "<tbody>\n")
               != 0)
    {
        goto failed;
    }

    for (i = 0; i < napps; i++) {
        if (html_put(&b, "<tr><td>%s</td><td><ul>\n", apps[i].name) != 0) {
            goto failed;
        }

        for (s = apps[i].scope; *s != '\0'; s = e) {
            while (*s == ' ') {
                s++;
            }

            e = strchr(s, ' ');
            if (e == NULL) {
                e = s + strlen(s);
            }

            if (e == s || (size_t) (e - s) >= sizeof(scope)) {
                continue;
            }

            memcpy(scope, s, e - s);
            scope[e - s] = '\0';
            label.len = 0;

            if (html_scope_label(&label, scope) != 0
                || bb_buf_cstr(&label) == NULL
                || html_put(&b, "<li>%s</li>\n", label.data) != 0)
            {
                goto failed;
            }
        }

        if (html_put(&b, "</ul></td><td>%s</td><td>%s</td><td>"
                     "<form method=\"post\" action=\"/apps/revoke\">\n",
                     apps[i].granted, apps[i].expires)
            != 0
            || html_hidden(&b, csrf, NULL, 0) != 0
            || html_put(&b, "<input type=\"hidden\" name=\"client_id\" "
                        "value=\"%s\">\n<button type=\"submit\" "
                        "aria-label=\"Revoke the access of %s\">Revoke"
                        "</button>\n</form></td></tr>\n", apps[i].client_id,
                        apps[i].name)
               != 0)
        {
            goto failed;
        }
    }

    if (napps != 0 && html_put(&b, "</tbody>\n</table>\n") != 0) {
        goto failed;
    }

    if (html_put(&b, "<form method=\"post\" action=\"/logout\">\n") != 0
        || html_hidden(&b, csrf, NULL, 0) != 0
        || html_put(&b, "<p><button type=\"submit\">Sign out</button></p>\n"
                    "</form>\n")
           != 0)
    {
        goto failed;
    }

    bb_buf_free(&label);

    return html_end(&b);

failed:

    bb_buf_free(&label);
    bb_buf_free(&b);

    return NULL;
}


char *
html_logout(const char *csrf, int signed_in)
{
    bb_buf_t  b;

    memset(&b, 0, sizeof(bb_buf_t));

    if (!signed_in) {
        return html_message("Signed out", "You are signed out.");
    }

    if (html_begin(&b, "Sign out") != 0
        || html_put(&b, "<form method=\"post\" action=\"/logout\">\n") != 0
        || html_hidden(&b, csrf, NULL, 0) != 0
        || html_put(&b, "<p><button type=\"submit\">Sign out</button></p>\n"
                    "</form>\n")
           != 0)
    {
        bb_buf_free(&b);
        return NULL;
    }

    return html_end(&b);
}


/*
 * Appends fmt with each "%s" replaced by its argument escaped and each
 * "%r" by its argument as is; "%%" is a percent sign.  Nothing else is a
 * conversion.
 */

static int
html_put(bb_buf_t *b, const char *fmt, ...)
{
    int          rc;
    va_list      ap;
    const char  *p, *arg;

    rc = 0;
    va_start(ap, fmt);

    for (p = fmt; *p != '\0' && rc == 0; p++) {
        if (p[0] != '%' || (p[1] != 's' && p[1] != 'r' && p[1] != '%')) {
            rc = bb_buf_append_char(b, *p);
            continue;
        }

        p++;

        if (*p == '%') {
            rc = bb_buf_append_char(b, '%');
            continue;
        }

        arg = va_arg(ap, const char *);

        if (arg == NULL) {
            arg = "";
        }

        rc = (*p == 's') ? html_escape(b, arg) : bb_buf_append_str(b, arg);
    }

    va_end(ap);

    return rc;
}


static int
html_begin(bb_buf_t *b, const char *title)
{
    return html_put(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
                    "<meta charset=\"utf-8\">\n"
                    "<meta name=\"viewport\" content=\"width=device-width, "
                    "initial-scale=1\">\n"
                    "<title>%s - " HTML_SITE "</title>\n</head>\n<body>\n"
                    "<main>\n<h1>%s</h1>\n", title, title);
}


static char *
html_end(bb_buf_t *b)
{
    char  *page;

    if (bb_buf_append_str(b, "</main>\n</body>\n</html>\n") != 0) {
        bb_buf_free(b);
        return NULL;
    }

    page = bb_buf_cstr(b);

    if (page == NULL) {
        bb_buf_free(b);
    }

    return page;
}


static int
html_hidden(bb_buf_t *b, const char *csrf, const html_field_t *fields,
    size_t n)
{
    size_t  i;

    if (html_put(b, "<input type=\"hidden\" name=\"" HTML_CSRF_FIELD
                 "\" value=\"%s\">\n", csrf)
        != 0)
    {
        return -1;
    }

    for (i = 0; i < n; i++) {
        if (fields[i].value == NULL) {
            continue;
        }

        if (html_put(b, "<input type=\"hidden\" name=\"%s\" value=\"%s\">\n",
                     fields[i].name, fields[i].value)
            != 0)
        {
            return -1;
        }
    }

    return 0;
}


/*
 * The verbs of a resource scope's permissions: SMART v1 "read", "write"
 * and "*", or the v2 letters of "cruds".
 */

static int
html_verbs(bb_buf_t *b, const char *perm, size_t len)
{
    size_t       i, n, start;
    const char  *verbs[5];

    if (len == 4 && memcmp(perm, "read", 4) == 0) {
        perm = "rs";
        len = 2;

    } else if (len == 5 && memcmp(perm, "write", 5) == 0) {
        perm = "cud";
        len = 3;

    } else if (len == 1 && perm[0] == '*') {
        perm = "cruds";
        len = 5;
    }

    n = 0;
    start = b->len;

    for (i = 0; i < len && n < 5; i++) {
        switch (perm[i]) {

        case 'c':
            verbs[n++] = "create";
            break;

        case 'r':
            verbs[n++] = "read";
            break;

        case 'u':
            verbs[n++] = "change";
            break;

        case 'd':
            verbs[n++] = "delete";
            break;

        case 's':
            verbs[n++] = "search";
            break;

        default:
            return bb_buf_append_str(b, "Use");
        }
    }

    if (n == 0) {
        return bb_buf_append_str(b, "Use");
    }

    for (i = 0; i < n; i++) {
        if ((i > 0
             && bb_buf_append_str(b, i == n - 1 ? " and " : ", ") != 0)
            || bb_buf_append_str(b, verbs[i]) != 0)
        {
            return -1;
        }
    }

    /* the first verb starts the sentence */

    b->data[start] = toupper((unsigned char) b->data[start]);

    return 0;
}
