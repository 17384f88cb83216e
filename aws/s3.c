/*
 * s3.c — S3 operations over aws_send(). Each operation is split into the
 * request it sends and a pure parser of the answer (exposed in s3.h so unit
 * tests run them on recorded bodies).
 */
#include "aws/s3.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "aws/ops_priv.h"
#include "aws/iso8601.h"
#include "aws/xml.h"

#define S3_NS "http://s3.amazonaws.com/doc/2006-03-01/"
#define S3_MAX_PUT ((uint64_t)5 << 30)
#define S3_COPY_PART_DEFAULT ((uint64_t)512 << 20)

/* ---- small helpers ------------------------------------------------------ */

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int bad_answer(struct aws_error *err, const char *what)
{
    return aws_error_set(err, AWS_ERR_PARSE, "unexpected S3 answer: %s", what);
}

/* Like botocore, the root element's name is not checked (moto answers
 * CompleteMultipartUploadResponse where S3 says ...Result); an <Error>
 * root is never a result. */
static bool result_root(const struct xml_node *root)
{
    return root && strcmp(xml_name(root), "Error") != 0;
}

static bool is_true(const char *s)
{
    return s && strcmp(s, "true") == 0;
}

/* Append "&name=value" (value %-encoded; NULL value: "name" alone). */
static int q_add(struct buf *q, const char *name, const char *value)
{
    if (q->len && buf_appendc(q, '&') < 0)
        return -1;
    if (buf_appends(q, name) < 0)
        return -1;
    if (!value)
        return 0;
    if (buf_appendc(q, '=') < 0)
        return -1;
    return sigv4_uri_encode(q, value, strlen(value), false);
}

static void req_init(struct aws_request *r, const char *method,
                     const char *bucket, const char *key, const char *query)
{
    memset(r, 0, sizeof *r);
    r->svc = AWS_SVC_S3;
    r->method = method;
    r->bucket = bucket;
    r->key = key;
    r->query = query;
    r->idempotent = true;
}

/* Send and parse the collected XML answer. */
static int send_xml(struct aws_client *c, const struct aws_request *r,
                    struct xml_doc **doc, struct aws_error *err)
{
    struct aws_response resp;
    aws_response_init(&resp);
    int rc = aws_send(c, r, &resp, err);
    if (rc == 0) {
        *doc = xml_parse(resp.body.data ? resp.body.data : "", resp.body.len,
                         err);
        rc = *doc ? 0 : -1;
    }
    aws_response_release(&resp);
    return rc;
}

static int send_plain(struct aws_client *c, const struct aws_request *r,
                      struct aws_response *resp, struct aws_error *err)
{
    aws_response_init(resp);
    if (aws_send(c, r, resp, err) == 0)
        return 0;
    aws_response_release(resp);
    return -1;
}

void s3_etag_strip(const char *v, char *out)
{
    size_t n = v ? strlen(v) : 0;
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        v++;
        n -= 2;
    }
    if (n > 71)
        n = 71;
    if (n)
        memcpy(out, v, n);
    out[n] = '\0';
}

static void header_etag(const struct aws_response *resp, char *etag_out)
{
    char v[128];
    if (!etag_out)
        return;
    if (aws_response_header(resp, "ETag", v, sizeof v) == 0)
        s3_etag_strip(v, etag_out);
    else
        etag_out[0] = '\0';
}

time_t s3_parse_http_date(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!s || !strptime(s, "%a, %d %b %Y %H:%M:%S", &tm))
        return 0;
    return timegm(&tm);
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = tolower(ch);
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

