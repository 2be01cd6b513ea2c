/*
 * dest_store.c - the destination written through the store interface (no HTTP): what
 * `gzy serve` jobs and `gzy migrate copy --dest-data` use. Objects are stored exactly as a
 * PUT through S3 would store them (canonical standard header names, lower-case x-amz-meta-*),
 * but with the source's ETag and Last-Modified as their own. The store's done callbacks run
 * on its committer thread: the worker waits on a mutex + condition variable.
 *
 * A bucket that encrypts by default gets sealed bodies through the client's sealer (seal.h):
 * the envelope joins the stored headers, simple bodies and parts are written through the
 * encryptor, a completed upload gets its parts' layout, and reads (resume re-hash) and
 * listing sizes are the plaintext's. ETags stay as before: the source's, or MD5s of the
 * plaintext (what an S3 PUT of an SSE-S3 / SM4 object gives).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../store/store.h"
#include "migrate_int.h"

#define MIG_STORE_HEADERS_MAX (64 * 1024)

static int store_fail(int rc, const char *what, char *err, size_t errsz, bool *permanent)
{
    if (rc == GZ_EQUOTA)
        snprintf(err, errsz, "quota exceeded");
    else if (rc == GZ_ENOBUCKET)
        snprintf(err, errsz, "destination bucket does not exist");
    else
        snprintf(err, errsz, "destination %s: %s", what, gz_strerror(rc));
    if (permanent)
        *permanent = rc == GZ_EQUOTA || rc == GZ_ENOBUCKET;
    return rc;
}

int mig_client_init_store(struct mig_client *c, struct store *s, const char *bucket,
                          char *err, size_t errsz)
{
    return mig_client_init_sealed(c, s, NULL, bucket, err, errsz);
}

int mig_client_init_sealed(struct mig_client *c, struct store *s,
                           const struct gz_mig_sealer *sealer, const char *bucket, char *err,
                           size_t errsz)
{
    memset(c, 0, sizeof(*c));
    c->who = "destination";
    c->store = s;
    c->sealer = sealer;
    c->preset = gz_migrate_preset_get(GZ_MIG_GENERIC);
    if (!bucket || !*bucket || strlen(bucket) >= sizeof(c->bucket)) {
        snprintf(err, errsz, "destination: a bucket is required");
        return -EINVAL;
    }
    snprintf(c->bucket, sizeof(c->bucket), "%s", bucket);
    snprintf(c->base, sizeof(c->base), "store");
    struct store_bucket b;
    int rc = store_bucket_get(s, gz_slice_cstr(c->bucket), &b);
    if (rc < 0) {
        snprintf(err, errsz, "destination bucket %s: %s", bucket,
                 rc == GZ_ENOBUCKET ? "does not exist" : gz_strerror(rc));
        return rc == GZ_ENOBUCKET ? -ENOENT : rc;
    }
    /* Objects written here bypass the S3 handlers, which seal bodies for a bucket that
     * encrypts by default: without a sealer, refuse rather than store plaintext there. */
    struct gz_buf v;
    gz_buf_init(&v, 0);
    if (!sealer &&
        store_bucket_attr_get(s, gz_slice_cstr(c->bucket), STORE_ATTR_SSE_DEFAULT, &v) == 0) {
        gz_buf_free(&v);
        snprintf(err, errsz, "destination bucket %s has default encryption and this copy cannot "
                 "seal objects: migrate into it with a migration job of gzy serve (or through "
                 "its S3 endpoint)", bucket);
        return -EPERM;
    }
    gz_buf_free(&v);
    return 0;
}

static const char *const canonical[] = {
    "Content-Type", "Cache-Control", "Content-Disposition", "Content-Encoding",
    "Content-Language", "Expires",
};

/* Splits "name: value" into slices; false if malformed. */
static bool split_line(const char *line, struct gz_slice *n, struct gz_slice *v)
{
    const char *colon = strchr(line, ':');
    if (!colon || colon == line)
        return false;
    const char *p = colon + 1;
    while (*p == ' ')
        p++;
    *n = gz_slice(line, (size_t)(colon - line));
    *v = gz_slice_cstr(p);
    return true;
}

