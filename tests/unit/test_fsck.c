/*
 * test_fsck.c - store_fsck_run (`gzy fsck` / `gzy scrub`): a store with inline, file-backed,
 * copied (shared file) and multipart objects and a pending upload is clean; then each kind of
 * damage is made by hand and must be reported against the right object, and --repair must
 * fix what it may (and only that): a flipped byte (content), a deleted file (missing, dropped
 * only with drop_missing), an orphan file, a stray name, tampered usage and reference
 * counters; an object encrypted at rest is not mistaken for a corrupted one, but its block
 * CRCs are checked all the same (a simple object, a multipart one and a pending upload part,
 * each with a flipped byte); the LOCK of an open store refuses the check; the scrub rate is
 * honoured.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"
#include "tap.h"
#include "util/hash.h"

#define INLINE_MAX 1024
#define BIG (200 * 1024)

/* ---- helpers ---- */


static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (uint8_t)(x >> 16);
    }
}

static void md5_hex(const void *p, size_t n, char out[33])
{
    uint8_t d[16];
    gz_md5(p, n, d);
    gz_hex_encode(out, d, 16);
}

static struct store_writer *writer_with(struct store *s, const void *p, size_t n)
{
    struct store_writer *w;
    store_writer_open(s, &w);
    store_writer_write(w, p, n);
    return w;
}

static int put(struct store *s, const char *key, const void *p, size_t n)
{
    struct store_waiter wt;
    store_waiter_init(&wt);
    struct store_meta meta = {0};
    md5_hex(p, n, meta.etag);
    store_object_commit(s, writer_with(s, p, n), gz_slice_cstr("bk"), gz_slice_cstr(key), &meta,
                        store_waiter_done, &wt);
    return store_waiter_wait(&wt);
}

/* An object "encrypted at rest": its stored headers name x-gzy-sse and its ETag is not the
 * MD5 of the stored bytes; fsck must count it as unverified, not as corrupted. */
static int put_opaque(struct store *s, const char *key)
{
    struct store_waiter wt;
    store_waiter_init(&wt);
    struct gz_buf enc;
    gz_buf_init(&enc, 4096);
    store_headers_add(&enc, gz_slice_cstr("x-gzy-sse"), gz_slice_cstr("AES256:wrapped-key"));
    struct store_meta meta = {.etag = "0123456789abcdef0123456789abcdef",
                              .headers = gz_buf_slice(&enc)};
    store_object_commit(s, writer_with(s, "ciphertext", 10), gz_slice_cstr("bk"),
                        gz_slice_cstr(key), &meta, store_waiter_done, &wt);
    int rc = store_waiter_wait(&wt);
    gz_buf_free(&enc);
    return rc;
}

static int part(struct store *s, const char *uid, int num, const void *p, size_t n, char etag[33])
{
    struct store_waiter wt;
    store_waiter_init(&wt);
    md5_hex(p, n, etag);
    store_upload_part_commit(s, uid, num, writer_with(s, p, n), etag, store_waiter_done, &wt);
    return store_waiter_wait(&wt);
}

/* A two-part multipart object at key (ETag computed as S3 does). */
static int multipart(struct store *s, const char *key, const uint8_t *p, size_t n1, size_t n2)
{
    char uid[STORE_UPLOAD_ID_LEN + 1];
    struct store_part parts[2] = {{.number = 1, .size = (int64_t)n1},
                                  {.number = 2, .size = (int64_t)n2}};
    int rc = store_upload_create(s, gz_slice_cstr("bk"), gz_slice_cstr(key), GZ_SLICE_NULL, uid);
    if (rc == 0)
        rc = part(s, uid, 1, p, n1, parts[0].etag);
    if (rc == 0)
        rc = part(s, uid, 2, p + n1, n2, parts[1].etag);
    if (rc < 0)
        return rc;
    uint8_t both[32];
    gz_hex_decode(both, 16, gz_slice_cstr(parts[0].etag));
    gz_hex_decode(both + 16, 16, gz_slice_cstr(parts[1].etag));
    struct store_meta meta = {0};
    md5_hex(both, 32, meta.etag);
    strcat(meta.etag, "-2");
    struct store_waiter wt;
    store_waiter_init(&wt);
    store_upload_complete(s, gz_slice_cstr("bk"), gz_slice_cstr(key), uid, parts, 2, &meta,
                          store_waiter_done, &wt);
    return store_waiter_wait(&wt);
}

