/*
 * bucket.c - service- and bucket-level operations: ListBuckets, CreateBucket, HeadBucket,
 * DeleteBucket, GetBucketLocation, GetBucketVersioning. Buckets are owned by tenants (the
 * store's owner is the tenant id); who may do what is decided before a handler runs
 * (authz.c), so these only look buckets up.
 */
#include <stdio.h>

#include "s3_obj_int.h"

#define LIST_BUCKETS_XML_MAX (4 * 1024 * 1024)
#define LIST_BUCKETS_DEFAULT_MAX 10000

enum s3_err s3__bucket_access(struct s3_request *r, struct gz_slice name, struct store_bucket *out)
{
    struct store_bucket b;
    if (r->authz != NULL && r->authz->bucket.found && gz_slice_eq(name, r->bucket)) {
        if (out)
            *out = r->authz->bucket.b; /* the router's look-up of this request */
        return S3_OK;
    }
    int rc = store_bucket_get(r->svc->store, name, &b);
    if (rc == GZ_ENOBUCKET)
        return S3_ERR_NO_SUCH_BUCKET;
    if (rc < 0) {
        log_error("request %s: bucket lookup: %s", r->info->request_id, gz_strerror(rc));
        return S3_ERR_INTERNAL_ERROR;
    }
    if (out)
        *out = b;
    return S3_OK;
}

/* ---- ListBuckets ---- */

struct list_buckets {
    struct gz_buf *x;
    struct gz_slice prefix;
    struct gz_slice after; /* continuation-token: names after this one */
    int64_t max;
    int64_t count;
    bool truncated;
    char last[STORE_MAX_BUCKET + 1];
};

static int list_buckets_one(const struct store_bucket *b, void *ud)
{
    struct list_buckets *lb = ud;
    struct gz_slice name = gz_slice_cstr(b->name);
    if (!gz_slice_starts_with(name, lb->prefix.ptr ? lb->prefix.ptr : ""))
        return 0;
    if (lb->after.len && strcmp(b->name, lb->after.ptr) <= 0)
        return 0;
    if (lb->count == lb->max) {
        lb->truncated = true;
        return 1;
    }
    char date[25];
    gz_time_iso8601(b->created_ms, date);
    s3__xml_open(lb->x, "Bucket");
    s3_xml_elem(lb->x, "Name", name);
    s3_xml_elem(lb->x, "CreationDate", gz_slice_cstr(date));
    s3_xml_elem(lb->x, "BucketRegion", gz_slice_cstr(b->region));
    s3__xml_close(lb->x, "Bucket");
    snprintf(lb->last, sizeof(lb->last), "%s", b->name);
    lb->count++;
    return 0;
}

static enum s3_err list_buckets_params(struct s3_request *r, struct list_buckets *lb)
{
    const struct s3_param *p = s3_param_get(r, "max-buckets");
    lb->max = LIST_BUCKETS_DEFAULT_MAX;
    if (p) {
        uint64_t v;
        if (gz_slice_to_u64(p->value, &v) < 0 || v < 1 || v > LIST_BUCKETS_DEFAULT_MAX)
            return S3_ERR_INVALID_ARGUMENT;
        lb->max = (int64_t)v;
    }
    p = s3_param_get(r, "prefix");
    lb->prefix = p ? p->value : GZ_SLICE_NULL;
    p = s3_param_get(r, "continuation-token");
    lb->after = p ? p->value : GZ_SLICE_NULL;
    return S3_OK;
}

