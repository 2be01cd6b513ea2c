/*
 * usage.c - usage and quotas per bucket and per owner (tenant), and the schema upgrade that
 * introduced them.
 *
 * Usage lives next to what it counts: bytes and objects columns on each bucket row, and an
 * `owners` row per owner with its totals and quota. Reading it is a primary-key look-up.
 *
 * Every apply function that adds, replaces or removes an object calls store__usage_add with
 * its change. The committer keeps the batch's totals in memory (store.uacc: each bucket and
 * owner the batch touches, loaded from the index on first use), adds an op's change there
 * only once the op's savepoint is released, and writes the totals back with one UPDATE per
 * bucket and owner just before the batch's COMMIT. So usage is in the same transaction as
 * the objects it counts (exact after a crash at any instant) and costs a PUT a few memory
 * operations instead of two more statements (which cost as much as the PUT's own index work).
 * Ops that read or move usage rows directly (bucket delete, owner change, quota changes)
 * first have the totals written out (store__usage_barrier).
 *
 * Quotas are enforced there too: the committer applies ops one at a time, so two uploads
 * racing for the last bytes are checked in order and the second one fails with GZ_EQUOTA;
 * its savepoint rolls back and its body file is removed like any failed op's. Only a
 * dimension that grows is checked, so deletes, shrinking overwrites and overwrites at the
 * object limit pass even when usage is already over a lowered limit.
 */
#include <errno.h>
#include <stdio.h>

#include "local_int.h"

#define STORE__SCHEMA_V1 1      /* the first release: no usage, version in meta.schema */
#define STORE__SCHEMA_V2 2      /* usage, quotas, bucket attributes; PRAGMA user_version */
#define STORE__SCHEMA_V3 3      /* block checksums, corrupt marks (scrub.c) */
#define STORE__SCHEMA_VERSION 4 /* inline bodies out of the object rows (bodies.c) */
#define STORE__OWNER_MAX 64

/* The schema 1 -> 2 step; also run on a new index right after the schema 1 tables. */
static const char *const upgrade_v2_sql =
    "ALTER TABLE buckets ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE buckets ADD COLUMN objects INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE buckets ADD COLUMN max_bytes INTEGER NOT NULL DEFAULT -1;"
    "ALTER TABLE buckets ADD COLUMN max_objects INTEGER NOT NULL DEFAULT -1;"
    "CREATE TABLE owners(owner TEXT PRIMARY KEY, bytes INTEGER NOT NULL DEFAULT 0,"
    " objects INTEGER NOT NULL DEFAULT 0, max_bytes INTEGER NOT NULL DEFAULT -1,"
    " max_objects INTEGER NOT NULL DEFAULT -1) WITHOUT ROWID;"
    "CREATE TABLE bucket_attrs(bucket INTEGER NOT NULL, name TEXT NOT NULL,"
    " value BLOB NOT NULL, PRIMARY KEY(bucket, name)) WITHOUT ROWID;"
    /* One pass over each bucket's objects (a range of the primary key). */
    "UPDATE buckets SET bytes=(SELECT coalesce(sum(size),0) FROM objects WHERE bucket=buckets.id),"
    " objects=(SELECT count(*) FROM objects WHERE bucket=buckets.id);"
    "INSERT INTO owners(owner,bytes,objects) SELECT owner,sum(bytes),sum(objects)"
    " FROM buckets GROUP BY owner;"
    "INSERT INTO meta(k,v) VALUES('schema',2) ON CONFLICT(k) DO UPDATE SET v=2;"
    "PRAGMA user_version=2;";

static int exec_sql(struct store__conn *c, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        log_error("store: schema upgrade: %s", msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return store__sql_err(rc);
    }
    return 0;
}

static int user_version(struct store__conn *c, int64_t *v)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            *v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : store__sql_err(rc ? rc : SQLITE_ERROR);
}

static int upgrade_from_v2(struct store__conn *c)
{
    int rc = store__schema_upgrade_v3(c);
    return rc == 0 ? store__schema_upgrade_v4(c) : rc;
}

