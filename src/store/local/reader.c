/*
 * reader.c - reading objects.
 *
 * Opening reads the object's row (and, for a multipart object, its part list) in one read
 * transaction, so the reader holds one consistent version: inline bytes are copied, file
 * bodies are opened. An overwrite commits a new row and unlinks the old files only after its
 * commit; an open file descriptor keeps an unlinked file readable, so a reader that opened
 * the file sees the old object entirely. The window between reading the row and opening the
 * file is closed by retrying: ENOENT there means the row changed, so read it again.
 *
 * Part files of a multipart object are opened lazily (an object may have 10,000 parts); if
 * one vanished because the object was replaced meanwhile, reading it gives GZ_ECLOSED.
 *
 * Each thread keeps the rows of the simple objects it opened last (inline ones up to
 * READER_CACHE_MAX_INLINE bytes, and file-backed ones by file id), tagged with the index
 * generation read before the row was. A cached row is used only while the generation is
 * unchanged, i.e. while no index transaction has committed since it was read, so it is
 * exactly what the index would return; a hit needs no SQLite read transaction (whose shared-
 * memory lock, taken under a process-wide mutex, is where loop threads queued). Per thread,
 * so no lock; freed when the thread exits.
 *
 * Verification (blocksum.c): an inline body is checked against its block CRCs when it is
 * loaded; a file body, when the store verifies reads and the body has CRCs, is read with
 * pread a few whole blocks at a time into the reader's buffer and each block checked before
 * any of its bytes is handed out (a range starting or ending inside a block reads all of it),
 * so next() returns memory segments instead of file ranges. A mismatch is GZ_ECORRUPT. A body
 * without CRCs (written before schema 3) goes out as file ranges, unchecked.
 */
#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <unistd.h>

#include "local_int.h"

struct store__extent {
    int64_t off;        /* in the reader's byte space */
    int64_t size;
    int64_t file_off;   /* where those bytes start in the file */
    uint8_t id[STORE__ID_LEN];
    int fd;             /* -1 until opened */
    uint8_t *crc;       /* the body's block CRCs (owned), or NULL: unprotected */
    size_t crc_len;
    int part;           /* a multipart object's part number, else 0 */
};

#define READER_VERIFY_MAX (1024 * 1024) /* bytes read and checked at a time (whole blocks) */

struct store_reader {
    struct store *s;
    int64_t size, pos;
    uint8_t *mem;       /* inline body, or NULL */
    struct store__extent *ext;
    int next, cur;
    char *headers;
    uint8_t *vbuf;      /* verified bytes of extent vb_ext: object bytes [vb_start, +vb_len) */
    size_t vcap;
    int64_t vb_start, vb_len;
    int vb_ext;
    /* what a damaged body marks corrupt (reader_mark): the row as opened; the names live in
     * the headers allocation, after the headers */
    struct gz_slice bucket, key;
    int64_t mtime_ms;
    char etag[48];
    bool multipart, marked;
};

/* ---- the per-thread row cache ---- */

#define READER_CACHE_SLOTS 64
#define READER_CACHE_MAX_INLINE (16 * 1024)

struct reader_cache_ent {
    const struct store *s;
    uint64_t gen;
    size_t bucket_len, key_len, headers_len, data_len;
    int64_t size, mtime_ms;
    char etag[48];
    bool has_file;
    bool has_crc;       /* has_file: the file's CRCs follow the data */
    size_t crc_len;
    uint8_t id[STORE__ID_LEN];
    char bytes[]; /* bucket, key, headers, data, crc */
};

struct reader_cache {
    struct reader_cache_ent *slot[READER_CACHE_SLOTS];
};

static pthread_key_t reader_cache_key;
static pthread_once_t reader_cache_once = PTHREAD_ONCE_INIT;
static bool reader_cache_ok;

static void reader_cache_free(void *p)
{
    struct reader_cache *c = p;
    for (size_t i = 0; c != NULL && i < READER_CACHE_SLOTS; i++)
        gz_free(c->slot[i]);
    gz_free(c);
}

