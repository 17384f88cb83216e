/*
 * client_endpoint.c — Endpoint and URL building: where a request goes (URL,
 * Host, wire path, signing region). resolve_target for AWS services
 * (virtual-host or path style for S3), url_target for plain unsigned URLs
 * (IMDS, container, SSO portal). Fills *t (release with target_release even
 * on failure); -1 with err. (contract: client.h; shared pieces:
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
#include "aws/config_priv.h"

/* ---- where a request goes ----------------------------------------------------- */

void awsc_target_release(struct target *t)
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

/* No network between us and the endpoint: nobody on the path can alter a
 * body that a checksum header describes. */
static bool loopback_host(const char *h)
{
    return strcasecmp(h, "localhost") == 0 || strncmp(h, "127.", 4) == 0 ||
           strcmp(h, "::1") == 0 || strcmp(h, "[::1]") == 0;
}

static int fill_target(struct aws_client *c, struct target *t,
                       const struct aws_request *req, const struct url_parts *u,
                       bool custom)
{
    bool vhost = req->svc == AWS_SVC_S3 && req->bucket && !custom &&
                 !c->cfg.path_style && dns_bucket(req->bucket);

    t->https = strcasecmp(u->scheme, "https") == 0;
    t->loopback = custom && loopback_host(u->host);
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

int awsc_resolve_target(struct aws_client *c, const struct aws_request *req,
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

int awsc_url_target(const struct aws_request *req, struct target *t,
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
