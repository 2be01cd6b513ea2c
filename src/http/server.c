/*
 * server.c - the server: listening sockets, loop threads, stop and drain, the cross-thread
 * post queue, the per-loop Date cache and request ids.
 *
 * Listening: every loop thread gets its own socket bound to the same address with
 * SO_REUSEPORT (nginx "reuseport"). The kernel then spreads new connections over the loops'
 * accept queues, so there is no thundering herd on one shared fd and no lock around accept;
 * a shared fd polled by every loop would wake all loops for each connection. The price: at
 * stop, connections still queued on a closed listener are reset, which is what a stopping
 * server does anyway. All sockets are bound and listening when http_server_create returns,
 * so the port is known (port 0 binds the first socket, the others join its port).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "http_int.h"

/* ---- configuration and address ---- */

static int server_parse_port(const char *s, int *port)
{
    uint64_t v;
    if (gz_slice_to_u64(gz_slice_cstr(s), &v) < 0 || v > 65535)
        return -EINVAL;
    *port = (int)v;
    return 0;
}

/* "HOST:PORT", "[v6]:PORT", ":PORT" (all IPv4 addresses); HOST is a literal or localhost. */
static int server_parse_listen(const char *listen, struct sockaddr_storage *ss, int *port)
{
    char host[64];
    const char *colon;
    memset(ss, 0, sizeof(*ss));
    if (listen == NULL)
        return -EINVAL;
    if (listen[0] == '[') {
        const char *end = strchr(listen, ']');
        if (end == NULL || end[1] != ':' || (size_t)(end - listen - 1) >= sizeof(host))
            return -EINVAL;
        memcpy(host, listen + 1, (size_t)(end - listen - 1));
        host[end - listen - 1] = '\0';
        if (server_parse_port(end + 2, port) < 0)
            return -EINVAL;
        return uv_ip6_addr(host, *port, (struct sockaddr_in6 *)ss) == 0 ? 0 : -EINVAL;
    }
    colon = strrchr(listen, ':');
    if (colon == NULL || (size_t)(colon - listen) >= sizeof(host))
        return -EINVAL;
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    if (server_parse_port(colon + 1, port) < 0)
        return -EINVAL;
    if (host[0] == '\0' || strcmp(host, "*") == 0)
        strcpy(host, "0.0.0.0");
    else if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    return uv_ip4_addr(host, *port, (struct sockaddr_in *)ss) == 0 ? 0 : -EINVAL;
}

static void server_set_port(struct sockaddr_storage *ss, int port)
{
    if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
}

/* SO_REUSEPORT would let a second server (same user) silently share a fixed port; a probe
 * bound without it fails with EADDRINUSE if anyone listens there already. */
static int server_probe_port(struct http_server *srv, socklen_t alen)
{
    int one = 1, rc = 0;
    int fd = socket(srv->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&srv->addr, alen) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

/* One SO_REUSEPORT listening socket; fills *port from the first one when it was 0. */
static int server_listen_socket(struct http_server *srv, int *out)
{
    int one = 1, rc = 0;
    socklen_t alen =
        srv->addr.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    int fd;
    server_set_port(&srv->addr, srv->port);
    if (!srv->probed) { /* before the first socket only: later ones join our own port */
        srv->probed = true;
        rc = srv->port != 0 ? server_probe_port(srv, alen) : 0;
        if (rc < 0)
            return rc;
    }
    fd = socket(srv->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
        rc = -errno;
        goto out;
    }
    if (bind(fd, (struct sockaddr *)&srv->addr, alen) < 0 || listen(fd, 1024) < 0) {
        rc = -errno;
        goto out;
    }
    if (srv->port == 0) {
        struct sockaddr_storage bound;
        socklen_t blen = sizeof(bound);
        if (getsockname(fd, (struct sockaddr *)&bound, &blen) < 0) {
            rc = -errno;
            goto out;
        }
        srv->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                      : ((struct sockaddr_in *)&bound)->sin_port);
    }
out:
    if (rc < 0)
        close(fd);
    else
        *out = fd;
    return rc;
}

