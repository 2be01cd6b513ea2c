/*
 * test_registry.c - supervision: civil-date arithmetic (month-end clamps, leap years), the
 * final-deadline cap, the notice-date boundary, "today" in Asia/Shanghai from UTC, every
 * branch of the status precedence, contract validation, storage (contracts, versioned
 * policy) and the status document and reports built from it.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../src/registry/registry.h"
#include "tap.h"

#define ROOT_AK "ROOTACCESSKEY0000001"
#define ROOT_SK "rootsecretrootsecretrootsecret0123456789"
#define USCC_A "91350100M000100Y43"
#define USCC_B "91440300708461136T"

static char tmpdir[256];

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int32_t D(const char *s)
{
    int32_t d = REGISTRY_NO_DATE;
    if (registry_date_parse(s, &d) < 0)
        printf("# bad date in test: %s\n", s);
    return d;
}

static const char *F(int32_t day, char buf[11])
{
    registry_date_format(day, buf);
    return buf;
}

/* ---- dates ---- */

static void t_date_roundtrip(void)
{
    char b[11];
    TAP_OK(D("1970-01-01") == 0, "epoch is day 0");
    TAP_OK(D("2000-03-01") - D("2000-02-28") == 2, "2000 is a leap year");
    TAP_OK(D("1900-03-01") - D("1900-02-28") == 1, "1900 is not a leap year");
    int bad = 0;
    for (int32_t d = D("1999-12-25"); d < D("2031-01-05"); d++) {
        int y, m, dd;
        registry_date_to_ymd(d, &y, &m, &dd);
        if (registry_date_from_ymd(y, m, dd) != d || D(F(d, b)) != d)
            bad++;
    }
    TAP_OK(bad == 0, "11,000 days round-trip through y-m-d and text (%d bad)", bad);
    int32_t x;
    const char *invalid[] = {"2021-02-29", "2021-13-01", "2021-00-10",           "2021-1-01",
                             "2021-01-32", "20210101",   "2021-01-01T00:00:00Z", "",
                             "2021/01/01", "2021-04-31", " 2021-01-01"};
    bad = 0;
    for (size_t i = 0; i < GZ_ARRAY_LEN(invalid); i++)
        if (registry_date_parse(invalid[i], &x) != -EINVAL) {
            printf("# accepted '%s'\n", invalid[i]);
            bad++;
        }
    TAP_OK(bad == 0, "malformed and impossible dates are refused");
    TAP_OK(registry_date_parse("2024-02-29", &x) == 0, "2024-02-29 exists");
}

static void t_add_months(void)
{
    char b[11];
    struct {
        const char *from;
        int months;
        const char *to;
    } cases[] = {
        {"2021-12-31", 2, "2022-02-28"}, /* the directive's example */
        {"2023-12-31", 2, "2024-02-29"}, /* leap year */
        {"2021-10-31", 2, "2021-12-31"}, {"2021-12-30", 2, "2022-02-28"},
        {"2021-12-29", 2, "2022-02-28"}, {"2021-12-28", 2, "2022-02-28"},
        {"2021-12-27", 2, "2022-02-27"}, {"2022-01-31", 1, "2022-02-28"},
        {"2024-01-31", 1, "2024-02-29"}, {"2100-12-31", 2, "2101-02-28"}, /* 2100 is not leap */
        {"2000-01-31", 1, "2000-02-29"},                                  /* 2000 is */
        {"2021-08-31", 2, "2021-10-31"}, {"2021-07-31", 2, "2021-09-30"},
        {"2021-11-15", 2, "2022-01-15"}, {"2022-03-31", -1, "2022-02-28"},
        {"2022-05-20", 0, "2022-05-20"}, {"2022-05-20", 24, "2024-05-20"},
    };
    for (size_t i = 0; i < GZ_ARRAY_LEN(cases); i++) {
        const char *got = F(registry_date_add_months(D(cases[i].from), cases[i].months), b);
        TAP_OK(strcmp(got, cases[i].to) == 0, "%s %+d months = %s (got %s)", cases[i].from,
               cases[i].months, cases[i].to, got);
    }
}