static void reader_cache_key_init(void)
{
    reader_cache_ok = pthread_key_create(&reader_cache_key, reader_cache_free) == 0;
}

static struct reader_cache *reader_cache_get(bool create)
{
    pthread_once(&reader_cache_once, reader_cache_key_init);
    if (!reader_cache_ok)
        return NULL;
    struct reader_cache *c = pthread_getspecific(reader_cache_key);
    if (c == NULL && create) {
        c = gz_calloc(1, sizeof(*c));
        if (pthread_setspecific(reader_cache_key, c) != 0) {
            gz_free(c);
            c = NULL;
        }
    }
    return c;
}

static size_t reader_cache_slot(struct gz_slice bucket, struct gz_slice key)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < bucket.len; i++)
        h = (h ^ (uint8_t)bucket.ptr[i]) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL; /* separates ("ab","c") from ("a","bc") */
    for (size_t i = 0; i < key.len; i++)
        h = (h ^ (uint8_t)key.ptr[i]) * 1099511628211ULL;
    return (size_t)(h % READER_CACHE_SLOTS);
}

static struct reader_cache_ent *reader_cache_find(struct store *s, struct gz_slice bucket,
                                                  struct gz_slice key, uint64_t gen)
{
    struct reader_cache *c = reader_cache_get(false);
    struct reader_cache_ent *e = c ? c->slot[reader_cache_slot(bucket, key)] : NULL;
    if (e == NULL || e->s != s || e->gen != gen || e->bucket_len != bucket.len ||
        e->key_len != key.len || memcmp(e->bytes, bucket.ptr, bucket.len) != 0 ||
        memcmp(e->bytes + bucket.len, key.ptr, key.len) != 0)
        return NULL;
    return e;
}

static void reader_reset(struct store_reader *r);
static struct store__extent *reader_add_extent(struct store_reader *r, int cap, int64_t off,
                                               int64_t size, struct gz_slice id,
                                               const uint8_t *crc, size_t crc_len);

/* Copies the row's headers (for meta) and the object's names (for reader_mark) into one
 * allocation; meta's size, mtime, etag and parts are already filled. */
static void reader_keep_row(struct store_reader *r, struct gz_slice headers,
                            struct gz_slice bucket, struct gz_slice key, struct store_meta *meta)
{
    char *p = gz_malloc(headers.len + 1 + bucket.len + key.len);
    memcpy(p, headers.ptr, headers.len);
    p[headers.len] = '\0';
    memcpy(p + headers.len + 1, bucket.ptr, bucket.len);
    memcpy(p + headers.len + 1 + bucket.len, key.ptr, key.len);
    r->headers = p;
    meta->headers = gz_slice(p, headers.len);
    r->bucket = gz_slice(p + headers.len + 1, bucket.len);
    r->key = gz_slice(p + headers.len + 1 + bucket.len, key.len);
    r->mtime_ms = meta->mtime_ms;
    memcpy(r->etag, meta->etag, sizeof(r->etag));
    r->multipart = meta->parts > 0;
}

/* Fills r and meta from a cached row (as reader_load would): 0, or -1 to read the index. */
static int reader_cache_fill(struct store_reader *r, const struct reader_cache_ent *e,
                             struct store_meta *meta)
{
    const char *headers = e->bytes + e->bucket_len + e->key_len;
    meta->size = r->size = e->size;
    meta->mtime_ms = e->mtime_ms;
    memcpy(meta->etag, e->etag, sizeof(meta->etag));
    meta->parts = 0;
    reader_keep_row(r, gz_slice(headers, e->headers_len), gz_slice(e->bytes, e->bucket_len),
                    gz_slice(e->bytes + e->bucket_len, e->key_len), meta);
    if (!e->has_file) {
        r->mem = gz_malloc(e->data_len ? e->data_len : 1);
        memcpy(r->mem, headers + e->headers_len, e->data_len);
        return 0;
    }
    reader_add_extent(r, 1, 0, r->size, gz_slice(e->id, STORE__ID_LEN),
                      e->has_crc ? (const uint8_t *)headers + e->headers_len : NULL, e->crc_len);
    int fd = store__file_open(r->s, e->id);
    if (fd < 0) {
        reader_reset(r);
        memset(meta, 0, sizeof(*meta));
        return -1;
    }
    r->ext[0].fd = fd;
    return 0;
}

