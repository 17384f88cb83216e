/*
 * client.c — signed HTTP with retries over libcurl (contract in client.h).
 *
 * The only libcurl user in the project. Design:
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
#include "aws/client.h"

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

#include "aws/config_priv.h"
#include "aws/xml.h"

#define POOL_MAX_IDLE 64
#define QUOTA_MAX 500
#define QUOTA_COST 5
#define QUOTA_COST_TIMEOUT 10
#define EXPECT_THRESHOLD ((uint64_t)1 << 20)
#define ERROR_BODY_MAX ((size_t)1 << 20)
#define MAX_SIGNED 48
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

/* ---- pool ----------------------------------------------------------------- */

static CURL *pool_get(struct aws_client *c)
{
    CURL *h = NULL;

    pthread_mutex_lock(&c->lock);
    if (c->npool)
        h = c->pool[--c->npool];
    pthread_mutex_unlock(&c->lock);
    return h ? h : curl_easy_init();
}

static void pool_put(struct aws_client *c, CURL *h)
{
    pthread_mutex_lock(&c->lock);
    if (c->npool < POOL_MAX_IDLE) {
        c->pool[c->npool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    if (h)
        curl_easy_cleanup(h);
}

/* ---- responses -------------------------------------------------------------- */

void aws_response_init(struct aws_response *r)
{
    r->status = 0;
    buf_init(&r->body, 0);
    buf_init(&r->headers, 1 << 20);
}

void aws_response_release(struct aws_response *r)
{
    buf_release(&r->body);
    buf_release(&r->headers);
    r->status = 0;
}

static void copy_trimmed(char *out, size_t n, const char *v, size_t len)
{
    while (len && (*v == ' ' || *v == '\t'))
        v++, len--;
    while (len && (v[len - 1] == ' ' || v[len - 1] == '\t' ||
                   v[len - 1] == '\r' || v[len - 1] == '\n'))
        len--;
    if (len >= n)
        len = n - 1;
    memcpy(out, v, len);
    out[len] = '\0';
}

int aws_response_header(const struct aws_response *r, const char *name,
                        char *out, size_t n)
{
    const char *p = buf_cstr(&r->headers);
    size_t nlen = strlen(name);

    if (!n)
        return -1;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);

        if (len > nlen && p[nlen] == ':' && strncasecmp(p, name, nlen) == 0) {
            copy_trimmed(out, n, p + nlen + 1, len - nlen - 1);
            return 0;
        }
        p += len + (eol ? 1 : 0);
    }
    return -1;
}

/* ---- where a request goes ----------------------------------------------------- */

struct target {
    struct buf url;  /* full URL */
    struct buf host; /* Host header value */
    struct buf path; /* wire path (what S3 signs as is) */
    const char *query;
    const char *region;
    bool https;
    bool sign;
};

static void target_release(struct target *t)
{
    buf_release(&t->url);
    buf_release(&t->host);
    buf_release(&t->path);
}

static int default_endpoint(struct buf *out, enum aws_service svc,
                            const char *region)
{
    switch (svc) {
    case AWS_SVC_IAM:
        return buf_appends(out, "https://iam.amazonaws.com");
    case AWS_SVC_S3:
        return buf_printf(out, "https://s3.%s.amazonaws.com", region);
    default:
        return buf_printf(out, "https://%s.%s.amazonaws.com",
                          aws_service_name(svc), region);
    }
}

/* Virtual-hosted addressing only for names that are valid DNS labels and
 * carry no dots (dots break the wildcard TLS certificate). */
static bool dns_bucket(const char *b)
{
    size_t n = strlen(b);

    if (n < 3 || n > 63)
        return false;
    for (const char *p = b; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '-'))
            return false;
    return b[0] != '-' && b[n - 1] != '-';
}

struct url_parts {
    char *scheme, *host, *port, *path;
};

static void url_parts_free(struct url_parts *u)
{
    curl_free(u->scheme);
    curl_free(u->host);
    curl_free(u->port);
    curl_free(u->path);
}

