/*
 * scrub.c - the background scrub, corrupt marks and the schema 3 step.
 *
 * Schema 3 adds files.crc (block CRCs of a file body), objects.crc (of an inline body) and
 * objects.bad (NULL, or what a check found wrong), with a partial index over the marked
 * objects. Rows from before it keep NULL CRCs: "unprotected" bodies, served unchecked.
 * (Schema 4 moves inline bodies and their CRCs to inline_bodies: bodies.c.)
 *
 * The scrub thread wakes every scrub_interval_ms after its last full pass (kept in
 * meta.scrub_last_pass, so a restart does not start over) or when kicked, and walks the
 * objects in (bucket id, key) order one row at a time (a short read of the index each, so no
 * snapshot pins the WAL), reading each body at scrub_rate bytes per second (a token bucket
 * with 0.1 s of burst). It checks every block CRC and, for simple objects that are not
 * encrypted at rest and whose ETag is an MD5, the MD5 against the ETag. A failure is logged
 * and the object marked through the committer (OP_MARK_CORRUPT), guarded by the etag, mtime
 * and file it scanned so that a concurrent overwrite is never marked. A marked object fails
 * every open (reader.c) until it is overwritten or deleted (the row is replaced or removed).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "local_int.h"

#define SCRUB_CHUNK (1024 * 1024) /* bytes read at a time: whole CRC blocks */
#define SCRUB_BURST_NS 100000000LL
#define SCRUB_OPAQUE_HEADER "x-gzy-sse" /* encrypted at rest: the ETag is over the plaintext */
#define SCRUB_META_KEY "scrub_last_pass"
#define SCRUB_CRC_MAX (64 * 1024 * 1024) /* a CRC list: 4 bytes per 64 KiB of body */

/* Columns schema 3 adds (each only if missing: an index taken back to an older schema by
 * hand may still have them). */
static const char *const upgrade_v3_cols[][3] = {
    {"files", "crc", "BLOB"},
    {"objects", "crc", "BLOB"},
    {"objects", "bad", "TEXT"},
};

static const char *const upgrade_v3_sql =
    "CREATE INDEX IF NOT EXISTS objects_bad ON objects(bucket, key) WHERE bad IS NOT NULL;"
    "INSERT INTO meta(k,v) VALUES('schema',3) ON CONFLICT(k) DO UPDATE SET v=3;"
    "PRAGMA user_version=3;";

/* Objects with at least one body without CRCs: at the upgrade to schema 3 (inline CRCs in
 * the object rows), and since schema 4 (in inline_bodies; an empty body has no row). */
#define UNPROTECTED_MULTIPART                                                                  \
    " + (SELECT count(*) FROM objects o WHERE o.parts>0 AND EXISTS(SELECT 1 FROM object_parts p" \
    " LEFT JOIN files f ON f.id=p.file WHERE p.bucket=o.bucket AND p.key=o.key"                \
    " AND f.crc IS NULL))"
static const char *const unprotected_v3_sql =
    "SELECT (SELECT count(*) FROM objects o WHERE o.parts=0 AND"
    " CASE WHEN o.file IS NULL THEN o.crc IS NULL"
    " ELSE (SELECT crc FROM files WHERE id=o.file) IS NULL END)" UNPROTECTED_MULTIPART;
static const char *const unprotected_sql =
    "SELECT (SELECT count(*) FROM objects o WHERE o.parts=0 AND"
    " CASE WHEN o.file IS NULL THEN o.body IS NOT NULL AND"
    " (SELECT crc FROM inline_bodies WHERE id=o.body) IS NULL"
    " ELSE (SELECT crc FROM files WHERE id=o.file) IS NULL END)" UNPROTECTED_MULTIPART;

static int count_sql(struct store__conn *c, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : store__sql_err(rc ? rc : SQLITE_ERROR);
}

static int upgrade_v3_column(struct store__conn *c, const char *const col[3])
{
    char sql[160];
    int64_t n = 0;
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM pragma_table_info('%s') WHERE name='%s'",
             col[0], col[1]);
    int rc = count_sql(c, sql, &n);
    if (rc < 0 || n > 0)
        return rc;
    snprintf(sql, sizeof(sql), "ALTER TABLE %s ADD COLUMN %s %s", col[0], col[1], col[2]);
    rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : store__sql_err(rc);
}

