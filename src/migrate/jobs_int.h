/*
 * jobs_int.h - private to the migration jobs (jobs.c: table and API; jobs_run.c: scheduler
 * and runners; jobs_json.c: JSON, reports, progress).
 *
 * Every job lives in memory (a list under mig_jobs.mu) and in DATA/migrate/jobs.db; a change
 * is written through under the same lock. A job's settings change only through
 * mig_jobs_update, under mu, while the job is not running and has no runner, so a runner reads
 * them without the lock; everything else (state, stats, times) is read and written under mu.
 * A job with a runner (active) is never freed.
 */
#ifndef GZ_MIGRATE_JOBS_INT_H
#define GZ_MIGRATE_JOBS_INT_H

#include <pthread.h>
#include <sqlite3.h>

#include "../util/util.h"
#include "jobs.h"

#define MIG_JOBS_MSG_MAX 512
#define MIG_EST_MAX_RUNNING 4 /* source estimates listing at once, over all jobs */
#define MIG_VER_MAX_RUNNING 2 /* manifest verifications at once, over all jobs */
#define MIG_VER_PROBLEMS_MAX 100 /* problems kept per verification */

/* The job's last source estimate (a listing that copies nothing; persisted as JSON). */
struct mig_job_est {
    char state[12];         /* "" (never), "running", "done", "failed" */
    int64_t objects, bytes; /* passing the job's filters (the sample when truncated) */
    int64_t archive, archive_bytes, excluded;
    int64_t sample; /* the limit asked for, 0: none (exact) */
    bool truncated; /* the sample limit stopped the listing: a lower bound */
    int64_t started_ms, finished_ms;
    char *error; /* NULL unless failed */
};

/* A background thread of the jobs (an estimate, a manifest verification), first member of
 * its run: kept on a list of mig_jobs (est_runs, ver_runs), joined and freed (free) once done
 * or at close. */
struct mig_bg_run {
    pthread_t tid;
    bool done; /* under mu: the thread returned (or is about to) and may be joined */
    void (*free)(struct mig_bg_run *run);
    struct mig_bg_run *next;
};

/* One estimate in progress: its own copy of what it needs, so that the job may be deleted
 * meanwhile (the result is then dropped). Owned by mig_jobs.est_runs; joined once done. */
struct mig_est_run {
    struct mig_bg_run bg; /* first */
    struct mig_jobs *jobs;
    char id[MIG_JOB_ID_LEN + 1];
    int64_t started_ms; /* matches mig_job_est.started_ms of the run the job waits for */
    char *endpoint, *bucket, *access_key, *region, *prefix, *secret_sealed;
    enum gz_mig_provider provider;
    char **include, **exclude;
    int n_include, n_exclude;
    int64_t sample;
};

/* The job's last manifest verification (mig_jobs_manifest_verify): in memory only; a restart
 * forgets it (one running then is lost: the supervisor asks again). */
struct mig_job_ver {
    char state[12]; /* "" (never), "running", "done", "failed" */
    int64_t pass, started_ms, finished_ms;
    int64_t objects, ok, missing, mismatched, errors;
    int64_t problems_total; /* problems found; problems keeps the first MIG_VER_PROBLEMS_MAX */
    cJSON *problems;        /* array of {key, problem, detail}, NULL if none; owned */
    char *error;            /* NULL unless failed */
};

/* One manifest verification in progress: its own copies, so that the job may be deleted
 * meanwhile (the result is then dropped). Owned by mig_jobs.ver_runs; joined once done. */
struct mig_ver_run {
    struct mig_bg_run bg; /* first */
    struct mig_jobs *jobs;
    char id[MIG_JOB_ID_LEN + 1];
    int64_t pass, started_ms; /* started_ms matches mig_job_ver.started_ms of its job */
    char *path, *bucket;      /* the manifest, the job's destination bucket */
    cJSON *problems;          /* filled by the check's on_bad (serialised) */
    int64_t problems_total;
};

