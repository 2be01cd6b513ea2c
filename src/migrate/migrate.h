/*
 * migrate.h - the migration engine: copies a bucket (or a prefix of it) from any S3 endpoint
 * to any S3 endpoint, verified and resumable (issue 4). The source listing streams into an
 * on-disk SQLite journal so memory stays flat; the diff against the destination decides what
 * to copy; objects are copied by a pool of worker threads (blocking libcurl easy handles), an
 * object above the part size as up to 4 parallel ranged GETs feeding a multipart upload;
 * objects up to 1 MiB are read by the workers and written by as many putter threads (a
 * pipeline: the next GET overlaps the last PUT). Memory is bounded by concurrency x 4 x part
 * size + concurrency x 1 MiB + 16 MiB and 32 objects per putter queued, whatever the bucket
 * or object size or the number of keys.
 *
 * Standalone first increment: `gzy migrate copy` (src/cli/migrate.c). All strings passed in
 * are borrowed for the duration of the call.
 */
#ifndef GZ_MIGRATE_H
#define GZ_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct gz_mig_sealer; /* seal.h */

enum gz_mig_provider {
    GZ_MIG_GENERIC = 0,
    GZ_MIG_AWS,
    GZ_MIG_ALIYUN_OSS,
    GZ_MIG_HUAWEI_OBS,
    GZ_MIG_TENCENT_COS,
};

/* Provider presets (provider.c): name, addressing, the provider's header namespace and
 * user-metadata prefix, and the pattern of its S3-compatible endpoint. Static, immutable. */
struct gz_mig_preset {
    enum gz_mig_provider provider;
    const char *name;           /* "aws", "aliyun-oss", "huawei-obs", "tencent-cos", "generic" */
    bool virtual_hosted;        /* bucket.host addressing (IP/localhost endpoints: path style) */
    const char *meta_prefix;    /* e.g. "x-oss-meta-"; NULL if only x-amz-meta- */
    const char *header_prefix;  /* the provider's own headers, "x-oss-"; NULL: x-amz- only */
    const char *host_pre;       /* default endpoint https://<host_pre>REGION<host_post> ... */
    const char *host_post;      /* ... ("oss-", ".aliyuncs.com"); NULL (generic): none */
};

/* Preset by name; NULL if unknown. */
const struct gz_mig_preset *gz_migrate_preset_find(const char *name);
const struct gz_mig_preset *gz_migrate_preset_get(enum gz_mig_provider p);

/*
 * The default endpoint of a preset for a region, written to out (NUL-terminated):
 * aliyun-oss https://oss-REGION.aliyuncs.com, huawei-obs https://obs.REGION.myhuaweicloud.com,
 * tencent-cos https://cos.REGION.myqcloud.com, aws https://s3.REGION.amazonaws.com (.com.cn
 * for cn-*). The region must have a region's form (lower-case "xx-name[-name...]", with a
 * trailing number for aws): 0, or -EINVAL with a one-line reason in err (bad or missing
 * region, or the generic preset, which has no pattern). Pure: nothing is contacted.
 */
int gz_migrate_preset_endpoint(const struct gz_mig_preset *p, const char *region, char *out,
                               size_t outsz, char *err, size_t errsz);
/* True if region has the form above (any provider; aws also needs the trailing number). */
bool gz_migrate_region_valid(enum gz_mig_provider p, const char *region);

/*
 * The RestoreObject (POST ?restore) body each provider documents, for an object of the given
 * archive storage class: AWS and generic GlacierJobParameters, Huawei OBS RestoreJob, Tencent
 * COS CASJobParameters, Aliyun OSS Days alone for Archive and JobParameters for ColdArchive and
 * DeepColdArchive; tier Standard, days 2. Returns the length written (NUL-terminated), or
 * -ENOSPC.
 */
int gz_migrate_restore_body(enum gz_mig_provider p, const char *storage_class, char *out,
                            size_t outsz);
