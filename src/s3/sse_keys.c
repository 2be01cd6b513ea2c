/*
 * sse_keys.c - the master key file and the envelope that carries an object's wrapped data key
 * in its stored headers (x-gzy-sse).
 *
 * The key file (DATA/sse.keys, or the path given with --sse-key-file / GZY_SSE_KEY_FILE) holds
 * lines "<id> <64 hex>" (comments start with '#'); the last line is the current key, used to
 * wrap new data keys; older ones still unwrap the objects they wrapped until `gzy sse rotate`
 * re-wraps them. It is created on first use with one random key, mode 0600, by writing a
 * temporary file beside it and link(2)ing it into place, so two processes racing to create it
 * end up with the same file. Rewrites (rotation) go through rename(2) after fsync. A key file
 * that group or others may access is refused, as ssh refuses such a private key.
 *
 * The data folder keeps DATA/sse.keycheck: "<id> <16 hex>" per master key its objects may be
 * wrapped under, the hex a key check value (the first 8 bytes of HMAC-SHA256(key, label): it
 * names the key without revealing it). A key file that lacks one of those ids, or holds
 * another key under it, is refused, and while the check file lists keys a missing key file is
 * never replaced by a new one: a server started without its --sse-key-file, or with another
 * folder's, fails at start instead of wrapping new objects under a second "key 1".
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/hash.h"
#include "sse_int.h"

#define KEYS_FILE_MAX (SSE_MAX_KEYS * 80 + 1024)
#define SSE_CHECK_FILE "sse.keycheck"
#define SSE_KCV 8
#define SSE_SCAN_PAGE 1000

/* ---- where the key file is ---- */

/* s3_sse_key_file_set: a process-wide setting like the log level, written once by the CLI
 * before any thread starts and only read after. "" = DATA/sse.keys. */
static char keys_file_opt[PATH_MAX];

int s3_sse_key_file_set(const char *path)
{
    if (path == NULL)
        path = "";
    if (strlen(path) >= sizeof(keys_file_opt))
        return -ENAMETOOLONG;
    snprintf(keys_file_opt, sizeof(keys_file_opt), "%s", path);
    return 0;
}

int s3__sse_keys_path(const char *data_dir, char *out, size_t outsz)
{
    int n = keys_file_opt[0] ? snprintf(out, outsz, "%s", keys_file_opt)
                             : snprintf(out, outsz, "%s/%s", data_dir, SSE_KEYS_FILE);
    return n < 0 || (size_t)n >= outsz ? -ENAMETOOLONG : 0;
}

/* The folder holding path ("." for a bare name). */
static void path_dir(const char *path, char *out, size_t outsz)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(out, outsz, ".");
    else if (slash == path)
        snprintf(out, outsz, "/");
    else
        snprintf(out, outsz, "%.*s", (int)(slash - path), path);
}

bool s3__sse_keys_inside(const char *data_dir, const char *path)
{
    char dir[PATH_MAX], rdir[PATH_MAX], rdata[PATH_MAX];
    path_dir(path, dir, sizeof(dir));
    if (realpath(dir, rdir) == NULL || realpath(data_dir, rdata) == NULL)
        return true; /* cannot tell: say so rather than stay silent */
    size_t n = strlen(rdata);
    if (strcmp(rdata, "/") == 0)
        return true;
    return strncmp(rdir, rdata, n) == 0 && (rdir[n] == '\0' || rdir[n] == '/');
}

/* ---- the files: lines "<id> <hex>" ---- */

/* Parses "<id> <2 * vlen hex>" lines into ids[] and vals (vlen bytes each), at most max. */
static int lines_parse(const char *text, uint32_t *ids, uint8_t *vals, size_t vlen, int max, int *n)
{
    *n = 0;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        struct gz_slice line = gz_slice_trim(gz_slice(p, len));
        p += len + (nl ? 1 : 0);
        if (line.len == 0 || line.ptr[0] == '#')
            continue;
        const char *sp = memchr(line.ptr, ' ', line.len);
        uint64_t id = 0;
        if (sp == NULL || *n >= max ||
            gz_slice_to_u64(gz_slice(line.ptr, (size_t)(sp - line.ptr)), &id) < 0 || id == 0 ||
            id > 0xffffffffu)
            return GZ_ECORRUPT;
        struct gz_slice hex =
            gz_slice_trim(gz_slice(sp + 1, line.len - (size_t)(sp + 1 - line.ptr)));
        if (hex.len != 2 * vlen || gz_hex_decode(vals + (size_t)*n * vlen, vlen, hex) != (int)vlen)
            return GZ_ECORRUPT;
        ids[(*n)++] = (uint32_t)id;
    }
    return 0;
}

