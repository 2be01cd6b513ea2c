/*
 * multipart.c - the multipart upload write path: CreateMultipartUpload, UploadPart (the body
 * streamed through s3_payload verification into a store writer), UploadPartCopy (a byte range
 * of an existing object copied into a new part), CompleteMultipartUpload (parts validated
 * here, then joined by the store without copying a byte) and AbortMultipartUpload.
 *
 * Store mutations finish on a store thread: each handler keeps its state in the request arena
 * and hops back to the loop thread (s3__hop_done) before replying. The payload verifier,
 * writer and reader a handler holds are released by a cleanup hook when the request is freed,
 * so every exit path, including a client that vanishes mid-body, leaks nothing and leaves no
 * half-written part behind.
 */
#include <errno.h>
#include <stdio.h>

#include "list_util.h"
#include "s3_obj_int.h"
#include "sse_int.h"

#define UPLOAD_HOLD_MAX (1024 * 1024) /* an upload's stored headers */
#define PART_COPY_BUF (256 * 1024)
#define PART_COPY_TURN (4 * 1024 * 1024) /* bytes copied before yielding to the loop */
#define MPU_XML_MAX (64 * 1024)

/* ---- shared ---- */

static void reply_err(struct s3_request *r, enum s3_err e, const char *msg)
{
    s3_reply_error(r, e, msg && msg[0] ? msg : NULL);
}

/* Bucket access, then the upload, which must belong to (bucket, key). up/hold as in
 * store_upload_get. */
static enum s3_err upload_find(struct s3_request *r, char id[STORE_UPLOAD_ID_LEN + 1],
                               struct store_upload *up, struct gz_buf *hold)
{
    const struct s3_param *p = s3_param_get(r, "uploadId");
    enum s3_err e = s3__bucket_access(r, r->bucket, NULL);
    int rc;

    if (e == S3_OK && !s3__upload_id_parse(p ? p->value : GZ_SLICE_NULL, id))
        e = S3_ERR_NO_SUCH_UPLOAD;
    if (e != S3_OK)
        return e;
    rc = store_upload_get(r->svc->store, r->bucket, r->key, id, up, hold);
    return rc < 0 ? s3_err_from_gz(rc) : S3_OK;
}

static enum s3_err part_number_param(const struct s3_request *r, int *out, char *msg, size_t n)
{
    const struct s3_param *p = s3_param_get(r, "partNumber");
    uint64_t v = 0;

    if (!p || gz_slice_to_u64(p->value, &v) < 0 || v < 1 || v > STORE_MAX_PARTS) {
        snprintf(msg, n, "Part number must be an integer between 1 and %d, inclusive",
                 STORE_MAX_PARTS);
        return S3_ERR_INVALID_ARGUMENT;
    }
    *out = (int)v;
    return S3_OK;
}

/* ---- CreateMultipartUpload ---- */

void s3_multipart_create(struct s3_request *r)
{
    char id[STORE_UPLOAD_ID_LEN + 1], msg[256] = "";
    struct gz_slice alg = s3_header(r, "x-amz-checksum-algorithm");
    struct gz_buf enc, x;
    enum iam_acl acl = IAM_ACL_PRIVATE;
    struct s3__sse_req sse;
    struct s3__sse_put *none = NULL;
    enum s3_err e;
    int rc;

    gz_buf_init(&enc, UPLOAD_HOLD_MAX);
    gz_buf_init(&x, MPU_XML_MAX);
    e = s3__bucket_access(r, r->bucket, NULL);
    if (e == S3_OK)
        e = s3__sse_write_request(r, &sse, msg, sizeof(msg));
    if (e == S3_OK)
        e = s3_meta_from_request(r, &enc, msg, sizeof(msg));
    if (e == S3_OK) /* the completed object's ACL rides with the upload's headers */
        e = s3__acl_from_request(r, &acl, msg, sizeof(msg));
    if (e == S3_OK && s3__acl_header_add(&enc, acl) < 0)
        e = S3_ERR_METADATA_TOO_LARGE;
    if (e == S3_OK && sse.alg != SSE_ALG_NONE) /* the upload's data key, for every part */
        e = s3__sse_put_begin(r, &sse, &enc, NULL, &none);
    memset(&sse, 0, sizeof(sse));
    if (e != S3_OK) {
        reply_err(r, e, msg);
        goto out;
    }
    rc = store_upload_create(r->svc->store, r->bucket, r->key, gz_buf_slice(&enc), id);
    if (rc < 0) {
        s3__reply_store_error(r, rc, "create multipart upload");
        goto out;
    }
    s3_xml_begin(&x, "InitiateMultipartUploadResult");
    s3_xml_elem(&x, "Bucket", r->bucket);
    s3_xml_elem(&x, "Key", r->key);
    s3_xml_elem(&x, "UploadId", gz_slice_cstr(id));
    s3_xml_end(&x, "InitiateMultipartUploadResult");
    if (alg.ptr)
        http_resp_header(r->req, "x-amz-checksum-algorithm", alg);
    s3__sse_resp_headers(r, gz_buf_slice(&enc));
    s3_reply_xml(r, 200, &x);
out:
    gz_buf_free(&enc);
    gz_buf_free(&x);
}

