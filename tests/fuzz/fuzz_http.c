/*
 * fuzz_http.c - HTTP/1.1 request framing as the server does it: this file includes
 * src/http/conn.c, so the bytes go through the connection's own llhttp settings and
 * callbacks (URL and header limits, tchar and CR/LF checks, the TE/CL/Host framing rules),
 * conn_execute with its pauses, http__req_init (request info, keep-alive, Expect), body
 * delivery in HTTP_BODY_CHUNK pieces with conn_compact moving the read buffer, and
 * conn_next_request for pipelined requests. Only the socket side is replaced: the input is
 * "received" in pieces whose sizes its first byte picks, into the connection's bounded read
 * buffer, and where the server would write an error response the run stops.
 *
 * The build links every src/http file except conn.c (included here instead).
 */
#include "fuzz_common.h"

#include "http/conn.c"

#define FZ_MAX_STEPS 100000

struct fz_state {
    const uint8_t *data;
    size_t size, off;
    uint32_t split;
    uint64_t body_bytes;
    int requests;
};

static void fz_on_data(struct http_req *req, struct gz_slice data, void *ud)
{
    struct fz_state *st = ud;
    if (data.len == 0 || data.len > HTTP_BODY_CHUNK)
        abort();
    st->body_bytes += data.len;
}

/* "Receives" the next piece into the read buffer; false if nothing more can come in. */
static bool fz_receive(struct http_conn *c, struct fz_state *st)
{
    size_t room = c->rcap - c->rlen;
    if (st->off >= st->size || room == 0)
        return false;
    size_t n = fuzz_next_piece(&st->split, st->size - st->off);
    if (n > room)
        n = room;
    memcpy(c->rbuf + c->rlen, st->data + st->off, n);
    c->rlen += n;
    st->off += n;
    return true;
}

/* The parsed request must point into the read buffer, and agree with itself. */
static void fz_check_request(struct http_conn *c)
{
    const struct http_req_info *in = &c->req.info;
    const char *lo = c->rbuf, *hi = c->rbuf + c->rlen;
    for (size_t i = 0; i < in->nheaders; i++) {
        const struct http_header *h = &in->headers[i];
        if (h->name.len == 0 || h->name.ptr < lo || h->name.ptr + h->name.len > hi)
            abort();
        if (h->value.len && (h->value.ptr < lo || h->value.ptr + h->value.len > hi))
            abort();
        if (!conn_header_ok(h))
            abort();
    }
    if (in->path.len + (in->query.len ? in->query.len + 1 : 0) > in->target.len)
        abort();
    if (in->target.len > c->lp->srv->cfg.max_url_bytes)
        abort();
    if (in->chunked && in->content_length >= 0)
        abort();
    (void)http_req_header(&c->req, "host");
    (void)http_req_header_count(&c->req, "content-length");
}

/* conn_parse_headers without the writes: false when the connection would stop. */
static bool fz_headers(struct http_conn *c, struct fz_state *st)
{
    const struct http_server_config *cfg = &c->lp->srv->cfg;
    if (c->rpos >= c->rlen)
        return fz_receive(c, st);
    c->state = CS_HEADERS;
    c->err_status = 0;
    if (conn_execute(c, SIZE_MAX) < 0)
        return false; /* 400 / 414 / 431 / 505 */
    if (!c->hdr_complete)
        return c->rlen <= cfg->max_header_bytes && fz_receive(c, st);
    if (c->rpos > cfg->max_header_bytes)
        return false;
    /* conn_dispatch */
    c->state = CS_REQUEST;
    c->keep = c->rpos;
    c->req_active = true;
    http__req_init(c);
    if (c->req_cl <= 0 && !c->req.info.chunked)
        conn_execute(c, 0);
    fz_check_request(c);
    st->requests++;
    c->req.body_state = BODY_READING;
    c->req.on_data = fz_on_data;
    c->req.body_ud = st;
    return true;
}

/* conn_pump_body, then the release and the next request. */
static bool fz_body(struct http_conn *c, struct fz_state *st)
{
    if (c->msg_complete) {
        http__req_release(c);
        c->req_active = false;
        if (!c->req.info.keep_alive || c->parser.method == HTTP_CONNECT ||
            (c->parser.flags & F_UPGRADE))
            return false;
        conn_next_request(c);
        return true;
    }
    if (c->rpos >= c->rlen && !c->parse_pending)
        return fz_receive(c, st);
    if (conn_execute(c, HTTP_BODY_CHUNK) < 0)
        return false;
    conn_compact(c);
    return true;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    gz_log_set_level(GZ_LOG_ERROR);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct http_server srv;
    static struct http_loop lp;
    struct http_conn *c;
    struct fz_state st = {0};
    if (size < 1)
        return 0;
    memset(&srv, 0, sizeof(srv));
    memset(&lp, 0, sizeof(lp));
    srv.cfg.max_header_bytes = 4096; /* small limits, so the fuzzer reaches them */
    srv.cfg.max_headers = 32;
    srv.cfg.max_url_bytes = 1024;
    srv.nloops = 1;
    lp.srv = &srv;
    st.data = data + 1;
    st.size = size - 1;
    st.split = data[0] ? 0x9e3779b9u * data[0] : 0;

    c = gz_calloc(1, sizeof(*c));
    c->lp = &lp;
    c->poll_fd = -1;
    c->rcap = srv.cfg.max_header_bytes + HTTP__READ_SLACK;
    c->rbuf = gz_malloc(c->rcap);
    c->req_cl = -1;
    c->state = CS_IDLE;
    gz_buf_init(&c->hdr, HTTP__RESP_HDR_MAX);
    gz_buf_init(&c->wbuf, HTTP__WBUF_MAX);
    llhttp_init(&c->parser, HTTP_REQUEST, &conn_parser_settings);
    c->parser.data = c;

    for (int steps = 0; steps < FZ_MAX_STEPS; steps++) {
        bool go =
            (c->state == CS_IDLE || c->state == CS_HEADERS) ? fz_headers(c, &st) : fz_body(c, &st);
        if (!go)
            break;
    }
    if (st.body_bytes > size)
        abort();
    if (c->req_active)
        http__req_release(c);
    gz_free(c->hdrs);
    gz_free(c->rbuf);
    gz_buf_free(&c->hdr);
    gz_buf_free(&c->wbuf);
    gz_free(c);
    return 0;
}
