/*
 * object_put.c - PutObject. The body streams from the HTTP core through s3_payload (chunk
 * signatures, Content-MD5, checksums, SHA-256) into a store writer; the object becomes
 * visible only when store_object_commit reports it durable. The writer is written on the
 * loop thread: a page-cache write of at most one HTTP body chunk.
 *
 * Ownership: the put context lives in the request arena; its cleanup hook (run when the
 * request is freed) releases the payload verifier and aborts a writer still held, so every
 * early exit leaves no file behind.
 *
 * Large bodies are digested on another core (s3_payload_offload): every reply, error or
 * success, first waits for s3_payload_settle, so the request is never finished while the
 * hasher may still post to it.
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>

#include "sse_int.h"

#define PUT_META_MAX (16 * 1024)

struct put_ctx {
    struct s3_request *r;
    struct s3_payload *pl;
    struct store_writer *w;
    struct gz_buf headers; /* store header encoding */
    struct store_meta meta;
    struct s3__hop hop;
    struct s3__sse_put *sse; /* encrypting, or NULL */
    int64_t plain;           /* body bytes received */
    enum s3_err err;         /* first error while streaming */
    bool replied;
    enum s3_err reply_err; /* the error replied once the payload has settled */
    char reply_msg[256];
};

static void put_ctx_free(void *arg)
{
    struct put_ctx *c = arg;
    s3_payload_free(c->pl);
    s3__sse_put_free(c->sse);
    store_writer_abort(c->w);
    gz_buf_free(&c->headers);
}

static void put_error_settled(void *ud)
{
    struct put_ctx *c = ud;
    s3_reply_error(c->r, c->reply_err, c->reply_msg[0] ? c->reply_msg : NULL);
}

static void put_reply_error(struct put_ctx *c, enum s3_err e, const char *msg)
{
    if (c->replied)
        return;
    c->replied = true;
    store_writer_abort(c->w);
    c->w = NULL;
    c->reply_err = e;
    snprintf(c->reply_msg, sizeof(c->reply_msg), "%s", msg ? msg : "");
    if (s3_payload_settle(c->pl, true, put_error_settled, c) == 0)
        put_error_settled(c);
}

static int put_emit(void *ud, struct gz_slice data)
{
    struct put_ctx *c = ud;
    if (c->err != S3_OK)
        return -ECANCELED;
    if (c->plain + (int64_t)data.len > S3_MAX_PUT_SIZE) {
        c->err = S3_ERR_ENTITY_TOO_LARGE;
        return -EFBIG;
    }
    c->plain += (int64_t)data.len;
    int rc = c->sse ? s3__sse_put_write(c->sse, data.ptr, data.len)
                    : store_writer_write(c->w, data.ptr, data.len);
    if (rc < 0) {
        log_error("request %s: object write: %s", c->r->info->request_id, gz_strerror(rc));
        c->err = s3_err_from_gz(rc);
    }
    return rc;
}

static void put_data(struct http_req *req, struct gz_slice data, void *ud)
{
    struct put_ctx *c = ud;
    (void)req;
    if (c->replied || c->err != S3_OK)
        return;
    enum s3_err e = s3_payload_feed(c->pl, data, put_emit, c);
    const char *msg = NULL;
    if (c->err == S3_OK) {
        c->err = e;
        msg = s3_payload_error(c->pl);
    }
    if (c->err != S3_OK)
        put_reply_error(c, c->err, msg && *msg ? msg : NULL);
}

static void lower_ascii(char *s)
{
    for (; *s; s++)
        *s = (char)(*s >= 'A' && *s <= 'Z' ? *s - 'A' + 'a' : *s);
}

static void put_committed(struct s3_request *r, int status, void *ud)
{
    struct put_ctx *c = ud;
    if (status == GZ_EQUOTA) { /* another upload took the room meanwhile */
        s3__reply_quota(r, r->bucket, r->key, s3_payload_length(c->pl), 1);
        return;
    }
    if (status < 0) {
        s3__reply_store_error(r, status, "commit object");
        return;
    }
    char etag[51];
    s3_etag_quote(c->meta.etag, etag);
    http_resp_header(r->req, "ETag", gz_slice_cstr(etag));
    s3__sse_resp_headers(r, gz_buf_slice(&c->headers));
    enum gz_hash_alg alg = s3_payload_checksum_alg(c->pl);
    if (alg != GZ_HASH_NONE) {
        char name[64];
        snprintf(name, sizeof(name), "x-amz-checksum-%s", gz_hash_alg_name(alg));
        lower_ascii(name);
        http_resp_header(r->req, name, gz_slice_cstr(s3_payload_checksum_b64(c->pl)));
    }
    s3_reply_empty(r, 200);
}

/* Adds the verified checksum (which may have come in a trailer) unless a header had it. */
static int put_add_checksum(struct put_ctx *c)
{
    enum gz_hash_alg alg = s3_payload_checksum_alg(c->pl);
    if (alg == GZ_HASH_NONE)
        return 0;
    char name[64];
    snprintf(name, sizeof(name), "x-amz-checksum-%s", gz_hash_alg_name(alg));
    lower_ascii(name);
    size_t pos = 0;
    struct gz_slice n, v;
    while (store_headers_next(gz_buf_slice(&c->headers), &pos, &n, &v))
        if (gz_slice_case_eq_cstr(n, name))
            return 0;
    return store_headers_add(&c->headers, gz_slice_cstr(name),
                             gz_slice_cstr(s3_payload_checksum_b64(c->pl)));
}

