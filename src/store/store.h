/*
 * store.h - the storage engine interface. The s3 and migrate layers speak only this; the
 * `local` backend (SQLite index in WAL mode + object files named by generated ids) implements
 * it now, and a Ceph RADOS backend can later without touching its callers. Nothing here
 * assumes a local disk: a file descriptor appears only as an optional fast path (segments
 * with fd >= 0, for sendfile).
 *
 * Threading: every function is thread-safe. Reads (stat, open, list, ...) are synchronous and
 * may be called from any thread; they are index look-ups (microseconds) and may be called on
 * loop threads. Mutations that must be durable (commit, delete, copy, multipart) are
 * asynchronous: they are queued to the store's committer, which batches many into one index
 * transaction and one fsync (group commit), and call done(ud, status) on a store thread once
 * durable (status 0) or failed (negative). The caller must hop back to its own thread.
 *
 * Keys and names are byte strings (slices); the store does not validate them beyond length.
 */
#ifndef GZ_STORE_H
#define GZ_STORE_H

#include <pthread.h>

#include "../util/util.h"

#define STORE_MAX_KEY 1024
#define STORE_MAX_BUCKET 63
#define STORE_DEFAULT_INLINE_MAX (64 * 1024) /* objects up to this live inline in the index */
#define STORE_UPLOAD_ID_LEN 32               /* hex characters */
#define STORE_MAX_PARTS 10000

struct store;
struct store_writer;
struct store_reader;

typedef void (*store_done_cb)(void *ud, int status);

/* A one-shot wait for a store_done_cb, for callers on their own threads (tools, migration
 * writers, tests; never a loop thread): init it, pass store_waiter_done as the callback with
 * the waiter as ud, then store_waiter_wait() blocks until the callback ran, destroys the
 * waiter and returns the status the callback got. */
struct store_waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int status;
};
void store_waiter_init(struct store_waiter *w);
void store_waiter_done(void *ud, int status);
int store_waiter_wait(struct store_waiter *w);

struct store_config {
    const char *data_dir;       /* created if missing */
    size_t inline_max;          /* 0 = STORE_DEFAULT_INLINE_MAX */
    int sync;                   /* 1 (default semantics): fsync before done; 0 only for tests */
    /* Bit rot (see "integrity" below). Zero values: reads verified, no background scrub. */
    bool no_verify_reads;       /* true: file bodies go out unverified (sendfile segments) */
    int64_t scrub_rate;         /* background scrub, bytes per second; 0 = no scrub */
    int64_t scrub_interval_ms;  /* pause between full passes; 0 = no scrub */
};

/* Opens (creating or recovering) the store: removes half-written files and files the index
 * does not reference, so the index and the files agree. */
int store_open(const struct store_config *cfg, struct store **out);
/* Waits for queued mutations, then closes. */
void store_close(struct store *s);

/* ---- integrity: checksums recorded at write time (src/store/local/blocksum.c, scrub.c) ----
 * Every body the store writes (object file, inline body, multipart part) gets a CRC32C per
 * STORE_CRC_BLOCK bytes, computed while it streams through the writer and committed with
 * its index row. Readers verify each block they hand out (a range reads whole blocks at its
 * edges); a mismatch fails the read with GZ_ECORRUPT (logged, counted), so corrupt bytes are
 * never returned as good. With no_verify_reads, file bodies are handed out as fd segments
 * (sendfile) without a check; inline bodies are always checked. Bodies written before the
 * checksums existed (index schema < 3) have none: "unprotected", served unchecked.
 *
 * The scrub thread (scrub_rate and scrub_interval_ms both > 0) walks every object at a bounded
 * rate, checking the CRCs and, for simple unencrypted objects, the MD5 against the ETag. A
 * failing object (found by the scrub or by a read) is marked corrupt in the index: every open
 * of it then fails with GZ_ECORRUPT until it is overwritten or deleted. */
#define STORE_CRC_BLOCK (64 * 1024)

struct store_scrub_status {
    bool enabled;               /* a scrub thread runs */
    bool active;                /* a pass is in progress */
    int64_t rate, interval_ms;
    int64_t passes;             /* full passes finished since start-up */
    int64_t pass_started_ms;    /* the current (or last) pass; 0 = none yet */
    int64_t last_pass_ms;       /* end of the last full pass (kept in the index); 0 = never */
    int64_t objects, bytes;     /* checked so far in the current pass (or the last one) */
    int64_t last_objects, last_bytes, last_unprotected; /* the last full pass */
    int64_t unprotected;        /* objects without checksums seen in the current pass */
    int64_t found;              /* corrupt objects the scrub found since start-up */
    int64_t read_failures;      /* reads that failed verification since start-up */
    int64_t corrupt;            /* objects marked corrupt in the index now */
};
int store_scrub_status(struct store *s, struct store_scrub_status *out);
/* Starts a full pass now (if the thread is between passes). -ENOTSUP if no scrub runs. */
int store_scrub_kick(struct store *s);

