/*
 * test_store.c - the local store backend: buckets, objects (inline and file-backed), readers,
 * overwrite atomicity, copy, listing, multipart, group commit, crash recovery, persistence.
 *
 * Set GZ_STORE_BENCH=1 to also run the benchmarks (durable commits/s with and without
 * concurrency, listing page time over 1,000,000 keys); they print "# bench" lines.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/local/local_int.h"
#include "store/store.h"
#include "tap.h"

/* ---- helpers ---- */

struct waitgroup {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int pending;
    int fails;
    int last;
};

static void wg_init(struct waitgroup *wg)
{
    pthread_mutex_init(&wg->mu, NULL);
    pthread_cond_init(&wg->cv, NULL);
    wg->pending = wg->fails = wg->last = 0;
}

static void wg_add(struct waitgroup *wg, int n)
{
    pthread_mutex_lock(&wg->mu);
    wg->pending += n;
    pthread_mutex_unlock(&wg->mu);
}

static void wg_done(void *ud, int status)
{
    struct waitgroup *wg = ud;
    pthread_mutex_lock(&wg->mu);
    wg->pending--;
    wg->last = status;
    if (status != 0)
        wg->fails++;
    pthread_cond_broadcast(&wg->cv);
    pthread_mutex_unlock(&wg->mu);
}

/* Waits until at most `left` are pending. */
static void wg_wait_until(struct waitgroup *wg, int left)
{
    pthread_mutex_lock(&wg->mu);
    while (wg->pending > left)
        pthread_cond_wait(&wg->cv, &wg->mu);
    pthread_mutex_unlock(&wg->mu);
}

static void wg_destroy(struct waitgroup *wg)
{
    pthread_mutex_destroy(&wg->mu);
    pthread_cond_destroy(&wg->cv);
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void rm_rf(const char *dir)
{
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static char *tmpdir_new(void)
{
    char tmpl[] = "/tmp/gzstore.XXXXXX";
    char *d = mkdtemp(tmpl);
    if (d == NULL) {
        perror("mkdtemp");
        exit(1);
    }
    return gz_strdup(d);
}

static struct store *open_store(const char *dir, int sync, size_t inline_max)
{
    struct store_config cfg = {.data_dir = dir, .inline_max = inline_max, .sync = sync};
    struct store *s = NULL;
    int rc = store_open(&cfg, &s);
    if (rc != 0) {
        printf("# store_open(%s): %s\n", dir, gz_strerror(rc));
        exit(1);
    }
    return s;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (uint8_t)(x >> 16);
    }
}

static struct gz_slice S(const char *s)
{
    return gz_slice_cstr(s);
}

static int bucket_make(struct store *s, const char *name, const char *owner)
{
    struct store_bucket b = {0};
    snprintf(b.name, sizeof(b.name), "%s", name);
    snprintf(b.region, sizeof(b.region), "cn-sh");
    snprintf(b.owner, sizeof(b.owner), "%s", owner);
    return store_bucket_create(s, &b);
}

/* Writes a body in 64 KiB pieces and commits it asynchronously with wg. */
static void put_async(struct store *s, const char *bucket, struct gz_slice key, const void *data,
                      size_t n, const char *etag, struct gz_slice headers,
                      struct waitgroup *wg)
{
    struct store_writer *w;
    store_writer_open(s, &w);
    for (size_t off = 0; off < n; off += 65536)
        store_writer_write(w, (const uint8_t *)data + off, GZ_MIN((size_t)65536, n - off));
    struct store_meta meta = {.headers = headers};
    snprintf(meta.etag, sizeof(meta.etag), "%s", etag);
    wg_add(wg, 1);
    store_object_commit(s, w, S(bucket), key, &meta, wg_done, wg);
}

/* Synchronous put; returns the done status. */
static int put(struct store *s, const char *bucket, const char *key, const void *data, size_t n,
               const char *etag, struct gz_slice headers)
{
    struct waitgroup wg;
    wg_init(&wg);
    put_async(s, bucket, S(key), data, n, etag, headers, &wg);
    wg_wait_until(&wg, 0);
    wg_destroy(&wg);
    return wg.last;
}

static int del(struct store *s, const char *bucket, const char *key)
{
    struct waitgroup wg;
    wg_init(&wg);
    wg_add(&wg, 1);
    store_object_delete(s, S(bucket), S(key), wg_done, &wg);
    wg_wait_until(&wg, 0);
    wg_destroy(&wg);
    return wg.last;
}

static int copy(struct store *s, const char *sb, const char *sk, const char *etag,
                const char *db, const char *dk, const struct store_meta *meta)
{
    struct waitgroup wg;
    wg_init(&wg);
    wg_add(&wg, 1);
    store_object_copy(s, S(sb), S(sk), etag, S(db), S(dk), meta, wg_done, &wg);
    wg_wait_until(&wg, 0);
    wg_destroy(&wg);
    return wg.last;
}

/* Reads the whole object into a new buffer (*out, gz_free); returns its size or an error. */
static int64_t get(struct store *s, const char *bucket, const char *key, uint8_t **out,
                   struct store_meta *meta)
{
    struct store_reader *r;
    struct store_meta m;
    *out = NULL;
    int rc = store_object_open(s, S(bucket), S(key), &r, &m);
    if (rc < 0)
        return rc;
    uint8_t *buf = gz_malloc((size_t)m.size + 1);
    int64_t got = store_reader_read(r, buf, (size_t)m.size + 1);
    if (meta != NULL)
        *meta = m;
    if (meta != NULL)
        meta->headers = GZ_SLICE_NULL; /* owned by the reader, closed below */
    store_reader_close(r);
    *out = buf;
    return got;
}

static bool get_eq(struct store *s, const char *bucket, const char *key, const void *data,
                   size_t n)
{
    uint8_t *buf;
    int64_t got = get(s, bucket, key, &buf, NULL);
    bool ok = got == (int64_t)n && (n == 0 || memcmp(buf, data, n) == 0);
    if (!ok)
        printf("# get %s/%s: got %lld, want %zu\n", bucket, key, (long long)got, n);
    gz_free(buf);
    return ok;
}

static int count_files(const char *dir)
{
    int n = 0;
    for (int i = 0; i < 256; i++) {
        char path[4200];
        snprintf(path, sizeof(path), "%s/objects/%02x", dir, i);
        DIR *d = opendir(path);
        if (d == NULL)
            continue;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] != '.')
                n++;
        }
        closedir(d);
    }
    return n;
}

/* ---- listing collector ---- */

struct listing {
    char items[64][1100];
    bool is_prefix[64];
    int n;
    int total;
};

static void list_cb(const struct store_list_entry *e, void *ud)
{
    struct listing *l = ud;
    if (l->n < 64) {
        size_t k = GZ_MIN(e->key.len, (size_t)1099);
        memcpy(l->items[l->n], e->key.ptr, k);
        l->items[l->n][k] = '\0';
        l->is_prefix[l->n] = e->is_prefix;
        l->n++;
    }
    l->total++;
}

static int list(struct store *s, const char *bucket, const char *prefix, const char *after,
                const char *delim, int max, struct listing *l, bool *trunc)
{
    memset(l, 0, sizeof(*l));
    return store_object_list(s, S(bucket), S(prefix), S(after), S(delim), max, list_cb, l, trunc);
}

/* Joins a listing as "a,b/,c" with prefixes marked by their trailing text only. */
static const char *list_join(const struct listing *l, char *out, size_t outsz)
{
    size_t p = 0;
    out[0] = '\0';
    for (int i = 0; i < l->n && p < outsz; i++)
        p += (size_t)snprintf(out + p, outsz - p, "%s%s%s", i ? "," : "", l->items[i],
                              l->is_prefix[i] ? "*" : "");
    return out;
}

/* ---- tests ---- */

static void t_headers(void)
{
    struct gz_buf b;
    gz_buf_init(&b, 1024);
    TAP_OK(store_headers_add(&b, S("content-type"), S("text/plain")) == 0, "add");
    TAP_OK(store_headers_add(&b, S("x-amz-meta-a"), S("")) == 0, "add empty value");
    TAP_OK(store_headers_add(&b, gz_slice("a\0b", 3), S("v")) == -EINVAL, "NUL in name");
    size_t pos = 0;
    struct gz_slice n, v;
    int count = 0;
    bool ok = true;
    while (store_headers_next(gz_buf_slice(&b), &pos, &n, &v)) {
        if (count == 0)
            ok = ok && gz_slice_eq_cstr(n, "content-type") && gz_slice_eq_cstr(v, "text/plain");
        if (count == 1)
            ok = ok && gz_slice_eq_cstr(n, "x-amz-meta-a") && v.len == 0;
        count++;
    }
    TAP_OK(ok && count == 2, "iterate %d pairs", count);
    pos = 0;
    TAP_OK(!store_headers_next(gz_slice("abc\0de", 6), &pos, &n, &v), "truncated rejected");
    gz_buf_free(&b);
}

