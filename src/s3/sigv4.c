/*
 * sigv4.c - AWS Signature Version 4 for S3: the canonical request, the signing key chain,
 * the Authorization header and presigned-URL verifiers, and the chunk/trailer signatures of
 * aws-chunked bodies.
 *
 * S3 differs from other services in one place that matters: the canonical URI is the path
 * exactly as the client sent it (already percent-encoded, never normalised or encoded twice).
 * Some clients leave characters such as '$' unencoded in the path while encoding them when
 * signing, so a mismatch is retried once with the path decoded and re-encoded by the SigV4
 * rules; both forms name the same decoded key, so this widens nothing an attacker can reach.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "auth_int.h"

#define V4_ALGORITHM "AWS4-HMAC-SHA256"

/* ---- encoding ---- */

/* SigV4's unreserved set, A-Z a-z 0-9 - _ . ~, as a bitmap over the byte value. */
static const uint64_t v4_unreserved_map[4] = {0x03ff600000000000ULL, 0x47fffffe87fffffeULL, 0,
                                              0};

static inline bool v4_unreserved(unsigned char c)
{
    return (v4_unreserved_map[c >> 6] >> (c & 63)) & 1;
}

/* Appends s percent-encoded by the SigV4 rules (upper-case hex; '/' kept if keep_slash).
 * Runs of characters that stay as they are go out in one append. */
static int v4_encode_append(struct gz_buf *b, struct gz_slice s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t run = 0;
    int rc = 0;
    for (size_t i = 0; i < s.len && rc == 0; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (v4_unreserved(c) || (keep_slash && c == '/'))
            continue;
        char e[3] = {'%', hex[c >> 4], hex[c & 15]};
        rc = gz_buf_append(b, s.ptr + run, i - run);
        if (rc == 0)
            rc = gz_buf_append(b, e, 3);
        run = i + 1;
    }
    if (rc == 0)
        rc = gz_buf_append(b, s.ptr + run, s.len - run);
    return rc;
}

static bool v4_upper_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

static int v4_hex_val(char c)
{
    return c <= '9' ? c - '0' : c - 'A' + 10;
}

/* Is raw exactly what decoding and re-encoding it would give? True when every byte is
 * unreserved (or a kept '/') and every escape is upper-case and stands for a byte that must
 * be escaped. SDKs send canonical query strings, so this usually spares the round trip. */
static bool v4_is_canonical(struct gz_slice raw, bool keep_slash)
{
    for (size_t i = 0; i < raw.len; i++) {
        unsigned char c = (unsigned char)raw.ptr[i];
        if (v4_unreserved(c) || (keep_slash && c == '/'))
            continue;
        if (c != '%' || i + 2 >= raw.len || !v4_upper_hex(raw.ptr[i + 1]) ||
            !v4_upper_hex(raw.ptr[i + 2]))
            return false;
        unsigned char d = (unsigned char)(v4_hex_val(raw.ptr[i + 1]) << 4 |
                                          v4_hex_val(raw.ptr[i + 2]));
        if (v4_unreserved(d) || (keep_slash && d == '/'))
            return false;
        i += 2;
    }
    return true;
}

/* Decodes raw (percent-encoded) into scratch, then appends it SigV4-encoded. */
static int v4_reencode_append(struct gz_buf *b, struct gz_slice raw, char *scratch, bool slash)
{
    if (v4_is_canonical(raw, slash))
        return gz_buf_append(b, raw.ptr, raw.len);
    int n = s3__pct_decode(scratch, raw.len, raw);
    if (n < 0)
        return n;
    return v4_encode_append(b, gz_slice(scratch, (size_t)n), slash);
}

/* ---- canonical query ---- */

struct v4_param {
    size_t noff, nlen, voff, vlen; /* offsets into the encoded-parameter buffer */
    const char *base;
};

static int v4_param_cmp(const void *pa, const void *pb)
{
    const struct v4_param *a = pa, *b = pb;
    size_t n = GZ_MIN(a->nlen, b->nlen);
    int c = memcmp(a->base + a->noff, b->base + b->noff, n);
    if (c != 0 || a->nlen != b->nlen)
        return c != 0 ? c : (a->nlen < b->nlen ? -1 : 1);
    n = GZ_MIN(a->vlen, b->vlen);
    c = memcmp(a->base + a->voff, b->base + b->voff, n);
    if (c != 0 || a->vlen == b->vlen)
        return c;
    return a->vlen < b->vlen ? -1 : 1;
}

