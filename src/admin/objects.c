/*
 * objects.c - object browsing for the console's tenant roles: list, download, upload (up to
 * ADMIN_OBJECT_MAX_BODY) and delete objects in a bucket.
 *
 * Each call is authorised with iam_authorize() exactly as the S3 operation would be (same
 * action, the bucket's owner, policy and canned ACL, the object's ACL for cross-tenant reads),
 * so the console grants nothing S3 would refuse. On top of that, platform roles are refused
 * outright: supervisors and platform admins manage tenants, they do not read tenant data.
 *
 * These handlers run on the loop thread (router.c route_opts), as S3 handlers do: listing and
 * opening are index look-ups, commits and deletes are asynchronous (their completions hop
 * back with http_req_post), and bodies stream in fixed pieces both ways.
 */
#include <errno.h>
#include <stdio.h>

#include "../s3/sse.h"
#include "../util/hash.h"
#include "admin_int.h"

#define OBJ_LIST_DEFAULT_MAX 1000
#define OBJ_LIST_MAX 1000
#define OBJ_SEGMENT_MAX (4 * 1024 * 1024)
#define OBJ_DEFAULT_TYPE "application/octet-stream"
#define OBJ_ATTR_POLICY "policy" /* the bucket attributes s3 keeps (src/s3/policy.c, acl.c) */
#define OBJ_ATTR_ACL "acl"
#define OBJ_ACL_HEADER "x-gzy-acl" /* an object's canned ACL among its store headers */

/* ---- common checks ---- */

static struct gz_slice header_value(struct gz_slice enc, const char *want)
{
    size_t pos = 0;
    struct gz_slice name, value;
    while (store_headers_next(enc, &pos, &name, &value))
        if (gz_slice_case_eq_cstr(name, want))
            return value;
    return GZ_SLICE_NULL;
}

static enum iam_acl attr_acl(struct store *st, struct gz_slice bucket)
{
    struct gz_buf v;
    enum iam_acl acl = IAM_ACL_PRIVATE;
    gz_buf_init(&v, STORE_MAX_ATTR_VALUE);
    if (store_bucket_attr_get(st, bucket, OBJ_ATTR_ACL, &v) == 0 &&
        iam_acl_parse(gz_buf_slice(&v), &acl) < 0)
        acl = IAM_ACL_PRIVATE;
    gz_buf_free(&v);
    return acl;
}

static enum iam_acl object_acl(struct store *st, struct gz_slice bucket, struct gz_slice key)
{
    struct store_meta m;
    struct gz_buf hold;
    enum iam_acl acl = IAM_ACL_PRIVATE;
    gz_buf_init(&hold, 0);
    if (store_object_stat(st, bucket, key, &m, &hold) == 0) {
        struct gz_slice v = header_value(m.headers, OBJ_ACL_HEADER);
        if (v.ptr && iam_acl_parse(v, &acl) < 0)
            acl = IAM_ACL_PRIVATE;
    }
    gz_buf_free(&hold);
    return acl;
}

/* The audit tenant: the bucket owner's name. */
static void audit_tenant(struct admin_call *c, const char *owner_id)
{
    struct iam_tenant t;
    if (strcmp(owner_id, c->who.tenant_id) == 0)
        snprintf(c->tenant, sizeof(c->tenant), "%s", c->who.tenant_name);
    else if (iam_tenant_get(c->svc->iam, owner_id, &t) == 0)
        snprintf(c->tenant, sizeof(c->tenant), "%s", t.name);
}

/* Looks the bucket up and authorises `action` on (bucket, key) as S3 would; replies and
 * returns negative on refusal. */
