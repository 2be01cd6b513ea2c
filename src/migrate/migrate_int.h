/*
 * migrate_int.h - internals of the migration engine shared by its files: the S3 client
 * (source.c: requests, listing, reads; dest.c: writes), the store destination (dest_store.c),
 * the journal (journal.c), verification (verify.c), metadata, presets and what cannot be
 * carried over (meta.c), the diff (diff.c), filters (filter.c), the bandwidth limit
 * (throttle.c) and the copy of one object (copy.c: parts, resume, archive classes).
 *
 * Journal schema (SQLite; read by manifest.c and the estimate): src(key, size, etag, mtime,
 * pass, state, reason, retries, done_etag, sha256, method, storage_class, not_carried) with
 * state 'listed' | 'pending' | 'verified' | 'failed' | 'waiting' (archive class, restore
 * requested); for verified rows size and done_etag are what was copied, method is "md5",
 * "crc64", "mpu-md5", "size+sha256" or "existing". dst(key, size, etag, mtime): this pass's
 * destination listing. uploads(key, upload_id, src_etag, part_size) and parts(key, part,
 * etag): large objects in progress, for part-level resume.
 */
#ifndef GZ_MIGRATE_INT_H
#define GZ_MIGRATE_INT_H

#include <curl/curl.h>
#include <pthread.h>
#include <sqlite3.h>

#include "../util/hash.h"
#include "../util/util.h"
#include "migrate.h"
#include "seal.h"

#define MIG_MAX_ATTEMPTS 5
#define MIG_ERR_MAX 512

/* One S3 endpoint + bucket; immutable after mig_client_init, shared by all workers. */
struct mig_client {
    char base[512];             /* scheme://host[:port] */
    char scheme[8];
    char host[256];             /* host[:port] */
    char bucket[256];
    char sigv4[128];            /* "aws:amz:REGION:s3" */
    char access[256];
    char secret[256];
    bool path_style;
    const struct gz_mig_preset *preset;
    const char *who;            /* "source" / "destination", for messages */
    struct store *store;        /* destination only: write through this store (no HTTP) */
    const struct gz_mig_sealer *sealer; /* with store: seals for a bucket that encrypts by
                                         * default (seal.h), or NULL */
    struct mig_throttle *throttle; /* source only: shared bandwidth limit, or NULL */
};

int mig_client_init(struct mig_client *c, const struct gz_mig_endpoint *ep, const char *who,
                    char *err, size_t errsz);
/* A destination client writing through a store (dest_store.c): bucket must exist there. A
 * bucket that encrypts by default needs a sealer (borrowed): -EPERM without one. */
int mig_client_init_store(struct mig_client *c, struct store *s, const char *bucket,
                          char *err, size_t errsz); /* no sealer */
int mig_client_init_sealed(struct mig_client *c, struct store *s,
                           const struct gz_mig_sealer *sealer, const char *bucket, char *err,
                           size_t errsz);

/* ---- throttle.c: one token bucket shared by all workers (bytes/s) ---- */
struct mig_throttle {
    pthread_mutex_t mu;
    int64_t rate;               /* bytes per second, > 0 */
    double tokens;              /* may go negative: debt paid by sleeping */
    int64_t last_ns;
    bool (*should_stop)(void *); /* polled while sleeping; may be NULL */
    void *stop_arg;
};
void mig_throttle_init(struct mig_throttle *t, int64_t rate, bool (*should_stop)(void *),
                       void *stop_arg);
void mig_throttle_destroy(struct mig_throttle *t);
/* Accounts n bytes, sleeping as long as needed to keep the average at or below the rate;
 * false (at once, or within 100 ms of sleep) when a stop was requested: abort the transfer. */
bool mig_throttle_take(struct mig_throttle *t, size_t n);

/* ---- filter.c: include/exclude globs ('*' within a segment, '**' across, '?') ---- */
bool mig_glob_match(const char *pat, const char *s);
/* True if the key passes the options' include/exclude filters. */
bool mig_filter_pass(const struct gz_mig_options *opt, const char *key);

/* A response: status, raw header block and a bounded body (errors, XML, or object bytes). */
struct mig_resp {
    long status;
    CURLcode curl;
    char curl_err[CURL_ERROR_SIZE];
    struct gz_buf headers;      /* raw "Name: value\r\n" lines of the last response */
    struct gz_buf body;
    char code[64];              /* S3 error Code, if any */
    char message[256];
    struct mig_throttle *throttle; /* set by mig_s3_once from the client: body bytes pay it */
};

