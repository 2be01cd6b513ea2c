/*
 * test_store.c - the local store backend: buckets, objects (inline and file-backed), readers,
 * overwrite atomicity, copy, listing, multipart, group commit, crash recovery, persistence;
 * usage, quotas (incl. racing threads), owner changes, bucket attributes, schema upgrade.
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
    /* Reads are verified by default: file bodies come out as checked memory too (the file
     * range form is tested with no_verify_reads in test_bitrot.c). */
    (void)file;
    ok = seg.fd == -1 && memcmp(seg.mem, data + pos, (size_t)seg.len) == 0;
    TAP_OK(ok, "%s: segment is verified memory with the right bytes", key);
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
    /* On a busy machine the readers may not have run yet: overwrite at least 60 times and
     * until they have read 20 times meanwhile (bounded), so the check is never vacuous. */
    int64_t t_end = gz_now_ms() + 20000, overwrites = 0;
    int before = __atomic_load_n(&rc.reads, __ATOMIC_RELAXED);
    while (overwrites < 60 ||
           (__atomic_load_n(&rc.reads, __ATOMIC_RELAXED) - before < 20 && gz_now_ms() < t_end)) {
        put(s, "b", "k", overwrites % 2 ? a : b, rc.n, "x", GZ_SLICE_NULL);
        overwrites++;
    }
    rc.stop = 1;
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    TAP_OK(rc.torn == 0 && rc.errors == 0 && rc.reads - before >= 20,
           "%d concurrent reads during %lld overwrites: %d torn, %d errors", rc.reads - before,
           (long long)overwrites, rc.torn, rc.errors);
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

/* ---- usage helpers ---- */

static void usage_sum_cb(const struct store_list_entry *e, void *ud)
{
    struct store_usage *u = ud;
    u->bytes += e->size;
    u->objects++;
}

/* Usage recomputed the slow way: a scan of the bucket's objects. */
static struct store_usage usage_scan(struct store *s, const char *bucket)
{
    struct store_usage u = {0, 0};
    bool trunc;
    store_object_list(s, S(bucket), S(""), S(""), S(""), 1000000, usage_sum_cb, &u, &trunc);
    return u;
}

struct owner_scan {
    struct store *s;
    struct store_usage u;
};

static int owner_scan_cb(const struct store_bucket *b, void *ud)
{
    struct owner_scan *os = ud;
    struct store_usage u = usage_scan(os->s, b->name);
    os->u.bytes += u.bytes;
    os->u.objects += u.objects;
    return 0;
}

static struct store_usage owner_scan(struct store *s, const char *owner)
{
    struct owner_scan os = {.s = s, .u = {0, 0}};
    store_bucket_list(s, owner, owner_scan_cb, &os);
    return os.u;
}

static bool usage_is(struct store *s, const char *bucket, int64_t bytes, int64_t objects)
{
    struct store_usage u = {-1, -1};
    int rc = store_bucket_usage(s, S(bucket), &u);
    if (rc == 0 && u.bytes == bytes && u.objects == objects)
        return true;
    printf("# usage of %s: rc %d, %lld bytes %lld objects; want %lld, %lld\n", bucket, rc,
           (long long)u.bytes, (long long)u.objects, (long long)bytes, (long long)objects);
    return false;
}

static bool owner_is(struct store *s, const char *owner, int64_t bytes, int64_t objects)
{
    struct store_usage u = {-1, -1};
    int rc = store_owner_usage(s, owner, &u);
    if (rc == 0 && u.bytes == bytes && u.objects == objects)
        return true;
    printf("# usage of owner %s: rc %d, %lld bytes %lld objects; want %lld, %lld\n", owner, rc,
           (long long)u.bytes, (long long)u.objects, (long long)bytes, (long long)objects);
    return false;
}

/* The kept usage of bucket (and of owner, if non-NULL) equals a scan of the objects. */
static bool usage_exact(struct store *s, const char *bucket, const char *owner)
{
    struct store_usage scan = usage_scan(s, bucket);
    bool ok = usage_is(s, bucket, scan.bytes, scan.objects);
    if (owner != NULL) {
        scan = owner_scan(s, owner);
        ok = owner_is(s, owner, scan.bytes, scan.objects) && ok;
    }
    return ok;
}

static int quota_set(struct store *s, const char *bucket, int64_t max_bytes, int64_t max_objects)
{
    struct store_quota q = {max_bytes, max_objects};
    return store_bucket_quota_set(s, S(bucket), &q);
}