struct bucket_names {
    char names[8][64];
    int n;
};

static int bucket_cb(const struct store_bucket *b, void *ud)
{
    struct bucket_names *bn = ud;
    if (bn->n < 8)
        snprintf(bn->names[bn->n++], 64, "%s", b->name);
    return 0;
}

static void t_buckets(void)
{
    char *dir = tmpdir_new();
    struct store *s = open_store(dir, 0, 0);
    struct store_bucket b;
    TAP_OK(bucket_make(s, "beta", "u1") == 0, "create beta");
    TAP_OK(bucket_make(s, "alpha", "u2") == 0, "create alpha");
    TAP_OK(bucket_make(s, "beta", "u1") == GZ_EBUCKETOWNED, "owned");
    TAP_OK(bucket_make(s, "beta", "u2") == GZ_EBUCKETEXISTS, "exists");
    TAP_OK(store_bucket_get(s, S("beta"), &b) == 0 && strcmp(b.owner, "u1") == 0 &&
               strcmp(b.region, "cn-sh") == 0 && b.created_ms > 0,
           "get");
    TAP_OK(store_bucket_get(s, S("gamma"), &b) == GZ_ENOBUCKET, "get missing");
    struct bucket_names bn = {.n = 0};
    store_bucket_list(s, NULL, bucket_cb, &bn);
    TAP_OK(bn.n == 2 && strcmp(bn.names[0], "alpha") == 0 && strcmp(bn.names[1], "beta") == 0,
           "list in name order");
    bn.n = 0;
    store_bucket_list(s, "u1", bucket_cb, &bn);
    TAP_OK(bn.n == 1 && strcmp(bn.names[0], "beta") == 0, "list by owner");

    TAP_OK(put(s, "beta", "k", "v", 1, "e", GZ_SLICE_NULL) == 0, "put into beta");
    TAP_OK(store_bucket_delete(s, S("beta")) == GZ_EBUCKETNOTEMPTY, "not empty (object)");
    TAP_OK(del(s, "beta", "k") == 0, "delete object");
    char uid[STORE_UPLOAD_ID_LEN + 1];
    TAP_OK(store_upload_create(s, S("beta"), S("mp"), GZ_SLICE_NULL, uid) == 0, "upload");
    TAP_OK(store_bucket_delete(s, S("beta")) == GZ_EBUCKETNOTEMPTY, "not empty (upload)");
    struct waitgroup wg;
    wg_init(&wg);
    wg_add(&wg, 1);
    store_upload_abort(s, uid, wg_done, &wg);
    wg_wait_until(&wg, 0);
    TAP_OK(wg.last == 0, "abort upload");
    TAP_OK(store_bucket_delete(s, S("beta")) == 0, "delete beta");
    TAP_OK(store_bucket_delete(s, S("beta")) == GZ_ENOBUCKET, "delete again");
    TAP_OK(put(s, "beta", "k", "v", 1, "e", GZ_SLICE_NULL) == GZ_ENOBUCKET, "put: no bucket");
    TAP_OK(bucket_make(s, "beta", "u3") == 0, "recreate");
    TAP_OK(store_bucket_get(s, S("beta"), &b) == 0 && strcmp(b.owner, "u3") == 0, "new owner");
    wg_destroy(&wg);
    store_close(s);
    rm_rf(dir);
    gz_free(dir);
}

static void check_segments(struct store *s, const char *key, const uint8_t *data, size_t n,
                           bool file)
{
    struct store_reader *r;
    struct store_meta m;
    struct store_segment seg;
    TAP_OK(store_object_open(s, S("b"), S(key), &r, &m) == 0 && m.size == (int64_t)n,
           "%s: open", key);
    int64_t pos = (int64_t)n / 3;
    TAP_OK(store_reader_seek(r, pos) == 0, "%s: seek", key);
    TAP_OK(store_reader_next(r, 1000, &seg) == 0 && seg.len == GZ_MIN(1000, (int64_t)n - pos),
           "%s: next len %lld", key, (long long)seg.len);
    bool ok;
    if (file) {
        uint8_t buf[1000];
        ok = seg.fd >= 0 && seg.offset == pos &&
             pread(seg.fd, buf, (size_t)seg.len, seg.offset) == seg.len &&
             memcmp(buf, data + pos, (size_t)seg.len) == 0;
    } else {
        ok = seg.fd == -1 && memcmp(seg.mem, data + pos, (size_t)seg.len) == 0;
    }
    TAP_OK(ok, "%s: segment is %s with the right bytes", key, file ? "a file range" : "memory");
    uint8_t tail[100];
    TAP_OK(store_reader_seek(r, (int64_t)n - 10) == 0 && store_reader_read(r, tail, 100) == 10 &&
               memcmp(tail, data + n - 10, 10) == 0 && store_reader_read(r, tail, 100) == 0,
           "%s: read the tail, then end", key);
    TAP_OK(store_reader_seek(r, (int64_t)n + 1) == -EINVAL, "%s: seek past end", key);
    store_reader_close(r);
}