static int obj_authorize(struct admin_call *c, const char *action, bool write, struct gz_slice key)
{
    struct admin_service *svc = c->svc;
    const char *bucket = c->seg[1];
    struct store_bucket b;
    struct gz_buf policy;
    char why[256] = "";
    if (admin__is_platform(c)) {
        admin__deny(c,
                    "supervisors and platform admins cannot read or change tenant object "
                    "data (role %s)",
                    iam_role_name(c->role));
        return -EACCES;
    }
    int rc = store_bucket_get(svc->store, gz_slice_cstr(bucket), &b);
    if (rc < 0) {
        char what[STORE_MAX_BUCKET + 16];
        snprintf(what, sizeof(what), "bucket '%s'", bucket);
        admin__reply_errno(c, rc, rc == GZ_ENOBUCKET ? "no such bucket" : NULL, what);
        return rc;
    }
    audit_tenant(c, b.owner);
    bool other = strcmp(c->who.tenant_id, b.owner) != 0;
    struct iam_request rq = {
        .who = &c->who,
        .action = action,
        .bucket = gz_slice_cstr(bucket),
        .key = key,
        .bucket_owner = b.owner,
        .bucket_acl = attr_acl(svc->store, gz_slice_cstr(bucket)),
        .object_acl = IAM_ACL_PRIVATE,
        .write = write,
    };
    gz_buf_init(&policy, STORE_MAX_ATTR_VALUE);
    if (store_bucket_attr_get(svc->store, rq.bucket, OBJ_ATTR_POLICY, &policy) == 0)
        rq.bucket_policy = gz_buf_slice(&policy);
    if (other && key.len && strcmp(action, "s3:GetObject") == 0)
        rq.object_acl = object_acl(svc->store, rq.bucket, key);
    rc = iam_authorize(svc->iam, &rq, why, sizeof(why));
    gz_buf_free(&policy);
    if (rc == 0)
        return 0;
    if (rc != -EACCES)
        log_error("admin %s: authorisation failed: %s", c->info->request_id, gz_strerror(rc));
    admin__deny(c, "%s", why[0] ? why : "access denied");
    return -EACCES;
}

/* The key= parameter: 1..STORE_MAX_KEY bytes of UTF-8. Replies on error. */
static int obj_key(struct admin_call *c, struct gz_slice *key)
{
    const char *k = admin__query(c, "key");
    if (k == NULL || k[0] == '\0') {
        admin__reply_error(c, 400, "InvalidArgument", "the key query parameter is required");
        return -EINVAL;
    }
    *key = gz_slice_cstr(k);
    if (key->len > STORE_MAX_KEY || !gz_utf8_valid(*key)) {
        admin__reply_error(c, 400, "InvalidArgument",
                           "the key must be valid UTF-8 of at most %d bytes", STORE_MAX_KEY);
        return -EINVAL;
    }
    char esc[256];
    gz_log_escape(esc, sizeof(esc), *key);
    admin__set_resource(c, "%s/%s", c->seg[1], esc);
    return 0;
}

/* ---- list ---- */

struct list_ctx {
    cJSON *objects, *prefixes;
    struct gz_buf last; /* the last key or prefix reported */
};

static void list_entry(const struct store_list_entry *e, void *ud)
{
    struct list_ctx *l = ud;
    char *k = gz_strndup(e->key.ptr, e->key.len);
    if (e->is_prefix) {
        cJSON_AddItemToArray(l->prefixes, cJSON_CreateString(k));
    } else {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "key", k);
        admin__json_int(o, "size", e->size);
        admin__json_str(o, "etag", e->etag ? e->etag : "");
        admin__json_time(o, "last_modified", e->mtime_ms);
        cJSON_AddItemToArray(l->objects, o);
    }
    gz_free(k);
    gz_buf_reset(&l->last);
    gz_buf_append(&l->last, e->key.ptr, e->key.len);
}

static int list_params(struct admin_call *c, const char **prefix, const char **delim,
                       const char **marker, int *max)
{
    const char *m = admin__query(c, "max");
    *prefix = admin__query(c, "prefix");
    *delim = admin__query(c, "delimiter");
    *marker = admin__query(c, "marker");
    *max = OBJ_LIST_DEFAULT_MAX;
    if (m != NULL) {
        uint64_t v;
        if (gz_slice_to_u64(gz_slice_cstr(m), &v) < 0 || v < 1 || v > OBJ_LIST_MAX) {
            admin__reply_error(c, 400, "InvalidArgument", "max must be an integer in 1..%d",
                               OBJ_LIST_MAX);
            return -EINVAL;
        }
        *max = (int)v;
    }
    return 0;
}