int store__schema_upgrade_v3(struct store__conn *c)
{
    char *msg = NULL;
    int64_t n = 0;
    int rc = SQLITE_OK;
    for (size_t i = 0; i < sizeof(upgrade_v3_cols) / sizeof(upgrade_v3_cols[0]); i++) {
        int err = upgrade_v3_column(c, upgrade_v3_cols[i]);
        if (err < 0) {
            log_error("store: schema upgrade to 3: adding %s.%s: %s", upgrade_v3_cols[i][0],
                      upgrade_v3_cols[i][1], sqlite3_errmsg(c->db));
            return err;
        }
    }
    rc = sqlite3_exec(c->db, upgrade_v3_sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        log_error("store: schema upgrade to 3: %s", msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return store__sql_err(rc);
    }
    if (count_sql(c, unprotected_v3_sql, &n) == 0 && n > 0)
        log_warn("store: index upgraded to schema 3 (block checksums): %lld existing objects "
                 "have no checksums (unprotected) until they are rewritten",
                 (long long)n);
    return 0;
}

void store__read_failure(struct store *s)
{
    __atomic_add_fetch(&s->read_failures, 1, __ATOMIC_RELAXED);
}

/* ---- the committer's side ---- */

int store__apply_mark(struct store *s, struct store__conn *c, struct store__op *op)
{
    (void)s;
    int64_t bid = op->bid;
    if (bid == 0) { /* from a reader: by name (the bucket may be gone meanwhile) */
        int rc = store__bucket_id(c, op->bucket, &bid);
        if (rc < 0)
            return rc == GZ_ENOBUCKET ? 0 : rc;
    }
    sqlite3_stmt *st = store__stmt(c, ST_OBJ_MARK);
    if (st == NULL)
        return -EIO;
    sqlite3_bind_int64(st, 1, bid);
    store__bind_slice(st, 2, op->key);
    sqlite3_bind_text(st, 3, op->etag, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, op->mtime_ms);
    sqlite3_bind_text(st, 5, op->headers.ptr, (int)op->headers.len, SQLITE_STATIC);
    if (op->file.len == STORE__ID_LEN)
        store__bind_slice(st, 6, op->file);
    int rc = sqlite3_step(st);
    store__stmt_done(st);
    return rc == SQLITE_DONE ? 0 : store__sql_err(rc);
}

int store__apply_meta(struct store *s, struct store__conn *c, struct store__op *op)
{
    (void)s;
    return store__meta_set(c, SCRUB_META_KEY, op->bid);
}

/* ---- queries ---- */

int store_unprotected_count(struct store *s, int64_t *out)
{
    struct store__conn *c;
    int rc = store__conn_get(s, &c);
    if (rc < 0)
        return rc;
    *out = 0;
    rc = count_sql(c, unprotected_sql, out);
    store__conn_put(s, c);
    return rc;
}

int store_corrupt_list(struct store *s, int max,
                       void (*fn)(const struct store_corrupt *c, void *ud), void *ud,
                       bool *truncated)
{
    struct store__conn *c;
    int rc = store__conn_get(s, &c), n = 0;
    *truncated = false;
    if (rc < 0)
        return rc;
    sqlite3_stmt *st = store__stmt(c, ST_CORRUPT_LIST);
    if (st == NULL) {
        store__conn_put(s, c);
        return -EIO;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n++ == max) {
            *truncated = true;
            rc = SQLITE_DONE;
            break;
        }
        struct store_corrupt e = {
            .bucket = store__col_slice(st, 0),
            .key = store__col_slice(st, 1),
            .what = (const char *)sqlite3_column_text(st, 2),
            .mtime_ms = sqlite3_column_int64(st, 3),
            .etag = (const char *)sqlite3_column_text(st, 4),
        };
        fn(&e, ud);
    }
    store__stmt_done(st);
    store__conn_put(s, c);
    return rc == SQLITE_DONE ? 0 : store__sql_err(rc);
}

