/*
 * test_bench.c - the pure helpers of `gzy bench` (src/bench/stats.c): the latency histogram
 * and its percentiles, error tables, byte/duration/size parsing and size distributions, and
 * operation mixes and their weights; aws-chunked framing (src/bench/chunked.c) against the
 * signed example of the S3 documentation and an unsigned body with a trailer.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/bench/bench.h"
#include "../../src/bench/bench_int.h"
#include "../../src/s3/auth.h"
#include "../../src/util/hash.h"
#include "../../src/util/util.h"
#include "tap.h"

static bool near(double got, double want, double rel)
{
    return fabs(got - want) <= rel * want;
}

static void t_hist_index(void)
{
    bool mono = true, inv = true;
    size_t prev = 0;
    for (uint64_t v = 0; v < 5000000; v += v < 1000 ? 1 : v / 97) {
        size_t i = bench_hist_index(v);
        if (i < prev)
            mono = false;
        prev = i;
        uint64_t lo = bench_hist_lower(i), hi = bench_hist_lower(i + 1);
        if (!(lo <= v && v < hi))
            inv = false;
    }
    TAP_OK(mono, "bucket index is monotonic");
    TAP_OK(inv, "every value lies within its bucket's bounds");
    TAP_OK(bench_hist_index(UINT64_MAX) < BENCH_HIST_BUCKETS, "the largest value has a bucket");
    uint64_t v = 123456789;
    size_t i = bench_hist_index(v);
    double width = (double)(bench_hist_lower(i + 1) - bench_hist_lower(i));
    TAP_OK(width / (double)v < 0.016, "relative bucket width under 1.6%% (%.4f)", width / v);
}

static void t_hist_quantiles(void)
{
    struct bench_hist *h = gz_malloc(sizeof(*h)), *h2 = gz_malloc(sizeof(*h2));
    bench_hist_init(h);
    TAP_OK(bench_hist_quantile(h, 0.5) == 0, "empty histogram: 0");
    /* 1..10000 microseconds, in ns */
    for (uint64_t k = 1; k <= 10000; k++)
        bench_hist_record(h, k * 1000);
    TAP_OK(h->count == 10000 && h->min == 1000 && h->max == 10000000, "count, min, max");
    double p50 = (double)bench_hist_quantile(h, 0.5), p90 = (double)bench_hist_quantile(h, 0.9);
    double p99 = (double)bench_hist_quantile(h, 0.99);
    double p999 = (double)bench_hist_quantile(h, 0.999);
    TAP_OK(near(p50, 5e6, 0.02), "p50 %.0f ~ 5 ms", p50);
    TAP_OK(near(p90, 9e6, 0.02), "p90 %.0f ~ 9 ms", p90);
    TAP_OK(near(p99, 9.9e6, 0.02), "p99 %.0f ~ 9.9 ms", p99);
    TAP_OK(near(p999, 9.99e6, 0.02), "p999 %.0f ~ 9.99 ms", p999);
    TAP_OK(bench_hist_quantile(h, 1.0) == 10000000, "p100 is the max");
    TAP_OK(bench_hist_quantile(h, 0.0) == 1000 || near((double)bench_hist_quantile(h, 0.0),
                                                        1000, 0.02), "p0 is about the min");
    /* merging two halves gives the same percentiles as one histogram */
    bench_hist_init(h2);
    struct bench_hist *a = gz_malloc(sizeof(*a));
    bench_hist_init(a);
    for (uint64_t k = 1; k <= 10000; k++)
        bench_hist_record(k % 2 ? h2 : a, k * 1000);
    bench_hist_merge(h2, a);
    TAP_OK(h2->count == 10000 && bench_hist_quantile(h2, 0.99) == (uint64_t)p99,
           "merge preserves percentiles");
    /* a single outlier shows in p999 only */
    bench_hist_init(a);
    for (int k = 0; k < 999; k++)
        bench_hist_record(a, 100000);
    bench_hist_record(a, 50000000);
    TAP_OK(near((double)bench_hist_quantile(a, 0.99), 1e5, 0.02), "p99 unaffected by outlier");
    TAP_OK(near((double)bench_hist_quantile(a, 0.9995), 5e7, 0.02), "outlier in the tail");
    gz_free(a);
    gz_free(h);
    gz_free(h2);
}

static void t_errs(void)
{
    struct bench_errs e;
    memset(&e, 0, sizeof(e));
    bench_errs_add(&e, "NoSuchKey", 1);
    bench_errs_add(&e, "HTTP 503", 2);
    bench_errs_add(&e, "NoSuchKey", 3);
    TAP_OK(strcmp(e.name[0], "NoSuchKey") == 0 && e.count[0] == 4, "counted by code");
    TAP_OK(strcmp(e.name[1], "HTTP 503") == 0 && e.count[1] == 2, "or by status");
    char name[32];
    for (int k = 0; k < 40; k++) {
        snprintf(name, sizeof(name), "E%d", k);
        bench_errs_add(&e, name, 1);
    }
    TAP_OK(bench_errs_total(&e) == 46 && e.other > 0, "overflow counted, total %llu",
           (unsigned long long)bench_errs_total(&e));
}

