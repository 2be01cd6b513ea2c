/*
 * router.c - one admin API call from arrival to reply: routing, SigV4 authentication (the
 * same s3_auth_verify() S3 uses; anonymous callers are refused), role checks, the bounded
 * body (verified against the signed payload hash as it streams), the hand-off to the worker,
 * the audit entry and the reply.
 */
#include <errno.h>
#include <stdio.h>

#include "admin_int.h"

static const struct admin_route routes[] = {
    {"GET", "whoami", "WhoAmI", ADMIN_ACCESS_ANY, false, admin__whoami},
    {"GET", "tenants", "ListTenants", ADMIN_ACCESS_READ, false, admin__tenants_list},
    {"POST", "tenants", "CreateTenant", ADMIN_ACCESS_PLATFORM_WRITE, true, admin__tenants_create},
    {"GET", "tenants/*", "GetTenant", ADMIN_ACCESS_READ, false, admin__tenants_show},
    {"POST", "tenants/*/suspend", "SuspendTenant", ADMIN_ACCESS_PLATFORM_WRITE, true,
     admin__tenants_suspend},
    {"POST", "tenants/*/resume", "ResumeTenant", ADMIN_ACCESS_PLATFORM_WRITE, true,
     admin__tenants_resume},
    {"PUT", "tenants/*/quota", "SetTenantQuota", ADMIN_ACCESS_PLATFORM_WRITE, true,
     admin__tenants_quota},
    {"GET", "users", "ListUsers", ADMIN_ACCESS_READ, false, admin__users_list},
    {"POST", "users", "CreateUser", ADMIN_ACCESS_TENANT_WRITE, true, admin__users_create},
    {"PUT", "users/*/*/role", "SetUserRole", ADMIN_ACCESS_TENANT_WRITE, true, admin__users_role},
    {"GET", "keys", "ListKeys", ADMIN_ACCESS_READ, false, admin__keys_list},
    {"POST", "keys", "CreateKey", ADMIN_ACCESS_TENANT_WRITE, true, admin__keys_create},
    {"POST", "keys/*/disable", "DisableKey", ADMIN_ACCESS_TENANT_WRITE, true,
     admin__keys_disable},
    {"POST", "keys/*/enable", "EnableKey", ADMIN_ACCESS_TENANT_WRITE, true, admin__keys_enable},
    {"DELETE", "keys/*", "DeleteKey", ADMIN_ACCESS_TENANT_WRITE, true, admin__keys_delete},
    {"GET", "usage", "GetUsage", ADMIN_ACCESS_READ, false, admin__usage_get},
    {"GET", "buckets", "ListBuckets", ADMIN_ACCESS_READ, false, admin__buckets_list},
    {"PUT", "buckets/*/owner", "SetBucketOwner", ADMIN_ACCESS_PLATFORM_WRITE, true,
     admin__buckets_owner},
    {"PUT", "buckets/*/quota", "SetBucketQuota", ADMIN_ACCESS_TENANT_WRITE, true,
     admin__buckets_quota},
    {"GET", "buckets/*/objects", "ListObjects", ADMIN_ACCESS_ANY, false, admin__objects_list},
    {"GET", "buckets/*/object", "GetObject", ADMIN_ACCESS_ANY, false, admin__object_get},
    {"PUT", "buckets/*/object", "PutObject", ADMIN_ACCESS_ANY, true, admin__object_put},
    {"DELETE", "buckets/*/object", "DeleteObject", ADMIN_ACCESS_ANY, true, admin__object_delete},
    {"GET", "audit", "ListAudit", ADMIN_ACCESS_PLATFORM_READ, false, admin__audit_list},
    {"GET", "contracts", "ListContracts", ADMIN_ACCESS_READ, false, admin__contracts_list},
    {"POST", "contracts", "CreateContract", ADMIN_ACCESS_PLATFORM_WRITE, true,
     admin__contracts_create},
    {"GET", "contracts/*", "GetContract", ADMIN_ACCESS_READ, false, admin__contracts_show},
    {"PUT", "contracts/*", "UpdateContract", ADMIN_ACCESS_PLATFORM_WRITE, true,
     admin__contracts_update},
    {"DELETE", "contracts/*", "DeleteContract", ADMIN_ACCESS_PLATFORM_WRITE, true,
     admin__contracts_delete},
    {"POST", "contracts/*/close", "CloseContract", ADMIN_ACCESS_PLATFORM_WRITE, true,
     admin__contracts_close},
    {"GET", "policy", "GetPolicy", ADMIN_ACCESS_READ, false, admin__policy_get},
    {"PUT", "policy", "SetPolicy", ADMIN_ACCESS_PLATFORM_WRITE, true, admin__policy_put},
    {"GET", "status", "GetStatus", ADMIN_ACCESS_READ, false, admin__status_get},
    {"GET", "report", "GetReport", ADMIN_ACCESS_READ, false, admin__report_get},
    {"GET", "scrub", "GetScrub", ADMIN_ACCESS_PLATFORM_READ, false, admin__scrub_get},
    {"POST", "scrub", "StartScrub", ADMIN_ACCESS_PLATFORM_WRITE, true, admin__scrub_start},
    {"GET", "migrations", "ListMigrations", ADMIN_ACCESS_READ, false, admin__migrations_list},
    {"POST", "migrations", "CreateMigration", ADMIN_ACCESS_TENANT_WRITE, true,
     admin__migrations_create},
    {"GET", "migrations/*", "GetMigration", ADMIN_ACCESS_READ, false, admin__migrations_show},
    {"DELETE", "migrations/*", "DeleteMigration", ADMIN_ACCESS_TENANT_WRITE, true,
     admin__migrations_delete},
    {"POST", "migrations/*/start", "StartMigration", ADMIN_ACCESS_TENANT_WRITE, true,
     admin__migrations_action},
    {"POST", "migrations/*/pause", "PauseMigration", ADMIN_ACCESS_TENANT_WRITE, true,
     admin__migrations_action},
    {"POST", "migrations/*/resume", "ResumeMigration", ADMIN_ACCESS_TENANT_WRITE, true,
     admin__migrations_action},
    {"POST", "migrations/*/cancel", "CancelMigration", ADMIN_ACCESS_TENANT_WRITE, true,
     admin__migrations_action},
    {"POST", "migrations/*/estimate", "EstimateMigration", ADMIN_ACCESS_TENANT_WRITE, true,
     admin__migrations_action},
    {"PATCH", "migrations/*", "UpdateMigration", ADMIN_ACCESS_TENANT_WRITE, true,
     admin__migrations_update},
    {"GET", "migrations/*/report", "GetMigrationReport", ADMIN_ACCESS_READ, false,
     admin__migrations_report},
    {"GET", "migrations/*/reports", "ListMigrationReports", ADMIN_ACCESS_READ, false,
     admin__migrations_reports},
    {"GET", "migrations/*/manifest", "GetMigrationManifest", ADMIN_ACCESS_READ, false,
     admin__migrations_manifest},
    {"GET", "migrations/*/manifests", "ListMigrationManifests", ADMIN_ACCESS_READ, false,
     admin__migrations_manifests},
    {"GET", "migrations/*/manifests/*", "GetMigrationManifest", ADMIN_ACCESS_READ, false,
     admin__migrations_manifest_pass},
    /* read access, yet audited: a supervisor may ask the server to check its own data */
    {"POST", "migrations/*/manifests/*/verify", "VerifyMigrationManifest", ADMIN_ACCESS_READ,
     true, admin__migrations_manifest_verify},
};