static void t_objects(void)
{
    char *dir = tmpdir_new();
    struct store *s = open_store(dir, 1, 0);
    size_t sizes[] = {0, 10, 65536, 65537, 200 * 1024, 3 * 1024 * 1024};
    bucket_make(s, "b", "u");
    uint8_t *data = gz_malloc(3 * 1024 * 1024);
    for (size_t i = 0; i < GZ_ARRAY_LEN(sizes); i++) {
        char key[32];
        snprintf(key, sizeof(key), "obj-%zu", sizes[i]);
        fill(data, sizes[i], (unsigned)i);
        struct gz_buf h;
        gz_buf_init(&h, 256);
        store_headers_add(&h, S("content-type"), S("application/x-test"));
        TAP_OK(put(s, "b", key, data, sizes[i], "0123456789abcdef0123456789abcdef",
                   gz_buf_slice(&h)) == 0,
               "put %zu bytes", sizes[i]);
        struct store_meta m;
        struct gz_buf hold;
        TAP_OK(store_object_stat(s, S("b"), S(key), &m, &hold) == 0 &&
                   m.size == (int64_t)sizes[i] && m.parts == 0 &&
                   strcmp(m.etag, "0123456789abcdef0123456789abcdef") == 0 &&
                   gz_slice_eq(m.headers, gz_buf_slice(&h)) && m.mtime_ms > 0,
               "stat %s", key);
        gz_buf_free(&hold);
        gz_buf_free(&h);
        TAP_OK(get_eq(s, "b", key, data, sizes[i]), "read back %zu bytes", sizes[i]);
        if (sizes[i] >= 100)
            check_segments(s, key, data, sizes[i], sizes[i] > STORE_DEFAULT_INLINE_MAX);
        struct store_reader *r;
        int64_t off, psz;
        struct store_meta m2;
        TAP_OK(store_object_open_part(s, S("b"), S(key), 1, &r, &m2, &off, &psz) == 0 &&
                   off == 0 && psz == (int64_t)sizes[i],
               "part 1 of a simple object is all of it");
        store_reader_close(r);
        TAP_OK(store_object_open_part(s, S("b"), S(key), 2, &r, &m2, &off, &psz) ==
                   GZ_EINVALIDPART,
               "part 2 of a simple object");
    }
    TAP_OK(count_files(dir) == 3, "only bodies over inline_max have files (%d)",
           count_files(dir));
    struct store_meta m;
    struct gz_buf hold;
    struct store_reader *r;
    TAP_OK(store_object_stat(s, S("b"), S("nope"), &m, &hold) == GZ_ENOKEY, "stat missing");
    gz_buf_free(&hold);
    TAP_OK(store_object_stat(s, S("nb"), S("nope"), &m, &hold) == GZ_ENOBUCKET, "no bucket");
    gz_buf_free(&hold);
    TAP_OK(store_object_open(s, S("b"), S("nope"), &r, &m) == GZ_ENOKEY, "open missing");

    TAP_OK(del(s, "b", "obj-3145728") == 0, "delete");
    TAP_OK(store_object_open(s, S("b"), S("obj-3145728"), &r, &m) == GZ_ENOKEY, "gone");
    TAP_OK(count_files(dir) == 2, "its file is removed");
    TAP_OK(del(s, "b", "obj-3145728") == 0, "delete missing is fine");
    TAP_OK(del(s, "nb", "x") == GZ_ENOBUCKET, "delete: no bucket");

    struct store_writer *w;
    store_writer_open(s, &w);
    store_writer_write(w, data, 100000);
    TAP_OK(store_writer_size(w) == 100000 && count_files(dir) == 3, "writer spilled to a file");
    store_writer_abort(w);
    TAP_OK(count_files(dir) == 2, "abort removes it");
    char longkey[STORE_MAX_KEY + 2];
    memset(longkey, 'k', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    TAP_OK(put(s, "b", longkey, "x", 1, "e", GZ_SLICE_NULL) == GZ_ELIMIT, "key too long");
    gz_free(data);
    store_close(s);
    rm_rf(dir);
    gz_free(dir);
}

static void t_overwrite(void)
{
    char *dir = tmpdir_new();
    struct store *s = open_store(dir, 1, 0);
    size_t n = 3 * 1024 * 1024;
    uint8_t *a = gz_malloc(n), *b = gz_malloc(n), *buf = gz_malloc(n);
    fill(a, n, 1);
    fill(b, n, 2);
    bucket_make(s, "b", "u");
    put(s, "b", "k", a, n, "a", GZ_SLICE_NULL);
    struct store_reader *r1, *r2;
    struct store_meta m1, m2;
    TAP_OK(store_object_open(s, S("b"), S("k"), &r1, &m1) == 0, "reader opened before");
    uint8_t first[10];
    store_reader_read(r1, first, sizeof(first));
    TAP_OK(put(s, "b", "k", b, n, "b", GZ_SLICE_NULL) == 0, "overwrite");
    TAP_OK(count_files(dir) == 1, "old file unlinked after the commit");
    TAP_OK(store_reader_read(r1, buf, n) == (int64_t)n - 10 && memcmp(first, a, 10) == 0 &&
               memcmp(buf, a + 10, n - 10) == 0 && strcmp(m1.etag, "a") == 0,
           "old reader still reads the old object entirely");
    store_reader_close(r1);
    TAP_OK(store_object_open(s, S("b"), S("k"), &r2, &m2) == 0 &&
               store_reader_read(r2, buf, n) == (int64_t)n && memcmp(buf, b, n) == 0 &&
               strcmp(m2.etag, "b") == 0,
           "new reader reads the new object");
    store_reader_close(r2);
    TAP_OK(put(s, "b", "k", "small", 5, "c", GZ_SLICE_NULL) == 0 && count_files(dir) == 0 &&
               get_eq(s, "b", "k", "small", 5),
           "overwrite with an inline object removes the file");
    gz_free(a);
    gz_free(b);
    gz_free(buf);
    store_close(s);
    rm_rf(dir);
    gz_free(dir);
}

/* Readers on several threads while the object is overwritten: always all-A or all-B. */
struct race {
    struct store *s;
    size_t n;
    volatile int stop;
    int torn, reads, errors;
};

static void *race_reader(void *arg)
{
    struct race *rc = arg;
    uint8_t *buf = gz_malloc(rc->n);
    while (!rc->stop) {
        uint8_t *got;
        int64_t len = get(rc->s, "b", "k", &got, NULL);
        if (len < 0) {
            __atomic_add_fetch(&rc->errors, 1, __ATOMIC_RELAXED);
            continue;
        }
        bool same = len == (int64_t)rc->n;
        for (int64_t i = 1; same && i < len; i++)
            same = got[i] == got[0];
        if (!same)
            __atomic_add_fetch(&rc->torn, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&rc->reads, 1, __ATOMIC_RELAXED);
        gz_free(got);
    }
    gz_free(buf);
    return NULL;
}

static void t_overwrite_race(void)
{
    char *dir = tmpdir_new();
    struct store *s = open_store(dir, 0, 0);
    struct race rc = {.s = s, .n = 300 * 1024};
    uint8_t *a = gz_malloc(rc.n), *b = gz_malloc(rc.n);
    memset(a, 'a', rc.n);
    memset(b, 'b', rc.n);
    bucket_make(s, "b", "u");
    put(s, "b", "k", a, rc.n, "a", GZ_SLICE_NULL);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, race_reader, &rc);
    for (int i = 0; i < 60; i++)
        put(s, "b", "k", i % 2 ? a : b, rc.n, "x", GZ_SLICE_NULL);
    rc.stop = 1;
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    TAP_OK(rc.torn == 0 && rc.errors == 0 && rc.reads > 0,
           "%d concurrent reads during 60 overwrites: %d torn, %d errors", rc.reads, rc.torn,
           rc.errors);
    TAP_OK(count_files(dir) == 1, "one file left");
    gz_free(a);
    gz_free(b);
    store_close(s);
    rm_rf(dir);
    gz_free(dir);
}

static bool headers_are(struct store *s, const char *bucket, const char *key, const char *v)
{
    struct store_meta m;
    struct gz_buf hold;
    bool ok = store_object_stat(s, S(bucket), S(key), &m, &hold) == 0;
    size_t pos = 0;
    struct gz_slice hn, hv;
    ok = ok && store_headers_next(m.headers, &pos, &hn, &hv) && gz_slice_eq_cstr(hv, v);
    gz_buf_free(&hold);
    return ok;
}

static void t_copy(void)
{
    char *dir = tmpdir_new();
    struct store *s = open_store(dir, 1, 0);
    size_t n = 200 * 1024;
    uint8_t *a = gz_malloc(n), *b = gz_malloc(n);
    fill(a, n, 5);
    fill(b, n, 6);
    struct gz_buf h1, h2;
    gz_buf_init(&h1, 256);
    gz_buf_init(&h2, 256);
    store_headers_add(&h1, S("x-amz-meta-v"), S("one"));
    store_headers_add(&h2, S("x-amz-meta-v"), S("two"));
    bucket_make(s, "b", "u");
    bucket_make(s, "c", "u");
    put(s, "b", "big", a, n, "etag-a", gz_buf_slice(&h1));
    put(s, "b", "small", "tiny", 4, "etag-s", gz_buf_slice(&h1));

    TAP_OK(copy(s, "b", "big", NULL, "b", "big2", NULL) == 0, "copy in bucket");
    TAP_OK(count_files(dir) == 1, "the copy shares the file (no bytes rewritten)");
    TAP_OK(get_eq(s, "b", "big2", a, n) && headers_are(s, "b", "big2", "one"),
           "copy has the bytes and keeps the headers");
    struct store_meta meta = {.headers = gz_buf_slice(&h2)};
    TAP_OK(copy(s, "b", "big", "\"etag-a\"", "c", "big3", &meta) == 0, "copy across buckets");
    TAP_OK(get_eq(s, "c", "big3", a, n) && headers_are(s, "c", "big3", "two"),
           "headers replaced");
    struct store_meta st;
    struct gz_buf hold;
    store_object_stat(s, S("c"), S("big3"), &st, &hold);
    TAP_OK(strcmp(st.etag, "etag-a") == 0, "copy keeps the source's etag");
    gz_buf_free(&hold);
    TAP_OK(copy(s, "b", "small", NULL, "c", "small2", NULL) == 0 &&
               get_eq(s, "c", "small2", "tiny", 4),
           "inline copy");
    TAP_OK(copy(s, "b", "big", "wrong", "c", "x", NULL) == GZ_EINVALIDPART, "etag guard");
    TAP_OK(copy(s, "b", "none", NULL, "c", "x", NULL) == GZ_ENOKEY, "missing source");
    TAP_OK(copy(s, "b", "big", NULL, "zz", "x", NULL) == GZ_ENOBUCKET, "missing dst bucket");

    TAP_OK(put(s, "b", "big", b, n, "etag-b", GZ_SLICE_NULL) == 0, "overwrite the source");
    TAP_OK(get_eq(s, "b", "big2", a, n) && get_eq(s, "c", "big3", a, n) &&
               get_eq(s, "b", "big", b, n),
           "copies unchanged by the overwrite");
    TAP_OK(count_files(dir) == 2, "two files: the old body (shared by 2 copies) and the new");
    TAP_OK(copy(s, "b", "big2", NULL, "b", "big2", &meta) == 0 &&
               headers_are(s, "b", "big2", "two") && get_eq(s, "b", "big2", a, n),
           "copy onto itself replaces only the headers");
    TAP_OK(copy(s, "c", "big3", NULL, "b", "big2", NULL) == 0 && get_eq(s, "b", "big2", a, n),
           "copy onto a copy sharing the same file");
    del(s, "b", "big2");
    TAP_OK(count_files(dir) == 2 && get_eq(s, "c", "big3", a, n), "still referenced");
    del(s, "c", "big3");
    TAP_OK(count_files(dir) == 1, "last reference gone: file removed");
    gz_buf_free(&h1);
    gz_buf_free(&h2);
    gz_free(a);
    gz_free(b);
    store_close(s);
    rm_rf(dir);
    gz_free(dir);
}