static int split_url(const char *url, struct url_parts *u)
{
    CURLU *h = curl_url();
    int rc = -1;

    memset(u, 0, sizeof *u);
    if (h && curl_url_set(h, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(h, CURLUPART_SCHEME, &u->scheme, 0) == CURLUE_OK &&
        curl_url_get(h, CURLUPART_HOST, &u->host, 0) == CURLUE_OK &&
        curl_url_get(h, CURLUPART_PATH, &u->path, 0) == CURLUE_OK) {
        /* CURLUE_NO_PORT: no explicit port, the Host header has none */
        curl_url_get(h, CURLUPART_PORT, &u->port, 0);
        rc = 0;
    }
    curl_url_cleanup(h);
    return rc;
}

static int build_path(struct target *t, const char *base,
                      const struct aws_request *req, bool bucket_in_path)
{
    size_t n = strlen(base);

    while (n && base[n - 1] == '/')
        n--;
    if (buf_append(&t->path, base, n))
        return -1;
    if (bucket_in_path && req->bucket) {
        if (buf_appendc(&t->path, '/') ||
            sigv4_uri_encode(&t->path, req->bucket, strlen(req->bucket),
                             false))
            return -1;
    }
    if (req->svc == AWS_SVC_S3 && req->key) {
        if (buf_appendc(&t->path, '/') ||
            sigv4_uri_encode(&t->path, req->key, strlen(req->key), true))
            return -1;
    }
    if (t->path.len == 0 && buf_appendc(&t->path, '/'))
        return -1;
    return 0;
}

static int fill_target(struct aws_client *c, struct target *t,
                       const struct aws_request *req, const struct url_parts *u,
                       bool custom)
{
    bool vhost = req->svc == AWS_SVC_S3 && req->bucket && !custom &&
                 !c->cfg.path_style && dns_bucket(req->bucket);

    t->https = strcasecmp(u->scheme, "https") == 0;
    if ((vhost && buf_printf(&t->host, "%s.", req->bucket)) ||
        buf_appends(&t->host, u->host) ||
        (u->port && buf_printf(&t->host, ":%s", u->port)))
        return -1;
    if (build_path(t, u->path ? u->path : "", req,
                   req->svc == AWS_SVC_S3 && !vhost))
        return -1;
    if (buf_printf(&t->url, "%s://%s%s", u->scheme, buf_cstr(&t->host),
                   buf_cstr(&t->path)))
        return -1;
    if (req->query && *req->query &&
        buf_printf(&t->url, "?%s", req->query))
        return -1;
    return 0;
}

static int resolve_target(struct aws_client *c, const struct aws_request *req,
                          struct target *t, struct aws_error *err)
{
    const char *ep = c->cfg.endpoint[req->svc];
    struct url_parts u;
    struct buf def;
    int rc;

    buf_init(&t->url, 1 << 16), buf_init(&t->host, 1024);
    buf_init(&t->path, 1 << 16);
    t->query = req->query;
    t->sign = true;
    t->region = req->region ? req->region
                : req->svc == AWS_SVC_IAM ? "us-east-1" : c->region;
    buf_init(&def, 1024);
    if (!ep) {
        if (default_endpoint(&def, req->svc, t->region)) {
            buf_release(&def);
            return aws_error_set(err, AWS_ERR_NOMEM, "out of memory");
        }
        ep = buf_cstr(&def);
    }
    if (split_url(ep, &u)) {
        url_parts_free(&u);
        buf_release(&def);
        return aws_error_set(err, AWS_ERR_CONFIG, "bad endpoint URL: %s", ep);
    }
    rc = fill_target(c, t, req, &u, c->cfg.endpoint[req->svc] != NULL);
    url_parts_free(&u);
    buf_release(&def);
    return rc ? aws_error_set(err, AWS_ERR_INVALID, "request URL too long")
              : 0;
}

/* ---- body and hashing --------------------------------------------------------- */

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

static uint64_t body_size(const struct aws_request *req)
{
    return req->source ? req->source->size : req->body ? req->body_len : 0;
}

static int body_rewind(struct xfer *x)
{
    x->off = 0;
    if (x->req->source)
        return x->req->source->rewind ? x->req->source->rewind(
                                            x->req->source->ctx)
                                      : -1;
    return 0;
}

static size_t on_read(char *dst, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    const struct aws_request *req = x->req;
    size_t n = size * nmemb;
    long got;

    if (req->source) {
        got = req->source->read(req->source->ctx, dst, n);
        if (got < 0 || (size_t)got > n) {
            x->read_failed = true;
            return CURL_READFUNC_ABORT;
        }
        return (size_t)got;
    }
    if (!req->body || x->off >= req->body_len)
        return 0;
    if (n > req->body_len - x->off)
        n = req->body_len - x->off;
    memcpy(dst, (const char *)req->body + x->off, n);
    x->off += n;
    return n;
}

/* curl seeks back when it must resend the body on the same transfer (a
 * rejected 100-continue, a dead reused connection). */
static int on_seek(void *ud, curl_off_t offset, int origin)
{
    struct xfer *x = ud;

    if (offset != 0 || origin != SEEK_SET)
        return CURL_SEEKFUNC_CANTSEEK;
    return body_rewind(x) ? CURL_SEEKFUNC_CANTSEEK : CURL_SEEKFUNC_OK;
}

/* SHA-256 of a streamed body, read once and rewound. Callers that stream
 * large bodies should pass payload_sha256 to avoid this second pass. */
static int hash_source(const struct aws_body_source *src, char hex[65],
                       struct aws_error *err)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char dig[32];
    char *chunk = malloc(1 << 16);
    long n = 0;

    if (!md || !chunk || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(md);
        free(chunk);
        return aws_error_set(err, AWS_ERR_NOMEM, "out of memory");
    }
    while ((n = src->read(src->ctx, chunk, 1 << 16)) > 0)
        EVP_DigestUpdate(md, chunk, (size_t)n);
    EVP_DigestFinal_ex(md, dig, NULL);
    EVP_MD_CTX_free(md);
    free(chunk);
    if (n < 0 || !src->rewind || src->rewind(src->ctx))
        return aws_error_set(err, AWS_ERR_IO, "reading the request body failed");
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", dig[i]);
    return 0;
}

