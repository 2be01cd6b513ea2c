/*
 * key.c - access keys. Generated (20 characters [A-Z2-7] / 40 base64 characters, as AWS
 * shapes them) or given, as `radosgw-admin user create --access-key --secret` allows for
 * automation. The secret leaves this file once, in iam_key_create's secret_out; iam.db holds it
 * only sealed (crypt.c) and the cache holds it decrypted for SigV4.
 *
 * The root credential is not a stored key: it comes from the configuration every start, so it
 * cannot be created, disabled or deleted here.
 */
#include <errno.h>
#include <stdio.h>

#include "iam_int.h"

#define KEY_LIST_MAX 1000000
#define ACCESS_GEN_LEN 20
#define SECRET_GEN_BYTES 30 /* 40 base64 characters */

/* Printable ASCII without spaces; '/', ',' and ':' are refused in access keys because SigV4
 * (Credential=AK/scope, ...) and SigV2 (AWS AK:signature) use them as separators. */
static bool key_chars_valid(const char *s, size_t min, size_t max, const char *banned)
{
    size_t n = strlen(s);
    if (n < min || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] <= ' ' || s[i] >= 0x7f || (banned && strchr(banned, s[i])))
            return false;
    }
    return true;
}

static int key_params(const char *access, const char *secret, char ak[IAM_MAX_ACCESS_KEY + 1],
                      char sk[IAM_MAX_SECRET + 1], char *msg, size_t msgsz)
{
    if (access) {
        if (!key_chars_valid(access, 3, IAM_MAX_ACCESS_KEY, "/,:")) {
            iam__msg(msg, msgsz,
                     "an access key must be 3-128 printable ASCII characters "
                     "without spaces, '/', ',' or ':'");
            return -EINVAL;
        }
        iam__copy(ak, IAM_MAX_ACCESS_KEY + 1, access);
    } else {
        static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        uint8_t r[ACCESS_GEN_LEN];
        gz_random_bytes(r, sizeof(r));
        for (size_t i = 0; i < sizeof(r); i++)
            ak[i] = b32[r[i] & 31];
        ak[ACCESS_GEN_LEN] = '\0';
    }
    if (secret) {
        if (!key_chars_valid(secret, 8, IAM_MAX_SECRET, NULL)) {
            iam__msg(msg, msgsz,
                     "a secret key must be 8-128 printable ASCII characters "
                     "without spaces");
            return -EINVAL;
        }
        iam__copy(sk, IAM_MAX_SECRET + 1, secret);
    } else {
        uint8_t r[SECRET_GEN_BYTES];
        gz_random_bytes(r, sizeof(r));
        gz_base64_encode(sk, r, sizeof(r));
        explicit_bzero(r, sizeof(r));
    }
    return 0;
}

static void key_from_row(sqlite3_stmt *st, struct iam_key *k)
{
    memset(k, 0, sizeof(*k));
    iam__col_text(st, 0, k->access_key, sizeof(k->access_key));
    iam__col_text(st, 1, k->user_id, sizeof(k->user_id));
    iam__col_text(st, 2, k->user_name, sizeof(k->user_name));
    iam__col_text(st, 3, k->tenant_name, sizeof(k->tenant_name));
    k->enabled = sqlite3_column_int(st, 4) != 0;
    k->created_ms = sqlite3_column_int64(st, 5);
}

