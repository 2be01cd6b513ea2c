/*
 * sse_copy.c - CopyObject when either side is encrypted: the bytes pass through us (the
 * source decrypted, the destination sealed under its own new data key), since a shared file
 * cannot change its key. The copy runs in turns of SSE_COPY_TURN bytes on the loop thread,
 * posting itself between turns so one large copy does not stall other connections, then
 * commits like a PUT. The ETag is the MD5 of the plaintext, computed on the way.
 *
 * Ownership: the context lives in the request arena; its cleanup hook closes the reader,
 * the decrypting view, the encryptor and aborts a writer still held.
 */
#include <errno.h>
#include <stdio.h>

#include "../util/hash.h"
#include "sse_int.h"

#define SSE_COPY_TURN (4 * 1024 * 1024)
#define SSE_COPY_BUF (256 * 1024)
#define SSE_COPY_META_MAX (16 * 1024)

struct sse_copy {
    struct s3__hop hop;
    struct store_reader *rd;
    struct s3__sse_get *dec; /* the source is encrypted */
    struct store_writer *w;
    struct s3__sse_put *enc; /* the destination is encrypted */
    struct gz_hash md5;
    bool hashing;
    uint8_t *buf;
    int64_t pos, size; /* plaintext */
    struct gz_buf headers;
    struct store_meta meta;
};

static void sse_copy_cleanup(void *arg)
{
    struct sse_copy *c = arg;
    s3__sse_get_free(c->dec);
    store_reader_close(c->rd);
    s3__sse_put_free(c->enc);
    store_writer_abort(c->w);
    if (c->hashing)
        gz_hash_dispose(&c->md5);
    gz_free(c->buf);
    gz_buf_free(&c->headers);
}

static void sse_copy_done(struct s3_request *r, int status, void *ud)
{
    struct sse_copy *c = ud;
    if (status == GZ_EQUOTA) {
        s3__reply_quota(r, r->bucket, r->key, c->size, 1);
        return;
    }
    if (status < 0) {
        s3__reply_store_error(r, status, "copy object");
        return;
    }
    char date[25], quoted[51];
    gz_time_iso8601(c->meta.mtime_ms, date);
    s3_etag_quote(c->meta.etag, quoted);
    struct gz_buf x;
    gz_buf_init(&x, 4096);
    s3_xml_begin(&x, "CopyObjectResult");
    s3_xml_elem(&x, "LastModified", gz_slice_cstr(date));
    s3_xml_elem(&x, "ETag", gz_slice_cstr(quoted));
    s3_xml_end(&x, "CopyObjectResult");
    s3__sse_resp_headers(r, gz_buf_slice(&c->headers));
    s3_reply_xml(r, 200, &x);
    gz_buf_free(&x);
}

static void sse_copy_commit(struct sse_copy *c)
{
    struct s3_request *r = c->hop.r;
    uint8_t md5[GZ_HASH_MAX_LEN];
    if (c->enc && s3__sse_put_finish(c->enc) < 0) {
        s3_reply_error(r, S3_ERR_INTERNAL_ERROR, NULL);
        return;
    }
    gz_hash_final(&c->md5, md5);
    c->hashing = false;
    s3__sse_put_etag(c->enc, md5, c->meta.etag);
    c->meta.mtime_ms = gz_now_ms();
    c->meta.headers = gz_buf_slice(&c->headers);
    store_reader_close(c->rd);
    c->rd = NULL;
    struct store_writer *w = c->w;
    c->w = NULL;
    store_object_commit(r->svc->store, w, r->bucket, r->key, &c->meta, s3__hop_done, &c->hop);
}

/* Next plaintext piece of the source into *out. */
static int sse_copy_read(struct sse_copy *c, struct gz_slice *out)
{
    int64_t want = GZ_MIN(c->size - c->pos, (int64_t)SSE_COPY_BUF);
    if (c->dec)
        return s3__sse_get_read(c->dec, c->pos, want, out);
    int64_t got = store_reader_read(c->rd, c->buf, (size_t)want);
    if (got <= 0)
        return got < 0 ? (int)got : GZ_ECLOSED;
    *out = gz_slice(c->buf, (size_t)got);
    return 0;
}