static void t_parse(void)
{
    uint64_t b;
    int64_t ms;
    TAP_OK(bench_bytes_parse("4KiB", &b) == 0 && b == 4096, "4KiB");
    TAP_OK(bench_bytes_parse("1.5MB", &b) == 0 && b == 1500000, "1.5MB");
    TAP_OK(bench_bytes_parse("100", &b) == 0 && b == 100, "100");
    TAP_OK(bench_bytes_parse("1gib", &b) == 0 && b == 1073741824ULL, "1gib");
    TAP_OK(bench_bytes_parse("4XB", &b) == -EINVAL, "unknown unit refused");
    TAP_OK(bench_bytes_parse("-1", &b) == -EINVAL, "negative refused");
    TAP_OK(bench_duration_parse("10s", &ms) == 0 && ms == 10000, "10s");
    TAP_OK(bench_duration_parse("500ms", &ms) == 0 && ms == 500, "500ms");
    TAP_OK(bench_duration_parse("2m", &ms) == 0 && ms == 120000, "2m");
    TAP_OK(bench_duration_parse("3", &ms) == 0 && ms == 3000, "bare seconds");
    TAP_OK(bench_duration_parse("3d", &ms) == -EINVAL, "bad unit refused");
    enum bench_op op;
    TAP_OK(bench_op_parse("multipart-put", &op) == 0 && op == BENCH_OP_MULTIPART, "op names");
    TAP_OK(bench_op_parse("frobnicate", &op) == -EINVAL, "unknown op refused");
}

static void t_sizes(void)
{
    struct bench_size s;
    uint64_t rng = 42, lo = UINT64_MAX, hi = 0;
    double sum = 0;
    TAP_OK(bench_size_parse("4KiB", &s) == 0 && s.kind == BENCH_SIZE_FIXED &&
               bench_size_pick(&s, &rng) == 4096 && bench_size_max(&s) == 4096, "fixed size");
    TAP_OK(bench_size_parse("1KiB-1MiB", &s) == 0 && s.kind == BENCH_SIZE_UNIFORM &&
               s.lo == 1024 && s.hi == 1048576, "uniform range");
    for (int k = 0; k < 100000; k++) {
        uint64_t v = bench_size_pick(&s, &rng);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        sum += (double)v;
    }
    TAP_OK(lo >= 1024 && hi <= 1048576, "uniform stays in range [%llu, %llu]",
           (unsigned long long)lo, (unsigned long long)hi);
    TAP_OK(near(sum / 100000, (1024 + 1048576) / 2.0, 0.02), "uniform mean %.0f", sum / 1e5);
    TAP_OK(bench_size_parse("2MiB-1MiB", &s) == -EINVAL, "reversed range refused");
    TAP_OK(bench_size_parse("abc", &s) == -EINVAL, "garbage refused");
    TAP_OK(bench_size_parse("lognormal:64KiB", &s) == 0 && s.kind == BENCH_SIZE_LOGNORMAL,
           "lognormal");
    uint64_t *v = gz_malloc(20001 * sizeof(*v));
    int below = 0;
    for (int k = 0; k < 20001; k++) {
        v[k] = bench_size_pick(&s, &rng);
        below += v[k] < 65536;
    }
    TAP_OK(below > 9500 && below < 10500, "lognormal median ~64KiB (%d of 20001 below)", below);
    bool inr = true;
    for (int k = 0; k < 20001; k++)
        inr = inr && v[k] >= 1 && v[k] <= bench_size_max(&s);
    TAP_OK(inr, "lognormal clamped to [1, 64x median]");
    gz_free(v);
}

static void t_mix(void)
{
    struct bench_mix m;
    uint64_t rng = 7;
    unsigned n[BENCH_OP_COUNT] = {0};
    TAP_OK(bench_mix_parse("get=70,put=20,delete=10", &m) == 0 && m.total == 100 &&
               m.weight[BENCH_OP_GET] == 70 && m.weight[BENCH_OP_PUT] == 20 &&
               m.weight[BENCH_OP_DELETE] == 10, "weights parsed");
    for (int k = 0; k < 100000; k++)
        n[bench_mix_pick(&m, &rng)]++;
    TAP_OK(near(n[BENCH_OP_GET], 70000, 0.02) && near(n[BENCH_OP_PUT], 20000, 0.04) &&
               near(n[BENCH_OP_DELETE], 10000, 0.05) && n[BENCH_OP_HEAD] == 0,
           "picks follow weights: get %u put %u delete %u", n[BENCH_OP_GET], n[BENCH_OP_PUT],
           n[BENCH_OP_DELETE]);
    TAP_OK(bench_mix_parse("get=1,multipart-put=1,list=2", &m) == 0 && m.total == 4,
           "all operations allowed");
    TAP_OK(bench_mix_parse("get=0", &m) == -EINVAL, "all-zero mix refused");
    TAP_OK(bench_mix_parse("get", &m) == -EINVAL, "missing weight refused");
    TAP_OK(bench_mix_parse("mixed=3", &m) == -EINVAL, "mixed inside a mix refused");
    TAP_OK(bench_mix_parse("get=x", &m) == -EINVAL, "bad weight refused");
}

