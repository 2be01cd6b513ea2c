/*
 * blocksum.c - block checksums of bodies: a CRC32C (Castagnoli, as gz_hash computes it, 4
 * bytes big-endian) per STORE_CRC_BLOCK bytes, the last block possibly short. A body of size
 * N has ceil(N / STORE_CRC_BLOCK) of them, concatenated into one BLOB kept with its index row
 * (files.crc for file bodies, inline_bodies.crc for inline ones: objects.crc in schema 3); a
 * NULL BLOB means the body was written before checksums existed ("unprotected"). An empty
 * body has an empty BLOB.
 *
 * The writer feeds every byte through store__blocksum_update as it streams in (no second
 * pass); readers and the scrub check whole blocks with store__blocksum_check.
 */
#include <errno.h>

#include "../../util/hash.h"
#include "local_int.h"

#define BLOCKSUM_CAP_MIN 16

size_t store__blocksum_len(int64_t size)
{
    if (size <= 0)
        return 0;
    return (size_t)((size + STORE_CRC_BLOCK - 1) / STORE_CRC_BLOCK) * 4;
}

uint32_t store__crc_block(const void *p, size_t n)
{
    struct gz_hash h;
    uint8_t out[GZ_HASH_MAX_LEN];
    gz_hash_init(&h, GZ_HASH_CRC32C);
    gz_hash_update(&h, p, n);
    gz_hash_final(&h, out);
    return (uint32_t)out[0] << 24 | (uint32_t)out[1] << 16 | (uint32_t)out[2] << 8 | out[3];
}

static void blocksum_push(struct store__blocksum *b, uint32_t crc)
{
    if (b->n + 4 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : BLOCKSUM_CAP_MIN;
        b->crc = gz_realloc(b->crc, cap);
        b->cap = cap;
    }
    b->crc[b->n++] = (uint8_t)(crc >> 24);
    b->crc[b->n++] = (uint8_t)(crc >> 16);
    b->crc[b->n++] = (uint8_t)(crc >> 8);
    b->crc[b->n++] = (uint8_t)crc;
}

static void blocksum_close_block(struct store__blocksum *b)
{
    uint8_t out[GZ_HASH_MAX_LEN];
    gz_hash_final(&b->h, out);
    blocksum_push(b,
                  (uint32_t)out[0] << 24 | (uint32_t)out[1] << 16 | (uint32_t)out[2] << 8 | out[3]);
    b->fill = 0;
}

void store__blocksum_update(struct store__blocksum *b, const void *p, size_t n)
{
    const uint8_t *q = p;
    while (n > 0) {
        if (b->fill == 0)
            gz_hash_init(&b->h, GZ_HASH_CRC32C);
        size_t take = GZ_MIN(n, (size_t)STORE_CRC_BLOCK - b->fill);
        gz_hash_update(&b->h, q, take);
        b->fill += take;
        q += take;
        n -= take;
        if (b->fill == STORE_CRC_BLOCK)
            blocksum_close_block(b);
    }
}

struct gz_slice store__blocksum_final(struct store__blocksum *b)
{
    if (b->fill > 0)
        blocksum_close_block(b);
    return gz_slice(b->crc ? (const char *)b->crc : "", b->n);
}

void store__blocksum_free(struct store__blocksum *b)
{
    gz_free(b->crc);
    memset(b, 0, sizeof(*b));
}

int64_t store__blocksum_check(struct gz_slice crcs, int64_t size, int64_t off, const void *p,
                              size_t n)
{
    const uint8_t *q = p;
    if (off < 0 || off % STORE_CRC_BLOCK != 0 || off + (int64_t)n > size ||
        crcs.len != store__blocksum_len(size))
        return -2;
    while (n > 0) {
        int64_t blk = off / STORE_CRC_BLOCK;
        size_t len = (size_t)GZ_MIN((int64_t)STORE_CRC_BLOCK, size - off);
        if (len > n)
            return -2; /* a short block that is not the body's last */
        const uint8_t *c = (const uint8_t *)crcs.ptr + blk * 4;
        uint32_t want = (uint32_t)c[0] << 24 | (uint32_t)c[1] << 16 | (uint32_t)c[2] << 8 | c[3];
        if (store__crc_block(q, len) != want)
            return blk;
        q += len;
        n -= len;
        off += (int64_t)len;
    }
    return -1;
}