char *s3_url_decode(const char *s, size_t n, bool plus_as_space)
{
    char *out = malloc(n + 1);
    size_t o = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < n &&
            (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
            (lo = hexval((unsigned char)s[i + 2])) >= 0) {
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else if (s[i] == '+' && plus_as_space) {
            out[o++] = ' ';
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

/* ---- digests ------------------------------------------------------------ */

static void to_hex(const unsigned char *d, size_t n, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[2 * n] = '\0';
}

/* MD5 and SHA-256 advance together chunk by chunk, so each chunk is read
 * from memory once while it is still in cache. */
void s3_digests_compute(const void *data, size_t len, struct s3_digests *d)
{
    const size_t chunk = 256 << 10;
    const unsigned char *p = data;
    unsigned char md5[16], sha[32];
    unsigned int n5 = 0, n256 = 0;
    EVP_MD_CTX *a = EVP_MD_CTX_new(), *b = EVP_MD_CTX_new();

    EVP_DigestInit_ex(a, EVP_md5(), NULL);
    EVP_DigestInit_ex(b, EVP_sha256(), NULL);
    for (size_t off = 0; off < len; off += chunk) {
        size_t k = len - off < chunk ? len - off : chunk;
        EVP_DigestUpdate(a, p + off, k);
        EVP_DigestUpdate(b, p + off, k);
    }
    EVP_DigestFinal_ex(a, md5, &n5);
    EVP_DigestFinal_ex(b, sha, &n256);
    EVP_MD_CTX_free(a);
    EVP_MD_CTX_free(b);
    EVP_EncodeBlock((unsigned char *)d->md5_b64, md5, 16);
    to_hex(md5, 16, d->md5_hex);
    to_hex(sha, 32, d->sha256_hex);
}

/* ---- ListBuckets, GetBucketLocation, CreateBucket ----------------------- */

int s3_parse_list_buckets(const struct xml_node *root,
                          struct s3_bucket_list *out, char **next,
                          struct aws_error *err)
{
    *next = NULL;
    if (!result_root(root))
        return bad_answer(err, "no ListAllMyBucketsResult");
    const struct xml_node *b = xml_child(xml_child(root, "Buckets"), "Bucket");
    for (; b; b = xml_next(b, "Bucket")) {
        if (aws_grow_array((void **)&out->v, out->n, sizeof *out->v) < 0)
            return aws_nomem(err);
        struct s3_bucket *e = &out->v[out->n];
        e->name = strdup(xml_path(b, "Name") ? xml_path(b, "Name") : "");
        e->created = aws_iso8601_or_zero(xml_path(b, "CreationDate"));
        if (!e->name)
            return aws_nomem(err);
        out->n++;
    }
    const char *tok = xml_path(root, "ContinuationToken");
    if (tok && *tok && !(*next = strdup(tok)))
        return aws_nomem(err);
    return 0;
}

void s3_bucket_list_release(struct s3_bucket_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].name);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

int s3_list_buckets(struct aws_client *c, struct s3_bucket_list *out,
                    struct aws_error *err)
{
    char *token = NULL;
    int rc = 0;
    memset(out, 0, sizeof *out);
    do {
        struct buf q;
        struct aws_request r;
        struct xml_doc *doc = NULL;
        buf_init(&q, 0);
        if (token && q_add(&q, "continuation-token", token) < 0)
            rc = aws_nomem(err);
        free(token);
        token = NULL;
        req_init(&r, "GET", NULL, NULL, q.len ? buf_cstr(&q) : NULL);
        if (rc == 0)
            rc = send_xml(c, &r, &doc, err);
        if (rc == 0)
            rc = s3_parse_list_buckets(xml_root(doc), out, &token, err);
        xml_free(doc);
        buf_release(&q);
    } while (rc == 0 && token);
    free(token);
    if (rc < 0)
        s3_bucket_list_release(out);
    return rc;
}

int s3_parse_location(const struct xml_node *root, char *out, size_t n,
                      struct aws_error *err)
{
    if (!result_root(root))
        return bad_answer(err, "no LocationConstraint");
    const char *v = xml_text(root);
    if (!*v)
        v = "us-east-1";
    else if (strcmp(v, "EU") == 0)
        v = "eu-west-1";
    if (strlen(v) >= n)
        return aws_error_set(err, AWS_ERR_INVALID, "region too long");
    memcpy(out, v, strlen(v) + 1);
    return 0;
}

int s3_get_bucket_location(struct aws_client *c, const char *bucket,
                           char *out, size_t n, struct aws_error *err)
{
    struct aws_request r;
    struct xml_doc *doc = NULL;
    req_init(&r, "GET", bucket, NULL, "location");
    /* The bucket may live anywhere; us-east-1 signatures are accepted for
     * GetBucketLocation from every region. */
    r.region = "us-east-1";
    int rc = send_xml(c, &r, &doc, err);
    if (rc == 0)
        rc = s3_parse_location(xml_root(doc), out, n, err);
    xml_free(doc);
    return rc;
}

int s3_create_bucket(struct aws_client *c, const char *bucket,
                     const char *region, struct aws_error *err)
{
    struct buf body;
    struct aws_request r;
    struct aws_response resp;
    int rc = 0;

    if (!region)
        region = aws_client_region(c);
    buf_init(&body, 0);
    if (strcmp(region, "us-east-1") != 0 &&
        (buf_printf(&body, "<CreateBucketConfiguration xmlns=\"%s\">"
                    "<LocationConstraint>", S3_NS) < 0 ||
         xml_escape(&body, region) < 0 ||
         buf_appends(&body, "</LocationConstraint>"
                     "</CreateBucketConfiguration>") < 0))
        rc = aws_nomem(err);
    req_init(&r, "PUT", bucket, NULL, NULL);
    r.region = region;
    r.body = body.len ? body.data : "";
    r.body_len = body.len;
    if (rc == 0)
        rc = send_plain(c, &r, &resp, err);
    if (rc == 0)
        aws_response_release(&resp);
    else if (err->http_status == 409 &&
             strcmp(err->code, "BucketAlreadyOwnedByYou") == 0)
        rc = 0; /* setup is idempotent: our bucket already exists */
    buf_release(&body);
    return rc;
}

/* ---- ListObjectsV2 ------------------------------------------------------ */

static char *maybe_decode(const char *s, bool url)
{
    if (!s)
        s = "";
    return url ? s3_url_decode(s, strlen(s), true) : strdup(s);
}

static int add_object(struct s3_listing *out, const struct xml_node *e,
                      bool url)
{
    if (aws_grow_array((void **)&out->objects, out->nobjects,
                       sizeof *out->objects) < 0)
        return -1;
    struct s3_object *o = &out->objects[out->nobjects];
    memset(o, 0, sizeof *o);
    o->key = maybe_decode(xml_path(e, "Key"), url);
    if (!o->key)
        return -1;
    o->size = strtoull(xml_text(xml_child(e, "Size")), NULL, 10);
    o->mtime = aws_iso8601_or_zero(xml_path(e, "LastModified"));
    s3_etag_strip(xml_path(e, "ETag"), o->etag);
    out->nobjects++;
    return 0;
}

static int add_prefix(struct s3_listing *out, const struct xml_node *e,
                      bool url)
{
    if (aws_grow_array((void **)&out->prefixes, out->nprefixes,
                       sizeof *out->prefixes) < 0)
        return -1;
    char *p = maybe_decode(xml_path(e, "Prefix"), url);
    if (!p)
        return -1;
    out->prefixes[out->nprefixes++] = p;
    return 0;
}

int s3_parse_list_objects(const struct xml_node *root, struct s3_listing *out,
                          char **next, struct aws_error *err)
{
    *next = NULL;
    if (!result_root(root))
        return bad_answer(err, "no ListBucketResult");
    const char *enc = xml_path(root, "EncodingType");
    bool url = enc && strcmp(enc, "url") == 0;
    const struct xml_node *e;
    for (e = xml_child(root, "Contents"); e; e = xml_next(e, "Contents"))
        if (add_object(out, e, url) < 0)
            return aws_nomem(err);
    for (e = xml_child(root, "CommonPrefixes"); e;
         e = xml_next(e, "CommonPrefixes"))
        if (add_prefix(out, e, url) < 0)
            return aws_nomem(err);
    if (!is_true(xml_path(root, "IsTruncated")))
        return 0;
    const char *tok = xml_path(root, "NextContinuationToken");
    if (!tok || !*tok)
        return bad_answer(err, "truncated listing without a token");
    if (!(*next = strdup(tok)))
        return aws_nomem(err);
    return 0;
}

void s3_listing_release(struct s3_listing *l)
{
    for (size_t i = 0; i < l->nobjects; i++)
        free(l->objects[i].key);
    for (size_t i = 0; i < l->nprefixes; i++)
        free(l->prefixes[i]);
    free(l->objects);
    free(l->prefixes);
    memset(l, 0, sizeof *l);
}

static int list_query(struct buf *q, const char *prefix, const char *delim,
                      const char *token)
{
    if (q_add(q, "list-type", "2") < 0 || q_add(q, "encoding-type", "url") < 0)
        return -1;
    if (prefix && *prefix && q_add(q, "prefix", prefix) < 0)
        return -1;
    if (delim && q_add(q, "delimiter", delim) < 0)
        return -1;
    if (token && q_add(q, "continuation-token", token) < 0)
        return -1;
    return 0;
}

static int list_page(struct aws_client *c, const char *bucket,
                     const char *query, struct s3_listing *out, char **next,
                     struct aws_error *err)
{
    struct aws_request r;
    struct xml_doc *doc = NULL;
    req_init(&r, "GET", bucket, NULL, query);
    int rc = send_xml(c, &r, &doc, err);
    if (rc == 0)
        rc = s3_parse_list_objects(xml_root(doc), out, next, err);
    xml_free(doc);
    return rc;
}

int s3_list_objects(struct aws_client *c, const char *bucket,
                    const char *prefix, const char *delimiter,
                    size_t max_keys_total, struct s3_listing *out,
                    struct aws_error *err)
{
    char *token = NULL;
    int rc = 0;
    memset(out, 0, sizeof *out);
    do {
        struct buf q;
        buf_init(&q, 0);
        if (list_query(&q, prefix, delimiter, token) < 0)
            rc = aws_nomem(err);
        free(token);
        token = NULL;
        if (rc == 0)
            rc = list_page(c, bucket, buf_cstr(&q), out, &token, err);
        buf_release(&q);
        if (max_keys_total &&
            out->nobjects + out->nprefixes >= max_keys_total)
            break;
    } while (rc == 0 && token);
    free(token);
    if (rc < 0)
        s3_listing_release(out);
    return rc;
}

/* ---- HeadObject, GetObject, PutObject, DeleteObject --------------------- */

int s3_head_object(struct aws_client *c, const char *bucket, const char *key,
                   struct s3_head *out, struct aws_error *err)
{
    struct aws_request r;
    struct aws_response resp;
    char v[128];

    memset(out, 0, sizeof *out);
    req_init(&r, "HEAD", bucket, key, NULL);
    if (send_plain(c, &r, &resp, err) < 0)
        return -1;
    if (aws_response_header(&resp, "Content-Length", v, sizeof v) == 0)
        out->size = strtoull(v, NULL, 10);
    if (aws_response_header(&resp, "Last-Modified", v, sizeof v) == 0)
        out->mtime = s3_parse_http_date(v);
    header_etag(&resp, out->etag);
    if (aws_response_header(&resp, "Content-Type", out->content_type,
                            sizeof out->content_type) < 0)
        out->content_type[0] = '\0';
    aws_response_release(&resp);
    return 0;
}

int s3_head_checksum(struct aws_client *c, const char *bucket,
                     const char *key, const char *if_match,
                     struct s3_checksum *out, struct aws_error *err)
{
    static const char *const algs[] = {"CRC64NVME", "CRC32C", "CRC32",
                                       "SHA256", "SHA1"};
    struct sigv4_header h[2] = {{"x-amz-checksum-mode", "ENABLED"}};
    char match[80], name[48];
    struct aws_request r;
    struct aws_response resp;

    memset(out, 0, sizeof *out);
    req_init(&r, "HEAD", bucket, key, NULL);
    r.headers = h;
    r.nheaders = 1;
    if (if_match && *if_match) {
        snprintf(match, sizeof match, "\"%s\"", if_match);
        h[1] = (struct sigv4_header){"If-Match", match};
        r.nheaders = 2;
    }
    if (send_plain(c, &r, &resp, err) < 0)
        return -1;
    header_etag(&resp, out->etag);
    for (size_t i = 0; i < sizeof algs / sizeof *algs; i++) {
        snprintf(name, sizeof name, "x-amz-checksum-%s", algs[i]);
        if (aws_response_header(&resp, name, out->value,
                                sizeof out->value) == 0) {
            snprintf(out->algorithm, sizeof out->algorithm, "%s", algs[i]);
            break;
        }
    }
    if (!out->algorithm[0])
        out->value[0] = '\0';
    if (aws_response_header(&resp, "x-amz-checksum-type", out->type,
                            sizeof out->type) < 0)
        out->type[0] = '\0';
    aws_response_release(&resp);
    return 0;
}

int s3_get_object(struct aws_client *c, const char *bucket, const char *key,
                  uint64_t offset, uint64_t len, const char *if_match,
                  aws_body_sink sink, void *sink_ctx, struct aws_error *err)
{
    char range[64], match[80];
    struct sigv4_header h[2];
    size_t nh = 0;
    struct aws_request r;
    struct aws_response resp;

    if (len)
        snprintf(range, sizeof range, "bytes=%llu-%llu",
                 (unsigned long long)offset,
                 (unsigned long long)(offset + len - 1));
    else
        snprintf(range, sizeof range, "bytes=%llu-",
                 (unsigned long long)offset);
    if (offset || len)
        h[nh++] = (struct sigv4_header){"Range", range};
    if (if_match && *if_match) {
        snprintf(match, sizeof match, "\"%s\"", if_match);
        h[nh++] = (struct sigv4_header){"If-Match", match};
    }
    req_init(&r, "GET", bucket, key, NULL);
    r.headers = h;
    r.nheaders = nh;
    r.sink = sink;
    r.sink_ctx = sink_ctx;
    if (send_plain(c, &r, &resp, err) < 0)
        return -1;
    aws_response_release(&resp);
    return 0;
}

struct range_into {
    unsigned char *dst;
    size_t n, got;
};

static int range_into_sink(void *ctx, const char *data, size_t n)
{
    struct range_into *b = ctx;
    size_t take = n < b->n - b->got ? n : b->n - b->got;
    memcpy(b->dst + b->got, data, take);
    b->got += take;
    return 0;
}

int s3_get_range_into(struct aws_client *c, const char *bucket,
                      const char *key, uint64_t offset, size_t len,
                      const char *if_match, void *dst, size_t *got,
                      struct aws_error *err)
{
    struct range_into b = {dst, len, 0};
    int rc = s3_get_object(c, bucket, key, offset, len, if_match,
                           range_into_sink, &b, err);
    *got = b.got;
    return rc;
}

/* PUT with a body from memory and Content-MD5; used by PutObject and
 * UploadPart. */
static int put_body(struct aws_client *c, const char *bucket, const char *key,
                    const char *query, const void *data, size_t len,
                    const struct s3_digests *d, char *etag_out,
                    struct aws_error *err)
{
    struct sigv4_header h[1] = {{"Content-MD5", d->md5_b64}};
    struct aws_request r;
    struct aws_response resp;

    req_init(&r, "PUT", bucket, key, query);
    r.headers = h;
    r.nheaders = 1;
    r.body = data ? data : "";
    r.body_len = len;
    r.payload_sha256 = d->sha256_hex;
    if (send_plain(c, &r, &resp, err) < 0)
        return -1;
    header_etag(&resp, etag_out);
    aws_response_release(&resp);
    return 0;
}

int s3_put_object(struct aws_client *c, const char *bucket, const char *key,
                  const void *data, size_t len, char *etag_out,
                  struct aws_error *err)
{
    struct s3_digests d;
    if (len > S3_MAX_PUT)
        return aws_error_set(err, AWS_ERR_TOO_LARGE,
                             "a single PUT is limited to 5 GiB");
    s3_digests_compute(data ? data : "", len, &d);
    return put_body(c, bucket, key, NULL, data, len, &d, etag_out, err);
}

int s3_put_object_if(struct aws_client *c, const char *bucket,
                     const char *key, const void *data, size_t len,
                     const char *if_match, char *etag_out,
                     struct aws_error *err)
{
    struct s3_digests d;
    char quoted[80];
    if (len > S3_MAX_PUT)
        return aws_error_set(err, AWS_ERR_TOO_LARGE,
                             "a single PUT is limited to 5 GiB");
    s3_digests_compute(data ? data : "", len, &d);
    struct sigv4_header h[2] = {{"Content-MD5", d.md5_b64}, {NULL, NULL}};
    if (!if_match || !*if_match)
        h[1] = (struct sigv4_header){"If-None-Match", "*"};
    else {
        snprintf(quoted, sizeof quoted, "\"%s\"", if_match);
        h[1] = (struct sigv4_header){"If-Match", quoted};
    }
    struct aws_request r;
    struct aws_response resp;
    req_init(&r, "PUT", bucket, key, NULL);
    r.headers = h;
    r.nheaders = 2;
    r.body = data ? data : "";
    r.body_len = len;
    r.payload_sha256 = d.sha256_hex;
    if (send_plain(c, &r, &resp, err) < 0)
        return -1;
    header_etag(&resp, etag_out);
    aws_response_release(&resp);
    return 0;
}

int s3_delete_object_if(struct aws_client *c, const char *bucket,
                        const char *key, const char *if_match,
                        struct aws_error *err)
{
    char quoted[80];
    snprintf(quoted, sizeof quoted, "\"%s\"", if_match ? if_match : "");
    struct sigv4_header h[1] = {{"If-Match", quoted}};
    struct aws_request r;
    struct aws_response resp;
    req_init(&r, "DELETE", bucket, key, NULL);
    if (if_match && *if_match) {
        r.headers = h;
        r.nheaders = 1;
    }
    if (send_plain(c, &r, &resp, err) < 0)
        return -1;
    aws_response_release(&resp);
    return 0;
}

int s3_delete_object(struct aws_client *c, const char *bucket,
                     const char *key, struct aws_error *err)
{
    struct aws_request r;
    struct aws_response resp;
    req_init(&r, "DELETE", bucket, key, NULL);
    if (send_plain(c, &r, &resp, err) < 0)
        return -1;
    aws_response_release(&resp);
    return 0;
}

/* ---- CopyObject and UploadPartCopy -------------------------------------- */

static int copy_source(struct buf *out, const char *bucket, const char *key)
{
    if (buf_appendc(out, '/') < 0 ||
        sigv4_uri_encode(out, bucket, strlen(bucket), false) < 0 ||
        buf_appendc(out, '/') < 0)
        return -1;
    return sigv4_uri_encode(out, key, strlen(key), true);
}

int s3_parse_result_etag(const struct xml_node *root, const char *root_name,
                         char *etag_out, struct aws_error *err)
{
    if (!result_root(root))
        return bad_answer(err, root_name);
    const char *etag = xml_path(root, "ETag");
    if (!etag)
        return bad_answer(err, "no ETag");
    if (etag_out)
        s3_etag_strip(etag, etag_out);
    return 0;
}

/* PUT with x-amz-copy-source (and maybe a range), the answer a result
 * document; a 200 carrying <Error> is retried by the client. */
static int copy_call(struct aws_client *c, const char *bucket,
                     const char *key, const char *query, const char *src_b,
                     const char *src_k, const char *range,
                     const char *if_match, const char *root_name,
                     char *etag_out, struct aws_error *err)
{
    struct buf src;
    struct sigv4_header h[3];
    char quoted[80];
    struct aws_request r;
    struct xml_doc *doc = NULL;
    int rc;

    buf_init(&src, 0);
    if (copy_source(&src, src_b, src_k) < 0) {
        buf_release(&src);
        return aws_nomem(err);
    }
    h[0] = (struct sigv4_header){"x-amz-copy-source", buf_cstr(&src)};
    int nh = 1;
    if (range)
        h[nh++] = (struct sigv4_header){"x-amz-copy-source-range", range};
    if (if_match && *if_match) {
        snprintf(quoted, sizeof quoted, "\"%s\"", if_match);
        h[nh++] = (struct sigv4_header){"x-amz-copy-source-if-match", quoted};
    }
    req_init(&r, "PUT", bucket, key, query);
    r.headers = h;
    r.nheaders = nh;
    r.body = "";
    r.s3_200_error = true;
    rc = send_xml(c, &r, &doc, err);
    if (rc == 0)
        rc = s3_parse_result_etag(xml_root(doc), root_name, etag_out, err);
    xml_free(doc);
    buf_release(&src);
    return rc;
}

int s3_copy_object(struct aws_client *c, const char *src_bucket,
                   const char *src_key, const char *dst_bucket,
                   const char *dst_key, char *etag_out,
                   struct aws_error *err)
{
    return copy_call(c, dst_bucket, dst_key, NULL, src_bucket, src_key, NULL,
                     NULL, "CopyObjectResult", etag_out, err);
}

static int part_query(struct buf *q, int part_no, const char *upload_id)
{
    char num[16];
    snprintf(num, sizeof num, "%d", part_no);
    if (q_add(q, "partNumber", num) < 0)
        return -1;
    return q_add(q, "uploadId", upload_id);
}

static int part_copy_if(struct aws_client *c, const char *bucket,
                        const char *key, const char *upload_id, int part_no,
                        const char *src_bucket, const char *src_key,
                        uint64_t first, uint64_t last, const char *if_match,
                        char *etag_out, struct aws_error *err);

int s3_mpu_upload_part_copy(struct aws_client *c, const char *bucket,
                            const char *key, const char *upload_id,
                            int part_no, const char *src_bucket,
                            const char *src_key, uint64_t first,
                            uint64_t last, char *etag_out,
                            struct aws_error *err)
{
    return part_copy_if(c, bucket, key, upload_id, part_no, src_bucket,
                        src_key, first, last, NULL, etag_out, err);
}

static int part_copy_if(struct aws_client *c, const char *bucket,
                        const char *key, const char *upload_id, int part_no,
                        const char *src_bucket, const char *src_key,
                        uint64_t first, uint64_t last, const char *if_match,
                        char *etag_out, struct aws_error *err)
{
    char range[64];
    struct buf q;
    int rc;
    snprintf(range, sizeof range, "bytes=%llu-%llu",
             (unsigned long long)first, (unsigned long long)last);
    buf_init(&q, 0);
    if (part_query(&q, part_no, upload_id) < 0)
        rc = aws_nomem(err);
    else
        rc = copy_call(c, bucket, key, buf_cstr(&q), src_bucket, src_key,
                       range, if_match, "CopyPartResult", etag_out, err);
    buf_release(&q);
    return rc;
}

static int copy_parts(struct aws_client *c, const char *src_bucket,
                      const char *src_key, uint64_t size, uint64_t psize,
                      const char *if_match, const char *dst_bucket,
                      const char *dst_key, const char *upload_id,
                      struct aws_error *err)
{
    size_t n = (size_t)((size + psize - 1) / psize);
    struct s3_part *parts = calloc(n, sizeof *parts);
    int rc = parts ? 0 : aws_nomem(err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        uint64_t first = i * psize;
        uint64_t last = first + psize > size ? size - 1 : first + psize - 1;
        parts[i].number = (int)i + 1;
        parts[i].size = last - first + 1;
        rc = part_copy_if(c, dst_bucket, dst_key, upload_id, (int)i + 1,
                          src_bucket, src_key, first, last, if_match,
                          parts[i].etag, err);
    }
    if (rc == 0)
        rc = s3_mpu_complete(c, dst_bucket, dst_key, upload_id, parts, n,
                             NULL, err);
    free(parts);
    return rc;
}

int s3_copy_any(struct aws_client *c, const char *src_bucket,
                const char *src_key, uint64_t size, const char *dst_bucket,
                const char *dst_key, struct aws_error *err)
{
    return s3_copy_any_if(c, src_bucket, src_key, size, NULL, dst_bucket,
                          dst_key, err);
}

int s3_copy_any_if(struct aws_client *c, const char *src_bucket,
                   const char *src_key, uint64_t size, const char *if_match,
                   const char *dst_bucket, const char *dst_key,
                   struct aws_error *err)
{
    return s3_copy_any_limit(c, src_bucket, src_key, size, if_match, 0,
                             dst_bucket, dst_key, err);
}

int s3_copy_any_limit(struct aws_client *c, const char *src_bucket,
                      const char *src_key, uint64_t size,
                      const char *if_match, uint64_t single_max,
                      const char *dst_bucket, const char *dst_key,
                      struct aws_error *err)
{
    char upload_id[1024];
    struct aws_error ignored;
    const uint64_t min_part = (uint64_t)5 << 20;

    if (single_max == 0 || single_max > S3_MAX_PUT)
        single_max = S3_MAX_PUT;
    if (size <= single_max)
        return copy_call(c, dst_bucket, dst_key, NULL, src_bucket, src_key,
                         NULL, if_match, "CopyObjectResult", NULL, err);
    uint64_t psize = S3_COPY_PART_DEFAULT;
    if (single_max < psize) /* a lowered limit (tests): parts of its size */
        psize = single_max < min_part ? min_part : single_max;
    while ((size + psize - 1) / psize > 10000)
        psize *= 2;
    if (psize > S3_MAX_PUT)
        return aws_error_set(err, AWS_ERR_TOO_LARGE, "object too large");
    if (s3_mpu_create(c, dst_bucket, dst_key, upload_id, sizeof upload_id,
                      err) < 0)
        return -1;
    if (copy_parts(c, src_bucket, src_key, size, psize, if_match,
                   dst_bucket, dst_key, upload_id, err) == 0)
        return 0;
    s3_mpu_abort(c, dst_bucket, dst_key, upload_id, &ignored);
    return -1;
}

/* ---- Multipart primitives ----------------------------------------------- */

static int mpu_create(struct aws_client *c, const char *bucket,
                      const char *key, bool crc32c, char *upload_id, size_t n,
                      struct aws_error *err)
{
    static const struct sigv4_header h[2] = {
        {"x-amz-checksum-algorithm", "CRC32C"},
        {"x-amz-checksum-type", "FULL_OBJECT"}};
    struct aws_request r;
    struct xml_doc *doc = NULL;
    req_init(&r, "POST", bucket, key, "uploads");
    r.body = "";
    if (crc32c) {
        r.headers = h;
        r.nheaders = 2;
    }
    /* Retrying a create that landed leaves an empty upload behind, which
     * costs nothing and is swept by lifecycle rules; failing the whole
     * upload on one dropped connection would be worse. */
    int rc = send_xml(c, &r, &doc, err);
    if (rc == 0) {
        const struct xml_node *root = xml_root(doc);
        const char *id = xml_path(root, "UploadId");
        if (!result_root(root) || !id || !*id)
            rc = bad_answer(err, "no UploadId");
        else if (strlen(id) >= n)
            rc = bad_answer(err, "UploadId too long");
        else
            memcpy(upload_id, id, strlen(id) + 1);
    }
    xml_free(doc);
    return rc;
}

int s3_mpu_create(struct aws_client *c, const char *bucket, const char *key,
                  char *upload_id, size_t n, struct aws_error *err)
{
    return mpu_create(c, bucket, key, false, upload_id, n, err);
}

int s3_mpu_create_crc32c(struct aws_client *c, const char *bucket,
                         const char *key, char *upload_id, size_t n,
                         struct aws_error *err)
{
    return mpu_create(c, bucket, key, true, upload_id, n, err);
}

int s3_mpu_upload_part_digests(struct aws_client *c, const char *bucket,
                               const char *key, const char *upload_id,
                               int part_no, const void *data, size_t len,
                               const struct s3_digests *d, char *etag_out,
                               struct aws_error *err)
{
    struct buf q;
    int rc;
    buf_init(&q, 0);
    if (part_query(&q, part_no, upload_id) < 0)
        rc = aws_nomem(err);
    else
        rc = put_body(c, bucket, key, buf_cstr(&q), data, len, d, etag_out,
                      err);
    buf_release(&q);
    return rc;
}

int s3_mpu_upload_part(struct aws_client *c, const char *bucket,
                       const char *key, const char *upload_id, int part_no,
                       const void *data, size_t len, char *etag_out,
                       struct aws_error *err)
{
    struct s3_digests d;
    s3_digests_compute(data ? data : "", len, &d);
    return s3_mpu_upload_part_digests(c, bucket, key, upload_id, part_no,
                                      data, len, &d, etag_out, err);
}

int s3_complete_body(struct buf *out, const struct s3_part *parts,
                     size_t nparts)
{
    if (buf_appends(out, "<CompleteMultipartUpload xmlns=\"" S3_NS "\">") < 0)
        return -1;
    for (size_t i = 0; i < nparts; i++) {
        if (buf_appends(out, "<Part><ETag>\"") < 0 ||
            xml_escape(out, parts[i].etag) < 0 ||
            buf_printf(out, "\"</ETag><PartNumber>%d</PartNumber>",
                       parts[i].number) < 0)
            return -1;
        if (parts[i].crc32c[0] &&
            (buf_appends(out, "<ChecksumCRC32C>") < 0 ||
             xml_escape(out, parts[i].crc32c) < 0 ||
             buf_appends(out, "</ChecksumCRC32C>") < 0))
            return -1;
        if (buf_appends(out, "</Part>") < 0)
            return -1;
    }
    return buf_appends(out, "</CompleteMultipartUpload>");
}

int s3_multipart_etag(const struct s3_part *parts, size_t nparts, char *out)
{
    unsigned char md5[16], all[16];
    unsigned int n = 0;
    char hex[33];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int rc = ctx ? 0 : -1;

    if (ctx)
        EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
    for (size_t i = 0; rc == 0 && i < nparts; i++) {
        const char *e = parts[i].etag;
        if (strlen(e) != 32)
            rc = -1;
        for (int k = 0; rc == 0 && k < 16; k++) {
            int hi = hexval((unsigned char)e[2 * k]);
            int lo = hexval((unsigned char)e[2 * k + 1]);
            if (hi < 0 || lo < 0) {
                rc = -1; /* not hex: no multipart ETag can be derived */
                break;
            }
            md5[k] = (unsigned char)(hi << 4 | lo);
        }
        if (rc == 0)
            EVP_DigestUpdate(ctx, md5, 16);
    }
    if (rc == 0) {
        EVP_DigestFinal_ex(ctx, all, &n);
        to_hex(all, 16, hex);
        snprintf(out, 72, "%s-%zu", hex, nparts);
    }
    EVP_MD_CTX_free(ctx);
    return rc;
}

/* A Complete whose first attempt landed but whose answer was lost is
 * retried by the client and then answered NoSuchUpload. If the object now
 * has exactly the ETag our parts make, that retry did succeed. */
static int complete_landed(struct aws_client *c, const char *bucket,
                           const char *key, const struct s3_part *parts,
                           size_t nparts, char *etag_out)
{
    char want[72];
    struct s3_head h;
    struct aws_error e;
    if (s3_multipart_etag(parts, nparts, want) < 0)
        return 0;
    if (s3_head_object(c, bucket, key, &h, &e) < 0 || strcmp(h.etag, want))
        return 0;
    if (etag_out)
        memcpy(etag_out, want, strlen(want) + 1);
    return 1;
}

int s3_mpu_complete(struct aws_client *c, const char *bucket,
                    const char *key, const char *upload_id,
                    const struct s3_part *parts, size_t nparts,
                    char *etag_out, struct aws_error *err)
{
    return s3_mpu_complete_crc32c(c, bucket, key, upload_id, parts, nparts,
                                  NULL, etag_out, err);
}

int s3_mpu_complete_crc32c(struct aws_client *c, const char *bucket,
                           const char *key, const char *upload_id,
                           const struct s3_part *parts, size_t nparts,
                           const char *full_crc32c, char *etag_out,
                           struct aws_error *err)
{
    struct sigv4_header h[2] = {{"x-amz-checksum-crc32c", full_crc32c},
                                {"x-amz-checksum-type", "FULL_OBJECT"}};
    struct buf q, body;
    struct aws_request r;
    struct xml_doc *doc = NULL;
    int rc = 0;

    buf_init(&q, 0);
    buf_init(&body, 0);
    if (q_add(&q, "uploadId", upload_id) < 0 ||
        s3_complete_body(&body, parts, nparts) < 0)
        rc = aws_nomem(err);
    req_init(&r, "POST", bucket, key, buf_cstr(&q));
    r.body = body.data;
    r.body_len = body.len;
    r.s3_200_error = true;
    if (full_crc32c) {
        r.headers = h;
        r.nheaders = 2;
    }
    if (rc == 0)
        rc = send_xml(c, &r, &doc, err);
    if (rc == 0)
        rc = s3_parse_result_etag(xml_root(doc),
                                  "CompleteMultipartUploadResult", etag_out,
                                  err);
    else if (err->kind == AWS_ERR_SERVICE &&
             strcmp(err->code, "NoSuchUpload") == 0 &&
             complete_landed(c, bucket, key, parts, nparts, etag_out)) {
        aws_error_clear(err);
        rc = 0;
    }
    xml_free(doc);
    buf_release(&q);
    buf_release(&body);
    return rc;
}

int s3_mpu_abort(struct aws_client *c, const char *bucket, const char *key,
                 const char *upload_id, struct aws_error *err)
{
    struct buf q;
    struct aws_request r;
    struct aws_response resp;
    int rc = 0;

    buf_init(&q, 0);
    if (q_add(&q, "uploadId", upload_id) < 0)
        rc = aws_nomem(err);
    req_init(&r, "DELETE", bucket, key, buf_cstr(&q));
    if (rc == 0)
        rc = send_plain(c, &r, &resp, err);
    if (rc == 0) {
        aws_response_release(&resp);
    } else if (err->kind == AWS_ERR_SERVICE && err->http_status == 404 &&
               strcmp(err->code, "NoSuchUpload") == 0) {
        aws_error_clear(err); /* already gone: that is what we wanted */
        rc = 0;
    }
    buf_release(&q);
    return rc;
}

/* ---- ListMultipartUploads, ListParts ------------------------------------ */

static int add_upload(struct s3_upload_list *out, const struct xml_node *u,
                      bool url)
{
    if (aws_grow_array((void **)&out->v, out->n, sizeof *out->v) < 0)
        return -1;
    struct s3_upload *e = &out->v[out->n];
    e->key = maybe_decode(xml_path(u, "Key"), url);
    e->upload_id = dup_or_null(xml_path(u, "UploadId"));
    e->initiated = aws_iso8601_or_zero(xml_path(u, "Initiated"));
    if (!e->key || !e->upload_id) {
        free(e->key);
        free(e->upload_id);
        return -1;
    }
    out->n++;
    return 0;
}

int s3_parse_uploads(const struct xml_node *root, struct s3_upload_list *out,
                     char **next_key, char **next_upload,
                     struct aws_error *err)
{
    *next_key = *next_upload = NULL;
    if (!result_root(root))
        return bad_answer(err, "no ListMultipartUploadsResult");
    const char *enc = xml_path(root, "EncodingType");
    bool url = enc && strcmp(enc, "url") == 0;
    for (const struct xml_node *u = xml_child(root, "Upload"); u;
         u = xml_next(u, "Upload"))
        if (add_upload(out, u, url) < 0)
            return aws_nomem(err);
    if (!is_true(xml_path(root, "IsTruncated")))
        return 0;
    /* The markers go back as query values exactly as S3 sent them. */
    const char *k = xml_path(root, "NextKeyMarker");
    const char *id = xml_path(root, "NextUploadIdMarker");
    if (!k || !*k)
        return bad_answer(err, "truncated upload list without a marker");
    *next_key = url ? s3_url_decode(k, strlen(k), true) : strdup(k);
    *next_upload = strdup(id ? id : "");
    if (!*next_key || !*next_upload)
        return aws_nomem(err);
    return 0;
}

void s3_upload_list_release(struct s3_upload_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].key);
        free(l->v[i].upload_id);
    }
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int uploads_query(struct buf *q, const char *prefix, const char *key,
                         const char *id)
{
    if (q_add(q, "uploads", NULL) < 0 || q_add(q, "encoding-type", "url") < 0)
        return -1;
    if (prefix && *prefix && q_add(q, "prefix", prefix) < 0)
        return -1;
    if (key && (q_add(q, "key-marker", key) < 0 ||
                q_add(q, "upload-id-marker", id) < 0))
        return -1;
    return 0;
}

