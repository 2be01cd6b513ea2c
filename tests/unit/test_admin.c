/*
 * test_admin.c - the admin API's pure helpers (src/admin/json.c) and `gzy admin`'s client-side
 * helpers (src/cli/admin_out.c). The API end to end is tests/integration/test_admin.py.
 */
#include <errno.h>
#include <stdlib.h>

#include "../../src/admin/admin_int.h"
#include "../../src/cli/admin_cli.h"
#include "tap.h"

static void t_parse_time(void)
{
    int64_t ms = -1;
    TAP_OK(admin__parse_time("1970-01-02", &ms) == 0 && ms == 86400000LL, "date: %lld",
           (long long)ms);
    TAP_OK(admin__parse_time("2025-01-31T08:00:00Z", &ms) == 0 && ms == 1738310400000LL,
           "date-time Z: %lld", (long long)ms);
    TAP_OK(admin__parse_time("2025-01-31T08:00:00.250Z", &ms) == 0 && ms == 1738310400250LL,
           "fraction: %lld", (long long)ms);
    TAP_OK(admin__parse_time("2025-01-31T08:00+00:00", &ms) == 0 && ms == 1738310400000LL,
           "no seconds, +00:00: %lld", (long long)ms);
    TAP_OK(admin__parse_time("1738310400000", &ms) == 0 && ms == 1738310400000LL, "epoch ms");
    const char *bad[] = {"", "yesterday", "2025-13-01", "2025-01-31T25:00:00Z", "2025-1-3",
                         "2025-01-31T08:00:00+08:00", "2025-01-31X"};
    for (size_t i = 0; i < GZ_ARRAY_LEN(bad); i++)
        TAP_OK(admin__parse_time(bad[i], &ms) == -EINVAL, "rejects '%s'", bad[i]);
}

static void t_vec(void)
{
    struct admin_vec v;
    admin__vec_init(&v, sizeof(int64_t));
    for (int64_t i = 0; i < 1000; i++)
        *(int64_t *)admin__vec_push(&v) = i * 3;
    bool ok = v.n == 1000;
    for (size_t i = 0; ok && i < v.n; i++)
        ok = *(int64_t *)admin__vec_at(&v, i) == (int64_t)i * 3;
    TAP_OK(ok, "1000 items kept in order");
    admin__vec_free(&v);
    TAP_OK(v.items == NULL && v.n == 0, "freed");
}

static void t_json_exact_ints(void)
{
    cJSON *o = cJSON_CreateObject();
    admin__json_int(o, "big", (int64_t)1 << 60);
    admin__json_int(o, "neg", -1);
    admin__json_quota(o, "quota", 10LL << 30, -1);
    char *text = cJSON_PrintUnformatted(o);
    TAP_OK(text && strcmp(text, "{\"big\":1152921504606846976,\"neg\":-1,\"quota\":"
                                "{\"max_bytes\":10737418240,\"max_objects\":-1}}") == 0,
           "%s", text ? text : "(null)");
    cJSON_free(text);
    cJSON_Delete(o);
}

static void t_error_doc(void)
{
    struct gz_buf b;
    gz_buf_init(&b, 4096);
    admin__error_doc(&b, "InvalidUSCC", "bad \"code\"\n", "0123456789abcdef");
    gz_buf_terminate(&b);
    cJSON *doc = cJSON_Parse(b.ptr);
    cJSON *err = cJSON_GetObjectItemCaseSensitive(doc, "error");
    cJSON *msg = cJSON_GetObjectItemCaseSensitive(err, "message");
    TAP_OK(cJSON_IsString(msg) && strcmp(msg->valuestring, "bad \"code\"\n") == 0,
           "message escaped and parsed back: %s", b.ptr);
    TAP_OK(strcmp(cJSON_GetObjectItemCaseSensitive(err, "code")->valuestring,
                  "InvalidUSCC") == 0, "code");
    cJSON_Delete(doc);
    gz_buf_free(&b);
}