static void t_today_zone(void)
{
    char b[11];
    int off = 0;
    TAP_OK(registry_tz_offset("Asia/Shanghai", &off) == 0 && off == 480, "Shanghai is +08:00");
    TAP_OK(registry_tz_offset("+05:30", &off) == 0 && off == 330, "fixed offsets");
    TAP_OK(registry_tz_offset("-03:00", &off) == 0 && off == -180, "negative offsets");
    TAP_OK(registry_tz_offset("Europe/Berlin", &off) == -EINVAL, "zones with DST are refused");
    /* 2022-02-27T16:30:00Z is 2022-02-28 00:30 in Shanghai */
    int64_t ms = (int64_t)D("2022-02-27") * 86400000 + (16 * 3600 + 30 * 60) * 1000LL;
    TAP_OK(strcmp(F(registry_date_today(ms, 480), b), "2022-02-28") == 0,
           "2022-02-27T16:30Z is 2022-02-28 in Shanghai (got %s)", b);
    TAP_OK(strcmp(F(registry_date_today(ms, 0), b), "2022-02-27") == 0, "and 02-27 in UTC");
    int64_t before = (int64_t)D("2022-02-27") * 86400000 + (15 * 3600 + 59 * 60 + 59) * 1000LL;
    TAP_OK(strcmp(F(registry_date_today(before, 480), b), "2022-02-27") == 0,
           "15:59:59Z is still 02-27 in Shanghai");
    TAP_OK(strcmp(F(registry_date_today(-1, 0), b), "1969-12-31") == 0, "floor before 1970");
}

/* ---- policy ---- */

static void t_policy_rules(void)
{
    struct registry_policy p;
    char b[11];
    TAP_OK(registry_policy_preset("tianjin-2021", &p) == 0, "the preset exists");
    TAP_OK(registry_policy_preset("atlantis-2030", &p) == -ENOENT, "unknown presets");
    registry_policy_preset("tianjin-2021", &p);
    TAP_OK(strcmp(F(registry_deadline(&p, D("2021-12-31")), b), "2022-02-28") == 0,
           "deadline 2021-12-31 -> 2022-02-28 (%s)", b);
    TAP_OK(strcmp(F(registry_deadline(&p, D("2022-07-30")), b), "2022-09-30") == 0,
           "2022-07-30 + 2 months = 2022-09-30, exactly the cap (%s)", b);
    TAP_OK(strcmp(F(registry_deadline(&p, D("2022-07-31")), b), "2022-09-30") == 0,
           "07-31 + 2 months clamps to 09-30 (%s)", b);
    TAP_OK(strcmp(F(registry_deadline(&p, D("2022-08-01")), b), "2022-09-30") == 0,
           "later expiries are capped by the final deadline (%s)", b);
    TAP_OK(strcmp(F(registry_deadline(&p, D("2025-01-01")), b), "2022-09-30") == 0,
           "far later expiries too (%s)", b);
    p.final_deadline = REGISTRY_NO_DATE;
    TAP_OK(strcmp(F(registry_deadline(&p, D("2025-01-01")), b), "2025-03-01") == 0,
           "no cap without a final deadline (%s)", b);
    registry_policy_preset("tianjin-2021", &p);
    TAP_OK(!registry_violates(&p, D("2021-08-12"), REGISTRY_NO_DATE),
           "signed on the notice date is allowed");
    TAP_OK(registry_violates(&p, D("2021-08-13"), REGISTRY_NO_DATE),
           "signed the day after is a violation");
    TAP_OK(!registry_violates(&p, D("2020-01-01"), D("2021-08-12")),
           "renewed on the notice date is allowed");
    TAP_OK(registry_violates(&p, D("2020-01-01"), D("2021-08-13")),
           "renewed the day after is a violation");
}

static void t_policy_json(void)
{
    struct registry_policy p;
    char msg[256] = "", b[11];
    registry_policy_preset("tianjin-2021", &p);
    cJSON *in = cJSON_Parse("{\"grace_months\":3,\"final_deadline\":null}");
    TAP_OK(registry_policy_apply_json(in, &p, msg, sizeof(msg)) == 0, "partial change: %s", msg);
    TAP_OK(p.grace_months == 3 && p.final_deadline == REGISTRY_NO_DATE &&
               strcmp(p.name, "custom") == 0 && strcmp(F(p.notice, b), "2021-08-12") == 0,
           "absent fields keep their value; a changed preset is renamed custom (%s)", p.name);
    cJSON_Delete(in);
    in = cJSON_Parse("{\"preset\":\"tianjin-2021\"}");
    TAP_OK(registry_policy_apply_json(in, &p, msg, sizeof(msg)) == 0 && p.grace_months == 2 &&
               strcmp(p.name, "tianjin-2021") == 0,
           "the preset restores the directive");
    cJSON_Delete(in);
    const char *bad[][2] = {
        {"{\"notice_date\":\"2021-02-30\"}", "notice_date"},
        {"{\"grace_months\":-1}", "grace_months"},
        {"{\"grace_months\":1.5}", "grace_months"},
        {"{\"time_zone\":\"America/New_York\"}", "time_zone"},
        {"{\"preset\":\"x\"}", "preset"},
        {"{\"at_risk_days\":\"30\"}", "at_risk_days"},
        {"{\"colour\":\"red\"}", "colour"},
    };
    for (size_t i = 0; i < GZ_ARRAY_LEN(bad); i++) {
        struct registry_policy q = p;
        in = cJSON_Parse(bad[i][0]);
        msg[0] = '\0';
        int rc = registry_policy_apply_json(in, &q, msg, sizeof(msg));
        TAP_OK(rc == -EINVAL && strstr(msg, bad[i][1]) != NULL && q.grace_months == p.grace_months,
               "%s refused naming the field: %s", bad[i][0], msg);
        cJSON_Delete(in);
    }
}

