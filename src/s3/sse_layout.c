/*
 * sse_layout.c - reading encrypted objects: the layout of their bodies (one for a simple
 * object; one per part for a multipart one, from SSE_PARTS_HEADER), and the decrypting view
 * GET, HEAD, CopyObject and UploadPartCopy read through: plaintext positions map to a body
 * and a whole segment of it, so ranges stay streaming (one segment in memory).
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>

#include "sse.h"
#include "sse_int.h"

struct sse_body {
    int number; /* part number (0 for a simple object) */
    int64_t stored_off, stored;
    int64_t plain_off, plain;
};

struct s3__sse_get {
    struct store_reader *rd;
    enum s3__sse_alg alg;
    uint8_t dk[SSE_KEY];
    struct sse_body *bodies; /* what rd covers */
    int nbodies;
    int64_t size;          /* plaintext rd covers */
    int64_t total, offset; /* whole object's plaintext; the part's offset in it */
    int cur;               /* body dec belongs to, -1 if none */
    struct s3__sse_dec *dec;
    int64_t seg_idx; /* the segment in dec's buffer, -1 if none */
    struct gz_slice seg;
};

int s3__sse_parts_format(const struct store_part *parts, int n, struct gz_buf *out)
{
    int rc = 0;
    for (int i = 0; i < n && rc == 0;) {
        int j = i;
        while (j + 1 < n && parts[j + 1].number == parts[j].number + 1 &&
               parts[j + 1].size == parts[i].size)
            j++;
        rc = gz_buf_appendf(out, "%s%d-%d:%lld", i ? "," : "", parts[i].number, parts[j].number,
                            (long long)s3__sse_stored_size(parts[i].size));
        i = j + 1;
    }
    return rc;
}

/* Parses the layout; NULL v means one body of `stored` bytes. */
static int layout_parse(struct gz_slice v, int64_t stored, struct sse_body **out, int *nout)
{
    int n = 0, cap = 16;
    struct sse_body *b = gz_malloc((size_t)cap * sizeof(*b));
    int64_t soff = 0, poff = 0;
    size_t i = 0;
    if (v.ptr == NULL)
        v = GZ_SLICE_LIT("0-0:-1");
    while (i < v.len) {
        const char *comma = memchr(v.ptr + i, ',', v.len - i);
        size_t end = comma ? (size_t)(comma - v.ptr) : v.len;
        char run[64];
        long long first, last, size;
        snprintf(run, sizeof(run), "%.*s", (int)GZ_MIN(end - i, sizeof(run) - 1), v.ptr + i);
        i = end + 1;
        if (sscanf(run, "%lld-%lld:%lld", &first, &last, &size) != 3 || first < 0 || last < first ||
            last > STORE_MAX_PARTS)
            goto bad;
        if (size < 0)
            size = stored;
        for (long long k = first; k <= last; k++) {
            int64_t plain = s3__sse_plain_size(size);
            if (plain < 0 || n >= STORE_MAX_PARTS + 1)
                goto bad;
            if (n == cap) {
                cap *= 2;
                b = gz_realloc(b, (size_t)cap * sizeof(*b));
            }
            b[n++] = (struct sse_body){(int)k, soff, size, poff, plain};
            soff += size;
            poff += plain;
        }
    }
    if (n == 0 || soff != stored)
        goto bad;
    *out = b;
    *nout = n;
    return 0;
bad:
    gz_free(b);
    return GZ_ECORRUPT;
}

int64_t s3__sse_object_size(struct s3_request *r, struct gz_slice bucket, struct gz_slice key,
                            int64_t stored)
{
    return s3__sse_store_object_size(r->svc->store, bucket, key, stored);
}

int64_t s3__sse_store_object_size(struct store *s, struct gz_slice bucket, struct gz_slice key,
                                  int64_t stored)
{
    struct store_meta m;
    struct gz_buf hold;
    struct sse_body *b = NULL;
    int n = 0;
    int64_t size = stored;
    gz_buf_init(&hold, 0);
    if (store_object_stat(s, bucket, key, &m, &hold) == 0 && m.size == stored &&
        s3__sse_is_encrypted(m.headers) &&
        layout_parse(s3__sse_stored_header(m.headers, SSE_PARTS_HEADER), stored, &b, &n) == 0)
        size = b[n - 1].plain_off + b[n - 1].plain;
    gz_free(b);
    gz_buf_free(&hold);
    return size;
}

