/*
 * response.c - the response writer: status line and headers in one buffer, whole responses
 * with one write (uv_try_write first, the rest queued), streamed writes with a done callback
 * once libuv has handed the bytes to the kernel, sendfile(2) driven by writability polling,
 * and the errors the server itself sends (400, 408, 414, 431, 505, 503).
 *
 * sendfile: the socket is non-blocking, so sendfile(2) never blocks the loop on a full
 * socket buffer; on EAGAIN we wait for writability with a uv_poll on a dup() of the socket
 * (libuv allows only one watcher per fd number, and the uv_tcp_t already owns the original;
 * epoll keys registrations by fd number, so the duplicate can be watched on its own). Page
 * cache misses still read the disk on the loop thread, as nginx does without aio threads.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "http_int.h"

static char resp_crlf[] = "\r\n";
static char resp_last_chunk[] = "0\r\n\r\n";

const char *http__reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Payload Too Large";
    case 414:
        return "URI Too Long";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    case 507:
        return "Insufficient Storage";
    default:
        break;
    }
    if (status >= 200 && status < 300)
        return "OK";
    if (status >= 300 && status < 400)
        return "Redirect";
    if (status >= 400 && status < 500)
        return "Client Error";
    return "Server Error";
}

static bool resp_status_no_body(int status)
{
    return status < 200 || status == 204 || status == 304;
}

/* ---- head building ---- */

static void put(struct gz_buf *b, const void *p, size_t n, int *rc)
{
    if (*rc == 0)
        *rc = gz_buf_append(b, p, n);
}

static void put_status_line(struct gz_buf *b, int status, int *rc)
{
    char line[64];
    const char *reason = http__reason(status);
    size_t rl = GZ_MIN(strlen(reason), (size_t)40);
    memcpy(line, "HTTP/1.1 ", 9);
    line[9] = (char)('0' + status / 100 % 10);
    line[10] = (char)('0' + status / 10 % 10);
    line[11] = (char)('0' + status % 10);
    line[12] = ' ';
    memcpy(line + 13, reason, rl);
    memcpy(line + 13 + rl, "\r\n", 2);
    put(b, line, 15 + rl, rc);
}

static void put_u64_header(struct gz_buf *b, const char *name, uint64_t v, int *rc)
{
    char tmp[24], out[24];
    size_t n = 0, i;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    put(b, name, strlen(name), rc);
    put(b, out, n, rc);
    put(b, "\r\n", 2, rc);
}

static void put_common(struct http_conn *c, bool date, bool server, int *rc)
{
    size_t dlen;
    const char *d;
    if (date) {
        d = http__loop_date(c->lp, &dlen);
        put(&c->wbuf, d, dlen, rc);
    }
    if (server && c->lp->srv->server_line != NULL)
        put(&c->wbuf, c->lp->srv->server_line, c->lp->srv->server_line_len, rc);
}

static bool resp_should_close(const struct http_req *r)
{
    const struct http_conn *c = r->conn;
    if (c->close_after || !r->info.keep_alive || c->lp->stopping || c->read_eof)
        return true;
    if (!c->msg_complete && r->body_state == BODY_FAILED)
        return true;
    return !c->msg_complete && r->body_state == BODY_NONE && !http__conn_body_discardable(c);
}

/* Builds status line + headers into c->wbuf (pending until the first write). */
static int resp_build_head(struct http_req *r, int64_t clen)
{
    struct http_conn *c = r->conn;
    int rc = 0;
    r->no_body = r->head_req || resp_status_no_body(r->status);
    r->clen = clen;
    if (!r->no_body && clen < 0) {
        if (c->parser.http_minor >= 1) {
            r->chunked_out = true;
        } else {
            r->close_delimited = true; /* HTTP/1.0 has no chunked: EOF ends the body */
            c->close_after = true;
        }
    }
    if (resp_should_close(r))
        c->close_after = true;
    gz_buf_reset(&c->wbuf);
    put_status_line(&c->wbuf, r->status, &rc);
    put_common(c, !r->app_date, !r->app_server, &rc);
    put(&c->wbuf, c->hdr.ptr, c->hdr.len, &rc);
    if (!resp_status_no_body(r->status)) {
        if (clen >= 0)
            put_u64_header(&c->wbuf, "Content-Length: ", (uint64_t)clen, &rc);
        else if (r->chunked_out)
            put(&c->wbuf, "Transfer-Encoding: chunked\r\n", 28, &rc);
    }
    if (c->close_after)
        put(&c->wbuf, "Connection: close\r\n", 19, &rc);
    else if (c->parser.http_minor == 0)
        put(&c->wbuf, "Connection: keep-alive\r\n", 24, &rc);
    put(&c->wbuf, "\r\n", 2, &rc);
    r->started = true;
    r->head_pending = true;
    return rc;
}