/* ---- UploadPart ---- */

struct part_put {
    struct s3__hop hop;
    struct s3_payload *pl;
    struct store_writer *w;
    char upload_id[STORE_UPLOAD_ID_LEN + 1];
    int part_number;
    enum s3_err err; /* first failure */
    bool replied;    /* answered early: the HTTP core drops the rest */
    char msg[256];
    char etag[33];
    enum gz_hash_alg ck_alg;
    char ck_b64[64];
    struct gz_buf up_hold;   /* the upload's headers (SSE response headers) */
    struct s3__sse_put *enc; /* the upload is encrypted */
};

static void part_put_cleanup(void *arg)
{
    struct part_put *pp = arg;

    s3_payload_free(pp->pl);
    pp->pl = NULL;
    s3__sse_put_free(pp->enc);
    pp->enc = NULL;
    store_writer_abort(pp->w);
    pp->w = NULL;
    gz_buf_free(&pp->up_hold);
}

static void part_put_fail(struct part_put *pp, enum s3_err e)
{
    if (pp->err == S3_OK)
        pp->err = e;
    store_writer_abort(pp->w);
    pp->w = NULL;
}

static int part_put_emit(void *ud, struct gz_slice data)
{
    struct part_put *pp = ud;
    int rc;

    if (store_writer_size(pp->w) + (int64_t)data.len > S3_MAX_PUT_SIZE) {
        part_put_fail(pp, S3_ERR_ENTITY_TOO_LARGE);
        return -E2BIG;
    }
    rc = pp->enc ? s3__sse_put_write(pp->enc, data.ptr, data.len)
                 : store_writer_write(pp->w, data.ptr, data.len);
    if (rc < 0) {
        log_error("upload part: write failed: %s", gz_strerror(rc));
        part_put_fail(pp, s3_err_from_gz(rc));
    }
    return rc;
}

/* Replies pp->err once the payload's hasher is off the request (s3_payload_settle). */
static void part_put_err_settled(void *ud)
{
    struct part_put *pp = ud;

    reply_err(pp->hop.r, pp->err, pp->msg);
}

static void part_put_reply_err(struct part_put *pp)
{
    if (s3_payload_settle(pp->pl, true, part_put_err_settled, pp) == 0)
        part_put_err_settled(pp);
}

static void part_put_on_data(struct http_req *req, struct gz_slice data, void *ud)
{
    struct part_put *pp = ud;
    enum s3_err e;

    if (pp->replied)
        return;
    e = s3_payload_feed(pp->pl, data, part_put_emit, pp);
    if (e != S3_OK)
        part_put_fail(pp, e); /* keeps an error part_put_emit recorded first */
    if (pp->err != S3_OK) {
        /* Answer now rather than read gigabytes we will refuse (the HTTP core stops
         * delivering body data and closes or drains after the response). */
        pp->replied = true;
        part_put_reply_err(pp);
    }
}

static void part_put_resume(struct s3_request *r, int status, void *ud)
{
    struct part_put *pp = ud;
    char q[51], name[48];
    const char *alg;
    size_t i;

    if (status < 0) {
        s3__reply_store_error(r, status, "upload part");
        return;
    }
    s3_etag_quote(pp->etag, q);
    http_resp_header(r->req, "ETag", gz_slice_cstr(q));
    s3__sse_resp_headers(r, gz_buf_slice(&pp->up_hold));
    if (pp->ck_alg != GZ_HASH_NONE && pp->ck_b64[0]) {
        alg = gz_hash_alg_name(pp->ck_alg);
        snprintf(name, sizeof(name), "x-amz-checksum-%s", alg);
        for (i = 0; name[i]; i++)
            if (name[i] >= 'A' && name[i] <= 'Z')
                name[i] = (char)(name[i] - 'A' + 'a');
        http_resp_header(r->req, name, gz_slice_cstr(pp->ck_b64));
    }
    s3_reply_empty(r, 200);
}

