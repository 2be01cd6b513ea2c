/*
 * range.c - the Range request header (RFC 7233) as S3 applies it: one byte range in any of
 * its three forms; multiple ranges, other units and malformed values are ignored (the whole
 * object is served), and a range that starts past the end is 416.
 */
#include <errno.h>

#include "s3_obj_int.h"

/* A run of digits spanning the whole slice; *overflow set (and -ERANGE) when too large. */
static int parse_pos(struct gz_slice s, uint64_t *out, bool *overflow)
{
    *overflow = false;
    if (s.len == 0)
        return -EINVAL;
    for (size_t i = 0; i < s.len; i++)
        if (s.ptr[i] < '0' || s.ptr[i] > '9')
            return -EINVAL;
    int rc = gz_slice_to_u64(s, out);
    if (rc == -ERANGE || (rc == 0 && *out > (uint64_t)INT64_MAX)) {
        *overflow = true;
        *out = (uint64_t)INT64_MAX;
        return 0;
    }
    return rc;
}

enum s3__range_result s3__range_parse(struct gz_slice hdr, int64_t size, int64_t *start,
                                      int64_t *len)
{
    hdr = gz_slice_trim(hdr);
    const char *eq = hdr.ptr ? memchr(hdr.ptr, '=', hdr.len) : NULL;
    if (eq == NULL)
        return S3_RANGE_NONE;
    struct gz_slice unit = gz_slice_trim(gz_slice(hdr.ptr, (size_t)(eq - hdr.ptr)));
    struct gz_slice spec = gz_slice_trim(gz_slice(eq + 1, hdr.len - (size_t)(eq - hdr.ptr) - 1));
    if (!gz_slice_case_eq_cstr(unit, "bytes") || memchr(spec.ptr, ',', spec.len))
        return S3_RANGE_NONE;
    const char *dash = memchr(spec.ptr, '-', spec.len);
    if (dash == NULL)
        return S3_RANGE_NONE;
    struct gz_slice first = gz_slice_trim(gz_slice(spec.ptr, (size_t)(dash - spec.ptr)));
    size_t rest = spec.len - (size_t)(dash - spec.ptr) - 1;
    struct gz_slice last = gz_slice_trim(gz_slice(dash + 1, rest));
    uint64_t a = 0, b = 0;
    bool of_a = false, of_b = false;
    if (first.len == 0) {
        /* suffix-byte-range-spec: the last n bytes */
        if (parse_pos(last, &b, &of_b) < 0)
            return S3_RANGE_NONE;
        if (b == 0 || size == 0)
            return S3_RANGE_UNSATISFIABLE;
        int64_t n = (int64_t)GZ_MIN(b, (uint64_t)size);
        *start = size - n;
        *len = n;
        return S3_RANGE_OK;
    }
    if (parse_pos(first, &a, &of_a) < 0)
        return S3_RANGE_NONE;
    if (last.len) {
        if (parse_pos(last, &b, &of_b) < 0 || b < a)
            return S3_RANGE_NONE;
    }
    if (of_a || (int64_t)a >= size)
        return S3_RANGE_UNSATISFIABLE;
    int64_t end = last.len == 0 ? size - 1 : (int64_t)GZ_MIN(b, (uint64_t)(size - 1));
    *start = (int64_t)a;
    *len = end - (int64_t)a + 1;
    return S3_RANGE_OK;
}
