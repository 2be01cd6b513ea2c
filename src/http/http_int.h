/*
 * http_int.h - private to src/http/: the loop, connection and request structures shared by
 * server.c (loops, threads, stop/drain, post queue), conn.c (the connection state machine,
 * reading and framing with llhttp, timers, closing), request.c (the request-side API, arena,
 * body reading) and response.c (the response writer, sendfile, server-generated errors).
 *
 * Threading: everything here belongs to one loop thread, except the fields of struct
 * http_server marked atomic and the post queue (guarded by post_mu).
 *
 * Re-entrancy rule: every libuv callback on a connection is wrapped in http__conn_enter()/
 * http__conn_leave(). Application callbacks run with the connection "entered", so the public
 * API never calls back into the application synchronously: it only changes state and kicks
 * the connection; the work (parsing, dispatch, body delivery, completions, freeing) happens in
 * the connection's run step when the outermost callback leaves, or on the loop's idle hook
 * when the API was called from outside our callbacks. A connection is never freed inside its
 * own callback: only in leave, once its handles are closed and no request is held.
 */
#ifndef GZ_HTTP_INT_H
#define GZ_HTTP_INT_H

#include <llhttp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <uv.h>

#include "http.h"

#define HTTP__READ_SLACK (64 * 1024)      /* read buffer = max_header_bytes + this */
#define HTTP__DISCARD_MAX (256 * 1024)    /* unread body we drain to keep a connection alive */
#define HTTP__ARENA_BLOCK 4096            /* per-connection arena block, reused per request */
#define HTTP__RESP_HDR_MAX (64 * 1024)    /* application response headers */
#define HTTP__WBUF_MAX (64 * 1024 * 1024) /* head + copied small body of http_resp_send */
#define HTTP__WBUF_KEEP (64 * 1024)       /* larger write buffers are freed after use */
#define HTTP__LINGER_MS 2000              /* lingering close after a final response */
#define HTTP__LINGER_MAX (1024 * 1024)    /* bytes discarded while lingering */
#define HTTP__SENDFILE_STEP (1024 * 1024) /* bytes per sendfile(2) call */
#define HTTP__SENDFILE_BUDGET (4 * 1024 * 1024) /* per wakeup, then yield to other conns */
#define HTTP__ERR_BODY_MAX (64 * 1024)          /* on_protocol_error body */

struct http_conn;
struct http__tls_conn;

/* Intrusive doubly linked list (circular, with a head node). */
struct http__list {
    struct http__list *prev, *next;
};

struct http__post {
    struct http__post *next;
    struct http_req *req;
    void (*fn)(struct http_req *req, void *arg);
    void *arg;
};

struct http_loop {
    struct http_server *srv;
    int index;
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_async_t post_async;
    uv_async_t stop_async;
    uv_timer_t drain_timer;
    uv_idle_t idle; /* runs connections kicked from outside their callbacks */
    pthread_t thread;
    bool thread_started;
    bool loop_ready;    /* uv_loop_init done */
    bool handles_ready; /* handles initialised (must be closed) */
    bool handles_closed;
    bool stopping;
    bool listening;
    pthread_mutex_t post_mu;
    struct http__post *post_head, *post_tail;
    struct http__list conns;
    struct http__list deferred;
    size_t nconns;
    void *thread_ctx;
    uint64_t id_counter;
    int64_t date_sec;
    size_t date_len;
    char date_line[48]; /* "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n" */
};

struct http_server {
    struct http_server_config cfg; /* defaults filled in; strings point to our copies */
    char *listen_copy;
    char *server_line; /* "Server: name\r\n" or NULL */
    size_t server_line_len;
    struct sockaddr_storage addr;
    int port;
    int nloops;
    struct http_loop *loops;
    int *listen_fds;
    uint64_t id_seed;
    bool ran;
    bool probed; /* the first socket was created (a fixed port was checked to be free) */
    atomic_size_t nconns;
    struct http__ip_table *ips;    /* max_connections_per_ip > 0: open connections per address */
    atomic_bool stop_requested;
    atomic_uint_fast64_t drain_ms;
};

/* ---- the request (embedded in its connection: one request at a time per connection) ---- */

enum http__body_state { BODY_NONE, BODY_READING, BODY_DONE, BODY_FAILED };
enum http__sf_phase { SF_IDLE, SF_PREFIX, SF_SEND, SF_SUFFIX };

struct http__arena_blk {
    struct http__arena_blk *next;
    size_t cap, used;
    max_align_t align[]; /* data follows */
};

struct http__hook {
    struct http__hook *next;
    void (*fn)(void *arg);
    void *arg;
};

