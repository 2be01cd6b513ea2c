/*
 * admin.c - `gzy admin ...`: drives the admin JSON API (docs/admin-api.md). Options before
 * the command word are global (--endpoint, --access-key, --secret-key, --data, --region,
 * --json); after it they belong to the command, except that the global ones are still
 * recognised there unless the command takes an option of that name (`key create
 * --access-key K --secret-key S` gives the new key pair).
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "admin_cli.h"
#include "cli.h"

#define MAX_ARGS 8
#define MAX_OPTS 16
#define CREDENTIAL_FILE "root-credential"

struct opt {
    const char *name;
    const char *value;
};

struct cmdline {
    const char *endpoint, *access, *secret, *data, *region;
    bool json;
    const char *args[MAX_ARGS];   /* positionals: words of the command, then its operands */
    int nargs;
    struct opt opts[MAX_OPTS];    /* command options */
    int nopts;
};

struct command {
    const char *word1, *word2;    /* "tenant", "add"; word2 NULL for one-word commands */
    int nargs;                    /* operands after the command words */
    const char *options;          /* accepted options, space separated, " a b " form */
    int (*run)(struct gz_admin_client *cl, const struct cmdline *cmd, const char *const *argv);
    const char *usage;
};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "gzy admin: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see gzy admin --help)\n");
    va_end(ap);
    return GZ_ADMIN_EXIT_USAGE;
}

static const char *opt_get(const struct cmdline *cmd, const char *name)
{
    for (int i = 0; i < cmd->nopts; i++)
        if (strcmp(cmd->opts[i].name, name) == 0)
            return cmd->opts[i].value;
    return NULL;
}

/* ---- sending and printing ---- */

/* Sends and, on success, prints the JSON itself under --json; the caller prints tables. */
static int call(struct gz_admin_client *cl, const char *method, struct gz_buf *path,
                struct gz_buf *query, cJSON *body, struct gz_admin_resp *resp)
{
    gz_buf_terminate(path);
    if (query)
        gz_buf_terminate(query);
    int rc = gz_admin_client_call(cl, method, path->ptr, query ? query->ptr : "", body, resp);
    cJSON_Delete(body);
    gz_buf_free(path);
    if (query)
        gz_buf_free(query);
    if (rc == GZ_ADMIN_EXIT_OK && cl->json) {
        if (resp->raw.len > 0)
            fwrite(resp->raw.ptr, 1, resp->raw.len, stdout);
        else
            fputs("{}", stdout);
        fputc('\n', stdout);
    }
    return rc;
}

/* "a/b/c" with each piece encoded: path_of(&b, "tenants", name, "quota", NULL). */
static struct gz_buf path_of(const char *first, ...)
{
    struct gz_buf b;
    va_list ap;
    gz_buf_init(&b, 8192);
    va_start(ap, first);
    for (const char *s = first; s != NULL; s = va_arg(ap, const char *)) {
        if (b.len > 0)
            gz_buf_append(&b, "/", 1);
        gz_admin_url_encode(&b, s);
    }
    va_end(ap);
    return b;
}

/* Adds name=value to a query that must be built in sorted name order. */
static void query_add(struct gz_buf *q, const char *name, const char *value)
{
    if (value == NULL)
        return;
    if (q->len > 0)
        gz_buf_append(q, "&", 1);
    gz_admin_url_encode(q, name);
    gz_buf_append(q, "=", 1);
    gz_admin_url_encode(q, value);
}

static int print_object(struct gz_admin_client *cl, int rc, struct gz_admin_resp *resp)
{
    if (rc == GZ_ADMIN_EXIT_OK && !cl->json && resp->doc)
        gz_admin_print_fields(resp->doc, stdout);
    gz_admin_resp_free(resp);
    return rc;
}

