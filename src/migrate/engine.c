/*
 * engine.c - one pass of gz_migrate_copy: list the source into the journal, list the
 * destination, diff, copy with a pool of worker threads (one libcurl handle per side each),
 * then delete extraneous destination keys when asked.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "migrate_int.h"

#define MIG_DEFAULT_PART (8 * 1024 * 1024)
#define MIG_MIN_PART (5 * 1024 * 1024)
#define MIG_OBJECT_ATTEMPTS 3
#define MIG_MAX_WORKERS 256

struct engine {
    const struct gz_mig_options *opt;
    struct mig_client src, dst;
    struct mig_journal j;
    struct gz_mig_stats *st;
    pthread_mutex_t mu;         /* stats and callbacks */
    int64_t part_size;
    int active;
    int64_t listed_in_tx;
    int64_t last_progress_ms;
};

static void progress(struct engine *e, const char *phase, bool force)
{
    int64_t now = gz_now_ms();
    if (!e->opt->on_progress || (!force && now - e->last_progress_ms < 1000))
        return;
    e->last_progress_ms = now;
    pthread_mutex_lock(&e->mu);
    e->st->elapsed_ms = now - e->st->started_ms;
    struct gz_mig_stats snap = *e->st;
    pthread_mutex_unlock(&e->mu);
    e->opt->on_progress(e->opt->cb_arg, &snap, phase);
}

static int on_src_entry(void *arg, const struct mig_entry *ent)
{
    struct engine *e = arg;
    int rc = mig_journal_add_src(&e->j, ent);
    e->st->listed++;
    e->st->listed_bytes += ent->size;
    if (rc == 0 && ++e->listed_in_tx % 1000 == 0) /* commit in batches: fast and bounded */
        rc = mig_journal_tx(&e->j, "COMMIT; BEGIN");
    progress(e, "listing", false);
    return rc;
}

static int on_dst_entry(void *arg, const struct mig_entry *ent)
{
    struct engine *e = arg;
    int rc = mig_journal_add_dst(&e->j, ent);
    if (rc == 0 && ++e->listed_in_tx % 1000 == 0)
        rc = mig_journal_tx(&e->j, "COMMIT; BEGIN");
    return rc;
}

static void object_done(struct engine *e, const char *key, int64_t size, int rc,
                        const char *detail, int64_t retries)
{
    pthread_mutex_lock(&e->mu);
    e->st->retries += retries;
    if (rc == 0) {
        e->st->copied++;
        e->st->copied_bytes += size;
        e->st->verified++;
        e->st->verified_bytes += size;
        if (strcmp(detail, "md5") == 0)
            e->st->verified_md5++;
        else
            e->st->verified_sha256++;
    } else {
        e->st->failed++;
        e->st->failed_bytes += size;
    }
    if (e->opt->on_object)
        e->opt->on_object(e->opt->cb_arg, key, size, rc == 0 ? "verified" : "failed", detail);
    pthread_mutex_unlock(&e->mu);
}

static void copy_one(struct engine *e, CURL *hs, CURL *hd, const char *key, int64_t size,
                     const char *etag)
{
    char sha[65] = "", err[MIG_ERR_MAX] = "";
    enum mig_method method = MIG_VERIFY_SHA256;
    int64_t retries = 0;
    bool permanent = false;
    int rc = -EIO;
    for (int attempt = 0; attempt < MIG_OBJECT_ATTEMPTS; attempt++) {
        if (attempt > 0) {
            retries++;
            usleep((useconds_t)(200000u << attempt));
        }
        rc = mig_copy_object(&e->src, &e->dst, hs, hd, key, size, etag, e->part_size, sha,
                             &method, &retries, &permanent, err, sizeof(err));
        if (rc == 0 || permanent)
            break;
    }
    if (rc == 0)
        mig_journal_done(&e->j, key, etag, sha, mig_verify_method_name(method), retries);
    else
        mig_journal_fail(&e->j, key, err, retries);
    object_done(e, key, size, rc, rc == 0 ? mig_verify_method_name(method) : err, retries);
}

