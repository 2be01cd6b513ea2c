/*
 * tenant.c - tenants (companies). A tenant's quota is kept in iam.db (so it is known without a
 * store, as in unit tests) and forwarded to the store, which enforces it under the tenant id;
 * reads prefer the store's copy, the one that is enforced.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>

#include "iam_int.h"

#define TENANT_LIST_MAX 100000

static void tenant_from_row(sqlite3_stmt *st, struct iam_tenant *t)
{
    memset(t, 0, sizeof(*t));
    iam__col_text(st, 0, t->id, sizeof(t->id));
    iam__col_text(st, 1, t->name, sizeof(t->name));
    iam__col_text(st, 2, t->uscc, sizeof(t->uscc));
    iam__col_text(st, 3, t->contact, sizeof(t->contact));
    t->suspended = sqlite3_column_int(st, 4) != 0;
    t->created_ms = sqlite3_column_int64(st, 5);
    t->quota.max_bytes = sqlite3_column_int64(st, 6);
    t->quota.max_objects = sqlite3_column_int64(st, 7);
}

int iam__tenant_find(struct iam *iam, const char *name_or_id, struct iam_tenant *out)
{
    if (name_or_id == NULL || *name_or_id == '\0')
        return -ENOENT;
    bool by_id = iam__is_id(name_or_id);
    sqlite3_stmt *st = iam__st(iam, by_id ? IAM_ST_TENANT_GET_ID : IAM_ST_TENANT_GET_NAME);
    sqlite3_bind_text(st, 1, name_or_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        tenant_from_row(st, out);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return -ENOENT;
    return iam__db_rc(iam, rc, "tenant get");
}

static int tenant_insert(struct iam *iam, const struct iam_tenant *t)
{
    sqlite3_stmt *st = iam__st(iam, IAM_ST_TENANT_INS);
    sqlite3_bind_text(st, 1, t->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, t->name, -1, SQLITE_STATIC);
    if (t->uscc[0])
        sqlite3_bind_text(st, 3, t->uscc, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, t->contact, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, t->created_ms);
    sqlite3_bind_int64(st, 6, t->quota.max_bytes);
    sqlite3_bind_int64(st, 7, t->quota.max_objects);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return iam__db_rc(iam, rc, "tenant insert");
}

int iam__tenant_platform_ensure(struct iam *iam)
{
    struct iam_tenant t;
    int rc = iam__tenant_find(iam, IAM_PLATFORM_TENANT, &t);
    if (rc == -ENOENT) {
        memset(&t, 0, sizeof(t));
        iam__random_id(t.id);
        iam__copy(t.name, sizeof(t.name), IAM_PLATFORM_TENANT);
        t.created_ms = gz_now_ms();
        t.quota.max_bytes = t.quota.max_objects = -1;
        rc = tenant_insert(iam, &t);
    }
    if (rc == 0)
        iam__copy(iam->platform_id, sizeof(iam->platform_id), t.id);
    return rc;
}

/* [a-z0-9][a-z0-9-]{1,62} */
static bool tenant_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || n > IAM_MAX_NAME || s[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    }
    return true;
}

static bool quota_valid(const struct iam_quota *q)
{
    return q->max_bytes >= -1 && q->max_objects >= -1;
}

static int tenant_check(const struct iam_tenant *in, struct iam_tenant *t, char *msg, size_t msgsz)
{
    memset(t, 0, sizeof(*t));
    if (!tenant_name_valid(in->name)) {
        iam__msg(msg, msgsz,
                 "invalid tenant name \"%.63s\": use 2-63 characters a-z, 0-9 and "
                 "'-', starting with a letter or digit",
                 in->name);
        return -EINVAL;
    }
    iam__copy(t->name, sizeof(t->name), in->name);
    /* Codes are upper case; accept them typed in lower case. */
    char code[sizeof(in->uscc)];
    size_t n = strnlen(in->uscc, sizeof(in->uscc) - 1);
    for (size_t i = 0; i < n; i++)
        code[i] = (char)toupper((unsigned char)in->uscc[i]);
    code[n] = '\0';
    int rc = iam_uscc_validate(code, msg, msgsz);
    if (rc < 0)
        return rc;
    iam__copy(t->uscc, sizeof(t->uscc), code);
    if (!gz_utf8_valid(gz_slice_cstr(in->contact))) {
        iam__msg(msg, msgsz, "the contact must be UTF-8 text");
        return -EINVAL;
    }
    for (const char *p = in->contact; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            iam__msg(msg, msgsz, "the contact may not contain control characters");
            return -EINVAL;
        }
    }
    iam__copy(t->contact, sizeof(t->contact), in->contact);
    if (!quota_valid(&in->quota)) {
        iam__msg(msg, msgsz, "quota limits must be -1 (unlimited) or a number >= 0");
        return -EINVAL;
    }
    t->quota = in->quota;
    return 0;
}

static int store_quota_forward(struct iam *iam, const char *tenant_id, const struct iam_quota *q)
{
    if (iam->store == NULL)
        return 0;
    struct store_quota sq = {.max_bytes = q->max_bytes, .max_objects = q->max_objects};
    int rc = store_owner_quota_set(iam->store, tenant_id, &sq);
    if (rc < 0)
        log_error("iam: store quota for tenant %s: %s", tenant_id, gz_strerror(rc));
    return rc;
}

