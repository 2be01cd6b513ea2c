/*
 * iam.c - opening and closing the iam, role names, and the principal cache that serves
 * iam_principal_lookup() on every S3 request.
 *
 * The cache is a chained hash table of access key -> principal (secret decrypted), plus the
 * tenants' names and suspended flags for authorisation. It is rebuilt from iam.db after every
 * change (identity changes are rare admin actions; a rebuild decrypts every secret, which costs
 * a microsecond or so each), swapped in under the write lock, and the old one is wiped. A
 * lookup takes the read lock, walks one chain and copies the principal out.
 *
 * The hash need not resist flooding: clients choose which key to look up, not what is in the
 * table, so they cannot lengthen a chain.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "../util/hash.h"
#include "iam_int.h"

#define CACHE_MIN_SLOTS 16

static const char *const role_names[] = {
    [IAM_ROLE_NONE] = "none",
    [IAM_ROLE_PLATFORM_ADMIN] = "platform-admin",
    [IAM_ROLE_SUPERVISOR] = "supervisor",
    [IAM_ROLE_TENANT_ADMIN] = "tenant-admin",
    [IAM_ROLE_TENANT_MEMBER] = "tenant-member",
    [IAM_ROLE_TENANT_READER] = "tenant-reader",
};

const char *iam_role_name(enum iam_role role)
{
    if ((unsigned)role >= GZ_ARRAY_LEN(role_names))
        return "none";
    return role_names[role];
}

enum iam_role iam_role_parse(const char *name)
{
    if (name == NULL)
        return IAM_ROLE_NONE;
    for (size_t i = IAM_ROLE_PLATFORM_ADMIN; i < GZ_ARRAY_LEN(role_names); i++) {
        if (strcasecmp(name, role_names[i]) == 0)
            return (enum iam_role)i;
    }
    return IAM_ROLE_NONE;
}

bool iam_role_is_platform(enum iam_role role)
{
    return role == IAM_ROLE_PLATFORM_ADMIN || role == IAM_ROLE_SUPERVISOR;
}

/* ---- small helpers shared by the iam files ---- */

void iam__msg(char *msg, size_t msgsz, const char *fmt, ...)
{
    if (msg == NULL || msgsz == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msgsz, fmt, ap);
    va_end(ap);
}