static int owner_quota_set(struct store *s, const char *owner, int64_t max_bytes,
                           int64_t max_objects)
{
    struct store_quota q = {max_bytes, max_objects};
    return store_owner_quota_set(s, owner, &q);
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
    TAP_OK(usage_exact(s, "b", "u"), "usage after recovery equals a scan of the objects");
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
    bool all_ok = true, files_ok = true, usage_ok = true;
    for (int k = 0; k < KILL_KEYS; k++)
        acked[k] = -1;
    for (int round = 0; round < KILL_ROUNDS; round++) {
        int n = kill_round(dir, &kr, start, acked);
        total += n;
        struct store *s = open_store(dir, 1, 0);
        int files = 0;
        for (int k = 0; k < KILL_KEYS; k++)
            all_ok = kill_check_key(s, &kr, k, acked[k], &files) && all_ok;
        usage_ok = usage_exact(s, "b", "u") && usage_ok;
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
    TAP_OK(usage_ok, "usage after each SIGKILL equals a scan of the objects");
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

/* ---- usage, quotas, owners, attributes ---- */

static void t_usage(void)
{
    char *dir = tmpdir_new();
    struct store *s = open_store(dir, 1, 1000);
    uint8_t data[8000];
    fill(data, sizeof(data), 21);
    bucket_make(s, "b", "t1");
    bucket_make(s, "c", "t1");
    bucket_make(s, "d", "t2");
    TAP_OK(usage_is(s, "b", 0, 0) && owner_is(s, "t1", 0, 0), "new bucket: nothing used");
    TAP_OK(owner_is(s, "nobody", 0, 0), "an unknown owner has used nothing");
    struct store_usage u;
    TAP_OK(store_bucket_usage(s, S("zz"), &u) == GZ_ENOBUCKET, "usage of a missing bucket");
    put(s, "b", "small", data, 100, "e", GZ_SLICE_NULL);
    put(s, "b", "big", data, 5000, "e", GZ_SLICE_NULL);
    TAP_OK(usage_is(s, "b", 5100, 2) && owner_is(s, "t1", 5100, 2), "two puts (inline + file)");
    put(s, "b", "small", data, 40, "e", GZ_SLICE_NULL);
    TAP_OK(usage_is(s, "b", 5040, 2), "overwrite smaller: delta, same count");
    put(s, "b", "small", data, 3000, "e", GZ_SLICE_NULL);
    TAP_OK(usage_is(s, "b", 8000, 2), "overwrite inline with a file");
    put(s, "c", "k", data, 700, "e", GZ_SLICE_NULL);
    TAP_OK(usage_is(s, "c", 700, 1) && owner_is(s, "t1", 8700, 3), "owner sums its buckets");
    TAP_OK(del(s, "b", "small") == 0 && usage_is(s, "b", 5000, 1), "delete");
    TAP_OK(del(s, "b", "small") == 0 && usage_is(s, "b", 5000, 1), "delete of nothing");
    TAP_OK(copy(s, "b", "big", NULL, "b", "big2", NULL) == 0 && usage_is(s, "b", 10000, 2),
           "copy in bucket counts the new object");
    TAP_OK(copy(s, "b", "big2", NULL, "b", "big2", NULL) == 0 && usage_is(s, "b", 10000, 2),
           "copy onto itself changes nothing");
    TAP_OK(copy(s, "c", "k", NULL, "b", "big2", NULL) == 0 && usage_is(s, "b", 5700, 2),
           "copy over an existing object: delta");
    TAP_OK(copy(s, "b", "big", NULL, "d", "x", NULL) == 0 && usage_is(s, "d", 5000, 1) &&
               owner_is(s, "t2", 5000, 1) && owner_is(s, "t1", 6400, 3),
           "copy to another owner's bucket");
    TAP_OK(copy(s, "b", "none", NULL, "d", "y", NULL) == GZ_ENOKEY && usage_is(s, "d", 5000, 1),
           "failed copy: unchanged");

    char uid[STORE_UPLOAD_ID_LEN + 1];
    store_upload_create(s, S("b"), S("mp"), GZ_SLICE_NULL, uid);
    part_put(s, uid, 1, data, 6000, "p1");
    part_put(s, uid, 2, data, 2000, "p2");
    TAP_OK(usage_is(s, "b", 5700, 2), "pending parts do not count");
    struct store_part parts[2] = {{.number = 1, .etag = "p1"}, {.number = 2, .etag = "p2"}};
    TAP_OK(complete(s, "mp", uid, parts, 2) == 0 && usage_is(s, "b", 13700, 3),
           "complete counts the object");
    store_upload_create(s, S("b"), S("mp"), GZ_SLICE_NULL, uid);
    part_put(s, uid, 1, data, 1500, "p1");
    TAP_OK(complete(s, "mp", uid, parts, 1) == 0 && usage_is(s, "b", 7200, 3),
           "complete replacing an object: delta");
    store_upload_create(s, S("b"), S("mp2"), GZ_SLICE_NULL, uid);
    TAP_OK(complete(s, "mp2", uid, parts, 1) == GZ_EINVALIDPART && usage_is(s, "b", 7200, 3),
           "failed complete: unchanged");
    abort_upload(s, uid);
    TAP_OK(usage_exact(s, "b", "t1") && usage_exact(s, "d", "t2"), "usage equals a scan");

    del(s, "c", "k");
    TAP_OK(store_bucket_delete(s, S("c")) == 0 && owner_is(s, "t1", 7200, 3) &&
               store_bucket_usage(s, S("c"), &u) == GZ_ENOBUCKET,
           "empty bucket deleted: owner keeps the rest");
    store_close(s);
    s = open_store(dir, 1, 1000);
    TAP_OK(usage_is(s, "b", 7200, 3) && owner_is(s, "t1", 7200, 3) &&
               owner_is(s, "t2", 5000, 1),
           "usage persists across reopen");
    store_close(s);
    rm_rf(dir);
    gz_free(dir);
}

/* Schema 4 -> 3: inline bodies (and their CRCs) back into the object rows. */
#define UNDO_SCHEMA4_SQL                                                                  \
    "ALTER TABLE objects ADD COLUMN data BLOB;"                                           \
    "ALTER TABLE objects ADD COLUMN crc BLOB;"                                            \
    "UPDATE objects SET data=(SELECT data FROM inline_bodies WHERE id=objects.body),"     \
    " crc=(SELECT crc FROM inline_bodies WHERE id=objects.body) WHERE body IS NOT NULL;" \
    "UPDATE objects SET data=x'', crc=x'' WHERE body IS NULL AND file IS NULL"            \
    " AND parts=0;"                                                                       \
    "ALTER TABLE objects DROP COLUMN body; DROP TABLE inline_bodies;"

/* Runs sql on the index of the (closed) store in dir: an SQLite result code. */
static int index_sql(const char *dir, const char *sql)
{
    char path[4200];
    sqlite3 *db = NULL;
    snprintf(path, sizeof(path), "%s/index.db", dir);
    int rc = sqlite3_open(path, &db);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

/* Turns a current index back into a schema 1 one (the first release: no usage, inline bodies
 * in the object rows). */
static int schema_downgrade(const char *dir)
{
    return index_sql(dir, "BEGIN;" UNDO_SCHEMA4_SQL
                          "DROP TABLE owners; DROP TABLE bucket_attrs;"
                          "ALTER TABLE buckets DROP COLUMN bytes;"
                          "ALTER TABLE buckets DROP COLUMN objects;"
                          "ALTER TABLE buckets DROP COLUMN max_bytes;"
                          "ALTER TABLE buckets DROP COLUMN max_objects;"
                          "UPDATE meta SET v=1 WHERE k='schema'; PRAGMA user_version=0; COMMIT;");
}

static int schema_version_set(const char *dir, int v)
{
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", v);
    return index_sql(dir, sql);
}

static void t_usage_upgrade(void)
{
    char *dir = tmpdir_new();
    struct store *s = open_store(dir, 0, 1000);
    uint8_t data[3000];
    fill(data, sizeof(data), 22);
    bucket_make(s, "b", "t1");
    bucket_make(s, "c", "t1");
    bucket_make(s, "d", "t2");
    bucket_make(s, "e", "t2");
    for (int i = 0; i < 50; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", i);
        put(s, i % 3 == 0 ? "b" : i % 3 == 1 ? "c" : "d", key, data, (size_t)(i * 60), "e",
            GZ_SLICE_NULL);
    }
    char uid[STORE_UPLOAD_ID_LEN + 1];
    store_upload_create(s, S("b"), S("mp"), GZ_SLICE_NULL, uid);
    part_put(s, uid, 1, data, 2500, "p1");
    struct store_part parts[1] = {{.number = 1, .etag = "p1"}};
    complete(s, "mp", uid, parts, 1);
    store_close(s);
    TAP_OK(schema_downgrade(dir) == SQLITE_OK, "made a schema 1 (first release) index");
    s = open_store(dir, 0, 1000);
    TAP_OK(usage_exact(s, "b", "t1") && usage_exact(s, "c", NULL) && usage_exact(s, "d", "t2") &&
               usage_is(s, "e", 0, 0),
           "usage computed at the upgrade");
    int same = 0;
    for (int i = 0; i < 50; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", i);
        same += get_eq(s, i % 3 == 0 ? "b" : i % 3 == 1 ? "c" : "d", key, data, (size_t)(i * 60));
    }
    TAP_OK(same == 50, "every inline body reads back after the upgrade (%d of 50)", same);
    TAP_OK(copy(s, "b", "k3", NULL, "e", "k3copy", NULL) == 0 &&
               get_eq(s, "e", "k3copy", data, 180) &&
               del(s, "b", "k3") == 0 && get_eq(s, "e", "k3copy", data, 180),
           "a copy of an upgraded inline object has its own body");
    struct store_quota q;
    TAP_OK(store_bucket_quota_get(s, S("b"), &q) == 0 && q.max_bytes == -1 &&
               q.max_objects == -1,
           "upgraded buckets have no quota");
    put(s, "b", "new", data, 10, "e", GZ_SLICE_NULL);
    TAP_OK(usage_exact(s, "b", "t1"), "and keep counting after it");
    store_close(s);
    TAP_OK(schema_version_set(dir, 99) == SQLITE_OK, "pretend a newer build wrote the index");
    struct store_config cfg = {.data_dir = dir, .sync = 0};
    TAP_OK(store_open(&cfg, &s) == GZ_ECORRUPT, "an index from a newer build is refused");
    schema_version_set(dir, 4);
    s = open_store(dir, 0, 1000);
    TAP_OK(usage_exact(s, "b", "t1"), "reopens at the current version");
    store_close(s);
    rm_rf(dir);
    gz_free(dir);
}

/* Schema 3 kept inline bodies and their CRCs in the object rows: an index written by that
 * build, upgraded to 4, keeps every body, its checksums, and the store's accounting. */
static void t_schema3_upgrade(void)
{
    char *dir = tmpdir_new(), path[4200];
    struct store *s = open_store(dir, 0, 1000);
    uint8_t data[3000];
    fill(data, sizeof(data), 23);
    bucket_make(s, "b", "t1");
    for (int i = 0; i < 20; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%02d", i);
        put(s, "b", key, data, (size_t)(i * 50), "e", GZ_SLICE_NULL); /* k00 is empty */
    }
    put(s, "b", "file", data, sizeof(data), "e", GZ_SLICE_NULL); /* over inline_max */
    copy(s, "b", "k07", NULL, "b", "k07copy", NULL);
    store_close(s);
    int rc = index_sql(dir, "BEGIN;" UNDO_SCHEMA4_SQL
                            "UPDATE meta SET v=3 WHERE k='schema'; PRAGMA user_version=3; COMMIT;");
    TAP_OK(rc == SQLITE_OK, "made a schema 3 index (inline bodies in the object rows)");
    s = open_store(dir, 0, 1000);
    int same = 0;
    for (int i = 0; i < 20; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%02d", i);
        same += get_eq(s, "b", key, data, (size_t)(i * 50));
    }
    TAP_OK(same == 20 && get_eq(s, "b", "k07copy", data, 350) &&
               get_eq(s, "b", "file", data, sizeof(data)),
           "every body reads back after the upgrade to 4 (%d of 20 inline)", same);
    TAP_OK(usage_exact(s, "b", "t1") && usage_is(s, "b", 20 * 19 * 25 + 350 + 3000, 22),
           "usage unchanged");
    TAP_OK(del(s, "b", "k07") == 0 && get_eq(s, "b", "k07copy", data, 350) &&
               put(s, "b", "k08", data, 10, "e", GZ_SLICE_NULL) == 0 &&
               get_eq(s, "b", "k08", data, 10),
           "delete, overwrite after the upgrade");
    store_close(s);
    sqlite3 *db = NULL;
    int64_t bodies = -1, nocrc = -1, uv = -1;
    snprintf(path, sizeof(path), "%s/index.db", dir);
    if (sqlite3_open(path, &db) == SQLITE_OK) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM inline_bodies),"
                                   " (SELECT count(*) FROM inline_bodies WHERE crc IS NULL),"
                                   " (SELECT user_version FROM pragma_user_version)",
                               -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW) {
            bodies = sqlite3_column_int64(st, 0);
            nocrc = sqlite3_column_int64(st, 1);
            uv = sqlite3_column_int64(st, 2);
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    TAP_OK(uv == 4 && bodies == 19 && nocrc == 0,
           "schema 4: 19 body rows (k00, empty, has none), all with CRCs (%lld, %lld without, "
           "version %lld)",
           (long long)bodies, (long long)nocrc, (long long)uv);
    struct store_fsck_opts fo = {.data_dir = dir, .structure = true};
    struct store_fsck_stats fst;
    TAP_OK(store_fsck_run(&fo, &fst) == 0 && fst.problems == 0, "fsck: clean (%lld problems)",
           (long long)fst.problems);
    rm_rf(dir);
    gz_free(dir);
}

static bool quota_is(struct store *s, const char *bucket, int64_t max_bytes,
                     int64_t max_objects)
{
    struct store_quota q = {0, 0};
    return store_bucket_quota_get(s, S(bucket), &q) == 0 && q.max_bytes == max_bytes &&
           q.max_objects == max_objects;
}

static bool exists(struct store *s, const char *bucket, const char *key)
{
    struct store_meta m;
    struct gz_buf hold;
    int rc = store_object_stat(s, S(bucket), S(key), &m, &hold);
    gz_buf_free(&hold);
    return rc == 0;
}

static void t_quota_bucket(void)
{
    char *dir = tmpdir_new();
    struct store *s = open_store(dir, 1, 100);
    uint8_t data[2000];
    fill(data, sizeof(data), 23);
    bucket_make(s, "b", "t1");
    TAP_OK(quota_is(s, "b", -1, -1), "no quota by default");
    TAP_OK(quota_set(s, "b", 1000, -1) == 0 && quota_is(s, "b", 1000, -1), "set bucket quota");
    TAP_OK(quota_set(s, "zz", 1, 1) == GZ_ENOBUCKET, "quota of a missing bucket");
    TAP_OK(quota_set(s, "b", -2, 1) == -EINVAL, "bad quota refused");
    TAP_OK(put(s, "b", "a", data, 600, "e", GZ_SLICE_NULL) == 0, "600 of 1000 bytes");
    int files = count_files(dir);
    TAP_OK(put(s, "b", "x", data, 500, "e", GZ_SLICE_NULL) == GZ_EQUOTA, "500 more: refused");
    TAP_OK(usage_is(s, "b", 600, 1) && count_files(dir) == files && !exists(s, "b", "x"),
           "refused: nothing changed, its body file removed");
    TAP_OK(put(s, "b", "x", data, 400, "e", GZ_SLICE_NULL) == 0 && usage_is(s, "b", 1000, 2),
           "exactly to the limit");
    TAP_OK(put(s, "b", "y", data, 1, "e", GZ_SLICE_NULL) == GZ_EQUOTA, "one byte past: refused");
    TAP_OK(put(s, "b", "a", data, 601, "e", GZ_SLICE_NULL) == GZ_EQUOTA,
           "overwrite growing past the limit: refused");
    TAP_OK(get_eq(s, "b", "a", data, 600), "the old object stays");
    TAP_OK(put(s, "b", "a", data, 300, "e", GZ_SLICE_NULL) == 0 && usage_is(s, "b", 700, 2),
           "overwrite shrinking at the limit: allowed");
    TAP_OK(quota_set(s, "b", 500, -1) == 0 &&
               put(s, "b", "a", data, 200, "e", GZ_SLICE_NULL) == 0 &&
               usage_is(s, "b", 600, 2),
           "over a lowered limit: shrinking still allowed");
    TAP_OK(put(s, "b", "a", data, 201, "e", GZ_SLICE_NULL) == GZ_EQUOTA, "growing is not");
    TAP_OK(del(s, "b", "x") == 0 && usage_is(s, "b", 200, 1), "delete always allowed");
    TAP_OK(copy(s, "b", "a", NULL, "b", "a2", NULL) == 0 &&
               copy(s, "b", "a", NULL, "b", "a3", NULL) == GZ_EQUOTA && usage_is(s, "b", 400, 2),
           "copy refused past the limit");

    /* Object count. */
    TAP_OK(quota_set(s, "b", -1, 3) == 0 && quota_is(s, "b", -1, 3), "set max objects");
    TAP_OK(put(s, "b", "o3", data, 10, "e", GZ_SLICE_NULL) == 0 &&
               put(s, "b", "o4", data, 10, "e", GZ_SLICE_NULL) == GZ_EQUOTA,
           "third object in, fourth refused");
    TAP_OK(put(s, "b", "o3", data, 1500, "e", GZ_SLICE_NULL) == 0, "overwrite at max objects");
    char uid[STORE_UPLOAD_ID_LEN + 1];
    TAP_OK(store_upload_create(s, S("b"), S("mp"), GZ_SLICE_NULL, uid) == 0 &&
               part_put(s, uid, 1, data, 1000, "p1") == 0,
           "parts are accepted (they count at completion)");
    struct store_part parts[1] = {{.number = 1, .etag = "p1"}};
    files = count_files(dir);
    TAP_OK(complete(s, "mp", uid, parts, 1) == GZ_EQUOTA && count_files(dir) == files &&
               usage_is(s, "b", 1900, 3),
           "complete past max objects: refused, nothing changed");
    struct store_upload up;
    struct gz_buf hold;
    TAP_OK(store_upload_get(s, S("b"), S("mp"), uid, &up, &hold) == 0, "the upload remains");
    gz_buf_free(&hold);
    TAP_OK(complete(s, "o3", uid, parts, 1) == GZ_ENOUPLOAD, "(it belongs to its key)");
    TAP_OK(quota_set(s, "b", -1, 4) == 0 && complete(s, "mp", uid, parts, 1) == 0 &&
               usage_is(s, "b", 2900, 4),
           "after raising the limit, the same completion succeeds");

    /* Several ops in one batch: some fit, the rest fail, independently. */
    quota_set(s, "b", 2900 + 1000, -1);
    struct waitgroup wg;
    wg_init(&wg);
    for (int i = 0; i < 10; i++) {
        char key[32];
        snprintf(key, sizeof(key), "batch%d", i);
        put_async(s, "b", S(key), data, 200, "e", GZ_SLICE_NULL, &wg);
    }
    wg_wait_until(&wg, 0);
    TAP_OK(wg.fails == 5 && usage_is(s, "b", 3900, 9), "10 queued 200-byte PUTs, 1000 left: "
           "5 commit, 5 refused (%d)", wg.fails);
    wg_destroy(&wg);
    TAP_OK(usage_exact(s, "b", "t1"), "usage equals a scan");
    store_close(s);
    s = open_store(dir, 1, 100);
    TAP_OK(quota_is(s, "b", 3900, -1), "quota persists across reopen");
    TAP_OK(put(s, "b", "more", data, 1, "e", GZ_SLICE_NULL) == GZ_EQUOTA, "and is enforced");
    store_close(s);
    rm_rf(dir);
    gz_free(dir);
}

static void t_quota_owner(void)
{
    char *dir = tmpdir_new();
    struct store *s = open_store(dir, 1, 100);
    uint8_t data[2000];
    struct store_quota q;
    fill(data, sizeof(data), 24);
    bucket_make(s, "b1", "t1");
    bucket_make(s, "b2", "t1");
    bucket_make(s, "o1", "t2");
    TAP_OK(store_owner_quota_get(s, "t1", &q) == 0 && q.max_bytes == -1 && q.max_objects == -1,
           "no owner quota by default");
    TAP_OK(owner_quota_set(s, "t1", 1000, 3) == 0 && store_owner_quota_get(s, "t1", &q) == 0 &&
               q.max_bytes == 1000 && q.max_objects == 3,
           "set owner quota");
    TAP_OK(owner_quota_set(s, "", 1, 1) == -EINVAL && owner_quota_set(s, "t1", 1, -5) == -EINVAL,
           "bad owner quota refused");
    TAP_OK(put(s, "b1", "a", data, 600, "e", GZ_SLICE_NULL) == 0 &&
               put(s, "b2", "a", data, 500, "e", GZ_SLICE_NULL) == GZ_EQUOTA,
           "owner bytes: counted across buckets");
    TAP_OK(put(s, "o1", "a", data, 1500, "e", GZ_SLICE_NULL) == 0, "other owners unaffected");
    TAP_OK(put(s, "b2", "a", data, 400, "e", GZ_SLICE_NULL) == 0 &&
               put(s, "b2", "b", data, 0, "e", GZ_SLICE_NULL) == 0 &&
               put(s, "b1", "c", data, 0, "e", GZ_SLICE_NULL) == GZ_EQUOTA,
           "owner objects: third in, fourth refused");
    TAP_OK(owner_is(s, "t1", 1000, 3) && usage_is(s, "b2", 400, 2), "owner usage at the limit");
    TAP_OK(copy(s, "o1", "a", NULL, "b1", "z", NULL) == GZ_EQUOTA, "copy into it refused");
    TAP_OK(put(s, "b1", "a", data, 100, "e", GZ_SLICE_NULL) == 0 && owner_is(s, "t1", 500, 3),
           "shrinking overwrite allowed");

    /* The advisory pre-check. */
    struct store_quota_hit hit;
    struct gz_slice key_a = S("a");
    TAP_OK(store_quota_check(s, S("b1"), NULL, 500, 0, &hit) == 0, "check: 500 more bytes fit");
    TAP_OK(store_quota_check(s, S("b1"), NULL, 501, 0, &hit) == GZ_EQUOTA && hit.owner &&
               !hit.objects && hit.limit == 1000 && hit.usage == 500,
           "check: 501 hits the owner's byte limit (usage %lld)", (long long)hit.usage);
    TAP_OK(store_quota_check(s, S("b1"), NULL, 1, 1, &hit) == GZ_EQUOTA && hit.owner &&
               hit.objects && hit.limit == 3,
           "check: a new object hits the owner's object limit");
    TAP_OK(store_quota_check(s, S("b1"), &key_a, 600, 1, &hit) == 0,
           "check: replacing an object credits it");
    quota_set(s, "b1", 50, -1);
    TAP_OK(store_quota_check(s, S("b1"), &key_a, 60, 1, &hit) == 0 &&
               store_quota_check(s, S("b1"), &key_a, 200, 1, &hit) == GZ_EQUOTA && !hit.owner &&
               !hit.objects && hit.limit == 50 && hit.usage == 100,
           "check: the bucket's limit is named (bucket checked first)");
    TAP_OK(store_quota_check(s, S("zz"), NULL, 1, 1, NULL) == GZ_ENOBUCKET, "check: no bucket");
    TAP_OK(store_quota_check(s, S("o1"), NULL, 1 << 30, 1000, NULL) == 0, "check: no limits");
    TAP_OK(owner_quota_set(s, "t1", -1, -1) == 0 && quota_set(s, "b1", -1, -1) == 0 &&
               put(s, "b1", "c", data, 2000, "e", GZ_SLICE_NULL) == 0,
           "limits lifted");
    TAP_OK(owner_quota_set(s, "t9", 5, 5) == 0 && bucket_make(s, "n1", "t9") == 0 &&
               put(s, "n1", "k", data, 6, "e", GZ_SLICE_NULL) == GZ_EQUOTA,
           "a quota set before the owner has buckets applies to them");
    store_close(s);
    s = open_store(dir, 1, 100);
    TAP_OK(store_owner_quota_get(s, "t9", &q) == 0 && q.max_bytes == 5 && q.max_objects == 5,
           "owner quota persists across reopen");
    TAP_OK(usage_exact(s, "b1", "t1") && usage_exact(s, "o1", "t2"), "usage equals a scan");
    store_close(s);
    rm_rf(dir);
    gz_free(dir);
}

/* 16 threads race PUTs at a bucket or an owner with limits, 8 in flight each. */
#define RACE_THREADS 16
#define RACE_PUTS 40

struct race_put {
    struct race_thread *t;
    int64_t size;
};

struct race_thread {
    struct store *s;
    int id;
    const char *bucket;
    pthread_mutex_t mu;
    int64_t ok_bytes, ok_objects, refused;
    struct waitgroup wg;
};

static void race_done(void *ud, int status)
{
    struct race_put *p = ud;
    struct race_thread *t = p->t;
    pthread_mutex_lock(&t->mu);
    if (status == 0) {
        t->ok_bytes += p->size;
        t->ok_objects++;
    } else if (status == GZ_EQUOTA) {
        t->refused++;
    } else if (status != 0) {
        printf("# race put: %s\n", gz_strerror(status));
    }
    pthread_mutex_unlock(&t->mu);
    wg_done(&t->wg, 0);
    gz_free(p);
}

static void *race_main(void *arg)
{
    struct race_thread *t = arg;
    uint8_t data[3000];
    fill(data, sizeof(data), (unsigned)t->id);
    for (int i = 0; i < RACE_PUTS; i++) {
        char key[32];
        struct race_put *p = gz_malloc(sizeof(*p));
        *p = (struct race_put){.t = t, .size = 1000 + (t->id * 7919 + i * 104729) % 2000};
        snprintf(key, sizeof(key), "t%d/k%d", t->id, i);
        struct store_writer *w;
        store_writer_open(t->s, &w);
        store_writer_write(w, data, (size_t)p->size);
        struct store_meta meta = {.etag = "e"};
        wg_wait_until(&t->wg, 7);
        wg_add(&t->wg, 1);
        store_object_commit(t->s, w, S(t->bucket), S(key), &meta, race_done, p);
    }
    wg_wait_until(&t->wg, 0);
    return NULL;
}

/* Runs the race against bucket(s) b1/b2; returns the bytes and objects acknowledged. */
static struct store_usage race_run(struct store *s, const char *b1, const char *b2,
                                   int64_t *refused)
{
    struct race_thread t[RACE_THREADS];
    pthread_t th[RACE_THREADS];
    struct store_usage total = {0, 0};
    *refused = 0;
    for (int i = 0; i < RACE_THREADS; i++) {
        t[i] = (struct race_thread){.s = s, .id = i, .bucket = i % 2 ? b2 : b1};
        pthread_mutex_init(&t[i].mu, NULL);
        wg_init(&t[i].wg);
        pthread_create(&th[i], NULL, race_main, &t[i]);
    }
    for (int i = 0; i < RACE_THREADS; i++) {
        pthread_join(th[i], NULL);
        total.bytes += t[i].ok_bytes;
        total.objects += t[i].ok_objects;
        *refused += t[i].refused;
        pthread_mutex_destroy(&t[i].mu);
        wg_destroy(&t[i].wg);
    }
    return total;
}

/* Counts objects above inline_max 2048 (file-backed). */
static void files_cb(const struct store_list_entry *e, void *ud)
{
    if (e->size > 2048)
        (*(int *)ud)++;
}

static void t_quota_race(void)
{
    char *dir = tmpdir_new();
    struct store *s = open_store(dir, 1, 2048);
    int64_t refused;
    bucket_make(s, "b", "t1");
    bucket_make(s, "c", "t2");
    bucket_make(s, "d", "t2");
    quota_set(s, "b", 200000, -1);
    struct store_usage got = race_run(s, "b", "b", &refused);
    struct store_usage scan = usage_scan(s, "b");
    TAP_OK(got.bytes <= 200000 && got.bytes > 200000 - 3000 && refused > 0,
           "16 threads racing for a 200000-byte bucket: %lld bytes committed, %lld refused",
           (long long)got.bytes, (long long)refused);
    TAP_OK(usage_is(s, "b", got.bytes, got.objects) && scan.bytes == got.bytes &&
               scan.objects == got.objects,
           "usage = acknowledged = scan (%lld objects)", (long long)got.objects);

    owner_quota_set(s, "t2", -1, 150);
    got = race_run(s, "c", "d", &refused);
    TAP_OK(got.objects == 150 && refused == RACE_THREADS * RACE_PUTS - 150,
           "racing two buckets for an owner's last objects: %lld committed, %lld refused",
           (long long)got.objects, (long long)refused);
    TAP_OK(owner_is(s, "t2", got.bytes, 150) && usage_exact(s, "c", "t2"),
           "owner usage = acknowledged = scan");
    int files = count_files(dir);
    int want = 0;
    const char *bs[3] = {"b", "c", "d"};
    for (int i = 0; i < 3; i++) {
        bool trunc;
        store_object_list(s, S(bs[i]), S(""), S(""), S(""), 100000, files_cb, &want, &trunc);
    }
    TAP_OK(files == want, "refused bodies left no files (%d files, %d file-backed objects)",
           files, want);
    store_close(s);
    rm_rf(dir);
    gz_free(dir);
}

/* Usage is totalled in memory per batch and written before COMMIT; ops that read or change
 * usage rows or quotas directly (quota set, owner change, bucket delete) see the totals of
 * the ops before them in the same batch. Queued behind a file-backed PUT (which waits for its
 * fsync), the ops below normally share one transaction. */
static void t_usage_batch(void)
{
    char *dir = tmpdir_new();
    struct store *s = open_store(dir, 1, 100);
    uint8_t data[1000];
    struct waitgroup wg[8];
    struct store__stats st0, st1;
    fill(data, sizeof(data), 26);
    bucket_make(s, "b", "t1");
    bucket_make(s, "gone", "t1");
    for (int i = 0; i < 8; i++)
        wg_init(&wg[i]);
    store__stats_get(s, &st0);
    put_async(s, "b", S("f"), data, 1000, "e", GZ_SLICE_NULL, &wg[0]);
    put_async(s, "b", S("a"), data, 50, "e", GZ_SLICE_NULL, &wg[1]);
    struct store__op *op = store__op_new(OP_BUCKET_QUOTA, wg_done, &wg[2]);
    op->bucket = store__slice_dup(S("b"));
    op->quota = (struct store_quota){1100, -1};
    wg_add(&wg[2], 1);
    store__op_submit(s, op);
    put_async(s, "b", S("x"), data, 60, "e", GZ_SLICE_NULL, &wg[3]);
    wg_add(&wg[4], 1);
    store_object_delete(s, S("b"), S("a"), wg_done, &wg[4]);
    op = store__op_new(OP_BUCKET_OWNER, wg_done, &wg[5]);
    op->bucket = store__slice_dup(S("b"));
    snprintf(op->bkt.owner, sizeof(op->bkt.owner), "t2");
    wg_add(&wg[5], 1);
    store__op_submit(s, op);
    put_async(s, "b", S("c"), data, 40, "e", GZ_SLICE_NULL, &wg[6]);
    op = store__op_new(OP_BUCKET_DELETE, wg_done, &wg[7]);
    op->bucket = store__slice_dup(S("gone"));
    wg_add(&wg[7], 1);
    store__op_submit(s, op);
    int status[8];
    for (int i = 0; i < 8; i++) {
        wg_wait_until(&wg[i], 0);
        status[i] = wg[i].last;
        wg_destroy(&wg[i]);
    }
    store__stats_get(s, &st1);
    TAP_OK(status[0] == 0 && status[1] == 0 && status[2] == 0 && status[3] == GZ_EQUOTA &&
               status[4] == 0 && status[5] == 0 && status[6] == 0 && status[7] == 0,
           "a quota set mid-batch applies to the ops after it (%llu transactions)",
           (unsigned long long)(st1.txns - st0.txns));
    TAP_OK(usage_is(s, "b", 1040, 2) && owner_is(s, "t2", 1040, 2) && owner_is(s, "t1", 0, 0),
           "an owner change mid-batch moves the usage before and after it");
    TAP_OK(usage_exact(s, "b", "t2"), "usage equals a scan");
    store_close(s);
    rm_rf(dir);
    gz_free(dir);
}

static void t_owner_change(void)
{
    char *dir = tmpdir_new();
    struct store *s = open_store(dir, 1, 0);
    uint8_t data[1000];
    fill(data, sizeof(data), 25);
    bucket_make(s, "b1", "t1");
    bucket_make(s, "b2", "t1");
    put(s, "b1", "k", data, 100, "e", GZ_SLICE_NULL);
    put(s, "b2", "k", data, 300, "e", GZ_SLICE_NULL);
    put(s, "b2", "l", data, 50, "e", GZ_SLICE_NULL);
    TAP_OK(owner_is(s, "t1", 450, 3), "t1 owns both");
    TAP_OK(store_bucket_owner_set(s, S("b2"), "t2") == 0, "move b2 to t2");
    struct store_bucket b;
    TAP_OK(store_bucket_get(s, S("b2"), &b) == 0 && strcmp(b.owner, "t2") == 0, "new owner");
    TAP_OK(owner_is(s, "t1", 100, 1) && owner_is(s, "t2", 350, 2), "usage moved with it");
    struct bucket_names bn = {.n = 0};
    store_bucket_list(s, "t2", bucket_cb, &bn);
    TAP_OK(bn.n == 1 && strcmp(bn.names[0], "b2") == 0, "listed under the new owner");
    TAP_OK(store_bucket_owner_set(s, S("b2"), "t2") == 0 && owner_is(s, "t2", 350, 2),
           "same owner: no change");
    TAP_OK(store_bucket_owner_set(s, S("zz"), "t2") == GZ_ENOBUCKET, "missing bucket");
    TAP_OK(store_bucket_owner_set(s, S("b2"), "") == -EINVAL, "empty owner refused");
    owner_quota_set(s, "t3", 10, -1);
    TAP_OK(store_bucket_owner_set(s, S("b2"), "t3") == 0 && owner_is(s, "t3", 350, 2),
           "a move is not refused by the new owner's quota");
    TAP_OK(put(s, "b2", "m", data, 1, "e", GZ_SLICE_NULL) == GZ_EQUOTA &&
               put(s, "b2", "k", data, 200, "e", GZ_SLICE_NULL) == 0,
           "but growth then is; shrinking is not");
    put(s, "b2", "n", data, 0, "e", GZ_SLICE_NULL);
    store_close(s);
    s = open_store(dir, 1, 0);
    TAP_OK(owner_is(s, "t1", 100, 1) && owner_is(s, "t2", 0, 0) && owner_is(s, "t3", 250, 3) &&
               usage_exact(s, "b2", "t3"),
           "persisted across reopen");
    store_close(s);
    rm_rf(dir);
    gz_free(dir);
}

static bool attr_is(struct store *s, const char *bucket, const char *name, const void *v,
                    size_t n)
{
    struct gz_buf out;
    bool ok = store_bucket_attr_get(s, S(bucket), name, &out) == 0 && out.len == n &&
              (n == 0 || memcmp(out.ptr, v, n) == 0);
    gz_buf_free(&out);
    return ok;
}

/* What gzy sse rotate relies on: store_data_dir, and a copy onto itself that keeps a given
 * mtime. */
/* An index lost while object files remain is refused, not replaced by an empty one. */
static void t_lost_index_refused(void)
{
    char *dir = tmpdir_new(), path[4096];
    struct store *s = open_store(dir, 1, 0);
    uint8_t body[100000];
    memset(body, 'z', sizeof(body));
    bucket_make(s, "b", "u");
    put(s, "b", "k", body, sizeof(body), "x", GZ_SLICE_NULL);
    store_close(s);
    const char *names[] = {"index.db", "index.db-wal", "index.db-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    struct store_config cfg = {.data_dir = dir, .sync = 1};
    s = NULL;
    int rc = store_open(&cfg, &s);
    TAP_OK(rc == -EUCLEAN && s == NULL, "a missing index.db beside object files is refused (%s)",
           gz_strerror(rc));
    TAP_OK(count_files(dir) == 1, "the object file is still there");
    rm_rf(dir);
    gz_free(dir);
}

static int open_rc(const char *dir)
{
    struct store_config cfg = {.data_dir = dir, .sync = 1};
    struct store *s = NULL;
    int rc = store_open(&cfg, &s);
    if (rc == 0)
        store_close(s);
    return rc;
}

/* A store with bucket "b" and one file-backed object, closed. */
static char *store_with_file(void)
{
    char *dir = tmpdir_new();
    struct store *s = open_store(dir, 1, 0);
    uint8_t body[100000];
    memset(body, 'z', sizeof(body));
    bucket_make(s, "b", "u");
    put(s, "b", "k", body, sizeof(body), "x", GZ_SLICE_NULL);
    store_close(s);
    return dir;
}

/* An index.db that exists but is empty (truncated, a fresh schema, every row gone) beside
 * object files is refused as the missing one is; an index with its bucket but a lost row
 * (a crash's orphan) still opens and sweeps. */
static void t_empty_index_refused(void)
{
    char *dir = store_with_file(), path[4200];
    const char *names[] = {"index.db-wal", "index.db-shm"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    snprintf(path, sizeof(path), "%s/index.db", dir);
    TAP_OK(truncate(path, 0) == 0, "index.db truncated to 0 bytes");
    int rc = open_rc(dir);
    TAP_OK(rc == -EUCLEAN, "an empty index.db beside object files is refused (%s)",
           gz_strerror(rc));
    rc = open_rc(dir);
    TAP_OK(rc == -EUCLEAN, "and again: a fresh schema is refused too (%s)", gz_strerror(rc));
    TAP_OK(count_files(dir) == 1, "the object file is still there");
    rm_rf(dir);
    gz_free(dir);

    dir = store_with_file();
    TAP_OK(index_sql(dir, "DELETE FROM objects; DELETE FROM files; DELETE FROM buckets;") == 0,
           "every row removed");
    rc = open_rc(dir);
    TAP_OK(rc == -EUCLEAN && count_files(dir) == 1, "an index with no rows is refused (%s)",
           gz_strerror(rc));
    rm_rf(dir);
    gz_free(dir);

    dir = store_with_file();
    TAP_OK(index_sql(dir, "DELETE FROM objects; DELETE FROM files;"
                          "UPDATE meta SET v=0 WHERE k='clean';") == 0,
           "the object's rows removed, the bucket kept, the shutdown made unclean");
    rc = open_rc(dir);
    TAP_OK(rc == 0 && count_files(dir) == 0, "a bucket's orphan is swept, not refused (%s)",
           gz_strerror(rc));
    rm_rf(dir);
    gz_free(dir);
}

static void t_data_dir(void)
{
    char *dir = tmpdir_new();
    struct store *s = open_store(dir, 1, 0);
    TAP_OK(strcmp(store_data_dir(s), dir) == 0, "store_data_dir is the folder opened");
    /* a copy onto itself with meta->mtime_ms set rewrites the headers, keeping the mtime */
    bucket_make(s, "b", "t1");
    TAP_OK(put(s, "b", "k", "body", 4, "0123456789abcdef0123456789abcdef", S("")) == 0, "put");
    struct store_meta m = {.mtime_ms = 1234567, .headers = gz_slice("h\0v\0", 4)}, got;
    struct gz_buf hold;
    TAP_OK(copy(s, "b", "k", "0123456789abcdef0123456789abcdef", "b", "k", &m) == 0, "copy");
    TAP_OK(store_object_stat(s, S("b"), S("k"), &got, &hold) == 0 && got.mtime_ms == 1234567 &&
               got.headers.len == 4 && got.size == 4,
           "headers replaced, the given mtime kept");
    gz_buf_free(&hold);
    store_close(s);
    rm_rf(dir);
    gz_free(dir);
}

static void t_attrs(void)
{
    char *dir = tmpdir_new();
    struct store *s = open_store(dir, 1, 0);
    struct gz_buf out;
    bucket_make(s, "b", "t1");
    bucket_make(s, "c", "t1");
    struct gz_slice pol = S("{\"Version\":\"2012-10-17\"}"), acl = S("public-read");
    struct gz_slice bin = gz_slice("a\0b\0", 4), empty = gz_slice("", 0);
    TAP_OK(store_bucket_attr_get(s, S("b"), "policy", &out) == -ENOENT, "absent: -ENOENT");
    gz_buf_free(&out);
    TAP_OK(store_bucket_attr_set(s, S("b"), "policy", &pol) == 0 &&
               store_bucket_attr_set(s, S("b"), "acl", &acl) == 0 &&
               attr_is(s, "b", "policy", pol.ptr, pol.len) &&
               attr_is(s, "b", "acl", acl.ptr, acl.len),
           "set and get");
    TAP_OK(!attr_is(s, "c", "policy", pol.ptr, pol.len), "per bucket");
    TAP_OK(store_bucket_attr_set(s, S("b"), "acl", &bin) == 0 &&
               attr_is(s, "b", "acl", "a\0b\0", 4),
           "replace; binary values");
    TAP_OK(store_bucket_attr_set(s, S("b"), "e", &empty) == 0 && attr_is(s, "b", "e", "", 0),
           "empty value");
    TAP_OK(store_bucket_attr_set(s, S("b"), "acl", NULL) == 0 &&
               store_bucket_attr_get(s, S("b"), "acl", &out) == -ENOENT &&
               store_bucket_attr_set(s, S("b"), "acl", NULL) == 0,
           "delete (twice)");
    gz_buf_free(&out);
    TAP_OK(store_bucket_attr_set(s, S("zz"), "acl", &acl) == GZ_ENOBUCKET &&
               store_bucket_attr_get(s, S("zz"), "acl", &out) == GZ_ENOBUCKET,
           "missing bucket");
    gz_buf_free(&out);
    uint8_t *big = gz_calloc(1, STORE_MAX_ATTR_VALUE + 1);
    struct gz_slice bigv = gz_slice(big, STORE_MAX_ATTR_VALUE + 1);
    TAP_OK(store_bucket_attr_set(s, S("b"), "big", &bigv) == GZ_ELIMIT, "too large");
    bigv.len--;
    TAP_OK(store_bucket_attr_set(s, S("b"), "big", &bigv) == 0 &&
               attr_is(s, "b", "big", big, bigv.len),
           "the largest value");
    TAP_OK(store_bucket_attr_set(s, S("b"), "", &acl) == -EINVAL &&
               store_bucket_attr_set(s, S("b"), NULL, &acl) == -EINVAL,
           "bad name");
    store_close(s);
    s = open_store(dir, 1, 0);
    TAP_OK(attr_is(s, "b", "policy", pol.ptr, pol.len), "persisted across reopen");
    TAP_OK(store_bucket_delete(s, S("b")) == 0 && bucket_make(s, "b", "t2") == 0 &&
               store_bucket_attr_get(s, S("b"), "policy", &out) == -ENOENT,
           "deleted with the bucket: a new one of the same name has none");
    gz_buf_free(&out);
    gz_free(big);
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

/* ---- reader.c's per-thread row cache: never stale ---- */

static bool get_is(struct store *s, const char *key, const char *data, const char *etag)
{
    uint8_t *buf;
    struct store_meta m;
    int64_t got = get(s, "b", key, &buf, &m);
    bool ok = got == (int64_t)strlen(data) && memcmp(buf, data, strlen(data)) == 0 &&
              strcmp(m.etag, etag) == 0;
    if (!ok)
        printf("# get b/%s: %lld bytes, etag %s\n", key, (long long)got, got >= 0 ? m.etag : "-");
    gz_free(buf);
    return ok;
}

/* store_bucket_get answers from a per-thread cache while no index transaction has committed:
 * each step below hits it once (so a stale entry would be returned if the generation check
 * were missing) and must see every change at once. */
static bool bucket_is(struct store *s, const char *name, int want_rc, const char *owner)
{
    struct store_bucket b;
    memset(&b, 0, sizeof(b));
    int rc = store_bucket_get(s, gz_slice_cstr(name), &b);
    return rc == want_rc && (rc != 0 || (strcmp(b.name, name) == 0 && strcmp(b.owner, owner) == 0));
}

/* Reads name three times: the third must come from the cache and agree. (The first may open
 * a pooled connection, which also moves the generation, so the second may miss too.) */
static bool bucket_is_cached(struct store *s, const char *name, int want_rc, const char *owner)
{
    if (!bucket_is(s, name, want_rc, owner) || !bucket_is(s, name, want_rc, owner))
        return false;
    uint64_t hits = store__bucket_cache_hits();
    return bucket_is(s, name, want_rc, owner) && store__bucket_cache_hits() == hits + 1;
}

static void t_bucket_cache(void)
{
    char *dir = tmpdir_new(), *dir2 = tmpdir_new();
    struct store *s2 = open_store(dir2, 0, 0);
    struct store *s = open_store(dir, 0, 0);
    TAP_OK(bucket_make(s2, "b", "other") == 0 && bucket_is_cached(s2, "b", 0, "other"),
           "another store's row cached");
    TAP_OK(bucket_is_cached(s, "b", GZ_ENOBUCKET, NULL), "absence cached, per store");
    TAP_OK(bucket_make(s, "b", "u1") == 0 && bucket_is_cached(s, "b", 0, "u1"),
           "a create is seen at once");
    TAP_OK(store_bucket_delete(s, S("b")) == 0 && bucket_is_cached(s, "b", GZ_ENOBUCKET, NULL),
           "a delete is seen at once");
    TAP_OK(bucket_make(s, "b", "u2") == 0 && bucket_is_cached(s, "b", 0, "u2"),
           "a recreate (new owner) is seen at once");
    TAP_OK(store_bucket_owner_set(s, S("b"), "u3") == 0 && bucket_is_cached(s, "b", 0, "u3"),
           "an owner change is seen at once");
    TAP_OK(bucket_make(s, "c", "u4") == 0 && bucket_is_cached(s, "c", 0, "u4") &&
               bucket_is_cached(s, "b", 0, "u3") && bucket_is_cached(s2, "b", 0, "other"),
           "names and stores do not mix");
    store_close(s2);
    store_close(s);
    rm_rf(dir);
    rm_rf(dir2);
    gz_free(dir);
    gz_free(dir2);
}

static void t_read_cache(void)
{
    char *dir = tmpdir_new(), *dir2 = tmpdir_new();
    /* inline_max 16: "file..." bodies below are files, short ones inline */
    struct store *s = open_store(dir2, 0, 16);
    bucket_make(s, "b", "u");
    put(s, "b", "k", "other-store", 11, "o", GZ_SLICE_NULL);
    store_close(s);
    s = open_store(dir, 0, 16);
    bucket_make(s, "b", "u");
    put(s, "b", "k", "v1", 2, "e1", S("h\0one"));
    TAP_OK(get_is(s, "k", "v1", "e1") && get_is(s, "k", "v1", "e1"), "inline: read twice");
    put(s, "b", "k", "v2", 2, "e2", GZ_SLICE_NULL);
    TAP_OK(get_is(s, "k", "v2", "e2"), "inline overwrite is seen at once");
    TAP_OK(put(s, "b", "k", "file-backed body 1", 18, "f1", GZ_SLICE_NULL) == 0 &&
               get_is(s, "k", "file-backed body 1", "f1") &&
               get_is(s, "k", "file-backed body 1", "f1"),
           "inline replaced by a file: read twice");
    put(s, "b", "k", "file-backed body 2", 18, "f2", GZ_SLICE_NULL);
    TAP_OK(get_is(s, "k", "file-backed body 2", "f2"), "file overwrite is seen at once");
    put(s, "b", "src", "copied source body", 18, "c1", GZ_SLICE_NULL);
    TAP_OK(copy(s, "b", "src", NULL, "b", "k", NULL) == 0 &&
               get_is(s, "k", "copied source body", "c1"),
           "a copy onto a cached key is seen at once");
    TAP_OK(del(s, "b", "k") == 0, "delete");
    struct store_reader *r = NULL;
    struct store_meta m;
    TAP_OK(store_object_open(s, S("b"), S("k"), &r, &m) == GZ_ENOKEY && r == NULL,
           "a deleted cached key is gone at once");
    put(s, "b", "m", "small", 5, "s1", GZ_SLICE_NULL);
    TAP_OK(get_is(s, "m", "small", "s1"), "inline object cached");
    char uid[STORE_UPLOAD_ID_LEN + 1];
    struct store_part parts[2] = {{.number = 1, .size = 9, .etag = "p1"},
                                  {.number = 2, .size = 4, .etag = "p2"}};
    TAP_OK(store_upload_create(s, S("b"), S("m"), GZ_SLICE_NULL, uid) == 0 &&
               part_put(s, uid, 1, "multipart", 9, "p1") == 0 &&
               part_put(s, uid, 2, "body", 4, "p2") == 0 && complete(s, "m", uid, parts, 2) == 0,
           "multipart upload completed onto the cached key");
    TAP_OK(get_is(s, "m", "multipartbody", "abcdef-3"), "the completed object is seen at once");
    TAP_OK(del(s, "b", "m") == 0 && del(s, "b", "src") == 0 &&
               store_bucket_delete(s, S("b")) == 0 && bucket_make(s, "b", "u") == 0 &&
               put(s, "b", "k", "new bucket", 10, "n1", GZ_SLICE_NULL) == 0 &&
               get_is(s, "k", "new bucket", "n1"),
           "bucket deleted and made again: the new object");
    store_close(s);
    /* Another store (possibly at the same address) with the same bucket and key. */
    s = open_store(dir2, 0, 16);
    TAP_OK(get_is(s, "k", "other-store", "o"), "another store never gets this one's rows");
    store_close(s);
    rm_rf(dir);
    rm_rf(dir2);
    gz_free(dir);
    gz_free(dir2);
}

int main(void)
{
    TAP_RUN(t_headers);
    TAP_RUN(t_buckets);
    TAP_RUN(t_objects);
    TAP_RUN(t_overwrite);
    TAP_RUN(t_overwrite_race);
    TAP_RUN(t_read_cache);
    TAP_RUN(t_bucket_cache);
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
    TAP_RUN(t_usage);
    TAP_RUN(t_usage_upgrade);
    TAP_RUN(t_schema3_upgrade);
    TAP_RUN(t_quota_bucket);
    TAP_RUN(t_quota_owner);
    TAP_RUN(t_quota_race);
    TAP_RUN(t_usage_batch);
    TAP_RUN(t_owner_change);
    TAP_RUN(t_attrs);
    TAP_RUN(t_data_dir);
    TAP_RUN(t_lost_index_refused);
    TAP_RUN(t_empty_index_refused);
    if (getenv("GZ_STORE_BENCH") != NULL) {
        TAP_RUN(bench_commits);
        TAP_RUN(bench_list);
    }
    return tap_done();
}