static void put_keys(struct store *s, const char *bucket, const char *const *keys, int n)
{
    struct waitgroup wg;
    wg_init(&wg);
    for (int i = 0; i < n; i++)
        put_async(s, bucket, S(keys[i]), keys[i], strlen(keys[i]), "e", GZ_SLICE_NULL, &wg);
    wg_wait_until(&wg, 0);
    wg_destroy(&wg);
}

/* Pages through a listing with max=1, feeding each returned key or prefix back as `after`. */
static bool list_paged_eq(struct store *s, const char *prefix, const char *delim,
                          const char *want)
{
    char joined[2048] = "", after[1100] = "";
    size_t p = 0;
    bool trunc = true;
    int pages = 0;
    while (trunc && pages < 100) {
        struct listing l;
        list(s, "b", prefix, after, delim, 1, &l, &trunc);
        if (l.n == 0)
            break;
        p += (size_t)snprintf(joined + p, sizeof(joined) - p, "%s%s%s", pages ? "," : "",
                              l.items[0], l.is_prefix[0] ? "*" : "");
        snprintf(after, sizeof(after), "%s", l.items[0]);
        pages++;
    }
    if (strcmp(joined, want) != 0)
        printf("# paged: %s\n#  want: %s\n", joined, want);
    return strcmp(joined, want) == 0;
}

static void t_list(void)
{
    char *dir = tmpdir_new();
    struct store *s = open_store(dir, 0, 0);
    static const char *const keys[] = {
        "a/b/c", "a/b/d", "a/x", "a/y/z", "a/y/zz", "b", "c/", "c/d/e/f", "z", "~",
        "\xc3\xa9t\xc3\xa9", "\xe4\xb8\xad/\xe6\x96\x87", "\xe4\xb8\xad/x", "\xff\xff",
        "a--b--c", "a--d",
    };
    bucket_make(s, "b", "u");
    put_keys(s, "b", keys, (int)GZ_ARRAY_LEN(keys));
    struct listing l;
    bool trunc;
    char out[2048];
    TAP_OK(list(s, "b", "", "", "", 100, &l, &trunc) == 0 && l.n == 16 && !trunc, "all keys");
    TAP_OK(strcmp(list_join(&l, out, sizeof(out)),
                  "a--b--c,a--d,a/b/c,a/b/d,a/x,a/y/z,a/y/zz,b,c/,c/d/e/f,z,~,"
                  "\xc3\xa9t\xc3\xa9,\xe4\xb8\xad/x,\xe4\xb8\xad/\xe6\x96\x87,\xff\xff") == 0,
           "binary (UTF-8 byte) order: %s", out);
    list(s, "b", "", "", "/", 100, &l, &trunc);
    TAP_OK(strcmp(list_join(&l, out, sizeof(out)),
                  "a--b--c,a--d,a/*,b,c/*,z,~,\xc3\xa9t\xc3\xa9,\xe4\xb8\xad/*,\xff\xff") == 0,
           "delimiter at the top: %s", out);
    list(s, "b", "a/", "", "/", 100, &l, &trunc);
    TAP_OK(strcmp(list_join(&l, out, sizeof(out)), "a/b/*,a/x,a/y/*") == 0, "under a/: %s", out);
    list(s, "b", "c/", "", "/", 100, &l, &trunc);
    TAP_OK(strcmp(list_join(&l, out, sizeof(out)), "c/,c/d/*") == 0, "under c/: %s", out);
    list(s, "b", "a", "", "--", 100, &l, &trunc);
    TAP_OK(strcmp(list_join(&l, out, sizeof(out)), "a--*,a/b/c,a/b/d,a/x,a/y/z,a/y/zz") == 0,
           "two-byte delimiter: %s", out);
    list(s, "b", "a/", "a/x", "", 2, &l, &trunc);
    TAP_OK(strcmp(list_join(&l, out, sizeof(out)), "a/y/z,a/y/zz") == 0 && !trunc,
           "after, exact end not truncated: %s", out);
    list(s, "b", "a/", "", "", 2, &l, &trunc);
    TAP_OK(l.n == 2 && trunc, "max 2 of 5: truncated");
    list(s, "b", "", "a/", "/", 3, &l, &trunc);
    TAP_OK(strcmp(list_join(&l, out, sizeof(out)), "b,c/*,z") == 0 && trunc,
           "after a rolled-up prefix skips it: %s", out);
    list(s, "b", "\xff", "", "", 10, &l, &trunc);
    TAP_OK(l.n == 1 && strcmp(l.items[0], "\xff\xff") == 0, "prefix of 0xff bytes");
    list(s, "b", "q", "", "/", 10, &l, &trunc);
    TAP_OK(l.n == 0 && !trunc, "empty prefix range");
    TAP_OK(list_paged_eq(s, "", "/",
                         "a--b--c,a--d,a/*,b,c/*,z,~,\xc3\xa9t\xc3\xa9,\xe4\xb8\xad/*,\xff\xff"),
           "paging one at a time with a delimiter");
    TAP_OK(list_paged_eq(s, "a/", "", "a/b/c,a/b/d,a/x,a/y/z,a/y/zz"), "paging without");
    TAP_OK(list(s, "nob", "", "", "", 10, &l, &trunc) == GZ_ENOBUCKET, "no bucket");
    store_close(s);
    rm_rf(dir);
    gz_free(dir);
}

static void t_list_many(void)
{
    char *dir = tmpdir_new();
    struct store *s = open_store(dir, 0, 0);
    struct waitgroup wg;
    wg_init(&wg);
    bucket_make(s, "b", "u");
    for (int i = 0; i < 20000; i++) {
        char key[64];
        snprintf(key, sizeof(key), "dir%03d/sub/file%05d", i % 200, i);
        put_async(s, "b", S(key), "x", 1, "e", GZ_SLICE_NULL, &wg);
        if (i % 1000 == 999)
            wg_wait_until(&wg, 0);
    }
    wg_wait_until(&wg, 0);
    TAP_OK(wg.fails == 0, "20,000 keys under 200 prefixes");
    struct listing l;
    bool trunc;
    int64_t t0 = gz_monotonic_ns();
    list(s, "b", "", "", "/", 1000, &l, &trunc);
    int64_t t1 = gz_monotonic_ns();
    TAP_OK(l.total == 200 && !trunc && l.is_prefix[0] && strcmp(l.items[0], "dir000/") == 0,
           "delimiter listing: exactly %d prefixes in %.2f ms", l.total, (t1 - t0) / 1e6);
    list(s, "b", "", "", "/", 50, &l, &trunc);
    TAP_OK(l.total == 50 && trunc, "max 50: 50 prefixes, truncated");
    list(s, "b", "dir007/", "", "/", 1000, &l, &trunc);
    TAP_OK(l.total == 1 && strcmp(l.items[0], "dir007/sub/") == 0, "one level down");
    list(s, "b", "dir007/sub/", "", "/", 1000, &l, &trunc);
    TAP_OK(l.total == 100 && !trunc, "100 keys under one prefix");
    t0 = gz_monotonic_ns();
    list(s, "b", "", "", "", 1000, &l, &trunc);
    t1 = gz_monotonic_ns();
    TAP_OK(l.total == 1000 && trunc, "a 1000-key page in %.2f ms", (t1 - t0) / 1e6);
    wg_destroy(&wg);
    store_close(s);
    rm_rf(dir);
    gz_free(dir);
}

/* ---- multipart ---- */

