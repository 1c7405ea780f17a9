/*
 * The pages a beneficiary sees at /authorize, /apps and /logout, rendered
 * on the server without JavaScript.  Every value that reaches a page goes
 * through html_escape(); every form carries the session's CSRF token in a
 * hidden field named "csrf_token".  Nothing here touches HTTP or the
 * database: the builders take what a page shows and return its text.
 */

#ifndef AUTHD_HTML_H
#define AUTHD_HTML_H

#include <stddef.h>

#include "bb_buf.h"


#define HTML_MUST_CHECK     __attribute__((warn_unused_result))

#define HTML_CSRF_FIELD     "csrf_token"


/* a hidden form field that carries a parameter from page to page */
typedef struct {
    const char          *name;
    const char          *value;         /* NULL: the field is left out */
} html_field_t;


typedef struct {
    const char          *action;        /* where the form posts */
    const char          *csrf;
    const html_field_t  *hidden;
    size_t               nhidden;
    const char          *app_name;      /* NULL when no app asks */
    const char          *username;      /* prefilled, may be NULL */
    const char          *notice;        /* an error to show, or NULL */
} html_login_t;


typedef struct {
    const char          *action;
    const char          *csrf;
    const html_field_t  *hidden;
    size_t               nhidden;
    const char          *app_name;
    const char          *user_name;     /* who is signed in */
    const char         **scopes;        /* each gets its own checkbox */
    size_t               nscopes;
} html_consent_t;


/* one authorized app on /apps */
typedef struct {
    const char          *client_id;
    const char          *name;
    const char          *scope;
    const char          *granted;       /* dates, as text */
    const char          *expires;
} html_app_t;


/*
 * Appends s with &, <, >, " and ' replaced by character references, so
 * that it is safe both as element text and inside a quoted attribute.
 * Returns 0, or -1 when memory runs out.
 */
int html_escape(bb_buf_t *b, const char *s) HTML_MUST_CHECK;

/*
 * What a scope lets an app do, in plain words, appended to b (not
 * escaped): "Read and search your Coverage records".
 */
int html_scope_label(bb_buf_t *b, const char *scope) HTML_MUST_CHECK;

/*
 * The pages, as new strings for free(), or NULL when memory runs out.
 * html_message() is a page with a title and one paragraph (errors,
 * "signed out"); html_refusal() is one with a button that sends the user
 * back to the app with a refusal (the form fields of a consent page).
 */
char *html_message(const char *title, const char *text) HTML_MUST_CHECK;
char *html_login(const html_login_t *page) HTML_MUST_CHECK;
char *html_consent(const html_consent_t *page) HTML_MUST_CHECK;
char *html_refusal(const html_consent_t *page, const char *text)
    HTML_MUST_CHECK;
char *html_apps(const char *user_name, const char *csrf,
    const html_app_t *apps, size_t napps) HTML_MUST_CHECK;
char *html_logout(const char *csrf, int signed_in) HTML_MUST_CHECK;


#endif /* AUTHD_HTML_H */
