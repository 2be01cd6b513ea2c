/*
 * multipart.c - multipart uploads.
 *
 * A part is a writer body, always a file (a small last part is spilled to one), recorded in
 * upload_parts. Completing moves the listed parts' file references into object_parts rows
 * (number, size, offset in the object) - no byte is copied - and drops the unlisted parts;
 * their files, like the files of a replaced part or an aborted upload, are unlinked after
 * the commit.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "local_int.h"

static bool upload_id_ok(const char *id)
{
    return id != NULL && strnlen(id, STORE_UPLOAD_ID_LEN + 1) == STORE_UPLOAD_ID_LEN;
}

/* Looks the upload up on c: 0 (with its bucket id, key and headers, valid until the next
 * use of the statement, which is returned in *stp still positioned on the row), GZ_ENOUPLOAD
 * or an error. The caller calls store__stmt_done(*stp). */
static int upload_row(struct store__conn *c, const char *id, sqlite3_stmt **stp)
{
    sqlite3_stmt *st = store__stmt(c, ST_UPL_GET);
    *stp = st;
    if (st == NULL)
        return -EIO;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return 0;
    return rc == SQLITE_DONE ? GZ_ENOUPLOAD : store__sql_err(rc);
}

/* Does the upload exist and belong to (bid, key)? 0, GZ_ENOUPLOAD or an error. */
static int upload_check(struct store__conn *c, const char *id, int64_t bid, struct gz_slice key)
{
    sqlite3_stmt *st;
    int rc = upload_row(c, id, &st);
    if (rc == 0 && (sqlite3_column_int64(st, 0) != bid ||
                    !gz_slice_eq(store__col_slice(st, 1), key)))
        rc = GZ_ENOUPLOAD;
    store__stmt_done(st);
    return rc;
}

int store__apply_upload_create(struct store *s, struct store__conn *c, struct store__op *op)
{
    int64_t bid;
    int rc = store__bucket_id(c, op->bucket, &bid);
    if (rc < 0)
        return rc;
    sqlite3_stmt *st = store__stmt(c, ST_UPL_INS);
    if (st == NULL)
        return -EIO;
    sqlite3_bind_text(st, 1, op->upload_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, bid);
    store__bind_slice(st, 3, op->key);
    sqlite3_bind_int64(st, 4, gz_now_ms());
    store__bind_slice(st, 5, op->headers);
    rc = sqlite3_step(st);
    store__stmt_done(st);
    return rc == SQLITE_DONE ? 0 : store__sql_err(rc);
}

