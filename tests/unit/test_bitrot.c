/*
 * test_bitrot.c - block checksums (src/store/local/blocksum.c), verified reads (reader.c) and
 * the scrub (scrub.c): the CRC math at block edges, ranges that start or end inside blocks,
 * damage found by reads and by the scrub, marks healed by an overwrite, --verify-reads off.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "store/local/local_int.h"
#include "store/store.h"
#include "tap.h"

#define BLK STORE_CRC_BLOCK

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static char *tmpdir_new(void)
{
    char tmpl[] = "/tmp/gzbitrot.XXXXXX";
    char *d = mkdtemp(tmpl);
    if (d == NULL) {
        perror("mkdtemp");
        exit(1);
    }
    return gz_strdup(d);
}

static void rm_rf(char *dir)
{
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    gz_free(dir);
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (uint8_t)(x >> 16);
    }
}

/* ---- the math ---- */

static void sum_of(const uint8_t *p, size_t n, size_t piece, struct store__blocksum *b)
{
    memset(b, 0, sizeof(*b));
    for (size_t off = 0; off < n; off += piece)
        store__blocksum_update(b, p + off, GZ_MIN(piece, n - off));
}

static void t_crc_math(void)
{
    TAP_OK(store__crc_block("123456789", 9) == 0xE3069283u, "CRC32C check value");
    TAP_OK(store__blocksum_len(0) == 0 && store__blocksum_len(1) == 4 &&
               store__blocksum_len(BLK) == 4 && store__blocksum_len(BLK + 1) == 8,
           "list lengths at block edges");
    static const size_t sizes[] = {0, 1, BLK - 1, BLK, BLK + 1, 2 * BLK, 200000};
    static const size_t pieces[] = {1, 7, 4096, BLK, BLK + 3, 1 << 20};
    uint8_t *data = gz_malloc(200000);
    fill(data, 200000, 1);
    for (size_t i = 0; i < GZ_ARRAY_LEN(sizes); i++) {
        size_t n = sizes[i];
        bool same = true, right = true;
        for (size_t j = 0; j < GZ_ARRAY_LEN(pieces); j++) {
            if (pieces[j] == 1 && n > BLK + 1)
                continue; /* slow and no different */
            struct store__blocksum b;
            sum_of(data, n, pieces[j], &b);
            struct gz_slice l = store__blocksum_final(&b);
            right = right && l.len == store__blocksum_len((int64_t)n);
            for (size_t k = 0; right && k * BLK < n; k++) {
                uint32_t want = store__crc_block(data + k * BLK, GZ_MIN((size_t)BLK, n - k * BLK));
                const uint8_t *c = (const uint8_t *)l.ptr + 4 * k;
                right = ((uint32_t)c[0] << 24 | (uint32_t)c[1] << 16 | (uint32_t)c[2] << 8 |
                         c[3]) == want;
            }
            same = same && store__blocksum_check(l, (int64_t)n, 0, data, n) == -1;
            store__blocksum_free(&b);
        }
        TAP_OK(right && same, "size %zu: one CRC per block whatever the write sizes", n);
    }
    gz_free(data);
}

static void t_crc_edges(void)
{
    size_t n = 3 * BLK + 100;
    uint8_t *data = gz_malloc(n);
    fill(data, n, 2);
    struct store__blocksum b;
    sum_of(data, n, 5000, &b);
    struct gz_slice l = store__blocksum_final(&b);
    TAP_OK(store__blocksum_check(l, (int64_t)n, BLK, data + BLK, 2 * BLK) == -1,
           "middle blocks check");
    TAP_OK(store__blocksum_check(l, (int64_t)n, 3 * BLK, data + 3 * BLK, 100) == -1,
           "the short last block checks");
    TAP_OK(store__blocksum_check(l, (int64_t)n, 1, data + 1, BLK) == -2, "unaligned: refused");
    TAP_OK(store__blocksum_check(l, (int64_t)n, 0, data, BLK - 1) == -2,
           "a short block that is not the last: refused");
    TAP_OK(store__blocksum_check(l, (int64_t)n + BLK, 0, data, BLK) == -2,
           "a list that does not fit the size: refused");
    static const size_t at[] = {0, BLK - 1, BLK, 2 * BLK - 1, 3 * BLK, 3 * BLK + 99};
    for (size_t i = 0; i < GZ_ARRAY_LEN(at); i++) {
        data[at[i]] ^= 0x01;
        TAP_OK(store__blocksum_check(l, (int64_t)n, 0, data, n) == (int64_t)(at[i] / BLK),
               "a flipped bit at %zu: block %zu fails", at[i], at[i] / BLK);
        data[at[i]] ^= 0x01;
    }
    store__blocksum_free(&b);
    gz_free(data);
}

