/*
 * The token cache: hits return the stored claims, a full cache evicts the
 * least recently used entry, an expired entry is never returned, a flush
 * empties it, and a capacity of 0 turns caching off.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "bb_cache.h"


static bb_cache_t  *cache;


static void
teardown(void)
{
    bb_cache_destroy(cache);
    cache = NULL;
}


/* claims that expire at exp; iat tells one entry from another */

static bb_jwt_t *
claims(int64_t iat, int64_t exp)
{
    bb_jwt_t  *jwt;

    jwt = calloc(1, sizeof(bb_jwt_t));
    ck_assert_ptr_nonnull(jwt);

    jwt->iat = iat;
    jwt->exp = exp;

    return jwt;
}


static void
key_of(int n, unsigned char key[BB_CACHE_KEY_LEN])
{
    char  token[32];

    snprintf(token, sizeof(token), "token-%d", n);
    bb_cache_key(token, strlen(token), key);
}


static int
put(int n, int64_t exp)
{
    unsigned char  key[BB_CACHE_KEY_LEN];

    key_of(n, key);

    return bb_cache_put(cache, key, claims(n, exp));
}


/* the iat of the entry for token n, -1 when it is not cached */

static int64_t
get(int n, int64_t now)
{
    unsigned char    key[BB_CACHE_KEY_LEN];
    const bb_jwt_t  *jwt;

    key_of(n, key);

    jwt = bb_cache_get(cache, key, now, 30);

    return jwt ? jwt->iat : -1;
}


START_TEST(test_key)
{
    size_t         i;
    unsigned char  key[BB_CACHE_KEY_LEN], other[BB_CACHE_KEY_LEN];
    char           hex[2 * BB_CACHE_KEY_LEN + 1];

    bb_cache_key("abc", 3, key);

    for (i = 0; i < BB_CACHE_KEY_LEN; i++) {
        snprintf(hex + 2 * i, 3, "%02x", key[i]);
    }

    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223"
                          "b00361a396177a9cb410ff61f20015ad");

    bb_cache_key("abd", 3, other);
    ck_assert(memcmp(key, other, BB_CACHE_KEY_LEN) != 0);

    bb_cache_key("abcd", 3, other);
    ck_assert(memcmp(key, other, BB_CACHE_KEY_LEN) == 0);
}
END_TEST


START_TEST(test_put_get)
{
    unsigned char  key[BB_CACHE_KEY_LEN];

    cache = bb_cache_create(3);
    ck_assert_ptr_nonnull(cache);

    ck_assert_int_eq(get(1, 100), -1);

    ck_assert_int_eq(put(1, 1000), 0);
    ck_assert_int_eq(put(2, 1000), 0);
    ck_assert_uint_eq(bb_cache_count(cache), 2);

    ck_assert_int_eq(get(1, 100), 1);
    ck_assert_int_eq(get(2, 100), 2);
    ck_assert_int_eq(get(3, 100), -1);

    /* a second put of the same token replaces the claims */

    key_of(1, key);
    ck_assert_int_eq(bb_cache_put(cache, key, claims(11, 1000)), 0);

    ck_assert_uint_eq(bb_cache_count(cache), 2);
    ck_assert_int_eq(get(1, 100), 11);
    ck_assert_int_eq(get(2, 100), 2);
}
END_TEST


START_TEST(test_zero_key)
{
    unsigned char  zero[BB_CACHE_KEY_LEN];

    /* the key a failed digest leaves is never stored */

    cache = bb_cache_create(3);
    memset(zero, 0, sizeof(zero));

    ck_assert_int_eq(bb_cache_put(cache, zero, claims(1, 1000)), -1);
    ck_assert_uint_eq(bb_cache_count(cache), 0);
    ck_assert_ptr_null(bb_cache_get(cache, zero, 100, 30));

    zero[31] = 1;
    ck_assert_int_eq(bb_cache_put(cache, zero, claims(1, 1000)), 0);
    ck_assert_ptr_nonnull(bb_cache_get(cache, zero, 100, 30));
}
END_TEST


