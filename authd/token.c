/*
 * The back channel: /token (authorization_code and refresh_token grants),
 * /revoke (RFC 7009), /introspect (RFC 7662) and /userinfo.
 *
 * A grant is one statement, hence one round trip and one transaction,
 * after the client's look-up: it consumes the code or rotates the
 * refresh token with a conditional UPDATE ... RETURNING, and in the same
 * statement records the new access token (and refresh token) when every
 * condition held.  Ids, secrets and times are made beforehand, the token
 * signed afterwards.  A statement that changed nothing sends the request
 * down the slow path, which tells why and, for a code or a refresh token
 * presented again, revokes what it issued: the slow path locks the rows
 * it revokes first, so that a grant still in flight is seen.
 *
 * The statement compares the code's PKCE challenge with the one computed
 * here from the verifier: a challenge is no secret (it went through the
 * browser), and comparing it there keeps the grant one statement.  When
 * nothing was issued, oauth_pkce_verify() tells whether the verifier was
 * the reason.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "bb_b64.h"
#include "bb_buf.h"
#include "bb_jwt.h"
#include "config.h"
#include "crypto.h"
#include "db.h"
#include "http.h"
#include "keys.h"
#include "log.h"
#include "oauth.h"
#include "oauth_http.h"
#include "policy.h"


#define TOKEN_JTI_BYTES      16
#define TOKEN_SECRET_BYTES   32
#define TOKEN_SECRET_LEN     crypto_b64url_len(TOKEN_SECRET_BYTES)

/* codes and refresh tokens authd makes are 43 characters */
#define TOKEN_PARAM_MAX      512


/* what a successful grant hands out */
typedef struct {
    const char          *user_id;
    const char          *scope;
    const char          *patient;       /* NULL: no crosswalk */
    const char          *name;
    const char          *nonce;         /* for the ID token, or NULL */
    const char          *refresh;       /* NULL: none issued */
    int                  id_token;
} token_grant_t;


/* made before the statement that records them */
typedef struct {
    char                 jti[crypto_b64url_len(TOKEN_JTI_BYTES) + 1];
    char                 refresh[TOKEN_SECRET_LEN + 1];
    char                 refresh_hash[OAUTH_HASH_PARAM_SIZE];
    char                 family[37];
    char                 exp_text[24];
    int64_t              iat;
    int64_t              exp;
    EVP_PKEY            *key;
    char                 kid[KEYS_KID_SIZE];
} token_new_t;


static int token_code(http_req_t *req, db_conn_t *c,
    const oauth_client_t *client, token_new_t *nt);
static int token_code_failed(http_req_t *req, db_conn_t *c,
    const char *code_hash);
static int token_refresh(http_req_t *req, db_conn_t *c,
    const oauth_client_t *client, token_new_t *nt);
static int token_refresh_failed(http_req_t *req, db_conn_t *c,
    const oauth_client_t *client, const char *hash, const char *scope);
static int token_prepare(http_req_t *req, db_conn_t *c, token_new_t *nt);
static int token_reply(http_req_t *req, const oauth_client_t *client,
    token_new_t *nt, const token_grant_t *g);
static char *token_id_token(const oauth_client_t *client, token_new_t *nt,
    const token_grant_t *g);
static int token_verifier_valid(const char *v);


/* the code's grant: see the comment at the top */

static const db_stmt_t  token_code_grant = {
    "token_code_grant",
    "WITH code AS ("
    "    UPDATE authorization_codes SET used_at = now()"
    "     WHERE code_hash = $1::bytea AND used_at IS NULL"
    "    RETURNING application_id, user_id, grant_id, redirect_uri, scope,"
    "              code_challenge, nonce, expires_at > now() AS live"
    "), ok AS ("
    "    SELECT code.grant_id, code.scope, g.expires_at"
    "      FROM code JOIN grants g ON g.id = code.grant_id"
    "     WHERE code.live AND code.application_id = $2::bigint"
    "       AND code.redirect_uri = $3 AND code.code_challenge = $4"
    "       AND g.revoked_at IS NULL AND g.expires_at > now()"
    "), rt AS ("
    "    INSERT INTO refresh_tokens (token_hash, family_id, grant_id,"
    "                                expires_at)"
    "    SELECT $5::bytea, $6::uuid, grant_id, expires_at FROM ok"
    "     WHERE 'offline_access' = ANY (string_to_array(scope, ' '))"
    "    RETURNING family_id"
    "), at AS ("
    "    INSERT INTO access_tokens (jti, grant_id, family_id, code_hash,"
    "                               expires_at)"
    "    SELECT $7, grant_id, (SELECT family_id FROM rt), $1::bytea,"
    "           to_timestamp($8::bigint)"
    "      FROM ok"
    "    RETURNING jti"
    ")"
    " SELECT code.application_id, code.redirect_uri, code.code_challenge,"
    "        code.live, code.user_id, code.scope, code.nonce,"
    "        EXISTS (SELECT FROM at), EXISTS (SELECT FROM rt),"
    "        cw.patient_id, u.name"
    "   FROM code"
    "   JOIN users u ON u.id = code.user_id"
    "   LEFT JOIN crosswalk cw ON cw.user_id = code.user_id"
};