static void t_size_parse(void)
{
    struct {
        const char *in;
        int64_t want;
    } ok[] = {{"0", 0}, {"1048576", 1048576}, {"512M", 512LL << 20}, {"10G", 10LL << 30},
              {"1T", 1LL << 40}, {"1.5G", 3LL << 29}, {"2KiB", 2048}, {"4kb", 4096},
              {"-1", -1}, {"unlimited", -1}, {"NONE", -1}};
    for (size_t i = 0; i < GZ_ARRAY_LEN(ok); i++) {
        int64_t v = 0;
        int rc = gz_admin_size_parse(ok[i].in, true, &v);
        TAP_OK(rc == 0 && v == ok[i].want, "'%s' -> %lld", ok[i].in, (long long)v);
    }
    const char *bad[] = {"", "G", "12Q", "-5", "1.5", "0x10", "10GG", "+3", "nan", "1e400"};
    for (size_t i = 0; i < GZ_ARRAY_LEN(bad); i++) {
        int64_t v;
        TAP_OK(gz_admin_size_parse(bad[i], true, &v) == -EINVAL, "rejects '%s'", bad[i]);
    }
    int64_t v;
    TAP_OK(gz_admin_size_parse("10G", false, &v) == -EINVAL, "counts take no suffix");
}

static void t_url_encode(void)
{
    struct gz_buf b;
    gz_buf_init(&b, 1024);
    gz_admin_url_encode(&b, "a b/c~d_e.f-g%+=&\xe4\xb8\xad");
    gz_buf_terminate(&b);
    TAP_OK(strcmp(b.ptr, "a%20b%2Fc~d_e.f-g%25%2B%3D%26%E4%B8%AD") == 0, "%s", b.ptr);
    gz_buf_free(&b);
}

static void t_cells_and_table(void)
{
    cJSON *o = cJSON_Parse("{\"name\":\"acme\",\"n\":12,\"on\":true,\"empty\":\"\","
                           "\"quota\":{\"max_bytes\":-1,\"max_objects\":5}}");
    char buf[64];
    TAP_OK(strcmp(gz_admin_cell(o, "name", false, buf, sizeof(buf)), "acme") == 0, "string");
    TAP_OK(strcmp(gz_admin_cell(o, "n", false, buf, sizeof(buf)), "12") == 0, "integer");
    TAP_OK(strcmp(gz_admin_cell(o, "on", false, buf, sizeof(buf)), "yes") == 0, "bool");
    TAP_OK(strcmp(gz_admin_cell(o, "empty", false, buf, sizeof(buf)), "-") == 0, "empty");
    TAP_OK(strcmp(gz_admin_cell(o, "missing", false, buf, sizeof(buf)), "-") == 0, "missing");
    TAP_OK(strcmp(gz_admin_cell(o, "quota.max_bytes", true, buf, sizeof(buf)), "unlimited") == 0,
           "nested limit -1");
    TAP_OK(strcmp(gz_admin_cell(o, "quota.max_objects", true, buf, sizeof(buf)), "5") == 0,
           "nested limit");
    cJSON_Delete(o);

    static const char *const hdr[] = {"A", "LONGER"};
    struct gz_admin_table t;
    gz_admin_table_init(&t, 2, hdr);
    const char *r1[] = {"xxxxx", "1"}, *r2[] = {"y", NULL};
    gz_admin_table_add(&t, r1);
    gz_admin_table_add(&t, r2);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    gz_admin_table_print(&t, f);
    fclose(f);
    TAP_OK(strcmp(text, "A      LONGER\nxxxxx  1\ny      -\n") == 0, "aligned:\n%s", text);
    free(text); /* open_memstream's buffer */
    gz_admin_table_free(&t);
}

int main(void)
{
    TAP_RUN(t_parse_time);
    TAP_RUN(t_vec);
    TAP_RUN(t_json_exact_ints);
    TAP_RUN(t_error_doc);
    TAP_RUN(t_size_parse);
    TAP_RUN(t_url_encode);
    TAP_RUN(t_cells_and_table);
    return tap_done();
}
