/*
 * crypt.c - the master key and secret sealing.
 *
 * DATA/master.key holds 32 random bytes (mode 0600). It is created once: written to a
 * temporary file opened with O_EXCL, fsynced, then link()ed into place, which fails if another
 * process won the race; so the file is never seen half-written, and an existing key is never
 * replaced. Keys for each use are derived from it by HMAC-SHA256 over a purpose string, so the
 * audit log's checkpoint key and the secret-sealing key are independent.
 *
 * A secret is sealed with AES-256-GCM under the derived key, with a fresh random 96-bit nonce
 * and the access key as additional authenticated data (a sealed secret copied onto another
 * access key's row does not open). Layout: version byte (1) || nonce (12) || ciphertext || tag
 * (16).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "../util/hash.h"
#include "iam_int.h"

static int key_path(const char *data_dir, const char *name, char *out, size_t outsz)
{
    if ((size_t)snprintf(out, outsz, "%s/%s", data_dir, name) >= outsz)
        return -ENAMETOOLONG;
    return 0;
}

static int key_read(const char *path, uint8_t key[IAM__MASTER_KEY_LEN])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    struct stat sb;
    int rc = 0;
    if (fstat(fd, &sb) < 0) {
        rc = -errno;
        goto out;
    }
    if (sb.st_size != IAM__MASTER_KEY_LEN) {
        log_error("%s: %lld bytes, expected %d", path, (long long)sb.st_size, IAM__MASTER_KEY_LEN);
        rc = GZ_ECORRUPT;
        goto out;
    }
    if (sb.st_mode & (S_IRWXG | S_IRWXO))
        log_warn("%s is readable by others (mode %o); it should be 0600", path,
                 (unsigned)(sb.st_mode & 0777));
    ssize_t n = pread(fd, key, IAM__MASTER_KEY_LEN, 0);
    if (n != IAM__MASTER_KEY_LEN)
        rc = n < 0 ? -errno : GZ_ECORRUPT;
out:
    close(fd);
    return rc;
}

static void dir_sync(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Creates the key file; -EEXIST if another process created it first. */
static int key_create(const char *data_dir, const char *path)
{
    char tmp[4096];
    uint8_t key[IAM__MASTER_KEY_LEN];
    uint8_t rnd[8];
    char hex[17];
    int rc;
    gz_random_bytes(rnd, sizeof(rnd));
    gz_hex_encode(hex, rnd, sizeof(rnd));
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.master.key.%s", data_dir, hex) >= sizeof(tmp))
        return -ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    gz_random_bytes(key, sizeof(key));
    rc = gz_write_all(fd, key, sizeof(key));
    explicit_bzero(key, sizeof(key));
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    close(fd);
    if (rc == 0 && link(tmp, path) < 0)
        rc = -errno;
    unlink(tmp);
    if (rc == 0)
        dir_sync(data_dir);
    return rc;
}

int iam__master_key_load(const char *data_dir, bool create, uint8_t key[IAM__MASTER_KEY_LEN])
{
    char path[4096];
    int rc = key_path(data_dir, IAM__MASTER_KEY_FILE, path, sizeof(path));
    if (rc < 0)
        return rc;
    rc = key_read(path, key);
    if (rc != -ENOENT || !create)
        return rc;
    rc = key_create(data_dir, path);
    if (rc < 0 && rc != -EEXIST) {
        log_error("cannot create %s: %s", path, gz_strerror(rc));
        return rc;
    }
    if (rc == 0)
        log_info("created master key %s", path);
    return key_read(path, key);
}

void iam__derive(const uint8_t master[IAM__MASTER_KEY_LEN], const char *purpose, uint8_t out[32])
{
    gz_hmac_sha256(master, IAM__MASTER_KEY_LEN, purpose, strlen(purpose), out);
}

int iam_master_key_derive(const char *data_dir, const char *purpose, uint8_t out[32])
{
    uint8_t master[IAM__MASTER_KEY_LEN];
    int rc = iam__master_key_load(data_dir, false, master);
    if (rc == 0)
        iam__derive(master, purpose, out);
    explicit_bzero(master, sizeof(master));
    return rc;
}

