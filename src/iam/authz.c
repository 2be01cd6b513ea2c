/*
 * authz.c - iam_authorize(): who may do what to which bucket.
 *
 * Decision order (iam.h): an explicit Deny in the bucket policy wins; then a suspended tenant
 * may not write (neither its users, nor anyone into its buckets but platform-admins); then the
 * role caps what a principal may ever do (the table below); then a principal acts freely within
 * its own tenant's buckets as far as its role allows; another tenant's bucket needs a policy
 * Allow (still capped by the role, as AWS requires both an identity and a resource grant across
 * accounts); last, canned ACLs grant reads. Anonymous callers have no role: only a policy
 * naming "*" or a public-read ACL lets them in.
 *
 * Role table: which actions each role may perform, within its own tenant (supervisor: in every
 * tenant; platform-admin: everything, everywhere, so it is not in the table).
 *   tenant-admin   every s3:* action, including ones not listed
 *   tenant-member  object read, write, delete, tagging; ListBucket(Versions); multipart
 *                  uploads; GetBucketLocation/Versioning. No bucket create/delete/policy/ACL
 *                  and no PutObjectAcl (a member cannot make data public).
 *   tenant-reader  object reads (GetObject also covers HeadObject), GetObjectAcl, ListBucket,
 *                  ListBucketVersions, GetBucketLocation
 *   supervisor     ListAllMyBuckets (every tenant's), HeadBucket, GetBucketLocation,
 *                  GetBucketVersioning, GetBucketPolicy, GetBucketAcl; never object data or
 *                  object key listings (s3:ListBucket)
 * All roles may ListAllMyBuckets (the S3 layer shows a tenant only its own buckets) and
 * HeadBucket.
 *
 * "s3:HeadBucket" is not an AWS IAM action (AWS checks s3:ListBucket for it); callers pass it
 * for HEAD bucket so that a supervisor may test a bucket without listing its keys. Policies
 * see it as s3:ListBucket.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "iam_int.h"

#define A_ (1u << IAM_ROLE_TENANT_ADMIN)
#define M_ (1u << IAM_ROLE_TENANT_MEMBER)
#define R_ (1u << IAM_ROLE_TENANT_READER)
#define S_ (1u << IAM_ROLE_SUPERVISOR)

/* Sorted by strcasecmp (AWS action names are case-insensitive); the unit test checks it. */
static const struct iam__action actions[] = {
    {"s3:AbortMultipartUpload", A_ | M_, true},
    {"s3:BypassGovernanceRetention", A_, true},
    {"s3:CreateBucket", A_, true},
    {"s3:DeleteBucket", A_, true},
    {"s3:DeleteBucketOwnershipControls", A_, true},
    {"s3:DeleteBucketPolicy", A_, true},
    {"s3:DeleteBucketWebsite", A_, true},
    {"s3:DeleteObject", A_ | M_, true},
    {"s3:DeleteObjectTagging", A_ | M_, true},
    {"s3:DeleteObjectVersion", A_ | M_, true},
    {"s3:DeleteObjectVersionTagging", A_ | M_, true},
    {"s3:GetAccelerateConfiguration", A_, false},
    {"s3:GetAnalyticsConfiguration", A_, false},
    {"s3:GetBucketAcl", A_ | S_, false},
    {"s3:GetBucketCORS", A_, false},
    {"s3:GetBucketLocation", A_ | M_ | R_ | S_, false},
    {"s3:GetBucketLogging", A_, false},
    {"s3:GetBucketNotification", A_, false},
    {"s3:GetBucketObjectLockConfiguration", A_, false},
    {"s3:GetBucketOwnershipControls", A_, false},
    {"s3:GetBucketPolicy", A_ | S_, false},
    {"s3:GetBucketPolicyStatus", A_, false},
    {"s3:GetBucketPublicAccessBlock", A_, false},
    {"s3:GetBucketRequestPayment", A_, false},
    {"s3:GetBucketTagging", A_, false},
    {"s3:GetBucketVersioning", A_ | M_ | S_, false},
    {"s3:GetBucketWebsite", A_, false},
    {"s3:GetEncryptionConfiguration", A_, false},
    {"s3:GetIntelligentTieringConfiguration", A_, false},
    {"s3:GetInventoryConfiguration", A_, false},
    {"s3:GetLifecycleConfiguration", A_, false},
    {"s3:GetMetricsConfiguration", A_, false},
    {"s3:GetObject", A_ | M_ | R_, false},
    {"s3:GetObjectAcl", A_ | M_ | R_, false},
    {"s3:GetObjectAttributes", A_ | M_ | R_, false},
    {"s3:GetObjectLegalHold", A_ | M_ | R_, false},
    {"s3:GetObjectRetention", A_ | M_ | R_, false},
    {"s3:GetObjectTagging", A_ | M_ | R_, false},
    {"s3:GetObjectTorrent", A_ | M_ | R_, false},
    {"s3:GetObjectVersion", A_ | M_ | R_, false},
    {"s3:GetObjectVersionAcl", A_ | M_ | R_, false},
    {"s3:GetObjectVersionAttributes", A_ | M_ | R_, false},
    {"s3:GetObjectVersionTagging", A_ | M_ | R_, false},
    {"s3:GetReplicationConfiguration", A_, false},
    {"s3:HeadBucket", A_ | M_ | R_ | S_, false},
    {"s3:ListAllMyBuckets", A_ | M_ | R_ | S_, false},
    {"s3:ListBucket", A_ | M_ | R_, false},
    {"s3:ListBucketMultipartUploads", A_ | M_, false},
    {"s3:ListBucketVersions", A_ | M_ | R_, false},
    {"s3:ListMultipartUploadParts", A_ | M_, false},
    {"s3:PutAccelerateConfiguration", A_, true},
    {"s3:PutAnalyticsConfiguration", A_, true},
    {"s3:PutBucketAcl", A_, true},
    {"s3:PutBucketCORS", A_, true},
    {"s3:PutBucketLogging", A_, true},
    {"s3:PutBucketNotification", A_, true},
    {"s3:PutBucketObjectLockConfiguration", A_, true},
    {"s3:PutBucketOwnershipControls", A_, true},
    {"s3:PutBucketPolicy", A_, true},
    {"s3:PutBucketPublicAccessBlock", A_, true},
    {"s3:PutBucketRequestPayment", A_, true},
    {"s3:PutBucketTagging", A_, true},
    {"s3:PutBucketVersioning", A_, true},
    {"s3:PutBucketWebsite", A_, true},
    {"s3:PutEncryptionConfiguration", A_, true},
    {"s3:PutIntelligentTieringConfiguration", A_, true},
    {"s3:PutInventoryConfiguration", A_, true},
    {"s3:PutLifecycleConfiguration", A_, true},
    {"s3:PutMetricsConfiguration", A_, true},
    {"s3:PutObject", A_ | M_, true},
    {"s3:PutObjectAcl", A_, true},
    {"s3:PutObjectLegalHold", A_, true},
    {"s3:PutObjectRetention", A_, true},
    {"s3:PutObjectTagging", A_ | M_, true},
    {"s3:PutObjectVersionAcl", A_, true},
    {"s3:PutObjectVersionTagging", A_ | M_, true},
    {"s3:PutReplicationConfiguration", A_, true},
    {"s3:ReplicateDelete", A_, true},
    {"s3:ReplicateObject", A_, true},
    {"s3:ReplicateTags", A_, true},
    {"s3:RestoreObject", A_ | M_, true},
};

