/*
 * migrate.c - `gzy migrate copy`: the migration engine standalone, from any S3 endpoint to
 * any S3 endpoint (src/migrate/migrate.h). Progress is a live one-line bar when stdout is a
 * terminal, JSON lines otherwise (or with --json); the pass ends with a human summary on a
 * terminal, else a JSON report on stdout.
 * Exit status: 0 all copied or skipped, 1 some objects failed, the pass could not run or
 * was stopped (SIGINT/SIGTERM: between objects and parts, journal resumable), 2 usage.
 */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../iam/iam.h"
#include "../migrate/migrate.h"
#include "../migrate/report.h"
#include "../migrate/seal.h"
#include "../s3/s3.h"
#include "../store/store.h"
#include "../util/util.h"
#include "cli.h"
#include "migrate_evidence.h"
#include "migrate_run.h"
#include "sse_cli.h"

#define MIG_CLI_MAX_FILTERS 64

struct mig_cli {
    struct gz_mig_options opt;
    bool tty;                   /* stdout a terminal and no --json: a bar and a summary */
    bool json;                  /* --json: JSON lines even on a terminal */
    struct gz_mig_report lists; /* failed, waiting, not carried: the report's lists */
    const char *dest_data;      /* --dest-data: write through the store in this folder */
    const char *dest_tenant;    /* --dest-tenant: owner of a bucket --dest-data creates */
    const char *report_path;    /* --report PATH: the pass report, JSON (+ CSV beside it) */
    const char *include[MIG_CLI_MAX_FILTERS], *exclude[MIG_CLI_MAX_FILTERS];
    struct gz_cli_manifest manifest; /* --manifest PATH [--data DIR]: migrate_evidence.c */
};

struct mig_flag {
    const char *name;
    const char **str;           /* string option */
    bool *flag;                 /* boolean option */
    int list;                   /* repeatable: 1 include, 2 exclude */
};

static void migrate_usage(FILE *f)
{
    fprintf(f,
            "usage: gzy migrate copy --source-endpoint URL --source-bucket B\n"
            "         --source-access-key K --source-secret-key S\n"
            "         [--source-provider aws|aliyun-oss|huawei-obs|tencent-cos|generic]\n"
            "         [--source-region R] [--source-prefix P]\n"
            "         (no --source-endpoint: the provider's endpoint for --source-region)\n"
            "         --dest-endpoint URL --dest-bucket D --dest-access-key K\n"
            "         --dest-secret-key S [--dest-region R]\n"
            "         [--concurrency N] [--dry-run] [--journal FILE] [--delete-extraneous]\n"
            "         [--include GLOB]... [--exclude GLOB]... [--bwlimit RATE] [--no-restore]\n"
            "         [--check-acl] [--report PATH] [--json]\n"
            "         [--dest-data DIR (instead of the --dest-endpoint and keys)]\n"
            "         [--dest-tenant T (with --dest-data: owner of a bucket it creates)]\n"
            "         [--manifest PATH [--data DIR]] (signed manifest, platform key of DIR)\n"
            "\n"
            "Copies new and changed objects (size or source ETag) with their metadata, verifies\n"
            "each one while it streams (MD5 against a single-part ETag; the provider's CRC64;\n"
            "a multipart ETag recomputed with the source's part layout; else size + SHA-256)\n"
            "and records it in the journal; rerun with the same --journal to resume.\n"
            "Globs: '*' within a path segment, '**' across, '?' one character. --bwlimit caps\n"
            "source reads in bytes/s (suffix K, M, G: powers of 1024). Archive-class objects\n"
            "are restored first (unless --no-restore) and copied by a later pass.\n"
            "--check-acl reads each copied object's ACL (one more request per object) and lists\n"
            "grants beyond the owner's as not carried over; without it the report says ACLs\n"
            "were not examined.\n"
            "A missing destination bucket is created (CreateBucket over HTTP; with --dest-data\n"
            "in the store, owned by --dest-tenant or the platform, which needs the root\n"
            "credential of DIR: GZY_ROOT_ACCESS_KEY/GZY_ROOT_SECRET_KEY or DIR/root-credential).\n"
            "--dest-data DIR writes straight into a gzy data folder while no server runs on\n"
            "it (a bucket with default encryption gets sealed objects, as a PUT would).\n"
            "--report PATH writes the pass report as JSON to PATH and as CSV beside it (PATH\n"
            "with .csv), in the format of the migration jobs' reports (docs/migration-jobs.md).\n"
            "On a terminal: a live progress bar and a summary at the end; otherwise (or with\n"
            "--json) JSON lines, the last one the pass report.\n"
            "Keys also from GZY_SOURCE_ACCESS_KEY, GZY_SOURCE_SECRET_KEY, GZY_DEST_ACCESS_KEY,\n"
            "GZY_DEST_SECRET_KEY. Exit status: 0 done, 1 failures, 2 usage.\n"
            "Other commands: gzy migrate COMMAND --help.\n");
    gz_cli_migrate_evidence_usage(f);
    fputc('\n', f);
    gz_migrate_run_usage(f);
}

