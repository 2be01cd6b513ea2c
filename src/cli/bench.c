/* bench.c - `gzy bench`: the S3 load generator's command line and report (text or --json). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench/bench.h"
#include "../util/util.h"
#include "cli.h"

static void bench_usage(void)
{
    printf("usage: gzy bench OPERATION [options]\n"
           "       gzy bench --raw-url http[s]://HOST:PORT/PATH [options]   (plain unsigned GETs)\n"
           "\n"
           "operations: put, get, head, list, delete, multipart-put, mixed\n"
           "\n"
           "  --endpoint URL        S3 endpoint, http:// or https:// [GZY_BENCH_ENDPOINT] "
           "(http://127.0.0.1:9000)\n"
           "  --ca-bundle FILE      https: PEM CAs to trust [GZY_CA_BUNDLE, AWS_CA_BUNDLE] "
           "(system)\n"
           "  --insecure            https: do not verify the certificate or host name\n"
           "  --addressing A        path (host/bucket/key) or virtual (bucket.host/key) (path)\n"
           "  --access-key KEY      [AWS_ACCESS_KEY_ID]\n"
           "  --secret-key SECRET   [AWS_SECRET_ACCESS_KEY]\n"
           "  --region REGION       [AWS_REGION] (us-east-1)\n"
           "  --bucket NAME         created if missing (gzy-bench)\n"
           "  --prefix PREFIX       key prefix (bench/)\n"
           "  --size SIZE           4KiB | 1KiB-1MiB (uniform) | lognormal:64KiB (4KiB)\n"
           "  --concurrency N       connections (16)\n"
           "  --threads N           event loops (2)\n"
           "  --duration D          10s, 500ms, 2m (10s)\n"
           "  --count N             stop after N operations instead\n"
           "  --objects N           objects uploaded first for get/head/list/delete/mixed (100)\n"
           "  --no-prepare          do not upload them (e.g. to measure errors)\n"
           "  --no-create-bucket    the bucket exists: do not send CreateBucket\n"
           "  --mix SPEC            mixed weights, e.g. get=70,put=20,delete=10\n"
           "  --part-size SIZE      multipart-put part size (5MiB)\n"
           "  --payload-hash H      unsigned (UNSIGNED-PAYLOAD), sha256, streaming (signed\n"
           "                        aws-chunked) or streaming-unsigned-trailer (aws-chunked\n"
           "                        with a CRC32C trailer) (unsigned)\n"
           "  --chunk-size SIZE     aws-chunked data bytes per chunk (64KiB)\n"
           "  --no-sign             send unsigned requests\n"
           "  --raw-url URL         GET this URL, unsigned (compare with wrk/nginx)\n"
           "  --json                print the report as JSON\n");
}

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

enum { OPT_ENDPOINT = 256, OPT_AK, OPT_SK, OPT_REGION, OPT_BUCKET, OPT_PREFIX, OPT_SIZE,
       OPT_CONC, OPT_THREADS, OPT_DURATION, OPT_COUNT, OPT_OBJECTS, OPT_NOPREP, OPT_MIX,
       OPT_PART, OPT_PH, OPT_NOSIGN, OPT_RAW, OPT_JSON, OPT_HELP, OPT_CA, OPT_INSECURE,
       OPT_ADDR, OPT_CHUNK, OPT_NOCREATE };

static const struct option bench_long[] = {
    {"endpoint", required_argument, NULL, OPT_ENDPOINT},
    {"access-key", required_argument, NULL, OPT_AK},
    {"secret-key", required_argument, NULL, OPT_SK},
    {"region", required_argument, NULL, OPT_REGION},
    {"bucket", required_argument, NULL, OPT_BUCKET},
    {"prefix", required_argument, NULL, OPT_PREFIX},
    {"size", required_argument, NULL, OPT_SIZE},
    {"concurrency", required_argument, NULL, OPT_CONC},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"count", required_argument, NULL, OPT_COUNT},
    {"objects", required_argument, NULL, OPT_OBJECTS},
    {"no-prepare", no_argument, NULL, OPT_NOPREP},
    {"mix", required_argument, NULL, OPT_MIX},
    {"part-size", required_argument, NULL, OPT_PART},
    {"payload-hash", required_argument, NULL, OPT_PH},
    {"no-sign", no_argument, NULL, OPT_NOSIGN},
    {"raw-url", required_argument, NULL, OPT_RAW},
    {"json", no_argument, NULL, OPT_JSON},
    {"help", no_argument, NULL, OPT_HELP},
    {"ca-bundle", required_argument, NULL, OPT_CA},
    {"insecure", no_argument, NULL, OPT_INSECURE},
    {"addressing", required_argument, NULL, OPT_ADDR},
    {"chunk-size", required_argument, NULL, OPT_CHUNK},
    {"no-create-bucket", no_argument, NULL, OPT_NOCREATE},
    {NULL, 0, NULL, 0},
};

static int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

static void opts_defaults(struct bench_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->op = BENCH_OP_COUNT + 100;   /* unset */
    o->endpoint = env_or("GZY_BENCH_ENDPOINT", "http://127.0.0.1:9000");
    o->access_key = env_or("AWS_ACCESS_KEY_ID", "");
    o->secret_key = env_or("AWS_SECRET_ACCESS_KEY", "");
    o->region = env_or("AWS_REGION", env_or("AWS_DEFAULT_REGION", "us-east-1"));
    o->bucket = "gzy-bench";
    o->prefix = "bench/";
    bench_size_parse("4KiB", &o->size);
    o->concurrency = 16;
    o->threads = 2;
    o->duration_ms = 10000;
    o->objects = 100;
    o->part_size = 5 * 1024 * 1024;
    o->prepare = true;
    o->sign = true;
    o->ca_bundle = env_or("GZY_CA_BUNDLE", env_or("AWS_CA_BUNDLE", NULL));
    o->chunk_size = 64 * 1024;
    o->create_bucket = true;
}

