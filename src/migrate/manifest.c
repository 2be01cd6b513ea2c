/*
 * manifest.c - the signed evidence manifest of a migration pass (format in
 * docs/migration-evidence.md). The writer streams the journal's verified rows straight into
 * the file through a small buffer while SHA-256 runs over the bytes, so a million-object
 * manifest never sits in memory. Ed25519 signs messages, not prehashes, so what is signed is
 * a fixed 81-byte statement "gzy-manifest-v1\n" + hex SHA-256 of the body + "\n"; the body is
 * every byte of the file before the signature line. The reader works line by line for the
 * same reason: one object per line, each parsed alone with cJSON.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../iam/iam.h"
#include "evidence.h"
#include "migrate_int.h"

#define MANIFEST_TAG "gzy-manifest-v1\n"
#define MANIFEST_STATEMENT_LEN (sizeof(MANIFEST_TAG) - 1 + 64 + 1)
#define MANIFEST_LINE_MAX (256 * 1024)
#define MANIFEST_FLUSH (64 * 1024)
#define OBJECTS_LINE "\"objects\":["
#define PUBKEY_PREFIX "\"public_key\":\""
#define SIG_PREFIX "\"signature\":\""

/* ---- keys and signatures ---- */

static EVP_PKEY *key_private(const uint8_t seed[32])
{
    return EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
}

int gz_migrate_manifest_pubkey(const uint8_t seed[32], uint8_t pub[32])
{
    EVP_PKEY *k = key_private(seed);
    size_t n = 32;
    int rc = k && EVP_PKEY_get_raw_public_key(k, pub, &n) == 1 && n == 32 ? 0 : GZ_ECORRUPT;
    EVP_PKEY_free(k);
    return rc;
}

int gz_migrate_manifest_key(const char *data_dir, uint8_t seed[32], uint8_t pub[32])
{
    uint8_t s[32];
    int rc = iam_master_key_derive(data_dir, GZ_MIG_MANIFEST_KEY_PURPOSE, s);
    if (rc == 0 && pub)
        rc = gz_migrate_manifest_pubkey(s, pub);
    if (rc == 0 && seed)
        memcpy(seed, s, 32);
    explicit_bzero(s, sizeof(s));
    return rc;
}

static void statement(const uint8_t body_sha[32], char out[MANIFEST_STATEMENT_LEN + 1])
{
    char hex[65];
    gz_hex_encode(hex, body_sha, 32);
    snprintf(out, MANIFEST_STATEMENT_LEN + 1, "%s%s\n", MANIFEST_TAG, hex);
}

static int sign_hash(const uint8_t seed[32], const uint8_t body_sha[32], uint8_t sig[64])
{
    char msg[MANIFEST_STATEMENT_LEN + 1];
    statement(body_sha, msg);
    EVP_PKEY *k = key_private(seed);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    size_t n = 64;
    int rc =
        k && c && EVP_DigestSignInit(c, NULL, NULL, NULL, k) == 1 &&
                EVP_DigestSign(c, sig, &n, (const uint8_t *)msg, MANIFEST_STATEMENT_LEN) == 1 &&
                n == 64
            ? 0
            : GZ_ECORRUPT;
    EVP_MD_CTX_free(c);
    EVP_PKEY_free(k);
    return rc;
}

static bool verify_hash(const uint8_t pub[32], const uint8_t body_sha[32], const uint8_t sig[64])
{
    char msg[MANIFEST_STATEMENT_LEN + 1];
    statement(body_sha, msg);
    EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    bool ok = k && c && EVP_DigestVerifyInit(c, NULL, NULL, NULL, k) == 1 &&
              EVP_DigestVerify(c, sig, 64, (const uint8_t *)msg, MANIFEST_STATEMENT_LEN) == 1;
    EVP_MD_CTX_free(c);
    EVP_PKEY_free(k);
    return ok;
}

