/*
 * sigv2.c - AWS Signature Version 2 (HMAC-SHA1), kept for older clients and for presigned
 * URLs that boto3 still produces for custom endpoints:
 *
 *   StringToSign = VERB \n Content-MD5 \n Content-Type \n Date|Expires \n
 *                  CanonicalizedAmzHeaders CanonicalizedResource
 *
 * The resource is "/" + the virtual-hosted bucket (if any) + the path as sent + the signed
 * sub-resources, sorted by name, with decoded values.
 */
#include <errno.h>
#include <stdio.h>

#include "auth_int.h"

#define V2_MAX_SUBRESOURCES 64

/* Query parameters S3 includes in the SigV2 canonical resource (sorted). */
static const char *const v2_subresources[] = {
    "accelerate",
    "acl",
    "analytics",
    "cors",
    "delete",
    "encryption",
    "inventory",
    "legal-hold",
    "lifecycle",
    "location",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "partNumber",
    "policy",
    "publicAccessBlock",
    "replication",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "retention",
    "select",
    "select-type",
    "storageClass",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
};

static bool v2_is_subresource(struct gz_slice name)
{
    for (size_t i = 0; i < GZ_ARRAY_LEN(v2_subresources); i++) {
        if (gz_slice_eq_cstr(name, v2_subresources[i]))
            return true;
    }
    return false;
}

struct v2_sub {
    struct gz_slice name;  /* raw (sub-resource names never need encoding) */
    struct gz_slice value; /* raw; decoded when appended */
    bool has_value;
};

static int v2_slice_cmp(struct gz_slice a, struct gz_slice b)
{
    int c = memcmp(a.ptr, b.ptr, GZ_MIN(a.len, b.len));
    if (c != 0 || a.len == b.len)
        return c;
    return a.len < b.len ? -1 : 1;
}

static int v2_append_subresources(struct gz_buf *b, struct gz_slice query)
{
    struct v2_sub subs[V2_MAX_SUBRESOURCES];
    size_t n = 0;
    struct gz_slice rest = query, name, value;
    while (s3__query_next(&rest, &name, &value)) {
        if (!v2_is_subresource(name))
            continue;
        if (n == V2_MAX_SUBRESOURCES)
            return -E2BIG;
        /* s3__query_next leaves value right after name when there was no '='. */
        struct v2_sub s = {name, value, value.ptr != name.ptr + name.len};
        size_t j = n++;
        while (j > 0 && v2_slice_cmp(subs[j - 1].name, s.name) > 0) { /* stable insert */
            subs[j] = subs[j - 1];
            j--;
        }
        subs[j] = s;
    }
    for (size_t i = 0; i < n; i++) {
        if (gz_buf_append(b, i == 0 ? "?" : "&", 1) != 0 ||
            gz_buf_append(b, subs[i].name.ptr, subs[i].name.len) != 0)
            return -E2BIG;
        if (!subs[i].has_value)
            continue;
        char dec[S3__MAX_AUTH_VALUE * 4];
        int dl = s3__pct_decode(dec, sizeof(dec), subs[i].value);
        if (dl < 0 || gz_buf_append(b, "=", 1) != 0 || gz_buf_append(b, dec, (size_t)dl) != 0)
            return -E2BIG;
    }
    return 0;
}

static bool v2_is_amz(struct gz_slice n, bool skip_date)
{
    if (n.len < 6 || !gz_slice_case_eq(gz_slice(n.ptr, 6), GZ_SLICE_LIT("x-amz-")))
        return false;
    return !(skip_date && gz_slice_case_eq_cstr(n, "x-amz-date"));
}

static int v2_name_cmp(struct gz_slice a, struct gz_slice b)
{
    for (size_t i = 0; i < a.len && i < b.len; i++) {
        int ca = (unsigned char)a.ptr[i], cb = (unsigned char)b.ptr[i];
        ca = (ca >= 'A' && ca <= 'Z') ? ca + 32 : ca;
        cb = (cb >= 'A' && cb <= 'Z') ? cb + 32 : cb;
        if (ca != cb)
            return ca - cb;
    }
    return a.len == b.len ? 0 : (a.len < b.len ? -1 : 1);
}

