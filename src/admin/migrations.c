/*
 * migrations.c - /admin/v1/migrations: migration jobs inside the server (src/migrate/jobs.h).
 * Create, list, show, update (PATCH: credentials and options of a job that is not running),
 * start/pause/resume/cancel, estimate (the source listed, nothing copied), delete, every pass's
 * report (JSON or CSV; the list of them) and signed manifest. Tenant-admins see
 * and act on their own tenant's jobs only and may only migrate into buckets of their tenant;
 * supervisors read all; platform-admins do all.
 * The source secret is sealed by the jobs module and never answered.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../migrate/jobs.h"
#include "admin_int.h"

#define MIG_MANIFEST_MAX (ADMIN_MAX_RESPONSE - 1024)

static bool jobs_available(struct admin_call *c)
{
    if (c->svc->jobs != NULL)
        return true;
    admin__reply_error(c, 503, "ServiceUnavailable", "migration jobs are not enabled");
    return false;
}

/* Gets the job in the path as JSON and scopes its tenant; NULL if replied. */
static cJSON *job_scoped(struct admin_call *c)
{
    struct iam_tenant t;
    cJSON *doc = NULL;
    const char *id = c->seg[1];
    admin__set_resource(c, "migration/%.64s", id);
    if (!jobs_available(c))
        return NULL;
    if (mig_jobs_get_json(c->svc->jobs, id, &doc) < 0) {
        admin__reply_error(c, 404, "NotFound", "migration job '%.64s' does not exist", id);
        return NULL;
    }
    const char *tenant = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "tenant"));
    if (admin__tenant_resolve(c, tenant ? tenant : "", &t) < 0) {
        cJSON_Delete(doc);
        return NULL;
    }
    return doc;
}

static void reply_jobs_errno(struct admin_call *c, int rc, const char *msg, const char *what)
{
    if (rc == -EBUSY) {
        admin__reply_error(c, 409, "InvalidState", "%s", msg[0] ? msg : "the job is busy");
        return;
    }
    admin__reply_errno(c, rc, msg, what);
}

/* Replies with raw text already formatted (JSON documents served byte for byte, CSV);
 * content_type NULL for JSON. */
static void reply_raw(struct admin_call *c, const char *text, size_t len, const char *content_type)
{
    admin__reply_json(c, 200, NULL); /* the status; the body follows */
    c->content_type = content_type;
    if (gz_buf_append(&c->out, text, len) < 0) {
        c->done = false;
        c->content_type = NULL;
        admin__reply_error(c, 500, "InternalError", "the answer is too large");
    }
}

void admin__migrations_list(struct admin_call *c)
{
    const char *tenant = admin__query(c, "tenant");
    struct iam_tenant t;
    cJSON *arr = NULL;
    admin__set_resource(c, "migrations");
    if (!jobs_available(c))
        return;
    if ((tenant == NULL || !*tenant) && !admin__is_platform(c))
        tenant = c->who.tenant_id[0] ? c->who.tenant_id : c->who.tenant_name;
    if (tenant != NULL && *tenant) {
        if (admin__tenant_resolve(c, tenant, &t) < 0)
            return;
        tenant = t.id;
    } else {
        tenant = NULL;
    }
    mig_jobs_list_json(c->svc->jobs, tenant, &arr);
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddItemToObject(doc, "migrations", arr);
    admin__reply_json(c, 200, doc);
}

/* ---- create ---- */

/* A string field of obj (NULL if absent); replies and returns -EINVAL if not a string. */
static int field_str(struct admin_call *c, cJSON *obj, const char *path, const char *name,
                     const char **out)
{
    cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
    *out = NULL;
    if (it == NULL || cJSON_IsNull(it))
        return 0;
    if (!cJSON_IsString(it)) {
        admin__reply_error(c, 400, "InvalidArgument", "field '%s%s' must be a string", path, name);
        return -EINVAL;
    }
    *out = it->valuestring;
    return 0;
}

