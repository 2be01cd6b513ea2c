/*
 * conn.c - one connection as an explicit state machine (see enum http__conn_state):
 *
 *   IDLE --first byte--> HEADERS --headers complete--> REQUEST --response flushed-->
 *        IDLE/HEADERS (keep-alive) | DISCARD (drain a small unread body) | LINGER | CLOSED
 *
 * Framing is llhttp's, paused at two points: at the end of a header block (so the request is
 * dispatched outside the parser) and at the end of each message (so a pipelined request N+1
 * is not parsed before response N has been handed to the kernel). While a request is with the
 * application, later bytes stay in the bounded read buffer; reading stops when it is full or
 * when the application pauses the body.
 *
 * Header slices point into the read buffer, which therefore never moves while a request
 * holds them: the buffer is only compacted at request boundaries, and during a body only the
 * bytes after the header block move.
 *
 * Timers: one uv_timer per connection. Activity only stamps a time; the timer is re-armed
 * when it fires early or when a deadline moves earlier, which keeps the timer heap out of
 * the per-read path.
 */
#include <errno.h>
#include <stdio.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "http_int.h"

enum timer_mode { TM_NONE, TM_HEADER, TM_IDLE, TM_BODY, TM_WRITE, TM_LINGER };

static void conn_on_close(uv_handle_t *h);

/* ---- llhttp callbacks ---- */

static int conn_fail_parse(struct http_conn *c, int status, const char *msg)
{
    c->err_status = status;
    c->err_msg = msg;
    return HPE_USER;
}

static int on_message_begin(llhttp_t *p)
{
    struct http_conn *c = p->data;
    c->url = GZ_SLICE_NULL;
    c->nhdrs = 0;
    c->hstate = 0;
    c->msg_complete = false;
    c->hdr_complete = false;
    c->body_parsed = 0;
    c->req_cl = -1;
    c->chunk_crlf = 0;
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;
    /* Pieces are contiguous: the buffer does not move while a header block is parsed. */
    if (c->url.ptr == NULL)
        c->url = gz_slice(at, len);
    else
        c->url.len += len;
    if (c->url.len > c->lp->srv->cfg.max_url_bytes)
        return conn_fail_parse(c, 414, "request target too long");
    return 0;
}

/* Chunked trailers come through the same callbacks once the request is dispatched; they are
 * ignored (the request's header array must not change under the application). */
static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;
    if (c->state != CS_HEADERS)
        return 0;
    if (c->hstate == 1) {
        c->hdrs[c->nhdrs - 1].name.len += len;
        return 0;
    }
    if (c->nhdrs >= c->lp->srv->cfg.max_headers)
        return conn_fail_parse(c, 431, "too many header fields");
    if (c->nhdrs == c->hdrs_cap) {
        size_t cap = c->hdrs_cap ? c->hdrs_cap * 2 : 16;
        if (cap > c->lp->srv->cfg.max_headers)
            cap = c->lp->srv->cfg.max_headers;
        c->hdrs = gz_realloc(c->hdrs, cap * sizeof(*c->hdrs));
        c->hdrs_cap = cap;
    }
    c->hdrs[c->nhdrs].name = gz_slice(at, len);
    c->hdrs[c->nhdrs].value = gz_slice(at + len, 0);
    c->nhdrs++;
    c->hstate = 1;
    return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    struct http_conn *c = p->data;
    if (c->state != CS_HEADERS)
        return 0;
    struct http_header *h = &c->hdrs[c->nhdrs - 1];
    h->value = gz_slice(h->name.ptr + h->name.len, 0);
    c->hstate = 2;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;
    if (c->state != CS_HEADERS)
        return 0;
    struct http_header *h = &c->hdrs[c->nhdrs - 1];
    if (c->hstate == 3) {
        h->value.len += len;
    } else {
        h->value = gz_slice(at, len);
        c->hstate = 3;
    }
    return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    struct http_conn *c = p->data;
    c->hstate = 0;
    return 0;
}

/* RFC 9110 tchar as a bitmap: llhttp's loose mode lets "Content-Length : 5" through. */
static const uint64_t conn_tchar[4] = {0x03ff6cfa00000000ULL, 0x57ffffffc7fffffeULL, 0, 0};

/* Field names are tokens (no whitespace before the colon: RFC 9112 says reject) and values
 * hold no CR/LF, which only obsolete line folding could bring (also rejected). */
static bool conn_header_ok(const struct http_header *h)
{
    if (h->name.len == 0)
        return false;
    for (size_t i = 0; i < h->name.len; i++) {
        unsigned char ch = (unsigned char)h->name.ptr[i];
        if (!(conn_tchar[ch >> 6] & (1ULL << (ch & 63))))
            return false;
    }
    return h->value.len == 0 ||
           (!memchr(h->value.ptr, '\n', h->value.len) && !memchr(h->value.ptr, '\r', h->value.len));
}

