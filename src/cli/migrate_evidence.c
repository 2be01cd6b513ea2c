/*
 * migrate_evidence.c - `gzy migrate verify-manifest`, `gzy migrate estimate`,
 * `gzy migrate manifest-key` and the `--manifest` step of `gzy migrate copy`
 * (src/migrate/evidence.h; the manifest format is in docs/migration-evidence.md).
 * Exit status: 0 ok, 1 failed (a mismatch, a bad signature, an unreachable endpoint), 2 usage.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../migrate/evidence.h"
#include "../util/util.h"
#include "admin_cli.h"
#include "migrate_evidence.h"

#define EV_MAX_PROBLEMS 10000

struct ev_flag {
    const char *name;
    const char **str;
    bool *flag;
};

void gz_cli_migrate_evidence_usage(FILE *f)
{
    fprintf(f,
            "\nusage: gzy migrate verify-manifest MANIFEST [--public-key HEX | --data DIR]\n"
            "         [--endpoint URL] [--bucket B] --access-key K --secret-key S\n"
            "         [--region R] [--concurrency N] [--json]\n"
            "       gzy migrate estimate --source-endpoint URL --source-bucket B\n"
            "         --source-access-key K --source-secret-key S [--source-provider P]\n"
            "         [--source-region R] [--source-prefix P] [--sample N]\n"
            "         [--rate RATE] [--rate-objects N] [--no-measure] [--total-objects N]\n"
            "         [--json]\n"
            "       gzy migrate estimate --job ID [--sample N] [--admin-endpoint URL]\n"
            "         [--access-key K --secret-key S] [--region R] [--json]\n"
            "       gzy migrate manifest-key [--data DIR]\n"
            "\n"
            "verify-manifest checks the manifest's Ed25519 signature against the trusted key\n"
            "(--public-key, else the platform key of --data / $GZY_DATA / ./gzy-data), then\n"
            "GETs every object listed and compares size and SHA-256; exit 0 only if all match.\n"
            "Keys also from GZY_ACCESS_KEY / GZY_SECRET_KEY; --endpoint from GZY_ENDPOINT;\n"
            "--bucket defaults to the manifest's destination bucket.\n"
            "estimate lists the source (or its first --sample N keys) and prints objects, bytes,\n"
            "a size histogram, archive-class objects and the projected duration: the bytes\n"
            "at --rate (e.g. 50M = 50 MiB/s) plus the objects at --rate-objects (objects/s),\n"
            "each measured, when not given, by GETs of a few listed objects (the largest for\n"
            "the byte rate, the smallest for the cost of an object; one stream).\n"
            "estimate --job asks a running gzy serve to estimate a migration job's source (its\n"
            "stored credentials, prefix and filters), waits for it and prints the result, which\n"
            "the job keeps and supervision uses as the tenant's work to move.\n"
            "manifest-key prints the platform's manifest public key (hex) for supervisors.\n");
}

static int ev_parse(const char *cmd, const struct ev_flag *flags, size_t n, int argc, char **argv,
                    const char **positional)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 && positional && !*positional) {
            *positional = a;
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t alen = eq ? (size_t)(eq - a) : strlen(a);
        size_t k = 0;
        for (; k < n; k++)
            if (strncmp(a, "--", 2) == 0 && alen == strlen(flags[k].name) + 2 &&
                strncmp(a + 2, flags[k].name, alen - 2) == 0)
                break;
        if (k == n) {
            fprintf(stderr, "gzy migrate %s: unknown option '%s'\n", cmd, a);
            return -EINVAL;
        }
        if (flags[k].flag) {
            *flags[k].flag = true;
        } else if (eq) {
            *flags[k].str = eq + 1;
        } else if (i + 1 < argc) {
            *flags[k].str = argv[++i];
        } else {
            fprintf(stderr, "gzy migrate %s: --%s needs a value\n", cmd, flags[k].name);
            return -EINVAL;
        }
    }
    return 0;
}

static int parse_count(const char *cmd, const char *name, const char *v, int64_t max, int64_t *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || *end || end == v || x < 1 || x > max) {
        fprintf(stderr, "gzy migrate %s: --%s must be 1..%lld\n", cmd, name, (long long)max);
        return -EINVAL;
    }
    *out = x;
    return 0;
}

static void human_bytes(char *out, size_t outsz, double b)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int u = 0;
    while (b >= 1024 && u < 5) {
        b /= 1024;
        u++;
    }
    snprintf(out, outsz, u ? "%.1f %s" : "%.0f %s", b, units[u]);
}

static void human_duration(char *out, size_t outsz, double s)
{
    int64_t t = (int64_t)ceil(s);
    if (t >= 86400)
        snprintf(out, outsz, "%lldd %02lld:%02lld:%02lld", (long long)(t / 86400),
                 (long long)(t / 3600 % 24), (long long)(t / 60 % 60), (long long)(t % 60));
    else
        snprintf(out, outsz, "%02lld:%02lld:%02lld", (long long)(t / 3600),
                 (long long)(t / 60 % 60), (long long)(t % 60));
}

/* "50M", "1.5G", "800K", "50MiB/s", "100MB", "1048576": bytes per second (K = 1024). */
static int parse_rate(const char *v, double *out)
{
    char *end;
    double x = strtod(v, &end);
    if (end == v || !(x > 0) || !isfinite(x))
        return -EINVAL;
    static const char units[] = "KMGT";
    const char *u = *end ? strchr(units, *end == 'k' ? 'K' : *end) : NULL;
    if (*end && !u)
        return -EINVAL;
    if (u) {
        x *= pow(1024.0, (double)(u - units + 1));
        end++;
    }
    if (strcmp(end, "") != 0 && strcmp(end, "B") != 0 && strcmp(end, "iB") != 0 &&
        strcmp(end, "/s") != 0 && strcmp(end, "B/s") != 0 && strcmp(end, "iB/s") != 0)
        return -EINVAL;
    *out = x;
    return 0;
}

