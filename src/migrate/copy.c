/*
 * copy.c - copying one object: a single GET + PUT up to the part size; above it, ranged GETs
 * pinned to the source ETag with If-Match, up to MIG_PART_STREAMS at once, feeding a multipart
 * upload at the destination. The upload id and every completed part are journaled, so a
 * large object interrupted (kill -9, stop) continues from its completed parts; it is then
 * verified by reading the completed object back from the destination (cheap: local), never
 * by reading the source again. Archive-class objects are restored first (HEAD for the
 * provider's x-*-restore status, POST ?restore with the provider's body, provider.c) and
 * reported as waiting meanwhile.
 * mig_copy_fetch / mig_copy_put split a small object's copy in two for the engine's
 * pipeline (GET + verify on one thread, the write on another).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "migrate_int.h"

#define MIG_MAX_PARTS 10000
#define MIG_MAX_SOURCE_PART (64 * 1024 * 1024) /* largest source part size we copy as is */
#define MIG_STOPPED_RC (-EINTR)
#define MIG_ARCHIVED_RC (-ENODATA) /* a GET answered InvalidObjectState */

struct copy_ctx {
    const struct mig_copy_env *env;
    const struct mig_client *src, *dst;
    CURL *hs, *hd;
    const char *key;
    int64_t size, mtime;
    char etag[80];
    int64_t part_size;
    int64_t layout_part;        /* source part size (multipart ETag), 0 if unknown */
    int layout_parts;
    int64_t *retries;
    bool *permanent;
    char *err;
    size_t errsz;
    struct mig_copy_result *res;
};

static bool stop_requested(const struct copy_ctx *cx)
{
    return cx->env->should_stop && cx->env->should_stop(cx->env->stop_arg);
}

/* Request on the source with retries; classifies failures into cx->err. */
static int source_call(struct copy_ctx *cx, struct mig_req *rq, struct mig_resp *resp,
                       const char *what)
{
    int rc = mig_s3_call(cx->src, cx->hs, rq, resp, MIG_MAX_ATTEMPTS, cx->retries);
    if (rc == 0 && resp->status >= 200 && resp->status < 300)
        return 0;
    char why[400];
    mig_resp_describe(resp, why, sizeof(why));
    if (rc == 0 && resp->status == 412) {
        snprintf(cx->err, cx->errsz, "source changed while it was copied");
        return -EAGAIN;
    }
    if (resp->curl == CURLE_WRITE_ERROR && stop_requested(cx)) { /* the throttle gave up */
        snprintf(cx->err, cx->errsz, "stopped");
        return MIG_STOPPED_RC;
    }
    if (resp->curl == CURLE_WRITE_ERROR) {
        snprintf(cx->err, cx->errsz, "source changed while it was copied (it grew)");
        return -EAGAIN;
    }
    snprintf(cx->err, cx->errsz, "source %s: %s", what, why);
    *cx->permanent = rc == 0 && (resp->status == 403 || resp->status == 404);
    if (rc == 0 && strcmp(resp->code, "InvalidObjectState") == 0)
        return MIG_ARCHIVED_RC;
    return rc ? rc : -EIO;
}

/* GET (a range of) the source into resp->body. */
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
    int rc = source_call(cx, &rq, resp, "GET");
    curl_slist_free_all(h);
    return rc;
}

static int source_head(struct copy_ctx *cx, struct mig_resp *resp, const char *query)
{
    struct mig_req rq = {.method = "HEAD", .key = cx->key, .query = query};
    return source_call(cx, &rq, resp, "HEAD");
}

/* The source identity of a GET/HEAD response: ETag, size (Content-Range total or
 * Content-Length), Last-Modified, and what cannot be carried over. */
