/*
 * errors.h - the S3 error table: every error a client can see, with the HTTP status and code
 * AWS uses. errno and GZ_E* values never reach a client; s3_err_from_gz() maps them.
 */
#ifndef GZ_S3_ERRORS_H
#define GZ_S3_ERRORS_H

#include "../util/util.h"

enum s3_err {
    S3_OK = 0,
    S3_ERR_ACCESS_DENIED,
    S3_ERR_ACCOUNT_PROBLEM,
    S3_ERR_AUTH_HEADER_MALFORMED,       /* AuthorizationHeaderMalformed */
    S3_ERR_AUTH_QUERY_MALFORMED,        /* AuthorizationQueryParametersError */
    S3_ERR_BAD_DIGEST,
    S3_ERR_BAD_REQUEST,                 /* BadRequest */
    S3_ERR_BUCKET_ALREADY_EXISTS,
    S3_ERR_BUCKET_ALREADY_OWNED_BY_YOU,
    S3_ERR_BUCKET_NOT_EMPTY,
    S3_ERR_ENTITY_TOO_LARGE,
    S3_ERR_ENTITY_TOO_SMALL,
    S3_ERR_EXPIRED_TOKEN,
    S3_ERR_ILLEGAL_LOCATION_CONSTRAINT, /* IllegalLocationConstraintException */
    S3_ERR_INCOMPLETE_BODY,
    S3_ERR_INCORRECT_NUMBER_OF_FILES,   /* not used yet */
    S3_ERR_INTERNAL_ERROR,
    S3_ERR_INVALID_ACCESS_KEY_ID,
    S3_ERR_INVALID_ARGUMENT,
    S3_ERR_INVALID_BUCKET_NAME,
    S3_ERR_INVALID_DIGEST,
    S3_ERR_INVALID_LOCATION_CONSTRAINT,
    S3_ERR_INVALID_PART,
    S3_ERR_INVALID_PART_ORDER,
    S3_ERR_INVALID_RANGE,
    S3_ERR_INVALID_REQUEST,
    S3_ERR_INVALID_STORAGE_CLASS,
    S3_ERR_KEY_TOO_LONG,
    S3_ERR_MALFORMED_XML,
    S3_ERR_METADATA_TOO_LARGE,
    S3_ERR_METHOD_NOT_ALLOWED,
    S3_ERR_MISSING_CONTENT_LENGTH,
    S3_ERR_MISSING_SECURITY_HEADER,
    S3_ERR_NO_SUCH_BUCKET,
    S3_ERR_NO_SUCH_KEY,
    S3_ERR_NO_SUCH_UPLOAD,
    S3_ERR_NOT_IMPLEMENTED,
    S3_ERR_NOT_MODIFIED,                /* 304, no body */
    S3_ERR_PRECONDITION_FAILED,
    S3_ERR_REQUEST_TIME_TOO_SKEWED,
    S3_ERR_REQUEST_TIMEOUT,
    S3_ERR_SIGNATURE_DOES_NOT_MATCH,
    S3_ERR_SLOW_DOWN,
    S3_ERR_SERVICE_UNAVAILABLE,
    S3_ERR_X_AMZ_CONTENT_SHA256_MISMATCH, /* XAmzContentSHA256Mismatch */
    S3_ERR_INVALID_CHUNK_SIZE,          /* InvalidChunkSizeError */
    S3_ERR_URI_TOO_LONG,                /* 414 */
    S3_ERR_REQUEST_HEADER_TOO_LARGE,    /* 431-ish: RequestHeaderSectionTooLarge (400) */
    S3_ERR_INVALID_ENCRYPTION_ALGORITHM,
    S3_ERR_MAX_MESSAGE_LENGTH_EXCEEDED,
    S3_ERR_INVALID_OBJECT_STATE,
    S3_ERR_INVALID_URI,                 /* InvalidURI */
    S3_ERR_INVALID_PART_NUMBER,         /* InvalidPartNumber (416) */
    S3_ERR_QUOTA_EXCEEDED,              /* QuotaExceeded (403) */
    S3_ERR_MALFORMED_POLICY,            /* MalformedPolicy (400) */
    S3_ERR_NO_SUCH_BUCKET_POLICY,       /* NoSuchBucketPolicy (404) */
    S3_ERR_MALFORMED_ACL,               /* MalformedACLError (400) */
    S3_ERR_NO_SSE_CONFIG,               /* ServerSideEncryptionConfigurationNotFoundError */
    S3_ERR__COUNT
};

struct s3_err_info {
    const char *code;     /* "NoSuchKey" */
    int status;           /* 404 */
    const char *message;  /* default message */
};

const struct s3_err_info *s3_err_info(enum s3_err e);
/* Maps a GZ_E* / negative errno to the S3 error a client should see. */
enum s3_err s3_err_from_gz(int err);
/* The error for a request body that ended badly (an on_end status < 0): RequestTimeout when
 * the client sent too slowly or stalled (-ETIMEDOUT), else IncompleteBody. */
enum s3_err s3_err_from_body(int status);

#endif
