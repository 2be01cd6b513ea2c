/*
 * authz.c - authorisation of every S3 request. The router names the request's IAM action the
 * way AWS does (from method, subresource and whether a bucket and a key are named), then asks
 * iam_authorize() with what it needs to know about the bucket: its owning tenant, its policy
 * and canned ACL, and for reads by anonymous or other tenants' callers the object's ACL.
 *
 * Cost on the common path (a caller in its own tenant's bucket): one bucket look-up (which the
 * handler then reuses) and a look-up in the in-memory attribute cache for the policy (an
 * explicit Deny binds the owner's own users too). The object is read only for reads by
 * anonymous and cross-tenant callers, whose object ACL may grant them.
 */
#include <errno.h>
#include <stdio.h>

#include "s3_obj_int.h"

enum level { LV_SERVICE, LV_BUCKET, LV_OBJECT };

struct action_rule {
    const char *method;
    enum level level;
    const char *param; /* the subresource that selects the rule; NULL = any */
    const char *action;
};

/* First match wins, so rules with a subresource come before the plain one. */
static const struct action_rule rules[] = {
    {"GET", LV_SERVICE, NULL, "s3:ListAllMyBuckets"},
    {"GET", LV_BUCKET, "location", "s3:GetBucketLocation"},
    {"GET", LV_BUCKET, "versioning", "s3:GetBucketVersioning"},
    {"GET", LV_BUCKET, "uploads", "s3:ListBucketMultipartUploads"},
    {"GET", LV_BUCKET, "policy", "s3:GetBucketPolicy"},
    {"GET", LV_BUCKET, "acl", "s3:GetBucketAcl"},
    {"GET", LV_BUCKET, "encryption", "s3:GetEncryptionConfiguration"},
    {"GET", LV_BUCKET, NULL, "s3:ListBucket"},
    {"HEAD", LV_BUCKET, NULL, "s3:HeadBucket"}, /* iam: s3:ListBucket to policies */
    {"PUT", LV_BUCKET, "policy", "s3:PutBucketPolicy"},
    {"PUT", LV_BUCKET, "acl", "s3:PutBucketAcl"},
    {"PUT", LV_BUCKET, "encryption", "s3:PutEncryptionConfiguration"},
    {"PUT", LV_BUCKET, "versioning", "s3:PutBucketVersioning"},
    {"PUT", LV_BUCKET, NULL, "s3:CreateBucket"},
    {"DELETE", LV_BUCKET, "policy", "s3:DeleteBucketPolicy"},
    {"DELETE", LV_BUCKET, "encryption", "s3:PutEncryptionConfiguration"}, /* as AWS */
    {"DELETE", LV_BUCKET, NULL, "s3:DeleteBucket"},
    {"POST", LV_BUCKET, "delete", "s3:DeleteObject"}, /* DeleteObjects */
    {"POST", LV_BUCKET, NULL, "s3:PutObject"},        /* browser-form upload */
    {"GET", LV_OBJECT, "acl", "s3:GetObjectAcl"},
    {"GET", LV_OBJECT, "uploadId", "s3:ListMultipartUploadParts"},
    {"GET", LV_OBJECT, NULL, "s3:GetObject"},
    {"HEAD", LV_OBJECT, NULL, "s3:GetObject"},
    {"PUT", LV_OBJECT, "acl", "s3:PutObjectAcl"},
    {"PUT", LV_OBJECT, NULL, "s3:PutObject"},  /* also CopyObject, UploadPart(Copy) */
    {"POST", LV_OBJECT, NULL, "s3:PutObject"}, /* Create/CompleteMultipartUpload */
    {"DELETE", LV_OBJECT, "uploadId", "s3:AbortMultipartUpload"},
    {"DELETE", LV_OBJECT, NULL, "s3:DeleteObject"},
};

static bool action_is_read(const char *action)
{
    return strncmp(action, "s3:Get", 6) == 0 || strncmp(action, "s3:List", 7) == 0 ||
           strcmp(action, "s3:HeadBucket") == 0;
}

void s3__authz_classify(struct s3_request *r)
{
    struct s3__authz *z = r->authz;
    enum level lv = r->bucket.len == 0 ? LV_SERVICE : r->key.len == 0 ? LV_BUCKET : LV_OBJECT;
    z->action = "s3:Unknown";
    for (size_t i = 0; i < GZ_ARRAY_LEN(rules); i++) {
        const struct action_rule *ar = &rules[i];
        if (ar->level != lv || !gz_slice_eq_cstr(r->info->method, ar->method))
            continue;
        if (ar->param && !s3_param_has(r, ar->param))
            continue;
        z->action = ar->action;
        break;
    }
    z->write =
        !gz_slice_eq_cstr(r->info->method, "GET") && !gz_slice_eq_cstr(r->info->method, "HEAD");
}

static const struct iam_principal *caller(const struct s3_request *r)
{
    return r->auth.anonymous ? NULL : &r->auth.principal;
}

/* ---- what authorisation needs about a bucket ---- */

static int bz_lookup(struct s3_request *r, struct gz_slice name, struct s3__bucket_authz *bz)
{
    const struct iam_principal *who = caller(r);
    memset(bz, 0, sizeof(*bz));
    int rc = store_bucket_get(r->svc->store, name, &bz->b);
    if (rc < 0)
        return rc;
    bz->found = true;
    bz->same_tenant = who != NULL && strcmp(who->tenant_id, bz->b.owner) == 0;
    return 0;
}

/* Policy and ACL, from the attribute cache (attr_cache.c): one look-up for both. */
static int bz_load(struct s3_request *r, struct s3__bucket_authz *bz)
{
    if (bz->attrs_loaded)
        return 0;
    int rc = s3__attr_cache_get(r, gz_slice_cstr(bz->b.name), &bz->policy, &bz->acl);
    bz->attrs_loaded = rc == 0;
    return rc;
}

