/*
 * policy.c - bucket policies: GetBucketPolicy, PutBucketPolicy, DeleteBucketPolicy. The
 * document is validated by iam (the AWS grammar for the subset iam evaluates) and kept as
 * the bucket attribute "policy", verbatim, as AWS returns it. authz.c reads it back for every
 * request into the bucket.
 */
#include <errno.h>
#include <stdio.h>

#include "s3_obj_int.h"

void s3_bucket_policy_get(struct s3_request *r)
{
    struct gz_buf v;
    enum s3_err e = s3__bucket_access(r, r->bucket, NULL);
    if (e != S3_OK) {
        s3_reply_error(r, e, NULL);
        return;
    }
    gz_buf_init(&v, STORE_MAX_ATTR_VALUE);
    int rc = store_bucket_attr_get(r->svc->store, r->bucket, S3_ATTR_POLICY, &v);
    if (rc == -ENOENT || (rc == 0 && v.len == 0)) {
        s3_reply_error(r, S3_ERR_NO_SUCH_BUCKET_POLICY, NULL);
    } else if (rc < 0) {
        s3__reply_store_error(r, rc, "get bucket policy");
    } else {
        http_resp_status(r->req, 200);
        s3_resp_common_headers(r);
        http_resp_header(r->req, "Content-Type", GZ_SLICE_LIT("application/json"));
        http_resp_send(r->req, gz_buf_slice(&v));
    }
    gz_buf_free(&v);
}

static void policy_body(struct s3_request *r, enum s3_err err, struct gz_slice body)
{
    char msg[256] = "";
    if (err == S3_ERR_MAX_MESSAGE_LENGTH_EXCEEDED) {
        snprintf(msg, sizeof(msg), "Policies must be no larger than %d bytes",
                 IAM_MAX_POLICY_BYTES);
        err = S3_ERR_MALFORMED_POLICY;
    }
    if (err == S3_OK && iam_policy_validate(body, r->bucket, msg, sizeof(msg)) < 0) {
        if (msg[0] == '\0')
            snprintf(msg, sizeof(msg), "Policies must be valid JSON.");
        err = S3_ERR_MALFORMED_POLICY;
    }
    if (err != S3_OK) {
        s3_reply_error(r, err, msg[0] ? msg : NULL);
        return;
    }
    int rc = store_bucket_attr_set(r->svc->store, r->bucket, S3_ATTR_POLICY, &body);
    s3__attr_cache_drop(r->svc, r->bucket);
    if (rc < 0) {
        s3__reply_store_error(r, rc, "put bucket policy");
        return;
    }
    s3_reply_empty(r, 204);
}

void s3_bucket_policy_put(struct s3_request *r)
{
    enum s3_err e = s3__bucket_access(r, r->bucket, NULL);
    if (e != S3_OK) {
        s3_reply_error(r, e, NULL);
        return;
    }
    s3_read_small_body(r, IAM_MAX_POLICY_BYTES, policy_body);
}

void s3_bucket_policy_delete(struct s3_request *r)
{
    enum s3_err e = s3__bucket_access(r, r->bucket, NULL);
    if (e != S3_OK) {
        s3_reply_error(r, e, NULL);
        return;
    }
    int rc = store_bucket_attr_set(r->svc->store, r->bucket, S3_ATTR_POLICY, NULL);
    s3__attr_cache_drop(r->svc, r->bucket);
    if (rc < 0 && rc != -ENOENT) {
        s3__reply_store_error(r, rc, "delete bucket policy");
        return;
    }
    s3_reply_empty(r, 204);
}
