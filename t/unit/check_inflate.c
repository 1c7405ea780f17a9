/*
 * Inflating compressed upstream bodies: gzip and zlib streams come back
 * whole, a body that would inflate past the bound or a damaged stream is
 * refused.  The compressed inputs are made here with zlib's deflate.
 */

#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <zlib.h>

#include "bb_inflate.h"


/* windowBits 31: gzip wrapper, 15: zlib wrapper */

static size_t
compress_with(int window, const char *in, size_t len, unsigned char *out,
    size_t cap)
{
    z_stream  z;

    memset(&z, 0, sizeof(z));
    ck_assert_int_eq(deflateInit2(&z, 9, Z_DEFLATED, window, 8,
                                  Z_DEFAULT_STRATEGY), Z_OK);

    z.next_in = (Bytef *) in;
    z.avail_in = len;
    z.next_out = out;
    z.avail_out = cap;

    ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
    deflateEnd(&z);

    return cap - z.avail_out;
}


static const char  body[] =
    "{\"resourceType\":\"Bundle\",\"link\":[{\"relation\":\"self\","
    "\"url\":\"http://fhir.internal/fhir/Patient?_id=p1\"}]}";


START_TEST(test_gzip)
{
    size_t          n;
    char            err[128];
    bb_buf_t        out = { 0 };
    unsigned char   z[512];

    n = compress_with(31, body, sizeof(body) - 1, z, sizeof(z));

    ck_assert_int_eq(bb_inflate((char *) z, n, 1 << 20, &out, err,
                                sizeof(err)), 0);
    ck_assert_uint_eq(out.len, sizeof(body) - 1);
    ck_assert_str_eq(out.data, body);

    bb_buf_free(&out);
}
END_TEST


START_TEST(test_zlib)
{
    size_t          n;
    char            err[128];
    bb_buf_t        out = { 0 };
    unsigned char   z[512];

    n = compress_with(15, body, sizeof(body) - 1, z, sizeof(z));

    ck_assert_int_eq(bb_inflate((char *) z, n, 1 << 20, &out, err,
                                sizeof(err)), 0);
    ck_assert_str_eq(out.data, body);

    bb_buf_free(&out);
}
END_TEST


START_TEST(test_bound)
{
    size_t          n;
    char            err[128];
    char           *big;
    bb_buf_t        out = { 0 };
    unsigned char  *z;

    /* 1 MiB of one byte deflates to about a kilobyte */

    big = malloc(1 << 20);
    z = malloc(1 << 16);
    memset(big, 'a', 1 << 20);

    n = compress_with(31, big, 1 << 20, z, 1 << 16);
    ck_assert_uint_lt(n, 1 << 12);

    ck_assert_int_eq(bb_inflate((char *) z, n, 65536, &out, err,
                                sizeof(err)), -1);
    ck_assert_str_eq(err, "inflated body exceeds 65536 bytes");
    bb_buf_free(&out);

    /* control: the same stream within a bound that holds it */

    ck_assert_int_eq(bb_inflate((char *) z, n, 1 << 20, &out, err,
                                sizeof(err)), 0);
    ck_assert_uint_eq(out.len, 1 << 20);
    bb_buf_free(&out);

    free(big);
    free(z);
}
END_TEST


START_TEST(test_damaged)
{
    size_t          n;
    char            err[128];
    bb_buf_t        out = { 0 };
    unsigned char   z[512];

    n = compress_with(31, body, sizeof(body) - 1, z, sizeof(z));

    /* truncated: the end of the stream never comes */

    ck_assert_int_eq(bb_inflate((char *) z, n - 8, 1 << 20, &out, err,
                                sizeof(err)), -1);
    ck_assert_str_eq(err, "inflate() failed: truncated stream");
    bb_buf_free(&out);

    /* not compressed at all */

    ck_assert_int_eq(bb_inflate(body, sizeof(body) - 1, 1 << 20, &out, err,
                                sizeof(err)), -1);
    ck_assert_str_eq(err, "inflate() failed: incorrect header check");
    bb_buf_free(&out);

    /* control: the whole stream */

    ck_assert_int_eq(bb_inflate((char *) z, n, 1 << 20, &out, err,
                                sizeof(err)), 0);
    bb_buf_free(&out);
}
END_TEST


int
main(void)
{
    int       failed;
    Suite    *s;
    TCase    *tc;
    SRunner  *sr;

    s = suite_create("inflate");
    tc = tcase_create("inflate");

    tcase_add_test(tc, test_gzip);
    tcase_add_test(tc, test_zlib);
    tcase_add_test(tc, test_bound);
    tcase_add_test(tc, test_damaged);
    suite_add_tcase(s, tc);

    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