/* ---- writer: buffered, hashing what it writes until the signature line ---- */

struct mwriter {
    int fd;
    struct gz_buf buf;
    struct gz_hash sha;
    bool hashing;
    int rc;
};

static void mw_flush(struct mwriter *w)
{
    if (w->rc == 0 && w->buf.len)
        w->rc = gz_write_all(w->fd, w->buf.ptr, w->buf.len);
    gz_buf_reset(&w->buf);
}

static void mw_put(struct mwriter *w, const char *p, size_t n)
{
    if (w->rc)
        return;
    if (w->hashing)
        gz_hash_update(&w->sha, p, n);
    if (gz_buf_append(&w->buf, p, n) != 0)
        w->rc = -E2BIG;
    else if (w->buf.len >= MANIFEST_FLUSH)
        mw_flush(w);
}

static void mw_cstr(struct mwriter *w, const char *s)
{
    mw_put(w, s, strlen(s));
}

static void __attribute__((format(printf, 2, 3))) mw_fmt(struct mwriter *w, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        w->rc = w->rc ? w->rc : -E2BIG;
    else
        mw_put(w, tmp, (size_t)n);
}

/* A JSON string (RFC 8259): '"' and '\' escaped, control characters as \b \f \n \r \t or
 * \u00XX, everything else (UTF-8 included) as is; NULL as null. */
static void mw_str(struct mwriter *w, const char *s)
{
    if (!s) {
        mw_cstr(w, "null");
        return;
    }
    mw_put(w, "\"", 1);
    const char *run = s;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        const char *esc = NULL;
        char u[8];
        switch (*p) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        default:
            if (*p < 0x20 || *p == 0x7f) {
                snprintf(u, sizeof(u), "\\u%04x", *p);
                esc = u;
            }
        }
        if (!esc)
            continue;
        mw_put(w, run, (size_t)((const char *)p - run));
        mw_cstr(w, esc);
        run = (const char *)p + 1;
    }
    mw_cstr(w, run);
    mw_put(w, "\"", 1);
}

/* ---- the journal side ---- */

struct mcounts {
    int64_t listed, listed_bytes, objects, bytes, failed, waiting, pending;
};

