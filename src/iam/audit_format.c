/*
 * audit_format.c - the audit log's on-disk format (see audit_int.h): entry hashing, line
 * parsing, a bounded line reader, the day files, and head.json / checkpoint.json.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../util/hash.h"
#include "audit_int.h"

/* ---- hashing ---- */

int audit__hasher_init(struct audit_hasher *h)
{
    memset(h, 0, sizeof(*h));
    h->sm3 = EVP_MD_fetch(NULL, "SM3", NULL);
    h->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    h->ctx = EVP_MD_CTX_new();
    if (h->sm3 == NULL || h->sha256 == NULL || h->ctx == NULL) {
        audit__hasher_free(h);
        return -ENOTSUP;
    }
    return 0;
}

void audit__hasher_free(struct audit_hasher *h)
{
    if (h == NULL)
        return;
    EVP_MD_free(h->sm3);
    EVP_MD_free(h->sha256);
    EVP_MD_CTX_free(h->ctx);
    memset(h, 0, sizeof(*h));
}

bool audit__alg_known(const char *alg)
{
    return alg != NULL && (strcmp(alg, "SM3") == 0 || strcmp(alg, "SHA256") == 0);
}

int audit__entry_hash(struct audit_hasher *h, const char *alg, const uint8_t prev[AUDIT_HASH_LEN],
                      const char *canon_prefix, size_t len, uint8_t out[AUDIT_HASH_LEN])
{
    const EVP_MD *md = strcmp(alg, "SM3") == 0      ? h->sm3
                       : strcmp(alg, "SHA256") == 0 ? h->sha256
                                                    : NULL;
    unsigned int n = 0;
    if (md == NULL)
        return -ENOTSUP;
    if (EVP_DigestInit_ex(h->ctx, md, NULL) != 1 ||
        EVP_DigestUpdate(h->ctx, prev, AUDIT_HASH_LEN) != 1 ||
        EVP_DigestUpdate(h->ctx, canon_prefix, len) != 1 || EVP_DigestUpdate(h->ctx, "}", 1) != 1 ||
        EVP_DigestFinal_ex(h->ctx, out, &n) != 1 || n != AUDIT_HASH_LEN)
        return -EIO;
    return 0;
}

/* ---- lines ---- */

static int hex32_decode(const char *hex, size_t len, uint8_t out[AUDIT_HASH_LEN])
{
    if (len != AUDIT_HEX_LEN)
        return -EINVAL;
    for (size_t i = 0; i < len; i++) {
        char c = hex[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return -EINVAL; /* lower case only: one spelling per hash */
    }
    return gz_hex_decode(out, AUDIT_HASH_LEN, gz_slice(hex, len)) == AUDIT_HASH_LEN ? 0 : -EINVAL;
}

static bool json_int(const cJSON *o, const char *name, int64_t *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > 9007199254740992.0 ||
        it->valuedouble != (double)(int64_t)it->valuedouble)
        return false;
    *out = (int64_t)it->valuedouble;
    return true;
}

static const char *json_str(const cJSON *o, const char *name)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

/* The suffix `,"hash":"<64 hex>"}` must end the line: it is what the chain hashes around. */
static int line_split_hash(const char *p, size_t len, struct audit_line *out)
{
    if (len < AUDIT_HASH_SUFFIX_LEN + 2 || p[len - 1] != '}' || p[len - 2] != '"')
        return -EINVAL;
    size_t at = len - AUDIT_HASH_SUFFIX_LEN;
    if (memcmp(p + at, AUDIT_HASH_FIELD, sizeof(AUDIT_HASH_FIELD) - 1) != 0)
        return -EINVAL;
    out->canon_len = at;
    return hex32_decode(p + at + sizeof(AUDIT_HASH_FIELD) - 1, AUDIT_HEX_LEN, out->hash);
}

