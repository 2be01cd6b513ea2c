/*
 * audit_recover.c - where the chain continues when a writer opens the log. Only the tail of
 * the newest file is read (AUDIT_TAIL_WINDOW bytes), so opening stays fast however large the
 * log is; full verification is `gzy audit verify`.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit_int.h"

struct tail_scan {
    bool any;             /* at least one complete line */
    bool last_ok;         /* the last complete line is a self-consistent entry */
    int64_t seq, time_ms; /* of that line */
    uint8_t hash[AUDIT_HASH_LEN];
    bool have_good; /* the last self-consistent line in the window */
    int64_t good_seq, good_time_ms;
    uint8_t good_hash[AUDIT_HASH_LEN];
    off_t good_end; /* file offset just after that line */
    int64_t max_seq; /* highest seq any parseable line claims */
    bool partial;    /* the file ends without '\n' */
    off_t partial_off;
    size_t partial_len;
};

static void tail_line(struct audit_hasher *h, const char *p, size_t len, struct tail_scan *t)
{
    struct audit_line l;
    char why[96];
    t->any = true;
    t->last_ok = false;
    if (audit__line_parse(p, len, &l, why, sizeof(why)) < 0)
        return;
    t->max_seq = GZ_MAX(t->max_seq, l.seq);
    if (audit__line_hash_ok(h, p, &l, l.prev)) {
        t->last_ok = t->have_good = true;
        t->seq = t->good_seq = l.seq;
        t->time_ms = t->good_time_ms = l.time_ms;
        memcpy(t->hash, l.hash, AUDIT_HASH_LEN);
        memcpy(t->good_hash, l.hash, AUDIT_HASH_LEN);
    }
    audit__line_free(&l);
}

static int read_at(int fd, char *buf, size_t n, off_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, off + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (int)got;
}

static int tail_scan(const char *path, struct audit_hasher *h, struct tail_scan *t)
{
    struct stat st;
    char *buf = NULL;
    int rc, fd = open(path, O_RDONLY | O_CLOEXEC);
    memset(t, 0, sizeof(*t));
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        goto out;
    }
    off_t off = st.st_size > AUDIT_TAIL_WINDOW ? st.st_size - AUDIT_TAIL_WINDOW : 0;
    buf = gz_malloc(AUDIT_TAIL_WINDOW);
    if ((rc = read_at(fd, buf, (size_t)(st.st_size - off), off)) < 0)
        goto out;
    const char *p = buf, *end = buf + rc;
    if (off > 0) { /* the window starts inside a line: skip to the next one */
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        p = nl ? nl + 1 : end;
    }
    for (;;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL)
            break;
        tail_line(h, p, (size_t)(nl - p), t);
        p = nl + 1;
        if (t->last_ok)
            t->good_end = off + (p - buf);
    }
    if (off > 0 && !t->any) { /* no line end in a whole window: not a log we wrote */
        t->any = true;
        t->last_ok = false;
        t->partial = true;
        t->partial_off = off;
        t->partial_len = (size_t)(end - buf);
    }
    if (p < end && !t->partial) {
        t->partial = true;
        t->partial_off = off + (p - buf);
        t->partial_len = (size_t)(end - p);
    }
    rc = 0;
out:
    gz_free(buf);
    close(fd);
    return rc;
}

/* A torn last line beyond the head is a crash mid-write: cut it. Otherwise it is damage:
 * end it with '\n' so new entries start on their own line, and keep it as evidence. */
