/*
 * test_ec2_parse.c — the pure halves of aws/ec2.c on the verified answer
 * bodies of shared/aws/examples (embedded below, generated from the files
 * unchanged): import tasks, images (and their image.json rendering),
 * snapshots, launch permissions, regions, import-snapshot tasks, and the
 * ImportImage wire names.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "aws/ec2.h"
#include "aws/xml.h"
#include "check.h"
#include "xmlfix.h"

static const char import_tasks_xml[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<DescribeImportImageTasksResponse xmlns=\"http://ec2.amazonaws.com/doc"
    "/2016-11-15/\">\n"
    "  <requestId>5f1b2c3d-0000-4000-8000-00000000aa01</requestId>\n"
    "  <importImageTaskSet>\n"
    "    <item>\n"
    "      <architecture>x86_64</architecture><description>amifs import of "
    "disk.vmdk</description>\n"
    "      <encrypted>false</encrypted><importTaskId>import-ami-0123456789a"
    "bcdef0</importTaskId>\n"
    "      <licenseType>BYOL</licenseType><platform>Linux</platform><progre"
    "ss>28</progress>\n"
    "      <snapshotDetailSet>\n"
    "        <item>\n"
    "          <description>root disk</description><deviceName>/dev/sda1</d"
    "eviceName>\n"
    "          <diskImageSize>705638400.0</diskImageSize><format>VMDK</form"
    "at><status>completed</status>\n"
    "          <userBucket><s3Bucket>my-import-bucket</s3Bucket><s3Key>amif"
    "s/disk.vmdk</s3Key></userBucket>\n"
    "        </item>\n"
    "      </snapshotDetailSet>\n"
    "      <status>active</status><statusMessage>converting</statusMessage>\n"
    "      <tagSet><item><key>amifs:source</key><value>/mnt/amifs/disk.vmdk"
    "</value></item></tagSet>\n"
    "      <bootMode>legacy-bios</bootMode>\n"
    "    </item>\n"
    "  </importImageTaskSet>\n"
    "</DescribeImportImageTasksResponse>\n";

static const char import_image_xml[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ImportImageResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/"
    "\">\n"
    "  <requestId>5f1b2c3d-0000-4000-8000-00000000aa02</requestId>\n"
    "  <description>amifs import of disk.vmdk</description><importTaskId>im"
    "port-ami-0123456789abcdef0</importTaskId>\n"
    "  <licenseType>BYOL</licenseType><progress>1</progress>\n"
    "  <snapshotDetailSet>\n"
    "    <item><diskImageSize>0.0</diskImageSize><format>VMDK</format>\n"
    "      <userBucket><s3Bucket>my-import-bucket</s3Bucket><s3Key>amifs/di"
    "sk.vmdk</s3Key></userBucket></item>\n"
    "  </snapshotDetailSet>\n"
    "  <status>active</status><statusMessage>pending</statusMessage>\n"
    "  <tagSet><item><key>amifs:source</key><value>/mnt/amifs/disk.vmdk</va"
    "lue></item></tagSet>\n"
    "</ImportImageResponse>\n";

static const char images_xml[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<DescribeImagesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-1"
    "5/\">\n"
    "  <requestId>req-0001</requestId>\n"
    "  <imagesSet>\n"
    "    <item>\n"
    "      <imageId>ami-0abcdef1234567890</imageId>\n"
    "      <imageLocation>123456789012/import-ami-0123456789abcdef0</imageL"
    "ocation>\n"
    "      <imageState>available</imageState>\n"
    "      <imageOwnerId>123456789012</imageOwnerId>\n"
    "      <creationDate>2024-05-01T12:30:00.000Z</creationDate>\n"
    "      <isPublic>false</isPublic>\n"
    "      <architecture>x86_64</architecture>\n"
    "      <imageType>machine</imageType>\n"
    "      <name>import-ami-0123456789abcdef0</name>\n"
    "      <description>AWS-VMImport service: Linux - Debian 12 - 6.1.0</de"
    "scription>\n"
    "      <rootDeviceType>ebs</rootDeviceType>\n"
    "      <rootDeviceName>/dev/sda1</rootDeviceName>\n"
    "      <blockDeviceMapping>\n"
    "        <item>\n"
    "          <deviceName>/dev/sda1</deviceName>\n"
    "          <ebs>\n"
    "            <snapshotId>snap-0123456789abcdef0</snapshotId>\n"
    "            <volumeSize>8</volumeSize>\n"
    "            <deleteOnTermination>true</deleteOnTermination>\n"
    "            <volumeType>gp2</volumeType>\n"
    "            <encrypted>false</encrypted>\n"
    "          </ebs>\n"
    "        </item>\n"
    "      </blockDeviceMapping>\n"
    "      <virtualizationType>hvm</virtualizationType>\n"
    "      <tagSet>\n"
    "        <item><key>amifs:source</key><value>/mnt/amifs/disk.vmdk</valu"
    "e></item>\n"
    "      </tagSet>\n"
    "      <hypervisor>xen</hypervisor>\n"
    "      <enaSupport>true</enaSupport>\n"
    "      <platformDetails>Linux/UNIX</platformDetails>\n"
    "      <usageOperation>RunInstances</usageOperation>\n"
    "      <bootMode>legacy-bios</bootMode>\n"
    "    </item>\n"
    "  </imagesSet>\n"
    "</DescribeImagesResponse>\n";

static const char snapshots_xml[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<DescribeSnapshotsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-1"
    "1-15/\">\n"
    "  <requestId>req-0002</requestId>\n"
    "  <snapshotSet>\n"
    "    <item>\n"
    "      <snapshotId>snap-0123456789abcdef0</snapshotId>\n"
    "      <volumeId>vol-ffffffff</volumeId>\n"
    "      <status>completed</status>\n"
    "      <startTime>2024-05-01T12:20:00.000Z</startTime>\n"
    "      <progress>100%</progress>\n"
    "      <ownerId>123456789012</ownerId>\n"
    "      <volumeSize>8</volumeSize>\n"
    "      <description>Created by AWS-VMImport service for import-ami-0123"
    "456789abcdef0</description>\n"
    "      <encrypted>false</encrypted>\n"
    "      <storageTier>standard</storageTier>\n"
    "    </item>\n"
    "  </snapshotSet>\n"
    "</DescribeSnapshotsResponse>\n";

static const char image_attr_xml[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<DescribeImageAttributeResponse xmlns=\"http://ec2.amazonaws.com/doc/2"
    "016-11-15/\">\n"
    "  <requestId>req-0004</requestId>\n"
    "  <imageId>ami-0abcdef1234567890</imageId>\n"
    "  <launchPermission>\n"
    "    <item><userId>210987654321</userId></item>\n"
    "    <item><group>all</group></item>\n"
    "  </launchPermission>\n"
    "</DescribeImageAttributeResponse>\n";

static const char regions_xml[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<DescribeRegionsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-"
    "15/\">\n"
    "  <requestId>req-0005</requestId>\n"
    "  <regionInfo>\n"
    "    <item><regionName>us-east-1</regionName><regionEndpoint>ec2.us-eas"
    "t-1.amazonaws.com</regionEndpoint><optInStatus>opt-in-not-required</op"
    "tInStatus></item>\n"
    "    <item><regionName>eu-west-1</regionName><regionEndpoint>ec2.eu-wes"
    "t-1.amazonaws.com</regionEndpoint><optInStatus>opt-in-not-required</op"
    "tInStatus></item>\n"
    "  </regionInfo>\n"
    "</DescribeRegionsResponse>\n";

static const char snap_tasks_xml[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<DescribeImportSnapshotTasksResponse xmlns=\"http://ec2.amazonaws.com/"
    "doc/2016-11-15/\">\n"
    "  <requestId>req-0007</requestId>\n"
    "  <importSnapshotTaskSet>\n"
    "    <item>\n"
    "      <importTaskId>import-snap-0123456789abcdef0</importTaskId>\n"
    "      <description>amifs data disk</description>\n"
    "      <snapshotTaskDetail>\n"
    "        <diskImageSize>1073741824.0</diskImageSize>\n"
    "        <encrypted>false</encrypted>\n"
    "        <format>RAW</format>\n"
    "        <progress>42</progress>\n"
    "        <status>active</status>\n"
    "        <statusMessage>downloading/converting</statusMessage>\n"
    "        <userBucket><s3Bucket>my-import-bucket</s3Bucket><s3Key>amifs/"
    "data.raw</s3Key></userBucket>\n"
    "      </snapshotTaskDetail>\n"
    "      <tagSet/>\n"
    "    </item>\n"
    "  </importSnapshotTaskSet>\n"
    "</DescribeImportSnapshotTasksResponse>\n";

static const char cancel_xml[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<CancelImportTaskResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11"
    "-15/\">\n"
    "  <requestId>req-0006</requestId>\n"
    "  <importTaskId>import-ami-0123456789abcdef0</importTaskId>\n"
    "  <previousState>active</previousState>\n"
    "  <state>deleting</state>\n"
    "</CancelImportTaskResponse>\n";

static const char copy_image_xml[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<CopyImageResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\n"
    "  <requestId>req-0008</requestId>\n"
    "  <imageId>ami-0fedcba9876543210</imageId>\n"
    "</CopyImageResponse>\n";

static void test_import_tasks(void)
{
    struct aws_error err;
    struct ec2_import_task_list l = {0};
    char *next = NULL;
    struct xml_doc *d = parse_fixture(import_tasks_xml);
    CHECK(ec2_parse_import_tasks(xml_root(d), &l, &next, &err) == 0,
          "parse: %s", err.message);
    CHECK(l.n == 1, "one task");
    CHECK(next == NULL, "no next token");
    if (l.n == 1) {
        const struct ec2_import_task *t = &l.v[0];
        CHECK(STREQ(t->import_task_id, "import-ami-0123456789abcdef0"), "id");
        CHECK(STREQ(t->status, "active"), "status");
        CHECK(STREQ(t->status_message, "converting"), "message");
        CHECK(STREQ(t->progress, "28"), "progress");
        CHECK(STREQ(t->architecture, "x86_64"), "arch");
        CHECK(STREQ(t->platform, "Linux"), "platform");
        CHECK(STREQ(t->license_type, "BYOL"), "license");
        CHECK(STREQ(t->boot_mode, "legacy-bios"), "boot mode");
        CHECK(!t->encrypted, "not encrypted");
        CHECK(t->image_id == NULL, "no image id while active");
        CHECK(t->nsnapshots == 1, "one snapshot detail");
        if (t->nsnapshots) {
            const struct ec2_snapshot_detail *s = &t->snapshots[0];
            CHECK(s->disk_image_size == 705638400.0, "disk image size");
            CHECK(STREQ(s->format, "VMDK"), "format");
            CHECK(STREQ(s->device_name, "/dev/sda1"), "device");
            CHECK(STREQ(s->s3_bucket, "my-import-bucket") &&
                      STREQ(s->s3_key, "amifs/disk.vmdk"),
                  "user bucket");
            CHECK(STREQ(s->status, "completed"), "detail status");
        }
        CHECK(STREQ(ec2_tags_get(&t->tags, "amifs:source"),
                    "/mnt/amifs/disk.vmdk"),
              "tag");
        CHECK(ec2_tags_get(&t->tags, "missing") == NULL, "missing tag");
    }
    ec2_import_task_list_release(&l);
    CHECK(l.v == NULL && l.n == 0, "released");
    xml_free(d);

    /* Pagination token, and a failed task (imageId empty element). */
    d = parse_fixture("<DescribeImportImageTasksResponse><importImageTaskSet><item>"
              "<importTaskId>import-ami-1</importTaskId><imageId/><status>"
              "deleted</status><statusMessage>CLIENT_ERROR : ClientError: "
              "Unknown OS / Missing OS files.</statusMessage></item>"
              "</importImageTaskSet><nextToken>tok2</nextToken>"
              "</DescribeImportImageTasksResponse>");
    CHECK(ec2_parse_import_tasks(xml_root(d), &l, &next, &err) == 0, "p2");
    CHECK(STREQ(next, "tok2"), "next token");
    CHECK(l.n == 1 && STREQ(l.v[0].status, "deleted") &&
              STREQ(l.v[0].image_id, "") &&
              strstr(l.v[0].status_message, "Unknown OS") != NULL,
          "failed task");
    free(next);
    ec2_import_task_list_release(&l);
    xml_free(d);

    d = parse_fixture("<Response><Errors><Error><Code>InvalidParameter</Code>"
              "</Error></Errors></Response>");
    CHECK(ec2_parse_import_tasks(xml_root(d), &l, &next, &err) < 0 &&
              err.kind == AWS_ERR_PARSE,
          "an error document is not a task list");
    xml_free(d);
}

