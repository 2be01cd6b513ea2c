/*
 * local.c - opening and closing the local store: the data folder, its lock, the 256 object
 * folders, the index, and crash recovery.
 *
 * Recovery is an orphan sweep: after an unclean shutdown (the index's `clean` flag is 0
 * while a process has the store open), every file under objects/ that has no row in `files`
 * is removed. Such a file is a body whose commit never happened (half-written or queued when
 * the process died) or one whose unlink after a commit was lost. The sweep runs before any
 * thread starts, against the committed index, so it can never remove a file a committed row
 * references: a row in `files` exists exactly while some object or part references the id.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "local_int.h"

static void id_name(const uint8_t id[STORE__ID_LEN], char name[2 * STORE__ID_LEN + 1])
{
    gz_hex_encode(name, id, STORE__ID_LEN);
}

int store__file_open(struct store *s, const uint8_t id[STORE__ID_LEN])
{
    char name[2 * STORE__ID_LEN + 1];
    id_name(id, name);
    int fd = openat(s->subfd[id[0]], name, O_RDONLY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

void store__file_unlink(struct store *s, const uint8_t id[STORE__ID_LEN])
{
    char name[2 * STORE__ID_LEN + 1];
    id_name(id, name);
    if (unlinkat(s->subfd[id[0]], name, 0) < 0 && errno != ENOENT) {
        log_warn("store: unlink objects/%02x/%s: %s", id[0], name, strerror(errno));
        pthread_mutex_lock(&s->mu);
        s->maybe_orphans = true;
        pthread_mutex_unlock(&s->mu);
    }
}

void store__idvec_push(struct store__idvec *v, const uint8_t id[STORE__ID_LEN])
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 4;
        v->ids = gz_realloc(v->ids, v->cap * sizeof(*v->ids));
    }
    memcpy(v->ids[v->n++], id, STORE__ID_LEN);
}

void store__idvec_free(struct store__idvec *v)
{
    gz_free(v->ids);
    v->ids = NULL;
    v->n = v->cap = 0;
}

bool store__slice_valid_key(struct gz_slice key)
{
    return key.len <= STORE_MAX_KEY;
}

/* mkdir -p for the data folder itself. */
static int mkdir_p(const char *path)
{
    char tmp[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(tmp))
        return -ENAMETOOLONG;
    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        char c = tmp[i];
        tmp[i] = '\0';
        if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
            return -errno;
        tmp[i] = c;
    }
    return 0;
}

/* Opens (creating) a folder under parent; fsyncs parent if it was created. */
static int dir_open(int parent, const char *name, bool sync)
{
    bool created = false;
    if (mkdirat(parent, name, 0700) == 0)
        created = true;
    else if (errno != EEXIST)
        return -errno;
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (created && sync && fsync(parent) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

static int dirs_open(struct store *s)
{
    int rc = mkdir_p(s->dir);
    if (rc < 0)
        return rc;
    s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0)
        return -errno;
    s->lockfd = openat(s->dirfd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lockfd < 0)
        return -errno;
    if (flock(s->lockfd, LOCK_EX | LOCK_NB) < 0) {
        rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
        log_error("store: %s is in use by another process", s->dir);
        return rc;
    }
    s->objfd = dir_open(s->dirfd, "objects", s->sync);
    if (s->objfd < 0)
        return s->objfd;
    for (int i = 0; i < 256; i++) {
        char name[3];
        snprintf(name, sizeof(name), "%02x", i);
        s->subfd[i] = dir_open(s->objfd, name, false);
        if (s->subfd[i] < 0)
            return s->subfd[i];
    }
    /* One fsync covers all the folders just created. */
    if (s->sync && fsync(s->objfd) < 0)
        return -errno;
    return 0;
}

static bool parse_id(const char *name, uint8_t id[STORE__ID_LEN])
{
    if (strlen(name) != 2 * STORE__ID_LEN)
        return false;
    for (const char *p = name; *p; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    }
    return gz_hex_decode(id, STORE__ID_LEN, gz_slice(name, 2 * STORE__ID_LEN)) ==
           STORE__ID_LEN;
}

/* 1 if id has a files row, 0 if not, negative on error. */
static int file_known(struct store__conn *c, const uint8_t id[STORE__ID_LEN])
{
    sqlite3_stmt *st = store__stmt(c, ST_FILE_EXISTS);
    if (st == NULL)
        return -EIO;
    store__bind_id(st, 1, id);
    int rc = sqlite3_step(st);
    store__stmt_done(st);
    if (rc == SQLITE_ROW)
        return 1;
    return rc == SQLITE_DONE ? 0 : store__sql_err(rc);
}

/* Sweeps one objects/XY folder; counts kept and removed files. */
static int sweep_dir(struct store *s, int i, int64_t *kept, int64_t *removed)
{
    int fd = dup(s->subfd[i]);
    if (fd < 0)
        return -errno;
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return -errno;
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        uint8_t id[STORE__ID_LEN];
        if (e->d_name[0] == '.')
            continue;
        if (!parse_id(e->d_name, id) || id[0] != i) {
            log_warn("store: objects/%02x/%s is not a store file; left alone", i, e->d_name);
            continue;
        }
        rc = file_known(s->wconn, id);
        if (rc == 1) {
            (*kept)++;
            rc = 0;
        } else if (rc == 0) {
            if (unlinkat(s->subfd[i], e->d_name, 0) < 0 && errno != ENOENT)
                rc = -errno;
            (*removed)++;
        }
    }
    closedir(d);
    return rc;
}