/* Drops the reference of upload part `num` if it exists. */
static int part_drop(struct store__conn *c, const char *upload, int num,
                     struct store__idvec *unlinks)
{
    sqlite3_stmt *st = store__stmt(c, ST_UPART_GET);
    if (st == NULL)
        return -EIO;
    sqlite3_bind_text(st, 1, upload, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, num);
    int rc = sqlite3_step(st);
    uint8_t id[STORE__ID_LEN];
    bool found = rc == SQLITE_ROW && sqlite3_column_bytes(st, 2) == STORE__ID_LEN;
    if (found)
        memcpy(id, sqlite3_column_blob(st, 2), STORE__ID_LEN);
    store__stmt_done(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store__sql_err(rc);
    return found ? store__file_unref(c, id, unlinks) : 0;
}

int store__apply_part(struct store *s, struct store__conn *c, struct store__op *op)
{
    sqlite3_stmt *st;
    int rc = upload_row(c, op->upload_id, &st);
    store__stmt_done(st);
    if (rc == 0)
        rc = part_drop(c, op->upload_id, op->part_number, &op->unlinks);
    if (rc == 0)
        rc = store__file_new(c, op->w->id, store__blocksum_final(&op->w->sum));
    if (rc < 0)
        return rc;
    st = store__stmt(c, ST_UPART_PUT);
    if (st == NULL)
        return -EIO;
    sqlite3_bind_text(st, 1, op->upload_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, op->part_number);
    sqlite3_bind_int64(st, 3, op->w->size);
    sqlite3_bind_int64(st, 4, gz_now_ms());
    sqlite3_bind_text(st, 5, op->etag, -1, SQLITE_STATIC);
    store__bind_id(st, 6, op->w->id);
    rc = sqlite3_step(st);
    store__stmt_done(st);
    return rc == SQLITE_DONE ? 0 : store__sql_err(rc);
}

/* Drops every part of the upload not listed in parts[] (all of them when nparts == 0). */
static int parts_drop_unlisted(struct store__conn *c, const char *upload,
                               const struct store_part *parts, int nparts,
                               struct store__idvec *unlinks)
{
    sqlite3_stmt *st = store__stmt(c, ST_UPART_FILES);
    if (st == NULL)
        return -EIO;
    sqlite3_bind_text(st, 1, upload, -1, SQLITE_STATIC);
    int rc = 0, step;
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        int num = sqlite3_column_int(st, 0);
        int lo = 0, hi = nparts - 1;
        bool listed = false;
        while (lo <= hi && !listed) { /* parts[] is in ascending number order */
            int mid = (lo + hi) / 2;
            if (parts[mid].number == num)
                listed = true;
            else if (parts[mid].number < num)
                lo = mid + 1;
            else
                hi = mid - 1;
        }
        if (!listed && sqlite3_column_bytes(st, 1) == STORE__ID_LEN) {
            uint8_t id[STORE__ID_LEN];
            memcpy(id, sqlite3_column_blob(st, 1), STORE__ID_LEN);
            rc = store__file_unref(c, id, unlinks);
        }
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = store__sql_err(step);
    store__stmt_done(st);
    if (rc == 0) {
        st = store__stmt(c, ST_UPART_DEL_ALL);
        if (st == NULL)
            return -EIO;
        sqlite3_bind_text(st, 1, upload, -1, SQLITE_STATIC);
        step = sqlite3_step(st);
        store__stmt_done(st);
        rc = step == SQLITE_DONE ? 0 : store__sql_err(step);
    }
    if (rc == 0) {
        st = store__stmt(c, ST_UPL_DEL);
        if (st == NULL)
            return -EIO;
        sqlite3_bind_text(st, 1, upload, -1, SQLITE_STATIC);
        step = sqlite3_step(st);
        store__stmt_done(st);
        rc = step == SQLITE_DONE ? 0 : store__sql_err(step);
    }
    return rc;
}

/* Checks part i of the completion list and appends its object_parts row. */
static int complete_part(struct store__conn *c, struct store__op *op, int64_t bid, int i,
                         int64_t *offset)
{
    const struct store_part *p = &op->parts[i];
    uint8_t id[STORE__ID_LEN];
    int64_t size = 0;
    sqlite3_stmt *st = store__stmt(c, ST_UPART_GET);
    if (st == NULL)
        return -EIO;
    sqlite3_bind_text(st, 1, op->upload_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, p->number);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        size = sqlite3_column_int64(st, 0);
        const char *etag = (const char *)sqlite3_column_text(st, 1);
        if (!store__etag_eq(etag ? etag : "", p->etag) ||
            sqlite3_column_bytes(st, 2) != STORE__ID_LEN)
            rc = GZ_EINVALIDPART;
        else
            memcpy(id, sqlite3_column_blob(st, 2), STORE__ID_LEN);
    } else if (rc == SQLITE_DONE) {
        rc = GZ_EINVALIDPART;
    }
    store__stmt_done(st);
    if (rc < 0)
        return rc;
    if (rc != SQLITE_ROW)
        return store__sql_err(rc);
    st = store__stmt(c, ST_OPART_INS);
    if (st == NULL)
        return -EIO;
    sqlite3_bind_int64(st, 1, bid);
    store__bind_slice(st, 2, op->key);
    sqlite3_bind_int(st, 3, i + 1);
    sqlite3_bind_int64(st, 4, size);
    sqlite3_bind_int64(st, 5, *offset);
    store__bind_id(st, 6, id);
    rc = sqlite3_step(st);
    store__stmt_done(st);
    *offset += size;
    return rc == SQLITE_DONE ? 0 : store__sql_err(rc);
}

/* Headers for the completed object: the caller's if given, else the upload's. */
static int complete_headers(struct store__conn *c, struct store__op *op)
{
    if (op->has_headers)
        return 0;
    sqlite3_stmt *st;
    int rc = upload_row(c, op->upload_id, &st);
    if (rc == 0) {
        gz_free((void *)op->headers.ptr);
        op->headers = store__slice_dup(store__col_slice(st, 3));
        op->has_headers = true;
    }
    store__stmt_done(st);
    return rc;
}

