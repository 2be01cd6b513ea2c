/*
 * manifest_check.c - `gzy migrate verify-manifest`: checks a signed manifest against what the
 * destination actually stores. The signature is checked first, in a pass of its own, so a
 * tampered manifest fails before any request is made; then the manifest is read again and its
 * entries go through a small bounded queue to worker threads that GET each object with the
 * engine's S3 client, streaming the bytes through SHA-256 (memory: workers x one chunk). The
 * second read verifies the signature again, so a file swapped in between is caught too.
 * With a store in the options the workers read the objects through it instead (a server
 * checking what it holds), the plaintext of sealed objects through the sealer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../store/store.h"
#include "evidence.h"
#include "migrate_int.h"
#include "seal.h"

#define CHK_QUEUE 64
#define CHK_STORE_CHUNK (1024 * 1024) /* plaintext of a sealed object read per call */
#define CHK_MAX_WORKERS 256

struct chk_item {
    char *key;
    int64_t size;
    char sha[65]; /* "" when the manifest has none */
};

struct chk {
    const struct gz_mig_check_options *opt;
    struct mig_client cl;       /* over HTTP (opt->store NULL) */
    const char *bucket;         /* through the store */
    struct gz_mig_check_result *res;
    pthread_mutex_t mu; /* queue, result, callback */
    pthread_cond_t not_full, not_empty;
    struct chk_item q[CHK_QUEUE];
    int head, count;
    bool done;
};

/* The body of one GET: hashed when the status is 200, else kept (bounded) for the message. */
struct chk_sink {
    struct mig_resp *resp;
    struct gz_hash sha;
    int64_t bytes;
    long status;
};

static size_t chk_body(char *p, size_t sz, size_t n, void *arg)
{
    struct chk_sink *s = arg;
    if (s->status == 0) {
        const char *h = s->resp->headers.ptr;
        const char *sp = h ? memchr(h, ' ', s->resp->headers.len) : NULL;
        s->status = sp ? strtol(sp + 1, NULL, 10) : -1;
    }
    if (s->status != 200)
        return gz_buf_append(&s->resp->body, p, sz * n) == 0 ? sz * n : 0;
    gz_hash_update(&s->sha, p, sz * n);
    s->bytes += (int64_t)(sz * n);
    return sz * n;
}

static void report(struct chk *c, const char *key, const char *problem, const char *detail)
{
    struct gz_mig_check_result *r = c->res;
    if (strcmp(problem, "missing") == 0)
        r->missing++;
    else if (strcmp(problem, "mismatched") == 0)
        r->mismatched++;
    else
        r->errors++;
    if (c->opt->on_bad)
        c->opt->on_bad(c->opt->cb_arg, key, problem, detail);
}

/* The outcome of one object read whole into sha (bytes of it): reported, or counted ok. */
static void chk_outcome(struct chk *c, const struct chk_item *it, struct gz_hash *sha,
                        int64_t bytes)
{
    uint8_t d[32];
    char hex[65], detail[600];
    gz_hash_final(sha, d);
    gz_hex_encode(hex, d, 32);
    if (bytes != it->size) {
        snprintf(detail, sizeof(detail), "size %lld, manifest says %lld", (long long)bytes,
                 (long long)it->size);
        report(c, it->key, "mismatched", detail);
    } else if (it->sha[0] && strcmp(hex, it->sha) != 0) {
        snprintf(detail, sizeof(detail), "sha256 %s, manifest says %s", hex, it->sha);
        report(c, it->key, "mismatched", detail);
    } else {
        c->res->ok++;
        c->res->size_only += it->sha[0] ? 0 : 1;
    }
}

/* One object: GET with retries on transient failures (the hash restarts each attempt). */
static void check_one(struct chk *c, CURL *h, struct mig_resp *resp, const struct chk_item *it)
{
    struct chk_sink s = {.resp = resp};
    struct mig_req rq = {.method = "GET", .key = it->key, .sink = chk_body, .sink_arg = &s};
    int rc = 0;
    for (int attempt = 0; attempt < MIG_MAX_ATTEMPTS; attempt++) {
        if (attempt > 0)
            usleep((useconds_t)(100000u << (attempt - 1)));
        gz_hash_dispose(&s.sha);
        gz_hash_init(&s.sha, GZ_HASH_SHA256);
        s.bytes = 0;
        s.status = 0;
        rc = mig_s3_once(&c->cl, h, &rq, resp);
        if (!mig_resp_transient(resp))
            break;
    }
    char detail[600];
    pthread_mutex_lock(&c->mu);
    c->res->bytes_read += s.bytes;
    if (rc == 0 && resp->status == 404) {
        report(c, it->key, "missing", "HTTP 404");
    } else if (rc != 0 || resp->status != 200 || resp->curl != CURLE_OK) {
        mig_resp_describe(resp, detail, sizeof(detail));
        report(c, it->key, "error", detail);
    } else {
        chk_outcome(c, it, &s.sha, s.bytes);
    }
    pthread_mutex_unlock(&c->mu);
    gz_hash_dispose(&s.sha);
}