static void source_identity(struct copy_ctx *cx, const struct mig_resp *resp)
{
    char v[256];
    if (mig_resp_header(resp, "ETag", v, sizeof(v)))
        mig_etag_strip(v, cx->etag, sizeof(cx->etag));
    const char *slash;
    if (mig_resp_header(resp, "Content-Range", v, sizeof(v)) && (slash = strchr(v, '/')))
        cx->size = strtoll(slash + 1, NULL, 10);
    else if (mig_resp_header(resp, "Content-Length", v, sizeof(v)))
        cx->size = strtoll(v, NULL, 10);
    int64_t t;
    if (mig_resp_header(resp, "Last-Modified", v, sizeof(v)) &&
        gz_time_parse_http(gz_slice_cstr(v), &t) == 0)
        cx->mtime = t;
    gz_migrate_not_carried(cx->src->preset, resp->headers.ptr, resp->headers.len,
                           cx->res->not_carried, sizeof(cx->res->not_carried));
}

static void verify_setup(struct copy_ctx *cx, struct mig_verify *v, const struct mig_resp *r)
{
    char crc[64];
    mig_verify_init(v, cx->etag);
    if (mig_resp_header(r, "x-oss-hash-crc64ecma", crc, sizeof(crc)) ||
        mig_resp_header(r, "x-cos-hash-crc64ecma", crc, sizeof(crc)))
        mig_verify_set_crc64(v, crc);
    mig_verify_set_layout(v, cx->layout_part, cx->layout_parts);
}

/* For a multipart source ETag: the source's part layout (HEAD ?partNumber=1), kept when the
 * parts are uniform (count == ceil(size / first part)). */
static void source_layout(struct copy_ctx *cx)
{
    cx->layout_part = 0;
    cx->layout_parts = 0;
    if (!gz_migrate_etag_is_multipart(cx->etag))
        return;
    struct mig_resp resp;
    mig_resp_init(&resp, 4096);
    char v[64], err[MIG_ERR_MAX];
    char *saved = cx->err;
    cx->err = err; /* a failed HEAD only means no layout */
    bool perm = *cx->permanent;
    if (source_head(cx, &resp, "partNumber=1") == 0 &&
        mig_resp_header(&resp, "x-amz-mp-parts-count", v, sizeof(v))) {
        int n = atoi(v);
        int64_t p1 = mig_resp_header(&resp, "Content-Length", v, sizeof(v))
                         ? strtoll(v, NULL, 10) : 0;
        if (n > 0 && p1 > 0 && (cx->size + p1 - 1) / p1 == n) {
            cx->layout_part = p1;
            cx->layout_parts = n;
        }
    }
    *cx->permanent = perm;
    cx->err = saved;
    mig_resp_free(&resp);
}

static struct mig_objhdr object_hdr(struct copy_ctx *cx, struct curl_slist *meta)
{
    return (struct mig_objhdr){.meta = meta, .src_etag = cx->etag, .src_mtime = cx->mtime};
}

static bool permanent_store_error(int rc)
{
    return rc == GZ_EQUOTA || rc == GZ_ENOBUCKET || rc == -EACCES;
}

/* resp holds the whole object: verify and PUT it. */
static int put_whole(struct copy_ctx *cx, struct mig_resp *resp, struct mig_verify *v)
{
    cx->size = (int64_t)resp->body.len;
    verify_setup(cx, v, resp);
    mig_verify_update(v, resp->body.ptr, resp->body.len);
    int rc = mig_verify_final(v, cx->size, cx->res->sha256, cx->err, cx->errsz);
    if (rc == 0) {
        struct curl_slist *meta = mig_meta_headers(cx->src->preset, resp);
        struct mig_objhdr oh = object_hdr(cx, meta);
        oh.body_md5 = v->method == MIG_VERIFY_MD5 ? cx->etag : NULL; /* verified equal */
        rc = mig_put_object(cx->dst, cx->hd, cx->key, &oh, resp->body.ptr, resp->body.len,
                            cx->retries, cx->err, cx->errsz);
        *cx->permanent |= permanent_store_error(rc);
        curl_slist_free_all(meta);
    }
    return rc;
}

static int copy_small(struct copy_ctx *cx, struct mig_verify *v)
{
    struct mig_resp resp;
    mig_resp_init(&resp, (size_t)cx->part_size + 1);
    int rc = source_get(cx, &resp, 0, -1, false);
    if (rc == 0) {
        source_identity(cx, &resp); /* what we read is what we verify */
        rc = put_whole(cx, &resp, v);
    }
    mig_resp_free(&resp);
    return rc;
}

/* ---- large objects ---- */

