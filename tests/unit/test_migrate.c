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
    TAP_OK(!map(oss, "x-obs-meta-owner", out), "other provider's prefix dropped");
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
    unlink(path);
    char p2[64];
    snprintf(p2, sizeof(p2), "%s-wal", path);
    unlink(p2);
    snprintf(p2, sizeof(p2), "%s-shm", path);
    unlink(p2);
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

int main(void)
{
    TAP_RUN(t_presets);
    TAP_RUN(t_meta_map);
    TAP_RUN(t_diff);
    TAP_RUN(t_verify);
    TAP_RUN(t_journal);
    TAP_RUN(t_client);
    return tap_done();
}
