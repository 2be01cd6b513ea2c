/*
 * test_payload_hashpipe.c - util/hashpipe.c, the ring and hasher pool that payload.c uses to
 * digest large bodies on another core: digests equal inline ones for every block boundary,
 * the notify protocol (room, idle), the blocking fallback, cancel, the memory budget, and
 * several producers at once.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/util/hashpipe.h"
#include "tap.h"

#define MIB (1024 * 1024)
#define RING ((size_t)GZ_HASHPIPE_BLOCKS * GZ_HASHPIPE_BLOCK)

struct waker {
    sem_t sem;
    int count;
};

static void waker_notify(void *ud)
{
    struct waker *w = ud;
    w->count++; /* under the pipe's lock: one notify at a time */
    sem_post(&w->sem);
}

static uint8_t *pattern(size_t n, unsigned seed)
{
    uint8_t *b = gz_malloc(n ? n : 1);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        b[i] = (uint8_t)x;
    }
    return b;
}

/* Feeds data in slices of step bytes following the protocol payload.c uses; returns the
 * number of times the producer had to stop for room. */
static int feed(struct gz_hashpipe *hp, struct waker *w, const uint8_t *data, size_t n, size_t step)
{
    int stops = 0;
    for (size_t off = 0; off < n;) {
        size_t take = GZ_MIN(step, n - off);
        gz_hashpipe_write(hp, data + off, take);
        off += take;
        while (!gz_hashpipe_arm_room(hp, step)) {
            stops++;
            sem_wait(&w->sem);
            gz_hashpipe_ack(hp);
        }
    }
    while (!gz_hashpipe_arm_idle(hp)) {
        sem_wait(&w->sem);
        gz_hashpipe_ack(hp);
    }
    return stops;
}

static bool check_stream(struct gz_hashpool *pool, size_t n, size_t step, unsigned seed, int *stops)
{
    uint8_t *data = pattern(n, seed);
    struct gz_hash md5, sha, crc;
    struct gz_hash *hs[] = {&md5, &sha, &crc};
    uint8_t a[3][GZ_HASH_MAX_LEN], b[3][GZ_HASH_MAX_LEN];
    struct waker w = {.count = 0};
    struct gz_hashpipe *hp = NULL;
    bool ok;
    sem_init(&w.sem, 0, 0);
    gz_hash_init(&md5, GZ_HASH_MD5);
    gz_hash_init(&sha, GZ_HASH_SHA256);
    gz_hash_init(&crc, GZ_HASH_CRC32C);
    ok = gz_hashpipe_new(pool, hs, 3, waker_notify, &w, &hp) == 0;
    if (ok) {
        *stops = feed(hp, &w, data, n, step);
        gz_hashpipe_free(hp);
    }
    gz_hash_final(&md5, a[0]);
    gz_hash_final(&sha, a[1]);
    gz_hash_final(&crc, a[2]);
    gz_md5(data, n, b[0]);
    gz_sha256(data, n, b[1]);
    gz_hash_init(&crc, GZ_HASH_CRC32C);
    gz_hash_update(&crc, data, n);
    gz_hash_final(&crc, b[2]);
    ok = ok && memcmp(a[0], b[0], 16) == 0 && memcmp(a[1], b[1], 32) == 0 &&
         memcmp(a[2], b[2], 4) == 0;
    sem_destroy(&w.sem);
    gz_free(data);
    return ok;
}

static void t_digests_match(void)
{
    static const size_t sizes[] = {0, 1, MIB - 1, MIB, MIB + 1, 4 * MIB, 4 * MIB + 3, 10 * MIB + 7};
    static const size_t steps[] = {256 * 1024, 65536 + 13, 1};
    struct gz_hashpool *pool = NULL;
    TAP_OK(gz_hashpool_create(2, GZ_HASHPIPE_BUDGET, &pool) == 0, "pool created");
    for (size_t i = 0; i < GZ_ARRAY_LEN(sizes); i++)
        for (size_t j = 0; j < GZ_ARRAY_LEN(steps); j++) {
            int stops = 0;
            if (steps[j] == 1 && sizes[i] > MIB + 1)
                continue; /* byte at a time: only the boundaries matter */
            bool ok = check_stream(pool, sizes[i], steps[j], (unsigned)(i * 7 + j), &stops);
            TAP_OK(ok, "%zu bytes in slices of %zu: MD5, SHA-256, CRC32C as inline (%d stops)",
                   sizes[i], steps[j], stops);
        }
    gz_hashpool_destroy(pool);
}

/* A producer that ignores the room protocol still gets the right digest (it waits). */
static void t_blocking_write(void)
{
    struct gz_hashpool *pool = NULL;
    struct gz_hashpipe *hp = NULL;
    struct waker w = {.count = 0};
    struct gz_hash md5;
    struct gz_hash *hs[] = {&md5};
    size_t n = 13 * MIB + 5;
    uint8_t *data = pattern(n, 99), got[GZ_HASH_MAX_LEN], want[16];
    sem_init(&w.sem, 0, 0);
    gz_hashpool_create(1, GZ_HASHPIPE_BUDGET, &pool);
    gz_hash_init(&md5, GZ_HASH_MD5);
    TAP_OK(gz_hashpipe_new(pool, hs, 1, waker_notify, &w, &hp) == 0, "pipe");
    gz_hashpipe_write(hp, data, n); /* far more than the ring */
    while (!gz_hashpipe_arm_idle(hp)) {
        sem_wait(&w.sem);
        gz_hashpipe_ack(hp);
    }
    TAP_OK(!gz_hashpipe_busy(hp), "idle after arm_idle");
    gz_hash_final(&md5, got);
    gz_md5(data, n, want);
    TAP_OK(memcmp(got, want, 16) == 0, "one 13 MiB write: MD5 as inline");
    gz_hashpipe_free(hp);
    gz_hashpool_destroy(pool);
    sem_destroy(&w.sem);
    gz_free(data);
}

