/*
 * acl.c - canned ACLs (private, public-read, authenticated-read) on buckets and objects:
 * Get/PutBucketAcl, Get/PutObjectAcl, and x-amz-acl on the requests that create things.
 *
 * A bucket's ACL is the bucket attribute "acl" (absent = private); an object's rides among
 * its store headers as S3_ACL_HEADER, which is never sent to clients. An AccessControlPolicy
 * body is accepted when its grants are exactly those of one canned ACL (the owner's
 * FULL_CONTROL, plus READ for AllUsers or AuthenticatedUsers); anything else is refused
 * (MalformedACLError for documents outside the schema, NotImplemented for grants we cannot
 * represent). Grants to other accounts are what bucket policies are for.
 */
#include <errno.h>
#include <stdio.h>

#include "s3_obj_int.h"

#define ACL_XML_MAX (16 * 1024)
#define ACL_BODY_MAX (64 * 1024)
#define ACL_META_MAX (1024 * 1024)
#define XSI_NS "http://www.w3.org/2001/XMLSchema-instance"
#define GROUP_ALL_USERS "http://acs.amazonaws.com/groups/global/AllUsers"
#define GROUP_AUTH_USERS "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"

/* AWS canned ACLs we do not represent (the bucket-owner-* pair means private here: the
 * bucket's tenant owns every object in it already). */
static const char *const unsupported_canned[] = {
    "public-read-write",
    "aws-exec-read",
    "log-delivery-write",
};

static const char *const grant_headers[] = {
    "x-amz-grant-read",      "x-amz-grant-write",        "x-amz-grant-read-acp",
    "x-amz-grant-write-acp", "x-amz-grant-full-control",
};

static enum s3_err acl_parse_name(struct gz_slice v, enum iam_acl *out, char *msg, size_t msgsz)
{
    char shown[64];
    if (iam_acl_parse(v, out) == 0)
        return S3_OK;
    if (gz_slice_eq_cstr(v, "bucket-owner-read") ||
        gz_slice_eq_cstr(v, "bucket-owner-full-control")) {
        *out = IAM_ACL_PRIVATE;
        return S3_OK;
    }
    gz_log_escape(shown, sizeof(shown), v);
    for (size_t i = 0; i < GZ_ARRAY_LEN(unsupported_canned); i++) {
        if (gz_slice_eq_cstr(v, unsupported_canned[i])) {
            snprintf(msg, msgsz,
                     "The canned ACL %s is not supported; use private, public-read or "
                     "authenticated-read.",
                     shown);
            return S3_ERR_NOT_IMPLEMENTED;
        }
    }
    snprintf(msg, msgsz, "Invalid canned ACL: %s", shown);
    return S3_ERR_INVALID_ARGUMENT;
}

enum s3_err s3__acl_from_request(struct s3_request *r, enum iam_acl *out, char *msg, size_t msgsz)
{
    struct gz_slice v = s3_header(r, "x-amz-acl");
    *out = IAM_ACL_PRIVATE;
    for (size_t i = 0; i < GZ_ARRAY_LEN(grant_headers); i++) {
        if (s3_header(r, grant_headers[i]).ptr == NULL)
            continue;
        if (v.ptr != NULL) {
            snprintf(msg, msgsz, "Specifying both Canned ACLs and Header Grants is not allowed");
            return S3_ERR_INVALID_REQUEST;
        }
        snprintf(msg, msgsz,
                 "Grant headers (%s) are not supported; use x-amz-acl with private, "
                 "public-read or authenticated-read.",
                 grant_headers[i]);
        return S3_ERR_NOT_IMPLEMENTED;
    }
    if (v.ptr == NULL)
        return S3_OK;
    return acl_parse_name(gz_slice_trim(v), out, msg, msgsz);
}

int s3__acl_header_add(struct gz_buf *enc, enum iam_acl acl)
{
    if (acl == IAM_ACL_PRIVATE)
        return 0;
    return store_headers_add(enc, GZ_SLICE_LIT(S3_ACL_HEADER), gz_slice_cstr(iam_acl_name(acl)));
}

enum iam_acl s3__acl_from_headers(struct gz_slice enc)
{
    size_t pos = 0;
    struct gz_slice name, value;
    enum iam_acl acl = IAM_ACL_PRIVATE;
    while (store_headers_next(enc, &pos, &name, &value)) {
        if (gz_slice_eq_cstr(name, S3_ACL_HEADER) && iam_acl_parse(value, &acl) < 0)
            acl = IAM_ACL_PRIVATE;
    }
    return acl;
}

/* ---- the AccessControlPolicy document ---- */

