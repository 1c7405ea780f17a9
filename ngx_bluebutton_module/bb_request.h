/*
 * FHIR request classification and rewriting.  The gateway decides on the
 * raw path and the decoded query; the upstream receives a path built from
 * validated parts and one canonical, percent-encoded query.
 */

#ifndef BB_REQUEST_H
#define BB_REQUEST_H

#include <stddef.h>

#include "bb_buf.h"
#include "bb_policy.h"


typedef enum {
    BB_METHOD_GET = 1,
    BB_METHOD_HEAD,
    BB_METHOD_POST,
    BB_METHOD_PUT,
    BB_METHOD_DELETE,
    BB_METHOD_PATCH,
    BB_METHOD_OTHER
} bb_method_t;


typedef enum {
    BB_PATH_RESOURCE = 1,           /* interaction on a resource type */
    BB_PATH_METADATA,               /* [base]/metadata */
    BB_PATH_SMART_CONFIG            /* [base]/.well-known/smart-configuration */
} bb_path_kind_t;


typedef struct {
    bb_path_kind_t       kind;
    unsigned             interaction;  /* one of BB_READ ... BB_DELETE */
    unsigned             post_search:1;  /* POST [type]/_search */
    bb_str_t             type;
    bb_str_t             id;           /* empty when the path has none */
    bb_str_t             vid;
} bb_fhir_request_t;


/*
 * Classify the raw (still percent-encoded) path below the FHIR base, without
 * its leading slash: "Patient/123/_history/2".  Returns 0, or the HTTP status
 * to answer (400 for an ambiguous or hostile path, 404 for an unknown one,
 * 405 for a method the path never takes) with the reason in err.  Does not
 * look at the policy: the caller checks the type and interaction.
 */
int bb_path_classify(bb_method_t method, const char *path, size_t len,
    size_t max_len, bb_fhir_request_t *req, char *err, size_t errlen);

/*
 * Rewrite the query of a request on resource type rt for the given patient
 * (NULL when the token has none).  query is the raw query string (without
 * '?'); form is the application/x-www-form-urlencoded body of a POST
 * _search, or NULL.  For a search with override_search the type's controls
 * apply; widening parameters are removed unless the type allows them;
 * "_format" is removed wherever it appears and "_format=json" appended once.
 * out receives the canonical query, without '?'.  Returns 0, or 400 (or
 * 403 when an added parameter needs the patient and there is none) with the
 * reason in err; 500 when memory runs out.  On failure out is unchanged.
 */
int bb_query_rewrite(const bb_resource_type_t *rt, unsigned interaction,
    const char *patient, const char *query, size_t qlen, const char *form,
    size_t flen, bb_buf_t *out, char *err, size_t errlen);

/*
 * Whether a client's search parameter with this base name (the name up to
 * its first ':' or '.', any case) passes for type rt: widening parameters
 * only where the type allows them, and with search set (a search under
 * the type's search controls) neither a blocked nor an added name, nor one
 * outside the allowlist but for the result parameters (_count, _sort, ...).
 * The query rewriting and the CapabilityStatement filter both ask this.
 */
int bb_param_passes(const bb_resource_type_t *rt, int search,
    const char *base, size_t len);

/*
 * The path sent upstream, below the upstream base: "Patient/<patient>" for
 * an overridden id.  Returns 0, 404 for a mismatching id when the type says
 * not_found, or 403 when the type needs a patient and there is none (or
 * the claim is not a FHIR id); 500 when memory runs out.
 */
int bb_path_rewrite(const bb_resource_type_t *rt, const bb_fhir_request_t *req,
    const char *patient, bb_buf_t *out, char *err, size_t errlen);


#endif /* BB_REQUEST_H */
