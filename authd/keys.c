/*
 * Signing keys (see keys.h).  What a process knows of the table is one
 * immutable, reference-counted keys_set_t: the active key decrypted, the
 * published JWK Set as text, and a verification policy built from it for
 * bb_jwt_verify().  At most once a second one request re-reads the kids
 * and states; a new set is built only when they changed, and replaces the
 * old one, which the requests still using it release.
 *
 * Changes of state happen under an advisory lock, so that authd processes
 * sharing the database neither promote twice nor create two first keys.
 */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "bb_jwt.h"
#include "bb_policy.h"
#include "config.h"
#include "crypto.h"
#include "db.h"
#include "keys.h"
#include "log.h"
#include "policy.h"


/*
 * A retired key stays published this long after its last token expires:
 * the gateway's leeway on exp (30 s) and the second during which another
 * authd may still sign with it before it sees the promotion.
 */
#define KEYS_RETIRE_MARGIN  60


typedef struct {
    int              refs;
    char             kid[KEYS_KID_SIZE];    /* the active key; "" none */
    EVP_PKEY        *key;
    char            *jwks;
    bb_policy_t     *policy;                /* NULL when nothing is published */
    char            *states;                /* "kid state," for each row */
    char            *published;             /* "kid," for each row */
} keys_set_t;


static keys_set_t *keys_get(db_conn_t *c, const char *req_id);
static void keys_put(keys_set_t *set);
static keys_set_t *keys_load(db_conn_t *c, const char *req_id,
    const char *states, int *unchanged);
static int keys_build(db_conn_t *c, const char *req_id, PGresult *res,
    keys_set_t *set);
static int keys_promote(db_conn_t *c, const char *req_id);
static int keys_create(db_conn_t *c, const char *req_id, const char *actor,
    int first, char kid[KEYS_KID_SIZE], char *err, size_t errlen);
static int keys_retire(db_conn_t *c, const char *kid);
static void keys_policy(db_conn_t *c, const char *req_id);
static time_t keys_clock(void);


static pthread_mutex_t  keys_lock = PTHREAD_MUTEX_INITIALIZER;
static keys_set_t      *keys_current;
static time_t           keys_checked;
static int              keys_refreshing;


/* what is published, in order: the policy document lists the same */

static const db_stmt_t  keys_rows = {
    "keys_rows",
    "SELECT kid, state, public_jwk::text,"
    "       state = 'published' AND active_from <= now()"
    "  FROM signing_keys"
    " WHERE state <> 'retired' OR retire_after > now()"
    " ORDER BY created_at, kid"
};


static const db_stmt_t  keys_pem = {
    "keys_pem",
    "SELECT private_pem_encrypted FROM signing_keys"
    " WHERE kid = $1 AND state = 'active'"
};


static const db_stmt_t  keys_advisory = {
    "keys_advisory",
    "SELECT pg_advisory_xact_lock(hashtext('authd signing_keys'))"
};


static const db_stmt_t  keys_count = {
    "keys_count",
    "SELECT count(*) FILTER (WHERE state = 'active'), count(*)"
    "  FROM signing_keys"
};


static const db_stmt_t  keys_insert = {
    "keys_insert",
    "INSERT INTO signing_keys (kid, alg, public_jwk, private_pem_encrypted,"
    "                          state, active_from)"
    " VALUES ($1, 'ES256', $2::jsonb, $3, $4,"
    "         now() + $5::bigint * interval '1 second')"
    " RETURNING active_from"
};


static const db_stmt_t  keys_due = {
    "keys_due",
    "SELECT kid FROM signing_keys"
    " WHERE state = 'published' AND active_from <= now()"
    " ORDER BY active_from DESC, created_at DESC, kid LIMIT 1"
};


/*
 * Every key that signs or could sign (active, or published and due)
 * retires, but the new signer.  retire_after counts from now, when it
 * stops signing.
 */

static const db_stmt_t  keys_retire_others = {
    "keys_retire_others",
    "UPDATE signing_keys"
    "   SET state = 'retired',"
    "       retire_after = now() + $2::bigint * interval '1 second'"
    " WHERE kid <> $1"
    "   AND (state = 'active'"
    "        OR (state = 'published' AND active_from <= now()))"
};


static const db_stmt_t  keys_activate = {
    "keys_activate",
    "UPDATE signing_keys SET state = 'active' WHERE kid = $1"
};