void mig_resp_init(struct mig_resp *r, size_t body_max);
void mig_resp_reset(struct mig_resp *r);
void mig_resp_free(struct mig_resp *r);
/* Header value (NUL-terminated copy into out); false if absent. */
bool mig_resp_header(const struct mig_resp *r, const char *name, char *out, size_t outsz);

struct mig_req {
    const char *method;
    const char *key;            /* NULL: the bucket */
    const char *query;          /* sorted and encoded, without '?'; NULL: none */
    struct curl_slist *headers; /* extra headers; borrowed */
    const void *body;           /* PUT/POST body; NULL: none */
    size_t body_len;
    /* streaming sink for the body instead of resp->body (listing); NULL: buffer it */
    size_t (*sink)(char *p, size_t sz, size_t n, void *arg);
    void *sink_arg;
};

/* One attempt; 0 on a response (any status), -EIO on a transport error. The handle keeps
 * the client's constant options (credentials, timeouts) between requests, keyed by the
 * client's address in CURLOPT_PRIVATE: a handle must not outlive the client it served, nor
 * carry CURLOPT_PRIVATE for anything else. */
int mig_s3_once(const struct mig_client *c, CURL *h, const struct mig_req *rq,
                struct mig_resp *resp);
/* With retries (exponential backoff) on transport errors, 5xx, 429 and SlowDown; attempts
 * counts into *retries. */
int mig_s3_call(const struct mig_client *c, CURL *h, const struct mig_req *rq,
                struct mig_resp *resp, int max_attempts, int64_t *retries);
/* Describes a failed response in err: "HTTP 403 AccessDenied: message" / curl error. */
void mig_resp_describe(const struct mig_resp *r, char *err, size_t errsz);
bool mig_resp_transient(const struct mig_resp *r);
void mig_query_add(struct gz_buf *q, const char *name, const char *value);
void mig_uri_encode(struct gz_buf *b, const char *s, bool keep_slash);
void mig_etag_strip(const char *in, char *out, size_t outsz);

/* ---- listing (source.c) ---- */

struct mig_entry {
    char *key;                  /* owned by the lister; valid during the callback */
    int64_t size;
    char etag[80];
    int64_t mtime;
    char storage_class[32];     /* as listed; "" when the listing gives none (STANDARD) */
};
typedef int mig_entry_fn(void *arg, const struct mig_entry *e);
int mig_list(const struct mig_client *c, CURL *h, const char *prefix, mig_entry_fn *fn,
             void *arg, int64_t *retries, char *err, size_t errsz);

/* ---- journal.c ---- */

/* A statement prepared once and reused (reset after each use) for the journal's lifetime. */
struct mig_jstmt {
    const char *sql;            /* a string constant: looked up by its address */
    sqlite3_stmt *st;
    bool busy;                  /* handed out (a nested use of the same SQL prepares anew) */
};

#define MIG_JOURNAL_STMTS 32
#define MIG_JOURNAL_BATCH 100      /* batched writes per transaction while copying ... */
#define MIG_JOURNAL_BATCH_MS 50    /* ... or this old, whichever comes first */

/* The journal. One SQLite connection: calls that take mu (claims, outcomes, uploads, parts,
 * mig_journal_tx) may come from any thread; the others (listing, diff, queries) only while no
 * worker runs. While batching is on (the copy phase), object outcomes (done, fail, wait,
 * unclaim) go into one open transaction committed every MIG_JOURNAL_BATCH writes or
 * MIG_JOURNAL_BATCH_MS, on mig_journal_tick/flush and when batching is switched off: a kill -9
 * loses at most that batch (those objects are then found at the destination or copied again).
 * Upload and part records commit at once. */
struct mig_journal {
    sqlite3 *db;
    pthread_mutex_t mu;
    int64_t pass;
    char last_claimed[1100];
    pthread_mutex_t cache_mu;   /* stmts */
    struct mig_jstmt stmts[MIG_JOURNAL_STMTS];
    bool batching;              /* under mu */
    bool in_tx;                 /* under mu: a batch transaction is open */
    int batch_n;                /* under mu: writes in it */
    int64_t batch_start_ms;     /* under mu: when it opened */
};

