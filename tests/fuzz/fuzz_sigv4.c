/*
 * fuzz_sigv4.c — libFuzzer target: SigV4 canonicalization of hostile wire
 * paths, queries and headers, then the remaining signing stages.
 *
 * Input: byte 0 holds flags (bit 0 S3 rules, bits 1-3 the method, bit 4 no
 * query at all); the rest is NUL-separated fields:
 *     path \0 query \0 name1 \0 value1 \0 name2 \0 value2 ...
 * (mkcorpus.py turns the official sigv4 test-suite requests into this).
 *
 * Besides "no crash, no leak" the target checks properties the contract in
 * aws/sigv4.h promises, and aborts when one fails:
 *   - the result is the same when computed twice;
 *   - the canonical query uses only unreserved bytes, '%', '&' and '=';
 *   - without S3 rules the canonical URI uses only unreserved bytes, '%'
 *     and '/' (the path is normalised and encoded a second time);
 *   - the signed-headers list has no upper-case letter.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/buf.h"
#include "aws/sigv4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_HEADERS 64

static const char *const methods[] = {"GET", "POST", "PUT", "HEAD",
                                      "DELETE", "OPTIONS", "PATCH", ""};

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
           c == '~';
}

static void fail(const char *what, const char *creq)
{
    fprintf(stderr, "fuzz_sigv4: property violated: %s\n--- canonical "
            "request ---\n%s\n---\n", what, creq);
    abort();
}

/* Bytes of line `skip` (0-based) of s must be unreserved or in `extra`. */
static void check_line(const char *s, int skip, const char *extra,
                       const char *what)
{
    const char *p = s;

    for (int i = 0; i < skip && p; i++)
        if ((p = strchr(p, '\n')))
            p++;
    if (!p)
        fail("fewer lines than expected", s);
    for (; *p && *p != '\n'; p++)
        if (!unreserved((unsigned char)*p) && !strchr(extra, *p))
            fail(what, s);
}

static void check(const struct sigv4_request *r, const char *creq,
                  const char *signed_hdrs)
{
    if (strchr(r->path, '\n'))
        return; /* an S3 wire path may hold '\n': lines are ambiguous */
    if (!r->s3_rules)
        check_line(creq, 1, "%/", "canonical URI not encoded");
    check_line(creq, 2, "%&=", "canonical query not encoded");
    for (const char *p = signed_hdrs; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            fail("upper case in signed headers", creq);
}

/* The later stages, for completeness: they must cope with any creq. */
static void sign(const char *creq, size_t len, const char *signed_hdrs)
{
    struct buf scope, sts, auth;
    unsigned char key[32];
    char sig[65];

    buf_init(&scope, 0);
    buf_init(&sts, 0);
    buf_init(&auth, 0);
    if (sigv4_scope(&scope, "20150830", "us-east-1", "service") == 0 &&
        sigv4_string_to_sign(&sts, "20150830T123600Z", buf_cstr(&scope),
                             creq, len) == 0) {
        sigv4_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                          "20150830", "us-east-1", "service", key);
        sigv4_signature(key, buf_cstr(&sts), sts.len, sig);
        sigv4_authorization(&auth, "AKIDEXAMPLE", buf_cstr(&scope),
                            signed_hdrs, sig);
    }
    buf_release(&scope);
    buf_release(&sts);
    buf_release(&auth);
}

static void canonicalize(const struct sigv4_request *r)
{
    struct buf c1, s1, c2, s2;

    buf_init(&c1, 0);
    buf_init(&s1, 0);
    buf_init(&c2, 0);
    buf_init(&s2, 0);
    if (sigv4_canonical_request(r, &c1, &s1) == 0) {
        if (sigv4_canonical_request(r, &c2, &s2) != 0 || c1.len != c2.len ||
            memcmp(buf_cstr(&c1), buf_cstr(&c2), c1.len) != 0 ||
            strcmp(buf_cstr(&s1), buf_cstr(&s2)) != 0)
            fail("not deterministic", buf_cstr(&c1));
        check(r, buf_cstr(&c1), buf_cstr(&s1));
        sign(buf_cstr(&c1), c1.len, buf_cstr(&s1));
    }
    buf_release(&c1);
    buf_release(&s1);
    buf_release(&c2);
    buf_release(&s2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sigv4_header h[MAX_HEADERS];
    struct sigv4_request r = {0};
    char *text, *fields[2 + 2 * MAX_HEADERS];
    size_t nf = 0;

    if (size < 1)
        return 0;
    /* one NUL-terminated copy; the separators become the terminators */
    text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    for (char *p = text; nf < sizeof fields / sizeof fields[0];) {
        fields[nf++] = p;
        p += strlen(p);
        if (p >= text + size - 1)
            break;
        p++;
    }
    r.method = methods[(data[0] >> 1) & 7];
    r.s3_rules = data[0] & 1;
    r.path = fields[0];
    r.query = nf > 1 && !(data[0] & 0x10) ? fields[1] : NULL;
    for (size_t i = 2; i + 1 < nf; i += 2) {
        h[r.nheaders].name = fields[i];
        h[r.nheaders++].value = fields[i + 1];
    }
    r.headers = h;
    r.payload_hash = SIGV4_EMPTY_SHA256;
    canonicalize(&r);
    free(text);
    return 0;
}
