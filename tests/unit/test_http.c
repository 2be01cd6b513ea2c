/*
 * test_http.c - the HTTP/1.1 server core driven over raw sockets: the server runs on
 * 127.0.0.1:0 with 2 loop threads in a background pthread, with a small handler (echo,
 * streaming, sendfile, delayed replies posted from other threads), and each test speaks
 * HTTP/1.1 byte by byte to check framing, limits, timeouts, pipelining and stop/drain.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "http/http.h"
#include "http/http_int.h"
#include "tap.h"

#define FILE_SIZE (3 * 1024 * 1024)

/* ---- state shared between the handler (loop threads) and the tests ---- */

static struct http_server *g_srv;
static pthread_t g_srv_thread;
static int g_port;
static int64_t g_min_rate;       /* server_start_ip: http_server_config.min_rate */
static uint64_t g_rate_window_ms; /* and rate_window_ms */
static char g_file_path[64];
static int g_file_fd = -1;
static atomic_int g_body_status = 1;   /* last on_end status of /slowbody */
static atomic_int g_write_status = 1;  /* first failed write status of /bigstream */
static atomic_int g_write_closed = 0;  /* http_req_is_closed seen by /bigstream */
static atomic_int g_pipeline_busy = 0; /* a /p request is with the application */
static atomic_int g_pipeline_violation = 0;
static atomic_int g_thread_inits = 0;
static atomic_int g_protocol_errors = 0;
static char g_hook_order[16];
static pthread_mutex_t g_hook_mu = PTHREAD_MUTEX_INITIALIZER;

/* ---- handler helpers ---- */

static long query_num(const struct http_req_info *in, const char *key, long dflt)
{
    char q[256];
    size_t n = GZ_MIN(in->query.len, sizeof(q) - 1);
    memcpy(q, in->query.ptr, n);
    q[n] = '\0';
    char *p = strstr(q, key);
    if (p == NULL || p[strlen(key)] != '=')
        return dflt;
    return strtol(p + strlen(key) + 1, NULL, 10);
}

struct delay {
    struct http_req *req;
    long ms;
    void (*fn)(struct http_req *req, void *arg);
    void *arg;
};

static void *delay_main(void *arg)
{
    struct delay *d = arg;
    usleep((useconds_t)d->ms * 1000);
    http_req_post(d->req, d->fn, d->arg);
    gz_free(d);
    return NULL;
}

/* Runs fn on the request's loop after ms, posted from another thread. */
static void delay_post(struct http_req *req, long ms, void (*fn)(struct http_req *, void *),
                       void *arg)
{
    struct delay *d = gz_malloc(sizeof(*d));
    pthread_t t;
    d->req = req;
    d->ms = ms;
    d->fn = fn;
    d->arg = arg;
    pthread_create(&t, NULL, delay_main, d);
    pthread_detach(t);
}

static void send_text(struct http_req *req, int status, const char *text)
{
    http_resp_status(req, status);
    http_resp_header(req, "Content-Type", GZ_SLICE_LIT("text/plain"));
    http_resp_send(req, gz_slice_cstr(text));
}

/* /echo and /slowbody: collect the body, send it back. */
struct echo {
    struct gz_buf buf;
    bool record;
    bool pause;
    uint64_t sum;
};

static void echo_free(void *arg)
{
    struct echo *e = arg;
    gz_buf_free(&e->buf);
}

static void echo_resume(struct http_req *req, void *arg)
{
    http_req_resume_body(req);
}

static void echo_data(struct http_req *req, struct gz_slice data, void *ud)
{
    struct echo *e = ud;
    if (data.len > HTTP_BODY_CHUNK)
        gz_buf_append_cstr(&e->buf, "CHUNK TOO BIG");
    for (size_t i = 0; i < data.len; i++)
        e->sum += (unsigned char)data.ptr[i];
    if (e->pause) {
        e->buf.len += data.len; /* count only */
        http_req_pause_body(req);
        delay_post(req, 1, echo_resume, NULL);
        return;
    }
    if (gz_buf_append(&e->buf, data.ptr, data.len) < 0)
        e->buf.len = 0;
}

static void echo_end(struct http_req *req, int status, void *ud)
{
    struct echo *e = ud;
    char msg[64];
    if (e->record)
        atomic_store(&g_body_status, status);
    if (status < 0) {
        snprintf(msg, sizeof(msg), "body failed %d", status);
        send_text(req, 400, msg);
        return;
    }
    struct gz_slice te = http_req_header(req, "transfer-encoding");
    if (te.ptr != NULL) /* trailers must not have touched the request headers */
        http_resp_header(req, "X-Te", te);
    if (e->pause) {
        snprintf(msg, sizeof(msg), "%zu %llu", e->buf.len, (unsigned long long)e->sum);
        send_text(req, 200, msg);
        return;
    }
    http_resp_send(req, gz_buf_slice(&e->buf));
}

static void handle_echo(struct http_req *req, bool record, bool pause)
{
    struct echo *e = http_req_alloc(req, sizeof(*e));
    memset(e, 0, sizeof(*e));
    gz_buf_init(&e->buf, 16 * 1024 * 1024);
    e->record = record;
    e->pause = pause;
    http_req_on_free(req, echo_free, e);
    http_req_read_body(req, echo_data, echo_end, e);
}

/* /stream: three chunked writes; /streamcl: two writes under a Content-Length. */
struct stream {
    int left, next;
    char piece[16];
};

static void stream_next(struct http_req *req, int status, void *ud)
{
    struct stream *s = ud;
    if (status < 0 || s->left == 0) {
        http_resp_end(req);
        return;
    }
    snprintf(s->piece, sizeof(s->piece), "part%d", ++s->next);
    s->left--;
    http_resp_write(req, gz_slice_cstr(s->piece), stream_next, s);
}

static void handle_stream(struct http_req *req, int64_t clen, int parts)
{
    struct stream *s = http_req_alloc(req, sizeof(*s));
    s->left = parts;
    s->next = 0;
    http_resp_start(req, clen);
    stream_next(req, 0, s);
}

/* /bigstream: writes until the client goes away. */
static char big_chunk[64 * 1024];

static void bigstream_next(struct http_req *req, int status, void *ud)
{
    intptr_t n = (intptr_t)ud;
    if (status < 0 || n >= 1024) {
        if (status < 0) {
            atomic_store(&g_write_status, status);
            atomic_store(&g_write_closed, http_req_is_closed(req));
        }
        http_resp_end(req);
        return;
    }
    http_resp_write(req, gz_slice(big_chunk, sizeof(big_chunk)), bigstream_next, (void *)(n + 1));
}

static void file_done(struct http_req *req, int status, void *ud)
{
    http_resp_end(req);
}

static void handle_file(struct http_req *req, const struct http_req_info *in, bool chunked)
{
    long off = query_num(in, "off", 0);
    long len = query_num(in, "len", FILE_SIZE - off);
    http_resp_header(req, "Content-Type", GZ_SLICE_LIT("application/octet-stream"));
    http_resp_start(req, chunked ? -1 : len);
    http_resp_sendfile(req, g_file_fd, off, len, file_done, NULL);
}

static void delayed_reply(struct http_req *req, void *arg)
{
    send_text(req, 200, "delayed");
}

static void lateread_end(struct http_req *req, int status, void *ud)
{
    atomic_store(&g_body_status, status == 0 ? 2 : status);
    send_text(req, 200, "late");
}

static void lateread_start(struct http_req *req, void *arg)
{
    http_req_read_body(req, NULL, lateread_end, NULL);
}

static void hook_record(void *arg)
{
    pthread_mutex_lock(&g_hook_mu);
    size_t n = strlen(g_hook_order);
    if (n + 1 < sizeof(g_hook_order)) {
        g_hook_order[n] = (char)(intptr_t)arg;
        g_hook_order[n + 1] = '\0';
    }
    pthread_mutex_unlock(&g_hook_mu);
}

static void pipeline_free(void *arg)
{
    atomic_store(&g_pipeline_busy, 0);
}

