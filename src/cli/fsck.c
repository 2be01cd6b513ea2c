/*
 * fsck.c - `gzy fsck` and `gzy scrub`: the offline check of a data folder (store_fsck_run in
 * src/store/local/fsck.c does the work; this file parses options and prints the report).
 * Both refuse to run while a server holds the folder: they take the same LOCK.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "../store/store.h"
#include "fsck_cli.h"

#define FSCK_EXIT_CLEAN 0
#define FSCK_EXIT_PROBLEMS 1
#define FSCK_EXIT_ERROR 2
#define SCRUB_DEFAULT_RATE "50M"
#define FSCK_SHOW_MAX 4096 /* escaped bucket/key text */
/* The stored header of an object encrypted at rest (SSE_HEADER, src/s3/sse_int.h): its body
 * is ciphertext, so its MD5 is not the ETag; its block CRCs (over the ciphertext) are checked
 * as for any body, and the AEAD tags check it again when it is read. */
#define FSCK_OPAQUE_HEADER "x-gzy-sse"

struct fsck_cli {
    struct store_fsck_opts o;
    bool json;
    cJSON *problems; /* --json: collected here */
};

static const char *const kind_names[] = {
    [STORE_FSCK_MISSING] = "missing",   [STORE_FSCK_SIZE] = "size",
    [STORE_FSCK_ORPHAN] = "orphan",     [STORE_FSCK_STRAY] = "stray",
    [STORE_FSCK_DANGLING] = "dangling", [STORE_FSCK_LAYOUT] = "layout",
    [STORE_FSCK_REFS] = "refs",         [STORE_FSCK_USAGE] = "usage",
    [STORE_FSCK_CONTENT] = "content",
};

static void fsck_usage(FILE *f, bool scrub)
{
    if (scrub) {
        fprintf(f,
                "usage: gzy scrub --data DIR [--rate RATE] [--json]\n"
                "\n"
                "Reads every stored body at a bounded rate and checks its block CRC32Cs and\n"
                "its ETag (MD5; a multipart ETag from the MD5 of each part; not for bodies\n"
                "encrypted at rest), reporting corrupted objects by bucket/key. RATE is bytes\n"
                "per second with an optional K, M or G (powers of 1024); default %s,\n"
                "0 = unlimited. The server must be stopped.\n"
                "Exit: 0 clean, 1 problems found, 2 could not run.\n",
                SCRUB_DEFAULT_RATE);
        return;
    }
    fprintf(f, "usage: gzy fsck --data DIR [--repair [--repair-drop-missing]] [--no-content]\n"
               "                [--rate RATE] [--json]\n"
               "\n"
               "Checks the index against the files (missing files, sizes, orphans, dangling\n"
               "multipart rows, reference counts of shared files), usage counters against a\n"
               "recount, and every body against its block CRC32Cs and its ETag (MD5; CRCs\n"
               "only for bodies encrypted at rest). The server must be stopped.\n"
               "\n"
               "  --repair               remove orphan files, fix reference counts and usage\n"
               "                         counters, drop rows that nothing can reach\n"
               "  --repair-drop-missing  with --repair: also drop objects and parts whose file\n"
               "                         is missing (each is reported)\n"
               "  --no-content           skip reading the bodies (structure only)\n"
               "  --rate RATE            bound the content reads (bytes/s, K/M/G suffix)\n"
               "  --json                 one JSON document instead of text\n"
               "\n"
               "--data defaults to $GZY_DATA, else ./gzy-data. docs/fsck.md has the details.\n"
               "Exit: 0 clean, 1 problems found (repaired or not), 2 could not run.\n");
}

/* "50M", "1g", "4096", "0": bytes per second (K/M/G are powers of 1024). */
static int parse_rate(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || v < 0)
        return -EINVAL;
    int shift = 0;
    switch (*end) {
    case 'k':
    case 'K':
        shift = 10;
        end++;
        break;
    case 'm':
    case 'M':
        shift = 20;
        end++;
        break;
    case 'g':
    case 'G':
        shift = 30;
        end++;
        break;
    default:
        break;
    }
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end != '\0' || v > (INT64_MAX >> shift))
        return -EINVAL;
    *out = (int64_t)v << shift;
    return 0;
}

