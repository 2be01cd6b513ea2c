/*
 * payload.c - verifies a request body while it streams.
 *
 * Plain bodies pass straight through; aws-chunked bodies are decoded:
 *
 *   <hex size>[;chunk-signature=<64 hex>]\r\n <data> \r\n  ...  0[;chunk-signature=...]\r\n
 *   [<trailer name>:<value>\r\n ... [x-amz-trailer-signature:<64 hex>\r\n]] \r\n
 *
 * Every byte is hashed once as it passes: MD5 always (the ETag), SHA-256 of the whole body
 * only for a literal x-amz-content-sha256, SHA-256 per chunk for signed chunks, and the
 * declared x-amz-checksum-* algorithm. Header lines are collected in a fixed buffer bounded by
 * S3_MAX_CHUNK_HEADER and trailers by S3_MAX_TRAILER_BYTES; data is never buffered.
 *
 * Decoded bytes are handed to emit before the chunk's signature can be checked (a chunk may be
 * 16 MiB), so the caller must treat any error from feed or finish as "discard everything":
 * the store commits an object only after s3_payload_finish() returns S3_OK.
 *
 * Leniencies, each seen in real clients or AWS's own examples: an empty line between the
 * final chunk and the trailers is skipped, and a body that ends after complete trailer lines
 * without the closing empty line is accepted.
 *
 * Hashing on a second core (s3_payload_offload): once a body passes S3__OFFLOAD_MIN bytes, the
 * whole-body digests (MD5, the body's SHA-256, the declared checksum) move to a hashpipe
 * (util/hashpipe.h): the loop thread copies each decoded slice into the pipe's ring and goes
 * on writing the file while a pool thread digests. Per-chunk SHA-256 of signed aws-chunked
 * bodies stays inline (a chunk's signature is needed before the next chunk). When the ring has
 * less than one HTTP body chunk of room, the body is paused (http_req_pause_body) and resumed
 * from payload_wake, which the hasher posts to the loop thread (http_req_post) once a block is
 * free. Before finish, and before the request may be finished at all, the handler calls
 * s3_payload_settle(): every byte digested (or, after an error, dropped) and no post
 * outstanding, since a post must never reach a finished request. A client that vanishes, or
 * SIGTERM's drain cutting a body off, ends the body with an error: the handler settles with
 * cancel (the hasher drops the queued blocks, at most one more block is digested), replies,
 * and the request's cleanup frees the pipe.
 */
#include <errno.h>
#include <stdio.h>

#include "../util/hashpipe.h"
#include "auth_int.h"
#include "s3_int.h"

#define S3__OFFLOAD_MIN (1024 * 1024) /* smaller bodies are hashed inline, on the loop thread */

enum payload_state {
    ST_HEADER,  /* reading a chunk header line */
    ST_DATA,    /* inside a chunk's data */
    ST_DATA_CR, /* expecting the CR after data */
    ST_DATA_LF, /* expecting the LF after data */
    ST_TRAILER, /* reading trailer lines after the final chunk */
    ST_DONE,    /* the closing empty line was seen: nothing may follow */
};

enum checksum_source { CK_NONE, CK_HEADER, CK_TRAILER, CK_COMPUTE };

struct s3_payload {
    struct s3_auth auth; /* copy without the principal: key, seed, date, scope */
    enum s3_payload_mode mode;
    bool chunked, signed_chunks, trailer_mode, signed_trailer;

    struct gz_hash md5;
    struct gz_hash body_sha; /* whole body, for S3_PAYLOAD_SHA256 (or a SHA256 checksum) */
    bool want_body_sha;
    struct gz_hash cksum; /* declared checksum, unless it shares body_sha */
    enum gz_hash_alg cksum_alg;
    enum checksum_source cksum_src;
    bool cksum_shares_body_sha;
    char cksum_b64[64]; /* as sent (header/trailer) or as computed */
    bool has_md5;
    uint8_t content_md5[16];
    int64_t decoded_expect; /* x-amz-decoded-content-length, -1 if absent */
    int64_t length;         /* decoded bytes so far */
    uint8_t md5_out[16];

    enum payload_state st;
    char line[S3_MAX_CHUNK_HEADER];
    size_t line_len;
    uint64_t chunk_left;
    struct gz_hash chunk_sha;
    char chunk_sig[65];
    char prev_sig[65];
    bool skipped_blank;
    size_t ntrailers;
    char trailers[S3_MAX_TRAILER_BYTES]; /* canonical "name:value\n" lines (signed part) */
    size_t trailers_len;
    char trailer_sig[65];
    bool trailer_value_seen;

