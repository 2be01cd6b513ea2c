/*
 * sse.c - server-side encryption for the S3 handlers: what a request asks for (SSE-S3 with
 * AES256 or SM4, SSE-C, the bucket default), the encrypting writer a PUT streams through, the
 * decrypting view a GET reads through, and the bucket encryption configuration
 * (GET/PUT/DELETE ?encryption, kept as the bucket attribute "sse").
 *
 * The master key file is read per request (a few hundred bytes; see docs/encryption.md):
 * the service struct has no slot for a cached key ring yet.
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>

#include "../util/hash.h"
#include "sse_int.h"

#define SSE_ENV_MAX 256
#define SSE_XML_MAX 4096

/* ---- what a request asks for ---- */

static enum s3_err key_error(char *msg, size_t msgsz, const char *text)
{
    snprintf(msg, msgsz, "%s", text);
    return S3_ERR_INVALID_ARGUMENT;
}

enum s3_err s3__sse_key_request(struct s3_request *r, bool copy_source, struct s3__sse_req *q,
                                char *msg, size_t msgsz)
{
    const char *pre = copy_source ? "x-amz-copy-source-server-side-encryption-customer-"
                                  : "x-amz-server-side-encryption-customer-";
    char name[96];
    snprintf(name, sizeof(name), "%salgorithm", pre);
    struct gz_slice alg = s3_header(r, name);
    snprintf(name, sizeof(name), "%skey", pre);
    struct gz_slice key = s3_header(r, name);
    snprintf(name, sizeof(name), "%skey-MD5", pre);
    struct gz_slice md5 = s3_header(r, name);
    memset(q, 0, sizeof(*q));
    if (!alg.ptr && !key.ptr && !md5.ptr)
        return S3_OK;
    if (!r->svc->sse_c_over_http && !http_req_is_tls(r->req)) {
        /* the key has crossed the network in clear already; say so, use nothing of it */
        snprintf(msg, msgsz,
                 "Requests specifying Server Side Encryption with Customer provided keys must "
                 "be made over a secure connection.");
        return S3_ERR_INVALID_REQUEST;
    }
    if (!alg.ptr)
        return key_error(msg, msgsz,
                         "Requests specifying Server Side Encryption with Customer provided "
                         "keys must provide a valid encryption algorithm.");
    if (!gz_slice_eq_cstr(alg, "AES256")) {
        snprintf(msg, msgsz,
                 "The Encryption request you specified is not valid. Supported "
                 "value: AES256.");
        return S3_ERR_INVALID_ENCRYPTION_ALGORITHM;
    }
    if (!key.ptr)
        return key_error(msg, msgsz,
                         "Requests specifying Server Side Encryption with Customer provided "
                         "keys must provide an appropriate secret key.");
    uint8_t buf[64], digest[16];
    if (gz_base64_decode(buf, sizeof(buf), key) != SSE_KEY)
        return key_error(msg, msgsz, "The secret key was invalid for the specified algorithm.");
    if (!md5.ptr)
        return key_error(msg, msgsz,
                         "Requests specifying Server Side Encryption with Customer provided "
                         "keys must provide the client calculated MD5 of the secret key.");
    gz_md5(buf, SSE_KEY, digest);
    gz_base64_encode(q->ckey_md5, digest, sizeof(digest));
    if (!gz_slice_eq_cstr(md5, q->ckey_md5)) {
        OPENSSL_cleanse(buf, sizeof(buf));
        return key_error(msg, msgsz,
                         "The calculated MD5 hash of the key did not match the hash that was "
                         "provided.");
    }
    memcpy(q->ckey, buf, SSE_KEY);
    OPENSSL_cleanse(buf, sizeof(buf));
    q->alg = SSE_ALG_AES256;
    q->customer = true;
    return S3_OK;
}

/* The bucket's default algorithm (SSE_ALG_NONE if none). */
static enum s3__sse_alg bucket_default(struct s3_request *r, struct gz_slice bucket)
{
    struct gz_buf v;
    enum s3__sse_alg alg = SSE_ALG_NONE;
    gz_buf_init(&v, 0);
    if (store_bucket_attr_get(r->svc->store, bucket, SSE_ATTR, &v) == 0)
        alg = s3__sse_alg_from_name(gz_buf_slice(&v));
    gz_buf_free(&v);
    return alg;
}

