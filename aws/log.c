/* log.c — format a message and hand it to the installed logger. */
#include "aws/log.h"

#include <stdarg.h>
#include <stdio.h>

void aws_log(const struct aws_logger *lg, enum aws_log_level level,
             const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (!lg || !lg->fn || level > lg->level)
        return;
    /* One bounded line; a longer message is truncated rather than allocated,
     * so logging never fails and never needs cleanup. */
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    lg->fn(lg->ctx, level, msg);
}
