/*
 * verify.c - end-to-end verification while bytes stream: MD5 against a single-part source
 * ETag; for a multipart source ETag, the size plus the SHA-256 of what was written (recorded
 * in the journal). Every object's method is reported.
 */
#include <errno.h>
#include <stdio.h>
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

void mig_verify_update(struct mig_verify *v, const void *p, size_t n)
{
    if (v->method == MIG_VERIFY_MD5)
        gz_hash_update(&v->md5, p, n);
    gz_hash_update(&v->sha256, p, n);
    v->bytes += (int64_t)n;
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
    return 0;
}

void mig_verify_dispose(struct mig_verify *v)
{
    gz_hash_dispose(&v->md5);
    gz_hash_dispose(&v->sha256);
}

const char *mig_verify_method_name(enum mig_method m)
{
    return m == MIG_VERIFY_MD5 ? "md5" : "size+sha256";
}
