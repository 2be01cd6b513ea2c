/*
 * dest.c - writes at the destination: PutObject, the multipart upload calls and DeleteObject.
 * Bodies are at most one part, sent with Content-MD5 so the destination checks them too.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "migrate_int.h"

static struct curl_slist *md5_header(struct curl_slist *h, const void *body, size_t len)
{
    uint8_t d[16];
    char b64[32], line[64];
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

int mig_put_object(const struct mig_client *c, CURL *h, const char *key,
                   struct curl_slist *meta, const void *body, size_t len, int64_t *retries,
                   char *err, size_t errsz)
{
    struct curl_slist *hd = NULL;
    for (struct curl_slist *e = meta; e; e = e->next)
        hd = curl_slist_append(hd, e->data);
    hd = md5_header(hd, body, len);
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
                   struct curl_slist *meta, char *upload_id, size_t idsz, int64_t *retries,
                   char *err, size_t errsz)
{
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
    return rc;
}

int mig_mpu_part(const struct mig_client *c, CURL *h, const char *key, const char *upload_id,
                 int part, const void *body, size_t len, char *etag, size_t etagsz,
                 int64_t *retries, char *err, size_t errsz)
{
    struct gz_buf q;
    char num[16];
    gz_buf_init(&q, 4096);
    snprintf(num, sizeof(num), "%d", part);
    mig_query_add(&q, "partNumber", num);
    mig_query_add(&q, "uploadId", upload_id);
    gz_buf_terminate(&q);
    struct curl_slist *hd = md5_header(NULL, body, len);
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
                     const char *upload_id, const struct gz_buf *parts_xml, int64_t *retries,
                     char *err, size_t errsz)
{
    struct gz_buf q, body;
    gz_buf_init(&q, 4096);
    gz_buf_init(&body, 2 * 1024 * 1024);
    mig_query_add(&q, "uploadId", upload_id);
    gz_buf_terminate(&q);
    gz_buf_append_cstr(&body, "<CompleteMultipartUpload>");
    gz_buf_append(&body, parts_xml->ptr, parts_xml->len);
    int rc = gz_buf_append_cstr(&body, "</CompleteMultipartUpload>");
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
    struct mig_resp resp;
    mig_resp_init(&resp, 64 * 1024);
    struct mig_req rq = {.method = "DELETE", .key = key};
    int rc = mig_s3_call(c, h, &rq, &resp, MIG_MAX_ATTEMPTS, retries);
    rc = finish(c, rc, &resp, "DELETE", err, errsz);
    mig_resp_free(&resp);
    return rc;
}
