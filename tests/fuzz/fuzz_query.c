/*
 * fuzz_query.c - the small request parsers: query strings (s3__query_parse), percent-decoding
 * (s3__uri_decode, both modes), Range headers (s3__range_parse against several object
 * sizes), HTTP and x-amz-date timestamps and base64. Every parser sees the whole input; the
 * results are checked for the invariants their headers promise.
 */
#include <stdlib.h>

#include "fuzz_common.h"
#include "s3/s3_obj_int.h"

static void fuzz_query(struct gz_slice in)
{
    struct fuzz_arena a = {0};
    struct s3_param *ps = NULL;
    size_t np = 0;
    if (s3__query_parse(in, fuzz_arena_alloc, &a, &ps, &np) == 0) {
        for (size_t i = 0; i < np; i++) {
            if (ps[i].name.len > in.len || ps[i].value.len > in.len)
                abort();
            if (!ps[i].has_value && ps[i].value.len != 0)
                abort();
        }
    }
    fuzz_arena_free(&a);
}

static void fuzz_uri(struct gz_slice in)
{
    char *out = gz_malloc(in.len + 1);
    for (int plus = 0; plus < 2; plus++) {
        size_t n = 0;
        if (s3__uri_decode(in, plus != 0, out, &n) == 0 && n > in.len)
            abort();
    }
    gz_free(out);
}

static void fuzz_range(struct gz_slice in)
{
    static const int64_t sizes[] = {0, 1, 100, 5LL * 1024 * 1024 * 1024, INT64_MAX};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        int64_t start = -1, len = -1;
        if (s3__range_parse(in, sizes[i], &start, &len) == S3_RANGE_OK) {
            if (start < 0 || len <= 0 || start >= sizes[i] || len > sizes[i] - start)
                abort();
        }
    }
}

static void fuzz_time_b64(struct gz_slice in)
{
    int64_t t;
    (void)gz_time_parse_http(in, &t);
    (void)gz_time_parse_amz(in, &t);
    size_t cap = in.len + 4;
    uint8_t *out = gz_malloc(cap);
    int n = gz_base64_decode(out, cap, in);
    if (n > 0 && (size_t)n > (in.len / 4 + 1) * 3)
        abort();
    /* a tight buffer must not be overrun */
    if (n > 0) {
        uint8_t *tight = gz_malloc((size_t)n);
        if (gz_base64_decode(tight, (size_t)n, in) != n)
            abort();
        gz_free(tight);
    }
    gz_free(out);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    gz_log_set_level(GZ_LOG_ERROR);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gz_slice in = gz_slice(data, size);
    fuzz_query(in);
    fuzz_uri(in);
    fuzz_range(in);
    fuzz_time_b64(in);
    return 0;
}
