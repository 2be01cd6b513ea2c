/*
 * db.c - DATA/registry.db: contracts and the versioned policy. One connection under a mutex:
 * registry calls are admin actions and reports, rare next to S3 traffic. WAL with
 * synchronous=FULL, as iam.db: an acknowledged contract or policy change survives a crash.
 * Dates are stored as their YYYY-MM-DD text (sortable and readable with the sqlite3 shell).
 */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>

#include "registry.h"

struct registry {
    sqlite3 *db;
    pthread_mutex_t mu;
};

static const char *const schema_sql =
    "CREATE TABLE IF NOT EXISTS contracts(id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL,"
    " provider TEXT NOT NULL, services TEXT NOT NULL, buckets TEXT NOT NULL,"
    " signed TEXT NOT NULL, start TEXT, expiry TEXT NOT NULL, renewed INTEGER NOT NULL,"
    " renewed_date TEXT, notes TEXT NOT NULL, closed TEXT, jobs TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS contracts_by_tenant ON contracts(tenant_id, expiry);"
    "CREATE TABLE IF NOT EXISTS policy(version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
    " notice TEXT NOT NULL, grace_months INTEGER NOT NULL, final_deadline TEXT,"
    " time_zone TEXT NOT NULL, at_risk_days INTEGER NOT NULL, updated_ms INTEGER NOT NULL,"
    " updated_by TEXT NOT NULL);";

#define CONTRACT_COLS                                                                              \
    "id,tenant_id,provider,services,buckets,signed,start,expiry,renewed,renewed_date,notes,"       \
    "closed,jobs,created_ms,updated_ms"

static int sql_err(struct registry *reg, int rc, const char *what)
{
    log_error("registry: %s: %s", what, sqlite3_errmsg(reg->db));
    return rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? -EBUSY : -EIO;
}

int registry_open(const char *data_dir, struct registry **out)
{
    char path[4096];
    char *err = NULL;
    *out = NULL;
    struct registry *reg = gz_calloc(1, sizeof(*reg));
    pthread_mutex_init(&reg->mu, NULL);
    snprintf(path, sizeof(path), "%s/registry.db", data_dir);
    int rc = sqlite3_open_v2(
        path, &reg->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
    if (rc != SQLITE_OK) {
        log_error("registry: cannot open %s: %s", path,
                  reg->db ? sqlite3_errmsg(reg->db) : sqlite3_errstr(rc));
        rc = -EIO;
        goto out;
    }
    sqlite3_busy_timeout(reg->db, 5000);
    rc = sqlite3_exec(reg->db,
                      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
                      NULL, NULL, &err);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(reg->db, schema_sql, NULL, NULL, &err);
    if (rc != SQLITE_OK) {
        log_error("registry: %s: %s", path, err ? err : sqlite3_errstr(rc));
        sqlite3_free(err);
        rc = -EIO;
        goto out;
    }
    struct registry_policy p;
    rc = registry_policy_get(reg, &p);
    if (rc == -ENOENT) {
        registry_policy_preset(REGISTRY_PRESET_TIANJIN, &p);
        snprintf(p.updated_by, sizeof(p.updated_by), "default");
        rc = registry_policy_set(reg, &p);
    }
out:
    if (rc < 0) {
        registry_close(reg);
        return rc;
    }
    *out = reg;
    return 0;
}

void registry_close(struct registry *reg)
{
    if (reg == NULL)
        return;
    sqlite3_close(reg->db);
    pthread_mutex_destroy(&reg->mu);
    gz_free(reg);
}

/* ---- helpers ---- */

static void bind_date(sqlite3_stmt *st, int i, int32_t day)
{
    char d[11];
    if (day == REGISTRY_NO_DATE) {
        sqlite3_bind_null(st, i);
        return;
    }
    registry_date_format(day, d);
    sqlite3_bind_text(st, i, d, -1, SQLITE_TRANSIENT);
}

static int32_t col_date(sqlite3_stmt *st, int i)
{
    int32_t day = REGISTRY_NO_DATE;
    const char *s = (const char *)sqlite3_column_text(st, i);
    if (s == NULL || registry_date_parse(s, &day) < 0)
        return REGISTRY_NO_DATE;
    return day;
}

static void col_text(sqlite3_stmt *st, int i, char *out, size_t outsz)
{
    const char *s = (const char *)sqlite3_column_text(st, i);
    snprintf(out, outsz, "%s", s ? s : "");
}

/* ---- policy ---- */

int registry_policy_get(struct registry *reg, struct registry_policy *out)
{
    sqlite3_stmt *st = NULL;
    int rc;
    pthread_mutex_lock(&reg->mu);
    rc = sqlite3_prepare_v2(reg->db,
                            "SELECT version,name,notice,grace_months,final_deadline,time_zone,"
                            "at_risk_days,updated_ms,updated_by FROM policy "
                            "ORDER BY version DESC LIMIT 1",
                            -1, &st, NULL);
    if (rc != SQLITE_OK) {
        rc = sql_err(reg, rc, "reading the policy");
        goto out;
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        rc = -ENOENT;
        goto out;
    }
    if (rc != SQLITE_ROW) {
        rc = sql_err(reg, rc, "reading the policy");
        goto out;
    }
    memset(out, 0, sizeof(*out));
    out->version = sqlite3_column_int64(st, 0);
    col_text(st, 1, out->name, sizeof(out->name));
    out->notice = col_date(st, 2);
    out->grace_months = sqlite3_column_int(st, 3);
    out->final_deadline = col_date(st, 4);
    col_text(st, 5, out->time_zone, sizeof(out->time_zone));
    out->at_risk_days = sqlite3_column_int(st, 6);
    out->updated_ms = sqlite3_column_int64(st, 7);
    col_text(st, 8, out->updated_by, sizeof(out->updated_by));
    if (registry_tz_offset(out->time_zone, &out->tz_offset_min) < 0)
        out->tz_offset_min = 480;
    rc = 0;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&reg->mu);
    return rc;
}