static void test_import_image_answer(void)
{
    struct aws_error err;
    struct ec2_import_task t;
    struct xml_doc *d = parse_fixture(import_image_xml);
    CHECK(ec2_parse_import_task(xml_root(d), &t, &err) == 0, "parse");
    CHECK(STREQ(t.import_task_id, "import-ami-0123456789abcdef0"), "id");
    CHECK(STREQ(t.status, "active") && STREQ(t.status_message, "pending") &&
              STREQ(t.progress, "1"),
          "state");
    CHECK(t.nsnapshots == 1 && t.snapshots[0].disk_image_size == 0.0 &&
              STREQ(t.snapshots[0].s3_key, "amifs/disk.vmdk"),
          "detail");
    CHECK(t.tags.n == 1, "tags");
    ec2_import_task_release(&t);
    xml_free(d);
}

static const char failed_image_xml[] =
    "<DescribeImagesResponse><imagesSet><item>"
    "<imageId>ami-0f</imageId><imageState>failed</imageState>"
    "<stateReason><code>Client.InvalidSnapshot.NotFound</code>"
    "<message>snapshot snap-1 &amp; its volume are gone</message>"
    "</stateReason></item></imagesSet></DescribeImagesResponse>";

/* A failed image carries its stateReason (code and message, entities
 * decoded) for amis/NAME/state. */
