/*
 * hash.h - streaming digests and checksums (OpenSSL EVP for MD5/SHA, ISA-L for CRCs, a
 * slicing table for CRC64/NVME which this ISA-L lacks). Each context is updated as bytes
 * stream and finalised once: bodies are never hashed in a second pass.
 */
#ifndef GZ_UTIL_HASH_H
#define GZ_UTIL_HASH_H

#include "util.h"

enum gz_hash_alg {
    GZ_HASH_NONE = 0,
    GZ_HASH_MD5,
    GZ_HASH_SHA1,
    GZ_HASH_SHA256,
    GZ_HASH_CRC32,     /* IEEE, as x-amz-checksum-crc32 */
    GZ_HASH_CRC32C,    /* Castagnoli, as x-amz-checksum-crc32c */
    GZ_HASH_CRC64NVME, /* as x-amz-checksum-crc64nvme */
};

#define GZ_HASH_MAX_LEN 32

struct gz_hash {
    enum gz_hash_alg alg;
    void *evp;      /* EVP_MD_CTX * for MD5/SHA; owned */
    uint64_t crc;   /* running value for CRCs */
};

/* Algorithm from an S3 name: "CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256" (any case). */
enum gz_hash_alg gz_hash_alg_from_name(struct gz_slice name);
const char *gz_hash_alg_name(enum gz_hash_alg alg);  /* "CRC32", ... */
size_t gz_hash_len(enum gz_hash_alg alg);            /* digest length in bytes */

void gz_hash_init(struct gz_hash *h, enum gz_hash_alg alg);
void gz_hash_update(struct gz_hash *h, const void *p, size_t n);
/* Writes gz_hash_len(alg) bytes to out and releases the context. */
void gz_hash_final(struct gz_hash *h, uint8_t out[GZ_HASH_MAX_LEN]);
/* Releases the context without a result (NULL-safe, idempotent). */
void gz_hash_dispose(struct gz_hash *h);

/* One-shot helpers. */
void gz_sha256(const void *p, size_t n, uint8_t out[32]);
void gz_md5(const void *p, size_t n, uint8_t out[16]);
void gz_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t n, uint8_t out[32]);
void gz_hmac_sha1(const void *key, size_t keylen, const void *msg, size_t n, uint8_t out[20]);
/* Constant-time equality of two byte strings of the same length (false if lengths differ). */
bool gz_consttime_eq(const void *a, size_t alen, const void *b, size_t blen);

#endif