/* ---- status precedence ---- */

static struct registry_status_in base_in(void)
{
    struct registry_status_in in = {
        .contracts = 1,
        .open_contracts = 1,
        .today = D("2022-01-01"),
        .deadline = D("2022-06-30"),
        .at_risk_days = 30,
        .projected_finish = REGISTRY_NO_DATE,
    };
    return in;
}

/* Work whose size is not known yet is outstanding: a job that listed nothing (created with
 * start false, no estimate) or failed before its listing finished; a failed job is
 * outstanding even with its size known. */
static void t_status_unknown_size(void)
{
    struct registry_status_in in = base_in();
#define EXPECT(want, what)                                                                         \
    TAP_OK(registry_status_compute(&in) == (want), "%s -> %s (got %s)", what,                      \
           registry_status_name(want), registry_status_name(registry_status_compute(&in)))
    /* jobs > 0 and nothing listed: bytes_total 0, size unknown, projected unknown */
    in.jobs = 1;
    in.size_unknown = true;
    EXPECT(REGISTRY_MIGRATING, "a job that listed nothing, deadline far");
    in.today = D("2022-06-28");
    EXPECT(REGISTRY_AT_RISK, "a job that listed nothing, 2 days before the deadline");
    in.size_unknown = false;
    EXPECT(REGISTRY_MIGRATING, "(the same with 0 of 0 known: nothing outstanding)");
    /* failed before its listing finished: size unknown and a failed job */
    in = base_in();
    in.jobs = 1;
    in.failed_jobs = 1;
    in.size_unknown = true;
    EXPECT(REGISTRY_MIGRATING, "failed before listing, deadline far");
    in.today = D("2022-06-28");
    EXPECT(REGISTRY_AT_RISK, "failed before listing, 2 days before the deadline");
    /* failed after listing: the size is known, everything copied but the job failed */
    in = base_in();
    in.jobs = 1;
    in.failed_jobs = 1;
    in.bytes_total = in.bytes_moved = 1000;
    in.objects_total = in.objects_moved = 3;
    in.today = D("2022-06-28");
    EXPECT(REGISTRY_AT_RISK, "failed after listing, all moved, 2 days before the deadline");
    in.failed_jobs = 0;
    EXPECT(REGISTRY_MIGRATING, "(the same job not failed: nothing outstanding)");
    in.failed_jobs = 1;
    in.bytes_moved = 400;
    in.objects_moved = 1;
    in.today = D("2022-01-01");
    EXPECT(REGISTRY_MIGRATING, "failed after listing, part moved, deadline far");
    in.projected_finish = D("2022-07-02");
    EXPECT(REGISTRY_AT_RISK, "failed after listing, projected after the deadline");
    /* the unknown projected finish never hides the days-left rule */
    TAP_OK(registry_projected_finish(D("2022-01-01"), 0, 0, 0) == D("2022-01-01"),
           "0 bytes remaining projects today: callers pass unknown themselves");
#undef EXPECT
}

