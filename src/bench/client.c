/*
 * client.c - the event-driven engine of `gzy bench`: one libuv loop per thread, keep-alive
 * connections with one request in flight, requests written with one vectored write (headers +
 * body slice of a shared random buffer), responses parsed by llhttp (HTTP_RESPONSE).
 */
#include <errno.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <llhttp.h>
#include <uv.h>

#include "../s3/auth.h"
#include "../util/hash.h"
#include "../util/util.h"
#include "bench.h"

#define BENCH_RBUF 65536
#define BENCH_BODY_MAX (256 * 1024)
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct bench_shared {
    const struct bench_opts *o;
    enum bench_op op;
    bool prepare;                /* uploading obj-N keys, not measured */
    uint64_t limit;              /* operations to issue; 0 = until the timer */
    _Atomic uint64_t issued;
    _Atomic uint64_t key_seq;
    struct sockaddr_storage addr;
    char host[300];              /* Host header value */
    char bucket_path[600];       /* "/bucket" */
    char key_prefix[1300];      /* "/bucket/<encoded prefix>" */
    char raw_path[1024];
    const uint8_t *data;
    size_t data_len;
    llhttp_settings_t settings;  /* shared by every parser of the run */
};

struct bench_thread;

struct bench_conn {
    struct bench_thread *t;
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    llhttp_t parser;
    bool open, busy, dead, paused;
    char *rbuf;
    struct gz_buf req, body, xml;
    enum bench_op op;            /* operation being measured */
    int stage;                   /* multipart: 0 init, 1..n parts, n+1 complete */
    int parts;
    uint64_t size, start_ns, bytes;
    char key[1400];
    char upload_id[512];
    char fname[16];
    size_t fname_len;
    bool is_etag;
    char etag[96];
};

struct bench_thread {
    struct bench_shared *sh;
    unsigned index;
    uv_loop_t loop;
    uv_timer_t timer;
    uv_thread_t tid;
    struct bench_conn *conns;
    unsigned nconns, open_handles;
    bool stopping, has_timer;
    uint64_t rng;
    int64_t date_s;
    char amz_date[17], day[9], scope[160];
    uint8_t skey[32];
    struct gz_buf canon;
    uint64_t hash_len;
    char hash_hex[65];
    char tmp_hex[65];
    uint64_t mix_put, mix_del;
    struct bench_op_result res[BENCH_OP_COUNT];
    struct bench_errs errs;
};

static void conn_next(struct bench_conn *c);
static void conn_connect(struct bench_conn *c);
static void conn_close(struct bench_conn *c);

static uint64_t now_ns(void)
{
    return (uint64_t)gz_monotonic_ns();
}

static void thread_error(struct bench_thread *t, enum bench_op op, const char *name)
{
    bench_errs_add(&t->errs, name, 1);
    if (op < BENCH_OP_COUNT)
        t->res[op].errors++;
}

/* ---- signing ---- */

static void sign_refresh(struct bench_thread *t)
{
    time_t now = time(NULL);
    if ((int64_t)now == t->date_s)
        return;
    t->date_s = (int64_t)now;
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(t->amz_date, sizeof(t->amz_date), "%Y%m%dT%H%M%SZ", &tm);
    if (memcmp(t->day, t->amz_date, 8) != 0) {
        const struct bench_opts *o = t->sh->o;
        memcpy(t->day, t->amz_date, 8);
        t->day[8] = '\0';
        s3_sigv4_signing_key(o->secret_key, gz_slice(t->day, 8), gz_slice_cstr(o->region),
                             gz_slice_cstr("s3"), t->skey);
        snprintf(t->scope, sizeof(t->scope), "%s/%s/s3/aws4_request", t->day, o->region);
    }
}

