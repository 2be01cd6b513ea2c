/*
 * sse_rotate.c - `gzy sse rotate`: adds a new master key to DATA/sse.keys and re-wraps every
 * SSE-S3/SM4 object's data key under it, without touching the encrypted bodies. Offline: the
 * store is opened here, which takes the data folder's LOCK (a running server holds it, so
 * rotation then refuses with -EBUSY).
 *
 * Each object's headers are replaced by a store copy onto itself (the body file is shared,
 * never rewritten), guarded by its ETag. Crash-safe: the new key is durable before any object
 * uses it, and old keys stay in the file, so a half-done rotation leaves every object
 * readable; running it again finishes the job (under yet another new key).
 */
#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>

#include "sse_int.h"

#define ROTATE_PAGE 1000
#define ROTATE_META_MAX (1024 * 1024)

struct rotate_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int status;
};

static void rotate_done(void *ud, int status)
{
    struct rotate_wait *w = ud;
    pthread_mutex_lock(&w->mu);
    w->done = true;
    w->status = status;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

struct rotate {
    struct store *s;
    struct s3__sse_keyring kr;
    int64_t count;
    int err;
    char bucket[STORE_MAX_BUCKET + 1];
    char after[STORE_MAX_KEY + 1];
    size_t after_len;
    char *keys[ROTATE_PAGE]; /* one page of keys */
    size_t key_len[ROTATE_PAGE];
    int nkeys;
};

/* Headers with the envelope replaced by one wrapped under the current key. 1 if the object
 * needs no change, 0 if *out was built, negative on error. */
static int rotate_headers(struct rotate *rt, struct gz_slice in, struct gz_buf *out)
{
    size_t pos = 0;
    struct gz_slice n, v;
    int rc = 1;
    while (store_headers_next(in, &pos, &n, &v)) {
        if (!gz_slice_case_eq_cstr(n, SSE_HEADER)) {
            if (store_headers_add(out, n, v) < 0)
                return -E2BIG;
            continue;
        }
        struct s3__sse_env env;
        uint8_t dk[SSE_KEY];
        char text[256];
        uint32_t cur = rt->kr.id[rt->kr.n - 1];
        if (s3__sse_env_parse(v, &env) < 0)
            return GZ_ECORRUPT;
        if (env.customer || env.kid == cur) {
            rc = store_headers_add(out, n, v) < 0 ? -E2BIG : rc;
            continue;
        }
        const uint8_t *old = s3__sse_keys_find(&rt->kr, env.kid);
        if (old == NULL)
            return -ENOKEY;
        rc = s3__sse_env_unwrap(&env, old, dk);
        env.kid = cur;
        if (rc == 0)
            rc = s3__sse_env_wrap(&env, rt->kr.key[rt->kr.n - 1], dk);
        OPENSSL_cleanse(dk, sizeof(dk));
        if (rc == 0)
            rc = s3__sse_env_format(&env, text, sizeof(text));
        if (rc == 0)
            rc = store_headers_add(out, n, gz_slice_cstr(text));
        if (rc < 0)
            return rc;
    }
    return rc;
}

static int rotate_object(struct rotate *rt, struct gz_slice key)
{
    struct gz_slice bucket = gz_slice_cstr(rt->bucket);
    struct store_meta m;
    struct gz_buf hold, out;
    gz_buf_init(&hold, 0);
    gz_buf_init(&out, ROTATE_META_MAX);
    int rc = store_object_stat(rt->s, bucket, key, &m, &hold);
    if (rc == 0)
        rc = rotate_headers(rt, m.headers, &out);
    if (rc == 0) {
        struct rotate_wait w = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
        struct store_meta nm = m;
        nm.headers = gz_buf_slice(&out);
        store_object_copy(rt->s, bucket, key, m.etag, bucket, key, &nm, rotate_done, &w);
        pthread_mutex_lock(&w.mu);
        while (!w.done)
            pthread_cond_wait(&w.cv, &w.mu);
        pthread_mutex_unlock(&w.mu);
        rc = w.status;
        if (rc == 0)
            rt->count++;
    }
    gz_buf_free(&hold);
    gz_buf_free(&out);
    if (rc == GZ_ENOKEY || rc == 1)
        return 0; /* deleted meanwhile, or nothing to do */
    return rc;
}

static void rotate_list_cb(const struct store_list_entry *e, void *ud)
{
    struct rotate *rt = ud;
    if (e->is_prefix || rt->nkeys >= ROTATE_PAGE)
        return;
    rt->keys[rt->nkeys] = gz_strndup(e->key.ptr, e->key.len);
    rt->key_len[rt->nkeys++] = e->key.len;
}

static int rotate_bucket(const struct store_bucket *b, void *ud)
{
    struct rotate *rt = ud;
    bool more = true;
    snprintf(rt->bucket, sizeof(rt->bucket), "%s", b->name);
    rt->after_len = 0;
    while (more && rt->err == 0) {
        rt->nkeys = 0;
        int rc = store_object_list(rt->s, gz_slice_cstr(rt->bucket), GZ_SLICE_NULL,
                                   gz_slice(rt->after, rt->after_len), GZ_SLICE_NULL, ROTATE_PAGE,
                                   rotate_list_cb, rt, &more);
        for (int i = 0; i < rt->nkeys; i++) {
            if (rc == 0)
                rc = rotate_object(rt, gz_slice(rt->keys[i], rt->key_len[i]));
            if (i == rt->nkeys - 1) {
                memcpy(rt->after, rt->keys[i], rt->key_len[i]);
                rt->after_len = rt->key_len[i];
            }
            gz_free(rt->keys[i]);
        }
        if (rc < 0)
            rt->err = rc;
        if (rt->nkeys == 0)
            more = false;
    }
    return rt->err != 0;
}

int s3__sse_rotate(const char *data_dir, int64_t *count, char *msg, size_t msgsz)
{
    struct store_config cfg = {.data_dir = data_dir, .sync = 1};
    struct rotate *rt = gz_calloc(1, sizeof(*rt));
    *count = 0;
    int rc = store_open(&cfg, &rt->s);
    if (rc < 0) {
        snprintf(msg, msgsz, "cannot open the store in %s: %s%s", data_dir, gz_strerror(rc),
                 rc == -EBUSY || rc == -EAGAIN || rc == -EWOULDBLOCK
                     ? " (is a server running on it? stop it first)"
                     : "");
        gz_free(rt);
        return rc;
    }
    rc = s3__sse_keys_load(data_dir, true, &rt->kr);
    if (rc == 0)
        rc = s3__sse_keys_add(data_dir, &rt->kr);
    if (rc < 0) {
        char path[PATH_MAX];
        if (s3__sse_keys_path(data_dir, path, sizeof(path)) < 0)
            snprintf(path, sizeof(path), "%s/%s", data_dir, SSE_KEYS_FILE);
        snprintf(msg, msgsz, "master key file %s: %s", path, gz_strerror(rc));
    }
    if (rc == 0) {
        store_bucket_list(rt->s, NULL, rotate_bucket, rt);
        rc = rt->err;
        if (rc < 0)
            snprintf(msg, msgsz, "re-wrapping in bucket %s failed after %lld objects: %s",
                     rt->bucket, (long long)rt->count, gz_strerror(rc));
    }
    *count = rt->count;
    store_close(rt->s);
    s3__sse_keys_wipe(&rt->kr);
    gz_free(rt);
    return rc;
}
