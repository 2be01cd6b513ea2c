/*
 * dest.c - writes at the destination: PutObject, the multipart upload calls and DeleteObject.
 * Bodies are at most one part, sent with Content-MD5 so the destination checks them too.
 * A destination client with a store (mig_client_init_store) goes to dest_store.c instead.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "migrate_int.h"

/* Content-MD5 of body; known_hex (may be NULL) saves hashing it again. */
static struct curl_slist *md5_header(struct curl_slist *h, const void *body, size_t len,
                                     const char *known_hex)
{
    uint8_t d[16];
    char b64[32], line[64];
    if (!known_hex || strlen(known_hex) != 32 ||
        gz_hex_decode(d, sizeof(d), gz_slice_cstr(known_hex)) != 16)
        gz_md5(body, len, d);
    gz_base64_encode(b64, d, 16);
    snprintf(line, sizeof(line), "Content-MD5: %s", b64);
    return curl_slist_append(h, line);
}

static int finish(const struct mig_client *c, int rc, struct mig_resp *resp, const char *what,
                  char *err, size_t errsz)
{
    if (rc == 0 && resp->status >= 200 && resp->status < 300)
        return 0;
    char why[400];
    mig_resp_describe(resp, why, sizeof(why));
    snprintf(err, errsz, "%s %s: %s", c->who, what, why);
    return rc ? rc : resp->status == 403 ? -EACCES : -EIO;
}

/* The metadata lines plus the source's identity (x-amz-meta-gzy-source-etag / -mtime). */
static struct curl_slist *object_headers(const struct mig_objhdr *oh)
{
    struct curl_slist *hd = NULL;
    char line[160], iso[32];
    for (struct curl_slist *e = oh->meta; e; e = e->next)
        hd = curl_slist_append(hd, e->data);
    if (oh->src_etag && *oh->src_etag) {
        snprintf(line, sizeof(line), "x-amz-meta-gzy-source-etag: %s", oh->src_etag);
        hd = curl_slist_append(hd, line);
    }
    if (oh->src_mtime > 0) {
        gz_time_iso8601(oh->src_mtime * 1000, iso);
        snprintf(line, sizeof(line), "x-amz-meta-gzy-source-mtime: %s", iso);
        hd = curl_slist_append(hd, line);
    }
    return hd;
}

int mig_put_object(const struct mig_client *c, CURL *h, const char *key,
                   const struct mig_objhdr *oh, const void *body, size_t len, int64_t *retries,
                   char *err, size_t errsz)
{
    if (c->store)
        return mig_store_put(c, key, oh, body, len, err, errsz, NULL);
    struct curl_slist *hd = object_headers(oh);
    hd = md5_header(hd, body, len, oh->body_md5);
    struct mig_resp resp;
    mig_resp_init(&resp, 64 * 1024);
    struct mig_req rq = {.method = "PUT", .key = key, .headers = hd, .body = len ? body : NULL,
                         .body_len = len};
    if (!len) /* an empty PUT still needs a body pointer for curl to send PUT with no data */
        rq.body = "";
    int rc = mig_s3_call(c, h, &rq, &resp, MIG_MAX_ATTEMPTS, retries);
    rc = finish(c, rc, &resp, "PUT", err, errsz);
    mig_resp_free(&resp);
    curl_slist_free_all(hd);
    return rc;
}

static int xml_field(const struct gz_buf *b, const char *tag, char *out, size_t outsz)
{
    char open[64], close[64];
    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    if (!b->ptr)
        return -EBADMSG;
    const char *s = memmem(b->ptr, b->len, open, strlen(open));
    if (!s)
        return -EBADMSG;
    s += strlen(open);
    const char *e = memmem(s, b->len - (size_t)(s - b->ptr), close, strlen(close));
    if (!e || (size_t)(e - s) >= outsz)
        return -EBADMSG;
    memcpy(out, s, (size_t)(e - s));
    out[e - s] = '\0';
    return 0;
}

