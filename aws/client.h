/*
 * client.h — the one way aws/ talks to AWS: signed HTTP with retries.
 *
 * A `struct aws_client` holds the resolved configuration, the credentials
 * provider, a pool of libcurl easy handles (HTTP/1.1 keep-alive: a handle and
 * its connection are reused by the next request), the logger and the retry
 * state. It is thread-safe: any number of threads may call aws_send() at once;
 * each call takes a handle from the pool (creating one when none is free) and
 * returns it. No lock is held while a request is on the wire.
 *
 * aws_send() builds the URL from the service's endpoint (path-style for S3 on
 * custom endpoints), adds Host, X-Amz-Date, X-Amz-Security-Token and for S3
 * x-amz-content-sha256, signs with SigV4, sends, and on failure retries like
 * the SDKs' standard mode: connection errors and timeouts, HTTP 500/502/503/
 * 504, throttling codes (SlowDown, RequestLimitExceeded, Throttling…),
 * RequestTimeout; RequestTimeTooSkewed/RequestExpired after correcting the
 * clock offset from the Date header; ExpiredToken after refreshing
 * credentials. Delay before attempt n+1 is random(0,1) × min(2^(n-1), 20) s
 * (scaled by `retry_base_ms`); at most `max_attempts` attempts. Requests that
 * are not idempotent are retried only when `req->idempotent` says it is safe,
 * when the request never left (connect/resolve failure), or when the answer
 * was a throttling error (a throttled request was refused unexecuted).
 * Retries draw on a quota (500 tokens, 5 per retry, 10 after a timeout, a
 * success gives back 1). A response streamed to a sink is never retried once
 * the sink has received bytes. Each attempt carries the unsigned header
 * `amz-sdk-request: attempt=N; max=M`.
 *
 * Bodies stream: a request body may come from a callback, and a response body
 * may go to a callback (then nothing is kept in memory); otherwise the
 * response body is collected into `resp->body` (capped at 64 MiB).
 * Error answers are always collected and parsed (EC2 <Response><Errors>, IAM/
 * STS <ErrorResponse>, S3 <Error>, or a bare HEAD status) into the aws_error.
 * With `req->s3_200_error` a 200 whose body's root is <Error> (or is not
 * parseable XML) is treated as HTTP 500 and retried (CompleteMultipartUpload,
 * CopyObject, UploadPartCopy).
 *
 * TLS verification is always on; AWS_CA_BUNDLE / ca_bundle name the CA file.
 */
#ifndef AMIFS_AWS_CLIENT_H
#define AMIFS_AWS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aws/buf.h"
#include "aws/creds.h"
#include "aws/err.h"
#include "aws/log.h"
#include "aws/request.h" /* struct aws_request, aws_response, aws_sender */
#include "aws/sigv4.h"

struct aws_client_options {
    struct aws_config_overrides config; /* profile, region, endpoint… */
    struct aws_logger logger;
    long connect_timeout_ms; /* default 10 s */
    long low_speed_time_s;   /* abort when < 1 KiB/s for this long; 60 s */
    long retry_base_ms;      /* backoff unit; default 1000 (tests: less) */
    int max_attempts;        /* 0: config's (default 3) */
    bool unsigned_payload;   /* S3 over https: UNSIGNED-PAYLOAD for bodies */
};

struct aws_client;

struct aws_client *aws_client_new(const struct aws_client_options *opt,
                                  struct aws_error *err);
void aws_client_free(struct aws_client *c);

/* The mounted region ("us-east-1" when nothing configures one). */
const char *aws_client_region(const struct aws_client *c);
const struct aws_config *aws_client_config(const struct aws_client *c);
const struct aws_logger *aws_client_logger(const struct aws_client *c);
/* The account's credentials provider (for doctor and refresh tests). */
struct aws_creds_provider *aws_client_creds(struct aws_client *c);
/* Number of HTTP attempts made so far (all threads), for tests/benchmarks. */
uint64_t aws_client_attempts(const struct aws_client *c);
/* A sender (request.h) whose send is aws_send() on `c`, region
 * aws_client_region() and logger the client's: what the client hands its
 * credentials provider, and what tests pass to sts_assume_role(). Valid as
 * long as `c` is. */
struct aws_sender aws_client_sender(struct aws_client *c);

/* Send with signing and retries. Returns 0 for a 2xx answer (resp filled),
 * -1 otherwise (err filled; resp holds the last answer). */
int aws_send(struct aws_client *c, const struct aws_request *req,
             struct aws_response *resp, struct aws_error *err);

/*
 * Query-protocol helpers (EC2, IAM, STS): a form body built parameter by
 * parameter, POSTed to "/", the XML answer parsed.
 */
struct aws_form {
    struct buf b;
    int failed; /* an add failed (out of memory / too long): aws_query fails */
};
void aws_form_init(struct aws_form *f, const char *action,
                   const char *version);
void aws_form_release(struct aws_form *f);
/* Add name=value (both form-encoded as botocore does: space as "+", other
 * bytes outside the unreserved set %XX). A NULL value adds nothing. Errors are
 * remembered and reported by aws_query(). */
void aws_form_add(struct aws_form *f, const char *name, const char *value);
void aws_form_addf(struct aws_form *f, const char *value, const char *namefmt,
                   ...) __attribute__((format(printf, 3, 4)));

struct xml_doc;
/* POST the form; on 2xx parse the body into *doc (caller frees with
 * xml_free). `idempotent`: Describe and Get calls, and calls with a ClientToken. */
int aws_query(struct aws_client *c, enum aws_service svc, const char *region,
              struct aws_form *f, bool idempotent, struct xml_doc **doc,
              struct aws_error *err);

#endif
