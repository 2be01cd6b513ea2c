/*
 * json.c - the JSON side of the admin API: reply documents, the error document, helpers that
 * build resource objects, strict readers for request fields (every validation error names
 * its field), the query string and time parsing.
 *
 * Integers go out as raw JSON numbers printed with %lld, not through cJSON's doubles, so
 * byte counts stay exact above 2^53.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "admin_int.h"

#define MAX_SAFE_INT 9007199254740992.0 /* 2^53: doubles are exact below */

/* ---- the growable array ---- */

void admin__vec_init(struct admin_vec *v, size_t item_size)
{
    memset(v, 0, sizeof(*v));
    v->size = item_size;
}

void *admin__vec_push(struct admin_vec *v)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 16;
        v->items = gz_realloc(v->items, v->cap * v->size);
    }
    void *p = v->items + v->n * v->size;
    memset(p, 0, v->size);
    v->n++;
    return p;
}

void admin__vec_free(struct admin_vec *v)
{
    gz_free(v->items);
    memset(v, 0, sizeof(*v));
}

/* ---- replies ---- */

static void reply_set(struct admin_call *c, int status, const char *code)
{
    if (c->done) {
        log_error("admin: %s answered twice (status %d then %d)",
                  c->route ? c->route->operation : "call", c->status, status);
        return;
    }
    c->done = true;
    c->status = status;
    c->error_code = code;
    gz_buf_reset(&c->out);
}

void admin__reply_json(struct admin_call *c, int status, cJSON *doc)
{
    if (c->done) {
        cJSON_Delete(doc);
        reply_set(c, status, NULL); /* logs the double answer */
        return;
    }
    char *text = doc ? cJSON_PrintUnformatted(doc) : NULL;
    cJSON_Delete(doc);
    if (doc != NULL && text == NULL) {
        admin__reply_error(c, 500, "InternalError", "out of memory formatting the answer");
        return;
    }
    reply_set(c, status, NULL);
    if (text != NULL) {
        int rc = gz_buf_append_cstr(&c->out, text);
        explicit_bzero(text, strlen(text)); /* may hold a new key's secret */
        cJSON_free(text);
        if (rc < 0) {
            c->done = false;
            admin__reply_error(c, 500, "InternalError", "the answer is too large");
        }
    }
}

void admin__error_doc(struct gz_buf *body, const char *code, const char *message,
                      const char *request_id)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON *err = cJSON_AddObjectToObject(doc, "error");
    cJSON_AddStringToObject(err, "code", code);
    cJSON_AddStringToObject(err, "message", message);
    cJSON_AddStringToObject(err, "request_id", request_id);
    char *text = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    if (text != NULL) {
        gz_buf_append_cstr(body, text);
        cJSON_free(text);
    }
}

static void reply_verror(struct admin_call *c, int status, const char *code, const char *fmt,
                         va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (c->done) {
        reply_set(c, status, code); /* logs the double answer */
        return;
    }
    reply_set(c, status, code);
    admin__error_doc(&c->out, code, msg, c->info->request_id);
}

void admin__reply_error(struct admin_call *c, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    reply_verror(c, status, code, fmt, ap);
    va_end(ap);
}

void admin__deny(struct admin_call *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    reply_verror(c, 403, "AccessDenied", fmt, ap);
    va_end(ap);
}

void admin__reply_errno(struct admin_call *c, int rc, const char *msg, const char *what)
{
    bool has = msg != NULL && msg[0] != '\0';
    switch (rc) {
    case -ENOENT:
    case GZ_ENOBUCKET:
        admin__reply_error(c, 404, "NotFound", "%s%s", has ? msg : what,
                           has ? "" : " does not exist");
        return;
    case -EEXIST:
    case GZ_EBUCKETEXISTS:
        admin__reply_error(c, 409, "AlreadyExists", "%s%s", has ? msg : what,
                           has ? "" : " already exists");
        return;
    case -EINVAL:
        admin__reply_error(c, 400, "InvalidArgument", "%s", has ? msg : "invalid argument");
        return;
    case -EACCES:
    case -EPERM:
        admin__deny(c, "%s", has ? msg : "access denied");
        return;
    case GZ_EQUOTA:
        admin__reply_error(c, 403, "QuotaExceeded", "%s", has ? msg : "quota exceeded");
        return;
    default:
        log_warn("admin: %s failed on %s: %s", c->route ? c->route->operation : "call", what,
                 gz_strerror(rc));
        admin__reply_error(c, 500, "InternalError", "internal error (%s)", gz_strerror(rc));
        return;
    }
}

