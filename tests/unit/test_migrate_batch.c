/*
 * test_migrate_batch.c - the journal's batched outcomes (one transaction per
 * MIG_JOURNAL_BATCH writes or MIG_JOURNAL_BATCH_MS, committed on flush, tick, batch off and
 * close; a kill -9 loses at most the open batch) and its statements kept for its lifetime.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../src/migrate/migrate_int.h"
#include "tap.h"

#define N_KEYS 300

static void journal_path(char *path, size_t sz)
{
    snprintf(path, sz, "/tmp/gzy-test-migbatch-XXXXXX");
    int fd = mkstemp(path);
    close(fd);
}

/* A journal whose pass 1 lists N_KEYS source keys, all to copy. */
static void journal_fill(struct mig_journal *j, const char *path)
{
    char err[256];
    TAP_OK(mig_journal_open(j, path, err, sizeof(err)) == 0, "open: %s", err);
    TAP_OK(mig_journal_begin_pass(j) == 0, "pass");
    TAP_OK(mig_journal_tx(j, "BEGIN") == 0, "begin listing");
    int bad = 0;
    for (int i = 0; i < N_KEYS; i++) {
        char key[32];
        snprintf(key, sizeof(key), "k%05d", i);
        struct mig_entry e = {.key = key, .size = 4, .mtime = 1};
        snprintf(e.etag, sizeof(e.etag), "0123456789abcdef0123456789abcdef");
        bad += mig_journal_add_src(j, &e) != 0;
    }
    TAP_OK(bad == 0 && mig_journal_tx(j, "COMMIT") == 0, "%d keys listed", N_KEYS);
    struct gz_mig_stats st = {0};
    TAP_OK(mig_journal_diff(j, &st) == 0 && st.to_copy == N_KEYS, "all to copy");
}

