/*
 * local_int.h - private to the `local` store backend (src/store/local/): the SQLite index,
 * the object files, the group-commit queue. Nothing outside src/store/ includes this, except
 * tests/unit/test_store.c (for the debug counters).
 *
 * On-disk layout under data_dir:
 *   LOCK                  flock()ed while a process has the store open
 *   index.db (+ -wal)     the SQLite index (WAL mode); its schema version is PRAGMA
 *                         user_version (2: usage, quotas, bucket attributes; usage.c upgrades
 *                         a version 1 index, which kept it in meta.schema, at open)
 *   objects/XY/<32 hex>   object and part bodies, named by 128-bit random ids; XY is the id's
 *                         first byte. The 256 folders are created (and made durable) at open,
 *                         so a new file needs only an fsync of its own folder.
 *
 * Every file the index references has a row in `files` with a reference count (a copy
 * shares the source's files instead of rewriting bytes). A file is unlinked only after the
 * transaction that dropped its last reference has committed; a file with no `files` row is
 * an orphan (a body whose commit never happened, or an unlink lost in a crash), removed by
 * the sweep at store_open after an unclean shutdown.
 *
 * Threads: one committer thread owns the write connection and applies queued mutations in
 * batches (one transaction, one WAL fsync per batch); a few sync threads fdatasync new files
 * before their op reaches the committer; readers borrow read-only connections from a pool.
 */
#ifndef GZ_STORE_LOCAL_INT_H
#define GZ_STORE_LOCAL_INT_H

#include <pthread.h>
#include <sqlite3.h>

#include "../store.h"
#include "../../util/hash.h"

#define STORE__ID_LEN 16          /* bytes in a file id (32 hex characters in its name) */
#define STORE__SYNC_THREADS 4     /* parallel fdatasync of new files */
#define STORE__BATCH_MAX 2048     /* ops in one transaction at most */
#define STORE__HEADERS_MAX (1024 * 1024)
#define STORE__INLINE_MAX_LIMIT (16 * 1024 * 1024) /* larger inline_max is refused */
#define STORE__OPEN_RETRIES 8     /* re-reads of the index when a file vanished under open */

/* Prepared statements, cached per connection (index.c holds the SQL). */
enum store__stmt {
    ST_BEGIN, ST_BEGIN_IMM, ST_COMMIT, ST_ROLLBACK, ST_SAVEPOINT, ST_RELEASE, ST_ROLLBACK_TO,
    ST_META_GET, ST_META_SET,
    ST_FILE_EXISTS, ST_FILE_NEW, ST_FILE_UNREF, ST_FILE_DEL, ST_FILE_COUNT,
    ST_BKT_ID, ST_BKT_GET, ST_BKT_INS, ST_BKT_DEL, ST_BKT_LIST, ST_BKT_LIST_OWNER,
    ST_BKT_HAS_OBJ, ST_BKT_HAS_UPL,
    ST_OBJ_STAT, ST_OBJ_OPEN, ST_OBJ_REFS, ST_OBJ_PUT, ST_OBJ_DEL, ST_OBJ_SET_META, ST_OBJ_COPY,
    ST_OBJ_FILE_REF,
    ST_OPART_LIST, ST_OPART_GET, ST_OPART_DEL, ST_OPART_INS, ST_OPART_COPY, ST_OPART_REF,
    ST_LIST_FROM, ST_LIST_RANGE,
    ST_UPL_INS, ST_UPL_GET, ST_UPL_DEL, ST_UPL_LIST, ST_UPL_LIST_RANGE,
    ST_UPART_GET, ST_UPART_PUT, ST_UPART_LIST, ST_UPART_FILES, ST_UPART_DEL_ALL,
    ST_USAGE_BKT_ADD, ST_USAGE_OWNER_ADD, ST_USAGE_BKT_GET, ST_USAGE_BKT_ROW, ST_USAGE_OWNER_GET,
    ST_QUOTA_BKT_SET, ST_QUOTA_OWNER_SET, ST_QUOTA_CHECK, ST_BKT_OWNER_SET,
    ST_ATTR_GET, ST_ATTR_SET, ST_ATTR_DEL, ST_ATTR_DEL_ALL,
    ST_OBJ_MARK, ST_CORRUPT_LIST, ST_CORRUPT_COUNT, ST_SCRUB_NEXT,
    ST_BODY_INS, ST_BODY_DEL, ST_BODY_COPY,
    ST__COUNT
};

