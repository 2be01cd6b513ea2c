/*
 * object_copy.c - CopyObject (PUT with x-amz-copy-source): within and across buckets,
 * metadata COPY or REPLACE, x-amz-copy-source-if-* preconditions. The store copies without
 * the bytes passing through us; the source etag we checked rides along so a concurrent
 * overwrite of the source is detected, in which case the whole check is made again.
 */
#include <stdio.h>

#include "sse_int.h"

#define COPY_META_MAX (16 * 1024)
#define COPY_MAX_ATTEMPTS 3

struct copy_ctx {
    struct s3_request *r;
    struct gz_slice src_bucket, src_key;
    bool replace;
    enum iam_acl acl; /* x-amz-acl: the copy's ACL (never the source's) */
    int attempts;
    struct store_meta src;
    struct gz_buf src_hold; /* src.headers */
    struct gz_buf headers;  /* new headers for REPLACE */
    struct store_meta meta;
    struct s3__hop hop;
    struct s3__sse_req src_q, dst_q; /* SSE-C key of the source; the copy's encryption */
};

static void copy_ctx_free(void *arg)
{
    struct copy_ctx *c = arg;
    gz_buf_free(&c->src_hold);
    gz_buf_free(&c->headers);
    memset(&c->src_q, 0, sizeof(c->src_q));
    memset(&c->dst_q, 0, sizeof(c->dst_q));
}

/* "bucket/key" or "/bucket/key", percent-encoded, optionally "?versionId=..." (ignored:
 * objects have one version). */
static enum s3_err copy_parse_source(struct copy_ctx *c, char *msg, size_t msgsz)
{
    struct s3_request *r = c->r;
    struct gz_slice v = s3_header(r, "x-amz-copy-source");
    const char *q = memchr(v.ptr, '?', v.len);
    if (q)
        v.len = (size_t)(q - v.ptr);
    char *dec = http_req_alloc(r->req, v.len + 1);
    size_t n = 0;
    if (s3__uri_decode(v, false, dec, &n) < 0) {
        snprintf(msg, msgsz, "Invalid copy source encoding.");
        return S3_ERR_INVALID_ARGUMENT;
    }
    dec[n] = '\0';
    struct gz_slice s = gz_slice(dec, n);
    if (s.len && s.ptr[0] == '/')
        s = gz_slice(s.ptr + 1, s.len - 1);
    const char *slash = memchr(s.ptr, '/', s.len);
    if (slash == NULL || slash == s.ptr || slash + 1 == s.ptr + s.len) {
        snprintf(msg, msgsz,
                 "Copy Source must mention the source bucket and key: "
                 "sourcebucket/sourcekey");
        return S3_ERR_INVALID_ARGUMENT;
    }
    c->src_bucket = gz_slice(s.ptr, (size_t)(slash - s.ptr));
    c->src_key = gz_slice(slash + 1, s.len - c->src_bucket.len - 1);
    if (!s3__bucket_name_valid(c->src_bucket))
        return S3_ERR_NO_SUCH_BUCKET;
    return s3__key_check(c->src_key, msg, msgsz);
}

static enum s3_err copy_parse_directive(struct copy_ctx *c, char *msg, size_t msgsz)
{
    struct gz_slice d = s3_header(c->r, "x-amz-metadata-directive");
    if (d.ptr == NULL || gz_slice_eq_cstr(d, "COPY"))
        return S3_OK;
    if (gz_slice_eq_cstr(d, "REPLACE")) {
        c->replace = true;
        return S3_OK;
    }
    snprintf(msg, msgsz, "Unknown metadata directive.");
    return S3_ERR_INVALID_ARGUMENT;
}

/* The x-amz-copy-source-if-* headers: any failure is 412 (never 304) for a copy. */
static enum s3_err copy_conditions(struct copy_ctx *c)
{
    struct s3_request *r = c->r;
    struct s3__cond cond = {
        .if_match = s3_header(r, "x-amz-copy-source-if-match"),
        .if_none_match = s3_header(r, "x-amz-copy-source-if-none-match"),
        .if_modified_since = s3_header(r, "x-amz-copy-source-if-modified-since"),
        .if_unmodified_since = s3_header(r, "x-amz-copy-source-if-unmodified-since"),
    };
    enum s3_err e = s3__cond_eval(&cond, c->src.etag, c->src.mtime_ms / 1000);
    return e == S3_ERR_NOT_MODIFIED ? S3_ERR_PRECONDITION_FAILED : e;
}