/* ---- routing ---- */

static bool pattern_match(const char *pattern, char *const *seg, int nseg)
{
    int i = 0;
    const char *p = pattern;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (i >= nseg)
            return false;
        if (!(len == 1 && p[0] == '*') && (strlen(seg[i]) != len || memcmp(seg[i], p, len) != 0))
            return false;
        i++;
        p += len + (slash ? 1 : 0);
    }
    return i == nseg;
}

/* Splits the path after /admin/v1/ into decoded segments. false if it is not an API path. */
static bool call_split_path(struct admin_call *c)
{
    struct gz_slice path = c->info->path;
    size_t plen = strlen(ADMIN_PREFIX);
    if (path.len < plen || memcmp(path.ptr, ADMIN_PREFIX, plen) != 0)
        return false;
    path.ptr += plen;
    path.len -= plen;
    if (path.len > 0 && path.ptr[path.len - 1] == '/')
        path.len--;
    while (path.len > 0) {
        const char *slash = memchr(path.ptr, '/', path.len);
        size_t len = slash ? (size_t)(slash - path.ptr) : path.len;
        if (c->nseg == ADMIN_MAX_SEGS || len == 0)
            return false;
        c->seg[c->nseg] = admin__url_decode(c->req, gz_slice(path.ptr, len), false);
        if (c->seg[c->nseg] == NULL || c->seg[c->nseg][0] == '\0')
            return false;
        c->nseg++;
        path.ptr += len + (slash ? 1 : 0);
        path.len -= len + (slash ? 1 : 0);
    }
    return c->nseg > 0;
}