int store__schema_upgrade(struct store__conn *c)
{
    int64_t uv = 0, legacy = 0;
    int rc = user_version(c, &uv);
    if (rc < 0)
        return rc;
    if (uv == STORE__SCHEMA_VERSION)
        return 0;
    if (uv == STORE__SCHEMA_V3)
        return store__schema_upgrade_v4(c);
    if (uv == STORE__SCHEMA_V2)
        return upgrade_from_v2(c);
    rc = store__meta_get(c, "schema", &legacy);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    bool fresh = rc == -ENOENT;
    if (uv != 0 || (!fresh && legacy != STORE__SCHEMA_V1)) {
        log_error("store: index schema %lld, this build knows up to %d",
                  (long long)(uv ? uv : legacy), STORE__SCHEMA_VERSION);
        return GZ_ECORRUPT;
    }
    rc = exec_sql(c, upgrade_v2_sql);
    if (rc == 0 && !fresh)
        log_info("store: index upgraded from schema %d to %d (usage computed from the objects)",
                 STORE__SCHEMA_V1, STORE__SCHEMA_V2);
    return rc == 0 ? upgrade_from_v2(c) : rc;
}

static bool quota_over(int64_t total, int64_t delta, int64_t max)
{
    return delta > 0 && max >= 0 && total > max;
}

/* Adds to an owner's totals in the index (creating its row). */
static int owner_add(struct store__conn *c, const char *owner, int64_t bytes, int64_t objects)
{
    sqlite3_stmt *st = store__stmt(c, ST_USAGE_OWNER_ADD);
    if (st == NULL)
        return -EIO;
    sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, bytes);
    sqlite3_bind_int64(st, 3, objects);
    int rc = sqlite3_step(st);
    store__stmt_done(st);
    return rc == SQLITE_DONE ? 0 : store__sql_err(rc);
}

static int bucket_add(struct store__conn *c, int64_t bid, int64_t bytes, int64_t objects)
{
    sqlite3_stmt *st = store__stmt(c, ST_USAGE_BKT_ADD);
    if (st == NULL)
        return -EIO;
    sqlite3_bind_int64(st, 1, bid);
    sqlite3_bind_int64(st, 2, bytes);
    sqlite3_bind_int64(st, 3, objects);
    int rc = sqlite3_step(st);
    store__stmt_done(st);
    return rc == SQLITE_DONE ? 0 : store__sql_err(rc);
}

/* Bucket bid's owner, usage and quota from the index: 0, GZ_ENOBUCKET or an error. */
static int bucket_row(struct store__conn *c, int64_t bid, char owner[STORE__OWNER_MAX + 1],
                      struct store_usage *u, struct store_quota *q)
{
    sqlite3_stmt *st = store__stmt(c, ST_USAGE_BKT_ROW);
    if (st == NULL)
        return -EIO;
    sqlite3_bind_int64(st, 1, bid);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        snprintf(owner, STORE__OWNER_MAX + 1, "%s", t ? t : "");
        *u = (struct store_usage){sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2)};
        *q = (struct store_quota){sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 4)};
    }
    store__stmt_done(st);
    if (rc == SQLITE_ROW)
        return 0;
    return rc == SQLITE_DONE ? GZ_ENOBUCKET : store__sql_err(rc);
}

/* ---- the batch's totals (store.uacc): a few entries, searched linearly ---- */

static int uacc_push(struct store__uacc *a, const struct store__uacc_ent *e)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 8;
        a->e = gz_realloc(a->e, (size_t)a->cap * sizeof(*a->e));
    }
    a->e[a->n] = *e;
    return a->n++;
}

/* The owner's entry, loaded on first use: its index or an error. */
static int uacc_owner(struct store *s, struct store__conn *c, const char *name)
{
    struct store__uacc *a = &s->uacc;
    for (int i = 0; i < a->n; i++) {
        if (a->e[i].bid == 0 && strcmp(a->e[i].name, name) == 0)
            return i;
    }
    struct store__uacc_ent e = {.bid = 0, .owner = -1, .quota = {-1, -1}};
    snprintf(e.name, sizeof(e.name), "%s", name);
    sqlite3_stmt *st = store__stmt(c, ST_USAGE_OWNER_GET);
    if (st == NULL)
        return -EIO;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        e.used = (struct store_usage){sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1)};
        e.quota = (struct store_quota){sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3)};
    }
    store__stmt_done(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store__sql_err(rc);
    return uacc_push(a, &e);
}

/* The bucket's entry (and its owner's), loaded on first use: its index or an error. */
static int uacc_bucket(struct store *s, struct store__conn *c, int64_t bid)
{
    struct store__uacc *a = &s->uacc;
    for (int i = 0; i < a->n; i++) {
        if (a->e[i].bid == bid)
            return i;
    }
    struct store__uacc_ent e = {.bid = bid};
    int rc = bucket_row(c, bid, e.name, &e.used, &e.quota);
    if (rc == 0)
        rc = e.owner = uacc_owner(s, c, e.name);
    return rc < 0 ? rc : uacc_push(a, &e);
}