struct http_req {
    struct http_conn *conn;
    struct http_req_info info;
    bool head_req;
    /* arena: the connection's first block, then extra blocks freed with the request */
    struct http__arena_blk *arena_extra;
    struct http__hook *hooks;
    /* body */
    enum http__body_state body_state;
    bool body_paused;
    bool body_end_pending;
    int body_status;
    bool continue_sent;
    http_body_data_cb on_data;
    http_body_end_cb on_end;
    void *body_ud;
    /* response */
    int status;
    bool started;      /* head built */
    bool head_pending; /* built, not yet handed to a write */
    bool head_written;
    bool finished;    /* the application called http_resp_send/http_resp_end */
    bool end_pending; /* http_resp_end while a write was in flight */
    bool no_body;     /* HEAD, 1xx, 204, 304 */
    bool chunked_out;
    bool close_delimited;
    bool app_date, app_server;
    int64_t clen;  /* announced Content-Length, -1 if chunked / close-delimited */
    uint64_t sent; /* body bytes accepted from the application */
    /* the application's one write in flight */
    bool op_busy;
    bool op_ready;
    int op_status;
    http_write_cb op_done;
    void *op_ud;
    /* sendfile op */
    enum http__sf_phase sf_phase;
    int sf_fd;
    int64_t sf_off, sf_left;
    char chunk_line[24];
};

/* ---- the connection ---- */

enum http__conn_state {
    CS_IDLE,    /* between requests, nothing buffered */
    CS_HEADERS, /* receiving a header block */
    CS_REQUEST, /* a request is with the application */
    CS_DISCARD, /* request done, draining its unread body */
    CS_LINGER,  /* final response queued, FIN sent, discarding input until EOF */
    CS_CLOSED   /* uv_close issued */
};

enum http__wr_kind { WR_NONE, WR_OP, WR_SF_PREFIX, WR_SF_SUFFIX, WR_FINAL };

struct http_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wr_main; /* one at a time: app op, sendfile prefix/suffix, final, error */
    uv_write_t wr_cont; /* "100 Continue" */
    uv_shutdown_t shut;
    uv_poll_t *poll; /* writability for sendfile, on a dup() of the socket */
    int poll_fd;
    struct http_loop *lp;
    struct http__list link;
    struct http__list dlink;
    bool in_deferred;
    llhttp_t parser;
    enum http__conn_state state;
    enum http__wr_kind wr_kind;
    int depth;
    int handles_open;
    int writes_pending;
    int close_err;
    bool closing, reading, read_eof, broken, close_after, req_active;
    bool hdr_complete, msg_complete, discard_overflow, shutdown_sent, parse_pending;
    uint32_t requests_served;
    /* parse state */
    int err_status;
    const char *err_msg;
    int hstate; /* 0 none, 1 in name, 2 name done, 3 in value */
    struct gz_slice url;
    struct http_header *hdrs;
    size_t nhdrs, hdrs_cap;
    int64_t req_cl;
    uint64_t body_parsed;
    size_t discard_left;
    /* llhttp 8.1 (non-strict build) skips the two bytes after chunk data unchecked; conn.c
     * checks them: 2 or 1 still to check, 0 none pending, -1 one was not CRLF. */
    int chunk_crlf;
    const char *exec_end; /* the end of the bytes the running llhttp_execute was given */
    int body_err; /* failure before the application asked for the body */
    /* read buffer: [0, keep) holds the current request's header block (slices point here),
     * [rpos, rlen) is received but not yet parsed. It never moves while slices exist. */
    char *rbuf;
    size_t rcap, rlen, rpos, keep;
    /* timers (uv_now milliseconds) */
    uint64_t t_start, t_activity, t_write, t_linger, timer_due;
    uint64_t out_seen; /* response bytes acknowledged at the last stall check */
    /* minimum transfer rate (conn.c): bytes read from the socket (ciphertext over TLS), bytes
     * handed to the kernel or to libuv's write queue, and the window being measured: its
     * direction, start (moved forward by the time spent paused) and progress at the start */
    uint64_t rx_bytes, tx_bytes;
    uint64_t rate_start, rate_paused_at, rate_base;
    uint8_t rate_dir; /* 0 none, 1 request body in, 2 response out */
    bool rate_paused;
    bool rate_base_ok; /* rate_base sampled (out: at the end of the first, grace window) */
    size_t linger_bytes;
    /* response buffers */
    struct gz_buf hdr;  /* the application's headers, "name: value\r\n"... */
    struct gz_buf wbuf; /* the head (+ copied body) being written */
    struct http__arena_blk *arena0;
    struct sockaddr_storage peer;
    char peer_str[64];
    bool ip_counted;    /* holds a place in srv->ips (released when freed) */
    struct http__tls_conn *tls; /* NULL on plain connections */
    struct http_req req;
};

static inline struct http_conn *http__req_conn(const struct http_req *req)
{
    return req->conn;
}