static void handle_misc(struct http_req *req, const struct http_req_info *in)
{
    char msg[128];
    if (gz_slice_eq_cstr(in->path, "/badhdr")) {
        int a = http_resp_header(req, "X-Bad", GZ_SLICE_LIT("a\r\nInjected: 1"));
        int b = http_resp_header(req, "X\nBad", GZ_SLICE_LIT("v"));
        int c = http_resp_header(req, "X-Good", GZ_SLICE_LIT("ok"));
        snprintf(msg, sizeof(msg), "%d %d %d", a, b, c);
        send_text(req, 200, msg);
    } else if (gz_slice_eq_cstr(in->path, "/hooks")) {
        pthread_mutex_lock(&g_hook_mu);
        g_hook_order[0] = '\0';
        pthread_mutex_unlock(&g_hook_mu);
        http_req_on_free(req, hook_record, (void *)(intptr_t)'1');
        http_req_on_free(req, hook_record, (void *)(intptr_t)'2');
        http_req_on_free(req, hook_record, (void *)(intptr_t)'3');
        char *big = http_req_alloc(req, 100000); /* beyond the first arena block */
        memset(big, 'x', 100000);
        send_text(req, 200, http_req_strndup(req, "hooked", 6));
    } else if (gz_slice_eq_cstr(in->path, "/hookorder")) {
        pthread_mutex_lock(&g_hook_mu);
        snprintf(msg, sizeof(msg), "%s", g_hook_order);
        pthread_mutex_unlock(&g_hook_mu);
        send_text(req, 200, msg);
    } else if (gz_slice_eq_cstr(in->path, "/info")) {
        snprintf(msg, sizeof(msg), "%.*s|%.*s|%.*s|%lld|%d|%s|%zu", (int)in->method.len,
                 in->method.ptr, (int)in->path.len, in->path.ptr, (int)in->query.len, in->query.ptr,
                 (long long)in->content_length, (int)http_req_header_count(req, "x-dup"),
                 in->request_id, http_req_header(req, "X-Spaced").len);
        send_text(req, 200, msg);
    } else {
        send_text(req, 404, "not found");
    }
}

static void on_request(struct http_req *req, void *app)
{
    const struct http_req_info *in = http_req_info(req);
    struct gz_slice p = in->path;
    http_resp_headerf(req, "X-Req-Id", "%s", in->request_id);
    if (http_req_thread_ctx(req) != app)
        http_resp_header(req, "X-Bad-Ctx", GZ_SLICE_LIT("1"));
    if (gz_slice_starts_with(p, "/p")) {
        if (atomic_exchange(&g_pipeline_busy, 1))
            atomic_store(&g_pipeline_violation, 1);
        http_req_on_free(req, pipeline_free, NULL);
    }
    if (gz_slice_eq_cstr(p, "/hello") || gz_slice_eq_cstr(p, "/p/hello")) {
        send_text(req, 200, "hello");
    } else if (gz_slice_eq_cstr(p, "/echo") || gz_slice_eq_cstr(p, "/p/echo")) {
        handle_echo(req, false, false);
    } else if (gz_slice_eq_cstr(p, "/slowbody")) {
        handle_echo(req, true, false);
    } else if (gz_slice_eq_cstr(p, "/pause")) {
        handle_echo(req, false, true);
    } else if (gz_slice_eq_cstr(p, "/noread")) {
        send_text(req, 200, "no");
    } else if (gz_slice_eq_cstr(p, "/delay") || gz_slice_eq_cstr(p, "/p/delay")) {
        delay_post(req, query_num(in, "ms", 100), delayed_reply, NULL);
    } else if (gz_slice_eq_cstr(p, "/lateread")) {
        delay_post(req, 200, lateread_start, NULL);
    } else if (gz_slice_eq_cstr(p, "/stream")) {
        handle_stream(req, -1, 3);
    } else if (gz_slice_eq_cstr(p, "/streamcl")) {
        handle_stream(req, 10, 2);
    } else if (gz_slice_eq_cstr(p, "/short")) {
        handle_stream(req, 100, 2);
    } else if (gz_slice_eq_cstr(p, "/bigstream")) {
        http_resp_start(req, -1);
        bigstream_next(req, 0, (void *)0);
    } else if (gz_slice_eq_cstr(p, "/file")) {
        handle_file(req, in, false);
    } else if (gz_slice_eq_cstr(p, "/filechunked")) {
        handle_file(req, in, true);
    } else if (gz_slice_eq_cstr(p, "/head")) {
        http_resp_start(req, 1234);
        http_resp_end(req);
    } else if (gz_slice_eq_cstr(p, "/nocontent")) {
        http_resp_status(req, 204);
        http_resp_send(req, GZ_SLICE_NULL);
    } else {
        handle_misc(req, in);
    }
}

static void *thread_init(int index, void *app)
{
    atomic_fetch_add(&g_thread_inits, 1);
    return app;
}

static void protocol_error(int status, const char *message, const char *request_id,
                           struct gz_buf *body, const char **content_type, void *app)
{
    atomic_fetch_add(&g_protocol_errors, 1);
    gz_buf_appendf(body,
                   "<Error><Code>%d</Code><Message>%s</Message><RequestId>%s</RequestId></Error>",
                   status, message, request_id);
    *content_type = "application/xml";
}

/* ---- server lifecycle ---- */

static void *server_main(void *arg)
{
    http_server_run(arg);
    return NULL;
}

static struct http_server *server_start_ip(const char *listen, size_t max_conns,
                                           size_t per_ip, int *port, pthread_t *th)
{
    static int app_token;
    struct http_server_config cfg = {
        .listen = listen,
        .threads = 2,
        .max_connections = max_conns,
        .max_connections_per_ip = per_ip,
        .header_timeout_ms = 300,
        .idle_timeout_ms = 700,
        .min_rate = g_min_rate,
        .rate_window_ms = g_rate_window_ms,
        .server_name = "gzy-test",
        .on_request = on_request,
        .on_thread_init = thread_init,
        .on_protocol_error = protocol_error,
        .app = &app_token,
    };
    struct http_server *srv = NULL;
    int rc = http_server_create(&cfg, &srv);
    if (rc < 0) {
        printf("# http_server_create(%s): %s\n", listen, strerror(-rc));
        return NULL;
    }
    *port = http_server_port(srv);
    pthread_create(th, NULL, server_main, srv);
    return srv;
}

static struct http_server *server_start(const char *listen, size_t max_conns, int *port,
                                        pthread_t *th)
{
    return server_start_ip(listen, max_conns, 0, port, th);
}

/* ---- raw client ---- */

struct cli {
    int fd;
    size_t len;
    char buf[256 * 1024];
};

struct resp {
    int status;
    char head[16384];
    char *body;
    size_t body_len;
};

/* src4: IPv4 source address (host order) to bind, 0 = any. */
static struct cli *cli_open_src(int port, bool v6, uint32_t src4)
{
    struct cli *c = gz_calloc(1, sizeof(*c));
    struct timeval tv = {5, 0};
    int one = 1;
    c->fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (v6) {
        struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
        a.sin6_addr = in6addr_loopback;
        if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) < 0)
            printf("# connect: %s\n", strerror(errno));
    } else {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(src4)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (src4 != 0 && bind(c->fd, (struct sockaddr *)&src, sizeof(src)) < 0)
            printf("# bind: %s\n", strerror(errno));
        if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) < 0)
            printf("# connect: %s\n", strerror(errno));
    }
    return c;
}

static struct cli *cli_open_port(int port, bool v6)
{
    return cli_open_src(port, v6, 0);
}

static struct cli *cli_open(void)
{
    return cli_open_port(g_port, false);
}

static void cli_close(struct cli *c)
{
    if (c->fd >= 0)
        close(c->fd);
    gz_free(c);
}

static bool cli_send(struct cli *c, const void *p, size_t n)
{
    const char *s = p;
    while (n > 0) {
        ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return false;
        s += w;
        n -= (size_t)w;
    }
    return true;
}