/* An object marked corrupt. Pointers valid during the callback only. */
struct store_corrupt {
    struct gz_slice bucket, key;
    const char *what;           /* which check failed, e.g. "crc block 3 of objects/ab/..." */
    int64_t mtime_ms;           /* the object's */
    const char *etag;
};
/* Marked objects in (bucket, key) order, at most max; *truncated if more. */
int store_corrupt_list(struct store *s, int max,
                       void (*fn)(const struct store_corrupt *c, void *ud), void *ud,
                       bool *truncated);
/* Objects (simple or parts) whose bodies have no checksum (written before schema 3). */
int store_unprotected_count(struct store *s, int64_t *out);

/* ---- buckets ---- */

struct store_bucket {
    char name[STORE_MAX_BUCKET + 1];
    char region[32];
    char owner[65];             /* owner's canonical id (64 hex) */
    int64_t created_ms;
};

/* GZ_EBUCKETOWNED if it exists with the same owner, GZ_EBUCKETEXISTS otherwise. Durable. */
int store_bucket_create(struct store *s, const struct store_bucket *b);
int store_bucket_get(struct store *s, struct gz_slice name, struct store_bucket *out);
/* GZ_ENOBUCKET, GZ_EBUCKETNOTEMPTY (objects or multipart uploads present). Durable. */
int store_bucket_delete(struct store *s, struct gz_slice name);
/* Calls fn for each bucket in name order (owner NULL = all); fn returns non-zero to stop. */
int store_bucket_list(struct store *s, const char *owner,
                      int (*fn)(const struct store_bucket *b, void *ud), void *ud);

/* ---- usage, quotas and bucket attributes ----
 * Usage (bytes and objects) is kept per bucket and per owner (the bucket's owner string: a
 * tenant id) in the index, updated in the same transaction as the objects it counts, so it is
 * exact after any crash and costs nothing to read. Quotas are enforced by the committer, the
 * one serial point, so concurrent uploads racing for the last bytes cannot overshoot: a commit,
 * copy or multipart completion that would take usage past a limit fails with GZ_EQUOTA and
 * changes nothing. Pending multipart parts do not count until completion. */

struct store_usage {
    int64_t bytes;
    int64_t objects;
};

struct store_quota {
    int64_t max_bytes;   /* -1 = unlimited */
    int64_t max_objects; /* -1 = unlimited */
};

int store_bucket_usage(struct store *s, struct gz_slice bucket, struct store_usage *out);
int store_owner_usage(struct store *s, const char *owner, struct store_usage *out);
/* Durable. Quotas default to unlimited. */
int store_bucket_quota_set(struct store *s, struct gz_slice bucket, const struct store_quota *q);
int store_bucket_quota_get(struct store *s, struct gz_slice bucket, struct store_quota *out);
int store_owner_quota_set(struct store *s, const char *owner, const struct store_quota *q);
int store_owner_quota_get(struct store *s, const char *owner, struct store_quota *out);
/* Changes a bucket's owner (usage moves with it). Durable. GZ_ENOBUCKET. */
int store_bucket_owner_set(struct store *s, struct gz_slice bucket, const char *owner);

/* Which limit refused a change (to word the error message). */
struct store_quota_hit {
    bool owner;          /* the owner's (tenant's) quota; false: the bucket's */
    bool objects;        /* max_objects; false: max_bytes */
    int64_t limit;
    int64_t usage;       /* current usage in that dimension */
};
/* Advisory pre-check before accepting a body (PUT, UploadPart, CopyObject): GZ_EQUOTA, with
 * *hit filled if hit != NULL, if adding add_bytes and add_objects to the bucket's and its
 * owner's usage would take a growing dimension past a limit right now; else 0 (or
 * GZ_ENOBUCKET). `replaces` names the object the change would replace (PUT or copy
 * destination key), or NULL: if it exists, its size and count are credited, so an overwrite
 * that shrinks passes even at the limit. Two index look-ups, no lock: the commit stays
 * authoritative. After a commit fails with GZ_EQUOTA, the same call names the limit. */
int store_quota_check(struct store *s, struct gz_slice bucket, const struct gz_slice *replaces,
                      int64_t add_bytes, int64_t add_objects, struct store_quota_hit *hit);

