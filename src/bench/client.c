/*
 * client.c - the event-driven engine of `gzy bench`: one libuv loop per thread, keep-alive
 * connections with one request in flight, requests written with one vectored write (headers +
 * body slice of a shared random buffer, or the aws-chunked framing between slices of it),
 * responses parsed by llhttp (HTTP_RESPONSE). Over TLS the same pieces are encrypted in steps
 * of 64 KiB with at most BENCH_TLS_INFLIGHT ciphertext bytes queued per connection.
 */
#include <arpa/inet.h>
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
#include "bench_int.h"

#define BENCH_RBUF 65536
#define BENCH_BODY_MAX (256 * 1024)
#define EMPTY_SHA256 BENCH_EMPTY_SHA256
#define BENCH_TLS_STEP (64 * 1024)         /* plaintext per SSL_write */
#define BENCH_TLS_INFLIGHT (256 * 1024)    /* ciphertext queued on the socket */

struct bench_shared {
    const struct bench_opts *o;
    enum bench_op op;
    bool prepare;                /* uploading obj-N keys, not measured */
    uint64_t limit;              /* operations to issue; 0 = until the timer */
    _Atomic uint64_t issued;
    _Atomic uint64_t key_seq;
    struct sockaddr_storage addr;
    char host[600];              /* Host header value (bucket.host:port when virtual) */
    char tls_name[600];          /* SNI and verified name (the Host without the port) */
    struct bench_tls_ctx *tls;   /* NULL for http:// */
    uv_mutex_t err_mu;
    char tls_err[256];           /* the first handshake failure, under err_mu */
    uint64_t chunk;              /* aws-chunked chunk size */
    uint8_t (*chunk_sha)[32];    /* SHA-256 of data[i * chunk, (i + 1) * chunk) */
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
    bool writing;                /* plain: the request's uv_write has not completed */
    struct bench_tls *tls;       /* https: this connection's session */
    bool hs_done;
    uv_buf_t *uvb;               /* the pieces of the request being written */
    struct gz_slice *iov;        /* aws-chunked framing (converted into uvb) */
    size_t iov_max, niov, iov_i, iov_off;
    size_t tls_inflight;         /* ciphertext bytes handed to libuv, not yet written */
    char *tls_stage;             /* TLS: small pieces gathered into one record run */
    size_t stage_len;
    struct gz_buf fr;            /* aws-chunked framing text */
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
    uint64_t tail_len, crc_len;  /* caches for the streaming modes (by body length) */
    uint8_t tail_sha[32];
    char crc_b64[16];
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

/* What an aws-chunked upload adds to the head and to the canonical request. */
struct chunked_head {
    const char *ph;          /* x-amz-content-sha256 */
    char head[200];          /* extra header lines */
    char canon_pre[40];      /* canonical headers before host */
    char canon_post[200];    /* canonical headers after x-amz-date */
    const char *signed_hdrs;
    uint64_t length;         /* Content-Length */
};

static void chunked_head_init(struct chunked_head *h, const struct bench_shared *sh,
                              size_t blen)
{
    bool trailer = sh->o->payload_hash == BENCH_PAYLOAD_STREAMING_TRAILER;
    h->ph = trailer ? "STREAMING-UNSIGNED-PAYLOAD-TRAILER" : "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
    snprintf(h->head, sizeof(h->head),
             "Content-Encoding: aws-chunked\r\nx-amz-decoded-content-length: %zu\r\n%s", blen,
             trailer ? "x-amz-trailer: x-amz-checksum-crc32c\r\n" : "");
    snprintf(h->canon_pre, sizeof(h->canon_pre), "content-encoding:aws-chunked\n");
    snprintf(h->canon_post, sizeof(h->canon_post), "x-amz-decoded-content-length:%zu\n%s", blen,
             trailer ? "x-amz-trailer:x-amz-checksum-crc32c\n" : "");
    h->signed_hdrs = trailer ? "content-encoding;host;x-amz-content-sha256;x-amz-date;"
                               "x-amz-decoded-content-length;x-amz-trailer"
                             : "content-encoding;host;x-amz-content-sha256;x-amz-date;"
                               "x-amz-decoded-content-length";
    h->length = bench_chunked_length(blen, sh->chunk, !trailer);
}

/* Appends the SigV4 headers to the request head; sig receives the signature. */
static int sign_request(struct bench_conn *c, const char *method, const char *path,
                        const char *query, const char *ph, const struct chunked_head *ch,
                        char sig[65])
{
    struct bench_thread *t = c->t;
    const struct bench_opts *o = t->sh->o;
    const char *shdrs = ch ? ch->signed_hdrs : "host;x-amz-content-sha256;x-amz-date";
    sign_refresh(t);
    gz_buf_reset(&t->canon);
    int rc = gz_buf_appendf(&t->canon,
                            "%s\n%s\n%s\n%shost:%s\nx-amz-content-sha256:%s\nx-amz-date:%s\n%s\n"
                            "%s\n%s",
                            method, path, query, ch ? ch->canon_pre : "", t->sh->host, ph,
                            t->amz_date, ch ? ch->canon_post : "", shdrs, ph);
    if (rc != 0)
        return rc;
    s3_sigv4_sign(t->skey, gz_slice_cstr(t->amz_date), gz_slice_cstr(t->scope),
                  gz_buf_slice(&t->canon), sig);
    return gz_buf_appendf(&c->req,
                          "x-amz-date: %s\r\nx-amz-content-sha256: %s\r\nAuthorization: "
                          "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s\r\n",
                          t->amz_date, ph, o->access_key, t->scope, shdrs, sig);
}

/* Builds the request head into c->req: signed unless --no-sign. With ch, the body goes
 * aws-chunked and seed receives the seed signature. */
static int build_request(struct bench_conn *c, const char *method, const char *path,
                         const char *query, const void *body, size_t blen,
                         const struct chunked_head *ch, char seed[65])
{
    struct bench_thread *t = c->t;
    const struct bench_opts *o = t->sh->o;
    struct gz_buf *r = &c->req;
    int rc;
    gz_buf_reset(r);
    rc = gz_buf_appendf(r, "%s %s%s%s HTTP/1.1\r\nHost: %s\r\n", method, path,
                        query[0] ? "?" : "", query, t->sh->host);
    if (rc == 0 && ch)
        rc = gz_buf_appendf(r, "Content-Length: %llu\r\n%s", (unsigned long long)ch->length,
                            ch->head);
    else if (rc == 0 && (blen > 0 || strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0))
        rc = gz_buf_appendf(r, "Content-Length: %zu\r\n", blen);
    if (rc == 0 && o->sign) {
        char sig[65];
        enum bench_payload_hash mode = o->payload_hash;
        const char *ph = ch ? ch->ph
                         : mode >= BENCH_PAYLOAD_STREAMING && blen == 0 ? EMPTY_SHA256
                                                                        : payload_hash(t, body,
                                                                                       blen);
        rc = sign_request(c, method, path, query, ph, ch, sig);
        if (seed)
            memcpy(seed, sig, 65);
    }
    if (rc == 0)
        rc = gz_buf_append(r, "\r\n", 2);
    return rc;
}

/* ---- writing ---- */

static void tls_pump(struct bench_conn *c);

struct tls_wreq {
    uv_write_t w;
    struct bench_conn *c;
    size_t len;
    char *data;   /* stolen from the session */
};

static void write_failed(struct bench_conn *c)
{
    thread_error(c->t, c->op, "write failed");
    c->busy = false;
    conn_close(c);
}

static void on_tls_write(uv_write_t *req, int status)
{
    struct tls_wreq *w = req->data;
    struct bench_conn *c = w->c;
    c->tls_inflight -= w->len;
    bench_tls_out_recycle(c->tls, w->data, w->len);
    gz_free(w);
    if (uv_is_closing((uv_handle_t *)&c->tcp))
        return;
    if (status < 0)
        write_failed(c);
    else
        tls_pump(c);
}

/* Hands the ciphertext waiting in the session to libuv. Returns 0 or a libuv error. */
static int tls_flush(struct bench_conn *c)
{
    if (bench_tls_out_pending(c->tls) == 0)
        return 0;
    struct tls_wreq *w = gz_malloc(sizeof(*w));
    w->c = c;
    w->data = bench_tls_out_steal(c->tls, &w->len);
    w->w.data = w;
    uv_buf_t b = uv_buf_init(w->data, (unsigned)w->len);
    int rc = uv_write(&w->w, (uv_stream_t *)&c->tcp, &b, 1, on_tls_write);
    if (rc < 0) {
        gz_free(w->data);
        gz_free(w);
        return rc;
    }
    c->tls_inflight += w->len;
    return 0;
}

/* Encrypts the next pieces of the request while little ciphertext is queued. */
static void tls_pump(struct bench_conn *c)
{
    while (c->tls_inflight < BENCH_TLS_INFLIGHT && c->iov_i < c->niov) {
        const uv_buf_t *b = &c->uvb[c->iov_i];
        const char *p = b->base + c->iov_off;
        size_t left = b->len - c->iov_off, n;
        int rc = 0;
        if (c->stage_len == 0 && left >= BENCH_TLS_STEP) {
            n = BENCH_TLS_STEP;
            rc = bench_tls_write(c->tls, p, n);
        } else {
            n = left < BENCH_TLS_STEP - c->stage_len ? left : BENCH_TLS_STEP - c->stage_len;
            memcpy(c->tls_stage + c->stage_len, p, n);
            c->stage_len += n;
        }
        c->iov_off += n;
        if (c->iov_off == b->len) {
            c->iov_i++;
            c->iov_off = 0;
        }
        if (rc == 0 && c->stage_len > 0 &&
            (c->stage_len == BENCH_TLS_STEP || c->iov_i == c->niov)) {
            rc = bench_tls_write(c->tls, c->tls_stage, c->stage_len);
            c->stage_len = 0;
        }
        if (rc == 0)
            rc = tls_flush(c);
        if (rc != 0) {
            write_failed(c);
            return;
        }
    }
}

static void on_write(uv_write_t *req, int status)
{
    struct bench_conn *c = req->data;
    c->writing = false;
    if (status < 0 && !uv_is_closing((uv_handle_t *)&c->tcp))
        write_failed(c);
}

/* Writes the pieces (copied when they are not c->uvb already): one uv_write, or encrypted. */
static void conn_write(struct bench_conn *c, const uv_buf_t *bufs, size_t n)
{
    gz_buf_reset(&c->body);
    c->etag[0] = '\0';
    c->busy = true;
    if (c->tls) {
        if (bufs != c->uvb)
            memcpy(c->uvb, bufs, n * sizeof(*bufs));
        c->niov = n;
        c->iov_i = c->iov_off = c->stage_len = 0;
        tls_pump(c);
        return;
    }
    c->wreq.data = c;
    c->writing = true;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, bufs, (unsigned)n, on_write) < 0) {
        c->writing = false;
        write_failed(c);
    }
}