static const db_stmt_t  keys_audit = {
    "keys_audit",
    "INSERT INTO audit_log (actor, action, target, request_id, detail)"
    " SELECT $1, 'key.rotate', 'key:' || kid, $3,"
    "        jsonb_build_object('state', state, 'active_from', active_from)"
    "            || CASE WHEN $4::bool THEN '{\"first\": true}'::jsonb"
    "                    ELSE '{}'::jsonb END"
    "   FROM signing_keys WHERE kid = $2"
};


static const db_stmt_t  keys_all = {
    "keys_all",
    "SELECT coalesce(json_agg(json_build_object("
    "    'kid', kid, 'alg', alg, 'state', state,"
    "    'created_at', created_at, 'active_from', active_from,"
    "    'retire_after', retire_after,"
    "    'published', state <> 'retired' OR retire_after > now(),"
    "    'public_jwk', public_jwk) ORDER BY created_at DESC, kid), '[]')"
    "  FROM signing_keys"
};


int
keys_rotate(db_conn_t *c, const char *req_id, const char *actor, char *err,
    size_t errlen)
{
    char  kid[KEYS_KID_SIZE];

    return keys_create(c, req_id, actor, 0, kid, err, errlen);
}


json_t *
keys_list(db_conn_t *c)
{
    json_t        *list;
    PGresult      *res;
    json_error_t   jerr;

    res = db_exec(c, &keys_all, 0, NULL);
    if (res == NULL) {
        return NULL;
    }

    list = json_loads(PQgetvalue(res, 0, 0), 0, &jerr);

    if (list == NULL) {
        log_error(NULL, "json_loads() failed on the key list: %s", jerr.text);
    }

    PQclear(res);

    return list;
}


int
keys_cmd_rotate(int argc, char **argv)
{
    int         rc;
    char        err[256], kid[KEYS_KID_SIZE];
    db_conn_t  *c;

    if (argc > 1) {
        log_error(NULL, "unexpected argument \"%s\"", argv[1]);
        return 2;
    }

    c = db_acquire(NULL);
    if (c == NULL) {
        return 1;
    }

    rc = keys_create(c, NULL, "cli", 0, kid, err, sizeof(err));

    db_release(c);

    if (rc != 0) {
        return 1;
    }

    printf("%s\n", kid);

    return 0;
}


int
keys_startup(void)
{
    db_conn_t   *c;
    keys_set_t  *set;

    c = db_acquire(NULL);
    if (c == NULL) {
        return -1;
    }

    set = keys_get(c, NULL);

    db_release(c);

    if (set == NULL) {
        return -1;
    }

    keys_put(set);

    return 0;
}


int
keys_signer(db_conn_t *c, const char *req_id, EVP_PKEY **key,
    char kid[KEYS_KID_SIZE])
{
    keys_set_t  *set;

    *key = NULL;
    kid[0] = '\0';

    set = keys_get(c, req_id);
    if (set == NULL) {
        return -1;
    }

    if (set->key == NULL) {
        log_error(req_id, "no active signing key");
        keys_put(set);
        return -1;
    }

    if (EVP_PKEY_up_ref(set->key) != 1) {
        log_error(req_id, "EVP_PKEY_up_ref() failed");
        keys_put(set);
        return -1;
    }

    *key = set->key;
    memcpy(kid, set->kid, KEYS_KID_SIZE);

    keys_put(set);

    return 0;
}


char *
keys_jwks(db_conn_t *c, const char *req_id)
{
    char        *jwks;
    keys_set_t  *set;

    set = keys_get(c, req_id);
    if (set == NULL) {
        return NULL;
    }

    jwks = strdup(set->jwks);

    if (jwks == NULL) {
        log_error(req_id, "out of memory");
    }

    keys_put(set);

    return jwks;
}


bb_jwt_t *
keys_verify(db_conn_t *c, const char *req_id, const char *token, char *err,
    size_t errlen)
{
    bb_jwt_t         *jwt;
    keys_set_t       *set;
    bb_jwt_limits_t   limits;

    set = keys_get(c, req_id);

    if (set == NULL || set->policy == NULL) {
        snprintf(err, errlen, "no signing key is published");
        keys_put(set);
        return NULL;
    }

    /* no leeway: a token past its exp is no longer active here */

    limits.now = time(NULL);
    limits.leeway = 0;
    limits.max_lifetime = 0;
    limits.max_size = BB_JWT_DEFAULT_MAX_SIZE;

    jwt = bb_jwt_verify(set->policy, token, strlen(token), &limits, err,
                        errlen);

    keys_put(set);

    return jwt;
}


/*
 * The current set, with a reference for the caller.  While one request
 * re-reads the table, the others keep using the set they have.
 */