/* Framing checks llhttp leaves to us (it pauses here before its own after-headers checks):
 * no request smuggling through TE + CL, TE other than exactly "chunked", or duplicates. */
static int conn_check_framing(struct http_conn *c, llhttp_t *p)
{
    size_t te = 0, cl = 0, host = 0;
    struct http_header *te_h = NULL;
    if (p->http_major != 1)
        return conn_fail_parse(c, 505, "HTTP version not supported");
    for (size_t i = 0; i < c->nhdrs; i++) {
        struct http_header *h = &c->hdrs[i];
        h->value = gz_slice_trim(h->value);
        if (!conn_header_ok(h))
            return conn_fail_parse(c, 400, "invalid header field");
        if (gz_slice_case_eq_cstr(h->name, "transfer-encoding")) {
            te++;
            te_h = h;
        } else if (gz_slice_case_eq_cstr(h->name, "content-length")) {
            cl++;
        } else if (gz_slice_case_eq_cstr(h->name, "host")) {
            host++;
        }
    }
    if (te && cl)
        return conn_fail_parse(c, 400, "both Content-Length and Transfer-Encoding");
    if (cl > 1)
        return conn_fail_parse(c, 400, "duplicate Content-Length");
    if (te > 1 || (te_h && !gz_slice_case_eq_cstr(te_h->value, "chunked")))
        return conn_fail_parse(c, 400, "unsupported Transfer-Encoding");
    if (host > 1 || (host == 0 && p->http_minor >= 1))
        return conn_fail_parse(c, 400, "missing or duplicate Host");
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    struct http_conn *c = p->data;
    int rc = conn_check_framing(c, p);
    if (rc != 0)
        return rc;
    c->req_cl = (p->flags & F_CONTENT_LENGTH) ? (int64_t)p->content_length : -1;
    c->hdr_complete = true;
    return HPE_PAUSED; /* dispatch outside the parser */
}

/* Checks the bytes in [q, end) against what is left of the CRLF that must follow chunk
 * data; false once one is wrong. */
static bool conn_chunk_crlf_scan(struct http_conn *c, const char *q, const char *end)
{
    while (c->chunk_crlf > 0 && q < end) {
        if (*q++ != (c->chunk_crlf == 2 ? '\r' : '\n'))
            c->chunk_crlf = -1;
        else
            c->chunk_crlf--;
    }
    return c->chunk_crlf >= 0;
}

static int conn_chunk_crlf_fail(llhttp_t *p)
{
    llhttp_set_error_reason(p, "chunk data not followed by CRLF");
    return HPE_USER;
}

static int on_chunk_complete(llhttp_t *p)
{
    struct http_conn *c = p->data;
    if (c->chunk_crlf < 0)
        return conn_chunk_crlf_fail(p);
    c->chunk_crlf = 0;
    return 0;
}

static int on_body_deliver(struct http_conn *c, const char *at, size_t len);

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;
    if (len == 0)
        return 0; /* llhttp flushes an open span at the end of every execute */
    if (!(p->flags & F_CHUNKED) || p->content_length != 0)
        return on_body_deliver(c, at, len);
    /* The chunk's data ends here; llhttp skips the next two bytes, which must be CRLF.
     * Check those already given to this execute before passing the data on. */
    c->chunk_crlf = 2;
    if (!conn_chunk_crlf_scan(c, at + len, c->exec_end))
        return conn_chunk_crlf_fail(p);
    int rc = on_body_deliver(c, at, len);
    if (rc == HPE_PAUSED)
        c->chunk_crlf = 2; /* the next execute starts right after the data: scan again */
    return rc;
}

static int on_body_deliver(struct http_conn *c, const char *at, size_t len)
{
    struct http_req *r = &c->req;
    c->body_parsed += len;
    if (c->state == CS_REQUEST && r->body_state == BODY_READING && !r->finished) {
        /* Spans never exceed HTTP_BODY_CHUNK: each execute is given at most that much. */
        r->on_data(r, gz_slice(at, len), r->body_ud);
        if (r->body_paused || r->finished || c->closing)
            return HPE_PAUSED;
        return 0;
    }
    if (len > c->discard_left) {
        c->discard_left = 0;
        c->discard_overflow = true;
        return HPE_PAUSED;
    }
    c->discard_left -= len;
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct http_conn *c = p->data;
    c->msg_complete = true;
    return HPE_PAUSED; /* the next request waits for this response */
}

static const llhttp_settings_t conn_parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
    .on_chunk_complete = on_chunk_complete,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value_complete = on_header_value_complete,
};