static int parse_rate(const char *v, int64_t *out)
{
    char *end;
    double n = strtod(v, &end);
    double mult = 1;
    if (*end == 'K' || *end == 'k')
        mult = 1024;
    else if (*end == 'M' || *end == 'm')
        mult = 1024.0 * 1024;
    else if (*end == 'G' || *end == 'g')
        mult = 1024.0 * 1024 * 1024;
    if (end == v || (*end && end[1]) || n <= 0) {
        fprintf(stderr, "gzy migrate copy: --bwlimit wants a rate like 10M\n");
        return -EINVAL;
    }
    *out = (int64_t)(n * mult);
    return *out > 0 ? 0 : -EINVAL;
}

static int add_filter(struct mig_cli *m, int list, const char *v)
{
    const char **arr = list == 1 ? m->include : m->exclude;
    int *n = list == 1 ? &m->opt.n_include : &m->opt.n_exclude;
    if (*n >= MIG_CLI_MAX_FILTERS) {
        fprintf(stderr, "gzy migrate copy: at most %d filters each\n", MIG_CLI_MAX_FILTERS);
        return -EINVAL;
    }
    arr[(*n)++] = v;
    return 0;
}

static int parse_args(struct mig_cli *m, int argc, char **argv)
{
    struct gz_mig_options *o = &m->opt;
    const char *provider = NULL, *concurrency = NULL, *bwlimit = NULL, *filter = NULL;
    const char *key_file = NULL;
    const struct mig_flag flags[] = {
        {"source-endpoint", &o->src.endpoint, NULL, 0},
        {"source-bucket", &o->src.bucket, NULL, 0},
        {"source-access-key", &o->src.access_key, NULL, 0},
        {"source-secret-key", &o->src.secret_key, NULL, 0},
        {"source-provider", &provider, NULL, 0},
        {"source-region", &o->src.region, NULL, 0},
        {"source-prefix", &o->src.prefix, NULL, 0},
        {"dest-endpoint", &o->dst.endpoint, NULL, 0},
        {"dest-bucket", &o->dst.bucket, NULL, 0},
        {"dest-access-key", &o->dst.access_key, NULL, 0},
        {"dest-secret-key", &o->dst.secret_key, NULL, 0},
        {"dest-region", &o->dst.region, NULL, 0},
        {"concurrency", &concurrency, NULL, 0},
        {"journal", &o->journal_path, NULL, 0},
        {"dry-run", NULL, &o->dry_run, 0},
        {"delete-extraneous", NULL, &o->delete_extraneous, 0},
        {"include", &filter, NULL, 1},
        {"exclude", &filter, NULL, 2},
        {"bwlimit", &bwlimit, NULL, 0},
        {"no-restore", NULL, &o->no_restore, 0},
        {"check-acl", NULL, &o->check_acl, 0},
        {"dest-data", &m->dest_data, NULL, 0},
        {"manifest", &m->manifest.path, NULL, 0},
        {"data", &m->manifest.data_dir, NULL, 0},
        {"dest-tenant", &m->dest_tenant, NULL, 0},
        {"report", &m->report_path, NULL, 0},
        {"json", NULL, &m->json, 0},
        {"sse-key-file", &key_file, NULL, 0}, /* for --dest-data: its SSE master keys */
    };
    o->src.access_key = getenv("GZY_SOURCE_ACCESS_KEY");
    o->src.secret_key = getenv("GZY_SOURCE_SECRET_KEY");
    o->dst.access_key = getenv("GZY_DEST_ACCESS_KEY");
    o->dst.secret_key = getenv("GZY_DEST_SECRET_KEY");
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        size_t k = 0, n = sizeof(flags) / sizeof(flags[0]);
        const char *eq = strchr(a, '=');
        size_t alen = eq ? (size_t)(eq - a) : strlen(a);
        for (; k < n; k++)
            if (alen == strlen(flags[k].name) + 2 && strncmp(a, "--", 2) == 0 &&
                strncmp(a + 2, flags[k].name, alen - 2) == 0)
                break;
        if (k == n) {
            fprintf(stderr, "gzy migrate copy: unknown option '%s'\n", a);
            return -EINVAL;
        }
        if (flags[k].flag) {
            *flags[k].flag = true;
        } else if (eq) {
            *flags[k].str = eq + 1;
        } else if (i + 1 < argc) {
            *flags[k].str = argv[++i];
        } else {
            fprintf(stderr, "gzy migrate copy: --%s needs a value\n", flags[k].name);
            return -EINVAL;
        }
        if (flags[k].list && add_filter(m, flags[k].list, filter) != 0)
            return -EINVAL;
    }
    if (gz_cli_sse_key_file(key_file) < 0)
        return -EINVAL;
    o->include = m->include;
    o->exclude = m->exclude;
    if (bwlimit && parse_rate(bwlimit, &o->bandwidth_limit) != 0)
        return -EINVAL;
    const struct gz_mig_preset *p = gz_migrate_preset_find(provider ? provider : "generic");
    if (!p) {
        fprintf(stderr, "gzy migrate copy: unknown --source-provider '%s'\n", provider);
        return -EINVAL;
    }
    o->src.provider = p->provider;
    o->dst.provider = GZ_MIG_GENERIC;
    if (concurrency) {
        char *end;
        long c = strtol(concurrency, &end, 10);
        if (*end || c < 1 || c > 256) {
            fprintf(stderr, "gzy migrate copy: --concurrency must be 1..256\n");
            return -EINVAL;
        }
        o->concurrency = (int)c;
    }
    return 0;
}

