/*
 * ip_limit.c - at most max_connections_per_ip open connections from one client address.
 *
 * One table per server, shared by its loop threads: an open-addressing hash of address ->
 * open connections, linear probing, deletion by backward shift (no tombstones), so a slot is
 * free exactly when its count is 0. Capacity is fixed at creation: a power of two at least
 * twice max_connections, so it never fills (a connection over max_connections is refused
 * before it gets here, and every counted address has at least one open connection).
 *
 * Addresses are compared as 16 bytes: IPv4 as its IPv4-mapped IPv6 form, so a dual-stack
 * listener counts a client once whichever way it arrives. Touched only on accept and close,
 * under one mutex.
 *
 * 127.0.0.1 and ::1 are not counted: a reverse proxy or load balancer on the same machine
 * connects from there for every client it serves, and so do operator tools and benchmarks.
 * Other loopback addresses (127.0.0.2, ...) are counted, which keeps the limit testable.
 */
#include <netinet/in.h>
#include <string.h>

#include "http_int.h"

struct http__ip_slot {
    uint8_t addr[16];
    uint32_t count; /* 0 = free */
};

struct http__ip_table {
    pthread_mutex_t mu;
    size_t limit;
    size_t used; /* slots in use: kept below capacity so probing always ends */
    size_t mask; /* capacity - 1 */
    struct http__ip_slot slot[];
};

struct http__ip_table *http__ip_table_new(size_t limit, size_t max_connections)
{
    size_t cap = 64;
    while (cap < 2 * max_connections + 2)
        cap *= 2;
    struct http__ip_table *t = gz_calloc(1, sizeof(*t) + cap * sizeof(t->slot[0]));
    pthread_mutex_init(&t->mu, NULL);
    t->limit = limit;
    t->mask = cap - 1;
    return t;
}

void http__ip_table_free(struct http__ip_table *t)
{
    if (t == NULL)
        return;
    pthread_mutex_destroy(&t->mu);
    gz_free(t);
}

/* 127.0.0.1 (IPv4-mapped) or ::1. */
static bool ip_exempt(const uint8_t key[16])
{
    static const uint8_t v4[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
    static const uint8_t v6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return memcmp(key, v4, 16) == 0 || memcmp(key, v6, 16) == 0;
}

/* The 16-byte form of a peer address (IPv4 mapped); false for another family or an exempt
 * address (nothing to count). */
static bool ip_key(const struct sockaddr_storage *peer, uint8_t key[16])
{
    if (peer->ss_family == AF_INET6) {
        memcpy(key, &((const struct sockaddr_in6 *)peer)->sin6_addr, 16);
        return !ip_exempt(key);
    }
    if (peer->ss_family == AF_INET) {
        memset(key, 0, 10);
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &((const struct sockaddr_in *)peer)->sin_addr, 4);
        return !ip_exempt(key);
    }
    return false;
}

static size_t ip_hash(const uint8_t key[16])
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (int i = 0; i < 16; i++)
        h = (h ^ key[i]) * 1099511628211ULL;
    return (size_t)(h ^ (h >> 29));
}

/* The slot holding key, or the free slot where it would go. Caller holds mu. */
static size_t ip_find(const struct http__ip_table *t, const uint8_t key[16])
{
    size_t i = ip_hash(key) & t->mask;
    while (t->slot[i].count != 0 && memcmp(t->slot[i].addr, key, 16) != 0)
        i = (i + 1) & t->mask;
    return i;
}

bool http__ip_acquire(struct http__ip_table *t, const struct sockaddr_storage *peer)
{
    uint8_t key[16];
    if (!ip_key(peer, key))
        return true; /* not an IP peer, or exempt: nothing to count */
    pthread_mutex_lock(&t->mu);
    size_t i = ip_find(t, key);
    bool fresh = t->slot[i].count == 0;
    bool ok = t->slot[i].count < t->limit && (!fresh || t->used < t->mask);
    if (ok) {
        memcpy(t->slot[i].addr, key, 16);
        t->slot[i].count++;
        t->used += fresh;
    }
    pthread_mutex_unlock(&t->mu);
    return ok;
}

/* Empties slot i and moves later entries of its probe run back so lookups still find them. */
static void ip_delete(struct http__ip_table *t, size_t i)
{
    size_t j = i;
    for (;;) {
        t->slot[i].count = 0;
        for (;;) {
            j = (j + 1) & t->mask;
            if (t->slot[j].count == 0)
                return;
            size_t home = ip_hash(t->slot[j].addr) & t->mask;
            /* j's entry may move to i unless its home lies cyclically in (i, j] */
            bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
            if (!stays)
                break;
        }
        t->slot[i] = t->slot[j];
        i = j;
    }
}

void http__ip_release(struct http__ip_table *t, const struct sockaddr_storage *peer)
{
    uint8_t key[16];
    if (!ip_key(peer, key))
        return;
    pthread_mutex_lock(&t->mu);
    size_t i = ip_find(t, key);
    if (t->slot[i].count > 1)
        t->slot[i].count--;
    else if (t->slot[i].count == 1) {
        ip_delete(t, i);
        t->used--;
    }
    pthread_mutex_unlock(&t->mu);
}

uint32_t http__ip_count(struct http__ip_table *t, const struct sockaddr_storage *peer)
{
    uint8_t key[16];
    if (!ip_key(peer, key))
        return 0;
    pthread_mutex_lock(&t->mu);
    uint32_t n = t->slot[ip_find(t, key)].count;
    pthread_mutex_unlock(&t->mu);
    return n;
}
