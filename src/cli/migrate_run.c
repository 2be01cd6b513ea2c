/*
 * migrate_run.c - migration jobs of a running `gzy serve` from the command line, through the
 * admin API (docs/migration-jobs.md): `gzy migrate run` creates a job and follows it (a live
 * progress line on a terminal, JSON lines otherwise); jobs, status, update, pause, resume,
 * cancel, report (--pass N), reports and delete act on existing jobs. The admin credential
 * comes from --access-key / --secret-key or GZY_ACCESS_KEY / GZY_SECRET_KEY; the source's from
 * --source-access-key / --source-secret-key or GZY_SOURCE_ACCESS_KEY / GZY_SOURCE_SECRET_KEY
 * (update: only the options given; its --source-secret-key - reads the secret from stdin).
 * Exit status of run: 0 the pass completed, 1 objects failed, 2 errors (and usage).
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../migrate/report.h"
#include "../util/util.h"
#include "admin_cli.h"
#include "migrate_run.h"

#define RUN_MAX_GLOBS 64
#define RUN_EXIT_OK 0
#define RUN_EXIT_FAILED 1
#define RUN_EXIT_ERROR 2

struct run_args {
    const char *cmd, *id;
    const char *endpoint, *access, *secret, *region;
    const char *tenant, *name, *src_endpoint, *src_bucket, *src_access, *src_secret;
    const char *src_provider, *src_region, *src_prefix, *dest_bucket;
    const char *concurrency, *bwlimit, *interval, *restore_check, *pass;
    const char *include[RUN_MAX_GLOBS], *exclude[RUN_MAX_GLOBS];
    int n_include, n_exclude;
    bool dry_run, delete_extraneous, check_acl, detach, csv, json, tty;
};

static const char *const commands[] = {"run",    "jobs",   "status",  "pause",  "resume",
                                       "cancel", "report", "reports", "delete", "update"};

bool gz_migrate_run_handles(const char *word)
{
    for (size_t i = 0; i < GZ_ARRAY_LEN(commands); i++)
        if (strcmp(word, commands[i]) == 0)
            return true;
    return false;
}

void gz_migrate_run_usage(FILE *f)
{
    fprintf(f,
            "usage: gzy migrate run --tenant T --source-endpoint URL --source-bucket B\n"
            "         --source-access-key K --source-secret-key S --dest-bucket D\n"
            "         [--source-provider P] [--source-region R] [--source-prefix P]\n"
            "         [--concurrency N] [--dry-run] [--include GLOB]... [--exclude GLOB]...\n"
            "         [--bwlimit BYTES/S] [--delete-extraneous] [--check-acl] [--interval SECONDS]\n"
            "         [--name TEXT] [--detach]\n"
            "         [--restore-check SECONDS]\n"
            "       gzy migrate jobs [--tenant T] | status ID | pause ID | resume ID\n"
            "         | cancel ID | delete ID | report ID [--pass N] [--csv] | reports ID\n"
            "       gzy migrate update ID [--concurrency N] [--bwlimit BYTES/S] [--interval S]\n"
            "         [--restore-check S] [--source-access-key K] [--source-secret-key S|-]\n"
            "         (a job that is not running; '-' reads the secret from stdin)\n"
            "  Job commands talk to a running gzy serve: --admin-endpoint URL (default %s),\n"
            "  --access-key/--secret-key (or GZY_ACCESS_KEY/GZY_SECRET_KEY), --region R,\n"
            "  --json. run follows the job until its pass ends (exit 0 completed, 1 objects\n"
            "  failed, 2 errors) unless --detach. The source keys may also come from\n"
            "  GZY_SOURCE_ACCESS_KEY/GZY_SOURCE_SECRET_KEY (kept out of the process list).\n",
            GZ_ADMIN_DEFAULT_ENDPOINT);
}

static int usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_err(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "gzy migrate: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (try gzy migrate --help)\n");
    return RUN_EXIT_ERROR;
}

struct run_opt {
    const char *name;
    size_t off; /* offset of a const char * in run_args */
};

#define RO(n, f)                                                                                   \
    {                                                                                              \
        n, offsetof(struct run_args, f)                                                            \
    }
