/*
 * status.c - each tenant's migration status: the pure decision (registry_status_compute) and
 * the status document built from the registry, the tenants (iam) and the migration jobs'
 * progress. Computed on every read, so a policy or contract change shows at once.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>

#include "../migrate/jobs.h"
#include "registry.h"

const char *registry_status_name(enum registry_status s)
{
    switch (s) {
    case REGISTRY_NOT_STARTED:
        return "not-started";
    case REGISTRY_MIGRATING:
        return "migrating";
    case REGISTRY_AT_RISK:
        return "at-risk";
    case REGISTRY_VERIFIED:
        return "verified";
    case REGISTRY_OVERDUE:
        return "overdue";
    case REGISTRY_CUT_OVER:
        return "cut-over";
    case REGISTRY_VIOLATION:
        return "violation";
    }
    return "unknown";
}

bool registry_status_outstanding(const struct registry_status_in *in)
{
    return in->jobs == 0 || in->size_unknown || in->failed_jobs > 0 ||
           in->bytes_moved < in->bytes_total || in->objects_moved < in->objects_total;
}

bool registry_status_past_deadline(const struct registry_status_in *in)
{
    return in->deadline != REGISTRY_NO_DATE && in->today > in->deadline &&
           registry_status_outstanding(in);
}

/* Cut over: the source contracts ended and the migration is proven complete by a manifest of
 * each job's latest complete pass, a pass with nothing failed, waiting or left. */
static bool status_cut_over(const struct registry_status_in *in)
{
    return in->contracts > 0 && in->open_contracts == 0 && in->jobs > 0 && in->all_verified &&
           in->failed_jobs == 0 && in->objects_failed == 0 && in->clean_manifests > 0 &&
           in->missing_manifests == 0;
}

enum registry_status registry_status_compute(const struct registry_status_in *in)
{
    bool has_deadline = in->deadline != REGISTRY_NO_DATE;
    if (in->violations > 0)
        return REGISTRY_VIOLATION;
    if (status_cut_over(in))
        return REGISTRY_CUT_OVER;
    if (has_deadline && in->today > in->deadline)
        return REGISTRY_OVERDUE;
    if (in->jobs > 0 && in->all_verified)
        return REGISTRY_VERIFIED;
    if (has_deadline) {
        bool outstanding = registry_status_outstanding(in);
        if (outstanding && in->projected_finish != REGISTRY_NO_DATE &&
            in->projected_finish > in->deadline)
            return REGISTRY_AT_RISK;
        /* "less than N days left" */
        if (outstanding && (int64_t)in->deadline - in->today < in->at_risk_days)
            return REGISTRY_AT_RISK;
    }
    if (in->jobs > 0)
        return REGISTRY_MIGRATING;
    return REGISTRY_NOT_STARTED;
}

int32_t registry_projected_finish(int32_t today, int sec_of_day, int64_t remaining, double rate)
{
    if (remaining <= 0)
        return today;
    if (!(rate > 0))
        return REGISTRY_NO_DATE;
    double days = ((double)sec_of_day + (double)remaining / rate) / 86400.0;
    if (days > 365.0 * 1000)
        days = 365.0 * 1000; /* "never", but a date */
    return today + (int32_t)floor(days);
}

/* ---- the document ---- */

/* What the status needs of one contract (the full rows are large). */
struct contract_brief {
    char id[REGISTRY_ID_LEN + 1];
    char tenant_id[IAM_ID_LEN + 1];
    char provider[24];
    int32_t signed_day, renewed_day, expiry_day, closed_day;
};

struct vec {
    char *items;
    size_t n, cap, size;
};

static void *vec_push(struct vec *v)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 16;
        v->items = gz_realloc(v->items, v->cap * v->size);
    }
    void *p = v->items + v->n++ * v->size;
    memset(p, 0, v->size);
    return p;
}

