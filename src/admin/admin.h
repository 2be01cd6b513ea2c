/*
 * admin.h - the admin JSON API (docs/admin-api.md): tenants, users, access keys, quotas,
 * usage, bucket ownership and audit queries, served on its own listener. `gzy serve` creates
 * one admin_service and a web console (src/console) in front of it: the admin listener's
 * handler is console_on_request(), which passes /admin/v1/ calls to admin_on_request() (SigV4)
 * or admin_on_request_as() (a console session); admin_protocol_error() formats the errors the
 * HTTP core sends itself.
 *
 * Callers authenticate with AWS SigV4 (service "s3", the server's region) using the same
 * access keys as S3 (s3_auth_verify); anonymous calls are refused. What a caller may do
 * follows its iam role. Every state-changing call and every denied call is appended to the
 * audit log as "admin:<Operation>" when the service has one.
 *
 * Threading: admin_on_request() runs on the http loop thread; it authenticates, routes and
 * reads the (bounded) body there, then hands the call to the service's own worker thread,
 * which does the iam/store work (SQLite writes, fsyncs) off the loop and posts the reply back
 * with http_req_post(). admin_service_destroy() must be called after the http_server using
 * the service has returned from http_server_run() (every call has then been answered).
 */
#ifndef GZ_ADMIN_H
#define GZ_ADMIN_H

#include "../http/http.h"
#include "../iam/audit.h"
#include "../iam/iam.h"
#include "../store/store.h"

#define ADMIN_DEFAULT_LISTEN "127.0.0.1:9001"
#define ADMIN_MAX_BODY (64 * 1024)          /* request bodies, JSON */
#define ADMIN_OBJECT_MAX_BODY (64LL * 1024 * 1024) /* PUT buckets/{b}/object (console uploads) */
#define ADMIN_AUDIT_DEFAULT_LIMIT 100       /* GET /admin/v1/audit without limit= */
#define ADMIN_AUDIT_MAX_LIMIT 10000

struct admin_service;
struct mig_jobs;
struct registry;

struct admin_service_config {
    struct iam *iam;            /* required */
    struct store *store;        /* required */
    struct audit *audit;        /* NULL = no audit log (calls are not recorded) */
    const char *audit_dir;      /* DATA/audit, read by GET /admin/v1/audit; NULL = none */
    const char *region;         /* expected in SigV4 scopes; NULL = "us-east-1" */
    const char *data_dir;       /* DATA, for files the API serves (manifests); may be NULL */
    struct mig_jobs *jobs;      /* migration jobs (src/migrate/jobs.h); NULL = routes answer 503 */
    struct registry *registry;  /* contracts, policy, status (src/registry); NULL = 503 */
};

/* The service keeps the pointers in cfg (not owned) and copies the strings. */
int admin_service_create(const struct admin_service_config *cfg, struct admin_service **out);
/* Stops the worker thread and frees the service. NULL-safe. */
void admin_service_destroy(struct admin_service *svc);

/* The http_request_cb; app is the admin_service. */
void admin_on_request(struct http_req *req, void *app);
/* The console's entry point (src/console): serves one /admin/v1/ call for a principal the
 * caller has already authenticated (a console session) instead of verifying SigV4; the call
 * then runs exactly as a signed call by that principal would (roles, tenant scoping, audit).
 * *who is copied (its secret_key is ignored and wiped from the copy). Loop thread, like
 * admin_on_request; app is the admin_service. The caller must have checked CSRF and Origin. */
void admin_on_request_as(struct http_req *req, void *app, const struct iam_principal *who);
/* The http on_protocol_error hook: errors the HTTP core sends itself get a JSON body. */
void admin_protocol_error(int status, const char *message, const char *request_id,
                          struct gz_buf *body, const char **content_type, void *app);

#endif
