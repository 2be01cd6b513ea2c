/*
 * sse_seal.c - sealing objects that are written through the store without an S3 request
 * (migration jobs: migrate's struct gz_mig_sealer, filled with these by `gzy serve`).
 *
 * What a PUT into a bucket with default encryption does (sse.c, s3__sse_put_begin and
 * s3__sse_part_begin), minus the request: the bucket's default algorithm, a fresh data key
 * wrapped under the service's current master key (the same cached key ring, DATA/sse.keys
 * created on first use), the envelope and x-amz-server-side-encryption appended to the stored
 * headers, the bucket marked as holding encrypted objects, and the body sealed through the
 * same encryptor. A multipart upload carries the envelope; each part is sealed under the
 * upload's data key with its own part number; completion adds the parts' layout header. The
 * ETag is the caller's business: for SSE-S3 / SM4 it is the plaintext's MD5 (s3__sse_put_etag).
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>

#include "sse_int.h"

#define SEAL_ENV_MAX 256
#define SEAL_LAYOUT_MAX (256 * 1024)

static enum s3__sse_alg bucket_alg(struct store *s, struct gz_slice bucket)
{
    struct gz_buf v;
    enum s3__sse_alg alg = SSE_ALG_NONE;
    gz_buf_init(&v, 0);
    if (store_bucket_attr_get(s, bucket, SSE_ATTR, &v) == 0)
        alg = s3__sse_alg_from_name(gz_buf_slice(&v));
    gz_buf_free(&v);
    return alg;
}

bool s3_sse_seal_bucket_used(void *ctx, struct gz_slice bucket)
{
    struct s3_service *svc = ctx;
    struct gz_buf v;
    gz_buf_init(&v, 0);
    bool used = store_bucket_attr_get(svc->store, bucket, SSE_ATTR_USED, &v) == 0;
    gz_buf_free(&v);
    return used;
}

/* As s3__sse_mark_bucket, but a failure fails the write: unmarked, the bucket's listings
 * would show stored sizes. */
static int mark_bucket(struct s3_service *svc, struct gz_slice bucket)
{
    if (s3_sse_seal_bucket_used(svc, bucket))
        return 0;
    struct gz_slice one = GZ_SLICE_LIT("1");
    return store_bucket_attr_set(svc->store, bucket, SSE_ATTR_USED, &one);
}

/* A fresh data key wrapped under the current master key, and the stored headers. */
static int new_envelope(struct s3_service *svc, enum s3__sse_alg alg, struct gz_buf *headers,
                        uint8_t dk[SSE_KEY])
{
    struct s3__sse_env env;
    char text[SEAL_ENV_MAX];
    memset(&env, 0, sizeof(env));
    env.alg = alg;
    int rc = s3__sse_master_wrap(svc, &env, dk);
    if (rc < 0) {
        log_error("SSE: master key: %s", gz_strerror(rc));
        return rc;
    }
    rc = s3__sse_env_format(&env, text, sizeof(text));
    if (rc == 0)
        rc = store_headers_add(headers, GZ_SLICE_LIT("x-amz-server-side-encryption"),
                               gz_slice_cstr(s3__sse_alg_name(alg)));
    if (rc == 0)
        rc = store_headers_add(headers, GZ_SLICE_LIT(SSE_HEADER), gz_slice_cstr(text));
    return rc;
}

int s3_sse_seal_begin(void *ctx, struct gz_slice bucket, struct gz_buf *headers,
                      struct store_writer *w, void **seal)
{
    struct s3_service *svc = ctx;
    struct s3__sse_put *p = NULL;
    uint8_t dk[SSE_KEY];
    *seal = NULL;
    enum s3__sse_alg alg = bucket_alg(svc->store, bucket);
    if (alg == SSE_ALG_NONE)
        return 0;
    int rc = new_envelope(svc, alg, headers, dk);
    if (rc == 0 && w) /* a multipart upload (w NULL) marks the bucket when it completes */
        rc = mark_bucket(svc, bucket);
    if (rc == 0 && w)
        rc = s3__sse_part_begin(alg, dk, false, 0, w, &p);
    OPENSSL_cleanse(dk, sizeof(dk));
    *seal = p;
    return rc;
}

