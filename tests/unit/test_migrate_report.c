/*
 * test_migrate_report.c - the pass report (src/migrate/report.c): JSON fields, the CSV's
 * summary rows and problem rows (quoting), the list bound, and the files --report writes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "migrate/report.h"
#include "tap.h"
#include "util/util.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = gz_malloc(1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void fill(struct gz_mig_report *r, struct gz_mig_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->listed = 5;
    st->listed_bytes = 5000;
    st->verified = st->copied = 3;
    st->verified_bytes = st->copied_bytes = 3000;
    st->verified_md5 = 3;
    st->failed = 1;
    st->failed_bytes = 1000;
    st->waiting = 1;
    st->waiting_bytes = 1000;
    st->started_ms = 1000;
    st->elapsed_ms = 250;
    gz_migrate_report_init(r);
    gz_migrate_report_failed(r, "a,b \"quoted\"", "HTTP 403 AccessDenied: no", 2);
    gz_migrate_report_object(r, "cold/x", 1000, "waiting", "restore requested");
    gz_migrate_report_object(r, "tagged", 10, "not-carried", "tags,acl");
    gz_migrate_report_object(r, "fine", 10, "verified", "md5"); /* not a problem: no row */
}

static void t_json(void)
{
    struct gz_mig_report r;
    struct gz_mig_stats st;
    fill(&r, &st);
    struct gz_mig_report_head h = {.job = "j1", .tenant = "acme", .pass = 3, .rc = 1};
    char *text = gz_migrate_report_json(&h, &st, &r);
    cJSON *doc = cJSON_Parse(text);
    TAP_OK(doc != NULL, "parses");
    TAP_OK(strcmp(cJSON_GetObjectItem(doc, "result")->valuestring, "partial") == 0, "partial");
    TAP_OK(cJSON_GetObjectItem(doc, "pass")->valuedouble == 3, "pass 3");
    cJSON *stats = cJSON_GetObjectItem(doc, "stats");
    TAP_OK(cJSON_GetObjectItem(stats, "verified_bytes")->valuedouble == 3000, "stats");
    TAP_OK(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "failed")) == 1, "one failed");
    TAP_OK(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "waiting")) == 1, "one waiting");
    TAP_OK(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "not_carried")) == 1, "one not carried");
    TAP_OK(cJSON_IsNull(cJSON_GetObjectItem(doc, "manifest")), "no manifest");
    cJSON_Delete(doc);
    gz_free(text);
    h.pass = 0;
    h.rc = 2; /* GZ_MIG_STOPPED */
    text = gz_migrate_report_json(&h, &st, &r);
    doc = cJSON_Parse(text);
    TAP_OK(cJSON_IsNull(cJSON_GetObjectItem(doc, "pass")), "a standalone copy has no pass");
    TAP_OK(strcmp(cJSON_GetObjectItem(doc, "result")->valuestring, "stopped") == 0, "stopped");
    cJSON_Delete(doc);
    gz_free(text);
    gz_migrate_report_free(&r);
    gz_migrate_report_free(&r); /* idempotent */
}

/* The result of a pass: waiting only when nothing failed and something waits for a restore. */
static void t_result_waiting(void)
{
    struct gz_mig_report r;
    struct gz_mig_stats st;
    static const struct {
        int rc;
        int64_t waiting;
        const char *want;
    } cases[] = {{0, 0, "completed"}, {0, 2, "waiting"}, {1, 2, "partial"}, {2, 2, "stopped"}};
    gz_migrate_report_init(&r);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&st, 0, sizeof(st));
        st.waiting = cases[i].waiting;
        struct gz_mig_report_head h = {.job = "j", .pass = 1, .rc = cases[i].rc};
        char *text = gz_migrate_report_json(&h, &st, &r);
        cJSON *doc = cJSON_Parse(text);
        const char *got = cJSON_GetStringValue(cJSON_GetObjectItem(doc, "result"));
        TAP_OK(got && strcmp(got, cases[i].want) == 0, "rc %d waiting %lld: %s", cases[i].rc,
               (long long)cases[i].waiting, got ? got : "(none)");
        cJSON_Delete(doc);
        gz_free(text);
    }
    gz_migrate_report_free(&r);
}

