/*
 * ec2.h — the EC2 actions of VM Import and AMI housekeeping (query protocol,
 * API version 2016-11-15, which only aws/ec2.c names).
 *
 * What it covers: starting, listing and cancelling import-image and
 * import-snapshot tasks (imports/, tasks/, core/importjob.c), describing,
 * tagging, copying, sharing and deleting the resulting AMIs and snapshots
 * (amis/, regions/R/amis/), the list of regions (regions/), and a dry run
 * of ImportImage for `amifs doctor`. Nothing outside aws/ builds an EC2
 * form or reads EC2 XML: a field or an action that is missing is added
 * here (the image's stateReason is an example).
 *
 * Wire rules, in one place: list parameters are Name.N (1-based); the
 * DescribeImport*Tasks actions filter with Filters.N (plural), every other
 * Describe with Filter.N; Describe calls follow NextToken until the last
 * page and return everything (callers never see tokens). Tags go out as
 * TagSpecification.1 for the create calls and Tag.N for CreateTags /
 * DeleteTags. Booleans are "true"/"false".
 *
 * Regions: a `region` argument of NULL means the client's region
 * (aws_client_region()). Calls that act on a resource take the region the
 * resource lives in; ec2_copy_image() is sent to the destination region.
 *
 * Ownership: every result struct (task, task list, image list, snapshot
 * list, id list, tags) is filled with malloc'd strings and arrays that the
 * caller owns and releases with the matching *_release(); release is safe
 * on a zeroed struct and on a result a failed call left behind (failed
 * calls leave it zeroed or fully valid, never half-built). Parameters are
 * borrowed for the duration of the call. Absent XML elements are NULL
 * strings, 0 numbers and false booleans, never "" placeholders.
 *
 * Errors: 0 or -1 with err filled. EC2's own errors arrive as
 * AWS_ERR_SERVICE with err->code as EC2 spells it (InvalidAMIID.NotFound,
 * InvalidSnapshot.InUse, UnauthorizedOperation, DryRunOperation,
 * InvalidParameterValue, RequestLimitExceeded after the retries…); an
 * answer whose root or items are not what the action returns is
 * AWS_ERR_PARSE; out of memory AWS_ERR_NOMEM. aws_error_errno() maps them
 * for file-system callers.
 *
 * Retries and idempotency: Describe and read calls are sent as idempotent
 * (retried after a lost answer). ImportImage, ImportSnapshot and CopyImage
 * are retried after a lost answer only with a client token (then EC2
 * deduplicates and the retry returns the first task). Tag, permission and
 * delete calls are naturally idempotent.
 *
 * Threads: every function is thread-safe and keeps no state of its own
 * (the client is shared); results are plain data owned by one caller.
 */
#ifndef AMIFS_AWS_EC2_H
#define AMIFS_AWS_EC2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aws/client.h"

/* A resource's tags, in the order EC2 listed them (or the caller added
 * them). Keys are unique within a set only if the caller keeps them so:
 * ec2_tags_add() appends without looking. Values may be "" (a tag with an
 * empty value is a real tag); a NULL value is only meaningful for
 * ec2_delete_tags() ("whatever the value"). */
struct ec2_tag {
    char *key;
    char *value;
};
struct ec2_tags {
    struct ec2_tag *v;
    size_t n;
};
/* Append copies of key and value (value may be NULL); 0 or -1 (out of
 * memory, the set unchanged). ec2_tags_get: the value of the first tag
 * named key, NULL when absent (borrowed from the set). */
int ec2_tags_add(struct ec2_tags *t, const char *key, const char *value);
const char *ec2_tags_get(const struct ec2_tags *t, const char *key);
void ec2_tags_release(struct ec2_tags *t);

/* --- ImportImage ---------------------------------------------------------
 * A task imports one or more disks (disks[0] is the boot disk) from S3 or
 * a URL. The staging object must exist and stay until the task is done;
 * the role (default "vmimport") must be trusted by vmie.amazonaws.com and
 * may read the bucket — `amifs doctor` checks both. */

