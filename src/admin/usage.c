/*
 * usage.c - GET /admin/v1/usage: bytes and objects per tenant and per bucket with their
 * quotas. The store keeps usage counters in its index, so this reads counters, never scans.
 */
#include <errno.h>
#include <stdio.h>

#include "admin_int.h"

static int collect_tenant(const struct iam_tenant *t, void *ud)
{
    memcpy(admin__vec_push(ud), t, sizeof(*t));
    return 0;
}

/* One tenant's usage entry; NULL if replied (error). */
static cJSON *tenant_usage(struct admin_call *c, const struct iam_tenant *t)
{
    struct store_usage u = {0, 0};
    int rc = store_owner_usage(c->svc->store, t->id, &u);
    if (rc < 0 && rc != -ENOENT) {
        admin__reply_errno(c, rc, NULL, "tenant usage");
        return NULL;
    }
    cJSON *buckets = admin__buckets_of(c, t);
    if (buckets == NULL)
        return NULL;
    cJSON *o = cJSON_CreateObject();
    admin__json_str(o, "name", t->name);
    admin__json_int(o, "bytes", u.bytes);
    admin__json_int(o, "objects", u.objects);
    admin__json_quota(o, "quota", t->quota.max_bytes, t->quota.max_objects);
    cJSON_AddItemToObject(o, "buckets", buckets);
    return o;
}

void admin__usage_get(struct admin_call *c)
{
    const char *tenant = admin__query(c, "tenant");
    struct admin_vec v;
    admin__vec_init(&v, sizeof(struct iam_tenant));
    admin__set_resource(c, "usage");
    if (tenant == NULL && !admin__is_platform(c))
        tenant = c->who.tenant_id[0] ? c->who.tenant_id : c->who.tenant_name;
    int rc = 0;
    if (tenant != NULL) {
        if (admin__tenant_resolve(c, tenant, admin__vec_push(&v)) < 0)
            goto out;
    } else if ((rc = iam_tenant_list(c->svc->iam, collect_tenant, &v)) < 0) {
        admin__reply_errno(c, rc, NULL, "tenants");
        goto out;
    }
    cJSON *doc = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(doc, "tenants");
    for (size_t i = 0; i < v.n; i++) {
        cJSON *one = tenant_usage(c, admin__vec_at(&v, i));
        if (one == NULL) {
            cJSON_Delete(doc);
            goto out;
        }
        cJSON_AddItemToArray(arr, one);
    }
    admin__reply_json(c, 200, doc);
out:
    admin__vec_free(&v);
}
