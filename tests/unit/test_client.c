/*
 * test_client.c — aws_send() against a local fake HTTP server: retries,
 * error parsing, 200-with-<Error>, dropped connections, streaming bodies
 * and their rewind, clock skew, expired tokens, query-protocol forms.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "aws/client.h"
#include "aws/xml.h"
#include "fakehttp.h"
#include "check.h"

#define S3_SLOWDOWN                                                          \
    "<Error><Code>SlowDown</Code><Message>Reduce your request rate."        \
    "</Message><RequestId>R1</RequestId></Error>"
#define S3_200_ERROR                                                         \
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\n<Error><Code>"           \
    "InternalError</Code><Message>We encountered an internal error. Please " \
    "try again.</Message><RequestId>656c76696e6727732072657175657374"       \
    "</RequestId></Error>"
#define S3_COMPLETE_OK                                                       \
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"                           \
    "<CompleteMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/"   \
    "2006-03-01/\"><Bucket>b</Bucket><Key>k</Key><ETag>&quot;x-2&quot;"     \
    "</ETag></CompleteMultipartUploadResult>"
#define EC2_ERROR                                                            \
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error>" \
    "<Code>InvalidParameter</Code><Message>The service role vmimport "      \
    "provided does not exist</Message></Error></Errors><RequestID>"         \
    "5f1b2c3d-aa03</RequestID></Response>"

static void log_fn(void *ctx, enum aws_log_level level, const char *msg)
{
    struct buf *b = ctx;

    buf_printf(b, "%d %s\n", (int)level, msg);
}

static struct aws_client *new_client_log(const char *url, int max_attempts,
                                         struct buf *log)
{
    struct aws_client_options o = {0};
    struct aws_error err;
    struct aws_client *c;

    o.logger = (struct aws_logger){log ? log_fn : NULL, log, AWS_LOG_DEBUG};
    o.config.endpoint = url;
    o.retry_base_ms = 1;
    o.max_attempts = max_attempts;
    c = aws_client_new(&o, &err);
    CHECK(c != NULL, "client: %s", err.message);
    return c;
}

static struct aws_client *new_client(const char *url, int max_attempts)
{
    return new_client_log(url, max_attempts, NULL);
}

static struct fakehttp *start(struct fake_rule *rules)
{
    struct fakehttp *f = fakehttp_start(rules);

    if (!f) {
        fprintf(stderr, "cannot start fake server\n");
        exit(1);
    }
    return f;
}

static void hdr_is(struct fakehttp *f, size_t i, const char *name,
                   const char *want)
{
    char v[512];
    int rc = fakehttp_header(f, i, name, v, sizeof v);

    CHECK(want ? rc == 0 && strcmp(v, want) == 0 : rc != 0,
          "request %zu header %s: got %s, want %s", i, name,
          rc == 0 ? v : "(absent)", want ? want : "(absent)");
}

static void test_retry_503(void)
{
    struct fake_rule rules[] = {
        {"GET", "/b/dir/k%20x", 503, NULL, S3_SLOWDOWN, 1, false, 0, 0},
        {"GET", "/b/dir/k%20x", 200, "ETag: \"e1\"\r\n", "hello", 0, false, 0, 0},
        {0}};
    struct fakehttp *f = start(rules);
    struct buf log = {0};
    struct aws_client *c;

    buf_init(&log, 0);
    c = new_client_log(fakehttp_url(f), 0, &log);
    struct aws_request r = {.svc = AWS_SVC_S3, .method = "GET", .bucket = "b",
                            .key = "dir/k x", .idempotent = true};
    struct aws_response resp;
    struct aws_error err;
    char etag[64] = "", auth[512] = "";

    aws_response_init(&resp);
    CHECK(aws_send(c, &r, &resp, &err) == 0, "send: %s", err.message);
    CHECK(resp.status == 200 && strcmp(buf_cstr(&resp.body), "hello") == 0,
          "status %ld body %s", resp.status, buf_cstr(&resp.body));
    CHECK(aws_response_header(&resp, "etag", etag, sizeof etag) == 0 &&
              strcmp(etag, "\"e1\"") == 0, "etag %s", etag);
    CHECK(fakehttp_count(f) == 2, "requests %zu", fakehttp_count(f));
    CHECK(aws_client_attempts(c) == 2, "attempts %llu",
          (unsigned long long)aws_client_attempts(c));
    hdr_is(f, 0, "amz-sdk-request", "attempt=1; max=3");
    hdr_is(f, 1, "amz-sdk-request", "attempt=2; max=3");
    hdr_is(f, 1, "x-amz-content-sha256", SIGV4_EMPTY_SHA256);
    hdr_is(f, 0, "Expect", NULL);
    fakehttp_header(f, 1, "Authorization", auth, sizeof auth);
    CHECK(strstr(auth, "Credential=AKIDTEST/") &&
              strstr(auth, "/us-east-1/s3/aws4_request") &&
              strstr(auth, "SignedHeaders=host;x-amz-content-sha256;"
                           "x-amz-date"),
          "authorization %s", auth);
    CHECK(strstr(auth, "SECRET") == NULL, "secret leaked");
    CHECK(strstr(buf_cstr(&log), "retrying GET /b/dir/k%20x (SlowDown, "
                                 "attempt 2/3)") != NULL,
          "log: %s", buf_cstr(&log));
    CHECK(!strstr(buf_cstr(&log), "SECRETKEYTEST") &&
              !strstr(buf_cstr(&log), "Signature") &&
              !strstr(buf_cstr(&log), "AKIDTEST"), "log leaks: %s",
          buf_cstr(&log));
    aws_response_release(&resp);
    aws_client_free(c);
    buf_release(&log);
    fakehttp_stop(f);
}

static void test_200_error(void)
{
    struct fake_rule rules[] = {
        {"POST", "/b/k", 200, NULL, S3_200_ERROR, 1, false, 0, 0},
        {"POST", "/b/k", 200, NULL, S3_COMPLETE_OK, 0, false, 0, 0},
        {0}};
    struct fakehttp *f = start(rules);
    struct aws_client *c = new_client(fakehttp_url(f), 0);
    static const char body[] = "<CompleteMultipartUpload/>";
    struct aws_request r = {.svc = AWS_SVC_S3, .method = "POST", .bucket = "b",
                            .key = "k", .query = "uploadId=U1", .body = body,
                            .body_len = sizeof body - 1, .idempotent = true,
                            .s3_200_error = true};
    struct aws_response resp;
    struct aws_error err;

    aws_response_init(&resp);
    CHECK(aws_send(c, &r, &resp, &err) == 0, "send: %s", err.message);
    CHECK(fakehttp_count(f) == 2, "requests %zu", fakehttp_count(f));
    CHECK(strstr(buf_cstr(&resp.body), "CompleteMultipartUploadResult"),
          "body %s", buf_cstr(&resp.body));
    CHECK(strcmp(fakehttp_req(f, 0)->target, "/b/k?uploadId=U1") == 0,
          "target %s", fakehttp_req(f, 0)->target);
    hdr_is(f, 0, "Content-Type", NULL);
    aws_response_release(&resp);

    /* always an error: three attempts, then InternalError with status 500 */
    fakehttp_reset(f);
    rules[0].times = 0;
    aws_response_init(&resp);
    CHECK(aws_send(c, &r, &resp, &err) == -1, "should fail");
    CHECK(fakehttp_count(f) == 3, "requests %zu", fakehttp_count(f));
    CHECK(err.kind == AWS_ERR_SERVICE && err.http_status == 500 &&
              strcmp(err.code, "InternalError") == 0 &&
              strcmp(err.request_id, "656c76696e6727732072657175657374") == 0,
          "err %d %d %s %s", err.kind, err.http_status, err.code,
          err.request_id);
    aws_response_release(&resp);
    aws_client_free(c);
    fakehttp_stop(f);
}