int s3_mpu_list(struct aws_client *c, const char *bucket, const char *prefix,
                struct s3_upload_list *out, struct aws_error *err)
{
    char *key = NULL, *id = NULL;
    int rc = 0;
    memset(out, 0, sizeof *out);
    do {
        struct buf q;
        struct aws_request r;
        struct xml_doc *doc = NULL;
        buf_init(&q, 0);
        if (uploads_query(&q, prefix, key, id) < 0)
            rc = aws_nomem(err);
        free(key);
        free(id);
        key = id = NULL;
        req_init(&r, "GET", bucket, NULL, buf_cstr(&q));
        if (rc == 0)
            rc = send_xml(c, &r, &doc, err);
        if (rc == 0)
            rc = s3_parse_uploads(xml_root(doc), out, &key, &id, err);
        xml_free(doc);
        buf_release(&q);
    } while (rc == 0 && key);
    free(key);
    free(id);
    if (rc < 0)
        s3_upload_list_release(out);
    return rc;
}

int s3_parse_parts(const struct xml_node *root, struct s3_part **parts,
                   size_t *nparts, char **next, struct aws_error *err)
{
    *next = NULL;
    if (!result_root(root))
        return bad_answer(err, "no ListPartsResult");
    for (const struct xml_node *p = xml_child(root, "Part"); p;
         p = xml_next(p, "Part")) {
        if (aws_grow_array((void **)parts, *nparts, sizeof **parts) < 0)
            return aws_nomem(err);
        struct s3_part *e = &(*parts)[*nparts];
        memset(e, 0, sizeof *e);
        e->number = (int)strtol(xml_text(xml_child(p, "PartNumber")), NULL,
                                10);
        e->size = strtoull(xml_text(xml_child(p, "Size")), NULL, 10);
        s3_etag_strip(xml_path(p, "ETag"), e->etag);
        snprintf(e->crc32c, sizeof e->crc32c, "%s",
                 xml_text(xml_child(p, "ChecksumCRC32C")));
        (*nparts)++;
    }
    if (!is_true(xml_path(root, "IsTruncated")))
        return 0;
    const char *m = xml_path(root, "NextPartNumberMarker");
    if (!m || !*m)
        return bad_answer(err, "truncated part list without a marker");
    return (*next = strdup(m)) ? 0 : aws_nomem(err);
}