/* Hashes the stored body of an object (its plaintext when sealed) into sha. */
static int store_hash(struct chk *c, const char *key, struct gz_hash *sha, int64_t *bytes,
                      struct gz_buf *buf)
{
    const struct gz_mig_sealer *se = c->opt->sealer;
    struct gz_slice bucket = gz_slice_cstr(c->bucket), k = gz_slice_cstr(key);
    struct store_reader *r = NULL;
    struct store_meta m;
    int rc = store_object_open(c->opt->store, bucket, k, &r, &m);
    bool raw = rc == 0 && (!se || !se->bucket_sealed(se->ctx, bucket));
    int64_t plain = rc == 0 && !raw ? se->plain_size(se->ctx, bucket, k, m.size) : 0;
    for (int64_t off = 0; rc == 0 && !raw && off < plain;) {
        int64_t len = plain - off < CHK_STORE_CHUNK ? plain - off : CHK_STORE_CHUNK;
        gz_buf_reset(buf);
        rc = se->read(se->ctx, m.headers, m.size, r, off, len, buf);
        if (rc == 1 && off == 0) { /* not encrypted after all: the stored bytes */
            raw = true;
            rc = 0;
            break;
        }
        if (rc == 0 && (int64_t)buf->len != len)
            rc = -EIO;
        if (rc == 0) {
            gz_hash_update(sha, buf->ptr, buf->len);
            *bytes += len;
            off += len;
        }
    }
    while (rc == 0 && raw) {
        int64_t n = store_reader_read(r, buf->ptr, CHK_STORE_CHUNK);
        if (n <= 0) {
            rc = (int)n;
            break;
        }
        gz_hash_update(sha, buf->ptr, (size_t)n);
        *bytes += n;
    }
    store_reader_close(r);
    return rc;
}

/* One object through the store. */
static void check_one_store(struct chk *c, struct gz_buf *buf, const struct chk_item *it)
{
    struct gz_hash sha;
    int64_t bytes = 0;
    gz_hash_init(&sha, GZ_HASH_SHA256);
    int rc = store_hash(c, it->key, &sha, &bytes, buf);
    pthread_mutex_lock(&c->mu);
    c->res->bytes_read += bytes;
    if (rc == GZ_ENOKEY) {
        report(c, it->key, "missing", "no such object");
    } else if (rc < 0) {
        char detail[300];
        snprintf(detail, sizeof(detail), "read: %s", gz_strerror(rc));
        report(c, it->key, "error", detail);
    } else {
        chk_outcome(c, it, &sha, bytes);
    }
    pthread_mutex_unlock(&c->mu);
    gz_hash_dispose(&sha);
}

/* Has the caller asked the check to end (opt->should_stop)? */
static bool chk_stopped(const struct chk *c)
{
    return c->opt->should_stop && c->opt->should_stop(c->opt->cb_arg);
}

static void *chk_worker(void *arg)
{
    struct chk *c = arg;
    CURL *h = c->opt->store ? NULL : curl_easy_init();
    struct mig_resp resp;
    struct gz_buf buf;
    mig_resp_init(&resp, 16 * 1024);
    gz_buf_init(&buf, CHK_STORE_CHUNK);
    if (c->opt->store && gz_buf_reserve(&buf, CHK_STORE_CHUNK) < 0)
        gz_buf_free(&buf); /* max 0: every object then reports an error */
    for (;;) {
        pthread_mutex_lock(&c->mu);
        while (c->count == 0 && !c->done)
            pthread_cond_wait(&c->not_empty, &c->mu);
        if (c->count == 0) {
            pthread_mutex_unlock(&c->mu);
            break;
        }
        struct chk_item it = c->q[c->head];
        c->head = (c->head + 1) % CHK_QUEUE;
        c->count--;
        pthread_cond_signal(&c->not_full);
        pthread_mutex_unlock(&c->mu);
        if (chk_stopped(c)) {
            /* stopping: the queued objects are left unchecked */
        } else if (c->opt->store && buf.ptr) {
            check_one_store(c, &buf, &it);
        } else if (h) {
            check_one(c, h, &resp, &it);
        } else {
            pthread_mutex_lock(&c->mu);
            report(c, it.key, "error", "out of memory");
            pthread_mutex_unlock(&c->mu);
        }
        gz_free(it.key);
    }
    gz_buf_free(&buf);
    mig_resp_free(&resp);
    if (h)
        curl_easy_cleanup(h);
    return NULL;
}

