/*
 * engine.c - one pass of gz_migrate_copy: create a missing destination bucket (HTTP), list
 * the source into the journal (keys filtered by include/exclude), list the destination (HTTP,
 * or the store's index with dst_store), diff, copy with a pool of worker threads (one libcurl
 * handle per side each; should_stop polled between objects and parts), then delete
 * extraneous destination keys when asked.
 *
 * Objects up to MIG_PIPE_MAX go through a pipeline: a worker GETs and verifies one and queues
 * it (at most MIG_PIPE_QUEUE_BYTES, and MIG_PIPE_QUEUE_PER_PUTTER objects per putter, wait:
 * memory stays flat however many tiny or empty objects there are), one of as many putter
 * threads writes it and records the outcome, and the worker is already reading the next:
 * concurrency N means N source reads and up to N destination writes in flight. Outcomes
 * reach the journal in batches (journal.c), all committed before the pass reports.
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
    bool dst_missing;           /* dry run into a bucket that does not exist yet */
    struct gz_mig_stats *st;
    pthread_mutex_t mu;         /* stats and callbacks */
    int64_t part_size;
    int active;
    int64_t listed_in_tx;
    int64_t last_progress_ms;
    /* small objects fetched, waiting for a putter (under mu; pipe set before workers start) */
    bool pipe;
    pthread_cond_t q_items;     /* an item queued, or the last fetcher gone (putters wait) */
    pthread_cond_t q_room;      /* room freed in the queue (fetchers wait) */
    struct put_item *q_head, *q_tail;
    int64_t q_bytes;
    int q_count, q_max_count;   /* queued; the bound (set before workers start) */
    int q_room_waiters;
    int fetchers;               /* fetching workers still running */
};

/* A small object fetched and verified by a worker, written by a putter. */
struct put_item {
    struct put_item *next;
    char *key;
    int64_t size;               /* as listed: for a fallback copy */
    char etag[80], sclass[32];  /* as listed */
    struct mig_fetched f;
    struct mig_copy_result res;
};

#define MIG_PIPE_QUEUE_BYTES (16 * 1024 * 1024) /* fetched bytes waiting for a putter */
/* Fetched objects waiting, per putter: a byte bound alone lets tiny (or empty) objects pile
 * up by the hundred thousand while the reads outrun the writes, each with its response
 * headers and buffers (~2 KiB). Measured gzy -> gzy, 30,000 x 16 B at concurrency 16: 4 per
 * putter cost ~30% of the rate, 32 matched the unbounded queue (20 MiB peak RSS, was 58-64). */
#define MIG_PIPE_QUEUE_PER_PUTTER 32

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

/* Records an object's outcome in the journal and the stats. */
static void copy_outcome(struct engine *e, const char *key, int rc, struct mig_copy_result *res,
                         int64_t size, const char *err)
{
    if (rc == 0 && res->waiting) {
        mig_journal_wait(&e->j, key, err);
    } else if (rc == 0) {
        mig_journal_verified(&e->j, key, res->etag, res->sha256,
                             mig_verify_method_name(res->method), res->retries, res->size,
                             res->not_carried);
    } else {
        res->size = size;
        mig_journal_fail(&e->j, key, err, res->retries);
    }
    object_done(e, key, rc, res,
                rc ? err : res->waiting ? err : mig_verify_method_name(res->method));
}

/* Hands a fetched object to the putters; waits while the queue holds too many bytes or
 * items. */
static void queue_put(struct engine *e, struct put_item *it)
{
    pthread_mutex_lock(&e->mu);
    while (e->q_head && (e->q_count >= e->q_max_count ||
                         e->q_bytes + (int64_t)it->f.resp.body.len > MIG_PIPE_QUEUE_BYTES)) {
        e->q_room_waiters++;
        pthread_cond_wait(&e->q_room, &e->mu);
        e->q_room_waiters--;
    }
    if (e->q_tail)
        e->q_tail->next = it;
    else
        e->q_head = it;
    e->q_tail = it;
    e->q_bytes += (int64_t)it->f.resp.body.len;
    e->q_count++;
    pthread_cond_signal(&e->q_items); /* one putter is enough */
    pthread_mutex_unlock(&e->mu);
}

/* One attempt: the small-object pipeline's first half (1: queued) or the whole copy. */
static int copy_attempt(struct engine *e, CURL *hs, CURL *hd, const char *key, int64_t size,
                        const char *etag, const char *sclass, bool pipe,
                        struct mig_copy_result *res, char *err, size_t errsz)
{
    if (!pipe || !mig_copy_pipelinable(&e->env, size, etag, sclass))
        return mig_copy_object(&e->env, hs, hd, key, size, etag, sclass, res, err, errsz);
    struct put_item *it = gz_calloc(1, sizeof(*it));
    int rc = mig_copy_fetch(&e->env, hs, hd, key, size, etag, &it->f, res, err, errsz);
    if (rc == 1) {
        it->key = gz_strdup(key);
        it->size = size;
        snprintf(it->etag, sizeof(it->etag), "%s", etag);
        snprintf(it->sclass, sizeof(it->sclass), "%s", sclass);
        it->res = *res;
        queue_put(e, it);
    } else {
        gz_free(it);
    }
    return rc;
}

