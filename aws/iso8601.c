/*
 * iso8601.c — ISO-8601 timestamps (contract and rule in iso8601.h).
 */
#include "aws/iso8601.h"

#include <stdbool.h>
#include <stddef.h>

/* n decimal digits at *p into *v; advances *p. */
static bool digits(const char **p, int n, int *v)
{
    int x = 0;

    for (int i = 0; i < n; i++) {
        char c = (*p)[i];

        if (c < '0' || c > '9')
            return false;
        x = x * 10 + (c - '0');
    }
    *p += n;
    *v = x;
    return true;
}

static bool expect(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

/* The zone at p: seconds EAST of UTC into *off. */
static bool zone(const char *p, long *off)
{
    int hh = 0, mm = 0;
    int sign;

    *off = 0;
    if (*p == '\0')
        return true;
    if (*p == 'Z' || *p == 'z')
        return p[1] == '\0';
    if (*p != '+' && *p != '-')
        return false;
    sign = *p++ == '-' ? -1 : 1;
    if (!digits(&p, 2, &hh) || hh > 23)
        return false;
    if (*p == ':')
        p++;
    if (*p && (!digits(&p, 2, &mm) || mm > 59 || *p))
        return false;
    *off = sign * (hh * 3600L + mm * 60L);
    return true;
}

int aws_parse_iso8601(const char *s, time_t *out)
{
    struct tm tm = {0};
    const char *p = s;
    long off;

    if (!s || !digits(&p, 4, &tm.tm_year) || !expect(&p, '-') ||
        !digits(&p, 2, &tm.tm_mon) || !expect(&p, '-') ||
        !digits(&p, 2, &tm.tm_mday) || !expect(&p, 'T') ||
        !digits(&p, 2, &tm.tm_hour) || !expect(&p, ':') ||
        !digits(&p, 2, &tm.tm_min) || !expect(&p, ':') ||
        !digits(&p, 2, &tm.tm_sec))
        return -1;
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
        tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
        tm.tm_sec > 60)
        return -1;
    if (*p == '.') {
        if (p[1] < '0' || p[1] > '9')
            return -1;
        for (p++; *p >= '0' && *p <= '9'; p++)
            ;
    }
    if (!zone(p, &off))
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *out = timegm(&tm) - off;
    return 0;
}

time_t aws_iso8601_or_zero(const char *s)
{
    time_t t = 0;

    return aws_parse_iso8601(s, &t) ? 0 : t;
}