static int part_put(struct store *s, const char *uid, int num, const void *data, size_t n,
                    const char *etag)
{
    struct waitgroup wg;
    struct store_writer *w;
    wg_init(&wg);
    store_writer_open(s, &w);
    store_writer_write(w, data, n);
    wg_add(&wg, 1);
    store_upload_part_commit(s, uid, num, w, etag, wg_done, &wg);
    wg_wait_until(&wg, 0);
    wg_destroy(&wg);
    return wg.last;
}

static int complete(struct store *s, const char *key, const char *uid,
                    const struct store_part *parts, int n)
{
    struct waitgroup wg;
    struct store_meta meta = {.etag = "abcdef-3"};
    wg_init(&wg);
    wg_add(&wg, 1);
    store_upload_complete(s, S("b"), S(key), uid, parts, n, &meta, wg_done, &wg);
    wg_wait_until(&wg, 0);
    wg_destroy(&wg);
    return wg.last;
}

static int abort_upload(struct store *s, const char *uid)
{
    struct waitgroup wg;
    wg_init(&wg);
    wg_add(&wg, 1);
    store_upload_abort(s, uid, wg_done, &wg);
    wg_wait_until(&wg, 0);
    wg_destroy(&wg);
    return wg.last;
}

struct part_list {
    int nums[16];
    int64_t sizes[16];
    int n;
};

static void parts_cb(const struct store_part *p, void *ud)
{
    struct part_list *pl = ud;
    if (pl->n < 16) {
        pl->nums[pl->n] = p->number;
        pl->sizes[pl->n++] = p->size;
    }
}

static void t_multipart(void)
{
    char *dir = tmpdir_new();
    struct store *s = open_store(dir, 1, 0);
    size_t n1 = 200 * 1024, n2 = 150 * 1024, n3 = 10;
    uint8_t *p1 = gz_malloc(n1), *p2 = gz_malloc(n2), *p2b = gz_malloc(n2), *whole;
    fill(p1, n1, 11);
    fill(p2, n2, 12);
    fill(p2b, n2, 13);
    char uid[STORE_UPLOAD_ID_LEN + 1], uid2[STORE_UPLOAD_ID_LEN + 1];
    TAP_OK(store_upload_create(s, S("b"), S("mp"), GZ_SLICE_NULL, uid) == GZ_ENOBUCKET,
           "upload needs a bucket");
    bucket_make(s, "b", "u");
    struct gz_buf h;
    gz_buf_init(&h, 256);
    store_headers_add(&h, S("content-type"), S("video/mp4"));
    TAP_OK(store_upload_create(s, S("b"), S("mp"), gz_buf_slice(&h), uid) == 0 &&
               strlen(uid) == 32,
           "create upload %s", uid);
    struct store_upload up;
    struct gz_buf hold;
    TAP_OK(store_upload_get(s, S("b"), S("mp"), uid, &up, &hold) == 0 &&
               gz_slice_eq_cstr(up.key, "mp") && gz_slice_eq(up.headers, gz_buf_slice(&h)),
           "get upload");
    gz_buf_free(&hold);
    TAP_OK(store_upload_get(s, S("b"), S("other"), uid, &up, &hold) == GZ_ENOUPLOAD,
           "upload belongs to its key");
    gz_buf_free(&hold);

    TAP_OK(part_put(s, uid, 1, p1, n1, "e1") == 0, "part 1");
    TAP_OK(part_put(s, uid, 2, p2, n2, "e2") == 0, "part 2");
    TAP_OK(part_put(s, uid, 3, "0123456789", n3, "e3") == 0, "part 3 (small, spilled)");
    TAP_OK(part_put(s, uid, 4, "unlisted", 8, "e4") == 0, "part 4 (will be left out)");
    TAP_OK(count_files(dir) == 4, "every part is a file");
    TAP_OK(part_put(s, uid, 2, p2b, n2, "e2b") == 0 && count_files(dir) == 4,
           "re-upload part 2 replaces it (old file removed)");
    struct part_list pl = {.n = 0};
    bool trunc;
    TAP_OK(store_upload_parts(s, uid, 0, 2, parts_cb, &pl, &trunc) == 0 && pl.n == 2 &&
               pl.nums[0] == 1 && pl.nums[1] == 2 && pl.sizes[1] == (int64_t)n2 && trunc,
           "list parts, max 2");
    pl.n = 0;
    TAP_OK(store_upload_parts(s, uid, 2, 10, parts_cb, &pl, &trunc) == 0 && pl.n == 2 &&
               pl.nums[0] == 3 && pl.nums[1] == 4 && !trunc,
           "list parts after marker 2");

    struct store_part parts[3] = {{.number = 1}, {.number = 2}, {.number = 3}};
    strcpy(parts[0].etag, "\"e1\"");
    strcpy(parts[1].etag, "e2");
    strcpy(parts[2].etag, "e3");
    TAP_OK(complete(s, "mp", uid, parts, 3) == GZ_EINVALIDPART, "stale etag for part 2");
    strcpy(parts[1].etag, "e2b");
    parts[2].number = 5;
    TAP_OK(complete(s, "mp", uid, parts, 3) == GZ_EINVALIDPART, "missing part 5");
    parts[2].number = 3;
    TAP_OK(complete(s, "other", uid, parts, 3) == GZ_ENOUPLOAD, "wrong key");
    TAP_OK(complete(s, "mp", uid, parts, 3) == 0, "complete 1,2,3");
    TAP_OK(count_files(dir) == 3, "unlisted part 4 removed, no bytes copied");
    TAP_OK(store_upload_get(s, S("b"), S("mp"), uid, &up, &hold) == GZ_ENOUPLOAD,
           "upload ended");
    gz_buf_free(&hold);

    size_t total = n1 + n2 + n3;
    whole = gz_malloc(total);
    memcpy(whole, p1, n1);
    memcpy(whole + n1, p2b, n2);
    memcpy(whole + n1 + n2, "0123456789", n3);
    TAP_OK(get_eq(s, "b", "mp", whole, total), "object = concatenation of the parts");
    struct store_meta m;
    TAP_OK(store_object_stat(s, S("b"), S("mp"), &m, &hold) == 0 && m.parts == 3 &&
               strcmp(m.etag, "abcdef-3") == 0 && m.size == (int64_t)total &&
               gz_slice_eq(m.headers, gz_buf_slice(&h)),
           "meta: 3 parts, etag, the upload's headers");
    gz_buf_free(&hold);
    struct store_reader *r;
    int64_t off, psz;
    uint8_t *buf = gz_malloc(total);
    TAP_OK(store_object_open_part(s, S("b"), S("mp"), 2, &r, &m, &off, &psz) == 0 &&
               off == (int64_t)n1 && psz == (int64_t)n2 && m.size == (int64_t)total &&
               store_reader_read(r, buf, total) == (int64_t)n2 && memcmp(buf, p2b, n2) == 0,
           "open part 2: offset, size, bytes");
    store_reader_close(r);
    TAP_OK(store_object_open_part(s, S("b"), S("mp"), 4, &r, &m, &off, &psz) ==
               GZ_EINVALIDPART,
           "part 4 does not exist");
    TAP_OK(store_object_open(s, S("b"), S("mp"), &r, &m) == 0 &&
               store_reader_seek(r, (int64_t)n1 - 5) == 0 &&
               store_reader_read(r, buf, 10) == 10 && memcmp(buf, whole + n1 - 5, 10) == 0,
           "a read across a part boundary");
    store_reader_close(r);
    TAP_OK(copy(s, "b", "mp", NULL, "b", "mp-copy", NULL) == 0 &&
               get_eq(s, "b", "mp-copy", whole, total) && count_files(dir) == 3,
           "copy of a multipart object shares its parts");
    del(s, "b", "mp");
    TAP_OK(count_files(dir) == 3 && get_eq(s, "b", "mp-copy", whole, total),
           "deleting the original keeps the copy's parts");
    del(s, "b", "mp-copy");
    TAP_OK(count_files(dir) == 0, "all part files gone");

    TAP_OK(store_upload_create(s, S("b"), S("mp2"), GZ_SLICE_NULL, uid2) == 0, "upload 2");
    part_put(s, uid2, 1, p1, n1, "x");
    TAP_OK(abort_upload(s, uid2) == 0 && count_files(dir) == 0, "abort removes the parts");
    TAP_OK(abort_upload(s, uid2) == GZ_ENOUPLOAD, "abort again");
    TAP_OK(part_put(s, uid2, 1, p1, n1, "x") == GZ_ENOUPLOAD && count_files(dir) == 0,
           "part for an aborted upload: refused, file removed");
    gz_buf_free(&h);
    gz_free(p1);
    gz_free(p2);
    gz_free(p2b);
    gz_free(whole);
    gz_free(buf);
    store_close(s);
    rm_rf(dir);
    gz_free(dir);
}