/* Returns 0, 1 for --help, or -EINVAL (message printed). */
static int opts_parse_one(struct bench_opts *o, int opt, const char *arg, bool *json)
{
    uint64_t v;
    switch (opt) {
    case OPT_ENDPOINT: o->endpoint = arg; return 0;
    case OPT_AK: o->access_key = arg; return 0;
    case OPT_SK: o->secret_key = arg; return 0;
    case OPT_REGION: o->region = arg; return 0;
    case OPT_BUCKET: o->bucket = arg; return 0;
    case OPT_PREFIX: o->prefix = arg; return 0;
    case OPT_SIZE: return bench_size_parse(arg, &o->size);
    case OPT_CONC:
        if (parse_uint(arg, 1, 100000, &v) != 0)
            return -EINVAL;
        o->concurrency = (unsigned)v;
        return 0;
    case OPT_THREADS:
        if (parse_uint(arg, 1, 256, &v) != 0)
            return -EINVAL;
        o->threads = (unsigned)v;
        return 0;
    case OPT_DURATION: return bench_duration_parse(arg, &o->duration_ms);
    case OPT_COUNT: return parse_uint(arg, 1, UINT64_MAX / 2, &o->count);
    case OPT_OBJECTS: return parse_uint(arg, 1, 100000000, &o->objects);
    case OPT_NOPREP: o->prepare = false; return 0;
    case OPT_MIX: o->op = BENCH_OP_MIXED; return bench_mix_parse(arg, &o->mix);
    case OPT_PART:
        if (bench_bytes_parse(arg, &o->part_size) != 0 || o->part_size == 0)
            return -EINVAL;
        return 0;
    case OPT_PH:
        if (strcmp(arg, "unsigned") == 0 || strcmp(arg, "UNSIGNED-PAYLOAD") == 0)
            o->payload_hash = BENCH_PAYLOAD_UNSIGNED;
        else if (strcmp(arg, "sha256") == 0)
            o->payload_hash = BENCH_PAYLOAD_SHA256;
        else if (strcmp(arg, "streaming") == 0 ||
                 strcmp(arg, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD") == 0)
            o->payload_hash = BENCH_PAYLOAD_STREAMING;
        else if (strcmp(arg, "streaming-unsigned-trailer") == 0 ||
                 strcmp(arg, "STREAMING-UNSIGNED-PAYLOAD-TRAILER") == 0)
            o->payload_hash = BENCH_PAYLOAD_STREAMING_TRAILER;
        else
            return -EINVAL;
        return 0;
    case OPT_CA: o->ca_bundle = arg; return 0;
    case OPT_INSECURE: o->insecure = true; return 0;
    case OPT_NOCREATE: o->create_bucket = false; return 0;
    case OPT_ADDR:
        if (strcmp(arg, "path") == 0)
            o->addressing = BENCH_ADDR_PATH;
        else if (strcmp(arg, "virtual") == 0)
            o->addressing = BENCH_ADDR_VIRTUAL;
        else
            return -EINVAL;
        return 0;
    case OPT_CHUNK:
        /* at least 8 KiB like the SDKs; at most 16 MiB (the server's chunk limit) */
        if (bench_bytes_parse(arg, &o->chunk_size) != 0 || o->chunk_size < 8192 ||
            o->chunk_size > 16 * 1024 * 1024)
            return -EINVAL;
        return 0;
    case OPT_NOSIGN: o->sign = false; return 0;
    case OPT_RAW: o->raw_url = arg; o->op = BENCH_OP_RAW; o->sign = false; return 0;
    case OPT_JSON: *json = true; return 0;
    case OPT_HELP: return 1;
    default: return -EINVAL;
    }
}

static int opts_parse(struct bench_opts *o, int argc, char **argv, bool *json)
{
    int opt, idx = 0;
    bool have_mix = false;
    opts_defaults(o);
    optind = 1;
    opterr = 0;
    /* argv[0] is "bench" (getopt_long skips it) */
    while ((opt = getopt_long(argc, argv, "", bench_long, &idx)) != -1) {
        const char *name = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
        int rc = opts_parse_one(o, opt, optarg, json);
        if (opt == OPT_MIX)
            have_mix = true;
        if (rc == 1)
            return 1;
        if (rc != 0) {
            fprintf(stderr, "gzy bench: bad option or value: %s%s%s\n", name,
                    optarg ? " " : "", optarg ? optarg : "");
            return -EINVAL;
        }
    }
    if (optind < argc) {
        enum bench_op op;
        if (bench_op_parse(argv[optind], &op) != 0 || op == BENCH_OP_RAW) {
            fprintf(stderr, "gzy bench: unknown operation '%s'\n", argv[optind]);
            return -EINVAL;
        }
        if (!(op == BENCH_OP_MIXED && have_mix))
            o->op = op;
        optind++;
    }
    if (optind < argc || o->op > BENCH_OP_RAW) {
        fprintf(stderr, "gzy bench: give one operation (gzy bench --help)\n");
        return -EINVAL;
    }
    if (o->op == BENCH_OP_MIXED && !have_mix)
        bench_mix_parse("get=70,put=20,delete=10", &o->mix);
    if (o->sign && (!*o->access_key || !*o->secret_key)) {
        fprintf(stderr, "gzy bench: --access-key/--secret-key (or AWS_ACCESS_KEY_ID/"
                        "AWS_SECRET_ACCESS_KEY) are required\n");
        return -EINVAL;
    }
    if (!o->sign && o->payload_hash >= BENCH_PAYLOAD_STREAMING) {
        fprintf(stderr, "gzy bench: --payload-hash streaming modes need signed requests\n");
        return -EINVAL;
    }
    if (o->threads > o->concurrency)
        o->threads = o->concurrency;
    return 0;
}

static const double quantiles[] = {0.5, 0.9, 0.99, 0.999};
static const char *const qnames[] = {"p50", "p90", "p99", "p999"};

static void print_line(const char *name, const struct bench_op_result *r, double secs)
{
    printf("%-14s %10llu ops %11.1f ops/s %9.2f MB/s  errors %llu\n", name,
           (unsigned long long)r->ops, (double)r->ops / secs, (double)r->bytes / secs / 1e6,
           (unsigned long long)r->errors);
    if (r->hist.count == 0)
        return;
    printf("%-14s latency ms:", "");
    for (size_t i = 0; i < 4; i++)
        printf(" %s %.3f", qnames[i], (double)bench_hist_quantile(&r->hist, quantiles[i]) / 1e6);
    printf(" max %.3f mean %.3f\n", (double)r->hist.max / 1e6,
           (double)r->hist.sum / (double)r->hist.count / 1e6);
}

static const char *const ph_names[] = {"unsigned", "sha256", "streaming",
                                       "streaming-unsigned-trailer"};

static bool is_https(const struct bench_opts *o)
{
    return strncmp(o->op == BENCH_OP_RAW ? o->raw_url : o->endpoint, "https://", 8) == 0;
}

static void report_text(const struct bench_opts *o, const struct bench_result *res)
{
    double secs = res->seconds > 0 ? res->seconds : 1e-9;
    printf("gzy bench %s: %s, %u connections, %u threads, %.2f s\n", bench_op_name(o->op),
           o->op == BENCH_OP_RAW ? o->raw_url : o->endpoint, o->concurrency, o->threads, secs);
    if (o->op != BENCH_OP_RAW)
        printf("addressing %s, payload %s%s\n",
               o->addressing == BENCH_ADDR_VIRTUAL ? "virtual" : "path",
               o->sign ? ph_names[o->payload_hash] : "not signed",
               o->payload_hash >= BENCH_PAYLOAD_STREAMING ? " (aws-chunked)" : "");
    if (is_https(o) && o->insecure)
        printf("TLS: INSECURE, the certificate and host name are not verified (--insecure)\n");
    print_line("total", &res->total, secs);
    if (o->op == BENCH_OP_MIXED) {
        for (size_t k = 0; k < BENCH_OP_COUNT; k++)
            if (res->by_op[k].ops || res->by_op[k].errors)
                print_line(bench_op_name((enum bench_op)k), &res->by_op[k], secs);
    }
    if (bench_errs_total(&res->errs) == 0)
        return;
    printf("errors by code:\n");
    for (size_t i = 0; i < BENCH_ERR_SLOTS; i++)
        if (res->errs.count[i])
            printf("  %-40s %llu\n", res->errs.name[i], (unsigned long long)res->errs.count[i]);
    if (res->errs.other)
        printf("  %-40s %llu\n", "(other)", (unsigned long long)res->errs.other);
}

static cJSON *json_op(const struct bench_op_result *r, double secs)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "ops", (double)r->ops);
    cJSON_AddNumberToObject(j, "errors", (double)r->errors);
    cJSON_AddNumberToObject(j, "bytes", (double)r->bytes);
    cJSON_AddNumberToObject(j, "ops_per_s", (double)r->ops / secs);
    cJSON_AddNumberToObject(j, "mb_per_s", (double)r->bytes / secs / 1e6);
    cJSON *lat = cJSON_AddObjectToObject(j, "latency_ms");
    for (size_t i = 0; i < 4; i++)
        cJSON_AddNumberToObject(lat, qnames[i],
                                (double)bench_hist_quantile(&r->hist, quantiles[i]) / 1e6);
    cJSON_AddNumberToObject(lat, "max", (double)r->hist.max / 1e6);
    cJSON_AddNumberToObject(lat, "mean",
                            r->hist.count ? (double)r->hist.sum / (double)r->hist.count / 1e6
                                          : 0.0);
    return j;
}

