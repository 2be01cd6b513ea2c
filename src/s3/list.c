/*
 * list.c - the listing operations: ListObjects (v1), ListObjectsV2, ListParts and
 * ListMultipartUploads. Each is one synchronous index range scan (store_object_list and
 * friends are microsecond look-ups callable on the loop thread) rendered into one XML reply.
 *
 * Paging: the store is asked for max + 1 entries so IsTruncated is exact, and a common prefix
 * at or before the marker is never reported again (list_util.h explains why).
 */
#include <errno.h>
#include <stdio.h>

#include "list_util.h"
#include "s3_obj_int.h"
#include "sse_int.h"

/* The largest listing reply: 1000 entries of 1024-byte keys, every byte escaped as "&quot;"
 * (6 bytes) or "%XX" (3 bytes), plus the per-entry elements. */
#define LIST_XML_MAX (16u * 1024 * 1024)
#define LIST_TMP_MAX (3u * STORE_MAX_KEY + 16)

/* ---- shared rendering helpers ---- */

static struct gz_slice param_value(const struct s3_request *r, const char *name)
{
    const struct s3_param *p = s3_param_get(r, name);

    return p ? p->value : GZ_SLICE_NULL;
}

/* Absent parameters are NULL slices; the store is given "" instead, so it never has to pass
 * a NULL pointer to memcmp (undefined even for length 0). */
static struct gz_slice nonnull(struct gz_slice s)
{
    return s.ptr ? s : gz_slice("", 0);
}

static enum s3_err parse_encoding(const struct s3_request *r, bool *url, char *msg, size_t n)
{
    const struct s3_param *p = s3_param_get(r, "encoding-type");

    *url = false;
    if (!p || p->value.len == 0)
        return S3_OK;
    if (!gz_slice_case_eq_cstr(p->value, "url")) {
        snprintf(msg, n, "%s", "Invalid Encoding Method specified in Request");
        return S3_ERR_INVALID_ARGUMENT;
    }
    *url = true;
    return S3_OK;
}

/* <name>text</name>, URL-encoded first under encoding-type=url. */
static void xml_elem_enc(struct gz_buf *x, struct gz_buf *tmp, const char *name, struct gz_slice s,
                         bool url)
{
    if (!url) {
        s3_xml_elem(x, name, s);
        return;
    }
    gz_buf_reset(tmp);
    if (s3__url_encode(tmp, s) < 0)
        gz_buf_reset(tmp); /* cannot happen: tmp holds any encoded key */
    s3_xml_elem(x, name, gz_buf_slice(tmp));
}

/* <Owner><ID/><DisplayName/></Owner>: the bucket's owning tenant, shown as the caller's own
 * canonical user when the caller belongs to it (as ListBuckets and the ACLs show it). */
static void xml_owner(struct gz_buf *x, const char *elem, const struct s3_request *r,
                      const char *owner_id)
{
    const struct iam_principal *p = &r->auth.principal;
    bool mine = !r->auth.anonymous && (owner_id[0] == '\0' || strcmp(owner_id, p->tenant_id) == 0);
    const char *id = mine ? p->user_id : owner_id;
    const char *name = mine && p->display_name[0] ? p->display_name : id;

    gz_buf_appendf(x, "<%s>", elem);
    s3_xml_elem(x, "ID", gz_slice_cstr(id));
    s3_xml_elem(x, "DisplayName", gz_slice_cstr(name));
    gz_buf_appendf(x, "</%s>", elem);
}

static void xml_time(struct gz_buf *x, const char *name, int64_t ms)
{
    char t[25];

    gz_time_iso8601(ms, t);
    s3_xml_elem(x, name, gz_slice_cstr(t));
}

static void xml_etag(struct gz_buf *x, const char *etag)
{
    char q[51];

    s3_etag_quote(etag, q);
    s3_xml_elem(x, "ETag", gz_slice_cstr(q));
}

static void xml_bool(struct gz_buf *x, const char *name, bool v)
{
    s3_xml_elem(x, name, gz_slice_cstr(v ? "true" : "false"));
}