static int enqueue(void *arg, const struct gz_mig_manifest_entry *e)
{
    struct chk *c = arg;
    if (chk_stopped(c))
        return -EINTR; /* ends the manifest read; the workers drain what is queued */
    pthread_mutex_lock(&c->mu);
    while (c->count == CHK_QUEUE)
        pthread_cond_wait(&c->not_full, &c->mu);
    struct chk_item *it = &c->q[(c->head + c->count) % CHK_QUEUE];
    it->key = gz_strdup(e->key);
    it->size = e->size;
    snprintf(it->sha, sizeof(it->sha), "%s", e->sha256 ? e->sha256 : "");
    c->count++;
    c->res->objects++;
    c->res->bytes += e->size;
    pthread_cond_signal(&c->not_empty);
    pthread_mutex_unlock(&c->mu);
    return 0;
}

/* HEAD of the bucket: bad endpoint, credentials or bucket fail here, once, clearly. */
static int probe(struct chk *c, char *err, size_t errsz)
{
    CURL *h = curl_easy_init();
    struct mig_resp resp;
    mig_resp_init(&resp, 16 * 1024);
    struct mig_req rq = {.method = "HEAD"};
    int rc = h ? mig_s3_call(&c->cl, h, &rq, &resp, MIG_MAX_ATTEMPTS, NULL) : -ENOMEM;
    if (rc == 0 && resp.status >= 300)
        rc = resp.status == 403 ? -EACCES : resp.status == 404 ? -ENOENT : -EIO;
    if (rc) {
        char why[400];
        mig_resp_describe(&resp, why, sizeof(why));
        snprintf(err, errsz, "destination %s (bucket %s): %s%s", c->cl.base, c->cl.bucket, why,
                 rc == -EACCES   ? " (check the access key and secret)"
                 : rc == -ENOENT ? " (no such bucket)"
                                 : "");
    }
    mig_resp_free(&resp);
    if (h)
        curl_easy_cleanup(h);
    return rc;
}

/* The bucket, through the store: once, clearly. */
static int probe_store(struct chk *c, char *err, size_t errsz)
{
    struct store_bucket b;
    int rc = c->bucket && *c->bucket ? store_bucket_get(c->opt->store, gz_slice_cstr(c->bucket),
                                                        &b)
                                     : GZ_ENOBUCKET;
    if (rc < 0)
        snprintf(err, errsz, "destination bucket %s: %s", c->bucket ? c->bucket : "(none)",
                 rc == GZ_ENOBUCKET ? "no such bucket" : gz_strerror(rc));
    return rc == GZ_ENOBUCKET ? -ENOENT : rc;
}

/* Starts the workers, feeds them from a second (verifying) read, waits for them. */
static int run_checks(struct chk *c, const char *path, char *err, size_t errsz)
{
    int n = c->opt->concurrency > 0 ? c->opt->concurrency : 8;
    n = n > CHK_MAX_WORKERS ? CHK_MAX_WORKERS : n;
    pthread_t tids[CHK_MAX_WORKERS];
    int started = 0;
    while (started < n && pthread_create(&tids[started], NULL, chk_worker, c) == 0)
        started++;
    if (started == 0) {
        snprintf(err, errsz, "cannot start worker threads");
        return -EAGAIN;
    }
    struct gz_mig_manifest_info info;
    int rc = gz_migrate_manifest_read(path, c->opt->public_key, &info, enqueue, c, err, errsz);
    pthread_mutex_lock(&c->mu);
    c->done = true;
    pthread_cond_broadcast(&c->not_empty);
    pthread_mutex_unlock(&c->mu);
    for (int i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    return rc;
}

int gz_migrate_manifest_check(const char *manifest_path, const struct gz_mig_check_options *opt,
                              struct gz_mig_check_result *res, char *err, size_t errsz)
{
    memset(res, 0, sizeof(*res));
    int64_t t0 = gz_now_ms();
    struct gz_mig_manifest_info info;
    int rc =
        gz_migrate_manifest_read(manifest_path, opt->public_key, &info, NULL, NULL, err, errsz);
    if (rc)
        return rc;
    struct gz_mig_endpoint ep = opt->dst;
    if (!ep.bucket || !*ep.bucket)
        ep.bucket = info.dest_bucket;
    struct chk c = {.opt = opt, .res = res, .bucket = ep.bucket};
    if (opt->store == NULL) {
        rc = mig_client_init(&c.cl, &ep, "destination", err, errsz);
        if (rc)
            return rc;
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            snprintf(err, errsz, "libcurl initialisation failed");
            return -EIO;
        }
    }
    pthread_mutex_init(&c.mu, NULL);
    pthread_cond_init(&c.not_full, NULL);
    pthread_cond_init(&c.not_empty, NULL);
    rc = opt->store ? probe_store(&c, err, errsz) : probe(&c, err, errsz);
    if (rc == 0)
        rc = run_checks(&c, manifest_path, err, errsz);
    pthread_cond_destroy(&c.not_empty);
    pthread_cond_destroy(&c.not_full);
    pthread_mutex_destroy(&c.mu);
    if (opt->store == NULL)
        curl_global_cleanup();
    res->elapsed_ms = gz_now_ms() - t0;
    if (rc == 0 && res->ok != res->objects)
        rc = GZ_MIG_PARTIAL;
    return rc;
}