static const char *data_dir_default(const char *flag)
{
    if (flag && *flag)
        return flag;
    const char *env = getenv("GZY_DATA");
    return env && *env ? env : "./gzy-data";
}

static void print_json(cJSON *doc)
{
    char *text = cJSON_PrintUnformatted(doc);
    if (text)
        printf("%s\n", text);
    cJSON_free(text);
}

/* ---- verify-manifest ---- */

struct vm_cli {
    bool json;
    cJSON *problems;
    int64_t n_problems;
};

static void on_bad(void *arg, const char *key, const char *problem, const char *detail)
{
    struct vm_cli *v = arg;
    v->n_problems++;
    if (!v->json) {
        printf("%-10s %s  (%s)\n", problem, key, detail);
        fflush(stdout);
        return;
    }
    if (v->n_problems > EV_MAX_PROBLEMS)
        return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "key", key);
    cJSON_AddStringToObject(o, "problem", problem);
    cJSON_AddStringToObject(o, "detail", detail);
    cJSON_AddItemToArray(v->problems, o);
}

static int vm_key(const char *cmd, const char *hex, const char *data, uint8_t pub[32])
{
    if (hex) {
        if (strlen(hex) != 64 || gz_hex_decode(pub, 32, gz_slice(hex, 64)) != 32) {
            fprintf(stderr, "gzy migrate %s: --public-key must be 64 hex digits\n", cmd);
            return -EINVAL;
        }
        return 0;
    }
    const char *dir = data_dir_default(data);
    int rc = gz_migrate_manifest_key(dir, NULL, pub);
    if (rc)
        fprintf(stderr,
                "gzy migrate %s: no trusted key: %s/master.key: %s (give --public-key"
                " HEX or --data DIR)\n",
                cmd, dir, gz_strerror(rc));
    return rc;
}

static void vm_report(const struct vm_cli *v, const struct gz_mig_check_result *r, int rc,
                      const char *err)
{
    const char *status = rc == 0                ? "ok"
                         : rc == GZ_MIG_PARTIAL ? "failed"
                         : rc == GZ_ECORRUPT    ? "bad-manifest"
                                                : "error";
    if (!v->json) {
        if (rc != 0 && rc != GZ_MIG_PARTIAL)
            fprintf(stderr, "gzy migrate verify-manifest: %s\n", err);
        else
            printf("signature ok; objects %lld: ok %lld, missing %lld, mismatched %lld,"
                   " errors %lld%s\n",
                   (long long)r->objects, (long long)r->ok, (long long)r->missing,
                   (long long)r->mismatched, (long long)r->errors,
                   r->size_only ? " (some matched by size only)" : "");
        return;
    }
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "status", status);
    cJSON_AddBoolToObject(doc, "signature_ok", rc == 0 || rc == GZ_MIG_PARTIAL);
    if (rc != 0 && rc != GZ_MIG_PARTIAL)
        cJSON_AddStringToObject(doc, "error", err);
    cJSON_AddNumberToObject(doc, "objects", (double)r->objects);
    cJSON_AddNumberToObject(doc, "bytes", (double)r->bytes);
    cJSON_AddNumberToObject(doc, "ok", (double)r->ok);
    cJSON_AddNumberToObject(doc, "missing", (double)r->missing);
    cJSON_AddNumberToObject(doc, "mismatched", (double)r->mismatched);
    cJSON_AddNumberToObject(doc, "errors", (double)r->errors);
    cJSON_AddNumberToObject(doc, "size_only", (double)r->size_only);
    cJSON_AddNumberToObject(doc, "bytes_read", (double)r->bytes_read);
    cJSON_AddNumberToObject(doc, "elapsed_ms", (double)r->elapsed_ms);
    cJSON_AddItemReferenceToObject(doc, "problems", v->problems);
    cJSON_AddBoolToObject(doc, "problems_truncated", v->n_problems > EV_MAX_PROBLEMS);
    print_json(doc);
    cJSON_Delete(doc);
}