/* Remembers the row r was just loaded from, read at generation gen. */
static void reader_cache_put(struct store *s, struct gz_slice bucket, struct gz_slice key,
                             uint64_t gen, const struct store_reader *r,
                             const struct store_meta *meta)
{
    bool has_file = r->next == 1;
    size_t data_len = has_file ? 0 : (size_t)r->size;
    size_t crc_len = has_file && r->ext[0].crc ? r->ext[0].crc_len : 0;
    if (meta->parts != 0 || r->next > 1 || (!has_file && r->mem == NULL) ||
        data_len > READER_CACHE_MAX_INLINE || meta->headers.len > READER_CACHE_MAX_INLINE)
        return;
    struct reader_cache *c = reader_cache_get(true);
    if (c == NULL)
        return;
    size_t n = bucket.len + key.len + meta->headers.len + data_len + crc_len;
    struct reader_cache_ent *e = gz_malloc(sizeof(*e) + n);
    e->s = s;
    e->gen = gen;
    e->bucket_len = bucket.len;
    e->key_len = key.len;
    e->headers_len = meta->headers.len;
    e->data_len = data_len;
    e->size = meta->size;
    e->mtime_ms = meta->mtime_ms;
    memcpy(e->etag, meta->etag, sizeof(e->etag));
    e->has_file = has_file;
    e->has_crc = has_file && r->ext[0].crc != NULL;
    e->crc_len = crc_len;
    if (has_file)
        memcpy(e->id, r->ext[0].id, STORE__ID_LEN);
    char *p = e->bytes;
    memcpy(p, bucket.ptr, bucket.len);
    p += bucket.len;
    memcpy(p, key.ptr, key.len);
    p += key.len;
    memcpy(p, meta->headers.ptr, meta->headers.len);
    p += meta->headers.len;
    if (data_len)
        memcpy(p, r->mem, data_len);
    if (crc_len)
        memcpy(p + data_len, r->ext[0].crc, crc_len);
    size_t slot = reader_cache_slot(bucket, key);
    gz_free(c->slot[slot]);
    c->slot[slot] = e;
}

static void reader_reset(struct store_reader *r)
{
    for (int i = 0; i < r->next; i++) {
        if (r->ext[i].fd >= 0)
            close(r->ext[i].fd);
        gz_free(r->ext[i].crc);
    }
    gz_free(r->ext);
    gz_free(r->vbuf);
    r->vbuf = NULL;
    r->vcap = 0;
    r->vb_len = 0;
    gz_free(r->mem);
    gz_free(r->headers);
    r->ext = NULL;
    r->mem = NULL;
    r->headers = NULL;
    r->bucket = r->key = gz_slice(NULL, 0);
    r->next = r->cur = 0;
    r->size = r->pos = 0;
}

void store_reader_close(struct store_reader *r)
{
    if (r == NULL)
        return;
    reader_reset(r);
    gz_free(r);
}

static struct store__extent *reader_add_extent(struct store_reader *r, int cap, int64_t off,
                                               int64_t size, struct gz_slice id,
                                               const uint8_t *crc, size_t crc_len)
{
    if (r->ext == NULL)
        r->ext = gz_calloc((size_t)cap, sizeof(*r->ext));
    struct store__extent *e = &r->ext[r->next++];
    e->off = off;
    e->size = size;
    e->file_off = 0;
    e->fd = -1;
    if (id.len == STORE__ID_LEN)
        memcpy(e->id, id.ptr, STORE__ID_LEN);
    e->crc = NULL;
    e->crc_len = crc_len;
    e->part = 0;
    if (crc != NULL) {
        e->crc = gz_malloc(crc_len ? crc_len : 1);
        memcpy(e->crc, crc, crc_len);
    }
    return e;
}

/* A CRC column: its bytes, or NULL if the body has none (SQL NULL). */
static const uint8_t *col_crc(sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return NULL;
    return (const uint8_t *)store__col_slice(st, i).ptr;
}