/* Up to MIG_PART_STREAMS ranged GETs at once, each feeding UploadPart. Parts are hashed in
 * order (a stream that read part i waits until parts < i are hashed), so memory is at most
 * MIG_PART_STREAMS parts per object and verification still streams. When resuming (some
 * parts already done), v is NULL: the object is verified by reading it back afterwards. */
#define MIG_PART_STREAMS 4

struct part_pool {
    const struct copy_ctx *cx;
    const char *upload_id;
    struct mig_verify *v;
    int64_t nparts, next_claim, next_hash, retries;
    mig_etag_t *etags;          /* "" for parts still to copy */
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
    if (!pp->v)
        return true;
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
    char etag[80];
    if (rc == 0)
        rc = mig_mpu_part(cx->dst, cx->hd, cx->key, pp->upload_id, (int)(i + 1),
                          resp->body.ptr, resp->body.len, etag, sizeof(etag), cx->retries,
                          cx->err, cx->errsz);
    if (rc == 0) {
        if (cx->env->j)
            mig_journal_part_put(cx->env->j, cx->key, (int)(i + 1), etag);
        pthread_mutex_lock(&pp->mu);
        snprintf(pp->etags[i], sizeof(pp->etags[i]), "%s", etag);
        pthread_mutex_unlock(&pp->mu);
    }
    return rc;
}

