/*
 * tls.c - TLS 1.2/1.3 for the HTTP core with OpenSSL over memory BIOs, and the two write
 * primitives every writer in src/http goes through (plain or TLS).
 *
 * The socket stays a plain libuv stream. Reading: ciphertext read by libuv goes into the
 * connection's rbio; the run step (conn.c) decrypts into the ordinary read buffer as long as
 * it has room, so the parser, limits and back-pressure are the same as over plain TCP and the
 * ciphertext held is bounded by one read. Writing: plaintext is encrypted into the wbio and
 * the records are handed to libuv in one heap block per write, whose completion reports to
 * the caller's uv_write_t as if it had been written directly. sendfile(2) cannot encrypt, so
 * file bodies are read with pread(2) one step at a time (response.c asks http__tls_file_step).
 *
 * The certificate lives in an SSL_CTX behind a mutex; a reload builds a new one and swaps it
 * in; connections hold their own reference through their SSL.
 */
#include <errno.h>
#include <openssl/buffer.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "http_int.h"

#define TLS_CIPHER_READ (17 * 1024)   /* one TLS record and its header */
#define TLS_FILE_STEP (256 * 1024)    /* plaintext read per file step */
#define TLS_WBIO_KEEP (64 * 1024)     /* a larger wbio buffer is freed after its write */

struct http_tls {
    pthread_mutex_t mu;
    SSL_CTX *ctx;
    char *cert_file, *key_file;
};

struct http__tls_conn {
    SSL *ssl;
    BIO *rbio, *wbio;   /* owned by ssl */
    char cbuf[TLS_CIPHER_READ];
    char *fbuf;         /* file step buffer, TLS_FILE_STEP, allocated on first use */
    bool eof;           /* close_notify received */
};

/* A write of encrypted bytes; orig is the caller's request (or NULL for an internal one). */
struct tls_write {
    uv_write_t w;
    struct http_conn *c;
    uv_write_t *orig;
    uv_write_cb cb;
    char data[];
};

static int tls_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                           const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char h11[] = "\x08http/1.1";
    unsigned char *sel = NULL;
    if (SSL_select_next_proto(&sel, outlen, h11, sizeof(h11) - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK; /* no ALPN agreement: go on as HTTP/1.1 */
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *tls_ctx_load(const char *cert_file, const char *key_file, char *err,
                             size_t errsz)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        gz_ssl_error_text("cannot create a TLS context", err, errsz);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS); /* idle connections keep no buffers */
    SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_select, NULL);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        gz_ssl_error_text("cannot load the certificate (--tls-cert)", err, errsz);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        gz_ssl_error_text("cannot load the private key (--tls-key)", err, errsz);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        gz_ssl_error_text("the private key does not match the certificate", err, errsz);
        goto fail;
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

int http_tls_create(const char *cert_file, const char *key_file, struct http_tls **out,
                    char *err, size_t errsz)
{
    SSL_CTX *ctx = tls_ctx_load(cert_file, key_file, err, errsz);
    if (ctx == NULL)
        return -EINVAL;
    struct http_tls *t = gz_calloc(1, sizeof(*t));
    pthread_mutex_init(&t->mu, NULL);
    t->ctx = ctx;
    t->cert_file = gz_strdup(cert_file);
    t->key_file = gz_strdup(key_file);
    *out = t;
    return 0;
}

int http_tls_reload(struct http_tls *t, char *err, size_t errsz)
{
    SSL_CTX *ctx = tls_ctx_load(t->cert_file, t->key_file, err, errsz), *old;
    if (ctx == NULL)
        return -EINVAL;
    pthread_mutex_lock(&t->mu);
    old = t->ctx;
    t->ctx = ctx;
    pthread_mutex_unlock(&t->mu);
    SSL_CTX_free(old); /* connections keep theirs alive through their SSL */
    return 0;
}

void http_tls_destroy(struct http_tls *t)
{
    if (t == NULL)
        return;
    SSL_CTX_free(t->ctx);
    pthread_mutex_destroy(&t->mu);
    gz_free(t->cert_file);
    gz_free(t->key_file);
    gz_free(t);
}

/* ---- per connection ---- */