int mig_store_headers(const struct curl_slist *meta, struct gz_buf *enc)
{
    struct gz_slice n, v;
    int rc = 0;
    /* the standard headers first, in the order s3/meta.c stores them, then user metadata */
    for (size_t i = 0; rc == 0 && i < sizeof(canonical) / sizeof(canonical[0]); i++)
        for (const struct curl_slist *e = meta; rc == 0 && e; e = e->next)
            if (split_line(e->data, &n, &v) && gz_slice_case_eq_cstr(n, canonical[i])) {
                rc = store_headers_add(enc, gz_slice_cstr(canonical[i]), v);
                break;
            }
    for (const struct curl_slist *e = meta; rc == 0 && e; e = e->next)
        if (split_line(e->data, &n, &v) && n.len > 11 && strncmp(n.ptr, "x-amz-meta-", 11) == 0)
            rc = store_headers_add(enc, n, v);
    return rc;
}

static void fill_meta(struct store_meta *m, const struct mig_objhdr *oh, const char *fallback,
                      const struct gz_buf *enc)
{
    memset(m, 0, sizeof(*m));
    const char *e = oh->src_etag && *oh->src_etag && strlen(oh->src_etag) < sizeof(m->etag)
                        ? oh->src_etag
                        : fallback;
    snprintf(m->etag, sizeof(m->etag), "%s", e ? e : "");
    m->mtime_ms = oh->src_mtime > 0 ? oh->src_mtime * 1000 : 0;
    m->headers = gz_buf_slice(enc);
}

/* Writes body into w: through seal (sealed, final segment included) when set, else as is. */
static int body_write(const struct mig_client *c, struct store_writer *w, void *seal,
                      const void *body, size_t len)
{
    if (seal == NULL)
        return len ? store_writer_write(w, body, len) : 0;
    int rc = len ? c->sealer->write(seal, body, len) : 0;
    return rc == 0 ? c->sealer->finish(seal) : rc;
}

int mig_store_put(const struct mig_client *c, const char *key, const struct mig_objhdr *oh,
                  const void *body, size_t len, char *err, size_t errsz, bool *permanent)
{
    struct gz_buf enc;
    struct store_writer *w = NULL;
    struct store_meta m;
    void *seal = NULL;
    uint8_t d[16];
    char md5hex[33];
    gz_buf_init(&enc, MIG_STORE_HEADERS_MAX);
    int rc = mig_store_headers(oh->meta, &enc);
    if (rc == 0)
        rc = store_writer_open(c->store, &w);
    if (rc == 0 && c->sealer)
        rc = c->sealer->begin(c->sealer->ctx, gz_slice_cstr(c->bucket), &enc, w, &seal);
    if (rc == 0)
        rc = body_write(c, w, seal, body, len);
    if (seal)
        c->sealer->release(seal);
    if (rc < 0) {
        store_writer_abort(w);
        store_fail(rc, "write", err, errsz, permanent);
        goto out;
    }
    /* the ETag is the source's; the MD5 only stands in for a missing one */
    if (oh->body_md5 && strlen(oh->body_md5) == 32) {
        snprintf(md5hex, sizeof(md5hex), "%s", oh->body_md5);
    } else if (!oh->src_etag || !*oh->src_etag || strlen(oh->src_etag) >= sizeof(m.etag)) {
        gz_md5(body, len, d);
        gz_hex_encode(md5hex, d, 16);
    } else {
        md5hex[0] = '\0';
    }
    fill_meta(&m, oh, md5hex, &enc);
    struct store_waiter wt;
    store_waiter_init(&wt);
    store_object_commit(c->store, w, gz_slice_cstr(c->bucket), gz_slice_cstr(key), &m,
                        store_waiter_done, &wt);
    rc = store_waiter_wait(&wt);
    if (rc < 0)
        store_fail(rc, "commit", err, errsz, permanent);
out:
    gz_buf_free(&enc);
    return rc;
}