static void xml_grant(struct gz_buf *x, const char *type, const char *elem, const char *value,
                      const char *display, const char *perm)
{
    s3__xml_open(x, "Grant");
    if (gz_buf_appendf(x, "<Grantee xmlns:xsi=\"" XSI_NS "\" xsi:type=\"%s\">", type) < 0)
        x->max = 0;
    s3_xml_elem(x, elem, gz_slice_cstr(value));
    if (display)
        s3_xml_elem(x, "DisplayName", gz_slice_cstr(display));
    s3__xml_close(x, "Grantee");
    s3_xml_elem(x, "Permission", gz_slice_cstr(perm));
    s3__xml_close(x, "Grant");
}

/* Replies with the policy document of a canned ACL for an owner (a tenant id). The Owner is
 * shown as the caller's own canonical user when the caller belongs to the owning tenant (as
 * ListBuckets shows it), else as the tenant. */
static void acl_reply(struct s3_request *r, const char *tenant, enum iam_acl acl)
{
    const struct iam_principal *who = &r->auth.principal;
    char name[IAM_MAX_NAME + 1];
    const char *owner = tenant;
    struct gz_buf x;
    if (!r->auth.anonymous && strcmp(who->tenant_id, tenant) == 0 && who->user_id[0]) {
        owner = who->user_id;
        snprintf(name, sizeof(name), "%s", who->display_name);
    } else {
        s3__tenant_name(r, tenant, name, sizeof(name));
    }
    gz_buf_init(&x, ACL_XML_MAX);
    s3_xml_begin(&x, "AccessControlPolicy");
    s3__xml_open(&x, "Owner");
    s3_xml_elem(&x, "ID", gz_slice_cstr(owner));
    s3_xml_elem(&x, "DisplayName", gz_slice_cstr(name));
    s3__xml_close(&x, "Owner");
    s3__xml_open(&x, "AccessControlList");
    xml_grant(&x, "CanonicalUser", "ID", owner, name, "FULL_CONTROL");
    if (acl == IAM_ACL_PUBLIC_READ)
        xml_grant(&x, "Group", "URI", GROUP_ALL_USERS, NULL, "READ");
    else if (acl == IAM_ACL_AUTHENTICATED_READ)
        xml_grant(&x, "Group", "URI", GROUP_AUTH_USERS, NULL, "READ");
    s3__xml_close(&x, "AccessControlList");
    s3_xml_end(&x, "AccessControlPolicy");
    s3_reply_xml(r, 200, &x);
}

static bool permission_valid(struct gz_slice p)
{
    static const char *const perms[] = {"FULL_CONTROL", "WRITE", "WRITE_ACP", "READ", "READ_ACP"};
    for (size_t i = 0; i < GZ_ARRAY_LEN(perms); i++)
        if (gz_slice_eq_cstr(p, perms[i]))
            return true;
    return false;
}

/* What a body's grants add up to while they are read. */
struct acl_grants {
    bool owner_full;
    bool all_read, auth_read;
};

/* One <Grant>: adds it to g, or says why it cannot be represented. */
static enum s3_err acl_grant(const char *owner, const char *user_id, struct s3_xml_node *grant,
                             struct acl_grants *g, char *msg, size_t msgsz)
{
    struct s3_xml_node *ge = s3_xml_child(grant, "Grantee");
    struct s3_xml_node *perm = s3_xml_child(grant, "Permission");
    if (ge == NULL || perm == NULL || !permission_valid(perm->text))
        return S3_ERR_MALFORMED_ACL;
    struct s3_xml_node *id = s3_xml_child(ge, "ID"), *uri = s3_xml_child(ge, "URI");
    bool read = gz_slice_eq_cstr(perm->text, "READ");
    if (id != NULL && (gz_slice_eq_cstr(id->text, owner) ||
                       (user_id[0] && gz_slice_eq_cstr(id->text, user_id)))) {
        if (gz_slice_eq_cstr(perm->text, "FULL_CONTROL")) {
            g->owner_full = true;
            return S3_OK;
        }
    } else if (uri != NULL && read && gz_slice_eq_cstr(uri->text, GROUP_ALL_USERS)) {
        g->all_read = true;
        return S3_OK;
    } else if (uri != NULL && read && gz_slice_eq_cstr(uri->text, GROUP_AUTH_USERS)) {
        g->auth_read = true;
        return S3_OK;
    } else if (id == NULL && uri == NULL && s3_xml_child(ge, "EmailAddress") == NULL) {
        return S3_ERR_MALFORMED_ACL;
    }
    snprintf(msg, msgsz,
             "Only the grants of the canned ACLs private, public-read and authenticated-read "
             "are supported; use a bucket policy to grant access to other accounts.");
    return S3_ERR_NOT_IMPLEMENTED;
}