/* The storage class recorded in an upload's headers (x-amz-storage-class), else STANDARD. */
static void storage_class_of(struct gz_slice headers, char out[24])
{
    struct gz_slice name, value;
    size_t pos = 0;

    snprintf(out, 24, "%s", "STANDARD");
    while (store_headers_next(headers, &pos, &name, &value)) {
        if (gz_slice_case_eq_cstr(name, "x-amz-storage-class") && value.len > 0 && value.len < 24) {
            memcpy(out, value.ptr, value.len);
            out[value.len] = '\0';
            return;
        }
    }
}

/* s3_reply_xml answers InternalError for a document that overflowed (a poisoned buffer). */
static void reply_built(struct s3_request *r, struct gz_buf *x, struct gz_buf *tmp)
{
    gz_buf_free(tmp);
    s3_reply_xml(r, 200, x);
}

static enum s3_err bad_int(char *msg, size_t n, const char *what)
{
    snprintf(msg, n, "Provided %s not an integer or within integer range", what);
    return S3_ERR_INVALID_ARGUMENT;
}

/* ---- ListObjects / ListObjectsV2 ---- */

struct list_opts {
    bool v2;
    bool url;
    bool fetch_owner;
    int max;
    struct gz_slice prefix;
    struct gz_slice delimiter;
    struct gz_slice marker;       /* v1 marker as sent (echoed) */
    const struct s3_param *token; /* v2 continuation-token */
    struct gz_slice start_after;  /* v2 */
    struct gz_slice after;        /* the effective "strictly after" bound */
    char token_key[STORE_MAX_KEY];
};

static enum s3_err list_opts_parse(const struct s3_request *r, struct list_opts *o, char *msg,
                                   size_t n)
{
    const struct s3_param *lt = s3_param_get(r, "list-type");
    enum s3_err e;

    if (lt && !gz_slice_eq_cstr(lt->value, "1") && !gz_slice_eq_cstr(lt->value, "2")) {
        snprintf(msg, n, "%s", "Invalid List Type specified in Request");
        return S3_ERR_INVALID_ARGUMENT;
    }
    o->v2 = lt && gz_slice_eq_cstr(lt->value, "2");
    e = parse_encoding(r, &o->url, msg, n);
    if (e != S3_OK)
        return e;
    if (s3__param_int(s3_param_get(r, "max-keys"), S3_MAX_LIST_KEYS, S3_MAX_LIST_KEYS, &o->max) < 0)
        return bad_int(msg, n, "max-keys");
    o->prefix = param_value(r, "prefix");
    o->delimiter = param_value(r, "delimiter");
    if (!o->v2) {
        o->marker = param_value(r, "marker");
        o->after = o->marker;
    } else {
        o->fetch_owner = gz_slice_case_eq_cstr(param_value(r, "fetch-owner"), "true");
        o->start_after = param_value(r, "start-after");
        o->after = o->start_after;
        o->token = s3_param_get(r, "continuation-token");
        if (o->token) {
            int k = s3__list_token_decode(o->token->value, o->token_key);

            if (k < 0) {
                snprintf(msg, n, "%s", "The continuation token provided is incorrect");
                return S3_ERR_INVALID_ARGUMENT;
            }
            o->after = gz_slice(o->token_key, (size_t)k);
        }
    }
    /* Keys are at most STORE_MAX_KEY bytes, so "after M" equals "after M's first
     * STORE_MAX_KEY bytes" for any longer M: no key lies strictly between them. */
    if (o->after.len > STORE_MAX_KEY)
        o->after.len = STORE_MAX_KEY;
    return S3_OK;
}

static void list_objects_cb(const struct store_list_entry *e, void *ud)
{
    struct s3__list_item *it = s3__list_acc_add(ud, e->key, e->is_prefix);

    if (!it || e->is_prefix)
        return;
    it->size = e->size;
    it->time_ms = e->mtime_ms;
    snprintf(it->etag, sizeof(it->etag), "%s", e->etag ? e->etag : "");
}

static int list_objects_scan(struct s3_request *r, const struct list_opts *o,
                             struct s3__list_acc *a, bool *truncated)
{
    bool more = false;
    int rc;