static int cmd_verify_manifest(int argc, char **argv)
{
    const char *cmd = "verify-manifest", *path = NULL, *pubhex = NULL, *data = NULL;
    const char *conc = NULL;
    struct vm_cli v = {0};
    struct gz_mig_check_options o = {.dst.endpoint = getenv("GZY_ENDPOINT"),
                                     .dst.access_key = getenv("GZY_ACCESS_KEY"),
                                     .dst.secret_key = getenv("GZY_SECRET_KEY")};
    const struct ev_flag flags[] = {
        {"public-key", &pubhex, NULL},
        {"data", &data, NULL},
        {"endpoint", &o.dst.endpoint, NULL},
        {"bucket", &o.dst.bucket, NULL},
        {"access-key", &o.dst.access_key, NULL},
        {"secret-key", &o.dst.secret_key, NULL},
        {"region", &o.dst.region, NULL},
        {"concurrency", &conc, NULL},
        {"json", NULL, &v.json},
    };
    int64_t c = 8;
    if (ev_parse(cmd, flags, GZ_ARRAY_LEN(flags), argc, argv, &path) != 0 ||
        (conc && parse_count(cmd, "concurrency", conc, 256, &c) != 0))
        return 2;
    if (!path) {
        fprintf(stderr, "gzy migrate verify-manifest: MANIFEST is required\n");
        return 2;
    }
    uint8_t pub[32];
    int rc = vm_key(cmd, pubhex, data, pub);
    if (rc)
        return rc == -EINVAL ? 2 : 1;
    o.public_key = pub;
    o.concurrency = (int)c;
    o.on_bad = on_bad;
    o.cb_arg = &v;
    v.problems = cJSON_CreateArray();
    struct gz_mig_check_result r;
    char err[1024] = "";
    rc = gz_migrate_manifest_check(path, &o, &r, err, sizeof(err));
    vm_report(&v, &r, rc, err);
    cJSON_Delete(v.problems);
    return rc == 0 ? 0 : rc == -EINVAL ? 2 : 1;
}

/* ---- estimate ---- */

struct est_cli {
    struct gz_mig_endpoint src;
    bool json, no_measure;
    int64_t sample, total_objects;
    double rate;         /* given, bytes/s; 0: measure */
    double rate_objects; /* given, objects/s; 0: measure */
};