int s3_mpu_list_parts(struct aws_client *c, const char *bucket,
                      const char *key, const char *upload_id,
                      struct s3_part **parts, size_t *nparts,
                      struct aws_error *err)
{
    char *marker = NULL;
    int rc = 0;
    *parts = NULL;
    *nparts = 0;
    do {
        struct buf q;
        struct aws_request r;
        struct xml_doc *doc = NULL;
        buf_init(&q, 0);
        if (q_add(&q, "uploadId", upload_id) < 0 ||
            (marker && q_add(&q, "part-number-marker", marker) < 0))
            rc = aws_nomem(err);
        free(marker);
        marker = NULL;
        req_init(&r, "GET", bucket, key, buf_cstr(&q));
        if (rc == 0)
            rc = send_xml(c, &r, &doc, err);
        if (rc == 0)
            rc = s3_parse_parts(xml_root(doc), parts, nparts, &marker, err);
        xml_free(doc);
        buf_release(&q);
    } while (rc == 0 && marker);
    free(marker);
    if (rc < 0) {
        free(*parts);
        *parts = NULL;
        *nparts = 0;
    }
    return rc;
}

/* ---- lifecycle: the AbortIncompleteMultipartUpload safety net ----------- */

/* The prefix a rule applies to ("" for the whole bucket). */
static const char *rule_prefix(const struct xml_node *rule)
{
    const struct xml_node *f = xml_child(rule, "Filter");
    if (xml_child(f, "Prefix"))
        return xml_text(xml_child(f, "Prefix"));
    if (xml_child(xml_child(f, "And"), "Prefix"))
        return xml_text(xml_child(xml_child(f, "And"), "Prefix"));
    return xml_text(xml_child(rule, "Prefix"));
}

