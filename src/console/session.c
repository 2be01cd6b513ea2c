/*
 * session.c - the console's sessions and the sign-in rate limiter, in memory.
 *
 * A session is found by the SHA-256 of its cookie value, compared in constant time against
 * every slot, so neither the table nor the timing tells an attacker anything about live
 * tokens (the table is small: a linear scan of CONSOLE_MAX_SESSIONS hashes costs microseconds).
 * Only the access key is kept: the principal (role, tenant, whether the key is enabled and the
 * tenant active) is looked up again on every request from iam's in-memory cache.
 */
#include <errno.h>
#include <stdio.h>

#include "../util/hash.h"
#include "console_int.h"

/* ---- the cookie ---- */

/* The value of cookie `name` in the Cookie header(s); NULL slice if absent. */
static struct gz_slice cookie_value(struct http_req *req, const char *name)
{
    const struct http_req_info *info = http_req_info(req);
    size_t nlen = strlen(name);
    for (size_t i = 0; i < info->nheaders; i++) {
        if (!gz_slice_case_eq_cstr(info->headers[i].name, "cookie"))
            continue;
        struct gz_slice v = info->headers[i].value;
        size_t pos = 0;
        while (pos < v.len) {
            const char *semi = memchr(v.ptr + pos, ';', v.len - pos);
            size_t end = semi ? (size_t)(semi - v.ptr) : v.len;
            struct gz_slice pair = gz_slice_trim(gz_slice(v.ptr + pos, end - pos));
            if (pair.len > nlen && memcmp(pair.ptr, name, nlen) == 0 && pair.ptr[nlen] == '=')
                return gz_slice(pair.ptr + nlen + 1, pair.len - nlen - 1);
            pos = end + 1;
        }
    }
    return GZ_SLICE_NULL;
}

/* The token's hash, or -ENOENT if the request carries no well-formed session cookie. */
static int cookie_hash(struct http_req *req, uint8_t hash[32])
{
    struct gz_slice t = cookie_value(req, CONSOLE_COOKIE);
    if (t.ptr == NULL || t.len != CONSOLE_TOKEN_HEX)
        return -ENOENT;
    gz_sha256(t.ptr, t.len, hash);
    return 0;
}

/* ---- the table (callers hold con->mu) ---- */

static struct console_session *find_locked(struct console *con, const uint8_t hash[32])
{
    struct console_session *hit = NULL;
    for (size_t i = 0; i < CONSOLE_MAX_SESSIONS; i++) {
        struct console_session *s = &con->sessions[i];
        bool eq = gz_consttime_eq(s->token_hash, 32, hash, 32);
        if (eq && s->used)
            hit = s;
    }
    return hit;
}

static void drop_locked(struct console_session *s)
{
    explicit_bzero(s, sizeof(*s));
}

/* A free slot, else the least recently used one (its session ends). */
static struct console_session *slot_locked(struct console *con, int64_t now)
{
    struct console_session *lru = &con->sessions[0];
    for (size_t i = 0; i < CONSOLE_MAX_SESSIONS; i++) {
        struct console_session *s = &con->sessions[i];
        if (!s->used || s->expires_ms <= now)
            return s;
        if (s->last_ms < lru->last_ms)
            lru = s;
    }
    return lru;
}

void console__session_create(struct console *con, const struct iam_principal *who,
                             char token[CONSOLE_TOKEN_HEX + 1], struct console_session *out)
{
    uint8_t raw[CONSOLE_TOKEN_BYTES], csrf[CONSOLE_TOKEN_BYTES];
    int64_t now = gz_now_ms();
    gz_random_bytes(raw, sizeof(raw));
    gz_random_bytes(csrf, sizeof(csrf));
    gz_hex_encode(token, raw, sizeof(raw));
    pthread_mutex_lock(&con->mu);
    struct console_session *s = slot_locked(con, now);
    drop_locked(s);
    s->used = true;
    gz_sha256(token, CONSOLE_TOKEN_HEX, s->token_hash);
    gz_hex_encode(s->csrf, csrf, sizeof(csrf));
    snprintf(s->access_key, sizeof(s->access_key), "%s", who->access_key);
    s->created_ms = now;
    s->last_ms = now;
    s->expires_ms = now + con->ttl_ms;
    *out = *s;
    pthread_mutex_unlock(&con->mu);
    explicit_bzero(raw, sizeof(raw));
    explicit_bzero(csrf, sizeof(csrf));
}