static const char *payload_hash(struct bench_thread *t, const void *p, size_t n)
{
    if (t->sh->o->payload_hash == BENCH_PAYLOAD_UNSIGNED)
        return "UNSIGNED-PAYLOAD";
    if (n == 0)
        return EMPTY_SHA256;
    if (p == t->sh->data && n == t->hash_len)
        return t->hash_hex;
    uint8_t d[32];
    gz_sha256(p, n, d);
    if (p != t->sh->data) {
        gz_hex_encode(t->tmp_hex, d, 32);
        return t->tmp_hex;
    }
    gz_hex_encode(t->hash_hex, d, 32);
    t->hash_len = n;
    return t->hash_hex;
}

/* Builds the request head into c->req: signed unless --no-sign. */
static int build_request(struct bench_conn *c, const char *method, const char *path,
                         const char *query, const void *body, size_t blen)
{
    struct bench_thread *t = c->t;
    const struct bench_opts *o = t->sh->o;
    struct gz_buf *r = &c->req;
    int rc;
    gz_buf_reset(r);
    rc = gz_buf_appendf(r, "%s %s%s%s HTTP/1.1\r\nHost: %s\r\n", method, path,
                        query[0] ? "?" : "", query, t->sh->host);
    if (rc == 0 && (blen > 0 || strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0))
        rc = gz_buf_appendf(r, "Content-Length: %zu\r\n", blen);
    if (rc == 0 && o->sign) {
        const char *ph = payload_hash(t, body, blen);
        char sig[65];
        sign_refresh(t);
        gz_buf_reset(&t->canon);
        rc = gz_buf_appendf(&t->canon,
                            "%s\n%s\n%s\nhost:%s\nx-amz-content-sha256:%s\nx-amz-date:%s\n\n"
                            "host;x-amz-content-sha256;x-amz-date\n%s",
                            method, path, query, t->sh->host, ph, t->amz_date, ph);
        if (rc != 0)
            return rc;
        s3_sigv4_sign(t->skey, gz_slice_cstr(t->amz_date), gz_slice_cstr(t->scope),
                      gz_buf_slice(&t->canon), sig);
        rc = gz_buf_appendf(r,
                            "x-amz-date: %s\r\nx-amz-content-sha256: %s\r\nAuthorization: "
                            "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=host;"
                            "x-amz-content-sha256;x-amz-date, Signature=%s\r\n",
                            t->amz_date, ph, o->access_key, t->scope, sig);
    }
    if (rc == 0)
        rc = gz_buf_append(r, "\r\n", 2);
    return rc;
}

/* ---- writing ---- */

static void on_write(uv_write_t *req, int status)
{
    struct bench_conn *c = req->data;
    if (status < 0 && !uv_is_closing((uv_handle_t *)&c->tcp)) {
        thread_error(c->t, c->op, "write failed");
        c->busy = false;
        conn_close(c);
    }
}

static void send_prepared(struct bench_conn *c)
{
    uv_buf_t buf = uv_buf_init(c->req.ptr, (unsigned)c->req.len);
    gz_buf_reset(&c->body);
    c->busy = true;
    c->wreq.data = c;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &buf, 1, on_write) < 0) {
        thread_error(c->t, c->op, "write failed");
        c->busy = false;
        conn_close(c);
    }
}

static void send_request(struct bench_conn *c, const char *method, const char *path,
                         const char *query, const void *body, size_t blen)
{
    if (build_request(c, method, path, query, body, blen) != 0) {
        thread_error(c->t, c->op, "request too large");
        c->dead = true;
        conn_close(c);
        return;
    }
    uv_buf_t bufs[2] = {uv_buf_init((char *)c->req.ptr, (unsigned)c->req.len),
                        uv_buf_init((char *)body, (unsigned)blen)};
    gz_buf_reset(&c->body);
    c->etag[0] = '\0';
    c->busy = true;
    c->wreq.data = c;
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, bufs, blen > 0 ? 2 : 1, on_write);
    if (rc < 0) {
        thread_error(c->t, c->op, "write failed");
        c->busy = false;
        conn_close(c);
    }
}

