/*
 * bucket.c - buckets. Create and delete go through the committer like every mutation, so a
 * PUT into a bucket being deleted is ordered against the delete: it either committed first
 * (and the delete sees a non-empty bucket) or it finds no bucket (GZ_ENOBUCKET) and its body
 * file is removed. Objects refer to their bucket by an integer id, so a bucket deleted and
 * created again under the same name never inherits anything.
 *
 * store_bucket_get runs on every S3 request into a bucket, so each thread keeps the rows (and
 * the absences) it looked up last, tagged with the index generation read before the lookup
 * (store__index_gen, as reader.c does for objects). An entry is used only while the
 * generation is unchanged, i.e. while no index transaction has committed since it was read,
 * so a create, delete, owner or quota change is seen by the very next lookup; a hit needs no
 * SQLite read transaction (whose WAL read-mark lock is taken under a process-wide mutex).
 * Per thread, so no lock; freed when the thread exits.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "local_int.h"

int store__apply_bucket_create(struct store *s, struct store__conn *c, struct store__op *op)
{
    const struct store_bucket *b = &op->bkt;
    struct gz_slice name = gz_slice_cstr(b->name);
    sqlite3_stmt *st = store__stmt(c, ST_BKT_GET);
    if (st == NULL)
        return -EIO;
    store__bind_slice(st, 1, name);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *owner = (const char *)sqlite3_column_text(st, 2);
        rc = owner && strcmp(owner, b->owner) == 0 ? GZ_EBUCKETOWNED : GZ_EBUCKETEXISTS;
        store__stmt_done(st);
        return rc;
    }
    store__stmt_done(st);
    if (rc != SQLITE_DONE)
        return store__sql_err(rc);
    st = store__stmt(c, ST_BKT_INS);
    if (st == NULL)
        return -EIO;
    store__bind_slice(st, 1, name);
    sqlite3_bind_text(st, 2, b->region, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, b->owner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, b->created_ms > 0 ? b->created_ms : gz_now_ms());
    rc = sqlite3_step(st);
    store__stmt_done(st);
    return rc == SQLITE_DONE ? 0 : store__sql_err(rc);
}

/* 1 if the statement (bound with ?1 = bid) returns a row, 0 if not, negative on error. */
static int bucket_has(struct store__conn *c, enum store__stmt id, int64_t bid)
{
    sqlite3_stmt *st = store__stmt(c, id);
    if (st == NULL)
        return -EIO;
    sqlite3_bind_int64(st, 1, bid);
    int rc = sqlite3_step(st);
    store__stmt_done(st);
    if (rc == SQLITE_ROW)
        return 1;
    return rc == SQLITE_DONE ? 0 : store__sql_err(rc);
}

int store__apply_bucket_delete(struct store *s, struct store__conn *c, struct store__op *op)
{
    int64_t bid;
    int rc = store__bucket_id(c, op->bucket, &bid);
    if (rc == 0)
        rc = bucket_has(c, ST_BKT_HAS_OBJ, bid);
    if (rc == 0)
        rc = bucket_has(c, ST_BKT_HAS_UPL, bid);
    if (rc == 1)
        return GZ_EBUCKETNOTEMPTY;
    if (rc == 0)
        rc = store__bucket_forget(c, bid); /* usage off the owner, attributes gone */
    if (rc < 0)
        return rc;
    sqlite3_stmt *st = store__stmt(c, ST_BKT_DEL);
    if (st == NULL)
        return -EIO;
    sqlite3_bind_int64(st, 1, bid);
    rc = sqlite3_step(st);
    store__stmt_done(st);
    return rc == SQLITE_DONE ? 0 : store__sql_err(rc);
}

int store_bucket_create(struct store *s, const struct store_bucket *b)
{
    size_t n = strnlen(b->name, sizeof(b->name));
    if (n == 0 || n > STORE_MAX_BUCKET)
        return GZ_ELIMIT;
    struct store__op *op = store__op_new(OP_BUCKET_CREATE, NULL, NULL);
    op->bkt = *b;
    op->bkt.name[STORE_MAX_BUCKET] = '\0';
    op->bkt.region[sizeof(op->bkt.region) - 1] = '\0';
    op->bkt.owner[sizeof(op->bkt.owner) - 1] = '\0';
    return store__op_run(s, op);
}

int store_bucket_delete(struct store *s, struct gz_slice name)
{
    if (name.len == 0 || name.len > STORE_MAX_BUCKET)
        return GZ_ENOBUCKET;
    struct store__op *op = store__op_new(OP_BUCKET_DELETE, NULL, NULL);
    op->bucket = store__slice_dup(name);
    return store__op_run(s, op);
}

static void copy_text(char *out, size_t outsz, sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    int n = sqlite3_column_bytes(st, col);
    size_t len = t ? GZ_MIN((size_t)n, outsz - 1) : 0;
    if (len)
        memcpy(out, t, len);
    out[len] = '\0';
}

static void bucket_from_row(sqlite3_stmt *st, struct store_bucket *b)
{
    memset(b, 0, sizeof(*b));
    struct gz_slice name = store__col_slice(st, 0);
    memcpy(b->name, name.ptr, GZ_MIN(name.len, (size_t)STORE_MAX_BUCKET));
    copy_text(b->region, sizeof(b->region), st, 1);
    copy_text(b->owner, sizeof(b->owner), st, 2);
    b->created_ms = sqlite3_column_int64(st, 3);
}

/* ---- the per-thread bucket row cache ---- */