static void t_status_precedence(void)
{
    struct registry_status_in in = base_in();
#define EXPECT(want, what)                                                                         \
    TAP_OK(registry_status_compute(&in) == (want), "%s -> %s (got %s)", what,                      \
           registry_status_name(want), registry_status_name(registry_status_compute(&in)))
    EXPECT(REGISTRY_NOT_STARTED, "contracts, no job, deadline far");
    in.contracts = in.open_contracts = 0;
    in.deadline = REGISTRY_NO_DATE;
    EXPECT(REGISTRY_NOT_STARTED, "no contracts, no deadline");
    in = base_in();
    in.jobs = 1;
    in.bytes_total = 1000;
    in.bytes_moved = 10;
    EXPECT(REGISTRY_MIGRATING, "a job with work left, finish unknown");
    in.projected_finish = D("2022-06-30");
    EXPECT(REGISTRY_MIGRATING, "projected finish on the deadline");
    in.projected_finish = D("2022-07-01");
    EXPECT(REGISTRY_AT_RISK, "projected finish after the deadline");
    in.projected_finish = D("2022-02-01");
    in.today = D("2022-06-01");
    EXPECT(REGISTRY_AT_RISK, "29 days left with work outstanding");
    in.today = D("2022-05-31");
    EXPECT(REGISTRY_MIGRATING, "30 days left: not fewer than N");
    in.today = D("2022-05-30");
    EXPECT(REGISTRY_MIGRATING, "31 days left");
    in = base_in();
    in.today = D("2022-06-15");
    EXPECT(REGISTRY_AT_RISK, "no job yet and the deadline within N days");
    t_status_unknown_size();
    in = base_in();
    in.jobs = 1;
    in.bytes_total = in.bytes_moved = 1000;
    in.objects_total = in.objects_moved = 3;
    in.today = D("2022-06-20");
    EXPECT(REGISTRY_MIGRATING, "everything moved, not yet verified, near the deadline");
    in.all_verified = true;
    EXPECT(REGISTRY_VERIFIED, "verified");
    in.today = D("2022-06-30");
    EXPECT(REGISTRY_VERIFIED, "on the deadline day");
    in.today = D("2022-07-01");
    EXPECT(REGISTRY_OVERDUE, "the day after the deadline, contracts still open");
    in.manifests = in.clean_manifests = 1;
    EXPECT(REGISTRY_OVERDUE, "a manifest but a contract still open");
    in.open_contracts = 0;
    EXPECT(REGISTRY_CUT_OVER, "all contracts closed and a clean pass's manifest filed");
    in.manifests = in.clean_manifests = 0;
    EXPECT(REGISTRY_OVERDUE, "closed but no manifest");
    /* cut-over needs the migration verified and the evidence of a clean pass */
    in.manifests = in.clean_manifests = 1;
    in.all_verified = false;
    in.objects_failed = 2;
    EXPECT(REGISTRY_OVERDUE, "closed, a manifest, but not verified: objects failed");
    in.all_verified = true;
    EXPECT(REGISTRY_OVERDUE, "closed, a manifest, objects failed (even if all_verified)");
    in.objects_failed = 0;
    in.all_verified = false;
    EXPECT(REGISTRY_OVERDUE, "closed, a manifest, nothing failed but not verified");
    in.all_verified = true;
    in.missing_manifests = 1;
    EXPECT(REGISTRY_OVERDUE, "closed, but a job's latest complete pass filed no manifest");
    in.missing_manifests = 0;
    in.clean_manifests = 0;
    EXPECT(REGISTRY_OVERDUE, "closed, manifests only of earlier or unclean passes");
    in.clean_manifests = 1;
    in.failed_jobs = 1;
    EXPECT(REGISTRY_OVERDUE, "closed, a manifest, but a job failed");
    in.failed_jobs = 0;
    in.today = D("2022-06-01");
    EXPECT(REGISTRY_CUT_OVER, "cut over before the deadline");
    in.all_verified = false;
    in.objects_failed = 1;
    EXPECT(REGISTRY_MIGRATING, "closed early with failed objects: not cut over");
    in.all_verified = true;
    in.objects_failed = 0;
    in.today = D("2022-07-01");
    in.violations = 1;
    EXPECT(REGISTRY_VIOLATION, "a violation beats everything");
    in = base_in();
    in.violations = 2;
    EXPECT(REGISTRY_VIOLATION, "a violation with nothing else");
    in = base_in();
    in.jobs = 1;
    in.all_verified = true;
    in.contracts = in.open_contracts = 0;
    in.deadline = REGISTRY_NO_DATE;
    EXPECT(REGISTRY_VERIFIED, "verified without contracts");
#undef EXPECT
}

