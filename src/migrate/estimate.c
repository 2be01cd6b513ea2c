/*
 * estimate.c - `gzy migrate estimate`: lists a source (or its first N keys) through the
 * engine's own lister, counting objects and bytes, a power-of-4 size histogram and the
 * archive-class objects (which need a restore before they can be read), and optionally times
 * GETs of a few listed objects to measure what the source delivers to one stream: the largest
 * for the byte rate, the smallest for the cost of an object (request, headers, round trip),
 * which decides the time of a bucket of many small objects.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "evidence.h"
#include "migrate_int.h"

#define EST_PICKS 4
#define EST_PICK_MAX (16 * 1024 * 1024)

static const char *const archive_names[GZ_MIG_ARCHIVE_CLASSES] = {
    "GLACIER", "DEEP_ARCHIVE", "ARCHIVE", "ColdArchive", "DeepColdArchive", "COLD",
};

const char *gz_migrate_archive_class_name(int i)
{
    return i >= 0 && i < GZ_MIG_ARCHIVE_CLASSES ? archive_names[i] : "";
}

int gz_migrate_archive_class(const char *storage_class)
{
    for (int i = 0; storage_class && i < GZ_MIG_ARCHIVE_CLASSES; i++)
        if (strcasecmp(storage_class, archive_names[i]) == 0)
            return i;
    return -1;
}

int gz_migrate_hist_bucket(int64_t size)
{
    int b = 0;
    for (int64_t limit = 4096; b < GZ_MIG_HIST_BUCKETS - 1 && size >= limit; limit *= 4)
        b++;
    return b;
}

void gz_migrate_hist_label(int bucket, char *out, size_t outsz)
{
    static const char *const units[] = {"KiB", "MiB", "GiB"};
    if (bucket <= 0) {
        snprintf(out, outsz, "<4 KiB");
    } else if (bucket >= GZ_MIG_HIST_BUCKETS - 1) {
        snprintf(out, outsz, ">=4 GiB");
    } else {
        /* bucket b covers [4^b KiB, 4^(b+1) KiB) */
        int lo_exp = 2 * bucket, hi_exp = 2 * bucket + 2; /* powers of two of KiB */
        snprintf(out, outsz, "%d-%d %s", 1 << (lo_exp % 10), 1 << (hi_exp % 10 ? hi_exp % 10 : 10),
                 units[lo_exp / 10]);
    }
}

struct est_pick {
    char *key;
    int64_t size;
};

struct est_ctx {
    struct gz_mig_estimate *e;
    struct est_pick pick[EST_PICKS];  /* the largest up to EST_PICK_MAX: the byte rate */
    struct est_pick small[EST_PICKS]; /* the smallest: the cost of an object */
};

/* Keeps in picks the EST_PICKS objects that rank best (largest, or smallest with smallest):
 * a free slot, else the worst-ranked one if this one ranks better. */
static void pick_keep(struct est_pick *picks, const struct mig_entry *ent, bool smallest)
{
    int slot = -1;
    for (int i = 0; i < EST_PICKS; i++) {
        if (!picks[i].key) {
            slot = i;
            break;
        }
        bool better = smallest ? ent->size < picks[i].size : ent->size > picks[i].size;
        bool worse = slot < 0 || (smallest ? picks[i].size > picks[slot].size
                                           : picks[i].size < picks[slot].size);
        if (better && worse)
            slot = i;
    }
    if (slot < 0)
        return;
    gz_free(picks[slot].key);
    picks[slot].key = gz_strdup(ent->key);
    picks[slot].size = ent->size;
}

static void pick_consider(struct est_ctx *c, const struct mig_entry *ent)
{
    if (ent->size < 0 || ent->size > EST_PICK_MAX)
        return;
    if (ent->size > 0)
        pick_keep(c->pick, ent, false);
    pick_keep(c->small, ent, true);
}