/* A restore-status header value (x-amz-restore, x-oss-restore, x-obs-restore, x-cos-restore):
 * true when the restored copy is readable (ongoing-request="false", or an expiry date without
 * a restore still ongoing). */
bool gz_migrate_restore_ready(const char *value);

/*
 * What a source GET/HEAD response carries that cannot be kept at the destination, from its
 * raw header block ("Name: value" lines; the provider's prefixes as well as x-amz-): a
 * comma-separated list of words written to out (NUL-terminated, "" if everything is kept):
 * "tags", "storage-class", "sse-kms", "sse-c", "website-redirect", "object-lock",
 * "acl" (grants or a non-private canned ACL visible on HEAD), "metadata" (user metadata the
 * source could not return, x-amz-missing-meta, or too long a name to map), and
 * "foreign-metadata" (user metadata under another provider's prefix than the preset's). The
 * preset may be NULL (generic).
 */
void gz_migrate_not_carried(const struct gz_mig_preset *preset, const char *headers,
                            size_t len, char *out, size_t outsz);

/*
 * Maps one source response header to the header to send to the destination: the preserved
 * standard headers keep their name, x-amz-meta-* and the provider's prefix become
 * x-amz-meta-*. Returns true and writes the lower-case name to out (NUL-terminated) if kept.
 */
bool gz_migrate_meta_map(const struct gz_mig_preset *preset, const char *name, size_t namelen,
                         char *out, size_t outsz);

struct gz_mig_endpoint {
    const char *endpoint;       /* http(s)://host[:port] */
    const char *bucket;
    const char *access_key;
    const char *secret_key;
    const char *region;         /* NULL: us-east-1 */
    const char *prefix;         /* source only; NULL: whole bucket */
    enum gz_mig_provider provider;
};

/* Counters of one pass; bytes are object sizes. */
struct gz_mig_stats {
    int64_t listed, listed_bytes;
    int64_t to_copy, to_copy_bytes;     /* decided by the diff */
    int64_t copied, copied_bytes;       /* written to the destination this pass */
    int64_t verified, verified_bytes;   /* copied and verified this pass */
    int64_t verified_md5, verified_sha256;  /* by method */
    int64_t verified_crc64, verified_mpu;   /* provider CRC64-ECMA; multipart ETag recomputed */
    int64_t waiting, waiting_bytes;     /* archive-class objects waiting for a restore */
    int64_t excluded;                   /* listed but filtered out by include/exclude */
    int64_t not_carried;                /* copied, but something could not be carried over */
    int64_t skipped, skipped_bytes;     /* already present and unchanged */
    int64_t failed, failed_bytes;
    int64_t deleted, to_delete;         /* extraneous destination keys */
    int64_t retries;
    int64_t started_ms, elapsed_ms;
};

/* Per-object outcome, for JSON lines: state is "verified", "failed" or "waiting" (archive
 * class, restore requested); detail is the verification method ("md5", "crc64", "mpu-md5",
 * "size+sha256") or the failure reason. A verified object with something that could not be
 * carried over gets a second call, state "not-carried", detail the comma-separated list
 * ("tags", "storage-class", "sse-kms", "sse-c", "website-redirect", "object-lock", "acl",
 * "metadata", "foreign-metadata", "acl-unknown"; see gz_migrate_not_carried). */
typedef void gz_mig_object_fn(void *arg, const char *key, int64_t size, const char *state,
                              const char *detail);
typedef void gz_mig_progress_fn(void *arg, const struct gz_mig_stats *st, const char *phase);

