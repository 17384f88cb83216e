/*
 * client_payload.c — Request bodies and their SHA-256: the size, curl
 * read/seek callbacks over an in-memory body or a body source, and the
 * payload hash computed once per aws_send (UNSIGNED-PAYLOAD for S3 over
 * https when configured). (contract: client.h; shared pieces:
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

/* ---- body and hashing --------------------------------------------------------- */

uint64_t awsc_body_size(const struct aws_request *req)
{
    return req->source ? req->source->size : req->body ? req->body_len : 0;
}

int awsc_body_rewind(struct xfer *x)
{
    x->off = 0;
    if (x->req->source)
        return x->req->source->rewind ? x->req->source->rewind(
                                            x->req->source->ctx)
                                      : -1;
    return 0;
}

size_t awsc_on_read(char *dst, size_t size, size_t nmemb, void *ud)
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
int awsc_on_seek(void *ud, curl_off_t offset, int origin)
{
    struct xfer *x = ud;

    if (offset != 0 || origin != SEEK_SET)
        return CURL_SEEKFUNC_CANTSEEK;
    return awsc_body_rewind(x) ? CURL_SEEKFUNC_CANTSEEK : CURL_SEEKFUNC_OK;
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

int awsc_payload_hash(struct aws_client *c, const struct aws_request *req,
                        const struct target *t, char hex[65],
                        struct aws_error *err)
{
    bool unsigned_ok = req->svc == AWS_SVC_S3 && awsc_body_size(req) > 0 &&
                       (c->unsigned_payload || req->body_checksummed) &&
                       (t->https || (req->body_checksummed && t->loopback));

    if (unsigned_ok) {
        snprintf(hex, 65, "%s", SIGV4_UNSIGNED_PAYLOAD);
        return 0;
    }
    if (req->payload_sha256) {
        snprintf(hex, 65, "%s", req->payload_sha256);
        return 0;
    }
    if (req->source && req->source->size > 0)
        return hash_source(req->source, hex, err);
    sigv4_sha256_hex(req->body ? req->body : "", req->body ? req->body_len : 0,
                     hex);
    return 0;
}