/* Is the principal still allowed a session? */
static bool principal_valid(struct console *con, const char *access_key, struct iam_principal *who)
{
    int rc = iam_principal_lookup(con->iam, gz_slice_cstr(access_key), who);
    explicit_bzero(who->secret_key, sizeof(who->secret_key));
    return rc == 0 && !who->tenant_suspended;
}

int console__session_get(struct console *con, struct http_req *req, struct console_session *out,
                         struct iam_principal *who)
{
    uint8_t hash[32];
    if (cookie_hash(req, hash) < 0)
        return -ENOENT;
    int64_t now = gz_now_ms();
    int rc = -EKEYEXPIRED;
    pthread_mutex_lock(&con->mu);
    struct console_session *s = find_locked(con, hash);
    if (s != NULL && (now >= s->expires_ms || now - s->last_ms >= con->idle_ms)) {
        drop_locked(s);
        s = NULL;
    }
    if (s != NULL) {
        s->last_ms = now;
        *out = *s;
        rc = 0;
    }
    pthread_mutex_unlock(&con->mu);
    /* The look-up is outside the lock: iam has its own. A revoked key ends the session. */
    if (rc == 0 && !principal_valid(con, out->access_key, who)) {
        console__session_end(con, req);
        rc = -EKEYEXPIRED;
    }
    return rc;
}

void console__session_end(struct console *con, struct http_req *req)
{
    uint8_t hash[32];
    if (cookie_hash(req, hash) < 0)
        return;
    pthread_mutex_lock(&con->mu);
    struct console_session *s = find_locked(con, hash);
    if (s != NULL)
        drop_locked(s);
    pthread_mutex_unlock(&con->mu);
}

/* ---- failed sign-ins per address ---- */

/* The address's slot (a new one if absent: a free or the oldest slot). Caller holds mu. */
static struct console_rate *rate_slot_locked(struct console *con, const char *addr, bool create)
{
    struct console_rate *oldest = &con->rate[0];
    for (size_t i = 0; i < CONSOLE_RATE_SLOTS; i++) {
        struct console_rate *r = &con->rate[i];
        if (strcmp(r->addr, addr) == 0)
            return r;
        if (r->window_start_ms < oldest->window_start_ms)
            oldest = r;
    }
    if (!create)
        return NULL;
    memset(oldest, 0, sizeof(*oldest));
    snprintf(oldest->addr, sizeof(oldest->addr), "%s", addr);
    return oldest;
}

bool console__rate_blocked(struct console *con, const char *addr, int64_t *retry_after_s)
{
    int64_t now = gz_now_ms(), window = CONSOLE_SIGNIN_WINDOW_S * 1000LL;
    bool blocked = false;
    pthread_mutex_lock(&con->mu);
    struct console_rate *r = rate_slot_locked(con, addr, false);
    if (r != NULL && now - r->window_start_ms < window && r->failures >= CONSOLE_SIGNIN_FAILURES) {
        blocked = true;
        *retry_after_s = (r->window_start_ms + window - now + 999) / 1000;
    }
    pthread_mutex_unlock(&con->mu);
    return blocked;
}

void console__rate_fail(struct console *con, const char *addr)
{
    int64_t now = gz_now_ms();
    pthread_mutex_lock(&con->mu);
    struct console_rate *r = rate_slot_locked(con, addr, true);
    if (now - r->window_start_ms >= CONSOLE_SIGNIN_WINDOW_S * 1000LL) {
        r->window_start_ms = now;
        r->failures = 0;
    }
    r->failures++;
    pthread_mutex_unlock(&con->mu);
}
