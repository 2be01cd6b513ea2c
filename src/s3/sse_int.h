/*
 * sse_int.h - server-side encryption at rest (private to src/s3, plus `gzy sse rotate`).
 * docs/encryption.md describes the format; in short:
 *
 *   body   = header(16) segment*        header = "GZE1" | nonce prefix (8) | part (be32)
 *   segment = AEAD(data key, nonce = prefix | be32(index), aad = header | final flag,
 *                  up to SSE_SEG plaintext bytes) | tag (16)
 *
 * Every body (a simple object, or one part of a multipart object) carries its own header and
 * numbers its segments from 0; the last segment is sealed with the final flag, so truncation,
 * reordering and splicing fail authentication. The per-object random 256-bit data key is
 * wrapped (AES-256-GCM) by a master key from DATA/sse.keys (SSE-S3, SM4) or by the customer's
 * key (SSE-C), and kept in the object's stored headers (x-gzy-sse) with the algorithm.
 *
 * Threading: nothing here is shared; each context belongs to one request (one thread).
 */
#ifndef GZ_S3_SSE_INT_H
#define GZ_S3_SSE_INT_H

#include "s3_obj_int.h"
#include "sse.h"

#define SSE_SEG (64 * 1024) /* plaintext bytes per segment */
#define SSE_TAG 16
#define SSE_HDR 16
#define SSE_KEY 32
#define SSE_HEADER "x-gzy-sse" /* stored header: the envelope */
#define SSE_ATTR S3_SSE_BUCKET_ATTR /* bucket attribute: default algorithm name */
#define SSE_KEYS_FILE "sse.keys"

enum s3__sse_alg {
    SSE_ALG_NONE = 0,
    SSE_ALG_AES256, /* AES-256-GCM */
    SSE_ALG_SM4,    /* SM4-GCM (128-bit key: the data key's first half) */
};

const char *s3__sse_alg_name(enum s3__sse_alg alg); /* "AES256", "SM4", "" */
enum s3__sse_alg s3__sse_alg_from_name(struct gz_slice name);

/* ---- AEAD (sse_crypto.c) ---- */

/* One key, many messages. AES-256-GCM through OpenSSL; SM4-GCM built here from SM4-ECB
 * (OpenSSL 3.0 has no SM4-GCM): CTR mode and GHASH per NIST SP 800-38D. For tests,
 * key_len 16 with SSE_ALG_AES256 selects AES-128 (both GCMs then compare). */
struct s3__aead {
    enum s3__sse_alg alg;
    void *ctx;               /* EVP_CIPHER_CTX *: AES-GCM, or the block cipher in ECB mode */
    void *ctr;               /* EVP_CIPHER_CTX *: the block cipher in CTR mode, when generic */
    bool generic;            /* GCM built here from the block cipher */
    uint64_t h[2];           /* GHASH key H, bit k = coefficient of x^k, when generic */
    bool clmul;              /* GHASH by PCLMULQDQ (the CPU has it); else the portable
                              * constant-time multiply. Tests clear it to check that path. */
};
int s3__aead_init(struct s3__aead *a, enum s3__sse_alg alg, const uint8_t *key, size_t key_len);
void s3__aead_free(struct s3__aead *a); /* idempotent */
/* Generic GCM over AES as well (tests compare it with OpenSSL's AES-GCM). */
int s3__aead_init_generic(struct s3__aead *a, const uint8_t *key, size_t key_len, bool sm4);
/* 12-byte iv; out may equal in. 0, or -EIO. */
int s3__aead_seal(struct s3__aead *a, const uint8_t iv[12], const uint8_t *aad, size_t aad_len,
                  const uint8_t *in, size_t n, uint8_t *out, uint8_t tag[SSE_TAG]);
/* 0, or GZ_ECORRUPT when the tag does not verify (out is then garbage). */
int s3__aead_open(struct s3__aead *a, const uint8_t iv[12], const uint8_t *aad, size_t aad_len,
                  const uint8_t *in, size_t n, uint8_t *out, const uint8_t tag[SSE_TAG]);

/* ---- the segment format (sse_crypto.c) ---- */

/* Stored bytes of a body of `plain` bytes, and the inverse (-1 if no body has that size). */
int64_t s3__sse_stored_size(int64_t plain);
int64_t s3__sse_plain_size(int64_t stored);

/* Seals a body as it streams: writes to fn(ud, bytes). */
typedef int (*s3__sse_sink)(void *ud, const uint8_t *p, size_t n);
struct s3__sse_enc;
int s3__sse_enc_new(enum s3__sse_alg alg, const uint8_t key[SSE_KEY], uint32_t part,
                    s3__sse_sink sink, void *ud, struct s3__sse_enc **out);
