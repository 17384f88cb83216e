/*
 * request.c — the aws_response helpers of request.h: init, release, and
 * one header's value. Pure data handling (no I/O, no locks, no globals),
 * below both the HTTP client and the credentials provider.
 */
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "aws/request.h"

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