/* Runs the parser over at most max unparsed bytes: 0 all consumed, 1 paused, <0 error. */
static int conn_execute(struct http_conn *c, size_t max)
{
    size_t n = GZ_MIN(c->rlen - c->rpos, max);
    c->exec_end = c->rbuf + c->rpos + n;
    /* A CRLF after chunk data that the previous execute did not reach comes first here;
     * a wrong byte fails in on_chunk_complete, once llhttp has skipped it. */
    conn_chunk_crlf_scan(c, c->rbuf + c->rpos, c->exec_end);
    llhttp_errno_t e = llhttp_execute(&c->parser, c->rbuf + c->rpos, n);
    c->parse_pending = false;
    if (e == HPE_OK) {
        c->rpos += n;
        return 0;
    }
    if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
        /* A pause can leave states that consume nothing (the end of a message) to run on
         * the next execute, even with no new bytes. */
        c->parse_pending = true;
        c->rpos = (size_t)(llhttp_get_error_pos(&c->parser) - c->rbuf);
        if (e == HPE_PAUSED)
            llhttp_resume(&c->parser);
        else
            llhttp_resume_after_upgrade(&c->parser);
        return 1;
    }
    return -(int)e;
}

/* ---- buffer, reading ---- */

static void conn_compact(struct http_conn *c)
{
    if (c->state == CS_IDLE || c->state == CS_HEADERS)
        return; /* header slices may point anywhere in [0, rlen) */
    if (c->rpos == c->rlen) {
        c->rpos = c->rlen = c->keep;
    } else if (c->rpos > c->keep && c->rcap - c->rlen < c->rcap / 4) {
        memmove(c->rbuf + c->keep, c->rbuf + c->rpos, c->rlen - c->rpos);
        c->rlen -= c->rpos - c->keep;
        c->rpos = c->keep;
    }
}

static void conn_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct http_conn *c = h->data;
    if (c->tls != NULL) {
        http__tls_read_buf(c, buf); /* ciphertext; the run step decrypts into rbuf */
        return;
    }
    if (c->rbuf == NULL)
        c->rbuf = gz_malloc(c->rcap);
    if (c->state == CS_LINGER)
        c->rpos = c->rlen = 0;
    conn_compact(c);
    buf->base = c->rbuf + c->rlen;
    buf->len = c->rcap - c->rlen;
}

static void conn_on_eof(struct http_conn *c)
{
    c->read_eof = true;
    switch (c->state) {
    case CS_IDLE:
    case CS_DISCARD:
    case CS_LINGER:
        http__conn_close(c, -ECONNRESET);
        break;
    case CS_REQUEST:
        /* Mid-body EOF is a client that went away (unless the rest is already buffered). */
        if (!c->msg_complete && !c->req.info.chunked && !http__tls_pending(c) &&
            (int64_t)(c->body_parsed + (c->rlen - c->rpos)) < c->req_cl)
            http__conn_close(c, -ECONNRESET);
        break;
    default:
        break; /* HEADERS: the parse step closes once the buffer is consumed */
    }
}

/* nread bytes were appended to rbuf (read, or decrypted). */
static void conn_got_bytes(struct http_conn *c, size_t nread)
{
    c->rlen += nread;
    c->t_activity = uv_now(&c->lp->loop);
    if (c->state == CS_IDLE) {
        c->state = CS_HEADERS;
        if (c->requests_served > 0)
            c->t_start = c->t_activity; /* a new connection counts from accept */
    } else if (c->state == CS_LINGER) {
        c->linger_bytes += nread;
        c->rpos = c->rlen = 0;
        if (c->linger_bytes > HTTP__LINGER_MAX)
            http__conn_close(c, -ECONNRESET);
    }
}

/* TLS: decrypts buffered ciphertext into rbuf while it has room (the same bound as a plain
 * read); true if anything happened. */
static bool conn_step_tls_read(struct http_conn *c)
{
    if (c->tls == NULL || c->closing || !http__tls_pending(c))
        return false;
    if (c->state == CS_REQUEST && c->req.body_paused && !c->msg_complete)
        return false; /* back-pressure from the application */
    if (c->rbuf == NULL)
        c->rbuf = gz_malloc(c->rcap);
    if (c->state == CS_LINGER)
        c->rpos = c->rlen = 0;
    conn_compact(c);
    if (c->rlen == c->rcap)
        return false;
    ssize_t n = http__tls_decrypt(c, c->rbuf + c->rlen, c->rcap - c->rlen);
    if (n > 0) {
        conn_got_bytes(c, (size_t)n);
    } else if (n == UV_EOF) {
        conn_on_eof(c);
    } else if (n < 0) {
        c->broken = true;
        http__conn_close(c, (int)n);
    }
    return n != 0;
}

