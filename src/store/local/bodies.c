/*
 * bodies.c - inline bodies: the bytes of small objects, in their own table (schema 4).
 *
 * Objects up to store_config.inline_max bytes keep their body in the index instead of a file.
 * Schema 1-3 kept it in the object's row, but `objects` is a WITHOUT ROWID table, a b-tree
 * whose every cell (interior ones too) holds a whole row: rows of kilobytes spilled onto
 * overflow pages, the tree's fan-out fell to a few rows a page, and each step of a key lookup
 * copied a whole row to compare keys. Schema 4 moves the bytes and their block CRCs into
 * `inline_bodies`, a rowid table, and leaves the object row a reference (`objects.body`):
 * object rows stay small, lookups and listings touch few pages, and reading a body is one
 * more lookup by integer key.
 *
 * One body row per object: a copy gets its own (bodies are small), an overwrite or delete
 * removes the old one in the same transaction (store__object_remove). An empty inline body has
 * no row (body NULL). Runs on the committer inside the batch transaction, or at open for the
 * upgrade.
 */
#include <errno.h>

#include "local_int.h"

/* The schema 3 -> 4 step: each object's data and crc into a body row of its own (ids handed
 * out in key order through a temporary map), then the two columns dropped, which rewrites
 * `objects` compactly. */
static const char *const upgrade_v4_sql =
    "CREATE TABLE inline_bodies(id INTEGER PRIMARY KEY, data BLOB NOT NULL, crc BLOB);"
    "ALTER TABLE objects ADD COLUMN body INTEGER;"
    "CREATE TEMP TABLE v4_map(bucket INTEGER NOT NULL, key BLOB NOT NULL,"
    " UNIQUE(bucket, key));"
    "INSERT INTO temp.v4_map(bucket, key) SELECT bucket, key FROM objects"
    " WHERE length(data) > 0 ORDER BY bucket, key;"
    "INSERT INTO inline_bodies(id, data, crc) SELECT m.rowid, o.data, o.crc"
    " FROM temp.v4_map m JOIN objects o ON o.bucket = m.bucket AND o.key = m.key;"
    "UPDATE objects SET body = (SELECT m.rowid FROM temp.v4_map m"
    " WHERE m.bucket = objects.bucket AND m.key = objects.key) WHERE length(data) > 0;"
    "DROP TABLE temp.v4_map;"
    "ALTER TABLE objects DROP COLUMN data;"
    "ALTER TABLE objects DROP COLUMN crc;"
    "INSERT INTO meta(k,v) VALUES('schema',4) ON CONFLICT(k) DO UPDATE SET v=4;"
    "PRAGMA user_version=4;";

int store__schema_upgrade_v4(struct store__conn *c)
{
    char *msg = NULL;
    int rc = sqlite3_exec(c->db, upgrade_v4_sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        log_error("store: schema upgrade to 4: %s", msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return store__sql_err(rc);
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(c->db, "SELECT count(*) FROM inline_bodies", -1, &st, NULL) ==
            SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0)
        log_info("store: index upgraded to schema 4: %lld inline bodies moved out of the "
                 "object rows",
                 (long long)sqlite3_column_int64(st, 0));
    sqlite3_finalize(st);
    return 0;
}

int store__body_insert(struct store__conn *c, struct gz_slice data, struct gz_slice crc,
                       int64_t *id)
{
    *id = 0;
    if (data.len == 0)
        return 0;
    sqlite3_stmt *st = store__stmt(c, ST_BODY_INS);
    if (st == NULL)
        return -EIO;
    store__bind_slice(st, 1, data);
    if (crc.ptr != NULL)
        store__bind_slice(st, 2, crc);
    int rc = sqlite3_step(st);
    store__stmt_done(st);
    if (rc != SQLITE_DONE)
        return store__sql_err(rc);
    *id = sqlite3_last_insert_rowid(c->db);
    return 0;
}

int store__body_delete(struct store__conn *c, int64_t id)
{
    if (id <= 0)
        return 0;
    sqlite3_stmt *st = store__stmt(c, ST_BODY_DEL);
    if (st == NULL)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    store__stmt_done(st);
    return rc == SQLITE_DONE ? 0 : store__sql_err(rc);
}

int store__body_copy(struct store__conn *c, int64_t bucket, struct gz_slice key, int64_t *id)
{
    *id = 0;
    int rc = store__exec_kv(c, ST_BODY_COPY, bucket, key);
    if (rc < 0)
        return rc;
    if (sqlite3_changes(c->db) > 0)
        *id = sqlite3_last_insert_rowid(c->db);
    return 0;
}