static void report_json(const struct bench_opts *o, const struct bench_result *res)
{
    double secs = res->seconds > 0 ? res->seconds : 1e-9;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "operation", bench_op_name(o->op));
    cJSON_AddStringToObject(root, "endpoint", o->op == BENCH_OP_RAW ? o->raw_url : o->endpoint);
    cJSON_AddNumberToObject(root, "concurrency", o->concurrency);
    cJSON_AddNumberToObject(root, "threads", o->threads);
    cJSON_AddNumberToObject(root, "seconds", secs);
    cJSON_AddBoolToObject(root, "tls", is_https(o));
    cJSON_AddBoolToObject(root, "insecure", is_https(o) && o->insecure);
    cJSON_AddStringToObject(root, "addressing",
                            o->addressing == BENCH_ADDR_VIRTUAL ? "virtual" : "path");
    cJSON_AddStringToObject(root, "payload_hash", ph_names[o->payload_hash]);
    cJSON *total = json_op(&res->total, secs);
    cJSON_AddItemToObject(root, "total", total);
    cJSON *by = cJSON_AddObjectToObject(root, "by_op");
    for (size_t k = 0; k < BENCH_OP_COUNT; k++)
        if (res->by_op[k].ops || res->by_op[k].errors)
            cJSON_AddItemToObject(by, bench_op_name((enum bench_op)k),
                                  json_op(&res->by_op[k], secs));
    cJSON *errs = cJSON_AddObjectToObject(root, "errors");
    for (size_t i = 0; i < BENCH_ERR_SLOTS; i++)
        if (res->errs.count[i])
            cJSON_AddNumberToObject(errs, res->errs.name[i], (double)res->errs.count[i]);
    if (res->errs.other)
        cJSON_AddNumberToObject(errs, "(other)", (double)res->errs.other);
    char *text = cJSON_Print(root);
    if (text)
        printf("%s\n", text);
    cJSON_free(text);
    cJSON_Delete(root);
}

int gz_cmd_bench(int argc, char **argv)
{
    struct bench_opts o;
    bool json = false;
    char msg[256] = "";
    /* argv[-1] is "bench": hand getopt_long an argv whose [0] is the command name */
    int rc = opts_parse(&o, argc + 1, argv - 1, &json);
    if (rc == 1) {
        bench_usage();
        return 0;
    }
    if (rc != 0)
        return 2;
    struct bench_result *res = gz_malloc(sizeof(*res));
    rc = bench_run(&o, res, msg, sizeof(msg));
    if (rc != 0) {
        fprintf(stderr, "gzy bench: %s\n", msg[0] ? msg : gz_strerror(rc));
        gz_free(res);
        return 1;
    }
    if (json)
        report_json(&o, res);
    else
        report_text(&o, res);
    /* exit 0 even with errors: they are in the report; 3 if nothing succeeded at all */
    rc = res->total.ops == 0 ? 3 : 0;
    gz_free(res);
    return rc;
}
