/* test_fleet.c — the network-free parts of the fleet (doc/design/fleet.md):
 * the queue entry's JSON both ways, region lists, CopyImage tokens, the
 * lifecycle rule's parsing, KeepStaged/CopyToRegions parameters. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "aws/s3.h"
#include "aws/xml.h"
#include "core/importqueue.h"
#include "core/params.h"
#include "core/regioncopy.h"
#include "check.h"

static void test_entry_roundtrip(void)
{
    struct ec2_disk_container disk = {.format = "VMDK", .s3_bucket = "b",
                                      .s3_key = "p/2026/vm \"1\".vmdk"};
    struct ec2_tags tags = {0};
    CHECK(ec2_tags_add(&tags, "Name", "vm1") == 0);
    CHECK(ec2_tags_add(&tags, "Team", "") == 0);
    struct ec2_import_params p = {.disks = &disk, .ndisks = 1,
                                  .description = "d", .boot_mode = "uefi",
                                  .role_name = "vmimport", .encrypted = true,
                                  .client_token = "abc", .tags = &tags};
    char *json = importqueue_encode(&p, "vm1.vmdk", "host:1:2", 42.0);
    CHECK(json != NULL);
    cJSON *root = NULL;
    struct ec2_import_params q;
    struct ec2_disk_container disks[4];
    struct ec2_tags qt;
    CHECK(importqueue_decode(json, strlen(json), &root, &q, disks, 4, &qt) ==
          0);
    CHECK(q.ndisks == 1 && streq(q.disks[0].s3_key, disk.s3_key));
    CHECK(streq(q.disks[0].format, "VMDK") && streq(q.disks[0].s3_bucket, "b"));
    CHECK(streq(q.client_token, "abc") && streq(q.boot_mode, "uefi"));
    CHECK(streq(q.role_name, "vmimport") && q.encrypted && !q.platform);
    CHECK(q.tags && q.tags->n == 2 && streq(ec2_tags_get(q.tags, "Team"), ""));
    const cJSON *claim = cJSON_GetObjectItem(root, "claim");
    CHECK(streq(cJSON_GetStringValue(cJSON_GetObjectItem(claim, "by")),
                "host:1:2"));
    cJSON_Delete(root);
    ec2_tags_release(&qt);
    free(json);
    ec2_tags_release(&tags);
}

static void test_entry_refused(void)
{
    cJSON *root = NULL;
    struct ec2_import_params q;
    struct ec2_disk_container disks[1];
    struct ec2_tags qt;
    const char *bad[] = {"", "{", "{\"params\":{}}",
                         "{\"params\":{\"disks\":[],\"client_token\":\"t\"}}",
                         "{\"params\":{\"disks\":[{\"key\":\"k\",\"bucket\":"
                         "\"b\"}]}}", /* no token */
                         "{\"params\":{\"client_token\":\"t\",\"disks\":["
                         "{\"key\":\"k\",\"bucket\":\"b\"},{\"key\":\"k2\","
                         "\"bucket\":\"b\"}]}}"}; /* more than maxdisks */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(importqueue_decode(bad[i], strlen(bad[i]), &root, &q, disks, 1,
                                 &qt) == -EINVAL, "case %zu", i);
}

static void test_regions(void)
{
    CHECK(import_regions_ok("eu-west-1"));
    CHECK(import_regions_ok("eu-west-1,us-west-2"));
    CHECK(!import_regions_ok(""));
    CHECK(!import_regions_ok("eu-west-1,"));
    CHECK(!import_regions_ok("EU-west-1"));
    CHECK(!import_regions_ok("eu west"));
    CHECK(!import_regions_ok("a,b"));
    struct import_params p;
    import_params_init(&p);
    char why[256] = "";
    const char *j = "{\"CopyToRegions\": [\"eu-west-1\", \"us-west-2\"],"
                    " \"KeepStaged\": true}";
    CHECK(import_params_from_json(&p, j, strlen(j), why, sizeof why) == 0,
          "%s", why);
    CHECK(streq(p.copy_regions, "eu-west-1,us-west-2") && p.keep_staged == 1);
    const char *bad = "{\"CopyToRegions\": \"eu-west-1\"}";
    CHECK(import_params_from_json(&p, bad, strlen(bad), why, sizeof why) ==
          -EINVAL);
    CHECK(import_params_setxattr(&p, "user.amifs.keep_staged", "false", 5) ==
          0 && p.keep_staged == 0);
    CHECK(import_params_setxattr(&p, "user.amifs.copy_to_regions", "x y",
                                 3) == -EINVAL);
    CHECK(streq(import_params_getxattr(&p, "user.amifs.copy_to_regions"),
                "eu-west-1,us-west-2"));
    struct import_params m;
    import_params_init(&m);
    CHECK(import_params_merge(&m, &p) == 0);
    CHECK(streq(m.copy_regions, p.copy_regions) && m.keep_staged == 0);
    import_params_release(&m);
    import_params_release(&p);
}

static void test_copy_token(void)
{
    char a[65], b[65], c[65];
    regioncopy_token("ami-1", "eu-west-1", a);
    regioncopy_token("ami-1", "eu-west-1", b);
    regioncopy_token("ami-1", "us-west-2", c);
    CHECK(strlen(a) == 64 && strcmp(a, b) == 0 && strcmp(a, c) != 0);
}

static int lifecycle(const char *xml, const char *prefix,
                     struct s3_lifecycle *out)
{
    struct aws_error err;
    aws_error_clear(&err);
    struct xml_doc *d = xml_parse(xml, strlen(xml), &err);
    int rc = d ? s3_parse_lifecycle(xml_root(d), prefix, out) : -1;
    xml_free(d);
    return rc;
}

static void test_lifecycle(void)
{
    struct s3_lifecycle lc;
    const char *x =
        "<LifecycleConfiguration><Rule><ID>a</ID><Filter><Prefix>logs/"
        "</Prefix></Filter><Status>Enabled</Status>"
        "<AbortIncompleteMultipartUpload><DaysAfterInitiation>3"
        "</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>"
        "<Rule><ID>b</ID><Filter><Prefix></Prefix></Filter><Status>Disabled"
        "</Status><AbortIncompleteMultipartUpload><DaysAfterInitiation>1"
        "</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>"
        "<Rule><ID>c</ID><Prefix>imp</Prefix><Status>Enabled</Status>"
        "<AbortIncompleteMultipartUpload><DaysAfterInitiation>9"
        "</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>"
        "</LifecycleConfiguration>";
    CHECK(lifecycle(x, "imports/a", &lc) == 0 && lc.nrules == 3);
    CHECK(lc.abort_days == 9, "%d", lc.abort_days); /* c; b is disabled */
    CHECK(lifecycle(x, "logs/x", &lc) == 0 && lc.abort_days == 3);
    CHECK(lifecycle(x, "other", &lc) == 0 && lc.abort_days == 0);
}

int main(void)
{
    test_entry_roundtrip();
    test_entry_refused();
    test_regions();
    test_copy_token();
    test_lifecycle();
    return check_exit();
}
