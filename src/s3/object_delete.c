/*
 * object_delete.c - DeleteObject (idempotent: 204 whether or not the key existed) and
 * DeleteObjects (POST ?delete): up to 1000 keys from an XML body, deleted through the store
 * concurrently; the reply is built once the last one reports back.
 */
#include <stdatomic.h>
#include <stdio.h>

#include "s3_obj_int.h"

#define DELETE_RESULT_XML_MAX (8 * 1024 * 1024)

/* ---- DeleteObject ---- */

static void delete_done(struct s3_request *r, int status, void *ud)
{
    (void)ud;
    if (status < 0) {
        s3__reply_store_error(r, status, "delete object");
        return;
    }
    s3_reply_empty(r, 204);
}

void s3_object_delete(struct s3_request *r)
{
    enum s3_err e = s3__bucket_access(r, r->bucket, NULL);
    if (e != S3_OK) {
        s3_reply_error(r, e, NULL);
        return;
    }
    struct s3__hop *hop = http_req_alloc(r->req, sizeof(*hop));
    memset(hop, 0, sizeof(*hop));
    hop->r = r;
    hop->fn = delete_done;
    store_object_delete(r->svc->store, r->bucket, r->key, s3__hop_done, hop);
}

/* ---- DeleteObjects ---- */

struct del_item {
    struct del_batch *batch;
    struct gz_slice key;
    enum s3_err err; /* decided before the store is asked (e.g. KeyTooLong) */
    int status;      /* the store's answer */
};

struct del_batch {
    struct s3_request *r;
    struct del_item *items;
    size_t n;
    bool quiet;
    atomic_size_t pending;
};

static void del_reply(struct http_req *req, void *arg)
{
    struct del_batch *b = arg;
    struct gz_buf x;
    (void)req;
    gz_buf_init(&x, DELETE_RESULT_XML_MAX);
    s3_xml_begin(&x, "DeleteResult");
    for (size_t i = 0; i < b->n; i++) {
        struct del_item *it = &b->items[i];
        enum s3_err e = it->err != S3_OK ? it->err : s3_err_from_gz(it->status);
        if (e == S3_OK && b->quiet)
            continue;
        if (e == S3_ERR_INTERNAL_ERROR && it->status < 0)
            log_error("request %s: delete object: %s", b->r->info->request_id,
                      gz_strerror(it->status));
        s3__xml_open(&x, e == S3_OK ? "Deleted" : "Error");
        s3_xml_elem(&x, "Key", it->key);
        if (e != S3_OK) {
            const struct s3_err_info *ei = s3_err_info(e);
            s3_xml_elem(&x, "Code", gz_slice_cstr(ei->code));
            s3_xml_elem(&x, "Message", gz_slice_cstr(ei->message));
        }
        s3__xml_close(&x, e == S3_OK ? "Deleted" : "Error");
    }
    s3_xml_end(&x, "DeleteResult");
    s3_reply_xml(b->r, 200, &x);
}

/* One reference is held by the issuing loop, one per store call; the last one replies. */
static void del_release(struct del_batch *b, bool on_loop)
{
    if (atomic_fetch_sub_explicit(&b->pending, 1, memory_order_acq_rel) != 1)
        return;
    if (on_loop) {
        del_reply(b->r->req, b);
        return;
    }
    int rc = http_req_post(b->r->req, del_reply, b);
    if (rc < 0)
        log_error("request %s: cannot resume after deletes: %s", b->r->info->request_id,
                  gz_strerror(rc));
}

static void del_item_done(void *ud, int status)
{
    struct del_item *it = ud;
    it->status = status;
    del_release(it->batch, false);
}

