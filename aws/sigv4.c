/*
 * sigv4.c — AWS Signature Version 4 stages (contract in sigv4.h).
 *
 * Everything is a pure function of its arguments so each stage is checked
 * against the official vectors. Allocation failures surface as -1.
 */
#include "aws/sigv4.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

static const char hexdig_lower[] = "0123456789abcdef";
static const char hexdig_upper[] = "0123456789ABCDEF";

static void to_hex(const unsigned char *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexdig_lower[in[i] >> 4];
        out[2 * i + 1] = hexdig_lower[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void sigv4_sha256_hex(const void *data, size_t n, char hex[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];

    SHA256(data, n, md);
    to_hex(md, sizeof md, hex);
}

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
           c == '~';
}

int sigv4_uri_encode(struct buf *out, const char *s, size_t n,
                     bool keep_slash)
{
    char esc[3] = {'%', 0, 0};
    size_t run = 0;

    /* Copy runs of safe bytes in one append: keys are mostly safe. */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (unreserved(c) || (keep_slash && c == '/')) {
            run++;
            continue;
        }
        if (run && buf_append(out, s + i - run, run))
            return -1;
        run = 0;
        esc[1] = hexdig_upper[c >> 4];
        esc[2] = hexdig_upper[c & 15];
        if (buf_append(out, esc, 3))
            return -1;
    }
    if (run && buf_append(out, s + n - run, run))
        return -1;
    return 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Percent-decode s[0..n) into out; a malformed escape is kept literally. */
static int uri_decode(struct buf *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int hi, lo;

        if (s[i] == '%' && i + 2 < n &&
            (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
            (lo = hexval((unsigned char)s[i + 2])) >= 0) {
            if (buf_appendc(out, (char)(hi * 16 + lo)))
                return -1;
            i += 2;
        } else if (buf_appendc(out, s[i])) {
            return -1;
        }
    }
    return 0;
}

/* decode then encode with the unreserved set: the canonical form. */
static int canon_component(struct buf *out, const char *s, size_t n)
{
    struct buf tmp;
    int rc;

    buf_init(&tmp, 0);
    rc = uri_decode(&tmp, s, n);
    if (!rc)
        rc = sigv4_uri_encode(out, buf_cstr(&tmp), tmp.len, false);
    buf_release(&tmp);
    return rc;
}

/* ---- canonical URI ---------------------------------------------------- */

/* Remove "." and ".." segments and empty segments, as botocore's
 * posixpath.normpath does; keep a trailing slash the caller sent. */
static int normalize_path(struct buf *out, const char *path)
{
    size_t plen = strlen(path), *starts;
    size_t nseg = 0;
    const char *p = path;
    int rc = 0;

    starts = malloc((plen / 2 + 2) * sizeof *starts);
    if (!starts)
        return -1;
    while (*p && !rc) {
        const char *e = p;
        size_t len;

        while (*e && *e != '/')
            e++;
        len = (size_t)(e - p);
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            if (nseg)
                out->len = starts[--nseg];
        } else if (len && !(len == 1 && p[0] == '.')) {
            starts[nseg++] = out->len;
            rc = buf_appendc(out, '/');
            if (!rc)
                rc = buf_append(out, p, len);
        }
        p = *e ? e + 1 : e;
    }
    free(starts);
    if (rc)
        return -1;
    if (out->data)
        out->data[out->len] = '\0';
    if (out->len == 0 || (plen > 1 && path[plen - 1] == '/'))
        rc = buf_appendc(out, '/');
    return rc;
}

static int canonical_uri(struct buf *out, const struct sigv4_request *req)
{
    const char *path = req->path && *req->path ? req->path : "/";
    struct buf norm;
    int rc;

    if (req->s3_rules)
        return buf_appends(out, path);
    buf_init(&norm, 0);
    rc = normalize_path(&norm, path);
    if (!rc)
        rc = sigv4_uri_encode(out, buf_cstr(&norm), norm.len, true);
    buf_release(&norm);
    return rc;
}

/* ---- canonical query -------------------------------------------------- */

struct qparam {
    char *name;
    char *value;
};

static int cmp_qparam(const void *a, const void *b)
{
    const struct qparam *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    return c ? c : strcmp(x->value, y->value);
}

static int split_param(struct qparam *q, const char *s, size_t n)
{
    const char *eq = memchr(s, '=', n);
    size_t nlen = eq ? (size_t)(eq - s) : n;
    struct buf b;

    buf_init(&b, 0);
    if (canon_component(&b, s, nlen))
        goto fail;
    q->name = buf_detach(&b);
    if (eq && canon_component(&b, eq + 1, n - nlen - 1))
        goto fail;
    q->value = buf_detach(&b);
    if (q->name && q->value)
        return 0;
fail:
    buf_release(&b);
    return -1;
}

static int canonical_query(struct buf *out, const char *query)
{
    struct qparam *qs;
    size_t n = 0, cap = 1, i;
    const char *p;
    int rc = 0;

    if (!query || !*query)
        return 0;
    for (p = query; *p; p++)
        cap += *p == '&';
    qs = calloc(cap, sizeof *qs);
    if (!qs)
        return -1;
    for (p = query; *p && !rc;) {
        const char *e = strchr(p, '&');
        size_t len = e ? (size_t)(e - p) : strlen(p);

        if (len)
            rc = split_param(&qs[n++], p, len);
        p += len + (e ? 1 : 0);
    }
    if (!rc)
        qsort(qs, n, sizeof *qs, cmp_qparam);
    for (i = 0; i < n && !rc; i++)
        rc = buf_printf(out, "%s%s=%s", i ? "&" : "", qs[i].name,
                        qs[i].value);
    for (i = 0; i < n; i++) {
        free(qs[i].name);
        free(qs[i].value);
    }
    free(qs);
    return rc ? -1 : 0;
}

