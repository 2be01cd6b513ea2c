/*
 * db.c - DATA/iam.db: the schema and the statement table. One connection, used only under
 * iam->lock: identity changes are rare (admin actions), and the S3 hot path reads the
 * in-memory cache instead. WAL with synchronous=FULL: an acknowledged admin change survives
 * a crash.
 *
 * Secrets are stored sealed (crypt.c), never in clear. Roles are stored by name so that the
 * enum can be reordered without a migration.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "iam_int.h"

#define IAM__SCHEMA_VERSION "1"

static const char *const schema_sql =
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID;"
    /* uscc is NULL for the platform tenant; UNIQUE allows several NULLs. */
    "CREATE TABLE IF NOT EXISTS tenants(id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
    " uscc TEXT UNIQUE, contact TEXT NOT NULL, suspended INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL, max_bytes INTEGER NOT NULL, max_objects INTEGER NOT NULL)"
    " WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS users(id TEXT PRIMARY KEY,"
    " tenant TEXT NOT NULL REFERENCES tenants(id), name TEXT NOT NULL, role TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL, UNIQUE(tenant, name)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS keys(access_key TEXT PRIMARY KEY,"
    " user TEXT NOT NULL REFERENCES users(id), secret BLOB NOT NULL, enabled INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS keys_by_user ON keys(user);"
    /* Every root access key ever configured, mapped to the one root user, so that its
     * canonical id (and the buckets it owns) survive a change of the root credential. */
    "CREATE TABLE IF NOT EXISTS root_keys(access_key TEXT PRIMARY KEY,"
    " user TEXT NOT NULL REFERENCES users(id), first_ms INTEGER NOT NULL) WITHOUT ROWID;";

#define TENANT_COLS "id,name,coalesce(uscc,''),contact,suspended,created_ms,max_bytes,max_objects"
#define USER_COLS "u.id,u.name,u.tenant,t.name,u.role,u.created_ms"
#define USER_FROM " FROM users u JOIN tenants t ON t.id=u.tenant"
#define KEY_COLS "k.access_key,k.user,u.name,t.name,k.enabled,k.created_ms"
#define KEY_FROM " FROM keys k JOIN users u ON u.id=k.user JOIN tenants t ON t.id=u.tenant"

static const char *const stmt_sql[IAM_ST__COUNT] = {
    [IAM_ST_BEGIN] = "BEGIN IMMEDIATE",
    [IAM_ST_COMMIT] = "COMMIT",
    [IAM_ST_ROLLBACK] = "ROLLBACK",
    [IAM_ST_META_GET] = "SELECT v FROM meta WHERE k=?1",
    [IAM_ST_META_SET] = "INSERT INTO meta(k,v) VALUES(?1,?2) ON CONFLICT(k) DO UPDATE SET v=?2",
    [IAM_ST_TENANT_INS] = "INSERT INTO tenants(id,name,uscc,contact,suspended,created_ms,"
                          "max_bytes,max_objects) VALUES(?1,?2,?3,?4,0,?5,?6,?7)",
    [IAM_ST_TENANT_GET_ID] = "SELECT " TENANT_COLS " FROM tenants WHERE id=?1",
    [IAM_ST_TENANT_GET_NAME] = "SELECT " TENANT_COLS " FROM tenants WHERE name=?1",
    [IAM_ST_TENANT_LIST] = "SELECT " TENANT_COLS " FROM tenants ORDER BY name",
    [IAM_ST_TENANT_SUSPEND] = "UPDATE tenants SET suspended=?2 WHERE id=?1",
    [IAM_ST_TENANT_QUOTA] = "UPDATE tenants SET max_bytes=?2, max_objects=?3 WHERE id=?1",
    [IAM_ST_USCC_TAKEN] = "SELECT name FROM tenants WHERE uscc=?1",
    [IAM_ST_USER_INS] = "INSERT INTO users(id,tenant,name,role,created_ms) VALUES(?1,?2,?3,?4,?5)",
    [IAM_ST_USER_GET_ID] = "SELECT " USER_COLS USER_FROM " WHERE u.id=?1",
    [IAM_ST_USER_GET_NAME] = "SELECT " USER_COLS USER_FROM " WHERE u.tenant=?1 AND u.name=?2",
    [IAM_ST_USER_LIST] = "SELECT " USER_COLS USER_FROM " ORDER BY t.name, u.name",
    [IAM_ST_USER_LIST_TENANT] = "SELECT " USER_COLS USER_FROM " WHERE u.tenant=?1 ORDER BY u.name",
    [IAM_ST_USER_ROLE] = "UPDATE users SET role=?2 WHERE id=?1",
    [IAM_ST_KEY_INS] =
        "INSERT INTO keys(access_key,user,secret,enabled,created_ms) VALUES(?1,?2,?3,1,?4)",
    [IAM_ST_KEY_GET] = "SELECT " KEY_COLS KEY_FROM " WHERE k.access_key=?1",
    /* ?1 tenant id or NULL, ?2 user id or NULL */
    [IAM_ST_KEY_LIST] = "SELECT " KEY_COLS KEY_FROM " WHERE (?1 IS NULL OR t.id=?1)"
                        " AND (?2 IS NULL OR u.id=?2) ORDER BY t.name, u.name, k.access_key",
    [IAM_ST_KEY_ENABLE] = "UPDATE keys SET enabled=?2 WHERE access_key=?1",
    [IAM_ST_KEY_DEL] = "DELETE FROM keys WHERE access_key=?1",
    [IAM_ST_KEY_ALL] = "SELECT k.access_key,k.secret,k.enabled,u.id,u.name,u.role,t.id,t.name,"
                       "t.suspended" KEY_FROM,
    [IAM_ST_ROOT_GET] = "SELECT user FROM root_keys WHERE access_key=?1",
    [IAM_ST_ROOT_INS] = "INSERT INTO root_keys(access_key,user,first_ms) VALUES(?1,?2,?3)",
};

