/*
 * copy.c - copying one object (a single GET + PUT up to the part size; above it, ranged GETs
 * pinned to the source ETag with If-Match, up to MIG_PART_STREAMS at once, feeding a multipart
 * upload at the destination).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "migrate_int.h"

#define MIG_MAX_PARTS 10000

struct copy_ctx {
    const struct mig_client *src, *dst;
    CURL *hs, *hd;
    const char *key;
    int64_t size;
    char etag[80];
    int64_t part_size;
    int64_t *retries;
    bool *permanent;
    char *err;
    size_t errsz;
};

/* GET (a range of) the source into resp->body; classifies failures. */
static int source_get(struct copy_ctx *cx, struct mig_resp *resp, int64_t off, int64_t len,
                      bool pin)
{
    char range[96], match[120];
    struct curl_slist *h = NULL;
    if (len >= 0) {
        snprintf(range, sizeof(range), "Range: bytes=%lld-%lld", (long long)off,
                 (long long)(off + len - 1));
        h = curl_slist_append(h, range);
    }
    if (pin) {
        snprintf(match, sizeof(match), "If-Match: \"%s\"", cx->etag);
        h = curl_slist_append(h, match);
    }
    struct mig_req rq = {.method = "GET", .key = cx->key, .headers = h};
    int rc = mig_s3_call(cx->src, cx->hs, &rq, resp, MIG_MAX_ATTEMPTS, cx->retries);
    curl_slist_free_all(h);
    if (rc == 0 && (resp->status == 200 || resp->status == 206))
        return 0;
    char why[400];
    mig_resp_describe(resp, why, sizeof(why));
    if (rc == 0 && resp->status == 412) {
        snprintf(cx->err, cx->errsz, "source changed while it was copied");
        return -EAGAIN;
    }
    snprintf(cx->err, cx->errsz, "source GET: %s", why);
    *cx->permanent = rc == 0 && (resp->status == 403 || resp->status == 404);
    return rc ? rc : -EIO;
}

static int copy_small(struct copy_ctx *cx, struct mig_verify *v, char sha_hex[65])
{
    struct mig_resp resp;
    mig_resp_init(&resp, (size_t)cx->part_size + 1);
    int rc = source_get(cx, &resp, 0, -1, false);
    char etag[128];
    if (rc == 0 && mig_resp_header(&resp, "ETag", etag, sizeof(etag))) {
        mig_etag_strip(etag, cx->etag, sizeof(cx->etag)); /* what we read is what we verify */
        cx->size = (int64_t)resp.body.len;
    }
    if (rc == 0) {
        mig_verify_init(v, cx->etag);
        mig_verify_update(v, resp.body.ptr, resp.body.len);
        rc = mig_verify_final(v, cx->size, sha_hex, cx->err, cx->errsz);
    }
    if (rc == 0) {
        struct curl_slist *meta = mig_meta_headers(cx->src->preset, &resp);
        rc = mig_put_object(cx->dst, cx->hd, cx->key, meta, resp.body.ptr, resp.body.len,
                            cx->retries, cx->err, cx->errsz);
        curl_slist_free_all(meta);
    }
    mig_resp_free(&resp);
    return rc;
}

/* Large objects: up to MIG_PART_STREAMS ranged GETs at once, each feeding UploadPart. Parts
 * are hashed in order (a stream that read part i waits until parts < i are hashed), so memory
 * is at most MIG_PART_STREAMS parts per object and verification still streams. */
#define MIG_PART_STREAMS 4

struct part_pool {
    const struct copy_ctx *cx;
    const char *upload_id;
    struct mig_verify *v;
    int64_t nparts, next_claim, next_hash, retries;
    char (*etags)[80];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int rc;
    bool permanent;
    char err[MIG_ERR_MAX];
};

static void pool_fail(struct part_pool *pp, int rc, const struct copy_ctx *cx)
{
    pthread_mutex_lock(&pp->mu);
    if (pp->rc == 0) {
        pp->rc = rc;
        pp->permanent = *cx->permanent;
        snprintf(pp->err, sizeof(pp->err), "%s", cx->err);
    }
    pthread_cond_broadcast(&pp->cv);
    pthread_mutex_unlock(&pp->mu);
}

