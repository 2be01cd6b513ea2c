/*
 * objects.c - object mutations (commit, delete, copy) and stat.
 *
 * The public functions copy their arguments into an op and queue it; the store__apply_*
 * functions run on the committer inside the batch transaction. An object row refers either
 * to its inline bytes (body: an inline_bodies row, bodies.c), a file id (file) or, for a
 * multipart object, to nothing: its bodies are the object_parts rows. Every file id
 * referenced counts in `files`, so a copy shares files and the last reference dropped
 * schedules the unlink (after the commit).
 */
#include <errno.h>
#include <stdio.h>

#include "local_int.h"

bool store__etag_eq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la >= 2 && a[0] == '"' && a[la - 1] == '"') {
        a++;
        la -= 2;
    }
    if (lb >= 2 && b[0] == '"' && b[lb - 1] == '"') {
        b++;
        lb -= 2;
    }
    return la == lb && memcmp(a, b, la) == 0;
}

void store__etag_copy(char out[48], const char *in)
{
    size_t n = in ? strnlen(in, 47) : 0;
    if (n)
        memcpy(out, in, n);
    out[n] = '\0';
}

int store__object_remove(struct store__conn *c, int64_t bucket, struct gz_slice key,
                         struct store__idvec *unlinks, int64_t *old_size)
{
    uint8_t id[STORE__ID_LEN];
    bool has_file = false;
    int64_t parts = 0, body = 0;
    int rc;
    sqlite3_stmt *st = store__stmt(c, ST_OBJ_REFS);
    if (st == NULL)
        return -EIO;
    sqlite3_bind_int64(st, 1, bucket);
    store__bind_slice(st, 2, key);
    rc = sqlite3_step(st);
    *old_size = rc == SQLITE_ROW ? sqlite3_column_int64(st, 2) : -1;
    if (rc == SQLITE_ROW) {
        has_file = sqlite3_column_bytes(st, 0) == STORE__ID_LEN;
        if (has_file)
            memcpy(id, sqlite3_column_blob(st, 0), STORE__ID_LEN);
        parts = sqlite3_column_int64(st, 1);
        body = sqlite3_column_int64(st, 3); /* NULL reads as 0: none */
    }
    store__stmt_done(st);
    if (rc != SQLITE_ROW)
        return rc == SQLITE_DONE ? 0 : store__sql_err(rc);
    rc = has_file ? store__file_unref(c, id, unlinks) : store__body_delete(c, body);
    if (rc == 0 && parts > 0) {
        st = store__stmt(c, ST_OPART_LIST);
        if (st == NULL)
            return -EIO;
        sqlite3_bind_int64(st, 1, bucket);
        store__bind_slice(st, 2, key);
        int step;
        while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
            if (sqlite3_column_bytes(st, 3) != STORE__ID_LEN)
                continue;
            memcpy(id, sqlite3_column_blob(st, 3), STORE__ID_LEN);
            rc = store__file_unref(c, id, unlinks);
        }
        if (rc == 0 && step != SQLITE_DONE)
            rc = store__sql_err(step);
        store__stmt_done(st);
        if (rc == 0)
            rc = store__exec_kv(c, ST_OPART_DEL, bucket, key);
    }
    if (rc == 0)
        rc = store__exec_kv(c, ST_OBJ_DEL, bucket, key);
    return rc;
}

int store__apply_put(struct store *s, struct store__conn *c, struct store__op *op)
{
    struct store_writer *w = op->w;
    int64_t bid, old, body = 0;
    int rc = store__bucket_id(c, op->bucket, &bid);
    if (rc == 0)
        rc = store__object_remove(c, bid, op->key, &op->unlinks, &old);
    if (rc == 0) /* may refuse with GZ_EQUOTA: the savepoint then undoes the removal */
        rc = store__usage_add(s, c, op, bid, w->size - (old < 0 ? 0 : old), old < 0 ? 1 : 0);
    if (rc == 0 && w->has_file)
        rc = store__file_new(c, w->id, store__blocksum_final(&w->sum));
    else if (rc == 0)
        rc = store__body_insert(c, gz_slice(w->buf, w->len), store__blocksum_final(&w->sum),
                                &body);
    if (rc < 0)
        return rc;
    sqlite3_stmt *st = store__stmt(c, ST_OBJ_PUT);
    if (st == NULL)
        return -EIO;
    sqlite3_bind_int64(st, 1, bid);
    store__bind_slice(st, 2, op->key);
    sqlite3_bind_int64(st, 3, w->size);
    sqlite3_bind_int64(st, 4, op->mtime_ms > 0 ? op->mtime_ms : gz_now_ms());
    sqlite3_bind_text(st, 5, op->etag, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 6, 0);
    if (w->has_file)
        store__bind_id(st, 7, w->id);
    store__bind_slice(st, 8, op->headers);
    if (body > 0)
        sqlite3_bind_int64(st, 9, body);
    rc = sqlite3_step(st);
    store__stmt_done(st);
    return rc == SQLITE_DONE ? 0 : store__sql_err(rc);
}

