/*
 * auth.c - s3_auth_verify(): decides which scheme a request uses (SigV4 header, SigV4
 * presigned, SigV2 header, SigV2 presigned, anonymous) and hands it to sigv4.c or sigv2.c,
 * plus the small header/query helpers all of auth's files share (auth_int.h).
 */
#include <errno.h>
#include <stdio.h>

#include "auth_int.h"

void s3__msg(char *msg, size_t msgsz, const char *fmt, ...)
{
    if (msg == NULL || msgsz == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msgsz, fmt, ap);
    va_end(ap);
}

struct gz_slice s3__header(const struct http_req_info *info, const char *name)
{
    for (size_t i = 0; i < info->nheaders; i++) {
        if (gz_slice_case_eq_cstr(info->headers[i].name, name))
            return info->headers[i].value;
    }
    return GZ_SLICE_NULL;
}

size_t s3__header_count(const struct http_req_info *info, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < info->nheaders; i++)
        n += gz_slice_case_eq_cstr(info->headers[i].name, name);
    return n;
}

int s3__pct_decode(char *out, size_t outsz, struct gz_slice in)
{
    size_t o = 0, i = 0;
    while (i < in.len) {
        /* Copy the run up to the next '%' in one go: most bytes need no decoding. */
        const char *pct = memchr(in.ptr + i, '%', in.len - i);
        size_t run = pct ? (size_t)(pct - (in.ptr + i)) : in.len - i;
        if (run > outsz - o)
            return -E2BIG;
        memcpy(out + o, in.ptr + i, run);
        o += run;
        i += run;
        if (i == in.len)
            break;
        char c = '%';
        int hi = i + 2 < in.len ? gz_hex_digit(in.ptr[i + 1]) : -1;
        int lo = i + 2 < in.len ? gz_hex_digit(in.ptr[i + 2]) : -1;
        if (hi >= 0 && lo >= 0) {
            c = (char)(hi << 4 | lo);
            i += 3;
        } else {
            i++; /* a '%' without two hex digits stays literal */
        }
        if (o >= outsz)
            return -E2BIG;
        out[o++] = c;
    }
    return (int)o;
}

bool s3__query_next(struct gz_slice *rest, struct gz_slice *name, struct gz_slice *value)
{
    while (rest->len > 0) {
        const char *amp = memchr(rest->ptr, '&', rest->len);
        size_t n = amp ? (size_t)(amp - rest->ptr) : rest->len;
        struct gz_slice item = gz_slice(rest->ptr, n);
        rest->ptr += amp ? n + 1 : n;
        rest->len -= amp ? n + 1 : n;
        if (item.len == 0)
            continue;
        const char *eq = memchr(item.ptr, '=', item.len);
        if (eq != NULL) {
            *name = gz_slice(item.ptr, (size_t)(eq - item.ptr));
            *value = gz_slice(eq + 1, item.len - name->len - 1);
        } else {
            *name = item;
            *value = gz_slice(item.ptr + item.len, 0);
        }
        return true;
    }
    return false;
}

/* Does the raw name decode to want? */
static bool query_name_is(struct gz_slice raw, const char *want)
{
    char buf[64];
    size_t wl = strlen(want);
    if (raw.len > sizeof(buf) || raw.len < wl)
        return false;
    if (memchr(raw.ptr, '%', raw.len) == NULL) /* nothing to decode */
        return raw.len == wl && memcmp(raw.ptr, want, wl) == 0;
    int n = s3__pct_decode(buf, sizeof(buf), raw);
    return n == (int)wl && memcmp(buf, want, wl) == 0;
}

int s3__query_get(struct gz_slice query, const char *name, char *buf, size_t bufsz,
                  struct gz_slice *value)
{
    struct gz_slice rest = query, n, v;
    while (s3__query_next(&rest, &n, &v)) {
        if (!query_name_is(n, name))
            continue;
        int len = s3__pct_decode(buf, bufsz, v);
        if (len < 0)
            return len;
        *value = gz_slice(buf, (size_t)len);
        return 0;
    }
    return -ENOENT;
}

bool s3__query_has(struct gz_slice query, const char *name)
{
    struct gz_slice rest = query, n, v;
    while (s3__query_next(&rest, &n, &v)) {
        if (query_name_is(n, name))
            return true;
    }
    return false;
}

int s3__payload_mode_parse(struct gz_slice v, enum s3_payload_mode *mode, uint8_t sha[32])
{
    static const struct {
        const char *token;
        enum s3_payload_mode mode;
    } tokens[] = {
        {"UNSIGNED-PAYLOAD", S3_PAYLOAD_UNSIGNED},
        {"STREAMING-AWS4-HMAC-SHA256-PAYLOAD", S3_PAYLOAD_STREAMING_SIGNED},
        {"STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", S3_PAYLOAD_STREAMING_SIGNED_TRAILER},
        {"STREAMING-UNSIGNED-PAYLOAD-TRAILER", S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER},
    };
    for (size_t i = 0; i < GZ_ARRAY_LEN(tokens); i++) {
        if (gz_slice_eq_cstr(v, tokens[i].token)) {
            *mode = tokens[i].mode;
            return 0;
        }
    }
    if (v.len == 64 && gz_hex_decode(sha, 32, v) == 32) {
        *mode = S3_PAYLOAD_SHA256;
        return 0;
    }
    return -EINVAL;
}