/* Waits for part i's turn, hashes it, passes the turn on; false if the pool failed. */
static bool pool_hash(struct part_pool *pp, int64_t i, const struct gz_buf *b)
{
    pthread_mutex_lock(&pp->mu);
    while (pp->next_hash != i && pp->rc == 0)
        pthread_cond_wait(&pp->cv, &pp->mu);
    bool ok = pp->rc == 0;
    pthread_mutex_unlock(&pp->mu);
    if (!ok)
        return false;
    mig_verify_update(pp->v, b->ptr, b->len);
    pthread_mutex_lock(&pp->mu);
    pp->next_hash++;
    pthread_cond_broadcast(&pp->cv);
    pthread_mutex_unlock(&pp->mu);
    return true;
}

static int part_one(struct part_pool *pp, struct copy_ctx *cx, struct mig_resp *resp,
                    int64_t i, bool fetched)
{
    int64_t off = i * cx->part_size;
    int64_t len = cx->size - off < cx->part_size ? cx->size - off : cx->part_size;
    int rc = fetched ? 0 : source_get(cx, resp, off, len, true);
    if (rc == 0 && (int64_t)resp->body.len != len) {
        snprintf(cx->err, cx->errsz, "short ranged read: %zu of %lld bytes", resp->body.len,
                 (long long)len);
        rc = -EIO;
    }
    if (rc == 0 && !pool_hash(pp, i, &resp->body))
        return -ECANCELED;
    if (rc == 0)
        rc = mig_mpu_part(cx->dst, cx->hd, cx->key, pp->upload_id, (int)(i + 1),
                          resp->body.ptr, resp->body.len, pp->etags[i], sizeof(pp->etags[i]),
                          cx->retries, cx->err, cx->errsz);
    return rc;
}

/* One stream: claims parts in increasing order (so the lowest unhashed part is always held
 * by a stream that is not waiting: no deadlock). resp holds part 0 when first is true. */
static void part_stream(struct part_pool *pp, CURL *hs, CURL *hd, struct mig_resp *resp,
                        bool first)
{
    char err[MIG_ERR_MAX] = "";
    bool permanent = false;
    int64_t retries = 0;
    struct copy_ctx cx = *pp->cx;
    cx.hs = hs;
    cx.hd = hd;
    cx.err = err;
    cx.errsz = sizeof(err);
    cx.permanent = &permanent;
    cx.retries = &retries;
    for (;;) {
        int64_t i = 0;
        if (!first) {
            pthread_mutex_lock(&pp->mu);
            i = pp->rc == 0 && pp->next_claim < pp->nparts ? pp->next_claim++ : -1;
            pthread_mutex_unlock(&pp->mu);
            if (i < 0)
                break;
        }
        int rc = part_one(pp, &cx, resp, i, first);
        first = false;
        if (rc && rc != -ECANCELED)
            pool_fail(pp, rc, &cx);
        if (rc)
            break;
    }
    pthread_mutex_lock(&pp->mu);
    pp->retries += retries;
    pthread_mutex_unlock(&pp->mu);
}

static void *part_thread(void *arg)
{
    struct part_pool *pp = arg;
    CURL *hs = curl_easy_init(), *hd = curl_easy_init();
    struct mig_resp resp;
    mig_resp_init(&resp, (size_t)pp->cx->part_size);
    if (hs && hd)
        part_stream(pp, hs, hd, &resp, false);
    mig_resp_free(&resp);
    curl_easy_cleanup(hs);
    curl_easy_cleanup(hd);
    return NULL;
}