    bool finished;   /* finish succeeded: digests are final */
    enum s3_err err; /* sticky: the first error ends the body */
    char errmsg[160];

    /* hashing on another core (s3_payload_offload); all on the request's loop thread */
    struct s3_service *svc;   /* its hasher pool */
    struct http_req *req;     /* NULL: every digest inline */
    struct gz_hashpipe *pipe; /* owns md5/body_sha/cksum while it runs */
    bool pipe_tried;
    bool offload_now; /* the declared length is large: no inline start */
    bool paused;   /* we paused the body until the ring has room */
    bool settling; /* waiting for the hasher; settled_fn runs when it is done */
    void (*settled_fn)(void *ud);
    void *settled_ud;
};

/* ---- setup ---- */

static enum s3_err payload_fail(struct s3_payload *p, enum s3_err e, const char *m)
{
    p->err = e;
    snprintf(p->errmsg, sizeof(p->errmsg), "%s", m);
    return e;
}

/* The declared checksum in a plain x-amz-checksum-* header, if any. */
static enum s3_err payload_checksum_header(struct s3_payload *p, const struct http_req_info *info,
                                           char *msg, size_t msgsz)
{
    static const enum gz_hash_alg algs[] = {GZ_HASH_CRC32, GZ_HASH_CRC32C, GZ_HASH_CRC64NVME,
                                            GZ_HASH_SHA1, GZ_HASH_SHA256};
    static const char *const names[] = {"x-amz-checksum-crc32", "x-amz-checksum-crc32c",
                                        "x-amz-checksum-crc64nvme", "x-amz-checksum-sha1",
                                        "x-amz-checksum-sha256"};
    for (size_t i = 0; i < GZ_ARRAY_LEN(algs); i++) {
        struct gz_slice v = s3__header(info, names[i]);
        uint8_t raw[GZ_HASH_MAX_LEN + 3];
        if (v.ptr == NULL)
            continue;
        if (p->cksum_src != CK_NONE) {
            s3__msg(msg, msgsz,
                    "Expecting a single x-amz-checksum- header. Multiple checksum "
                    "Types are not allowed.");
            return S3_ERR_INVALID_REQUEST;
        }
        if (v.len >= sizeof(p->cksum_b64) ||
            gz_base64_decode(raw, sizeof(raw), v) != (int)gz_hash_len(algs[i])) {
            s3__msg(msg, msgsz, "Value for %s header is invalid.", names[i]);
            return S3_ERR_INVALID_REQUEST;
        }
        p->cksum_alg = algs[i];
        p->cksum_src = CK_HEADER;
        memcpy(p->cksum_b64, v.ptr, v.len);
        p->cksum_b64[v.len] = '\0';
    }
    return S3_OK;
}

/* x-amz-trailer names the trailing checksum; x-amz-sdk-checksum-algorithm must agree. */
static enum s3_err payload_checksum_declared(struct s3_payload *p, const struct http_req_info *info,
                                             char *msg, size_t msgsz)
{
    struct gz_slice tr = s3__header(info, "x-amz-trailer");
    struct gz_slice sdk = s3__header(info, "x-amz-sdk-checksum-algorithm");
    if (tr.ptr != NULL && p->trailer_mode) {
        enum gz_hash_alg alg = GZ_HASH_NONE;
        if (tr.len > 15 && gz_slice_case_eq(gz_slice(tr.ptr, 15), GZ_SLICE_LIT("x-amz-checksum-")))
            alg = gz_hash_alg_from_name(gz_slice(tr.ptr + 15, tr.len - 15));
        if (alg == GZ_HASH_NONE) {
            s3__msg(msg, msgsz,
                    "The value specified in the x-amz-trailer header is not "
                    "supported");
            return S3_ERR_INVALID_REQUEST;
        }
        if (p->cksum_src != CK_NONE) {
            s3__msg(msg, msgsz,
                    "Expecting a single x-amz-checksum- header. Multiple checksum "
                    "Types are not allowed.");
            return S3_ERR_INVALID_REQUEST;
        }
        p->cksum_alg = alg;
        p->cksum_src = CK_TRAILER;
    }
    if (sdk.ptr != NULL) {
        enum gz_hash_alg alg = gz_hash_alg_from_name(sdk);
        if (alg == GZ_HASH_NONE || (p->cksum_src != CK_NONE && alg != p->cksum_alg)) {
            s3__msg(msg, msgsz, "Value for x-amz-sdk-checksum-algorithm header is invalid.");
            return S3_ERR_INVALID_REQUEST;
        }
        if (p->cksum_src == CK_NONE) {
            p->cksum_alg = alg;
            p->cksum_src = CK_COMPUTE;
        }
    }
    return S3_OK;
}