static int fix_partial(const char *dir, const char *name, const struct tail_scan *t, bool cut)
{
    char path[4096];
    int rc = audit__path(path, sizeof(path), dir, name);
    if (rc < 0)
        return rc;
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (cut) {
        log_warn("audit: %s: dropping %zu bytes of an unfinished last entry (the process "
                 "stopped while writing it)",
                 name, t->partial_len);
        rc = ftruncate(fd, t->partial_off) < 0 ? -errno : 0;
    } else {
        rc = write(fd, "\n", 1) == 1 ? 0 : -EIO;
    }
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

struct recover_state {
    struct audit_mark base; /* checkpoint, or zeros */
    struct audit_mark head;
    bool have_head;
    int64_t last_seq, last_time_ms, max_seq;
    uint8_t last_hash[AUDIT_HASH_LEN];
    const char *reason;
    char detail[200];
    char where[AUDIT_FILE_NAME_LEN];
};

/* Finds the last complete line, newest file first. *newest gets the newest file's scan. */
static int recover_tail(const char *dir, const struct audit_files *files, struct audit_hasher *h,
                        struct recover_state *s, struct tail_scan *newest)
{
    char path[4096];
    for (size_t k = files->n; k-- > 0;) {
        struct tail_scan t;
        int rc = audit__path(path, sizeof(path), dir, files->names[k]);
        if (rc == 0)
            rc = tail_scan(path, h, &t);
        if (rc < 0)
            return rc;
        if (k == files->n - 1)
            *newest = t;
        if (!t.any)
            continue; /* empty, or only a torn first line: the last entry is further back */
        s->max_seq = GZ_MAX(s->max_seq, t.max_seq);
        if (t.last_ok) {
            s->last_seq = t.seq, s->last_time_ms = t.time_ms;
            memcpy(s->last_hash, t.hash, AUDIT_HASH_LEN);
        } else {
            s->reason = "CorruptTail";
            snprintf(s->detail, sizeof(s->detail), "the last entry of %s fails its check%s",
                     files->names[k], t.have_good ? "" : "; no intact entry near the end");
            snprintf(s->where, sizeof(s->where), "%s", files->names[k]);
            if (t.have_good) {
                s->last_seq = t.good_seq, s->last_time_ms = t.good_time_ms;
                memcpy(s->last_hash, t.good_hash, AUDIT_HASH_LEN);
            }
        }
        break;
    }
    return 0;
}

/* A power loss can leave appended lines that were never fsynced as garbage of the same length:
 * complete lines that fail their check. When they all follow the newest entry head.json vouches
 * for (head.json is written after the entries it names are durable), they are a crash
 * mid-write like a torn last line: cut them back to the last good entry. Anything the head
 * vouches for that fails stays evidence (CorruptTail). */
static int recover_unvouched_tail(const char *dir, const char *newest_name, struct tail_scan *t,
                                  struct recover_state *s)
{
    if (s->reason == NULL || strcmp(s->reason, "CorruptTail") != 0 ||
        strcmp(s->where, newest_name) != 0 || !t->have_good || !s->have_head ||
        s->head.seq > t->good_seq ||
        (s->head.seq == t->good_seq && memcmp(s->head.hash, t->good_hash, AUDIT_HASH_LEN) != 0))
        return 0;
    char path[4096];
    int rc = audit__path(path, sizeof(path), dir, newest_name);
    if (rc < 0)
        return rc;
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    rc = fstat(fd, &st) < 0 ? -errno : 0;
    if (rc == 0) {
        log_warn("audit: %s: dropping %lld bytes after entry %lld that fail their check and "
                 "were never vouched for (written, not yet durable, when the process stopped)",
                 newest_name, (long long)(st.st_size - t->good_end), (long long)t->good_seq);
        rc = ftruncate(fd, t->good_end) < 0 || fsync(fd) < 0 ? -errno : 0;
    }
    close(fd);
    if (rc == 0) {
        s->reason = NULL;
        s->where[0] = '\0';
        t->partial = false; /* cut with the rest */
    }
    return rc;
}

/* Compares the tail with head.json. */
static void recover_check_head(const uint8_t *key, struct recover_state *s)
{
    if (s->reason != NULL)
        return;
    if (!s->have_head) {
        if (s->last_seq > s->base.seq) {
            s->reason = "HeadMissing";
            snprintf(s->detail, sizeof(s->detail),
                     "%s is missing or unreadable; the end of "
                     "the log before this entry cannot be vouched for",
                     AUDIT_HEAD_FILE);
        }
        return;
    }
    if (s->head.seq > s->last_seq) {
        s->reason = "TruncatedTail";
        snprintf(s->detail, sizeof(s->detail),
                 "the log ends at seq %lld but %s records seq "
                 "%lld",
                 (long long)s->last_seq, AUDIT_HEAD_FILE, (long long)s->head.seq);
    } else if (s->head.seq == s->last_seq &&
               memcmp(s->head.hash, s->last_hash, AUDIT_HASH_LEN) != 0) {
        s->reason = "HeadMismatch";
        snprintf(s->detail, sizeof(s->detail), "entry %lld differs from the one %s records",
                 (long long)s->last_seq, AUDIT_HEAD_FILE);
    } else if (key != NULL && s->head.has_mac &&
               !audit__mark_mac_ok(AUDIT_MARK_HEAD, &s->head, key)) {
        s->reason = "HeadSignature";
        snprintf(s->detail, sizeof(s->detail), "%s has a bad signature", AUDIT_HEAD_FILE);
    }
}

static void recover_reset(struct recover_state *s, struct audit_recovery *out)
{
    char hex[AUDIT_HEX_LEN + 1];
    gz_hex_encode(hex, s->last_hash, AUDIT_HASH_LEN);
    out->reset = true;
    out->seq = GZ_MAX(s->max_seq, GZ_MAX(s->last_seq, s->have_head ? s->head.seq : 0));
    snprintf(out->reason, sizeof(out->reason), "%s", s->reason);
    snprintf(out->resource, sizeof(out->resource), "audit/%s",
             s->where[0] ? s->where : out->file_name);
    snprintf(out->reset_json, sizeof(out->reset_json),
             "\"reset\":{\"reason\":\"%s\",\"last_good_seq\":%lld,\"last_good_hash\":\"%s\","
             "\"head_seq\":%lld,\"detail\":\"%s\"}",
             s->reason, (long long)s->last_seq, hex, (long long)(s->have_head ? s->head.seq : 0),
             s->detail);
    log_error("audit: chain broken (%s): %s; continuing after entry %lld with a chain-reset "
              "entry (seq %lld); run `gzy audit verify`",
              s->reason, s->detail, (long long)s->last_seq, (long long)out->seq + 1);
}

int audit__recover(const char *dir, const uint8_t *key, struct audit_hasher *h,
                   struct audit_recovery *out)
{
    struct recover_state s;
    struct audit_files files = {0};
    int rc;
    memset(out, 0, sizeof(*out));
    memset(&s, 0, sizeof(s));
    out->file_day = -1;
    rc = audit__mark_read(dir, AUDIT_MARK_CHECKPOINT, &s.base);
    if (rc < 0 && rc != -ENOENT)
        log_error("audit: %s/%s is unreadable (%s); `gzy audit verify` will report it", dir,
                  AUDIT_CHECKPOINT_FILE, gz_strerror(rc));
    if (rc < 0)
        memset(&s.base, 0, sizeof(s.base));
    s.have_head = audit__mark_read(dir, AUDIT_MARK_HEAD, &s.head) == 0;
    if (s.have_head && key != NULL && !s.head.has_mac)
        log_warn("audit: %s/%s is not signed (written without a key)", dir, AUDIT_HEAD_FILE);
    s.last_seq = s.max_seq = s.base.seq;
    s.last_time_ms = s.base.time_ms;
    memcpy(s.last_hash, s.base.hash, AUDIT_HASH_LEN);
    if ((rc = audit__files_list(dir, &files)) < 0)
        goto out;
    if (files.n > 0) {
        memcpy(out->file_name, files.names[files.n - 1], AUDIT_FILE_NAME_LEN);
        out->file_day = audit__file_day(out->file_name);
    }
    struct tail_scan newest = {0};
    if ((rc = recover_tail(dir, &files, h, &s, &newest)) < 0)
        goto out;
    if (files.n > 0 && (rc = recover_unvouched_tail(dir, out->file_name, &newest, &s)) < 0)
        goto out;
    recover_check_head(key, &s);
    if (newest.partial) {
        /* Cut only a torn line the head does not vouch for; anything else is evidence. */
        bool cut = s.reason == NULL;
        if ((rc = fix_partial(dir, out->file_name, &newest, cut)) < 0)
            goto out;
    }
    out->seq = s.last_seq;
    out->last_time_ms = s.last_time_ms;
    memcpy(out->prev, s.last_hash, AUDIT_HASH_LEN);
    if (s.reason != NULL)
        recover_reset(&s, out);
    else if (s.last_seq > 0)
        log_info("audit: %s continues after entry %lld", dir, (long long)s.last_seq);
out:
    audit__files_free(&files);
    return rc;
}
