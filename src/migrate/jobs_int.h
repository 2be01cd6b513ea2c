/*
 * jobs_int.h - private to the migration jobs (jobs.c: table and API; jobs_run.c: scheduler
 * and runners; jobs_json.c: JSON, reports, progress).
 *
 * Every job lives in memory (a list under mig_jobs.mu) and in DATA/migrate/jobs.db; a change
 * is written through under the same lock. A job's source/destination settings never change
 * after creation, so a runner reads them without the lock; everything else (state, stats,
 * times) is read and written under mu. A job with a runner (active) is never freed.
 */
#ifndef GZ_MIGRATE_JOBS_INT_H
#define GZ_MIGRATE_JOBS_INT_H

#include <pthread.h>
#include <sqlite3.h>

#include "../util/util.h"
#include "jobs.h"

#define MIG_JOBS_LIST_MAX 10000 /* failed/waiting/not-carried entries kept in a report */
#define MIG_JOBS_MSG_MAX 512

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
};

/* jobs.c */
struct mig_job *mig__job_find(struct mig_jobs *jobs, const char *id);
/* Writes the job's mutable columns (under mu). */
int mig__job_save(struct mig_jobs *jobs, struct mig_job *job);
/* Stores the report text of the job's last finished pass (under mu). */
int mig__job_save_report(struct mig_jobs *jobs, const char *id, const char *report);
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

#endif
