/*
 * fsck.c - the offline check of a local store (store_fsck_run): `gzy fsck` and `gzy scrub`.
 *
 * It opens index.db with its own SQLite connection and walks objects/ itself, holding the
 * folder's LOCK so that no server runs meanwhile. It does not call store_open: that would run
 * the recovery sweep, which silently removes the orphans this tool is meant to report.
 *
 * Passes, in order:
 *   orphans  files under objects/ with neither a `files` row nor a row using them; they are
 *            removed at once with --repair (the committed index cannot reach them).
 *   rows     every object, object part and upload part against its file (missing, size) and
 *            its owner row (dangling); multipart layout (numbers, offsets, total size).
 *   refs     `files`.refs against the number of rows naming each id.
 *   usage    per-bucket and per-owner counters against a recount of the objects.
 *   content  every body read at a bounded rate: its block CRC32Cs (files.crc, inline CRCs)
 *            and its MD5 against its ETag (a multipart ETag is recomputed from the MD5 of
 *            each part). Bodies encrypted at rest (opts.opaque_header) and ETags of another
 *            form get the CRC check only: their ETag is not the stored bytes' MD5.
 * With --repair the row, refs and usage repairs run in one transaction; files whose last
 * reference it dropped are unlinked after the COMMIT, as the committer does, so a crash of
 * fsck leaves at worst orphans, never a row naming a missing file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../util/hash.h"
#include "local_int.h"

#define FSCK_SCHEMA_VERSION 4 /* schemas 2 (no block CRCs) and 3 (inline bodies in the
                                 * object rows) are read too */
#define FSCK_READ_CHUNK (256 * 1024)
#define FSCK_BURST_NS 100000000LL /* the token bucket holds at most 0.1 s of rate */

struct fsck {
    const struct store_fsck_opts *o;
    struct store_fsck_stats *st;
    sqlite3 *db;
    int dirfd, lockfd, objfd;
    struct store__idvec unlinks; /* ids whose last reference the repair dropped */
    uint8_t *buf;
    int64_t next_ns; /* token bucket: when the next read may start */
    bool crc_cols;   /* schema >= 3: files.crc and inline CRCs exist */
    bool bodies;     /* schema 4: inline bodies in inline_bodies, objects.body refers */
};

/* An object row's inline body and its CRCs, as SQL over `objects o` (see fsck_sql_for). */
#define FSCK_DATA "@DATA@"
#define FSCK_ICRC "@ICRC@"

/* ---- small helpers ---- */

static void file_name(const uint8_t id[STORE__ID_LEN], char out[64])
{
    char hex[2 * STORE__ID_LEN + 1];
    gz_hex_encode(hex, id, STORE__ID_LEN);
    snprintf(out, 64, "objects/%02x/%s", id[0], hex);
}

/* The path of id relative to objects/ ("XY/<hex>"). */
static void file_rel(const uint8_t id[STORE__ID_LEN], char out[64])
{
    char hex[2 * STORE__ID_LEN + 1];
    gz_hex_encode(hex, id, STORE__ID_LEN);
    snprintf(out, 64, "%02x/%s", id[0], hex);
}

