/* taskcache_aws.c — the taskcache's ops over the real EC2 API. Kept apart
 * from taskcache.c so the cache's logic links (and is unit-tested) without
 * the network code. */
#include "core/taskcache.h"

#include <stdlib.h>

/* ---- the real ops ------------------------------------------------------ */

/* The import-snapshot tasks of the same region (cc->region, NULL: the
 * client's), appended in the image tasks' shape; a failure leaves the
 * image tasks alone. */
static void add_snapshot_tasks(struct taskcache_client *cc,
                               struct ec2_import_task_list *out)
{
    struct ec2_import_snapshot_task_list l = {NULL, 0};
    struct aws_error err;
    aws_error_clear(&err);
    if (ec2_describe_import_snapshot_tasks(cc->c, cc->region, NULL, 0, &l,
                                           &err) != 0)
        return;
    struct ec2_import_task *v =
        l.n ? realloc(out->v, (out->n + l.n) * sizeof *v) : NULL;
    if (v) {
        out->v = v;
        for (size_t i = 0; i < l.n; i++)
            taskcache_from_snapshot_task(&l.v[i], &out->v[out->n++]);
    }
    ec2_import_snapshot_task_list_release(&l);
}

static int cl_describe(void *ctx, struct ec2_import_task_list *out,
                       struct aws_error *err)
{
    struct taskcache_client *cc = ctx;
    int rc = ec2_describe_import_image_tasks(cc->c, cc->region, NULL, 0, NULL,
                                             out, err);
    if (rc == 0)
        add_snapshot_tasks(cc, out);
    return rc;
}

static void cl_release(void *ctx, struct ec2_import_task_list *l)
{
    (void)ctx;
    ec2_import_task_list_release(l);
}

static int cl_tags(void *ctx, const char *const *res, size_t n,
                   const struct ec2_tags *tags, struct aws_error *err)
{
    struct taskcache_client *cc = ctx;
    return ec2_create_tags(cc->c, cc->region, res, n, tags, err);
}

static int cl_cancel(void *ctx, const char *id, struct aws_error *err)
{
    struct taskcache_client *cc = ctx;
    return ec2_cancel_import_task(cc->c, id, "cancelled with amifs (rmdir)",
                                  err);
}

static void cl_ended(void *ctx, const struct ec2_import_task *t)
{
    struct taskcache_client *cc = ctx;
    if (cc->ended)
        cc->ended(cc->ended_ctx, t);
}

static void cl_reroute(void *ctx, const struct ec2_import_task *t)
{
    struct taskcache_client *cc = ctx;
    if (cc->reroute)
        cc->reroute(cc->ended_ctx, t);
}

struct taskcache_ops taskcache_ops_for_client(struct taskcache_client *cc)
{
    struct taskcache_ops ops = {
        .describe = cl_describe,
        .release = cl_release,
        .create_tags = cl_tags,
        .cancel = cl_cancel,
        .ended = cl_ended,
        .reroute = cc->reroute ? cl_reroute : NULL,
        .ctx = cc,
    };
    return ops;
}
