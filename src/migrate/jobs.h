/*
 * jobs.h - migration jobs inside `gzy serve` (issue 4): a persistent job table
 * (DATA/migrate/jobs.db, SQLite WAL), background runners that drive gz_migrate_copy() passes
 * writing through the store, and the state machine the admin API exposes.
 *
 * States: "created" -> "running" -> ("paused" | "completed" | "failed" | "cancelled").
 * A running job whose process died is "running" in the table and is resumed by the next
 * mig_jobs_open() (its journal, DATA/migrate/job-<id>.journal, makes the resume cheap).
 * "completed" means the last pass finished with nothing failed or waiting; a job with
 * interval_s > 0 starts its next (incremental) pass interval_s seconds after the previous one
 * ended and stays "running" (phase "waiting") between passes. A pass that left archive-class
 * objects waiting for a restore (nothing failed) keeps the job "running" in phase
 * "restore-wait": its next pass runs restore_check_s later (next_run), until nothing waits.
 * Every finished pass's result and counts are kept (MIG_JOB_REPORTS_KEEP per job), its whole
 * report (the object lists) for the last MIG_JOB_REPORTS_FULL passes. Source secrets are
 * sealed with iam_secret_seal (context "migrate-source:<id>") and never returned or logged.
 *
 * Threading: every function may be called from any thread (the admin worker); runners are
 * threads owned by the mig_jobs. At most max_running jobs run at once; others wait, queued.
 */
#ifndef GZ_MIGRATE_JOBS_H
#define GZ_MIGRATE_JOBS_H

#include <cjson/cJSON.h>

#include "../iam/iam.h"
#include "../store/store.h"
#include "migrate.h"
#include "seal.h"

#define MIG_JOB_ID_LEN 16
#define MIG_RESTORE_CHECK_DEFAULT_S 900 /* 15 minutes */
/* Reports kept per job (jobs.db table reports): the last this many passes' result and
 * counts; the whole report (lists of up to 3 x 10,000 objects) for the last _FULL passes, so
 * that an interval job failing every pass does not fill the disk. */
#define MIG_JOB_REPORTS_KEEP 1000
#define MIG_JOB_REPORTS_FULL 20

struct mig_jobs;

struct mig_jobs_config {
    const char *data_dir;       /* jobs.db, journals and manifests go under DATA/migrate/ */
    struct store *store;        /* destination of every job */
    struct iam *iam;            /* tenants and sealing of source secrets */
    int max_running;            /* <= 0: 2 */
    const char *region;         /* region of destination buckets it creates; NULL: us-east-1 */
    /* Seals objects written into buckets that encrypt by default (seal.h; s3's implementation
     * in gzy serve); borrowed until mig_jobs_close. NULL: jobs into such buckets fail. */
    const struct gz_mig_sealer *sealer;
};

int mig_jobs_open(const struct mig_jobs_config *cfg, struct mig_jobs **out);
/* Stops the runners (a pass in progress stops at the next object; its job stays "running" and
 * resumes on the next open) and frees. NULL-safe. */
void mig_jobs_close(struct mig_jobs *jobs);

/* A new job. Strings are copied. */
struct mig_job_spec {
    const char *tenant;         /* tenant id or name; the destination bucket must be its own */
    const char *name;           /* free text, may be NULL */
    struct gz_mig_endpoint src; /* endpoint, bucket, keys, region, prefix, provider */
    const char *const *include;
    int n_include;
    const char *const *exclude;
    int n_exclude;
    const char *dest_bucket;    /* created for the tenant if it does not exist */
    int concurrency;            /* <= 0: 8 */
    int64_t bandwidth_limit;    /* bytes/s, 0: none */
    bool delete_extraneous;
    int64_t interval_s;         /* > 0: incremental passes this long apart until cancelled */
    /* <= 0: MIG_RESTORE_CHECK_DEFAULT_S. After a pass that left archive-class objects waiting
     * for a restore (and nothing failed), the next pass runs this long after it (sooner if
     * interval_s is shorter), until nothing waits: the "later pass" that copies them. */
    int64_t restore_check_s;
    bool start;                 /* start at once (else "created") */
    bool dry_run;               /* list and diff only: passes copy nothing */
    bool check_acl;             /* gz_mig_options.check_acl: one GET ?acl per copied object */
};