static void test_no_retry_400(void)
{
    struct fake_rule rules[] = {{"POST", "/", 400, NULL, EC2_ERROR, 0, false, 0, 0},
                                {0}};
    struct fakehttp *f = start(rules);
    struct aws_client *c = new_client(fakehttp_url(f), 0);
    struct aws_form form;
    struct aws_error err;
    struct xml_doc *doc = NULL;
    const struct fake_req *q;
    char auth[512] = "";

    aws_form_init(&form, "ImportImage", "2016-11-15");
    aws_form_add(&form, "Description", "a b&c");
    aws_form_addf(&form, "vmimport", "RoleName");
    aws_form_addf(&form, "x", "DiskContainer.%d.Format", 1);
    CHECK(aws_query(c, AWS_SVC_EC2, NULL, &form, true, &doc, &err) == -1,
          "should fail");
    CHECK(doc == NULL, "doc on failure");
    CHECK(fakehttp_count(f) == 1, "400 retried: %zu", fakehttp_count(f));
    CHECK(err.kind == AWS_ERR_SERVICE && err.http_status == 400 &&
              strcmp(err.code, "InvalidParameter") == 0 &&
              strcmp(err.request_id, "5f1b2c3d-aa03") == 0 &&
              strstr(err.message, "vmimport"),
          "err %s %s %s", err.code, err.message, err.request_id);
    CHECK(aws_error_errno(&err) == EINVAL, "errno %d", aws_error_errno(&err));
    q = fakehttp_req(f, 0);
    CHECK(q && strcmp(q->body, "Action=ImportImage&Version=2016-11-15&"
                               "Description=a+b%26c&RoleName=vmimport&"
                               "DiskContainer.1.Format=x") == 0,
          "form %s", q ? q->body : "");
    hdr_is(f, 0, "Content-Type",
           "application/x-www-form-urlencoded; charset=utf-8");
    hdr_is(f, 0, "x-amz-content-sha256", NULL);
    fakehttp_header(f, 0, "Authorization", auth, sizeof auth);
    CHECK(strstr(auth, "/us-east-1/ec2/aws4_request, SignedHeaders=content-"
                       "type;host;x-amz-date, Signature="),
          "auth %s", auth);
    aws_form_release(&form);

    /* moto's EC2 auth failure: <ErrorResponse><Errors><Error> */
    rules[0].status = 401;
    rules[0].body = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
                    "<ErrorResponse><Errors><Error><Code>AuthFailure</Code>"
                    "<Message>AWS was not able to validate the provided "
                    "access credentials</Message><Type>Sender</Type></Error>"
                    "</Errors></ErrorResponse>";
    rules[0].headers = "x-amzn-requestid: MOTO1\r\n";
    fakehttp_reset(f);
    CHECK(aws_query(c, AWS_SVC_EC2, NULL, &form, true, &doc, &err) == -1,
          "should fail");
    CHECK(strcmp(err.code, "AuthFailure") == 0 &&
              strcmp(err.request_id, "MOTO1") == 0 &&
              aws_error_errno(&err) == EACCES,
          "hybrid envelope: %s %s", err.code, err.request_id);
    aws_form_release(&form);

    /* non-idempotent POST answered 500: not sent again */
    rules[0].status = 500;
    fakehttp_reset(f);
    aws_form_init(&form, "ImportImage", "2016-11-15");
    CHECK(aws_query(c, AWS_SVC_EC2, NULL, &form, false, &doc, &err) == -1,
          "should fail");
    CHECK(fakehttp_count(f) == 1, "non-idempotent retried: %zu",
          fakehttp_count(f));
    aws_form_release(&form);
    aws_client_free(c);
    fakehttp_stop(f);
}

