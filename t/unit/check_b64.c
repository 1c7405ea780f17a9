/*
 * base64url without padding: the RFC 4648 vectors in the url alphabet, and
 * every refusal next to the same input without its defect.
 */

#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "bb_b64.h"


typedef struct {
    const char  *raw;
    size_t       rawlen;
    const char  *enc;
} vector_t;


static const vector_t  vectors[] = {
    { "", 0, "" },
    { "f", 1, "Zg" },
    { "fo", 2, "Zm8" },
    { "foo", 3, "Zm9v" },
    { "foob", 4, "Zm9vYg" },
    { "fooba", 5, "Zm9vYmE" },
    { "foobar", 6, "Zm9vYmFy" },

    /* the two characters where the url alphabet differs */
    { "\xfb\xff", 2, "-_8" },
    { "\xfb\xff\xbf", 3, "-_-_" },
    { "\x00", 1, "AA" },
    { "\x00\x00\x00", 3, "AAAA" },
};


static int
decode(const char *in, bb_buf_t *out)
{
    return bb_b64url_decode(in, strlen(in), out);
}


static void
accepts(const char *in, const char *raw, size_t rawlen)
{
    bb_buf_t  out = { 0 };

    ck_assert_msg(decode(in, &out) == 0, "\"%s\" refused", in);
    ck_assert_uint_eq(out.len, rawlen);
    ck_assert_int_eq(memcmp(out.data, raw, rawlen), 0);

    bb_buf_free(&out);
}


static void
refuses(const char *in, size_t len)
{
    bb_buf_t  out = { 0 };

    ck_assert_msg(bb_b64url_decode(in, len, &out) == -1, "\"%s\" accepted",
                  in);
    ck_assert_uint_eq(out.len, 0);

    bb_buf_free(&out);
}


START_TEST(test_vectors_decode)
{
    size_t  i;

    for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        accepts(vectors[i].enc, vectors[i].raw, vectors[i].rawlen);
    }
}
END_TEST


START_TEST(test_vectors_encode)
{
    size_t    i;
    bb_buf_t  out;

    for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        memset(&out, 0, sizeof(bb_buf_t));

        ck_assert_int_eq(bb_b64url_encode((const unsigned char *)
                                          vectors[i].raw,
                                          vectors[i].rawlen, &out), 0);
        ck_assert_str_eq(bb_buf_cstr(&out), vectors[i].enc);

        bb_buf_free(&out);
    }
}
END_TEST


START_TEST(test_refuse_padding)
{
    accepts("Zg", "f", 1);
    refuses("Zg==", 4);

    accepts("Zm8", "fo", 2);
    refuses("Zm8=", 4);

    accepts("Zm9v", "foo", 3);
    refuses("Zm9v====", 8);
}
END_TEST


START_TEST(test_refuse_standard_alphabet)
{
    accepts("-_8", "\xfb\xff", 2);
    refuses("+/8", 3);
    refuses("-/8", 3);
    refuses("+_8", 3);
}
END_TEST


START_TEST(test_refuse_whitespace)
{
    accepts("Zm9vYmFy", "foobar", 6);
    refuses("Zm9v YmFy", 9);
    refuses("Zm9vYmFy\n", 9);
    refuses(" Zm9vYmFy", 9);
    refuses("Zm9v\tYmFy", 9);
    refuses("Zm9vYmFy\r", 9);
}
END_TEST


START_TEST(test_refuse_nul)
{
    accepts("Zm9v", "foo", 3);
    refuses("Zm\0v", 4);
}
END_TEST


START_TEST(test_refuse_length_mod_4_is_1)
{
    accepts("Zm9vYg", "foob", 4);
    refuses("Zm9vY", 5);
    refuses("Z", 1);
}
END_TEST


START_TEST(test_refuse_noncanonical_bits)
{
    /* 'g' leaves the four unused bits zero, 'h' does not */

    accepts("Zg", "f", 1);
    refuses("Zh", 2);
    refuses("Zv", 2);

    /* '8' leaves the two unused bits zero, '9' does not */

    accepts("Zm8", "fo", 2);
    refuses("Zm9", 3);
}
END_TEST


START_TEST(test_refuse_leaves_buffer)
{
    bb_buf_t  out = { 0 };

    ck_assert_int_eq(bb_buf_append_str(&out, "x"), 0);

    ck_assert_int_eq(decode("Zm9v", &out), 0);
    ck_assert_str_eq(bb_buf_cstr(&out), "xfoo");

    ck_assert_int_eq(decode("Zm9v=", &out), -1);
    ck_assert_str_eq(bb_buf_cstr(&out), "xfoo");

    bb_buf_free(&out);
}
END_TEST


START_TEST(test_roundtrip_long)
{
    size_t          i, n;
    bb_buf_t        enc, dec;
    unsigned char   raw[2000];

    srand(7);

    for (i = 0; i < sizeof(raw); i++) {
        raw[i] = (unsigned char) rand();
    }

    /* lengths across the internal chunk boundaries and every remainder */

    for (n = 380; n < sizeof(raw); n += 97) {
        memset(&enc, 0, sizeof(bb_buf_t));
        memset(&dec, 0, sizeof(bb_buf_t));

        ck_assert_int_eq(bb_b64url_encode(raw, n, &enc), 0);
        ck_assert_uint_eq(enc.len, (n * 4 + 2) / 3);
        ck_assert_ptr_null(memchr(enc.data, '=', enc.len));
        ck_assert_ptr_null(memchr(enc.data, '+', enc.len));
        ck_assert_ptr_null(memchr(enc.data, '/', enc.len));

        ck_assert_int_eq(bb_b64url_decode(enc.data, enc.len, &dec), 0);
        ck_assert_uint_eq(dec.len, n);
        ck_assert_int_eq(memcmp(dec.data, raw, n), 0);

        bb_buf_free(&enc);
        bb_buf_free(&dec);
    }
}
END_TEST


static Suite *
b64_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("b64");
    tc = tcase_create("core");

    tcase_add_test(tc, test_vectors_decode);
    tcase_add_test(tc, test_vectors_encode);
    tcase_add_test(tc, test_refuse_padding);
    tcase_add_test(tc, test_refuse_standard_alphabet);
    tcase_add_test(tc, test_refuse_whitespace);
    tcase_add_test(tc, test_refuse_nul);
    tcase_add_test(tc, test_refuse_length_mod_4_is_1);
    tcase_add_test(tc, test_refuse_noncanonical_bits);
    tcase_add_test(tc, test_refuse_leaves_buffer);
    tcase_add_test(tc, test_roundtrip_long);
    suite_add_tcase(s, tc);

    return s;
}


int
main(void)
{
    int       failed;
    SRunner  *sr;

    sr = srunner_create(b64_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