/* Next part to copy (skipping the journaled ones), -1 when none or the pool failed. */
static int64_t pool_claim(struct part_pool *pp, const struct copy_ctx *cx)
{
    if (stop_requested(cx)) {
        snprintf(cx->err, cx->errsz, "stopped");
        pool_fail(pp, MIG_STOPPED_RC, cx);
        return -1;
    }
    pthread_mutex_lock(&pp->mu);
    while (pp->next_claim < pp->nparts && pp->etags[pp->next_claim][0])
        pp->next_claim++;
    int64_t i = pp->rc == 0 && pp->next_claim < pp->nparts ? pp->next_claim++ : -1;
    pthread_mutex_unlock(&pp->mu);
    return i;
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
        int64_t i = first ? 0 : pool_claim(pp, &cx);
        if (i < 0)
            break;
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

/* Copies the parts not yet in etags (first: part 0 already read, or NULL). */
static int copy_parts(struct copy_ctx *cx, struct mig_resp *first, const char *upload_id,
                      struct mig_verify *v, mig_etag_t *etags, int64_t nparts)
{
    struct part_pool pp = {.cx = cx, .upload_id = upload_id, .v = v, .etags = etags,
                           .nparts = nparts, .next_claim = first ? 1 : 0};
    pthread_mutex_init(&pp.mu, NULL);
    pthread_cond_init(&pp.cv, NULL);
    pthread_t tids[MIG_PART_STREAMS];
    int n = 0;
    while (n < MIG_PART_STREAMS - 1 && n + 1 < pp.nparts &&
           pthread_create(&tids[n], NULL, part_thread, &pp) == 0)
        n++;
    if (first) {
        part_stream(&pp, cx->hs, cx->hd, first, true);
    } else {
        struct mig_resp resp;
        mig_resp_init(&resp, (size_t)cx->part_size);
        part_stream(&pp, cx->hs, cx->hd, &resp, false);
        mig_resp_free(&resp);
    }
    for (int i = 0; i < n; i++)
        pthread_join(tids[i], NULL);
    *cx->retries += pp.retries;
    int rc = pp.rc;
    if (rc) {
        *cx->permanent = pp.permanent;
        snprintf(cx->err, cx->errsz, "%s", pp.err);
    }
    pthread_cond_destroy(&pp.cv);
    pthread_mutex_destroy(&pp.mu);
    return rc;
}

/* Verifies a resumed object by reading it back from the destination, part by part. */
static int verify_readback(struct copy_ctx *cx, struct mig_verify *v)
{
    struct gz_buf b;
    gz_buf_init(&b, (size_t)cx->part_size);
    int rc = 0;
    for (int64_t off = 0; rc == 0 && off < cx->size; off += cx->part_size) {
        int64_t len = cx->size - off < cx->part_size ? cx->size - off : cx->part_size;
        gz_buf_reset(&b);
        rc = mig_dst_read(cx->dst, cx->hd, cx->key, off, len, &b, cx->err, cx->errsz);
        if (rc == 0)
            mig_verify_update(v, b.ptr, b.len);
    }
    gz_buf_free(&b);
    if (rc == 0)
        rc = mig_verify_final(v, cx->size, cx->res->sha256, cx->err, cx->errsz);
    return rc;
}

struct resume_fill {
    mig_etag_t *etags;
    int64_t nparts;
    int found;
};

static void resume_part(void *arg, int part, const char *etag)
{
    struct resume_fill *rf = arg;
    if (part >= 1 && part <= rf->nparts) {
        snprintf(rf->etags[part - 1], sizeof(rf->etags[0]), "%s", etag);
        rf->found++;
    }
}

/* A journaled upload of this very source version and part size: fills etags and the source
 * identity (HEAD); returns true to resume. Otherwise aborts any stale upload. */
static bool resume_find(struct copy_ctx *cx, char *upload_id, size_t idsz, mig_etag_t *etags,
                        int64_t nparts, struct mig_resp *head)
{
    struct mig_upload_rec u;
    if (!cx->env->j || mig_journal_upload_get(cx->env->j, cx->key, &u) != 1)
        return false;
    bool same = strcmp(u.src_etag, cx->etag) == 0 && u.part_size == cx->part_size;
    if (same && source_head(cx, head, NULL) == 0) {
        char listed[80];
        snprintf(listed, sizeof(listed), "%s", cx->etag);
        int64_t size = cx->size;
        source_identity(cx, head);
        same = strcmp(listed, cx->etag) == 0 && size == cx->size;
    } else {
        same = false;
    }
    struct resume_fill rf = {.etags = etags, .nparts = nparts};
    if (same)
        mig_journal_parts_each(cx->env->j, cx->key, resume_part, &rf);
    if (same && rf.found > 0) {
        snprintf(upload_id, idsz, "%s", u.upload_id);
        return true;
    }
    mig_mpu_abort(cx->dst, cx->hd, cx->key, u.upload_id);
    mig_journal_upload_drop(cx->env->j, cx->key);
    for (int64_t i = 0; i < nparts; i++)
        etags[i][0] = '\0';
    return false;
}

/* A fresh upload: part 0 is read first (unpinned: it tells the ETag later parts pin to). */
static int upload_start(struct copy_ctx *cx, struct mig_resp *resp, char *upload_id,
                        size_t idsz)
{
    int rc = source_get(cx, resp, 0, cx->part_size, false);
    if (rc)
        return rc;
    source_identity(cx, resp);
    if (cx->size <= cx->part_size)
        return 1; /* it shrank: a single PUT */
    struct curl_slist *meta = mig_meta_headers(cx->src->preset, resp);
    struct mig_objhdr oh = object_hdr(cx, meta);
    rc = mig_mpu_create(cx->dst, cx->hd, cx->key, &oh, upload_id, idsz, cx->retries, cx->err,
                        cx->errsz);
    curl_slist_free_all(meta);
    if (rc == 0 && cx->env->j) {
        struct mig_upload_rec u = {.part_size = cx->part_size};
        snprintf(u.upload_id, sizeof(u.upload_id), "%s", upload_id);
        snprintf(u.src_etag, sizeof(u.src_etag), "%s", cx->etag);
        mig_journal_upload_put(cx->env->j, cx->key, &u);
    }
    return rc;
}

static int copy_large(struct copy_ctx *cx, struct mig_verify *v)
{
    struct mig_resp resp;
    char upload_id[512] = "";
    mig_resp_init(&resp, (size_t)cx->part_size);
    int64_t nparts = (cx->size + cx->part_size - 1) / cx->part_size;
    mig_etag_t *etags = gz_calloc((size_t)nparts, sizeof(*etags));
    bool resumed = resume_find(cx, upload_id, sizeof(upload_id), etags, nparts, &resp);
    int rc = resumed ? 0 : upload_start(cx, &resp, upload_id, sizeof(upload_id));
    if (rc == 1) {
        rc = put_whole(cx, &resp, v);
        goto out;
    }
    if (rc == 0 && !resumed && (cx->size + cx->part_size - 1) / cx->part_size != nparts) {
        gz_free(etags); /* the object changed size: its new part count */
        nparts = (cx->size + cx->part_size - 1) / cx->part_size;
        etags = gz_calloc((size_t)nparts, sizeof(*etags));
    }
    if (rc == 0) {
        verify_setup(cx, v, &resp);
        rc = copy_parts(cx, resumed ? NULL : &resp, upload_id, resumed ? NULL : v, etags,
                        nparts);
    }
    if (rc == 0 && !resumed)
        rc = mig_verify_final(v, cx->size, cx->res->sha256, cx->err, cx->errsz);
    bool completed = false;
    if (rc == 0) {
        struct mig_objhdr oh = object_hdr(cx, NULL);
        rc = mig_mpu_complete(cx->dst, cx->hd, cx->key, upload_id, etags, (int)nparts, &oh,
                              cx->retries, cx->err, cx->errsz);
        *cx->permanent |= permanent_store_error(rc);
        completed = rc == 0;
    }
    if (rc == 0 && resumed && (rc = verify_readback(cx, v)) != 0) {
        char why[MIG_ERR_MAX]; /* never leave an unverified object behind */
        mig_delete_object(cx->dst, cx->hd, cx->key, NULL, why, sizeof(why));
    }
    bool keep = cx->env->j && !completed && (rc == MIG_STOPPED_RC || rc == -EIO); /* resume */
    if (completed)
        upload_id[0] = '\0'; /* nothing to abort */
    if (rc && !keep && upload_id[0])
        mig_mpu_abort(cx->dst, cx->hd, cx->key, upload_id);
    if (cx->env->j && !keep)
        mig_journal_upload_drop(cx->env->j, cx->key);
out:
    gz_free(etags);
    mig_resp_free(&resp);
    return rc;
}

/* ---- archive classes ---- */

/* The restore status and the storage class of a HEAD, from the provider's headers or
 * x-amz-*; false if no restore status is given. */
static bool restore_status(const struct copy_ctx *cx, const struct mig_resp *resp, char *v,
                           size_t vsz, char *sclass, size_t scsz)
{
    static const char *const ns[] = {"x-amz-", "x-oss-", "x-obs-", "x-cos-"};
    const char *own = cx->src->preset->header_prefix;
    char name[64];
    bool has = false;
    for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]) + 1 && !has; i++) {
        const char *pfx = i == 0 ? (own ? own : "x-amz-") : ns[i - 1];
        snprintf(name, sizeof(name), "%srestore", pfx);
        has = mig_resp_header(resp, name, v, vsz);
    }
    for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
        snprintf(name, sizeof(name), "%sstorage-class", ns[i]);
        if (mig_resp_header(resp, name, sclass, scsz))
            break;
    }
    return has;
}

