/*
 * writer.c - object and part bodies being written.
 *
 * Bytes stay in memory while the body fits inline_max; the first write that would pass it
 * creates objects/XY/<random id> (O_EXCL, mode 0600), moves the buffered bytes there and
 * frees the buffer, so a writer never holds more than inline_max bytes of memory. A body
 * announced larger (store_writer_expect) goes to its file from the first write, which
 * reserves the announced size. The file is made durable (fdatasync + fsync of its folder) by
 * a sync thread when it is committed.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "local_int.h"

#define WRITER_BUF_MIN 4096
/* Write-behind: every time a body file grows past another multiple of this, the kernel is
 * asked to start writing that window to disk (sync_file_range WRITE, which does not wait).
 * Without it nothing reaches the disk before the commit's fdatasync, which then writes the
 * whole body while the client waits; with it the disk works while the body streams in and
 * the fdatasync finds little left (at most one window: a 64 MiB PUT measured 572/550 MB/s
 * with 8 MiB windows, 595/560 with 2 MiB, interleaved). Durability is unchanged: the
 * fdatasync still runs. */
#define WRITER_WRITE_BEHIND (2 * 1024 * 1024)
/* store_writer_expect reserves blocks up to this (S3's largest single PUT or part). One
 * reservation instead of a delayed allocation per page measured +4% on one-stream 64 MiB
 * PUTs and no change on 2 GiB ones (three interleaved rounds, bench/README.md); the main
 * point is a full disk found before the body streams. */
#define WRITER_RESERVE_MAX ((int64_t)5 << 30)

int store_writer_open(struct store *s, struct store_writer **out)
{
    struct store_writer *w = gz_calloc(1, sizeof(*w));
    w->s = s;
    w->fd = -1;
    w->expect = -1;
    *out = w;
    return 0;
}

void store_writer_expect(struct store_writer *w, int64_t size)
{
    w->expect = size;
}

/* Gives the new body file the blocks of the expected size. Only a full disk is an error:
 * a filesystem without fallocate simply allocates as the bytes come. */
static int writer_reserve(struct store_writer *w)
{
    if (w->expect <= (int64_t)w->s->inline_max || w->expect > WRITER_RESERVE_MAX)
        return 0;
    if (fallocate(w->fd, FALLOC_FL_KEEP_SIZE, 0, w->expect) < 0)
        return errno == ENOSPC || errno == EDQUOT ? -ENOSPC : 0;
    w->reserved = w->expect;
    return 0;
}

/* Blocks reserved past the end of a body that ended short go back to the filesystem: a
 * truncate to the same size frees them (ext4 truncates preallocated blocks even then; a hole
 * punch past the end of the file would be ignored). */
static int writer_unreserve(struct store_writer *w)
{
    if (w->reserved <= w->size)
        return 0;
    if (ftruncate(w->fd, w->size) < 0)
        return -errno;
    w->reserved = w->size;
    return 0;
}

/* Creates the body file under a fresh random id and moves the buffered bytes into it. */
static int writer_spill(struct store_writer *w)
{
    struct store *s = w->s;
    int fd = -1;
    for (int tries = 0; fd < 0 && tries < 8; tries++) {
        char name[2 * STORE__ID_LEN + 1];
        gz_random_bytes(w->id, STORE__ID_LEN);
        gz_hex_encode(name, w->id, STORE__ID_LEN);
        fd = openat(s->subfd[w->id[0]], name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST)
            return -errno;
    }
    if (fd < 0)
        return -EEXIST;
    w->fd = fd;
    w->has_file = true;
    __atomic_add_fetch(&s->live_files, 1, __ATOMIC_RELAXED);
    int rc = writer_reserve(w);
    if (rc == 0)
        rc = gz_write_all(fd, w->buf, w->len);
    gz_free(w->buf);
    w->buf = NULL;
    w->len = w->cap = 0;
    return rc;
}

static int writer_buffer(struct store_writer *w, const void *p, size_t n)
{
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : WRITER_BUF_MIN;
        while (cap < w->len + n)
            cap *= 2;
        cap = GZ_MIN(cap, w->s->inline_max);
        uint8_t *nb = gz_try_realloc(w->buf, cap);
        if (nb == NULL)
            return -ENOMEM;
        w->buf = nb;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
    return 0;
}

/* Starts writeback of the whole windows [old, new) completed (a hint: errors are ignored;
 * the commit's fdatasync reports any). */
static void writer_write_behind(struct store_writer *w, int64_t old, int64_t new)
{
    int64_t from = old / WRITER_WRITE_BEHIND, to = new / WRITER_WRITE_BEHIND;
    if (to > from && w->s->sync)
        (void)sync_file_range(w->fd, from * WRITER_WRITE_BEHIND,
                              (to - from) * WRITER_WRITE_BEHIND, SYNC_FILE_RANGE_WRITE);
}

int store_writer_write(struct store_writer *w, const void *p, size_t n)
{
    int rc;
    if (w->err != 0)
        return w->err;
    if (n == 0)
        return 0;
    store__blocksum_update(&w->sum, p, n); /* as the bytes pass: no second read */
    bool fits = w->len + n <= w->s->inline_max && w->expect <= (int64_t)w->s->inline_max;
    if (!w->has_file && fits) {
        rc = writer_buffer(w, p, n);
    } else {
        rc = w->has_file ? 0 : writer_spill(w);
        if (rc == 0)
            rc = gz_write_all(w->fd, p, n);
        if (rc == 0)
            writer_write_behind(w, w->size, w->size + (int64_t)n);
    }
    if (rc < 0) {
        w->err = rc; /* sticky: the checksums no longer matter */
        return rc;
    }
    w->size += (int64_t)n;
    return 0;
}

int64_t store_writer_size(const struct store_writer *w)
{
    return w->size;
}

int store__writer_durable(struct store_writer *w, bool need_file)
{
    struct store *s = w->s;
    int rc = 0;
    if (w->err != 0)
        return w->err;
    if (!w->has_file && need_file)
        rc = writer_spill(w);
    if (rc == 0 && w->has_file)
        rc = writer_unreserve(w);
    if (rc == 0 && w->has_file && s->sync) {
        /* The data, then the folder entry that names it. */
        if (fdatasync(w->fd) < 0 || fsync(s->subfd[w->id[0]]) < 0)
            rc = -errno;
    }
    if (rc < 0) {
        log_error("store: making a body durable: %s", gz_strerror(rc));
        w->err = rc;
        return rc;
    }
    if (w->has_file && s->sync) {
        close(w->fd); /* durable now: the reader side opens the file by its id */
        w->fd = -1;
    }
    w->synced = true;
    return 0;
}

void store__writer_free(struct store_writer *w)
{
    if (w == NULL)
        return;
    if (w->fd >= 0)
        close(w->fd);
    if (w->has_file && !w->keep)
        store__file_unlink(w->s, w->id);
    if (w->has_file)
        __atomic_sub_fetch(&w->s->live_files, 1, __ATOMIC_RELAXED);
    gz_free(w->buf);
    store__blocksum_free(&w->sum);
    gz_free(w);
}

void store_writer_abort(struct store_writer *w)
{
    if (w != NULL)
        w->keep = false;
    store__writer_free(w);
}