static int field_int(struct admin_call *c, const char *name, int64_t max, int64_t *out)
{
    cJSON *it = c->in ? cJSON_GetObjectItemCaseSensitive(c->in, name) : NULL;
    if (it == NULL || cJSON_IsNull(it))
        return 0;
    if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > (double)max ||
        it->valuedouble != (double)(int64_t)it->valuedouble) {
        admin__reply_error(c, 400, "InvalidArgument",
                           "field '%s' must be an integer from 0 to %lld", name, (long long)max);
        return -EINVAL;
    }
    *out = (int64_t)it->valuedouble;
    return 0;
}

static int field_bool(struct admin_call *c, const char *name, bool *out)
{
    cJSON *it = c->in ? cJSON_GetObjectItemCaseSensitive(c->in, name) : NULL;
    if (it == NULL || cJSON_IsNull(it))
        return 0;
    if (!cJSON_IsBool(it)) {
        admin__reply_error(c, 400, "InvalidArgument", "field '%s' must be true or false", name);
        return -EINVAL;
    }
    *out = cJSON_IsTrue(it);
    return 0;
}

/* source.include / source.exclude: arrays of strings (pointers into c->in). */
static int field_globs(struct admin_call *c, cJSON *src, const char *name, const char **v, int max,
                       int *n)
{
    cJSON *a = cJSON_GetObjectItemCaseSensitive(src, name), *it;
    *n = 0;
    if (a == NULL || cJSON_IsNull(a))
        return 0;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) > max) {
        admin__reply_error(c, 400, "InvalidArgument",
                           "field 'source.%s' must be an array of at most %d strings", name, max);
        return -EINVAL;
    }
    cJSON_ArrayForEach(it, a)
    {
        if (!cJSON_IsString(it) || !*it->valuestring) {
            admin__reply_error(c, 400, "InvalidArgument",
                               "field 'source.%s' must hold non-empty strings", name);
            return -EINVAL;
        }
        v[(*n)++] = it->valuestring;
    }
    return 0;
}

#define MIG_MAX_GLOBS 64

struct create_in {
    struct mig_job_spec spec;
    const char *include[MIG_MAX_GLOBS], *exclude[MIG_MAX_GLOBS];
    const char *provider;
};

static int source_parse(struct admin_call *c, struct create_in *in)
{
    cJSON *src = c->in ? cJSON_GetObjectItemCaseSensitive(c->in, "source") : NULL;
    struct gz_mig_endpoint *e = &in->spec.src;
    if (!cJSON_IsObject(src)) {
        admin__reply_error(c, 400, "InvalidArgument", "field 'source' must be an object");
        return -EINVAL;
    }
    if (field_str(c, src, "source.", "provider", &in->provider) < 0 ||
        field_str(c, src, "source.", "endpoint", &e->endpoint) < 0 ||
        field_str(c, src, "source.", "region", &e->region) < 0 ||
        field_str(c, src, "source.", "bucket", &e->bucket) < 0 ||
        field_str(c, src, "source.", "prefix", &e->prefix) < 0 ||
        field_str(c, src, "source.", "access_key", &e->access_key) < 0 ||
        field_str(c, src, "source.", "secret_key", &e->secret_key) < 0 ||
        field_globs(c, src, "include", in->include, MIG_MAX_GLOBS, &in->spec.n_include) < 0 ||
        field_globs(c, src, "exclude", in->exclude, MIG_MAX_GLOBS, &in->spec.n_exclude) < 0)
        return -EINVAL;
    const struct gz_mig_preset *p = gz_migrate_preset_find(in->provider ? in->provider : "generic");
    if (p == NULL) {
        admin__reply_error(c, 400, "InvalidArgument",
                           "field 'source.provider' must be one of"
                           " aws, aliyun-oss, huawei-obs, tencent-cos, generic");
        return -EINVAL;
    }
    e->provider = p->provider;
    if ((e->endpoint == NULL || *e->endpoint == '\0') && p->host_pre != NULL) {
        char ep[256], why[256] = "no endpoint"; /* the preset's, for the region, in the body */
        cJSON *v = NULL;
        if (gz_migrate_preset_endpoint(p, e->region, ep, sizeof(ep), why, sizeof(why)) == 0)
            v = cJSON_AddStringToObject(src, "endpoint", ep);
        if (v == NULL) {
            admin__reply_error(c, 400, "InvalidArgument", "%s", why);
            return -EINVAL;
        }
        e->endpoint = v->valuestring;
    }
    in->spec.include = in->include;
    in->spec.exclude = in->exclude;
    return 0;
}

