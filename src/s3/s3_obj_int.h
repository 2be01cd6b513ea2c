/*
 * s3_obj_int.h - private to the s3 request core (router, replies, XML, bucket and object
 * handlers): the pure parsing helpers those files share, exposed as s3__* so the unit tests
 * can reach them without an HTTP server. Nothing outside src/s3 includes this.
 */
#ifndef GZ_S3_OBJ_INT_H
#define GZ_S3_OBJ_INT_H

#include "s3_int.h"

#define S3_XMLNS "http://s3.amazonaws.com/doc/2006-03-01/"
#define S3_DEFAULT_CONTENT_TYPE "binary/octet-stream"

/* An allocator for parse results: the request arena in the server, a tracked heap in tests.
 * Must not return NULL (aborts on OOM, as http_req_alloc does). */
typedef void *(*s3__alloc_fn)(void *ud, size_t n);

/* ---- router helpers (router.c) ---- */

/* Percent-decodes `in` into out (room for in.len bytes); in query strings '+' is a space.
 * Returns 0 and *outlen, or -EINVAL for a malformed escape. */
int s3__uri_decode(struct gz_slice in, bool plus_is_space, char *out, size_t *outlen);
/* Splits a raw query string on '&' into decoded parameters allocated with alloc.
 * -EINVAL on a malformed escape. Empty pieces ("a&&b") are skipped. */
int s3__query_parse(struct gz_slice query, s3__alloc_fn alloc, void *ud, struct s3_param **out,
                    size_t *nout);
/* The CreateBucket naming rules: 3-63 chars of [a-z0-9.-], alnum at both ends, no "..",
 * not shaped like an IPv4 address, no "xn--" prefix or "-s3alias" suffix. */
bool s3__bucket_name_valid(struct gz_slice name);
/* Object key rules: non-empty, <= S3_MAX_KEY_BYTES, valid UTF-8 without NUL. */
enum s3_err s3__key_check(struct gz_slice key, char *msg, size_t msgsz);
/* Virtual-hosted addressing: if host (without port, any case) is "<bucket>.<domain>",
 * sets *bucket to that prefix (a view into host) and returns true. */
bool s3__vhost_bucket(struct gz_slice host, const char *domain, struct gz_slice *bucket);

/* ---- replies (reply.c) ---- */

/* Builds the S3 error document. bucket/key may be empty (then omitted). 0 or -E2BIG. */
int s3__error_xml(struct gz_buf *out, const char *code, const char *message, struct gz_slice bucket,
                  struct gz_slice key, struct gz_slice resource, const char *request_id);

/* <name> and </name> for nesting, with the same poisoning as the s3_xml_* writers. */
void s3__xml_open(struct gz_buf *x, const char *name);
void s3__xml_close(struct gz_buf *x, const char *name);

/* ---- XML (xml.c) ---- */

/* s3_xml_parse with an explicit allocator (for tests). */
enum s3_err s3__xml_parse_with(struct gz_slice body, s3__alloc_fn alloc, void *ud,
                               struct s3_xml_node **root);
/* The element's character data exactly as sent (s3_xml_node.text is trimmed; object keys
 * must keep their spaces). Only for nodes made by s3_xml_parse / s3__xml_parse_with. */
struct gz_slice s3__xml_raw_text(const struct s3_xml_node *n);

/* ---- Range (range.c) ---- */

enum s3__range_result {
    S3_RANGE_NONE = 0,      /* absent, malformed, multiple ranges, other unit: whole */
    S3_RANGE_OK,            /* *start, *len set */
    S3_RANGE_UNSATISFIABLE, /* 416 with Content-Range: bytes * / size */
};
enum s3__range_result s3__range_parse(struct gz_slice hdr, int64_t size, int64_t *start,
                                      int64_t *len);

/* ---- conditional requests (object_get.c) ---- */

struct s3__cond {
    struct gz_slice if_match;
    struct gz_slice if_none_match;
    struct gz_slice if_modified_since;
    struct gz_slice if_unmodified_since;
};
/* Does an If-Match / If-None-Match list ("*", "a", W/"b", ...) match etag (unquoted)?
 * weak selects RFC 7232 weak comparison (If-None-Match); strong never matches W/ tags. */
bool s3__etag_list_match(struct gz_slice list, const char *etag, bool weak);
/* RFC 7232 section 6 order, as S3 applies it: If-Match, else If-Unmodified-Since (412);
 * then If-None-Match, else If-Modified-Since (304). Unparsable dates are ignored.
 * Returns S3_OK, S3_ERR_PRECONDITION_FAILED or S3_ERR_NOT_MODIFIED. */
enum s3_err s3__cond_eval(const struct s3__cond *c, const char *etag, int64_t mtime_s);

/* ---- shared handler helpers (bucket.c, object_*.c) ---- */

/* Looks the bucket up (the router has already authorised the request): NoSuchBucket or
 * S3_OK with *out filled (out may be NULL). */
enum s3_err s3__bucket_access(struct s3_request *r, struct gz_slice name, struct store_bucket *out);
/* Maps a store error for the bucket/object named by r to a reply (and logs unexpected ones). */
void s3__reply_store_error(struct s3_request *r, int err, const char *what);
/* Runs fn(r, status, ud) on r's loop thread after a store done callback (from any thread). */
typedef void (*s3__resume_cb)(struct s3_request *r, int status, void *ud);
struct s3__hop {
    struct s3_request *r;
    s3__resume_cb fn;
    void *ud;
    int status;
};
/* A store_done_cb: ud is a struct s3__hop (in the request arena) with r and fn set. */
void s3__hop_done(void *ud, int status);
/* Storage class names S3 accepts in x-amz-storage-class. */
bool s3__storage_class_valid(struct gz_slice sc);