static keys_set_t *
keys_get(db_conn_t *c, const char *req_id)
{
    int          unchanged;
    char        *states;
    time_t       now;
    keys_set_t  *set, *old;

    now = keys_clock();

    pthread_mutex_lock(&keys_lock);

    if (keys_current != NULL
        && (now - keys_checked < 1 || keys_refreshing))
    {
        set = keys_current;
        set->refs++;
        pthread_mutex_unlock(&keys_lock);
        return set;
    }

    keys_refreshing = 1;
    states = NULL;

    if (keys_current != NULL) {
        states = strdup(keys_current->states);
    }

    pthread_mutex_unlock(&keys_lock);

    set = keys_load(c, req_id, states, &unchanged);

    free(states);

    pthread_mutex_lock(&keys_lock);

    keys_refreshing = 0;
    old = NULL;

    if (set != NULL) {
        old = keys_current;
        keys_current = set;
    }

    if (set != NULL || unchanged) {
        keys_checked = now;
    }

    set = keys_current;

    if (set != NULL) {
        set->refs++;
    }

    pthread_mutex_unlock(&keys_lock);

    keys_put(old);

    return set;
}


static void
keys_put(keys_set_t *set)
{
    int  last;

    if (set == NULL) {
        return;
    }

    pthread_mutex_lock(&keys_lock);
    last = (--set->refs == 0);
    pthread_mutex_unlock(&keys_lock);

    if (!last) {
        return;
    }

    EVP_PKEY_free(set->key);
    bb_policy_free(set->policy);
    free(set->jwks);
    free(set->states);
    free(set->published);
    free(set);
}


/*
 * A new set when the kids or states differ from states (NULL: none
 * loaded yet); NULL with *unchanged set when they do not, NULL alone on
 * failure (logged).  Due promotions and the very first key are made here.
 */

static keys_set_t *
keys_load(db_conn_t *c, const char *req_id, const char *states,
    int *unchanged)
{
    int          i, n, round, due;
    char         err[256], kid[KEYS_KID_SIZE];
    PGresult    *res;
    bb_buf_t     b;
    keys_set_t  *set;

    *unchanged = 0;
    res = NULL;
    set = NULL;
    memset(&b, 0, sizeof(bb_buf_t));

    for (round = 0; round < 3; round++) {
        res = db_exec(c, &keys_rows, 0, NULL);
        if (res == NULL) {
            return NULL;
        }

        n = PQntuples(res);
        due = 0;

        for (i = 0; i < n; i++) {
            due |= (strcmp(PQgetvalue(res, i, 3), "t") == 0);
        }

        if (n > 0 && !due) {
            break;
        }

        PQclear(res);
        res = NULL;

        if (n == 0) {
            if (keys_create(c, req_id, "system", 1, kid, err, sizeof(err))
                != 0)
            {
                return NULL;
            }

        } else if (keys_promote(c, req_id) != 0) {
            return NULL;
        }
    }

    if (res == NULL) {
        log_error(req_id, "signing keys did not settle");
        return NULL;
    }

    for (i = 0; i < n; i++) {
        if (bb_buf_append_str(&b, PQgetvalue(res, i, 0)) != 0
            || bb_buf_append_char(&b, ' ') != 0
            || bb_buf_append_str(&b, PQgetvalue(res, i, 1)) != 0
            || bb_buf_append_char(&b, ',') != 0)
        {
            log_error(req_id, "out of memory");
            goto failed;
        }
    }

    if (bb_buf_cstr(&b) == NULL) {
        log_error(req_id, "out of memory");
        goto failed;
    }

    if (states != NULL && strcmp(states, b.data) == 0) {
        *unchanged = 1;
        goto failed;
    }

    set = calloc(1, sizeof(keys_set_t));

    if (set == NULL) {
        log_error(req_id, "out of memory");
        goto failed;
    }

    set->refs = 1;
    set->states = bb_buf_cstr(&b);
    memset(&b, 0, sizeof(bb_buf_t));

    if (keys_build(c, req_id, res, set) != 0) {
        goto failed;
    }

    PQclear(res);

    return set;

failed:

    bb_buf_free(&b);
    PQclear(res);
    keys_put(set);

    return NULL;
}