static void server_fill_defaults(struct http_server_config *c)
{
    if (c->max_header_bytes == 0)
        c->max_header_bytes = HTTP_DEFAULT_MAX_HEADER_BYTES;
    if (c->max_headers == 0)
        c->max_headers = HTTP_DEFAULT_MAX_HEADERS;
    if (c->max_url_bytes == 0)
        c->max_url_bytes = HTTP_DEFAULT_MAX_URL_BYTES;
    if (c->max_connections == 0)
        c->max_connections = HTTP_DEFAULT_MAX_CONNECTIONS;
    if (c->header_timeout_ms == 0)
        c->header_timeout_ms = HTTP_DEFAULT_HEADER_TIMEOUT_MS;
    if (c->idle_timeout_ms == 0)
        c->idle_timeout_ms = HTTP_DEFAULT_IDLE_TIMEOUT_MS;
    if (c->min_rate == 0)
        c->min_rate = HTTP_DEFAULT_MIN_RATE;
    if (c->rate_window_ms == 0)
        c->rate_window_ms = HTTP_DEFAULT_RATE_WINDOW_MS;
    if (c->max_url_bytes > c->max_header_bytes)
        c->max_url_bytes = c->max_header_bytes;
}

/* Writes to a peer that has gone must fail with EPIPE, not kill the process. */
static void server_ignore_sigpipe(void)
{
    struct sigaction old;
    if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = SIG_IGN;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGPIPE, &sa, NULL);
    }
}

/* ---- loops ---- */

static void loop_on_post(uv_async_t *a);
static void loop_on_stop(uv_async_t *a);
static void loop_on_idle(uv_idle_t *i);

static int loop_init(struct http_server *srv, struct http_loop *lp, int index, int fd)
{
    int rc;
    lp->srv = srv;
    lp->index = index;
    http__list_init(&lp->conns);
    http__list_init(&lp->deferred);
    pthread_mutex_init(&lp->post_mu, NULL);
    rc = uv_loop_init(&lp->loop);
    if (rc < 0)
        return rc;
    lp->loop_ready = true;
    lp->loop.data = lp;
    uv_tcp_init(&lp->loop, &lp->listener);
    uv_async_init(&lp->loop, &lp->post_async, loop_on_post);
    uv_async_init(&lp->loop, &lp->stop_async, loop_on_stop);
    uv_timer_init(&lp->loop, &lp->drain_timer);
    uv_idle_init(&lp->loop, &lp->idle);
    lp->listener.data = lp->post_async.data = lp->stop_async.data = lp;
    lp->drain_timer.data = lp->idle.data = lp;
    lp->handles_ready = true;
    rc = uv_tcp_open(&lp->listener, fd);
    return rc;
}

static void loop_close_handles(struct http_loop *lp)
{
    if (!lp->handles_ready || lp->handles_closed)
        return;
    lp->handles_closed = true;
    if (!uv_is_closing((uv_handle_t *)&lp->listener))
        uv_close((uv_handle_t *)&lp->listener, NULL);
    uv_close((uv_handle_t *)&lp->post_async, NULL);
    uv_close((uv_handle_t *)&lp->stop_async, NULL);
    uv_close((uv_handle_t *)&lp->drain_timer, NULL);
    uv_close((uv_handle_t *)&lp->idle, NULL);
}

void http__loop_conn_gone(struct http_loop *lp)
{
    if (lp->stopping && lp->nconns == 0)
        loop_close_handles(lp);
}

static void loop_on_drain(uv_timer_t *t)
{
    struct http_loop *lp = t->data;
    struct http__list *it, *next;
    for (it = lp->conns.next; it != &lp->conns; it = next) {
        struct http_conn *c = HTTP__CONTAINER(it, struct http_conn, link);
        next = it->next;
        http__conn_enter(c);
        http__conn_close(c, -ECANCELED);
        http__conn_leave(c);
    }
}

static void loop_on_stop(uv_async_t *a)
{
    struct http_loop *lp = a->data;
    struct http__list *it, *next;
    if (lp->stopping)
        return;
    lp->stopping = true;
    if (!uv_is_closing((uv_handle_t *)&lp->listener))
        uv_close((uv_handle_t *)&lp->listener, NULL);
    for (it = lp->conns.next; it != &lp->conns; it = next) {
        struct http_conn *c = HTTP__CONTAINER(it, struct http_conn, link);
        next = it->next; /* c may be freed by leave */
        http__conn_enter(c);
        http__conn_stop(c);
        http__conn_leave(c);
    }
    if (lp->nconns == 0) {
        loop_close_handles(lp);
        return;
    }
    uv_timer_start(&lp->drain_timer, loop_on_drain, atomic_load(&lp->srv->drain_ms), 0);
}