/* A SQLite connection with its statement cache. Used by one thread at a time. */
struct store__conn {
    sqlite3 *db;
    sqlite3_stmt *st[ST__COUNT];
    struct store__conn *next;   /* pool free list */
    bool snap;                  /* a read connection inside its kept read transaction */
    uint64_t snap_gen;          /* store__index_gen() when that transaction began */
};

/* A growable list of file ids (to unlink after a commit). */
struct store__idvec {
    uint8_t (*ids)[STORE__ID_LEN];
    size_t n, cap;
};

enum store__op_kind {
    OP_PUT, OP_DELETE, OP_COPY, OP_BUCKET_CREATE, OP_BUCKET_DELETE,
    OP_UPLOAD_CREATE, OP_PART, OP_COMPLETE, OP_ABORT,
    OP_BUCKET_OWNER, OP_BUCKET_QUOTA, OP_OWNER_QUOTA, OP_BUCKET_ATTR,
    OP_MARK_CORRUPT, OP_META_SET,
};

/* One queued mutation. Every slice is an owned copy (freed by store__op_free). */
enum store__op_state { OP_READY, OP_NEEDS_SYNC, OP_SYNCING };

struct store__op {
    struct store__op *next;         /* the commit queue, in submission order */
    struct store__op *sync_next;    /* the sync threads' work list */
    enum store__op_state state;     /* guarded by store.mu while queued */
    enum store__op_kind kind;
    store_done_cb done;
    void *ud;
    int status;
    struct store_writer *w;         /* PUT, PART: the body */
    struct gz_slice bucket, key;    /* the target (COPY: the source) */
    struct gz_slice bucket2, key2;  /* COPY: the destination */
    struct gz_slice headers;        /* BUCKET_ATTR: the value */
    bool has_headers;               /* COPY: replace headers; BUCKET_ATTR: set (else delete) */
    int64_t mtime_ms;
    char etag[48];
    char cond_etag[48];             /* COPY: required source etag, "" = none */
    char upload_id[STORE_UPLOAD_ID_LEN + 1];
    int part_number;
    struct store_part *parts;       /* COMPLETE */
    int nparts;
    struct store_bucket bkt;        /* BUCKET_CREATE; BUCKET_OWNER, OWNER_QUOTA: .owner */
    struct store_quota quota;       /* BUCKET_QUOTA, OWNER_QUOTA */
    struct store__idvec unlinks;    /* files whose last reference this op dropped */
    bool u_pending;                 /* usage change to apply if the op commits (usage.c) */
    int u_ent;                      /* ... to this bucket entry of store.uacc */
    struct store_usage u_delta;
    /* MARK_CORRUPT: bucket id (0: look bucket up by name: a reader's mark), key, etag,
     * mtime_ms and file as scanned or opened; headers = what failed.
     * META_SET: bid = meta.scrub_last_pass. */
    int64_t bid;
    struct gz_slice file;           /* a file id, or empty (inline, multipart) */
};

/* The usage changes of the batch being applied, by bucket and by owner (usage.c): loaded
 * from the index on first use in a batch, checked and updated in memory by each op, written
 * back once per batch before its COMMIT. Committer thread only. */
struct store__uacc_ent {
    int64_t bid;                    /* the bucket's id; 0 for an owner's entry */
    int owner;                      /* a bucket's entry: the index of its owner's entry */
    char name[65];                  /* the owner */
    struct store_usage used;        /* totals, including delta */
    struct store_usage delta;       /* not yet written to the index */
    struct store_quota quota;
};

struct store__uacc {
    struct store__uacc_ent *e;
    int n, cap;
};

/* A body's block checksums being computed as it streams (blocksum.c). */
struct store__blocksum {
    uint8_t *crc;                   /* 4 bytes per finished block */
    size_t n, cap;
    size_t fill;                    /* bytes in the current block */
    struct gz_hash h;               /* the current block's CRC32C */
};

/* The scrub thread's state (scrub.c): st, stop and kick guarded by mu. */
struct store__scrub {
    pthread_t tid;
    bool started, stop, kick;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct store_scrub_status st;
    int64_t next_ns;                /* token bucket (scrub thread only) */
    uint8_t *buf;                   /* read buffer (scrub thread only) */
};

