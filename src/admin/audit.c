/*
 * audit.c - GET /admin/v1/audit: the most recent entries of the audit log (optionally for one
 * tenant and a time range), oldest first. It flushes the log first so the caller's own
 * preceding actions are included, then reads it through audit_export() (the same reader as
 * `gzy audit export`), keeping only the last `limit` lines in a ring.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "admin_int.h"

#define AUDIT_LINE_MAX (16 * 1024) /* longer lines are skipped */

struct ring {
    char **lines;
    size_t cap, total;
};

static void ring_push(struct ring *r, const char *line)
{
    size_t i = r->total % r->cap;
    gz_free(r->lines[i]);
    r->lines[i] = gz_strdup(line);
    r->total++;
}

/* Reads JSON lines from f into the ring. */
static void ring_fill(struct ring *r, FILE *f)
{
    char *buf = gz_malloc(AUDIT_LINE_MAX);
    bool skipping = false;
    while (fgets(buf, AUDIT_LINE_MAX, f) != NULL) {
        size_t n = strlen(buf);
        bool complete = n > 0 && buf[n - 1] == '\n';
        if (skipping || !complete) {
            skipping = !complete; /* the tail of an over-long line */
            continue;
        }
        buf[n - 1] = '\0';
        if (n > 1)
            ring_push(r, buf);
    }
    gz_free(buf);
}

static cJSON *ring_json(const struct ring *r)
{
    cJSON *arr = cJSON_CreateArray();
    size_t first = r->total > r->cap ? r->total - r->cap : 0;
    for (size_t i = first; i < r->total; i++) {
        cJSON *e = cJSON_Parse(r->lines[i % r->cap]);
        if (e != NULL)
            cJSON_AddItemToArray(arr, e);
    }
    return arr;
}

/* Parses the query; 0 or -EINVAL (replied). */
static int audit_params(struct admin_call *c, const char **tenant, int64_t *from, int64_t *to,
                        size_t *limit)
{
    const char *names[2] = {"from", "to"};
    int64_t *vals[2] = {from, to};
    for (int i = 0; i < 2; i++) {
        const char *s = admin__query(c, names[i]);
        *vals[i] = 0;
        if (s != NULL && *s && admin__parse_time(s, vals[i]) < 0) {
            admin__reply_error(c, 400, "InvalidArgument",
                               "parameter '%s' must be an ISO 8601 UTC time such as 2025-01-31 "
                               "or 2025-01-31T08:00:00Z", names[i]);
            return -EINVAL;
        }
    }
    const char *l = admin__query(c, "limit");
    char *end = NULL;
    long long n = l ? strtoll(l, &end, 10) : ADMIN_AUDIT_DEFAULT_LIMIT;
    if (l != NULL && (end == l || *end != '\0' || n < 1 || n > ADMIN_AUDIT_MAX_LIMIT)) {
        admin__reply_error(c, 400, "InvalidArgument",
                           "parameter 'limit' must be an integer from 1 to %d",
                           ADMIN_AUDIT_MAX_LIMIT);
        return -EINVAL;
    }
    *limit = (size_t)n;
    *tenant = admin__query(c, "tenant");
    if (*tenant != NULL && **tenant == '\0')
        *tenant = NULL;
    return 0;
}

void admin__audit_list(struct admin_call *c)
{
    const char *tenant;
    int64_t from, to;
    size_t limit;
    admin__set_resource(c, "audit");
    if (audit_params(c, &tenant, &from, &to, &limit) < 0)
        return;
    if (c->svc->audit_dir == NULL) {
        admin__reply_error(c, 503, "ServiceUnavailable",
                           "the audit log is not enabled on this server");
        return;
    }
    if (c->svc->audit != NULL)
        audit_flush(c->svc->audit);
    FILE *f = tmpfile();
    if (f == NULL) {
        admin__reply_errno(c, -errno, NULL, "audit log");
        return;
    }
    struct ring r = {gz_calloc(limit, sizeof(char *)), limit, 0};
    int rc = audit_export(c->svc->audit_dir, tenant, from, to, "jsonl", f);
    if (rc == -ENOENT)
        rc = 0; /* nothing logged yet */
    if (rc == 0 && (fflush(f) != 0 || fseek(f, 0, SEEK_SET) != 0))
        rc = -errno;
    if (rc < 0) {
        admin__reply_errno(c, rc, NULL, "audit log");
        goto out;
    }
    ring_fill(&r, f);
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddItemToObject(doc, "entries", ring_json(&r));
    cJSON_AddBoolToObject(doc, "truncated", r.total > r.cap);
    admin__reply_json(c, 200, doc);
out:
    for (size_t i = 0; i < r.cap; i++)
        gz_free(r.lines[i]);
    gz_free(r.lines);
    fclose(f);
}
