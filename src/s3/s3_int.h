/*
 * s3_int.h - private to the s3 layer: the per-request state the router builds and every
 * handler receives, the reply helpers, and the handler entry points (one file per
 * operation family, as h2o splits lib/handler/).
 */
#ifndef GZ_S3_INT_H
#define GZ_S3_INT_H

#include <pthread.h>

#include "../util/hashpipe.h"
#include "auth.h"
#include "errors.h"
#include "s3.h"

struct s3_service {
    struct store *store;
    struct iam *iam;
    struct audit *audit;       /* NULL = no audit log */
    struct s3__attr_cache *attrs; /* bucket policies and ACLs (attr_cache.c) */
    struct s3__sse_cache *sse;  /* the SSE master keys, read once (sse_keys.c) */
    char region[32];
    char domain[256];          /* "" = path-style only */
    bool sse_c_over_http;      /* s3_service_config.sse_c_over_http */
    pthread_mutex_t hashers_mu;
    struct gz_hashpool *hashers; /* hasher threads for large bodies (payload.c); on first use */
    bool hashers_failed;
};

/* One query parameter, percent-decoded (name and value), in the request's arena. */
struct s3_param {
    struct gz_slice name;
    struct gz_slice value;
    bool has_value;            /* "?uploads" has none, "?uploads=" has an empty one */
};

/* Everything the router knows about a request when it calls a handler. All slices live in
 * the request's arena (or in the http request) for the request's life. */
struct s3_request {
    struct s3_service *svc;
    struct http_req *req;
    const struct http_req_info *info;
    struct s3_auth auth;
    struct gz_slice bucket;    /* decoded; empty for service-level requests */
    struct gz_slice key;       /* decoded, UTF-8 validated; empty for bucket-level */
    struct s3_param *params;
    size_t nparams;
    struct gz_slice resource;  /* "/bucket/key" for error bodies */
    int64_t now_s;
    struct s3__authz *authz;   /* router.c: the authorisation decision (s3_obj_int.h) */
    const char *error_code;    /* the S3 error code replied, NULL if none (for the audit log) */
};

/* ---- query parameters ---- */
const struct s3_param *s3_param_get(const struct s3_request *r, const char *name);
bool s3_param_has(const struct s3_request *r, const char *name);
/* Header lookup (case-insensitive), NULL ptr if absent. */
struct gz_slice s3_header(const struct s3_request *r, const char *name);

/* ---- replies (each finishes the request) ---- */
/* S3 XML error body with Code, Message (msg or the table's default), Resource, RequestId;
 * the status from the table. HEAD gets no body. 304 gets no body. */
void s3_reply_error(struct s3_request *r, enum s3_err e, const char *msg);
/* Sets status, x-amz-request-id/x-amz-id-2 are added by s3_reply_* and s3_resp_start. */
void s3_reply_xml(struct s3_request *r, int status, struct gz_buf *xml);
void s3_reply_empty(struct s3_request *r, int status);
/* Adds the common headers (x-amz-request-id, x-amz-id-2) to a response being built by hand;
 * handlers that stream call this before http_resp_start. */
