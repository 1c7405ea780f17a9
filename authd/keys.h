/*
 * The ES256 keys that sign access tokens.  Rows of signing_keys hold each
 * key's public JWK and its private key as encrypted PKCS#8 PEM (the
 * passphrase is AUTHD_KEY_PASSPHRASE), so that several authd processes
 * share them.  A key is "published" (in the JWKS and the policy document,
 * not signing yet), then "active" (signs; one at a time), then "retired"
 * (published until retire_after, when the last token it signed expires).
 *
 * Each process keeps the active key decrypted in memory with the
 * published set, checks the table at most once a second, and promotes a
 * published key whose active_from has come (retiring the active one).
 * When the table holds no key at all, the first need of one creates it.
 */

#ifndef AUTHD_KEYS_H
#define AUTHD_KEYS_H

#include <stddef.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "bb_jwt.h"
#include "commands.h"
#include "db.h"


#define KEYS_MUST_CHECK  __attribute__((warn_unused_result))

#define KEYS_KID_SIZE    65


/*
 * A new P-256 key, published now; it signs from now + key_publish_delay
 * (at once when no key is active), and the key active until then is
 * retired with retire_after = the moment it stops signing + the access
 * token lifetime.  Rewrites the policy document.  The audit row, naming
 * actor ("admin:<id>", "cli"), is written in the same transaction as the
 * key.  Returns 0, or -1 with a reason in err (also logged); must be
 * called outside a transaction.
 */
int keys_rotate(db_conn_t *c, const char *req_id, const char *actor,
    char *err, size_t errlen) KEYS_MUST_CHECK;

/*
 * Every key, newest first: {kid, alg, state, created_at, active_from,
 * retire_after, published, public_jwk}, times as RFC 3339 text or null.
 * A new reference, or NULL (logged).
 */
json_t *keys_list(db_conn_t *c);

/*
 * For `authd serve` at start-up, before it listens: loads the keys,
 * making the first one when the table holds none, and writes the policy
 * document with them.  Without this call the first request that needs a
 * key does the same.  Returns 0, or -1 (logged).
 */
int keys_startup(void) KEYS_MUST_CHECK;

/*
 * The key to sign with now: *key gets a new reference (EVP_PKEY_free()
 * it) and kid its kid.  Returns 0, or -1 (logged) when there is none.
 */
int keys_signer(db_conn_t *c, const char *req_id, EVP_PKEY **key,
    char kid[KEYS_KID_SIZE]) KEYS_MUST_CHECK;

/* the published keys as a JWK Set, serialized; a new string for free() */
char *keys_jwks(db_conn_t *c, const char *req_id);

/*
 * An access token checked as the gateway checks it (bb_jwt_verify() with
 * the published keys, issuer and audience): signature, typ, claims and
 * lifetime, not revocation.  NULL with a reason in err (never quoting the
 * token) when it fails.
 */
bb_jwt_t *keys_verify(db_conn_t *c, const char *req_id, const char *token,
    char *err, size_t errlen);


#endif /* AUTHD_KEYS_H */
