/*
 * errors.c - the one table from S3 errors to the code and HTTP status AWS returns. Handlers
 * name an enum s3_err; nothing else decides a status or a code.
 */
#include <errno.h>

#include "errors.h"

static const struct s3_err_info table[S3_ERR__COUNT] = {
    [S3_OK] = {"OK", 200, "OK"},
    [S3_ERR_ACCESS_DENIED] = {"AccessDenied", 403, "Access Denied"},
    [S3_ERR_ACCOUNT_PROBLEM] = {"AccountProblem", 403,
                                "There is a problem with your account."},
    [S3_ERR_AUTH_HEADER_MALFORMED] = {"AuthorizationHeaderMalformed", 400,
                                      "The authorization header is malformed."},
    [S3_ERR_AUTH_QUERY_MALFORMED] = {"AuthorizationQueryParametersError", 400,
                                     "Error parsing the X-Amz-Credential parameter."},
    [S3_ERR_BAD_DIGEST] = {"BadDigest", 400,
                           "The Content-MD5 you specified did not match what we received."},
    [S3_ERR_BAD_REQUEST] = {"BadRequest", 400, "Bad Request"},
    [S3_ERR_BUCKET_ALREADY_EXISTS] = {"BucketAlreadyExists", 409,
                                      "The requested bucket name is not available."},
    [S3_ERR_BUCKET_ALREADY_OWNED_BY_YOU] = {"BucketAlreadyOwnedByYou", 409,
                                            "Your previous request to create the named bucket "
                                            "succeeded and you already own it."},
    [S3_ERR_BUCKET_NOT_EMPTY] = {"BucketNotEmpty", 409,
                                 "The bucket you tried to delete is not empty."},
    [S3_ERR_ENTITY_TOO_LARGE] = {"EntityTooLarge", 400,
                                 "Your proposed upload exceeds the maximum allowed size."},
    [S3_ERR_ENTITY_TOO_SMALL] = {"EntityTooSmall", 400,
                                 "Your proposed upload is smaller than the minimum allowed "
                                 "object size."},
    [S3_ERR_EXPIRED_TOKEN] = {"ExpiredToken", 400, "The provided token has expired."},
    [S3_ERR_ILLEGAL_LOCATION_CONSTRAINT] = {"IllegalLocationConstraintException", 400,
                                            "The location constraint is incompatible with "
                                            "the region of this endpoint."},
    [S3_ERR_INCOMPLETE_BODY] = {"IncompleteBody", 400,
                                "You did not provide the number of bytes specified by the "
                                "Content-Length HTTP header."},
    [S3_ERR_INCORRECT_NUMBER_OF_FILES] = {"IncorrectNumberOfFilesInPostRequest", 400,
                                          "POST requires exactly one file upload per request."},
    [S3_ERR_INTERNAL_ERROR] = {"InternalError", 500,
                               "We encountered an internal error. Please try again."},
    [S3_ERR_INVALID_ACCESS_KEY_ID] = {"InvalidAccessKeyId", 403,
                                      "The AWS Access Key Id you provided does not exist in "
                                      "our records."},
    [S3_ERR_INVALID_ARGUMENT] = {"InvalidArgument", 400, "Invalid Argument"},
    [S3_ERR_INVALID_BUCKET_NAME] = {"InvalidBucketName", 400,
                                    "The specified bucket is not valid."},
    [S3_ERR_INVALID_DIGEST] = {"InvalidDigest", 400,
                               "The Content-MD5 you specified is not valid."},
    [S3_ERR_INVALID_LOCATION_CONSTRAINT] = {"InvalidLocationConstraint", 400,
                                            "The specified location constraint is not "
                                            "valid."},
    [S3_ERR_INVALID_PART] = {"InvalidPart", 400,
                             "One or more of the specified parts could not be found. The part "
                             "may not have been uploaded, or the specified entity tag may not "
                             "match the part's entity tag."},
    [S3_ERR_INVALID_PART_ORDER] = {"InvalidPartOrder", 400,
                                   "The list of parts was not in ascending order. The parts "
                                   "list must be specified in order by part number."},
    [S3_ERR_INVALID_RANGE] = {"InvalidRange", 416, "The requested range is not satisfiable"},
    [S3_ERR_INVALID_REQUEST] = {"InvalidRequest", 400, "Invalid Request"},
    [S3_ERR_INVALID_STORAGE_CLASS] = {"InvalidStorageClass", 400,
                                      "The storage class you specified is not valid"},
    [S3_ERR_KEY_TOO_LONG] = {"KeyTooLongError", 400, "Your key is too long"},
    [S3_ERR_MALFORMED_XML] = {"MalformedXML", 400,
                              "The XML you provided was not well-formed or did not validate "
                              "against our published schema."},
    [S3_ERR_METADATA_TOO_LARGE] = {"MetadataTooLarge", 400,
                                   "Your metadata headers exceed the maximum allowed metadata "
                                   "size."},
    [S3_ERR_METHOD_NOT_ALLOWED] = {"MethodNotAllowed", 405,
                                   "The specified method is not allowed against this "
                                   "resource."},
    [S3_ERR_MISSING_CONTENT_LENGTH] = {"MissingContentLength", 411,
                                       "You must provide the Content-Length HTTP header."},
    [S3_ERR_MISSING_SECURITY_HEADER] = {"MissingSecurityHeader", 400,
                                        "Your request was missing a required header."},
    [S3_ERR_NO_SUCH_BUCKET] = {"NoSuchBucket", 404, "The specified bucket does not exist"},
    [S3_ERR_NO_SUCH_KEY] = {"NoSuchKey", 404, "The specified key does not exist."},
    [S3_ERR_NO_SUCH_UPLOAD] = {"NoSuchUpload", 404,
                               "The specified multipart upload does not exist. The upload ID "
                               "may be invalid, or the upload may have been aborted or "
                               "completed."},
    [S3_ERR_NOT_IMPLEMENTED] = {"NotImplemented", 501,
                                "A header or query you provided implies functionality that is "
                                "not implemented."},
    [S3_ERR_NOT_MODIFIED] = {"NotModified", 304, "Not Modified"},
    [S3_ERR_PRECONDITION_FAILED] = {"PreconditionFailed", 412,
                                    "At least one of the pre-conditions you specified did not "
                                    "hold"},
    [S3_ERR_REQUEST_TIME_TOO_SKEWED] = {"RequestTimeTooSkewed", 403,
                                        "The difference between the request time and the "
                                        "server's time is too large."},
    [S3_ERR_REQUEST_TIMEOUT] = {"RequestTimeout", 400,
                                "Your socket connection to the server was not read from or "
                                "written to within the timeout period."},
    [S3_ERR_SIGNATURE_DOES_NOT_MATCH] = {"SignatureDoesNotMatch", 403,
                                         "The request signature we calculated does not match "
                                         "the signature you provided. Check your key and "
                                         "signing method."},
    [S3_ERR_SLOW_DOWN] = {"SlowDown", 503, "Please reduce your request rate."},
    [S3_ERR_SERVICE_UNAVAILABLE] = {"ServiceUnavailable", 503,
                                    "The service is unavailable. Please retry."},
    [S3_ERR_X_AMZ_CONTENT_SHA256_MISMATCH] = {"XAmzContentSHA256Mismatch", 400,
                                              "The provided 'x-amz-content-sha256' header "
                                              "does not match what was computed."},
    [S3_ERR_INVALID_CHUNK_SIZE] = {"InvalidChunkSizeError", 403,
                                   "Only the last chunk is allowed to have a size less than "
                                   "8192 bytes"},
    [S3_ERR_URI_TOO_LONG] = {"RequestURITooLong", 414, "The request URI is too long."},
    [S3_ERR_REQUEST_HEADER_TOO_LARGE] = {"RequestHeaderSectionTooLarge", 400,
                                         "Your request header section exceeds the maximum "
                                         "allowed size."},
    [S3_ERR_INVALID_ENCRYPTION_ALGORITHM] = {"InvalidEncryptionAlgorithmError", 400,
                                             "The encryption request you specified is not "
                                             "valid."},
    [S3_ERR_MAX_MESSAGE_LENGTH_EXCEEDED] = {"MaxMessageLengthExceeded", 400,
                                            "Your request was too big."},
    [S3_ERR_INVALID_OBJECT_STATE] = {"InvalidObjectState", 403,
                                     "The operation is not valid for the current state of the "
                                     "object."},
    [S3_ERR_INVALID_URI] = {"InvalidURI", 400, "Couldn't parse the specified URI."},
    [S3_ERR_INVALID_PART_NUMBER] = {"InvalidPartNumber", 416,
                                    "The requested partnumber is not satisfiable"},
    [S3_ERR_QUOTA_EXCEEDED] = {"QuotaExceeded", 403,
                               "The request would exceed a storage quota."},
    [S3_ERR_MALFORMED_POLICY] = {"MalformedPolicy", 400, "Policies must be valid JSON."},
    [S3_ERR_NO_SUCH_BUCKET_POLICY] = {"NoSuchBucketPolicy", 404,
                                      "The bucket policy does not exist"},
    [S3_ERR_MALFORMED_ACL] = {"MalformedACLError", 400,
                              "The XML you provided was not well-formed or did not validate "
                              "against our published schema."},
    [S3_ERR_NO_SSE_CONFIG] = {"ServerSideEncryptionConfigurationNotFoundError", 404,
                              "The server side encryption configuration was not found"},
};