static const char *col(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

static int64_t last_pass(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int64_t pass = -1;
    if (sqlite3_prepare_v2(db,
                           "SELECT COALESCE((SELECT CAST(v AS INTEGER) FROM info WHERE"
                           " k='pass'), (SELECT MAX(pass) FROM src), 0)",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        pass = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return pass;
}

static int read_counts(sqlite3 *db, int64_t pass, struct mcounts *c)
{
    sqlite3_stmt *st = NULL;
    memset(c, 0, sizeof(*c));
    if (sqlite3_prepare_v2(db,
                           "SELECT state, COUNT(*), COALESCE(SUM(size), 0) FROM src"
                           " WHERE pass=?1 GROUP BY state",
                           -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_int64(st, 1, pass);
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *state = col(st, 0) ? col(st, 0) : "";
        int64_t n = sqlite3_column_int64(st, 1), b = sqlite3_column_int64(st, 2);
        c->listed += n;
        c->listed_bytes += b;
        if (strcmp(state, "verified") == 0) {
            c->objects += n;
            c->bytes += b;
        } else if (strcmp(state, "failed") == 0) {
            c->failed += n;
        } else if (strcmp(state, "waiting") == 0) {
            c->waiting += n;
        } else if (strcmp(state, "excluded") != 0) {
            c->pending += n;
        }
    }
    sqlite3_finalize(st);
    return s == SQLITE_DONE ? 0 : -EIO;
}

/* Value of info key k (copied into out), "" and false when absent. */
static bool info_get(sqlite3 *db, const char *k, char *out, size_t outsz)
{
    sqlite3_stmt *st = NULL;
    bool found = false;
    out[0] = '\0';
    if (sqlite3_prepare_v2(db, "SELECT v FROM info WHERE k=?1", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW && col(st, 0)) {
            snprintf(out, outsz, "%s", col(st, 0));
            found = true;
        }
    }
    sqlite3_finalize(st);
    return found;
}

static void write_info_str(struct mwriter *w, sqlite3 *db, const char *name, const char *k)
{
    char v[1100];
    mw_fmt(w, "\"%s\":", name);
    mw_str(w, info_get(db, k, v, sizeof(v)) ? v : NULL);
}

static void write_header(struct mwriter *w, sqlite3 *db, const char *label, int64_t pass,
                         const struct mcounts *c)
{
    char created[25];
    gz_time_iso8601(gz_now_ms(), created);
    mw_cstr(w, "{\"version\":1,\"label\":");
    mw_str(w, label ? label : "copy");
    mw_fmt(w, ",\"pass\":%lld,\"created\":", (long long)pass);
    mw_str(w, created);
    mw_cstr(w, ",\"source\":{");
    write_info_str(w, db, "endpoint", "source_endpoint");
    mw_cstr(w, ",");
    write_info_str(w, db, "bucket", "source_bucket");
    mw_cstr(w, ",");
    write_info_str(w, db, "prefix", "source_prefix");
    mw_cstr(w, "},\"destination\":{");
    write_info_str(w, db, "bucket", "dest_bucket");
    mw_fmt(w,
           "},\"counts\":{\"objects\":%lld,\"bytes\":%lld,\"listed\":%lld,"
           "\"listed_bytes\":%lld,",
           (long long)c->objects, (long long)c->bytes, (long long)c->listed,
           (long long)c->listed_bytes);
    mw_fmt(w, "\"failed\":%lld,\"waiting\":%lld,\"pending\":%lld},\n", (long long)c->failed,
           (long long)c->waiting, (long long)c->pending);
}

/* The objects array, one per line; returns the number written or a negative errno. */
static int64_t write_objects(struct mwriter *w, sqlite3 *db, int64_t pass)
{
    sqlite3_stmt *st = NULL;
    /* "existing": found unchanged at the destination, never read by us; a sha256 left in
     * the row is from an older copy, so it is not claimed */
    if (sqlite3_prepare_v2(db,
                           "SELECT key, size, CASE WHEN method='existing' THEN NULL ELSE"
                           " sha256 END, done_etag, method FROM src"
                           " WHERE pass=?1 AND state='verified' ORDER BY key",
                           -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_int64(st, 1, pass);
    mw_cstr(w, OBJECTS_LINE "\n");
    int64_t n = 0;
    int s = SQLITE_DONE;
    while (w->rc == 0 && (s = sqlite3_step(st)) == SQLITE_ROW) {
        mw_cstr(w, n ? ",\n{\"key\":" : "{\"key\":");
        mw_str(w, col(st, 0) ? col(st, 0) : "");
        mw_fmt(w, ",\"size\":%lld,\"sha256\":", (long long)sqlite3_column_int64(st, 1));
        mw_str(w, col(st, 2));
        mw_cstr(w, ",\"source_etag\":");
        mw_str(w, col(st, 3));
        mw_cstr(w, ",\"method\":");
        mw_str(w, col(st, 4) ? col(st, 4) : "unknown");
        mw_cstr(w, "}");
        n++;
    }
    sqlite3_finalize(st);
    if (w->rc == 0 && s != SQLITE_DONE)
        return -EIO;
    mw_cstr(w, n ? "\n],\n" : "],\n");
    return w->rc ? w->rc : n;
}

static void write_trailer(struct mwriter *w, const uint8_t seed[32])
{
    uint8_t pub[32], sha[32], sig[64];
    char hex[129];
    if (w->rc == 0)
        w->rc = gz_migrate_manifest_pubkey(seed, pub);
    if (w->rc)
        return;
    gz_hex_encode(hex, pub, 32);
    mw_fmt(w, PUBKEY_PREFIX "%s\",\n", hex);
    gz_hash_final(&w->sha, sha);
    w->hashing = false;
    if (w->rc == 0)
        w->rc = sign_hash(seed, sha, sig);
    if (w->rc)
        return;
    gz_hex_encode(hex, sig, 64);
    mw_fmt(w, SIG_PREFIX "%s\"}\n", hex);
    mw_flush(w);
}

static int fsync_dir_of(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else
        snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

/* Writes the manifest body and signature to fd inside one read transaction of db. */
static int64_t write_all(int fd, sqlite3 *db, const uint8_t seed[32], const char *label, char *err,
                         size_t errsz)
{
    struct mwriter w = {.fd = fd, .hashing = true};
    gz_buf_init(&w.buf, MANIFEST_FLUSH * 2);
    gz_hash_init(&w.sha, GZ_HASH_SHA256);
    struct mcounts c;
    int64_t n = -EIO;
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errsz, "journal: %s", sqlite3_errmsg(db));
        goto out;
    }
    int64_t pass = last_pass(db);
    if (pass < 0 || read_counts(db, pass, &c) != 0) {
        snprintf(err, errsz, "journal: %s", sqlite3_errmsg(db));
        goto out;
    }
    write_header(&w, db, label, pass, &c);
    n = write_objects(&w, db, pass);
    if (n >= 0)
        write_trailer(&w, seed);
    if (n >= 0 && w.rc)
        n = w.rc;
    if (n < 0)
        snprintf(err, errsz, "manifest: %s", n == -EIO ? sqlite3_errmsg(db) : strerror((int)-n));
out:
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    gz_hash_dispose(&w.sha);
    gz_buf_free(&w.buf);
    return n;
}

int64_t gz_migrate_manifest_write(const char *journal_path, const char *out_path,
                                  const uint8_t seed[32], const char *label, char *err,
                                  size_t errsz)
{
    sqlite3 *db = NULL;
    char tmp[4200];
    int fd = -1;
    int64_t n;
    if (sqlite3_open_v2(journal_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        snprintf(err, errsz, "journal %s: %s", journal_path,
                 db ? sqlite3_errmsg(db) : "cannot open");
        n = -EIO;
        goto out;
    }
    sqlite3_busy_timeout(db, 5000);
    uint32_t r;
    gz_random_bytes(&r, sizeof(r));
    snprintf(tmp, sizeof(tmp), "%s.tmp-%d-%08x", out_path, (int)getpid(), r);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        n = -errno;
        snprintf(err, errsz, "manifest %s: %s", tmp, strerror(errno));
        goto out;
    }
    n = write_all(fd, db, seed, label, err, errsz);
    if (n >= 0 && fsync(fd) != 0)
        n = -errno;
    if (close(fd) != 0 && n >= 0)
        n = -errno;
    fd = -1;
    if (n >= 0 && rename(tmp, out_path) != 0)
        n = -errno;
    if (n >= 0) {
        int rc = fsync_dir_of(out_path);
        n = rc ? rc : n;
    }
    if (n < 0 && err[0] == '\0')
        snprintf(err, errsz, "manifest %s: %s", out_path, strerror((int)-n));
    if (n < 0)
        unlink(tmp);
out:
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    sqlite3_close(db);
    return n;
}

int gz_migrate_manifest_describe(const char *journal_path, const struct gz_mig_endpoint *src,
                                 const char *dest_bucket, char *err, size_t errsz)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = -EIO;
    const char *keys[] = {"source_endpoint", "source_bucket", "source_prefix", "dest_bucket"};
    const char *vals[] = {src->endpoint, src->bucket, src->prefix ? src->prefix : "", dest_bucket};
    if (sqlite3_open_v2(journal_path, &db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK)
        goto out;
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS info(k TEXT PRIMARY KEY, v TEXT)", NULL, NULL,
                     NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO info(k, v) VALUES(?1, ?2)", -1, &st, NULL) !=
            SQLITE_OK)
        goto out;
    for (size_t i = 0; i < GZ_ARRAY_LEN(keys); i++) {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, keys[i], -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, vals[i], -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            goto out;
    }
    rc = 0;
out:
    if (rc)
        snprintf(err, errsz, "journal %s: %s", journal_path,
                 db ? sqlite3_errmsg(db) : "cannot open");
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

/* ---- reader ---- */

struct lreader {
    int fd;
    char chunk[64 * 1024];
    size_t pos, len;
    bool eof;
    struct gz_buf line; /* the current line, NUL-terminated, without its '\n' */
    bool nl;            /* the line ended with '\n' */
};

/* Next line: 1, 0 at the end of the file, -E2BIG (longer than MANIFEST_LINE_MAX), -errno. */
static int lr_next(struct lreader *r)
{
    gz_buf_reset(&r->line);
    r->nl = false;
    for (;;) {
        if (r->pos == r->len) {
            if (r->eof)
                break;
            ssize_t n = read(r->fd, r->chunk, sizeof(r->chunk));
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return -errno;
            r->pos = 0;
            r->len = (size_t)n;
            r->eof = n == 0;
            continue;
        }
        const char *p = r->chunk + r->pos;
        const char *e = memchr(p, '\n', r->len - r->pos);
        size_t take = e ? (size_t)(e - p) : r->len - r->pos;
        if (gz_buf_append(&r->line, p, take) != 0)
            return -E2BIG;
        r->pos += take + (e ? 1 : 0);
        if (e) {
            r->nl = true;
            break;
        }
    }
    if (gz_buf_terminate(&r->line) != 0)
        return -E2BIG;
    return r->nl || r->line.len ? 1 : 0;
}

struct mread {
    struct lreader lr;
    struct gz_hash sha;
    struct gz_mig_manifest_info *info;
    char *prev_key;
    bool prev_comma;
    int64_t n, bytes;
    char *err;
    size_t errsz;
};

static int __attribute__((format(printf, 2, 3))) bad(struct mread *m, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(m->err, m->errsz, "manifest malformed: %s", msg);
    return GZ_ECORRUPT;
}

/* Next line, hashed with its '\n' (every line of the body ends with one). */
static int next_body_line(struct mread *m, const char *what)
{
    int rc = lr_next(&m->lr);
    if (rc == -E2BIG)
        return bad(m, "a line longer than the limit (%s)", what);
    if (rc < 0) {
        snprintf(m->err, m->errsz, "manifest: %s", strerror(-rc));
        return rc;
    }
    if (rc == 0 || !m->lr.nl)
        return bad(m, "ends before %s", what);
    gz_hash_update(&m->sha, m->lr.line.ptr, m->lr.line.len);
    gz_hash_update(&m->sha, "\n", 1);
    return 0;
}

static void json_copy(const cJSON *o, const char *name, char *out, size_t outsz)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    snprintf(out, outsz, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

static bool json_int(const cJSON *o, const char *name, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9007199254740992.0 ||
        v->valuedouble != (double)(int64_t)v->valuedouble)
        return false;
    *out = (int64_t)v->valuedouble;
    return true;
}

/* Line 1: the header object with its last '}' replaced by ',' (the objects follow). */
static int read_header(struct mread *m)
{
    int rc = next_body_line(m, "the header");
    if (rc)
        return rc;
    struct gz_buf *l = &m->lr.line;
    if (l->len < 2 || l->ptr[0] != '{' || l->ptr[l->len - 1] != ',')
        return bad(m, "%s is not a header line", "line 1");
    l->ptr[l->len - 1] = '}';
    cJSON *h = cJSON_ParseWithLength(l->ptr, l->len);
    l->ptr[l->len - 1] = ',';
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(h, "source");
    const cJSON *dst = cJSON_GetObjectItemCaseSensitive(h, "destination");
    const cJSON *counts = cJSON_GetObjectItemCaseSensitive(h, "counts");
    struct gz_mig_manifest_info *in = m->info;
    rc = 0;
    if (!cJSON_IsObject(h) || !json_int(h, "version", &in->version) ||
        !json_int(h, "pass", &in->pass) || !json_int(counts, "objects", &in->objects) ||
        !json_int(counts, "bytes", &in->bytes) || !cJSON_IsObject(src) || !cJSON_IsObject(dst))
        rc = bad(m, "%s lacks version, pass, source, destination or counts", "the header");
    else if (in->version != 1)
        rc = bad(m, "%s is not 1", "version");
    if (rc == 0) {
        json_copy(h, "label", in->label, sizeof(in->label));
        json_copy(h, "created", in->created, sizeof(in->created));
        json_copy(src, "endpoint", in->src_endpoint, sizeof(in->src_endpoint));
        json_copy(src, "bucket", in->src_bucket, sizeof(in->src_bucket));
        json_copy(src, "prefix", in->src_prefix, sizeof(in->src_prefix));
        json_copy(dst, "bucket", in->dest_bucket, sizeof(in->dest_bucket));
    }
    cJSON_Delete(h);
    return rc;
}

static const char *opt_string(const cJSON *o, const char *name, bool *ok)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (cJSON_IsString(v))
        return v->valuestring;
    if (!cJSON_IsNull(v))
        *ok = false;
    return NULL;
}

static bool hex_ok(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (gz_hex_digit(s[i]) < 0 || (s[i] >= 'A' && s[i] <= 'F'))
            return false;
    return true;
}

/* One object line ("{...}," or, for the last one, "{...}"). */
static int read_entry(struct mread *m, gz_mig_manifest_entry_fn *fn, void *arg)
{
    struct gz_buf *l = &m->lr.line;
    if (m->n > 0 && !m->prev_comma)
        return bad(m, "%s: an object after the last one", "objects");
    m->prev_comma = l->ptr[l->len - 1] == ',';
    cJSON *o = cJSON_ParseWithLength(l->ptr, l->len - (m->prev_comma ? 1 : 0));
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(o, "key");
    bool ok = cJSON_IsObject(o) && cJSON_IsString(key) && key->valuestring[0];
    struct gz_mig_manifest_entry e = {.key = ok ? key->valuestring : NULL};
    ok = ok && json_int(o, "size", &e.size);
    e.sha256 = opt_string(o, "sha256", &ok);
    e.source_etag = opt_string(o, "source_etag", &ok);
    e.method = opt_string(o, "method", &ok);
    int rc = 0;
    if (!ok || !e.method || (e.sha256 && !hex_ok(e.sha256, 64)))
        rc = bad(m, "object %s is not {key, size, sha256, source_etag, method}",
                 ok && e.key ? e.key : "entry");
    else if (m->prev_key && strcmp(m->prev_key, e.key) >= 0)
        rc = bad(m, "key %s is out of order or repeated", e.key);
    if (rc == 0) {
        m->n++;
        m->bytes += e.size;
        gz_free(m->prev_key);
        m->prev_key = gz_strdup(e.key);
        if (fn)
            rc = fn(arg, &e);
    }
    cJSON_Delete(o);
    return rc;
}

static int read_objects(struct mread *m, gz_mig_manifest_entry_fn *fn, void *arg)
{
    int rc = next_body_line(m, "the objects");
    if (rc)
        return rc;
    if (strcmp(m->lr.line.ptr, OBJECTS_LINE) != 0)
        return bad(m, "%s is not the objects line", "line 2");
    for (;;) {
        rc = next_body_line(m, "the end of the objects");
        if (rc)
            return rc;
        if (strcmp(m->lr.line.ptr, "],") == 0)
            break;
        if (m->lr.line.len < 2 || m->lr.line.ptr[0] != '{')
            return bad(m, "%s: a line that is not an object", "objects");
        rc = read_entry(m, fn, arg);
        if (rc)
            return rc;
    }
    if (m->n > 0 && m->prev_comma)
        return bad(m, "%s: a comma after the last object", "objects");
    if (m->n != m->info->objects || m->bytes != m->info->bytes)
        return bad(m, "%s do not match the objects listed", "counts");
    return 0;
}

/* "<prefix><hex>" + tail exactly; decodes the hex into out (n bytes). */
static bool hex_field(const char *line, const char *prefix, size_t n, const char *tail,
                      uint8_t *out)
{
    size_t pl = strlen(prefix);
    if (strncmp(line, prefix, pl) != 0 || strlen(line) != pl + 2 * n + strlen(tail) ||
        strcmp(line + pl + 2 * n, tail) != 0)
        return false;
    char hex[129];
    memcpy(hex, line + pl, 2 * n);
    hex[2 * n] = '\0';
    return hex_ok(hex, 2 * n) && gz_hex_decode(out, n, gz_slice(hex, 2 * n)) == (int)n;
}

static int read_signature(struct mread *m, const uint8_t expect[32])
{
    uint8_t pub[32], sha[32], sig[64];
    int rc = next_body_line(m, "the public key");
    if (rc)
        return rc;
    if (!hex_field(m->lr.line.ptr, PUBKEY_PREFIX, 32, "\",", pub))
        return bad(m, "%s is not 64 hex digits", "public_key");
    memcpy(m->info->public_key, m->lr.line.ptr + strlen(PUBKEY_PREFIX), 64);
    m->info->public_key[64] = '\0';
    gz_hash_final(&m->sha, sha);
    rc = lr_next(&m->lr);
    if (rc < 0)
        return rc == -E2BIG ? bad(m, "%s line too long", "signature") : rc;
    if (rc == 0 || !m->lr.nl || !hex_field(m->lr.line.ptr, SIG_PREFIX, 64, "\"}", sig))
        return bad(m, "%s is not the last line with 128 hex digits", "signature");
    if (lr_next(&m->lr) != 0)
        return bad(m, "%s", "bytes after the signature");
    if (expect && !gz_consttime_eq(expect, 32, pub, 32)) {
        snprintf(m->err, m->errsz, "manifest signature: signed by key %s, not the trusted key",
                 m->info->public_key);
        return GZ_ECORRUPT;
    }
    if (!verify_hash(expect ? expect : pub, sha, sig)) {
        snprintf(m->err, m->errsz,
                 "manifest signature does not verify: the manifest was"
                 " changed after signing");
        return GZ_ECORRUPT;
    }
    return 0;
}

int gz_migrate_manifest_read(const char *path, const uint8_t pub[32],
                             struct gz_mig_manifest_info *info, gz_mig_manifest_entry_fn *fn,
                             void *arg, char *err, size_t errsz)
{
    struct mread *m = gz_calloc(1, sizeof(*m));
    m->info = info;
    m->err = err;
    m->errsz = errsz;
    memset(info, 0, sizeof(*info));
    gz_buf_init(&m->lr.line, MANIFEST_LINE_MAX);
    gz_hash_init(&m->sha, GZ_HASH_SHA256);
    int rc;
    m->lr.fd = open(path, O_RDONLY | O_CLOEXEC);
    if (m->lr.fd < 0) {
        rc = -errno;
        snprintf(err, errsz, "manifest %s: %s", path, strerror(errno));
        goto out;
    }
    rc = read_header(m);
    if (rc == 0)
        rc = read_objects(m, fn, arg);
    if (rc == 0)
        rc = read_signature(m, pub);
out:
    if (m->lr.fd >= 0)
        close(m->lr.fd);
    gz_hash_dispose(&m->sha);
    gz_buf_free(&m->lr.line);
    gz_free(m->prev_key);
    gz_free(m);
    return rc;
}