/* ---- operations ---- */

static void key_set(struct bench_conn *c, const char *kind, uint64_t n)
{
    snprintf(c->key, sizeof(c->key), "%s%s%08llu", c->t->sh->key_prefix, kind,
             (unsigned long long)n);
}

static void uri_encode(char *out, size_t outsz, const char *in)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *in && o + 4 < outsz; in++) {
        unsigned char ch = (unsigned char)*in;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    out[o] = '\0';
}

static void send_part(struct bench_conn *c)
{
    const struct bench_opts *o = c->t->sh->o;
    char q[700];
    uint64_t off = (uint64_t)(c->stage - 1) * o->part_size;
    uint64_t len = c->size - off < o->part_size ? c->size - off : o->part_size;
    snprintf(q, sizeof(q), "partNumber=%d&uploadId=%s", c->stage, c->upload_id);
    send_request(c, "PUT", c->key, q, c->t->sh->data, len);
}

static void send_complete(struct bench_conn *c)
{
    char q[600];
    gz_buf_append_cstr(&c->xml, "</CompleteMultipartUpload>");
    snprintf(q, sizeof(q), "uploadId=%s", c->upload_id);
    send_request(c, "POST", c->key, q, c->xml.ptr, c->xml.len);
}

static void start_op(struct bench_conn *c, enum bench_op op)
{
    struct bench_thread *t = c->t;
    struct bench_shared *sh = t->sh;
    const struct bench_opts *o = sh->o;
    uint64_t objects = o->objects ? o->objects : 1;
    char q[700];
    c->op = op;
    c->start_ns = now_ns();
    c->bytes = 0;
    c->size = 0;
    switch (op) {
    case BENCH_OP_PUT:
        if (sh->prepare)
            key_set(c, "obj-", atomic_fetch_add(&sh->key_seq, 1));
        else if (sh->op == BENCH_OP_MIXED)
            key_set(c, "mix-", (uint64_t)t->index << 40 | t->mix_put++);
        else
            key_set(c, "put-", atomic_fetch_add(&sh->key_seq, 1));
        c->size = bench_size_pick(&o->size, &t->rng);
        send_request(c, "PUT", c->key, "", sh->data, c->size);
        break;
    case BENCH_OP_GET:
    case BENCH_OP_HEAD:
        key_set(c, "obj-", bench_rng_next(&t->rng) % objects);
        send_request(c, op == BENCH_OP_GET ? "GET" : "HEAD", c->key, "", NULL, 0);
        break;
    case BENCH_OP_LIST: {
        /* A page of 1000 starting at a random object: pages from all over the key space,
         * not the first page again and again. */
        char pfx[300], raw[300], after[300];
        uri_encode(pfx, sizeof(pfx), o->prefix);
        snprintf(raw, sizeof(raw), "%sobj-%08llu", o->prefix,
                 (unsigned long long)(bench_rng_next(&t->rng) % objects));
        uri_encode(after, sizeof(after), raw);
        snprintf(q, sizeof(q), "list-type=2&max-keys=1000&prefix=%s&start-after=%s", pfx,
                 after);
        send_request(c, "GET", sh->bucket_path, q, NULL, 0);
        break;
    }
    case BENCH_OP_DELETE:
        if (sh->op == BENCH_OP_MIXED)
            key_set(c, "mix-", (uint64_t)t->index << 40 | t->mix_del++);
        else
            key_set(c, "obj-", atomic_fetch_add(&sh->key_seq, 1) % objects);
        send_request(c, "DELETE", c->key, "", NULL, 0);
        break;
    case BENCH_OP_MULTIPART:
        key_set(c, "mpu-", atomic_fetch_add(&sh->key_seq, 1));
        c->size = bench_size_pick(&o->size, &t->rng);
        c->parts = c->size == 0 ? 1 : (int)((c->size + o->part_size - 1) / o->part_size);
        c->stage = 0;
        gz_buf_reset(&c->xml);
        gz_buf_append_cstr(&c->xml, "<CompleteMultipartUpload>");
        send_request(c, "POST", c->key, "uploads=", NULL, 0);
        break;
    case BENCH_OP_RAW:
        if (c->req.len == 0)
            send_request(c, "GET", sh->raw_path, "", NULL, 0);
        else
            send_prepared(c);   /* same bytes every time: reuse them */
        break;
    default:
        send_request(c, "PUT", sh->bucket_path, "", NULL, 0);
        break;
    }
}