/* One disk of an import: format (OVA VMDK VHD VHDX RAW) and where it is
 * (s3_bucket + s3_key, or url); the rest is optional (NULL: not sent). */
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

/* One disk of a task as EC2 reports it while it converts: progress and
 * status move on with each DescribeImport*Tasks; snapshot_id appears once
 * the disk's snapshot exists; disk_image_size is in bytes (a double, as
 * EC2 sends it); the source is either url or s3_bucket/s3_key. */
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
 * Absent elements are NULL. status moves active → completed (image_id set)
 * or deleting → deleted (failed or cancelled; status_message says why);
 * progress is a percentage as text while active. The tags are the task's
 * own (TagSpecification at ImportImage), not the AMI's. */
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

/* Start an import. *out is the task as ImportImage answers it (id, status
 * "active", the echo of the parameters). AWS_ERR_INVALID when p has no
 * disk. Without p->client_token the call is not retried once it may have
 * reached EC2, so that a lost answer never starts a second import. */
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
/* All import-image tasks of the account in `region` (NULL: the client's),
 * or only `ids` (then an unknown id is AWS_ERR_SERVICE
 * InvalidConversionTaskId.Malformed / NotFound). state_filter NULL, or a
 * task-state filter value such as "active". Tasks deleted more than ~7
 * days ago are gone from EC2's answer. */
int ec2_describe_import_image_tasks(struct aws_client *c, const char *region,
                                    const char *const *ids, size_t nids,
                                    const char *state_filter,
                                    struct ec2_import_task_list *out,
                                    struct aws_error *err);
void ec2_import_task_list_release(struct ec2_import_task_list *l);

/* CancelImportTask (image or snapshot task) in the client's region;
 * `reason` (may be NULL) is stored with the task. Cancelling a task that
 * already finished fails with EC2's error code. */
int ec2_cancel_import_task(struct aws_client *c, const char *task_id,
                           const char *reason, struct aws_error *err);

/* --- ImportSnapshot ------------------------------------------------------
 * One disk to one EBS snapshot (no AMI). Same staging, role and client
 * token rules as ImportImage; `detail` follows the single disk. */

/* One import-snapshot task: the echo of the request plus `detail`, whose
 * status/progress/snapshot_id tell where the conversion is. */
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
/* All import-snapshot tasks of the account in `region` (NULL: the
 * client's), or only `ids`; every page, as for the image tasks above. */
int ec2_describe_import_snapshot_tasks(
    struct aws_client *c, const char *region, const char *const *ids,
    size_t nids, struct ec2_import_snapshot_task_list *out,
    struct aws_error *err);
void ec2_import_snapshot_task_list_release(
    struct ec2_import_snapshot_task_list *l);

/* --- Images and snapshots ------------------------------------------------
 * The account's own AMIs and snapshots (owner "self") in one region; the
 * describe calls return every page. An image keeps its DescribeImages
 * <item> as raw_xml so that image.json shows exactly what EC2 said. */

/* One blockDeviceMapping entry of an image: the EBS snapshot behind a
 * device name (instance-store entries have no snapshot: NULL), its size in
 * GiB, and the KMS key when encrypted (NULL: the account's default key). */
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
    char *deprecation_time;     /* deprecationTime, or NULL */
    struct ec2_block_device *devices;
    size_t ndevices;
    struct ec2_tags tags;
    char *raw_xml;        /* the <item> as received, for image.json */
};
struct ec2_image_list {
    struct ec2_image *v;
    size_t n;
};
/* The account's images (owner "self") in `region`, or only `ids` (an
 * unknown id is InvalidAMIID.NotFound; a deregistered one simply drops
 * out of the answer). */
int ec2_describe_images(struct aws_client *c, const char *region,
                        const char *const *ids, size_t nids,
                        struct ec2_image_list *out, struct aws_error *err);
