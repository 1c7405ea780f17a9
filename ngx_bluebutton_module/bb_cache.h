/*
 * A bounded cache of verified tokens, one per worker, keyed by the SHA-256
 * of the compact token so that the token itself is never kept.  Entries are
 * evicted least recently used first; an entry past its exp is never
 * returned.  Revocation is checked by the caller on every hit, and the cache
 * is flushed whenever a new policy (keys) takes effect.
 */

#ifndef BB_CACHE_H
#define BB_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "bb_jwt.h"


#define BB_CACHE_KEY_LEN  32


typedef struct bb_cache_s  bb_cache_t;


bb_cache_t *bb_cache_create(size_t max_entries);
void bb_cache_destroy(bb_cache_t *cache);

void bb_cache_key(const char *token, size_t len,
    unsigned char key[BB_CACHE_KEY_LEN]);

/* The cached claims, or NULL (an expired entry is removed on the way). */
const bb_jwt_t *bb_cache_get(bb_cache_t *cache,
    const unsigned char key[BB_CACHE_KEY_LEN], int64_t now, int64_t leeway);

/* Takes ownership of jwt, also on failure (-1). */
int bb_cache_put(bb_cache_t *cache, const unsigned char key[BB_CACHE_KEY_LEN],
    bb_jwt_t *jwt);

void bb_cache_flush(bb_cache_t *cache);
size_t bb_cache_count(const bb_cache_t *cache);


#endif /* BB_CACHE_H */