int store_scrub_status(struct store *s, struct store_scrub_status *out)
{
    struct store__conn *c;
    int64_t corrupt = 0;
    int rc = store__conn_get(s, &c);
    if (rc == 0) {
        sqlite3_stmt *st = store__stmt(c, ST_CORRUPT_COUNT);
        int step = st ? sqlite3_step(st) : SQLITE_ERROR;
        if (step == SQLITE_ROW)
            corrupt = sqlite3_column_int64(st, 0);
        else
            rc = store__sql_err(step);
        store__stmt_done(st);
        store__conn_put(s, c);
    }
    pthread_mutex_lock(&s->scrub.mu);
    *out = s->scrub.st;
    pthread_mutex_unlock(&s->scrub.mu);
    out->read_failures = __atomic_load_n(&s->read_failures, __ATOMIC_RELAXED);
    out->corrupt = corrupt;
    return rc;
}

int store_scrub_kick(struct store *s)
{
    pthread_mutex_lock(&s->scrub.mu);
    bool on = s->scrub.started;
    if (on) {
        s->scrub.kick = true;
        pthread_cond_broadcast(&s->scrub.cv);
    }
    pthread_mutex_unlock(&s->scrub.mu);
    return on ? 0 : -ENOTSUP;
}

/* ---- the scrub thread ---- */

/* One object as scanned (owned copies). */
struct scrub_obj {
    int64_t bid, size, mtime_ms;
    int parts;
    char etag[48];
    struct gz_buf key, bucket, data, crc, headers;
    uint8_t file[STORE__ID_LEN];
    bool has_file, has_crc;
};

/* Pays for n bytes read: sleeps while over the rate. -ECANCELED if the store is closing. */
static int scrub_wait(struct store *s, size_t n)
{
    struct store__scrub *sc = &s->scrub;
    int64_t now = gz_monotonic_ns();
    if (sc->next_ns < now - SCRUB_BURST_NS)
        sc->next_ns = now - SCRUB_BURST_NS;
    sc->next_ns += (int64_t)((double)n * 1e9 / (double)sc->st.rate);
    int64_t wait = sc->next_ns - now;
    pthread_mutex_lock(&sc->mu);
    if (wait > 0 && !sc->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + wait % 1000000000LL;
        ts.tv_sec += (time_t)(wait / 1000000000LL + ns / 1000000000LL);
        ts.tv_nsec = (long)(ns % 1000000000LL);
        pthread_cond_timedwait(&sc->cv, &sc->mu, &ts);
    }
    sc->st.bytes += (int64_t)n;
    bool stop = sc->stop;
    pthread_mutex_unlock(&sc->mu);
    return stop ? -ECANCELED : 0;
}

/* Reads a body file and checks its CRCs (crc NULL: none) and feeds md5 (NULL: none).
 * 0 (what[0] set if it failed a check), -ENOENT (gone: replaced meanwhile), -ECANCELED. */
static int scrub_file(struct store *s, const uint8_t id[STORE__ID_LEN], int64_t size,
                      const struct gz_buf *crc, struct gz_hash *md5, char *what, size_t wsz)
{
    char name[2 * STORE__ID_LEN + 1];
    int fd = store__file_open(s, id);
    int rc = 0;
    gz_hex_encode(name, id, STORE__ID_LEN);
    if (fd < 0)
        return fd;
    for (int64_t off = 0; off < size && rc == 0 && what[0] == '\0';) {
        size_t n = (size_t)GZ_MIN((int64_t)SCRUB_CHUNK, size - off);
        ssize_t got = pread(fd, s->scrub.buf, n, off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got != (ssize_t)n) {
            snprintf(what, wsz, "objects/%.2s/%s: %s at byte %lld", name, name,
                     got < 0 ? strerror(errno) : "shorter than its row", (long long)off);
            break;
        }
        int64_t blk =
            crc ? store__blocksum_check(gz_buf_slice(crc), size, off, s->scrub.buf, n) : -1;
        if (blk != -1)
            snprintf(what, wsz, "objects/%.2s/%s: block %lld fails its CRC32C", name, name,
                     (long long)blk);
        if (md5 != NULL)
            gz_hash_update(md5, s->scrub.buf, n);
        off += (int64_t)n;
        rc = scrub_wait(s, n);
    }
    close(fd);
    return rc;
}

static bool scrub_opaque(struct gz_slice headers)
{
    struct gz_slice name, value;
    size_t pos = 0;
    while (store_headers_next(headers, &pos, &name, &value)) {
        if (gz_slice_case_eq_cstr(name, SCRUB_OPAQUE_HEADER))
            return true;
    }
    return false;
}