static int payload_hash(struct aws_client *c, const struct aws_request *req,
                        const struct target *t, char hex[65],
                        struct aws_error *err)
{
    if (req->payload_sha256) {
        snprintf(hex, 65, "%s", req->payload_sha256);
        return 0;
    }
    if (req->svc == AWS_SVC_S3 && c->unsigned_payload && t->https &&
        body_size(req) > 0) {
        snprintf(hex, 65, "%s", SIGV4_UNSIGNED_PAYLOAD);
        return 0;
    }
    if (req->source && req->source->size > 0)
        return hash_source(req->source, hex, err);
    sigv4_sha256_hex(req->body ? req->body : "", req->body ? req->body_len : 0,
                     hex);
    return 0;
}

/* ---- headers and signing ------------------------------------------------------ */

struct hdrs {
    struct sigv4_header signed_h[MAX_SIGNED];
    size_t n;
    struct curl_slist *list;
    bool has_content_type;
};

static int raw_line(struct hdrs *h, const char *line)
{
    struct curl_slist *l = curl_slist_append(h->list, line);

    if (!l)
        return -1;
    h->list = l;
    return 0;
}

static int hdr_line(struct hdrs *h, const char *name, const char *value)
{
    struct buf b;
    struct curl_slist *l;

    buf_init(&b, 1 << 16);
    /* "Name;" is curl's spelling of a header with an empty value. */
    if (*value ? buf_printf(&b, "%s: %s", name, value)
               : buf_printf(&b, "%s;", name))
        return -1;
    l = curl_slist_append(h->list, buf_cstr(&b));
    buf_release(&b);
    if (!l)
        return -1;
    h->list = l;
    return 0;
}

static int hdr_signed(struct hdrs *h, const char *name, const char *value)
{
    if (h->n == MAX_SIGNED)
        return -1;
    h->signed_h[h->n++] = (struct sigv4_header){name, value};
    if (strcasecmp(name, "content-type") == 0)
        h->has_content_type = true;
    return hdr_line(h, name, value);
}

static bool safe_header(const struct sigv4_header *h)
{
    return h->name && h->value && !strpbrk(h->name, "\r\n:") &&
           !strpbrk(h->value, "\r\n");
}

struct signing {
    char amz_date[17], date8[9];
    char hash[65];
    struct aws_credentials creds;
};

static int add_signed_headers(struct hdrs *h, const struct aws_request *req,
                              const struct target *t, const struct signing *s)
{
    if (hdr_signed(h, "Host", buf_cstr(&t->host)))
        return -1;
    if (t->sign && hdr_signed(h, "X-Amz-Date", s->amz_date))
        return -1;
    if (t->sign && req->svc == AWS_SVC_S3 &&
        hdr_signed(h, "X-Amz-Content-SHA256", s->hash))
        return -1;
    if (t->sign && s->creds.session_token &&
        hdr_signed(h, "X-Amz-Security-Token", s->creds.session_token))
        return -1;
    for (size_t i = 0; i < req->nheaders; i++)
        if (!safe_header(&req->headers[i]) ||
            hdr_signed(h, req->headers[i].name, req->headers[i].value))
            return -1;
    return 0;
}