/* "name:v1,v2\n" for each x-amz-* header, names lower-cased and sorted. */
static int v2_append_amz_headers(struct gz_buf *b, const struct http_req_info *info, bool skip_date)
{
    size_t *idx = gz_malloc(sizeof(size_t) * (info->nheaders + 1)), n = 0;
    int rc = 0;
    for (size_t i = 0; i < info->nheaders; i++) {
        if (!v2_is_amz(info->headers[i].name, skip_date))
            continue;
        size_t j = n++;
        while (j > 0 && v2_name_cmp(info->headers[idx[j - 1]].name, info->headers[i].name) > 0) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct http_header *h = &info->headers[idx[i]];
        bool same = i > 0 && v2_name_cmp(info->headers[idx[i - 1]].name, h->name) == 0;
        if (same) {
            rc = gz_buf_append(b, ",", 1);
        } else {
            for (size_t k = 0; k < h->name.len && rc == 0; k++) {
                char c = h->name.ptr[k];
                c = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
                rc = gz_buf_append(b, &c, 1);
            }
            if (rc == 0)
                rc = gz_buf_append(b, ":", 1);
        }
        struct gz_slice v = gz_slice_trim(h->value);
        if (rc == 0)
            rc = gz_buf_append(b, v.ptr, v.len);
        bool last = i + 1 == n || v2_name_cmp(info->headers[idx[i + 1]].name, h->name) != 0;
        if (rc == 0 && last)
            rc = gz_buf_append(b, "\n", 1);
    }
    gz_free(idx);
    return rc;
}

/* Builds the string to sign with the given date line. */
static int v2_string_to_sign(struct gz_buf *b, const struct http_req_info *info,
                             struct gz_slice vhost_bucket, struct gz_slice path,
                             struct gz_slice date_line, bool skip_amz_date)
{
    struct gz_slice md5 = s3__header(info, "Content-MD5");
    struct gz_slice type = s3__header(info, "Content-Type");
    int rc = gz_buf_appendf(b, "%.*s\n%.*s\n%.*s\n%.*s\n", (int)info->method.len, info->method.ptr,
                            (int)md5.len, md5.ptr ? md5.ptr : "", (int)type.len,
                            type.ptr ? type.ptr : "", (int)date_line.len,
                            date_line.ptr ? date_line.ptr : "");
    if (rc == 0)
        rc = v2_append_amz_headers(b, info, skip_amz_date);
    if (rc == 0 && vhost_bucket.len > 0) {
        rc = gz_buf_append(b, "/", 1);
        if (rc == 0)
            rc = gz_buf_append(b, vhost_bucket.ptr, vhost_bucket.len);
    }
    if (rc == 0)
        rc = gz_buf_append(b, path.ptr, path.len);
    if (rc == 0)
        rc = v2_append_subresources(b, info->query);
    return rc;
}

/* Signs one candidate string-to-sign; true if it matches the client's base64 signature. */
static bool v2_try_path(const struct http_req_info *info, struct gz_slice vhost_bucket,
                        struct gz_slice path, const char *secret, struct gz_slice date_line,
                        bool skip_amz_date, struct gz_slice given)
{
    struct gz_buf sts;
    uint8_t mac[20];
    char b64[32];
    bool ok = false;
    gz_buf_init(&sts, S3__MAX_CANONICAL);
    if (v2_string_to_sign(&sts, info, vhost_bucket, path, date_line, skip_amz_date) == 0) {
        gz_hmac_sha1(secret, strlen(secret), sts.ptr, sts.len, mac);
        size_t n = gz_base64_encode(b64, mac, 20);
        ok = gz_consttime_eq(b64, n, given.ptr, given.len);
        if (!ok && GZ_LOG_DEBUG <= gz_log_level_current) {
            char esc[2048];
            gz_log_escape(esc, sizeof(esc), gz_buf_slice(&sts));
            log_debug("sigv2 string to sign: %s", esc);
        }
    }
    gz_buf_free(&sts);
    return ok;
}

/* botocore signs a path-style bucket-level request ("/bucket?delete") with the resource
 * "/bucket/?delete", so a single-segment path is also tried with a trailing slash. */
static bool v2_try(const struct http_req_info *info, struct gz_slice vhost_bucket,
                   const char *secret, struct gz_slice date_line, bool skip_amz_date,
                   struct gz_slice given)
{
    struct gz_slice path = info->path.len ? info->path : GZ_SLICE_LIT("/");
    if (v2_try_path(info, vhost_bucket, path, secret, date_line, skip_amz_date, given))
        return true;
    char slashed[1024];
    bool one_segment = vhost_bucket.len == 0 && path.len > 1 && path.len < sizeof(slashed) &&
                       memchr(path.ptr + 1, '/', path.len - 1) == NULL;
    if (!one_segment)
        return false;
    memcpy(slashed, path.ptr, path.len);
    slashed[path.len] = '/';
    return v2_try_path(info, vhost_bucket, gz_slice(slashed, path.len + 1), secret, date_line,
                       skip_amz_date, given);
}

static enum s3_err v2_lookup(struct iam *iam, struct gz_slice akid, struct s3_auth *out, char *msg,
                             size_t msgsz)
{
    if (iam_principal_lookup(iam, akid, &out->principal) != 0) {
        s3__msg(msg, msgsz, "The AWS Access Key Id you provided does not exist in our records.");
        return S3_ERR_INVALID_ACCESS_KEY_ID;
    }
    return S3_OK;
}

