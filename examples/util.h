/*
 * util.h — what the example programs share: a client configured from the
 * environment like the AWS CLI, s3:// URL parsing, error printing.
 */
#ifndef AMIFS_EXAMPLES_UTIL_H
#define AMIFS_EXAMPLES_UTIL_H

#include "aws/client.h"

/* A client from the environment (AWS_ENDPOINT_URL, AWS_REGION, AWS_*
 * credentials, AWS_PROFILE…). Logs at warning level and above to stderr
 * (AMIFS_LOG=debug|info for more); AMIFS_RETRY_BASE_MS scales the retry
 * backoff (tests). NULL after printing why. */
struct aws_client *example_client(const char *prog);

/* Split "s3://bucket/key" into bucket and key (key may be ""). The strings
 * point into a malloc'd copy returned in *owned (free it). -1 if not an
 * s3:// URL with a bucket. */
int example_s3_url(const char *url, char **bucket, char **key, char **owned);

/* "prog: what: Code: message (HTTP n, request id)" on stderr. */
void example_error(const char *prog, const char *what,
                   const struct aws_error *err);

#endif