static const struct run_opt run_opts[] = {
    RO("admin-endpoint", endpoint),
    RO("access-key", access),
    RO("secret-key", secret),
    RO("region", region),
    RO("tenant", tenant),
    RO("name", name),
    RO("source-endpoint", src_endpoint),
    RO("source-bucket", src_bucket),
    RO("source-access-key", src_access),
    RO("source-secret-key", src_secret),
    RO("source-provider", src_provider),
    RO("source-region", src_region),
    RO("source-prefix", src_prefix),
    RO("dest-bucket", dest_bucket),
    RO("concurrency", concurrency),
    RO("bwlimit", bwlimit),
    RO("interval", interval),
    RO("restore-check", restore_check),
    RO("pass", pass),
};
#undef RO

static int parse_flag(struct run_args *a, const char *name)
{
    struct {
        const char *name;
        bool *b;
    } flags[] = {{"dry-run", &a->dry_run},
                 {"delete-extraneous", &a->delete_extraneous},
                 {"check-acl", &a->check_acl},
                 {"detach", &a->detach},
                 {"csv", &a->csv},
                 {"json", &a->json}};
    for (size_t i = 0; i < GZ_ARRAY_LEN(flags); i++) {
        if (strcmp(name, flags[i].name) == 0) {
            *flags[i].b = true;
            return 0;
        }
    }
    return -ENOENT;
}

static int parse_one(struct run_args *a, int argc, char **argv, int *i)
{
    const char *arg = argv[*i] + 2, *eq = strchr(arg, '=');
    char name[64];
    snprintf(name, sizeof(name), "%.*s", (int)(eq ? (size_t)(eq - arg) : strlen(arg)), arg);
    if (!eq && parse_flag(a, name) == 0)
        return 0;
    const char *v = eq ? eq + 1 : *i + 1 < argc ? argv[++*i] : NULL;
    if (v == NULL)
        return usage_err("option --%s needs a value", name);
    if (strcmp(name, "include") == 0 || strcmp(name, "exclude") == 0) {
        bool inc = name[0] == 'i';
        int *n = inc ? &a->n_include : &a->n_exclude;
        if (*n == RUN_MAX_GLOBS)
            return usage_err("too many --%s", name);
        (inc ? a->include : a->exclude)[(*n)++] = v;
        return 0;
    }
    for (size_t k = 0; k < GZ_ARRAY_LEN(run_opts); k++) {
        if (strcmp(name, run_opts[k].name) == 0) {
            *(const char **)((char *)a + run_opts[k].off) = v;
            return 0;
        }
    }
    return usage_err("unknown option --%s", name);
}

static int parse_args(struct run_args *a, int argc, char **argv)
{
    a->cmd = argv[0];
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) == 0) {
            if (parse_one(a, argc, argv, &i) != 0)
                return RUN_EXIT_ERROR;
        } else if (a->id == NULL) {
            a->id = argv[i];
        } else {
            return usage_err("unexpected argument '%s'", argv[i]);
        }
    }
    bool wants_id = strcmp(a->cmd, "run") != 0 && strcmp(a->cmd, "jobs") != 0;
    if (wants_id && a->id == NULL)
        return usage_err("%s needs a job ID", a->cmd);
    if (!wants_id && a->id != NULL)
        return usage_err("unexpected argument '%s'", a->id);
    /* update changes a job's credentials only when asked on its command line */
    if (!a->src_access && strcmp(a->cmd, "update") != 0)
        a->src_access = getenv("GZY_SOURCE_ACCESS_KEY");
    if (!a->src_secret && strcmp(a->cmd, "update") != 0)
        a->src_secret = getenv("GZY_SOURCE_SECRET_KEY");
    if (!a->access && !a->secret) {
        a->access = getenv("GZY_ACCESS_KEY");
        a->secret = getenv("GZY_SECRET_KEY");
    }
    if (!a->access || !*a->access || !a->secret || !*a->secret)
        return usage_err("%s", "no admin credential: give --access-key and --secret-key or set"
                               " GZY_ACCESS_KEY and GZY_SECRET_KEY");
    return 0;
}

/* ---- the job body ---- */

static int add_number(cJSON *o, const char *field, const char *v, bool size)
{
    int64_t n;
    if (v == NULL)
        return 0;
    if (gz_admin_size_parse(v, size, &n) < 0 || n < 0)
        return usage_err("bad value for --%s", field);
    cJSON_AddNumberToObject(o,
                            strcmp(field, "interval") == 0        ? "interval_seconds"
                            : strcmp(field, "restore-check") == 0 ? "restore_check_seconds"
                            : strcmp(field, "bwlimit") == 0       ? "bandwidth_limit"
                                                                  : field,
                            (double)n);
    return 0;
}