static void *vec_at(const struct vec *v, size_t i)
{
    return v->items + i * v->size;
}

struct tenant_filter {
    struct vec *v;
    const char *only;
};

static int collect_tenant(const struct iam_tenant *t, void *ud)
{
    struct tenant_filter *f = ud;
    if (strcmp(t->name, IAM_PLATFORM_TENANT) == 0)
        return 0;
    if (f->only != NULL && strcmp(f->only, t->id) != 0 && strcmp(f->only, t->name) != 0)
        return 0;
    memcpy(vec_push(f->v), t, sizeof(*t));
    return 0;
}

static int collect_contract(const struct registry_contract *c, void *ud)
{
    struct contract_brief *b = vec_push(ud);
    memcpy(b->id, c->id, sizeof(b->id));
    memcpy(b->tenant_id, c->tenant_id, sizeof(b->tenant_id));
    memcpy(b->provider, c->provider, sizeof(b->provider));
    b->signed_day = c->signed_day;
    b->renewed_day = c->renewed_day;
    b->expiry_day = c->expiry_day;
    b->closed_day = c->closed_day;
    return 0;
}

static void json_int(cJSON *o, const char *name, int64_t v)
{
    char num[24];
    snprintf(num, sizeof(num), "%lld", (long long)v);
    cJSON_AddRawToObject(o, name, num);
}

static void json_date(cJSON *o, const char *name, int32_t day)
{
    char d[11];
    if (day == REGISTRY_NO_DATE) {
        cJSON_AddNullToObject(o, name);
        return;
    }
    registry_date_format(day, d);
    cJSON_AddStringToObject(o, name, d);
}

struct status_ctx {
    const struct registry_policy *pol;
    struct mig_jobs *jobs;
    int32_t today;
    int sec_of_day;
    const struct vec *contracts;
    int64_t counts[REGISTRY_VIOLATION + 1];
    int64_t bytes_total, bytes_moved, objects_total, objects_moved, ncontracts;
    int64_t bytes_verified, objects_verified;
    int64_t past_deadline; /* tenants past their deadline with work outstanding */
    int64_t unsized;       /* tenants whose size (work to move) is unknown */
};

/* The tenant's contracts into in (counts, deadline) and a violations array. */
static cJSON *tenant_contracts(struct status_ctx *x, const struct iam_tenant *t,
                               struct registry_status_in *in)
{
    cJSON *viol = cJSON_CreateArray();
    int32_t open_dl = REGISTRY_NO_DATE, any_dl = REGISTRY_NO_DATE;
    char why[160], d[11], n[11];
    for (size_t i = 0; i < x->contracts->n; i++) {
        const struct contract_brief *b = vec_at(x->contracts, i);
        if (strcmp(b->tenant_id, t->id) != 0)
            continue;
        int32_t dl = registry_deadline(x->pol, b->expiry_day);
        in->contracts++;
        if (any_dl == REGISTRY_NO_DATE || dl < any_dl)
            any_dl = dl;
        /* as of a day before its closing date, a contract was still open */
        if (b->closed_day == REGISTRY_NO_DATE || b->closed_day > x->today) {
            in->open_contracts++;
            if (open_dl == REGISTRY_NO_DATE || dl < open_dl)
                open_dl = dl;
        }
        if (!registry_violates(x->pol, b->signed_day, b->renewed_day))
            continue;
        in->violations++;
        bool by_sign = b->signed_day > x->pol->notice;
        registry_date_format(by_sign ? b->signed_day : b->renewed_day, d);
        registry_date_format(x->pol->notice, n);
        snprintf(why, sizeof(why), "%s %s, after the notice date %s",
                 by_sign ? "signed" : "renewed", d, n);
        cJSON *v = cJSON_CreateObject();
        cJSON_AddStringToObject(v, "contract_id", b->id);
        cJSON_AddStringToObject(v, "provider", b->provider);
        cJSON_AddStringToObject(v, "reason", why);
        cJSON_AddItemToArray(viol, v);
    }
    /* all closed: the earliest deadline still says when the move was due */
    in->deadline = open_dl != REGISTRY_NO_DATE ? open_dl : any_dl;
    return viol;
}