/* Encodes every parameter into enc and records where each landed. */
static int v4_query_collect(struct gz_slice query, bool presigned, struct gz_buf *enc,
                            struct v4_param *params, size_t *count, char *scratch)
{
    struct gz_slice rest = query, n, v;
    size_t k = 0;
    int rc = 0;
    while (s3__query_next(&rest, &n, &v)) {
        int dl = s3__pct_decode(scratch, n.len, n);
        if (presigned && dl == 15 && memcmp(scratch, "X-Amz-Signature", 15) == 0)
            continue;
        if (k == S3__MAX_QUERY_PARAMS)
            return -E2BIG;
        params[k].noff = enc->len;
        if ((rc = v4_reencode_append(enc, n, scratch, false)) != 0)
            return rc;
        params[k].nlen = enc->len - params[k].noff;
        params[k].voff = enc->len;
        if ((rc = v4_reencode_append(enc, v, scratch, false)) != 0)
            return rc;
        params[k].vlen = enc->len - params[k].voff;
        k++;
    }
    *count = k;
    return 0;
}

#define V4_QUERY_STACK_PARAMS 32
#define V4_QUERY_STACK_BYTES 2048

static int v4_canonical_query(struct gz_buf *out, struct gz_slice query, bool presigned)
{
    struct gz_buf enc;
    struct v4_param small_params[V4_QUERY_STACK_PARAMS], *params = small_params;
    char small_scratch[V4_QUERY_STACK_BYTES], *scratch = small_scratch;
    size_t count = 0, cap = GZ_MIN(query.len / 2 + 1, S3__MAX_QUERY_PARAMS);
    int rc = 0;
    gz_buf_init(&enc, S3__MAX_CANONICAL);
    if (query.len == 0)
        goto out;
    /* A presigned URL has ~7 short parameters: no heap for the bookkeeping then. */
    if (cap > V4_QUERY_STACK_PARAMS)
        params = gz_malloc(sizeof(*params) * cap);
    if (query.len > sizeof(small_scratch))
        scratch = gz_malloc(query.len);
    rc = gz_buf_reserve(&enc, GZ_MIN(query.len + query.len / 2, (size_t)S3__MAX_CANONICAL));
    if (rc == 0)
        rc = v4_query_collect(query, presigned, &enc, params, &count, scratch);
    if (rc != 0)
        goto out;
    for (size_t i = 0; i < count; i++)
        params[i].base = enc.ptr;
    qsort(params, count, sizeof(*params), v4_param_cmp);
    for (size_t i = 0; i < count && rc == 0; i++) {
        if (i > 0)
            rc = gz_buf_append(out, "&", 1);
        if (rc == 0)
            rc = gz_buf_append(out, enc.ptr + params[i].noff, params[i].nlen);
        if (rc == 0)
            rc = gz_buf_append(out, "=", 1);
        if (rc == 0)
            rc = gz_buf_append(out, enc.ptr + params[i].voff, params[i].vlen);
    }
out:
    if (params != small_params)
        gz_free(params);
    if (scratch != small_scratch)
        gz_free(scratch);
    gz_buf_free(&enc);
    return rc;
}

/* ---- canonical headers ---- */

/* Appends v trimmed, with inner runs of spaces/tabs collapsed to one space. */
static int v4_value_append(struct gz_buf *b, struct gz_slice v)
{
    v = gz_slice_trim(v);
    size_t i = 0;
    while (i < v.len) {
        size_t start = i;
        while (i < v.len && v.ptr[i] != ' ' && v.ptr[i] != '\t')
            i++;
        if (gz_buf_append(b, v.ptr + start, i - start) != 0)
            return -E2BIG;
        if (i == v.len)
            break;
        while (i < v.len && (v.ptr[i] == ' ' || v.ptr[i] == '\t'))
            i++;
        if (i < v.len && gz_buf_append(b, " ", 1) != 0) /* a trailing run is dropped */
            return -E2BIG;
    }
    return 0;
}

static int v4_lower_append(struct gz_buf *b, struct gz_slice s)
{
    size_t at = b->len;
    if (gz_buf_append(b, s.ptr, s.len) != 0)
        return -E2BIG;
    for (size_t i = at; i < b->len; i++) {
        char c = b->ptr[i];
        if (c >= 'A' && c <= 'Z')
            b->ptr[i] = (char)(c + 32);
    }
    return 0;
}

static int v4_canonical_headers(struct gz_buf *out, const struct http_header *headers,
                                size_t nheaders, struct gz_slice signed_headers)
{
    struct gz_slice rest = signed_headers;
    while (rest.len > 0) {
        const char *semi = memchr(rest.ptr, ';', rest.len);
        struct gz_slice name = gz_slice(rest.ptr, semi ? (size_t)(semi - rest.ptr) : rest.len);
        rest.ptr += semi ? name.len + 1 : name.len;
        rest.len -= semi ? name.len + 1 : name.len;
        if (name.len == 0)
            return -EINVAL;
        if (v4_lower_append(out, name) != 0 || gz_buf_append(out, ":", 1) != 0)
            return -E2BIG;
        bool first = true;
        for (size_t i = 0; i < nheaders; i++) {
            if (!gz_slice_case_eq(headers[i].name, name))
                continue;
            if (!first && gz_buf_append(out, ",", 1) != 0)
                return -E2BIG;
            if (v4_value_append(out, headers[i].value) != 0)
                return -E2BIG;
            first = false;
        }
        if (gz_buf_append(out, "\n", 1) != 0)
            return -E2BIG;
    }
    return 0;
}

