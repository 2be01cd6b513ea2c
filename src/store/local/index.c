/*
 * index.c - the SQLite index: schema, the statement table, connections (one write connection
 * owned by the committer, a pool of read-only ones for readers) and small helpers shared by
 * the apply functions.
 *
 * Keys and bucket names are BLOBs so that comparisons are memcmp (binary, UTF-8 byte order)
 * and listing is a range scan of the (bucket, key) primary key.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>

#include "local_int.h"

static const char *const schema_sql =
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS buckets(id INTEGER PRIMARY KEY, name BLOB NOT NULL UNIQUE,"
    " region TEXT NOT NULL, owner TEXT NOT NULL, created_ms INTEGER NOT NULL);"
    /* file: the body file id (simple file-backed object); data: the inline body; both NULL
     * for a multipart object (parts > 0), whose bodies are its object_parts rows. Schema 4
     * moves data (and schema 3's crc) into inline_bodies (bodies.c). */
    "CREATE TABLE IF NOT EXISTS objects(bucket INTEGER NOT NULL, key BLOB NOT NULL,"
    " size INTEGER NOT NULL, mtime_ms INTEGER NOT NULL, etag TEXT NOT NULL,"
    " parts INTEGER NOT NULL, file BLOB, headers BLOB NOT NULL, data BLOB,"
    " PRIMARY KEY(bucket, key)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS object_parts(bucket INTEGER NOT NULL, key BLOB NOT NULL,"
    " num INTEGER NOT NULL, size INTEGER NOT NULL, offset INTEGER NOT NULL,"
    " file BLOB NOT NULL, PRIMARY KEY(bucket, key, num)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS uploads(id TEXT PRIMARY KEY, bucket INTEGER NOT NULL,"
    " key BLOB NOT NULL, initiated_ms INTEGER NOT NULL, headers BLOB NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS uploads_by_key ON uploads(bucket, key, initiated_ms, id);"
    "CREATE TABLE IF NOT EXISTS upload_parts(upload TEXT NOT NULL, num INTEGER NOT NULL,"
    " size INTEGER NOT NULL, mtime_ms INTEGER NOT NULL, etag TEXT NOT NULL,"
    " file BLOB NOT NULL, PRIMARY KEY(upload, num)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS files(id BLOB PRIMARY KEY, refs INTEGER NOT NULL)"
    " WITHOUT ROWID;";

