/*
 * throttle.c - the bandwidth limit: one token bucket shared by every worker and part stream,
 * charged as source body bytes arrive (from the curl write callback, which then sleeps).
 * The bucket holds at most a quarter second of tokens, so bursts stay small.
 */
#include <time.h>

#include "migrate_int.h"

void mig_throttle_init(struct mig_throttle *t, int64_t rate)
{
    pthread_mutex_init(&t->mu, NULL);
    t->rate = rate > 0 ? rate : 1;
    t->tokens = 0;
    t->last_ns = (int64_t)gz_monotonic_ns();
}

void mig_throttle_destroy(struct mig_throttle *t)
{
    pthread_mutex_destroy(&t->mu);
}

void mig_throttle_take(struct mig_throttle *t, size_t n)
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
    if (debt <= 0)
        return;
    /* each caller sleeps for the debt it sees: later callers see a larger one */
    double secs = debt / (double)t->rate;
    struct timespec ts = {.tv_sec = (time_t)secs,
                          .tv_nsec = (long)((secs - (double)(time_t)secs) * 1e9)};
    nanosleep(&ts, NULL);
}