int s3_sigv4_canonical_request(struct gz_buf *out, struct gz_slice method, struct gz_slice path,
                               struct gz_slice query, const struct http_header *headers,
                               size_t nheaders, struct gz_slice signed_headers,
                               struct gz_slice payload_hash, bool presigned)
{
    int rc;
    if (path.len == 0)
        path = GZ_SLICE_LIT("/");
    if ((rc = gz_buf_append(out, method.ptr, method.len)) != 0 ||
        (rc = gz_buf_append(out, "\n", 1)) != 0 ||
        (rc = gz_buf_append(out, path.ptr, path.len)) != 0 ||
        (rc = gz_buf_append(out, "\n", 1)) != 0)
        return rc;
    if ((rc = v4_canonical_query(out, query, presigned)) != 0)
        return rc;
    if ((rc = gz_buf_append(out, "\n", 1)) != 0)
        return rc;
    if ((rc = v4_canonical_headers(out, headers, nheaders, signed_headers)) != 0)
        return rc;
    if ((rc = gz_buf_append(out, "\n", 1)) != 0 ||
        (rc = gz_buf_append(out, signed_headers.ptr, signed_headers.len)) != 0 ||
        (rc = gz_buf_append(out, "\n", 1)) != 0 ||
        (rc = gz_buf_append(out, payload_hash.ptr, payload_hash.len)) != 0)
        return rc;
    return 0;
}

/* ---- keys and signatures ---- */

void s3_sigv4_signing_key(const char *secret, struct gz_slice date, struct gz_slice region,
                          struct gz_slice service, uint8_t out[32])
{
    char k0[4 + IAM_MAX_SECRET + 1];
    uint8_t k1[32], k2[32], k3[32];
    size_t slen = strnlen(secret, IAM_MAX_SECRET);
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, secret, slen);
    gz_hmac_sha256(k0, 4 + slen, date.ptr, date.len, k1);
    gz_hmac_sha256(k1, 32, region.ptr, region.len, k2);
    gz_hmac_sha256(k2, 32, service.ptr, service.len, k3);
    gz_hmac_sha256(k3, 32, "aws4_request", 12, out);
    explicit_bzero(k0, sizeof(k0));
    explicit_bzero(k1, sizeof(k1));
    explicit_bzero(k2, sizeof(k2));
    explicit_bzero(k3, sizeof(k3));
}

/* ---- the per-thread signing-key cache ----
 * kSigning is four chained HMACs over (secret, date, region, service) and changes once a day
 * per credential and region, so each loop thread keeps the few it derived last. An entry is
 * returned only when secret, date and region all match exactly (the service is always "s3":
 * the credential parser rejects any other), so a changed or revoked secret never reuses a key:
 * the lookup compares the secret the IAM lookup just returned. Thread-local, so no lock. */

#define V4_KEY_CACHE_SLOTS 8
#define V4_KEY_CACHE_REGION_MAX 64

struct v4_key_slot {
    bool used;
    uint8_t secret_len, region_len;
    char date[8];
    char region[V4_KEY_CACHE_REGION_MAX];
    char secret[IAM_MAX_SECRET];
    uint8_t key[32];
};

struct v4_key_cache {
    struct v4_key_slot slot[V4_KEY_CACHE_SLOTS];
    unsigned next; /* round-robin victim */
};

static _Thread_local struct v4_key_cache v4_keys;

static bool v4_key_slot_match(const struct v4_key_slot *e, struct gz_slice secret,
                              struct gz_slice date, struct gz_slice region)
{
    return e->used && e->region_len == region.len && memcmp(e->date, date.ptr, 8) == 0 &&
           memcmp(e->region, region.ptr, region.len) == 0 &&
           gz_consttime_eq(e->secret, e->secret_len, secret.ptr, secret.len);
}