static void test_image_state_reason(void)
{
    struct aws_error err;
    struct ec2_image_list l = {0};
    char *next = NULL;
    struct xml_doc *d = parse_fixture(failed_image_xml);
    CHECK(ec2_parse_images(xml_root(d), &l, &next, &err) == 0, "parse");
    CHECK(l.n == 1 && STREQ(l.v[0].state, "failed") &&
              STREQ(l.v[0].state_reason_code,
                    "Client.InvalidSnapshot.NotFound") &&
              STREQ(l.v[0].state_reason,
                    "snapshot snap-1 & its volume are gone"),
          "stateReason: %s", l.n ? SHOW(l.v[0].state_reason) : "no image");
    ec2_image_list_release(&l);
    xml_free(d);
}

static void test_images(void)
{
    struct aws_error err;
    struct ec2_image_list l = {0};
    char *next = NULL;
    struct xml_doc *d = parse_fixture(images_xml);
    CHECK(ec2_parse_images(xml_root(d), &l, &next, &err) == 0, "parse");
    CHECK(l.n == 1 && next == NULL, "one image");
    if (l.n != 1) {
        ec2_image_list_release(&l);
        xml_free(d);
        return;
    }
    const struct ec2_image *im = &l.v[0];
    CHECK(STREQ(im->image_id, "ami-0abcdef1234567890"), "id");
    CHECK(STREQ(im->state, "available"), "state");
    CHECK(STREQ(im->owner_id, "123456789012"), "owner");
    CHECK(STREQ(im->name, "import-ami-0123456789abcdef0"), "name");
    CHECK(STREQ(im->root_device_name, "/dev/sda1"), "root device");
    CHECK(STREQ(im->boot_mode, "legacy-bios"), "boot mode");
    CHECK(im->state_reason == NULL && im->state_reason_code == NULL,
          "no stateReason for an available image");
    CHECK(im->platform == NULL, "no platform for Linux");
    CHECK(!im->is_public, "private");
    CHECK(im->ndevices == 1 &&
              STREQ(im->devices[0].snapshot_id, "snap-0123456789abcdef0") &&
              im->devices[0].volume_size == 8 && !im->devices[0].encrypted,
          "block device");
    CHECK(STREQ(ec2_tags_get(&im->tags, "amifs:source"),
                "/mnt/amifs/disk.vmdk"),
          "tag");
    CHECK(im->raw_xml && strncmp(im->raw_xml, "<item><imageId>", 15) == 0,
          "raw xml: %.40s", im->raw_xml ? im->raw_xml : "(null)");

    char *js = ec2_image_to_json(im);
    cJSON *j = js ? cJSON_Parse(js) : NULL;
    CHECK(j != NULL, "image.json parses");
    cJSON *bdm = cJSON_GetObjectItemCaseSensitive(j, "BlockDeviceMappings");
    cJSON *ebs = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(bdm, 0),
                                                  "Ebs");
    cJSON *tags = cJSON_GetObjectItemCaseSensitive(j, "Tags");
    CHECK(STREQ(cJSON_GetStringValue(
                    cJSON_GetObjectItemCaseSensitive(j, "ImageId")),
                "ami-0abcdef1234567890"),
          "ImageId");
    CHECK(cJSON_IsArray(bdm) && cJSON_GetArraySize(bdm) == 1, "BDM array");
    CHECK(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(ebs, "VolumeSize"))
              && cJSON_GetObjectItemCaseSensitive(ebs, "VolumeSize")
                         ->valuedouble == 8,
          "VolumeSize number");
    CHECK(cJSON_IsTrue(
              cJSON_GetObjectItemCaseSensitive(ebs, "DeleteOnTermination")),
          "DeleteOnTermination bool");
    CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "Public")),
          "Public bool (the CLI's name for isPublic)");
    CHECK(STREQ(cJSON_GetStringValue(
                    cJSON_GetObjectItemCaseSensitive(j, "State")),
                "available") &&
              STREQ(cJSON_GetStringValue(
                        cJSON_GetObjectItemCaseSensitive(j, "OwnerId")),
                    "123456789012"),
          "State and OwnerId as the CLI names them");
    CHECK(STREQ(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                    cJSON_GetArrayItem(tags, 0), "Key")),
                "amifs:source"),
          "Tags[0].Key");
    CHECK(STREQ(cJSON_GetStringValue(
                    cJSON_GetObjectItemCaseSensitive(j, "PlatformDetails")),
                "Linux/UNIX"),
          "every field kept");
    cJSON_Delete(j);
    free(js);
    ec2_image_list_release(&l);
    xml_free(d);
}

