/*
 * What a client or a resource server does with a token it holds: revoke
 * it (RFC 7009), ask whether it is active (RFC 7662), or spend it at
 * /userinfo.  An access token is checked as the gateway checks it
 * (keys_verify()), then against access_tokens for revocation; a refresh
 * token is looked up by its SHA-256.  A client only ever learns about, or
 * revokes, its own tokens.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "bb_jwt.h"
#include "config.h"
#include "db.h"
#include "http.h"
#include "keys.h"
#include "log.h"
#include "oauth.h"
#include "oauth_http.h"


static int token_bearer_error(http_req_t *req, unsigned status,
    const char *error, const char *description);


static const db_stmt_t  token_refresh_owner = {
    "token_refresh_owner",
    "SELECT r.family_id FROM refresh_tokens r"
    "  JOIN grants g ON g.id = r.grant_id"
    " WHERE r.token_hash = $1::bytea AND g.application_id = $2::bigint"
};


static const db_stmt_t  token_jti_revoke = {
    "token_jti_revoke",
    "UPDATE access_tokens SET revoked_at = now()"
    " WHERE jti = $1 AND revoked_at IS NULL AND expires_at > now()"
    " RETURNING 1"
};


static const db_stmt_t  token_jti_live = {
    "token_jti_live",
    "SELECT 1 FROM access_tokens"
    " WHERE jti = $1 AND revoked_at IS NULL AND expires_at > now()"
};


static const db_stmt_t  token_refresh_introspect = {
    "token_refresh_introspect",
    "SELECT g.scope, g.user_id, cw.patient_id,"
    "       extract(epoch FROM r.expires_at)::bigint,"
    "       extract(epoch FROM r.created_at)::bigint"
    "  FROM refresh_tokens r"
    "  JOIN grants g ON g.id = r.grant_id"
    "  LEFT JOIN crosswalk cw ON cw.user_id = g.user_id"
    " WHERE r.token_hash = $1::bytea AND g.application_id = $2::bigint"
    "   AND r.rotated_at IS NULL AND r.revoked_at IS NULL"
    "   AND r.expires_at > now()"
    "   AND g.revoked_at IS NULL AND g.expires_at > now()"
};


static const db_stmt_t  token_userinfo_user = {
    "token_userinfo_user",
    "SELECT u.name, cw.patient_id"
    "  FROM access_tokens a, users u"
    "  LEFT JOIN crosswalk cw ON cw.user_id = u.id"
    " WHERE a.jti = $1 AND a.revoked_at IS NULL AND a.expires_at > now()"
    "   AND u.id = $2::bigint AND u.active"
};


int
token_revoke(http_req_t *req)
{
    int              rc;
    char             err[256], hash[OAUTH_HASH_PARAM_SIZE];
    char             family[40];
    bb_jwt_t        *jwt;
    PGresult        *res;
    db_conn_t       *c;
    const char      *token, *params[2];
    oauth_client_t   client;
    oauth_http_rc_t  hrc;

    hrc = oauth_http_form(req);

    if (hrc != OAUTH_HTTP_PASS) {
        return hrc == OAUTH_HTTP_ANSWERED ? 0 : -1;
    }

    if (oauth_http_param(req, "token", BB_JWT_DEFAULT_MAX_SIZE, &token) != 0) {
        return 0;
    }

    c = db_acquire(req->id);
    if (c == NULL) {
        return oauth_http_unavailable(req, 0);
    }

    rc = -1;
    jwt = NULL;
    res = NULL;

    hrc = oauth_http_client(c, req, &client);

    if (hrc != OAUTH_HTTP_PASS) {
        rc = (hrc == OAUTH_HTTP_ANSWERED) ? 0 : -1;
        goto done;
    }

    /*
     * The hint is only a hint (RFC 7009 2.1): the form of the token says
     * what it is, a JWS for an access token, 43 characters otherwise.
     */

    if (strchr(token, '.') == NULL) {
        oauth_http_hash(token, hash);

        params[0] = hash;
        params[1] = client.app_id;

        res = db_exec(c, &token_refresh_owner, 2, params);
        if (res == NULL) {
            goto done;
        }

        if (PQntuples(res) == 1) {
            snprintf(family, sizeof(family), "%s", PQgetvalue(res, 0, 0));

            if (token_family_revoke(req, c, family, client.client_id,
                                    "token.revoke")
                != 0)
            {
                goto done;
            }
        }

    } else {
        jwt = keys_verify(c, req->id, token, err, sizeof(err));

        /* a token of another client, or not ours, is left alone */

        if (jwt != NULL && strcmp(jwt->client_id, client.client_id) == 0) {
            params[0] = jwt->jti;

            res = db_exec(c, &token_jti_revoke, 1, params);
            if (res == NULL) {
                goto done;
            }

            if (PQntuples(res) > 0) {
                oauth_http_policy(req, c);
            }
        }
    }

    rc = http_empty(req, 200);