static const char *const stmt_sql[ST__COUNT] = {
    [ST_BEGIN] = "BEGIN",
    [ST_BEGIN_IMM] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SAVEPOINT] = "SAVEPOINT op",
    [ST_RELEASE] = "RELEASE op",
    [ST_ROLLBACK_TO] = "ROLLBACK TO op",
    [ST_META_GET] = "SELECT v FROM meta WHERE k=?1",
    [ST_META_SET] = "INSERT INTO meta(k,v) VALUES(?1,?2) ON CONFLICT(k) DO UPDATE SET v=?2",
    [ST_FILE_EXISTS] = "SELECT 1 FROM files WHERE id=?1",
    [ST_FILE_NEW] = "INSERT INTO files(id,refs,crc) VALUES(?1,1,?2)",
    [ST_FILE_UNREF] = "UPDATE files SET refs=refs-1 WHERE id=?1 RETURNING refs",
    [ST_FILE_DEL] = "DELETE FROM files WHERE id=?1",
    [ST_FILE_COUNT] = "SELECT count(*) FROM files",
    [ST_BKT_ID] = "SELECT id FROM buckets WHERE name=?1",
    [ST_BKT_GET] = "SELECT name,region,owner,created_ms FROM buckets WHERE name=?1",
    [ST_BKT_INS] = "INSERT INTO buckets(name,region,owner,created_ms) VALUES(?1,?2,?3,?4)",
    [ST_BKT_DEL] = "DELETE FROM buckets WHERE id=?1",
    [ST_BKT_LIST] = "SELECT name,region,owner,created_ms FROM buckets ORDER BY name",
    [ST_BKT_LIST_OWNER] =
        "SELECT name,region,owner,created_ms FROM buckets WHERE owner=?1 ORDER BY name",
    [ST_BKT_HAS_OBJ] = "SELECT 1 FROM objects WHERE bucket=?1 LIMIT 1",
    [ST_BKT_HAS_UPL] = "SELECT 1 FROM uploads WHERE bucket=?1 LIMIT 1",
    [ST_OBJ_STAT] =
        "SELECT size,mtime_ms,etag,parts,headers FROM objects WHERE bucket=?1 AND key=?2",
    /* by bucket name: reader.c reads a simple object with this one statement */
    [ST_OBJ_OPEN] = "SELECT o.size,o.mtime_ms,o.etag,o.parts,o.headers,o.file,d.data,b.id,"
                    "CASE WHEN o.file IS NULL THEN d.crc"
                    " ELSE (SELECT crc FROM files WHERE id=o.file) END,o.bad"
                    " FROM buckets b JOIN objects o ON o.bucket=b.id"
                    " LEFT JOIN inline_bodies d ON d.id=o.body"
                    " WHERE b.name=?1 AND o.key=?2",
    [ST_OBJ_REFS] = "SELECT file,parts,size,body FROM objects WHERE bucket=?1 AND key=?2",
    [ST_OBJ_PUT] = "INSERT OR REPLACE INTO objects(bucket,key,size,mtime_ms,etag,parts,file,"
                   "headers,body) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)",
    [ST_OBJ_DEL] = "DELETE FROM objects WHERE bucket=?1 AND key=?2",
    [ST_OBJ_SET_META] = "UPDATE objects SET headers=coalesce(?3,headers), mtime_ms=?4"
                        " WHERE bucket=?1 AND key=?2",
    [ST_OBJ_COPY] = "INSERT INTO objects(bucket,key,size,mtime_ms,etag,parts,file,headers,body,"
                    "bad) SELECT ?3,?4,size,?5,etag,parts,file,coalesce(?6,headers),?7,bad"
                    " FROM objects WHERE bucket=?1 AND key=?2",
    [ST_OBJ_FILE_REF] = "UPDATE files SET refs=refs+1 WHERE id=(SELECT file FROM objects"
                        " WHERE bucket=?1 AND key=?2)",
    [ST_OPART_LIST] = "SELECT p.num,p.size,p.offset,p.file,f.crc FROM object_parts p"
                      " LEFT JOIN files f ON f.id=p.file WHERE p.bucket=?1 AND p.key=?2"
                      " ORDER BY p.num",
    [ST_OPART_GET] =
        "SELECT p.size,p.offset,p.file,f.crc FROM object_parts p LEFT JOIN files f"
        " ON f.id=p.file WHERE p.bucket=?1 AND p.key=?2 AND p.num=?3",
    [ST_OPART_DEL] = "DELETE FROM object_parts WHERE bucket=?1 AND key=?2",
    [ST_OPART_INS] = "INSERT INTO object_parts(bucket,key,num,size,offset,file)"
                     " VALUES(?1,?2,?3,?4,?5,?6)",
    [ST_OPART_COPY] = "INSERT INTO object_parts(bucket,key,num,size,offset,file)"
                      " SELECT ?3,?4,num,size,offset,file FROM object_parts"
                      " WHERE bucket=?1 AND key=?2",
    [ST_OPART_REF] = "UPDATE files SET refs=refs+1 WHERE id IN (SELECT file FROM object_parts"
                     " WHERE bucket=?1 AND key=?2)",
    [ST_LIST_FROM] = "SELECT key,size,mtime_ms,etag FROM objects WHERE bucket=?1 AND key>=?2"
                     " ORDER BY key",
    [ST_LIST_RANGE] = "SELECT key,size,mtime_ms,etag FROM objects WHERE bucket=?1 AND key>=?2"
                      " AND key<?3 ORDER BY key",
    [ST_UPL_INS] =
        "INSERT INTO uploads(id,bucket,key,initiated_ms,headers) VALUES(?1,?2,?3,?4,?5)",
    [ST_UPL_GET] = "SELECT bucket,key,initiated_ms,headers FROM uploads WHERE id=?1",
    [ST_UPL_DEL] = "DELETE FROM uploads WHERE id=?1",
    [ST_UPL_LIST] = "SELECT key,id,initiated_ms,headers FROM uploads WHERE bucket=?1"
                    " AND (key,initiated_ms,id)>(?2,?3,?4) ORDER BY key,initiated_ms,id",
    [ST_UPL_LIST_RANGE] = "SELECT key,id,initiated_ms,headers FROM uploads WHERE bucket=?1"
                          " AND (key,initiated_ms,id)>(?2,?3,?4) AND key<?5"
                          " ORDER BY key,initiated_ms,id",
    [ST_UPART_GET] = "SELECT size,etag,file FROM upload_parts WHERE upload=?1 AND num=?2",
    [ST_UPART_PUT] = "INSERT OR REPLACE INTO upload_parts(upload,num,size,mtime_ms,etag,file)"
                     " VALUES(?1,?2,?3,?4,?5,?6)",
    [ST_UPART_LIST] = "SELECT num,size,mtime_ms,etag FROM upload_parts WHERE upload=?1"
                      " AND num>?2 ORDER BY num",
    [ST_UPART_FILES] = "SELECT num,file FROM upload_parts WHERE upload=?1",
    [ST_UPART_DEL_ALL] = "DELETE FROM upload_parts WHERE upload=?1",
    /* usage.c, attr.c (schema 2) */
    [ST_USAGE_BKT_ADD] = "UPDATE buckets SET bytes=bytes+?2, objects=objects+?3 WHERE id=?1",
    [ST_USAGE_OWNER_ADD] = "INSERT INTO owners(owner,bytes,objects) VALUES(?1,?2,?3)"
                           " ON CONFLICT(owner) DO UPDATE SET bytes=bytes+?2, objects=objects+?3",
    [ST_USAGE_BKT_GET] =
        "SELECT bytes,objects,max_bytes,max_objects FROM buckets WHERE name=?1",
    [ST_USAGE_BKT_ROW] =
        "SELECT owner,bytes,objects,max_bytes,max_objects FROM buckets WHERE id=?1",
    [ST_USAGE_OWNER_GET] =
        "SELECT bytes,objects,max_bytes,max_objects FROM owners WHERE owner=?1",
    [ST_QUOTA_BKT_SET] = "UPDATE buckets SET max_bytes=?2, max_objects=?3 WHERE name=?1",
    [ST_QUOTA_OWNER_SET] = "INSERT INTO owners(owner,max_bytes,max_objects) VALUES(?1,?2,?3)"
                           " ON CONFLICT(owner) DO UPDATE SET max_bytes=?2, max_objects=?3",
    [ST_QUOTA_CHECK] = "SELECT b.id,b.bytes,b.objects,b.max_bytes,b.max_objects,"
                       "coalesce(o.bytes,0),coalesce(o.objects,0),coalesce(o.max_bytes,-1),"
                       "coalesce(o.max_objects,-1) FROM buckets b"
                       " LEFT JOIN owners o ON o.owner=b.owner WHERE b.name=?1",
    [ST_BKT_OWNER_SET] = "UPDATE buckets SET owner=?2 WHERE id=?1",
    [ST_ATTR_GET] = "SELECT value FROM bucket_attrs WHERE bucket=?1 AND name=?2",
    [ST_ATTR_SET] = "INSERT INTO bucket_attrs(bucket,name,value) VALUES(?1,?2,?3)"
                    " ON CONFLICT(bucket,name) DO UPDATE SET value=?3",
    [ST_ATTR_DEL] = "DELETE FROM bucket_attrs WHERE bucket=?1 AND name=?2",
    [ST_ATTR_DEL_ALL] = "DELETE FROM bucket_attrs WHERE bucket=?1",
    /* scrub.c (schema 3) */
    [ST_OBJ_MARK] = "UPDATE objects SET bad=?5 WHERE bucket=?1 AND key=?2 AND etag=?3"
                    " AND mtime_ms=?4 AND file IS ?6",
    [ST_CORRUPT_LIST] = "SELECT b.name,o.key,o.bad,o.mtime_ms,o.etag FROM objects o"
                        " JOIN buckets b ON b.id=o.bucket WHERE o.bad IS NOT NULL"
                        " ORDER BY b.name,o.key",
    [ST_CORRUPT_COUNT] = "SELECT count(*) FROM objects WHERE bad IS NOT NULL",
    [ST_SCRUB_NEXT] = "SELECT o.bucket,o.key,o.size,o.mtime_ms,o.etag,o.parts,o.file,d.data,"
                      "CASE WHEN o.file IS NULL THEN d.crc"
                      " ELSE (SELECT crc FROM files WHERE id=o.file) END,o.headers,b.name"
                      " FROM objects o JOIN buckets b ON b.id=o.bucket"
                      " LEFT JOIN inline_bodies d ON d.id=o.body"
                      " WHERE (o.bucket,o.key)>(?1,?2) ORDER BY o.bucket,o.key LIMIT ?3",
    /* bodies.c (schema 4) */
    [ST_BODY_INS] = "INSERT INTO inline_bodies(data,crc) VALUES(?1,?2)",
    [ST_BODY_DEL] = "DELETE FROM inline_bodies WHERE id=?1",
    [ST_BODY_COPY] = "INSERT INTO inline_bodies(data,crc) SELECT d.data,d.crc FROM objects o"
                     " JOIN inline_bodies d ON d.id=o.body WHERE o.bucket=?1 AND o.key=?2",
};