static void test_iam_query_ok(void)
{
    struct fake_rule rules[] = {
        {"POST", "/", 200, NULL,
         "<GetRoleResponse><GetRoleResult><Role><RoleName>vmimport</RoleName>"
         "</Role></GetRoleResult></GetRoleResponse>", 0, false, 0, 0},
        {0}};
    struct fakehttp *f = start(rules);
    struct aws_client *c;
    struct aws_form form;
    struct aws_error err;
    struct xml_doc *doc = NULL;
    char auth[512] = "";

    setenv("AWS_REGION", "eu-west-1", 1);
    c = new_client(fakehttp_url(f), 0);
    CHECK(strcmp(aws_client_region(c), "eu-west-1") == 0, "region %s",
          aws_client_region(c));
    aws_form_init(&form, "GetRole", "2010-05-08");
    aws_form_add(&form, "RoleName", "vmimport");
    CHECK(aws_query(c, AWS_SVC_IAM, NULL, &form, true, &doc, &err) == 0,
          "query %s", err.message);
    CHECK(strcmp(xml_path(xml_root(doc), "GetRoleResult/Role/RoleName") ?: "",
                 "vmimport") == 0, "xml");
    fakehttp_header(f, 0, "Authorization", auth, sizeof auth);
    CHECK(strstr(auth, "/us-east-1/iam/aws4_request"), "IAM scope: %s", auth);
    xml_free(doc);
    aws_form_release(&form);
    aws_client_free(c);
    setenv("AWS_REGION", "us-east-1", 1);
    fakehttp_stop(f);
}

