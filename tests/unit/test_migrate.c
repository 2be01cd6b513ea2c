/*
 * test_migrate.c - the migration engine's pure parts: provider presets, metadata mapping,
 * diff decisions, verification, and the journal (listing upserts, diff, claims, outcomes,
 * resumption across passes, extraneous keys).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/migrate/migrate_int.h"
#include "../../src/store/store.h"
#include "tap.h"

static void t_presets(void)
{
    const struct gz_mig_preset *p = gz_migrate_preset_find("aliyun-oss");
    TAP_OK(p && p->provider == GZ_MIG_ALIYUN_OSS && p->virtual_hosted, "aliyun-oss preset");
    TAP_OK(p && strcmp(p->meta_prefix, "x-oss-meta-") == 0, "oss meta prefix");
    p = gz_migrate_preset_find("huawei-obs");
    TAP_OK(p && strcmp(p->meta_prefix, "x-obs-meta-") == 0, "obs meta prefix");
    p = gz_migrate_preset_find("tencent-cos");
    TAP_OK(p && strcmp(p->meta_prefix, "x-cos-meta-") == 0, "cos meta prefix");
    p = gz_migrate_preset_find("generic");
    TAP_OK(p && !p->virtual_hosted && !p->meta_prefix, "generic is path style");
    TAP_OK(gz_migrate_preset_find("aws") != NULL, "aws preset");
    TAP_OK(gz_migrate_preset_find("azure") == NULL, "unknown preset");
    TAP_OK(gz_migrate_preset_get(GZ_MIG_TENCENT_COS)->provider == GZ_MIG_TENCENT_COS, "get");
}

static bool endpoint_of(const char *preset, const char *region, char *out, size_t outsz,
                        char *err)
{
    return gz_migrate_preset_endpoint(gz_migrate_preset_find(preset), region, out, outsz, err,
                                      256) == 0;
}

/* Endpoint derivation: pure, never resolves or contacts the provider's hosts. */
static void t_preset_endpoints(void)
{
    char out[256], err[256];
    TAP_OK(endpoint_of("aliyun-oss", "cn-hangzhou", out, sizeof(out), err) &&
           strcmp(out, "https://oss-cn-hangzhou.aliyuncs.com") == 0, "oss: %s", out);
    TAP_OK(endpoint_of("huawei-obs", "cn-north-4", out, sizeof(out), err) &&
           strcmp(out, "https://obs.cn-north-4.myhuaweicloud.com") == 0, "obs: %s", out);
    TAP_OK(endpoint_of("tencent-cos", "ap-guangzhou", out, sizeof(out), err) &&
           strcmp(out, "https://cos.ap-guangzhou.myqcloud.com") == 0, "cos: %s", out);
    TAP_OK(endpoint_of("tencent-cos", "ap-shanghai-fsi", out, sizeof(out), err) &&
           strcmp(out, "https://cos.ap-shanghai-fsi.myqcloud.com") == 0, "cos fsi: %s", out);
    TAP_OK(endpoint_of("aws", "eu-west-1", out, sizeof(out), err) &&
           strcmp(out, "https://s3.eu-west-1.amazonaws.com") == 0, "aws: %s", out);
    TAP_OK(endpoint_of("aws", "cn-northwest-1", out, sizeof(out), err) &&
           strcmp(out, "https://s3.cn-northwest-1.amazonaws.com.cn") == 0, "aws china: %s",
           out);
    TAP_OK(!endpoint_of("generic", "us-east-1", out, sizeof(out), err) &&
           strstr(err, "endpoint is required"), "generic: %s", err);
    TAP_OK(!endpoint_of("aliyun-oss", NULL, out, sizeof(out), err) &&
           strstr(err, "needs a region"), "no region: %s", err);
    static const char *const bad[] = {
        "oss-cn-hangzhou", "cn_hangzhou", "CN-HANGZHOU", "cn-", "cn--north", "c", "cn-north-4/x",
        "cn-north.4", "cn-hangzhou.evil.example", "ap-guangzhou ",
        "aa-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        TAP_OK(!endpoint_of("huawei-obs", bad[i], out, sizeof(out), err) &&
               strstr(err, "is not a huawei-obs region"), "bad region '%s': %s", bad[i], err);
    TAP_OK(!endpoint_of("aws", "us-east", out, sizeof(out), err), "aws needs the number");
    TAP_OK(gz_migrate_region_valid(GZ_MIG_ALIYUN_OSS, "cn-hangzhou") &&
           !gz_migrate_region_valid(GZ_MIG_AWS, "cn-hangzhou") &&
           gz_migrate_region_valid(GZ_MIG_AWS, "us-gov-west-1"), "region forms");
    TAP_OK(!endpoint_of("aliyun-oss", "cn-hangzhou", out, 20, err), "short buffer");

    /* the client derives it when no endpoint is given; a given endpoint wins */
    struct mig_client c;
    struct gz_mig_endpoint ep = {.bucket = "b", .access_key = "k", .secret_key = "s",
                                 .region = "cn-north-4", .provider = GZ_MIG_HUAWEI_OBS};
    TAP_OK(mig_client_init(&c, &ep, "source", err, sizeof(err)) == 0 &&
           strcmp(c.base, "https://obs.cn-north-4.myhuaweicloud.com") == 0 && !c.path_style,
           "derived: %s", c.base);
    ep.endpoint = "";
    ep.provider = GZ_MIG_TENCENT_COS;
    ep.region = "ap-beijing";
    TAP_OK(mig_client_init(&c, &ep, "source", err, sizeof(err)) == 0 &&
           strcmp(c.host, "cos.ap-beijing.myqcloud.com") == 0, "empty endpoint: %s", c.host);
    ep.endpoint = "http://127.0.0.1:9000";
    TAP_OK(mig_client_init(&c, &ep, "source", err, sizeof(err)) == 0 &&
           strcmp(c.base, "http://127.0.0.1:9000") == 0, "given endpoint wins: %s", c.base);
    ep.endpoint = NULL;
    ep.region = "ap_beijing";
    TAP_OK(mig_client_init(&c, &ep, "source", err, sizeof(err)) == -EINVAL &&
           strstr(err, "source: 'ap_beijing' is not a tencent-cos region"), "%s", err);
    ep.region = NULL;
    ep.provider = GZ_MIG_GENERIC;
    TAP_OK(mig_client_init(&c, &ep, "source", err, sizeof(err)) == -EINVAL &&
           strstr(err, "not a URL"), "generic needs an endpoint: %s", err);
}

