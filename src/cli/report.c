/*
 * report.c - `gzy report`: the supervision report from the admin API's status document
 * (GET /admin/v1/status), as a terminal table, the JSON as received, or CSV / printable HTML
 * rendered by the same registry functions the API's /admin/v1/report uses, so every form
 * shows the API's numbers.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "../registry/registry.h"
#include "admin_cli.h"
#include "report_cli.h"

#define CREDENTIAL_FILE "root-credential"

struct report_opts {
    const char *tenant, *as_of, *output, *endpoint, *access, *secret, *region, *data;
    enum { OUT_TABLE, OUT_JSON, OUT_CSV, OUT_HTML } format;
};

static void report_usage(FILE *f)
{
    fprintf(f,
            "usage: gzy report [--tenant T] [--json|--csv|--html] [-o FILE] [--as-of YYYY-MM-DD]\n"
            "                  [--admin-endpoint URL] [--access-key AK --secret-key SK]\n"
            "                  [--region R] [--data DIR]\n"
            "\n"
            "The supervision report: every tenant's status, deadline, days left, data moved,\n"
            "rate and projected finish, from the admin API (GET /admin/v1/status). A table on\n"
            "the terminal by default; --json prints the API's document as received; --csv one\n"
            "row per tenant; --html a printable page with charts. --as-of computes the status\n"
            "as on another day (what-if). Credentials: --access-key/--secret-key, or\n"
            "GZY_ACCESS_KEY/GZY_SECRET_KEY, or the root credential in --data (default\n"
            "./gzy-data). Endpoint: --admin-endpoint, GZY_ADMIN_ENDPOINT, or %s.\n"
            "Exit status: 0 done, 1 the API refused or failed, 2 usage.\n",
            GZ_ADMIN_DEFAULT_ENDPOINT);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "gzy report: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see gzy report --help)\n");
    va_end(ap);
    return GZ_ADMIN_EXIT_USAGE;
}

static const char **opt_slot(struct report_opts *o, const char *name)
{
    static const char *const names[] = {"tenant",   "as-of",      "output",     "admin-endpoint",
                                        "endpoint", "access-key", "secret-key", "region",
                                        "data",     NULL};
    const char **slots[] = {&o->tenant, &o->as_of,  &o->output, &o->endpoint, &o->endpoint,
                            &o->access, &o->secret, &o->region, &o->data};
    for (int i = 0; names[i]; i++)
        if (strcmp(name, names[i]) == 0)
            return slots[i];
    return NULL;
}

/* 0, -1 (help printed) or GZ_ADMIN_EXIT_USAGE. */
static int parse_args(struct report_opts *o, int argc, char **argv)
{
    memset(o, 0, sizeof(*o));
    for (int i = 0; i < argc; i++) {
        char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            report_usage(stdout);
            return -1;
        }
        if (strcmp(a, "--json") == 0 || strcmp(a, "--csv") == 0 || strcmp(a, "--html") == 0) {
            if (o->format != OUT_TABLE)
                return usage_error("give only one of --json, --csv and --html");
            o->format = a[2] == 'j' ? OUT_JSON : a[2] == 'c' ? OUT_CSV : OUT_HTML;
            continue;
        }
        if (strncmp(a, "--", 2) != 0 && strcmp(a, "-o") != 0)
            return usage_error("unexpected argument '%s'", a);
        char *name = strcmp(a, "-o") == 0 ? "output" : a + 2;
        char *eq = strchr(name, '=');
        if (eq != NULL)
            *eq = '\0';
        const char **slot = opt_slot(o, name);
        if (slot == NULL)
            return usage_error("unknown option '%s'", a);
        const char *v = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
        if (v == NULL)
            return usage_error("option %s needs a value", a);
        *slot = v;
    }
    int32_t d;
    if (o->as_of != NULL && registry_date_parse(o->as_of, &d) < 0)
        return usage_error("--as-of: '%s' is not a date YYYY-MM-DD", o->as_of);
    if ((o->access == NULL) != (o->secret == NULL))
        return usage_error("give both --access-key and --secret-key");
    return 0;
}

