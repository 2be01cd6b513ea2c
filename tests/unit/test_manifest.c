/*
 * test_manifest.c - the signed evidence manifest (src/migrate/manifest.c): written from a
 * journal, read back and verified; a flipped byte anywhere in the file, a truncated file, a
 * wrong key all fail; the file is one valid JSON document; a large journal streams.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/migrate/evidence.h"
#include "../../src/migrate/migrate_int.h"
#include "tap.h"

static char dir[64];
static const uint8_t seed[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static void path_of(char *out, size_t outsz, const char *name)
{
    snprintf(out, outsz, "%s/%s", dir, name);
}

static void add(struct mig_journal *j, bool src, const char *key, int64_t size, const char *etag)
{
    struct mig_entry e = {.key = (char *)key, .size = size, .mtime = 1700000000};
    snprintf(e.etag, sizeof(e.etag), "%s", etag);
    if (src)
        mig_journal_add_src(j, &e);
    else
        mig_journal_add_dst(j, &e);
}

static const char *const awkward = "dir/\xc3\xbc \"q\"\\\n\t+%..";

/* A pass: 4 verified (one found unchanged at the destination), one failed. */
static void make_journal(const char *path)
{
    struct mig_journal j;
    char err[256];
    unlink(path);
    TAP_OK(mig_journal_open(&j, path, err, sizeof(err)) == 0, "journal: %s", err);
    mig_journal_begin_pass(&j);
    add(&j, true, "a", 1, "0cc175b9c0f1b6a831c399e269772661");
    add(&j, true, awkward, 20, "e1-2");
    add(&j, true, "fails", 5, "x");
    add(&j, true, "kept", 7, "k1");
    add(&j, true, "z", 0, "d41d8cd98f00b204e9800998ecf8427e");
    add(&j, false, "kept", 7, "k1");
    struct gz_mig_stats st = {0};
    mig_journal_diff(&j, &st);
    char *key;
    int64_t size;
    char etag[80];
    uint8_t d[32];
    char hex[65];
    while (mig_journal_claim(&j, &key, &size, etag, sizeof(etag)) == 1) {
        gz_sha256(key, strlen(key), d);
        gz_hex_encode(hex, d, 32);
        if (strcmp(key, "fails") == 0)
            mig_journal_fail(&j, key, "HTTP 403", 1);
        else
            mig_journal_done(&j, key, etag, hex, size == 20 ? "size+sha256" : "md5", 0);
        gz_free(key);
    }
    mig_journal_close(&j);
}

struct seen {
    int n;
    int64_t bytes;
    bool awkward_ok, kept_null, stop_at_2;
};

static int on_entry(void *arg, const struct gz_mig_manifest_entry *e)
{
    struct seen *s = arg;
    s->n++;
    s->bytes += e->size;
    if (strcmp(e->key, awkward) == 0 && e->size == 20 && strcmp(e->method, "size+sha256") == 0 &&
        e->sha256 && strlen(e->sha256) == 64 && strcmp(e->source_etag, "e1-2") == 0)
        s->awkward_ok = true;
    if (strcmp(e->key, "kept") == 0 && !e->sha256 && strcmp(e->method, "existing") == 0)
        s->kept_null = true;
    return s->stop_at_2 && s->n == 2 ? 42 : 0;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *p = gz_malloc(1 << 20);
    *len = fread(p, 1, (1 << 20) - 1, f);
    p[*len] = '\0';
    fclose(f);
    return p;
}

static void spit(const char *path, const char *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (write(fd, p, n) != (ssize_t)n)
        TAP_OK(0, "write %s", path);
    close(fd);
}

