/*
 * Sessions and logins (see session.h).  The cookie's value is 32 random
 * bytes in base64url; only its SHA-256 reaches the database, as
 * '\x<hex>' bytea text.  Expired sessions and failures older than the
 * window are deleted a few at a time by the statements that add rows, so
 * that the tables stay small without a separate cleaner.
 */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "config.h"
#include "crypto.h"
#include "db.h"
#include "html.h"
#include "http.h"
#include "log.h"
#include "session.h"


#define SESSION_ID_BYTES    32
#define SESSION_ID_LEN      crypto_b64url_len(SESSION_ID_BYTES)


static int session_hash(const char *id, char out[2 + 64 + 1]);
static const char *session_address(http_req_t *req);
static void session_dummy_cost(void);


static pthread_once_t  session_once = PTHREAD_ONCE_INIT;


static const db_stmt_t  session_find = {
    "session_find",
    "SELECT s.user_id, s.csrf_token, u.id IS NOT NULL, u.username, u.name,"
    "       cw.patient_id"
    "  FROM sessions s"
    "  LEFT JOIN users u ON u.id = s.user_id AND u.active"
    "                   AND u.role = 'beneficiary'"
    "  LEFT JOIN crosswalk cw ON cw.user_id = u.id"
    " WHERE s.id_hash = $1::bytea AND s.expires_at > now()"
};


/* the old session and a few expired ones go as the new one comes */

static const db_stmt_t  session_insert = {
    "session_insert",
    "WITH gone AS ("
    "    DELETE FROM sessions"
    "     WHERE id_hash = $5::bytea"
    "        OR id_hash = ANY (ARRAY(SELECT id_hash FROM sessions"
    "                                WHERE expires_at < now() LIMIT 20)))"
    " INSERT INTO sessions (id_hash, user_id, csrf_token, expires_at)"
    " VALUES ($1::bytea, $2::bigint, $3,"
    "         now() + $4::bigint * interval '1 second')"
};


static const db_stmt_t  session_delete = {
    "session_delete",
    "DELETE FROM sessions WHERE id_hash = $1::bytea"
};


/*
 * Failures in the window for the username and for the address, and the
 * seconds until the oldest of each leaves the window.
 */

static const db_stmt_t  session_failures = {
    "session_failures",
    "SELECT count(*) FILTER (WHERE username = $1),"
    "       count(*) FILTER (WHERE address = $2::inet),"
    "       coalesce(ceil(extract(epoch FROM"
    "           min(at) FILTER (WHERE username = $1)"
    "           + $3::bigint * interval '1 second' - now())), 0)::bigint,"
    "       coalesce(ceil(extract(epoch FROM"
    "           min(at) FILTER (WHERE address = $2::inet)"
    "           + $3::bigint * interval '1 second' - now())), 0)::bigint"
    "  FROM login_failures"
    " WHERE at > now() - $3::bigint * interval '1 second'"
    "   AND (username = $1 OR address = $2::inet)"
};


static const db_stmt_t  session_failure_add = {
    "session_failure_add",
    "WITH gone AS ("
    "    DELETE FROM login_failures"
    "     WHERE id = ANY (ARRAY(SELECT id FROM login_failures"
    "          WHERE at < now() - $3::bigint * interval '1 second'"
    "          LIMIT 50)))"
    " INSERT INTO login_failures (username, address)"
    " VALUES ($1, $2::inet)"
};


static const db_stmt_t  session_failures_clear = {
    "session_failures_clear",
    "DELETE FROM login_failures WHERE username = $1"
};


static const db_stmt_t  session_user = {
    "session_user",
    "SELECT id, password_hash FROM users"
    " WHERE username = $1 AND active AND role = 'beneficiary'"
};