/*
 * A code presented again: waits for a grant of it still in flight (the
 * row lock), then for rotations of its families, before revoking.
 */

static const db_stmt_t  token_code_lock = {
    "token_code_lock",
    "SELECT a.client_id FROM authorization_codes c"
    "  JOIN applications a ON a.id = c.application_id"
    " WHERE c.code_hash = $1::bytea FOR UPDATE OF c"
};


static const db_stmt_t  token_code_families_lock = {
    "token_code_families_lock",
    "SELECT 1 FROM refresh_tokens"
    " WHERE family_id IN (SELECT family_id FROM access_tokens"
    "                      WHERE code_hash = $1::bytea)"
    " FOR UPDATE"
};


static const db_stmt_t  token_code_revoke = {
    "token_code_revoke",
    "WITH fam AS ("
    "    SELECT DISTINCT family_id FROM access_tokens"
    "     WHERE code_hash = $1::bytea AND family_id IS NOT NULL"
    "), rt AS ("
    "    UPDATE refresh_tokens SET revoked_at = now()"
    "     WHERE family_id IN (SELECT family_id FROM fam)"
    "       AND revoked_at IS NULL"
    "    RETURNING 1"
    "), at AS ("
    "    UPDATE access_tokens SET revoked_at = now()"
    "     WHERE (code_hash = $1::bytea"
    "            OR family_id IN (SELECT family_id FROM fam))"
    "       AND revoked_at IS NULL AND expires_at > now()"
    "    RETURNING 1"
    ")"
    " SELECT (SELECT count(*) FROM at), (SELECT count(*) FROM rt)"
};


static const db_stmt_t  token_refresh_grant = {
    "token_refresh_grant",
    "WITH old AS ("
    "    UPDATE refresh_tokens r SET rotated_at = now()"
    "      FROM grants g"
    "     WHERE r.token_hash = $1::bytea AND r.rotated_at IS NULL"
    "       AND r.revoked_at IS NULL AND r.expires_at > now()"
    "       AND g.id = r.grant_id AND g.application_id = $2::bigint"
    "       AND g.revoked_at IS NULL AND g.expires_at > now()"
    "       AND ($3::text IS NULL"
    "            OR string_to_array($3::text, ' ')"
    "               <@ string_to_array(g.scope, ' '))"
    "    RETURNING r.family_id, r.grant_id, r.expires_at, g.scope,"
    "              g.user_id"
    "), rt AS ("
    "    INSERT INTO refresh_tokens (token_hash, family_id, grant_id,"
    "                                expires_at)"
    "    SELECT $4::bytea, family_id, grant_id, expires_at FROM old"
    "), at AS ("
    "    INSERT INTO access_tokens (jti, grant_id, family_id, expires_at)"
    "    SELECT $5, grant_id, family_id, to_timestamp($6::bigint) FROM old"
    ")"
    " SELECT old.user_id, coalesce($3::text, old.scope), cw.patient_id,"
    "        u.name"
    "   FROM old"
    "   JOIN users u ON u.id = old.user_id"
    "   LEFT JOIN crosswalk cw ON cw.user_id = old.user_id"
};