static int key_find(struct iam *iam, const char *access, struct iam_key *out)
{
    sqlite3_stmt *st = iam__st(iam, IAM_ST_KEY_GET);
    sqlite3_bind_text(st, 1, access, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        key_from_row(st, out);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return -ENOENT;
    return iam__db_rc(iam, rc, "key get");
}

/* Is access a root access key, now or formerly (its row maps to the root user)? */
static int key_is_root(struct iam *iam, const char *access)
{
    if (strcmp(access, iam->root.access_key) == 0)
        return 1;
    sqlite3_stmt *st = iam__st(iam, IAM_ST_ROOT_GET);
    sqlite3_bind_text(st, 1, access, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return 1;
    return iam__db_rc(iam, rc, "root key get");
}

static int key_insert(struct iam *iam, const char *ak, const char *sk, const char *user_id,
                      int64_t now)
{
    uint8_t sealed[IAM__SEALED_MAX];
    size_t n = iam__secret_seal(iam->seal_key, ak, sk, sealed);
    sqlite3_stmt *st = iam__st(iam, IAM_ST_KEY_INS);
    sqlite3_bind_text(st, 1, ak, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, user_id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, sealed, (int)n, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return iam__db_rc(iam, rc, "key insert");
}

static int key_create_locked(struct iam *iam, const char *user_ref, const char *ak, const char *sk,
                             struct iam_key *k, char *msg, size_t msgsz)
{
    struct iam_user u;
    int rc = iam__user_find(iam, user_ref, &u);
    if (rc == -ENOENT)
        iam__msg(msg, msgsz, "no user %.127s", user_ref ? user_ref : "");
    if (rc < 0)
        return rc;
    if ((rc = key_is_root(iam, ak)) != 0) {
        if (rc > 0) {
            iam__msg(msg, msgsz, "access key %s is reserved for the root credential", ak);
            rc = -EEXIST;
        }
        return rc;
    }
    int64_t now = gz_now_ms();
    rc = key_insert(iam, ak, sk, u.id, now);
    if (rc == -EEXIST)
        iam__msg(msg, msgsz, "access key %s already exists", ak);
    if (rc < 0)
        return rc;
    memset(k, 0, sizeof(*k));
    iam__copy(k->access_key, sizeof(k->access_key), ak);
    iam__copy(k->user_id, sizeof(k->user_id), u.id);
    iam__copy(k->user_name, sizeof(k->user_name), u.name);
    iam__copy(k->tenant_name, sizeof(k->tenant_name), u.tenant_name);
    k->enabled = true;
    k->created_ms = now;
    return iam__cache_rebuild(iam);
}

int iam_key_create(struct iam *iam, const char *user_ref, const char *access, const char *secret,
                   struct iam_key *out, char secret_out[IAM_MAX_SECRET + 1], char *msg,
                   size_t msgsz)
{
    char ak[IAM_MAX_ACCESS_KEY + 1], sk[IAM_MAX_SECRET + 1];
    struct iam_key k;
    int rc = key_params(access, secret, ak, sk, msg, msgsz);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&iam->lock);
    rc = key_create_locked(iam, user_ref, ak, sk, &k, msg, msgsz);
    pthread_mutex_unlock(&iam->lock);
    if (rc == 0) {
        if (out)
            *out = k;
        if (secret_out)
            memcpy(secret_out, sk, strlen(sk) + 1);
    }
    explicit_bzero(sk, sizeof(sk));
    return rc;
}

static int key_collect(struct iam *iam, const char *tenant, const char *user_ref,
                       struct iam_key **v, size_t *n)
{
    struct iam_tenant t;
    struct iam_user u;
    size_t cap = 16;
    int rc;
    if (tenant && (rc = iam__tenant_find(iam, tenant, &t)) < 0)
        return rc;
    if (user_ref && (rc = iam__user_find(iam, user_ref, &u)) < 0)
        return rc;
    sqlite3_stmt *st = iam__st(iam, IAM_ST_KEY_LIST);
    if (tenant)
        sqlite3_bind_text(st, 1, t.id, -1, SQLITE_TRANSIENT);
    if (user_ref)
        sqlite3_bind_text(st, 2, u.id, -1, SQLITE_TRANSIENT);
    *v = gz_malloc(cap * sizeof(**v));
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < KEY_LIST_MAX) {
        if (*n == cap) {
            cap *= 2;
            *v = gz_realloc(*v, cap * sizeof(**v));
        }
        key_from_row(st, &(*v)[(*n)++]);
    }
    sqlite3_reset(st);
    return iam__db_rc(iam, rc, "key list");
}

int iam_key_list(struct iam *iam, const char *tenant, const char *user_ref,
                 int (*fn)(const struct iam_key *k, void *ud), void *ud)
{
    struct iam_key *v = NULL;
    size_t n = 0;
    pthread_mutex_lock(&iam->lock);
    int rc = key_collect(iam, tenant, user_ref, &v, &n);
    pthread_mutex_unlock(&iam->lock);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        int r = fn(&v[i], ud);
        if (r != 0) {
            rc = r < 0 ? r : 0;
            break;
        }
    }
    gz_free(v);
    return rc;
}

int iam_key_get(struct iam *iam, const char *access, struct iam_key *out)
{
    if (access == NULL)
        return -ENOENT;
    pthread_mutex_lock(&iam->lock);
    int rc = key_find(iam, access, out);
    pthread_mutex_unlock(&iam->lock);
    return rc;
}

/* Runs an UPDATE/DELETE on one key and rebuilds the cache. -ENOENT, -EPERM for root. */
static int key_change(struct iam *iam, const char *access, enum iam__st which, int enabled)
{
    if (access == NULL)
        return -ENOENT;
    pthread_mutex_lock(&iam->lock);
    int rc = key_is_root(iam, access);
    if (rc != 0) {
        rc = rc > 0 ? -EPERM : rc;
        goto out;
    }
    sqlite3_stmt *st = iam__st(iam, which);
    sqlite3_bind_text(st, 1, access, -1, SQLITE_STATIC);
    if (which == IAM_ST_KEY_ENABLE)
        sqlite3_bind_int(st, 2, enabled);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if ((rc = iam__db_rc(iam, rc, "key change")) < 0)
        goto out;
    if (sqlite3_changes(iam->db) == 0) {
        rc = -ENOENT;
        goto out;
    }
    rc = iam__cache_rebuild(iam);
out:
    pthread_mutex_unlock(&iam->lock);
    return rc;
}

int iam_key_set_enabled(struct iam *iam, const char *access, bool enabled)
{
    return key_change(iam, access, IAM_ST_KEY_ENABLE, enabled ? 1 : 0);
}

int iam_key_delete(struct iam *iam, const char *access)
{
    return key_change(iam, access, IAM_ST_KEY_DEL, 0);
}
