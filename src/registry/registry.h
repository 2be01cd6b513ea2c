/*
 * registry.h - supervision (issue 5): the registry of tenants' third-party cloud contracts,
 * the deadline policy, the per-tenant migration status and the reports built from it
 * (docs/supervision.md).
 *
 * Storage: DATA/registry.db (SQLite, WAL): contracts, and the policy as versioned rows (the
 * newest is in force; every change adds a version). Nothing derived is stored: deadlines,
 * violations and statuses are computed on read, so a policy change recomputes everything.
 *
 * Dates are civil dates (YYYY-MM-DD) in the policy's time zone, held as a day number
 * (days since 1970-01-01, proleptic Gregorian). The date functions are pure: no time_t, no
 * localtime, no TZ environment.
 *
 * Threading: the struct registry functions may be called from any thread (one connection
 * under a mutex). The pure functions are thread-safe.
 */
#ifndef GZ_REGISTRY_H
#define GZ_REGISTRY_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "../iam/iam.h"
#include "../util/util.h"

struct mig_jobs;

#define REGISTRY_NO_DATE INT32_MIN /* "no date" for any day number */
#define REGISTRY_ID_LEN 16         /* contract ids: 16 lower-case hex characters */
#define REGISTRY_MAX_NOTES 2000
#define REGISTRY_MAX_LIST_ITEMS 100 /* services, buckets, jobs per contract */
#define REGISTRY_MAX_ITEM 255
#define REGISTRY_MAX_LIST_JSON 4096 /* one list as compact JSON text */
#define REGISTRY_PRESET_TIANJIN "tianjin-2021"
#define REGISTRY_MAX_REPORT (32 * 1024 * 1024)

/* ---- civil dates (date.c) ---- */

/* Day number of y-m-d (no validation; m 1..12, d 1..31). */
int32_t registry_date_from_ymd(int y, int m, int d);
void registry_date_to_ymd(int32_t day, int *y, int *m, int *d);
/* Strict "YYYY-MM-DD" (a real calendar date, years 1900..9999): 0 or -EINVAL. */
int registry_date_parse(const char *s, int32_t *day);
/* "YYYY-MM-DD"; REGISTRY_NO_DATE gives "". */
void registry_date_format(int32_t day, char out[11]);
/* Calendar months later (or earlier, months < 0), clamped to the end of the target month:
 * 2021-12-31 + 2 = 2022-02-28, 2023-12-31 + 2 = 2024-02-29. */
int32_t registry_date_add_months(int32_t day, int months);
/* The civil date at utc_ms in a zone utc_offset_min minutes east of UTC. */
int32_t registry_date_today(int64_t utc_ms, int utc_offset_min);
/* A zone's fixed UTC offset: "Asia/Shanghai" (and the other China zone names), "UTC", or
 * "+08:00"/"-05:30". -EINVAL for zones with daylight saving or unknown names. */
int registry_tz_offset(const char *zone, int *offset_min);

/* ---- the policy (policy.c) ---- */

struct registry_policy {
    int64_t version; /* 0 until stored */
    char name[64];
    int32_t notice;         /* contracts signed or renewed after it are violations */
    int grace_months;       /* deadline = expiry + grace months (end-of-month clamp) */
    int32_t final_deadline; /* cap on every deadline; REGISTRY_NO_DATE = none */
    char time_zone[64];
    int tz_offset_min; /* from time_zone */
    int at_risk_days;  /* N: at risk with work outstanding and fewer than N days left */
    int64_t updated_ms;
    char updated_by[IAM_MAX_ACCESS_KEY + 1];
};

/* Fills a named preset ("tianjin-2021"); -ENOENT for an unknown name. */
int registry_policy_preset(const char *name, struct registry_policy *out);
/* min(expiry + grace months, final deadline). */
int32_t registry_deadline(const struct registry_policy *p, int32_t expiry);
/* True if signed, or the renewal (renewed_day, REGISTRY_NO_DATE if none), is after the notice
 * date (on the notice date is allowed). */
bool registry_violates(const struct registry_policy *p, int32_t signed_day, int32_t renewed_day);
/* Applies a JSON body to *p: {"preset"} alone, or any of name, notice_date, grace_months,
 * final_deadline (null = none), time_zone, at_risk_days (absent fields keep their value).
 * -EINVAL with msg naming the field. */
int registry_policy_apply_json(const cJSON *in, struct registry_policy *p, char *msg, size_t msgsz);
/* The caller owns the result. */
cJSON *registry_policy_json(const struct registry_policy *p);

/* ---- contracts ---- */

struct registry_contract {
    char id[REGISTRY_ID_LEN + 1];
    char tenant_id[IAM_ID_LEN + 1];
    char provider[24]; /* aliyun, huawei, tencent, aws, china-mobile, ... other */
    int32_t signed_day;
    int32_t start_day; /* REGISTRY_NO_DATE if not given */
    int32_t expiry_day;
    bool renewed;
    int32_t renewed_day;                   /* REGISTRY_NO_DATE unless renewed */
    int32_t closed_day;                    /* REGISTRY_NO_DATE while open */
    char services[REGISTRY_MAX_LIST_JSON]; /* compact JSON arrays of strings */
    char buckets[REGISTRY_MAX_LIST_JSON];
    char jobs[REGISTRY_MAX_LIST_JSON];
    char notes[REGISTRY_MAX_NOTES + 1];
    int64_t created_ms, updated_ms;
};

/* Valid provider names, NULL-terminated. */
extern const char *const registry_providers[];