/* Each provider's RestoreObject body and restore-status header. */
static void t_restore(void)
{
    char b[256];
    TAP_OK(gz_migrate_restore_body(GZ_MIG_AWS, "GLACIER", b, sizeof(b)) > 0 &&
           strcmp(b, "<RestoreRequest><Days>2</Days><GlacierJobParameters><Tier>Standard"
                     "</Tier></GlacierJobParameters></RestoreRequest>") == 0, "aws: %s", b);
    TAP_OK(gz_migrate_restore_body(GZ_MIG_GENERIC, "DEEP_ARCHIVE", b, sizeof(b)) > 0 &&
           strstr(b, "<GlacierJobParameters>"), "generic is aws: %s", b);
    TAP_OK(gz_migrate_restore_body(GZ_MIG_HUAWEI_OBS, "COLD", b, sizeof(b)) > 0 &&
           strcmp(b, "<RestoreRequest><Days>2</Days><RestoreJob><Tier>Standard</Tier>"
                     "</RestoreJob></RestoreRequest>") == 0, "obs: %s", b);
    TAP_OK(gz_migrate_restore_body(GZ_MIG_TENCENT_COS, "ARCHIVE", b, sizeof(b)) > 0 &&
           strcmp(b, "<RestoreRequest><Days>2</Days><CASJobParameters><Tier>Standard</Tier>"
                     "</CASJobParameters></RestoreRequest>") == 0, "cos: %s", b);
    TAP_OK(gz_migrate_restore_body(GZ_MIG_ALIYUN_OSS, "Archive", b, sizeof(b)) > 0 &&
           strcmp(b, "<RestoreRequest><Days>2</Days></RestoreRequest>") == 0,
           "oss archive: %s", b);
    TAP_OK(gz_migrate_restore_body(GZ_MIG_ALIYUN_OSS, "ColdArchive", b, sizeof(b)) > 0 &&
           strcmp(b, "<RestoreRequest><Days>2</Days><JobParameters><Tier>Standard</Tier>"
                     "</JobParameters></RestoreRequest>") == 0, "oss cold archive: %s", b);
    TAP_OK(gz_migrate_restore_body(GZ_MIG_ALIYUN_OSS, "DeepColdArchive", b, sizeof(b)) > 0 &&
           strstr(b, "<JobParameters>"), "oss deep cold archive");
    TAP_OK(gz_migrate_restore_body(GZ_MIG_TENCENT_COS, "ARCHIVE", b, 20) == -ENOSPC, "nospc");
    TAP_OK(gz_migrate_restore_ready("ongoing-request=\"false\", expiry-date=\"Fri, 21 Dec "
                                    "2012 00:00:00 GMT\""), "restored");
    TAP_OK(!gz_migrate_restore_ready("ongoing-request=\"true\""), "ongoing");
    TAP_OK(gz_migrate_restore_ready("expiry-date=\"Fri, 21 Dec 2012 00:00:00 GMT\""),
           "expiry date alone");
    TAP_OK(!gz_migrate_restore_ready("") && !gz_migrate_restore_ready(NULL), "nothing");
    static const char *const classes[] = {"Archive", "ColdArchive", "DeepColdArchive", "COLD",
                                          "ARCHIVE", "DEEP_ARCHIVE", "GLACIER"};
    for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
        TAP_OK(mig_storage_class_archive(classes[i]), "archive class %s", classes[i]);
    TAP_OK(!mig_storage_class_archive("WARM") && !mig_storage_class_archive("IA") &&
           !mig_storage_class_archive("STANDARD_IA") &&
           !mig_storage_class_archive("INTELLIGENT_TIERING"), "not archive classes");
}

static bool map(const struct gz_mig_preset *p, const char *name, char *out)
{
    return gz_migrate_meta_map(p, name, strlen(name), out, 128);
}