int s3__sse_enc_write(struct s3__sse_enc *e, const void *p, size_t n);
int s3__sse_enc_finish(struct s3__sse_enc *e); /* seals the final segment */
int64_t s3__sse_enc_plain(const struct s3__sse_enc *e);
void s3__sse_enc_free(struct s3__sse_enc *e); /* NULL-safe */

/* Opens the segments of one body of stored size `stored` read through fetch(ud, off, buf, n)
 * (reads exactly n bytes at off within the body, or fails). */
typedef int (*s3__sse_fetch)(void *ud, int64_t off, uint8_t *buf, size_t n);
struct s3__sse_dec;
int s3__sse_dec_new(enum s3__sse_alg alg, const uint8_t key[SSE_KEY], int64_t stored,
                    s3__sse_fetch fetch, void *ud, struct s3__sse_dec **out);
/* Decrypts segment idx; *plain points into the context until the next call. GZ_ECORRUPT. */
int s3__sse_dec_segment(struct s3__sse_dec *d, int64_t idx, struct gz_slice *plain);
int64_t s3__sse_dec_plain(const struct s3__sse_dec *d);
void s3__sse_dec_free(struct s3__sse_dec *d); /* NULL-safe */

/* ---- master keys (sse_keys.c): lines "<id> <64 hex>", the last current, in DATA/sse.keys
 * or the file s3_sse_key_file_set named (s3.h); DATA/sse.keycheck records a check value of
 * each key the folder's objects may use (docs/encryption.md, "The master key file") ---- */

#define SSE_MAX_KEYS 64
struct s3__sse_keyring {
    int n;
    uint32_t id[SSE_MAX_KEYS];
    uint8_t key[SSE_MAX_KEYS][SSE_KEY];
};
/* The key file's path for data_dir: s3_sse_key_file_set's, else DATA/sse.keys. */
int s3__sse_keys_path(const char *data_dir, char *out, size_t outsz);
/* Does the file at path lie inside data_dir (true when that cannot be resolved)? */
bool s3__sse_keys_inside(const char *data_dir, const char *path);
/* Loads the key file, creating it (mode 0600, one random key, id 1) when create is set, it
 * does not exist and DATA/sse.keycheck lists no key. -ENOENT (without create, or when the
 * check file lists keys: never a new file for objects sealed under a missing one);
 * GZ_ECORRUPT if unparsable; -EPERM if group or others may access it; -ENOKEY if it lacks a
 * key the check file lists, -EKEYREJECTED if it holds another key under that id. */
int s3__sse_keys_load(const char *data_dir, bool create, struct s3__sse_keyring *kr);
/* Appends a new random key (id = last + 1), rewrites the file atomically and adds the key to
 * the check file (before any object may use it). */
int s3__sse_keys_add(const char *data_dir, struct s3__sse_keyring *kr);
/* After a complete rotation (offline): the check file lists only the current key and the keys
 * pending multipart uploads still use, so the older keys may leave the key file. */
int s3__sse_keys_retire(struct store *s);
const uint8_t *s3__sse_keys_find(const struct s3__sse_keyring *kr, uint32_t id);
/* The service's copy of the key file, read (and with create, created) on first use and kept:
 * the file changes only offline (`gzy sse rotate` refuses while a server holds the folder),
 * so requests do no file I/O on the loop thread. Copies the ring into kr (wipe it after). */
struct s3__sse_cache *s3__sse_cache_new(void);
void s3__sse_cache_free(struct s3__sse_cache *c); /* NULL-safe; wipes the keys */
int s3__sse_keys_cached(struct s3_service *svc, bool create, struct s3__sse_keyring *kr);
void s3__sse_keys_wipe(struct s3__sse_keyring *kr);
struct s3__sse_env;
/* A fresh random data key in dk, wrapped into env (its alg set by the caller) under the
 * service's current master key (the key file created on first use). 0 or the key file's
 * error; the caller logs. */
int s3__sse_master_wrap(struct s3_service *svc, struct s3__sse_env *env, uint8_t dk[SSE_KEY]);
/* The data key env holds, unwrapped with the master key it names: 0, -ENOKEY (no such key
 * in the file), GZ_ECORRUPT (does not authenticate) or the key file's error. */
int s3__sse_master_unwrap(struct s3_service *svc, const struct s3__sse_env *env,
                          uint8_t dk[SSE_KEY]);

