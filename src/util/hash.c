/*
 * hash.c - streaming digests and checksums behind one interface (hash.h).
 *
 * MD5/SHA-1/SHA-256 and HMAC go through OpenSSL. CRC32 and CRC32C use ISA-L's vectorised
 * kernels; CRC64/NVME (which this ISA-L release lacks) uses a slicing-by-8 table built once per
 * process under pthread_once. The table is written exactly once and read-only afterwards, so it
 * is not mutable shared state.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <isa-l/crc.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "hash.h"

/* ---- names ---- */

static const struct {
    enum gz_hash_alg alg;
    const char *name;
    size_t len;
} hash_algs[] = {
    {GZ_HASH_MD5, "MD5", 16},    {GZ_HASH_SHA1, "SHA1", 20},    {GZ_HASH_SHA256, "SHA256", 32},
    {GZ_HASH_CRC32, "CRC32", 4}, {GZ_HASH_CRC32C, "CRC32C", 4}, {GZ_HASH_CRC64NVME, "CRC64NVME", 8},
};

enum gz_hash_alg gz_hash_alg_from_name(struct gz_slice name)
{
    /* MD5 is not an S3 checksum algorithm; only the five S3 names are accepted. */
    for (size_t i = 0; i < GZ_ARRAY_LEN(hash_algs); i++) {
        if (hash_algs[i].alg != GZ_HASH_MD5 && gz_slice_case_eq_cstr(name, hash_algs[i].name))
            return hash_algs[i].alg;
    }
    return GZ_HASH_NONE;
}

const char *gz_hash_alg_name(enum gz_hash_alg alg)
{
    for (size_t i = 0; i < GZ_ARRAY_LEN(hash_algs); i++) {
        if (hash_algs[i].alg == alg)
            return hash_algs[i].name;
    }
    return "NONE";
}

size_t gz_hash_len(enum gz_hash_alg alg)
{
    for (size_t i = 0; i < GZ_ARRAY_LEN(hash_algs); i++) {
        if (hash_algs[i].alg == alg)
            return hash_algs[i].len;
    }
    return 0;
}

/* ---- CRC64/NVME: reflected polynomial 0xAD93D23594C93659, init and xorout all ones ---- */

#define CRC64NVME_POLY_REFLECTED 0x9A6C9329AC4BC9B5ULL

static uint64_t crc64nvme_table[8][256];
static pthread_once_t crc64nvme_once = PTHREAD_ONCE_INIT;

static void crc64nvme_table_init(void)
{
    for (unsigned i = 0; i < 256; i++) {
        uint64_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ CRC64NVME_POLY_REFLECTED : c >> 1;
        crc64nvme_table[0][i] = c;
    }
    for (unsigned i = 0; i < 256; i++) {
        uint64_t c = crc64nvme_table[0][i];
        for (int t = 1; t < 8; t++) {
            c = crc64nvme_table[0][c & 0xff] ^ (c >> 8);
            crc64nvme_table[t][i] = c;
        }
    }
}

