/*
 * client_curl.c — curl options of one attempt (method, timeouts, TLS,
 * callbacks) and the mapping of a curl failure to an aws_error (not_sent:
 * the request never left, so even a non-idempotent one may be retried).
 * (contract: client.h; shared pieces: client_priv.h)
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

/* ---- one attempt ---------------------------------------------------------------- */

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb;

    /* A new status line starts a new header block (after 100 Continue). */
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0)
        buf_reset(&x->resp->headers);
    if (buf_append(&x->resp->headers, data, n))
        return 0;
    return n;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb;
    long status = 0;

    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300 && x->req->sink) {
        x->sunk += n;
        if (x->req->sink(x->req->sink_ctx, data, n)) {
            x->sink_failed = true;
            return 0;
        }
        return n;
    }
    if ((status < 200 || status >= 300) &&
        x->resp->body.len + n > ERROR_BODY_MAX)
        return n; /* an error body is only read for its code: keep a prefix */
    if (buf_append(&x->resp->body, data, n)) {
        x->too_large = true;
        return 0;
    }
    return n;
}

static void set_method(CURL *h, const struct aws_request *req)
{
    curl_off_t size = (curl_off_t)awsc_body_size(req);
    const char *m = req->method;

    if (strcmp(m, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(m, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, size);
    } else if (strcmp(m, "PUT") == 0 || req->body || req->source) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, size);
        if (strcmp(m, "PUT") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
    } else if (strcmp(m, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
    }
}

void awsc_set_options(struct aws_client *c, struct xfer *x,
                        const struct target *t, struct curl_slist *hl)
{
    CURL *h = x->h;
    long timeout = x->req->timeout_ms;

    if (!timeout && x->req->url)
        timeout = 1000;
    curl_easy_reset(h); /* keeps the live connection */
    curl_easy_setopt(h, CURLOPT_URL, buf_cstr(&t->url));
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L); /* S3 keys may hold "/../" */
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, awsc_on_read);
    curl_easy_setopt(h, CURLOPT_READDATA, x);
    curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, awsc_on_seek);
    curl_easy_setopt(h, CURLOPT_SEEKDATA, x);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, c->low_speed_time_s);
    if (timeout > 0)
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (c->cfg.ca_bundle)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->cfg.ca_bundle);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    /* Fewer, larger callbacks: part uploads are megabytes. */
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 256L * 1024);
    curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 512L * 1024);
    set_method(h, x->req);
}

/* Map a transport failure; *not_sent says the request never left us. */
int awsc_curl_failure(struct xfer *x, CURLcode rc, bool *not_sent,
                        struct aws_error *err)
{
    long sent = 0;

    curl_easy_getinfo(x->h, CURLINFO_REQUEST_SIZE, &sent);
    *not_sent = sent == 0;
    if (x->read_failed)
        return aws_error_set(err, AWS_ERR_IO, "reading the request body failed");
    if (x->sink_failed)
        return aws_error_set(err, AWS_ERR_IO, "the response consumer stopped");
    if (x->too_large)
        return aws_error_set(err, AWS_ERR_TOO_LARGE, "response body too large");
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return aws_error_set(err, AWS_ERR_TIMEOUT, "%s", curl_easy_strerror(rc));
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
        return aws_error_set(err, AWS_ERR_TLS, "%s", curl_easy_strerror(rc));
    case CURLE_OUT_OF_MEMORY:
        return aws_error_set(err, AWS_ERR_NOMEM, "out of memory");
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return aws_error_set(err, AWS_ERR_INVALID, "%s",
                             curl_easy_strerror(rc));
    default:
        return aws_error_set(err, AWS_ERR_NETWORK, "%s", curl_easy_strerror(rc));
    }
}
