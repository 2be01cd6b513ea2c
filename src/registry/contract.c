/*
 * contract.c - a contract's fields: reading them from a JSON body with a clear message per
 * field, the consistency checks, and the JSON form with the computed deadline and violation.
 * Storage is in db.c.
 */
#include <errno.h>
#include <stdio.h>

#include "registry.h"

const char *const registry_providers[] = {
    "aliyun",       "huawei",        "tencent", "aws", "china-mobile",
    "china-unicom", "china-telecom", "other",   NULL,
};

/* Fields a client may send back as it received them: ignored. */
static const char *const output_fields[] = {
    "id",    "tenant",  "tenant_id", "deadline", "violation", "violation_reason",
    "state", "created", "updated",   NULL};
static const char *const input_fields[] = {"provider", "services", "buckets", "signed",
                                           "start",    "expiry",   "renewed", "renewed_date",
                                           "notes",    "jobs",     "closed",  NULL};

void registry_contract_init(struct registry_contract *c)
{
    memset(c, 0, sizeof(*c));
    c->signed_day = c->start_day = c->expiry_day = REGISTRY_NO_DATE;
    c->renewed_day = c->closed_day = REGISTRY_NO_DATE;
    snprintf(c->services, sizeof(c->services), "[]");
    snprintf(c->buckets, sizeof(c->buckets), "[]");
    snprintf(c->jobs, sizeof(c->jobs), "[]");
}

static bool in_list(const char *const *list, const char *s)
{
    for (int i = 0; list[i]; i++)
        if (strcmp(list[i], s) == 0)
            return true;
    return false;
}

static int check_fields(const cJSON *in, char *msg, size_t msgsz)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, in)
    {
        if (!in_list(input_fields, it->string) && !in_list(output_fields, it->string)) {
            snprintf(msg, msgsz,
                     "unknown field '%.64s' (fields: provider, services, buckets, "
                     "signed, start, expiry, renewed, renewed_date, notes, jobs, closed)",
                     it->string);
            return -EINVAL;
        }
    }
    return 0;
}

static int apply_date(const cJSON *in, const char *field, bool nullable, int32_t *out, char *msg,
                      size_t msgsz)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(in, field);
    if (it == NULL)
        return 0;
    if (cJSON_IsNull(it) && nullable) {
        *out = REGISTRY_NO_DATE;
        return 0;
    }
    if (!cJSON_IsString(it) || registry_date_parse(it->valuestring, out) < 0) {
        snprintf(msg, msgsz, "field '%s' must be a date YYYY-MM-DD%s", field,
                 nullable ? " (or null)" : "");
        return -EINVAL;
    }
    return 0;
}

/* An array of distinct non-empty strings, stored as compact JSON text. */
static int apply_list(const cJSON *in, const char *field, char *out, size_t outsz, char *msg,
                      size_t msgsz)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(in, field), *it;
    if (arr == NULL)
        return 0;
    if (cJSON_IsNull(arr)) {
        snprintf(out, outsz, "[]");
        return 0;
    }
    int n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : -1;
    if (n < 0 || n > REGISTRY_MAX_LIST_ITEMS) {
        snprintf(msg, msgsz, "field '%s' must be an array of at most %d strings", field,
                 REGISTRY_MAX_LIST_ITEMS);
        return -EINVAL;
    }
    cJSON_ArrayForEach(it, arr)
    {
        if (!cJSON_IsString(it) || it->valuestring[0] == '\0' ||
            strlen(it->valuestring) > REGISTRY_MAX_ITEM ||
            !gz_utf8_valid(gz_slice_cstr(it->valuestring))) {
            snprintf(msg, msgsz,
                     "field '%s': every item must be a non-empty string of at "
                     "most %d bytes",
                     field, REGISTRY_MAX_ITEM);
            return -EINVAL;
        }
    }
    char *text = cJSON_PrintUnformatted(arr);
    int rc = 0;
    if (text == NULL || strlen(text) >= outsz) {
        snprintf(msg, msgsz, "field '%s' is too long", field);
        rc = -EINVAL;
    } else {
        snprintf(out, outsz, "%s", text);
    }
    cJSON_free(text);
    return rc;
}

