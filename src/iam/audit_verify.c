/*
 * audit_verify.c - offline tools over the audit files: verify (walk the whole chain from the
 * signed checkpoint to the signed head), export (JSON lines or CSV, by tenant and time) and
 * prune (retention by whole day files, leaving a signed checkpoint). All are safe while a
 * server appends: they read head.json before the files, and the writer only grows them.
 *
 * Problems are reported by sequence number: the seq that belongs at the first position
 * where the log differs from an intact chain (an edited entry's own seq; for a deleted or
 * moved entry the seq that should be there; for a cut tail the first missing seq).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/file.h>
#include <unistd.h>

#include "audit_int.h"

struct walk {
    struct audit_verify_result *res;
    struct audit_hasher h;
    const uint8_t *key;
    struct audit_mark cp, head;
    bool have_cp, have_head;
    uint8_t running[AUDIT_HASH_LEN];   /* hash of the last intact entry */
    uint8_t tentative[AUDIT_HASH_LEN]; /* after a break: hash of the last self-consistent one */
    int64_t expected;                  /* the seq the next entry must have */
    bool started;                      /* past entries a prune left behind */
    bool in_break;                     /* after a break: looking for a chain-reset to resume */
    char loc[64];                      /* file:line being checked */
    char prev_loc[64];                 /* file:line of the last intact entry */
};

static void problem(struct walk *w, int64_t seq, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(struct walk *w, int64_t seq, const char *fmt, ...)
{
    struct audit_verify_result *r = w->res;
    va_list ap;
    if (r->problems == 0)
        r->bad_seq = seq;
    if (r->problems < AUDIT_VERIFY_MAX_MSGS) {
        va_start(ap, fmt);
        vsnprintf(r->msgs[r->problems], sizeof(r->msgs[0]), fmt, ap);
        va_end(ap);
    }
    r->problems++;
}

static const char *reset_reason(const struct audit_line *l)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(l->json, "reset");
    const cJSON *why = cJSON_GetObjectItemCaseSensitive(r, "reason");
    return cJSON_IsString(why) ? why->valuestring : "unknown";
}

static void walk_accept(struct walk *w, const struct audit_line *l)
{
    struct audit_verify_result *r = w->res;
    memcpy(w->running, l->hash, AUDIT_HASH_LEN);
    w->expected = l->seq + 1;
    if (r->entries++ == 0)
        r->first_seq = l->seq;
    r->last_seq = l->seq;
    r->last_time_ms = l->time_ms;
    memcpy(r->last_hash, l->hash, AUDIT_HASH_LEN);
    snprintf(w->prev_loc, sizeof(w->prev_loc), "%s", w->loc);
}

/* A chain-reset entry that links to the last intact hash lets verification resume. */
static bool walk_try_reset(struct walk *w, const char *p, const struct audit_line *l)
{
    bool links = memcmp(l->prev, w->running, AUDIT_HASH_LEN) == 0 ||
                 (w->in_break && memcmp(l->prev, w->tentative, AUDIT_HASH_LEN) == 0);
    if (!l->is_reset || !links || l->seq < w->expected ||
        !audit__line_hash_ok(&w->h, p, l, l->prev))
        return false;
    if (!w->in_break && l->seq > w->expected)
        problem(w, w->expected,
                "entries %lld..%lld are missing; the writer recorded a chain "
                "reset (%s) at seq %lld (%s)",
                (long long)w->expected, (long long)l->seq - 1, reset_reason(l), (long long)l->seq,
                w->loc);
    else if (!w->in_break)
        problem(w, l->seq, "chain reset (%s) at seq %lld (%s)", reset_reason(l), (long long)l->seq,
                w->loc);
    else
        problem(w, w->res->bad_seq,
                "verification resumes at the chain reset (%s) at seq %lld "
                "(%s)",
                reset_reason(l), (long long)l->seq, w->loc);
    w->in_break = false;
    w->res->resets++;
    walk_accept(w, l);
    return true;
}

/* Entries at or before the checkpoint: left behind by an interrupted prune. */
static bool walk_pruned(struct walk *w, const struct audit_line *l)
{
    if (w->started || !w->have_cp || l->seq > w->cp.seq)
        return false;
    if (l->seq == w->cp.seq && memcmp(l->hash, w->cp.hash, AUDIT_HASH_LEN) != 0)
        problem(w, l->seq, "entry %lld (%s) differs from the one %s records", (long long)l->seq,
                w->loc, AUDIT_CHECKPOINT_FILE);
    return true;
}

