/*
 * jobs_json.c - migration jobs as JSON: the job document of the admin API (never the source
 * secret), pass statistics (stored in jobs.db as JSON and read back) and the live rate/ETA.
 */
#include <stdio.h>
#include <string.h>

#include "jobs_int.h"

struct stat_field {
    const char *name;
    size_t off;
};

#define SF(f)                                                                                      \
    {                                                                                              \
#f, offsetof(struct gz_mig_stats, f)                                                       \
    }
static const struct stat_field stat_fields[] = {
    SF(listed),       SF(listed_bytes),    SF(to_copy),        SF(to_copy_bytes),
    SF(copied),       SF(copied_bytes),    SF(verified),       SF(verified_bytes),
    SF(verified_md5), SF(verified_sha256), SF(verified_crc64), SF(verified_mpu),
    SF(waiting),      SF(waiting_bytes),   SF(excluded),       SF(not_carried),
    SF(skipped),      SF(skipped_bytes),   SF(failed),         SF(failed_bytes),
    SF(deleted),      SF(to_delete),       SF(retries),        SF(started_ms),
    SF(elapsed_ms),
};
#undef SF

cJSON *mig__stats_json(const struct gz_mig_stats *st)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; i < GZ_ARRAY_LEN(stat_fields); i++) {
        int64_t v;
        memcpy(&v, (const char *)st + stat_fields[i].off, sizeof(v));
        cJSON_AddNumberToObject(o, stat_fields[i].name, (double)v);
    }
    return o;
}

void mig__stats_parse(const char *text, struct gz_mig_stats *st)
{
    memset(st, 0, sizeof(*st));
    cJSON *o = text ? cJSON_Parse(text) : NULL;
    for (size_t i = 0; o != NULL && i < GZ_ARRAY_LEN(stat_fields); i++) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, stat_fields[i].name);
        int64_t v = cJSON_IsNumber(n) ? (int64_t)n->valuedouble : 0;
        memcpy((char *)st + stat_fields[i].off, &v, sizeof(v));
    }
    cJSON_Delete(o);
}

cJSON *mig__strv_json(char *const *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
    return a;
}

double mig__rate_bps(const struct gz_mig_stats *st)
{
    if (st->elapsed_ms <= 0)
        return 0;
    return (double)st->copied_bytes * 1000.0 / (double)st->elapsed_ms;
}

static void add_str(cJSON *o, const char *name, const char *s)
{
    if (s != NULL)
        cJSON_AddStringToObject(o, name, s);
    else
        cJSON_AddNullToObject(o, name);
}

static void add_time(cJSON *o, const char *name, int64_t ms)
{
    char t[25];
    if (ms <= 0) {
        cJSON_AddNullToObject(o, name);
        return;
    }
    gz_time_iso8601(ms, t);
    cJSON_AddStringToObject(o, name, t);
}

static cJSON *source_json(const struct mig_job *j)
{
    const struct gz_mig_preset *p = gz_migrate_preset_get(j->provider);
    cJSON *s = cJSON_CreateObject();
    add_str(s, "provider", p ? p->name : "generic");
    add_str(s, "endpoint", j->endpoint);
    add_str(s, "region", j->region);
    add_str(s, "bucket", j->bucket);
    add_str(s, "prefix", j->prefix);
    add_str(s, "access_key", j->access_key);
    cJSON_AddItemToObject(s, "include", mig__strv_json(j->include, j->n_include));
    cJSON_AddItemToObject(s, "exclude", mig__strv_json(j->exclude, j->n_exclude));
    return s;
}

static cJSON *options_json(const struct mig_job *j)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "concurrency", j->concurrency);
    cJSON_AddNumberToObject(o, "bandwidth_limit", (double)j->bandwidth_limit);
    cJSON_AddBoolToObject(o, "delete_extraneous", j->delete_extraneous);
    cJSON_AddNumberToObject(o, "interval_seconds", (double)j->interval_s);
    cJSON_AddNumberToObject(o, "restore_check_seconds", (double)j->restore_check_s);
    cJSON_AddBoolToObject(o, "dry_run", j->dry_run);
    cJSON_AddBoolToObject(o, "check_acl", j->check_acl);
    return o;
}

static void add_rate(cJSON *o, const struct mig_job *j)
{
    const struct gz_mig_stats *st = &j->stats;
    double rate = mig__rate_bps(st);
    cJSON_AddNumberToObject(o, "rate_bps", (double)(int64_t)rate);
    int64_t left = st->to_copy_bytes - st->copied_bytes - st->failed_bytes;
    if (strcmp(j->state, "running") == 0 && j->active && strcmp(j->phase, "copying") == 0 &&
        rate > 0 && left >= 0)
        cJSON_AddNumberToObject(o, "eta_s", (double)(int64_t)((double)left / rate + 0.5));
    else
        cJSON_AddNullToObject(o, "eta_s");
}

static void add_i64(cJSON *o, const char *name, int64_t v)
{
    char num[24];
    snprintf(num, sizeof(num), "%lld", (long long)v);
    cJSON_AddRawToObject(o, name, num);
}

