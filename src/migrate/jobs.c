/*
 * jobs.c - the migration job table (DATA/migrate/jobs.db, SQLite WAL) and the API of jobs.h:
 * create, actions, delete, queries. Runners are in jobs_run.c, JSON in jobs_json.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "evidence.h"
#include "jobs_int.h"
#include "migrate_int.h"
#include "report.h"

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS jobs("
    " id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, tenant_name TEXT NOT NULL, name TEXT,"
    " provider INTEGER NOT NULL, endpoint TEXT NOT NULL, region TEXT, bucket TEXT NOT NULL,"
    " prefix TEXT, access_key TEXT NOT NULL, secret_sealed TEXT NOT NULL,"
    " include_json TEXT, exclude_json TEXT, dest_bucket TEXT NOT NULL,"
    " concurrency INTEGER, bandwidth_limit INTEGER, delete_extraneous INTEGER,"
    " interval_s INTEGER, dry_run INTEGER,"
    " state TEXT NOT NULL, phase TEXT, pass INTEGER, passes_done INTEGER, error TEXT,"
    " manifest TEXT, manifests INTEGER, created_ms INTEGER, started_ms INTEGER,"
    " updated_ms INTEGER, finished_ms INTEGER, next_run_ms INTEGER,"
    " stats_json TEXT, last_json TEXT, report TEXT);"
    /* every pass's report (jobs.report, the last one only, is the first release's) */
    "CREATE TABLE IF NOT EXISTS reports("
    " job TEXT NOT NULL, pass INTEGER NOT NULL, result TEXT, started TEXT, finished TEXT,"
    " stats_json TEXT, report TEXT NOT NULL, PRIMARY KEY(job, pass));";

/* An older jobs.db kept one report per job, in jobs.report: move it into reports. */
static const char reports_upgrade[] =
    "BEGIN IMMEDIATE;"
    "INSERT OR IGNORE INTO reports(job, pass, result, started, finished, stats_json, report)"
    " SELECT id, COALESCE(json_extract(report, '$.pass'), passes_done),"
    " json_extract(report, '$.result'), json_extract(report, '$.started'),"
    " json_extract(report, '$.finished'), json_extract(report, '$.stats'), report"
    " FROM jobs WHERE report IS NOT NULL AND json_valid(report);"
    "UPDATE jobs SET report = NULL WHERE report IS NOT NULL;"
    "COMMIT;";

/* Columns added after the first release (an existing table gets them; errors ignored). */
static const char *const added_columns[] = {
    "ALTER TABLE jobs ADD COLUMN check_acl INTEGER DEFAULT 0",
    "ALTER TABLE jobs ADD COLUMN estimate_json TEXT",
    "ALTER TABLE jobs ADD COLUMN proven TEXT",
    "ALTER TABLE jobs ADD COLUMN restore_check_s INTEGER",
};

/* ---- small helpers ---- */

static char *dup_or_null(const char *s)
{
    return s != NULL && *s ? gz_strdup(s) : NULL;
}