/* Loads a multipart object's parts: all (part 0) or just one (as the reader's whole span). */
static int reader_load_parts(struct store__conn *c, int64_t bid, struct gz_slice key,
                             int nparts, int part, struct store_reader *r, int64_t *poff,
                             int64_t *psize)
{
    int rc;
    sqlite3_stmt *st = store__stmt(c, part ? ST_OPART_GET : ST_OPART_LIST);
    if (st == NULL)
        return -EIO;
    sqlite3_bind_int64(st, 1, bid);
    store__bind_slice(st, 2, key);
    if (part) {
        sqlite3_bind_int(st, 3, part);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *psize = r->size = sqlite3_column_int64(st, 0);
            *poff = sqlite3_column_int64(st, 1);
            reader_add_extent(r, 1, 0, r->size, store__col_slice(st, 2), col_crc(st, 3),
                              store__col_slice(st, 3).len)->part = part;
            rc = SQLITE_DONE;
        } else if (rc == SQLITE_DONE) {
            rc = GZ_EINVALIDPART;
        }
    } else {
        while ((rc = sqlite3_step(st)) == SQLITE_ROW && r->next < nparts) {
            reader_add_extent(r, nparts, sqlite3_column_int64(st, 2),
                              sqlite3_column_int64(st, 1), store__col_slice(st, 3),
                              col_crc(st, 4), store__col_slice(st, 4).len)
                ->part = sqlite3_column_int(st, 0);
        }
        if (rc == SQLITE_ROW)
            rc = SQLITE_DONE;
    }
    store__stmt_done(st);
    if (rc < 0)
        return rc;
    return rc == SQLITE_DONE ? 0 : store__sql_err(rc);
}

/* A body failed its checksums while being read: marks the object corrupt in the index, as the
 * scrub does (OP_MARK_CORRUPT, guarded by etag, mtime and file so that a newer version is never
 * marked), without waiting for it: this runs on a request's thread. Once per reader. */
static void reader_mark(struct store_reader *r, const uint8_t *file, const char *what)
{
    if (r->marked || r->bucket.ptr == NULL)
        return;
    r->marked = true;
    struct store__op *op = store__op_new(OP_MARK_CORRUPT, NULL, NULL);
    op->bucket = store__slice_dup(r->bucket); /* bid 0: the committer looks the name up */
    op->key = store__slice_dup(r->key);
    op->headers = store__slice_dup(gz_slice_cstr(what));
    op->mtime_ms = r->mtime_ms;
    memcpy(op->etag, r->etag, sizeof(op->etag));
    if (file != NULL && !r->multipart)
        op->file = store__slice_dup(gz_slice(file, STORE__ID_LEN));
    store__op_submit(r->s, op);
}

/* Does an inline body fail its block CRCs (column 8; NULL: unprotected, not checked)? */
static bool reader_inline_bad(sqlite3_stmt *st, struct gz_slice bucket, struct gz_slice key,
                              struct gz_slice data)
{
    if (sqlite3_column_type(st, 8) == SQLITE_NULL)
        return false;
    int64_t blk = store__blocksum_check(store__col_slice(st, 8), (int64_t)data.len, 0, data.ptr,
                                        data.len);
    if (blk == -1)
        return false;
    log_error("store: %.*s/%.*s: inline body fails its CRC32C at block %lld: not served",
              (int)bucket.len, bucket.ptr, (int)key.len, key.ptr, (long long)blk);
    return true;
}

/* Fills r and meta from the object's row, looked up by bucket name and key in one statement
 * (a join with buckets); part 0 = the whole object. *bid gets the bucket's id. A multipart
 * object's part list is not read here (see reader_load). */
