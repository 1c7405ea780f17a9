/*
 * The policy document: everything the gateway enforces that admins edit
 * through authd (issuer, audience, signing keys, supported resource types,
 * their interactions and controls, revoked token ids).  authd writes it as
 * one JSON file; the module parses it once per version and reads the parsed
 * form on every request.  The schema is schema/policy.schema.json.
 */

#ifndef BB_POLICY_H
#define BB_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "bb_buf.h"


/* jansson's, declared here so that this header does not need jansson.h */
struct json_t;


/* FHIR interactions a resource type may allow (bit set) */
#define BB_READ             0x01
#define BB_VREAD            0x02
#define BB_SEARCH           0x04
#define BB_HISTORY          0x08
#define BB_CREATE           0x10
#define BB_UPDATE           0x20
#define BB_DELETE           0x40


typedef enum {
    BB_ALG_ES256 = 1,
    BB_ALG_RS256
} bb_alg_t;


typedef struct {
    char                *kid;
    bb_alg_t             alg;
    EVP_PKEY            *pkey;      /* parsed once, when the policy loads */
} bb_key_t;


/* what override_url_id does with an id that is not the token's patient */
typedef enum {
    BB_ID_OVERRIDE = 0,             /* replace it, as the original system */
    BB_ID_NOT_FOUND                 /* answer 404 without calling upstream */
} bb_id_mismatch_t;


/* what happens to a blocked, widening or unlisted search parameter */
typedef enum {
    BB_SEARCH_DROP = 0,
    BB_SEARCH_REFUSE                /* 400 */
} bb_search_action_t;


typedef struct {
    char                *name;      /* decoded, e.g. "beneficiary" */
    char                *value;     /* may hold %PATIENT% */
} bb_param_t;


typedef struct {
    char                *name;      /* case-sensitive, e.g. "Coverage" */
    unsigned             interactions;

    unsigned             override_url_id:1;
    unsigned             override_search:1;
    unsigned             has_search_allow:1;

    bb_id_mismatch_t     url_id_mismatch;
    bb_search_action_t   search_action;

    char               **search_block;
    size_t               nsearch_block;

    bb_param_t          *search_add;
    size_t               nsearch_add;

    /* when has_search_allow, only these names (and result parameters) pass */
    char               **search_allow;
    size_t               nsearch_allow;

    /* widening parameters (_include, _has, ...) this type lets through */
    char               **widening_allow;
    size_t               nwidening_allow;

    /* field of the returned resource naming its patient, or NULL */
    char                *patient_reference;
} bb_resource_type_t;


typedef struct {
    char                *jti;
    int64_t              exp;
} bb_revoked_t;


typedef struct {
    char                *serial;    /* authd's revision, for logs */
    char                *issuer;
    char                *audience;

    bb_key_t            *keys;
    size_t               nkeys;

    bb_resource_type_t  *types;     /* sorted by name */
    size_t               ntypes;

    bb_revoked_t        *revoked;   /* sorted by jti */
    size_t               nrevoked;
} bb_policy_t;


/*
 * Parse a policy document.  On failure returns NULL and writes into err a
 * message naming the JSON path of the problem, e.g.
 * "resource_types.Coverage.search_add[1]: \"patient\" has no \"=\"".
 */
bb_policy_t *bb_policy_parse(const char *json, size_t len, char *err,
    size_t errlen);
bb_policy_t *bb_policy_load(const char *path, char *err, size_t errlen);
void bb_policy_free(bb_policy_t *policy);

const bb_resource_type_t *bb_policy_type(const bb_policy_t *policy,
    const char *name, size_t len);
const bb_key_t *bb_policy_key(const bb_policy_t *policy, const char *kid,
    size_t len);
int bb_policy_revoked(const bb_policy_t *policy, const char *jti, size_t len);

/* 1 when any control of the type depends on the token's patient claim */
int bb_type_needs_patient(const bb_resource_type_t *rt);

/*
 * One resource type alone, by the rules bb_policy_parse() applies to each
 * member of "resource_types": for authd, which validates an admin's edit
 * with it.  Error messages start with path, as in a document
 * ("resource_types.Coverage"), or with the field alone when path is "":
 * "search_add[1]: \"patient\" has no \"=\"".  The name is not checked
 * (bb_type_name_valid() does).  Returns 0 or -1; either way rt, zeroed by
 * the caller beforehand, is released with bb_type_free().
 */
int bb_type_parse(bb_resource_type_t *rt, const char *name,
    struct json_t *obj, const char *path, char *err, size_t errlen);
void bb_type_free(bb_resource_type_t *rt);

/* 1 when name (len bytes) is a valid type name: [A-Z][A-Za-z]{0,63} */
int bb_type_name_valid(const char *name, size_t len);


#endif /* BB_POLICY_H */