struct store__stats {
    uint64_t txns;                  /* committed batches */
    uint64_t ops;                   /* ops applied */
    uint64_t max_batch;
    uint64_t file_syncs;
};

struct store {
    char *dir;
    int dirfd, objfd, lockfd;
    int subfd[256];                 /* objects/00 .. objects/ff */
    size_t inline_max;
    bool sync;

    struct store__conn *wconn;      /* committer thread only (and open/close) */
    struct store__uacc uacc;        /* committer thread only */
    pthread_t committer_tid;

    pthread_mutex_t pool_mu;
    struct store__conn *pool;       /* idle read-only connections */

    pthread_mutex_t mu;             /* guards everything below */
    pthread_cond_t cv_commit, cv_sync;
    struct store__op *cq_head, *cq_tail;    /* every queued op, in submission order */
    struct store__op *sq_head, *sq_tail;    /* those waiting for a sync thread */
    bool stopping, sync_exit, committer_exited;
    bool maybe_orphans;             /* a commit failed: files may be unreferenced */
    long live_files;                /* writers holding a body file (atomic) */
    pthread_t syncers[STORE__SYNC_THREADS];
    int nsyncers;
    bool committer_started;
    struct store__stats stats;
    bool verify_reads;              /* !store_config.no_verify_reads */
    int64_t read_failures;          /* atomic: reads that failed verification */
    struct store__scrub scrub;
};

struct store_writer {
    struct store *s;
    uint8_t *buf;                   /* inline bytes while no file exists */
    size_t len, cap;
    int fd;                         /* the body file, or -1 */
    bool has_file, synced;
    bool keep;                      /* the index references the file: do not unlink */
    uint8_t id[STORE__ID_LEN];
    int64_t size;
    int err;                        /* sticky write error */
    struct store__blocksum sum;     /* block CRCs of every byte written */
};

/* ---- index.c ---- */
/* Changes after every committed index transaction (and connection open/close) in this
 * process; see index.c. Readers use it to validate what they cached. */
uint64_t store__index_gen(void);
int store__conn_open(struct store *s, bool readonly, struct store__conn **out);
void store__conn_close(struct store__conn *c);
int store__schema_init(struct store__conn *c);
/* Borrows a read-only connection from the pool (opening one if none is idle), inside a read
 * transaction that sees every commit acknowledged before the call: all its statements read
 * one snapshot (callers issue no BEGIN/COMMIT). The transaction is kept across put/get while
 * nothing commits, so a read costs no WAL lock calls then; see index.c. */
int store__conn_get(struct store *s, struct store__conn **out);
void store__conn_put(struct store *s, struct store__conn *c);
/* Ends the kept read transactions of the idle pooled connections, so that they do not hold
 * the WAL back: called by a writer right before it commits (a commit is when SQLite restarts
 * a fully checkpointed WAL from its beginning, which no open read transaction may see). */
void store__conn_pool_unpin(struct store *s);
/* The cached statement, reset and unbound; NULL on error (logged). */
sqlite3_stmt *store__stmt(struct store__conn *c, enum store__stmt id);
/* Resets a statement after use (keeps it cached). NULL-safe. */
void store__stmt_done(sqlite3_stmt *st);
/* Binds a byte string as a BLOB (an empty slice as a zero-length BLOB, never NULL). */
int store__bind_slice(sqlite3_stmt *st, int i, struct gz_slice v);
int store__bind_id(sqlite3_stmt *st, int i, const uint8_t id[STORE__ID_LEN]);
/* Column as a slice (valid until the next step/reset). */
struct gz_slice store__col_slice(sqlite3_stmt *st, int i);
/* Runs a statement that returns no rows; 0 or a negative error. */
int store__exec(struct store__conn *c, enum store__stmt id);
/* Runs a no-row statement bound as (?1 bucket id, ?2 key). */
int store__exec_kv(struct store__conn *c, enum store__stmt id, int64_t bucket,
                   struct gz_slice key);
