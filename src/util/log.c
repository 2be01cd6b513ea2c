/*
 * log.c - the diagnostic log (stderr). The audit log is a separate channel (iam). Callers use
 * the log_* macros, which test the level before any formatting happens.
 */
#include <pthread.h>
#include <stdio.h>
#include <time.h>

#include "util.h"

enum gz_log_level gz_log_level_current = GZ_LOG_INFO;

void gz_log_set_level(enum gz_log_level level)
{
    gz_log_level_current = level;
}

void gz_log_write(enum gz_log_level level, const char *file, int line, const char *fmt, ...)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    char when[32], msg[1024];
    struct tm tm;
    time_t now = time(NULL);
    va_list ap;

    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    const char *base = strrchr(file, '/');
    /* One fprintf per line so lines from different threads do not interleave. */
    fprintf(stderr, "%s %s [%s:%d] %s\n", when, names[level], base ? base + 1 : file, line, msg);
}

void gz_log_escape(char *out, size_t outsz, struct gz_slice in)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (outsz == 0)
        return;
    for (size_t i = 0; i < in.len && o + 5 < outsz; i++) {
        unsigned char c = (unsigned char)in.ptr[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out[o++] = (char)c;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
}
