/* test_util.c - slices, bounded buffers, time formats, encodings. */
#include <errno.h>

#include "tap.h"
#include "util/util.h"

static void t_buf_limit(void)
{
    struct gz_buf b;
    gz_buf_init(&b, 8);
    TAP_OK(gz_buf_append_cstr(&b, "12345678") == 0, "fills to the max");
    TAP_OK(gz_buf_append_cstr(&b, "9") == -E2BIG, "refuses past the max");
    TAP_OK(b.len == 8 && b.ptr[8] == '\0', "contents intact and terminated");
    gz_buf_reset(&b);
    TAP_OK(gz_buf_appendf(&b, "%d-%s", 42, "x") == 0 && strcmp(b.ptr, "42-x") == 0, "appendf");
    gz_buf_free(&b);
    gz_buf_init(&b, 100);
    gz_buf_append_xml(&b, GZ_SLICE_LIT("a<b>&\"c'"));
    TAP_OK(strcmp(b.ptr, "a&lt;b&gt;&amp;&quot;c&apos;") == 0, "xml escape: %s", b.ptr);
    gz_buf_free(&b);
}

static void t_time(void)
{
    char h[30], iso[25];
    int64_t t = 0;
    gz_time_http(784111777, h);
    TAP_OK(strcmp(h, "Sun, 06 Nov 1994 08:49:37 GMT") == 0, "http date %s", h);
    TAP_OK(gz_time_parse_http(gz_slice_cstr(h), &t) == 0 && t == 784111777, "parse imf");
    TAP_OK(gz_time_parse_http(GZ_SLICE_LIT("Sunday, 06-Nov-94 08:49:37 GMT"), &t) == 0 &&
               t == 784111777, "parse rfc850");
    TAP_OK(gz_time_parse_http(GZ_SLICE_LIT("Sun Nov  6 08:49:37 1994"), &t) == 0 &&
               t == 784111777, "parse asctime");
    TAP_OK(gz_time_parse_http(GZ_SLICE_LIT("yesterday"), &t) == -EINVAL, "reject garbage");
    gz_time_iso8601(784111777123LL, iso);
    TAP_OK(strcmp(iso, "1994-11-06T08:49:37.123Z") == 0, "iso8601 %s", iso);
    TAP_OK(gz_time_parse_amz(GZ_SLICE_LIT("20130524T000000Z"), &t) == 0 && t == 1369353600,
           "amz date");
    TAP_OK(gz_time_parse_amz(GZ_SLICE_LIT("20131324T000000Z"), &t) == -EINVAL, "bad month");
}

static void t_encodings(void)
{
    char out[64];
    uint8_t bin[64];
    gz_base64_encode(out, (const uint8_t *)"hello", 5);
    TAP_OK(strcmp(out, "aGVsbG8=") == 0, "base64 %s", out);
    TAP_OK(gz_base64_decode(bin, sizeof(bin), GZ_SLICE_LIT("aGVsbG8=")) == 5 &&
               memcmp(bin, "hello", 5) == 0, "base64 decode");
    TAP_OK(gz_base64_decode(bin, sizeof(bin), GZ_SLICE_LIT("aGV=bG8=")) < 0, "base64 bad pad");
    TAP_OK(gz_base64_decode(bin, 2, GZ_SLICE_LIT("aGVsbG8=")) < 0, "base64 overflow");
    gz_hex_encode(out, (const uint8_t *)"\x01\xab", 2);
    TAP_OK(strcmp(out, "01ab") == 0, "hex");
    TAP_OK(gz_hex_decode(bin, 2, GZ_SLICE_LIT("01AB")) == 2 && bin[1] == 0xab, "hex decode");
    TAP_OK(gz_hex_decode(bin, 2, GZ_SLICE_LIT("0g")) < 0, "hex bad");
}

static void t_utf8(void)
{
    TAP_OK(gz_utf8_valid(GZ_SLICE_LIT("plain/key.txt")), "ascii");
    TAP_OK(gz_utf8_valid(gz_slice_cstr("\xe5\x9b\xbd\xe8\xb5\x84\xe4\xba\x91")), "cjk");
    TAP_OK(!gz_utf8_valid(gz_slice("a\0b", 3)), "NUL");
    TAP_OK(!gz_utf8_valid(GZ_SLICE_LIT("\xc0\xaf")), "overlong");
    TAP_OK(!gz_utf8_valid(GZ_SLICE_LIT("\xed\xa0\x80")), "surrogate");
    TAP_OK(!gz_utf8_valid(GZ_SLICE_LIT("\xe5\x9b")), "truncated");
    TAP_OK(gz_utf8_valid(GZ_SLICE_LIT("\xf0\x9f\x98\x80")), "emoji");
}

static void t_numbers(void)
{
    uint64_t v;
    TAP_OK(gz_slice_to_u64(GZ_SLICE_LIT("18446744073709551615"), &v) == 0 && v == UINT64_MAX,
           "u64 max");
    TAP_OK(gz_slice_to_u64(GZ_SLICE_LIT("18446744073709551616"), &v) == -ERANGE, "overflow");
    TAP_OK(gz_slice_to_u64(GZ_SLICE_LIT("-1"), &v) == -EINVAL, "negative");
    TAP_OK(gz_slice_to_u64(GZ_SLICE_LIT(""), &v) == -EINVAL, "empty");
}

int main(void)
{
    TAP_RUN(t_buf_limit);
    TAP_RUN(t_time);
    TAP_RUN(t_encodings);
    TAP_RUN(t_utf8);
    TAP_RUN(t_numbers);
    return tap_done();
}