/* Reads a whole small file into buf (max bytes, NUL-terminated). With secret, a file that
 * group or others may access is -EPERM. */
static int file_read(const char *path, char *buf, size_t max, bool secret)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fstat(fd, &st) < 0 ? -errno : 0;
    if (rc == 0 && secret && (st.st_mode & 077) != 0)
        rc = -EPERM;
    ssize_t n = rc == 0 ? read(fd, buf, max - 1) : 0;
    if (rc == 0)
        rc = n < 0 ? -errno : (size_t)n >= max - 1 ? GZ_ECORRUPT : 0;
    close(fd);
    buf[rc == 0 ? n : 0] = '\0';
    return rc;
}

static int keys_read(const char *path, struct s3__sse_keyring *kr)
{
    char *buf = gz_malloc(KEYS_FILE_MAX + 1);
    int rc = file_read(path, buf, KEYS_FILE_MAX + 1, true);
    if (rc == 0)
        rc = lines_parse(buf, kr->id, &kr->key[0][0], SSE_KEY, SSE_MAX_KEYS, &kr->n);
    if (rc == 0 && kr->n == 0)
        rc = GZ_ECORRUPT;
    OPENSSL_cleanse(buf, KEYS_FILE_MAX + 1);
    gz_free(buf);
    return rc;
}

/* Writes text to a new temporary file "<path>.tmp.<random>" (same folder); *tmp gets its
 * name. fmt(src, i, line, size) formats line i of nlines and returns its length. */
static int tmp_write(const char *path, const char *head, int nlines,
                     int (*fmt)(const void *src, int i, char *line, size_t sz), const void *src,
                     char *tmp, size_t tmpsz)
{
    uint8_t rnd[8];
    char hex[17], line[2 * SSE_KEY + 32];
    gz_random_bytes(rnd, sizeof(rnd));
    gz_hex_encode(hex, rnd, sizeof(rnd));
    if (snprintf(tmp, tmpsz, "%s.tmp.%s", path, hex) >= (int)tmpsz)
        return -ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int rc = gz_write_all(fd, head, strlen(head));
    for (int i = 0; i < nlines && rc == 0; i++) {
        int len = fmt(src, i, line, sizeof(line));
        rc = gz_write_all(fd, line, (size_t)len);
    }
    OPENSSL_cleanse(line, sizeof(line));
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    close(fd);
    if (rc < 0)
        unlink(tmp);
    return rc;
}

static int key_line(const void *src, int i, char *line, size_t sz)
{
    const struct s3__sse_keyring *kr = src;
    char khex[2 * SSE_KEY + 1];
    gz_hex_encode(khex, kr->key[i], SSE_KEY);
    int len = snprintf(line, sz, "%u %s\n", kr->id[i], khex);
    OPENSSL_cleanse(khex, sizeof(khex));
    return len;
}

static int keys_write_tmp(const char *path, const struct s3__sse_keyring *kr, char *tmp,
                          size_t tmpsz)
{
    return tmp_write(path, "# gzy SSE master keys: <id> <hex>; the last is current. Keep secret.\n",
                     kr->n, key_line, kr, tmp, tmpsz);
}