static const db_stmt_t  token_refresh_state = {
    "token_refresh_state",
    "SELECT r.family_id, g.application_id = $2::bigint,"
    "       r.rotated_at IS NOT NULL, r.revoked_at IS NOT NULL,"
    "       r.expires_at > now(),"
    "       g.revoked_at IS NULL AND g.expires_at > now(),"
    "       $3::text IS NULL"
    "       OR string_to_array($3::text, ' ')"
    "          <@ string_to_array(g.scope, ' ')"
    "  FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id"
    " WHERE r.token_hash = $1::bytea"
};


static const db_stmt_t  token_family_lock = {
    "token_family_lock",
    "SELECT 1 FROM refresh_tokens WHERE family_id = $1::uuid FOR UPDATE"
};


static const db_stmt_t  token_family_revoke_stmt = {
    "token_family_revoke",
    "WITH rt AS ("
    "    UPDATE refresh_tokens SET revoked_at = now()"
    "     WHERE family_id = $1::uuid AND revoked_at IS NULL"
    "    RETURNING 1"
    "), at AS ("
    "    UPDATE access_tokens SET revoked_at = now()"
    "     WHERE family_id = $1::uuid AND revoked_at IS NULL"
    "       AND expires_at > now()"
    "    RETURNING 1"
    ")"
    " SELECT (SELECT count(*) FROM at), (SELECT count(*) FROM rt)"
};


static const db_stmt_t  token_audit = {
    "token_audit",
    "INSERT INTO audit_log (actor, action, target, client_id, request_id,"
    "                       detail)"
    " VALUES ($1, $2, $3, $4, $5,"
    "         jsonb_build_object('access_tokens', $6::bigint,"
    "                            'refresh_tokens', $7::bigint))"
};


int
token_handler(http_req_t *req)
{
    int              rc;
    db_conn_t       *c;
    const char      *grant_type;
    token_new_t      nt;
    oauth_client_t   client;
    oauth_http_rc_t  hrc;

    memset(&nt, 0, sizeof(token_new_t));

    hrc = oauth_http_form(req);

    if (hrc != OAUTH_HTTP_PASS) {
        return hrc == OAUTH_HTTP_ANSWERED ? 0 : -1;
    }

    grant_type = http_form(req, "grant_type");

    if (grant_type == NULL || grant_type[0] == '\0') {
        return oauth_http_error(req, 400, "invalid_request",
                                "missing grant_type");
    }

    if (strcmp(grant_type, "authorization_code") != 0
        && strcmp(grant_type, "refresh_token") != 0)
    {
        return oauth_http_error(req, 400, "unsupported_grant_type",
                                "grant_type must be authorization_code or "
                                "refresh_token");
    }

    c = db_acquire(req->id);
    if (c == NULL) {
        return oauth_http_unavailable(req, 0);
    }

    hrc = oauth_http_client(c, req, &client);

    if (hrc != OAUTH_HTTP_PASS) {
        db_release(c);
        return hrc == OAUTH_HTTP_ANSWERED ? 0 : -1;
    }

    if (strcmp(grant_type, "authorization_code") == 0) {
        rc = token_code(req, c, &client, &nt);

    } else {
        rc = token_refresh(req, c, &client, &nt);
    }

    db_release(c);

    EVP_PKEY_free(nt.key);
    OPENSSL_cleanse(nt.refresh, sizeof(nt.refresh));

    return rc;
}


