/*
 * tenants.c - /admin/v1/tenants: list, create (with the USCC checked first so a wrong code
 * gets its own error), show (with usage and buckets), suspend, resume and quota.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>

#include "admin_int.h"

static int collect_tenant(const struct iam_tenant *t, void *ud)
{
    memcpy(admin__vec_push(ud), t, sizeof(*t));
    return 0;
}

void admin__tenants_list(struct admin_call *c)
{
    struct admin_vec v;
    admin__vec_init(&v, sizeof(struct iam_tenant));
    admin__set_resource(c, "tenants");
    int rc = iam_tenant_list(c->svc->iam, collect_tenant, &v);
    if (rc < 0) {
        admin__reply_errno(c, rc, NULL, "tenants");
        goto out;
    }
    cJSON *doc = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(doc, "tenants");
    for (size_t i = 0; i < v.n; i++) {
        const struct iam_tenant *t = admin__vec_at(&v, i);
        /* tenant-admins see their own tenant only */
        if (!admin__is_platform(c) && strcmp(t->id, c->who.tenant_id) != 0 &&
            strcmp(t->name, c->who.tenant_name) != 0)
            continue;
        cJSON_AddItemToArray(arr, admin__tenant_json(t));
    }
    admin__reply_json(c, 200, doc);
out:
    admin__vec_free(&v);
}

/* Reads the creation fields; 0 or -EINVAL (replied). */
static int create_fields(struct admin_call *c, struct iam_tenant *in)
{
    const char *name, *uscc, *contact;
    int rc;
    if ((rc = admin__body_str(c, "name", true, IAM_MAX_NAME, &name)) < 0)
        return rc;
    snprintf(in->name, sizeof(in->name), "%s", name);
    snprintf(c->tenant, sizeof(c->tenant), "%s", name);
    admin__set_resource(c, "tenant/%s", name);
    if ((rc = admin__body_str(c, "uscc", true, 64, &uscc)) < 0)
        return rc;
    if ((rc = admin__body_str(c, "contact", false, sizeof(in->contact) - 1, &contact)) < 0)
        return rc;
    if (contact != NULL)
        snprintf(in->contact, sizeof(in->contact), "%s", contact);
    /* Codes are printed in upper case; accept them typed in lower case. */
    char code[65], msg[256] = "";
    size_t n = 0;
    for (; uscc[n] && n < sizeof(code) - 1; n++)
        code[n] = (char)toupper((unsigned char)uscc[n]);
    code[n] = '\0';
    if (iam_uscc_validate(code, msg, sizeof(msg)) < 0) {
        admin__reply_error(c, 400, "InvalidUSCC", "field 'uscc': %s",
                           msg[0] ? msg : "not a valid unified social credit code");
        return -EINVAL;
    }
    snprintf(in->uscc, sizeof(in->uscc), "%.*s", IAM_USCC_LEN, code);
    in->quota.max_bytes = -1;
    in->quota.max_objects = -1;
    cJSON *q = cJSON_GetObjectItemCaseSensitive(c->in, "quota");
    if (q != NULL && !cJSON_IsNull(q) && (rc = admin__body_quota(c, q, "quota.", &in->quota)) < 0)
        return rc;
    return 0;
}

void admin__tenants_create(struct admin_call *c)
{
    struct iam_tenant in, out;
    char msg[256] = "";
    memset(&in, 0, sizeof(in));
    if (create_fields(c, &in) < 0)
        return;
    int rc = iam_tenant_create(c->svc->iam, &in, &out, msg, sizeof(msg));
    if (rc < 0) {
        char what[IAM_MAX_NAME + 16];
        snprintf(what, sizeof(what), "tenant '%s'", in.name);
        admin__reply_errno(c, rc, msg, what);
        return;
    }
    admin__reply_json(c, 201, admin__tenant_json(&out));
}

void admin__tenants_show(struct admin_call *c)
{
    struct iam_tenant t;
    struct store_usage u = {0, 0};
    admin__set_resource(c, "tenant/%s", c->seg[1]);
    if (admin__tenant_resolve(c, c->seg[1], &t) < 0)
        return;
    int rc = store_owner_usage(c->svc->store, t.id, &u);
    if (rc < 0 && rc != -ENOENT) {
        admin__reply_errno(c, rc, NULL, "tenant usage");
        return;
    }
    cJSON *buckets = admin__buckets_of(c, &t);
    if (buckets == NULL)
        return; /* replied */
    cJSON *doc = admin__tenant_json(&t);
    cJSON *usage = cJSON_AddObjectToObject(doc, "usage");
    admin__json_int(usage, "bytes", u.bytes);
    admin__json_int(usage, "objects", u.objects);
    cJSON_AddItemToObject(doc, "buckets", buckets);
    admin__reply_json(c, 200, doc);
}

static void reply_tenant(struct admin_call *c, const char *id)
{
    struct iam_tenant t;
    int rc = iam_tenant_get(c->svc->iam, id, &t);
    if (rc < 0)
        admin__reply_errno(c, rc, NULL, "tenant");
    else
        admin__reply_json(c, 200, admin__tenant_json(&t));
}

static void set_suspended(struct admin_call *c, bool suspended)
{
    struct iam_tenant t;
    admin__set_resource(c, "tenant/%s", c->seg[1]);
    if (admin__tenant_resolve(c, c->seg[1], &t) < 0)
        return;
    if (suspended && strcmp(t.name, IAM_PLATFORM_TENANT) == 0) {
        admin__reply_error(c, 400, "InvalidArgument",
                           "the built-in tenant '%s' cannot be suspended", IAM_PLATFORM_TENANT);
        return;
    }
    int rc = iam_tenant_set_suspended(c->svc->iam, t.id, suspended);
    if (rc < 0) {
        admin__reply_errno(c, rc, NULL, "tenant");
        return;
    }
    reply_tenant(c, t.id);
}

void admin__tenants_suspend(struct admin_call *c)
{
    set_suspended(c, true);
}

void admin__tenants_resume(struct admin_call *c)
{
    set_suspended(c, false);
}

void admin__tenants_quota(struct admin_call *c)
{
    struct iam_tenant t;
    admin__set_resource(c, "tenant/%s", c->seg[1]);
    if (admin__tenant_resolve(c, c->seg[1], &t) < 0)
        return;
    struct iam_quota q = t.quota;
    int rc = admin__body_quota(c, c->in, "", &q);
    if (rc < 0)
        return;
    if (rc > 0) {
        admin__reply_error(c, 400, "InvalidArgument",
                           "give field 'max_bytes' and/or 'max_objects' (-1 = unlimited)");
        return;
    }
    rc = iam_tenant_set_quota(c->svc->iam, t.id, &q);
    if (rc < 0) {
        admin__reply_errno(c, rc, NULL, "tenant");
        return;
    }
    reply_tenant(c, t.id);
}