/* Changes after every committed index change: a cache tagged with it is exact. */
uint64_t store_generation(const struct store *s);

/* The folder the store was opened on (store_config.data_dir), for files other modules keep
 * beside the store's own (DATA/sse.keys). Owned by the store; valid until store_close. */
const char *store_data_dir(const struct store *s);

/* Small named attributes of a bucket (policy JSON, canned ACL, ...), durable. value NULL
 * deletes. get fills *out (initialised by the callee) or returns -ENOENT. */
#define STORE_MAX_ATTR_VALUE (64 * 1024)
/* The attribute holding a bucket's default encryption (set by the S3 layer's
 * PutBucketEncryption; read by writers that bypass the S3 handlers). */
#define STORE_ATTR_SSE_DEFAULT "sse"
int store_bucket_attr_set(struct store *s, struct gz_slice bucket, const char *name,
                          const struct gz_slice *value);
int store_bucket_attr_get(struct store *s, struct gz_slice bucket, const char *name,
                          struct gz_buf *out);

/* ---- object metadata ---- */

/* Everything the store keeps about an object besides its bytes. `headers` is opaque to the
 * store: an encoded list of name/value pairs chosen by the caller (Content-Type,
 * x-amz-meta-*, checksums, ...), stored and returned verbatim. */
struct store_meta {
    int64_t size;
    int64_t mtime_ms;
    char etag[48];              /* without quotes: 32 hex, or 32 hex + "-N" */
    int parts;                  /* 0 for a simple object, N for a multipart one */
    struct gz_slice headers;    /* owned by whoever filled this struct (see each function) */
};

/* Encoding for store_meta.headers: a sequence of name\0value\0 pairs. */
int store_headers_add(struct gz_buf *enc, struct gz_slice name, struct gz_slice value);
/* Iterates: *pos starts at 0; returns false at the end. */
bool store_headers_next(struct gz_slice enc, size_t *pos, struct gz_slice *name,
                        struct gz_slice *value);

/* Stat an object. meta->headers points into *hold, which the caller frees with gz_buf_free.
 * GZ_ENOBUCKET or GZ_ENOKEY. */
int store_object_stat(struct store *s, struct gz_slice bucket, struct gz_slice key,
                      struct store_meta *meta, struct gz_buf *hold);

/* ---- writing an object (or a part) ---- */

/* Starts a new body; bytes go inline until they exceed inline_max, then to a new file named
 * by a generated id. The writer is used by one thread at a time. */
int store_writer_open(struct store *s, struct store_writer **out);
/* Appends; may block briefly on a page-cache write. */
int store_writer_write(struct store_writer *w, const void *p, size_t n);
int64_t store_writer_size(const struct store_writer *w);
/* Discards the writer and any file it created (NULL-safe). */
void store_writer_abort(struct store_writer *w);

/* Makes the body durable and the object visible under (bucket, key), atomically replacing
 * any previous object (readers see the old or the new, never a mix). Takes ownership of w in
 * every case. meta->size is taken from the writer; meta->headers is copied. done gets 0,
 * GZ_ENOBUCKET (bucket deleted meanwhile) or an I/O error. */
void store_object_commit(struct store *s, struct store_writer *w, struct gz_slice bucket,
                         struct gz_slice key, const struct store_meta *meta, store_done_cb done,
                         void *ud);

/* Deletes the object if present (done gets 0 either way, or GZ_ENOBUCKET). */
void store_object_delete(struct store *s, struct gz_slice bucket, struct gz_slice key,
                         store_done_cb done, void *ud);

/* Server-side copy without reading the bytes through the caller (files are shared or linked,
 * never rewritten). meta == NULL keeps the source's headers; otherwise they are replaced.
 * The new object gets a new mtime (or meta->mtime_ms when meta is given and it is positive:
 * `gzy sse rotate` rewrites headers in place this way) and the source's etag. done gets 0,
 * GZ_ENOKEY, GZ_ENOBUCKET. If src_etag is non-NULL the copy fails with GZ_EINVALIDPART unless the source
 * still has that etag when the copy is applied (guards against a concurrent overwrite). */
void store_object_copy(struct store *s, struct gz_slice src_bucket, struct gz_slice src_key,
                       const char *src_etag, struct gz_slice dst_bucket, struct gz_slice dst_key,
                       const struct store_meta *meta, store_done_cb done, void *ud);

/* ---- reading an object ---- */

/* Opens the object's current version for reading; later overwrites do not affect it.
 * meta->headers is owned by the reader. GZ_ENOBUCKET or GZ_ENOKEY. */
int store_object_open(struct store *s, struct gz_slice bucket, struct gz_slice key,
                      struct store_reader **out, struct store_meta *meta);