int registry_policy_set(struct registry *reg, struct registry_policy *p)
{
    sqlite3_stmt *st = NULL;
    int rc;
    pthread_mutex_lock(&reg->mu);
    p->updated_ms = gz_now_ms();
    rc = sqlite3_prepare_v2(reg->db,
                            "INSERT INTO policy(version,name,notice,grace_months,final_deadline,"
                            "time_zone,at_risk_days,updated_ms,updated_by) VALUES("
                            "(SELECT coalesce(max(version),0)+1 FROM policy),?1,?2,?3,?4,?5,?6,"
                            "?7,?8) RETURNING version",
                            -1, &st, NULL);
    if (rc != SQLITE_OK) {
        rc = sql_err(reg, rc, "storing the policy");
        goto out;
    }
    sqlite3_bind_text(st, 1, p->name, -1, SQLITE_TRANSIENT);
    bind_date(st, 2, p->notice);
    sqlite3_bind_int(st, 3, p->grace_months);
    bind_date(st, 4, p->final_deadline);
    sqlite3_bind_text(st, 5, p->time_zone, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 6, p->at_risk_days);
    sqlite3_bind_int64(st, 7, p->updated_ms);
    sqlite3_bind_text(st, 8, p->updated_by, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        rc = sql_err(reg, rc, "storing the policy");
        goto out;
    }
    p->version = sqlite3_column_int64(st, 0);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : sql_err(reg, SQLITE_ERROR, "storing the policy");
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&reg->mu);
    return rc;
}

/* ---- contracts ---- */

static void contract_bind(sqlite3_stmt *st, const struct registry_contract *c)
{
    sqlite3_bind_text(st, 1, c->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, c->tenant_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, c->provider, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, c->services, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, c->buckets, -1, SQLITE_TRANSIENT);
    bind_date(st, 6, c->signed_day);
    bind_date(st, 7, c->start_day);
    bind_date(st, 8, c->expiry_day);
    sqlite3_bind_int(st, 9, c->renewed);
    bind_date(st, 10, c->renewed_day);
    sqlite3_bind_text(st, 11, c->notes, -1, SQLITE_TRANSIENT);
    bind_date(st, 12, c->closed_day);
    sqlite3_bind_text(st, 13, c->jobs, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 14, c->created_ms);
    sqlite3_bind_int64(st, 15, c->updated_ms);
}

static void contract_row(sqlite3_stmt *st, struct registry_contract *c)
{
    registry_contract_init(c);
    col_text(st, 0, c->id, sizeof(c->id));
    col_text(st, 1, c->tenant_id, sizeof(c->tenant_id));
    col_text(st, 2, c->provider, sizeof(c->provider));
    col_text(st, 3, c->services, sizeof(c->services));
    col_text(st, 4, c->buckets, sizeof(c->buckets));
    c->signed_day = col_date(st, 5);
    c->start_day = col_date(st, 6);
    c->expiry_day = col_date(st, 7);
    c->renewed = sqlite3_column_int(st, 8) != 0;
    c->renewed_day = col_date(st, 9);
    col_text(st, 10, c->notes, sizeof(c->notes));
    c->closed_day = col_date(st, 11);
    col_text(st, 12, c->jobs, sizeof(c->jobs));
    c->created_ms = sqlite3_column_int64(st, 13);
    c->updated_ms = sqlite3_column_int64(st, 14);
}

