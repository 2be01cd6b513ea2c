/*
 * sse_keys.c - the master key file (DATA/sse.keys) and the envelope that carries an object's
 * wrapped data key in its stored headers (x-gzy-sse).
 *
 * The key file holds lines "<id> <64 hex>" (comments start with '#'); the last line is the
 * current key, used to wrap new data keys; older ones still unwrap the objects they wrapped
 * until `gzy sse rotate` re-wraps them. It is created on first use with one random key, mode
 * 0600, by writing a temporary file and link(2)ing it into place, so two processes racing to
 * create it end up with the same file. Rewrites (rotation) go through rename(2) after fsync.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/hash.h"
#include "sse_int.h"

#define KEYS_FILE_MAX (SSE_MAX_KEYS * 80 + 1024)

static int keys_parse(const char *text, struct s3__sse_keyring *kr)
{
    kr->n = 0;
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
        if (sp == NULL || kr->n >= SSE_MAX_KEYS ||
            gz_slice_to_u64(gz_slice(line.ptr, (size_t)(sp - line.ptr)), &id) < 0 || id == 0 ||
            id > 0xffffffffu)
            return GZ_ECORRUPT;
        struct gz_slice hex =
            gz_slice_trim(gz_slice(sp + 1, line.len - (size_t)(sp + 1 - line.ptr)));
        if (hex.len != 2 * SSE_KEY || gz_hex_decode(kr->key[kr->n], SSE_KEY, hex) != SSE_KEY)
            return GZ_ECORRUPT;
        kr->id[kr->n++] = (uint32_t)id;
    }
    return kr->n > 0 ? 0 : GZ_ECORRUPT;
}

static int keys_read(const char *path, struct s3__sse_keyring *kr)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char *buf = gz_malloc(KEYS_FILE_MAX + 1);
    ssize_t n = read(fd, buf, KEYS_FILE_MAX);
    int rc = n < 0 ? -errno : n >= KEYS_FILE_MAX ? GZ_ECORRUPT : 0;
    close(fd);
    if (rc == 0) {
        buf[n] = '\0';
        rc = keys_parse(buf, kr);
    }
    OPENSSL_cleanse(buf, KEYS_FILE_MAX + 1);
    gz_free(buf);
    return rc;
}

/* Writes kr to a new temporary file next to the key file; *tmp gets its path. */
static int keys_write_tmp(const char *data_dir, const struct s3__sse_keyring *kr, char *tmp,
                          size_t tmpsz)
{
    uint8_t rnd[8];
    char hex[17], line[2 * SSE_KEY + 32];
    gz_random_bytes(rnd, sizeof(rnd));
    gz_hex_encode(hex, rnd, sizeof(rnd));
    snprintf(tmp, tmpsz, "%s/%s.tmp.%s", data_dir, SSE_KEYS_FILE, hex);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    const char *head = "# gzy SSE master keys: <id> <hex>; the last is current. Keep secret.\n";
    int rc = gz_write_all(fd, head, strlen(head));
    for (int i = 0; i < kr->n && rc == 0; i++) {
        char khex[2 * SSE_KEY + 1];
        gz_hex_encode(khex, kr->key[i], SSE_KEY);
        int len = snprintf(line, sizeof(line), "%u %s\n", kr->id[i], khex);
        rc = gz_write_all(fd, line, (size_t)len);
        OPENSSL_cleanse(khex, sizeof(khex));
    }
    OPENSSL_cleanse(line, sizeof(line));
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    close(fd);
    if (rc < 0)
        unlink(tmp);
    return rc;
}

static void dir_sync(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

int s3__sse_keys_load(const char *data_dir, bool create, struct s3__sse_keyring *kr)
{
    char path[4096], tmp[4200];
    memset(kr, 0, sizeof(*kr));
    if (data_dir == NULL)
        return -ENOENT;
    snprintf(path, sizeof(path), "%s/%s", data_dir, SSE_KEYS_FILE);
    int rc = keys_read(path, kr);
    if (rc != -ENOENT || !create)
        return rc;
    kr->n = 1;
    kr->id[0] = 1;
    gz_random_bytes(kr->key[0], SSE_KEY);
    rc = keys_write_tmp(data_dir, kr, tmp, sizeof(tmp));
    if (rc < 0)
        return rc;
    if (link(tmp, path) < 0 && errno != EEXIST)
        rc = -errno;
    unlink(tmp);
    dir_sync(data_dir);
    s3__sse_keys_wipe(kr);
    return rc < 0 ? rc : keys_read(path, kr); /* whoever won the race, use that file */
}

int s3__sse_keys_add(const char *data_dir, struct s3__sse_keyring *kr)
{
    char path[4096], tmp[4200];
    if (kr->n >= SSE_MAX_KEYS)
        return -ENOSPC;
    kr->id[kr->n] = kr->n ? kr->id[kr->n - 1] + 1 : 1;
    gz_random_bytes(kr->key[kr->n], SSE_KEY);
    kr->n++;
    snprintf(path, sizeof(path), "%s/%s", data_dir, SSE_KEYS_FILE);
    int rc = keys_write_tmp(data_dir, kr, tmp, sizeof(tmp));
    if (rc == 0 && rename(tmp, path) < 0) {
        rc = -errno;
        unlink(tmp);
    }
    if (rc == 0)
        dir_sync(data_dir);
    else
        kr->n--;
    return rc;
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
