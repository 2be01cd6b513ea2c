/*
 * audit_log.c - the S3 side of the audit log: every state-changing request (PUT, POST,
 * DELETE), every denied one (403) and every failed authentication is appended once its
 * response is known, from a cleanup hook that runs when the HTTP core frees the request.
 *
 * Successful reads (GET, HEAD) are not recorded, so the hot read path registers no hook at
 * all: the router arms it up front only for writes, and for reads only on the way to a 403 or
 * an authentication failure. audit_append() only queues (no disk I/O on the loop thread).
 */
#include <stdio.h>

#include "../iam/audit.h"
#include "s3_obj_int.h"

#define AUDIT_KEY_MAX IAM_MAX_ACCESS_KEY

/* Copies s up to the first of the stop characters (or its end) into out, NUL-terminated. */
static void copy_until(struct gz_slice s, const char *stops, char *out, size_t outsz)
{
    size_t n = 0;
    while (n < s.len && n + 1 < outsz && strchr(stops, s.ptr[n]) == NULL && s.ptr[n] != '\0')
        n++;
    memcpy(out, s.ptr, n);
    out[n] = '\0';
}

/* The access key a request whose authentication failed claimed to be from, for the record
 * ("" if none could be found). Never the signature or anything secret. */
static void claimed_key(const struct s3_request *r, char *out, size_t outsz)
{
    struct gz_slice authz = s3_header(r, "authorization");
    const struct s3_param *p;
    out[0] = '\0';
    if (gz_slice_starts_with(authz, "AWS4-HMAC-SHA256 ")) {
        const char *c = memmem(authz.ptr, authz.len, "Credential=", 11);
        if (c != NULL) {
            c += 11;
            copy_until(gz_slice(c, authz.len - (size_t)(c - authz.ptr)), "/, ", out, outsz);
        }
    } else if (gz_slice_starts_with(authz, "AWS ")) {
        copy_until(gz_slice(authz.ptr + 4, authz.len - 4), ":", out, outsz);
    } else if ((p = s3_param_get(r, "X-Amz-Credential")) != NULL) {
        copy_until(p->value, "/", out, outsz);
    } else if ((p = s3_param_get(r, "AWSAccessKeyId")) != NULL) {
        copy_until(p->value, "", out, outsz);
    }
}

static const char *outcome_of(int status)
{
    if (status == 403)
        return "deny";
    return status >= 400 ? "error" : "allow";
}

/* "bucket/key" (or "bucket", or "" for the service) into out, NUL-terminated. */
static void resource_of(const struct s3_request *r, char *out, size_t outsz)
{
    int n = snprintf(out, outsz, "%.*s", (int)r->bucket.len, r->bucket.ptr ? r->bucket.ptr : "");
    if (r->key.len > 0 && n >= 0 && (size_t)n + 1 < outsz)
        snprintf(out + n, outsz - (size_t)n, "/%.*s", (int)r->key.len, r->key.ptr);
}

static void audit_on_free(void *arg)
{
    struct s3_request *r = arg;
    struct s3__authz *z = r->authz;
    int status = http_resp_status_get(r->req);
    if (!z->write && !z->auth_failed && status != 403)
        return;
    const struct iam_principal *who =
        r->auth.anonymous || z->auth_failed ? NULL : &r->auth.principal;
    char key[AUDIT_KEY_MAX + 1] = "", tenant[IAM_MAX_NAME + 1] = "";
    char resource[STORE_MAX_BUCKET + S3_MAX_KEY_BYTES + 2];
    if (z->auth_failed)
        claimed_key(r, key, sizeof(key));
    else if (who == NULL)
        snprintf(key, sizeof(key), "anonymous");
    if (who != NULL)
        snprintf(tenant, sizeof(tenant), "%s", who->tenant_name);
    else if (z->bucket.found) /* an anonymous request is on record with the bucket's tenant */
        s3__tenant_name(r, z->bucket.b.owner, tenant, sizeof(tenant));
    resource_of(r, resource, sizeof(resource));
    struct audit_entry e = {
        .request_id = r->info->request_id,
        .principal = who ? who->access_key : key,
        .user = who ? who->display_name : "",
        .tenant = tenant,
        .source = r->info->peer_str,
        .action = z->action,
        .resource = resource,
        .outcome = outcome_of(status),
        .status = status,
        .error_code = r->error_code,
        .bytes = (int64_t)(http_req_bytes_in(r->req) + http_req_bytes_out(r->req)),
    };
    audit_append(r->svc->audit, &e);
}

void s3__audit_arm(struct s3_request *r)
{
    if (r->svc->audit == NULL || r->authz->audit_armed)
        return;
    r->authz->audit_armed = true;
    http_req_on_free(r->req, audit_on_free, r);
}
