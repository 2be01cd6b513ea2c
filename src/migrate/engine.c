/*
 * engine.c - one pass of gz_migrate_copy: list the source into the journal (keys filtered by
 * include/exclude), list the destination (HTTP, or the store's index with dst_store), diff,
 * copy with a pool of worker threads (one libcurl handle per side each; should_stop polled
 * between objects and parts), then delete extraneous destination keys when asked.
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
    struct mig_copy_env env;
    struct mig_throttle throttle;
    struct mig_journal j;
    bool stopped;               /* under mu */
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

static bool stop_now(struct engine *e);

static int on_src_entry(void *arg, const struct mig_entry *ent)
{
    struct engine *e = arg;
    if (!mig_filter_pass(e->opt, ent->key)) {
        e->st->excluded++;
        return 0;
    }
    int rc = mig_journal_add_src(&e->j, ent);
    e->st->listed++;
    e->st->listed_bytes += ent->size;
    if (rc == 0 && ++e->listed_in_tx % 1000 == 0) /* commit in batches: fast and bounded */
        rc = mig_journal_tx(&e->j, "COMMIT; BEGIN");
    if (rc == 0 && e->listed_in_tx % 1000 == 0 && stop_now(e))
        rc = -EINTR; /* stopped while listing: the next pass lists again */
    progress(e, "listing", false);
    return rc;
}

static int on_dst_entry(void *arg, const struct mig_entry *ent)
{
    struct engine *e = arg;
    if (!mig_filter_pass(e->opt, ent->key))
        return 0; /* excluded keys are never extraneous */
    int rc = mig_journal_add_dst(&e->j, ent);
    if (rc == 0 && ++e->listed_in_tx % 1000 == 0)
        rc = mig_journal_tx(&e->j, "COMMIT; BEGIN");
    return rc;
}

static void count_method(struct gz_mig_stats *st, const char *m)
{
    if (strcmp(m, "md5") == 0)
        st->verified_md5++;
    else if (strcmp(m, "crc64") == 0)
        st->verified_crc64++;
    else if (strcmp(m, "mpu-md5") == 0)
        st->verified_mpu++;
    else
        st->verified_sha256++;
}

static void object_done(struct engine *e, const char *key, int rc,
                        const struct mig_copy_result *res, const char *detail)
{
    const char *state = rc ? "failed" : res->waiting ? "waiting" : "verified";
    pthread_mutex_lock(&e->mu);
    e->st->retries += res->retries;
    if (rc) {
        e->st->failed++;
        e->st->failed_bytes += res->size;
    } else if (res->waiting) {
        e->st->waiting++;
        e->st->waiting_bytes += res->size;
    } else {
        e->st->copied++;
        e->st->copied_bytes += res->size;
        e->st->verified++;
        e->st->verified_bytes += res->size;
        count_method(e->st, detail);
        e->st->not_carried += res->not_carried[0] != '\0';
    }
    if (e->opt->on_object) {
        e->opt->on_object(e->opt->cb_arg, key, res->size, state, detail);
        if (rc == 0 && !res->waiting && res->not_carried[0] != '\0')
            e->opt->on_object(e->opt->cb_arg, key, res->size, "not-carried", res->not_carried);
    }
    pthread_mutex_unlock(&e->mu);
}

static bool stop_now(struct engine *e)
{
    bool stop = e->opt->should_stop && e->opt->should_stop(e->opt->cb_arg);
    pthread_mutex_lock(&e->mu);
    e->stopped |= stop;
    stop = e->stopped;
    pthread_mutex_unlock(&e->mu);
    return stop;
}

static void copy_one(struct engine *e, CURL *hs, CURL *hd, const char *key, int64_t size,
                     char *etag, size_t etagsz, const char *sclass)
{
    char err[MIG_ERR_MAX] = "";
    struct mig_copy_result res;
    memset(&res, 0, sizeof(res));
    int rc = -EIO;
    for (int attempt = 0; attempt < MIG_OBJECT_ATTEMPTS; attempt++) {
        if (attempt > 0) {
            res.retries++;
            usleep((useconds_t)(200000u << attempt));
        }
        rc = mig_copy_object(&e->env, hs, hd, key, size, etag, sclass, &res, err, sizeof(err));
        if (rc == 0 || res.permanent || res.stopped)
            break;
        if (rc == -EAGAIN) /* changed between listing and reading: copy the new version */
            mig_copy_restat(&e->env, hs, key, &size, etag, etagsz);
    }
    if (res.stopped) {
        mig_journal_unclaim(&e->j, key);
        pthread_mutex_lock(&e->mu);
        e->stopped = true;
        pthread_mutex_unlock(&e->mu);
        return;
    }
    if (rc == 0 && res.waiting) {
        mig_journal_wait(&e->j, key, err);
    } else if (rc == 0) {
        mig_journal_done(&e->j, key, res.etag, res.sha256, mig_verify_method_name(res.method),
                         res.retries);
        mig_journal_done_extra(&e->j, key, res.size, res.not_carried);
    } else {
        res.size = size;
        mig_journal_fail(&e->j, key, err, res.retries);
    }
    object_done(e, key, rc, &res,
                rc ? err : res.waiting ? err : mig_verify_method_name(res.method));
}

static void *worker(void *arg)
{
    struct engine *e = arg;
    CURL *hs = curl_easy_init(), *hd = curl_easy_init();
    char etag[80], sclass[32];
    for (;;) {
        char *key = NULL;
        int64_t size = 0;
        if (!hs || !hd || stop_now(e) ||
            mig_journal_claim2(&e->j, &key, &size, etag, sizeof(etag), sclass,
                               sizeof(sclass)) != 1)
            break;
        copy_one(e, hs, hd, key, size, etag, sizeof(etag), sclass);
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
        rc = mig_dst_list(&e->dst, h, e->opt->src.prefix, on_dst_entry, e, &retries, err,
                          errsz);
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
    if (rc == 0 && e->opt->delete_extraneous && !e->stopped)
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
    if (rc == 0 && opt->dst_store)
        rc = mig_client_init_store(&e.dst, opt->dst_store, opt->dst.bucket, err, errsz);
    else if (rc == 0)
        rc = mig_client_init(&e.dst, &opt->dst, "destination", err, errsz);
    if (rc)
        return rc;
    if (opt->bandwidth_limit > 0) {
        mig_throttle_init(&e.throttle, opt->bandwidth_limit);
        e.src.throttle = &e.throttle;
    }
    e.env = (struct mig_copy_env){.src = &e.src, .dst = &e.dst, .j = &e.j,
                                  .part_size = e.part_size, .no_restore = opt->no_restore,
                                  .check_acl = opt->check_acl,
                                  .should_stop = opt->should_stop, .stop_arg = opt->cb_arg};
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
    if (e.src.throttle)
        mig_throttle_destroy(&e.throttle);
    curl_global_cleanup();
    st->elapsed_ms = gz_now_ms() - st->started_ms;
    if ((rc == 0 || rc == -EINTR) && e.stopped)
        rc = GZ_MIG_STOPPED;
    else if (rc == 0 && st->failed > 0)
        rc = GZ_MIG_PARTIAL;
    return rc;
}