void admin__objects_list(struct admin_call *c)
{
    const char *prefix, *delim, *marker;
    int max;
    bool truncated = false;
    struct list_ctx l = {0};
    admin__set_resource(c, "%s", c->seg[1]);
    if (list_params(c, &prefix, &delim, &marker, &max) < 0 ||
        obj_authorize(c, "s3:ListBucket", false, GZ_SLICE_NULL) < 0)
        goto out;
    cJSON *doc = cJSON_CreateObject();
    l.objects = cJSON_AddArrayToObject(doc, "objects");
    l.prefixes = cJSON_AddArrayToObject(doc, "prefixes");
    gz_buf_init(&l.last, STORE_MAX_KEY + 1);
    int rc =
        store_object_list(c->svc->store, gz_slice_cstr(c->seg[1]),
                          gz_slice_cstr(prefix ? prefix : ""), gz_slice_cstr(marker ? marker : ""),
                          gz_slice_cstr(delim ? delim : ""), max, list_entry, &l, &truncated);
    if (rc < 0) {
        cJSON_Delete(doc);
        admin__reply_errno(c, rc, NULL, "the bucket");
        goto out;
    }
    gz_buf_terminate(&l.last);
    if (truncated && l.last.len > 0)
        cJSON_AddStringToObject(doc, "next_marker", l.last.ptr);
    else
        cJSON_AddNullToObject(doc, "next_marker");
    cJSON_AddBoolToObject(doc, "truncated", truncated);
    admin__reply_json(c, 200, doc);
out:
    gz_buf_free(&l.last);
    admin__finish(c);
}

/* ---- download ---- */

struct get_ctx {
    struct http_req *req;
    struct store_reader *rd;
    struct s3_sse_reader *sse; /* decrypting view of rd for objects encrypted at rest */
    int64_t pos;               /* plaintext position (encrypted objects) */
    int64_t remaining;
    int write_status;
    bool in_pump, again;
};

static void get_reader_close(void *arg)
{
    struct get_ctx *g = arg;
    s3_sse_reader_close(g->sse);
    store_reader_close(g->rd);
}

/* The next piece of the body: a file range or memory from the store, or decrypted bytes. */
static int get_next(struct get_ctx *g, struct store_segment *seg)
{
    if (g->sse == NULL)
        return store_reader_next(g->rd, GZ_MIN(g->remaining, OBJ_SEGMENT_MAX), seg);
    struct gz_slice plain;
    int rc = s3_sse_reader_read(g->sse, g->pos, g->remaining, &plain);
    if (rc < 0)
        return rc;
    g->pos += (int64_t)plain.len;
    seg->fd = -1;
    seg->mem = (const uint8_t *)plain.ptr;
    seg->len = (int64_t)plain.len;
    return 0;
}

static void get_pump(struct get_ctx *g);

static void get_written(struct http_req *req, int status, void *ud)
{
    struct get_ctx *g = ud;
    (void)req;
    if (status < 0)
        g->write_status = status;
    if (g->in_pump) {
        g->again = true;
        return;
    }
    get_pump(g);
}

/* One write at a time; loops only while writes complete synchronously. */
static void get_pump(struct get_ctx *g)
{
    g->in_pump = true;
    while (g->write_status == 0 && g->remaining > 0) {
        struct store_segment seg;
        int rc = get_next(g, &seg);
        if (rc < 0 || seg.len <= 0) {
            log_error("admin: object read failed: %s", rc < 0 ? gz_strerror(rc) : "early end");
            break; /* the response is cut short: the client sees a truncated body */
        }
        seg.len = GZ_MIN(seg.len, g->remaining);
        g->remaining -= seg.len;
        g->again = false;
        if (seg.fd >= 0)
            http_resp_sendfile(g->req, seg.fd, seg.offset, seg.len, get_written, g);
        else
            http_resp_write(g->req, gz_slice(seg.mem, (size_t)seg.len), get_written, g);
        if (!g->again) {
            g->in_pump = false;
            return;
        }
    }
    g->in_pump = false;
    http_resp_end(g->req);
}