static int on_entry(void *arg, const struct mig_entry *ent)
{
    struct est_ctx *c = arg;
    struct gz_mig_estimate *e = c->e;
    if (e->sample > 0 && e->objects >= e->sample) {
        e->truncated = true; /* a key beyond the sample exists */
        return 1;            /* stops the listing */
    }
    e->objects++;
    e->bytes += ent->size;
    int b = gz_migrate_hist_bucket(ent->size);
    e->hist[b]++;
    e->hist_bytes[b] += ent->size;
    int a = gz_migrate_archive_class(ent->storage_class);
    if (a >= 0) {
        e->archive++;
        e->archive_bytes += ent->size;
        e->archive_class[a]++;
    } else {
        pick_consider(c, ent);
    }
    return 0;
}

static size_t count_sink(char *p, size_t sz, size_t n, void *arg)
{
    *(int64_t *)arg += (int64_t)(sz * n);
    return sz * n;
}

/* GETs the picked objects one after the other, adding up the objects, bytes and time of
 * those that succeeded (a failed GET is left out). */
static void get_picks(const struct mig_client *cl, CURL *h, const struct est_pick *picks,
                      int64_t *objects, int64_t *bytes, int64_t *ns)
{
    struct mig_resp resp;
    mig_resp_init(&resp, 4096);
    for (int i = 0; i < EST_PICKS; i++) {
        if (!picks[i].key)
            continue;
        int64_t got = 0;
        struct mig_req rq = {
            .method = "GET", .key = picks[i].key, .sink = count_sink, .sink_arg = &got};
        int64_t t0 = gz_monotonic_ns();
        int rc = mig_s3_once(cl, h, &rq, &resp);
        int64_t took = gz_monotonic_ns() - t0;
        if (rc != 0 || resp.status != 200 || got != picks[i].size)
            continue;
        (*objects)++;
        *bytes += got;
        *ns += took;
    }
    mig_resp_free(&resp);
}

/* The byte rate from the largest picks, then the cost of an object from the smallest: their
 * mean time less their bytes' time at that rate (at least a tenth of the mean: a fast small
 * GET still costs a round trip). */
static void measure(const struct mig_client *cl, CURL *h, struct est_ctx *c)
{
    struct gz_mig_estimate *e = c->e;
    int64_t ns = 0, n = 0, bytes = 0, small_ns = 0;
    get_picks(cl, h, c->pick, &e->measured_objects, &e->measured_bytes, &ns);
    e->measured_ms = ns / 1000000;
    if (ns > 0)
        e->measured_bps = (double)e->measured_bytes * 1e9 / (double)ns;
    get_picks(cl, h, c->small, &n, &bytes, &small_ns);
    e->measured_small_objects = n;
    e->measured_small_ms = small_ns / 1000000;
    if (n == 0 || small_ns <= 0)
        return;
    double mean_s = (double)small_ns / 1e9 / (double)n;
    double per_object_s = mean_s;
    if (e->measured_bps > 0)
        per_object_s -= (double)bytes / (double)n / e->measured_bps;
    if (per_object_s < mean_s / 10)
        per_object_s = mean_s / 10;
    e->measured_ops = 1.0 / per_object_s;
}

int gz_migrate_estimate(const struct gz_mig_endpoint *src, int64_t sample, bool measure_rate,
                        struct gz_mig_estimate *est, char *err, size_t errsz)
{
    memset(est, 0, sizeof(*est));
    est->sample = sample > 0 ? sample : 0;
    struct mig_client cl;
    int rc = mig_client_init(&cl, src, "source", err, errsz);
    if (rc)
        return rc;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errsz, "libcurl initialisation failed");
        return -EIO;
    }
    CURL *h = curl_easy_init();
    if (!h) {
        snprintf(err, errsz, "out of memory (curl)");
        curl_global_cleanup();
        return -ENOMEM;
    }
    struct est_ctx c = {.e = est};
    int64_t retries = 0, t0 = gz_now_ms();
    rc = mig_list(&cl, h, src->prefix, on_entry, &c, &retries, err, errsz);
    if (rc == 1 && est->truncated)
        rc = 0;
    est->elapsed_ms = gz_now_ms() - t0;
    if (rc == 0 && measure_rate)
        measure(&cl, h, &c);
    for (int i = 0; i < EST_PICKS; i++) {
        gz_free(c.pick[i].key);
        gz_free(c.small[i].key);
    }
    curl_easy_cleanup(h);
    curl_global_cleanup();
    if (rc > 0)
        rc = -EIO;
    return rc;
}