static void msg_set(char *msg, size_t msgsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void msg_set(char *msg, size_t msgsz, const char *fmt, ...)
{
    va_list ap;
    if (msg == NULL || msgsz == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, msgsz, fmt, ap);
    va_end(ap);
}

void mig__job_path(const struct mig_jobs *jobs, const char *id, const char *what, char *out,
                   size_t outsz)
{
    snprintf(out, outsz, "%s/job-%s.%s", jobs->dir, id, what);
}

void mig__job_set_error(struct mig_job *job, const char *msg)
{
    gz_free(job->error);
    job->error = dup_or_null(msg);
}

static void strv_free(char **v, int n)
{
    for (int i = 0; i < n; i++)
        gz_free(v[i]);
    gz_free(v);
}

static void job_free(struct mig_job *job)
{
    if (job == NULL)
        return;
    gz_free(job->name);
    gz_free(job->endpoint);
    gz_free(job->region);
    gz_free(job->bucket);
    gz_free(job->prefix);
    gz_free(job->access_key);
    if (job->secret_sealed)
        explicit_bzero(job->secret_sealed, strlen(job->secret_sealed));
    gz_free(job->secret_sealed);
    strv_free(job->include, job->n_include);
    strv_free(job->exclude, job->n_exclude);
    gz_free(job->dest_bucket);
    gz_free(job->error);
    gz_free(job->manifest);
    gz_free(job->est.error);
    gz_free(job->ver.error);
    cJSON_Delete(job->ver.problems);
    gz_free(job);
}

struct mig_job *mig__job_find(struct mig_jobs *jobs, const char *id)
{
    for (struct mig_job *j = jobs->head; j; j = j->next)
        if (id != NULL && strcmp(j->id, id) == 0)
            return j;
    return NULL;
}

static char **strv_parse(const char *json, int *n)
{
    cJSON *a = json ? cJSON_Parse(json) : NULL;
    int cnt = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : 0;
    char **v = cnt > 0 ? gz_calloc((size_t)cnt, sizeof(char *)) : NULL;
    *n = 0;
    for (int i = 0; i < cnt; i++) {
        const char *s = cJSON_GetStringValue(cJSON_GetArrayItem(a, i));
        if (s != NULL)
            v[(*n)++] = gz_strdup(s);
    }
    cJSON_Delete(a);
    return v;
}

static char *strv_text(char *const *v, int n)
{
    cJSON *a = mig__strv_json(v, n);
    char *t = cJSON_PrintUnformatted(a), *out = gz_strdup(t ? t : "[]");
    cJSON_free(t);
    cJSON_Delete(a);
    return out;
}

static char *stats_text(const struct gz_mig_stats *st)
{
    cJSON *o = mig__stats_json(st);
    char *t = cJSON_PrintUnformatted(o), *out = gz_strdup(t ? t : "{}");
    cJSON_free(t);
    cJSON_Delete(o);
    return out;
}

static void bg_runs_join_all(struct mig_jobs *jobs, struct mig_bg_run **list);
static int est_start(struct mig_jobs *jobs, struct mig_job *j, int64_t sample, char *msg,
                     size_t msgsz);

/* ---- the table ---- */

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

static struct mig_job *job_load(struct mig_jobs *jobs, sqlite3_stmt *st)
{
    struct mig_job *j = gz_calloc(1, sizeof(*j));
    j->jobs = jobs;
    snprintf(j->id, sizeof(j->id), "%s", col_text(st, 0));
    snprintf(j->tenant_id, sizeof(j->tenant_id), "%s", col_text(st, 1));
    snprintf(j->tenant_name, sizeof(j->tenant_name), "%s", col_text(st, 2));
    j->name = dup_or_null(col_text(st, 3));
    j->provider = (enum gz_mig_provider)sqlite3_column_int(st, 4);
    j->endpoint = gz_strdup(col_text(st, 5));
    j->region = dup_or_null(col_text(st, 6));
    j->bucket = gz_strdup(col_text(st, 7));
    j->prefix = dup_or_null(col_text(st, 8));
    j->access_key = gz_strdup(col_text(st, 9));
    j->secret_sealed = gz_strdup(col_text(st, 10));
    j->include = strv_parse(col_text(st, 11), &j->n_include);
    j->exclude = strv_parse(col_text(st, 12), &j->n_exclude);
    j->dest_bucket = gz_strdup(col_text(st, 13));
    j->concurrency = sqlite3_column_int(st, 14);
    j->bandwidth_limit = sqlite3_column_int64(st, 15);
    j->delete_extraneous = sqlite3_column_int(st, 16) != 0;
    j->interval_s = sqlite3_column_int64(st, 17);
    j->dry_run = sqlite3_column_int(st, 18) != 0;
    snprintf(j->state, sizeof(j->state), "%s", col_text(st, 19));
    snprintf(j->phase, sizeof(j->phase), "%s", col_text(st, 20) ? col_text(st, 20) : "");
    j->pass = sqlite3_column_int64(st, 21);
    j->passes_done = sqlite3_column_int64(st, 22);
    j->error = dup_or_null(col_text(st, 23));
    j->manifest = dup_or_null(col_text(st, 24));
    j->manifests = sqlite3_column_int64(st, 25);
    j->created_ms = sqlite3_column_int64(st, 26);
    j->started_ms = sqlite3_column_int64(st, 27);
    j->updated_ms = sqlite3_column_int64(st, 28);
    j->finished_ms = sqlite3_column_int64(st, 29);
    j->next_run_ms = sqlite3_column_int64(st, 30);
    mig__stats_parse(col_text(st, 31), &j->stats);
    mig__stats_parse(col_text(st, 32), &j->last);
    j->check_acl = sqlite3_column_int(st, 33) != 0;
    mig__est_parse(col_text(st, 34), &j->est);
    j->restore_check_s = sqlite3_column_int64(st, 36);
    if (j->restore_check_s <= 0)
        j->restore_check_s = MIG_RESTORE_CHECK_DEFAULT_S;
    if (col_text(st, 35) != NULL)
        sscanf(col_text(st, 35), "%" SCNd64 " %" SCNd64 " %" SCNd64 " %" SCNd64, &j->cur_proven[0],
               &j->cur_proven[1], &j->last_proven[0], &j->last_proven[1]);
    if (strcmp(j->est.state, "running") == 0) { /* its thread died with the process */
        snprintf(j->est.state, sizeof(j->est.state), "failed");
        gz_free(j->est.error);
        j->est.error = gz_strdup("interrupted by a restart of the server");
    }
    return j;
}

#define JOB_COLUMNS                                                                                \
    "id, tenant_id, tenant_name, name, provider, endpoint, region, bucket, prefix, access_key,"    \
    " secret_sealed, include_json, exclude_json, dest_bucket, concurrency, bandwidth_limit,"       \
    " delete_extraneous, interval_s, dry_run, state, phase, pass, passes_done, error,"             \
    " manifest, manifests, created_ms, started_ms, updated_ms, finished_ms, next_run_ms,"          \
    " stats_json, last_json, check_acl, estimate_json, proven, restore_check_s"

static int table_load(struct mig_jobs *jobs)
{
    sqlite3_stmt *st = NULL;
    struct mig_job **tail = &jobs->head;
    if (sqlite3_prepare_v2(jobs->db, "SELECT " JOB_COLUMNS " FROM jobs ORDER BY created_ms, id", -1,
                           &st, NULL) != SQLITE_OK)
        return -EIO;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct mig_job *j = job_load(jobs, st);
        if (strcmp(j->state, "running") == 0 && j->pass > j->passes_done) {
            /* the process died (or stopped) mid-pass */
            snprintf(j->phase, sizeof(j->phase), "queued");
            j->next_run_ms = 0;
        } else if (strcmp(j->state, "running") == 0 && strcmp(j->phase, "waiting") != 0 &&
                   strcmp(j->phase, "restore-wait") != 0) {
            snprintf(j->phase, sizeof(j->phase), "queued"); /* between passes: its schedule */
        }
        *tail = j;
        tail = &j->next;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -EIO;
}

static int job_insert(struct mig_jobs *jobs, const struct mig_job *j)
{
    sqlite3_stmt *st = NULL;
    int rc = -EIO;
    char *inc = strv_text(j->include, j->n_include), *exc = strv_text(j->exclude, j->n_exclude);
    if (sqlite3_prepare_v2(jobs->db,
                           "INSERT INTO jobs(id, tenant_id, tenant_name, name, provider, endpoint,"
                           " region, bucket, prefix, access_key, secret_sealed, include_json,"
                           " exclude_json, dest_bucket, concurrency, bandwidth_limit,"
                           " delete_extraneous, interval_s, dry_run, state, created_ms,"
                           " check_acl, restore_check_s)"
                           " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,"
                           "?18,?19,?20,?21,?22,?23)",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    const char *text[] = {j->id, j->tenant_id, j->tenant_name, j->name};
    for (int i = 0; i < 4; i++)
        sqlite3_bind_text(st, i + 1, text[i], -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, (int)j->provider);
    const char *text2[] = {j->endpoint,      j->region, j->bucket, j->prefix,     j->access_key,
                           j->secret_sealed, inc,       exc,       j->dest_bucket};
    for (int i = 0; i < 9; i++)
        sqlite3_bind_text(st, i + 6, text2[i], -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 15, j->concurrency);
    sqlite3_bind_int64(st, 16, j->bandwidth_limit);
    sqlite3_bind_int(st, 17, j->delete_extraneous);
    sqlite3_bind_int64(st, 18, j->interval_s);
    sqlite3_bind_int(st, 19, j->dry_run);
    sqlite3_bind_text(st, 20, j->state, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 21, j->created_ms);
    sqlite3_bind_int(st, 22, j->check_acl);
    sqlite3_bind_int64(st, 23, j->restore_check_s);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
out:
    if (rc)
        log_error("migrate jobs: cannot insert job %s: %s", j->id, sqlite3_errmsg(jobs->db));
    sqlite3_finalize(st);
    gz_free(inc);
    gz_free(exc);
    return rc;
}

int mig__job_save(struct mig_jobs *jobs, struct mig_job *j)
{
    sqlite3_stmt *st = NULL;
    int rc = -EIO;
    char *stats = stats_text(&j->stats), *last = stats_text(&j->last);
    j->updated_ms = gz_now_ms();
    j->last_save_ms = j->updated_ms;
    if (sqlite3_prepare_v2(jobs->db,
                           "UPDATE jobs SET state=?2, phase=?3, pass=?4, passes_done=?5, error=?6,"
                           " manifest=?7, manifests=?8, started_ms=?9, updated_ms=?10,"
                           " finished_ms=?11, next_run_ms=?12, stats_json=?13, last_json=?14,"
                           " proven=?15 WHERE id=?1",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    char proven[96];
    snprintf(proven, sizeof(proven), "%lld %lld %lld %lld", (long long)j->cur_proven[0],
             (long long)j->cur_proven[1], (long long)j->last_proven[0],
             (long long)j->last_proven[1]);
    sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, j->state, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, j->phase, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, j->pass);
    sqlite3_bind_int64(st, 5, j->passes_done);
    sqlite3_bind_text(st, 6, j->error, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, j->manifest, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, j->manifests);
    sqlite3_bind_int64(st, 9, j->started_ms);
    sqlite3_bind_int64(st, 10, j->updated_ms);
    sqlite3_bind_int64(st, 11, j->finished_ms);
    sqlite3_bind_int64(st, 12, j->next_run_ms);
    sqlite3_bind_text(st, 13, stats, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 14, last, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 15, proven, -1, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
out:
    if (rc)
        log_error("migrate jobs: cannot save job %s: %s", j->id, sqlite3_errmsg(jobs->db));
    sqlite3_finalize(st);
    gz_free(stats);
    gz_free(last);
    return rc;
}

/* Runs one statement binding id (?1) and an integer (?2). */
static int exec_id_int(sqlite3 *db, const char *sql, const char *id, int64_t n)
{
    sqlite3_stmt *st = NULL;
    int rc = -EIO;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, n);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
    }
    sqlite3_finalize(st);
    return rc;
}

int mig__job_save_report(struct mig_jobs *jobs, const char *id, int64_t pass, const char *report)
{
    sqlite3_stmt *st = NULL;
    int rc = -EIO;
    if (sqlite3_prepare_v2(jobs->db,
                           "INSERT OR REPLACE INTO reports(job, pass, result, started, finished,"
                           " stats_json, report) VALUES(?1, ?2, json_extract(?3, '$.result'),"
                           " json_extract(?3, '$.started'), json_extract(?3, '$.finished'),"
                           " json_extract(?3, '$.stats'), ?3)",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, pass);
        sqlite3_bind_text(st, 3, report, -1, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
    }
    sqlite3_finalize(st);
    if (rc == 0 && pass > MIG_JOB_REPORTS_FULL)
        rc = exec_id_int(jobs->db, "UPDATE reports SET report=NULL WHERE job=?1 AND pass<=?2"
                         " AND report IS NOT NULL", id, pass - MIG_JOB_REPORTS_FULL);
    if (rc == 0 && pass > MIG_JOB_REPORTS_KEEP)
        rc = exec_id_int(jobs->db, "DELETE FROM reports WHERE job=?1 AND pass<=?2", id,
                         pass - MIG_JOB_REPORTS_KEEP);
    if (rc)
        log_error("migrate jobs: cannot save the report of job %s pass %lld: %s", id,
                  (long long)pass, sqlite3_errmsg(jobs->db));
    return rc;
}

/* ---- open / close ---- */

static int db_open(struct mig_jobs *jobs)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/jobs.db", jobs->dir);
    if (sqlite3_open_v2(path, &jobs->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        log_error("migrate jobs: cannot open %s: %s", path,
                  jobs->db ? sqlite3_errmsg(jobs->db) : "out of memory");
        return -EIO;
    }
    chmod(path, 0600);
    sqlite3_busy_timeout(jobs->db, 5000);
    char *err = NULL;
    if (sqlite3_exec(jobs->db, schema, NULL, NULL, &err) != SQLITE_OK) {
        log_error("migrate jobs: %s: %s", path, err ? err : "schema failed");
        sqlite3_free(err);
        return -EIO;
    }
    for (size_t i = 0; i < sizeof(added_columns) / sizeof(added_columns[0]); i++)
        sqlite3_exec(jobs->db, added_columns[i], NULL, NULL, NULL);
    if (sqlite3_exec(jobs->db, reports_upgrade, NULL, NULL, &err) != SQLITE_OK) {
        log_error("migrate jobs: %s: cannot move the reports: %s", path, err ? err : "failed");
        sqlite3_free(err);
        sqlite3_exec(jobs->db, "ROLLBACK", NULL, NULL, NULL);
        return -EIO;
    }
    return 0;
}

int mig_jobs_open(const struct mig_jobs_config *cfg, struct mig_jobs **out)
{
    *out = NULL;
    if (cfg == NULL || cfg->data_dir == NULL || cfg->store == NULL || cfg->iam == NULL)
        return -EINVAL;
    struct mig_jobs *jobs = gz_calloc(1, sizeof(*jobs));
    char dir[4096];
    int rc;
    jobs->data_dir = gz_strdup(cfg->data_dir);
    snprintf(dir, sizeof(dir), "%s/migrate", cfg->data_dir);
    jobs->dir = gz_strdup(dir);
    jobs->region = gz_strdup(cfg->region && *cfg->region ? cfg->region : "us-east-1");
    jobs->store = cfg->store;
    jobs->sealer = cfg->sealer;
    jobs->iam = cfg->iam;
    jobs->max_running = cfg->max_running > 0 ? cfg->max_running : 2;
    pthread_mutex_init(&jobs->mu, NULL);
    pthread_cond_init(&jobs->cv, NULL);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        rc = -errno;
        log_error("migrate jobs: cannot create %s: %s", dir, gz_strerror(rc));
        goto out;
    }
    if ((rc = db_open(jobs)) < 0 || (rc = table_load(jobs)) < 0)
        goto out;
    rc = mig__sched_start(jobs);
out:
    if (rc < 0) {
        mig_jobs_close(jobs);
        return rc;
    }
    *out = jobs;
    return 0;
}

void mig_jobs_close(struct mig_jobs *jobs)
{
    if (jobs == NULL)
        return;
    mig__sched_stop(jobs);
    bg_runs_join_all(jobs, &jobs->est_runs); /* they stop at their next listing page */
    bg_runs_join_all(jobs, &jobs->ver_runs); /* ... and before their next object */
    while (jobs->head) {
        struct mig_job *j = jobs->head;
        jobs->head = j->next;
        job_free(j);
    }
    if (jobs->db)
        sqlite3_close(jobs->db);
    pthread_cond_destroy(&jobs->cv);
    pthread_mutex_destroy(&jobs->mu);
    gz_free(jobs->data_dir);
    gz_free(jobs->dir);
    gz_free(jobs->region);
    gz_free(jobs);
}

/* ---- create ---- */

static bool bucket_name_ok(const char *b)
{
    size_t n = b ? strlen(b) : 0;
    if (n < 3 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = b[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'))
            return false;
    }
    return b[0] != '-' && b[0] != '.' && b[n - 1] != '-' && b[n - 1] != '.';
}

static int spec_check(const struct mig_job_spec *s, char *msg, size_t msgsz)
{
    const struct gz_mig_endpoint *e = &s->src;
    if (s->tenant == NULL || !*s->tenant)
        return msg_set(msg, msgsz, "field 'tenant' is required"), -EINVAL;
    if (e->endpoint == NULL ||
        (strncmp(e->endpoint, "http://", 7) != 0 && strncmp(e->endpoint, "https://", 8) != 0) ||
        strlen(e->endpoint) > 400)
        return msg_set(msg, msgsz, "field 'source.endpoint' must be an http:// or https:// URL"),
               -EINVAL;
    if (e->bucket == NULL || !*e->bucket || strlen(e->bucket) > 255)
        return msg_set(msg, msgsz, "field 'source.bucket' is required"), -EINVAL;
    if (e->access_key == NULL || !*e->access_key || strlen(e->access_key) > 255)
        return msg_set(msg, msgsz, "field 'source.access_key' is required"), -EINVAL;
    if (e->secret_key == NULL || !*e->secret_key || strlen(e->secret_key) > IAM_MAX_SECRET)
        return msg_set(msg, msgsz, "field 'source.secret_key' is required (at most %d bytes)",
                       IAM_MAX_SECRET),
               -EINVAL;
    if ((e->region && strlen(e->region) > 64) || (e->prefix && strlen(e->prefix) > 1024))
        return msg_set(msg, msgsz, "field 'source.region' or 'source.prefix' is too long"), -EINVAL;
    if (!bucket_name_ok(s->dest_bucket))
        return msg_set(msg, msgsz,
                       "field 'dest_bucket' must be a valid bucket name (3-63 of"
                       " a-z 0-9 . -)"),
               -EINVAL;
    if (s->concurrency > 256 || s->bandwidth_limit < 0 || s->interval_s < 0 || s->n_include > 64 ||
        s->n_exclude > 64)
        return msg_set(msg, msgsz,
                       "field 'concurrency' (<= 256), 'bandwidth_limit',"
                       " 'interval_seconds' (>= 0) or the filters (<= 64) are out of range"),
               -EINVAL;
    if (s->restore_check_s > INT64_C(10) * 365 * 86400)
        return msg_set(msg, msgsz, "field 'restore_check_seconds' is out of range"), -EINVAL;
    if (s->name && strlen(s->name) > 256)
        return msg_set(msg, msgsz, "field 'name' is too long (at most 256 bytes)"), -EINVAL;
    return 0;
}

/* The destination bucket must be absent or the tenant's own. */
static int dest_check(struct mig_jobs *jobs, const char *tenant_id, const char *bucket, char *msg,
                      size_t msgsz)
{
    struct store_bucket b;
    int rc = store_bucket_get(jobs->store, gz_slice_cstr(bucket), &b);
    if (rc == GZ_ENOBUCKET)
        return 0;
    if (rc < 0)
        return msg_set(msg, msgsz, "bucket '%s': %s", bucket, gz_strerror(rc)), rc;
    if (strcmp(b.owner, tenant_id) != 0)
        return msg_set(msg, msgsz,
                       "bucket '%s' belongs to another tenant: choose another"
                       " destination bucket",
                       bucket),
               -EACCES;
    return 0;
}

static char **strv_copy(const char *const *v, int n)
{
    char **out = n > 0 ? gz_calloc((size_t)n, sizeof(char *)) : NULL;
    for (int i = 0; i < n; i++)
        out[i] = gz_strdup(v[i] ? v[i] : "");
    return out;
}

static struct mig_job *job_new(struct mig_jobs *jobs, const struct mig_job_spec *s,
                               const struct iam_tenant *t)
{
    struct mig_job *j = gz_calloc(1, sizeof(*j));
    uint8_t rnd[MIG_JOB_ID_LEN / 2];
    gz_random_bytes(rnd, sizeof(rnd));
    gz_hex_encode(j->id, rnd, sizeof(rnd));
    j->jobs = jobs;
    snprintf(j->tenant_id, sizeof(j->tenant_id), "%s", t->id);
    snprintf(j->tenant_name, sizeof(j->tenant_name), "%s", t->name);
    j->name = dup_or_null(s->name);
    j->provider = s->src.provider;
    j->endpoint = gz_strdup(s->src.endpoint);
    size_t n = strlen(j->endpoint);
    while (n > 0 && j->endpoint[n - 1] == '/')
        j->endpoint[--n] = '\0';
    j->region = dup_or_null(s->src.region);
    j->bucket = gz_strdup(s->src.bucket);
    j->prefix = dup_or_null(s->src.prefix);
    j->access_key = gz_strdup(s->src.access_key);
    j->include = strv_copy(s->include, s->n_include);
    j->n_include = s->n_include;
    j->exclude = strv_copy(s->exclude, s->n_exclude);
    j->n_exclude = s->n_exclude;
    j->dest_bucket = gz_strdup(s->dest_bucket);
    j->concurrency = s->concurrency > 0 ? s->concurrency : 8;
    j->bandwidth_limit = s->bandwidth_limit;
    j->delete_extraneous = s->delete_extraneous;
    j->interval_s = s->interval_s;
    j->restore_check_s = s->restore_check_s > 0 ? s->restore_check_s : MIG_RESTORE_CHECK_DEFAULT_S;
    j->dry_run = s->dry_run;
    j->check_acl = s->check_acl;
    snprintf(j->state, sizeof(j->state), "%s", s->start ? "running" : "created");
    snprintf(j->phase, sizeof(j->phase), "%s", s->start ? "queued" : "");
    j->created_ms = gz_now_ms();
    return j;
}

int mig_jobs_create(struct mig_jobs *jobs, const struct mig_job_spec *spec,
                    char id_out[MIG_JOB_ID_LEN + 1], char *msg, size_t msgsz)
{
    struct iam_tenant t;
    char ctx[64], sealed[IAM_SEALED_TEXT_MAX];
    struct mig_job *j = NULL;
    int rc = spec_check(spec, msg, msgsz);
    id_out[0] = '\0';
    if (rc < 0)
        return rc;
    if ((rc = iam_tenant_get(jobs->iam, spec->tenant, &t)) < 0) {
        msg_set(msg, msgsz, "tenant '%s' does not exist", spec->tenant);
        return rc;
    }
    if ((rc = dest_check(jobs, t.id, spec->dest_bucket, msg, msgsz)) < 0)
        return rc;
    j = job_new(jobs, spec, &t);
    snprintf(ctx, sizeof(ctx), "migrate-source:%s", j->id);
    if ((rc = iam_secret_seal(jobs->iam, ctx, spec->src.secret_key, sealed, sizeof(sealed))) < 0) {
        msg_set(msg, msgsz, "cannot seal the source secret: %s", gz_strerror(rc));
        goto out;
    }
    j->secret_sealed = gz_strdup(sealed);
    explicit_bzero(sealed, sizeof(sealed));
    pthread_mutex_lock(&jobs->mu);
    rc = job_insert(jobs, j);
    if (rc == 0) {
        struct mig_job **tail = &jobs->head;
        while (*tail)
            tail = &(*tail)->next;
        *tail = j;
        memcpy(id_out, j->id, MIG_JOB_ID_LEN + 1);
        pthread_cond_broadcast(&jobs->cv);
        log_info("migrate: job %s created for tenant %s (%s/%s -> %s)", j->id, j->tenant_name,
                 j->endpoint, j->bucket, j->dest_bucket);
        /* a job that does not start at once is sized by an estimate, for supervision */
        if (!spec->start && est_start(jobs, j, 0, NULL, 0) < 0)
            log_warn("migrate: job %s: no automatic estimate (too many running)", j->id);
        j = NULL;
    } else {
        msg_set(msg, msgsz, "cannot write the job table");
    }
    pthread_mutex_unlock(&jobs->mu);
out:
    job_free(j);
    return rc;
}

/* ---- actions ---- */

static int action_apply(struct mig_job *j, const char *action, char *msg, size_t msgsz)
{
    const char *s = j->state;
    bool running = strcmp(s, "running") == 0, paused = strcmp(s, "paused") == 0;
    if (strcmp(action, "start") == 0) {
        if (strcmp(s, "created") != 0 && strcmp(s, "completed") != 0 && strcmp(s, "failed") != 0)
            return msg_set(msg, msgsz,
                           "job %s is %s: only a created, completed or failed job"
                           " can be started",
                           j->id, s),
                   -EBUSY;
        mig__job_set_error(j, NULL);
    } else if (strcmp(action, "pause") == 0) {
        if (!running)
            return msg_set(msg, msgsz, "job %s is %s: only a running job can be paused", j->id, s),
                   -EBUSY;
        j->stop = true;
        snprintf(j->state, sizeof(j->state), "paused");
        snprintf(j->phase, sizeof(j->phase), "paused");
        return 0;
    } else if (strcmp(action, "resume") == 0) {
        if (!paused)
            return msg_set(msg, msgsz, "job %s is %s: only a paused job can be resumed", j->id, s),
                   -EBUSY;
    } else if (strcmp(action, "cancel") == 0) {
        if (!running && !paused && strcmp(s, "created") != 0)
            return msg_set(msg, msgsz, "job %s is already %s", j->id, s), -EBUSY;
        j->stop = true;
        snprintf(j->state, sizeof(j->state), "cancelled");
        snprintf(j->phase, sizeof(j->phase), "cancelled");
        j->finished_ms = gz_now_ms();
        return 0;
    } else {
        return msg_set(msg, msgsz, "unknown action '%s' (start, pause, resume, cancel)", action),
               -EINVAL;
    }
    j->stop = false;
    j->next_run_ms = 0;
    snprintf(j->state, sizeof(j->state), "running");
    snprintf(j->phase, sizeof(j->phase), "queued");
    return 0;
}

int mig_jobs_action(struct mig_jobs *jobs, const char *id, const char *action, char *msg,
                    size_t msgsz)
{
    pthread_mutex_lock(&jobs->mu);
    struct mig_job *j = mig__job_find(jobs, id);
    int rc = j ? action_apply(j, action, msg, msgsz) : -ENOENT;
    if (j == NULL)
        msg_set(msg, msgsz, "no migration job '%s'", id);
    if (rc == 0) {
        rc = mig__job_save(jobs, j);
        pthread_cond_broadcast(&jobs->cv);
        log_info("migrate: job %s: %s -> %s", j->id, action, j->state);
    }
    pthread_mutex_unlock(&jobs->mu);
    return rc;
}

int mig_jobs_delete(struct mig_jobs *jobs, const char *id, char *msg, size_t msgsz)
{
    int rc = 0;
    pthread_mutex_lock(&jobs->mu);
    struct mig_job **pp = &jobs->head, *j = NULL;
    while (*pp && strcmp((*pp)->id, id) != 0)
        pp = &(*pp)->next;
    j = *pp;
    if (j == NULL) {
        rc = -ENOENT;
        msg_set(msg, msgsz, "no migration job '%s'", id);
    } else if (strcmp(j->state, "running") == 0 || j->active) {
        rc = -EBUSY;
        msg_set(msg, msgsz, "job %s is %s: pause or cancel it first", id,
                j->active && strcmp(j->state, "running") != 0 ? "stopping" : "running");
    } else {
        sqlite3_stmt *st = NULL;
        rc = exec_id_int(jobs->db, "DELETE FROM reports WHERE job=?1 AND ?2", id, 1);
        if (rc == 0 && sqlite3_prepare_v2(jobs->db, "DELETE FROM jobs WHERE id=?1", -1, &st,
                                          NULL) == SQLITE_OK) {
            sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
            rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
        }
        sqlite3_finalize(st);
        if (rc == 0)
            *pp = j->next;
    }
    pthread_mutex_unlock(&jobs->mu);
    if (rc == 0) {
        const char *sfx[] = {"journal", "journal-wal", "journal-shm"};
        char path[4096];
        for (size_t i = 0; i < GZ_ARRAY_LEN(sfx); i++) {
            mig__job_path(jobs, j->id, sfx[i], path, sizeof(path));
            unlink(path);
        }
        job_free(j);
    }
    return rc;
}

/* ---- source estimates ---- */

static int est_save(struct mig_jobs *jobs, const struct mig_job *j)
{
    sqlite3_stmt *st = NULL;
    int rc = -EIO;
    cJSON *o = mig__est_json(&j->est);
    char *text = cJSON_PrintUnformatted(o);
    if (text != NULL && sqlite3_prepare_v2(jobs->db, "UPDATE jobs SET estimate_json=?2 WHERE id=?1",
                                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
    }
    if (rc)
        log_error("migrate jobs: cannot save the estimate of job %s", j->id);
    sqlite3_finalize(st);
    cJSON_free(text);
    cJSON_Delete(o);
    return rc;
}

/* ---- background runs (estimates, manifest verifications) ---- */

/* Under mu: joins and frees the runs of list whose thread returned; returns how many still
 * run. */
static int bg_runs_reap(struct mig_bg_run **list)
{
    int running = 0;
    while (*list != NULL) {
        struct mig_bg_run *r = *list;
        if (!r->done) {
            running++;
            list = &r->next;
            continue;
        }
        pthread_join(r->tid, NULL); /* done is set just before the thread returns */
        *list = r->next;
        r->free(r);
    }
    return running;
}

/* Marks the jobs stopping (the runs poll it), then joins and frees every run of list: from
 * mig_jobs_close, before the store closes. */
static void bg_runs_join_all(struct mig_jobs *jobs, struct mig_bg_run **list)
{
    pthread_mutex_lock(&jobs->mu);
    jobs->stopping = true;
    struct mig_bg_run *r = *list;
    *list = NULL;
    pthread_mutex_unlock(&jobs->mu);
    while (r != NULL) {
        struct mig_bg_run *next = r->next;
        pthread_join(r->tid, NULL);
        r->free(r);
        r = next;
    }
}

/* Under mu: starts run r's thread (main gets r) and keeps r on list; frees r on failure. */
static int bg_run_start(struct mig_bg_run **list, struct mig_bg_run *r, void *(*main)(void *))
{
    if (pthread_create(&r->tid, NULL, main, r) != 0) {
        r->free(r);
        return -EAGAIN;
    }
    r->next = *list;
    *list = r;
    return 0;
}

static void est_run_free(struct mig_bg_run *bg)
{
    struct mig_est_run *r = (struct mig_est_run *)bg;
    gz_free(r->endpoint);
    gz_free(r->bucket);
    gz_free(r->access_key);
    gz_free(r->region);
    gz_free(r->prefix);
    if (r->secret_sealed)
        explicit_bzero(r->secret_sealed, strlen(r->secret_sealed));
    gz_free(r->secret_sealed);
    strv_free(r->include, r->n_include);
    strv_free(r->exclude, r->n_exclude);
    gz_free(r);
}

struct est_ctx {
    struct mig_est_run *run;
    struct gz_mig_options filt; /* include/exclude only */
    struct mig_job_est *e;
    int64_t seen;
};

/* Stops a listing when the server stops or the job was deleted. */
static bool est_should_stop(struct mig_est_run *run)
{
    pthread_mutex_lock(&run->jobs->mu);
    bool stop = run->jobs->stopping || mig__job_find(run->jobs, run->id) == NULL;
    pthread_mutex_unlock(&run->jobs->mu);
    return stop;
}

static int est_entry(void *arg, const struct mig_entry *ent)
{
    struct est_ctx *c = arg;
    struct mig_job_est *e = c->e;
    if (++c->seen % 256 == 0 && est_should_stop(c->run))
        return 2;
    if (!mig_filter_pass(&c->filt, ent->key)) { /* as a pass would: never copied */
        e->excluded++;
        return 0;
    }
    if (e->sample > 0 && e->objects >= e->sample) {
        e->truncated = true; /* a key beyond the sample exists */
        return 1;
    }
    e->objects++;
    e->bytes += ent->size;
    if (gz_migrate_archive_class(ent->storage_class) >= 0) {
        e->archive++;
        e->archive_bytes += ent->size;
    }
    return 0;
}

/* Lists the source as a pass would (the engine's lister and filters), counting into e. */
static int est_list(struct mig_est_run *run, struct mig_job_est *e, char *err, size_t errsz)
{
    char ctx[64], secret[IAM_MAX_SECRET + 1];
    struct mig_client cl;
    struct est_ctx c = {.run = run, .e = e};
    CURL *h = NULL;
    int64_t retries = 0;
    bool curl_up = false;
    memset(&cl, 0, sizeof(cl));
    snprintf(ctx, sizeof(ctx), "migrate-source:%s", run->id);
    int rc = iam_secret_open(run->jobs->iam, ctx, run->secret_sealed, secret, sizeof(secret));
    if (rc < 0) {
        snprintf(err, errsz, "cannot open the stored source secret: %s", gz_strerror(rc));
        return rc;
    }
    struct gz_mig_endpoint src = {.endpoint = run->endpoint,
                                  .bucket = run->bucket,
                                  .access_key = run->access_key,
                                  .secret_key = secret,
                                  .region = run->region,
                                  .prefix = run->prefix,
                                  .provider = run->provider};
    rc = mig_client_init(&cl, &src, "source", err, errsz);
    explicit_bzero(secret, sizeof(secret));
    if (rc < 0)
        goto out;
    curl_up = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    if (!curl_up || (h = curl_easy_init()) == NULL) {
        snprintf(err, errsz, "libcurl initialisation failed");
        rc = -ENOMEM;
        goto out;
    }
    c.filt.include = (const char *const *)run->include;
    c.filt.n_include = run->n_include;
    c.filt.exclude = (const char *const *)run->exclude;
    c.filt.n_exclude = run->n_exclude;
    rc = mig_list(&cl, h, run->prefix, est_entry, &c, &retries, err, errsz);
    if (rc == 1) {
        rc = 0;
    } else if (rc == 2) {
        snprintf(err, errsz, "stopped: the server is shutting down");
        rc = -ECANCELED;
    } else if (rc > 0) {
        rc = -EIO;
    }
out:
    explicit_bzero(&cl, sizeof(cl));
    if (h != NULL)
        curl_easy_cleanup(h);
    if (curl_up)
        curl_global_cleanup();
    return rc;
}

static void *est_main(void *arg)
{
    struct mig_est_run *run = arg;
    struct mig_jobs *jobs = run->jobs;
    struct mig_job_est e;
    char err[MIG_JOBS_MSG_MAX] = "";
    memset(&e, 0, sizeof(e));
    e.sample = run->sample;
    int rc = est_list(run, &e, err, sizeof(err));
    pthread_mutex_lock(&jobs->mu);
    struct mig_job *j = mig__job_find(jobs, run->id);
    if (j != NULL && j->est.started_ms == run->started_ms && strcmp(j->est.state, "running") == 0) {
        e.started_ms = run->started_ms;
        e.finished_ms = gz_now_ms();
        snprintf(e.state, sizeof(e.state), "%s", rc == 0 ? "done" : "failed");
        e.error = rc == 0 ? NULL : gz_strdup(err[0] ? err : gz_strerror(rc));
        gz_free(j->est.error);
        j->est = e;
        est_save(jobs, j);
        log_info("migrate: job %s: estimate %s: %lld object(s), %lld byte(s)%s", j->id,
                 j->est.state, (long long)e.objects, (long long)e.bytes,
                 e.truncated ? " (sampled)" : "");
    }
    run->bg.done = true;
    pthread_mutex_unlock(&jobs->mu);
    return NULL;
}

static struct mig_est_run *est_run_new(struct mig_jobs *jobs, const struct mig_job *j,
                                       int64_t sample)
{
    struct mig_est_run *r = gz_calloc(1, sizeof(*r));
    r->bg.free = est_run_free;
    r->jobs = jobs;
    memcpy(r->id, j->id, sizeof(r->id));
    r->endpoint = gz_strdup(j->endpoint);
    r->bucket = gz_strdup(j->bucket);
    r->access_key = gz_strdup(j->access_key);
    r->region = j->region ? gz_strdup(j->region) : NULL;
    r->prefix = j->prefix ? gz_strdup(j->prefix) : NULL;
    r->secret_sealed = gz_strdup(j->secret_sealed);
    r->provider = j->provider;
    r->include = strv_copy((const char *const *)j->include, j->n_include);
    r->n_include = j->n_include;
    r->exclude = strv_copy((const char *const *)j->exclude, j->n_exclude);
    r->n_exclude = j->n_exclude;
    r->sample = sample > 0 ? sample : 0;
    r->started_ms = gz_now_ms();
    return r;
}

/* Under mu. */
static int est_start(struct mig_jobs *jobs, struct mig_job *j, int64_t sample, char *msg,
                     size_t msgsz)
{
    int running = bg_runs_reap(&jobs->est_runs);
    if (jobs->stopping)
        return msg_set(msg, msgsz, "the server is stopping"), -EBUSY;
    if (running >= MIG_EST_MAX_RUNNING)
        return msg_set(msg, msgsz, "%d estimates are running: try again when one ends", running),
               -EBUSY;
    struct mig_est_run *r = est_run_new(jobs, j, sample);
    if (bg_run_start(&jobs->est_runs, &r->bg, est_main) < 0)
        return msg_set(msg, msgsz, "cannot start a thread for the estimate"), -EAGAIN;
    gz_free(j->est.error);
    memset(&j->est, 0, sizeof(j->est));
    snprintf(j->est.state, sizeof(j->est.state), "running");
    j->est.sample = r->sample; /* r stays until reaped under mu, which we hold */
    j->est.started_ms = r->started_ms;
    est_save(jobs, j);
    log_info("migrate: job %s: estimating %s/%s", j->id, j->endpoint, j->bucket);
    return 0;
}

int mig_jobs_estimate(struct mig_jobs *jobs, const char *id, int64_t sample, bool *already,
                      char *msg, size_t msgsz)
{
    int rc = 0;
    *already = false;
    pthread_mutex_lock(&jobs->mu);
    struct mig_job *j = mig__job_find(jobs, id);
    if (j == NULL) {
        rc = -ENOENT;
        msg_set(msg, msgsz, "no migration job '%s'", id);
    } else if (strcmp(j->est.state, "running") == 0) {
        *already = true;
    } else {
        rc = est_start(jobs, j, sample, msg, msgsz);
    }
    pthread_mutex_unlock(&jobs->mu);
    return rc;
}

/* ---- manifest verifications ---- */

static void ver_run_free(struct mig_bg_run *bg)
{
    struct mig_ver_run *r = (struct mig_ver_run *)bg;
    gz_free(r->path);
    gz_free(r->bucket);
    cJSON_Delete(r->problems);
    gz_free(r);
}

/* gz_mig_check_fn: called serialised by the check's workers. */
static void ver_on_bad(void *arg, const char *key, const char *problem, const char *detail)
{
    struct mig_ver_run *r = arg;
    if (r->problems_total++ >= MIG_VER_PROBLEMS_MAX)
        return;
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "key", key ? key : "");
    cJSON_AddStringToObject(p, "problem", problem ? problem : "error");
    cJSON_AddStringToObject(p, "detail", detail ? detail : "");
    cJSON_AddItemToArray(r->problems, p);
}

/* Under mu: files the result of a finished run on its job (if still there and waiting). */
static void ver_file(struct mig_ver_run *run, int rc, const struct gz_mig_check_result *res,
                     const char *err)
{
    struct mig_job *j = mig__job_find(run->jobs, run->id);
    if (j == NULL || j->ver.started_ms != run->started_ms || strcmp(j->ver.state, "running") != 0)
        return;
    struct mig_job_ver *v = &j->ver;
    bool checked = rc == 0 || rc == GZ_MIG_PARTIAL;
    snprintf(v->state, sizeof(v->state), "%s", checked ? "done" : "failed");
    v->finished_ms = gz_now_ms();
    v->objects = res->objects;
    v->ok = res->ok;
    v->missing = res->missing;
    v->mismatched = res->mismatched;
    v->errors = res->errors;
    v->problems_total = run->problems_total;
    cJSON_Delete(v->problems);
    v->problems = run->problems;
    run->problems = NULL;
    gz_free(v->error);
    v->error = checked ? NULL : gz_strdup(err[0] ? err : gz_strerror(rc));
    log_info("migrate: job %s: manifest of pass %lld %s: %lld object(s), %lld ok, %lld missing,"
             " %lld mismatched, %lld error(s)%s%s", j->id, (long long)run->pass, v->state,
             (long long)v->objects, (long long)v->ok, (long long)v->missing,
             (long long)v->mismatched, (long long)v->errors, v->error ? ": " : "",
             v->error ? v->error : "");
}

/* The check's should_stop: the server is stopping, or the job was deleted. */
static bool ver_should_stop(void *arg)
{
    struct mig_ver_run *run = arg;
    pthread_mutex_lock(&run->jobs->mu);
    bool stop = run->jobs->stopping || mig__job_find(run->jobs, run->id) == NULL;
    pthread_mutex_unlock(&run->jobs->mu);
    return stop;
}

static void *ver_main(void *arg)
{
    struct mig_ver_run *run = arg;
    struct mig_jobs *jobs = run->jobs;
    struct gz_mig_check_result res;
    uint8_t pub[32];
    char err[MIG_JOBS_MSG_MAX] = "";
    memset(&res, 0, sizeof(res));
    int rc = gz_migrate_manifest_key(jobs->data_dir, NULL, pub);
    if (rc < 0) {
        snprintf(err, sizeof(err), "no platform manifest key: %s", gz_strerror(rc));
    } else {
        struct gz_mig_check_options opt = {.dst = {.bucket = run->bucket},
                                           .store = jobs->store,
                                           .sealer = jobs->sealer,
                                           .public_key = pub,
                                           .concurrency = 4,
                                           .on_bad = ver_on_bad,
                                           .cb_arg = run,
                                           .should_stop = ver_should_stop};
        rc = gz_migrate_manifest_check(run->path, &opt, &res, err, sizeof(err));
    }
    pthread_mutex_lock(&jobs->mu);
    ver_file(run, rc, &res, err);
    run->bg.done = true;
    pthread_mutex_unlock(&jobs->mu);
    return NULL;
}

/* Under mu: starts a run for job j, whose manifest of pass is at path. */
static int ver_start(struct mig_jobs *jobs, struct mig_job *j, int64_t pass, const char *path,
                     char *msg, size_t msgsz)
{
    int running = bg_runs_reap(&jobs->ver_runs);
    if (jobs->stopping)
        return msg_set(msg, msgsz, "the server is stopping"), -EBUSY;
    if (running >= MIG_VER_MAX_RUNNING)
        return msg_set(msg, msgsz, "%d manifest verifications are running: try again later",
                       running),
               -EBUSY;
    struct mig_ver_run *r = gz_calloc(1, sizeof(*r));
    r->jobs = jobs;
    memcpy(r->id, j->id, sizeof(r->id));
    r->pass = pass;
    r->started_ms = gz_now_ms();
    r->path = gz_strdup(path);
    r->bucket = gz_strdup(j->dest_bucket);
    r->problems = cJSON_CreateArray();
    r->bg.free = ver_run_free;
    if (bg_run_start(&jobs->ver_runs, &r->bg, ver_main) < 0)
        return msg_set(msg, msgsz, "cannot start a thread for the verification"), -EAGAIN;
    gz_free(j->ver.error);
    cJSON_Delete(j->ver.problems);
    memset(&j->ver, 0, sizeof(j->ver));
    snprintf(j->ver.state, sizeof(j->ver.state), "running");
    j->ver.pass = pass;
    j->ver.started_ms = r->started_ms; /* r stays until reaped under mu, which we hold */
    log_info("migrate: job %s: verifying the manifest of pass %lld", j->id, (long long)pass);
    return 0;
}

int mig_jobs_manifest_verify(struct mig_jobs *jobs, const char *id, int64_t pass, char *msg,
                             size_t msgsz)
{
    char path[4096];
    struct stat sb;
    int rc = 0;
    if (pass < 1)
        return msg_set(msg, msgsz, "the pass must be a number >= 1"), -EINVAL;
    pthread_mutex_lock(&jobs->mu);
    struct mig_job *j = mig__job_find(jobs, id);
    if (j == NULL) {
        rc = -ENOENT;
        msg_set(msg, msgsz, "no migration job '%s'", id);
        goto out;
    }
    snprintf(path, sizeof(path), "%s/manifest-%s-%lld.json", jobs->dir, j->id, (long long)pass);
    if (stat(path, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        rc = -ENOENT;
        msg_set(msg, msgsz, "job %s has no manifest of pass %lld", id, (long long)pass);
    } else if (strcmp(j->ver.state, "running") == 0) {
        rc = -EBUSY;
        msg_set(msg, msgsz, "a manifest verification of job %s is running (pass %lld)", id,
                (long long)j->ver.pass);
    } else {
        rc = ver_start(jobs, j, pass, path, msg, msgsz);
    }
out:
    pthread_mutex_unlock(&jobs->mu);
    return rc;
}

/* ---- queries ---- */

int mig_jobs_get_json(struct mig_jobs *jobs, const char *id, cJSON **out)
{
    pthread_mutex_lock(&jobs->mu);
    struct mig_job *j = mig__job_find(jobs, id);
    *out = j ? mig__job_json(j) : NULL;
    pthread_mutex_unlock(&jobs->mu);
    return j ? 0 : -ENOENT;
}

static bool tenant_matches(const struct mig_job *j, const char *tenant)
{
    return tenant == NULL || strcmp(j->tenant_id, tenant) == 0 ||
           strcmp(j->tenant_name, tenant) == 0;
}

int mig_jobs_list_json(struct mig_jobs *jobs, const char *tenant, cJSON **out)
{
    cJSON *arr = cJSON_CreateArray();
    pthread_mutex_lock(&jobs->mu);
    for (struct mig_job *j = jobs->head; j; j = j->next)
        if (tenant_matches(j, tenant))
            cJSON_AddItemToArray(arr, mig__job_json(j));
    pthread_mutex_unlock(&jobs->mu);
    *out = arr;
    return 0;
}

int mig_jobs_manifest_path(struct mig_jobs *jobs, const char *id, char *out, size_t outsz)
{
    int rc = 0;
    pthread_mutex_lock(&jobs->mu);
    struct mig_job *j = mig__job_find(jobs, id);
    if (j == NULL || j->manifest == NULL)
        rc = -ENOENT;
    else if ((size_t)snprintf(out, outsz, "%s", j->manifest) >= outsz)
        rc = -ENAMETOOLONG;
    pthread_mutex_unlock(&jobs->mu);
    return rc;
}

/* The report of a pass (<= 0: the latest). */
static int report_load(struct mig_jobs *jobs, const char *id, int64_t pass, char **text)
{
    sqlite3_stmt *st = NULL;
    int rc = -ENOENT;
    *text = NULL;
    pthread_mutex_lock(&jobs->mu);
    if (mig__job_find(jobs, id) != NULL &&
        sqlite3_prepare_v2(jobs->db,
                           pass > 0 ? "SELECT report FROM reports WHERE job=?1 AND pass=?2"
                                    : "SELECT report FROM reports WHERE job=?1"
                                      " ORDER BY pass DESC LIMIT 1",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        if (pass > 0)
            sqlite3_bind_int64(st, 2, pass);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL) {
            *text = gz_strdup(col_text(st, 0));
            rc = 0;
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&jobs->mu);
    return rc;
}

int mig_jobs_report(struct mig_jobs *jobs, const char *id, const char *format, char **out,
                    size_t *len)
{
    return mig_jobs_report_pass(jobs, id, 0, format, out, len);
}

int mig_jobs_report_pass(struct mig_jobs *jobs, const char *id, int64_t pass, const char *format,
                         char **out, size_t *len)
{
    char *text = NULL;
    *out = NULL;
    *len = 0;
    if (format != NULL && strcmp(format, "json") != 0 && strcmp(format, "csv") != 0)
        return -EINVAL;
    int rc = report_load(jobs, id, pass, &text);
    if (rc < 0)
        return rc;
    if (format == NULL || strcmp(format, "json") == 0) {
        *len = strlen(text);
        *out = text;
        return 0;
    }
    *out = gz_migrate_report_csv(text, len);
    gz_free(text);
    return *out != NULL ? 0 : -EIO;
}

static cJSON *report_row_json(sqlite3_stmt *st)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "pass", (double)sqlite3_column_int64(st, 0));
    for (int i = 1; i <= 3; i++) {
        static const char *const names[] = {"", "result", "started", "finished"};
        if (col_text(st, i) != NULL)
            cJSON_AddStringToObject(o, names[i], col_text(st, i));
        else
            cJSON_AddNullToObject(o, names[i]);
    }
    cJSON *stats = col_text(st, 4) ? cJSON_Parse(col_text(st, 4)) : NULL;
    cJSON_AddItemToObject(o, "stats", stats ? stats : cJSON_CreateObject());
    return o;
}

int mig_jobs_reports_json(struct mig_jobs *jobs, const char *id, cJSON **out)
{
    sqlite3_stmt *st = NULL;
    int rc = -ENOENT, step = SQLITE_DONE;
    cJSON *arr = cJSON_CreateArray();
    *out = NULL;
    pthread_mutex_lock(&jobs->mu);
    if (mig__job_find(jobs, id) != NULL) {
        rc = -EIO;
        if (sqlite3_prepare_v2(jobs->db,
                               "SELECT pass, result, started, finished, stats_json FROM reports"
                               " WHERE job=?1 ORDER BY pass DESC",
                               -1, &st, NULL) == SQLITE_OK) {
            sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
            while ((step = sqlite3_step(st)) == SQLITE_ROW)
                cJSON_AddItemToArray(arr, report_row_json(st));
            rc = step == SQLITE_DONE ? 0 : -EIO;
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&jobs->mu);
    if (rc == 0)
        *out = arr;
    else
        cJSON_Delete(arr);
    return rc;
}

/* ---- update ---- */

static int update_check(const struct mig_job *j, const struct mig_job_update *u, char *msg,
                        size_t msgsz)
{
    if (u->access_key == NULL && u->secret_key == NULL && u->concurrency < 0 &&
        u->bandwidth_limit < 0 && u->interval_s < 0 && u->restore_check_s < 0)
        return msg_set(msg, msgsz, "nothing to change"), -EINVAL;
    if (u->access_key != NULL && (!*u->access_key || strlen(u->access_key) > 255))
        return msg_set(msg, msgsz, "field 'source.access_key' must be 1-255 bytes"), -EINVAL;
    if (u->secret_key != NULL && (!*u->secret_key || strlen(u->secret_key) > IAM_MAX_SECRET))
        return msg_set(msg, msgsz, "field 'source.secret_key' must be 1-%d bytes", IAM_MAX_SECRET),
               -EINVAL;
    if (u->concurrency > 256)
        return msg_set(msg, msgsz, "field 'concurrency' must be at most 256"), -EINVAL;
    if (strcmp(j->state, "running") == 0 || j->active)
        return msg_set(msg, msgsz, "job %s is %s: pause it (or let its pass end) first", j->id,
                       strcmp(j->state, "running") == 0 ? "running" : "stopping"),
               -EBUSY;
    if (strcmp(j->state, "cancelled") == 0)
        return msg_set(msg, msgsz, "job %s is cancelled", j->id), -EBUSY;
    return 0;
}

/* Under mu: writes the settings mig_jobs_update may change. */
static int update_save(struct mig_jobs *jobs, const struct mig_job *j)
{
    sqlite3_stmt *st = NULL;
    int rc = -EIO;
    if (sqlite3_prepare_v2(jobs->db,
                           "UPDATE jobs SET access_key=?2, secret_sealed=?3, concurrency=?4,"
                           " bandwidth_limit=?5, interval_s=?6, restore_check_s=?7 WHERE id=?1",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, j->access_key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, j->secret_sealed, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 4, j->concurrency);
        sqlite3_bind_int64(st, 5, j->bandwidth_limit);
        sqlite3_bind_int64(st, 6, j->interval_s);
        sqlite3_bind_int64(st, 7, j->restore_check_s);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
    }
    sqlite3_finalize(st);
    if (rc)
        log_error("migrate jobs: cannot update job %s: %s", j->id, sqlite3_errmsg(jobs->db));
    return rc;
}

/* The job's settings after u (a shallow copy: strings borrowed from j, u and sealed). */
static struct mig_job update_next(const struct mig_job *j, const struct mig_job_update *u,
                                  char *sealed)
{
    struct mig_job n = *j;
    if (u->access_key != NULL)
        n.access_key = (char *)u->access_key;
    if (sealed != NULL)
        n.secret_sealed = sealed;
    if (u->concurrency >= 0)
        n.concurrency = u->concurrency > 0 ? u->concurrency : 8;
    if (u->bandwidth_limit >= 0)
        n.bandwidth_limit = u->bandwidth_limit;
    if (u->interval_s >= 0)
        n.interval_s = u->interval_s;
    if (u->restore_check_s >= 0)
        n.restore_check_s =
            u->restore_check_s > 0 ? u->restore_check_s : MIG_RESTORE_CHECK_DEFAULT_S;
    return n;
}

/* Under mu, once the table has next: the job takes it (sealed is taken over). */
static void update_apply(struct mig_job *j, const struct mig_job *next, char **sealed)
{
    if (next->access_key != j->access_key) {
        gz_free(j->access_key);
        j->access_key = gz_strdup(next->access_key);
    }
    if (*sealed != NULL) {
        explicit_bzero(j->secret_sealed, strlen(j->secret_sealed));
        gz_free(j->secret_sealed);
        j->secret_sealed = *sealed;
        *sealed = NULL;
    }
    j->concurrency = next->concurrency;
    j->bandwidth_limit = next->bandwidth_limit;
    j->interval_s = next->interval_s;
    j->restore_check_s = next->restore_check_s;
}

int mig_jobs_update(struct mig_jobs *jobs, const char *id, const struct mig_job_update *u,
                    char *msg, size_t msgsz)
{
    char ctx[64], buf[IAM_SEALED_TEXT_MAX];
    char *sealed = NULL;
    int rc = 0;
    snprintf(ctx, sizeof(ctx), "migrate-source:%s", id);
    if (u->secret_key != NULL && *u->secret_key && strlen(u->secret_key) <= IAM_MAX_SECRET) {
        if ((rc = iam_secret_seal(jobs->iam, ctx, u->secret_key, buf, sizeof(buf))) < 0)
            return msg_set(msg, msgsz, "cannot seal the source secret: %s", gz_strerror(rc)), rc;
        sealed = gz_strdup(buf);
        explicit_bzero(buf, sizeof(buf));
    }
    pthread_mutex_lock(&jobs->mu);
    struct mig_job *j = mig__job_find(jobs, id);
    if (j == NULL) {
        rc = -ENOENT;
        msg_set(msg, msgsz, "no migration job '%s'", id);
    } else if ((rc = update_check(j, u, msg, msgsz)) == 0) {
        struct mig_job next = update_next(j, u, sealed);
        if ((rc = update_save(jobs, &next)) < 0) {
            msg_set(msg, msgsz, "cannot write the job table");
        } else {
            update_apply(j, &next, &sealed);
            log_info("migrate: job %s updated%s", j->id,
                     u->secret_key != NULL ? " (source secret replaced)" : "");
        }
    }
    pthread_mutex_unlock(&jobs->mu);
    if (sealed != NULL)
        explicit_bzero(sealed, strlen(sealed));
    gz_free(sealed);
    return rc;
}

/* ---- supervision ---- */

/* The pass whose listing sizes the job: the current one once it has listed (its diff ran),
 * else the last finished one; NULL if no pass has listed yet. */
static const struct gz_mig_stats *listed_pass(const struct mig_job *j)
{
    const struct gz_mig_stats *st = &j->stats;
    bool diffed = strcmp(j->phase, "diff") == 0 || strcmp(j->phase, "copying") == 0 ||
                  st->to_copy + st->skipped + st->failed + st->waiting > 0;
    if (j->pass > j->passes_done && diffed)
        return st;
    return j->passes_done > 0 ? &j->last : NULL;
}

/* The pass number of the job's last manifest (DATA/migrate/manifest-<id>-<pass>.json), 0 if
 * none. */
static int64_t manifest_pass(const struct mig_job *j)
{
    const char *base = j->manifest != NULL ? strrchr(j->manifest, '/') : NULL;
    char id[MIG_JOB_ID_LEN + 2];
    long long pass = 0;
    base = base != NULL ? base + 1 : j->manifest;
    if (base == NULL || strlen(base) < 9 + MIG_JOB_ID_LEN + 1)
        return 0;
    snprintf(id, sizeof(id), "%.*s", MIG_JOB_ID_LEN, base + 9);
    if (strncmp(base, "manifest-", 9) != 0 || strcmp(id, j->id) != 0 ||
        sscanf(base + 9 + MIG_JOB_ID_LEN, "-%lld.json", &pass) != 1)
        return 0;
    return pass;
}

/* Nothing failed, waiting or left unverified in the job's last finished pass. */
static bool last_pass_clean(const struct mig_job *j)
{
    return j->passes_done > 0 && strcmp(j->state, "failed") != 0 && j->last.failed == 0 &&
           j->last.waiting == 0 && j->last.to_copy <= j->last.verified;
}

/* Evidence for cut-over: the latest complete pass filed a manifest and was clean. */
static void progress_evidence(struct mig_tenant_progress *p, const struct mig_job *j)
{
    if (j->dry_run)
        return; /* a dry run copies nothing and files no manifest */
    if (last_pass_clean(j) && manifest_pass(j) == j->passes_done)
        p->clean_manifests++;
    else
        p->missing_manifests++;
}

static void progress_add(struct mig_tenant_progress *p, const struct mig_job *j)
{
    const struct gz_mig_stats *lp = listed_pass(j);
    bool in_pass = j->pass > j->passes_done;
    p->jobs++;
    p->running += strcmp(j->state, "running") == 0;
    p->failed_jobs += strcmp(j->state, "failed") == 0;
    if (lp != NULL) {
        const int64_t *proven = lp == &j->stats ? j->cur_proven : j->last_proven;
        p->objects_total += lp->listed; /* the engine counts excluded keys apart */
        p->bytes_total += lp->listed_bytes;
        p->objects_moved += lp->verified + lp->skipped;
        p->bytes_moved += lp->verified_bytes + lp->skipped_bytes;
        p->objects_verified += lp->verified + GZ_MIN(proven[0], lp->skipped);
        p->bytes_verified += lp->verified_bytes + GZ_MIN(proven[1], lp->skipped_bytes);
        p->objects_failed += lp->failed;
        p->objects_waiting += lp->waiting;
    } else if (strcmp(j->est.state, "done") == 0 && !j->est.truncated) {
        p->estimated_jobs++;
        p->objects_total += j->est.objects;
        p->bytes_total += j->est.bytes;
    } else {
        p->unsized_jobs++;
    }
    double now = in_pass ? mig__rate_bps(&j->stats) : 0;
    if (j->active && in_pass && strcmp(j->state, "running") == 0)
        p->rate_bps += now;
    p->proj_rate_bps += now > 0 ? now : mig__rate_bps(&j->last);
    /* a failed job's last attempt did not finish, whatever its previous pass found */
    if (!last_pass_clean(j))
        p->all_verified = false;
    p->manifests += (int)j->manifests;
    progress_evidence(p, j);
    if (j->passes_done > 0 && j->finished_ms > p->last_pass_end_ms)
        p->last_pass_end_ms = j->finished_ms;
}

int mig_jobs_tenant_progress(struct mig_jobs *jobs, const char *tenant_id,
                             struct mig_tenant_progress *out)
{
    memset(out, 0, sizeof(*out));
    if (jobs == NULL || tenant_id == NULL)
        return -EINVAL;
    out->all_verified = true;
    pthread_mutex_lock(&jobs->mu);
    for (struct mig_job *j = jobs->head; j; j = j->next)
        if (tenant_matches(j, tenant_id) && strcmp(j->state, "cancelled") != 0)
            progress_add(out, j);
    pthread_mutex_unlock(&jobs->mu);
    if (out->jobs == 0)
        out->all_verified = false;
    return 0;
}
