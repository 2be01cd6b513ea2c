/*
 * sse_crypto.c - the AEADs (AES-256-GCM from OpenSSL; GCM built from SM4-ECB here, since
 * OpenSSL 3.0 lacks SM4-GCM) and the segmented body format of sse_int.h: a streaming sealer
 * for PUT and a segment-at-a-time opener for GET (ranges map to whole segments).
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "../util/hash.h"
#include "sse_int.h"

/* ---- generic GCM (NIST SP 800-38D) over a 128-bit block cipher in ECB mode ---- */

static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

/* GHASH in constant time. A field element is kept "natural": bit k of the 128-bit value
 * (lo word bits 0-63, hi word bits 64-127) is the coefficient of x^k. GCM's wire order is
 * bit-reflected (the first byte's top bit is x^0), so blocks are bit-reversed on the way in
 * and the tag on the way out. y * H is a 128 x 128 carry-less product (Karatsuba: three
 * 64 x 64 products) reduced modulo x^128 + x^7 + x^2 + x + 1. No table, branch or address
 * depends on the data or H: the 64 x 64 product is PCLMULQDQ where the CPU has it, else
 * integer multiplies of operands masked to every 4th bit (below). */

static uint64_t rev64(uint64_t v)
{
    v = ((v >> 1) & 0x5555555555555555ULL) | ((v & 0x5555555555555555ULL) << 1);
    v = ((v >> 2) & 0x3333333333333333ULL) | ((v & 0x3333333333333333ULL) << 2);
    v = ((v >> 4) & 0x0f0f0f0f0f0f0f0fULL) | ((v & 0x0f0f0f0f0f0f0f0fULL) << 4);
    return __builtin_bswap64(v);
}

/* The low 64 bits of the carry-less product x * y with ordinary multiplies: split each
 * operand into the four sets of bits 4 apart (mask m << i). The integer product of two such
 * sets adds, at each bit of one residue class mod 4, the number of bit pairs meeting there:
 * at most 15 below bit 60 (16 only at bits 60-63, whose carry leaves the word), so a count
 * never carries into the next bit of its class, 4 bits up, and its low bit, the parity, is
 * the carry-less product's bit. The other bits hold carries and are masked off. */
static inline uint64_t bmul64_lo(uint64_t x, uint64_t y)
{
    const uint64_t m = 0x1111111111111111ULL;
    uint64_t xs[4], ys[4], z = 0;
    for (int i = 0; i < 4; i++) {
        xs[i] = x & (m << i);
        ys[i] = y & (m << i);
    }
    for (int k = 0; k < 4; k++) { /* result bits in class k: x class i times y class k-i */
        uint64_t acc = 0;
        for (int i = 0; i < 4; i++)
            acc ^= xs[i] * ys[(k - i) & 3];
        z |= acc & (m << k);
    }
    return z;
}

/* The full 128-bit product: the high half is the low half of the product of the reversed
 * operands, reversed again (the 127-bit product reverses as a whole), less one bit. */
static inline void clmul64_portable(uint64_t x, uint64_t y, uint64_t *hi, uint64_t *lo)
{
    *lo = bmul64_lo(x, y);
    *hi = rev64(bmul64_lo(rev64(x), rev64(y))) >> 1;
}

/* y = the Karatsuba sum of the three 64 x 64 products (r[0..1] = y0 h0, r[2..3] = y1 h1,
 * r[4..5] = (y0 ^ y1)(h0 ^ h1), each lo then hi), reduced: x^128 = x^7 + x^2 + x + 1 folds
 * bits 128..255 down, then the 7 bits that fold pushed past bit 127 once more. */
static inline void gf_combine(const uint64_t r[6], uint64_t y[2])
{
    uint64_t p0 = r[0], p1 = r[1], p2 = r[2], p3 = r[3];
    uint64_t m0 = r[4] ^ p0 ^ p2, m1 = r[5] ^ p1 ^ p3;
    p1 ^= m0;
    p2 ^= m1;
    uint64_t o = (p3 >> 63) ^ (p3 >> 62) ^ (p3 >> 57);
    y[0] = p0 ^ p2 ^ (p2 << 1) ^ (p2 << 2) ^ (p2 << 7) ^ o ^ (o << 1) ^ (o << 2) ^ (o << 7);
    y[1] = p1 ^ p3 ^ (p3 << 1 | p2 >> 63) ^ (p3 << 2 | p2 >> 62) ^ (p3 << 7 | p2 >> 57);
}