    *truncated = false;
    if (o->max == 0 || o->prefix.len > STORE_MAX_KEY)
        return 0; /* nothing can match; S3 answers an empty, untruncated page */
    rc = store_object_list(r->svc->store, r->bucket, nonnull(o->prefix), nonnull(o->after),
                           nonnull(o->delimiter), o->max + 1, list_objects_cb, a, &more);
    if (rc < 0)
        return rc;
    if (a->err < 0)
        return a->err;
    *truncated = s3__list_acc_finish(a, o->max, more);
    return 0;
}

static void list_objects_entries(struct gz_buf *x, struct gz_buf *tmp, const struct s3_request *r,
                                 const struct list_opts *o, const struct s3__list_acc *a,
                                 const char *owner)
{
    int i;

    for (i = 0; i < a->n; i++) {
        const struct s3__list_item *it = &a->items[i];

        if (it->is_prefix)
            continue;
        gz_buf_append_cstr(x, "<Contents>");
        xml_elem_enc(x, tmp, "Key", s3__list_acc_key(a, i), o->url);
        xml_time(x, "LastModified", it->time_ms);
        xml_etag(x, it->etag);
        s3_xml_elemf(x, "Size", "%lld", (long long)it->size);
        if (!o->v2 || o->fetch_owner)
            xml_owner(x, "Owner", r, owner);
        s3_xml_elem(x, "StorageClass", GZ_SLICE_LIT("STANDARD"));
        gz_buf_append_cstr(x, "</Contents>");
    }
    for (i = 0; i < a->n; i++) {
        if (!a->items[i].is_prefix)
            continue;
        gz_buf_append_cstr(x, "<CommonPrefixes>");
        xml_elem_enc(x, tmp, "Prefix", s3__list_acc_key(a, i), o->url);
        gz_buf_append_cstr(x, "</CommonPrefixes>");
    }
}

static void list_objects_head(struct gz_buf *x, struct gz_buf *tmp, const struct s3_request *r,
                              const struct list_opts *o, const struct s3__list_acc *a,
                              bool truncated)
{
    struct gz_slice last = a->n > 0 ? s3__list_acc_key(a, a->n - 1) : GZ_SLICE_NULL;

    s3_xml_elem(x, "Name", r->bucket);
    xml_elem_enc(x, tmp, "Prefix", o->prefix, o->url);
    if (!o->v2) {
        xml_elem_enc(x, tmp, "Marker", o->marker, o->url);
        /* Without a delimiter clients continue from the last Key (AWS omits it). */
        if (truncated && o->delimiter.len > 0 && a->n > 0)
            xml_elem_enc(x, tmp, "NextMarker", last, o->url);
    } else {
        if (o->token)
            s3_xml_elem(x, "ContinuationToken", o->token->value);
        if (truncated && a->n > 0) {
            char tok[S3_LIST_TOKEN_MAX];

            s3__list_token_encode(last, tok);
            s3_xml_elem(x, "NextContinuationToken", gz_slice_cstr(tok));
        }
        s3_xml_elemf(x, "KeyCount", "%d", a->n);
        if (s3_param_has(r, "start-after"))
            xml_elem_enc(x, tmp, "StartAfter", o->start_after, o->url);
    }
    s3_xml_elemf(x, "MaxKeys", "%d", o->max);
    if (o->delimiter.len > 0)
        xml_elem_enc(x, tmp, "Delimiter", o->delimiter, o->url);
    xml_bool(x, "IsTruncated", truncated);
    if (o->url)
        s3_xml_elem(x, "EncodingType", GZ_SLICE_LIT("url"));
}