done:

    bb_jwt_free(jwt);
    PQclear(res);
    db_release(c);

    return rc;
}


int
token_introspect(http_req_t *req)
{
    int              rc, active;
    char             err[256], hash[OAUTH_HASH_PARAM_SIZE];
    json_t          *body;
    bb_jwt_t        *jwt;
    PGresult        *res;
    db_conn_t       *c;
    const char      *token, *params[2];
    oauth_client_t   client;
    oauth_http_rc_t  hrc;

    hrc = oauth_http_form(req);

    if (hrc != OAUTH_HTTP_PASS) {
        return hrc == OAUTH_HTTP_ANSWERED ? 0 : -1;
    }

    if (oauth_http_param(req, "token", BB_JWT_DEFAULT_MAX_SIZE, &token) != 0) {
        return 0;
    }

    c = db_acquire(req->id);
    if (c == NULL) {
        return oauth_http_unavailable(req, 0);
    }

    rc = -1;
    jwt = NULL;
    res = NULL;
    body = NULL;
    active = 0;

    hrc = oauth_http_client(c, req, &client);

    if (hrc != OAUTH_HTTP_PASS) {
        rc = (hrc == OAUTH_HTTP_ANSWERED) ? 0 : -1;
        goto done;
    }

    if (!client.confidential) {
        rc = oauth_http_error(req, 401, "invalid_client",
                              "introspection needs a confidential client");
        goto done;
    }

    /* a client learns about its own tokens only */

    if (strchr(token, '.') != NULL) {
        jwt = keys_verify(c, req->id, token, err, sizeof(err));

        if (jwt != NULL && strcmp(jwt->client_id, client.client_id) == 0) {
            params[0] = jwt->jti;

            res = db_exec(c, &token_jti_live, 1, params);
            if (res == NULL) {
                goto done;
            }

            active = (PQntuples(res) == 1);
        }

        if (active) {
            body = json_pack("{s:b, s:s, s:s, s:s, s:I, s:I, s:s, s:s, "
                             "s:s, s:s}", "active", 1, "scope", jwt->scope,
                             "client_id", jwt->client_id, "sub", jwt->sub,
                             "exp", (json_int_t) jwt->exp,
                             "iat", (json_int_t) jwt->iat,
                             "token_type", "Bearer", "iss", authd_cfg.issuer,
                             "aud", authd_cfg.audience, "jti", jwt->jti);

            if (body != NULL && jwt->patient != NULL
                && json_object_set_new(body, "patient",
                                       json_string(jwt->patient)) != 0)
            {
                goto nomem;
            }
        }

    } else {
        oauth_http_hash(token, hash);

        params[0] = hash;
        params[1] = client.app_id;

        res = db_exec(c, &token_refresh_introspect, 2, params);
        if (res == NULL) {
            goto done;
        }

        active = (PQntuples(res) == 1);

        if (active) {
            body = json_pack("{s:b, s:s, s:s, s:s, s:I, s:I, s:s}",
                             "active", 1, "scope", PQgetvalue(res, 0, 0),
                             "client_id", client.client_id,
                             "sub", PQgetvalue(res, 0, 1),
                             "exp", (json_int_t) atoll(PQgetvalue(res, 0, 3)),
                             "iat", (json_int_t) atoll(PQgetvalue(res, 0, 4)),
                             "iss", authd_cfg.issuer);

            if (body != NULL && !PQgetisnull(res, 0, 2)
                && json_object_set_new(body, "patient",
                                       json_string(PQgetvalue(res, 0, 2)))
                   != 0)
            {
                goto nomem;
            }
        }
    }

    if (!active) {
        body = json_pack("{s:b}", "active", 0);
    }

    if (body == NULL) {
        goto nomem;
    }

    rc = http_set_header(req, "Pragma", "no-cache");

    if (rc == 0) {
        rc = http_json(req, 200, body);
        body = NULL;
    }

    goto done;

nomem:

    log_error(req->id, "out of memory");

done:

    json_decref(body);
    bb_jwt_free(jwt);
    PQclear(res);
    db_release(c);

    return rc;
}