static bool cli_sends(struct cli *c, const char *s)
{
    return cli_send(c, s, strlen(s));
}

/* Reads more into the buffer: >0 bytes, 0 EOF, <0 error/timeout. */
static ssize_t cli_fill(struct cli *c)
{
    if (c->len == sizeof(c->buf))
        return -1;
    ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
    if (n > 0)
        c->len += (size_t)n;
    return n < 0 ? -errno : n;
}

static void cli_consume(struct cli *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* Reads exactly n body bytes into out (may be NULL to skip). */
static bool cli_read_n(struct cli *c, char *out, size_t n)
{
    while (n > 0) {
        if (c->len == 0 && cli_fill(c) <= 0)
            return false;
        size_t k = GZ_MIN(n, c->len);
        if (out) {
            memcpy(out, c->buf, k);
            out += k;
        }
        cli_consume(c, k);
        n -= k;
    }
    return true;
}

static bool cli_read_line(struct cli *c, char *line, size_t max)
{
    for (;;) {
        char *nl = memchr(c->buf, '\n', c->len);
        if (nl != NULL) {
            size_t n = (size_t)(nl - c->buf) + 1;
            size_t k = GZ_MIN(n, max - 1);
            memcpy(line, c->buf, k);
            line[k] = '\0';
            cli_consume(c, n);
            return true;
        }
        if (cli_fill(c) <= 0)
            return false;
    }
}

/* Header value (first match, case-insensitive) from a response head, into out. */
static bool resp_hdr(const struct resp *r, const char *name, char *out, size_t outsz)
{
    const char *p = r->head;
    size_t nl = strlen(name);
    while ((p = strstr(p, "\r\n")) != NULL) {
        p += 2;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1, *e = strstr(v, "\r\n");
            while (*v == ' ')
                v++;
            size_t n = GZ_MIN((size_t)(e - v), outsz - 1);
            memcpy(out, v, n);
            out[n] = '\0';
            return true;
        }
    }
    return false;
}

static bool cli_read_head(struct cli *c, struct resp *r)
{
    char *end;
    memset(r, 0, sizeof(*r));
    r->status = -1;
    while ((end = memmem(c->buf, c->len, "\r\n\r\n", 4)) == NULL) {
        if (cli_fill(c) <= 0)
            return false;
    }
    size_t n = (size_t)(end - c->buf) + 4;
    if (n >= sizeof(r->head))
        return false;
    memcpy(r->head, c->buf, n);
    r->head[n] = '\0';
    cli_consume(c, n);
    if (sscanf(r->head, "HTTP/1.1 %d", &r->status) != 1)
        return false;
    return true;
}

static bool cli_read_chunked(struct cli *c, struct resp *r)
{
    char line[128];
    size_t cap = 0;
    for (;;) {
        if (!cli_read_line(c, line, sizeof(line)))
            return false;
        size_t sz = strtoul(line, NULL, 16);
        if (sz == 0)
            return cli_read_line(c, line, sizeof(line)); /* the final CRLF */
        if (r->body_len + sz + 1 > cap) {
            cap = (r->body_len + sz + 1) * 2;
            r->body = gz_realloc(r->body, cap);
        }
        if (!cli_read_n(c, r->body + r->body_len, sz) || !cli_read_line(c, line, sizeof(line)))
            return false;
        r->body_len += sz;
        r->body[r->body_len] = '\0';
    }
}

/* Reads one response; head_req: no body expected. */
static bool cli_read_resp(struct cli *c, struct resp *r, bool head_req)
{
    char v[64];
    if (!cli_read_head(c, r))
        return false;
    if (head_req || r->status == 204 || r->status == 304 || r->status < 200)
        return true;
    if (resp_hdr(r, "Transfer-Encoding", v, sizeof(v)))
        return cli_read_chunked(c, r);
    if (resp_hdr(r, "Content-Length", v, sizeof(v))) {
        r->body_len = strtoul(v, NULL, 10);
        r->body = gz_malloc(r->body_len + 1);
        r->body[r->body_len] = '\0';
        return cli_read_n(c, r->body, r->body_len);
    }
    /* close-delimited: read to EOF */
    ssize_t n;
    while ((n = cli_fill(c)) > 0)
        ;
    r->body = gz_malloc(c->len + 1);
    memcpy(r->body, c->buf, c->len);
    r->body_len = c->len;
    r->body[r->body_len] = '\0';
    c->len = 0;
    return n == 0;
}

static void resp_free(struct resp *r)
{
    gz_free(r->body);
    r->body = NULL;
}

/* Expects the server to close: EOF (or a reset) within a few seconds, with no more bytes. */
static bool cli_expect_eof(struct cli *c)
{
    if (c->len > 0)
        return false;
    ssize_t n = cli_fill(c);
    return n == 0 || n == -ECONNRESET;
}

static bool body_is(const struct resp *r, const char *s)
{
    return r->body != NULL && r->body_len == strlen(s) && memcmp(r->body, s, r->body_len) == 0;
}

static bool wait_until(atomic_int *v, int not_value, int ms)
{
    for (int i = 0; i < ms / 10; i++) {
        if (atomic_load(v) != not_value)
            return true;
        usleep(10000);
    }
    return atomic_load(v) != not_value;
}

/* ---- tests ---- */