static void part_put_finish(void *ud);

static void part_put_on_end(struct http_req *req, int status, void *ud)
{
    struct part_put *pp = ud;

    if (pp->replied)
        return;
    pp->replied = true;
    if (status < 0)
        part_put_fail(pp, s3_err_from_body(status));
    if (pp->err != S3_OK) {
        part_put_reply_err(pp);
        return;
    }
    if (s3_payload_settle(pp->pl, false, part_put_finish, pp) == 0)
        part_put_finish(pp);
}

/* The whole part is in and digested: verify, then commit. */
static void part_put_finish(void *ud)
{
    struct part_put *pp = ud;
    struct s3_request *r = pp->hop.r;
    struct store_writer *w;
    const char *b64;

    if (pp->err == S3_OK) {
        enum s3_err e = s3_payload_finish(pp->pl, pp->msg, sizeof(pp->msg));

        if (e != S3_OK)
            part_put_fail(pp, e);
    }
    if (pp->err == S3_OK && pp->enc && s3__sse_put_finish(pp->enc) < 0)
        part_put_fail(pp, S3_ERR_INTERNAL_ERROR);
    if (pp->err != S3_OK) {
        reply_err(r, pp->err, pp->msg);
        return;
    }
    s3__sse_put_etag(pp->enc, s3_payload_md5(pp->pl), pp->etag);
    pp->ck_alg = s3_payload_checksum_alg(pp->pl);
    b64 = s3_payload_checksum_b64(pp->pl);
    snprintf(pp->ck_b64, sizeof(pp->ck_b64), "%s", b64 ? b64 : "");
    s3_payload_free(pp->pl);
    pp->pl = NULL;
    w = pp->w;
    pp->w = NULL;
    store_upload_part_commit(r->svc->store, pp->upload_id, pp->part_number, w, pp->etag,
                             s3__hop_done, &pp->hop);
}

/* Refuses bodies that cannot be a part before reading a byte of them: too large, or larger
 * than the room a quota leaves (parts count once completed; this refuses hopeless ones). */
static enum s3_err part_put_length_check(struct s3_request *r, char *msg, size_t msgsz)
{
    struct gz_slice dl = s3_header(r, "x-amz-decoded-content-length");
    struct gz_slice ce = s3_header(r, "content-encoding");
    uint64_t v;
    int64_t len = -1;

    if (r->info->content_length < 0 && !r->info->chunked)
        return S3_ERR_MISSING_CONTENT_LENGTH;
    if (dl.ptr && gz_slice_to_u64(dl, &v) == 0)
        len = v > (uint64_t)S3_MAX_PUT_SIZE ? S3_MAX_PUT_SIZE + 1 : (int64_t)v;
    else if (!dl.ptr && !(ce.ptr && memmem(ce.ptr, ce.len, "aws-chunked", 11)))
        len = r->info->content_length;
    if (len > S3_MAX_PUT_SIZE)
        return S3_ERR_ENTITY_TOO_LARGE;
    if (len <= 0)
        return S3_OK;
    return s3__quota_precheck(r, r->bucket, GZ_SLICE_NULL, len, 0, msg, msgsz);
}