/* ---- through the store ---- */

static int put(struct store *s, const char *key, const uint8_t *data, size_t n)
{
    struct store_waiter wt;
    struct store_writer *w;
    uint8_t md5[16];
    struct store_meta meta = {0};
    store_writer_open(s, &w);
    for (size_t off = 0; off < n; off += 10000)
        store_writer_write(w, data + off, GZ_MIN((size_t)10000, n - off));
    gz_md5(data, n, md5);
    gz_hex_encode(meta.etag, md5, 16);
    store_waiter_init(&wt);
    store_object_commit(s, w, gz_slice_cstr("b"), gz_slice_cstr(key), &meta, store_waiter_done,
                        &wt);
    return store_waiter_wait(&wt);
}

static struct store *open_store(const char *dir, bool verify, int64_t scrub_rate)
{
    struct store_config cfg = {.data_dir = dir,
                               .inline_max = 1000,
                               .sync = 0,
                               .no_verify_reads = !verify,
                               .scrub_rate = scrub_rate,
                               .scrub_interval_ms = scrub_rate ? 3600 * 1000 : 0};
    struct store *s = NULL;
    if (store_open(&cfg, &s) != 0) {
        printf("# store_open(%s) failed\n", dir);
        exit(1);
    }
    struct store_bucket b = {.name = "b", .region = "r", .owner = "o"};
    store_bucket_create(s, &b);
    return s;
}

/* The body file of a simple object. */
static void body_path(struct store *s, const char *key, char *out, size_t n)
{
    struct store__conn *c;
    store__conn_get(s, &c);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(c->db, "SELECT file FROM objects WHERE key=?1", -1, &st, NULL);
    sqlite3_bind_blob(st, 1, key, (int)strlen(key), SQLITE_STATIC);
    char hex[2 * STORE__ID_LEN + 1] = "";
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == STORE__ID_LEN)
        gz_hex_encode(hex, sqlite3_column_blob(st, 0), STORE__ID_LEN);
    sqlite3_finalize(st);
    store__conn_put(s, c);
    snprintf(out, n, "%s/objects/%.2s/%s", store_data_dir(s), hex, hex);
}

static void flip_at(const char *path, off_t off)
{
    int fd = open(path, O_RDWR);
    uint8_t b = 0;
    if (fd < 0 || pread(fd, &b, 1, off) != 1)
        printf("# cannot read %s\n", path);
    b ^= 0x40;
    if (fd < 0 || pwrite(fd, &b, 1, off) != 1)
        printf("# cannot write %s\n", path);
    if (fd >= 0)
        close(fd);
}

/* Reads [pos, pos + n) of key: bytes read, or a negative error. */
static int64_t read_range(struct store *s, const char *key, int64_t pos, uint8_t *buf, size_t n)
{
    struct store_reader *r;
    struct store_meta m;
    int rc = store_object_open(s, gz_slice_cstr("b"), gz_slice_cstr(key), &r, &m);
    if (rc < 0)
        return rc;
    int64_t got = store_reader_seek(r, pos);
    if (got == 0)
        got = store_reader_read(r, buf, n);
    store_reader_close(r);
    return got;
}

static void mark_count(const struct store_corrupt *c, void *ud)
{
    (void)c;
    *(int *)ud += 1;
}

