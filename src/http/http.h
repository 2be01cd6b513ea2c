/*
 * http.h - the HTTP/1.1 server core (layer net/http). It accepts connections on N libuv loop
 * threads, frames requests with llhttp, streams bodies in both directions and knows nothing of
 * S3: `gzy serve` registers one request callback (the way an nginx module plugs into its core).
 *
 * Threading: every callback for a request runs on the loop thread that owns its connection.
 * The only functions callable from other threads are http_req_post() and http_server_stop().
 *
 * Lifetime contract: the server hands each request to on_request exactly once. From then on
 * the application owns the obligation to finish it with http_resp_send() or http_resp_end(),
 * even if the client has gone (the response is then discarded). Until that call the request
 * stays valid; after it the server may free the request at any time, running the cleanup hooks
 * registered with http_req_on_free(). Memory from http_req_alloc() lives exactly as long.
 */
#ifndef GZ_HTTP_H
#define GZ_HTTP_H

#include <sys/socket.h>
#include "../util/util.h"

/* ---- named limits (defaults; http_server_config may lower or raise them) ---- */
#define HTTP_DEFAULT_MAX_HEADER_BYTES (16 * 1024)  /* request line + all headers -> 431 */
#define HTTP_DEFAULT_MAX_HEADERS 100               /* header lines -> 431 */
#define HTTP_DEFAULT_MAX_URL_BYTES (8 * 1024)      /* request target -> 414 */
#define HTTP_DEFAULT_MAX_CONNECTIONS 10000         /* per server; further accepts are closed */
#define HTTP_DEFAULT_HEADER_TIMEOUT_MS 30000       /* time to receive a full header block */
#define HTTP_DEFAULT_IDLE_TIMEOUT_MS 60000         /* keep-alive idle / stalled body or write */
#define HTTP_DEFAULT_MIN_RATE 512                  /* bytes/s a body or response must sustain */
#define HTTP_DEFAULT_RATE_WINDOW_MS 10000          /* ... measured over windows this long */
#define HTTP_BODY_CHUNK (256 * 1024)               /* bodies are delivered in at most this */

struct http_server;
struct http_req;
struct http_tls;

struct http_header {
    struct gz_slice name;  /* as received; compare case-insensitively */
    struct gz_slice value; /* leading/trailing whitespace removed */
};

/* The parsed request, read-only for the application; valid for the request's life. */
struct http_req_info {
    struct gz_slice method;      /* "GET", "PUT", ... */
    struct gz_slice target;      /* raw request-target, e.g. "/b/k%20x?uploads" */
    struct gz_slice path;        /* target up to '?', still percent-encoded */
    struct gz_slice query;       /* after '?', without it; empty if none */
    struct http_header *headers;
    size_t nheaders;
    int64_t content_length;      /* -1 when absent */
    bool chunked;                /* Transfer-Encoding: chunked (decoded by the server) */
    bool expect_continue;        /* Expect: 100-continue */
    bool keep_alive;
    struct sockaddr_storage peer;
    char peer_str[64];           /* "127.0.0.1:53422" */
    char request_id[17];         /* 16 hex digits, unique per process */
};

typedef void (*http_request_cb)(struct http_req *req, void *app);
/* Called once on each loop thread before it starts; the result is that thread's context. */
typedef void *(*http_thread_init_cb)(int thread_index, void *app);
typedef void (*http_thread_fini_cb)(void *thread_ctx, void *app);

struct http_server_config {
    const char *listen;            /* "127.0.0.1:9000", "[::1]:9000", "0.0.0.0:0" */
    int threads;                   /* loop threads, >= 1 */
    size_t max_header_bytes;       /* 0 = default */
    size_t max_headers;
    size_t max_url_bytes;
    size_t max_connections;
    size_t max_connections_per_ip; /* open connections from one client address; 0 = no limit.
                                    * 127.0.0.1 and ::1 are never counted (a reverse proxy on
                                    * the same machine, operator tools, benchmarks) */
    uint64_t header_timeout_ms;
    uint64_t idle_timeout_ms;
    /* Minimum transfer rate: while the server waits on the client (reading a request body the
     * application asked for, or writing a response the client does not take), every window
     * of rate_window_ms must move at least min_rate * window bytes; the first check comes one
     * window in. A body that falls short fails with -ETIMEDOUT (the application may still
     * answer, then the connection closes); a response that falls short closes the connection.
     * min_rate 0 = default, < 0 = no minimum; rate_window_ms 0 = default. */
    int64_t min_rate;
    uint64_t rate_window_ms;
    const char *server_name;       /* "Server:" header value */
    http_request_cb on_request;
    http_thread_init_cb on_thread_init; /* may be NULL */
    http_thread_fini_cb on_thread_fini; /* may be NULL */
    /* Formats the body of an error the server itself sends (400 bad framing, 408 header
     * timeout, 413, 414, 431, 503 over max_connections) so clients see their protocol's
     * error format. Fills body and content_type (e.g. "application/xml"); NULL = empty body. */
    void (*on_protocol_error)(int status, const char *message, const char *request_id,
                              struct gz_buf *body, const char **content_type, void *app);
    void *app;
    struct http_tls *tls;          /* NULL: plain HTTP; else TLS 1.2/1.3 with this cert (borrowed) */
};