enum s3_err s3__sse_write_request(struct s3_request *r, struct s3__sse_req *q, char *msg,
                                  size_t msgsz)
{
    struct gz_slice h = s3_header(r, "x-amz-server-side-encryption");
    enum s3_err e = s3__sse_key_request(r, false, q, msg, msgsz);
    if (e != S3_OK)
        return e;
    if (h.ptr && q->customer)
        return key_error(msg, msgsz,
                         "Server side encryption specified with both SSE-C and SSE-S3 headers");
    if (q->customer)
        return S3_OK;
    if (h.ptr == NULL) {
        q->alg = bucket_default(r, r->bucket);
        return S3_OK;
    }
    q->alg = s3__sse_alg_from_name(h);
    if (q->alg != SSE_ALG_NONE)
        return S3_OK;
    if (gz_slice_starts_with(h, "aws:kms")) {
        snprintf(msg, msgsz,
                 "Server-side encryption with AWS KMS (%.*s) is not supported; "
                 "use AES256 or SM4.",
                 (int)GZ_MIN(h.len, (size_t)32), h.ptr);
        return S3_ERR_NOT_IMPLEMENTED;
    }
    return key_error(msg, msgsz, "The encryption method specified is not supported");
}

/* ---- writing ---- */

struct s3__sse_put {
    struct store_writer *w;
    struct s3__sse_enc *enc;
    bool customer;
    uint8_t etag_key[32]; /* SSE-C: HMAC key for the ETag */
};

static int put_sink(void *ud, const uint8_t *p, size_t n)
{
    struct s3__sse_put *p_ = ud;
    return store_writer_write(p_->w, p, n);
}

/* A fresh data key wrapped for q into env. */
static enum s3_err new_data_key(struct s3_request *r, const struct s3__sse_req *q,
                                struct s3__sse_env *env, uint8_t dk[SSE_KEY])
{
    memset(env, 0, sizeof(*env));
    env->alg = q->alg;
    if (q->customer) {
        gz_random_bytes(dk, SSE_KEY);
        env->customer = true;
        s3__sse_env_mark(env, q->ckey);
        return s3__sse_env_wrap(env, q->ckey, dk) == 0 ? S3_OK : S3_ERR_INTERNAL_ERROR;
    }
    int rc = s3__sse_master_wrap(r->svc, env, dk);
    if (rc < 0) {
        log_error("request %s: SSE master key: %s", r->info->request_id, gz_strerror(rc));
        return S3_ERR_INTERNAL_ERROR;
    }
    return S3_OK;
}

/* The envelope and the headers S3 clients see (echoed on GET/HEAD from the stored ones). */
static int env_headers(const struct s3__sse_env *env, const struct s3__sse_req *q,
                       struct gz_buf *enc)
{
    char text[SSE_ENV_MAX];
    int rc = s3__sse_env_format(env, text, sizeof(text));
    if (rc == 0 && q->customer) {
        rc = store_headers_add(enc, GZ_SLICE_LIT("x-amz-server-side-encryption-customer-algorithm"),
                               GZ_SLICE_LIT("AES256"));
        if (rc == 0)
            rc = store_headers_add(enc,
                                   GZ_SLICE_LIT("x-amz-server-side-encryption-customer-key-MD5"),
                                   gz_slice_cstr(q->ckey_md5));
    } else if (rc == 0) {
        rc = store_headers_add(enc, GZ_SLICE_LIT("x-amz-server-side-encryption"),
                               gz_slice_cstr(s3__sse_alg_name(q->alg)));
    }
    if (rc == 0)
        rc = store_headers_add(enc, GZ_SLICE_LIT(SSE_HEADER), gz_slice_cstr(text));
    return rc;
}