void iam__copy(char *dst, size_t dstsz, const char *src)
{
    size_t n = strlen(src);
    if (n >= dstsz)
        n = dstsz - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

void iam__random_id(char out[IAM_ID_LEN + 1])
{
    uint8_t b[IAM_ID_LEN / 2];
    gz_random_bytes(b, sizeof(b));
    gz_hex_encode(out, b, sizeof(b));
}

bool iam__is_id(const char *s)
{
    size_t i;
    for (i = 0; s[i]; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return i == IAM_ID_LEN;
}

/* ---- the cache ---- */

static uint64_t key_hash(struct gz_slice s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < s.len; i++) {
        h ^= (uint8_t)s.ptr[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static void cache_free(struct iam__cache *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->nslots; i++) {
        struct iam__centry *e = c->slots[i], *next;
        for (; e; e = next) {
            next = e->next;
            explicit_bzero(e, sizeof(*e));
            gz_free(e);
        }
    }
    gz_free(c->slots);
    gz_free(c->tenants);
    gz_free(c);
}

/* Adds e unless its access key is present (the root credential is added first and wins). */
static bool cache_add(struct iam__cache *c, struct iam__centry *e)
{
    struct gz_slice ak = gz_slice_cstr(e->p.access_key);
    size_t slot = key_hash(ak) & (c->nslots - 1);
    for (struct iam__centry *x = c->slots[slot]; x; x = x->next) {
        if (strcmp(x->p.access_key, e->p.access_key) == 0)
            return false;
    }
    e->next = c->slots[slot];
    c->slots[slot] = e;
    return true;
}

/* Reads one key row (IAM_ST_KEY_ALL) into a new entry; NULL if its secret does not open. */
static struct iam__centry *cache_entry_from_row(struct iam *iam, sqlite3_stmt *st)
{
    struct iam__centry *e = gz_calloc(1, sizeof(*e));
    struct iam_principal *p = &e->p;
    iam__col_text(st, 0, p->access_key, sizeof(p->access_key));
    const uint8_t *sealed = sqlite3_column_blob(st, 1);
    int n = sqlite3_column_bytes(st, 1);
    if (sealed == NULL ||
        iam__secret_open(iam->seal_key, p->access_key, sealed, (size_t)n, p->secret_key) < 0) {
        log_error("iam: the secret of access key %s does not decrypt with master.key; the key "
                  "is unusable",
                  p->access_key);
        explicit_bzero(e, sizeof(*e));
        gz_free(e);
        return NULL;
    }
    e->enabled = sqlite3_column_int(st, 2) != 0;
    iam__col_text(st, 3, p->user_id, sizeof(p->user_id));
    iam__col_text(st, 4, p->display_name, sizeof(p->display_name));
    p->role = iam_role_parse((const char *)sqlite3_column_text(st, 5));
    iam__col_text(st, 6, p->tenant_id, sizeof(p->tenant_id));
    iam__col_text(st, 7, p->tenant_name, sizeof(p->tenant_name));
    p->tenant_suspended = sqlite3_column_int(st, 8) != 0;
    return e;
}

/* Tenants are sorted by id: authorisation looks a bucket's owner up on every write. */
static int ctenant_cmp(const void *a, const void *b)
{
    return strcmp(((const struct iam__ctenant *)a)->id, ((const struct iam__ctenant *)b)->id);
}

static int cache_load_tenants(struct iam *iam, struct iam__cache *c)
{
    size_t cap = 16;
    int rc;
    c->tenants = gz_calloc(cap, sizeof(*c->tenants));
    sqlite3_stmt *st = iam__st(iam, IAM_ST_TENANT_LIST);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (c->ntenants == cap) {
            cap *= 2;
            c->tenants = gz_realloc(c->tenants, cap * sizeof(*c->tenants));
        }
        struct iam__ctenant *t = &c->tenants[c->ntenants++];
        iam__col_text(st, 0, t->id, sizeof(t->id));
        iam__col_text(st, 1, t->name, sizeof(t->name));
        t->suspended = sqlite3_column_int(st, 4) != 0;
    }
    sqlite3_reset(st);
    qsort(c->tenants, c->ntenants, sizeof(*c->tenants), ctenant_cmp);
    return iam__db_rc(iam, rc, "cache tenants");
}

/* Reads every key into a list (the table is sized once the count is known). */
static int cache_load_keys(struct iam *iam, struct iam__centry **list, size_t *count)
{
    int rc;
    sqlite3_stmt *st = iam__st(iam, IAM_ST_KEY_ALL);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct iam__centry *e = cache_entry_from_row(iam, st);
        if (e == NULL)
            continue;
        e->next = *list;
        *list = e;
        (*count)++;
    }
    sqlite3_reset(st);
    return iam__db_rc(iam, rc, "cache keys");
}

int iam__cache_rebuild(struct iam *iam)
{
    struct iam__cache *c = gz_calloc(1, sizeof(*c));
    struct iam__centry *list = NULL, *next;
    size_t count = 0;
    int rc = cache_load_tenants(iam, c);
    if (rc == 0)
        rc = cache_load_keys(iam, &list, &count);
    c->nslots = CACHE_MIN_SLOTS;
    while (c->nslots < 2 * (count + 1))
        c->nslots *= 2;
    c->slots = gz_calloc(c->nslots, sizeof(*c->slots));
    struct iam__centry *root = gz_calloc(1, sizeof(*root));
    root->p = iam->root;
    root->enabled = true;
    cache_add(c, root);
    for (struct iam__centry *e = list; e; e = next) {
        next = e->next;
        if (!cache_add(c, e)) {
            log_warn("iam: access key %s is the root credential's; the stored key is ignored",
                     e->p.access_key);
            explicit_bzero(e, sizeof(*e));
            gz_free(e);
        }
    }
    if (rc < 0) {
        cache_free(c);
        return rc;
    }
    pthread_rwlock_wrlock(&iam->cache_lock);
    struct iam__cache *old = iam->cache;
    iam->cache = c;
    pthread_rwlock_unlock(&iam->cache_lock);
    cache_free(old);
    return 0;
}

bool iam__cache_tenant(struct iam *iam, const char *id, struct iam__ctenant *out)
{
    struct iam__ctenant key;
    iam__copy(key.id, sizeof(key.id), id);
    pthread_rwlock_rdlock(&iam->cache_lock);
    const struct iam__cache *c = iam->cache;
    const struct iam__ctenant *t =
        c->ntenants ? bsearch(&key, c->tenants, c->ntenants, sizeof(*c->tenants), ctenant_cmp)
                    : NULL;
    if (t)
        *out = *t;
    pthread_rwlock_unlock(&iam->cache_lock);
    return t != NULL;
}

int iam_principal_lookup(struct iam *iam, struct gz_slice access_key, struct iam_principal *out)
{
    int rc = -ENOENT;
    if (access_key.len == 0 || access_key.len > IAM_MAX_ACCESS_KEY)
        return -ENOENT;
    uint64_t h = key_hash(access_key);
    pthread_rwlock_rdlock(&iam->cache_lock);
    const struct iam__cache *c = iam->cache;
    for (const struct iam__centry *e = c->slots[h & (c->nslots - 1)]; e; e = e->next) {
        if (gz_slice_eq_cstr(access_key, e->p.access_key)) {
            *out = e->p;
            rc = 0;
            if (!e->enabled) {
                explicit_bzero(out->secret_key, sizeof(out->secret_key));
                rc = -EPERM;
            }
            break;
        }
    }
    pthread_rwlock_unlock(&iam->cache_lock);
    return rc;
}

/* ---- open and close ---- */

static int config_check(const struct iam_config *cfg)
{
    if (cfg == NULL || cfg->data_dir == NULL || cfg->root_access == NULL ||
        cfg->root_secret == NULL)
        return -EINVAL;
    size_t alen = strlen(cfg->root_access), slen = strlen(cfg->root_secret);
    if (alen == 0 || alen > IAM_MAX_ACCESS_KEY || slen == 0 || slen > IAM_MAX_SECRET)
        return -EINVAL;
    return 0;
}

/* Loads (or creates, for a new iam.db) the master key and checks it is the one the stored
 * secrets were sealed with: a replaced master.key would otherwise silently disable every key. */
static int open_master_key(struct iam *iam)
{
    uint8_t master[IAM__MASTER_KEY_LEN], check[32];
    char check_hex[65], stored[65];
    int rc = iam__meta_get(iam, "master_check", stored, sizeof(stored));
    bool fresh = rc == -ENOENT;
    if (rc < 0 && !fresh)
        return rc;
    rc = iam__master_key_load(iam->data_dir, fresh, master);
    if (rc == -ENOENT) {
        log_error("iam: %s/%s is missing but iam.db holds secrets sealed with it; restore it "
                  "from backup",
                  iam->data_dir, IAM__MASTER_KEY_FILE);
        goto out;
    }
    if (rc < 0)
        goto out;
    iam__derive(master, "iam-master-check", check);
    gz_hex_encode(check_hex, check, sizeof(check));
    if (fresh) {
        rc = iam__meta_set(iam, "master_check", check_hex);
    } else if (strcmp(stored, check_hex) != 0) {
        log_error("iam: %s/%s is not the key iam.db was sealed with", iam->data_dir,
                  IAM__MASTER_KEY_FILE);
        rc = GZ_ECORRUPT;
    }
    iam__derive(master, "iam-secret-seal", iam->seal_key);
out:
    explicit_bzero(master, sizeof(master));
    return rc;
}

static int open_root(struct iam *iam, const struct iam_config *cfg)
{
    struct iam_principal *r = &iam->root;
    iam__copy(r->access_key, sizeof(r->access_key), cfg->root_access);
    iam__copy(r->secret_key, sizeof(r->secret_key), cfg->root_secret);
    iam__copy(r->display_name, sizeof(r->display_name), IAM__ROOT_USER);
    iam__copy(r->tenant_name, sizeof(r->tenant_name), IAM_PLATFORM_TENANT);
    r->role = IAM_ROLE_PLATFORM_ADMIN;
    r->is_root = true;
    int rc = iam__db_exec(iam, IAM_ST_BEGIN);
    if (rc < 0)
        return rc;
    rc = iam__tenant_platform_ensure(iam);
    if (rc == 0)
        rc = iam__user_root_ensure(iam, r->user_id);
    iam__copy(r->tenant_id, sizeof(r->tenant_id), iam->platform_id);
    if (rc == 0)
        return iam__db_exec(iam, IAM_ST_COMMIT);
    iam__db_exec(iam, IAM_ST_ROLLBACK);
    return rc;
}

int iam_open(const struct iam_config *cfg, struct iam **out)
{
    int rc = config_check(cfg);
    if (rc < 0)
        return rc;
    struct iam *iam = gz_calloc(1, sizeof(*iam));
    iam->data_dir = gz_strdup(cfg->data_dir);
    iam->store = cfg->store;
    pthread_mutex_init(&iam->lock, NULL);
    pthread_rwlock_init(&iam->cache_lock, NULL);
    if ((rc = iam__db_open(iam)) < 0 || (rc = open_master_key(iam)) < 0 ||
        (rc = open_root(iam, cfg)) < 0 || (rc = iam__cache_rebuild(iam)) < 0) {
        log_error("iam: cannot open %s/%s: %s", cfg->data_dir, IAM__DB_FILE, gz_strerror(rc));
        iam_close(iam);
        return rc;
    }
    *out = iam;
    return 0;
}

void iam_close(struct iam *iam)
{
    if (iam == NULL)
        return;
    iam__db_close(iam);
    cache_free(iam->cache);
    pthread_rwlock_destroy(&iam->cache_lock);
    pthread_mutex_destroy(&iam->lock);
    gz_free(iam->data_dir);
    /* Secrets should not linger in freed memory. */
    explicit_bzero(iam, sizeof(*iam));
    gz_free(iam);
}