static enum s3_err v2_mismatch(char *msg, size_t msgsz)
{
    s3__msg(msg, msgsz,
            "The request signature we calculated does not match the signature you "
            "provided. Check your key and signing method.");
    return S3_ERR_SIGNATURE_DOES_NOT_MATCH;
}

enum s3_err s3__sigv2_verify_header(struct iam *iam, const struct http_req_info *info,
                                    struct gz_slice authz, struct gz_slice vhost_bucket,
                                    int64_t now_s, struct s3_auth *out, char *msg, size_t msgsz)
{
    struct gz_slice cred = gz_slice_trim(gz_slice(authz.ptr + 4, authz.len - 4));
    const char *colon = memchr(cred.ptr, ':', cred.len);
    if (colon == NULL || colon == cred.ptr || colon == cred.ptr + cred.len - 1) {
        s3__msg(msg, msgsz,
                "AWS authorization header is invalid.  Expected "
                "AwsAccessKeyId:signature");
        return S3_ERR_INVALID_ARGUMENT;
    }
    struct gz_slice akid = gz_slice(cred.ptr, (size_t)(colon - cred.ptr));
    struct gz_slice sig = gz_slice(colon + 1, cred.len - akid.len - 1);
    struct gz_slice xd = s3__header(info, "x-amz-date"), d = s3__header(info, "Date");
    int64_t t;
    if (s3__time_parse_any(xd.ptr ? xd : d, &t) != 0) {
        s3__msg(msg, msgsz, "AWS authentication requires a valid Date or x-amz-date header");
        return S3_ERR_ACCESS_DENIED;
    }
    if (t > now_s + S3_MAX_SKEW_S || t < now_s - S3_MAX_SKEW_S) {
        s3__msg(msg, msgsz,
                "The difference between the request time and the current time is "
                "too large.");
        return S3_ERR_REQUEST_TIME_TOO_SKEWED;
    }
    enum s3_err e = v2_lookup(iam, akid, out, msg, msgsz);
    if (e != S3_OK)
        return e;
    const char *secret = out->principal.secret_key;
    /* The documented form (empty date line when x-amz-date is present), then the forms
     * clients and AWS's own examples also produce. */
    bool ok = v2_try(info, vhost_bucket, secret, xd.ptr ? GZ_SLICE_NULL : d, false, sig);
    if (!ok && xd.ptr && d.ptr)
        ok = v2_try(info, vhost_bucket, secret, d, false, sig);
    if (!ok && xd.ptr)
        ok = v2_try(info, vhost_bucket, secret, xd, true, sig);
    if (!ok)
        return v2_mismatch(msg, msgsz);
    out->version = 2;
    out->presigned = false;
    return S3_OK;
}

enum s3_err s3__sigv2_verify_presigned(struct iam *iam, const struct http_req_info *info,
                                       struct gz_slice vhost_bucket, int64_t now_s,
                                       struct s3_auth *out, char *msg, size_t msgsz)
{
    char akid_buf[S3__MAX_AUTH_VALUE], sig_buf[S3__MAX_AUTH_VALUE], exp_buf[S3__MAX_AUTH_VALUE];
    struct gz_slice akid, sig, expires;
    uint64_t exp;
    if (s3__query_get(info->query, "AWSAccessKeyId", akid_buf, sizeof(akid_buf), &akid) != 0 ||
        s3__query_get(info->query, "Signature", sig_buf, sizeof(sig_buf), &sig) != 0 ||
        s3__query_get(info->query, "Expires", exp_buf, sizeof(exp_buf), &expires) != 0) {
        s3__msg(msg, msgsz,
                "Query-string authentication requires the Signature, Expires and "
                "AWSAccessKeyId parameters");
        return S3_ERR_ACCESS_DENIED;
    }
    if (gz_slice_to_u64(expires, &exp) != 0 || exp > (uint64_t)INT64_MAX) {
        s3__msg(msg, msgsz, "Invalid date (should be seconds since epoch): %.*s",
                (int)GZ_MIN(expires.len, 64), expires.ptr);
        return S3_ERR_ACCESS_DENIED;
    }
    enum s3_err e = v2_lookup(iam, akid, out, msg, msgsz);
    if (e != S3_OK)
        return e;
    if (now_s > (int64_t)exp) {
        s3__msg(msg, msgsz, "Request has expired");
        return S3_ERR_ACCESS_DENIED;
    }
    if (!v2_try(info, vhost_bucket, out->principal.secret_key, expires, false, sig))
        return v2_mismatch(msg, msgsz);
    out->version = 2;
    out->presigned = true;
    return S3_OK;
}