static bool scrub_md5_etag(const char *etag)
{
    for (int i = 0; i < 32; i++) {
        if (gz_hex_digit(etag[i]) < 0)
            return false;
    }
    return etag[32] == '\0';
}

static void scrub_obj_free(struct scrub_obj *o)
{
    gz_buf_free(&o->key);
    gz_buf_free(&o->bucket);
    gz_buf_free(&o->data);
    gz_buf_free(&o->crc);
    gz_buf_free(&o->headers);
}

static void scrub_obj_init(struct scrub_obj *o)
{
    memset(o, 0, sizeof(*o));
    gz_buf_init(&o->key, STORE_MAX_KEY);
    gz_buf_init(&o->bucket, STORE_MAX_BUCKET);
    gz_buf_init(&o->data, STORE__INLINE_MAX_LIMIT);
    gz_buf_init(&o->crc, SCRUB_CRC_MAX);
    gz_buf_init(&o->headers, STORE__HEADERS_MAX);
}

/* Copies the row after (o->bid, o->key) into o: 1, 0 at the end, or an error. */
static int scrub_next_row(struct store *s, struct scrub_obj *o)
{
    struct store__conn *c;
    int rc = store__conn_get(s, &c);
    if (rc < 0)
        return rc;
    sqlite3_stmt *st = store__stmt(c, ST_SCRUB_NEXT);
    if (st == NULL) {
        store__conn_put(s, c);
        return -EIO;
    }
    sqlite3_bind_int64(st, 1, o->bid);
    sqlite3_bind_blob64(st, 2, o->key.ptr ? o->key.ptr : "", o->key.len, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 3, 1);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        struct gz_slice file = store__col_slice(st, 6);
        o->bid = sqlite3_column_int64(st, 0);
        gz_buf_reset(&o->key);
        gz_buf_reset(&o->bucket);
        gz_buf_reset(&o->data);
        gz_buf_reset(&o->crc);
        gz_buf_reset(&o->headers);
        struct gz_slice k = store__col_slice(st, 1), b = store__col_slice(st, 10);
        struct gz_slice d = store__col_slice(st, 7), h = store__col_slice(st, 9);
        struct gz_slice cr = store__col_slice(st, 8);
        if (gz_buf_append(&o->key, k.ptr, k.len) < 0 ||
            gz_buf_append(&o->bucket, b.ptr, b.len) < 0 ||
            gz_buf_append(&o->data, d.ptr, d.len) < 0 ||
            gz_buf_append(&o->crc, cr.ptr, cr.len) < 0 ||
            gz_buf_append(&o->headers, h.ptr, h.len) < 0)
            rc = SQLITE_NOMEM;
        o->size = sqlite3_column_int64(st, 2);
        o->mtime_ms = sqlite3_column_int64(st, 3);
        store__etag_copy(o->etag, (const char *)sqlite3_column_text(st, 4));
        o->parts = sqlite3_column_int(st, 5);
        o->has_file = file.len == STORE__ID_LEN;
        if (o->has_file)
            memcpy(o->file, file.ptr, STORE__ID_LEN);
        o->has_crc = sqlite3_column_type(st, 8) != SQLITE_NULL;
    }
    store__stmt_done(st);
    store__conn_put(s, c);
    if (rc == SQLITE_ROW)
        return 1;
    return rc == SQLITE_DONE ? 0 : store__sql_err(rc);
}

/* A multipart object's parts: each part file's CRCs. */
static int scrub_parts(struct store *s, struct scrub_obj *o, char *what, size_t wsz)
{
    for (int num = 1; num <= o->parts && what[0] == '\0'; num++) {
        struct store__conn *c;
        uint8_t id[STORE__ID_LEN];
        int64_t size = 0;
        bool found = false, has_crc = false;
        struct gz_buf crc;
        gz_buf_init(&crc, SCRUB_CRC_MAX);
        int rc = store__conn_get(s, &c);
        if (rc < 0)
            return rc;
        sqlite3_stmt *st = store__stmt(c, ST_OPART_GET);
        if (st != NULL) {
            sqlite3_bind_int64(st, 1, o->bid);
            store__bind_slice(st, 2, gz_buf_slice(&o->key));
            sqlite3_bind_int(st, 3, num);
            if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 2) == STORE__ID_LEN) {
                struct gz_slice cr = store__col_slice(st, 3);
                found = true;
                size = sqlite3_column_int64(st, 0);
                memcpy(id, sqlite3_column_blob(st, 2), STORE__ID_LEN);
                has_crc = sqlite3_column_type(st, 3) != SQLITE_NULL;
                (void)gz_buf_append(&crc, cr.ptr, cr.len);
            }
            store__stmt_done(st);
        }
        store__conn_put(s, c);
        if (!has_crc && found)
            o->has_crc = false;
        rc = found ? scrub_file(s, id, size, has_crc ? &crc : NULL, NULL, what, wsz) : -ENOENT;
        gz_buf_free(&crc);
        if (rc == -ENOENT)
            return 0; /* replaced meanwhile */
        if (rc < 0)
            return rc;
        if (what[0] != '\0') {
            size_t n = strlen(what);
            snprintf(what + n, wsz - n, " (part %d)", num);
        }
    }
    return 0;
}