/* A table of the array `key` in the answer; cols are field paths, limits flagged by "max_". */
static void print_array(const cJSON *doc, const char *key, size_t ncols,
                        const char *const *headers, const char *const *cols)
{
    struct gz_admin_table t;
    const cJSON *it;
    char bufs[12][64];
    const char *row[12];
    gz_admin_table_init(&t, ncols, headers);
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(doc, key))
    {
        for (size_t i = 0; i < ncols && i < 12; i++)
            row[i] = gz_admin_cell(it, cols[i], strstr(cols[i], "max_") != NULL, bufs[i], 64);
        gz_admin_table_add(&t, row);
    }
    gz_admin_table_print(&t, stdout);
    gz_admin_table_free(&t);
}

/* Reads --max-bytes / --max-objects into a JSON quota object; NULL if neither was given. */
static int quota_opts(const struct cmdline *cmd, cJSON **out)
{
    const char *mb = opt_get(cmd, "max-bytes"), *mo = opt_get(cmd, "max-objects");
    int64_t v;
    *out = NULL;
    if (mb == NULL && mo == NULL)
        return 0;
    cJSON *q = cJSON_CreateObject();
    if (mb != NULL) {
        if (gz_admin_size_parse(mb, true, &v) < 0) {
            cJSON_Delete(q);
            return usage_error("--max-bytes: '%s' is not a size (e.g. 1048576, 512M, 10G, 1T, "
                               "or -1 for unlimited)", mb);
        }
        cJSON_AddNumberToObject(q, "max_bytes", (double)v);
    }
    if (mo != NULL) {
        if (gz_admin_size_parse(mo, true, &v) < 0) {
            cJSON_Delete(q);
            return usage_error("--max-objects: '%s' is not a count (or -1 for unlimited)", mo);
        }
        cJSON_AddNumberToObject(q, "max_objects", (double)v);
    }
    *out = q;
    return 0;
}

/* Splits "TENANT/NAME"; usage error if malformed. */
static int split_user(const char *ref, char *tenant, size_t tsz, const char **name)
{
    const char *slash = strchr(ref, '/');
    if (slash == NULL || slash == ref || slash[1] == '\0' || (size_t)(slash - ref) >= tsz)
        return usage_error("'%s' is not TENANT/NAME", ref);
    snprintf(tenant, tsz, "%.*s", (int)(slash - ref), ref);
    *name = slash + 1;
    return 0;
}

/* ---- tenants ---- */

static int run_tenant_add(struct gz_admin_client *cl, const struct cmdline *cmd,
                          const char *const *argv)
{
    const char *uscc = opt_get(cmd, "uscc"), *contact = opt_get(cmd, "contact");
    cJSON *quota;
    struct gz_admin_resp resp;
    if (uscc == NULL)
        return usage_error("tenant add needs --uscc CODE (the 18-character unified social "
                           "credit code)");
    int rc = quota_opts(cmd, &quota);
    if (rc != 0)
        return rc;
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "name", argv[0]);
    cJSON_AddStringToObject(body, "uscc", uscc);
    if (contact)
        cJSON_AddStringToObject(body, "contact", contact);
    if (quota)
        cJSON_AddItemToObject(body, "quota", quota);
    struct gz_buf path = path_of("tenants", NULL);
    rc = call(cl, "POST", &path, NULL, body, &resp);
    return print_object(cl, rc, &resp);
}

static int run_tenant_list(struct gz_admin_client *cl, const struct cmdline *cmd,
                           const char *const *argv)
{
    static const char *const hdr[] = {"NAME", "STATUS", "USCC", "CONTACT", "MAX_BYTES",
                                      "MAX_OBJECTS", "CREATED"};
    static const char *const cols[] = {"name", "status", "uscc", "contact", "quota.max_bytes",
                                       "quota.max_objects", "created"};
    struct gz_admin_resp resp;
    struct gz_buf path = path_of("tenants", NULL);
    int rc = call(cl, "GET", &path, NULL, NULL, &resp);
    if (rc == GZ_ADMIN_EXIT_OK && !cl->json)
        print_array(resp.doc, "tenants", GZ_ARRAY_LEN(hdr), hdr, cols);
    gz_admin_resp_free(&resp);
    return rc;
}