void s3_list_objects(struct s3_request *r)
{
    struct list_opts *o = http_req_alloc(r->req, sizeof(*o));
    struct s3__list_acc a;
    struct store_bucket b;
    struct gz_buf x, tmp;
    bool truncated = false;
    char msg[160] = "";
    enum s3_err e;
    int rc;

    memset(o, 0, sizeof(*o));
    e = list_opts_parse(r, o, msg, sizeof(msg));
    if (e == S3_OK)
        e = s3__bucket_access(r, r->bucket, &b);
    if (e != S3_OK) {
        s3_reply_error(r, e, msg[0] ? msg : NULL);
        return;
    }
    s3__list_acc_init(&a, o->max, o->after);
    rc = list_objects_scan(r, o, &a, &truncated);
    if (rc < 0) {
        s3__list_acc_free(&a);
        s3__reply_store_error(r, rc, "list objects");
        return;
    }
    if (s3__sse_bucket_used(r, r->bucket)) /* encrypted objects list their plaintext size */
        for (int i = 0; i < a.n; i++)
            if (!a.items[i].is_prefix)
                a.items[i].size =
                    s3__sse_object_size(r, r->bucket, s3__list_acc_key(&a, i), a.items[i].size);
    gz_buf_init(&x, LIST_XML_MAX);
    gz_buf_init(&tmp, LIST_TMP_MAX);
    s3_xml_begin(&x, "ListBucketResult");
    list_objects_head(&x, &tmp, r, o, &a, truncated);
    list_objects_entries(&x, &tmp, r, o, &a, b.owner);
    s3_xml_end(&x, "ListBucketResult");
    s3__list_acc_free(&a);
    reply_built(r, &x, &tmp);
}

/* ---- ListParts ---- */

struct parts_render {
    struct gz_buf *x;
    int count;
    int last;
    bool encrypted; /* parts are stored sealed: list their plaintext size */
};

static void list_parts_cb(const struct store_part *p, void *ud)
{
    struct parts_render *pr = ud;

    gz_buf_append_cstr(pr->x, "<Part>");
    s3_xml_elemf(pr->x, "PartNumber", "%d", p->number);
    xml_time(pr->x, "LastModified", p->mtime_ms);
    xml_etag(pr->x, p->etag);
    int64_t size = pr->encrypted ? s3__sse_plain_size(p->size) : p->size;
    s3_xml_elemf(pr->x, "Size", "%lld", (long long)(size < 0 ? p->size : size));
    gz_buf_append_cstr(pr->x, "</Part>");
    pr->count++;
    pr->last = p->number;
}

struct list_parts_req {
    char upload_id[STORE_UPLOAD_ID_LEN + 1];
    int marker;
    int max;
    struct store_bucket b;
    struct store_upload up;
    struct gz_buf hold;
};

static enum s3_err list_parts_prepare(struct s3_request *r, struct list_parts_req *q, char *msg,
                                      size_t n)
{
    enum s3_err e = s3__bucket_access(r, r->bucket, &q->b);
    int rc;

    if (e != S3_OK)
        return e;
    if (s3__param_int(s3_param_get(r, "part-number-marker"), 0, STORE_MAX_PARTS, &q->marker) < 0)
        return bad_int(msg, n, "part-number-marker");
    if (s3__param_int(s3_param_get(r, "max-parts"), S3_MAX_LIST_KEYS, S3_MAX_LIST_KEYS, &q->max) <
        0)
        return bad_int(msg, n, "max-parts");
    if (!s3__upload_id_parse(param_value(r, "uploadId"), q->upload_id))
        return S3_ERR_NO_SUCH_UPLOAD;
    rc = store_upload_get(r->svc->store, r->bucket, r->key, q->upload_id, &q->up, &q->hold);
    if (rc == GZ_ENOUPLOAD)
        return S3_ERR_NO_SUCH_UPLOAD;
    return rc < 0 ? s3_err_from_gz(rc) : S3_OK;
}