struct upload_listing {
    char items[32][80];
    int n;
};

static void uploads_cb(const struct store_upload *up, bool is_prefix, void *ud)
{
    struct upload_listing *ul = ud;
    if (ul->n < 32)
        snprintf(ul->items[ul->n++], 80, "%.*s%s%s", (int)up->key.len, up->key.ptr,
                 is_prefix ? "*" : ":", is_prefix ? "" : up->upload_id);
}

static void t_upload_list(void)
{
    char *dir = tmpdir_new();
    struct store *s = open_store(dir, 0, 0);
    char ids[5][STORE_UPLOAD_ID_LEN + 1];
    const char *keys[5] = {"a/1", "a/2", "b", "b", "c/x/y"};
    bucket_make(s, "b", "u");
    for (int i = 0; i < 5; i++) {
        store_upload_create(s, S("b"), S(keys[i]), GZ_SLICE_NULL, ids[i]);
        usleep(2000); /* distinct initiation times */
    }
    struct upload_listing ul = {.n = 0};
    bool trunc;
    TAP_OK(store_upload_list(s, S("b"), S(""), S(""), S(""), NULL, 100, uploads_cb, &ul,
                             &trunc) == 0 &&
               ul.n == 5 && !trunc,
           "all uploads");
    bool order = strncmp(ul.items[2], "b:", 2) == 0 && strcmp(ul.items[2] + 2, ids[2]) == 0 &&
                 strcmp(ul.items[3] + 2, ids[3]) == 0;
    TAP_OK(order, "same key in initiation order");
    ul.n = 0;
    store_upload_list(s, S("b"), S(""), S("/"), S(""), NULL, 100, uploads_cb, &ul, &trunc);
    TAP_OK(ul.n == 4 && strcmp(ul.items[0], "a/*") == 0 && strcmp(ul.items[3], "c/*") == 0,
           "delimiter roll-up");
    ul.n = 0;
    store_upload_list(s, S("b"), S(""), S(""), S("b"), ids[2], 100, uploads_cb, &ul, &trunc);
    TAP_OK(ul.n == 2 && strcmp(ul.items[0] + 2, ids[3]) == 0, "after key+upload-id markers");
    ul.n = 0;
    store_upload_list(s, S("b"), S(""), S(""), S("b"), NULL, 100, uploads_cb, &ul, &trunc);
    TAP_OK(ul.n == 1 && strncmp(ul.items[0], "c/x/y:", 6) == 0, "after key marker only");
    ul.n = 0;
    store_upload_list(s, S("b"), S("a/"), S(""), S(""), NULL, 1, uploads_cb, &ul, &trunc);
    TAP_OK(ul.n == 1 && trunc, "prefix + max: truncated");
    store_close(s);
    rm_rf(dir);
    gz_free(dir);
}

/* A PUT whose bucket is deleted before its commit gets GZ_ENOBUCKET and leaves no file. */
static void t_bucket_delete_race(void)
{
    char *dir = tmpdir_new();
    struct store *s = open_store(dir, 1, 0);
    size_t n = 300 * 1024;
    uint8_t *data = gz_malloc(n);
    fill(data, n, 3);
    bucket_make(s, "b", "u");
    struct store_writer *w;
    store_writer_open(s, &w);
    store_writer_write(w, data, n);
    TAP_OK(store_bucket_delete(s, S("b")) == 0, "bucket deleted while a body is written");
    struct waitgroup wg;
    wg_init(&wg);
    wg_add(&wg, 1);
    store_object_commit(s, w, S("b"), S("k"), NULL, wg_done, &wg);
    wg_wait_until(&wg, 0);
    TAP_OK(wg.last == GZ_ENOBUCKET && count_files(dir) == 0, "commit: no bucket, no orphan");
    /* Many concurrent PUTs racing a delete: each either lands (delete refused) or fails. */
    bucket_make(s, "b", "u");
    wg.fails = 0;
    for (int i = 0; i < 16; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", i);
        put_async(s, "b", S(key), data, n, "e", GZ_SLICE_NULL, &wg);
    }
    int drc = store_bucket_delete(s, S("b"));
    wg_wait_until(&wg, 0);
    struct listing l;
    bool trunc;
    int listed = list(s, "b", "", "", "", 100, &l, &trunc) == 0 ? l.total : 0;
    TAP_OK((drc == 0 && listed == 0) || (drc == GZ_EBUCKETNOTEMPTY && listed > 0),
           "delete %s, %d of 16 PUTs landed", gz_strerror(drc), 16 - wg.fails);
    TAP_OK(count_files(dir) == 16 - wg.fails, "files match committed objects");
    wg_destroy(&wg);
    gz_free(data);
    store_close(s);
    rm_rf(dir);
    gz_free(dir);
}

/* ---- group commit ---- */

struct gc_thread {
    struct store *s;
    int id, rounds, inflight;
    size_t size;
    int fails;
};

static void *gc_main(void *arg)
{
    struct gc_thread *t = arg;
    struct waitgroup wg;
    uint8_t *data = gz_malloc(t->size);
    fill(data, t->size, (unsigned)t->id);
    wg_init(&wg);
    for (int r = 0; r < t->rounds; r++) {
        char key[64];
        snprintf(key, sizeof(key), "t%d/k%d", t->id, r);
        wg_wait_until(&wg, t->inflight - 1);
        put_async(t->s, "b", S(key), data, t->size, "e", GZ_SLICE_NULL, &wg);
    }
    wg_wait_until(&wg, 0);
    t->fails = wg.fails;
    wg_destroy(&wg);
    gz_free(data);
    return NULL;
}

/* Runs threads x inflight concurrent durable commits; returns commits per second. */
static double gc_run(struct store *s, int threads, int inflight, int per_thread, size_t size,
                     int *fails)
{
    struct gc_thread t[16];
    pthread_t th[16];
    int64_t t0 = gz_monotonic_ns();
    for (int i = 0; i < threads; i++) {
        t[i] = (struct gc_thread){.s = s, .id = i, .rounds = per_thread, .inflight = inflight,
                                  .size = size};
        pthread_create(&th[i], NULL, gc_main, &t[i]);
    }
    *fails = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        *fails += t[i].fails;
    }
    double secs = (double)(gz_monotonic_ns() - t0) / 1e9;
    return threads * per_thread / secs;
}

static void t_group_commit(void)
{
    char *dir = tmpdir_new();
    struct store *s = open_store(dir, 1, 0);
    struct store__stats st0, st1;
    int fails;
    bucket_make(s, "b", "u");
    store__stats_get(s, &st0);
    double rate = gc_run(s, 8, 8, 32, 4096, &fails);
    store__stats_get(s, &st1);
    uint64_t txns = st1.txns - st0.txns, ops = st1.ops - st0.ops;
    TAP_OK(fails == 0 && ops == 256, "64 concurrent committers from 8 threads: %llu ops, 0 fails",
           (unsigned long long)ops);
    TAP_OK(txns < ops, "group commit: %llu ops in %llu transactions (max batch %llu), %.0f/s",
           (unsigned long long)ops, (unsigned long long)txns,
           (unsigned long long)st1.max_batch, rate);
    struct listing l;
    bool trunc;
    list(s, "b", "t3/", "", "", 100, &l, &trunc);
    TAP_OK(l.total == 32, "all committed objects listed");
    store_close(s);
    rm_rf(dir);
    gz_free(dir);
}

/* ---- crash recovery and persistence ---- */

static void crash_child(const char *dir, const uint8_t *big, size_t n)
{
    struct store *s = open_store(dir, 1, 0);
    bucket_make(s, "b", "u");
    put(s, "b", "inline", "committed", 9, "e1", GZ_SLICE_NULL);
    put(s, "b", "file", big, n, "e2", GZ_SLICE_NULL);
    put(s, "b", "gone", big, n, "e3", GZ_SLICE_NULL);
    char uid[STORE_UPLOAD_ID_LEN + 1];
    store_upload_create(s, S("b"), S("mp"), GZ_SLICE_NULL, uid);
    part_put(s, uid, 1, big, n, "p1");
    /* Half-written bodies that never commit. */
    struct store_writer *w1, *w2;
    store_writer_open(s, &w1);
    store_writer_write(w1, big, n);
    store_writer_open(s, &w2);
    store_writer_write(w2, big, n / 2);
    /* A delete and an overwrite queued but perhaps not applied when the process dies. */
    struct waitgroup wg;
    wg_init(&wg);
    wg_add(&wg, 1);
    store_object_delete(s, S("b"), S("gone"), wg_done, &wg);
    put_async(s, "b", S("racy"), big, n, "e4", GZ_SLICE_NULL, &wg);
    _exit(0); /* no store_close: a crash */
}