static void send_prepared(struct bench_conn *c)
{
    uv_buf_t buf = uv_buf_init(c->req.ptr, (unsigned)c->req.len);
    conn_write(c, &buf, 1);
}

static void send_request(struct bench_conn *c, const char *method, const char *path,
                         const char *query, const void *body, size_t blen)
{
    if (build_request(c, method, path, query, body, blen, NULL, NULL) != 0) {
        thread_error(c->t, c->op, "request too large");
        c->dead = true;
        conn_close(c);
        return;
    }
    uv_buf_t bufs[2] = {uv_buf_init((char *)c->req.ptr, (unsigned)c->req.len),
                        uv_buf_init((char *)body, (unsigned)blen)};
    conn_write(c, bufs, blen > 0 ? 2 : 1);
}

/* SHA-256 of the last partial chunk of data[0..len), cached for the last length. */
static const uint8_t *tail_sha(struct bench_thread *t, size_t len)
{
    uint64_t chunk = t->sh->chunk, full = len / chunk * chunk;
    if (len % chunk == 0)
        return NULL;
    if (t->tail_len != len) {
        gz_sha256(t->sh->data + full, len - full, t->tail_sha);
        t->tail_len = len;
    }
    return t->tail_sha;
}

/* Base64 CRC32C of data[0..len), cached for the last length. */
static const char *crc_b64(struct bench_thread *t, size_t len)
{
    if (t->crc_len != len || t->crc_b64[0] == '\0') {
        struct gz_hash h;
        uint8_t d[GZ_HASH_MAX_LEN];
        gz_hash_init(&h, GZ_HASH_CRC32C);
        gz_hash_update(&h, t->sh->data, len);
        gz_hash_final(&h, d);
        gz_hash_dispose(&h);
        gz_base64_encode(t->crc_b64, d, 4);
        t->crc_len = len;
    }
    return t->crc_b64;
}

