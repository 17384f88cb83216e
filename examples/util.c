/* util.c — shared pieces of the example programs (see util.h). */
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void log_stderr(void *ctx, enum aws_log_level level, const char *msg)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    fprintf(stderr, "%s: %s: %s\n", (const char *)ctx,
            names[level <= AWS_LOG_DEBUG ? level : AWS_LOG_DEBUG], msg);
}

static enum aws_log_level env_level(void)
{
    const char *v = getenv("AMIFS_LOG");
    if (v && strcasecmp(v, "debug") == 0)
        return AWS_LOG_DEBUG;
    if (v && strcasecmp(v, "info") == 0)
        return AWS_LOG_INFO;
    if (v && strcasecmp(v, "error") == 0)
        return AWS_LOG_ERROR;
    return AWS_LOG_WARN;
}

struct aws_client *example_client(const char *prog)
{
    struct aws_client_options o;
    struct aws_error err;
    memset(&o, 0, sizeof o);
    o.logger.fn = log_stderr;
    o.logger.ctx = (void *)prog;
    o.logger.level = env_level();
    /* Tests shorten the retry backoff; everything else is the CLI's. */
    const char *base = getenv("AMIFS_RETRY_BASE_MS");
    o.retry_base_ms = base ? strtol(base, NULL, 10) : 0;
    struct aws_client *c = aws_client_new(&o, &err);
    if (!c)
        example_error(prog, "configuration", &err);
    return c;
}

int example_s3_url(const char *url, char **bucket, char **key, char **owned)
{
    if (strncmp(url, "s3://", 5) != 0 || !url[5] || url[5] == '/')
        return -1;
    char *copy = strdup(url + 5);
    if (!copy)
        return -1;
    char *slash = strchr(copy, '/');
    *bucket = copy;
    *key = slash ? slash + 1 : copy + strlen(copy);
    if (slash)
        *slash = '\0';
    *owned = copy;
    return 0;
}

void example_error(const char *prog, const char *what,
                   const struct aws_error *err)
{
    char line[1024];
    aws_error_format(err, line, sizeof line);
    fprintf(stderr, "%s: %s: %s\n", prog, what, line);
}
