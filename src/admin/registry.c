/*
 * registry.c - supervision routes (docs/supervision.md): contracts, the deadline policy, the
 * per-tenant status and the reports. Platform admins write contracts and the policy;
 * supervisors and platform admins read everything; tenant admins read their own tenant's
 * contracts, status and report (narrowed to it when no tenant is named) and the policy.
 */
#include <errno.h>
#include <stdio.h>

#include "../migrate/jobs.h"
#include "../registry/registry.h"
#include "admin_int.h"

static bool registry_ready(struct admin_call *c)
{
    if (c->svc->registry != NULL)
        return true;
    admin__reply_error(c, 503, "ServiceUnavailable",
                       "the supervision registry is not enabled on this server");
    return false;
}

/* The tenant a read concerns: ?tenant= (resolved and scoped), else the tenant-admin's own
 * tenant, else none (*t zeroed, platform roles: all). 0 or < 0 (replied). */
static int read_scope(struct admin_call *c, struct iam_tenant *t)
{
    const char *name = admin__query(c, "tenant");
    memset(t, 0, sizeof(*t));
    if (name != NULL && *name != '\0')
        return admin__tenant_resolve(c, name, t);
    if (admin__is_platform(c))
        return 0;
    const char *own = c->who.tenant_id[0] ? c->who.tenant_id : c->who.tenant_name;
    return admin__tenant_resolve(c, own, t);
}

static int policy_or_reply(struct admin_call *c, struct registry_policy *p)
{
    int rc = registry_policy_get(c->svc->registry, p);
    if (rc < 0)
        admin__reply_errno(c, rc, NULL, "the policy");
    return rc;
}

/* ---- contracts ---- */

struct list_ctx {
    struct admin_call *c;
    const struct registry_policy *pol;
    cJSON *arr;
};

static int list_one(const struct registry_contract *k, void *ud)
{
    struct list_ctx *x = ud;
    struct iam_tenant t;
    const char *name = iam_tenant_get(x->c->svc->iam, k->tenant_id, &t) == 0 ? t.name : NULL;
    cJSON_AddItemToArray(x->arr, registry_contract_json(k, x->pol, name));
    return 0;
}

void admin__contracts_list(struct admin_call *c)
{
    struct iam_tenant t;
    struct registry_policy pol;
    admin__set_resource(c, "contracts");
    if (!registry_ready(c) || read_scope(c, &t) < 0 || policy_or_reply(c, &pol) < 0)
        return;
    cJSON *doc = cJSON_CreateObject();
    struct list_ctx x = {c, &pol, cJSON_AddArrayToObject(doc, "contracts")};
    int rc = registry_contract_list(c->svc->registry, t.id[0] ? t.id : NULL, list_one, &x);
    if (rc < 0) {
        cJSON_Delete(doc);
        admin__reply_errno(c, rc, NULL, "contracts");
        return;
    }
    admin__reply_json(c, 200, doc);
}

/* Loads contract seg[1] and checks the caller may see it; the caller frees *out. */
static int contract_load(struct admin_call *c, struct registry_contract **out, struct iam_tenant *t)
{
    *out = NULL;
    admin__set_resource(c, "contract/%s", c->seg[1]);
    if (!registry_ready(c))
        return -EAGAIN;
    struct registry_contract *k = gz_malloc(sizeof(*k));
    int rc = registry_contract_get(c->svc->registry, c->seg[1], k);
    if (rc < 0) {
        char what[80];
        snprintf(what, sizeof(what), "contract '%.32s'", c->seg[1]);
        admin__reply_errno(c, rc, NULL, what);
        gz_free(k);
        return rc;
    }
    memset(t, 0, sizeof(*t));
    if (iam_tenant_get(c->svc->iam, k->tenant_id, t) < 0)
        snprintf(t->id, sizeof(t->id), "%s", k->tenant_id); /* tenant gone: platform only */
    rc = admin__scope_tenant(c, t);
    if (rc < 0) {
        gz_free(k);
        return rc;
    }
    *out = k;
    return 0;
}

static void reply_contract(struct admin_call *c, int status, const struct registry_contract *k,
                           const struct iam_tenant *t)
{
    struct registry_policy pol;
    if (policy_or_reply(c, &pol) < 0)
        return;
    admin__reply_json(c, status, registry_contract_json(k, &pol, t->name[0] ? t->name : NULL));
}

/* Linked migration jobs must exist and belong to the contract's tenant (when the server runs
 * migration jobs at all). 0, or -EINVAL (replied). */
static int check_jobs(struct admin_call *c, const struct registry_contract *k)
{
    cJSON *ids = cJSON_Parse(k->jobs), *id;
    int rc = 0;
    cJSON_ArrayForEach(id, ids)
    {
        cJSON *job = NULL;
        if (c->svc->jobs == NULL || !cJSON_IsString(id))
            break;
        if (mig_jobs_get_json(c->svc->jobs, id->valuestring, &job) < 0) {
            admin__reply_error(c, 400, "InvalidArgument", "field 'jobs': no migration job '%.32s'",
                               id->valuestring);
            rc = -EINVAL;
        } else {
            const cJSON *tn = cJSON_GetObjectItemCaseSensitive(job, "tenant");
            if (!cJSON_IsString(tn) || strcmp(tn->valuestring, k->tenant_id) != 0) {
                admin__reply_error(c, 400, "InvalidArgument",
                                   "field 'jobs': migration job '%.32s' belongs to another tenant",
                                   id->valuestring);
                rc = -EINVAL;
            }
        }
        cJSON_Delete(job);
        if (rc < 0)
            break;
    }
    cJSON_Delete(ids);
    return rc;
}