static int create_parse(struct admin_call *c, struct create_in *in)
{
    int64_t conc = 0, bw = 0, interval = 0, restore = 0;
    in->spec.start = true;
    if (admin__body_str(c, "tenant", false, IAM_ID_LEN, &in->spec.tenant) < 0 ||
        admin__body_str(c, "name", false, 256, &in->spec.name) < 0 ||
        admin__body_str(c, "dest_bucket", true, 63, &in->spec.dest_bucket) < 0 ||
        source_parse(c, in) < 0 || field_int(c, "concurrency", 256, &conc) < 0 ||
        field_int(c, "bandwidth_limit", INT64_C(1) << 50, &bw) < 0 ||
        field_int(c, "interval_seconds", INT64_C(10) * 365 * 86400, &interval) < 0 ||
        field_int(c, "restore_check_seconds", INT64_C(10) * 365 * 86400, &restore) < 0 ||
        field_bool(c, "delete_extraneous", &in->spec.delete_extraneous) < 0 ||
        field_bool(c, "dry_run", &in->spec.dry_run) < 0 ||
        field_bool(c, "check_acl", &in->spec.check_acl) < 0 ||
        field_bool(c, "start", &in->spec.start) < 0)
        return -EINVAL;
    in->spec.concurrency = (int)conc;
    in->spec.bandwidth_limit = bw;
    in->spec.interval_s = interval;
    in->spec.restore_check_s = restore;
    return 0;
}

/* The body holds the source secret: wipe it once the job has it sealed. */
static void wipe_secret(struct admin_call *c)
{
    cJSON *src = c->in ? cJSON_GetObjectItemCaseSensitive(c->in, "source") : NULL;
    cJSON *sk = src ? cJSON_GetObjectItemCaseSensitive(src, "secret_key") : NULL;
    if (cJSON_IsString(sk))
        explicit_bzero(sk->valuestring, strlen(sk->valuestring));
    if (c->body.ptr != NULL)
        explicit_bzero(c->body.ptr, c->body.len);
}

void admin__migrations_create(struct admin_call *c)
{
    struct create_in in;
    struct iam_tenant t;
    char id[MIG_JOB_ID_LEN + 1], msg[512] = "";
    cJSON *doc = NULL;
    memset(&in, 0, sizeof(in));
    admin__set_resource(c, "migrations");
    if (!jobs_available(c) || create_parse(c, &in) < 0)
        goto out;
    if (in.spec.tenant == NULL && !admin__is_platform(c))
        in.spec.tenant = c->who.tenant_id[0] ? c->who.tenant_id : c->who.tenant_name;
    if (in.spec.tenant == NULL) {
        admin__reply_error(c, 400, "InvalidArgument", "field 'tenant' is required");
        goto out;
    }
    if (admin__tenant_resolve(c, in.spec.tenant, &t) < 0)
        goto out;
    in.spec.tenant = t.id;
    int rc = mig_jobs_create(c->svc->jobs, &in.spec, id, msg, sizeof(msg));
    if (rc < 0) {
        reply_jobs_errno(c, rc, msg, "migration job");
        goto out;
    }
    admin__set_resource(c, "migration/%s", id);
    if (mig_jobs_get_json(c->svc->jobs, id, &doc) < 0) {
        admin__reply_error(c, 500, "InternalError", "the new job vanished");
        goto out;
    }
    admin__reply_json(c, 201, doc);
out:
    wipe_secret(c);
}

/* ---- one job ---- */

void admin__migrations_show(struct admin_call *c)
{
    cJSON *doc = job_scoped(c);
    if (doc != NULL)
        admin__reply_json(c, 200, doc);
}