static void sse_copy_step(struct http_req *req, void *arg)
{
    struct sse_copy *c = arg;
    int64_t budget = SSE_COPY_TURN;
    int rc = 0;
    while (rc == 0 && c->pos < c->size && budget > 0) {
        struct gz_slice s;
        rc = sse_copy_read(c, &s);
        if (rc == 0 && s.len == 0)
            rc = GZ_ECLOSED;
        if (rc < 0)
            break;
        gz_hash_update(&c->md5, s.ptr, s.len);
        rc = c->enc ? s3__sse_put_write(c->enc, s.ptr, s.len)
                    : store_writer_write(c->w, s.ptr, s.len);
        c->pos += (int64_t)s.len;
        budget -= (int64_t)s.len;
    }
    if (rc == 0 && c->pos < c->size) {
        if (http_req_is_closed(req))
            rc = GZ_ECLOSED;
        else if ((rc = http_req_post(req, sse_copy_step, c)) == 0)
            return;
    }
    if (rc == GZ_ECORRUPT) {
        store_reader_mark_corrupt(c->rd, "a segment does not authenticate (found by a "
                                          "copy)");
        log_error("request %s: SSE: copy source does not authenticate at %lld (tampered or "
                  "corrupt on disk)",
                  c->hop.r->info->request_id, (long long)c->pos);
        s3_reply_error(c->hop.r, S3_ERR_INTERNAL_ERROR, NULL);
        return;
    }
    if (rc < 0) {
        s3__reply_store_error(c->hop.r, rc, "copy object");
        return;
    }
    sse_copy_commit(c);
}

/* Drops the source's encryption headers from a header encoding (the copy gets its own). */
static int strip_sse_headers(struct gz_slice in, struct gz_buf *out)
{
    size_t pos = 0;
    struct gz_slice n, v;
    int rc = 0;
    while (rc == 0 && store_headers_next(in, &pos, &n, &v))
        if (!gz_slice_starts_with(n, SSE_HEADER) &&
            !gz_slice_starts_with(n, "x-amz-server-side-encryption"))
            rc = store_headers_add(out, n, v);
    return rc;
}

/* Opens the source (the version stat'd: etag), the decrypting view, the writer and the
 * encryptor. */
static enum s3_err sse_copy_open(struct s3_request *r, struct sse_copy *c,
                                 const struct s3__sse_copy_args *a, char *msg, size_t msgsz)
{
    struct store_meta m;
    int rc = store_object_open(r->svc->store, a->src_bucket, a->src_key, &c->rd, &m);
    if (rc < 0)
        return s3_err_from_gz(rc);
    if (strcmp(m.etag, a->src_etag) != 0) {
        snprintf(msg, msgsz, "The copy source changed during the copy; retry.");
        return S3_ERR_SLOW_DOWN;
    }
    c->size = m.size;
    enum s3_err e = s3__sse_get_open(r, m.headers, m.size, c->rd, a->src_q, 0, &c->dec, msg, msgsz);
    if (e != S3_OK)
        return e;
    if (c->dec)
        c->size = s3__sse_get_size(c->dec);
    if (strip_sse_headers(a->headers, &c->headers) < 0)
        return S3_ERR_METADATA_TOO_LARGE;
    rc = store_writer_open(r->svc->store, &c->w);
    if (rc < 0)
        return s3_err_from_gz(rc);
    if (a->dst_q->alg != SSE_ALG_NONE)
        return s3__sse_put_begin(r, a->dst_q, &c->headers, c->w, &c->enc);
    return S3_OK;
}

void s3__sse_copy_object(struct s3_request *r, const struct s3__sse_copy_args *a)
{
    char msg[256] = "";
    struct sse_copy *c = http_req_alloc(r->req, sizeof(*c));
    memset(c, 0, sizeof(*c));
    c->hop = (struct s3__hop){.r = r, .fn = sse_copy_done, .ud = c};
    gz_buf_init(&c->headers, SSE_COPY_META_MAX);
    http_req_on_free(r->req, sse_copy_cleanup, c);
    enum s3_err e = sse_copy_open(r, c, a, msg, sizeof(msg));
    if (e != S3_OK) {
        s3_reply_error(r, e, msg[0] ? msg : NULL);
        return;
    }
    c->buf = gz_malloc(SSE_COPY_BUF);
    gz_hash_init(&c->md5, GZ_HASH_MD5);
    c->hashing = true;
    sse_copy_step(r->req, c);
}