static void test_dropped_connection(void)
{
    struct fake_rule rules[] = {
        {"GET", "/b/k", 0, NULL, NULL, 1, true, 0, 0},
        {"GET", "/b/k", 200, NULL, "after drop", 0, false, 0, 0},
        {0}};
    struct fakehttp *f = start(rules);
    struct aws_client *c = new_client(fakehttp_url(f), 0);
    struct aws_request r = {.svc = AWS_SVC_S3, .method = "GET", .bucket = "b",
                            .key = "k", .idempotent = true};
    struct aws_response resp;
    struct aws_error err;

    aws_response_init(&resp);
    CHECK(aws_send(c, &r, &resp, &err) == 0, "send: %s", err.message);
    CHECK(strcmp(buf_cstr(&resp.body), "after drop") == 0, "body %s",
          buf_cstr(&resp.body));
    CHECK(fakehttp_count(f) == 2, "requests %zu", fakehttp_count(f));
    aws_response_release(&resp);

    /* always dropped: a network error after max attempts */
    rules[0].times = 0;
    fakehttp_reset(f);
    aws_response_init(&resp);
    CHECK(aws_send(c, &r, &resp, &err) == -1, "should fail");
    CHECK(err.kind == AWS_ERR_NETWORK && aws_error_errno(&err) == EIO,
          "kind %d", err.kind);
    CHECK(fakehttp_count(f) >= 3, "requests %zu", fakehttp_count(f));
    aws_response_release(&resp);
    aws_client_free(c);
    fakehttp_stop(f);
}

struct mem_source {
    const char *data;
    size_t len, off;
    int rewinds;
    size_t chunk;
};

static long src_read(void *ctx, char *dst, size_t n)
{
    struct mem_source *s = ctx;

    if (n > s->chunk)
        n = s->chunk;
    if (n > s->len - s->off)
        n = s->len - s->off;
    memcpy(dst, s->data + s->off, n);
    s->off += n;
    return (long)n;
}

static int src_rewind(void *ctx)
{
    struct mem_source *s = ctx;

    s->off = 0;
    s->rewinds++;
    return 0;
}

static int src_no_rewind(void *ctx)
{
    (void)ctx;
    return -1;
}

static char *pattern(size_t n)
{
    char *p = malloc(n);

    for (size_t i = 0; i < n; i++)
        p[i] = (char)('a' + (i * 7 + i / 13) % 26);
    return p;
}