int s3_parse_lifecycle(const struct xml_node *root, const char *prefix,
                       struct s3_lifecycle *out)
{
    memset(out, 0, sizeof *out);
    for (const struct xml_node *r = xml_child(root, "Rule"); r;
         r = xml_next(r, "Rule")) {
        out->nrules++;
        const char *days = xml_path(r, "AbortIncompleteMultipartUpload/"
                                       "DaysAfterInitiation");
        const char *rp = rule_prefix(r);
        if (strcmp(xml_text(xml_child(r, "Status")), "Enabled") != 0 ||
            !days || strncmp(prefix ? prefix : "", rp, strlen(rp)) != 0)
            continue;
        int d = (int)strtol(days, NULL, 10);
        if (d > 0 && (out->abort_days == 0 || d < out->abort_days))
            out->abort_days = d;
    }
    return 0;
}

int s3_get_lifecycle(struct aws_client *c, const char *bucket,
                     const char *prefix, struct s3_lifecycle *out,
                     struct aws_error *err)
{
    struct aws_request r;
    struct xml_doc *doc = NULL;
    memset(out, 0, sizeof *out);
    req_init(&r, "GET", bucket, NULL, "lifecycle");
    if (send_xml(c, &r, &doc, err) != 0) {
        if (strcmp(err->code, "NoSuchLifecycleConfiguration") != 0)
            return -1;
        aws_error_clear(err);
        return 0;
    }
    int rc = s3_parse_lifecycle(xml_root(doc), prefix, out);
    xml_free(doc);
    return rc;
}

