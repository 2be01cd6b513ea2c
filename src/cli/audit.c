/*
 * audit.c - `gzy audit verify|export|prune`: offline tools over DATA/audit (see
 * src/iam/audit.h). They are safe to run while `gzy serve` appends to the same folder.
 * Exit status: 0 success (verify: chain intact), 1 failure (verify: chain broken), 2 usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "../iam/audit.h"
#include "../iam/iam.h"
#include "cli.h"

#define AUDIT_SUBDIR "audit"
#define MASTER_KEY_FILE "master.key" /* for messages; iam owns it */
#define CHECKPOINT_PURPOSE "audit-checkpoint"

struct audit_args {
    const char *data;
    const char *tenant;
    const char *format;
    const char *output;
    int64_t from_ms, to_ms, now_ms;
    int retention_days;
};

static void audit_usage(FILE *f)
{
    fprintf(f,
            "usage: gzy audit <command> [options]\n"
            "\n"
            "  verify --data DIR      check the hash chain of DIR/audit from the signed\n"
            "                         checkpoint to the signed head; names the first broken\n"
            "                         entry by sequence number and file:line (exit 1 if broken)\n"
            "  export --data DIR [--tenant T] [--from ISO] [--to ISO] [--format jsonl|csv]\n"
            "         [--output FILE] entries with from <= time < to (UTC unless the time\n"
            "                         says otherwise; a date alone is its midnight)\n"
            "  prune  --data DIR [--retention-days N]\n"
            "                         delete whole day files older than N days (default %d)\n"
            "                         after verifying them; records a signed checkpoint\n"
            "\n"
            "--data defaults to $GZY_DATA, else ./gzy-data. Signatures use a key derived from\n"
            "DIR/master.key.\n",
            AUDIT_DEFAULT_RETENTION_DAYS);
}

static int num2(const char *s, int *out)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
        return -EINVAL;
    *out = (s[0] - '0') * 10 + (s[1] - '0');
    return 0;
}

/* The time part after 'T': HH:MM[:SS[.fff]] then Z, +HH:MM, -HH:MM or nothing (UTC). */
static int parse_clock(const char *s, struct tm *tm, int64_t *ms, int64_t *offset_ms)
{
    int sign, oh, om;
    if (num2(s, &tm->tm_hour) < 0 || s[2] != ':' || num2(s + 3, &tm->tm_min) < 0)
        return -EINVAL;
    s += 5;
    if (*s == ':') {
        if (num2(s + 1, &tm->tm_sec) < 0)
            return -EINVAL;
        s += 3;
        if (*s == '.') {
            int64_t scale = 100;
            for (s++; *s >= '0' && *s <= '9'; s++, scale /= 10)
                *ms += (*s - '0') * scale;
        }
    }
    if (*s == '\0' || (s[0] == 'Z' && s[1] == '\0'))
        return 0;
    if ((*s != '+' && *s != '-') || num2(s + 1, &oh) < 0 || s[3] != ':' || num2(s + 4, &om) < 0 ||
        s[6] != '\0')
        return -EINVAL;
    sign = *s == '+' ? 1 : -1;
    *offset_ms = sign * ((int64_t)oh * 3600 + (int64_t)om * 60) * 1000;
    return 0;
}

/* ISO 8601: "2024-03-01", "2024-03-01T08:00:00Z", "2024-03-01T16:00:00+08:00", ... */
static int parse_iso(const char *s, int64_t *out)
{
    struct tm tm = {0};
    int64_t ms = 0, offset = 0;
    int y = 0;
    for (int i = 0; i < 4; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        y = y * 10 + (s[i] - '0');
    }
    if (s[4] != '-' || num2(s + 5, &tm.tm_mon) < 0 || s[7] != '-' || num2(s + 8, &tm.tm_mday) < 0)
        return -EINVAL;
    if (s[10] == 'T' || s[10] == ' ') {
        if (parse_clock(s + 11, &tm, &ms, &offset) < 0)
            return -EINVAL;
    } else if (s[10] != '\0') {
        return -EINVAL;
    }
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60)
        return -EINVAL;
    tm.tm_year = y - 1900;
    tm.tm_mon -= 1;
    *out = (int64_t)timegm(&tm) * 1000 + ms - offset;
    return 0;
}

static int parse_days(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 1 || v > 36500)
        return -EINVAL;
    *out = (int)v;
    return 0;
}

