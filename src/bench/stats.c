/* stats.c - histograms, error tables, sizes, durations and operation mixes of `gzy bench`. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static const char *const op_names[] = {
    [BENCH_OP_PUT] = "put",         [BENCH_OP_GET] = "get",       [BENCH_OP_HEAD] = "head",
    [BENCH_OP_LIST] = "list",       [BENCH_OP_DELETE] = "delete",
    [BENCH_OP_MULTIPART] = "multipart-put", [BENCH_OP_MIXED] = "mixed", [BENCH_OP_RAW] = "raw",
    [BENCH_OP_MKBUCKET] = "create-bucket",
};

const char *bench_op_name(enum bench_op op)
{
    if ((size_t)op >= sizeof(op_names) / sizeof(op_names[0]))
        return NULL;
    return op_names[op];
}

int bench_op_parse(const char *name, enum bench_op *out)
{
    for (size_t i = 0; i <= BENCH_OP_RAW; i++) {
        if (strcmp(name, op_names[i]) == 0) {
            *out = (enum bench_op)i;
            return 0;
        }
    }
    if (strcmp(name, "multipart") == 0) {
        *out = BENCH_OP_MULTIPART;
        return 0;
    }
    return -EINVAL;
}

void bench_hist_init(struct bench_hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

size_t bench_hist_index(uint64_t v)
{
    if (v < BENCH_HIST_SUB)
        return (size_t)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned e = msb - 6;  /* v >> e lies in [64, 128) */
    return BENCH_HIST_SUB + (size_t)(e - 1) * (BENCH_HIST_SUB / 2) +
           (size_t)((v >> e) - BENCH_HIST_SUB / 2);
}

uint64_t bench_hist_lower(size_t idx)
{
    if (idx < BENCH_HIST_SUB)
        return idx;
    size_t k = idx - BENCH_HIST_SUB;
    unsigned e = (unsigned)(k / (BENCH_HIST_SUB / 2)) + 1;
    uint64_t m = k % (BENCH_HIST_SUB / 2) + BENCH_HIST_SUB / 2;
    return m << e;
}

void bench_hist_record(struct bench_hist *h, uint64_t v)
{
    size_t i = bench_hist_index(v);
    if (i >= BENCH_HIST_BUCKETS)
        i = BENCH_HIST_BUCKETS - 1;
    h->buckets[i]++;
    h->count++;
    h->sum += v;
    if (v > h->max)
        h->max = v;
    if (v < h->min)
        h->min = v;
}

void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src)
{
    for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->max > dst->max)
        dst->max = src->max;
    if (src->min < dst->min)
        dst->min = src->min;
}

uint64_t bench_hist_quantile(const struct bench_hist *h, double q)
{
    if (h->count == 0)
        return 0;
    uint64_t want = (uint64_t)ceil(q * (double)h->count);
    if (want < 1)
        want = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= want) {
            uint64_t lo = bench_hist_lower(i);
            uint64_t hi = i + 1 < BENCH_HIST_BUCKETS ? bench_hist_lower(i + 1) : lo;
            uint64_t v = lo + (hi - lo) / 2;
            if (v > h->max)
                v = h->max;
            if (v < h->min)
                v = h->min;
            return v;
        }
    }
    return h->max;
}

void bench_errs_add(struct bench_errs *e, const char *name, uint64_t n)
{
    for (size_t i = 0; i < BENCH_ERR_SLOTS; i++) {
        if (e->name[i][0] == '\0') {
            size_t len = strlen(name);
            if (len >= sizeof(e->name[i]))
                len = sizeof(e->name[i]) - 1;
            memcpy(e->name[i], name, len);
            e->name[i][len] = '\0';
        }
        if (strncmp(e->name[i], name, sizeof(e->name[i]) - 1) == 0) {
            e->count[i] += n;
            return;
        }
    }
    e->other += n;
}

uint64_t bench_errs_total(const struct bench_errs *e)
{
    uint64_t t = e->other;
    for (size_t i = 0; i < BENCH_ERR_SLOTS; i++)
        t += e->count[i];
    return t;
}

uint64_t bench_rng_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