static void human_bytes(char *out, size_t outsz, double b)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4) {
        b /= 1024;
        u++;
    }
    snprintf(out, outsz, "%.1f %s", b, units[u]);
}

static void on_progress(void *arg, const struct gz_mig_stats *st, const char *phase)
{
    struct mig_cli *m = arg;
    double secs = st->elapsed_ms > 0 ? (double)st->elapsed_ms / 1000.0 : 0.001;
    double rate = (double)st->copied_bytes / secs;
    int64_t left = st->to_copy_bytes - st->copied_bytes - st->failed_bytes;
    if (!m->tty) {
        printf("{\"event\":\"progress\",\"phase\":\"%s\",\"listed\":%lld,\"to_copy\":%lld,"
               "\"copied\":%lld,\"failed\":%lld,\"bytes\":%lld,\"to_copy_bytes\":%lld,"
               "\"rate_bps\":%.0f}\n",
               phase, (long long)st->listed, (long long)st->to_copy, (long long)st->copied,
               (long long)st->failed, (long long)st->copied_bytes,
               (long long)st->to_copy_bytes, rate);
        fflush(stdout);
        return;
    }
    char done[32], total[32], r[32];
    human_bytes(done, sizeof(done), (double)st->copied_bytes);
    human_bytes(total, sizeof(total), (double)st->to_copy_bytes);
    human_bytes(r, sizeof(r), rate);
    double eta = rate > 0 && left > 0 ? (double)left / rate : 0;
    int pct = st->to_copy > 0 ? (int)((st->copied + st->failed) * 100 / st->to_copy) : 0;
    printf("\r\033[K%-8s %3d%% objects %lld/%lld  %s/%s  %s/s  ETA %02d:%02d:%02d", phase, pct,
           (long long)(st->copied + st->failed), (long long)st->to_copy, done, total, r,
           (int)(eta / 3600), (int)(eta / 60) % 60, (int)eta % 60);
    fflush(stdout);
}