bool s3__sigv4_signing_key_cached(const char *secret, struct gz_slice date,
                                  struct gz_slice region, uint8_t out[32])
{
    struct gz_slice sec = gz_slice(secret, strnlen(secret, IAM_MAX_SECRET));
    if (date.len != 8 || region.len > V4_KEY_CACHE_REGION_MAX || sec.len == 0) {
        s3_sigv4_signing_key(secret, date, region, GZ_SLICE_LIT("s3"), out);
        return false;
    }
    for (size_t i = 0; i < V4_KEY_CACHE_SLOTS; i++) {
        if (v4_key_slot_match(&v4_keys.slot[i], sec, date, region)) {
            memcpy(out, v4_keys.slot[i].key, 32);
            return true;
        }
    }
    s3_sigv4_signing_key(secret, date, region, GZ_SLICE_LIT("s3"), out);
    struct v4_key_slot *e = &v4_keys.slot[v4_keys.next++ % V4_KEY_CACHE_SLOTS];
    explicit_bzero(e, sizeof(*e));
    e->used = true;
    e->secret_len = (uint8_t)sec.len;
    e->region_len = (uint8_t)region.len;
    memcpy(e->secret, sec.ptr, sec.len);
    memcpy(e->date, date.ptr, 8);
    memcpy(e->region, region.ptr, region.len);
    memcpy(e->key, out, 32);
    return false;
}

void s3__sigv4_key_cache_clear(void)
{
    explicit_bzero(&v4_keys, sizeof(v4_keys));
}

/* HMAC of "<alg>\n<date>\n<scope>\n<tail>" with the signing key, as hex. Assembled on the
 * stack: every piece is bounded (date 64, scope 1024, tail three hex digests). */
static void v4_sign_parts(const uint8_t key[32], const char *alg, struct gz_slice amz_date,
                          struct gz_slice scope, const char *tail, char out_hex[65])
{
    char sts[64 + 1 + 64 + 1 + 1024 + 1 + 3 * 65];
    size_t n = 0, l;
    uint8_t mac[32];
    l = strnlen(alg, 64);
    memcpy(sts + n, alg, l);
    n += l;
    sts[n++] = '\n';
    l = amz_date.ptr ? GZ_MIN(amz_date.len, (size_t)64) : 0;
    memcpy(sts + n, amz_date.ptr, l);
    n += l;
    sts[n++] = '\n';
    l = scope.ptr ? GZ_MIN(scope.len, (size_t)1024) : 0;
    memcpy(sts + n, scope.ptr, l);
    n += l;
    sts[n++] = '\n';
    l = strnlen(tail, 3 * 65);
    memcpy(sts + n, tail, l);
    n += l;
    gz_hmac_sha256(key, 32, sts, n, mac);
    gz_hex_encode(out_hex, mac, 32);
}

void s3_sigv4_sign(const uint8_t key[32], struct gz_slice amz_date, struct gz_slice scope,
                   struct gz_slice canonical_request, char out_hex[65])
{
    uint8_t digest[32];
    char hex[65];
    gz_sha256(canonical_request.ptr, canonical_request.len, digest);
    gz_hex_encode(hex, digest, 32);
    v4_sign_parts(key, V4_ALGORITHM, amz_date, scope, hex, out_hex);
}

void s3__sigv4_chunk_sign(const struct s3_auth *auth, const char *prev_hex,
                          const uint8_t data_sha256[32], char out_hex[65])
{
    char tail[64 + 1 + 64 + 1 + 64 + 1], hex[65];
    gz_hex_encode(hex, data_sha256, 32);
    snprintf(tail, sizeof(tail), "%.64s\n%s\n%s", prev_hex, S3__EMPTY_SHA256, hex);
    v4_sign_parts(auth->signing_key, "AWS4-HMAC-SHA256-PAYLOAD", gz_slice_cstr(auth->amz_date),
                  gz_slice_cstr(auth->scope), tail, out_hex);
}

void s3__sigv4_trailer_sign(const struct s3_auth *auth, const char *prev_hex,
                            const uint8_t trailer_sha256[32], char out_hex[65])
{
    char tail[64 + 1 + 64 + 1], hex[65];
    gz_hex_encode(hex, trailer_sha256, 32);
    snprintf(tail, sizeof(tail), "%.64s\n%s", prev_hex, hex);
    v4_sign_parts(auth->signing_key, "AWS4-HMAC-SHA256-TRAILER", gz_slice_cstr(auth->amz_date),
                  gz_slice_cstr(auth->scope), tail, out_hex);
}

/* ---- verification ---- */

/* What both verifiers extract before the common signature check. */
struct v4_req {
    struct gz_slice akid, date, region, service; /* from the credential */
    struct gz_slice signed_headers;
    struct gz_slice signature;
    struct gz_slice payload_hash;
    char amz_date[17];
    char scope[128];
    bool presigned;
};