static const char *const bucket_hdr[] = {"BUCKET", "TENANT", "BYTES", "OBJECTS", "MAX_BYTES",
                                         "MAX_OBJECTS", "CREATED"};
static const char *const bucket_cols[] = {"name", "tenant", "bytes", "objects",
                                          "quota.max_bytes", "quota.max_objects", "created"};

static int run_tenant_show(struct gz_admin_client *cl, const struct cmdline *cmd,
                           const char *const *argv)
{
    struct gz_admin_resp resp;
    struct gz_buf path = path_of("tenants", argv[0], NULL);
    int rc = call(cl, "GET", &path, NULL, NULL, &resp);
    if (rc == GZ_ADMIN_EXIT_OK && !cl->json && resp.doc) {
        gz_admin_print_fields(resp.doc, stdout);
        printf("\n");
        print_array(resp.doc, "buckets", GZ_ARRAY_LEN(bucket_hdr), bucket_hdr, bucket_cols);
    }
    gz_admin_resp_free(&resp);
    return rc;
}

static int run_tenant_suspend(struct gz_admin_client *cl, const struct cmdline *cmd,
                              const char *const *argv)
{
    struct gz_admin_resp resp;
    struct gz_buf path = path_of("tenants", argv[0], "suspend", NULL);
    return print_object(cl, call(cl, "POST", &path, NULL, NULL, &resp), &resp);
}

static int run_tenant_resume(struct gz_admin_client *cl, const struct cmdline *cmd,
                             const char *const *argv)
{
    struct gz_admin_resp resp;
    struct gz_buf path = path_of("tenants", argv[0], "resume", NULL);
    return print_object(cl, call(cl, "POST", &path, NULL, NULL, &resp), &resp);
}

/* tenant quota / bucket quota: PUT the given limits, or show the current ones. */
static int run_quota(struct gz_admin_client *cl, const struct cmdline *cmd, const char *coll,
                     const char *name)
{
    struct gz_admin_resp resp;
    cJSON *quota;
    int rc = quota_opts(cmd, &quota);
    if (rc != 0)
        return rc;
    if (quota == NULL && strcmp(coll, "tenants") == 0) {
        struct gz_buf path = path_of(coll, name, NULL);
        return print_object(cl, call(cl, "GET", &path, NULL, NULL, &resp), &resp);
    }
    if (quota == NULL) /* a bucket's quota: from the bucket listing */
        return usage_error("bucket quota needs --max-bytes and/or --max-objects "
                           "(gzy admin bucket list shows the current ones)");
    struct gz_buf path = path_of(coll, name, "quota", NULL);
    return print_object(cl, call(cl, "PUT", &path, NULL, quota, &resp), &resp);
}

static int run_tenant_quota(struct gz_admin_client *cl, const struct cmdline *cmd,
                            const char *const *argv)
{
    return run_quota(cl, cmd, "tenants", argv[0]);
}

/* ---- users ---- */

static int run_user_add(struct gz_admin_client *cl, const struct cmdline *cmd,
                        const char *const *argv)
{
    char tenant[128];
    const char *name, *role = opt_get(cmd, "role");
    struct gz_admin_resp resp;
    int rc = split_user(argv[0], tenant, sizeof(tenant), &name);
    if (rc != 0)
        return rc;
    if (role == NULL)
        return usage_error("user add needs --role ROLE (platform-admin, supervisor, "
                           "tenant-admin, tenant-member or tenant-reader)");
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "tenant", tenant);
    cJSON_AddStringToObject(body, "name", name);
    cJSON_AddStringToObject(body, "role", role);
    struct gz_buf path = path_of("users", NULL);
    return print_object(cl, call(cl, "POST", &path, NULL, body, &resp), &resp);
}