static void on_object(void *arg, const char *key, int64_t size, const char *state,
                      const char *detail)
{
    struct mig_cli *m = arg;
    gz_migrate_report_object(&m->lists, key, size, state, detail);
    if (m->tty)
        return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "event", "object");
    cJSON_AddStringToObject(o, "key", key);
    cJSON_AddNumberToObject(o, "size", (double)size);
    cJSON_AddStringToObject(o, "state", state);
    cJSON_AddStringToObject(o, strcmp(state, "verified") == 0 ? "method" : "reason", detail);
    char *text = cJSON_PrintUnformatted(o);
    if (text)
        printf("%s\n", text);
    cJSON_free(text);
    cJSON_Delete(o);
}

static void on_failed(void *arg, const char *key, const char *reason, int64_t retries)
{
    struct mig_cli *m = arg;
    gz_migrate_report_failed(&m->lists, key, reason, retries);
}

static void add_pair(cJSON *r, const char *name, int64_t n, int64_t bytes)
{
    cJSON *o = cJSON_AddObjectToObject(r, name);
    cJSON_AddNumberToObject(o, "objects", (double)n);
    cJSON_AddNumberToObject(o, "bytes", (double)bytes);
}

static const char *report_status(int rc)
{
    return rc == 0                ? "ok"
           : rc == GZ_MIG_PARTIAL ? "partial"
           : rc == GZ_MIG_STOPPED ? "stopped"
                                  : "error";
}

/* On a terminal: the pass's totals for a person, then the failed objects (at most 10; the
 * whole list is in --report and in the JSON report). */
static void print_summary(const struct mig_cli *m, const struct gz_mig_stats *st, int rc,
                          const char *err)
{
    double secs = (double)st->elapsed_ms / 1000.0;
    char copied[32], verified[32], rate[32];
    human_bytes(copied, sizeof(copied), (double)st->copied_bytes);
    human_bytes(verified, sizeof(verified), (double)st->verified_bytes);
    human_bytes(rate, sizeof(rate), secs > 0 ? (double)st->copied_bytes / secs : 0);
    printf("\r\033[K%s%s: %lld copied (%s), %lld skipped, %lld verified (%s), %lld failed, "
           "%lld waiting; %lld listed, %lld retries, %.1f s, %s/s\n",
           m->opt.dry_run ? "dry run " : "", report_status(rc), (long long)st->copied, copied,
           (long long)st->skipped, (long long)st->verified, verified, (long long)st->failed,
           (long long)st->waiting, (long long)st->listed, (long long)st->retries, secs, rate);
    if (m->opt.dry_run)
        printf("to copy: %lld objects\n", (long long)st->to_copy);
    if (rc < 0)
        printf("error: %s\n", err);
    int shown = 0;
    const cJSON *f;
    cJSON_ArrayForEach(f, m->lists.failed)
    {
        if (shown++ == 10) {
            printf("... (the whole list: --report PATH or --json)\n");
            break;
        }
        const char *key = cJSON_GetStringValue(cJSON_GetObjectItem(f, "key"));
        const char *why = cJSON_GetStringValue(cJSON_GetObjectItem(f, "reason"));
        printf("failed: %s: %s\n", key ? key : "?", why ? why : "?");
    }
}