void s3_list_buckets(struct s3_request *r)
{
    struct gz_buf x;
    struct list_buckets lb = {.x = &x};
    enum s3_err e = list_buckets_params(r, &lb);
    if (e != S3_OK) {
        s3_reply_error(r, e, "max-buckets must be an integer between 1 and 10000");
        return;
    }
    /* The caller's tenant's buckets (every tenant's for platform roles); the Owner shown is
     * the caller's canonical user. */
    const struct iam_principal *who = &r->auth.principal;
    gz_buf_init(&x, LIST_BUCKETS_XML_MAX);
    s3_xml_begin(&x, "ListAllMyBucketsResult");
    s3__xml_open(&x, "Owner");
    s3_xml_elem(&x, "ID", gz_slice_cstr(who->user_id));
    s3_xml_elem(&x, "DisplayName", gz_slice_cstr(who->display_name));
    s3__xml_close(&x, "Owner");
    s3__xml_open(&x, "Buckets");
    const char *owner = iam_role_is_platform(who->role) ? NULL : who->tenant_id;
    int rc = store_bucket_list(r->svc->store, owner, list_buckets_one, &lb);
    s3__xml_close(&x, "Buckets");
    if (rc < 0) {
        gz_buf_free(&x);
        s3__reply_store_error(r, rc, "list buckets");
        return;
    }
    if (lb.truncated)
        s3_xml_elem(&x, "ContinuationToken", gz_slice_cstr(lb.last));
    if (lb.prefix.ptr)
        s3_xml_elem(&x, "Prefix", lb.prefix);
    s3_xml_end(&x, "ListAllMyBucketsResult");
    s3_reply_xml(r, 200, &x);
}

/* ---- CreateBucket ---- */

/* "eu-west-1", "cn-north-1", "us-gov-west-1", "EU": shaped like a region we do not serve. */
static bool looks_like_region(struct gz_slice s)
{
    if (gz_slice_eq_cstr(s, "EU"))
        return true;
    if (s.len < 4 || s.len > 32 || memchr(s.ptr, '-', s.len) == NULL)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return true;
}

static enum s3_err create_check_config(struct s3_request *r, struct gz_slice body, char *msg,
                                       size_t msgsz)
{
    struct gz_slice t = gz_slice_trim(body);
    while (t.len && (t.ptr[t.len - 1] == '\n' || t.ptr[t.len - 1] == '\r'))
        t = gz_slice_trim(gz_slice(t.ptr, t.len - 1));
    if (t.len == 0)
        return S3_OK;
    struct s3_xml_node *root;
    enum s3_err e = s3_xml_parse(r, body, &root);
    if (e != S3_OK)
        return e;
    if (!gz_slice_eq_cstr(root->name, "CreateBucketConfiguration"))
        return S3_ERR_MALFORMED_XML;
    struct s3_xml_node *lc = s3_xml_child(root, "LocationConstraint");
    if (lc == NULL || lc->text.len == 0 || gz_slice_eq_cstr(lc->text, r->svc->region))
        return S3_OK;
    char shown[64];
    gz_log_escape(shown, sizeof(shown), lc->text);
    if (looks_like_region(lc->text)) {
        snprintf(msg, msgsz,
                 "The %s location constraint is incompatible for the region specific endpoint "
                 "this request was sent to.",
                 shown);
        return S3_ERR_ILLEGAL_LOCATION_CONSTRAINT;
    }
    snprintf(msg, msgsz, "The specified location-constraint is not valid");
    return S3_ERR_INVALID_LOCATION_CONSTRAINT;
}