static int run_user_list(struct gz_admin_client *cl, const struct cmdline *cmd,
                         const char *const *argv)
{
    static const char *const hdr[] = {"TENANT", "NAME", "ROLE", "CREATED", "ID"};
    static const char *const cols[] = {"tenant", "name", "role", "created", "id"};
    struct gz_admin_resp resp;
    struct gz_buf path = path_of("users", NULL), query;
    gz_buf_init(&query, 8192);
    query_add(&query, "tenant", opt_get(cmd, "tenant"));
    int rc = call(cl, "GET", &path, &query, NULL, &resp);
    if (rc == GZ_ADMIN_EXIT_OK && !cl->json)
        print_array(resp.doc, "users", GZ_ARRAY_LEN(hdr), hdr, cols);
    gz_admin_resp_free(&resp);
    return rc;
}

static int run_user_role(struct gz_admin_client *cl, const struct cmdline *cmd,
                         const char *const *argv)
{
    char tenant[128];
    const char *name;
    struct gz_admin_resp resp;
    int rc = split_user(argv[0], tenant, sizeof(tenant), &name);
    if (rc != 0)
        return rc;
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "role", argv[1]);
    struct gz_buf path = path_of("users", tenant, name, "role", NULL);
    return print_object(cl, call(cl, "PUT", &path, NULL, body, &resp), &resp);
}

/* ---- keys ---- */

static int run_key_create(struct gz_admin_client *cl, const struct cmdline *cmd,
                          const char *const *argv)
{
    const char *ak = opt_get(cmd, "access-key"), *sk = opt_get(cmd, "secret-key"), *name;
    char tenant[128];
    struct gz_admin_resp resp;
    int rc = split_user(argv[0], tenant, sizeof(tenant), &name);
    if (rc != 0)
        return rc;
    if ((ak == NULL) != (sk == NULL))
        return usage_error("key create: give both --access-key and --secret-key, or neither");
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "user", argv[0]);
    if (ak) {
        cJSON_AddStringToObject(body, "access_key", ak);
        cJSON_AddStringToObject(body, "secret_key", sk);
    }
    struct gz_buf path = path_of("keys", NULL);
    rc = call(cl, "POST", &path, NULL, body, &resp);
    if (rc == GZ_ADMIN_EXIT_OK && !cl->json && resp.doc && ak == NULL)
        fprintf(stderr, "The secret key is shown only this once: keep it now.\n");
    return print_object(cl, rc, &resp);
}

static int run_key_list(struct gz_admin_client *cl, const struct cmdline *cmd,
                        const char *const *argv)
{
    static const char *const hdr[] = {"ACCESS_KEY", "TENANT", "USER", "ENABLED", "CREATED"};
    static const char *const cols[] = {"access_key", "tenant", "user", "enabled", "created"};
    struct gz_admin_resp resp;
    struct gz_buf path = path_of("keys", NULL), query;
    gz_buf_init(&query, 8192);
    query_add(&query, "tenant", opt_get(cmd, "tenant"));
    query_add(&query, "user", opt_get(cmd, "user"));
    int rc = call(cl, "GET", &path, &query, NULL, &resp);
    if (rc == GZ_ADMIN_EXIT_OK && !cl->json)
        print_array(resp.doc, "keys", GZ_ARRAY_LEN(hdr), hdr, cols);
    gz_admin_resp_free(&resp);
    return rc;
}

static int run_key_disable(struct gz_admin_client *cl, const struct cmdline *cmd,
                           const char *const *argv)
{
    struct gz_admin_resp resp;
    struct gz_buf path = path_of("keys", argv[0], "disable", NULL);
    return print_object(cl, call(cl, "POST", &path, NULL, NULL, &resp), &resp);
}

static int run_key_enable(struct gz_admin_client *cl, const struct cmdline *cmd,
                          const char *const *argv)
{
    struct gz_admin_resp resp;
    struct gz_buf path = path_of("keys", argv[0], "enable", NULL);
    return print_object(cl, call(cl, "POST", &path, NULL, NULL, &resp), &resp);
}

static int run_key_delete(struct gz_admin_client *cl, const struct cmdline *cmd,
                          const char *const *argv)
{
    struct gz_admin_resp resp;
    struct gz_buf path = path_of("keys", argv[0], NULL);
    int rc = call(cl, "DELETE", &path, NULL, NULL, &resp);
    if (rc == GZ_ADMIN_EXIT_OK && !cl->json)
        printf("deleted access key %s\n", argv[0]);
    gz_admin_resp_free(&resp);
    return rc;
}

