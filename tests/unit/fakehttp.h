/*
 * fakehttp.h — a tiny HTTP/1.1 server on 127.0.0.1 for the aws/ client
 * tests (canned answers, fake IMDS). Test code only.
 *
 * Rules are matched in order against each request: method (NULL = any) and
 * path (NULL = any; compared with the request path without its query).
 * A rule with `times` > 0 is used that many times and then skipped. The
 * first matching rule answers: `drop` closes the connection without an
 * answer (after reading the request); otherwise status, extra header lines
 * ("Name: value\r\n"…) and body are sent with a Content-Length. Unmatched
 * requests get 599. `delay_ms` holds the answer back (for timeout tests). Every request is recorded (method, target, raw header
 * block, body).
 */
#ifndef AMIFS_TESTS_FAKEHTTP_H
#define AMIFS_TESTS_FAKEHTTP_H

#include <stdbool.h>
#include <stddef.h>

struct fake_rule {
    const char *method;
    const char *path;
    int status;
    const char *headers;
    const char *body;
    int times;
    bool drop;
    int used;     /* filled by the server */
    int delay_ms; /* wait this long before answering (timeouts) */
};

struct fake_req {
    char method[16];
    char target[1024];
    char *headers; /* raw header block, NUL-terminated */
    char *body;
    size_t body_len;
};

struct fakehttp;

/* Start serving `rules` (the array must outlive the server; last entry has
 * status 0 and drop false). Returns NULL on failure. */
struct fakehttp *fakehttp_start(struct fake_rule *rules);
void fakehttp_stop(struct fakehttp *f);
/* "http://127.0.0.1:PORT" */
const char *fakehttp_url(const struct fakehttp *f);
/* Requests seen so far (valid until stop). */
size_t fakehttp_count(struct fakehttp *f);
const struct fake_req *fakehttp_req(struct fakehttp *f, size_t i);
/* Value of header `name` in request i into out (n bytes); 0 or -1. */
int fakehttp_header(struct fakehttp *f, size_t i, const char *name,
                    char *out, size_t n);
/* Forget recorded requests and reset rule use counts. */
void fakehttp_reset(struct fakehttp *f);

#endif