static void t_ranges(void)
{
    char *dir = tmpdir_new(), path[4200];
    struct store *s = open_store(dir, true, 0);
    size_t n = 4 * BLK + 1234;
    uint8_t *data = gz_malloc(n), *buf = gz_malloc(n);
    fill(data, n, 3);
    TAP_OK(put(s, "k", data, n) == 0 && put(s, "k2", data, n) == 0, "put two 4-block bodies");
    static const int64_t at[][2] = {
        {0, 1},          {BLK - 1, 2},        {BLK, BLK},         {BLK + 1, 2 * BLK},
        {4 * BLK, 1234}, {4 * BLK + 1233, 1}, {0, 4 * BLK + 1234}};
    bool ok = true;
    for (size_t i = 0; i < GZ_ARRAY_LEN(at); i++) {
        int64_t got = read_range(s, "k", at[i][0], buf, (size_t)at[i][1]);
        ok = ok && got == at[i][1] && memcmp(buf, data + at[i][0], (size_t)got) == 0;
    }
    TAP_OK(ok, "ranges starting and ending inside blocks read the right bytes");

    struct store_reader *r;
    struct store_meta m;
    struct store_segment seg;
    store_object_open(s, gz_slice_cstr("b"), gz_slice_cstr("k"), &r, &m);
    store_reader_seek(r, BLK - 10);
    TAP_OK(store_reader_next(r, 1 << 30, &seg) == 0 && seg.fd == -1 &&
               seg.len == (int64_t)n - (BLK - 10),
           "a verified segment is memory, from pos to the end of what was checked");
    store_reader_close(r);

    char path2[4200];
    body_path(s, "k2", path2, sizeof(path2));
    body_path(s, "k", path, sizeof(path));
    flip_at(path, 2 * BLK + 5); /* block 2 */
    TAP_OK(read_range(s, "k", 0, buf, 2 * BLK) == 2 * BLK, "blocks 0-1 still read");
    TAP_OK(read_range(s, "k", 2 * BLK - 1, buf, 1) == 1, "the last byte before it reads");
    TAP_OK(read_range(s, "k", 3 * BLK, buf, BLK + 1234) == BLK + 1234, "blocks 3-4 still read");
    TAP_OK(read_range(s, "k", 2 * BLK - 1, buf, 2) == GZ_ECORRUPT,
           "a range reaching into block 2 fails");
    /* That read marked the object (in the background): from then on every read fails. */
    TAP_OK(read_range(s, "k", 3 * BLK - 1, buf, 1) == GZ_ECORRUPT, "a range inside block 2 fails");
    TAP_OK(read_range(s, "k", 0, buf, n) == GZ_ECORRUPT, "the whole body fails");
    struct store_scrub_status st;
    store_scrub_status(s, &st);
    TAP_OK(st.read_failures >= 1 && !st.enabled, "failures counted (%lld); no scrub",
           (long long)st.read_failures);
    store_close(s);
    s = open_store(dir, true, 0);
    int marked = 0;
    bool trunc = false;
    store_corrupt_list(s, 10, mark_count, &marked, &trunc);
    TAP_OK(marked == 1, "the failed read marked it corrupt (%d marked)", marked);
    TAP_OK(read_range(s, "k", 0, buf, BLK) == GZ_ECORRUPT,
           "marked: even a range of good blocks fails now");
    store_close(s);

    /* --verify-reads off: file ranges, unchecked; inline bodies still checked. */
    flip_at(path2, 2 * BLK + 5);
    s = open_store(dir, false, 0);
    store_object_open(s, gz_slice_cstr("b"), gz_slice_cstr("k2"), &r, &m);
    TAP_OK(store_reader_next(r, 100, &seg) == 0 && seg.fd >= 0 && seg.len == 100,
           "verify off: a file range for sendfile");
    store_reader_close(r);
    TAP_OK(read_range(s, "k2", 0, buf, n) == (int64_t)n, "verify off: damage goes unseen");
    store_close(s);
    gz_free(data);
    gz_free(buf);
    rm_rf(dir);
}

static void t_inline(void)
{
    char *dir = tmpdir_new();
    struct store *s = open_store(dir, true, 0);
    uint8_t data[900], buf[900];
    fill(data, sizeof(data), 4);
    TAP_OK(put(s, "small", data, sizeof(data)) == 0, "put an inline body");
    /* Damage it in the index behind the store's back (a byte of its inline body). */
    sqlite3 *db;
    char path[4200];
    snprintf(path, sizeof(path), "%s/index.db", dir);
    sqlite3_open(path, &db);
    sqlite3_exec(db,
                 "UPDATE inline_bodies SET data=substr(data,1,99)||x'00'||substr(data,101)"
                 " WHERE id=(SELECT body FROM objects WHERE key=CAST('small' AS BLOB))",
                 NULL, NULL, NULL);
    sqlite3_close(db);
    TAP_OK(read_range(s, "small", 500, buf, 10) == GZ_ECORRUPT,
           "a damaged inline body fails at open");
    TAP_OK(put(s, "small", data, sizeof(data)) == 0 &&
               read_range(s, "small", 0, buf, sizeof(buf)) == (int64_t)sizeof(buf) &&
               memcmp(buf, data, sizeof(buf)) == 0,
           "an overwrite heals it");
    store_close(s);
    rm_rf(dir);
}

static void mark_seen(const struct store_corrupt *c, void *ud)
{
    if (gz_slice_eq_cstr(c->key, "k2") && strstr(c->what, "block 1 fails") != NULL)
        *(int *)ud += 1;
    else
        *(int *)ud += 100;
}