static int authorization(struct hdrs *h, const struct aws_request *req,
                         const struct target *t, const struct signing *s)
{
    struct sigv4_request sr = {req->method, buf_cstr(&t->path), t->query,
                               h->signed_h, h->n, s->hash,
                               req->svc == AWS_SVC_S3};
    struct buf creq, sh, scope, sts, auth;
    unsigned char key[32];
    char sig[65];
    int rc;

    buf_init(&creq, 0), buf_init(&sh, 0), buf_init(&scope, 0);
    buf_init(&sts, 0), buf_init(&auth, 0);
    rc = sigv4_canonical_request(&sr, &creq, &sh) ||
         sigv4_scope(&scope, s->date8, t->region,
                     aws_service_name(req->svc)) ||
         sigv4_string_to_sign(&sts, s->amz_date, buf_cstr(&scope),
                              buf_cstr(&creq), creq.len);
    if (!rc) {
        sigv4_signing_key(s->creds.secret_access_key, s->date8, t->region,
                          aws_service_name(req->svc), key);
        sigv4_signature(key, buf_cstr(&sts), sts.len, sig);
        OPENSSL_cleanse(key, sizeof key);
        rc = sigv4_authorization(&auth, s->creds.access_key_id,
                                 buf_cstr(&scope), buf_cstr(&sh), sig) ||
             hdr_line(h, "Authorization", buf_cstr(&auth));
        OPENSSL_cleanse(sig, sizeof sig);
    }
    buf_release(&creq), buf_release(&sh), buf_release(&scope);
    buf_release(&sts), buf_release(&auth);
    return rc ? -1 : 0;
}

static int unsigned_headers(struct hdrs *h, const struct aws_request *req,
                            int attempt, int max)
{
    char v[64];
    bool has_body = req->body || req->source ||
                    strcmp(req->method, "POST") == 0 ||
                    strcmp(req->method, "PUT") == 0;

    snprintf(v, sizeof v, "attempt=%d; max=%d", attempt, max);
    if (hdr_line(h, "amz-sdk-request", v) ||
        hdr_line(h, "User-Agent", USER_AGENT))
        return -1;
    /* "Expect:" with nothing after it removes curl's own header */
    if (has_body && raw_line(h, body_size(req) > EXPECT_THRESHOLD
                                    ? "Expect: 100-continue"
                                    : "Expect:"))
        return -1;
    /* curl would add a form Content-Type to every POST; S3 would store it
     * as the object's type. Remove it unless the caller set one. */
    if (has_body && !h->has_content_type && raw_line(h, "Content-Type:"))
        return -1;
    return 0;
}

static int build_headers(struct aws_client *c, struct hdrs *h,
                         const struct aws_request *req, const struct target *t,
                         struct signing *s, int attempt, int max)
{
    long long now = (long long)time(NULL);

    memset(h, 0, sizeof *h);
    pthread_mutex_lock(&c->lock);
    now += c->skew_s;
    pthread_mutex_unlock(&c->lock);
    sigv4_amz_date(now, s->amz_date, s->date8);
    if (add_signed_headers(h, req, t, s))
        return -1;
    if (t->sign && authorization(h, req, t, s))
        return -1;
    return unsigned_headers(h, req, attempt, max);
}

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
    curl_off_t size = (curl_off_t)body_size(req);
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