static void part_put_start(struct s3_request *r)
{
    struct part_put *pp = http_req_alloc(r->req, sizeof(*pp));
    struct store_upload up;
    struct s3__sse_key dk = {.alg = SSE_ALG_NONE};
    enum s3_err e;
    int rc;

    memset(pp, 0, sizeof(*pp));
    pp->hop = (struct s3__hop){.r = r, .fn = part_put_resume, .ud = pp};
    gz_buf_init(&pp->up_hold, UPLOAD_HOLD_MAX);
    http_req_on_free(r->req, part_put_cleanup, pp);
    e = part_number_param(r, &pp->part_number, pp->msg, sizeof(pp->msg));
    if (e == S3_OK)
        e = upload_find(r, pp->upload_id, &up, &pp->up_hold);
    if (e == S3_OK) /* the upload's data key; SSE-C: the customer's key must match */
        e = s3__sse_upload_key(r, up.headers, &dk, pp->msg, sizeof(pp->msg));
    if (e == S3_OK)
        e = part_put_length_check(r, pp->msg, sizeof(pp->msg));
    if (e == S3_OK)
        e = s3_payload_new(&r->auth, r->info, &pp->pl, pp->msg, sizeof(pp->msg));
    if (e != S3_OK) {
        memset(&dk, 0, sizeof(dk));
        reply_err(r, e, pp->msg);
        return;
    }
    s3_payload_offload(pp->pl, r);
    rc = store_writer_open(r->svc->store, &pp->w);
    if (rc == 0 && dk.alg != SSE_ALG_NONE)
        rc = s3__sse_part_begin(dk.alg, dk.key, dk.customer, pp->part_number, pp->w, &pp->enc);
    memset(&dk, 0, sizeof(dk));
    if (rc < 0) {
        s3__reply_store_error(r, rc, "upload part");
        return;
    }
    http_req_read_body(r->req, part_put_on_data, part_put_on_end, pp);
}

/* ---- UploadPartCopy ---- */

struct part_copy {
    struct s3__hop hop;
    struct store_reader *rd;
    struct store_writer *w;
    struct gz_hash md5;
    bool hashing;
    uint8_t *buf;
    int64_t remaining;
    char upload_id[STORE_UPLOAD_ID_LEN + 1];
    int part_number;
    char etag[33];
    char msg[256];
    struct s3__sse_get *dec; /* the source is encrypted */
    struct s3__sse_put *enc; /* the upload is encrypted */
    int64_t pos;             /* plaintext position in the source, when dec */
    struct gz_buf up_hold;   /* the upload's headers (SSE response headers) */
};

static void part_copy_cleanup(void *arg)
{
    struct part_copy *pc = arg;

    s3__sse_get_free(pc->dec);
    pc->dec = NULL;
    s3__sse_put_free(pc->enc);
    pc->enc = NULL;
    gz_buf_free(&pc->up_hold);

    store_reader_close(pc->rd);
    pc->rd = NULL;
    store_writer_abort(pc->w);
    pc->w = NULL;
    if (pc->hashing)
        gz_hash_dispose(&pc->md5);
    pc->hashing = false;
    gz_free(pc->buf);
    pc->buf = NULL;
}

/* x-amz-copy-source-if-*: the If-* rules, except that every failure is a 412. */
static enum s3_err part_copy_conditions(const struct s3_request *r, const struct store_meta *m)
{
    struct s3__cond c = {
        .if_match = s3_header(r, "x-amz-copy-source-if-match"),
        .if_none_match = s3_header(r, "x-amz-copy-source-if-none-match"),
        .if_modified_since = s3_header(r, "x-amz-copy-source-if-modified-since"),
        .if_unmodified_since = s3_header(r, "x-amz-copy-source-if-unmodified-since"),
    };
    enum s3_err e = s3__cond_eval(&c, m->etag, m->mtime_ms / 1000);

    return e == S3_ERR_NOT_MODIFIED ? S3_ERR_PRECONDITION_FAILED : e;
}

/* The byte range to copy: x-amz-copy-source-range, else the whole source. */
static enum s3_err part_copy_range(const struct s3_request *r, int64_t size, int64_t *first,
                                   int64_t *len, char *msg, size_t n)
{
    struct gz_slice h = s3_header(r, "x-amz-copy-source-range");
    int64_t last;

    if (!h.ptr) {
        if (size > S3_MAX_PUT_SIZE) {
            snprintf(msg, n,
                     "The specified copy source is larger than the maximum allowable "
                     "size for a copy source: %lld",
                     (long long)S3_MAX_PUT_SIZE);
            return S3_ERR_INVALID_REQUEST;
        }
        *first = 0;
        *len = size;
        return S3_OK;
    }
    if (s3__copy_range_parse(h, first, &last) < 0) {
        snprintf(msg, n, "%s",
                 "The x-amz-copy-source-range value must be of the form "
                 "bytes=first-last where first and last are the zero-based offsets of the "
                 "first and last bytes to copy");
        return S3_ERR_INVALID_ARGUMENT;
    }
    if (last >= size) {
        snprintf(msg, n, "Range specified is not valid for source object of size: %lld",
                 (long long)size);
        return S3_ERR_INVALID_RANGE;
    }
    *len = last - *first + 1;
    if (*len > S3_MAX_PUT_SIZE) {
        snprintf(msg, n, "%s", "Part size exceeds the maximum allowed part size of 5 GiB");
        return S3_ERR_INVALID_ARGUMENT;
    }
    return S3_OK;
}

