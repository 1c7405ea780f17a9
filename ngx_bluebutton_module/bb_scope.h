/*
 * SMART App Launch scopes, v1 (patient/T.read, patient/T.write, patient/T.*)
 * and v2 (patient/T.cruds and any in-order subset of those letters).
 */

#ifndef BB_SCOPE_H
#define BB_SCOPE_H

#include <stddef.h>


#define BB_SCOPE_C  0x01
#define BB_SCOPE_R  0x02
#define BB_SCOPE_U  0x04
#define BB_SCOPE_D  0x08
#define BB_SCOPE_S  0x10


/*
 * The permissions the space-separated scope string grants on resource type
 * "type" in the patient compartment.  Scopes it cannot read (user/, system/,
 * v2 scopes with a query restriction, malformed ones) grant nothing.
 */
unsigned bb_scope_grants(const char *scope, size_t len, const char *type,
    size_t tlen);

/* The permission one interaction (BB_READ ... BB_DELETE) needs. */
unsigned bb_scope_needed(unsigned interaction);


#endif /* BB_SCOPE_H */
