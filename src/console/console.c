/*
 * console.c - the admin listener's request handler: the console's files, the session API,
 * and the hand-off of /admin/v1/ calls to the admin service (by SigV4 as before, or as a
 * session's principal after the CSRF and Origin checks).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "../util/hash.h"
#include "assets.h"
#include "console_int.h"

#define CONSOLE_ROOT "/console/"
#define CONSOLE_API_SESSION "/console/api/session"
#define CONSOLE_CSP                                                                                \
    "default-src 'self'; script-src 'self'; style-src 'self'; "                                  \
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "               \
    "form-action 'self'; frame-ancestors 'none'"
#define CACHE_IMMUTABLE "public, max-age=31536000, immutable"

int console_create(const struct console_config *cfg, struct console **out)
{
    *out = NULL;
    if (cfg->iam == NULL || cfg->admin == NULL)
        return -EINVAL;
    struct console *con = gz_calloc(1, sizeof(*con));
    con->iam = cfg->iam;
    con->admin = cfg->admin;
    con->audit = cfg->audit;
    con->ttl_ms =
        1000 * (cfg->session_ttl_s > 0 ? cfg->session_ttl_s : CONSOLE_DEFAULT_SESSION_TTL_S);
    con->idle_ms = 1000 * (cfg->idle_timeout_s > 0 ? cfg->idle_timeout_s : CONSOLE_DEFAULT_IDLE_S);
    con->secure_cookie = cfg->secure_cookie;
    con->sessions = gz_calloc(CONSOLE_MAX_SESSIONS, sizeof(*con->sessions));
    pthread_mutex_init(&con->mu, NULL);
    *out = con;
    return 0;
}

void console_destroy(struct console *con)
{
    if (con == NULL)
        return;
    explicit_bzero(con->sessions, CONSOLE_MAX_SESSIONS * sizeof(*con->sessions));
    gz_free(con->sessions);
    pthread_mutex_destroy(&con->mu);
    gz_free(con);
}

/* ---- response helpers ---- */

static void security_headers(struct http_req *req)
{
    http_resp_header(req, "Content-Security-Policy", GZ_SLICE_LIT(CONSOLE_CSP));
    http_resp_header(req, "X-Content-Type-Options", GZ_SLICE_LIT("nosniff"));
    http_resp_header(req, "X-Frame-Options", GZ_SLICE_LIT("DENY"));
    http_resp_header(req, "Referrer-Policy", GZ_SLICE_LIT("no-referrer"));
}

void console__reply_json(struct http_req *req, int status, const char *json)
{
    http_resp_status(req, status);
    http_resp_header(req, "Cache-Control", GZ_SLICE_LIT("no-store"));
    if (json != NULL)
        http_resp_header(req, "Content-Type", GZ_SLICE_LIT("application/json"));
    http_resp_send(req, json ? gz_slice_cstr(json) : GZ_SLICE_NULL);
}

void console__reply_error(struct http_req *req, int status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "error", code);
    cJSON_AddStringToObject(doc, "message", msg);
    cJSON_AddStringToObject(doc, "request_id", http_req_info(req)->request_id);
    char *text = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    console__reply_json(req, status, text ? text : "{}");
    cJSON_free(text);
}

void console__peer_addr(struct http_req *req, char *out, size_t outsz)
{
    const char *p = http_req_info(req)->peer_str;
    const char *colon = strrchr(p, ':');
    size_t n = colon ? (size_t)(colon - p) : strlen(p);
    if (n >= 2 && p[0] == '[' && p[n - 1] == ']') {
        p++;
        n -= 2;
    }
    snprintf(out, outsz, "%.*s", (int)n, p);
}

bool console__origin_ok(struct http_req *req)
{
    struct gz_slice origin = http_req_header(req, "origin");
    struct gz_slice host = http_req_header(req, "host");
    if (origin.ptr == NULL)
        return true;
    const char *sep = origin.len > 3 ? memmem(origin.ptr, origin.len, "://", 3) : NULL;
    if (sep == NULL || host.ptr == NULL)
        return false;
    struct gz_slice authority = gz_slice(sep + 3, origin.len - (size_t)(sep + 3 - origin.ptr));
    return gz_slice_case_eq(authority, host);
}

/* ---- the console's files ---- */

static const struct console_asset *asset_find(struct gz_slice path)
{
    for (size_t i = 0; i < console_assets_count; i++)
        if (gz_slice_eq_cstr(path, console_assets[i].path))
            return &console_assets[i];
    return NULL;
}