static enum s3_err payload_headers(struct s3_payload *p, const struct http_req_info *info,
                                   char *msg, size_t msgsz)
{
    struct gz_slice md5 = s3__header(info, "Content-MD5");
    if (md5.ptr != NULL) {
        uint8_t raw[19];
        if (gz_base64_decode(raw, sizeof(raw), md5) != 16) {
            s3__msg(msg, msgsz, "The Content-MD5 you specified was invalid.");
            return S3_ERR_INVALID_DIGEST;
        }
        memcpy(p->content_md5, raw, 16);
        p->has_md5 = true;
    }
    struct gz_slice dl = s3__header(info, "x-amz-decoded-content-length");
    uint64_t v;
    if (p->chunked && dl.ptr != NULL) {
        if (gz_slice_to_u64(dl, &v) != 0 || v > (uint64_t)INT64_MAX) {
            s3__msg(msg, msgsz, "Invalid x-amz-decoded-content-length.");
            return S3_ERR_INVALID_ARGUMENT;
        }
        p->decoded_expect = (int64_t)v;
    }
    enum s3_err e = payload_checksum_header(p, info, msg, msgsz);
    if (e == S3_OK)
        e = payload_checksum_declared(p, info, msg, msgsz);
    return e;
}

enum s3_err s3_payload_new(const struct s3_auth *auth, const struct http_req_info *info,
                           struct s3_payload **out, char *msg, size_t msgsz)
{
    struct s3_payload *p = gz_calloc(1, sizeof(*p));
    p->auth = *auth;
    explicit_bzero(&p->auth.principal, sizeof(p->auth.principal));
    p->mode = auth->payload;
    p->signed_chunks =
        p->mode == S3_PAYLOAD_STREAMING_SIGNED || p->mode == S3_PAYLOAD_STREAMING_SIGNED_TRAILER;
    p->trailer_mode = p->mode == S3_PAYLOAD_STREAMING_SIGNED_TRAILER ||
                      p->mode == S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER;
    p->signed_trailer = p->mode == S3_PAYLOAD_STREAMING_SIGNED_TRAILER;
    p->chunked = p->signed_chunks || p->trailer_mode;
    p->decoded_expect = -1;
    memcpy(p->prev_sig, auth->seed_signature, sizeof(p->prev_sig));
    s3__msg(msg, msgsz, "%s", "");

    enum s3_err e = S3_OK;
    if (p->signed_chunks && auth->version != 4) {
        s3__msg(msg, msgsz, "Streaming signed payloads require AWS Signature Version 4.");
        e = S3_ERR_INVALID_REQUEST;
    }
    if (e == S3_OK)
        e = payload_headers(p, info, msg, msgsz);
    if (e != S3_OK) {
        s3_payload_free(p);
        *out = NULL;
        return e;
    }
    p->want_body_sha = p->mode == S3_PAYLOAD_SHA256;
    p->cksum_shares_body_sha = p->want_body_sha && p->cksum_alg == GZ_HASH_SHA256;
    gz_hash_init(&p->md5, GZ_HASH_MD5);
    gz_hash_init(&p->body_sha, p->want_body_sha ? GZ_HASH_SHA256 : GZ_HASH_NONE);
    gz_hash_init(&p->cksum, p->cksum_shares_body_sha ? GZ_HASH_NONE : p->cksum_alg);
    gz_hash_init(&p->chunk_sha, GZ_HASH_NONE);
    p->st = ST_HEADER;
    *out = p;
    return S3_OK;
}

/* ---- streaming ---- */

/* ---- hashing on another core ---- */

static void payload_wake(struct http_req *req, void *arg);