int bench_bytes_parse(const char *s, uint64_t *out)
{
    static const struct { const char *unit; double mult; } units[] = {
        {"", 1}, {"b", 1}, {"k", 1024}, {"kib", 1024}, {"kb", 1e3}, {"m", 1048576},
        {"mib", 1048576}, {"mb", 1e6}, {"g", 1073741824.0}, {"gib", 1073741824.0}, {"gb", 1e9},
    };
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno != 0 || v < 0 || !isfinite(v))
        return -EINVAL;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(end, units[i].unit) == 0) {
            double b = v * units[i].mult;
            if (b > 1e15)
                return -ERANGE;
            *out = (uint64_t)llround(b);
            return 0;
        }
    }
    return -EINVAL;
}

int bench_duration_parse(const char *s, int64_t *ms)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno != 0 || v < 0 || !isfinite(v))
        return -EINVAL;
    double mult;
    if (*end == '\0' || strcmp(end, "s") == 0)
        mult = 1000;
    else if (strcmp(end, "ms") == 0)
        mult = 1;
    else if (strcmp(end, "m") == 0)
        mult = 60000;
    else if (strcmp(end, "h") == 0)
        mult = 3600000;
    else
        return -EINVAL;
    *ms = (int64_t)llround(v * mult);
    return 0;
}

int bench_size_parse(const char *s, struct bench_size *out)
{
    char tmp[64];
    memset(out, 0, sizeof(*out));
    if (strlen(s) >= sizeof(tmp))
        return -EINVAL;
    if (strncmp(s, "lognormal:", 10) == 0) {
        uint64_t median;
        if (bench_bytes_parse(s + 10, &median) != 0 || median == 0)
            return -EINVAL;
        out->kind = BENCH_SIZE_LOGNORMAL;
        out->mu = log((double)median);
        out->sigma = 1.0;
        out->lo = 1;
        out->hi = median * 64;
        return 0;
    }
    strcpy(tmp, s);
    char *dash = strchr(tmp, '-');
    if (dash == NULL) {
        out->kind = BENCH_SIZE_FIXED;
        if (bench_bytes_parse(tmp, &out->lo) != 0)
            return -EINVAL;
        out->hi = out->lo;
        return 0;
    }
    *dash = '\0';
    out->kind = BENCH_SIZE_UNIFORM;
    if (bench_bytes_parse(tmp, &out->lo) != 0 || bench_bytes_parse(dash + 1, &out->hi) != 0 ||
        out->hi < out->lo)
        return -EINVAL;
    return 0;
}

uint64_t bench_size_pick(const struct bench_size *s, uint64_t *rng)
{
    switch (s->kind) {
    case BENCH_SIZE_FIXED:
        return s->lo;
    case BENCH_SIZE_UNIFORM:
        return s->lo + bench_rng_next(rng) % (s->hi - s->lo + 1);
    case BENCH_SIZE_LOGNORMAL: {
        /* Box-Muller from two uniforms in (0, 1]. */
        double u1 = ((double)(bench_rng_next(rng) >> 11) + 1.0) / 9007199254740993.0;
        double u2 = (double)(bench_rng_next(rng) >> 11) / 9007199254740992.0;
        double z = sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
        double v = exp(s->mu + s->sigma * z);
        if (v < (double)s->lo)
            return s->lo;
        if (v > (double)s->hi)
            return s->hi;
        return (uint64_t)v;
    }
    }
    return s->lo;
}

uint64_t bench_size_max(const struct bench_size *s)
{
    return s->hi;
}

int bench_mix_parse(const char *s, struct bench_mix *out)
{
    char tmp[256];
    memset(out, 0, sizeof(*out));
    if (strlen(s) >= sizeof(tmp))
        return -EINVAL;
    strcpy(tmp, s);
    char *save = NULL;
    for (char *tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        enum bench_op op;
        if (eq == NULL)
            return -EINVAL;
        *eq = '\0';
        char *end;
        long w = strtol(eq + 1, &end, 10);
        if (*end != '\0' || end == eq + 1 || w < 0 || w > 1000000 ||
            bench_op_parse(tok, &op) != 0 || op >= BENCH_OP_COUNT)
            return -EINVAL;
        out->weight[op] += (unsigned)w;
        out->total += (unsigned)w;
    }
    return out->total > 0 ? 0 : -EINVAL;
}

enum bench_op bench_mix_pick(const struct bench_mix *m, uint64_t *rng)
{
    unsigned r = (unsigned)(bench_rng_next(rng) % m->total);
    for (size_t i = 0; i < BENCH_OP_COUNT; i++) {
        if (r < m->weight[i])
            return (enum bench_op)i;
        r -= m->weight[i];
    }
    return BENCH_OP_GET;
}
