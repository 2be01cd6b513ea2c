/*
 * auth_int.h - private to auth.c, sigv4.c, sigv2.c and payload.c: request header and query
 * helpers, the two signature verifiers, and the chunk/trailer signing steps payload.c needs.
 * Nothing outside these four files includes it.
 */
#ifndef GZ_S3_AUTH_INT_H
#define GZ_S3_AUTH_INT_H

#include "auth.h"

#define S3__EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define S3__MAX_CANONICAL (64 * 1024) /* canonical request / string-to-sign bound */
#define S3__MAX_QUERY_PARAMS 1024
#define S3__MAX_AUTH_VALUE 512 /* one decoded auth query parameter */
#define S3__MAX_CHUNK_SIZE                                                                         \
    (16u * 1024 * 1024) /* larger aws-chunked chunks: InvalidChunkSizeError */

/* Writes a printf-style message to msg (NUL-terminated; NULL msg or 0 size is allowed). */
void s3__msg(char *msg, size_t msgsz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* First header with that name (case-insensitive); NULL ptr if absent. */
struct gz_slice s3__header(const struct http_req_info *info, const char *name);
size_t s3__header_count(const struct http_req_info *info, const char *name);

/* Percent-decodes in into out (at most outsz bytes). A '%' not followed by two hex digits is
 * kept literally; '+' stays '+'. Returns the decoded length or -E2BIG. */
int s3__pct_decode(char *out, size_t outsz, struct gz_slice in);

/* Iterates over raw "a=1&b&c=" parameters (empty items skipped): name and value still
 * percent-encoded; a parameter without '=' has an empty value. false at the end. */
bool s3__query_next(struct gz_slice *rest, struct gz_slice *name, struct gz_slice *value);

/* Finds the first query parameter whose decoded name equals name (case-sensitive) and
 * decodes its value into buf. 0 and *value (pointing into buf) when found, -ENOENT when
 * absent, -E2BIG when the value does not fit. */
int s3__query_get(struct gz_slice query, const char *name, char *buf, size_t bufsz,
                  struct gz_slice *value);
bool s3__query_has(struct gz_slice query, const char *name);

/* Parses an x-amz-content-sha256 value into a payload mode (and the hash for a literal).
 * -EINVAL for anything else. */
int s3__payload_mode_parse(struct gz_slice v, enum s3_payload_mode *mode, uint8_t sha[32]);

/* Parses a Date-style header: IMF-fixdate/RFC 850/asctime, the "+0000" numeric-zone form
 * SigV2 examples use, or the ISO 8601 basic form. -EINVAL otherwise. */
int s3__time_parse_any(struct gz_slice s, int64_t *unix_s);

/* The verifiers. The caller has already decided which scheme the request uses. */
enum s3_err s3__sigv4_verify_header(struct iam *iam, const struct http_req_info *info,
                                    struct gz_slice authz, int64_t now_s, struct s3_auth *out,
                                    char *msg, size_t msgsz);
enum s3_err s3__sigv4_verify_presigned(struct iam *iam, const struct http_req_info *info,
                                       int64_t now_s, struct s3_auth *out, char *msg, size_t msgsz);
enum s3_err s3__sigv2_verify_header(struct iam *iam, const struct http_req_info *info,
                                    struct gz_slice authz, struct gz_slice vhost_bucket,
                                    int64_t now_s, struct s3_auth *out, char *msg, size_t msgsz);
enum s3_err s3__sigv2_verify_presigned(struct iam *iam, const struct http_req_info *info,
                                       struct gz_slice vhost_bucket, int64_t now_s,
                                       struct s3_auth *out, char *msg, size_t msgsz);

/* kSigning for service "s3" through the calling thread's small cache of derived keys: an
 * entry is reused only for the same secret, date (YYYYMMDD) and region. Returns true on a
 * cache hit (for tests); out is the key either way. */
bool s3__sigv4_signing_key_cached(const char *secret, struct gz_slice date,
                                  struct gz_slice region, uint8_t out[32]);
/* Empties (and wipes) the calling thread's signing-key cache. */
void s3__sigv4_key_cache_clear(void);

/* Streaming signatures (hex, 64 chars + NUL):
 *   chunk:   "AWS4-HMAC-SHA256-PAYLOAD\n<date>\n<scope>\n<prev>\n<sha256("")>\n<sha256(data)>"
 *   trailer: "AWS4-HMAC-SHA256-TRAILER\n<date>\n<scope>\n<prev>\n<sha256(trailer lines)>" */
void s3__sigv4_chunk_sign(const struct s3_auth *auth, const char *prev_hex,
                          const uint8_t data_sha256[32], char out_hex[65]);
void s3__sigv4_trailer_sign(const struct s3_auth *auth, const char *prev_hex,
                            const uint8_t trailer_sha256[32], char out_hex[65]);

#endif
