/*
 * The token cache: a chained hash table over a fixed number of buckets (the
 * next power of two at or above the capacity, so chains stay short) and a
 * doubly linked list in recency order, most recent first.  A hit moves the
 * entry to the front; a put into a full cache reuses the entry at the back.
 *
 * The key is the SHA-256 of the token, so its low bits serve as the bucket
 * index directly.  Only verified tokens are ever stored, so a client cannot
 * fill one bucket with entries of its choosing.
 */

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "bb_cache.h"


typedef struct bb_cache_entry_s  bb_cache_entry_t;

struct bb_cache_entry_s {
    unsigned char        key[BB_CACHE_KEY_LEN];
    bb_jwt_t            *jwt;
    bb_cache_entry_t    *next;          /* in the bucket's chain */
    bb_cache_entry_t    *newer;
    bb_cache_entry_t    *older;
};


struct bb_cache_s {
    bb_cache_entry_t   **buckets;
    size_t               mask;          /* number of buckets minus one */
    size_t               max_entries;
    size_t               count;
    bb_cache_entry_t    *newest;
    bb_cache_entry_t    *oldest;
};


static size_t bb_cache_bucket(const bb_cache_t *cache,
    const unsigned char *key);
static bb_cache_entry_t **bb_cache_find(bb_cache_t *cache,
    const unsigned char *key);
static void bb_cache_unlink(bb_cache_t *cache, bb_cache_entry_t *e);
static void bb_cache_push(bb_cache_t *cache, bb_cache_entry_t *e);
static void bb_cache_remove(bb_cache_t *cache, bb_cache_entry_t **slot);
static int bb_cache_key_valid(const unsigned char *key);


bb_cache_t *
bb_cache_create(size_t max_entries)
{
    size_t       n;
    bb_cache_t  *cache;

    cache = calloc(1, sizeof(bb_cache_t));
    if (cache == NULL) {
        return NULL;
    }

    cache->max_entries = max_entries;

    if (max_entries == 0) {
        return cache;
    }

    if (max_entries > SIZE_MAX / 4 / sizeof(bb_cache_entry_t *)) {
        free(cache);
        return NULL;
    }

    n = 1;

    while (n < max_entries) {
        n <<= 1;
    }

    cache->buckets = calloc(n, sizeof(bb_cache_entry_t *));
    if (cache->buckets == NULL) {
        free(cache);
        return NULL;
    }

    cache->mask = n - 1;

    return cache;
}


void
bb_cache_destroy(bb_cache_t *cache)
{
    if (cache == NULL) {
        return;
    }

    bb_cache_flush(cache);

    free(cache->buckets);
    free(cache);
}


/*
 * A digest failure leaves the all-zero key, which the cache never stores
 * nor finds: such a token is then verified every time, never confused.
 */

void
bb_cache_key(const char *token, size_t len,
    unsigned char key[BB_CACHE_KEY_LEN])
{
    unsigned int  n;

    n = 0;

    if (EVP_Digest(token, len, key, &n, EVP_sha256(), NULL) != 1
        || n != BB_CACHE_KEY_LEN)
    {
        memset(key, 0, BB_CACHE_KEY_LEN);
    }
}


const bb_jwt_t *
bb_cache_get(bb_cache_t *cache, const unsigned char key[BB_CACHE_KEY_LEN],
    int64_t now, int64_t leeway)
{
    bb_cache_entry_t   *e;
    bb_cache_entry_t  **slot;

    if (cache->max_entries == 0 || !bb_cache_key_valid(key)) {
        return NULL;
    }

    slot = bb_cache_find(cache, key);
    if (slot == NULL) {
        return NULL;
    }

    e = *slot;

    if (!bb_jwt_live(e->jwt, now, leeway)) {
        bb_cache_remove(cache, slot);
        return NULL;
    }

    bb_cache_unlink(cache, e);
    bb_cache_push(cache, e);

    return e->jwt;
}