static void test_stream_rewind(void)
{
    struct fake_rule rules[] = {
        {"PUT", "/b/big", 500, NULL, "<Error><Code>InternalError</Code>"
                                     "</Error>", 1, false, 0, 0},
        {"PUT", "/b/big", 200, "ETag: \"x\"\r\n", "", 0, false, 0, 0},
        {0}};
    struct fakehttp *f = start(rules);
    struct aws_client *c = new_client(fakehttp_url(f), 0);
    size_t n = (3u << 20) + 17; /* > 1 MiB: Expect: 100-continue */
    char *data = pattern(n), want[65];
    struct mem_source ms = {data, n, 0, 0, 100000};
    struct aws_body_source src = {src_read, src_rewind, &ms, n};
    struct aws_request r = {.svc = AWS_SVC_S3, .method = "PUT", .bucket = "b",
                            .key = "big", .source = &src, .idempotent = true};
    struct aws_response resp;
    struct aws_error err;

    aws_response_init(&resp);
    CHECK(aws_send(c, &r, &resp, &err) == 0, "send: %s", err.message);
    CHECK(fakehttp_count(f) == 2, "requests %zu", fakehttp_count(f));
    for (size_t i = 0; i < fakehttp_count(f) && i < 2; i++) {
        const struct fake_req *q = fakehttp_req(f, i);
        CHECK(q->body_len == n && memcmp(q->body, data, n) == 0,
              "body %zu differs (len %zu)", i, q->body_len);
    }
    /* hashed once up front (one rewind) and rewound once for the retry */
    CHECK(ms.rewinds == 2, "rewinds %d", ms.rewinds);
    sigv4_sha256_hex(data, n, want);
    hdr_is(f, 1, "x-amz-content-sha256", want);
    hdr_is(f, 0, "Expect", "100-continue");
    aws_response_release(&resp);

    /* a source that cannot rewind is not retried; the caller's hash is used */
    fakehttp_reset(f);
    ms.off = 0;
    src.rewind = src_no_rewind;
    r.payload_sha256 = want;
    aws_response_init(&resp);
    CHECK(aws_send(c, &r, &resp, &err) == -1, "should fail");
    CHECK(fakehttp_count(f) == 1, "requests %zu", fakehttp_count(f));
    CHECK(err.http_status == 500, "status %d", err.http_status);
    aws_response_release(&resp);
    free(data);
    aws_client_free(c);
    fakehttp_stop(f);
}

/* A body described by a checksum header goes UNSIGNED-PAYLOAD to a
 * loopback endpoint (no SHA-256 pass, no rewind); without one it is still
 * signed (doc/design/perf.md). */
static void test_checksummed_body_unsigned(void)
{
    struct fake_rule rules[] = {
        {"PUT", "/b/k", 200, "ETag: \"x\"\r\n", "", 0, false, 0, 0}, {0}};
    struct fakehttp *f = start(rules);
    struct aws_client *c = new_client(fakehttp_url(f), 0);
    size_t n = 100000;
    char *data = pattern(n), want[65];
    struct mem_source ms = {data, n, 0, 0, 100000};
    struct aws_body_source src = {src_read, src_rewind, &ms, n};
    struct sigv4_header h[1] = {{"x-amz-checksum-crc32c", "AAAAAA=="}};
    struct aws_request r = {.svc = AWS_SVC_S3, .method = "PUT", .bucket = "b",
                            .key = "k", .source = &src, .headers = h,
                            .nheaders = 1, .body_checksummed = true,
                            .idempotent = true};
    struct aws_response resp;
    struct aws_error err;

    aws_response_init(&resp);
    CHECK(aws_send(c, &r, &resp, &err) == 0, "send: %s", err.message);
    hdr_is(f, 0, "x-amz-content-sha256", SIGV4_UNSIGNED_PAYLOAD);
    CHECK(ms.rewinds == 0, "not hashed: rewinds %d", ms.rewinds);
    aws_response_release(&resp);
    fakehttp_reset(f);
    ms.off = 0;
    r.body_checksummed = false;
    aws_response_init(&resp);
    CHECK(aws_send(c, &r, &resp, &err) == 0, "send: %s", err.message);
    sigv4_sha256_hex(data, n, want);
    hdr_is(f, 0, "x-amz-content-sha256", want);
    aws_response_release(&resp);
    free(data);
    aws_client_free(c);
    fakehttp_stop(f);
}

