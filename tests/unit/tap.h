/*
 * tap.h - a tiny TAP producer for unit tests (libuv test-list spirit): each test file is one
 * process; tests/run.py counts the "ok"/"not ok" lines.
 *
 *   static void t_parse(void) { TAP_OK(x == 1, "x is %d", x); }
 *   int main(void) { TAP_RUN(t_parse); return tap_done(); }
 */
#ifndef GZ_TAP_H
#define GZ_TAP_H

#include <stdio.h>

static int tap_n, tap_failed;
static const char *tap_current = "";

#define TAP_OK(cond, ...)                                                                  \
    do {                                                                                   \
        tap_n++;                                                                           \
        if (cond) {                                                                        \
            printf("ok %d - %s: ", tap_n, tap_current);                                    \
        } else {                                                                           \
            tap_failed++;                                                                  \
            printf("not ok %d - %s (%s:%d): ", tap_n, tap_current, __FILE__, __LINE__);    \
        }                                                                                  \
        printf(__VA_ARGS__);                                                               \
        printf("\n");                                                                      \
        fflush(stdout);                                                                    \
    } while (0)

#define TAP_RUN(fn)                                                                        \
    do {                                                                                   \
        tap_current = #fn;                                                                 \
        fn();                                                                              \
    } while (0)

static inline int tap_done(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#endif