static void print_report(struct mig_cli *m, const struct gz_mig_stats *st, int rc,
                         const char *err)
{
    if (m->tty) {
        print_summary(m, st, rc, err);
        return;
    }
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "event", "report");
    cJSON_AddStringToObject(r, "status", report_status(rc));
    if (rc < 0)
        cJSON_AddStringToObject(r, "error", err);
    cJSON_AddBoolToObject(r, "dry_run", m->opt.dry_run);
    add_pair(r, "listed", st->listed, st->listed_bytes);
    add_pair(r, "to_copy", st->to_copy, st->to_copy_bytes);
    add_pair(r, "copied", st->copied, st->copied_bytes);
    add_pair(r, "skipped", st->skipped, st->skipped_bytes);
    add_pair(r, "verified", st->verified, st->verified_bytes);
    add_pair(r, "failed", st->failed, st->failed_bytes);
    cJSON *methods = cJSON_AddObjectToObject(r, "verified_by");
    cJSON_AddNumberToObject(methods, "md5", (double)st->verified_md5);
    cJSON_AddNumberToObject(methods, "size+sha256", (double)st->verified_sha256);
    cJSON_AddNumberToObject(methods, "crc64", (double)st->verified_crc64);
    cJSON_AddNumberToObject(methods, "mpu-md5", (double)st->verified_mpu);
    add_pair(r, "waiting", st->waiting, st->waiting_bytes);
    cJSON_AddNumberToObject(r, "excluded", (double)st->excluded);
    cJSON_AddNumberToObject(r, "not_carried", (double)st->not_carried);
    /* never silent: without --check-acl the report says the ACLs were not looked at */
    cJSON_AddStringToObject(r, "acls", m->opt.check_acl ? "examined" : "not examined");
    cJSON_AddNumberToObject(r, "extraneous", (double)st->to_delete);
    cJSON_AddNumberToObject(r, "deleted", (double)st->deleted);
    cJSON_AddNumberToObject(r, "retries", (double)st->retries);
    cJSON_AddNumberToObject(r, "elapsed_ms", (double)st->elapsed_ms);
    /* at most GZ_MIG_REPORT_LIST_MAX of them: memory stays flat whatever fails */
    cJSON_AddItemReferenceToObject(r, "failures", m->lists.failed);
    cJSON_AddBoolToObject(r, "truncated", m->lists.truncated);
    char *text = cJSON_PrintUnformatted(r);
    if (text)
        printf("%s\n", text);
    cJSON_free(text);
    cJSON_Delete(r);
}

/* SIGINT and SIGTERM are blocked in every thread during the pass: a pending one stops it
 * cleanly between objects and parts (the journal stays resumable). */
static bool stop_pending(void *arg)
{
    sigset_t pending;
    (void)arg;
    return sigpending(&pending) == 0 &&
           (sigismember(&pending, SIGINT) == 1 || sigismember(&pending, SIGTERM) == 1);
}

/* The root credential of a data folder, as gzy serve finds it: the environment, else
 * DIR/root-credential ("access\nsecret\n"). */
static int root_credential(const char *dir, char *ak, size_t aksz, char *sk, size_t sksz)
{
    const char *eak = getenv("GZY_ROOT_ACCESS_KEY"), *esk = getenv("GZY_ROOT_SECRET_KEY");
    if (eak && *eak && esk && *esk) {
        snprintf(ak, aksz, "%s", eak);
        snprintf(sk, sksz, "%s", esk);
        return 0;
    }
    char path[4200], a[IAM_MAX_ACCESS_KEY + 2], b[IAM_MAX_SECRET + 2];
    snprintf(path, sizeof(path), "%s/root-credential", dir);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -errno;
    int rc = fscanf(f, "%129s %129s", a, b) == 2 ? 0 : -EINVAL;
    fclose(f);
    if (rc == 0 && (strlen(a) >= aksz || strlen(b) >= sksz))
        rc = -EINVAL;
    if (rc == 0) {
        memcpy(ak, a, strlen(a) + 1);
        memcpy(sk, b, strlen(b) + 1);
    }
    explicit_bzero(b, sizeof(b));
    return rc;
}

/* The owner (tenant id) of a bucket created in a data folder: --dest-tenant, else the
 * platform tenant (what the root credential's CreateBucket gives). */