int mig_store_mpu_create(const struct mig_client *c, const char *key,
                         const struct mig_objhdr *oh, char *upload_id, size_t idsz, char *err,
                         size_t errsz)
{
    struct gz_buf enc;
    char id[STORE_UPLOAD_ID_LEN + 1];
    gz_buf_init(&enc, MIG_STORE_HEADERS_MAX);
    void *none = NULL;
    int rc = mig_store_headers(oh->meta, &enc);
    if (rc == 0 && c->sealer) /* the upload's envelope: every part is sealed under its key */
        rc = c->sealer->begin(c->sealer->ctx, gz_slice_cstr(c->bucket), &enc, NULL, &none);
    if (rc == 0)
        rc = store_upload_create(c->store, gz_slice_cstr(c->bucket), gz_slice_cstr(key),
                                 gz_buf_slice(&enc), id);
    if (rc < 0)
        store_fail(rc, "create upload", err, errsz, NULL);
    else
        snprintf(upload_id, idsz, "%s", id);
    gz_buf_free(&enc);
    return rc;
}

/* The encryptor of a part when the upload is encrypted (*seal NULL otherwise). */
static int part_seal(const struct mig_client *c, const char *key, const char *upload_id, int part,
                     struct store_writer *w, void **seal)
{
    struct store_upload up;
    struct gz_buf hold;
    *seal = NULL;
    if (c->sealer == NULL)
        return 0;
    if (key == NULL)
        return -EINVAL;
    gz_buf_init(&hold, 0); /* (store_upload_get sets it up again) */
    int rc = store_upload_get(c->store, gz_slice_cstr(c->bucket), gz_slice_cstr(key), upload_id,
                              &up, &hold);
    if (rc == 0)
        rc = c->sealer->part_begin(c->sealer->ctx, up.headers, part, w, seal);
    gz_buf_free(&hold);
    return rc;
}

int mig_store_mpu_part(const struct mig_client *c, const char *upload_id, int part,
                       const void *body, size_t len, char *etag, size_t etagsz, char *err,
                       size_t errsz)
{
    return mig_store_mpu_part_of(c, NULL, upload_id, part, body, len, etag, etagsz, err, errsz);
}

int mig_store_mpu_part_of(const struct mig_client *c, const char *key, const char *upload_id,
                          int part, const void *body, size_t len, char *etag, size_t etagsz,
                          char *err, size_t errsz)
{
    struct store_writer *w = NULL;
    void *seal = NULL;
    uint8_t d[16];
    char md5hex[33];
    int rc = store_writer_open(c->store, &w);
    if (rc == 0)
        rc = part_seal(c, key, upload_id, part, w, &seal);
    if (rc == 0)
        rc = body_write(c, w, seal, body, len);
    if (seal)
        c->sealer->release(seal);
    if (rc < 0) {
        store_writer_abort(w);
        return store_fail(rc, "write part", err, errsz, NULL);
    }
    gz_md5(body, len, d);
    gz_hex_encode(md5hex, d, 16);
    struct store_waiter wt;
    store_waiter_init(&wt);
    store_upload_part_commit(c->store, upload_id, part, w, md5hex, store_waiter_done, &wt);
    rc = store_waiter_wait(&wt);
    if (rc < 0)
        return store_fail(rc, "commit part", err, errsz, NULL);
    snprintf(etag, etagsz, "%s", md5hex);
    return 0;
}

struct part_sizes {
    struct store_part *parts; /* parts 1..n */
    int n, last;
};

static void part_size_one(const struct store_part *p, void *ud)
{
    struct part_sizes *ps = ud;
    if (p->number >= 1 && p->number <= ps->n)
        ps->parts[p->number - 1].size = p->size;
    ps->last = p->number;
}

/* With a sealer, the headers an encrypted upload completes into (the upload's plus its parts'
 * layout) into out; out stays empty for an upload that is not encrypted. */