static void test_snapshots_perms_regions(void)
{
    struct aws_error err;
    struct ec2_snapshot_list s = {0};
    struct ec2_id_list ids = {0};
    char *next = NULL;
    struct xml_doc *d = parse_fixture(snapshots_xml);
    CHECK(ec2_parse_snapshots(xml_root(d), &s, &next, &err) == 0, "parse");
    CHECK(s.n == 1 && STREQ(s.v[0].snapshot_id, "snap-0123456789abcdef0") &&
              STREQ(s.v[0].state, "completed") && s.v[0].volume_size == 8 &&
              strstr(s.v[0].description, "AWS-VMImport") != NULL,
          "snapshot");
    ec2_snapshot_list_release(&s);
    xml_free(d);

    d = parse_fixture(image_attr_xml);
    CHECK(ec2_parse_launch_permissions(xml_root(d), &ids, &err) == 0, "lp");
    CHECK(ids.n == 2 && STREQ(ids.v[0], "210987654321") &&
              STREQ(ids.v[1], "all"),
          "user and group");
    ec2_id_list_release(&ids);
    xml_free(d);

    d = parse_fixture(regions_xml);
    CHECK(ec2_parse_regions(xml_root(d), &ids, &err) == 0, "regions");
    CHECK(ids.n == 2 && STREQ(ids.v[0], "us-east-1") &&
              STREQ(ids.v[1], "eu-west-1"),
          "region names");
    ec2_id_list_release(&ids);
    xml_free(d);
}