static int dest_owner(const struct mig_cli *m, struct store *s, char *owner, size_t ownersz,
                      char *err, size_t errsz)
{
    char ak[IAM_MAX_ACCESS_KEY + 1], sk[IAM_MAX_SECRET + 1];
    struct iam *iam = NULL;
    struct iam_tenant t;
    int rc = root_credential(m->dest_data, ak, sizeof(ak), sk, sizeof(sk));
    if (rc < 0) {
        snprintf(err, errsz, "destination bucket %s does not exist and cannot be created: no "
                 "root credential for %s (set GZY_ROOT_ACCESS_KEY and GZY_ROOT_SECRET_KEY)",
                 m->opt.dst.bucket, m->dest_data);
        goto out;
    }
    struct iam_config icfg = {.data_dir = m->dest_data, .root_access = ak, .root_secret = sk,
                              .store = s};
    if ((rc = iam_open(&icfg, &iam)) < 0) {
        snprintf(err, errsz, "cannot open iam in %s: %s", m->dest_data, gz_strerror(rc));
        goto out;
    }
    const char *tenant = m->dest_tenant ? m->dest_tenant : IAM_PLATFORM_TENANT;
    if ((rc = iam_tenant_get(iam, tenant, &t)) < 0) {
        snprintf(err, errsz, "--dest-tenant %s: %s", tenant,
                 rc == -ENOENT ? "no such tenant" : gz_strerror(rc));
        goto out;
    }
    snprintf(owner, ownersz, "%s", t.id);
out:
    iam_close(iam);
    explicit_bzero(sk, sizeof(sk));
    return rc;
}

static bool bucket_name_ok(const char *b)
{
    size_t n = strlen(b);
    if (n < 3 || n > 63 || !isalnum((unsigned char)b[0]) || !isalnum((unsigned char)b[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)b[i]) || isdigit((unsigned char)b[i]) || b[i] == '-' ||
              b[i] == '.'))
            return false;
    return true;
}

/* --dest-data: creates the destination bucket in the store if it does not exist (not in a
 * dry run). */
static int dest_store_bucket(const struct mig_cli *m, struct store *s, char *err, size_t errsz)
{
    const char *name = m->opt.dst.bucket;
    struct store_bucket b;
    int rc = name ? store_bucket_get(s, gz_slice_cstr(name), &b) : 0;
    if (rc != GZ_ENOBUCKET)
        return 0; /* found, or an error mig_client_init_store reports */
    if (m->opt.dry_run || !bucket_name_ok(name))
        return 0; /* the engine says it does not exist */
    memset(&b, 0, sizeof(b));
    snprintf(b.name, sizeof(b.name), "%s", name);
    snprintf(b.region, sizeof(b.region), "%s",
             m->opt.dst.region && *m->opt.dst.region ? m->opt.dst.region : "us-east-1");
    b.created_ms = gz_now_ms();
    if ((rc = dest_owner(m, s, b.owner, sizeof(b.owner), err, errsz)) < 0)
        return rc;
    rc = store_bucket_create(s, &b);
    if (rc == GZ_EBUCKETOWNED)
        rc = 0;
    if (rc < 0)
        snprintf(err, errsz, "cannot create the destination bucket %s: %s", name,
                 gz_strerror(rc));
    else
        log_info("migrate: created the destination bucket %s in %s", name, m->dest_data);
    return rc;
}

/* --dest-data: opens the store (and what seals for buckets that encrypt by default). */
static int dest_store_open(struct mig_cli *m, struct store **store, struct s3_service **sealing,
                           struct gz_mig_sealer *sealer, char *err, size_t errsz)
{
    struct store_config scfg = {.data_dir = m->dest_data, .sync = 1};
    struct stat sb;
    int st = stat(m->dest_data, &sb) == 0 ? 0 : -errno;
    if (st < 0 || !S_ISDIR(sb.st_mode)) {
        /* store_open would make an empty folder: a typo must not become a new data folder */
        snprintf(err, errsz, "--dest-data %s: %s", m->dest_data,
                 st == -ENOENT ? "no such folder (the data folder of a gzy server)"
                 : st == 0     ? "not a folder"
                               : gz_strerror(st));
        return st < 0 ? st : -ENOTDIR;
    }
    int rc = store_open(&scfg, store);
    if (rc < 0)
        snprintf(err, errsz, "cannot open the store in %s: %s (is a server running on it?)",
                 m->dest_data, gz_strerror(rc));
    if (rc == 0)
        rc = dest_store_bucket(m, *store, err, errsz);
    if (rc == 0 && (rc = s3_service_create_offline(*store, sealing)) < 0)
        snprintf(err, errsz, "cannot set up encryption at rest: %s", gz_strerror(rc));
    if (rc == 0) /* the folder's encrypted objects need the key file it names */
        rc = s3_service_sse_check(*sealing, err, errsz);
    if (rc == 0)
        gz_cli_mig_sealer(*sealing, sealer);
    m->opt.dst_store = *store;
    m->opt.dst_sealer = rc == 0 ? sealer : NULL;
    return rc;
}

