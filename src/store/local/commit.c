/*
 * commit.c - the group-commit queue.
 *
 * A mutation is an op, queued in submission order and applied in that order. An op whose
 * body lives in a file is also handed to a sync thread, which fdatasyncs the file and fsyncs
 * its folder (several sync threads, so the files of one batch reach the disk in parallel and
 * while the committer is busy with the previous batch). The committer thread takes the
 * longest ready prefix of the queue (up to STORE__BATCH_MAX), applies it in ONE transaction
 * (a savepoint per op, so one op's failure does not undo the others), commits (one WAL fsync
 * for the whole batch), unlinks the files whose last reference the batch dropped, and calls
 * every done callback.
 *
 * Redis' beforesleep/AE_BARRIER and PostgreSQL's commit_delay are the same idea: the cost of
 * an fsync is shared by everything that arrived while the previous one was running, so under
 * load batches grow by themselves and no timer is needed.
 */
#include <errno.h>

#include "local_int.h"

struct store__op *store__op_new(enum store__op_kind kind, store_done_cb done, void *ud)
{
    struct store__op *op = gz_calloc(1, sizeof(*op));
    op->kind = kind;
    op->done = done;
    op->ud = ud;
    return op;
}

struct gz_slice store__slice_dup(struct gz_slice v)
{
    char *p = gz_malloc(v.len ? v.len : 1);
    if (v.len)
        memcpy(p, v.ptr, v.len);
    return gz_slice(p, v.len);
}

void store__op_free(struct store__op *op)
{
    if (op == NULL)
        return;
    gz_free((void *)op->bucket.ptr);
    gz_free((void *)op->key.ptr);
    gz_free((void *)op->bucket2.ptr);
    gz_free((void *)op->key2.ptr);
    gz_free((void *)op->headers.ptr);
    gz_free((void *)op->file.ptr);
    gz_free(op->parts);
    store__idvec_free(&op->unlinks);
    store__writer_free(op->w);
    gz_free(op);
}

/* Does the op's body still need to become a durable file before it can be applied? */
static bool op_needs_sync(const struct store *s, const struct store__op *op)
{
    const struct store_writer *w = op->w;
    if (w == NULL || w->err != 0 || w->synced || op->status != 0)
        return false;
    if (op->kind == OP_PART && !w->has_file)
        return true; /* parts are always files: spill the inline bytes */
    return w->has_file && s->sync;
}

static int op_dispatch(struct store *s, struct store__conn *c, struct store__op *op)
{
    switch (op->kind) {
    case OP_PUT: return store__apply_put(s, c, op);
    case OP_DELETE: return store__apply_delete(s, c, op);
    case OP_COPY: return store__apply_copy(s, c, op);
    case OP_BUCKET_CREATE: return store__apply_bucket_create(s, c, op);
    case OP_BUCKET_DELETE: return store__apply_bucket_delete(s, c, op);
    case OP_UPLOAD_CREATE: return store__apply_upload_create(s, c, op);
    case OP_PART: return store__apply_part(s, c, op);
    case OP_COMPLETE: return store__apply_complete(s, c, op);
    case OP_ABORT: return store__apply_abort(s, c, op);
    case OP_BUCKET_OWNER: return store__apply_bucket_owner(s, c, op);
    case OP_BUCKET_QUOTA:
    case OP_OWNER_QUOTA: return store__apply_quota(s, c, op);
    case OP_BUCKET_ATTR: return store__apply_bucket_attr(s, c, op);
    case OP_MARK_CORRUPT: return store__apply_mark(s, c, op);
    case OP_META_SET: return store__apply_meta(s, c, op);
    }
    return -EINVAL;
}

/* Applies one op inside a savepoint. Returns the op's status; *fatal gets an error that
 * leaves the transaction unusable (the whole batch then fails). */
static int op_apply(struct store *s, struct store__conn *c, struct store__op *op, int *fatal)
{
    int rc = store__usage_barrier(op) ? store__usage_flush(s, c) : 0;
    if (rc == 0)
        rc = store__exec(c, ST_SAVEPOINT);
    if (rc < 0) {
        *fatal = rc;
        return rc;
    }
    int status = op_dispatch(s, c, op);
    if (status == 0) {
        rc = store__exec(c, ST_RELEASE);
        if (rc < 0)
            *fatal = rc;
        else
            store__usage_applied(s, op); /* the op's usage change joins the batch's */
        if (op->w != NULL)
            op->w->keep = op->w->has_file; /* the index references it now */
        return rc < 0 ? rc : 0;
    }
    op->unlinks.n = 0;
    rc = store__exec(c, ST_ROLLBACK_TO);
    if (rc == 0)
        rc = store__exec(c, ST_RELEASE);
    if (rc < 0)
        *fatal = rc;
    return status;
}