/* Checks one object; what gets the failure ("" if none). 0, or -ECANCELED / an error. */
static int scrub_object(struct store *s, struct scrub_obj *o, char *what, size_t wsz)
{
    bool md5_on =
        o->parts == 0 && scrub_md5_etag(o->etag) && !scrub_opaque(gz_buf_slice(&o->headers));
    struct gz_hash md5;
    uint8_t out[GZ_HASH_MAX_LEN];
    int rc = 0;
    what[0] = '\0';
    o->has_crc = o->has_crc || o->parts > 0;
    if (o->parts > 0)
        return scrub_parts(s, o, what, wsz);
    gz_hash_init(&md5, md5_on ? GZ_HASH_MD5 : GZ_HASH_NONE);
    if (o->has_file) {
        rc = scrub_file(s, o->file, o->size, o->has_crc ? &o->crc : NULL, &md5, what, wsz);
    } else {
        int64_t blk = -1;
        if (o->has_crc)
            blk = store__blocksum_check(gz_buf_slice(&o->crc), (int64_t)o->data.len, 0, o->data.ptr,
                                        o->data.len);
        if (blk != -1)
            snprintf(what, wsz, "inline body: block %lld fails its CRC32C", (long long)blk);
        gz_hash_update(&md5, o->data.ptr, o->data.len);
        rc = scrub_wait(s, o->data.len);
    }
    gz_hash_final(&md5, out);
    if (rc == 0 && md5_on && what[0] == '\0') {
        char got[33];
        gz_hex_encode(got, out, 16);
        if (strcmp(got, o->etag) != 0)
            snprintf(what, wsz, "the body's MD5 is %s, its ETag %s", got, o->etag);
    }
    return rc == -ENOENT ? 0 : rc; /* a file gone: the object was replaced meanwhile */
}

static void scrub_mark(struct store *s, struct scrub_obj *o, const char *what)
{
    log_error("scrub: %.*s/%.*s: %s; marked corrupt (its GETs fail until it is overwritten)",
              (int)o->bucket.len, o->bucket.ptr, (int)o->key.len, o->key.ptr, what);
    struct store__op *op = store__op_new(OP_MARK_CORRUPT, NULL, NULL);
    op->bid = o->bid;
    op->key = store__slice_dup(gz_buf_slice(&o->key));
    op->headers = store__slice_dup(gz_slice_cstr(what));
    op->mtime_ms = o->mtime_ms;
    memcpy(op->etag, o->etag, sizeof(op->etag));
    if (o->has_file)
        op->file = store__slice_dup(gz_slice(o->file, STORE__ID_LEN));
    int rc = store__op_run(s, op); /* durable before the pass goes on (and reports it) */
    if (rc < 0)
        log_error("scrub: marking %.*s/%.*s corrupt: %s", (int)o->bucket.len, o->bucket.ptr,
                  (int)o->key.len, o->key.ptr, gz_strerror(rc));
    pthread_mutex_lock(&s->scrub.mu);
    s->scrub.st.found++;
    pthread_mutex_unlock(&s->scrub.mu);
}

