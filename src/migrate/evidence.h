/*
 * evidence.h - the migration evidence (issue 4): the signed manifest of a pass (written by
 * gz_migrate_manifest_write, declared in migrate.h), reading and checking it against the data
 * stored at the destination (`gzy migrate verify-manifest`), and the pre-migration estimate of
 * a source (`gzy migrate estimate`). The manifest format is documented in
 * docs/migration-evidence.md.
 *
 * All strings passed in are borrowed for the duration of the call. The functions here keep no
 * state between calls and may be called from any thread; the callbacks are called from the
 * calling thread unless said otherwise.
 */
#ifndef GZ_MIGRATE_EVIDENCE_H
#define GZ_MIGRATE_EVIDENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migrate.h"

/* ---- keys (manifest.c) ---- */

/* The Ed25519 public key of a 32-byte seed (the raw private key). 0 or GZ_ECORRUPT. */
int gz_migrate_manifest_pubkey(const uint8_t seed[32], uint8_t pub[32]);
/* The platform manifest key of a data directory: seed = iam_master_key_derive(DIR,
 * GZ_MIG_MANIFEST_KEY_PURPOSE) and its public key (either out may be NULL). -ENOENT if DIR
 * has no master key. The caller should explicit_bzero the seed after use. */
int gz_migrate_manifest_key(const char *data_dir, uint8_t seed[32], uint8_t pub[32]);

/*
 * Records in a journal what the manifest names as the pass's source and destination (the
 * journal's info table, keys source_endpoint, source_bucket, source_prefix, dest_bucket).
 * Call before gz_migrate_manifest_write (after or before the pass); without it those manifest
 * fields are null. Never records credentials. 0 or -EIO with err set.
 */
int gz_migrate_manifest_describe(const char *journal_path, const struct gz_mig_endpoint *src,
                                 const char *dest_bucket, char *err, size_t errsz);

/* ---- reading a manifest (manifest.c) ---- */

struct gz_mig_manifest_info {
    int64_t version; /* 1 */
    int64_t pass;
    int64_t objects, bytes; /* counts.objects / counts.bytes, checked against the entries */
    char label[128];
    char created[40];                                          /* RFC 3339 */
    char src_endpoint[512], src_bucket[256], src_prefix[1100]; /* "" when null */
    char dest_bucket[256];
    char public_key[65]; /* hex, as embedded */
};

/* One object of a manifest; strings valid during the callback; sha256 may be NULL (objects
 * found unchanged at the destination by an earlier tool: method "existing"). */
struct gz_mig_manifest_entry {
    const char *key;
    int64_t size;
    const char *sha256;      /* lower-case hex or NULL */
    const char *source_etag; /* may be NULL */
    const char *method;
};
typedef int gz_mig_manifest_entry_fn(void *arg, const struct gz_mig_manifest_entry *e);

/*
 * Reads a manifest in one streaming pass (memory bounded by the longest line), checks its
 * structure (keys strictly ascending, counts matching the entries) and its Ed25519 signature:
 * with pub non-NULL the embedded public key must equal pub; with pub NULL the embedded key is
 * used (self-consistency only: proves nothing about who signed). Calls fn (if non-NULL) for
 * each entry as it is read, i.e. BEFORE the signature is known: to act only on a verified
 * manifest, call once with fn NULL, then again with fn (the second call checks again and
 * fails if the file changed in between). A non-zero return of fn stops the read and is
 * returned. Returns 0, GZ_ECORRUPT (malformed or bad signature; err says which), or a
 * negative errno (file).
 */
int gz_migrate_manifest_read(const char *path, const uint8_t pub[32],
                             struct gz_mig_manifest_info *info, gz_mig_manifest_entry_fn *fn,
                             void *arg, char *err, size_t errsz);

/* ---- checking a manifest against the destination (manifest_check.c) ---- */

struct gz_mig_check_result {
    int64_t objects, bytes; /* listed in the manifest */
    int64_t ok, missing, mismatched, errors;
    int64_t size_only; /* of ok: entries without sha256, matched by size only */
    int64_t bytes_read;
    int64_t elapsed_ms;
};

/* One object that did not check out: problem is "missing", "mismatched" or "error"; detail
 * says what (sizes, hashes, HTTP status). Called serialised, from worker threads. */
typedef void gz_mig_check_fn(void *arg, const char *key, const char *problem, const char *detail);