void s3_multipart_list_parts(struct s3_request *r)
{
    struct list_parts_req q;
    struct parts_render pr;
    struct gz_buf x, parts, tmp;
    bool truncated = false;
    char msg[160] = "", sclass[24];
    enum s3_err e;
    int rc = 0;

    memset(&q, 0, sizeof(q));
    gz_buf_init(&q.hold, 1024 * 1024);
    gz_buf_init(&x, LIST_XML_MAX);
    gz_buf_init(&parts, LIST_XML_MAX);
    gz_buf_init(&tmp, LIST_TMP_MAX);
    e = list_parts_prepare(r, &q, msg, sizeof(msg));
    if (e != S3_OK) {
        s3_reply_error(r, e, msg[0] ? msg : NULL);
        goto out;
    }
    pr = (struct parts_render){&parts, 0, 0, s3__sse_is_encrypted(q.up.headers)};
    if (q.max > 0)
        rc = store_upload_parts(r->svc->store, q.upload_id, q.marker, q.max, list_parts_cb, &pr,
                                &truncated);
    if (rc < 0) {
        s3__reply_store_error(r, rc, "list parts");
        goto out;
    }
    storage_class_of(q.up.headers, sclass);
    s3_xml_begin(&x, "ListPartsResult");
    s3_xml_elem(&x, "Bucket", r->bucket);
    s3_xml_elem(&x, "Key", r->key);
    s3_xml_elem(&x, "UploadId", gz_slice_cstr(q.upload_id));
    xml_owner(&x, "Initiator", r, q.b.owner);
    xml_owner(&x, "Owner", r, q.b.owner);
    s3_xml_elem(&x, "StorageClass", gz_slice_cstr(sclass));
    s3_xml_elemf(&x, "PartNumberMarker", "%d", q.marker);
    s3_xml_elemf(&x, "NextPartNumberMarker", "%d", pr.count ? pr.last : q.marker);
    s3_xml_elemf(&x, "MaxParts", "%d", q.max);
    xml_bool(&x, "IsTruncated", truncated);
    if (parts.max == 0 || gz_buf_append(&x, parts.ptr ? parts.ptr : "", parts.len) < 0) {
        gz_buf_free(&x); /* poison: never send a truncated document */
        x.max = 0;
    }
    s3_xml_end(&x, "ListPartsResult");
    reply_built(r, &x, &tmp);
out:
    gz_buf_free(&x);
    gz_buf_free(&tmp);
    gz_buf_free(&parts);
    gz_buf_free(&q.hold);
}

/* ---- ListMultipartUploads ---- */

struct uploads_opts {
    bool url;
    int max;
    struct gz_slice prefix;
    struct gz_slice delimiter;
    struct gz_slice key_marker;
    struct gz_slice id_marker;  /* echoed */
    const char *id_marker_cstr; /* NULL unless key_marker and upload-id-marker given */
};

static void list_uploads_cb(const struct store_upload *up, bool is_prefix, void *ud)
{
    struct s3__list_item *it = s3__list_acc_add(ud, up->key, is_prefix);

    if (!it || is_prefix)
        return;
    it->time_ms = up->initiated_ms;
    snprintf(it->upload_id, sizeof(it->upload_id), "%s", up->upload_id);
    storage_class_of(up->headers, it->storage_class);
}

static enum s3_err uploads_opts_parse(struct s3_request *r, struct uploads_opts *o, char *msg,
                                      size_t n)
{
    enum s3_err e = parse_encoding(r, &o->url, msg, n);

    if (e != S3_OK)
        return e;
    if (s3__param_int(s3_param_get(r, "max-uploads"), S3_MAX_LIST_KEYS, S3_MAX_LIST_KEYS, &o->max) <
        0)
        return bad_int(msg, n, "max-uploads");
    o->prefix = param_value(r, "prefix");
    o->delimiter = param_value(r, "delimiter");
    o->key_marker = param_value(r, "key-marker");
    o->id_marker = param_value(r, "upload-id-marker");
    if (o->key_marker.len > STORE_MAX_KEY)
        o->key_marker.len = STORE_MAX_KEY;
    /* S3 ignores upload-id-marker without key-marker. */
    if (o->key_marker.len > 0 && o->id_marker.len > 0)
        o->id_marker_cstr = http_req_strndup(r->req, o->id_marker.ptr, o->id_marker.len);
    return S3_OK;
}