static int parse_args(int argc, char **argv, struct fsck_cli *c, bool scrub)
{
    const char *env = getenv("GZY_DATA");
    c->o.data_dir = env && *env ? env : "./gzy-data";
    c->o.structure = !scrub;
    c->o.content = true;
    c->o.opaque_header = FSCK_OPAQUE_HEADER;
    if (scrub && parse_rate(SCRUB_DEFAULT_RATE, &c->o.rate) < 0)
        return -EINVAL;
    for (int i = 0; i < argc; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(opt, "--data") == 0 && val) {
            c->o.data_dir = val;
            i++;
        } else if (strcmp(opt, "--rate") == 0 && val) {
            if (parse_rate(val, &c->o.rate) < 0) {
                fprintf(stderr, "gzy: --rate '%s' is not a rate (e.g. 50M)\n", val);
                return -EINVAL;
            }
            i++;
        } else if (strcmp(opt, "--json") == 0) {
            c->json = true;
        } else if (!scrub && strcmp(opt, "--repair") == 0) {
            c->o.repair = true;
        } else if (!scrub && strcmp(opt, "--repair-drop-missing") == 0) {
            c->o.drop_missing = true;
        } else if (!scrub && strcmp(opt, "--no-content") == 0) {
            c->o.content = false;
        } else {
            fprintf(stderr, "gzy: unknown or incomplete option '%s'\n", opt);
            return -EINVAL;
        }
    }
    if (c->o.drop_missing && !c->o.repair) {
        fprintf(stderr, "gzy: --repair-drop-missing needs --repair\n");
        return -EINVAL;
    }
    return 0;
}

/* Bucket and key bytes as text: verbatim when valid UTF-8 without control characters,
 * else with non-printables as \xNN. */
static void show(char out[FSCK_SHOW_MAX + 1], struct gz_slice s)
{
    bool plain = gz_utf8_valid(s) && s.len <= FSCK_SHOW_MAX;
    for (size_t i = 0; plain && i < s.len; i++) {
        unsigned char ch = ((const unsigned char *)s.ptr)[i];
        plain = ch >= 0x20 && ch != 0x7f;
    }
    if (s.len == 0) {
        out[0] = '\0';
    } else if (plain) {
        memcpy(out, s.ptr, s.len);
        out[s.len] = '\0';
    } else {
        gz_log_escape(out, FSCK_SHOW_MAX + 1, s);
    }
}

static void report_json(struct fsck_cli *c, const struct store_fsck_problem *p, const char *b,
                        const char *k)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", kind_names[p->kind]);
    if (p->bucket.len)
        cJSON_AddStringToObject(o, "bucket", b);
    if (p->key.len)
        cJSON_AddStringToObject(o, p->kind == STORE_FSCK_USAGE ? "owner" : "key", k);
    if (p->upload_id[0])
        cJSON_AddStringToObject(o, "upload_id", p->upload_id);
    if (p->part)
        cJSON_AddNumberToObject(o, "part", p->part);
    if (p->file[0])
        cJSON_AddStringToObject(o, "file", p->file);
    cJSON_AddStringToObject(o, "detail", p->detail);
    cJSON_AddBoolToObject(o, "repaired", p->repaired);
    cJSON_AddItemToArray(c->problems, o);
}

static void on_problem(const struct store_fsck_problem *p, void *ud)
{
    struct fsck_cli *c = ud;
    static char b[FSCK_SHOW_MAX + 1], k[FSCK_SHOW_MAX + 1]; /* one thread: the CLI's */
    show(b, p->bucket);
    show(k, p->key);
    if (c->json) {
        report_json(c, p, b, k);
        return;
    }
    printf("%-9s", kind_names[p->kind]);
    if (p->kind == STORE_FSCK_USAGE)
        printf(" %s%s", p->bucket.len ? "bucket " : "owner ", p->bucket.len ? b : k);
    else if (p->bucket.len || p->key.len)
        printf(" %s/%s", p->bucket.len ? b : "?", k);
    if (p->upload_id[0])
        printf(" upload %s", p->upload_id);
    if (p->part)
        printf(" part %d", p->part);
    if (p->file[0])
        printf(" %s", p->file);
    printf(": %s%s\n", p->detail, p->repaired ? " [repaired]" : "");
}