static int est_parse(struct est_cli *e, int argc, char **argv)
{
    const char *cmd = "estimate", *provider = NULL, *sample = NULL, *rate = NULL, *total = NULL;
    const char *rate_objects = NULL;
    const struct ev_flag flags[] = {
        {"source-endpoint", &e->src.endpoint, NULL},
        {"source-bucket", &e->src.bucket, NULL},
        {"source-access-key", &e->src.access_key, NULL},
        {"source-secret-key", &e->src.secret_key, NULL},
        {"source-provider", &provider, NULL},
        {"source-region", &e->src.region, NULL},
        {"source-prefix", &e->src.prefix, NULL},
        {"sample", &sample, NULL},
        {"rate", &rate, NULL},
        {"rate-objects", &rate_objects, NULL},
        {"total-objects", &total, NULL},
        {"no-measure", NULL, &e->no_measure},
        {"json", NULL, &e->json},
    };
    e->src.access_key = getenv("GZY_SOURCE_ACCESS_KEY");
    e->src.secret_key = getenv("GZY_SOURCE_SECRET_KEY");
    if (ev_parse(cmd, flags, GZ_ARRAY_LEN(flags), argc, argv, NULL) != 0 ||
        (sample && parse_count(cmd, "sample", sample, INT64_MAX / 2, &e->sample) != 0) ||
        (total && parse_count(cmd, "total-objects", total, INT64_MAX / 2, &e->total_objects) != 0))
        return -EINVAL;
    if (rate && parse_rate(rate, &e->rate) != 0) {
        fprintf(stderr, "gzy migrate estimate: --rate '%s': a rate like 50M (MiB/s)\n", rate);
        return -EINVAL;
    }
    if (rate_objects) {
        char *end;
        e->rate_objects = strtod(rate_objects, &end);
        if (end == rate_objects || *end || !(e->rate_objects > 0) || !isfinite(e->rate_objects)) {
            fprintf(stderr, "gzy migrate estimate: --rate-objects '%s': objects per second, "
                            "e.g. 200\n", rate_objects);
            return -EINVAL;
        }
    }
    const struct gz_mig_preset *p = gz_migrate_preset_find(provider ? provider : "generic");
    if (!p) {
        fprintf(stderr, "gzy migrate estimate: unknown --source-provider '%s'\n", provider);
        return -EINVAL;
    }
    e->src.provider = p->provider;
    return 0;
}

static void hist_bounds(int b, int64_t *lo, int64_t *hi)
{
    *lo = b == 0 ? 0 : (int64_t)1024 << (2 * b);
    *hi = b == GZ_MIG_HIST_BUCKETS - 1 ? -1 : (int64_t)1024 << (2 * b + 2);
}

/* The rates a projection uses: bytes/s and objects/s, given or measured (0: unknown). */
struct est_rates {
    double bps, ops;
    const char *bps_source, *ops_source; /* "given", "measured", "none" */
};

static cJSON *est_json(const struct est_cli *c, const struct gz_mig_estimate *e,
                       const struct est_rates *r)
{
    cJSON *doc = cJSON_CreateObject(), *src = cJSON_AddObjectToObject(doc, "source");
    cJSON_AddStringToObject(src, "endpoint", c->src.endpoint);
    cJSON_AddStringToObject(src, "bucket", c->src.bucket);
    cJSON_AddStringToObject(src, "prefix", c->src.prefix ? c->src.prefix : "");
    cJSON_AddNumberToObject(doc, "objects", (double)e->objects);
    cJSON_AddNumberToObject(doc, "bytes", (double)e->bytes);
    cJSON_AddBoolToObject(doc, "complete", !e->truncated);
    if (e->sample)
        cJSON_AddNumberToObject(doc, "sample", (double)e->sample);
    else
        cJSON_AddNullToObject(doc, "sample");
    cJSON_AddBoolToObject(doc, "truncated", e->truncated);
    cJSON *h = cJSON_AddArrayToObject(doc, "histogram");
    for (int b = 0; b < GZ_MIG_HIST_BUCKETS; b++) {
        char label[32];
        int64_t lo, hi;
        gz_migrate_hist_label(b, label, sizeof(label));
        hist_bounds(b, &lo, &hi);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "bucket", label);
        cJSON_AddNumberToObject(o, "min", (double)lo);
        if (hi < 0)
            cJSON_AddNullToObject(o, "max");
        else
            cJSON_AddNumberToObject(o, "max", (double)hi);
        cJSON_AddNumberToObject(o, "objects", (double)e->hist[b]);
        cJSON_AddNumberToObject(o, "bytes", (double)e->hist_bytes[b]);
        cJSON_AddItemToArray(h, o);
    }
    cJSON *a = cJSON_AddObjectToObject(doc, "archive");
    cJSON_AddNumberToObject(a, "objects", (double)e->archive);
    cJSON_AddNumberToObject(a, "bytes", (double)e->archive_bytes);
    cJSON *cls = cJSON_AddObjectToObject(a, "classes");
    for (int i = 0; i < GZ_MIG_ARCHIVE_CLASSES; i++)
        if (e->archive_class[i])
            cJSON_AddNumberToObject(cls, gz_migrate_archive_class_name(i),
                                    (double)e->archive_class[i]);
    cJSON_AddNumberToObject(doc, "rate_bps", r->bps);
    cJSON_AddStringToObject(doc, "rate_source", r->bps_source);
    cJSON_AddNumberToObject(doc, "rate_objects_per_s", r->ops);
    cJSON_AddStringToObject(doc, "rate_objects_source", r->ops_source);
    cJSON *m = cJSON_AddObjectToObject(doc, "measured");
    cJSON_AddNumberToObject(m, "objects", (double)e->measured_objects);
    cJSON_AddNumberToObject(m, "bytes", (double)e->measured_bytes);
    cJSON_AddNumberToObject(m, "ms", (double)e->measured_ms);
    cJSON_AddNumberToObject(m, "small_objects", (double)e->measured_small_objects);
    cJSON_AddNumberToObject(m, "small_ms", (double)e->measured_small_ms);
    cJSON_AddNumberToObject(doc, "listing_ms", (double)e->elapsed_ms);
    return doc;
}