int store__usage_add(struct store *s, struct store__conn *c, struct store__op *op, int64_t bid,
                     int64_t bytes, int64_t objects)
{
    if (bytes == 0 && objects == 0)
        return 0;
    int i = uacc_bucket(s, c, bid);
    if (i < 0)
        return i;
    const struct store__uacc_ent *b = &s->uacc.e[i], *o = &s->uacc.e[b->owner];
    if (quota_over(b->used.bytes + bytes, bytes, b->quota.max_bytes) ||
        quota_over(b->used.objects + objects, objects, b->quota.max_objects) ||
        quota_over(o->used.bytes + bytes, bytes, o->quota.max_bytes) ||
        quota_over(o->used.objects + objects, objects, o->quota.max_objects))
        return GZ_EQUOTA;
    op->u_pending = true;
    op->u_ent = i;
    op->u_delta = (struct store_usage){bytes, objects};
    return 0;
}

void store__usage_applied(struct store *s, struct store__op *op)
{
    if (!op->u_pending)
        return;
    op->u_pending = false;
    struct store__uacc_ent *b = &s->uacc.e[op->u_ent];
    struct store__uacc_ent *ents[2] = {b, &s->uacc.e[b->owner]};
    for (int i = 0; i < 2; i++) {
        ents[i]->used.bytes += op->u_delta.bytes;
        ents[i]->used.objects += op->u_delta.objects;
        ents[i]->delta.bytes += op->u_delta.bytes;
        ents[i]->delta.objects += op->u_delta.objects;
    }
}

bool store__usage_barrier(const struct store__op *op)
{
    return op->kind == OP_BUCKET_DELETE || op->kind == OP_BUCKET_OWNER ||
           op->kind == OP_BUCKET_QUOTA || op->kind == OP_OWNER_QUOTA;
}

int store__usage_flush(struct store *s, struct store__conn *c)
{
    struct store__uacc *a = &s->uacc;
    int rc = 0;
    for (int i = 0; rc == 0 && i < a->n; i++) {
        const struct store__uacc_ent *e = &a->e[i];
        if (e->delta.bytes == 0 && e->delta.objects == 0)
            continue;
        rc = e->bid ? bucket_add(c, e->bid, e->delta.bytes, e->delta.objects)
                    : owner_add(c, e->name, e->delta.bytes, e->delta.objects);
    }
    a->n = 0;
    return rc;
}

void store__usage_discard(struct store *s, bool final)
{
    s->uacc.n = 0;
    if (final) {
        gz_free(s->uacc.e);
        s->uacc.e = NULL;
        s->uacc.cap = 0;
    }
}

/* ---- ops that read or move usage rows directly (after store__usage_flush) ---- */

int store__bucket_forget(struct store__conn *c, int64_t bid)
{
    char owner[STORE__OWNER_MAX + 1];
    struct store_usage u;
    struct store_quota q;
    int rc = bucket_row(c, bid, owner, &u, &q);
    if (rc == 0 && (u.bytes != 0 || u.objects != 0))
        rc = owner_add(c, owner, -u.bytes, -u.objects);
    if (rc < 0)
        return rc;
    sqlite3_stmt *st = store__stmt(c, ST_ATTR_DEL_ALL);
    if (st == NULL)
        return -EIO;
    sqlite3_bind_int64(st, 1, bid);
    rc = sqlite3_step(st);
    store__stmt_done(st);
    return rc == SQLITE_DONE ? 0 : store__sql_err(rc);
}