int audit__line_parse(const char *p, size_t len, struct audit_line *out, char *why, size_t whysz)
{
    const char *prev, *hash, *time;
    memset(out, 0, sizeof(*out));
    if (p[0] != '{' || line_split_hash(p, len, out) < 0) {
        snprintf(why, whysz, "not an audit entry (no trailing hash field)");
        return GZ_ECORRUPT;
    }
    out->json = cJSON_ParseWithLength(p, len);
    if (!cJSON_IsObject(out->json)) {
        snprintf(why, whysz, "not valid JSON");
        goto bad;
    }
    prev = json_str(out->json, "prev");
    hash = json_str(out->json, "hash");
    time = json_str(out->json, "time");
    out->alg = json_str(out->json, "alg");
    out->tenant = json_str(out->json, "tenant");
    out->action = json_str(out->json, "action");
    if (!json_int(out->json, "seq", &out->seq) || out->seq < 1 || prev == NULL || hash == NULL ||
        time == NULL || out->alg == NULL || out->tenant == NULL || out->action == NULL) {
        snprintf(why, whysz, "missing or malformed fields");
        goto bad;
    }
    uint8_t h2[AUDIT_HASH_LEN];
    if (hex32_decode(prev, strlen(prev), out->prev) < 0 ||
        hex32_decode(hash, strlen(hash), h2) < 0 || memcmp(h2, out->hash, sizeof(h2)) != 0) {
        snprintf(why, whysz, "malformed prev or hash");
        goto bad;
    }
    if (!audit__alg_known(out->alg)) {
        snprintf(why, whysz, "unknown hash algorithm");
        goto bad;
    }
    if (audit__time_parse(time, &out->time_ms) < 0) {
        snprintf(why, whysz, "malformed time");
        goto bad;
    }
    out->is_reset = strcmp(out->action, AUDIT_RESET_ACTION) == 0;
    return 0;
bad:
    audit__line_free(out);
    return GZ_ECORRUPT;
}

void audit__line_free(struct audit_line *l)
{
    cJSON_Delete(l->json);
    l->json = NULL;
}

bool audit__line_hash_ok(struct audit_hasher *h, const char *p, const struct audit_line *l,
                         const uint8_t prev[AUDIT_HASH_LEN])
{
    uint8_t got[AUDIT_HASH_LEN];
    if (audit__entry_hash(h, l->alg, prev, p, l->canon_len, got) < 0)
        return false;
    return memcmp(got, l->hash, sizeof(got)) == 0;
}

/* ---- bounded line reader ---- */

int audit__reader_open(struct audit_reader *r, const char *path)
{
    memset(r, 0, sizeof(*r));
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        r->fd = -1;
        return -errno;
    }
    r->buf = gz_malloc(AUDIT_LINE_MAX + 1);
    return 0;
}

void audit__reader_close(struct audit_reader *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    gz_free(r->buf);
    r->buf = NULL;
}

static int reader_fill(struct audit_reader *r)
{
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    while (r->end < AUDIT_LINE_MAX + 1 && !r->eof) {
        ssize_t n = read(r->fd, r->buf + r->end, AUDIT_LINE_MAX + 1 - r->end);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            r->eof = true;
        r->end += (size_t)n;
        if (memchr(r->buf + r->end - (size_t)n, '\n', (size_t)n) != NULL)
            break;
    }
    return 0;
}

int audit__reader_next(struct audit_reader *r, const char **line, size_t *len, bool *partial,
                       bool *overlong)
{
    for (;;) {
        char *nl = memchr(r->buf + r->start, '\n', r->end - r->start);
        if (nl == NULL && !r->eof) {
            int rc = reader_fill(r);
            if (rc < 0)
                return rc;
            nl = memchr(r->buf + r->start, '\n', r->end - r->start);
        }
        size_t avail = r->end - r->start;
        if (nl == NULL && avail == 0)
            return 0;
        if (nl == NULL && avail > AUDIT_LINE_MAX) {
            /* Overlong: hand out its start once, drop the rest up to the next '\n'. */
            bool first = !r->skipping;
            r->skipping = true;
            r->start = r->end;
            if (first) {
                r->lineno++;
                *line = r->buf;
                *len = AUDIT_LINE_MAX;
                *partial = false;
                *overlong = true;
                return 1;
            }
            continue;
        }
        size_t n = nl ? (size_t)(nl - (r->buf + r->start)) : avail;
        const char *p = r->buf + r->start;
        r->start += n + (nl ? 1 : 0);
        if (r->skipping) {
            r->skipping = false;
            continue;
        }
        r->lineno++;
        *line = p;
        *len = n;
        *partial = nl == NULL;
        *overlong = false;
        return 1;
    }
}