static int
token_code(http_req_t *req, db_conn_t *c, const oauth_client_t *client,
    token_new_t *nt)
{
    int            rc, refresh;
    char           code_hash[OAUTH_HASH_PARAM_SIZE];
    char           challenge[CRYPTO_SHA256_B64_SIZE];
    PGresult      *res;
    const char    *code, *redirect_uri, *verifier, *params[8], *why;
    token_grant_t  g;

    if (oauth_http_param(req, "code", TOKEN_PARAM_MAX, &code) != 0
        || oauth_http_param(req, "redirect_uri", OAUTH_REDIRECT_URI_MAX,
                            &redirect_uri) != 0
        || oauth_http_param(req, "code_verifier", OAUTH_VERIFIER_MAX,
                            &verifier) != 0)
    {
        return 0;
    }

    if (!token_verifier_valid(verifier)) {
        return oauth_http_error(req, 400, "invalid_request",
                                "code_verifier must be 43 to 128 characters "
                                "of [A-Za-z0-9-._~]");
    }

    if (crypto_sha256_b64url(verifier, strlen(verifier), challenge) != 0) {
        log_error(req->id, "crypto_sha256_b64url() failed");
        return -1;
    }

    if (token_prepare(req, c, nt) != 0) {
        return -1;
    }

    oauth_http_hash(code, code_hash);

    params[0] = code_hash;
    params[1] = client->app_id;
    params[2] = redirect_uri;
    params[3] = challenge;
    params[4] = nt->refresh_hash;
    params[5] = nt->family;
    params[6] = nt->jti;
    params[7] = nt->exp_text;

    res = db_exec(c, &token_code_grant, 8, params);
    if (res == NULL) {
        return -1;
    }

    if (PQntuples(res) == 0) {
        PQclear(res);
        return token_code_failed(req, c, code_hash);
    }

    if (strcmp(PQgetvalue(res, 0, 7), "t") != 0) {

        /* any try spends the code, even one that fails */

        if (strcmp(PQgetvalue(res, 0, 0), client->app_id) != 0) {
            why = "the code was issued to another client";

        } else if (strcmp(PQgetvalue(res, 0, 3), "t") != 0) {
            why = "the code has expired";

        } else if (strcmp(PQgetvalue(res, 0, 1), redirect_uri) != 0) {
            why = "redirect_uri differs from the authorization request";

        } else if (oauth_pkce_verify(verifier, PQgetvalue(res, 0, 2)) != 1) {
            why = "code_verifier does not match the code_challenge";

        } else {
            why = "the grant was revoked or has expired";
        }

        PQclear(res);

        return oauth_http_error(req, 400, "invalid_grant", why);
    }

    refresh = (strcmp(PQgetvalue(res, 0, 8), "t") == 0);

    g.user_id = PQgetvalue(res, 0, 4);
    g.scope = PQgetvalue(res, 0, 5);
    g.nonce = PQgetisnull(res, 0, 6) ? NULL : PQgetvalue(res, 0, 6);
    g.patient = PQgetisnull(res, 0, 9) ? NULL : PQgetvalue(res, 0, 9);
    g.name = PQgetvalue(res, 0, 10);
    g.refresh = refresh ? nt->refresh : NULL;
    g.id_token = oauth_http_has_scope(g.scope, "openid");

    rc = token_reply(req, client, nt, &g);

    PQclear(res);

    return rc;
}


/*
 * The code was unknown or already used.  Used: whatever its first use
 * issued is revoked (RFC 6749 4.1.2), since one of the two presenters
 * is not who the code was meant for.
 */

static int
token_code_failed(http_req_t *req, db_conn_t *c, const char *code_hash)
{
    long         at, rt;
    char         client_id[OAUTH_CLIENT_ID_MAX + 1], n_at[24], n_rt[24];
    PGresult    *res;
    const char  *params[7];

    if (db_begin(c) != 0) {
        return -1;
    }

    params[0] = code_hash;

    res = db_exec(c, &token_code_lock, 1, params);
    if (res == NULL) {
        goto failed;
    }

    if (PQntuples(res) == 0) {
        PQclear(res);
        db_rollback(c);
        return oauth_http_error(req, 400, "invalid_grant",
                                "unknown authorization code");
    }

    snprintf(client_id, sizeof(client_id), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);

    res = db_exec(c, &token_code_families_lock, 1, params);
    if (res == NULL) {
        goto failed;
    }

    PQclear(res);

    res = db_exec(c, &token_code_revoke, 1, params);
    if (res == NULL) {
        goto failed;
    }

    at = atol(PQgetvalue(res, 0, 0));
    rt = atol(PQgetvalue(res, 0, 1));
    PQclear(res);

    snprintf(n_at, sizeof(n_at), "%ld", at);
    snprintf(n_rt, sizeof(n_rt), "%ld", rt);

    params[0] = "system";
    params[1] = "code.reuse";
    params[2] = NULL;
    params[3] = client_id;
    params[4] = req->id;
    params[5] = n_at;
    params[6] = n_rt;

    res = db_exec(c, &token_audit, 7, params);
    if (res == NULL) {
        goto failed;
    }

    PQclear(res);

    if (db_commit(c) != 0) {
        return -1;
    }

    log_warn(req->id, "authorization code of client \"%s\" used twice: "
             "%ld access and %ld refresh tokens revoked", client_id, at, rt);

    if (at > 0) {
        oauth_http_policy(req, c);
    }

    return oauth_http_error(req, 400, "invalid_grant",
                            "the authorization code was already used; what "
                            "it issued is revoked");

failed:

    db_rollback(c);

    return -1;
}


