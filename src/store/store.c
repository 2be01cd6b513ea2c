/*
 * store.c - backend-independent parts of the store interface: the encoding of an object's
 * opaque header list (store_meta.headers), a sequence of name\0value\0 pairs.
 */
#include <errno.h>

#include "store.h"

int store_headers_add(struct gz_buf *enc, struct gz_slice name, struct gz_slice value)
{
    static const char nul = '\0';
    if (name.len == 0 || memchr(name.ptr, '\0', name.len) != NULL ||
        (value.len > 0 && memchr(value.ptr, '\0', value.len) != NULL))
        return -EINVAL;
    size_t mark = enc->len;
    int rc = gz_buf_append(enc, name.ptr, name.len);
    if (rc == 0)
        rc = gz_buf_append(enc, &nul, 1);
    if (rc == 0)
        rc = gz_buf_append(enc, value.ptr ? value.ptr : "", value.len);
    if (rc == 0)
        rc = gz_buf_append(enc, &nul, 1);
    if (rc < 0)
        enc->len = mark; /* all or nothing */
    return rc;
}

bool store_headers_next(struct gz_slice enc, size_t *pos, struct gz_slice *name,
                        struct gz_slice *value)
{
    size_t p = *pos;
    if (p >= enc.len)
        return false;
    const char *n = enc.ptr + p;
    const char *nend = memchr(n, '\0', enc.len - p);
    if (nend == NULL)
        return false;
    const char *v = nend + 1;
    size_t vleft = enc.len - (size_t)(v - enc.ptr);
    const char *vend = vleft ? memchr(v, '\0', vleft) : NULL;
    if (vend == NULL)
        return false; /* truncated encoding */
    *name = gz_slice(n, (size_t)(nend - n));
    *value = gz_slice(v, (size_t)(vend - v));
    *pos = (size_t)(vend - enc.ptr) + 1;
    return true;
}

void store_waiter_init(struct store_waiter *w)
{
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->done = false;
    w->status = 0;
}

void store_waiter_done(void *ud, int status)
{
    struct store_waiter *w = ud;
    pthread_mutex_lock(&w->mu);
    w->status = status;
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int store_waiter_wait(struct store_waiter *w)
{
    pthread_mutex_lock(&w->mu);
    while (!w->done)
        pthread_cond_wait(&w->cv, &w->mu);
    int status = w->status;
    pthread_mutex_unlock(&w->mu);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    return status;
}