/* Content-Disposition with an ASCII fallback and the exact UTF-8 name (RFC 6266, 8187). */
static void get_disposition(struct http_req *req, struct gz_slice key)
{
    const char *slash = NULL;
    for (size_t i = 0; i < key.len; i++)
        if (key.ptr[i] == '/' && i + 1 < key.len)
            slash = key.ptr + i;
    struct gz_slice name =
        slash ? gz_slice(slash + 1, key.len - (size_t)(slash + 1 - key.ptr)) : key;
    struct gz_buf v;
    gz_buf_init(&v, 8 * STORE_MAX_KEY);
    gz_buf_append_cstr(&v, "attachment; filename=\"");
    for (size_t i = 0; i < name.len; i++) {
        unsigned char ch = (unsigned char)name.ptr[i];
        bool plain = ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\' && ch != '/';
        gz_buf_append(&v, plain ? (const char *)&name.ptr[i] : "_", 1);
    }
    gz_buf_append_cstr(&v, "\"; filename*=UTF-8''");
    for (size_t i = 0; i < name.len; i++) {
        unsigned char ch = (unsigned char)name.ptr[i];
        bool attr = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || strchr("!#$&+-.^_`|~", ch) != NULL;
        if (ch != '\0' && attr)
            gz_buf_append(&v, &name.ptr[i], 1);
        else
            gz_buf_appendf(&v, "%%%02X", ch);
    }
    http_resp_header(req, "Content-Disposition", gz_buf_slice(&v));
    gz_buf_free(&v);
}

static void get_start(struct admin_call *c, struct get_ctx *g, struct gz_slice key,
                      const struct store_meta *meta)
{
    struct http_req *req = c->req;
    char date[30];
    struct gz_slice type = header_value(meta->headers, "Content-Type");
    gz_time_http(meta->mtime_ms / 1000, date);
    http_resp_status(req, 200);
    http_resp_header(req, "x-amz-request-id", gz_slice_cstr(c->info->request_id));
    http_resp_header(req, "Content-Type", type.len ? type : GZ_SLICE_LIT(OBJ_DEFAULT_TYPE));
    http_resp_headerf(req, "ETag", "\"%s\"", meta->etag);
    http_resp_header(req, "Last-Modified", gz_slice_cstr(date));
    http_resp_header(req, "Cache-Control", GZ_SLICE_LIT("no-store"));
    http_resp_header(req, "X-Content-Type-Options", GZ_SLICE_LIT("nosniff"));
    get_disposition(req, key);
    g->remaining = g->sse ? s3_sse_reader_size(g->sse) : meta->size;
    http_resp_start(req, g->remaining);
    if (g->remaining == 0) {
        http_resp_end(req);
        return;
    }
    get_pump(g);
}

/* Objects encrypted at rest are served decrypted (and checked) like an S3 GET does; those
 * sealed with a customer key (SSE-C) cannot be opened without it. */
static int get_decrypting(struct admin_call *c, struct get_ctx *g, const struct store_meta *meta)
{
    struct gz_slice plain;
    if (s3_sse_customer(meta->headers)) {
        admin__reply_error(c, 400, "InvalidRequest",
                           "the object is encrypted with a customer-provided key (SSE-C): "
                           "download it with an S3 client that sends the key");
        return -EACCES;
    }
    int rc = s3_sse_reader_open(c->svc->store, meta->headers, meta->size, g->rd, &g->sse);
    if (rc == 0 && s3_sse_reader_size(g->sse) > 0)
        rc = s3_sse_reader_read(g->sse, 0, 1, &plain); /* authenticate before any header */
    if (rc < 0) {
        log_error("admin: %s: cannot decrypt the object: %s", c->info->request_id,
                  gz_strerror(rc));
        admin__reply_error(c, 500, "InternalError",
                           "the object could not be decrypted and verified; it was not served");
        return rc;
    }
    return 0;
}

void admin__object_get(struct admin_call *c)
{
    struct gz_slice key;
    struct store_meta meta;
    if (obj_key(c, &key) < 0 || obj_authorize(c, "s3:GetObject", false, key) < 0)
        goto fail;
    struct get_ctx *g = http_req_alloc(c->req, sizeof(*g));
    memset(g, 0, sizeof(*g));
    g->req = c->req;
    int rc = store_object_open(c->svc->store, gz_slice_cstr(c->seg[1]), key, &g->rd, &meta);
    if (rc < 0) {
        admin__reply_errno(c, rc == GZ_ENOKEY ? -ENOENT : rc,
                           rc == GZ_ENOKEY ? "no such key" : NULL, "the object");
        goto fail;
    }
    http_req_on_free(c->req, get_reader_close, g);
    if (s3_sse_encrypted(meta.headers) && (rc = get_decrypting(c, g, &meta)) < 0)
        goto fail;
    /* A successful read is not audited (not a change), so the call is not finished through
     * admin__finish: the body streams straight from the reader. */
    get_start(c, g, key, &meta);
    return;
fail:
    admin__finish(c);
}