static int
token_refresh(http_req_t *req, db_conn_t *c, const oauth_client_t *client,
    token_new_t *nt)
{
    int                rc;
    char              *scope, err[256];
    char               hash[OAUTH_HASH_PARAM_SIZE];
    PGresult          *res;
    const char        *refresh, *requested, *params[6];
    token_grant_t      g;
    oauth_scope_rc_t   src;

    scope = NULL;

    if (oauth_http_param(req, "refresh_token", TOKEN_PARAM_MAX, &refresh)
        != 0)
    {
        return 0;
    }

    requested = http_form(req, "scope");

    if (requested != NULL) {
        src = oauth_scope_normalize(requested, &scope, err, sizeof(err));

        if (src == OAUTH_SCOPE_ERROR) {
            log_error(req->id, "oauth_scope_normalize() failed: %s", err);
            return -1;
        }

        if (src != OAUTH_SCOPE_OK) {
            return oauth_http_error(req, 400, "invalid_scope", err);
        }
    }

    if (token_prepare(req, c, nt) != 0) {
        free(scope);
        return -1;
    }

    oauth_http_hash(refresh, hash);

    params[0] = hash;
    params[1] = client->app_id;
    params[2] = scope;
    params[3] = nt->refresh_hash;
    params[4] = nt->jti;
    params[5] = nt->exp_text;

    res = db_exec(c, &token_refresh_grant, 6, params);
    if (res == NULL) {
        free(scope);
        return -1;
    }

    if (PQntuples(res) == 0) {
        PQclear(res);
        rc = token_refresh_failed(req, c, client, hash, scope);
        free(scope);
        return rc;
    }

    g.user_id = PQgetvalue(res, 0, 0);
    g.scope = PQgetvalue(res, 0, 1);
    g.patient = PQgetisnull(res, 0, 2) ? NULL : PQgetvalue(res, 0, 2);
    g.name = PQgetvalue(res, 0, 3);
    g.nonce = NULL;
    g.refresh = nt->refresh;
    g.id_token = 0;

    rc = token_reply(req, client, nt, &g);

    PQclear(res);
    free(scope);

    return rc;
}


static int
token_refresh_failed(http_req_t *req, db_conn_t *c,
    const oauth_client_t *client, const char *hash, const char *scope)
{
    char         family[40];
    PGresult    *res;
    const char  *params[3], *why;

    params[0] = hash;
    params[1] = client->app_id;
    params[2] = scope;

    res = db_exec(c, &token_refresh_state, 3, params);
    if (res == NULL) {
        return -1;
    }

    if (PQntuples(res) == 0) {
        why = "unknown refresh token";

    } else if (strcmp(PQgetvalue(res, 0, 1), "t") != 0) {
        why = "the refresh token was issued to another client";

    } else if (strcmp(PQgetvalue(res, 0, 2), "t") == 0
               && strcmp(PQgetvalue(res, 0, 3), "t") != 0)
    {
        snprintf(family, sizeof(family), "%s", PQgetvalue(res, 0, 0));
        PQclear(res);

        log_warn(req->id, "a rotated refresh token of client \"%s\" was "
                 "presented again: its family is revoked", client->client_id);

        if (token_family_revoke(req, c, family, client->client_id,
                                "refresh.reuse")
            != 0)
        {
            return -1;
        }

        return oauth_http_error(req, 400, "invalid_grant",
                                "the refresh token was already used; its "
                                "family is revoked");

    } else if (strcmp(PQgetvalue(res, 0, 3), "t") == 0
               || strcmp(PQgetvalue(res, 0, 2), "t") == 0)
    {
        why = "the refresh token was revoked";

    } else if (strcmp(PQgetvalue(res, 0, 4), "t") != 0) {
        why = "the refresh token has expired";

    } else if (strcmp(PQgetvalue(res, 0, 5), "t") != 0) {
        why = "the grant was revoked or has expired";

    } else if (strcmp(PQgetvalue(res, 0, 6), "t") != 0) {
        PQclear(res);
        return oauth_http_error(req, 400, "invalid_scope",
                                "scope asks for more than was granted");

    } else {
        why = "the refresh token was used concurrently";
    }

    PQclear(res);

    return oauth_http_error(req, 400, "invalid_grant", why);
}