int store__sql_err(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return 0;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return GZ_ECORRUPT;
    case SQLITE_CONSTRAINT:
        return -EEXIST;
    case SQLITE_READONLY:
    case SQLITE_PERM:
        return -EPERM;
    case SQLITE_CANTOPEN:
        return -ENOENT;
    default:
        return -EIO;
    }
}

static int conn_exec_str(struct store__conn *c, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        log_error("store: %s: %s", sql, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return store__sql_err(rc);
    }
    return 0;
}

/* SQLite counts every allocation under one global mutex unless told not to (MEMSTATUS); with
 * two loop threads reading, that mutex was where they met (futex waits on every GET). It can
 * only be switched off before the library initialises, so it is tried once before the first
 * open; if another module initialised SQLite first the call fails harmlessly. */
static pthread_once_t conn_config_once = PTHREAD_ONCE_INIT;

/* The index generation (store__index_gen): a process-wide counter bumped by the WAL hook of
 * every write connection once a transaction has committed (it runs after the commit is
 * visible to readers) and whenever a connection opens or closes. A reader that saw the same
 * value before and after using something it cached knows no commit happened in between:
 * reader.c's small object cache relies on it. One counter for all stores in the process: a
 * commit in one store only costs the others some cache misses. Only ever incremented. */
static _Atomic uint64_t conn_index_gen = 1;

