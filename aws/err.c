/*
 * err.c — errors as values, and the one AWS-error → errno table.
 *
 * The errno choices, so fs/ and users see one consistent story:
 *
 *   not found   NoSuchKey, NoSuchBucket, NoSuchUpload, NoSuchEntity, any
 *               "*.NotFound" / InvalidConversionTaskId, HTTP 404     ENOENT
 *   denied      AccessDenied, UnauthorizedOperation, AuthFailure,
 *               SignatureDoesNotMatch, InvalidAccessKeyId, expired or
 *               invalid tokens, clock skew that survived correction,
 *               HTTP 401/403, and AWS_ERR_CREDENTIALS               EACCES
 *   too big     EntityTooLarge, HTTP 413, AWS_ERR_TOO_LARGE          EFBIG
 *   quota       LimitExceeded, ResourceLimitExceeded, TooManyBuckets,
 *               ResourceCountLimitExceeded (import-task quota),
 *               a service quota: "Disk quota exceeded" tells the user
 *               it is a limit, not a missing disk                    EDQUOT
 *   exists      EntityAlreadyExists, BucketAlreadyExists…            EEXIST
 *   not empty   BucketNotEmpty                                       ENOTEMPTY
 *   changed     PreconditionFailed, HTTP 412 (someone else wrote),   ESTALE
 *               ConditionalRequestConflict (409, a racing write)
 *   busy        ConcurrentModification, IncorrectState, HTTP 409     EBUSY
 *   unsupported NotImplemented, HTTP 501                             EOPNOTSUPP
 *   throttled   any throttling code or 429/503 after retries ran out EAGAIN
 *   timeout     AWS_ERR_TIMEOUT, RequestTimeout, HTTP 504            ETIMEDOUT
 *   invalid     InvalidArgument, InvalidParameter*, MalformedXML,
 *               EntityTooSmall, InvalidPart…, other 4xx, AWS_ERR_INVALID,
 *               AWS_ERR_CONFIG                                       EINVAL
 *   integrity   BadDigest, XAmzContentSHA256Mismatch, AWS_ERR_INTEGRITY EIO
 *   network     AWS_ERR_NETWORK, AWS_ERR_TLS: EIO rather than ENOTCONN,
 *               which users know as "the FUSE daemon died"          EIO
 *   garbled     AWS_ERR_PARSE: the answer was not understood         EPROTO
 *   cancelled   AWS_ERR_ABORTED                                      ECANCELED
 *   local       AWS_ERR_IO, 5xx, anything else                       EIO
 */
#include "aws/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void aws_error_clear(struct aws_error *e)
{
    memset(e, 0, sizeof *e);
}

/* Bounded copy that always terminates; NULL copies as "". */
static void copy_str(char *dst, size_t n, const char *src)
{
    size_t len = src ? strlen(src) : 0;

    if (len >= n)
        len = n - 1;
    if (len)
        memcpy(dst, src, len);
    dst[len] = '\0';
}

