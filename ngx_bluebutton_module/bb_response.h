/*
 * What the gateway does to upstream responses: absolute backend URLs
 * become public ones, a resource read of a patient-linked type is checked
 * against the token's patient, the CapabilityStatement is filtered to the
 * policy, and errors become FHIR OperationOutcomes.
 */

#ifndef BB_RESPONSE_H
#define BB_RESPONSE_H

#include <stddef.h>

#include "bb_buf.h"
#include "bb_policy.h"


/*
 * Replace every occurrence of the upstream base "from" that ends at a URL
 * boundary (end of input, '/', '?', '#', '"', '\'', '<', whitespace, or a
 * JSON escape) by "to".  Writes into out and returns the number of
 * replacements, 0 leaving out untouched, or -1 on memory failure.
 */
int bb_rewrite_urls(const char *in, size_t len, bb_str_t from, bb_str_t to,
    bb_buf_t *out);

/*
 * Does the FHIR JSON resource (or every resource of a history Bundle)
 * reference Patient/<patient> through field ("patient", "beneficiary",
 * "subject")?  Returns 1 yes, 0 no, -1 when the body is not a resource.
 */
int bb_resource_belongs(const char *json, size_t len, const char *type,
    const char *field, const char *patient);


typedef struct {
    const char          *authorize_url;
    const char          *token_url;
    const char          *revoke_url;       /* optional */
    const char          *introspect_url;   /* optional */
    const char          *issuer;           /* optional */
    const char          *jwks_uri;         /* optional */
} bb_smart_t;


/*
 * Filter an upstream CapabilityStatement to the policy's types and their
 * allowed interactions, drop system-level interactions and operations, and
 * add the SMART oauth-uris security extension.  Returns 0, or -1 with the
 * reason in err when the body is not a CapabilityStatement.
 */
int bb_capability_filter(const char *json, size_t len,
    const bb_policy_t *policy, const bb_smart_t *smart, bb_buf_t *out,
    char *err, size_t errlen);

/* The .well-known/smart-configuration document. */
int bb_smart_configuration(const bb_smart_t *smart, bb_buf_t *out);


typedef enum {
    BB_ISSUE_INVALID = 1,       /* "invalid" */
    BB_ISSUE_SECURITY,          /* "security" */
    BB_ISSUE_LOGIN,             /* "login" */
    BB_ISSUE_FORBIDDEN,         /* "forbidden" */
    BB_ISSUE_NOT_FOUND,         /* "not-found" */
    BB_ISSUE_NOT_SUPPORTED,     /* "not-supported" */
    BB_ISSUE_TOO_COSTLY,        /* "too-costly" */
    BB_ISSUE_TRANSIENT,         /* "transient" */
    BB_ISSUE_EXCEPTION          /* "exception" */
} bb_issue_t;


/* {"resourceType":"OperationOutcome","issue":[{"severity":"error",...}]} */
int bb_operation_outcome(bb_issue_t code, const char *diagnostics,
    bb_buf_t *out);


#endif /* BB_RESPONSE_H */