/* POST migrations/{id}/estimate [{"sample": N}]: lists the job's source on a thread of the
 * jobs module (nothing copied); 202 with the job, whose "estimate" says "running" until done. */
static void migrations_estimate(struct admin_call *c)
{
    char msg[512] = "";
    int64_t sample = 0;
    bool already = false;
    cJSON *doc = NULL;
    if (field_int(c, "sample", INT64_C(1) << 40, &sample) < 0)
        return;
    int rc = mig_jobs_estimate(c->svc->jobs, c->seg[1], sample, &already, msg, sizeof(msg));
    if (rc == 0)
        rc = mig_jobs_get_json(c->svc->jobs, c->seg[1], &doc);
    if (rc < 0) {
        reply_jobs_errno(c, rc, msg, "migration job");
        return;
    }
    admin__reply_json(c, 202, doc);
}

void admin__migrations_action(struct admin_call *c)
{
    char msg[512] = "";
    cJSON *doc = job_scoped(c);
    if (doc == NULL)
        return;
    cJSON_Delete(doc);
    if (strcmp(c->seg[2], "estimate") == 0) {
        migrations_estimate(c);
        return;
    }
    int rc = mig_jobs_action(c->svc->jobs, c->seg[1], c->seg[2], msg, sizeof(msg));
    if (rc == 0)
        rc = mig_jobs_get_json(c->svc->jobs, c->seg[1], &doc);
    if (rc < 0) {
        reply_jobs_errno(c, rc, msg, "migration job");
        return;
    }
    admin__reply_json(c, 200, doc);
}

void admin__migrations_delete(struct admin_call *c)
{
    char msg[512] = "";
    cJSON *doc = job_scoped(c);
    if (doc == NULL)
        return;
    cJSON_Delete(doc);
    int rc = mig_jobs_delete(c->svc->jobs, c->seg[1], msg, sizeof(msg));
    if (rc < 0) {
        reply_jobs_errno(c, rc, msg, "migration job");
        return;
    }
    admin__reply_json(c, 204, NULL);
}

/* A pass number (1-15 digits); -1 if s is not one. */
static int64_t pass_parse(const char *s)
{
    int64_t pass = 0;
    size_t len = strspn(s, "0123456789");
    if (len == 0 || len > 15 || s[len] != '\0')
        return -1;
    for (size_t i = 0; i < len; i++)
        pass = pass * 10 + (s[i] - '0');
    return pass;
}

/* GET migrations/{id}/report[?pass=N][&format=csv]: a pass's report, the latest by default. */
void admin__migrations_report(struct admin_call *c)
{
    const char *format = admin__query(c, "format"), *qpass = admin__query(c, "pass");
    char *text = NULL;
    size_t len = 0;
    int64_t pass = 0;
    cJSON *doc = job_scoped(c);
    if (doc == NULL)
        return;
    cJSON_Delete(doc);
    if (format != NULL && strcmp(format, "json") != 0 && strcmp(format, "csv") != 0) {
        admin__reply_error(c, 400, "InvalidArgument", "query 'format' must be json or csv");
        return;
    }
    if (qpass != NULL && (pass = pass_parse(qpass)) < 1) {
        admin__reply_error(c, 400, "InvalidArgument", "query 'pass' must be a pass number");
        return;
    }
    int rc =
        mig_jobs_report_pass(c->svc->jobs, c->seg[1], pass, format ? format : "json", &text, &len);
    if (rc == -ENOENT && pass > 0)
        admin__reply_error(c, 404, "NotFound", "job %.64s has no report of pass %lld", c->seg[1],
                           (long long)pass);
    else if (rc == -ENOENT)
        admin__reply_error(c, 404, "NotFound", "job %.64s has not finished a pass yet", c->seg[1]);
    else if (rc < 0)
        admin__reply_errno(c, rc, NULL, "report");
    else
        reply_raw(c, text, len,
                  format && strcmp(format, "csv") == 0 ? "text/csv; charset=utf-8" : NULL);
    gz_free(text);
}