/* Duration of the readable objects (archive-class ones wait for a restore): their bytes at
 * the byte rate plus their count at the object rate (when known); -1 without a byte rate. */
static double est_duration(double objects, double bytes, const struct est_rates *r)
{
    if (r->bps <= 0)
        return -1;
    return bytes / r->bps + (r->ops > 0 ? objects / r->ops : 0);
}

static void est_text_hist(const struct gz_mig_estimate *e)
{
    printf("size histogram:\n");
    for (int b = 0; b < GZ_MIG_HIST_BUCKETS; b++) {
        if (!e->hist[b])
            continue;
        char label[32], hb[32];
        gz_migrate_hist_label(b, label, sizeof(label));
        human_bytes(hb, sizeof(hb), (double)e->hist_bytes[b]);
        printf("  %-14s %12lld  %s\n", label, (long long)e->hist[b], hb);
    }
    if (e->archive) {
        char hb[32];
        human_bytes(hb, sizeof(hb), (double)e->archive_bytes);
        printf("archive class: %lld objects, %s (need a restore before copying):",
               (long long)e->archive, hb);
        for (int i = 0; i < GZ_MIG_ARCHIVE_CLASSES; i++)
            if (e->archive_class[i])
                printf(" %s %lld", gz_migrate_archive_class_name(i),
                       (long long)e->archive_class[i]);
        printf("\n");
    } else {
        printf("archive class: none\n");
    }
}

static void est_text_rates(const struct gz_mig_estimate *e, const struct est_rates *r)
{
    char hr[32];
    human_bytes(hr, sizeof(hr), r->bps);
    if (r->bps > 0 && strcmp(r->bps_source, "measured") == 0)
        printf("rate: %s/s measured (%lld GETs, one stream)\n", hr,
               (long long)e->measured_objects);
    else if (r->bps > 0)
        printf("rate: %s/s given\n", hr);
    else
        printf("rate: unknown (nothing readable to measure; give --rate)\n");
    if (r->ops > 0 && strcmp(r->ops_source, "measured") == 0)
        printf("per object: %.0f objects/s measured (%lld GETs of the smallest, one stream)\n",
               r->ops, (long long)e->measured_small_objects);
    else if (r->ops > 0)
        printf("per object: %.0f objects/s given\n", r->ops);
    else
        printf("per object: not counted (nothing measured; give --rate-objects)\n");
}

static void est_text(const struct est_cli *c, const struct gz_mig_estimate *e,
                     const struct est_rates *r, cJSON *extra)
{
    char hb[32], hd[48];
    human_bytes(hb, sizeof(hb), (double)e->bytes);
    printf("source: %s bucket %s%s%s\n", c->src.endpoint, c->src.bucket,
           c->src.prefix ? " prefix " : "", c->src.prefix ? c->src.prefix : "");
    if (e->truncated)
        printf("objects: %lld, the first keys only (--sample %lld: listing truncated, the"
               " totals below are the sample's)\n",
               (long long)e->objects, (long long)e->sample);
    else
        printf("objects: %lld (complete listing)\n", (long long)e->objects);
    printf("bytes: %lld (%s)\n", (long long)e->bytes, hb);
    est_text_hist(e);
    est_text_rates(e, r);
    double d = est_duration((double)(e->objects - e->archive),
                            (double)(e->bytes - e->archive_bytes), r);
    if (d >= 0) {
        human_duration(hd, sizeof(hd), d);
        printf("projected duration: %s for the %sreadable objects%s\n", hd,
               e->truncated ? "sampled " : "", e->archive ? " (archive-class objects extra)" : "");
    }
    const cJSON *x = cJSON_GetObjectItem(extra, "extrapolated");
    if (cJSON_IsObject(x)) {
        human_bytes(hb, sizeof(hb), cJSON_GetObjectItem(x, "bytes")->valuedouble);
        human_duration(hd, sizeof(hd), cJSON_GetObjectItem(x, "duration_s")->valuedouble);
        printf("extrapolated to --total-objects %lld: %s, %s (from the sample's mean size)\n",
               (long long)c->total_objects, hb, hd);
    } else if (e->truncated) {
        printf("not extrapolated: S3 listings give no total; pass --total-objects N (from the"
               " provider's console) to extrapolate\n");
    }
}

