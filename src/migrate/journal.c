/*
 * journal.c - the on-disk journal (SQLite, WAL): the source listing streams into table src
 * and the destination listing into dst, so memory stays flat whatever the bucket size. Each
 * source row carries its state (listed, pending, verified, failed, waiting), the failure
 * reason, the retry count, and for verified objects the source ETag copied, the SHA-256
 * written, the verification method and what could not be carried over. A pass keeps verified
 * rows whose size and ETag did not change, which is what makes a rerun after kill -9 resume
 * without recopying; tables uploads and parts let a large object resume from its completed
 * parts. Schema summary in migrate_int.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "migrate_int.h"

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS info(k TEXT PRIMARY KEY, v TEXT);"
    "CREATE TABLE IF NOT EXISTS src(key TEXT PRIMARY KEY, size INTEGER, etag TEXT,"
    " mtime INTEGER, pass INTEGER, state TEXT, reason TEXT, retries INTEGER DEFAULT 0,"
    " done_etag TEXT, sha256 TEXT, method TEXT);"
    "CREATE TABLE IF NOT EXISTS dst(key TEXT PRIMARY KEY, size INTEGER, etag TEXT,"
    " mtime INTEGER);"
    "CREATE INDEX IF NOT EXISTS src_state ON src(state, key);"
    "CREATE TABLE IF NOT EXISTS uploads(key TEXT PRIMARY KEY, upload_id TEXT, src_etag TEXT,"
    " part_size INTEGER);"
    "CREATE TABLE IF NOT EXISTS parts(key TEXT, part INTEGER, etag TEXT,"
    " PRIMARY KEY(key, part));";

/* Columns added after the first release: ignored if already there. */
static const char *const added_columns[] = {
    "ALTER TABLE src ADD COLUMN storage_class TEXT",
    "ALTER TABLE src ADD COLUMN not_carried TEXT",
};