/* Copies one object with up to MIG_OBJECT_ATTEMPTS attempts; with pipe, a small one is
 * handed to a putter after its GET, which then records the outcome. */
static void copy_one(struct engine *e, CURL *hs, CURL *hd, const char *key, int64_t size,
                     char *etag, size_t etagsz, const char *sclass, bool pipe,
                     int64_t retries)
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
        rc = copy_attempt(e, hs, hd, key, size, etag, sclass, pipe, &res, err, sizeof(err));
        if (rc == 1)
            return; /* the putter finishes it */
        if (rc == 0 || res.permanent || res.stopped)
            break;
        if (rc == -EAGAIN) /* changed between listing and reading: copy the new version */
            mig_copy_restat(&e->env, hs, key, &size, etag, etagsz);
    }
    res.retries += retries;
    if (res.stopped) {
        mig_journal_unclaim(&e->j, key);
        pthread_mutex_lock(&e->mu);
        e->stopped = true;
        pthread_mutex_unlock(&e->mu);
        return;
    }
    copy_outcome(e, key, rc, &res, size, err);
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
        copy_one(e, hs, hd, key, size, etag, sizeof(etag), sclass, e->pipe, 0);
        gz_free(key);
    }
    curl_easy_cleanup(hs);
    curl_easy_cleanup(hd);
    pthread_mutex_lock(&e->mu);
    e->fetchers--;
    e->active--;
    if (e->fetchers == 0)
        pthread_cond_broadcast(&e->q_items); /* idle putters: nothing more is coming */
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

/* The next fetched object, or NULL once the queue is empty and every fetcher has gone. */
static struct put_item *queue_take(struct engine *e)
{
    pthread_mutex_lock(&e->mu);
    while (!e->q_head && e->fetchers > 0)
        pthread_cond_wait(&e->q_items, &e->mu);
    struct put_item *it = e->q_head;
    if (it) {
        e->q_head = it->next;
        if (!e->q_head)
            e->q_tail = NULL;
        e->q_bytes -= (int64_t)it->f.resp.body.len;
        e->q_count--;
        if (e->q_room_waiters > 0)
            pthread_cond_broadcast(&e->q_room);
    }
    pthread_mutex_unlock(&e->mu);
    return it;
}