int
session_load(db_conn_t *c, http_req_t *req, session_t *s)
{
    const char  *cookie, *params[1];
    PGresult    *res;

    memset(s, 0, sizeof(session_t));

    cookie = http_cookie(req, SESSION_COOKIE);

    if (cookie == NULL || session_hash(cookie, s->id_hash) != 0) {
        return 0;
    }

    params[0] = s->id_hash;

    res = db_exec(c, &session_find, 1, params);
    if (res == NULL) {
        return -1;
    }

    if (PQntuples(res) != 1) {
        PQclear(res);
        memset(s, 0, sizeof(session_t));
        return 0;
    }

    snprintf(s->csrf, sizeof(s->csrf), "%s", PQgetvalue(res, 0, 1));

    if (strcmp(PQgetvalue(res, 0, 2), "t") == 0) {
        s->signed_in = 1;
        snprintf(s->user_id, sizeof(s->user_id), "%s",
                 PQgetvalue(res, 0, 0));
        snprintf(s->username, sizeof(s->username), "%s",
                 PQgetvalue(res, 0, 3));
        snprintf(s->name, sizeof(s->name), "%s", PQgetvalue(res, 0, 4));
        snprintf(s->patient_id, sizeof(s->patient_id), "%s",
                 PQgetvalue(res, 0, 5));
    }

    PQclear(res);

    return 1;
}


int
session_start(db_conn_t *c, http_req_t *req, const session_t *old,
    const char *user_id, session_t *s)
{
    int          rc;
    char         id[SESSION_ID_LEN + 1], ttl[24];
    char         old_hash[2 + 64 + 1];
    PGresult    *res;
    const char  *params[5];

    rc = -1;

    /* old may be s: keep what the insertion needs first */

    snprintf(old_hash, sizeof(old_hash), "%s",
             old != NULL ? old->id_hash : "");

    memset(s, 0, sizeof(session_t));

    if (crypto_random_token(id, sizeof(id), SESSION_ID_BYTES) != 0
        || crypto_random_token(s->csrf, sizeof(s->csrf), SESSION_ID_BYTES)
           != 0)
    {
        log_error(req->id, "crypto_random_token() failed");
        goto done;
    }

    if (session_hash(id, s->id_hash) != 0) {
        log_fatal(req->id, "a new session id is not valid");
    }

    snprintf(ttl, sizeof(ttl), "%ld", authd_cfg.session_ttl);

    params[0] = s->id_hash;
    params[1] = user_id;
    params[2] = s->csrf;
    params[3] = ttl;
    params[4] = old_hash[0] != '\0' ? old_hash : NULL;

    res = db_exec(c, &session_insert, 5, params);
    if (res == NULL) {
        goto done;
    }

    PQclear(res);

    if (user_id != NULL) {
        s->signed_in = 1;
        snprintf(s->user_id, sizeof(s->user_id), "%s", user_id);
    }

    if (http_set_cookie(req, SESSION_COOKIE, id, authd_cfg.session_ttl)
        != 0)
    {
        goto done;
    }

    rc = 0;

done:

    OPENSSL_cleanse(id, sizeof(id));

    return rc;
}


int
session_end(db_conn_t *c, http_req_t *req, const session_t *s)
{
    PGresult    *res;
    const char  *params[1];

    if (s->id_hash[0] != '\0') {
        params[0] = s->id_hash;

        res = db_exec(c, &session_delete, 1, params);
        if (res == NULL) {
            return -1;
        }

        PQclear(res);
    }

    return http_set_cookie(req, SESSION_COOKIE, "", 0);
}


int
session_csrf_valid(http_req_t *req, const session_t *s)
{
    size_t       len;
    const char  *token;

    token = http_form(req, HTML_CSRF_FIELD);

    if (token == NULL || s->csrf[0] == '\0') {
        return 0;
    }

    len = strlen(s->csrf);

    /* the length of a CSRF token is no secret: all have the same */

    if (strlen(token) != len) {
        return 0;
    }

    return crypto_equal(token, s->csrf, len);
}