/*
 * Revokes a refresh token family and its access tokens, after locking
 * its rows so that a rotation in flight is either done (and seen) or
 * waits and then finds its token revoked.
 */

int
token_family_revoke(http_req_t *req, db_conn_t *c, const char *family,
    const char *client_id, const char *action)
{
    long         at;
    char         n_at[24], n_rt[24], actor[OAUTH_CLIENT_ID_MAX + 8];
    PGresult    *res;
    const char  *params[7];

    if (db_begin(c) != 0) {
        return -1;
    }

    params[0] = family;

    res = db_exec(c, &token_family_lock, 1, params);
    if (res == NULL) {
        goto failed;
    }

    PQclear(res);

    res = db_exec(c, &token_family_revoke_stmt, 1, params);
    if (res == NULL) {
        goto failed;
    }

    at = atol(PQgetvalue(res, 0, 0));
    snprintf(n_at, sizeof(n_at), "%s", PQgetvalue(res, 0, 0));
    snprintf(n_rt, sizeof(n_rt), "%s", PQgetvalue(res, 0, 1));
    PQclear(res);

    /* a client revokes its own token; a replay makes authd revoke */

    snprintf(actor, sizeof(actor), "client:%s", client_id);

    params[0] = strcmp(action, "token.revoke") == 0 ? actor : "system";
    params[1] = action;
    params[2] = NULL;
    params[3] = client_id;
    params[4] = req->id;
    params[5] = n_at;
    params[6] = n_rt;

    res = db_exec(c, &token_audit, 7, params);
    if (res == NULL) {
        goto failed;
    }

    PQclear(res);

    if (db_commit(c) != 0) {
        return -1;
    }

    if (at > 0) {
        oauth_http_policy(req, c);
    }

    return 0;

failed:

    db_rollback(c);

    return -1;
}


/* the signer, the ids and secrets, the times of a new token */

static int
token_prepare(http_req_t *req, db_conn_t *c, token_new_t *nt)
{
    unsigned char  u[16];

    if (keys_signer(c, req->id, &nt->key, nt->kid) != 0) {
        return -1;
    }

    if (crypto_random_token(nt->jti, sizeof(nt->jti), TOKEN_JTI_BYTES) != 0
        || crypto_random_token(nt->refresh, sizeof(nt->refresh),
                               TOKEN_SECRET_BYTES) != 0
        || RAND_bytes(u, sizeof(u)) != 1)
    {
        log_error(req->id, "the random generator failed");
        return -1;
    }

    oauth_http_hash(nt->refresh, nt->refresh_hash);

    /* a version 4 UUID (RFC 4122 4.4) */

    u[6] = (u[6] & 0x0f) | 0x40;
    u[8] = (u[8] & 0x3f) | 0x80;

    snprintf(nt->family, sizeof(nt->family),
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2], u[3], u[4], u[5],
             u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
             u[15]);

    nt->iat = (int64_t) time(NULL);
    nt->exp = nt->iat + authd_cfg.access_token_ttl;
    snprintf(nt->exp_text, sizeof(nt->exp_text), "%lld",
             (long long) nt->exp);

    return 0;
}