/* ---- canonical headers ------------------------------------------------ */

struct hdr {
    char *lname;
    const char *value;
    size_t order;
};

static int cmp_hdr(const void *a, const void *b)
{
    const struct hdr *x = a, *y = b;
    int c = strcmp(x->lname, y->lname);

    if (c)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Trim, and collapse each inner run of whitespace (including the line
 * breaks of folded headers) to a single space. */
static int append_trimmed(struct buf *out, const char *v)
{
    bool space = false, any = false;

    for (; *v; v++) {
        if (isspace((unsigned char)*v)) {
            space = any;
            continue;
        }
        if (space && buf_appendc(out, ' '))
            return -1;
        if (buf_appendc(out, *v))
            return -1;
        space = false;
        any = true;
    }
    return 0;
}

static int emit_headers(struct buf *out, struct buf *signed_headers,
                        const struct hdr *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool same = i && strcmp(h[i].lname, h[i - 1].lname) == 0;

        if (same) {
            if (buf_appendc(out, ','))
                return -1;
        } else {
            if (i && buf_appendc(out, '\n'))
                return -1;
            if (buf_printf(out, "%s:", h[i].lname))
                return -1;
            if (i && buf_appendc(signed_headers, ';'))
                return -1;
            if (buf_appends(signed_headers, h[i].lname))
                return -1;
        }
        if (append_trimmed(out, h[i].value))
            return -1;
    }
    return n ? buf_appendc(out, '\n') : 0;
}

static int canonical_headers(struct buf *out, struct buf *signed_headers,
                             const struct sigv4_header *hs, size_t n)
{
    struct hdr *h = calloc(n ? n : 1, sizeof *h);
    size_t i;
    int rc = 0;

    if (!h)
        return -1;
    for (i = 0; i < n && !rc; i++) {
        h[i].lname = strdup(hs[i].name ? hs[i].name : "");
        h[i].value = hs[i].value ? hs[i].value : "";
        h[i].order = i;
        if (!h[i].lname)
            rc = -1;
        for (char *c = h[i].lname; c && *c; c++)
            *c = (char)tolower((unsigned char)*c);
    }
    if (!rc) {
        qsort(h, n, sizeof *h, cmp_hdr);
        rc = emit_headers(out, signed_headers, h, n);
    }
    for (i = 0; i < n; i++)
        free(h[i].lname);
    free(h);
    return rc;
}

int sigv4_canonical_request(const struct sigv4_request *req, struct buf *out,
                            struct buf *signed_headers)
{
    if (!req->method || !req->payload_hash)
        return -1;
    if (buf_printf(out, "%s\n", req->method) || canonical_uri(out, req) ||
        buf_appendc(out, '\n') || canonical_query(out, req->query) ||
        buf_appendc(out, '\n') ||
        canonical_headers(out, signed_headers, req->headers, req->nheaders) ||
        buf_appendc(out, '\n') ||
        buf_append(out, buf_cstr(signed_headers), signed_headers->len) ||
        buf_printf(out, "\n%s", req->payload_hash))
        return -1;
    return 0;
}

/* ---- the rest of the chain -------------------------------------------- */

int sigv4_scope(struct buf *out, const char *date8, const char *region,
                const char *service)
{
    return buf_printf(out, "%s/%s/%s/aws4_request", date8, region, service)
               ? -1
               : 0;
}

int sigv4_string_to_sign(struct buf *out, const char *amz_date,
                         const char *scope, const char *creq, size_t creq_len)
{
    char hex[65];

    sigv4_sha256_hex(creq, creq_len, hex);
    return buf_printf(out, "AWS4-HMAC-SHA256\n%s\n%s\n%s", amz_date, scope,
                      hex)
               ? -1
               : 0;
}

static void hmac(const void *key, size_t klen, const char *msg, size_t mlen,
                 unsigned char out[32])
{
    unsigned int olen = 32;

    HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, mlen, out,
         &olen);
}

void sigv4_signing_key(const char *secret, const char *date8,
                       const char *region, const char *service,
                       unsigned char key[32])
{
    size_t slen = strlen(secret);
    char *k0 = malloc(slen + 5);
    unsigned char a[32], b[32];

    if (!k0) {
        /* Out of memory: a zero key makes a signature AWS rejects, which is
         * safer than crashing in a void function. */
        memset(key, 0, 32);
        return;
    }
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, secret, slen + 1);
    hmac(k0, slen + 4, date8, strlen(date8), a);
    hmac(a, 32, region, strlen(region), b);
    hmac(b, 32, service, strlen(service), a);
    hmac(a, 32, "aws4_request", 12, key);
    OPENSSL_cleanse(k0, slen + 5);
    OPENSSL_cleanse(a, sizeof a);
    OPENSSL_cleanse(b, sizeof b);
    free(k0);
}

void sigv4_signature(const unsigned char key[32], const char *sts,
                     size_t sts_len, char hex[65])
{
    unsigned char mac[32];

    hmac(key, 32, sts, sts_len, mac);
    to_hex(mac, sizeof mac, hex);
}

int sigv4_authorization(struct buf *out, const char *akid, const char *scope,
                        const char *signed_headers, const char *signature)
{
    return buf_printf(out,
                      "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, "
                      "Signature=%s",
                      akid, scope, signed_headers, signature)
               ? -1
               : 0;
}

void sigv4_amz_date(long long unix_time, char amz_date[17], char date8[9])
{
    time_t t = (time_t)unix_time;
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(amz_date, 17, "%Y%m%dT%H%M%SZ", &tm);
    strftime(date8, 9, "%Y%m%d", &tm);
}