/* Finds the route; *method_mismatch when the path exists under another method. */
static const struct admin_route *call_route(struct admin_call *c, bool *method_mismatch)
{
    *method_mismatch = false;
    if (!call_split_path(c))
        return NULL;
    for (size_t i = 0; i < GZ_ARRAY_LEN(routes); i++) {
        if (!pattern_match(routes[i].pattern, c->seg, c->nseg))
            continue;
        if (gz_slice_eq_cstr(c->info->method, routes[i].method))
            return &routes[i];
        *method_mismatch = true;
    }
    return NULL;
}

/* ---- authentication and roles ---- */

/* The access key named in a failed request's Authorization header, for the audit entry. */
static void call_claimed_key(struct admin_call *c)
{
    struct gz_slice a = http_req_header(c->req, "authorization");
    const char *p = a.ptr ? memmem(a.ptr, a.len, "Credential=", 11) : NULL;
    if (p == NULL)
        return;
    p += 11;
    size_t n = 0, max = a.len - (size_t)(p - a.ptr);
    while (n < max && p[n] != '/' && p[n] != ',' && p[n] != ' ')
        n++;
    gz_log_escape(c->claimed_key, sizeof(c->claimed_key), gz_slice(p, n));
}

static enum s3_err call_check_region(struct admin_call *c, const struct s3_auth *auth,
                                     char *msg, size_t msgsz)
{
    const char *slash = strchr(auth->scope, '/');
    const char *end = slash ? strchr(slash + 1, '/') : NULL;
    if (end == NULL)
        return S3_OK;
    struct gz_slice region = gz_slice(slash + 1, (size_t)(end - slash - 1));
    if (gz_slice_eq_cstr(region, c->svc->region))
        return S3_OK;
    char esc[64];
    gz_log_escape(esc, sizeof(esc), region);
    snprintf(msg, msgsz, "the signature's region '%s' is wrong; expecting '%s'", esc,
             c->svc->region);
    return auth->presigned ? S3_ERR_AUTH_QUERY_MALFORMED : S3_ERR_AUTH_HEADER_MALFORMED;
}

/* Verifies the signature and prepares body verification; replies on failure. */
static bool call_authenticate(struct admin_call *c)
{
    struct s3_auth auth;
    char msg[256] = "";
    enum s3_err e = s3_auth_verify(c->svc->iam, c->info, GZ_SLICE_NULL, gz_now_ms() / 1000,
                                   &auth, msg, sizeof(msg));
    if (e == S3_OK && auth.anonymous) {
        admin__deny(c, "anonymous requests are not allowed: sign them with AWS SigV4");
        goto out;
    }
    if (e == S3_OK && auth.version != 4) {
        admin__deny(c, "the admin API accepts AWS Signature Version 4 only");
        goto out;
    }
    if (e == S3_OK)
        e = call_check_region(c, &auth, msg, sizeof(msg));
    if (e == S3_OK)
        e = s3_payload_new(&auth, c->info, &c->payload, msg, sizeof(msg));
    if (e != S3_OK) {
        const struct s3_err_info *ei = s3_err_info(e);
        call_claimed_key(c);
        admin__reply_error(c, ei->status, ei->code, "%s", msg[0] ? msg : ei->message);
        goto out;
    }
    c->who = auth.principal;
    explicit_bzero(c->who.secret_key, sizeof(c->who.secret_key));
    c->role = c->who.is_root ? IAM_ROLE_PLATFORM_ADMIN : c->who.role;
    c->authenticated = true;
    snprintf(c->tenant, sizeof(c->tenant), "%s",
             c->who.tenant_name[0] ? c->who.tenant_name : IAM_PLATFORM_TENANT);
out:
    explicit_bzero(&auth, sizeof(auth));
    return c->authenticated;
}