/* Creates a job; id_out gets its id. -EINVAL (msg says which field), -ENOENT (tenant). */
int mig_jobs_create(struct mig_jobs *jobs, const struct mig_job_spec *spec,
                    char id_out[MIG_JOB_ID_LEN + 1], char *msg, size_t msgsz);

/* action: "start", "pause", "resume", "cancel". -ENOENT (no job), -EBUSY (not allowed from
 * the job's state; msg says why), -EINVAL (unknown action). */
int mig_jobs_action(struct mig_jobs *jobs, const char *id, const char *action, char *msg,
                    size_t msgsz);
/* Deletes a job that is not running, with its journal (manifests stay). */
int mig_jobs_delete(struct mig_jobs *jobs, const char *id, char *msg, size_t msgsz);

/* A job as JSON (never the secret): id, tenant, tenant_name, name, state, phase, source
 * {provider, endpoint, region, bucket, prefix, access_key, include, exclude}, dest_bucket,
 * options, pass, created/started/updated/finished (RFC 3339), error, stats (the current or
 * last pass's gz_mig_stats fields), rate_bps, eta_s, manifest (path of the last one or null),
 * estimate (null, or the last source estimate: see mig_jobs_estimate).
 * The caller owns the cJSON. The tenant filter (id or name) may be NULL for all. */
int mig_jobs_get_json(struct mig_jobs *jobs, const char *id, cJSON **out);
int mig_jobs_list_json(struct mig_jobs *jobs, const char *tenant, cJSON **out);
/* The last finished pass's report: counts, bytes, per-method verification, failed objects
 * (key, reason, retries), waiting objects, what could not be carried over. format "json" (a
 * cJSON string of the object) or "csv" (one row per failed/waiting/not-carried object);
 * out is gz_malloc'ed text. -ENOENT if no pass finished yet. */
int mig_jobs_report(struct mig_jobs *jobs, const char *id, const char *format, char **out,
                    size_t *len);
/* The report of pass `pass` (<= 0: the latest kept), as mig_jobs_report. -ENOENT if that
 * pass has no report (not finished, or older than the last MIG_JOB_REPORTS_FULL). */
int mig_jobs_report_pass(struct mig_jobs *jobs, const char *id, int64_t pass, const char *format,
                         char **out, size_t *len);
/* The job's kept reports, newest first: a cJSON array of {pass, result ("completed",
 * "waiting", "partial"), started, finished, stats}. Caller owns it. -ENOENT (no job). */
int mig_jobs_reports_json(struct mig_jobs *jobs, const char *id, cJSON **out);

/* A change to a job that is not running (state created, paused, completed or failed, and no
 * runner active). Strings borrowed; NULL / negative: unchanged. The filters, source and
 * destination cannot change (they define what the job's passes and reports mean). */
struct mig_job_update {
    const char *access_key; /* the source's */
    const char *secret_key; /* re-sealed (iam_secret_seal), never stored or logged in clear */
    int concurrency;        /* 0: the default, 8 */
    int64_t bandwidth_limit;
    int64_t interval_s;
    int64_t restore_check_s; /* 0: MIG_RESTORE_CHECK_DEFAULT_S */
};
/* -ENOENT (no job), -EBUSY (the job is running or stopping: msg says so), -EINVAL (a value
 * out of range or nothing to change: msg says which). */
int mig_jobs_update(struct mig_jobs *jobs, const char *id, const struct mig_job_update *u,
                    char *msg, size_t msgsz);

/* Path of the last pass's signed manifest (DATA/migrate/manifest-<id>-<pass>.json). */
int mig_jobs_manifest_path(struct mig_jobs *jobs, const char *id, char *out, size_t outsz);

