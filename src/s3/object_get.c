/*
 * object_get.c - GetObject and HeadObject: conditional requests (RFC 7232 as S3 applies
 * them), one byte range, partNumber reads, response-* overrides, and the body streamed from
 * a store reader one segment at a time (sendfile for file segments).
 *
 * The store verifies bodies against their block CRCs as they are read (store.h, integrity).
 * The first segment is read before any header goes out, so damage there (or an object the
 * scrub marked corrupt) is a 500 InternalError; damage found later cuts the connection short
 * (the client sees a truncated body, never a wrong one). Both are logged with bucket/key; the
 * store counts them and marks the object corrupt (GET /admin/v1/scrub). Bodies encrypted at
 * rest are checked twice: the store's block CRCs over the stored ciphertext (the same place,
 * the same marks and counts as for plaintext), then each segment's AEAD tag; a segment that
 * fails either fails the same two ways.
 */
#include <errno.h>
#include <stdio.h>

#include "sse_int.h"

#define GET_SEGMENT_MAX (4 * 1024 * 1024)

/* ---- conditional requests ---- */

/* Strips W/ and the quotes; *weak says whether the tag was weak. */
static struct gz_slice etag_opaque(struct gz_slice t, bool *weak)
{
    *weak = false;
    if (t.len >= 2 && (t.ptr[0] == 'W' || t.ptr[0] == 'w') && t.ptr[1] == '/') {
        *weak = true;
        t = gz_slice(t.ptr + 2, t.len - 2);
    }
    if (t.len >= 2 && t.ptr[0] == '"' && t.ptr[t.len - 1] == '"')
        t = gz_slice(t.ptr + 1, t.len - 2);
    return t;
}

bool s3__etag_list_match(struct gz_slice list, const char *etag, bool weak)
{
    size_t i = 0;
    while (list.ptr && i < list.len) {
        const char *comma = memchr(list.ptr + i, ',', list.len - i);
        size_t end = comma ? (size_t)(comma - list.ptr) : list.len;
        struct gz_slice tok = gz_slice_trim(gz_slice(list.ptr + i, end - i));
        i = end + 1;
        if (gz_slice_eq_cstr(tok, "*"))
            return true;
        bool is_weak;
        struct gz_slice op = etag_opaque(tok, &is_weak);
        if (is_weak && !weak)
            continue;
        if (op.len && gz_slice_eq_cstr(op, etag))
            return true;
    }
    return false;
}

enum s3_err s3__cond_eval(const struct s3__cond *c, const char *etag, int64_t mtime_s)
{
    int64_t t;
    if (c->if_match.ptr) {
        if (!s3__etag_list_match(c->if_match, etag, false))
            return S3_ERR_PRECONDITION_FAILED;
    } else if (c->if_unmodified_since.ptr && gz_time_parse_http(c->if_unmodified_since, &t) == 0 &&
               mtime_s > t) {
        return S3_ERR_PRECONDITION_FAILED;
    }
    if (c->if_none_match.ptr) {
        if (s3__etag_list_match(c->if_none_match, etag, true))
            return S3_ERR_NOT_MODIFIED;
    } else if (c->if_modified_since.ptr && gz_time_parse_http(c->if_modified_since, &t) == 0 &&
               mtime_s <= t) {
        return S3_ERR_NOT_MODIFIED;
    }
    return S3_OK;
}

/* ---- the streaming state ---- */

struct get_ctx {
    struct s3_request *r;
    struct store_reader *rd;
    struct store_meta meta;
    int64_t size; /* of the part read, or of the object */
    int64_t part_offset;
    int part;           /* partNumber, 0 if none */
    int64_t start, len; /* what goes out */
    bool ranged;
    struct s3__sse_get *sse; /* decrypting view, or NULL */
    int64_t pos;             /* next plaintext offset, when sse */
    int64_t remaining;
    int write_status;
    bool in_pump, again;
    bool has_first;          /* first: read (and verified) before the headers */
    struct store_segment first;
};

static void get_reader_close(void *arg)
{
    store_reader_close(arg);
}

static void get_sse_free(void *arg)
{
    s3__sse_get_free(arg);
}

static void get_pump(struct get_ctx *g);

/* Next piece of plaintext; a damaged or tampered segment fails here (logged; a failed block
 * CRC was also counted and the object marked by the store). */