/* REPLACE: headers from the request, plus the source's checksums (the bytes are the same). */
static enum s3_err copy_build_headers(struct copy_ctx *c, char *msg, size_t msgsz)
{
    gz_buf_free(&c->headers);
    gz_buf_init(&c->headers, COPY_META_MAX);
    enum s3_err e = s3_meta_from_request(c->r, &c->headers, msg, msgsz);
    if (e != S3_OK)
        return e;
    size_t pos = 0;
    struct gz_slice name, value;
    while (store_headers_next(c->src.headers, &pos, &name, &value)) {
        if (!gz_slice_starts_with(name, "x-amz-checksum-"))
            continue;
        if (store_headers_add(&c->headers, name, value) < 0)
            return S3_ERR_METADATA_TOO_LARGE;
    }
    if (s3__acl_header_add(&c->headers, c->acl) < 0)
        return S3_ERR_METADATA_TOO_LARGE;
    memset(&c->meta, 0, sizeof(c->meta));
    c->meta.headers = gz_buf_slice(&c->headers);
    return S3_OK;
}

/* COPY with x-amz-storage-class (how S3 objects change class in place) or an ACL to set or
 * drop: the source's headers with the new class (if sc.ptr) and the copy's own ACL. */
static enum s3_err copy_headers_from_source(struct copy_ctx *c, struct gz_slice sc)
{
    if (sc.ptr && !s3__storage_class_valid(sc))
        return S3_ERR_INVALID_STORAGE_CLASS;
    gz_buf_free(&c->headers);
    gz_buf_init(&c->headers, COPY_META_MAX);
    size_t pos = 0;
    struct gz_slice name, value;
    int rc = 0;
    while (rc == 0 && store_headers_next(c->src.headers, &pos, &name, &value))
        if (!(sc.ptr && gz_slice_case_eq_cstr(name, "x-amz-storage-class")) &&
            !gz_slice_eq_cstr(name, S3_ACL_HEADER))
            rc = store_headers_add(&c->headers, name, value);
    if (rc == 0 && sc.ptr)
        rc = store_headers_add(&c->headers, GZ_SLICE_LIT("x-amz-storage-class"), sc);
    if (rc == 0)
        rc = s3__acl_header_add(&c->headers, c->acl);
    if (rc < 0)
        return S3_ERR_METADATA_TOO_LARGE;
    memset(&c->meta, 0, sizeof(c->meta));
    c->meta.headers = gz_buf_slice(&c->headers);
    return S3_OK;
}

static void copy_done(struct s3_request *r, int status, void *ud);

/* Stats the source, checks everything, starts the store copy. Returns an error to reply. */
static enum s3_err copy_attempt(struct copy_ctx *c, char *msg, size_t msgsz)
{
    struct s3_request *r = c->r;
    gz_buf_free(&c->src_hold);
    int rc = store_object_stat(r->svc->store, c->src_bucket, c->src_key, &c->src, &c->src_hold);
    if (rc < 0) {
        enum s3_err e = s3_err_from_gz(rc);
        if (e == S3_ERR_INTERNAL_ERROR)
            log_error("request %s: stat copy source: %s", r->info->request_id, gz_strerror(rc));
        return e;
    }
    enum s3_err e = copy_conditions(c);
    if (e != S3_OK)
        return e;
    if (c->src.size > S3_MAX_PUT_SIZE) {
        snprintf(msg, msgsz,
                 "The specified copy source is larger than the maximum allowable "
                 "size for a copy source: %lld",
                 (long long)S3_MAX_PUT_SIZE);
        return S3_ERR_INVALID_REQUEST;
    }
    struct gz_slice sc = s3_header(r, "x-amz-storage-class");
    bool same = gz_slice_eq(c->src_bucket, r->bucket) && gz_slice_eq(c->src_key, r->key);
    bool via_sse =
        c->dst_q.alg != SSE_ALG_NONE || c->src_q.customer || s3__sse_is_encrypted(c->src.headers);
    if (!c->replace && sc.ptr == NULL && same && !via_sse) {
        snprintf(msg, msgsz,
                 "This copy request is illegal because it is trying to copy an "
                 "object to itself without changing the object's metadata, storage "
                 "class, website redirect location or encryption attributes.");
        return S3_ERR_INVALID_REQUEST;
    }
    bool new_headers = c->replace || sc.ptr != NULL || c->acl != IAM_ACL_PRIVATE ||
                       s3__acl_from_headers(c->src.headers) != IAM_ACL_PRIVATE;
    if (c->replace)
        e = copy_build_headers(c, msg, msgsz);
    else if (new_headers || via_sse)
        e = copy_headers_from_source(c, sc);
    if (e == S3_OK)
        e = s3__quota_precheck(r, r->bucket, r->key, c->src.size, 1, msg, msgsz);
    if (e != S3_OK)
        return e;
    if (via_sse) {
        struct s3__sse_copy_args a = {.src_bucket = c->src_bucket,
                                      .src_key = c->src_key,
                                      .src_etag = c->src.etag,
                                      .src_q = &c->src_q,
                                      .dst_q = &c->dst_q,
                                      .headers = gz_buf_slice(&c->headers)};
        s3__sse_copy_object(r, &a);
        return S3_OK;
    }
    c->attempts++;
    c->hop.r = r;
    c->hop.fn = copy_done;
    c->hop.ud = c;
    store_object_copy(r->svc->store, c->src_bucket, c->src_key, c->src.etag, r->bucket, r->key,
                      new_headers ? &c->meta : NULL, s3__hop_done, &c->hop);
    return S3_OK;
}

