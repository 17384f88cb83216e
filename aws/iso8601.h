/*
 * iso8601.h — the one ISO-8601 timestamp parser of aws/.
 *
 * Every timestamp AWS and the credential sources send — S3 LastModified,
 * CreationDate, Initiated; STS and IMDS Expiration; credential_process,
 * container and SSO cache "expiresAt" — goes through aws_parse_iso8601().
 * The rule (doc/design/aws.md "ISO-8601"):
 *
 *   YYYY-MM-DDTHH:MM:SS[.fraction][zone]
 *   zone = "Z" | "z" | ("+" | "-") HH [[":"] MM] | nothing (means UTC)
 *
 * The offset is honoured: "2024-05-01T20:00:00+02:00" is 18:00 UTC. The
 * fraction is accepted and dropped (whole seconds). Each field must have
 * exactly its digits and be in range (month 1-12, day 1-31, hour 0-23,
 * minute 0-59, second 0-60, offset hours 0-23, offset minutes 0-59); a
 * leading blank, a sign, a trailing character or a lower-case 't' makes it
 * fail. Lower-case 'z' is accepted (some helpers print it).
 *
 * Threads: pure functions, thread-safe. No allocation.
 */
#ifndef AMIFS_AWS_ISO8601_H
#define AMIFS_AWS_ISO8601_H

#include <time.h>

/* 0 and *out (seconds since the epoch, UTC), or -1 (NULL or malformed;
 * *out untouched). */
int aws_parse_iso8601(const char *s, time_t *out);

/* The same, for fields whose absence or damage means "unknown": the time,
 * or 0. */
time_t aws_iso8601_or_zero(const char *s);

#endif
