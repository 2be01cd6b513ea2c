/*
 * buckets.c - /admin/v1/buckets: listing with usage and quotas, ownership changes (platform
 * admins) and bucket quotas (tenant-admins within their tenant's own limits).
 *
 * Listings collect the buckets first and look up usage afterwards, so no store or iam call
 * is made from inside another one's callback.
 */
#include <errno.h>
#include <stdio.h>

#include "admin_int.h"

static int collect_bucket(const struct store_bucket *b, void *ud)
{
    memcpy(admin__vec_push(ud), b, sizeof(*b));
    return 0;
}

cJSON *admin__bucket_json(struct admin_call *c, const struct store_bucket *b)
{
    struct gz_slice name = gz_slice_cstr(b->name);
    struct store_usage u = {0, 0};
    struct store_quota q = {-1, -1};
    struct iam_tenant t;
    store_bucket_usage(c->svc->store, name, &u);
    store_bucket_quota_get(c->svc->store, name, &q);
    cJSON *o = cJSON_CreateObject();
    admin__json_str(o, "name", b->name);
    admin__json_str(o, "tenant", iam_tenant_get(c->svc->iam, b->owner, &t) == 0 ? t.name : "");
    admin__json_str(o, "owner", b->owner);
    admin__json_time(o, "created", b->created_ms);
    admin__json_int(o, "bytes", u.bytes);
    admin__json_int(o, "objects", u.objects);
    admin__json_quota(o, "quota", q.max_bytes, q.max_objects);
    return o;
}

/* owner NULL = every bucket. NULL if replied. */
static cJSON *buckets_json(struct admin_call *c, const char *owner)
{
    struct admin_vec v;
    admin__vec_init(&v, sizeof(struct store_bucket));
    int rc = store_bucket_list(c->svc->store, owner, collect_bucket, &v);
    cJSON *arr = NULL;
    if (rc < 0) {
        admin__reply_errno(c, rc, NULL, "buckets");
        goto out;
    }
    arr = cJSON_CreateArray();
    for (size_t i = 0; i < v.n; i++)
        cJSON_AddItemToArray(arr, admin__bucket_json(c, admin__vec_at(&v, i)));
out:
    admin__vec_free(&v);
    return arr;
}

cJSON *admin__buckets_of(struct admin_call *c, const struct iam_tenant *t)
{
    return buckets_json(c, t->id);
}

void admin__buckets_list(struct admin_call *c)
{
    const char *tenant = admin__query(c, "tenant");
    struct iam_tenant t;
    admin__set_resource(c, "buckets");
    if (tenant == NULL && !admin__is_platform(c))
        tenant = c->who.tenant_id[0] ? c->who.tenant_id : c->who.tenant_name;
    if (tenant != NULL && admin__tenant_resolve(c, tenant, &t) < 0)
        return;
    cJSON *arr = buckets_json(c, tenant ? t.id : NULL);
    if (arr == NULL)
        return;
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddItemToObject(doc, "buckets", arr);
    admin__reply_json(c, 200, doc);
}

/* Looks the bucket up (NotFound if absent) and scopes its owning tenant. */
static int bucket_resolve(struct admin_call *c, struct store_bucket *b, struct iam_tenant *owner)
{
    const char *name = c->seg[1];
    admin__set_resource(c, "bucket/%s", name);
    int rc = store_bucket_get(c->svc->store, gz_slice_cstr(name), b);
    if (rc < 0) {
        char what[STORE_MAX_BUCKET + 16];
        snprintf(what, sizeof(what), "bucket '%.*s'", STORE_MAX_BUCKET, name);
        admin__reply_errno(c, rc == GZ_ENOBUCKET ? -ENOENT : rc, NULL, what);
        return rc;
    }
    rc = iam_tenant_get(c->svc->iam, b->owner, owner);
    if (rc == -ENOENT && admin__is_platform(c)) {
        memset(owner, 0, sizeof(*owner)); /* owned by no known tenant: platform only */
        return 0;
    }
    if (rc < 0) {
        if (rc == -ENOENT)
            admin__deny(c, "bucket '%s' does not belong to your tenant", name);
        else
            admin__reply_errno(c, rc, NULL, "bucket owner");
        return rc;
    }
    return admin__scope_tenant(c, owner);
}

