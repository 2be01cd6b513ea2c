/*
 * test_audit.c - the hash-chained audit log: escaping, append and verify across reopen and
 * day rollover, detection of edited / deleted / reordered / cut entries by sequence number,
 * recovery with chain-reset entries, export filters (JSON lines and CSV), prune with a signed
 * checkpoint, concurrency, a full queue, and the latency an append costs its caller.
 *
 * Set GZ_AUDIT_BENCH=1 for the longer benchmark ("# bench" lines).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iam/audit.h"
#include "iam/audit_int.h"
#include "tap.h"

#define DAY AUDIT_DAY_MS
/* 2024-03-01T00:00:00Z */
#define T0 1709251200000LL

static const uint8_t KEY[32] = "0123456789abcdef0123456789abcdef";
static const uint8_t KEY2[32] = "fedcba9876543210fedcba9876543210";

/* ---- helpers ---- */

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static char *tmpdir_new(void)
{
    char tmpl[] = "/tmp/gzaudit.XXXXXX";
    if (mkdtemp(tmpl) == NULL) {
        perror("mkdtemp");
        exit(1);
    }
    return gz_strdup(tmpl);
}

static void tmpdir_free(char *d)
{
    nftw(d, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    gz_free(d);
}

static struct audit *open_log(const char *dir, const char *alg, const uint8_t *key)
{
    /* Long retention: the background pruner must not touch the 2024 test entries. */
    struct audit_config cfg = {.dir = dir, .alg = alg, .hmac_key = key, .retention_days = 36500};
    struct audit *a = NULL;
    int rc = audit_open(&cfg, &a);
    if (rc != 0) {
        printf("# audit_open(%s): %s\n", dir, gz_strerror(rc));
        exit(1);
    }
    return a;
}

static void append_n(struct audit *a, int n, const char *tenant, int64_t time_ms, int64_t step)
{
    char rid[32], res[64];
    for (int i = 0; i < n; i++) {
        snprintf(rid, sizeof(rid), "req-%d", i);
        snprintf(res, sizeof(res), "bucket/key-%d", i);
        struct audit_entry e = {.time_ms = time_ms ? time_ms + i * step : 0,
                                .request_id = rid,
                                .principal = "AKIDEXAMPLE",
                                .user = "alice",
                                .tenant = tenant,
                                .source = "127.0.0.1:5555",
                                .action = "s3:PutObject",
                                .resource = res,
                                .outcome = "allow",
                                .status = 200,
                                .bytes = 100 + i};
        audit_append(a, &e);
    }
}

/* Creates a log of n entries (times T0 + i seconds) in one file; returns its path. */
static void make_log(const char *dir, int n, const uint8_t *key)
{
    struct audit *a = open_log(dir, NULL, key);
    append_n(a, n, "acme", T0, 1000);
    audit_close(a);
}

static int verify(const char *dir, const uint8_t *key, int64_t *bad, char *msg, size_t msgsz)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    int rc = audit_verify(dir, key, out, bad, msg, msgsz);
    fclose(out);
    printf("# %s", buf);
    free(buf); /* allocated by open_memstream */
    return rc;
}

static char *file_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = gz_malloc((size_t)n + 1);
    *len = fread(p, 1, (size_t)n, f);
    p[*len] = '\0';
    fclose(f);
    return p;
}

static void file_write(const char *path, const char *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    fwrite(p, 1, n, f);
    fclose(f);
}

/* The lines of a file, split in place (each NUL-terminated, without '\n'). */
struct lines {
    char *text;
    char *v[40000];
    int n;
};

static struct lines *lines_read(const char *path)
{
    struct lines *l = gz_calloc(1, sizeof(*l));
    size_t len;
    l->text = file_read(path, &len);
    for (char *p = l->text; p && *p && l->n < 40000;) {
        char *nl = strchr(p, '\n');
        l->v[l->n++] = p;
        if (nl == NULL)
            break;
        *nl = '\0';
        p = nl + 1;
    }
    return l;
}

/* All files' lines, in chain order. */
static struct lines *lines_read_all(const char *dir)
{
    struct audit_files f;
    struct gz_buf b;
    char path[4200];
    size_t len;
    gz_buf_init(&b, 1 << 30);
    audit__files_list(dir, &f);
    for (size_t i = 0; i < f.n; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, f.names[i]);
        char *t = file_read(path, &len);
        gz_buf_append(&b, t, len);
        gz_free(t);
    }
    audit__files_free(&f);
    char tmp[] = "/tmp/gzaudit-all.XXXXXX";
    int fd = mkstemp(tmp);
    close(fd);
    file_write(tmp, b.ptr ? b.ptr : "", b.len);
    gz_buf_free(&b);
    struct lines *l = lines_read(tmp);
    unlink(tmp);
    return l;
}

static void lines_write(const char *path, struct lines *l)
{
    FILE *f = fopen(path, "wb");
    for (int i = 0; i < l->n; i++)
        if (l->v[i] != NULL)
            fprintf(f, "%s\n", l->v[i]);
    fclose(f);
}

static void lines_free(struct lines *l)
{
    gz_free(l->text);
    gz_free(l);
}

static void day_path(char *out, size_t n, const char *dir, int64_t ms)
{
    char name[AUDIT_FILE_NAME_LEN];
    audit__file_name(ms / DAY, name);
    snprintf(out, n, "%s/%s", dir, name);
}