/* Fills the batch from <Delete><Quiet/><Object><Key/></Object>...</Delete>. */
static enum s3_err del_parse(struct s3_request *r, struct gz_slice body, struct del_batch *b)
{
    struct s3_xml_node *root;
    enum s3_err e = s3_xml_parse(r, body, &root);
    if (e != S3_OK)
        return e;
    if (!gz_slice_eq_cstr(root->name, "Delete"))
        return S3_ERR_MALFORMED_XML;
    struct s3_xml_node *quiet = s3_xml_child(root, "Quiet");
    b->quiet = quiet && gz_slice_case_eq_cstr(quiet->text, "true");
    size_t n = 0;
    for (struct s3_xml_node *c = root->child; c; c = c->next)
        n += gz_slice_eq_cstr(c->name, "Object");
    if (n == 0 || n > S3_MAX_DELETE_KEYS)
        return S3_ERR_MALFORMED_XML;
    b->items = http_req_alloc(r->req, n * sizeof(*b->items));
    memset(b->items, 0, n * sizeof(*b->items));
    for (struct s3_xml_node *c = root->child; c; c = c->next) {
        if (!gz_slice_eq_cstr(c->name, "Object"))
            continue;
        struct s3_xml_node *k = s3_xml_child(c, "Key");
        if (k == NULL)
            return S3_ERR_MALFORMED_XML;
        struct del_item *it = &b->items[b->n++];
        char msg[128];
        it->batch = b;
        it->key = s3__xml_raw_text(k);
        it->err = s3__key_check(it->key, msg, sizeof(msg));
    }
    return S3_OK;
}

/* A bucket policy decides key by key (authz.c): denied keys are reported per key, as AWS
 * does, unless every key is denied, which denies the request (403). */
static bool del_authorize(struct s3_request *r, struct del_batch *b)
{
    char msg[256] = "";
    size_t checked = 0, denied = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (b->items[i].err != S3_OK)
            continue;
        checked++;
        b->items[i].err =
            s3__authorize(r, "s3:DeleteObject", r->bucket, b->items[i].key, msg, sizeof(msg));
        denied += b->items[i].err == S3_ERR_ACCESS_DENIED;
    }
    if (checked == 0 || denied < checked)
        return true;
    s3__audit_arm(r);
    s3_reply_error(r, S3_ERR_ACCESS_DENIED, msg[0] ? msg : NULL);
    return false;
}

static void del_body_done(struct s3_request *r, enum s3_err err, struct gz_slice body)
{
    struct del_batch *b = http_req_alloc(r->req, sizeof(*b));
    memset(b, 0, sizeof(*b));
    b->r = r;
    if (err == S3_OK)
        err = del_parse(r, body, b);
    if (err != S3_OK) {
        s3_reply_error(r, err, NULL);
        return;
    }
    if (r->authz->per_key && !del_authorize(r, b))
        return;
    atomic_init(&b->pending, 1);
    for (size_t i = 0; i < b->n; i++) {
        if (b->items[i].err != S3_OK)
            continue;
        atomic_fetch_add_explicit(&b->pending, 1, memory_order_relaxed);
        store_object_delete(r->svc->store, r->bucket, b->items[i].key, del_item_done, &b->items[i]);
    }
    del_release(b, true);
}

/* DeleteObjects must carry an integrity check of its body. */
static bool del_has_integrity_header(struct s3_request *r)
{
    static const char *const names[] = {
        "content-md5",           "x-amz-checksum-crc32",
        "x-amz-checksum-crc32c", "x-amz-checksum-crc64nvme",
        "x-amz-checksum-sha1",   "x-amz-checksum-sha256",
        "x-amz-trailer",
    };
    for (size_t i = 0; i < GZ_ARRAY_LEN(names); i++)
        if (s3_header(r, names[i]).ptr)
            return true;
    return false;
}

void s3_objects_delete(struct s3_request *r)
{
    enum s3_err e = s3__bucket_access(r, r->bucket, NULL);
    if (e != S3_OK) {
        s3_reply_error(r, e, NULL);
        return;
    }
    if (!del_has_integrity_header(r)) {
        s3_reply_error(r, S3_ERR_INVALID_REQUEST,
                       "Missing required header for this request: Content-Md5");
        return;
    }
    s3_read_small_body(r, S3_MAX_XML_BODY, del_body_done);
}