uint64_t store__index_gen(void)
{
    return atomic_load_explicit(&conn_index_gen, memory_order_acquire);
}

uint64_t store_generation(const struct store *s)
{
    (void)s; /* one counter for every store in the process (see above) */
    return store__index_gen();
}

static void conn_gen_bump(void)
{
    atomic_fetch_add_explicit(&conn_index_gen, 1, memory_order_acq_rel);
}

/* Replaces SQLite's default WAL hook, so it also does that hook's job: a passive checkpoint
 * once the WAL holds STORE__WAL_AUTOCHECKPOINT frames (SQLite's default of 1000). */
#define STORE__WAL_AUTOCHECKPOINT 1000

static int conn_wal_hook(void *ud, sqlite3 *db, const char *name, int nframes)
{
    (void)ud;
    conn_gen_bump();
    if (nframes >= STORE__WAL_AUTOCHECKPOINT)
        (void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return SQLITE_OK;
}

static void conn_config(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int store__conn_open(struct store *s, bool readonly, struct store__conn **out)
{
    char path[4096];
    struct store__conn *c = gz_calloc(1, sizeof(*c));
    int flags = SQLITE_OPEN_NOMUTEX |
                (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    int rc;

    *out = NULL;
    pthread_once(&conn_config_once, conn_config);
    snprintf(path, sizeof(path), "%s/index.db", s->dir);
    rc = sqlite3_open_v2(path, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        log_error("store: open %s: %s", path, sqlite3_errstr(rc));
        rc = store__sql_err(rc);
        goto out;
    }
    conn_gen_bump();
    sqlite3_busy_timeout(c->db, 10000);
    if (!readonly)
        sqlite3_wal_hook(c->db, conn_wal_hook, NULL);
    sqlite3_extended_result_codes(c->db, 1);
    if (readonly) {
        rc = conn_exec_str(c, "PRAGMA mmap_size=1073741824; PRAGMA cache_size=-8192;");
    } else {
        rc = conn_exec_str(c, "PRAGMA journal_mode=WAL; PRAGMA mmap_size=1073741824;"
                              " PRAGMA cache_size=-65536; PRAGMA journal_size_limit=67108864;");
        if (rc == 0)
            rc = conn_exec_str(c, s->sync ? "PRAGMA synchronous=FULL"
                                          : "PRAGMA synchronous=OFF");
    }
out:
    if (rc < 0) {
        store__conn_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

void store__conn_close(struct store__conn *c)
{
    if (c == NULL)
        return;
    for (int i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(c->st[i]);
    if (sqlite3_close(c->db) != SQLITE_OK)
        log_error("store: sqlite3_close: %s", sqlite3_errmsg(c->db));
    gz_free(c);
    conn_gen_bump();
}

int store__schema_init(struct store__conn *c)
{
    int rc = conn_exec_str(c, "BEGIN IMMEDIATE");
    if (rc < 0)
        return rc;
    rc = conn_exec_str(c, schema_sql); /* schema 1; usage.c upgrades it */
    if (rc == 0)
        rc = store__schema_upgrade(c);
    if (rc == 0)
        return conn_exec_str(c, "COMMIT");
    conn_exec_str(c, "ROLLBACK");
    return rc;
}

/*
 * Kept read transactions. Every read used to be its own transaction, and beginning and ending
 * one takes and drops a WAL read lock: two fcntl calls made under a mutex SQLite shares among
 * all connections to the file, so the loop threads queued on it whenever their reads missed
 * the row caches. A pooled connection now keeps its read transaction (snapshot) open between
 * uses, and store__conn_get reuses it while store__index_gen() is unchanged, that is while
 * nothing has committed: the generation is bumped by the WAL hook after a commit is visible and
 * before its writer is told, so a snapshot taken at an unchanged generation has every
 * acknowledged write. Otherwise the old transaction ends and a new one begins (as before).
 *
 * A kept snapshot would stop the WAL from restarting at its beginning (SQLite does that when
 * a commit writes its frames after a complete checkpoint, if no reader holds a WAL read lock),
 * so a writer ends the kept transactions of idle pooled connections right before it commits
 * (store__conn_pool_unpin); one in use by a reader at that moment ends with the use, as before.
 */
static int conn_snapshot(struct store__conn *c)
{
    if (c->snap && sqlite3_get_autocommit(c->db))
        c->snap = false; /* an error rolled it back */
    uint64_t gen = store__index_gen();
    if (c->snap && c->snap_gen == gen)
        return 0;
    if (c->snap) {
        c->snap = false;
        int rc = store__exec(c, ST_COMMIT);
        if (rc < 0)
            return rc;
    }
    int rc = store__exec(c, ST_BEGIN); /* deferred: the snapshot is taken by the first read */
    if (rc == 0) {
        c->snap = true;
        c->snap_gen = gen;
    }
    return rc;
}

int store__conn_get(struct store *s, struct store__conn **out)
{
    pthread_mutex_lock(&s->pool_mu);
    struct store__conn *c = s->pool;
    if (c != NULL)
        s->pool = c->next;
    pthread_mutex_unlock(&s->pool_mu);
    int rc = 0;
    if (c != NULL)
        c->next = NULL;
    else
        rc = store__conn_open(s, true, &c);
    if (rc == 0 && (rc = conn_snapshot(c)) < 0) {
        store__conn_put(s, c);
        return rc;
    }
    *out = rc == 0 ? c : NULL;
    return rc;
}

/* Ends c's read transaction (kept or left open by a failed reader). */
static void conn_unpin(struct store__conn *c)
{
    if (!sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, c->snap ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
    c->snap = false;
}

void store__conn_pool_unpin(struct store *s)
{
    pthread_mutex_lock(&s->pool_mu);
    for (struct store__conn *c = s->pool; c != NULL; c = c->next)
        if (c->snap)
            conn_unpin(c);
    pthread_mutex_unlock(&s->pool_mu);
}

void store__conn_put(struct store *s, struct store__conn *c)
{
    if (c == NULL)
        return;
    /* Only a kept snapshot stays open; anything else a reader left open is ended so the
     * connection does not pin an old snapshot of the WAL. */
    if (!c->snap || sqlite3_get_autocommit(c->db))
        conn_unpin(c);
    pthread_mutex_lock(&s->pool_mu);
    c->next = s->pool;
    s->pool = c;
    pthread_mutex_unlock(&s->pool_mu);
}

sqlite3_stmt *store__stmt(struct store__conn *c, enum store__stmt id)
{
    if (c->st[id] == NULL) {
        int rc = sqlite3_prepare_v3(c->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                    &c->st[id], NULL);
        if (rc != SQLITE_OK) {
            log_error("store: prepare %s: %s", stmt_sql[id], sqlite3_errmsg(c->db));
            c->st[id] = NULL;
            return NULL;
        }
    }
    return c->st[id];
}

void store__stmt_done(sqlite3_stmt *st)
{
    if (st == NULL)
        return;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

int store__bind_slice(sqlite3_stmt *st, int i, struct gz_slice v)
{
    if (v.len == 0)
        return sqlite3_bind_zeroblob(st, i, 0);
    return sqlite3_bind_blob64(st, i, v.ptr, v.len, SQLITE_STATIC);
}

int store__bind_id(sqlite3_stmt *st, int i, const uint8_t id[STORE__ID_LEN])
{
    return sqlite3_bind_blob(st, i, id, STORE__ID_LEN, SQLITE_STATIC);
}

struct gz_slice store__col_slice(sqlite3_stmt *st, int i)
{
    const void *p = sqlite3_column_blob(st, i);
    int n = sqlite3_column_bytes(st, i);
    return gz_slice(p ? p : "", p ? (size_t)n : 0);
}

int store__exec(struct store__conn *c, enum store__stmt id)
{
    sqlite3_stmt *st = store__stmt(c, id);
    if (st == NULL)
        return -EIO;
    int rc = sqlite3_step(st);
    store__stmt_done(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        log_error("store: %s: %s", stmt_sql[id], sqlite3_errmsg(c->db));
        return store__sql_err(rc);
    }
    return 0;
}

int store__exec_kv(struct store__conn *c, enum store__stmt id, int64_t bucket,
                   struct gz_slice key)
{
    sqlite3_stmt *st = store__stmt(c, id);
    if (st == NULL)
        return -EIO;
    sqlite3_bind_int64(st, 1, bucket);
    store__bind_slice(st, 2, key);
    int rc = sqlite3_step(st);
    store__stmt_done(st);
    if (rc != SQLITE_DONE) {
        log_error("store: %s: %s", stmt_sql[id], sqlite3_errmsg(c->db));
        return store__sql_err(rc);
    }
    return 0;
}

int store__bucket_id(struct store__conn *c, struct gz_slice name, int64_t *id)
{
    sqlite3_stmt *st = store__stmt(c, ST_BKT_ID);
    if (st == NULL)
        return -EIO;
    store__bind_slice(st, 1, name);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    store__stmt_done(st);
    if (rc == SQLITE_ROW)
        return 0;
    return rc == SQLITE_DONE ? GZ_ENOBUCKET : store__sql_err(rc);
}

int store__file_new(struct store__conn *c, const uint8_t id[STORE__ID_LEN], struct gz_slice crc)
{
    sqlite3_stmt *st = store__stmt(c, ST_FILE_NEW);
    if (st == NULL)
        return -EIO;
    store__bind_id(st, 1, id);
    store__bind_slice(st, 2, crc);
    int rc = sqlite3_step(st);
    store__stmt_done(st);
    return rc == SQLITE_DONE ? 0 : store__sql_err(rc);
}

int store__file_unref(struct store__conn *c, const uint8_t id[STORE__ID_LEN],
                      struct store__idvec *unlinks)
{
    sqlite3_stmt *st = store__stmt(c, ST_FILE_UNREF);
    if (st == NULL)
        return -EIO;
    store__bind_id(st, 1, id);
    int rc = sqlite3_step(st);
    int64_t refs = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 1;
    if (rc == SQLITE_ROW)
        rc = sqlite3_step(st); /* finish the UPDATE ... RETURNING */
    store__stmt_done(st);
    if (rc != SQLITE_DONE)
        return store__sql_err(rc);
    if (refs > 0)
        return 0;
    st = store__stmt(c, ST_FILE_DEL);
    if (st == NULL)
        return -EIO;
    store__bind_id(st, 1, id);
    rc = sqlite3_step(st);
    store__stmt_done(st);
    if (rc != SQLITE_DONE)
        return store__sql_err(rc);
    store__idvec_push(unlinks, id);
    return 0;
}

int store__meta_get(struct store__conn *c, const char *k, int64_t *v)
{
    sqlite3_stmt *st = store__stmt(c, ST_META_GET);
    if (st == NULL)
        return -EIO;
    sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *v = sqlite3_column_int64(st, 0);
    store__stmt_done(st);
    if (rc == SQLITE_ROW)
        return 0;
    return rc == SQLITE_DONE ? -ENOENT : store__sql_err(rc);
}

int store__meta_set(struct store__conn *c, const char *k, int64_t v)
{
    sqlite3_stmt *st = store__stmt(c, ST_META_SET);
    if (st == NULL)
        return -EIO;
    sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, v);
    int rc = sqlite3_step(st);
    store__stmt_done(st);
    return rc == SQLITE_DONE ? 0 : store__sql_err(rc);
}