static void conn_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct http_conn *c = s->data;
    http__conn_enter(c);
    if (nread > 0)
        c->rx_bytes += (uint64_t)nread;
    if (nread > 0 && c->tls != NULL) {
        c->t_activity = uv_now(&c->lp->loop);
        http__tls_on_cipher(c, buf->base, (size_t)nread); /* decrypted by the run step */
    } else if (nread > 0) {
        conn_got_bytes(c, (size_t)nread);
    } else if (nread == UV_EOF) {
        if (c->tls != NULL) /* decrypt what is buffered first: it may complete the body */
            while (conn_step_tls_read(c) && !c->closing)
                ;
        conn_on_eof(c);
    } else if (nread < 0 && nread != UV_ENOBUFS) {
        c->broken = true;
        http__conn_close(c, (int)nread);
    }
    http__conn_leave(c);
}

static void conn_update_reading(struct http_conn *c)
{
    bool want = !c->closing && !c->read_eof;
    if (want && c->state == CS_REQUEST && c->req.body_paused && !c->msg_complete)
        want = false; /* back-pressure from the application */
    if (want && c->state == CS_REQUEST && c->req.body_state == BODY_FAILED && !c->msg_complete)
        want = false; /* the rest of a failed body is never parsed: leave it to the kernel */
    if (want) {
        conn_compact(c);
        if (c->rbuf != NULL && c->rlen == c->rcap && c->state != CS_LINGER)
            want = false; /* bounded: wait until the buffered bytes are consumed */
    }
    if (want && !c->reading) {
        if (uv_read_start((uv_stream_t *)&c->tcp, conn_on_alloc, conn_on_read) == 0)
            c->reading = true;
    } else if (!want && c->reading) {
        if (!c->closing)
            uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

/* ---- timers ---- */

/*
 * Minimum transfer rate. An idle timeout alone is reset by every byte, so a client sending
 * (or reading) one byte a second holds a connection forever. While the server waits on the
 * client (RATE_IN: a body the application asked for, or an unread body being drained;
 * RATE_OUT: a response the kernel cannot take), every window of rate_window_ms must move at
 * least min_rate bytes a second (Apache mod_reqtimeout MinRate, Kestrel MinDataRate). The
 * window only runs while waiting on the client: time the application spends working, or with
 * the body paused, is left out. The check rides the connection's one timer, which fires once
 * per window at most.
 *
 * Progress in: bytes read, a field. Progress out: bytes the client acknowledged, which is
 * what we handed to the kernel less its send queue (SIOCOUTQ: one ioctl per window). Counting
 * only what left libuv's queue would be wrong: the kernel wakes a writer only once a third of
 * a send buffer of up to 4 MiB is free, so a healthy 100 KB/s reader can show no progress
 * for longer than a window. The first window of a response samples the starting point (no
 * syscall per response) and is its grace period; a body is judged from the first window.
 */
enum rate_dir { RATE_NONE, RATE_IN, RATE_OUT };

static enum rate_dir conn_rate_dir(const struct http_conn *c)
{
    const struct http_req *r = &c->req;
    if (c->closing)
        return RATE_NONE;
    if (c->state == CS_DISCARD)
        return RATE_IN;
    if (c->state != CS_REQUEST)
        return RATE_NONE;
    if (c->writes_pending > 0 || r->sf_phase != SF_IDLE)
        return RATE_OUT;
    if (r->body_state == BODY_READING && !r->body_paused && !c->msg_complete && !r->finished)
        return RATE_IN;
    return RATE_NONE;
}

static uint64_t conn_rate_progress(const struct http_conn *c, enum rate_dir dir)
{
    uv_os_fd_t fd;
    int outq = 0;
    if (dir == RATE_IN)
        return c->rx_bytes;
    uint64_t q = uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
    if (uv_fileno((const uv_handle_t *)&c->tcp, &fd) == 0 && ioctl(fd, SIOCOUTQ, &outq) == 0)
        q += (uint64_t)GZ_MAX(outq, 0);
    return c->tx_bytes > q ? c->tx_bytes - q : 0; /* acknowledged by the client */
}

/* Follows the direction after every run step: a new direction starts a window, leaving
 * them pauses it, coming back resumes it with the paused time left out. */
static void conn_rate_track(struct http_conn *c, uint64_t now)
{
    if (c->lp->srv->cfg.min_rate <= 0)
        return;
    enum rate_dir dir = conn_rate_dir(c);
    if (dir == RATE_NONE) {
        if (c->rate_dir != RATE_NONE && !c->rate_paused) {
            c->rate_paused = true;
            c->rate_paused_at = now;
        }
    } else if (dir != c->rate_dir) {
        c->rate_dir = (uint8_t)dir;
        c->rate_paused = false;
        c->rate_start = now;
        c->rate_base_ok = dir == RATE_IN;
        c->rate_base = dir == RATE_IN ? c->rx_bytes : 0;
    } else if (c->rate_paused) {
        c->rate_paused = false;
        c->rate_start += now - c->rate_paused_at;
    }
}

/* The end of the running window, or UINT64_MAX when none runs. */
static uint64_t conn_rate_due(const struct http_conn *c)
{
    const struct http_server_config *cfg = &c->lp->srv->cfg;
    if (cfg->min_rate <= 0 || c->rate_dir == RATE_NONE || c->rate_paused)
        return UINT64_MAX;
    return c->rate_start + cfg->rate_window_ms;
}

/* At a window's end: false if the client moved too little in it, else a new window. */
static bool conn_rate_check(struct http_conn *c, uint64_t now)
{
    const struct http_server_config *cfg = &c->lp->srv->cfg;
    enum rate_dir dir = (enum rate_dir)c->rate_dir;
    if (now < conn_rate_due(c))
        return true;
    uint64_t at = conn_rate_progress(c, dir);
    if (!c->rate_base_ok) { /* the grace window ends: measure from here */
        c->rate_base_ok = true;
        c->rate_start = now;
        c->rate_base = at;
        return true;
    }
    uint64_t moved = at > c->rate_base ? at - c->rate_base : 0;
    uint64_t need = (uint64_t)cfg->min_rate * (now - c->rate_start) / 1000;
    if (moved < need && dir == RATE_IN) {
        /* Timers run before I/O in a loop turn: count what arrived but is not read yet. */
        uv_os_fd_t fd;
        int avail = 0;
        if (uv_fileno((const uv_handle_t *)&c->tcp, &fd) == 0 && ioctl(fd, FIONREAD, &avail) == 0)
            moved += (uint64_t)GZ_MAX(avail, 0);
    }
    if (moved < need) {
        log_info("http: %s: %s %llu bytes in %llu ms, under the minimum rate of %lld bytes/s",
                 c->peer_str, dir == RATE_IN ? "request body moved" : "response moved",
                 (unsigned long long)moved, (unsigned long long)(now - c->rate_start),
                 (long long)cfg->min_rate);
        return false;
    }
    c->rate_start = now;
    c->rate_base = at;
    return true;
}

static enum timer_mode conn_timer_mode(const struct http_conn *c, uint64_t *deadline)
{
    const struct http_server_config *cfg = &c->lp->srv->cfg;
    const struct http_req *r = &c->req;
    if (c->closing)
        return TM_NONE;
    switch (c->state) {
    case CS_IDLE:
        if (c->requests_served == 0)
            break;
        *deadline = c->t_activity + cfg->idle_timeout_ms;
        return TM_IDLE;
    case CS_HEADERS:
        break;
    case CS_REQUEST:
        if (c->writes_pending > 0 || r->sf_phase != SF_IDLE) {
            *deadline = GZ_MIN(c->t_write + cfg->idle_timeout_ms, conn_rate_due(c));
            return TM_WRITE;
        }
        if (r->body_state == BODY_READING && !r->body_paused && !c->msg_complete && !r->finished) {
            *deadline = GZ_MIN(c->t_activity + cfg->idle_timeout_ms, conn_rate_due(c));
            return TM_BODY;
        }
        return TM_NONE; /* the application is working */
    case CS_DISCARD:
        *deadline =
            GZ_MIN(GZ_MAX(c->t_activity, c->t_write) + cfg->idle_timeout_ms, conn_rate_due(c));
        return TM_IDLE;
    case CS_LINGER:
        *deadline = c->t_linger;
        return TM_LINGER;
    default:
        return TM_NONE;
    }
    *deadline = c->t_start + cfg->header_timeout_ms;
    return TM_HEADER;
}

/* A body too slow or stalled: if nothing of the response went out, the body fails with
 * -ETIMEDOUT and the application answers (S3: RequestTimeout), then the connection closes;
 * else it is cut now. */
static void conn_body_timeout(struct http_conn *c)
{
    struct http_req *r = &c->req;
    if (c->state != CS_REQUEST || r->started || r->finished) {
        http__conn_close(c, -ETIMEDOUT);
        return;
    }
    c->close_after = true;
    http__req_body_fail(c, -ETIMEDOUT);
}

static void conn_on_timer(uv_timer_t *t)
{
    struct http_conn *c = t->data;
    uint64_t now = uv_now(&c->lp->loop), deadline = 0;
    bool slow = false;
    http__conn_enter(c);
    c->timer_due = 0;
    conn_rate_track(c, now);
    enum timer_mode mode = conn_timer_mode(c, &deadline);
    if (mode != TM_NONE && now >= deadline) {
        slow = !conn_rate_check(c, now);
        if (!slow) /* a window passed and the next began: what is left is the idle deadline */
            mode = conn_timer_mode(c, &deadline);
    }
    if (mode == TM_NONE || (!slow && now < deadline)) {
        /* not yet: conn_timer_arm re-arms */
    } else if (mode == TM_HEADER) {
        http__resp_error(c, 408, "timed out waiting for the request headers");
    } else if (mode == TM_BODY) {
        conn_body_timeout(c); /* body on_end gets -ETIMEDOUT */
    } else if (mode == TM_WRITE && !slow) {
        /* No write completed for the idle time. The client may still be reading: a send
         * buffer of MiBs wakes us only once a third of it is free. Stalled means nothing
         * was acknowledged since the last look. */
        uint64_t acked = conn_rate_progress(c, RATE_OUT);
        if (acked > c->out_seen) {
            c->out_seen = acked;
            c->t_write = now;
        } else {
            http__conn_close(c, -ETIMEDOUT);
        }
    } else {
        http__conn_close(c, -ETIMEDOUT); /* idle, linger, a slow response or drain */
    }
    http__conn_leave(c);
}

static void conn_timer_arm(struct http_conn *c)
{
    uint64_t deadline = 0, now;
    if (c->closing)
        return;
    now = uv_now(&c->lp->loop);
    conn_rate_track(c, now);
    /* No deadline: leave an armed timer alone, it fires harmlessly; stopping and restarting
     * it around every request would cost two timer-heap operations per request. */
    if (conn_timer_mode(c, &deadline) == TM_NONE)
        return;
    if (c->timer_due != 0 && c->timer_due <= deadline)
        return; /* fires early, then re-arms */
    uv_timer_start(&c->timer, conn_on_timer, deadline > now ? deadline - now : 0, 0);
    c->timer_due = deadline;
}

/* ---- closing ---- */

void http__conn_close(struct http_conn *c, int err)
{
    if (c->closing)
        return;
    c->closing = true;
    c->close_err = err ? err : -ECONNRESET;
    c->state = CS_CLOSED;
    c->reading = false;
    uv_close((uv_handle_t *)&c->tcp, conn_on_close);
    uv_close((uv_handle_t *)&c->timer, conn_on_close);
    c->handles_open = 2;
    if (c->poll != NULL) {
        uv_close((uv_handle_t *)c->poll, conn_on_close);
        c->handles_open++;
    }
    if (c->req_active) {
        struct http_req *r = &c->req;
        if (!c->msg_complete)
            http__req_body_fail(c, c->close_err);
        if (r->sf_phase == SF_SEND) { /* no libuv request to cancel: fail it ourselves */
            r->sf_phase = SF_IDLE;
            r->op_ready = true;
            r->op_status = c->close_err;
        }
    }
}

static void conn_on_shutdown(uv_shutdown_t *s, int status)
{
    struct http_conn *c = s->data;
    http__conn_enter(c);
    if (status < 0 || c->read_eof)
        http__conn_close(c, status < 0 ? status : -ECONNRESET);
    http__conn_leave(c);
}

void http__conn_linger(struct http_conn *c)
{
    if (c->closing)
        return;
    if (c->broken || c->read_eof) {
        /* Nothing more to read: close once queued writes are done (libuv flushes them
         * before the shutdown callback), or right away if there are none. */
        if (c->broken || c->writes_pending == 0) {
            http__conn_close(c, -ECONNRESET);
            return;
        }
    }
    c->state = CS_LINGER;
    c->t_linger =
        uv_now(&c->lp->loop) + GZ_MIN((uint64_t)HTTP__LINGER_MS, c->lp->srv->cfg.idle_timeout_ms);
    c->rpos = c->rlen = c->keep = 0;
    if (!c->shutdown_sent) {
        c->shutdown_sent = true;
        http__tls_shutdown(c); /* close_notify ahead of the FIN */
        c->shut.data = c;
        if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, conn_on_shutdown) < 0)
            http__conn_close(c, -ECONNRESET);
    }
}

