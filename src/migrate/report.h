/*
 * report.h - the report of one migration pass (issue 4), one writer for the migration jobs of
 * gzy serve (jobs_run.c, served by the admin API) and `gzy migrate copy --report PATH`
 * (src/cli/migrate.c).
 *
 * JSON: {"job", "tenant", "pass", "dry_run", "acls", "started", "finished", "result":
 * "completed"|"waiting"|"partial"|"stopped" (waiting: nothing failed, some archive-class
 * objects wait for a restore), "stats": {the gz_mig_stats fields}, "verification":
 * {"md5", "sha256", "crc64", "mpu"}, "failed": [{"key", "reason", "retries"}], "waiting":
 * [{"key", "size", "reason"}], "not_carried": [{"key", "size", "reason"}], "truncated",
 * "manifest"}.
 *
 * CSV (one table, header kind,key,size,reason,retries): first the summary rows,
 * `summary,pass,<n>,,` (jobs), `summary,result,,<result>,`, and one per counter,
 * `summary,<counter>,<value>,,` (the stats fields: listed, listed_bytes, copied, ... - a count
 * of objects, or bytes for *_bytes, milliseconds for *_ms), then one row per failed, waiting
 * or not-carried object. docs/migration-jobs.md shows an example.
 *
 * A struct gz_mig_report collects the object lists during a pass; it is not thread-safe (the
 * engine serialises its callbacks). The lists keep at most GZ_MIG_REPORT_LIST_MAX entries
 * each, so a pass over ten million failing keys still has a bounded report (the journal keeps
 * every outcome).
 */
#ifndef GZ_MIGRATE_REPORT_H
#define GZ_MIGRATE_REPORT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migrate.h"

#define GZ_MIG_REPORT_LIST_MAX 10000

struct gz_mig_report {
    cJSON *failed, *waiting, *not_carried; /* owned; arrays of objects */
    bool truncated;                        /* some entry was left out of a list */
};

void gz_migrate_report_init(struct gz_mig_report *r);
void gz_migrate_report_free(struct gz_mig_report *r); /* NULL-safe, idempotent */
/* For gz_mig_options.on_object: records "waiting" and "not-carried" objects. */
void gz_migrate_report_object(struct gz_mig_report *r, const char *key, int64_t size,
                              const char *state, const char *detail);
/* For gz_migrate_copy's on_failed. */
void gz_migrate_report_failed(struct gz_mig_report *r, const char *key, const char *reason,
                              int64_t retries);

/* What the report says besides the stats and lists; strings borrowed, may be NULL. */
struct gz_mig_report_head {
    const char *job; /* job id, or "copy" */
    const char *tenant;
    int64_t pass; /* <= 0: null (a standalone copy) */
    bool dry_run, check_acl;
    int rc;               /* gz_migrate_copy's: 0 completed, GZ_MIG_STOPPED stopped,
                           * else partial */
    const char *manifest; /* path, or NULL */
};

/* The report as JSON text (gz_malloc'ed, never NULL). */
char *gz_migrate_report_json(const struct gz_mig_report_head *h, const struct gz_mig_stats *st,
                             const struct gz_mig_report *r);
/* The CSV of a report in the JSON above (gz_malloc'ed, NUL-terminated, *len without the NUL);
 * NULL if report_json is not a report. */
char *gz_migrate_report_csv(const char *report_json, size_t *len);
/* Writes the JSON report to path and its CSV to path with its extension replaced by ".csv"
 * (or ".csv" appended), each through a temporary file renamed into place. 0 or -errno with
 * err set. */
int gz_migrate_report_save(const char *path, const char *report_json, char *err, size_t errsz);

#endif