static int credentials(const struct report_opts *o, struct gz_admin_client *cl)
{
    const char *pairs[3][2] = {
        {o->access, o->secret},
        {getenv("GZY_ACCESS_KEY"), getenv("GZY_SECRET_KEY")},
        {getenv("GZY_ROOT_ACCESS_KEY"), getenv("GZY_ROOT_SECRET_KEY")},
    };
    for (int i = 0; i < 3; i++) {
        if (pairs[i][0] && *pairs[i][0] && pairs[i][1] && *pairs[i][1]) {
            snprintf(cl->access, sizeof(cl->access), "%s", pairs[i][0]);
            snprintf(cl->secret, sizeof(cl->secret), "%s", pairs[i][1]);
            return 0;
        }
    }
    const char *data = o->data ? o->data : getenv("GZY_DATA");
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", data && *data ? data : "./gzy-data", CREDENTIAL_FILE);
    FILE *f = fopen(path, "r");
    int ok = f != NULL && fscanf(f, "%128s %128s", cl->access, cl->secret) == 2;
    if (f != NULL)
        fclose(f);
    if (ok)
        return 0;
    fprintf(stderr,
            "gzy report: no credentials: give --access-key and --secret-key, set "
            "GZY_ACCESS_KEY and GZY_SECRET_KEY, or point --data at the server's data "
            "folder (%s)\n",
            path);
    return GZ_ADMIN_EXIT_USAGE;
}

/* ---- the table ---- */

static const char *cell_str(const cJSON *t, const char *name)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(t, name);
    return cJSON_IsString(it) && it->valuestring[0] ? it->valuestring : "-";
}

static int64_t cell_int(const cJSON *t, const char *name)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(t, name);
    return cJSON_IsNumber(it) ? (int64_t)it->valuedouble : 0;
}

static void table_row(struct gz_admin_table *tab, const cJSON *t)
{
    char days[24] = "-", moved[96], rate[48] = "-", verified[32], a[32], b[32];
    const cJSON *dl = cJSON_GetObjectItemCaseSensitive(t, "days_left");
    if (cJSON_IsNumber(dl))
        snprintf(days, sizeof(days), "%lld", (long long)dl->valuedouble);
    int64_t mv = cell_int(t, "bytes_moved"), tot = cell_int(t, "bytes_total");
    bool sized = cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(t, "bytes_total"));
    registry_format_bytes(mv, a);
    registry_format_bytes(tot, b);
    if (!sized) /* no listing and no estimate yet: not "0 B" */
        snprintf(moved, sizeof(moved), "%s / unknown", a);
    else if (tot > 0)
        snprintf(moved, sizeof(moved), "%s / %s (%lld%%)", a, b, (long long)(mv * 100 / tot));
    else
        snprintf(moved, sizeof(moved), "%s / %s", a, b);
    registry_format_bytes(cell_int(t, "bytes_verified"), verified);
    if (cell_int(t, "rate_bps") > 0) {
        registry_format_bytes(cell_int(t, "rate_bps"), a);
        snprintf(rate, sizeof(rate), "%s/s", a);
    }
    const char *row[8] = {cell_str(t, "tenant"),
                          cell_str(t, "status"),
                          cell_str(t, "deadline"),
                          days,
                          moved,
                          verified,
                          rate,
                          cJSON_IsString(cJSON_GetObjectItemCaseSensitive(t, "projected_finish"))
                              ? cell_str(t, "projected_finish")
                              : "unknown"};
    gz_admin_table_add(tab, row);
}

static void print_table(const cJSON *doc, FILE *out)
{
    static const char *const headers[8] = {"TENANT",      "STATUS",   "DEADLINE", "DAYS LEFT",
                                           "MOVED/TOTAL", "VERIFIED", "RATE",     "PROJECTED"};
    const cJSON *pol = cJSON_GetObjectItemCaseSensitive(doc, "policy");
    const cJSON *tot = cJSON_GetObjectItemCaseSensitive(doc, "totals"), *t;
    char a[32], b[32], v[32];
    registry_format_bytes(cell_int(tot, "bytes_moved"), a);
    registry_format_bytes(cell_int(tot, "bytes_total"), b);
    registry_format_bytes(cell_int(tot, "bytes_verified"), v);
    fprintf(out,
            "as of %s, policy %s: %lld tenants, %s of %s moved, %s verified; at-risk %lld, "
            "overdue %lld, violations %lld, verified %lld, cut-over %lld; past deadline with "
            "work outstanding %lld\n",
            cell_str(doc, "as_of"), cell_str(pol, "name"), (long long)cell_int(tot, "tenants"), a,
            b, v, (long long)cell_int(tot, "at_risk"), (long long)cell_int(tot, "overdue"),
            (long long)cell_int(tot, "violations"), (long long)cell_int(tot, "verified"),
            (long long)cell_int(tot, "cut_over"), (long long)cell_int(tot, "past_deadline"));
    fputc('\n', out);
    struct gz_admin_table tab;
    gz_admin_table_init(&tab, 8, headers);
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(doc, "tenants"))
    {
        table_row(&tab, t);
    }
    gz_admin_table_print(&tab, out);
    gz_admin_table_free(&tab);
    if (cell_int(tot, "unsized_tenants") > 0)
        fprintf(out, "\nthe total leaves out %lld tenant(s) whose size is unknown\n",
                (long long)cell_int(tot, "unsized_tenants"));
}

