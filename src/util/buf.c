/*
 * buf.c - growable byte buffers with a hard maximum (curl dynbuf): a buffer fed by a client
 * can never grow past the limit its owner chose.
 */
#include <errno.h>
#include <stdio.h>

#include "util.h"

void gz_buf_init(struct gz_buf *b, size_t max)
{
    b->ptr = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void gz_buf_free(struct gz_buf *b)
{
    gz_free(b->ptr);
    b->ptr = NULL;
    b->len = b->cap = 0;
}

void gz_buf_reset(struct gz_buf *b)
{
    b->len = 0;
}

/* Ensures room for n more bytes plus a terminating NUL. */
static int buf_reserve(struct gz_buf *b, size_t n)
{
    if (n > b->max || b->len > b->max - n)
        return -E2BIG;
    size_t need = b->len + n + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    char *p = gz_try_realloc(b->ptr, cap);
    if (p == NULL)
        return -ENOMEM;
    b->ptr = p;
    b->cap = cap;
    return 0;
}

int gz_buf_reserve(struct gz_buf *b, size_t n)
{
    return buf_reserve(b, n);
}

int gz_buf_append(struct gz_buf *b, const void *p, size_t n)
{
    int rc = buf_reserve(b, n);
    if (rc < 0)
        return rc;
    if (n)
        memcpy(b->ptr + b->len, p, n);
    b->len += n;
    b->ptr[b->len] = '\0';
    return 0;
}

int gz_buf_append_cstr(struct gz_buf *b, const char *s)
{
    return gz_buf_append(b, s, strlen(s));
}

int gz_buf_vappendf(struct gz_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    char small[256];
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof(small), fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return -EINVAL;
    if ((size_t)n < sizeof(small))
        return gz_buf_append(b, small, (size_t)n);
    int rc = buf_reserve(b, (size_t)n);
    if (rc < 0)
        return rc;
    vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int gz_buf_appendf(struct gz_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = gz_buf_vappendf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int gz_buf_append_xml(struct gz_buf *b, struct gz_slice s)
{
    size_t start = 0;
    int rc = 0;
    for (size_t i = 0; i < s.len && rc == 0; i++) {
        const char *rep = NULL;
        switch (s.ptr[i]) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&apos;"; break;
        case '\r': rep = "&#13;"; break;
        default: break;
        }
        if (rep == NULL)
            continue;
        rc = gz_buf_append(b, s.ptr + start, i - start);
        if (rc == 0)
            rc = gz_buf_append_cstr(b, rep);
        start = i + 1;
    }
    if (rc == 0)
        rc = gz_buf_append(b, s.ptr + start, s.len - start);
    return rc;
}

int gz_buf_terminate(struct gz_buf *b)
{
    return gz_buf_append(b, "", 0);
}
