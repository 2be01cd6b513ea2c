/*
 * admin_out.c - the client side of the admin API for `gzy admin`: requests signed by
 * libcurl's built-in SigV4 (CURLOPT_AWS_SIGV4, service s3), and plain-text output.
 *
 * libcurl 7.88 signs the request but neither adds x-amz-content-sha256 (the server requires
 * it) nor sorts the query string, so we send the body hash ourselves and build queries
 * already sorted and fully encoded (then the canonical query is the query as sent).
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <strings.h>

#include "../util/hash.h"
#include "admin_cli.h"

/* ---- the client ---- */

int gz_admin_client_init(struct gz_admin_client *cl, const char *endpoint, const char *region)
{
    size_t n = strlen(endpoint);
    while (n > 0 && endpoint[n - 1] == '/')
        n--;
    if (n == 0 || n >= sizeof(cl->endpoint))
        return -EINVAL;
    memcpy(cl->endpoint, endpoint, n);
    cl->endpoint[n] = '\0';
    snprintf(cl->sigv4, sizeof(cl->sigv4), "aws:amz:%.64s:s3", region);
    cl->curl = curl_easy_init();
    return cl->curl ? 0 : -ENOMEM;
}

void gz_admin_client_free(struct gz_admin_client *cl)
{
    if (cl->curl)
        curl_easy_cleanup(cl->curl);
    cl->curl = NULL;
    explicit_bzero(cl->secret, sizeof(cl->secret));
}

void gz_admin_resp_free(struct gz_admin_resp *resp)
{
    cJSON_Delete(resp->doc);
    resp->doc = NULL;
    gz_buf_free(&resp->raw);
}

int gz_admin_url_encode(struct gz_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = 0;
    for (; *s && rc == 0; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            rc = gz_buf_append(b, s, 1);
        } else {
            char esc[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            rc = gz_buf_append(b, esc, 3);
        }
    }
    return rc;
}

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
    struct gz_buf *b = ud;
    return gz_buf_append(b, p, size * n) == 0 ? size * n : 0;
}

/* Prints the API error in resp (or the HTTP status) to stderr. */
static void print_api_error(const struct gz_admin_resp *resp)
{
    const cJSON *err = resp->doc ? cJSON_GetObjectItemCaseSensitive(resp->doc, "error") : NULL;
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(err, "code");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(err, "message");
    if (cJSON_IsString(code))
        fprintf(stderr, "gzy admin: %s: %s\n", code->valuestring,
                cJSON_IsString(msg) ? msg->valuestring : "");
    else
        fprintf(stderr, "gzy admin: HTTP %ld from the admin API\n", resp->status);
}

static struct curl_slist *call_headers(const char *body)
{
    uint8_t digest[32];
    char hex[65], line[96];
    gz_sha256(body, strlen(body), digest);
    gz_hex_encode(hex, digest, 32);
    snprintf(line, sizeof(line), "x-amz-content-sha256: %s", hex);
    struct curl_slist *h = curl_slist_append(NULL, line);
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Accept: application/json");
    return curl_slist_append(h, "Expect:");
}

static void call_setup(struct gz_admin_client *cl, const char *method, const char *url,
                       const char *body, struct curl_slist *headers, struct gz_buf *raw)
{
    CURL *c = cl->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (getenv("GZY_CA_BUNDLE") != NULL) /* a private CA for https endpoints */
        curl_easy_setopt(c, CURLOPT_CAINFO, getenv("GZY_CA_BUNDLE"));
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, cl->sigv4);
    curl_easy_setopt(c, CURLOPT_USERNAME, cl->access);
    curl_easy_setopt(c, CURLOPT_PASSWORD, cl->secret);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, raw);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "gzy-admin");
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else {
        /* POSTFIELDS for every body-carrying method: libcurl hashes it for the signature */
        if (strcmp(method, "DELETE") != 0) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        }
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
}

int gz_admin_client_call(struct gz_admin_client *cl, const char *method, const char *path,
                         const char *query, const cJSON *body, struct gz_admin_resp *resp)
{
    struct gz_buf url;
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    const char *payload = text ? text : "";
    struct curl_slist *headers = call_headers(payload);
    int rc = GZ_ADMIN_EXIT_API;
    memset(resp, 0, sizeof(*resp));
    gz_buf_init(&resp->raw, GZ_ADMIN_MAX_RESPONSE);
    gz_buf_init(&url, 64 * 1024);
    gz_buf_appendf(&url, "%s/admin/v1/%s%s%s", cl->endpoint, path, query && *query ? "?" : "",
                   query ? query : "");
    gz_buf_terminate(&url);
    call_setup(cl, method, url.ptr, payload, headers, &resp->raw);
    CURLcode cc = curl_easy_perform(cl->curl);
    if (cc != CURLE_OK) {
        fprintf(stderr, "gzy admin: cannot reach the admin API at %s: %s\n", cl->endpoint,
                curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(cl->curl, CURLINFO_RESPONSE_CODE, &resp->status);
    if (resp->raw.len > 0)
        resp->doc = cJSON_ParseWithLength(resp->raw.ptr, resp->raw.len);
    if (resp->status < 200 || resp->status > 299) {
        print_api_error(resp);
        goto out;
    }
    if (resp->raw.len > 0 && resp->doc == NULL) {
        fprintf(stderr, "gzy admin: the admin API answered something that is not JSON\n");
        goto out;
    }
    rc = GZ_ADMIN_EXIT_OK;
out:
    curl_slist_free_all(headers);
    cJSON_free(text);
    gz_buf_free(&url);
    return rc;
}

/* ---- cells, tables, fields ---- */

static const cJSON *lookup(const cJSON *obj, const char *path)
{
    char part[64];
    while (obj != NULL && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        snprintf(part, sizeof(part), "%.*s", (int)GZ_MIN(n, sizeof(part) - 1), path);
        obj = cJSON_GetObjectItemCaseSensitive(obj, part);
        path += n + (dot ? 1 : 0);
    }
    return obj;
}

const char *gz_admin_cell(const cJSON *obj, const char *path, bool limit, char *buf, size_t n)
{
    const cJSON *v = lookup(obj, path);
    if (cJSON_IsString(v))
        return v->valuestring[0] ? v->valuestring : "-";
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v) ? "yes" : "no";
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (limit && d < 0)
            return "unlimited";
        if (d == floor(d) && fabs(d) < 9.2e18)
            snprintf(buf, n, "%lld", (long long)d);
        else
            snprintf(buf, n, "%g", d);
        return buf;
    }
    return "-";
}