static int reader_load_row(struct store__conn *c, struct gz_slice bucket, struct gz_slice key,
                           int part, struct store_reader *r, struct store_meta *meta,
                           int64_t *poff, int64_t *psize, int64_t *bid)
{
    sqlite3_stmt *st = store__stmt(c, ST_OBJ_OPEN);
    if (st == NULL)
        return -EIO;
    store__bind_slice(st, 1, bucket);
    store__bind_slice(st, 2, key);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        store__stmt_done(st);
        if (rc != SQLITE_DONE)
            return store__sql_err(rc);
        rc = store__bucket_id(c, bucket, bid); /* which is missing: the bucket or the key? */
        return rc < 0 ? rc : GZ_ENOKEY;
    }
    meta->size = r->size = sqlite3_column_int64(st, 0);
    meta->mtime_ms = sqlite3_column_int64(st, 1);
    store__etag_copy(meta->etag, (const char *)sqlite3_column_text(st, 2));
    meta->parts = sqlite3_column_int(st, 3);
    reader_keep_row(r, store__col_slice(st, 4), bucket, key, meta);
    struct gz_slice file = store__col_slice(st, 5);
    struct gz_slice data = store__col_slice(st, 6);
    *bid = sqlite3_column_int64(st, 7);
    *poff = 0;
    *psize = r->size;
    rc = 0;
    if (meta->parts == 0 && part > 1) {
        rc = GZ_EINVALIDPART;
    } else if (sqlite3_column_type(st, 9) != SQLITE_NULL) {
        log_error("store: %.*s/%.*s is marked corrupt (%s): refusing to read it", (int)bucket.len,
                  bucket.ptr, (int)key.len, key.ptr, (const char *)sqlite3_column_text(st, 9));
        rc = GZ_ECORRUPT;
    } else if (meta->parts == 0 && file.len == STORE__ID_LEN) {
        reader_add_extent(r, 1, 0, r->size, file, col_crc(st, 8), store__col_slice(st, 8).len);
    } else if (meta->parts == 0) {
        if ((int64_t)data.len != r->size) {
            rc = GZ_ECORRUPT;
        } else if (reader_inline_bad(st, bucket, key, data)) {
            store__read_failure(r->s);
            reader_mark(r, NULL, "inline body fails its CRC32C (found by a read)");
            rc = GZ_ECORRUPT;
        } else {
            r->mem = gz_malloc(data.len ? data.len : 1);
            memcpy(r->mem, data.ptr, data.len);
        }
    }
    store__stmt_done(st);
    return rc;
}

/* The object's row and, for a multipart object, its part rows: one snapshot (the pooled
 * connection's read transaction, store__conn_get). */
static int reader_load(struct store *s, struct gz_slice bucket, struct gz_slice key, int part,
                       struct store_reader *r, struct store_meta *meta, int64_t *poff,
                       int64_t *psize)
{
    struct store__conn *c = NULL;
    int64_t bid = 0;
    int rc = store__conn_get(s, &c);
    if (rc < 0)
        return rc;
    rc = reader_load_row(c, bucket, key, part, r, meta, poff, psize, &bid);
    if (rc == 0 && meta->parts > 0)
        rc = reader_load_parts(c, bid, key, meta->parts, part, r, poff, psize);
    store__conn_put(s, c);
    return rc;
}

static int reader_open(struct store *s, struct gz_slice bucket, struct gz_slice key, int part,
                       struct store_reader **out, struct store_meta *meta, int64_t *poff,
                       int64_t *psize)
{
    struct store_reader *r = gz_calloc(1, sizeof(*r));
    int rc = GZ_ECORRUPT;
    uint64_t gen;
    r->s = s;
    *out = NULL;
    memset(meta, 0, sizeof(*meta));
    if (bucket.len == 0 || bucket.len > STORE_MAX_BUCKET) {
        rc = GZ_ENOBUCKET;
        goto out;
    }
    if (!store__slice_valid_key(key)) {
        rc = GZ_ENOKEY;
        goto out;
    }
    /* Read before the index is, so a commit racing with this open makes the entry stale. */
    gen = store__index_gen();
    if (part == 0) {
        struct reader_cache_ent *e = reader_cache_find(s, bucket, key, gen);
        if (e != NULL && reader_cache_fill(r, e, meta) == 0) {
            *poff = 0;
            *psize = r->size;
            rc = 0;
            goto out;
        }
    }
    for (int tries = 0; tries < STORE__OPEN_RETRIES; tries++) {
        reader_reset(r);
        rc = reader_load(s, bucket, key, part, r, meta, poff, psize);
        if (rc < 0 || r->next == 0)
            break;
        /* Open the first body file now: ENOENT means an overwrite replaced it since. */
        rc = store__file_open(s, r->ext[0].id);
        if (rc >= 0) {
            r->ext[0].fd = rc;
            rc = 0;
            break;
        }
        if (rc != -ENOENT)
            break;
        rc = GZ_ECORRUPT; /* if it keeps vanishing, the index names a missing file */
    }
    if (rc == 0 && part == 0)
        reader_cache_put(s, bucket, key, gen, r, meta);
out:
    if (rc < 0) {
        if (rc == GZ_ECORRUPT)
            log_error("store: object body missing or damaged");
        store_reader_close(r);
        memset(meta, 0, sizeof(*meta));
        return rc;
    }
    *out = r;
    return 0;
}

