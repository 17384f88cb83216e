/*
 * request.h — one AWS request and its answer, as plain data, and the narrow
 * "send a request" interface (struct aws_sender) through which code below
 * the HTTP client sends one.
 *
 * Why this header exists: the HTTP client (aws/client.h) owns the
 * credentials provider (aws/creds.h) and asks it for credentials before it
 * signs; the provider's sources (STS AssumeRole and AssumeRoleWithWebIdentity
 * in aws/sts.c, IAM Identity Center, the container endpoint, IMDS) must in
 * turn send HTTP requests. So that the arrows between the two point one way
 * only (client -> provider), the provider never includes client.h: it is
 * handed a struct aws_sender by whoever owns it (aws_client_new() hands it
 * one that calls aws_send()) and includes only this header. The request and
 * response types live here for the same reason: both sides need them.
 *
 * Ownership: a struct aws_request only borrows; every pointer in it must
 * stay valid until the send returns. A struct aws_response owns its two
 * bufs: aws_response_init() before a send, aws_response_release() after,
 * also on failure (it frees both with buf_release(), which wipes what it
 * frees, so an answer that held a secret leaves none behind). The three
 * aws_response_* helpers are in aws/request.c; they are thread-safe on
 * distinct responses and never fail but as documented.
 *
 * The sender's contract (struct aws_sender), which every implementation
 * keeps:
 *   - send(ctx, req, resp, err) sends `req` with signing and retries exactly
 *     as aws_send() in client.h describes: 0 for a 2xx answer (resp filled),
 *     -1 otherwise (err filled; resp holds the last answer, if any). It may
 *     be called from any thread at once, and never calls back into the code
 *     that owns the sender except through that code's own public calls
 *     (aws_send() asks the credentials provider for credentials only when
 *     req->creds and req->url are both NULL, which the provider's own
 *     requests never are: they sign with explicit credentials or go
 *     unsigned to an absolute URL).
 *   - region(ctx) is the region a request with region == NULL goes to,
 *     valid for the sender's life; asked only while requests are being
 *     made (the client's region is resolved after the provider is made).
 *   - logger may be NULL (then nothing is logged); ctx is opaque.
 *   - The sender's ctx outlives every user of the sender (the client owns
 *     the provider and frees it before itself).
 * No process globals: a sender is a value held by its user.
 */
#ifndef AMIFS_AWS_REQUEST_H
#define AMIFS_AWS_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aws/buf.h"
#include "aws/config.h"
#include "aws/err.h"
#include "aws/log.h"
#include "aws/sigv4.h"

struct aws_credentials; /* creds.h */

/* Streams a request body. read: fill up to n bytes, return count (0 = end)
 * or -1 on a local error. rewind: start over for a retry (0 ok, -1 = cannot,
 * then the request is not retried). */
struct aws_body_source {
    long (*read)(void *ctx, char *dst, size_t n);
    int (*rewind)(void *ctx);
    void *ctx;
    uint64_t size; /* exact byte count (Content-Length) */
};

/* Receives a response body of a 2xx answer. Return 0 to go on, -1 to abort
 * the transfer (aws_send then fails with AWS_ERR_IO / AWS_ERR_ABORTED). */
typedef int (*aws_body_sink)(void *ctx, const char *data, size_t n);

struct aws_request {
    enum aws_service svc;
    const char *region;  /* NULL: the client's region (IAM: us-east-1) */
    const char *method;  /* "GET", "PUT", "POST", "HEAD", "DELETE" */
    const char *bucket;  /* S3 only: NULL for ListBuckets */
    const char *key;     /* S3 only: raw (unencoded) key, or NULL */
    const char *query;   /* encoded query without '?', or NULL */
    const struct sigv4_header *headers; /* extra headers, all signed */
    size_t nheaders;
    const void *body;    /* in-memory body, or NULL */
    size_t body_len;
    const struct aws_body_source *source; /* streaming body, or NULL */
    const char *payload_sha256; /* hex, when the caller already knows it */
    /* S3: the body is described by an x-amz-checksum-* header (S3 verifies
     * it). Over https, or to an endpoint on this host, the payload is then
     * sent as UNSIGNED-PAYLOAD (no SHA-256 pass); over plain http to
     * another host it is still signed, as the AWS SDKs do, because a CRC
     * does not stop someone on the path from changing the bytes. */
    bool body_checksummed;
    aws_body_sink sink;  /* streaming 2xx body, or NULL to collect */
    void *sink_ctx;
    bool idempotent;     /* safe to retry after the request may have landed */
    bool s3_200_error;   /* parse a 200 body for <Error> */
    int max_attempts;    /* 0: the client's */
    /* Sign with these instead of the client's provider (STS AssumeRole for
     * the provider itself). NULL: the client's credentials. */
    const struct aws_credentials *creds;
    /* Plain, unsigned request to this absolute URL (IMDS). svc, bucket and
     * key are then ignored. */
    const char *url;
    long timeout_ms;     /* whole-request limit; 0: none (IMDS: 1000) */
};

struct aws_response {
    long status;
    struct buf body;    /* collected body when no sink was given */
    struct buf headers; /* raw "name: value\r\n" lines of the final answer */
};

void aws_response_init(struct aws_response *r);
void aws_response_release(struct aws_response *r);
/* Value of a response header (case-insensitive name), copied into `out`
 * (at most n bytes incl. NUL, surrounding whitespace trimmed). Returns 0 if
 * present, -1 if not. */
int aws_response_header(const struct aws_response *r, const char *name,
                        char *out, size_t n);

/* The narrow interface for sending a request (contract above). */
struct aws_sender {
    int (*send)(void *ctx, const struct aws_request *req,
                struct aws_response *resp, struct aws_error *err);
    const char *(*region)(void *ctx);
    const struct aws_logger *logger;
    void *ctx;
};

#endif
