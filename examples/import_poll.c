/*
 * import-poll — start an EC2 ImportImage of an S3 object and follow it with
 * DescribeImportImageTasks every second until it ends.
 *
 *   import-poll [-i SECONDS] [-r ROLE] s3://BUCKET/KEY FORMAT
 *
 * Prints one line when the task's state changes: "<task> <status> <phase>
 * [<progress>]", and finally "completed <ami-id>" (exit 0) or
 * "failed <message>" (exit 1). A ClientToken derived from the object makes
 * a retried start idempotent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aws/ec2.h"
#include "aws/s3.h"
#include "util.h"

static const char *prog = "import-poll";

static int usage(void)
{
    fprintf(stderr,
            "usage: %s [-i SECONDS] [-r ROLE] s3://BUCKET/KEY FORMAT\n",
            prog);
    return 2;
}

static const char *nz(const char *s)
{
    return s ? s : "";
}

/* Print the task when its state line changed since the last print. */
static void show(const struct ec2_import_task *t, char *last, size_t n)
{
    char line[512];
    snprintf(line, sizeof line, "%s %s %s%s%s", t->import_task_id,
             nz(t->status), nz(t->status_message), t->progress ? " " : "",
             t->progress ? t->progress : "");
    if (strcmp(line, last) != 0) {
        printf("%s\n", line);
        fflush(stdout);
        snprintf(last, n, "%s", line);
    }
}

static int start(struct aws_client *c, const char *bucket, const char *key,
                 const char *format, const char *role, char *id, size_t n)
{
    struct s3_head h;
    struct aws_error err;
    char token[128];
    struct ec2_disk_container d = {.format = format, .s3_bucket = bucket,
                                   .s3_key = key};
    struct ec2_import_params p = {.disks = &d, .ndisks = 1,
                                  .description = key, .role_name = role};
    struct ec2_import_task t;
    /* Same object, same token: a retried start cannot import twice. */
    if (s3_head_object(c, bucket, key, &h, &err) < 0) {
        example_error(prog, "HeadObject", &err);
        return -1;
    }
    snprintf(token, sizeof token, "import-poll-%.60s", h.etag);
    p.client_token = token;
    if (ec2_import_image(c, &p, &t, &err) < 0) {
        example_error(prog, "ImportImage", &err);
        return -1;
    }
    snprintf(id, n, "%s", t.import_task_id);
    ec2_import_task_release(&t);
    return 0;
}

/* 1: still running, 0: completed, -1: failed or gone. */
static int poll_once(struct aws_client *c, const char *id, char *last,
                     size_t n)
{
    struct ec2_import_task_list l;
    struct aws_error err;
    const char *ids[] = {id};
    if (ec2_describe_import_image_tasks(c, NULL, ids, 1, NULL, &l, &err) < 0) {
        example_error(prog, "DescribeImportImageTasks", &err);
        return err.kind == AWS_ERR_SERVICE && err.http_status < 500 ? -1 : 1;
    }
    int rc = -1;
    if (l.n == 1) {
        const struct ec2_import_task *t = &l.v[0];
        show(t, last, n);
        if (t->status && strcmp(t->status, "completed") == 0) {
            printf("completed %s\n", nz(t->image_id));
            rc = 0;
        } else if (t->status && strcmp(t->status, "active") == 0) {
            rc = 1;
        } else {
            printf("failed %s\n", nz(t->status_message));
        }
    }
    ec2_import_task_list_release(&l);
    return rc;
}

int main(int argc, char **argv)
{
    char *bucket, *key, *owned = NULL, id[128], last[512] = "";
    const char *role = NULL;
    long interval = 1;
    int opt;
    while ((opt = getopt(argc, argv, "i:r:")) != -1) {
        if (opt == 'i')
            interval = strtol(optarg, NULL, 10);
        else if (opt == 'r')
            role = optarg;
        else
            return usage();
    }
    if (argc - optind != 2 ||
        example_s3_url(argv[optind], &bucket, &key, &owned) < 0 || !*key) {
        free(owned);
        return usage();
    }
    struct aws_client *c = example_client(prog);
    int rc = c ? start(c, bucket, key, argv[optind + 1], role, id, sizeof id)
               : -1;
    if (rc == 0)
        while ((rc = poll_once(c, id, last, sizeof last)) == 1)
            sleep((unsigned)(interval > 0 ? interval : 1));
    aws_client_free(c);
    free(owned);
    return rc == 0 ? 0 : 1;
}