int store__apply_complete(struct store *s, struct store__conn *c, struct store__op *op)
{
    int64_t bid, size = 0, old;
    int rc = store__bucket_id(c, op->bucket, &bid);
    if (rc == 0)
        rc = upload_check(c, op->upload_id, bid, op->key);
    if (rc == 0)
        rc = complete_headers(c, op);
    if (rc == 0)
        rc = store__object_remove(c, bid, op->key, &op->unlinks, &old);
    for (int i = 0; rc == 0 && i < op->nparts; i++)
        rc = complete_part(c, op, bid, i, &size);
    if (rc == 0)
        rc = parts_drop_unlisted(c, op->upload_id, op->parts, op->nparts, &op->unlinks);
    if (rc == 0) /* GZ_EQUOTA rolls all of it back: the upload stays, to retry or abort */
        rc = store__usage_add(s, c, op, bid, size - (old < 0 ? 0 : old), old < 0 ? 1 : 0);
    if (rc < 0)
        return rc;
    sqlite3_stmt *st = store__stmt(c, ST_OBJ_PUT);
    if (st == NULL)
        return -EIO;
    sqlite3_bind_int64(st, 1, bid);
    store__bind_slice(st, 2, op->key);
    sqlite3_bind_int64(st, 3, size);
    sqlite3_bind_int64(st, 4, op->mtime_ms > 0 ? op->mtime_ms : gz_now_ms());
    sqlite3_bind_text(st, 5, op->etag, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 6, op->nparts);
    store__bind_slice(st, 8, op->headers);
    rc = sqlite3_step(st);
    store__stmt_done(st);
    return rc == SQLITE_DONE ? 0 : store__sql_err(rc);
}

int store__apply_abort(struct store *s, struct store__conn *c, struct store__op *op)
{
    sqlite3_stmt *st;
    int rc = upload_row(c, op->upload_id, &st);
    store__stmt_done(st);
    if (rc == 0)
        rc = parts_drop_unlisted(c, op->upload_id, NULL, 0, &op->unlinks);
    return rc;
}

int store_upload_create(struct store *s, struct gz_slice bucket, struct gz_slice key,
                        struct gz_slice headers, char upload_id[STORE_UPLOAD_ID_LEN + 1])
{
    uint8_t raw[STORE_UPLOAD_ID_LEN / 2];
    if (bucket.len == 0 || bucket.len > STORE_MAX_BUCKET)
        return GZ_ENOBUCKET;
    if (!store__slice_valid_key(key) || headers.len > STORE__HEADERS_MAX)
        return GZ_ELIMIT;
    struct store__op *op = store__op_new(OP_UPLOAD_CREATE, NULL, NULL);
    gz_random_bytes(raw, sizeof(raw));
    gz_hex_encode(op->upload_id, raw, sizeof(raw));
    op->bucket = store__slice_dup(bucket);
    op->key = store__slice_dup(key);
    op->headers = store__slice_dup(headers);
    char id[STORE_UPLOAD_ID_LEN + 1];
    memcpy(id, op->upload_id, sizeof(id));
    int rc = store__op_run(s, op);
    if (rc == 0)
        memcpy(upload_id, id, sizeof(id));
    return rc;
}

int store_upload_get(struct store *s, struct gz_slice bucket, struct gz_slice key,
                     const char *upload_id, struct store_upload *up, struct gz_buf *hold)
{
    struct store__conn *c = NULL;
    sqlite3_stmt *st = NULL;
    int64_t bid;
    memset(up, 0, sizeof(*up));
    gz_buf_init(hold, STORE_MAX_KEY + STORE__HEADERS_MAX);
    if (!upload_id_ok(upload_id))
        return GZ_ENOUPLOAD;
    int rc = store__conn_get(s, &c);
    if (rc < 0)
        return rc;
    rc = store__bucket_id(c, bucket, &bid);
    if (rc == 0)
        rc = upload_row(c, upload_id, &st);
    if (rc == 0 && (sqlite3_column_int64(st, 0) != bid ||
                    !gz_slice_eq(store__col_slice(st, 1), key)))
        rc = GZ_ENOUPLOAD;
    if (rc == 0) {
        struct gz_slice k = store__col_slice(st, 1), h = store__col_slice(st, 3);
        rc = gz_buf_append(hold, k.ptr, k.len);
        if (rc == 0)
            rc = gz_buf_append(hold, h.ptr, h.len);
        if (rc == 0) {
            memcpy(up->upload_id, upload_id, STORE_UPLOAD_ID_LEN + 1);
            up->key = gz_slice(hold->ptr, k.len);
            up->headers = gz_slice(hold->ptr + k.len, h.len);
            up->initiated_ms = sqlite3_column_int64(st, 2);
        }
    }
    store__stmt_done(st);
    store__conn_put(s, c);
    return rc;
}

