/*
 * auth.h - S3 request authentication and payload verification.
 *
 * s3_auth_verify() checks a request's signature before any handler runs: SigV4 in the
 * Authorization header or in presigned query parameters, SigV2 likewise (for older clients
 * and boto3's default presigned URLs on custom endpoints). Keys are resolved only through
 * iam_principal_lookup(). Signatures are compared in constant time.
 *
 * s3_payload_* then verifies the body as it streams: the literal x-amz-content-sha256, the
 * aws-chunked framing (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER] with every chunk signature
 * checked, STREAMING-UNSIGNED-PAYLOAD-TRAILER), trailing and header x-amz-checksum-* values,
 * Content-MD5, and x-amz-decoded-content-length. It also computes the MD5 used as the ETag.
 */
#ifndef GZ_S3_AUTH_H
#define GZ_S3_AUTH_H

#include "../http/http.h"
#include "../iam/iam.h"
#include "../util/hash.h"
#include "errors.h"

#define S3_MAX_SKEW_S (15 * 60)
#define S3_MAX_PRESIGN_EXPIRES_S (7 * 24 * 3600)
#define S3_MAX_CHUNK_HEADER 4096     /* one aws-chunked "size;chunk-signature=..." line */
#define S3_MAX_TRAILER_BYTES 4096

enum s3_payload_mode {
    S3_PAYLOAD_NONE = 0,             /* SigV2 / anonymous: no payload hash declared */
    S3_PAYLOAD_UNSIGNED,             /* UNSIGNED-PAYLOAD */
    S3_PAYLOAD_SHA256,               /* literal hex SHA-256 of the body */
    S3_PAYLOAD_STREAMING_SIGNED,     /* STREAMING-AWS4-HMAC-SHA256-PAYLOAD */
    S3_PAYLOAD_STREAMING_SIGNED_TRAILER,   /* STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER */
    S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER, /* STREAMING-UNSIGNED-PAYLOAD-TRAILER */
};

/* The outcome of authentication: who, and what the body must satisfy. */
struct s3_auth {
    struct iam_principal principal;
    bool anonymous;
    int version;                     /* 2 or 4 (0 anonymous) */
    bool presigned;
    enum s3_payload_mode payload;
    uint8_t payload_sha256[32];      /* S3_PAYLOAD_SHA256 */
    /* For chunk signatures (SigV4 streaming). */
    uint8_t signing_key[32];
    char seed_signature[65];
    char amz_date[17];               /* "20130524T000000Z" */
    char scope[128];                 /* "20130524/us-east-1/s3/aws4_request" */
};

/* Verifies the request. `vhost_bucket` is the bucket taken from the Host header under
 * virtual-hosted addressing (empty slice for path-style); SigV2 needs it for the canonical
 * resource. now_s is the current time. On failure returns the S3 error and writes a message
 * (NUL-terminated) to msg. Requests with no credentials at all set out->anonymous and return
 * S3_OK: the caller decides whether anonymous access is allowed. */
enum s3_err s3_auth_verify(struct iam *iam, const struct http_req_info *info,
                           struct gz_slice vhost_bucket, int64_t now_s, struct s3_auth *out,
                           char *msg, size_t msgsz);

/* ---- SigV4 building blocks, exposed for unit tests and the migration client ---- */

/* Canonical request per the SigV4 spec. signed_headers is "host;x-amz-date" style. The path
 * is used as sent (S3 does not normalise or double-encode it); query is re-encoded and sorted.
 * Returns 0 or -E2BIG / -EINVAL. */
int s3_sigv4_canonical_request(struct gz_buf *out, struct gz_slice method, struct gz_slice path,
                               struct gz_slice query, const struct http_header *headers,
                               size_t nheaders, struct gz_slice signed_headers,
                               struct gz_slice payload_hash, bool presigned);
/* kSigning = HMAC chain over date (YYYYMMDD), region, service, "aws4_request". */
void s3_sigv4_signing_key(const char *secret, struct gz_slice date, struct gz_slice region,
                          struct gz_slice service, uint8_t out[32]);
/* Hex signature of "AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex sha256(canonical)>". */
void s3_sigv4_sign(const uint8_t key[32], struct gz_slice amz_date, struct gz_slice scope,
                   struct gz_slice canonical_request, char out_hex[65]);

/* ---- streaming payload verification ---- */

struct s3_payload;  /* opaque; allocate with s3_payload_new */

/* Prepares verification for this request's body given the auth outcome and its headers
 * (Content-MD5, x-amz-checksum-*, x-amz-trailer, x-amz-decoded-content-length,
 * Content-Encoding: aws-chunked). Returns an S3 error for malformed or unsupported headers. */
enum s3_err s3_payload_new(const struct s3_auth *auth, const struct http_req_info *info,
                           struct s3_payload **out, char *msg, size_t msgsz);
/* Feeds raw body bytes (as the HTTP layer delivers them); decoded payload bytes are passed to
 * emit (possibly several times per call). Returns S3_OK or the error that ends the request
 * (bad chunk signature -> SignatureDoesNotMatch, bad framing -> IncompleteBody/InvalidRequest,
 * chunk too large -> InvalidChunkSizeError). */
enum s3_err s3_payload_feed(struct s3_payload *p, struct gz_slice raw,
                            int (*emit)(void *ud, struct gz_slice data), void *ud);
/* At the end of the body: final chunk and trailer checks, x-amz-content-sha256 (->
 * XAmzContentSHA256Mismatch), Content-MD5 (-> BadDigest), x-amz-checksum-* (-> BadDigest),
 * decoded length (-> IncompleteBody). */
enum s3_err s3_payload_finish(struct s3_payload *p, char *msg, size_t msgsz);
/* After a successful finish: the body's MD5 (for the ETag), the decoded length, and the
 * declared checksum (alg NONE if none) with its base64 value as the client sent it. */
const uint8_t *s3_payload_md5(const struct s3_payload *p);
int64_t s3_payload_length(const struct s3_payload *p);
enum gz_hash_alg s3_payload_checksum_alg(const struct s3_payload *p);
const char *s3_payload_checksum_b64(const struct s3_payload *p);
/* The message of the error s3_payload_feed last returned ("" if none); owned by p. */
const char *s3_payload_error(const struct s3_payload *p);
void s3_payload_free(struct s3_payload *p); /* NULL-safe */

#endif