/* ---- upload ---- */

struct put_ctx {
    struct admin_call *c;
    struct store_writer *w;
    struct gz_hash md5;
    int64_t size;
    int status; /* of the commit */
    bool too_large;
    char etag[33];
    struct gz_buf headers;
};

static void put_cleanup(void *arg)
{
    struct put_ctx *p = arg;
    store_writer_abort(p->w); /* NULL once committed */
    gz_hash_dispose(&p->md5);
    gz_buf_free(&p->headers);
}

static int put_emit(void *ud, struct gz_slice data)
{
    struct put_ctx *p = ud;
    if (p->size + (int64_t)data.len > ADMIN_OBJECT_MAX_BODY) {
        p->too_large = true;
        return -E2BIG;
    }
    p->size += (int64_t)data.len;
    gz_hash_update(&p->md5, data.ptr, data.len);
    return store_writer_write(p->w, data.ptr, data.len);
}

static void put_too_large(struct admin_call *c)
{
    admin__reply_error(c, 413, "EntityTooLarge",
                       "the console uploads files of at most %lld MiB: use an S3 client for "
                       "larger files",
                       ADMIN_OBJECT_MAX_BODY / (1024 * 1024));
}

static void put_on_data(struct http_req *req, struct gz_slice data, void *ud)
{
    struct put_ctx *p = ud;
    struct admin_call *c = p->c;
    (void)req;
    if (c->done)
        return;
    int rc = 0;
    enum s3_err e = S3_OK;
    if (c->payload != NULL)
        e = s3_payload_feed(c->payload, data, put_emit, p);
    else
        rc = put_emit(p, data);
    if (e == S3_OK && rc == 0)
        return;
    if (p->too_large) {
        put_too_large(c);
    } else if (e != S3_OK && e != S3_ERR_INTERNAL_ERROR) {
        const struct s3_err_info *ei = s3_err_info(e);
        const char *m = s3_payload_error(c->payload);
        admin__reply_error(c, ei->status, ei->code, "%s", m && *m ? m : ei->message);
    } else {
        admin__reply_error(c, 500, "InternalError", "writing the object failed");
    }
    admin__finish(c);
}

static void put_committed_loop(struct http_req *req, void *arg)
{
    struct put_ctx *p = arg;
    struct admin_call *c = p->c;
    (void)req;
    if (p->status == GZ_EQUOTA) {
        admin__reply_error(c, 403, "QuotaExceeded",
                           "the bucket's or tenant's quota would be exceeded by %lld bytes",
                           (long long)p->size);
    } else if (p->status < 0) {
        admin__reply_errno(c, p->status, NULL, "the object");
    } else {
        cJSON *doc = cJSON_CreateObject();
        admin__json_str(doc, "bucket", c->seg[1]);
        admin__json_str(doc, "key", admin__query(c, "key"));
        admin__json_int(doc, "size", p->size);
        admin__json_str(doc, "etag", p->etag);
        admin__reply_json(c, 200, doc);
    }
    admin__finish(c);
}

static void put_committed(void *ud, int status)
{
    struct put_ctx *p = ud;
    p->status = status;
    int rc = http_req_post(p->c->req, put_committed_loop, p);
    if (rc < 0)
        log_error("admin: cannot post an upload's completion: %s", gz_strerror(rc));
}

static void put_on_end(struct http_req *req, int status, void *ud)
{
    struct put_ctx *p = ud;
    struct admin_call *c = p->c;
    char msg[256] = "";
    (void)req;
    if (c->done)
        return;
    enum s3_err e =
        status < 0 || c->payload == NULL ? S3_OK : s3_payload_finish(c->payload, msg, sizeof(msg));
    if (status < 0 || e != S3_OK) {
        const struct s3_err_info *ei = s3_err_info(e);
        if (status < 0)
            admin__reply_error(c, 400, "IncompleteBody", "the upload was not received: %s",
                               gz_strerror(status));
        else
            admin__reply_error(c, ei->status, ei->code, "%s", msg[0] ? msg : ei->message);
        admin__finish(c);
        return;
    }
    uint8_t d[GZ_HASH_MAX_LEN];
    gz_hash_final(&p->md5, d);
    gz_hex_encode(p->etag, d, 16);
    struct store_meta meta = {.headers = gz_buf_slice(&p->headers)};
    snprintf(meta.etag, sizeof(meta.etag), "%s", p->etag);
    struct store_writer *w = p->w;
    p->w = NULL; /* the commit owns it now */
    store_object_commit(c->svc->store, w, gz_slice_cstr(c->seg[1]),
                        gz_slice_cstr(admin__query(c, "key")), &meta, put_committed, p);
}