/* A hasher thread: the ring has room again, or the pipe went idle. */
static void payload_notify(void *ud)
{
    struct s3_payload *p = ud;
    if (http_req_post(p->req, payload_wake, p) < 0)
        log_error("request %s: cannot wake the loop for a hashed body",
                  http_req_info(p->req)->request_id);
}

struct gz_hashpool *s3__hashers(struct s3_service *svc)
{
    pthread_mutex_lock(&svc->hashers_mu);
    if (svc->hashers == NULL && !svc->hashers_failed &&
        gz_hashpool_create(gz_hashpool_default_threads(), GZ_HASHPIPE_BUDGET, &svc->hashers) < 0)
        svc->hashers_failed = true; /* no threads: bodies are hashed inline */
    struct gz_hashpool *pool = svc->hashers;
    pthread_mutex_unlock(&svc->hashers_mu);
    return pool;
}

/* Moves the whole-body digests to a hashpipe; on any failure they stay inline. */
static void payload_offload_start(struct s3_payload *p)
{
    struct gz_hash *hashes[GZ_HASHPIPE_MAX_HASHES];
    size_t n = 0;
    p->pipe_tried = true;
    hashes[n++] = &p->md5;
    if (p->want_body_sha)
        hashes[n++] = &p->body_sha;
    if (p->cksum_alg != GZ_HASH_NONE && !p->cksum_shares_body_sha)
        hashes[n++] = &p->cksum;
    struct gz_hashpool *pool = s3__hashers(p->svc);
    if (pool != NULL && gz_hashpipe_new(pool, hashes, n, payload_notify, p, &p->pipe) < 0)
        p->pipe = NULL;
}

/* After a slice: pause the body while the ring cannot take another one. */
static void payload_backpressure(struct s3_payload *p)
{
    if (p->pipe == NULL || p->paused || p->settling)
        return;
    if (!gz_hashpipe_arm_room(p->pipe, HTTP_BODY_CHUNK)) {
        p->paused = true;
        http_req_pause_body(p->req);
    }
}

static void payload_unpause(struct s3_payload *p)
{
    if (p->paused) {
        p->paused = false;
        http_req_resume_body(p->req);
    }
}

/* Settling: true (and the body unpaused) once the hasher is off the pipe. */
static bool payload_settled(struct s3_payload *p)
{
    if (!gz_hashpipe_arm_idle(p->pipe))
        return false;
    p->settling = false;
    payload_unpause(p); /* after an error the HTTP core drains or closes the rest */
    return true;
}

static void payload_wake(struct http_req *req, void *arg)
{
    struct s3_payload *p = arg;
    (void)req;
    gz_hashpipe_ack(p->pipe);
    if (p->settling) {
        if (payload_settled(p))
            p->settled_fn(p->settled_ud);
        return;
    }
    if (p->paused && gz_hashpipe_arm_room(p->pipe, HTTP_BODY_CHUNK))
        payload_unpause(p);
}

void s3_payload_offload(struct s3_payload *p, struct s3_request *r)
{
    struct http_req *req = r->req;
    int64_t known = p->chunked ? p->decoded_expect : http_req_info(req)->content_length;
    p->svc = r->svc;
    p->req = req;
    p->offload_now = known >= S3__OFFLOAD_MIN; /* else once the body passes it */
}

int s3_payload_settle(struct s3_payload *p, bool cancel, void (*fn)(void *ud), void *ud)
{
    if (p == NULL || p->pipe == NULL)
        return 0;
    if (cancel)
        gz_hashpipe_cancel(p->pipe);
    if (payload_settled(p))
        return 0;
    p->settling = true;
    p->settled_fn = fn;
    p->settled_ud = ud;
    return -EAGAIN;
}

/* ---- streaming ---- */

/* The whole-body digests of decoded bytes: inline, or through the pipe past the threshold. */
static void payload_digest(struct s3_payload *p, struct gz_slice d)
{
    if (p->offload_now && !p->pipe_tried)
        payload_offload_start(p);
    if (p->pipe != NULL) {
        gz_hashpipe_write(p->pipe, d.ptr, d.len);
        return;
    }
    gz_hash_update(&p->md5, d.ptr, d.len);
    if (p->want_body_sha)
        gz_hash_update(&p->body_sha, d.ptr, d.len);
    if (p->cksum_alg != GZ_HASH_NONE && !p->cksum_shares_body_sha)
        gz_hash_update(&p->cksum, d.ptr, d.len);
    if (p->req != NULL && !p->pipe_tried && p->length + (int64_t)d.len >= S3__OFFLOAD_MIN)
        payload_offload_start(p);
}