/* ---- TLS ----
 * A certificate chain and private key (PEM files) for TLS 1.2/1.3 listeners, shared by any
 * number of servers. Reloading swaps in a new certificate for new connections (existing ones
 * keep theirs); on any error the old one stays and err says why. All three are thread-safe;
 * destroy only after every server using it is destroyed. */
int http_tls_create(const char *cert_file, const char *key_file, struct http_tls **out,
                    char *err, size_t errsz);
int http_tls_reload(struct http_tls *tls, char *err, size_t errsz);
void http_tls_destroy(struct http_tls *tls);

/* Binds and listens (so the port is known before returning). */
int http_server_create(const struct http_server_config *cfg, struct http_server **out);
/* The bound port (useful with port 0). */
int http_server_port(const struct http_server *srv);
/* Runs the loop threads; returns after http_server_stop() once all are drained. */
int http_server_run(struct http_server *srv);
/* Thread- and signal-safe: stop accepting, finish in-flight requests, close idle connections,
 * then let http_server_run() return. Requests still running after drain_ms are cut off. */
void http_server_stop(struct http_server *srv, uint64_t drain_ms);
void http_server_destroy(struct http_server *srv);

/* ---- the request ---- */

const struct http_req_info *http_req_info(const struct http_req *req);
/* First header with that name (case-insensitive); NULL slice ptr if absent. */
struct gz_slice http_req_header(const struct http_req *req, const char *name);
/* Number of headers with that name (to reject duplicates). */
size_t http_req_header_count(const struct http_req *req, const char *name);
/* The context on_thread_init returned for this request's loop thread. */
void *http_req_thread_ctx(const struct http_req *req);

/* Per-request arena: freed when the request is freed. Aborts on OOM (use for small things). */
void *http_req_alloc(struct http_req *req, size_t n);
char *http_req_strndup(struct http_req *req, const char *s, size_t n);
/* Registers fn(arg) to run when the request is freed (close fds, drop references); LIFO. */
void http_req_on_free(struct http_req *req, void (*fn)(void *arg), void *arg);

/* Thread-safe: runs fn(req, arg) on the request's loop thread soon. The request must not be
 * finished before fn runs (the poster still owns the obligation to finish it). */
int http_req_post(struct http_req *req, void (*fn)(struct http_req *req, void *arg), void *arg);

/* ---- reading the body ----
 * on_data receives decoded body bytes (chunked framing removed) in pieces of at most
 * HTTP_BODY_CHUNK; the bytes are valid only during the call. on_end is called once: status 0
 * when the body is complete (also for an empty body), negative when the client went away, a
 * timeout fired or the framing was bad. If the request had Expect: 100-continue the server
 * sends "100 Continue" when reading starts. An application that responds without reading the
 * body lets the server discard it (small) or close the connection after the response. */
typedef void (*http_body_data_cb)(struct http_req *req, struct gz_slice data, void *ud);
typedef void (*http_body_end_cb)(struct http_req *req, int status, void *ud);
void http_req_read_body(struct http_req *req, http_body_data_cb on_data, http_body_end_cb on_end,
                        void *ud);
/* Back-pressure: stop/restart delivering body data (e.g. while a write is in flight). */
void http_req_pause_body(struct http_req *req);
void http_req_resume_body(struct http_req *req);

/* ---- writing the response ----
 * The server adds Date, Server, Content-Length or Transfer-Encoding, and Connection. For HEAD
 * requests it sends the headers (with the Content-Length given) and never a body. */
void http_resp_status(struct http_req *req, int status);
/* Copies name and value. Header injection (CR/LF in either) is refused with -EINVAL. */
int http_resp_header(struct http_req *req, const char *name, struct gz_slice value);
int http_resp_headerf(struct http_req *req, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Whole small response: copies body, sends, finishes the request. */
void http_resp_send(struct http_req *req, struct gz_slice body);
/* Streaming: sends the status line and headers; content_length -1 means chunked. */
void http_resp_start(struct http_req *req, int64_t content_length);
/* done(req, status, ud) runs once the data has been handed to the kernel (status 0) or the
 * connection failed (negative); only then may the buffer be reused. One write at a time. */
typedef void (*http_write_cb)(struct http_req *req, int status, void *ud);
void http_resp_write(struct http_req *req, struct gz_slice data, http_write_cb done, void *ud);
/* Like http_resp_write but from a file with sendfile(2); the fd stays the caller's. */
void http_resp_sendfile(struct http_req *req, int fd, int64_t offset, int64_t len,
                        http_write_cb done, void *ud);
/* Finishes a streamed response. If fewer bytes were written than announced, the connection
 * is closed (the client sees a truncated body, never a wrong one). */
void http_resp_end(struct http_req *req);
/* Did the request arrive over TLS? */
bool http_req_is_tls(const struct http_req *req);
/* Has the client gone away (writes will fail)? */
bool http_req_is_closed(const struct http_req *req);

/* For access and audit logs, valid until the request is freed (also in its http_req_on_free
 * hooks): the response status (200 until http_resp_status is called), the request body bytes
 * received, and the response body bytes accepted for sending. */
int http_resp_status_get(const struct http_req *req);
uint64_t http_req_bytes_in(const struct http_req *req);
uint64_t http_req_bytes_out(const struct http_req *req);

#endif
