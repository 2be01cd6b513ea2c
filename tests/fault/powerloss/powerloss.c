/*
 * powerloss.c - an LD_PRELOAD shim that simulates a power loss under one data folder
 * (tests/fault/README.md, "Power loss"). Test code: never linked into gzy.
 *
 * kill -9 keeps everything the process wrote in the page cache; a power loss keeps only what
 * was made durable. The shim interposes the libc file calls of the process for paths under
 * $GZY_POWERLOSS_DIR and keeps an undo log of everything not yet durable:
 *
 *   - file data: the old bytes of every block below the file's durable size that was
 *     overwritten (write/pwrite/pwritev/writev/ftruncate/fallocate/open O_TRUNC) since the
 *     file's last fsync/fdatasync, and that durable size itself (appends are undone by
 *     truncating to it);
 *   - the namespace: creations (open O_CREAT, mkdir, link), renames and unlinks since the
 *     last fsync of the folder holding the name (of both folders for a rename). An unlink is
 *     a rename into $GZY_POWERLOSS_DIR/.powerloss-trash until then; a rename over an existing
 *     name first hard-links the old target there.
 *
 * At the power loss (the GZY_POWERLOSS_AT-th intercepted mutating call, counted from start;
 * the GZY_POWERLOSS_AFTER-th one after SIGUSR1; or SIGPWR: now) the calling thread takes the
 * shim's lock for good (every other thread blocks at its next intercepted call), applies the
 * undo log (GZY_POWERLOSS_MODE: drop = all unsynced data lost; keep-some = each unsynced
 * 512-byte sector either old or new; garble = old, new or random bytes; in both only the bytes
 * actually written, and a grown file keeps either its durable size or its current one),
 * undoes the namespace operations that were not durable (newest first), appends one JSON line
 * to $GZY_POWERLOSS_REPORT and _exit(137)s. A normal exit appends an "exit" line (the number
 * of calls, to calibrate GZY_POWERLOSS_AT).
 *
 * fsync/fdatasync do not reach the disk (GZY_POWERLOSS_REAL_SYNC=1 makes them): the machine
 * does not really lose power, so only the bookkeeping matters, and the runs are fast.
 * GZY_POWERLOSS_NOSYNC=TEXT (self-test) ignores the fsyncs of files and folders whose path
 * contains TEXT, i.e. simulates a program that forgot them: the crash harness must then fail.
 *
 * Not modelled: reordering of durable writes (not possible on a disk with barriers);
 * sync_file_range makes nothing durable (no durability promise: only a crash point); writes
 * through mmap (SQLite's -shm files are ignored: SQLite rebuilds the WAL index after a
 * crash); stdio or raw syscalls
 * (glibc-internal calls are not interposable; gzy uses the fd API); fcntl(F_DUPFD) copies of
 * tracked fds; ext4's "a file fsync also commits its new directory entry" (we are stricter:
 * only a folder fsync does); renames of folders; metadata (mode, times).
 *
 * DIR is compared as given (normalised, symlinks resolved once): the program must use the same
 * spelling (gzy uses --data as given). Child processes inherit the shim (and its settings).
 *
 * Threading: one global mutex serialises every intercepted mutating call with its real call.
 * The state is global by necessity (an interposer has no context argument).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define PL_BLOCK 4096
#define PL_SECTOR 512
#define PL_MAXFD 65536
#define PL_TRASH ".powerloss-trash"
#define PL_SIG_FREEZE (SIGRTMAX - 1)
#define PL_MAXTHREADS 1024

enum { FD_NONE = 0, FD_TRACKED = 1 };

struct pl_block {
    int64_t idx;      /* block number */
    uint8_t *old;     /* durable content of the block (olen bytes: up to the durable size) */
    uint32_t olen;
    uint32_t lo, hi;  /* bytes of the block written since the last sync: [lo, hi) */
};

struct pl_file {
    dev_t dev;
    ino_t ino;
    int fd;              /* private O_RDWR descriptor on the inode */
    int64_t synced;      /* durable size */
    struct pl_block *b;  /* overwritten blocks below the durable size */
    size_t nb, capb;
    char path[PATH_MAX]; /* for the report */
    bool hit;            /* the power loss changed it (for the report) */
    struct pl_file *next;
};

enum pl_nskind { NS_CREATE, NS_MKDIR, NS_UNLINK, NS_RENAME, NS_LINK, NS_RMDIR };

struct pl_nsop {
    enum pl_nskind kind;
    char a[PATH_MAX];     /* the name created/removed, or the rename's source */
    char b[PATH_MAX];     /* the rename's target */
    char trash[PATH_MAX]; /* the unlinked inode, or the rename's overwritten target */
    char da[PATH_MAX], db[PATH_MAX]; /* folders that must be fsynced ("" = done) */
    struct pl_nsop *prev, *next;
};

static struct {
    bool on;
    char dir[PATH_MAX];
    size_t dlen;
    char trash[PATH_MAX];
    char report[PATH_MAX];
    int mode; /* 0 drop, 1 keep-some, 2 garble */
    bool real_sync;
    char nosync[256]; /* self-test: fsyncs of files whose path holds this do not count */
    uint64_t rng;
    uint64_t calls, at, after;
    unsigned trash_seq;
    uint8_t fdkind[PL_MAXFD];
    struct pl_file *files;
    struct pl_nsop *ns_head, *ns_tail;
    size_t ns_count;
    int pipefd[2];
    /* report counters */
    uint64_t r_blocks, r_truncs, r_ns, r_bytes_dropped, r_sectors_garbled;
} pl;

static pthread_mutex_t pl_mu = PTHREAD_MUTEX_INITIALIZER;

/* ---- the real functions ---- */