void ec2_image_list_release(struct ec2_image_list *l);
/* The images other accounts let this one launch (ExecutableBy=self, any
 * owner) in `region`; images the account owns may be among them (callers
 * that want only others' compare owner_id). */
int ec2_describe_images_shared(struct aws_client *c, const char *region,
                               struct ec2_image_list *out,
                               struct aws_error *err);

/* One snapshot of the account (DescribeSnapshots): state is pending,
 * completed or error; volume_size in GiB; kms_key_id as for block
 * devices. */
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
/* Deregistering an image leaves its snapshots (delete them with
 * ec2_delete_snapshot; a snapshot still used by an image is
 * InvalidSnapshot.InUse). */
int ec2_deregister_image(struct aws_client *c, const char *region,
                         const char *image_id, struct aws_error *err);
int ec2_delete_snapshot(struct aws_client *c, const char *region,
                        const char *snapshot_id, struct aws_error *err);
/* CopyImage, sent to dst_region; the new image id into out (n bytes,
 * AWS_ERR_PARSE when it does not fit). The copy is asynchronous: the new
 * image is "pending" until EC2 finishes. */
int ec2_copy_image(struct aws_client *c, const char *src_region,
                   const char *image_id, const char *dst_region,
                   const char *name, const char *description,
                   const char *client_token, char *out, size_t n,
                   struct aws_error *err);

/* CopyImage with every option amifs uses. kms_key_id (a key id, key ARN,
 * alias name or alias ARN) makes the copy encrypted with that key
 * (Encrypted=true, KmsKeyId); NULL copies as the source is. src_region
 * NULL: the client's region. EC2 checks the key only asynchronously: an
 * unusable key shows later as a failed image, so callers resolve it first
 * (aws/kms.h) and check the copy's snapshots after. */
struct ec2_copy_params {
    const char *src_region;
    const char *image_id;
    const char *dst_region;
    const char *name;
    const char *description;
    const char *client_token;
    const char *kms_key_id;
};
int ec2_copy_image_ex(struct aws_client *c, const struct ec2_copy_params *p,
                      char *out, size_t n, struct aws_error *err);

/* A list of plain strings: account ids of a launch or create-volume
 * permission ("all" stands for the public group; a launch permission may
 * also be an AWS Organizations organization or OU ARN, "arn:…"), or
 * region names. */
struct ec2_id_list {
    char **v;
    size_t n;
};
void ec2_id_list_release(struct ec2_id_list *l);
int ec2_describe_launch_permissions(struct aws_client *c, const char *region,
                                    const char *image_id,
                                    struct ec2_id_list *out,
                                    struct aws_error *err);
/* add/remove user ids, "all", organization and OU ARNs (either list may
 * be empty). */
int ec2_modify_launch_permissions(struct aws_client *c, const char *region,
                                  const char *image_id,
                                  const struct ec2_id_list *add,
                                  const struct ec2_id_list *remove,
                                  struct aws_error *err);
int ec2_modify_snapshot_create_volume_permissions(
    struct aws_client *c, const char *region, const char *snapshot_id,
    const struct ec2_id_list *add, const struct ec2_id_list *remove,
    struct aws_error *err);

/* The regions enabled for the account (opt-in regions not opted in are
 * left out), in EC2's order. */
int ec2_describe_regions(struct aws_client *c, struct ec2_id_list *out,
                         struct aws_error *err);

/* --- Instances -----------------------------------------------------------
 * The account's instances in one region (DescribeInstances, every page,
 * every reservation flattened), and CreateImage from one of them. */
struct ec2_instance {
    char *instance_id;
    char *state;           /* pending running stopping stopped … */
    char *type;            /* t3.micro … */
    char *name;            /* the Name tag, or NULL */
    struct ec2_id_list volumes; /* EBS volume ids, in mapping order */
    struct ec2_tags tags;
    char *raw_xml;         /* the <item>, for info.json */
};
struct ec2_instance_list {
    struct ec2_instance *v;
    size_t n;
};
int ec2_describe_instances(struct aws_client *c, const char *region,
                           struct ec2_instance_list *out,
                           struct aws_error *err);
