/*
 * amis_retire.c — deprecation and disabled files (contract:
 * amis_retire.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "aws/ec2.h"
#include "fs/amis_retire.h"

/* The value without surrounding blanks and one trailing newline. */
static void trim(const char *text, size_t n, char *out, size_t on)
{
    while (n && (text[n - 1] == '\n' || text[n - 1] == '\r' ||
                 text[n - 1] == ' '))
        n--;
    while (n && *text == ' ')
        text++, n--;
    snprintf(out, on, "%.*s", (int)n, text);
}

/* YYYY-MM-DDTHH:MM[:SS][Z] → the ISO form EC2 takes; -EINVAL otherwise. */
static int parse_time(const char *v, char *out, size_t n)
{
    struct tm tm;
    const char *end;
    memset(&tm, 0, sizeof(tm));
    end = strptime(v, "%Y-%m-%dT%H:%M", &tm);
    if (end && *end == ':')
        end = strptime(end, ":%S", &tm);
    if (end && *end == 'Z')
        end++;
    if (!end || *end)
        return -EINVAL;
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return 0;
}

static int call(struct amifs *fs, struct aws_client *c, const char *region,
                const char *action, const char *id, const char *name,
                const char *value, const char *what)
{
    struct aws_error err;
    char line[512];
    aws_error_clear(&err);
    if (ec2_image_action(c, region, action, id, name, value, &err) == 0) {
        amifs_log(fs, AWS_LOG_INFO, "amis: %s: %s%s%s", id, action,
                  value ? " " : "", value ? value : "");
        return 0;
    }
    int e = aws_error_errno(&err);
    aws_error_format(&err, line, sizeof(line));
    return amifs_refuse(fs, NULL, what, "close", e > 0 ? e : EIO,
                        "%s failed: %s", action, line);
}

int amis_retire_apply(struct amifs *fs, struct aws_client *c,
                      const char *region, const char *image_id,
                      bool disabled, const char *text, size_t n,
                      const char *what)
{
    char v[96], iso[40];
    trim(text ? text : "", n, v, sizeof(v));
    if (disabled) {
        if (strcmp(v, "true") == 0)
            return call(fs, c, region, "DisableImage", image_id, NULL, NULL,
                        what);
        if (strcmp(v, "false") == 0)
            return call(fs, c, region, "EnableImage", image_id, NULL, NULL,
                        what);
        return amifs_refuse(fs, NULL, what, "close", EINVAL,
                            "write true (DisableImage) or false "
                            "(EnableImage)");
    }
    if (!v[0])
        return call(fs, c, region, "DisableImageDeprecation", image_id,
                    NULL, NULL, what);
    if (parse_time(v, iso, sizeof(iso)) != 0)
        return amifs_refuse(fs, NULL, what, "close", EINVAL,
                            "write a UTC time as YYYY-MM-DDTHH:MM[:SS]Z, "
                            "or nothing to remove the deprecation");
    return call(fs, c, region, "EnableImageDeprecation", image_id,
                "DeprecateAt", iso, what);
}
