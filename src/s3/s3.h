/*
 * s3.h - the S3 API layer: addressing, authentication, routing, handlers, XML, errors.
 * `gzy serve` creates one s3_service and registers s3_on_request() with the HTTP server.
 */
#ifndef GZ_S3_H
#define GZ_S3_H

#include "../http/http.h"
#include "../iam/iam.h"
#include "../store/store.h"

#define S3_DEFAULT_REGION "us-east-1"
#define S3_MAX_KEY_BYTES 1024
#define S3_MAX_USER_META_BYTES 2048       /* x-amz-meta-* names + values */
#define S3_MAX_XML_BODY (1024 * 1024)     /* DeleteObjects of 1000 keys fits */
#define S3_MAX_XML_DEPTH 16
#define S3_MAX_OBJECT_SIZE (5LL * 1024 * 1024 * 1024 * 1024) /* 5 TiB (multipart) */
#define S3_MAX_PUT_SIZE (5LL * 1024 * 1024 * 1024)          /* 5 GiB single PUT */
#define S3_MIN_PART_SIZE (5LL * 1024 * 1024)
#define S3_MAX_DELETE_KEYS 1000
#define S3_MAX_LIST_KEYS 1000

struct audit; /* src/iam/audit.h */

struct s3_service_config {
    struct store *store;
    struct iam *iam;
    struct audit *audit;       /* writes, denials, failed authentication; NULL = none */
    const char *region;        /* reported by GetBucketLocation; default us-east-1 */
    const char *domain;        /* virtual-hosted-style base domain, NULL = path-style only */
    bool sse_c_over_http;      /* accept SSE-C customer keys on plain-HTTP connections */
};

struct s3_service;

int s3_service_create(const struct s3_service_config *cfg, struct s3_service **out);
/* A service over store alone, for offline tools that seal objects they write through the
 * store (sse.h's s3_sse_seal_*: the key ring in the store's data folder). It has no iam and
 * must never be given requests. */
int s3_service_create_offline(struct store *store, struct s3_service **out);
void s3_service_destroy(struct s3_service *svc);
/* Where the SSE master key file is, for the whole process: path, or NULL / "" for the default
 * DATA/sse.keys of each store's data folder. A process-wide setting like the log level: the
 * CLI calls it once (--sse-key-file, GZY_SSE_KEY_FILE) before starting any thread that may use
 * the keys; every user of the keys (S3 handlers, migration sealing, the console's download,
 * `gzy sse rotate`) then reads that file. The path is copied. -ENAMETOOLONG. */
int s3_sse_key_file_set(const char *path);
/* Start-up check of the SSE master keys (`gzy serve`): loads the key file into svc (no request
 * reads it later) and fails, with a message for the operator in msg, when objects in the
 * folder are encrypted under master keys but the key file is missing, unreadable, accessible
 * to group or others, lacks a key they may use or holds another key under its id. Logs a
 * warning when the key file lies inside the data folder and the folder holds encrypted
 * objects or a bucket encrypts by default. 0 or negative errno / GZ_E*. */
int s3_service_sse_check(struct s3_service *svc, char *msg, size_t msgsz);
/* The http_request_cb; app is the s3_service. */
void s3_on_request(struct http_req *req, void *app);
/* The http on_protocol_error hook: errors the HTTP core sends itself get an S3 XML body. */
void s3_protocol_error(int status, const char *message, const char *request_id,
                       struct gz_buf *body, const char **content_type, void *app);

#endif
