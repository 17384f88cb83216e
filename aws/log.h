/*
 * log.h — how aws/ (and ova/-style libraries) report what they do.
 *
 * The library never writes to stderr or syslog itself. Whoever creates a client
 * installs a `struct aws_logger`; with no callback installed, nothing is logged.
 * Messages never contain secrets (secret keys, session tokens, signatures,
 * Authorization headers): callers of aws_log() must not pass them.
 *
 * Threads: aws_log() is called from any thread at once (request threads,
 * the uploader's workers, the credentials refresh); the callback must be
 * thread-safe. The logger struct itself is copied into the client at
 * creation and never changes afterwards. Levels: ERROR for what failed a
 * caller's operation, WARN for what was worked around (a failed refresh
 * while the old credentials still work), INFO for one-off facts, DEBUG for
 * every attempt.
 */
#ifndef AMIFS_AWS_LOG_H
#define AMIFS_AWS_LOG_H

enum aws_log_level {
    AWS_LOG_ERROR = 0,
    AWS_LOG_WARN,
    AWS_LOG_INFO,
    AWS_LOG_DEBUG,
};

typedef void (*aws_log_fn)(void *ctx, enum aws_log_level level,
                           const char *msg);

struct aws_logger {
    aws_log_fn fn;            /* NULL: log nothing */
    void *ctx;                /* passed back to fn */
    enum aws_log_level level; /* messages above this level are dropped */
};

/* Format and pass one message to the logger (no trailing newline needed). */
void aws_log(const struct aws_logger *lg, enum aws_log_level level,
             const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