static int action_cmp(const void *key, const void *elem)
{
    return strcasecmp(key, ((const struct iam__action *)elem)->name);
}

const struct iam__action *iam__action_find(const char *name)
{
    if (name == NULL)
        return NULL;
    return bsearch(name, actions, GZ_ARRAY_LEN(actions), sizeof(actions[0]), action_cmp);
}

size_t iam__action_count(void)
{
    return GZ_ARRAY_LEN(actions);
}

const struct iam__action *iam__action_at(size_t i)
{
    return i < GZ_ARRAY_LEN(actions) ? &actions[i] : NULL;
}

/* ---- canned ACLs ---- */

const char *iam_acl_name(enum iam_acl acl)
{
    switch (acl) {
    case IAM_ACL_PUBLIC_READ:
        return "public-read";
    case IAM_ACL_AUTHENTICATED_READ:
        return "authenticated-read";
    case IAM_ACL_PRIVATE:
    default:
        return "private";
    }
}

/* bucket-owner-read and bucket-owner-full-control give the bucket owner access to an object
 * another account wrote; here objects always belong to the bucket's tenant, so they mean
 * private. public-read-write and the log-delivery ACLs are not supported. */
int iam_acl_parse(struct gz_slice name, enum iam_acl *out)
{
    if (gz_slice_eq_cstr(name, "private") || gz_slice_eq_cstr(name, "bucket-owner-read") ||
        gz_slice_eq_cstr(name, "bucket-owner-full-control"))
        *out = IAM_ACL_PRIVATE;
    else if (gz_slice_eq_cstr(name, "public-read"))
        *out = IAM_ACL_PUBLIC_READ;
    else if (gz_slice_eq_cstr(name, "authenticated-read"))
        *out = IAM_ACL_AUTHENTICATED_READ;
    else
        return -EINVAL;
    return 0;
}

