/*
 * util.h - the lowest layer: slices, allocation, growable bounded buffers, error codes,
 * logging, time and small encoding helpers. Everything above may include this header;
 * it includes nothing from the project.
 */
#ifndef GZ_UTIL_H
#define GZ_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define GZ_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define GZ_MIN(a, b) ((a) < (b) ? (a) : (b))
#define GZ_MAX(a, b) ((a) > (b) ? (a) : (b))

/* ---- slices: {ptr, len} views of bytes owned by someone else (never NUL-terminated) ---- */

struct gz_slice {
    const char *ptr;
    size_t len;
};

#define GZ_SLICE_NULL ((struct gz_slice){NULL, 0})
#define GZ_SLICE_LIT(s) ((struct gz_slice){(s), sizeof(s) - 1})

static inline struct gz_slice gz_slice(const void *p, size_t n)
{
    return (struct gz_slice){(const char *)p, n};
}
static inline struct gz_slice gz_slice_cstr(const char *s)
{
    return (struct gz_slice){s, s ? strlen(s) : 0};
}
static inline bool gz_slice_eq(struct gz_slice a, struct gz_slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}
static inline bool gz_slice_eq_cstr(struct gz_slice a, const char *s)
{
    return gz_slice_eq(a, gz_slice_cstr(s));
}
bool gz_slice_case_eq(struct gz_slice a, struct gz_slice b);
bool gz_slice_case_eq_cstr(struct gz_slice a, const char *s);
bool gz_slice_starts_with(struct gz_slice a, const char *prefix);
/* Parses a non-negative decimal integer that spans the whole slice; -EINVAL or -ERANGE. */
int gz_slice_to_u64(struct gz_slice s, uint64_t *out);
/* Trims optional whitespace (SP, HTAB) at both ends. */
struct gz_slice gz_slice_trim(struct gz_slice s);

/* ---- allocation: the only place that calls malloc (STYLE.md) ---- */

/* Abort on OOM: for small, fixed-size allocations. */
void *gz_malloc(size_t n);
void *gz_calloc(size_t nmemb, size_t size);
void *gz_realloc(void *p, size_t n);
char *gz_strdup(const char *s);
char *gz_strndup(const char *s, size_t n);
/* Returns NULL on OOM (or injected failure): for sizes that come from a client. */
void *gz_try_malloc(size_t n);
void *gz_try_realloc(void *p, size_t n);
void gz_free(void *p);
/* Test builds: make the Nth gz_try_* allocation from now fail (0 disables). */
void gz_alloc_fail_after(unsigned long n);

/* ---- growable buffer with a hard maximum (curl dynbuf) ---- */

struct gz_buf {
    char *ptr;
    size_t len;
    size_t cap;
    size_t max; /* gz_buf_* fails with -E2BIG rather than grow past this */
};

void gz_buf_init(struct gz_buf *b, size_t max);
void gz_buf_free(struct gz_buf *b);
void gz_buf_reset(struct gz_buf *b);
int gz_buf_append(struct gz_buf *b, const void *p, size_t n);
/* Grows the buffer so that n more bytes fit without another allocation (a hint for a buffer
 * about to be filled piecewise); -E2BIG past max, -ENOMEM. */