static void test_snapshot_tasks(void)
{
    struct aws_error err;
    struct ec2_import_snapshot_task_list l = {0};
    char *next = NULL;
    struct xml_doc *d = parse_fixture(snap_tasks_xml);
    CHECK(ec2_parse_import_snapshot_tasks(xml_root(d), &l, &next, &err) == 0,
          "parse");
    CHECK(l.n == 1, "one");
    if (l.n == 1) {
        const struct ec2_import_snapshot_task *t = &l.v[0];
        CHECK(STREQ(t->import_task_id, "import-snap-0123456789abcdef0"), "id");
        CHECK(STREQ(t->detail.status, "active") &&
                  STREQ(t->detail.format, "RAW") &&
                  STREQ(t->detail.progress, "42") &&
                  t->detail.disk_image_size == 1073741824.0 &&
                  STREQ(t->detail.s3_key, "amifs/data.raw"),
              "detail");
        CHECK(t->tags.n == 0, "empty tagSet");
    }
    ec2_import_snapshot_task_list_release(&l);
    xml_free(d);
}

static void test_import_form(void)
{
    struct aws_form f;
    struct ec2_tags tags = {0};
    struct ec2_disk_container disk = {
        .format = "VMDK", .s3_bucket = "my-import-bucket",
        .s3_key = "amifs/disk 1.vmdk", .description = "root disk"};
    struct ec2_import_params p = {
        .disks = &disk, .ndisks = 1, .description = "amifs import",
        .architecture = "x86_64", .platform = "Linux",
        .boot_mode = "uefi", .license_type = "BYOL",
        .kms_key_id = "alias/k", .role_name = "vmimport",
        .client_token = "tok-1", .tags = &tags};
    static const char *const want[] = {
        "Action=ImportImage", "Version=2016-11-15",
        "DiskContainer.1.Format=VMDK",
        "DiskContainer.1.UserBucket.S3Bucket=my-import-bucket",
        "Architecture=x86_64",
        "Platform=Linux", "BootMode=uefi", "LicenseType=BYOL",
        "Encrypted=true", "KmsKeyId=alias%2Fk", "RoleName=vmimport",
        "ClientToken=tok-1",
        "TagSpecification.1.ResourceType=import-image-task",
        "TagSpecification.1.Tag.1.Key=amifs%3Asource",
        "TagSpecification.1.Tag.1.Value=%2Fmnt%2Fa",
        "TagSpecification.1.Tag.2.Key=Name", NULL};

    ec2_tags_add(&tags, "amifs:source", "/mnt/a");
    ec2_tags_add(&tags, "Name", "disk 1.vmdk");
    aws_form_init(&f, "ImportImage", "2016-11-15");
    ec2_import_image_form(&f, &p);
    const char *body = buf_cstr(&f.b);
    for (size_t i = 0; want[i]; i++)
        CHECK(strstr(body, want[i]) != NULL, "missing %s in %s", want[i],
              body);
    /* A space is form-encoded as '+' (what the CLI sends) or %20. */
    CHECK(strstr(body, "DiskContainer.1.UserBucket.S3Key=amifs%2Fdisk+1.vmdk")
              || strstr(body,
                        "DiskContainer.1.UserBucket.S3Key=amifs%2Fdisk%201.vmdk"),
          "S3Key in %s", body);
    CHECK(strstr(body, "DiskContainer.1.Description=root+disk") ||
              strstr(body, "DiskContainer.1.Description=root%20disk"),
          "Description in %s", body);
    CHECK(strchr(body, ' ') == NULL, "no raw space on the wire");
    CHECK(strstr(body, "Url") == NULL && strstr(body, "Hypervisor") == NULL,
          "unset parameters are not sent");
    CHECK(strstr(body, "DiskContainers") == NULL &&
              strstr(body, "TagSpecifications") == NULL,
          "SDK plural names never go on the wire");
    aws_form_release(&f);
    ec2_tags_release(&tags);
}

static void test_json_generic(void)
{
    char *js = ec2_xml_to_json(cancel_xml, strlen(cancel_xml));
    cJSON *j = js ? cJSON_Parse(js) : NULL;
    CHECK(STREQ(cJSON_GetStringValue(
                    cJSON_GetObjectItemCaseSensitive(j, "State")),
                "deleting"),
          "generic rendering: %s", js ? js : "(null)");
    cJSON_Delete(j);
    free(js);
    CHECK(ec2_xml_to_json("<a>", 3) == NULL, "bad XML gives NULL");
    (void)copy_image_xml;
}

int main(void)
{
    test_import_tasks();
    test_import_image_answer();
    test_images();
    test_image_state_reason();
    test_snapshots_perms_regions();
    test_snapshot_tasks();
    test_import_form();
    test_json_generic();
    return check_exit();
}