/* Maps a SQLite result code to a negative errno / GZ_E*. */
int store__sql_err(int rc);
/* Bucket name -> id: 0 and *id, or GZ_ENOBUCKET / error. */
int store__bucket_id(struct store__conn *c, struct gz_slice name, int64_t *id);
/* Adds a reference-1 row for a new file with its block checksums. */
int store__file_new(struct store__conn *c, const uint8_t id[STORE__ID_LEN], struct gz_slice crc);
/* Drops a reference; at zero the row goes and the id joins *unlinks. */
int store__file_unref(struct store__conn *c, const uint8_t id[STORE__ID_LEN],
                      struct store__idvec *unlinks);
int store__meta_get(struct store__conn *c, const char *k, int64_t *v);
int store__meta_set(struct store__conn *c, const char *k, int64_t v);

/* ---- local.c ---- */
/* Opens objects/XY/<hex id> read-only; -errno. */
int store__file_open(struct store *s, const uint8_t id[STORE__ID_LEN]);
void store__file_unlink(struct store *s, const uint8_t id[STORE__ID_LEN]);
void store__idvec_push(struct store__idvec *v, const uint8_t id[STORE__ID_LEN]);
void store__idvec_free(struct store__idvec *v);
bool store__slice_valid_key(struct gz_slice key);

/* ---- commit.c ---- */
int store__threads_start(struct store *s);
void store__threads_stop(struct store *s);
struct store__op *store__op_new(enum store__op_kind kind, store_done_cb done, void *ud);
struct gz_slice store__slice_dup(struct gz_slice v);
void store__op_free(struct store__op *op);
/* Queues op. Ops are applied in submission order; one whose body file must be made durable
 * first waits (with those behind it) until a sync thread has done so. */
void store__op_submit(struct store *s, struct store__op *op);
/* Queues op and waits for its status (for the synchronous durable calls). */
int store__op_run(struct store *s, struct store__op *op);
void store__stats_get(struct store *s, struct store__stats *out);

/* ---- objects.c: apply functions, run by the committer inside the batch transaction ---- */
int store__apply_put(struct store *s, struct store__conn *c, struct store__op *op);
int store__apply_delete(struct store *s, struct store__conn *c, struct store__op *op);
int store__apply_copy(struct store *s, struct store__conn *c, struct store__op *op);
/* Removes (bucket, key) if present, dropping its file references; *old_size gets its size,
 * or -1 if there was none. Usage is the caller's to adjust (store__usage_add). */
int store__object_remove(struct store__conn *c, int64_t bucket, struct gz_slice key,
                         struct store__idvec *unlinks, int64_t *old_size);
/* ETags equal, ignoring surrounding double quotes on either. */
bool store__etag_eq(const char *a, const char *b);
/* Copies a NUL-terminated etag into out[48] (truncating). */
void store__etag_copy(char out[48], const char *in);

/* ---- bucket.c ---- */
int store__apply_bucket_create(struct store *s, struct store__conn *c, struct store__op *op);
int store__apply_bucket_delete(struct store *s, struct store__conn *c, struct store__op *op);
/* How many store_bucket_get calls the per-thread row cache answered (all threads; tests). */
uint64_t store__bucket_cache_hits(void);

/* ---- usage.c: usage and quotas (schema 2) ----
 * buckets gains bytes, objects, max_bytes, max_objects; owners(owner, bytes, objects,
 * max_bytes, max_objects) holds each owner's totals and quota. Every apply function that
 * changes the objects of a bucket calls store__usage_add; the committer applies the change
 * to store.uacc only if the op commits, and writes uacc to the index in the same transaction
 * (store__usage_flush before COMMIT), so usage commits or vanishes with what it counts. */
/* Brings the index to the current schema inside schema_init's transaction: a new index or
 * one from schema 1 (no usage) gains the usage tables and columns, with usage computed once
 * from the objects; PRAGMA user_version records the version. GZ_ECORRUPT if unknown. */
int store__schema_upgrade(struct store__conn *c);
/* Op's change of bucket bid's usage (and its owner's) by (bytes, objects), at most one per
 * op: GZ_EQUOTA if a dimension that grows would pass its bucket or owner limit, else 0 with
 * the change pending on op (GZ_ENOBUCKET, or an error). A shrinking change always passes. */
int store__usage_add(struct store *s, struct store__conn *c, struct store__op *op, int64_t bid,
                     int64_t bytes, int64_t objects);
