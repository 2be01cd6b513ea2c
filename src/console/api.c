/*
 * api.c - /console/api/session: sign in with an access key and its secret (POST), read the
 * current session (GET), sign out (DELETE). Sign-ins, failed ones too, and sign-outs are
 * audited as admin:ConsoleSignIn / admin:ConsoleSignOut.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>

#include "../util/hash.h"
#include "console_int.h"

struct signin {
    struct console *con;
    struct http_req *req;
    struct gz_buf body;
    bool too_large;
};

void console__audit(struct console *con, struct http_req *req, const char *action,
                    const char *principal, const struct iam_principal *who, int status,
                    const char *error_code)
{
    if (con->audit == NULL)
        return;
    const struct http_req_info *info = http_req_info(req);
    const char *tenant = who && who->tenant_name[0] ? who->tenant_name : IAM_PLATFORM_TENANT;
    struct audit_entry e = {
        .request_id = info->request_id,
        .principal = principal && *principal ? principal : "anonymous",
        .user = who ? who->display_name : NULL,
        .tenant = tenant,
        .source = info->peer_str,
        .action = action,
        .resource = "console/session",
        .outcome = status < 300                                      ? "allow"
                   : status == 403 || status == 401 || status == 429 ? "deny"
                                                                     : "error",
        .status = status,
        .error_code = error_code,
        .bytes = 0,
    };
    audit_append(con->audit, &e);
}

/* The session document (also the answer to GET). */
static char *session_json(const struct console_session *s, const struct iam_principal *who)
{
    char iso[25];
    cJSON *doc = cJSON_CreateObject();
    enum iam_role role = who->is_root ? IAM_ROLE_PLATFORM_ADMIN : who->role;
    cJSON_AddStringToObject(doc, "user", who->display_name);
    cJSON_AddStringToObject(doc, "user_id", who->user_id);
    cJSON_AddStringToObject(doc, "access_key", who->access_key);
    cJSON_AddStringToObject(doc, "tenant", who->tenant_id);
    cJSON_AddStringToObject(doc, "tenant_name",
                            who->tenant_name[0] ? who->tenant_name : IAM_PLATFORM_TENANT);
    cJSON_AddStringToObject(doc, "role", iam_role_name(role));
    cJSON_AddStringToObject(doc, "csrf_token", s->csrf);
    gz_time_iso8601(s->expires_ms, iso);
    cJSON_AddStringToObject(doc, "expires", iso);
    cJSON_AddNumberToObject(doc, "expires_ms", (double)s->expires_ms);
    char *text = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    return text;
}

static void set_cookie(struct console *con, struct http_req *req, const char *token,
                       int64_t max_age_s)
{
    http_resp_headerf(req, "Set-Cookie", "%s=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%lld%s",
                      CONSOLE_COOKIE, token, (long long)max_age_s,
                      con->secure_cookie ? "; Secure" : "");
}

/* ---- POST: sign in ---- */

/* Checks the key and secret in constant time; 0 and *who, or -EACCES. */
static int signin_verify(struct console *con, const char *ak, const char *sk,
                         struct iam_principal *who)
{
    char dummy[IAM_MAX_SECRET + 1] = "";
    int rc = iam_principal_lookup(con->iam, gz_slice_cstr(ak), who);
    const char *want = rc == 0 ? who->secret_key : dummy;
    /* Compare fixed-size buffers so the time does not depend on where they differ. */
    char given[IAM_MAX_SECRET + 1] = "";
    snprintf(given, sizeof(given), "%s", sk);
    char expect[IAM_MAX_SECRET + 1] = "";
    snprintf(expect, sizeof(expect), "%s", want);
    bool eq = gz_consttime_eq(given, sizeof(given), expect, sizeof(expect)) &&
              strlen(sk) <= IAM_MAX_SECRET;
    explicit_bzero(given, sizeof(given));
    explicit_bzero(expect, sizeof(expect));
    explicit_bzero(who->secret_key, sizeof(who->secret_key));
    return rc == 0 && eq && sk[0] != '\0' ? 0 : -EACCES;
}

static const char *json_str(cJSON *doc, const char *name)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, name);
    return cJSON_IsString(v) && v->valuestring != NULL ? v->valuestring : NULL;
}