int mig_journal_open(struct mig_journal *j, const char *path, char *err, size_t errsz);
void mig_journal_close(struct mig_journal *j);
int mig_journal_begin_pass(struct mig_journal *j);
int mig_journal_tx(struct mig_journal *j, const char *sql); /* BEGIN/COMMIT (flushes first) */
/* Batching of object outcomes on (the copy phase) or off (commits what is open). */
int mig_journal_batch(struct mig_journal *j, bool on);
/* Commits the open batch now (0, or -EIO if the commit failed: its marks are lost). */
int mig_journal_flush(struct mig_journal *j);
/* Commits the open batch if it is MIG_JOURNAL_BATCH_MS old (call a few times per 50 ms). */
void mig_journal_tick(struct mig_journal *j);
int mig_journal_add_src(struct mig_journal *j, const struct mig_entry *e);
int mig_journal_add_dst(struct mig_journal *j, const struct mig_entry *e);
int mig_journal_clear_dst(struct mig_journal *j);
/* Runs the diff over this pass's source rows; fills to_copy/skipped. */
int mig_journal_diff(struct mig_journal *j, struct gz_mig_stats *st);
/* Claims the next pending object (key owned by caller, gz_free); 1 if claimed, 0 if none. */
int mig_journal_claim(struct mig_journal *j, char **key, int64_t *size, char *etag,
                      size_t etagsz);
/* Same, also giving the listed storage class (may be NULL). */
int mig_journal_claim2(struct mig_journal *j, char **key, int64_t *size, char *etag,
                       size_t etagsz, char *sclass, size_t sclasssz);
int mig_journal_done(struct mig_journal *j, const char *key, const char *etag,
                     const char *sha256_hex, const char *method, int64_t retries);
/* Records what was actually copied (size, source ETag) and what could not be carried over
 * ("" if everything was), after mig_journal_done. */
int mig_journal_done_extra(struct mig_journal *j, const char *key, int64_t size,
                           const char *not_carried);
/* mig_journal_done and mig_journal_done_extra in one statement. */
int mig_journal_verified(struct mig_journal *j, const char *key, const char *etag,
                         const char *sha256_hex, const char *method, int64_t retries,
                         int64_t size, const char *not_carried);
/* An archive-class object waiting for its restore: copied on a later pass. */
int mig_journal_wait(struct mig_journal *j, const char *key, const char *reason);
/* Unclaims an object when the pass stops early (it stays to copy on the next pass). */
int mig_journal_unclaim(struct mig_journal *j, const char *key);

/* Part-level resume of a large object: the destination upload and its completed parts. */
struct mig_upload_rec {
    char upload_id[512];
    char src_etag[80];
    int64_t part_size;
};
int mig_journal_upload_get(struct mig_journal *j, const char *key, struct mig_upload_rec *u);
int mig_journal_upload_put(struct mig_journal *j, const char *key,
                           const struct mig_upload_rec *u);
int mig_journal_upload_drop(struct mig_journal *j, const char *key);
int mig_journal_part_put(struct mig_journal *j, const char *key, int part, const char *etag);
/* Calls fn for each completed part of key's journaled upload. */
int mig_journal_parts_each(struct mig_journal *j, const char *key,
                           void (*fn)(void *arg, int part, const char *etag), void *arg);
int mig_journal_fail(struct mig_journal *j, const char *key, const char *reason,
                     int64_t retries);
/* Destination keys absent from this pass's listing, in batches (keys owned by caller). */
int mig_journal_extraneous(struct mig_journal *j, const char *after, char **keys, int max);
void mig_journal_failed_each(struct mig_journal *j, gz_mig_failed_fn *fn, void *arg);
int64_t mig_journal_count(struct mig_journal *j, const char *state);

/* ---- verify.c ---- */

enum mig_method { MIG_VERIFY_MD5, MIG_VERIFY_SHA256, MIG_VERIFY_CRC64, MIG_VERIFY_MPU };

struct mig_verify {
    struct gz_hash md5, sha256;
    int64_t bytes;
    enum mig_method method;
    char etag[80];              /* source ETag, quotes stripped */
    bool have_crc;
    uint64_t crc, want_crc;     /* CRC64-ECMA (ISA-L crc64_ecma_refl), x-*-hash-crc64ecma */
    int64_t mpu_part_size;      /* source part layout for MIG_VERIFY_MPU */
    int64_t mpu_in_part;        /* bytes of the current source part hashed so far */
    int mpu_parts, mpu_done;
    struct gz_hash mpu_part, mpu_all; /* current part's MD5; MD5 of the part MD5s */
};