START_TEST(test_lru_eviction)
{
    cache = bb_cache_create(3);

    ck_assert_int_eq(put(1, 1000), 0);
    ck_assert_int_eq(put(2, 1000), 0);
    ck_assert_int_eq(put(3, 1000), 0);
    ck_assert_uint_eq(bb_cache_count(cache), 3);

    /* 1 is used again, so 2 is now the least recently used */

    ck_assert_int_eq(get(1, 100), 1);

    ck_assert_int_eq(put(4, 1000), 0);
    ck_assert_uint_eq(bb_cache_count(cache), 3);

    ck_assert_int_eq(get(2, 100), -1);
    ck_assert_int_eq(get(1, 100), 1);
    ck_assert_int_eq(get(3, 100), 3);
    ck_assert_int_eq(get(4, 100), 4);

    /* now 1 is the oldest use */

    ck_assert_int_eq(put(5, 1000), 0);
    ck_assert_int_eq(get(1, 100), -1);
    ck_assert_int_eq(get(3, 100), 3);
    ck_assert_int_eq(get(4, 100), 4);
    ck_assert_int_eq(get(5, 100), 5);

    /* a replacement counts as a use */

    ck_assert_int_eq(put(3, 1000), 0);
    ck_assert_int_eq(put(6, 1000), 0);
    ck_assert_int_eq(get(4, 100), -1);
    ck_assert_int_eq(get(3, 100), 3);
}
END_TEST


START_TEST(test_many)
{
    int  i;

    cache = bb_cache_create(100);

    for (i = 0; i < 1000; i++) {
        ck_assert_int_eq(put(i, 1000), 0);
        ck_assert_uint_le(bb_cache_count(cache), 100);
    }

    ck_assert_uint_eq(bb_cache_count(cache), 100);

    for (i = 0; i < 900; i++) {
        ck_assert_int_eq(get(i, 100), -1);
    }

    for (i = 900; i < 1000; i++) {
        ck_assert_int_eq(get(i, 100), i);
    }
}
END_TEST


START_TEST(test_expired)
{
    cache = bb_cache_create(3);

    ck_assert_int_eq(put(1, 1000), 0);
    ck_assert_int_eq(put(2, 5000), 0);

    /* within the leeway of 30 s the claims are still live */

    ck_assert_int_eq(get(1, 1030), 1);
    ck_assert_uint_eq(bb_cache_count(cache), 2);

    ck_assert_int_eq(get(1, 1031), -1);
    ck_assert_uint_eq(bb_cache_count(cache), 1);

    /* removed, not merely hidden: an earlier clock does not bring it back */

    ck_assert_int_eq(get(1, 100), -1);
    ck_assert_int_eq(get(2, 1031), 2);
}
END_TEST


START_TEST(test_flush)
{
    cache = bb_cache_create(3);

    ck_assert_int_eq(put(1, 1000), 0);
    ck_assert_int_eq(put(2, 1000), 0);
    ck_assert_int_eq(get(1, 100), 1);

    bb_cache_flush(cache);

    ck_assert_uint_eq(bb_cache_count(cache), 0);
    ck_assert_int_eq(get(1, 100), -1);
    ck_assert_int_eq(get(2, 100), -1);

    /* and it works as new afterwards */

    ck_assert_int_eq(put(2, 1000), 0);
    ck_assert_int_eq(put(3, 1000), 0);
    ck_assert_int_eq(put(4, 1000), 0);
    ck_assert_int_eq(put(5, 1000), 0);
    ck_assert_uint_eq(bb_cache_count(cache), 3);
    ck_assert_int_eq(get(2, 100), -1);
    ck_assert_int_eq(get(5, 100), 5);
}
END_TEST


START_TEST(test_capacity_zero)
{
    cache = bb_cache_create(0);
    ck_assert_ptr_nonnull(cache);

    ck_assert_int_eq(put(1, 1000), 0);
    ck_assert_uint_eq(bb_cache_count(cache), 0);
    ck_assert_int_eq(get(1, 100), -1);

    bb_cache_flush(cache);
    ck_assert_uint_eq(bb_cache_count(cache), 0);
}
END_TEST


START_TEST(test_capacity_one)
{
    cache = bb_cache_create(1);

    ck_assert_int_eq(put(1, 1000), 0);
    ck_assert_int_eq(get(1, 100), 1);

    ck_assert_int_eq(put(2, 1000), 0);
    ck_assert_uint_eq(bb_cache_count(cache), 1);
    ck_assert_int_eq(get(1, 100), -1);
    ck_assert_int_eq(get(2, 100), 2);
}
END_TEST


static Suite *
cache_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("cache");
    tc = tcase_create("cache");
    tcase_add_checked_fixture(tc, NULL, teardown);

    tcase_add_test(tc, test_key);
    tcase_add_test(tc, test_put_get);
    tcase_add_test(tc, test_zero_key);
    tcase_add_test(tc, test_lru_eviction);
    tcase_add_test(tc, test_many);
    tcase_add_test(tc, test_expired);
    tcase_add_test(tc, test_flush);
    tcase_add_test(tc, test_capacity_zero);
    tcase_add_test(tc, test_capacity_one);

    suite_add_tcase(s, tc);

    return s;
}


int
main(void)
{
    int       failed;
    SRunner  *sr;

    sr = srunner_create(cache_suite());

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