void store_upload_part_commit(struct store *s, const char *upload_id, int part_number,
                              struct store_writer *w, const char *etag, store_done_cb done,
                              void *ud)
{
    struct store__op *op = store__op_new(OP_PART, done, ud);
    op->w = w;
    op->part_number = part_number;
    store__etag_copy(op->etag, etag);
    if (upload_id_ok(upload_id))
        memcpy(op->upload_id, upload_id, STORE_UPLOAD_ID_LEN + 1);
    if (w == NULL || part_number < 1 || part_number > STORE_MAX_PARTS)
        op->status = -EINVAL;
    else if (!upload_id_ok(upload_id))
        op->status = GZ_ENOUPLOAD;
    else if (w->err != 0)
        op->status = w->err;
    store__op_submit(s, op);
}

int store_upload_parts(struct store *s, const char *upload_id, int marker, int max,
                       void (*fn)(const struct store_part *p, void *ud), void *ud,
                       bool *truncated)
{
    struct store__conn *c = NULL;
    sqlite3_stmt *st = NULL;
    int n = 0, rc;
    *truncated = false;
    if (!upload_id_ok(upload_id))
        return GZ_ENOUPLOAD;
    rc = store__conn_get(s, &c); /* one snapshot for the upload row and its parts */
    if (rc < 0)
        return rc;
    rc = upload_row(c, upload_id, &st);
    store__stmt_done(st);
    if (rc == 0 && (st = store__stmt(c, ST_UPART_LIST)) == NULL)
        rc = -EIO;
    if (rc == 0) {
        sqlite3_bind_text(st, 1, upload_id, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, marker);
        while (max > 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (n == max) {
                *truncated = true;
                break;
            }
            struct store_part p = {.number = sqlite3_column_int(st, 0),
                                   .size = sqlite3_column_int64(st, 1),
                                   .mtime_ms = sqlite3_column_int64(st, 2)};
            store__etag_copy(p.etag, (const char *)sqlite3_column_text(st, 3));
            fn(&p, ud);
            n++;
        }
        rc = rc == SQLITE_ROW || rc == SQLITE_DONE || rc == 0 ? 0 : store__sql_err(rc);
        store__stmt_done(st);
    }
    store__conn_put(s, c);
    return rc;
}

void store_upload_complete(struct store *s, struct gz_slice bucket, struct gz_slice key,
                           const char *upload_id, const struct store_part *parts, int nparts,
                           const struct store_meta *meta, store_done_cb done, void *ud)
{
    struct store__op *op = store__op_new(OP_COMPLETE, done, ud);
    op->bucket = store__slice_dup(bucket);
    op->key = store__slice_dup(key);
    if (upload_id_ok(upload_id))
        memcpy(op->upload_id, upload_id, STORE_UPLOAD_ID_LEN + 1);
    if (meta != NULL) {
        store__etag_copy(op->etag, meta->etag);
        op->mtime_ms = meta->mtime_ms;
        if (meta->headers.ptr != NULL) {
            op->headers = store__slice_dup(meta->headers);
            op->has_headers = true;
        }
    }
    if (!upload_id_ok(upload_id)) {
        op->status = GZ_ENOUPLOAD;
    } else if (parts == NULL || nparts < 1 || nparts > STORE_MAX_PARTS) {
        op->status = GZ_EINVALIDPART;
    } else {
        op->parts = gz_malloc((size_t)nparts * sizeof(*parts));
        memcpy(op->parts, parts, (size_t)nparts * sizeof(*parts));
        op->nparts = nparts;
        for (int i = 0; i < nparts; i++) {
            op->parts[i].etag[sizeof(op->parts[i].etag) - 1] = '\0';
            if (i > 0 && parts[i].number <= parts[i - 1].number)
                op->status = GZ_EINVALIDPART; /* must ascend: the caller checks this too */
        }
    }
    store__op_submit(s, op);
}

void store_upload_abort(struct store *s, const char *upload_id, store_done_cb done, void *ud)
{
    struct store__op *op = store__op_new(OP_ABORT, done, ud);
    if (upload_id_ok(upload_id))
        memcpy(op->upload_id, upload_id, STORE_UPLOAD_ID_LEN + 1);
    else
        op->status = GZ_ENOUPLOAD;
    store__op_submit(s, op);
}