static int get_sse_next(struct get_ctx *g, struct store_segment *seg)
{
    struct gz_slice s;
    int rc = s3__sse_get_read(g->sse, g->pos, GZ_MIN(g->remaining, GET_SEGMENT_MAX), &s);
    if (rc == GZ_ECORRUPT) {
        store_reader_mark_corrupt(g->rd, "a segment does not authenticate (found by a read)");
        log_error("request %s: SSE: %.*s/%.*s: segment at %lld fails its block CRC or does not"
                  " authenticate (corrupt on disk or tampered)",
                  g->r->info->request_id, (int)g->r->bucket.len, g->r->bucket.ptr,
                  (int)g->r->key.len, g->r->key.ptr, (long long)g->pos);
    }
    seg->fd = -1;
    seg->mem = (const uint8_t *)s.ptr;
    seg->len = rc < 0 ? 0 : (int64_t)s.len;
    g->pos += seg->len;
    return rc;
}

static void get_written(struct http_req *req, int status, void *ud)
{
    struct get_ctx *g = ud;
    (void)req;
    if (status < 0)
        g->write_status = status;
    if (g->in_pump) {
        g->again = true; /* completed inside http_resp_write: the pump loop continues */
        return;
    }
    get_pump(g);
}

/* Issues one write; loops only when the write completed synchronously. Ends the response
 * (the last thing it touches) when everything is out or something failed. */
static void get_pump(struct get_ctx *g)
{
    struct http_req *req = g->r->req;
    g->in_pump = true;
    for (;;) {
        if (g->write_status < 0 || g->remaining == 0)
            break;
        struct store_segment seg;
        int rc = 0;
        if (g->has_first) {
            seg = g->first;
            g->has_first = false;
        } else {
            rc = g->sse ? get_sse_next(g, &seg)
                        : store_reader_next(g->rd, GZ_MIN(g->remaining, GET_SEGMENT_MAX), &seg);
        }
        if (rc < 0 || seg.len <= 0) {
            /* The response is already started: all we can do is cut it short so the client
             * sees a truncated body, never a wrong one. */
            log_error("request %s: %.*s/%.*s: object read failed after %lld of %lld bytes: %s%s",
                      g->r->info->request_id, (int)g->r->bucket.len, g->r->bucket.ptr,
                      (int)g->r->key.len, g->r->key.ptr, (long long)(g->len - g->remaining),
                      (long long)g->len, rc < 0 ? gz_strerror(rc) : "unexpected end",
                      rc == GZ_ECORRUPT ? " (stored bytes fail their checksum); connection cut"
                                        : "");
            break;
        }
        seg.len = GZ_MIN(seg.len, g->remaining);
        g->remaining -= seg.len;
        g->again = false;
        if (seg.fd >= 0)
            http_resp_sendfile(req, seg.fd, seg.offset, seg.len, get_written, g);
        else
            http_resp_write(req, gz_slice(seg.mem, (size_t)seg.len), get_written, g);
        if (!g->again) {
            g->in_pump = false;
            return; /* get_written continues */
        }
    }
    g->in_pump = false;
    http_resp_end(req);
}

/* ---- the request ---- */

static enum s3_err get_params(struct s3_request *r, struct get_ctx *g, char *msg, size_t msgsz)
{
    const struct s3_param *p = s3_param_get(r, "partNumber");
    if (p) {
        uint64_t v;
        if (gz_slice_to_u64(p->value, &v) < 0 || v < 1 || v > STORE_MAX_PARTS) {
            snprintf(msg, msgsz, "Part number must be an integer between 1 and %d, inclusive",
                     STORE_MAX_PARTS);
            return S3_ERR_INVALID_ARGUMENT;
        }
        if (s3_header(r, "range").ptr) {
            snprintf(msg, msgsz,
                     "Cannot specify both Range header and partNumber query "
                     "parameter");
            return S3_ERR_INVALID_REQUEST;
        }
        g->part = (int)v;
    }
    for (size_t i = 0; i < r->nparams; i++) {
        if (!gz_slice_starts_with(r->params[i].name, "response-"))
            continue;
        if (r->auth.anonymous) {
            snprintf(msg, msgsz,
                     "Request specific response headers cannot be used for "
                     "anonymous GET requests.");
            return S3_ERR_INVALID_REQUEST;
        }
        struct gz_slice v = r->params[i].value;
        for (size_t j = 0; j < v.len; j++) {
            unsigned char ch = (unsigned char)v.ptr[j];
            if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
                snprintf(msg, msgsz,
                         "Response header overrides must not contain control "
                         "characters.");
                return S3_ERR_INVALID_ARGUMENT;
            }
        }
    }
    return S3_OK;
}

static int get_open_part(struct get_ctx *g)
{
    struct s3_request *r = g->r;
    int rc = store_object_open_part(r->svc->store, r->bucket, r->key, g->part, &g->rd, &g->meta,
                                    &g->part_offset, &g->size);
    if (rc != GZ_EINVALIDPART || g->part != 1)
        return rc;
    /* partNumber=1 of an object uploaded in one piece is the whole object. */
    rc = store_object_open(r->svc->store, r->bucket, r->key, &g->rd, &g->meta);
    if (rc == 0 && g->meta.parts > 0) {
        store_reader_close(g->rd);
        g->rd = NULL;
        return GZ_EINVALIDPART;
    }
    g->part_offset = 0;
    g->size = g->meta.size;
    return rc;
}