/* list helpers */
static inline void http__list_init(struct http__list *h)
{
    h->prev = h->next = h;
}
static inline bool http__list_empty(const struct http__list *h)
{
    return h->next == h;
}
static inline void http__list_add_tail(struct http__list *h, struct http__list *n)
{
    n->prev = h->prev;
    n->next = h;
    h->prev->next = n;
    h->prev = n;
}
static inline void http__list_del(struct http__list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}
#define HTTP__CONTAINER(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* ---- server.c ---- */
/* "Date: ...\r\n", cached per second per loop. */
const char *http__loop_date(struct http_loop *lp, size_t *len);
/* 16 hex digits + NUL, unique per process. */
void http__loop_next_id(struct http_loop *lp, char out[17]);
/* Queues c to run from the loop's idle hook. */
void http__loop_defer(struct http_loop *lp, struct http_conn *c);
/* A connection was freed: finish the loop if it is stopping and this was the last. */
void http__loop_conn_gone(struct http_loop *lp);

/* ---- conn.c ---- */
void http__conn_on_connection(uv_stream_t *listener, int status);
void http__conn_enter(struct http_conn *c);
void http__conn_leave(struct http_conn *c);
/* Called by the API: schedules the run step (now if inside a callback, else on idle). */
void http__conn_kick(struct http_conn *c);
/* Aborts: closes the socket now; pending writes and the body fail with err. */
void http__conn_close(struct http_conn *c, int err);
/* Graceful: after queued writes, FIN, then discard input until EOF or a short linger. */
void http__conn_linger(struct http_conn *c);
/* Server stop: close idle connections, mark busy ones to close after their response. */
void http__conn_stop(struct http_conn *c);
/* Whether an unread remaining body may be drained to keep the connection alive. */
bool http__conn_body_discardable(const struct http_conn *c);

/* ---- tls.c ---- */
/* Every write to a connection goes through these (plain: libuv directly; TLS: encrypted).
 * http__conn_write reports to cb(w, status) once the bytes are with the kernel; the caller
 * counts it in writes_pending. http__conn_try_write returns bytes taken (TLS takes all and
 * queues what the kernel does not take now, counted internally) or a libuv error. */
int http__conn_write(struct http_conn *c, uv_write_t *w, uv_buf_t *bufs, unsigned n,
                     uv_write_cb cb);
int http__conn_try_write(struct http_conn *c, uv_buf_t *bufs, unsigned n);
int http__tls_conn_new(struct http_conn *c, struct http_tls *tls);
void http__tls_conn_free(struct http_conn *c);
/* Reading: libuv reads ciphertext into the buffer http__tls_read_buf gives; it is fed to the
 * SSL, and the run step decrypts into rbuf while there is room (-EPROTO on a TLS error,
 * UV_EOF after close_notify). */
void http__tls_read_buf(struct http_conn *c, uv_buf_t *buf);
void http__tls_on_cipher(struct http_conn *c, const char *p, size_t n);
bool http__tls_pending(const struct http_conn *c);
ssize_t http__tls_decrypt(struct http_conn *c, char *dst, size_t cap);
/* Sends close_notify (best effort) before the FIN. */
void http__tls_shutdown(struct http_conn *c);
/* One step of a file body: pread + encrypt + queue; bytes sent or a negative errno. */
int64_t http__tls_file_step(struct http_conn *c, int fd, int64_t off, int64_t left);

/* ---- ip_limit.c: open connections per client address (max_connections_per_ip) ---- */
struct http__ip_table;
/* A table for up to max_connections addresses, limit connections each (aborts on OOM). */
struct http__ip_table *http__ip_table_new(size_t limit, size_t max_connections);
void http__ip_table_free(struct http__ip_table *t); /* NULL-safe */
/* Counts one more connection from peer's address: false (nothing counted) at the limit. */
bool http__ip_acquire(struct http__ip_table *t, const struct sockaddr_storage *peer);
void http__ip_release(struct http__ip_table *t, const struct sockaddr_storage *peer);
uint32_t http__ip_count(struct http__ip_table *t, const struct sockaddr_storage *peer);

/* ---- request.c ---- */
void http__req_init(struct http_conn *c);
/* Runs cleanup hooks (LIFO) and frees the arena. */
void http__req_release(struct http_conn *c);
/* Delivers a ready write completion or body end; true if it called the application. */
bool http__req_deliver(struct http_conn *c);
/* Fails the body (client gone, timeout, bad framing). */
void http__req_body_fail(struct http_conn *c, int err);

/* ---- response.c ---- */
/* Progresses a pending end or a sendfile; true if anything happened. */
bool http__resp_pump(struct http_conn *c);
/* Server-generated error (400, 408, 414, 431, 505) with Connection: close, then linger. */
void http__resp_error(struct http_conn *c, int status, const char *message);
/* Over max_connections (per server or per address): best-effort 503 saying why, without
 * queuing, then close. */
void http__resp_reject(struct http_conn *c, const char *why);
/* The sendfile writability poll fired. */
void http__resp_on_poll(uv_poll_t *poll, int status, int events);
void http__resp_on_write(uv_write_t *w, int status);
const char *http__reason(int status);

#endif
