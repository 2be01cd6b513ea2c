/*
 * quota.c - QuotaExceeded for writes. The store enforces bucket and tenant (owner) quotas in
 * its committer, so racing uploads cannot overshoot; this file refuses early, before a body is
 * read, when the declared size already cannot fit (store_quota_check: one index look-up), and
 * names the limit in the message either way ("tenant acme quota of 10485760 bytes would be
 * exceeded").
 */
#include <stdio.h>

#include "s3_obj_int.h"

static void quota_message(struct s3_request *r, const struct store_bucket *b, bool owner,
                          bool objects, int64_t limit, char *msg, size_t msgsz)
{
    char tenant[IAM_MAX_NAME + 1];
    const char *unit = objects ? "objects" : "bytes";
    if (!owner) {
        snprintf(msg, msgsz, "bucket %s quota of %lld %s would be exceeded", b->name,
                 (long long)limit, unit);
        return;
    }
    s3__tenant_name(r, b->owner, tenant, sizeof(tenant));
    snprintf(msg, msgsz, "tenant %s quota of %lld %s would be exceeded", tenant, (long long)limit,
             unit);
}

/* GZ_EQUOTA with the message if adding would break a limit now; 0 otherwise. */
static int quota_check(struct s3_request *r, const struct store_bucket *b, struct gz_slice key,
                       int64_t add_bytes, int64_t add_objects, char *msg, size_t msgsz)
{
    struct store_quota_hit hit;
    int rc = store_quota_check(r->svc->store, gz_slice_cstr(b->name), key.len ? &key : NULL,
                               add_bytes, add_objects, &hit);
    if (rc != GZ_EQUOTA)
        return 0; /* within limits, or an error the write itself will meet */
    quota_message(r, b, hit.owner, hit.objects, hit.limit, msg, msgsz);
    return GZ_EQUOTA;
}

enum s3_err s3__quota_precheck(struct s3_request *r, struct gz_slice bucket, struct gz_slice key,
                               int64_t add_bytes, int64_t add_objects, char *msg, size_t msgsz)
{
    struct store_bucket b;
    if (s3__bucket_access(r, bucket, &b) != S3_OK)
        return S3_OK; /* the handler reports it */
    if (quota_check(r, &b, key, add_bytes, add_objects, msg, msgsz) == GZ_EQUOTA)
        return S3_ERR_QUOTA_EXCEEDED;
    return S3_OK;
}

/* No limit is broken any more (the race that failed the commit is over): name the first
 * limit that is set, bucket before tenant, bytes before objects. */
static void quota_message_any(struct s3_request *r, const struct store_bucket *b, char *msg,
                              size_t msgsz)
{
    struct store_quota q;
    if (store_bucket_quota_get(r->svc->store, gz_slice_cstr(b->name), &q) == 0 &&
        (q.max_bytes >= 0 || q.max_objects >= 0)) {
        bool objects = q.max_bytes < 0;
        quota_message(r, b, false, objects, objects ? q.max_objects : q.max_bytes, msg, msgsz);
    } else if (store_owner_quota_get(r->svc->store, b->owner, &q) == 0 &&
               (q.max_bytes >= 0 || q.max_objects >= 0)) {
        bool objects = q.max_bytes < 0;
        quota_message(r, b, true, objects, objects ? q.max_objects : q.max_bytes, msg, msgsz);
    }
}

void s3__reply_quota(struct s3_request *r, struct gz_slice bucket, struct gz_slice key,
                     int64_t add_bytes, int64_t add_objects)
{
    struct store_bucket b;
    char msg[256] = "";
    if (s3__bucket_access(r, bucket, &b) == S3_OK &&
        quota_check(r, &b, key, add_bytes, add_objects, msg, sizeof(msg)) != GZ_EQUOTA)
        quota_message_any(r, &b, msg, sizeof(msg));
    s3_reply_error(r, S3_ERR_QUOTA_EXCEEDED, msg[0] ? msg : NULL);
}