int store__apply_delete(struct store *s, struct store__conn *c, struct store__op *op)
{
    int64_t bid, old;
    int rc = store__bucket_id(c, op->bucket, &bid);
    if (rc == 0)
        rc = store__object_remove(c, bid, op->key, &op->unlinks, &old);
    if (rc == 0 && old >= 0)
        rc = store__usage_add(s, c, op, bid, -old, -1);
    return rc;
}

/* Reads the source's etag and size: 0, GZ_ENOKEY or an error. */
static int copy_source_etag(struct store__conn *c, int64_t bid, struct gz_slice key,
                            char etag[48], int64_t *size)
{
    sqlite3_stmt *st = store__stmt(c, ST_OBJ_STAT);
    if (st == NULL)
        return -EIO;
    sqlite3_bind_int64(st, 1, bid);
    store__bind_slice(st, 2, key);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        store__etag_copy(etag, (const char *)sqlite3_column_text(st, 2));
        *size = sqlite3_column_int64(st, 0);
    }
    store__stmt_done(st);
    if (rc == SQLITE_ROW)
        return 0;
    return rc == SQLITE_DONE ? GZ_ENOKEY : store__sql_err(rc);
}

/* Runs a statement bound as (?1 src bucket, ?2 src key, ?3 dst bucket, ?4 dst key, ?5 mtime,
 * ?6 headers or NULL, ?7 the copy's body row or NULL); any of 3..7 may be unused by it. */
static int copy_exec(struct store__conn *c, enum store__stmt id, int64_t sb, int64_t db,
                     const struct store__op *op, int64_t now, int64_t body)
{
    sqlite3_stmt *st = store__stmt(c, id);
    if (st == NULL)
        return -EIO;
    int np = sqlite3_bind_parameter_count(st);
    sqlite3_bind_int64(st, 1, sb);
    store__bind_slice(st, 2, op->key);
    if (np >= 4) {
        sqlite3_bind_int64(st, 3, db);
        store__bind_slice(st, 4, op->key2);
    }
    if (np >= 5)
        sqlite3_bind_int64(st, 5, now);
    if (np >= 6 && op->has_headers)
        store__bind_slice(st, 6, op->headers);
    if (np >= 7 && body > 0)
        sqlite3_bind_int64(st, 7, body);
    int rc = sqlite3_step(st);
    store__stmt_done(st);
    return rc == SQLITE_DONE ? 0 : store__sql_err(rc);
}

int store__apply_copy(struct store *s, struct store__conn *c, struct store__op *op)
{
    int64_t sb, db, size = 0, old, body = 0;
    int64_t now = op->mtime_ms > 0 ? op->mtime_ms : gz_now_ms();
    char etag[48];
    int rc = store__bucket_id(c, op->bucket, &sb);
    if (rc == 0)
        rc = copy_source_etag(c, sb, op->key, etag, &size);
    if (rc == 0 && op->cond_etag[0] && !store__etag_eq(op->cond_etag, etag))
        rc = GZ_EINVALIDPART;
    if (rc == 0)
        rc = store__bucket_id(c, op->bucket2, &db);
    if (rc < 0)
        return rc;
    if (sb == db && gz_slice_eq(op->key, op->key2)) {
        /* Copy onto itself: only the headers (if given) and the mtime change. */
        sqlite3_stmt *st = store__stmt(c, ST_OBJ_SET_META);
        if (st == NULL)
            return -EIO;
        sqlite3_bind_int64(st, 1, sb);
        store__bind_slice(st, 2, op->key);
        if (op->has_headers)
            store__bind_slice(st, 3, op->headers);
        sqlite3_bind_int64(st, 4, now);
        rc = sqlite3_step(st);
        store__stmt_done(st);
        return rc == SQLITE_DONE ? 0 : store__sql_err(rc);
    }
    /* Drop the destination first: if it shares files with the source, the source's own
     * references keep them alive. Then share the source's files. */
    rc = store__object_remove(c, db, op->key2, &op->unlinks, &old);
    if (rc == 0)
        rc = store__usage_add(s, c, op, db, size - (old < 0 ? 0 : old), old < 0 ? 1 : 0);
    if (rc == 0)
        rc = copy_exec(c, ST_OBJ_FILE_REF, sb, db, op, now, 0);
    if (rc == 0)
        rc = copy_exec(c, ST_OPART_REF, sb, db, op, now, 0);
    if (rc == 0)
        rc = store__body_copy(c, sb, op->key, &body); /* an inline body gets its own row */
    if (rc == 0)
        rc = copy_exec(c, ST_OBJ_COPY, sb, db, op, now, body);
    if (rc == 0)
        rc = copy_exec(c, ST_OPART_COPY, sb, db, op, now, 0);
    return rc;
}