/* Runs one write statement on c; -ENOENT if it changed nothing. */
static int contract_write(struct registry *reg, const char *sql, const struct registry_contract *c,
                          bool bind_all)
{
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&reg->mu);
    int rc = sqlite3_prepare_v2(reg->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        rc = sql_err(reg, rc, "writing a contract");
        goto out;
    }
    if (bind_all)
        contract_bind(st, c);
    else
        sqlite3_bind_text(st, 1, c->id, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        rc = rc == SQLITE_CONSTRAINT ? -EEXIST : sql_err(reg, rc, "writing a contract");
        goto out;
    }
    rc = sqlite3_changes(reg->db) > 0 ? 0 : -ENOENT;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&reg->mu);
    return rc;
}

int registry_contract_create(struct registry *reg, struct registry_contract *c)
{
    uint8_t r[REGISTRY_ID_LEN / 2];
    gz_random_bytes(r, sizeof(r));
    gz_hex_encode(c->id, r, sizeof(r));
    c->created_ms = c->updated_ms = gz_now_ms();
    return contract_write(reg,
                          "INSERT INTO contracts(" CONTRACT_COLS ") VALUES(?1,?2,?3,?4,"
                          "?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)",
                          c, true);
}

int registry_contract_update(struct registry *reg, struct registry_contract *c)
{
    c->updated_ms = gz_now_ms();
    return contract_write(reg,
                          "UPDATE contracts SET tenant_id=?2,provider=?3,services=?4,"
                          "buckets=?5,signed=?6,start=?7,expiry=?8,renewed=?9,"
                          "renewed_date=?10,notes=?11,closed=?12,jobs=?13,created_ms=?14,"
                          "updated_ms=?15 WHERE id=?1",
                          c, true);
}

int registry_contract_delete(struct registry *reg, const char *id)
{
    struct registry_contract *c = gz_malloc(sizeof(*c));
    registry_contract_init(c);
    snprintf(c->id, sizeof(c->id), "%s", id);
    int rc = contract_write(reg, "DELETE FROM contracts WHERE id=?1", c, false);
    gz_free(c);
    return rc;
}

/* Runs a query of contract rows; fn per row. */
static int contract_query(struct registry *reg, const char *sql, const char *arg,
                          int (*fn)(const struct registry_contract *c, void *ud), void *ud)
{
    sqlite3_stmt *st = NULL;
    struct registry_contract *c = gz_malloc(sizeof(*c));
    pthread_mutex_lock(&reg->mu);
    int rc = sqlite3_prepare_v2(reg->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        rc = sql_err(reg, rc, "reading contracts");
        goto out;
    }
    if (arg != NULL)
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        contract_row(st, c);
        int r = fn(c, ud);
        if (r != 0) {
            rc = r;
            goto out;
        }
    }
    rc = rc == SQLITE_DONE ? 0 : sql_err(reg, rc, "reading contracts");
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&reg->mu);
    gz_free(c);
    return rc;
}

static int copy_one(const struct registry_contract *c, void *ud)
{
    memcpy(ud, c, sizeof(*c));
    return 1;
}

int registry_contract_get(struct registry *reg, const char *id, struct registry_contract *out)
{
    int rc = contract_query(reg, "SELECT " CONTRACT_COLS " FROM contracts WHERE id=?1", id,
                            copy_one, out);
    return rc == 1 ? 0 : rc < 0 ? rc : -ENOENT;
}

int registry_contract_list(struct registry *reg, const char *tenant_id,
                           int (*fn)(const struct registry_contract *c, void *ud), void *ud)
{
    if (tenant_id != NULL)
        return contract_query(reg,
                              "SELECT " CONTRACT_COLS " FROM contracts WHERE tenant_id=?1"
                              " ORDER BY expiry, id",
                              tenant_id, fn, ud);
    return contract_query(reg,
                          "SELECT " CONTRACT_COLS " FROM contracts"
                          " ORDER BY tenant_id, expiry, id",
                          NULL, fn, ud);
}