void gz_admin_table_init(struct gz_admin_table *t, size_t ncols, const char *const *headers)
{
    t->ncols = ncols;
    t->nrows = 0;
    t->cells = gz_calloc(ncols, sizeof(char *));
    for (size_t i = 0; i < ncols; i++)
        t->cells[i] = gz_strdup(headers[i]);
}

void gz_admin_table_add(struct gz_admin_table *t, const char *const *cells)
{
    t->nrows++;
    t->cells = gz_realloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(char *));
    for (size_t i = 0; i < t->ncols; i++)
        t->cells[t->nrows * t->ncols + i] = gz_strdup(cells[i] ? cells[i] : "-");
}

void gz_admin_table_print(const struct gz_admin_table *t, FILE *out)
{
    size_t width[32] = {0};
    size_t ncols = GZ_MIN(t->ncols, GZ_ARRAY_LEN(width));
    for (size_t r = 0; r <= t->nrows; r++)
        for (size_t i = 0; i < ncols; i++)
            width[i] = GZ_MAX(width[i], strlen(t->cells[r * t->ncols + i]));
    for (size_t r = 0; r <= t->nrows; r++) {
        for (size_t i = 0; i < ncols; i++) {
            const char *cell = t->cells[r * t->ncols + i];
            if (i + 1 < ncols)
                fprintf(out, "%-*s  ", (int)width[i], cell);
            else
                fprintf(out, "%s\n", cell);
        }
    }
}

void gz_admin_table_free(struct gz_admin_table *t)
{
    for (size_t i = 0; t->cells && i < (t->nrows + 1) * t->ncols; i++)
        gz_free(t->cells[i]);
    gz_free(t->cells);
    t->cells = NULL;
}

static void fields_collect(const cJSON *obj, const char *prefix, struct gz_admin_table *t)
{
    const cJSON *it;
    char name[128], buf[64];
    cJSON_ArrayForEach(it, obj)
    {
        snprintf(name, sizeof(name), "%s%s", prefix, it->string ? it->string : "");
        if (cJSON_IsArray(it))
            continue;
        if (cJSON_IsObject(it)) {
            char sub[130];
            snprintf(sub, sizeof(sub), "%s.", name);
            fields_collect(it, sub, t);
            continue;
        }
        bool limit = strstr(name, "max_") != NULL;
        char label[130];
        snprintf(label, sizeof(label), "%s:", name);
        const char *row[2] = {label, gz_admin_cell(obj, it->string, limit, buf, sizeof(buf))};
        gz_admin_table_add(t, row);
    }
}

void gz_admin_print_fields(const cJSON *obj, FILE *out)
{
    static const char *const hdr[2] = {"", ""};
    struct gz_admin_table t;
    gz_admin_table_init(&t, 2, hdr);
    fields_collect(obj, "", &t);
    /* print without the (empty) header row */
    struct gz_admin_table body = {t.ncols, t.nrows - (t.nrows > 0), t.cells + t.ncols};
    if (t.nrows > 0)
        gz_admin_table_print(&body, out);
    gz_admin_table_free(&t);
}

int gz_admin_size_parse(const char *s, bool allow_suffix, int64_t *out)
{
    if (strcasecmp(s, "unlimited") == 0 || strcasecmp(s, "none") == 0 || strcmp(s, "-1") == 0) {
        *out = -1;
        return 0;
    }
    size_t digits = strspn(s, "0123456789.");
    if (digits == 0 || s[0] == '.' || memchr(s, '.', digits) != memrchr(s, '.', digits))
        return -EINVAL; /* plain decimal only: no sign, exponent or hex */
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end != s + digits || errno != 0)
        return -EINVAL;
    double mult = 1;
    if (*end != '\0') {
        static const char units[] = "KMGTPE";
        const char *u = strchr(units, (char)(*end & ~0x20));
        if (!allow_suffix || u == NULL || *end == '\0')
            return -EINVAL;
        mult = ldexp(1.0, 10 * (int)(u - units + 1));
        end++;
        if (strcasecmp(end, "i") == 0 || strcasecmp(end, "ib") == 0 || strcasecmp(end, "b") == 0)
            end += strlen(end);
        if (*end != '\0')
            return -EINVAL;
    }
    double total = v * mult;
    if (total != floor(total) || total > 9.0e15)
        return -EINVAL;
    *out = (int64_t)total;
    return 0;
}
