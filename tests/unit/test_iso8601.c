/*
 * test_iso8601.c — the one ISO-8601 parser (aws/iso8601.h): UTC forms,
 * fractions, offsets honoured (both signs, with and without the colon),
 * and everything malformed refused.
 */
#include <stdio.h>
#include <string.h>

#include "aws/iso8601.h"
#include "check.h"

#define T18 1714586400 /* 2024-05-01T18:00:00Z */

static void test_utc(void)
{
    time_t t = 0;

    CHECK(aws_parse_iso8601("2024-05-01T18:00:00Z", &t) == 0 && t == T18,
          "Z: %lld", (long long)t);
    CHECK(aws_parse_iso8601("2024-05-01T18:00:00z", &t) == 0 && t == T18,
          "z");
    CHECK(aws_parse_iso8601("2024-05-01T18:00:00", &t) == 0 && t == T18,
          "no zone is UTC");
    CHECK(aws_parse_iso8601("2024-05-01T18:00:00.000Z", &t) == 0 && t == T18,
          "millis");
    CHECK(aws_parse_iso8601("2024-05-01T18:00:00.123456789Z", &t) == 0 &&
              t == T18,
          "nanos");
    CHECK(aws_parse_iso8601("1970-01-01T00:00:00Z", &t) == 0 && t == 0,
          "epoch");
    CHECK(aws_iso8601_or_zero("2024-05-01T18:00:00Z") == T18, "or_zero");
}

static void test_offsets(void)
{
    time_t t = 0;

    CHECK(aws_parse_iso8601("2024-05-01T20:00:00+02:00", &t) == 0 && t == T18,
          "+02:00: %lld", (long long)(t - T18));
    CHECK(aws_parse_iso8601("2024-05-01T13:30:00-04:30", &t) == 0 && t == T18,
          "-04:30: %lld", (long long)(t - T18));
    CHECK(aws_parse_iso8601("2024-05-01T20:00:00+0200", &t) == 0 && t == T18,
          "+0200");
    CHECK(aws_parse_iso8601("2024-05-01T20:00:00+02", &t) == 0 && t == T18,
          "+02");
    CHECK(aws_parse_iso8601("2024-05-01T20:00:00.5+02:00", &t) == 0 &&
              t == T18,
          "fraction and offset");
    CHECK(aws_parse_iso8601("2024-05-01T18:00:00+00:00", &t) == 0 && t == T18,
          "+00:00");
    CHECK(aws_parse_iso8601("2024-05-02T00:00:00+06:00", &t) == 0 && t == T18,
          "offset across midnight");
}

static void test_refused(void)
{
    static const char *const bad[] = {
        NULL, "", "yesterday", "2024-05-01", "2024-05-01T18:00",
        "2024-05-01 18:00:00Z", "2024-05-01t18:00:00Z", " 2024-05-01T18:00:00Z",
        "2024-5-01T18:00:00Z", "+024-05-01T18:00:00Z", "2024-13-01T18:00:00Z",
        "2024-00-01T18:00:00Z", "2024-05-32T18:00:00Z", "2024-05-01T24:00:00Z",
        "2024-05-01T18:60:00Z", "2024-05-01T18:00:61Z", "2024-05-01T18:00:00Q",
        "2024-05-01T18:00:00ZZ", "2024-05-01T18:00:00Z ", "2024-05-01T18:00:00.Z",
        "2024-05-01T18:00:00+2:00", "2024-05-01T18:00:00+24:00",
        "2024-05-01T18:00:00+02:60", "2024-05-01T18:00:00+02:0",
        "2024-05-01T18:00:00+02:00x", "2024-05-01T18:00:00+"};

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        time_t t = 42;

        CHECK(aws_parse_iso8601(bad[i], &t) == -1 && t == 42, "accepted '%s'",
              bad[i] ? bad[i] : "(null)");
    }
    CHECK(aws_iso8601_or_zero("garbage") == 0, "or_zero garbage");
    CHECK(aws_iso8601_or_zero(NULL) == 0, "or_zero NULL");
}

int main(void)
{
    test_utc();
    test_offsets();
    test_refused();
    printf("iso8601: %d failures\n", failures);
    return check_exit();
}