static enum s3_err get_open(struct get_ctx *g, char *msg, size_t msgsz)
{
    struct s3_request *r = g->r;
    int rc;
    if (g->part) {
        rc = get_open_part(g);
    } else {
        rc = store_object_open(r->svc->store, r->bucket, r->key, &g->rd, &g->meta);
        g->size = g->meta.size;
    }
    if (rc == GZ_EINVALIDPART) {
        snprintf(msg, msgsz, "The requested partnumber is not satisfiable");
        return S3_ERR_INVALID_PART_NUMBER;
    }
    if (rc == GZ_ECORRUPT) {
        log_error("request %s: %.*s/%.*s: stored object failed verification (corrupt): "
                  "InternalError",
                  r->info->request_id, (int)r->bucket.len, r->bucket.ptr, (int)r->key.len,
                  r->key.ptr);
        return S3_ERR_INTERNAL_ERROR;
    }
    if (rc < 0) {
        enum s3_err e = s3_err_from_gz(rc);
        if (e == S3_ERR_INTERNAL_ERROR)
            log_error("request %s: open object: %s", r->info->request_id, gz_strerror(rc));
        return e;
    }
    /* Encrypted bodies keep the store's CRC check too: the stored ciphertext's blocks are
     * verified as they are read (a damaged block is counted and the object marked corrupt,
     * as for plaintext; CRC32C costs little next to the AEAD), then the AEAD tags. */
    http_req_on_free(r->req, get_reader_close, g->rd);
    return S3_OK;
}

/* An encrypted object (or SSE-C headers on the request): the decrypting view, the
 * plaintext size, and the key checks (InvalidRequest, AccessDenied). */
static enum s3_err get_sse_open(struct get_ctx *g, char *msg, size_t msgsz)
{
    struct s3_request *r = g->r;
    struct s3__sse_req q;
    enum s3_err e = s3__sse_key_request(r, false, &q, msg, msgsz);
    if (e != S3_OK || (!q.customer && !s3__sse_is_encrypted(g->meta.headers)))
        return e;
    e = s3__sse_get_open(r, g->meta.headers, g->meta.size, g->rd, &q,
                         g->meta.parts > 0 ? g->part : 0, &g->sse, msg, msgsz);
    memset(&q, 0, sizeof(q));
    if (e != S3_OK || g->sse == NULL)
        return e;
    http_req_on_free(r->req, get_sse_free, g->sse);
    g->size = s3__sse_get_size(g->sse);
    g->meta.size = s3__sse_get_total(g->sse);
    g->part_offset = s3__sse_get_offset(g->sse);
    return S3_OK;
}

/* Decrypts the first segment served before any header goes out: a tampered object then
 * fails with InternalError instead of a cut-off 200. */
static enum s3_err get_sse_check(struct get_ctx *g)
{
    struct gz_slice s;
    if (g->sse == NULL || g->len == 0 || gz_slice_eq_cstr(g->r->info->method, "HEAD"))
        return S3_OK;
    g->pos = g->start;
    int rc = s3__sse_get_read(g->sse, g->start, 1, &s);
    if (rc == 0)
        return S3_OK;
    if (rc == GZ_ECORRUPT)
        store_reader_mark_corrupt(g->rd, "a segment does not authenticate (found by a read)");
    log_error("request %s: SSE: %.*s/%.*s: reading the segment at %lld failed before the "
              "headers: %s",
              g->r->info->request_id, (int)g->r->bucket.len, g->r->bucket.ptr, (int)g->r->key.len,
              g->r->key.ptr, (long long)g->start,
              rc == GZ_ECORRUPT ? "it fails its block CRC or does not authenticate (corrupt on"
                                  " disk or tampered)"
                                : gz_strerror(rc));
    return S3_ERR_INTERNAL_ERROR;
}

/* Reads the first segment before any header goes out (the store verifies it): a damaged
 * first block is then a 500 InternalError instead of a cut-off 200. */
static enum s3_err get_first_check(struct get_ctx *g)
{
    if (g->sse != NULL || g->len == 0 || gz_slice_eq_cstr(g->r->info->method, "HEAD"))
        return S3_OK;
    int rc = store_reader_next(g->rd, GZ_MIN(g->len, GET_SEGMENT_MAX), &g->first);
    if (rc == 0 && g->first.len > 0) {
        g->has_first = true;
        return S3_OK;
    }
    log_error("request %s: %.*s/%.*s: reading the body at %lld failed before the headers: %s",
              g->r->info->request_id, (int)g->r->bucket.len, g->r->bucket.ptr, (int)g->r->key.len,
              g->r->key.ptr, (long long)g->start,
              rc == GZ_ECORRUPT ? "stored bytes fail their checksum"
                                : rc < 0 ? gz_strerror(rc) : "unexpected end");
    return S3_ERR_INTERNAL_ERROR;
}