/* Past the deadline with work outstanding, whatever the status (violation hides overdue). */
static void t_past_deadline(void)
{
    struct registry_status_in in = base_in();
    in.violations = 1;
    in.today = D("2022-06-30") + 1735;
    TAP_OK(registry_status_compute(&in) == REGISTRY_VIOLATION && registry_status_past_deadline(&in),
           "a violating tenant 1735 days past its deadline, no job: past deadline");
    in.today = D("2022-06-30");
    TAP_OK(!registry_status_past_deadline(&in), "on the deadline day: not past");
    in.today = D("2022-07-01");
    in.jobs = 1;
    in.bytes_total = in.bytes_moved = 10;
    in.objects_total = in.objects_moved = 1;
    TAP_OK(!registry_status_past_deadline(&in), "past, everything moved: nothing outstanding");
    in.bytes_moved = 5;
    TAP_OK(registry_status_past_deadline(&in), "past, part moved");
    in.violations = 0;
    TAP_OK(registry_status_compute(&in) == REGISTRY_OVERDUE && registry_status_past_deadline(&in),
           "overdue with work left: past deadline too");
    in.deadline = REGISTRY_NO_DATE;
    TAP_OK(!registry_status_past_deadline(&in), "no deadline: never past");
}

/* The y of the <text> element whose content starts with what; -1 if none. */
static int text_y(const char *html, const char *what, int *count)
{
    int y = -1;
    *count = 0;
    for (const char *p = strstr(html, "<text "); p; p = strstr(p + 1, "<text ")) {
        const char *gt = strchr(p, '>'), *ya = strstr(p, " y=\"");
        if (gt == NULL || ya == NULL || ya > gt || strncmp(gt + 1, what, strlen(what)) != 0)
            continue;
        y = atoi(ya + 4);
        (*count)++;
    }
    return y;
}

/* The timeline's "final deadline" and "today" labels sit in a band of their own under the
 * tenants' rows, whatever the dates: they never share a line with a tenant's label. */
static void t_report_timeline(void)
{
    const char *doc_text =
        "{\"as_of\":\"2022-09-28\",\"policy\":{\"name\":\"p\",\"final_deadline\":"
        "\"2022-09-30\"},\"totals\":{},\"tenants\":["
        "{\"tenant\":\"a\",\"status\":\"at-risk\",\"deadline\":\"2022-09-30\"},"
        "{\"tenant\":\"b\",\"status\":\"overdue\",\"deadline\":\"2022-09-27\"},"
        "{\"tenant\":\"c\",\"status\":\"migrating\",\"deadline\":\"2022-09-29\"}]}";
    cJSON *doc = cJSON_Parse(doc_text);
    struct gz_buf html;
    gz_buf_init(&html, REGISTRY_MAX_REPORT);
    TAP_OK(doc && registry_report_html(doc, &html) == 0 && gz_buf_terminate(&html) == 0,
           "html of deadlines around the final deadline");
    int n, n2, last_row = -1;
    const char *svg = strstr(html.ptr, "Deadline timeline");
    const char *end = svg ? strstr(svg, "</svg>") : NULL;
    /* every tenant's deadline label in the timeline */
    for (const char *p = svg; p && (p = strstr(p, "2022-09-2")) != NULL && p < end; p++) {
        const char *ya = p;
        while (ya > svg && strncmp(ya, " y=\"", 4) != 0)
            ya--;
        if (atoi(ya + 4) > last_row)
            last_row = atoi(ya + 4);
    }
    int fin = text_y(html.ptr, "最终截止", &n), today = text_y(html.ptr, "今天", &n2);
    TAP_OK(last_row > 0 && n == 1 && n2 == 1 && fin > last_row + 11 && today > last_row + 11 &&
               fin != today,
           "final deadline (y %d) and today (y %d) labels below every row (last %d)", fin, today,
           last_row);
    const char *dump = getenv("GZY_TEST_REPORT_HTML"); /* for a look in a browser */
    if (dump != NULL) {
        FILE *f = fopen(dump, "w");
        if (f != NULL) {
            fwrite(html.ptr, 1, html.len, f);
            fclose(f);
        }
    }
    gz_buf_free(&html);
    cJSON_Delete(doc);
}

static void t_projected_finish(void)
{
    int32_t t = D("2022-01-01");
    TAP_OK(registry_projected_finish(t, 0, 0, 0) == t, "nothing left: today");
    TAP_OK(registry_projected_finish(t, 0, 10, 0) == REGISTRY_NO_DATE, "no rate: unknown");
    TAP_OK(registry_projected_finish(t, 0, 86400LL * 1000, 1000) == t + 1, "one day of bytes");
    TAP_OK(registry_projected_finish(t, 80000, 7000LL * 1000, 1000) == t + 1,
           "late in the day it spills into tomorrow");
    TAP_OK(registry_projected_finish(t, 0, 3600, 1) == t, "an hour: today");
}

/* ---- contracts ---- */