/* The op committed (its savepoint released): its pending change joins the batch's totals. */
void store__usage_applied(struct store *s, struct store__op *op);
/* Does op read or change usage rows or quotas directly (then the batch's totals are written
 * out before it, store__usage_flush)? */
bool store__usage_barrier(const struct store__op *op);
/* Writes the batch's changes to the index (outside any op's savepoint) and forgets them. */
int store__usage_flush(struct store *s, struct store__conn *c);
/* Forgets the batch's changes (its transaction failed); frees with final. */
void store__usage_discard(struct store *s, bool final);
/* Before a bucket row goes: moves what is left of its usage off its owner, drops its
 * attributes. */
int store__bucket_forget(struct store__conn *c, int64_t bid);
int store__apply_bucket_owner(struct store *s, struct store__conn *c, struct store__op *op);
int store__apply_quota(struct store *s, struct store__conn *c, struct store__op *op);

/* ---- attr.c ---- */
int store__apply_bucket_attr(struct store *s, struct store__conn *c, struct store__op *op);

/* ---- multipart.c ---- */
int store__apply_upload_create(struct store *s, struct store__conn *c, struct store__op *op);
int store__apply_part(struct store *s, struct store__conn *c, struct store__op *op);
int store__apply_complete(struct store *s, struct store__conn *c, struct store__op *op);
int store__apply_abort(struct store *s, struct store__conn *c, struct store__op *op);

/* ---- writer.c ---- */
/* Makes the writer's body a durable file (creating it from the inline bytes if need_file);
 * called on a sync thread. 0 or -errno. */
int store__writer_durable(struct store_writer *w, bool need_file);
/* Frees the writer; unlinks its file unless w->keep. NULL-safe. */
void store__writer_free(struct store_writer *w);

/* ---- blocksum.c ---- */
/* Length of the checksum BLOB of a body of size bytes. */
size_t store__blocksum_len(int64_t size);
uint32_t store__crc_block(const void *p, size_t n);
void store__blocksum_update(struct store__blocksum *b, const void *p, size_t n);
/* Closes the last (short) block; the BLOB stays owned by b. Idempotent. */
struct gz_slice store__blocksum_final(struct store__blocksum *b);
void store__blocksum_free(struct store__blocksum *b);
/* Checks n bytes at p, which are the body's bytes [off, off + n): off a block boundary, n
 * whole blocks (the last may end at the body's end). -1 if all match, the index of the first
 * failing block, or -2 if the arguments or the BLOB's length do not fit the body's size. */
int64_t store__blocksum_check(struct gz_slice crcs, int64_t size, int64_t off, const void *p,
                              size_t n);

/* ---- scrub.c ---- */
int store__scrub_start(struct store *s, const struct store_config *cfg);
void store__scrub_stop(struct store *s);
int store__apply_mark(struct store *s, struct store__conn *c, struct store__op *op);
int store__apply_meta(struct store *s, struct store__conn *c, struct store__op *op);
/* The schema 2 -> 3 step (checksum columns, corrupt marks); run by store__schema_upgrade. */
int store__schema_upgrade_v3(struct store__conn *c);

/* ---- bodies.c: inline bodies (schema 4) ---- */
int store__schema_upgrade_v4(struct store__conn *c);
/* A body row for data (none, *id 0, when data is empty): its id in *id. */
int store__body_insert(struct store__conn *c, struct gz_slice data, struct gz_slice crc,
                       int64_t *id);
int store__body_delete(struct store__conn *c, int64_t id); /* id <= 0: nothing */
/* A copy of (bucket, key)'s body row: its id in *id, 0 if the object has none. */
int store__body_copy(struct store__conn *c, int64_t bucket, struct gz_slice key, int64_t *id);
/* Counts a read that failed verification (logged by the caller). */
void store__read_failure(struct store *s);

/* ---- list.c ---- */
/* The smallest byte string greater than every string starting with p: false if none
 * (p empty or all 0xff). out gets at most p.len bytes. */
bool store__key_successor(struct gz_slice p, char *out, size_t *outlen);
/* With a delimiter: is key rolled up? *cplen gets the common prefix's length. */
bool store__key_rollup(struct gz_slice key, struct gz_slice prefix, struct gz_slice delim,
                       size_t *cplen);

#endif