static void t_keepalive(void)
{
    struct cli *c = cli_open();
    struct resp r1, r2;
    char v[64], id1[64] = "", id2[64] = "";
    cli_sends(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    TAP_OK(cli_read_resp(c, &r1, false) && r1.status == 200 && body_is(&r1, "hello"),
           "first response 200 hello (%d)", r1.status);
    TAP_OK(strncmp(r1.head, "HTTP/1.1 200 OK\r\n", 17) == 0, "status line with reason");
    TAP_OK(resp_hdr(&r1, "Date", v, sizeof(v)) && strlen(v) == 29, "Date header: %s", v);
    TAP_OK(resp_hdr(&r1, "Server", v, sizeof(v)) && strcmp(v, "gzy-test") == 0, "Server");
    TAP_OK(resp_hdr(&r1, "Content-Length", v, sizeof(v)) && strcmp(v, "5") == 0, "CL 5");
    TAP_OK(!resp_hdr(&r1, "Connection", v, sizeof(v)), "no Connection: close");
    TAP_OK(!resp_hdr(&r1, "X-Bad-Ctx", v, sizeof(v)), "thread ctx is the app's");
    resp_hdr(&r1, "X-Req-Id", id1, sizeof(id1));
    cli_sends(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    TAP_OK(cli_read_resp(c, &r2, false) && r2.status == 200 && body_is(&r2, "hello"),
           "second response on the same connection");
    resp_hdr(&r2, "X-Req-Id", id2, sizeof(id2));
    TAP_OK(strlen(id1) == 16 && strspn(id1, "0123456789abcdef") == 16, "request id %s", id1);
    TAP_OK(strlen(id2) == 16 && strcmp(id1, id2) != 0, "request ids differ: %s", id2);
    resp_free(&r1);
    resp_free(&r2);
    cli_close(c);
    for (int i = 0; i < 200 && atomic_load(&g_thread_inits) < 2; i++)
        usleep(10000);
    TAP_OK(atomic_load(&g_thread_inits) == 2, "on_thread_init ran on both loops");
}

static void t_request_info(void)
{
    struct cli *c = cli_open();
    struct resp r;
    cli_sends(c, "POST /info?a=1&b=%20 HTTP/1.1\r\nHost: x\r\nX-Dup: 1\r\nx-dup: 2\r\n"
                 "X-Spaced:   padded value   \r\nContent-Length: 0\r\n\r\n");
    TAP_OK(cli_read_resp(c, &r, false) && r.status == 200, "info 200");
    TAP_OK(r.body && strncmp(r.body, "POST|/info|a=1&b=%20|0|2|", 25) == 0 &&
               r.body_len == 25 + 16 + 3 && strcmp(r.body + 41, "|12") == 0,
           "method, path, query, CL, dup count, trimmed value: %s", r.body ? r.body : "");
    resp_free(&r);
    cli_close(c);
}

static void t_pipelining(void)
{
    struct cli *c = cli_open();
    struct resp r[4];
    bool ok = true;
    atomic_store(&g_pipeline_violation, 0);
    cli_sends(c, "GET /p/delay?ms=150 HTTP/1.1\r\nHost: x\r\n\r\n"
                 "POST /p/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcde"
                 "GET /p/hello HTTP/1.1\r\nHost: x\r\n\r\n");
    for (int i = 0; i < 3; i++)
        ok = ok && cli_read_resp(c, &r[i], false);
    TAP_OK(ok, "three pipelined responses");
    TAP_OK(ok && body_is(&r[0], "delayed") && body_is(&r[1], "abcde") && body_is(&r[2], "hello"),
           "in order: delayed, echo, hello");
    TAP_OK(atomic_load(&g_pipeline_violation) == 0, "request N+1 waited for response N");
    for (int i = 0; i < 3; i++)
        resp_free(&r[i]);
    /* A pipelined burst in many tiny pieces */
    const char *req = "GET /p/hello HTTP/1.1\r\nHost: x\r\n\r\n";
    for (int i = 0; i < 3; i++)
        for (const char *p = req; *p; p++)
            cli_send(c, p, 1);
    ok = true;
    for (int i = 0; i < 3; i++) {
        ok = ok && cli_read_resp(c, &r[3], false) && body_is(&r[3], "hello");
        resp_free(&r[3]);
    }
    TAP_OK(ok, "requests sent byte by byte");
    cli_close(c);
}

static void t_continue(void)
{
    struct cli *c = cli_open();
    struct resp r;
    char v[64];
    cli_sends(c, "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                 "Content-Length: 5\r\n\r\n");
    TAP_OK(cli_read_head(c, &r) && r.status == 100 &&
               strcmp(r.head, "HTTP/1.1 100 Continue\r\n\r\n") == 0,
           "100 Continue once the app reads");
    cli_sends(c, "hello");
    TAP_OK(cli_read_resp(c, &r, false) && r.status == 200 && body_is(&r, "hello"),
           "body echoed after 100");
    resp_free(&r);
    cli_sends(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    TAP_OK(cli_read_resp(c, &r, false) && body_is(&r, "hello"), "still keep-alive");
    resp_free(&r);
    cli_close(c);

    /* The app answers without reading: no 100, Connection: close, then EOF. */
    c = cli_open();
    cli_sends(c, "PUT /noread HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                 "Content-Length: 100000000\r\n\r\n");
    TAP_OK(cli_read_resp(c, &r, false) && r.status == 200 && body_is(&r, "no"),
           "final response without 100 (%d)", r.status);
    TAP_OK(resp_hdr(&r, "Connection", v, sizeof(v)) && strcmp(v, "close") == 0,
           "Connection: close when the body was not read");
    TAP_OK(cli_expect_eof(c), "connection closed after the response");
    resp_free(&r);
    cli_close(c);
}

static void t_discard_small_body(void)
{
    struct cli *c = cli_open();
    struct resp r;
    char body[1000];
    memset(body, 'z', sizeof(body));
    cli_sends(c, "PUT /noread HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n");
    cli_send(c, body, sizeof(body));
    TAP_OK(cli_read_resp(c, &r, false) && r.status == 200, "unread small body: 200");
    resp_free(&r);
    cli_sends(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    TAP_OK(cli_read_resp(c, &r, false) && body_is(&r, "hello"), "body discarded, kept alive");
    resp_free(&r);
    cli_close(c);
}

static void t_chunked_body(void)
{
    struct cli *c = cli_open();
    struct resp r;
    /* 16 header fields: a trailer appended to the header array would have to grow it */
    cli_sends(c, "POST /echo HTTP/1.1\r\nHost: x\r\nA1: 1\r\nA2: 2\r\nA3: 3\r\nA4: 4\r\n"
                 "A5: 5\r\nA6: 6\r\nA7: 7\r\nA8: 8\r\nA9: 9\r\nA10: 10\r\nA11: 11\r\n"
                 "A12: 12\r\nA13: 13\r\nA14: 14\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\nX-T2: u\r\n\r\n");
    char v[64];
    TAP_OK(cli_read_resp(c, &r, false) && r.status == 200 && body_is(&r, "hello world"),
           "chunked request body decoded");
    TAP_OK(resp_hdr(&r, "X-Te", v, sizeof(v)) && strcmp(v, "chunked") == 0,
           "trailers left the request headers alone (%s)", v);
    resp_free(&r);
    cli_sends(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    TAP_OK(cli_read_resp(c, &r, false) && body_is(&r, "hello"), "keep-alive after chunked");
    resp_free(&r);
    cli_sends(c, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "zz\r\nhello\r\n0\r\n\r\n");
    TAP_OK(cli_read_resp(c, &r, false) && r.status == 400, "bad chunk size: on_end < 0 (%d)",
           r.status);
    TAP_OK(cli_expect_eof(c), "closed after bad chunked framing");
    resp_free(&r);
    cli_close(c);
}

/* The two bytes after chunk data must be CRLF (llhttp 8.1 non-strict skips them unchecked);
 * checked whether they arrive with the data or in a later read. */
static void t_chunk_crlf(void)
{
    static const char head[] =
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    struct cli *c = cli_open();
    struct resp r;
    cli_sends(c, head);
    cli_sends(c, "5\r\nhelloXX0\r\n\r\n");
    TAP_OK(cli_read_resp(c, &r, false) && r.status == 400, "chunk data + XX: 400 (%d)",
           r.status);
    TAP_OK(cli_expect_eof(c), "closed after chunk data not followed by CRLF");
    resp_free(&r);
    cli_close(c);

    c = cli_open();
    cli_sends(c, head);
    cli_sends(c, "5\r\nhello\r");
    usleep(50000);
    cli_sends(c, "X0\r\n\r\n");
    TAP_OK(cli_read_resp(c, &r, false) && r.status == 400, "CR then X in a later read: 400 (%d)",
           r.status);
    resp_free(&r);
    cli_close(c);

    c = cli_open();
    cli_sends(c, head);
    cli_sends(c, "5\r\nhello");
    usleep(50000);
    cli_sends(c, "\r");
    usleep(50000);
    cli_sends(c, "\n3\r\nabc\r\n0\r\n\r\n");
    TAP_OK(cli_read_resp(c, &r, false) && r.status == 200 && body_is(&r, "helloabc"),
           "CRLF split over reads accepted (%d)", r.status);
    resp_free(&r);
    cli_close(c);
}

static void t_large_body(void)
{
    struct cli *c = cli_open();
    struct resp r;
    size_t n = 1536 * 1024;
    char *body = gz_malloc(n), head[128], expect[64];
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        body[i] = (char)(i * 7 + i / 1000);
        sum += (unsigned char)body[i];
    }
    snprintf(head, sizeof(head), "PUT /pause HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n",
             n);
    cli_sends(c, head);
    TAP_OK(cli_send(c, body, n), "1.5 MiB body sent under pause/resume back-pressure");
    snprintf(expect, sizeof(expect), "%zu %llu", n, (unsigned long long)sum);
    TAP_OK(cli_read_resp(c, &r, false) && body_is(&r, expect), "all bytes seen once: %s",
           r.body ? r.body : "");
    resp_free(&r);
    snprintf(head, sizeof(head), "PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", n);
    cli_sends(c, head);
    cli_send(c, body, n);
    TAP_OK(cli_read_resp(c, &r, false) && r.body_len == n && memcmp(r.body, body, n) == 0,
           "1.5 MiB echoed intact");
    resp_free(&r);
    gz_free(body);
    cli_close(c);
}

static void t_head_and_nocontent(void)
{
    struct cli *c = cli_open();
    struct resp r;
    char v[64];
    cli_sends(c, "HEAD /head HTTP/1.1\r\nHost: x\r\n\r\n");
    TAP_OK(cli_read_resp(c, &r, true) && r.status == 200, "HEAD 200");
    TAP_OK(resp_hdr(&r, "Content-Length", v, sizeof(v)) && strcmp(v, "1234") == 0,
           "HEAD keeps the given Content-Length");
    cli_sends(c, "HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    TAP_OK(cli_read_resp(c, &r, true) && r.status == 200 &&
               resp_hdr(&r, "Content-Length", v, sizeof(v)) && strcmp(v, "5") == 0,
           "HEAD via http_resp_send: CL 5, no body");
    cli_sends(c, "GET /nocontent HTTP/1.1\r\nHost: x\r\n\r\n");
    TAP_OK(cli_read_resp(c, &r, false) && r.status == 204 &&
               !resp_hdr(&r, "Content-Length", v, sizeof(v)),
           "204 without Content-Length");
    cli_sends(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    TAP_OK(cli_read_resp(c, &r, false) && body_is(&r, "hello"), "no stray body bytes");
    resp_free(&r);
    cli_close(c);
}

/* Sends raw bytes, expects a status, Connection: close, an XML error body and then EOF. */
static void expect_error(const char *what, const char *req, size_t len, int status)
{
    struct cli *c = cli_open();
    struct resp r;
    char v[64];
    cli_send(c, req, len);
    bool ok = cli_read_resp(c, &r, false);
    TAP_OK(ok && r.status == status, "%s -> %d (got %d)", what, status, r.status);
    TAP_OK(resp_hdr(&r, "Connection", v, sizeof(v)) && strcmp(v, "close") == 0 && r.body &&
               strstr(r.body, "<RequestId>") && resp_hdr(&r, "Content-Type", v, sizeof(v)) &&
               strcmp(v, "application/xml") == 0,
           "%s: close + on_protocol_error body", what);
    TAP_OK(cli_expect_eof(c), "%s: connection closed", what);
    resp_free(&r);
    cli_close(c);
}

static void t_framing_errors(void)
{
    const char *cl_te = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    const char *dup_cl = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                         "Content-Length: 6\r\n\r\nhello!";
    const char *neg_cl = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\nhello";
    const char *te_gzip = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked"
                          "\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    const char *garbage = "GET / HTTP/1.1\r\nHost: x\r\nBad Header: v\r\n\r\n";
    const char *no_host = "GET /hello HTTP/1.1\r\n\r\n";
    const char *space_colon = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello";
    const char *folded = "GET /hello HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n";
    expect_error("CL + TE", cl_te, strlen(cl_te), 400);
    expect_error("duplicate differing CL", dup_cl, strlen(dup_cl), 400);
    expect_error("negative CL", neg_cl, strlen(neg_cl), 400);
    expect_error("TE other than chunked", te_gzip, strlen(te_gzip), 400);
    expect_error("bad header syntax", garbage, strlen(garbage), 400);
    expect_error("HTTP/1.1 without Host", no_host, strlen(no_host), 400);
    expect_error("space before colon", space_colon, strlen(space_colon), 400);
    expect_error("obsolete line folding", folded, strlen(folded), 400);
}

static void t_limits(void)
{
    struct gz_buf b;
    gz_buf_init(&b, 1 << 20);
    gz_buf_append_cstr(&b, "GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: ");
    for (int i = 0; i < 20000; i++)
        gz_buf_append(&b, "a", 1);
    gz_buf_append_cstr(&b, "\r\n\r\n");
    expect_error("20 KB header", b.ptr, b.len, 431);

    gz_buf_reset(&b);
    gz_buf_append_cstr(&b, "GET /hello HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 150; i++)
        gz_buf_appendf(&b, "X-H%d: v\r\n", i);
    gz_buf_append_cstr(&b, "\r\n");
    expect_error("150 headers", b.ptr, b.len, 431);

    gz_buf_reset(&b);
    gz_buf_append_cstr(&b, "GET /");
    for (int i = 0; i < 9000; i++)
        gz_buf_append(&b, "u", 1);
    gz_buf_append_cstr(&b, " HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_error("9000-byte URL", b.ptr, b.len, 414);
    gz_buf_free(&b);
    const char *v2 = "GET / HTTP/2.0\r\nHost: x\r\n\r\n";
    expect_error("HTTP/2.0 request line", v2, strlen(v2), 505);
}

static void t_header_timeout(void)
{
    struct cli *c = cli_open();
    struct resp r;
    struct timeval t0, t1;
    gettimeofday(&t0, NULL);
    cli_sends(c, "GET /hello HTTP/1.1\r\nHost: x\r\n");
    TAP_OK(cli_read_resp(c, &r, false) && r.status == 408, "partial header -> 408 (%d)", r.status);
    gettimeofday(&t1, NULL);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_usec - t0.tv_usec) / 1000;
    TAP_OK(ms >= 250 && ms < 2000, "after the 300 ms header timeout (%ld ms)", ms);
    TAP_OK(cli_expect_eof(c), "closed after 408");
    resp_free(&r);
    cli_close(c);

    /* Idle keep-alive connections close silently after idle_timeout_ms. */
    c = cli_open();
    cli_sends(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    TAP_OK(cli_read_resp(c, &r, false) && r.status == 200, "request before idling");
    resp_free(&r);
    gettimeofday(&t0, NULL);
    TAP_OK(cli_expect_eof(c), "idle keep-alive connection closed silently");
    gettimeofday(&t1, NULL);
    ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_usec - t0.tv_usec) / 1000;
    TAP_OK(ms >= 600 && ms < 3000, "after the 700 ms idle timeout (%ld ms)", ms);
    cli_close(c);
}

static void t_disconnect_mid_body(void)
{
    struct cli *c = cli_open();
    char chunk[1000];
    memset(chunk, 'q', sizeof(chunk));
    atomic_store(&g_body_status, 1);
    cli_sends(c, "PUT /slowbody HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n");
    cli_send(c, chunk, sizeof(chunk));
    usleep(50000);
    cli_close(c);
    TAP_OK(wait_until(&g_body_status, 1, 3000) && atomic_load(&g_body_status) < 0,
           "client gone mid-body: on_end %d", atomic_load(&g_body_status));

    /* A stalled body read times out (idle_timeout_ms) and the body fails. */
    c = cli_open();
    atomic_store(&g_body_status, 1);
    cli_sends(c, "PUT /slowbody HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n");
    cli_send(c, chunk, sizeof(chunk));
    TAP_OK(wait_until(&g_body_status, 1, 3000) && atomic_load(&g_body_status) == -ETIMEDOUT,
           "stalled body: on_end %d", atomic_load(&g_body_status));
    struct resp r;
    TAP_OK(cli_read_resp(c, &r, false) && r.status == 400 && body_is(&r, "body failed -110"),
           "stalled body: the application answered (%d)", r.status);
    resp_free(&r);
    TAP_OK(cli_expect_eof(c), "stalled connection closed after the answer");
    cli_close(c);
}

static long ms_since(const struct timeval *t0)
{
    struct timeval t1;
    gettimeofday(&t1, NULL);
    return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_usec - t0->tv_usec) / 1000;
}

/* Every byte within the 700 ms idle timeout, but far under min_rate: cut by the rate. */
static void t_min_rate(void)
{
    pthread_t th;
    int port = 0;
    struct timeval t0;
    struct resp r;
    g_min_rate = 20000;
    g_rate_window_ms = 300;
    struct http_server *srv = server_start_ip("127.0.0.1:0", 100, 0, &port, &th);
    g_min_rate = 0;
    g_rate_window_ms = 0;
    TAP_OK(srv != NULL, "server with min_rate 20000 B/s over 300 ms windows");
    if (srv == NULL)
        return;
    /* a trickled body: 10 bytes every 50 ms (200 B/s) */
    struct cli *c = cli_open_port(port, false);
    atomic_store(&g_body_status, 1);
    gettimeofday(&t0, NULL);
    cli_sends(c, "PUT /slowbody HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n");
    for (int i = 0; i < 40 && atomic_load(&g_body_status) == 1; i++) {
        cli_send(c, "qqqqqqqqqq", 10);
        usleep(50000);
    }
    long ms = ms_since(&t0);
    TAP_OK(atomic_load(&g_body_status) == -ETIMEDOUT && ms >= 250 && ms < 1500,
           "trickled body fails with -ETIMEDOUT after one window (%d, %ld ms)",
           atomic_load(&g_body_status), ms);
    TAP_OK(cli_read_resp(c, &r, false) && r.status == 400, "and the application answered (%d)",
           r.status);
    resp_free(&r);
    TAP_OK(cli_expect_eof(c), "then the connection closes");
    cli_close(c);
    /* a body at full speed over several windows is not cut */
    c = cli_open_port(port, false);
    char chunk[1000];
    memset(chunk, 'q', sizeof(chunk));
    cli_sends(c, "PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 40000\r\n\r\n");
    for (int i = 0; i < 40; i++) {
        cli_send(c, chunk, sizeof(chunk));
        usleep(20000); /* 50 KB/s over 0.8 s */
    }
    TAP_OK(cli_read_resp(c, &r, false) && r.status == 200 && r.body_len == 40000,
           "a body at 50 KB/s is served (%d, %zu bytes)", r.status, r.body_len);
    resp_free(&r);
    cli_close(c);
    /* a reader taking 64 KiB every 40 ms over four windows is not cut */
    c = cli_open_port(port, false);
    atomic_store(&g_write_status, 1);
    cli_sends(c, "GET /bigstream HTTP/1.1\r\nHost: x\r\n\r\n");
    static char sink[64 * 1024];
    size_t got = 0;
    for (int i = 0; i < 30; i++) {
        ssize_t n = recv(c->fd, sink, sizeof(sink), 0);
        got += n > 0 ? (size_t)n : 0;
        usleep(40000);
    }
    TAP_OK(atomic_load(&g_write_status) == 1 && got > 500000,
           "a reader at ~1.5 MB/s is not cut (%d, %zu bytes)", atomic_load(&g_write_status), got);
    cli_close(c);
    TAP_OK(wait_until(&g_write_status, 1, 2000), "(its stream ends when it leaves)");
    /* a slow reader: 100 bytes every 20 ms (5 KB/s) of an endless response */
    c = cli_open_port(port, false);
    int rcvbuf = 4096;
    setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    atomic_store(&g_write_status, 1);
    gettimeofday(&t0, NULL);
    cli_sends(c, "GET /bigstream HTTP/1.1\r\nHost: x\r\n\r\n");
    for (int i = 0; i < 250 && atomic_load(&g_write_status) == 1; i++) {
        recv(c->fd, sink, 100, 0);
        usleep(20000);
    }
    ms = ms_since(&t0);
    TAP_OK(atomic_load(&g_write_status) == -ETIMEDOUT && ms < 3000,
           "slow reader cut off: write done gets %d (%ld ms)", atomic_load(&g_write_status), ms);
    cli_close(c);
    http_server_stop(srv, 1000);
    pthread_join(th, NULL);
    http_server_destroy(srv);
}

static void t_write_to_gone_client(void)
{
    struct cli *c = cli_open();
    struct resp r;
    atomic_store(&g_write_status, 1);
    atomic_store(&g_write_closed, 0);
    cli_sends(c, "GET /bigstream HTTP/1.1\r\nHost: x\r\n\r\n");
    TAP_OK(cli_read_head(c, &r) && r.status == 200, "stream started");
    cli_close(c); /* unread data: the kernel resets the connection */
    TAP_OK(wait_until(&g_write_status, 1, 3000) && atomic_load(&g_write_status) < 0,
           "write done gets %d after the client left", atomic_load(&g_write_status));
    TAP_OK(atomic_load(&g_write_closed) == 1, "http_req_is_closed is true");
}

static void t_write_stall(void)
{
    struct cli *c = cli_open();
    struct resp r;
    int rcvbuf = 4096;
    setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    atomic_store(&g_write_status, 1);
    cli_sends(c, "GET /bigstream HTTP/1.1\r\nHost: x\r\n\r\n");
    TAP_OK(cli_read_head(c, &r) && r.status == 200, "stream started, then never read");
    TAP_OK(wait_until(&g_write_status, 1, 4000) && atomic_load(&g_write_status) == -ETIMEDOUT,
           "stalled write: done gets %d", atomic_load(&g_write_status));
    cli_close(c);

    /* The client leaves before the app reads a body-less request: on_end still comes. */
    c = cli_open();
    atomic_store(&g_body_status, 1);
    cli_sends(c, "GET /lateread HTTP/1.1\r\nHost: x\r\n\r\n");
    usleep(20000);
    cli_close(c);
    TAP_OK(wait_until(&g_body_status, 1, 3000) && atomic_load(&g_body_status) == 2,
           "read_body after the client left: on_end(0) (%d)", atomic_load(&g_body_status));
}

static void t_streaming(void)
{
    struct cli *c = cli_open();
    struct resp r;
    char v[64];
    cli_sends(c, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
    TAP_OK(cli_read_resp(c, &r, false) && body_is(&r, "part1part2part3") &&
               resp_hdr(&r, "Transfer-Encoding", v, sizeof(v)) && strcmp(v, "chunked") == 0,
           "chunked streaming response");
    resp_free(&r);
    cli_sends(c, "GET /streamcl HTTP/1.1\r\nHost: x\r\n\r\n");
    TAP_OK(cli_read_resp(c, &r, false) && body_is(&r, "part1part2"),
           "streamed response under Content-Length");
    resp_free(&r);
    cli_sends(c, "GET /short HTTP/1.1\r\nHost: x\r\n\r\n");
    TAP_OK(cli_read_head(c, &r) && r.status == 200, "short response head");
    char buf[100];
    TAP_OK(cli_read_n(c, buf, 10) && memcmp(buf, "part1part2", 10) == 0 && !cli_read_n(c, buf, 1),
           "short response: 10 of 100 bytes, then the connection closes");
    cli_close(c);

    /* HTTP/1.0: close-delimited unless keep-alive was asked for */
    c = cli_open();
    cli_sends(c, "GET /hello HTTP/1.0\r\n\r\n");
    TAP_OK(cli_read_resp(c, &r, false) && body_is(&r, "hello") &&
               resp_hdr(&r, "Connection", v, sizeof(v)) && strcmp(v, "close") == 0,
           "HTTP/1.0: Connection: close");
    TAP_OK(cli_expect_eof(c), "HTTP/1.0 closed");
    resp_free(&r);
    cli_close(c);
    c = cli_open();
    cli_sends(c, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    TAP_OK(cli_read_resp(c, &r, false) && body_is(&r, "hello") &&
               resp_hdr(&r, "Connection", v, sizeof(v)) && strcmp(v, "keep-alive") == 0,
           "HTTP/1.0 keep-alive");
    resp_free(&r);
    cli_sends(c, "GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    TAP_OK(cli_read_resp(c, &r, false) && !resp_hdr(&r, "Transfer-Encoding", v, sizeof(v)),
           "HTTP/1.0 unknown length: no chunked");
    TAP_OK(body_is(&r, "part1part2part3"), "HTTP/1.0 close-delimited body");
    TAP_OK(c->len == 0, "and then EOF");
    resp_free(&r);
    cli_close(c);
}

static void make_file(void)
{
    strcpy(g_file_path, "/tmp/gzy-test-http-XXXXXX");
    g_file_fd = mkstemp(g_file_path);
    char *data = gz_malloc(FILE_SIZE);
    for (size_t i = 0; i < FILE_SIZE; i++)
        data[i] = (char)((i * 2654435761u) >> 13);
    ssize_t w = write(g_file_fd, data, FILE_SIZE);
    (void)w;
    gz_free(data);
}

static bool file_matches(const char *got, size_t off, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (got[i] != (char)(((off + i) * 2654435761u) >> 13))
            return false;
    }
    return true;
}

static void t_sendfile(void)
{
    struct cli *c = cli_open();
    struct resp r;
    int rcvbuf = 16 * 1024; /* a small window so the server sees EAGAIN and polls */
    setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    cli_sends(c, "GET /file HTTP/1.1\r\nHost: x\r\n\r\n");
    usleep(100000); /* let the socket buffers fill */
    TAP_OK(cli_read_resp(c, &r, false) && r.status == 200 && r.body_len == FILE_SIZE,
           "sendfile 3 MiB: %zu bytes", r.body_len);
    TAP_OK(r.body && file_matches(r.body, 0, FILE_SIZE), "sendfile bytes correct");
    resp_free(&r);
    cli_sends(c, "GET /file?off=12345&len=100000 HTTP/1.1\r\nHost: x\r\n\r\n");
    TAP_OK(cli_read_resp(c, &r, false) && r.body_len == 100000 &&
               file_matches(r.body, 12345, 100000),
           "sendfile range");
    resp_free(&r);
    cli_sends(c, "GET /filechunked?off=5&len=1000000 HTTP/1.1\r\nHost: x\r\n\r\n");
    TAP_OK(cli_read_resp(c, &r, false) && r.body_len == 1000000 && file_matches(r.body, 5, 1000000),
           "chunked sendfile");
    resp_free(&r);
    cli_sends(c, "HEAD /file HTTP/1.1\r\nHost: x\r\n\r\n");
    TAP_OK(cli_read_resp(c, &r, true) && r.status == 200, "HEAD of a sendfile response");
    cli_sends(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    TAP_OK(cli_read_resp(c, &r, false) && body_is(&r, "hello"), "keep-alive after sendfile");
    resp_free(&r);
    cli_close(c);
}

static void t_headers_and_hooks(void)
{
    struct cli *c = cli_open();
    struct resp r;
    char v[64];
    cli_sends(c, "GET /badhdr HTTP/1.1\r\nHost: x\r\n\r\n");
    TAP_OK(cli_read_resp(c, &r, false) && body_is(&r, "-22 -22 0") &&
               !resp_hdr(&r, "Injected", v, sizeof(v)) && resp_hdr(&r, "X-Good", v, sizeof(v)),
           "CR/LF in header name or value refused with -EINVAL");
    resp_free(&r);
    cli_sends(c, "GET /hooks HTTP/1.1\r\nHost: x\r\n\r\n");
    TAP_OK(cli_read_resp(c, &r, false) && body_is(&r, "hooked"), "arena allocations");
    resp_free(&r);
    cli_sends(c, "GET /hookorder HTTP/1.1\r\nHost: x\r\n\r\n");
    TAP_OK(cli_read_resp(c, &r, false) && body_is(&r, "321"), "cleanup hooks ran LIFO: %s",
           r.body ? r.body : "");
    resp_free(&r);
    cli_close(c);
}

static void t_ipv6_and_max_connections(void)
{
    pthread_t th;
    int port = 0;
    struct http_server *srv = server_start("[::1]:0", 2, &port, &th);
    if (srv == NULL) {
        TAP_OK(1, "# SKIP no IPv6 loopback");
        return;
    }
    TAP_OK(port > 0, "[::1]:0 bound to port %d", port);
    struct cli *a = cli_open_port(port, true), *b = cli_open_port(port, true);
    struct resp r;
    cli_sends(a, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    TAP_OK(cli_read_resp(a, &r, false) && body_is(&r, "hello"), "request over IPv6");
    resp_free(&r);
    cli_sends(b, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    TAP_OK(cli_read_resp(b, &r, false) && body_is(&r, "hello"), "second connection");
    resp_free(&r);
    struct cli *d = cli_open_port(port, true);
    bool got503 = cli_read_resp(d, &r, false) && r.status == 503;
    TAP_OK(got503 || r.status == -1, "third connection over max_connections=2: 503 or closed");
    TAP_OK(cli_expect_eof(d) || got503, "rejected connection closed");
    resp_free(&r);
    cli_close(d);
    cli_close(a);
    cli_close(b);
    http_server_stop(srv, 1000);
    pthread_join(th, NULL);
    http_server_destroy(srv);
}

/* 127.0.0.2: counted (127.0.0.1 and ::1 are exempt from the per-address limit) */
#define SRC2 0x7f000002u

static void t_max_connections_per_ip(void)
{
    pthread_t th;
    int port = 0;
    struct http_server *srv = server_start_ip("127.0.0.1:0", 100, 2, &port, &th);
    TAP_OK(srv != NULL, "server with max_connections_per_ip=2");
    if (srv == NULL)
        return;
    struct cli *a = cli_open_src(port, false, SRC2), *b = cli_open_src(port, false, SRC2);
    struct resp r;
    cli_sends(a, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    TAP_OK(cli_read_resp(a, &r, false) && body_is(&r, "hello"), "first connection served");
    resp_free(&r);
    cli_sends(b, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    TAP_OK(cli_read_resp(b, &r, false) && body_is(&r, "hello"), "second connection served");
    resp_free(&r);
    struct cli *d = cli_open_src(port, false, SRC2);
    bool got503 = cli_read_resp(d, &r, false) && r.status == 503;
    TAP_OK(got503 && r.body && strstr(r.body, "from this address"),
           "third connection from the address: 503 naming the per-address limit (%s)",
           r.body ? r.body : "");
    resp_free(&r);
    TAP_OK(cli_expect_eof(d), "the refused connection is closed");
    cli_close(d);
    cli_close(a); /* frees a place: a new connection is served again */
    bool served = false;
    for (int i = 0; i < 50 && !served; i++) {
        struct cli *e = cli_open_src(port, false, SRC2);
        cli_sends(e, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
        served = cli_read_resp(e, &r, false) && body_is(&r, "hello");
        resp_free(&r);
        cli_close(e);
        if (!served)
            usleep(20000); /* the server notices the close a moment later */
    }
    TAP_OK(served, "after one closes, a new connection from the address is served");
    /* 127.0.0.1 is not counted (a local reverse proxy speaks for all its clients) */
    struct cli *l[3];
    int lserved = 0;
    for (int i = 0; i < 3; i++)
        l[i] = cli_open_port(port, false);
    for (int i = 0; i < 3; i++) {
        cli_sends(l[i], "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
        lserved += cli_read_resp(l[i], &r, false) && body_is(&r, "hello");
        resp_free(&r);
        cli_close(l[i]);
    }
    TAP_OK(lserved == 3, "127.0.0.1 is exempt: 3 connections served (%d)", lserved);
    cli_close(b);
    http_server_stop(srv, 1000);
    pthread_join(th, NULL);
    http_server_destroy(srv);
}

/* The per-address table against a plain array: random acquire/release over colliding
 * addresses exercises probing and backward-shift deletion. */
static void t_ip_table_model(void)
{
    enum { NADDR = 300, LIMIT = 3 };
    struct http__ip_table *t = NULL;
    t = http__ip_table_new(LIMIT, 200); /* capacity 512: long probe runs */
    static uint32_t model[NADDR];
    struct sockaddr_storage ss[NADDR];
    for (int i = 0; i < NADDR; i++) {
        memset(&ss[i], 0, sizeof(ss[i]));
        if (i % 3 == 0) {
            struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss[i];
            a6->sin6_family = AF_INET6;
            a6->sin6_addr.s6_addr[0] = 0xfd;
            a6->sin6_addr.s6_addr[15] = (uint8_t)i;
            a6->sin6_addr.s6_addr[14] = (uint8_t)(i >> 8);
        } else {
            struct sockaddr_in *a4 = (struct sockaddr_in *)&ss[i];
            a4->sin_family = AF_INET;
            a4->sin_addr.s_addr = htonl(0x0a000000u + (uint32_t)i);
        }
    }
    unsigned seed = 12345;
    int bad = 0, refused = 0;
    for (int step = 0; step < 200000 && bad == 0; step++) {
        seed = seed * 1103515245u + 12345u;
        int i = (int)((seed >> 8) % NADDR);
        if ((seed >> 20) & 1) {
            bool ok = http__ip_acquire(t, &ss[i]);
            bool want = model[i] < LIMIT;
            refused += !ok;
            if (ok != want)
                bad++;
            model[i] += ok;
        } else if (model[i] > 0) {
            http__ip_release(t, &ss[i]);
            model[i]--;
        }
        if (step % 1000 == 0)
            for (int k = 0; k < NADDR; k++)
                if (http__ip_count(t, &ss[k]) != model[k])
                    bad++;
    }
    TAP_OK(bad == 0 && refused > 0, "200,000 random acquire/release steps match the model "
           "(%d mismatches, %d refused at the limit)", bad, refused);
    struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000002)};
    struct sockaddr_in6 mapped = {.sin6_family = AF_INET6};
    mapped.sin6_addr.s6_addr[10] = mapped.sin6_addr.s6_addr[11] = 0xff;
    memcpy(&mapped.sin6_addr.s6_addr[12], &v4.sin_addr, 4);
    struct sockaddr_storage s4, s6;
    memset(&s4, 0, sizeof(s4));
    memset(&s6, 0, sizeof(s6));
    memcpy(&s4, &v4, sizeof(v4));
    memcpy(&s6, &mapped, sizeof(mapped));
    http__ip_acquire(t, &s4);
    TAP_OK(http__ip_count(t, &s6) == 1, "an IPv4 client and its IPv4-mapped form count as one");
    http__ip_release(t, &s6);
    TAP_OK(http__ip_count(t, &s4) == 0, "released through either form");
    /* 127.0.0.1 and ::1 are never counted, in any form */
    struct sockaddr_in lo4 = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    struct sockaddr_in6 lo6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    struct sockaddr_storage l4, l6;
    memset(&l4, 0, sizeof(l4));
    memset(&l6, 0, sizeof(l6));
    memcpy(&l4, &lo4, sizeof(lo4));
    memcpy(&l6, &lo6, sizeof(lo6));
    bool all = true;
    for (int i = 0; i < LIMIT + 2; i++)
        all &= http__ip_acquire(t, &l4) && http__ip_acquire(t, &l6);
    TAP_OK(all && http__ip_count(t, &l4) == 0 && http__ip_count(t, &l6) == 0,
           "127.0.0.1 and ::1 are exempt from the limit");
    for (int i = 0; i < LIMIT + 2; i++) {
        http__ip_release(t, &l4);
        http__ip_release(t, &l6);
    }
    http__ip_table_free(t);
}

static void t_bad_listen(void)
{
    struct http_server_config cfg = {.threads = 1, .on_request = on_request};
    struct http_server *srv = NULL;
    const char *bad[] = {"nohost", "1.2.3.4", "127.0.0.1:99999", "[::1:80", "300.1.1.1:80"};
    bool all = true;
    for (size_t i = 0; i < GZ_ARRAY_LEN(bad); i++) {
        cfg.listen = bad[i];
        all = all && http_server_create(&cfg, &srv) == -EINVAL && srv == NULL;
    }
    TAP_OK(all, "bad listen strings are -EINVAL");
    /* A server created and destroyed without running frees everything. */
    cfg.listen = "127.0.0.1:0";
    TAP_OK(http_server_create(&cfg, &srv) == 0 && http_server_port(srv) > 0, "create");
    /* A fixed port already served (by g_srv, SO_REUSEPORT) is refused, not shared. */
    char busy[32];
    struct http_server *srv2 = NULL;
    snprintf(busy, sizeof(busy), "127.0.0.1:%d", g_port);
    cfg.listen = busy;
    TAP_OK(http_server_create(&cfg, &srv2) == -EADDRINUSE && srv2 == NULL,
           "port in use -> -EADDRINUSE");
    http_server_destroy(srv);
}

struct stop_ctx {
    struct cli *c;
    struct resp r;
    bool ok;
};

static void *stop_reader(void *arg)
{
    struct stop_ctx *s = arg;
    s->ok = cli_read_resp(s->c, &s->r, false);
    return NULL;
}

static void t_stop_drain(void)
{
    struct cli *busy = cli_open(), *idle = cli_open();
    struct stop_ctx s = {.c = busy};
    struct resp r;
    pthread_t rd;
    char v[64];
    cli_sends(idle, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    TAP_OK(cli_read_resp(idle, &r, false) && body_is(&r, "hello"), "idle connection ready");
    resp_free(&r);
    cli_sends(busy, "GET /delay?ms=300 HTTP/1.1\r\nHost: x\r\n\r\n");
    usleep(50000);
    pthread_create(&rd, NULL, stop_reader, &s);
    http_server_stop(g_srv, 5000);
    TAP_OK(cli_expect_eof(idle), "stop closes idle keep-alive connections");
    pthread_join(rd, NULL);
    TAP_OK(s.ok && body_is(&s.r, "delayed"), "in-flight request finished during drain");
    TAP_OK(resp_hdr(&s.r, "Connection", v, sizeof(v)) && strcmp(v, "close") == 0,
           "drained response says Connection: close");
    TAP_OK(cli_expect_eof(busy), "drained connection closed");
    resp_free(&s.r);
    pthread_join(g_srv_thread, NULL);
    TAP_OK(1, "http_server_run returned");
    cli_close(busy);
    cli_close(idle);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    TAP_OK(connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0, "no longer accepting");
    close(fd);
    http_server_destroy(g_srv);
    g_srv = NULL;
}

static void t_stop_cut(void)
{
    pthread_t th;
    int port = 0;
    struct http_server *srv = server_start("127.0.0.1:0", 0, &port, &th);
    struct cli *c = cli_open_port(port, false);
    struct resp r;
    struct timeval t0, t1;
    cli_sends(c, "GET /delay?ms=600 HTTP/1.1\r\nHost: x\r\n\r\n");
    usleep(50000);
    gettimeofday(&t0, NULL);
    http_server_stop(srv, 100);
    TAP_OK(!cli_read_resp(c, &r, false), "request still running after drain_ms is cut");
    gettimeofday(&t1, NULL);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_usec - t0.tv_usec) / 1000;
    TAP_OK(ms < 500, "cut after ~100 ms (%ld ms)", ms);
    pthread_join(th, NULL); /* returns once the application finished the cut request */
    TAP_OK(1, "run returned after the cut request finished");
    resp_free(&r);
    cli_close(c);
    http_server_destroy(srv);
}

/* TEST_ONLY=t_name runs one test (the stop tests always run last, to shut down). */
#define RUN(fn)                                                                                    \
    do {                                                                                           \
        const char *only = getenv("TEST_ONLY");                                                    \
        if (only == NULL || strcmp(only, #fn) == 0)                                                \
            TAP_RUN(fn);                                                                           \
    } while (0)

int main(void)
{
    memset(big_chunk, 'b', sizeof(big_chunk));
    make_file();
    g_srv = server_start("127.0.0.1:0", 0, &g_port, &g_srv_thread);
    if (g_srv == NULL) {
        TAP_OK(0, "server started");
        return tap_done();
    }
    RUN(t_keepalive);
    RUN(t_request_info);
    RUN(t_pipelining);
    RUN(t_continue);
    RUN(t_discard_small_body);
    RUN(t_chunked_body);
    RUN(t_chunk_crlf);
    RUN(t_large_body);
    RUN(t_head_and_nocontent);
    RUN(t_framing_errors);
    RUN(t_limits);
    RUN(t_header_timeout);
    RUN(t_disconnect_mid_body);
    RUN(t_write_to_gone_client);
    RUN(t_write_stall);
    RUN(t_streaming);
    RUN(t_sendfile);
    RUN(t_headers_and_hooks);
    RUN(t_ipv6_and_max_connections);
    RUN(t_max_connections_per_ip);
    RUN(t_min_rate);
    RUN(t_ip_table_model);
    RUN(t_bad_listen);
    TAP_RUN(t_stop_drain);
    TAP_RUN(t_stop_cut);
    if (getenv("TEST_ONLY") == NULL)
        TAP_OK(atomic_load(&g_protocol_errors) > 0, "on_protocol_error was used");
    close(g_file_fd);
    unlink(g_file_path);
    return tap_done();
}