/* Opens one part of a multipart object (partNumber=N): the reader then covers only that
 * part; *part_size gets its length. GZ_EINVALIDPART if there is no such part. */
int store_object_open_part(struct store *s, struct gz_slice bucket, struct gz_slice key,
                           int part_number, struct store_reader **out, struct store_meta *meta,
                           int64_t *part_offset, int64_t *part_size);

/* A piece of the object: either memory (fd == -1, mem valid until the next call) or a file
 * range (fd >= 0, valid until the reader is closed) suitable for sendfile. */
struct store_segment {
    int fd;
    const uint8_t *mem;
    int64_t offset;             /* in the file, when fd >= 0 */
    int64_t len;
};
/* Positions the reader at byte pos of the object. */
int store_reader_seek(struct store_reader *r, int64_t pos);
/* Next piece from the current position, at most max bytes; advances. seg->len == 0 at end.
 * GZ_ECLOSED if the object's data vanished (replaced and removed mid-read). */
int store_reader_next(struct store_reader *r, int64_t max, struct store_segment *seg);
/* Turns block-CRC verification of this reader's file bodies off (or back on; on has effect only
 * when the store verifies reads): for callers that authenticate the bytes themselves, e.g.
 * AEAD-encrypted bodies, whose segments must stay independently readable. */
/* Counts a read failure and marks the object this reader opened corrupt, as a failed block
 * CRC does (queued to the committer, not waited for; guarded so that a newer version is never
 * marked). For callers that authenticate the bytes themselves: an AEAD tag that fails on
 * blocks whose CRCs pass. Once per reader: a no-op if the reader already marked it. */
void store_reader_mark_corrupt(struct store_reader *r, const char *what);
/* Convenience: copies up to n bytes into buf; returns bytes read, 0 at end, or negative. */
int64_t store_reader_read(struct store_reader *r, void *buf, size_t n);
void store_reader_close(struct store_reader *r); /* NULL-safe */

/* ---- listing ----
 * Keys in bucket in binary (UTF-8 byte) order, strictly after `after`, starting with
 * `prefix`. With a delimiter, keys whose remainder after the prefix contains it are rolled up
 * into one common prefix each (reported once, through the same callback with is_prefix set).
 * At most max entries (objects + prefixes) are reported; *truncated says whether more exist.
 * An index range scan: keys under a rolled-up prefix are skipped by seeking, not read. */
struct store_list_entry {
    struct gz_slice key;        /* or the common prefix */
    bool is_prefix;
    int64_t size;
    int64_t mtime_ms;
    const char *etag;
};
int store_object_list(struct store *s, struct gz_slice bucket, struct gz_slice prefix,
                      struct gz_slice after, struct gz_slice delimiter, int max,
                      void (*fn)(const struct store_list_entry *e, void *ud), void *ud,
                      bool *truncated);

/* ---- multipart uploads ---- */

struct store_upload {
    char upload_id[STORE_UPLOAD_ID_LEN + 1];
    struct gz_slice key;        /* owned as documented by each function */
    int64_t initiated_ms;
    struct gz_slice headers;    /* headers given at creation */
};

/* Creates an upload for (bucket, key) with the object's future headers; durable. */
int store_upload_create(struct store *s, struct gz_slice bucket, struct gz_slice key,
                        struct gz_slice headers, char upload_id[STORE_UPLOAD_ID_LEN + 1]);
/* Looks up an upload, checking it belongs to (bucket, key). up->key/headers point into *hold.
 * GZ_ENOUPLOAD. */
int store_upload_get(struct store *s, struct gz_slice bucket, struct gz_slice key,
                     const char *upload_id, struct store_upload *up, struct gz_buf *hold);

/* Makes a part durable, replacing an earlier part with the same number. Takes ownership of w.
 * done gets 0 or GZ_ENOUPLOAD (aborted or completed meanwhile). */
void store_upload_part_commit(struct store *s, const char *upload_id, int part_number,
                              struct store_writer *w, const char *etag, store_done_cb done,
                              void *ud);

struct store_part {
    int number;
    int64_t size;
    int64_t mtime_ms;
    char etag[48];
};
/* Parts in number order, numbers > marker, at most max; *truncated if more. */
int store_upload_parts(struct store *s, const char *upload_id, int marker, int max,
                       void (*fn)(const struct store_part *p, void *ud), void *ud,
                       bool *truncated);

/* Completes: the object becomes the listed parts in order, without copying their bytes, and
 * replaces any object at the key atomically; unlisted parts are discarded; the upload ends.
 * Each listed part must still exist with the given etag (GZ_EINVALIDPART otherwise; the
 * caller validates order and sizes before calling). meta gives etag and headers.
 * done gets 0, GZ_ENOUPLOAD or GZ_EINVALIDPART. */