/* Picks MD5 for a single-part ETag, else size + SHA-256; the setters below upgrade it. */
void mig_verify_init(struct mig_verify *v, const char *src_etag);
/* The source's CRC64-ECMA (decimal, as OSS/COS send it); checked on top of MD5, or used
 * instead of SHA-256 for a multipart ETag. Ignored if not a number. */
void mig_verify_set_crc64(struct mig_verify *v, const char *decimal);
/* The source's multipart layout (uniform parts of part_size, nparts of them): a multipart
 * ETag without CRC64 is then recomputed (MIG_VERIFY_MPU). Call before any update. */
void mig_verify_set_layout(struct mig_verify *v, int64_t part_size, int nparts);
void mig_verify_update(struct mig_verify *v, const void *p, size_t n);
/* Finalises; 0 if verified (sha256 hex written), -EILSEQ on mismatch (reason written). */
int mig_verify_final(struct mig_verify *v, int64_t expect_size, char sha_hex[65],
                     char *reason, size_t reasonsz);
void mig_verify_dispose(struct mig_verify *v);
const char *mig_verify_method_name(enum mig_method m);

/* ---- dest.c (HTTP) / dest_store.c (store): writes at the destination ---- */

/* What the destination object carries: the mapped metadata lines ("name: value", lower-case
 * names) and the source's identity. Over HTTP the ETag and mtime go to
 * x-amz-meta-gzy-source-etag / -mtime; through the store they become the object's own. */
struct mig_objhdr {
    struct curl_slist *meta;
    const char *src_etag;
    int64_t src_mtime;          /* unix seconds; 0: unknown (now) */
    const char *body_md5;       /* hex MD5 of a PutObject body when already known (verified
                                 * against a single-part source ETag); NULL: computed */
};

/* Destination part ETags are 32 hex characters + NUL. */
typedef char mig_etag_t[80];

int mig_put_object(const struct mig_client *c, CURL *h, const char *key,
                   const struct mig_objhdr *oh, const void *body, size_t len, int64_t *retries,
                   char *err, size_t errsz);
int mig_mpu_create(const struct mig_client *c, CURL *h, const char *key,
                   const struct mig_objhdr *oh, char *upload_id, size_t idsz, int64_t *retries,
                   char *err, size_t errsz);
int mig_mpu_part(const struct mig_client *c, CURL *h, const char *key, const char *upload_id,
                 int part, const void *body, size_t len, char *etag, size_t etagsz,
                 int64_t *retries, char *err, size_t errsz);
int mig_mpu_complete(const struct mig_client *c, CURL *h, const char *key,
                     const char *upload_id, const mig_etag_t *etags, int nparts,
                     const struct mig_objhdr *oh, int64_t *retries, char *err, size_t errsz);
void mig_mpu_abort(const struct mig_client *c, CURL *h, const char *key,
                   const char *upload_id);
int mig_delete_object(const struct mig_client *c, CURL *h, const char *key, int64_t *retries,
                      char *err, size_t errsz);
/* Lists the destination (HTTP listing or the store's index). */
int mig_dst_list(const struct mig_client *c, CURL *h, const char *prefix, mig_entry_fn *fn,
                 void *arg, int64_t *retries, char *err, size_t errsz);
/* Reads [off, off+len) of a completed destination object into body (resume re-hash). */
int mig_dst_read(const struct mig_client *c, CURL *h, const char *key, int64_t off,
                 int64_t len, struct gz_buf *body, char *err, size_t errsz);

/* dest_store.c: the store flavours, called by dest.c when c->store is set */
int mig_store_put(const struct mig_client *c, const char *key, const struct mig_objhdr *oh,
                  const void *body, size_t len, char *err, size_t errsz, bool *permanent);
int mig_store_mpu_create(const struct mig_client *c, const char *key,
                         const struct mig_objhdr *oh, char *upload_id, size_t idsz, char *err,
                         size_t errsz);
/* key: the upload's (a sealing client reads the upload's data key; else it may be NULL) */
int mig_store_mpu_part_of(const struct mig_client *c, const char *key, const char *upload_id,
                          int part, const void *body, size_t len, char *etag, size_t etagsz,
                          char *err, size_t errsz);
int mig_store_mpu_part(const struct mig_client *c, const char *upload_id, int part,
                       const void *body, size_t len, char *etag, size_t etagsz, char *err,
                       size_t errsz); /* key NULL */