static void t_meta_map(void)
{
    char out[128];
    const struct gz_mig_preset *oss = gz_migrate_preset_find("aliyun-oss");
    const struct gz_mig_preset *gen = gz_migrate_preset_find("generic");
    TAP_OK(map(gen, "Content-Type", out) && strcmp(out, "content-type") == 0, "content-type");
    TAP_OK(map(gen, "Cache-Control", out), "cache-control");
    TAP_OK(map(gen, "Content-Disposition", out), "content-disposition");
    TAP_OK(map(gen, "content-encoding", out), "content-encoding");
    TAP_OK(map(gen, "Content-Language", out), "content-language");
    TAP_OK(map(gen, "Expires", out), "expires");
    TAP_OK(map(gen, "X-Amz-Meta-Owner", out) && strcmp(out, "x-amz-meta-owner") == 0, "amz");
    TAP_OK(map(oss, "x-oss-meta-Owner", out) && strcmp(out, "x-amz-meta-owner") == 0, "oss");
    TAP_OK(!map(gen, "x-oss-meta-owner", out), "oss prefix only with its preset");
    TAP_OK(!map(oss, "x-obs-meta-owner", out), "other provider's prefix not mapped");
    char nc[128];
    const char *foreign = "HTTP/1.1 200 OK\r\nx-obs-meta-owner: a\r\n\r\n";
    gz_migrate_not_carried(oss, foreign, strlen(foreign), nc, sizeof(nc));
    TAP_OK(strcmp(nc, "foreign-metadata") == 0, "... but reported as not carried: %s", nc);
    TAP_OK(!map(gen, "ETag", out) && !map(gen, "Content-Length", out), "not metadata");
    TAP_OK(!map(gen, "x-amz-meta-", out), "empty user-metadata name");
    TAP_OK(!map(gen, "x-amz-server-side-encryption", out), "sse not carried");

    struct mig_resp r;
    mig_resp_init(&r, 1024);
    const char *block = "HTTP/1.1 200 OK\r\nETag: \"abc\"\r\nContent-Type: text/plain\r\n"
                        "x-oss-meta-Project:  gzy \r\nContent-Length: 3\r\n\r\n";
    gz_buf_append(&r.headers, block, strlen(block));
    struct curl_slist *h = mig_meta_headers(oss, &r), *e = h;
    TAP_OK(e && strcmp(e->data, "content-type: text/plain") == 0, "type header");
    e = e ? e->next : NULL;
    TAP_OK(e && strcmp(e->data, "x-amz-meta-project: gzy") == 0, "mapped: %s",
           e ? e->data : "(none)");
    TAP_OK(e && !e->next, "nothing else");
    curl_slist_free_all(h);
    char v[64];
    TAP_OK(mig_resp_header(&r, "etag", v, sizeof(v)) && strcmp(v, "\"abc\"") == 0, "header");
    TAP_OK(!mig_resp_header(&r, "x-missing", v, sizeof(v)), "missing header");
    gz_buf_reset(&r.headers);
    h = mig_meta_headers(gen, &r);
    TAP_OK(h && strcmp(h->data, "content-type: binary/octet-stream") == 0 && !h->next,
           "default content type");
    curl_slist_free_all(h);
    mig_resp_free(&r);
}

static void t_diff(void)
{
    struct gz_mig_diff_row r = {.src_size = 10, .src_etag = "aa", .src_mtime = 100};
    TAP_OK(gz_migrate_diff_decide(&r) == GZ_MIG_COPY_NEW, "absent: new");
    r.dst_present = true;
    r.dst_size = 11;
    TAP_OK(gz_migrate_diff_decide(&r) == GZ_MIG_COPY_CHANGED, "size differs");
    r.dst_size = 10;
    r.dst_etag = "aa";
    TAP_OK(gz_migrate_diff_decide(&r) == GZ_MIG_SKIP, "same md5 etag");
    r.src_etag = "AA"; /* Aliyun OSS: upper-case hex */
    TAP_OK(gz_migrate_diff_decide(&r) == GZ_MIG_SKIP, "same md5 etag in another case");
    r.src_etag = "aa";
    r.dst_etag = "bb";
    TAP_OK(gz_migrate_diff_decide(&r) == GZ_MIG_COPY_CHANGED, "md5 etag differs");
    r.done_etag = "aa";
    TAP_OK(gz_migrate_diff_decide(&r) == GZ_MIG_SKIP, "journal: same source etag");
    r.done_etag = "old";
    TAP_OK(gz_migrate_diff_decide(&r) == GZ_MIG_COPY_CHANGED, "journal: source etag changed");
    r.done_etag = NULL;
    r.src_etag = "abc-3";
    r.dst_mtime = 100;
    TAP_OK(gz_migrate_diff_decide(&r) == GZ_MIG_SKIP, "multipart, same size, not older");
    r.dst_mtime = 99;
    TAP_OK(gz_migrate_diff_decide(&r) == GZ_MIG_COPY_CHANGED, "multipart, older copy");
    TAP_OK(gz_migrate_etag_is_multipart("abc-3") && !gz_migrate_etag_is_multipart("abc"),
           "multipart etag");
}