/* NULL if the caller's role may call the route, else why not. */
static const char *call_access_denied(const struct admin_call *c)
{
    enum iam_role r = c->role;
    bool padmin = r == IAM_ROLE_PLATFORM_ADMIN, sup = r == IAM_ROLE_SUPERVISOR;
    bool tadmin = r == IAM_ROLE_TENANT_ADMIN;
    switch (c->route->access) {
    case ADMIN_ACCESS_ANY:
        return NULL;
    case ADMIN_ACCESS_READ:
        if (padmin || sup || tadmin)
            return NULL;
        break;
    case ADMIN_ACCESS_PLATFORM_READ:
        if (padmin || sup)
            return NULL;
        if (tadmin)
            return "this operation needs the platform-admin or supervisor role";
        break;
    case ADMIN_ACCESS_TENANT_WRITE:
        if (padmin)
            return NULL;
        if (tadmin && c->who.tenant_suspended)
            return "the tenant is suspended: its administrators may read but not make changes";
        if (tadmin)
            return NULL;
        if (sup)
            return "supervisors have read-only access";
        break;
    case ADMIN_ACCESS_PLATFORM_WRITE:
        if (padmin)
            return NULL;
        if (sup)
            return "supervisors have read-only access";
        if (tadmin)
            return "this operation needs the platform-admin role";
        break;
    }
    return "this role may only call GET /admin/v1/whoami";
}

bool admin__is_platform(const struct admin_call *c)
{
    return c->role == IAM_ROLE_PLATFORM_ADMIN || c->role == IAM_ROLE_SUPERVISOR;
}

int admin__scope_tenant(struct admin_call *c, const struct iam_tenant *t)
{
    snprintf(c->tenant, sizeof(c->tenant), "%s", t->name);
    if (admin__is_platform(c))
        return 0;
    bool own = c->who.tenant_id[0] ? strcmp(c->who.tenant_id, t->id) == 0
                                    : strcmp(c->who.tenant_name, t->name) == 0;
    if (c->role == IAM_ROLE_TENANT_ADMIN && own)
        return 0;
    admin__deny(c, "a tenant-admin of '%s' may not access tenant '%s'", c->who.tenant_name,
                t->name);
    return -EACCES;
}

int admin__tenant_resolve(struct admin_call *c, const char *name_or_id, struct iam_tenant *out)
{
    int rc = iam_tenant_get(c->svc->iam, name_or_id, out);
    if (rc == -ENOENT && !admin__is_platform(c)) {
        snprintf(c->tenant, sizeof(c->tenant), "%s", name_or_id);
        admin__deny(c, "a tenant-admin of '%s' may not access tenant '%s'", c->who.tenant_name,
                    name_or_id);
        return -EACCES;
    }
    if (rc < 0) {
        char what[IAM_MAX_NAME + 16];
        snprintf(what, sizeof(what), "tenant '%.*s'", IAM_MAX_NAME, name_or_id);
        admin__reply_errno(c, rc, NULL, what);
        return rc;
    }
    return admin__scope_tenant(c, out);
}

void admin__set_resource(struct admin_call *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->resource, sizeof(c->resource), fmt, ap);
    va_end(ap);
}

/* ---- finishing ---- */

static bool status_is_denial(const struct admin_call *c)
{
    return c->status == 403;
}

static void call_audit(struct admin_call *c)
{
    struct admin_service *svc = c->svc;
    bool writes = c->route != NULL && c->route->writes;
    if (svc->audit == NULL || !(writes || status_is_denial(c)))
        return;
    char action[64];
    snprintf(action, sizeof(action), "admin:%s", c->route ? c->route->operation : "Unknown");
    const char *principal = c->authenticated ? c->who.access_key
                            : c->claimed_key[0] ? c->claimed_key : "anonymous";
    struct audit_entry e = {
        .request_id = c->info->request_id,
        .principal = principal,
        .user = c->authenticated ? c->who.display_name : NULL,
        .tenant = c->tenant,
        .source = c->info->peer_str,
        .action = action,
        .resource = c->resource,
        .outcome = c->status < 300 ? "allow" : status_is_denial(c) ? "deny" : "error",
        .status = c->status,
        .error_code = c->error_code,
        .bytes = (int64_t)(c->body.len + c->out.len),
    };
    audit_append(svc->audit, &e);
}

static void call_send(struct http_req *req, void *arg)
{
    struct admin_call *c = arg;
    http_resp_status(req, c->status);
    http_resp_header(req, "x-amz-request-id", gz_slice_cstr(c->info->request_id));
    if (c->out.len > 0)
        http_resp_header(req, "Content-Type",
                         gz_slice_cstr(c->content_type ? c->content_type : "application/json"));
    http_resp_header(req, "Cache-Control", GZ_SLICE_LIT("no-store"));
    http_resp_send(req, gz_buf_slice(&c->out)); /* c may be freed from here on */
}

