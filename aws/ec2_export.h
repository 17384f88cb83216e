/*
 * ec2_export.h — the way back out of EC2: ExportImage,
 * DescribeExportImageTasks, CancelExportTask (VM Import/Export), and
 * CreateStoreImageTask / DescribeStoreImageTasks / CreateRestoreImageTask.
 *
 * Same conventions as aws/ec2.h: each call builds a query form, sends it
 * with aws_query() to `region` (NULL: the client's region) and parses the
 * answer with a pure parser exposed here for unit tests. 0 or a negative
 * aws error with `err` filled (codes and messages as AWS sent them: the
 * callers show them to users, e.g. NotExportable). Results are malloc'd
 * and owned by the caller until the matching _release.
 *
 * Thread-safety: as the client (any thread, no shared state here).
 * What is deliberately absent: tag specifications and descriptions on
 * exports (amifs names nothing there), multi-page store listings beyond
 * what one loop of NextToken gives (the loop is the same as for exports).
 */
#ifndef AMIFS_AWS_EC2_EXPORT_H
#define AMIFS_AWS_EC2_EXPORT_H

#include <stddef.h>

#include "aws/client.h"
#include "aws/err.h"

/* One export task as DescribeExportImageTasks says it. Any string but
 * task_id may be NULL. progress is -1 when absent. The task's life on AWS:
 * status "active" with statusMessage the phase (pending, validating,
 * converting, updating …) and progress a percentage; "completed" once the
 * object is written (ec2_export_key names it); "deleting" then "deleted"
 * with statusMessage the reason when it failed or was cancelled (AWS's own
 * wording: callers tell a cancel by the word in it). AWS forgets ended
 * tasks after about 7 days, silently: the task is then simply absent from
 * the answer, which is no error. */
struct ec2_export_task {
    char *task_id;        /* export-ami-… */
    char *image_id;
    char *format;         /* VMDK, VHD, RAW */
    char *bucket;
    char *prefix;         /* "" when none */
    char *status;         /* active, completed, deleting, deleted */
    char *status_message; /* phase while active, the reason when deleted */
    int progress;
};

struct ec2_export_task_list {
    struct ec2_export_task *v;
    size_t n;
};
void ec2_export_task_list_release(struct ec2_export_task_list *l);
/* Frees the strings of one task (not t itself) and zeroes it. */
void ec2_export_task_release(struct ec2_export_task *t);

/* The object key AWS writes: PREFIX + TASK_ID + "." + lower(format), into
 * out (n bytes). 0, or -1 when it does not fit. */
int ec2_export_key(const struct ec2_export_task *t, char *out, size_t n);

/* ExportImage of image_id as format (VMDK/VHD/RAW) into bucket/prefix,
 * with the service role `role` (NULL: vmimport). client_token (may be
 * NULL) makes a retried call start no second export. The new task id into
 * task_id (n bytes). */
int ec2_export_image(struct aws_client *c, const char *region,
                     const char *image_id, const char *format,
                     const char *bucket, const char *prefix,
                     const char *role, const char *client_token,
                     char *task_id, size_t n, struct aws_error *err);

/* Every export task of the region (or those of ids), all pages. */
int ec2_describe_export_image_tasks(struct aws_client *c, const char *region,
                                    const char *const *ids, size_t nids,
                                    struct ec2_export_task_list *out,
                                    struct aws_error *err);

int ec2_cancel_export_task(struct aws_client *c, const char *region,
                           const char *task_id, struct aws_error *err);

/* The store task of one AMI (DescribeStoreImageTasks ImageId.1): state
 * InProgress, Completed or Failed; progress 0..100; reason on failure. */
struct ec2_store_task {
    char state[32];
    int progress;
    char bucket[256];
    char key[1024];
    char reason[512];
};

/* CreateStoreImageTask of image_id into bucket; the object key AWS will
 * write (ami-….bin) into key (n bytes). */
int ec2_create_store_image_task(struct aws_client *c, const char *region,
                                const char *image_id, const char *bucket,
                                char *key, size_t n, struct aws_error *err);
/* 0 with *out filled, 1 when AWS knows no store task of the image. */
int ec2_describe_store_image_task(struct aws_client *c, const char *region,
                                  const char *image_id,
                                  struct ec2_store_task *out,
                                  struct aws_error *err);
/* CreateRestoreImageTask of bucket/key as a new AMI named name (NULL:
 * the stored name); the new id into image_id (n bytes). */
int ec2_create_restore_image_task(struct aws_client *c, const char *region,
                                  const char *bucket, const char *key,
                                  const char *name, char *image_id, size_t n,
                                  struct aws_error *err);

/* Parse one DescribeExportImageTasks page (appends to out); *next gets
 * the NextToken (malloc'd) or NULL. */
struct xml_node;
int ec2_parse_export_tasks(const struct xml_node *root,
                           struct ec2_export_task_list *out, char **next,
                           struct aws_error *err);

#endif