/* Extracts <Tag>value</Tag> from the response body. */
static bool xml_value(const struct gz_buf *b, const char *tag, char *out, size_t outsz)
{
    char open[40], close[40];
    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    if (b->len == 0)
        return false;
    const char *s = memmem(b->ptr, b->len, open, strlen(open));
    if (s == NULL)
        return false;
    s += strlen(open);
    const char *e = memmem(s, b->len - (size_t)(s - (const char *)b->ptr), close,
                           strlen(close));
    if (e == NULL || (size_t)(e - s) >= outsz)
        return false;
    memcpy(out, s, (size_t)(e - s));
    out[e - s] = '\0';
    return true;
}

static void finish_op(struct bench_conn *c, int status)
{
    struct bench_thread *t = c->t;
    enum bench_op slot = c->op == BENCH_OP_RAW ? BENCH_OP_GET
                         : c->op == BENCH_OP_MKBUCKET ? BENCH_OP_PUT : c->op;
    char code[48];
    bool has_code = xml_value(&c->body, "Code", code, sizeof(code));
    bool ok = status / 100 == 2 && !(c->op == BENCH_OP_MULTIPART && has_code);
    if (c->op == BENCH_OP_MKBUCKET && status == 409 && has_code &&
        strcmp(code, "BucketAlreadyOwnedByYou") == 0)
        ok = true;
    c->busy = false;
    if (!ok) {
        char name[48];
        if (has_code)
            snprintf(name, sizeof(name), "%s", code);
        else
            snprintf(name, sizeof(name), "HTTP %d", status);
        thread_error(t, slot, name);
        return;
    }
    struct bench_op_result *r = &t->res[slot];
    r->ops++;
    r->bytes += c->op == BENCH_OP_PUT || c->op == BENCH_OP_MULTIPART ? c->size : c->bytes;
    bench_hist_record(&r->hist, now_ns() - c->start_ns);
}

/* A whole response arrived. */
static void on_response(struct bench_conn *c)
{
    int status = c->parser.status_code;
    if (c->op == BENCH_OP_MULTIPART && status / 100 == 2 && c->stage <= c->parts) {
        if (c->stage == 0) {
            char id[400];
            if (!xml_value(&c->body, "UploadId", id, sizeof(id))) {
                finish_op(c, 599);
                goto next;
            }
            uri_encode(c->upload_id, sizeof(c->upload_id), id);
        } else {
            gz_buf_appendf(&c->xml, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>",
                           c->stage, c->etag);
        }
        c->stage++;
        if (c->stage <= c->parts)
            send_part(c);
        else
            send_complete(c);
        return;
    }
    finish_op(c, status);
next:
    if (!llhttp_should_keep_alive(&c->parser))
        conn_close(c);
    else
        conn_next(c);
}

/* ---- llhttp callbacks ---- */

static int cb_headers_complete(llhttp_t *p)
{
    struct bench_conn *c = p->data;
    return c->op == BENCH_OP_HEAD ? 1 : 0;
}

static int cb_body(llhttp_t *p, const char *at, size_t len)
{
    struct bench_conn *c = p->data;
    c->bytes += len;
    if (p->status_code >= 300 || c->op == BENCH_OP_MULTIPART || c->op == BENCH_OP_MKBUCKET)
        (void)gz_buf_append(&c->body, at, len);   /* bounded; the tail may be cut */
    return 0;
}

