/*
 * fuzz_xml.c — libFuzzer target: AWS XML answers through xml_parse() and
 * every response parser aws/ exposes (S3, EC2, IAM, STS), plus the EC2
 * XML → JSON rendering.
 *
 * Input: byte 0 picks the parser (modulo the table size), the rest is the
 * response body exactly as a server would send it. Each parser gets a
 * zeroed result struct that is released afterwards whatever the parser
 * returned, so a parser that frees on failure but leaves pointers behind
 * shows up as a double free. Seeds: corpus/fuzz_xml/ (mkcorpus.py prefixes
 * each shared/aws/examples body with the byte of its parser).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws/creds.h"
#include "aws/ec2.h"
#include "aws/iam.h"
#include "aws/sts.h"
#include "aws/s3.h"
#include "aws/xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef void (*parse_fn)(const struct xml_node *root);

static void do_list_buckets(const struct xml_node *root)
{
    struct s3_bucket_list l = {0};
    struct aws_error err;
    char *next = NULL;

    s3_parse_list_buckets(root, &l, &next, &err);
    free(next);
    s3_bucket_list_release(&l);
}

static void do_location(const struct xml_node *root)
{
    struct aws_error err;
    char region[64];

    s3_parse_location(root, region, sizeof region, &err);
    /* a tiny buffer must truncate, never overflow */
    s3_parse_location(root, region, 3, &err);
}

static void do_list_objects(const struct xml_node *root)
{
    struct s3_listing l = {0};
    struct aws_error err;
    char *next = NULL;

    s3_parse_list_objects(root, &l, &next, &err);
    free(next);
    s3_listing_release(&l);
}

static void do_uploads(const struct xml_node *root)
{
    struct s3_upload_list l = {0};
    struct aws_error err;
    char *k = NULL, *id = NULL;

    s3_parse_uploads(root, &l, &k, &id, &err);
    free(k);
    free(id);
    s3_upload_list_release(&l);
}

static void do_parts(const struct xml_node *root)
{
    struct s3_part *parts = NULL;
    size_t n = 0;
    struct aws_error err;
    char *next = NULL, etag[72];

    if (s3_parse_parts(root, &parts, &n, &next, &err) == 0 && n)
        s3_multipart_etag(parts, n, etag);
    free(next);
    free(parts);
}

static void do_result_etag(const struct xml_node *root)
{
    struct aws_error err;
    char etag[72];

    s3_parse_result_etag(root, "CompleteMultipartUploadResult", etag, &err);
}

static void do_import_task(const struct xml_node *root)
{
    struct ec2_import_task t = {0};
    struct aws_error err;

    ec2_parse_import_task(root, &t, &err);
    ec2_import_task_release(&t);
}

static void do_import_tasks(const struct xml_node *root)
{
    struct ec2_import_task_list l = {0};
    struct aws_error err;
    char *next = NULL;

    ec2_parse_import_tasks(root, &l, &next, &err);
    free(next);
    ec2_import_task_list_release(&l);
}

static void do_import_snapshot_task(const struct xml_node *root)
{
    struct ec2_import_snapshot_task t = {0};
    struct aws_error err;

    ec2_parse_import_snapshot_task(root, &t, &err);
    ec2_import_snapshot_task_release(&t);
}

static void do_import_snapshot_tasks(const struct xml_node *root)
{
    struct ec2_import_snapshot_task_list l = {0};
    struct aws_error err;
    char *next = NULL;

    ec2_parse_import_snapshot_tasks(root, &l, &next, &err);
    free(next);
    ec2_import_snapshot_task_list_release(&l);
}

static void do_images(const struct xml_node *root)
{
    struct ec2_image_list l = {0};
    struct aws_error err;
    char *next = NULL;

    if (ec2_parse_images(root, &l, &next, &err) == 0)
        for (size_t i = 0; i < l.n; i++)
            free(ec2_image_to_json(&l.v[i])); /* re-parses raw_xml */
    free(next);
    ec2_image_list_release(&l);
}

static void do_snapshots(const struct xml_node *root)
{
    struct ec2_snapshot_list l = {0};
    struct aws_error err;
    char *next = NULL;

    ec2_parse_snapshots(root, &l, &next, &err);
    free(next);
    ec2_snapshot_list_release(&l);
}

static void do_launch_permissions(const struct xml_node *root)
{
    struct ec2_id_list l = {0};
    struct aws_error err;

    ec2_parse_launch_permissions(root, &l, &err);
    ec2_id_list_release(&l);
}

static void do_regions(const struct xml_node *root)
{
    struct ec2_id_list l = {0};
    struct aws_error err;

    ec2_parse_regions(root, &l, &err);
    ec2_id_list_release(&l);
}

static void do_role(const struct xml_node *root)
{
    struct iam_role r = {0};
    struct aws_error err;

    iam_parse_role(root, &r, &err);
    iam_role_release(&r);
}

static void do_role_policy(const struct xml_node *root)
{
    struct aws_error err;
    char *doc = NULL;

    iam_parse_role_policy(root, &doc, &err);
    free(doc);
}

static void do_policy_names(const struct xml_node *root)
{
    struct aws_error err;
    char **names = NULL, *marker = NULL;
    size_t n = 0;

    iam_parse_policy_names(root, &names, &n, &marker, &err);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(marker);
}

static void do_caller_identity(const struct xml_node *root)
{
    struct sts_identity id = {0};
    struct aws_error err;

    sts_parse_caller_identity(root, &id, &err);
    sts_identity_release(&id);
}

static void do_assume_role(const struct xml_node *root)
{
    struct aws_credentials c = {0};
    struct aws_error err;

    sts_parse_assume_role(root, &c, &err);
    aws_credentials_release(&c);
}

/* Walk the tree through the lookup API (every node, every sibling). */
static void do_walk(const struct xml_node *n)
{
    for (const struct xml_node *c = xml_child(n, NULL); c;
         c = xml_next(c, NULL)) {
        (void)strlen(xml_text(c));
        (void)xml_path(n, xml_name(c));
        do_walk(c);
    }
}

/* Selector order is the seed format: keep it (mkcorpus.py knows it). */
static const parse_fn parsers[] = {
    do_walk,                  /* 0 */
    do_list_buckets,          /* 1 */
    do_location,              /* 2 */
    do_list_objects,          /* 3 */
    do_uploads,               /* 4 */
    do_parts,                 /* 5 */
    do_result_etag,           /* 6 */
    do_import_task,           /* 7 */
    do_import_tasks,          /* 8 */
    do_import_snapshot_task,  /* 9 */
    do_import_snapshot_tasks, /* 10 */
    do_images,                /* 11 */
    do_snapshots,             /* 12 */
    do_launch_permissions,    /* 13 */
    do_regions,               /* 14 */
    do_role,                  /* 15 */
    do_role_policy,           /* 16 */
    do_policy_names,          /* 17 */
    do_caller_identity,       /* 18 */
    do_assume_role,           /* 19 */
};
#define NPARSERS (sizeof parsers / sizeof parsers[0])
#define SEL_XML_TO_JSON NPARSERS /* 20: ec2_xml_to_json on the raw bytes */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct aws_error err;
    struct xml_doc *doc;
    size_t sel;

    if (size < 1)
        return 0;
    sel = data[0] % (NPARSERS + 1);
    if (sel == SEL_XML_TO_JSON) {
        free(ec2_xml_to_json((const char *)data + 1, size - 1));
        return 0;
    }
    doc = xml_parse((const char *)data + 1, size - 1, &err);
    if (!doc)
        return 0;
    parsers[sel](xml_root(doc));
    xml_free(doc);
    return 0;
}