static void t_verify(void)
{
    struct mig_verify v;
    char sha[65], why[200];
    mig_verify_init(&v, "5d41402abc4b2a76b9719d911017c592"); /* md5("hello") */
    TAP_OK(v.method == MIG_VERIFY_MD5, "md5 method");
    mig_verify_update(&v, "hel", 3);
    mig_verify_update(&v, "lo", 2);
    TAP_OK(mig_verify_final(&v, 5, sha, why, sizeof(why)) == 0, "md5 verified");
    TAP_OK(strcmp(sha, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824") ==
           0, "sha256 recorded");
    mig_verify_dispose(&v);
    mig_verify_init(&v, "5d41402abc4b2a76b9719d911017c592");
    mig_verify_update(&v, "hellO", 5);
    TAP_OK(mig_verify_final(&v, 5, sha, why, sizeof(why)) == -EILSEQ, "md5 mismatch");
    TAP_OK(strstr(why, "MD5") != NULL, "reason: %s", why);
    mig_verify_dispose(&v);
    mig_verify_init(&v, "0123456789abcdef0123456789abcdef-2");
    TAP_OK(v.method == MIG_VERIFY_SHA256, "multipart: size+sha256");
    mig_verify_update(&v, "abc", 3);
    TAP_OK(mig_verify_final(&v, 4, sha, why, sizeof(why)) == -EILSEQ, "size mismatch");
    mig_verify_dispose(&v);
    TAP_OK(strcmp(mig_verify_method_name(MIG_VERIFY_SHA256), "size+sha256") == 0, "name");
}

static void add(struct mig_journal *j, bool src, const char *key, int64_t size,
                const char *etag)
{
    struct mig_entry e = {.key = (char *)key, .size = size, .mtime = 1000};
    snprintf(e.etag, sizeof(e.etag), "%s", etag);
    int rc = src ? mig_journal_add_src(j, &e) : mig_journal_add_dst(j, &e);
    TAP_OK(rc == 0, "add %s %s", src ? "src" : "dst", key);
}

static void fail_cb(void *arg, const char *key, const char *reason, int64_t retries)
{
    int *n = arg;
    TAP_OK(strcmp(key, "c") == 0 && strcmp(reason, "HTTP 403") == 0 && retries == 2,
           "failed entry %s: %s", key, reason);
    (*n)++;
}

static int drain(struct mig_journal *j, const char *expect)
{
    char *key = NULL, etag[80];
    int64_t size;
    int n = 0;
    while (mig_journal_claim(j, &key, &size, etag, sizeof(etag)) == 1) {
        TAP_OK(strncmp(key, expect + 2 * n, 1) == 0, "claimed %s", key);
        n++;
        if (strcmp(key, "c") == 0)
            mig_journal_fail(j, key, "HTTP 403", 2);
        else
            mig_journal_done(j, key, etag, "sha", "md5", 0);
        gz_free(key);
    }
    return n;
}

static void t_journal(void)
{
    char path[] = "/tmp/gzy-test-migrate-XXXXXX", err[256];
    int fd = mkstemp(path);
    close(fd);
    struct mig_journal j;
    TAP_OK(mig_journal_open(&j, path, err, sizeof(err)) == 0, "open: %s", err);
    TAP_OK(mig_journal_begin_pass(&j) == 0 && j.pass == 1, "pass 1");
    add(&j, true, "a", 1, "e1");
    add(&j, true, "b", 2, "e2");
    add(&j, true, "c", 3, "e3");
    add(&j, true, "d", 4, "e4");
    add(&j, false, "b", 2, "e2");   /* already there */
    add(&j, false, "d", 5, "e4");   /* size differs */
    add(&j, false, "z", 9, "e9");   /* extraneous */
    struct gz_mig_stats st = {0};
    TAP_OK(mig_journal_diff(&j, &st) == 0, "diff");
    TAP_OK(st.to_copy == 3 && st.skipped == 1 && st.skipped_bytes == 2, "3 to copy, 1 skip");
    TAP_OK(drain(&j, "a c d ") == 3, "claimed 3");
    TAP_OK(mig_journal_count(&j, "verified") == 3, "3 verified");
    int nf = 0;
    mig_journal_failed_each(&j, fail_cb, &nf);
    TAP_OK(nf == 1, "one failure");
    char *keys[4];
    int n = mig_journal_extraneous(&j, NULL, keys, 4);
    TAP_OK(n == 1 && strcmp(keys[0], "z") == 0, "extraneous z");
    for (int i = 0; i < n; i++)
        gz_free(keys[i]);

    /* pass 2: a and b unchanged, c retried, d changed, a new key e, nothing at dst yet */
    TAP_OK(mig_journal_begin_pass(&j) == 0 && j.pass == 2, "pass 2");
    TAP_OK(mig_journal_clear_dst(&j) == 0, "clear dst");
    add(&j, true, "a", 1, "e1");
    add(&j, true, "b", 2, "e2");
    add(&j, true, "c", 3, "e3");
    add(&j, true, "d", 4, "e4-new");
    add(&j, true, "e", 5, "e5");
    add(&j, false, "a", 1, "e1");
    add(&j, false, "b", 2, "e2");
    add(&j, false, "c", 3, "e3");
    add(&j, false, "d", 4, "e4");
    memset(&st, 0, sizeof(st));
    TAP_OK(mig_journal_diff(&j, &st) == 0, "diff 2");
    /* c failed before but the destination holds the same MD5 ETag; d changed at the source */
    TAP_OK(st.skipped == 3 && st.to_copy == 2, "skip a b c; copy d e (%lld/%lld)",
           (long long)st.skipped, (long long)st.to_copy);
    n = mig_journal_extraneous(&j, NULL, keys, 4);
    TAP_OK(n == 0, "nothing extraneous");
    mig_journal_close(&j);

    /* reopen (as after kill -9): verified rows stay verified */
    TAP_OK(mig_journal_open(&j, path, err, sizeof(err)) == 0, "reopen");
    TAP_OK(mig_journal_begin_pass(&j) == 0 && j.pass == 3, "pass 3");
    add(&j, true, "a", 1, "e1");
    TAP_OK(mig_journal_count(&j, "verified") == 1, "a still verified");
    mig_journal_close(&j);
    gz_migrate_journal_remove(path);
}

static void t_client(void)
{
    struct mig_client c;
    char err[256];
    struct gz_mig_endpoint ep = {.endpoint = "https://oss-cn-hangzhou.aliyuncs.com",
                                 .bucket = "b", .access_key = "k", .secret_key = "s",
                                 .region = "cn-hangzhou", .provider = GZ_MIG_ALIYUN_OSS};
    TAP_OK(mig_client_init(&c, &ep, "source", err, sizeof(err)) == 0, "init");
    TAP_OK(!c.path_style && strcmp(c.host, "oss-cn-hangzhou.aliyuncs.com") == 0, "vhost");
    TAP_OK(strcmp(c.sigv4, "aws:amz:cn-hangzhou:s3") == 0, "sigv4 scope");
    ep.endpoint = "http://127.0.0.1:9000";
    TAP_OK(mig_client_init(&c, &ep, "source", err, sizeof(err)) == 0 && c.path_style,
           "IP endpoint: path style");
    ep.endpoint = "nonsense";
    TAP_OK(mig_client_init(&c, &ep, "source", err, sizeof(err)) == -EINVAL, "bad URL");
    TAP_OK(strstr(err, "source endpoint") != NULL, "message: %s", err);
    ep.endpoint = "http://h";
    ep.secret_key = NULL;
    TAP_OK(mig_client_init(&c, &ep, "source", err, sizeof(err)) == -EINVAL, "no secret");
    struct gz_buf q;
    gz_buf_init(&q, 1024);
    mig_query_add(&q, "continuation-token", "a b+c/=");
    mig_query_add(&q, "prefix", NULL);
    gz_buf_terminate(&q);
    TAP_OK(strcmp(q.ptr, "continuation-token=a%20b%2Bc%2F%3D") == 0, "query %s", q.ptr);
    gz_buf_reset(&q);
    mig_uri_encode(&q, "dir/a b%\xc3\xa9~", true);
    gz_buf_terminate(&q);
    TAP_OK(strcmp(q.ptr, "dir/a%20b%25%C3%A9~") == 0, "path %s", q.ptr);
    gz_buf_free(&q);
    struct mig_resp r;
    mig_resp_init(&r, 16);
    r.status = 503;
    TAP_OK(mig_resp_transient(&r), "503 is transient");
    r.status = 501;
    TAP_OK(!mig_resp_transient(&r), "501 Not Implemented is an answer (v1 fallback at once)");
    r.status = 400;
    snprintf(r.code, sizeof(r.code), "SlowDown");
    TAP_OK(mig_resp_transient(&r), "SlowDown is transient");
    r.code[0] = '\0';
    TAP_OK(!mig_resp_transient(&r), "400 is permanent");
    r.status = 403;
    TAP_OK(!mig_resp_transient(&r), "403 is permanent");
    r.curl = CURLE_OPERATION_TIMEDOUT;
    TAP_OK(mig_resp_transient(&r), "timeout is transient");
    r.curl = CURLE_RECV_ERROR;
    TAP_OK(mig_resp_transient(&r), "reset is transient");
    mig_resp_describe(&r, err, sizeof(err));
    TAP_OK(err[0] != '\0', "describe: %s", err);
    mig_resp_free(&r);
    char e[16];
    mig_etag_strip("\"abc\"", e, sizeof(e));
    TAP_OK(strcmp(e, "abc") == 0, "etag strip");
}

static void t_glob(void)
{
    TAP_OK(mig_glob_match("*.jpg", "a.jpg") && !mig_glob_match("*.jpg", "d/a.jpg"),
           "* stays in a segment");
    TAP_OK(mig_glob_match("**.jpg", "d/e/a.jpg") && mig_glob_match("logs/**", "logs/x/y"),
           "** crosses segments");
    TAP_OK(mig_glob_match("a?c", "abc") && !mig_glob_match("a?c", "a/c"), "?");
    TAP_OK(mig_glob_match("exact", "exact") && !mig_glob_match("exact", "exact2") &&
           !mig_glob_match("exact2", "exact"), "literal, whole key");
    TAP_OK(mig_glob_match("d/*/x", "d/e/x") && !mig_glob_match("d/*/x", "d/e/f/x"),
           "* in the middle");
    TAP_OK(mig_glob_match("**", "") && mig_glob_match("*", ""), "empty key");
    const char *inc[] = {"keep/**", "top*"}, *exc[] = {"**.tmp"};
    struct gz_mig_options o = {.include = inc, .n_include = 2, .exclude = exc, .n_exclude = 1};
    TAP_OK(mig_filter_pass(&o, "keep/a/b") && mig_filter_pass(&o, "top1"), "included");
    TAP_OK(!mig_filter_pass(&o, "keep/a.tmp") && !mig_filter_pass(&o, "other"), "excluded");
    o.n_include = 0;
    TAP_OK(mig_filter_pass(&o, "other") && !mig_filter_pass(&o, "x/y.tmp"), "exclude only");
}

/* should_stop for t_throttle: true from the arg'th call on */
static bool stop_after_calls(void *arg)
{
    int *left = arg;
    return --*left < 0;
}

static void t_throttle(void)
{
    struct mig_throttle t;
    mig_throttle_init(&t, 1000000, NULL, NULL); /* 1 MB/s */
    int64_t start = gz_monotonic_ns();
    bool all = true;
    for (int i = 0; i < 30; i++)
        all &= mig_throttle_take(&t, 10000); /* 300 kB */
    double secs = (double)(gz_monotonic_ns() - start) / 1e9;
    TAP_OK(all && secs >= 0.28 && secs < 2.0, "300 kB at 1 MB/s took %.3f s", secs);
    mig_throttle_destroy(&t);

    /* a stop ends the wait: 20 kB at 1 kB/s would sleep 20 s */
    int calls = 3;
    mig_throttle_init(&t, 1000, stop_after_calls, &calls);
    start = gz_monotonic_ns();
    bool went_on = mig_throttle_take(&t, 20000);
    secs = (double)(gz_monotonic_ns() - start) / 1e9;
    TAP_OK(!went_on && secs >= 0.15 && secs < 1.0, "a stop ends the wait after %.3f s", secs);
    TAP_OK(!mig_throttle_take(&t, 1), "once stopped, no byte goes on");
    mig_throttle_destroy(&t);
}

static void t_verify_more(void)
{
    struct mig_verify v;
    char sha[65], why[200];
    /* CRC-64/XZ (ECMA-182 reflected) check value of "123456789" */
    mig_verify_init(&v, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-1");
    mig_verify_set_crc64(&v, "11051210869376104954"); /* 0x995DC9BBDF1939FA */
    TAP_OK(v.method == MIG_VERIFY_CRC64, "crc64 method for a multipart etag");
    mig_verify_update(&v, "1234", 4);
    mig_verify_update(&v, "56789", 5);
    TAP_OK(mig_verify_final(&v, 9, sha, why, sizeof(why)) == 0, "crc64 verified: %s", why);
    mig_verify_dispose(&v);
    mig_verify_init(&v, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-1");
    mig_verify_set_crc64(&v, "11051210869376104955");
    mig_verify_update(&v, "123456789", 9);
    TAP_OK(mig_verify_final(&v, 9, sha, why, sizeof(why)) == -EILSEQ && strstr(why, "CRC64"),
           "crc64 mismatch: %s", why);
    mig_verify_dispose(&v);
    /* multipart ETag: md5(md5("abcd") || md5("ef")) + "-2", parts of 4 bytes */
    uint8_t d[16], cat[32];
    char etag[48];
    gz_md5("abcd", 4, cat);
    gz_md5("ef", 2, cat + 16);
    gz_md5(cat, 32, d);
    gz_hex_encode(etag, d, 16);
    strcat(etag, "-2");
    mig_verify_init(&v, etag);
    mig_verify_set_layout(&v, 4, 2);
    TAP_OK(v.method == MIG_VERIFY_MPU, "mpu method");
    mig_verify_update(&v, "abc", 3);
    mig_verify_update(&v, "def", 3);
    TAP_OK(mig_verify_final(&v, 6, sha, why, sizeof(why)) == 0, "mpu verified: %s", why);
    TAP_OK(strcmp(mig_verify_method_name(v.method), "mpu-md5") == 0, "mpu name");
    mig_verify_dispose(&v);
    mig_verify_init(&v, etag);
    mig_verify_set_layout(&v, 3, 2); /* the wrong layout: mismatch */
    mig_verify_update(&v, "abcdef", 6);
    TAP_OK(mig_verify_final(&v, 6, sha, why, sizeof(why)) == -EILSEQ, "mpu mismatch: %s",
           why);
    mig_verify_dispose(&v);
    mig_verify_init(&v, etag);
    mig_verify_set_layout(&v, 4, 3); /* count differs from the ETag's: not used */
    TAP_OK(v.method == MIG_VERIFY_SHA256, "layout ignored when the count differs");
    mig_verify_dispose(&v);
}

static void t_not_carried(void)
{
    struct mig_resp r;
    char out[128];
    mig_resp_init(&r, 1024);
    const char *block = "HTTP/1.1 200 OK\r\nx-amz-tagging-count: 2\r\n"
                        "x-amz-storage-class: GLACIER\r\nx-amz-server-side-encryption: "
                        "aws:kms\r\nx-amz-website-redirect-location: /x\r\n"
                        "x-amz-object-lock-mode: GOVERNANCE\r\n\r\n";
    gz_buf_append(&r.headers, block, strlen(block));
    gz_migrate_not_carried(NULL, r.headers.ptr, r.headers.len, out, sizeof(out));
    TAP_OK(strcmp(out, "tags,storage-class,sse-kms,website-redirect,object-lock") == 0,
           "not carried: %s", out);
    gz_buf_reset(&r.headers);
    block = "HTTP/1.1 200 OK\r\nx-amz-storage-class: STANDARD\r\n\r\n";
    gz_buf_append(&r.headers, block, strlen(block));
    gz_migrate_not_carried(NULL, r.headers.ptr, r.headers.len, out, sizeof(out));
    TAP_OK(out[0] == '\0', "standard carries everything");
    mig_resp_free(&r);
    const struct gz_mig_preset *oss = gz_migrate_preset_find("aliyun-oss");
    const struct gz_mig_preset *cos = gz_migrate_preset_find("tencent-cos");
    const char *prov = "HTTP/1.1 200 OK\r\nx-oss-tagging-count: 1\r\n"
                       "x-oss-storage-class: Standard\r\nx-oss-server-side-encryption: KMS\r\n"
                       "x-oss-object-acl: public-read\r\nx-oss-meta-kept: 1\r\n\r\n";
    gz_migrate_not_carried(oss, prov, strlen(prov), out, sizeof(out));
    TAP_OK(strcmp(out, "tags,sse-kms,acl") == 0, "oss: %s", out);
    prov = "HTTP/1.1 200 OK\r\nx-cos-tagging-count: 3\r\nx-cos-storage-class: ARCHIVE\r\n"
           "x-cos-server-side-encryption: cos/kms\r\nx-cos-acl: private\r\n"
           "x-cos-meta-kept: 1\r\nx-oss-meta-lost: 1\r\n\r\n";
    gz_migrate_not_carried(cos, prov, strlen(prov), out, sizeof(out));
    TAP_OK(strcmp(out, "tags,storage-class,sse-kms,foreign-metadata") == 0, "cos: %s", out);
    gz_migrate_not_carried(NULL, prov, strlen(prov), out, sizeof(out));
    TAP_OK(strstr(out, "foreign-metadata") != NULL, "generic: cos meta not kept: %s", out);
    prov = "HTTP/1.1 200 OK\r\nx-obs-tagging-count: 0\r\nx-obs-storage-class: STANDARD\r\n"
           "x-obs-server-side-encryption: AES256\r\nx-obs-meta-a: b\r\n\r\n";
    gz_migrate_not_carried(gz_migrate_preset_find("huawei-obs"), prov, strlen(prov), out,
                           sizeof(out));
    TAP_OK(out[0] == '\0', "obs: everything kept: '%s'", out);
    prov = "HTTP/1.1 200 OK\r\nx-amz-missing-meta: 2\r\nx-amz-grant-read: id=x\r\n"
           "x-amz-object-lock-retain-until-date: 2030-01-01T00:00:00Z\r\n"
           "x-amz-object-lock-legal-hold: OFF\r\n"
           "x-amz-server-side-encryption-customer-algorithm: AES256\r\n\r\n";
    gz_migrate_not_carried(NULL, prov, strlen(prov), out, sizeof(out));
    TAP_OK(strcmp(out, "sse-c,object-lock,acl,metadata") == 0, "amz extras: %s", out);
    char longmeta[400];
    snprintf(longmeta, sizeof(longmeta), "x-amz-meta-%0300d: v\r\n", 0);
    gz_migrate_not_carried(NULL, longmeta, strlen(longmeta), out, sizeof(out));
    TAP_OK(strcmp(out, "metadata") == 0, "too long a metadata name: %s", out);
    char tiny[12];
    gz_migrate_not_carried(cos, prov, strlen(prov), tiny, sizeof(tiny));
    TAP_OK(strcmp(tiny, "sse-c") == 0, "bounded: %s", tiny);
    TAP_OK(mig_storage_class_archive("GLACIER") && mig_storage_class_archive("DeepColdArchive") &&
           mig_storage_class_archive("COLD") && !mig_storage_class_archive("GLACIER_IR") &&
           !mig_storage_class_archive("") && !mig_storage_class_archive(NULL), "archive classes");
}

static int collect(void *arg, const struct mig_entry *e)
{
    struct gz_buf *b = arg;
    return gz_buf_appendf(b, "%s:%lld:%s ", e->key, (long long)e->size, e->etag);
}

static void t_dest_store(void)
{
    char dir[] = "/tmp/gzy-test-migstore-XXXXXX", err[256] = "";
    TAP_OK(mkdtemp(dir) != NULL, "temp dir");
    struct store_config cfg = {.data_dir = dir, .sync = 0};
    struct store *s = NULL;
    TAP_OK(store_open(&cfg, &s) == 0, "store open");
    struct mig_client c;
    TAP_OK(mig_client_init_store(&c, s, "bk", err, sizeof(err)) == -ENOENT &&
           strstr(err, "does not exist"), "missing bucket: %s", err);
    struct store_bucket b = {.name = "bk", .region = "us-east-1", .owner = "o"};
    TAP_OK(store_bucket_create(s, &b) == 0, "bucket");
    TAP_OK(mig_client_init_store(&c, s, "bk", err, sizeof(err)) == 0, "client");
    struct curl_slist *meta = curl_slist_append(NULL, "x-amz-meta-color: red");
    meta = curl_slist_append(meta, "content-type: text/plain");
    struct mig_objhdr oh = {.meta = meta, .src_etag = "0123456789abcdef0123456789abcdef-3",
                            .src_mtime = 1500000000};
    bool perm = false;
    TAP_OK(mig_store_put(&c, "k1", &oh, "hello", 5, err, sizeof(err), &perm) == 0, "put: %s",
           err);
    struct store_meta m;
    struct gz_buf hold;
    gz_buf_init(&hold, 1 << 16);
    TAP_OK(store_object_stat(s, gz_slice_cstr("bk"), gz_slice_cstr("k1"), &m, &hold) == 0 &&
           strcmp(m.etag, oh.src_etag) == 0 && m.mtime_ms == 1500000000000LL && m.size == 5,
           "source etag and mtime kept: %s %lld", m.etag, (long long)m.mtime_ms);
    size_t pos = 0;
    struct gz_slice n, v;
    TAP_OK(store_headers_next(m.headers, &pos, &n, &v) && gz_slice_eq_cstr(n, "Content-Type") &&
           gz_slice_eq_cstr(v, "text/plain"), "canonical Content-Type first");
    TAP_OK(store_headers_next(m.headers, &pos, &n, &v) &&
           gz_slice_eq_cstr(n, "x-amz-meta-color") && gz_slice_eq_cstr(v, "red"), "user meta");
    gz_buf_free(&hold);
    /* multipart through the store */
    char id[64], e1[80], e2[80];
    mig_etag_t etags[2];
    TAP_OK(mig_store_mpu_create(&c, "k2", &oh, id, sizeof(id), err, sizeof(err)) == 0, "mpu");
    TAP_OK(mig_store_mpu_part(&c, id, 1, "abcd", 4, e1, sizeof(e1), err, sizeof(err)) == 0 &&
           mig_store_mpu_part(&c, id, 2, "ef", 2, e2, sizeof(e2), err, sizeof(err)) == 0,
           "parts");
    snprintf(etags[0], sizeof(etags[0]), "%s", e1);
    snprintf(etags[1], sizeof(etags[1]), "%s", e2);
    oh.src_etag = NULL;
    TAP_OK(mig_store_mpu_complete(&c, "k2", id, etags, 2, &oh, err, sizeof(err), &perm) == 0,
           "complete: %s", err);
    struct gz_buf body, list;
    gz_buf_init(&body, 64);
    TAP_OK(mig_store_read(&c, "k2", 2, 3, &body, err, sizeof(err)) == 0 && body.len == 3 &&
           memcmp(body.ptr, "cde", 3) == 0, "read back a range");
    gz_buf_free(&body);
    gz_buf_init(&list, 4096);
    TAP_OK(mig_store_list(&c, NULL, collect, &list, err, sizeof(err)) == 0, "list");
    gz_buf_terminate(&list);
    TAP_OK(strstr(list.ptr, "k1:5:0123456789abcdef0123456789abcdef-3 ") &&
           strstr(list.ptr, "k2:6:") && strstr(list.ptr, "-2 "), "listing: %s", list.ptr);
    gz_buf_free(&list);
    /* quota: a permanent, named failure */
    struct store_quota q = {.max_bytes = -1, .max_objects = 2};
    TAP_OK(store_bucket_quota_set(s, gz_slice_cstr("bk"), &q) == 0, "quota set");
    perm = false;
    TAP_OK(mig_store_put(&c, "k3", &oh, "x", 1, err, sizeof(err), &perm) == GZ_EQUOTA && perm &&
           strcmp(err, "quota exceeded") == 0, "quota exceeded: %s", err);
    TAP_OK(mig_store_delete(&c, "k1", err, sizeof(err)) == 0, "delete");
    TAP_OK(mig_store_put(&c, "k3", &oh, "x", 1, err, sizeof(err), &perm) == 0, "fits again");
    curl_slist_free_all(meta);
    store_close(s);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    TAP_OK(system(cmd) == 0, "cleanup");
}

static void part_cb(void *arg, int part, const char *etag)
{
    struct gz_buf *b = arg;
    gz_buf_appendf(b, "%d=%s ", part, etag);
}

static void t_journal_uploads(void)
{
    char path[] = "/tmp/gzy-test-migrate-XXXXXX", err[256];
    int fd = mkstemp(path);
    close(fd);
    struct mig_journal j;
    TAP_OK(mig_journal_open(&j, path, err, sizeof(err)) == 0, "open: %s", err);
    struct mig_upload_rec u = {.part_size = 5 << 20}, got;
    snprintf(u.upload_id, sizeof(u.upload_id), "up1");
    snprintf(u.src_etag, sizeof(u.src_etag), "abc-2");
    TAP_OK(mig_journal_upload_get(&j, "big", &got) == 0, "no upload yet");
    TAP_OK(mig_journal_upload_put(&j, "big", &u) == 0, "upload put");
    TAP_OK(mig_journal_part_put(&j, "big", 2, "e2") == 0 &&
           mig_journal_part_put(&j, "big", 1, "e1") == 0, "parts put");
    TAP_OK(mig_journal_upload_get(&j, "big", &got) == 1 && strcmp(got.upload_id, "up1") == 0 &&
           strcmp(got.src_etag, "abc-2") == 0 && got.part_size == 5 << 20, "upload get");
    struct gz_buf b;
    gz_buf_init(&b, 1024);
    mig_journal_parts_each(&j, "big", part_cb, &b);
    gz_buf_terminate(&b);
    TAP_OK(strcmp(b.ptr, "1=e1 2=e2 ") == 0, "parts in order: %s", b.ptr);
    TAP_OK(mig_journal_upload_drop(&j, "big") == 0 &&
           mig_journal_upload_get(&j, "big", &got) == 0, "dropped");
    gz_buf_reset(&b);
    mig_journal_parts_each(&j, "big", part_cb, &b);
    TAP_OK(b.len == 0, "parts dropped too");
    gz_buf_free(&b);
    /* storage class, waiting, done extras */
    TAP_OK(mig_journal_begin_pass(&j) == 0, "pass");
    struct mig_entry e = {.key = "cold", .size = 3, .mtime = 1};
    snprintf(e.etag, sizeof(e.etag), "x");
    snprintf(e.storage_class, sizeof(e.storage_class), "GLACIER");
    TAP_OK(mig_journal_add_src(&j, &e) == 0, "add");
    struct gz_mig_stats st = {0};
    TAP_OK(mig_journal_diff(&j, &st) == 0 && st.to_copy == 1, "diff");
    char *key = NULL, etag[80], sc[32];
    int64_t size;
    TAP_OK(mig_journal_claim2(&j, &key, &size, etag, sizeof(etag), sc, sizeof(sc)) == 1 &&
           strcmp(sc, "GLACIER") == 0, "claim gives the class");
    TAP_OK(mig_journal_wait(&j, key, "archived") == 0 && mig_journal_count(&j, "waiting") == 1,
           "waiting");
    TAP_OK(mig_journal_done(&j, key, "y", "sha", "md5", 0) == 0 &&
           mig_journal_done_extra(&j, key, 4, "tags") == 0, "done extra");
    gz_free(key);
    mig_journal_close(&j);
    sqlite3 *db;
    sqlite3_stmt *q;
    sqlite3_open(path, &db);
    sqlite3_prepare_v2(db, "SELECT size, done_etag, not_carried FROM src WHERE key='cold'", -1,
                       &q, NULL);
    TAP_OK(sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int64(q, 0) == 4 &&
           strcmp((const char *)sqlite3_column_text(q, 1), "y") == 0 &&
           strcmp((const char *)sqlite3_column_text(q, 2), "tags") == 0, "row recorded");
    sqlite3_finalize(q);
    sqlite3_close(db);
    unlink(path);
}

static void t_acl_extra_grants(void)
{
    const char *own = "<AccessControlPolicy><Owner><ID>abc</ID></Owner><AccessControlList>"
                      "<Grant><Grantee xsi:type=\"CanonicalUser\"><ID>abc</ID></Grantee>"
                      "<Permission>FULL_CONTROL</Permission></Grant>";
    char doc[1024];
    snprintf(doc, sizeof(doc), "%s</AccessControlList></AccessControlPolicy>", own);
    TAP_OK(!mig_acl_has_extra_grants(doc, strlen(doc)), "owner FULL_CONTROL only: nothing extra");
    snprintf(doc, sizeof(doc), "%s<Grant><Grantee xsi:type=\"Group\"><URI>http://acs.amazonaws"
             ".com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission></Grant>"
             "</AccessControlList></AccessControlPolicy>", own);
    TAP_OK(mig_acl_has_extra_grants(doc, strlen(doc)), "AllUsers READ is an extra grant");
    snprintf(doc, sizeof(doc), "%s<Grant><Grantee><ID>other</ID></Grantee><Permission>WRITE"
             "</Permission></Grant></AccessControlList></AccessControlPolicy>", own);
    TAP_OK(mig_acl_has_extra_grants(doc, strlen(doc)), "another user's grant is extra");
    snprintf(doc, sizeof(doc), "<AccessControlPolicy><Owner><ID>abc</ID></Owner>"
             "<AccessControlList><Grant><Grantee><ID>abc</ID></Grantee><Permission>READ"
             "</Permission></Grant></AccessControlList></AccessControlPolicy>");
    TAP_OK(mig_acl_has_extra_grants(doc, strlen(doc)), "the owner with less than full control");
}

int main(void)
{
    TAP_RUN(t_presets);
    TAP_RUN(t_preset_endpoints);
    TAP_RUN(t_restore);
    TAP_RUN(t_meta_map);
    TAP_RUN(t_diff);
    TAP_RUN(t_verify);
    TAP_RUN(t_journal);
    TAP_RUN(t_client);
    TAP_RUN(t_glob);
    TAP_RUN(t_throttle);
    TAP_RUN(t_verify_more);
    TAP_RUN(t_not_carried);
    TAP_RUN(t_dest_store);
    TAP_RUN(t_journal_uploads);
    TAP_RUN(t_acl_extra_grants);
    return tap_done();
}