static void t_crash_recovery(void)
{
    char *dir = tmpdir_new();
    size_t n = 256 * 1024;
    uint8_t *big = gz_malloc(n);
    fill(big, n, 9);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        crash_child(dir, big, n);
    int wst;
    waitpid(pid, &wst, 0);
    TAP_OK(WIFEXITED(wst), "child crashed out without closing the store");
    int before = count_files(dir);
    /* Orphans as a crash can leave them: an id-named file nobody references, and junk. */
    char path[4200];
    snprintf(path, sizeof(path), "%s/objects/ab/ab00112233445566778899aabbccddee", dir);
    int fd = open(path, O_CREAT | O_WRONLY, 0600);
    TAP_OK(fd >= 0 && write(fd, "orphan", 6) == 6, "planted an orphan file");
    close(fd);
    snprintf(path, sizeof(path), "%s/objects/00/not-a-store-file", dir);
    fd = open(path, O_CREAT | O_WRONLY, 0600);
    close(fd);

    struct store *s = open_store(dir, 1, 0);
    TAP_OK(get_eq(s, "b", "inline", "committed", 9) && get_eq(s, "b", "file", big, n),
           "committed objects survive");
    uint8_t *got;
    int64_t racy = get(s, "b", "racy", &got, NULL);
    TAP_OK(racy == GZ_ENOKEY || (racy == (int64_t)n && memcmp(got, big, n) == 0),
           "a PUT in flight at the crash is all or nothing (%s)",
           racy == GZ_ENOKEY ? "absent" : "present");
    gz_free(got);
    int64_t gone = get(s, "b", "gone", &got, NULL);
    TAP_OK(gone == GZ_ENOKEY || (gone == (int64_t)n && memcmp(got, big, n) == 0),
           "a delete in flight is all or nothing");
    gz_free(got);
    struct part_list pl = {.n = 0};
    bool trunc;
    struct upload_listing ul = {.n = 0};
    store_upload_list(s, S("b"), S(""), S(""), S(""), NULL, 10, uploads_cb, &ul, &trunc);
    TAP_OK(ul.n == 1, "the upload survives");
    store_upload_parts(s, ul.items[0] + 3, 0, 10, parts_cb, &pl, &trunc);
    TAP_OK(pl.n == 1 && pl.sizes[0] == (int64_t)n, "with its part");
    int want = 1 /* file */ + 1 /* part */ + (racy > 0) + (gone > 0);
    TAP_OK(count_files(dir) == want + 1 /* junk left alone */,
           "orphans removed: %d files before, %d after (want %d + junk)", before + 1,
           count_files(dir), want);
    TAP_OK(access(path, F_OK) == 0, "a file that is not ours is left alone");
    unlink(path);
    store_close(s);

    s = open_store(dir, 1, 0);
    TAP_OK(get_eq(s, "b", "file", big, n) && count_files(dir) == want,
           "clean reopen: everything persisted");
    store_close(s);
    gz_free(big);
    rm_rf(dir);
    gz_free(dir);
}

/* Kill-at-a-random-instant test. Version v of the op stream targets key v % KILL_KEYS; it is
 * a delete when v % 7 == 3, else a PUT of kill_size(v) bytes filled from seed v, with the
 * version in a header. The child keeps at most KILL_INFLIGHT ops in flight and reports each
 * acknowledgement through a pipe before counting it done, so when it dies every version it
 * issued is below (first version) + (acks received) + KILL_INFLIGHT. */
#define KILL_KEYS 16
#define KILL_INFLIGHT 64
#define KILL_ROUNDS 4

static size_t kill_size(int v)
{
    return v % 3 == 0 ? 100 * 1024 + (size_t)v % 4096 : 100 + (size_t)v % 50;
}

struct kill_ack {
    int fd, v;
    struct waitgroup *wg;
};

static void kill_ack_cb(void *ud, int status)
{
    struct kill_ack *a = ud;
    char line[32];
    int n = snprintf(line, sizeof(line), "%d %d\n", a->v, status);
    if (write(a->fd, line, (size_t)n) != n)
        _exit(3);
    wg_done(a->wg, 0);
    gz_free(a);
}

static void kill_child(const char *dir, int fd, int start)
{
    struct store *s = open_store(dir, 1, 0);
    struct waitgroup wg;
    uint8_t *buf = gz_malloc(kill_size(0) + 4096);
    wg_init(&wg);
    bucket_make(s, "b", "u");
    if (write(fd, "-1 0\n", 5) != 5) /* ready: the kill timer starts now */
        _exit(3);
    for (int v = start;; v++) {
        char key[16], ver[16];
        struct kill_ack *a = gz_malloc(sizeof(*a));
        *a = (struct kill_ack){.fd = fd, .v = v, .wg = &wg};
        snprintf(key, sizeof(key), "k%d", v % KILL_KEYS);
        wg_wait_until(&wg, KILL_INFLIGHT - 1);
        wg_add(&wg, 1);
        if (v % 7 == 3) {
            store_object_delete(s, S("b"), S(key), kill_ack_cb, a);
            continue;
        }
        struct store_writer *w;
        struct gz_buf h;
        size_t n = kill_size(v);
        fill(buf, n, (unsigned)v);
        store_writer_open(s, &w);
        store_writer_write(w, buf, n);
        gz_buf_init(&h, 64);
        snprintf(ver, sizeof(ver), "%d", v);
        store_headers_add(&h, S("v"), S(ver));
        struct store_meta meta = {.headers = gz_buf_slice(&h), .etag = "e"};
        store_object_commit(s, w, S("b"), S(key), &meta, kill_ack_cb, a);
        gz_buf_free(&h);
    }
}

/* Version ranges [lo, hi) that may have been issued, one per round. */
struct kill_ranges {
    int lo[KILL_ROUNDS], hi[KILL_ROUNDS];
    int n;
};

static bool kill_issued(const struct kill_ranges *kr, int v)
{
    for (int i = 0; i < kr->n; i++) {
        if (v >= kr->lo[i] && v < kr->hi[i])
            return true;
    }
    return false;
}

/* Could a delete of key k issued after version `acked` explain the key's absence? */
static bool kill_absent_ok(const struct kill_ranges *kr, int k, int acked)
{
    if (acked < 0 || acked % 7 == 3)
        return true;
    for (int v = acked + KILL_KEYS; v < kr->hi[kr->n - 1]; v += KILL_KEYS) {
        if (v % 7 == 3 && kill_issued(kr, v))
            return true;
    }
    return false;
}

/* Checks one key after the crash against the last acknowledged version. */
static bool kill_check_key(struct store *s, const struct kill_ranges *kr, int k, int acked,
                           int *files)
{
    char key[16];
    snprintf(key, sizeof(key), "k%d", k);
    struct store_reader *r;
    struct store_meta m;
    int rc = store_object_open(s, S("b"), S(key), &r, &m);
    if (rc == GZ_ENOKEY) {
        if (!kill_absent_ok(kr, k, acked))
            printf("# key %s: absent, but version %d was acknowledged\n", key, acked);
        return kill_absent_ok(kr, k, acked);
    }
    if (rc < 0) {
        printf("# key %s: %s\n", key, gz_strerror(rc));
        return false;
    }
    size_t pos = 0;
    struct gz_slice hn, hv;
    uint64_t v = 0;
    bool ok = store_headers_next(m.headers, &pos, &hn, &hv) && gz_slice_to_u64(hv, &v) == 0 &&
              (int)v % KILL_KEYS == k && (int)v >= acked && kill_issued(kr, (int)v) &&
              m.size == (int64_t)kill_size((int)v);
    if (ok) {
        uint8_t *want = gz_malloc((size_t)m.size), *got = gz_malloc((size_t)m.size);
        fill(want, (size_t)m.size, (unsigned)v);
        ok = store_reader_read(r, got, (size_t)m.size) == m.size &&
             memcmp(want, got, (size_t)m.size) == 0;
        gz_free(want);
        gz_free(got);
    }
    if (m.size > STORE_DEFAULT_INLINE_MAX)
        (*files)++;
    if (!ok)
        printf("# key %s: version %d, last acked %d\n", key, (int)v, acked);
    store_reader_close(r);
    return ok;
}