/* With a truncated sample and --total-objects: totals scaled by the sample's mean size. */
static void est_extrapolate(const struct est_cli *c, const struct gz_mig_estimate *e,
                            const struct est_rates *r, cJSON *doc)
{
    if (!e->truncated || c->total_objects <= 0 || e->objects == 0) {
        cJSON_AddNullToObject(doc, "extrapolated");
        return;
    }
    double f = (double)c->total_objects / (double)e->objects;
    cJSON *x = cJSON_AddObjectToObject(doc, "extrapolated");
    cJSON_AddStringToObject(x, "from", "--total-objects and the sample's mean object size");
    cJSON_AddNumberToObject(x, "objects", (double)c->total_objects);
    cJSON_AddNumberToObject(x, "bytes", floor((double)e->bytes * f));
    cJSON_AddNumberToObject(x, "archive_objects", floor((double)e->archive * f));
    double d = est_duration(floor((double)(e->objects - e->archive) * f),
                            floor((double)(e->bytes - e->archive_bytes) * f), r);
    cJSON_AddNumberToObject(x, "duration_s", d >= 0 ? d : 0);
}

/* ---- estimate --job: through the admin API of a running server ---- */

struct est_job_cli {
    const char *id, *endpoint, *access, *secret, *region, *sample;
    bool json;
};

static int est_job_parse(struct est_job_cli *a, int argc, char **argv)
{
    const struct ev_flag flags[] = {
        {"job", &a->id, NULL},
        {"admin-endpoint", &a->endpoint, NULL},
        {"access-key", &a->access, NULL},
        {"secret-key", &a->secret, NULL},
        {"region", &a->region, NULL},
        {"sample", &a->sample, NULL},
        {"json", NULL, &a->json},
    };
    if (ev_parse("estimate", flags, GZ_ARRAY_LEN(flags), argc, argv, NULL) != 0)
        return -EINVAL;
    if (a->id == NULL || !*a->id) {
        fprintf(stderr, "gzy migrate estimate: --job needs a job ID\n");
        return -EINVAL;
    }
    if (!a->access && !a->secret) {
        a->access = getenv("GZY_ACCESS_KEY");
        a->secret = getenv("GZY_SECRET_KEY");
    }
    if (!a->access || !*a->access || !a->secret || !*a->secret) {
        fprintf(stderr, "gzy migrate estimate: no admin credential: give --access-key and"
                        " --secret-key or set GZY_ACCESS_KEY and GZY_SECRET_KEY\n");
        return -EINVAL;
    }
    if (!a->endpoint)
        a->endpoint = getenv("GZY_ADMIN_ENDPOINT");
    if (!a->region)
        a->region = getenv("GZY_REGION");
    return 0;
}

static void est_job_print(const cJSON *job, const cJSON *e)
{
    char b[32], ab[32];
    const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "state"));
    double num[4];
    const char *names[4] = {"objects", "bytes", "archive_objects", "archive_bytes"};
    for (int i = 0; i < 4; i++) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, names[i]);
        num[i] = cJSON_IsNumber(n) ? n->valuedouble : 0;
    }
    printf("job %s: estimate %s\n",
           cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(job, "id")), st ? st : "-");
    if (st != NULL && strcmp(st, "failed") == 0) {
        const char *err = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "error"));
        printf("  error: %s\n", err ? err : "unknown");
        return;
    }
    human_bytes(b, sizeof(b), num[1]);
    human_bytes(ab, sizeof(ab), num[3]);
    printf("  objects: %.0f (%s)%s\n", num[0], b,
           cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "truncated"))
               ? " - a sample: the source holds more"
               : " - exact");
    printf("  archive class: %.0f (%s), restored before they can be read\n", num[2], ab);
}

