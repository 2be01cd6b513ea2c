/*
 * request.c - the request side of the API: parsed info and headers, the per-request arena and
 * cleanup hooks, cross-thread posting, and body reading with back-pressure.
 *
 * The request is embedded in its connection (one at a time per connection), its header
 * slices point into the connection's read buffer and its arena starts with a block the
 * connection keeps, so a small request costs no allocation at all.
 */
#include <errno.h>
#include <stdio.h>

#include "http_int.h"

#define ARENA_ALIGN 16

static struct gz_slice req_method_slice(uint8_t method)
{
    return gz_slice_cstr(llhttp_method_name((llhttp_method_t)method));
}

void http__req_init(struct http_conn *c)
{
    struct http_req *r = &c->req;
    struct http_req_info *in = &r->info;
    const char *q;
    memset(r, 0, sizeof(*r));
    r->conn = c;
    r->status = 200;
    r->clen = -1;
    r->sf_fd = -1;
    in->method = req_method_slice(c->parser.method);
    in->target = c->url;
    q = c->url.len ? memchr(c->url.ptr, '?', c->url.len) : NULL;
    if (q != NULL) {
        in->path = gz_slice(c->url.ptr, (size_t)(q - c->url.ptr));
        in->query = gz_slice(q + 1, c->url.len - in->path.len - 1);
    } else {
        in->path = c->url;
        in->query = gz_slice(c->url.ptr + c->url.len, 0);
    }
    in->headers = c->hdrs;
    in->nheaders = c->nhdrs;
    in->content_length = c->req_cl;
    in->chunked = (c->parser.flags & F_CHUNKED) != 0;
    in->keep_alive = llhttp_should_keep_alive(&c->parser) != 0;
    in->expect_continue = c->parser.http_minor >= 1 &&
                          gz_slice_case_eq_cstr(http_req_header(r, "expect"), "100-continue");
    in->peer = c->peer;
    memcpy(in->peer_str, c->peer_str, sizeof(in->peer_str));
    http__loop_next_id(c->lp, in->request_id);
    r->head_req = c->parser.method == HTTP_HEAD;
    gz_buf_reset(&c->hdr);
    if (c->arena0 != NULL)
        c->arena0->used = 0;
}

void http__req_release(struct http_conn *c)
{
    struct http_req *r = &c->req;
    struct http__arena_blk *b, *next;
    while (r->hooks != NULL) {
        struct http__hook *h = r->hooks;
        r->hooks = h->next;
        h->fn(h->arg);
    }
    for (b = r->arena_extra; b != NULL; b = next) {
        next = b->next;
        gz_free(b);
    }
    r->arena_extra = NULL;
    if (c->arena0 != NULL)
        c->arena0->used = 0;
    if (c->wbuf.cap > HTTP__WBUF_KEEP)
        gz_buf_free(&c->wbuf);
    if (c->hdr.cap > HTTP__WBUF_KEEP)
        gz_buf_free(&c->hdr);
}

bool http__req_deliver(struct http_conn *c)
{
    struct http_req *r = &c->req;
    if (!c->req_active)
        return false;
    if (r->op_ready) {
        http_write_cb done = r->op_done;
        void *ud = r->op_ud;
        int st = r->op_status;
        r->op_ready = false;
        r->op_busy = false;
        r->op_done = NULL;
        if (done != NULL)
            done(r, st, ud);
        return true;
    }
    if (r->body_end_pending) {
        r->body_end_pending = false;
        if (!r->finished && r->on_end != NULL)
            r->on_end(r, r->body_status, r->body_ud);
        return true;
    }
    return false;
}

void http__req_body_fail(struct http_conn *c, int err)
{
    struct http_req *r = &c->req;
    if (r->body_state == BODY_READING) {
        r->body_state = BODY_FAILED;
        r->body_end_pending = true;
        r->body_status = err;
    } else if (r->body_state == BODY_NONE && c->body_err == 0) {
        c->body_err = err;
    }
}

/* ---- public: info and headers ---- */

const struct http_req_info *http_req_info(const struct http_req *req)
{
    return &req->info;
}

struct gz_slice http_req_header(const struct http_req *req, const char *name)
{
    struct gz_slice n = gz_slice_cstr(name);
    for (size_t i = 0; i < req->info.nheaders; i++) {
        if (gz_slice_case_eq(req->info.headers[i].name, n))
            return req->info.headers[i].value;
    }
    return GZ_SLICE_NULL;
}

size_t http_req_header_count(const struct http_req *req, const char *name)
{
    struct gz_slice n = gz_slice_cstr(name);
    size_t count = 0;
    for (size_t i = 0; i < req->info.nheaders; i++) {
        if (gz_slice_case_eq(req->info.headers[i].name, n))
            count++;
    }
    return count;
}

void *http_req_thread_ctx(const struct http_req *req)
{
    return req->conn->lp->thread_ctx;
}

