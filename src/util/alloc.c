/*
 * alloc.c - the only file that calls malloc. Small fixed allocations abort on OOM (redis,
 * h2o); sizes a client controls go through gz_try_* which return NULL and which test builds
 * can make fail on demand (curl's -t, SQLite's OOM tests).
 */
#include <stdio.h>
#include <stdlib.h>

#include "util.h"

static _Atomic unsigned long alloc_fail_countdown;

void gz_alloc_fail_after(unsigned long n)
{
    alloc_fail_countdown = n;
}

static bool try_should_fail(void)
{
    unsigned long n = alloc_fail_countdown;
    if (n == 0)
        return false;
    if (n == 1) {
        alloc_fail_countdown = 0;
        return true;
    }
    alloc_fail_countdown = n - 1;
    return false;
}

static void oom(size_t n)
{
    fprintf(stderr, "gzy: out of memory allocating %zu bytes\n", n);
    abort();
}

void *gz_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        oom(n);
    return p;
}

void *gz_calloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (p == NULL)
        oom(nmemb * size);
    return p;
}

void *gz_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        oom(n);
    return q;
}

char *gz_strdup(const char *s)
{
    return gz_strndup(s, strlen(s));
}

char *gz_strndup(const char *s, size_t n)
{
    char *p = gz_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void *gz_try_malloc(size_t n)
{
    if (try_should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *gz_try_realloc(void *p, size_t n)
{
    if (try_should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

void gz_free(void *p)
{
    free(p);
}