/* Verified rows as another connection sees them (committed ones only). */
static int64_t committed_verified(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t n = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM src WHERE state='verified'", -1, &st,
                           NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* Claims and marks verified n objects; returns how many it marked. */
static int mark(struct mig_journal *j, int n)
{
    int done = 0;
    for (int i = 0; i < n; i++) {
        char *key = NULL, etag[80];
        int64_t size;
        if (mig_journal_claim(j, &key, &size, etag, sizeof(etag)) != 1)
            break;
        done += mig_journal_verified(j, key, etag, "sha", "md5", 0, size, "") == 0;
        gz_free(key);
    }
    return done;
}

static int open_stmts(struct mig_journal *j)
{
    int n = 0;
    for (sqlite3_stmt *s = sqlite3_next_stmt(j->db, NULL); s; s = sqlite3_next_stmt(j->db, s))
        n++;
    return n;
}

static void t_batches(void)
{
    char path[64];
    struct mig_journal j;
    journal_path(path, sizeof(path));
    journal_fill(&j, path);
    TAP_OK(mig_journal_batch(&j, true) == 0, "batching on");
    TAP_OK(mark(&j, 10) == 10, "10 marked");
    TAP_OK(committed_verified(path) == 0, "not committed yet (%lld)",
           (long long)committed_verified(path));
    TAP_OK(mig_journal_count(&j, "verified") == 10, "but the journal itself sees them");
    TAP_OK(mig_journal_flush(&j) == 0 && committed_verified(path) == 10, "flush commits");
    TAP_OK(mark(&j, MIG_JOURNAL_BATCH) == MIG_JOURNAL_BATCH &&
           committed_verified(path) == 10 + MIG_JOURNAL_BATCH,
           "a full batch commits by itself (%lld)", (long long)committed_verified(path));
    TAP_OK(mark(&j, 5) == 5 && committed_verified(path) == 10 + MIG_JOURNAL_BATCH, "5 open");
    mig_journal_tick(&j);
    TAP_OK(committed_verified(path) == 10 + MIG_JOURNAL_BATCH, "a young batch stays open");
    usleep((MIG_JOURNAL_BATCH_MS + 20) * 1000);
    mig_journal_tick(&j);
    TAP_OK(committed_verified(path) == 15 + MIG_JOURNAL_BATCH, "an old one commits on tick");
    TAP_OK(mark(&j, 3) == 3, "3 more");
    TAP_OK(mig_journal_tx(&j, "BEGIN") == 0 && mig_journal_tx(&j, "COMMIT") == 0,
           "an explicit transaction commits the batch first");
    TAP_OK(committed_verified(path) == 18 + MIG_JOURNAL_BATCH, "committed");
    TAP_OK(mark(&j, 2) == 2, "2 more");
    struct mig_upload_rec u = {.part_size = 5};
    snprintf(u.upload_id, sizeof(u.upload_id), "up");
    TAP_OK(mig_journal_upload_put(&j, "k09999", &u) == 0 &&
           committed_verified(path) == 20 + MIG_JOURNAL_BATCH,
           "an upload record commits at once, with the batch");
    TAP_OK(mark(&j, 4) == 4, "4 more");
    TAP_OK(mig_journal_batch(&j, false) == 0 &&
           committed_verified(path) == 24 + MIG_JOURNAL_BATCH, "batching off commits");
    TAP_OK(mark(&j, 1) == 1 && committed_verified(path) == 25 + MIG_JOURNAL_BATCH,
           "unbatched: each write commits");
    mig_journal_batch(&j, true);
    TAP_OK(mark(&j, 6) == 6, "6 more, batched");
    mig_journal_close(&j);
    TAP_OK(committed_verified(path) == 31 + MIG_JOURNAL_BATCH, "close commits");
    gz_migrate_journal_remove(path);
}

/* kill -9 with a batch open: what was committed stays verified, the open batch is lost and
 * its objects are simply still to copy. */
static void t_kill9(void)
{
    char path[64], err[256];
    struct mig_journal j;
    journal_path(path, sizeof(path));
    journal_fill(&j, path);
    mig_journal_close(&j);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (mig_journal_open(&j, path, err, sizeof(err)) != 0) /* pass 1, still pending */
            _exit(2);
        mig_journal_batch(&j, true);
        mark(&j, MIG_JOURNAL_BATCH + 7);
        raise(SIGKILL);
        _exit(3);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    TAP_OK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child killed");
    TAP_OK(committed_verified(path) == MIG_JOURNAL_BATCH, "the full batch survived (%lld)",
           (long long)committed_verified(path));
    TAP_OK(mig_journal_open(&j, path, err, sizeof(err)) == 0 && mig_journal_begin_pass(&j) == 0,
           "reopen, next pass");
    TAP_OK(mig_journal_tx(&j, "BEGIN") == 0, "begin listing");
    for (int i = 0; i < N_KEYS; i++) {
        char key[32];
        snprintf(key, sizeof(key), "k%05d", i);
        struct mig_entry e = {.key = key, .size = 4, .mtime = 1};
        snprintf(e.etag, sizeof(e.etag), "0123456789abcdef0123456789abcdef");
        mig_journal_add_src(&j, &e);
        if (i < MIG_JOURNAL_BATCH + 7) /* the objects the killed pass wrote */
            mig_journal_add_dst(&j, &e);
    }
    mig_journal_tx(&j, "COMMIT");
    struct gz_mig_stats st = {0};
    TAP_OK(mig_journal_diff(&j, &st) == 0, "diff");
    TAP_OK(st.skipped == MIG_JOURNAL_BATCH + 7 && st.to_copy == N_KEYS - MIG_JOURNAL_BATCH - 7,
           "resume: %lld skipped, %lld to copy", (long long)st.skipped, (long long)st.to_copy);
    TAP_OK(mig_journal_count(&j, "verified") == MIG_JOURNAL_BATCH + 7, "verified now");
    sqlite3_stmt *q = NULL;
    int64_t existing = -1;
    if (sqlite3_prepare_v2(j.db, "SELECT COUNT(*) FROM src WHERE method='existing'", -1, &q,
                           NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
        existing = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    TAP_OK(existing == 7, "the lost batch's 7 found at the destination, not recopied (%lld)",
           (long long)existing);
    mig_journal_close(&j);
    gz_migrate_journal_remove(path);
}

/* Statements are prepared once: the connection's statement count stays flat. */
static void t_statements(void)
{
    char path[64];
    struct mig_journal j;
    journal_path(path, sizeof(path));
    journal_fill(&j, path);
    mig_journal_batch(&j, true);
    mark(&j, 5);
    int before = open_stmts(&j);
    TAP_OK(before > 0 && before <= MIG_JOURNAL_STMTS, "%d statements kept", before);
    mark(&j, 50);
    for (int i = 0; i < 100; i++)
        mig_journal_count(&j, "verified");
    TAP_OK(open_stmts(&j) <= before + 1, "still %d after 50 more objects", open_stmts(&j));
    TAP_OK(mig_journal_count(&j, "verified") == 55, "55 verified");
    mig_journal_close(&j);
    gz_migrate_journal_remove(path);
}

int main(void)
{
    TAP_RUN(t_batches);
    TAP_RUN(t_kill9);
    TAP_RUN(t_statements);
    return tap_done();
}
