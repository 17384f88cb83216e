/*
 * ec2_export.c — ExportImage and its task calls (see ec2_export.h).
 * Wire names: doc/AWS.md and doc/design/exports.md.
 */
#include "aws/ec2_export.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/xml.h"

#define EC2_VERSION "2016-11-15"

static char *dup_or_null(const char *s, int *bad)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *bad = 1;
    return d;
}

void ec2_export_task_release(struct ec2_export_task *t)
{
    free(t->task_id);
    free(t->image_id);
    free(t->format);
    free(t->bucket);
    free(t->prefix);
    free(t->status);
    free(t->status_message);
    memset(t, 0, sizeof *t);
}

void ec2_export_task_list_release(struct ec2_export_task_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        ec2_export_task_release(&l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

int ec2_export_key(const struct ec2_export_task *t, char *out, size_t n)
{
    char fmt[16] = "";
    for (size_t i = 0; t->format && t->format[i] && i + 1 < sizeof fmt; i++)
        fmt[i] = (char)tolower((unsigned char)t->format[i]);
    int w = snprintf(out, n, "%s%s.%s", t->prefix ? t->prefix : "",
                     t->task_id, fmt);
    return w < 0 || (size_t)w >= n ? -1 : 0;
}

static int parse_one(const struct xml_node *it, struct ec2_export_task *t)
{
    int bad = 0;
    memset(t, 0, sizeof *t);
    t->task_id = dup_or_null(xml_path(it, "exportImageTaskId"), &bad);
    t->image_id = dup_or_null(xml_path(it, "imageId"), &bad);
    t->format = dup_or_null(xml_path(it, "diskImageFormat"), &bad);
    t->bucket = dup_or_null(xml_path(it, "s3ExportLocation/s3Bucket"), &bad);
    const char *pfx = xml_path(it, "s3ExportLocation/s3Prefix");
    t->prefix = dup_or_null(pfx ? pfx : "", &bad);
    t->status = dup_or_null(xml_path(it, "status"), &bad);
    t->status_message = dup_or_null(xml_path(it, "statusMessage"), &bad);
    const char *p = xml_path(it, "progress");
    t->progress = p ? (int)strtol(p, NULL, 10) : -1;
    if (bad || !t->task_id) {
        ec2_export_task_release(t);
        return bad ? -1 : 1;
    }
    return 0;
}

int ec2_parse_export_tasks(const struct xml_node *root,
                           struct ec2_export_task_list *out, char **next,
                           struct aws_error *err)
{
    *next = NULL;
    const struct xml_node *set = xml_child(root, "exportImageTaskSet");
    for (const struct xml_node *it = xml_child(set, "item"); it;
         it = xml_next(it, "item")) {
        struct ec2_export_task t;
        int rc = parse_one(it, &t);
        if (rc > 0)
            continue; /* an item without an id: nothing to show */
        struct ec2_export_task *nv =
            rc == 0 ? realloc(out->v, (out->n + 1) * sizeof *nv) : NULL;
        if (!nv) {
            ec2_export_task_release(&t);
            return aws_error_set(err, AWS_ERR_NOMEM, "out of memory");
        }
        out->v = nv;
        out->v[out->n++] = t;
    }
    const char *tok = xml_path(root, "nextToken");
    if (tok && *tok && !(*next = strdup(tok)))
        return aws_error_set(err, AWS_ERR_NOMEM, "out of memory");
    return 0;
}

int ec2_export_image(struct aws_client *c, const char *region,
                     const char *image_id, const char *format,
                     const char *bucket, const char *prefix,
                     const char *role, const char *client_token,
                     char *task_id, size_t n, struct aws_error *err)
{
    struct aws_form f;
    struct xml_doc *doc = NULL;
    aws_form_init(&f, "ExportImage", EC2_VERSION);
    aws_form_add(&f, "ImageId", image_id);
    aws_form_add(&f, "DiskImageFormat", format);
    aws_form_add(&f, "S3ExportLocation.S3Bucket", bucket);
    if (prefix && *prefix)
        aws_form_add(&f, "S3ExportLocation.S3Prefix", prefix);
    aws_form_add(&f, "RoleName", role);
    aws_form_add(&f, "ClientToken", client_token);
    int rc = aws_query(c, AWS_SVC_EC2, region, &f, client_token != NULL,
                       &doc, err);
    const char *id =
        rc == 0 ? xml_path(xml_root(doc), "exportImageTaskId") : NULL;
    if (rc == 0 && (!id || !*id || strlen(id) >= n))
        rc = aws_error_set(err, AWS_ERR_PARSE,
                           "ExportImage: no usable exportImageTaskId");
    else if (rc == 0)
        memcpy(task_id, id, strlen(id) + 1);
    xml_free(doc);
    aws_form_release(&f);
    return rc;
}

int ec2_describe_export_image_tasks(struct aws_client *c, const char *region,
                                    const char *const *ids, size_t nids,
                                    struct ec2_export_task_list *out,
                                    struct aws_error *err)
{
    char *token = NULL;
    int rc = 0;
    memset(out, 0, sizeof *out);
    do {
        struct aws_form f;
        struct xml_doc *doc = NULL;
        aws_form_init(&f, "DescribeExportImageTasks", EC2_VERSION);
        for (size_t i = 0; i < nids; i++)
            aws_form_addf(&f, ids[i], "ExportImageTaskId.%zu", i + 1);
        aws_form_add(&f, "NextToken", token);
        free(token);
        token = NULL;
        rc = aws_query(c, AWS_SVC_EC2, region, &f, true, &doc, err);
        if (rc == 0)
            rc = ec2_parse_export_tasks(xml_root(doc), out, &token, err);
        xml_free(doc);
        aws_form_release(&f);
    } while (rc == 0 && token);
    free(token);
    if (rc != 0)
        ec2_export_task_list_release(out);
    return rc;
}

int ec2_cancel_export_task(struct aws_client *c, const char *region,
                           const char *task_id, struct aws_error *err)
{
    struct aws_form f;
    struct xml_doc *doc = NULL;
    aws_form_init(&f, "CancelExportTask", EC2_VERSION);
    aws_form_add(&f, "ExportTaskId", task_id);
    int rc = aws_query(c, AWS_SVC_EC2, region, &f, true, &doc, err);
    xml_free(doc);
    aws_form_release(&f);
    return rc;
}

/* ---- store and restore -------------------------------------------------- */

/* One call whose answer carries one string at `path` (into out). */
static int call_for(struct aws_client *c, const char *region,
                    struct aws_form *f, const char *path, char *out,
                    size_t n, struct aws_error *err)
{
    struct xml_doc *doc = NULL;
    int rc = aws_query(c, AWS_SVC_EC2, region, f, false, &doc, err);
    const char *v = rc == 0 ? xml_path(xml_root(doc), path) : NULL;
    if (rc == 0 && (!v || !*v || strlen(v) >= n))
        rc = aws_error_set(err, AWS_ERR_PARSE, "EC2: no usable %s", path);
    else if (rc == 0)
        memcpy(out, v, strlen(v) + 1);
    xml_free(doc);
    aws_form_release(f);
    return rc;
}

int ec2_create_store_image_task(struct aws_client *c, const char *region,
                                const char *image_id, const char *bucket,
                                char *key, size_t n, struct aws_error *err)
{
    struct aws_form f;
    aws_form_init(&f, "CreateStoreImageTask", EC2_VERSION);
    aws_form_add(&f, "ImageId", image_id);
    aws_form_add(&f, "Bucket", bucket);
    return call_for(c, region, &f, "objectKey", key, n, err);
}

int ec2_describe_store_image_task(struct aws_client *c, const char *region,
                                  const char *image_id,
                                  struct ec2_store_task *out,
                                  struct aws_error *err)
{
    struct aws_form f;
    struct xml_doc *doc = NULL;
    memset(out, 0, sizeof *out);
    aws_form_init(&f, "DescribeStoreImageTasks", EC2_VERSION);
    aws_form_add(&f, "ImageId.1", image_id);
    int rc = aws_query(c, AWS_SVC_EC2, region, &f, true, &doc, err);
    const struct xml_node *it =
        rc == 0 ? xml_child(xml_child(xml_root(doc), "storeImageTaskResultSet"),
                            "item")
                : NULL;
    if (rc == 0 && !it)
        rc = 1;
    if (rc == 0) {
        const char *p = xml_path(it, "progressPercentage");
        snprintf(out->state, sizeof out->state, "%s",
                 xml_text(xml_child(it, "storeTaskState")));
        out->progress = p ? (int)strtol(p, NULL, 10) : 0;
        snprintf(out->bucket, sizeof out->bucket, "%s",
                 xml_text(xml_child(it, "bucket")));
        snprintf(out->key, sizeof out->key, "%s",
                 xml_text(xml_child(it, "s3objectKey")));
        snprintf(out->reason, sizeof out->reason, "%s",
                 xml_text(xml_child(it, "storeTaskFailureReason")));
    }
    xml_free(doc);
    aws_form_release(&f);
    return rc;
}

int ec2_create_restore_image_task(struct aws_client *c, const char *region,
                                  const char *bucket, const char *key,
                                  const char *name, char *image_id, size_t n,
                                  struct aws_error *err)
{
    struct aws_form f;
    aws_form_init(&f, "CreateRestoreImageTask", EC2_VERSION);
    aws_form_add(&f, "Bucket", bucket);
    aws_form_add(&f, "ObjectKey", key);
    aws_form_add(&f, "Name", name);
    return call_for(c, region, &f, "imageId", image_id, n, err);
}
