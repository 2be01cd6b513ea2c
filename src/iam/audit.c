/*
 * audit.c - the audit log writer: a bounded queue drained by one writer thread that hashes
 * each entry into the chain, writes batches and fsyncs each batch once (group commit), then
 * rewrites head.json. Callers only format their entry and take a mutex; no disk I/O.
 *
 * Opening continues the chain from the last entry on disk. A torn last line beyond the
 * recorded head (a crash mid-write: never fsynced), or complete lines there that fail their
 * check (a power loss garbling unsynced appends), are cut off. Anything worse (the log ends
 * before the head, an entry the head vouches for fails its hash, the head is missing or its
 * signature is wrong) is logged as an error and recorded: the first new entry is an
 * "audit:ChainReset" entry whose prev is the last intact hash and whose "reset" object says
 * what was found, so the server keeps running and `gzy audit verify` reports the break.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit_int.h"

#define AUDIT_BATCH_MAX 4096
#define AUDIT_WRITE_CHUNK (1024 * 1024) /* write() once this much is formatted */
#define AUDIT_RETRY_MS 1000             /* after a failed write or fsync */
#define AUDIT_CLOSE_RETRIES 5           /* a closing log gives up on a dead disk after this */
#define AUDIT_FULL_LOG_MS 1000          /* how often a blocked appender logs */

struct audit_item {
    char *body; /* `"time":...,"bytes":N[,"reset":{...}]`; gz_malloc'd, owned */
    size_t len;
    int64_t time_ms;
};

struct audit {
    char *dir;
    char alg[8];
    int retention_days;
    bool have_key;
    uint8_t key[AUDIT_HASH_LEN];
    int lock_fd;

    pthread_mutex_t mu;
    pthread_cond_t cv_items; /* the writer waits for entries (or stop) */
    pthread_cond_t cv_space; /* appenders wait for room */
    pthread_cond_t cv_done;  /* flushers wait for durability */
    pthread_cond_t cv_prune; /* the pruner sleeps on it */
    struct audit_item *ring; /* AUDIT_QUEUE_MAX slots */
    size_t ring_head, ring_count;
    uint64_t appended, done, durable, batches, full_waits;
    bool stop, paused;
    pthread_t writer, pruner;
    bool writer_started, pruner_started;

    /* Writer-thread state (also touched by open/close while the writer is not running). */
    struct audit_hasher hasher;
    int fd;
    int64_t file_day; /* day of the file being appended to; -1 none yet */
    char file_name[AUDIT_FILE_NAME_LEN];
    int64_t seq;                  /* of the last entry written */
    uint8_t prev[AUDIT_HASH_LEN]; /* its hash */
    int64_t last_time_ms;
    struct gz_buf out;
    struct audit_item *batch; /* AUDIT_BATCH_MAX */
};

/* ---- formatting an entry (in the caller's thread) ---- */

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 if invalid. */
static size_t utf8_seq_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t len;
    uint32_t cp, min;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, cp = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* Writes s (at most AUDIT_FIELD_MAX input bytes) as a JSON string; out needs 6n + 2. */
static size_t json_escape(char *out, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t n = strnlen((const char *)p, AUDIT_FIELD_MAX), o = 0;
    /* A cut field ends on a character boundary, not inside a UTF-8 sequence. */
    for (size_t k = 0; k < 3 && n == AUDIT_FIELD_MAX - k && (p[n] & 0xC0) == 0x80; k++)
        n--;
    out[o++] = '"';
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        size_t l = utf8_seq_len(p + i, n - i);
        if (l > 1) {
            bool sep = l == 3 && c == 0xE2 && p[i + 1] == 0x80 && (p[i + 2] & 0xFE) == 0xA8;
            if (sep) { /* U+2028/U+2029 break JavaScript string literals */
                memcpy(out + o, p[i + 2] == 0xA8 ? "\\u2028" : "\\u2029", 6);
                o += 6;
            } else {
                memcpy(out + o, p + i, l);
                o += l;
            }
            i += l;
            continue;
        }
        i++;
        if (l == 1 && c >= 0x20 && c != 0x7F && c != '"' && c != '\\') {
            out[o++] = (char)c;
        } else if (l == 1 && (c == '"' || c == '\\')) {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else { /* control character, DEL, or a byte that is not valid UTF-8 */
            memcpy(out + o, "\\u00", 4);
            out[o + 4] = hex[c >> 4];
            out[o + 5] = hex[c & 15];
            o += 6;
        }
    }
    out[o++] = '"';
    return o;
}