/* Narrows the layout to part `part` (the reader covers only it). */
static int layout_pick_part(struct s3__sse_get *g, int part)
{
    int i = 0;
    while (i < g->nbodies && g->bodies[i].number != part)
        i++;
    if (i == g->nbodies)
        return GZ_ECORRUPT;
    g->offset = g->bodies[i].plain_off;
    g->bodies[0] = g->bodies[i];
    g->bodies[0].stored_off = 0;
    g->bodies[0].plain_off = 0;
    g->nbodies = 1;
    return 0;
}

static int get_layout(struct s3__sse_get *g, struct gz_slice headers, int64_t stored, int part)
{
    struct gz_slice lay = s3__sse_stored_header(headers, SSE_PARTS_HEADER);
    int rc = layout_parse(lay, stored, &g->bodies, &g->nbodies);
    if (rc < 0)
        return rc;
    struct sse_body *last = &g->bodies[g->nbodies - 1];
    g->total = last->plain_off + last->plain;
    if (part > 0 && lay.ptr)
        rc = layout_pick_part(g, part);
    last = &g->bodies[g->nbodies - 1];
    g->size = last->plain_off + last->plain;
    return rc;
}

/* Reads exactly n stored bytes at off within the current body. */
static int get_fetch(void *ud, int64_t off, uint8_t *buf, size_t n)
{
    struct s3__sse_get *g = ud;
    int rc = store_reader_seek(g->rd, g->bodies[g->cur].stored_off + off);
    size_t got = 0;
    while (rc == 0 && got < n) {
        int64_t k = store_reader_read(g->rd, buf + got, n - got);
        if (k < 0)
            return (int)k;
        if (k == 0)
            return GZ_ECORRUPT; /* shorter than its size says */
        got += (size_t)k;
    }
    return rc;
}

/* The view over rd for an object whose data key is dk. */
static int get_new(enum s3__sse_alg alg, const uint8_t dk[SSE_KEY], struct gz_slice headers,
                   int64_t stored, struct store_reader *rd, int part, struct s3__sse_get **out)
{
    struct s3__sse_get *g = gz_calloc(1, sizeof(*g));
    memcpy(g->dk, dk, SSE_KEY);
    g->rd = rd;
    g->alg = alg;
    g->cur = -1;
    g->seg_idx = -1;
    int rc = get_layout(g, headers, stored, part);
    if (rc < 0) {
        s3__sse_get_free(g);
        return rc;
    }
    *out = g;
    return 0;
}

enum s3_err s3__sse_get_open(struct s3_request *r, struct gz_slice headers, int64_t stored,
                             struct store_reader *rd, const struct s3__sse_req *q, int part,
                             struct s3__sse_get **out, char *msg, size_t msgsz)
{
    enum s3__sse_alg alg = SSE_ALG_NONE;
    uint8_t dk[SSE_KEY];
    *out = NULL;
    enum s3_err e = s3__sse_object_key(r, headers, q, &alg, dk, msg, msgsz);
    if (e != S3_OK || alg == SSE_ALG_NONE)
        return e;
    int rc = get_new(alg, dk, headers, stored, rd, part, out);
    OPENSSL_cleanse(dk, sizeof(dk));
    if (rc < 0) {
        log_error("request %s: SSE: %.*s/%.*s: bad layout (%s)", r->info->request_id,
                  (int)r->bucket.len, r->bucket.ptr, (int)r->key.len, r->key.ptr, gz_strerror(rc));
        return S3_ERR_INTERNAL_ERROR;
    }
    return S3_OK;
}

/* ---- the public reader (sse.h) ---- */

struct s3_sse_reader {
    struct s3__sse_get *g;
};

bool s3_sse_encrypted(struct gz_slice headers)
{
    return s3__sse_is_encrypted(headers);
}

bool s3_sse_customer(struct gz_slice headers)
{
    struct s3__sse_env env;
    struct gz_slice v = s3__sse_stored_header(headers, SSE_HEADER);
    return v.ptr && s3__sse_env_parse(v, &env) == 0 && env.customer;
}

