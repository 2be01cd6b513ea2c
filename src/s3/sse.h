/*
 * sse.h - reading objects encrypted at rest from outside the S3 handlers (the console's
 * object download, offline tools). The S3 handlers use the private sse_int.h; the format is
 * in docs/encryption.md.
 *
 * An object is encrypted when its stored headers carry the envelope (s3_sse_encrypted); its
 * stored size (store_meta.size) then exceeds the plaintext size. SSE-S3 / SM4 objects open
 * with the master keys in the store's data folder; SSE-C objects cannot be opened here (the
 * key is the customer's): -EACCES.
 *
 * Threading: a reader belongs to one thread at a time, like the store_reader under it.
 */
#ifndef GZ_S3_SSE_H
#define GZ_S3_SSE_H

#include "../store/store.h"

/* The bucket attribute holding a bucket's default encryption (absent: none). */
#define S3_SSE_BUCKET_ATTR STORE_ATTR_SSE_DEFAULT

bool s3_sse_encrypted(struct gz_slice headers);
bool s3_sse_customer(struct gz_slice headers); /* SSE-C */

struct s3_sse_reader;
/* A decrypting view of the whole object read through rd (not owned; keep it open until
 * s3_sse_reader_close). headers and stored are the object's (store_object_open's meta).
 * -EACCES for SSE-C, -EINVAL if not encrypted, GZ_ECORRUPT for a bad envelope or layout,
 * or the error reading the key file. */
int s3_sse_reader_open(struct store *s, struct gz_slice headers, int64_t stored,
                       struct store_reader *rd, struct s3_sse_reader **out);
int64_t s3_sse_reader_size(const struct s3_sse_reader *sr); /* plaintext bytes */
/* Plaintext at [pos, pos + max), at most one 64 KiB segment: *out is valid until the next
 * call. GZ_ECORRUPT when the bytes on disk do not authenticate (tampered): serve nothing
 * more of this object. */
int s3_sse_reader_read(struct s3_sse_reader *sr, int64_t pos, int64_t max,
                       struct gz_slice *out);
void s3_sse_reader_close(struct s3_sse_reader *sr); /* NULL-safe */

/* ---- sealing objects written outside the S3 handlers (sse_seal.c) ----
 * For migration jobs, which write through the store: the functions of migrate's
 * struct gz_mig_sealer (src/migrate/seal.h documents each), which `gzy serve` fills with
 * these. ctx is the struct s3_service * (a void * so that layers which cannot name it can
 * carry it): bodies are sealed as an S3 PUT into the bucket would seal them (the bucket's
 * default algorithm, a fresh data key wrapped under the service's current master key,
 * DATA/sse.keys created on first use as a PUT creates it; the same stored headers; the bucket
 * marked as holding encrypted objects). A seal is a void * owned by the caller until
 * s3_sse_seal_free. SSE-S3 / SM4 only: an upload sealed with a customer key is -EACCES.
 * Threading: any thread; one seal is used by one thread at a time. */
int s3_sse_seal_begin(void *ctx, struct gz_slice bucket, struct gz_buf *headers,
                      struct store_writer *w, void **seal);
int s3_sse_seal_part_begin(void *ctx, struct gz_slice upload_headers, int part,
                           struct store_writer *w, void **seal);
int s3_sse_seal_write(void *seal, const void *p, size_t n);
int s3_sse_seal_finish(void *seal);
void s3_sse_seal_free(void *seal); /* NULL-safe; wipes the data key */
int s3_sse_seal_complete(void *ctx, struct gz_slice bucket, struct gz_slice upload_headers,
                         const struct store_part *parts, int nparts, struct gz_buf *out);
bool s3_sse_seal_bucket_used(void *ctx, struct gz_slice bucket);
int64_t s3_sse_seal_plain_size(void *ctx, struct gz_slice bucket, struct gz_slice key,
                               int64_t stored);
int s3_sse_seal_read(void *ctx, struct gz_slice headers, int64_t stored,
                     struct store_reader *rd, int64_t off, int64_t len, struct gz_buf *out);

#endif