static int cb_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct bench_conn *c = p->data;
    if (c->op != BENCH_OP_MULTIPART)
        return 0;   /* only part uploads need a header (ETag) */
    size_t n = len < sizeof(c->fname) - 1 - c->fname_len ? len
                                                          : sizeof(c->fname) - 1 - c->fname_len;
    memcpy(c->fname + c->fname_len, at, n);
    c->fname_len += n;
    c->fname[c->fname_len] = '\0';
    return 0;
}

static int cb_header_field_complete(llhttp_t *p)
{
    struct bench_conn *c = p->data;
    if (c->op != BENCH_OP_MULTIPART)
        return 0;
    c->is_etag = strcasecmp(c->fname, "etag") == 0;
    c->fname_len = 0;
    c->fname[0] = '\0';
    return 0;
}

static int cb_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct bench_conn *c = p->data;
    if (c->is_etag) {
        size_t have = strlen(c->etag);
        size_t n = len < sizeof(c->etag) - 1 - have ? len : sizeof(c->etag) - 1 - have;
        memcpy(c->etag + have, at, n);
        c->etag[have + n] = '\0';
    }
    return 0;
}

static int cb_header_value_complete(llhttp_t *p)
{
    struct bench_conn *c = p->data;
    c->is_etag = false;
    return 0;
}

static int cb_message_complete(llhttp_t *p)
{
    return HPE_PAUSED;
}

/* ---- connections ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct bench_conn *c = h->data;
    *buf = uv_buf_init(c->rbuf, BENCH_RBUF);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct bench_conn *c = s->data;
    llhttp_errno_t err = HPE_OK;
    if (nread == 0)
        return;
    if (nread > 0)
        err = llhttp_execute(&c->parser, buf->base, (size_t)nread);
    else if (c->busy)
        err = llhttp_finish(&c->parser);
    if (err == HPE_PAUSED) {
        llhttp_resume(&c->parser);
        on_response(c);
        return;
    }
    if (err != HPE_OK) {
        thread_error(c->t, c->op, "bad HTTP response");
        conn_close(c);
        return;
    }
    if (nread < 0) {
        if (c->busy)
            thread_error(c->t, c->op, "connection closed");
        conn_close(c);
    }
}

static void on_close(uv_handle_t *h)
{
    struct bench_conn *c = h->data;
    struct bench_thread *t = c->t;
    t->open_handles--;
    if (!t->stopping && !c->dead)
        conn_connect(c);
    else if (t->open_handles == 0 && t->has_timer &&
             !uv_is_closing((uv_handle_t *)&t->timer))
        uv_close((uv_handle_t *)&t->timer, NULL);
}

static void conn_close(struct bench_conn *c)
{
    if (uv_is_closing((uv_handle_t *)&c->tcp))
        return;
    c->open = false;
    c->busy = false;
    uv_close((uv_handle_t *)&c->tcp, on_close);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct bench_conn *c = req->data;
    if (status < 0) {
        char name[48];
        snprintf(name, sizeof(name), "connect: %s", uv_strerror(status));
        thread_error(c->t, BENCH_OP_COUNT, name);
        c->dead = true;   /* no hot reconnect loop against a dead endpoint */
        conn_close(c);
        return;
    }
    c->open = true;
    llhttp_init(&c->parser, HTTP_RESPONSE, &c->t->sh->settings);
    c->parser.data = c;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    conn_next(c);
}

static void conn_connect(struct bench_conn *c)
{
    struct bench_thread *t = c->t;
    uv_tcp_init(&t->loop, &c->tcp);
    c->tcp.data = c;
    t->open_handles++;
    uv_tcp_nodelay(&c->tcp, 1);
    c->creq.data = c;
    int rc = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&t->sh->addr,
                            on_connect);
    if (rc < 0)
        on_connect(&c->creq, rc);
}

