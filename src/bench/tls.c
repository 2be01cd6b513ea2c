/*
 * tls.c - the client side of TLS for `gzy bench`: OpenSSL over memory BIOs, so the libuv
 * stream stays a plain TCP stream carrying ciphertext (the same model as src/http/tls.c).
 * Verification (chain and host name or IP) is on unless --insecure; no session reuse.
 *
 * Outgoing records go through a small BIO of our own that appends them to a heap block the
 * caller then hands to libuv as is (bench_tls_out_steal): one copy fewer than a memory BIO
 * read out with BIO_read, and no zeroing or moving as the memory BIO grows and drains.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "bench_int.h"

#define OUT_FIRST (66 * 1024)   /* 64 KiB of plaintext and its record overhead */
#define OUT_SPARES 6            /* written blocks kept for reuse (256 KiB may be in flight) */

struct bench_tls_ctx {
    SSL_CTX *ctx;
    BIO_METHOD *out_method;
    bool insecure;
};

struct bench_tls {
    SSL *ssl;
    BIO *rbio, *wbio;   /* owned by ssl */
    char *out;          /* ciphertext not yet stolen */
    size_t out_len, out_cap;
    char *spare[OUT_SPARES];   /* blocks of OUT_FIRST bytes given back after their write */
    unsigned nspare;
};

static int out_write(BIO *b, const char *p, int n)
{
    struct bench_tls *t = BIO_get_data(b);
    if (n <= 0)
        return 0;
    if (t->out_len + (size_t)n > t->out_cap) {
        size_t cap = t->out_cap ? t->out_cap : OUT_FIRST;
        while (cap < t->out_len + (size_t)n)
            cap *= 2;
        if (t->out == NULL && cap == OUT_FIRST && t->nspare > 0)
            t->out = t->spare[--t->nspare];
        else
            t->out = gz_realloc(t->out, cap);
        t->out_cap = cap;
    }
    memcpy(t->out + t->out_len, p, (size_t)n);
    t->out_len += (size_t)n;
    return n;
}

static long out_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int out_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

int bench_tls_ctx_new(const char *ca_bundle, bool insecure, struct bench_tls_ctx **out,
                      char *msg, size_t msgsz)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        gz_ssl_error_text("cannot create a TLS context", msg, msgsz);
        return -EINVAL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)"\x08http/1.1", 9);
    SSL_CTX_set_verify(ctx, insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    if (!insecure) {
        int ok = ca_bundle && *ca_bundle ? SSL_CTX_load_verify_locations(ctx, ca_bundle, NULL)
                                         : SSL_CTX_set_default_verify_paths(ctx);
        if (ok != 1) {
            char what[300];
            snprintf(what, sizeof(what), "cannot load the CA bundle %s",
                     ca_bundle && *ca_bundle ? ca_bundle : "(system default)");
            gz_ssl_error_text(what, msg, msgsz);
            SSL_CTX_free(ctx);
            return -EINVAL;
        }
    }
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "gzy bench out");
    if (m == NULL || BIO_meth_set_write(m, out_write) != 1 ||
        BIO_meth_set_ctrl(m, out_ctrl) != 1 || BIO_meth_set_create(m, out_create) != 1) {
        gz_ssl_error_text("cannot create a BIO method", msg, msgsz);
        BIO_meth_free(m);
        SSL_CTX_free(ctx);
        return -ENOMEM;
    }
    struct bench_tls_ctx *c = gz_calloc(1, sizeof(*c));
    c->ctx = ctx;
    c->out_method = m;
    c->insecure = insecure;
    *out = c;
    return 0;
}

void bench_tls_ctx_free(struct bench_tls_ctx *ctx)
{
    if (ctx == NULL)
        return;
    SSL_CTX_free(ctx->ctx);
    BIO_meth_free(ctx->out_method);
    gz_free(ctx);
}