void http__conn_stop(struct http_conn *c)
{
    switch (c->state) {
    case CS_REQUEST:
        c->close_after = true; /* finish the in-flight request, then close */
        break;
    case CS_LINGER:
    case CS_CLOSED:
        break;
    default:
        http__conn_close(c, -ECANCELED);
        break;
    }
}

static void conn_free(struct http_conn *c)
{
    struct http_loop *lp = c->lp;
    http__list_del(&c->link);
    if (c->in_deferred)
        http__list_del(&c->dlink);
    http__tls_conn_free(c);
    if (c->ip_counted)
        http__ip_release(lp->srv->ips, &c->peer);
    gz_free(c->rbuf);
    gz_free(c->hdrs);
    gz_free(c->poll);
    gz_free(c->arena0);
    gz_buf_free(&c->hdr);
    gz_buf_free(&c->wbuf);
    gz_free(c);
    lp->nconns--;
    atomic_fetch_sub(&lp->srv->nconns, 1);
    http__loop_conn_gone(lp);
}

static void conn_on_close(uv_handle_t *h)
{
    struct http_conn *c = h->data;
    if ((uv_poll_t *)h == c->poll && c->poll_fd >= 0) {
        close(c->poll_fd);
        c->poll_fd = -1;
    }
    c->handles_open--;
    http__conn_enter(c);
    http__conn_leave(c);
}