bool http_req_is_closed(const struct http_req *req)
{
    return req->conn->closing || req->conn->broken;
}

int http_resp_status_get(const struct http_req *req)
{
    return req->status;
}

uint64_t http_req_bytes_in(const struct http_req *req)
{
    return req->conn->body_parsed;
}

uint64_t http_req_bytes_out(const struct http_req *req)
{
    return req->sent;
}

/* ---- public: arena and hooks ---- */

static struct http__arena_blk *req_arena_block(size_t cap)
{
    struct http__arena_blk *b = gz_malloc(sizeof(*b) + cap);
    b->next = NULL;
    b->cap = cap;
    b->used = 0;
    return b;
}

void *http_req_alloc(struct http_req *req, size_t n)
{
    struct http_conn *c = req->conn;
    struct http__arena_blk *b;
    n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (n == 0)
        n = ARENA_ALIGN;
    if (c->arena0 == NULL)
        c->arena0 = req_arena_block(HTTP__ARENA_BLOCK);
    b = c->arena0;
    if (b->cap - b->used < n) {
        /* The newest extra block is at the head; big requests get a block of their own. */
        b = req->arena_extra;
        if (b == NULL || b->cap - b->used < n) {
            b = req_arena_block(GZ_MAX(n, (size_t)HTTP__ARENA_BLOCK));
            b->next = req->arena_extra;
            req->arena_extra = b;
        }
    }
    void *p = (char *)b->align + b->used;
    b->used += n;
    return p;
}

char *http_req_strndup(struct http_req *req, const char *s, size_t n)
{
    char *p = http_req_alloc(req, n + 1);
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void http_req_on_free(struct http_req *req, void (*fn)(void *arg), void *arg)
{
    struct http__hook *h = http_req_alloc(req, sizeof(*h));
    h->fn = fn;
    h->arg = arg;
    h->next = req->hooks;
    req->hooks = h;
}

/* ---- public: posting from other threads ---- */

int http_req_post(struct http_req *req, void (*fn)(struct http_req *req, void *arg), void *arg)
{
    struct http_loop *lp = req->conn->lp;
    struct http__post *p = gz_malloc(sizeof(*p));
    int rc;
    p->next = NULL;
    p->req = req;
    p->fn = fn;
    p->arg = arg;
    pthread_mutex_lock(&lp->post_mu);
    if (lp->post_tail)
        lp->post_tail->next = p;
    else
        lp->post_head = p;
    lp->post_tail = p;
    /* Sent under the lock: once the loop can take p, this thread no longer touches lp (the
     * request may finish and the server be destroyed right after). */
    rc = uv_async_send(&lp->post_async);
    pthread_mutex_unlock(&lp->post_mu);
    return rc < 0 ? rc : 0;
}

/* ---- public: body ---- */

static void req_send_continue(struct http_conn *c)
{
    static char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    uv_buf_t b = uv_buf_init(cont, sizeof(cont) - 1);
    c->req.continue_sent = true;
    if (http__conn_write(c, &c->wr_cont, &b, 1, http__resp_on_write) < 0) {
        c->broken = true;
        http__conn_close(c, -EPIPE);
        return;
    }
    c->writes_pending++;
    c->t_write = uv_now(&c->lp->loop);
}

void http_req_read_body(struct http_req *req, http_body_data_cb on_data, http_body_end_cb on_end,
                        void *ud)
{
    struct http_conn *c = req->conn;
    if (req->body_state != BODY_NONE || req->finished) {
        log_warn("http: %s: body read twice or after the response", req->info.request_id);
        return;
    }
    req->on_data = on_data;
    req->on_end = on_end;
    req->body_ud = ud;
    if (c->msg_complete) { /* no body (bodies are only parsed once reading starts) */
        /* A client that asked for 100-continue waits for it even with an empty body; boto3
         * otherwise misparses the next response on the connection. */
        if (req->info.expect_continue && !req->head_written && !req->continue_sent)
            req_send_continue(c);
        req->body_state = BODY_DONE;
        req->body_end_pending = true;
        req->body_status = 0;
    } else if (c->body_err != 0 || c->closing) {
        req->body_state = BODY_FAILED;
        req->body_end_pending = true;
        req->body_status = c->body_err ? c->body_err : c->close_err;
    } else {
        req->body_state = BODY_READING;
        if (req->info.expect_continue && !req->head_written)
            req_send_continue(c);
        c->t_activity = uv_now(&c->lp->loop);
    }
    http__conn_kick(c);
}

void http_req_pause_body(struct http_req *req)
{
    req->body_paused = true;
    http__conn_kick(req->conn);
}

void http_req_resume_body(struct http_req *req)
{
    if (!req->body_paused)
        return;
    req->body_paused = false;
    req->conn->t_activity = uv_now(&req->conn->lp->loop);
    http__conn_kick(req->conn);
}