enum s3_err s3__acl_from_xml(struct s3_xml_node *root, const char *owner, const char *user_id,
                             enum iam_acl *out, char *msg, size_t msgsz)
{
    struct acl_grants g = {0};
    struct s3_xml_node *list = s3_xml_child(root, "AccessControlList");
    if (!gz_slice_eq_cstr(root->name, "AccessControlPolicy") || list == NULL ||
        s3_xml_child(root, "Owner") == NULL)
        return S3_ERR_MALFORMED_ACL;
    for (struct s3_xml_node *n = list->child; n; n = n->next) {
        if (!gz_slice_eq_cstr(n->name, "Grant"))
            return S3_ERR_MALFORMED_ACL;
        enum s3_err e = acl_grant(owner, user_id, n, &g, msg, msgsz);
        if (e != S3_OK)
            return e;
    }
    if (!g.owner_full || (g.all_read && g.auth_read)) {
        snprintf(msg, msgsz,
                 "Only the grants of the canned ACLs private, public-read and "
                 "authenticated-read are supported (the owner keeps FULL_CONTROL).");
        return S3_ERR_NOT_IMPLEMENTED;
    }
    *out = g.all_read    ? IAM_ACL_PUBLIC_READ
           : g.auth_read ? IAM_ACL_AUTHENTICATED_READ
                         : IAM_ACL_PRIVATE;
    return S3_OK;
}

static enum s3_err acl_from_body(struct s3_request *r, const char *owner, struct gz_slice body,
                                 enum iam_acl *out, char *msg, size_t msgsz)
{
    struct s3_xml_node *root;
    if (s3_xml_parse(r, body, &root) != S3_OK)
        return S3_ERR_MALFORMED_ACL;
    return s3__acl_from_xml(root, owner, r->auth.anonymous ? "" : r->auth.principal.user_id, out,
                            msg, msgsz);
}

/* The ACL a Put*Acl asks for: x-amz-acl or a body, not both. */
static enum s3_err acl_requested(struct s3_request *r, const char *owner, struct gz_slice body,
                                 enum iam_acl *out, char *msg, size_t msgsz)
{
    bool has_header = s3_header(r, "x-amz-acl").ptr != NULL;
    bool has_body = gz_slice_trim(body).len > 0;
    if (has_header && has_body) {
        snprintf(msg, msgsz, "Specifying both Canned ACLs and a request body is not allowed");
        return S3_ERR_INVALID_REQUEST;
    }
    if (has_body)
        return acl_from_body(r, owner, body, out, msg, msgsz);
    bool grants = false;
    for (size_t i = 0; i < GZ_ARRAY_LEN(grant_headers); i++)
        grants |= s3_header(r, grant_headers[i]).ptr != NULL;
    if (!has_header && !grants) {
        snprintf(msg, msgsz, "Your request was missing a required header: x-amz-acl");
        return S3_ERR_MISSING_SECURITY_HEADER;
    }
    return s3__acl_from_request(r, out, msg, msgsz);
}

/* ---- buckets ---- */

void s3_bucket_acl_get(struct s3_request *r)
{
    struct store_bucket b;
    struct gz_buf v;
    enum iam_acl acl = IAM_ACL_PRIVATE;
    enum s3_err e = s3__bucket_access(r, r->bucket, &b);
    if (e != S3_OK) {
        s3_reply_error(r, e, NULL);
        return;
    }
    gz_buf_init(&v, STORE_MAX_ATTR_VALUE);
    int rc = store_bucket_attr_get(r->svc->store, r->bucket, S3_ATTR_ACL, &v);
    if (rc == 0 && iam_acl_parse(gz_buf_slice(&v), &acl) < 0)
        acl = IAM_ACL_PRIVATE;
    gz_buf_free(&v);
    if (rc < 0 && rc != -ENOENT) {
        s3__reply_store_error(r, rc, "get bucket acl");
        return;
    }
    acl_reply(r, b.owner, acl);
}

/* The ACL a Put*Acl request asks for (x-amz-acl or its body), checked against the bucket's
 * owner; false after replying with the error. */
static bool acl_body_decode(struct s3_request *r, enum s3_err err, struct gz_slice body,
                            enum iam_acl *acl)
{
    struct store_bucket b;
    char msg[256] = "";
    if (err == S3_OK)
        err = s3__bucket_access(r, r->bucket, &b);
    if (err == S3_OK)
        err = acl_requested(r, b.owner, body, acl, msg, sizeof(msg));
    if (err != S3_OK) {
        s3_reply_error(r, err, msg[0] ? msg : NULL);
        return false;
    }
    return true;
}