static void t_scrub(void)
{
    char *dir = tmpdir_new(), path[4200];
    struct store *s = open_store(dir, true, 1LL << 30);
    struct store_scrub_status st;
    store_scrub_status(s, &st);
    for (int i = 0; i < 1000 && st.passes == 0; i++) { /* the pass at open (empty store) */
        usleep(10000);
        store_scrub_status(s, &st);
    }
    TAP_OK(st.enabled && st.passes == 1 && !st.active, "the first pass ran at open");
    size_t n = 3 * BLK;
    uint8_t *data = gz_malloc(n), buf[16];
    fill(data, n, 5);
    TAP_OK(put(s, "k1", data, n) == 0 && put(s, "k2", data, n) == 0 && put(s, "k3", data, 10) == 0,
           "three objects");
    body_path(s, "k2", path, sizeof(path));
    flip_at(path, BLK + 7);
    store_scrub_status(s, &st);
    int64_t passes = st.passes;
    TAP_OK(store_scrub_kick(s) == 0, "kick");
    for (int i = 0; i < 3000 && st.passes == passes; i++) {
        usleep(10000);
        store_scrub_status(s, &st);
    }
    TAP_OK(st.passes > passes && st.last_objects == 3 && st.found == 1 && st.corrupt == 1,
           "the pass checked 3 objects and found 1 (passes %lld, objects %lld, found %lld)",
           (long long)st.passes, (long long)st.last_objects, (long long)st.found);
    int seen = 0;
    bool trunc = true;
    TAP_OK(store_corrupt_list(s, 10, mark_seen, &seen, &trunc) == 0 && seen == 1 && !trunc,
           "listed with what failed");
    TAP_OK(read_range(s, "k2", 2 * BLK, buf, 1) == GZ_ECORRUPT,
           "a marked object fails even where its blocks are good");
    TAP_OK(read_range(s, "k1", 0, buf, 16) == 16, "others read");
    TAP_OK(put(s, "k2", data, n) == 0 && read_range(s, "k2", 0, buf, 16) == 16,
           "an overwrite clears the mark");
    store_scrub_status(s, &st);
    TAP_OK(st.corrupt == 0, "nothing marked now");
    int64_t unprot = -1;
    TAP_OK(store_unprotected_count(s, &unprot) == 0 && unprot == 0, "nothing unprotected");
    store_close(s);
    gz_free(data);
    rm_rf(dir);
}

/* The scrub's rate is a rate: a pass over 1.5 MiB at 1 MiB/s takes at least the bytes it
 * read over the rate, less the token bucket's 0.1 s of burst. */
static void t_scrub_rate(void)
{
    char *dir = tmpdir_new();
    const int64_t rate = 1024 * 1024;
    struct store *s = open_store(dir, true, rate);
    struct store_scrub_status st;
    store_scrub_status(s, &st);
    for (int i = 0; i < 1000 && st.passes == 0; i++) {
        usleep(10000);
        store_scrub_status(s, &st);
    }
    size_t n = 8 * BLK;
    uint8_t *data = gz_malloc(n);
    fill(data, n, 9);
    TAP_OK(st.passes == 1 && put(s, "r1", data, n) == 0 && put(s, "r2", data, n) == 0 &&
               put(s, "r3", data, n) == 0,
           "three 512 KiB objects after the first pass");
    int64_t passes = st.passes, t0 = gz_monotonic_ns();
    TAP_OK(store_scrub_kick(s) == 0, "kick");
    for (int i = 0; i < 3000 && st.passes == passes; i++) {
        usleep(5000);
        store_scrub_status(s, &st);
    }
    double secs = (double)(gz_monotonic_ns() - t0) / 1e9;
    double floor = ((double)st.last_bytes - 0.1 * (double)rate) / (double)rate;
    TAP_OK(st.passes > passes && st.last_objects == 3 && st.last_bytes >= (int64_t)(3 * n),
           "the pass read %lld bytes of 3 objects", (long long)st.last_bytes);
    TAP_OK(secs >= floor * 0.95, "rate honoured: %.2f s for %lld bytes at 1 MiB/s (>= %.2f s)",
           secs, (long long)st.last_bytes, floor);
    TAP_OK(secs < floor * 4 + 2, "and not far slower (%.2f s)", secs);
    store_close(s);
    gz_free(data);
    rm_rf(dir);
}

int main(void)
{
    TAP_RUN(t_crc_math);
    TAP_RUN(t_crc_edges);
    TAP_RUN(t_ranges);
    TAP_RUN(t_inline);
    TAP_RUN(t_scrub);
    TAP_RUN(t_scrub_rate);
    return tap_done();
}