static int
keys_build(db_conn_t *c, const char *req_id, PGresult *res, keys_set_t *set)
{
    int            i, n, rc, changed;
    char          *doc, err[256];
    json_t        *jwks, *jwk, *policy;
    bb_buf_t       published;
    PGresult      *pem;
    const char    *params[1];
    json_error_t   jerr;

    rc = -1;
    doc = NULL;
    pem = NULL;
    policy = NULL;
    memset(&published, 0, sizeof(bb_buf_t));

    jwks = json_pack("{s:[]}", "keys");
    if (jwks == NULL) {
        log_error(req_id, "out of memory");
        return -1;
    }

    n = PQntuples(res);

    for (i = 0; i < n; i++) {
        jwk = json_loads(PQgetvalue(res, i, 2), 0, &jerr);

        if (jwk == NULL) {
            log_error(req_id, "public JWK of key \"%s\" unreadable: %s",
                      PQgetvalue(res, i, 0), jerr.text);
            goto done;
        }

        if (json_array_append_new(json_object_get(jwks, "keys"), jwk) != 0
            || bb_buf_append_str(&published, PQgetvalue(res, i, 0)) != 0
            || bb_buf_append_char(&published, ',') != 0)
        {
            log_error(req_id, "out of memory");
            goto done;
        }

        if (strcmp(PQgetvalue(res, i, 1), "active") == 0) {
            snprintf(set->kid, sizeof(set->kid), "%s", PQgetvalue(res, i, 0));
        }
    }

    set->jwks = json_dumps(jwks, JSON_COMPACT);
    set->published = bb_buf_cstr(&published);

    if (set->jwks == NULL || set->published == NULL) {
        log_error(req_id, "out of memory");
        goto done;
    }

    memset(&published, 0, sizeof(bb_buf_t));

    /* the gateway's own parser, on a document holding the keys alone */

    policy = json_pack("{s:i, s:s, s:s, s:O, s:{}}", "policy_version", 1,
                       "issuer", authd_cfg.issuer,
                       "audience", authd_cfg.audience, "keys", jwks,
                       "resource_types");
    doc = policy ? json_dumps(policy, JSON_COMPACT) : NULL;

    if (doc == NULL) {
        log_error(req_id, "out of memory");
        goto done;
    }

    set->policy = bb_policy_parse(doc, strlen(doc), err, sizeof(err));

    if (set->policy == NULL) {
        log_error(req_id, "published keys refused: %s", err);
        goto done;
    }

    if (set->kid[0] != '\0') {
        params[0] = set->kid;

        pem = db_exec(c, &keys_pem, 1, params);
        if (pem == NULL) {
            goto done;
        }

        if (PQntuples(pem) == 1) {
            set->key = crypto_key_decrypt(PQgetvalue(pem, 0, 0),
                                          authd_cfg.key_passphrase);
        }

        if (set->key == NULL) {
            log_error(req_id, "cannot decrypt signing key \"%s\": is "
                      "AUTHD_KEY_PASSPHRASE the one it was made with?",
                      set->kid);
            set->kid[0] = '\0';
        }
    }

    pthread_mutex_lock(&keys_lock);
    changed = (keys_current == NULL
               || strcmp(keys_current->published, set->published) != 0);
    pthread_mutex_unlock(&keys_lock);

    if (changed) {
        keys_policy(c, req_id);
    }

    log_info(req_id, "signing keys loaded: active \"%s\", %d published",
             set->kid, n);

    rc = 0;

done:

    bb_buf_free(&published);
    free(doc);
    json_decref(policy);
    json_decref(jwks);
    PQclear(pem);

    return rc;
}


/* the newest due published key becomes the signer */

static int
keys_promote(db_conn_t *c, const char *req_id)
{
    int        rc;
    char       kid[KEYS_KID_SIZE];
    PGresult  *res;

    rc = -1;

    if (db_begin(c) != 0) {
        return -1;
    }

    res = db_exec(c, &keys_advisory, 0, NULL);
    if (res == NULL) {
        goto done;
    }

    PQclear(res);

    res = db_exec(c, &keys_due, 0, NULL);
    if (res == NULL) {
        goto done;
    }

    if (PQntuples(res) == 0) {

        /* another process promoted it first */

        PQclear(res);
        rc = db_commit(c);
        return rc;
    }

    snprintf(kid, sizeof(kid), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);

    if (keys_retire(c, kid) != 0) {
        goto done;
    }

    if (db_commit(c) != 0) {
        return -1;
    }

    log_info(req_id, "signing key \"%s\" now signs", kid);

    return 0;

done:

    db_rollback(c);

    return rc;
}


