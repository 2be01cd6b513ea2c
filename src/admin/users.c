/*
 * users.c - GET /admin/v1/whoami and /admin/v1/users: list, create, change role.
 * Tenant-admins manage the users of their own tenant; iam keeps platform roles in the
 * platform tenant and tenant roles elsewhere.
 */
#include <errno.h>
#include <stdio.h>

#include "admin_int.h"

#define ROLE_NAMES "platform-admin, supervisor, tenant-admin, tenant-member, tenant-reader"

void admin__whoami(struct admin_call *c)
{
    cJSON *doc = cJSON_CreateObject();
    admin__json_str(doc, "user", c->who.display_name);
    admin__json_str(doc, "user_id", c->who.user_id);
    admin__json_str(doc, "tenant", c->who.tenant_name[0] ? c->who.tenant_name
                                                         : IAM_PLATFORM_TENANT);
    admin__json_str(doc, "role", iam_role_name(c->role));
    admin__json_str(doc, "access_key", c->who.access_key);
    cJSON_AddBoolToObject(doc, "tenant_suspended", c->who.tenant_suspended);
    admin__reply_json(c, 200, doc);
}

static int collect_user(const struct iam_user *u, void *ud)
{
    memcpy(admin__vec_push(ud), u, sizeof(*u));
    return 0;
}

void admin__users_list(struct admin_call *c)
{
    const char *tenant = admin__query(c, "tenant");
    struct iam_tenant t;
    struct admin_vec v;
    admin__vec_init(&v, sizeof(struct iam_user));
    admin__set_resource(c, "users");
    if (tenant == NULL && !admin__is_platform(c))
        tenant = c->who.tenant_id[0] ? c->who.tenant_id : c->who.tenant_name;
    if (tenant != NULL && admin__tenant_resolve(c, tenant, &t) < 0)
        goto out;
    int rc = iam_user_list(c->svc->iam, tenant ? t.name : NULL, collect_user, &v);
    if (rc < 0) {
        admin__reply_errno(c, rc, NULL, "users");
        goto out;
    }
    cJSON *doc = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(doc, "users");
    for (size_t i = 0; i < v.n; i++)
        cJSON_AddItemToArray(arr, admin__user_json(admin__vec_at(&v, i)));
    admin__reply_json(c, 200, doc);
out:
    admin__vec_free(&v);
}

/* The "role" field; 0 or -EINVAL (replied). */
static int body_role(struct admin_call *c, enum iam_role *role)
{
    const char *s;
    int rc = admin__body_str(c, "role", true, 32, &s);
    if (rc < 0)
        return rc;
    *role = iam_role_parse(s);
    if (*role == IAM_ROLE_NONE) {
        admin__reply_error(c, 400, "InvalidArgument", "field 'role' must be one of " ROLE_NAMES);
        return -EINVAL;
    }
    return 0;
}

void admin__users_create(struct admin_call *c)
{
    const char *tenant, *name;
    enum iam_role role;
    struct iam_tenant t;
    struct iam_user u;
    char msg[256] = "";
    if (admin__body_str(c, "tenant", true, 64, &tenant) < 0 ||
        admin__body_str(c, "name", true, IAM_MAX_NAME, &name) < 0)
        return;
    admin__set_resource(c, "user/%s/%s", tenant, name);
    if (admin__tenant_resolve(c, tenant, &t) < 0 || body_role(c, &role) < 0)
        return;
    int rc = iam_user_create(c->svc->iam, t.name, name, role, &u, msg, sizeof(msg));
    if (rc < 0) {
        char what[2 * IAM_MAX_NAME + 16];
        snprintf(what, sizeof(what), "user '%s/%s'", t.name, name);
        admin__reply_errno(c, rc, msg, what);
        return;
    }
    admin__reply_json(c, 201, admin__user_json(&u));
}

void admin__users_role(struct admin_call *c)
{
    struct iam_tenant t;
    struct iam_user u;
    enum iam_role role;
    char ref[2 * IAM_MAX_NAME + 2], msg[256] = "";
    admin__set_resource(c, "user/%s/%s", c->seg[1], c->seg[2]);
    if (admin__tenant_resolve(c, c->seg[1], &t) < 0 || body_role(c, &role) < 0)
        return;
    snprintf(ref, sizeof(ref), "%s/%.*s", t.name, IAM_MAX_NAME, c->seg[2]);
    int rc = iam_user_get(c->svc->iam, ref, &u);
    if (rc == 0 && strcmp(t.name, IAM_PLATFORM_TENANT) == 0 && strcmp(u.name, "root") == 0) {
        admin__reply_error(c, 400, "InvalidArgument",
                           "the root user's role is fixed (platform-admin)");
        return;
    }
    if (rc == 0)
        rc = iam_user_set_role(c->svc->iam, ref, role, msg, sizeof(msg));
    if (rc == 0)
        rc = iam_user_get(c->svc->iam, ref, &u);
    if (rc < 0) {
        char what[2 * IAM_MAX_NAME + 16];
        snprintf(what, sizeof(what), "user '%s'", ref);
        admin__reply_errno(c, rc, msg, what);
        return;
    }
    admin__reply_json(c, 200, admin__user_json(&u));
}