static void fsck_report(struct fsck *f, struct store_fsck_problem *p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fsck_report(struct fsck *f, struct store_fsck_problem *p, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    p->detail = detail;
    if (p->upload_id == NULL)
        p->upload_id = "";
    if (p->file == NULL)
        p->file = "";
    f->st->problems++;
    if (p->repaired)
        f->st->repaired++;
    if (f->o->report != NULL)
        f->o->report(p, f->o->ud);
}

static int fsck_sql(struct fsck *f, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(f->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        log_error("fsck: %s: %s", sql, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return store__sql_err(rc);
    }
    return 0;
}

/* sql with FSCK_DATA and FSCK_ICRC spelled for the index's schema (gz_free it). */
static char *fsck_sql_for(const struct fsck *f, const char *sql)
{
    static const char *const v4[2] = {
        "CASE WHEN o.body IS NULL THEN x'' ELSE (SELECT data FROM inline_bodies"
        " WHERE id=o.body) END",
        "(SELECT crc FROM inline_bodies WHERE id=o.body)"};
    static const char *const v3[2] = {"o.data", "o.crc"};
    const char *const *with = f->bodies ? v4 : v3;
    struct gz_buf b;
    gz_buf_init(&b, 4 * strlen(sql) + 1024); /* each marker grows by under 100 bytes */
    for (const char *p = sql; *p;) {
        const char *d = strstr(p, FSCK_DATA), *c = strstr(p, FSCK_ICRC);
        const char *at = d && (!c || d < c) ? d : c;
        if (at == NULL) {
            (void)gz_buf_append(&b, p, strlen(p));
            break;
        }
        (void)gz_buf_append(&b, p, (size_t)(at - p));
        (void)gz_buf_append(&b, with[at == c], strlen(with[at == c]));
        p = at + strlen(FSCK_DATA); /* both markers are 6 characters */
    }
    (void)gz_buf_append(&b, "", 1);
    return (char *)b.ptr;
}

static int fsck_prepare(struct fsck *f, const char *sql, sqlite3_stmt **st)
{
    char *spelled = strchr(sql, '@') ? fsck_sql_for(f, sql) : NULL;
    if (spelled != NULL)
        sql = spelled;
    else if (strchr(sql, '@'))
        return -ENOMEM;
    int rc = sqlite3_prepare_v2(f->db, sql, -1, st, NULL);
    if (rc != SQLITE_OK) {
        log_error("fsck: prepare %s: %s", sql, sqlite3_errmsg(f->db));
        *st = NULL;
    }
    gz_free(spelled);
    return rc == SQLITE_OK ? 0 : store__sql_err(rc);
}

/* Runs a one-shot statement bound with an id (?1) and an integer (?2). */
static int fsck_exec_id(struct fsck *f, const char *sql, const uint8_t *id, int64_t v)
{
    sqlite3_stmt *st;
    int rc = fsck_prepare(f, sql, &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_blob(st, 1, id, STORE__ID_LEN, SQLITE_STATIC);
    if (sqlite3_bind_parameter_count(st) >= 2)
        sqlite3_bind_int64(st, 2, v);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : store__sql_err(rc);
}

/* A column holding a file id: true (with *id) if it is one. */
static bool col_id(sqlite3_stmt *st, int i, uint8_t id[STORE__ID_LEN])
{
    if (sqlite3_column_bytes(st, i) != STORE__ID_LEN)
        return false;
    memcpy(id, sqlite3_column_blob(st, i), STORE__ID_LEN);
    return true;
}

/* Size of objects/<id>: 0 with *size, -ENOENT, or -errno. */
static int file_size(struct fsck *f, const uint8_t id[STORE__ID_LEN], int64_t *size)
{
    char rel[64];
    struct stat sb;
    file_rel(id, rel);
    if (fstatat(f->objfd, rel, &sb, AT_SYMLINK_NOFOLLOW) < 0)
        return -errno;
    if (!S_ISREG(sb.st_mode))
        return -ENOENT;
    *size = sb.st_size;
    return 0;
}

/* Drops one reference to id in the repair transaction; at zero the row goes and the file is
 * unlinked after the COMMIT. */
static int fsck_unref(struct fsck *f, const uint8_t id[STORE__ID_LEN])
{
    int rc = fsck_exec_id(f, "UPDATE files SET refs=refs-1 WHERE id=?1", id, 0);
    if (rc < 0)
        return rc;
    sqlite3_stmt *st;
    rc = fsck_prepare(f, "DELETE FROM files WHERE id=?1 AND refs<=0 RETURNING id", &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_blob(st, 1, id, STORE__ID_LEN, SQLITE_STATIC);
    bool gone = (rc = sqlite3_step(st)) == SQLITE_ROW;
    if (gone)
        rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return store__sql_err(rc);
    if (gone)
        store__idvec_push(&f->unlinks, id);
    return 0;
}

/* ---- the referenced set: a temp table of every id a row names, with its count ---- */

static int refs_build(struct fsck *f)
{
    return fsck_sql(f, "DROP TABLE IF EXISTS temp.fsck_refs;"
                       "CREATE TEMP TABLE fsck_refs(id BLOB PRIMARY KEY, n INTEGER NOT NULL)"
                       " WITHOUT ROWID;"
                       "INSERT INTO temp.fsck_refs SELECT id, count(*) FROM ("
                       " SELECT file AS id FROM objects WHERE file IS NOT NULL"
                       " UNION ALL SELECT file FROM object_parts"
                       " UNION ALL SELECT file FROM upload_parts) GROUP BY id;");
}

/* ---- orphans ---- */

static bool parse_id(const char *name, uint8_t id[STORE__ID_LEN])
{
    if (strlen(name) != 2 * STORE__ID_LEN)
        return false;
    for (const char *p = name; *p; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    }
    return gz_hex_decode(id, STORE__ID_LEN, gz_slice(name, 2 * STORE__ID_LEN)) == STORE__ID_LEN;
}

/* 1 if id is referenced (a files row or a row naming it), 0 if not. */
static int id_known(sqlite3_stmt *known, const uint8_t id[STORE__ID_LEN])
{
    sqlite3_bind_blob(known, 1, id, STORE__ID_LEN, SQLITE_STATIC);
    int rc = sqlite3_step(known);
    sqlite3_reset(known);
    if (rc == SQLITE_ROW)
        return 1;
    return rc == SQLITE_DONE ? 0 : store__sql_err(rc);
}

static int orphan_entry(struct fsck *f, int dfd, int i, const char *name, sqlite3_stmt *known,
                        bool *removed)
{
    uint8_t id[STORE__ID_LEN];
    char path[320], esc[280];
    struct store_fsck_problem p = {0};
    gz_log_escape(esc, sizeof(esc), gz_slice_cstr(name));
    snprintf(path, sizeof(path), "objects/%02x/%s", i, esc);
    p.file = path;
    if (!parse_id(name, id) || id[0] != i) {
        p.kind = STORE_FSCK_STRAY;
        fsck_report(f, &p, "not a store file name; left alone");
        return 0;
    }
    f->st->files++;
    int rc = id_known(known, id);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    struct stat sb;
    int64_t size = fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 ? sb.st_size : -1;
    if (f->o->repair) {
        if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
            return -errno;
        p.repaired = *removed = true;
    }
    p.kind = STORE_FSCK_ORPHAN;
    fsck_report(f, &p, "%lld bytes, referenced by no row%s", (long long)size,
                p.repaired ? "; removed" : "");
    return 0;
}

static int orphan_dir(struct fsck *f, int i, sqlite3_stmt *known)
{
    char name[3];
    snprintf(name, sizeof(name), "%02x", i);
    int dfd = openat(f->objfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return errno == ENOENT ? 0 : -errno;
    int fd2 = dup(dfd);
    DIR *d = fd2 >= 0 ? fdopendir(fd2) : NULL;
    if (d == NULL) {
        int err = -errno;
        if (fd2 >= 0)
            close(fd2);
        close(dfd);
        return err;
    }
    int rc = 0;
    bool removed = false;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            rc = orphan_entry(f, dfd, i, e->d_name, known, &removed);
    }
    closedir(d);
    if (removed && fsync(dfd) < 0 && rc == 0)
        rc = -errno;
    close(dfd);
    return rc;
}

static int pass_orphans(struct fsck *f)
{
    sqlite3_stmt *known;
    int rc = fsck_prepare(f,
                          "SELECT 1 FROM temp.fsck_refs WHERE id=?1"
                          " UNION ALL SELECT 1 FROM files WHERE id=?1",
                          &known);
    for (int i = 0; rc == 0 && i < 256; i++)
        rc = orphan_dir(f, i, known);
    sqlite3_finalize(known);
    return rc;
}

/* ---- rows ---- */

/* Checks one body file against its expected size: 0 fine, 1 missing, 2 size differs. */
static int body_check(struct fsck *f, struct store_fsck_problem *p, const uint8_t *id, int64_t want)
{
    char fname[64];
    int64_t size = 0;
    file_name(id, fname);
    p->file = fname;
    int rc = file_size(f, id, &size);
    if (rc == -ENOENT) {
        p->kind = STORE_FSCK_MISSING;
        fsck_report(f, p, "file missing (row says %lld bytes)%s", (long long)want,
                    p->repaired ? "; row dropped" : "");
        return 1;
    }
    if (rc < 0) {
        p->kind = STORE_FSCK_MISSING;
        fsck_report(f, p, "cannot stat the file: %s", strerror(-rc));
        return 1;
    }
    if (size != want) {
        p->kind = STORE_FSCK_SIZE;
        p->repaired = false;
        fsck_report(f, p, "file holds %lld bytes, row says %lld", (long long)size, (long long)want);
        return 2;
    }
    return 0;
}

/* Runs one repair statement bound with (?1 bucket id, ?2 key). */
static int fsck_exec_object(struct fsck *f, const char *sql, int64_t bid, struct gz_slice key)
{
    sqlite3_stmt *st;
    int rc = fsck_prepare(f, sql, &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, bid);
    store__bind_slice(st, 2, key);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : store__sql_err(rc);
}

/* Runs one counter statement bound with (?1 bucket id, ?2 bytes). */
static int fsck_exec_usage(struct fsck *f, const char *sql, int64_t bid, int64_t size)
{
    sqlite3_stmt *st;
    int rc = fsck_prepare(f, sql, &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, bid);
    sqlite3_bind_int64(st, 2, size);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
    sqlite3_finalize(st);
    return rc;
}

/* Drops an object row and its part rows (repair of a missing body), with usage. */
static int object_drop(struct fsck *f, int64_t bid, struct gz_slice key, int64_t size)
{
    sqlite3_stmt *st;
    uint8_t id[STORE__ID_LEN];
    int rc = fsck_prepare(f,
                          "SELECT file FROM objects WHERE bucket=?1 AND key=?2 UNION ALL"
                          " SELECT file FROM object_parts WHERE bucket=?1 AND key=?2",
                          &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, bid);
    store__bind_slice(st, 2, key);
    while (rc == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
        rc = col_id(st, 0, id) ? fsck_unref(f, id) : 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != 0)
        return rc < 0 ? rc : store__sql_err(rc);
    rc = fsck_exec_object(f, "DELETE FROM object_parts WHERE bucket=?1 AND key=?2", bid, key);
    if (rc == 0 && f->bodies)
        rc = fsck_exec_object(f,
                              "DELETE FROM inline_bodies WHERE id=(SELECT body FROM objects"
                              " WHERE bucket=?1 AND key=?2)",
                              bid, key);
    if (rc == 0)
        rc = fsck_exec_object(f, "DELETE FROM objects WHERE bucket=?1 AND key=?2", bid, key);
    /* The counters lose what was dropped (the usage pass then checks them as usual). */
    if (rc == 0)
        rc = fsck_exec_usage(f,
                             "UPDATE owners SET bytes=bytes-?2, objects=objects-1"
                             " WHERE owner=(SELECT owner FROM buckets WHERE id=?1)",
                             bid, size);
    if (rc == 0)
        rc = fsck_exec_usage(f, "UPDATE buckets SET bytes=bytes-?2, objects=objects-1 WHERE id=?1",
                             bid, size);
    return rc;
}

/* The part rows of a multipart object: numbers 1..parts, offsets adding up, total size, and
 * each part's file. *missing is set if a file is gone. */
static int object_parts_check(struct fsck *f, struct store_fsck_problem *base, int64_t bid,
                              int64_t size, int parts, bool *missing)
{
    sqlite3_stmt *st;
    int rc = fsck_prepare(f,
                          "SELECT num,size,offset,file FROM object_parts"
                          " WHERE bucket=?1 AND key=?2 ORDER BY num",
                          &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, bid);
    store__bind_slice(st, 2, base->key);
    int n = 0;
    int64_t off = 0;
    bool layout_ok = true;
    uint8_t id[STORE__ID_LEN];
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int num = sqlite3_column_int(st, 0);
        int64_t psize = sqlite3_column_int64(st, 1);
        n++;
        f->st->parts++;
        if (num != n || sqlite3_column_int64(st, 2) != off)
            layout_ok = false;
        off += psize;
        struct store_fsck_problem p = *base;
        p.part = num;
        p.repaired = f->o->repair && f->o->drop_missing;
        if (!col_id(st, 3, id))
            layout_ok = false;
        else if (body_check(f, &p, id, psize) == 1)
            *missing = true;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return store__sql_err(rc);
    if (!layout_ok || n != parts || off != size) {
        struct store_fsck_problem p = *base;
        p.kind = STORE_FSCK_LAYOUT;
        p.repaired = false;
        fsck_report(f, &p,
                    "%d part rows adding up to %lld bytes; the object says %d parts,"
                    " %lld bytes%s",
                    n, (long long)off, parts, (long long)size,
                    layout_ok ? "" : " (numbers or offsets out of sequence)");
    }
    return 0;
}

/* One object row (columns: bucket name, key, size, parts, file, length(data), bucket id). */
static int object_row(struct fsck *f, sqlite3_stmt *st, int64_t *drop_bid, bool *drop)
{
    struct store_fsck_problem p = {0};
    p.bucket = store__col_slice(st, 0);
    p.key = store__col_slice(st, 1);
    int64_t size = sqlite3_column_int64(st, 2), bid = sqlite3_column_int64(st, 6);
    int parts = sqlite3_column_int(st, 3);
    uint8_t id[STORE__ID_LEN];
    bool missing = false;
    f->st->objects++;
    *drop = false;
    if (sqlite3_column_type(st, 0) == SQLITE_NULL) {
        p.kind = STORE_FSCK_DANGLING;
        fsck_report(f, &p, "object row of bucket id %lld, which does not exist", (long long)bid);
        return 0;
    }
    p.repaired = f->o->repair && f->o->drop_missing;
    if (parts > 0) {
        int rc = object_parts_check(f, &p, bid, size, parts, &missing);
        if (rc < 0)
            return rc;
    } else if (col_id(st, 4, id)) {
        missing = body_check(f, &p, id, size) == 1;
    } else if (sqlite3_column_type(st, 5) == SQLITE_NULL || sqlite3_column_int64(st, 5) != size) {
        p.kind = sqlite3_column_type(st, 5) == SQLITE_NULL ? STORE_FSCK_LAYOUT : STORE_FSCK_SIZE;
        p.repaired = false;
        fsck_report(f, &p, "inline body of %lld bytes, row says %lld",
                    (long long)sqlite3_column_int64(st, 5), (long long)size);
    }
    *drop = missing && p.repaired;
    *drop_bid = bid;
    return 0;
}

/* Object rows to drop (repair of a missing body), collected while scanning. */
struct drop_list {
    int64_t *bid, *size;
    struct gz_slice *key;
    size_t n, cap;
};

static void drop_add(struct drop_list *d, int64_t bid, struct gz_slice key, int64_t size)
{
    if (d->n == d->cap) {
        d->cap = d->cap ? 2 * d->cap : 8;
        d->bid = gz_realloc(d->bid, d->cap * sizeof(*d->bid));
        d->key = gz_realloc(d->key, d->cap * sizeof(*d->key));
        d->size = gz_realloc(d->size, d->cap * sizeof(*d->size));
    }
    d->size[d->n] = size;
    d->bid[d->n] = bid;
    d->key[d->n++] = store__slice_dup(key);
}

static int pass_objects(struct fsck *f)
{
    sqlite3_stmt *st;
    struct drop_list d = {0};
    int rc = fsck_prepare(f,
                          "SELECT b.name,o.key,o.size,o.parts,o.file,length(" FSCK_DATA "),"
                          "o.bucket FROM objects o LEFT JOIN buckets b ON b.id=o.bucket"
                          " ORDER BY o.bucket,o.key",
                          &st);
    while (rc == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t bid = 0;
        bool drop = false;
        rc = object_row(f, st, &bid, &drop);
        if (rc == 0 && drop)
            drop_add(&d, bid, store__col_slice(st, 1), sqlite3_column_int64(st, 2));
    }
    sqlite3_finalize(st);
    rc = rc == SQLITE_DONE ? 0 : rc < 0 ? rc : store__sql_err(rc);
    for (size_t i = 0; i < d.n; i++) {
        if (rc == 0)
            rc = object_drop(f, d.bid[i], d.key[i], d.size[i]);
        gz_free((void *)d.key[i].ptr);
    }
    gz_free(d.bid);
    gz_free(d.key);
    gz_free(d.size);
    return rc;
}

/* Part rows of no (multipart) object: reported, and dropped with --repair. */
static int pass_dangling_object_parts(struct fsck *f)
{
    sqlite3_stmt *st;
    int rc = fsck_prepare(f,
                          "SELECT p.bucket,p.key,p.num,p.file FROM object_parts p"
                          " LEFT JOIN objects o ON o.bucket=p.bucket AND o.key=p.key"
                          " WHERE o.key IS NULL OR o.parts=0",
                          &st);
    if (rc < 0)
        return rc;
    while (rc == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_fsck_problem p = {.kind = STORE_FSCK_DANGLING, .repaired = f->o->repair};
        uint8_t id[STORE__ID_LEN];
        char fname[64] = "";
        p.key = store__col_slice(st, 1);
        p.part = sqlite3_column_int(st, 2);
        if (col_id(st, 3, id))
            file_name(id, fname);
        p.file = fname;
        rc = 0;
        if (f->o->repair) {
            sqlite3_stmt *del;
            rc = fsck_prepare(f,
                              "DELETE FROM object_parts WHERE bucket=?1 AND key=?2"
                              " AND num=?3",
                              &del);
            if (rc == 0) {
                sqlite3_bind_int64(del, 1, sqlite3_column_int64(st, 0));
                store__bind_slice(del, 2, p.key);
                sqlite3_bind_int(del, 3, p.part);
                rc = sqlite3_step(del) == SQLITE_DONE ? 0 : -EIO;
                sqlite3_finalize(del);
            }
            if (rc == 0 && fname[0])
                rc = fsck_unref(f, id);
        }
        fsck_report(f, &p, "part row of bucket id %lld belongs to no multipart object%s",
                    (long long)sqlite3_column_int64(st, 0), p.repaired ? "; dropped" : "");
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : rc < 0 ? rc : store__sql_err(rc);
}

/* Inline bodies (schema 4) no object refers to, and bodies two objects share (each object
 * gets its own: a later delete of one would take the other's bytes). Dangling ones are
 * dropped with --repair; shared ones are reported. */
static int pass_dangling_bodies(struct fsck *f)
{
    sqlite3_stmt *st;
    int rc = fsck_prepare(f,
                          "SELECT id,length(data),0 FROM inline_bodies WHERE id IN"
                          " (SELECT id FROM inline_bodies EXCEPT SELECT body FROM objects)"
                          " UNION ALL SELECT body,0,count(*) FROM objects WHERE body IS NOT NULL"
                          " GROUP BY body HAVING count(*)>1",
                          &st);
    while (rc == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0), shared = sqlite3_column_int64(st, 2);
        struct store_fsck_problem p = {.kind = shared ? STORE_FSCK_LAYOUT : STORE_FSCK_DANGLING,
                                       .repaired = f->o->repair && !shared};
        rc = 0;
        if (p.repaired) {
            sqlite3_stmt *del;
            rc = fsck_prepare(f, "DELETE FROM inline_bodies WHERE id=?1", &del);
            if (rc == 0) {
                sqlite3_bind_int64(del, 1, id);
                rc = sqlite3_step(del) == SQLITE_DONE ? 0 : -EIO;
                sqlite3_finalize(del);
            }
        }
        if (shared)
            fsck_report(f, &p, "inline body %lld is shared by %lld objects", (long long)id,
                        (long long)shared);
        else
            fsck_report(f, &p, "inline body %lld (%lld bytes) belongs to no object%s",
                        (long long)id, (long long)sqlite3_column_int64(st, 1),
                        p.repaired ? "; dropped" : "");
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : rc < 0 ? rc : store__sql_err(rc);
}

/* Drops one upload part row (dangling, or its file is missing). */
static int upload_part_drop(struct fsck *f, const char *upload, int num, const uint8_t *id)
{
    sqlite3_stmt *del;
    int rc = fsck_prepare(f, "DELETE FROM upload_parts WHERE upload=?1 AND num=?2", &del);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(del, 1, upload, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(del, 2, num);
    rc = sqlite3_step(del) == SQLITE_DONE ? 0 : -EIO;
    sqlite3_finalize(del);
    if (rc == 0 && id != NULL)
        rc = fsck_unref(f, id);
    return rc;
}

/* One upload part (columns: upload, num, size, file, upload's bucket name, upload's key,
 * upload exists). */
static int upload_part_row(struct fsck *f, sqlite3_stmt *st)
{
    struct store_fsck_problem p = {0};
    uint8_t id[STORE__ID_LEN];
    char upload[STORE_UPLOAD_ID_LEN + 1];
    const char *u = (const char *)sqlite3_column_text(st, 0);
    snprintf(upload, sizeof(upload), "%s", u ? u : "");
    p.upload_id = upload;
    p.part = sqlite3_column_int(st, 1);
    p.bucket = store__col_slice(st, 4);
    p.key = store__col_slice(st, 5);
    char fname[64] = "";
    bool has_id = col_id(st, 3, id);
    f->st->parts++;
    if (has_id)
        file_name(id, fname);
    p.file = fname;
    if (sqlite3_column_int(st, 6) == 0) {
        p.kind = STORE_FSCK_DANGLING;
        p.repaired = f->o->repair;
        int rc = p.repaired ? upload_part_drop(f, upload, p.part, has_id ? id : NULL) : 0;
        fsck_report(f, &p, "part of an upload that does not exist%s",
                    p.repaired ? "; dropped" : "");
        return rc;
    }
    if (!has_id) {
        p.kind = STORE_FSCK_LAYOUT;
        fsck_report(f, &p, "upload part row without a file id");
        return 0;
    }
    p.repaired = f->o->repair && f->o->drop_missing;
    if (body_check(f, &p, id, sqlite3_column_int64(st, 2)) == 1 && p.repaired)
        return upload_part_drop(f, upload, p.part, id);
    return 0;
}

static int pass_uploads(struct fsck *f)
{
    sqlite3_stmt *st;
    int rc = fsck_prepare(f,
                          "SELECT p.upload,p.num,p.size,p.file,b.name,u.key,u.id IS NOT NULL"
                          " FROM upload_parts p LEFT JOIN uploads u ON u.id=p.upload"
                          " LEFT JOIN buckets b ON b.id=u.bucket ORDER BY p.upload,p.num",
                          &st);
    while (rc == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
        rc = upload_part_row(f, st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != 0)
        return rc < 0 ? rc : store__sql_err(rc);
    /* Uploads of a bucket that is gone: reported only (an abort cannot reach them). */
    rc = fsck_prepare(f,
                      "SELECT u.id,u.key,u.bucket FROM uploads u"
                      " LEFT JOIN buckets b ON b.id=u.bucket WHERE b.id IS NULL",
                      &st);
    while (rc == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_fsck_problem p = {.kind = STORE_FSCK_DANGLING};
        p.upload_id = (const char *)sqlite3_column_text(st, 0);
        p.key = store__col_slice(st, 1);
        fsck_report(f, &p, "upload of bucket id %lld, which does not exist",
                    (long long)sqlite3_column_int64(st, 2));
        rc = 0;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != 0)
        return rc < 0 ? rc : store__sql_err(rc);
    rc = fsck_prepare(f, "SELECT (SELECT count(*) FROM uploads),(SELECT count(*) FROM buckets)",
                      &st);
    if (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        f->st->uploads = sqlite3_column_int64(st, 0);
        f->st->buckets = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return rc;
}

/* ---- reference counts ---- */

static int pass_refs(struct fsck *f)
{
    sqlite3_stmt *st;
    int rc = refs_build(f);
    if (rc == 0)
        rc = fsck_prepare(f,
                          "SELECT r.id,r.n,f.refs FROM temp.fsck_refs r"
                          " LEFT JOIN files f ON f.id=r.id WHERE f.refs IS NULL OR f.refs<>r.n"
                          " UNION ALL SELECT f.id,0,f.refs FROM files f WHERE NOT EXISTS"
                          " (SELECT 1 FROM temp.fsck_refs r WHERE r.id=f.id)",
                          &st);
    while (rc == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_fsck_problem p = {.kind = STORE_FSCK_REFS, .repaired = f->o->repair};
        uint8_t id[STORE__ID_LEN];
        char fname[64];
        int64_t n = sqlite3_column_int64(st, 1);
        bool norow = sqlite3_column_type(st, 2) == SQLITE_NULL;
        rc = 0;
        if (!col_id(st, 0, id))
            continue;
        file_name(id, fname);
        p.file = fname;
        if (p.repaired && n > 0)
            rc = fsck_exec_id(f,
                              "INSERT INTO files(id,refs) VALUES(?1,?2)"
                              " ON CONFLICT(id) DO UPDATE SET refs=?2",
                              id, n);
        else if (p.repaired) {
            rc = fsck_exec_id(f, "DELETE FROM files WHERE id=?1", id, 0);
            store__idvec_push(&f->unlinks, id);
        }
        if (norow)
            fsck_report(f, &p,
                        "%lld rows use this file but it has no files row (the recovery"
                        " sweep would delete it)%s",
                        (long long)n, p.repaired ? "; row added" : "");
        else
            fsck_report(f, &p, "reference count %lld, %lld rows use it%s",
                        (long long)sqlite3_column_int64(st, 2), (long long)n,
                        !p.repaired ? ""
                        : n > 0     ? "; count fixed"
                                    : "; row and file removed");
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : rc < 0 ? rc : store__sql_err(rc);
}

/* ---- usage counters ---- */

static int usage_fix(struct fsck *f, const char *sql, sqlite3_stmt *row, int64_t bytes,
                     int64_t objects)
{
    sqlite3_stmt *st;
    int rc = fsck_prepare(f, sql, &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_value(st, 1, sqlite3_column_value(row, 0));
    sqlite3_bind_int64(st, 2, bytes);
    sqlite3_bind_int64(st, 3, objects);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : store__sql_err(rc);
}

/* Rows of (id or owner, name, bytes, objects, recounted bytes, recounted objects). */
static int usage_rows(struct fsck *f, const char *sql, const char *fix, bool owner)
{
    sqlite3_stmt *st;
    int rc = fsck_prepare(f, sql, &st);
    while (rc == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_fsck_problem p = {.kind = STORE_FSCK_USAGE, .repaired = f->o->repair};
        int64_t b = sqlite3_column_int64(st, 2), o = sqlite3_column_int64(st, 3);
        int64_t rb = sqlite3_column_int64(st, 4), ro = sqlite3_column_int64(st, 5);
        if (owner)
            p.key = store__col_slice(st, 1);
        else
            p.bucket = store__col_slice(st, 1);
        rc = p.repaired ? usage_fix(f, fix, st, rb, ro) : 0;
        fsck_report(f, &p,
                    "%s counters say %lld bytes in %lld objects; the objects add up to"
                    " %lld bytes in %lld%s",
                    owner ? "owner" : "bucket", (long long)b, (long long)o, (long long)rb,
                    (long long)ro, p.repaired ? "; fixed" : "");
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : rc < 0 ? rc : store__sql_err(rc);
}

static int pass_usage(struct fsck *f)
{
    int rc = usage_rows(
        f,
        "SELECT b.id,b.name,b.bytes,b.objects,coalesce(x.bytes,0),coalesce(x.n,0) FROM buckets b"
        " LEFT JOIN (SELECT bucket,sum(size) AS bytes,count(*) AS n FROM objects GROUP BY bucket)"
        " x ON x.bucket=b.id WHERE b.bytes<>coalesce(x.bytes,0) OR b.objects<>coalesce(x.n,0)",
        "UPDATE buckets SET bytes=?2, objects=?3 WHERE id=?1", false);
    if (rc < 0)
        return rc;
    return usage_rows(
        f,
        "WITH rc AS (SELECT b.owner AS owner,coalesce(sum(o.size),0) AS bytes,count(o.key) AS n"
        " FROM buckets b LEFT JOIN objects o ON o.bucket=b.id GROUP BY b.owner),"
        " k AS (SELECT owner FROM owners UNION SELECT owner FROM rc)"
        " SELECT k.owner,k.owner,coalesce(w.bytes,0),coalesce(w.objects,0),"
        " coalesce(rc.bytes,0),coalesce(rc.n,0) FROM k LEFT JOIN owners w ON w.owner=k.owner"
        " LEFT JOIN rc ON rc.owner=k.owner WHERE coalesce(w.bytes,0)<>coalesce(rc.bytes,0)"
        " OR coalesce(w.objects,0)<>coalesce(rc.n,0)",
        "INSERT INTO owners(owner,bytes,objects) VALUES(?1,?2,?3)"
        " ON CONFLICT(owner) DO UPDATE SET bytes=?2, objects=?3",
        true);
}

/* ---- content ---- */

/* Waits until n more bytes may be read at the configured rate (a token bucket kept as the
 * time the next read may start, allowed to lag now by at most FSCK_BURST_NS). */
static void rate_wait(struct fsck *f, size_t n)
{
    if (f->o->rate <= 0)
        return;
    int64_t now = gz_monotonic_ns();
    if (f->next_ns < now - FSCK_BURST_NS)
        f->next_ns = now - FSCK_BURST_NS;
    f->next_ns += (int64_t)((double)n * 1e9 / (double)f->o->rate);
    if (f->next_ns > now) {
        int64_t d = f->next_ns - now;
        struct timespec ts = {.tv_sec = d / 1000000000LL, .tv_nsec = d % 1000000000LL};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
    }
}

/* The block CRCs in column i (NULL: none) are checked against the file's bytes as they are
 * read (whole chunks of FSCK_READ_CHUNK, a multiple of the block size). */
struct fsck_crc {
    bool has;
    struct gz_slice crc;
    int64_t size;   /* the row's */
    int64_t bad;    /* out: -1 fine, a failing block, or -2 (list does not fit the file) */
};

static struct fsck_crc fsck_crc_col(struct fsck *f, sqlite3_stmt *st, int i, int64_t size)
{
    struct fsck_crc c = {.bad = -1, .size = size};
    c.has = f->crc_cols && sqlite3_column_type(st, i) != SQLITE_NULL;
    if (c.has)
        c.crc = store__col_slice(st, i);
    return c;
}

static void fsck_crc_chunk(struct fsck *f, struct fsck_crc *c, int64_t off, size_t n)
{
    if (c == NULL || !c->has || c->bad != -1)
        return;
    c->bad = off + (int64_t)n > c->size
                 ? -2
                 : store__blocksum_check(c->crc, c->size, off, f->buf, n);
}

/* Reports a CRC failure found by file_md5 / an inline check; counts a checked body. */
static void fsck_crc_verdict(struct fsck *f, struct store_fsck_problem *p, struct fsck_crc *c)
{
    if (c == NULL || !c->has) {
        f->st->unprotected++;
        return;
    }
    f->st->crc_checked++;
    if (c->bad == -1)
        return;
    p->kind = STORE_FSCK_CONTENT;
    if (c->bad == -2)
        fsck_report(f, p, "the block CRC32C list does not fit the body's %lld bytes",
                    (long long)c->size);
    else
        fsck_report(f, p, "block %lld (bytes %lld..) fails its CRC32C", (long long)c->bad,
                    (long long)(c->bad * STORE_CRC_BLOCK));
}

/* MD5 of a body file (md5 NULL: none computed) and its CRCs checked into *crc (if not NULL):
 * 0, -ENOENT, or -errno. */
static int file_md5(struct fsck *f, const uint8_t id[STORE__ID_LEN], uint8_t *md5,
                    struct fsck_crc *crc)
{
    int64_t off = 0;
    char rel[64];
    if (md5 != NULL)
        memset(md5, 0, 16);
    file_rel(id, rel);
    int fd = openat(f->objfd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    struct gz_hash h;
    gz_hash_init(&h, GZ_HASH_MD5);
    int rc = 0;
    for (;;) {
        ssize_t n = pread(fd, f->buf, FSCK_READ_CHUNK, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : 0;
            break;
        }
        fsck_crc_chunk(f, crc, off, (size_t)n);
        off += n;
        if (md5 != NULL)
            gz_hash_update(&h, f->buf, (size_t)n);
        f->st->bytes_read += n;
        rate_wait(f, (size_t)n); /* pays for this read before the next one */
    }
    close(fd);
    uint8_t out[GZ_HASH_MAX_LEN];
    gz_hash_final(&h, out);
    if (md5 != NULL)
        memcpy(md5, out, 16);
    return rc;
}

/* Reports a body that could not be read during the content pass (a structure pass has
 * already reported missing files; a scrub alone reports them here). */
static void content_unreadable(struct fsck *f, struct store_fsck_problem *p, const uint8_t *id,
                               int err)
{
    char fname[64];
    if (err == -ENOENT && f->o->structure)
        return;
    file_name(id, fname);
    p->file = fname;
    p->kind = STORE_FSCK_MISSING;
    fsck_report(f, p, "cannot read the body: %s", strerror(-err));
}

static void content_verdict(struct fsck *f, struct store_fsck_problem *p, const char *want,
                            const char *got)
{
    f->st->verified++;
    if (strcmp(want, got) == 0)
        return;
    p->kind = STORE_FSCK_CONTENT;
    if (strchr(want, '-') != NULL)
        fsck_report(f, p,
                    "the ETag recomputed from the parts' MD5s is %s, the recorded one %s"
                    " (a part's bytes changed)",
                    got, want);
    else
        fsck_report(f, p, "the bytes' MD5 is %s, the ETag %s", got, want);
}

/* A multipart object: MD5 of each part's file, then the ETag over them ("<md5>-N"). With
 * etag NULL (encrypted at rest, or an ETag of another form) only the parts' block CRCs are
 * checked, and parts without CRCs are not read. */
static int content_multipart(struct fsck *f, struct store_fsck_problem *base, int64_t bid,
                             const char *etag)
{
    sqlite3_stmt *st;
    int rc = fsck_prepare(f,
                          f->crc_cols ? "SELECT p.num,p.file,f.crc,p.size FROM object_parts p"
                                        " LEFT JOIN files f ON f.id=p.file"
                                        " WHERE p.bucket=?1 AND p.key=?2 ORDER BY p.num"
                                      : "SELECT num,file,NULL,size FROM object_parts"
                                        " WHERE bucket=?1 AND key=?2 ORDER BY num",
                          &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, bid);
    store__bind_slice(st, 2, base->key);
    struct gz_hash all;
    gz_hash_init(&all, GZ_HASH_MD5);
    int n = 0, bad = 0;
    uint8_t id[STORE__ID_LEN], md5[16] = {0};
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        n++;
        struct fsck_crc crc = fsck_crc_col(f, st, 2, sqlite3_column_int64(st, 3));
        if (etag == NULL && !crc.has) {
            f->st->unprotected++; /* nothing to check it against */
            continue;
        }
        int err = col_id(st, 1, id) ? file_md5(f, id, etag ? md5 : NULL, &crc) : -EINVAL;
        struct store_fsck_problem p = *base;
        p.part = sqlite3_column_int(st, 0);
        if (err < 0 && bad++ == 0)
            content_unreadable(f, &p, id, err);
        if (err == 0)
            fsck_crc_verdict(f, &p, &crc);
        if (err == 0 && crc.has && crc.bad != -1)
            bad++; /* reported: the ETag over the parts would only say it again */
        gz_hash_update(&all, md5, 16);
    }
    sqlite3_finalize(st);
    uint8_t out[GZ_HASH_MAX_LEN];
    gz_hash_final(&all, out);
    if (rc != SQLITE_DONE)
        return store__sql_err(rc);
    if (etag != NULL && bad == 0) {
        char got[48];
        gz_hex_encode(got, out, 16);
        snprintf(got + 32, sizeof(got) - 32, "-%d", n);
        content_verdict(f, base, etag, got);
    }
    return 0;
}

/* Is etag "<32 lower-case hex>" (suffix NULL) or "<32 hex>-<N>" (suffix set)? */
static bool etag_md5_form(const char *etag, bool *multipart)
{
    size_t n = strlen(etag);
    for (size_t i = 0; i < 32; i++) {
        if (i >= n || gz_hex_digit(etag[i]) < 0)
            return false;
    }
    *multipart = n > 32;
    return n == 32 || (etag[32] == '-' && n > 33);
}

/* Do the stored headers hold opts.opaque_header (the body is not what the ETag covers)? */
static bool headers_opaque(struct fsck *f, struct gz_slice enc)
{
    struct gz_slice name, value;
    size_t pos = 0;
    if (f->o->opaque_header == NULL)
        return false;
    while (store_headers_next(enc, &pos, &name, &value)) {
        if (gz_slice_case_eq_cstr(name, f->o->opaque_header))
            return true;
    }
    return false;
}

/* Does the ETag say what MD5 the stored bytes must have (a body of `parts` parts, with these
 * stored headers)? Not for a body encrypted at rest (its ETag is the plaintext's MD5), nor an
 * ETag of another form: those are counted unverified, and only their block CRCs checked. */
static bool etag_checkable(struct fsck *f, const char *etag, int parts, struct gz_slice headers)
{
    bool multipart = false;
    if (etag == NULL || !etag_md5_form(etag, &multipart) || multipart != (parts > 0) ||
        headers_opaque(f, headers)) {
        f->st->unverified++;
        return false;
    }
    return true;
}

/* One body file: its CRCs (and MD5 against etag, if not NULL) checked, problems reported.
 * Not read if there is nothing to check it against. */
static void content_file(struct fsck *f, struct store_fsck_problem *p, const uint8_t *id,
                         const char *etag, struct fsck_crc *crc)
{
    uint8_t md5[16];
    char got[33];
    if (etag == NULL && !crc->has) {
        f->st->unprotected++;
        return;
    }
    int err = file_md5(f, id, etag ? md5 : NULL, crc);
    if (err < 0) {
        content_unreadable(f, p, id, err);
        return;
    }
    fsck_crc_verdict(f, p, crc);
    if (etag == NULL || (crc->has && crc->bad != -1))
        return; /* one report per body */
    gz_hex_encode(got, md5, 16);
    content_verdict(f, p, etag, got);
}

/* One object (columns: bucket name, key, etag, parts, file, data, bucket id, headers, crc,
 * size). */
static int content_object(struct fsck *f, sqlite3_stmt *st)
{
    struct store_fsck_problem p = {0};
    const char *etag = (const char *)sqlite3_column_text(st, 2);
    uint8_t id[STORE__ID_LEN], md5[16];
    char got[33];
    p.bucket = store__col_slice(st, 0);
    p.key = store__col_slice(st, 1);
    if (!etag_checkable(f, etag, sqlite3_column_int(st, 3), store__col_slice(st, 7)))
        etag = NULL;
    if (sqlite3_column_int(st, 3) > 0)
        return content_multipart(f, &p, sqlite3_column_int64(st, 6), etag);
    struct fsck_crc crc = fsck_crc_col(f, st, 8, sqlite3_column_int64(st, 9));
    if (col_id(st, 4, id)) {
        content_file(f, &p, id, etag, &crc);
        return 0;
    }
    if (etag == NULL && !crc.has) {
        f->st->unprotected++;
        return 0;
    }
    struct gz_slice d = store__col_slice(st, 5);
    if (crc.has)
        crc.bad = store__blocksum_check(crc.crc, (int64_t)d.len, 0, d.ptr, d.len);
    rate_wait(f, d.len);
    f->st->bytes_read += (int64_t)d.len;
    fsck_crc_verdict(f, &p, &crc);
    if (etag == NULL || (crc.has && crc.bad != -1))
        return 0; /* one report per body */
    gz_md5(d.ptr, d.len, md5);
    gz_hex_encode(got, md5, 16);
    content_verdict(f, &p, etag, got);
    return 0;
}

/* A pending upload's part (columns: bucket name, key, upload, num, etag, file, upload's
 * headers, crc, size): its ETag is the part's MD5, unless encrypted at rest. */
static void content_upload_part(struct fsck *f, sqlite3_stmt *st)
{
    struct store_fsck_problem p = {.bucket = store__col_slice(st, 0),
                                   .key = store__col_slice(st, 1),
                                   .upload_id = (const char *)sqlite3_column_text(st, 2),
                                   .part = sqlite3_column_int(st, 3)};
    const char *etag = (const char *)sqlite3_column_text(st, 4);
    uint8_t id[STORE__ID_LEN];
    if (!col_id(st, 5, id)) {
        f->st->unverified++; /* the structure pass reports the row */
        return;
    }
    if (!etag_checkable(f, etag, 0, store__col_slice(st, 6)))
        etag = NULL;
    struct fsck_crc crc = fsck_crc_col(f, st, 7, sqlite3_column_int64(st, 8));
    content_file(f, &p, id, etag, &crc);
}

static int pass_content(struct fsck *f)
{
    sqlite3_stmt *st;
    bool count = !f->o->structure;
    int rc = fsck_prepare(f,
                          f->crc_cols ? "SELECT b.name,o.key,o.etag,o.parts,o.file," FSCK_DATA ","
                                        "o.bucket,o.headers,CASE WHEN o.file IS NULL THEN "
                                        FSCK_ICRC " ELSE"
                                        " (SELECT crc FROM files WHERE id=o.file) END,o.size"
                                        " FROM objects o JOIN buckets b ON b.id=o.bucket"
                                        " ORDER BY b.name,o.key"
                                      : "SELECT b.name,o.key,o.etag,o.parts,o.file,o.data,o.bucket,"
                                        "o.headers,NULL,o.size FROM objects o"
                                        " JOIN buckets b ON b.id=o.bucket ORDER BY b.name,o.key",
                          &st);
    while (rc == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        f->st->objects += count;
        rc = content_object(f, st);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != 0)
        return rc < 0 ? rc : store__sql_err(rc);
    rc = fsck_prepare(f,
                      f->crc_cols ? "SELECT b.name,u.key,p.upload,p.num,p.etag,p.file,u.headers,"
                                    "(SELECT crc FROM files WHERE id=p.file),p.size"
                                    " FROM upload_parts p JOIN uploads u ON u.id=p.upload"
                                    " JOIN buckets b ON b.id=u.bucket ORDER BY p.upload,p.num"
                                  : "SELECT b.name,u.key,p.upload,p.num,p.etag,p.file,u.headers,"
                                    "NULL,p.size FROM upload_parts p"
                      " JOIN uploads u ON u.id=p.upload JOIN buckets b ON b.id=u.bucket"
                      " ORDER BY p.upload,p.num",
                      &st);
    while (rc == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        content_upload_part(f, st);
        rc = 0;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : rc < 0 ? rc : store__sql_err(rc);
}

/* ---- opening, the repair transaction, closing ---- */

static int fsck_lock(struct fsck *f)
{
    struct stat sb;
    f->dirfd = open(f->o->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (f->dirfd < 0)
        return -errno;
    if (fstatat(f->dirfd, "index.db", &sb, 0) < 0)
        return -ENOENT;
    f->lockfd = openat(f->dirfd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (f->lockfd < 0)
        return -errno;
    if (flock(f->lockfd, LOCK_EX | LOCK_NB) < 0)
        return errno == EWOULDBLOCK ? -EBUSY : -errno;
    f->objfd = openat(f->dirfd, "objects", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return f->objfd < 0 ? -errno : 0;
}

static int fsck_open_db(struct fsck *f)
{
    char path[4096];
    int flags = f->o->repair ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY;
    if ((size_t)snprintf(path, sizeof(path), "%s/index.db", f->o->data_dir) >= sizeof(path))
        return -ENAMETOOLONG;
    int rc = sqlite3_open_v2(path, &f->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        log_error("fsck: open %s: %s", path, sqlite3_errstr(rc));
        return store__sql_err(rc);
    }
    sqlite3_extended_result_codes(f->db, 1);
    sqlite3_stmt *st;
    rc = fsck_prepare(f, "PRAGMA user_version", &st);
    if (rc < 0)
        return GZ_ECORRUPT;
    int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    f->crc_cols = v >= 3;
    f->bodies = v >= 4;
    if (v != FSCK_SCHEMA_VERSION && v != 3 && v != 2) {
        log_error("fsck: %s has index schema %lld; this build checks schema %d", path, (long long)v,
                  FSCK_SCHEMA_VERSION);
        return GZ_ECORRUPT;
    }
    return f->o->repair ? fsck_sql(f, "PRAGMA synchronous=FULL") : 0;
}

/* Unlinks the files whose last reference the committed repair dropped. */
static void fsck_unlink_dropped(struct fsck *f)
{
    for (size_t i = 0; i < f->unlinks.n; i++) {
        char rel[64];
        file_rel(f->unlinks.ids[i], rel);
        if (unlinkat(f->objfd, rel, 0) < 0 && errno != ENOENT)
            log_warn("fsck: unlink objects/%s: %s", rel, strerror(errno));
    }
    if (f->unlinks.n > 0)
        (void)fsync(f->objfd);
}

static int fsck_structure(struct fsck *f)
{
    int rc = refs_build(f);
    if (rc == 0)
        rc = pass_orphans(f);
    if (rc == 0 && f->o->repair)
        rc = fsck_sql(f, "BEGIN IMMEDIATE");
    if (rc < 0)
        return rc;
    rc = pass_objects(f);
    if (rc == 0)
        rc = pass_dangling_object_parts(f);
    if (rc == 0 && f->bodies)
        rc = pass_dangling_bodies(f);
    if (rc == 0)
        rc = pass_uploads(f);
    if (rc == 0)
        rc = pass_refs(f);
    if (rc == 0)
        rc = pass_usage(f);
    if (f->o->repair) {
        if (rc == 0)
            rc = fsck_sql(f, "COMMIT");
        if (rc < 0) {
            fsck_sql(f, "ROLLBACK");
            return rc;
        }
        fsck_unlink_dropped(f);
    }
    return rc;
}

int store_fsck_run(const struct store_fsck_opts *opts, struct store_fsck_stats *st)
{
    struct fsck f = {.o = opts, .st = st, .dirfd = -1, .lockfd = -1, .objfd = -1};
    int rc;
    memset(st, 0, sizeof(*st));
    if (opts == NULL || opts->data_dir == NULL || opts->data_dir[0] == '\0')
        return -EINVAL;
    rc = fsck_lock(&f);
    if (rc == 0)
        rc = fsck_open_db(&f);
    if (rc == 0 && opts->structure)
        rc = fsck_structure(&f);
    if (rc == 0 && opts->content) {
        f.buf = gz_malloc(FSCK_READ_CHUNK);
        f.next_ns = gz_monotonic_ns();
        rc = pass_content(&f);
    }
    if (f.db != NULL)
        sqlite3_close(f.db);
    store__idvec_free(&f.unlinks);
    gz_free(f.buf);
    if (f.objfd >= 0)
        close(f.objfd);
    if (f.lockfd >= 0)
        close(f.lockfd);
    if (f.dirfd >= 0)
        close(f.dirfd);
    return rc;
}