/* An upload of data[0..blen): aws-chunked in the streaming modes, else as send_request. */
static void send_upload(struct bench_conn *c, const char *path, const char *query, size_t blen)
{
    struct bench_thread *t = c->t;
    struct bench_shared *sh = t->sh;
    if (sh->o->payload_hash < BENCH_PAYLOAD_STREAMING) {
        send_request(c, "PUT", path, query, sh->data, blen);
        return;
    }
    struct chunked_head ch;
    struct bench_chunk_signer s = {.skey = t->skey};
    struct bench_chunk_frame f = {.body = (const char *)sh->data, .len = blen,
                                  .chunk = sh->chunk,
                                  .full_sha = (const uint8_t(*)[32])sh->chunk_sha};
    chunked_head_init(&ch, sh, blen);
    int n = build_request(c, "PUT", path, query, sh->data, blen, &ch, s.prev_sig);
    if (n == 0) {
        if (sh->o->payload_hash == BENCH_PAYLOAD_STREAMING) {
            s.amz_date = t->amz_date;
            s.scope = t->scope;
            f.signer = &s;
            f.tail_sha = tail_sha(t, blen);
        } else {
            f.crc_b64 = crc_b64(t, blen);
        }
        n = bench_chunked_frame(&f, &c->fr, gz_buf_slice(&c->req), c->iov, c->iov_max);
    }
    if (n <= 0) {
        thread_error(t, c->op, "request too large");
        c->dead = true;
        conn_close(c);
        return;
    }
    for (int i = 0; i < n; i++)
        c->uvb[i] = uv_buf_init((char *)c->iov[i].ptr, (unsigned)c->iov[i].len);
    conn_write(c, c->uvb, (size_t)n);
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
    send_upload(c, c->key, q, (size_t)len);
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
        send_upload(c, c->key, "", (size_t)c->size);
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
    if (c->tls && c->iov_i < c->niov) {
        /* answered before the whole request was encrypted: the stream is out of step */
        finish_op(c, status / 100 == 2 ? 599 : status);
        conn_close(c);
        return;
    }
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

/* Parses response bytes (p NULL: the peer closed). Returns false when the connection is
 * closing. */
static bool conn_parse(struct bench_conn *c, const char *p, size_t n)
{
    llhttp_errno_t err = HPE_OK;
    if (p)
        err = llhttp_execute(&c->parser, p, n);
    else if (c->busy)
        err = llhttp_finish(&c->parser);
    if (err == HPE_PAUSED) {
        llhttp_resume(&c->parser);
        on_response(c);
        return !uv_is_closing((uv_handle_t *)&c->tcp);
    }
    if (err != HPE_OK) {
        thread_error(c->t, c->op, "bad HTTP response");
        conn_close(c);
        return false;
    }
    if (p == NULL) {
        if (c->busy)
            thread_error(c->t, c->op, "connection closed");
        conn_close(c);
        return false;
    }
    return true;
}

/* A handshake failed: the detail is kept for the setup message; no reconnect loop. */
static void tls_fail(struct bench_conn *c, const char *why)
{
    struct bench_shared *sh = c->t->sh;
    uv_mutex_lock(&sh->err_mu);
    if (sh->tls_err[0] == '\0')
        snprintf(sh->tls_err, sizeof(sh->tls_err), "%s", why);
    uv_mutex_unlock(&sh->err_mu);
    thread_error(c->t, BENCH_OP_COUNT, "TLS handshake failed");
    c->dead = true;
    conn_close(c);
}

static void on_read_tls(struct bench_conn *c, ssize_t nread, const uv_buf_t *buf)
{
    char err[200];
    if (nread < 0 || bench_tls_feed(c->tls, buf->base, (size_t)nread) != 0) {
        if (!c->hs_done)
            tls_fail(c, "the server closed the connection during the handshake");
        else
            conn_parse(c, NULL, 0);
        return;
    }
    if (!c->hs_done) {
        int rc = bench_tls_handshake(c->tls, err, sizeof(err));
        if (rc >= 0 && tls_flush(c) != 0)
            rc = -EPIPE;
        if (rc < 0)
            tls_fail(c, err);
        if (rc <= 0)
            return;
        c->hs_done = true;
        conn_next(c);
    }
    while (!uv_is_closing((uv_handle_t *)&c->tcp)) {
        ssize_t n = bench_tls_read(c->tls, c->rbuf, BENCH_RBUF);
        if (n == 0 && tls_flush(c) == 0)
            return;
        if (!conn_parse(c, n > 0 ? c->rbuf : NULL, n > 0 ? (size_t)n : 0))
            return;
    }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct bench_conn *c = s->data;
    if (nread == 0)
        return;
    if (c->tls)
        on_read_tls(c, nread, buf);
    else
        conn_parse(c, nread > 0 ? buf->base : NULL, nread > 0 ? (size_t)nread : 0);
}

static void on_close(uv_handle_t *h)
{
    struct bench_conn *c = h->data;
    struct bench_thread *t = c->t;
    t->open_handles--;
    bench_tls_free(c->tls);
    c->tls = NULL;
    c->hs_done = false;
    c->niov = c->iov_i = c->stage_len = 0;
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
    if (c->t->sh->tls == NULL) {
        conn_next(c);
        return;
    }
    char err[200] = "cannot create a TLS session";
    c->tls = bench_tls_new(c->t->sh->tls, c->t->sh->tls_name);
    if (c->tls == NULL || bench_tls_handshake(c->tls, err, sizeof(err)) < 0 || tls_flush(c))
        tls_fail(c, err);
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
    bench_tls_free(c->tls);
    gz_free(c->uvb);
    gz_free(c->iov);
    gz_free(c->tls_stage);
    gz_buf_free(&c->fr);
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
        c->iov_max = sh->chunk ? 2 * (sh->data_len / sh->chunk + 2) + 2 : 4;
        c->uvb = gz_calloc(c->iov_max, sizeof(*c->uvb));
        c->iov = sh->chunk ? gz_calloc(c->iov_max, sizeof(*c->iov)) : NULL;
        c->tls_stage = sh->tls ? gz_malloc(BENCH_TLS_STEP) : NULL;
        gz_buf_init(&c->fr, c->iov_max * 128 + 1024);
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

/* Parses http[s]://host[:port][/path]; fills addr, Host header, TLS name and path. */
static int endpoint_parse(const char *url, struct bench_shared *sh, bool *tls, char *path,
                          size_t pathsz, char *msg, size_t msgsz)
{
    char host[256], port[8];
    *tls = strncmp(url, "https://", 8) == 0;
    if (!*tls && strncmp(url, "http://", 7) != 0) {
        snprintf(msg, msgsz, "the endpoint must be http:// or https://: %s", url);
        return -EINVAL;
    }
    snprintf(port, sizeof(port), "%s", *tls ? "443" : "80");
    const char *h = url + (*tls ? 8 : 7), *slash = strchr(h, '/');
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
    snprintf(sh->tls_name, sizeof(sh->tls_name), "%s", host);
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

/* out = a "." b, cut to outsz (callers check the length first). */
static void join_dot(char *out, size_t outsz, const char *a, const char *b)
{
    size_t al = strlen(a), bl = strlen(b);
    if (al + bl + 2 > outsz) {
        out[0] = '\0';
        return;
    }
    memcpy(out, a, al);
    out[al] = '.';
    memcpy(out + al + 1, b, bl + 1);
}

/* Bucket and key paths for path or virtual-hosted addressing. */
static int paths_setup(struct bench_shared *sh, const struct bench_opts *o, char *msg,
                       size_t msgsz)
{
    char pfx[600];
    uri_encode(pfx, sizeof(pfx), o->prefix);
    if (o->addressing == BENCH_ADDR_VIRTUAL) {
        unsigned char ip[16];
        char host[600];
        if (inet_pton(AF_INET, sh->tls_name, ip) == 1 ||
            inet_pton(AF_INET6, sh->tls_name, ip) == 1) {
            snprintf(msg, msgsz, "--addressing virtual needs a host name in the endpoint, "
                                 "not an IP address (%s)", sh->tls_name);
            return -EINVAL;
        }
        if (strlen(o->bucket) + strlen(sh->host) + 2 > sizeof(sh->host)) {
            snprintf(msg, msgsz, "the bucket name is too long");
            return -EINVAL;
        }
        memcpy(host, sh->host, sizeof(host));
        join_dot(sh->host, sizeof(sh->host), o->bucket, host);
        memcpy(host, sh->tls_name, sizeof(host));
        join_dot(sh->tls_name, sizeof(sh->tls_name), o->bucket, host);
        snprintf(sh->bucket_path, sizeof(sh->bucket_path), "/");
        snprintf(sh->key_prefix, sizeof(sh->key_prefix), "/%s", pfx);
    } else {
        uri_encode(sh->bucket_path + 1, sizeof(sh->bucket_path) - 1, o->bucket);
        sh->bucket_path[0] = '/';
        snprintf(sh->key_prefix, sizeof(sh->key_prefix), "%s/%s", sh->bucket_path, pfx);
    }
    /* keep "/" in the prefix as a path separator */
    for (char *p = strstr(sh->key_prefix, "%2F"); p; p = strstr(p, "%2F")) {
        *p = '/';
        memmove(p + 1, p + 3, strlen(p + 3) + 1);
    }
    return 0;
}

/* Endpoint, addressing and the TLS context. */
static int shared_setup(struct bench_shared *sh, const struct bench_opts *o, char *path,
                        size_t pathsz, char *msg, size_t msgsz)
{
    bool tls;
    int rc = endpoint_parse(o->op == BENCH_OP_RAW ? o->raw_url : o->endpoint, sh, &tls, path,
                            pathsz, msg, msgsz);
    if (rc != 0)
        return rc;
    snprintf(sh->raw_path, sizeof(sh->raw_path), "%s", path);
    if (o->op != BENCH_OP_RAW) {
        rc = paths_setup(sh, o, msg, msgsz);
        if (rc != 0)
            return rc;
    }
    if (tls)
        rc = bench_tls_ctx_new(o->ca_bundle, o->insecure, &sh->tls, msg, msgsz);
    return rc;
}

/* The SHA-256 of every full chunk of the shared body (signed streaming uploads). */
static void chunk_sha_setup(struct bench_shared *sh, const struct bench_opts *o)
{
    if (o->payload_hash < BENCH_PAYLOAD_STREAMING)
        return;
    sh->chunk = o->chunk_size ? o->chunk_size : 64 * 1024;
    if (o->payload_hash != BENCH_PAYLOAD_STREAMING)
        return;
    size_t n = sh->data_len / sh->chunk;
    sh->chunk_sha = gz_calloc(n ? n : 1, 32);
    for (size_t i = 0; i < n; i++)
        gz_sha256(sh->data + i * sh->chunk, sh->chunk, sh->chunk_sha[i]);
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
    if (sh->tls_err[0]) {
        snprintf(msg, msgsz, "TLS handshake with %s failed: %s", sh->tls_name, sh->tls_err);
        return -EPROTO;
    }
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
    int rc = 0;
    if (o->create_bucket)
        rc = setup_phase(sh, BENCH_OP_MKBUCKET, 1, 1, tmp, msg, msgsz);
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
    uv_mutex_init(&sh->err_mu);
    rc = shared_setup(sh, o, path, sizeof(path), msg, msgsz);
    if (rc != 0)
        goto out;
    sh->data_len = (size_t)bench_size_max(&o->size);
    data = gz_calloc(1, sh->data_len ? sh->data_len : 1);   /* a tail under 8 bytes: 0 */
    uint64_t seed = 0x1234567;
    for (size_t i = 0; i + 8 <= sh->data_len; i += 8) {
        uint64_t v = bench_rng_next(&seed);
        memcpy(data + i, &v, 8);
    }
    sh->data = data;
    chunk_sha_setup(sh, o);
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
    gz_free(sh->chunk_sha);
    bench_tls_ctx_free(sh->tls);
    uv_mutex_destroy(&sh->err_mu);
    gz_free(sh);
    return rc;
}