static int copy(struct store *s, const char *from, const char *to)
{
    struct store_waiter wt;
    store_waiter_init(&wt);
    store_object_copy(s, gz_slice_cstr("bk"), gz_slice_cstr(from), NULL, gz_slice_cstr("bk"),
                      gz_slice_cstr(to), NULL, store_waiter_done, &wt);
    return store_waiter_wait(&wt);
}

/* Builds the fixture store and closes it cleanly. */
static char *fixture(void)
{
    char tmpl[] = "/tmp/gzfsck.XXXXXX";
    char *dir = gz_strdup(mkdtemp(tmpl));
    struct store_config cfg = {.data_dir = dir, .inline_max = INLINE_MAX, .sync = 0};
    struct store *s = NULL;
    uint8_t *big = gz_malloc(BIG);
    fill(big, BIG, 7);
    int rc = store_open(&cfg, &s);
    struct store_bucket b = {.name = "bk", .region = "cn-sh", .owner = "tenant-a"};
    if (rc == 0)
        rc = store_bucket_create(s, &b);
    if (rc == 0)
        rc = put(s, "small", "hello", 5);
    if (rc == 0)
        rc = put(s, "big", big, BIG);
    if (rc == 0)
        rc = put(s, "other", big + 1000, BIG - 1000);
    if (rc == 0)
        rc = copy(s, "big", "big-copy");
    if (rc == 0)
        rc = multipart(s, "mp", big, 120000, 30000);
    if (rc == 0)
        rc = put_opaque(s, "enc");
    char uid[STORE_UPLOAD_ID_LEN + 1], etag[33];
    if (rc == 0)
        rc = store_upload_create(s, gz_slice_cstr("bk"), gz_slice_cstr("pending"), GZ_SLICE_NULL,
                                 uid);
    if (rc == 0)
        rc = part(s, uid, 1, big, 5000, etag);
    if (rc != 0) {
        printf("# fixture: %s\n", gz_strerror(rc));
        exit(1);
    }
    store_close(s);
    gz_free(big);
    return dir;
}

/* ---- collecting problems ---- */

struct seen {
    int n;
    int kinds[64];
    char keys[64][64];
    bool repaired[64];
    char details[64][128];
    int parts[64];
};

static void on_problem(const struct store_fsck_problem *p, void *ud)
{
    struct seen *s = ud;
    printf("#   %d %.*s/%.*s part %d %s: %s%s\n", p->kind, (int)p->bucket.len,
           (const char *)p->bucket.ptr, (int)p->key.len, (const char *)p->key.ptr, p->part, p->file,
           p->detail, p->repaired ? " [repaired]" : "");
    if (s->n >= 64)
        return;
    s->kinds[s->n] = p->kind;
    snprintf(s->keys[s->n], sizeof(s->keys[0]), "%.*s", (int)GZ_MIN(p->key.len, 63),
             (const char *)p->key.ptr);
    s->repaired[s->n] = p->repaired;
    snprintf(s->details[s->n], sizeof(s->details[0]), "%s", p->detail);
    s->parts[s->n] = p->part;
    s->n++;
}

static int run(const char *dir, bool structure, bool content, bool repair, bool drop,
               struct seen *seen, struct store_fsck_stats *st)
{
    struct store_fsck_opts o = {.data_dir = dir,
                                .structure = structure,
                                .content = content,
                                .repair = repair,
                                .drop_missing = drop,
                                .report = on_problem,
                                .ud = seen,
                                .opaque_header = "x-gzy-sse"};
    memset(seen, 0, sizeof(*seen));
    return store_fsck_run(&o, st);
}

static bool has(const struct seen *s, int kind, const char *key, bool repaired)
{
    for (int i = 0; i < s->n; i++) {
        if (s->kinds[i] == kind && (key == NULL || strcmp(s->keys[i], key) == 0) &&
            s->repaired[i] == repaired)
            return true;
    }
    return false;
}

