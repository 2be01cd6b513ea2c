/*
 * console.h - the web console (layer console): serves the admin listener. It answers
 *   /console/...            the embedded single-page app (assets.h; ETag, 304, cache rules),
 *   /console/api/session    sign-in (POST), the current session (GET), sign-out (DELETE),
 *   /admin/v1/...           passed to the admin API: SigV4 requests unchanged
 *                           (admin_on_request), session-cookie requests after CSRF and Origin
 *                           checks as the session's principal (admin_on_request_as),
 *   /                       302 to /console/.
 * Every response carries Content-Security-Policy, X-Content-Type-Options, X-Frame-Options and
 * Referrer-Policy. The wire contract is docs/console-api.md.
 *
 * Sessions live in memory (lost on restart): a cookie gzy_session=<32 random bytes, hex>,
 * HttpOnly, SameSite=Strict, with an absolute lifetime and an idle timeout; the principal is
 * looked up again on every request, so a disabled or deleted key or a suspended tenant ends
 * the session at once. Failed sign-ins are rate-limited per client address.
 *
 * Threading: console_on_request runs on the http loop thread; the session table has its own
 * mutex, so any number of loop threads may share one console. console_destroy must be
 * called after the http_server using it has returned from http_server_run().
 */
#ifndef GZ_CONSOLE_H
#define GZ_CONSOLE_H

#include "../admin/admin.h"
#include "../http/http.h"

#define CONSOLE_DEFAULT_SESSION_TTL_S (8 * 3600) /* absolute session lifetime */
#define CONSOLE_DEFAULT_IDLE_S (30 * 60)         /* a session unused this long ends */
#define CONSOLE_MAX_SESSIONS 4096                /* beyond: the least recently used goes */
#define CONSOLE_SIGNIN_FAILURES 10               /* failed sign-ins per address per window */
#define CONSOLE_SIGNIN_WINDOW_S 60
#define CONSOLE_MAX_BODY 4096 /* the sign-in request body */
#define CONSOLE_COOKIE "gzy_session"

struct console;

struct console_config {
    struct iam *iam;             /* required: sign-in and the per-request principal check */
    struct admin_service *admin; /* required: /admin/v1/ calls */
    struct audit *audit;         /* NULL = sign-in and sign-out are not recorded */
    int64_t session_ttl_s;       /* 0 = CONSOLE_DEFAULT_SESSION_TTL_S */
    int64_t idle_timeout_s;      /* 0 = CONSOLE_DEFAULT_IDLE_S */
    bool secure_cookie;          /* the listener uses TLS: cookies get the Secure flag */
};

/* The console keeps the pointers in cfg (not owned). */
int console_create(const struct console_config *cfg, struct console **out);
/* Forgets every session and frees the console. NULL-safe. */
void console_destroy(struct console *con);

/* The http_request_cb of the admin listener; app is the console. */
void console_on_request(struct http_req *req, void *app);

#endif