/* Estimates the job's source without copying: lists it with the job's stored credentials,
 * prefix and include/exclude filters on a thread of its own (never the caller's), counting
 * objects, bytes and archive-class objects. sample > 0 stops after that many keys (the result
 * is then a lower bound, "truncated"). The result is stored on the job (persisted) and shown
 * as its JSON's "estimate": {state: "running"|"done"|"failed", objects, bytes,
 * archive_objects, archive_bytes, excluded, sample, truncated, exact, started, finished,
 * elapsed_ms, error}. A job created with start false gets one automatically.
 * 0 if started or already running (*already set); -ENOENT (no job), -EBUSY (too many
 * estimates at once: msg says so), -ECANCELED (the job is cancelled). */
int mig_jobs_estimate(struct mig_jobs *jobs, const char *id, int64_t sample, bool *already,
                      char *msg, size_t msgsz);

/* Checks pass `pass`'s signed manifest (DATA/migrate/manifest-<id>-<pass>.json) against the
 * data stored in the job's destination bucket, on a thread of its own: the signature against
 * the platform manifest key, then each object read through the store (decrypted with the
 * sealer when encrypted at rest) and its size and SHA-256 compared (gz_migrate_manifest_check).
 * Needs no GetObject right: supervisors use it. The result is kept on the job in memory (not
 * persisted: a restart forgets it) and shown as its JSON's "manifest_verify": {pass, state:
 * "running"|"done"|"failed", clean, started, finished, elapsed_ms, objects, ok, missing,
 * mismatched, errors, problems_total, problems: [{key, problem, detail}] (the first 100),
 * error}. "done": every object was checked (clean says whether all matched); "failed": the
 * manifest or its signature is bad, or the bucket is gone.
 * 0 if started; -ENOENT (no job, or no manifest of that pass: msg says which), -EBUSY (one
 * already runs for this job, or too many at once: msg says so), -EINVAL (pass < 1). */
int mig_jobs_manifest_verify(struct mig_jobs *jobs, const char *id, int64_t pass, char *msg,
                             size_t msgsz);

/* Per-tenant progress for supervision (src/registry), summed over the tenant's jobs that are
 * not cancelled. A job's size ("to move") is the listing of its current pass once that pass
 * has listed, else of its last finished pass, else its last exact estimate, else unknown. */
struct mig_tenant_progress {
    int jobs, running, failed_jobs;
    int unsized_jobs;                       /* jobs whose size is unknown (see above) */
    int estimated_jobs;                     /* jobs whose size is their estimate */
    int64_t objects_total, bytes_total;     /* summed over the jobs whose size is known */
    int64_t objects_moved, bytes_moved;     /* present at the destination: copied and
                                             * verified, or found there unchanged */
    /* Of them, proven to have arrived intact: copied and verified end to end by the pass,
     * or skipped as unchanged since an earlier pass of the job copied and verified them
     * (objects found already present, never read by a pass, are moved but not verified). */
    int64_t objects_verified, bytes_verified;
    int64_t objects_failed, objects_waiting;
    double rate_bps;      /* current: passes running now (0 when none), bytes/s */
    double proj_rate_bps; /* for a projection: each job's current pass, else its last pass */
    bool all_verified;    /* >= 1 job, and every job's last pass completed with nothing failed,
                           * waiting or left to copy (every object of it verified) */
    int manifests;              /* signed manifests filed */
    /* jobs whose latest complete pass had nothing failed, waiting or left to copy and filed a
     * manifest; jobs (dry runs aside) whose latest complete pass filed none, or that have
     * none or an unclean one (evidence for cut-over, see docs/supervision.md) */
    int clean_manifests, missing_manifests;
    int64_t last_pass_end_ms;   /* 0: none yet */
};
int mig_jobs_tenant_progress(struct mig_jobs *jobs, const char *tenant_id,
                             struct mig_tenant_progress *out);

#endif