static void create_body_done(struct s3_request *r, enum s3_err err, struct gz_slice body)
{
    char msg[256] = "";
    enum iam_acl acl = IAM_ACL_PRIVATE;
    if (err == S3_OK)
        err = create_check_config(r, body, msg, sizeof(msg));
    if (err == S3_OK)
        err = s3__acl_from_request(r, &acl, msg, sizeof(msg));
    if (err != S3_OK) {
        s3_reply_error(r, err, msg[0] ? msg : NULL);
        return;
    }
    struct store_bucket b;
    memset(&b, 0, sizeof(b));
    memcpy(b.name, r->bucket.ptr, r->bucket.len); /* router checked: <= 63 bytes */
    snprintf(b.region, sizeof(b.region), "%s", r->svc->region);
    snprintf(b.owner, sizeof(b.owner), "%s", r->auth.principal.tenant_id);
    b.created_ms = gz_now_ms();
    int rc = store_bucket_create(r->svc->store, &b);
    if (rc == 0 && acl != IAM_ACL_PRIVATE) {
        struct gz_slice v = gz_slice_cstr(iam_acl_name(acl));
        rc = store_bucket_attr_set(r->svc->store, r->bucket, S3_ATTR_ACL, &v);
    }
    if (rc == 0)
        s3__attr_cache_drop(r->svc, r->bucket); /* a new bucket starts without attributes */
    if (rc < 0) {
        s3__reply_store_error(r, rc, "create bucket");
        return;
    }
    http_resp_headerf(r->req, "Location", "/%s", b.name);
    s3_reply_empty(r, 200);
}

void s3_bucket_create(struct s3_request *r)
{
    struct gz_slice lock = s3_header(r, "x-amz-bucket-object-lock-enabled");
    char msg[256] = "";
    enum iam_acl acl;
    if (lock.ptr && gz_slice_case_eq_cstr(lock, "true")) {
        s3_reply_error(r, S3_ERR_NOT_IMPLEMENTED, "Object Lock is not supported.");
        return;
    }
    enum s3_err e = s3__acl_from_request(r, &acl, msg, sizeof(msg)); /* refuse before the body */
    if (e != S3_OK) {
        s3_reply_error(r, e, msg[0] ? msg : NULL);
        return;
    }
    s3_read_small_body(r, S3_MAX_XML_BODY, create_body_done);
}

/* ---- HeadBucket, DeleteBucket, GetBucketLocation, GetBucketVersioning ---- */

void s3_bucket_head(struct s3_request *r)
{
    struct store_bucket b;
    enum s3_err e = s3__bucket_access(r, r->bucket, &b);
    if (e != S3_OK) {
        s3_reply_error(r, e, NULL);
        return;
    }
    http_resp_header(r->req, "x-amz-bucket-region", gz_slice_cstr(b.region));
    s3_reply_empty(r, 200);
}

void s3_bucket_delete(struct s3_request *r)
{
    enum s3_err e = s3__bucket_access(r, r->bucket, NULL);
    if (e != S3_OK) {
        s3_reply_error(r, e, NULL);
        return;
    }
    int rc = store_bucket_delete(r->svc->store, r->bucket);
    s3__attr_cache_drop(r->svc, r->bucket); /* the store dropped its attributes with it */
    if (rc < 0) {
        s3__reply_store_error(r, rc, "delete bucket");
        return;
    }
    s3_reply_empty(r, 204);
}

void s3_bucket_location(struct s3_request *r)
{
    struct store_bucket b;
    enum s3_err e = s3__bucket_access(r, r->bucket, &b);
    if (e != S3_OK) {
        s3_reply_error(r, e, NULL);
        return;
    }
    struct gz_buf x;
    gz_buf_init(&x, 4096);
    s3_xml_begin(&x, "LocationConstraint");
    /* us-east-1 is reported as an empty constraint (the API's historical default). */
    if (strcmp(b.region, "us-east-1") != 0) {
        if (gz_buf_append_xml(&x, gz_slice_cstr(b.region)) < 0)
            x.max = 0;
    }
    s3_xml_end(&x, "LocationConstraint");
    s3_reply_xml(r, 200, &x);
}

void s3_bucket_versioning(struct s3_request *r)
{
    enum s3_err e = s3__bucket_access(r, r->bucket, NULL);
    if (e != S3_OK) {
        s3_reply_error(r, e, NULL);
        return;
    }
    struct gz_buf x;
    gz_buf_init(&x, 4096);
    s3_xml_begin(&x, "VersioningConfiguration");
    s3_xml_end(&x, "VersioningConfiguration");
    s3_reply_xml(r, 200, &x);
}