/* esbuild names hashed files NAME-HASH.EXT (8 or more letters and digits). */
static bool asset_hashed(const char *path)
{
    const char *base = strrchr(path, '/');
    const char *dot = strrchr(path, '.');
    const char *dash = strrchr(path, '-');
    if (base == NULL || dot == NULL || dash == NULL || dash < base || dot < dash)
        return false;
    if (dot - dash - 1 < 8)
        return false;
    for (const char *p = dash + 1; p < dot; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
            return false;
    return true;
}

static void asset_not_built(struct http_req *req)
{
    static const char page[] =
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<title>guoziyun console</title></head><body><h1>The console was not built</h1>"
        "<p>This gzy binary was built without the web console (npm was not available). "
        "Install Node.js and npm, run <code>make</code> again, and restart gzy. The admin "
        "API under /admin/v1/ works without it.</p>"
        "<p lang=\"zh-CN\">此 gzy 构建未包含网页控制台（构建时没有 npm）。"
        "安装 Node.js 和 npm 后重新运行 make 并重启 gzy。</p></body></html>";
    http_resp_status(req, 503);
    http_resp_header(req, "Content-Type", GZ_SLICE_LIT("text/html; charset=utf-8"));
    http_resp_header(req, "Cache-Control", GZ_SLICE_LIT("no-store"));
    http_resp_send(req, GZ_SLICE_LIT(page));
}

static void asset_serve(struct http_req *req)
{
    const struct http_req_info *info = http_req_info(req);
    struct gz_slice rel = gz_slice(info->path.ptr + strlen(CONSOLE_ROOT) - 1,
                                   info->path.len - strlen(CONSOLE_ROOT) + 1);
    if (!gz_slice_eq_cstr(info->method, "GET") && !gz_slice_eq_cstr(info->method, "HEAD")) {
        console__reply_error(req, 405, "MethodNotAllowed", "the console's files are read-only");
        return;
    }
    if (console_assets_count == 0) {
        asset_not_built(req);
        return;
    }
    if (gz_slice_eq_cstr(rel, "/"))
        rel = GZ_SLICE_LIT("/index.html");
    const struct console_asset *a = asset_find(rel);
    if (a == NULL) {
        char esc[256];
        gz_log_escape(esc, sizeof(esc), info->path);
        console__reply_error(req, 404, "NotFound", "no such console file: %s", esc);
        return;
    }
    bool immutable = strcmp(a->path, "/index.html") != 0 && asset_hashed(a->path);
    http_resp_header(req, "ETag", gz_slice_cstr(a->etag));
    http_resp_header(req, "Cache-Control",
                     immutable ? GZ_SLICE_LIT(CACHE_IMMUTABLE) : GZ_SLICE_LIT("no-cache"));
    struct gz_slice inm = http_req_header(req, "if-none-match");
    if (inm.ptr != NULL && memmem(inm.ptr, inm.len, a->etag, strlen(a->etag)) != NULL) {
        http_resp_status(req, 304);
        http_resp_send(req, GZ_SLICE_NULL);
        return;
    }
    http_resp_status(req, 200);
    http_resp_header(req, "Content-Type", gz_slice_cstr(a->content_type));
    http_resp_send(req, gz_slice(a->data, a->len));
}

/* ---- /admin/v1/ with a session cookie ---- */

static bool method_is_safe(struct gz_slice m)
{
    return gz_slice_eq_cstr(m, "GET") || gz_slice_eq_cstr(m, "HEAD");
}

static void admin_with_session(struct console *con, struct http_req *req)
{
    struct console_session s;
    struct iam_principal who;
    if (console__session_get(con, req, &s, &who) < 0) {
        console__reply_error(req, 401, "SessionExpired",
                             "the console session has ended: sign in again");
        return;
    }
    if (!console__origin_ok(req)) {
        console__reply_error(req, 403, "OriginMismatch",
                             "the Origin header does not match this server");
        goto out;
    }
    if (!method_is_safe(http_req_info(req)->method)) {
        struct gz_slice t = http_req_header(req, "x-csrf-token");
        if (!gz_consttime_eq(t.ptr ? t.ptr : "", t.len, s.csrf, strlen(s.csrf))) {
            console__reply_error(req, 403, "CSRFTokenMismatch",
                                 "send the session's csrf_token in the X-CSRF-Token header");
            goto out;
        }
    }
    admin_on_request_as(req, con->admin, &who);
out:
    explicit_bzero(&s, sizeof(s));
    explicit_bzero(&who, sizeof(who));
}

/* ---- the entry point ---- */

static bool path_is(struct gz_slice path, const char *s)
{
    return gz_slice_eq_cstr(path, s);
}

void console_on_request(struct http_req *req, void *app)
{
    struct console *con = app;
    const struct http_req_info *info = http_req_info(req);
    struct gz_slice path = info->path;
    security_headers(req);
    if (gz_slice_starts_with(path, "/admin/")) {
        /* SigV4 (an Authorization header or a presigned query) wins over a cookie. */
        bool signed_req = http_req_header(req, "authorization").ptr != NULL ||
                          (info->query.len && memmem(info->query.ptr, info->query.len,
                                                     "X-Amz-Signature=", 16) != NULL);
        struct gz_slice cookie = http_req_header(req, "cookie");
        bool has_cookie = cookie.ptr != NULL && memmem(cookie.ptr, cookie.len, CONSOLE_COOKIE "=",
                                                       sizeof(CONSOLE_COOKIE)) != NULL;
        if (!signed_req && has_cookie)
            admin_with_session(con, req);
        else
            admin_on_request(req, con->admin);
        return;
    }
    if (path_is(path, CONSOLE_API_SESSION)) {
        console__api_session(con, req);
        return;
    }
    if (gz_slice_starts_with(path, "/console/api/")) {
        console__reply_error(req, 404, "NotFound", "no such console API endpoint");
        return;
    }
    if (gz_slice_starts_with(path, CONSOLE_ROOT)) {
        asset_serve(req);
        return;
    }
    if (path_is(path, "/") || path_is(path, "/console")) {
        http_resp_status(req, 302);
        http_resp_header(req, "Location", GZ_SLICE_LIT(CONSOLE_ROOT));
        http_resp_send(req, GZ_SLICE_NULL);
        return;
    }
    /* Anything else (a browser's /favicon.ico, robots.txt, a scanner) is not an admin call:
     * a plain 404, not an audited denial. */
    console__reply_error(req, 404, "NotFound", "nothing here; the console is at /console/");
}
