/*
 * hashpipe.c - digests of a byte stream on a second core (see hashpipe.h for the contract).
 *
 * Design
 *   Threads: a pool of hasher threads (one per core, at most GZ_HASHPIPE_MAX_THREADS) waits on a
 *   queue of pipes that have blocks to digest. A hasher pops a pipe and digests its blocks in
 *   order, giving each back as it is done; when another pipe waits for a hasher it puts this
 *   one back at the tail after the current block. Pipes share the hashers fairly, a lone
 *   stream stays on one hasher, and a pipe is never on two hashers at once, so its blocks are
 *   digested in order. The pool is not a thread per request; a 4 KiB body never reaches it.
 *
 *   Blocks: each pipe owns a ring of GZ_HASHPIPE_BLOCKS blocks of GZ_HASHPIPE_BLOCK bytes,
 *   allocated when the pipe is made and freed with it. Blocks [head, head + nq) belong to the
 *   hashers (handed over, not yet given back); block wr = head + nq belongs to the producer,
 *   which copies into it without a lock and hands it over when full or at the end. head and
 *   nq change under the pipe's lock; wr and fill are the producer's alone.
 *
 *   Back-pressure: the ring bounds memory per pipe; the pool's budget bounds it in total
 *   (beyond it, gz_hashpipe_new says -EBUSY and the caller hashes inline). The producer checks
 *   gz_hashpipe_arm_room() after each slice; when that says no, it stops its input and the
 *   hasher that frees enough room calls notify. arm_idle() does the same for the end of the
 *   stream. gz_hashpipe_write() waits on a condition variable only if the producer ignored
 *   that protocol (a slice larger than the room it asked for).
 *
 *   Shutdown: gz_hashpipe_cancel() drops queued blocks; gz_hashpipe_free() waits for a hasher
 *   still digesting one block, so a pipe is never freed under a hasher. gz_hashpool_destroy()
 *   joins the threads once every pipe is gone (the s3 service's pool is destroyed with the
 *   service, after the HTTP server has stopped).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "hashpipe.h"

enum hashpipe_arm { ARM_NONE, ARM_ROOM, ARM_IDLE };

struct gz_hashpool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct gz_hashpipe *head, *tail; /* pipes with blocks to digest, not on a hasher */
    size_t budget, used;             /* ring bytes */
    bool stop;
    int nthreads;
    pthread_t threads[GZ_HASHPIPE_MAX_THREADS];
};

struct gz_hashpipe {
    struct gz_hashpool *pool;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a block given back or a hasher left: for a waiting producer */
    struct gz_hash *hashes[GZ_HASHPIPE_MAX_HASHES];
    size_t nhashes;
    gz_hashpipe_notify_cb notify;
    void *ud;
    uint8_t *ring;
    size_t lens[GZ_HASHPIPE_BLOCKS];
    /* under mu */
    size_t head, nq;
    bool scheduled; /* queued in the pool or on a hasher */
    bool cancelled;
    enum hashpipe_arm arm;
    size_t arm_nq; /* ARM_ROOM: notify once nq <= arm_nq */
    bool notified; /* notify sent, not yet acknowledged */
    bool waiting;  /* the producer sleeps on cv */
    struct gz_hashpipe *next;
    /* the producer's */
    size_t wr, fill;
    bool wr_ok; /* block wr is known to be free */
};

/* ---- hashers ---- */

/* mu held: sends the armed notification if its condition holds. */
static void hashpipe_check_arm(struct gz_hashpipe *hp)
{
    bool fire =
        (hp->arm == ARM_ROOM && hp->nq <= hp->arm_nq) || (hp->arm == ARM_IDLE && !hp->scheduled);
    if (!fire || hp->notified)
        return;
    hp->arm = ARM_NONE;
    hp->notified = true;
    hp->notify(hp->ud);
}