/* ---- buckets, usage, audit, whoami ---- */

static int run_bucket_list(struct gz_admin_client *cl, const struct cmdline *cmd,
                           const char *const *argv)
{
    struct gz_admin_resp resp;
    struct gz_buf path = path_of("buckets", NULL), query;
    gz_buf_init(&query, 8192);
    query_add(&query, "tenant", opt_get(cmd, "tenant"));
    int rc = call(cl, "GET", &path, &query, NULL, &resp);
    if (rc == GZ_ADMIN_EXIT_OK && !cl->json)
        print_array(resp.doc, "buckets", GZ_ARRAY_LEN(bucket_hdr), bucket_hdr, bucket_cols);
    gz_admin_resp_free(&resp);
    return rc;
}

static int run_bucket_owner(struct gz_admin_client *cl, const struct cmdline *cmd,
                            const char *const *argv)
{
    struct gz_admin_resp resp;
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "tenant", argv[1]);
    struct gz_buf path = path_of("buckets", argv[0], "owner", NULL);
    return print_object(cl, call(cl, "PUT", &path, NULL, body, &resp), &resp);
}

static int run_bucket_quota(struct gz_admin_client *cl, const struct cmdline *cmd,
                            const char *const *argv)
{
    return run_quota(cl, cmd, "buckets", argv[0]);
}

static void usage_rows(const cJSON *tenant, struct gz_admin_table *t)
{
    char b[6][64];
    const cJSON *bk;
    const char *row[7] = {gz_admin_cell(tenant, "name", false, b[0], 64), "(all)",
                          gz_admin_cell(tenant, "bytes", false, b[1], 64),
                          gz_admin_cell(tenant, "objects", false, b[2], 64),
                          gz_admin_cell(tenant, "quota.max_bytes", true, b[3], 64),
                          gz_admin_cell(tenant, "quota.max_objects", true, b[4], 64)};
    gz_admin_table_add(t, row);
    cJSON_ArrayForEach(bk, cJSON_GetObjectItemCaseSensitive(tenant, "buckets"))
    {
        row[1] = gz_admin_cell(bk, "name", false, b[5], 64);
        row[2] = gz_admin_cell(bk, "bytes", false, b[1], 64);
        row[3] = gz_admin_cell(bk, "objects", false, b[2], 64);
        row[4] = gz_admin_cell(bk, "quota.max_bytes", true, b[3], 64);
        row[5] = gz_admin_cell(bk, "quota.max_objects", true, b[4], 64);
        gz_admin_table_add(t, row);
    }
}

static int run_usage(struct gz_admin_client *cl, const struct cmdline *cmd,
                     const char *const *argv)
{
    static const char *const hdr[] = {"TENANT", "BUCKET", "BYTES", "OBJECTS", "MAX_BYTES",
                                      "MAX_OBJECTS"};
    struct gz_admin_resp resp;
    struct gz_buf path = path_of("usage", NULL), query;
    gz_buf_init(&query, 8192);
    query_add(&query, "tenant", opt_get(cmd, "tenant"));
    int rc = call(cl, "GET", &path, &query, NULL, &resp);
    if (rc == GZ_ADMIN_EXIT_OK && !cl->json) {
        struct gz_admin_table t;
        const cJSON *it;
        gz_admin_table_init(&t, GZ_ARRAY_LEN(hdr), hdr);
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(resp.doc, "tenants"))
            usage_rows(it, &t);
        gz_admin_table_print(&t, stdout);
        gz_admin_table_free(&t);
    }
    gz_admin_resp_free(&resp);
    return rc;
}