static void conn_next(struct bench_conn *c)
{
    struct bench_thread *t = c->t;
    struct bench_shared *sh = t->sh;
    if (t->stopping || (sh->limit && atomic_fetch_add(&sh->issued, 1) >= sh->limit)) {
        c->dead = true;
        conn_close(c);
        return;
    }
    enum bench_op op = sh->op;
    if (op == BENCH_OP_MIXED)
        op = bench_mix_pick(&sh->o->mix, &t->rng);
    start_op(c, op);
}

static void on_timer(uv_timer_t *timer)
{
    struct bench_thread *t = timer->data;
    if (!t->stopping) {
        /* Stop issuing; give in-flight requests 5 s before cutting them. */
        t->stopping = true;
        uv_timer_start(timer, on_timer, 5000, 0);
        return;
    }
    for (unsigned i = 0; i < t->nconns; i++) {
        struct bench_conn *c = &t->conns[i];
        if (c->busy)
            thread_error(t, c->op, "timeout");
        c->dead = true;
        if (!uv_is_closing((uv_handle_t *)&c->tcp) && (c->open || c->busy))
            conn_close(c);
    }
    uv_close((uv_handle_t *)timer, NULL);
}

static void thread_main(void *arg)
{
    struct bench_thread *t = arg;
    for (unsigned i = 0; i < t->nconns; i++)
        conn_connect(&t->conns[i]);
    uv_run(&t->loop, UV_RUN_DEFAULT);
}

/* ---- phases ---- */

static void conn_free(struct bench_conn *c)
{
    gz_buf_free(&c->req);
    gz_buf_free(&c->body);
    gz_buf_free(&c->xml);
    gz_free(c->rbuf);
}

static void thread_init(struct bench_thread *t, struct bench_shared *sh, unsigned i,
                        unsigned nconns, int64_t duration_ms)
{
    t->sh = sh;
    t->index = i;
    t->rng = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)(i + 1) * 0xD1B54A32D192ED03ULL) ^
             (uint64_t)gz_monotonic_ns();
    if (t->rng == 0)
        t->rng = 1;
    t->date_s = -1;
    gz_buf_init(&t->canon, 16384);
    for (size_t k = 0; k < BENCH_OP_COUNT; k++)
        bench_hist_init(&t->res[k].hist);
    uv_loop_init(&t->loop);
    t->nconns = nconns;
    t->conns = gz_calloc(nconns ? nconns : 1, sizeof(*t->conns));
    for (unsigned k = 0; k < nconns; k++) {
        struct bench_conn *c = &t->conns[k];
        c->t = t;
        c->rbuf = gz_malloc(BENCH_RBUF);
        gz_buf_init(&c->req, 16384);
        gz_buf_init(&c->body, BENCH_BODY_MAX);
        gz_buf_init(&c->xml, 1024 * 1024);
    }
    if (duration_ms > 0) {
        uv_timer_init(&t->loop, &t->timer);
        t->timer.data = t;
        t->has_timer = true;
        uv_timer_start(&t->timer, on_timer, (uint64_t)duration_ms, 0);
    }
}

/* Adds the thread's counts to res, then frees the thread's resources. */
static void thread_merge_free(struct bench_thread *t, struct bench_result *res)
{
    for (size_t k = 0; k < BENCH_OP_COUNT; k++) {
        res->by_op[k].ops += t->res[k].ops;
        res->by_op[k].bytes += t->res[k].bytes;
        res->by_op[k].errors += t->res[k].errors;
        bench_hist_merge(&res->by_op[k].hist, &t->res[k].hist);
    }
    for (size_t k = 0; k < BENCH_ERR_SLOTS; k++)
        if (t->errs.count[k])
            bench_errs_add(&res->errs, t->errs.name[k], t->errs.count[k]);
    if (t->errs.other)
        bench_errs_add(&res->errs, "other", t->errs.other);
    uv_loop_close(&t->loop);
    for (unsigned k = 0; k < t->nconns; k++)
        conn_free(&t->conns[k]);
    gz_free(t->conns);
    gz_buf_free(&t->canon);
}