int store__apply_bucket_owner(struct store *s, struct store__conn *c, struct store__op *op)
{
    char old[STORE__OWNER_MAX + 1];
    struct store_usage u;
    struct store_quota q;
    int64_t bid;
    int rc = store__bucket_id(c, op->bucket, &bid);
    if (rc == 0)
        rc = bucket_row(c, bid, old, &u, &q);
    if (rc < 0 || strcmp(old, op->bkt.owner) == 0)
        return rc;
    sqlite3_stmt *st = store__stmt(c, ST_BKT_OWNER_SET);
    if (st == NULL)
        return -EIO;
    sqlite3_bind_int64(st, 1, bid);
    sqlite3_bind_text(st, 2, op->bkt.owner, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    store__stmt_done(st);
    if (rc != SQLITE_DONE)
        return store__sql_err(rc);
    /* An administrative move: the new owner may end up over its quota, which then refuses
     * further growth; the move itself is not refused. */
    if (u.bytes == 0 && u.objects == 0)
        return 0;
    rc = owner_add(c, old, -u.bytes, -u.objects);
    if (rc == 0)
        rc = owner_add(c, op->bkt.owner, u.bytes, u.objects);
    return rc;
}

int store__apply_quota(struct store *s, struct store__conn *c, struct store__op *op)
{
    bool owner = op->kind == OP_OWNER_QUOTA;
    sqlite3_stmt *st = store__stmt(c, owner ? ST_QUOTA_OWNER_SET : ST_QUOTA_BKT_SET);
    if (st == NULL)
        return -EIO;
    if (owner)
        sqlite3_bind_text(st, 1, op->bkt.owner, -1, SQLITE_STATIC);
    else
        store__bind_slice(st, 1, op->bucket);
    sqlite3_bind_int64(st, 2, op->quota.max_bytes);
    sqlite3_bind_int64(st, 3, op->quota.max_objects);
    int rc = sqlite3_step(st);
    store__stmt_done(st);
    if (rc != SQLITE_DONE)
        return store__sql_err(rc);
    return !owner && sqlite3_changes(c->db) == 0 ? GZ_ENOBUCKET : 0;
}

/* ---- the public functions ---- */

static bool bucket_name_ok(struct gz_slice b)
{
    return b.len > 0 && b.len <= STORE_MAX_BUCKET;
}

static bool owner_ok(const char *owner)
{
    size_t n = owner ? strnlen(owner, STORE__OWNER_MAX + 1) : 0;
    return n > 0 && n <= STORE__OWNER_MAX;
}

static bool quota_ok(const struct store_quota *q)
{
    return q != NULL && q->max_bytes >= -1 && q->max_objects >= -1;
}

/* One bucket's usage and quota, by name, on a pooled read connection. */
static int bucket_get(struct store *s, struct gz_slice bucket, struct store_usage *u,
                      struct store_quota *q)
{
    struct store__conn *c = NULL;
    if (!bucket_name_ok(bucket))
        return GZ_ENOBUCKET;
    int rc = store__conn_get(s, &c);
    if (rc < 0)
        return rc;
    sqlite3_stmt *st = store__stmt(c, ST_USAGE_BKT_GET);
    if (st == NULL) {
        rc = -EIO;
    } else {
        store__bind_slice(st, 1, bucket);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW && u != NULL)
            *u = (struct store_usage){sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1)};
        if (rc == SQLITE_ROW && q != NULL)
            *q = (struct store_quota){sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3)};
        rc = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? GZ_ENOBUCKET : store__sql_err(rc);
        store__stmt_done(st);
    }
    store__conn_put(s, c);
    return rc;
}

/* One owner's usage and quota; an owner without a row has used nothing, without limits. */
static int owner_get(struct store *s, const char *owner, struct store_usage *u,
                     struct store_quota *q)
{
    struct store__conn *c = NULL;
    struct store_usage u0 = {0, 0};
    struct store_quota q0 = {-1, -1};
    if (!owner_ok(owner))
        return -EINVAL;
    int rc = store__conn_get(s, &c);
    if (rc < 0)
        return rc;
    sqlite3_stmt *st = store__stmt(c, ST_USAGE_OWNER_GET);
    if (st == NULL) {
        rc = -EIO;
    } else {
        sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            u0 = (struct store_usage){sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1)};
            q0 = (struct store_quota){sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3)};
        }
        rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store__sql_err(rc);
        store__stmt_done(st);
    }
    store__conn_put(s, c);
    if (rc == 0 && u != NULL)
        *u = u0;
    if (rc == 0 && q != NULL)
        *q = q0;
    return rc;
}

int store_bucket_usage(struct store *s, struct gz_slice bucket, struct store_usage *out)
{
    return bucket_get(s, bucket, out, NULL);
}

int store_bucket_quota_get(struct store *s, struct gz_slice bucket, struct store_quota *out)
{
    return bucket_get(s, bucket, NULL, out);
}

int store_owner_usage(struct store *s, const char *owner, struct store_usage *out)
{
    return owner_get(s, owner, out, NULL);
}