/* SNI for names (not for IP literals), and the name or address the certificate must carry. */
static int tls_set_name(SSL *ssl, const char *name, bool verify)
{
    unsigned char ip[16];
    bool is_ip = inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1;
    if (!is_ip && SSL_set_tlsext_host_name(ssl, name) != 1)
        return -EINVAL;
    if (!verify)
        return 0;
    X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
    if (is_ip)
        return X509_VERIFY_PARAM_set1_ip_asc(vp, name) == 1 ? 0 : -EINVAL;
    X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    return X509_VERIFY_PARAM_set1_host(vp, name, 0) == 1 ? 0 : -EINVAL;
}

struct bench_tls *bench_tls_new(struct bench_tls_ctx *ctx, const char *name)
{
    struct bench_tls *t = gz_calloc(1, sizeof(*t));
    t->ssl = SSL_new(ctx->ctx);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(ctx->out_method);
    if (t->ssl == NULL || t->rbio == NULL || t->wbio == NULL) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        SSL_free(t->ssl);
        gz_free(t);
        ERR_clear_error();
        return NULL;
    }
    BIO_set_mem_eof_return(t->rbio, -1);   /* empty means "wait", not EOF */
    BIO_set_data(t->wbio, t);
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    SSL_set_connect_state(t->ssl);
    if (tls_set_name(t->ssl, name, !ctx->insecure) != 0) {
        ERR_clear_error();
        bench_tls_free(t);
        return NULL;
    }
    return t;
}

void bench_tls_free(struct bench_tls *t)
{
    if (t == NULL)
        return;
    SSL_free(t->ssl);
    gz_free(t->out);
    for (unsigned i = 0; i < t->nspare; i++)
        gz_free(t->spare[i]);
    gz_free(t);
}

int bench_tls_feed(struct bench_tls *t, const char *p, size_t n)
{
    return BIO_write(t->rbio, p, (int)n) == (int)n ? 0 : -ENOMEM;
}

int bench_tls_handshake(struct bench_tls *t, char *err, size_t errsz)
{
    int rc = SSL_do_handshake(t->ssl);
    if (rc == 1)
        return 1;
    int e = SSL_get_error(t->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    long vr = SSL_get_verify_result(t->ssl);
    if (vr != X509_V_OK) {
        ERR_clear_error();
        snprintf(err, errsz, "certificate verify failed: %s",
                 X509_verify_cert_error_string(vr));
        return -EPROTO;
    }
    gz_ssl_error_text(e == SSL_ERROR_SYSCALL ? "connection closed during the handshake"
                                        : "handshake failed",
                 err, errsz);
    return -EPROTO;
}

ssize_t bench_tls_read(struct bench_tls *t, char *buf, size_t n)
{
    int rc = SSL_read(t->ssl, buf, (int)n);
    if (rc > 0)
        return rc;
    int e = SSL_get_error(t->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    ERR_clear_error();
    return e == SSL_ERROR_ZERO_RETURN ? -EPIPE : -EPROTO;
}

int bench_tls_write(struct bench_tls *t, const void *p, size_t n)
{
    /* a memory BIO never fills up: SSL_write takes everything or fails */
    while (n > 0) {
        int step = n > (1u << 30) ? 1 << 30 : (int)n;
        int rc = SSL_write(t->ssl, p, step);
        if (rc <= 0) {
            ERR_clear_error();
            return -EPROTO;
        }
        p = (const char *)p + rc;
        n -= (size_t)rc;
    }
    return 0;
}

size_t bench_tls_out_pending(const struct bench_tls *t)
{
    return t->out_len;
}

char *bench_tls_out_steal(struct bench_tls *t, size_t *len)
{
    char *p = t->out;
    *len = t->out_len;
    t->out = NULL;
    t->out_len = t->out_cap = 0;
    return p;
}

void bench_tls_out_recycle(struct bench_tls *t, char *p, size_t len)
{
    /* a block longer than OUT_FIRST was grown past it: not a standard block */
    if (t != NULL && len <= OUT_FIRST && t->nspare < OUT_SPARES)
        t->spare[t->nspare++] = p;
    else
        gz_free(p);
}

const char *bench_tls_version(const struct bench_tls *t)
{
    return SSL_get_version(t->ssl);
}