/* pool->mu held by nobody; takes it to append hp (hp->mu held by the caller). */
static void hashpool_enqueue(struct gz_hashpool *pool, struct gz_hashpipe *hp)
{
    pthread_mutex_lock(&pool->mu);
    hp->next = NULL;
    if (pool->tail)
        pool->tail->next = hp;
    else
        pool->head = hp;
    pool->tail = hp;
    pthread_cond_signal(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
}

static bool hashpool_others_wait(struct gz_hashpool *pool)
{
    pthread_mutex_lock(&pool->mu);
    bool others = pool->head != NULL;
    pthread_mutex_unlock(&pool->mu);
    return others;
}

/* Digests hp's blocks in order, giving each back, until none is left or another pipe waits
 * for a hasher (then hp goes to the back of the queue). */
static void hashpipe_turn(struct gz_hashpipe *hp)
{
    pthread_mutex_lock(&hp->mu);
    for (;;) {
        if (!hp->cancelled && hp->nq > 0) {
            size_t idx = hp->head, len = hp->lens[idx];
            const uint8_t *b = hp->ring + idx * GZ_HASHPIPE_BLOCK;
            pthread_mutex_unlock(&hp->mu);
            for (size_t i = 0; i < hp->nhashes; i++)
                gz_hash_update(hp->hashes[i], b, len);
            pthread_mutex_lock(&hp->mu);
            hp->head = (hp->head + 1) % GZ_HASHPIPE_BLOCKS;
            hp->nq--;
        }
        if (hp->cancelled) { /* drop what is left */
            hp->head = (hp->head + hp->nq) % GZ_HASHPIPE_BLOCKS;
            hp->nq = 0;
        }
        bool done = hp->nq == 0;
        bool yield = !done && hashpool_others_wait(hp->pool);
        if (done)
            hp->scheduled = false;
        else if (yield)
            hashpool_enqueue(hp->pool, hp);
        if (hp->waiting)
            pthread_cond_signal(&hp->cv);
        hashpipe_check_arm(hp);
        if (done || yield)
            break;
    }
    /* Once unlocked, hp may be freed by its producer: nothing touches it after this. */
    pthread_mutex_unlock(&hp->mu);
}

static void *hashpool_main(void *arg)
{
    struct gz_hashpool *pool = arg;
    for (;;) {
        pthread_mutex_lock(&pool->mu);
        while (pool->head == NULL && !pool->stop)
            pthread_cond_wait(&pool->cv, &pool->mu);
        struct gz_hashpipe *hp = pool->head;
        if (hp == NULL) { /* stop, and nothing queued */
            pthread_mutex_unlock(&pool->mu);
            return NULL;
        }
        pool->head = hp->next;
        if (pool->head == NULL)
            pool->tail = NULL;
        pthread_mutex_unlock(&pool->mu);
        hashpipe_turn(hp);
    }
}

/* ---- the pool ---- */

int gz_hashpool_create(int nthreads, size_t budget, struct gz_hashpool **out)
{
    struct gz_hashpool *pool;
    sigset_t all, old;
    int rc = 0;
    *out = NULL;
    if (nthreads < 1 || nthreads > GZ_HASHPIPE_MAX_THREADS)
        return -EINVAL;
    pool = gz_calloc(1, sizeof(*pool));
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->cv, NULL);
    pool->budget = budget;
    /* Signals stay with the threads that handle them. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (; pool->nthreads < nthreads; pool->nthreads++) {
        rc = -pthread_create(&pool->threads[pool->nthreads], NULL, hashpool_main, pool);
        if (rc < 0)
            break;
        pthread_setname_np(pool->threads[pool->nthreads], "gzy-hash"); /* for top and perf */
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc < 0) {
        gz_hashpool_destroy(pool);
        return rc;
    }
    *out = pool;
    return 0;
}

void gz_hashpool_destroy(struct gz_hashpool *pool)
{
    if (pool == NULL)
        return;
    pthread_mutex_lock(&pool->mu);
    pool->stop = true;
    pthread_cond_broadcast(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 0; i < pool->nthreads; i++)
        pthread_join(pool->threads[i], NULL);
    pthread_cond_destroy(&pool->cv);
    pthread_mutex_destroy(&pool->mu);
    gz_free(pool);
}

int gz_hashpool_default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return (int)(n < 1 ? 1 : n > GZ_HASHPIPE_MAX_THREADS ? GZ_HASHPIPE_MAX_THREADS : n);
}

/* ---- pipes ---- */

int gz_hashpipe_new(struct gz_hashpool *pool, struct gz_hash *const *hashes, size_t nhashes,
                    gz_hashpipe_notify_cb notify, void *ud, struct gz_hashpipe **out)
{
    const size_t ring = (size_t)GZ_HASHPIPE_BLOCKS * GZ_HASHPIPE_BLOCK;
    struct gz_hashpipe *hp;
    *out = NULL;
    if (pool == NULL || notify == NULL || nhashes == 0 || nhashes > GZ_HASHPIPE_MAX_HASHES)
        return -EINVAL;
    pthread_mutex_lock(&pool->mu);
    bool ok = pool->used + ring <= pool->budget;
    if (ok)
        pool->used += ring;
    pthread_mutex_unlock(&pool->mu);
    if (!ok)
        return -EBUSY;
    hp = gz_calloc(1, sizeof(*hp));
    hp->ring = gz_try_malloc(ring);
    if (hp->ring == NULL) {
        gz_free(hp);
        pthread_mutex_lock(&pool->mu);
        pool->used -= ring;
        pthread_mutex_unlock(&pool->mu);
        return -ENOMEM;
    }
    hp->pool = pool;
    pthread_mutex_init(&hp->mu, NULL);
    pthread_cond_init(&hp->cv, NULL);
    for (size_t i = 0; i < nhashes; i++)
        hp->hashes[i] = hashes[i];
    hp->nhashes = nhashes;
    hp->notify = notify;
    hp->ud = ud;
    hp->wr_ok = true; /* every block is free */
    *out = hp;
    return 0;
}