/* Early refusal when the declared size cannot fit the quotas now (the commit decides). */
static int put_quota_precheck(struct admin_call *c, struct gz_slice key)
{
    struct store_quota_hit hit;
    int64_t add = c->info->content_length > 0 ? c->info->content_length : 0;
    int rc = store_quota_check(c->svc->store, gz_slice_cstr(c->seg[1]), &key, add, 1, &hit);
    if (rc != GZ_EQUOTA)
        return 0;
    admin__reply_error(c, 403, "QuotaExceeded", "the %s quota of %lld %s would be exceeded",
                       hit.owner ? "tenant" : "bucket", (long long)hit.limit,
                       hit.objects ? "objects" : "bytes");
    return GZ_EQUOTA;
}

/* The console stores bodies as they come; a bucket that encrypts new objects by default
 * gets them from S3 clients instead (never a plaintext object in an encrypting bucket). */
static int put_default_encryption_refused(struct admin_call *c)
{
    struct gz_buf v;
    int rc = store_bucket_attr_get(c->svc->store, gz_slice_cstr(c->seg[1]), S3_SSE_BUCKET_ATTR,
                                   &v);
    if (rc == 0)
        gz_buf_free(&v);
    if (rc != 0)
        return 0;
    admin__reply_error(c, 409, "EncryptedBucket",
                       "this bucket encrypts new objects by default: upload with an S3 client "
                       "(aws s3 cp, rclone, boto3)");
    return -EPERM;
}

void admin__object_put(struct admin_call *c)
{
    struct gz_slice key;
    if (obj_key(c, &key) < 0 || obj_authorize(c, "s3:PutObject", true, key) < 0 ||
        put_default_encryption_refused(c) < 0 || put_quota_precheck(c, key) < 0) {
        admin__finish(c);
        return;
    }
    struct put_ctx *p = http_req_alloc(c->req, sizeof(*p));
    memset(p, 0, sizeof(*p));
    p->c = c;
    gz_hash_init(&p->md5, GZ_HASH_MD5);
    gz_buf_init(&p->headers, 4096);
    http_req_on_free(c->req, put_cleanup, p);
    struct gz_slice type = http_req_header(c->req, "content-type");
    if (type.len == 0 || type.len > 1024)
        type = GZ_SLICE_LIT(OBJ_DEFAULT_TYPE);
    int rc = store_headers_add(&p->headers, GZ_SLICE_LIT("Content-Type"), type);
    if (rc == 0)
        rc = store_writer_open(c->svc->store, &p->w);
    if (rc < 0) {
        admin__reply_errno(c, rc, NULL, "the object");
        admin__finish(c);
        return;
    }
    http_req_read_body(c->req, put_on_data, put_on_end, p);
}

/* ---- delete ---- */

struct del_ctx {
    struct admin_call *c;
    int status;
};

static void del_done_loop(struct http_req *req, void *arg)
{
    struct del_ctx *d = arg;
    (void)req;
    if (d->status < 0)
        admin__reply_errno(d->c, d->status, NULL, "the object");
    else
        admin__reply_json(d->c, 204, NULL);
    admin__finish(d->c);
}

static void del_done(void *ud, int status)
{
    struct del_ctx *d = ud;
    d->status = status;
    int rc = http_req_post(d->c->req, del_done_loop, d);
    if (rc < 0)
        log_error("admin: cannot post a delete's completion: %s", gz_strerror(rc));
}

void admin__object_delete(struct admin_call *c)
{
    struct gz_slice key;
    if (obj_key(c, &key) < 0 || obj_authorize(c, "s3:DeleteObject", true, key) < 0) {
        admin__finish(c);
        return;
    }
    struct del_ctx *d = http_req_alloc(c->req, sizeof(*d));
    d->c = c;
    d->status = 0;
    store_object_delete(c->svc->store, gz_slice_cstr(c->seg[1]), key, del_done, d);
}
