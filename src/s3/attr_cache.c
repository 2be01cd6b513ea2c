/*
 * attr_cache.c - the bucket policy and canned ACL that authorisation needs on every request
 * into a bucket, kept in memory so the common path does not pay two more index reads.
 *
 * An entry is tagged with the store's generation (store_generation), read before the store
 * was: it changes after every committed change to the store's index, so an entry is used only
 * while nothing at all has committed since it was read, and a change to a bucket's policy or
 * ACL, or its deletion and re-creation, is seen by the very next request whoever made it (no
 * time-based expiry). The price: any commit (an object PUT too) makes every entry stale, so
 * the first request into each bucket after a commit reads the two attributes again; a cheaper
 * bucket-only generation would need the committer to tell bucket changes apart.
 *
 * Handlers that change attributes also drop the entry (s3__attr_cache_drop), and a drop counter
 * keeps a miss that raced with such a change from caching the stale value; that holds even if
 * the store's generation did not tell. The cache is bounded in entries and in policy bytes;
 * when full it is simply emptied (a bucket count this large is rare and a refill costs one
 * read per bucket).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#include "s3_obj_int.h"

/* Defined by the store (src/store/local/index.c); to be declared in store.h (requested). */

#define ATTR_CACHE_SLOTS 4096 /* hash chains (power of two) */
#define ATTR_CACHE_MAX_ENTRIES 16384
#define ATTR_CACHE_MAX_BYTES (16 * 1024 * 1024) /* policy bytes held */

struct attr_entry {
    struct attr_entry *next;
    char name[STORE_MAX_BUCKET + 1];
    size_t name_len;
    uint64_t store_gen; /* store_generation() read before the values were */
    enum iam_acl acl;
    size_t policy_len;
    char *policy; /* owned; NULL if none */
};

struct s3__attr_cache {
    pthread_mutex_t mu;
    uint64_t gen; /* bumped by every drop */
    size_t count;
    size_t bytes;
    struct attr_entry *slots[ATTR_CACHE_SLOTS];
};

static size_t slot_of(struct gz_slice name)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < name.len; i++)
        h = (h ^ (uint8_t)name.ptr[i]) * 16777619u;
    return h & (ATTR_CACHE_SLOTS - 1);
}

static void entry_free(struct attr_entry *e)
{
    gz_free(e->policy);
    gz_free(e);
}