session_login_rc_t
session_login(db_conn_t *c, http_req_t *req, const char *username,
    const char *password, char *user_id, size_t idlen, long *retry_after)
{
    int                 ok;
    long                n_user, n_addr, wait_user, wait_addr;
    char                window[24];
    PGresult           *res;
    const char         *params[3], *addr;
    session_login_rc_t  rc;

    pthread_once(&session_once, session_dummy_cost);

    *retry_after = 0;
    user_id[0] = '\0';

    if (strlen(username) > SESSION_USERNAME_MAX
        || strlen(password) > CRYPTO_PASSWORD_MAX)
    {
        return SESSION_LOGIN_FAILED;
    }

    addr = session_address(req);
    snprintf(window, sizeof(window), "%ld", authd_cfg.login_window);

    params[0] = username;
    params[1] = addr;
    params[2] = window;

    res = db_exec(c, &session_failures, 3, params);
    if (res == NULL) {
        return SESSION_LOGIN_ERROR;
    }

    n_user = atol(PQgetvalue(res, 0, 0));
    n_addr = atol(PQgetvalue(res, 0, 1));
    wait_user = atol(PQgetvalue(res, 0, 2));
    wait_addr = atol(PQgetvalue(res, 0, 3));
    PQclear(res);

    if (n_user >= authd_cfg.login_max_failures
        || n_addr >= authd_cfg.login_max_failures)
    {
        *retry_after = 1;

        if (n_user >= authd_cfg.login_max_failures
            && wait_user > *retry_after)
        {
            *retry_after = wait_user;
        }

        if (n_addr >= authd_cfg.login_max_failures
            && wait_addr > *retry_after)
        {
            *retry_after = wait_addr;
        }

        log_info(req->id, "login throttled for %ld s", *retry_after);

        return SESSION_LOGIN_THROTTLED;
    }

    res = db_exec(c, &session_user, 1, params);
    if (res == NULL) {
        return SESSION_LOGIN_ERROR;
    }

    if (PQntuples(res) == 1) {
        ok = crypto_password_verify(password, PQgetvalue(res, 0, 1));

        if (ok < 0) {
            log_error(req->id, "the password hash of user %s is malformed",
                      PQgetvalue(res, 0, 0));
            ok = 0;
        }

        if (ok) {
            snprintf(user_id, idlen, "%s", PQgetvalue(res, 0, 0));
        }

    } else {
        crypto_password_dummy(password);
        ok = 0;
    }

    PQclear(res);

    if (ok) {
        res = db_exec(c, &session_failures_clear, 1, params);
        rc = SESSION_LOGIN_OK;

    } else {
        res = db_exec(c, &session_failure_add, 3, params);
        rc = SESSION_LOGIN_FAILED;
    }

    if (res == NULL) {
        return SESSION_LOGIN_ERROR;
    }

    PQclear(res);

    return rc;
}


/* '\x' and the hex SHA-256 of a well-formed session id */

static int
session_hash(const char *id, char out[2 + 64 + 1])
{
    size_t  i, len;

    len = strlen(id);

    if (len != SESSION_ID_LEN) {
        return -1;
    }

    for (i = 0; i < len; i++) {
        if (!((id[i] >= 'A' && id[i] <= 'Z') || (id[i] >= 'a' && id[i] <= 'z')
              || (id[i] >= '0' && id[i] <= '9') || id[i] == '-'
              || id[i] == '_'))
        {
            return -1;
        }
    }

    out[0] = '\\';
    out[1] = 'x';
    crypto_sha256_hex(id, len, out + 2);

    return 0;
}


/* http.c writes "-" when MHD knew no address: count those together */

static const char *
session_address(http_req_t *req)
{
    if (strcmp(req->client_addr, "-") == 0 || req->client_addr[0] == '\0') {
        return "0.0.0.0";
    }

    return req->client_addr;
}


static void
session_dummy_cost(void)
{
    if (crypto_password_dummy_cost((int) authd_cfg.scrypt_ln) != 0) {
        log_warn(NULL, "crypto_password_dummy_cost(%ld) failed",
                 authd_cfg.scrypt_ln);
    }
}