/* ---- files ---- */

void audit__file_name(int64_t day, char out[AUDIT_FILE_NAME_LEN])
{
    struct tm tm;
    time_t t = (time_t)(day * 86400);
    gmtime_r(&t, &tm);
    int v[3] = {(tm.tm_year + 1900) % 10000, tm.tm_mon + 1, tm.tm_mday}, w[3] = {4, 2, 2};
    char *o = out + 6;
    memcpy(out, "audit-", 6);
    for (int i = 0; i < 3; i++) {
        for (int k = w[i] - 1; k >= 0; k--, v[i] /= 10)
            o[k] = (char)('0' + v[i] % 10);
        o += w[i];
    }
    memcpy(o, ".log", 5);
}

int64_t audit__file_day(const char *name)
{
    struct tm tm = {0};
    if (strlen(name) != AUDIT_FILE_NAME_LEN - 1 || strncmp(name, "audit-", 6) != 0 ||
        strcmp(name + 14, ".log") != 0)
        return -1;
    for (int i = 6; i < 14; i++)
        if (name[i] < '0' || name[i] > '9')
            return -1;
    tm.tm_year = (name[6] - '0') * 1000 + (name[7] - '0') * 100 + (name[8] - '0') * 10 +
                 (name[9] - '0') - 1900;
    tm.tm_mon = (name[10] - '0') * 10 + (name[11] - '0') - 1;
    tm.tm_mday = (name[12] - '0') * 10 + (name[13] - '0');
    if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31)
        return -1;
    return (int64_t)timegm(&tm) / 86400;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

int audit__files_list(const char *dir, struct audit_files *out)
{
    size_t cap = 0;
    out->names = NULL;
    out->n = 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT ? 0 : -errno;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (audit__file_day(de->d_name) < 0)
            continue;
        if (out->n == cap) {
            cap = cap ? cap * 2 : 16;
            out->names = gz_realloc(out->names, cap * sizeof(*out->names));
        }
        memcpy(out->names[out->n++], de->d_name, AUDIT_FILE_NAME_LEN);
    }
    closedir(d);
    if (out->n > 1)
        qsort(out->names, out->n, sizeof(*out->names), name_cmp);
    return 0;
}

void audit__files_free(struct audit_files *f)
{
    gz_free(f->names);
    f->names = NULL;
    f->n = 0;
}

/* ---- marks: head.json and checkpoint.json ---- */

static const char *mark_file(enum audit_mark_kind kind)
{
    return kind == AUDIT_MARK_HEAD ? AUDIT_HEAD_FILE : AUDIT_CHECKPOINT_FILE;
}

/* The signed bytes: a versioned, '|'-separated list of the fields (none can hold a '|'). */
static void mark_mac(enum audit_mark_kind kind, const struct audit_mark *m, const uint8_t *key,
                     uint8_t out[AUDIT_HASH_LEN])
{
    char hex[AUDIT_HEX_LEN + 1], msg[256];
    gz_hex_encode(hex, m->hash, AUDIT_HASH_LEN);
    int n = snprintf(msg, sizeof(msg), "gzy-audit-%s-v1|%lld|%s|%lld|%lld|%s",
                     kind == AUDIT_MARK_HEAD ? "head" : "checkpoint", (long long)m->seq, hex,
                     (long long)m->time_ms, (long long)m->created_ms, m->file);
    gz_hmac_sha256(key, AUDIT_HASH_LEN, msg, (size_t)n, out);
}

bool audit__mark_mac_ok(enum audit_mark_kind kind, const struct audit_mark *m, const uint8_t *key)
{
    uint8_t want[AUDIT_HASH_LEN];
    if (!m->has_mac || key == NULL)
        return false;
    mark_mac(kind, m, key, want);
    return gz_consttime_eq(want, sizeof(want), m->mac, sizeof(m->mac));
}