static void test_head_and_s3_errors(void)
{
    struct fake_rule rules[] = {
        {"HEAD", "/b/missing", 404, "x-amz-request-id: RID9\r\n", "", 0,
         false, 0, 0},
        {"GET", "/b/missing", 404, NULL,
         "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey"
         "</Code><Message>The specified key does not exist.</Message><Key>"
         "missing</Key><RequestId>4442587FB7D0A2F9</RequestId></Error>", 0,
         false, 0, 0},
        {"GET", "/b/slow", 503, NULL, S3_SLOWDOWN, 0, false, 0, 0},
        {0}};
    struct fakehttp *f = start(rules);
    struct aws_client *c = new_client(fakehttp_url(f), 0);
    struct aws_request r = {.svc = AWS_SVC_S3, .method = "HEAD", .bucket = "b",
                            .key = "missing", .idempotent = true};
    struct aws_response resp;
    struct aws_error err;
    char line[700];

    aws_response_init(&resp);
    CHECK(aws_send(c, &r, &resp, &err) == -1, "HEAD should fail");
    CHECK(strcmp(err.code, "404") == 0 && err.http_status == 404 &&
              strcmp(err.request_id, "RID9") == 0 &&
              aws_error_errno(&err) == ENOENT,
          "HEAD err %s %d %s", err.code, err.http_status, err.request_id);
    r.method = "GET";
    CHECK(aws_send(c, &r, &resp, &err) == -1, "GET should fail");
    CHECK(strcmp(err.code, "NoSuchKey") == 0 &&
              strcmp(err.request_id, "4442587FB7D0A2F9") == 0,
          "GET err %s %s", err.code, err.request_id);
    aws_error_format(&err, line, sizeof line);
    CHECK(strcmp(line, "NoSuchKey: The specified key does not exist. (HTTP "
                       "404, 4442587FB7D0A2F9)") == 0, "format %s", line);
    r.key = "slow";
    fakehttp_reset(f);
    CHECK(aws_send(c, &r, &resp, &err) == -1, "slow should fail");
    CHECK(fakehttp_count(f) == 3 && strcmp(err.code, "SlowDown") == 0 &&
              aws_error_errno(&err) == EAGAIN,
          "throttled: %zu %s", fakehttp_count(f), err.code);
    aws_response_release(&resp);
    aws_client_free(c);
    fakehttp_stop(f);
}

static void test_expired_token_and_skew(void)
{
    char date_hdr[128];
    time_t ahead = time(NULL) + 3600;
    struct tm tm;
    struct fake_rule rules[] = {
        {"GET", "/b/t", 400, NULL,
         "<Error><Code>ExpiredToken</Code><Message>The provided token has "
         "expired.</Message></Error>", 1, false, 0, 0},
        {"GET", "/b/t", 200, NULL, "ok", 0, false, 0, 0},
        {"GET", "/b/skew", 403, date_hdr,
         "<Error><Code>RequestTimeTooSkewed</Code><Message>The difference "
         "between the request time and the current time is too large."
         "</Message></Error>", 1, false, 0, 0},
        {"GET", "/b/skew", 200, NULL, "ok", 0, false, 0, 0},
        {0}};
    struct fakehttp *f;
    struct aws_client *c;
    struct aws_request r = {.svc = AWS_SVC_S3, .method = "GET", .bucket = "b",
                            .key = "t", .idempotent = true};
    struct aws_response resp;
    struct aws_error err;
    char amzdate[32] = "", want[17], d8[9];

    gmtime_r(&ahead, &tm);
    strftime(date_hdr, sizeof date_hdr, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n",
             &tm);
    f = start(rules);
    c = new_client(fakehttp_url(f), 0);
    aws_response_init(&resp);
    CHECK(aws_send(c, &r, &resp, &err) == 0, "expired: %s", err.message);
    CHECK(fakehttp_count(f) == 2, "requests %zu", fakehttp_count(f));
    fakehttp_reset(f);
    r.key = "skew";
    CHECK(aws_send(c, &r, &resp, &err) == 0, "skew: %s", err.message);
    CHECK(fakehttp_count(f) == 2, "requests %zu", fakehttp_count(f));
    fakehttp_header(f, 1, "X-Amz-Date", amzdate, sizeof amzdate);
    sigv4_amz_date((long long)ahead, want, d8);
    /* same hour as the server's clock (allow a minute of test slowness) */
    CHECK(strncmp(amzdate, want, 11) == 0, "re-signed date %s, server %s",
          amzdate, want);
    aws_response_release(&resp);
    aws_client_free(c);
    fakehttp_stop(f);
}