#define BUCKET_CACHE_SLOTS 16

struct bucket_cache_ent {
    const struct store *s;      /* NULL = empty slot */
    uint64_t gen;
    bool found;                 /* false: the bucket did not exist (GZ_ENOBUCKET) */
    size_t name_len;
    struct store_bucket b;      /* b.name holds the name looked up, even when !found */
};

struct bucket_cache {
    struct bucket_cache_ent slot[BUCKET_CACHE_SLOTS];
};

static pthread_key_t bucket_cache_key;
static pthread_once_t bucket_cache_once = PTHREAD_ONCE_INIT;
static bool bucket_cache_ok;
static _Atomic uint64_t bucket_cache_hits; /* for tests: store__bucket_cache_hits */

static void bucket_cache_free(void *p)
{
    gz_free(p);
}

static void bucket_cache_key_init(void)
{
    bucket_cache_ok = pthread_key_create(&bucket_cache_key, bucket_cache_free) == 0;
}

static struct bucket_cache *bucket_cache_get(bool create)
{
    pthread_once(&bucket_cache_once, bucket_cache_key_init);
    if (!bucket_cache_ok)
        return NULL;
    struct bucket_cache *c = pthread_getspecific(bucket_cache_key);
    if (c == NULL && create) {
        c = gz_calloc(1, sizeof(*c));
        if (pthread_setspecific(bucket_cache_key, c) != 0) {
            gz_free(c);
            c = NULL;
        }
    }
    return c;
}

static struct bucket_cache_ent *bucket_cache_slot(struct bucket_cache *c, struct gz_slice name)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < name.len; i++)
        h = (h ^ (uint8_t)name.ptr[i]) * 16777619u;
    return &c->slot[h % BUCKET_CACHE_SLOTS];
}

/* The cached answer for name at generation gen: 0 (row in *out) or GZ_ENOBUCKET; 1 = miss. */
static int bucket_cache_find(struct store *s, struct gz_slice name, uint64_t gen,
                             struct store_bucket *out)
{
    struct bucket_cache *c = bucket_cache_get(false);
    if (c == NULL)
        return 1;
    const struct bucket_cache_ent *e = bucket_cache_slot(c, name);
    if (e->s != s || e->gen != gen || e->name_len != name.len ||
        memcmp(e->b.name, name.ptr, name.len) != 0)
        return 1;
    atomic_fetch_add_explicit(&bucket_cache_hits, 1, memory_order_relaxed);
    if (!e->found)
        return GZ_ENOBUCKET;
    *out = e->b;
    return 0;
}

/* Remembers the answer rc (0 with *b, or GZ_ENOBUCKET) read at generation gen. */
static void bucket_cache_put(struct store *s, struct gz_slice name, uint64_t gen, int rc,
                             const struct store_bucket *b)
{
    if (rc != 0 && rc != GZ_ENOBUCKET)
        return;
    struct bucket_cache *c = bucket_cache_get(true);
    if (c == NULL)
        return;
    struct bucket_cache_ent *e = bucket_cache_slot(c, name);
    memset(e, 0, sizeof(*e));
    if (rc == 0)
        e->b = *b;
    memcpy(e->b.name, name.ptr, name.len); /* the name asked for: the row's is the same */
    e->b.name[name.len] = '\0';
    e->name_len = name.len;
    e->found = rc == 0;
    e->gen = gen;
    e->s = s;
}

uint64_t store__bucket_cache_hits(void)
{
    return atomic_load_explicit(&bucket_cache_hits, memory_order_relaxed);
}

static int bucket_get_index(struct store *s, struct gz_slice name, struct store_bucket *out)
{
    struct store__conn *c = NULL;
    int rc = store__conn_get(s, &c);
    if (rc < 0)
        return rc;
    sqlite3_stmt *st = store__stmt(c, ST_BKT_GET);
    if (st == NULL) {
        rc = -EIO;
    } else {
        store__bind_slice(st, 1, name);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            bucket_from_row(st, out);
        rc = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? GZ_ENOBUCKET : store__sql_err(rc);
        store__stmt_done(st);
    }
    store__conn_put(s, c);
    return rc;
}

int store_bucket_get(struct store *s, struct gz_slice name, struct store_bucket *out)
{
    if (name.len == 0 || name.len > STORE_MAX_BUCKET)
        return GZ_ENOBUCKET;
    /* Read before the index is, so a commit racing with this lookup makes the entry stale. */
    uint64_t gen = store__index_gen();
    int rc = bucket_cache_find(s, name, gen, out);
    if (rc <= 0)
        return rc;
    rc = bucket_get_index(s, name, out);
    bucket_cache_put(s, name, gen, rc, out);
    return rc;
}

int store_bucket_list(struct store *s, const char *owner,
                      int (*fn)(const struct store_bucket *b, void *ud), void *ud)
{
    struct store__conn *c = NULL;
    struct store_bucket b;
    int rc = store__conn_get(s, &c);
    if (rc < 0)
        return rc;
    sqlite3_stmt *st = store__stmt(c, owner ? ST_BKT_LIST_OWNER : ST_BKT_LIST);
    if (st == NULL) {
        store__conn_put(s, c);
        return -EIO;
    }
    if (owner != NULL)
        sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        bucket_from_row(st, &b);
        if (fn(&b, ud) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    rc = rc == SQLITE_DONE ? 0 : store__sql_err(rc);
    store__stmt_done(st);
    store__conn_put(s, c);
    return rc;
}
