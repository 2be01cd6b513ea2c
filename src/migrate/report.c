/*
 * report.c - the report of a pass, JSON and CSV (report.h): one writer for the jobs and for
 * `gzy migrate copy --report`.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "jobs_int.h"
#include "report.h"

#define REPORT_CSV_MAX (256u * 1024 * 1024)

void gz_migrate_report_init(struct gz_mig_report *r)
{
    r->failed = cJSON_CreateArray();
    r->waiting = cJSON_CreateArray();
    r->not_carried = cJSON_CreateArray();
    r->truncated = false;
}

void gz_migrate_report_free(struct gz_mig_report *r)
{
    if (r == NULL)
        return;
    cJSON_Delete(r->failed);
    cJSON_Delete(r->waiting);
    cJSON_Delete(r->not_carried);
    r->failed = r->waiting = r->not_carried = NULL;
}

static void list_add(struct gz_mig_report *r, cJSON *list, const char *key, int64_t size,
                     const char *reason, int64_t retries)
{
    if (list == NULL)
        return;
    if (cJSON_GetArraySize(list) >= GZ_MIG_REPORT_LIST_MAX) {
        r->truncated = true;
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "key", key);
    if (size >= 0)
        cJSON_AddNumberToObject(o, "size", (double)size);
    if (reason != NULL)
        cJSON_AddStringToObject(o, "reason", reason);
    if (retries >= 0)
        cJSON_AddNumberToObject(o, "retries", (double)retries);
    cJSON_AddItemToArray(list, o);
}

void gz_migrate_report_object(struct gz_mig_report *r, const char *key, int64_t size,
                              const char *state, const char *detail)
{
    if (strcmp(state, "waiting") == 0)
        list_add(r, r->waiting, key, size, detail, -1);
    else if (strcmp(state, "not-carried") == 0 || strcmp(state, "not_carried") == 0)
        list_add(r, r->not_carried, key, size, detail, -1);
}

void gz_migrate_report_failed(struct gz_mig_report *r, const char *key, const char *reason,
                              int64_t retries)
{
    list_add(r, r->failed, key, -1, reason, retries);
}

static void add_str(cJSON *o, const char *name, const char *s)
{
    if (s != NULL)
        cJSON_AddStringToObject(o, name, s);
    else
        cJSON_AddNullToObject(o, name);
}

static void add_list(cJSON *o, const char *name, cJSON *list)
{
    if (list != NULL)
        cJSON_AddItemReferenceToObject(o, name, list);
    else
        cJSON_AddArrayToObject(o, name);
}

char *gz_migrate_report_json(const struct gz_mig_report_head *h, const struct gz_mig_stats *st,
                             const struct gz_mig_report *rl)
{
    cJSON *r = cJSON_CreateObject();
    char t[25];
    add_str(r, "job", h->job);
    add_str(r, "tenant", h->tenant);
    if (h->pass > 0)
        cJSON_AddNumberToObject(r, "pass", (double)h->pass);
    else
        cJSON_AddNullToObject(r, "pass");
    cJSON_AddBoolToObject(r, "dry_run", h->dry_run);
    /* never silent: without check_acl the report says the ACLs were not looked at */
    cJSON_AddStringToObject(r, "acls", h->check_acl ? "examined" : "not examined");
    gz_time_iso8601(st->started_ms, t);
    cJSON_AddStringToObject(r, "started", t);
    gz_time_iso8601(st->started_ms + st->elapsed_ms, t);
    cJSON_AddStringToObject(r, "finished", t);
    /* waiting: nothing failed, but archive-class objects wait for a restore (a later pass
     * copies them) */
    cJSON_AddStringToObject(r, "result",
                            h->rc == 0 && st->waiting > 0 ? "waiting"
                            : h->rc == 0                  ? "completed"
                            : h->rc == GZ_MIG_STOPPED     ? "stopped"
                                                          : "partial");
    cJSON_AddItemToObject(r, "stats", mig__stats_json(st));
    cJSON *v = cJSON_AddObjectToObject(r, "verification");
    cJSON_AddNumberToObject(v, "md5", (double)st->verified_md5);
    cJSON_AddNumberToObject(v, "sha256", (double)st->verified_sha256);
    cJSON_AddNumberToObject(v, "crc64", (double)st->verified_crc64);
    cJSON_AddNumberToObject(v, "mpu", (double)st->verified_mpu);
    add_list(r, "failed", rl->failed);
    add_list(r, "waiting", rl->waiting);
    add_list(r, "not_carried", rl->not_carried);
    cJSON_AddBoolToObject(r, "truncated", rl->truncated);
    add_str(r, "manifest", h->manifest);
    char *text = cJSON_PrintUnformatted(r), *out = gz_strdup(text ? text : "{}");
    cJSON_free(text);
    cJSON_Delete(r);
    return out;
}

/* ---- CSV ---- */