/* "AKID/YYYYMMDD/region/service/aws4_request" */
static const char *v4_credential_parse(struct gz_slice cred, struct v4_req *r)
{
    struct gz_slice part[5];
    struct gz_slice rest = cred;
    for (int i = 0; i < 5; i++) {
        const char *slash = i < 4 ? memchr(rest.ptr, '/', rest.len) : NULL;
        if (i < 4 && slash == NULL)
            return "the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/"
                   "SERVICE/aws4_request\".";
        part[i] = gz_slice(rest.ptr, slash ? (size_t)(slash - rest.ptr) : rest.len);
        rest.ptr += slash ? part[i].len + 1 : part[i].len;
        rest.len -= slash ? part[i].len + 1 : part[i].len;
    }
    if (part[0].len == 0 || part[1].len != 8 || part[2].len == 0)
        return "the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/"
               "SERVICE/aws4_request\".";
    if (!gz_slice_eq_cstr(part[3], "s3"))
        return "incorrect service. This endpoint belongs to \"s3\".";
    if (!gz_slice_eq_cstr(part[4], "aws4_request"))
        return "incorrect terminal. This endpoint uses \"aws4_request\".";
    size_t scope_len = cred.len - part[0].len - 1;
    if (scope_len >= sizeof(r->scope))
        return "the Credential scope is too long.";
    memcpy(r->scope, part[1].ptr, scope_len);
    r->scope[scope_len] = '\0';
    r->akid = part[0];
    r->date = part[1];
    r->region = part[2];
    r->service = part[3];
    return NULL;
}