static void t_csv(void)
{
    struct gz_mig_report r;
    struct gz_mig_stats st;
    fill(&r, &st);
    struct gz_mig_report_head h = {.job = "j1", .pass = 2, .rc = 1};
    char *text = gz_migrate_report_json(&h, &st, &r);
    size_t len = 0;
    char *csv = gz_migrate_report_csv(text, &len);
    TAP_OK(csv != NULL && len == strlen(csv), "csv of %zu bytes", len);
    const char *want[] = {
        "kind,key,size,reason,retries\r\n",
        "summary,pass,2,,\r\nsummary,result,,partial,\r\nsummary,listed,5,,\r\n",
        "summary,verified_bytes,3000,,\r\n",
        "summary,failed,1,,\r\nsummary,failed_bytes,1000,,\r\n",
        "summary,elapsed_ms,250,,\r\n",
        "failed,\"a,b \"\"quoted\"\"\",,HTTP 403 AccessDenied: no,2\r\n",
        "waiting,cold/x,1000,restore requested,0\r\n",
        "not-carried,tagged,10,\"tags,acl\",0\r\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        TAP_OK(csv && strstr(csv, want[i]) != NULL, "holds expected row set %zu", i);
    TAP_OK(csv && strncmp(csv, want[0], strlen(want[0])) == 0, "header first");
    /* summary rows come before the problem rows */
    TAP_OK(csv && strstr(csv, "summary,elapsed_ms") < strstr(csv, "failed,\""), "order");
    TAP_OK(csv && strstr(csv, "fine") == NULL, "a verified object is no row");
    gz_free(csv);
    gz_free(text);
    TAP_OK(gz_migrate_report_csv("not json", &len) == NULL, "not a report: NULL");
    gz_migrate_report_free(&r);
}

static void t_bound(void)
{
    struct gz_mig_report r;
    gz_migrate_report_init(&r);
    char key[32];
    for (int i = 0; i < GZ_MIG_REPORT_LIST_MAX + 50; i++) {
        snprintf(key, sizeof(key), "k%06d", i);
        gz_migrate_report_failed(&r, key, "boom", 0);
    }
    TAP_OK(cJSON_GetArraySize(r.failed) == GZ_MIG_REPORT_LIST_MAX, "failed list bounded");
    TAP_OK(r.truncated, "truncated said");
    gz_migrate_report_free(&r);
}

static void t_save(void)
{
    char dir[] = "/tmp/gzy-report-XXXXXX", path[256], cpath[256], err[512] = "";
    TAP_OK(mkdtemp(dir) != NULL, "temp dir");
    struct gz_mig_report r;
    struct gz_mig_stats st;
    fill(&r, &st);
    struct gz_mig_report_head h = {.job = "copy", .rc = 0};
    char *text = gz_migrate_report_json(&h, &st, &r);
    snprintf(path, sizeof(path), "%s/pass.json", dir);
    snprintf(cpath, sizeof(cpath), "%s/pass.csv", dir);
    TAP_OK(gz_migrate_report_save(path, text, err, sizeof(err)) == 0, "saved: %s", err);
    char *j = slurp(path), *c = slurp(cpath);
    TAP_OK(j && strcmp(j, text) == 0, "JSON at PATH");
    /* nothing failed (rc 0) but one object waits for a restore: the result says so */
    TAP_OK(c && strncmp(c, "kind,key,size,reason,retries\r\nsummary,result,,waiting,", 54) == 0,
           "CSV beside it");
    gz_free(j);
    gz_free(c);
    unlink(path);
    unlink(cpath);
    /* no extension: .csv appended; a .csv PATH is refused (the CSV would replace it) */
    snprintf(path, sizeof(path), "%s/report", dir);
    snprintf(cpath, sizeof(cpath), "%s/report.csv", dir);
    TAP_OK(gz_migrate_report_save(path, text, err, sizeof(err)) == 0, "saved: %s", err);
    TAP_OK(access(cpath, F_OK) == 0, "report.csv");
    unlink(path);
    TAP_OK(gz_migrate_report_save(cpath, text, err, sizeof(err)) < 0 && strstr(err, ".csv"),
           "refused: %s", err);
    unlink(cpath);
    snprintf(path, sizeof(path), "%s/missing/dir.json", dir);
    TAP_OK(gz_migrate_report_save(path, text, err, sizeof(err)) < 0, "bad path: %s", err);
    rmdir(dir);
    gz_free(text);
    gz_migrate_report_free(&r);
}

int main(void)
{
    TAP_RUN(t_json);
    TAP_RUN(t_result_waiting);
    TAP_RUN(t_csv);
    TAP_RUN(t_bound);
    TAP_RUN(t_save);
    return tap_done();
}