/* ---- the envelope (sse_keys.c): the x-gzy-sse header value ----
 * "v=1;a=<alg>;k=<master id | c>;w=<b64 nonce|wrapped key|tag>[;s=<b64 salt>;h=<b64 hmac>]"
 * k=c: SSE-C, the data key wrapped by the customer's key; s/h recognise that key. */
struct s3__sse_env {
    enum s3__sse_alg alg;
    bool customer;
    uint32_t kid;
    uint8_t wrapped[12 + SSE_KEY + SSE_TAG];
    uint8_t salt[16];
    uint8_t mac[32];
};
int s3__sse_env_parse(struct gz_slice v, struct s3__sse_env *env); /* 0 or -EINVAL */
int s3__sse_env_format(const struct s3__sse_env *env, char *out, size_t outsz);
/* Wraps dk under wrap_key (the master key or the customer key) into env->wrapped. */
int s3__sse_env_wrap(struct s3__sse_env *env, const uint8_t wrap_key[SSE_KEY],
                     const uint8_t dk[SSE_KEY]);
/* 0, or GZ_ECORRUPT if it does not authenticate. */
int s3__sse_env_unwrap(const struct s3__sse_env *env, const uint8_t wrap_key[SSE_KEY],
                       uint8_t dk[SSE_KEY]);
/* SSE-C: fills salt and mac (HMAC-SHA256(customer key, salt)) / checks them. */
void s3__sse_env_mark(struct s3__sse_env *env, const uint8_t ckey[SSE_KEY]);
bool s3__sse_env_matches(const struct s3__sse_env *env, const uint8_t ckey[SSE_KEY]);

/* ---- requests (sse.c) ---- */

/* What a request asks for. */
struct s3__sse_req {
    enum s3__sse_alg alg; /* NONE: no encryption asked */
    bool customer;        /* SSE-C: ckey holds the customer's key */
    uint8_t ckey[SSE_KEY];
    char ckey_md5[25]; /* base64 of MD5(ckey) */
};

/* A write (PutObject, CreateMultipartUpload, copy destination): x-amz-server-side-encryption
 * or the SSE-C headers, else the bucket's default. Errors as AWS words them. */
enum s3_err s3__sse_write_request(struct s3_request *r, struct s3__sse_req *q, char *msg,
                                  size_t msgsz);
/* SSE-C headers of a read (GET/HEAD/UploadPart) or, with copy_source, of a copy source
 * (x-amz-copy-source-server-side-encryption-customer-*). q->alg NONE if absent. */
enum s3_err s3__sse_key_request(struct s3_request *r, bool copy_source, struct s3__sse_req *q,
                                char *msg, size_t msgsz);

/* A new encrypted body: makes a data key, wraps it, appends the envelope and the
 * x-amz-server-side-encryption* headers to enc. The encryptor writes into w. */
struct s3__sse_put;
enum s3_err s3__sse_put_begin(struct s3_request *r, const struct s3__sse_req *q, struct gz_buf *enc,
                              struct store_writer *w, struct s3__sse_put **out);
int s3__sse_put_write(struct s3__sse_put *p, const void *data, size_t n);
int s3__sse_put_finish(struct s3__sse_put *p);
void s3__sse_put_free(struct s3__sse_put *p); /* NULL-safe */

/* Is the stored object encrypted? (its headers carry the envelope) */
bool s3__sse_is_encrypted(struct gz_slice headers);
/* The data key of a stored object: checks the request's SSE-C key (q) against it.
 * InvalidRequest if the object needs a key that q lacks or q has one the object does not
 * use, AccessDenied for a wrong key, InternalError (logged) if the envelope is bad. */
enum s3_err s3__sse_object_key(struct s3_request *r, struct gz_slice headers,
                               const struct s3__sse_req *q, enum s3__sse_alg *alg,
                               uint8_t dk[SSE_KEY], char *msg, size_t msgsz);

/* The encryptor of one part of an encrypted multipart upload (its own header and segment
 * numbering); dk from s3__sse_object_key on the upload's headers. */
int s3__sse_part_begin(enum s3__sse_alg alg, const uint8_t dk[SSE_KEY], bool customer,
                       int part, struct store_writer *w, struct s3__sse_put **out);
/* The ETag of a body written through p (NULL: not encrypted) whose plaintext MD5 is md5:
 * its hex, except for SSE-C, where (as on AWS) it is not the MD5 (which would let anyone who
 * can list the bucket test guesses at the content) but an HMAC of it under a key derived
 * from the object's data key: stable for the object, unlinkable across objects. */
void s3__sse_put_etag(const struct s3__sse_put *p, const uint8_t md5[16], char out[33]);
struct gz_slice s3__sse_stored_header(struct gz_slice headers, const char *name);

