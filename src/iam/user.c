/*
 * user.c - users and their roles. Platform roles (platform-admin, supervisor) live only in the
 * platform tenant, tenant roles only in the others, so a tenant can never hold a cross-tenant
 * role. The root user (platform/root) is created on first open and stays platform-admin.
 */
#include <errno.h>
#include <stdio.h>

#include "../util/hash.h"
#include "iam_int.h"

#define USER_LIST_MAX 1000000

static void user_from_row(sqlite3_stmt *st, struct iam_user *u)
{
    memset(u, 0, sizeof(*u));
    iam__col_text(st, 0, u->id, sizeof(u->id));
    iam__col_text(st, 1, u->name, sizeof(u->name));
    iam__col_text(st, 2, u->tenant_id, sizeof(u->tenant_id));
    iam__col_text(st, 3, u->tenant_name, sizeof(u->tenant_name));
    u->role = iam_role_parse((const char *)sqlite3_column_text(st, 4));
    u->created_ms = sqlite3_column_int64(st, 5);
}

static int user_step(struct iam *iam, sqlite3_stmt *st, struct iam_user *out)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        user_from_row(st, out);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return -ENOENT;
    return iam__db_rc(iam, rc, "user get");
}

int iam__user_find(struct iam *iam, const char *ref, struct iam_user *out)
{
    if (ref == NULL)
        return -ENOENT;
    if (iam__is_id(ref)) {
        sqlite3_stmt *st = iam__st(iam, IAM_ST_USER_GET_ID);
        sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
        return user_step(iam, st, out);
    }
    const char *slash = strchr(ref, '/');
    char tname[IAM_ID_LEN + 1];
    struct iam_tenant t;
    if (slash == NULL || (size_t)(slash - ref) >= sizeof(tname))
        return -ENOENT;
    memcpy(tname, ref, (size_t)(slash - ref));
    tname[slash - ref] = '\0';
    int rc = iam__tenant_find(iam, tname, &t);
    if (rc < 0)
        return rc;
    sqlite3_stmt *st = iam__st(iam, IAM_ST_USER_GET_NAME);
    sqlite3_bind_text(st, 1, t.id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, slash + 1, -1, SQLITE_STATIC);
    return user_step(iam, st, out);
}

static int user_insert(struct iam *iam, const struct iam_user *u)
{
    sqlite3_stmt *st = iam__st(iam, IAM_ST_USER_INS);
    sqlite3_bind_text(st, 1, u->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, u->tenant_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, u->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, iam_role_name(u->role), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, u->created_ms);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return iam__db_rc(iam, rc, "user insert");
}

static int root_map(struct iam *iam, const char *user_id)
{
    sqlite3_stmt *st = iam__st(iam, IAM_ST_ROOT_INS);
    sqlite3_bind_text(st, 1, iam->root.access_key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, user_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, gz_now_ms());
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return iam__db_rc(iam, rc, "root key insert");
}

/* The root user's id, creating the user (first open) and mapping the current root access key
 * to it (first open, or after the root credential changed). The first id is the SHA-256 of the
 * first root access key: the canonical id issue 2 derived, so buckets it owns stay owned. */
int iam__user_root_ensure(struct iam *iam, char user_id[IAM_ID_LEN + 1])
{
    struct iam_user u;
    sqlite3_stmt *st = iam__st(iam, IAM_ST_ROOT_GET);
    sqlite3_bind_text(st, 1, iam->root.access_key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        iam__col_text(st, 0, user_id, IAM_ID_LEN + 1);
        sqlite3_reset(st);
        return 0;
    }
    sqlite3_reset(st);
    if ((rc = iam__db_rc(iam, rc, "root key get")) < 0)
        return rc;
    rc = iam__user_find(iam, IAM_PLATFORM_TENANT "/" IAM__ROOT_USER, &u);
    if (rc == -ENOENT) {
        uint8_t digest[32];
        memset(&u, 0, sizeof(u));
        gz_sha256(iam->root.access_key, strlen(iam->root.access_key), digest);
        gz_hex_encode(u.id, digest, sizeof(digest));
        iam__copy(u.name, sizeof(u.name), IAM__ROOT_USER);
        iam__copy(u.tenant_id, sizeof(u.tenant_id), iam->platform_id);
        u.role = IAM_ROLE_PLATFORM_ADMIN;
        u.created_ms = gz_now_ms();
        rc = user_insert(iam, &u);
    } else if (rc == 0) {
        log_info("iam: the root access key changed; it maps to the existing root user");
    }
    if (rc == 0)
        rc = root_map(iam, u.id);
    if (rc == 0)
        iam__copy(user_id, IAM_ID_LEN + 1, u.id);
    return rc;
}

/* AWS IAM user names: [A-Za-z0-9_+=,.@-]{1,64}; here at most 63, and never '/'. */
static bool user_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > IAM_MAX_NAME)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("_+=,.@-", c)))
            return false;
    }
    return true;
}