/* Concatenates iov[1..n) (everything but the head). */
static size_t iov_join(const struct gz_slice *iov, int n, char *out, size_t outsz)
{
    size_t len = 0;
    for (int i = 1; i < n; i++) {
        if (len + iov[i].len <= outsz)
            memcpy(out + len, iov[i].ptr, iov[i].len);
        len += iov[i].len;
    }
    return len;
}

/* "Example: PUT Object" of the S3 SigV4 streaming documentation: 66560 bytes of 'a' in chunks
 * of 64 KiB, seed signature 4f232c43... */
static void t_chunked_signed(void)
{
    static char body[66560];
    static char wire[70000];
    uint8_t key[32], full[1][32], tail[32];
    struct gz_buf fr;
    struct gz_slice iov[8];
    memset(body, 'a', sizeof(body));
    gz_sha256(body, 65536, full[0]);
    gz_sha256(body + 65536, 1024, tail);
    s3_sigv4_signing_key("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", gz_slice_cstr("20130524"),
                         gz_slice_cstr("us-east-1"), gz_slice_cstr("s3"), key);
    struct bench_chunk_signer sg = {.skey = key, .amz_date = "20130524T000000Z",
                                    .scope = "20130524/us-east-1/s3/aws4_request",
                                    .prev_sig = "4f232c4386841ef735655705268965c44a0e4690baa4ad"
                                                "ea153f7db9fa80a0a9"};
    struct bench_chunk_frame f = {.body = body, .len = sizeof(body), .chunk = 65536,
                                  .full_sha = (const uint8_t(*)[32])full, .tail_sha = tail,
                                  .signer = &sg};
    gz_buf_init(&fr, 4096);
    int n = bench_chunked_frame(&f, &fr, gz_slice_cstr("HEAD"), iov, 8);
    TAP_OK(n == 6, "head + 2 x (frame, data) + final: %d", n);
    size_t len = iov_join(iov, n, wire, sizeof(wire));
    TAP_OK(len == 66824 && bench_chunked_length(sizeof(body), 65536, true) == 66824,
           "Content-Length 66824 as in the example: %zu", len);
    TAP_OK(len <= sizeof(wire) &&
               memcmp(wire, "10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0"
                            "ade35a65485a288648\r\naaa", 88) == 0,
           "first chunk signature");
    const char *second = "\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b"
                         "7d234b86a503ef5497\r\n";
    TAP_OK(len <= sizeof(wire) && memcmp(wire + 88 + 65536, second, strlen(second)) == 0,
           "second chunk signature chains from the first");
    const char *last = "\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ce"
                       "b9323e279d449df9\r\n\r\n";
    TAP_OK(len <= sizeof(wire) && memcmp(wire + len - strlen(last), last, strlen(last)) == 0,
           "final chunk signature and the closing empty line");
    TAP_OK(bench_chunked_frame(&f, &fr, gz_slice_cstr("HEAD"), iov, 5) == -E2BIG,
           "too few iov entries refused");
    gz_buf_free(&fr);
}

static void t_chunked_trailer(void)
{
    char wire[200];
    struct gz_buf fr;
    struct gz_slice iov[8];
    struct bench_chunk_frame f = {.body = "hello world", .len = 11, .chunk = 8,
                                  .crc_b64 = "yZRlqg=="};
    gz_buf_init(&fr, 4096);
    int n = bench_chunked_frame(&f, &fr, gz_slice_cstr("HEAD"), iov, 8);
    size_t len = iov_join(iov, n, wire, sizeof(wire) - 1);
    wire[len < sizeof(wire) ? len : 0] = '\0';
    TAP_OK(n == 6 && strcmp(wire, "8\r\nhello wo\r\n3\r\nrld\r\n0\r\n"
                                  "x-amz-checksum-crc32c:yZRlqg==\r\n\r\n") == 0,
           "unsigned chunks and the trailer: %s", wire);
    TAP_OK(bench_chunked_length(11, 8, false) == len, "length formula: %zu", len);
    TAP_OK(iov[0].len == 4 && memcmp(iov[0].ptr, "HEAD", 4) == 0, "the head goes first");
    f.len = 0;
    n = bench_chunked_frame(&f, &fr, gz_slice_cstr("H"), iov, 8);
    len = iov_join(iov, n, wire, sizeof(wire) - 1);
    TAP_OK(n == 2 && len == bench_chunked_length(0, 8, false) &&
               memcmp(wire, "0\r\nx-amz", 8) == 0,
           "an empty body is the final chunk alone");
    gz_buf_free(&fr);
}

int main(void)
{
    TAP_RUN(t_hist_index);
    TAP_RUN(t_hist_quantiles);
    TAP_RUN(t_errs);
    TAP_RUN(t_parse);
    TAP_RUN(t_sizes);
    TAP_RUN(t_mix);
    TAP_RUN(t_chunked_signed);
    TAP_RUN(t_chunked_trailer);
    return tap_done();
}