static void add_opt_str(cJSON *o, const char *name, const char *v)
{
    if (v != NULL && *v)
        cJSON_AddStringToObject(o, name, v);
}

static int job_body(const struct run_args *a, cJSON **out)
{
    const char *need[][2] = {{"tenant", a->tenant},
                             {"source-endpoint (or --source-provider and --source-region)",
                              a->src_endpoint ? a->src_endpoint : a->src_provider},
                             {"source-bucket", a->src_bucket},
                             {"source-access-key", a->src_access},
                             {"source-secret-key", a->src_secret},
                             {"dest-bucket", a->dest_bucket}};
    for (size_t i = 0; i < GZ_ARRAY_LEN(need); i++)
        if (need[i][1] == NULL || !*need[i][1])
            return usage_err("run needs --%s", need[i][0]);
    cJSON *b = cJSON_CreateObject(), *s = cJSON_AddObjectToObject(b, "source");
    add_opt_str(b, "tenant", a->tenant);
    add_opt_str(b, "name", a->name);
    add_opt_str(s, "provider", a->src_provider);
    add_opt_str(s, "endpoint", a->src_endpoint);
    add_opt_str(s, "region", a->src_region);
    add_opt_str(s, "bucket", a->src_bucket);
    add_opt_str(s, "prefix", a->src_prefix);
    add_opt_str(s, "access_key", a->src_access);
    add_opt_str(s, "secret_key", a->src_secret);
    cJSON_AddItemToObject(s, "include", cJSON_CreateStringArray(a->include, a->n_include));
    cJSON_AddItemToObject(s, "exclude", cJSON_CreateStringArray(a->exclude, a->n_exclude));
    add_opt_str(b, "dest_bucket", a->dest_bucket);
    cJSON_AddBoolToObject(b, "delete_extraneous", a->delete_extraneous);
    cJSON_AddBoolToObject(b, "dry_run", a->dry_run);
    cJSON_AddBoolToObject(b, "check_acl", a->check_acl);
    cJSON_AddBoolToObject(b, "start", true);
    if (add_number(b, "concurrency", a->concurrency, false) != 0 ||
        add_number(b, "bwlimit", a->bwlimit, true) != 0 ||
        add_number(b, "interval", a->interval, false) != 0 ||
        add_number(b, "restore-check", a->restore_check, false) != 0) {
        cJSON_Delete(b);
        return RUN_EXIT_ERROR;
    }
    *out = b;
    return 0;
}

/* The body of PATCH migrations/{id}: only what was given. */
static int update_body(const struct run_args *a, cJSON **out)
{
    cJSON *b = cJSON_CreateObject();
    if (a->src_access != NULL || a->src_secret != NULL) {
        cJSON *s = cJSON_AddObjectToObject(b, "source");
        add_opt_str(s, "access_key", a->src_access);
        add_opt_str(s, "secret_key", a->src_secret);
    }
    if (add_number(b, "concurrency", a->concurrency, false) != 0 ||
        add_number(b, "bwlimit", a->bwlimit, true) != 0 ||
        add_number(b, "interval", a->interval, false) != 0 ||
        add_number(b, "restore-check", a->restore_check, false) != 0) {
        cJSON_Delete(b);
        return RUN_EXIT_ERROR;
    }
    if (cJSON_GetArraySize(b) == 0) {
        cJSON_Delete(b);
        return usage_err("update needs at least one of --concurrency, --bwlimit, --interval,"
                         " --restore-check, --source-access-key, --source-secret-key");
    }
    *out = b;
    return 0;
}

static void body_wipe_secret(cJSON *body)
{
    cJSON *sk = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(body, "source"),
                                                 "secret_key");
    if (cJSON_IsString(sk))
        explicit_bzero(sk->valuestring, strlen(sk->valuestring));
}

/* ---- following a job ---- */

static int64_t num(const cJSON *o, const char *path)
{
    char buf[32];
    const char *s = gz_admin_cell(o, path, false, buf, sizeof(buf));
    return s && *s != '-' ? strtoll(s, NULL, 10) : 0;
}

static const char *str(const cJSON *o, const char *name)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, name));
    return s ? s : "";
}