struct gz_mig_options {
    struct gz_mig_endpoint src, dst;
    int concurrency;            /* source readers, and as many writers of objects <= 1 MiB;
                                 * <= 0: 8 */
    bool dry_run;               /* list and diff only */
    bool delete_extraneous;
    const char *journal_path;   /* NULL: a temporary journal removed at the end */
    int64_t part_size;          /* <= 0: 8 MiB (at least 5 MiB) */
    gz_mig_object_fn *on_object;    /* may be NULL; called serialised */
    gz_mig_progress_fn *on_progress; /* may be NULL; called about once a second */
    void *cb_arg;
    /* Destination inside this process: when non-NULL, objects are written through the store
     * interface (no HTTP round trip); dst.bucket names the bucket, the rest of dst is unused. */
    struct store *dst_store;
    /* With dst_store: seals objects written into a bucket that encrypts by default (seal.h);
     * NULL: such a bucket is refused. */
    const struct gz_mig_sealer *dst_sealer;
    /* Filters on source keys, rclone-style globs matched against the whole key: '*' any run
     * without '/', '**' any run, '?' one character other than '/'. An excluded key is never
     * copied; with includes, only keys matching one are. Excluded keys are not extraneous. */
    const char *const *include;
    int n_include;
    const char *const *exclude;
    int n_exclude;
    int64_t bandwidth_limit;    /* bytes/s read from the source, all workers together; 0: none */
    bool no_restore;            /* do not request restores of archive-class objects */
    /* Read each copied object's ACL at the source (one GET ?acl per object) and report the
     * objects whose grants go beyond the owner's full control ("acl" in not_carried: grants
     * are not carried over; access at the destination follows the tenant's bucket policies).
     * Without it the pass report says ACLs were not examined. */
    bool check_acl;
    /* Polled between objects and between parts; returning true ends the pass early (pause,
     * cancel, shutdown) with the journal resumable: gz_migrate_copy returns GZ_MIG_STOPPED. */
    bool (*should_stop)(void *arg);
};

/* Failed objects of the last pass, from the journal. */
typedef void gz_mig_failed_fn(void *arg, const char *key, const char *reason, int64_t retries);

/*
 * Runs one pass. Returns 0 when every object was copied or skipped, GZ_MIG_PARTIAL (1) when
 * some objects failed (listed by on_failed), or a negative errno when the pass could not run
 * (bad endpoint, bad credentials, journal error): then err holds a one-line message.
 */
#define GZ_MIG_PARTIAL 1
#define GZ_MIG_STOPPED 2
int gz_migrate_copy(const struct gz_mig_options *opt, struct gz_mig_stats *st,
                    gz_mig_failed_fn *on_failed, void *failed_arg, char *err, size_t errsz);

/* ---- evidence (manifest.c) ---- */

/*
 * Writes the signed evidence manifest of the last pass recorded in a journal: one entry per
 * object present and verified at the destination (key, size, sha256, source etag, method),
 * the pass's counts, the label (job id or "copy") and the time, signed with Ed25519 (the
 * platform key: seed = iam_master_key_derive(DATA, "migrate-manifest-ed25519")); the public
 * key is embedded. Written to a temporary file, fsynced and renamed. Returns the number of
 * objects listed, or a negative errno with err set.
 */
/* Removes a journal and SQLite's -wal and -shm files beside it (missing ones are fine). */
void gz_migrate_journal_remove(const char *path);

#define GZ_MIG_MANIFEST_KEY_PURPOSE "migrate-manifest-ed25519"
int64_t gz_migrate_manifest_write(const char *journal_path, const char *out_path,
                                  const uint8_t seed[32], const char *label, char *err,
                                  size_t errsz);

/* ---- diff decision (pure; exposed for tests) ---- */

enum gz_mig_action { GZ_MIG_SKIP = 0, GZ_MIG_COPY_NEW, GZ_MIG_COPY_CHANGED };

struct gz_mig_diff_row {
    int64_t src_size;
    const char *src_etag;       /* as listed, quotes stripped */
    int64_t src_mtime;          /* unix seconds */
    const char *done_etag;      /* source ETag of the last verified copy (journal), or NULL */
    bool dst_present;
    int64_t dst_size;
    const char *dst_etag;
    int64_t dst_mtime;
};

enum gz_mig_action gz_migrate_diff_decide(const struct gz_mig_diff_row *r);

/* True if an ETag is a multipart ETag ("<hex>-<n>"). */
bool gz_migrate_etag_is_multipart(const char *etag);

#endif