static enum iam_acl object_acl(struct s3_request *r, struct gz_slice bucket, struct gz_slice key)
{
    struct store_meta m;
    struct gz_buf hold;
    enum iam_acl acl = IAM_ACL_PRIVATE;
    gz_buf_init(&hold, 0);
    if (store_object_stat(r->svc->store, bucket, key, &m, &hold) == 0)
        acl = s3__acl_from_headers(m.headers);
    gz_buf_free(&hold);
    return acl;
}

/* ---- the decision ---- */

static enum s3_err authz_decide(struct s3_request *r, const char *action, bool write,
                                struct gz_slice bucket, struct gz_slice key,
                                struct s3__bucket_authz *bz, const char *owner, char *msg,
                                size_t msgsz)
{
    const struct iam_principal *who = caller(r);
    struct iam_request rq = {
        .who = who,
        .action = action,
        .bucket = bucket,
        .key = key,
        .bucket_owner = owner,
        .bucket_acl = IAM_ACL_PRIVATE,
        .object_acl = IAM_ACL_PRIVATE,
        .write = write,
    };
    if (bz != NULL && bz->found) {
        bool other = !bz->same_tenant;
        int rc = bz_load(r, bz);
        if (rc < 0) {
            log_error("request %s: bucket attributes: %s", r->info->request_id, gz_strerror(rc));
            return S3_ERR_INTERNAL_ERROR;
        }
        rq.bucket_policy = bz->policy;
        rq.bucket_acl = bz->acl;
        /* The object's own ACL matters only for reads the bucket's ACL does not grant. */
        bool bucket_grants = bz->acl == IAM_ACL_PUBLIC_READ ||
                             (who != NULL && bz->acl == IAM_ACL_AUTHENTICATED_READ);
        if (other && key.len && !bucket_grants && strcmp(action, "s3:GetObject") == 0 &&
            !(who && iam_role_is_platform(who->role)))
            rq.object_acl = object_acl(r, bucket, key);
    }
    char why[256] = "";
    int rc = iam_authorize(r->svc->iam, &rq, why, sizeof(why));
    if (rc == 0)
        return S3_OK;
    if (rc != -EACCES)
        log_error("request %s: authorisation failed: %s", r->info->request_id, gz_strerror(rc));
    if (msg != NULL)
        snprintf(msg, msgsz, "%s", why[0] ? why : "Access Denied");
    return S3_ERR_ACCESS_DENIED;
}

enum s3_err s3__authz_request(struct s3_request *r, char *msg, size_t msgsz)
{
    struct s3__authz *z = r->authz;
    const struct iam_principal *who = caller(r);
    const char *action = z->action;
    if (r->bucket.len == 0)
        return authz_decide(r, action, z->write, GZ_SLICE_NULL, GZ_SLICE_NULL, NULL, "", msg,
                            msgsz);
    if (strcmp(action, "s3:CreateBucket") == 0) {
        /* Checked as the future owner: whether the name is taken is the handler's answer
         * (BucketAlreadyOwnedByYou / BucketAlreadyExists), as in AWS. */
        return authz_decide(r, action, true, r->bucket, GZ_SLICE_NULL, NULL,
                            who ? who->tenant_id : "", msg, msgsz);
    }
    int rc = bz_lookup(r, r->bucket, &z->bucket);
    if (rc == GZ_ENOBUCKET)
        return S3_OK; /* the handler answers NoSuchBucket */
    if (rc < 0) {
        log_error("request %s: bucket lookup: %s", r->info->request_id, gz_strerror(rc));
        return S3_ERR_INTERNAL_ERROR;
    }
    if (strcmp(action, "s3:DeleteObject") == 0 && r->key.len == 0) {
        /* DeleteObjects: a policy may allow or deny some keys only, so each key is checked
         * (failures are reported per key, as AWS does). Without one, a bucket-level check
         * decides for all keys. */
        rc = bz_load(r, &z->bucket);
        if (rc == 0 && z->bucket.policy.len > 0) {
            z->per_key = true;
            return S3_OK;
        }
    }
    return authz_decide(r, action, z->write, r->bucket, r->key, &z->bucket, z->bucket.b.owner, msg,
                        msgsz);
}

enum s3_err s3__authorize(struct s3_request *r, const char *action, struct gz_slice bucket,
                          struct gz_slice key, char *msg, size_t msgsz)
{
    struct s3__bucket_authz local, *bz = &local;
    if (r->authz->bucket.found && gz_slice_eq(bucket, r->bucket)) {
        bz = &r->authz->bucket;
    } else {
        int rc = bz_lookup(r, bucket, &local);
        if (rc == GZ_ENOBUCKET)
            return S3_ERR_NO_SUCH_BUCKET;
        if (rc < 0) {
            log_error("request %s: bucket lookup: %s", r->info->request_id, gz_strerror(rc));
            return S3_ERR_INTERNAL_ERROR;
        }
    }
    return authz_decide(r, action, !action_is_read(action), bucket, key, bz, bz->b.owner, msg,
                        msgsz);
}

void s3__tenant_name(struct s3_request *r, const char *tenant_id, char *out, size_t outsz)
{
    const struct iam_principal *who = caller(r);
    struct iam_tenant t;
    if (who && strcmp(who->tenant_id, tenant_id) == 0 && who->tenant_name[0])
        snprintf(out, outsz, "%s", who->tenant_name);
    else if (tenant_id[0] && iam_tenant_get(r->svc->iam, tenant_id, &t) == 0)
        snprintf(out, outsz, "%s", t.name);
    else
        snprintf(out, outsz, "%s", tenant_id);
}