/* Caller holds the lock and an open transaction. */
static int tenant_create_locked(struct iam *iam, struct iam_tenant *t, char *msg, size_t msgsz)
{
    struct iam_tenant other;
    int rc = iam__tenant_find(iam, t->name, &other);
    if (rc == 0) {
        iam__msg(msg, msgsz, "tenant %s already exists", t->name);
        return -EEXIST;
    }
    sqlite3_stmt *st = iam__st(iam, IAM_ST_USCC_TAKEN);
    sqlite3_bind_text(st, 1, t->uscc, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        iam__msg(msg, msgsz,
                 "unified social credit code %s is already registered to tenant "
                 "%s",
                 t->uscc, (const char *)sqlite3_column_text(st, 0));
        sqlite3_reset(st);
        return -EEXIST;
    }
    sqlite3_reset(st);
    if ((rc = iam__db_rc(iam, rc, "uscc check")) < 0)
        return rc;
    iam__random_id(t->id);
    t->created_ms = gz_now_ms();
    if ((rc = tenant_insert(iam, t)) < 0)
        return rc;
    return store_quota_forward(iam, t->id, &t->quota);
}

int iam_tenant_create(struct iam *iam, const struct iam_tenant *in, struct iam_tenant *out,
                      char *msg, size_t msgsz)
{
    struct iam_tenant t;
    int rc = tenant_check(in, &t, msg, msgsz);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&iam->lock);
    if ((rc = iam__db_exec(iam, IAM_ST_BEGIN)) < 0)
        goto out;
    rc = tenant_create_locked(iam, &t, msg, msgsz);
    if (rc == 0)
        rc = iam__db_exec(iam, IAM_ST_COMMIT);
    if (rc < 0) {
        iam__db_exec(iam, IAM_ST_ROLLBACK);
        goto out;
    }
    rc = iam__cache_rebuild(iam);
out:
    pthread_mutex_unlock(&iam->lock);
    if (rc == 0 && out)
        *out = t;
    if (rc == -EIO)
        iam__msg(msg, msgsz, "internal error storing the tenant");
    return rc;
}

static void quota_from_store(struct iam *iam, struct iam_tenant *t)
{
    struct store_quota q;
    if (iam->store && store_owner_quota_get(iam->store, t->id, &q) == 0) {
        t->quota.max_bytes = q.max_bytes;
        t->quota.max_objects = q.max_objects;
    }
}

int iam_tenant_get(struct iam *iam, const char *name_or_id, struct iam_tenant *out)
{
    pthread_mutex_lock(&iam->lock);
    int rc = iam__tenant_find(iam, name_or_id, out);
    pthread_mutex_unlock(&iam->lock);
    if (rc == 0)
        quota_from_store(iam, out);
    return rc;
}

int iam_tenant_list(struct iam *iam, int (*fn)(const struct iam_tenant *t, void *ud), void *ud)
{
    size_t n = 0, cap = 16;
    struct iam_tenant *v = gz_malloc(cap * sizeof(*v));
    int rc;
    /* Rows are copied out first so that fn runs without the lock (it may call back in). */
    pthread_mutex_lock(&iam->lock);
    sqlite3_stmt *st = iam__st(iam, IAM_ST_TENANT_LIST);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < TENANT_LIST_MAX) {
        if (n == cap) {
            cap *= 2;
            v = gz_realloc(v, cap * sizeof(*v));
        }
        tenant_from_row(st, &v[n++]);
    }
    sqlite3_reset(st);
    rc = iam__db_rc(iam, rc, "tenant list");
    pthread_mutex_unlock(&iam->lock);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        quota_from_store(iam, &v[i]);
        int r = fn(&v[i], ud);
        if (r != 0) {
            rc = r < 0 ? r : 0;
            break;
        }
    }
    gz_free(v);
    return rc;
}

int iam_tenant_set_suspended(struct iam *iam, const char *name_or_id, bool suspended)
{
    struct iam_tenant t;
    pthread_mutex_lock(&iam->lock);
    int rc = iam__tenant_find(iam, name_or_id, &t);
    if (rc < 0)
        goto out;
    if (suspended && strcmp(t.id, iam->platform_id) == 0) {
        rc = -EPERM; /* the platform tenant holds the operators: never suspended */
        goto out;
    }
    sqlite3_stmt *st = iam__st(iam, IAM_ST_TENANT_SUSPEND);
    sqlite3_bind_text(st, 1, t.id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, suspended ? 1 : 0);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if ((rc = iam__db_rc(iam, rc, "tenant suspend")) == 0)
        rc = iam__cache_rebuild(iam);
out:
    pthread_mutex_unlock(&iam->lock);
    return rc;
}

int iam_tenant_set_quota(struct iam *iam, const char *name_or_id, const struct iam_quota *q)
{
    struct iam_tenant t;
    if (q == NULL || !quota_valid(q))
        return -EINVAL;
    pthread_mutex_lock(&iam->lock);
    int rc = iam__tenant_find(iam, name_or_id, &t);
    if (rc < 0 || (rc = iam__db_exec(iam, IAM_ST_BEGIN)) < 0)
        goto out;
    sqlite3_stmt *st = iam__st(iam, IAM_ST_TENANT_QUOTA);
    sqlite3_bind_text(st, 1, t.id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, q->max_bytes);
    sqlite3_bind_int64(st, 3, q->max_objects);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    rc = iam__db_rc(iam, rc, "tenant quota");
    if (rc == 0)
        rc = store_quota_forward(iam, t.id, q);
    if (rc == 0)
        rc = iam__db_exec(iam, IAM_ST_COMMIT);
    if (rc < 0)
        iam__db_exec(iam, IAM_ST_ROLLBACK);
out:
    pthread_mutex_unlock(&iam->lock);
    return rc;
}