int s3_sse_reader_open(struct store *s, struct gz_slice headers, int64_t stored,
                       struct store_reader *rd, struct s3_sse_reader **out)
{
    struct gz_slice v = s3__sse_stored_header(headers, SSE_HEADER);
    struct s3__sse_env env;
    struct s3__sse_keyring kr;
    uint8_t dk[SSE_KEY];
    *out = NULL;
    if (v.ptr == NULL)
        return -EINVAL;
    if (s3__sse_env_parse(v, &env) < 0)
        return GZ_ECORRUPT;
    if (env.customer)
        return -EACCES;
    int rc = s3__sse_keys_load(store_data_dir(s), false, &kr);
    const uint8_t *mk = rc == 0 ? s3__sse_keys_find(&kr, env.kid) : NULL;
    if (rc == 0)
        rc = mk ? s3__sse_env_unwrap(&env, mk, dk) : -ENOKEY;
    s3__sse_keys_wipe(&kr);
    struct s3__sse_get *g = NULL;
    if (rc == 0)
        rc = get_new(env.alg, dk, headers, stored, rd, 0, &g);
    OPENSSL_cleanse(dk, sizeof(dk));
    if (rc < 0)
        return rc;
    *out = gz_calloc(1, sizeof(**out));
    (*out)->g = g;
    return 0;
}

int64_t s3_sse_reader_size(const struct s3_sse_reader *sr)
{
    return sr->g->size;
}

int s3_sse_reader_read(struct s3_sse_reader *sr, int64_t pos, int64_t max, struct gz_slice *out)
{
    return s3__sse_get_read(sr->g, pos, max, out);
}

void s3_sse_reader_close(struct s3_sse_reader *sr)
{
    if (sr == NULL)
        return;
    s3__sse_get_free(sr->g);
    gz_free(sr);
}

int64_t s3__sse_get_size(const struct s3__sse_get *g)
{
    return g->size;
}

int64_t s3__sse_get_total(const struct s3__sse_get *g)
{
    return g->total;
}

int64_t s3__sse_get_offset(const struct s3__sse_get *g)
{
    return g->offset;
}

/* Makes body i current (its header read and checked). */
static int get_body(struct s3__sse_get *g, int i)
{
    if (g->cur == i)
        return 0;
    s3__sse_dec_free(g->dec);
    g->dec = NULL;
    g->seg_idx = -1;
    g->cur = i;
    int rc = s3__sse_dec_new(g->alg, g->dk, g->bodies[i].stored, get_fetch, g, &g->dec);
    if (rc < 0)
        g->cur = -1;
    return rc;
}

int s3__sse_get_read(struct s3__sse_get *g, int64_t pos, int64_t max, struct gz_slice *out)
{
    int lo = 0, hi = g->nbodies - 1;
    while (lo < hi) { /* the last body starting at or before pos */
        int mid = (lo + hi + 1) / 2;
        if (g->bodies[mid].plain_off <= pos)
            lo = mid;
        else
            hi = mid - 1;
    }
    while (lo + 1 < g->nbodies && g->bodies[lo].plain == 0 && g->bodies[lo + 1].plain_off <= pos)
        lo++;
    int rc = get_body(g, lo);
    if (rc < 0)
        return rc;
    int64_t rel = pos - g->bodies[lo].plain_off;
    int64_t idx = rel / SSE_SEG;
    if (idx != g->seg_idx) {
        g->seg_idx = -1;
        rc = s3__sse_dec_segment(g->dec, idx, &g->seg);
        if (rc < 0)
            return rc;
        g->seg_idx = idx;
    }
    size_t off = (size_t)(rel - idx * SSE_SEG);
    if (off >= g->seg.len) {
        *out = gz_slice(g->seg.ptr, 0);
        return 0;
    }
    *out = gz_slice(g->seg.ptr + off, (size_t)GZ_MIN((int64_t)(g->seg.len - off), max));
    return 0;
}

void s3__sse_get_free(struct s3__sse_get *g)
{
    if (g == NULL)
        return;
    s3__sse_dec_free(g->dec);
    gz_free(g->bodies);
    OPENSSL_cleanse(g, sizeof(*g));
    gz_free(g);
}