/* Checks a line against the chain; true if it is the next intact entry. */
static bool walk_check(struct walk *w, const char *p, const struct audit_line *l)
{
    if (l->seq != w->expected) {
        problem(w, w->expected,
                "seq %lld is missing: %s holds seq %lld (entries deleted or "
                "moved)",
                (long long)w->expected, w->loc, (long long)l->seq);
        return false;
    }
    if (!audit__line_hash_ok(&w->h, p, l, w->running) ||
        memcmp(l->prev, w->running, AUDIT_HASH_LEN) != 0) {
        bool self_ok = audit__line_hash_ok(&w->h, p, l, l->prev);
        if (self_ok && w->res->entries > 0)
            problem(w, l->seq - 1,
                    "seq %lld (%s) was altered: seq %lld's prev does not match "
                    "its hash",
                    (long long)l->seq - 1, w->prev_loc, (long long)l->seq);
        else if (self_ok)
            problem(w, l->seq, "seq %lld (%s) does not link to %s", (long long)l->seq, w->loc,
                    w->have_cp ? "the checkpoint" : "the start of the chain");
        else
            problem(w, l->seq,
                    "seq %lld (%s) was altered: its hash does not match its "
                    "content",
                    (long long)l->seq, w->loc);
        return false;
    }
    walk_accept(w, l);
    if (w->have_head && l->seq == w->head.seq && memcmp(l->hash, w->head.hash, AUDIT_HASH_LEN) != 0)
        problem(w, l->seq, "seq %lld (%s) differs from the one %s records", (long long)l->seq,
                w->loc, AUDIT_HEAD_FILE);
    return true;
}

static void walk_line(struct walk *w, const char *p, size_t len)
{
    struct audit_line l;
    char why[96];
    if (audit__line_parse(p, len, &l, why, sizeof(why)) < 0) {
        if (!w->in_break) {
            problem(w, w->expected, "seq %lld: %s is not an intact entry (%s)",
                    (long long)w->expected, w->loc, why);
            memcpy(w->tentative, w->running, AUDIT_HASH_LEN);
        }
        w->in_break = true;
        return;
    }
    if (walk_pruned(w, &l))
        goto out;
    w->started = true;
    if (walk_try_reset(w, p, &l))
        goto out;
    if (!w->in_break) {
        if (walk_check(w, p, &l))
            goto out;
        w->in_break = true;
        memcpy(w->tentative, w->running, AUDIT_HASH_LEN);
    }
    /* After a break, follow self-consistent entries so a chain reset can be recognised. */
    if (audit__line_hash_ok(&w->h, p, &l, l.prev))
        memcpy(w->tentative, l.hash, AUDIT_HASH_LEN);
out:
    audit__line_free(&l);
}

static int walk_file(struct walk *w, const char *dir, const char *name, bool newest)
{
    struct audit_reader rd;
    char path[4096];
    const char *line;
    size_t len;
    bool partial, overlong;
    int rc = audit__path(path, sizeof(path), dir, name);
    if (rc < 0 || (rc = audit__reader_open(&rd, path)) < 0)
        return rc;
    w->res->files++;
    while ((rc = audit__reader_next(&rd, &line, &len, &partial, &overlong)) > 0) {
        snprintf(w->loc, sizeof(w->loc), "%s:%lld", name, (long long)rd.lineno);
        if (partial && newest)
            break; /* being written right now (or torn by a crash the writer will cut) */
        if (partial || overlong) {
            if (!w->in_break) {
                problem(w, w->expected, "seq %lld: %s is %s", (long long)w->expected, w->loc,
                        partial ? "cut short (no line end)" : "too long to be an entry");
                memcpy(w->tentative, w->running, AUDIT_HASH_LEN);
            }
            w->in_break = true;
            continue;
        }
        walk_line(w, line, len);
    }
    audit__reader_close(&rd);
    return rc;
}