static void set_options(struct aws_client *c, struct xfer *x,
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
    curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(h, CURLOPT_READDATA, x);
    curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
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
static int curl_failure(struct xfer *x, CURLcode rc, bool *not_sent,
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

/* ---- error answers ---------------------------------------------------------------- */

static const char *reason(long status)
{
    switch (status) {
    case 301: return "Moved Permanently";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 412: return "Precondition Failed";
    case 416: return "Requested Range Not Satisfiable";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "HTTP error";
    }
}

/* EC2 <Response><Errors><Error>, IAM/STS <ErrorResponse><Error>, S3 <Error>. */
static int parse_error_xml(const struct aws_response *resp, long status,
                           const char *reqid_hdr, struct aws_error *err)
{
    struct aws_error perr;
    struct xml_doc *d = xml_parse(resp->body.data, resp->body.len, &perr);
    const struct xml_node *root = xml_root(d), *e = NULL;
    const char *rid = NULL;

    if (!d)
        return -1;
    /* Whatever the envelope (moto even answers EC2 auth failures with
     * <ErrorResponse><Errors><Error>), the error is the first <Error>. */
    if (strcmp(xml_name(root), "Error") == 0)
        e = root;
    else if (!(e = xml_child(root, "Error")))
        e = xml_child(xml_child(root, "Errors"), "Error");
    if (!(rid = xml_path(root, "RequestID")) &&
        !(rid = xml_path(root, "RequestId")))
        rid = xml_path(e, "RequestId");
    if (!e || !xml_path(e, "Code")) {
        xml_free(d);
        return -1;
    }
    aws_error_service(err, (int)status, xml_path(e, "Code"),
                      xml_path(e, "Message"),
                      rid && *rid ? rid : reqid_hdr);
    xml_free(d);
    return 0;
}

static void parse_error(const struct aws_response *resp, long status,
                        struct aws_error *err)
{
    char rid[128] = "", code[16];

    if (aws_response_header(resp, "x-amz-request-id", rid, sizeof rid))
        aws_response_header(resp, "x-amzn-RequestId", rid, sizeof rid);
    if (resp->body.len && parse_error_xml(resp, status, rid, err) == 0)
        return;
    /* HEAD answers and non-XML bodies: the status is the code (botocore). */
    snprintf(code, sizeof code, "%ld", status);
    aws_error_service(err, (int)status, code, reason(status), rid);
}

/* A 200 whose body is <Error> (or garbage) is a failed S3 operation. */
static int check_200_error(const struct aws_response *resp,
                           struct aws_error *err)
{
    struct aws_error perr;
    struct xml_doc *d = xml_parse(resp->body.data, resp->body.len, &perr);
    const struct xml_node *root = xml_root(d);
    int rc = 0;

    if (!d || strcmp(xml_name(root), "Error") == 0) {
        parse_error(resp, 500, err);
        if (!d || !xml_path(root, "Code"))
            aws_error_service(err, 500, "InternalError",
                              "200 answer without a valid result", "");
        err->http_status = 500;
        rc = -1;
    }
    xml_free(d);
    return rc;
}

/* ---- the attempt loop --------------------------------------------------------------- */

struct outcome {
    bool not_sent; /* the request never reached the server */
    int cost;      /* retry quota taken for the previous retry */
};

static int attempt_once(struct aws_client *c, struct xfer *x,
                        const struct target *t, struct signing *s,
                        int attempt, int max, struct outcome *o,
                        struct aws_error *err)
{
    struct hdrs h;
    CURLcode rc;
    int ret;

    if (build_headers(c, &h, x->req, t, s, attempt, max)) {
        curl_slist_free_all(h.list);
        return aws_error_set(err, AWS_ERR_INVALID,
                             "request headers unusable (too many, or CR/LF)");
    }
    x->h = pool_get(c);
    if (!x->h) {
        curl_slist_free_all(h.list);
        return aws_error_set(err, AWS_ERR_NOMEM, "curl_easy_init failed");
    }
    buf_reset(&x->resp->body), buf_reset(&x->resp->headers);
    x->resp->status = 0;
    x->off = 0;
    set_options(c, x, t, h.list);
    __atomic_add_fetch(&c->attempts, 1, __ATOMIC_RELAXED);
    rc = curl_easy_perform(x->h);
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->resp->status);
    o->not_sent = false;
    if (rc != CURLE_OK)
        ret = curl_failure(x, rc, &o->not_sent, err);
    else if (x->resp->status < 200 || x->resp->status >= 300)
        ret = (parse_error(x->resp, x->resp->status, err), -1);
    /* a streamed 200 body is the sink's; only collected ones are checked */
    else if (x->req->s3_200_error && !x->req->sink)
        ret = check_200_error(x->resp, err);
    else
        ret = 0;
    curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, NULL);
    pool_put(c, x->h);
    x->h = NULL;
    curl_slist_free_all(h.list);
    return ret;
}

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

static void refund_quota(struct aws_client *c, int cost)
{
    pthread_mutex_lock(&c->lock);
    c->quota += cost ? cost : 1;
    if (c->quota > QUOTA_MAX)
        c->quota = QUOTA_MAX;
    pthread_mutex_unlock(&c->lock);
}

static void backoff(const struct aws_client *c, int attempt)
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

