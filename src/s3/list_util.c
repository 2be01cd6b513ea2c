/*
 * list_util.c - pure helpers for the listing and multipart handlers (see list_util.h).
 * Nothing here touches the store, the network or the request; only util.
 */
#include "list_util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>

#include "../util/hash.h"

/* ---- continuation tokens ---- */

void s3__list_token_encode(struct gz_slice key, char out[S3_LIST_TOKEN_MAX])
{
    size_t n = GZ_MIN(key.len, (size_t)STORE_MAX_KEY);

    gz_base64_encode(out, (const uint8_t *)key.ptr, n);
}

int s3__list_token_decode(struct gz_slice token, char out[STORE_MAX_KEY])
{
    /* Decoding may need up to 3 bytes per 4 characters; re-encoding the result and
     * comparing rejects anything that is not exactly what we would have produced. */
    uint8_t tmp[3 * ((S3_LIST_TOKEN_MAX - 1) / 4)];
    char again[S3_LIST_TOKEN_MAX];
    int n;

    if (token.len == 0 || token.len > S3_LIST_TOKEN_MAX - 1 || token.len % 4 != 0)
        return -EINVAL;
    n = gz_base64_decode(tmp, sizeof(tmp), token);
    if (n <= 0 || n > STORE_MAX_KEY)
        return -EINVAL;
    gz_base64_encode(again, tmp, (size_t)n);
    if (strlen(again) != token.len || memcmp(again, token.ptr, token.len) != 0)
        return -EINVAL;
    memcpy(out, tmp, (size_t)n);
    return n;
}

/* ---- URL encoding ---- */

static bool url_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~' || c == '/';
}

int s3__url_encode(struct gz_buf *out, struct gz_slice in)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i = 0;

    while (i < in.len) {
        size_t run = i;
        char esc[3];
        int rc;

        while (run < in.len && url_unreserved((unsigned char)in.ptr[run]))
            run++;
        if (run > i) {
            rc = gz_buf_append(out, in.ptr + i, run - i);
            if (rc < 0)
                return rc;
            i = run;
            continue;
        }
        esc[0] = '%';
        esc[1] = hex[(unsigned char)in.ptr[i] >> 4];
        esc[2] = hex[(unsigned char)in.ptr[i] & 15];
        rc = gz_buf_append(out, esc, 3);
        if (rc < 0)
            return rc;
        i++;
    }
    return 0;
}