/* Loads a 16-byte block as a natural field element. */
static inline void gf_load(const uint8_t b[16], uint64_t v[2])
{
    v[0] = rev64(be64(b));
    v[1] = rev64(be64(b + 8));
}

static void ghash_blocks_portable(const uint64_t h[2], uint64_t y[2], const uint8_t *p,
                                  size_t nblk)
{
    uint64_t r[6], x[2];
    for (size_t i = 0; i < nblk; i++, p += 16) {
        gf_load(p, x);
        y[0] ^= x[0];
        y[1] ^= x[1];
        clmul64_portable(y[0], h[0], &r[1], &r[0]);
        clmul64_portable(y[1], h[1], &r[3], &r[2]);
        clmul64_portable(y[0] ^ y[1], h[0] ^ h[1], &r[5], &r[4]);
        gf_combine(r, y);
    }
}

#if defined(__x86_64__)
__attribute__((target("pclmul,sse2"))) static inline void
clmul64_pclmul(uint64_t x, uint64_t y, uint64_t *hi, uint64_t *lo)
{
    __m128i r = _mm_clmulepi64_si128(_mm_cvtsi64_si128((long long)x),
                                     _mm_cvtsi64_si128((long long)y), 0x00);
    *lo = (uint64_t)_mm_cvtsi128_si64(r);
    *hi = (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(r, r));
}

__attribute__((target("pclmul,sse2"))) static void
ghash_blocks_pclmul(const uint64_t h[2], uint64_t y[2], const uint8_t *p, size_t nblk)
{
    uint64_t r[6], x[2];
    for (size_t i = 0; i < nblk; i++, p += 16) {
        gf_load(p, x);
        y[0] ^= x[0];
        y[1] ^= x[1];
        clmul64_pclmul(y[0], h[0], &r[1], &r[0]);
        clmul64_pclmul(y[1], h[1], &r[3], &r[2]);
        clmul64_pclmul(y[0] ^ y[1], h[0] ^ h[1], &r[5], &r[4]);
        gf_combine(r, y);
    }
}

static bool cpu_has_clmul(void)
{
    return __builtin_cpu_supports("pclmul");
}
#else
static void ghash_blocks_pclmul(const uint64_t h[2], uint64_t y[2], const uint8_t *p,
                                size_t nblk)
{
    ghash_blocks_portable(h, y, p, nblk);
}

static bool cpu_has_clmul(void)
{
    return false;
}
#endif

static void ghash_blocks(const struct s3__aead *a, uint64_t y[2], const uint8_t *p, size_t nblk)
{
    if (a->clmul)
        ghash_blocks_pclmul(a->h, y, p, nblk);
    else
        ghash_blocks_portable(a->h, y, p, nblk);
}

static void ghash_update(const struct s3__aead *a, uint64_t y[2], const uint8_t *p, size_t n)
{
    size_t whole = n / 16;
    ghash_blocks(a, y, p, whole);
    if (n % 16 != 0) {
        uint8_t blk[16] = {0};
        memcpy(blk, p + whole * 16, n % 16);
        ghash_blocks(a, y, blk, 1);
    }
}

static void ghash_key(struct s3__aead *a, const uint8_t hb[16])
{
    gf_load(hb, a->h);
    a->clmul = cpu_has_clmul();
}

static int ecb_block(struct s3__aead *a, const uint8_t in[16], uint8_t out[16])
{
    int len = 0;
    return EVP_EncryptUpdate(a->ctx, out, &len, in, 16) == 1 && len == 16 ? 0 : -EIO;
}

/* CTR from inc32(j0). OpenSSL's CTR increments all 128 bits, GCM only the last 32; they agree
 * until the low word wraps, which starting from 2 takes 2^32 - 2 blocks (64 GiB). */
static int gcm_ctr(struct s3__aead *a, const uint8_t j0[16], const uint8_t *in, size_t n,
                   uint8_t *out)
{
    uint8_t cb[16];
    int len = 0;
    memcpy(cb, j0, 16);
    cb[15] = 2;
    if (n == 0)
        return 0;
    if (n > 0xffffffe0ULL * 16 || EVP_EncryptInit_ex(a->ctr, NULL, NULL, NULL, cb) != 1 ||
        EVP_EncryptUpdate(a->ctr, out, &len, in, (int)n) != 1)
        return -EIO;
    return 0;
}