/* POST ?restore with the body this provider documents for the class. */
static int restore_request(struct copy_ctx *cx, struct mig_resp *resp, const char *sclass)
{
    char body[256], md5b64[32];
    uint8_t md5[16];
    int n = gz_migrate_restore_body(cx->src->preset->provider, sclass, body, sizeof(body));
    if (n < 0)
        return n;
    gz_md5(body, (size_t)n, md5); /* OBS and COS ask for Content-MD5 */
    gz_base64_encode(md5b64, md5, sizeof(md5));
    char line[64];
    snprintf(line, sizeof(line), "Content-MD5: %s", md5b64);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/xml");
    h = curl_slist_append(h, line);
    struct mig_req rq = {.method = "POST", .key = cx->key, .query = "restore=", .headers = h,
                         .body = body, .body_len = (size_t)n};
    int rc = source_call(cx, &rq, resp, "RestoreObject");
    curl_slist_free_all(h);
    if (rc == 0 || resp->status == 409) /* 202 requested, 200 already readable (OSS: it
                                         * extends), 409 RestoreAlreadyInProgress */
        rc = 1;
    return rc;
}

/* HEADs an archived object: 0 if readable (restored), 1 if waiting (restore requested now or
 * in progress, or not requested with no_restore). listed: the class the listing gave. */