static void bucket_acl_body(struct s3_request *r, enum s3_err err, struct gz_slice body)
{
    enum iam_acl acl;
    if (!acl_body_decode(r, err, body, &acl))
        return;
    struct gz_slice v = gz_slice_cstr(iam_acl_name(acl));
    int rc = store_bucket_attr_set(r->svc->store, r->bucket, S3_ATTR_ACL,
                                   acl == IAM_ACL_PRIVATE ? NULL : &v);
    s3__attr_cache_drop(r->svc, r->bucket);
    if (rc < 0) {
        s3__reply_store_error(r, rc, "put bucket acl");
        return;
    }
    s3_reply_empty(r, 200);
}

void s3_bucket_acl_put(struct s3_request *r)
{
    enum s3_err e = s3__bucket_access(r, r->bucket, NULL);
    if (e != S3_OK) {
        s3_reply_error(r, e, NULL);
        return;
    }
    s3_read_small_body(r, ACL_BODY_MAX, bucket_acl_body);
}

/* ---- objects ---- */

void s3_object_acl_get(struct s3_request *r)
{
    struct store_bucket b;
    struct store_meta m;
    struct gz_buf hold;
    enum s3_err e = s3__bucket_access(r, r->bucket, &b);
    if (e != S3_OK) {
        s3_reply_error(r, e, NULL);
        return;
    }
    gz_buf_init(&hold, 0);
    int rc = store_object_stat(r->svc->store, r->bucket, r->key, &m, &hold);
    enum iam_acl acl = rc == 0 ? s3__acl_from_headers(m.headers) : IAM_ACL_PRIVATE;
    gz_buf_free(&hold);
    if (rc < 0) {
        s3__reply_store_error(r, rc, "get object acl");
        return;
    }
    acl_reply(r, b.owner, acl);
}

struct obj_acl {
    struct s3__hop hop;
    struct gz_buf headers;
    struct store_meta meta;
};

static void obj_acl_free(void *arg)
{
    struct obj_acl *oa = arg;
    gz_buf_free(&oa->headers);
}

static void obj_acl_done(struct s3_request *r, int status, void *ud)
{
    (void)ud;
    if (status == GZ_EINVALIDPART) /* the object was replaced meanwhile */
        s3_reply_error(r, S3_ERR_SLOW_DOWN, "The object changed while its ACL was set; retry.");
    else if (status < 0)
        s3__reply_store_error(r, status, "put object acl");
    else
        s3_reply_empty(r, 200);
}

/* The object's headers with its ACL replaced; rewritten in place by a store copy onto itself
 * (no bytes move), guarded by the etag so a concurrent overwrite is not clobbered. */
static void object_acl_apply(struct s3_request *r, enum iam_acl acl)
{
    struct obj_acl *oa = http_req_alloc(r->req, sizeof(*oa));
    struct gz_buf hold;
    struct store_meta src;
    memset(oa, 0, sizeof(*oa));
    gz_buf_init(&oa->headers, ACL_META_MAX);
    http_req_on_free(r->req, obj_acl_free, oa);
    gz_buf_init(&hold, 0);
    int rc = store_object_stat(r->svc->store, r->bucket, r->key, &src, &hold);
    size_t pos = 0;
    struct gz_slice name, value;
    while (rc == 0 && store_headers_next(src.headers, &pos, &name, &value))
        if (!gz_slice_eq_cstr(name, S3_ACL_HEADER))
            rc = store_headers_add(&oa->headers, name, value);
    if (rc == 0)
        rc = s3__acl_header_add(&oa->headers, acl);
    char etag[sizeof(src.etag)];
    snprintf(etag, sizeof(etag), "%s", rc == 0 ? src.etag : "");
    gz_buf_free(&hold);
    if (rc < 0) {
        s3__reply_store_error(r, rc, "put object acl");
        return;
    }
    oa->meta.headers = gz_buf_slice(&oa->headers);
    oa->hop = (struct s3__hop){.r = r, .fn = obj_acl_done, .ud = oa};
    store_object_copy(r->svc->store, r->bucket, r->key, etag, r->bucket, r->key, &oa->meta,
                      s3__hop_done, &oa->hop);
}

static void object_acl_body(struct s3_request *r, enum s3_err err, struct gz_slice body)
{
    enum iam_acl acl;
    if (!acl_body_decode(r, err, body, &acl))
        return;
    object_acl_apply(r, acl);
}

void s3_object_acl_put(struct s3_request *r)
{
    enum s3_err e = s3__bucket_access(r, r->bucket, NULL);
    if (e != S3_OK) {
        s3_reply_error(r, e, NULL);
        return;
    }
    s3_read_small_body(r, ACL_BODY_MAX, object_acl_body);
}