/* Runs one phase with nthreads loops and nconns connections; merges into res. */
static void phase_run(struct bench_shared *sh, unsigned nthreads, unsigned nconns,
                      int64_t duration_ms, struct bench_result *res)
{
    struct bench_thread *ts = gz_calloc(nthreads, sizeof(*ts));
    for (unsigned i = 0; i < nthreads; i++)
        thread_init(&ts[i], sh, i, nconns / nthreads + (i < nconns % nthreads ? 1 : 0),
                    duration_ms);
    if (nthreads == 1) {
        thread_main(&ts[0]);
    } else {
        for (unsigned i = 0; i < nthreads; i++)
            uv_thread_create(&ts[i].tid, thread_main, &ts[i]);
        for (unsigned i = 0; i < nthreads; i++)
            uv_thread_join(&ts[i].tid);
    }
    for (unsigned i = 0; i < nthreads; i++)
        thread_merge_free(&ts[i], res);
    gz_free(ts);
}

static void result_reset(struct bench_result *r)
{
    memset(r, 0, sizeof(*r));
    bench_hist_init(&r->total.hist);
    for (size_t k = 0; k < BENCH_OP_COUNT; k++)
        bench_hist_init(&r->by_op[k].hist);
}

/* Parses http://host[:port][/path]; fills addr, Host header and path. */
static int endpoint_parse(const char *url, struct bench_shared *sh, char *path, size_t pathsz,
                          char *msg, size_t msgsz)
{
    char host[256], port[8] = "80";
    if (strncmp(url, "http://", 7) != 0) {
        snprintf(msg, msgsz, "only http:// endpoints are supported: %s", url);
        return -EINVAL;
    }
    const char *h = url + 7, *slash = strchr(h, '/');
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    if (hl == 0 || hl >= sizeof(host)) {
        snprintf(msg, msgsz, "bad endpoint %s", url);
        return -EINVAL;
    }
    memcpy(sh->host, h, hl);
    sh->host[hl] = '\0';
    snprintf(path, pathsz, "%s", slash ? slash : "/");
    memcpy(host, h, hl);
    host[hl] = '\0';
    char *colon = strrchr(host, ':');
    if (host[0] == '[') {
        char *end = strchr(host, ']');
        if (end == NULL)
            return -EINVAL;
        *end = '\0';
        if (end[1] == ':')
            snprintf(port, sizeof(port), "%s", end + 2);
        memmove(host, host + 1, strlen(host + 1) + 1);
    } else if (colon) {
        *colon = '\0';
        snprintf(port, sizeof(port), "%s", colon + 1);
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0) {
        snprintf(msg, msgsz, "cannot resolve %s: %s", host, gai_strerror(rc));
        return -EHOSTUNREACH;
    }
    memcpy(&sh->addr, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    return 0;
}

static int setup_phase(struct bench_shared *sh, enum bench_op op, uint64_t limit,
                       unsigned conns, struct bench_result *tmp, char *msg, size_t msgsz)
{
    result_reset(tmp);
    sh->op = op;
    sh->prepare = true;
    sh->limit = limit;
    atomic_store(&sh->issued, 0);
    atomic_store(&sh->key_seq, 0);
    phase_run(sh, 1, conns, 0, tmp);
    if (bench_errs_total(&tmp->errs) == 0)
        return 0;
    for (size_t k = 0; k < BENCH_ERR_SLOTS; k++) {
        if (tmp->errs.count[k]) {
            snprintf(msg, msgsz, "%s failed: %s (%llu)", bench_op_name(op), tmp->errs.name[k],
                     (unsigned long long)tmp->errs.count[k]);
            break;
        }
    }
    return -EIO;
}

static int run_setup(struct bench_shared *sh, const struct bench_opts *o, char *msg,
                     size_t msgsz)
{
    struct bench_result *tmp = gz_malloc(sizeof(*tmp));
    int rc = setup_phase(sh, BENCH_OP_MKBUCKET, 1, 1, tmp, msg, msgsz);
    bool needs = o->op == BENCH_OP_GET || o->op == BENCH_OP_HEAD || o->op == BENCH_OP_LIST ||
                 o->op == BENCH_OP_DELETE || o->op == BENCH_OP_MIXED;
    if (rc == 0 && needs && o->prepare && o->objects > 0) {
        unsigned conns = o->concurrency < o->objects ? o->concurrency : (unsigned)o->objects;
        rc = setup_phase(sh, BENCH_OP_PUT, o->objects, conns, tmp, msg, msgsz);
    }
    gz_free(tmp);
    return rc;
}

int bench_run(const struct bench_opts *o, struct bench_result *res, char *msg, size_t msgsz)
{
    struct bench_shared *sh = gz_calloc(1, sizeof(*sh));
    uint8_t *data = NULL;
    char path[1024];
    int rc;
    result_reset(res);
    llhttp_settings_t *ps = &sh->settings;
    llhttp_settings_init(ps);
    ps->on_headers_complete = cb_headers_complete;
    ps->on_body = cb_body;
    ps->on_header_field = cb_header_field;
    ps->on_header_field_complete = cb_header_field_complete;
    ps->on_header_value = cb_header_value;
    ps->on_header_value_complete = cb_header_value_complete;
    ps->on_message_complete = cb_message_complete;
    sh->o = o;
    rc = endpoint_parse(o->op == BENCH_OP_RAW ? o->raw_url : o->endpoint, sh, path,
                        sizeof(path), msg, msgsz);
    if (rc != 0)
        goto out;
    snprintf(sh->raw_path, sizeof(sh->raw_path), "%s", path);
    char pfx[600];
    uri_encode(sh->bucket_path + 1, sizeof(sh->bucket_path) - 1, o->bucket);
    sh->bucket_path[0] = '/';
    uri_encode(pfx, sizeof(pfx), o->prefix);
    snprintf(sh->key_prefix, sizeof(sh->key_prefix), "%s/%s", sh->bucket_path, pfx);
    /* keep "/" in the prefix as a path separator */
    for (char *p = strstr(sh->key_prefix, "%2F"); p; p = strstr(p, "%2F")) {
        *p = '/';
        memmove(p + 1, p + 3, strlen(p + 3) + 1);
    }
    sh->data_len = (size_t)bench_size_max(&o->size);
    data = gz_malloc(sh->data_len ? sh->data_len : 1);
    uint64_t seed = 0x1234567;
    for (size_t i = 0; i + 8 <= sh->data_len; i += 8) {
        uint64_t v = bench_rng_next(&seed);
        memcpy(data + i, &v, 8);
    }
    sh->data = data;
    if (o->op != BENCH_OP_RAW) {
        rc = run_setup(sh, o, msg, msgsz);
        if (rc != 0)
            goto out;
    }
    sh->op = o->op;
    sh->prepare = false;
    sh->limit = o->count;
    atomic_store(&sh->issued, 0);
    atomic_store(&sh->key_seq, 0);
    int64_t t0 = gz_monotonic_ns();
    phase_run(sh, o->threads, o->concurrency, o->count ? 0 : o->duration_ms, res);
    res->seconds = (double)(gz_monotonic_ns() - t0) / 1e9;
    for (size_t k = 0; k < BENCH_OP_COUNT; k++) {
        res->total.ops += res->by_op[k].ops;
        res->total.bytes += res->by_op[k].bytes;
        res->total.errors += res->by_op[k].errors;
        bench_hist_merge(&res->total.hist, &res->by_op[k].hist);
    }
    res->total.errors = bench_errs_total(&res->errs);
out:
    gz_free(data);
    gz_free(sh);
    return rc;
}