/* ---- the decision ---- */

static bool action_is(const char *action, const char *name)
{
    return strcasecmp(action, name) == 0;
}

static bool acl_grants(enum iam_acl acl, bool authenticated)
{
    return acl == IAM_ACL_PUBLIC_READ || (authenticated && acl == IAM_ACL_AUTHENTICATED_READ);
}

/* Reads a canned ACL grants: object reads (by the object's or, as the issue asks, the bucket's
 * ACL) and, by the bucket's ACL, listing its keys, versions and uploads (AWS's bucket READ). */
static bool acl_allows(const struct iam_request *rq, const char *action, bool authenticated)
{
    if (rq->bucket.len == 0)
        return false;
    if (action_is(action, "s3:GetObject") || action_is(action, "s3:GetObjectVersion"))
        return acl_grants(rq->object_acl, authenticated) ||
               acl_grants(rq->bucket_acl, authenticated);
    if (action_is(action, "s3:ListBucket") || action_is(action, "s3:HeadBucket") ||
        action_is(action, "s3:ListBucketVersions") ||
        action_is(action, "s3:ListBucketMultipartUploads"))
        return acl_grants(rq->bucket_acl, authenticated);
    return false;
}

static bool role_may(enum iam_role role, const struct iam__action *a, const char *action)
{
    if (role == IAM_ROLE_PLATFORM_ADMIN)
        return true;
    if (role == IAM_ROLE_TENANT_ADMIN)
        return a != NULL || strncasecmp(action, "s3:", 3) == 0;
    if (role <= IAM_ROLE_NONE || role > IAM_ROLE_TENANT_READER || a == NULL)
        return false;
    return (a->roles & (1u << role)) != 0;
}

/* The root credential may always manage a bucket's policy, so a bad Deny cannot lock the
 * platform out of a bucket for good. */
static bool root_policy_override(const struct iam_principal *who, const char *action)
{
    return who && who->is_root &&
           (action_is(action, "s3:PutBucketPolicy") || action_is(action, "s3:GetBucketPolicy") ||
            action_is(action, "s3:DeleteBucketPolicy"));
}