int store_object_open(struct store *s, struct gz_slice bucket, struct gz_slice key,
                      struct store_reader **out, struct store_meta *meta)
{
    int64_t off, size;
    return reader_open(s, bucket, key, 0, out, meta, &off, &size);
}

int store_object_open_part(struct store *s, struct gz_slice bucket, struct gz_slice key,
                           int part_number, struct store_reader **out, struct store_meta *meta,
                           int64_t *part_offset, int64_t *part_size)
{
    if (part_number < 1 || part_number > STORE_MAX_PARTS) {
        *out = NULL;
        return GZ_EINVALIDPART;
    }
    return reader_open(s, bucket, key, part_number, out, meta, part_offset, part_size);
}

void store_reader_mark_corrupt(struct store_reader *r, const char *what)
{
    if (r->marked)
        return;
    store__read_failure(r->s);
    reader_mark(r, r->next == 1 && r->mem == NULL ? r->ext[0].id : NULL, what);
}

int store_reader_seek(struct store_reader *r, int64_t pos)
{
    if (pos < 0 || pos > r->size)
        return -EINVAL;
    r->pos = pos;
    /* The extent containing pos: the last one starting at or before it. */
    int lo = 0, hi = r->next - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (r->ext[mid].off <= pos)
            lo = mid;
        else
            hi = mid - 1;
    }
    r->cur = lo;
    return 0;
}

static int pread_all(int fd, uint8_t *p, size_t n, int64_t off);

/* Fills the verify buffer with the whole blocks of extent r->cur that hold [pos, pos + max)
 * (at most READER_VERIFY_MAX bytes; never a block the caller did not ask for, so a range that
 * avoids a damaged block reads), checking each: 0, GZ_ECORRUPT (logged, counted) or a read
 * error. */
static int reader_verify_fill(struct store_reader *r, struct store__extent *e, int64_t max)
{
    int64_t rel = (r->pos - e->off) / STORE_CRC_BLOCK * STORE_CRC_BLOCK;
    int64_t want = r->pos - e->off + GZ_MIN(max, e->size - (r->pos - e->off)) - rel;
    want = (want + STORE_CRC_BLOCK - 1) / STORE_CRC_BLOCK * STORE_CRC_BLOCK;
    int64_t n = GZ_MIN(GZ_MIN((int64_t)READER_VERIFY_MAX, want), e->size - rel);
    if (r->vcap < (size_t)n) {
        gz_free(r->vbuf);
        r->vcap = (size_t)n;
        r->vbuf = gz_malloc(r->vcap);
    }
    r->vb_len = 0;
    int rc = pread_all(e->fd, r->vbuf, (size_t)n, e->file_off + rel);
    if (rc == GZ_ECORRUPT)
        reader_mark(r, e->id, "body file shorter than the index says (found by a read)");
    if (rc < 0)
        return rc;
    int64_t blk = store__blocksum_check(gz_slice(e->crc, e->crc_len), e->size, rel, r->vbuf,
                                        (size_t)n);
    if (blk != -1) {
        char name[2 * STORE__ID_LEN + 1], what[128];
        gz_hex_encode(name, e->id, STORE__ID_LEN);
        int w;
        if (blk == -2)
            w = snprintf(what, sizeof(what), "its checksum list does not fit its size %lld",
                         (long long)e->size);
        else
            w = snprintf(what, sizeof(what), "block %lld (bytes %lld..) fails its CRC32C",
                         (long long)blk, (long long)(blk * STORE_CRC_BLOCK));
        if (e->part > 0)
            snprintf(what + w, sizeof(what) - (size_t)w, " (part %d)", e->part);
        log_error("store: objects/%.2s/%s: %s: not served; %.*s/%.*s marked corrupt", name,
                  name, what, (int)r->bucket.len, r->bucket.ptr, (int)r->key.len, r->key.ptr);
        store__read_failure(r->s);
        reader_mark(r, e->id, what);
        return GZ_ECORRUPT;
    }
    r->vb_ext = r->cur;
    r->vb_start = e->off + rel;
    r->vb_len = n;
    return 0;
}