const struct s3_err_info *s3_err_info(enum s3_err e)
{
    if ((int)e < 0 || e >= S3_ERR__COUNT || table[e].code == NULL)
        e = S3_ERR_INTERNAL_ERROR;
    return &table[e];
}

enum s3_err s3_err_from_gz(int err)
{
    switch (err) {
    case 0: return S3_OK;
    case GZ_ENOBUCKET: return S3_ERR_NO_SUCH_BUCKET;
    case GZ_ENOKEY: return S3_ERR_NO_SUCH_KEY;
    case GZ_EBUCKETEXISTS: return S3_ERR_BUCKET_ALREADY_EXISTS;
    case GZ_EBUCKETOWNED: return S3_ERR_BUCKET_ALREADY_OWNED_BY_YOU;
    case GZ_EBUCKETNOTEMPTY: return S3_ERR_BUCKET_NOT_EMPTY;
    case GZ_ENOUPLOAD: return S3_ERR_NO_SUCH_UPLOAD;
    case GZ_EINVALIDPART: return S3_ERR_INVALID_PART;
    case GZ_ELIMIT: return S3_ERR_ENTITY_TOO_LARGE;
    case GZ_EPARSE: return S3_ERR_MALFORMED_XML;
    case GZ_EQUOTA: return S3_ERR_QUOTA_EXCEEDED;
    case -ENOSPC: return S3_ERR_SERVICE_UNAVAILABLE;
    case -EAGAIN: return S3_ERR_SLOW_DOWN;
    default: return S3_ERR_INTERNAL_ERROR;
    }
}

enum s3_err s3_err_from_body(int status)
{
    return status == -ETIMEDOUT ? S3_ERR_REQUEST_TIMEOUT : S3_ERR_INCOMPLETE_BODY;
}