static int recover(struct store *s)
{
    int64_t kept = 0, removed = 0, known = 0;
    int rc = 0;
    for (int i = 0; i < 256 && rc == 0; i++)
        rc = sweep_dir(s, i, &kept, &removed);
    if (rc < 0) {
        log_error("store: recovery sweep failed: %s", gz_strerror(rc));
        return rc;
    }
    sqlite3_stmt *st = store__stmt(s->wconn, ST_FILE_COUNT);
    if (st != NULL && sqlite3_step(st) == SQLITE_ROW)
        known = sqlite3_column_int64(st, 0);
    store__stmt_done(st);
    if (known != kept)
        log_error("store: %lld indexed files are missing from %s/objects",
                  (long long)(known - kept), s->dir);
    log_info("store: recovered %s: %lld files kept, %lld orphans removed", s->dir,
             (long long)kept, (long long)removed);
    return 0;
}

/* Counts the body files under objects/ (names not starting with '.'). */
static int64_t body_files_count(struct store *s)
{
    int64_t n = 0;
    for (int i = 0; i < 256; i++) {
        int fd = dup(s->subfd[i]);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (d == NULL) {
            if (fd >= 0)
                close(fd);
            continue;
        }
        struct dirent *e;
        while ((e = readdir(d)) != NULL)
            n += e->d_name[0] != '.';
        closedir(d);
    }
    return n;
}

/* An index that is missing while objects/ holds files means the index was lost (a deleted
 * file, a power loss before its first sync, a bad restore): starting with an empty index
 * would quietly hide every object (and the sweep would then delete them). -EUCLEAN. */
static int index_lost_check(struct store *s)
{
    struct stat sb;
    if (fstatat(s->dirfd, "index.db", &sb, 0) == 0 || errno != ENOENT)
        return 0;
    int64_t n = body_files_count(s);
    if (n == 0)
        return 0;
    log_error("store: %s/index.db is missing but objects/ holds %lld body files: refusing "
              "to start with an empty index that would hide them (restore index.db, or "
              "move objects/ aside to start empty)", s->dir, (long long)n);
    return -EUCLEAN;
}

/* 1 if the query (a count or EXISTS) answers more than zero, 0 if zero, negative on error. */
static int index_count_positive(struct store__conn *c, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    int ret = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) > 0 : -EIO;
    sqlite3_finalize(st);
    return ret;
}

/* The same loss when index.db exists but is empty (a fresh schema, or no buckets and no
 * files: what a power loss that took the index's unsynced WAL, a truncated file or a
 * restore of an empty backup leaves) while objects/ holds body files. Checked before the
 * clean flag is read: the orphan sweep would otherwise delete every body. A crash can leave
 * orphans only beside a bucket that still exists (a body is written into a bucket), so an
 * index with neither buckets nor files has no honest reason for files in objects/. */
static int index_empty_check(struct store *s)
{
    int rc = index_count_positive(s->wconn, "SELECT EXISTS(SELECT 1 FROM buckets)");
    if (rc == 0)
        rc = index_count_positive(s->wconn, "SELECT EXISTS(SELECT 1 FROM files)");
    if (rc != 0)
        return rc < 0 ? rc : 0;
    int64_t n = body_files_count(s);
    if (n == 0)
        return 0;
    log_error("store: %s/index.db is empty (no buckets, no files) but objects/ holds %lld body "
              "files: refusing to start with an index that would hide them and a sweep that "
              "would delete them (restore index.db from a backup; to discard the files, move "
              "objects/ aside or run gzy fsck --repair)", s->dir, (long long)n);
    return -EUCLEAN;
}