static int parse_args(int argc, char **argv, struct audit_args *a)
{
    memset(a, 0, sizeof(*a));
    a->data = getenv("GZY_DATA") && *getenv("GZY_DATA") ? getenv("GZY_DATA") : "./gzy-data";
    a->format = "jsonl";
    for (int i = 0; i < argc; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (val == NULL) {
            fprintf(stderr, "gzy audit: %s needs a value\n", opt);
            return -EINVAL;
        }
        if (strcmp(opt, "--data") == 0)
            a->data = val;
        else if (strcmp(opt, "--tenant") == 0)
            a->tenant = val;
        else if (strcmp(opt, "--format") == 0)
            a->format = val;
        else if (strcmp(opt, "--output") == 0)
            a->output = val;
        else if (strcmp(opt, "--from") == 0)
            rc = parse_iso(val, &a->from_ms);
        else if (strcmp(opt, "--to") == 0)
            rc = parse_iso(val, &a->to_ms);
        else if (strcmp(opt, "--now") == 0) /* for tests: prune as if it were this time */
            rc = parse_iso(val, &a->now_ms);
        else if (strcmp(opt, "--retention-days") == 0)
            rc = parse_days(val, &a->retention_days);
        else {
            fprintf(stderr, "gzy audit: unknown option %s (try gzy audit --help)\n", opt);
            return -EINVAL;
        }
        if (rc < 0) {
            fprintf(stderr, "gzy audit: bad value for %s: '%s'\n", opt, val);
            return rc;
        }
        i++;
    }
    if (strcmp(a->format, "jsonl") != 0 && strcmp(a->format, "csv") != 0) {
        fprintf(stderr, "gzy audit: --format must be jsonl or csv\n");
        return -EINVAL;
    }
    return 0;
}

/* The key that signs the audit head and checkpoints, derived from DATA/master.key as
 * `gzy serve` derives it; -ENOENT without a master key. */
static int checkpoint_key(const char *data, uint8_t key[32])
{
    return iam_master_key_derive(data, CHECKPOINT_PURPOSE, key);
}

static int cmd_verify(const struct audit_args *a, const char *dir)
{
    uint8_t key[32];
    int64_t bad = 0;
    char msg[512];
    int krc = checkpoint_key(a->data, key);
    if (krc < 0 && krc != -ENOENT) {
        fprintf(stderr, "gzy audit: %s/%s: %s\n", a->data, MASTER_KEY_FILE, gz_strerror(krc));
        return 2;
    }
    if (krc == -ENOENT)
        fprintf(stderr,
                "gzy audit: no %s/%s: signatures of the checkpoint and head are not "
                "checked\n",
                a->data, MASTER_KEY_FILE);
    int rc = audit_verify(dir, krc == 0 ? key : NULL, stdout, &bad, msg, sizeof(msg));
    explicit_bzero(key, sizeof(key));
    if (rc == GZ_ECORRUPT)
        return 1;
    if (rc < 0) {
        fprintf(stderr, "gzy audit: cannot verify %s: %s\n", dir, msg);
        return 2;
    }
    return 0;
}

static int cmd_export(const struct audit_args *a, const char *dir)
{
    FILE *out = stdout;
    if (a->output != NULL && (out = fopen(a->output, "w")) == NULL) {
        fprintf(stderr, "gzy audit: cannot write %s: %s\n", a->output, strerror(errno));
        return 1;
    }
    int rc = audit_export(dir, a->tenant, a->from_ms, a->to_ms, a->format, out);
    if (out != stdout && fclose(out) != 0 && rc == 0)
        rc = -EIO;
    if (rc < 0) {
        fprintf(stderr, "gzy audit: export from %s failed: %s\n", dir, gz_strerror(rc));
        return 1;
    }
    return 0;
}

static int cmd_prune(const struct audit_args *a, const char *dir)
{
    uint8_t key[32];
    int rc = checkpoint_key(a->data, key);
    if (rc < 0) {
        fprintf(stderr, "gzy audit: prune needs %s/%s to sign its checkpoint: %s\n", a->data,
                MASTER_KEY_FILE, gz_strerror(rc));
        return 2;
    }
    rc = audit_prune(dir, a->retention_days, key, a->now_ms ? a->now_ms : gz_now_ms());
    explicit_bzero(key, sizeof(key));
    if (rc < 0) {
        fprintf(stderr, "gzy audit: prune of %s failed: %s\n", dir, gz_strerror(rc));
        return 1;
    }
    return 0;
}

int gz_cmd_audit(int argc, char **argv)
{
    struct audit_args a;
    char dir[4096];
    if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0 ||
        strcmp(argv[0], "help") == 0) {
        audit_usage(argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            audit_usage(stdout);
            return 0;
        }
    }
    if (parse_args(argc - 1, argv + 1, &a) < 0)
        return 2;
    snprintf(dir, sizeof(dir), "%s/%s", a.data, AUDIT_SUBDIR);
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "gzy audit: no audit log in %s (%s)\n", a.data,
                stat(dir, &st) < 0 ? strerror(errno) : "not a folder");
        return 2;
    }
    if (strcmp(argv[0], "verify") == 0)
        return cmd_verify(&a, dir);
    if (strcmp(argv[0], "export") == 0)
        return cmd_export(&a, dir);
    if (strcmp(argv[0], "prune") == 0)
        return cmd_prune(&a, dir);
    fprintf(stderr, "gzy audit: unknown command '%s' (try gzy audit --help)\n", argv[0]);
    return 2;
}