/* ---- tenancy: authorisation (authz.c), audit (audit_log.c), ACLs (acl.c), quotas
 * (quota.c) ---- */

/* An object's canned ACL (iam_acl_name) among its store headers; never sent to clients
 * (s3_meta_to_response skips every "x-gzy-" name). Absent means private. */
#define S3_ACL_HEADER "x-gzy-acl"
#define S3_ATTR_POLICY "policy" /* bucket attribute: the bucket policy JSON */
#define S3_ATTR_ACL "acl"       /* bucket attribute: the canned ACL name; absent = private */

/* What authorisation needs to know about one bucket; filled lazily. */
struct s3__bucket_authz {
    bool found;                /* b is valid */
    struct store_bucket b;
    bool same_tenant;          /* the caller's tenant owns the bucket */
    bool attrs_loaded;         /* policy and acl below */
    struct gz_slice policy;    /* in the request arena; empty if none */
    enum iam_acl acl;
};

/* The router's view of a request, kept for handlers and the audit hook (request arena). */
struct s3__authz {
    const char *action;        /* IAM action name ("s3:GetObject"); never NULL */
    bool write;                /* the action changes state */
    bool auth_failed;          /* authentication failed: no principal */
    bool audit_armed;          /* the audit hook is registered */
    bool per_key;              /* DeleteObjects: each key is authorised (a policy exists) */
    struct s3__bucket_authz bucket; /* r->bucket, when the router looked it up */
};

/* The policy and canned ACL of buckets, as authorisation reads them for every request,
 * cached while the store's generation is unchanged (store_generation) and dropped at once
 * when this process changes them (each handler that does calls s3__attr_cache_drop after the
 * store did). */
struct s3__attr_cache *s3__attr_cache_new(void);
void s3__attr_cache_free(struct s3__attr_cache *c); /* NULL-safe */
/* *policy (in r's arena; empty if none) and *acl of bucket: 0 or the store's error. */
int s3__attr_cache_get(struct s3_request *r, struct gz_slice bucket, struct gz_slice *policy,
                       enum iam_acl *acl);
void s3__attr_cache_drop(struct s3_service *svc, struct gz_slice bucket);

/* Fills r->authz->action and ->write from method, subresource and addressing. */
void s3__authz_classify(struct s3_request *r);
/* The router's check, after authentication and routing: S3_OK, or the error to reply with
 * (AccessDenied with iam's reason in msg). A bucket that does not exist is let through (the
 * handler answers NoSuchBucket) except by CreateBucket, which is checked against the caller's
 * own tenant. */
enum s3_err s3__authz_request(struct s3_request *r, char *msg, size_t msgsz);
/* Checks one more action (a copy source read, each key of DeleteObjects) for r's caller.
 * NoSuchBucket if bucket does not exist; S3_OK or AccessDenied with msg (may be NULL). */
enum s3_err s3__authorize(struct s3_request *r, const char *action, struct gz_slice bucket,
                          struct gz_slice key, char *msg, size_t msgsz);
/* A tenant's name for display (Owner DisplayName, quota messages): the caller's own without
 * a lookup, another's from iam, else the id itself. */
void s3__tenant_name(struct s3_request *r, const char *tenant_id, char *out, size_t outsz);

/* Registers the audit hook once (no-op without an audit log): the entry is written when
 * the request is freed, with its final status, error code and byte counts. */
void s3__audit_arm(struct s3_request *r);

/* x-amz-acl on a write (PutObject, CopyObject, CreateMultipartUpload, CreateBucket):
 * *out = the canned ACL (private when absent). InvalidArgument for an unknown name,
 * NotImplemented for AWS's other canned ACLs and for x-amz-grant-* headers. */
enum s3_err s3__acl_from_request(struct s3_request *r, enum iam_acl *out, char *msg,
                                 size_t msgsz);
/* Adds S3_ACL_HEADER to a store header encoding unless acl is private. 0 or -E2BIG. */
int s3__acl_header_add(struct gz_buf *enc, enum iam_acl acl);
/* An AccessControlPolicy document mapped onto the canned ACL whose grants it lists exactly:
 * the owner's FULL_CONTROL (grantee ID owner, or user_id: the caller's canonical user), plus
 * READ for AllUsers or AuthenticatedUsers. MalformedACLError outside the schema,
 * NotImplemented (msg says why) for grants no canned ACL has. */
enum s3_err s3__acl_from_xml(struct s3_xml_node *root, const char *owner, const char *user_id,
                             enum iam_acl *out, char *msg, size_t msgsz);
/* The ACL an object's store headers carry (private if none). */
enum iam_acl s3__acl_from_headers(struct gz_slice enc);

/* Quotas. Before a body is read: would adding add_bytes and add_objects to bucket (replacing
 * the object at key, if any and key is not empty) exceed the bucket's or its owner's quota
 * (store_quota_check)? S3_OK or QuotaExceeded with a message naming the limit. The store
 * enforces the same limits at commit (GZ_EQUOTA); this only refuses early. */
enum s3_err s3__quota_precheck(struct s3_request *r, struct gz_slice bucket, struct gz_slice key,
                               int64_t add_bytes, int64_t add_objects, char *msg, size_t msgsz);
/* Replies QuotaExceeded for a commit that failed with GZ_EQUOTA, naming the limit it hit
 * (key as for s3__quota_precheck). */
void s3__reply_quota(struct s3_request *r, struct gz_slice bucket, struct gz_slice key,
                     int64_t add_bytes, int64_t add_objects);

#endif
