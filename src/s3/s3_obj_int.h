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

/* Looks the bucket up and checks the caller may use it: NoSuchBucket, AccessDenied (owned
 * by another user and the caller is not root) or S3_OK with *out filled (out may be NULL). */
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

#endif