/* The transaction failed: whatever it did may or may not be on disk (an fsync error leaves
 * that unknown), so remove nothing; the sweep at the next open decides from the index. */
static void batch_fail(struct store *s, struct store__op *batch, int rc)
{
    log_error("store: group commit failed: %s", gz_strerror(rc));
    for (struct store__op *op = batch; op; op = op->next) {
        if (op->status == 0) {
            op->status = rc;
            op->unlinks.n = 0;
            if (op->w != NULL)
                op->w->keep = true;
        }
    }
    pthread_mutex_lock(&s->mu);
    s->maybe_orphans = true;
    pthread_mutex_unlock(&s->mu);
}

static void batch_run(struct store *s, struct store__op *batch)
{
    struct store__conn *c = s->wconn;
    uint64_t n = 0;
    int rc;

    for (struct store__op *op = batch; op; op = op->next, n++) {
        if (op_needs_sync(s, op))
            op->status = store__writer_durable(op->w, op->kind == OP_PART);
    }
    rc = store__exec(c, ST_BEGIN_IMM);
    if (rc == 0) {
        for (struct store__op *op = batch; op && rc == 0; op = op->next) {
            if (op->status == 0)
                op->status = op_apply(s, c, op, &rc);
        }
        if (rc == 0)
            rc = store__usage_flush(s, c); /* usage commits with what it counts */
        if (rc == 0) {
            store__conn_pool_unpin(s); /* the WAL restarts when this commit writes its frames */
            rc = store__exec(c, ST_COMMIT);
        }
        if (rc < 0 && !sqlite3_get_autocommit(c->db))
            store__exec(c, ST_ROLLBACK);
    }
    store__usage_discard(s, false);
    if (rc < 0) {
        batch_fail(s, batch, rc);
    } else {
        pthread_mutex_lock(&s->mu);
        s->stats.txns++;
        s->stats.ops += n;
        if (n > s->stats.max_batch)
            s->stats.max_batch = n;
        pthread_mutex_unlock(&s->mu);
    }
    /* Unlink before acknowledging: once done fires, the space is reclaimed. The bodies of
     * failed ops go too (store__writer_free), before their done. */
    for (struct store__op *op = batch; op; op = op->next) {
        for (size_t i = 0; op->status == 0 && i < op->unlinks.n; i++)
            store__file_unlink(s, op->unlinks.ids[i]);
        if (op->w != NULL && !op->w->keep) {
            store__writer_free(op->w);
            op->w = NULL;
        }
    }
    for (struct store__op *op = batch; op; op = op->next) {
        if (op->done != NULL)
            op->done(op->ud, op->status);
    }
    while (batch != NULL) {
        struct store__op *op = batch;
        batch = op->next;
        store__op_free(op);
    }
}

/* Takes the longest prefix of the queue that is ready (at most STORE__BATCH_MAX ops). */
static struct store__op *queue_take_ready(struct store *s)
{
    struct store__op *batch = s->cq_head, *last = batch;
    for (int n = 1; n < STORE__BATCH_MAX && last->next != NULL && last->next->state == OP_READY;
         n++)
        last = last->next;
    s->cq_head = last->next;
    if (s->cq_head == NULL)
        s->cq_tail = NULL;
    last->next = NULL;
    return batch;
}