/* Decoded bytes: hash them once and pass them on. */
static enum s3_err payload_data(struct s3_payload *p, struct gz_slice d,
                                int (*emit)(void *ud, struct gz_slice data), void *ud)
{
    if (d.len == 0)
        return S3_OK;
    payload_digest(p, d);
    if (p->chunked && p->signed_chunks)
        gz_hash_update(&p->chunk_sha, d.ptr, d.len);
    p->length += (int64_t)d.len;
    if (p->decoded_expect >= 0 && p->length > p->decoded_expect)
        return payload_fail(p, S3_ERR_INCOMPLETE_BODY,
                            "The body is longer than x-amz-decoded-content-length.");
    int rc = emit ? emit(ud, d) : 0;
    if (rc != 0)
        return payload_fail(p, s3_err_from_gz(rc), "The body could not be stored.");
    return S3_OK;
}

/* Checks the signature of the chunk whose data (hashed into chunk_sha) just ended. */
static enum s3_err payload_chunk_verify(struct s3_payload *p)
{
    uint8_t digest[GZ_HASH_MAX_LEN];
    char expect[65];
    gz_hash_final(&p->chunk_sha, digest);
    s3__sigv4_chunk_sign(&p->auth, p->prev_sig, digest, expect);
    if (!gz_consttime_eq(expect, 64, p->chunk_sig, 64))
        return payload_fail(p, S3_ERR_SIGNATURE_DOES_NOT_MATCH,
                            "The chunk signature we calculated does not match the signature "
                            "you provided.");
    memcpy(p->prev_sig, p->chunk_sig, sizeof(p->prev_sig));
    return S3_OK;
}

/* Finds ";chunk-signature=<64 hex>" among the extensions; stores it lower-cased. */
static bool payload_chunk_sig_parse(struct s3_payload *p, struct gz_slice ext)
{
    static const char key[] = "chunk-signature=";
    while (ext.len > 0) {
        const char *semi = memchr(ext.ptr, ';', ext.len);
        struct gz_slice item = gz_slice(ext.ptr, semi ? (size_t)(semi - ext.ptr) : ext.len);
        ext.ptr += semi ? item.len + 1 : item.len;
        ext.len -= semi ? item.len + 1 : item.len;
        item = gz_slice_trim(item);
        if (item.len != sizeof(key) - 1 + 64 || memcmp(item.ptr, key, sizeof(key) - 1) != 0)
            continue;
        for (size_t i = 0; i < 64; i++) {
            char c = item.ptr[sizeof(key) - 1 + i];
            if (gz_hex_digit(c) < 0)
                return false;
            p->chunk_sig[i] = (c >= 'A' && c <= 'F') ? (char)(c + 32) : c;
        }
        p->chunk_sig[64] = '\0';
        return true;
    }
    return false;
}

/* "<hex size>[;ext...]" */
static enum s3_err payload_chunk_header(struct s3_payload *p, struct gz_slice line)
{
    size_t i = 0;
    uint64_t size = 0;
    while (i < line.len && gz_hex_digit(line.ptr[i]) >= 0) {
        if (i == 16)
            return payload_fail(p, S3_ERR_INVALID_CHUNK_SIZE, "Chunk size is too large.");
        size = size << 4 | (uint64_t)gz_hex_digit(line.ptr[i]);
        i++;
    }
    if (i == 0 || (i < line.len && line.ptr[i] != ';' && line.ptr[i] != ' '))
        return payload_fail(p, S3_ERR_INVALID_REQUEST, "Malformed aws-chunked chunk header.");
    if (size > S3__MAX_CHUNK_SIZE)
        return payload_fail(p, S3_ERR_INVALID_CHUNK_SIZE, "Chunk size is too large.");
    if (p->signed_chunks && !payload_chunk_sig_parse(p, gz_slice(line.ptr + i, line.len - i)))
        return payload_fail(p, S3_ERR_SIGNATURE_DOES_NOT_MATCH,
                            "A chunk is missing its chunk-signature.");
    if (p->signed_chunks)
        gz_hash_init(&p->chunk_sha, GZ_HASH_SHA256);
    if (size == 0) {
        p->st = ST_TRAILER;
        return p->signed_chunks ? payload_chunk_verify(p) : S3_OK;
    }
    p->chunk_left = size;
    p->st = ST_DATA;
    return S3_OK;
}