/* --report PATH: the report of a pass that ran (completed, partial or stopped). */
static int report_save(struct mig_cli *m, const struct gz_mig_stats *st, int rc,
                       bool manifest_ok)
{
    if (!m->report_path || rc < 0)
        return 0;
    struct gz_mig_report_head h = {.job = "copy", .dry_run = m->opt.dry_run,
                                   .check_acl = m->opt.check_acl, .rc = rc,
                                   .manifest = manifest_ok && !m->opt.dry_run && rc >= 0 &&
                                                       rc != GZ_MIG_STOPPED
                                                   ? m->manifest.path
                                                   : NULL};
    char err[4400], *text = gz_migrate_report_json(&h, st, &m->lists);
    int wrc = gz_migrate_report_save(m->report_path, text, err, sizeof(err));
    if (wrc < 0)
        fprintf(stderr, "gzy migrate copy: %s\n", err);
    gz_free(text);
    return wrc;
}

static bool wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

static int migrate_copy(int argc, char **argv)
{
    struct mig_cli m = {.tty = isatty(STDOUT_FILENO) == 1};
    if (wants_help(argc, argv)) {
        migrate_usage(stdout);
        return 0;
    }
    if (parse_args(&m, argc, argv) != 0) {
        migrate_usage(stderr);
        return 2;
    }
    m.tty = m.tty && !m.json;
    if (gz_cli_manifest_prepare(&m.manifest, &m.opt) != 0)
        return 1;
    sigset_t stop_set;
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGINT);
    sigaddset(&stop_set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_set, NULL);
    m.opt.should_stop = stop_pending;
    m.opt.on_progress = on_progress;
    m.opt.on_object = on_object;
    m.opt.cb_arg = &m;
    gz_migrate_report_init(&m.lists);
    struct gz_mig_stats st;
    char err[1024];
    struct store *store = NULL;
    struct s3_service *sealing = NULL; /* seals objects for buckets that encrypt by default */
    struct gz_mig_sealer sealer;
    memset(&st, 0, sizeof(st));
    int rc = 0;
    if (m.dest_data)
        rc = dest_store_open(&m, &store, &sealing, &sealer, err, sizeof(err));
    if (rc == 0)
        rc = gz_migrate_copy(&m.opt, &st, on_failed, &m, err, sizeof(err));
    s3_service_destroy(sealing);
    if (store)
        store_close(store);
    if (rc < 0)
        fprintf(stderr, "gzy migrate copy: %s\n", err);
    print_report(&m, &st, rc, err);
    bool manifest_ok = gz_cli_manifest_finish(&m.manifest, &m.opt, rc) == 0;
    if (!manifest_ok && rc == 0)
        rc = -EIO;
    if (report_save(&m, &st, rc, manifest_ok) < 0 && rc == 0)
        rc = -EIO;
    gz_migrate_report_free(&m.lists);
    return rc == 0 ? 0 : rc == -EINVAL ? 2 : 1;
}

int gz_cmd_migrate(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0 ||
        strcmp(argv[0], "help") == 0) {
        migrate_usage(argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    if (strcmp(argv[0], "copy") == 0)
        return migrate_copy(argc - 1, argv + 1);
    if (gz_migrate_run_handles(argv[0]))
        return gz_migrate_run_main(argc, argv);
    if (gz_cli_migrate_evidence_has(argv[0]))
        return gz_cli_migrate_evidence_run(argc, argv);
    fprintf(stderr, "gzy migrate: unknown command '%s' (try gzy migrate --help)\n", argv[0]);
    return 2;
}