int
bb_cache_put(bb_cache_t *cache, const unsigned char key[BB_CACHE_KEY_LEN],
    bb_jwt_t *jwt)
{
    size_t               b;
    bb_cache_entry_t    *e;
    bb_cache_entry_t   **slot;

    if (cache->max_entries == 0) {
        bb_jwt_free(jwt);
        return 0;
    }

    if (!bb_cache_key_valid(key)) {
        bb_jwt_free(jwt);
        return -1;
    }

    slot = bb_cache_find(cache, key);

    if (slot != NULL) {
        e = *slot;

        bb_jwt_free(e->jwt);
        e->jwt = jwt;

        bb_cache_unlink(cache, e);
        bb_cache_push(cache, e);

        return 0;
    }

    if (cache->count == cache->max_entries) {

        /* the least recently used entry makes room, and its memory is reused */

        e = cache->oldest;

        for (slot = &cache->buckets[bb_cache_bucket(cache, e->key)];
             *slot != e;
             slot = &(*slot)->next)
        {
            /* void */
        }

        *slot = e->next;
        bb_cache_unlink(cache, e);
        bb_jwt_free(e->jwt);
        cache->count--;

    } else {
        e = malloc(sizeof(bb_cache_entry_t));
        if (e == NULL) {
            bb_jwt_free(jwt);
            return -1;
        }
    }

    memcpy(e->key, key, BB_CACHE_KEY_LEN);
    e->jwt = jwt;

    b = bb_cache_bucket(cache, key);
    e->next = cache->buckets[b];
    cache->buckets[b] = e;

    bb_cache_push(cache, e);
    cache->count++;

    return 0;
}


void
bb_cache_flush(bb_cache_t *cache)
{
    bb_cache_entry_t  *e, *older;

    for (e = cache->newest; e != NULL; e = older) {
        older = e->older;

        bb_jwt_free(e->jwt);
        free(e);
    }

    if (cache->buckets != NULL) {
        memset(cache->buckets, 0,
               (cache->mask + 1) * sizeof(bb_cache_entry_t *));
    }

    cache->newest = NULL;
    cache->oldest = NULL;
    cache->count = 0;
}


size_t
bb_cache_count(const bb_cache_t *cache)
{
    return cache->count;
}


static size_t
bb_cache_bucket(const bb_cache_t *cache, const unsigned char *key)
{
    size_t  h;

    memcpy(&h, key, sizeof(size_t));

    return h & cache->mask;
}


/* the link that points at the entry holding key, or NULL */

static bb_cache_entry_t **
bb_cache_find(bb_cache_t *cache, const unsigned char *key)
{
    bb_cache_entry_t  **slot;

    for (slot = &cache->buckets[bb_cache_bucket(cache, key)];
         *slot != NULL;
         slot = &(*slot)->next)
    {
        if (memcmp((*slot)->key, key, BB_CACHE_KEY_LEN) == 0) {
            return slot;
        }
    }

    return NULL;
}


static void
bb_cache_unlink(bb_cache_t *cache, bb_cache_entry_t *e)
{
    if (e->newer != NULL) {
        e->newer->older = e->older;

    } else {
        cache->newest = e->older;
    }

    if (e->older != NULL) {
        e->older->newer = e->newer;

    } else {
        cache->oldest = e->newer;
    }

    e->newer = NULL;
    e->older = NULL;
}


static void
bb_cache_push(bb_cache_t *cache, bb_cache_entry_t *e)
{
    e->newer = NULL;
    e->older = cache->newest;

    if (cache->newest != NULL) {
        cache->newest->newer = e;

    } else {
        cache->oldest = e;
    }

    cache->newest = e;
}


static void
bb_cache_remove(bb_cache_t *cache, bb_cache_entry_t **slot)
{
    bb_cache_entry_t  *e;

    e = *slot;
    *slot = e->next;

    bb_cache_unlink(cache, e);
    bb_jwt_free(e->jwt);
    free(e);

    cache->count--;
}


static int
bb_cache_key_valid(const unsigned char *key)
{
    size_t  i;

    for (i = 0; i < BB_CACHE_KEY_LEN; i++) {
        if (key[i] != 0) {
            return 1;
        }
    }

    return 0;
}