static int apply(struct registry_contract *c, const char *json, char *msg, size_t n)
{
    cJSON *in = cJSON_Parse(json);
    msg[0] = '\0';
    int rc = registry_contract_apply_json(in, c, msg, n);
    cJSON_Delete(in);
    return rc;
}

static void t_contract_validation(void)
{
    struct registry_contract *c = gz_malloc(sizeof(*c));
    char msg[256];
    registry_contract_init(c);
    TAP_OK(apply(c,
                 "{\"provider\":\"aliyun\",\"signed\":\"2020-01-01\",\"expiry\":"
                 "\"2021-12-31\",\"services\":[\"oss\"],\"buckets\":[\"a\",\"b\"]}",
                 msg, sizeof(msg)) == 0,
           "a valid contract: %s", msg);
    struct {
        const char *json, *field;
    } bad[] = {
        {"{\"provider\":\"azure\"}", "provider"},  {"{\"expiry\":\"2021-02-30\"}", "expiry"},
        {"{\"start\":\"2022-01-01\"}", "start"},   {"{\"signed\":\"2022-01-01\"}", "signed"},
        {"{\"renewed\":true}", "renewed_date"},    {"{\"services\":\"oss\"}", "services"},
        {"{\"buckets\":[1]}", "buckets"},          {"{\"renewed\":\"yes\"}", "renewed"},
        {"{\"closed\":\"2019-01-01\"}", "closed"}, {"{\"provder\":\"aws\"}", "provder"},
    };
    for (size_t i = 0; i < GZ_ARRAY_LEN(bad); i++) {
        int rc = apply(c, bad[i].json, msg, sizeof(msg));
        TAP_OK(rc == -EINVAL && strstr(msg, bad[i].field) != NULL &&
                   strcmp(c->provider, "aliyun") == 0,
               "%s refused naming the field, contract unchanged: %s", bad[i].json, msg);
    }
    TAP_OK(apply(c, "{\"renewed_date\":\"2021-09-01\"}", msg, sizeof(msg)) == 0 && c->renewed,
           "renewed_date alone marks the renewal");
    TAP_OK(apply(c, "{\"renewed\":false,\"renewed_date\":null}", msg, sizeof(msg)) == 0 &&
               !c->renewed && c->renewed_day == REGISTRY_NO_DATE,
           "and it can be undone: %s", msg);
    struct registry_contract *e = gz_malloc(sizeof(*e));
    registry_contract_init(e);
    TAP_OK(apply(e, "{\"provider\":\"aws\",\"expiry\":\"2021-12-31\"}", msg, sizeof(msg)) ==
                   -EINVAL &&
               strstr(msg, "signed") != NULL,
           "signed is required: %s", msg);
    gz_free(e);
    gz_free(c);
}

/* ---- storage and the status document ---- */

static struct iam *open_iam(void)
{
    struct iam_config cfg = {.data_dir = tmpdir, .root_access = ROOT_AK, .root_secret = ROOT_SK};
    struct iam *iam = NULL;
    if (iam_open(&cfg, &iam) != 0) {
        printf("Bail out! iam_open\n");
        exit(1);
    }
    return iam;
}

static struct iam_tenant mk_tenant(struct iam *iam, const char *name, const char *uscc)
{
    struct iam_tenant in = {.quota = {-1, -1}}, out;
    char msg[256] = "";
    memset(&out, 0, sizeof(out));
    snprintf(in.name, sizeof(in.name), "%s", name);
    snprintf(in.uscc, sizeof(in.uscc), "%s", uscc);
    if (iam_tenant_create(iam, &in, &out, msg, sizeof(msg)) != 0)
        printf("# tenant %s: %s\n", name, msg);
    return out;
}

static void mk_contract(struct registry *reg, const char *tenant_id, const char *json,
                        char id[REGISTRY_ID_LEN + 1])
{
    struct registry_contract *c = gz_malloc(sizeof(*c));
    char msg[256];
    registry_contract_init(c);
    snprintf(c->tenant_id, sizeof(c->tenant_id), "%s", tenant_id);
    if (apply(c, json, msg, sizeof(msg)) != 0 || registry_contract_create(reg, c) != 0)
        printf("# contract: %s\n", msg);
    snprintf(id, REGISTRY_ID_LEN + 1, "%s", c->id);
    gz_free(c);
}

static const cJSON *find_tenant(const cJSON *doc, const char *name)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(doc, "tenants"))
    {
        if (strcmp(cJSON_GetObjectItemCaseSensitive(t, "tenant")->valuestring, name) == 0)
            return t;
    }
    return NULL;
}