int store_owner_quota_get(struct store *s, const char *owner, struct store_quota *out)
{
    return owner_get(s, owner, NULL, out);
}

int store_bucket_quota_set(struct store *s, struct gz_slice bucket, const struct store_quota *q)
{
    if (!bucket_name_ok(bucket))
        return GZ_ENOBUCKET;
    if (!quota_ok(q))
        return -EINVAL;
    struct store__op *op = store__op_new(OP_BUCKET_QUOTA, NULL, NULL);
    op->bucket = store__slice_dup(bucket);
    op->quota = *q;
    return store__op_run(s, op);
}

int store_owner_quota_set(struct store *s, const char *owner, const struct store_quota *q)
{
    if (!owner_ok(owner) || !quota_ok(q))
        return -EINVAL;
    struct store__op *op = store__op_new(OP_OWNER_QUOTA, NULL, NULL);
    snprintf(op->bkt.owner, sizeof(op->bkt.owner), "%s", owner);
    op->quota = *q;
    return store__op_run(s, op);
}

int store_bucket_owner_set(struct store *s, struct gz_slice bucket, const char *owner)
{
    if (!bucket_name_ok(bucket))
        return GZ_ENOBUCKET;
    if (!owner_ok(owner))
        return -EINVAL;
    struct store__op *op = store__op_new(OP_BUCKET_OWNER, NULL, NULL);
    op->bucket = store__slice_dup(bucket);
    snprintf(op->bkt.owner, sizeof(op->bkt.owner), "%s", owner);
    return store__op_run(s, op);
}

/* The size of the object at (bid, key): 0 and *size, 1 if absent, or an error. */
static int object_size(struct store__conn *c, int64_t bid, struct gz_slice key, int64_t *size)
{
    sqlite3_stmt *st = store__stmt(c, ST_OBJ_STAT);
    if (st == NULL)
        return -EIO;
    sqlite3_bind_int64(st, 1, bid);
    store__bind_slice(st, 2, key);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *size = sqlite3_column_int64(st, 0);
    store__stmt_done(st);
    if (rc == SQLITE_ROW)
        return 0;
    return rc == SQLITE_DONE ? 1 : store__sql_err(rc);
}

/* Checks one dimension; fills *hit and returns true if it would pass its limit. */
static bool check_one(int64_t used, int64_t add, int64_t max, bool owner, bool objects,
                      struct store_quota_hit *hit)
{
    if (add <= 0 || max < 0 || add <= max - used) /* (no overflow for a huge add) */
        return false;
    if (hit != NULL)
        *hit = (struct store_quota_hit){
            .owner = owner, .objects = objects, .limit = max, .usage = used};
    return true;
}

int store_quota_check(struct store *s, struct gz_slice bucket, const struct gz_slice *replaces,
                      int64_t add_bytes, int64_t add_objects, struct store_quota_hit *hit)
{
    struct store__conn *c = NULL;
    int64_t v[9], old = 0;
    if (!bucket_name_ok(bucket))
        return GZ_ENOBUCKET;
    int rc = store__conn_get(s, &c);
    if (rc < 0)
        return rc;
    sqlite3_stmt *st = store__stmt(c, ST_QUOTA_CHECK);
    if (st == NULL) {
        store__conn_put(s, c);
        return -EIO;
    }
    store__bind_slice(st, 1, bucket);
    rc = sqlite3_step(st);
    for (int i = 0; rc == SQLITE_ROW && i < 9; i++)
        v[i] = sqlite3_column_int64(st, i);
    rc = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? GZ_ENOBUCKET : store__sql_err(rc);
    store__stmt_done(st);
    /* v: bucket id; bucket bytes, objects, max_bytes, max_objects; the same for the owner. */
    if (rc == 0 && replaces != NULL) {
        rc = object_size(c, v[0], *replaces, &old);
        if (rc == 0) { /* an existing object is replaced: credit it */
            add_bytes -= old;
            add_objects -= 1;
        }
        rc = rc == 1 ? 0 : rc;
    }
    store__conn_put(s, c);
    if (rc < 0)
        return rc;
    if (check_one(v[1], add_bytes, v[3], false, false, hit) ||
        check_one(v[2], add_objects, v[4], false, true, hit) ||
        check_one(v[5], add_bytes, v[7], true, false, hit) ||
        check_one(v[6], add_objects, v[8], true, true, hit))
        return GZ_EQUOTA;
    return 0;
}