int mig_journal_open(struct mig_journal *j, const char *path, char *err, size_t errsz)
{
    memset(j, 0, sizeof(*j));
    pthread_mutex_init(&j->mu, NULL);
    pthread_mutex_init(&j->cache_mu, NULL);
    char *msg = NULL;
    if (sqlite3_open_v2(path, &j->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                          SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
        sqlite3_exec(j->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errsz, "journal %s: %s", path,
                 msg ? msg : j->db ? sqlite3_errmsg(j->db) : "cannot open");
        sqlite3_free(msg);
        mig_journal_close(j);
        return -EIO;
    }
    sqlite3_busy_timeout(j->db, 5000);
    for (size_t i = 0; i < sizeof(added_columns) / sizeof(added_columns[0]); i++)
        sqlite3_exec(j->db, added_columns[i], NULL, NULL, NULL);
    return 0;
}

/* ---- batches: object outcomes grouped into one transaction while copying ---- */

/* Under mu: commits the open batch. */
static int batch_commit(struct mig_journal *j)
{
    if (!j->in_tx)
        return 0;
    j->in_tx = false;
    if (sqlite3_exec(j->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        return 0;
    log_warn("migrate journal: commit: %s", sqlite3_errmsg(j->db));
    sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL); /* those objects get copied again */
    return -EIO;
}

/* Under mu, before a batched write: opens the batch if batching and none is open. */
static void batch_open(struct mig_journal *j)
{
    if (!j->batching || j->in_tx)
        return;
    if (sqlite3_exec(j->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return; /* the write then commits on its own */
    j->in_tx = true;
    j->batch_n = 0;
    j->batch_start_ms = gz_now_ms();
}

/* Under mu, after a batched write: commits when the batch is full or old enough. */
static void batch_wrote(struct mig_journal *j)
{
    if (j->in_tx && (++j->batch_n >= MIG_JOURNAL_BATCH ||
                     gz_now_ms() - j->batch_start_ms >= MIG_JOURNAL_BATCH_MS))
        batch_commit(j);
}

int mig_journal_flush(struct mig_journal *j)
{
    pthread_mutex_lock(&j->mu);
    int rc = batch_commit(j);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

void mig_journal_tick(struct mig_journal *j)
{
    pthread_mutex_lock(&j->mu);
    if (j->in_tx && gz_now_ms() - j->batch_start_ms >= MIG_JOURNAL_BATCH_MS)
        batch_commit(j);
    pthread_mutex_unlock(&j->mu);
}

int mig_journal_batch(struct mig_journal *j, bool on)
{
    pthread_mutex_lock(&j->mu);
    int rc = batch_commit(j);
    j->batching = on;
    pthread_mutex_unlock(&j->mu);
    return rc;
}

void mig_journal_close(struct mig_journal *j)
{
    if (j->db) {
        pthread_mutex_lock(&j->mu);
        batch_commit(j);
        j->batching = false;
        pthread_mutex_unlock(&j->mu);
        for (int i = 0; i < MIG_JOURNAL_STMTS; i++)
            sqlite3_finalize(j->stmts[i].st);
        sqlite3_close(j->db);
    }
    memset(j->stmts, 0, sizeof(j->stmts));
    j->db = NULL;
    pthread_mutex_destroy(&j->cache_mu);
    pthread_mutex_destroy(&j->mu);
}

int mig_journal_tx(struct mig_journal *j, const char *sql)
{
    pthread_mutex_lock(&j->mu);
    int rc = batch_commit(j);
    if (rc == 0)
        rc = sqlite3_exec(j->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
    pthread_mutex_unlock(&j->mu);
    return rc;
}

/* ---- statements: prepared once per journal, reset after each use ---- */

/* The statement for sql (a string constant), ready to bind; hand it back with release. A
 * statement already in use (or a full cache) gets a one-off copy. NULL on error. */
static sqlite3_stmt *prep(struct mig_journal *j, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int free_slot = -1;
    pthread_mutex_lock(&j->cache_mu);
    for (int i = 0; i < MIG_JOURNAL_STMTS && !st; i++) {
        struct mig_jstmt *c = &j->stmts[i];
        if (c->sql == sql && !c->busy) {
            c->busy = true;
            st = c->st;
        } else if (!c->sql && free_slot < 0) {
            free_slot = i;
        }
    }
    if (!st && sqlite3_prepare_v3(j->db, sql, -1, free_slot >= 0 ? SQLITE_PREPARE_PERSISTENT : 0,
                                  &st, NULL) != SQLITE_OK) {
        log_warn("migrate journal: %s", sqlite3_errmsg(j->db));
        sqlite3_finalize(st);
        st = NULL;
    } else if (st && free_slot >= 0) {
        j->stmts[free_slot] = (struct mig_jstmt){.sql = sql, .st = st, .busy = true};
    }
    pthread_mutex_unlock(&j->cache_mu);
    return st;
}

/* Hands a statement back: reset for its next use if cached, else finalised. */
static void release(struct mig_journal *j, sqlite3_stmt *st)
{
    if (!st)
        return;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    pthread_mutex_lock(&j->cache_mu);
    int i = 0;
    while (i < MIG_JOURNAL_STMTS && j->stmts[i].st != st)
        i++;
    if (i < MIG_JOURNAL_STMTS)
        j->stmts[i].busy = false;
    pthread_mutex_unlock(&j->cache_mu);
    if (i == MIG_JOURNAL_STMTS)
        sqlite3_finalize(st);
}

/* Steps a statement to completion and hands it back. */
static int run(struct mig_journal *j, sqlite3_stmt *st)
{
    if (!st)
        return -EIO;
    int rc = sqlite3_step(st);
    release(j, st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -EIO;
}

/* Under mu: runs a write; batched, it joins the open batch (opened if batching), else it
 * commits at once together with any open batch. */
static int run_write(struct mig_journal *j, sqlite3_stmt *st, bool batched)
{
    if (batched)
        batch_open(j);
    int rc = run(j, st);
    if (batched) {
        batch_wrote(j);
    } else {
        int crc = batch_commit(j);
        rc = rc ? rc : crc;
    }
    return rc;
}

int mig_journal_begin_pass(struct mig_journal *j)
{
    sqlite3_stmt *st = prep(j, "SELECT COALESCE(MAX(pass), 0) + 1 FROM src");
    if (!st || sqlite3_step(st) != SQLITE_ROW) {
        release(j, st);
        return -EIO;
    }
    j->pass = sqlite3_column_int64(st, 0);
    release(j, st);
    j->last_claimed[0] = '\0';
    /* the pass in progress, for readers of the journal (the manifest): an empty pass has no
     * src rows to say so */
    st = prep(j, "INSERT INTO info(k, v) VALUES('pass', ?1) ON CONFLICT(k) DO UPDATE SET"
                 " v=excluded.v");
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, j->pass);
    int rc = run(j, st);
    if (rc < 0)
        return rc;
    return run(j, prep(j, "UPDATE src SET state='listed' WHERE state='pending'"));
}

int mig_journal_add_src(struct mig_journal *j, const struct mig_entry *e)
{
    sqlite3_stmt *st = prep(j,
        "INSERT INTO src(key, size, etag, mtime, pass, state, storage_class) VALUES(?1, ?2, ?3,"
        " ?4, ?5, 'listed', ?6) ON CONFLICT(key) DO UPDATE SET size=excluded.size,"
        " etag=excluded.etag, storage_class=excluded.storage_class,"
        " mtime=excluded.mtime, pass=excluded.pass, state=CASE WHEN src.state='verified' AND"
        " src.done_etag=excluded.etag AND src.size=excluded.size THEN 'verified' ELSE 'listed'"
        " END, retries=CASE WHEN src.state='failed' THEN src.retries ELSE 0 END");
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, e->key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, e->size);
    sqlite3_bind_text(st, 3, e->etag, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, e->mtime);
    sqlite3_bind_int64(st, 5, j->pass);
    sqlite3_bind_text(st, 6, e->storage_class, -1, SQLITE_STATIC);
    return run(j, st);
}

int mig_journal_clear_dst(struct mig_journal *j)
{
    return run(j, prep(j, "DELETE FROM dst"));
}

int mig_journal_add_dst(struct mig_journal *j, const struct mig_entry *e)
{
    sqlite3_stmt *st = prep(j, "INSERT OR REPLACE INTO dst(key, size, etag, mtime)"
                               " VALUES(?1, ?2, ?3, ?4)");
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, e->key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, e->size);
    sqlite3_bind_text(st, 3, e->etag, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, e->mtime);
    return run(j, st);
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : NULL;
}

/* Applies the decision for one row (current row of the join). */
static int diff_row(struct mig_journal *j, sqlite3_stmt *st, struct gz_mig_stats *stats)
{
    struct gz_mig_diff_row r = {
        .src_size = sqlite3_column_int64(st, 1), .src_etag = col_text(st, 2),
        .src_mtime = sqlite3_column_int64(st, 3), .dst_present = sqlite3_column_int(st, 6),
        .dst_size = sqlite3_column_int64(st, 7), .dst_etag = col_text(st, 8),
        .dst_mtime = sqlite3_column_int64(st, 9)};
    const char *state = col_text(st, 4);
    bool verified = state && strcmp(state, "verified") == 0;
    r.done_etag = col_text(st, 5); /* the source ETag last copied, whatever the state */
    enum gz_mig_action a = gz_migrate_diff_decide(&r);
    sqlite3_stmt *up;
    if (a == GZ_MIG_SKIP) {
        stats->skipped++;
        stats->skipped_bytes += r.src_size;
        if (verified)
            return 0;
        /* found unchanged at the destination, never read: no hash of ours vouches for it */
        up = prep(j, "UPDATE src SET state='verified', done_etag=etag, method='existing',"
                     " sha256=NULL WHERE key=?1");
    } else {
        stats->to_copy++;
        stats->to_copy_bytes += r.src_size;
        up = prep(j, "UPDATE src SET state='pending' WHERE key=?1");
    }
    if (!up)
        return -EIO;
    sqlite3_bind_text(up, 1, col_text(st, 0), -1, SQLITE_TRANSIENT);
    return run(j, up);
}

int mig_journal_diff(struct mig_journal *j, struct gz_mig_stats *stats)
{
    /* a SELECT may run while rows of the same table are updated outside its index order
     * columns: only state/done_etag/method change, the scan is by key */
    sqlite3_stmt *st = prep(j,
        "SELECT s.key, s.size, s.etag, s.mtime, s.state, s.done_etag, d.key IS NOT NULL,"
        " d.size, d.etag, d.mtime FROM src s LEFT JOIN dst d ON d.key = s.key"
        " WHERE s.pass = ?1 ORDER BY s.key");
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, j->pass);
    int rc = sqlite3_exec(j->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
    int s;
    while (rc == 0 && (s = sqlite3_step(st)) == SQLITE_ROW)
        rc = diff_row(j, st, stats);
    release(j, st);
    if (sqlite3_exec(j->db, rc == 0 ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK)
        rc = -EIO;
    return rc;
}

int mig_journal_claim(struct mig_journal *j, char **key, int64_t *size, char *etag,
                      size_t etagsz)
{
    return mig_journal_claim2(j, key, size, etag, etagsz, NULL, 0);
}

int mig_journal_claim2(struct mig_journal *j, char **key, int64_t *size, char *etag,
                       size_t etagsz, char *sclass, size_t sclasssz)
{
    pthread_mutex_lock(&j->mu);
    sqlite3_stmt *st = prep(j, "SELECT key, size, etag, storage_class FROM src WHERE"
                               " state='pending' AND key > ?1 ORDER BY key LIMIT 1");
    int rc = -EIO;
    if (st) {
        sqlite3_bind_text(st, 1, j->last_claimed, -1, SQLITE_STATIC);
        int s = sqlite3_step(st);
        rc = s == SQLITE_ROW ? 1 : s == SQLITE_DONE ? 0 : -EIO;
        if (rc == 1) {
            const char *k = col_text(st, 0);
            *key = gz_strdup(k);
            *size = sqlite3_column_int64(st, 1);
            snprintf(etag, etagsz, "%s", col_text(st, 2) ? col_text(st, 2) : "");
            if (sclass)
                snprintf(sclass, sclasssz, "%s", col_text(st, 3) ? col_text(st, 3) : "");
            snprintf(j->last_claimed, sizeof(j->last_claimed), "%s", k);
            if (strlen(k) >= sizeof(j->last_claimed))
                rc = -ENAMETOOLONG; /* keys are at most 1024 bytes in S3 */
        }
        release(j, st);
    }
    pthread_mutex_unlock(&j->mu);
    if (rc < 0 && rc != -EIO) {
        gz_free(*key);
        *key = NULL;
    }
    return rc;
}

/* Marks key verified; with_size: also records its size and what was not carried. */
static int journal_mark_verified(struct mig_journal *j, const char *key, const char *etag,
                                 const char *sha256_hex, const char *method, int64_t retries,
                                 bool with_size, int64_t size, const char *not_carried)
{
    pthread_mutex_lock(&j->mu);
    sqlite3_stmt *st = prep(j, !with_size ? "UPDATE src SET state='verified', done_etag=?2,"
                                           " sha256=?3, method=?4, retries=retries+?5,"
                                           " reason=NULL WHERE key=?1"
                                         : "UPDATE src SET state='verified', done_etag=?2,"
                                           " sha256=?3, method=?4, retries=retries+?5,"
                                           " reason=NULL, size=?6,"
                                           " not_carried=NULLIF(?7, '') WHERE key=?1");
    if (st) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, etag, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, sha256_hex, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, method, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, retries);
        if (with_size) {
            sqlite3_bind_int64(st, 6, size);
            sqlite3_bind_text(st, 7, not_carried ? not_carried : "", -1, SQLITE_STATIC);
        }
    }
    int rc = run_write(j, st, true);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

int mig_journal_done(struct mig_journal *j, const char *key, const char *etag,
                     const char *sha256_hex, const char *method, int64_t retries)
{
    return journal_mark_verified(j, key, etag, sha256_hex, method, retries, false, 0, NULL);
}

int mig_journal_verified(struct mig_journal *j, const char *key, const char *etag,
                         const char *sha256_hex, const char *method, int64_t retries,
                         int64_t size, const char *not_carried)
{
    return journal_mark_verified(j, key, etag, sha256_hex, method, retries, true, size,
                                 not_carried);
}

int mig_journal_fail(struct mig_journal *j, const char *key, const char *reason,
                     int64_t retries)
{
    pthread_mutex_lock(&j->mu);
    sqlite3_stmt *st = prep(j, "UPDATE src SET state='failed', reason=?2,"
                               " retries=retries+?3 WHERE key=?1");
    if (st) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, retries);
    }
    int rc = run_write(j, st, true);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

int mig_journal_extraneous(struct mig_journal *j, const char *after, char **keys, int max)
{
    sqlite3_stmt *st = prep(j, "SELECT d.key FROM dst d WHERE d.key > ?1 AND NOT EXISTS"
                               " (SELECT 1 FROM src s WHERE s.key = d.key AND s.pass = ?2)"
                               " ORDER BY d.key LIMIT ?3");
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, after ? after : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, j->pass);
    sqlite3_bind_int(st, 3, max);
    int n = 0;
    while (n < max && sqlite3_step(st) == SQLITE_ROW)
        keys[n++] = gz_strdup(col_text(st, 0));
    release(j, st);
    return n;
}

void mig_journal_failed_each(struct mig_journal *j, gz_mig_failed_fn *fn, void *arg)
{
    sqlite3_stmt *st = prep(j, "SELECT key, reason, retries FROM src WHERE state='failed'"
                               " AND pass=?1 ORDER BY key");
    if (!st)
        return;
    sqlite3_bind_int64(st, 1, j->pass);
    while (sqlite3_step(st) == SQLITE_ROW)
        fn(arg, col_text(st, 0), col_text(st, 1) ? col_text(st, 1) : "",
           sqlite3_column_int64(st, 2));
    release(j, st);
}

int64_t mig_journal_count(struct mig_journal *j, const char *state)
{
    sqlite3_stmt *st = prep(j, "SELECT COUNT(*) FROM src WHERE state=?1 AND pass=?2");
    int64_t n = -1;
    if (!st)
        return n;
    sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, j->pass);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    release(j, st);
    return n;
}

/* Runs one write under the journal lock, bound as ?1 key, ?2 and ?3 text, ?4 integer
 * (a statement uses those it names); batched or committed at once (run_write). */
static int locked_exec(struct mig_journal *j, bool batched, const char *sql, const char *k,
                       const char *t2, const char *t3, int64_t i4)
{
    pthread_mutex_lock(&j->mu);
    sqlite3_stmt *st = prep(j, sql);
    if (st) {
        int n = sqlite3_bind_parameter_count(st);
        sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
        if (n >= 2)
            sqlite3_bind_text(st, 2, t2, -1, SQLITE_STATIC);
        if (n >= 3)
            sqlite3_bind_text(st, 3, t3, -1, SQLITE_STATIC);
        if (n >= 4)
            sqlite3_bind_int64(st, 4, i4);
    }
    int rc = run_write(j, st, batched);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

int mig_journal_done_extra(struct mig_journal *j, const char *key, int64_t size,
                           const char *not_carried)
{
    return locked_exec(j, true, "UPDATE src SET not_carried=NULLIF(?2, ''), size=?4"
                                " WHERE key=?1", key, not_carried, NULL, size);
}

int mig_journal_wait(struct mig_journal *j, const char *key, const char *reason)
{
    return locked_exec(j, true, "UPDATE src SET state='waiting', reason=?2 WHERE key=?1",
                       key, reason, NULL, 0);
}

int mig_journal_unclaim(struct mig_journal *j, const char *key)
{
    return locked_exec(j, true, "UPDATE src SET state='listed' WHERE key=?1"
                                " AND state='pending'", key, NULL, NULL, 0);
}

int mig_journal_upload_get(struct mig_journal *j, const char *key, struct mig_upload_rec *u)
{
    pthread_mutex_lock(&j->mu);
    sqlite3_stmt *st = prep(j, "SELECT upload_id, src_etag, part_size FROM uploads"
                               " WHERE key=?1");
    int rc = -EIO;
    if (st) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        int s = sqlite3_step(st);
        rc = s == SQLITE_ROW ? 1 : s == SQLITE_DONE ? 0 : -EIO;
        if (rc == 1) {
            snprintf(u->upload_id, sizeof(u->upload_id), "%s",
                     col_text(st, 0) ? col_text(st, 0) : "");
            snprintf(u->src_etag, sizeof(u->src_etag), "%s",
                     col_text(st, 1) ? col_text(st, 1) : "");
            u->part_size = sqlite3_column_int64(st, 2);
        }
        release(j, st);
    }
    pthread_mutex_unlock(&j->mu);
    return rc;
}

int mig_journal_upload_put(struct mig_journal *j, const char *key,
                           const struct mig_upload_rec *u)
{
    int rc = locked_exec(j, false, "DELETE FROM parts WHERE key=?1", key, NULL, NULL, 0);
    if (rc == 0)
        rc = locked_exec(j, false, "INSERT OR REPLACE INTO uploads(key, upload_id, src_etag,"
                            " part_size) VALUES(?1, ?2, ?3, ?4)", key, u->upload_id,
                         u->src_etag, u->part_size);
    return rc;
}

int mig_journal_upload_drop(struct mig_journal *j, const char *key)
{
    int rc = locked_exec(j, false, "DELETE FROM parts WHERE key=?1", key, NULL, NULL, 0);
    int rc2 = locked_exec(j, false, "DELETE FROM uploads WHERE key=?1", key, NULL, NULL, 0);
    return rc ? rc : rc2;
}

int mig_journal_part_put(struct mig_journal *j, const char *key, int part, const char *etag)
{
    return locked_exec(j, false, "INSERT OR REPLACE INTO parts(key, part, etag)"
                          " VALUES(?1, ?4, ?2)", key, etag, NULL, part);
}

int mig_journal_parts_each(struct mig_journal *j, const char *key,
                           void (*fn)(void *arg, int part, const char *etag), void *arg)
{
    pthread_mutex_lock(&j->mu);
    sqlite3_stmt *st = prep(j, "SELECT part, etag FROM parts WHERE key=?1 ORDER BY part");
    int rc = st ? 0 : -EIO;
    if (st) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW)
            fn(arg, sqlite3_column_int(st, 0), col_text(st, 1) ? col_text(st, 1) : "");
        release(j, st);
    }
    pthread_mutex_unlock(&j->mu);
    return rc;
}