static void *committer_main(void *arg)
{
    struct store *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!(s->cq_head != NULL && s->cq_head->state == OP_READY) &&
               !(s->stopping && s->cq_head == NULL))
            pthread_cond_wait(&s->cv_commit, &s->mu);
        if (s->cq_head == NULL)
            break;
        struct store__op *batch = queue_take_ready(s);
        pthread_mutex_unlock(&s->mu);
        batch_run(s, batch);
        pthread_mutex_lock(&s->mu);
    }
    s->committer_exited = true;
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void *syncer_main(void *arg)
{
    struct store *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (s->sq_head == NULL && !s->sync_exit)
            pthread_cond_wait(&s->cv_sync, &s->mu);
        struct store__op *op = s->sq_head;
        if (op == NULL)
            break;
        s->sq_head = op->sync_next;
        if (s->sq_head == NULL)
            s->sq_tail = NULL;
        op->state = OP_SYNCING;
        pthread_mutex_unlock(&s->mu);

        op->status = store__writer_durable(op->w, op->kind == OP_PART);

        pthread_mutex_lock(&s->mu);
        op->state = OP_READY;
        s->stats.file_syncs++;
        if (op == s->cq_head)
            pthread_cond_signal(&s->cv_commit);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

void store__op_submit(struct store *s, struct store__op *op)
{
    pthread_mutex_lock(&s->mu);
    if (s->committer_exited || !s->committer_started) {
        pthread_mutex_unlock(&s->mu);
        log_error("store: mutation submitted to a closed store");
        if (op->done != NULL)
            op->done(op->ud, -ESHUTDOWN);
        store__op_free(op);
        return;
    }
    op->next = NULL;
    if (s->cq_tail != NULL)
        s->cq_tail->next = op;
    else
        s->cq_head = op;
    s->cq_tail = op;
    /* Without sync threads (closing), the committer makes the body durable itself. */
    op->state = OP_READY;
    if (op_needs_sync(s, op) && !s->sync_exit && s->nsyncers > 0) {
        op->state = OP_NEEDS_SYNC;
        op->sync_next = NULL;
        if (s->sq_tail != NULL)
            s->sq_tail->sync_next = op;
        else
            s->sq_head = op;
        s->sq_tail = op;
        pthread_cond_signal(&s->cv_sync);
    }
    if (op == s->cq_head && op->state == OP_READY)
        pthread_cond_signal(&s->cv_commit);
    pthread_mutex_unlock(&s->mu);
}

struct op_waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int status;
};

static void op_waiter_done(void *ud, int status)
{
    struct op_waiter *wt = ud;
    pthread_mutex_lock(&wt->mu);
    wt->status = status;
    wt->done = true;
    pthread_cond_signal(&wt->cv);
    pthread_mutex_unlock(&wt->mu);
}

int store__op_run(struct store *s, struct store__op *op)
{
    struct op_waiter wt = {.done = false, .status = 0};
    pthread_mutex_init(&wt.mu, NULL);
    pthread_cond_init(&wt.cv, NULL);
    op->done = op_waiter_done;
    op->ud = &wt;
    if (s->committer_started && pthread_equal(pthread_self(), s->committer_tid)) {
        /* Called from a done callback: the committer is between batches, run it here. */
        op->next = NULL;
        batch_run(s, op);
    } else {
        store__op_submit(s, op);
        pthread_mutex_lock(&wt.mu);
        while (!wt.done)
            pthread_cond_wait(&wt.cv, &wt.mu);
        pthread_mutex_unlock(&wt.mu);
    }
    pthread_mutex_destroy(&wt.mu);
    pthread_cond_destroy(&wt.cv);
    return wt.status;
}

int store__threads_start(struct store *s)
{
    int rc = pthread_create(&s->committer_tid, NULL, committer_main, s);
    if (rc != 0)
        return -rc;
    s->committer_started = true;
    for (int i = 0; i < STORE__SYNC_THREADS; i++) {
        rc = pthread_create(&s->syncers[i], NULL, syncer_main, s);
        if (rc != 0)
            return -rc;
        s->nsyncers++;
    }
    return 0;
}

void store__threads_stop(struct store *s)
{
    if (s->committer_started) {
        pthread_mutex_lock(&s->mu);
        s->stopping = true;
        pthread_cond_broadcast(&s->cv_commit);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->committer_tid, NULL);
        s->committer_started = false;
    }
    pthread_mutex_lock(&s->mu);
    s->sync_exit = true;
    pthread_cond_broadcast(&s->cv_sync);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < s->nsyncers; i++)
        pthread_join(s->syncers[i], NULL);
    s->nsyncers = 0;
}

void store__stats_get(struct store *s, struct store__stats *out)
{
    pthread_mutex_lock(&s->mu);
    *out = s->stats;
    pthread_mutex_unlock(&s->mu);
}