static void walk_marks(struct walk *w, const char *dir, bool check_head)
{
    struct audit_verify_result *r = w->res;
    int rc;
    if (check_head) {
        rc = audit__mark_read(dir, AUDIT_MARK_HEAD, &w->head);
        w->have_head = rc == 0;
        if (rc < 0 && rc != -ENOENT)
            problem(w, 0, "%s is unreadable", AUDIT_HEAD_FILE);
    }
    rc = audit__mark_read(dir, AUDIT_MARK_CHECKPOINT, &w->cp);
    w->have_cp = rc == 0;
    if (rc < 0 && rc != -ENOENT)
        problem(w, 1, "%s is unreadable", AUDIT_CHECKPOINT_FILE);
    if (w->have_cp) {
        if (w->key == NULL)
            snprintf(r->note, sizeof(r->note), "signatures not checked (no key)");
        else if (!audit__mark_mac_ok(AUDIT_MARK_CHECKPOINT, &w->cp, w->key))
            problem(w, w->cp.seq + 1,
                    "%s %s: the entries before seq %lld cannot be vouched "
                    "for",
                    AUDIT_CHECKPOINT_FILE, w->cp.has_mac ? "has a bad signature" : "is not signed",
                    (long long)w->cp.seq + 1);
        memcpy(w->running, w->cp.hash, AUDIT_HASH_LEN);
        w->expected = w->cp.seq + 1;
        r->checkpoint_seq = w->cp.seq;
    } else {
        memset(w->running, 0, AUDIT_HASH_LEN);
        w->expected = 1;
    }
    r->last_seq = w->expected - 1;
    r->last_time_ms = w->have_cp ? w->cp.time_ms : 0;
    memcpy(r->last_hash, w->running, AUDIT_HASH_LEN);
    r->head_seq = w->have_head ? w->head.seq : 0;
}

/* After the last file: does the log reach the head, and is the head genuine? */
static void walk_end(struct walk *w)
{
    struct audit_verify_result *r = w->res;
    int64_t end = w->expected - 1;
    if (!w->have_head) {
        if (r->entries > 0)
            problem(w, end + 1, "%s is missing: the end of the log cannot be checked",
                    AUDIT_HEAD_FILE);
        return;
    }
    if (w->head.seq > end && !w->in_break)
        problem(w, end + 1,
                "the log is cut short: it ends at seq %lld%s%s%s but %s records "
                "seq %lld",
                (long long)end, r->entries ? " (" : "", r->entries ? w->prev_loc : "",
                r->entries ? ")" : "", AUDIT_HEAD_FILE, (long long)w->head.seq);
    if (w->key != NULL && !audit__mark_mac_ok(AUDIT_MARK_HEAD, &w->head, w->key))
        problem(w, w->head.seq, "%s %s", AUDIT_HEAD_FILE,
                w->head.has_mac ? "has a bad signature" : "is not signed");
}

int audit__verify_run(const char *dir, const uint8_t *hmac_key, const char *last, bool check_head,
                      struct audit_verify_result *res)
{
    struct walk w;
    struct audit_files files = {0};
    int rc;
    memset(res, 0, sizeof(*res));
    memset(&w, 0, sizeof(w));
    w.res = res;
    w.key = hmac_key;
    if ((rc = audit__hasher_init(&w.h)) < 0)
        return rc;
    walk_marks(&w, dir, check_head && last == NULL); /* head first: files only grow after */
    if ((rc = audit__files_list(dir, &files)) < 0)
        goto out;
    for (size_t i = 0; i < files.n; i++) {
        if (last != NULL && strcmp(files.names[i], last) > 0)
            break;
        if ((rc = walk_file(&w, dir, files.names[i], last == NULL && i == files.n - 1)) < 0)
            goto out;
    }
    if (check_head && last == NULL)
        walk_end(&w);
    rc = 0;
out:
    audit__files_free(&files);
    audit__hasher_free(&w.h);
    return rc;
}

/* ---- verify ---- */

static void verify_print(FILE *out, const struct audit_verify_result *r)
{
    if (out == NULL)
        return;
    if (r->problems == 0) {
        fprintf(out,
                "audit: OK: %lld entries (seq %lld..%lld) in %lld files, chain intact; "
                "checkpoint seq %lld, head seq %lld%s%s\n",
                (long long)r->entries, (long long)r->first_seq, (long long)r->last_seq,
                (long long)r->files, (long long)r->checkpoint_seq, (long long)r->head_seq,
                r->note[0] ? "; " : "", r->note);
        return;
    }
    fprintf(out, "audit: BROKEN at seq %lld: %s (%d problem%s, %lld entries checked)\n",
            (long long)r->bad_seq, r->msgs[0], r->problems, r->problems == 1 ? "" : "s",
            (long long)r->entries);
    for (int i = 1; i < r->problems && i < AUDIT_VERIFY_MAX_MSGS; i++)
        fprintf(out, "  then: %s\n", r->msgs[i]);
}

