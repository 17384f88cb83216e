/*
 * ec2.h — the EC2 actions of VM Import and AMI housekeeping (query protocol,
 * Version 2016-11-15). Wire names follow shared/aws/aws-contract.md §3: lists
 * are Name.N, DescribeImport*Tasks filter with Filters.N (plural), every
 * other Describe with Filter.N. Describe calls follow NextToken to the end.
 * Results are structs the caller releases with the matching _release.
 */
#ifndef AMIFS_AWS_EC2_H
#define AMIFS_AWS_EC2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aws/client.h"

struct ec2_tag {
    char *key;
    char *value;
};
struct ec2_tags {
    struct ec2_tag *v;
    size_t n;
};
int ec2_tags_add(struct ec2_tags *t, const char *key, const char *value);
const char *ec2_tags_get(const struct ec2_tags *t, const char *key);
void ec2_tags_release(struct ec2_tags *t);

/* --- ImportImage --------------------------------------------------------- */

struct ec2_disk_container {
    const char *format;      /* OVA VMDK VHD VHDX RAW */
    const char *s3_bucket;
    const char *s3_key;
    const char *url;         /* alternative to bucket/key */
    const char *description;
    const char *device_name;
    const char *snapshot_id;
};

struct ec2_import_params {
    const struct ec2_disk_container *disks;
    size_t ndisks;
    const char *description;
    const char *architecture;   /* i386 x86_64 */
    const char *platform;       /* Windows Linux */
    const char *boot_mode;      /* legacy-bios uefi */
    const char *license_type;   /* AWS BYOL */
    const char *usage_operation;
    const char *license_config_arn;
    const char *hypervisor;
    bool encrypted;
    const char *kms_key_id;     /* implies encrypted */
    const char *role_name;      /* NULL: service default (vmimport) */
    const char *client_token;   /* idempotency; makes the call retryable */
    const struct ec2_tags *tags; /* TagSpecification ResourceType
                                    import-image-task */
    bool dry_run;               /* DryRun=true: check rights, start nothing */
};

struct ec2_snapshot_detail {
    char *description;
    char *device_name;
    double disk_image_size;
    char *format;
    char *progress;
    char *snapshot_id;
    char *status;
    char *status_message;
    char *url;
    char *s3_bucket;
    char *s3_key;
};

/* One import-image task as DescribeImportImageTasks / ImportImage return it.
 * Absent elements are NULL. */
struct ec2_import_task {
    char *import_task_id;
    char *architecture;
    char *description;
    bool encrypted;
    char *hypervisor;
    char *image_id;
    char *kms_key_id;
    char *license_type;
    char *platform;
    char *progress;
    char *status;         /* active completed deleting deleted */
    char *status_message;
    char *boot_mode;
    char *usage_operation;
    struct ec2_snapshot_detail *snapshots;
    size_t nsnapshots;
    struct ec2_tags tags;
};
void ec2_import_task_release(struct ec2_import_task *t);

int ec2_import_image(struct aws_client *c, const struct ec2_import_params *p,
                     struct ec2_import_task *out, struct aws_error *err);
/* ImportImage with DryRun=true: whether the caller may import with these
 * parameters (role, bucket, key…), starting nothing. 0: allowed (AWS said
 * DryRunOperation; err cleared). -1: not allowed or not checkable (err:
 * UnauthorizedOperation, a network error…). 1: the endpoint ignored DryRun
 * and answered as for a real import (a task may have started; local test
 * endpoints do this). Thread-safe like every call here. */
int ec2_import_image_dry_run(struct aws_client *c,
                             const struct ec2_import_params *p,
                             struct aws_error *err);

struct ec2_import_task_list {
    struct ec2_import_task *v;
    size_t n;
};
/* ids NULL/0: every task; state_filter NULL or e.g. "active". */
int ec2_describe_import_image_tasks(struct aws_client *c, const char *region,
                                    const char *const *ids, size_t nids,
                                    const char *state_filter,
                                    struct ec2_import_task_list *out,
                                    struct aws_error *err);
void ec2_import_task_list_release(struct ec2_import_task_list *l);

int ec2_cancel_import_task(struct aws_client *c, const char *task_id,
                           const char *reason, struct aws_error *err);

/* --- ImportSnapshot ------------------------------------------------------ */

struct ec2_import_snapshot_task {
    char *import_task_id;
    char *description;
    struct ec2_snapshot_detail detail;
    bool encrypted;
    struct ec2_tags tags;
};
void ec2_import_snapshot_task_release(struct ec2_import_snapshot_task *t);
int ec2_import_snapshot(struct aws_client *c,
                        const struct ec2_disk_container *disk,
                        const char *description, const char *role_name,
                        const char *client_token, const struct ec2_tags *tags,
                        struct ec2_import_snapshot_task *out,
                        struct aws_error *err);
struct ec2_import_snapshot_task_list {
    struct ec2_import_snapshot_task *v;
    size_t n;
};
int ec2_describe_import_snapshot_tasks(
    struct aws_client *c, const char *const *ids, size_t nids,
    struct ec2_import_snapshot_task_list *out, struct aws_error *err);
void ec2_import_snapshot_task_list_release(
    struct ec2_import_snapshot_task_list *l);

/* --- Images and snapshots ------------------------------------------------ */

struct ec2_block_device {
    char *device_name;
    char *snapshot_id;
    int volume_size;   /* GiB */
    bool encrypted;
    char *kms_key_id;
};