/* Appends "name:value\n" to the canonical trailer block. */
static enum s3_err payload_trailer_keep(struct s3_payload *p, struct gz_slice n, struct gz_slice v)
{
    size_t need = n.len + 1 + v.len + 1;
    if (p->trailers_len + need > sizeof(p->trailers))
        return payload_fail(p, S3_ERR_INVALID_REQUEST, "The trailers are too large.");
    char *w = p->trailers + p->trailers_len;
    for (size_t i = 0; i < n.len; i++)
        w[i] = (n.ptr[i] >= 'A' && n.ptr[i] <= 'Z') ? (char)(n.ptr[i] + 32) : n.ptr[i];
    w[n.len] = ':';
    memcpy(w + n.len + 1, v.ptr, v.len);
    w[n.len + 1 + v.len] = '\n';
    p->trailers_len += need;
    return S3_OK;
}

static enum s3_err payload_trailer_line(struct s3_payload *p, struct gz_slice line)
{
    if (line.len == 0) {
        if (p->trailer_mode && p->ntrailers == 0 && !p->skipped_blank) {
            p->skipped_blank = true; /* the empty line AWS's examples put before trailers */
            return S3_OK;
        }
        p->st = ST_DONE;
        return S3_OK;
    }
    const char *colon = memchr(line.ptr, ':', line.len);
    if (!p->trailer_mode || colon == NULL)
        return payload_fail(p, S3_ERR_INVALID_REQUEST, "Unexpected data after the final chunk.");
    struct gz_slice n = gz_slice_trim(gz_slice(line.ptr, (size_t)(colon - line.ptr)));
    struct gz_slice v =
        gz_slice_trim(gz_slice(colon + 1, line.len - (size_t)(colon - line.ptr) - 1));
    p->ntrailers++;
    if (gz_slice_case_eq_cstr(n, "x-amz-trailer-signature")) {
        if (v.len != 64)
            return payload_fail(p, S3_ERR_SIGNATURE_DOES_NOT_MATCH,
                                "Malformed x-amz-trailer-signature.");
        for (size_t i = 0; i < 64; i++)
            p->trailer_sig[i] =
                (v.ptr[i] >= 'A' && v.ptr[i] <= 'F') ? (char)(v.ptr[i] + 32) : v.ptr[i];
        p->trailer_sig[64] = '\0';
        return S3_OK;
    }
    if (n.len > 15 && gz_slice_case_eq(gz_slice(n.ptr, 15), GZ_SLICE_LIT("x-amz-checksum-"))) {
        enum gz_hash_alg alg = gz_hash_alg_from_name(gz_slice(n.ptr + 15, n.len - 15));
        if (p->cksum_src != CK_TRAILER || alg != p->cksum_alg || p->trailer_value_seen ||
            v.len >= sizeof(p->cksum_b64))
            return payload_fail(p, S3_ERR_INVALID_REQUEST,
                                "The trailer does not match the x-amz-trailer header.");
        memcpy(p->cksum_b64, v.ptr, v.len);
        p->cksum_b64[v.len] = '\0';
        p->trailer_value_seen = true;
    }
    return payload_trailer_keep(p, n, v);
}

/* Collects bytes of a CRLF-terminated line; returns how many were consumed and sets *done
 * when the line is complete (without its CR LF) in p->line. */
static size_t payload_line_take(struct s3_payload *p, const char *b, size_t n, bool *done,
                                enum s3_err *e)
{
    const char *lf = memchr(b, '\n', n);
    size_t take = lf ? (size_t)(lf - b) + 1 : n;
    size_t keep = lf ? take - 1 : take;
    size_t limit =
        p->st == ST_TRAILER ? GZ_MIN(sizeof(p->line), S3_MAX_TRAILER_BYTES) : sizeof(p->line);
    *done = false;
    *e = S3_OK;
    if (p->line_len + keep > limit) {
        *e = payload_fail(p, S3_ERR_INVALID_REQUEST,
                          p->st == ST_TRAILER ? "The trailers are too large."
                                              : "The chunk header is too long.");
        return take;
    }
    memcpy(p->line + p->line_len, b, keep);
    p->line_len += keep;
    if (lf != NULL) {
        if (p->line_len > 0 && p->line[p->line_len - 1] == '\r')
            p->line_len--;
        *done = true;
    }
    return take;
}

