/* test_snaproute.c — the snapshot route's pure pieces (core/snaproute.h,
 * core/taskcache.h's reroute view, aws/ec2.h's RegisterImage form): the
 * plan tag, the OS-cause rule, how a rerouted task shows, AMI names and
 * the RegisterImage wire names. */
#include <stdlib.h>
#include <string.h>

#include "aws/client.h"
#include "aws/ec2.h"
#include "core/params.h"
#include "core/snaproute.h"
#include "core/status.h"
#include "core/taskcache.h"
#include "check.h"

static void test_plan_round_trip(void)
{
    struct snapplan p, q;
    memset(&p, 0, sizeof p);
    p.ndisks = 2;
    snprintf(p.disks[0].format, sizeof p.disks[0].format, "%s", "VMDK");
    p.disks[0].offset = 5632;
    p.disks[0].length = 136704;
    snprintf(p.disks[1].format, sizeof p.disks[1].format, "%s", "VMDK");
    p.disks[1].offset = 142848;
    p.disks[1].length = 136704;
    snprintf(p.boot_mode, sizeof p.boot_mode, "%s", "uefi-preferred");
    snprintf(p.architecture, sizeof p.architecture, "%s", "arm64");
    snprintf(p.tpm, sizeof p.tpm, "%s", "v2.0");
    p.ena = true;
    char text[300];
    CHECK(snapplan_format(&p, text, sizeof text) == 0);
    CHECK(streq(text, "d=VMDK@5632+136704,VMDK@142848+136704;"
                      "b=uefi-preferred;a=arm64;t=v2.0;e=1"), "%s", text);
    CHECK(snapplan_parse(&q, text) == 0);
    CHECK(q.ndisks == 2 && q.disks[1].offset == 142848 &&
          q.disks[1].length == 136704 && q.ena);
    CHECK(streq(q.boot_mode, "uefi-preferred") && streq(q.tpm, "v2.0") &&
          !q.imds[0] && !q.root_device[0]);
    CHECK(snapplan_parse(&q, "") != 0, "no disk: no plan");
    CHECK(snapplan_parse(&q, "d=VMDK@1") != 0);
    CHECK(snapplan_parse(&q, "d=VMDK@1+2;z=3") != 0);
    CHECK(snapplan_parse(&q, "d=RAW@0+0") == 0 && q.ndisks == 1);
    /* 21 disks of large offsets do not fit in a tag value */
    p.ndisks = SNAPROUTE_MAX_DISKS;
    for (size_t i = 0; i < p.ndisks; i++) {
        snprintf(p.disks[i].format, sizeof p.disks[i].format, "%s", "VMDK");
        p.disks[i].offset = 1099511627776ULL + i;
        p.disks[i].length = 1099511627776ULL;
    }
    CHECK(snapplan_format(&p, text, sizeof text) != 0);
}

static void test_os_causes(void)
{
    CHECK(snaproute_os_cause("ClientError: Unknown OS / Missing OS files."));
    CHECK(snaproute_os_cause("CLIENT_ERROR : ClientError: Unsupported kernel "
                             "version 6.5.0-14-generic"));
    CHECK(snaproute_os_cause("ClientError: BLSC-style GRUB found, but unable "
                             "to detect default kernel"));
    CHECK(!snaproute_os_cause("ClientError: Disk validation failed "
                              "[Unsupported VMDK File Format]"));
    CHECK(!snaproute_os_cause("User initiated task cancelation"));
    CHECK(!snaproute_os_cause("The service role vmimport provided does not "
                              "exist or does not have sufficient "
                              "permissions"));
    CHECK(!snaproute_os_cause(NULL));
}

static void task(struct ec2_import_task *t, const char *status,
                 const char *msg)
{
    memset(t, 0, sizeof *t);
    t->import_task_id = strdup("import-ami-0123456789abcdef0");
    t->status = strdup(status);
    t->status_message = msg ? strdup(msg) : NULL;
}