/* ---- building ---- */

void admin__json_int(cJSON *obj, const char *name, int64_t v)
{
    char num[24];
    snprintf(num, sizeof(num), "%" PRId64, v);
    cJSON_AddRawToObject(obj, name, num);
}

void admin__json_str(cJSON *obj, const char *name, const char *s)
{
    cJSON_AddStringToObject(obj, name, s ? s : "");
}

void admin__json_time(cJSON *obj, const char *name, int64_t ms)
{
    char iso[25];
    gz_time_iso8601(ms, iso);
    cJSON_AddStringToObject(obj, name, iso);
}

void admin__json_quota(cJSON *obj, const char *name, int64_t max_bytes, int64_t max_objects)
{
    cJSON *q = cJSON_AddObjectToObject(obj, name);
    admin__json_int(q, "max_bytes", max_bytes);
    admin__json_int(q, "max_objects", max_objects);
}

cJSON *admin__tenant_json(const struct iam_tenant *t)
{
    cJSON *o = cJSON_CreateObject();
    admin__json_str(o, "id", t->id);
    admin__json_str(o, "name", t->name);
    admin__json_str(o, "uscc", t->uscc);
    admin__json_str(o, "contact", t->contact);
    admin__json_str(o, "status", t->suspended ? "suspended" : "active");
    admin__json_time(o, "created", t->created_ms);
    admin__json_quota(o, "quota", t->quota.max_bytes, t->quota.max_objects);
    return o;
}

cJSON *admin__user_json(const struct iam_user *u)
{
    cJSON *o = cJSON_CreateObject();
    admin__json_str(o, "id", u->id);
    admin__json_str(o, "name", u->name);
    admin__json_str(o, "tenant", u->tenant_name);
    admin__json_str(o, "role", iam_role_name(u->role));
    admin__json_time(o, "created", u->created_ms);
    return o;
}

cJSON *admin__key_json(const struct iam_key *k)
{
    cJSON *o = cJSON_CreateObject();
    admin__json_str(o, "access_key", k->access_key);
    admin__json_str(o, "user", k->user_name);
    admin__json_str(o, "tenant", k->tenant_name);
    cJSON_AddBoolToObject(o, "enabled", k->enabled);
    admin__json_time(o, "created", k->created_ms);
    return o;
}

/* ---- reading the body ---- */

int admin__body_str(struct admin_call *c, const char *field, bool required, size_t maxlen,
                    const char **out)
{
    cJSON *it = c->in ? cJSON_GetObjectItemCaseSensitive(c->in, field) : NULL;
    *out = NULL;
    if (it == NULL || cJSON_IsNull(it)) {
        if (!required)
            return 1;
        admin__reply_error(c, 400, "InvalidArgument", "field '%s' is required", field);
        return -EINVAL;
    }
    if (!cJSON_IsString(it)) {
        admin__reply_error(c, 400, "InvalidArgument", "field '%s' must be a string", field);
        return -EINVAL;
    }
    if (strlen(it->valuestring) > maxlen) {
        admin__reply_error(c, 400, "InvalidArgument",
                           "field '%s' is longer than %zu characters", field, maxlen);
        return -EINVAL;
    }
    if (required && it->valuestring[0] == '\0') {
        admin__reply_error(c, 400, "InvalidArgument", "field '%s' must not be empty", field);
        return -EINVAL;
    }
    *out = it->valuestring;
    return 0;
}