static void copy_reply(struct copy_ctx *c)
{
    struct s3_request *r = c->r;
    struct store_meta dst;
    struct gz_buf hold;
    gz_buf_init(&hold, 0);
    int64_t mtime_ms = gz_now_ms();
    const char *etag = c->src.etag;
    if (store_object_stat(r->svc->store, r->bucket, r->key, &dst, &hold) == 0) {
        mtime_ms = dst.mtime_ms;
        etag = dst.etag;
    }
    char date[25], quoted[51];
    gz_time_iso8601(mtime_ms, date);
    s3_etag_quote(etag, quoted);
    gz_buf_free(&hold);
    struct gz_buf x;
    gz_buf_init(&x, 4096);
    s3_xml_begin(&x, "CopyObjectResult");
    s3_xml_elem(&x, "LastModified", gz_slice_cstr(date));
    s3_xml_elem(&x, "ETag", gz_slice_cstr(quoted));
    s3_xml_end(&x, "CopyObjectResult");
    s3_reply_xml(r, 200, &x);
}

static void copy_done(struct s3_request *r, int status, void *ud)
{
    struct copy_ctx *c = ud;
    char msg[256] = "";
    if (status == GZ_EINVALIDPART && c->attempts < COPY_MAX_ATTEMPTS) {
        /* The source changed under us: check it again (its preconditions may now fail). */
        enum s3_err e = copy_attempt(c, msg, sizeof(msg));
        if (e != S3_OK)
            s3_reply_error(r, e, msg[0] ? msg : NULL);
        return;
    }
    if (status == GZ_EINVALIDPART) {
        s3_reply_error(r, S3_ERR_SLOW_DOWN, "The copy source kept changing; retry.");
        return;
    }
    if (status == GZ_EQUOTA) {
        s3__reply_quota(r, r->bucket, r->key, c->src.size, 1);
        return;
    }
    if (status < 0) {
        s3__reply_store_error(r, status, "copy object");
        return;
    }
    copy_reply(c);
}

void s3_object_copy(struct s3_request *r)
{
    char msg[256] = "";
    struct copy_ctx *c = http_req_alloc(r->req, sizeof(*c));
    memset(c, 0, sizeof(*c));
    c->r = r;
    gz_buf_init(&c->src_hold, 0);
    gz_buf_init(&c->headers, COPY_META_MAX);
    http_req_on_free(r->req, copy_ctx_free, c);
    enum s3_err e = copy_parse_directive(c, msg, sizeof(msg));
    if (e == S3_OK)
        e = copy_parse_source(c, msg, sizeof(msg));
    if (e == S3_OK)
        e = s3__acl_from_request(r, &c->acl, msg, sizeof(msg));
    if (e == S3_OK)
        e = s3__bucket_access(r, r->bucket, NULL);
    if (e == S3_OK) /* the destination was authorised by the router; the source is read */
        e = s3__authorize(r, "s3:GetObject", c->src_bucket, c->src_key, msg, sizeof(msg));
    if (e == S3_OK)
        e = s3__sse_key_request(r, true, &c->src_q, msg, sizeof(msg));
    if (e == S3_OK)
        e = s3__sse_write_request(r, &c->dst_q, msg, sizeof(msg));
    if (e == S3_OK)
        e = copy_attempt(c, msg, sizeof(msg));
    if (e != S3_OK)
        s3_reply_error(r, e, msg[0] ? msg : NULL);
}
