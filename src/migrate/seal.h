/*
 * seal.h - encryption at rest for a store destination (gz_mig_options.dst_store), as an
 * interface the migration engine calls and a higher layer implements.
 *
 * A bucket with default encryption (the store attribute STORE_ATTR_SSE_DEFAULT) gets its
 * objects sealed exactly as an S3 PUT into it would seal them: same envelope, same format,
 * same stored headers (docs/encryption.md). The format belongs to the s3 layer, which migrate
 * may not include (scripts/lint-layers.sh), so the engine only knows this table; whoever runs
 * passes over a store passes s3's implementation in (src/s3/sse.h, s3_sse_seal_*; `gzy serve`
 * wires it for migration jobs). Without a table a store destination refuses such a bucket.
 *
 * Ownership: the table and ctx are the caller's and must outlive every pass given them. A
 * seal (the void * from begin / part_begin) is owned by whoever called begin until release.
 * Threading: every function may be called from any thread at once (the engine's workers);
 * one seal is used by one thread at a time.
 */
#ifndef GZ_MIGRATE_SEAL_H
#define GZ_MIGRATE_SEAL_H

#include "../store/store.h"

struct gz_mig_sealer {
    void *ctx;
    /* A new object in bucket (w: the writer of its body) or multipart upload (w NULL): when
     * the bucket encrypts by default, appends the stored headers (the envelope with a fresh
     * data key, x-amz-server-side-encryption) to headers and, with w, sets *seal to the
     * encryptor that writes the sealed body into w (w stays the caller's). Otherwise appends
     * nothing and sets *seal NULL. 0 or a negative error. */
    int (*begin)(void *ctx, struct gz_slice bucket, struct gz_buf *headers, struct store_writer *w,
                 void **seal);
    /* The encryptor of part `part` (1..10000) of an upload whose stored headers are
     * upload_headers (sealed under the upload's data key), writing into w. *seal NULL (and 0)
     * when the upload is not encrypted. */
    int (*part_begin)(void *ctx, struct gz_slice upload_headers, int part, struct store_writer *w,
                      void **seal);
    int (*write)(void *seal, const void *p, size_t n); /* plaintext, any chunking */
    int (*finish)(void *seal);                         /* seals the final segment */
    void (*release)(void *seal);                       /* frees; NULL-safe */
    /* The stored headers of the object an encrypted upload completes into, into out: the
     * upload's headers plus the layout of its parts; parts in object order with their
     * stored sizes (as store_upload_parts lists them). Nothing appended (and 0) when the
     * upload is not encrypted. */
    int (*complete)(void *ctx, struct gz_slice bucket, struct gz_slice upload_headers,
                    const struct store_part *parts, int nparts, struct gz_buf *out);
    /* True if bucket may hold encrypted objects (its listing then needs plain_size). */
    bool (*bucket_sealed)(void *ctx, struct gz_slice bucket);
    /* The size a client sees for the object at key listed with stored size `stored`. */
    int64_t (*plain_size)(void *ctx, struct gz_slice bucket, struct gz_slice key, int64_t stored);
    /* Appends the plaintext [off, off + len) of the object read through rd (headers and
     * stored size: store_object_open's meta) to out. 1 (nothing read) if it is not
     * encrypted; GZ_ECORRUPT if it does not authenticate. */
    int (*read)(void *ctx, struct gz_slice headers, int64_t stored, struct store_reader *rd,
                int64_t off, int64_t len, struct gz_buf *out);
};

#endif
