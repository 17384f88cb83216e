/* test_err.c — the AWS error → errno table, retryability, formatting. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "aws/err.h"
#include "check.h"

struct svc_case {
    int status;
    const char *code;
    int want;
};

static const struct svc_case svc_cases[] = {
    {404, "NoSuchKey", ENOENT}, {404, "NoSuchBucket", ENOENT},
    {404, "NoSuchUpload", ENOENT}, {404, "NoSuchEntity", ENOENT},
    {400, "InvalidAMIID.NotFound", ENOENT},
    {400, "InvalidSnapshot.NotFound", ENOENT},
    {400, "InvalidConversionTaskId", ENOENT},
    {404, "404", ENOENT}, {403, "403", EACCES},
    {403, "AccessDenied", EACCES}, {403, "UnauthorizedOperation", EACCES},
    {401, "AuthFailure", EACCES}, {403, "SignatureDoesNotMatch", EACCES},
    {403, "InvalidAccessKeyId", EACCES}, {400, "ExpiredToken", EACCES},
    {403, "RequestTimeTooSkewed", EACCES},
    {400, "EntityTooLarge", EFBIG},
    {400, "ResourceLimitExceeded", EDQUOT}, {409, "LimitExceeded", EDQUOT},
    {409, "EntityAlreadyExists", EEXIST}, {409, "BucketNotEmpty", ENOTEMPTY},
    {412, "PreconditionFailed", ESTALE}, {409, "ConcurrentModification", EBUSY},
    {503, "SlowDown", EAGAIN}, {503, "RequestLimitExceeded", EAGAIN},
    {400, "Throttling", EAGAIN}, {429, "TooManyRequestsException", EAGAIN},
    {400, "RequestTimeout", ETIMEDOUT}, {504, "504", ETIMEDOUT},
    {400, "InvalidArgument", EINVAL}, {400, "InvalidParameter", EINVAL},
    {400, "InvalidParameterValue", EINVAL}, {400, "MissingParameter", EINVAL},
    {400, "MalformedXML", EINVAL}, {400, "EntityTooSmall", EINVAL},
    {400, "InvalidPart", EINVAL}, {416, "InvalidRange", EINVAL},
    {400, "BadDigest", EIO}, {400, "XAmzContentSHA256Mismatch", EIO},
    {500, "InternalError", EIO}, {501, "NotImplemented", EOPNOTSUPP},
    {400, "SomethingNew", EINVAL}, {500, "SomethingNew", EIO},
    {409, "SomethingNew", EBUSY},
};

static void test_service_errno(void)
{
    struct aws_error e;

    for (size_t i = 0; i < sizeof svc_cases / sizeof svc_cases[0]; i++) {
        const struct svc_case *c = &svc_cases[i];
        aws_error_service(&e, c->status, c->code, "m", "r");
        CHECK(aws_error_errno(&e) == c->want, "%s/%d: errno %d, want %d",
              c->code, c->status, aws_error_errno(&e), c->want);
    }
}

static void test_kind_errno(void)
{
    static const struct {
        enum aws_errc kind;
        int want;
    } kinds[] = {
        {AWS_OK, 0}, {AWS_ERR_NOMEM, ENOMEM}, {AWS_ERR_INVALID, EINVAL},
        {AWS_ERR_CONFIG, EINVAL}, {AWS_ERR_CREDENTIALS, EACCES},
        {AWS_ERR_NETWORK, EIO}, {AWS_ERR_TIMEOUT, ETIMEDOUT},
        {AWS_ERR_TLS, EIO}, {AWS_ERR_PARSE, EPROTO},
        {AWS_ERR_INTEGRITY, EIO}, {AWS_ERR_TOO_LARGE, EFBIG},
        {AWS_ERR_ABORTED, ECANCELED}, {AWS_ERR_IO, EIO},
    };
    struct aws_error e;

    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        aws_error_set(&e, kinds[i].kind, "x");
        CHECK(aws_error_errno(&e) == kinds[i].want, "kind %d: %d want %d",
              kinds[i].kind, aws_error_errno(&e), kinds[i].want);
        CHECK(strcmp(aws_errc_name(kinds[i].kind), "unknown error") != 0,
              "name of %d", kinds[i].kind);
    }
}

static void test_retryable(void)
{
    struct aws_error e;
    bool thr;

    aws_error_service(&e, 503, "SlowDown", "", "");
    CHECK(aws_error_retryable(&e, &thr) && thr, "SlowDown");
    aws_error_service(&e, 400, "Throttling", "", "");
    CHECK(aws_error_retryable(&e, &thr) && thr, "Throttling");
    aws_error_service(&e, 500, "InternalError", "", "");
    CHECK(aws_error_retryable(&e, &thr) && !thr, "500");
    aws_error_service(&e, 502, "502", "", "");
    CHECK(aws_error_retryable(&e, NULL), "502");
    aws_error_service(&e, 400, "RequestTimeout", "", "");
    CHECK(aws_error_retryable(&e, &thr) && !thr, "RequestTimeout");
    aws_error_service(&e, 400, "InvalidParameter", "", "");
    CHECK(!aws_error_retryable(&e, &thr) && !thr, "400 not retryable");
    aws_error_service(&e, 404, "NoSuchKey", "", "");
    CHECK(!aws_error_retryable(&e, NULL), "404 not retryable");
    aws_error_set(&e, AWS_ERR_NETWORK, "reset");
    CHECK(aws_error_retryable(&e, NULL), "network");
    aws_error_set(&e, AWS_ERR_TIMEOUT, "slow");
    CHECK(aws_error_retryable(&e, NULL), "timeout");
    aws_error_set(&e, AWS_ERR_TLS, "cert");
    CHECK(!aws_error_retryable(&e, NULL), "tls");
    aws_error_set(&e, AWS_ERR_IO, "local");
    CHECK(!aws_error_retryable(&e, NULL), "io");
}

static void test_format_and_truncation(void)
{
    struct aws_error e;
    char out[600], small[12], longcode[200];

    aws_error_service(&e, 403, "AccessDenied", "Access Denied", "RID1");
    aws_error_format(&e, out, sizeof out);
    CHECK(strcmp(out, "AccessDenied: Access Denied (HTTP 403, RID1)") == 0,
          "%s", out);
    aws_error_service(&e, 404, "404", "Not Found", "");
    aws_error_format(&e, out, sizeof out);
    CHECK(strcmp(out, "404: Not Found (HTTP 404)") == 0, "%s", out);
    CHECK(aws_error_set(&e, AWS_ERR_NETWORK, "connect to %s", "h") == -1,
          "set returns -1");
    CHECK(e.http_status == 0 && e.code[0] == 0, "set clears");
    aws_error_format(&e, out, sizeof out);
    CHECK(strcmp(out, "network error: connect to h") == 0, "%s", out);
    aws_error_format(&e, small, sizeof small);
    CHECK(strlen(small) == sizeof small - 1, "truncated format");
    memset(longcode, 'C', sizeof longcode - 1);
    longcode[sizeof longcode - 1] = '\0';
    CHECK(aws_error_service(&e, 400, longcode, NULL, NULL) == -1, "ret");
    CHECK(strlen(e.code) == sizeof e.code - 1 && e.message[0] == 0 &&
              e.request_id[0] == 0, "bounded copy");
    aws_error_clear(&e);
    CHECK(e.kind == AWS_OK && aws_error_errno(&e) == 0, "clear");
}

int main(void)
{
    test_service_errno();
    test_kind_errno();
    test_retryable();
    test_format_and_truncation();
    printf("err: %d failures\n", failures);
    return failures ? 1 : 0;
}