struct s3__attr_cache *s3__attr_cache_new(void)
{
    struct s3__attr_cache *c = gz_calloc(1, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

/* Caller holds the lock. */
static void cache_clear(struct s3__attr_cache *c)
{
    for (size_t i = 0; i < ATTR_CACHE_SLOTS; i++) {
        while (c->slots[i] != NULL) {
            struct attr_entry *e = c->slots[i];
            c->slots[i] = e->next;
            entry_free(e);
        }
    }
    c->count = 0;
    c->bytes = 0;
}

void s3__attr_cache_free(struct s3__attr_cache *c)
{
    if (c == NULL)
        return;
    cache_clear(c);
    pthread_mutex_destroy(&c->mu);
    gz_free(c);
}

/* Caller holds the lock. Unlinks and returns the entry for name, or NULL. */
static struct attr_entry *cache_unlink(struct s3__attr_cache *c, struct gz_slice name)
{
    struct attr_entry **pp = &c->slots[slot_of(name)];
    for (; *pp != NULL; pp = &(*pp)->next) {
        struct attr_entry *e = *pp;
        if (e->name_len == name.len && memcmp(e->name, name.ptr, name.len) == 0) {
            *pp = e->next;
            c->count--;
            c->bytes -= e->policy_len;
            return e;
        }
    }
    return NULL;
}

void s3__attr_cache_drop(struct s3_service *svc, struct gz_slice bucket)
{
    struct s3__attr_cache *c = svc->attrs;
    pthread_mutex_lock(&c->mu);
    c->gen++;
    struct attr_entry *e = cache_unlink(c, bucket);
    pthread_mutex_unlock(&c->mu);
    if (e != NULL)
        entry_free(e);
}

/* Copies a fresh entry out (policy into the request arena); false on a miss. */
static bool cache_lookup(struct s3_request *r, struct gz_slice bucket, uint64_t store_gen,
                         struct gz_slice *policy, enum iam_acl *acl, uint64_t *gen)
{
    struct s3__attr_cache *c = r->svc->attrs;
    bool hit = false;
    pthread_mutex_lock(&c->mu);
    *gen = c->gen;
    for (struct attr_entry *e = c->slots[slot_of(bucket)]; e != NULL; e = e->next) {
        if (e->name_len != bucket.len || memcmp(e->name, bucket.ptr, bucket.len) != 0)
            continue;
        if (e->store_gen == store_gen) {
            *acl = e->acl;
            *policy = e->policy_len ? gz_slice(http_req_strndup(r->req, e->policy, e->policy_len),
                                               e->policy_len)
                                    : GZ_SLICE_NULL;
            hit = true;
        }
        break;
    }
    pthread_mutex_unlock(&c->mu);
    return hit;
}

static void cache_insert(struct s3__attr_cache *c, struct gz_slice bucket, uint64_t store_gen,
                         struct gz_slice policy, enum iam_acl acl, uint64_t gen)
{
    if (bucket.len > STORE_MAX_BUCKET || policy.len > ATTR_CACHE_MAX_BYTES)
        return;
    struct attr_entry *e = gz_calloc(1, sizeof(*e)), *old;
    memcpy(e->name, bucket.ptr, bucket.len);
    e->name_len = bucket.len;
    e->store_gen = store_gen;
    e->acl = acl;
    e->policy_len = policy.len;
    e->policy = policy.len ? gz_strndup(policy.ptr, policy.len) : NULL;
    pthread_mutex_lock(&c->mu);
    if (gen != c->gen) { /* changed while we read: the next request reads again */
        pthread_mutex_unlock(&c->mu);
        entry_free(e);
        return;
    }
    old = cache_unlink(c, bucket);
    if (c->count >= ATTR_CACHE_MAX_ENTRIES || c->bytes + e->policy_len > ATTR_CACHE_MAX_BYTES)
        cache_clear(c);
    size_t s = slot_of(bucket);
    e->next = c->slots[s];
    c->slots[s] = e;
    c->count++;
    c->bytes += e->policy_len;
    pthread_mutex_unlock(&c->mu);
    if (old != NULL)
        entry_free(old);
}

/* Reads one attribute into the request arena; an absent one is an empty slice. */
static int attr_read(struct s3_request *r, struct gz_slice bucket, const char *name,
                     struct gz_slice *out)
{
    struct gz_buf v;
    gz_buf_init(&v, STORE_MAX_ATTR_VALUE);
    int rc = store_bucket_attr_get(r->svc->store, bucket, name, &v);
    *out = GZ_SLICE_NULL;
    if (rc == 0 && v.len > 0)
        *out = gz_slice(http_req_strndup(r->req, v.ptr, v.len), v.len);
    gz_buf_free(&v);
    return rc == -ENOENT ? 0 : rc;
}

int s3__attr_cache_get(struct s3_request *r, struct gz_slice bucket, struct gz_slice *policy,
                       enum iam_acl *acl)
{
    /* Read before the store is, so a commit racing with the reads below makes the entry
     * stale at once. */
    uint64_t store_gen = store_generation(r->svc->store);
    uint64_t gen;
    struct gz_slice a;
    if (cache_lookup(r, bucket, store_gen, policy, acl, &gen))
        return 0;
    int rc = attr_read(r, bucket, S3_ATTR_POLICY, policy);
    if (rc == 0)
        rc = attr_read(r, bucket, S3_ATTR_ACL, &a);
    if (rc < 0)
        return rc;
    *acl = IAM_ACL_PRIVATE;
    if (a.len > 0 && iam_acl_parse(a, acl) < 0)
        *acl = IAM_ACL_PRIVATE;
    cache_insert(r->svc->attrs, bucket, store_gen, *policy, *acl, gen);
    return 0;
}