/* Called once per call, after the reply was set. From the worker, c belongs to the loop
 * thread again once posted: nothing may touch it afterwards. */
void admin__finish(struct admin_call *c)
{
    if (!c->done)
        admin__reply_error(c, 500, "InternalError", "the handler gave no answer");
    call_audit(c);
    if (!c->on_worker) {
        call_send(c->req, c);
        return;
    }
    int rc = http_req_post(c->req, call_send, c);
    if (rc < 0)
        log_error("admin: cannot post a reply to the loop thread: %s", gz_strerror(rc));
}

/* ---- the body ---- */

static int body_emit(void *ud, struct gz_slice data)
{
    struct admin_call *c = ud;
    int rc = gz_buf_append(&c->body, data.ptr, data.len);
    if (rc < 0)
        c->body_too_large = true;
    return rc;
}

static void reply_too_large(struct admin_call *c)
{
    admin__reply_error(c, 413, "EntityTooLarge", "the request body exceeds %d bytes",
                       ADMIN_MAX_BODY);
}

static void on_body_data(struct http_req *req, struct gz_slice data, void *ud)
{
    struct admin_call *c = ud;
    if (c->done)
        return;
    /* A console session's call has no signed payload to verify. */
    enum s3_err e = S3_OK;
    if (c->payload != NULL)
        e = s3_payload_feed(c->payload, data, body_emit, c);
    else if (body_emit(c, data) < 0)
        e = S3_ERR_ENTITY_TOO_LARGE;
    if (e == S3_OK)
        return;
    if (c->body_too_large) {
        reply_too_large(c);
    } else {
        const struct s3_err_info *ei = s3_err_info(e);
        const char *m = s3_payload_error(c->payload);
        admin__reply_error(c, ei->status, ei->code, "%s", m && *m ? m : ei->message);
    }
    admin__finish(c); /* the server discards the rest of the body */
}

static void on_body_end(struct http_req *req, int status, void *ud)
{
    struct admin_call *c = ud;
    char msg[256] = "";
    if (c->done)
        return;
    if (status < 0) {
        admin__reply_error(c, 400, "IncompleteBody", "the request body was not received: %s",
                           gz_strerror(status));
        admin__finish(c);
        return;
    }
    enum s3_err e = c->payload ? s3_payload_finish(c->payload, msg, sizeof(msg)) : S3_OK;
    if (e != S3_OK) {
        const struct s3_err_info *ei = s3_err_info(e);
        admin__reply_error(c, ei->status, ei->code, "%s", msg[0] ? msg : ei->message);
        admin__finish(c);
        return;
    }
    admin__queue_push(c->svc, c);
}

/* ---- the worker side ---- */

void admin__call_execute(struct admin_call *c)
{
    c->on_worker = true;
    if (c->body.len > 0) {
        c->in = cJSON_ParseWithLength(c->body.ptr, c->body.len);
        if (c->in == NULL || !cJSON_IsObject(c->in)) {
            admin__reply_error(c, 400, "MalformedJSON", "%s",
                               c->in == NULL ? "the request body is not valid JSON"
                                             : "the request body must be a JSON object");
            admin__finish(c);
            return;
        }
    }
    c->route->handler(c);
    admin__finish(c);
}

/* ---- the entry point ---- */

static void call_cleanup(void *arg)
{
    struct admin_call *c = arg;
    s3_payload_free(c->payload);
    gz_buf_free(&c->body);
    if (c->out.ptr != NULL)
        explicit_bzero(c->out.ptr, c->out.len); /* may hold a new key's secret */
    gz_buf_free(&c->out);
    cJSON_Delete(c->in);
    explicit_bzero(&c->who, sizeof(c->who));
}

/* Routes that differ from the default (a JSON body of at most ADMIN_MAX_BODY, handled on the
 * worker thread). The object routes run on the loop thread, as S3 handlers do: their store
 * calls are index look-ups or asynchronous, and they stream bodies both ways themselves. */
struct route_opts {
    const char *operation;
    int64_t max_body;    /* a larger Content-Length is refused (413) before anything is read */
    const char *hint;    /* appended to the 413 message */
    bool on_loop;        /* the handler runs on the loop thread and reads any body itself */
};

