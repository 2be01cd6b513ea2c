/*
 * throttle.c - the bandwidth limit: one token bucket shared by every worker and part stream,
 * charged as source body bytes arrive (from the curl write callback, which then sleeps).
 * The bucket holds at most a quarter second of tokens, so bursts stay small. A stop request
 * ends the wait and makes the write callback abort the transfer (the object is left for the
 * next pass, not failed).
 */
#include <time.h>

#include "migrate_int.h"

#define THROTTLE_SLICE_NS (100 * 1000 * 1000) /* a stop is seen within this while sleeping */

void mig_throttle_init(struct mig_throttle *t, int64_t rate, bool (*should_stop)(void *),
                       void *stop_arg)
{
    pthread_mutex_init(&t->mu, NULL);
    t->should_stop = should_stop;
    t->stop_arg = stop_arg;
    t->rate = rate > 0 ? rate : 1;
    t->tokens = 0;
    t->last_ns = (int64_t)gz_monotonic_ns();
}

void mig_throttle_destroy(struct mig_throttle *t)
{
    pthread_mutex_destroy(&t->mu);
}

bool mig_throttle_take(struct mig_throttle *t, size_t n)
{
    pthread_mutex_lock(&t->mu);
    int64_t now = (int64_t)gz_monotonic_ns();
    double burst = (double)t->rate / 4;
    t->tokens += (double)(now - t->last_ns) * (double)t->rate / 1e9;
    if (t->tokens > burst)
        t->tokens = burst;
    t->last_ns = now;
    t->tokens -= (double)n;
    double debt = -t->tokens;
    pthread_mutex_unlock(&t->mu);
    /* each caller sleeps for the debt it sees (later callers see a larger one), in slices, so
     * that a stop (pause, cancel, shutdown) is seen within one slice at any rate */
    int64_t left_ns = debt > 0 ? (int64_t)(debt / (double)t->rate * 1e9) : 0;
    for (;;) {
        if (left_ns <= 0)
            return true; /* no wait: the stop is seen at the next one (no lock per chunk) */
        if (t->should_stop && t->should_stop(t->stop_arg))
            return false;
        int64_t slice = left_ns < THROTTLE_SLICE_NS ? left_ns : THROTTLE_SLICE_NS;
        struct timespec ts = {.tv_sec = (time_t)(slice / 1000000000),
                              .tv_nsec = (long)(slice % 1000000000)};
        nanosleep(&ts, NULL);
        left_ns -= slice;
    }
}