void s3_resp_common_headers(struct s3_request *r);
/* Starts an XML document: <?xml ...?> and the root element with the S3 namespace. */
void s3_xml_begin(struct gz_buf *x, const char *root);
void s3_xml_end(struct gz_buf *x, const char *root);
/* <name>escaped text</name> */
void s3_xml_elem(struct gz_buf *x, const char *name, struct gz_slice text);
void s3_xml_elemf(struct gz_buf *x, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- request XML bodies (expat; size- and depth-limited) ----
 * Reads the whole (small, limited to S3_MAX_XML_BODY) body through s3_payload verification,
 * then calls done(r, status, body) with the verified bytes (status S3_OK) or the error. */
typedef void (*s3_body_done_cb)(struct s3_request *r, enum s3_err err, struct gz_slice body);
void s3_read_small_body(struct s3_request *r, size_t max, s3_body_done_cb done);

/* ---- payload digests on another core (payload.c) ----
 * s3_payload_offload lets a payload read from r's request move its whole-body digests to the
 * service's hasher pool once the body passes 1 MiB (smaller bodies stay inline); the payload then pauses
 * and resumes req's body itself. Such a request must not be finished, and s3_payload_finish
 * not called, before s3_payload_settle has returned 0 or called fn: 0 when the digests are
 * ready now, -EAGAIN when fn(ud) will run later on the loop thread. cancel drops what is not
 * digested yet (after an error). Loop thread only. */
void s3_payload_offload(struct s3_payload *p, struct s3_request *r);
/* The service's hasher pool, started on first use; NULL if it cannot start (hash inline). */
struct gz_hashpool *s3__hashers(struct s3_service *svc);
int s3_payload_settle(struct s3_payload *p, bool cancel, void (*fn)(void *ud), void *ud);

struct s3_xml_node;            /* a parsed element tree in the request arena */
struct s3_xml_node {
    struct gz_slice name;      /* local name (namespace stripped) */
    struct gz_slice text;      /* concatenated character data, trimmed */
    struct s3_xml_node *child, *next;
};
/* Parses a body into a tree (no DTDs, no entities beyond the five, depth <= S3_MAX_XML_DEPTH).
 * MalformedXML on any error. */
enum s3_err s3_xml_parse(struct s3_request *r, struct gz_slice body, struct s3_xml_node **root);
struct s3_xml_node *s3_xml_child(struct s3_xml_node *n, const char *name);

/* ---- helpers shared by handlers ---- */
/* Formats an ETag as "\"<etag>\"" into out (needs 51 bytes). */
void s3_etag_quote(const char *etag, char out[51]);
/* Collects Content-Type, Cache-Control, Content-Disposition, Content-Encoding (minus
 * aws-chunked), Content-Language, Expires, x-amz-meta-*, x-amz-storage-class and
 * x-amz-checksum-* into a store header encoding; MetadataTooLarge past the limit. */
enum s3_err s3_meta_from_request(struct s3_request *r, struct gz_buf *enc, char *msg, size_t n);
/* Adds stored headers to a GET/HEAD response (checksums only when checksum_mode). */
void s3_meta_to_response(struct s3_request *r, struct gz_slice enc, bool checksum_mode);

/* ---- handlers (bucket, key and params resolved; authenticated) ---- */
void s3_list_buckets(struct s3_request *r);
void s3_bucket_create(struct s3_request *r);
void s3_bucket_head(struct s3_request *r);
void s3_bucket_delete(struct s3_request *r);
void s3_bucket_location(struct s3_request *r);
void s3_bucket_versioning(struct s3_request *r);
void s3_object_put(struct s3_request *r);
void s3_object_get(struct s3_request *r);   /* GET and HEAD */
void s3_object_delete(struct s3_request *r);
void s3_objects_delete(struct s3_request *r); /* POST ?delete */
void s3_object_copy(struct s3_request *r);  /* PUT with x-amz-copy-source */
void s3_list_objects(struct s3_request *r); /* v1 and v2 (list-type=2) */
void s3_multipart_create(struct s3_request *r);
void s3_multipart_upload_part(struct s3_request *r);      /* and UploadPartCopy */
void s3_multipart_complete(struct s3_request *r);
void s3_multipart_abort(struct s3_request *r);
void s3_multipart_list_parts(struct s3_request *r);
void s3_multipart_list_uploads(struct s3_request *r);
void s3_bucket_policy_get(struct s3_request *r);    /* policy.c */
void s3_bucket_policy_put(struct s3_request *r);
void s3_bucket_policy_delete(struct s3_request *r);
void s3_bucket_acl_get(struct s3_request *r);       /* acl.c */
void s3_bucket_acl_put(struct s3_request *r);
void s3_object_acl_get(struct s3_request *r);
void s3_object_acl_put(struct s3_request *r);

#endif