static int sealed_headers(const struct mig_client *c, const char *key, const char *upload_id,
                          const struct store_part *parts, int nparts, struct gz_buf *out)
{
    struct store_upload up;
    struct gz_buf hold;
    struct part_sizes ps = {.parts = gz_calloc((size_t)nparts, sizeof(*ps.parts)), .n = nparts};
    bool more = true;
    gz_buf_init(&hold, 0);
    int rc = store_upload_get(c->store, gz_slice_cstr(c->bucket), gz_slice_cstr(key), upload_id,
                              &up, &hold);
    memcpy(ps.parts, parts, (size_t)nparts * sizeof(*parts));
    for (int i = 0; i < nparts; i++)
        ps.parts[i].size = -1;
    while (rc == 0 && more && ps.last < nparts) {
        int from = ps.last;
        rc = store_upload_parts(c->store, upload_id, from, STORE_MAX_PARTS, part_size_one, &ps,
                                &more);
        if (rc == 0 && ps.last <= from)
            break;
    }
    for (int i = 0; rc == 0 && i < nparts; i++)
        if (ps.parts[i].size < 0)
            rc = GZ_EINVALIDPART; /* a part the journal lists is not in the upload */
    if (rc == 0)
        rc = c->sealer->complete(c->sealer->ctx, gz_slice_cstr(c->bucket), up.headers, ps.parts,
                                 nparts, out);
    gz_buf_free(&hold);
    gz_free(ps.parts);
    return rc;
}

int mig_store_mpu_complete(const struct mig_client *c, const char *key, const char *upload_id,
                           const mig_etag_t *etags, int nparts, const struct mig_objhdr *oh,
                           char *err, size_t errsz, bool *permanent)
{
    struct store_part *parts = gz_calloc((size_t)nparts, sizeof(*parts));
    struct gz_buf none, sealed;
    struct store_meta m;
    gz_buf_init(&none, 16);
    gz_buf_init(&sealed, MIG_STORE_HEADERS_MAX);
    for (int i = 0; i < nparts; i++) {
        parts[i].number = i + 1;
        snprintf(parts[i].etag, sizeof(parts[i].etag), "%s", etags[i]);
    }
    int rc = c->sealer ? sealed_headers(c, key, upload_id, parts, nparts, &sealed) : 0;
    if (rc < 0) {
        store_fail(rc, "complete upload", err, errsz, permanent);
        goto out;
    }
    fill_meta(&m, oh, NULL, &none);
    /* the upload's headers, or those and the layout of its sealed parts */
    m.headers = sealed.len ? gz_buf_slice(&sealed) : gz_slice(NULL, 0);
    m.parts = nparts;
    if (!m.etag[0]) { /* no source ETag: the S3 multipart ETag */
        struct gz_hash h;
        uint8_t d[GZ_HASH_MAX_LEN];
        gz_hash_init(&h, GZ_HASH_MD5);
        for (int i = 0; i < nparts; i++)
            if (gz_hex_decode(d, sizeof(d), gz_slice_cstr(etags[i])) == 16)
                gz_hash_update(&h, d, 16);
        gz_hash_final(&h, d);
        gz_hex_encode(m.etag, d, 16);
        snprintf(m.etag + 32, sizeof(m.etag) - 32, "-%d", nparts);
    }
    struct store_waiter wt;
    store_waiter_init(&wt);
    store_upload_complete(c->store, gz_slice_cstr(c->bucket), gz_slice_cstr(key), upload_id,
                          parts, nparts, &m, store_waiter_done, &wt);
    rc = store_waiter_wait(&wt);
    if (rc < 0)
        store_fail(rc, "complete upload", err, errsz, permanent);
out:
    gz_free(parts);
    gz_buf_free(&none);
    gz_buf_free(&sealed);
    return rc;
}

void mig_store_mpu_abort(const struct mig_client *c, const char *upload_id)
{
    struct store_waiter wt;
    store_waiter_init(&wt);
    store_upload_abort(c->store, upload_id, store_waiter_done, &wt);
    store_waiter_wait(&wt);
}

