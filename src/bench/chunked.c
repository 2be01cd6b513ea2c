/*
 * chunked.c - aws-chunked request bodies for `gzy bench` (the format src/s3/payload.c
 * decodes):
 *
 *   signed:   <hex>;chunk-signature=<sig>\r\n<data>\r\n ... 0;chunk-signature=<sig>\r\n\r\n
 *   unsigned: <hex>\r\n<data>\r\n ... 0\r\nx-amz-checksum-crc32c:<base64>\r\n\r\n
 *
 * Each chunk signature is HMAC-SHA256 (signing key) of "AWS4-HMAC-SHA256-PAYLOAD\n<date>\n
 * <scope>\n<previous signature>\n<sha256 of nothing>\n<sha256 of the chunk>", the first
 * chaining from the request's seed signature. The data is never copied: the framing text is
 * written to one buffer and the body goes out as slices between its pieces.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../util/hash.h"
#include "bench_int.h"

#define SIG_EXT ";chunk-signature="
#define TRAILER_NAME "x-amz-checksum-crc32c:"

static unsigned hex_len(uint64_t v)
{
    unsigned n = 1;
    while (v >>= 4)
        n++;
    return n;
}

static uint64_t chunk_overhead(uint64_t size, bool signed_chunks)
{
    return hex_len(size) + (signed_chunks ? strlen(SIG_EXT) + 64 : 0) + 4;
}

uint64_t bench_chunked_length(uint64_t len, uint64_t chunk, bool signed_chunks)
{
    uint64_t full = len / chunk, tail = len % chunk;
    uint64_t n = len + full * chunk_overhead(chunk, signed_chunks);
    if (tail)
        n += chunk_overhead(tail, signed_chunks);
    if (signed_chunks)
        return n + 1 + strlen(SIG_EXT) + 64 + 4;
    return n + 3 + strlen(TRAILER_NAME) + 8 + 4;   /* a CRC32C is 8 base64 characters */
}

static void chunk_sign(struct bench_chunk_signer *s, const uint8_t sha[32])
{
    char text[400], hex[65];
    uint8_t mac[32];
    gz_hex_encode(hex, sha, 32);
    int n = snprintf(text, sizeof(text), "AWS4-HMAC-SHA256-PAYLOAD\n%s\n%s\n%s\n%s\n%s",
                     s->amz_date, s->scope, s->prev_sig, BENCH_EMPTY_SHA256, hex);
    gz_hmac_sha256(s->skey, 32, text, (size_t)n, mac);
    gz_hex_encode(s->prev_sig, mac, 32);
}

/* Appends "[\r\n]<hex>[;chunk-signature=<sig>]\r\n" and records it as iov[*k]. */
static int frame_text(const struct bench_chunk_frame *f, struct gz_buf *fr, uint64_t size,
                      const uint8_t *sha, bool first, struct gz_slice *iov, size_t *k)
{
    char text[160];
    int n = snprintf(text, sizeof(text), "%s%llx", first ? "" : "\r\n",
                     (unsigned long long)size);
    if (f->signer) {
        uint8_t empty[32];
        if (sha == NULL) {
            gz_sha256("", 0, empty);
            sha = empty;
        }
        chunk_sign(f->signer, sha);
        n += snprintf(text + n, sizeof(text) - (size_t)n, SIG_EXT "%s", f->signer->prev_sig);
    }
    n += snprintf(text + n, sizeof(text) - (size_t)n, "\r\n");
    if (size == 0)   /* the final chunk: the trailer (unsigned) and the closing empty line */
        n += snprintf(text + n, sizeof(text) - (size_t)n, "%s%s%s\r\n",
                      f->signer ? "" : TRAILER_NAME, f->signer ? "" : f->crc_b64,
                      f->signer ? "" : "\r\n");
    int rc = gz_buf_append(fr, text, (size_t)n);
    if (rc != 0)
        return rc;
    iov[(*k)++] = gz_slice(NULL, (size_t)n);   /* pointer fixed once fr stops growing */
    return 0;
}

int bench_chunked_frame(const struct bench_chunk_frame *f, struct gz_buf *fr,
                        struct gz_slice head, struct gz_slice *iov, size_t iovmax)
{
    uint64_t nchunks = (f->len + f->chunk - 1) / f->chunk;
    size_t k = 0;
    int rc = 0;
    if (2 * nchunks + 2 > iovmax)
        return -E2BIG;
    gz_buf_reset(fr);
    iov[k++] = head;
    for (uint64_t i = 0; i < nchunks; i++) {
        uint64_t off = i * f->chunk;
        uint64_t size = f->len - off < f->chunk ? f->len - off : f->chunk;
        const uint8_t *sha = size == f->chunk ? f->full_sha[i] : f->tail_sha;
        rc = frame_text(f, fr, size, sha, i == 0, iov, &k);
        if (rc != 0)
            return rc;
        iov[k++] = gz_slice(f->body + off, (size_t)size);
    }
    rc = frame_text(f, fr, 0, NULL, nchunks == 0, iov, &k);
    if (rc != 0)
        return rc;
    size_t off = 0;
    for (size_t j = 1; j < k; j += 2) {   /* framing pieces sit at odd indexes */
        iov[j].ptr = fr->ptr + off;
        off += iov[j].len;
    }
    return (int)k;
}