static int run_audit(struct gz_admin_client *cl, const struct cmdline *cmd,
                     const char *const *argv)
{
    static const char *const hdr[] = {"TIME", "ACTION", "OUTCOME", "STATUS", "PRINCIPAL",
                                      "USER", "TENANT", "RESOURCE"};
    static const char *const cols[] = {"time", "action", "outcome", "status", "principal",
                                       "user", "tenant", "resource"};
    struct gz_admin_resp resp;
    struct gz_buf path = path_of("audit", NULL), query;
    gz_buf_init(&query, 8192);
    /* sorted by name: libcurl signs the query as sent */
    query_add(&query, "from", opt_get(cmd, "from"));
    query_add(&query, "limit", opt_get(cmd, "limit"));
    query_add(&query, "tenant", opt_get(cmd, "tenant"));
    query_add(&query, "to", opt_get(cmd, "to"));
    int rc = call(cl, "GET", &path, &query, NULL, &resp);
    if (rc == GZ_ADMIN_EXIT_OK && !cl->json)
        print_array(resp.doc, "entries", GZ_ARRAY_LEN(hdr), hdr, cols);
    gz_admin_resp_free(&resp);
    return rc;
}

static int run_whoami(struct gz_admin_client *cl, const struct cmdline *cmd,
                      const char *const *argv)
{
    struct gz_admin_resp resp;
    struct gz_buf path = path_of("whoami", NULL);
    return print_object(cl, call(cl, "GET", &path, NULL, NULL, &resp), &resp);
}

static const struct command commands[] = {
    {"tenant", "add", 1, " uscc contact max-bytes max-objects ", run_tenant_add,
     "tenant add NAME --uscc CODE [--contact C] [--max-bytes N] [--max-objects N]"},
    {"tenant", "list", 0, "", run_tenant_list, "tenant list"},
    {"tenant", "show", 1, "", run_tenant_show, "tenant show NAME"},
    {"tenant", "suspend", 1, "", run_tenant_suspend, "tenant suspend NAME"},
    {"tenant", "resume", 1, "", run_tenant_resume, "tenant resume NAME"},
    {"tenant", "quota", 1, " max-bytes max-objects ", run_tenant_quota,
     "tenant quota NAME [--max-bytes N] [--max-objects N]"},
    {"user", "add", 1, " role ", run_user_add, "user add TENANT/NAME --role ROLE"},
    {"user", "list", 0, " tenant ", run_user_list, "user list [--tenant T]"},
    {"user", "role", 2, "", run_user_role, "user role TENANT/NAME ROLE"},
    {"key", "create", 1, " access-key secret-key ", run_key_create,
     "key create TENANT/NAME [--access-key K --secret-key S]"},
    {"key", "list", 0, " tenant user ", run_key_list, "key list [--tenant T] [--user T/N]"},
    {"key", "disable", 1, "", run_key_disable, "key disable ACCESS_KEY"},
    {"key", "enable", 1, "", run_key_enable, "key enable ACCESS_KEY"},
    {"key", "delete", 1, "", run_key_delete, "key delete ACCESS_KEY"},
    {"bucket", "list", 0, " tenant ", run_bucket_list, "bucket list [--tenant T]"},
    {"bucket", "owner", 2, "", run_bucket_owner, "bucket owner BUCKET TENANT"},
    {"bucket", "quota", 1, " max-bytes max-objects ", run_bucket_quota,
     "bucket quota BUCKET [--max-bytes N] [--max-objects N]"},
    {"usage", NULL, 0, " tenant ", run_usage, "usage [--tenant T]"},
    {"audit", NULL, 0, " tenant from to limit ", run_audit,
     "audit [--tenant T] [--from ISO] [--to ISO] [--limit N]"},
    {"whoami", NULL, 0, "", run_whoami, "whoami"},
};