static void get_validators(struct get_ctx *g)
{
    char date[30], etag[51];
    gz_time_http(g->meta.mtime_ms / 1000, date);
    s3_etag_quote(g->meta.etag, etag);
    http_resp_header(g->r->req, "Last-Modified", gz_slice_cstr(date));
    http_resp_header(g->r->req, "ETag", gz_slice_cstr(etag));
}

static enum s3_err get_conditions(struct get_ctx *g)
{
    struct s3_request *r = g->r;
    struct s3__cond c = {
        .if_match = s3_header(r, "if-match"),
        .if_none_match = s3_header(r, "if-none-match"),
        .if_modified_since = s3_header(r, "if-modified-since"),
        .if_unmodified_since = s3_header(r, "if-unmodified-since"),
    };
    enum s3_err e = s3__cond_eval(&c, g->meta.etag, g->meta.mtime_ms / 1000);
    if (e == S3_ERR_NOT_MODIFIED)
        get_validators(g); /* a 304 still names the representation */
    return e;
}

static enum s3_err get_range(struct get_ctx *g)
{
    g->start = 0;
    g->len = g->size;
    if (g->part) {
        g->ranged = g->size > 0;
        return S3_OK;
    }
    struct gz_slice hdr = s3_header(g->r, "range");
    if (hdr.ptr == NULL)
        return S3_OK;
    switch (s3__range_parse(hdr, g->size, &g->start, &g->len)) {
    case S3_RANGE_OK:
        g->ranged = true;
        return S3_OK;
    case S3_RANGE_UNSATISFIABLE:
        http_resp_headerf(g->r->req, "Content-Range", "bytes */%lld", (long long)g->size);
        return S3_ERR_INVALID_RANGE;
    default:
        return S3_OK;
    }
}

static void get_start(struct get_ctx *g)
{
    struct s3_request *r = g->r;
    struct gz_slice mode = s3_header(r, "x-amz-checksum-mode");
    bool checksum_mode =
        mode.ptr && gz_slice_case_eq_cstr(mode, "ENABLED") && !g->ranged && g->part == 0;
    s3_resp_common_headers(r);
    get_validators(g);
    http_resp_header(r->req, "Accept-Ranges", GZ_SLICE_LIT("bytes"));
    s3_meta_to_response(r, g->meta.headers, checksum_mode);
    if (g->part && g->meta.parts > 0)
        http_resp_headerf(r->req, "x-amz-mp-parts-count", "%d", g->meta.parts);
    if (g->ranged) {
        int64_t first = g->part_offset + g->start;
        int64_t total = g->part ? g->meta.size : g->size;
        http_resp_headerf(r->req, "Content-Range", "bytes %lld-%lld/%lld", (long long)first,
                          (long long)(first + g->len - 1), (long long)total);
    }
    http_resp_status(r->req, g->ranged ? 206 : 200);
    http_resp_start(r->req, g->len);
    if (gz_slice_eq_cstr(r->info->method, "HEAD") || g->len == 0) {
        http_resp_end(r->req);
        return;
    }
    g->remaining = g->len;
    get_pump(g);
}

void s3_object_get(struct s3_request *r)
{
    char msg[256] = "";
    struct get_ctx *g = http_req_alloc(r->req, sizeof(*g));
    memset(g, 0, sizeof(*g));
    g->r = r;
    enum s3_err e = s3__bucket_access(r, r->bucket, NULL);
    if (e == S3_OK)
        e = get_params(r, g, msg, sizeof(msg));
    if (e == S3_OK)
        e = get_open(g, msg, sizeof(msg));
    if (e == S3_OK)
        e = get_sse_open(g, msg, sizeof(msg));
    if (e == S3_OK)
        e = get_conditions(g);
    if (e == S3_OK)
        e = get_range(g);
    if (e == S3_OK)
        e = get_sse_check(g);
    if (e == S3_OK && !g->sse && g->start > 0 && store_reader_seek(g->rd, g->start) < 0) {
        log_error("request %s: seek failed", r->info->request_id);
        e = S3_ERR_INTERNAL_ERROR;
    }
    if (e == S3_OK)
        e = get_first_check(g);
    if (e != S3_OK) {
        s3_reply_error(r, e, msg[0] ? msg : NULL);
        return;
    }
    get_start(g);
}