static void list_uploads_entries(struct gz_buf *x, struct gz_buf *tmp, struct s3_request *r,
                                 const struct uploads_opts *o, const struct s3__list_acc *a,
                                 const char *owner)
{
    int i;

    for (i = 0; i < a->n; i++) {
        const struct s3__list_item *it = &a->items[i];

        if (it->is_prefix)
            continue;
        gz_buf_append_cstr(x, "<Upload>");
        xml_elem_enc(x, tmp, "Key", s3__list_acc_key(a, i), o->url);
        s3_xml_elem(x, "UploadId", gz_slice_cstr(it->upload_id));
        xml_owner(x, "Initiator", r, owner);
        xml_owner(x, "Owner", r, owner);
        s3_xml_elem(x, "StorageClass", gz_slice_cstr(it->storage_class));
        xml_time(x, "Initiated", it->time_ms);
        gz_buf_append_cstr(x, "</Upload>");
    }
    for (i = 0; i < a->n; i++) {
        if (!a->items[i].is_prefix)
            continue;
        gz_buf_append_cstr(x, "<CommonPrefixes>");
        xml_elem_enc(x, tmp, "Prefix", s3__list_acc_key(a, i), o->url);
        gz_buf_append_cstr(x, "</CommonPrefixes>");
    }
}

static void list_uploads_head(struct gz_buf *x, struct gz_buf *tmp, struct s3_request *r,
                              const struct uploads_opts *o, const struct s3__list_acc *a,
                              bool truncated)
{
    const struct s3__list_item *last = a->n > 0 ? &a->items[a->n - 1] : NULL;

    s3_xml_elem(x, "Bucket", r->bucket);
    xml_elem_enc(x, tmp, "KeyMarker", param_value(r, "key-marker"), o->url);
    s3_xml_elem(x, "UploadIdMarker", o->id_marker);
    if (truncated && last) {
        xml_elem_enc(x, tmp, "NextKeyMarker", s3__list_acc_key(a, a->n - 1), o->url);
        s3_xml_elem(x, "NextUploadIdMarker", gz_slice_cstr(last->upload_id));
    }
    if (o->delimiter.len > 0)
        xml_elem_enc(x, tmp, "Delimiter", o->delimiter, o->url);
    xml_elem_enc(x, tmp, "Prefix", o->prefix, o->url);
    s3_xml_elemf(x, "MaxUploads", "%d", o->max);
    xml_bool(x, "IsTruncated", truncated);
    if (o->url)
        s3_xml_elem(x, "EncodingType", GZ_SLICE_LIT("url"));
}

void s3_multipart_list_uploads(struct s3_request *r)
{
    struct uploads_opts o;
    struct s3__list_acc a;
    struct store_bucket b;
    struct gz_buf x, tmp;
    bool more = false, truncated = false;
    char msg[160] = "";
    enum s3_err e;
    int rc = 0;

    memset(&o, 0, sizeof(o));
    e = uploads_opts_parse(r, &o, msg, sizeof(msg));
    if (e == S3_OK)
        e = s3__bucket_access(r, r->bucket, &b);
    if (e != S3_OK) {
        s3_reply_error(r, e, msg[0] ? msg : NULL);
        return;
    }
    s3__list_acc_init(&a, o.max, o.key_marker);
    if (o.max > 0 && o.prefix.len <= STORE_MAX_KEY)
        rc = store_upload_list(r->svc->store, r->bucket, nonnull(o.prefix), nonnull(o.delimiter),
                               nonnull(o.key_marker), o.id_marker_cstr, o.max + 1, list_uploads_cb,
                               &a, &more);
    if (rc == 0 && a.err < 0)
        rc = a.err;
    if (rc < 0) {
        s3__list_acc_free(&a);
        s3__reply_store_error(r, rc, "list uploads");
        return;
    }
    truncated = s3__list_acc_finish(&a, o.max, more);
    gz_buf_init(&x, LIST_XML_MAX);
    gz_buf_init(&tmp, LIST_TMP_MAX);
    s3_xml_begin(&x, "ListMultipartUploadsResult");
    list_uploads_head(&x, &tmp, r, &o, &a, truncated);
    list_uploads_entries(&x, &tmp, r, &o, &a, b.owner);
    s3_xml_end(&x, "ListMultipartUploadsResult");
    s3__list_acc_free(&a);
    reply_built(r, &x, &tmp);
}