void admin__contracts_show(struct admin_call *c)
{
    struct registry_contract *k;
    struct iam_tenant t;
    if (contract_load(c, &k, &t) < 0)
        return;
    reply_contract(c, 200, k, &t);
    gz_free(k);
}

/* A closing date after today (in the policy's zone) is refused: a contract that has not ended
 * would count as closed (cut-over) before it did. Replies and returns -1 if so. */
static int check_closed_day(struct admin_call *c, int32_t day, const char *field)
{
    struct registry_policy pol;
    if (day == REGISTRY_NO_DATE)
        return 0;
    if (policy_or_reply(c, &pol) < 0)
        return -1;
    int32_t today = registry_date_today(gz_now_ms(), pol.tz_offset_min);
    if (day <= today)
        return 0;
    char d[11];
    registry_date_format(today, d);
    admin__reply_error(c, 400, "InvalidArgument",
                       "field '%s': a contract cannot close after today (%s, %s)", field, d,
                       pol.time_zone);
    return -1;
}

/* The "closed" field of a create or update body, if given. */
static int check_closed_field(struct admin_call *c, const struct registry_contract *k)
{
    if (c->in == NULL || cJSON_GetObjectItemCaseSensitive(c->in, "closed") == NULL)
        return 0;
    return check_closed_day(c, k->closed_day, "closed");
}

void admin__contracts_create(struct admin_call *c)
{
    const char *tenant;
    struct iam_tenant t;
    char msg[256] = "";
    admin__set_resource(c, "contracts");
    if (!registry_ready(c) || admin__body_str(c, "tenant", true, IAM_MAX_NAME, &tenant) < 0 ||
        admin__tenant_resolve(c, tenant, &t) < 0)
        return;
    if (strcmp(t.name, IAM_PLATFORM_TENANT) == 0) {
        admin__reply_error(c, 400, "InvalidArgument",
                           "field 'tenant': the built-in tenant '%s' has no contracts",
                           IAM_PLATFORM_TENANT);
        return;
    }
    struct registry_contract *k = gz_malloc(sizeof(*k));
    registry_contract_init(k);
    snprintf(k->tenant_id, sizeof(k->tenant_id), "%s", t.id);
    int rc = registry_contract_apply_json(c->in, k, msg, sizeof(msg));
    if (rc == 0 && (check_jobs(c, k) < 0 || check_closed_field(c, k) < 0))
        goto out;
    if (rc == 0)
        rc = registry_contract_create(c->svc->registry, k);
    if (rc < 0) {
        admin__reply_errno(c, rc, msg, "contract");
        goto out;
    }
    admin__set_resource(c, "contract/%s", k->id);
    reply_contract(c, 201, k, &t);
out:
    gz_free(k);
}

/* Saves k after a change and replies with it. */
static void contract_save(struct admin_call *c, struct registry_contract *k,
                          const struct iam_tenant *t)
{
    int rc = registry_contract_update(c->svc->registry, k);
    if (rc < 0) {
        admin__reply_errno(c, rc, NULL, "contract");
        return;
    }
    reply_contract(c, 200, k, t);
}

void admin__contracts_update(struct admin_call *c)
{
    struct registry_contract *k;
    struct iam_tenant t;
    char msg[256] = "";
    if (contract_load(c, &k, &t) < 0)
        return;
    const cJSON *tn = c->in ? cJSON_GetObjectItemCaseSensitive(c->in, "tenant") : NULL;
    if (cJSON_IsString(tn) && strcmp(tn->valuestring, t.name) != 0 &&
        strcmp(tn->valuestring, t.id) != 0) {
        admin__reply_error(c, 400, "InvalidArgument",
                           "field 'tenant': a contract cannot move to another tenant; delete "
                           "it and create it under the other tenant");
        goto out;
    }
    if (c->in == NULL) {
        admin__reply_error(c, 400, "InvalidArgument", "give the fields to change as JSON");
        goto out;
    }
    if (registry_contract_apply_json(c->in, k, msg, sizeof(msg)) < 0) {
        admin__reply_error(c, 400, "InvalidArgument", "%s", msg);
        goto out;
    }
    if (check_jobs(c, k) < 0 || check_closed_field(c, k) < 0)
        goto out;
    contract_save(c, k, &t);
out:
    gz_free(k);
}