static void print_json(const struct fsck_cli *c, const struct store_fsck_stats *st, cJSON *arr)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "data", c->o.data_dir);
    cJSON_AddBoolToObject(doc, "clean", st->problems == 0);
    cJSON_AddItemToObject(doc, "problems", arr);
    cJSON *s = cJSON_AddObjectToObject(doc, "stats");
    cJSON_AddNumberToObject(s, "buckets", (double)st->buckets);
    cJSON_AddNumberToObject(s, "objects", (double)st->objects);
    cJSON_AddNumberToObject(s, "uploads", (double)st->uploads);
    cJSON_AddNumberToObject(s, "parts", (double)st->parts);
    cJSON_AddNumberToObject(s, "files", (double)st->files);
    cJSON_AddNumberToObject(s, "verified", (double)st->verified);
    cJSON_AddNumberToObject(s, "unverified", (double)st->unverified);
    cJSON_AddNumberToObject(s, "crc_checked", (double)st->crc_checked);
    cJSON_AddNumberToObject(s, "unprotected", (double)st->unprotected);
    cJSON_AddNumberToObject(s, "bytes_read", (double)st->bytes_read);
    cJSON_AddNumberToObject(s, "problems", (double)st->problems);
    cJSON_AddNumberToObject(s, "repaired", (double)st->repaired);
    char *text = cJSON_Print(doc);
    if (text != NULL)
        printf("%s\n", text);
    cJSON_free(text);
    cJSON_Delete(doc);
}

static void print_text(const struct fsck_cli *c, const struct store_fsck_stats *st)
{
    if (c->o.structure)
        printf("%lld buckets, %lld objects, %lld parts, %lld uploads, %lld files checked\n",
               (long long)st->buckets, (long long)st->objects, (long long)st->parts,
               (long long)st->uploads, (long long)st->files);
    if (c->o.content)
        printf("%lld bodies verified against their ETag, %lld against their block CRCs (%.1f MiB"
               " read); %lld not verifiable against the ETag (encrypted at rest, or an ETag that"
               " is no MD5), %lld without CRCs\n",
               (long long)st->verified, (long long)st->crc_checked,
               (double)st->bytes_read / 1048576.0, (long long)st->unverified,
               (long long)st->unprotected);
    if (st->problems == 0)
        printf("%s: clean\n", c->o.data_dir);
    else
        printf("%s: %lld problems, %lld repaired\n", c->o.data_dir, (long long)st->problems,
               (long long)st->repaired);
}

static int fsck_main(int argc, char **argv, bool scrub)
{
    struct fsck_cli c = {0};
    struct store_fsck_stats st;
    const char *cmd = scrub ? "scrub" : "fsck";
    if (argc > 0 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
        fsck_usage(stdout, scrub);
        return FSCK_EXIT_CLEAN;
    }
    if (parse_args(argc, argv, &c, scrub) < 0) {
        fsck_usage(stderr, scrub);
        return FSCK_EXIT_ERROR;
    }
    c.o.report = on_problem;
    c.o.ud = &c;
    if (c.json)
        c.problems = cJSON_CreateArray();
    int rc = store_fsck_run(&c.o, &st);
    if (rc < 0) {
        cJSON_Delete(c.problems);
        if (rc == -EBUSY)
            fprintf(stderr, "gzy %s: %s is in use (a server holds its LOCK); stop it first\n", cmd,
                    c.o.data_dir);
        else if (rc == -ENOENT)
            fprintf(stderr, "gzy %s: %s is not a gzy data folder (no index.db)\n", cmd,
                    c.o.data_dir);
        else
            fprintf(stderr, "gzy %s: cannot check %s: %s\n", cmd, c.o.data_dir, gz_strerror(rc));
        return FSCK_EXIT_ERROR;
    }
    if (c.json)
        print_json(&c, &st, c.problems);
    else
        print_text(&c, &st);
    return st.problems ? FSCK_EXIT_PROBLEMS : FSCK_EXIT_CLEAN;
}

int gz_cmd_fsck(int argc, char **argv)
{
    return fsck_main(argc, argv, false);
}

int gz_cmd_scrub(int argc, char **argv)
{
    return fsck_main(argc, argv, true);
}