void ec2_instance_list_release(struct ec2_instance_list *l);
struct xml_node;
int ec2_parse_instances(const struct xml_node *root,
                        struct ec2_instance_list *out, char **next,
                        struct aws_error *err);
/* CreateImage of instance_id named `name`: with no_reboot false EC2 stops
 * the instance's OS for the snapshot (a consistent file system), with
 * true it snapshots the running disks (crash-consistent). `tags` (may be
 * NULL) go on the image and on its snapshots (TagSpecification). The new
 * image id into out. Not retried once sent (no ClientToken exists; the
 * name is unique, so a second image cannot appear). */
int ec2_create_image(struct aws_client *c, const char *region,
                     const char *instance_id, const char *name,
                     bool no_reboot, const struct ec2_tags *tags, char *out,
                     size_t n, struct aws_error *err);

/* An image action whose only parameters are ImageId and at most one more
 * (name=value; NULL: none) and whose answer is <return>true</return>:
 * EnableImageDeprecation (DeprecateAt), DisableImageDeprecation,
 * DisableImage, EnableImage. Idempotent (sent as retryable). */
int ec2_image_action(struct aws_client *c, const char *region,
                     const char *action, const char *image_id,
                     const char *name, const char *value,
                     struct aws_error *err);

/* --- JSON rendering and pieces exposed for unit tests -------------------
 * The renderers and parsers below are pure (no I/O, no client): the unit
 * tests feed them recorded answers and the fuzz targets feed them hostile
 * XML. They are the same code the calls above run, not copies. */

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
/* launchPermission items: user ids, "all" for the group, organization
 * and OU ARNs. */
int ec2_parse_launch_permissions(const struct xml_node *root,
                                 struct ec2_id_list *out,
                                 struct aws_error *err);
int ec2_parse_regions(const struct xml_node *root, struct ec2_id_list *out,
                      struct aws_error *err);
/* ImportImage's form parameters (exposed so tests can check wire names). */
struct aws_form;
void ec2_import_image_form(struct aws_form *f,
                           const struct ec2_import_params *p);

/* --- RegisterImage -------------------------------------------------------
 * An AMI from EBS snapshots that already exist (the snapshot route of
 * core/snaproute.h: ImportSnapshot per disk, then this). It takes what
 * ImportImage cannot: boot mode uefi-preferred, architecture arm64,
 * EnaSupport, TpmSupport and ImdsSupport. The name must be unique in the
 * account and region: a second call with the same name fails with
 * InvalidAMIName.Duplicate (callers use that to make a retry harmless, as
 * RegisterImage has no client token). Tags go out as TagSpecification
 * ResourceType image (the snapshots are tagged with ec2_create_tags). */
struct ec2_register_disk {
    const char *device_name;   /* "/dev/sda1", "/dev/sdb" … */
    const char *snapshot_id;
    bool delete_on_termination;
};
struct ec2_register_params {
    const char *name;               /* required, unique */
    const char *description;
    const char *architecture;       /* i386 x86_64 arm64 x86_64_mac … */
    const char *boot_mode;          /* legacy-bios uefi uefi-preferred */
    const char *root_device_name;   /* required: disks[0]'s device */
    const char *tpm_support;        /* "v2.0" or NULL */
    const char *imds_support;       /* "v2.0" or NULL */
    bool ena_support;
    const struct ec2_register_disk *disks;
    size_t ndisks;
    const struct ec2_tags *tags;    /* on the image */
};
/* The form RegisterImage sends (exposed so unit tests check wire names). */
void ec2_register_image_form(struct aws_form *f,
                             const struct ec2_register_params *p);
/* RegisterImage; the new AMI id into out (n bytes). Not retried after a
 * lost answer (see the name rule above). */
int ec2_register_image(struct aws_client *c, const char *region,
                       const struct ec2_register_params *p, char *out,
                       size_t n, struct aws_error *err);

#endif