static int count_files(const char *dir)
{
    struct audit_files f;
    audit__files_list(dir, &f);
    int n = (int)f.n;
    audit__files_free(&f);
    return n;
}

/* Recomputes line's hash field after an edit, as a forger without the key would. */
static void rehash(char *line, const uint8_t prev[32])
{
    struct audit_hasher h;
    struct audit_line l;
    char why[96], hex[65];
    uint8_t out[32];
    audit__hasher_init(&h);
    size_t len = strlen(line);
    size_t canon = len - AUDIT_HASH_SUFFIX_LEN;
    audit__entry_hash(&h, "SM3", prev, line, canon, out);
    gz_hex_encode(hex, out, 32);
    memcpy(line + canon + sizeof(AUDIT_HASH_FIELD) - 1, hex, 64);
    (void)l;
    (void)why;
    audit__hasher_free(&h);
}

static void line_hash(const char *line, uint8_t out[32])
{
    const char *p = strstr(line, AUDIT_HASH_FIELD) + sizeof(AUDIT_HASH_FIELD) - 1;
    gz_hex_decode(out, 32, gz_slice(p, 64));
}

/* ---- tests ---- */

static void t_format_and_escaping(void)
{
    char *dir = tmpdir_new(), path[4200];
    struct audit *a = open_log(dir, NULL, NULL);
    char big[5000];
    memset(big, 'k', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    struct audit_entry e = {.time_ms = T0 + 1234,
                            .request_id = "r\"1\\",
                            .principal = "a\nb\tc\x01\x7f",
                            .user = "\xe5\xbc\xa0\xe4\xb8\x89",
                            .tenant = "bad\xff\xc3(utf8\xed\xa0\x80",
                            .source = NULL,
                            .action = "s3:PutObject",
                            .resource = big,
                            .outcome = "allow",
                            .status = 200,
                            .error_code = NULL,
                            .bytes = 42};
    audit_append(a, &e);
    char cut[AUDIT_FIELD_MAX + 8];
    memset(cut, 'c', sizeof(cut));
    memcpy(cut + AUDIT_FIELD_MAX - 1, "\xe4\xb8\x89", 3); /* a 3-byte character across the cut */
    cut[sizeof(cut) - 1] = '\0';
    e.user = cut;
    audit_append(a, &e);
    e.user = NULL;
    e.resource = "sep\xe2\x80\xa8x";
    audit_append(a, &e);
    audit_close(a);
    day_path(path, sizeof(path), dir, T0);
    struct lines *l = lines_read(path);
    TAP_OK(l->n == 3, "three lines (%d)", l->n);
    cJSON *o = cJSON_Parse(l->v[0]);
    TAP_OK(o != NULL, "line parses as JSON: %.200s", l->v[0]);
    const char *s;
    s = cJSON_GetObjectItem(o, "request_id")->valuestring;
    TAP_OK(strcmp(s, "r\"1\\") == 0, "quotes and backslashes round-trip");
    s = cJSON_GetObjectItem(o, "principal")->valuestring;
    TAP_OK(strcmp(s, "a\nb\tc\x01\x7f") == 0, "control characters round-trip");
    TAP_OK(strstr(l->v[0], "\"principal\":\"a\\u000ab\\u0009c\\u0001\\u007f\"") != NULL,
           "control characters are escaped on disk");
    s = cJSON_GetObjectItem(o, "user")->valuestring;
    TAP_OK(strcmp(s, "\xe5\xbc\xa0\xe4\xb8\x89") == 0, "valid UTF-8 (Chinese) kept as is");
    TAP_OK(strstr(l->v[0], "\"tenant\":\"bad\\u00ff\\u00c3(utf8\\u00ed\\u00a0\\u0080\"") != NULL,
           "invalid UTF-8 bytes (stray, truncated, surrogate) escaped as \\u00XX");
    s = cJSON_GetObjectItem(o, "source")->valuestring;
    TAP_OK(strcmp(s, "") == 0, "NULL written as empty");
    s = cJSON_GetObjectItem(o, "resource")->valuestring;
    TAP_OK(strlen(s) == AUDIT_FIELD_MAX, "long field cut at %d bytes (%zu)", AUDIT_FIELD_MAX,
           strlen(s));
    TAP_OK(strcmp(cJSON_GetObjectItem(o, "alg")->valuestring, "SM3") == 0, "alg SM3 recorded");
    TAP_OK(strcmp(cJSON_GetObjectItem(o, "time")->valuestring, "2024-03-01T00:00:01.234Z") == 0,
           "time in ISO 8601 with ms");
    TAP_OK(cJSON_GetObjectItem(o, "seq")->valueint == 1 &&
               cJSON_GetObjectItem(o, "bytes")->valueint == 42 &&
               cJSON_GetObjectItem(o, "status")->valueint == 200,
           "seq, bytes and status");
    TAP_OK(strncmp(l->v[0], "{\"seq\":1,\"time\":", 16) == 0, "seq first");
    cJSON_Delete(o);
    TAP_OK(strstr(l->v[2], "sep\\u2028x") != NULL, "U+2028 escaped");
    o = cJSON_Parse(l->v[1]);
    s = o ? cJSON_GetObjectItem(o, "user")->valuestring : "";
    TAP_OK(strlen(s) == AUDIT_FIELD_MAX - 1 && strchr(s, '\\') == NULL &&
               !strstr(l->v[1], "\\u00e4"),
           "a field cut inside a UTF-8 character drops the partial character (%zu)", strlen(s));
    cJSON_Delete(o);
    /* The documented hash: SM3(prev || line without the hash field). */
    uint8_t zero[32] = {0}, want[32], got[32];
    struct audit_hasher h;
    audit__hasher_init(&h);
    size_t canon = strlen(l->v[0]) - AUDIT_HASH_SUFFIX_LEN;
    audit__entry_hash(&h, "SM3", zero, l->v[0], canon, want);
    line_hash(l->v[0], got);
    TAP_OK(memcmp(want, got, 32) == 0, "hash = SM3(zeros || line up to prev + '}')");
    TAP_OK(strstr(l->v[1], "\"prev\":\"") != NULL, "prev present");
    uint8_t prev2[32];
    gz_hex_decode(prev2, 32, gz_slice(strstr(l->v[1], "\"prev\":\"") + 8, 64));
    TAP_OK(memcmp(prev2, got, 32) == 0, "entry 2's prev is entry 1's hash");
    audit__hasher_free(&h);
    lines_free(l);
    int64_t bad = -1;
    char msg[400];
    TAP_OK(verify(dir, NULL, &bad, msg, sizeof(msg)) == 0 && bad == 0, "verifies");
    tmpdir_free(dir);
}

static void t_sm3_vector(void)
{
    /* GB/T 32905-2016 example 1: SM3("abc"). */
    EVP_MD *md = EVP_MD_fetch(NULL, "SM3", NULL);
    uint8_t out[32];
    unsigned n = 0;
    char hex[65];
    EVP_Digest("abc", 3, out, &n, md, NULL);
    gz_hex_encode(hex, out, 32);
    TAP_OK(md != NULL && strcmp(hex, "66c7f0f462eeedd9d1f2d46bdc10e4e2"
                                     "4167c4875cf2f7a2297da02b8f4ba8e0") == 0,
           "OpenSSL SM3 matches the standard's test vector");
    EVP_MD_free(md);
}

static void t_reopen_and_algs(void)
{
    char *dir = tmpdir_new();
    struct audit *a = open_log(dir, NULL, KEY);
    append_n(a, 100, "acme", T0, 10);
    audit_close(a);
    a = open_log(dir, "SHA256", KEY);
    append_n(a, 50, "acme", T0 + 5000, 10);
    audit_flush(a);
    struct audit_stats st;
    audit__stats_get(a, &st);
    TAP_OK(st.durable == 50 && st.appended == 50, "flush: 50 durable (%llu)",
           (unsigned long long)st.durable);
    audit_close(a);
    a = open_log(dir, NULL, KEY);
    append_n(a, 1, "acme", T0 + 9000, 10);
    audit_close(a);
    int64_t bad = -1;
    char msg[400], path[4200];
    TAP_OK(verify(dir, KEY, &bad, msg, sizeof(msg)) == 0, "chain intact across two reopens");
    day_path(path, sizeof(path), dir, T0);
    struct lines *l = lines_read(path);
    TAP_OK(l->n == 151, "151 entries in one day file (%d)", l->n);
    TAP_OK(strstr(l->v[99], "\"alg\":\"SM3\"") && strstr(l->v[100], "\"alg\":\"SHA256\"") &&
               strstr(l->v[150], "\"alg\":\"SM3\""),
           "algorithm recorded per entry (SM3, SHA256, SM3)");
    TAP_OK(strncmp(l->v[150], "{\"seq\":151,", 11) == 0, "seq continues: 151");
    lines_free(l);
    /* head.json is signed */
    struct audit_mark m;
    TAP_OK(audit__mark_read(dir, AUDIT_MARK_HEAD, &m) == 0 && m.seq == 151 && m.has_mac &&
               audit__mark_mac_ok(AUDIT_MARK_HEAD, &m, KEY),
           "head.json records seq 151, signed");
    TAP_OK(verify(dir, KEY2, &bad, msg, sizeof(msg)) == GZ_ECORRUPT && bad == 151,
           "a wrong key fails the head signature (%s)", msg);
    struct audit *b = NULL;
    struct audit_config cfg = {.dir = dir};
    a = open_log(dir, NULL, NULL);
    TAP_OK(audit_open(&cfg, &b) == -EBUSY && b == NULL, "a second writer is refused (EBUSY)");
    audit_close(a);
    cfg.alg = "MD5";
    TAP_OK(audit_open(&cfg, &b) == -EINVAL, "unknown algorithm refused");
    tmpdir_free(dir);
}

static void t_day_rollover(void)
{
    char *dir = tmpdir_new(), p1[4200], p2[4200], p3[4200];
    struct audit *a = open_log(dir, NULL, NULL);
    append_n(a, 10, "acme", T0 + DAY - 5000, 1000); /* crosses midnight after 5 */
    audit_flush(a);
    append_n(a, 3, "acme", T0 + 100, 1); /* late: stays in the newer file */
    audit_close(a);
    a = open_log(dir, NULL, NULL);
    append_n(a, 2, "acme", T0 + 3 * DAY, 1); /* skips a day */
    audit_close(a);
    day_path(p1, sizeof(p1), dir, T0);
    day_path(p2, sizeof(p2), dir, T0 + DAY);
    day_path(p3, sizeof(p3), dir, T0 + 3 * DAY);
    struct lines *l1 = lines_read(p1), *l2 = lines_read(p2), *l3 = lines_read(p3);
    TAP_OK(count_files(dir) == 3, "three day files (%d)", count_files(dir));
    TAP_OK(l1->n == 5 && l2->n == 8 && l3->n == 2, "5 + 8 + 2 entries (%d %d %d)", l1->n, l2->n,
           l3->n);
    TAP_OK(strstr(p1, "audit-20240301.log") && strstr(p2, "audit-20240302.log"),
           "files named by UTC day");
    int64_t bad = -1;
    char msg[400];
    TAP_OK(verify(dir, NULL, &bad, msg, sizeof(msg)) == 0, "chain intact across days");
    lines_free(l1);
    lines_free(l2);
    lines_free(l3);
    /* Deleting a whole day file in the middle is a gap. */
    unlink(p2);
    TAP_OK(verify(dir, NULL, &bad, msg, sizeof(msg)) == GZ_ECORRUPT && bad == 6,
           "a deleted day file: seq 6 named (%s)", msg);
    tmpdir_free(dir);
}

/* Builds a 20-entry log, applies fn to its lines, verifies. */
static int64_t tamper(void (*fn)(struct lines *l), char *msg, size_t msgsz, int *rc)
{
    char *dir = tmpdir_new(), path[4200];
    int64_t bad = -1;
    make_log(dir, 20, NULL);
    day_path(path, sizeof(path), dir, T0);
    struct lines *l = lines_read(path);
    fn(l);
    lines_write(path, l);
    lines_free(l);
    *rc = verify(dir, NULL, &bad, msg, msgsz);
    tmpdir_free(dir);
    return bad;
}

static void edit7(struct lines *l)
{
    char *p = strstr(l->v[6], "\"tenant\":\"acme\"");
    p[10] = 'X';
}

static void edit7_rehash(struct lines *l)
{
    uint8_t prev[32];
    edit7(l);
    line_hash(l->v[5], prev);
    rehash(l->v[6], prev);
}

static void delete7(struct lines *l)
{
    l->v[6] = NULL;
}

static void swap7(struct lines *l)
{
    char *t = l->v[6];
    l->v[6] = l->v[7];
    l->v[7] = t;
}

static void cut3(struct lines *l)
{
    l->n -= 3;
}

static void delete_first(struct lines *l)
{
    l->v[0] = NULL;
}

static void dup5(struct lines *l)
{
    l->v[6] = l->v[5];
}

static void t_tamper_detection(void)
{
    char msg[400];
    int rc;
    int64_t bad;
    bad = tamper(edit7, msg, sizeof(msg), &rc);
    TAP_OK(rc == GZ_ECORRUPT && bad == 7 && strstr(msg, "audit-20240301.log:7"),
           "edited entry: seq 7 at file:7 (%s)", msg);
    bad = tamper(edit7_rehash, msg, sizeof(msg), &rc);
    TAP_OK(rc == GZ_ECORRUPT && bad == 7 && strstr(msg, "audit-20240301.log:7"),
           "edited and re-hashed entry: seq 7 (%s)", msg);
    bad = tamper(delete7, msg, sizeof(msg), &rc);
    TAP_OK(rc == GZ_ECORRUPT && bad == 7 && strstr(msg, "audit-20240301.log:7"),
           "deleted entry: seq 7 (%s)", msg);
    bad = tamper(swap7, msg, sizeof(msg), &rc);
    TAP_OK(rc == GZ_ECORRUPT && bad == 7, "reordered entries: seq 7 (%s)", msg);
    bad = tamper(cut3, msg, sizeof(msg), &rc);
    TAP_OK(rc == GZ_ECORRUPT && bad == 18 && strstr(msg, "cut short"),
           "cut tail: first missing seq 18 (%s)", msg);
    bad = tamper(delete_first, msg, sizeof(msg), &rc);
    TAP_OK(rc == GZ_ECORRUPT && bad == 1, "deleted first entry: seq 1 (%s)", msg);
    bad = tamper(dup5, msg, sizeof(msg), &rc);
    TAP_OK(rc == GZ_ECORRUPT && bad == 7, "duplicated entry: seq 7 (%s)", msg);
}

static void t_head_tamper(void)
{
    char *dir = tmpdir_new(), path[4200], msg[400];
    int64_t bad;
    make_log(dir, 20, KEY);
    snprintf(path, sizeof(path), "%s/head.json", dir);
    unlink(path);
    TAP_OK(verify(dir, KEY, &bad, msg, sizeof(msg)) == GZ_ECORRUPT && bad == 21,
           "missing head.json reported (%s)", msg);
    tmpdir_free(dir);

    /* Cut the tail and rewrite the head without the key: the signature gives it away. */
    dir = tmpdir_new();
    make_log(dir, 20, KEY);
    char p[4200];
    day_path(p, sizeof(p), dir, T0);
    struct lines *l = lines_read(p);
    l->n = 15;
    lines_write(p, l);
    lines_free(l);
    struct audit_mark m;
    audit__mark_read(dir, AUDIT_MARK_HEAD, &m);
    m.seq = 15;
    day_path(p, sizeof(p), dir, T0);
    l = lines_read(p);
    line_hash(l->v[14], m.hash);
    lines_free(l);
    audit__mark_write(dir, AUDIT_MARK_HEAD, &m, KEY2);
    TAP_OK(verify(dir, KEY, &bad, msg, sizeof(msg)) == GZ_ECORRUPT,
           "a cut tail with a forged head is caught by the head signature (%s)", msg);
    TAP_OK(verify(dir, NULL, &bad, msg, sizeof(msg)) == 0,
           "(without the key it cannot be: the signature is what protects the tail)");
    tmpdir_free(dir);
}

static void t_recovery(void)
{
    char *dir = tmpdir_new(), path[4200], msg[400];
    int64_t bad;
    size_t len;
    make_log(dir, 20, NULL);
    day_path(path, sizeof(path), dir, T0);
    /* A torn last line (crash mid-write, beyond the head) is cut silently. */
    char *text = file_read(path, &len);
    FILE *f = fopen(path, "ab");
    fwrite(text, 1, 60, f);
    fclose(f);
    gz_free(text);
    struct audit *a = open_log(dir, NULL, NULL);
    append_n(a, 2, "acme", T0 + 60000, 1);
    audit_close(a);
    TAP_OK(verify(dir, NULL, &bad, msg, sizeof(msg)) == 0,
           "torn tail beyond the head: cut at open, chain intact");

    /* The tail cut behind the writer's back: open records a chain reset. */
    struct lines *l = lines_read(path);
    TAP_OK(l->n == 22, "22 entries (%d)", l->n);
    l->n = 17;
    lines_write(path, l);
    lines_free(l);
    a = open_log(dir, NULL, NULL);
    append_n(a, 3, "acme", T0 + 70000, 1);
    audit_close(a);
    l = lines_read_all(dir); /* the reset is stamped now: it and what follows go to today */
    TAP_OK(l->n == 21 && strstr(l->v[17], "\"action\":\"audit:ChainReset\"") &&
               strncmp(l->v[17], "{\"seq\":23,", 10) == 0 &&
               strstr(l->v[17], "\"reason\":\"TruncatedTail\"") &&
               strstr(l->v[17], "\"last_good_seq\":17"),
           "chain-reset entry: seq 23 after the recorded head 22, names the last good seq 17");
    uint8_t h17[32], prev[32];
    line_hash(l->v[16], h17);
    gz_hex_decode(prev, 32, gz_slice(strstr(l->v[17], "\"prev\":\"") + 8, 64));
    TAP_OK(memcmp(h17, prev, 32) == 0, "the reset links to the last good hash");
    lines_free(l);
    int rc = verify(dir, NULL, &bad, msg, sizeof(msg));
    TAP_OK(rc == GZ_ECORRUPT && bad == 18 && strstr(msg, "18..22") && strstr(msg, "reset"),
           "verify: entries 18..22 missing, reset reported (%s)", msg);

    /* An edited last entry: reset after it; verify names it and resumes. */
    tmpdir_free(dir);
    dir = tmpdir_new();
    make_log(dir, 10, NULL);
    day_path(path, sizeof(path), dir, T0);
    l = lines_read(path);
    edit7(l); /* line 7 */
    char *p = strstr(l->v[9], "\"tenant\":\"acme\"");
    p[10] = 'Y'; /* and the last one */
    lines_write(path, l);
    lines_free(l);
    a = open_log(dir, NULL, NULL);
    append_n(a, 2, "acme", T0 + 80000, 1);
    audit_close(a);
    rc = verify(dir, NULL, &bad, msg, sizeof(msg));
    TAP_OK(rc == GZ_ECORRUPT && bad == 7, "edited entries: first (seq 7) named (%s)", msg);
    l = lines_read_all(dir);
    TAP_OK(l->n == 13 && strstr(l->v[10], "CorruptTail") && strstr(l->v[10], "\"seq\":11"),
           "a CorruptTail reset was recorded as seq 11");
    lines_free(l);
    tmpdir_free(dir);

    /* Complete lines after the head that fail their check: appended, never fsynced, and
     * garbled by a power loss. Cut like a torn line, no reset. */
    dir = tmpdir_new();
    make_log(dir, 8, NULL);
    day_path(path, sizeof(path), dir, T0);
    l = lines_read(path);
    char junk[600];
    snprintf(junk, sizeof(junk), "%s\n", l->v[7]);
    junk[20] ^= 0x5a; /* a garbled copy of the last entry's shape, twice */
    lines_free(l);
    f = fopen(path, "ab");
    fputs(junk, f);
    fputs(junk, f);
    fclose(f);
    a = open_log(dir, NULL, NULL);
    append_n(a, 2, "acme", T0 + 90000, 1);
    audit_close(a);
    l = lines_read_all(dir);
    TAP_OK(l->n == 10 && !strstr(l->v[8], "ChainReset") && strncmp(l->v[8], "{\"seq\":9,", 9) == 0,
           "garbled lines beyond the head: cut, the chain goes on at seq 9 (%d lines)", l->n);
    lines_free(l);
    TAP_OK(verify(dir, NULL, &bad, msg, sizeof(msg)) == 0, "and verifies (%s)", msg);
    tmpdir_free(dir);

    /* A torn line in front of the head (data the head vouched for): kept, reset. */
    dir = tmpdir_new();
    make_log(dir, 5, NULL);
    day_path(path, sizeof(path), dir, T0);
    text = file_read(path, &len);
    char *last = text + len - 2;
    while (last > text && *last != '\n')
        last--;
    file_write(path, text, (size_t)(last - text) + 40); /* entry 5 torn */
    gz_free(text);
    a = open_log(dir, NULL, NULL);
    audit_close(a);
    rc = verify(dir, NULL, &bad, msg, sizeof(msg));
    TAP_OK(rc == GZ_ECORRUPT && bad == 5, "torn entry the head vouched for: seq 5 (%s)", msg);
    tmpdir_free(dir);
}

static void t_export(void)
{
    char *dir = tmpdir_new();
    struct audit *a = open_log(dir, NULL, NULL);
    append_n(a, 10, "acme", T0, 1000);          /* T0 .. T0+9s */
    append_n(a, 5, "globex", T0 + 20000, 1000); /* T0+20s .. */
    append_n(a, 10, "acme", T0 + DAY, 1000);    /* next day */
    struct audit_entry e = {.time_ms = T0 + DAY + 50000,
                            .tenant = "acme",
                            .action = "s3:PutObject",
                            .resource = "b/=HYPERLINK(\"x\"),\"q\"\nline",
                            .outcome = "deny",
                            .status = 403,
                            .error_code = "AccessDenied",
                            .principal = " sp "};
    audit_append(a, &e);
    audit_close(a);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    int rc = audit_export(dir, "acme", T0 + 5000, T0 + DAY + 3000, "jsonl", out);
    fclose(out);
    int n = 0, bad = 0;
    for (char *p = buf; p && *p;) {
        char *nl = strchr(p, '\n');
        *nl = '\0';
        cJSON *o = cJSON_Parse(p);
        if (o == NULL || strcmp(cJSON_GetObjectItem(o, "tenant")->valuestring, "acme") != 0)
            bad++;
        cJSON_Delete(o);
        n++;
        p = nl + 1;
    }
    TAP_OK(rc == 0 && n == 8 && bad == 0, "jsonl: tenant acme in [T0+5s, T0+1d+3s): 8 (%d)", n);
    free(buf);

    out = open_memstream(&buf, &len);
    rc = audit_export(dir, NULL, 0, 0, NULL, out);
    fclose(out);
    n = 0;
    for (char *p = buf; p && (p = strchr(p, '\n')); p++)
        n++;
    TAP_OK(rc == 0 && n == 26, "jsonl: everything: 26 (%d)", n);
    free(buf);

    out = open_memstream(&buf, &len);
    rc = audit_export(dir, "acme", T0 + DAY + 40000, 0, "csv", out);
    fclose(out);
    const char *want_head = "seq,time,request_id,principal,user,tenant,source,action,resource,"
                            "outcome,status,error_code,bytes,alg,prev,hash\r\n";
    TAP_OK(rc == 0 && strncmp(buf, want_head, strlen(want_head)) == 0, "csv header");
    const char *row = buf + strlen(want_head);
    const char *want_row = "26,2024-03-02T00:00:50.000Z,,\" sp \",,acme,,s3:PutObject,"
                           "\"b/=HYPERLINK(\"\"x\"\"),\"\"q\"\"\nline\",deny,403,AccessDenied,"
                           "0,SM3,";
    TAP_OK(strncmp(row, want_row, strlen(want_row)) == 0, "csv row quoted: %.160s", row);
    TAP_OK(strstr(row, "\r\n") == row + strlen(row) - 2, "one row, CRLF");
    free(buf);

    struct audit_entry f = {
        .time_ms = T0 + 2 * DAY, .tenant = "acme", .resource = "=1+2", .action = "-x"};
    a = open_log(dir, NULL, NULL);
    audit_append(a, &f);
    audit_close(a);
    out = open_memstream(&buf, &len);
    rc = audit_export(dir, NULL, T0 + 2 * DAY, 0, "csv", out);
    fclose(out);
    TAP_OK(rc == 0 && strstr(buf, ",\"'-x\",\"'=1+2\",") != NULL,
           "csv: formula-like text prefixed with ' (%s)", buf + strlen(want_head));
    free(buf);
    out = open_memstream(&buf, &len);
    TAP_OK(audit_export(dir, NULL, 0, 0, "xml", out) == -EINVAL, "unknown format: EINVAL");
    fclose(out);
    free(buf);
    tmpdir_free(dir);
}

static void t_prune(void)
{
    char *dir = tmpdir_new(), path[4200], msg[400];
    int64_t bad, now = T0 + 400 * DAY;
    struct audit *a = open_log(dir, NULL, KEY);
    append_n(a, 10, "acme", now - 250 * DAY, 1000);
    append_n(a, 10, "acme", now - 200 * DAY, 1000);
    append_n(a, 10, "acme", now - 181 * DAY, 1000);
    append_n(a, 10, "acme", now - 100 * DAY, 1000);
    append_n(a, 10, "acme", now - 1 * DAY, 1000);
    audit_close(a);
    TAP_OK(count_files(dir) == 5, "five day files");
    TAP_OK(audit_prune(dir, 180, NULL, now) == -EINVAL, "prune needs a key");
    TAP_OK(audit_prune(dir, 0, KEY, now) == 0, "prune (default 180 days)");
    TAP_OK(count_files(dir) == 2, "three files older than 180 days removed (%d left)",
           count_files(dir));
    struct audit_mark cp;
    TAP_OK(audit__mark_read(dir, AUDIT_MARK_CHECKPOINT, &cp) == 0 && cp.seq == 30 && cp.has_mac &&
               audit__mark_mac_ok(AUDIT_MARK_CHECKPOINT, &cp, KEY),
           "checkpoint at seq 30, signed");
    TAP_OK(verify(dir, KEY, &bad, msg, sizeof(msg)) == 0, "verifies from the checkpoint");
    TAP_OK(audit_prune(dir, 180, KEY, now) == 0 && count_files(dir) == 2, "prune idempotent");

    /* Writer continues after a prune. */
    a = open_log(dir, NULL, KEY);
    append_n(a, 5, "acme", now, 1000);
    audit_close(a);
    TAP_OK(verify(dir, KEY, &bad, msg, sizeof(msg)) == 0, "chain continues after prune");

    /* Tampered checkpoint. */
    snprintf(path, sizeof(path), "%s/checkpoint.json", dir);
    size_t len;
    char *text = file_read(path, &len), *p = strstr(text, "\"seq\":30");
    p[7] = '1';
    file_write(path, text, len);
    TAP_OK(verify(dir, KEY, &bad, msg, sizeof(msg)) == GZ_ECORRUPT,
           "checkpoint seq edited: caught (%s)", msg);
    p[7] = '0';
    p = strstr(text, "\"hash\":\"") + 8;
    char orig = p[0];
    p[0] = orig == 'a' ? 'b' : 'a';
    file_write(path, text, len);
    TAP_OK(verify(dir, KEY, &bad, msg, sizeof(msg)) == GZ_ECORRUPT && bad == 31,
           "checkpoint hash edited: seq 31 named (%s)", msg);
    p[0] = orig;
    file_write(path, text, len);
    TAP_OK(verify(dir, KEY2, &bad, msg, sizeof(msg)) == GZ_ECORRUPT && bad == 31,
           "wrong key: checkpoint signature rejected (%s)", msg);
    TAP_OK(verify(dir, KEY, &bad, msg, sizeof(msg)) == 0, "restored: verifies again");
    gz_free(text);

    /* Deleting the oldest remaining file without a checkpoint for it is detected. */
    day_path(path, sizeof(path), dir, now - 100 * DAY);
    char saved[4300];
    snprintf(saved, sizeof(saved), "%s.bak", path);
    rename(path, saved);
    TAP_OK(verify(dir, KEY, &bad, msg, sizeof(msg)) == GZ_ECORRUPT && bad == 31,
           "oldest file removed by hand: seq 31 named (%s)", msg);
    rename(saved, path);

    /* A corrupt file past retention is kept as evidence. */
    struct lines *l = lines_read(path);
    edit7(l);
    lines_write(path, l);
    lines_free(l);
    TAP_OK(audit_prune(dir, 30, KEY, now) == GZ_ECORRUPT && count_files(dir) == 3,
           "prune refuses to delete a log that fails verification");
    tmpdir_free(dir);

    /* An interrupted prune (checkpoint written, files not yet deleted) still verifies. */
    dir = tmpdir_new();
    a = open_log(dir, NULL, KEY);
    append_n(a, 10, "acme", now - 250 * DAY, 1000);
    append_n(a, 10, "acme", now - 1 * DAY, 1000);
    audit_close(a);
    struct audit_mark m = {.seq = 10, .time_ms = now - 250 * DAY + 9000, .created_ms = now};
    day_path(path, sizeof(path), dir, now - 250 * DAY);
    l = lines_read(path);
    line_hash(l->v[9], m.hash);
    lines_free(l);
    snprintf(m.file, sizeof(m.file), "%s", strrchr(path, '/') + 1);
    audit__mark_write(dir, AUDIT_MARK_CHECKPOINT, &m, KEY);
    TAP_OK(verify(dir, KEY, &bad, msg, sizeof(msg)) == 0,
           "checkpoint written, files not yet deleted: verifies");
    TAP_OK(audit_prune(dir, 180, KEY, now) == 0 && count_files(dir) == 1 &&
               verify(dir, KEY, &bad, msg, sizeof(msg)) == 0,
           "prune completes it");
    tmpdir_free(dir);
}

struct worker {
    struct audit *a;
    int n;
    int id;
    double sum_ns, max_ns;
    int64_t *lat;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char rid[32];
    for (int i = 0; i < w->n; i++) {
        snprintf(rid, sizeof(rid), "t%d-%d", w->id, i);
        struct audit_entry e = {.request_id = rid,
                                .principal = "AKIDEXAMPLE",
                                .tenant = "acme",
                                .source = "10.0.0.1:40000",
                                .action = "s3:PutObject",
                                .resource = "photos/2024/img.jpg",
                                .outcome = "allow",
                                .status = 200,
                                .bytes = 1048576};
        int64_t t = gz_monotonic_ns();
        audit_append(w->a, &e);
        int64_t d = gz_monotonic_ns() - t;
        w->sum_ns += (double)d;
        if (d > w->max_ns)
            w->max_ns = (double)d;
        if (w->lat)
            w->lat[i] = d;
    }
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void t_concurrency(void)
{
    char *dir = tmpdir_new(), msg[400];
    int64_t bad;
    struct audit *a = open_log(dir, NULL, NULL);
    struct worker w[4];
    pthread_t tid[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){.a = a, .n = 5000, .id = i};
        pthread_create(&tid[i], NULL, worker_main, &w[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(tid[i], NULL);
    audit_close(a);
    TAP_OK(verify(dir, NULL, &bad, msg, sizeof(msg)) == 0, "4 threads x 5000: chain intact");
    struct audit_files f;
    audit__files_list(dir, &f);
    int total = 0;
    char path[4200];
    for (size_t i = 0; i < f.n; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, f.names[i]);
        struct lines *l = lines_read(path);
        total += l->n;
        lines_free(l);
    }
    audit__files_free(&f);
    TAP_OK(total == 20000, "20000 entries (%d)", total);
    tmpdir_free(dir);
}

static void t_bench(void)
{
    char *dir = tmpdir_new();
    int per = getenv("GZ_AUDIT_BENCH") ? 200000 : 20000;
    struct audit *a = open_log(dir, NULL, NULL);
    struct worker w[2];
    pthread_t tid[2];
    int64_t t0 = gz_monotonic_ns();
    for (int i = 0; i < 2; i++) {
        w[i] = (struct worker){.a = a, .n = per, .id = i};
        w[i].lat = gz_malloc(sizeof(int64_t) * (size_t)per);
        pthread_create(&tid[i], NULL, worker_main, &w[i]);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(tid[i], NULL);
    int64_t t1 = gz_monotonic_ns();
    audit_flush(a);
    int64_t t2 = gz_monotonic_ns();
    struct audit_stats st;
    audit__stats_get(a, &st);
    audit_close(a);
    int64_t *all = gz_malloc(sizeof(int64_t) * (size_t)per * 2);
    memcpy(all, w[0].lat, sizeof(int64_t) * (size_t)per);
    memcpy(all + per, w[1].lat, sizeof(int64_t) * (size_t)per);
    qsort(all, (size_t)per * 2, sizeof(int64_t), cmp_i64);
    double secs = (double)(t2 - t0) / 1e9;
    printf("# bench: 2 threads x %d appends: %.0f appends/s durable (%.3f s incl. final "
           "flush; callers done in %.3f s); %llu fsynced batches (%.0f entries/batch); "
           "%llu full-queue waits\n",
           per, 2.0 * per / secs, secs, (double)(t1 - t0) / 1e9, (unsigned long long)st.batches,
           2.0 * per / (double)(st.batches ? st.batches : 1), (unsigned long long)st.full_waits);
    printf("# bench: per-append latency in the caller: mean %.2f us, p50 %.2f us, p99 %.2f us, "
           "p99.9 %.2f us, max %.1f us\n",
           (w[0].sum_ns + w[1].sum_ns) / (2.0 * per) / 1000.0, (double)all[per] / 1000.0,
           (double)all[(size_t)(per * 2 * 0.99)] / 1000.0,
           (double)all[(size_t)(per * 2 * 0.999)] / 1000.0,
           GZ_MAX(w[0].max_ns, w[1].max_ns) / 1000.0);
    TAP_OK(st.durable == (uint64_t)per * 2, "bench: all %d durable", per * 2);
    gz_free(all);
    gz_free(w[0].lat);
    gz_free(w[1].lat);
    tmpdir_free(dir);
}

static void t_queue_full(void)
{
    char *dir = tmpdir_new(), msg[400];
    int64_t bad;
    struct audit *a = open_log(dir, NULL, NULL);
    audit__writer_pause(a, true);
    struct worker w = {.a = a, .n = AUDIT_QUEUE_MAX + 10, .id = 9};
    pthread_t tid;
    pthread_create(&tid, NULL, worker_main, &w);
    struct audit_stats st;
    for (int i = 0; i < 500; i++) {
        audit__stats_get(a, &st);
        if (st.full_waits > 0)
            break;
        usleep(10000);
    }
    usleep(50000);
    audit__stats_get(a, &st);
    TAP_OK(st.queued == AUDIT_QUEUE_MAX && st.full_waits == 1 && st.appended == AUDIT_QUEUE_MAX &&
               st.durable == 0,
           "queue full: %zu queued, appender waits (%llu waits), nothing dropped", st.queued,
           (unsigned long long)st.full_waits);
    audit__writer_pause(a, false);
    pthread_join(tid, NULL);
    audit_flush(a);
    audit__stats_get(a, &st);
    TAP_OK(st.durable == AUDIT_QUEUE_MAX + 10, "after the writer resumes: all %llu written",
           (unsigned long long)st.durable);
    audit_close(a);
    TAP_OK(verify(dir, NULL, &bad, msg, sizeof(msg)) == 0, "chain intact");
    tmpdir_free(dir);
}

static void t_empty(void)
{
    char *dir = tmpdir_new(), sub[4200], msg[400];
    int64_t bad = -1;
    snprintf(sub, sizeof(sub), "%s/nested/audit", dir);
    struct audit *a = open_log(sub, NULL, KEY);
    audit_close(a);
    TAP_OK(verify(sub, KEY, &bad, msg, sizeof(msg)) == 0 && bad == 0, "empty log verifies");
    audit_append(NULL, NULL);
    audit_flush(NULL);
    audit_close(NULL);
    TAP_OK(1, "NULL-safe");
    tmpdir_free(dir);
}

int main(void)
{
    TAP_RUN(t_sm3_vector);
    TAP_RUN(t_format_and_escaping);
    TAP_RUN(t_reopen_and_algs);
    TAP_RUN(t_day_rollover);
    TAP_RUN(t_tamper_detection);
    TAP_RUN(t_head_tamper);
    TAP_RUN(t_recovery);
    TAP_RUN(t_export);
    TAP_RUN(t_prune);
    TAP_RUN(t_concurrency);
    TAP_RUN(t_queue_full);
    TAP_RUN(t_bench);
    TAP_RUN(t_empty);
    return tap_done();
}
