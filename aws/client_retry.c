/*
 * client_retry.c — Retry policy: which failures are retried (standard
 * mode), the retry quota (QUOTA_MAX tokens, refunded on success), the
 * clock-skew correction from the Date header, ExpiredToken invalidation,
 * and the jittered exponential backoff. retry_kind: 0 give up, 1 retry
 * after backoff, 2 retry now. (contract: client.h; shared pieces:
 * client_priv.h)
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "aws/client_priv.h"

static bool is_code(const struct aws_error *e, const char *code)
{
    return strcmp(e->code, code) == 0;
}

static bool skew_error(const struct aws_error *e)
{
    if (e->kind != AWS_ERR_SERVICE)
        return false;
    if (is_code(e, "RequestTimeTooSkewed") || is_code(e, "RequestExpired") ||
        is_code(e, "RequestInTheFuture"))
        return true;
    return (is_code(e, "InvalidSignatureException") ||
            is_code(e, "SignatureDoesNotMatch") || is_code(e, "AuthFailure")) &&
           (strstr(e->message, "Signature expired") ||
            strstr(e->message, "Signature not yet current") ||
            strstr(e->message, "skew"));
}

/* Learn the server's clock from its Date header. True when our offset
 * changed enough that a re-signed request may now pass. */
static bool correct_skew(struct aws_client *c, const struct aws_response *r)
{
    char date[128];
    time_t server;
    long long skew, old;

    if (aws_response_header(r, "Date", date, sizeof date))
        return false;
    server = curl_getdate(date, NULL);
    if (server == -1)
        return false;
    skew = (long long)server - (long long)time(NULL);
    pthread_mutex_lock(&c->lock);
    old = c->skew_s;
    c->skew_s = skew;
    pthread_mutex_unlock(&c->lock);
    aws_log(&c->logger, AWS_LOG_WARN,
            "clock skew: server time differs by %lld s; re-signing", skew);
    return llabs(skew - old) >= 60;
}

static bool take_quota(struct aws_client *c, int cost)
{
    bool ok;

    pthread_mutex_lock(&c->lock);
    ok = c->quota >= cost;
    if (ok)
        c->quota -= cost;
    pthread_mutex_unlock(&c->lock);
    return ok;
}

void awsc_refund_quota(struct aws_client *c, int cost)
{
    pthread_mutex_lock(&c->lock);
    c->quota += cost ? cost : 1;
    if (c->quota > QUOTA_MAX)
        c->quota = QUOTA_MAX;
    pthread_mutex_unlock(&c->lock);
}

void awsc_backoff(const struct aws_client *c, int attempt)
{
    unsigned int r = 0;
    double cap = attempt >= 6 ? 20.0 : (double)(1u << (attempt - 1));
    long long ms;
    struct timespec ts;

    if (cap > 20.0)
        cap = 20.0;
    RAND_bytes((unsigned char *)&r, sizeof r);
    ms = (long long)((double)r / 4294967296.0 * cap * (double)c->retry_base_ms);
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

/* 0: give up; 1: retry after awsc_backoff; 2: retry now. */
int awsc_retry_kind(struct aws_client *c, struct xfer *x,
                      const struct aws_error *err, struct outcome *o)
{
    bool thr = false;

    if (x->sunk)
        return 0; /* the sink already has part of this body */
    if (skew_error(err))
        return correct_skew(c, x->resp) ? 2 : 0;
    if (err->kind == AWS_ERR_SERVICE && !x->req->creds && !x->req->url &&
        (is_code(err, "ExpiredToken") || is_code(err, "ExpiredTokenException"))) {
        aws_creds_invalidate(c->creds);
        return 2;
    }
    if (!aws_error_retryable(err, &thr))
        return 0;
    /* A throttled request was refused before it did anything, so even a
     * non-idempotent one may be sent again. */
    if (!x->req->idempotent && !o->not_sent && !thr)
        return 0;
    o->cost = err->kind == AWS_ERR_TIMEOUT ? QUOTA_COST_TIMEOUT : QUOTA_COST;
    if (!take_quota(c, o->cost)) {
        o->cost = 0;
        return 0;
    }
    return 1;
}
