/* preflight.c — the mount's checks before it returns (see preflight.h). */
#include "core/preflight.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "aws/sts.h"
#include "aws/s3.h"

/* Undo mountinfo's octal escapes (\040 for a space) in place. */
static void unescape_octal(char *s)
{
    char *o = s;

    for (; *s; s++, o++) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
            s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
            *o = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
            s += 3;
        } else {
            *o = *s;
        }
    }
    *o = '\0';
}

/* 1 when mountinfo shows a fuse.amifs mount at path (absolute). */
static int amifs_mounted_at(const char *path)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[4096];
    int found = 0;

    if (!f)
        return 0;
    while (!found && fgets(line, sizeof line, f)) {
        char mnt[PATH_MAX], fstype[64];
        const char *sep = strstr(line, " - ");
        if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1 ||
            sscanf(sep + 3, "%63s", fstype) != 1)
            continue;
        unescape_octal(mnt);
        found = strcmp(mnt, path) == 0 && strcmp(fstype, "fuse.amifs") == 0;
    }
    fclose(f);
    return found;
}

int preflight_mountpoint(const char *path, char *why, size_t n)
{
    char real[PATH_MAX];
    struct stat st;

    if (!path) {
        snprintf(why, n, "no mount point given");
        return PREFLIGHT_MOUNTPOINT;
    }
    if (stat(path, &st) < 0) {
        if (errno == ENOTCONN)
            snprintf(why, n, "%s is a mount whose daemon has died; run "
                     "`fusermount3 -u %s` first", path, path);
        else
            snprintf(why, n, "mount point %s: %s", path, strerror(errno));
        return PREFLIGHT_MOUNTPOINT;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(why, n, "mount point %s is not a directory", path);
        return PREFLIGHT_MOUNTPOINT;
    }
    if (realpath(path, real) && amifs_mounted_at(real)) {
        snprintf(why, n, "%s is already an amifs mount; unmount it first "
                 "(`fusermount3 -u %s`)", path, path);
        return PREFLIGHT_MOUNTPOINT;
    }
    return PREFLIGHT_OK;
}

static bool unreachable(const struct aws_error *e)
{
    return e->kind == AWS_ERR_NETWORK || e->kind == AWS_ERR_TIMEOUT ||
           e->kind == AWS_ERR_TLS;
}

int preflight_identity(struct aws_client *c, struct preflight_identity *id,
                       char *why, size_t n)
{
    struct sts_identity sid = {0};
    struct aws_error err;
    char msg[768];

    aws_error_clear(&err);
    memset(id, 0, sizeof *id);
    if (sts_get_caller_identity(c, &sid, &err) < 0) {
        aws_error_format(&err, msg, sizeof msg);
        if (unreachable(&err)) {
            snprintf(why, n, "cannot reach AWS (STS, region %s): %s; check "
                     "endpoint=/AWS_ENDPOINT_URL and the network, or mount "
                     "with -o lazy_checks to skip this check",
                     aws_client_region(c), msg);
            return PREFLIGHT_ENDPOINT;
        }
        snprintf(why, n, "AWS refused the credentials (STS "
                 "GetCallerIdentity): %s; check the access key and secret, "
                 "or the profile (`aws sts get-caller-identity` shows the "
                 "same)", msg);
        return PREFLIGHT_CREDENTIALS;
    }
    snprintf(id->account, sizeof id->account, "%s", sid.account ? sid.account : "");
    snprintf(id->arn, sizeof id->arn, "%s", sid.arn ? sid.arn : "");
    sts_identity_release(&sid);
    return PREFLIGHT_OK;
}

static int bucket_refused(const struct aws_error *err, const char *name,
                          char *why, size_t n)
{
    char msg[768];

    aws_error_format(err, msg, sizeof msg);
    if (unreachable(err)) {
        snprintf(why, n, "cannot reach S3 to check bucket %s: %s", name, msg);
        return PREFLIGHT_ENDPOINT;
    }
    if (strcmp(err->code, "NoSuchBucket") == 0)
        snprintf(why, n, "the staging bucket %s does not exist; create it "
                 "with `amifs setup --bucket %s --yes`, or name another "
                 "with -o bucket=", name, name);
    else
        snprintf(why, n, "cannot use the staging bucket %s: %s", name, msg);
    return PREFLIGHT_BUCKET;
}

int preflight_bucket(struct aws_client *c, const char *bucket, char *why,
                     size_t n)
{
    char name[64], region[64];
    struct aws_error err;
    const char *slash = strchr(bucket, '/');
    size_t len = slash ? (size_t)(slash - bucket) : strlen(bucket);

    if (len == 0 || len >= sizeof name) {
        snprintf(why, n, "bucket=%s is not a bucket name", bucket);
        return PREFLIGHT_BUCKET;
    }
    memcpy(name, bucket, len);
    name[len] = '\0';
    aws_error_clear(&err);
    if (s3_get_bucket_location(c, name, region, sizeof region, &err) < 0)
        return bucket_refused(&err, name, why, n);
    if (strcmp(region, aws_client_region(c)) != 0) {
        snprintf(why, n, "the staging bucket %s is in %s, but the mount's "
                 "region is %s, and VM Import only reads a bucket of its own "
                 "region; mount with -o region=%s, or use a bucket in %s",
                 name, region, aws_client_region(c), region,
                 aws_client_region(c));
        return PREFLIGHT_BUCKET;
    }
    return PREFLIGHT_OK;
}
