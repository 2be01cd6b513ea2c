/*
 * scrub.c - GET /admin/v1/scrub (platform admins and supervisors): the store's bit-rot state:
 * the background scrub's progress and last full pass, reads that failed verification, and
 * the objects marked corrupt (bucket, key, what failed); POST /admin/v1/scrub (platform
 * admins) starts a full pass now. See store.h ("integrity") and docs/fsck.md.
 */
#include <errno.h>

#include "admin_int.h"

#define SCRUB_LIST_MAX 1000

static void scrub_time(cJSON *o, const char *name, int64_t ms)
{
    if (ms > 0)
        admin__json_time(o, name, ms);
    else
        cJSON_AddNullToObject(o, name);
}

static char *scrub_cstr(struct gz_slice s)
{
    char *p = gz_malloc(s.len + 1);
    memcpy(p, s.ptr, s.len);
    p[s.len] = '\0';
    return p;
}

static void scrub_corrupt_add(const struct store_corrupt *e, void *ud)
{
    cJSON *o = cJSON_CreateObject();
    char *bucket = scrub_cstr(e->bucket), *key = scrub_cstr(e->key);
    admin__json_str(o, "bucket", bucket);
    admin__json_str(o, "key", key);
    admin__json_str(o, "what", e->what);
    admin__json_str(o, "etag", e->etag);
    scrub_time(o, "last_modified", e->mtime_ms);
    cJSON_AddItemToArray(ud, o);
    gz_free(bucket);
    gz_free(key);
}

void admin__scrub_get(struct admin_call *c)
{
    struct store_scrub_status st;
    int64_t unprotected = 0;
    bool truncated = false;
    admin__set_resource(c, "scrub");
    int rc = store_scrub_status(c->svc->store, &st);
    if (rc == 0)
        rc = store_unprotected_count(c->svc->store, &unprotected);
    cJSON *doc = cJSON_CreateObject();
    cJSON *list = cJSON_CreateArray();
    if (rc == 0)
        rc = store_corrupt_list(c->svc->store, SCRUB_LIST_MAX, scrub_corrupt_add, list, &truncated);
    if (rc < 0) {
        cJSON_Delete(doc);
        cJSON_Delete(list);
        admin__reply_errno(c, rc, NULL, "scrub status");
        return;
    }
    cJSON_AddBoolToObject(doc, "enabled", st.enabled);
    cJSON_AddBoolToObject(doc, "running", st.active);
    admin__json_int(doc, "rate", st.rate);
    admin__json_int(doc, "interval_ms", st.interval_ms);
    admin__json_int(doc, "passes", st.passes);
    scrub_time(doc, "pass_started", st.pass_started_ms);
    scrub_time(doc, "last_full_pass", st.last_pass_ms);
    cJSON *pr = cJSON_AddObjectToObject(doc, "progress");
    admin__json_int(pr, "objects", st.objects);
    admin__json_int(pr, "bytes", st.bytes);
    admin__json_int(pr, "unprotected", st.unprotected);
    cJSON *last = cJSON_AddObjectToObject(doc, "last_pass");
    admin__json_int(last, "objects", st.last_objects);
    admin__json_int(last, "bytes", st.last_bytes);
    admin__json_int(last, "unprotected", st.last_unprotected);
    admin__json_int(doc, "found", st.found);
    admin__json_int(doc, "read_failures", st.read_failures);
    admin__json_int(doc, "unprotected", unprotected);
    admin__json_int(doc, "corrupt_count", st.corrupt);
    cJSON_AddItemToObject(doc, "corrupt", list);
    cJSON_AddBoolToObject(doc, "truncated", truncated);
    admin__reply_json(c, 200, doc);
}

void admin__scrub_start(struct admin_call *c)
{
    admin__set_resource(c, "scrub");
    int rc = store_scrub_kick(c->svc->store);
    if (rc == -ENOTSUP) {
        admin__reply_error(c, 409, "ScrubDisabled",
                           "no background scrub runs (--scrub-rate or --scrub-interval is 0)");
        return;
    }
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddBoolToObject(doc, "started", true);
    admin__reply_json(c, 202, doc);
}
