/*
 * client_form.c — Query protocol form encoding (aws_form_*) and
 * aws_query(). (contract: client.h; shared pieces: client_priv.h)
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
#include "aws/xml.h"

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