/* %XX only: in x-amz-copy-source a '+' is a plus. */
static int pct_decode(char *out, size_t outsz, struct gz_slice in)
{
    size_t i, n = 0;

    for (i = 0; i < in.len; i++) {
        char c = in.ptr[i];

        if (c == '%') {
            int hi, lo;

            if (i + 2 >= in.len)
                return -EINVAL;
            hi = gz_hex_digit(in.ptr[i + 1]);
            lo = gz_hex_digit(in.ptr[i + 2]);
            if (hi < 0 || lo < 0)
                return -EINVAL;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (n >= outsz)
            return -EINVAL;
        out[n++] = c;
    }
    return (int)n;
}

/* ---- integer parameters ---- */

int s3__param_int(const struct s3_param *p, int def, int cap, int *out)
{
    uint64_t v;

    if (!p || !p->has_value || p->value.len == 0) {
        *out = def;
        return 0;
    }
    if (gz_slice_to_u64(p->value, &v) < 0 || v > INT32_MAX)
        return -EINVAL;
    *out = v > (uint64_t)cap ? cap : (int)v;
    return 0;
}

/* ---- listing accumulator ---- */

int s3__slice_cmp(struct gz_slice a, struct gz_slice b)
{
    size_t n = GZ_MIN(a.len, b.len);
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;

    if (c != 0)
        return c;
    return a.len < b.len ? -1 : (a.len > b.len ? 1 : 0);
}

void s3__list_acc_init(struct s3__list_acc *a, int max, struct gz_slice after)
{
    memset(a, 0, sizeof(*a));
    a->cap = (max < 0 ? 0 : max) + 1;
    a->items = gz_try_malloc((size_t)a->cap * sizeof(*a->items));
    if (!a->items)
        a->err = -ENOMEM;
    /* Every key is at most STORE_MAX_KEY bytes: the bound is exact. */
    gz_buf_init(&a->keys, (size_t)a->cap * STORE_MAX_KEY + 1);
    a->after = after;
}

void s3__list_acc_free(struct s3__list_acc *a)
{
    gz_free(a->items);
    a->items = NULL;
    gz_buf_free(&a->keys);
    a->n = a->cap = 0;
}

struct s3__list_item *s3__list_acc_add(struct s3__list_acc *a, struct gz_slice key, bool is_prefix)
{
    struct s3__list_item *it;
    int rc;

    if (a->err || a->n >= a->cap)
        return NULL;
    if (is_prefix && a->after.len > 0 && s3__slice_cmp(key, a->after) <= 0)
        return NULL;
    it = &a->items[a->n];
    memset(it, 0, sizeof(*it));
    it->key_off = a->keys.len;
    it->key_len = key.len;
    it->is_prefix = is_prefix;
    rc = gz_buf_append(&a->keys, key.ptr, key.len);
    if (rc < 0) {
        a->err = rc;
        return NULL;
    }
    a->n++;
    return it;
}

bool s3__list_acc_finish(struct s3__list_acc *a, int max, bool store_truncated)
{
    if (a->n > max) {
        a->n = max;
        return true;
    }
    return store_truncated;
}

struct gz_slice s3__list_acc_key(const struct s3__list_acc *a, int i)
{
    return gz_slice(a->keys.ptr + a->items[i].key_off, a->items[i].key_len);
}

/* ---- CompleteMultipartUpload ---- */

/* Strips surrounding quotes (and a weak-validator prefix) and lower-cases into out. */
static bool etag_normalise(struct gz_slice in, char out[48])
{
    size_t i;

    in = gz_slice_trim(in);
    if (in.len >= 2 && in.ptr[0] == 'W' && in.ptr[1] == '/')
        in = gz_slice(in.ptr + 2, in.len - 2);
    if (in.len >= 2 && in.ptr[0] == '"' && in.ptr[in.len - 1] == '"')
        in = gz_slice(in.ptr + 1, in.len - 2);
    if (in.len == 0 || in.len >= 48)
        return false;
    for (i = 0; i < in.len; i++) {
        char c = in.ptr[i];

        out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    out[in.len] = '\0';
    return true;
}

static const struct s3_xml_node *complete_root(const struct s3_xml_node *root)
{
    const struct s3_xml_node *c;

    if (!root)
        return NULL;
    if (gz_slice_eq_cstr(root->name, "CompleteMultipartUpload"))
        return root;
    for (c = root->child; c; c = c->next)
        if (gz_slice_eq_cstr(c->name, "CompleteMultipartUpload"))
            return c;
    return NULL;
}

static const struct s3_xml_node *node_child(const struct s3_xml_node *n, const char *name)
{
    const struct s3_xml_node *c;

    for (c = n->child; c; c = c->next)
        if (gz_slice_eq_cstr(c->name, name))
            return c;
    return NULL;
}

static enum s3_err complete_part(const struct s3_xml_node *pn, struct store_part *out, char *msg,
                                 size_t msgsz)
{
    const struct s3_xml_node *num = node_child(pn, "PartNumber");
    const struct s3_xml_node *etag = node_child(pn, "ETag");
    uint64_t v;

    memset(out, 0, sizeof(*out));
    if (!num || !etag || gz_slice_to_u64(gz_slice_trim(num->text), &v) < 0) {
        snprintf(msg, msgsz, "%s",
                 "The XML you provided was not well-formed or did not "
                 "validate against our published schema");
        return S3_ERR_MALFORMED_XML;
    }
    if (v < 1 || v > STORE_MAX_PARTS) {
        snprintf(msg, msgsz, "Part number must be an integer between 1 and %d, inclusive",
                 STORE_MAX_PARTS);
        return S3_ERR_INVALID_ARGUMENT;
    }
    out->number = (int)v;
    if (!etag_normalise(etag->text, out->etag)) {
        /* An ETag we could never have issued: no such part. */
        out->etag[0] = '\0';
    }
    return S3_OK;
}

enum s3_err s3__mpu_complete_parse(const struct s3_xml_node *root, struct store_part **parts,
                                   int *nparts, char *msg, size_t msgsz)
{
    const struct s3_xml_node *doc = complete_root(root), *c;
    struct store_part *arr = NULL;
    enum s3_err e = S3_OK;
    int n = 0, i = 0;

    *parts = NULL;
    *nparts = 0;
    msg[0] = '\0';
    if (!doc) {
        e = S3_ERR_MALFORMED_XML;
        goto out;
    }
    for (c = doc->child; c; c = c->next)
        if (gz_slice_eq_cstr(c->name, "Part") && ++n > STORE_MAX_PARTS)
            break;
    if (n == 0 || n > STORE_MAX_PARTS) {
        e = S3_ERR_MALFORMED_XML;
        goto out;
    }
    arr = gz_try_malloc((size_t)n * sizeof(*arr));
    if (!arr) {
        e = S3_ERR_INTERNAL_ERROR;
        goto out;
    }
    for (c = doc->child; c; c = c->next) {
        if (!gz_slice_eq_cstr(c->name, "Part"))
            continue;
        e = complete_part(c, &arr[i], msg, msgsz);
        if (e != S3_OK)
            goto out;
        if (i > 0 && arr[i].number <= arr[i - 1].number) {
            e = S3_ERR_INVALID_PART_ORDER;
            goto out;
        }
        i++;
    }
    *parts = arr;
    *nparts = n;
    arr = NULL;
out:
    gz_free(arr);
    return e;
}

void s3__mpu_match_init(struct s3__mpu_match *m, struct store_part *want, int n)
{
    memset(m, 0, sizeof(*m));
    m->want = want;
    m->n = n;
}

void s3__mpu_match_feed(struct s3__mpu_match *m, const struct store_part *p)
{
    struct store_part *w;

    if (p->number > m->last_seen)
        m->last_seen = p->number;
    if (m->err != S3_OK || m->next >= m->n)
        return;
    w = &m->want[m->next];
    if (p->number < w->number)
        return; /* uploaded but not listed: discarded */
    if (p->number > w->number || strcmp(p->etag, w->etag) != 0) {
        m->err = S3_ERR_INVALID_PART; /* listed part missing, or a different ETag */
        m->bad_part = w->number;
        return;
    }
    if (m->next < m->n - 1 && p->size < S3_MIN_PART_SIZE && m->small_part == 0)
        m->small_part = w->number; /* reported only if every part exists (InvalidPart first) */
    w->size = p->size;
    w->mtime_ms = p->mtime_ms;
    m->next++;
}

enum s3_err s3__mpu_match_finish(struct s3__mpu_match *m)
{
    if (m->err == S3_OK && m->next < m->n) {
        m->err = S3_ERR_INVALID_PART;
        m->bad_part = m->want[m->next].number;
    }
    if (m->err == S3_OK && m->small_part != 0) {
        m->err = S3_ERR_ENTITY_TOO_SMALL;
        m->bad_part = m->small_part;
    }
    return m->err;
}

int s3__mpu_etag(const struct store_part *parts, int n, char out[48])
{
    struct gz_hash h;
    uint8_t md5[GZ_HASH_MAX_LEN];
    int i;

    if (n <= 0)
        return -EINVAL;
    for (i = 0; i < n; i++)
        if (strlen(parts[i].etag) != 32 ||
            gz_hex_decode(md5, sizeof(md5), gz_slice(parts[i].etag, 32)) != 16)
            return -EINVAL;
    gz_hash_init(&h, GZ_HASH_MD5);
    for (i = 0; i < n; i++) {
        gz_hex_decode(md5, sizeof(md5), gz_slice(parts[i].etag, 32));
        gz_hash_update(&h, md5, 16);
    }
    gz_hash_final(&h, md5);
    gz_hex_encode(out, md5, 16);
    snprintf(out + 32, 48 - 32, "-%d", n);
    return 0;
}

bool s3__upload_id_parse(struct gz_slice v, char out[STORE_UPLOAD_ID_LEN + 1])
{
    if (v.len != STORE_UPLOAD_ID_LEN || memchr(v.ptr, '\0', v.len) != NULL)
        return false;
    memcpy(out, v.ptr, v.len);
    out[v.len] = '\0';
    return true;
}

/* ---- UploadPartCopy headers ---- */

int s3__copy_source_parse(struct gz_slice v, char *buf, size_t bufsz, struct gz_slice *bucket,
                          struct gz_slice *key)
{
    const char *q = v.len ? memchr(v.ptr, '?', v.len) : NULL;
    struct gz_slice path = gz_slice(v.ptr, q ? (size_t)(q - v.ptr) : v.len);
    const char *slash;
    int n;

    if (v.len == 0)
        return -EINVAL;
    if (q) {
        struct gz_slice qs = gz_slice(q + 1, v.len - path.len - 1);

        if (!gz_slice_starts_with(qs, "versionId="))
            return -EINVAL;
        if (!gz_slice_eq_cstr(qs, "versionId=null"))
            return -ENOTSUP;
    }
    if (path.len > 0 && path.ptr[0] == '/')
        path = gz_slice(path.ptr + 1, path.len - 1);
    n = pct_decode(buf, bufsz, path);
    if (n < 0)
        return n;
    slash = memchr(buf, '/', (size_t)n);
    if (!slash || slash == buf || slash == buf + n - 1)
        return -EINVAL;
    *bucket = gz_slice(buf, (size_t)(slash - buf));
    *key = gz_slice(slash + 1, (size_t)(buf + n - slash - 1));
    if (!gz_utf8_valid(*key) || key->len > STORE_MAX_KEY || bucket->len > STORE_MAX_BUCKET)
        return -EINVAL;
    return 0;
}

static int parse_i64(struct gz_slice s, int64_t *out)
{
    uint64_t v;

    if (s.len == 0 || gz_slice_to_u64(s, &v) < 0 || v > (uint64_t)INT64_MAX)
        return -EINVAL;
    *out = (int64_t)v;
    return 0;
}

int s3__copy_range_parse(struct gz_slice v, int64_t *first, int64_t *last)
{
    const char *dash;

    v = gz_slice_trim(v);
    if (!gz_slice_starts_with(v, "bytes="))
        return -EINVAL;
    v = gz_slice(v.ptr + 6, v.len - 6);
    dash = memchr(v.ptr, '-', v.len);
    if (!dash)
        return -EINVAL;
    if (parse_i64(gz_slice(v.ptr, (size_t)(dash - v.ptr)), first) < 0 ||
        parse_i64(gz_slice(dash + 1, (size_t)(v.ptr + v.len - dash - 1)), last) < 0)
        return -EINVAL;
    return *first <= *last ? 0 : -EINVAL;
}