/* ---- the run step ---- */

bool http__conn_body_discardable(const struct http_conn *c)
{
    const struct http_req *r = &c->req;
    if (c->msg_complete)
        return true;
    if (c->body_err != 0 || r->body_state == BODY_FAILED || c->read_eof)
        return false;
    if (r->info.expect_continue && !r->continue_sent)
        return false; /* the client waits for us; it has not sent the body */
    if (r->info.chunked)
        return true; /* drained up to HTTP__DISCARD_MAX, then closed */
    return c->req_cl - (int64_t)c->body_parsed <= HTTP__DISCARD_MAX;
}

static void conn_next_request(struct http_conn *c)
{
    c->requests_served++;
    if (c->rpos < c->rlen)
        memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
    c->rlen -= c->rpos;
    c->rpos = c->keep = 0;
    c->state = c->rlen > 0 ? CS_HEADERS : CS_IDLE;
    c->t_start = c->t_activity = uv_now(&c->lp->loop);
    c->msg_complete = false;
    c->hdr_complete = false;
    c->body_err = 0;
    c->rate_dir = RATE_NONE;
}

/* The application finished and everything is handed to the kernel: free the request and
 * decide what the connection does next. */
static bool conn_step_release(struct http_conn *c)
{
    struct http_req *r = &c->req;
    if (!c->req_active || !r->finished || r->end_pending || r->op_busy || c->writes_pending > 0 ||
        r->sf_phase != SF_IDLE)
        return false;
    http__req_release(c);
    c->req_active = false;
    if (c->closing)
        return true;
    if (c->broken) {
        http__conn_close(c, -ECONNRESET);
    } else if (c->close_after || c->lp->stopping) {
        http__conn_linger(c);
    } else if (!c->msg_complete) {
        if (!http__conn_body_discardable(c)) {
            http__conn_linger(c);
            return true;
        }
        c->state = CS_DISCARD;
        c->keep = 0;
        c->discard_left = HTTP__DISCARD_MAX;
        c->t_activity = uv_now(&c->lp->loop);
    } else {
        conn_next_request(c);
    }
    return true;
}