/* The next piece of a verified file extent, from the buffer (refilled when pos left it). */
static int reader_next_verified(struct store_reader *r, struct store__extent *e, int64_t max,
                                struct store_segment *seg)
{
    if (r->vb_len == 0 || r->vb_ext != r->cur || r->pos < r->vb_start ||
        r->pos >= r->vb_start + r->vb_len) {
        int rc = reader_verify_fill(r, e, max);
        if (rc < 0)
            return rc;
    }
    seg->mem = r->vbuf + (r->pos - r->vb_start);
    seg->len = GZ_MIN(max, r->vb_start + r->vb_len - r->pos);
    r->pos += seg->len;
    return 0;
}

int store_reader_next(struct store_reader *r, int64_t max, struct store_segment *seg)
{
    seg->fd = -1;
    seg->mem = NULL;
    seg->offset = 0;
    seg->len = 0;
    if (max <= 0)
        return -EINVAL;
    if (r->pos >= r->size)
        return 0;
    if (r->next == 0) {
        seg->mem = r->mem + r->pos;
        seg->len = GZ_MIN(max, r->size - r->pos);
        r->pos += seg->len;
        return 0;
    }
    while (r->cur < r->next - 1 && r->ext[r->cur].off + r->ext[r->cur].size <= r->pos)
        r->cur++;
    struct store__extent *e = &r->ext[r->cur];
    int64_t end = e->off + e->size;
    if (r->pos < e->off || r->pos >= end)
        return GZ_ECORRUPT; /* part sizes do not add up to the object's size */
    if (e->fd < 0) {
        int fd = store__file_open(r->s, e->id);
        if (fd < 0)
            return fd == -ENOENT ? GZ_ECLOSED : fd;
        e->fd = fd;
    }
    if (e->crc != NULL && r->s->verify_reads)
        return reader_next_verified(r, e, max, seg);
    seg->fd = e->fd;
    seg->offset = e->file_off + (r->pos - e->off);
    seg->len = GZ_MIN(max, end - r->pos);
    r->pos += seg->len;
    return 0;
}

static int pread_all(int fd, uint8_t *p, size_t n, int64_t off)
{
    while (n > 0) {
        ssize_t got = pread(fd, p, n, off);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (got == 0)
            return GZ_ECORRUPT; /* the file is shorter than the index says */
        p += got;
        n -= (size_t)got;
        off += got;
    }
    return 0;
}

int64_t store_reader_read(struct store_reader *r, void *buf, size_t n)
{
    uint8_t *p = buf;
    size_t got = 0;
    while (got < n) {
        struct store_segment seg;
        int rc = store_reader_next(r, (int64_t)GZ_MIN(n - got, (size_t)INT64_MAX), &seg);
        if (rc < 0)
            return rc;
        if (seg.len == 0)
            break;
        if (seg.fd < 0) {
            memcpy(p + got, seg.mem, (size_t)seg.len);
        } else {
            rc = pread_all(seg.fd, p + got, (size_t)seg.len, seg.offset);
            if (rc < 0)
                return rc;
        }
        got += (size_t)seg.len;
    }
    return (int64_t)got;
}