cJSON *mig__est_json(const struct mig_job_est *e)
{
    if (e->state[0] == '\0')
        return cJSON_CreateNull();
    cJSON *o = cJSON_CreateObject();
    add_str(o, "state", e->state);
    add_i64(o, "objects", e->objects);
    add_i64(o, "bytes", e->bytes);
    add_i64(o, "archive_objects", e->archive);
    add_i64(o, "archive_bytes", e->archive_bytes);
    add_i64(o, "excluded", e->excluded);
    add_i64(o, "sample", e->sample);
    cJSON_AddBoolToObject(o, "truncated", e->truncated);
    cJSON_AddBoolToObject(o, "exact", strcmp(e->state, "done") == 0 && !e->truncated);
    add_time(o, "started", e->started_ms);
    add_time(o, "finished", e->finished_ms);
    add_i64(o, "started_ms", e->started_ms);
    add_i64(o, "finished_ms", e->finished_ms);
    if (e->finished_ms > 0)
        add_i64(o, "elapsed_ms", e->finished_ms - e->started_ms);
    else
        cJSON_AddNullToObject(o, "elapsed_ms");
    add_str(o, "error", e->error);
    return o;
}

static int64_t est_num(const cJSON *o, const char *name)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(n) ? (int64_t)n->valuedouble : 0;
}

void mig__est_parse(const char *text, struct mig_job_est *e)
{
    memset(e, 0, sizeof(*e));
    cJSON *o = text ? cJSON_Parse(text) : NULL;
    const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "state"));
    if (cJSON_IsObject(o) && st != NULL) {
        snprintf(e->state, sizeof(e->state), "%s", st);
        e->objects = est_num(o, "objects");
        e->bytes = est_num(o, "bytes");
        e->archive = est_num(o, "archive_objects");
        e->archive_bytes = est_num(o, "archive_bytes");
        e->excluded = est_num(o, "excluded");
        e->sample = est_num(o, "sample");
        e->truncated = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "truncated"));
        e->started_ms = est_num(o, "started_ms");
        e->finished_ms = est_num(o, "finished_ms");
        const char *err = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "error"));
        e->error = err != NULL ? gz_strdup(err) : NULL;
    }
    cJSON_Delete(o);
}

cJSON *mig__ver_json(const struct mig_job_ver *v)
{
    if (v->state[0] == '\0')
        return cJSON_CreateNull();
    cJSON *o = cJSON_CreateObject();
    add_i64(o, "pass", v->pass);
    add_str(o, "state", v->state);
    cJSON_AddBoolToObject(o, "clean", strcmp(v->state, "done") == 0 && v->ok == v->objects &&
                                          v->problems_total == 0);
    add_time(o, "started", v->started_ms);
    add_time(o, "finished", v->finished_ms);
    if (v->finished_ms > 0)
        add_i64(o, "elapsed_ms", v->finished_ms - v->started_ms);
    else
        cJSON_AddNullToObject(o, "elapsed_ms");
    add_i64(o, "objects", v->objects);
    add_i64(o, "ok", v->ok);
    add_i64(o, "missing", v->missing);
    add_i64(o, "mismatched", v->mismatched);
    add_i64(o, "errors", v->errors);
    add_i64(o, "problems_total", v->problems_total);
    cJSON_AddItemToObject(o, "problems", v->problems ? cJSON_Duplicate(v->problems, true)
                                                     : cJSON_CreateArray());
    add_str(o, "error", v->error);
    return o;
}

cJSON *mig__job_json(const struct mig_job *j)
{
    cJSON *o = cJSON_CreateObject();
    add_str(o, "id", j->id);
    add_str(o, "tenant", j->tenant_id);
    add_str(o, "tenant_name", j->tenant_name);
    add_str(o, "name", j->name);
    add_str(o, "state", j->state);
    add_str(o, "phase", j->phase[0] ? j->phase : NULL);
    cJSON_AddItemToObject(o, "source", source_json(j));
    add_str(o, "dest_bucket", j->dest_bucket);
    cJSON_AddItemToObject(o, "options", options_json(j));
    cJSON_AddNumberToObject(o, "pass", (double)j->pass);
    cJSON_AddNumberToObject(o, "passes_done", (double)j->passes_done);
    add_time(o, "created", j->created_ms);
    add_time(o, "started", j->started_ms);
    add_time(o, "updated", j->updated_ms ? j->updated_ms : j->created_ms);
    add_time(o, "finished", j->finished_ms);
    add_time(o, "next_run",
             strcmp(j->phase, "waiting") == 0 || strcmp(j->phase, "restore-wait") == 0
                 ? j->next_run_ms
                 : 0);
    add_str(o, "error", j->error);
    cJSON_AddItemToObject(o, "stats", mig__stats_json(&j->stats));
    add_rate(o, j);
    add_str(o, "manifest", j->manifest);
    cJSON_AddItemToObject(o, "estimate", mig__est_json(&j->est));
    cJSON_AddItemToObject(o, "manifest_verify", mig__ver_json(&j->ver));
    return o;
}