static void v4_format_amz_date(int64_t t, char out[17])
{
    time_t tt = (time_t)t;
    struct tm tm;
    char buf[64];
    gmtime_r(&tt, &tm);
    snprintf(buf, sizeof(buf), "%04d%02d%02dT%02d%02d%02dZ", (tm.tm_year + 1900) % 10000,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    memcpy(out, buf, 16);
    out[16] = '\0';
}

/* The path decoded and re-encoded by the SigV4 rules ('/' kept). */
static int v4_path_reencoded(struct gz_buf *out, struct gz_slice path)
{
    char *scratch = gz_malloc(path.len + 1);
    int rc = v4_reencode_append(out, path, scratch, true);
    gz_free(scratch);
    return rc;
}

/* Computes the signature over path; 0 and out_hex, or -E2BIG / -EINVAL. */
static int v4_compute(const struct http_req_info *info, const struct v4_req *r,
                      const uint8_t key[32], struct gz_slice path, char out_hex[65])
{
    struct gz_buf canon;
    gz_buf_init(&canon, S3__MAX_CANONICAL);
    int rc = gz_buf_reserve(&canon, GZ_MIN((size_t)S3__MAX_CANONICAL,
                                           512 + 2 * info->target.len + r->signed_headers.len));
    if (rc == 0)
        rc = s3_sigv4_canonical_request(&canon, info->method, path, info->query, info->headers,
                                        info->nheaders, r->signed_headers, r->payload_hash,
                                        r->presigned);
    if (rc == 0) {
        s3_sigv4_sign(key, gz_slice_cstr(r->amz_date), gz_slice_cstr(r->scope),
                      gz_buf_slice(&canon), out_hex);
        if (GZ_LOG_DEBUG <= gz_log_level_current) {
            char esc[2048];
            gz_log_escape(esc, sizeof(esc), gz_buf_slice(&canon));
            log_debug("sigv4 canonical request: %s", esc);
        }
    }
    gz_buf_free(&canon);
    return rc;
}

static bool v4_sig_matches(const char *expected, struct gz_slice given)
{
    char lower[64];
    if (given.len != 64)
        return false;
    for (size_t i = 0; i < 64; i++) {
        char c = given.ptr[i];
        lower[i] = (c >= 'A' && c <= 'F') ? (char)(c + 32) : c;
    }
    return gz_consttime_eq(expected, 64, lower, 64);
}

/* The common tail: derive the key, sign, compare; on success fill out. */
static enum s3_err v4_check(const struct http_req_info *info, const struct v4_req *r,
                            struct s3_auth *out, char *msg, size_t msgsz)
{
    uint8_t key[32];
    char sig[65];
    s3__sigv4_signing_key_cached(out->principal.secret_key, r->date, r->region, key);
    int rc = v4_compute(info, r, key, info->path, sig);
    bool ok = rc == 0 && v4_sig_matches(sig, r->signature);
    if (rc == 0 && !ok) {
        struct gz_buf alt;
        gz_buf_init(&alt, S3__MAX_CANONICAL);
        if (v4_path_reencoded(&alt, info->path) == 0 &&
            !gz_slice_eq(gz_buf_slice(&alt), info->path))
            ok = v4_compute(info, r, key, gz_buf_slice(&alt), sig) == 0 &&
                 v4_sig_matches(sig, r->signature);
        gz_buf_free(&alt);
    }
    if (!ok)
        explicit_bzero(key, sizeof(key));
    if (rc == -E2BIG) {
        s3__msg(msg, msgsz, "The request is too large to authenticate.");
        return S3_ERR_INVALID_REQUEST;
    }
    if (!ok) {
        s3__msg(msg, msgsz,
                "The request signature we calculated does not match the signature "
                "you provided. Check your key and signing method.");
        return S3_ERR_SIGNATURE_DOES_NOT_MATCH;
    }
    out->version = 4;
    out->presigned = r->presigned;
    memcpy(out->signing_key, key, 32);
    explicit_bzero(key, sizeof(key));
    for (size_t i = 0; i < 64; i++) {
        char c = r->signature.ptr[i];
        out->seed_signature[i] = (c >= 'A' && c <= 'F') ? (char)(c + 32) : c;
    }
    out->seed_signature[64] = '\0';
    memcpy(out->amz_date, r->amz_date, sizeof(out->amz_date));
    memcpy(out->scope, r->scope, sizeof(out->scope));
    return S3_OK;
}

static enum s3_err v4_lookup(struct iam *iam, struct gz_slice akid, struct s3_auth *out, char *msg,
                             size_t msgsz)
{
    if (iam_principal_lookup(iam, akid, &out->principal) != 0) {
        s3__msg(msg, msgsz, "The AWS Access Key Id you provided does not exist in our records.");
        return S3_ERR_INVALID_ACCESS_KEY_ID;
    }
    return S3_OK;
}

/* ---- Authorization header ---- */

/* "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..." */
static const char *v4_header_parse(struct gz_slice authz, struct gz_slice *cred, struct v4_req *r)
{
    struct gz_slice rest =
        gz_slice(authz.ptr + strlen(V4_ALGORITHM), authz.len - strlen(V4_ALGORITHM));
    *cred = r->signed_headers = r->signature = GZ_SLICE_NULL;
    while (rest.len > 0) {
        const char *comma = memchr(rest.ptr, ',', rest.len);
        struct gz_slice item = gz_slice(rest.ptr, comma ? (size_t)(comma - rest.ptr) : rest.len);
        rest.ptr += comma ? item.len + 1 : item.len;
        rest.len -= comma ? item.len + 1 : item.len;
        item = gz_slice_trim(item);
        const char *eq = item.len ? memchr(item.ptr, '=', item.len) : NULL;
        if (eq == NULL)
            return "the authorization header is malformed.";
        struct gz_slice k = gz_slice(item.ptr, (size_t)(eq - item.ptr));
        struct gz_slice v = gz_slice_trim(gz_slice(eq + 1, item.len - k.len - 1));
        if (gz_slice_eq_cstr(k, "Credential"))
            *cred = v;
        else if (gz_slice_eq_cstr(k, "SignedHeaders"))
            r->signed_headers = v;
        else if (gz_slice_eq_cstr(k, "Signature"))
            r->signature = v;
    }
    if (cred->ptr == NULL || r->signed_headers.ptr == NULL || r->signature.ptr == NULL ||
        r->signed_headers.len == 0)
        return "the authorization header requires Credential, SignedHeaders and Signature.";
    return NULL;
}

/* Every x-amz-* header the request carries must be signed (AWS: HeadersNotSigned). */
static bool v4_all_amz_signed(const struct http_req_info *info, struct gz_slice signed_headers)
{
    for (size_t i = 0; i < info->nheaders; i++) {
        struct gz_slice n = info->headers[i].name;
        if (n.len < 6 || !gz_slice_case_eq(gz_slice(n.ptr, 6), GZ_SLICE_LIT("x-amz-")))
            continue;
        bool found = false;
        struct gz_slice rest = signed_headers;
        while (rest.len > 0 && !found) {
            const char *semi = memchr(rest.ptr, ';', rest.len);
            size_t l = semi ? (size_t)(semi - rest.ptr) : rest.len;
            found = gz_slice_case_eq(gz_slice(rest.ptr, l), n);
            rest.ptr += semi ? l + 1 : l;
            rest.len -= semi ? l + 1 : l;
        }
        if (!found)
            return false;
    }
    return true;
}

/* The request time from x-amz-date (ISO 8601 basic) or Date. */
static enum s3_err v4_header_time(const struct http_req_info *info, int64_t now_s, struct v4_req *r,
                                  char *msg, size_t msgsz)
{
    struct gz_slice xd = s3__header(info, "x-amz-date"), d = s3__header(info, "Date");
    int64_t t = 0;
    int rc = -EINVAL;
    if (xd.ptr != NULL)
        rc = gz_time_parse_amz(xd, &t);
    else if (d.ptr != NULL)
        rc = s3__time_parse_any(d, &t);
    if (rc != 0) {
        s3__msg(msg, msgsz, "AWS authentication requires a valid Date or x-amz-date header");
        return S3_ERR_ACCESS_DENIED;
    }
    v4_format_amz_date(t, r->amz_date);
    if (memcmp(r->amz_date, r->date.ptr, 8) != 0) {
        s3__msg(msg, msgsz,
                "The authorization header is malformed; Invalid credential date. "
                "Date is not the same as X-Amz-Date.");
        return S3_ERR_AUTH_HEADER_MALFORMED;
    }
    if (t > now_s + S3_MAX_SKEW_S || t < now_s - S3_MAX_SKEW_S) {
        s3__msg(msg, msgsz,
                "The difference between the request time and the current time is "
                "too large.");
        return S3_ERR_REQUEST_TIME_TOO_SKEWED;
    }
    return S3_OK;
}

/* x-amz-content-sha256: required; an absent header on a body-less request is read as the
 * empty body's hash (lenient), and the strict error is returned if that does not verify. */
static enum s3_err v4_header_payload(const struct http_req_info *info, struct v4_req *r,
                                     struct s3_auth *out, bool *guessed, char *msg, size_t msgsz)
{
    struct gz_slice v = s3__header(info, "x-amz-content-sha256");
    *guessed = false;
    if (v.ptr == NULL) {
        if (info->content_length > 0 || info->chunked) {
            s3__msg(msg, msgsz,
                    "Missing required header for this request: "
                    "x-amz-content-sha256");
            return S3_ERR_INVALID_REQUEST;
        }
        v = GZ_SLICE_LIT(S3__EMPTY_SHA256);
        *guessed = true;
    }
    if (s3__payload_mode_parse(v, &out->payload, out->payload_sha256) != 0) {
        s3__msg(msg, msgsz,
                "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                "STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
                "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, "
                "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 "
                "value.");
        return S3_ERR_INVALID_ARGUMENT;
    }
    r->payload_hash = v;
    return S3_OK;
}

enum s3_err s3__sigv4_verify_header(struct iam *iam, const struct http_req_info *info,
                                    struct gz_slice authz, int64_t now_s, struct s3_auth *out,
                                    char *msg, size_t msgsz)
{
    struct v4_req r = {.presigned = false};
    struct gz_slice cred;
    const char *why = v4_header_parse(authz, &cred, &r);
    if (why == NULL)
        why = v4_credential_parse(cred, &r);
    if (why != NULL) {
        s3__msg(msg, msgsz, "The authorization header is malformed; %s", why);
        return S3_ERR_AUTH_HEADER_MALFORMED;
    }
    enum s3_err e;
    bool guessed;
    if ((e = v4_header_time(info, now_s, &r, msg, msgsz)) != S3_OK ||
        (e = v4_lookup(iam, r.akid, out, msg, msgsz)) != S3_OK ||
        (e = v4_header_payload(info, &r, out, &guessed, msg, msgsz)) != S3_OK)
        return e;
    if (!v4_all_amz_signed(info, r.signed_headers)) {
        s3__msg(msg, msgsz, "There were headers present in the request which were not signed");
        return S3_ERR_ACCESS_DENIED;
    }
    e = v4_check(info, &r, out, msg, msgsz);
    if (e == S3_ERR_SIGNATURE_DOES_NOT_MATCH && guessed) {
        s3__msg(msg, msgsz, "Missing required header for this request: x-amz-content-sha256");
        return S3_ERR_INVALID_REQUEST;
    }
    return e;
}

/* ---- presigned URL ---- */

struct v4_query_params {
    char alg[S3__MAX_AUTH_VALUE], cred[S3__MAX_AUTH_VALUE], date[S3__MAX_AUTH_VALUE];
    char expires[S3__MAX_AUTH_VALUE], signed_headers[S3__MAX_AUTH_VALUE];
    char signature[S3__MAX_AUTH_VALUE], sha[S3__MAX_AUTH_VALUE];
    struct gz_slice a, c, d, x, h, s, p;
};

/* One pass over the query for the seven X-Amz-* parameters (the first occurrence of each
 * counts, as s3__query_get would find it). false if a required one is missing or too long. */
static bool v4_query_load(struct gz_slice q, struct v4_query_params *qp)
{
    static const char *const names[] = {"X-Amz-Algorithm", "X-Amz-Credential",
                                        "X-Amz-Date",      "X-Amz-Expires",
                                        "X-Amz-SignedHeaders", "X-Amz-Signature",
                                        "X-Amz-Content-Sha256"};
    char *bufs[] = {qp->alg,           qp->cred,      qp->date, qp->expires,
                    qp->signed_headers, qp->signature, qp->sha};
    struct gz_slice *vals[] = {&qp->a, &qp->c, &qp->d, &qp->x, &qp->h, &qp->s, &qp->p};
    int state[GZ_ARRAY_LEN(names)] = {0}; /* 0 absent, 1 found, -1 too long */
    struct gz_slice rest = q, n, v;
    char dn[64];
    while (s3__query_next(&rest, &n, &v)) {
        if (n.len < 10 || n.len > sizeof(dn))
            continue; /* too short for any wanted name; s3__query_get's 64-byte bound */
        int dl = s3__pct_decode(dn, sizeof(dn), n);
        for (size_t i = 0; dl > 0 && i < GZ_ARRAY_LEN(names); i++) {
            if (state[i] != 0 || strlen(names[i]) != (size_t)dl || memcmp(dn, names[i], dl) != 0)
                continue;
            int len = s3__pct_decode(bufs[i], S3__MAX_AUTH_VALUE, v);
            state[i] = len < 0 ? -1 : 1;
            if (len >= 0)
                *vals[i] = gz_slice(bufs[i], (size_t)len);
            break;
        }
    }
    bool ok = true;
    for (size_t i = 0; i + 1 < GZ_ARRAY_LEN(names); i++)
        ok &= state[i] == 1;
    if (state[GZ_ARRAY_LEN(names) - 1] != 1)
        qp->p = GZ_SLICE_NULL;
    return ok;
}

/* Date, expiry and "not yet valid" checks of a presigned URL. */
static enum s3_err v4_presigned_time(const struct v4_query_params *qp, int64_t now_s,
                                     struct v4_req *r, char *msg, size_t msgsz)
{
    int64_t t;
    uint64_t expires;
    if (gz_time_parse_amz(qp->d, &t) != 0) {
        s3__msg(msg, msgsz,
                "X-Amz-Date must be in the ISO8601 Long Format "
                "\"yyyyMMdd'T'HHmmss'Z'\"");
        return S3_ERR_AUTH_QUERY_MALFORMED;
    }
    if (gz_slice_to_u64(qp->x, &expires) != 0 || expires < 1) {
        s3__msg(msg, msgsz, "X-Amz-Expires should be a number between 1 and 604800");
        return S3_ERR_AUTH_QUERY_MALFORMED;
    }
    if (expires > S3_MAX_PRESIGN_EXPIRES_S) {
        s3__msg(msg, msgsz,
                "X-Amz-Expires must be less than a week (in seconds) that is "
                "604800");
        return S3_ERR_AUTH_QUERY_MALFORMED;
    }
    memcpy(r->amz_date, qp->d.ptr, 16);
    r->amz_date[16] = '\0';
    if (memcmp(r->amz_date, r->date.ptr, 8) != 0) {
        s3__msg(msg, msgsz, "Invalid credential date. Date is not the same as X-Amz-Date.");
        return S3_ERR_AUTH_QUERY_MALFORMED;
    }
    if (now_s > t + (int64_t)expires) {
        s3__msg(msg, msgsz, "Request has expired");
        return S3_ERR_ACCESS_DENIED;
    }
    if (t > now_s + S3_MAX_SKEW_S) {
        s3__msg(msg, msgsz, "Request is not valid yet");
        return S3_ERR_ACCESS_DENIED;
    }
    return S3_OK;
}

enum s3_err s3__sigv4_verify_presigned(struct iam *iam, const struct http_req_info *info,
                                       int64_t now_s, struct s3_auth *out, char *msg, size_t msgsz)
{
    struct v4_query_params qbuf, *qp = &qbuf;
    struct v4_req r = {.presigned = true};
    enum s3_err e = S3_OK;
    const char *why;
    if (!v4_query_load(info->query, qp)) {
        s3__msg(msg, msgsz,
                "Query-string authentication version 4 requires the "
                "X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, "
                "X-Amz-SignedHeaders, and X-Amz-Expires parameters.");
        e = S3_ERR_AUTH_QUERY_MALFORMED;
        goto out;
    }
    if (!gz_slice_eq_cstr(qp->a, V4_ALGORITHM)) {
        s3__msg(msg, msgsz, "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"");
        e = S3_ERR_AUTH_QUERY_MALFORMED;
        goto out;
    }
    if ((why = v4_credential_parse(qp->c, &r)) != NULL) {
        s3__msg(msg, msgsz, "Error parsing the X-Amz-Credential parameter; %s", why);
        e = S3_ERR_AUTH_QUERY_MALFORMED;
        goto out;
    }
    r.signed_headers = qp->h;
    r.signature = qp->s;
    if ((e = v4_presigned_time(qp, now_s, &r, msg, msgsz)) != S3_OK ||
        (e = v4_lookup(iam, r.akid, out, msg, msgsz)) != S3_OK)
        goto out;
    r.payload_hash = qp->p.ptr ? qp->p : s3__header(info, "x-amz-content-sha256");
    if (r.payload_hash.ptr == NULL)
        r.payload_hash = GZ_SLICE_LIT("UNSIGNED-PAYLOAD");
    if (s3__payload_mode_parse(r.payload_hash, &out->payload, out->payload_sha256) != 0) {
        s3__msg(msg, msgsz,
                "x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a valid sha256 "
                "value.");
        e = S3_ERR_INVALID_ARGUMENT;
        goto out;
    }
    e = v4_check(info, &r, out, msg, msgsz);
out:
    return e;
}