/* The tag over aad and ciphertext ct, with pre-counter block j0. */
static int gcm_tag(struct s3__aead *a, const uint8_t j0[16], const uint8_t *aad, size_t aad_len,
                   const uint8_t *ct, size_t n, uint8_t tag[16])
{
    uint64_t y[2] = {0, 0};
    uint8_t lens[16], ek[16];
    ghash_update(a, y, aad, aad_len);
    ghash_update(a, y, ct, n);
    put_be64(lens, (uint64_t)aad_len * 8);
    put_be64(lens + 8, (uint64_t)n * 8);
    ghash_update(a, y, lens, 16);
    if (ecb_block(a, j0, ek) < 0)
        return -EIO;
    put_be64(tag, rev64(y[0]));
    put_be64(tag + 8, rev64(y[1]));
    for (int i = 0; i < 16; i++)
        tag[i] ^= ek[i];
    return 0;
}

static int generic_crypt(struct s3__aead *a, const uint8_t iv[12], const uint8_t *aad,
                         size_t aad_len, const uint8_t *in, size_t n, uint8_t *out, uint8_t tag[16],
                         bool seal)
{
    uint8_t j0[16];
    memcpy(j0, iv, 12);
    j0[12] = j0[13] = j0[14] = 0;
    j0[15] = 1;
    if (seal) {
        if (gcm_ctr(a, j0, in, n, out) < 0)
            return -EIO;
        return gcm_tag(a, j0, aad, aad_len, out, n, tag);
    }
    uint8_t want[16];
    if (gcm_tag(a, j0, aad, aad_len, in, n, want) < 0)
        return -EIO;
    if (!gz_consttime_eq(want, 16, tag, 16))
        return GZ_ECORRUPT;
    return gcm_ctr(a, j0, in, n, out);
}

int s3__aead_init_generic(struct s3__aead *a, const uint8_t *key, size_t key_len, bool sm4)
{
    const EVP_CIPHER *ecb = sm4             ? EVP_sm4_ecb()
                            : key_len == 16 ? EVP_aes_128_ecb()
                                            : EVP_aes_256_ecb();
    const EVP_CIPHER *ctr = sm4             ? EVP_sm4_ctr()
                            : key_len == 16 ? EVP_aes_128_ctr()
                                            : EVP_aes_256_ctr();
    memset(a, 0, sizeof(*a));
    a->alg = sm4 ? SSE_ALG_SM4 : SSE_ALG_AES256;
    a->generic = true;
    if ((sm4 && key_len != 16) || (!sm4 && key_len != 16 && key_len != 32))
        return -EINVAL;
    a->ctx = EVP_CIPHER_CTX_new();
    a->ctr = EVP_CIPHER_CTX_new();
    if (a->ctx == NULL || a->ctr == NULL || EVP_EncryptInit_ex(a->ctx, ecb, NULL, key, NULL) != 1 ||
        EVP_EncryptInit_ex(a->ctr, ctr, NULL, key, NULL) != 1) {
        s3__aead_free(a);
        return -EIO;
    }
    EVP_CIPHER_CTX_set_padding(a->ctx, 0);
    uint8_t zero[16] = {0}, hb[16];
    if (ecb_block(a, zero, hb) < 0) {
        s3__aead_free(a);
        return -EIO;
    }
    ghash_key(a, hb);
    OPENSSL_cleanse(hb, sizeof(hb));
    return 0;
}

int s3__aead_init(struct s3__aead *a, enum s3__sse_alg alg, const uint8_t *key, size_t key_len)
{
    if (alg == SSE_ALG_SM4)
        return s3__aead_init_generic(a, key, GZ_MIN(key_len, (size_t)16), true);
    memset(a, 0, sizeof(*a));
    a->alg = alg;
    if (alg != SSE_ALG_AES256 || (key_len != 32 && key_len != 16))
        return -EINVAL;
    a->ctx = EVP_CIPHER_CTX_new();
    const EVP_CIPHER *c = key_len == 16 ? EVP_aes_128_gcm() : EVP_aes_256_gcm();
    if (a->ctx == NULL || EVP_EncryptInit_ex(a->ctx, c, NULL, key, NULL) != 1) {
        s3__aead_free(a);
        return -EIO;
    }
    return 0;
}

void s3__aead_free(struct s3__aead *a)
{
    if (a->ctx)
        EVP_CIPHER_CTX_free(a->ctx);
    if (a->ctr)
        EVP_CIPHER_CTX_free(a->ctr);
    a->ctx = a->ctr = NULL;
    OPENSSL_cleanse(a->h, sizeof(a->h));
}