static int deny_suspended(struct iam *iam, const struct iam_request *rq, char *msg, size_t msgsz)
{
    const struct iam_principal *who = rq->who;
    struct iam__ctenant t;
    if (who && who->tenant_suspended) {
        iam__msg(msg, msgsz, "tenant %s is suspended: writes are not allowed", who->tenant_name);
        return -EACCES;
    }
    if (rq->bucket_owner && rq->bucket_owner[0] && !(who && who->role == IAM_ROLE_PLATFORM_ADMIN) &&
        iam__cache_tenant(iam, rq->bucket_owner, &t) && t.suspended) {
        iam__msg(msg, msgsz, "tenant %s is suspended: writes are not allowed", t.name);
        return -EACCES;
    }
    return 0;
}

static int decide_anonymous(const struct iam_request *rq, const char *action, enum iam__effect eff,
                            char *msg, size_t msgsz)
{
    if (eff == IAM_EFFECT_ALLOW || acl_allows(rq, action, false))
        return 0;
    if (rq->bucket.len == 0)
        iam__msg(msg, msgsz, "anonymous requests may not perform %s: sign the request", action);
    else
        iam__msg(msg, msgsz,
                 "anonymous access denied: no bucket policy or public-read ACL of "
                 "bucket %.*s grants %s",
                 (int)rq->bucket.len, rq->bucket.ptr, action);
    return -EACCES;
}

/* After the Deny, suspension and anonymous checks: role, tenant, policy Allow, ACLs. */
static int decide_principal(const struct iam_request *rq, const char *action,
                            const struct iam__action *a, enum iam__effect eff, char *msg,
                            size_t msgsz)
{
    const struct iam_principal *who = rq->who;
    if (!role_may(who->role, a, action)) {
        iam__msg(msg, msgsz, "role %s may not perform %s", iam_role_name(who->role), action);
        return -EACCES;
    }
    if (who->role == IAM_ROLE_PLATFORM_ADMIN || who->role == IAM_ROLE_SUPERVISOR)
        return 0;
    const char *owner = rq->bucket_owner ? rq->bucket_owner : "";
    if (owner[0] == '\0' || strcmp(owner, who->tenant_id) == 0)
        return 0;
    if (eff == IAM_EFFECT_ALLOW || acl_allows(rq, action, true))
        return 0;
    iam__msg(msg, msgsz,
             "bucket %.*s belongs to another tenant and no bucket policy or ACL "
             "grants %s to %s/%s",
             (int)rq->bucket.len, rq->bucket.ptr, action, who->tenant_name, who->display_name);
    return -EACCES;
}

int iam_authorize(struct iam *iam, const struct iam_request *rq, char *msg, size_t msgsz)
{
    const char *action = rq->action ? rq->action : "";
    const struct iam__action *a = iam__action_find(action);
    bool write = rq->write || (a && a->write);
    enum iam__effect eff = IAM_EFFECT_NONE;
    char sid[64] = "";
    if (rq->bucket_policy.len > 0 && rq->bucket.len > 0) {
        const char *pact = action_is(action, "s3:HeadBucket") ? "s3:ListBucket" : action;
        eff = iam__policy_eval(rq->bucket_policy, rq->who, pact, rq->bucket, rq->key, sid,
                               sizeof(sid));
    }
    if (eff == IAM_EFFECT_DENY && !root_policy_override(rq->who, action)) {
        iam__msg(msg, msgsz,
                 "%s on bucket %.*s is denied by an explicit Deny in its bucket "
                 "policy%s%s%s",
                 action, (int)rq->bucket.len, rq->bucket.ptr, sid[0] ? " (statement \"" : "", sid,
                 sid[0] ? "\")" : "");
        return -EACCES;
    }
    if (write) {
        int rc = deny_suspended(iam, rq, msg, msgsz);
        if (rc < 0)
            return rc;
    }
    if (rq->who == NULL)
        return decide_anonymous(rq, action, eff, msg, msgsz);
    return decide_principal(rq, action, a, eff, msg, msgsz);
}