int s3_sse_seal_part_begin(void *ctx, struct gz_slice upload_headers, int part,
                           struct store_writer *w, void **seal)
{
    struct s3_service *svc = ctx;
    struct gz_slice v = s3__sse_stored_header(upload_headers, SSE_HEADER);
    struct s3__sse_env env;
    struct s3__sse_put *p = NULL;
    uint8_t dk[SSE_KEY];
    *seal = NULL;
    if (v.ptr == NULL)
        return 0;
    if (s3__sse_env_parse(v, &env) < 0)
        return GZ_ECORRUPT;
    if (env.customer)
        return -EACCES;
    if (part < 1 || part > STORE_MAX_PARTS)
        return -EINVAL;
    int rc = s3__sse_master_unwrap(svc, &env, dk);
    if (rc < 0) {
        log_error("SSE: cannot unwrap an upload's data key (master key %u): %s", env.kid,
                  gz_strerror(rc));
        return rc;
    }
    rc = s3__sse_part_begin(env.alg, dk, false, part, w, &p);
    OPENSSL_cleanse(dk, sizeof(dk));
    *seal = p;
    return rc;
}

int s3_sse_seal_write(void *seal, const void *p, size_t n)
{
    return s3__sse_put_write(seal, p, n);
}

int s3_sse_seal_finish(void *seal)
{
    return s3__sse_put_finish(seal);
}

void s3_sse_seal_free(void *seal)
{
    s3__sse_put_free(seal);
}

int s3_sse_seal_complete(void *ctx, struct gz_slice bucket, struct gz_slice upload_headers,
                         const struct store_part *parts, int nparts, struct gz_buf *out)
{
    if (!s3__sse_is_encrypted(upload_headers))
        return 0;
    if (nparts < 1 || nparts > STORE_MAX_PARTS)
        return -EINVAL;
    struct store_part *plain = gz_calloc((size_t)nparts, sizeof(*plain));
    struct gz_buf lay;
    int rc = 0;
    gz_buf_init(&lay, SEAL_LAYOUT_MAX);
    for (int i = 0; i < nparts && rc == 0; i++) { /* the layout is formatted from plaintext */
        plain[i] = parts[i];
        plain[i].size = s3__sse_plain_size(parts[i].size);
        if (plain[i].size < 0)
            rc = GZ_ECORRUPT; /* not a sealed body's size */
    }
    if (rc == 0)
        rc = s3__sse_parts_format(plain, nparts, &lay);
    if (rc == 0)
        rc = gz_buf_append(out, upload_headers.ptr, upload_headers.len);
    if (rc == 0)
        rc = store_headers_add(out, GZ_SLICE_LIT(SSE_PARTS_HEADER), gz_buf_slice(&lay));
    if (rc == 0)
        rc = mark_bucket(ctx, bucket);
    gz_buf_free(&lay);
    gz_free(plain);
    return rc;
}

int64_t s3_sse_seal_plain_size(void *ctx, struct gz_slice bucket, struct gz_slice key,
                               int64_t stored)
{
    struct s3_service *svc = ctx;
    return s3__sse_store_object_size(svc->store, bucket, key, stored);
}

int s3_sse_seal_read(void *ctx, struct gz_slice headers, int64_t stored, struct store_reader *rd,
                     int64_t off, int64_t len, struct gz_buf *out)
{
    struct s3_service *svc = ctx;
    struct s3_sse_reader *sr = NULL;
    if (!s3__sse_is_encrypted(headers))
        return 1;
    int rc = s3_sse_reader_open(svc->store, headers, stored, rd, &sr);
    if (rc == 0 && (off < 0 || len < 0 || off > s3_sse_reader_size(sr) - len))
        rc = -ERANGE;
    for (int64_t pos = off; rc == 0 && pos < off + len;) {
        struct gz_slice s;
        rc = s3_sse_reader_read(sr, pos, off + len - pos, &s);
        if (rc == 0 && s.len == 0)
            rc = -EIO;
        if (rc == 0)
            rc = gz_buf_append(out, s.ptr, s.len);
        if (rc == 0)
            pos += (int64_t)s.len;
    }
    s3_sse_reader_close(sr);
    return rc;
}