int s3__aead_seal(struct s3__aead *a, const uint8_t iv[12], const uint8_t *aad, size_t aad_len,
                  const uint8_t *in, size_t n, uint8_t *out, uint8_t tag[SSE_TAG])
{
    if (a->generic)
        return generic_crypt(a, iv, aad, aad_len, in, n, out, tag, true);
    int len = 0;
    if (EVP_CipherInit_ex(a->ctx, NULL, NULL, NULL, iv, 1) != 1 ||
        (aad_len && EVP_EncryptUpdate(a->ctx, NULL, &len, aad, (int)aad_len) != 1) ||
        (n && EVP_EncryptUpdate(a->ctx, out, &len, in, (int)n) != 1) ||
        EVP_EncryptFinal_ex(a->ctx, out + n, &len) != 1 ||
        EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_GCM_GET_TAG, SSE_TAG, tag) != 1)
        return -EIO;
    return 0;
}

int s3__aead_open(struct s3__aead *a, const uint8_t iv[12], const uint8_t *aad, size_t aad_len,
                  const uint8_t *in, size_t n, uint8_t *out, const uint8_t tag[SSE_TAG])
{
    if (a->generic)
        return generic_crypt(a, iv, aad, aad_len, in, n, out, (uint8_t *)tag, false);
    int len = 0;
    uint8_t t[SSE_TAG];
    memcpy(t, tag, SSE_TAG);
    if (EVP_CipherInit_ex(a->ctx, NULL, NULL, NULL, iv, 0) != 1 ||
        (aad_len && EVP_DecryptUpdate(a->ctx, NULL, &len, aad, (int)aad_len) != 1) ||
        (n && EVP_DecryptUpdate(a->ctx, out, &len, in, (int)n) != 1) ||
        EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_GCM_SET_TAG, SSE_TAG, t) != 1)
        return -EIO;
    return EVP_DecryptFinal_ex(a->ctx, out + n, &len) == 1 ? 0 : GZ_ECORRUPT;
}

/* ---- the body format ---- */

int64_t s3__sse_stored_size(int64_t plain)
{
    int64_t nseg = plain == 0 ? 1 : (plain + SSE_SEG - 1) / SSE_SEG;
    return SSE_HDR + plain + nseg * SSE_TAG;
}

int64_t s3__sse_plain_size(int64_t stored)
{
    if (stored < SSE_HDR + SSE_TAG)
        return -1;
    int64_t body = stored - SSE_HDR;
    int64_t nseg = (body + SSE_SEG + SSE_TAG - 1) / (SSE_SEG + SSE_TAG);
    int64_t plain = body - nseg * SSE_TAG;
    return plain >= 0 && s3__sse_stored_size(plain) == stored ? plain : -1;
}

static void seg_iv(const uint8_t hdr[SSE_HDR], int64_t idx, uint8_t iv[12])
{
    memcpy(iv, hdr + 4, 8);
    iv[8] = (uint8_t)(idx >> 24);
    iv[9] = (uint8_t)(idx >> 16);
    iv[10] = (uint8_t)(idx >> 8);
    iv[11] = (uint8_t)idx;
}

struct s3__sse_enc {
    struct s3__aead aead;
    s3__sse_sink sink;
    void *ud;
    uint8_t hdr[SSE_HDR + 1]; /* + the final flag: the AAD */
    bool hdr_written;
    int64_t idx, plain;
    size_t fill;
    uint8_t seg[SSE_SEG];
    uint8_t out[SSE_SEG + SSE_TAG];
};

int s3__sse_enc_new(enum s3__sse_alg alg, const uint8_t key[SSE_KEY], uint32_t part,
                    s3__sse_sink sink, void *ud, struct s3__sse_enc **out)
{
    struct s3__sse_enc *e = gz_calloc(1, sizeof(*e));
    int rc = s3__aead_init(&e->aead, alg, key, SSE_KEY);
    if (rc < 0) {
        gz_free(e);
        return rc;
    }
    e->sink = sink;
    e->ud = ud;
    memcpy(e->hdr, "GZE1", 4);
    gz_random_bytes(e->hdr + 4, 8);
    e->hdr[12] = (uint8_t)(part >> 24);
    e->hdr[13] = (uint8_t)(part >> 16);
    e->hdr[14] = (uint8_t)(part >> 8);
    e->hdr[15] = (uint8_t)part;
    *out = e;
    return 0;
}