static void reply_bucket(struct admin_call *c, const char *name)
{
    struct store_bucket b;
    int rc = store_bucket_get(c->svc->store, gz_slice_cstr(name), &b);
    if (rc < 0)
        admin__reply_errno(c, rc, NULL, "bucket");
    else
        admin__reply_json(c, 200, admin__bucket_json(c, &b));
}

void admin__buckets_owner(struct admin_call *c)
{
    struct store_bucket b;
    struct iam_tenant old, t;
    const char *tenant;
    if (bucket_resolve(c, &b, &old) < 0 || admin__body_str(c, "tenant", true, 64, &tenant) < 0)
        return;
    int rc = iam_tenant_get(c->svc->iam, tenant, &t);
    if (rc < 0) {
        char what[IAM_MAX_NAME + 16];
        snprintf(what, sizeof(what), "tenant '%.*s'", IAM_MAX_NAME, tenant);
        admin__reply_errno(c, rc, NULL, what);
        return;
    }
    snprintf(c->tenant, sizeof(c->tenant), "%s", t.name);
    rc = store_bucket_owner_set(c->svc->store, gz_slice_cstr(b.name), t.id);
    if (rc < 0) {
        admin__reply_errno(c, rc == GZ_ENOBUCKET ? -ENOENT : rc, NULL, "bucket");
        return;
    }
    reply_bucket(c, b.name);
}

/* Tenant-admins set bucket quotas within the limits the platform set for their tenant. */
static int quota_within_tenant(struct admin_call *c, const struct iam_tenant *t,
                               const struct store_quota *q)
{
    if (admin__is_platform(c))
        return 0;
    if (t->quota.max_bytes >= 0 && (q->max_bytes < 0 || q->max_bytes > t->quota.max_bytes)) {
        admin__reply_error(c, 400, "InvalidArgument",
                           "field 'max_bytes' must be at most the tenant's quota of %lld bytes",
                           (long long)t->quota.max_bytes);
        return -EINVAL;
    }
    if (t->quota.max_objects >= 0 &&
        (q->max_objects < 0 || q->max_objects > t->quota.max_objects)) {
        admin__reply_error(c, 400, "InvalidArgument",
                           "field 'max_objects' must be at most the tenant's quota of %lld "
                           "objects", (long long)t->quota.max_objects);
        return -EINVAL;
    }
    return 0;
}

void admin__buckets_quota(struct admin_call *c)
{
    struct store_bucket b;
    struct iam_tenant t;
    struct store_quota sq = {-1, -1};
    if (bucket_resolve(c, &b, &t) < 0)
        return;
    struct gz_slice name = gz_slice_cstr(b.name);
    int rc = store_bucket_quota_get(c->svc->store, name, &sq);
    if (rc < 0 && rc != -ENOENT) {
        admin__reply_errno(c, rc, NULL, "bucket quota");
        return;
    }
    struct iam_quota q = {sq.max_bytes, sq.max_objects};
    rc = admin__body_quota(c, c->in, "", &q);
    if (rc < 0)
        return;
    if (rc > 0) {
        admin__reply_error(c, 400, "InvalidArgument",
                           "give field 'max_bytes' and/or 'max_objects' (-1 = unlimited)");
        return;
    }
    sq.max_bytes = q.max_bytes;
    sq.max_objects = q.max_objects;
    if (quota_within_tenant(c, &t, &sq) < 0)
        return;
    rc = store_bucket_quota_set(c->svc->store, name, &sq);
    if (rc < 0) {
        admin__reply_errno(c, rc == GZ_ENOBUCKET ? -ENOENT : rc, NULL, "bucket");
        return;
    }
    reply_bucket(c, b.name);
}