int mig_mpu_create(const struct mig_client *c, CURL *h, const char *key,
                   const struct mig_objhdr *oh, char *upload_id, size_t idsz, int64_t *retries,
                   char *err, size_t errsz)
{
    if (c->store)
        return mig_store_mpu_create(c, key, oh, upload_id, idsz, err, errsz);
    struct curl_slist *meta = object_headers(oh);
    struct mig_resp resp;
    mig_resp_init(&resp, 64 * 1024);
    struct mig_req rq = {.method = "POST", .key = key, .query = "uploads=", .headers = meta};
    int rc = mig_s3_call(c, h, &rq, &resp, MIG_MAX_ATTEMPTS, retries);
    rc = finish(c, rc, &resp, "CreateMultipartUpload", err, errsz);
    if (rc == 0 && xml_field(&resp.body, "UploadId", upload_id, idsz) != 0) {
        snprintf(err, errsz, "%s CreateMultipartUpload: no UploadId in the reply", c->who);
        rc = -EBADMSG;
    }
    mig_resp_free(&resp);
    curl_slist_free_all(meta);
    return rc;
}

int mig_mpu_part(const struct mig_client *c, CURL *h, const char *key, const char *upload_id,
                 int part, const void *body, size_t len, char *etag, size_t etagsz,
                 int64_t *retries, char *err, size_t errsz)
{
    if (c->store)
        return mig_store_mpu_part_of(c, key, upload_id, part, body, len, etag, etagsz, err,
                                     errsz);
    struct gz_buf q;
    char num[16];
    gz_buf_init(&q, 4096);
    snprintf(num, sizeof(num), "%d", part);
    mig_query_add(&q, "partNumber", num);
    mig_query_add(&q, "uploadId", upload_id);
    gz_buf_terminate(&q);
    struct curl_slist *hd = md5_header(NULL, body, len, NULL);
    hd = curl_slist_append(hd, "Content-Type: application/octet-stream");
    struct mig_resp resp;
    mig_resp_init(&resp, 64 * 1024);
    struct mig_req rq = {.method = "PUT", .key = key, .query = q.ptr, .headers = hd,
                         .body = body, .body_len = len};
    int rc = mig_s3_call(c, h, &rq, &resp, MIG_MAX_ATTEMPTS, retries);
    rc = finish(c, rc, &resp, "UploadPart", err, errsz);
    char raw[128];
    if (rc == 0 && !mig_resp_header(&resp, "ETag", raw, sizeof(raw))) {
        snprintf(err, errsz, "%s UploadPart: no ETag in the reply", c->who);
        rc = -EBADMSG;
    }
    if (rc == 0)
        mig_etag_strip(raw, etag, etagsz);
    mig_resp_free(&resp);
    curl_slist_free_all(hd);
    gz_buf_free(&q);
    return rc;
}