/* Resolves and opens the source, checks conditions and range, positions the reader. */
static enum s3_err part_copy_open(struct s3_request *r, struct part_copy *pc)
{
    struct gz_slice hdr = s3_header(r, "x-amz-copy-source"), sb, sk;
    char *buf = http_req_alloc(r->req, hdr.len + 1);
    struct store_meta meta;
    int64_t first = 0;
    enum s3_err e;
    int rc = s3__copy_source_parse(hdr, buf, hdr.len + 1, &sb, &sk);

    if (rc == -ENOTSUP) {
        snprintf(pc->msg, sizeof(pc->msg), "%s", "Invalid version id specified");
        return S3_ERR_INVALID_ARGUMENT;
    }
    if (rc < 0) {
        snprintf(pc->msg, sizeof(pc->msg), "%s",
                 "Copy Source must mention the source bucket "
                 "and key: sourcebucket/sourcekey");
        return S3_ERR_INVALID_ARGUMENT;
    }
    /* The destination was authorised by the router; the source is read. */
    e = s3__authorize(r, "s3:GetObject", sb, sk, pc->msg, sizeof(pc->msg));
    if (e != S3_OK)
        return e;
    rc = store_object_open(r->svc->store, sb, sk, &pc->rd, &meta);
    if (rc < 0)
        return s3_err_from_gz(rc);
    struct s3__sse_req sq;
    e = s3__sse_key_request(r, true, &sq, pc->msg, sizeof(pc->msg));
    if (e == S3_OK)
        e = s3__sse_get_open(r, meta.headers, meta.size, pc->rd, &sq, 0, &pc->dec, pc->msg,
                             sizeof(pc->msg));
    memset(&sq, 0, sizeof(sq));
    if (e == S3_OK)
        e = part_copy_conditions(r, &meta);
    int64_t size = pc->dec ? s3__sse_get_size(pc->dec) : meta.size;
    if (e == S3_OK)
        e = part_copy_range(r, size, &first, &pc->remaining, pc->msg, sizeof(pc->msg));
    if (e == S3_OK && pc->remaining > 0)
        e = s3__quota_precheck(r, r->bucket, GZ_SLICE_NULL, pc->remaining, 0, pc->msg,
                               sizeof(pc->msg));
    if (e != S3_OK)
        return e;
    pc->pos = first;
    if (pc->dec)
        return S3_OK;
    rc = store_reader_seek(pc->rd, first);
    return rc < 0 ? s3_err_from_gz(rc) : S3_OK;
}

static void part_copy_resume(struct s3_request *r, int status, void *ud)
{
    struct part_copy *pc = ud;
    struct gz_buf x;
    char q[51], t[25];

    if (status < 0) {
        s3__reply_store_error(r, status, "upload part copy");
        return;
    }
    gz_buf_init(&x, MPU_XML_MAX);
    s3_etag_quote(pc->etag, q);
    gz_time_iso8601(gz_now_ms(), t);
    s3__sse_resp_headers(r, gz_buf_slice(&pc->up_hold));
    s3_xml_begin(&x, "CopyPartResult");
    s3_xml_elem(&x, "LastModified", gz_slice_cstr(t));
    s3_xml_elem(&x, "ETag", gz_slice_cstr(q));
    s3_xml_end(&x, "CopyPartResult");
    s3_reply_xml(r, 200, &x);
    gz_buf_free(&x);
}

static void part_copy_commit(struct part_copy *pc)
{
    struct s3_request *r = pc->hop.r;
    uint8_t md5[GZ_HASH_MAX_LEN];
    struct store_writer *w = pc->w;

    if (pc->enc && s3__sse_put_finish(pc->enc) < 0) {
        s3__reply_store_error(r, -EIO, "upload part copy");
        return;
    }
    gz_hash_final(&pc->md5, md5);
    pc->hashing = false;
    s3__sse_put_etag(pc->enc, md5, pc->etag);
    store_reader_close(pc->rd);
    pc->rd = NULL;
    pc->w = NULL;
    store_upload_part_commit(r->svc->store, pc->upload_id, pc->part_number, w, pc->etag,
                             s3__hop_done, &pc->hop);
}