static void put_finish(void *ud);

static void put_end(struct http_req *req, int status, void *ud)
{
    struct put_ctx *c = ud;
    (void)req;
    if (c->replied)
        return;
    if (c->err != S3_OK || status < 0) {
        put_reply_error(c, c->err != S3_OK ? c->err : s3_err_from_body(status), NULL);
        return;
    }
    if (s3_payload_settle(c->pl, false, put_finish, c) == 0)
        put_finish(c);
}

/* The whole body is in and digested: verify, then commit. */
static void put_finish(void *ud)
{
    struct put_ctx *c = ud;
    char msg[256] = "";
    enum s3_err e = s3_payload_finish(c->pl, msg, sizeof(msg));
    if (e == S3_OK && put_add_checksum(c) < 0)
        e = S3_ERR_METADATA_TOO_LARGE;
    if (e == S3_OK && c->sse && s3__sse_put_finish(c->sse) < 0)
        e = S3_ERR_INTERNAL_ERROR;
    if (e != S3_OK) {
        put_reply_error(c, e, msg[0] ? msg : NULL);
        return;
    }
    s3__sse_put_etag(c->sse, s3_payload_md5(c->pl), c->meta.etag);
    c->meta.mtime_ms = gz_now_ms();
    c->meta.headers = gz_buf_slice(&c->headers);
    c->hop.r = c->r;
    c->hop.fn = put_committed;
    c->hop.ud = c;
    struct store_writer *w = c->w;
    c->w = NULL; /* the commit owns it now, whatever happens */
    c->replied = true;
    store_object_commit(c->r->svc->store, w, c->r->bucket, c->r->key, &c->meta, s3__hop_done,
                        &c->hop);
}

/* Checks what can be checked before reading a byte of the body. */
static enum s3_err put_precheck(struct s3_request *r, char *msg, size_t msgsz)
{
    enum s3_err e = s3__bucket_access(r, r->bucket, NULL);
    if (e != S3_OK)
        return e;
    const struct http_req_info *info = r->info;
    if (info->content_length < 0 && !info->chunked)
        return S3_ERR_MISSING_CONTENT_LENGTH;
    uint64_t declared = 0;
    struct gz_slice dec = s3_header(r, "x-amz-decoded-content-length");
    struct gz_slice ce = s3_header(r, "content-encoding");
    bool aws_chunked = ce.ptr && memmem(ce.ptr, ce.len, "aws-chunked", 11) != NULL;
    if (dec.ptr) {
        if (gz_slice_to_u64(dec, &declared) < 0)
            declared = 0; /* s3_payload_new rejects it with the right error */
    } else if (!aws_chunked && info->content_length > 0) {
        declared = (uint64_t)info->content_length;
    }
    if (declared > (uint64_t)S3_MAX_PUT_SIZE)
        return S3_ERR_ENTITY_TOO_LARGE;
    if (dec.ptr == NULL && (aws_chunked || info->content_length < 0))
        return S3_OK; /* size unknown: the store's commit enforces quotas */
    return s3__quota_precheck(r, r->bucket, r->key, (int64_t)declared, 1, msg, msgsz);
}

void s3_object_put(struct s3_request *r)
{
    char msg[256] = "";
    enum s3_err e = put_precheck(r, msg, sizeof(msg));
    if (e != S3_OK) {
        s3_reply_error(r, e, msg[0] ? msg : NULL);
        return;
    }
    struct put_ctx *c = http_req_alloc(r->req, sizeof(*c));
    memset(c, 0, sizeof(*c));
    c->r = r;
    gz_buf_init(&c->headers, PUT_META_MAX);
    http_req_on_free(r->req, put_ctx_free, c);
    enum iam_acl acl = IAM_ACL_PRIVATE;
    struct s3__sse_req sse;
    e = s3__sse_write_request(r, &sse, msg, sizeof(msg));
    if (e == S3_OK)
        e = s3_meta_from_request(r, &c->headers, msg, sizeof(msg));
    if (e == S3_OK)
        e = s3__acl_from_request(r, &acl, msg, sizeof(msg));
    if (e == S3_OK && s3__acl_header_add(&c->headers, acl) < 0)
        e = S3_ERR_METADATA_TOO_LARGE;
    if (e == S3_OK)
        e = s3_payload_new(&r->auth, r->info, &c->pl, msg, sizeof(msg));
    if (e != S3_OK) {
        put_reply_error(c, e, msg[0] ? msg : NULL);
        return;
    }
    s3_payload_offload(c->pl, r);
    int rc = store_writer_open(r->svc->store, &c->w);
    if (rc < 0) {
        c->replied = true;
        s3__reply_store_error(r, rc, "open object writer");
        return;
    }
    if (sse.alg != SSE_ALG_NONE)
        e = s3__sse_put_begin(r, &sse, &c->headers, c->w, &c->sse);
    OPENSSL_cleanse(&sse, sizeof(sse));
    if (e != S3_OK) {
        put_reply_error(c, e, NULL);
        return;
    }
    http_req_read_body(r->req, put_data, put_end, c);
}