static void signin_finish(struct signin *si)
{
    struct console *con = si->con;
    struct http_req *req = si->req;
    struct iam_principal who;
    char addr[64], claimed[IAM_MAX_ACCESS_KEY + 1] = "";
    memset(&who, 0, sizeof(who));
    console__peer_addr(req, addr, sizeof(addr));
    cJSON *doc = cJSON_ParseWithLength(si->body.ptr ? si->body.ptr : "", si->body.len);
    const char *ak = doc ? json_str(doc, "access_key") : NULL;
    const char *sk = doc ? json_str(doc, "secret_key") : NULL;
    if (ak == NULL || sk == NULL) {
        console__reply_error(req, 400, "InvalidArgument",
                             "send {\"access_key\": ..., \"secret_key\": ...} as JSON");
        goto out;
    }
    gz_log_escape(claimed, sizeof(claimed), gz_slice_cstr(ak));
    if (signin_verify(con, ak, sk, &who) < 0) {
        console__rate_fail(con, addr);
        console__audit(con, req, "admin:ConsoleSignIn", claimed, NULL, 401, "InvalidCredentials");
        console__reply_error(req, 401, "InvalidCredentials",
                             "the access key or the secret key is wrong, or the key is disabled");
        goto out;
    }
    if (who.tenant_suspended) {
        console__audit(con, req, "admin:ConsoleSignIn", claimed, &who, 403, "TenantSuspended");
        console__reply_error(req, 403, "TenantSuspended",
                             "tenant '%s' is suspended: ask the platform operator to resume it",
                             who.tenant_name);
        goto out;
    }
    struct console_session s;
    char token[CONSOLE_TOKEN_HEX + 1];
    console__session_end(con, req); /* a session this browser held before ends: no fixation */
    console__session_create(con, &who, token, &s);
    char *text = session_json(&s, &who);
    set_cookie(con, req, token, con->ttl_ms / 1000);
    explicit_bzero(token, sizeof(token));
    console__audit(con, req, "admin:ConsoleSignIn", claimed, &who, 200, NULL);
    console__reply_json(req, 200, text);
    cJSON_free(text);
    explicit_bzero(&s, sizeof(s));
out:
    if (doc != NULL && sk != NULL)
        explicit_bzero((char *)sk, strlen(sk));
    cJSON_Delete(doc);
    explicit_bzero(&who, sizeof(who));
}

static void signin_cleanup(void *arg)
{
    struct signin *si = arg;
    if (si->body.ptr != NULL)
        explicit_bzero(si->body.ptr, si->body.len);
    gz_buf_free(&si->body);
}

static void signin_data(struct http_req *req, struct gz_slice data, void *ud)
{
    struct signin *si = ud;
    (void)req;
    if (!si->too_large && gz_buf_append(&si->body, data.ptr, data.len) < 0)
        si->too_large = true;
}

static void signin_end(struct http_req *req, int status, void *ud)
{
    struct signin *si = ud;
    if (status < 0)
        console__reply_error(req, 400, "IncompleteBody", "the request body was not received");
    else if (si->too_large)
        console__reply_error(req, 413, "EntityTooLarge", "the sign-in body exceeds %d bytes",
                             CONSOLE_MAX_BODY);
    else
        signin_finish(si);
}

static void signin_start(struct console *con, struct http_req *req)
{
    char addr[64];
    int64_t retry = 0;
    console__peer_addr(req, addr, sizeof(addr));
    if (!console__origin_ok(req)) {
        console__reply_error(req, 403, "OriginMismatch",
                             "the Origin header does not match this server");
        return;
    }
    if (console__rate_blocked(con, addr, &retry)) {
        http_resp_headerf(req, "Retry-After", "%lld", (long long)retry);
        console__audit(con, req, "admin:ConsoleSignIn", NULL, NULL, 429, "TooManyRequests");
        console__reply_error(req, 429, "TooManyRequests",
                             "too many failed sign-ins from %s: try again in %lld seconds", addr,
                             (long long)retry);
        return;
    }
    if (http_req_info(req)->content_length > CONSOLE_MAX_BODY) {
        console__reply_error(req, 413, "EntityTooLarge", "the sign-in body exceeds %d bytes",
                             CONSOLE_MAX_BODY);
        return;
    }
    struct signin *si = http_req_alloc(req, sizeof(*si));
    memset(si, 0, sizeof(*si));
    si->con = con;
    si->req = req;
    gz_buf_init(&si->body, CONSOLE_MAX_BODY);
    http_req_on_free(req, signin_cleanup, si);
    http_req_read_body(req, signin_data, signin_end, si);
}

/* ---- GET and DELETE ---- */

static void session_show(struct console *con, struct http_req *req)
{
    struct console_session s;
    struct iam_principal who;
    if (console__session_get(con, req, &s, &who) < 0) {
        console__reply_error(req, 401, "NoSession", "not signed in, or the session has ended");
        return;
    }
    char *text = session_json(&s, &who);
    console__reply_json(req, 200, text);
    cJSON_free(text);
    explicit_bzero(&s, sizeof(s));
}

static void session_delete(struct console *con, struct http_req *req)
{
    struct console_session s;
    struct iam_principal who;
    int rc = console__session_get(con, req, &s, &who);
    if (rc == 0) {
        struct gz_slice csrf = http_req_header(req, "x-csrf-token");
        if (!gz_consttime_eq(csrf.ptr ? csrf.ptr : "", csrf.len, s.csrf, strlen(s.csrf))) {
            console__reply_error(req, 403, "CSRFTokenMismatch",
                                 "send the session's csrf_token in the X-CSRF-Token header");
            return;
        }
        console__session_end(con, req);
        console__audit(con, req, "admin:ConsoleSignOut", who.access_key, &who, 204, NULL);
    }
    set_cookie(con, req, "", 0);
    console__reply_json(req, 204, NULL);
}

void console__api_session(struct console *con, struct http_req *req)
{
    struct gz_slice m = http_req_info(req)->method;
    if (gz_slice_eq_cstr(m, "POST"))
        signin_start(con, req);
    else if (gz_slice_eq_cstr(m, "GET") || gz_slice_eq_cstr(m, "HEAD"))
        session_show(con, req);
    else if (gz_slice_eq_cstr(m, "DELETE"))
        session_delete(con, req);
    else
        console__reply_error(req, 405, "MethodNotAllowed",
                             "use POST (sign in), GET or DELETE (sign out)");
}
