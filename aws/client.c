/*
 * client.c — signed HTTP with retries over libcurl (contract in client.h).
 *
 * The only libcurl user in the project (the client*.c files; the split by
 * concern is listed in client_priv.h). Design:
 *   - a mutex-protected stack of easy handles; each keeps its own connection
 *     alive between requests, so N threads use N keep-alive connections and
 *     no lock is held while a request is on the wire;
 *   - everything expensive is done once per aws_send(), not per attempt: the
 *     URL and the payload hash; only the date and the signature are redone;
 *   - Expect: 100-continue is sent for bodies larger than 1 MiB (a failing
 *     request — wrong signature, missing bucket — is then refused before the
 *     body is on the wire) and explicitly suppressed (empty "Expect:") for
 *     smaller ones, where the extra round trip costs more than it saves.
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
#include "aws/config_priv.h"

/* ---- the attempt loop --------------------------------------------------------------- */

static int attempt_once(struct aws_client *c, struct xfer *x,
                        const struct target *t, struct signing *s,
                        int attempt, int max, struct outcome *o,
                        struct aws_error *err)
{
    struct hdrs h;
    CURLcode rc;
    int ret;

    if (awsc_build_headers(c, &h, x->req, t, s, attempt, max)) {
        curl_slist_free_all(h.list);
        return aws_error_set(err, AWS_ERR_INVALID,
                             "request headers unusable (too many, or CR/LF)");
    }
    x->h = awsc_pool_get(c);
    if (!x->h) {
        curl_slist_free_all(h.list);
        return aws_error_set(err, AWS_ERR_NOMEM, "curl_easy_init failed");
    }
    buf_reset(&x->resp->body), buf_reset(&x->resp->headers);
    x->resp->status = 0;
    x->off = 0;
    awsc_set_options(c, x, t, h.list);
    __atomic_add_fetch(&c->attempts, 1, __ATOMIC_RELAXED);
    rc = curl_easy_perform(x->h);
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->resp->status);
    o->not_sent = false;
    if (rc != CURLE_OK)
        ret = awsc_curl_failure(x, rc, &o->not_sent, err);
    else if (x->resp->status < 200 || x->resp->status >= 300)
        ret = (awsc_parse_error(x->resp, x->resp->status, err), -1);
    /* a streamed 200 body is the sink's; only collected ones are checked */
    else if (x->req->s3_200_error && !x->req->sink)
        ret = awsc_check_200_error(x->resp, err);
    else
        ret = 0;
    curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, NULL);
    awsc_pool_put(c, x->h);
    x->h = NULL;
    curl_slist_free_all(h.list);
    return ret;
}

static void log_attempt(struct aws_client *c, const struct aws_request *req,
                        const struct target *t, int attempt, int max,
                        const struct aws_error *err, long status)
{
    char msg[700];

    if (!err) {
        aws_log(&c->logger, AWS_LOG_DEBUG, "%s %s -> %ld (attempt %d/%d)",
                req->method, buf_cstr(&t->path), status, attempt, max);
        return;
    }
    aws_error_format(err, msg, sizeof msg);
    aws_log(&c->logger, AWS_LOG_DEBUG, "%s %s failed (attempt %d/%d): %s",
            req->method, buf_cstr(&t->path), attempt, max, msg);
}

static int get_creds(struct aws_client *c, const struct aws_request *req,
                     struct signing *s, struct aws_error *err)
{
    aws_credentials_release(&s->creds);
    if (req->creds)
        return aws_credentials_copy(&s->creds, req->creds)
                   ? aws_error_set(err, AWS_ERR_NOMEM, "out of memory")
                   : 0;
    return aws_creds_get(c->creds, &s->creds, err);
}

static int send_loop(struct aws_client *c, struct xfer *x,
                     const struct target *t, struct signing *s, int max,
                     struct aws_error *err)
{
    struct outcome o = {0};
    int kind;

    for (int attempt = 1;; attempt++) {
        if (t->sign && get_creds(c, x->req, s, err))
            return -1;
        if (attempt_once(c, x, t, s, attempt, max, &o, err) == 0) {
            log_attempt(c, x->req, t, attempt, max, NULL, x->resp->status);
            awsc_refund_quota(c, o.cost);
            return 0;
        }
        log_attempt(c, x->req, t, attempt, max, err, 0);
        if (attempt >= max || !(kind = awsc_retry_kind(c, x, err, &o)))
            return -1;
        if (awsc_body_rewind(x))
            return -1; /* err still says why the last attempt failed */
        aws_log(&c->logger, AWS_LOG_INFO, "retrying %s %s (%s, attempt %d/%d)",
                x->req->method, buf_cstr(&t->path),
                err->code[0] ? err->code : aws_errc_name(err->kind),
                attempt + 1, max);
        if (kind == 1)
            awsc_backoff(c, attempt);
    }
}

