/*
 * date.c - civil-date arithmetic on day numbers (days since 1970-01-01 in the proleptic
 * Gregorian calendar), after Howard Hinnant's days_from_civil / civil_from_days: exact
 * integer arithmetic, no time_t, no localtime, no TZ environment, so a deadline never moves
 * with the host's zone or a DST rule.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "registry.h"

int32_t registry_date_from_ymd(int y, int m, int d)
{
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void registry_date_to_ymd(int32_t day, int *y, int *m, int *d)
{
    int64_t z = (int64_t)day + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

int registry_date_parse(const char *s, int32_t *day)
{
    if (s == NULL)
        return -EINVAL;
    for (int i = 0; i < 10; i++) {
        bool dash = i == 4 || i == 7;
        if (dash ? s[i] != '-' : (s[i] < '0' || s[i] > '9'))
            return -EINVAL;
    }
    if (s[10] != '\0')
        return -EINVAL;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    if (y < 1900 || m < 1 || m > 12 || d < 1 || d > month_days(y, m))
        return -EINVAL;
    *day = registry_date_from_ymd(y, m, d);
    return 0;
}

void registry_date_format(int32_t day, char out[11])
{
    int y, m, d;
    if (day == REGISTRY_NO_DATE) {
        out[0] = '\0';
        return;
    }
    registry_date_to_ymd(day, &y, &m, &d);
    y = y < 0 ? 0 : y % 10000;
    const int v[8] = {y / 1000, y / 100 % 10, y / 10 % 10, y % 10, m / 10, m % 10, d / 10, d % 10};
    for (int i = 0, j = 0; i < 10; i++)
        out[i] = i == 4 || i == 7 ? '-' : (char)('0' + v[j++]);
    out[10] = '\0';
}

int32_t registry_date_add_months(int32_t day, int months)
{
    int y, m, d;
    registry_date_to_ymd(day, &y, &m, &d);
    int total = y * 12 + (m - 1) + months;
    int ny = total >= 0 ? total / 12 : (total - 11) / 12;
    int nm = total - ny * 12 + 1;
    int last = month_days(ny, nm);
    return registry_date_from_ymd(ny, nm, d > last ? last : d);
}

int32_t registry_date_today(int64_t utc_ms, int utc_offset_min)
{
    int64_t local_ms = utc_ms + (int64_t)utc_offset_min * 60000;
    int64_t day = local_ms / 86400000;
    if (local_ms % 86400000 < 0)
        day--; /* floor, before 1970 */
    return (int32_t)day;
}

/* Zones without daylight saving that a Chinese city's policy may name. */
static const struct {
    const char *name;
    int offset_min;
} zones[] = {
    {"Asia/Shanghai", 480},
    {"Asia/Chongqing", 480},
    {"Asia/Harbin", 480},
    {"Asia/Urumqi", 360},
    {"Asia/Hong_Kong", 480},
    {"Asia/Macau", 480},
    {"Asia/Taipei", 480},
    {"PRC", 480},
    {"UTC", 0},
    {"Etc/UTC", 0},
    {"GMT", 0},
};

int registry_tz_offset(const char *zone, int *offset_min)
{
    for (size_t i = 0; i < GZ_ARRAY_LEN(zones); i++) {
        if (strcmp(zone, zones[i].name) == 0) {
            *offset_min = zones[i].offset_min;
            return 0;
        }
    }
    /* "+HH:MM" / "-HH:MM" */
    if ((zone[0] == '+' || zone[0] == '-') && zone[1] >= '0' && zone[1] <= '9' && zone[2] >= '0' &&
        zone[2] <= '9' && zone[3] == ':' && zone[4] >= '0' && zone[4] <= '5' && zone[5] >= '0' &&
        zone[5] <= '9' && zone[6] == '\0') {
        int h = (zone[1] - '0') * 10 + (zone[2] - '0');
        int mi = (zone[4] - '0') * 10 + (zone[5] - '0');
        if (h > 14)
            return -EINVAL;
        *offset_min = (zone[0] == '-' ? -1 : 1) * (h * 60 + mi);
        return 0;
    }
    return -EINVAL;
}