/* Applies a JSON body to *c (create: c zeroed by registry_contract_init; update: the stored
 * contract). Fields: provider, services, buckets, signed, start, expiry, renewed,
 * renewed_date, notes, jobs, closed (null clears the optional ones). The tenant is the
 * caller's business. Checks the result: required fields, start <= expiry, signed <= expiry,
 * renewed_date with renewed. -EINVAL with msg naming the field. */
int registry_contract_apply_json(const cJSON *in, struct registry_contract *c, char *msg,
                                 size_t msgsz);
void registry_contract_init(struct registry_contract *c);
/* The contract with its computed deadline and violation under p; tenant_name may be NULL.
 * The caller owns the result. */
cJSON *registry_contract_json(const struct registry_contract *c, const struct registry_policy *p,
                              const char *tenant_name);

/* ---- status (status.c) ---- */

enum registry_status {
    REGISTRY_NOT_STARTED,
    REGISTRY_MIGRATING,
    REGISTRY_AT_RISK,
    REGISTRY_VERIFIED,
    REGISTRY_OVERDUE,
    REGISTRY_CUT_OVER,
    REGISTRY_VIOLATION,
};
const char *registry_status_name(enum registry_status s); /* "not-started", "at-risk", ... */

/* Everything the status depends on, for one tenant. */
struct registry_status_in {
    int contracts, open_contracts, violations;
    int32_t today;
    int32_t deadline; /* REGISTRY_NO_DATE if none */
    int at_risk_days;
    int jobs;        /* migration jobs (not cancelled) */
    int failed_jobs; /* of them, failed: their work is outstanding */
    bool all_verified;
    int manifests;
    /* Evidence for cut-over, per job's latest complete pass: clean_manifests counts the jobs
     * whose latest complete pass had nothing failed, waiting or left and filed a manifest;
     * missing_manifests the jobs (dry runs aside) whose latest complete pass filed none, or
     * none for a clean pass. */
    int clean_manifests, missing_manifests;
    int64_t objects_failed; /* in the passes that size the jobs */
    bool size_unknown;      /* some job's size is not known yet (nothing listed, no estimate) */
    int64_t bytes_total, bytes_moved, objects_total, objects_moved;
    int32_t projected_finish; /* REGISTRY_NO_DATE if unknown */
};

/* violation > cut-over (all contracts closed, the migration verified with nothing failed,
 * every job's latest complete pass filed a manifest: >= 1 clean manifest and none missing) >
 * overdue (today after the deadline) > verified > at-risk (projected finish after the
 * deadline, or fewer than N days left with work outstanding) > migrating (a job exists) >
 * not-started. Work is outstanding with no job, a job whose size is unknown, a failed job, or
 * anything not moved yet. */
enum registry_status registry_status_compute(const struct registry_status_in *in);
/* Work outstanding (above), whatever the status. */
bool registry_status_outstanding(const struct registry_status_in *in);
/* Past the deadline (today after it) with work outstanding, whatever the status: counted
 * apart in the totals ("past_deadline") since violation and cut-over hide overdue. */
bool registry_status_past_deadline(const struct registry_status_in *in);
/* The civil date `remaining` bytes take at rate bytes/s from sec_of_day seconds into today;
 * REGISTRY_NO_DATE if rate <= 0 and remaining > 0; today if nothing remains. The caller
 * passes REGISTRY_NO_DATE itself when the work's size is unknown. */
int32_t registry_projected_finish(int32_t today, int sec_of_day, int64_t remaining, double rate);

/* ---- the registry (db.c, contract.c, status.c) ---- */

struct registry;

/* Opens (creating) DATA/registry.db; stores the tianjin-2021 preset as policy version 1 the
 * first time. */
int registry_open(const char *data_dir, struct registry **out);
void registry_close(struct registry *reg); /* NULL-safe */

int registry_policy_get(struct registry *reg, struct registry_policy *out);
/* Stores *p as a new version (p->version and updated_ms are set). */
int registry_policy_set(struct registry *reg, struct registry_policy *p);

/* Creates (c->id generated) or replaces a contract. */
int registry_contract_create(struct registry *reg, struct registry_contract *c);
int registry_contract_update(struct registry *reg, struct registry_contract *c); /* -ENOENT */
int registry_contract_get(struct registry *reg, const char *id, struct registry_contract *out);
int registry_contract_delete(struct registry *reg, const char *id); /* -ENOENT */
/* tenant_id NULL = all; ordered by tenant, expiry, id. fn's non-zero return stops and is
 * returned. fn runs under the registry's lock: it must not call registry functions. */
int registry_contract_list(struct registry *reg, const char *tenant_id,
                           int (*fn)(const struct registry_contract *c, void *ud), void *ud);

struct registry_status_opts {
    const char *tenant_id; /* NULL = every tenant but the platform tenant */
    int32_t as_of;         /* REGISTRY_NO_DATE = today in the policy's zone */
    int64_t now_ms;        /* the clock (tests may fix it) */
};

/* The status document (docs/supervision.md): {as_of, policy, totals, tenants:[...]}.
 * jobs may be NULL (no migration data: everything not moved). The caller owns *out. */
int registry_status_build(struct registry *reg, struct iam *iam, struct mig_jobs *jobs,
                          const struct registry_status_opts *opts, cJSON **out);

/* ---- reports (report.c), rendered from a status document ---- */

/* One header row, then one row per tenant (RFC 4180 quoting). */
int registry_report_csv(const cJSON *status, struct gz_buf *out);
/* A printable, self-contained HTML page: inline CSS and SVG charts, no script. */
int registry_report_html(const cJSON *status, struct gz_buf *out);
/* "512 B", "1.5 GiB" (binary units, one decimal): the reports' and `gzy report`'s format. */
void registry_format_bytes(int64_t n, char out[32]);

#endif