static void human(char *out, size_t n, double v)
{
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (v >= 1024 && i < 4) {
        v /= 1024;
        i++;
    }
    snprintf(out, n, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

static void show_progress(const struct run_args *a, const cJSON *job)
{
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(job, "stats");
    int64_t done = num(st, "verified") + num(st, "skipped"), total = num(st, "listed");
    int64_t bytes = num(st, "verified_bytes") + num(st, "skipped_bytes");
    int64_t eta = num(job, "eta_s"), rate = num(job, "rate_bps");
    if (!a->tty) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", str(job, "id"));
        cJSON_AddStringToObject(o, "state", str(job, "state"));
        cJSON_AddStringToObject(o, "phase", str(job, "phase"));
        cJSON_AddNumberToObject(o, "pass", (double)num(job, "pass"));
        cJSON_AddNumberToObject(o, "objects", (double)done);
        cJSON_AddNumberToObject(o, "objects_total", (double)total);
        cJSON_AddNumberToObject(o, "bytes", (double)bytes);
        cJSON_AddNumberToObject(o, "bytes_total", (double)num(st, "listed_bytes"));
        cJSON_AddNumberToObject(o, "failed", (double)num(st, "failed"));
        cJSON_AddNumberToObject(o, "rate_bps", (double)rate);
        cJSON_AddItemToObject(
            o, "eta_s", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(job, "eta_s"), true));
        char *t = cJSON_PrintUnformatted(o);
        printf("%s\n", t ? t : "{}");
        cJSON_free(t);
        cJSON_Delete(o);
        fflush(stdout);
        return;
    }
    char b1[32], b2[32], b3[32];
    human(b1, sizeof(b1), (double)bytes);
    human(b2, sizeof(b2), (double)num(st, "listed_bytes"));
    human(b3, sizeof(b3), (double)rate);
    printf("\r\033[Kpass %lld %-9s %lld/%lld objects  %s/%s  %s/s  ETA %s",
           (long long)num(job, "pass"), str(job, "phase"), (long long)done, (long long)total, b1,
           b2, b3, eta > 0 ? "" : "-");
    if (eta > 0)
        printf("%lldm%02llds", (long long)(eta / 60), (long long)(eta % 60));
    fflush(stdout);
}

/* The exit status once the job's pass is over, or -1 while it runs. */
static int job_outcome(const cJSON *job)
{
    const char *state = str(job, "state");
    int64_t failed = num(cJSON_GetObjectItemCaseSensitive(job, "stats"), "failed");
    bool pass_done = num(job, "passes_done") >= num(job, "pass") && num(job, "pass") > 0;
    if (strcmp(state, "completed") == 0)
        return RUN_EXIT_OK;
    if (strcmp(state, "failed") == 0)
        return pass_done && failed > 0 ? RUN_EXIT_FAILED : RUN_EXIT_ERROR;
    if (strcmp(state, "cancelled") == 0)
        return RUN_EXIT_ERROR;
    if (strcmp(state, "running") == 0 && pass_done) /* an interval job between passes */
        return failed > 0 ? RUN_EXIT_FAILED : RUN_EXIT_OK;
    return -1;
}

static int follow(struct gz_admin_client *cl, const struct run_args *a, const char *id)
{
    char path[128];
    int outcome = -1, errors = 0;
    snprintf(path, sizeof(path), "migrations/%s", id);
    while (outcome < 0) {
        struct gz_admin_resp r;
        if (gz_admin_client_call(cl, "GET", path, "", NULL, &r) != GZ_ADMIN_EXIT_OK) {
            gz_admin_resp_free(&r);
            if (++errors >= 10)
                return RUN_EXIT_ERROR;
            sleep(1);
            continue;
        }
        errors = 0;
        show_progress(a, r.doc);
        outcome = job_outcome(r.doc);
        if (outcome >= 0) {
            const char *err = str(r.doc, "error");
            if (a->tty)
                printf("\n");
            fprintf(stderr, "gzy migrate: job %s %s%s%s\n", id, str(r.doc, "state"),
                    *err ? ": " : "", err);
        }
        gz_admin_resp_free(&r);
        if (outcome < 0)
            usleep(500 * 1000);
    }
    return outcome;
}

/* ---- commands ---- */