/* Updates the raw register (already inverted by the caller's convention). */
static uint64_t crc64nvme_update(uint64_t crc, const uint8_t *p, size_t n)
{
    const uint64_t(*t)[256] = (const uint64_t(*)[256])crc64nvme_table;
    while (n >= 8) {
        uint64_t w = (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
                     (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
                     (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
        crc ^= w;
        crc = t[7][crc & 0xff] ^ t[6][(crc >> 8) & 0xff] ^ t[5][(crc >> 16) & 0xff] ^
              t[4][(crc >> 24) & 0xff] ^ t[3][(crc >> 32) & 0xff] ^ t[2][(crc >> 40) & 0xff] ^
              t[1][(crc >> 48) & 0xff] ^ t[0][crc >> 56];
        p += 8;
        n -= 8;
    }
    while (n--)
        crc = t[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

/* ---- streaming contexts ---- */

/* OpenSSL 3 resolves a legacy EVP_md5()/EVP_sha256() handle through its provider store (a
 * name lookup under a read lock) on every EVP_DigestInit_ex, and the one-shot HMAC() fetches a
 * MAC implementation too: on a 4 KiB presigned GET that was 17% of the CPU. So each digest is
 * fetched once per process, under pthread_once, and only read afterwards (like the CRC64
 * table above). */
static EVP_MD *hash_md_md5, *hash_md_sha1, *hash_md_sha256;
static pthread_once_t hash_md_once = PTHREAD_ONCE_INIT;

static void hash_md_fetch(void)
{
    hash_md_md5 = EVP_MD_fetch(NULL, "MD5", NULL);
    hash_md_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
    hash_md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *hash_evp_md(enum gz_hash_alg alg)
{
    const EVP_MD *md = NULL;
    pthread_once(&hash_md_once, hash_md_fetch);
    switch (alg) {
    case GZ_HASH_MD5:
        md = hash_md_md5 ? hash_md_md5 : EVP_md5();
        break;
    case GZ_HASH_SHA1:
        md = hash_md_sha1 ? hash_md_sha1 : EVP_sha1();
        break;
    case GZ_HASH_SHA256:
        md = hash_md_sha256 ? hash_md_sha256 : EVP_sha256();
        break;
    default:
        break;
    }
    return md;
}

static void hash_fatal(const char *what)
{
    fprintf(stderr, "gzy: %s failed\n", what);
    abort();
}

void gz_hash_init(struct gz_hash *h, enum gz_hash_alg alg)
{
    h->alg = alg;
    h->evp = NULL;
    h->crc = 0;
    const EVP_MD *md = hash_evp_md(alg);
    if (md != NULL) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        if (ctx == NULL || EVP_DigestInit_ex(ctx, md, NULL) != 1)
            hash_fatal("EVP_DigestInit_ex"); /* small fixed allocation: abort on OOM */
        h->evp = ctx;
    } else if (alg == GZ_HASH_CRC32C || alg == GZ_HASH_CRC64NVME) {
        /* These keep the raw register; init is all ones, final xor all ones. CRC32 uses
         * ISA-L's zlib-compatible convention (pre/post inversion inside the call). */
        h->crc = alg == GZ_HASH_CRC32C ? 0xffffffffULL : ~0ULL;
        if (alg == GZ_HASH_CRC64NVME)
            pthread_once(&crc64nvme_once, crc64nvme_table_init);
    }
}

void gz_hash_update(struct gz_hash *h, const void *p, size_t n)
{
    const uint8_t *b = p;
    if (n == 0)
        return;
    switch (h->alg) {
    case GZ_HASH_MD5:
    case GZ_HASH_SHA1:
    case GZ_HASH_SHA256:
        /* A finalised context (evp NULL) ignores further bytes rather than crash. */
        if (h->evp != NULL && EVP_DigestUpdate(h->evp, p, n) != 1)
            hash_fatal("EVP_DigestUpdate");
        break;
    case GZ_HASH_CRC32:
        h->crc = crc32_gzip_refl((uint32_t)h->crc, b, n);
        break;
    case GZ_HASH_CRC32C:
        /* crc32_iscsi takes an int length. */
        while (n > 0) {
            int piece = n > (1u << 30) ? (1 << 30) : (int)n;
            h->crc = crc32_iscsi((unsigned char *)b, piece, (unsigned int)h->crc);
            b += piece;
            n -= (size_t)piece;
        }
        break;
    case GZ_HASH_CRC64NVME:
        h->crc = crc64nvme_update(h->crc, b, n);
        break;
    case GZ_HASH_NONE:
        break;
    }
}

static void put_be(uint8_t *out, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

void gz_hash_final(struct gz_hash *h, uint8_t out[GZ_HASH_MAX_LEN])
{
    unsigned int len = 0;
    switch (h->alg) {
    case GZ_HASH_MD5:
    case GZ_HASH_SHA1:
    case GZ_HASH_SHA256:
        if (h->evp == NULL)
            memset(out, 0, gz_hash_len(h->alg)); /* already finalised */
        else if (EVP_DigestFinal_ex(h->evp, out, &len) != 1)
            hash_fatal("EVP_DigestFinal_ex");
        break;
    case GZ_HASH_CRC32:
        put_be(out, (uint32_t)h->crc, 4);
        break;
    case GZ_HASH_CRC32C:
        put_be(out, (uint32_t)h->crc ^ 0xffffffffu, 4);
        break;
    case GZ_HASH_CRC64NVME:
        put_be(out, ~h->crc, 8);
        break;
    case GZ_HASH_NONE:
        break;
    }
    gz_hash_dispose(h);
}

void gz_hash_dispose(struct gz_hash *h)
{
    if (h == NULL)
        return;
    if (h->evp != NULL) {
        EVP_MD_CTX_free(h->evp);
        h->evp = NULL;
    }
}

/* ---- one-shot helpers ---- */

void gz_sha256(const void *p, size_t n, uint8_t out[32])
{
    if (EVP_Digest(p, n, out, NULL, hash_evp_md(GZ_HASH_SHA256), NULL) != 1)
        hash_fatal("EVP_Digest");
}

void gz_md5(const void *p, size_t n, uint8_t out[16])
{
    if (EVP_Digest(p, n, out, NULL, hash_evp_md(GZ_HASH_MD5), NULL) != 1)
        hash_fatal("EVP_Digest");
}

/* HMAC (RFC 2104) over a 64-byte-block digest: H((K ^ opad) || H((K ^ ipad) || msg)). Written
 * out on one reused EVP_MD_CTX with the pre-fetched digest because OpenSSL 3's HMAC() fetches
 * the MAC and the digest on every call (several microseconds; SigV4 needs one per request). */
static void hash_hmac(enum gz_hash_alg alg, const void *key, size_t keylen, const void *msg,
                      size_t n, uint8_t *out)
{
    const EVP_MD *md = hash_evp_md(alg);
    size_t mdlen = gz_hash_len(alg);
    uint8_t k[64], pad[64], inner[GZ_HASH_MAX_LEN];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx != NULL;
    memset(k, 0, sizeof(k));
    if (keylen > sizeof(k)) {
        if (EVP_Digest(key, keylen, k, NULL, md, NULL) != 1)
            ok = 0;
    } else if (keylen > 0) {
        memcpy(k, key, keylen);
    }
    for (size_t i = 0; i < sizeof(pad); i++)
        pad[i] = k[i] ^ 0x36;
    ok = ok && EVP_DigestInit_ex(ctx, md, NULL) == 1 && EVP_DigestUpdate(ctx, pad, 64) == 1 &&
         (n == 0 || EVP_DigestUpdate(ctx, msg, n) == 1) &&
         EVP_DigestFinal_ex(ctx, inner, NULL) == 1;
    for (size_t i = 0; i < sizeof(pad); i++)
        pad[i] = k[i] ^ 0x5c;
    ok = ok && EVP_DigestInit_ex(ctx, md, NULL) == 1 && EVP_DigestUpdate(ctx, pad, 64) == 1 &&
         EVP_DigestUpdate(ctx, inner, mdlen) == 1 && EVP_DigestFinal_ex(ctx, out, NULL) == 1;
    EVP_MD_CTX_free(ctx);
    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(pad, sizeof(pad));
    OPENSSL_cleanse(inner, sizeof(inner));
    if (!ok)
        hash_fatal("HMAC");
}

void gz_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t n, uint8_t out[32])
{
    hash_hmac(GZ_HASH_SHA256, key, keylen, msg, n, out);
}

void gz_hmac_sha1(const void *key, size_t keylen, const void *msg, size_t n, uint8_t out[20])
{
    hash_hmac(GZ_HASH_SHA1, key, keylen, msg, n, out);
}

bool gz_consttime_eq(const void *a, size_t alen, const void *b, size_t blen)
{
    if (alen != blen)
        return false;
    if (alen == 0)
        return true;
    return CRYPTO_memcmp(a, b, alen) == 0;
}