/* One step of the aws-chunked decoder; returns bytes consumed. */
static size_t payload_step(struct s3_payload *p, const char *b, size_t n,
                           int (*emit)(void *ud, struct gz_slice data), void *ud, enum s3_err *e)
{
    bool done;
    size_t used;
    *e = S3_OK;
    switch (p->st) {
    case ST_HEADER:
    case ST_TRAILER:
        used = payload_line_take(p, b, n, &done, e);
        if (*e == S3_OK && done) {
            struct gz_slice line = gz_slice(p->line, p->line_len);
            *e = p->st == ST_HEADER ? payload_chunk_header(p, line) : payload_trailer_line(p, line);
            p->line_len = 0;
        }
        return used;
    case ST_DATA:
        used = (size_t)GZ_MIN((uint64_t)n, p->chunk_left);
        *e = payload_data(p, gz_slice(b, used), emit, ud);
        p->chunk_left -= used;
        if (*e == S3_OK && p->chunk_left == 0) {
            p->st = ST_DATA_CR;
            if (p->signed_chunks)
                *e = payload_chunk_verify(p);
        }
        return used;
    case ST_DATA_CR:
    case ST_DATA_LF:
        if (b[0] != (p->st == ST_DATA_CR ? '\r' : '\n'))
            *e = payload_fail(p, S3_ERR_INVALID_REQUEST, "Chunk data is not followed by CRLF.");
        p->st = p->st == ST_DATA_CR ? ST_DATA_LF : ST_HEADER;
        return 1;
    case ST_DONE:
        *e = payload_fail(p, S3_ERR_INVALID_REQUEST, "Unexpected data after the final chunk.");
        return n;
    }
    return n;
}

enum s3_err s3_payload_feed(struct s3_payload *p, struct gz_slice raw,
                            int (*emit)(void *ud, struct gz_slice data), void *ud)
{
    if (p->err != S3_OK)
        return p->err;
    if (p->finished)
        return payload_fail(p, S3_ERR_INVALID_REQUEST, "Data after the end of the body.");
    if (p->settling)
        return payload_fail(p, S3_ERR_INVALID_REQUEST, "Data after the end of the body.");
    enum s3_err e = S3_OK;
    if (!p->chunked) {
        e = payload_data(p, raw, emit, ud);
    } else {
        size_t off = 0;
        while (off < raw.len && e == S3_OK)
            off += payload_step(p, raw.ptr + off, raw.len - off, emit, ud, &e);
    }
    if (e == S3_OK)
        payload_backpressure(p);
    return e;
}

/* ---- the end of the body ---- */

static enum s3_err payload_finish_framing(struct s3_payload *p)
{
    bool complete = p->st == ST_DONE || (p->st == ST_TRAILER && p->line_len == 0);
    if (!complete)
        return payload_fail(p, S3_ERR_INCOMPLETE_BODY, "The request body terminated unexpectedly.");
    if (p->cksum_src == CK_TRAILER && !p->trailer_value_seen)
        return payload_fail(p, S3_ERR_INCOMPLETE_BODY,
                            "The trailing checksum named by x-amz-trailer was not received.");
    if (!p->signed_trailer || p->ntrailers == 0)
        return S3_OK;
    if (p->trailer_sig[0] == '\0')
        return payload_fail(p, S3_ERR_SIGNATURE_DOES_NOT_MATCH,
                            "The x-amz-trailer-signature is missing.");
    uint8_t digest[32];
    char expect[65];
    gz_sha256(p->trailers, p->trailers_len, digest);
    s3__sigv4_trailer_sign(&p->auth, p->prev_sig, digest, expect);
    if (!gz_consttime_eq(expect, 64, p->trailer_sig, 64))
        return payload_fail(p, S3_ERR_SIGNATURE_DOES_NOT_MATCH,
                            "The trailer signature we calculated does not match the signature "
                            "you provided.");
    return S3_OK;
}

