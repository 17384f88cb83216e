/*
 * err.h — errors as values.
 *
 * Every aws/ call that can fail takes a `struct aws_error *` (never NULL) and
 * returns 0 on success or -1 after filling it. `kind` says what class of
 * failure it was; for AWS_ERR_SERVICE the HTTP status, the AWS error `code`
 * (e.g. "NoSuchKey", "SlowDown", "InvalidParameter") and `message` are those the
 * service sent, and `request_id` its request id. Strings are always
 * NUL-terminated (truncated if too long) and never hold credentials.
 *
 * aws_error_errno() is the one table that turns an error into an errno for
 * fs/; nothing else in the project maps AWS errors to errno values.
 */
#ifndef AMIFS_AWS_ERR_H
#define AMIFS_AWS_ERR_H

#include <stdbool.h>

enum aws_errc {
    AWS_OK = 0,
    AWS_ERR_NOMEM,       /* allocation failed */
    AWS_ERR_INVALID,     /* the caller passed something unusable */
    AWS_ERR_CONFIG,      /* config/credentials files unusable, no region… */
    AWS_ERR_CREDENTIALS, /* no credentials could be resolved */
    AWS_ERR_NETWORK,     /* connect/send/receive failed, connection dropped */
    AWS_ERR_TIMEOUT,     /* no progress within the configured time */
    AWS_ERR_TLS,         /* certificate verification or handshake failed */
    AWS_ERR_SERVICE,     /* the service answered an error (see code/status) */
    AWS_ERR_PARSE,       /* the service's answer could not be understood */
    AWS_ERR_INTEGRITY,   /* a checksum/ETag did not match */
    AWS_ERR_TOO_LARGE,   /* an S3 limit (object size, part count) reached */
    AWS_ERR_ABORTED,     /* cancelled by our own caller (abort, shutdown) */
    AWS_ERR_IO,          /* a local read/write callback failed */
};

struct aws_error {
    enum aws_errc kind;
    int http_status;      /* 0 when no HTTP answer was received */
    char code[64];        /* AWS error code, "" when none */
    char message[512];    /* human sentence, "" when none */
    char request_id[128]; /* x-amz-request-id / RequestId, "" when none */
};

void aws_error_clear(struct aws_error *e);
/* Set kind and a formatted message; clears status, code and request id.
 * Returns -1 so callers can `return aws_error_set(...)`. */
int aws_error_set(struct aws_error *e, enum aws_errc kind, const char *fmt,
                  ...) __attribute__((format(printf, 3, 4)));
/* Set a service error from what the service sent. Returns -1. */
int aws_error_service(struct aws_error *e, int http_status, const char *code,
                      const char *message, const char *request_id);

/* The errno that best tells a file-system caller what happened (EIO, EACCES,
 * ENOENT, ENOSPC, EFBIG, EAGAIN, ETIMEDOUT, EINVAL, ENOMEM, ECANCELED…). */
int aws_error_errno(const struct aws_error *e);

/* Whether the SDKs' standard retry mode would retry it, and whether it is a
 * throttling error (which the retry logic may treat differently). */
bool aws_error_retryable(const struct aws_error *e, bool *throttling);

/* "network error", "service error"… for logs. */
const char *aws_errc_name(enum aws_errc kind);

/* One line for logs and status files: `Code: message (HTTP 403, request id)`
 * or the kind's name and message. Writes at most `n` bytes including NUL. */
void aws_error_format(const struct aws_error *e, char *out, unsigned n);

#endif
