/*
 * iam_int.h - private to src/iam: the iam struct, the SQLite statement table (db.c), secret
 * encryption (crypt.c), the principal cache (iam.c) and the helpers the tenant, user, key,
 * authorisation and policy files share. Nothing outside src/iam includes this.
 *
 * Locking: iam->lock (a mutex) serialises every use of the SQLite connection and every cache
 * rebuild; iam->cache_lock (a rwlock) guards the cache pointer. Order: lock, then cache_lock.
 * Lookups take only cache_lock (read), so the S3 hot path never touches SQLite.
 */
#ifndef GZ_IAM_INT_H
#define GZ_IAM_INT_H

#include <pthread.h>
#include <sqlite3.h>

#include "iam.h"

#define IAM__MASTER_KEY_FILE "master.key"
#define IAM__DB_FILE "iam.db"
#define IAM__MASTER_KEY_LEN 32
#define IAM__NONCE_LEN 12
#define IAM__TAG_LEN 16
#define IAM__SEALED_VERSION 1
/* version byte + nonce + ciphertext + tag */
#define IAM__SEALED_MAX (1 + IAM__NONCE_LEN + IAM_MAX_SECRET + IAM__TAG_LEN)
#define IAM__ROOT_USER "root"

/* ---- SQLite statements (db.c) ---- */

enum iam__st {
    IAM_ST_BEGIN,
    IAM_ST_COMMIT,
    IAM_ST_ROLLBACK,
    IAM_ST_META_GET,
    IAM_ST_META_SET,
    IAM_ST_TENANT_INS,
    IAM_ST_TENANT_GET_ID,
    IAM_ST_TENANT_GET_NAME,
    IAM_ST_TENANT_LIST,
    IAM_ST_TENANT_SUSPEND,
    IAM_ST_TENANT_QUOTA,
    IAM_ST_USCC_TAKEN,
    IAM_ST_USER_INS,
    IAM_ST_USER_GET_ID,
    IAM_ST_USER_GET_NAME,
    IAM_ST_USER_LIST,
    IAM_ST_USER_LIST_TENANT,
    IAM_ST_USER_ROLE,
    IAM_ST_KEY_INS,
    IAM_ST_KEY_GET,
    IAM_ST_KEY_LIST,
    IAM_ST_KEY_ENABLE,
    IAM_ST_KEY_DEL,
    IAM_ST_KEY_ALL,
    IAM_ST_ROOT_GET,
    IAM_ST_ROOT_INS,
    IAM_ST__COUNT
};

/* ---- the in-memory principal cache (iam.c) ---- */

struct iam__centry {
    struct iam__centry *next;
    struct iam_principal p;
    bool enabled;
};

struct iam__ctenant {
    char id[IAM_ID_LEN + 1];
    char name[IAM_MAX_NAME + 1];
    bool suspended;
};

struct iam__cache {
    struct iam__centry **slots;
    size_t nslots; /* a power of two */
    struct iam__ctenant *tenants;
    size_t ntenants;
};

struct iam {
    char *data_dir;
    struct store *store; /* not owned; may be NULL */
    sqlite3 *db;
    sqlite3_stmt *st[IAM_ST__COUNT];
    pthread_mutex_t lock;
    pthread_rwlock_t cache_lock;
    struct iam__cache *cache; /* guarded by cache_lock */
    uint8_t seal_key[32];     /* AES-256-GCM key for secrets, derived from the master key */
    char platform_id[IAM_ID_LEN + 1];
    struct iam_principal root; /* the configured root credential */
};

/* db.c: opens DATA/iam.db (WAL), creates the schema and prepares the statements. */
int iam__db_open(struct iam *iam);
void iam__db_close(struct iam *iam);
/* Resets and clears a statement's bindings and returns it. */
sqlite3_stmt *iam__st(struct iam *iam, enum iam__st which);
/* Maps a SQLite result code to 0 / -EEXIST (constraint) / -EIO, logging unexpected errors. */
int iam__db_rc(struct iam *iam, int rc, const char *what);
int iam__db_exec(struct iam *iam, enum iam__st which); /* BEGIN / COMMIT / ROLLBACK */
/* Copies column col as text into out (always NUL-terminated, "" for NULL). */
void iam__col_text(sqlite3_stmt *st, int col, char *out, size_t outsz);
int iam__meta_get(struct iam *iam, const char *k, char *out, size_t outsz); /* -ENOENT */
int iam__meta_set(struct iam *iam, const char *k, const char *v);

/* crypt.c */
int iam__master_key_load(const char *data_dir, bool create, uint8_t key[IAM__MASTER_KEY_LEN]);
void iam__derive(const uint8_t master[IAM__MASTER_KEY_LEN], const char *purpose, uint8_t out[32]);
/* Seals secret (AAD = access key) into out; returns the sealed length. */
size_t iam__secret_seal(const uint8_t key[32], const char *access, const char *secret,
                        uint8_t out[IAM__SEALED_MAX]);
/* Opens a sealed secret into out (NUL-terminated). GZ_ECORRUPT if it does not authenticate. */
int iam__secret_open(const uint8_t key[32], const char *access, const uint8_t *sealed, size_t n,
                     char out[IAM_MAX_SECRET + 1]);

/* iam.c */
/* Rebuilds the principal cache from the database. Caller holds iam->lock. */
int iam__cache_rebuild(struct iam *iam);
/* A tenant's name and suspended flag from the cache, by id; false if unknown. */
bool iam__cache_tenant(struct iam *iam, const char *id, struct iam__ctenant *out);
void iam__random_id(char out[IAM_ID_LEN + 1]);
bool iam__is_id(const char *s);
void iam__msg(char *msg, size_t msgsz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void iam__copy(char *dst, size_t dstsz, const char *src);

/* tenant.c: the tenant row by name or id (caller holds iam->lock). -ENOENT. */
int iam__tenant_find(struct iam *iam, const char *name_or_id, struct iam_tenant *out);
int iam__tenant_platform_ensure(struct iam *iam);

/* user.c: the user by id or "tenant/name" (caller holds iam->lock). -ENOENT. */
int iam__user_find(struct iam *iam, const char *ref, struct iam_user *out);
int iam__user_root_ensure(struct iam *iam, char user_id[IAM_ID_LEN + 1]);

/* authz.c: the action table. */
struct iam__action {
    const char *name;
    unsigned roles; /* bit (1 << role) for each role that may do it */
    bool write;
};
const struct iam__action *iam__action_find(const char *name);
size_t iam__action_count(void);
const struct iam__action *iam__action_at(size_t i);

/* policy.c: evaluation against one request. */
enum iam__effect { IAM_EFFECT_NONE = 0, IAM_EFFECT_ALLOW, IAM_EFFECT_DENY };
/* action: the policy action name; who NULL = anonymous. sid (may be NULL) receives the
 * deciding statement's Sid. A policy that does not parse decides nothing. */
enum iam__effect iam__policy_eval(struct gz_slice policy, const struct iam_principal *who,
                                  const char *action, struct gz_slice bucket, struct gz_slice key,
                                  char *sid, size_t sidsz);
/* Glob match with '*' and '?' (case-insensitive when nocase). */
bool iam__glob(struct gz_slice pat, struct gz_slice s, bool nocase);

#endif
