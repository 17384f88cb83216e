/*
 * client_sign.c — Headers and SigV4 signing of one attempt: builds the curl
 * header list in h->list (caller frees it, also on failure) with the signed
 * headers, the Authorization header (the signing key and signature are
 * wiped after use) and the unsigned ones. (contract: client.h; shared
 * pieces: client_priv.h)
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

/* ---- headers and signing ------------------------------------------------------ */

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
    if (has_body && raw_line(h, awsc_body_size(req) > EXPECT_THRESHOLD
                                    ? "Expect: 100-continue"
                                    : "Expect:"))
        return -1;
    /* curl would add a form Content-Type to every POST; S3 would store it
     * as the object's type. Remove it unless the caller set one. */
    if (has_body && !h->has_content_type && raw_line(h, "Content-Type:"))
        return -1;
    return 0;
}

int awsc_build_headers(struct aws_client *c, struct hdrs *h,
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