static void csv_field(struct gz_buf *b, const char *s)
{
    if (s == NULL || strpbrk(s, ",\"\r\n") == NULL) {
        gz_buf_append_cstr(b, s ? s : "");
        return;
    }
    gz_buf_append(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            gz_buf_append(b, "\"", 1);
        gz_buf_append(b, p, 1);
    }
    gz_buf_append(b, "\"", 1);
}

static void csv_rows(struct gz_buf *b, const cJSON *rep, const char *list, const char *kind)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(rep, list))
    {
        const cJSON *size = cJSON_GetObjectItemCaseSensitive(it, "size");
        const cJSON *retries = cJSON_GetObjectItemCaseSensitive(it, "retries");
        csv_field(b, kind);
        gz_buf_append(b, ",", 1);
        csv_field(b, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "key")));
        gz_buf_append(b, ",", 1);
        if (cJSON_IsNumber(size))
            gz_buf_appendf(b, "%.0f", size->valuedouble);
        gz_buf_append(b, ",", 1);
        csv_field(b, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "reason")));
        gz_buf_appendf(b, ",%.0f\r\n", cJSON_IsNumber(retries) ? retries->valuedouble : 0.0);
    }
}

/* summary rows: the pass number and the result (its text in the reason column), then every
 * counter of the stats object, in its order */
static void csv_summary(struct gz_buf *b, const cJSON *rep)
{
    const cJSON *pass = cJSON_GetObjectItemCaseSensitive(rep, "pass"), *it;
    const char *result = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rep, "result"));
    if (cJSON_IsNumber(pass))
        gz_buf_appendf(b, "summary,pass,%.0f,,\r\n", pass->valuedouble);
    if (result != NULL) {
        gz_buf_append_cstr(b, "summary,result,,");
        csv_field(b, result);
        gz_buf_append_cstr(b, ",\r\n");
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(rep, "stats"))
    {
        if (!cJSON_IsNumber(it) || it->string == NULL)
            continue;
        gz_buf_append_cstr(b, "summary,");
        csv_field(b, it->string);
        gz_buf_appendf(b, ",%.0f,,\r\n", it->valuedouble);
    }
}

char *gz_migrate_report_csv(const char *report_json, size_t *len)
{
    cJSON *rep = report_json ? cJSON_Parse(report_json) : NULL;
    *len = 0;
    if (!cJSON_IsObject(rep)) {
        cJSON_Delete(rep);
        return NULL;
    }
    struct gz_buf b;
    gz_buf_init(&b, REPORT_CSV_MAX);
    gz_buf_append_cstr(&b, "kind,key,size,reason,retries\r\n");
    csv_summary(&b, rep);
    csv_rows(&b, rep, "failed", "failed");
    csv_rows(&b, rep, "waiting", "waiting");
    csv_rows(&b, rep, "not_carried", "not-carried");
    cJSON_Delete(rep);
    char *out = gz_strndup(b.ptr ? b.ptr : "", b.len);
    *len = b.len;
    gz_buf_free(&b);
    return out;
}

/* ---- files ---- */

static int write_file(const char *path, const char *text, size_t len)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int rc = 0;
    for (size_t off = 0; rc == 0 && off < len;) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0 && errno != EINTR)
            rc = -errno;
        else if (n > 0)
            off += (size_t)n;
    }
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    close(fd);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0)
        unlink(tmp);
    return rc;
}

/* path with its extension (after the last '/') replaced by ".csv", or ".csv" appended */
static void csv_path(const char *path, char *out, size_t outsz)
{
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    size_t stem =
        dot && dot > (slash ? slash : path) && dot[1] != '\0' ? (size_t)(dot - path) : strlen(path);
    snprintf(out, outsz, "%.*s.csv", (int)stem, path);
}

int gz_migrate_report_save(const char *path, const char *report_json, char *err, size_t errsz)
{
    char cpath[4200];
    size_t clen = 0;
    char *csv = NULL;
    int rc = strlen(path) < 4000 ? 0 : -ENAMETOOLONG;
    if (rc == 0) {
        csv_path(path, cpath, sizeof(cpath));
        csv = gz_migrate_report_csv(report_json, &clen);
        rc = csv ? 0 : -EBADMSG;
    }
    if (rc == 0 && strcmp(cpath, path) == 0)
        rc = -EINVAL; /* PATH.csv: the JSON would be overwritten by the CSV */
    if (rc == 0)
        rc = write_file(path, report_json, strlen(report_json));
    if (rc == 0)
        rc = write_file(cpath, csv, clen);
    if (rc == -EINVAL)
        snprintf(err, errsz,
                 "cannot write the report %s: give a path not ending in .csv "
                 "(the CSV goes beside it)",
                 path);
    else if (rc < 0)
        snprintf(err, errsz, "cannot write the report %s: %s", path, gz_strerror(rc));
    gz_free(csv);
    return rc;
}
