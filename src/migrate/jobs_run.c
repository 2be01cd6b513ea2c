/*
 * jobs_run.c - the scheduler thread and the runners of migration jobs. The scheduler starts
 * a runner thread for each job that is "running", due and not active, at most max_running at
 * once, and joins runners that returned. A runner does one pass: opens the source secret,
 * makes sure the destination bucket is the tenant's, runs gz_migrate_copy() writing through
 * the store with the job's journal, then files the report (report.c) and the manifest.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "evidence.h"
#include "jobs_int.h"
#include "report.h"

#define MIG_SAVE_EVERY_MS 5000

/* What one pass collects for its report (callbacks are serialised by the engine). */
struct pass_ctx {
    struct mig_job *job;
    struct gz_mig_report lists; /* failed, waiting, not carried (report.h) */
    bool proven_read;           /* the diff's proven count is known (cb_progress) */
};

/* The objects of the journal's current pass whose copy a pass verified end to end (state
 * verified, by any method but "existing": found at the destination, never read). Read from
 * its own read-only connection (WAL: the engine's writes carry on). */
static int journal_proven(const struct mig_job *j, int64_t out[2])
{
    char path[4096];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = -EIO;
    mig__job_path(j->jobs, j->id, "journal", path, sizeof(path));
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        goto out;
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_prepare_v2(db,
                           "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM src WHERE state ="
                           " 'verified' AND COALESCE(method, '') <> 'existing' AND pass ="
                           " (SELECT CAST(v AS INTEGER) FROM info WHERE k = 'pass')",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        goto out;
    out[0] = sqlite3_column_int64(st, 0);
    out[1] = sqlite3_column_int64(st, 1);
    rc = 0;
out:
    if (rc)
        log_warn("migrate: job %s: cannot read the journal's verified count: %s", j->id,
                 db ? sqlite3_errmsg(db) : "open failed");
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

/* Under mu: the skipped objects of a pass that an earlier pass verified = the journal's
 * verified objects of the pass less those this pass copied and verified. */
static void proven_set(int64_t dst[2], const int64_t total[2], const struct gz_mig_stats *st)
{
    dst[0] = GZ_MAX((int64_t)0, GZ_MIN(total[0] - st->verified, st->skipped));
    dst[1] = GZ_MAX((int64_t)0, GZ_MIN(total[1] - st->verified_bytes, st->skipped_bytes));
}

/* ---- engine callbacks ---- */

static bool cb_should_stop(void *arg)
{
    struct pass_ctx *p = arg;
    struct mig_jobs *jobs = p->job->jobs;
    pthread_mutex_lock(&jobs->mu);
    bool stop = jobs->stopping || p->job->stop;
    pthread_mutex_unlock(&jobs->mu);
    return stop;
}

static void cb_progress(void *arg, const struct gz_mig_stats *st, const char *phase)
{
    struct pass_ctx *p = arg;
    struct mig_job *j = p->job;
    int64_t proven[2];
    /* "copying" is reported once the diff committed, before any copy: the verified objects
     * of the pass are then the ones skipped as unchanged */
    bool got = !p->proven_read && strcmp(phase, "copying") == 0 && journal_proven(j, proven) == 0;
    pthread_mutex_lock(&j->jobs->mu);
    j->stats = *st;
    if (got) {
        proven_set(j->cur_proven, proven, st);
        p->proven_read = true;
    }
    if (strcmp(j->state, "running") == 0)
        snprintf(j->phase, sizeof(j->phase), "%s", phase);
    if (gz_now_ms() - j->last_save_ms >= MIG_SAVE_EVERY_MS)
        mig__job_save(j->jobs, j);
    pthread_mutex_unlock(&j->jobs->mu);
}

static void cb_object(void *arg, const char *key, int64_t size, const char *state,
                      const char *detail)
{
    struct pass_ctx *p = arg;
    gz_migrate_report_object(&p->lists, key, size, state, detail);
}

static void cb_failed(void *arg, const char *key, const char *reason, int64_t retries)
{
    struct pass_ctx *p = arg;
    gz_migrate_report_failed(&p->lists, key, reason, retries);
}

/* ---- one pass ---- */

/* Creates the destination bucket for the tenant, or checks that it is the tenant's. */
static int dest_prepare(struct mig_job *j, char *err, size_t errsz)
{
    struct store_bucket b;
    int rc = store_bucket_get(j->jobs->store, gz_slice_cstr(j->dest_bucket), &b);
    if (rc == 0 && strcmp(b.owner, j->tenant_id) != 0) {
        snprintf(err, errsz, "destination bucket '%s' belongs to another tenant", j->dest_bucket);
        return -EACCES;
    }
    if (rc == 0)
        return 0;
    memset(&b, 0, sizeof(b));
    snprintf(b.name, sizeof(b.name), "%s", j->dest_bucket);
    snprintf(b.region, sizeof(b.region), "%s", j->jobs->region);
    snprintf(b.owner, sizeof(b.owner), "%s", j->tenant_id);
    b.created_ms = gz_now_ms();
    rc = store_bucket_create(j->jobs->store, &b);
    if (rc == GZ_EBUCKETOWNED)
        return 0;
    if (rc == GZ_EBUCKETEXISTS) {
        snprintf(err, errsz, "destination bucket '%s' belongs to another tenant", j->dest_bucket);
        return -EACCES;
    }
    if (rc < 0)
        snprintf(err, errsz, "cannot create destination bucket '%s': %s", j->dest_bucket,
                 gz_strerror(rc));
    return rc;
}

static int pass_copy(struct pass_ctx *p, struct gz_mig_stats *st, char *err, size_t errsz)
{
    struct mig_job *j = p->job;
    char ctx[64], secret[IAM_MAX_SECRET + 1], journal[4096];
    snprintf(ctx, sizeof(ctx), "migrate-source:%s", j->id);
    int rc = iam_secret_open(j->jobs->iam, ctx, j->secret_sealed, secret, sizeof(secret));
    if (rc < 0) {
        snprintf(err, errsz, "cannot open the stored source secret: %s", gz_strerror(rc));
        return rc;
    }
    if ((rc = dest_prepare(j, err, errsz)) < 0)
        goto out;
    mig__job_path(j->jobs, j->id, "journal", journal, sizeof(journal));
    struct gz_mig_options opt = {
        .src = {.endpoint = j->endpoint,
                .bucket = j->bucket,
                .access_key = j->access_key,
                .secret_key = secret,
                .region = j->region,
                .prefix = j->prefix,
                .provider = j->provider},
        .dst = {.bucket = j->dest_bucket},
        .concurrency = j->concurrency,
        .dry_run = j->dry_run,
        .delete_extraneous = j->delete_extraneous,
        .check_acl = j->check_acl,
        .journal_path = journal,
        .on_object = cb_object,
        .on_progress = cb_progress,
        .cb_arg = p,
        .dst_store = j->jobs->store,
        .dst_sealer = j->jobs->sealer,
        .include = (const char *const *)j->include,
        .n_include = j->n_include,
        .exclude = (const char *const *)j->exclude,
        .n_exclude = j->n_exclude,
        .bandwidth_limit = j->bandwidth_limit,
        .should_stop = cb_should_stop,
    };
    rc = gz_migrate_copy(&opt, st, cb_failed, p, err, errsz);
out:
    explicit_bzero(secret, sizeof(secret));
    return rc;
}

/* Writes the pass's manifest; returns its path (gz_malloc'ed) or NULL. */
static char *pass_manifest(struct mig_job *j, int64_t pass)
{
    char journal[4096], path[4096], err[256] = "";
    uint8_t seed[32];
    if (iam_master_key_derive(j->jobs->data_dir, GZ_MIG_MANIFEST_KEY_PURPOSE, seed) < 0)
        return NULL;
    mig__job_path(j->jobs, j->id, "journal", journal, sizeof(journal));
    snprintf(path, sizeof(path), "%s/manifest-%s-%lld.json", j->jobs->dir, j->id, (long long)pass);
    struct gz_mig_endpoint src = {.endpoint = j->endpoint, .bucket = j->bucket,
                                  .region = j->region, .prefix = j->prefix,
                                  .provider = j->provider};
    int64_t n = gz_migrate_manifest_describe(journal, &src, j->dest_bucket, err, sizeof(err));
    if (n == 0)
        n = gz_migrate_manifest_write(journal, path, seed, j->id, err, sizeof(err));
    explicit_bzero(seed, sizeof(seed));
    if (n < 0) {
        log_error("migrate: job %s: manifest: %s", j->id, err);
        return NULL;
    }
    return gz_strdup(path);
}

static char *pass_report(struct pass_ctx *p, const struct gz_mig_stats *st, int64_t pass, int rc,
                         const char *manifest)
{
    struct mig_job *j = p->job;
    struct gz_mig_report_head h = {.job = j->id, .tenant = j->tenant_name, .pass = pass,
                                   .dry_run = j->dry_run, .check_acl = j->check_acl, .rc = rc,
                                   .manifest = manifest};
    return gz_migrate_report_json(&h, st, &p->lists);
}

/* Under mu: the job's state after a pass that finished (rc 0 or GZ_MIG_PARTIAL). */
static void pass_finished(struct mig_job *j, const struct gz_mig_stats *st, int rc)
{
    char msg[128];
    j->passes_done = j->pass;
    j->last = *st;
    j->finished_ms = gz_now_ms();
    snprintf(msg, sizeof(msg), "%lld object(s) failed: see the report", (long long)st->failed);
    mig__job_set_error(j, rc == GZ_MIG_PARTIAL ? msg : NULL);
    if (strcmp(j->state, "running") != 0)
        return; /* paused or cancelled at the very end */
    if (rc == 0 && st->waiting > 0 && !j->dry_run) {
        /* archive-class objects wait for the restores this pass requested: the later pass
         * that copies them runs by itself (sooner if the job's interval is shorter) */
        int64_t wait_s =
            j->interval_s > 0 ? GZ_MIN(j->interval_s, j->restore_check_s) : j->restore_check_s;
        snprintf(j->phase, sizeof(j->phase), "restore-wait");
        j->next_run_ms = j->finished_ms + wait_s * 1000;
        return;
    }
    if (j->interval_s > 0) {
        snprintf(j->phase, sizeof(j->phase), "waiting");
        j->next_run_ms = j->finished_ms + j->interval_s * 1000;
        return;
    }
    snprintf(j->state, sizeof(j->state), "%s", rc == 0 ? "completed" : "failed");
    snprintf(j->phase, sizeof(j->phase), "done");
}

/* Under mu: after a pass that stopped early or could not run. */
static void pass_stopped(struct mig_job *j, const struct gz_mig_stats *st, int rc, const char *err)
{
    j->stats = *st;
    if (rc == GZ_MIG_STOPPED) {
        if (strcmp(j->state, "running") == 0)
            snprintf(j->phase, sizeof(j->phase), "%s",
                     j->jobs->stopping ? "interrupted" : "queued");
        return;
    }
    if (strcmp(j->state, "running") == 0 || strcmp(j->state, "paused") == 0) {
        snprintf(j->state, sizeof(j->state), "failed");
        snprintf(j->phase, sizeof(j->phase), "done");
    }
    j->finished_ms = gz_now_ms();
    mig__job_set_error(j, err[0] ? err : gz_strerror(rc));
    log_warn("migrate: job %s failed: %s", j->id, j->error);
}

static void *runner_main(void *arg)
{
    struct mig_job *j = arg;
    struct mig_jobs *jobs = j->jobs;
    struct pass_ctx p = {.job = j};
    struct gz_mig_stats st;
    char err[MIG_JOBS_MSG_MAX] = "", *report = NULL, *manifest = NULL;
    memset(&st, 0, sizeof(st));
    gz_migrate_report_init(&p.lists);

    pthread_mutex_lock(&jobs->mu);
    if (j->pass <= j->passes_done) {
        j->pass = j->passes_done + 1;
        memset(&j->stats, 0, sizeof(j->stats));
    }
    memset(j->cur_proven, 0, sizeof(j->cur_proven));
    int64_t pass = j->pass;
    j->started_ms = gz_now_ms();
    j->finished_ms = 0;
    snprintf(j->phase, sizeof(j->phase), "listing");
    mig__job_save(jobs, j);
    pthread_mutex_unlock(&jobs->mu);
    log_info("migrate: job %s: pass %lld started", j->id, (long long)pass);

    int rc = pass_copy(&p, &st, err, sizeof(err));
    int64_t proven[2] = {0, 0};
    bool got = (rc == 0 || rc == GZ_MIG_PARTIAL) && journal_proven(j, proven) == 0;
    if ((rc == 0 || rc == GZ_MIG_PARTIAL) && !j->dry_run)
        manifest = pass_manifest(j, pass);
    if (rc == 0 || rc == GZ_MIG_PARTIAL)
        report = pass_report(&p, &st, pass, rc, manifest);

    pthread_mutex_lock(&jobs->mu);
    j->stats = st;
    if (got) {
        proven_set(j->cur_proven, proven, &st);
        if (report != NULL)
            memcpy(j->last_proven, j->cur_proven, sizeof(j->last_proven));
    }
    if (report != NULL) {
        mig__job_save_report(jobs, j->id, pass, report);
        if (manifest != NULL) {
            gz_free(j->manifest);
            j->manifest = manifest;
            j->manifests++;
            manifest = NULL;
        }
        pass_finished(j, &st, rc);
    } else {
        pass_stopped(j, &st, rc, err);
    }
    mig__job_save(jobs, j);
    j->reaped = true;
    pthread_cond_broadcast(&jobs->cv);
    pthread_mutex_unlock(&jobs->mu);
    log_info("migrate: job %s: pass %lld ended: %s", j->id, (long long)pass,
             rc == 0                ? "completed"
             : rc == GZ_MIG_PARTIAL ? "some objects failed"
             : rc == GZ_MIG_STOPPED ? "stopped"
                                    : "failed");
    gz_free(report);
    gz_free(manifest);
    gz_migrate_report_free(&p.lists);
    return NULL;
}

/* ---- the scheduler ---- */

/* Under mu: joins runners that returned; starts due jobs. Returns the next wake-up time. */
static int64_t sched_tick(struct mig_jobs *jobs)
{
    int64_t now = gz_now_ms(), wake = now + 1000;
    int active = 0;
    for (struct mig_job *j = jobs->head; j; j = j->next) {
        if (j->active && j->reaped) {
            pthread_join(j->tid, NULL);
            j->active = j->reaped = false;
        }
        active += j->active;
    }
    for (struct mig_job *j = jobs->head; j && !jobs->stopping; j = j->next) {
        if (j->active || strcmp(j->state, "running") != 0)
            continue;
        if (j->next_run_ms > now) {
            wake = GZ_MIN(wake, j->next_run_ms);
            continue;
        }
        if (active >= jobs->max_running) {
            if (strcmp(j->phase, "queued") != 0)
                snprintf(j->phase, sizeof(j->phase), "queued");
            continue;
        }
        j->stop = false;
        j->reaped = false;
        if (pthread_create(&j->tid, NULL, runner_main, j) != 0) {
            log_error("migrate: cannot start a runner for job %s", j->id);
            continue;
        }
        j->active = true;
        active++;
    }
    return wake;
}

static void *sched_main(void *arg)
{
    struct mig_jobs *jobs = arg;
    pthread_mutex_lock(&jobs->mu);
    while (!jobs->stopping) {
        int64_t wake = sched_tick(jobs);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ms = wake - gz_now_ms();
        if (ms < 10)
            ms = 10;
        ts.tv_sec += (time_t)(ms / 1000);
        ts.tv_nsec += (long)(ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&jobs->cv, &jobs->mu, &ts);
    }
    for (struct mig_job *j = jobs->head; j; j = j->next) {
        if (!j->active)
            continue;
        pthread_t tid = j->tid;
        pthread_mutex_unlock(&jobs->mu);
        pthread_join(tid, NULL); /* the runner sees stopping at its next object */
        pthread_mutex_lock(&jobs->mu);
        j->active = j->reaped = false;
    }
    pthread_mutex_unlock(&jobs->mu);
    return NULL;
}

int mig__sched_start(struct mig_jobs *jobs)
{
    int rc = pthread_create(&jobs->sched, NULL, sched_main, jobs);
    if (rc != 0)
        return -rc;
    jobs->sched_started = true;
    return 0;
}

void mig__sched_stop(struct mig_jobs *jobs)
{
    if (!jobs->sched_started)
        return;
    pthread_mutex_lock(&jobs->mu);
    jobs->stopping = true;
    pthread_cond_broadcast(&jobs->cv);
    pthread_mutex_unlock(&jobs->mu);
    pthread_join(jobs->sched, NULL);
    jobs->sched_started = false;
}