static void *worker(void *arg)
{
    struct engine *e = arg;
    CURL *hs = curl_easy_init(), *hd = curl_easy_init();
    char etag[80];
    for (;;) {
        char *key = NULL;
        int64_t size = 0;
        if (!hs || !hd || mig_journal_claim(&e->j, &key, &size, etag, sizeof(etag)) != 1)
            break;
        copy_one(e, hs, hd, key, size, etag);
        gz_free(key);
    }
    curl_easy_cleanup(hs);
    curl_easy_cleanup(hd);
    pthread_mutex_lock(&e->mu);
    e->active--;
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

static int run_workers(struct engine *e)
{
    int n = e->opt->concurrency > 0 ? e->opt->concurrency : 8;
    if (n > MIG_MAX_WORKERS)
        n = MIG_MAX_WORKERS;
    pthread_t tids[MIG_MAX_WORKERS];
    int started = 0;
    e->active = n;
    for (; started < n; started++)
        if (pthread_create(&tids[started], NULL, worker, e) != 0)
            break;
    pthread_mutex_lock(&e->mu);
    e->active -= n - started;
    pthread_mutex_unlock(&e->mu);
    for (;;) {
        pthread_mutex_lock(&e->mu);
        int active = e->active;
        pthread_mutex_unlock(&e->mu);
        if (active <= 0)
            break;
        usleep(100000);
        progress(e, "copying", false);
    }
    for (int i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    return started > 0 ? 0 : -EAGAIN;
}

static int delete_extraneous(struct engine *e, CURL *h)
{
    char *keys[256], *last = NULL;
    int n;
    while ((n = mig_journal_extraneous(&e->j, last, keys, 256)) > 0) {
        for (int i = 0; i < n; i++) {
            char err[MIG_ERR_MAX];
            int64_t retries = 0;
            e->st->to_delete++;
            if (!e->opt->dry_run &&
                mig_delete_object(&e->dst, h, keys[i], &retries, err, sizeof(err)) == 0)
                e->st->deleted++;
            else if (!e->opt->dry_run)
                log_warn("migrate: cannot delete %s: %s", keys[i], err);
            if (e->opt->on_object && !e->opt->dry_run)
                e->opt->on_object(e->opt->cb_arg, keys[i], 0, "deleted", "extraneous");
        }
        gz_free(last);
        last = keys[n - 1];
        for (int i = 0; i < n - 1; i++)
            gz_free(keys[i]);
    }
    gz_free(last);
    return n < 0 ? n : 0;
}

static int list_both(struct engine *e, CURL *h, char *err, size_t errsz)
{
    int64_t retries = 0;
    int rc = mig_journal_begin_pass(&e->j);
    if (rc == 0)
        rc = mig_journal_tx(&e->j, "BEGIN");
    if (rc == 0)
        rc = mig_list(&e->src, h, e->opt->src.prefix, on_src_entry, e, &retries, err, errsz);
    if (rc == 0)
        rc = mig_journal_tx(&e->j, "COMMIT; BEGIN");
    if (rc == 0)
        rc = mig_journal_clear_dst(&e->j);
    if (rc == 0)
        rc = mig_list(&e->dst, h, e->opt->src.prefix, on_dst_entry, e, &retries, err, errsz);
    if (rc == 0)
        rc = mig_journal_tx(&e->j, "COMMIT");
    else
        mig_journal_tx(&e->j, "ROLLBACK");
    e->st->retries += retries;
    if (rc && !err[0])
        snprintf(err, errsz, "journal: %s", gz_strerror(rc));
    return rc;
}

static int open_journal(struct engine *e, char *tmp, size_t tmpsz, char *err, size_t errsz)
{
    const char *path = e->opt->journal_path;
    tmp[0] = '\0';
    if (!path) {
        const char *dir = getenv("TMPDIR");
        snprintf(tmp, tmpsz, "%s/gzy-migrate-XXXXXX", dir && *dir ? dir : "/tmp");
        int fd = mkstemp(tmp);
        if (fd < 0) {
            snprintf(err, errsz, "cannot create a temporary journal in %s", tmp);
            tmp[0] = '\0';
            return -errno;
        }
        close(fd);
        path = tmp;
    }
    return mig_journal_open(&e->j, path, err, errsz);
}

static void remove_tmp(const char *tmp)
{
    char p[600];
    if (!tmp[0])
        return;
    unlink(tmp);
    snprintf(p, sizeof(p), "%s-wal", tmp);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", tmp);
    unlink(p);
}

static int pass_run(struct engine *e, char *err, size_t errsz)
{
    CURL *h = curl_easy_init();
    int rc = h ? list_both(e, h, err, errsz) : -ENOMEM;
    if (rc == 0) {
        progress(e, "diff", true);
        rc = mig_journal_diff(&e->j, e->st);
        if (rc)
            snprintf(err, errsz, "journal: diff failed");
    }
    if (rc == 0 && !e->opt->dry_run) {
        progress(e, "copying", true);
        rc = run_workers(e);
        if (rc)
            snprintf(err, errsz, "cannot start worker threads");
    }
    if (rc == 0 && e->opt->delete_extraneous)
        rc = delete_extraneous(e, h);
    if (h)
        curl_easy_cleanup(h);
    return rc;
}

int gz_migrate_copy(const struct gz_mig_options *opt, struct gz_mig_stats *st,
                    gz_mig_failed_fn *on_failed, void *failed_arg, char *err, size_t errsz)
{
    struct engine e = {.opt = opt, .st = st};
    char tmp[512];
    memset(st, 0, sizeof(*st));
    st->started_ms = gz_now_ms();
    err[0] = '\0';
    e.part_size = opt->part_size > 0 ? opt->part_size : MIG_DEFAULT_PART;
    if (e.part_size < MIG_MIN_PART)
        e.part_size = MIG_MIN_PART;
    int rc = mig_client_init(&e.src, &opt->src, "source", err, errsz);
    if (rc == 0)
        rc = mig_client_init(&e.dst, &opt->dst, "destination", err, errsz);
    if (rc)
        return rc;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errsz, "libcurl initialisation failed");
        return -EIO;
    }
    pthread_mutex_init(&e.mu, NULL);
    rc = open_journal(&e, tmp, sizeof(tmp), err, errsz);
    if (rc == 0) {
        rc = pass_run(&e, err, errsz);
        if (rc == 0 && on_failed)
            mig_journal_failed_each(&e.j, on_failed, failed_arg);
        mig_journal_close(&e.j);
    }
    remove_tmp(tmp);
    pthread_mutex_destroy(&e.mu);
    curl_global_cleanup();
    st->elapsed_ms = gz_now_ms() - st->started_ms;
    if (rc == 0 && st->failed > 0)
        rc = GZ_MIG_PARTIAL;
    return rc;
}