int audit_verify(const char *dir, const uint8_t *hmac_key, FILE *out, int64_t *bad_seq, char *msg,
                 size_t msgsz)
{
    struct audit_verify_result *r = gz_calloc(1, sizeof(*r));
    struct audit_mark before, after;
    int rc = 0;
    for (int attempt = 0; attempt < 3; attempt++) {
        int b = audit__mark_read(dir, AUDIT_MARK_CHECKPOINT, &before);
        if ((rc = audit__verify_run(dir, hmac_key, NULL, true, r)) < 0 || r->problems == 0)
            break;
        /* A prune between reading the checkpoint and the files looks like a gap: retry. */
        int a = audit__mark_read(dir, AUDIT_MARK_CHECKPOINT, &after);
        if (a == b && (a < 0 || after.seq == before.seq))
            break;
    }
    if (bad_seq != NULL)
        *bad_seq = rc == 0 ? r->bad_seq : 0;
    if (msg != NULL && msgsz > 0)
        snprintf(msg, msgsz, "%s", rc < 0 ? gz_strerror(rc) : r->problems ? r->msgs[0] : "");
    if (rc == 0)
        verify_print(out, r);
    if (rc == 0 && r->problems > 0)
        rc = GZ_ECORRUPT;
    gz_free(r);
    return rc;
}

/* ---- export ---- */