static int mark_parse(const char *text, size_t len, struct audit_mark *m)
{
    int rc = GZ_ECORRUPT;
    cJSON *o = cJSON_ParseWithLength(text, len);
    const char *hash = json_str(o, "hash"), *file = json_str(o, "file");
    const char *mac = json_str(o, "mac");
    memset(m, 0, sizeof(*m));
    if (!cJSON_IsObject(o) || !json_int(o, "seq", &m->seq) ||
        !json_int(o, "time_ms", &m->time_ms) || !json_int(o, "created_ms", &m->created_ms) ||
        hash == NULL || hex32_decode(hash, strlen(hash), m->hash) < 0 || file == NULL ||
        strlen(file) >= sizeof(m->file) || strchr(file, '|') != NULL)
        goto out;
    snprintf(m->file, sizeof(m->file), "%s", file);
    if (mac != NULL) {
        if (hex32_decode(mac, strlen(mac), m->mac) < 0)
            goto out;
        m->has_mac = true;
    }
    rc = 0;
out:
    cJSON_Delete(o);
    return rc;
}

int audit__mark_read(const char *dir, enum audit_mark_kind kind, struct audit_mark *out)
{
    char path[4096], text[1024];
    int rc = audit__path(path, sizeof(path), dir, mark_file(kind));
    if (rc < 0)
        return rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, text, sizeof(text));
    rc = n < 0 ? -errno : 0;
    close(fd);
    if (rc < 0)
        return rc;
    if ((size_t)n == sizeof(text))
        return GZ_ECORRUPT;
    return mark_parse(text, (size_t)n, out);
}

int audit__mark_write(const char *dir, enum audit_mark_kind kind, struct audit_mark *m,
                      const uint8_t *key)
{
    char path[4096], tmp[4200], hex[AUDIT_HEX_LEN + 1], mac[AUDIT_HEX_LEN + 1] = "";
    char text[768], when[25];
    int rc = audit__path(path, sizeof(path), dir, mark_file(kind));
    if (rc < 0)
        return rc;
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    m->has_mac = key != NULL;
    if (key != NULL) {
        mark_mac(kind, m, key, m->mac);
        gz_hex_encode(mac, m->mac, AUDIT_HASH_LEN);
    }
    gz_hex_encode(hex, m->hash, AUDIT_HASH_LEN);
    gz_time_iso8601(m->time_ms, when);
    int n = snprintf(text, sizeof(text),
                     "{\"seq\":%lld,\"hash\":\"%s\",\"time\":\"%s\",\"time_ms\":%lld,"
                     "\"created_ms\":%lld,\"file\":\"%s\"%s%s%s}\n",
                     (long long)m->seq, hex, when, (long long)m->time_ms, (long long)m->created_ms,
                     m->file, key ? ",\"mac\":\"" : "", mac, key ? "\"" : "");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    rc = gz_write_all(fd, text, (size_t)n);
    /* Both are fsynced before the rename so a crash can leave the old file or the new one,
     * never an empty one (an unreadable head is treated as tampering). A head that lags is
     * harmless; a checkpoint must be durable (with its directory entry) before deletion. */
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    close(fd);
    /* A first head must reach the disk with its name too: a power loss that took the entry
     * away would read as a deleted head (tampering) at the next start (found by the power-loss
     * harness, tests/fault/powerloss). Later heads may lag. */
    bool first = access(path, F_OK) != 0;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc == 0 && (kind == AUDIT_MARK_CHECKPOINT || first))
        rc = audit__fsync_dir(dir);
    if (rc < 0)
        unlink(tmp);
    return rc;
}

/* ---- helpers ---- */

int audit__path(char *out, size_t outsz, const char *dir, const char *name)
{
    int n = snprintf(out, outsz, "%s/%s", dir, name);
    return n < 0 || (size_t)n >= outsz ? -ENAMETOOLONG : 0;
}

int audit__fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int audit__time_parse(const char *s, int64_t *ms)
{
    struct tm tm = {0};
    if (strlen(s) != 24 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':' || s[19] != '.' || s[23] != 'Z')
        return -EINVAL;
    int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2), h = digits(s + 11, 2);
    int mi = digits(s + 14, 2), se = digits(s + 17, 2), f = digits(s + 20, 3);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
        se < 0 || se > 60 || f < 0)
        return -EINVAL;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    *ms = (int64_t)timegm(&tm) * 1000 + f;
    return 0;
}