static void loop_on_post(uv_async_t *a)
{
    struct http_loop *lp = a->data;
    struct http__post *p, *next;
    pthread_mutex_lock(&lp->post_mu);
    p = lp->post_head;
    lp->post_head = lp->post_tail = NULL;
    pthread_mutex_unlock(&lp->post_mu);
    for (; p != NULL; p = next) {
        struct http_conn *c = p->req->conn;
        next = p->next;
        http__conn_enter(c);
        p->fn(p->req, p->arg);
        http__conn_leave(c);
        gz_free(p);
    }
}

static void loop_on_idle(uv_idle_t *i)
{
    struct http_loop *lp = i->data;
    while (!http__list_empty(&lp->deferred)) {
        struct http_conn *c = HTTP__CONTAINER(lp->deferred.next, struct http_conn, dlink);
        http__list_del(&c->dlink);
        c->in_deferred = false;
        http__conn_enter(c);
        http__conn_leave(c);
    }
    uv_idle_stop(&lp->idle);
}

void http__loop_defer(struct http_loop *lp, struct http_conn *c)
{
    if (c->in_deferred)
        return;
    c->in_deferred = true;
    http__list_add_tail(&lp->deferred, &c->dlink);
    if (!uv_is_active((uv_handle_t *)&lp->idle))
        uv_idle_start(&lp->idle, loop_on_idle);
}

const char *http__loop_date(struct http_loop *lp, size_t *len)
{
    int64_t now = gz_now_ms() / 1000;
    if (now != lp->date_sec) {
        char d[30];
        gz_time_http(now, d);
        lp->date_len = (size_t)snprintf(lp->date_line, sizeof(lp->date_line), "Date: %s\r\n", d);
        lp->date_sec = now;
    }
    *len = lp->date_len;
    return lp->date_line;
}

/* splitmix64's finalizer: a bijection on 64 bits, so distinct inputs give distinct ids while
 * consecutive requests do not get consecutive-looking ids. */
static uint64_t server_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

void http__loop_next_id(struct http_loop *lp, char out[17])
{
    static const char hex[] = "0123456789abcdef";
    /* Each loop counts its own slot: counter * nloops + index never repeats in a process. */
    uint64_t v = lp->id_counter++ * (uint64_t)lp->srv->nloops + (uint64_t)lp->index;
    v = server_mix64(lp->srv->id_seed + v);
    for (int i = 15; i >= 0; i--) {
        out[i] = hex[v & 0xf];
        v >>= 4;
    }
    out[16] = '\0';
}

static void *loop_thread_main(void *arg)
{
    struct http_loop *lp = arg;
    struct http_server *srv = lp->srv;
    int rc;
    if (srv->cfg.on_thread_init)
        lp->thread_ctx = srv->cfg.on_thread_init(lp->index, srv->cfg.app);
    rc = uv_listen((uv_stream_t *)&lp->listener, 1024, http__conn_on_connection);
    if (rc < 0)
        log_error("http: listen on loop %d: %s", lp->index, uv_strerror(rc));
    else
        lp->listening = true;
    uv_run(&lp->loop, UV_RUN_DEFAULT);
    if (srv->cfg.on_thread_fini)
        srv->cfg.on_thread_fini(lp->thread_ctx, srv->cfg.app);
    return NULL;
}

/* ---- public ---- */

static int server_create_loops(struct http_server *srv)
{
    int rc = 0;
    srv->loops = gz_calloc((size_t)srv->nloops, sizeof(*srv->loops));
    srv->listen_fds = gz_calloc((size_t)srv->nloops, sizeof(int));
    for (int i = 0; i < srv->nloops; i++)
        srv->listen_fds[i] = -1;
    for (int i = 0; i < srv->nloops && rc == 0; i++) {
        rc = server_listen_socket(srv, &srv->listen_fds[i]);
        if (rc == 0) {
            rc = loop_init(srv, &srv->loops[i], i, srv->listen_fds[i]);
            if (rc == 0)
                srv->listen_fds[i] = -1; /* the uv_tcp_t owns it now */
        }
    }
    return rc;
}