static int cmd_run(struct gz_admin_client *cl, const struct run_args *a)
{
    cJSON *body = NULL;
    struct gz_admin_resp r;
    char id[64];
    int rc = job_body(a, &body);
    if (rc != 0)
        return rc;
    rc = gz_admin_client_call(cl, "POST", "migrations", "", body, &r);
    body_wipe_secret(body);
    cJSON_Delete(body);
    if (rc != GZ_ADMIN_EXIT_OK) {
        gz_admin_resp_free(&r);
        return RUN_EXIT_ERROR;
    }
    snprintf(id, sizeof(id), "%s", str(r.doc, "id"));
    if (a->detach) {
        char *t = cJSON_PrintUnformatted(r.doc);
        printf("%s\n", t ? t : "{}");
        cJSON_free(t);
    } else if (a->tty) {
        fprintf(stderr, "gzy migrate: job %s created\n", id);
    }
    gz_admin_resp_free(&r);
    return a->detach ? RUN_EXIT_OK : follow(cl, a, id);
}

static void print_json(const cJSON *doc)
{
    char *t = cJSON_Print(doc);
    printf("%s\n", t ? t : "null");
    cJSON_free(t);
}

static int cmd_jobs(struct gz_admin_client *cl, const struct run_args *a)
{
    struct gz_admin_resp r;
    struct gz_buf q;
    gz_buf_init(&q, 1024);
    if (a->tenant) {
        gz_buf_append_cstr(&q, "tenant=");
        gz_admin_url_encode(&q, a->tenant);
    }
    gz_buf_terminate(&q);
    int rc = gz_admin_client_call(cl, "GET", "migrations", q.ptr ? q.ptr : "", NULL, &r);
    gz_buf_free(&q);
    if (rc == GZ_ADMIN_EXIT_OK && (a->json || !a->tty)) {
        print_json(r.doc);
    } else if (rc == GZ_ADMIN_EXIT_OK) {
        static const char *const hdr[] = {"ID",      "TENANT", "STATE", "PHASE", "PASS",
                                          "OBJECTS", "BYTES",  "DEST",  "NAME"};
        static const char *const paths[] = {"id",
                                            "tenant_name",
                                            "state",
                                            "phase",
                                            "pass",
                                            "stats.verified",
                                            "stats.verified_bytes",
                                            "dest_bucket",
                                            "name"};
        struct gz_admin_table t;
        const cJSON *job;
        gz_admin_table_init(&t, GZ_ARRAY_LEN(hdr), hdr);
        cJSON_ArrayForEach(job, cJSON_GetObjectItemCaseSensitive(r.doc, "migrations"))
        {
            char bufs[GZ_ARRAY_LEN(hdr)][64];
            const char *cells[GZ_ARRAY_LEN(hdr)];
            for (size_t i = 0; i < GZ_ARRAY_LEN(hdr); i++)
                cells[i] = gz_admin_cell(job, paths[i], false, bufs[i], sizeof(bufs[i]));
            gz_admin_table_add(&t, cells);
        }
        gz_admin_table_print(&t, stdout);
        gz_admin_table_free(&t);
    }
    gz_admin_resp_free(&r);
    return rc == GZ_ADMIN_EXIT_OK ? RUN_EXIT_OK : RUN_EXIT_FAILED;
}

/* The report's CSV, written by the same code the server and `migrate copy` use. */
static int csv_print(const cJSON *rep)
{
    char *text = cJSON_PrintUnformatted(rep);
    size_t len = 0;
    char *csv = text ? gz_migrate_report_csv(text, &len) : NULL;
    cJSON_free(text);
    if (csv == NULL) {
        fprintf(stderr, "gzy migrate report: the server's answer is not a report\n");
        return -EPROTO;
    }
    fwrite(csv, 1, len, stdout);
    gz_free(csv);
    return 0;
}

/* --source-secret-key -: the first line of stdin (kept out of the process list). */
static int secret_from_stdin(char *out, size_t outsz)
{
    if (fgets(out, (int)outsz, stdin) == NULL)
        return usage_err("--source-secret-key -: nothing on stdin");
    out[strcspn(out, "\r\n")] = '\0';
    return *out ? 0 : usage_err("--source-secret-key -: an empty line");
}