int mig_store_delete(const struct mig_client *c, const char *key, char *err, size_t errsz)
{
    struct store_waiter wt;
    store_waiter_init(&wt);
    store_object_delete(c->store, gz_slice_cstr(c->bucket), gz_slice_cstr(key), store_waiter_done,
                        &wt);
    int rc = store_waiter_wait(&wt);
    return rc < 0 ? store_fail(rc, "delete", err, errsz, NULL) : 0;
}

struct list_ctx {
    const struct mig_client *c;
    bool sealed;                /* the bucket may hold encrypted objects */
    mig_entry_fn *fn;
    void *arg;
    int rc;
    char *last;                 /* last key seen (owned) */
};

static void list_one(const struct store_list_entry *le, void *ud)
{
    struct list_ctx *lc = ud;
    if (lc->rc || le->is_prefix)
        return;
    struct mig_entry e = {.size = le->size, .mtime = le->mtime_ms / 1000};
    if (lc->sealed) /* the diff compares the source's (plaintext) size with this one */
        e.size = lc->c->sealer->plain_size(lc->c->sealer->ctx, gz_slice_cstr(lc->c->bucket),
                                           le->key, le->size);
    e.key = gz_malloc(le->key.len + 1);
    memcpy(e.key, le->key.ptr, le->key.len);
    e.key[le->key.len] = '\0';
    snprintf(e.etag, sizeof(e.etag), "%s", le->etag ? le->etag : "");
    lc->rc = lc->fn(lc->arg, &e);
    gz_free(lc->last);
    lc->last = e.key;
}

int mig_store_list(const struct mig_client *c, const char *prefix, mig_entry_fn *fn, void *arg,
                   char *err, size_t errsz)
{
    struct list_ctx lc = {.c = c, .fn = fn, .arg = arg};
    lc.sealed = c->sealer && c->sealer->bucket_sealed(c->sealer->ctx, gz_slice_cstr(c->bucket));
    bool truncated = true;
    int rc = 0;
    while (rc == 0 && lc.rc == 0 && truncated) {
        struct gz_slice after = lc.last ? gz_slice_cstr(lc.last) : gz_slice(NULL, 0);
        char *prev = lc.last;
        lc.last = NULL;
        rc = store_object_list(c->store, gz_slice_cstr(c->bucket),
                               gz_slice_cstr(prefix ? prefix : ""), after, gz_slice(NULL, 0),
                               1000, list_one, &lc, &truncated);
        if (!lc.last) { /* nothing new on this page */
            lc.last = prev;
            break;
        }
        gz_free(prev);
    }
    gz_free(lc.last);
    if (rc < 0)
        snprintf(err, errsz, "destination listing: %s", gz_strerror(rc));
    return rc < 0 ? rc : lc.rc;
}

int mig_store_read(const struct mig_client *c, const char *key, int64_t off, int64_t len,
                   struct gz_buf *body, char *err, size_t errsz)
{
    struct store_reader *r = NULL;
    struct store_meta m;
    int rc = store_object_open(c->store, gz_slice_cstr(c->bucket), gz_slice_cstr(key), &r, &m);
    bool raw = true;
    if (rc == 0 && c->sealer) { /* an encrypted object: its plaintext */
        rc = c->sealer->read(c->sealer->ctx, m.headers, m.size, r, off, len, body);
        raw = rc == 1;
        rc = rc == 1 ? 0 : rc;
    }
    if (rc == 0 && raw)
        rc = store_reader_seek(r, off);
    if (rc == 0 && raw)
        rc = gz_buf_reserve(body, (size_t)len);
    while (rc == 0 && raw && (int64_t)body->len < len) {
        int64_t n = store_reader_read(r, body->ptr + body->len, (size_t)(len - (int64_t)body->len));
        if (n <= 0) {
            rc = n < 0 ? (int)n : -EIO;
            break;
        }
        body->len += (size_t)n;
    }
    store_reader_close(r);
    if (rc < 0)
        snprintf(err, errsz, "destination read: %s", gz_strerror(rc));
    return rc;
}