static size_t field_bound(const char *s)
{
    return 6 * (s ? strnlen(s, AUDIT_FIELD_MAX) : 0) + 2;
}

/* Formats the entry's fields (no braces) into a new item; extra (already JSON) is appended. */
static void item_format(const struct audit_entry *e, int64_t time_ms, const char *extra,
                        struct audit_item *it)
{
    const char *names[] = {"request_id", "principal", "user",     "tenant",
                           "source",     "action",    "resource", "outcome"};
    const char *vals[] = {e->request_id, e->principal, e->user,     e->tenant,
                          e->source,     e->action,    e->resource, e->outcome};
    size_t cap = 256 + field_bound(e->error_code) + (extra ? strlen(extra) : 0), o = 0;
    for (size_t i = 0; i < GZ_ARRAY_LEN(vals); i++)
        cap += 16 + field_bound(vals[i]);
    char *b = gz_malloc(cap), when[25];
    gz_time_iso8601(time_ms, when);
    o += (size_t)snprintf(b, cap, "\"time\":\"%s\"", when);
    for (size_t i = 0; i < GZ_ARRAY_LEN(vals); i++) {
        o += (size_t)snprintf(b + o, cap - o, ",\"%s\":", names[i]);
        o += json_escape(b + o, vals[i]);
    }
    o += (size_t)snprintf(b + o, cap - o, ",\"status\":%d,\"error_code\":", e->status);
    o += json_escape(b + o, e->error_code);
    o += (size_t)snprintf(b + o, cap - o, ",\"bytes\":%lld%s%s", (long long)e->bytes,
                          extra ? "," : "", extra ? extra : "");
    it->body = gz_realloc(b, o + 1);
    it->len = o;
    it->time_ms = time_ms;
}

/* ---- the queue ---- */

static void queue_push(struct audit *a, struct audit_item *it)
{
    pthread_mutex_lock(&a->mu);
    if (a->ring_count == AUDIT_QUEUE_MAX) {
        /* Never drop an audit record: wait for the writer, saying so if it takes long. */
        a->full_waits++;
        int64_t since = gz_now_ms();
        while (a->ring_count == AUDIT_QUEUE_MAX) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&a->cv_space, &a->mu, &ts);
            if (a->ring_count == AUDIT_QUEUE_MAX && gz_now_ms() - since >= AUDIT_FULL_LOG_MS) {
                log_error("audit: queue full for %lld ms; requests are waiting for the log",
                          (long long)(gz_now_ms() - since));
                since = gz_now_ms();
            }
        }
    }
    a->ring[(a->ring_head + a->ring_count) % AUDIT_QUEUE_MAX] = *it;
    a->ring_count++;
    a->appended++;
    if (a->ring_count == 1)
        pthread_cond_signal(&a->cv_items);
    pthread_mutex_unlock(&a->mu);
}

void audit_append(struct audit *a, const struct audit_entry *e)
{
    struct audit_item it;
    if (a == NULL || e == NULL)
        return;
    item_format(e, e->time_ms > 0 ? e->time_ms : gz_now_ms(), NULL, &it);
    queue_push(a, &it);
}