static const struct route_opts route_opts[] = {
    {"ListObjects", ADMIN_MAX_BODY, NULL, true},
    {"GetObject", ADMIN_MAX_BODY, NULL, true},
    {"PutObject", ADMIN_OBJECT_MAX_BODY, "use an S3 client for larger files", true},
    {"DeleteObject", ADMIN_MAX_BODY, NULL, true},
};

static const struct route_opts *call_opts(const struct admin_call *c)
{
    static const struct route_opts dflt = {NULL, ADMIN_MAX_BODY, NULL, false};
    for (size_t i = 0; c->route && i < GZ_ARRAY_LEN(route_opts); i++)
        if (strcmp(route_opts[i].operation, c->route->operation) == 0)
            return &route_opts[i];
    return &dflt;
}

static struct admin_call *call_new(struct http_req *req, void *app)
{
    struct admin_call *c = http_req_alloc(req, sizeof(*c));
    memset(c, 0, sizeof(*c));
    c->svc = app;
    c->req = req;
    c->info = http_req_info(req);
    gz_buf_init(&c->body, ADMIN_MAX_BODY);
    gz_buf_init(&c->out, ADMIN_MAX_RESPONSE);
    http_req_on_free(req, call_cleanup, c);
    gz_log_escape(c->resource, sizeof(c->resource), c->info->path);
    return c;
}

static void call_dispatch(struct admin_call *c, bool method_mismatch);

void admin_on_request(struct http_req *req, void *app)
{
    struct admin_call *c = call_new(req, app);
    bool method_mismatch;
    c->route = call_route(c, &method_mismatch);
    if (!call_authenticate(c)) {
        admin__finish(c);
        return;
    }
    call_dispatch(c, method_mismatch);
}

void admin_on_request_as(struct http_req *req, void *app, const struct iam_principal *who)
{
    struct admin_call *c = call_new(req, app);
    bool method_mismatch;
    c->route = call_route(c, &method_mismatch);
    c->who = *who;
    explicit_bzero(c->who.secret_key, sizeof(c->who.secret_key));
    c->role = c->who.is_root ? IAM_ROLE_PLATFORM_ADMIN : c->who.role;
    c->authenticated = true;
    snprintf(c->tenant, sizeof(c->tenant), "%s",
             c->who.tenant_name[0] ? c->who.tenant_name : IAM_PLATFORM_TENANT);
    call_dispatch(c, method_mismatch);
}

/* After authentication: the route, the role, the body limit, then the handler. */
static void call_dispatch(struct admin_call *c, bool method_mismatch)
{
    struct http_req *req = c->req;
    const struct route_opts *opts = call_opts(c);
    const char *why = NULL;
    if (c->route == NULL && method_mismatch)
        admin__reply_error(c, 405, "MethodNotAllowed", "%.*s is not allowed on %s",
                           (int)GZ_MIN(c->info->method.len, 16), c->info->method.ptr,
                           c->resource);
    else if (c->route == NULL)
        admin__reply_error(c, 404, "NotFound", "no such admin API endpoint: %s", c->resource);
    else if ((why = call_access_denied(c)) != NULL)
        admin__deny(c, "%s (role %s)", why, iam_role_name(c->role));
    else if (c->info->content_length > opts->max_body)
        admin__reply_error(c, 413, "EntityTooLarge", "the request body exceeds %lld bytes%s%s",
                           (long long)opts->max_body, opts->hint ? ": " : "",
                           opts->hint ? opts->hint : "");
    if (c->done) {
        admin__finish(c);
        return;
    }
    if (opts->on_loop) {
        c->route->handler(c); /* it finishes the call, now or from its callbacks */
        return;
    }
    http_req_read_body(req, on_body_data, on_body_end, c);
}

void admin_protocol_error(int status, const char *message, const char *request_id,
                          struct gz_buf *body, const char **content_type, void *app)
{
    const char *code = status == 400   ? "BadRequest"
                       : status == 408 ? "RequestTimeout"
                       : status == 413 ? "EntityTooLarge"
                       : status == 414 ? "URITooLong"
                       : status == 431 ? "RequestHeaderFieldsTooLarge"
                       : status == 503 ? "ServiceUnavailable"
                       : status == 505 ? "HttpVersionNotSupported"
                                       : "BadRequest";
    admin__error_doc(body, code, message ? message : "", request_id ? request_id : "");
    *content_type = "application/json";
}