static void admin_usage(FILE *out)
{
    fprintf(out, "usage: gzy admin [--endpoint URL] [--access-key K --secret-key S] [--data DIR]\n"
                 "                 [--region R] [--json] <command>\n\ncommands:\n");
    for (size_t i = 0; i < GZ_ARRAY_LEN(commands); i++)
        fprintf(out, "  %s\n", commands[i].usage);
    fprintf(out,
            "\nEndpoint: --endpoint, else GZY_ADMIN_ENDPOINT, else %s.\n"
            "Credentials: --access-key/--secret-key, else GZY_ACCESS_KEY/GZY_SECRET_KEY, else\n"
            "GZY_ROOT_ACCESS_KEY/GZY_ROOT_SECRET_KEY, else DATA/%s (--data, else GZY_DATA,\n"
            "else ./gzy-data). Sizes take binary suffixes (512M, 10G, 1T); -1 is unlimited.\n"
            "Exit status: 0 success, 1 API error, 2 usage error.\n",
            GZ_ADMIN_DEFAULT_ENDPOINT, CREDENTIAL_FILE);
}

/* ---- argument parsing ---- */

static bool is_global(const char *name)
{
    return strcmp(name, "endpoint") == 0 || strcmp(name, "access-key") == 0 ||
           strcmp(name, "secret-key") == 0 || strcmp(name, "data") == 0 ||
           strcmp(name, "region") == 0;
}

static bool command_takes(const struct cmdline *cmd, const char *name)
{
    /* only `key create` takes option names that are also global */
    return cmd->nargs >= 2 && strcmp(cmd->args[0], "key") == 0 &&
           strcmp(cmd->args[1], "create") == 0 &&
           (strcmp(name, "access-key") == 0 || strcmp(name, "secret-key") == 0);
}

static void set_global(struct cmdline *cmd, const char *name, const char *v)
{
    if (strcmp(name, "endpoint") == 0)
        cmd->endpoint = v;
    else if (strcmp(name, "access-key") == 0)
        cmd->access = v;
    else if (strcmp(name, "secret-key") == 0)
        cmd->secret = v;
    else if (strcmp(name, "data") == 0)
        cmd->data = v;
    else
        cmd->region = v;
}

/* --name value or --name=value; names point into argv (the '=' is overwritten). */
static int parse_option(struct cmdline *cmd, int argc, char **argv, int *i)
{
    char *name = argv[*i] + 2;
    char *eq = strchr(name, '=');
    if (strcmp(name, "json") == 0) {
        cmd->json = true;
        return 0;
    }
    if (eq != NULL)
        *eq = '\0';
    if (*name == '\0')
        return usage_error("bad option '%s'", argv[*i]);
    const char *v = eq ? eq + 1 : (*i + 1 < argc ? argv[++*i] : NULL);
    if (v == NULL)
        return usage_error("option --%s needs a value", name);
    if (is_global(name) && !command_takes(cmd, name)) {
        set_global(cmd, name, v);
        return 0;
    }
    if (cmd->nopts >= MAX_OPTS)
        return usage_error("too many options");
    cmd->opts[cmd->nopts].name = name;
    cmd->opts[cmd->nopts].value = v;
    cmd->nopts++;
    return 0;
}

static int parse_cmdline(struct cmdline *cmd, int argc, char **argv)
{
    memset(cmd, 0, sizeof(*cmd));
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            admin_usage(stdout);
            return -1;
        }
        if (strncmp(argv[i], "--", 2) == 0) {
            int rc = parse_option(cmd, argc, argv, &i);
            if (rc != 0)
                return rc;
            continue;
        }
        if (cmd->nargs == MAX_ARGS)
            return usage_error("too many arguments");
        cmd->args[cmd->nargs++] = argv[i];
    }
    return 0;
}

static const struct command *command_find(const struct cmdline *cmd, int *words)
{
    for (size_t i = 0; i < GZ_ARRAY_LEN(commands); i++) {
        const struct command *c = &commands[i];
        if (cmd->nargs < 1 || strcmp(cmd->args[0], c->word1) != 0)
            continue;
        if (c->word2 == NULL) {
            *words = 1;
            return c;
        }
        if (cmd->nargs >= 2 && strcmp(cmd->args[1], c->word2) == 0) {
            *words = 2;
            return c;
        }
    }
    return NULL;
}