static void conn_dispatch(struct http_conn *c)
{
    struct http_server *srv = c->lp->srv;
    c->state = CS_REQUEST;
    c->keep = c->rpos;
    c->req_active = true;
    c->rate_dir = RATE_NONE;
    http__req_init(c);
    if (c->req_cl <= 0 && !c->req.info.chunked)
        conn_execute(c, 0); /* no body: let llhttp reach the end of the message */
    if (c->parser.method == HTTP_CONNECT ||
        (c->parser.flags & (F_UPGRADE | F_CONNECTION_UPGRADE)) ==
            (F_UPGRADE | F_CONNECTION_UPGRADE))
        c->close_after = true; /* we never switch protocols */
    srv->cfg.on_request(&c->req, srv->cfg.app);
}

static bool conn_parse_headers(struct http_conn *c)
{
    const struct http_server_config *cfg = &c->lp->srv->cfg;
    int rc;
    if (c->rpos >= c->rlen) {
        if (c->read_eof)
            http__conn_close(c, -ECONNRESET);
        return false;
    }
    if (c->lp->stopping) {
        http__conn_close(c, -ECANCELED);
        return false;
    }
    c->err_status = 0;
    rc = conn_execute(c, SIZE_MAX);
    if (rc < 0) {
        if (c->err_status)
            http__resp_error(c, c->err_status, c->err_msg);
        else
            http__resp_error(c, 400, llhttp_get_error_reason(&c->parser));
        return true;
    }
    if (!c->hdr_complete) {
        if (c->rlen > cfg->max_header_bytes)
            http__resp_error(c, 431, "request header block too large");
        return true;
    }
    if (c->rpos > cfg->max_header_bytes) {
        http__resp_error(c, 431, "request header block too large");
        return true;
    }
    conn_dispatch(c);
    return true;
}

static bool conn_pump_body(struct http_conn *c)
{
    struct http_req *r = &c->req;
    int rc;
    if (r->body_state != BODY_READING || r->body_paused || r->finished)
        return false;
    if (!c->msg_complete) {
        if (c->rpos >= c->rlen && !c->parse_pending) {
            if (c->read_eof) /* what is buffered does not complete the body */
                http__conn_close(c, -ECONNRESET);
            return false;
        }
        rc = conn_execute(c, HTTP_BODY_CHUNK);
        if (rc < 0) {
            c->close_after = true;
            http__req_body_fail(c, GZ_EPARSE);
            return true;
        }
        conn_compact(c);
    }
    if (c->msg_complete && r->body_state == BODY_READING) {
        r->body_state = BODY_DONE;
        r->body_end_pending = true;
        r->body_status = 0;
    }
    return true;
}