/* Polls the job until its estimate is no longer running; 0 done, 1 failed or API error. */
static int est_job_wait(struct gz_admin_client *cl, const char *path, bool json)
{
    for (;;) {
        struct gz_admin_resp r;
        if (gz_admin_client_call(cl, "GET", path, "", NULL, &r) != GZ_ADMIN_EXIT_OK) {
            gz_admin_resp_free(&r);
            return 1;
        }
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(r.doc, "estimate");
        const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "state"));
        if (st == NULL || strcmp(st, "running") != 0) {
            if (json)
                print_json(r.doc);
            else
                est_job_print(r.doc, e);
            int rc = st != NULL && strcmp(st, "done") == 0 ? 0 : 1;
            gz_admin_resp_free(&r);
            return rc;
        }
        gz_admin_resp_free(&r);
        usleep(300 * 1000);
    }
}

static int cmd_estimate_job(int argc, char **argv)
{
    struct est_job_cli a = {0};
    struct gz_admin_client cl;
    struct gz_admin_resp r;
    struct gz_buf path;
    int64_t sample = 0;
    int rc = 2;
    memset(&cl, 0, sizeof(cl));
    memset(&r, 0, sizeof(r));
    if (est_job_parse(&a, argc, argv) != 0 ||
        (a.sample && parse_count("estimate", "sample", a.sample, INT64_C(1) << 40, &sample) != 0))
        return 2;
    gz_buf_init(&path, 1024);
    gz_buf_append_cstr(&path, "migrations/");
    gz_admin_url_encode(&path, a.id);
    gz_buf_terminate(&path);
    cJSON *body = cJSON_CreateObject();
    if (sample > 0)
        cJSON_AddNumberToObject(body, "sample", (double)sample);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (gz_admin_client_init(&cl,
                             a.endpoint && *a.endpoint ? a.endpoint : GZ_ADMIN_DEFAULT_ENDPOINT,
                             a.region && *a.region ? a.region : "us-east-1") < 0) {
        fprintf(stderr, "gzy migrate estimate: bad --admin-endpoint %s\n",
                a.endpoint ? a.endpoint : "");
        goto out;
    }
    snprintf(cl.access, sizeof(cl.access), "%s", a.access);
    snprintf(cl.secret, sizeof(cl.secret), "%s", a.secret);
    cl.json = a.json;
    char post[1100];
    snprintf(post, sizeof(post), "%s/estimate", path.ptr);
    rc = gz_admin_client_call(&cl, "POST", post, "", body, &r) == GZ_ADMIN_EXIT_OK
             ? est_job_wait(&cl, path.ptr, a.json)
             : 1;
out:
    gz_admin_resp_free(&r);
    gz_admin_client_free(&cl);
    curl_global_cleanup();
    explicit_bzero(&cl, sizeof(cl));
    cJSON_Delete(body);
    gz_buf_free(&path);
    return rc;
}

static int cmd_estimate(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--job") == 0 || strncmp(argv[i], "--job=", 6) == 0)
            return cmd_estimate_job(argc, argv);
    struct est_cli c = {0};
    if (est_parse(&c, argc, argv) != 0)
        return 2;
    struct gz_mig_estimate e;
    char err[1024] = "";
    bool measure = (c.rate <= 0 || c.rate_objects <= 0) && !c.no_measure;
    int rc = gz_migrate_estimate(&c.src, c.sample, measure, &e, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "gzy migrate estimate: %s\n", err);
        return rc == -EINVAL ? 2 : 1;
    }
    struct est_rates r = {
        .bps = c.rate > 0 ? c.rate : e.measured_bps,
        .ops = c.rate_objects > 0 ? c.rate_objects : e.measured_ops,
        .bps_source = c.rate > 0 ? "given" : e.measured_bps > 0 ? "measured" : "none",
        .ops_source = c.rate_objects > 0 ? "given" : e.measured_ops > 0 ? "measured" : "none"};
    cJSON *doc = est_json(&c, &e, &r);
    double objects = (double)(e.objects - e.archive), bytes = (double)(e.bytes - e.archive_bytes);
    double d = est_duration(objects, bytes, &r);
    if (d >= 0) {
        cJSON_AddNumberToObject(doc, "duration_s", d);
        cJSON_AddNumberToObject(doc, "duration_bytes_s", bytes / r.bps);
        cJSON_AddNumberToObject(doc, "duration_objects_s", r.ops > 0 ? objects / r.ops : 0);
    } else {
        cJSON_AddNullToObject(doc, "duration_s");
    }
    est_extrapolate(&c, &e, &r, doc);
    if (c.json)
        print_json(doc);
    else
        est_text(&c, &e, &r, doc);
    cJSON_Delete(doc);
    return 0;
}