/* GET migrations/{id}/reports: every kept pass report's summary, newest first. */
void admin__migrations_reports(struct admin_call *c)
{
    cJSON *doc = job_scoped(c), *arr = NULL;
    if (doc == NULL)
        return;
    cJSON_Delete(doc);
    int rc = mig_jobs_reports_json(c->svc->jobs, c->seg[1], &arr);
    if (rc < 0) {
        admin__reply_errno(c, rc, NULL, "reports");
        return;
    }
    doc = cJSON_CreateObject();
    cJSON_AddItemToObject(doc, "reports", arr);
    admin__reply_json(c, 200, doc);
}

/* ---- PATCH migrations/{id} ---- */

/* Only these fields may change; anything else (filters, source, destination, flags) changes
 * what the job's passes mean and is refused. */
static int update_fields_check(struct admin_call *c)
{
    static const char *const top[] = {"source", "concurrency", "bandwidth_limit",
                                      "interval_seconds", "restore_check_seconds"};
    const cJSON *it;
    if (!cJSON_IsObject(c->in)) {
        admin__reply_error(c, 400, "InvalidArgument", "the body must be a JSON object");
        return -EINVAL;
    }
    cJSON_ArrayForEach(it, c->in)
    {
        size_t i = 0;
        while (i < GZ_ARRAY_LEN(top) && strcmp(it->string, top[i]) != 0)
            i++;
        if (i == GZ_ARRAY_LEN(top)) {
            admin__reply_error(c, 400, "InvalidArgument",
                               "field '%.64s' cannot be changed (only source.access_key,"
                               " source.secret_key, concurrency, bandwidth_limit,"
                               " interval_seconds, restore_check_seconds): create a new job",
                               it->string);
            return -EINVAL;
        }
    }
    cJSON *src = cJSON_GetObjectItemCaseSensitive(c->in, "source");
    if (src != NULL && !cJSON_IsObject(src)) {
        admin__reply_error(c, 400, "InvalidArgument", "field 'source' must be an object");
        return -EINVAL;
    }
    cJSON_ArrayForEach(it, src)
    {
        if (strcmp(it->string, "access_key") != 0 && strcmp(it->string, "secret_key") != 0) {
            admin__reply_error(c, 400, "InvalidArgument",
                               "field 'source.%.64s' cannot be changed (the filters, endpoint,"
                               " bucket and prefix define the job): create a new job",
                               it->string);
            return -EINVAL;
        }
    }
    return 0;
}

static int update_parse(struct admin_call *c, struct mig_job_update *u)
{
    int64_t conc = -1, bw = -1, interval = -1, restore = -1;
    cJSON *src = cJSON_GetObjectItemCaseSensitive(c->in, "source");
    memset(u, 0, sizeof(*u));
    if (update_fields_check(c) < 0 ||
        field_str(c, src, "source.", "access_key", &u->access_key) < 0 ||
        field_str(c, src, "source.", "secret_key", &u->secret_key) < 0 ||
        field_int(c, "concurrency", 256, &conc) < 0 ||
        field_int(c, "bandwidth_limit", INT64_C(1) << 50, &bw) < 0 ||
        field_int(c, "interval_seconds", INT64_C(10) * 365 * 86400, &interval) < 0 ||
        field_int(c, "restore_check_seconds", INT64_C(10) * 365 * 86400, &restore) < 0)
        return -EINVAL;
    u->concurrency = (int)conc;
    u->bandwidth_limit = bw;
    u->interval_s = interval;
    u->restore_check_s = restore;
    return 0;
}

void admin__migrations_update(struct admin_call *c)
{
    struct mig_job_update u;
    char msg[512] = "";
    cJSON *doc = job_scoped(c);
    if (doc == NULL)
        goto out;
    cJSON_Delete(doc);
    doc = NULL;
    if (update_parse(c, &u) < 0)
        goto out;
    int rc = mig_jobs_update(c->svc->jobs, c->seg[1], &u, msg, sizeof(msg));
    if (rc == 0)
        rc = mig_jobs_get_json(c->svc->jobs, c->seg[1], &doc);
    if (rc < 0) {
        reply_jobs_errno(c, rc, msg, "migration job");
        goto out;
    }
    admin__reply_json(c, 200, doc);
out:
    wipe_secret(c);
}