struct ec2_image {
    char *image_id;
    char *name;
    char *description;
    char *state;          /* available pending … */
    char *owner_id;
    char *creation_date;
    char *architecture;
    char *platform;       /* "windows" or NULL */
    char *boot_mode;
    char *root_device_name;
    char *state_reason_code;    /* stateReason/code, e.g.
                                   "Client.InvalidSnapshot.NotFound", or
                                   NULL (an available image has none) */
    char *state_reason;         /* stateReason/message, or NULL */
    bool is_public;
    struct ec2_block_device *devices;
    size_t ndevices;
    struct ec2_tags tags;
    char *raw_xml;        /* the <item> as received, for image.json */
};
struct ec2_image_list {
    struct ec2_image *v;
    size_t n;
};
/* owner "self" (or NULL: self); ids NULL/0: all. */
int ec2_describe_images(struct aws_client *c, const char *region,
                        const char *const *ids, size_t nids,
                        struct ec2_image_list *out, struct aws_error *err);
void ec2_image_list_release(struct ec2_image_list *l);

struct ec2_snapshot {
    char *snapshot_id;
    char *state;
    char *description;
    int volume_size;
    bool encrypted;
    char *kms_key_id;
    struct ec2_tags tags;
};
struct ec2_snapshot_list {
    struct ec2_snapshot *v;
    size_t n;
};
int ec2_describe_snapshots(struct aws_client *c, const char *region,
                           const char *const *ids, size_t nids,
                           struct ec2_snapshot_list *out,
                           struct aws_error *err);
void ec2_snapshot_list_release(struct ec2_snapshot_list *l);

int ec2_create_tags(struct aws_client *c, const char *region,
                    const char *const *resources, size_t nresources,
                    const struct ec2_tags *tags, struct aws_error *err);
/* value NULL in a tag: delete whatever the value. */
int ec2_delete_tags(struct aws_client *c, const char *region,
                    const char *const *resources, size_t nresources,
                    const struct ec2_tags *tags, struct aws_error *err);
int ec2_deregister_image(struct aws_client *c, const char *region,
                         const char *image_id, struct aws_error *err);
int ec2_delete_snapshot(struct aws_client *c, const char *region,
                        const char *snapshot_id, struct aws_error *err);
/* Sent to dst_region; new image id into out (n bytes). */
int ec2_copy_image(struct aws_client *c, const char *src_region,
                   const char *image_id, const char *dst_region,
                   const char *name, const char *description,
                   const char *client_token, char *out, size_t n,
                   struct aws_error *err);

/* launchPermission: user ids (and "all" for the public group). */
struct ec2_id_list {
    char **v;
    size_t n;
};
void ec2_id_list_release(struct ec2_id_list *l);
int ec2_describe_launch_permissions(struct aws_client *c, const char *region,
                                    const char *image_id,
                                    struct ec2_id_list *out,
                                    struct aws_error *err);
/* add/remove user ids (either list may be empty). */
int ec2_modify_launch_permissions(struct aws_client *c, const char *region,
                                  const char *image_id,
                                  const struct ec2_id_list *add,
                                  const struct ec2_id_list *remove,
                                  struct aws_error *err);
int ec2_modify_snapshot_create_volume_permissions(
    struct aws_client *c, const char *region, const char *snapshot_id,
    const struct ec2_id_list *add, const struct ec2_id_list *remove,
    struct aws_error *err);

int ec2_describe_regions(struct aws_client *c, struct ec2_id_list *out,
                         struct aws_error *err);

/* --- JSON rendering and pieces exposed for unit tests ------------------- */

/* image.json: the DescribeImages <item> (raw_xml) as the AWS CLI prints an
 * Image — PascalCase keys, lists as arrays (tagSet → "Tags",
 * blockDeviceMapping → "BlockDeviceMappings"), the model's names where they
 * differ (imageState → "State", imageOwnerId → "OwnerId", isPublic →
 * "Public"), true/false as booleans, sizes
 * as numbers. Returns malloc'd, pretty-printed JSON text; NULL when out of
 * memory or when img has no raw_xml. */
char *ec2_image_to_json(const struct ec2_image *img);
/* The same rendering for any EC2 response element given as XML text. */
char *ec2_xml_to_json(const char *xml, size_t len);

/* Pure parsers from a parsed answer (0 or -1 with err). List parsers append
 * to `out` and set *next to a malloc'd NextToken, NULL when done. */
struct xml_node;
int ec2_parse_import_task(const struct xml_node *n,
                          struct ec2_import_task *out, struct aws_error *err);
int ec2_parse_import_tasks(const struct xml_node *root,
                           struct ec2_import_task_list *out, char **next,
                           struct aws_error *err);
int ec2_parse_import_snapshot_task(const struct xml_node *n,
                                   struct ec2_import_snapshot_task *out,
                                   struct aws_error *err);
int ec2_parse_import_snapshot_tasks(const struct xml_node *root,
                                    struct ec2_import_snapshot_task_list *out,
                                    char **next, struct aws_error *err);
int ec2_parse_images(const struct xml_node *root, struct ec2_image_list *out,
                     char **next, struct aws_error *err);
int ec2_parse_snapshots(const struct xml_node *root,
                        struct ec2_snapshot_list *out, char **next,
                        struct aws_error *err);
/* launchPermission items: user ids, and "all" for the group. */
int ec2_parse_launch_permissions(const struct xml_node *root,
                                 struct ec2_id_list *out,
                                 struct aws_error *err);
int ec2_parse_regions(const struct xml_node *root, struct ec2_id_list *out,
                      struct aws_error *err);
/* ImportImage's form parameters (exposed so tests can check wire names). */
struct aws_form;
void ec2_import_image_form(struct aws_form *f,
                           const struct ec2_import_params *p);

#endif
