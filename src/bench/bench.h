/*
 * bench.h - `gzy bench`, an S3 load generator (the role MinIO's warp plays).
 *
 * Event-driven: one libuv loop per thread, keep-alive TCP connections, one request in flight
 * per connection, each request written with one (vectored) write and every response parsed by
 * llhttp as a client. https:// endpoints use a client TLS session per connection (OpenSSL over
 * memory BIOs, tls.c); uploads may be sent aws-chunked (chunked.c), signed chunk by chunk or
 * with a CRC32C trailer. Every S3 request is SigV4 signed (header auth; the signing key is cached
 * per day and thread). Latencies go into log-linear histograms (about 1.5 % resolution); errors
 * are counted by S3 error code (from the XML body) or by HTTP status, never hidden.
 *
 * The stats, size and mix helpers are pure and unit tested (tests/unit/test_bench.c).
 */
#ifndef GZ_BENCH_H
#define GZ_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum bench_op {
    BENCH_OP_PUT = 0,
    BENCH_OP_GET,
    BENCH_OP_HEAD,
    BENCH_OP_LIST,
    BENCH_OP_DELETE,
    BENCH_OP_MULTIPART,
    BENCH_OP_COUNT,          /* number of measured operations */
    BENCH_OP_MIXED = BENCH_OP_COUNT,
    BENCH_OP_RAW,            /* plain unsigned GET of --raw-url */
    BENCH_OP_MKBUCKET,       /* setup only */
};

/* "put" ... "multipart-put", "mixed", "raw"; NULL for an unknown value. */
const char *bench_op_name(enum bench_op op);
int bench_op_parse(const char *name, enum bench_op *out);

/* ---- latency histogram: values in ns, log-linear buckets ---- */
#define BENCH_HIST_SUB 128
#define BENCH_HIST_BUCKETS (BENCH_HIST_SUB + 57 * (BENCH_HIST_SUB / 2))

struct bench_hist {
    uint64_t count;
    uint64_t max;
    uint64_t min;
    uint64_t sum;
    uint64_t buckets[BENCH_HIST_BUCKETS];
};

void bench_hist_init(struct bench_hist *h);
void bench_hist_record(struct bench_hist *h, uint64_t v);
void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src);
/* Value at quantile q in [0,1] (the middle of its bucket, clamped to min/max); 0 if empty. */
uint64_t bench_hist_quantile(const struct bench_hist *h, double q);
size_t bench_hist_index(uint64_t v);
uint64_t bench_hist_lower(size_t idx);

/* ---- errors by name ("NoSuchKey", "HTTP 503", "connect: connection refused") ---- */
#define BENCH_ERR_SLOTS 24
struct bench_errs {
    char name[BENCH_ERR_SLOTS][48];
    uint64_t count[BENCH_ERR_SLOTS];
    uint64_t other;          /* counted when every slot is taken */
};
void bench_errs_add(struct bench_errs *e, const char *name, uint64_t n);
uint64_t bench_errs_total(const struct bench_errs *e);

/* ---- object sizes: fixed, uniform A-B or lognormal MEAN~SIGMA ---- */
enum bench_size_kind { BENCH_SIZE_FIXED, BENCH_SIZE_UNIFORM, BENCH_SIZE_LOGNORMAL };
struct bench_size {
    enum bench_size_kind kind;
    uint64_t lo, hi;         /* fixed: lo; uniform: [lo, hi]; lognormal: clamp to [1, hi] */
    double mu, sigma;        /* lognormal parameters of ln(size) */
};
/* "4KiB", "1KiB-1MiB", "lognormal:64KiB" (median 64 KiB, sigma 1, at most 64x the median). */
int bench_size_parse(const char *s, struct bench_size *out);
uint64_t bench_size_pick(const struct bench_size *s, uint64_t *rng);
uint64_t bench_size_max(const struct bench_size *s);
/* "4KiB", "1.5MB", "100" -> bytes (KiB=1024, KB=1000). */
int bench_bytes_parse(const char *s, uint64_t *out);
/* "10s", "500ms", "2m", "1h" -> ms. */
int bench_duration_parse(const char *s, int64_t *ms);

/* ---- operation mix ---- */
struct bench_mix {
    unsigned weight[BENCH_OP_COUNT];
    unsigned total;
};
/* "get=70,put=20,delete=10"; operations from put/get/head/list/delete/multipart-put. */
int bench_mix_parse(const char *s, struct bench_mix *out);
enum bench_op bench_mix_pick(const struct bench_mix *m, uint64_t *rng);

uint64_t bench_rng_next(uint64_t *state);   /* xorshift64*; state must not be 0 */

/* ---- running ---- */
enum bench_payload_hash {
    BENCH_PAYLOAD_UNSIGNED,          /* UNSIGNED-PAYLOAD */
    BENCH_PAYLOAD_SHA256,            /* the body's SHA-256 */
    BENCH_PAYLOAD_STREAMING,         /* STREAMING-AWS4-HMAC-SHA256-PAYLOAD (signed chunks) */
    BENCH_PAYLOAD_STREAMING_TRAILER, /* STREAMING-UNSIGNED-PAYLOAD-TRAILER + CRC32C trailer */
};
/* The streaming modes apply to object and part uploads; other requests use the SHA-256. */

enum bench_addressing {
    BENCH_ADDR_PATH,     /* http://host/bucket/key */
    BENCH_ADDR_VIRTUAL,  /* Host: bucket.host, path /key (connects to the endpoint's address) */
};

struct bench_opts {
    enum bench_op op;
    struct bench_mix mix;
    struct bench_size size;
    const char *endpoint;        /* http[s]://host[:port] */
    const char *raw_url;         /* BENCH_OP_RAW: http[s]://host[:port]/path */
    const char *ca_bundle;       /* https: PEM CAs to trust (NULL: the system's) */
    bool insecure;               /* https: no certificate or host name verification */
    enum bench_addressing addressing;
    uint64_t chunk_size;         /* aws-chunked data bytes per chunk (streaming modes) */
    const char *access_key, *secret_key, *region;
    const char *bucket;
    const char *prefix;
    enum bench_payload_hash payload_hash;
    unsigned concurrency;
    unsigned threads;
    int64_t duration_ms;         /* 0 = use count */
    uint64_t count;              /* 0 = use duration */
    uint64_t objects;            /* keys prepared for get/head/list/delete/mixed */
    uint64_t part_size;          /* multipart-put */
    bool prepare;                /* upload the objects first (off: test errors) */
    bool create_bucket;          /* send CreateBucket first (off: the bucket exists) */
    bool sign;                   /* off with --no-sign */
};

struct bench_op_result {
    uint64_t ops;
    uint64_t bytes;
    uint64_t errors;
    struct bench_hist hist;
};

struct bench_result {
    double seconds;
    struct bench_op_result total;
    struct bench_op_result by_op[BENCH_OP_COUNT];
    struct bench_errs errs;
};

/* Runs setup (bucket, prepared objects) and the measured phase. Returns 0, or a negative
 * errno when nothing could be measured (bad endpoint, setup failed); msg says why. */
int bench_run(const struct bench_opts *o, struct bench_result *res, char *msg, size_t msgsz);

#endif