/* Copies up to PART_COPY_TURN bytes, then yields to the loop (so one large copy does not
 * stall every other connection on this thread) by posting itself again. */
static void part_copy_step(struct http_req *req, void *arg)
{
    struct part_copy *pc = arg;
    int64_t budget = PART_COPY_TURN;
    int rc = 0;

    while (rc == 0 && pc->remaining > 0 && budget > 0) {
        size_t want = (size_t)GZ_MIN(pc->remaining, (int64_t)PART_COPY_BUF);
        struct gz_slice s = GZ_SLICE_NULL;
        int64_t got;

        if (pc->dec) { /* plaintext of an encrypted source, one segment at a time */
            rc = s3__sse_get_read(pc->dec, pc->pos, (int64_t)want, &s);
            got = rc < 0 ? rc : (int64_t)s.len;
        } else {
            got = store_reader_read(pc->rd, pc->buf, want);
            s = gz_slice(pc->buf, got > 0 ? (size_t)got : 0);
        }
        if (got <= 0) {
            rc = got < 0 ? (int)got : GZ_ECLOSED; /* the source ended early */
            break;
        }
        gz_hash_update(&pc->md5, s.ptr, s.len);
        rc = pc->enc ? s3__sse_put_write(pc->enc, s.ptr, s.len)
                     : store_writer_write(pc->w, s.ptr, s.len);
        pc->pos += got;
        pc->remaining -= got;
        budget -= got;
    }
    if (rc == 0 && pc->remaining > 0) {
        if (http_req_is_closed(req))
            rc = GZ_ECLOSED;
        else if ((rc = http_req_post(req, part_copy_step, pc)) == 0)
            return;
    }
    if (rc == GZ_ECORRUPT) {
        store_reader_mark_corrupt(pc->rd, "a segment does not authenticate (found by a "
                                          "copy)");
        log_error("request %s: SSE: copy source does not authenticate (tampered or corrupt "
                  "on disk)",
                  pc->hop.r->info->request_id);
        reply_err(pc->hop.r, S3_ERR_INTERNAL_ERROR, NULL);
        return;
    }
    if (rc < 0) {
        s3__reply_store_error(pc->hop.r, rc, "upload part copy");
        return;
    }
    part_copy_commit(pc);
}

static void part_copy_start(struct s3_request *r)
{
    struct part_copy *pc = http_req_alloc(r->req, sizeof(*pc));
    struct store_upload up;
    struct s3__sse_key dk = {.alg = SSE_ALG_NONE};
    enum s3_err e;
    int rc;

    memset(pc, 0, sizeof(*pc));
    pc->hop = (struct s3__hop){.r = r, .fn = part_copy_resume, .ud = pc};
    gz_buf_init(&pc->up_hold, UPLOAD_HOLD_MAX);
    http_req_on_free(r->req, part_copy_cleanup, pc);
    e = part_number_param(r, &pc->part_number, pc->msg, sizeof(pc->msg));
    if (e == S3_OK)
        e = upload_find(r, pc->upload_id, &up, &pc->up_hold);
    if (e == S3_OK) /* the upload's data key; SSE-C: the customer's key must match */
        e = s3__sse_upload_key(r, up.headers, &dk, pc->msg, sizeof(pc->msg));
    if (e == S3_OK)
        e = part_copy_open(r, pc);
    if (e != S3_OK) {
        memset(&dk, 0, sizeof(dk));
        reply_err(r, e, pc->msg);
        return;
    }
    rc = store_writer_open(r->svc->store, &pc->w);
    if (rc == 0 && dk.alg != SSE_ALG_NONE)
        rc = s3__sse_part_begin(dk.alg, dk.key, dk.customer, pc->part_number, pc->w, &pc->enc);
    memset(&dk, 0, sizeof(dk));
    if (rc < 0) {
        s3__reply_store_error(r, rc, "upload part copy");
        return;
    }
    pc->buf = gz_malloc(PART_COPY_BUF);
    gz_hash_init(&pc->md5, GZ_HASH_MD5);
    pc->hashing = true;
    part_copy_step(r->req, pc);
}

void s3_multipart_upload_part(struct s3_request *r)
{
    if (s3_header(r, "x-amz-copy-source").ptr)
        part_copy_start(r);
    else
        part_put_start(r);
}