static int apply_scalars(const cJSON *in, struct registry_contract *c, char *msg, size_t msgsz)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(in, "provider");
    if (it != NULL) {
        if (!cJSON_IsString(it) || !in_list(registry_providers, it->valuestring)) {
            snprintf(msg, msgsz,
                     "field 'provider' must be one of aliyun, huawei, tencent, aws, "
                     "china-mobile, china-unicom, china-telecom, other");
            return -EINVAL;
        }
        snprintf(c->provider, sizeof(c->provider), "%s", it->valuestring);
    }
    it = cJSON_GetObjectItemCaseSensitive(in, "renewed");
    if (it != NULL) {
        if (!cJSON_IsBool(it)) {
            snprintf(msg, msgsz, "field 'renewed' must be true or false");
            return -EINVAL;
        }
        c->renewed = cJSON_IsTrue(it);
    }
    it = cJSON_GetObjectItemCaseSensitive(in, "notes");
    if (it != NULL && cJSON_IsNull(it)) {
        c->notes[0] = '\0';
    } else if (it != NULL) {
        if (!cJSON_IsString(it) || strlen(it->valuestring) > REGISTRY_MAX_NOTES ||
            !gz_utf8_valid(gz_slice_cstr(it->valuestring))) {
            snprintf(msg, msgsz, "field 'notes' must be a string of at most %d bytes",
                     REGISTRY_MAX_NOTES);
            return -EINVAL;
        }
        snprintf(c->notes, sizeof(c->notes), "%s", it->valuestring);
    }
    return 0;
}

/* The contract as a whole must make sense. */
static int check_contract(struct registry_contract *c, char *msg, size_t msgsz)
{
    if (c->provider[0] == '\0')
        snprintf(msg, msgsz, "field 'provider' is required");
    else if (c->signed_day == REGISTRY_NO_DATE)
        snprintf(msg, msgsz, "field 'signed' (the date the contract was signed) is required");
    else if (c->expiry_day == REGISTRY_NO_DATE)
        snprintf(msg, msgsz, "field 'expiry' (the date the contract ends) is required");
    else if (c->start_day != REGISTRY_NO_DATE && c->start_day > c->expiry_day)
        snprintf(msg, msgsz, "field 'start' is after field 'expiry'");
    else if (c->signed_day > c->expiry_day)
        snprintf(msg, msgsz, "field 'signed' is after field 'expiry'");
    else if (c->renewed && c->renewed_day == REGISTRY_NO_DATE)
        snprintf(msg, msgsz, "field 'renewed_date' is required when 'renewed' is true");
    else if (!c->renewed && c->renewed_day != REGISTRY_NO_DATE)
        snprintf(msg, msgsz, "field 'renewed_date' is given but 'renewed' is false");
    else if (c->renewed && c->renewed_day < c->signed_day)
        snprintf(msg, msgsz, "field 'renewed_date' is before field 'signed'");
    else if (c->closed_day != REGISTRY_NO_DATE && c->closed_day < c->signed_day)
        snprintf(msg, msgsz, "field 'closed' is before field 'signed'");
    else
        return 0;
    return -EINVAL;
}