static int cmd_update(struct gz_admin_client *cl, const struct run_args *in)
{
    cJSON *body = NULL;
    struct gz_admin_resp r;
    struct gz_buf p;
    struct run_args a_copy = *in, *a = &a_copy;
    char secret[256];
    int rc = 0;
    if (a->src_secret != NULL && strcmp(a->src_secret, "-") == 0) {
        if ((rc = secret_from_stdin(secret, sizeof(secret))) != 0)
            return rc;
        a->src_secret = secret;
    }
    rc = update_body(a, &body);
    explicit_bzero(secret, sizeof(secret));
    if (rc != 0)
        return rc;
    gz_buf_init(&p, 1024);
    gz_buf_append_cstr(&p, "migrations/");
    gz_admin_url_encode(&p, a->id);
    gz_buf_terminate(&p);
    rc = gz_admin_client_call(cl, "PATCH", p.ptr, "", body, &r);
    gz_buf_free(&p);
    body_wipe_secret(body);
    cJSON_Delete(body);
    if (rc == GZ_ADMIN_EXIT_OK && r.doc && (a->json || !a->tty))
        print_json(r.doc);
    else if (rc == GZ_ADMIN_EXIT_OK && r.doc)
        gz_admin_print_fields(r.doc, stdout);
    gz_admin_resp_free(&r);
    return rc == GZ_ADMIN_EXIT_OK ? RUN_EXIT_OK : RUN_EXIT_FAILED;
}

static int cmd_job(struct gz_admin_client *cl, const struct run_args *a)
{
    struct gz_admin_resp r;
    struct gz_buf p;
    bool report = strcmp(a->cmd, "report") == 0 || strcmp(a->cmd, "reports") == 0;
    bool action = strcmp(a->cmd, "status") != 0 && !report && strcmp(a->cmd, "delete") != 0;
    const char *method = action ? "POST" : strcmp(a->cmd, "delete") == 0 ? "DELETE" : "GET";
    char query[64] = "";
    if (a->pass != NULL && strcmp(a->cmd, "report") != 0)
        return usage_err("--pass goes with report");
    if (a->pass != NULL) {
        int64_t pass = 0;
        if (gz_admin_size_parse(a->pass, false, &pass) < 0 || pass < 1)
            return usage_err("bad value for --pass");
        snprintf(query, sizeof(query), "pass=%lld", (long long)pass);
    }
    gz_buf_init(&p, 1024);
    gz_buf_append_cstr(&p, "migrations/");
    gz_admin_url_encode(&p, a->id);
    if (action || report)
        gz_buf_appendf(&p, "/%s", a->cmd);
    gz_buf_terminate(&p);
    int rc = gz_admin_client_call(cl, method, p.ptr, query, NULL, &r);
    gz_buf_free(&p);
    if (rc == GZ_ADMIN_EXIT_OK && strcmp(a->cmd, "report") == 0 && a->csv) {
        if (csv_print(r.doc) < 0)
            rc = GZ_ADMIN_EXIT_API;
    } else if (rc == GZ_ADMIN_EXIT_OK && r.doc &&
             (a->json || !a->tty || report))
        print_json(r.doc);
    else if (rc == GZ_ADMIN_EXIT_OK && r.doc)
        gz_admin_print_fields(r.doc, stdout);
    gz_admin_resp_free(&r);
    return rc == GZ_ADMIN_EXIT_OK ? RUN_EXIT_OK : RUN_EXIT_FAILED;
}

int gz_migrate_run_main(int argc, char **argv)
{
    struct run_args a;
    struct gz_admin_client cl;
    memset(&a, 0, sizeof(a));
    memset(&cl, 0, sizeof(cl));
    a.tty = isatty(STDOUT_FILENO) == 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            gz_migrate_run_usage(stdout);
            return RUN_EXIT_OK;
        }
    }
    int rc = parse_args(&a, argc, argv);
    if (rc != 0)
        return rc;
    a.tty = a.tty && !a.json;
    const char *endpoint = a.endpoint ? a.endpoint : getenv("GZY_ADMIN_ENDPOINT");
    const char *region = a.region ? a.region : getenv("GZY_REGION");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (gz_admin_client_init(&cl, endpoint && *endpoint ? endpoint : GZ_ADMIN_DEFAULT_ENDPOINT,
                             region && *region ? region : "us-east-1") < 0) {
        rc = usage_err("bad --admin-endpoint %s", endpoint ? endpoint : "");
        goto out;
    }
    snprintf(cl.access, sizeof(cl.access), "%s", a.access);
    snprintf(cl.secret, sizeof(cl.secret), "%s", a.secret);
    cl.json = a.json;
    if (strcmp(a.cmd, "run") == 0)
        rc = cmd_run(&cl, &a);
    else if (strcmp(a.cmd, "jobs") == 0)
        rc = cmd_jobs(&cl, &a);
    else if (strcmp(a.cmd, "update") == 0)
        rc = cmd_update(&cl, &a);
    else
        rc = cmd_job(&cl, &a);
out:
    gz_admin_client_free(&cl);
    curl_global_cleanup();
    explicit_bzero(&cl, sizeof(cl));
    return rc;
}