static void t_write_read(void)
{
    char jp[128], mp[128], err[512] = "";
    path_of(jp, sizeof(jp), "j.db");
    path_of(mp, sizeof(mp), "m.json");
    make_journal(jp);
    struct gz_mig_endpoint src = {.endpoint = "http://127.0.0.1:9", .bucket = "sb", .prefix = "p/"};
    TAP_OK(gz_migrate_manifest_describe(jp, &src, "db", err, sizeof(err)) == 0, "describe");
    int64_t n = gz_migrate_manifest_write(jp, mp, seed, "job-1", err, sizeof(err));
    TAP_OK(n == 4, "4 objects written (%lld): %s", (long long)n, err);
    uint8_t pub[32];
    TAP_OK(gz_migrate_manifest_pubkey(seed, pub) == 0, "public key");
    struct gz_mig_manifest_info info;
    struct seen s = {0};
    int rc = gz_migrate_manifest_read(mp, pub, &info, on_entry, &s, err, sizeof(err));
    TAP_OK(rc == 0, "verifies: %s", err);
    TAP_OK(s.n == 4 && s.bytes == 28 && info.objects == 4 && info.bytes == 28, "entries %d", s.n);
    TAP_OK(s.awkward_ok, "awkward key round-trips");
    TAP_OK(s.kept_null, "unchanged object: sha256 null, method existing");
    TAP_OK(info.pass == 1 && strcmp(info.label, "job-1") == 0 &&
               strcmp(info.dest_bucket, "db") == 0 && strcmp(info.src_bucket, "sb") == 0 &&
               strcmp(info.src_prefix, "p/") == 0 &&
               strcmp(info.src_endpoint, "http://127.0.0.1:9") == 0,
           "header fields");
    TAP_OK(strlen(info.created) >= 20 && info.created[10] == 'T', "created %s", info.created);
    char pubhex[65];
    gz_hex_encode(pubhex, pub, 32);
    TAP_OK(strcmp(info.public_key, pubhex) == 0, "embedded public key");
    TAP_OK(gz_migrate_manifest_read(mp, NULL, &info, NULL, NULL, err, sizeof(err)) == 0,
           "self-consistent with the embedded key");
    s = (struct seen){.stop_at_2 = true};
    TAP_OK(gz_migrate_manifest_read(mp, pub, &info, on_entry, &s, err, sizeof(err)) == 42 &&
               s.n == 2,
           "callback stops the read");

    uint8_t other_seed[32] = {9}, other[32];
    gz_migrate_manifest_pubkey(other_seed, other);
    rc = gz_migrate_manifest_read(mp, other, &info, NULL, NULL, err, sizeof(err));
    TAP_OK(rc == GZ_ECORRUPT && strstr(err, "not the trusted key"), "wrong key: %s", err);

    size_t len;
    char *text = slurp(mp, &len);
    cJSON *doc = cJSON_Parse(text);
    cJSON *objs = cJSON_GetObjectItem(doc, "objects");
    TAP_OK(cJSON_GetArraySize(objs) == 4 && cJSON_GetObjectItem(doc, "signature") &&
               cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "counts"), "failed")->valueint == 1,
           "the file is one JSON document");
    TAP_OK(doc && doc->child && strcmp(doc->child->string, "version") == 0, "version first");
    cJSON_Delete(doc);
    gz_free(text);
}

/* Every single-byte change anywhere in the file must fail verification. */
static void t_tamper(void)
{
    char mp[128], tp[128], err[512] = "";
    path_of(mp, sizeof(mp), "m.json");
    path_of(tp, sizeof(tp), "t.json");
    uint8_t pub[32];
    gz_migrate_manifest_pubkey(seed, pub);
    size_t len;
    char *text = slurp(mp, &len);
    TAP_OK(text && len > 500, "manifest of %zu bytes", len);
    size_t passed = 0;
    struct gz_mig_manifest_info info;
    for (size_t i = 0; text && i < len; i++) {
        text[i] ^= 0x01;
        spit(tp, text, len);
        text[i] ^= 0x01;
        if (gz_migrate_manifest_read(tp, pub, &info, NULL, NULL, err, sizeof(err)) == 0) {
            passed++;
            TAP_OK(0, "flipped byte %zu (%c) still verifies", i, text[i]);
        }
    }
    TAP_OK(passed == 0, "all %zu single-byte flips fail", len);
    /* an edited size that keeps the JSON valid: a signature failure, not a parse error */
    char *p = text ? strstr(text, "\"size\":20") : NULL;
    if (p) {
        p[8] = '1';
        spit(tp, text, len);
        p[8] = '0';
    }
    int rc = gz_migrate_manifest_read(tp, pub, &info, NULL, NULL, err, sizeof(err));
    TAP_OK(p && rc == GZ_ECORRUPT, "edited size fails: %s", err);
    /* a changed hash keeps the JSON and counts valid: only the signature catches it */
    p = text ? strstr(text, "\"sha256\":\"") : NULL;
    if (p) {
        char was = p[10];
        p[10] = was == '0' ? '1' : '0';
        spit(tp, text, len);
        p[10] = was;
    }
    rc = gz_migrate_manifest_read(tp, pub, &info, NULL, NULL, err, sizeof(err));
    TAP_OK(p && rc == GZ_ECORRUPT && strstr(err, "signature does not verify"),
           "edited sha256 fails the signature: %s", err);
    spit(tp, text, len - 1);
    TAP_OK(gz_migrate_manifest_read(tp, pub, &info, NULL, NULL, err, sizeof(err)) != 0,
           "truncated by one byte: %s", err);
    char *last = text ? strstr(text, "\"public_key\"") : NULL;
    if (last)
        spit(tp, text, (size_t)(last - text));
    TAP_OK(gz_migrate_manifest_read(tp, pub, &info, NULL, NULL, err, sizeof(err)) != 0,
           "without key and signature: %s", err);
    TAP_OK(gz_migrate_manifest_read("/nonexistent/m.json", pub, &info, NULL, NULL, err,
                                    sizeof(err)) == -ENOENT,
           "missing file");
    gz_free(text);
}