static int check_request(const struct aws_request *req, struct aws_error *err)
{
    if (!req->method || !*req->method || strpbrk(req->method, " \r\n"))
        return aws_error_set(err, AWS_ERR_INVALID, "no HTTP method");
    if (!req->url && (unsigned)req->svc >= AWS_SVC_COUNT)
        return aws_error_set(err, AWS_ERR_INVALID, "unknown service");
    if (!req->url && req->key && !req->bucket)
        return aws_error_set(err, AWS_ERR_INVALID, "S3 key without bucket");
    if (req->source && (!req->source->read || req->body))
        return aws_error_set(err, AWS_ERR_INVALID, "bad request body");
    return 0;
}

int aws_send(struct aws_client *c, const struct aws_request *req,
             struct aws_response *resp, struct aws_error *err)
{
    struct target t;
    struct signing s;
    struct xfer x = {.c = c, .req = req, .resp = resp};
    int max = req->max_attempts > 0 ? req->max_attempts : c->cfg.max_attempts;
    int rc;

    aws_error_clear(err);
    memset(&s, 0, sizeof s);
    if (check_request(req, err))
        return -1;
    rc = req->url ? awsc_url_target(req, &t, err) : awsc_resolve_target(c, req, &t, err);
    if (rc == 0 && t.sign)
        rc = awsc_payload_hash(c, req, &t, s.hash, err);
    if (rc == 0)
        rc = send_loop(c, &x, &t, &s, max < 1 ? 1 : max, err);
    aws_credentials_release(&s.creds);
    awsc_target_release(&t);
    return rc;
}

/* ---- client ------------------------------------------------------------------- */

static int sender_send(void *ctx, const struct aws_request *req,
                       struct aws_response *resp, struct aws_error *err)
{
    return aws_send(ctx, req, resp, err);
}

static const char *sender_region(void *ctx)
{
    return aws_client_region(ctx);
}

struct aws_sender aws_client_sender(struct aws_client *c)
{
    return (struct aws_sender){.send = sender_send, .region = sender_region,
                               .logger = &c->logger, .ctx = c};
}

static void resolve_region(struct aws_client *c)
{
    struct aws_error e;
    char *r = NULL, *nl;

    if (c->cfg.region) {
        c->region = strdup(c->cfg.region);
        return;
    }
    if (!c->cfg.imds_disabled && aws_imds_region(c->creds, &r, &e) == 0 &&
        r && *r) {
        if ((nl = strpbrk(r, "\r\n")))
            *nl = '\0';
        c->region = r;
        return;
    }
    free(r);
    c->region = strdup("us-east-1");
}

static int client_init(struct aws_client *c, const struct aws_client_options *opt,
                       struct aws_error *err)
{
    if (aws_config_load(&c->cfg, opt ? &opt->config : NULL, err))
        return -1;
    if (opt && opt->max_attempts > 0)
        c->cfg.max_attempts = opt->max_attempts;
    c->creds = aws_creds_provider_new(&c->cfg, err);
    if (!c->creds)
        return -1;
    struct aws_sender s = aws_client_sender(c);
    aws_creds_provider_set_sender(c->creds, &s);
    c->pool = calloc(POOL_MAX_IDLE, sizeof *c->pool);
    if (!c->pool)
        return aws_error_set(err, AWS_ERR_NOMEM, "out of memory");
    resolve_region(c);
    return c->region ? 0 : aws_error_set(err, AWS_ERR_NOMEM, "out of memory");
}

struct aws_client *aws_client_new(const struct aws_client_options *opt,
                                  struct aws_error *err)
{
    struct aws_client *c;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        aws_error_set(err, AWS_ERR_NOMEM, "curl_global_init failed");
        return NULL;
    }
    c = calloc(1, sizeof *c);
    if (!c) {
        curl_global_cleanup();
        aws_error_set(err, AWS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    if (opt)
        c->logger = opt->logger;
    c->connect_timeout_ms =
        opt && opt->connect_timeout_ms > 0 ? opt->connect_timeout_ms : 10000;
    c->low_speed_time_s =
        opt && opt->low_speed_time_s > 0 ? opt->low_speed_time_s : 60;
    c->retry_base_ms = opt && opt->retry_base_ms > 0 ? opt->retry_base_ms : 1000;
    c->unsigned_payload = opt && opt->unsigned_payload;
    c->quota = QUOTA_MAX;
    if (client_init(c, opt, err)) {
        aws_client_free(c);
        return NULL;
    }
    return c;
}

void aws_client_free(struct aws_client *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->npool; i++)
        curl_easy_cleanup(c->pool[i]);
    free(c->pool);
    aws_creds_provider_free(c->creds);
    aws_config_release(&c->cfg);
    free(c->region);
    pthread_mutex_destroy(&c->lock);
    free(c);
    curl_global_cleanup();
}

const char *aws_client_region(const struct aws_client *c)
{
    return c->region;
}

const struct aws_config *aws_client_config(const struct aws_client *c)
{
    return &c->cfg;
}

const struct aws_logger *aws_client_logger(const struct aws_client *c)
{
    return &c->logger;
}

struct aws_creds_provider *aws_client_creds(struct aws_client *c)
{
    return c->creds;
}

uint64_t aws_client_attempts(const struct aws_client *c)
{
    return __atomic_load_n(&c->attempts, __ATOMIC_RELAXED);
}