static int enc_flush(struct s3__sse_enc *e, bool final)
{
    uint8_t iv[12];
    int rc = 0;
    if (!e->hdr_written) {
        rc = e->sink(e->ud, e->hdr, SSE_HDR);
        e->hdr_written = true;
    }
    if (rc < 0)
        return rc;
    if (e->idx > 0x7fffffff)
        return -EFBIG;
    seg_iv(e->hdr, e->idx, iv);
    e->hdr[SSE_HDR] = final ? 1 : 0;
    rc =
        s3__aead_seal(&e->aead, iv, e->hdr, SSE_HDR + 1, e->seg, e->fill, e->out, e->out + e->fill);
    if (rc == 0)
        rc = e->sink(e->ud, e->out, e->fill + SSE_TAG);
    e->idx++;
    e->fill = 0;
    return rc;
}

int s3__sse_enc_write(struct s3__sse_enc *e, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        /* A full segment is sealed only once more bytes show it is not the last. */
        if (e->fill == SSE_SEG) {
            int rc = enc_flush(e, false);
            if (rc < 0)
                return rc;
        }
        size_t k = GZ_MIN(n, SSE_SEG - e->fill);
        memcpy(e->seg + e->fill, b, k);
        e->fill += k;
        e->plain += (int64_t)k;
        b += k;
        n -= k;
    }
    return 0;
}

int s3__sse_enc_finish(struct s3__sse_enc *e)
{
    return enc_flush(e, true);
}

int64_t s3__sse_enc_plain(const struct s3__sse_enc *e)
{
    return e->plain;
}

void s3__sse_enc_free(struct s3__sse_enc *e)
{
    if (e == NULL)
        return;
    s3__aead_free(&e->aead);
    OPENSSL_cleanse(e, sizeof(*e));
    gz_free(e);
}

struct s3__sse_dec {
    struct s3__aead aead;
    s3__sse_fetch fetch;
    void *ud;
    uint8_t hdr[SSE_HDR + 1];
    int64_t stored, plain, nseg;
    uint8_t in[SSE_SEG + SSE_TAG];
    uint8_t out[SSE_SEG];
};

int s3__sse_dec_new(enum s3__sse_alg alg, const uint8_t key[SSE_KEY], int64_t stored,
                    s3__sse_fetch fetch, void *ud, struct s3__sse_dec **out)
{
    int64_t plain = s3__sse_plain_size(stored);
    if (plain < 0)
        return GZ_ECORRUPT;
    struct s3__sse_dec *d = gz_calloc(1, sizeof(*d));
    int rc = s3__aead_init(&d->aead, alg, key, SSE_KEY);
    if (rc == 0)
        rc = fetch(ud, 0, d->hdr, SSE_HDR);
    if (rc == 0 && memcmp(d->hdr, "GZE1", 4) != 0)
        rc = GZ_ECORRUPT;
    if (rc < 0) {
        s3__sse_dec_free(d);
        return rc;
    }
    d->fetch = fetch;
    d->ud = ud;
    d->stored = stored;
    d->plain = plain;
    d->nseg = plain == 0 ? 1 : (plain + SSE_SEG - 1) / SSE_SEG;
    *out = d;
    return 0;
}

int s3__sse_dec_segment(struct s3__sse_dec *d, int64_t idx, struct gz_slice *plain)
{
    if (idx < 0 || idx >= d->nseg)
        return -EINVAL;
    bool final = idx == d->nseg - 1;
    size_t n = final ? (size_t)(d->plain - idx * SSE_SEG) : SSE_SEG;
    int64_t off = SSE_HDR + idx * (SSE_SEG + SSE_TAG);
    int rc = d->fetch(d->ud, off, d->in, n + SSE_TAG);
    if (rc < 0)
        return rc;
    uint8_t iv[12];
    seg_iv(d->hdr, idx, iv);
    d->hdr[SSE_HDR] = final ? 1 : 0;
    rc = s3__aead_open(&d->aead, iv, d->hdr, SSE_HDR + 1, d->in, n, d->out, d->in + n);
    if (rc < 0)
        return rc == -EIO ? rc : GZ_ECORRUPT;
    *plain = gz_slice(d->out, n);
    return 0;
}

int64_t s3__sse_dec_plain(const struct s3__sse_dec *d)
{
    return d->plain;
}

void s3__sse_dec_free(struct s3__sse_dec *d)
{
    if (d == NULL)
        return;
    s3__aead_free(&d->aead);
    OPENSSL_cleanse(d, sizeof(*d));
    gz_free(d);
}