static enum s3_err payload_finish_checksum(struct s3_payload *p, const uint8_t *body_sha)
{
    uint8_t got[GZ_HASH_MAX_LEN], want[GZ_HASH_MAX_LEN + 3];
    size_t len = gz_hash_len(p->cksum_alg);
    const char *name = gz_hash_alg_name(p->cksum_alg);
    char m[160];
    if (p->cksum_shares_body_sha)
        memcpy(got, body_sha, 32);
    else
        gz_hash_final(&p->cksum, got);
    if (p->cksum_src == CK_COMPUTE) {
        gz_base64_encode(p->cksum_b64, got, len);
        return S3_OK;
    }
    if (gz_base64_decode(want, sizeof(want), gz_slice_cstr(p->cksum_b64)) != (int)len) {
        char lower[16];
        size_t i = 0;
        for (; name[i] != '\0' && i + 1 < sizeof(lower); i++)
            lower[i] = (name[i] >= 'A' && name[i] <= 'Z') ? (char)(name[i] + 32) : name[i];
        lower[i] = '\0';
        snprintf(m, sizeof(m), "Value for x-amz-checksum-%s trailing header is invalid.", lower);
        return payload_fail(p, S3_ERR_INVALID_REQUEST, m);
    }
    if (memcmp(want, got, len) != 0) {
        snprintf(m, sizeof(m), "The %s you specified did not match the calculated checksum.", name);
        return payload_fail(p, S3_ERR_BAD_DIGEST, m);
    }
    return S3_OK;
}

static enum s3_err payload_finish_checks(struct s3_payload *p)
{
    uint8_t sha[GZ_HASH_MAX_LEN] = {0}, md5[GZ_HASH_MAX_LEN];
    if (p->decoded_expect >= 0 && p->length != p->decoded_expect)
        return payload_fail(p, S3_ERR_INCOMPLETE_BODY,
                            "You did not provide the number of bytes specified by the "
                            "x-amz-decoded-content-length header.");
    if (p->want_body_sha) {
        gz_hash_final(&p->body_sha, sha);
        if (memcmp(sha, p->auth.payload_sha256, 32) != 0)
            return payload_fail(p, S3_ERR_X_AMZ_CONTENT_SHA256_MISMATCH,
                                "The provided 'x-amz-content-sha256' header does not match "
                                "what was computed.");
    }
    gz_hash_final(&p->md5, md5);
    memcpy(p->md5_out, md5, 16);
    if (p->has_md5 && memcmp(md5, p->content_md5, 16) != 0)
        return payload_fail(p, S3_ERR_BAD_DIGEST,
                            "The Content-MD5 you specified did not match what we received.");
    if (p->cksum_alg != GZ_HASH_NONE)
        return payload_finish_checksum(p, sha);
    return S3_OK;
}

const char *s3_payload_error(const struct s3_payload *p)
{
    return p->errmsg;
}

enum s3_err s3_payload_finish(struct s3_payload *p, char *msg, size_t msgsz)
{
    enum s3_err e = p->err;
    if (p->finished)
        return S3_OK;
    if (e == S3_OK && p->pipe != NULL && (p->settling || gz_hashpipe_busy(p->pipe)))
        e = payload_fail(p, S3_ERR_INTERNAL_ERROR, "The body's digests are not ready.");
    if (e == S3_OK && p->chunked)
        e = payload_finish_framing(p);
    if (e == S3_OK)
        e = payload_finish_checks(p);
    p->finished = e == S3_OK;
    s3__msg(msg, msgsz, "%s", e == S3_OK ? "" : p->errmsg);
    return e;
}

const uint8_t *s3_payload_md5(const struct s3_payload *p)
{
    return p->md5_out;
}

int64_t s3_payload_length(const struct s3_payload *p)
{
    return p->length;
}

enum gz_hash_alg s3_payload_checksum_alg(const struct s3_payload *p)
{
    return p->cksum_alg;
}

const char *s3_payload_checksum_b64(const struct s3_payload *p)
{
    return p->cksum_b64;
}

void s3_payload_free(struct s3_payload *p)
{
    if (p == NULL)
        return;
    if (p->pipe != NULL && p->settling)
        log_error("request %s: payload freed while its hasher is still on it",
                  http_req_info(p->req)->request_id);
    gz_hashpipe_free(p->pipe); /* waits for a hasher still on it, before the contexts go */
    gz_hash_dispose(&p->md5);
    gz_hash_dispose(&p->body_sha);
    gz_hash_dispose(&p->cksum);
    gz_hash_dispose(&p->chunk_sha);
    explicit_bzero(p, sizeof(*p)); /* the signing key */
    gz_free(p);
}