/* ---- writing ---- */

static int resp_err(const struct http_conn *c, int status)
{
    if (status == UV_ECANCELED && c->close_err != 0)
        return c->close_err;
    return status;
}

static void resp_op_later(struct http_req *r, int status)
{
    r->op_ready = true;
    r->op_status = status;
    http__conn_kick(r->conn);
}

/* Queues bufs on wr_main (the one main write in flight). */
static int resp_submit(struct http_conn *c, uv_buf_t *bufs, unsigned n, enum http__wr_kind kind)
{
    int rc;
    c->wr_kind = kind;
    rc = http__conn_write(c, &c->wr_main, bufs, n, http__resp_on_write);
    if (rc < 0) {
        c->wr_kind = WR_NONE;
        c->broken = true;
        http__conn_close(c, rc);
        return rc;
    }
    c->writes_pending++;
    c->t_write = uv_now(&c->lp->loop);
    return 0;
}

/* A final write: try to hand it all to the kernel now, queue what is left. */
static void resp_submit_final(struct http_conn *c, uv_buf_t *bufs, unsigned n)
{
    unsigned i = 0;
    int w;
    if (c->closing || c->broken)
        return;
    w = http__conn_try_write(c, bufs, n);
    if (w == UV_EAGAIN)
        w = 0;
    if (w < 0) {
        c->broken = true;
        http__conn_close(c, w);
        return;
    }
    while (i < n && (size_t)w >= bufs[i].len) {
        w -= (int)bufs[i].len;
        i++;
    }
    if (i == n)
        return;
    bufs[i].base += w;
    bufs[i].len -= (size_t)w;
    resp_submit(c, bufs + i, n - i, WR_FINAL);
}

/* Hands bufs to the kernel now if nothing is queued ahead of them: returns how many of the
 * bufs were written whole (the partly written one is advanced in place), or < 0 when the
 * connection broke (it is then closed). A write that completes here costs one writev and no
 * loop iteration; a uv_write that completes synchronously still defers its callback and
 * makes libuv re-arm the socket in epoll (an epoll_ctl per response). */
static int resp_try_now(struct http_conn *c, uv_buf_t *bufs, unsigned n)
{
    unsigned i = 0;
    int w;
    if (c->writes_pending > 0)
        return 0;
    w = http__conn_try_write(c, bufs, n);
    if (w == UV_EAGAIN)
        return 0;
    if (w < 0) {
        c->broken = true;
        http__conn_close(c, w);
        return w;
    }
    c->t_write = uv_now(&c->lp->loop);
    while (i < n && (size_t)w >= bufs[i].len) {
        w -= (int)bufs[i].len;
        i++;
    }
    if (i < n) {
        bufs[i].base += w;
        bufs[i].len -= (size_t)w;
    }
    return (int)i;
}

static void resp_take_head(struct http_req *r, uv_buf_t *bufs, unsigned *n)
{
    struct http_conn *c = r->conn;
    if (!r->head_pending)
        return;
    bufs[(*n)++] = uv_buf_init(c->wbuf.ptr, (unsigned)c->wbuf.len);
    r->head_pending = false;
    r->head_written = true;
}

/* Starts an application op; false if it was already completed (error or nothing to do). */
static bool resp_op_begin(struct http_req *r, http_write_cb done, void *ud)
{
    struct http_conn *c = r->conn;
    if (r->op_busy || r->finished) {
        log_error("http: %s: write while another is in flight or after the end",
                  r->info.request_id);
        if (done != NULL)
            done(r, r->finished ? -EALREADY : -EBUSY, ud);
        return false;
    }
    if (!r->started)
        http_resp_start(r, -1);
    r->op_busy = true;
    r->op_done = done;
    r->op_ud = ud;
    if (c->closing || c->broken) {
        resp_op_later(r, c->close_err ? c->close_err : -ECONNRESET);
        return false;
    }
    return true;
}

