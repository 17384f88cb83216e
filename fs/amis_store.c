/*
 * amis_store.c — amis/ami-…/store/ (see amis_store.h).
 */
#include "fs/amis_store.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "aws/ec2_export.h"
#include "fs/view.h"

bool amis_store_file(const char *file, size_t len)
{
    return (len == 6 && memcmp(file, "status", 6) == 0) ||
           (len == 8 && memcmp(file, "progress", 8) == 0);
}

static int staging_bucket(struct amifs *fs, char *out, size_t n)
{
    const char *opt = fs->opts.bucket;
    if (!opt || !*opt)
        return -1;
    const char *slash = strchr(opt, '/');
    size_t len = slash ? (size_t)(slash - opt) : strlen(opt);
    snprintf(out, n, "%.*s", (int)len, opt);
    return 0;
}

int amis_store_start(struct amifs *fs, struct aws_client *c,
                     const char *region, const char *ami, const char *rel)
{
    char bucket[256], key[1024];
    if (staging_bucket(fs, bucket, sizeof bucket) != 0)
        return amifs_refuse(fs, "amis", rel, "mkdir", EROFS,
                            "stored AMIs go to the staging bucket and this "
                            "mount has none: mount with -o bucket=NAME");
    struct aws_error err;
    aws_error_clear(&err);
    if (ec2_create_store_image_task(c, region, ami, bucket, key, sizeof key,
                                    &err) != 0) {
        char line[768];
        aws_error_format(&err, line, sizeof line);
        int e = aws_error_errno(&err);
        return amifs_refuse(fs, "amis", rel, "mkdir", e > 0 ? e : EIO,
                            "CreateStoreImageTask: %s; check that the "
                            "staging bucket %s exists in this region and "
                            "that you may write it (`amifs doctor`)",
                            line, bucket);
    }
    amifs_log(fs, AWS_LOG_INFO, "amis: %s: store into s3://%s/%s started",
              ami, bucket, key);
    return 0;
}

static int render_status(const struct ec2_store_task *t, struct buf *out)
{
    if (strcmp(t->state, "Completed") == 0)
        return buf_printf(out, "completed: s3://%s/%s\n", t->bucket, t->key);
    if (strcmp(t->state, "Failed") == 0)
        return buf_printf(out, "failed: %s\n",
                          t->reason[0] ? t->reason : "no reason given");
    return buf_printf(out, "active: storing, %d%%\n", t->progress);
}

int amis_store_render(struct amifs *fs, struct aws_client *c,
                      const char *region, const char *ami, const char *file,
                      struct buf *out)
{
    if (!amis_store_file(file, strlen(file)))
        return -ENOENT;
    struct ec2_store_task t;
    struct aws_error err;
    aws_error_clear(&err);
    int rc = ec2_describe_store_image_task(c, region, ami, &t, &err);
    if (rc == 1)
        return -ENOENT;
    if (rc != 0)
        return view_aws_fail(fs, "amis", "DescribeStoreImageTasks", &err);
    if (strcmp(file, "status") == 0)
        return render_status(&t, out);
    return buf_printf(out, "%d\n", strcmp(t.state, "Completed") == 0 ? 100
                                   : strcmp(t.state, "Failed") == 0 ? 0
                                   : t.progress);
}