static void json_size(cJSON *o, const char *name, bool known, int64_t v)
{
    if (known)
        json_int(o, name, v);
    else
        cJSON_AddNullToObject(o, name);
}

/* The tenant's migration numbers (p) and what its status depends on (in). */
static void tenant_progress(struct status_ctx *x, const struct iam_tenant *t,
                            struct mig_tenant_progress *p, struct registry_status_in *in)
{
    memset(p, 0, sizeof(*p));
    if (x->jobs != NULL && mig_jobs_tenant_progress(x->jobs, t->id, p) < 0)
        memset(p, 0, sizeof(*p));
    in->jobs = p->jobs;
    in->failed_jobs = p->failed_jobs;
    in->all_verified = p->all_verified;
    in->manifests = p->manifests;
    in->clean_manifests = p->clean_manifests;
    in->missing_manifests = p->missing_manifests;
    in->objects_failed = p->objects_failed;
    /* no job: nothing says how much there is to move */
    in->size_unknown = p->jobs == 0 || p->unsized_jobs > 0;
    in->bytes_total = p->bytes_total;
    in->bytes_moved = p->bytes_moved;
    in->objects_total = p->objects_total;
    in->objects_moved = p->objects_moved;
    int64_t proj = p->proj_rate_bps > 0 ? (int64_t)llround(p->proj_rate_bps) : 0;
    in->projected_finish =
        in->size_unknown ? REGISTRY_NO_DATE
                         : registry_projected_finish(x->today, x->sec_of_day,
                                                     p->bytes_total - p->bytes_moved, (double)proj);
}

static cJSON *tenant_status(struct status_ctx *x, const struct iam_tenant *t)
{
    struct registry_status_in in = {.today = x->today, .at_risk_days = x->pol->at_risk_days};
    struct mig_tenant_progress p;
    cJSON *viol = tenant_contracts(x, t, &in);
    tenant_progress(x, t, &p, &in);
    bool sized = !in.size_unknown;
    int64_t rate = p.rate_bps > 0 ? (int64_t)llround(p.rate_bps) : 0;
    enum registry_status s = registry_status_compute(&in);
    x->counts[s]++;
    if (sized) {
        x->bytes_total += p.bytes_total;
        x->objects_total += p.objects_total;
    } else {
        x->unsized++;
    }
    x->bytes_moved += p.bytes_moved;
    x->objects_moved += p.objects_moved;
    x->bytes_verified += p.bytes_verified;
    x->objects_verified += p.objects_verified;
    x->past_deadline += registry_status_past_deadline(&in);
    x->ncontracts += in.contracts;

    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "tenant_id", t->id);
    cJSON_AddStringToObject(o, "tenant", t->name);
    cJSON_AddStringToObject(o, "status", registry_status_name(s));
    json_date(o, "deadline", in.deadline);
    if (in.deadline == REGISTRY_NO_DATE)
        cJSON_AddNullToObject(o, "days_left");
    else
        json_int(o, "days_left", (int64_t)in.deadline - x->today);
    json_size(o, "bytes_total", sized, p.bytes_total);
    json_int(o, "bytes_moved", p.bytes_moved);
    json_size(o, "objects_total", sized, p.objects_total);
    json_int(o, "objects_moved", p.objects_moved);
    json_int(o, "bytes_verified", p.bytes_verified);
    json_int(o, "objects_verified", p.objects_verified);
    json_int(o, "objects_failed", p.objects_failed);
    json_int(o, "rate_bps", rate);
    json_date(o, "projected_finish", in.projected_finish);
    json_int(o, "contracts", in.contracts);
    json_int(o, "open_contracts", in.open_contracts);
    json_int(o, "jobs", p.jobs);
    json_int(o, "running_jobs", p.running);
    json_int(o, "failed_jobs", p.failed_jobs);
    json_int(o, "estimated_jobs", p.estimated_jobs);
    json_int(o, "unsized_jobs", p.unsized_jobs);
    cJSON_AddBoolToObject(o, "all_verified", p.all_verified);
    cJSON_AddBoolToObject(o, "past_deadline", registry_status_past_deadline(&in));
    json_int(o, "manifests", p.manifests);
    json_int(o, "clean_manifests", p.clean_manifests);
    json_int(o, "missing_manifests", p.missing_manifests);
    cJSON_AddItemToObject(o, "violations", viol);
    return o;
}