struct mig_job {
    char id[MIG_JOB_ID_LEN + 1];
    char tenant_id[IAM_ID_LEN + 1];
    char tenant_name[IAM_MAX_NAME + 1];
    char *name; /* NULL if none */
    enum gz_mig_provider provider;
    char *endpoint, *region, *bucket, *prefix, *access_key; /* region/prefix may be NULL */
    char *secret_sealed; /* iam_secret_seal, context "migrate-source:<id>" */
    char **include, **exclude;
    int n_include, n_exclude;
    char *dest_bucket;
    int concurrency;
    int64_t bandwidth_limit, interval_s;
    int64_t restore_check_s; /* > 0 (the default once loaded) */
    bool delete_extraneous, dry_run, check_acl;
    /* mutable, under mu */
    char state[16];            /* created running paused completed failed cancelled */
    char phase[16];            /* queued listing diff copying waiting ... */
    int64_t pass, passes_done; /* pass > passes_done: a pass is in progress (or interrupted) */
    char *error;               /* NULL if none */
    char *manifest;            /* path of the last manifest, NULL if none */
    int64_t manifests;
    int64_t created_ms, started_ms, updated_ms, finished_ms, next_run_ms;
    struct gz_mig_stats stats; /* the current or last pass */
    struct gz_mig_stats last;  /* the last finished pass */
    struct mig_job_est est;    /* the last source estimate */
    struct mig_job_ver ver;    /* the last manifest verification */
    /* Of the objects a pass skipped as unchanged, those whose copy an earlier pass verified
     * end to end (journal: state verified, method not "existing"), objects and bytes: of the
     * current pass (known once its diff ran) and of the last finished one. */
    int64_t cur_proven[2], last_proven[2];
    /* the runner */
    bool active, reaped; /* reaped: the runner returned and may be joined */
    bool stop;           /* pause or cancel asked */
    pthread_t tid;
    int64_t last_save_ms;
    struct mig_jobs *jobs;
    struct mig_job *next;
};

struct mig_jobs {
    char *data_dir;
    char *dir; /* DATA/migrate */
    char *region;
    struct store *store;
    const struct gz_mig_sealer *sealer; /* mig_jobs_config.sealer, may be NULL */
    struct iam *iam;
    int max_running;
    sqlite3 *db;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
    pthread_t sched;
    bool sched_started;
    struct mig_job *head;
    struct mig_bg_run *est_runs; /* of struct mig_est_run */
    struct mig_bg_run *ver_runs; /* of struct mig_ver_run */
};

/* jobs.c */
struct mig_job *mig__job_find(struct mig_jobs *jobs, const char *id);
/* Writes the job's mutable columns (under mu). */
int mig__job_save(struct mig_jobs *jobs, struct mig_job *job);
/* Stores the report text of a finished pass (under mu), dropping reports older than the last
 * MIG_JOB_REPORTS_KEEP. */
int mig__job_save_report(struct mig_jobs *jobs, const char *id, int64_t pass, const char *report);
void mig__job_set_error(struct mig_job *job, const char *msg);
void mig__job_path(const struct mig_jobs *jobs, const char *id, const char *what, char *out,
                   size_t outsz);

/* jobs_run.c */
int mig__sched_start(struct mig_jobs *jobs);
void mig__sched_stop(struct mig_jobs *jobs);

/* jobs_json.c */
cJSON *mig__stats_json(const struct gz_mig_stats *st);
void mig__stats_parse(const char *text, struct gz_mig_stats *st);
/* The job as JSON (under mu). */
cJSON *mig__job_json(const struct mig_job *job);
cJSON *mig__strv_json(char *const *v, int n);
double mig__rate_bps(const struct gz_mig_stats *st);
cJSON *mig__est_json(const struct mig_job_est *e);
void mig__est_parse(const char *text, struct mig_job_est *e); /* e->error gz_malloc'ed */
cJSON *mig__ver_json(const struct mig_job_ver *v); /* null if never verified */

#endif
