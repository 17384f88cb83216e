/*
 * sigv4.h — AWS Signature Version 4 as pure, separately testable stages.
 *
 * Nothing here does I/O, reads the clock or keeps state: every input is an
 * argument, so each stage is checked on its own against the official test
 * vectors (tests/unit/test_sigv4.c runs all 34 of them stage by stage).
 *
 *   canonical request  = sigv4_canonical_request(req)
 *   string to sign     = sigv4_string_to_sign(amz_date, scope, creq)
 *   signing key        = sigv4_signing_key(secret, date, region, service)
 *   signature          = sigv4_signature(key, sts)
 *   Authorization      = sigv4_authorization(akid, scope, signed, signature)
 *
 * Rules (see doc/AWS.md "SigV4"): non-S3 services normalise the
 * path (drop "." and "..", collapse "//") and percent-encode the wire path a
 * second time; S3 (`s3_rules`) uses the wire path exactly as sent. Query
 * parameters are decoded, re-encoded with the unreserved set (space as %20,
 * upper-case hex), and sorted by name then value; value-less keys become
 * "name=". Header names are lower-cased, values trimmed with inner whitespace
 * runs collapsed (folded lines joined with a space), repeated names joined
 * with "," in order, sorted by name.
 *
 * Secrets: the signing key is derived into a caller buffer; callers wipe it
 * (OPENSSL_cleanse) after use.
 */
#ifndef AMIFS_AWS_SIGV4_H
#define AMIFS_AWS_SIGV4_H

#include <stdbool.h>
#include <stddef.h>

#include "aws/buf.h"

#define SIGV4_EMPTY_SHA256 \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

struct sigv4_header {
    const char *name;  /* any case */
    const char *value; /* raw value as sent */
};

struct sigv4_request {
    const char *method;                 /* "GET", "POST"… */
    const char *path;                   /* wire path, already %-encoded */
    const char *query;                  /* wire query without '?', or NULL */
    const struct sigv4_header *headers; /* exactly the headers to sign */
    size_t nheaders;
    const char *payload_hash; /* hex SHA-256 or a literal such as
                                 UNSIGNED-PAYLOAD */
    bool s3_rules;            /* S3: no path normalisation/double encoding */
};

/* Canonical request into `out`; the signed-headers list ("a;b;c") into
 * `signed_headers`. Returns 0, or -1 on allocation failure / bad input. */
int sigv4_canonical_request(const struct sigv4_request *req, struct buf *out,
                            struct buf *signed_headers);

/* scope = "YYYYMMDD/region/service/aws4_request" */
int sigv4_scope(struct buf *out, const char *date8, const char *region,
                const char *service);

/* "AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex sha256(creq)>" */
int sigv4_string_to_sign(struct buf *out, const char *amz_date,
                         const char *scope, const char *creq, size_t creq_len);

void sigv4_signing_key(const char *secret, const char *date8,
                       const char *region, const char *service,
                       unsigned char key[32]);

/* Lower-case hex HMAC-SHA256(key, sts); `hex` gets 64 chars + NUL. */
void sigv4_signature(const unsigned char key[32], const char *sts,
                     size_t sts_len, char hex[65]);

/* "AWS4-HMAC-SHA256 Credential=<akid>/<scope>, SignedHeaders=<list>,
 *  Signature=<hex>" */
int sigv4_authorization(struct buf *out, const char *akid, const char *scope,
                        const char *signed_headers, const char *signature);

/* Helpers shared with the request builders. */
void sigv4_sha256_hex(const void *data, size_t n, char hex[65]);
/* Percent-encode bytes outside A-Z a-z 0-9 - _ . ~ (and '/' when keep_slash),
 * upper-case hex. This is the encoding of S3 keys in paths and of every query
 * name and value. */
int sigv4_uri_encode(struct buf *out, const char *s, size_t n,
                     bool keep_slash);
/* Format a time_t as "YYYYMMDDTHHMMSSZ" (16 chars + NUL) and "YYYYMMDD". */
void sigv4_amz_date(long long unix_time, char amz_date[17], char date8[9]);

#endif
