/*
 * policy.c - the deadline policy: presets, the deadline and violation rules, and the JSON
 * form. Storage is in db.c.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>

#include "registry.h"

#define MAX_GRACE_MONTHS 120
#define MAX_AT_RISK_DAYS 3650

int registry_policy_preset(const char *name, struct registry_policy *out)
{
    if (strcmp(name, REGISTRY_PRESET_TIANJIN) != 0)
        return -ENOENT;
    memset(out, 0, sizeof(*out));
    snprintf(out->name, sizeof(out->name), "%s", REGISTRY_PRESET_TIANJIN);
    out->notice = registry_date_from_ymd(2021, 8, 12);
    out->grace_months = 2;
    out->final_deadline = registry_date_from_ymd(2022, 9, 30);
    snprintf(out->time_zone, sizeof(out->time_zone), "Asia/Shanghai");
    out->tz_offset_min = 480;
    out->at_risk_days = 30;
    return 0;
}

int32_t registry_deadline(const struct registry_policy *p, int32_t expiry)
{
    int32_t d = registry_date_add_months(expiry, p->grace_months);
    if (p->final_deadline != REGISTRY_NO_DATE && p->final_deadline < d)
        d = p->final_deadline;
    return d;
}

bool registry_violates(const struct registry_policy *p, int32_t signed_day, int32_t renewed_day)
{
    if (p->notice == REGISTRY_NO_DATE)
        return false;
    return signed_day > p->notice || (renewed_day != REGISTRY_NO_DATE && renewed_day > p->notice);
}

/* ---- JSON ---- */

static int field_date(const cJSON *in, const char *field, bool nullable, int32_t *out, char *msg,
                      size_t msgsz)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(in, field);
    if (it == NULL)
        return 1;
    if (cJSON_IsNull(it) && nullable) {
        *out = REGISTRY_NO_DATE;
        return 0;
    }
    if (!cJSON_IsString(it) || registry_date_parse(it->valuestring, out) < 0) {
        snprintf(msg, msgsz, "field '%s' must be a date YYYY-MM-DD%s", field,
                 nullable ? " or null" : "");
        return -EINVAL;
    }
    return 0;
}

static int field_int(const cJSON *in, const char *field, int min, int max, int *out, char *msg,
                     size_t msgsz)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(in, field);
    if (it == NULL)
        return 1;
    double d = cJSON_IsNumber(it) ? it->valuedouble : NAN;
    if (!(d >= min && d <= max) || d != floor(d)) {
        snprintf(msg, msgsz, "field '%s' must be an integer from %d to %d", field, min, max);
        return -EINVAL;
    }
    *out = (int)d;
    return 0;
}

static int field_text(const cJSON *in, const char *field, char *out, size_t outsz, char *msg,
                      size_t msgsz)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(in, field);
    if (it == NULL)
        return 1;
    if (!cJSON_IsString(it) || it->valuestring[0] == '\0' || strlen(it->valuestring) >= outsz) {
        snprintf(msg, msgsz, "field '%s' must be a non-empty string of at most %zu characters",
                 field, outsz - 1);
        return -EINVAL;
    }
    snprintf(out, outsz, "%s", it->valuestring);
    return 0;
}

static const char *const policy_fields[] = {
    "preset",    "name",         "notice_date", "grace_months", "final_deadline",
    "time_zone", "at_risk_days", "version",     "updated",      "updated_by",
    NULL};

static int policy_unknown_field(const cJSON *in, char *msg, size_t msgsz)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, in)
    {
        bool known = false;
        for (int i = 0; policy_fields[i] && !known; i++)
            known = strcmp(it->string, policy_fields[i]) == 0;
        if (!known) {
            snprintf(msg, msgsz,
                     "unknown field '%.64s' (fields: preset, name, notice_date, "
                     "grace_months, final_deadline, time_zone, at_risk_days)",
                     it->string);
            return -EINVAL;
        }
    }
    return 0;
}

int registry_policy_apply_json(const cJSON *in, struct registry_policy *p, char *msg, size_t msgsz)
{
    struct registry_policy n = *p;
    bool named = false;
    int rc;
    if (!cJSON_IsObject(in)) {
        snprintf(msg, msgsz, "the body must be a JSON object");
        return -EINVAL;
    }
    if ((rc = policy_unknown_field(in, msg, msgsz)) < 0)
        return rc;
    const cJSON *preset = cJSON_GetObjectItemCaseSensitive(in, "preset");
    if (preset != NULL) {
        if (!cJSON_IsString(preset) || registry_policy_preset(preset->valuestring, &n) < 0) {
            snprintf(msg, msgsz, "field 'preset': unknown preset (known: %s)",
                     REGISTRY_PRESET_TIANJIN);
            return -EINVAL;
        }
        named = true;
    }
    if ((rc = field_text(in, "name", n.name, sizeof(n.name), msg, msgsz)) < 0)
        return rc;
    named = named || rc == 0;
    if ((rc = field_date(in, "notice_date", false, &n.notice, msg, msgsz)) < 0 ||
        (rc = field_date(in, "final_deadline", true, &n.final_deadline, msg, msgsz)) < 0 ||
        (rc = field_int(in, "grace_months", 0, MAX_GRACE_MONTHS, &n.grace_months, msg, msgsz)) <
            0 ||
        (rc = field_int(in, "at_risk_days", 0, MAX_AT_RISK_DAYS, &n.at_risk_days, msg, msgsz)) <
            0 ||
        (rc = field_text(in, "time_zone", n.time_zone, sizeof(n.time_zone), msg, msgsz)) < 0)
        return rc;
    if (registry_tz_offset(n.time_zone, &n.tz_offset_min) < 0) {
        snprintf(msg, msgsz,
                 "field 'time_zone': '%.63s' is not supported: use Asia/Shanghai, "
                 "UTC or a fixed offset such as +08:00",
                 n.time_zone);
        return -EINVAL;
    }
    /* Changing the rules of a preset without renaming it would make its name lie. */
    bool same = n.notice == p->notice && n.grace_months == p->grace_months &&
                n.final_deadline == p->final_deadline && n.at_risk_days == p->at_risk_days &&
                strcmp(n.time_zone, p->time_zone) == 0;
    if (!named && !same)
        snprintf(n.name, sizeof(n.name), "custom");
    *p = n;
    return 0;
}

cJSON *registry_policy_json(const struct registry_policy *p)
{
    char d[11], num[24];
    cJSON *o = cJSON_CreateObject();
    snprintf(num, sizeof(num), "%lld", (long long)p->version);
    cJSON_AddRawToObject(o, "version", num);
    cJSON_AddStringToObject(o, "name", p->name);
    registry_date_format(p->notice, d);
    cJSON_AddStringToObject(o, "notice_date", d);
    cJSON_AddNumberToObject(o, "grace_months", p->grace_months);
    registry_date_format(p->final_deadline, d);
    if (p->final_deadline == REGISTRY_NO_DATE)
        cJSON_AddNullToObject(o, "final_deadline");
    else
        cJSON_AddStringToObject(o, "final_deadline", d);
    cJSON_AddStringToObject(o, "time_zone", p->time_zone);
    cJSON_AddNumberToObject(o, "at_risk_days", p->at_risk_days);
    if (p->updated_ms > 0) {
        char iso[25];
        gz_time_iso8601(p->updated_ms, iso);
        cJSON_AddStringToObject(o, "updated", iso);
    } else {
        cJSON_AddNullToObject(o, "updated");
    }
    cJSON_AddStringToObject(o, "updated_by", p->updated_by);
    return o;
}
