/*
 * console_int.h - private to src/console: the console object, the session table
 * (session.c), the session API (api.c) and the response helpers (console.c).
 */
#ifndef GZ_CONSOLE_INT_H
#define GZ_CONSOLE_INT_H

#include <pthread.h>

#include "../iam/audit.h"
#include "../iam/iam.h"
#include "console.h"

#define CONSOLE_TOKEN_BYTES 32
#define CONSOLE_TOKEN_HEX (2 * CONSOLE_TOKEN_BYTES)
#define CONSOLE_RATE_SLOTS 256

struct console_session {
    bool used;
    uint8_t token_hash[32]; /* SHA-256 of the cookie value (never kept itself) */
    char csrf[CONSOLE_TOKEN_HEX + 1];
    char access_key[IAM_MAX_ACCESS_KEY + 1];
    int64_t created_ms, expires_ms, last_ms;
};

struct console_rate {
    char addr[64]; /* client address without the port; "" = free */
    int64_t window_start_ms;
    int failures;
};

struct console {
    struct iam *iam;
    struct admin_service *admin;
    struct audit *audit;
    int64_t ttl_ms, idle_ms;
    bool secure_cookie;
    pthread_mutex_t mu;               /* guards sessions and rate */
    struct console_session *sessions; /* CONSOLE_MAX_SESSIONS */
    struct console_rate rate[CONSOLE_RATE_SLOTS];
};

/* ---- session.c (thread-safe) ---- */

/* A new session for principal; fills the cookie token and the session's copy. */
void console__session_create(struct console *con, const struct iam_principal *who,
                             char token[CONSOLE_TOKEN_HEX + 1], struct console_session *out);
/* The session named by the request's cookie, checked (expiry, idle, the key and tenant still
 * valid) and touched; *who gets the current principal (secret wiped). 0, or -ENOENT (no
 * cookie), -EKEYEXPIRED (unknown, expired or revoked: the session is gone). */
int console__session_get(struct console *con, struct http_req *req, struct console_session *out,
                         struct iam_principal *who);
/* Ends the session named by the request's cookie, if any. */
void console__session_end(struct console *con, struct http_req *req);

/* Failed sign-ins per client address: true if addr is over the limit now. */
bool console__rate_blocked(struct console *con, const char *addr, int64_t *retry_after_s);
void console__rate_fail(struct console *con, const char *addr);

/* ---- api.c ---- */
void console__api_session(struct console *con, struct http_req *req);
/* Records admin:<action> in the audit log (no-op without one). */
void console__audit(struct console *con, struct http_req *req, const char *action,
                    const char *principal, const struct iam_principal *who, int status,
                    const char *error_code);

/* ---- console.c: responses ---- */
/* {"error": code, "message": msg, "request_id": ...} with status; finishes the request. */
void console__reply_error(struct http_req *req, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Sends a JSON document (NULL: an empty 204-style body) and finishes the request. */
void console__reply_json(struct http_req *req, int status, const char *json);
/* The client address without the port ("127.0.0.1", "::1"). */
void console__peer_addr(struct http_req *req, char *out, size_t outsz);
/* Origin, when present, must name this Host (same scheme-less authority). */
bool console__origin_ok(struct http_req *req);

#endif