static int db_pragmas(struct iam *iam)
{
    char *err = NULL;
    int rc = sqlite3_exec(iam->db,
                          "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                          " PRAGMA foreign_keys=ON; PRAGMA secure_delete=ON;",
                          NULL, NULL, &err);
    if (rc != SQLITE_OK) {
        log_error("iam.db: pragmas: %s", err ? err : sqlite3_errstr(rc));
        sqlite3_free(err);
        return -EIO;
    }
    return 0;
}

static int db_schema(struct iam *iam)
{
    char *err = NULL;
    int rc = sqlite3_exec(iam->db, schema_sql, NULL, NULL, &err);
    if (rc != SQLITE_OK) {
        log_error("iam.db: schema: %s", err ? err : sqlite3_errstr(rc));
        sqlite3_free(err);
        return -EIO;
    }
    return 0;
}

static int db_prepare(struct iam *iam)
{
    for (int i = 0; i < IAM_ST__COUNT; i++) {
        int rc = sqlite3_prepare_v3(iam->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                    &iam->st[i], NULL);
        if (rc != SQLITE_OK) {
            log_error("iam.db: prepare %d: %s", i, sqlite3_errmsg(iam->db));
            return -EIO;
        }
    }
    return 0;
}

static int db_version(struct iam *iam)
{
    char v[16];
    int rc = iam__meta_get(iam, "schema", v, sizeof(v));
    if (rc == -ENOENT)
        return iam__meta_set(iam, "schema", IAM__SCHEMA_VERSION);
    if (rc < 0)
        return rc;
    if (strcmp(v, IAM__SCHEMA_VERSION) != 0) {
        log_error("iam.db: schema version %s, this gzy knows %s", v, IAM__SCHEMA_VERSION);
        return GZ_ECORRUPT;
    }
    return 0;
}

int iam__db_open(struct iam *iam)
{
    char path[4096];
    int rc;
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", iam->data_dir, IAM__DB_FILE) >= sizeof(path))
        return -ENAMETOOLONG;
    /* Created 0600 first: SQLite gives the -wal and -shm files the database file's mode. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        rc = -errno;
        log_error("iam.db: open %s: %s", path, gz_strerror(rc));
        return rc;
    }
    close(fd);
    rc = sqlite3_open_v2(path, &iam->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        log_error("iam.db: open %s: %s", path,
                  iam->db ? sqlite3_errmsg(iam->db) : sqlite3_errstr(rc));
        return -EIO;
    }
    sqlite3_busy_timeout(iam->db, 5000);
    if ((rc = db_pragmas(iam)) < 0 || (rc = db_schema(iam)) < 0 || (rc = db_prepare(iam)) < 0)
        return rc;
    return db_version(iam);
}

void iam__db_close(struct iam *iam)
{
    for (int i = 0; i < IAM_ST__COUNT; i++) {
        sqlite3_finalize(iam->st[i]);
        iam->st[i] = NULL;
    }
    if (iam->db)
        sqlite3_close(iam->db);
    iam->db = NULL;
}

sqlite3_stmt *iam__st(struct iam *iam, enum iam__st which)
{
    sqlite3_stmt *st = iam->st[which];
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

int iam__db_rc(struct iam *iam, int rc, const char *what)
{
    if (rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW)
        return 0;
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return -EEXIST;
    log_error("iam.db: %s: %s", what, sqlite3_errmsg(iam->db));
    return -EIO;
}

int iam__db_exec(struct iam *iam, enum iam__st which)
{
    sqlite3_stmt *st = iam__st(iam, which);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return iam__db_rc(iam, rc, "transaction");
}

void iam__col_text(sqlite3_stmt *st, int col, char *out, size_t outsz)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    iam__copy(out, outsz, t ? (const char *)t : "");
}

int iam__meta_get(struct iam *iam, const char *k, char *out, size_t outsz)
{
    sqlite3_stmt *st = iam__st(iam, IAM_ST_META_GET);
    sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        iam__col_text(st, 0, out, outsz);
        sqlite3_reset(st);
        return 0;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? -ENOENT : iam__db_rc(iam, rc, "meta get");
}

int iam__meta_set(struct iam *iam, const char *k, const char *v)
{
    sqlite3_stmt *st = iam__st(iam, IAM_ST_META_SET);
    sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, v, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return iam__db_rc(iam, rc, "meta set");
}