/* Writes fetched objects until none is left; a failed write is retried as a whole copy. */
static void *putter(void *arg)
{
    struct engine *e = arg;
    CURL *hs = curl_easy_init(), *hd = curl_easy_init();
    struct put_item *it;
    while ((it = queue_take(e)) != NULL) {
        char err[MIG_ERR_MAX] = "";
        int rc = hs && hd ? mig_copy_put(&e->env, hd, it->key, &it->f, &it->res, err,
                                         sizeof(err))
                          : -ENOMEM;
        if (rc == 0 || it->res.permanent || !hs || !hd)
            copy_outcome(e, it->key, rc, &it->res, it->size, err);
        else
            copy_one(e, hs, hd, it->key, it->size, it->etag, sizeof(it->etag), it->sclass,
                     false, it->res.retries + 1);
        mig_resp_free(&it->f.resp);
        gz_free(it->key);
        gz_free(it);
    }
    curl_easy_cleanup(hs);
    curl_easy_cleanup(hd);
    pthread_mutex_lock(&e->mu);
    e->active--;
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

static int start_threads(struct engine *e, pthread_t *tids, int n, void *(*fn)(void *))
{
    int started = 0;
    while (started < n && pthread_create(&tids[started], NULL, fn, e) == 0)
        started++;
    return started;
}

/* n fetching workers, and as many putters for the small objects they fetch. */
static int run_workers(struct engine *e)
{
    int n = e->opt->concurrency > 0 ? e->opt->concurrency : 8;
    if (n > MIG_MAX_WORKERS)
        n = MIG_MAX_WORKERS;
    pthread_t tids[MIG_MAX_WORKERS], ptids[MIG_MAX_WORKERS];
    mig_journal_batch(&e->j, true); /* outcomes committed in batches (journal.c) */
    pthread_mutex_lock(&e->mu);
    e->fetchers = n; /* before any putter looks */
    e->active = 2 * n;
    pthread_mutex_unlock(&e->mu);
    int nput = start_threads(e, ptids, n, putter);
    e->pipe = nput > 0;
    e->q_max_count = MIG_PIPE_QUEUE_PER_PUTTER * (nput > 0 ? nput : 1);
    int started = start_threads(e, tids, n, worker);
    pthread_mutex_lock(&e->mu);
    e->active -= (n - nput) + (n - started);
    e->fetchers -= n - started;
    pthread_cond_broadcast(&e->q_items);
    pthread_mutex_unlock(&e->mu);
    for (;;) {
        pthread_mutex_lock(&e->mu);
        int active = e->active;
        pthread_mutex_unlock(&e->mu);
        if (active <= 0)
            break;
        usleep(MIG_JOURNAL_BATCH_MS * 1000 / 2);
        mig_journal_tick(&e->j);
        progress(e, "copying", false);
    }
    for (int i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    for (int i = 0; i < nput; i++)
        pthread_join(ptids[i], NULL);
    /* before the pass reports anything (done, stopped): every outcome is on disk */
    if (mig_journal_batch(&e->j, false) < 0)
        log_warn("migrate: journal commit failed: those objects are copied again next pass");
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

/* CreateBucket of the destination (HTTP), in the region the destination was given. */
static int dst_bucket_create(struct engine *e, CURL *h, int64_t *retries, char *err,
                             size_t errsz)
{
    const char *region = e->opt->dst.region;
    char body[512] = "";
    if (region && *region && strcmp(region, "us-east-1") != 0)
        snprintf(body, sizeof(body),
                 "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                 "<LocationConstraint>%s</LocationConstraint></CreateBucketConfiguration>",
                 region);
    struct mig_resp resp;
    mig_resp_init(&resp, 16 * 1024);
    struct mig_req rq = {.method = "PUT", .body = body, .body_len = strlen(body)};
    int rc = mig_s3_call(&e->dst, h, &rq, &resp, MIG_MAX_ATTEMPTS, retries);
    if (rc == 0 && resp.status / 100 == 2) {
        log_info("migrate: created the destination bucket %s", e->dst.bucket);
    } else if (rc == 0 && strcmp(resp.code, "BucketAlreadyOwnedByYou") == 0) {
        rc = 0; /* created meanwhile */
    } else {
        char why[MIG_ERR_MAX];
        mig_resp_describe(&resp, why, sizeof(why));
        snprintf(err, errsz, "destination bucket %s does not exist and cannot be created: %s",
                 e->dst.bucket, why);
        rc = rc ? rc : resp.status == 403 ? -EACCES : -EIO;
    }
    mig_resp_free(&resp);
    return rc;
}

/* Over HTTP, a destination bucket that does not exist is created (as rclone and mc do); a
 * dry run only notes it and lists nothing there. Anything but a 404 is left to the listing
 * to report. */
static int dst_bucket_ensure(struct engine *e, CURL *h, char *err, size_t errsz)
{
    if (e->dst.store)
        return 0; /* the caller made sure it exists (mig_client_init_store) */
    struct mig_resp resp;
    mig_resp_init(&resp, 4096);
    struct mig_req rq = {.method = "HEAD"};
    int64_t retries = 0;
    int rc = mig_s3_call(&e->dst, h, &rq, &resp, MIG_MAX_ATTEMPTS, &retries);
    bool missing = rc == 0 && resp.status == 404;
    mig_resp_free(&resp);
    rc = 0;
    if (missing && e->opt->dry_run)
        e->dst_missing = true;
    else if (missing)
        rc = dst_bucket_create(e, h, &retries, err, errsz);
    e->st->retries += retries;
    return rc;
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
    if (rc == 0 && !e->dst_missing)
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

void gz_migrate_journal_remove(const char *path)
{
    char p[4200];
    unlink(path);
    snprintf(p, sizeof(p), "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", path);
    unlink(p);
}

static int pass_run(struct engine *e, char *err, size_t errsz)
{
    CURL *h = curl_easy_init();
    int rc = h ? dst_bucket_ensure(e, h, err, errsz) : -ENOMEM;
    if (rc == 0)
        rc = list_both(e, h, err, errsz);
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
        rc = mig_client_init_sealed(&e.dst, opt->dst_store, opt->dst_sealer, opt->dst.bucket,
                                    err, errsz);
    else if (rc == 0)
        rc = mig_client_init(&e.dst, &opt->dst, "destination", err, errsz);
    if (rc)
        return rc;
    if (opt->bandwidth_limit > 0) {
        mig_throttle_init(&e.throttle, opt->bandwidth_limit, opt->should_stop, opt->cb_arg);
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
    pthread_cond_init(&e.q_items, NULL);
    pthread_cond_init(&e.q_room, NULL);
    rc = open_journal(&e, tmp, sizeof(tmp), err, errsz);
    if (rc == 0) {
        rc = pass_run(&e, err, errsz);
        if (rc == 0 && on_failed)
            mig_journal_failed_each(&e.j, on_failed, failed_arg);
        mig_journal_close(&e.j);
    }
    if (tmp[0])
        gz_migrate_journal_remove(tmp);
    pthread_cond_destroy(&e.q_items);
    pthread_cond_destroy(&e.q_room);
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