int mig_mpu_complete(const struct mig_client *c, CURL *h, const char *key,
                     const char *upload_id, const mig_etag_t *etags, int nparts,
                     const struct mig_objhdr *oh, int64_t *retries, char *err, size_t errsz)
{
    if (c->store)
        return mig_store_mpu_complete(c, key, upload_id, etags, nparts, oh, err, errsz, NULL);
    struct gz_buf q, body;
    gz_buf_init(&q, 4096);
    gz_buf_init(&body, 2 * 1024 * 1024);
    mig_query_add(&q, "uploadId", upload_id);
    gz_buf_terminate(&q);
    int rc = gz_buf_append_cstr(&body, "<CompleteMultipartUpload>");
    for (int i = 0; rc == 0 && i < nparts; i++)
        rc = gz_buf_appendf(&body, "<Part><PartNumber>%d</PartNumber><ETag>\"%s\"</ETag>"
                                   "</Part>", i + 1, etags[i]);
    if (rc == 0)
        rc = gz_buf_append_cstr(&body, "</CompleteMultipartUpload>");
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/xml");
    struct mig_resp resp;
    mig_resp_init(&resp, 64 * 1024);
    struct mig_req rq = {.method = "POST", .key = key, .query = q.ptr, .headers = hd,
                         .body = body.ptr, .body_len = body.len};
    if (rc == 0)
        rc = mig_s3_call(c, h, &rq, &resp, MIG_MAX_ATTEMPTS, retries);
    rc = finish(c, rc, &resp, "CompleteMultipartUpload", err, errsz);
    /* a 200 can still carry an error document */
    if (rc == 0 && resp.body.ptr && memmem(resp.body.ptr, resp.body.len, "<Error>", 7)) {
        snprintf(err, errsz, "%s CompleteMultipartUpload: error in the reply", c->who);
        rc = -EIO;
    }
    mig_resp_free(&resp);
    curl_slist_free_all(hd);
    gz_buf_free(&body);
    gz_buf_free(&q);
    return rc;
}

void mig_mpu_abort(const struct mig_client *c, CURL *h, const char *key,
                   const char *upload_id)
{
    if (c->store) {
        mig_store_mpu_abort(c, upload_id);
        return;
    }
    struct gz_buf q;
    gz_buf_init(&q, 4096);
    mig_query_add(&q, "uploadId", upload_id);
    gz_buf_terminate(&q);
    struct mig_resp resp;
    mig_resp_init(&resp, 64 * 1024);
    struct mig_req rq = {.method = "DELETE", .key = key, .query = q.ptr};
    mig_s3_call(c, h, &rq, &resp, 2, NULL);
    mig_resp_free(&resp);
    gz_buf_free(&q);
}

int mig_delete_object(const struct mig_client *c, CURL *h, const char *key, int64_t *retries,
                      char *err, size_t errsz)
{
    if (c->store)
        return mig_store_delete(c, key, err, errsz);
    struct mig_resp resp;
    mig_resp_init(&resp, 64 * 1024);
    struct mig_req rq = {.method = "DELETE", .key = key};
    int rc = mig_s3_call(c, h, &rq, &resp, MIG_MAX_ATTEMPTS, retries);
    rc = finish(c, rc, &resp, "DELETE", err, errsz);
    mig_resp_free(&resp);
    return rc;
}

int mig_dst_list(const struct mig_client *c, CURL *h, const char *prefix, mig_entry_fn *fn,
                 void *arg, int64_t *retries, char *err, size_t errsz)
{
    if (c->store)
        return mig_store_list(c, prefix, fn, arg, err, errsz);
    return mig_list(c, h, prefix, fn, arg, retries, err, errsz);
}

int mig_dst_read(const struct mig_client *c, CURL *h, const char *key, int64_t off,
                 int64_t len, struct gz_buf *body, char *err, size_t errsz)
{
    if (c->store)
        return mig_store_read(c, key, off, len, body, err, errsz);
    char range[96];
    snprintf(range, sizeof(range), "Range: bytes=%lld-%lld", (long long)off,
             (long long)(off + len - 1));
    struct curl_slist *hd = curl_slist_append(NULL, range);
    struct mig_resp resp;
    mig_resp_init(&resp, (size_t)len + 1);
    struct mig_req rq = {.method = "GET", .key = key, .headers = hd};
    int rc = mig_s3_call(c, h, &rq, &resp, MIG_MAX_ATTEMPTS, NULL);
    rc = finish(c, rc, &resp, "GET", err, errsz);
    if (rc == 0 && (int64_t)resp.body.len != len) {
        snprintf(err, errsz, "destination GET: short read");
        rc = -EIO;
    }
    if (rc == 0)
        rc = gz_buf_append(body, resp.body.ptr, resp.body.len);
    mig_resp_free(&resp);
    curl_slist_free_all(hd);
    return rc;
}