/* Hands the producer's block over (fill > 0) and moves to the next one. */
static void hashpipe_publish(struct gz_hashpipe *hp)
{
    pthread_mutex_lock(&hp->mu);
    if (hp->cancelled) { /* nobody wants the digest: reuse the block */
        pthread_mutex_unlock(&hp->mu);
        hp->fill = 0;
        return;
    }
    hp->lens[hp->wr] = hp->fill;
    hp->nq++;
    if (!hp->scheduled) {
        hp->scheduled = true;
        hashpool_enqueue(hp->pool, hp);
    }
    pthread_mutex_unlock(&hp->mu);
    hp->wr = (hp->wr + 1) % GZ_HASHPIPE_BLOCKS;
    hp->fill = 0;
    hp->wr_ok = false;
}

/* Waits until block wr is free (it is unless all blocks are with the hashers). */
static void hashpipe_wait_block(struct gz_hashpipe *hp)
{
    pthread_mutex_lock(&hp->mu);
    while (hp->nq == GZ_HASHPIPE_BLOCKS) {
        hp->waiting = true;
        pthread_cond_wait(&hp->cv, &hp->mu);
        hp->waiting = false;
    }
    pthread_mutex_unlock(&hp->mu);
    hp->wr_ok = true;
}

void gz_hashpipe_write(struct gz_hashpipe *hp, const void *p, size_t n)
{
    const uint8_t *src = p;
    while (n > 0) {
        if (!hp->wr_ok)
            hashpipe_wait_block(hp);
        size_t take = GZ_MIN(n, (size_t)GZ_HASHPIPE_BLOCK - hp->fill);
        memcpy(hp->ring + hp->wr * GZ_HASHPIPE_BLOCK + hp->fill, src, take);
        hp->fill += take;
        src += take;
        n -= take;
        if (hp->fill == GZ_HASHPIPE_BLOCK)
            hashpipe_publish(hp);
    }
}

size_t gz_hashpipe_room(struct gz_hashpipe *hp)
{
    pthread_mutex_lock(&hp->mu);
    size_t room = (GZ_HASHPIPE_BLOCKS - hp->nq) * (size_t)GZ_HASHPIPE_BLOCK - hp->fill;
    pthread_mutex_unlock(&hp->mu);
    return room;
}

bool gz_hashpipe_arm_room(struct gz_hashpipe *hp, size_t want)
{
    /* room = (BLOCKS - nq) * BLOCK - fill >= want  <=>  nq <= BLOCKS - ceil((want + fill) / BLOCK)
     */
    size_t need = (want + hp->fill + GZ_HASHPIPE_BLOCK - 1) / GZ_HASHPIPE_BLOCK;
    size_t target = need >= GZ_HASHPIPE_BLOCKS ? 0 : GZ_HASHPIPE_BLOCKS - need;
    bool ok;
    pthread_mutex_lock(&hp->mu);
    ok = hp->nq <= target;
    hp->arm = ok ? ARM_NONE : ARM_ROOM;
    hp->arm_nq = target;
    pthread_mutex_unlock(&hp->mu);
    return ok;
}

bool gz_hashpipe_arm_idle(struct gz_hashpipe *hp)
{
    bool ok;
    if (hp->fill > 0)
        hashpipe_publish(hp);
    pthread_mutex_lock(&hp->mu);
    ok = !hp->scheduled && !hp->notified;
    hp->arm = ok ? ARM_NONE : ARM_IDLE;
    pthread_mutex_unlock(&hp->mu);
    return ok;
}

bool gz_hashpipe_busy(struct gz_hashpipe *hp)
{
    pthread_mutex_lock(&hp->mu);
    bool busy = hp->fill > 0 || hp->scheduled || hp->notified;
    pthread_mutex_unlock(&hp->mu);
    return busy;
}

void gz_hashpipe_ack(struct gz_hashpipe *hp)
{
    pthread_mutex_lock(&hp->mu);
    hp->notified = false;
    pthread_mutex_unlock(&hp->mu);
}

void gz_hashpipe_cancel(struct gz_hashpipe *hp)
{
    pthread_mutex_lock(&hp->mu);
    hp->cancelled = true;
    if (!hp->scheduled) { /* no hasher will come to drop them */
        hp->head = (hp->head + hp->nq) % GZ_HASHPIPE_BLOCKS;
        hp->nq = 0;
    }
    pthread_mutex_unlock(&hp->mu);
    hp->fill = 0;
}

void gz_hashpipe_free(struct gz_hashpipe *hp)
{
    if (hp == NULL)
        return;
    struct gz_hashpool *pool = hp->pool;
    pthread_mutex_lock(&hp->mu);
    hp->cancelled = true;
    hp->arm = ARM_NONE;
    while (hp->scheduled) {
        hp->waiting = true;
        pthread_cond_wait(&hp->cv, &hp->mu);
        hp->waiting = false;
    }
    pthread_mutex_unlock(&hp->mu);
    pthread_cond_destroy(&hp->cv);
    pthread_mutex_destroy(&hp->mu);
    gz_free(hp->ring);
    gz_free(hp);
    pthread_mutex_lock(&pool->mu);
    pool->used -= (size_t)GZ_HASHPIPE_BLOCKS * GZ_HASHPIPE_BLOCK;
    pthread_mutex_unlock(&pool->mu);
}