#define REAL(name, ret, ...)                                                                   \
    static ret (*real_##name)(__VA_ARGS__);                                                    \
    static ret (*get_##name(void))(__VA_ARGS__)                                                \
    {                                                                                          \
        if (real_##name == NULL)                                                               \
            real_##name = (ret(*)(__VA_ARGS__))dlsym(RTLD_NEXT, #name);                        \
        return real_##name;                                                                    \
    }

REAL(open, int, const char *, int, ...)
REAL(open64, int, const char *, int, ...)
REAL(openat, int, int, const char *, int, ...)
REAL(openat64, int, int, const char *, int, ...)
REAL(close, int, int)
REAL(dup, int, int)
REAL(dup2, int, int, int)
REAL(dup3, int, int, int, int)
REAL(write, ssize_t, int, const void *, size_t)
REAL(writev, ssize_t, int, const struct iovec *, int)
REAL(pwrite, ssize_t, int, const void *, size_t, off_t)
REAL(pwrite64, ssize_t, int, const void *, size_t, off_t)
REAL(pwritev, ssize_t, int, const struct iovec *, int, off_t)
REAL(pwritev64, ssize_t, int, const struct iovec *, int, off_t)
REAL(pwritev2, ssize_t, int, const struct iovec *, int, off_t, int)
REAL(ftruncate, int, int, off_t)
REAL(ftruncate64, int, int, off_t)
REAL(truncate, int, const char *, off_t)
REAL(fallocate, int, int, int, off_t, off_t)
REAL(fallocate64, int, int, int, off_t, off_t)
REAL(posix_fallocate, int, int, off_t, off_t)
REAL(fsync, int, int)
REAL(fdatasync, int, int)
REAL(syncfs, int, int)
REAL(sync_file_range, int, int, off_t, off_t, unsigned)
REAL(sync, void, void)
REAL(rename, int, const char *, const char *)
REAL(renameat, int, int, const char *, int, const char *)
REAL(renameat2, int, int, const char *, int, const char *, unsigned)
REAL(unlink, int, const char *)
REAL(unlinkat, int, int, const char *, int)
REAL(link, int, const char *, const char *)
REAL(linkat, int, int, const char *, int, const char *, int)
REAL(mkdir, int, const char *, mode_t)
REAL(mkdirat, int, int, const char *, mode_t)
REAL(rmdir, int, const char *)

/* ---- helpers ---- */

static uint64_t pl_rand(void)
{
    pl.rng ^= pl.rng << 13;
    pl.rng ^= pl.rng >> 7;
    pl.rng ^= pl.rng << 17;
    return pl.rng;
}

static void pl_die(const char *what)
{
    char msg[512];
    int n = snprintf(msg, sizeof(msg), "powerloss shim: %s: %s\n", what, strerror(errno));
    get_write()(2, msg, (size_t)n);
    _exit(99);
}

/* Lexical normalisation of an absolute path (//, /./, /../). */
static void pl_normalize(char *p)
{
    char out[PATH_MAX];
    size_t n = 0;
    const char *s = p;
    while (*s) {
        while (*s == '/')
            s++;
        if (!*s)
            break;
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == 1 && s[0] == '.') {
        } else if (len == 2 && s[0] == '.' && s[1] == '.') {
            while (n > 0 && out[n - 1] != '/')
                n--;
            if (n > 0)
                n--;
        } else if (n + 1 + len < sizeof(out)) {
            out[n++] = '/';
            memcpy(out + n, s, len);
            n += len;
        }
        s += len;
    }
    if (n == 0)
        out[n++] = '/';
    out[n] = '\0';
    memcpy(p, out, n + 1);
}

static bool pl_fd_path(int fd, char *out)
{
    char link[64];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, out, PATH_MAX - 1);
    if (n < 0)
        return false;
    out[n] = '\0';
    return true;
}

/* The absolute path of (dirfd, path); false if it cannot be known. */
static bool pl_abs(int dirfd, const char *path, char *out)
{
    char base[PATH_MAX];
    if (path == NULL)
        return false;
    if (path[0] == '/') {
        snprintf(out, PATH_MAX, "%s", path);
    } else {
        if (dirfd == AT_FDCWD) {
            if (getcwd(base, sizeof(base)) == NULL)
                return false;
        } else if (!pl_fd_path(dirfd, base)) {
            return false;
        }
        if ((size_t)snprintf(out, PATH_MAX, "%s/%s", base, path) >= PATH_MAX)
            return false;
    }
    pl_normalize(out);
    return true;
}

static bool pl_under(const char *abs)
{
    if (!pl.on || strncmp(abs, pl.dir, pl.dlen) != 0 || (abs[pl.dlen] != '/' && abs[pl.dlen]))
        return false;
    if (strncmp(abs, pl.trash, strlen(pl.trash)) == 0)
        return false;
    size_t n = strlen(abs);
    return !(n > 4 && strcmp(abs + n - 4, "-shm") == 0);
}

static void pl_dirname(const char *abs, char *out)
{
    snprintf(out, PATH_MAX, "%s", abs);
    char *s = strrchr(out, '/');
    if (s == out)
        s[1] = '\0';
    else if (s != NULL)
        *s = '\0';
}

static bool pl_tracked_fd(int fd)
{
    return pl.on && fd >= 0 && fd < PL_MAXFD &&
           __atomic_load_n(&pl.fdkind[fd], __ATOMIC_RELAXED) == FD_TRACKED;
}

static void pl_set_fd(int fd, uint8_t kind)
{
    if (fd >= 0 && fd < PL_MAXFD)
        __atomic_store_n(&pl.fdkind[fd], kind, __ATOMIC_RELAXED);
}

static void pl_crash(const char *why);

/* Counts one mutating call (lock held); the power loss happens before the call if due. */
static void pl_count(void)
{
    pl.calls++;
    if (pl.at != 0 && pl.calls >= pl.at)
        pl_crash("at");
}

/* ---- file data ---- */

static struct pl_file *pl_file_find(const struct stat *st)
{
    for (struct pl_file *f = pl.files; f; f = f->next)
        if (f->dev == st->st_dev && f->ino == st->st_ino)
            return f;
    return NULL;
}

/* The record of the file open as fd (or at path when fd < 0), created on first use with its
 * current size as the durable one. */
static struct pl_file *pl_file_get(int fd, const char *path)
{
    struct stat st;
    if ((fd >= 0 ? fstat(fd, &st) : stat(path, &st)) < 0 || !S_ISREG(st.st_mode))
        return NULL;
    struct pl_file *f = pl_file_find(&st);
    if (f != NULL)
        return f;
    f = calloc(1, sizeof(*f));
    if (f == NULL)
        pl_die("calloc");
    char tmp[64];
    if (fd >= 0) {
        snprintf(tmp, sizeof(tmp), "/proc/self/fd/%d", fd);
        path = tmp;
        if (!pl_fd_path(fd, f->path))
            f->path[0] = '\0';
    } else {
        snprintf(f->path, sizeof(f->path), "%s", path);
    }
    f->fd = get_open()(path, O_RDWR | O_CLOEXEC);
    if (f->fd < 0)
        pl_die("reopen a tracked file");
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    f->synced = st.st_size;
    f->next = pl.files;
    pl.files = f;
    return f;
}

static struct pl_block *pl_block_find(struct pl_file *f, int64_t idx)
{
    for (size_t i = f->nb; i-- > 0;)
        if (f->b[i].idx == idx)
            return &f->b[i];
    return NULL;
}

/* Bytes [off, off + len) of f are about to change: keep the durable content of every block
 * of that range below the durable size, and note which bytes were written. */
static void pl_file_touch(struct pl_file *f, int64_t off, int64_t len)
{
    if (len <= 0)
        return;
    int64_t end = off + len;
    for (int64_t idx = off / PL_BLOCK; idx * PL_BLOCK < end && idx * PL_BLOCK < f->synced;
         idx++) {
        int64_t bstart = idx * PL_BLOCK;
        uint32_t lo = (uint32_t)(off > bstart ? off - bstart : 0);
        uint32_t hi = (uint32_t)(end - bstart < PL_BLOCK ? end - bstart : PL_BLOCK);
        struct pl_block *b = pl_block_find(f, idx);
        if (b == NULL) {
            if (f->nb == f->capb) {
                f->capb = f->capb ? 2 * f->capb : 16;
                f->b = realloc(f->b, f->capb * sizeof(*f->b));
                if (f->b == NULL)
                    pl_die("realloc");
            }
            b = &f->b[f->nb++];
            b->idx = idx;
            int64_t olen = f->synced - bstart < PL_BLOCK ? f->synced - bstart : PL_BLOCK;
            b->olen = (uint32_t)olen;
            b->old = malloc(PL_BLOCK);
            if (b->old == NULL)
                pl_die("malloc");
            memset(b->old, 0, PL_BLOCK);
            ssize_t r = pread(f->fd, b->old, (size_t)olen, bstart);
            if (r < 0)
                pl_die("pread old block");
            b->olen = (uint32_t)r; /* the file may be shorter than its durable size now */
            b->lo = lo;
            b->hi = hi;
        } else {
            b->lo = lo < b->lo ? lo : b->lo;
            b->hi = hi > b->hi ? hi : b->hi;
        }
    }
}

static void pl_file_clean(struct pl_file *f)
{
    for (size_t i = 0; i < f->nb; i++)
        free(f->b[i].old);
    free(f->b);
    get_close()(f->fd);
    free(f);
}

/* fsync/fdatasync of a regular file: everything written so far is durable. The record and
 * its descriptor stay (closing a descriptor drops every POSIX lock the process holds on the
 * inode, e.g. SQLite's on index.db): they go when the program closes one of its own. */
static void pl_file_synced(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return;
    struct pl_file *f = pl_file_find(&st);
    if (f == NULL)
        return;
    for (size_t i = 0; i < f->nb; i++)
        free(f->b[i].old);
    f->nb = 0;
    f->synced = st.st_size;
}

/* The program closed a descriptor of st's inode (so it holds no POSIX locks on it any more,
 * or SQLite would have kept the descriptor open): a record with nothing unsynced goes. */
static void pl_file_closed(const struct stat *st)
{
    struct stat now;
    for (struct pl_file **pp = &pl.files; *pp; pp = &(*pp)->next) {
        struct pl_file *f = *pp;
        if (f->dev != st->st_dev || f->ino != st->st_ino)
            continue;
        if (f->nb == 0 && fstat(f->fd, &now) == 0 && now.st_size == f->synced) {
            *pp = f->next;
            pl_file_clean(f);
        }
        return;
    }
}

/* A write through fd at off (-1: the current offset, or the end with O_APPEND). */
static void pl_before_write(int fd, int64_t off, int64_t len)
{
    struct pl_file *f = pl_file_get(fd, NULL);
    if (f == NULL)
        return;
    if (off < 0) {
        int fl = fcntl(fd, F_GETFL);
        struct stat st;
        if (fl >= 0 && (fl & O_APPEND) && fstat(fd, &st) == 0)
            off = st.st_size;
        else
            off = lseek(fd, 0, SEEK_CUR);
    }
    if (off >= 0)
        pl_file_touch(f, off, len);
}

/* The size becomes len (ftruncate, O_TRUNC): keep the durable bytes past it. */
static void pl_before_resize(struct pl_file *f, int64_t len)
{
    if (f != NULL && len < f->synced)
        pl_file_touch(f, len, f->synced - len);
}

/* ---- namespace ---- */

static struct pl_nsop *pl_ns_add(enum pl_nskind kind, const char *a, const char *b)
{
    struct pl_nsop *op = calloc(1, sizeof(*op));
    if (op == NULL)
        pl_die("calloc");
    op->kind = kind;
    snprintf(op->a, sizeof(op->a), "%s", a);
    snprintf(op->b, sizeof(op->b), "%s", b ? b : "");
    pl_dirname(a, op->da);
    if (b != NULL) {
        pl_dirname(b, op->db);
        if (strcmp(op->db, op->da) == 0)
            op->db[0] = '\0';
    }
    op->prev = pl.ns_tail;
    if (pl.ns_tail)
        pl.ns_tail->next = op;
    else
        pl.ns_head = op;
    pl.ns_tail = op;
    pl.ns_count++;
    return op;
}

static void pl_trash_name(char *out)
{
    (void)get_mkdir()(pl.trash, 0700);
    snprintf(out, PATH_MAX, "%s/%u", pl.trash, ++pl.trash_seq);
}

/* fsync of the folder dir: the name operations in it are durable. */
static void pl_dir_synced(const char *dir)
{
    struct pl_nsop *op = pl.ns_head;
    while (op != NULL) {
        struct pl_nsop *next = op->next;
        if (strcmp(op->da, dir) == 0)
            op->da[0] = '\0';
        if (strcmp(op->db, dir) == 0)
            op->db[0] = '\0';
        if (!op->da[0] && !op->db[0]) {
            if (op->trash[0])
                (void)get_unlink()(op->trash);
            if (op->prev)
                op->prev->next = op->next;
            else
                pl.ns_head = op->next;
            if (op->next)
                op->next->prev = op->prev;
            else
                pl.ns_tail = op->prev;
            pl.ns_count--;
            free(op);
        }
        op = next;
    }
}

/* rm -r without malloc (opendir allocates; at the power loss other threads are frozen and
 * may hold the allocator's locks). */
static void pl_rm_rf(const char *path)
{
    int fd = get_open()(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        (void)get_unlink()(path);
        return;
    }
    char buf[4096];
    long n;
    while ((n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
        for (long off = 0; off < n;) {
            struct pl_dirent {
                uint64_t ino;
                int64_t off;
                unsigned short reclen;
                unsigned char type;
                char name[];
            } *e = (struct pl_dirent *)(buf + off);
            off += e->reclen;
            if (strcmp(e->name, ".") == 0 || strcmp(e->name, "..") == 0)
                continue;
            char sub[PATH_MAX];
            snprintf(sub, sizeof(sub), "%s/%s", path, e->name);
            pl_rm_rf(sub);
        }
    }
    get_close()(fd);
    (void)get_rmdir()(path);
}

static void pl_ns_undo(struct pl_nsop *op)
{
    switch (op->kind) {
    case NS_CREATE:
    case NS_LINK:
        (void)get_unlink()(op->a);
        break;
    case NS_MKDIR:
        pl_rm_rf(op->a);
        break;
    case NS_RMDIR:
        (void)get_mkdir()(op->a, 0700);
        break;
    case NS_UNLINK:
        (void)get_rename()(op->trash, op->a);
        break;
    case NS_RENAME:
        (void)get_rename()(op->b, op->a);
        if (op->trash[0])
            (void)get_rename()(op->trash, op->b);
        break;
    }
    pl.r_ns++;
}

/* ---- the power loss ---- */

/* One segment [off, off+len) of unsynced bytes: old content (or gone), new, or garbage. */
static void pl_segment(struct pl_file *f, int64_t off, const uint8_t *old, size_t len)
{
    uint64_t r = pl_rand() % 3;
    if (pl.mode == 0 || (pl.mode == 1 && r < 2) || (pl.mode == 2 && r == 0)) {
        uint8_t zero[PL_SECTOR];
        memset(zero, 0, sizeof(zero));
        if (get_pwrite()(f->fd, old ? old : zero, len, off) < 0)
            pl_die("restore old bytes");
        pl.r_bytes_dropped += len;
    } else if (pl.mode == 2 && r == 1) {
        uint8_t junk[PL_SECTOR];
        for (size_t i = 0; i < len; i++)
            junk[i] = (uint8_t)pl_rand();
        if (get_pwrite()(f->fd, junk, len, off) < 0)
            pl_die("garble");
        pl.r_sectors_garbled++;
    } /* else: the new bytes reached the disk */
}

/* Splits [lo, hi) of a block into sectors (drop: one piece) and decides each. */
static void pl_range(struct pl_file *f, int64_t base, int64_t lo, int64_t hi, const uint8_t *old)
{
    int64_t step = PL_SECTOR;
    for (int64_t s = lo; s < hi;) {
        int64_t e = (s / step + 1) * step;
        e = e < hi ? e : hi;
        pl_segment(f, base + s, old + s, (size_t)(e - s));
        s = e;
    }
}

static void pl_file_crash(struct pl_file *f)
{
    struct stat st;
    if (fstat(f->fd, &st) < 0)
        pl_die("fstat at the crash");
    int64_t cur = st.st_size;
    f->hit = f->nb > 0 || cur != f->synced;
    /* A file cut below its durable size since its last sync loses all its unsynced bytes
     * (keeps the model simple); otherwise each written sector is decided on its own. */
    bool exact = pl.mode == 0 || cur < f->synced;
    for (size_t i = 0; i < f->nb; i++) {
        struct pl_block *b = &f->b[i];
        int64_t base = b->idx * PL_BLOCK;
        if (exact) {
            if (b->olen > 0 && get_pwrite()(f->fd, b->old, b->olen, base) < 0)
                pl_die("restore a block");
            uint32_t hi = b->hi < b->olen ? b->hi : b->olen;
            pl.r_bytes_dropped += hi > b->lo ? hi - b->lo : 0;
        } else if (b->lo < b->hi && b->lo < b->olen) {
            pl_range(f, base, b->lo, b->hi < b->olen ? b->hi : b->olen, b->old);
        }
        pl.r_blocks++;
    }
    int64_t size = f->synced;
    if (!exact && cur > f->synced && (pl_rand() & 1)) {
        size = cur; /* the size reached the disk: the tail is old (zero), new or garbage */
        for (int64_t s = f->synced; s < cur;) {
            int64_t e = (s / PL_SECTOR + 1) * PL_SECTOR;
            e = e < cur ? e : cur;
            pl_segment(f, s, NULL, (size_t)(e - s));
            s = e;
        }
    } else if (cur > f->synced) {
        pl.r_bytes_dropped += (uint64_t)(cur - f->synced);
    }
    if (size != cur || size < f->synced) {
        if (get_ftruncate()(f->fd, size) < 0)
            pl_die("truncate to the durable size");
        pl.r_truncs++;
    }
}

static void pl_report(const char *event)
{
    if (!pl.report[0])
        return;
    int fd = get_open()(pl.report, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    char line[1024];
    int n = snprintf(line, sizeof(line),
                     "{\"event\": \"%s\", \"pid\": %d, \"calls\": %llu, \"mode\": %d,"
                     " \"blocks_restored\": %llu, \"truncated\": %llu, \"ns_undone\": %llu,"
                     " \"bytes_dropped\": %llu, \"sectors_garbled\": %llu}\n",
                     event, (int)getpid(), (unsigned long long)pl.calls, pl.mode,
                     (unsigned long long)pl.r_blocks, (unsigned long long)pl.r_truncs,
                     (unsigned long long)pl.r_ns, (unsigned long long)pl.r_bytes_dropped,
                     (unsigned long long)pl.r_sectors_garbled);
    /* The files that lost bytes (at most 8), to see what a crash hit. */
    int k = 0;
    line[n - 2] = '\0';
    n -= 2;
    n += snprintf(line + n, sizeof(line) - (size_t)n, ", \"files\": [");
    for (struct pl_file *f = pl.files; f && k < 8 && n < 900; f = f->next) {
        if (!f->hit)
            continue;
        k++;
        const char *name = strncmp(f->path, pl.dir, pl.dlen) == 0 ? f->path + pl.dlen + 1
                                                                   : f->path;
        n += snprintf(line + n, sizeof(line) - (size_t)n, "%s\"%.60s\"", k > 1 ? ", " : "",
                      name);
    }
    n += snprintf(line + n, sizeof(line) - (size_t)n, "]}\n");
    (void)get_write()(fd, line, (size_t)n);
    get_close()(fd);
}

static int pl_frozen;
static pid_t pl_thread_tid;

static void pl_on_freeze(int sig)
{
    (void)sig;
    __atomic_add_fetch(&pl_frozen, 1, __ATOMIC_SEQ_CST);
    for (;;)
        pause();
}

/* Stops every other thread where it is (a signal whose handler never returns): a machine that
 * loses power sends no more answers, and no reader sees the files half restored. Threads that
 * block the signal are waited for at most 0.5 s, then ignored. */
static void pl_freeze_others(void)
{
    pid_t tids[PL_MAXTHREADS], self = (pid_t)syscall(SYS_gettid);
    int ntids = 0, sent = 0;
    int fd = get_open()("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    char buf[4096];
    long n;
    while (fd >= 0 && (n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
        for (long off = 0; off < n;) {
            unsigned short reclen;
            memcpy(&reclen, buf + off + 16, sizeof(reclen));
            pid_t tid = (pid_t)atoi(buf + off + 19);
            off += reclen;
            if (tid > 0 && tid != self && tid != pl_thread_tid && ntids < PL_MAXTHREADS)
                tids[ntids++] = tid;
        }
    }
    if (fd >= 0)
        get_close()(fd);
    for (int i = 0; i < ntids; i++)
        if (syscall(SYS_tgkill, getpid(), tids[i], PL_SIG_FREEZE) == 0)
            sent++;
    struct timespec ts = {0, 1000000};
    for (int i = 0; i < 500 && __atomic_load_n(&pl_frozen, __ATOMIC_SEQ_CST) < sent; i++)
        nanosleep(&ts, NULL);
}

/* Lock held (and never released): the disk loses what was not durable, the process dies. */
static void pl_crash(const char *why)
{
    pl_freeze_others();
    for (struct pl_file *f = pl.files; f; f = f->next)
        pl_file_crash(f);
    for (struct pl_nsop *op = pl.ns_tail; op; op = op->prev)
        pl_ns_undo(op);
    pl_rm_rf(pl.trash);
    pl_report(why);
    _exit(137);
}

/* ---- signals: SIGPWR = power loss now, SIGUSR1 = arm GZY_POWERLOSS_AFTER ---- */

static void pl_on_signal(int sig)
{
    int saved = errno;
    char c = (char)sig;
    (void)get_write()(pl.pipefd[1], &c, 1);
    errno = saved;
}

static void *pl_thread(void *arg)
{
    (void)arg;
    pl_thread_tid = (pid_t)syscall(SYS_gettid);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPWR);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    for (;;) {
        char c;
        ssize_t n = read(pl.pipefd[0], &c, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return NULL;
        pthread_mutex_lock(&pl_mu);
        if (c == SIGPWR)
            pl_crash("signal");
        if (pl.after > 0)
            pl.at = pl.calls + pl.after;
        pthread_mutex_unlock(&pl_mu);
    }
}

static uint64_t pl_env_u64(const char *name)
{
    const char *v = getenv(name);
    return v ? strtoull(v, NULL, 10) : 0;
}

__attribute__((constructor)) static void pl_init(void)
{
    const char *dir = getenv("GZY_POWERLOSS_DIR");
    if (dir == NULL || !*dir)
        return;
    if (realpath(dir, pl.dir) == NULL)
        snprintf(pl.dir, sizeof(pl.dir), "%s", dir);
    pl_normalize(pl.dir);
    pl.dlen = strlen(pl.dir);
    snprintf(pl.trash, sizeof(pl.trash), "%s/%s", pl.dir, PL_TRASH);
    const char *rep = getenv("GZY_POWERLOSS_REPORT");
    snprintf(pl.report, sizeof(pl.report), "%s", rep ? rep : "");
    const char *mode = getenv("GZY_POWERLOSS_MODE");
    pl.mode = mode == NULL || strcmp(mode, "drop") == 0 ? 0
              : strcmp(mode, "keep-some") == 0          ? 1
              : strcmp(mode, "garble") == 0             ? 2
                                                        : -1;
    if (pl.mode < 0) {
        errno = EINVAL;
        pl_die("GZY_POWERLOSS_MODE must be drop, keep-some or garble");
    }
    pl.real_sync = pl_env_u64("GZY_POWERLOSS_REAL_SYNC") != 0;
    const char *nosync = getenv("GZY_POWERLOSS_NOSYNC");
    snprintf(pl.nosync, sizeof(pl.nosync), "%s", nosync ? nosync : "");
    pl.at = pl_env_u64("GZY_POWERLOSS_AT");
    pl.after = pl_env_u64("GZY_POWERLOSS_AFTER");
    pl.rng = pl_env_u64("GZY_POWERLOSS_SEED");
    if (pl.rng == 0)
        pl.rng = (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)getpid();
    /* splitmix64 of the seed: xorshift needs well-mixed, non-zero state */
    pl.rng += 0x9e3779b97f4a7c15ull;
    pl.rng = (pl.rng ^ (pl.rng >> 30)) * 0xbf58476d1ce4e5b9ull;
    pl.rng = (pl.rng ^ (pl.rng >> 27)) * 0x94d049bb133111ebull;
    pl.rng ^= pl.rng >> 31;
    pl.rng |= 1;
    /* Resolved now: the signal handler must not be the first to call dlsym. */
    if (get_write() == NULL || get_open() == NULL || get_close() == NULL ||
        get_pwrite() == NULL || get_ftruncate() == NULL || get_rename() == NULL ||
        get_unlink() == NULL || get_mkdir() == NULL || get_rmdir() == NULL)
        pl_die("dlsym"); /* also: the crash path must not be the first to call dlsym */
    /* Leftovers of an earlier run's trash (a crash restores or removes them all). */
    pl_rm_rf(pl.trash);
    if (pipe2(pl.pipefd, O_CLOEXEC) < 0)
        pl_die("pipe");
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = pl_on_signal;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGPWR, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = pl_on_freeze;
    sigfillset(&sa.sa_mask);
    sigaction(PL_SIG_FREEZE, &sa, NULL);
    /* The thread blocks every other signal: gzy's sigwait must still get SIGTERM. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_t t;
    if (pthread_create(&t, NULL, pl_thread, NULL) != 0)
        pl_die("pthread_create");
    pthread_detach(t);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pl.on = true;
}

__attribute__((destructor)) static void pl_fini(void)
{
    if (!pl.on || pl.calls == 0)
        return;
    pthread_mutex_lock(&pl_mu);
    /* No power loss: the unlinks that were waiting for a folder fsync stay done. */
    pl_rm_rf(pl.trash);
    pl_report("exit");
    pthread_mutex_unlock(&pl_mu);
}

/* ---- interposed: open, close, dup ---- */

static int pl_open_common(int dirfd, const char *path, int flags, mode_t mode, bool at,
                          bool o64)
{
    char abs[PATH_MAX];
    bool track = pl.on && pl_abs(dirfd, path, abs) && pl_under(abs);
    int fd;
    if (!track) {
        if (at)
            return o64 ? get_openat64()(dirfd, path, flags, mode)
                       : get_openat()(dirfd, path, flags, mode);
        return o64 ? get_open64()(path, flags, mode) : get_open()(path, flags, mode);
    }
    pthread_mutex_lock(&pl_mu);
    struct stat st;
    bool existed = stat(abs, &st) == 0;
    bool mutating = (flags & O_CREAT && !existed) ||
                    (flags & O_TRUNC && existed && S_ISREG(st.st_mode) && st.st_size > 0 &&
                     (flags & O_ACCMODE) != O_RDONLY);
    if (mutating) {
        pl_count();
        if (existed)
            pl_before_resize(pl_file_get(-1, abs), 0);
    }
    fd = get_open()(abs, flags, mode);
    if (fd >= 0) {
        pl_set_fd(fd, FD_TRACKED);
        if (!existed && (flags & O_CREAT))
            pl_ns_add(NS_CREATE, abs, NULL);
    }
    pthread_mutex_unlock(&pl_mu);
    return fd;
}

static mode_t pl_mode_arg(int flags, va_list ap)
{
    return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = pl_mode_arg(flags, ap);
    va_end(ap);
    return pl_open_common(AT_FDCWD, path, flags, mode, false, false);
}

int open64(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = pl_mode_arg(flags, ap);
    va_end(ap);
    return pl_open_common(AT_FDCWD, path, flags, mode, false, true);
}

int openat(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = pl_mode_arg(flags, ap);
    va_end(ap);
    return pl_open_common(dirfd, path, flags, mode, true, false);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = pl_mode_arg(flags, ap);
    va_end(ap);
    return pl_open_common(dirfd, path, flags, mode, true, true);
}

int creat(const char *path, mode_t mode)
{
    return pl_open_common(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode, false, false);
}

int close(int fd)
{
    if (!pl_tracked_fd(fd))
        return get_close()(fd);
    pl_set_fd(fd, FD_NONE);
    struct stat st;
    bool known = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    int r = get_close()(fd);
    int e = errno;
    if (known) {
        pthread_mutex_lock(&pl_mu);
        pl_file_closed(&st);
        pthread_mutex_unlock(&pl_mu);
    }
    errno = e;
    return r;
}

int dup(int fd)
{
    int r = get_dup()(fd);
    if (r >= 0)
        pl_set_fd(r, pl_tracked_fd(fd) ? FD_TRACKED : FD_NONE);
    return r;
}

int dup2(int fd, int fd2)
{
    int r = get_dup2()(fd, fd2);
    if (r >= 0)
        pl_set_fd(r, pl_tracked_fd(fd) ? FD_TRACKED : FD_NONE);
    return r;
}

int dup3(int fd, int fd2, int flags)
{
    int r = get_dup3()(fd, fd2, flags);
    if (r >= 0)
        pl_set_fd(r, pl_tracked_fd(fd) ? FD_TRACKED : FD_NONE);
    return r;
}

/* ---- interposed: data ---- */

static size_t pl_iov_len(const struct iovec *iov, int cnt)
{
    size_t n = 0;
    for (int i = 0; i < cnt; i++)
        n += iov[i].iov_len;
    return n;
}

#define PL_WRAP_WRITE(fd, off, len, call)                                                      \
    do {                                                                                       \
        if (!pl_tracked_fd(fd))                                                                \
            return call;                                                                       \
        pthread_mutex_lock(&pl_mu);                                                            \
        pl_count();                                                                            \
        pl_before_write(fd, off, (int64_t)(len));                                              \
        ssize_t r_ = call;                                                                     \
        int e_ = errno;                                                                        \
        pthread_mutex_unlock(&pl_mu);                                                          \
        errno = e_;                                                                            \
        return r_;                                                                             \
    } while (0)

ssize_t write(int fd, const void *buf, size_t n)
{
    PL_WRAP_WRITE(fd, -1, n, get_write()(fd, buf, n));
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    PL_WRAP_WRITE(fd, -1, pl_iov_len(iov, cnt), get_writev()(fd, iov, cnt));
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    PL_WRAP_WRITE(fd, off, n, get_pwrite()(fd, buf, n, off));
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    PL_WRAP_WRITE(fd, off, n, get_pwrite64()(fd, buf, n, off));
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    PL_WRAP_WRITE(fd, off, pl_iov_len(iov, cnt), get_pwritev()(fd, iov, cnt, off));
}

ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off)
{
    PL_WRAP_WRITE(fd, off, pl_iov_len(iov, cnt), get_pwritev64()(fd, iov, cnt, off));
}

ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
    PL_WRAP_WRITE(fd, off, pl_iov_len(iov, cnt), get_pwritev2()(fd, iov, cnt, off, flags));
}

static int pl_resize_fd(int fd, off_t len, int (*fn)(int, off_t))
{
    if (!pl_tracked_fd(fd))
        return fn(fd, len);
    pthread_mutex_lock(&pl_mu);
    pl_count();
    pl_before_resize(pl_file_get(fd, NULL), len);
    int r = fn(fd, len);
    int e = errno;
    pthread_mutex_unlock(&pl_mu);
    errno = e;
    return r;
}

int ftruncate(int fd, off_t len)
{
    return pl_resize_fd(fd, len, get_ftruncate());
}

int ftruncate64(int fd, off_t len)
{
    return pl_resize_fd(fd, len, get_ftruncate64());
}

int truncate(const char *path, off_t len)
{
    char abs[PATH_MAX];
    if (!(pl.on && pl_abs(AT_FDCWD, path, abs) && pl_under(abs)))
        return get_truncate()(path, len);
    pthread_mutex_lock(&pl_mu);
    pl_count();
    pl_before_resize(pl_file_get(-1, abs), len);
    int r = get_truncate()(abs, len);
    int e = errno;
    pthread_mutex_unlock(&pl_mu);
    errno = e;
    return r;
}

static int pl_fallocate(int fd, int mode, off_t off, off_t len,
                        int (*fn)(int, int, off_t, off_t))
{
    if (!pl_tracked_fd(fd))
        return fn(fd, mode, off, len);
    pthread_mutex_lock(&pl_mu);
    pl_count();
    struct pl_file *f = pl_file_get(fd, NULL);
    if (f != NULL && (mode & ~1) != 0) /* anything but KEEP_SIZE may change bytes */
        pl_file_touch(f, off, f->synced - off);
    int r = fn(fd, mode, off, len);
    int e = errno;
    pthread_mutex_unlock(&pl_mu);
    errno = e;
    return r;
}

int fallocate(int fd, int mode, off_t off, off_t len)
{
    return pl_fallocate(fd, mode, off, len, get_fallocate());
}

int fallocate64(int fd, int mode, off_t off, off_t len)
{
    return pl_fallocate(fd, mode, off, len, get_fallocate64());
}

int posix_fallocate(int fd, off_t off, off_t len)
{
    if (!pl_tracked_fd(fd))
        return get_posix_fallocate()(fd, off, len);
    pthread_mutex_lock(&pl_mu);
    pl_count();
    (void)pl_file_get(fd, NULL); /* only the size may grow: undone by truncating */
    int r = get_posix_fallocate()(fd, off, len);
    pthread_mutex_unlock(&pl_mu);
    return r;
}

/* ---- interposed: durability ---- */

static int pl_sync(int fd, int (*fn)(int))
{
    if (!pl_tracked_fd(fd))
        return fn(fd);
    pthread_mutex_lock(&pl_mu);
    pl_count();
    int r = pl.real_sync ? fn(fd) : 0;
    int e = errno;
    struct stat st;
    char path[PATH_MAX];
    if (r == 0 && pl.nosync[0] && pl_fd_path(fd, path) && strstr(path, pl.nosync))
        r = 1; /* self-test: this fsync "was forgotten" */
    if (r == 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        if (pl_fd_path(fd, path)) {
            pl_normalize(path);
            pl_dir_synced(path);
        }
    } else if (r == 0) {
        pl_file_synced(fd);
    }
    r = r < 0 ? r : 0;
    pthread_mutex_unlock(&pl_mu);
    errno = e;
    return r;
}

int fsync(int fd)
{
    return pl_sync(fd, get_fsync());
}

int fdatasync(int fd)
{
    return pl_sync(fd, get_fdatasync());
}

/* Starts writeback at most: no durability (the data may still be lost), but a crash point. */
int sync_file_range(int fd, off_t off, off_t n, unsigned flags)
{
    if (!pl_tracked_fd(fd))
        return get_sync_file_range()(fd, off, n, flags);
    pthread_mutex_lock(&pl_mu);
    pl_count();
    int r = get_sync_file_range()(fd, off, n, flags);
    int e = errno;
    pthread_mutex_unlock(&pl_mu);
    errno = e;
    return r;
}

static void pl_sync_all(void)
{
    struct stat st;
    for (struct pl_file *f = pl.files; f; f = f->next) {
        for (size_t i = 0; i < f->nb; i++)
            free(f->b[i].old);
        f->nb = 0;
        if (fstat(f->fd, &st) == 0)
            f->synced = st.st_size;
    }
    while (pl.ns_head != NULL) {
        struct pl_nsop *op = pl.ns_head;
        pl.ns_head = op->next;
        if (op->trash[0])
            (void)get_unlink()(op->trash);
        free(op);
    }
    pl.ns_tail = NULL;
    pl.ns_count = 0;
}

int syncfs(int fd)
{
    if (!pl.on)
        return get_syncfs()(fd);
    pthread_mutex_lock(&pl_mu);
    pl_count();
    int r = pl.real_sync ? get_syncfs()(fd) : 0;
    if (r == 0)
        pl_sync_all();
    pthread_mutex_unlock(&pl_mu);
    return r;
}

void sync(void)
{
    if (!pl.on) {
        get_sync()();
        return;
    }
    pthread_mutex_lock(&pl_mu);
    pl_count();
    if (pl.real_sync)
        get_sync()();
    pl_sync_all();
    pthread_mutex_unlock(&pl_mu);
}

/* ---- interposed: the namespace ---- */

static int pl_do_unlink(const char *abs, bool dir)
{
    struct stat st;
    if (lstat(abs, &st) < 0)
        return -1; /* errno as unlink would set it */
    if (dir) {
        int r = get_rmdir()(abs);
        if (r == 0)
            pl_ns_add(NS_RMDIR, abs, NULL);
        return r;
    }
    if (S_ISDIR(st.st_mode)) {
        errno = EISDIR;
        return -1;
    }
    char trash[PATH_MAX];
    pl_trash_name(trash);
    if (get_rename()(abs, trash) < 0)
        return -1;
    struct pl_nsop *op = pl_ns_add(NS_UNLINK, abs, NULL);
    snprintf(op->trash, sizeof(op->trash), "%s", trash);
    return 0;
}

int unlink(const char *path)
{
    char abs[PATH_MAX];
    if (!(pl.on && pl_abs(AT_FDCWD, path, abs) && pl_under(abs)))
        return get_unlink()(path);
    pthread_mutex_lock(&pl_mu);
    pl_count();
    int r = pl_do_unlink(abs, false);
    int e = errno;
    pthread_mutex_unlock(&pl_mu);
    errno = e;
    return r;
}

int unlinkat(int dirfd, const char *path, int flags)
{
    char abs[PATH_MAX];
    if (!(pl.on && pl_abs(dirfd, path, abs) && pl_under(abs)))
        return get_unlinkat()(dirfd, path, flags);
    pthread_mutex_lock(&pl_mu);
    pl_count();
    int r = pl_do_unlink(abs, (flags & AT_REMOVEDIR) != 0);
    int e = errno;
    pthread_mutex_unlock(&pl_mu);
    errno = e;
    return r;
}

int rmdir(const char *path)
{
    char abs[PATH_MAX];
    if (!(pl.on && pl_abs(AT_FDCWD, path, abs) && pl_under(abs)))
        return get_rmdir()(path);
    pthread_mutex_lock(&pl_mu);
    pl_count();
    int r = pl_do_unlink(abs, true);
    int e = errno;
    pthread_mutex_unlock(&pl_mu);
    errno = e;
    return r;
}

static int pl_do_rename(const char *a, const char *b)
{
    char trash[PATH_MAX] = "";
    struct stat st;
    if (lstat(b, &st) == 0 && !S_ISDIR(st.st_mode)) {
        pl_trash_name(trash);
        if (get_link()(b, trash) < 0)
            return -1;
    }
    int r = get_rename()(a, b);
    if (r < 0) {
        int e = errno;
        if (trash[0])
            (void)get_unlink()(trash);
        errno = e;
        return r;
    }
    struct pl_nsop *op = pl_ns_add(NS_RENAME, a, b);
    snprintf(op->trash, sizeof(op->trash), "%s", trash);
    return 0;
}

static int pl_rename_common(int fa, const char *a, int fb, const char *b, unsigned flags)
{
    char aa[PATH_MAX], ab[PATH_MAX];
    bool ua = pl.on && pl_abs(fa, a, aa) && pl_under(aa);
    bool ub = pl.on && pl_abs(fb, b, ab) && pl_under(ab);
    if (!ua && !ub)
        return flags ? get_renameat2()(fa, a, fb, b, flags) : get_renameat()(fa, a, fb, b);
    pthread_mutex_lock(&pl_mu);
    pl_count();
    int r;
    if (flags != 0) { /* RENAME_NOREPLACE/EXCHANGE: not modelled beyond the plain case */
        r = get_renameat2()(fa, a, fb, b, flags);
        if (r == 0)
            pl_ns_add(NS_RENAME, aa, ab);
    } else {
        r = pl_do_rename(aa, ab);
    }
    int e = errno;
    pthread_mutex_unlock(&pl_mu);
    errno = e;
    return r;
}

int rename(const char *a, const char *b)
{
    return pl_rename_common(AT_FDCWD, a, AT_FDCWD, b, 0);
}

int renameat(int fa, const char *a, int fb, const char *b)
{
    return pl_rename_common(fa, a, fb, b, 0);
}

int renameat2(int fa, const char *a, int fb, const char *b, unsigned flags)
{
    return pl_rename_common(fa, a, fb, b, flags);
}

static int pl_link_common(int fa, const char *a, int fb, const char *b, int flags)
{
    char ab[PATH_MAX];
    if (!(pl.on && pl_abs(fb, b, ab) && pl_under(ab)))
        return get_linkat()(fa, a, fb, b, flags);
    pthread_mutex_lock(&pl_mu);
    pl_count();
    int r = get_linkat()(fa, a, fb, b, flags);
    int e = errno;
    if (r == 0)
        pl_ns_add(NS_LINK, ab, NULL);
    pthread_mutex_unlock(&pl_mu);
    errno = e;
    return r;
}

int link(const char *a, const char *b)
{
    return pl_link_common(AT_FDCWD, a, AT_FDCWD, b, 0);
}

int linkat(int fa, const char *a, int fb, const char *b, int flags)
{
    return pl_link_common(fa, a, fb, b, flags);
}

static int pl_mkdir_common(int fd, const char *path, mode_t mode)
{
    char abs[PATH_MAX];
    if (!(pl.on && pl_abs(fd, path, abs) && pl_under(abs)))
        return get_mkdirat()(fd, path, mode);
    pthread_mutex_lock(&pl_mu);
    pl_count();
    int r = get_mkdir()(abs, mode);
    int e = errno;
    if (r == 0)
        pl_ns_add(NS_MKDIR, abs, NULL);
    pthread_mutex_unlock(&pl_mu);
    errno = e;
    return r;
}

int mkdir(const char *path, mode_t mode)
{
    return pl_mkdir_common(AT_FDCWD, path, mode);
}

int mkdirat(int fd, const char *path, mode_t mode)
{
    return pl_mkdir_common(fd, path, mode);
}