static cJSON *totals_json(const struct status_ctx *x, size_t ntenants)
{
    cJSON *o = cJSON_CreateObject();
    json_int(o, "tenants", (int64_t)ntenants);
    json_int(o, "contracts", x->ncontracts);
    json_int(o, "bytes_total", x->bytes_total);
    json_int(o, "bytes_moved", x->bytes_moved);
    json_int(o, "objects_total", x->objects_total);
    json_int(o, "objects_moved", x->objects_moved);
    json_int(o, "bytes_verified", x->bytes_verified);
    json_int(o, "objects_verified", x->objects_verified);
    json_int(o, "unsized_tenants", x->unsized);
    json_int(o, "not_started", x->counts[REGISTRY_NOT_STARTED]);
    json_int(o, "migrating", x->counts[REGISTRY_MIGRATING]);
    json_int(o, "at_risk", x->counts[REGISTRY_AT_RISK]);
    json_int(o, "verified", x->counts[REGISTRY_VERIFIED]);
    json_int(o, "cut_over", x->counts[REGISTRY_CUT_OVER]);
    json_int(o, "overdue", x->counts[REGISTRY_OVERDUE]);
    json_int(o, "violations", x->counts[REGISTRY_VIOLATION]);
    json_int(o, "past_deadline", x->past_deadline);
    return o;
}

int registry_status_build(struct registry *reg, struct iam *iam, struct mig_jobs *jobs,
                          const struct registry_status_opts *opts, cJSON **out)
{
    struct registry_policy pol;
    struct vec tenants = {.size = sizeof(struct iam_tenant)};
    struct vec contracts = {.size = sizeof(struct contract_brief)};
    struct tenant_filter f = {&tenants, opts->tenant_id};
    *out = NULL;
    int rc = registry_policy_get(reg, &pol);
    if (rc < 0 || (rc = iam_tenant_list(iam, collect_tenant, &f)) < 0 ||
        (rc = registry_contract_list(reg, opts->tenant_id, collect_contract, &contracts)) < 0)
        goto out;
    struct status_ctx x = {.pol = &pol, .jobs = jobs, .contracts = &contracts};
    int64_t local_ms = opts->now_ms + (int64_t)pol.tz_offset_min * 60000;
    int32_t real_today = registry_date_today(opts->now_ms, pol.tz_offset_min);
    x.today = opts->as_of == REGISTRY_NO_DATE ? real_today : opts->as_of;
    x.sec_of_day =
        x.today == real_today ? (int)((local_ms - (int64_t)real_today * 86400000) / 1000) : 0;
    cJSON *doc = cJSON_CreateObject();
    json_date(doc, "as_of", x.today);
    cJSON_AddItemToObject(doc, "policy", registry_policy_json(&pol));
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < tenants.n; i++)
        cJSON_AddItemToArray(arr, tenant_status(&x, vec_at(&tenants, i)));
    cJSON_AddItemToObject(doc, "totals", totals_json(&x, tenants.n));
    cJSON_AddItemToObject(doc, "tenants", arr);
    *out = doc;
out:
    gz_free(tenants.items);
    gz_free(contracts.items);
    return rc;
}