int mig_store_mpu_complete(const struct mig_client *c, const char *key, const char *upload_id,
                           const mig_etag_t *etags, int nparts, const struct mig_objhdr *oh,
                           char *err, size_t errsz, bool *permanent);
void mig_store_mpu_abort(const struct mig_client *c, const char *upload_id);
int mig_store_delete(const struct mig_client *c, const char *key, char *err, size_t errsz);
int mig_store_list(const struct mig_client *c, const char *prefix, mig_entry_fn *fn, void *arg,
                   char *err, size_t errsz);
int mig_store_read(const struct mig_client *c, const char *key, int64_t off, int64_t len,
                   struct gz_buf *body, char *err, size_t errsz);
/* Store header encoding of the metadata lines (canonical names for the standard headers,
 * as a PUT through S3 stores them). */
int mig_store_headers(const struct curl_slist *meta, struct gz_buf *enc);

/* ---- meta.c ---- */

/* Destination headers for the preserved metadata in a source response (curl list, owned). */
struct curl_slist *mig_meta_headers(const struct gz_mig_preset *preset,
                                    const struct mig_resp *src);

/* True if an AccessControlPolicy document grants anything beyond the owner's FULL_CONTROL
 * (another grantee, a group URI, an e-mail, or a lesser permission of the owner). */
bool mig_acl_has_extra_grants(const char *xml, size_t len);
/* Archive classes needing a restore before a GET (GLACIER, DEEP_ARCHIVE, OSS Archive,
 * ColdArchive, DeepColdArchive, OBS COLD, COS ARCHIVE / DEEP_ARCHIVE; not GLACIER_IR). */
bool mig_storage_class_archive(const char *sc);

/* ---- copy.c ---- */
struct mig_copy_env {
    const struct mig_client *src, *dst;
    struct mig_journal *j;      /* part-level resume; NULL: none */
    int64_t part_size;
    bool no_restore;
    bool check_acl;             /* GET ?acl after each copy (gz_mig_options.check_acl) */
    bool (*should_stop)(void *arg);
    void *stop_arg;
};

struct mig_copy_result {
    char sha256[65];
    enum mig_method method;
    char etag[80];              /* the source ETag actually copied (it may have changed) */
    int64_t size;               /* the size actually copied */
    bool waiting;               /* archive class: restore requested or in progress */
    bool stopped;               /* should_stop said so: not an outcome */
    bool permanent;             /* failure not worth retrying */
    char not_carried[128];
    int64_t retries;
};

/* 0 when copied and verified, or waiting (res->waiting); else an error in err (MIG_STOPPED_RC
 * -EINTR when should_stop ended it, -EAGAIN when the source changed while read). */
int mig_copy_object(const struct mig_copy_env *env, CURL *hs, CURL *hd, const char *key,
                    int64_t size, const char *etag, const char *storage_class,
                    struct mig_copy_result *res, char *err, size_t errsz);
/* Small objects are copied in two halves by two threads (engine.c): a fetcher GETs and
 * verifies one, a putter writes it while the fetcher already reads the next. */
#define MIG_PIPE_MAX (1024 * 1024) /* largest object copied that way */

struct mig_fetched {
    struct mig_resp resp;       /* the whole object and the source's response headers */
    int64_t mtime;              /* source Last-Modified, unix seconds (0: unknown) */
};

/* True if an object listed with this size, ETag and class can go through mig_copy_fetch. */
bool mig_copy_pipelinable(const struct mig_copy_env *env, int64_t size, const char *etag,
                          const char *storage_class);
/* The first half: GET and verify (res: sha256, method, etag, size, not_carried). 1: fetched,
 * f holds the object (hand it to mig_copy_put, which frees f); else f is empty and the
 * result is mig_copy_object's (an object found archived is handled whole here). */
int mig_copy_fetch(const struct mig_copy_env *env, CURL *hs, CURL *hd, const char *key,
                   int64_t size, const char *etag, struct mig_fetched *f,
                   struct mig_copy_result *res, char *err, size_t errsz);
/* The second half: writes what mig_copy_fetch read (res->retries and ->permanent updated);
 * frees f. */
int mig_copy_put(const struct mig_copy_env *env, CURL *hd, const char *key,
                 struct mig_fetched *f, struct mig_copy_result *res, char *err, size_t errsz);
/* HEADs the source again after it changed: its current size and ETag. */
int mig_copy_restat(const struct mig_copy_env *env, CURL *hs, const char *key, int64_t *size,
                    char *etag, size_t etagsz);

#endif