int http__tls_conn_new(struct http_conn *c, struct http_tls *t)
{
    struct http__tls_conn *tc = gz_calloc(1, sizeof(*tc));
    pthread_mutex_lock(&t->mu);
    tc->ssl = SSL_new(t->ctx);
    pthread_mutex_unlock(&t->mu);
    tc->rbio = BIO_new(BIO_s_mem());
    tc->wbio = BIO_new(BIO_s_mem());
    if (tc->ssl == NULL || tc->rbio == NULL || tc->wbio == NULL) {
        BIO_free(tc->rbio);
        BIO_free(tc->wbio);
        SSL_free(tc->ssl);
        gz_free(tc);
        ERR_clear_error();
        return -ENOMEM;
    }
    BIO_set_mem_eof_return(tc->rbio, -1); /* empty means "wait", not EOF */
    SSL_set_bio(tc->ssl, tc->rbio, tc->wbio);
    SSL_set_accept_state(tc->ssl);
    c->tls = tc;
    return 0;
}

void http__tls_conn_free(struct http_conn *c)
{
    if (c->tls == NULL)
        return;
    SSL_free(c->tls->ssl);
    gz_free(c->tls->fbuf);
    gz_free(c->tls);
    c->tls = NULL;
}

void http__tls_read_buf(struct http_conn *c, uv_buf_t *buf)
{
    buf->base = c->tls->cbuf;
    buf->len = sizeof(c->tls->cbuf);
}

void http__tls_on_cipher(struct http_conn *c, const char *p, size_t n)
{
    if (c->state == CS_LINGER || c->tls->eof)
        return; /* nothing more will be parsed */
    if (BIO_write(c->tls->rbio, p, (int)n) != (int)n) {
        c->broken = true;
        http__conn_close(c, -ENOMEM);
    }
}

bool http__tls_pending(const struct http_conn *c)
{
    return c->tls != NULL && !c->tls->eof &&
           (BIO_ctrl_pending(c->tls->rbio) > 0 || SSL_pending(c->tls->ssl) > 0);
}

/* Hands whatever the SSL wrote to wbio (records, handshake, alerts) to libuv. With orig
 * and cb, their completion is reported to orig; otherwise it is internal (counted in
 * writes_pending). Returns 0 or a libuv error (the connection is then closed). */
static void tls_on_write(uv_write_t *w, int status);

/* Empties wbio; a buffer grown past TLS_WBIO_KEEP by a large write is given back. */
static void tls_wbio_reset(struct http__tls_conn *tc)
{
    BUF_MEM *m = NULL;
    BIO_get_mem_ptr(tc->wbio, &m);
    if (m != NULL && m->max > TLS_WBIO_KEEP) {
        BIO *fresh = BIO_new(BIO_s_mem());
        if (fresh != NULL) {
            SSL_set0_wbio(tc->ssl, fresh); /* frees the old one */
            tc->wbio = fresh;
            return;
        }
    }
    (void)BIO_reset(tc->wbio);
}

static int tls_flush(struct http_conn *c, uv_write_t *orig, uv_write_cb cb)
{
    char *p;
    long n = BIO_get_mem_data(c->tls->wbio, &p);
    struct tls_write *tw;
    uv_buf_t b;
    int rc;
    if (n <= 0 && cb == NULL)
        return 0;
    tw = gz_malloc(sizeof(*tw) + (size_t)(n > 0 ? n : 0));
    tw->c = c;
    tw->orig = orig;
    tw->cb = cb;
    tw->w.data = tw;
    if (n > 0)
        memcpy(tw->data, p, (size_t)n);
    tls_wbio_reset(c->tls);
    b = uv_buf_init(tw->data, (unsigned)(n > 0 ? n : 0));
    rc = uv_write(&tw->w, (uv_stream_t *)&c->tcp, &b, 1, tls_on_write);
    if (rc < 0) {
        gz_free(tw);
        c->broken = true;
        http__conn_close(c, rc);
        return rc;
    }
    c->tx_bytes += b.len; /* queued: progress for the minimum rate (conn.c) */
    if (cb == NULL)
        c->writes_pending++;
    return 0;
}

