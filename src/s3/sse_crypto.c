/*
 * sse_crypto.c - the AEADs (AES-256-GCM from OpenSSL; GCM built from SM4-ECB here, since
 * OpenSSL 3.0 lacks SM4-GCM) and the segmented body format of sse_int.h: a streaming sealer
 * for PUT and a segment-at-a-time opener for GET (ranges map to whole segments).
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

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

/* GHASH with 4-bit tables (Shoup's method): hh/hl[i] = H times the 4-bit polynomial i, and
 * the reduction of the 4 bits shifted out at each step. Bit-reflected, as GCM defines it. */
static const uint16_t ghash_rem4[16] = {
    0x0000, 0x1c20, 0x3840, 0x2460, 0x7080, 0x6ca0, 0x48c0, 0x54e0,
    0xe100, 0xfd20, 0xd940, 0xc560, 0x9180, 0x8da0, 0xa9c0, 0xb5e0,
};

static void ghash_table(struct s3__aead *a, const uint8_t hb[16])
{
    uint64_t vh = be64(hb), vl = be64(hb + 8);
    a->hh[0] = a->hl[0] = 0;
    a->hh[8] = vh;
    a->hl[8] = vl;
    for (int i = 4; i > 0; i >>= 1) { /* H times x, x^2, x^3: one bit right each */
        uint64_t carry = (vl & 1) ? 0xe100000000000000ULL : 0;
        vl = (vh << 63) | (vl >> 1);
        vh = (vh >> 1) ^ carry;
        a->hh[i] = vh;
        a->hl[i] = vl;
    }
    for (int i = 2; i <= 8; i *= 2)
        for (int j = 1; j < i; j++) {
            a->hh[i + j] = a->hh[i] ^ a->hh[j];
            a->hl[i + j] = a->hl[i] ^ a->hl[j];
        }
}

/* One 4-bit step: z = z * x^4 + H * nibble. */
static void ghash_nibble(const struct s3__aead *a, uint64_t *zh, uint64_t *zl, unsigned nib)
{
    unsigned rem = (unsigned)(*zl & 0xf);
    *zl = (*zh << 60) | (*zl >> 4);
    *zh = (*zh >> 4) ^ ((uint64_t)ghash_rem4[rem] << 48);
    *zh ^= a->hh[nib];
    *zl ^= a->hl[nib];
}

/* y = y * H */
static void gf_mul(const struct s3__aead *a, uint64_t y[2])
{
    uint8_t x[16];
    put_be64(x, y[0]);
    put_be64(x + 8, y[1]);
    uint64_t zh = a->hh[x[15] & 0xf], zl = a->hl[x[15] & 0xf];
    ghash_nibble(a, &zh, &zl, x[15] >> 4);
    for (int i = 14; i >= 0; i--) {
        ghash_nibble(a, &zh, &zl, x[i] & 0xf);
        ghash_nibble(a, &zh, &zl, x[i] >> 4);
    }
    y[0] = zh;
    y[1] = zl;
}

static void ghash_update(const struct s3__aead *a, uint64_t y[2], const uint8_t *p, size_t n)
{
    while (n > 0) {
        uint8_t blk[16] = {0};
        size_t k = GZ_MIN(n, (size_t)16);
        memcpy(blk, p, k);
        y[0] ^= be64(blk);
        y[1] ^= be64(blk + 8);
        gf_mul(a, y);
        p += k;
        n -= k;
    }
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
    put_be64(tag, y[0]);
    put_be64(tag + 8, y[1]);
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
    ghash_table(a, hb);
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
    OPENSSL_cleanse(a->hh, sizeof(a->hh));
    OPENSSL_cleanse(a->hl, sizeof(a->hl));
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