/* Runs one child until a random kill; folds its acknowledgements into acked[]. */
static int kill_round(const char *dir, struct kill_ranges *kr, int start, int acked[])
{
    int pfd[2], n = 0, v, st;
    if (pipe(pfd) != 0)
        return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        kill_child(dir, pfd[1], start);
    }
    close(pfd[1]);
    FILE *f = fdopen(pfd[0], "r");
    if (fscanf(f, "%d %d", &v, &st) != 2 || v != -1)
        printf("# child did not start\n");
    usleep(50000 + (useconds_t)(rand() % 250000));
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    while (fscanf(f, "%d %d", &v, &st) == 2) {
        if (st == 0 && v > acked[v % KILL_KEYS])
            acked[v % KILL_KEYS] = v;
        n++;
    }
    fclose(f);
    kr->lo[kr->n] = start;
    kr->hi[kr->n] = start + n + KILL_INFLIGHT + 1;
    kr->n++;
    return n;
}

static void t_crash_kill(void)
{
    char *dir = tmpdir_new();
    struct kill_ranges kr = {.n = 0};
    srand((unsigned)getpid());
    int start = 0, total = 0, acked[KILL_KEYS];
    bool all_ok = true, files_ok = true;
    for (int k = 0; k < KILL_KEYS; k++)
        acked[k] = -1;
    for (int round = 0; round < KILL_ROUNDS; round++) {
        int n = kill_round(dir, &kr, start, acked);
        total += n;
        struct store *s = open_store(dir, 1, 0);
        int files = 0;
        for (int k = 0; k < KILL_KEYS; k++)
            all_ok = kill_check_key(s, &kr, k, acked[k], &files) && all_ok;
        if (count_files(dir) != files) {
            files_ok = false;
            printf("# round %d: %d files for %d file-backed objects\n", round,
                   count_files(dir), files);
        }
        store_close(s);
        start = kr.hi[kr.n - 1] + 1000; /* versions keep increasing across rounds */
    }
    TAP_OK(total > 0, "%d ops acknowledged before %d random kills", total, KILL_ROUNDS);
    TAP_OK(all_ok, "every acknowledged write survives (or a later one replaced it), intact");
    TAP_OK(files_ok, "no orphan or missing files after recovery");
    rm_rf(dir);
    gz_free(dir);
}

static void t_reopen(void)
{
    char *dir = tmpdir_new();
    struct store *s = open_store(dir, 1, 1000);
    uint8_t data[5000];
    fill(data, sizeof(data), 4);
    bucket_make(s, "b", "u");
    put(s, "b", "small", data, 999, "e", GZ_SLICE_NULL);
    put(s, "b", "big", data, sizeof(data), "e", GZ_SLICE_NULL);
    TAP_OK(count_files(dir) == 1, "inline_max 1000 honoured");
    struct store_config cfg = {.data_dir = dir, .sync = 1};
    struct store *s2 = NULL;
    TAP_OK(store_open(&cfg, &s2) == -EBUSY, "a second open of the same folder is refused");
    store_close(s);
    s = open_store(dir, 1, 0);
    TAP_OK(get_eq(s, "b", "small", data, 999) && get_eq(s, "b", "big", data, sizeof(data)),
           "objects persisted across reopen");
    struct store_bucket b;
    TAP_OK(store_bucket_get(s, S("b"), &b) == 0, "bucket persisted");
    store_close(s);
    rm_rf(dir);
    gz_free(dir);
}

/* ---- benchmarks (GZ_STORE_BENCH=1) ---- */

static void bench_commits(void)
{
    char *dir = tmpdir_new();
    struct store *s = open_store(dir, 1, 0);
    int fails;
    bucket_make(s, "b", "u");
    double one = gc_run(s, 1, 1, 300, 4096, &fails);
    printf("# bench: durable 4 KiB PUTs one at a time: %.0f/s\n", one);
    struct store__stats a, b;
    store__stats_get(s, &a);
    double many = gc_run(s, 8, 8, 500, 4096, &fails);
    store__stats_get(s, &b);
    printf("# bench: durable 4 KiB PUTs, 64 concurrent: %.0f/s (%.1f ops/txn), fails %d\n",
           many, (double)(b.ops - a.ops) / (double)(b.txns - a.txns), fails);
    one = gc_run(s, 1, 1, 200, 256 * 1024, &fails);
    printf("# bench: durable 256 KiB PUTs one at a time: %.0f/s\n", one);
    store__stats_get(s, &a);
    many = gc_run(s, 8, 8, 100, 256 * 1024, &fails);
    store__stats_get(s, &b);
    printf("# bench: durable 256 KiB PUTs, 64 concurrent: %.0f/s (%.1f ops/txn), fails %d\n",
           many, (double)(b.ops - a.ops) / (double)(b.txns - a.txns), fails);
    store_close(s);
    rm_rf(dir);
    gz_free(dir);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void bench_list(void)
{
    char *dir = tmpdir_new();
    struct store *s = open_store(dir, 0, 0);
    struct waitgroup wg;
    wg_init(&wg);
    bucket_make(s, "b", "u");
    int64_t t0 = gz_monotonic_ns();
    for (int i = 0; i < 1000000; i++) {
        char key[96];
        snprintf(key, sizeof(key), "tenant%02d/2024/%02d/%02d/object-%07d.dat", i % 50,
                 i % 12 + 1, i % 28 + 1, i);
        put_async(s, "b", S(key), "x", 1, "d41d8cd98f00b204e9800998ecf8427e", GZ_SLICE_NULL,
                  &wg);
        if (i % 4096 == 4095)
            wg_wait_until(&wg, 2048);
    }
    wg_wait_until(&wg, 0);
    printf("# bench: inserted 1,000,000 keys in %.1f s (sync=0)\n",
           (gz_monotonic_ns() - t0) / 1e9);
    int64_t times[200];
    struct listing l;
    bool trunc;
    char after[128] = "";
    for (int i = 0; i < 200; i++) {
        snprintf(after, sizeof(after), "tenant%02d/2024/%02d/", i % 50, i % 12 + 1);
        t0 = gz_monotonic_ns();
        list(s, "b", "", after, "", 1000, &l, &trunc);
        times[i] = gz_monotonic_ns() - t0;
    }
    qsort(times, 200, sizeof(times[0]), cmp_i64);
    printf("# bench: 1000-key page over 1M keys: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
           times[100] / 1e6, times[198] / 1e6, times[199] / 1e6);
    for (int i = 0; i < 200; i++) {
        snprintf(after, sizeof(after), "tenant%02d/", i % 50);
        t0 = gz_monotonic_ns();
        list(s, "b", after, "", "/", 1000, &l, &trunc);
        times[i] = gz_monotonic_ns() - t0;
    }
    qsort(times, 200, sizeof(times[0]), cmp_i64);
    printf("# bench: delimiter page (1 prefix over 20,000 keys): p50 %.3f ms, p99 %.3f ms\n",
           times[100] / 1e6, times[198] / 1e6);
    t0 = gz_monotonic_ns();
    list(s, "b", "", "", "/", 1000, &l, &trunc);
    printf("# bench: top-level delimiter listing (50 prefixes over 1M keys): %.3f ms\n",
           (gz_monotonic_ns() - t0) / 1e6);
    wg_destroy(&wg);
    store_close(s);
    rm_rf(dir);
    gz_free(dir);
}

int main(void)
{
    TAP_RUN(t_headers);
    TAP_RUN(t_buckets);
    TAP_RUN(t_objects);
    TAP_RUN(t_overwrite);
    TAP_RUN(t_overwrite_race);
    TAP_RUN(t_copy);
    TAP_RUN(t_list);
    TAP_RUN(t_list_many);
    TAP_RUN(t_multipart);
    TAP_RUN(t_upload_list);
    TAP_RUN(t_bucket_delete_race);
    TAP_RUN(t_group_commit);
    TAP_RUN(t_crash_recovery);
    TAP_RUN(t_crash_kill);
    TAP_RUN(t_reopen);
    if (getenv("GZ_STORE_BENCH") != NULL) {
        TAP_RUN(bench_commits);
        TAP_RUN(bench_list);
    }
    return tap_done();
}