static int role_check(struct iam *iam, const struct iam_tenant *t, enum iam_role role, char *msg,
                      size_t msgsz)
{
    if (role == IAM_ROLE_NONE || (unsigned)role > IAM_ROLE_TENANT_READER) {
        iam__msg(msg, msgsz,
                 "unknown role: use platform-admin, supervisor, tenant-admin, "
                 "tenant-member or tenant-reader");
        return -EINVAL;
    }
    bool platform = strcmp(t->id, iam->platform_id) == 0;
    if (platform && !iam_role_is_platform(role)) {
        iam__msg(msg, msgsz,
                 "role %s belongs to a tenant; the platform tenant holds only "
                 "platform-admin and supervisor users",
                 iam_role_name(role));
        return -EINVAL;
    }
    if (!platform && iam_role_is_platform(role)) {
        iam__msg(msg, msgsz, "role %s is platform-wide; create the user in tenant %s",
                 iam_role_name(role), IAM_PLATFORM_TENANT);
        return -EINVAL;
    }
    return 0;
}

static int user_create_locked(struct iam *iam, const char *tenant, struct iam_user *u, char *msg,
                              size_t msgsz)
{
    struct iam_tenant t;
    int rc = iam__tenant_find(iam, tenant, &t);
    if (rc == -ENOENT)
        iam__msg(msg, msgsz, "no tenant %.63s", tenant ? tenant : "");
    if (rc < 0)
        return rc;
    if ((rc = role_check(iam, &t, u->role, msg, msgsz)) < 0)
        return rc;
    iam__random_id(u->id);
    iam__copy(u->tenant_id, sizeof(u->tenant_id), t.id);
    iam__copy(u->tenant_name, sizeof(u->tenant_name), t.name);
    u->created_ms = gz_now_ms();
    rc = user_insert(iam, u);
    if (rc == -EEXIST)
        iam__msg(msg, msgsz, "user %s already exists in tenant %s", u->name, t.name);
    return rc;
}

int iam_user_create(struct iam *iam, const char *tenant, const char *name, enum iam_role role,
                    struct iam_user *out, char *msg, size_t msgsz)
{
    struct iam_user u = {.role = role};
    if (name == NULL || !user_name_valid(name)) {
        iam__msg(msg, msgsz,
                 "invalid user name \"%.63s\": use 1-63 characters A-Z, a-z, 0-9 "
                 "and _+=,.@-",
                 name ? name : "");
        return -EINVAL;
    }
    iam__copy(u.name, sizeof(u.name), name);
    pthread_mutex_lock(&iam->lock);
    int rc = user_create_locked(iam, tenant, &u, msg, msgsz);
    pthread_mutex_unlock(&iam->lock);
    if (rc == 0 && out)
        *out = u;
    return rc;
}

int iam_user_get(struct iam *iam, const char *ref, struct iam_user *out)
{
    pthread_mutex_lock(&iam->lock);
    int rc = iam__user_find(iam, ref, out);
    pthread_mutex_unlock(&iam->lock);
    return rc;
}

static int user_collect(struct iam *iam, const char *tenant, struct iam_user **v, size_t *n)
{
    struct iam_tenant t;
    sqlite3_stmt *st;
    size_t cap = 16;
    int rc;
    if (tenant) {
        if ((rc = iam__tenant_find(iam, tenant, &t)) < 0)
            return rc;
        st = iam__st(iam, IAM_ST_USER_LIST_TENANT);
        sqlite3_bind_text(st, 1, t.id, -1, SQLITE_TRANSIENT);
    } else {
        st = iam__st(iam, IAM_ST_USER_LIST);
    }
    *v = gz_malloc(cap * sizeof(**v));
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < USER_LIST_MAX) {
        if (*n == cap) {
            cap *= 2;
            *v = gz_realloc(*v, cap * sizeof(**v));
        }
        user_from_row(st, &(*v)[(*n)++]);
    }
    sqlite3_reset(st);
    return iam__db_rc(iam, rc, "user list");
}

int iam_user_list(struct iam *iam, const char *tenant,
                  int (*fn)(const struct iam_user *u, void *ud), void *ud)
{
    struct iam_user *v = NULL;
    size_t n = 0;
    pthread_mutex_lock(&iam->lock);
    int rc = user_collect(iam, tenant, &v, &n);
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

static int user_set_role_locked(struct iam *iam, const char *ref, enum iam_role role, char *msg,
                                size_t msgsz)
{
    struct iam_user u;
    struct iam_tenant t;
    int rc = iam__user_find(iam, ref, &u);
    if (rc == -ENOENT)
        iam__msg(msg, msgsz, "no user %.127s", ref ? ref : "");
    if (rc < 0)
        return rc;
    if (strcmp(u.id, iam->root.user_id) == 0 && role != IAM_ROLE_PLATFORM_ADMIN) {
        iam__msg(msg, msgsz, "the root user is always platform-admin");
        return -EPERM;
    }
    if ((rc = iam__tenant_find(iam, u.tenant_id, &t)) < 0 ||
        (rc = role_check(iam, &t, role, msg, msgsz)) < 0)
        return rc;
    sqlite3_stmt *st = iam__st(iam, IAM_ST_USER_ROLE);
    sqlite3_bind_text(st, 1, u.id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, iam_role_name(role), -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if ((rc = iam__db_rc(iam, rc, "user role")) < 0)
        return rc;
    return iam__cache_rebuild(iam);
}

int iam_user_set_role(struct iam *iam, const char *ref, enum iam_role role, char *msg, size_t msgsz)
{
    pthread_mutex_lock(&iam->lock);
    int rc = user_set_role_locked(iam, ref, role, msg, msgsz);
    pthread_mutex_unlock(&iam->lock);
    return rc;
}