int
token_userinfo(http_req_t *req)
{
    int          rc;
    char         err[256], *fhir_user;
    json_t      *body;
    bb_jwt_t    *jwt;
    PGresult    *res;
    db_conn_t   *c;
    const char  *auth, *token, *params[2];

    auth = http_header(req, "Authorization");

    if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0) {
        if (http_set_header(req, "WWW-Authenticate", "Bearer realm=\"authd\"")
            != 0)
        {
            return -1;
        }

        return oauth_http_error(req, 401, "invalid_request",
                                "an access token is required (Authorization:"
                                " Bearer)");
    }

    for (token = auth + 7; *token == ' '; token++) {
        /* void */
    }

    c = db_acquire(req->id);
    if (c == NULL) {
        return oauth_http_unavailable(req, 0);
    }

    rc = -1;
    res = NULL;
    body = NULL;
    fhir_user = NULL;

    jwt = keys_verify(c, req->id, token, err, sizeof(err));

    if (jwt == NULL) {
        log_info(req->id, "userinfo: access token refused: %s", err);
        rc = token_bearer_error(req, 401, "invalid_token",
                                "the access token is not valid");
        goto done;
    }

    http_set_client_id(req, jwt->client_id);

    params[0] = jwt->jti;
    params[1] = jwt->sub;

    res = db_exec(c, &token_userinfo_user, 2, params);
    if (res == NULL) {
        goto done;
    }

    if (PQntuples(res) != 1) {
        rc = token_bearer_error(req, 401, "invalid_token",
                                "the access token is revoked or expired");
        goto done;
    }

    if (!oauth_http_has_scope(jwt->scope, "openid")) {
        rc = token_bearer_error(req, 403, "insufficient_scope",
                                "userinfo needs the scope openid");
        goto done;
    }

    body = json_pack("{s:s}", "sub", jwt->sub);

    if (body == NULL) {
        goto nomem;
    }

    if (PQgetvalue(res, 0, 0)[0] != '\0'
        && json_object_set_new(body, "name",
                               json_string(PQgetvalue(res, 0, 0))) != 0)
    {
        goto nomem;
    }

    if (!PQgetisnull(res, 0, 1)) {
        if (asprintf(&fhir_user, "Patient/%s", PQgetvalue(res, 0, 1)) < 0) {
            fhir_user = NULL;
            goto nomem;
        }

        if (json_object_set_new(body, "patient",
                                json_string(PQgetvalue(res, 0, 1))) != 0
            || json_object_set_new(body, "fhirUser", json_string(fhir_user))
               != 0)
        {
            goto nomem;
        }
    }

    rc = http_json(req, 200, body);
    body = NULL;
    goto done;

nomem:

    log_error(req->id, "out of memory");

done:

    free(fhir_user);
    json_decref(body);
    bb_jwt_free(jwt);
    PQclear(res);
    db_release(c);

    return rc;
}


/* RFC 6750 3: the error in WWW-Authenticate and in the body */

static int
token_bearer_error(http_req_t *req, unsigned status, const char *error,
    const char *description)
{
    char  value[256];

    snprintf(value, sizeof(value),
             "Bearer realm=\"authd\", error=\"%s\", error_description=\"%s\"",
             error, description);

    if (http_set_header(req, "WWW-Authenticate", value) != 0) {
        return -1;
    }

    return oauth_http_error(req, status, error, description);
}