/* ---- CompleteMultipartUpload ---- */

struct complete {
    struct s3__hop hop;
    char upload_id[STORE_UPLOAD_ID_LEN + 1];
    struct store_upload up;
    struct gz_buf hold;       /* up.key/headers point here */
    struct store_part *parts; /* requested, validated; owned */
    int nparts;
    struct store_meta meta;
    struct gz_buf sse_headers; /* encrypted: the upload's headers plus the parts layout */
};

static void complete_cleanup(void *arg)
{
    struct complete *c = arg;

    gz_free(c->parts);
    c->parts = NULL;
    gz_buf_free(&c->hold);
    gz_buf_free(&c->sse_headers);
}

struct complete_feed {
    struct s3__mpu_match m;
    bool encrypted; /* sealed parts: sizes are checked (and listed) as plaintext */
};

static void complete_match_cb(const struct store_part *p, void *ud)
{
    struct complete_feed *f = ud;
    struct store_part plain = *p;

    if (f->encrypted && s3__sse_plain_size(p->size) >= 0)
        plain.size = s3__sse_plain_size(p->size);
    s3__mpu_match_feed(&f->m, &plain);
}

/* Every requested part must exist with its ETag, all but the last >= 5 MiB. Pages through
 * the store's parts, skipping runs of unlisted ones. */
static enum s3_err complete_match(struct s3_request *r, struct complete *c)
{
    struct complete_feed f = {.encrypted = s3__sse_is_encrypted(c->up.headers)};
    bool more = true;

    s3__mpu_match_init(&f.m, c->parts, c->nparts);
    while (more && f.m.err == S3_OK && f.m.next < f.m.n) {
        int from = GZ_MAX(f.m.last_seen, c->parts[f.m.next].number - 1);
        int rc;

        more = false;
        rc = store_upload_parts(r->svc->store, c->upload_id, from, STORE_MAX_PARTS,
                                complete_match_cb, &f, &more);
        if (rc < 0)
            return s3_err_from_gz(rc);
        if (f.m.last_seen <= from)
            break; /* no progress: the remaining requested parts do not exist */
    }
    return s3__mpu_match_finish(&f.m);
}

/* Location: the object's URL as the client addressed us (path- or virtual-hosted style). */
static void complete_location(struct s3_request *r, struct gz_buf *out)
{
    struct gz_slice host = s3_header(r, "host"), vb;

    gz_buf_append_cstr(out, "http://");
    gz_buf_append(out, host.ptr ? host.ptr : "", host.len);
    gz_buf_append_cstr(out, "/");
    if (!s3__vhost_bucket(host, r->svc->domain, &vb)) {
        gz_buf_append(out, r->bucket.ptr, r->bucket.len);
        gz_buf_append_cstr(out, "/");
    }
    s3__url_encode(out, r->key);
}

static int64_t complete_size(const struct complete *c)
{
    int64_t n = 0;

    for (int i = 0; i < c->nparts; i++)
        n += c->parts[i].size;
    return n;
}

static void complete_resume(struct s3_request *r, int status, void *ud)
{
    struct complete *c = ud;
    struct gz_buf x, loc;
    char q[51];

    if (status == GZ_EQUOTA) {
        s3__reply_quota(r, r->bucket, r->key, complete_size(c), 1);
        return;
    }
    if (status < 0) {
        s3__reply_store_error(r, status, "complete multipart upload");
        return;
    }
    gz_buf_init(&x, MPU_XML_MAX);
    gz_buf_init(&loc, 16 * 1024);
    complete_location(r, &loc);
    s3_etag_quote(c->meta.etag, q);
    s3_xml_begin(&x, "CompleteMultipartUploadResult");
    s3_xml_elem(&x, "Location", gz_buf_slice(&loc));
    s3_xml_elem(&x, "Bucket", r->bucket);
    s3_xml_elem(&x, "Key", r->key);
    s3_xml_elem(&x, "ETag", gz_slice_cstr(q));
    s3_xml_end(&x, "CompleteMultipartUploadResult");
    s3__sse_resp_headers(r, c->meta.headers);
    s3_reply_xml(r, 200, &x);
    gz_buf_free(&x);
    gz_buf_free(&loc);
}