enum s3_err s3__sse_put_begin(struct s3_request *r, const struct s3__sse_req *q, struct gz_buf *enc,
                              struct store_writer *w, struct s3__sse_put **out)
{
    struct s3__sse_env env;
    uint8_t dk[SSE_KEY];
    *out = NULL;
    enum s3_err e = new_data_key(r, q, &env, dk);
    if (e != S3_OK)
        return e;
    if (env_headers(&env, q, enc) < 0) {
        OPENSSL_cleanse(dk, sizeof(dk));
        return S3_ERR_METADATA_TOO_LARGE;
    }
    if (w == NULL) { /* CreateMultipartUpload: the envelope only */
        OPENSSL_cleanse(dk, sizeof(dk));
        return S3_OK;
    }
    s3__sse_mark_bucket(r, r->bucket);
    int rc = s3__sse_part_begin(q->alg, dk, q->customer, 0, w, out);
    OPENSSL_cleanse(dk, sizeof(dk));
    return rc < 0 ? S3_ERR_INTERNAL_ERROR : S3_OK;
}

int s3__sse_part_begin(enum s3__sse_alg alg, const uint8_t dk[SSE_KEY], bool customer,
                       int part, struct store_writer *w, struct s3__sse_put **out)
{
    static const char label[] = "gzy-sse-v1 etag";
    struct s3__sse_put *p = gz_calloc(1, sizeof(*p));
    p->w = w;
    p->customer = customer;
    if (customer)
        gz_hmac_sha256(dk, SSE_KEY, label, sizeof(label) - 1, p->etag_key);
    int rc = s3__sse_enc_new(alg, dk, (uint32_t)part, put_sink, p, &p->enc);
    if (rc < 0) {
        gz_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int s3__sse_put_write(struct s3__sse_put *p, const void *data, size_t n)
{
    return s3__sse_enc_write(p->enc, data, n);
}

int s3__sse_put_finish(struct s3__sse_put *p)
{
    return s3__sse_enc_finish(p->enc);
}

void s3__sse_put_etag(const struct s3__sse_put *p, const uint8_t md5[16], char out[33])
{
    uint8_t mac[32];
    if (p == NULL || !p->customer) {
        gz_hex_encode(out, md5, 16);
        return;
    }
    gz_hmac_sha256(p->etag_key, sizeof(p->etag_key), md5, 16, mac);
    gz_hex_encode(out, mac, 16);
}

void s3__sse_put_free(struct s3__sse_put *p)
{
    if (p == NULL)
        return;
    s3__sse_enc_free(p->enc);
    OPENSSL_cleanse(p, sizeof(*p));
    gz_free(p);
}

/* ---- reading ---- */

struct gz_slice s3__sse_stored_header(struct gz_slice headers, const char *want)
{
    size_t pos = 0;
    struct gz_slice n, v;
    while (store_headers_next(headers, &pos, &n, &v))
        if (gz_slice_case_eq_cstr(n, want))
            return v;
    return GZ_SLICE_NULL;
}

bool s3__sse_is_encrypted(struct gz_slice headers)
{
    return s3__sse_stored_header(headers, SSE_HEADER).ptr != NULL;
}

static enum s3_err unwrap_master(struct s3_request *r, const struct s3__sse_env *env,
                                 uint8_t dk[SSE_KEY])
{
    int rc = s3__sse_master_unwrap(r->svc, env, dk);
    if (rc < 0) {
        log_error("request %s: SSE: cannot unwrap the data key of %.*s/%.*s (master key %u): "
                  "%s",
                  r->info->request_id, (int)r->bucket.len, r->bucket.ptr, (int)r->key.len,
                  r->key.ptr, env->kid, gz_strerror(rc));
        return S3_ERR_INTERNAL_ERROR;
    }
    return S3_OK;
}

enum s3_err s3__sse_object_key(struct s3_request *r, struct gz_slice headers,
                               const struct s3__sse_req *q, enum s3__sse_alg *alg,
                               uint8_t dk[SSE_KEY], char *msg, size_t msgsz)
{
    struct gz_slice v = s3__sse_stored_header(headers, SSE_HEADER);
    struct s3__sse_env env;
    if (v.ptr == NULL) {
        if (!q->customer)
            return S3_OK;
        snprintf(msg, msgsz, "The encryption parameters are not applicable to this object.");
        return S3_ERR_INVALID_REQUEST;
    }
    if (s3__sse_env_parse(v, &env) < 0) {
        log_error("request %s: SSE: unparsable envelope on %.*s/%.*s", r->info->request_id,
                  (int)r->bucket.len, r->bucket.ptr, (int)r->key.len, r->key.ptr);
        return S3_ERR_INTERNAL_ERROR;
    }
    *alg = env.alg;
    if (!env.customer && q->customer) {
        snprintf(msg, msgsz, "The encryption parameters are not applicable to this object.");
        return S3_ERR_INVALID_REQUEST;
    }
    if (!env.customer)
        return unwrap_master(r, &env, dk);
    if (!q->customer) {
        snprintf(msg, msgsz,
                 "The object was stored using a form of Server Side Encryption. "
                 "The correct parameters must be provided to retrieve the object.");
        return S3_ERR_INVALID_REQUEST;
    }
    if (!s3__sse_env_matches(&env, q->ckey)) {
        snprintf(msg, msgsz,
                 "The provided encryption key does not match the key the object "
                 "was stored with.");
        return S3_ERR_ACCESS_DENIED;
    }
    if (s3__sse_env_unwrap(&env, q->ckey, dk) < 0) {
        log_error("request %s: SSE-C: the data key of %.*s/%.*s does not unwrap",
                  r->info->request_id, (int)r->bucket.len, r->bucket.ptr, (int)r->key.len,
                  r->key.ptr);
        return S3_ERR_INTERNAL_ERROR;
    }
    return S3_OK;
}

enum s3_err s3__sse_upload_key(struct s3_request *r, struct gz_slice upload_headers,
                               struct s3__sse_key *key, char *msg, size_t msgsz)
{
    struct s3__sse_req q;
    key->alg = SSE_ALG_NONE;
    enum s3_err e = s3__sse_key_request(r, false, &q, msg, msgsz);
    if (e == S3_OK)
        e = s3__sse_object_key(r, upload_headers, &q, &key->alg, key->key, msg, msgsz);
    key->customer = q.customer;
    OPENSSL_cleanse(&q, sizeof(q));
    if (e != S3_OK)
        key->alg = SSE_ALG_NONE;
    return e;
}

void s3__sse_mark_bucket(struct s3_request *r, struct gz_slice bucket)
{
    if (s3__sse_bucket_used(r, bucket))
        return;
    struct gz_slice one = GZ_SLICE_LIT("1");
    int rc = store_bucket_attr_set(r->svc->store, bucket, SSE_ATTR_USED, &one);
    if (rc < 0)
        log_warn("request %s: SSE: cannot mark bucket: %s", r->info->request_id, gz_strerror(rc));
}

bool s3__sse_bucket_used(struct s3_request *r, struct gz_slice bucket)
{
    struct gz_buf v;
    gz_buf_init(&v, 0);
    bool used = store_bucket_attr_get(r->svc->store, bucket, SSE_ATTR_USED, &v) == 0;
    gz_buf_free(&v);
    return used;
}

void s3__sse_resp_headers(struct s3_request *r, struct gz_slice enc)
{
    static const char *const names[] = {
        "x-amz-server-side-encryption",
        "x-amz-server-side-encryption-customer-algorithm",
        "x-amz-server-side-encryption-customer-key-MD5",
    };
    for (size_t i = 0; i < GZ_ARRAY_LEN(names); i++) {
        struct gz_slice v = s3__sse_stored_header(enc, names[i]);
        if (v.ptr)
            http_resp_header(r->req, names[i], v);
    }
}

/* ---- bucket default encryption ---- */

void s3__bucket_encryption_get(struct s3_request *r)
{
    enum s3_err e = s3__bucket_access(r, r->bucket, NULL);
    enum s3__sse_alg alg = e == S3_OK ? bucket_default(r, r->bucket) : SSE_ALG_NONE;
    if (e == S3_OK && alg == SSE_ALG_NONE)
        e = S3_ERR_NO_SSE_CONFIG;
    if (e != S3_OK) {
        s3_reply_error(r, e, NULL);
        return;
    }
    struct gz_buf x;
    gz_buf_init(&x, SSE_XML_MAX);
    s3_xml_begin(&x, "ServerSideEncryptionConfiguration");
    s3__xml_open(&x, "Rule");
    s3__xml_open(&x, "ApplyServerSideEncryptionByDefault");
    s3_xml_elem(&x, "SSEAlgorithm", gz_slice_cstr(s3__sse_alg_name(alg)));
    s3__xml_close(&x, "ApplyServerSideEncryptionByDefault");
    s3_xml_elem(&x, "BucketKeyEnabled", GZ_SLICE_LIT("false"));
    s3__xml_close(&x, "Rule");
    s3_xml_end(&x, "ServerSideEncryptionConfiguration");
    s3_reply_xml(r, 200, &x);
    gz_buf_free(&x);
}

/* The one rule's algorithm: MalformedXML outside the schema, NotImplemented for KMS. */
static enum s3_err encryption_parse(struct s3_request *r, struct gz_slice body,
                                    enum s3__sse_alg *alg, char *msg, size_t msgsz)
{
    struct s3_xml_node *root = NULL;
    enum s3_err e = s3_xml_parse(r, body, &root);
    if (e != S3_OK)
        return e;
    struct s3_xml_node *rule = NULL, *def = NULL, *a = NULL;
    if (gz_slice_eq_cstr(root->name, "ServerSideEncryptionConfiguration"))
        rule = s3_xml_child(root, "Rule");
    if (rule)
        def = s3_xml_child(rule, "ApplyServerSideEncryptionByDefault");
    if (def)
        a = s3_xml_child(def, "SSEAlgorithm");
    if (a == NULL || (rule->next && gz_slice_eq_cstr(rule->next->name, "Rule")))
        return S3_ERR_MALFORMED_XML;
    *alg = s3__sse_alg_from_name(a->text);
    if (*alg != SSE_ALG_NONE)
        return S3_OK;
    if (gz_slice_starts_with(a->text, "aws:kms")) {
        snprintf(msg, msgsz,
                 "Server-side encryption with AWS KMS is not supported; use AES256 "
                 "or SM4.");
        return S3_ERR_NOT_IMPLEMENTED;
    }
    return S3_ERR_MALFORMED_XML;
}

static void encryption_put_body(struct s3_request *r, enum s3_err err, struct gz_slice body)
{
    char msg[256] = "";
    enum s3__sse_alg alg = SSE_ALG_NONE;
    enum s3_err e = err;
    if (e == S3_OK)
        e = encryption_parse(r, body, &alg, msg, sizeof(msg));
    if (e == S3_OK) {
        struct gz_slice v = gz_slice_cstr(s3__sse_alg_name(alg));
        int rc = store_bucket_attr_set(r->svc->store, r->bucket, SSE_ATTR, &v);
        if (rc < 0) {
            s3__reply_store_error(r, rc, "put bucket encryption");
            return;
        }
        s3_reply_empty(r, 200);
        return;
    }
    s3_reply_error(r, e, msg[0] ? msg : NULL);
}

void s3__bucket_encryption_put(struct s3_request *r)
{
    enum s3_err e = s3__bucket_access(r, r->bucket, NULL);
    if (e != S3_OK) {
        s3_reply_error(r, e, NULL);
        return;
    }
    s3_read_small_body(r, SSE_XML_MAX, encryption_put_body);
}

void s3__bucket_encryption_delete(struct s3_request *r)
{
    enum s3_err e = s3__bucket_access(r, r->bucket, NULL);
    if (e != S3_OK) {
        s3_reply_error(r, e, NULL);
        return;
    }
    int rc = store_bucket_attr_set(r->svc->store, r->bucket, SSE_ATTR, NULL);
    if (rc < 0 && rc != -ENOENT) {
        s3__reply_store_error(r, rc, "delete bucket encryption");
        return;
    }
    s3_reply_empty(r, 204);
}