int admin__body_limit(struct admin_call *c, cJSON *obj, const char *path, const char *field,
                      int64_t *out)
{
    cJSON *it = obj ? cJSON_GetObjectItemCaseSensitive(obj, field) : NULL;
    if (it == NULL)
        return 1;
    double d = cJSON_IsNumber(it) ? it->valuedouble : -2;
    if (d < -1 || d > MAX_SAFE_INT || d != (double)(int64_t)d) {
        admin__reply_error(c, 400, "InvalidArgument",
                           "field '%s%s' must be an integer >= 0, or -1 for unlimited", path,
                           field);
        return -EINVAL;
    }
    *out = (int64_t)d;
    return 0;
}

int admin__body_quota(struct admin_call *c, cJSON *obj, const char *path, struct iam_quota *q)
{
    if (obj == NULL)
        return 1;
    if (!cJSON_IsObject(obj)) {
        admin__reply_error(c, 400, "InvalidArgument",
                           "field '%.*s' must be an object {\"max_bytes\", \"max_objects\"}",
                           (int)(strlen(path) > 0 ? strlen(path) - 1 : 0), path);
        return -EINVAL;
    }
    int a = admin__body_limit(c, obj, path, "max_bytes", &q->max_bytes);
    if (a < 0)
        return a;
    int b = admin__body_limit(c, obj, path, "max_objects", &q->max_objects);
    if (b < 0)
        return b;
    return (a == 0 || b == 0) ? 0 : 1;
}

/* ---- the request ---- */

char *admin__url_decode(struct http_req *req, struct gz_slice s, bool plus_is_space)
{
    char *out = http_req_alloc(req, s.len + 1);
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++) {
        char ch = s.ptr[i];
        if (ch == '%') {
            if (s.len - i < 3)
                return NULL;
            int hi = gz_hex_digit(s.ptr[i + 1]), lo = gz_hex_digit(s.ptr[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return NULL;
            out[n++] = (char)(hi * 16 + lo);
            i += 2;
        } else if (ch == '+' && plus_is_space) {
            out[n++] = ' ';
        } else if (ch == '\0') {
            return NULL;
        } else {
            out[n++] = ch;
        }
    }
    out[n] = '\0';
    return out;
}

const char *admin__query(struct admin_call *c, const char *name)
{
    struct gz_slice q = c->info->query;
    size_t nlen = strlen(name);
    while (q.len > 0) {
        const char *amp = memchr(q.ptr, '&', q.len);
        size_t len = amp ? (size_t)(amp - q.ptr) : q.len;
        const char *eq = memchr(q.ptr, '=', len);
        size_t klen = eq ? (size_t)(eq - q.ptr) : len;
        char *key = admin__url_decode(c->req, gz_slice(q.ptr, klen), true);
        if (key != NULL && strlen(key) == nlen && memcmp(key, name, nlen) == 0) {
            if (eq == NULL)
                return "";
            return admin__url_decode(c->req, gz_slice(eq + 1, len - klen - 1), true);
        }
        q.ptr += len + (amp ? 1 : 0);
        q.len -= len + (amp ? 1 : 0);
    }
    return NULL;
}

static bool all_digits(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

int admin__parse_time(const char *s, int64_t *ms)
{
    struct tm tm = {0};
    int y, mo, d, h = 0, mi = 0, sec = 0, n = 0, frac = 0;
    if (all_digits(s) && strlen(s) <= 15) {
        *ms = strtoll(s, NULL, 10);
        return 0;
    }
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
        return -EINVAL;
    const char *p = s + n;
    if (*p == 'T' || *p == ' ') {
        int m = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &h, &mi, &m) != 2 || m != 5)
            return -EINVAL;
        p += 1 + m;
        if (*p == ':') {
            if (sscanf(p + 1, "%2d%n", &sec, &m) != 1 || m != 2)
                return -EINVAL;
            p += 1 + m;
        }
        if (*p == '.') {
            int digits = 0;
            for (p++; *p >= '0' && *p <= '9'; p++, digits++)
                if (digits < 3)
                    frac = frac * 10 + (*p - '0');
            for (; digits > 0 && digits < 3; digits++)
                frac *= 10;
        }
    }
    if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0 && *p != '\0')
        return -EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1970)
        return -EINVAL;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *ms = (int64_t)timegm(&tm) * 1000 + frac;
    return 0;
}
