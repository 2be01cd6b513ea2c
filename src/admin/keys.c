/*
 * keys.c - /admin/v1/keys: list (never secrets), create (generated, or a given pair for
 * automation; the secret is in the answer once), disable, enable, delete. Tenant-admins
 * manage the keys of their own tenant's users; supervisors never see keys.
 */
#include <errno.h>
#include <stdio.h>

#include "admin_int.h"

static int collect_key(const struct iam_key *k, void *ud)
{
    memcpy(admin__vec_push(ud), k, sizeof(*k));
    return 0;
}

/* Splits "tenant/name" (or a bare name, in the caller's tenant for tenant-admins) into a
 * scoped tenant and a user ref "tenant/name". 0 or negative (replied). */
static int user_ref_resolve(struct admin_call *c, const char *field, const char *tenant_hint,
                            const char *user, struct iam_tenant *t, char *ref, size_t refsz)
{
    const char *slash = strchr(user, '/');
    char tname[IAM_MAX_NAME + 1];
    const char *name = user;
    if (slash != NULL) {
        if ((size_t)(slash - user) > IAM_MAX_NAME || slash == user || slash[1] == '\0') {
            admin__reply_error(c, 400, "InvalidArgument", "field '%s' must be TENANT/NAME",
                               field);
            return -EINVAL;
        }
        snprintf(tname, sizeof(tname), "%.*s", (int)(slash - user), user);
        name = slash + 1;
    } else if (tenant_hint != NULL) {
        snprintf(tname, sizeof(tname), "%.*s", IAM_MAX_NAME, tenant_hint);
    } else if (!admin__is_platform(c)) {
        snprintf(tname, sizeof(tname), "%s", c->who.tenant_name);
    } else {
        admin__reply_error(c, 400, "InvalidArgument", "field '%s' must be TENANT/NAME", field);
        return -EINVAL;
    }
    if (admin__tenant_resolve(c, tname, t) < 0)
        return -EACCES;
    snprintf(ref, refsz, "%s/%.*s", t->name, IAM_MAX_NAME, name);
    return 0;
}

void admin__keys_list(struct admin_call *c)
{
    const char *tenant = admin__query(c, "tenant"), *user = admin__query(c, "user");
    struct iam_tenant t;
    char ref[2 * IAM_MAX_NAME + 2];
    struct admin_vec v;
    admin__vec_init(&v, sizeof(struct iam_key));
    admin__set_resource(c, "keys");
    if (user != NULL && *user) {
        if (user_ref_resolve(c, "user", tenant, user, &t, ref, sizeof(ref)) < 0)
            goto out;
        tenant = t.name;
    } else {
        if (tenant == NULL && !admin__is_platform(c))
            tenant = c->who.tenant_id[0] ? c->who.tenant_id : c->who.tenant_name;
        if (tenant != NULL && admin__tenant_resolve(c, tenant, &t) < 0)
            goto out;
        if (tenant != NULL)
            tenant = t.name;
    }
    int rc = iam_key_list(c->svc->iam, tenant, user && *user ? ref : NULL, collect_key, &v);
    if (rc < 0) {
        admin__reply_errno(c, rc, NULL, "keys");
        goto out;
    }
    cJSON *doc = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(doc, "keys");
    for (size_t i = 0; i < v.n; i++)
        cJSON_AddItemToArray(arr, admin__key_json(admin__vec_at(&v, i)));
    admin__reply_json(c, 200, doc);
out:
    admin__vec_free(&v);
}

void admin__keys_create(struct admin_call *c)
{
    const char *user, *ak, *sk;
    struct iam_tenant t;
    struct iam_key k;
    char ref[2 * IAM_MAX_NAME + 2], secret[IAM_MAX_SECRET + 1], msg[256] = "";
    if (admin__body_str(c, "user", true, 2 * IAM_MAX_NAME + 1, &user) < 0 ||
        admin__body_str(c, "access_key", false, IAM_MAX_ACCESS_KEY, &ak) < 0 ||
        admin__body_str(c, "secret_key", false, IAM_MAX_SECRET, &sk) < 0)
        return;
    admin__set_resource(c, "user/%s", user);
    if (user_ref_resolve(c, "user", NULL, user, &t, ref, sizeof(ref)) < 0)
        return;
    admin__set_resource(c, "user/%s", ref);
    if ((ak == NULL) != (sk == NULL)) {
        admin__reply_error(c, 400, "InvalidArgument",
                           "give both fields 'access_key' and 'secret_key', or neither");
        return;
    }
    int rc = iam_key_create(c->svc->iam, ref, ak, sk, &k, secret, msg, sizeof(msg));
    if (rc < 0) {
        char what[IAM_MAX_ACCESS_KEY + 32];
        if (rc == -ENOENT)
            snprintf(what, sizeof(what), "user '%s'", ref);
        else
            snprintf(what, sizeof(what), "access key '%s'", ak ? ak : "");
        admin__reply_errno(c, rc, msg, what);
        return;
    }
    admin__set_resource(c, "key/%s", k.access_key);
    cJSON *doc = admin__key_json(&k);
    admin__json_str(doc, "secret_key", secret);
    explicit_bzero(secret, sizeof(secret));
    admin__reply_json(c, 201, doc);
}

/* Finds the key named in the path and scopes its tenant. */
static int key_resolve(struct admin_call *c, struct iam_key *k)
{
    struct iam_tenant t;
    const char *ak = c->seg[1];
    admin__set_resource(c, "key/%s", ak);
    int rc = iam_key_get(c->svc->iam, ak, k);
    if (rc < 0) {
        char what[IAM_MAX_ACCESS_KEY + 32];
        snprintf(what, sizeof(what), "access key '%.*s'", IAM_MAX_ACCESS_KEY, ak);
        admin__reply_errno(c, rc, NULL, what);
        return rc;
    }
    if (admin__tenant_resolve(c, k->tenant_name, &t) < 0)
        return -EACCES;
    if (strcmp(k->access_key, c->who.access_key) == 0 &&
        !gz_slice_eq_cstr(c->info->method, "GET")) {
        admin__reply_error(c, 400, "InvalidArgument",
                           "this request is signed with key '%s': use another key to change it",
                           k->access_key);
        return -EINVAL;
    }
    return 0;
}

static void set_enabled(struct admin_call *c, bool enabled)
{
    struct iam_key k;
    if (key_resolve(c, &k) < 0)
        return;
    int rc = iam_key_set_enabled(c->svc->iam, k.access_key, enabled);
    if (rc == 0)
        rc = iam_key_get(c->svc->iam, k.access_key, &k);
    if (rc < 0) {
        admin__reply_errno(c, rc, NULL, "access key");
        return;
    }
    admin__reply_json(c, 200, admin__key_json(&k));
}

void admin__keys_disable(struct admin_call *c)
{
    set_enabled(c, false);
}

void admin__keys_enable(struct admin_call *c)
{
    set_enabled(c, true);
}

void admin__keys_delete(struct admin_call *c)
{
    struct iam_key k;
    if (key_resolve(c, &k) < 0)
        return;
    int rc = iam_key_delete(c->svc->iam, k.access_key);
    if (rc < 0) {
        admin__reply_errno(c, rc, NULL, "access key");
        return;
    }
    admin__reply_json(c, 204, NULL);
}