static bool conn_discard_body(struct http_conn *c)
{
    int rc;
    if (c->rpos >= c->rlen && !c->parse_pending) {
        if (c->read_eof)
            http__conn_close(c, -ECONNRESET);
        return false;
    }
    rc = conn_execute(c, HTTP_BODY_CHUNK);
    if (rc < 0 || c->discard_overflow) {
        http__conn_linger(c);
        return true;
    }
    conn_compact(c);
    if (c->msg_complete) {
        if (c->lp->stopping)
            http__conn_linger(c);
        else
            conn_next_request(c);
    }
    return true;
}

static bool conn_step_parse(struct http_conn *c)
{
    if (c->closing)
        return false;
    switch (c->state) {
    case CS_IDLE:
    case CS_HEADERS:
        return conn_parse_headers(c);
    case CS_REQUEST:
        return conn_pump_body(c);
    case CS_DISCARD:
        return conn_discard_body(c);
    case CS_LINGER:
        c->rpos = c->rlen = 0;
        return false;
    default:
        return false;
    }
}

static void conn_run(struct http_conn *c)
{
    c->depth++;
    for (;;) {
        bool progress = http__req_deliver(c);
        progress |= http__resp_pump(c);
        progress |= conn_step_release(c);
        progress |= conn_step_tls_read(c);
        progress |= conn_step_parse(c);
        if (!progress)
            break;
    }
    conn_update_reading(c);
    conn_timer_arm(c);
    c->depth--;
}

void http__conn_enter(struct http_conn *c)
{
    c->depth++;
}

void http__conn_leave(struct http_conn *c)
{
    if (--c->depth > 0)
        return;
    conn_run(c);
    if (c->closing && c->handles_open == 0 && !c->req_active)
        conn_free(c);
}

void http__conn_kick(struct http_conn *c)
{
    if (c->depth == 0)
        http__loop_defer(c->lp, c);
}

/* ---- accept ---- */

static struct http_conn *conn_new(struct http_loop *lp)
{
    struct http_conn *c = gz_calloc(1, sizeof(*c));
    const struct http_server_config *cfg = &lp->srv->cfg;
    c->lp = lp;
    c->poll_fd = -1;
    c->rcap = cfg->max_header_bytes + HTTP__READ_SLACK;
    c->req_cl = -1;
    c->state = CS_IDLE;
    gz_buf_init(&c->hdr, HTTP__RESP_HDR_MAX);
    gz_buf_init(&c->wbuf, HTTP__WBUF_MAX);
    llhttp_init(&c->parser, HTTP_REQUEST, &conn_parser_settings);
    c->parser.data = c;
    uv_tcp_init(&lp->loop, &c->tcp);
    uv_timer_init(&lp->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->wr_main.data = c->wr_cont.data = c;
    http__list_init(&c->dlink);
    http__list_add_tail(&lp->conns, &c->link);
    lp->nconns++;
    atomic_fetch_add(&lp->srv->nconns, 1);
    c->t_start = c->t_activity = c->t_write = uv_now(&lp->loop);
    return c;
}

static void conn_peer_name(struct http_conn *c)
{
    int len = (int)sizeof(c->peer);
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->peer, &len) != 0)
        return;
    if (c->peer.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&c->peer;
        uv_ip6_name(a, ip, sizeof(ip));
        port = ntohs(a->sin6_port);
        snprintf(c->peer_str, sizeof(c->peer_str), "[%s]:%d", ip, port);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&c->peer;
        uv_ip4_name(a, ip, sizeof(ip));
        port = ntohs(a->sin_port);
        snprintf(c->peer_str, sizeof(c->peer_str), "%s:%d", ip, port);
    }
}

/* Counts the connection against its address's limit (if any): false if over it. */
static bool conn_ip_admit(struct http_conn *c)
{
    struct http__ip_table *ips = c->lp->srv->ips;
    if (ips == NULL)
        return true;
    c->ip_counted = http__ip_acquire(ips, &c->peer);
    return c->ip_counted;
}

void http__conn_on_connection(uv_stream_t *listener, int status)
{
    struct http_loop *lp = listener->data;
    struct http_conn *c;
    if (status < 0) {
        log_warn("http: accept: %s", uv_strerror(status));
        return;
    }
    if (lp->stopping)
        return;
    c = conn_new(lp);
    http__conn_enter(c);
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        http__conn_close(c, -ECONNABORTED);
    } else {
        conn_peer_name(c);
        if (atomic_load(&lp->srv->nconns) > lp->srv->cfg.max_connections)
            http__resp_reject(c, "too many connections");
        else if (!conn_ip_admit(c))
            http__resp_reject(c, "too many connections from this address");
        else if (lp->srv->cfg.tls != NULL && http__tls_conn_new(c, lp->srv->cfg.tls) < 0)
            http__conn_close(c, -ENOMEM);
        else
            uv_tcp_nodelay(&c->tcp, 1);
    }
    http__conn_leave(c);
}