int gz_buf_reserve(struct gz_buf *b, size_t n);
int gz_buf_append_cstr(struct gz_buf *b, const char *s);
int gz_buf_appendf(struct gz_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int gz_buf_vappendf(struct gz_buf *b, const char *fmt, va_list ap);
/* Appends s with &, <, >, ", ' escaped for XML text and attributes. */
int gz_buf_append_xml(struct gz_buf *b, struct gz_slice s);
/* Makes sure ptr[len] == '\0' (not counted in len). */
int gz_buf_terminate(struct gz_buf *b);
static inline struct gz_slice gz_buf_slice(const struct gz_buf *b)
{
    return gz_slice(b->ptr, b->len);
}

/* ---- errors: 0 ok, negative errno, or GZ_E* from a reserved range ---- */

enum {
    GZ_EBASE = -20000,
    GZ_ENOBUCKET,        /* bucket does not exist */
    GZ_ENOKEY,           /* object does not exist */
    GZ_EBUCKETEXISTS,    /* bucket name taken by someone else */
    GZ_EBUCKETOWNED,     /* bucket already exists and is the caller's */
    GZ_EBUCKETNOTEMPTY,  /* bucket still holds objects or uploads */
    GZ_ENOUPLOAD,        /* multipart upload id unknown */
    GZ_EINVALIDPART,     /* named part missing or its ETag differs */
    GZ_ECORRUPT,         /* stored data failed a check */
    GZ_ECLOSED,          /* peer went away / object closed */
    GZ_ELIMIT,           /* a named limit was exceeded */
    GZ_EPARSE,           /* malformed input */
    GZ_EQUOTA,           /* a quota would be exceeded */
};

const char *gz_strerror(int err);
/* "what: <OpenSSL's oldest queued error>" (or just what) into out; clears OpenSSL's queue. */
void gz_ssl_error_text(const char *what, char *out, size_t outsz);

/* ---- logging: level checked before formatting; file and line added here ---- */

enum gz_log_level { GZ_LOG_ERROR = 0, GZ_LOG_WARN, GZ_LOG_INFO, GZ_LOG_DEBUG };

void gz_log_set_level(enum gz_log_level level);
extern enum gz_log_level gz_log_level_current;
void gz_log_write(enum gz_log_level level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define GZ_LOG(level, ...)                                                                 \
    do {                                                                                   \
        if ((level) <= gz_log_level_current)                                               \
            gz_log_write((level), __FILE__, __LINE__, __VA_ARGS__);                        \
    } while (0)
#define log_error(...) GZ_LOG(GZ_LOG_ERROR, __VA_ARGS__)
#define log_warn(...) GZ_LOG(GZ_LOG_WARN, __VA_ARGS__)
#define log_info(...) GZ_LOG(GZ_LOG_INFO, __VA_ARGS__)
#define log_debug(...) GZ_LOG(GZ_LOG_DEBUG, __VA_ARGS__)
/* Copies client bytes into out (NUL-terminated, at most outsz) with non-printables as \xNN. */
void gz_log_escape(char *out, size_t outsz, struct gz_slice in);

/* ---- time ---- */

int64_t gz_now_ms(void);          /* wall clock, ms since the epoch */
int64_t gz_monotonic_ns(void);
/* RFC 7231 IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT"; out needs 30 bytes. */
void gz_time_http(int64_t unix_s, char out[30]);
/* ISO 8601 "2006-02-03T16:45:09.000Z"; out needs 25 bytes. */
void gz_time_iso8601(int64_t unix_ms, char out[25]);
/* Parses IMF-fixdate, RFC 850 and asctime forms; -EINVAL if none fits. */
int gz_time_parse_http(struct gz_slice s, int64_t *unix_s);
/* Parses "20130524T000000Z" (SigV4 x-amz-date); -EINVAL otherwise. */
int gz_time_parse_amz(struct gz_slice s, int64_t *unix_s);

/* ---- encodings ---- */

int gz_hex_digit(char c); /* 0..15, or -1 if c is not a hex digit */
void gz_hex_encode(char *out, const uint8_t *in, size_t n); /* lower case; out: 2n+1 */
int gz_hex_decode(uint8_t *out, size_t outsz, struct gz_slice in); /* returns bytes or -EINVAL */
size_t gz_base64_encode(char *out, const uint8_t *in, size_t n); /* out: 4*((n+2)/3)+1 */
int gz_base64_decode(uint8_t *out, size_t outsz, struct gz_slice in); /* bytes or -EINVAL */
/* ---- files ---- */

/* write(2) until all n bytes are written (EINTR retried); 0 or -errno. */
int gz_write_all(int fd, const void *p, size_t n);

/* Fills out with n bytes from the kernel CSPRNG; aborts if it cannot. */
void gz_random_bytes(void *out, size_t n);
/* Is s valid UTF-8 with no NUL? */
bool gz_utf8_valid(struct gz_slice s);

#endif