static int copy_archived(struct copy_ctx *cx, const char *listed)
{
    struct mig_resp resp;
    char v[256] = "", sclass[64] = "";
    mig_resp_init(&resp, 64 * 1024);
    int rc = source_head(cx, &resp, NULL);
    bool has = rc == 0 && restore_status(cx, &resp, v, sizeof(v), sclass, sizeof(sclass));
    if (rc == 0 && has && gz_migrate_restore_ready(v))
        rc = 0;
    else if (rc == 0 && (has || cx->env->no_restore))
        rc = 1;
    else if (rc == 0)
        rc = restore_request(cx, &resp, sclass[0] ? sclass : listed);
    if (rc == 1)
        snprintf(cx->err, cx->errsz, "%s", cx->env->no_restore && !has
                 ? "archived: restore not requested (--no-restore)"
                 : "archived: waiting for the restore");
    mig_resp_free(&resp);
    return rc;
}

/* Reads the source object's ACL; grants beyond the owner's are reported, not carried. A
 * source that will not say (no permission, not supported) is reported as "acl-unknown". */
static void copy_acl_check(struct copy_ctx *cx)
{
    struct mig_resp resp;
    struct mig_req rq = {.method = "GET", .key = cx->key, .query = "acl"};
    mig_resp_init(&resp, 256 * 1024);
    int rc = mig_s3_call(cx->src, cx->hs, &rq, &resp, MIG_MAX_ATTEMPTS, cx->retries);
    char *out = cx->res->not_carried;
    size_t n = strlen(out), outsz = sizeof(cx->res->not_carried);
    bool seen = strcmp(out, "acl") == 0 || strstr(out, ",acl,") || strncmp(out, "acl,", 4) == 0 ||
                (n > 4 && strcmp(out + n - 4, ",acl") == 0); /* already seen on the HEAD */
    if (rc < 0 || resp.status != 200)
        snprintf(out + n, outsz - n, "%sacl-unknown", n ? "," : "");
    else if (!seen && mig_acl_has_extra_grants(resp.body.ptr, resp.body.len))
        snprintf(out + n, outsz - n, "%sacl", n ? "," : "");
    mig_resp_free(&resp);
}

int mig_copy_object(const struct mig_copy_env *env, CURL *hs, CURL *hd, const char *key,
                    int64_t size, const char *etag, const char *storage_class,
                    struct mig_copy_result *res, char *err, size_t errsz)
{
    struct copy_ctx cx = {.env = env, .src = env->src, .dst = env->dst, .hs = hs, .hd = hd,
                          .key = key, .size = size, .part_size = env->part_size,
                          .retries = &res->retries, .permanent = &res->permanent,
                          .err = err, .errsz = errsz, .res = res};
    snprintf(cx.etag, sizeof(cx.etag), "%s", etag ? etag : "");
    res->permanent = res->waiting = res->stopped = false;
    res->not_carried[0] = '\0';
    int rc = mig_storage_class_archive(storage_class) ? copy_archived(&cx, storage_class) : 0;
    if (rc == 0) {
        source_layout(&cx);
        if (cx.layout_part >= 5 * 1024 * 1024 && cx.layout_part <= MIG_MAX_SOURCE_PART)
            cx.part_size = cx.layout_part; /* same layout: same multipart ETag at the end */
        while ((cx.size + cx.part_size - 1) / cx.part_size > MIG_MAX_PARTS)
            cx.part_size *= 2;
        struct mig_verify v;
        memset(&v, 0, sizeof(v));
        rc = cx.size <= cx.part_size ? copy_small(&cx, &v) : copy_large(&cx, &v);
        res->method = v.method;
        mig_verify_dispose(&v);
        if (rc == MIG_ARCHIVED_RC) { /* not listed as archived, but it is */
            rc = copy_archived(&cx, "");
            if (rc == 0) { /* restored, yet the GET refused it: try again */
                snprintf(err, errsz, "archived object not readable yet");
                rc = -EAGAIN;
            }
        }
    }
    res->waiting = rc == 1;
    res->stopped = rc == MIG_STOPPED_RC;
    if (rc == 0 && env->check_acl)
        copy_acl_check(&cx);
    snprintf(res->etag, sizeof(res->etag), "%s", cx.etag);
    res->size = cx.size;
    return rc == 1 ? 0 : rc;
}