/* Never more than announced: a wrong body is worse than a truncated one. */
static size_t resp_clamp(struct http_req *r, size_t len)
{
    if (r->no_body || r->clen < 0 || r->sent + len <= (uint64_t)r->clen)
        return len;
    log_warn("http: %s: response body longer than its Content-Length", r->info.request_id);
    r->conn->close_after = true;
    return (size_t)((uint64_t)r->clen - r->sent);
}

static void resp_chunk_line(struct http_req *r, uint64_t len, uv_buf_t *bufs, unsigned *n)
{
    int k = snprintf(r->chunk_line, sizeof(r->chunk_line), "%llx\r\n", (unsigned long long)len);
    bufs[(*n)++] = uv_buf_init(r->chunk_line, (unsigned)k);
}

void http__resp_on_write(uv_write_t *w, int status)
{
    struct http_conn *c = w->data;
    struct http_req *r = &c->req;
    http__conn_enter(c);
    c->writes_pending--;
    c->t_write = uv_now(&c->lp->loop);
    if (status < 0) {
        c->broken = true;
        http__conn_close(c, status);
    }
    if (w == &c->wr_main) {
        enum http__wr_kind kind = c->wr_kind;
        c->wr_kind = WR_NONE;
        if (kind == WR_OP) {
            resp_op_later(r, status < 0 ? resp_err(c, status) : 0);
        } else if (kind == WR_SF_PREFIX) {
            r->sf_phase = status < 0 ? SF_IDLE : SF_SEND;
            if (status < 0)
                resp_op_later(r, resp_err(c, status));
        } else if (kind == WR_SF_SUFFIX) {
            r->sf_phase = SF_IDLE;
            resp_op_later(r, status < 0 ? resp_err(c, status) : 0);
        }
    }
    http__conn_leave(c);
}

/* ---- sendfile ---- */

static int resp_poll_start(struct http_conn *c)
{
    if (c->poll == NULL) {
        uv_os_fd_t fd;
        int rc, dfd;
        uv_fileno((uv_handle_t *)&c->tcp, &fd);
        dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (dfd < 0)
            return -errno;
        c->poll = gz_malloc(sizeof(*c->poll));
        rc = uv_poll_init_socket(&c->lp->loop, c->poll, dfd);
        if (rc < 0) {
            close(dfd);
            gz_free(c->poll);
            c->poll = NULL;
            return rc;
        }
        c->poll->data = c;
        c->poll_fd = dfd;
    }
    return uv_poll_start(c->poll, UV_WRITABLE, http__resp_on_poll);
}

static void resp_sf_fail(struct http_conn *c, int err)
{
    c->req.sf_phase = SF_IDLE;
    resp_op_later(&c->req, err);
    c->broken = true;
    http__conn_close(c, err);
}

static void resp_sf_done(struct http_conn *c)
{
    struct http_req *r = &c->req;
    if (c->poll != NULL)
        uv_poll_stop(c->poll);
    if (r->chunked_out) {
        uv_buf_t b = uv_buf_init(resp_crlf, 2);
        r->sf_phase = SF_SUFFIX;
        if (resp_submit(c, &b, 1, WR_SF_SUFFIX) < 0) {
            r->sf_phase = SF_IDLE;
            resp_op_later(r, c->close_err);
        }
        return;
    }
    r->sf_phase = SF_IDLE;
    resp_op_later(r, 0);
}

/* Over TLS: one encrypted step per call; the run step calls again once it is written
 * (http__resp_pump waits for writes_pending == 0). */
static bool resp_sf_tls_step(struct http_conn *c)
{
    struct http_req *r = &c->req;
    if (r->sf_left == 0) {
        resp_sf_done(c);
        return true;
    }
    int64_t n = http__tls_file_step(c, r->sf_fd, r->sf_off, r->sf_left);
    if (n < 0) {
        resp_sf_fail(c, (int)n);
        return true;
    }
    r->sf_off += n;
    r->sf_left -= n;
    c->t_write = uv_now(&c->lp->loop);
    return true;
}