void store_upload_complete(struct store *s, struct gz_slice bucket, struct gz_slice key,
                           const char *upload_id, const struct store_part *parts, int nparts,
                           const struct store_meta *meta, store_done_cb done, void *ud);
/* Aborts and removes the parts. done gets 0 or GZ_ENOUPLOAD. */
void store_upload_abort(struct store *s, const char *upload_id, store_done_cb done, void *ud);

/* Uploads in bucket in (key, initiated, upload id) order after the markers, keys starting with
 * prefix, with the same delimiter roll-up as store_object_list (e->key then holds the key or
 * the prefix). up->key/headers are valid during the callback only. */
int store_upload_list(struct store *s, struct gz_slice bucket, struct gz_slice prefix,
                      struct gz_slice delimiter, struct gz_slice key_marker,
                      const char *upload_id_marker, int max,
                      void (*fn)(const struct store_upload *up, bool is_prefix, void *ud),
                      void *ud, bool *truncated);

/* ---- offline check, repair and scrub (src/store/local/fsck.c; `gzy fsck`, `gzy scrub`) ----
 * Works on a data folder that no process has open: takes the LOCK the server holds (-EBUSY
 * while it is held) and reads the index and objects/ directly, not through store_open (whose
 * recovery sweep would hide orphans). Single-threaded, synchronous; every problem found is
 * passed to opts.report. docs/fsck.md lists the checks and what --repair changes. */

enum store_fsck_kind {
    STORE_FSCK_MISSING,  /* a file an object or part row names is not in objects/ */
    STORE_FSCK_SIZE,     /* a body's length differs from its row's size */
    STORE_FSCK_ORPHAN,   /* a file in objects/ that nothing references */
    STORE_FSCK_STRAY,    /* a name in objects/ that is not a store file (never removed) */
    STORE_FSCK_DANGLING, /* a row whose owner is gone (part of no object, upload or bucket) */
    STORE_FSCK_LAYOUT,   /* a multipart object's part rows disagree with the object row */
    STORE_FSCK_REFS,     /* a file's reference count differs from the rows using it */
    STORE_FSCK_USAGE,    /* a bucket's or owner's usage counter differs from a recount */
    STORE_FSCK_CONTENT,  /* the bytes do not match the recorded ETag (MD5) or a block's
                          * recorded CRC32C (the detail says which) */
};

/* One problem. Every pointer is valid during the report callback only. */
struct store_fsck_problem {
    enum store_fsck_kind kind;
    struct gz_slice bucket;     /* empty if none */
    struct gz_slice key;        /* object key, upload key, or owner (USAGE); empty if none */
    const char *upload_id;      /* "" if none */
    int part;                   /* part number, 0 if none */
    const char *file;           /* "objects/XY/<32 hex>", or "" */
    const char *detail;         /* one line of evidence */
    bool repaired;
};

struct store_fsck_opts {
    const char *data_dir;
    bool structure;             /* rows vs files, reference counts, orphans, usage counters */
    bool content;               /* read every body: MD5 against the ETag */
    bool repair;                /* fix what is safe: orphans, counts, dangling rows */
    bool drop_missing;          /* with repair: also drop object/part rows whose file is gone */
    int64_t rate;               /* content reads in bytes per second; 0 = unlimited */
    /* Bodies whose stored headers (or whose upload's headers) hold this name get their block
     * CRCs checked but not their MD5 against the ETag, and count as unverified: their bytes
     * are not what the ETag was computed over (encrypted at rest: "x-gzy-sse"). NULL = check
     * every body against its ETag. */
    const char *opaque_header;
    void (*report)(const struct store_fsck_problem *p, void *ud);
    void *ud;
};

struct store_fsck_stats {
    int64_t buckets, objects, uploads, parts, files;
    int64_t verified;           /* bodies whose content was checked */
    int64_t unverified;         /* bodies whose ETag was not checked: opaque, or no MD5 */
    int64_t crc_checked;        /* bodies whose block CRCs were checked */
    int64_t unprotected;        /* bodies without CRCs (written before index schema 3) */
    int64_t bytes_read;
    int64_t problems, repaired;
};

/* 0 when the check ran (problems counted in *st and reported), -EBUSY if a process holds the
 * folder, -ENOENT if it has no index, GZ_ECORRUPT if the index is unreadable or of an unknown
 * schema, or another negative error. */
int store_fsck_run(const struct store_fsck_opts *opts, struct store_fsck_stats *st);

#endif
