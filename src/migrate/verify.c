/*
 * verify.c - end-to-end verification while bytes stream: MD5 against a single-part source
 * ETag (plus the provider's CRC64-ECMA when it sends one); for a multipart source ETag, the
 * provider's CRC64-ECMA, else the MD5 of part MD5s recomputed with the source's part layout,
 * else the size plus the SHA-256 of what was written. The SHA-256 is always computed (the
 * journal and the manifest record it). Every object's method is reported.
 */
#include <errno.h>
#include <isa-l/crc64.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "migrate_int.h"

void mig_verify_init(struct mig_verify *v, const char *src_etag)
{
    memset(v, 0, sizeof(*v));
    snprintf(v->etag, sizeof(v->etag), "%s", src_etag ? src_etag : "");
    v->method = strlen(v->etag) == 32 && !gz_migrate_etag_is_multipart(v->etag)
                    ? MIG_VERIFY_MD5
                    : MIG_VERIFY_SHA256;
    gz_hash_init(&v->md5, GZ_HASH_MD5);
    gz_hash_init(&v->sha256, GZ_HASH_SHA256);
}

void mig_verify_set_crc64(struct mig_verify *v, const char *decimal)
{
    char *end;
    if (!decimal || !*decimal)
        return;
    unsigned long long n = strtoull(decimal, &end, 10);
    if (*end)
        return;
    v->have_crc = true;
    v->want_crc = n;
    if (v->method != MIG_VERIFY_MD5)
        v->method = MIG_VERIFY_CRC64;
}

void mig_verify_set_layout(struct mig_verify *v, int64_t part_size, int nparts)
{
    const char *dash = strchr(v->etag, '-');
    if (v->method != MIG_VERIFY_SHA256 || !dash || part_size <= 0 || nparts <= 0 ||
        atoi(dash + 1) != nparts || dash - v->etag != 32 || v->bytes != 0)
        return;
    v->method = MIG_VERIFY_MPU;
    v->mpu_part_size = part_size;
    v->mpu_parts = nparts;
    gz_hash_init(&v->mpu_part, GZ_HASH_MD5);
    gz_hash_init(&v->mpu_all, GZ_HASH_MD5);
}

static void mpu_close_part(struct mig_verify *v)
{
    uint8_t d[GZ_HASH_MAX_LEN];
    gz_hash_final(&v->mpu_part, d);
    gz_hash_update(&v->mpu_all, d, 16);
    v->mpu_done++;
    v->mpu_in_part = 0;
    gz_hash_init(&v->mpu_part, GZ_HASH_MD5);
}

static void mpu_update(struct mig_verify *v, const uint8_t *p, size_t n)
{
    while (n > 0) {
        int64_t room = v->mpu_part_size - v->mpu_in_part;
        size_t k = (int64_t)n < room ? n : (size_t)room;
        gz_hash_update(&v->mpu_part, p, k);
        v->mpu_in_part += (int64_t)k;
        p += k;
        n -= k;
        if (v->mpu_in_part == v->mpu_part_size)
            mpu_close_part(v);
    }
}

void mig_verify_update(struct mig_verify *v, const void *p, size_t n)
{
    if (v->method == MIG_VERIFY_MD5)
        gz_hash_update(&v->md5, p, n);
    if (v->method == MIG_VERIFY_MPU)
        mpu_update(v, p, n);
    if (v->have_crc)
        v->crc = crc64_ecma_refl(v->crc, p, (uint64_t)n);
    gz_hash_update(&v->sha256, p, n);
    v->bytes += (int64_t)n;
}

static int mpu_check(struct mig_verify *v, char *reason, size_t reasonsz)
{
    uint8_t d[GZ_HASH_MAX_LEN];
    char hex[48];
    if (v->mpu_in_part > 0)
        mpu_close_part(v);
    gz_hash_final(&v->mpu_all, d);
    gz_hex_encode(hex, d, 16);
    snprintf(hex + 32, sizeof(hex) - 32, "-%d", v->mpu_done);
    if (strcasecmp(hex, v->etag) != 0) {
        snprintf(reason, reasonsz, "multipart ETag %s does not match the source ETag %s", hex,
                 v->etag);
        return -EILSEQ;
    }
    return 0;
}

int mig_verify_final(struct mig_verify *v, int64_t expect_size, char sha_hex[65],
                     char *reason, size_t reasonsz)
{
    uint8_t d[GZ_HASH_MAX_LEN];
    char md5hex[33];
    gz_hash_final(&v->sha256, d);
    gz_hex_encode(sha_hex, d, 32);
    gz_hash_final(&v->md5, d);
    gz_hex_encode(md5hex, d, 16);
    if (v->bytes != expect_size) {
        snprintf(reason, reasonsz, "size mismatch: read %lld bytes, source has %lld",
                 (long long)v->bytes, (long long)expect_size);
        return -EILSEQ;
    }
    if (v->method == MIG_VERIFY_MD5 && strcasecmp(md5hex, v->etag) != 0) {
        snprintf(reason, reasonsz, "MD5 %s does not match the source ETag %s", md5hex, v->etag);
        return -EILSEQ;
    }
    if (v->have_crc && v->crc != v->want_crc) {
        snprintf(reason, reasonsz, "CRC64 %llu does not match the source's %llu",
                 (unsigned long long)v->crc, (unsigned long long)v->want_crc);
        return -EILSEQ;
    }
    if (v->method == MIG_VERIFY_MPU)
        return mpu_check(v, reason, reasonsz);
    return 0;
}

void mig_verify_dispose(struct mig_verify *v)
{
    gz_hash_dispose(&v->md5);
    gz_hash_dispose(&v->sha256);
    gz_hash_dispose(&v->mpu_part);
    gz_hash_dispose(&v->mpu_all);
}

const char *mig_verify_method_name(enum mig_method m)
{
    switch (m) {
    case MIG_VERIFY_MD5:
        return "md5";
    case MIG_VERIFY_CRC64:
        return "crc64";
    case MIG_VERIFY_MPU:
        return "mpu-md5";
    default:
        return "size+sha256";
    }
}