static void t_cancel(void)
{
    struct gz_hashpool *pool = NULL;
    struct gz_hashpipe *hp = NULL;
    struct waker w = {.count = 0};
    struct gz_hash md5;
    struct gz_hash *hs[] = {&md5};
    uint8_t *data = pattern(RING, 5);
    int waits = 0;
    sem_init(&w.sem, 0, 0);
    gz_hashpool_create(1, GZ_HASHPIPE_BUDGET, &pool);
    gz_hash_init(&md5, GZ_HASH_MD5);
    gz_hashpipe_new(pool, hs, 1, waker_notify, &w, &hp);
    gz_hashpipe_write(hp, data, RING); /* every block queued */
    TAP_OK(gz_hashpipe_room(hp) < RING, "the ring is in use");
    gz_hashpipe_cancel(hp);
    gz_hashpipe_write(hp, data, 100); /* ignored after cancel */
    while (!gz_hashpipe_arm_idle(hp)) {
        waits++;
        sem_wait(&w.sem);
        gz_hashpipe_ack(hp);
    }
    TAP_OK(gz_hashpipe_room(hp) == RING, "cancelled: every block back (%d waits)", waits);
    gz_hashpipe_free(hp);
    gz_hash_dispose(&md5);
    /* cancel and free while blocks are still queued: free waits for the hasher */
    gz_hash_init(&md5, GZ_HASH_MD5);
    gz_hashpipe_new(pool, hs, 1, waker_notify, &w, &hp);
    gz_hashpipe_write(hp, data, RING);
    gz_hashpipe_free(hp);
    gz_hash_dispose(&md5);
    TAP_OK(true, "freed with blocks queued");
    gz_hashpool_destroy(pool);
    sem_destroy(&w.sem);
    gz_free(data);
}

static void t_budget(void)
{
    struct gz_hashpool *pool = NULL;
    struct gz_hashpipe *a = NULL, *b = NULL;
    struct waker w = {.count = 0};
    struct gz_hash h1, h2;
    struct gz_hash *hs1[] = {&h1}, *hs2[] = {&h2};
    size_t ring = (size_t)GZ_HASHPIPE_BLOCKS * GZ_HASHPIPE_BLOCK;
    gz_hash_init(&h1, GZ_HASH_MD5);
    gz_hash_init(&h2, GZ_HASH_MD5);
    TAP_OK(gz_hashpool_create(0, ring, &pool) == -EINVAL, "0 threads refused");
    gz_hashpool_create(1, ring, &pool);
    TAP_OK(gz_hashpipe_new(pool, hs1, 1, waker_notify, &w, &a) == 0, "first pipe fits");
    TAP_OK(gz_hashpipe_new(pool, hs2, 1, waker_notify, &w, &b) == -EBUSY && b == NULL,
           "second pipe over the budget: -EBUSY");
    gz_hashpipe_free(a);
    TAP_OK(gz_hashpipe_new(pool, hs2, 1, waker_notify, &w, &b) == 0, "budget returned on free");
    TAP_OK(gz_hashpipe_new(pool, hs2, 0, waker_notify, &w, &a) == -EINVAL, "no hashes: -EINVAL");
    gz_hashpipe_free(b);
    gz_hashpool_destroy(pool);
    gz_hash_dispose(&h1);
    gz_hash_dispose(&h2);
    int n = gz_hashpool_default_threads();
    TAP_OK(n >= 1 && n <= GZ_HASHPIPE_MAX_THREADS, "default pool size %d in [1, %d]", n,
           GZ_HASHPIPE_MAX_THREADS);
}

struct producer {
    struct gz_hashpool *pool;
    unsigned seed;
    bool ok;
};

static void *producer_main(void *arg)
{
    struct producer *pr = arg;
    int stops;
    pr->ok = check_stream(pr->pool, 9 * MIB + pr->seed, 256 * 1024, pr->seed, &stops);
    return NULL;
}

static void t_concurrent(void)
{
    struct gz_hashpool *pool = NULL;
    struct producer pr[6];
    pthread_t th[6];
    bool all = true;
    gz_hashpool_create(2, 6 * RING, &pool);
    for (int i = 0; i < 6; i++) {
        pr[i] = (struct producer){.pool = pool, .seed = (unsigned)i + 1};
        pthread_create(&th[i], NULL, producer_main, &pr[i]);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        all = all && pr[i].ok;
    }
    TAP_OK(all, "six producers on two hashers: every digest right");
    gz_hashpool_destroy(pool);
}

int main(void)
{
    TAP_RUN(t_digests_match);
    TAP_RUN(t_blocking_write);
    TAP_RUN(t_cancel);
    TAP_RUN(t_budget);
    TAP_RUN(t_concurrent);
    return tap_done();
}