static void complete_on_body(struct s3_request *r, enum s3_err err, struct gz_slice body)
{
    struct complete *c;
    struct s3_xml_node *root = NULL;
    char msg[256] = "";
    enum s3_err e = err;

    if (e != S3_OK) {
        reply_err(r, e, NULL);
        return;
    }
    c = http_req_alloc(r->req, sizeof(*c));
    memset(c, 0, sizeof(*c));
    c->hop = (struct s3__hop){.r = r, .fn = complete_resume, .ud = c};
    gz_buf_init(&c->hold, UPLOAD_HOLD_MAX);
    http_req_on_free(r->req, complete_cleanup, c);
    e = s3_xml_parse(r, body, &root);
    if (e == S3_OK)
        e = s3__mpu_complete_parse(root, &c->parts, &c->nparts, msg, sizeof(msg));
    if (e == S3_OK) /* again: it may have been completed or aborted while the body came */
        e = upload_find(r, c->upload_id, &c->up, &c->hold);
    if (e == S3_OK)
        e = complete_match(r, c);
    if (e == S3_OK && s3__mpu_etag(c->parts, c->nparts, c->meta.etag) < 0)
        e = S3_ERR_INVALID_PART;
    if (e == S3_OK)
        e = s3__quota_precheck(r, r->bucket, r->key, complete_size(c), 1, msg, sizeof(msg));
    if (e != S3_OK) {
        reply_err(r, e, msg);
        return;
    }
    c->meta.parts = c->nparts;
    c->meta.headers = c->up.headers;
    if (s3__sse_is_encrypted(c->up.headers)) { /* the bodies' layout, for reads */
        gz_buf_init(&c->sse_headers, UPLOAD_HOLD_MAX);
        struct gz_buf lay;
        gz_buf_init(&lay, UPLOAD_HOLD_MAX);
        int rc = gz_buf_append(&c->sse_headers, c->up.headers.ptr, c->up.headers.len);
        if (rc == 0)
            rc = s3__sse_parts_format(c->parts, c->nparts, &lay);
        if (rc == 0)
            rc = store_headers_add(&c->sse_headers, GZ_SLICE_LIT(SSE_PARTS_HEADER),
                                   gz_buf_slice(&lay));
        gz_buf_free(&lay);
        if (rc < 0) {
            reply_err(r, S3_ERR_METADATA_TOO_LARGE, NULL);
            return;
        }
        c->meta.headers = gz_buf_slice(&c->sse_headers);
        s3__sse_mark_bucket(r, r->bucket);
    }
    c->meta.mtime_ms = gz_now_ms();
    store_upload_complete(r->svc->store, r->bucket, r->key, c->upload_id, c->parts, c->nparts,
                          &c->meta, s3__hop_done, &c->hop);
}

void s3_multipart_complete(struct s3_request *r)
{
    char id[STORE_UPLOAD_ID_LEN + 1];
    struct store_upload up;
    struct gz_buf hold;
    enum s3_err e;

    /* NoSuchUpload before reading a body that could only be refused. */
    gz_buf_init(&hold, UPLOAD_HOLD_MAX);
    e = upload_find(r, id, &up, &hold);
    gz_buf_free(&hold);
    if (e != S3_OK) {
        reply_err(r, e, NULL);
        return;
    }
    s3_read_small_body(r, S3_MAX_XML_BODY, complete_on_body);
}

/* ---- AbortMultipartUpload ---- */

struct abort_ctx {
    struct s3__hop hop;
    char upload_id[STORE_UPLOAD_ID_LEN + 1];
};

static void abort_resume(struct s3_request *r, int status, void *ud)
{
    if (status < 0)
        s3__reply_store_error(r, status, "abort multipart upload");
    else
        s3_reply_empty(r, 204);
}

void s3_multipart_abort(struct s3_request *r)
{
    struct abort_ctx *ac = http_req_alloc(r->req, sizeof(*ac));
    struct store_upload up;
    struct gz_buf hold;
    enum s3_err e;

    memset(ac, 0, sizeof(*ac));
    ac->hop = (struct s3__hop){.r = r, .fn = abort_resume, .ud = ac};
    gz_buf_init(&hold, UPLOAD_HOLD_MAX);
    e = upload_find(r, ac->upload_id, &up, &hold);
    gz_buf_free(&hold);
    if (e != S3_OK) {
        reply_err(r, e, NULL);
        return;
    }
    store_upload_abort(r->svc->store, ac->upload_id, s3__hop_done, &ac->hop);
}