static int file_read(const char *path, struct gz_buf *b)
{
    char chunk[16384];
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
    if (fd < 0)
        return -errno;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : 0;
            break;
        }
        if ((rc = gz_buf_append(b, chunk, (size_t)n)) < 0)
            break;
    }
    close(fd);
    return rc;
}

void admin__migrations_manifest(struct admin_call *c)
{
    char path[4096];
    struct gz_buf b;
    cJSON *doc = job_scoped(c);
    if (doc == NULL)
        return;
    cJSON_Delete(doc);
    gz_buf_init(&b, MIG_MANIFEST_MAX);
    int rc = mig_jobs_manifest_path(c->svc->jobs, c->seg[1], path, sizeof(path));
    if (rc == 0)
        rc = file_read(path, &b);
    if (rc == -ENOENT)
        admin__reply_error(c, 404, "NotFound", "job %.64s has no manifest yet", c->seg[1]);
    else if (rc < 0)
        admin__reply_errno(c, rc, NULL, "manifest");
    else
        reply_raw(c, b.ptr ? b.ptr : "", b.len, NULL);
    gz_buf_free(&b);
}

/* ---- every manifest a job filed: GET .../manifests and .../manifests/{pass} ---- */

#define MANIFEST_HEAD_MAX 16384

/* The folder of a job's manifests (that of its last one); -ENOENT if it filed none. */
static int manifest_dir(struct admin_call *c, char *dir, size_t dirsz)
{
    int rc = mig_jobs_manifest_path(c->svc->jobs, c->seg[1], dir, dirsz);
    char *slash = rc == 0 ? strrchr(dir, '/') : NULL;
    if (rc < 0)
        return rc;
    if (slash == NULL)
        return -ENOENT;
    *slash = '\0';
    return 0;
}

/* The pass number of "manifest-<id>-<pass>.json" for this job, or -1. */
static int64_t manifest_pass_of(const char *name, const char *id)
{
    size_t idlen = strlen(id);
    if (strncmp(name, "manifest-", 9) != 0 || strncmp(name + 9, id, idlen) != 0 ||
        name[9 + idlen] != '-')
        return -1;
    const char *p = name + 10 + idlen;
    int64_t pass = 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9' && digits < 15; p++, digits++)
        pass = pass * 10 + (*p - '0');
    return digits > 0 && strcmp(p, ".json") == 0 ? pass : -1;
}

static int pass_cmp_desc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* {"pass","created","objects","bytes","failed","waiting","size"} from a manifest's header
 * line (line 1: the header object with its last '}' written as ','). NULL if unreadable. */
static cJSON *manifest_entry(const char *path, int64_t pass)
{
    char *head = gz_malloc(MANIFEST_HEAD_MAX + 1);
    cJSON *h = NULL, *e = NULL;
    struct stat sb;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : pread(fd, head, MANIFEST_HEAD_MAX, 0);
    if (fd < 0 || n <= 0 || fstat(fd, &sb) < 0)
        goto out;
    char *nl = memchr(head, '\n', (size_t)n);
    if (nl == NULL || nl == head || nl[-1] != ',')
        goto out;
    nl[-1] = '}';
    h = cJSON_ParseWithLength(head, (size_t)(nl - head));
    const cJSON *counts = cJSON_GetObjectItemCaseSensitive(h, "counts");
    if (!cJSON_IsObject(counts))
        goto out;
    e = cJSON_CreateObject();
    admin__json_int(e, "pass", pass);
    admin__json_str(e, "created",
                    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(h, "created")));
    static const char *const names[] = {"objects", "bytes", "failed", "waiting"};
    for (size_t i = 0; i < GZ_ARRAY_LEN(names); i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(counts, names[i]);
        admin__json_int(e, names[i], cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0);
    }
    admin__json_int(e, "size", (int64_t)sb.st_size);