/* One AES-256-GCM pass; enc selects seal or open. Returns 0 or GZ_ECORRUPT. */
static int gcm(bool enc, const uint8_t key[32], const uint8_t nonce[IAM__NONCE_LEN],
               const char *aad, const uint8_t *in, size_t n, uint8_t *out, uint8_t *tag)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int len = 0, ok;
    if (c == NULL) {
        fprintf(stderr, "gzy: out of memory (EVP_CIPHER_CTX)\n");
        abort();
    }
    ok = EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc ? 1 : 0) == 1 &&
         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, IAM__NONCE_LEN, NULL) == 1 &&
         EVP_CipherInit_ex(c, NULL, NULL, key, nonce, enc ? 1 : 0) == 1 &&
         EVP_CipherUpdate(c, NULL, &len, (const uint8_t *)aad, (int)strlen(aad)) == 1 &&
         EVP_CipherUpdate(c, out, &len, in, (int)n) == 1;
    if (ok && !enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, IAM__TAG_LEN, tag) == 1;
    if (ok)
        ok = EVP_CipherFinal_ex(c, out + len, &len) == 1;
    if (ok && enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, IAM__TAG_LEN, tag) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : GZ_ECORRUPT;
}

size_t iam__secret_seal(const uint8_t key[32], const char *access, const char *secret,
                        uint8_t out[IAM__SEALED_MAX])
{
    size_t n = strlen(secret);
    if (n > IAM_MAX_SECRET)
        n = IAM_MAX_SECRET;
    out[0] = IAM__SEALED_VERSION;
    gz_random_bytes(out + 1, IAM__NONCE_LEN);
    uint8_t *ct = out + 1 + IAM__NONCE_LEN;
    if (gcm(true, key, out + 1, access, (const uint8_t *)secret, n, ct, ct + n) < 0) {
        /* Encryption with a valid key cannot fail short of a broken libcrypto. */
        fprintf(stderr, "gzy: AES-256-GCM encryption failed\n");
        abort();
    }
    return 1 + IAM__NONCE_LEN + n + IAM__TAG_LEN;
}

int iam__secret_open(const uint8_t key[32], const char *access, const uint8_t *sealed, size_t n,
                     char out[IAM_MAX_SECRET + 1])
{
    if (n < 1 + IAM__NONCE_LEN + IAM__TAG_LEN || n > IAM__SEALED_MAX ||
        sealed[0] != IAM__SEALED_VERSION)
        return GZ_ECORRUPT;
    size_t len = n - 1 - IAM__NONCE_LEN - IAM__TAG_LEN;
    uint8_t tag[IAM__TAG_LEN];
    memcpy(tag, sealed + 1 + IAM__NONCE_LEN + len, IAM__TAG_LEN);
    int rc =
        gcm(false, key, sealed + 1, access, sealed + 1 + IAM__NONCE_LEN, len, (uint8_t *)out, tag);
    if (rc < 0) {
        explicit_bzero(out, IAM_MAX_SECRET + 1);
        return rc;
    }
    out[len] = '\0';
    return 0;
}

int iam_secret_seal(struct iam *iam, const char *context, const char *plain, char *out,
                    size_t outsz)
{
    uint8_t sealed[IAM__SEALED_MAX];
    if (strlen(plain) > IAM_MAX_SECRET || outsz < 4 * ((IAM__SEALED_MAX + 2) / 3) + 1)
        return -EINVAL;
    size_t n = iam__secret_seal(iam->seal_key, context, plain, sealed);
    gz_base64_encode(out, sealed, n);
    return 0;
}

int iam_secret_open(struct iam *iam, const char *context, const char *sealed, char *out,
                    size_t outsz)
{
    uint8_t raw[IAM__SEALED_MAX + 3];
    char plain[IAM_MAX_SECRET + 1];
    int n = gz_base64_decode(raw, sizeof(raw), gz_slice_cstr(sealed));
    if (n <= 0)
        return -EINVAL;
    int rc = iam__secret_open(iam->seal_key, context, raw, (size_t)n, plain);
    if (rc < 0)
        return rc;
    if (strlen(plain) >= outsz)
        rc = -ENOSPC;
    else
        memcpy(out, plain, strlen(plain) + 1);
    explicit_bzero(plain, sizeof(plain));
    return rc;
}