/* Sends until EAGAIN, the end, or the per-wakeup budget (then yields via the poll). */
static bool resp_sf_pump(struct http_conn *c)
{
    struct http_req *r = &c->req;
    size_t budget = HTTP__SENDFILE_BUDGET;
    uv_os_fd_t fd;
    if (c->tls != NULL)
        return resp_sf_tls_step(c);
    uv_fileno((uv_handle_t *)&c->tcp, &fd);
    while (r->sf_left > 0 && budget > 0) {
        off_t off = (off_t)r->sf_off;
        size_t want = GZ_MIN(GZ_MIN((size_t)r->sf_left, budget), (size_t)HTTP__SENDFILE_STEP);
        ssize_t n = sendfile(fd, r->sf_fd, &off, want);
        if (n > 0) {
            r->sf_off += n;
            r->sf_left -= n;
            c->tx_bytes += (uint64_t)n;
            budget -= (size_t)n;
            c->t_write = uv_now(&c->lp->loop);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        resp_sf_fail(c, n == 0 ? -EIO : -errno); /* file shorter than promised, or error */
        return true;
    }
    if (r->sf_left == 0) {
        resp_sf_done(c);
        return true;
    }
    int rc = resp_poll_start(c);
    if (rc < 0)
        resp_sf_fail(c, rc);
    return budget < HTTP__SENDFILE_BUDGET || rc < 0;
}

void http__resp_on_poll(uv_poll_t *p, int status, int events)
{
    struct http_conn *c = p->data;
    http__conn_enter(c);
    if (status < 0 && c->req.sf_phase == SF_SEND)
        resp_sf_fail(c, status);
    else if (c->req_active && c->req.sf_phase == SF_SEND && !c->closing)
        resp_sf_pump(c);
    else
        uv_poll_stop(p);
    http__conn_leave(c);
}

/* ---- finishing ---- */

static void resp_finish(struct http_req *r)
{
    struct http_conn *c = r->conn;
    uv_buf_t bufs[2];
    unsigned n = 0;
    bool short_body = !r->no_body && r->clen >= 0 && r->sent < (uint64_t)r->clen;
    r->end_pending = false;
    if (c->closing || c->broken)
        return;
    if (short_body) {
        log_warn("http: %s: response ended %llu bytes short; closing", r->info.request_id,
                 (unsigned long long)((uint64_t)r->clen - r->sent));
        c->close_after = true;
    }
    resp_take_head(r, bufs, &n);
    if (r->chunked_out)
        bufs[n++] = uv_buf_init(resp_last_chunk, 5);
    if (r->close_delimited)
        c->close_after = true;
    if (n > 0)
        resp_submit_final(c, bufs, n);
}

bool http__resp_pump(struct http_conn *c)
{
    struct http_req *r = &c->req;
    if (!c->req_active)
        return false;
    if (r->end_pending && !r->op_busy) {
        resp_finish(r);
        return true;
    }
    if (r->sf_phase == SF_SEND && c->writes_pending == 0 && !c->closing &&
        (c->poll == NULL || !uv_is_active((uv_handle_t *)c->poll)))
        return resp_sf_pump(c);
    return false;
}

/* ---- server-generated responses ---- */

static int resp_build_error(struct http_conn *c, int status, const char *message)
{
    const struct http_server_config *cfg = &c->lp->srv->cfg;
    struct gz_buf body;
    const char *ctype = NULL;
    char id[17];
    int rc = 0;
    gz_buf_init(&body, HTTP__ERR_BODY_MAX);
    http__loop_next_id(c->lp, id);
    if (cfg->on_protocol_error != NULL)
        cfg->on_protocol_error(status, message, id, &body, &ctype, cfg->app);
    gz_buf_reset(&c->wbuf);
    put_status_line(&c->wbuf, status, &rc);
    put_common(c, true, true, &rc);
    if (ctype != NULL && !strpbrk(ctype, "\r\n")) {
        put(&c->wbuf, "Content-Type: ", 14, &rc);
        put(&c->wbuf, ctype, strlen(ctype), &rc);
        put(&c->wbuf, "\r\n", 2, &rc);
    }
    put_u64_header(&c->wbuf, "Content-Length: ", body.len, &rc);
    put(&c->wbuf, "Connection: close\r\n\r\n", 21, &rc);
    put(&c->wbuf, body.ptr, body.len, &rc);
    gz_buf_free(&body);
    log_info("http: %s %s: %d %s", c->peer_str, id, status, message ? message : "");
    return rc;
}

void http__resp_error(struct http_conn *c, int status, const char *message)
{
    uv_buf_t b;
    if (c->closing)
        return;
    c->close_after = true;
    if (resp_build_error(c, status, message) < 0) {
        http__conn_close(c, -ENOMEM);
        return;
    }
    b = uv_buf_init(c->wbuf.ptr, (unsigned)c->wbuf.len);
    resp_submit_final(c, &b, 1);
    http__conn_linger(c);
}

void http__resp_reject(struct http_conn *c, const char *why)
{
    if (c->tls == NULL && resp_build_error(c, 503, why) == 0) {
        uv_buf_t b = uv_buf_init(c->wbuf.ptr, (unsigned)c->wbuf.len);
        uv_try_write((uv_stream_t *)&c->tcp, &b, 1); /* best effort, never queued */
    }
    http__conn_close(c, -ECONNREFUSED);
}

/* ---- public ---- */

void http_resp_status(struct http_req *req, int status)
{
    if (req->started || req->finished)
        return;
    req->status = (status >= 100 && status <= 999) ? status : 500;
}

static bool resp_token_char(unsigned char ch)
{
    return ch > 0x20 && ch < 0x7f && !strchr("\"(),/:;<=>?@[\\]{}", ch);
}

int http_resp_header(struct http_req *req, const char *name, struct gz_slice value)
{
    struct http_conn *c = req->conn;
    struct gz_slice n = gz_slice_cstr(name);
    size_t start = c->hdr.len;
    int rc = 0;
    if (req->started || req->finished)
        return -EALREADY;
    if (n.len == 0)
        return -EINVAL;
    for (size_t i = 0; i < n.len; i++) {
        if (!resp_token_char((unsigned char)n.ptr[i]))
            return -EINVAL;
    }
    if (value.len && (memchr(value.ptr, '\r', value.len) || memchr(value.ptr, '\n', value.len) ||
                      memchr(value.ptr, '\0', value.len)))
        return -EINVAL;
    if (gz_slice_case_eq_cstr(n, "content-length") || gz_slice_case_eq_cstr(n, "transfer-encoding"))
        return -EINVAL; /* framing is the server's */
    if (gz_slice_case_eq_cstr(n, "connection")) {
        if (gz_slice_case_eq_cstr(gz_slice_trim(value), "close"))
            c->close_after = true;
        return 0;
    }
    req->app_date |= gz_slice_case_eq_cstr(n, "date");
    req->app_server |= gz_slice_case_eq_cstr(n, "server");
    put(&c->hdr, n.ptr, n.len, &rc);
    put(&c->hdr, ": ", 2, &rc);
    put(&c->hdr, value.ptr, value.len, &rc);
    put(&c->hdr, "\r\n", 2, &rc);
    if (rc < 0)
        c->hdr.len = start; /* all or nothing */
    return rc;
}

int http_resp_headerf(struct http_req *req, const char *name, const char *fmt, ...)
{
    char small[512];
    char *p = small;
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    if ((size_t)n >= sizeof(small)) {
        if ((size_t)n > HTTP__RESP_HDR_MAX)
            return -E2BIG;
        p = http_req_alloc(req, (size_t)n + 1);
        va_start(ap, fmt);
        vsnprintf(p, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    return http_resp_header(req, name, gz_slice(p, (size_t)n));
}

void http_resp_send(struct http_req *req, struct gz_slice body)
{
    struct http_conn *c = req->conn;
    uv_buf_t b;
    if (req->finished || req->started) {
        log_error("http: %s: http_resp_send after the response started", req->info.request_id);
        if (!req->finished) {
            c->close_after = true;
            http_resp_end(req);
        }
        return;
    }
    req->finished = true;
    if (c->closing || c->broken) {
        http__conn_kick(c);
        return;
    }
    if (resp_build_head(req, (int64_t)body.len) < 0 ||
        (!req->no_body && gz_buf_append(&c->wbuf, body.ptr, body.len) < 0)) {
        log_error("http: %s: response of %zu bytes does not fit", req->info.request_id, body.len);
        http__conn_close(c, -ENOMEM);
        http__conn_kick(c);
        return;
    }
    req->sent = body.len;
    req->head_pending = false;
    req->head_written = true;
    b = uv_buf_init(c->wbuf.ptr, (unsigned)c->wbuf.len);
    resp_submit_final(c, &b, 1);
    http__conn_kick(c);
}

void http_resp_start(struct http_req *req, int64_t content_length)
{
    struct http_conn *c = req->conn;
    if (req->started || req->finished) {
        log_error("http: %s: http_resp_start twice", req->info.request_id);
        return;
    }
    if (resp_build_head(req, content_length < 0 ? -1 : content_length) < 0) {
        log_error("http: %s: response headers do not fit", req->info.request_id);
        http__conn_close(c, -ENOMEM);
        http__conn_kick(c);
    }
}

void http_resp_write(struct http_req *req, struct gz_slice data, http_write_cb done, void *ud)
{
    struct http_conn *c = req->conn;
    uv_buf_t bufs[4];
    unsigned n = 0;
    size_t len;
    if (!resp_op_begin(req, done, ud))
        return;
    len = resp_clamp(req, data.len);
    if (req->no_body || len == 0) {
        req->sent += req->no_body ? data.len : 0;
        resp_op_later(req, 0);
        return;
    }
    resp_take_head(req, bufs, &n);
    if (req->chunked_out)
        resp_chunk_line(req, len, bufs, &n);
    bufs[n++] = uv_buf_init((char *)data.ptr, (unsigned)len);
    if (req->chunked_out)
        bufs[n++] = uv_buf_init(resp_crlf, 2);
    req->sent += len;
    int done_now = resp_try_now(c, bufs, n);
    if (done_now < 0) {
        resp_op_later(req, c->close_err);
        return;
    }
    if ((unsigned)done_now == n) {
        resp_op_later(req, 0); /* in the kernel already */
        return;
    }
    if (resp_submit(c, bufs + done_now, n - (unsigned)done_now, WR_OP) < 0)
        resp_op_later(req, c->close_err);
}

void http_resp_sendfile(struct http_req *req, int fd, int64_t offset, int64_t len,
                        http_write_cb done, void *ud)
{
    struct http_conn *c = req->conn;
    uv_buf_t bufs[2];
    unsigned n = 0;
    if (!resp_op_begin(req, done, ud))
        return;
    if (fd < 0 || offset < 0 || len < 0) {
        resp_op_later(req, -EINVAL);
        return;
    }
    len = (int64_t)resp_clamp(req, (size_t)len);
    if (req->no_body || len == 0) {
        req->sent += req->no_body ? (uint64_t)len : 0;
        resp_op_later(req, 0);
        return;
    }
    req->sf_fd = fd;
    req->sf_off = offset;
    req->sf_left = len;
    req->sent += (uint64_t)len;
    resp_take_head(req, bufs, &n);
    if (req->chunked_out)
        resp_chunk_line(req, (uint64_t)len, bufs, &n);
    int done_now = n > 0 ? resp_try_now(c, bufs, n) : 0;
    if (done_now < 0) {
        resp_op_later(req, c->close_err);
        return;
    }
    if ((unsigned)done_now == n) {
        req->sf_phase = SF_SEND; /* pumped by the run step once earlier writes are done */
        http__conn_kick(c);
        return;
    }
    req->sf_phase = SF_PREFIX;
    if (resp_submit(c, bufs + done_now, n - (unsigned)done_now, WR_SF_PREFIX) < 0) {
        req->sf_phase = SF_IDLE;
        resp_op_later(req, c->close_err);
    }
}

void http_resp_end(struct http_req *req)
{
    struct http_conn *c = req->conn;
    if (req->finished) {
        log_error("http: %s: http_resp_end twice", req->info.request_id);
        return;
    }
    if (!req->started)
        http_resp_start(req, 0);
    req->finished = true;
    if (req->op_busy)
        req->end_pending = true; /* finished by the run step once the write is done */
    else
        resp_finish(req);
    http__conn_kick(c);
}
