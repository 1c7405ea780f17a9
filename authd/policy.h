/*
 * The policy document (schema/README.md) as authd makes it: built from
 * the database (published keys, resource types, revoked access tokens not
 * yet expired, a new serial), checked with the gateway's own parser
 * (bb_policy_parse()), and written atomically where nginx reads it.
 *
 * A resource type is held as the module parses it (bb_resource_type_t):
 * admin input, database rows and the document all go through
 * bb_type_parse(), so that authd and the gateway apply one set of rules.
 */

#ifndef AUTHD_POLICY_H
#define AUTHD_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "bb_policy.h"
#include "db.h"


/*
 * One row of resource_types: the name and every control.  Zero it before
 * filling it; policy_type_free() releases what it holds.
 */
typedef bb_resource_type_t  policy_type_t;


typedef struct {
    const char             *jti;
    int64_t                 exp;        /* the token's exp */
} policy_revoked_t;


/* everything a document holds, as plain values */
typedef struct {
    const char             *issuer;
    const char             *audience;

    /* policy_serial's value and the time (seconds since the epoch) */
    int64_t                 serial;
    int64_t                 now;

    json_t                **keys;       /* public JWKs */
    size_t                  nkeys;

    const policy_type_t    *types;
    size_t                  ntypes;

    /* entries whose exp is not after now are left out */
    const policy_revoked_t *revoked;
    size_t                  nrevoked;
} policy_input_t;


/*
 * The document for in, with every field a resource type allows written
 * out, defaults included ("url_id_mismatch" only with "override_url_id",
 * the search lists only with "override_search", as the schema requires).
 * Returns a new reference, or NULL with the reason in err: no key, two
 * types of one name, or a type whose controls the schema refuses.
 */
json_t *policy_build(const policy_input_t *in, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* one resource type as the document writes it (its name excluded) */
json_t *policy_type_json(const policy_type_t *type, char *err,
    size_t errlen) __attribute__((warn_unused_result));

/*
 * An admin's resource type: an object with "name" and the document's
 * fields of a type, each checked by the gateway's rules.  Errors name the
 * field, e.g. search_add[1]: "patient" has no "=".  Returns 0, or -1 with
 * out released.
 */
int policy_type_from_json(json_t *in, policy_type_t *out, char *err,
    size_t errlen) __attribute__((warn_unused_result));

void policy_type_free(policy_type_t *type);

/*
 * Writes doc to path atomically: path.<pid>.tmp in the same directory
 * (mode 0644, for nginx's workers), fsync, rename over path, fsync of the
 * directory.  Readers see the old document or the new one, never a part.
 * Other processes may write the same path at the same time; threads of one
 * process may not: policy_refresh() serializes its calls.
 */
int policy_write_file(const char *path, json_t *doc, char *err,
    size_t errlen) __attribute__((warn_unused_result));

/*
 * The current document, built from the database at a new serial and
 * accepted by bb_policy_parse().  Call it outside a transaction (or after
 * the commit): it must not see changes that may yet roll back.
 */
json_t *policy_from_db(db_conn_t *c, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * The reason policy_build() and policy_from_db() give when no key is
 * published yet: not a failure, only nothing the gateway could use.
 */
#define POLICY_NO_KEY  "no signing key to publish"

/*
 * policy_from_db(), written to AUTHD_POLICY_PATH when that is set: after
 * every change to keys, resource types or revocations.  Calls are
 * serialized, so that the last one to finish wrote the newest document.
 */
int policy_refresh(db_conn_t *c, char *err, size_t errlen)
    __attribute__((warn_unused_result));


#endif /* AUTHD_POLICY_H */