static int
keys_create(db_conn_t *c, const char *req_id, const char *actor, int first,
    char kid[KEYS_KID_SIZE], char *err, size_t errlen)
{
    int          rc, active;
    char        *jwk_text, *pem, delay[24];
    json_t      *jwk;
    EVP_PKEY    *key;
    PGresult    *res;
    const char  *params[5], *state;

    rc = -1;
    jwk = NULL;
    jwk_text = NULL;
    pem = NULL;
    res = NULL;
    kid[0] = '\0';

    key = crypto_p256_generate();

    if (key == NULL) {
        snprintf(err, errlen, "crypto_p256_generate() failed");
        goto failed;
    }

    if (crypto_jwk_thumbprint(key, kid) != 0
        || crypto_jwk_public(key, kid, &jwk) != 0)
    {
        snprintf(err, errlen, "crypto_jwk_public() failed");
        goto failed;
    }

    jwk_text = json_dumps(jwk, JSON_COMPACT);

    if (jwk_text == NULL) {
        snprintf(err, errlen, "out of memory");
        goto failed;
    }

    if (crypto_key_encrypt(key, authd_cfg.key_passphrase, &pem) != 0) {
        snprintf(err, errlen, "crypto_key_encrypt() failed");
        goto failed;
    }

    if (db_begin(c) != 0) {
        snprintf(err, errlen, "database unavailable");
        goto failed;
    }

    res = db_exec(c, &keys_advisory, 0, NULL);
    if (res == NULL) {
        goto database;
    }

    PQclear(res);

    res = db_exec(c, &keys_count, 0, NULL);
    if (res == NULL) {
        goto database;
    }

    active = atoi(PQgetvalue(res, 0, 0));

    /* two processes found the table empty: the first one's key stays */

    if (first && atoi(PQgetvalue(res, 0, 1)) > 0) {
        PQclear(res);
        res = NULL;
        rc = db_commit(c);
        goto done;
    }

    PQclear(res);

    /*
     * Without an active key no token can be verified yet, so there is
     * nothing to wait for: the new key signs at once.
     */

    state = active ? "published" : "active";
    snprintf(delay, sizeof(delay), "%ld",
             active ? authd_cfg.key_publish_delay : 0L);

    params[0] = kid;
    params[1] = jwk_text;
    params[2] = pem;
    params[3] = state;
    params[4] = delay;

    res = db_exec(c, &keys_insert, 5, params);
    if (res == NULL) {
        goto database;
    }

    PQclear(res);

    if (active && authd_cfg.key_publish_delay == 0
        && keys_retire(c, kid) != 0)
    {
        goto database;
    }

    if (actor != NULL) {
        params[0] = actor;
        params[1] = kid;
        params[2] = req_id;
        params[3] = first ? "true" : "false";

        res = db_exec(c, &keys_audit, 4, params);
        if (res == NULL) {
            goto database;
        }

        PQclear(res);
    }

    res = NULL;

    if (db_commit(c) != 0) {
        snprintf(err, errlen, "database unavailable");
        goto failed;
    }

    log_info(req_id, "signing key \"%s\" created, %s", kid,
             active && authd_cfg.key_publish_delay > 0
             ? "published before it signs" : "signing now");

    /* every process re-reads the table at its next request */

    pthread_mutex_lock(&keys_lock);
    keys_checked = 0;
    pthread_mutex_unlock(&keys_lock);

    if (!first) {
        keys_policy(c, req_id);
    }

    rc = 0;
    goto done;

database:

    snprintf(err, errlen, "database statement failed");
    db_rollback(c);

failed:

    log_error(req_id, "key rotation failed: %s", err);

done:

    if (pem != NULL) {
        OPENSSL_cleanse(pem, strlen(pem));
        free(pem);
    }

    free(jwk_text);
    json_decref(jwk);
    EVP_PKEY_free(key);

    return rc;
}


/* inside a transaction: kid signs, whatever signed before retires */

static int
keys_retire(db_conn_t *c, const char *kid)
{
    char         after[24];
    PGresult    *res;
    const char  *params[2];

    snprintf(after, sizeof(after), "%ld",
             authd_cfg.access_token_ttl + KEYS_RETIRE_MARGIN);

    params[0] = kid;
    params[1] = after;

    res = db_exec(c, &keys_retire_others, 2, params);
    if (res == NULL) {
        return -1;
    }

    PQclear(res);

    res = db_exec(c, &keys_activate, 1, params);
    if (res == NULL) {
        return -1;
    }

    PQclear(res);

    return 0;
}


/* the published set changed: the gateway must learn it */

static void
keys_policy(db_conn_t *c, const char *req_id)
{
    char  err[256];

    if (policy_refresh(c, err, sizeof(err)) != 0) {
        log_error(req_id, "policy_refresh() failed: %s", err);
    }
}


static time_t
keys_clock(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec;
}