static int
token_reply(http_req_t *req, const oauth_client_t *client, token_new_t *nt,
    const token_grant_t *g)
{
    int             rc;
    char           *access, *id_token;
    json_t         *body;
    oauth_claims_t  claims;

    rc = -1;
    access = NULL;
    id_token = NULL;
    body = NULL;

    claims.iss = authd_cfg.issuer;
    claims.aud = authd_cfg.audience;
    claims.sub = g->user_id;
    claims.client_id = client->client_id;
    claims.scope = g->scope;
    claims.patient = g->patient;
    claims.jti = nt->jti;
    claims.iat = nt->iat;
    claims.exp = nt->exp;

    if (oauth_access_token(&claims, nt->kid, nt->key, &access) != 0) {
        log_error(req->id, "oauth_access_token() failed");
        goto done;
    }

    body = json_pack("{s:s, s:s, s:I, s:s}", "access_token", access,
                     "token_type", "Bearer",
                     "expires_in", (json_int_t) (nt->exp - nt->iat),
                     "scope", g->scope);

    if (body == NULL) {
        goto nomem;
    }

    if (g->refresh != NULL
        && json_object_set_new(body, "refresh_token",
                               json_string(g->refresh)) != 0)
    {
        goto nomem;
    }

    if (g->patient != NULL
        && json_object_set_new(body, "patient", json_string(g->patient))
           != 0)
    {
        goto nomem;
    }

    if (g->id_token) {
        id_token = token_id_token(client, nt, g);

        if (id_token == NULL) {
            log_error(req->id, "the ID token could not be made");
            goto done;
        }

        if (json_object_set_new(body, "id_token", json_string(id_token))
            != 0)
        {
            goto nomem;
        }
    }

    if (http_set_header(req, "Pragma", "no-cache") != 0) {
        goto done;
    }

    rc = http_json(req, 200, body);
    body = NULL;
    goto done;

nomem:

    log_error(req->id, "out of memory");

done:

    json_decref(body);

    if (access != NULL) {
        OPENSSL_cleanse(access, strlen(access));
        free(access);
    }

    free(id_token);

    return rc;
}


/*
 * The OpenID Connect ID token: a JWT of type "JWT" (never "at+jwt", so
 * that the gateway refuses it as an access token) for the client.
 */

static char *
token_id_token(const oauth_client_t *client, token_new_t *nt,
    const token_grant_t *g)
{
    char           *header, *payload, *out, *fhir_user;
    json_t         *hdr, *claims;
    size_t          input;
    bb_buf_t        buf;
    unsigned char   sig[CRYPTO_ES256_SIG_LEN];

    out = NULL;
    header = NULL;
    payload = NULL;
    fhir_user = NULL;
    memset(&buf, 0, sizeof(bb_buf_t));

    hdr = json_pack("{s:s, s:s, s:s}", "alg", "ES256", "typ", "JWT",
                    "kid", nt->kid);
    claims = json_pack("{s:s, s:s, s:s, s:I, s:I}", "iss", authd_cfg.issuer,
                       "sub", g->user_id, "aud", client->client_id,
                       "iat", (json_int_t) nt->iat,
                       "exp", (json_int_t) nt->exp);

    if (hdr == NULL || claims == NULL) {
        goto done;
    }

    if (g->nonce != NULL
        && json_object_set_new(claims, "nonce", json_string(g->nonce)) != 0)
    {
        goto done;
    }

    if (g->patient != NULL && oauth_http_has_scope(g->scope, "fhirUser")) {
        if (asprintf(&fhir_user, "Patient/%s", g->patient) < 0) {
            fhir_user = NULL;
            goto done;
        }

        if (json_object_set_new(claims, "fhirUser", json_string(fhir_user))
            != 0)
        {
            goto done;
        }
    }

    if (g->name[0] != '\0' && oauth_http_has_scope(g->scope, "profile")
        && json_object_set_new(claims, "name", json_string(g->name)) != 0)
    {
        goto done;
    }

    header = json_dumps(hdr, JSON_COMPACT);
    payload = json_dumps(claims, JSON_COMPACT);

    if (header == NULL || payload == NULL
        || bb_b64url_encode((unsigned char *) header, strlen(header), &buf)
           != 0
        || bb_buf_append_char(&buf, '.') != 0
        || bb_b64url_encode((unsigned char *) payload, strlen(payload), &buf)
           != 0)
    {
        goto done;
    }

    input = buf.len;

    if (crypto_es256_sign(nt->key, buf.data, input, sig) != 0
        || bb_buf_append_char(&buf, '.') != 0
        || bb_b64url_encode(sig, sizeof(sig), &buf) != 0)
    {
        goto done;
    }

    out = bb_buf_cstr(&buf);

done:

    if (out == NULL) {
        bb_buf_free(&buf);
    }

    free(fhir_user);
    free(header);
    free(payload);
    json_decref(hdr);
    json_decref(claims);

    return out;
}


/* RFC 7636 4.1: 43 to 128 unreserved characters */

static int
token_verifier_valid(const char *v)
{
    size_t  i, len;

    len = strlen(v);

    if (len < OAUTH_VERIFIER_MIN || len > OAUTH_VERIFIER_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                   "0123456789-._~", v[i]) == NULL)
        {
            return 0;
        }
    }

    return 1;
}