/* "Tue, 27 Mar 2007 19:36:42 +0000": the numeric-zone form of RFC 2822 dates. */
static int time_parse_numeric_zone(struct gz_slice s, int64_t *unix_s)
{
    char buf[64];
    if (s.len < 7 || s.len >= sizeof(buf) - 4)
        return -EINVAL;
    const char *z = s.ptr + s.len - 5;
    if (z[-1] != ' ' || (z[0] != '+' && z[0] != '-'))
        return -EINVAL;
    int digits[4];
    for (int i = 0; i < 4; i++) {
        digits[i] = z[1 + i] - '0';
        if (digits[i] < 0 || digits[i] > 9)
            return -EINVAL;
    }
    size_t head = s.len - 5;
    memcpy(buf, s.ptr, head);
    memcpy(buf + head, "GMT", 3);
    int64_t t;
    if (gz_time_parse_http(gz_slice(buf, head + 3), &t) != 0)
        return -EINVAL;
    int64_t off = (int64_t)(digits[0] * 10 + digits[1]) * 3600 + (digits[2] * 10 + digits[3]) * 60;
    *unix_s = z[0] == '+' ? t - off : t + off;
    return 0;
}

int s3__time_parse_any(struct gz_slice s, int64_t *unix_s)
{
    if (gz_time_parse_http(s, unix_s) == 0)
        return 0;
    if (time_parse_numeric_zone(s, unix_s) == 0)
        return 0;
    return gz_time_parse_amz(s, unix_s);
}

/* Anonymous and SigV2 requests may still declare a payload hash; honour the forms that need
 * no signing key so the body is still checked. Anything else is left for s3_payload_new. */
static void auth_payload_from_header(const struct http_req_info *info, struct s3_auth *out)
{
    struct gz_slice v = s3__header(info, "x-amz-content-sha256");
    enum s3_payload_mode mode;
    if (v.ptr != NULL && s3__payload_mode_parse(v, &mode, out->payload_sha256) == 0)
        out->payload = mode;
}

/* Which query-string schemes the request uses, in one pass over the parameters (the same
 * answers as s3__query_has for each of the five names). */
static void auth_query_schemes(struct gz_slice query, bool *v4q, bool *v2q)
{
    static const char *const v4_names[] = {"X-Amz-Algorithm", "X-Amz-Credential",
                                           "X-Amz-Signature"};
    static const char *const v2_names[] = {"AWSAccessKeyId", "Signature"};
    struct gz_slice rest = query, n, v;
    while (s3__query_next(&rest, &n, &v) && !(*v4q && *v2q)) {
        for (size_t i = 0; i < GZ_ARRAY_LEN(v4_names) && !*v4q; i++)
            *v4q = query_name_is(n, v4_names[i]);
        for (size_t i = 0; i < GZ_ARRAY_LEN(v2_names) && !*v2q; i++)
            *v2q = query_name_is(n, v2_names[i]);
    }
}

static enum s3_err auth_dispatch(struct iam *iam, const struct http_req_info *info,
                                 struct gz_slice vhost_bucket, int64_t now_s, struct s3_auth *out,
                                 char *msg, size_t msgsz)
{
    struct gz_slice authz = s3__header(info, "Authorization");
    bool v4q = false, v2q = false;
    auth_query_schemes(info->query, &v4q, &v2q);
    int schemes = (authz.ptr != NULL) + v4q + v2q;

    if (schemes == 0) {
        out->anonymous = true;
        auth_payload_from_header(info, out);
        return S3_OK;
    }
    if (schemes > 1) {
        s3__msg(msg, msgsz,
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query "
                "parameter, Signature query string parameter or the Authorization "
                "header should be specified");
        return S3_ERR_INVALID_ARGUMENT;
    }
    if (v4q)
        return s3__sigv4_verify_presigned(iam, info, now_s, out, msg, msgsz);
    if (v2q) {
        auth_payload_from_header(info, out);
        return s3__sigv2_verify_presigned(iam, info, vhost_bucket, now_s, out, msg, msgsz);
    }
    if (gz_slice_starts_with(authz, "AWS4-HMAC-SHA256 "))
        return s3__sigv4_verify_header(iam, info, authz, now_s, out, msg, msgsz);
    if (gz_slice_starts_with(authz, "AWS ")) {
        auth_payload_from_header(info, out);
        return s3__sigv2_verify_header(iam, info, authz, vhost_bucket, now_s, out, msg, msgsz);
    }
    s3__msg(msg, msgsz, "Unsupported Authorization Type");
    return S3_ERR_INVALID_ARGUMENT;
}

enum s3_err s3_auth_verify(struct iam *iam, const struct http_req_info *info,
                           struct gz_slice vhost_bucket, int64_t now_s, struct s3_auth *out,
                           char *msg, size_t msgsz)
{
    memset(out, 0, sizeof(*out));
    s3__msg(msg, msgsz, "%s", "");
    enum s3_err e = auth_dispatch(iam, info, vhost_bucket, now_s, out, msg, msgsz);
    if (e != S3_OK) {
        /* A failed attempt must not leave the looked-up secret or a signing key behind. */
        explicit_bzero(out, sizeof(*out));
    }
    return e;
}
