/*
 * test_auth.c - hashing (util/hash.c), SigV4 and SigV2 verification against AWS's published
 * examples, presigned URLs, and the streaming payload verifier (aws-chunked, trailers,
 * checksums, Content-MD5).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "s3/auth.h"
#include "s3/auth_int.h"
#include "tap.h"

#define AKID "AKIAIOSFODNN7EXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define CRED_2013 "Credential=" AKID "/20130524/us-east-1/s3/aws4_request"

static struct iam *g_iam;
static int64_t t2013; /* 20130524T000000Z */

/* ---- request scaffolding ---- */

struct treq {
    struct http_req_info info;
    struct http_header h[48];
};

/* kv: name, value, name, value, ..., NULL */
static void treq_init(struct treq *r, const char *method, const char *target, const char *const *kv)
{
    memset(r, 0, sizeof(*r));
    r->info.method = gz_slice_cstr(method);
    r->info.target = gz_slice_cstr(target);
    const char *q = strchr(target, '?');
    r->info.path = q ? gz_slice(target, (size_t)(q - target)) : gz_slice_cstr(target);
    r->info.query = q ? gz_slice_cstr(q + 1) : gz_slice(target + strlen(target), 0);
    size_t n = 0;
    for (; kv && kv[2 * n]; n++) {
        r->h[n].name = gz_slice_cstr(kv[2 * n]);
        r->h[n].value = gz_slice_cstr(kv[2 * n + 1]);
    }
    r->info.headers = r->h;
    r->info.nheaders = n;
    r->info.content_length = -1;
}

static enum s3_err verify(struct treq *r, const char *vhost, int64_t now, struct s3_auth *a,
                          char *msg)
{
    return s3_auth_verify(g_iam, &r->info, gz_slice_cstr(vhost), now, a, msg, 256);
}

struct sink {
    size_t n;
    struct gz_hash md5;
};

static int sink_emit(void *ud, struct gz_slice d)
{
    struct sink *s = ud;
    s->n += d.len;
    gz_hash_update(&s->md5, d.ptr, d.len);
    return 0;
}

/* Feeds body in pieces of `step` bytes (0 = all at once), then finishes. */
static enum s3_err run_payload(const struct s3_auth *a, struct treq *r, const char *body,
                               size_t len, size_t step, struct sink *s, char *msg,
                               struct s3_payload **keep)
{
    struct s3_payload *p = NULL;
    enum s3_err e = s3_payload_new(a, &r->info, &p, msg, 256);
    s->n = 0;
    gz_hash_init(&s->md5, GZ_HASH_MD5);
    for (size_t off = 0; e == S3_OK && off < len;) {
        size_t n = step == 0 ? len - off : GZ_MIN(step, len - off);
        e = s3_payload_feed(p, gz_slice(body + off, n), sink_emit, s);
        off += n;
    }
    if (e == S3_OK)
        e = s3_payload_finish(p, msg, 256);
    if (keep != NULL && e == S3_OK)
        *keep = p;
    else
        s3_payload_free(p);
    gz_hash_dispose(&s->md5);
    return e;
}

static void hexof(const uint8_t *b, size_t n, char *out)
{
    gz_hex_encode(out, b, n);
}

/* ---- hashing ---- */

static void digest_hex(enum gz_hash_alg alg, const char *s, char *out)
{
    struct gz_hash h;
    uint8_t d[GZ_HASH_MAX_LEN];
    gz_hash_init(&h, alg);
    /* Two updates: streaming must equal one-shot. */
    gz_hash_update(&h, s, strlen(s) / 2);
    gz_hash_update(&h, s + strlen(s) / 2, strlen(s) - strlen(s) / 2);
    gz_hash_final(&h, d);
    hexof(d, gz_hash_len(alg), out);
}

static void t_hash_vectors(void)
{
    char hex[2 * GZ_HASH_MAX_LEN + 1];
    digest_hex(GZ_HASH_CRC32, "123456789", hex);
    TAP_OK(strcmp(hex, "cbf43926") == 0, "crc32 check value %s", hex);
    digest_hex(GZ_HASH_CRC32C, "123456789", hex);
    TAP_OK(strcmp(hex, "e3069283") == 0, "crc32c check value %s", hex);
    digest_hex(GZ_HASH_CRC64NVME, "123456789", hex);
    TAP_OK(strcmp(hex, "ae8b14860a799888") == 0, "crc64nvme check value %s", hex);
    digest_hex(GZ_HASH_MD5, "abc", hex);
    TAP_OK(strcmp(hex, "900150983cd24fb0d6963f7d28e17f72") == 0, "md5 abc");
    digest_hex(GZ_HASH_SHA1, "abc", hex);
    TAP_OK(strcmp(hex, "a9993e364706816aba3e25717850c26c9cd0d89d") == 0, "sha1 abc");
    digest_hex(GZ_HASH_SHA256, "abc", hex);
    TAP_OK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0,
           "sha256 abc");
    uint8_t mac[32];
    const char *msg = "what do ya want for nothing?";
    gz_hmac_sha256("Jefe", 4, msg, strlen(msg), mac);
    hexof(mac, 32, hex);
    TAP_OK(strcmp(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843") == 0,
           "hmac-sha256 RFC 4231 case 2");
    gz_hmac_sha1("Jefe", 4, msg, strlen(msg), mac);
    hexof(mac, 20, hex);
    TAP_OK(strcmp(hex, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79") == 0,
           "hmac-sha1 RFC 2202 case 2");
    digest_hex(GZ_HASH_CRC32, "", hex);
    TAP_OK(strcmp(hex, "00000000") == 0, "crc32 of nothing");
    digest_hex(GZ_HASH_CRC64NVME, "", hex);
    TAP_OK(strcmp(hex, "0000000000000000") == 0, "crc64nvme of nothing");
}

/* Byte-at-a-time updates across every alignment must equal one bulk update. */
static void t_hash_streaming(void)
{
    enum gz_hash_alg algs[] = {GZ_HASH_CRC32,  GZ_HASH_CRC32C, GZ_HASH_CRC64NVME,
                               GZ_HASH_SHA256, GZ_HASH_MD5,    GZ_HASH_SHA1};
    size_t n = 10007;
    uint8_t *buf = gz_malloc(n);
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)(i * 131 + (i >> 7));
    for (size_t k = 0; k < GZ_ARRAY_LEN(algs); k++) {
        struct gz_hash a, b;
        uint8_t da[GZ_HASH_MAX_LEN], db[GZ_HASH_MAX_LEN];
        gz_hash_init(&a, algs[k]);
        gz_hash_init(&b, algs[k]);
        gz_hash_update(&a, buf, n);
        for (size_t off = 0, step = 1; off < n; off += step, step = step % 13 + 1)
            gz_hash_update(&b, buf + off, GZ_MIN(step, n - off));
        gz_hash_final(&a, da);
        gz_hash_final(&b, db);
        TAP_OK(memcmp(da, db, gz_hash_len(algs[k])) == 0, "%s streams consistently",
               gz_hash_alg_name(algs[k]));
    }
    gz_free(buf);
}

static void t_hash_names(void)
{
    TAP_OK(gz_hash_alg_from_name(GZ_SLICE_LIT("crc64nvme")) == GZ_HASH_CRC64NVME, "crc64nvme");
    TAP_OK(gz_hash_alg_from_name(GZ_SLICE_LIT("CRC32C")) == GZ_HASH_CRC32C, "CRC32C");
    TAP_OK(gz_hash_alg_from_name(GZ_SLICE_LIT("Sha256")) == GZ_HASH_SHA256, "Sha256");
    TAP_OK(gz_hash_alg_from_name(GZ_SLICE_LIT("MD5")) == GZ_HASH_NONE, "MD5 is no S3 checksum");
    TAP_OK(gz_hash_alg_from_name(GZ_SLICE_LIT("crc")) == GZ_HASH_NONE, "unknown name");
    TAP_OK(gz_hash_len(GZ_HASH_CRC64NVME) == 8 && gz_hash_len(GZ_HASH_SHA1) == 20, "lengths");
    TAP_OK(strcmp(gz_hash_alg_name(GZ_HASH_CRC32), "CRC32") == 0, "name");
    TAP_OK(gz_consttime_eq("abc", 3, "abc", 3) && !gz_consttime_eq("abc", 3, "abd", 3) &&
               !gz_consttime_eq("abc", 3, "ab", 2),
           "constant-time compare");
    struct gz_hash h;
    gz_hash_init(&h, GZ_HASH_SHA256);
    gz_hash_dispose(&h);
    gz_hash_dispose(&h);
    TAP_OK(h.evp == NULL, "dispose is idempotent");
}