static int command_check(const struct command *c, const struct cmdline *cmd, int words)
{
    if (cmd->nargs - words != c->nargs)
        return usage_error("usage: gzy admin %s", c->usage);
    for (int i = 0; i < cmd->nopts; i++) {
        char pat[80];
        snprintf(pat, sizeof(pat), " %s ", cmd->opts[i].name);
        if (strstr(c->options, pat) == NULL)
            return usage_error("%s %s: unknown option --%s", c->word1, c->word2 ? c->word2 : "",
                               cmd->opts[i].name);
    }
    return 0;
}

/* ---- credentials ---- */

static int credential_file(const char *data, struct gz_admin_client *cl)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", data, CREDENTIAL_FILE);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -errno;
    int rc = fscanf(f, "%128s %128s", cl->access, cl->secret) == 2 ? 0 : -EINVAL;
    fclose(f);
    if (rc < 0)
        fprintf(stderr, "gzy admin: %s is malformed\n", path);
    return rc;
}

static int credentials(const struct cmdline *cmd, struct gz_admin_client *cl)
{
    const char *pairs[3][2] = {
        {cmd->access, cmd->secret},
        {getenv("GZY_ACCESS_KEY"), getenv("GZY_SECRET_KEY")},
        {getenv("GZY_ROOT_ACCESS_KEY"), getenv("GZY_ROOT_SECRET_KEY")},
    };
    if ((cmd->access == NULL) != (cmd->secret == NULL))
        return usage_error("give both --access-key and --secret-key");
    for (int i = 0; i < 3; i++) {
        if (pairs[i][0] && *pairs[i][0] && pairs[i][1] && *pairs[i][1]) {
            snprintf(cl->access, sizeof(cl->access), "%s", pairs[i][0]);
            snprintf(cl->secret, sizeof(cl->secret), "%s", pairs[i][1]);
            return 0;
        }
    }
    const char *data = cmd->data ? cmd->data : getenv("GZY_DATA");
    data = data && *data ? data : "./gzy-data";
    int rc = credential_file(data, cl);
    if (rc == 0)
        return 0;
    if (rc != -EINVAL)
        fprintf(stderr, "gzy admin: no credentials: give --access-key and --secret-key, set "
                        "GZY_ACCESS_KEY and GZY_SECRET_KEY, or point --data at the server's "
                        "data folder (%s/%s: %s)\n", data, CREDENTIAL_FILE, gz_strerror(rc));
    return GZ_ADMIN_EXIT_USAGE;
}

int gz_cmd_admin(int argc, char **argv)
{
    struct cmdline cmd;
    struct gz_admin_client cl;
    int words = 0;
    memset(&cl, 0, sizeof(cl));
    int rc = parse_cmdline(&cmd, argc, argv);
    if (rc != 0)
        return rc < 0 ? GZ_ADMIN_EXIT_OK : rc;
    if (cmd.nargs == 0) {
        admin_usage(stderr);
        return GZ_ADMIN_EXIT_USAGE;
    }
    const struct command *c = command_find(&cmd, &words);
    if (c == NULL)
        return usage_error("unknown command '%s%s%s'", cmd.args[0], cmd.nargs > 1 ? " " : "",
                           cmd.nargs > 1 ? cmd.args[1] : "");
    if ((rc = command_check(c, &cmd, words)) != 0 || (rc = credentials(&cmd, &cl)) != 0)
        goto out;
    const char *endpoint = cmd.endpoint ? cmd.endpoint : getenv("GZY_ADMIN_ENDPOINT");
    const char *region = cmd.region ? cmd.region : getenv("GZY_REGION");
    cl.json = cmd.json;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (gz_admin_client_init(&cl, endpoint && *endpoint ? endpoint : GZ_ADMIN_DEFAULT_ENDPOINT,
                             region && *region ? region : "us-east-1") < 0) {
        rc = usage_error("bad --endpoint");
    } else {
        rc = c->run(&cl, &cmd, cmd.args + words);
    }
    gz_admin_client_free(&cl);
    curl_global_cleanup();
out:
    explicit_bzero(&cl, sizeof(cl));
    return rc;
}