/* ---- manifest-key ---- */

static int cmd_manifest_key(int argc, char **argv)
{
    const char *data = NULL;
    const struct ev_flag flags[] = {{"data", &data, NULL}};
    if (ev_parse("manifest-key", flags, GZ_ARRAY_LEN(flags), argc, argv, NULL) != 0)
        return 2;
    uint8_t pub[32];
    char hex[65];
    const char *dir = data_dir_default(data);
    int rc = gz_migrate_manifest_key(dir, NULL, pub);
    if (rc) {
        fprintf(stderr, "gzy migrate manifest-key: %s/master.key: %s\n", dir, gz_strerror(rc));
        return 1;
    }
    gz_hex_encode(hex, pub, 32);
    printf("%s\n", hex);
    return 0;
}

/* ---- dispatch ---- */

bool gz_cli_migrate_evidence_has(const char *cmd)
{
    return strcmp(cmd, "verify-manifest") == 0 || strcmp(cmd, "estimate") == 0 ||
           strcmp(cmd, "manifest-key") == 0;
}

int gz_cli_migrate_evidence_run(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            gz_cli_migrate_evidence_usage(stdout);
            return 0;
        }
    }
    int rc = 2;
    if (strcmp(argv[0], "verify-manifest") == 0)
        rc = cmd_verify_manifest(argc - 1, argv + 1);
    else if (strcmp(argv[0], "estimate") == 0)
        rc = cmd_estimate(argc - 1, argv + 1);
    else if (strcmp(argv[0], "manifest-key") == 0)
        rc = cmd_manifest_key(argc - 1, argv + 1);
    if (rc == 2)
        gz_cli_migrate_evidence_usage(stderr);
    return rc;
}

/* ---- gzy migrate copy --manifest ---- */

int gz_cli_manifest_prepare(struct gz_cli_manifest *mf, struct gz_mig_options *opt)
{
    if (!mf->path)
        return 0;
    const char *dir = data_dir_default(mf->data_dir);
    uint8_t pub[32];
    int rc = gz_migrate_manifest_key(dir, NULL, pub);
    if (rc) {
        fprintf(stderr,
                "gzy migrate copy: --manifest needs the platform key: %s/master.key:"
                " %s (--data DIR)\n",
                dir, gz_strerror(rc));
        return -1;
    }
    if (opt->journal_path)
        return 0;
    const char *tmp = getenv("TMPDIR");
    snprintf(mf->journal, sizeof(mf->journal), "%s/gzy-migrate-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(mf->journal);
    if (fd < 0) {
        fprintf(stderr, "gzy migrate copy: temporary journal %s: %s\n", mf->journal,
                strerror(errno));
        return -1;
    }
    close(fd);
    mf->tmp_journal = true;
    opt->journal_path = mf->journal;
    return 0;
}

int gz_cli_manifest_finish(struct gz_cli_manifest *mf, const struct gz_mig_options *opt,
                           int copy_rc)
{
    if (!mf->path)
        return 0;
    int rc = 0;
    char err[1024] = "";
    if (copy_rc >= 0 && copy_rc != GZ_MIG_STOPPED && !opt->dry_run) {
        uint8_t seed[32];
        rc = gz_migrate_manifest_key(data_dir_default(mf->data_dir), seed, NULL);
        if (rc == 0)
            rc = gz_migrate_manifest_describe(opt->journal_path, &opt->src, opt->dst.bucket, err,
                                              sizeof(err));
        int64_t n = rc ? rc
                       : gz_migrate_manifest_write(opt->journal_path, mf->path, seed, "copy", err,
                                                   sizeof(err));
        explicit_bzero(seed, sizeof(seed));
        if (n < 0) {
            fprintf(stderr, "gzy migrate copy: manifest: %s\n", err[0] ? err : gz_strerror(rc));
            rc = -1;
        } else {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "event", "manifest");
            cJSON_AddStringToObject(o, "path", mf->path);
            cJSON_AddNumberToObject(o, "objects", (double)n);
            print_json(o);
            cJSON_Delete(o);
        }
    } else {
        fprintf(stderr, "gzy migrate copy: no manifest written (%s)\n",
                opt->dry_run ? "dry run" : "the pass did not complete");
    }
    if (mf->tmp_journal)
        gz_migrate_journal_remove(mf->journal);
    return rc ? -1 : 0;
}