/* ---- SigV4: AWS's single-chunk examples ---- */

static void t_sigv4_get_object(void)
{
    static const char *const kv[] = {
        "Host",
        "examplebucket.s3.amazonaws.com",
        "Range",
        "bytes=0-9",
        "x-amz-content-sha256",
        EMPTY_SHA,
        "x-amz-date",
        "20130524T000000Z",
        "Authorization",
        "AWS4-HMAC-SHA256 " CRED_2013 ",SignedHeaders=host;range;"
        "x-amz-content-sha256;x-amz-date,Signature="
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
        NULL};
    struct treq r;
    struct s3_auth a;
    char msg[256];
    treq_init(&r, "GET", "/test.txt", kv);

    struct gz_buf canon;
    gz_buf_init(&canon, 65536);
    int rc = s3_sigv4_canonical_request(
        &canon, r.info.method, r.info.path, r.info.query, r.info.headers, r.info.nheaders,
        GZ_SLICE_LIT("host;range;x-amz-content-sha256;x-amz-date"), GZ_SLICE_LIT(EMPTY_SHA), false);
    gz_buf_terminate(&canon);
    const char *want = "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
                       "x-amz-content-sha256:" EMPTY_SHA "\nx-amz-date:20130524T000000Z\n\n"
                       "host;range;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA;
    TAP_OK(rc == 0 && strcmp(canon.ptr, want) == 0, "canonical request as documented");
    uint8_t key[32], d[32];
    char sig[65], hex[65];
    gz_sha256(canon.ptr, canon.len, d);
    hexof(d, 32, hex);
    TAP_OK(strcmp(hex, "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972") == 0,
           "canonical request hash %s", hex);
    s3_sigv4_signing_key(SECRET, GZ_SLICE_LIT("20130524"), GZ_SLICE_LIT("us-east-1"),
                         GZ_SLICE_LIT("s3"), key);
    s3_sigv4_sign(key, GZ_SLICE_LIT("20130524T000000Z"),
                  GZ_SLICE_LIT("20130524/us-east-1/s3/aws4_request"), gz_buf_slice(&canon), sig);
    TAP_OK(strcmp(sig, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41") == 0,
           "signature %s", sig);
    gz_buf_free(&canon);

    enum s3_err e = verify(&r, "", t2013 + 60, &a, msg);
    TAP_OK(e == S3_OK && a.version == 4 && !a.anonymous && !a.presigned, "verifies (%d %s)", e,
           msg);
    TAP_OK(a.payload == S3_PAYLOAD_SHA256 && strcmp(a.principal.access_key, AKID) == 0,
           "payload mode and principal");
    TAP_OK(strcmp(a.scope, "20130524/us-east-1/s3/aws4_request") == 0 &&
               strcmp(a.amz_date, "20130524T000000Z") == 0,
           "scope and date kept for chunk signing");

    r.h[1].value = GZ_SLICE_LIT("bytes=0-10");
    e = verify(&r, "", t2013, &a, msg);
    TAP_OK(e == S3_ERR_SIGNATURE_DOES_NOT_MATCH, "changed signed header -> SignatureDoesNotMatch");
    TAP_OK(a.principal.secret_key[0] == '\0', "failure leaves no secret in out");
    r.h[1].value = GZ_SLICE_LIT("bytes=0-9");
    e = verify(&r, "", t2013 + 16 * 60, &a, msg);
    TAP_OK(e == S3_ERR_REQUEST_TIME_TOO_SKEWED, "16 minutes late -> RequestTimeTooSkewed");
    e = verify(&r, "", t2013 - 16 * 60, &a, msg);
    TAP_OK(e == S3_ERR_REQUEST_TIME_TOO_SKEWED, "16 minutes early -> RequestTimeTooSkewed");
    e = verify(&r, "", t2013 + 14 * 60, &a, msg);
    TAP_OK(e == S3_OK, "14 minutes is within the skew");
}

static void t_sigv4_put_object(void)
{
    static const char *const kv[] = {
        "Host",
        "examplebucket.s3.amazonaws.com",
        "Date",
        "Fri, 24 May 2013 00:00:00 GMT",
        "x-amz-date",
        "20130524T000000Z",
        "x-amz-storage-class",
        "REDUCED_REDUNDANCY",
        "x-amz-content-sha256",
        "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
        "Authorization",
        "AWS4-HMAC-SHA256 " CRED_2013 ", SignedHeaders=date;host;"
        "x-amz-content-sha256;x-amz-date;x-amz-storage-class, Signature="
        "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
        NULL};
    struct treq r;
    struct s3_auth a;
    struct sink s;
    char msg[256];
    treq_init(&r, "PUT", "/test%24file.text", kv);
    r.info.content_length = 21;
    enum s3_err e = verify(&r, "", t2013, &a, msg);
    TAP_OK(e == S3_OK && a.payload == S3_PAYLOAD_SHA256, "PUT example verifies (%s)", msg);
    const char *body = "Welcome to Amazon S3.";
    struct s3_payload *p = NULL;
    e = run_payload(&a, &r, body, strlen(body), 0, &s, msg, &p);
    TAP_OK(e == S3_OK && s.n == 21, "body matches x-amz-content-sha256");
    uint8_t md5[16];
    gz_md5(body, 21, md5);
    TAP_OK(p && memcmp(s3_payload_md5(p), md5, 16) == 0 && s3_payload_length(p) == 21 &&
               s3_payload_checksum_alg(p) == GZ_HASH_NONE,
           "md5 and length reported");
    s3_payload_free(p);
    e = run_payload(&a, &r, "Welcome to Amazon S3!", 21, 3, &s, msg, NULL);
    TAP_OK(e == S3_ERR_X_AMZ_CONTENT_SHA256_MISMATCH, "other body -> XAmzContentSHA256Mismatch");

    /* A client that left '$' unencoded on the wire but encoded it when signing. */
    treq_init(&r, "PUT", "/test$file.text", kv);
    e = verify(&r, "", t2013, &a, msg);
    TAP_OK(e == S3_OK, "unencoded path falls back to the re-encoded form");
    treq_init(&r, "PUT", "/test%2524file.text", kv);
    e = verify(&r, "", t2013, &a, msg);
    TAP_OK(e == S3_ERR_SIGNATURE_DOES_NOT_MATCH, "double-encoded path does not verify");
}

static void t_sigv4_query_examples(void)
{
#define fmt                                                                                        \
    "AWS4-HMAC-SHA256 " CRED_2013 ",SignedHeaders=host;x-amz-content-sha256;"                      \
    "x-amz-date,Signature=%s"
    char authz[512];
    const char *kv[] = {"Host",
                        "examplebucket.s3.amazonaws.com",
                        "x-amz-content-sha256",
                        EMPTY_SHA,
                        "x-amz-date",
                        "20130524T000000Z",
                        "Authorization",
                        authz,
                        NULL};
    struct treq r;
    struct s3_auth a;
    char msg[256];
    snprintf(authz, sizeof(authz), fmt,
             "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
    treq_init(&r, "GET", "/?lifecycle", kv);
    TAP_OK(verify(&r, "", t2013, &a, msg) == S3_OK, "GET bucket lifecycle example (%s)", msg);
    treq_init(&r, "GET", "/?lifecycle=", kv);
    TAP_OK(verify(&r, "", t2013, &a, msg) == S3_OK, "?lifecycle= is the same canonical query");
    snprintf(authz, sizeof(authz), fmt,
             "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
    treq_init(&r, "GET", "/?max-keys=2&prefix=J", kv);
    TAP_OK(verify(&r, "", t2013, &a, msg) == S3_OK, "list objects example (%s)", msg);
    treq_init(&r, "GET", "/?prefix=J&max-keys=2", kv);
    TAP_OK(verify(&r, "", t2013, &a, msg) == S3_OK, "query order does not matter");
    treq_init(&r, "GET", "/?max-keys=2&prefix=K", kv);
    TAP_OK(verify(&r, "", t2013, &a, msg) == S3_ERR_SIGNATURE_DOES_NOT_MATCH,
           "changed query -> SignatureDoesNotMatch");
#undef fmt
}

static void t_sigv4_canonical_query(void)
{
    struct gz_buf b;
    gz_buf_init(&b, 4096);
    static const struct http_header h[] = {
        {GZ_SLICE_LIT("Host"), GZ_SLICE_LIT("h")},
        {GZ_SLICE_LIT("X-Amz-Meta-A"), GZ_SLICE_LIT("one   two\t three")},
        {GZ_SLICE_LIT("x-amz-meta-a"), GZ_SLICE_LIT(" second ")},
    };
    int rc = s3_sigv4_canonical_request(
        &b, GZ_SLICE_LIT("GET"), GZ_SLICE_LIT(""),
        GZ_SLICE_LIT("b=2&a=%7e+x&a=1&c&d=%2f%41&e=a%20b&X-Amz-Signature=zz"), h, 3,
        GZ_SLICE_LIT("host;x-amz-meta-a"), GZ_SLICE_LIT("UNSIGNED-PAYLOAD"), true);
    gz_buf_terminate(&b);
    const char *want = "GET\n/\na=1&a=~%2Bx&b=2&c=&d=%2FA&e=a%20b\nhost:h\n"
                       "x-amz-meta-a:one two three,second\n\nhost;x-amz-meta-a\nUNSIGNED-PAYLOAD";
    bool same = rc == 0 && strcmp(b.ptr, want) == 0;
    TAP_OK(same, "query re-encoded and sorted, headers folded");
    if (!same) {
        char esc[1024];
        gz_log_escape(esc, sizeof(esc), gz_buf_slice(&b));
        printf("# got: %s\n", esc);
    }
    gz_buf_free(&b);
}

static void t_sigv4_errors(void)
{
    char authz[512];
    const char *kv[] = {"Host",
                        "examplebucket.s3.amazonaws.com",
                        "x-amz-content-sha256",
                        EMPTY_SHA,
                        "x-amz-date",
                        "20130524T000000Z",
                        "Authorization",
                        authz,
                        NULL};
    struct treq r;
    struct s3_auth a;
    char msg[256];
    const char *sig = "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543";

    snprintf(authz, sizeof(authz),
             "AWS4-HMAC-SHA256 Credential=AKIDUNKNOWN/20130524/us-east-1/"
             "s3/aws4_request,SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature=%s",
             sig);
    treq_init(&r, "GET", "/?lifecycle", kv);
    TAP_OK(verify(&r, "", t2013, &a, msg) == S3_ERR_INVALID_ACCESS_KEY_ID,
           "unknown key -> InvalidAccessKeyId");
    snprintf(authz, sizeof(authz),
             "AWS4-HMAC-SHA256 Credential=" AKID "/20130524/us-east-1/"
             "s3,SignedHeaders=host,Signature=%s",
             sig);
    TAP_OK(verify(&r, "", t2013, &a, msg) == S3_ERR_AUTH_HEADER_MALFORMED,
           "short credential -> AuthorizationHeaderMalformed (%s)", msg);
    snprintf(authz, sizeof(authz), "AWS4-HMAC-SHA256 " CRED_2013 ",Signature=%s", sig);
    TAP_OK(verify(&r, "", t2013, &a, msg) == S3_ERR_AUTH_HEADER_MALFORMED,
           "missing SignedHeaders -> AuthorizationHeaderMalformed");
    snprintf(authz, sizeof(authz),
             "AWS4-HMAC-SHA256 Credential=" AKID "/20130524/us-east-1/"
             "ec2/aws4_request,SignedHeaders=host,Signature=%s",
             sig);
    TAP_OK(verify(&r, "", t2013, &a, msg) == S3_ERR_AUTH_HEADER_MALFORMED, "wrong service");
    snprintf(authz, sizeof(authz),
             "AWS4-HMAC-SHA256 Credential=" AKID "/20130525/us-east-1/"
             "s3/aws4_request,SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature=%s",
             sig);
    TAP_OK(verify(&r, "", t2013, &a, msg) == S3_ERR_AUTH_HEADER_MALFORMED,
           "credential date differs from x-amz-date");
    snprintf(authz, sizeof(authz), "Bearer abc");
    TAP_OK(verify(&r, "", t2013, &a, msg) == S3_ERR_INVALID_ARGUMENT, "unknown scheme");
}

static void t_sigv4_header_rules(void)
{
    char authz[512];
    const char *kv[] = {"Host",
                        "examplebucket.s3.amazonaws.com",
                        "x-amz-content-sha256",
                        EMPTY_SHA,
                        "x-amz-date",
                        "20130524T000000Z",
                        "Authorization",
                        authz,
                        NULL};
    struct treq r;
    struct s3_auth a;
    char msg[256];
    const char *sig = "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543";

    /* Unsigned x-amz-* header. */
    snprintf(authz, sizeof(authz),
             "AWS4-HMAC-SHA256 " CRED_2013 ",SignedHeaders=host;"
             "x-amz-content-sha256;x-amz-date,Signature=%s",
             sig);
    const char *kv2[] = {"Host",
                         "examplebucket.s3.amazonaws.com",
                         "x-amz-content-sha256",
                         EMPTY_SHA,
                         "x-amz-date",
                         "20130524T000000Z",
                         "Authorization",
                         authz,
                         "x-amz-meta-sneaky",
                         "1",
                         NULL};
    treq_init(&r, "GET", "/?lifecycle", kv2);
    TAP_OK(verify(&r, "", t2013, &a, msg) == S3_ERR_ACCESS_DENIED,
           "unsigned x-amz-* header -> AccessDenied (%s)", msg);

    /* Missing x-amz-content-sha256. */
    const char *kv3[] = {"Host",
                         "examplebucket.s3.amazonaws.com",
                         "x-amz-date",
                         "20130524T000000Z",
                         "Authorization",
                         authz,
                         NULL};
    treq_init(&r, "PUT", "/?lifecycle", kv3);
    r.info.content_length = 10;
    TAP_OK(verify(&r, "", t2013, &a, msg) == S3_ERR_INVALID_REQUEST &&
               strstr(msg, "x-amz-content-sha256") != NULL,
           "missing x-amz-content-sha256 -> InvalidRequest: %s", msg);
    const char *kv4[] = {"Host",
                         "examplebucket.s3.amazonaws.com",
                         "x-amz-content-sha256",
                         "not-a-hash",
                         "x-amz-date",
                         "20130524T000000Z",
                         "Authorization",
                         authz,
                         NULL};
    treq_init(&r, "GET", "/?lifecycle", kv4);
    TAP_OK(verify(&r, "", t2013, &a, msg) == S3_ERR_INVALID_ARGUMENT,
           "bad x-amz-content-sha256 value");
    const char *kv5[] = {"Host",
                         "examplebucket.s3.amazonaws.com",
                         "x-amz-content-sha256",
                         EMPTY_SHA,
                         "Authorization",
                         authz,
                         NULL};
    treq_init(&r, "GET", "/?lifecycle", kv5);
    TAP_OK(verify(&r, "", t2013, &a, msg) == S3_ERR_ACCESS_DENIED, "no date -> AccessDenied");

    /* Anonymous, and two schemes at once. */
    const char *kv6[] = {"Host", "examplebucket.s3.amazonaws.com", NULL};
    treq_init(&r, "GET", "/key", kv6);
    TAP_OK(verify(&r, "", t2013, &a, msg) == S3_OK && a.anonymous && a.version == 0,
           "no credentials -> anonymous");
    treq_init(&r, "GET", "/key?X-Amz-Algorithm=AWS4-HMAC-SHA256", kv);
    TAP_OK(verify(&r, "", t2013, &a, msg) == S3_ERR_INVALID_ARGUMENT,
           "header and query auth together -> InvalidArgument");
}

/* ---- SigV4 presigned ---- */

static void t_sigv4_presigned(void)
{
    static const char *const kv[] = {"Host", "examplebucket.s3.amazonaws.com", NULL};
    char target[1024];
#define fmt                                                                                        \
    "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" AKID                            \
    "%%2F20130524%%2Fus-east-1%%2Fs3%%2Faws4_request&X-Amz-Date=20130524T000000Z"                  \
    "&X-Amz-Expires=%s&X-Amz-SignedHeaders=host&X-Amz-Signature=%s"
    const char *sig = "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
    struct treq r;
    struct s3_auth a;
    char msg[256];
    snprintf(target, sizeof(target), fmt, "86400", sig);
    treq_init(&r, "GET", target, kv);
    enum s3_err e = verify(&r, "", t2013 + 3600, &a, msg);
    TAP_OK(e == S3_OK && a.presigned && a.version == 4 && a.payload == S3_PAYLOAD_UNSIGNED,
           "presigned example verifies (%d %s)", e, msg);
    e = verify(&r, "", t2013 + 86401, &a, msg);
    TAP_OK(e == S3_ERR_ACCESS_DENIED && strcmp(msg, "Request has expired") == 0,
           "after X-Amz-Expires -> AccessDenied: %s", msg);
    snprintf(target, sizeof(target), fmt, "604801", sig);
    treq_init(&r, "GET", target, kv);
    TAP_OK(verify(&r, "", t2013, &a, msg) == S3_ERR_AUTH_QUERY_MALFORMED,
           "X-Amz-Expires 604801 -> AuthorizationQueryParametersError");
    snprintf(target, sizeof(target), fmt, "0", sig);
    treq_init(&r, "GET", target, kv);
    TAP_OK(verify(&r, "", t2013, &a, msg) == S3_ERR_AUTH_QUERY_MALFORMED, "X-Amz-Expires 0");
    snprintf(target, sizeof(target), fmt, "86400",
             "beeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
    treq_init(&r, "GET", target, kv);
    TAP_OK(verify(&r, "", t2013, &a, msg) == S3_ERR_SIGNATURE_DOES_NOT_MATCH, "bad signature");
    treq_init(&r, "GET", "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=x", kv);
    TAP_OK(verify(&r, "", t2013, &a, msg) == S3_ERR_AUTH_QUERY_MALFORMED,
           "missing parameters -> AuthorizationQueryParametersError");
#undef fmt
}

/* ---- SigV4 streaming (aws-chunked) ---- */

static void chunk_append(struct gz_buf *b, size_t size, const char *sig, char fill)
{
    if (sig)
        gz_buf_appendf(b, "%zx;chunk-signature=%s\r\n", size, sig);
    else
        gz_buf_appendf(b, "%zx\r\n", size);
    for (size_t i = 0; i < size; i++)
        gz_buf_append(b, &fill, 1);
    if (size > 0)
        gz_buf_append(b, "\r\n", 2);
}

static const char *const chunk_kv[] = {
    "Host",
    "s3.amazonaws.com",
    "x-amz-date",
    "20130524T000000Z",
    "x-amz-storage-class",
    "REDUCED_REDUNDANCY",
    "Authorization",
    "AWS4-HMAC-SHA256 " CRED_2013 ",SignedHeaders=content-encoding;"
    "content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;"
    "x-amz-storage-class,Signature="
    "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
    "x-amz-content-sha256",
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    "Content-Encoding",
    "aws-chunked",
    "x-amz-decoded-content-length",
    "66560",
    "Content-Length",
    "66824",
    NULL};

static void streaming_body(struct gz_buf *b, const char *final_sig)
{
    gz_buf_init(b, 1 << 20);
    chunk_append(b, 65536, "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648", 'a');
    chunk_append(b, 1024, "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497", 'a');
    chunk_append(b, 0, final_sig, 'a');
    gz_buf_append(b, "\r\n", 2);
}

static void t_streaming_signed(void)
{
    struct treq r;
    struct s3_auth a;
    struct sink s;
    struct gz_buf b;
    char msg[256];
    treq_init(&r, "PUT", "/examplebucket/chunkObject.txt", chunk_kv);
    r.info.content_length = 66824;
    enum s3_err e = verify(&r, "", t2013, &a, msg);
    TAP_OK(e == S3_OK && a.payload == S3_PAYLOAD_STREAMING_SIGNED &&
               strcmp(a.seed_signature,
                      "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9") == 0,
           "seed request verifies (%s)", msg);
    const char *final = "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9";
    streaming_body(&b, final);
    TAP_OK(b.len == 66824, "body is %zu bytes as Content-Length says", b.len);

    struct s3_payload *p = NULL;
    e = run_payload(&a, &r, b.ptr, b.len, 1, &s, msg, &p);
    TAP_OK(e == S3_OK && s.n == 66560, "fed one byte at a time: %d %s, %zu bytes", e, msg, s.n);
    char *plain = gz_malloc(66560);
    memset(plain, 'a', 66560);
    uint8_t md5[16];
    gz_md5(plain, 66560, md5);
    TAP_OK(p && memcmp(s3_payload_md5(p), md5, 16) == 0 && s3_payload_length(p) == 66560,
           "md5 of the decoded body");
    s3_payload_free(p);
    e = run_payload(&a, &r, b.ptr, b.len, 0, &s, msg, NULL);
    TAP_OK(e == S3_OK, "fed at once");
    e = run_payload(&a, &r, b.ptr, b.len, 4093, &s, msg, NULL);
    TAP_OK(e == S3_OK, "fed in odd pieces");

    b.ptr[100 + 86] = 'b'; /* a data byte of the first chunk */
    e = run_payload(&a, &r, b.ptr, b.len, 777, &s, msg, NULL);
    TAP_OK(e == S3_ERR_SIGNATURE_DOES_NOT_MATCH, "tampered chunk -> SignatureDoesNotMatch");
    gz_buf_free(&b);

    streaming_body(&b, "c6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9");
    e = run_payload(&a, &r, b.ptr, b.len, 0, &s, msg, NULL);
    TAP_OK(e == S3_ERR_SIGNATURE_DOES_NOT_MATCH, "bad final-chunk signature is caught");
    gz_buf_free(&b);

    streaming_body(&b, final);
    e = run_payload(&a, &r, b.ptr, b.len - 100, 0, &s, msg, NULL);
    TAP_OK(e == S3_ERR_INCOMPLETE_BODY, "truncated body -> IncompleteBody (%s)", msg);
    gz_buf_append(&b, "x", 1);
    e = run_payload(&a, &r, b.ptr, b.len, 0, &s, msg, NULL);
    TAP_OK(e != S3_OK, "data after the final chunk is refused");
    gz_buf_free(&b);

    r.h[6].value = GZ_SLICE_LIT("66561"); /* x-amz-decoded-content-length, now unsigned */
    streaming_body(&b, final);
    struct s3_auth a2 = a;
    e = run_payload(&a2, &r, b.ptr, b.len, 0, &s, msg, NULL);
    TAP_OK(e == S3_ERR_INCOMPLETE_BODY, "decoded length mismatch -> IncompleteBody");
    gz_buf_free(&b);
    gz_free(plain);
}

static void t_streaming_chunk_limits(void)
{
    struct treq r;
    struct s3_auth a = {.version = 4, .payload = S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER};
    struct sink s;
    char msg[256];
    treq_init(&r, "PUT", "/b/k", NULL);
    const char *big = "2000000\r\n";
    TAP_OK(run_payload(&a, &r, big, strlen(big), 0, &s, msg, NULL) == S3_ERR_INVALID_CHUNK_SIZE,
           "32 MiB chunk -> InvalidChunkSizeError");
    const char *huge = "10000000000000000\r\n";
    TAP_OK(run_payload(&a, &r, huge, strlen(huge), 0, &s, msg, NULL) == S3_ERR_INVALID_CHUNK_SIZE,
           "chunk size overflow -> InvalidChunkSizeError");
    char *line = gz_malloc(S3_MAX_CHUNK_HEADER + 10);
    memset(line, '0', S3_MAX_CHUNK_HEADER + 10);
    TAP_OK(run_payload(&a, &r, line, S3_MAX_CHUNK_HEADER + 10, 100, &s, msg, NULL) ==
               S3_ERR_INVALID_REQUEST,
           "endless chunk header is bounded");
    gz_free(line);
    const char *bad = "zz\r\n";
    TAP_OK(run_payload(&a, &r, bad, strlen(bad), 0, &s, msg, NULL) == S3_ERR_INVALID_REQUEST,
           "non-hex chunk size");
    const char *nocrlf = "3\r\nabcX\r\n0\r\n\r\n";
    TAP_OK(run_payload(&a, &r, nocrlf, strlen(nocrlf), 0, &s, msg, NULL) == S3_ERR_INVALID_REQUEST,
           "data not followed by CRLF");
    struct s3_auth signed_a = {.version = 4, .payload = S3_PAYLOAD_STREAMING_SIGNED};
    const char *nosig = "3\r\nabc\r\n0\r\n\r\n";
    TAP_OK(run_payload(&signed_a, &r, nosig, strlen(nosig), 0, &s, msg, NULL) ==
               S3_ERR_SIGNATURE_DOES_NOT_MATCH,
           "signed mode needs chunk-signature");
    struct s3_auth v2 = {.version = 2, .payload = S3_PAYLOAD_STREAMING_SIGNED};
    struct s3_payload *p = NULL;
    TAP_OK(s3_payload_new(&v2, &r.info, &p, msg, sizeof(msg)) == S3_ERR_INVALID_REQUEST &&
               p == NULL,
           "signed streaming without SigV4 is refused");
}

/* The signed-trailer example: same 66560 'a's, CRC32C trailer. */
static void trailer_body(struct gz_buf *b, bool doc_blank, const char *value, const char *tsig)
{
    gz_buf_init(b, 1 << 20);
    chunk_append(b, 65536, "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2", 'a');
    chunk_append(b, 1024, "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7", 'a');
    chunk_append(b, 0, "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992", 'a');
    if (doc_blank)
        gz_buf_append(b, "\r\n", 2);
    gz_buf_appendf(b, "x-amz-checksum-crc32c:%s\r\n", value);
    if (tsig)
        gz_buf_appendf(b, "x-amz-trailer-signature:%s\r\n", tsig);
    gz_buf_append(b, "\r\n", 2);
}

static void t_streaming_signed_trailer(void)
{
    static const char *const kv[] = {
        "Host",
        "s3.amazonaws.com",
        "x-amz-date",
        "20130524T000000Z",
        "x-amz-storage-class",
        "REDUCED_REDUNDANCY",
        "Authorization",
        "AWS4-HMAC-SHA256 " CRED_2013 ",SignedHeaders=content-encoding;host;"
        "x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;"
        "x-amz-trailer,Signature=106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e",
        "x-amz-content-sha256",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        "Content-Encoding",
        "aws-chunked",
        "x-amz-decoded-content-length",
        "66560",
        "x-amz-trailer",
        "x-amz-checksum-crc32c",
        NULL};
    const char *tsig = "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435";
    struct treq r;
    struct s3_auth a;
    struct sink s;
    struct gz_buf b;
    char msg[256];
    treq_init(&r, "PUT", "/examplebucket/chunkObject.txt", kv);
    enum s3_err e = verify(&r, "", t2013, &a, msg);
    TAP_OK(e == S3_OK && a.payload == S3_PAYLOAD_STREAMING_SIGNED_TRAILER,
           "trailer seed request verifies (%d %s)", e, msg);

    for (int blank = 0; blank < 2; blank++) {
        struct s3_payload *p = NULL;
        trailer_body(&b, blank, "sOO8/Q==", tsig);
        e = run_payload(&a, &r, b.ptr, b.len, 1, &s, msg, &p);
        TAP_OK(e == S3_OK && s.n == 66560, "signed trailer example (blank line %d): %d %s", blank,
               e, msg);
        TAP_OK(p && s3_payload_checksum_alg(p) == GZ_HASH_CRC32C &&
                   strcmp(s3_payload_checksum_b64(p), "sOO8/Q==") == 0,
               "trailer checksum reported");
        s3_payload_free(p);
        gz_buf_free(&b);
    }
    trailer_body(&b, false, "sOO8/Q==", tsig);
    e = run_payload(&a, &r, b.ptr, b.len - 2, 0, &s, msg, NULL);
    TAP_OK(e == S3_OK, "missing closing empty line is tolerated");
    gz_buf_free(&b);
    trailer_body(&b, false, "AAAAAA==", tsig);
    e = run_payload(&a, &r, b.ptr, b.len, 0, &s, msg, NULL);
    TAP_OK(e == S3_ERR_SIGNATURE_DOES_NOT_MATCH, "altered trailer -> trailer signature fails");
    gz_buf_free(&b);
    trailer_body(&b, false, "sOO8/Q==", NULL);
    e = run_payload(&a, &r, b.ptr, b.len, 0, &s, msg, NULL);
    TAP_OK(e == S3_ERR_SIGNATURE_DOES_NOT_MATCH, "missing trailer signature");
    gz_buf_free(&b);
}

static void t_streaming_unsigned_trailer(void)
{
    static const char *const kv[] = {"x-amz-content-sha256",
                                     "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                                     "Content-Encoding",
                                     "aws-chunked",
                                     "x-amz-trailer",
                                     "x-amz-checksum-crc32",
                                     "x-amz-decoded-content-length",
                                     "11",
                                     NULL};
    struct s3_auth a = {.version = 4, .payload = S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER};
    struct treq r;
    struct sink s;
    char msg[256], body[256], b64[16];
    uint8_t crc[GZ_HASH_MAX_LEN];
    struct gz_hash h;
    gz_hash_init(&h, GZ_HASH_CRC32);
    gz_hash_update(&h, "hello world", 11);
    gz_hash_final(&h, crc);
    gz_base64_encode(b64, crc, 4);
    treq_init(&r, "PUT", "/b/k", kv);
    snprintf(body, sizeof(body),
             "6\r\nhello \r\n5\r\nworld\r\n0\r\nx-amz-checksum-crc32:%s\r\n\r\n", b64);
    struct s3_payload *p = NULL;
    enum s3_err e = run_payload(&a, &r, body, strlen(body), 1, &s, msg, &p);
    TAP_OK(e == S3_OK && s.n == 11, "unsigned trailer with crc32 (%s)", msg);
    TAP_OK(p && strcmp(s3_payload_checksum_b64(p), b64) == 0, "crc32 value kept");
    s3_payload_free(p);
    snprintf(body, sizeof(body),
             "6\r\nhello \r\n5\r\nworld\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n");
    e = run_payload(&a, &r, body, strlen(body), 0, &s, msg, NULL);
    TAP_OK(e == S3_ERR_BAD_DIGEST && strstr(msg, "CRC32") != NULL,
           "trailer checksum mismatch -> BadDigest: %s", msg);
    snprintf(body, sizeof(body), "6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n");
    e = run_payload(&a, &r, body, strlen(body), 0, &s, msg, NULL);
    TAP_OK(e != S3_OK, "declared trailer never sent");
    snprintf(body, sizeof(body),
             "6\r\nhello \r\n5\r\nworld\r\n0\r\nx-amz-checksum-sha1:AAAA\r\n\r\n");
    e = run_payload(&a, &r, body, strlen(body), 0, &s, msg, NULL);
    TAP_OK(e == S3_ERR_INVALID_REQUEST, "trailer other than x-amz-trailer names");
}

/* ---- header checksums and Content-MD5 ---- */

static void t_header_checksums(void)
{
    static const struct {
        enum gz_hash_alg alg;
        const char *header;
    } cases[] = {
        {GZ_HASH_CRC32, "x-amz-checksum-crc32"},         {GZ_HASH_CRC32C, "x-amz-checksum-crc32c"},
        {GZ_HASH_CRC64NVME, "x-amz-checksum-crc64nvme"}, {GZ_HASH_SHA1, "x-amz-checksum-sha1"},
        {GZ_HASH_SHA256, "x-amz-checksum-sha256"},
    };
    const char *body = "The quick brown fox jumps over the lazy dog";
    struct s3_auth a = {.version = 4, .payload = S3_PAYLOAD_UNSIGNED};
    struct treq r;
    struct sink s;
    char msg[256];
    for (size_t i = 0; i < GZ_ARRAY_LEN(cases); i++) {
        uint8_t d[GZ_HASH_MAX_LEN];
        char good[64], bad[64];
        struct gz_hash h;
        gz_hash_init(&h, cases[i].alg);
        gz_hash_update(&h, body, strlen(body));
        gz_hash_final(&h, d);
        gz_base64_encode(good, d, gz_hash_len(cases[i].alg));
        d[0] ^= 1;
        gz_base64_encode(bad, d, gz_hash_len(cases[i].alg));
        const char *kv[] = {cases[i].header, good, NULL};
        treq_init(&r, "PUT", "/b/k", kv);
        struct s3_payload *p = NULL;
        enum s3_err e = run_payload(&a, &r, body, strlen(body), 5, &s, msg, &p);
        TAP_OK(e == S3_OK && p && s3_payload_checksum_alg(p) == cases[i].alg &&
                   strcmp(s3_payload_checksum_b64(p), good) == 0,
               "%s header verified", cases[i].header);
        s3_payload_free(p);
        kv[1] = bad;
        treq_init(&r, "PUT", "/b/k", kv);
        e = run_payload(&a, &r, body, strlen(body), 0, &s, msg, NULL);
        TAP_OK(e == S3_ERR_BAD_DIGEST && strstr(msg, gz_hash_alg_name(cases[i].alg)) != NULL,
               "%s mismatch -> BadDigest: %s", cases[i].header, msg);
    }
    /* The same SHA-256 as both x-amz-content-sha256 and checksum shares one context. */
    uint8_t sha[32];
    char b64[64];
    gz_sha256(body, strlen(body), sha);
    gz_base64_encode(b64, sha, 32);
    struct s3_auth a2 = {.version = 4, .payload = S3_PAYLOAD_SHA256};
    memcpy(a2.payload_sha256, sha, 32);
    const char *kv2[] = {"x-amz-checksum-sha256", b64, NULL};
    treq_init(&r, "PUT", "/b/k", kv2);
    TAP_OK(run_payload(&a2, &r, body, strlen(body), 0, &s, msg, NULL) == S3_OK,
           "sha256 checksum and payload hash together");

    const char *kv3[] = {"x-amz-checksum-crc32", "AAAAAA==", "x-amz-checksum-sha1", "AAAA", NULL};
    treq_init(&r, "PUT", "/b/k", kv3);
    struct s3_payload *p = NULL;
    TAP_OK(s3_payload_new(&a, &r.info, &p, msg, sizeof(msg)) == S3_ERR_INVALID_REQUEST,
           "two checksum headers -> InvalidRequest");
    const char *kv4[] = {"x-amz-checksum-crc32", "AAAA", NULL};
    treq_init(&r, "PUT", "/b/k", kv4);
    TAP_OK(s3_payload_new(&a, &r.info, &p, msg, sizeof(msg)) == S3_ERR_INVALID_REQUEST,
           "malformed checksum header -> InvalidRequest");
    const char *kv5[] = {"x-amz-sdk-checksum-algorithm", "CRC32C", NULL};
    treq_init(&r, "PUT", "/b/k", kv5);
    TAP_OK(run_payload(&a, &r, "123456789", 9, 0, &s, msg, &p) == S3_OK && p &&
               s3_payload_checksum_alg(p) == GZ_HASH_CRC32C &&
               strcmp(s3_payload_checksum_b64(p), "4waSgw==") == 0,
           "sdk algorithm alone: checksum computed");
    s3_payload_free(p);
}

static void t_content_md5(void)
{
    struct s3_auth a = {.version = 2};
    struct treq r;
    struct sink s;
    char msg[256], b64[32];
    uint8_t md5[16];
    gz_md5("hello", 5, md5);
    gz_base64_encode(b64, md5, 16);
    const char *kv[] = {"Content-MD5", b64, NULL};
    treq_init(&r, "PUT", "/b/k", kv);
    TAP_OK(run_payload(&a, &r, "hello", 5, 2, &s, msg, NULL) == S3_OK, "Content-MD5 matches");
    TAP_OK(run_payload(&a, &r, "hellO", 5, 0, &s, msg, NULL) == S3_ERR_BAD_DIGEST,
           "Content-MD5 mismatch -> BadDigest");
    kv[1] = "not base64!";
    treq_init(&r, "PUT", "/b/k", kv);
    struct s3_payload *p = NULL;
    TAP_OK(s3_payload_new(&a, &r.info, &p, msg, sizeof(msg)) == S3_ERR_INVALID_DIGEST,
           "malformed Content-MD5 -> InvalidDigest");
    kv[1] = "AAAA";
    treq_init(&r, "PUT", "/b/k", kv);
    TAP_OK(s3_payload_new(&a, &r.info, &p, msg, sizeof(msg)) == S3_ERR_INVALID_DIGEST,
           "short Content-MD5 -> InvalidDigest");
}

/* ---- SigV2 ---- */

static void t_sigv2_examples(void)
{
    static const struct {
        const char *name, *method, *target, *vhost, *date, *type, *sig;
    } cases[] = {
        {"object GET", "GET", "/photos/puppy.jpg", "johnsmith", "Tue, 27 Mar 2007 19:36:42 +0000",
         NULL, "bWq2s1WEIj+Ydj0vQ697zp+IXMU="},
        {"object PUT", "PUT", "/photos/puppy.jpg", "johnsmith", "Tue, 27 Mar 2007 21:15:45 +0000",
         "image/jpeg", "MyyxeRY7whkBe+bq8fHCL/2kKUg="},
        {"list", "GET", "/?prefix=photos&max-keys=50&marker=puppy", "johnsmith",
         "Tue, 27 Mar 2007 19:42:41 +0000", NULL, "htDYFYduRNen8P9ZfE/s9SuKy0U="},
        {"fetch acl", "GET", "/?acl", "johnsmith", "Tue, 27 Mar 2007 19:44:46 +0000", NULL,
         "c2WLPFtWHVgbEmeEG93a4cG37dM="},
        {"list all my buckets", "GET", "/", "", "Wed, 28 Mar 2007 01:29:59 +0000", NULL,
         "qGdzdERIC03wnaRNKh6OqZehG9s="},
        {"unicode keys", "GET", "/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re", "",
         "Wed, 28 Mar 2007 01:49:49 +0000", NULL, "DNEZGsoieTZ92F3bUfSPQcbGmlM="},
    };
    for (size_t i = 0; i < GZ_ARRAY_LEN(cases); i++) {
        char authz[128];
        int64_t now = 0;
        snprintf(authz, sizeof(authz), "AWS " AKID ":%s", cases[i].sig);
        const char *kv[] = {"Date",
                            cases[i].date,
                            "Authorization",
                            authz,
                            cases[i].type ? "Content-Type" : NULL,
                            cases[i].type,
                            NULL};
        struct treq r;
        struct s3_auth a;
        char msg[256];
        treq_init(&r, cases[i].method, cases[i].target, kv);
        struct gz_slice d = gz_slice_cstr(cases[i].date);
        char gmt[64];
        snprintf(gmt, sizeof(gmt), "%.*s GMT", (int)d.len - 6, d.ptr);
        gz_time_parse_http(gz_slice_cstr(gmt), &now);
        enum s3_err e = verify(&r, cases[i].vhost, now + 3600, &a, msg);
        TAP_OK(e == S3_ERR_REQUEST_TIME_TOO_SKEWED, "%s: an hour apart -> RequestTimeTooSkewed",
               cases[i].name);
        e = verify(&r, cases[i].vhost, now + 5, &a, msg);
        TAP_OK(e == S3_OK && a.version == 2 && !a.presigned, "SigV2 %s verifies (%d %s)",
               cases[i].name, e, msg);
    }
}

static void t_sigv2_upload_and_dates(void)
{
    static const char *const kv[] = {"Host",
                                     "static.johnsmith.net:8080",
                                     "Date",
                                     "Tue, 27 Mar 2007 21:06:08 +0000",
                                     "x-amz-acl",
                                     "public-read",
                                     "content-type",
                                     "application/x-download",
                                     "Content-MD5",
                                     "4gJE4saaMU4BqNR0kLY+lw==",
                                     "X-Amz-Meta-ReviewedBy",
                                     "joe@johnsmith.net",
                                     "X-Amz-Meta-ReviewedBy",
                                     "jane@johnsmith.net",
                                     "X-Amz-Meta-FileChecksum",
                                     "0x02661779",
                                     "X-Amz-Meta-ChecksumAlgorithm",
                                     "crc32",
                                     "Content-Disposition",
                                     "attachment; filename=database.dat",
                                     "Content-Encoding",
                                     "gzip",
                                     "Authorization",
                                     "AWS " AKID ":ilyl83RwaSoYIEdixDQcA4OnAnc=",
                                     NULL};
    struct treq r;
    struct s3_auth a;
    char msg[256];
    int64_t now;
    gz_time_parse_http(GZ_SLICE_LIT("Tue, 27 Mar 2007 21:06:08 GMT"), &now);
    treq_init(&r, "PUT", "/db-backup.dat.gz", kv);
    TAP_OK(verify(&r, "static.johnsmith.net", now, &a, msg) == S3_OK,
           "SigV2 upload with folded x-amz-meta headers (%s)", msg);

    /* x-amz-date forms: documented (empty date line), and the x-amz-date-as-date form. */
    const char *sts1 = "DELETE\n\n\n\nx-amz-date:Tue, 27 Mar 2007 21:20:26 GMT\n"
                       "/johnsmith/photos/puppy.jpg";
    const char *sts2 = "DELETE\n\n\nTue, 27 Mar 2007 21:20:26 GMT\n/johnsmith/photos/puppy.jpg";
    const char *sts[] = {sts1, sts2};
    for (int i = 0; i < 2; i++) {
        uint8_t mac[20];
        char b64[32], authz[128];
        gz_hmac_sha1(SECRET, strlen(SECRET), sts[i], strlen(sts[i]), mac);
        gz_base64_encode(b64, mac, 20);
        snprintf(authz, sizeof(authz), "AWS " AKID ":%s", b64);
        const char *kv2[] = {"Date",
                             "Tue, 27 Mar 2007 21:20:27 GMT",
                             "x-amz-date",
                             "Tue, 27 Mar 2007 21:20:26 GMT",
                             "Authorization",
                             authz,
                             NULL};
        treq_init(&r, "DELETE", "/johnsmith/photos/puppy.jpg", kv2);
        TAP_OK(verify(&r, "", now + 900, &a, msg) == S3_OK, "x-amz-date form %d (%s)", i, msg);
    }
    const char *kv3[] = {"Date", "Tue, 27 Mar 2007 21:06:08 GMT", "Authorization",
                         "AWS " AKID ":AAAAAAAAAAAAAAAAAAAAAAAAAAA=", NULL};
    treq_init(&r, "GET", "/", kv3);
    TAP_OK(verify(&r, "", now, &a, msg) == S3_ERR_SIGNATURE_DOES_NOT_MATCH, "SigV2 bad signature");
    const char *kv4[] = {"Date", "Tue, 27 Mar 2007 21:06:08 GMT", "Authorization",
                         "AWS NOPE:AAAAAAAAAAAAAAAAAAAAAAAAAAA=", NULL};
    treq_init(&r, "GET", "/", kv4);
    TAP_OK(verify(&r, "", now, &a, msg) == S3_ERR_INVALID_ACCESS_KEY_ID, "SigV2 unknown key");
    const char *kv5[] = {"Date", "Tue, 27 Mar 2007 21:06:08 GMT", "Authorization", "AWS nocolon",
                         NULL};
    treq_init(&r, "GET", "/", kv5);
    TAP_OK(verify(&r, "", now, &a, msg) == S3_ERR_INVALID_ARGUMENT, "SigV2 malformed header");
}

static void t_sigv2_presigned(void)
{
    struct treq r;
    struct s3_auth a;
    char msg[256];
    treq_init(&r, "GET",
              "/photos/puppy.jpg?AWSAccessKeyId=" AKID
              "&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&Expires=1175139620",
              NULL);
    enum s3_err e = verify(&r, "johnsmith", 1175139000, &a, msg);
    TAP_OK(e == S3_OK && a.version == 2 && a.presigned, "SigV2 presigned example (%d %s)", e, msg);
    e = verify(&r, "johnsmith", 1175139621, &a, msg);
    TAP_OK(e == S3_ERR_ACCESS_DENIED && strcmp(msg, "Request has expired") == 0,
           "SigV2 presigned expiry");

    /* What boto3's generate_presigned_url produces: sub-resources and response-* overrides. */
    const char *sts = "GET\n\n\n1700000000\n/bucket/key%20x?response-content-disposition="
                      "attachment; filename=\"a b.txt\"&versionId=3";
    uint8_t mac[20];
    char b64[32], enc[96], target[512];
    gz_hmac_sha1(SECRET, strlen(SECRET), sts, strlen(sts), mac);
    gz_base64_encode(b64, mac, 20);
    size_t o = 0;
    for (const char *c = b64; *c; c++) {
        if (*c == '+' || *c == '/' || *c == '=')
            o += (size_t)snprintf(enc + o, sizeof(enc) - o, "%%%02X", *c);
        else
            enc[o++] = *c;
    }
    enc[o] = '\0';
    snprintf(target, sizeof(target),
             "/bucket/key%%20x?versionId=3&AWSAccessKeyId=" AKID
             "&Signature=%s&Expires=1700000000&response-content-disposition=attachment%%3B%%20"
             "filename%%3D%%22a%%20b.txt%%22&other=ignored",
             enc);
    treq_init(&r, "GET", target, NULL);
    e = verify(&r, "", 1699999000, &a, msg);
    TAP_OK(e == S3_OK, "SigV2 presigned with sub-resources (%d %s)", e, msg);
}

/* botocore signs path-style bucket requests ("/b?delete") over the resource "/b/?delete". */
static void t_sigv2_bucket_slash(void)
{
    const char *sts = "POST\n\n\nTue, 27 Mar 2007 21:06:08 GMT\nx-amz-checksum-crc32:AAAAAA==\n"
                      "/b/?delete";
    uint8_t mac[20];
    char b64[32], authz[128], msg[256];
    int64_t now;
    gz_hmac_sha1(SECRET, strlen(SECRET), sts, strlen(sts), mac);
    gz_base64_encode(b64, mac, 20);
    snprintf(authz, sizeof(authz), "AWS " AKID ":%s", b64);
    const char *kv[] = {"Date",
                        "Tue, 27 Mar 2007 21:06:08 GMT",
                        "x-amz-checksum-crc32",
                        "AAAAAA==",
                        "Authorization",
                        authz,
                        NULL};
    struct treq r;
    struct s3_auth a;
    gz_time_parse_http(GZ_SLICE_LIT("Tue, 27 Mar 2007 21:06:08 GMT"), &now);
    treq_init(&r, "POST", "/b?delete", kv);
    TAP_OK(verify(&r, "", now, &a, msg) == S3_OK, "bucket path signed with a trailing slash");
    treq_init(&r, "POST", "/b/k?delete", kv);
    TAP_OK(verify(&r, "", now, &a, msg) == S3_ERR_SIGNATURE_DOES_NOT_MATCH,
           "only single-segment paths get the slash");
}

static void t_payload_lifecycle(void)
{
    struct s3_auth a = {.version = 4, .payload = S3_PAYLOAD_UNSIGNED};
    struct treq r;
    struct s3_payload *p = NULL;
    char msg[256];
    treq_init(&r, "PUT", "/b/k", NULL);
    TAP_OK(s3_payload_new(&a, &r.info, &p, msg, sizeof(msg)) == S3_OK, "new");
    TAP_OK(s3_payload_feed(p, GZ_SLICE_LIT("abc"), NULL, NULL) == S3_OK, "feed without emit");
    TAP_OK(s3_payload_finish(p, msg, sizeof(msg)) == S3_OK, "finish");
    TAP_OK(s3_payload_finish(p, msg, sizeof(msg)) == S3_OK, "finish twice is harmless");
    TAP_OK(s3_payload_feed(p, GZ_SLICE_LIT("d"), NULL, NULL) != S3_OK, "no data after finish");
    uint8_t md5[16];
    gz_md5("abc", 3, md5);
    TAP_OK(memcmp(s3_payload_md5(p), md5, 16) == 0 && s3_payload_length(p) == 3, "results survive");
    s3_payload_free(p);
    s3_payload_free(NULL);
}

/* ---- the per-thread signing-key cache (sigv4.c) ---- */

/* The cached key must equal the uncached derivation; true if it came from the cache. */
static bool key_cache_check(const char *secret, const char *date, const char *region, bool *same)
{
    uint8_t want[32], got[32];
    s3_sigv4_signing_key(secret, gz_slice_cstr(date), gz_slice_cstr(region), GZ_SLICE_LIT("s3"),
                         want);
    bool hit = s3__sigv4_signing_key_cached(secret, gz_slice_cstr(date), gz_slice_cstr(region),
                                            got);
    *same = memcmp(want, got, 32) == 0;
    return hit;
}

static void t_sigv4_key_cache(void)
{
    bool same, hit;
    s3__sigv4_key_cache_clear();
    hit = key_cache_check(SECRET, "20130524", "us-east-1", &same);
    TAP_OK(!hit && same, "first derivation is a miss and correct");
    hit = key_cache_check(SECRET, "20130524", "us-east-1", &same);
    TAP_OK(hit && same, "same secret, date, region: a hit with the same key");
    hit = key_cache_check("another-secret", "20130524", "us-east-1", &same);
    TAP_OK(!hit && same, "another secret is never served the cached key");
    hit = key_cache_check("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKE", "20130524", "us-east-1",
                          &same);
    TAP_OK(!hit && same, "a secret that is a prefix of a cached one misses");
    hit = key_cache_check(SECRET "Y", "20130524", "us-east-1", &same);
    TAP_OK(!hit && same, "a secret that extends a cached one misses");
    hit = key_cache_check(SECRET, "20130525", "us-east-1", &same);
    TAP_OK(!hit && same, "another date misses");
    hit = key_cache_check(SECRET, "20130524", "us-east-2", &same);
    TAP_OK(!hit && same, "another region misses");
    hit = key_cache_check(SECRET, "20130524", "us-east", &same);
    TAP_OK(!hit && same, "a region that is a prefix of a cached one misses");
    hit = key_cache_check(SECRET, "20130524", "us-east-1", &same);
    TAP_OK(hit && same, "the first entry is still there");
    char region[80];
    memset(region, 'r', sizeof(region) - 1);
    region[sizeof(region) - 1] = '\0';
    key_cache_check(SECRET, "20130524", region, &same);
    hit = key_cache_check(SECRET, "20130524", region, &same);
    TAP_OK(!hit && same, "an overlong region is derived every time, never cached");
    /* Overflow the slots: every answer stays right, and the oldest entries are evicted. */
    bool all_same = true;
    for (int i = 0; i < 20; i++) {
        char reg[32];
        snprintf(reg, sizeof(reg), "region-%d", i);
        key_cache_check(SECRET, "20130524", reg, &same);
        all_same &= same;
        hit = key_cache_check(SECRET, "20130524", reg, &same);
        all_same &= same && hit;
    }
    TAP_OK(all_same, "20 regions through 8 slots: each key right, a hit right after");
    hit = key_cache_check(SECRET, "20130524", "region-0", &same);
    TAP_OK(!hit && same, "an evicted entry is derived again");
    s3__sigv4_key_cache_clear();
    hit = key_cache_check(SECRET, "20130524", "region-19", &same);
    TAP_OK(!hit && same, "clear empties the cache");
}

static void t_hmac_long_key(void)
{
    /* RFC 4231 test case 6: a 131-byte key is hashed first. */
    uint8_t key[131], mac[32];
    char hex[65];
    const char *msg = "Test Using Larger Than Block-Size Key - Hash Key First";
    memset(key, 0xaa, sizeof(key));
    gz_hmac_sha256(key, sizeof(key), msg, strlen(msg), mac);
    hexof(mac, 32, hex);
    TAP_OK(strcmp(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54") == 0,
           "hmac-sha256 RFC 4231 case 6 (long key)");
    /* RFC 2202 test case 6 for HMAC-SHA1, 80-byte key. */
    uint8_t key1[80];
    const char *msg1 = "Test Using Larger Than Block-Size Key - Hash Key First";
    memset(key1, 0xaa, sizeof(key1));
    gz_hmac_sha1(key1, sizeof(key1), msg1, strlen(msg1), mac);
    hexof(mac, 20, hex);
    TAP_OK(strcmp(hex, "aa4ae5e15272d00e95705637ce8a3b55ed402112") == 0,
           "hmac-sha1 RFC 2202 case 6 (long key)");
    gz_hmac_sha256("key", 3, "", 0, mac);
    hexof(mac, 32, hex);
    TAP_OK(strcmp(hex, "5d5d139563c95b5967b9bd9a8c9b233a9dedb45072794cd232dc1b74832607d0") == 0,
           "hmac-sha256 of an empty message");
}

int main(void)
{
    gz_log_set_level(GZ_LOG_WARN);
    char dir[] = "/tmp/gzy-test-auth-XXXXXX";
    struct iam_config icfg = {.data_dir = dir, .root_access = AKID, .root_secret = SECRET};
    if (mkdtemp(dir) == NULL || iam_open(&icfg, &g_iam) != 0) {
        printf("Bail out! iam_open failed\n");
        return 1;
    }
    gz_time_parse_amz(GZ_SLICE_LIT("20130524T000000Z"), &t2013);
    TAP_RUN(t_hash_vectors);
    TAP_RUN(t_hash_streaming);
    TAP_RUN(t_hash_names);
    TAP_RUN(t_hmac_long_key);
    TAP_RUN(t_sigv4_key_cache);
    TAP_RUN(t_sigv4_get_object);
    TAP_RUN(t_sigv4_put_object);
    TAP_RUN(t_sigv4_query_examples);
    TAP_RUN(t_sigv4_canonical_query);
    TAP_RUN(t_sigv4_errors);
    TAP_RUN(t_sigv4_header_rules);
    TAP_RUN(t_sigv4_presigned);
    TAP_RUN(t_streaming_signed);
    TAP_RUN(t_streaming_chunk_limits);
    TAP_RUN(t_streaming_signed_trailer);
    TAP_RUN(t_streaming_unsigned_trailer);
    TAP_RUN(t_header_checksums);
    TAP_RUN(t_content_md5);
    TAP_RUN(t_sigv2_examples);
    TAP_RUN(t_sigv2_upload_and_dates);
    TAP_RUN(t_sigv2_presigned);
    TAP_RUN(t_sigv2_bucket_slash);
    TAP_RUN(t_payload_lifecycle);
    iam_close(g_iam);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", dir);
    return tap_done();
}