out:
    if (fd >= 0)
        close(fd);
    cJSON_Delete(h);
    gz_free(head);
    return e;
}

void admin__migrations_manifests(struct admin_call *c)
{
    char dir[4096], path[4200];
    struct admin_vec passes;
    cJSON *doc = job_scoped(c), *arr = cJSON_CreateArray();
    if (doc == NULL) {
        cJSON_Delete(arr);
        return;
    }
    cJSON_Delete(doc);
    admin__vec_init(&passes, sizeof(int64_t));
    DIR *d = manifest_dir(c, dir, sizeof(dir)) == 0 ? opendir(dir) : NULL;
    for (struct dirent *de; d != NULL && (de = readdir(d)) != NULL;) {
        int64_t pass = manifest_pass_of(de->d_name, c->seg[1]);
        if (pass >= 0)
            *(int64_t *)admin__vec_push(&passes) = pass;
    }
    if (d != NULL)
        closedir(d);
    if (passes.n > 1)
        qsort(passes.items, passes.n, sizeof(int64_t), pass_cmp_desc);
    for (size_t i = 0; i < passes.n; i++) {
        int64_t pass = *(int64_t *)admin__vec_at(&passes, i);
        snprintf(path, sizeof(path), "%s/manifest-%s-%lld.json", dir, c->seg[1],
                 (long long)pass);
        cJSON *e = manifest_entry(path, pass);
        if (e != NULL)
            cJSON_AddItemToArray(arr, e);
    }
    admin__vec_free(&passes);
    doc = cJSON_CreateObject();
    cJSON_AddItemToObject(doc, "manifests", arr);
    admin__reply_json(c, 200, doc);
}

void admin__migrations_manifest_pass(struct admin_call *c)
{
    char dir[4096], path[4200];
    struct gz_buf b;
    cJSON *doc = job_scoped(c);
    if (doc == NULL)
        return;
    cJSON_Delete(doc);
    int64_t pass = pass_parse(c->seg[3]);
    if (pass < 0) {
        admin__reply_error(c, 400, "InvalidArgument", "the pass must be a number");
        return;
    }
    gz_buf_init(&b, MIG_MANIFEST_MAX);
    int rc = manifest_dir(c, dir, sizeof(dir));
    if (rc == 0) {
        snprintf(path, sizeof(path), "%s/manifest-%s-%lld.json", dir, c->seg[1],
                 (long long)pass);
        rc = file_read(path, &b);
    }
    if (rc == -ENOENT)
        admin__reply_error(c, 404, "NotFound", "job %.64s has no manifest of pass %lld",
                           c->seg[1], (long long)pass);
    else if (rc < 0)
        admin__reply_errno(c, rc, NULL, "manifest");
    else
        reply_raw(c, b.ptr ? b.ptr : "", b.len, NULL);
    gz_buf_free(&b);
}

/* POST migrations/{id}/manifests/{pass}/verify: checks that pass's signed manifest against the
 * data stored in the job's destination bucket, in the background (the server reads its own
 * store: no GetObject right needed, so supervisors may ask). 202 with the job; the result is
 * its "manifest_verify". */
void admin__migrations_manifest_verify(struct admin_call *c)
{
    char msg[512] = "";
    cJSON *doc = job_scoped(c);
    if (doc == NULL)
        return;
    cJSON_Delete(doc);
    doc = NULL;
    int64_t pass = pass_parse(c->seg[3]);
    if (pass < 1) {
        admin__reply_error(c, 400, "InvalidArgument", "the pass must be a number >= 1");
        return;
    }
    int rc = mig_jobs_manifest_verify(c->svc->jobs, c->seg[1], pass, msg, sizeof(msg));
    if (rc == 0)
        rc = mig_jobs_get_json(c->svc->jobs, c->seg[1], &doc);
    if (rc == -ENOENT)
        admin__reply_error(c, 404, "NotFound", "%s", msg[0] ? msg : "no such migration job");
    else if (rc < 0)
        reply_jobs_errno(c, rc, msg, "manifest verification");
    else
        admin__reply_json(c, 202, doc);
}