static void dir_sync(const char *path_in_dir)
{
    char dir[PATH_MAX];
    path_dir(path_in_dir, dir, sizeof(dir));
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* ---- the check file: DATA/sse.keycheck ---- */

struct keycheck {
    int n;
    uint32_t id[SSE_MAX_KEYS];
    uint8_t kcv[SSE_MAX_KEYS][SSE_KCV];
};

static void key_kcv(const uint8_t key[SSE_KEY], uint8_t out[SSE_KCV])
{
    static const char label[] = "gzy-sse-v1 key check value";
    uint8_t mac[32];
    gz_hmac_sha256(key, SSE_KEY, label, sizeof(label) - 1, mac);
    memcpy(out, mac, SSE_KCV);
}

static int check_path(const char *data_dir, char *out, size_t outsz)
{
    int n = snprintf(out, outsz, "%s/%s", data_dir, SSE_CHECK_FILE);
    return n < 0 || (size_t)n >= outsz ? -ENAMETOOLONG : 0;
}

/* 0 (kc->n may be 0), -ENOENT, GZ_ECORRUPT or the read error. */
static int check_read(const char *data_dir, struct keycheck *kc)
{
    char path[PATH_MAX], buf[SSE_MAX_KEYS * 40 + 1024];
    memset(kc, 0, sizeof(*kc));
    int rc = check_path(data_dir, path, sizeof(path));
    if (rc == 0)
        rc = file_read(path, buf, sizeof(buf), false);
    if (rc == 0)
        rc = lines_parse(buf, kc->id, &kc->kcv[0][0], SSE_KCV, SSE_MAX_KEYS, &kc->n);
    return rc;
}

static int check_line(const void *src, int i, char *line, size_t sz)
{
    const struct keycheck *kc = src;
    char hex[2 * SSE_KCV + 1];
    gz_hex_encode(hex, kc->kcv[i], SSE_KCV);
    return snprintf(line, sz, "%u %s\n", kc->id[i], hex);
}

static int check_write(const char *data_dir, const struct keycheck *kc)
{
    char path[PATH_MAX], tmp[PATH_MAX + 32];
    int rc = check_path(data_dir, path, sizeof(path));
    if (rc == 0)
        rc = tmp_write(path,
                       "# gzy: check values of the SSE master keys this folder's objects may "
                       "use (not the keys)\n",
                       kc->n, check_line, kc, tmp, sizeof(tmp));
    if (rc == 0 && rename(tmp, path) < 0) {
        rc = -errno;
        unlink(tmp);
    }
    if (rc == 0)
        dir_sync(path);
    return rc;
}

static void check_add(struct keycheck *kc, uint32_t id, const uint8_t key[SSE_KEY])
{
    for (int i = 0; i < kc->n; i++)
        if (kc->id[i] == id)
            return;
    if (kc->n < SSE_MAX_KEYS) {
        kc->id[kc->n] = id;
        key_kcv(key, kc->kcv[kc->n++]);
    }
}

/* Every key kc names is in kr, the same key: 0, -ENOKEY or -EKEYREJECTED (*bad: its id). */
static int check_verify(const struct keycheck *kc, const struct s3__sse_keyring *kr, uint32_t *bad)
{
    for (int i = 0; i < kc->n; i++) {
        const uint8_t *k = s3__sse_keys_find(kr, kc->id[i]);
        uint8_t kcv[SSE_KCV];
        *bad = kc->id[i];
        if (k == NULL)
            return -ENOKEY;
        key_kcv(k, kcv);
        if (CRYPTO_memcmp(kcv, kc->kcv[i], SSE_KCV) != 0)
            return -EKEYREJECTED;
    }
    return 0;
}

/* The check file for every key of kr (a folder from before check files, or a crash between
 * creating the key file and its check file). Best effort: without it nothing is lost but
 * the protection. */
static void check_adopt(const char *data_dir, const struct s3__sse_keyring *kr)
{
    struct keycheck kc = {0};
    for (int i = 0; i < kr->n; i++)
        check_add(&kc, kr->id[i], kr->key[i]);
    int rc = check_write(data_dir, &kc);
    if (rc < 0)
        log_warn("SSE: cannot write %s/%s: %s", data_dir, SSE_CHECK_FILE, gz_strerror(rc));
}

/* ---- loading ---- */

static int keys_create(const char *data_dir, const char *path, struct s3__sse_keyring *kr)
{
    char tmp[PATH_MAX + 32];
    kr->n = 1;
    kr->id[0] = 1;
    gz_random_bytes(kr->key[0], SSE_KEY);
    int rc = keys_write_tmp(path, kr, tmp, sizeof(tmp));
    s3__sse_keys_wipe(kr);
    if (rc < 0)
        return rc;
    if (link(tmp, path) < 0 && errno != EEXIST)
        rc = -errno;
    unlink(tmp);
    dir_sync(path);
    if (rc == 0)
        rc = keys_read(path, kr); /* whoever won the race, use that file */
    if (rc == 0) {
        check_adopt(data_dir, kr);
        if (s3__sse_keys_inside(data_dir, path))
            log_warn("SSE: created the master key file %s inside the data folder: a copy of "
                     "the folder carries the key to its objects; keep it elsewhere with "
                     "--sse-key-file (docs/encryption.md)",
                     path);
    }
    return rc;
}

/* s3__sse_keys_load, and *bad: the key id a -ENOKEY / -EKEYREJECTED is about. */
static int keys_load(const char *data_dir, bool create, struct s3__sse_keyring *kr, uint32_t *bad)
{
    char path[PATH_MAX];
    struct keycheck kc;
    memset(kr, 0, sizeof(*kr));
    *bad = 0;
    if (data_dir == NULL)
        return -ENOENT;
    int rc = s3__sse_keys_path(data_dir, path, sizeof(path));
    int crc = rc == 0 ? check_read(data_dir, &kc) : rc;
    if (crc < 0 && crc != -ENOENT)
        return crc;
    if (rc == 0)
        rc = keys_read(path, kr);
    if (rc == 0 && crc == 0 && kc.n > 0)
        rc = check_verify(&kc, kr, bad);
    else if (rc == 0)
        check_adopt(data_dir, kr); /* no (or an emptied) check file: record this file's keys */
    /* never a new key file for a folder whose objects use the keys of a missing one */
    if (rc == -ENOENT && create && (crc == -ENOENT || kc.n == 0))
        rc = keys_create(data_dir, path, kr);
    if (rc < 0)
        s3__sse_keys_wipe(kr);
    return rc;
}

int s3__sse_keys_load(const char *data_dir, bool create, struct s3__sse_keyring *kr)
{
    uint32_t bad;
    return keys_load(data_dir, create, kr, &bad);
}

int s3__sse_keys_add(const char *data_dir, struct s3__sse_keyring *kr)
{
    char path[PATH_MAX], tmp[PATH_MAX + 32];
    struct keycheck kc;
    if (kr->n >= SSE_MAX_KEYS)
        return -ENOSPC;
    int rc = s3__sse_keys_path(data_dir, path, sizeof(path));
    if (rc < 0)
        return rc;
    kr->id[kr->n] = kr->n ? kr->id[kr->n - 1] + 1 : 1;
    gz_random_bytes(kr->key[kr->n], SSE_KEY);
    kr->n++;
    rc = keys_write_tmp(path, kr, tmp, sizeof(tmp));
    if (rc == 0 && rename(tmp, path) < 0) {
        rc = -errno;
        unlink(tmp);
    }
    if (rc < 0) {
        kr->n--;
        return rc;
    }
    dir_sync(path);
    /* before any object is wrapped under the new key, the folder records that it may be */
    bool all = check_read(data_dir, &kc) < 0 || kc.n == 0;
    if (all)
        memset(&kc, 0, sizeof(kc));
    for (int i = all ? 0 : kr->n - 1; i < kr->n; i++)
        check_add(&kc, kr->id[i], kr->key[i]);
    return check_write(data_dir, &kc);
}

const uint8_t *s3__sse_keys_find(const struct s3__sse_keyring *kr, uint32_t id)
{
    for (int i = 0; i < kr->n; i++)
        if (kr->id[i] == id)
            return kr->key[i];
    return NULL;
}

void s3__sse_keys_wipe(struct s3__sse_keyring *kr)
{
    OPENSSL_cleanse(kr, sizeof(*kr));
}

/* ---- the envelope ---- */

static const char *const env_aad = "gzy-sse-v1 data key";

int s3__sse_env_wrap(struct s3__sse_env *env, const uint8_t wrap_key[SSE_KEY],
                     const uint8_t dk[SSE_KEY])
{
    struct s3__aead a;
    int rc = s3__aead_init(&a, SSE_ALG_AES256, wrap_key, SSE_KEY);
    if (rc < 0)
        return rc;
    gz_random_bytes(env->wrapped, 12);
    rc = s3__aead_seal(&a, env->wrapped, (const uint8_t *)env_aad, strlen(env_aad), dk, SSE_KEY,
                       env->wrapped + 12, env->wrapped + 12 + SSE_KEY);
    s3__aead_free(&a);
    return rc;
}

int s3__sse_env_unwrap(const struct s3__sse_env *env, const uint8_t wrap_key[SSE_KEY],
                       uint8_t dk[SSE_KEY])
{
    struct s3__aead a;
    int rc = s3__aead_init(&a, SSE_ALG_AES256, wrap_key, SSE_KEY);
    if (rc < 0)
        return rc;
    rc = s3__aead_open(&a, env->wrapped, (const uint8_t *)env_aad, strlen(env_aad),
                       env->wrapped + 12, SSE_KEY, dk, env->wrapped + 12 + SSE_KEY);
    s3__aead_free(&a);
    if (rc < 0)
        OPENSSL_cleanse(dk, SSE_KEY);
    return rc;
}

void s3__sse_env_mark(struct s3__sse_env *env, const uint8_t ckey[SSE_KEY])
{
    gz_random_bytes(env->salt, sizeof(env->salt));
    gz_hmac_sha256(ckey, SSE_KEY, env->salt, sizeof(env->salt), env->mac);
}

bool s3__sse_env_matches(const struct s3__sse_env *env, const uint8_t ckey[SSE_KEY])
{
    uint8_t mac[32];
    gz_hmac_sha256(ckey, SSE_KEY, env->salt, sizeof(env->salt), mac);
    return gz_consttime_eq(mac, sizeof(mac), env->mac, sizeof(env->mac));
}

static int b64_field(struct gz_slice v, uint8_t *out, size_t n)
{
    return gz_base64_decode(out, n, v) == (int)n ? 0 : -EINVAL;
}

/* One "name=value" field of the envelope. */
static int env_field(struct s3__sse_env *env, struct gz_slice f, unsigned *seen)
{
    const char *eq = memchr(f.ptr, '=', f.len);
    if (eq == NULL || eq != f.ptr + 1)
        return -EINVAL;
    struct gz_slice v = gz_slice(eq + 1, f.len - 2);
    uint64_t n = 0;
    *seen |= 1u << (f.ptr[0] & 31);
    switch (f.ptr[0]) {
    case 'v':
        return gz_slice_eq_cstr(v, "1") ? 0 : -EINVAL;
    case 'a':
        env->alg = s3__sse_alg_from_name(v);
        return env->alg == SSE_ALG_NONE ? -EINVAL : 0;
    case 'k':
        if (gz_slice_eq_cstr(v, "c")) {
            env->customer = true;
            return 0;
        }
        if (gz_slice_to_u64(v, &n) < 0 || n == 0 || n > 0xffffffffu)
            return -EINVAL;
        env->kid = (uint32_t)n;
        return 0;
    case 'w':
        return b64_field(v, env->wrapped, sizeof(env->wrapped));
    case 's':
        return b64_field(v, env->salt, sizeof(env->salt));
    case 'h':
        return b64_field(v, env->mac, sizeof(env->mac));
    default:
        return 0; /* a later version's field: ignored */
    }
}

int s3__sse_env_parse(struct gz_slice v, struct s3__sse_env *env)
{
    unsigned seen = 0;
    memset(env, 0, sizeof(*env));
    size_t i = 0;
    while (i < v.len) {
        const char *semi = memchr(v.ptr + i, ';', v.len - i);
        size_t end = semi ? (size_t)(semi - v.ptr) : v.len;
        if (env_field(env, gz_slice(v.ptr + i, end - i), &seen) < 0)
            return -EINVAL;
        i = end + 1;
    }
    unsigned need = 1u << ('v' & 31) | 1u << ('a' & 31) | 1u << ('k' & 31) | 1u << ('w' & 31);
    if (env->customer)
        need |= 1u << ('s' & 31) | 1u << ('h' & 31);
    return (seen & need) == need ? 0 : -EINVAL;
}

int s3__sse_env_format(const struct s3__sse_env *env, char *out, size_t outsz)
{
    char w[96], s[32], h[48], kid[16];
    gz_base64_encode(w, env->wrapped, sizeof(env->wrapped));
    if (env->customer)
        snprintf(kid, sizeof(kid), "c");
    else
        snprintf(kid, sizeof(kid), "%u", env->kid);
    int n = snprintf(out, outsz, "v=1;a=%s;k=%s;w=%s", s3__sse_alg_name(env->alg), kid, w);
    if (n >= 0 && env->customer) {
        gz_base64_encode(s, env->salt, sizeof(env->salt));
        gz_base64_encode(h, env->mac, sizeof(env->mac));
        n += snprintf(out + n, outsz - (size_t)n, ";s=%s;h=%s", s, h);
    }
    return n < 0 || (size_t)n >= outsz ? -E2BIG : 0;
}

const char *s3__sse_alg_name(enum s3__sse_alg alg)
{
    return alg == SSE_ALG_AES256 ? "AES256" : alg == SSE_ALG_SM4 ? "SM4" : "";
}

enum s3__sse_alg s3__sse_alg_from_name(struct gz_slice name)
{
    if (gz_slice_eq_cstr(name, "AES256"))
        return SSE_ALG_AES256;
    if (gz_slice_eq_cstr(name, "SM4"))
        return SSE_ALG_SM4;
    return SSE_ALG_NONE;
}

struct s3__sse_cache {
    pthread_mutex_t mu;
    bool loaded;
    struct s3__sse_keyring kr;
};

struct s3__sse_cache *s3__sse_cache_new(void)
{
    struct s3__sse_cache *c = gz_calloc(1, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

void s3__sse_cache_free(struct s3__sse_cache *c)
{
    if (c == NULL)
        return;
    s3__sse_keys_wipe(&c->kr);
    pthread_mutex_destroy(&c->mu);
    gz_free(c);
}

int s3__sse_keys_cached(struct s3_service *svc, bool create, struct s3__sse_keyring *kr)
{
    struct s3__sse_cache *c = svc->sse;
    int rc = 0;
    pthread_mutex_lock(&c->mu);
    if (!c->loaded) {
        rc = s3__sse_keys_load(store_data_dir(svc->store), create, &c->kr);
        c->loaded = rc == 0;
    }
    if (rc == 0)
        *kr = c->kr;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int s3__sse_master_wrap(struct s3_service *svc, struct s3__sse_env *env, uint8_t dk[SSE_KEY])
{
    struct s3__sse_keyring kr;
    gz_random_bytes(dk, SSE_KEY);
    int rc = s3__sse_keys_cached(svc, true, &kr);
    if (rc == 0) {
        env->kid = kr.id[kr.n - 1];
        rc = s3__sse_env_wrap(env, kr.key[kr.n - 1], dk);
    }
    s3__sse_keys_wipe(&kr);
    return rc;
}

int s3__sse_master_unwrap(struct s3_service *svc, const struct s3__sse_env *env,
                          uint8_t dk[SSE_KEY])
{
    struct s3__sse_keyring kr;
    int rc = s3__sse_keys_cached(svc, false, &kr);
    const uint8_t *mk = rc == 0 ? s3__sse_keys_find(&kr, env->kid) : NULL;
    if (rc == 0)
        rc = mk ? s3__sse_env_unwrap(env, mk, dk) : -ENOKEY;
    s3__sse_keys_wipe(&kr);
    return rc;
}

/* ---- the start-up check (s3.h) ---- */

struct sse_state {
    struct store *s;
    int used, dflt;                   /* buckets that hold encrypted objects / encrypt by default */
    char first[STORE_MAX_BUCKET + 1]; /* a bucket that holds encrypted objects */
    bool master;                      /* an object wrapped under a master key was seen */
    char *keys[SSE_SCAN_PAGE];        /* one page of keys (legacy_scan) */
    int nkeys;
};

static bool bucket_has_attr(struct store *s, const char *bucket, const char *name)
{
    struct gz_buf v;
    gz_buf_init(&v, 0);
    bool has = store_bucket_attr_get(s, gz_slice_cstr(bucket), name, &v) == 0;
    gz_buf_free(&v);
    return has;
}

static int state_bucket(const struct store_bucket *b, void *ud)
{
    struct sse_state *st = ud;
    if (bucket_has_attr(st->s, b->name, SSE_ATTR))
        st->dflt++;
    if (bucket_has_attr(st->s, b->name, SSE_ATTR_USED) && st->used++ == 0)
        snprintf(st->first, sizeof(st->first), "%s", b->name);
    return 0;
}

static bool headers_master_keyed(struct gz_slice headers)
{
    struct s3__sse_env env;
    struct gz_slice v = s3__sse_stored_header(headers, SSE_HEADER);
    return v.ptr && s3__sse_env_parse(v, &env) == 0 && !env.customer;
}

static void scan_list_cb(const struct store_list_entry *e, void *ud)
{
    struct sse_state *st = ud;
    if (!e->is_prefix && st->nkeys < SSE_SCAN_PAGE)
        st->keys[st->nkeys++] = gz_strndup(e->key.ptr, e->key.len);
}

/* A folder from before the check file, whose key file is missing: do the buckets marked as
 * holding encrypted objects hold one wrapped under a master key (not only SSE-C ones)? */
static int scan_bucket(const struct store_bucket *b, void *ud)
{
    struct sse_state *st = ud;
    struct gz_slice bucket = gz_slice_cstr(b->name);
    char after[STORE_MAX_KEY + 1] = "";
    bool more = bucket_has_attr(st->s, b->name, SSE_ATTR_USED);
    while (more && !st->master) {
        st->nkeys = 0;
        if (store_object_list(st->s, bucket, GZ_SLICE_NULL, gz_slice_cstr(after), GZ_SLICE_NULL,
                              SSE_SCAN_PAGE, scan_list_cb, st, &more) < 0)
            more = false;
        for (int i = 0; i < st->nkeys; i++) {
            struct store_meta m;
            struct gz_buf hold;
            gz_buf_init(&hold, 0);
            if (!st->master &&
                store_object_stat(st->s, bucket, gz_slice_cstr(st->keys[i]), &m, &hold) == 0)
                st->master = headers_master_keyed(m.headers);
            gz_buf_free(&hold);
            if (i == st->nkeys - 1)
                snprintf(after, sizeof(after), "%s", st->keys[i]);
            gz_free(st->keys[i]);
        }
        more = more && st->nkeys > 0;
    }
    return st->master;
}

/* Why the key file cannot serve the folder, in words an operator can act on. */
static void keys_error(int rc, const char *path, const char *data_dir, uint32_t bad, char *msg,
                       size_t msgsz)
{
    struct stat sb;
    if (rc == -EPERM && stat(path, &sb) == 0)
        snprintf(msg, msgsz,
                 "the SSE master key file %s may be accessed by group or others "
                 "(mode %03o): chmod 600 it",
                 path, (unsigned)(sb.st_mode & 0777));
    else if (rc == -ENOKEY)
        snprintf(msg, msgsz,
                 "the SSE master key file %s lacks key %u, which objects in %s "
                 "may be wrapped under: start with the key file they were written with "
                 "(--sse-key-file)",
                 path, bad, data_dir);
    else if (rc == -EKEYREJECTED)
        snprintf(msg, msgsz,
                 "key %u in the SSE master key file %s is not the key %u that "
                 "objects in %s were written with (another folder's key file?)",
                 bad, path, bad, data_dir);
    else if (rc == GZ_ECORRUPT)
        snprintf(msg, msgsz,
                 "the SSE master key file %s (or %s/%s) is not in the expected "
                 "format (lines \"<id> <hex>\")",
                 path, data_dir, SSE_CHECK_FILE);
    else
        snprintf(msg, msgsz, "the SSE master key file %s: %s", path, gz_strerror(rc));
}

/* A key file still to be created needs its folder. */
static int keys_dir_check(const char *path, char *msg, size_t msgsz)
{
    char dir[PATH_MAX];
    struct stat sb;
    path_dir(path, dir, sizeof(dir));
    if (stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode))
        return 0;
    snprintf(msg, msgsz, "the folder %s of the SSE master key file %s does not exist", dir, path);
    return -ENOENT;
}

int s3_service_sse_check(struct s3_service *svc, char *msg, size_t msgsz)
{
    struct sse_state *st = gz_calloc(1, sizeof(*st));
    struct s3__sse_cache *c = svc->sse;
    const char *data_dir = store_data_dir(svc->store);
    char path[PATH_MAX];
    struct keycheck kc;
    uint32_t bad = 0;
    st->s = svc->store;
    msg[0] = '\0';
    int rc = s3__sse_keys_path(data_dir, path, sizeof(path));
    if (rc == 0)
        rc = store_bucket_list(svc->store, NULL, state_bucket, st);
    if (rc == 0) {
        pthread_mutex_lock(&c->mu); /* loaded here, no request does file I/O for it later */
        rc = keys_load(data_dir, false, &c->kr, &bad);
        c->loaded = rc == 0;
        pthread_mutex_unlock(&c->mu);
    }
    if (rc == -ENOENT) {
        int crc = check_read(data_dir, &kc);
        bool listed = crc == 0 && kc.n > 0;
        if (crc == -ENOENT && st->used > 0) /* a folder from before the check file */
            store_bucket_list(svc->store, NULL, scan_bucket, st);
        if (listed || st->master)
            snprintf(msg, msgsz,
                     "objects in %s are encrypted under SSE master keys (bucket "
                     "%s, ...), but the key file %s is missing: start with --sse-key-file "
                     "(or GZY_SSE_KEY_FILE) naming the file they were written with",
                     data_dir, st->first[0] ? st->first : "?", path);
        else
            rc = keys_dir_check(path, msg, msgsz); /* the file is created on first use */
    } else if (rc < 0) {
        keys_error(rc, path, data_dir, bad, msg, msgsz);
    }
    if (rc == 0 && st->used + st->dflt > 0 && s3__sse_keys_inside(data_dir, path))
        log_warn("SSE: the master key file %s is inside the data folder %s: a copy of the "
                 "folder carries the key to its encrypted objects; keep it elsewhere with "
                 "--sse-key-file (docs/encryption.md)",
                 path, data_dir);
    gz_free(st);
    return rc;
}

/* ---- after a rotation ---- */

struct retire {
    struct store *s;
    const struct s3__sse_keyring *kr;
    struct keycheck kc;
    char key_marker[STORE_MAX_KEY + 1];
    char id_marker[STORE_UPLOAD_ID_LEN + 1];
    int seen;
    int err;
};

static void retire_upload(const struct store_upload *up, bool is_prefix, void *ud)
{
    struct retire *rt = ud;
    struct s3__sse_env env;
    struct gz_slice v = s3__sse_stored_header(up->headers, SSE_HEADER);
    if (is_prefix)
        return;
    rt->seen++;
    snprintf(rt->key_marker, sizeof(rt->key_marker), "%.*s", (int)up->key.len, up->key.ptr);
    snprintf(rt->id_marker, sizeof(rt->id_marker), "%s", up->upload_id);
    if (v.ptr && s3__sse_env_parse(v, &env) == 0 && !env.customer) {
        const uint8_t *k = s3__sse_keys_find(rt->kr, env.kid);
        if (k)
            check_add(&rt->kc, env.kid, k);
    }
}

static int retire_bucket(const struct store_bucket *b, void *ud)
{
    struct retire *rt = ud;
    bool more = true;
    rt->key_marker[0] = rt->id_marker[0] = '\0';
    while (more) {
        rt->seen = 0;
        if (store_upload_list(rt->s, gz_slice_cstr(b->name), GZ_SLICE_NULL, GZ_SLICE_NULL,
                              gz_slice_cstr(rt->key_marker), rt->id_marker, SSE_SCAN_PAGE,
                              retire_upload, rt, &more) < 0) {
            rt->err = -EIO;
            return 1;
        }
        more = more && rt->seen > 0;
    }
    return 0;
}

int s3__sse_keys_retire(struct store *s)
{
    struct s3__sse_keyring kr;
    struct retire *rt = gz_calloc(1, sizeof(*rt));
    const char *data_dir = store_data_dir(s);
    int rc = s3__sse_keys_load(data_dir, false, &kr);
    if (rc == 0) {
        rt->s = s;
        rt->kr = &kr;
        check_add(&rt->kc, kr.id[kr.n - 1], kr.key[kr.n - 1]);
        /* a pending multipart upload keeps its data key wrapped as it was (rotation re-wraps
         * objects), and the object it completes into inherits that envelope */
        rc = store_bucket_list(s, NULL, retire_bucket, rt);
        rc = rc < 0 ? rc : rt->err;
    }
    if (rc == 0)
        rc = check_write(data_dir, &rt->kc);
    s3__sse_keys_wipe(&kr);
    gz_free(rt);
    return rc;
}