static int sink_fn(void *ctx, const char *data, size_t n)
{
    return buf_append(ctx, data, n) ? -1 : 0;
}

static int sink_fail(void *ctx, const char *data, size_t n)
{
    (void)ctx, (void)data, (void)n;
    return -1;
}

static void test_sink_and_url(void)
{
    struct fake_rule rules[] = {
        {"GET", "/b/obj", 200, NULL, "streamed bytes", 0, false, 0, 0},
        {"PUT", "/latest/api/token", 200, NULL, "TOKEN", 0, false, 0, 0},
        {0}};
    struct fakehttp *f = start(rules);
    struct aws_client *c = new_client(fakehttp_url(f), 0);
    struct buf got;
    struct aws_request r = {.svc = AWS_SVC_S3, .method = "GET", .bucket = "b",
                            .key = "obj", .sink = sink_fn, .sink_ctx = &got,
                            .idempotent = true};
    struct sigv4_header th = {"X-aws-ec2-metadata-token-ttl-seconds", "21600"};
    struct aws_request u = {.method = "PUT", .headers = &th, .nheaders = 1};
    struct aws_response resp;
    struct aws_error err;
    char url[128];

    buf_init(&got, 0);
    aws_response_init(&resp);
    CHECK(aws_send(c, &r, &resp, &err) == 0, "sink: %s", err.message);
    CHECK(strcmp(buf_cstr(&got), "streamed bytes") == 0 && resp.body.len == 0,
          "sink got %s, body %zu", buf_cstr(&got), resp.body.len);
    r.sink = sink_fail;
    CHECK(aws_send(c, &r, &resp, &err) == -1 && err.kind == AWS_ERR_IO,
          "sink failure kind %d", err.kind);
    snprintf(url, sizeof url, "%s/latest/api/token", fakehttp_url(f));
    u.url = url;
    fakehttp_reset(f);
    CHECK(aws_send(c, &u, &resp, &err) == 0, "url: %s", err.message);
    CHECK(strcmp(buf_cstr(&resp.body), "TOKEN") == 0, "token %s",
          buf_cstr(&resp.body));
    hdr_is(f, 0, "Authorization", NULL);
    hdr_is(f, 0, "X-aws-ec2-metadata-token-ttl-seconds", "21600");
    buf_release(&got);
    aws_response_release(&resp);
    aws_client_free(c);
    fakehttp_stop(f);
}

static void test_unreachable(void)
{
    struct aws_client *c;
    struct aws_request r = {.svc = AWS_SVC_EC2, .method = "POST",
                            .body = "Action=X", .body_len = 8};
    struct aws_response resp;
    struct aws_error err;
    struct fakehttp *f;
    struct fake_rule none[] = {{0}};
    char url[64];

    /* a port nobody listens on: the request never left, so even a
     * non-idempotent call is retried (and then fails as a network error) */
    f = start(none);
    snprintf(url, sizeof url, "%s", fakehttp_url(f));
    fakehttp_stop(f);
    c = new_client(url, 2);
    aws_response_init(&resp);
    CHECK(aws_send(c, &r, &resp, &err) == -1, "should fail");
    CHECK(err.kind == AWS_ERR_NETWORK, "kind %d %s", err.kind, err.message);
    CHECK(aws_client_attempts(c) == 2, "attempts %llu",
          (unsigned long long)aws_client_attempts(c));
    aws_response_release(&resp);
    aws_client_free(c);
}