static int copy_parts(struct copy_ctx *cx, struct mig_resp *first, const char *upload_id,
                      struct mig_verify *v, struct gz_buf *parts)
{
    struct part_pool pp = {.cx = cx, .upload_id = upload_id, .v = v, .next_claim = 1};
    pp.nparts = (cx->size + cx->part_size - 1) / cx->part_size;
    pp.etags = gz_calloc((size_t)pp.nparts, sizeof(*pp.etags));
    pthread_mutex_init(&pp.mu, NULL);
    pthread_cond_init(&pp.cv, NULL);
    pthread_t tids[MIG_PART_STREAMS];
    int n = 0;
    while (n < MIG_PART_STREAMS - 1 && n + 1 < pp.nparts &&
           pthread_create(&tids[n], NULL, part_thread, &pp) == 0)
        n++;
    part_stream(&pp, cx->hs, cx->hd, first, true);
    for (int i = 0; i < n; i++)
        pthread_join(tids[i], NULL);
    *cx->retries += pp.retries;
    int rc = pp.rc;
    if (rc) {
        *cx->permanent = pp.permanent;
        snprintf(cx->err, cx->errsz, "%s", pp.err);
    }
    for (int64_t i = 0; rc == 0 && i < pp.nparts; i++)
        rc = gz_buf_appendf(parts, "<Part><PartNumber>%lld</PartNumber><ETag>\"%s\"</ETag>"
                                   "</Part>", (long long)(i + 1), pp.etags[i]);
    gz_free(pp.etags);
    pthread_cond_destroy(&pp.cv);
    pthread_mutex_destroy(&pp.mu);
    return rc;
}

static int copy_large(struct copy_ctx *cx, struct mig_verify *v, char sha_hex[65])
{
    struct mig_resp resp;
    struct gz_buf parts;
    char upload_id[512], etag[128];
    mig_resp_init(&resp, (size_t)cx->part_size);
    gz_buf_init(&parts, 1024 * 1024);
    int rc = source_get(cx, &resp, 0, cx->part_size, false);
    if (rc == 0 && mig_resp_header(&resp, "ETag", etag, sizeof(etag)))
        mig_etag_strip(etag, cx->etag, sizeof(cx->etag)); /* later parts are pinned to it */
    struct curl_slist *meta = rc == 0 ? mig_meta_headers(cx->src->preset, &resp) : NULL;
    if (rc == 0)
        rc = mig_mpu_create(cx->dst, cx->hd, cx->key, meta, upload_id, sizeof(upload_id),
                            cx->retries, cx->err, cx->errsz);
    curl_slist_free_all(meta);
    if (rc == 0) {
        mig_verify_init(v, cx->etag);
        rc = copy_parts(cx, &resp, upload_id, v, &parts);
        if (rc == 0)
            rc = mig_verify_final(v, cx->size, sha_hex, cx->err, cx->errsz);
        if (rc == 0)
            rc = mig_mpu_complete(cx->dst, cx->hd, cx->key, upload_id, &parts, cx->retries,
                                  cx->err, cx->errsz);
        if (rc)
            mig_mpu_abort(cx->dst, cx->hd, cx->key, upload_id);
    }
    gz_buf_free(&parts);
    mig_resp_free(&resp);
    return rc;
}

int mig_copy_object(const struct mig_client *src, const struct mig_client *dst, CURL *hs,
                    CURL *hd, const char *key, int64_t size, const char *etag,
                    int64_t part_size, char sha_hex[65], enum mig_method *method,
                    int64_t *retries, bool *permanent, char *err, size_t errsz)
{
    struct copy_ctx cx = {.src = src, .dst = dst, .hs = hs, .hd = hd, .key = key,
                          .size = size, .part_size = part_size, .retries = retries,
                          .permanent = permanent, .err = err, .errsz = errsz};
    snprintf(cx.etag, sizeof(cx.etag), "%s", etag ? etag : "");
    while ((cx.size + cx.part_size - 1) / cx.part_size > MIG_MAX_PARTS)
        cx.part_size *= 2;
    struct mig_verify v;
    memset(&v, 0, sizeof(v));
    *permanent = false;
    int rc = size <= cx.part_size ? copy_small(&cx, &v, sha_hex) : copy_large(&cx, &v, sha_hex);
    *method = v.method;
    mig_verify_dispose(&v);
    return rc;
}