int registry_contract_apply_json(const cJSON *in, struct registry_contract *c, char *msg,
                                 size_t msgsz)
{
    struct registry_contract *n = gz_malloc(sizeof(*n));
    int rc;
    *n = *c;
    if (!cJSON_IsObject(in)) {
        snprintf(msg, msgsz, "the body must be a JSON object");
        rc = -EINVAL;
        goto out;
    }
    /* renewed_date alone implies the renewal */
    const cJSON *rd = cJSON_GetObjectItemCaseSensitive(in, "renewed_date");
    if (cJSON_IsString(rd) && cJSON_GetObjectItemCaseSensitive(in, "renewed") == NULL)
        n->renewed = true;
    if ((rc = check_fields(in, msg, msgsz)) < 0 || (rc = apply_scalars(in, n, msg, msgsz)) < 0 ||
        (rc = apply_date(in, "signed", false, &n->signed_day, msg, msgsz)) < 0 ||
        (rc = apply_date(in, "start", true, &n->start_day, msg, msgsz)) < 0 ||
        (rc = apply_date(in, "expiry", false, &n->expiry_day, msg, msgsz)) < 0 ||
        (rc = apply_date(in, "renewed_date", true, &n->renewed_day, msg, msgsz)) < 0 ||
        (rc = apply_date(in, "closed", true, &n->closed_day, msg, msgsz)) < 0 ||
        (rc = apply_list(in, "services", n->services, sizeof(n->services), msg, msgsz)) < 0 ||
        (rc = apply_list(in, "buckets", n->buckets, sizeof(n->buckets), msg, msgsz)) < 0 ||
        (rc = apply_list(in, "jobs", n->jobs, sizeof(n->jobs), msg, msgsz)) < 0 ||
        (rc = check_contract(n, msg, msgsz)) < 0)
        goto out;
    *c = *n;
out:
    gz_free(n);
    return rc;
}

static void add_date(cJSON *o, const char *name, int32_t day)
{
    char d[11];
    if (day == REGISTRY_NO_DATE) {
        cJSON_AddNullToObject(o, name);
        return;
    }
    registry_date_format(day, d);
    cJSON_AddStringToObject(o, name, d);
}

static void add_list(cJSON *o, const char *name, const char *text)
{
    cJSON *arr = cJSON_Parse(text);
    if (!cJSON_IsArray(arr)) {
        cJSON_Delete(arr);
        arr = cJSON_CreateArray();
    }
    cJSON_AddItemToObject(o, name, arr);
}

static void add_time(cJSON *o, const char *name, int64_t ms)
{
    char iso[25];
    gz_time_iso8601(ms, iso);
    cJSON_AddStringToObject(o, name, iso);
}

cJSON *registry_contract_json(const struct registry_contract *c, const struct registry_policy *p,
                              const char *tenant_name)
{
    cJSON *o = cJSON_CreateObject();
    char why[160], d[11], n[11];
    cJSON_AddStringToObject(o, "id", c->id);
    cJSON_AddStringToObject(o, "tenant_id", c->tenant_id);
    cJSON_AddStringToObject(o, "tenant", tenant_name ? tenant_name : "");
    cJSON_AddStringToObject(o, "provider", c->provider);
    add_list(o, "services", c->services);
    add_list(o, "buckets", c->buckets);
    add_date(o, "signed", c->signed_day);
    add_date(o, "start", c->start_day);
    add_date(o, "expiry", c->expiry_day);
    cJSON_AddBoolToObject(o, "renewed", c->renewed);
    add_date(o, "renewed_date", c->renewed_day);
    cJSON_AddStringToObject(o, "notes", c->notes);
    add_date(o, "closed", c->closed_day);
    cJSON_AddStringToObject(o, "state", c->closed_day == REGISTRY_NO_DATE ? "open" : "closed");
    add_list(o, "jobs", c->jobs);
    add_date(o, "deadline", registry_deadline(p, c->expiry_day));
    bool v = registry_violates(p, c->signed_day, c->renewed_day);
    cJSON_AddBoolToObject(o, "violation", v);
    if (v) {
        registry_date_format(p->notice, n);
        bool by_sign = c->signed_day > p->notice;
        registry_date_format(by_sign ? c->signed_day : c->renewed_day, d);
        snprintf(why, sizeof(why), "%s %s, after the notice date %s",
                 by_sign ? "signed" : "renewed", d, n);
        cJSON_AddStringToObject(o, "violation_reason", why);
    } else {
        cJSON_AddNullToObject(o, "violation_reason");
    }
    add_time(o, "created", c->created_ms);
    add_time(o, "updated", c->updated_ms);
    return o;
}