static const char *sfield(const cJSON *o, const char *name)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(it) ? it->valuestring : cJSON_IsNull(it) ? "null" : "?";
}

static int count_contract(const struct registry_contract *c, void *ud)
{
    (*(int *)ud)++;
    return 0;
}

static void t_store_and_status(void)
{
    struct registry *reg = NULL;
    char idA[REGISTRY_ID_LEN + 1], idB[REGISTRY_ID_LEN + 1];
    struct iam *iam = open_iam();
    TAP_OK(registry_open(tmpdir, &reg) == 0, "registry opens");
    struct registry_policy p;
    TAP_OK(registry_policy_get(reg, &p) == 0 && p.version == 1 &&
               strcmp(p.name, "tianjin-2021") == 0,
           "the first policy is the preset, version 1");
    struct iam_tenant a = mk_tenant(iam, "acme", USCC_A), b = mk_tenant(iam, "bolt", USCC_B);
    mk_contract(reg, a.id,
                "{\"provider\":\"aliyun\",\"signed\":\"2019-05-01\",\"expiry\":"
                "\"2021-12-31\"}",
                idA);
    mk_contract(reg, b.id,
                "{\"provider\":\"aws\",\"signed\":\"2021-09-01\",\"expiry\":"
                "\"2022-03-31\"}",
                idB);
    int n = 0;
    registry_contract_list(reg, a.id, count_contract, &n);
    TAP_OK(n == 1, "one contract for acme (%d)", n);

    struct registry_status_opts o = {.as_of = D("2022-01-10"), .now_ms = gz_now_ms()};
    cJSON *doc = NULL;
    TAP_OK(registry_status_build(reg, iam, NULL, &o, &doc) == 0 && doc != NULL, "status builds");
    const cJSON *ta = find_tenant(doc, "acme"), *tb = find_tenant(doc, "bolt");
    TAP_OK(find_tenant(doc, "platform") == NULL, "the platform tenant is not listed");
    TAP_OK(ta && strcmp(sfield(ta, "deadline"), "2022-02-28") == 0 &&
               strcmp(sfield(ta, "status"), "not-started") == 0,
           "acme: deadline 2022-02-28, not-started (%s, %s)", sfield(ta, "deadline"),
           sfield(ta, "status"));
    char *text = cJSON_PrintUnformatted(doc);
    cJSON *parsed = cJSON_Parse(text);
    const cJSON *pa = find_tenant(parsed, "acme");
    TAP_OK(pa && cJSON_GetObjectItemCaseSensitive(pa, "days_left")->valuedouble == 49,
           "acme: 49 days left");
    cJSON_Delete(parsed);
    cJSON_free(text);
    TAP_OK(tb && strcmp(sfield(tb, "status"), "violation") == 0, "bolt signed after the notice");
    /* no job and no estimate: the work to move is unknown (null), not 0 */
    TAP_OK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(ta, "bytes_total")) &&
               cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(ta, "objects_total")) &&
               cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(ta, "projected_finish")),
           "acme: bytes_total, objects_total and projected_finish are null");
    const cJSON *tot = cJSON_GetObjectItemCaseSensitive(doc, "totals");
    TAP_OK(strcmp(cJSON_GetObjectItemCaseSensitive(tot, "unsized_tenants")->valuestring, "2") == 0,
           "totals: 2 tenants of unknown size");
    struct gz_buf rep;
    gz_buf_init(&rep, REGISTRY_MAX_REPORT);
    registry_report_csv(doc, &rep);
    gz_buf_terminate(&rep);
    const char *row = strstr(rep.ptr, "\r\nacme,");
    /* tenant,tenant_id,status,deadline,days_left,bytes_total,bytes_moved: total empty */
    int commas = 0;
    const char *c5 = row ? row + 2 : NULL;
    while (c5 && *c5 && commas < 5)
        commas += *c5++ == ',';
    TAP_OK(c5 != NULL && strncmp(c5, ",0,", 3) == 0,
           "csv: an unknown total is an empty cell (%.12s)", c5 ? c5 : "no row");
    rep.len = 0;
    registry_report_html(doc, &rep);
    gz_buf_terminate(&rep);
    TAP_OK(strstr(rep.ptr, "0 B / 未知 unknown") != NULL && strstr(rep.ptr, "未开始 Not started") &&
               strstr(rep.ptr, ">not-started<") == NULL,
           "html: unknown total and the status in the report's languages");
    gz_buf_free(&rep);
    cJSON_Delete(doc);

    o.as_of = D("2022-03-01");
    registry_status_build(reg, iam, NULL, &o, &doc);
    TAP_OK(strcmp(sfield(find_tenant(doc, "acme"), "status"), "overdue") == 0,
           "acme is overdue on 2022-03-01");
    cJSON_Delete(doc);

    /* a policy change recomputes */
    cJSON *in = cJSON_Parse("{\"grace_months\":6}");
    char msg[256] = "";
    registry_policy_apply_json(in, &p, msg, sizeof(msg));
    cJSON_Delete(in);
    TAP_OK(registry_policy_set(reg, &p) == 0 && p.version == 2, "policy version 2");
    registry_status_build(reg, iam, NULL, &o, &doc);
    ta = find_tenant(doc, "acme");
    TAP_OK(strcmp(sfield(ta, "deadline"), "2022-06-30") == 0 &&
               strcmp(sfield(ta, "status"), "not-started") == 0,
           "after the change: deadline 2022-06-30, not-started (%s)", sfield(ta, "deadline"));

    struct gz_buf csv, html;
    gz_buf_init(&csv, REGISTRY_MAX_REPORT);
    gz_buf_init(&html, REGISTRY_MAX_REPORT);
    TAP_OK(registry_report_csv(doc, &csv) == 0 && gz_buf_terminate(&csv) == 0 &&
               strncmp(csv.ptr, "tenant,tenant_id,status,deadline", 32) == 0 &&
               strstr(csv.ptr, "\r\nacme,") != NULL && strstr(csv.ptr, ",violation,") != NULL,
           "csv: header and rows");
    TAP_OK(registry_report_html(doc, &html) == 0 && gz_buf_terminate(&html) == 0 &&
               strstr(html.ptr, "<svg") != NULL && strstr(html.ptr, "<script") == NULL &&
               strstr(html.ptr, "http://") == strstr(html.ptr, "http://www.w3.org/2000/svg"),
           "html: inline svg, no script, no external resource");
    gz_buf_free(&csv);
    gz_buf_free(&html);
    cJSON_Delete(doc);

    /* closing every contract is not enough without a manifest */
    struct registry_contract *c = gz_malloc(sizeof(*c));
    TAP_OK(registry_contract_get(reg, idA, c) == 0 && strcmp(c->id, idA) == 0, "get by id");
    c->closed_day = D("2022-02-01");
    TAP_OK(registry_contract_update(reg, c) == 0, "update");
    registry_contract_get(reg, idA, c);
    TAP_OK(c->closed_day == D("2022-02-01"), "the closing date is stored");
    /* as of a day before its closing date the contract was still open */
    o.as_of = D("2022-01-31");
    registry_status_build(reg, iam, NULL, &o, &doc);
    ta = find_tenant(doc, "acme");
    TAP_OK(strcmp(cJSON_GetObjectItemCaseSensitive(ta, "open_contracts")->valuestring, "1") == 0,
           "as of the day before closing: open");
    cJSON_Delete(doc);
    o.as_of = D("2022-02-01");
    registry_status_build(reg, iam, NULL, &o, &doc);
    ta = find_tenant(doc, "acme");
    TAP_OK(strcmp(cJSON_GetObjectItemCaseSensitive(ta, "open_contracts")->valuestring, "0") == 0,
           "as of the closing date: closed");
    cJSON_Delete(doc);
    TAP_OK(registry_contract_delete(reg, idB) == 0 && registry_contract_get(reg, idB, c) == -ENOENT,
           "delete");
    TAP_OK(registry_contract_delete(reg, idB) == -ENOENT, "delete twice: -ENOENT");
    gz_free(c);
    registry_close(reg);
    /* reopen: the policy version persists */
    TAP_OK(registry_open(tmpdir, &reg) == 0 && registry_policy_get(reg, &p) == 0 &&
               p.version == 2 && p.grace_months == 6,
           "reopened: policy version 2 kept");
    registry_close(reg);
    iam_close(iam);
}

int main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/gzy-test-registry-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        printf("Bail out! mkdtemp\n");
        return 1;
    }
    gz_log_set_level(GZ_LOG_ERROR);
    TAP_RUN(t_date_roundtrip);
    TAP_RUN(t_add_months);
    TAP_RUN(t_today_zone);
    TAP_RUN(t_policy_rules);
    TAP_RUN(t_policy_json);
    TAP_RUN(t_status_precedence);
    TAP_RUN(t_past_deadline);
    TAP_RUN(t_report_timeline);
    TAP_RUN(t_projected_finish);
    TAP_RUN(t_contract_validation);
    TAP_RUN(t_store_and_status);
    nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return tap_done();
}