static void test_reroute_view(void)
{
    struct ec2_import_task t;
    /* failed for a kernel, asked for auto: shown as the route, at 40% */
    task(&t, "deleted", "CLIENT_ERROR : ClientError: Unsupported kernel "
                        "version 6.5.0");
    import_tag_set(&t.tags, SNAPROUTE_TAG_ROUTE, "auto");
    CHECK(snaproute_wants(&t));
    CHECK(taskcache_reroute_view(&t) == 0);
    CHECK(streq(t.status, "active") && streq(t.progress, "40"));
    CHECK(streq(t.status_message, "snapshot-route (ImportImage: ClientError: "
                                  "Unsupported kernel version 6.5.0)"),
          "%s", t.status_message);
    CHECK(streq(status_tag(&t.tags, SNAPROUTE_TAG_FIRST),
                "ClientError: Unsupported kernel version 6.5.0"));
    CHECK(status_tag(&t.tags, TASKCACHE_TAG_REROUTE) != NULL);
    ec2_import_task_release(&t);
    /* done by the route (marked): completed with that AMI */
    task(&t, "deleted", "ClientError: Unknown OS / Missing OS files.");
    import_tag_set(&t.tags, SNAPROUTE_TAG_ROUTE, "auto");
    import_tag_set(&t.tags, SNAPROUTE_TAG_AMI, "ami-0abc");
    CHECK(!snaproute_wants(&t));
    CHECK(taskcache_reroute_view(&t) == 0);
    CHECK(streq(t.status, "completed") && streq(t.image_id, "ami-0abc"));
    ec2_import_task_release(&t);
    /* route=image (no tag), or a cause no route fixes: left alone */
    task(&t, "deleted", "ClientError: Unknown OS / Missing OS files.");
    CHECK(taskcache_reroute_view(&t) == 0 && streq(t.status, "deleted"));
    ec2_import_task_release(&t);
    task(&t, "deleted", "ClientError: Footers not identical");
    import_tag_set(&t.tags, SNAPROUTE_TAG_ROUTE, "auto");
    CHECK(taskcache_reroute_view(&t) == 0 && streq(t.status, "deleted"));
    ec2_import_task_release(&t);
}

static void test_names_and_devices(void)
{
    char name[200], dev[32];
    snaproute_ami_name("amifs/20261207T070000-a1b2c3/my vm:1.ova", name,
                       sizeof name);
    CHECK(streq(name, "amifs amifs/20261207T070000-a1b2c3/my vm_1.ova"),
          "%s", name);
    struct snapplan p;
    memset(&p, 0, sizeof p);
    snaproute_device(&p, 0, dev, sizeof dev);
    CHECK(streq(dev, "/dev/sda1"));
    snaproute_device(&p, 2, dev, sizeof dev);
    CHECK(streq(dev, "/dev/sdc"));
    snprintf(p.root_device, sizeof p.root_device, "%s", "/dev/xvda");
    snaproute_device(&p, 0, dev, sizeof dev);
    CHECK(streq(dev, "/dev/xvda"));
}

static void test_register_form(void)
{
    struct ec2_register_disk d[2] = {{"/dev/sda1", "snap-1", true},
                                     {"/dev/sdb", "snap-2", true}};
    struct ec2_tags tags = {NULL, 0};
    import_tag_set(&tags, "Name", "vm.ova");
    struct ec2_register_params p = {0};
    p.name = "amifs x";
    p.architecture = "arm64";
    p.boot_mode = "uefi-preferred";
    p.root_device_name = "/dev/sda1";
    p.tpm_support = "v2.0";
    p.imds_support = "v2.0";
    p.ena_support = true;
    p.disks = d;
    p.ndisks = 2;
    p.tags = &tags;
    struct aws_form f;
    aws_form_init(&f, "RegisterImage", "2016-11-15");
    ec2_register_image_form(&f, &p);
    const char *body = buf_cstr(&f.b);
    const char *want[] = {
        "Action=RegisterImage", "Name=amifs+x", "Architecture=arm64",
        "BootMode=uefi-preferred", "RootDeviceName=%2Fdev%2Fsda1",
        "TpmSupport=v2.0", "ImdsSupport=v2.0", "EnaSupport=true",
        "VirtualizationType=hvm",
        "BlockDeviceMapping.1.DeviceName=%2Fdev%2Fsda1",
        "BlockDeviceMapping.1.Ebs.SnapshotId=snap-1",
        "BlockDeviceMapping.2.DeviceName=%2Fdev%2Fsdb",
        "BlockDeviceMapping.2.Ebs.DeleteOnTermination=true",
        "TagSpecification.1.ResourceType=image",
        "TagSpecification.1.Tag.1.Key=Name", NULL};
    for (size_t i = 0; want[i]; i++)
        CHECK(strstr(body, want[i]) != NULL, "missing %s in %s", want[i],
              body);
    aws_form_release(&f);
    ec2_tags_release(&tags);
}

int main(void)
{
    test_plan_round_trip();
    test_os_causes();
    test_reroute_view();
    test_names_and_devices();
    test_register_form();
    return check_exit();
}