/* RFC 4180 quoting; text a spreadsheet would run as a formula gets a leading '. */
static void csv_field(FILE *out, const char *s, bool first)
{
    bool formula =
        s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r';
    bool quote = formula || strpbrk(s, ",\"\r\n") != NULL || s[0] == ' ' ||
                 (s[0] && s[strlen(s) - 1] == ' ');
    if (!first)
        fputc(',', out);
    if (!quote) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    if (formula)
        fputc('\'', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

static const char *const csv_columns[] = {
    "seq",      "time",    "request_id", "principal",  "user",  "tenant", "source", "action",
    "resource", "outcome", "status",     "error_code", "bytes", "alg",    "prev",   "hash",
};

static void csv_row(FILE *out, const cJSON *o)
{
    for (size_t i = 0; i < GZ_ARRAY_LEN(csv_columns); i++) {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, csv_columns[i]);
        char num[32];
        if (cJSON_IsNumber(it)) {
            snprintf(num, sizeof(num), "%lld", (long long)it->valuedouble);
            csv_field(out, num, i == 0);
        } else {
            csv_field(out, cJSON_IsString(it) ? it->valuestring : "", i == 0);
        }
    }
    fputs("\r\n", out);
}

static int export_file(const char *dir, const char *name, const char *tenant, int64_t from_ms,
                       int64_t to_ms, bool csv, FILE *out)
{
    struct audit_reader rd;
    struct audit_line l;
    char path[4096], why[96];
    const char *line;
    size_t len;
    bool partial, overlong;
    int rc = audit__path(path, sizeof(path), dir, name);
    if (rc < 0 || (rc = audit__reader_open(&rd, path)) < 0)
        return rc == -ENOENT ? 0 : rc; /* pruned meanwhile */
    while ((rc = audit__reader_next(&rd, &line, &len, &partial, &overlong)) > 0) {
        if (partial || overlong || audit__line_parse(line, len, &l, why, sizeof(why)) < 0)
            continue; /* export what is readable; integrity is verify's job */
        bool keep = (tenant == NULL || strcmp(l.tenant, tenant) == 0) && l.time_ms >= from_ms &&
                    (to_ms <= 0 || l.time_ms < to_ms);
        if (keep && csv)
            csv_row(out, l.json);
        else if (keep && (fwrite(line, 1, len, out) != len || fputc('\n', out) == EOF))
            rc = -EIO;
        audit__line_free(&l);
        if (rc < 0)
            break;
    }
    audit__reader_close(&rd);
    return rc;
}

int audit_export(const char *dir, const char *tenant, int64_t from_ms, int64_t to_ms,
                 const char *format, FILE *out)
{
    struct audit_files files = {0};
    bool csv;
    int rc;
    if (format == NULL || strcmp(format, "jsonl") == 0)
        csv = false;
    else if (strcmp(format, "csv") == 0)
        csv = true;
    else
        return -EINVAL;
    if ((rc = audit__files_list(dir, &files)) < 0)
        return rc;
    if (csv) {
        for (size_t i = 0; i < GZ_ARRAY_LEN(csv_columns); i++)
            csv_field(out, csv_columns[i], i == 0);
        fputs("\r\n", out);
    }
    for (size_t i = 0; i < files.n && rc == 0; i++) {
        /* A file holds no entry later than the end of its day (the writer never goes back). */
        if (from_ms > 0 && (audit__file_day(files.names[i]) + 1) * AUDIT_DAY_MS <= from_ms)
            continue;
        rc = export_file(dir, files.names[i], tenant, from_ms, to_ms, csv, out);
    }
    audit__files_free(&files);
    if (rc == 0 && fflush(out) != 0)
        rc = -EIO;
    return rc;
}

/* ---- prune ---- */

static int prune_lock(const char *dir)
{
    char path[4096];
    int rc = audit__path(path, sizeof(path), dir, AUDIT_PRUNE_LOCK);
    if (rc < 0)
        return rc;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    if (flock(fd, LOCK_EX) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

/* Verifies files[0..k), signs a checkpoint at their last entry, then deletes them. */
static int prune_files(const char *dir, const struct audit_files *files, size_t k,
                       const uint8_t *key, int64_t now_ms)
{
    struct audit_verify_result *r = gz_calloc(1, sizeof(*r));
    char path[4096];
    int rc = audit__verify_run(dir, key, files->names[k - 1], false, r);
    if (rc == 0 && r->problems > 0) {
        log_error("audit: not pruning %s..%s: they fail verification (seq %lld: %s); an "
                  "audit log that fails verification is evidence and is kept",
                  files->names[0], files->names[k - 1], (long long)r->bad_seq, r->msgs[0]);
        rc = GZ_ECORRUPT;
    }
    if (rc < 0)
        goto out;
    struct audit_mark cp = {.seq = r->last_seq, .time_ms = r->last_time_ms, .created_ms = now_ms};
    memcpy(cp.hash, r->last_hash, AUDIT_HASH_LEN);
    memcpy(cp.file, files->names[k - 1], sizeof(cp.file));
    if ((rc = audit__mark_write(dir, AUDIT_MARK_CHECKPOINT, &cp, key)) < 0)
        goto out;
    for (size_t i = 0; i < k && rc == 0; i++) {
        if ((rc = audit__path(path, sizeof(path), dir, files->names[i])) == 0 && unlink(path) < 0 &&
            errno != ENOENT)
            rc = -errno;
    }
    if (rc == 0)
        rc = audit__fsync_dir(dir);
    if (rc == 0)
        log_info("audit: pruned %s..%s (through seq %lld); checkpoint signed", files->names[0],
                 files->names[k - 1], (long long)cp.seq);
out:
    gz_free(r);
    return rc;
}

int audit_prune(const char *dir, int retention_days, const uint8_t *hmac_key, int64_t now_ms)
{
    struct audit_files files = {0};
    int rc, lock;
    if (hmac_key == NULL)
        return -EINVAL; /* an unsigned checkpoint would let anyone cut the log's head */
    if (retention_days <= 0)
        retention_days = AUDIT_DEFAULT_RETENTION_DAYS;
    if ((lock = prune_lock(dir)) < 0)
        return lock == -ENOENT ? 0 : lock;
    if ((rc = audit__files_list(dir, &files)) < 0)
        goto out;
    /* Whole days past retention; never the newest file (a writer may be appending to it). */
    int64_t keep_from = now_ms - (int64_t)retention_days * AUDIT_DAY_MS;
    size_t k = 0;
    while (k + 1 < files.n && (audit__file_day(files.names[k]) + 1) * AUDIT_DAY_MS <= keep_from)
        k++;
    if (k > 0)
        rc = prune_files(dir, &files, k, hmac_key, now_ms);
out:
    audit__files_free(&files);
    close(lock);
    return rc;
}