void admin__contracts_close(struct admin_call *c)
{
    struct registry_contract *k;
    struct iam_tenant t;
    struct registry_policy pol;
    const char *date;
    if (contract_load(c, &k, &t) < 0)
        return;
    if (admin__body_str(c, "date", false, 10, &date) < 0 || policy_or_reply(c, &pol) < 0)
        goto out;
    int32_t day = registry_date_today(gz_now_ms(), pol.tz_offset_min);
    if (date != NULL && registry_date_parse(date, &day) < 0) {
        admin__reply_error(c, 400, "InvalidArgument", "field 'date' must be a date YYYY-MM-DD");
        goto out;
    }
    if (day < k->signed_day) {
        admin__reply_error(c, 400, "InvalidArgument",
                           "field 'date': the contract cannot close before it was signed");
        goto out;
    }
    if (check_closed_day(c, day, "date") < 0)
        goto out;
    k->closed_day = day;
    contract_save(c, k, &t);
out:
    gz_free(k);
}

void admin__contracts_delete(struct admin_call *c)
{
    struct registry_contract *k;
    struct iam_tenant t;
    if (contract_load(c, &k, &t) < 0)
        return;
    int rc = registry_contract_delete(c->svc->registry, k->id);
    if (rc < 0)
        admin__reply_errno(c, rc, NULL, "contract");
    else
        admin__reply_json(c, 204, NULL);
    gz_free(k);
}

/* ---- policy ---- */

void admin__policy_get(struct admin_call *c)
{
    struct registry_policy p;
    admin__set_resource(c, "policy");
    if (!registry_ready(c) || policy_or_reply(c, &p) < 0)
        return;
    admin__reply_json(c, 200, registry_policy_json(&p));
}

void admin__policy_put(struct admin_call *c)
{
    struct registry_policy p;
    char msg[256] = "";
    admin__set_resource(c, "policy");
    if (!registry_ready(c) || policy_or_reply(c, &p) < 0)
        return;
    if (c->in == NULL) {
        admin__reply_error(c, 400, "InvalidArgument",
                           "give {\"preset\": \"%s\"} or the fields to change",
                           REGISTRY_PRESET_TIANJIN);
        return;
    }
    if (registry_policy_apply_json(c->in, &p, msg, sizeof(msg)) < 0) {
        admin__reply_error(c, 400, "InvalidArgument", "%s", msg);
        return;
    }
    snprintf(p.updated_by, sizeof(p.updated_by), "%s", c->who.access_key);
    int rc = registry_policy_set(c->svc->registry, &p);
    if (rc < 0) {
        admin__reply_errno(c, rc, NULL, "the policy");
        return;
    }
    admin__set_resource(c, "policy/v%lld", (long long)p.version);
    admin__reply_json(c, 200, registry_policy_json(&p));
}

/* ---- status and reports ---- */

/* The status document for the caller's scope; NULL if replied. */
static cJSON *status_doc(struct admin_call *c)
{
    struct iam_tenant t;
    struct registry_status_opts o = {.as_of = REGISTRY_NO_DATE, .now_ms = gz_now_ms()};
    cJSON *doc = NULL;
    if (!registry_ready(c) || read_scope(c, &t) < 0)
        return NULL;
    const char *as_of = admin__query(c, "as_of");
    if (as_of != NULL && registry_date_parse(as_of, &o.as_of) < 0) {
        admin__reply_error(c, 400, "InvalidArgument",
                           "query parameter 'as_of' must be a date YYYY-MM-DD");
        return NULL;
    }
    o.tenant_id = t.id[0] ? t.id : NULL;
    int rc = registry_status_build(c->svc->registry, c->svc->iam, c->svc->jobs, &o, &doc);
    if (rc < 0)
        admin__reply_errno(c, rc, NULL, "status");
    return doc;
}

void admin__status_get(struct admin_call *c)
{
    admin__set_resource(c, "status");
    cJSON *doc = status_doc(c);
    if (doc != NULL)
        admin__reply_json(c, 200, doc);
}

void admin__report_get(struct admin_call *c)
{
    const char *fmt = admin__query(c, "format");
    admin__set_resource(c, "report");
    if (fmt == NULL || *fmt == '\0')
        fmt = "json";
    bool csv = strcmp(fmt, "csv") == 0, html = strcmp(fmt, "html") == 0;
    if (!csv && !html && strcmp(fmt, "json") != 0) {
        admin__reply_error(c, 400, "InvalidArgument",
                           "query parameter 'format' must be json, csv or html");
        return;
    }
    cJSON *doc = status_doc(c);
    if (doc == NULL)
        return;
    if (!csv && !html) {
        admin__reply_json(c, 200, doc);
        return;
    }
    struct gz_buf text;
    gz_buf_init(&text, REGISTRY_MAX_REPORT);
    int rc = csv ? registry_report_csv(doc, &text) : registry_report_html(doc, &text);
    cJSON_Delete(doc);
    if (rc < 0) {
        admin__reply_error(c, 500, "InternalError", "the report is too large");
    } else {
        admin__reply_json(c, 200, NULL); /* the status; the body follows */
        c->content_type = csv ? "text/csv; charset=utf-8" : "text/html; charset=utf-8";
        if (gz_buf_append(&c->out, text.ptr, text.len) < 0) {
            c->done = false;
            c->content_type = NULL;
            admin__reply_error(c, 500, "InternalError", "the report is too large");
        }
    }
    gz_buf_free(&text);
}
