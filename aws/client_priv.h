/*
 * client_priv.h — what the files of the HTTP client share; for aws/client*.c
 * only (nothing else in aws/, nor fs/, core/, cli/ includes it). The
 * public contract is aws/client.h.
 *
 * The client is split by concern, each file a small layer:
 *   client.c          aws_send()'s attempt loop, client create/free/getters
 *   client_pool.c     the curl easy-handle pool
 *   client_endpoint.c endpoint and URL building (struct target)
 *   client_payload.c  body callbacks and payload hashing (struct xfer)
 *   client_sign.c     headers and SigV4 signing of an attempt (struct hdrs)
 *   client_curl.c     curl options of an attempt, curl errors
 *   client_errors.c   error answers → struct aws_error; aws_response helpers
 *   client_retry.c    retry decision, quota, clock skew, backoff
 *   client_form.c     query-protocol forms and aws_query()
 * Arrows go one way: client.c calls the others; client_sign.c uses
 * client_payload.c's body_size; client_curl.c uses client_payload.c's
 * callbacks; client_retry.c uses client_errors.c's results only through
 * struct aws_error. None calls back into client.c.
 *
 * Threads: struct aws_client is shared by every thread; its mutable fields
 * (pool, quota, skew) are guarded by `lock`, `attempts` is atomic, the
 * rest is immutable after aws_client_new(). struct target, xfer, hdrs,
 * signing and outcome belong to one aws_send() call on one thread.
 *
 * Ownership: a struct target owns its three bufs (awsc_target_release);
 * struct signing owns its credentials copy (DONTDUMP memory, released by
 * aws_credentials_release); struct hdrs owns its curl_slist (curl's
 * curl_slist_free_all). Every awsc_* function returning int gives 0 or -1
 * with err filled (none logs).
 */
#ifndef AMIFS_AWS_CLIENT_PRIV_H
#define AMIFS_AWS_CLIENT_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "aws/client.h"

#define POOL_MAX_IDLE 64       /* idle easy handles kept */
#define QUOTA_MAX 500          /* retry quota tokens */
#define QUOTA_COST 5           /* per retry */
#define QUOTA_COST_TIMEOUT 10  /* per retry after a timeout */
#define EXPECT_THRESHOLD ((uint64_t)1 << 20) /* Expect: 100-continue above */
#define ERROR_BODY_MAX ((size_t)1 << 20)     /* error bodies collected */
#define MAX_SIGNED 48          /* signed headers per request */
#define USER_AGENT "amifs/0.1.0"

struct aws_client {
    struct aws_config cfg;
    struct aws_creds_provider *creds;
    struct aws_logger logger;
    long connect_timeout_ms;
    long low_speed_time_s;
    long retry_base_ms;
    bool unsigned_payload;
    char *region;

    pthread_mutex_t lock; /* pool, quota, skew */
    CURL **pool;
    size_t npool;
    int quota;
    long long skew_s; /* add to the local clock to get the server's */
    uint64_t attempts; /* atomic */
};

struct target {
    struct buf url;  /* full URL */
    struct buf host; /* Host header value */
    struct buf path; /* wire path (what S3 signs as is) */
    const char *query;
    const char *region;
    bool https;
    bool loopback;   /* host is localhost / 127.0.0.0/8 / ::1 */
    bool sign;
};

struct xfer {
    struct aws_client *c;
    const struct aws_request *req;
    struct aws_response *resp;
    CURL *h;
    uint64_t off;      /* read position in an in-memory body */
    bool read_failed;  /* the body source reported an error */
    bool sink_failed;  /* the sink asked to stop */
    bool too_large;    /* a collected body outgrew its cap */
    uint64_t sunk;     /* bytes handed to the sink: no retry after that */
};

struct hdrs {
    struct sigv4_header signed_h[MAX_SIGNED];
    size_t n;
    struct curl_slist *list;
    bool has_content_type;
};

struct signing {
    char amz_date[17], date8[9];
    char hash[65];
    struct aws_credentials creds;
};

struct outcome {
    bool not_sent; /* the request never reached the server */
    int cost;      /* retry quota taken for the previous retry */
};

/* client_pool.c — Connection pool: a mutex-protected stack of curl easy
 * handles (each keeps its keep-alive connection). get never fails for lack
 * of handles (a new one is made; NULL only when curl cannot), put keeps at
 * most POOL_MAX_IDLE idle handles. Lock: c->lock, held only while the stack
 * changes. */
CURL *awsc_pool_get(struct aws_client *c);
void awsc_pool_put(struct aws_client *c, CURL *h);

/* client_endpoint.c — Endpoint and URL building: where a request goes (URL,
 * Host, wire path, signing region). resolve_target for AWS services
 * (virtual-host or path style for S3), url_target for plain unsigned URLs
 * (IMDS, container, SSO portal). Fills *t (release with target_release even
 * on failure); -1 with err. */
int awsc_resolve_target(struct aws_client *c, const struct aws_request *req,
                          struct target *t, struct aws_error *err);
void awsc_target_release(struct target *t);
int awsc_url_target(const struct aws_request *req, struct target *t,
                      struct aws_error *err);

/* client_payload.c — Request bodies and their SHA-256: the size, curl
 * read/seek callbacks over an in-memory body or a body source, and the
 * payload hash computed once per aws_send (UNSIGNED-PAYLOAD for S3 over
 * https when configured). */
int awsc_body_rewind(struct xfer *x);
uint64_t awsc_body_size(const struct aws_request *req);
size_t awsc_on_read(char *dst, size_t size, size_t nmemb, void *ud);
int awsc_on_seek(void *ud, curl_off_t offset, int origin);
int awsc_payload_hash(struct aws_client *c, const struct aws_request *req,
                        const struct target *t, char hex[65],
                        struct aws_error *err);

/* client_sign.c — Headers and SigV4 signing of one attempt: builds the curl
 * header list in h->list (caller frees it, also on failure) with the signed
 * headers, the Authorization header (the signing key and signature are
 * wiped after use) and the unsigned ones. */
int awsc_build_headers(struct aws_client *c, struct hdrs *h,
                         const struct aws_request *req, const struct target *t,
                         struct signing *s, int attempt, int max);

/* client_curl.c — curl options of one attempt (method, timeouts, TLS,
 * callbacks) and the mapping of a curl failure to an aws_error (not_sent:
 * the request never left, so even a non-idempotent one may be retried). */
int awsc_curl_failure(struct xfer *x, CURLcode rc, bool *not_sent,
                        struct aws_error *err);
void awsc_set_options(struct aws_client *c, struct xfer *x,
                        const struct target *t, struct curl_slist *hl);

/* client_errors.c — Error answers: parse an EC2/IAM/STS/S3 error body (or a
 * bare status) into err; check_200_error finds an <Error> inside a 200
 * (CompleteMultipartUpload, CopyObject). Plus the aws_response helpers of
 * client.h. */
int awsc_check_200_error(const struct aws_response *resp,
                           struct aws_error *err);
void awsc_parse_error(const struct aws_response *resp, long status,
                        struct aws_error *err);

/* client_retry.c — Retry policy: which failures are retried (standard
 * mode), the retry quota (QUOTA_MAX tokens, refunded on success), the
 * clock-skew correction from the Date header, ExpiredToken invalidation,
 * and the jittered exponential backoff. retry_kind: 0 give up, 1 retry
 * after backoff, 2 retry now. */
void awsc_backoff(const struct aws_client *c, int attempt);
void awsc_refund_quota(struct aws_client *c, int cost);
int awsc_retry_kind(struct aws_client *c, struct xfer *x,
                      const struct aws_error *err, struct outcome *o);

#endif