/* Runs SQL on the index (the store is closed). */
static int sql(const char *dir, const char *q)
{
    char path[512];
    sqlite3 *db = NULL;
    snprintf(path, sizeof(path), "%s/index.db", dir);
    int rc = sqlite3_open(path, &db);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, q, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

/* The path of the body file of a simple object. */
static bool obj_path(const char *dir, const char *key, char out[600])
{
    char path[512], q[256];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    bool ok = false;
    snprintf(path, sizeof(path), "%s/index.db", dir);
    snprintf(q, sizeof(q),
             "SELECT hex(file) FROM objects WHERE key=CAST('%s' AS BLOB)"
             " UNION ALL SELECT hex(file) FROM object_parts"
             " WHERE key=CAST('%s' AS BLOB) AND num=2",
             key, key);
    if (sqlite3_open(path, &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK) {
        while (!ok && sqlite3_step(st) == SQLITE_ROW) {
            const char *hex = (const char *)sqlite3_column_text(st, 0);
            if (hex == NULL || strlen(hex) != 32)
                continue;
            char lower[33];
            for (int i = 0; i < 33; i++)
                lower[i] = (char)(hex[i] >= 'A' && hex[i] <= 'F' ? hex[i] + 32 : hex[i]);
            snprintf(out, 600, "%s/objects/%.2s/%s", dir, lower, lower);
            ok = true;
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return ok;
}

static void flip_byte(const char *path, off_t at)
{
    int fd = open(path, O_RDWR);
    uint8_t c = 0;
    if (fd >= 0 && pread(fd, &c, 1, at) == 1) {
        c ^= 0x5a;
        if (pwrite(fd, &c, 1, at) != 1)
            perror("pwrite");
    }
    if (fd >= 0)
        close(fd);
}

static struct store_usage usage_of(const char *dir)
{
    struct store_config cfg = {.data_dir = dir, .sync = 0};
    struct store *s = NULL;
    struct store_usage u = {-1, -1};
    if (store_open(&cfg, &s) == 0) {
        store_bucket_usage(s, gz_slice_cstr("bk"), &u);
        store_close(s);
    }
    return u;
}

/* ---- tests ---- */

static char *dir;

static void t_clean(void)
{
    struct seen seen;
    struct store_fsck_stats st;
    int rc = run(dir, true, true, false, false, &seen, &st);
    TAP_OK(rc == 0, "runs: %s", gz_strerror(rc));
    TAP_OK(st.problems == 0 && seen.n == 0, "fresh store is clean (%lld problems)",
           (long long)st.problems);
    TAP_OK(st.objects == 6 && st.buckets == 1 && st.uploads == 1,
           "counts: %lld objects, %lld buckets, %lld uploads", (long long)st.objects,
           (long long)st.buckets, (long long)st.uploads);
    TAP_OK(st.verified == 6 && st.unverified == 1, "6 bodies verified (%lld), %lld unverified",
           (long long)st.verified, (long long)st.unverified);
}

static void t_content(void)
{
    char path[600];
    struct seen seen;
    struct store_fsck_stats st;
    TAP_OK(obj_path(dir, "other", path), "file of 'other'");
    flip_byte(path, 12345);
    int rc = run(dir, true, true, false, false, &seen, &st);
    TAP_OK(rc == 0 && has(&seen, STORE_FSCK_CONTENT, "other", false) && st.problems == 1,
           "flipped byte reported as content of bk/other (%lld problems)", (long long)st.problems);
    rc = run(dir, false, true, false, false, &seen, &st); /* scrub */
    TAP_OK(rc == 0 && has(&seen, STORE_FSCK_CONTENT, "other", false) && st.problems == 1,
           "scrub reports it too");
    rc = run(dir, true, true, true, false, &seen, &st);
    TAP_OK(rc == 0 && has(&seen, STORE_FSCK_CONTENT, "other", false), "repair cannot fix it");
    flip_byte(path, 12345);
    /* A part of the multipart object. */
    TAP_OK(obj_path(dir, "mp", path), "file of part 2 of 'mp'");
    flip_byte(path, 100);
    rc = run(dir, false, true, false, false, &seen, &st);
    TAP_OK(rc == 0 && has(&seen, STORE_FSCK_CONTENT, "mp", false) && st.problems == 1,
           "flipped byte in a part reported against bk/mp");
    flip_byte(path, 100);
    rc = run(dir, true, true, false, false, &seen, &st);
    TAP_OK(rc == 0 && st.problems == 0, "clean again after restoring the bytes");
}

static void t_orphan_stray(void)
{
    char path[600], stray[600];
    struct seen seen;
    struct store_fsck_stats st;
    snprintf(path, sizeof(path), "%s/objects/ab/ab0123456789abcdef0123456789abcd", dir);
    snprintf(stray, sizeof(stray), "%s/objects/07/notes.txt", dir);
    FILE *f = fopen(path, "w");
    fputs("orphan bytes", f);
    fclose(f);
    f = fopen(stray, "w");
    fclose(f);
    int rc = run(dir, true, false, false, false, &seen, &st);
    TAP_OK(rc == 0 && has(&seen, STORE_FSCK_ORPHAN, NULL, false) &&
               has(&seen, STORE_FSCK_STRAY, NULL, false) && st.problems == 2,
           "orphan and stray reported (%lld problems)", (long long)st.problems);
    TAP_OK(access(path, F_OK) == 0, "check alone removes nothing");
    rc = run(dir, true, false, true, false, &seen, &st);
    TAP_OK(rc == 0 && has(&seen, STORE_FSCK_ORPHAN, NULL, true), "repair removes the orphan");
    TAP_OK(access(path, F_OK) < 0 && access(stray, F_OK) == 0, "orphan gone, stray kept");
    unlink(stray);
    rc = run(dir, true, true, false, false, &seen, &st);
    TAP_OK(rc == 0 && st.problems == 0, "clean after the repair");
}

static void t_usage_refs(void)
{
    struct seen seen;
    struct store_fsck_stats st;
    struct store_usage before = usage_of(dir);
    TAP_OK(sql(dir, "UPDATE buckets SET bytes=bytes+7, objects=objects-1;"
                    "UPDATE owners SET objects=objects+3;"
                    "UPDATE files SET refs=refs+1 WHERE id=(SELECT file FROM objects"
                    " WHERE key=CAST('other' AS BLOB))") == SQLITE_OK,
           "tampered");
    int rc = run(dir, true, false, false, false, &seen, &st);
    TAP_OK(rc == 0 && has(&seen, STORE_FSCK_USAGE, NULL, false) &&
               has(&seen, STORE_FSCK_REFS, NULL, false) && st.problems == 3,
           "bucket and owner usage and a reference count reported (%lld)", (long long)st.problems);
    rc = run(dir, true, false, true, false, &seen, &st);
    TAP_OK(rc == 0 && st.repaired == 3, "all three repaired (%lld)", (long long)st.repaired);
    rc = run(dir, true, true, false, false, &seen, &st);
    TAP_OK(rc == 0 && st.problems == 0, "clean after the repair");
    struct store_usage after = usage_of(dir);
    TAP_OK(after.bytes == before.bytes && after.objects == before.objects,
           "usage back to %lld bytes / %lld objects (got %lld / %lld)", (long long)before.bytes,
           (long long)before.objects, (long long)after.bytes, (long long)after.objects);
}

static void t_missing(void)
{
    char path[600];
    struct seen seen;
    struct store_fsck_stats st;
    TAP_OK(obj_path(dir, "other", path) && unlink(path) == 0, "deleted the file of bk/other");
    int rc = run(dir, true, true, false, false, &seen, &st);
    TAP_OK(rc == 0 && has(&seen, STORE_FSCK_MISSING, "other", false) && st.problems == 1,
           "missing file reported against bk/other, once (%lld)", (long long)st.problems);
    rc = run(dir, true, true, true, false, &seen, &st);
    TAP_OK(rc == 0 && has(&seen, STORE_FSCK_MISSING, "other", false) && st.repaired == 0,
           "--repair alone keeps the row");
    rc = run(dir, true, true, true, true, &seen, &st);
    TAP_OK(rc == 0 && has(&seen, STORE_FSCK_MISSING, "other", true) && st.problems == 1,
           "--repair-drop-missing drops it, usage counters follow (%lld problems)",
           (long long)st.problems);
    rc = run(dir, true, true, false, false, &seen, &st);
    TAP_OK(rc == 0 && st.problems == 0 && st.objects == 5,
           "clean afterwards with 5 objects (%lld problems)", (long long)st.problems);
    struct store_usage u = usage_of(dir);
    TAP_OK(u.objects == 5, "usage counts 5 objects (%lld)", (long long)u.objects);
    /* A file shared by a copy is never removed while one object still uses it. */
    TAP_OK(obj_path(dir, "big", path) && access(path, F_OK) == 0, "shared file still there");
}

/* Counts the rows a query returns (the store is closed). */
static int count_rows(const char *d, const char *q)
{
    char path[512];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int n = -1;
    snprintf(path, sizeof(path), "%s/index.db", d);
    if (sqlite3_open(path, &db) == SQLITE_OK && sqlite3_prepare_v2(db, q, -1, &st, NULL) == 0)
        for (n = 0; sqlite3_step(st) == SQLITE_ROW; n++)
            ;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static void t_refs_norow(void)
{
    char path[600];
    struct seen seen;
    struct store_fsck_stats st;
    /* The file shared by big and big-copy loses its files row: the start-up sweep would
     * delete it. fsck must not call it an orphan; --repair gives it its row back. */
    TAP_OK(obj_path(dir, "big", path), "file of 'big'");
    TAP_OK(sql(dir, "DELETE FROM files WHERE id=(SELECT file FROM objects"
                    " WHERE key=CAST('big' AS BLOB))") == SQLITE_OK,
           "files row deleted");
    int rc = run(dir, true, true, false, false, &seen, &st);
    TAP_OK(rc == 0 && has(&seen, STORE_FSCK_REFS, NULL, false) && st.problems == 1,
           "reported once as refs, not as an orphan (%lld problems)", (long long)st.problems);
    rc = run(dir, true, true, true, false, &seen, &st);
    TAP_OK(rc == 0 && has(&seen, STORE_FSCK_REFS, NULL, true) && access(path, F_OK) == 0,
           "--repair adds the row and keeps the file");
    TAP_OK(count_rows(dir, "SELECT 1 FROM files WHERE refs=2") == 1, "with 2 references");
    rc = run(dir, true, true, false, false, &seen, &st);
    TAP_OK(rc == 0 && st.problems == 0, "clean afterwards");
}

static void t_dangling(void)
{
    struct seen seen;
    struct store_fsck_stats st;
    int files = count_rows(dir, "SELECT 1 FROM files");
    /* The pending upload's row vanishes: its part is unreachable. */
    TAP_OK(sql(dir, "DELETE FROM uploads") == SQLITE_OK, "upload row deleted");
    int rc = run(dir, true, true, false, false, &seen, &st);
    TAP_OK(rc == 0 && has(&seen, STORE_FSCK_DANGLING, NULL, false) && st.problems == 1,
           "dangling upload part reported (%lld)", (long long)st.problems);
    rc = run(dir, true, true, true, false, &seen, &st);
    TAP_OK(rc == 0 && has(&seen, STORE_FSCK_DANGLING, NULL, true) && st.problems == 1,
           "--repair drops it (%lld problems)", (long long)st.problems);
    TAP_OK(count_rows(dir, "SELECT 1 FROM files") == files - 1 &&
               count_rows(dir, "SELECT 1 FROM upload_parts") == 0,
           "its file row went with it");
    rc = run(dir, true, true, false, false, &seen, &st);
    TAP_OK(rc == 0 && st.problems == 0 && st.files == files - 1,
           "clean afterwards; its file was unlinked (%lld files)", (long long)st.files);
}

static void t_inline_bodies(void)
{
    struct seen seen;
    struct store_fsck_stats st;
    TAP_OK(count_rows(dir, "SELECT 1 FROM objects o JOIN inline_bodies d ON d.id=o.body"
                           " WHERE o.key=CAST('small' AS BLOB) AND d.data=CAST('hello' AS BLOB)") ==
               1,
           "the inline body is a row of inline_bodies (schema 4)");
    TAP_OK(sql(dir, "INSERT INTO inline_bodies(data) VALUES(x'0102')") == SQLITE_OK,
           "a body row no object refers to");
    int rc = run(dir, true, true, false, false, &seen, &st);
    TAP_OK(rc == 0 && has(&seen, STORE_FSCK_DANGLING, NULL, false) && st.problems == 1,
           "reported as dangling (%lld problems)", (long long)st.problems);
    rc = run(dir, true, true, true, false, &seen, &st);
    TAP_OK(rc == 0 && has(&seen, STORE_FSCK_DANGLING, NULL, true) &&
               count_rows(dir, "SELECT 1 FROM inline_bodies WHERE data=x'0102'") == 0,
           "--repair drops it");
    TAP_OK(sql(dir, "UPDATE objects SET body=(SELECT body FROM objects WHERE"
                    " key=CAST('small' AS BLOB)) WHERE key=CAST('enc' AS BLOB)") == SQLITE_OK,
           "two objects made to share one body");
    rc = run(dir, true, false, false, false, &seen, &st);
    TAP_OK(rc == 0 && has(&seen, STORE_FSCK_LAYOUT, NULL, false) &&
               has(&seen, STORE_FSCK_DANGLING, NULL, false),
           "a shared body is reported (and the one it replaced as dangling)");
    TAP_OK(sql(dir, "UPDATE objects SET body=(SELECT id FROM inline_bodies WHERE"
                    " data=CAST('ciphertext' AS BLOB)) WHERE key=CAST('enc' AS BLOB)") ==
                   SQLITE_OK &&
               run(dir, true, true, false, false, &seen, &st) == 0 && st.problems == 0,
           "clean again once undone");
}

static void t_locked(void)
{
    struct store_config cfg = {.data_dir = dir, .sync = 0};
    struct store *s = NULL;
    struct seen seen;
    struct store_fsck_stats st;
    TAP_OK(store_open(&cfg, &s) == 0, "store open");
    int rc = run(dir, true, true, false, false, &seen, &st);
    TAP_OK(rc == -EBUSY, "refused while the store is open: %s", gz_strerror(rc));
    store_close(s);
    rc = run("/nonexistent/gzy-data", true, true, false, false, &seen, &st);
    TAP_OK(rc < 0, "no data folder: %s", gz_strerror(rc));
}

static void t_rate(void)
{
    struct store_fsck_opts o = {
        .data_dir = dir, .content = true, .rate = 1024 * 1024, .opaque_header = "x-gzy-sse"};
    struct store_fsck_stats st;
    int64_t t0 = gz_monotonic_ns();
    int rc = store_fsck_run(&o, &st);
    double secs = (double)(gz_monotonic_ns() - t0) / 1e9;
    /* bytes_read at 1 MiB/s with at most 0.1 s of burst */
    double floor = ((double)st.bytes_read - 0.1 * 1048576.0) / 1048576.0;
    TAP_OK(rc == 0 && st.bytes_read > 400000, "scrub read %lld bytes", (long long)st.bytes_read);
    TAP_OK(secs >= floor * 0.95, "rate honoured: %.2f s for %lld bytes (>= %.2f s)", secs,
           (long long)st.bytes_read, floor);
}

/* ---- bodies encrypted at rest: the ETag cannot be checked, the block CRCs can ---- */

#define ENC_BIG (400 * 1024)

/* The stored headers of an object encrypted at rest (what the s3 layer stores). */
static void sse_headers(struct gz_buf *enc)
{
    gz_buf_init(enc, 4096);
    store_headers_add(enc, gz_slice_cstr("x-gzy-sse"), gz_slice_cstr("SM4:wrapped-key"));
}

/* A simple encrypted object: "ciphertext" bytes, an ETag that is not their MD5. */
static int put_sealed(struct store *s, const char *key, const void *p, size_t n)
{
    struct store_waiter wt;
    struct gz_buf enc;
    sse_headers(&enc);
    struct store_meta meta = {.etag = "00112233445566778899aabbccddeeff",
                              .headers = gz_buf_slice(&enc)};
    store_waiter_init(&wt);
    store_object_commit(s, writer_with(s, p, n), gz_slice_cstr("bk"), gz_slice_cstr(key), &meta,
                        store_waiter_done, &wt);
    int rc = store_waiter_wait(&wt);
    gz_buf_free(&enc);
    return rc;
}

/* An encrypted two-part object at key and an encrypted upload left pending at pkey (part
 * ETags are the plaintext's MD5: here the MD5 of other bytes than those stored). */
static int multipart_sealed(struct store *s, const char *key, const char *pkey, const uint8_t *p)
{
    char uid[STORE_UPLOAD_ID_LEN + 1], puid[STORE_UPLOAD_ID_LEN + 1];
    struct store_part parts[2] = {{.number = 1, .size = 150000}, {.number = 2, .size = 90000}};
    struct gz_buf enc;
    sse_headers(&enc);
    int rc =
        store_upload_create(s, gz_slice_cstr("bk"), gz_slice_cstr(key), gz_buf_slice(&enc), uid);
    if (rc == 0)
        rc = store_upload_create(s, gz_slice_cstr("bk"), gz_slice_cstr(pkey), gz_buf_slice(&enc),
                                 puid);
    gz_buf_free(&enc);
    for (int i = 0; rc == 0 && i < 2; i++) {
        struct store_waiter wt;
        store_waiter_init(&wt);
        snprintf(parts[i].etag, sizeof(parts[i].etag), "%031d%d", 0, i + 1);
        store_upload_part_commit(s, uid, i + 1, writer_with(s, p + 1000 * i, (size_t)parts[i].size),
                                 parts[i].etag, store_waiter_done, &wt);
        rc = store_waiter_wait(&wt);
    }
    if (rc == 0) {
        struct store_waiter wt;
        store_waiter_init(&wt);
        store_upload_part_commit(s, puid, 1, writer_with(s, p + 7, 100000),
                                 "ffffffffffffffffffffffffffffffff", store_waiter_done, &wt);
        rc = store_waiter_wait(&wt);
    }
    if (rc < 0)
        return rc;
    struct store_meta meta = {.etag = "0123456789abcdef0123456789abcdef-2"};
    struct store_waiter wt;
    store_waiter_init(&wt);
    store_upload_complete(s, gz_slice_cstr("bk"), gz_slice_cstr(key), uid, parts, 2, &meta,
                          store_waiter_done, &wt);
    return store_waiter_wait(&wt);
}

static char *fixture_sealed(void)
{
    char tmpl[] = "/tmp/gzfsck-sse.XXXXXX";
    char *d = gz_strdup(mkdtemp(tmpl));
    struct store_config cfg = {.data_dir = d, .inline_max = INLINE_MAX, .sync = 0};
    struct store *s = NULL;
    uint8_t *big = gz_malloc(ENC_BIG);
    fill(big, ENC_BIG, 11);
    struct store_bucket b = {.name = "bk", .region = "cn-sh", .owner = "tenant-a"};
    int rc = store_open(&cfg, &s);
    if (rc == 0)
        rc = store_bucket_create(s, &b);
    if (rc == 0)
        rc = put_sealed(s, "enc-big", big, ENC_BIG);
    if (rc == 0)
        rc = put_sealed(s, "enc-small", big, 300);
    if (rc == 0)
        rc = multipart_sealed(s, "enc-mp", "enc-pending", big);
    if (rc != 0) {
        printf("# sealed fixture: %s\n", gz_strerror(rc));
        exit(1);
    }
    store_close(s);
    gz_free(big);
    return d;
}

/* The body file a query's first row names (hex(file) in column 0). */
static bool path_of(const char *d, const char *q, char out[600])
{
    char path[512];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    bool ok = false;
    snprintf(path, sizeof(path), "%s/index.db", d);
    if (sqlite3_open(path, &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        const char *hex = (const char *)sqlite3_column_text(st, 0);
        if (hex != NULL && strlen(hex) == 32) {
            char lower[33];
            for (int i = 0; i < 33; i++)
                lower[i] = (char)(hex[i] >= 'A' && hex[i] <= 'F' ? hex[i] + 32 : hex[i]);
            snprintf(out, 600, "%s/objects/%.2s/%s", d, lower, lower);
            ok = true;
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return ok;
}

/* Was a content problem reported for key (part, or 0) with text in its detail? */
static bool has_content(const struct seen *s, const char *key, int part, const char *text,
                        bool repaired)
{
    for (int i = 0; i < s->n; i++) {
        if (s->kinds[i] == STORE_FSCK_CONTENT && strcmp(s->keys[i], key) == 0 &&
            s->parts[i] == part && strstr(s->details[i], text) != NULL &&
            s->repaired[i] == repaired)
            return true;
    }
    return false;
}

/* One flipped byte in a sealed body: fsck and scrub report it against key (and part), as
 * the failing CRC32C block; --repair leaves it reported and unrepaired, as for a plain body. */
static void sealed_damage(const char *d, const char *path, off_t at, const char *key, int part,
                          const char *block)
{
    struct seen seen;
    struct store_fsck_stats st;
    flip_byte(path, at);
    int rc = run(d, true, true, false, false, &seen, &st);
    TAP_OK(rc == 0 && st.problems == 1 && has_content(&seen, key, part, block, false),
           "fsck: %s part %d: a flipped byte at %lld is reported as %s (%lld problems)", key, part,
           (long long)at, block, (long long)st.problems);
    rc = run(d, false, true, false, false, &seen, &st);
    TAP_OK(rc == 0 && st.problems == 1 && has_content(&seen, key, part, block, false),
           "scrub: reported too (%lld problems)", (long long)st.problems);
    rc = run(d, true, true, true, false, &seen, &st);
    TAP_OK(rc == 0 && st.problems == 1 && st.repaired == 0 &&
               has_content(&seen, key, part, block, false),
           "--repair reports it and leaves it unrepaired (%lld repaired)", (long long)st.repaired);
    flip_byte(path, at);
    rc = run(d, true, true, false, false, &seen, &st);
    TAP_OK(rc == 0 && st.problems == 0, "clean again once the byte is restored");
}

static void t_encrypted(void)
{
    char *d = fixture_sealed(), path[600];
    struct seen seen;
    struct store_fsck_stats st;
    int rc = run(d, true, true, false, false, &seen, &st);
    TAP_OK(rc == 0 && st.problems == 0, "sealed store is clean: %s, %lld problems", gz_strerror(rc),
           (long long)st.problems);
    /* enc-big, enc-small, the two parts of enc-mp, the pending part: CRCs only. */
    TAP_OK(st.verified == 0 && st.unverified == 4 && st.crc_checked == 5,
           "no ETag check, 4 unverified (%lld), 5 bodies CRC-checked (%lld), %lld verified",
           (long long)st.unverified, (long long)st.crc_checked, (long long)st.verified);
    TAP_OK(st.bytes_read >= ENC_BIG + 300 + 240000 + 100000, "every body read (%lld bytes)",
           (long long)st.bytes_read);
    TAP_OK(path_of(d, "SELECT hex(file) FROM objects WHERE key=CAST('enc-big' AS BLOB)", path),
           "file of enc-big");
    sealed_damage(d, path, 300000, "enc-big", 0, "block 4 ");
    TAP_OK(path_of(d,
                   "SELECT hex(file) FROM object_parts WHERE key=CAST('enc-mp' AS BLOB)"
                   " AND num=2",
                   path),
           "file of part 2 of enc-mp");
    sealed_damage(d, path, 70000, "enc-mp", 2, "block 1 ");
    TAP_OK(path_of(d, "SELECT hex(file) FROM upload_parts", path), "file of the pending part");
    sealed_damage(d, path, 5, "enc-pending", 1, "block 0 ");
    /* An inline sealed body: its CRCs are in the index. */
    TAP_OK(sql(d, "UPDATE inline_bodies SET data=CAST(zeroblob(300) AS BLOB) WHERE id=(SELECT"
                  " body FROM objects WHERE key=CAST('enc-small' AS BLOB))") == SQLITE_OK,
           "inline body of enc-small overwritten");
    rc = run(d, false, true, false, false, &seen, &st);
    TAP_OK(rc == 0 && st.problems == 1 && has_content(&seen, "enc-small", 0, "block 0 ", false),
           "scrub reports the inline body's CRC failure (%lld problems)", (long long)st.problems);
    /* Without opaque_header the ETags would be wrong: that is what the option prevents. */
    struct store_fsck_opts o = {.data_dir = d, .content = true};
    rc = store_fsck_run(&o, &st);
    TAP_OK(rc == 0 && st.problems >= 4, "with no opaque header, the ETags fail (%lld)",
           (long long)st.problems);
    nftw(d, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    gz_free(d);
}

int main(void)
{
    dir = fixture();
    TAP_RUN(t_clean);
    TAP_RUN(t_content);
    TAP_RUN(t_orphan_stray);
    TAP_RUN(t_usage_refs);
    TAP_RUN(t_missing);
    TAP_RUN(t_refs_norow);
    TAP_RUN(t_dangling);
    TAP_RUN(t_inline_bodies);
    TAP_RUN(t_locked);
    TAP_RUN(t_rate);
    TAP_RUN(t_encrypted);
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    gz_free(dir);
    return tap_done();
}
