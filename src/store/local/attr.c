/*
 * attr.c - small named attributes of a bucket (policy JSON, canned ACL, ...), in the
 * bucket_attrs table keyed by (bucket id, name). Setting goes through the committer like
 * every mutation, so it is durable and ordered against a concurrent bucket delete, which
 * drops the bucket's attributes in the same transaction (store__bucket_forget): a bucket
 * created again under the same name starts without any.
 */
#include <errno.h>
#include <stdio.h>

#include "local_int.h"

#define STORE__ATTR_NAME_MAX 128

int store__apply_bucket_attr(struct store *s, struct store__conn *c, struct store__op *op)
{
    int64_t bid;
    int rc = store__bucket_id(c, op->bucket, &bid);
    if (rc < 0)
        return rc;
    sqlite3_stmt *st = store__stmt(c, op->has_headers ? ST_ATTR_SET : ST_ATTR_DEL);
    if (st == NULL)
        return -EIO;
    sqlite3_bind_int64(st, 1, bid);
    sqlite3_bind_text(st, 2, op->key.ptr, (int)op->key.len, SQLITE_STATIC);
    if (op->has_headers)
        store__bind_slice(st, 3, op->headers);
    rc = sqlite3_step(st);
    store__stmt_done(st);
    return rc == SQLITE_DONE ? 0 : store__sql_err(rc);
}

static bool attr_name_ok(const char *name)
{
    size_t n = name ? strnlen(name, STORE__ATTR_NAME_MAX + 1) : 0;
    return n > 0 && n <= STORE__ATTR_NAME_MAX;
}

int store_bucket_attr_set(struct store *s, struct gz_slice bucket, const char *name,
                          const struct gz_slice *value)
{
    if (bucket.len == 0 || bucket.len > STORE_MAX_BUCKET)
        return GZ_ENOBUCKET;
    if (!attr_name_ok(name))
        return -EINVAL;
    if (value != NULL && value->len > STORE_MAX_ATTR_VALUE)
        return GZ_ELIMIT;
    struct store__op *op = store__op_new(OP_BUCKET_ATTR, NULL, NULL);
    op->bucket = store__slice_dup(bucket);
    op->key = store__slice_dup(gz_slice_cstr(name));
    if (value != NULL) {
        op->headers = store__slice_dup(*value);
        op->has_headers = true;
    }
    return store__op_run(s, op);
}

int store_bucket_attr_get(struct store *s, struct gz_slice bucket, const char *name,
                          struct gz_buf *out)
{
    struct store__conn *c = NULL;
    sqlite3_stmt *st = NULL;
    int64_t bid;
    gz_buf_init(out, STORE_MAX_ATTR_VALUE);
    if (bucket.len == 0 || bucket.len > STORE_MAX_BUCKET)
        return GZ_ENOBUCKET;
    if (!attr_name_ok(name))
        return -EINVAL;
    int rc = store__conn_get(s, &c);
    if (rc < 0)
        return rc;
    rc = store__bucket_id(c, bucket, &bid);
    if (rc == 0 && (st = store__stmt(c, ST_ATTR_GET)) == NULL)
        rc = -EIO;
    if (rc == 0) {
        sqlite3_bind_int64(st, 1, bid);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            struct gz_slice v = store__col_slice(st, 0);
            rc = gz_buf_append(out, v.ptr, v.len);
        } else {
            rc = rc == SQLITE_DONE ? -ENOENT : store__sql_err(rc);
        }
    }
    store__stmt_done(st);
    store__conn_put(s, c);
    return rc;
}
