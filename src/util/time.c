/* time.c - clocks and the date formats HTTP and S3 use. */
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "util.h"

int64_t gz_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t gz_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const char *const wdays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static int put2(char *o, int v)
{
    o[0] = (char)('0' + (v / 10) % 10);
    o[1] = (char)('0' + v % 10);
    return 2;
}

static int put4(char *o, int v)
{
    put2(o, v / 100);
    put2(o + 2, v % 100);
    return 4;
}

static int put_hms(char *o, const struct tm *tm)
{
    put2(o, tm->tm_hour);
    o[2] = ':';
    put2(o + 3, tm->tm_min);
    o[5] = ':';
    put2(o + 6, tm->tm_sec);
    return 8;
}

void gz_time_http(int64_t unix_s, char out[30])
{
    struct tm tm;
    time_t t = (time_t)unix_s;
    gmtime_r(&t, &tm);
    /* Built by hand, not strftime: the names must not follow the locale. */
    char *o = out;
    memcpy(o, wdays[tm.tm_wday], 3);
    o += 3;
    *o++ = ',';
    *o++ = ' ';
    o += put2(o, tm.tm_mday);
    *o++ = ' ';
    memcpy(o, months[tm.tm_mon], 3);
    o += 3;
    *o++ = ' ';
    o += put4(o, tm.tm_year + 1900);
    *o++ = ' ';
    o += put_hms(o, &tm);
    memcpy(o, " GMT", 5);
}

void gz_time_iso8601(int64_t unix_ms, char out[25])
{
    struct tm tm;
    time_t t = (time_t)(unix_ms / 1000);
    int ms = (int)(unix_ms % 1000);
    gmtime_r(&t, &tm);
    char *o = out;
    o += put4(o, tm.tm_year + 1900);
    *o++ = '-';
    o += put2(o, tm.tm_mon + 1);
    *o++ = '-';
    o += put2(o, tm.tm_mday);
    *o++ = 'T';
    o += put_hms(o, &tm);
    *o++ = '.';
    *o++ = (char)('0' + ms / 100);
    o += put2(o, ms % 100);
    memcpy(o, "Z", 2);
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), valid for all years here. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool fields_valid(int y, int mon, int d, int h, int mi, int s)
{
    return y >= 1900 && y <= 9999 && mon >= 1 && mon <= 12 && d >= 1 && d <= 31 && h >= 0 &&
           h <= 23 && mi >= 0 && mi <= 59 && s >= 0 && s <= 60;
}

static int month_index(const char *m)
{
    for (int i = 0; i < 12; i++)
        if (strncmp(m, months[i], 3) == 0)
            return i + 1;
    return -1;
}

int gz_time_parse_http(struct gz_slice s, int64_t *unix_s)
{
    char buf[64], mon[4] = {0}, wd[16];
    int d, y, h, mi, sec, n = 0;
    if (s.len == 0 || s.len >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, s.ptr, s.len);
    buf[s.len] = '\0';
    /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
    if (sscanf(buf, "%3s, %2d %3s %4d %2d:%2d:%2d GMT%n", wd, &d, mon, &y, &h, &mi, &sec, &n) ==
            7 && n == (int)s.len) {
        goto ok;
    }
    /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
    n = 0;
    if (sscanf(buf, "%15[A-Za-z], %2d-%3s-%2d %2d:%2d:%2d GMT%n", wd, &d, mon, &y, &h, &mi, &sec,
               &n) == 7 && n == (int)s.len) {
        y += y < 70 ? 2000 : 1900;
        goto ok;
    }
    /* asctime: Sun Nov  6 08:49:37 1994 */
    n = 0;
    if (sscanf(buf, "%3s %3s %2d %2d:%2d:%2d %4d%n", wd, mon, &d, &h, &mi, &sec, &y, &n) == 7 &&
        n == (int)s.len) {
        goto ok;
    }
    return -EINVAL;
ok:;
    int m = month_index(mon);
    if (m < 0 || !fields_valid(y, m, d, h, mi, sec))
        return -EINVAL;
    *unix_s = days_from_civil(y, (unsigned)m, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec;
    return 0;
}

int gz_time_parse_amz(struct gz_slice s, int64_t *unix_s)
{
    int v[6];
    static const int width[6] = {4, 2, 2, 2, 2, 2};
    size_t pos = 0;
    if (s.len != 16 || s.ptr[8] != 'T' || s.ptr[15] != 'Z')
        return -EINVAL;
    for (int f = 0; f < 6; f++) {
        if (f == 3)
            pos++; /* skip 'T' */
        v[f] = 0;
        for (int k = 0; k < width[f]; k++, pos++) {
            unsigned dd = (unsigned char)s.ptr[pos] - '0';
            if (dd > 9)
                return -EINVAL;
            v[f] = v[f] * 10 + (int)dd;
        }
    }
    if (!fields_valid(v[0], v[1], v[2], v[3], v[4], v[5]))
        return -EINVAL;
    *unix_s = days_from_civil(v[0], (unsigned)v[1], (unsigned)v[2]) * 86400 + v[3] * 3600 +
              v[4] * 60 + v[5];
    return 0;
}