static void t_empty_and_large(void)
{
    char jp[128], mp[128], err[512] = "";
    path_of(jp, sizeof(jp), "big.db");
    path_of(mp, sizeof(mp), "big.json");
    unlink(jp);
    uint8_t pub[32];
    gz_migrate_manifest_pubkey(seed, pub);
    struct mig_journal j;
    TAP_OK(mig_journal_open(&j, jp, err, sizeof(err)) == 0, "journal");
    mig_journal_close(&j);
    struct gz_mig_manifest_info info;
    TAP_OK(gz_migrate_manifest_write(jp, mp, seed, NULL, err, sizeof(err)) == 0, "empty: %s", err);
    TAP_OK(gz_migrate_manifest_read(mp, pub, &info, NULL, NULL, err, sizeof(err)) == 0 &&
               info.objects == 0 && strcmp(info.label, "copy") == 0,
           "empty manifest verifies: %s", err);

    mig_journal_open(&j, jp, err, sizeof(err));
    mig_journal_begin_pass(&j);
    mig_journal_tx(&j, "BEGIN");
    char key[64];
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof(key), "k/%06d", i);
        add(&j, true, key, i, "e");
    }
    mig_journal_tx(&j, "COMMIT");
    struct gz_mig_stats st = {0};
    mig_journal_diff(&j, &st);
    mig_journal_tx(&j, "UPDATE src SET state='verified', done_etag=etag, method='md5',"
                       " sha256='"
                       "0123456789abcdef0123456789abcdef"
                       "0123456789abcdef0123456789abcdef'");
    mig_journal_close(&j);
    int64_t n = gz_migrate_manifest_write(jp, mp, seed, "big", err, sizeof(err));
    TAP_OK(n == 20000, "20000 objects: %s", err);
    struct seen s = {0};
    TAP_OK(gz_migrate_manifest_read(mp, pub, &info, on_entry, &s, err, sizeof(err)) == 0 &&
               s.n == 20000 && info.pass == 1,
           "20000 read back: %s", err);
    TAP_OK(gz_migrate_manifest_write("/nonexistent/j.db", mp, seed, NULL, err, sizeof(err)) < 0,
           "missing journal: %s", err);
}

static void t_classes(void)
{
    TAP_OK(gz_migrate_archive_class("GLACIER") >= 0 && gz_migrate_archive_class("glacier") >= 0,
           "GLACIER");
    TAP_OK(gz_migrate_archive_class("DEEP_ARCHIVE") >= 0, "DEEP_ARCHIVE");
    TAP_OK(gz_migrate_archive_class("Archive") >= 0 && gz_migrate_archive_class("ColdArchive") >= 0,
           "OSS classes");
    TAP_OK(gz_migrate_archive_class("COLD") >= 0 && gz_migrate_archive_class("ARCHIVE") >= 0,
           "OBS / COS");
    TAP_OK(gz_migrate_archive_class("GLACIER_IR") < 0 && gz_migrate_archive_class("") < 0 &&
               gz_migrate_archive_class("STANDARD") < 0 &&
               gz_migrate_archive_class("STANDARD_IA") < 0,
           "not archive");
    TAP_OK(gz_migrate_hist_bucket(0) == 0 && gz_migrate_hist_bucket(4095) == 0 &&
               gz_migrate_hist_bucket(4096) == 1 && gz_migrate_hist_bucket(16383) == 1 &&
               gz_migrate_hist_bucket(16384) == 2 && gz_migrate_hist_bucket(1 << 20) == 5 &&
               gz_migrate_hist_bucket((int64_t)4 << 30) == 11 &&
               gz_migrate_hist_bucket(((int64_t)4 << 30) - 1) == 10 &&
               gz_migrate_hist_bucket(INT64_MAX) == 11,
           "histogram buckets");
    char l[32];
    gz_migrate_hist_label(0, l, sizeof(l));
    TAP_OK(strcmp(l, "<4 KiB") == 0, "label %s", l);
    gz_migrate_hist_label(11, l, sizeof(l));
    TAP_OK(strcmp(l, ">=4 GiB") == 0, "label %s", l);
    gz_migrate_hist_label(5, l, sizeof(l));
    TAP_OK(strcmp(l, "1-4 MiB") == 0, "label %s", l);
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/gzy-test-manifest-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    TAP_RUN(t_write_read);
    TAP_RUN(t_tamper);
    TAP_RUN(t_empty_and_large);
    TAP_RUN(t_classes);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup failed\n");
    return tap_done();
}