/* ---- running ---- */

static int emit(const struct report_opts *o, const struct gz_admin_resp *resp)
{
    FILE *out = stdout;
    struct gz_buf text;
    int rc = GZ_ADMIN_EXIT_OK;
    gz_buf_init(&text, REGISTRY_MAX_REPORT);
    if (o->format == OUT_CSV && registry_report_csv(resp->doc, &text) < 0)
        rc = GZ_ADMIN_EXIT_API;
    if (o->format == OUT_HTML && registry_report_html(resp->doc, &text) < 0)
        rc = GZ_ADMIN_EXIT_API;
    if (rc != GZ_ADMIN_EXIT_OK) {
        fprintf(stderr, "gzy report: the report is too large\n");
        goto out;
    }
    if (o->output != NULL && (out = fopen(o->output, "w")) == NULL) {
        fprintf(stderr, "gzy report: cannot write %s: %s\n", o->output, strerror(errno));
        rc = GZ_ADMIN_EXIT_USAGE;
        goto out;
    }
    if (o->format == OUT_JSON) {
        fwrite(resp->raw.ptr, 1, resp->raw.len, out);
        fputc('\n', out);
    } else if (o->format == OUT_TABLE) {
        print_table(resp->doc, out);
    } else {
        fwrite(text.ptr, 1, text.len, out);
    }
    if (out != stdout && fclose(out) != 0) {
        fprintf(stderr, "gzy report: cannot write %s: %s\n", o->output, strerror(errno));
        rc = GZ_ADMIN_EXIT_API;
    }
out:
    gz_buf_free(&text);
    return rc;
}

static int fetch(struct gz_admin_client *cl, const struct report_opts *o)
{
    struct gz_buf q;
    struct gz_admin_resp resp;
    gz_buf_init(&q, 4096);
    /* sorted by name: as_of < tenant */
    if (o->as_of != NULL) {
        gz_buf_append_cstr(&q, "as_of=");
        gz_admin_url_encode(&q, o->as_of);
    }
    if (o->tenant != NULL) {
        gz_buf_append_cstr(&q, q.len ? "&tenant=" : "tenant=");
        gz_admin_url_encode(&q, o->tenant);
    }
    gz_buf_terminate(&q);
    int rc = gz_admin_client_call(cl, "GET", "status", q.len ? q.ptr : "", NULL, &resp);
    if (rc == GZ_ADMIN_EXIT_OK && !cJSON_IsObject(resp.doc)) {
        fprintf(stderr, "gzy report: the admin API answered an empty status\n");
        rc = GZ_ADMIN_EXIT_API;
    }
    if (rc == GZ_ADMIN_EXIT_OK)
        rc = emit(o, &resp);
    gz_admin_resp_free(&resp);
    gz_buf_free(&q);
    return rc;
}

int gz_cmd_report(int argc, char **argv)
{
    struct report_opts o;
    struct gz_admin_client cl;
    memset(&cl, 0, sizeof(cl));
    int rc = parse_args(&o, argc, argv);
    if (rc != 0)
        return rc < 0 ? GZ_ADMIN_EXIT_OK : rc;
    if ((rc = credentials(&o, &cl)) != 0)
        goto out;
    const char *endpoint = o.endpoint ? o.endpoint : getenv("GZY_ADMIN_ENDPOINT");
    const char *region = o.region ? o.region : getenv("GZY_REGION");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (gz_admin_client_init(&cl, endpoint && *endpoint ? endpoint : GZ_ADMIN_DEFAULT_ENDPOINT,
                             region && *region ? region : "us-east-1") < 0)
        rc = usage_error("bad --admin-endpoint '%s'", endpoint ? endpoint : "");
    else
        rc = fetch(&cl, &o);
    gz_admin_client_free(&cl);
    curl_global_cleanup();
out:
    explicit_bzero(&cl, sizeof(cl));
    return rc;
}
