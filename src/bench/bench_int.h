/*
 * bench_int.h - internals of `gzy bench` shared by client.c, tls.c and chunked.c.
 *
 * TLS: a client SSL per connection over memory BIOs; the libuv stream carries ciphertext
 * only. A bench_tls belongs to one connection (one loop thread); the context is shared by all
 * threads of a run (OpenSSL's SSL_CTX is safe to share once configured).
 *
 * aws-chunked: frames a body slice into the pieces of one vectored write.
 */
#ifndef GZ_BENCH_INT_H
#define GZ_BENCH_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../util/util.h"

/* ---- TLS ---- */

struct bench_tls_ctx;   /* opaque SSL_CTX wrapper */
struct bench_tls;       /* opaque per-connection state */

/* Client context: TLS 1.2+, verification against ca_bundle (or the system store when NULL)
 * unless insecure. Returns 0 or -EINVAL with msg filled. */
int bench_tls_ctx_new(const char *ca_bundle, bool insecure, struct bench_tls_ctx **out,
                      char *msg, size_t msgsz);
void bench_tls_ctx_free(struct bench_tls_ctx *ctx);   /* NULL-safe */

/* A connection's SSL in connect state; name is the server name for SNI and hostname (or IP
 * address) verification. NULL when out of memory. */
struct bench_tls *bench_tls_new(struct bench_tls_ctx *ctx, const char *name);
void bench_tls_free(struct bench_tls *t);   /* NULL-safe */

/* Ciphertext read from the socket. Returns 0 or -ENOMEM. */
int bench_tls_feed(struct bench_tls *t, const char *p, size_t n);
/* Drives the handshake: 1 done, 0 needs more input, negative on failure (err says why,
 * naming the certificate problem when verification failed). */
int bench_tls_handshake(struct bench_tls *t, char *err, size_t errsz);
/* Decrypted bytes into buf: > 0 bytes, 0 when more input is needed, -EPIPE at close_notify,
 * -EPROTO on a TLS error. */
ssize_t bench_tls_read(struct bench_tls *t, char *buf, size_t n);
/* Encrypts all of p[0..n) into the outgoing buffer. Returns 0 or -EPROTO. */
int bench_tls_write(struct bench_tls *t, const void *p, size_t n);
/* Ciphertext waiting to be written, and taking it: the caller owns the block (gz_free). */
size_t bench_tls_out_pending(const struct bench_tls *t);
char *bench_tls_out_steal(struct bench_tls *t, size_t *len);
/* Gives a stolen block back once written (kept for reuse, or freed; t may be NULL). */
void bench_tls_out_recycle(struct bench_tls *t, char *p, size_t len);
/* "TLSv1.3" once the handshake is done. */
const char *bench_tls_version(const struct bench_tls *t);

/* ---- aws-chunked ---- */

#define BENCH_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* Signing state of a STREAMING-AWS4-HMAC-SHA256-PAYLOAD body (NULL for an unsigned one). */
struct bench_chunk_signer {
    const uint8_t *skey;          /* 32-byte signing key */
    const char *amz_date, *scope;
    char prev_sig[65];            /* starts as the seed signature */
};

/* Encoded length of a body of len bytes in chunks of chunk bytes: signed chunks, or unsigned
 * chunks followed by an "x-amz-checksum-crc32c" trailer. */
uint64_t bench_chunked_length(uint64_t len, uint64_t chunk, bool signed_chunks);

/* Frames body[0..len) into iov (the head first, then framing and data pieces alternating):
 * framing text goes into fr (reset here), chunk SHA-256s come from full_sha (one per full
 * chunk at offset i * chunk from body) and tail_sha (the last partial chunk, if any); crc_b64
 * is the trailer's value (unsigned mode). Returns the number of iov entries used, or -E2BIG
 * when iov or fr is too small. */
struct bench_chunk_frame {
    const char *body;
    uint64_t len, chunk;
    const uint8_t (*full_sha)[32];
    const uint8_t *tail_sha;
    struct bench_chunk_signer *signer;   /* NULL: unsigned with the trailer */
    const char *crc_b64;
};
int bench_chunked_frame(const struct bench_chunk_frame *f, struct gz_buf *fr,
                        struct gz_slice head, struct gz_slice *iov, size_t iovmax);

#endif