static void test_timeout(void)
{
    struct fake_rule rules[] = {
        {"GET", "/b/slow", 200, NULL, "late", 0, false, 0, 2000},
        {0}};
    struct fakehttp *f = start(rules);
    struct aws_client *c = new_client(fakehttp_url(f), 0);
    struct aws_request r = {.svc = AWS_SVC_S3, .method = "GET", .bucket = "b",
                            .key = "slow", .idempotent = true,
                            .timeout_ms = 200, .max_attempts = 2};
    struct aws_response resp;
    struct aws_error err;

    aws_response_init(&resp);
    CHECK(aws_send(c, &r, &resp, &err) == -1, "should time out");
    CHECK(err.kind == AWS_ERR_TIMEOUT && aws_error_errno(&err) == ETIMEDOUT,
          "kind %d", err.kind);
    CHECK(aws_client_attempts(c) == 2, "timeouts retried: %llu",
          (unsigned long long)aws_client_attempts(c));
    aws_response_release(&resp);
    aws_client_free(c);
    fakehttp_stop(f);
}

struct par {
    struct aws_client *c;
    int ok;
};

static void *par_main(void *arg)
{
    struct par *p = arg;
    struct aws_request r = {.svc = AWS_SVC_S3, .method = "GET", .bucket = "b",
                            .key = "k", .idempotent = true};
    struct aws_response resp;
    struct aws_error err;

    for (int i = 0; i < 25; i++) {
        aws_response_init(&resp);
        if (aws_send(p->c, &r, &resp, &err) == 0 &&
            strcmp(buf_cstr(&resp.body), "par") == 0)
            p->ok++;
        aws_response_release(&resp);
    }
    return NULL;
}

static void test_parallel(void)
{
    struct fake_rule rules[] = {{"GET", "/b/k", 200, NULL, "par", 0, false, 0, 0},
                                {0}};
    struct fakehttp *f = start(rules);
    struct aws_client *c = new_client(fakehttp_url(f), 0);
    pthread_t t[4];
    struct par p[4];

    for (int i = 0; i < 4; i++) {
        p[i] = (struct par){c, 0};
        pthread_create(&t[i], NULL, par_main, &p[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK(p[i].ok == 25, "thread %d: %d ok", i, p[i].ok);
    }
    aws_client_free(c);
    fakehttp_stop(f);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define RUN(fn)                                                              \
    do {                                                                     \
        double t0 = now_s();                                                 \
        fn();                                                                \
        printf("%-28s %.3f s\n", #fn, now_s() - t0);                        \
    } while (0)

int main(void)
{
    setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "SECRETKEYTEST", 1);
    setenv("AWS_REGION", "us-east-1", 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    setenv("AWS_CONFIG_FILE", "/nonexistent/amifs-config", 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/amifs-creds", 1);
    unsetenv("AWS_PROFILE");
    unsetenv("AWS_DEFAULT_PROFILE");
    unsetenv("AWS_SESSION_TOKEN");
    unsetenv("AWS_ENDPOINT_URL");
    unsetenv("AWS_MAX_ATTEMPTS");
    RUN(test_retry_503);
    RUN(test_200_error);
    RUN(test_no_retry_400);
    RUN(test_iam_query_ok);
    RUN(test_dropped_connection);
    RUN(test_stream_rewind);
    RUN(test_checksummed_body_unsigned);
    RUN(test_head_and_s3_errors);
    RUN(test_expired_token_and_skew);
    RUN(test_sink_and_url);
    RUN(test_unreachable);
    RUN(test_timeout);
    RUN(test_parallel);
    printf("client: %d failures\n", failures);
    return failures ? 1 : 0;
}