int s3_put_lifecycle_abort(struct aws_client *c, const char *bucket,
                           const char *prefix, int days,
                           struct aws_error *err)
{
    struct buf b;
    struct s3_digests d;
    buf_init(&b, 0);
    int rc = buf_printf(&b, "<LifecycleConfiguration xmlns=\"%s\"><Rule>"
                            "<ID>" S3_ABORT_RULE_ID "</ID><Filter><Prefix>",
                        S3_NS);
    rc = rc < 0 ? rc : xml_escape(&b, prefix ? prefix : "");
    rc = rc < 0 ? rc : buf_printf(&b, "</Prefix></Filter><Status>Enabled"
                                      "</Status><AbortIncompleteMultipartUpload>"
                                      "<DaysAfterInitiation>%d"
                                      "</DaysAfterInitiation>"
                                      "</AbortIncompleteMultipartUpload>"
                                      "</Rule></LifecycleConfiguration>",
                                  days);
    if (rc < 0) {
        buf_release(&b);
        return aws_error_set(err, AWS_ERR_NOMEM, "out of memory");
    }
    s3_digests_compute(b.data, b.len, &d);
    rc = put_body(c, bucket, NULL, "lifecycle", b.data, b.len, &d, NULL, err);
    buf_release(&b);
    return rc;
}