/* The data key of a multipart upload (from its stored headers) for UploadPart and
 * UploadPartCopy, checking the request's SSE-C headers as GET does. key->alg NONE: the
 * upload is not encrypted. */
struct s3__sse_key {
    enum s3__sse_alg alg;
    bool customer;
    uint8_t key[SSE_KEY];
};
enum s3_err s3__sse_upload_key(struct s3_request *r, struct gz_slice upload_headers,
                               struct s3__sse_key *key, char *msg, size_t msgsz);

/* ---- reading (sse_layout.c) ----
 * A completed encrypted multipart object is the concatenation of its parts' bodies; its
 * headers carry their layout (SSE_PARTS_HEADER: "first-last:stored size" runs, ',' joined,
 * in object order), written at completion. */
#define SSE_PARTS_HEADER "x-gzy-sse-parts"
/* parts: as CompleteMultipartUpload validated them, sizes in plaintext. */
int s3__sse_parts_format(const struct store_part *parts, int n, struct gz_buf *out);

/* A decrypting view of an encrypted object read through rd (not owned): the whole object
 * (part 0; stored = its stored size) or, for partNumber reads, the one part rd covers
 * (stored = that part's stored size). A NULL *out with S3_OK: the object is not encrypted
 * (and q asked for no key). Key errors as s3__sse_object_key. */
struct s3__sse_get;
enum s3_err s3__sse_get_open(struct s3_request *r, struct gz_slice headers, int64_t stored,
                             struct store_reader *rd, const struct s3__sse_req *q, int part,
                             struct s3__sse_get **out, char *msg, size_t msgsz);
int64_t s3__sse_get_size(const struct s3__sse_get *g);   /* plaintext bytes rd covers */
int64_t s3__sse_get_total(const struct s3__sse_get *g);  /* the whole object's plaintext */
int64_t s3__sse_get_offset(const struct s3__sse_get *g); /* of the part, in the object */
/* Plaintext [pos, pos + max) clipped to one segment: *out valid until the next call.
 * GZ_ECORRUPT on tampering (logged by the caller). */
int s3__sse_get_read(struct s3__sse_get *g, int64_t pos, int64_t max, struct gz_slice *out);
void s3__sse_get_free(struct s3__sse_get *g); /* NULL-safe */

/* CopyObject when the source is encrypted, SSE-C source headers were given, or the
 * destination is to be encrypted (sse_copy.c): the bytes pass through, re-sealed under a new
 * data key. Replies itself. headers: the destination's (any SSE ones are dropped; dst_q's
 * are added), copied before return. */
struct s3__sse_copy_args {
    struct gz_slice src_bucket, src_key;
    const char *src_etag;            /* the version checked; another one is SlowDown */
    const struct s3__sse_req *src_q; /* x-amz-copy-source-server-side-encryption-customer-* */
    const struct s3__sse_req *dst_q;
    struct gz_slice headers;
};
void s3__sse_copy_object(struct s3_request *r, const struct s3__sse_copy_args *a);

/* Encrypted objects are stored larger than their plaintext; ListObjects shows the plaintext
 * size. A bucket that ever received an encrypted object carries the attribute SSE_ATTR_USED
 * (set once, by s3__sse_mark_bucket); only in such a bucket does a listing stat its keys. */
#define SSE_ATTR_USED "sse-used"
void s3__sse_mark_bucket(struct s3_request *r, struct gz_slice bucket);
bool s3__sse_bucket_used(struct s3_request *r, struct gz_slice bucket);
/* The size a client sees for the object at key whose stored size is `stored`. */
int64_t s3__sse_object_size(struct s3_request *r, struct gz_slice bucket, struct gz_slice key,
                            int64_t stored);
/* The same, for callers without a request (sse_seal.c). */
int64_t s3__sse_store_object_size(struct store *s, struct gz_slice bucket, struct gz_slice key,
                                  int64_t stored);

/* The x-amz-server-side-encryption* response headers for stored headers enc (PUT, copy,
 * multipart replies; GET/HEAD get them through s3_meta_to_response). */
void s3__sse_resp_headers(struct s3_request *r, struct gz_slice enc);

/* Bucket default encryption (GET/PUT/DELETE ?encryption). */
void s3__bucket_encryption_get(struct s3_request *r);
void s3__bucket_encryption_put(struct s3_request *r);
void s3__bucket_encryption_delete(struct s3_request *r);

/* Re-wraps every object's data key under the newest master key (gzy sse rotate). Offline.
 * *count gets the number of objects re-wrapped. */
int s3__sse_rotate(const char *data_dir, int64_t *count, char *msg, size_t msgsz);

#endif