bool mig_copy_pipelinable(const struct mig_copy_env *env, int64_t size, const char *etag,
                          const char *storage_class)
{
    return !env->check_acl && size <= MIG_PIPE_MAX && size <= env->part_size &&
           !mig_storage_class_archive(storage_class) &&
           !gz_migrate_etag_is_multipart(etag ? etag : "");
}

int mig_copy_fetch(const struct mig_copy_env *env, CURL *hs, CURL *hd, const char *key,
                   int64_t size, const char *etag, struct mig_fetched *f,
                   struct mig_copy_result *res, char *err, size_t errsz)
{
    struct copy_ctx cx = {.env = env, .src = env->src, .dst = env->dst, .hs = hs, .hd = hd,
                          .key = key, .size = size, .part_size = MIG_PIPE_MAX,
                          .retries = &res->retries, .permanent = &res->permanent,
                          .err = err, .errsz = errsz, .res = res};
    struct mig_verify v;
    memset(&v, 0, sizeof(v));
    snprintf(cx.etag, sizeof(cx.etag), "%s", etag ? etag : "");
    res->permanent = res->waiting = res->stopped = false;
    res->not_carried[0] = '\0';
    mig_resp_init(&f->resp, MIG_PIPE_MAX + 1); /* larger now: it grew (-EAGAIN, restat) */
    int rc = source_get(&cx, &f->resp, 0, -1, false);
    if (rc == 0) {
        source_identity(&cx, &f->resp); /* what we read is what we verify */
        cx.size = (int64_t)f->resp.body.len;
        verify_setup(&cx, &v, &f->resp);
        mig_verify_update(&v, f->resp.body.ptr, f->resp.body.len);
        rc = mig_verify_final(&v, cx.size, res->sha256, err, errsz);
    }
    res->method = v.method;
    mig_verify_dispose(&v);
    snprintf(res->etag, sizeof(res->etag), "%s", cx.etag);
    res->size = cx.size;
    f->mtime = cx.mtime;
    if (rc == 0)
        return 1;
    mig_resp_free(&f->resp);
    memset(&f->resp, 0, sizeof(f->resp));
    if (rc == MIG_ARCHIVED_RC) /* not listed as archived, but it is: the whole path */
        return mig_copy_object(env, hs, hd, key, size, etag, "", res, err, errsz);
    res->stopped = rc == MIG_STOPPED_RC;
    return rc;
}

int mig_copy_put(const struct mig_copy_env *env, CURL *hd, const char *key,
                 struct mig_fetched *f, struct mig_copy_result *res, char *err, size_t errsz)
{
    struct curl_slist *meta = mig_meta_headers(env->src->preset, &f->resp);
    struct mig_objhdr oh = {.meta = meta, .src_etag = res->etag, .src_mtime = f->mtime,
                            .body_md5 = res->method == MIG_VERIFY_MD5 ? res->etag : NULL};
    int rc = mig_put_object(env->dst, hd, key, &oh, f->resp.body.ptr, f->resp.body.len,
                            &res->retries, err, errsz);
    res->permanent |= permanent_store_error(rc);
    curl_slist_free_all(meta);
    mig_resp_free(&f->resp);
    return rc;
}

int mig_copy_restat(const struct mig_copy_env *env, CURL *hs, const char *key, int64_t *size,
                    char *etag, size_t etagsz)
{
    struct mig_copy_result res;
    char err[MIG_ERR_MAX];
    memset(&res, 0, sizeof(res));
    struct copy_ctx cx = {.env = env, .src = env->src, .hs = hs, .key = key, .size = *size,
                          .retries = &res.retries, .permanent = &res.permanent, .err = err,
                          .errsz = sizeof(err), .res = &res};
    struct mig_resp resp;
    mig_resp_init(&resp, 4096);
    int rc = source_head(&cx, &resp, NULL);
    if (rc == 0) {
        source_identity(&cx, &resp);
        *size = cx.size;
        snprintf(etag, etagsz, "%s", cx.etag);
    }
    mig_resp_free(&resp);
    return rc;
}