static bool bucket_name_ok(struct gz_slice b)
{
    return b.len > 0 && b.len <= STORE_MAX_BUCKET;
}

void store_object_commit(struct store *s, struct store_writer *w, struct gz_slice bucket,
                         struct gz_slice key, const struct store_meta *meta, store_done_cb done,
                         void *ud)
{
    struct store__op *op = store__op_new(OP_PUT, done, ud);
    struct gz_slice headers = meta ? meta->headers : GZ_SLICE_NULL;
    op->w = w;
    op->bucket = store__slice_dup(bucket);
    op->key = store__slice_dup(key);
    op->headers = store__slice_dup(headers);
    if (meta != NULL) {
        store__etag_copy(op->etag, meta->etag);
        op->mtime_ms = meta->mtime_ms;
    }
    if (w == NULL)
        op->status = -EINVAL;
    else if (!bucket_name_ok(bucket))
        op->status = GZ_ENOBUCKET;
    else if (!store__slice_valid_key(key) || headers.len > STORE__HEADERS_MAX)
        op->status = GZ_ELIMIT;
    else if (w->err != 0)
        op->status = w->err;
    store__op_submit(s, op);
}

void store_object_delete(struct store *s, struct gz_slice bucket, struct gz_slice key,
                         store_done_cb done, void *ud)
{
    struct store__op *op = store__op_new(OP_DELETE, done, ud);
    op->bucket = store__slice_dup(bucket);
    op->key = store__slice_dup(key);
    if (!bucket_name_ok(bucket))
        op->status = GZ_ENOBUCKET;
    store__op_submit(s, op);
}

void store_object_copy(struct store *s, struct gz_slice src_bucket, struct gz_slice src_key,
                       const char *src_etag, struct gz_slice dst_bucket, struct gz_slice dst_key,
                       const struct store_meta *meta, store_done_cb done, void *ud)
{
    struct store__op *op = store__op_new(OP_COPY, done, ud);
    op->bucket = store__slice_dup(src_bucket);
    op->key = store__slice_dup(src_key);
    op->bucket2 = store__slice_dup(dst_bucket);
    op->key2 = store__slice_dup(dst_key);
    store__etag_copy(op->cond_etag, src_etag);
    if (meta != NULL) {
        op->headers = store__slice_dup(meta->headers);
        op->has_headers = true;
        op->mtime_ms = meta->mtime_ms;
    }
    if (!bucket_name_ok(src_bucket) || !bucket_name_ok(dst_bucket))
        op->status = GZ_ENOBUCKET;
    else if (!store__slice_valid_key(src_key))
        op->status = GZ_ENOKEY;
    else if (!store__slice_valid_key(dst_key) || op->headers.len > STORE__HEADERS_MAX)
        op->status = GZ_ELIMIT;
    store__op_submit(s, op);
}

int store_object_stat(struct store *s, struct gz_slice bucket, struct gz_slice key,
                      struct store_meta *meta, struct gz_buf *hold)
{
    struct store__conn *c = NULL;
    sqlite3_stmt *st = NULL;
    int64_t bid;
    int rc;

    memset(meta, 0, sizeof(*meta));
    gz_buf_init(hold, STORE__HEADERS_MAX);
    rc = store__conn_get(s, &c);
    if (rc == 0)
        rc = store__bucket_id(c, bucket, &bid);
    if (rc < 0)
        goto out;
    st = store__stmt(c, ST_OBJ_STAT);
    if (st == NULL) {
        rc = -EIO;
        goto out;
    }
    sqlite3_bind_int64(st, 1, bid);
    store__bind_slice(st, 2, key);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        rc = rc == SQLITE_DONE ? GZ_ENOKEY : store__sql_err(rc);
        goto out;
    }
    meta->size = sqlite3_column_int64(st, 0);
    meta->mtime_ms = sqlite3_column_int64(st, 1);
    store__etag_copy(meta->etag, (const char *)sqlite3_column_text(st, 2));
    meta->parts = sqlite3_column_int(st, 3);
    struct gz_slice h = store__col_slice(st, 4);
    rc = gz_buf_append(hold, h.ptr, h.len);
    meta->headers = gz_buf_slice(hold);
out:
    store__stmt_done(st);
    store__conn_put(s, c);
    return rc;
}