/* 0: give up; 1: retry after backoff; 2: retry now. */
static int retry_kind(struct aws_client *c, struct xfer *x,
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
            refund_quota(c, o.cost);
            return 0;
        }
        log_attempt(c, x->req, t, attempt, max, err, 0);
        if (attempt >= max || !(kind = retry_kind(c, x, err, &o)))
            return -1;
        if (body_rewind(x))
            return -1; /* err still says why the last attempt failed */
        aws_log(&c->logger, AWS_LOG_INFO, "retrying %s %s (%s, attempt %d/%d)",
                x->req->method, buf_cstr(&t->path),
                err->code[0] ? err->code : aws_errc_name(err->kind),
                attempt + 1, max);
        if (kind == 1)
            backoff(c, attempt);
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

static int url_target(const struct aws_request *req, struct target *t,
                      struct aws_error *err)
{
    struct url_parts u;
    int rc = split_url(req->url, &u);

    buf_init(&t->url, 1 << 16), buf_init(&t->host, 1024);
    buf_init(&t->path, 1 << 16);
    t->sign = false;
    t->region = "";
    if (!rc)
        rc = buf_appends(&t->url, req->url) || buf_appends(&t->host, u.host) ||
             (u.port && buf_printf(&t->host, ":%s", u.port)) ||
             buf_appends(&t->path, u.path ? u.path : "/");
    url_parts_free(&u);
    return rc ? aws_error_set(err, AWS_ERR_INVALID, "bad URL") : 0;
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
    rc = req->url ? url_target(req, &t, err) : resolve_target(c, req, &t, err);
    if (rc == 0 && t.sign)
        rc = payload_hash(c, req, &t, s.hash, err);
    if (rc == 0)
        rc = send_loop(c, &x, &t, &s, max < 1 ? 1 : max, err);
    aws_credentials_release(&s.creds);
    target_release(&t);
    return rc;
}

/* ---- client ------------------------------------------------------------------- */

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
    aws_creds_provider_set_client(c->creds, c);
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

/* ---- query protocol ----------------------------------------------------------- */

/* application/x-www-form-urlencoded as botocore writes it (Python's
 * quote_plus): the unreserved set kept, space as '+', the rest %XX. AWS
 * accepts %20 too, but moto's signature check rebuilds the body from the
 * decoded form the botocore way, so anything else fails there. */
static int form_encode(struct buf *b, const char *s)
{
    while (*s) {
        size_t run = strcspn(s, " ");

        if (sigv4_uri_encode(b, s, run, false))
            return -1;
        s += run;
        for (; *s == ' '; s++)
            if (buf_appendc(b, '+'))
                return -1;
    }
    return 0;
}

void aws_form_init(struct aws_form *f, const char *action, const char *version)
{
    buf_init(&f->b, 0);
    f->failed = 0;
    if (buf_appends(&f->b, "Action=") || form_encode(&f->b, action) ||
        buf_appends(&f->b, "&Version=") || form_encode(&f->b, version))
        f->failed = 1;
}

void aws_form_release(struct aws_form *f)
{
    buf_release(&f->b);
    f->failed = 0;
}

void aws_form_add(struct aws_form *f, const char *name, const char *value)
{
    if (!value || !name)
        return;
    if (buf_appendc(&f->b, '&') || form_encode(&f->b, name) ||
        buf_appendc(&f->b, '=') || form_encode(&f->b, value))
        f->failed = 1;
}

void aws_form_addf(struct aws_form *f, const char *value, const char *namefmt,
                   ...)
{
    struct buf name;
    va_list ap;
    int rc;

    if (!value)
        return;
    buf_init(&name, 4096);
    va_start(ap, namefmt);
    rc = buf_vprintf(&name, namefmt, ap);
    va_end(ap);
    if (rc)
        f->failed = 1;
    else
        aws_form_add(f, buf_cstr(&name), value);
    buf_release(&name);
}

int aws_query(struct aws_client *c, enum aws_service svc, const char *region,
              struct aws_form *f, bool idempotent, struct xml_doc **doc,
              struct aws_error *err)
{
    static const struct sigv4_header ct[] = {
        {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
    struct aws_request r = {
        .svc = svc, .region = region, .method = "POST", .headers = ct,
        .nheaders = 1, .body = f->b.data ? f->b.data : "",
        .body_len = f->b.len, .idempotent = idempotent};
    struct aws_response resp;
    int rc;

    *doc = NULL;
    if (f->failed)
        return aws_error_set(err, AWS_ERR_NOMEM,
                             "building the request failed");
    aws_response_init(&resp);
    rc = aws_send(c, &r, &resp, err);
    if (rc == 0) {
        *doc = xml_parse(resp.body.data, resp.body.len, err);
        rc = *doc ? 0 : -1;
    }
    aws_response_release(&resp);
    return rc;
}