/* Sets the clean-shutdown flag durably (outside the committer). */
static int set_clean(struct store *s, int64_t v)
{
    int rc = store__exec(s->wconn, ST_BEGIN_IMM);
    if (rc < 0)
        return rc;
    rc = store__meta_set(s->wconn, "clean", v);
    store__conn_pool_unpin(s);
    if (rc == 0)
        return store__exec(s->wconn, ST_COMMIT);
    store__exec(s->wconn, ST_ROLLBACK);
    return rc;
}

static int index_open(struct store *s)
{
    int64_t clean = 0;
    int rc = store__conn_open(s, false, &s->wconn);
    if (rc < 0)
        return rc;
    rc = store__schema_init(s->wconn);
    if (rc < 0)
        return rc;
    rc = index_empty_check(s);
    if (rc < 0)
        return rc;
    rc = store__meta_get(s->wconn, "clean", &clean);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    if (rc == -ENOENT)
        clean = 1; /* a new index: nothing to sweep */
    if (clean != 1) {
        rc = recover(s);
        if (rc < 0)
            return rc;
    }
    return set_clean(s, 0);
}

static void store_free(struct store *s)
{
    struct store__conn *c;
    while ((c = s->pool) != NULL) {
        s->pool = c->next;
        store__conn_close(c);
    }
    store__conn_close(s->wconn); /* last: its close checkpoints and removes the WAL */
    store__usage_discard(s, true);
    for (int i = 0; i < 256; i++) {
        if (s->subfd[i] >= 0)
            close(s->subfd[i]);
    }
    if (s->objfd >= 0)
        close(s->objfd);
    if (s->lockfd >= 0)
        close(s->lockfd); /* releases the flock */
    if (s->dirfd >= 0)
        close(s->dirfd);
    pthread_mutex_destroy(&s->pool_mu);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv_commit);
    pthread_cond_destroy(&s->cv_sync);
    pthread_mutex_destroy(&s->scrub.mu);
    pthread_cond_destroy(&s->scrub.cv);
    gz_free(s->dir);
    gz_free(s);
}

int store_open(const struct store_config *cfg, struct store **out)
{
    struct store *s;
    int rc;

    *out = NULL;
    if (cfg == NULL || cfg->data_dir == NULL || cfg->data_dir[0] == '\0' ||
        cfg->inline_max > STORE__INLINE_MAX_LIMIT)
        return -EINVAL;
    s = gz_calloc(1, sizeof(*s));
    s->dir = gz_strdup(cfg->data_dir);
    s->inline_max = cfg->inline_max ? cfg->inline_max : STORE_DEFAULT_INLINE_MAX;
    s->sync = cfg->sync != 0;
    s->verify_reads = !cfg->no_verify_reads;
    s->dirfd = s->objfd = s->lockfd = -1;
    for (int i = 0; i < 256; i++)
        s->subfd[i] = -1;
    pthread_mutex_init(&s->pool_mu, NULL);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv_commit, NULL);
    pthread_cond_init(&s->cv_sync, NULL);
    pthread_mutex_init(&s->scrub.mu, NULL);
    pthread_cond_init(&s->scrub.cv, NULL);

    rc = dirs_open(s);
    if (rc == 0)
        rc = index_lost_check(s);
    if (rc == 0)
        rc = index_open(s);
    /* index.db and its -wal may have just been created: make their names durable. */
    if (rc == 0 && s->sync && fsync(s->dirfd) < 0)
        rc = -errno;
    if (rc == 0)
        rc = store__threads_start(s);
    if (rc == 0)
        rc = store__scrub_start(s, cfg);
    if (rc < 0) {
        log_error("store: cannot open %s: %s", cfg->data_dir, gz_strerror(rc));
        store__scrub_stop(s);
        store__threads_stop(s);
        store_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void store_close(struct store *s)
{
    if (s == NULL)
        return;
    store__scrub_stop(s);
    store__threads_stop(s);
    long live = __atomic_load_n(&s->live_files, __ATOMIC_RELAXED);
    if (live > 0) {
        /* Writers never committed nor aborted: their files are left for the next sweep. */
        log_warn("store: closing %s with %ld writers still open", s->dir, live);
        s->maybe_orphans = true;
    }
    if (!s->maybe_orphans && set_clean(s, 1) < 0)
        log_warn("store: could not mark %s clean; the next open will sweep it", s->dir);
    store_free(s);
}

const char *store_data_dir(const struct store *s)
{
    return s->dir;
}