void audit_flush(struct audit *a)
{
    if (a == NULL)
        return;
    pthread_mutex_lock(&a->mu);
    uint64_t target = a->appended;
    pthread_cond_signal(&a->cv_items);
    while (a->done < target)
        pthread_cond_wait(&a->cv_done, &a->mu);
    pthread_mutex_unlock(&a->mu);
}

/* ---- the writer thread ---- */

static int64_t day_of(int64_t ms)
{
    return (ms >= 0 ? ms : ms - (AUDIT_DAY_MS - 1)) / AUDIT_DAY_MS;
}

/* Moves to the file of day (fsyncing nothing: the previous segment was fsynced). */
static int writer_switch_file(struct audit *a, int64_t day)
{
    char name[AUDIT_FILE_NAME_LEN], path[4096];
    audit__file_name(day, name);
    int rc = audit__path(path, sizeof(path), a->dir, name);
    if (rc < 0)
        return rc;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    if ((rc = audit__fsync_dir(a->dir)) < 0) {
        close(fd);
        return rc;
    }
    if (a->fd >= 0)
        close(a->fd);
    a->fd = fd;
    a->file_day = day;
    memcpy(a->file_name, name, sizeof(name));
    return 0;
}

static size_t u64_format(char *out, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

/* Appends one line: {"seq":N,<body>,"alg":A,"prev":P,"hash":H}\n. Built with memcpy, not
 * printf: this is the single writer thread's inner loop. */
static int writer_format(struct audit *a, const struct audit_item *it)
{
    static const char pre[] = "{\"seq\":", alg[] = ",\"alg\":\"", prev[] = "\",\"prev\":\"";
    uint8_t hash[AUDIT_HASH_LEN];
    size_t alg_len = strlen(a->alg);
    size_t need = sizeof(pre) + 24 + it->len + sizeof(alg) + alg_len + sizeof(prev) +
                  AUDIT_HEX_LEN + AUDIT_HASH_SUFFIX_LEN + 2;
    size_t start = a->out.len;
    /* out is preallocated (audit_new): a chunk plus two maximal lines always fit. */
    if (a->out.cap - a->out.len < need + 1)
        return -E2BIG;
    char *o = a->out.ptr + start;
    memcpy(o, pre, sizeof(pre) - 1), o += sizeof(pre) - 1;
    o += u64_format(o, (uint64_t)a->seq + 1);
    *o++ = ',';
    memcpy(o, it->body, it->len), o += it->len;
    memcpy(o, alg, sizeof(alg) - 1), o += sizeof(alg) - 1;
    memcpy(o, a->alg, alg_len), o += alg_len;
    memcpy(o, prev, sizeof(prev) - 1), o += sizeof(prev) - 1;
    gz_hex_encode(o, a->prev, AUDIT_HASH_LEN), o += AUDIT_HEX_LEN;
    *o++ = '"';
    int rc = audit__entry_hash(&a->hasher, a->alg, a->prev, a->out.ptr + start,
                               (size_t)(o - (a->out.ptr + start)), hash);
    if (rc < 0)
        return rc;
    memcpy(o, AUDIT_HASH_FIELD, sizeof(AUDIT_HASH_FIELD) - 1), o += sizeof(AUDIT_HASH_FIELD) - 1;
    gz_hex_encode(o, hash, AUDIT_HASH_LEN), o += AUDIT_HEX_LEN;
    memcpy(o, "\"}\n", 3), o += 3;
    a->out.len = (size_t)(o - a->out.ptr);
    a->out.ptr[a->out.len] = '\0';
    a->seq++;
    memcpy(a->prev, hash, AUDIT_HASH_LEN);
    a->last_time_ms = it->time_ms;
    return 0;
}

/* Writes items[i..] of one day (up to a chunk) and fsyncs: returns how many, or -errno
 * with the chain state and the file as they were. */
static int writer_segment(struct audit *a, const struct audit_item *items, size_t n, int64_t day)
{
    int64_t seq0 = a->seq, time0 = a->last_time_ms;
    uint8_t prev0[AUDIT_HASH_LEN];
    struct stat st;
    size_t j = 0;
    int rc = 0;
    memcpy(prev0, a->prev, sizeof(prev0));
    gz_buf_reset(&a->out);
    if (fstat(a->fd, &st) < 0)
        return -errno;
    while (j < n && day_of(items[j].time_ms) <= day && a->out.len < AUDIT_WRITE_CHUNK) {
        if ((rc = writer_format(a, &items[j])) < 0)
            break;
        j++;
    }
    if (rc == 0)
        rc = gz_write_all(a->fd, a->out.ptr, a->out.len);
    if (rc == 0 && fdatasync(a->fd) < 0)
        rc = -errno;
    if (rc < 0) {
        if (ftruncate(a->fd, st.st_size) < 0)
            log_error("audit: cannot cut %s back after a failed write: %s", a->file_name,
                      gz_strerror(-errno));
        a->seq = seq0;
        a->last_time_ms = time0;
        memcpy(a->prev, prev0, sizeof(prev0));
        return rc;
    }
    return (int)j;
}

static void writer_head(struct audit *a)
{
    struct audit_mark m = {.seq = a->seq, .time_ms = a->last_time_ms, .created_ms = gz_now_ms()};
    memcpy(m.hash, a->prev, AUDIT_HASH_LEN);
    memcpy(m.file, a->file_name, sizeof(m.file));
    int rc = audit__mark_write(a->dir, AUDIT_MARK_HEAD, &m, a->have_key ? a->key : NULL);
    if (rc < 0)
        log_warn("audit: cannot update %s/%s: %s", a->dir, AUDIT_HEAD_FILE, gz_strerror(rc));
}

static bool writer_stopping(struct audit *a)
{
    pthread_mutex_lock(&a->mu);
    bool stop = a->stop;
    pthread_mutex_unlock(&a->mu);
    return stop;
}

/* Writes a batch, retrying on I/O errors (an audit log does not skip records); a closing
 * log gives up after AUDIT_CLOSE_RETRIES and says how many entries were lost. */
static void writer_batch(struct audit *a, const struct audit_item *items, size_t n)
{
    size_t i = 0;
    int failures = 0;
    while (i < n) {
        int64_t day = GZ_MAX(day_of(items[i].time_ms), a->file_day);
        int rc = 0;
        if (a->fd < 0 || day != a->file_day)
            rc = writer_switch_file(a, day);
        if (rc == 0)
            rc = writer_segment(a, items + i, n - i, day);
        if (rc > 0) {
            i += (size_t)rc;
            failures = 0;
            continue;
        }
        failures++;
        log_error("audit: cannot write %s/%s: %s (retrying)", a->dir,
                  a->fd >= 0 ? a->file_name : "", gz_strerror(rc));
        if (writer_stopping(a) && failures >= AUDIT_CLOSE_RETRIES) {
            log_error("audit: giving up: %zu entries lost", n - i);
            break;
        }
        usleep(AUDIT_RETRY_MS * 1000);
    }
    writer_head(a);
}

static void *writer_main(void *arg)
{
    struct audit *a = arg;
    for (;;) {
        pthread_mutex_lock(&a->mu);
        while ((a->ring_count == 0 || a->paused) && !a->stop)
            pthread_cond_wait(&a->cv_items, &a->mu);
        if (a->ring_count == 0) {
            pthread_mutex_unlock(&a->mu);
            break;
        }
        size_t n = GZ_MIN(a->ring_count, (size_t)AUDIT_BATCH_MAX);
        for (size_t i = 0; i < n; i++)
            a->batch[i] = a->ring[(a->ring_head + i) % AUDIT_QUEUE_MAX];
        a->ring_head = (a->ring_head + n) % AUDIT_QUEUE_MAX;
        a->ring_count -= n;
        pthread_cond_broadcast(&a->cv_space);
        pthread_mutex_unlock(&a->mu);

        uint64_t before = (uint64_t)a->seq;
        writer_batch(a, a->batch, n);
        for (size_t i = 0; i < n; i++)
            gz_free(a->batch[i].body);

        pthread_mutex_lock(&a->mu);
        a->done += n;
        a->durable += (uint64_t)a->seq - before;
        a->batches++;
        pthread_cond_broadcast(&a->cv_done);
        pthread_mutex_unlock(&a->mu);
    }
    return NULL;
}

/* ---- retention, in its own thread (verifying old files must not stall the writer) ---- */

static void *pruner_main(void *arg)
{
    struct audit *a = arg;
    pthread_mutex_lock(&a->mu);
    while (!a->stop) {
        pthread_mutex_unlock(&a->mu);
        int rc = audit_prune(a->dir, a->retention_days, a->key, gz_now_ms());
        if (rc < 0)
            log_error("audit: pruning %s failed: %s", a->dir, gz_strerror(rc));
        pthread_mutex_lock(&a->mu);
        /* Again a minute after the next UTC midnight, when a day file may have expired. */
        int64_t next = (day_of(gz_now_ms()) + 1) * AUDIT_DAY_MS + 60000;
        struct timespec ts = {.tv_sec = (time_t)(next / 1000), .tv_nsec = 0};
        while (!a->stop && gz_now_ms() < next)
            pthread_cond_timedwait(&a->cv_prune, &a->mu, &ts);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* ---- test hooks ---- */

void audit__stats_get(struct audit *a, struct audit_stats *out)
{
    pthread_mutex_lock(&a->mu);
    out->appended = a->appended;
    out->durable = a->durable;
    out->batches = a->batches;
    out->full_waits = a->full_waits;
    out->queued = a->ring_count;
    pthread_mutex_unlock(&a->mu);
}

void audit__writer_pause(struct audit *a, bool paused)
{
    pthread_mutex_lock(&a->mu);
    a->paused = paused;
    pthread_cond_broadcast(&a->cv_items);
    pthread_mutex_unlock(&a->mu);
}

/* ---- open and close ---- */

/* Continues the chain from disk; queues a chain-reset entry if recovery found a break. */
static int audit_recover(struct audit *a)
{
    struct audit_recovery rv;
    int rc = audit__recover(a->dir, a->have_key ? a->key : NULL, &a->hasher, &rv);
    if (rc < 0)
        return rc;
    a->seq = rv.seq;
    memcpy(a->prev, rv.prev, AUDIT_HASH_LEN);
    a->last_time_ms = rv.last_time_ms;
    a->file_day = rv.file_day;
    memcpy(a->file_name, rv.file_name, sizeof(a->file_name));
    if (rv.reset) {
        struct audit_entry e = {.principal = "gzy",
                                .action = AUDIT_RESET_ACTION,
                                .resource = rv.resource,
                                .outcome = "error",
                                .status = 0,
                                .error_code = rv.reason};
        struct audit_item it;
        item_format(&e, gz_now_ms(), rv.reset_json, &it);
        queue_push(a, &it);
    }
    return 0;
}

static int audit_lock(struct audit *a)
{
    char path[4096];
    int rc = audit__path(path, sizeof(path), a->dir, AUDIT_WRITER_LOCK);
    if (rc < 0)
        return rc;
    a->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (a->lock_fd < 0)
        return -errno;
    if (flock(a->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
        log_error("audit: %s is in use by another gzy process", a->dir);
        return rc;
    }
    return 0;
}

static int mkdir_p(const char *dir)
{
    char buf[4096];
    if (snprintf(buf, sizeof(buf), "%s", dir) >= (int)sizeof(buf))
        return -ENAMETOOLONG;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    return mkdir(buf, 0700) < 0 && errno != EEXIST ? -errno : 0;
}

static struct audit *audit_new(const struct audit_config *cfg)
{
    struct audit *a = gz_calloc(1, sizeof(*a));
    a->dir = gz_strdup(cfg->dir);
    snprintf(a->alg, sizeof(a->alg), "%s", cfg->alg ? cfg->alg : "SM3");
    a->retention_days =
        cfg->retention_days > 0 ? cfg->retention_days : AUDIT_DEFAULT_RETENTION_DAYS;
    if (cfg->hmac_key != NULL) {
        a->have_key = true;
        memcpy(a->key, cfg->hmac_key, AUDIT_HASH_LEN);
    }
    a->lock_fd = -1;
    a->fd = -1;
    a->file_day = -1;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv_items, NULL);
    pthread_cond_init(&a->cv_space, NULL);
    pthread_cond_init(&a->cv_done, NULL);
    pthread_cond_init(&a->cv_prune, NULL);
    gz_buf_init(&a->out, AUDIT_WRITE_CHUNK + 2 * AUDIT_LINE_MAX);
    a->out.cap = a->out.max + 1;
    a->out.ptr = gz_malloc(a->out.cap);
    return a;
}

int audit_open(const struct audit_config *cfg, struct audit **out)
{
    struct audit *a = NULL;
    int rc;
    *out = NULL;
    if (cfg == NULL || cfg->dir == NULL || (cfg->alg && !audit__alg_known(cfg->alg)))
        return -EINVAL;
    a = audit_new(cfg);
    if ((rc = audit__hasher_init(&a->hasher)) < 0) {
        log_error("audit: this OpenSSL lacks SM3 or SHA256");
        goto out;
    }
    if ((rc = mkdir_p(a->dir)) < 0 || (rc = audit_lock(a)) < 0)
        goto out;
    a->ring = gz_calloc(AUDIT_QUEUE_MAX, sizeof(*a->ring));
    a->batch = gz_calloc(AUDIT_BATCH_MAX, sizeof(*a->batch));
    if ((rc = audit_recover(a)) < 0)
        goto out;
    if (pthread_create(&a->writer, NULL, writer_main, a) != 0) {
        rc = -EAGAIN;
        goto out;
    }
    a->writer_started = true;
    if (a->have_key && pthread_create(&a->pruner, NULL, pruner_main, a) == 0)
        a->pruner_started = true;
    *out = a;
    a = NULL;
out:
    if (a != NULL)
        log_error("audit: cannot open %s: %s", cfg->dir, gz_strerror(rc));
    audit_close(a);
    return rc;
}

void audit_close(struct audit *a)
{
    if (a == NULL)
        return;
    pthread_mutex_lock(&a->mu);
    a->stop = true;
    a->paused = false;
    pthread_cond_broadcast(&a->cv_items);
    pthread_cond_broadcast(&a->cv_prune);
    pthread_mutex_unlock(&a->mu);
    if (a->writer_started)
        pthread_join(a->writer, NULL);
    if (a->pruner_started)
        pthread_join(a->pruner, NULL);
    for (size_t i = 0; i < a->ring_count; i++) /* only if the writer never started */
        gz_free(a->ring[(a->ring_head + i) % AUDIT_QUEUE_MAX].body);
    if (a->full_waits > 0)
        log_warn("audit: %llu appends waited for a full queue", (unsigned long long)a->full_waits);
    if (a->fd >= 0)
        close(a->fd);
    if (a->lock_fd >= 0)
        close(a->lock_fd); /* releases the flock */
    audit__hasher_free(&a->hasher);
    gz_buf_free(&a->out);
    gz_free(a->ring);
    gz_free(a->batch);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv_items);
    pthread_cond_destroy(&a->cv_space);
    pthread_cond_destroy(&a->cv_done);
    pthread_cond_destroy(&a->cv_prune);
    explicit_bzero(a->key, sizeof(a->key));
    gz_free(a->dir);
    gz_free(a);
}