int aws_error_set(struct aws_error *e, enum aws_errc kind, const char *fmt,
                  ...)
{
    va_list ap;

    aws_error_clear(e);
    e->kind = kind;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

int aws_error_service(struct aws_error *e, int http_status, const char *code,
                      const char *message, const char *request_id)
{
    aws_error_clear(e);
    e->kind = AWS_ERR_SERVICE;
    e->http_status = http_status;
    copy_str(e->code, sizeof e->code, code);
    copy_str(e->message, sizeof e->message, message);
    copy_str(e->request_id, sizeof e->request_id, request_id);
    return -1;
}

/* Codes from doc/AWS.md "Retries" (standard retry mode's throttling set). */
static const char *const throttling_codes[] = {
    "Throttling", "ThrottlingException", "ThrottledException",
    "RequestThrottledException", "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException", "RequestLimitExceeded",
    "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled",
    "SlowDown", "EC2ThrottledException", NULL,
};

static const char *const transient_codes[] = {
    "RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete",
    "InternalError", "InternalFailure", "ServiceUnavailable", "Unavailable",
    "ServiceFailure", "IDPCommunicationError", NULL,
};

static bool in_list(const char *const *list, const char *code)
{
    for (; *list; list++)
        if (strcmp(*list, code) == 0)
            return true;
    return false;
}

bool aws_error_retryable(const struct aws_error *e, bool *throttling)
{
    bool thr = false, retry = false;

    switch (e->kind) {
    case AWS_ERR_NETWORK:
    case AWS_ERR_TIMEOUT:
        retry = true;
        break;
    case AWS_ERR_SERVICE:
        thr = in_list(throttling_codes, e->code) || e->http_status == 429;
        retry = thr || in_list(transient_codes, e->code) ||
                e->http_status == 500 || e->http_status == 502 ||
                e->http_status == 503 || e->http_status == 504;
        break;
    default:
        break;
    }
    if (throttling)
        *throttling = thr;
    return retry;
}

struct code_errno {
    const char *code;
    int err;
};

static const struct code_errno code_table[] = {
    {"NoSuchKey", ENOENT}, {"NoSuchBucket", ENOENT},
    {"NoSuchUpload", ENOENT}, {"NoSuchEntity", ENOENT},
    {"NoSuchVersion", ENOENT}, {"InvalidConversionTaskId", ENOENT},
    {"AccessDenied", EACCES}, {"UnauthorizedOperation", EACCES},
    {"AuthFailure", EACCES}, {"SignatureDoesNotMatch", EACCES},
    {"InvalidAccessKeyId", EACCES}, {"InvalidClientTokenId", EACCES},
    {"ExpiredToken", EACCES}, {"ExpiredTokenException", EACCES},
    {"InvalidToken", EACCES}, {"RequestTimeTooSkewed", EACCES},
    {"RequestExpired", EACCES}, {"AllAccessDisabled", EACCES},
    {"AccountProblem", EACCES}, {"OptInRequired", EACCES},
    {"RegionDisabledException", EACCES},
    {"AccessDeniedException", EACCES}, {"NotFoundException", ENOENT},
    {"DisabledException", EACCES}, {"KMSInvalidStateException", EINVAL},
    {"EntityTooLarge", EFBIG},
    {"LimitExceeded", EDQUOT}, {"ResourceLimitExceeded", EDQUOT},
    {"TooManyBuckets", EDQUOT},
    {"EntityAlreadyExists", EEXIST}, {"BucketAlreadyExists", EEXIST},
    {"BucketAlreadyOwnedByYou", EEXIST}, {"InvalidAMIName.Duplicate", EEXIST},
    {"BucketNotEmpty", ENOTEMPTY},
    {"PreconditionFailed", ESTALE}, {"ConditionalRequestConflict", ESTALE},
    {"ResourceCountLimitExceeded", EDQUOT},
    {"ConcurrentModification", EBUSY}, {"IncorrectState", EBUSY},
    {"OperationAborted", EBUSY},
    {"NotImplemented", EOPNOTSUPP}, {"NotExportable", EOPNOTSUPP},
    {"RequestTimeout", ETIMEDOUT}, {"RequestTimeoutException", ETIMEDOUT},
    {"BadDigest", EIO}, {"XAmzContentSHA256Mismatch", EIO},
    {"InternalError", EIO},
    {NULL, 0},
};

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int status_errno(int status)
{
    switch (status) {
    case 401: case 403: return EACCES;
    case 404: return ENOENT;
    case 409: return EBUSY;
    case 412: return ESTALE;
    case 413: return EFBIG;
    case 429: case 503: return EAGAIN;
    case 501: return EOPNOTSUPP;
    case 504: return ETIMEDOUT;
    default: break;
    }
    if (status >= 400 && status < 500)
        return EINVAL;
    return EIO;
}

static int service_errno(const struct aws_error *e)
{
    const struct code_errno *t;
    bool thr;

    for (t = code_table; t->code; t++)
        if (strcmp(t->code, e->code) == 0)
            return t->err;
    aws_error_retryable(e, &thr);
    if (thr)
        return EAGAIN;
    if (ends_with(e->code, ".NotFound"))
        return ENOENT;
    if (strncmp(e->code, "Invalid", 7) == 0 ||
        strncmp(e->code, "Malformed", 9) == 0 ||
        strncmp(e->code, "Missing", 7) == 0 ||
        strcmp(e->code, "EntityTooSmall") == 0 ||
        strcmp(e->code, "ValidationError") == 0)
        return EINVAL;
    return status_errno(e->http_status);
}

int aws_error_errno(const struct aws_error *e)
{
    switch (e->kind) {
    case AWS_OK: return 0;
    case AWS_ERR_NOMEM: return ENOMEM;
    case AWS_ERR_INVALID: case AWS_ERR_CONFIG: return EINVAL;
    case AWS_ERR_CREDENTIALS: return EACCES;
    case AWS_ERR_TIMEOUT: return ETIMEDOUT;
    case AWS_ERR_SERVICE: return service_errno(e);
    case AWS_ERR_PARSE: return EPROTO;
    case AWS_ERR_TOO_LARGE: return EFBIG;
    case AWS_ERR_ABORTED: return ECANCELED;
    case AWS_ERR_NETWORK: case AWS_ERR_TLS: case AWS_ERR_INTEGRITY:
    case AWS_ERR_IO: return EIO;
    }
    return EIO;
}

const char *aws_errc_name(enum aws_errc kind)
{
    static const char *const names[] = {
        [AWS_OK] = "ok",
        [AWS_ERR_NOMEM] = "out of memory",
        [AWS_ERR_INVALID] = "invalid argument",
        [AWS_ERR_CONFIG] = "configuration error",
        [AWS_ERR_CREDENTIALS] = "credentials error",
        [AWS_ERR_NETWORK] = "network error",
        [AWS_ERR_TIMEOUT] = "timeout",
        [AWS_ERR_TLS] = "TLS error",
        [AWS_ERR_SERVICE] = "service error",
        [AWS_ERR_PARSE] = "parse error",
        [AWS_ERR_INTEGRITY] = "integrity error",
        [AWS_ERR_TOO_LARGE] = "limit reached",
        [AWS_ERR_ABORTED] = "aborted",
        [AWS_ERR_IO] = "local I/O error",
    };

    if ((unsigned)kind < sizeof names / sizeof names[0] && names[kind])
        return names[kind];
    return "unknown error";
}

void aws_error_format(const struct aws_error *e, char *out, unsigned n)
{
    if (!n)
        return;
    if (e->kind == AWS_ERR_SERVICE) {
        snprintf(out, n, "%s: %s (HTTP %d%s%s)",
                 e->code[0] ? e->code : "Error",
                 e->message[0] ? e->message : "(no message)", e->http_status,
                 e->request_id[0] ? ", " : "", e->request_id);
        return;
    }
    if (e->message[0])
        snprintf(out, n, "%s: %s", aws_errc_name(e->kind), e->message);
    else
        snprintf(out, n, "%s", aws_errc_name(e->kind));
}
