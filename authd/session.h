/*
 * Browser sessions of the pages (/authorize, /apps, /logout) and the
 * password login that signs them in.
 *
 * A session starts before the login, since the login form already needs
 * its CSRF token: the cookie holds a random id, the database its SHA-256
 * only, with the user (NULL until the login succeeds), the CSRF token and
 * the expiry.  A login replaces the session by a new one, so that an id
 * planted before the login is worth nothing after it.
 *
 * Failed logins are counted per username (as typed) and per client
 * address over login_window; at login_max_failures the next attempts are
 * refused, without checking the password, until the oldest failure ages
 * out of the window.
 */

#ifndef AUTHD_SESSION_H
#define AUTHD_SESSION_H

#include <stddef.h>

#include "db.h"
#include "http.h"


#define SESSION_MUST_CHECK  __attribute__((warn_unused_result))

#define SESSION_COOKIE      "authd_session"
#define SESSION_USERNAME_MAX  150


typedef struct {
    int          signed_in;             /* user_id is set */
    char         user_id[24];           /* decimal; "" before the login */
    char         username[SESSION_USERNAME_MAX + 1];
    char         name[260];             /* "" when the user has none */
    char         patient_id[72];        /* "" without a crosswalk */
    char         csrf[64];
    char         id_hash[2 + 64 + 1];   /* "\x<hex>", the row's key */
} session_t;


typedef enum {
    SESSION_LOGIN_OK = 0,
    SESSION_LOGIN_FAILED,               /* wrong username or password */
    SESSION_LOGIN_THROTTLED,            /* too many failures lately */
    SESSION_LOGIN_ERROR                 /* logged */
} session_login_rc_t;


/*
 * The session the request's cookie names: 1 when it exists and has not
 * expired, 0 when there is none (s is then zeroed), -1 on a database
 * failure (logged).  A session whose user was deactivated is found but
 * not signed in.
 */
int session_load(db_conn_t *c, http_req_t *req, session_t *s)
    SESSION_MUST_CHECK;

/*
 * A new session for user_id (NULL: not signed in yet), replacing old (may
 * be NULL or not found), with a new CSRF token; sets the cookie.  Fills
 * s, which may be old.  0, or -1 (logged).
 */
int session_start(db_conn_t *c, http_req_t *req, const session_t *old,
    const char *user_id, session_t *s) SESSION_MUST_CHECK;

/* deletes the session and the cookie; 0 or -1 (logged) */
int session_end(db_conn_t *c, http_req_t *req, const session_t *s)
    SESSION_MUST_CHECK;

/* 1 when the form's csrf_token is the session's (constant time) */
int session_csrf_valid(http_req_t *req, const session_t *s);

/*
 * Checks a username and password.  On SESSION_LOGIN_OK the user's id is
 * in user_id; on SESSION_LOGIN_THROTTLED *retry_after holds the seconds
 * until an attempt may be made again.  An unknown username costs the
 * same scrypt work as a known one.
 */
session_login_rc_t session_login(db_conn_t *c, http_req_t *req,
    const char *username, const char *password, char *user_id,
    size_t idlen, long *retry_after) SESSION_MUST_CHECK;


#endif /* AUTHD_SESSION_H */