static void tls_on_write(uv_write_t *w, int status)
{
    struct tls_write *tw = w->data;
    struct http_conn *c = tw->c;
    uv_write_t *orig = tw->orig;
    uv_write_cb cb = tw->cb;
    gz_free(tw);
    if (cb != NULL) {
        cb(orig, status);
        return;
    }
    http__conn_enter(c);
    c->writes_pending--;
    c->t_write = uv_now(&c->lp->loop);
    if (status < 0 && !c->closing) {
        c->broken = true;
        http__conn_close(c, status);
    }
    http__conn_leave(c);
}

ssize_t http__tls_decrypt(struct http_conn *c, char *dst, size_t cap)
{
    struct http__tls_conn *tc = c->tls;
    size_t got = 0;
    while (got < cap && !tc->eof) {
        int n = SSL_read(tc->ssl, dst + got, (int)GZ_MIN(cap - got, (size_t)INT32_MAX));
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        int e = SSL_get_error(tc->ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            break;
        if (e == SSL_ERROR_ZERO_RETURN) {
            tc->eof = true;
            break;
        }
        char why[256];
        gz_ssl_error_text("TLS", why, sizeof(why));
        log_info("http: %s: %s", c->peer_str, why);
        tls_flush(c, NULL, NULL); /* the alert, best effort */
        return -EPROTO;
    }
    if (tls_flush(c, NULL, NULL) < 0) /* handshake messages, session tickets */
        return -EPIPE;
    if (got == 0 && tc->eof)
        return UV_EOF;
    return (ssize_t)got;
}

static int tls_encrypt(struct http_conn *c, const uv_buf_t *bufs, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        size_t off = 0;
        while (off < bufs[i].len) {
            int k = SSL_write(c->tls->ssl, bufs[i].base + off,
                              (int)GZ_MIN(bufs[i].len - off, (size_t)(1 << 30)));
            if (k <= 0) {
                ERR_clear_error();
                return -EPROTO;
            }
            off += (size_t)k;
        }
    }
    return 0;
}

/* ---- the write primitives ---- */

int http__conn_write(struct http_conn *c, uv_write_t *w, uv_buf_t *bufs, unsigned n,
                     uv_write_cb cb)
{
    if (c->tls == NULL) {
        int rc = uv_write(w, (uv_stream_t *)&c->tcp, bufs, n, cb);
        for (unsigned i = 0; rc == 0 && i < n; i++)
            c->tx_bytes += bufs[i].len;
        return rc;
    }
    if (tls_encrypt(c, bufs, n) < 0)
        return UV_EPROTO;
    return tls_flush(c, w, cb);
}

int http__conn_try_write(struct http_conn *c, uv_buf_t *bufs, unsigned n)
{
    size_t total = 0;
    if (c->tls == NULL) {
        int rc = uv_try_write((uv_stream_t *)&c->tcp, bufs, n);
        if (rc > 0)
            c->tx_bytes += (uint64_t)rc;
        return rc;
    }
    for (unsigned i = 0; i < n; i++)
        total += bufs[i].len;
    if (tls_encrypt(c, bufs, n) < 0)
        return UV_EPROTO;
    int rc = tls_flush(c, NULL, NULL); /* all accepted; libuv writes what it can now */
    return rc < 0 ? rc : (int)total;
}

void http__tls_shutdown(struct http_conn *c)
{
    if (c->tls == NULL || !SSL_is_init_finished(c->tls->ssl))
        return;
    if (SSL_shutdown(c->tls->ssl) < 0)
        ERR_clear_error();
    tls_flush(c, NULL, NULL);
}

int64_t http__tls_file_step(struct http_conn *c, int fd, int64_t off, int64_t left)
{
    struct http__tls_conn *tc = c->tls;
    size_t want = (size_t)GZ_MIN(left, (int64_t)TLS_FILE_STEP);
    ssize_t n;
    if (tc->fbuf == NULL)
        tc->fbuf = gz_malloc(TLS_FILE_STEP);
    do
        n = pread(fd, tc->fbuf, want, (off_t)off);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return n == 0 ? -EIO : -errno; /* a file shorter than promised, or an error */
    uv_buf_t b = uv_buf_init(tc->fbuf, (unsigned)n);
    if (tls_encrypt(c, &b, 1) < 0)
        return -EPROTO;
    int rc = tls_flush(c, NULL, NULL);
    return rc < 0 ? rc : n;
}

bool http_req_is_tls(const struct http_req *req)
{
    return req->conn->tls != NULL;
}