int http_server_create(const struct http_server_config *cfg, struct http_server **out)
{
    struct http_server *srv = NULL;
    int rc = 0;
    *out = NULL;
    if (cfg == NULL || cfg->on_request == NULL || cfg->threads < 1 || cfg->threads > 1024)
        return -EINVAL;
    srv = gz_calloc(1, sizeof(*srv));
    srv->cfg = *cfg;
    server_fill_defaults(&srv->cfg);
    srv->nloops = cfg->threads;
    rc = server_parse_listen(cfg->listen, &srv->addr, &srv->port);
    if (rc < 0)
        goto out;
    srv->listen_copy = gz_strdup(cfg->listen);
    srv->cfg.listen = srv->listen_copy;
    srv->cfg.server_name = NULL;
    if (cfg->server_name && cfg->server_name[0] && !strpbrk(cfg->server_name, "\r\n")) {
        size_t n = strlen(cfg->server_name) + sizeof("Server: \r\n");
        srv->server_line = gz_malloc(n);
        srv->server_line_len =
            (size_t)snprintf(srv->server_line, n, "Server: %s\r\n", cfg->server_name);
    }
    gz_random_bytes(&srv->id_seed, sizeof(srv->id_seed));
    atomic_init(&srv->nconns, 0);
    if (srv->cfg.max_connections_per_ip > 0)
        srv->ips = http__ip_table_new(srv->cfg.max_connections_per_ip, srv->cfg.max_connections);
    atomic_init(&srv->stop_requested, false);
    atomic_init(&srv->drain_ms, 0);
    server_ignore_sigpipe();
    rc = server_create_loops(srv);
out:
    if (rc < 0) {
        http_server_destroy(srv);
        return rc;
    }
    *out = srv;
    return 0;
}

int http_server_port(const struct http_server *srv)
{
    return srv->port;
}

int http_server_run(struct http_server *srv)
{
    int rc = 0;
    if (srv->ran)
        return -EALREADY;
    srv->ran = true;
    for (int i = 1; i < srv->nloops; i++) {
        rc = -pthread_create(&srv->loops[i].thread, NULL, loop_thread_main, &srv->loops[i]);
        if (rc < 0) {
            log_error("http: cannot start loop thread %d: %s", i, strerror(-rc));
            http_server_stop(srv, 0);
            break;
        }
        srv->loops[i].thread_started = true;
    }
    loop_thread_main(&srv->loops[0]);
    for (int i = 1; i < srv->nloops; i++) {
        if (srv->loops[i].thread_started)
            pthread_join(srv->loops[i].thread, NULL);
    }
    return rc;
}

void http_server_stop(struct http_server *srv, uint64_t drain_ms)
{
    /* Only atomics and uv_async_send: both async-signal-safe. */
    if (atomic_exchange(&srv->stop_requested, true))
        return;
    atomic_store(&srv->drain_ms, drain_ms);
    for (int i = 0; i < srv->nloops; i++) {
        if (srv->loops[i].handles_ready)
            uv_async_send(&srv->loops[i].stop_async);
    }
}

void http_server_destroy(struct http_server *srv)
{
    if (srv == NULL)
        return;
    for (int i = 0; srv->loops && i < srv->nloops; i++) {
        struct http_loop *lp = &srv->loops[i];
        if (lp->loop_ready) {
            /* Never run (or run stopped): close what is left and let the closes finish. */
            loop_close_handles(lp);
            uv_run(&lp->loop, UV_RUN_DEFAULT);
            if (uv_loop_close(&lp->loop) != 0)
                log_error("http: loop %d still has handles at destroy", i);
        }
        if (lp->srv != NULL) /* loop_init ran, so the mutex exists */
            pthread_mutex_destroy(&lp->post_mu);
    }
    for (int i = 0; srv->listen_fds && i < srv->nloops; i++) {
        if (srv->listen_fds[i] >= 0)
            close(srv->listen_fds[i]);
    }
    gz_free(srv->loops);
    gz_free(srv->listen_fds);
    http__ip_table_free(srv->ips);
    gz_free(srv->listen_copy);
    gz_free(srv->server_line);
    gz_free(srv);
}