struct gz_mig_check_options {
    struct gz_mig_endpoint dst; /* bucket NULL: the manifest's destination bucket */
    /* Non-NULL: read the objects through this store (in dst.bucket, else the manifest's
     * destination bucket) instead of over HTTP; dst's endpoint and keys are then unused.
     * The store must stay open for the whole call. */
    struct store *store;
    /* With store: decrypts objects of buckets with default encryption (seal.h), so that the
     * plaintext is hashed; NULL: stored bytes are hashed as they are. Outlives the call. */
    const struct gz_mig_sealer *sealer;
    const uint8_t *public_key;  /* 32 bytes: the trusted key; NULL: embedded (see read) */
    int concurrency;            /* parallel GETs; <= 0: 8 */
    gz_mig_check_fn *on_bad;    /* may be NULL */
    void *cb_arg;
    /* Polled before each object (from any thread; may be NULL): true ends the check early,
     * which then returns -EINTR (a server shutting down, a job deleted). */
    bool (*should_stop)(void *arg);
};

/*
 * Checks the signature first (nothing is read from the destination if it fails), then GETs
 * every object listed (or, with opt->store, reads it through the store: a server checks the
 * data it holds without a GetObject right), streaming its bytes through SHA-256, and
 * compares size and hash.
 * Returns 0 if every object matched, GZ_MIG_PARTIAL if some were missing, mismatched or could
 * not be read, GZ_ECORRUPT if the manifest is malformed or its signature does not verify, or
 * a negative errno (bad endpoint or credentials: err says which).
 */
int gz_migrate_manifest_check(const char *manifest_path, const struct gz_mig_check_options *opt,
                              struct gz_mig_check_result *res, char *err, size_t errsz);

/* ---- estimate (estimate.c) ---- */

/* Size histogram: power-of-4 buckets, [0] < 4 KiB, [i] in [4^i KiB, 4^(i+1) KiB), the last
 * >= 4 GiB. */
#define GZ_MIG_HIST_BUCKETS 12
/* Archive classes counted, matched case-insensitively: GLACIER, DEEP_ARCHIVE (AWS, COS,
 * OBS), ARCHIVE (OSS Archive, COS ARCHIVE), ColdArchive and DeepColdArchive (OSS), COLD (OBS).
 * Not GLACIER_IR (readable at once). */
#define GZ_MIG_ARCHIVE_CLASSES 6

struct gz_mig_estimate {
    int64_t objects, bytes; /* listed (the sample when truncated) */
    int64_t hist[GZ_MIG_HIST_BUCKETS], hist_bytes[GZ_MIG_HIST_BUCKETS];
    int64_t archive, archive_bytes;
    int64_t archive_class[GZ_MIG_ARCHIVE_CLASSES];
    bool truncated; /* a sample limit stopped the listing before its end */
    int64_t sample; /* the limit asked for, 0: none */
    /* measured by GETs of a few listed objects (when asked) */
    int64_t measured_objects, measured_bytes, measured_ms;
    double measured_bps; /* 0: not measured */
    int64_t elapsed_ms;  /* listing time */
    /* the per-object cost, measured by GETs of up to 4 of the smallest listed objects (not
     * archive class): measured_ops is the objects/s one stream sustains once their bytes' time
     * at measured_bps is taken out; 0: not measured */
    int64_t measured_small_objects, measured_small_ms;
    double measured_ops;
};

/* Name of archive class i (0 <= i < GZ_MIG_ARCHIVE_CLASSES). */
const char *gz_migrate_archive_class_name(int i);
/* Index of an archive storage class, or -1 (STANDARD, GLACIER_IR, "", ...). */
int gz_migrate_archive_class(const char *storage_class);
/* Histogram bucket of a size; label writes "<4 KiB", "4-16 KiB", ..., ">=4 GiB". */
int gz_migrate_hist_bucket(int64_t size);
void gz_migrate_hist_label(int bucket, char *out, size_t outsz);

/*
 * Lists the source (all of it, or the first sample keys when sample > 0) into est, and with
 * measure GETs up to 4 of the largest listed objects (not archive class, at most 64 MiB read
 * in all) one after the other to measure a single-stream rate, then up to 4 of the smallest
 * for the per-object cost (measured_ops). 0, or a negative errno with err set
 * (bad endpoint, credentials, bucket).
 */
int gz_migrate_estimate(const struct gz_mig_endpoint *src, int64_t sample, bool measure,
                        struct gz_mig_estimate *est, char *err, size_t errsz);

#endif