/* One full pass: 0, -ECANCELED (closing), or an error. */
static int scrub_pass(struct store *s)
{
    struct scrub_obj o;
    char what[512];
    int rc;
    scrub_obj_init(&o);
    while ((rc = scrub_next_row(s, &o)) == 1) {
        rc = scrub_object(s, &o, what, sizeof(what));
        if (rc < 0)
            break;
        if (what[0] != '\0')
            scrub_mark(s, &o, what);
        pthread_mutex_lock(&s->scrub.mu);
        s->scrub.st.objects++;
        s->scrub.st.unprotected += !o.has_crc;
        pthread_mutex_unlock(&s->scrub.mu);
    }
    scrub_obj_free(&o);
    return rc;
}

/* Waits (scrub.mu held) until a pass is due or kicked: false if the store is closing. */
static bool scrub_wait_due(struct store__scrub *sc)
{
    while (!sc->stop && !sc->kick) {
        int64_t due = sc->st.last_pass_ms + sc->st.interval_ms, now = gz_now_ms();
        if (sc->st.last_pass_ms == 0 || due <= now)
            break;
        int64_t wait = GZ_MIN(due - now, (int64_t)3600 * 1000);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + (wait % 1000) * 1000000LL;
        ts.tv_sec += (time_t)(wait / 1000 + ns / 1000000000LL);
        ts.tv_nsec = (long)(ns % 1000000000LL);
        pthread_cond_timedwait(&sc->cv, &sc->mu, &ts);
    }
    sc->kick = false;
    return !sc->stop;
}

static void scrub_pass_done(struct store *s, int rc)
{
    struct store__scrub *sc = &s->scrub;
    sc->st.active = false;
    sc->st.last_pass_ms = gz_now_ms(); /* also after a failed pass: no hot loop */
    if (rc != 0) {
        if (rc != -ECANCELED)
            log_error("scrub: pass failed: %s", gz_strerror(rc));
        return;
    }
    sc->st.passes++;
    sc->st.last_objects = sc->st.objects;
    sc->st.last_bytes = sc->st.bytes;
    sc->st.last_unprotected = sc->st.unprotected;
    log_info("scrub: pass done: %lld objects, %lld bytes, %lld unprotected",
             (long long)sc->st.objects, (long long)sc->st.bytes, (long long)sc->st.unprotected);
    struct store__op *op = store__op_new(OP_META_SET, NULL, NULL);
    op->bid = sc->st.last_pass_ms;
    store__op_submit(s, op);
}

static void *scrub_main(void *arg)
{
    struct store *s = arg;
    struct store__scrub *sc = &s->scrub;
    pthread_mutex_lock(&sc->mu);
    while (scrub_wait_due(sc)) {
        sc->st.active = true;
        sc->st.pass_started_ms = gz_now_ms();
        sc->st.objects = sc->st.bytes = sc->st.unprotected = 0;
        sc->next_ns = 0;
        pthread_mutex_unlock(&sc->mu);
        int rc = scrub_pass(s);
        pthread_mutex_lock(&sc->mu);
        scrub_pass_done(s, rc);
    }
    pthread_mutex_unlock(&sc->mu);
    return NULL;
}

int store__scrub_start(struct store *s, const struct store_config *cfg)
{
    struct store__scrub *sc = &s->scrub;
    sc->st.rate = cfg->scrub_rate;
    sc->st.interval_ms = cfg->scrub_interval_ms;
    if (cfg->scrub_rate <= 0 || cfg->scrub_interval_ms <= 0)
        return 0;
    int64_t last = 0;
    struct store__conn *c;
    if (store__conn_get(s, &c) == 0) {
        if (store__meta_get(c, SCRUB_META_KEY, &last) < 0)
            last = 0;
        store__conn_put(s, c);
    }
    sc->st.last_pass_ms = last;
    sc->st.enabled = true;
    sc->buf = gz_malloc(SCRUB_CHUNK);
    int rc = pthread_create(&sc->tid, NULL, scrub_main, s);
    if (rc != 0) {
        gz_free(sc->buf);
        sc->buf = NULL;
        return -rc;
    }
    sc->started = true;
    return 0;
}

void store__scrub_stop(struct store *s)
{
    struct store__scrub *sc = &s->scrub;
    if (!sc->started)
        return;
    pthread_mutex_lock(&sc->mu);
    sc->stop = true;
    pthread_cond_broadcast(&sc->cv);
    pthread_mutex_unlock(&sc->mu);
    pthread_join(sc->tid, NULL);
    sc->started = false;
    gz_free(sc->buf);
    sc->buf = NULL;
}
