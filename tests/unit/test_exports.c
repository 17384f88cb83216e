/* Unit tests of the way back out: core/ovagen.c (the OVA layout: exact size,
 * 512-byte alignment, a ustar archive libarchive reads back with the OVF
 * first and the disk's bytes intact), the DescribeExportImageTasks page
 * parser and the object key (aws/ec2_export.c), and the export rights of
 * the role policy setup writes (core/policy.c). */
#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>

#include "aws/ec2_export.h"
#include "aws/xml.h"
#include "core/ovagen.h"
#include "core/policy.h"
#include "check.h"

/* The whole OVA in memory, the disk's bytes being `disk`. */
static char *assemble(const struct ovagen *g, const char *disk)
{
    char *out = malloc(g->total);
    if (!out)
        return NULL;
    ovagen_copy_generated(g, 0, out, g->total);
    memcpy(out + g->disk_off, disk, g->disk_size);
    return out;
}

static void test_layout(size_t disk_size, bool efi)
{
    char *disk = malloc(disk_size);
    for (size_t i = 0; i < disk_size; i++)
        disk[i] = (char)(i * 7 + 3);
    struct ovagen_vm vm = {"vm <&> 1", "vm-disk1.vmdk", disk_size, 1 << 30,
                           efi, false};
    struct ovagen g;
    CHECK(ovagen_build(&vm, "vm.ovf", &g) == 0);
    CHECK(g.disk_off % 512 == 0 && g.disk_off >= 1536);
    CHECK(g.total % 512 == 0);
    CHECK(g.total == g.disk_off + disk_size + (512 - disk_size % 512) % 512 +
                         1024, "total %llu", (unsigned long long)g.total);
    char *ova = assemble(&g, disk);
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    CHECK(archive_read_open_memory(a, ova, g.total) == ARCHIVE_OK);
    struct archive_entry *e;
    CHECK(archive_read_next_header(a, &e) == ARCHIVE_OK);
    CHECK(strcmp(archive_entry_pathname(e), "vm.ovf") == 0);
    char ovf[8192] = "";
    la_ssize_t n = archive_read_data(a, ovf, sizeof ovf - 1);
    CHECK(n > 0);
    CHECK(strstr(ovf, "<Name>vm &lt;&amp;&gt; 1</Name>") != NULL, "%s", ovf);
    CHECK(strstr(ovf, "ovf:capacity=\"1073741824\"") != NULL);
    CHECK((strstr(ovf, "vmw:value=\"efi\"") != NULL) == efi);
    CHECK(archive_read_next_header(a, &e) == ARCHIVE_OK);
    CHECK(strcmp(archive_entry_pathname(e), "vm-disk1.vmdk") == 0);
    CHECK((size_t)archive_entry_size(e) == disk_size);
    char *back = malloc(disk_size + 1);
    size_t got = 0;
    while ((n = archive_read_data(a, back + got, disk_size + 1 - got)) > 0)
        got += (size_t)n;
    CHECK(got == disk_size && memcmp(back, disk, disk_size) == 0);
    CHECK(archive_read_next_header(a, &e) == ARCHIVE_EOF);
    archive_read_free(a);
    /* a read crossing the head, the disk and the tail: generated parts
     * filled, the disk's range left to the caller */
    char buf[4096];
    memset(buf, 'x', sizeof buf);
    uint64_t off = g.total - sizeof buf;
    ovagen_copy_generated(&g, off, buf, sizeof buf);
    CHECK(buf[sizeof buf - 1] == 0);
    free(back);
    free(ova);
    free(disk);
    ovagen_release(&g);
}

static const char PAGE[] =
    "<DescribeExportImageTasksResponse xmlns=\"http://ec2.amazonaws.com/doc/"
    "2016-11-15/\"><requestId>r</requestId><exportImageTaskSet><item>"
    "<diskImageFormat>VMDK</diskImageFormat>"
    "<exportImageTaskId>export-ami-0123456789abcdef0</exportImageTaskId>"
    "<imageId>ami-1</imageId><progress>30</progress><s3ExportLocation>"
    "<s3Bucket>b</s3Bucket><s3Prefix>amifs-exports/</s3Prefix>"
    "</s3ExportLocation><status>active</status><statusMessage>converting"
    "</statusMessage></item><item><imageId>ami-2</imageId></item>"
    "</exportImageTaskSet><nextToken>t2</nextToken>"
    "</DescribeExportImageTasksResponse>";

static void test_parse(void)
{
    struct aws_error err;
    struct xml_doc *doc = xml_parse(PAGE, sizeof PAGE - 1, &err);
    struct ec2_export_task_list l = {0};
    char *next = NULL, key[256];
    CHECK(doc && ec2_parse_export_tasks(xml_root(doc), &l, &next, &err) == 0);
    CHECK(l.n == 1); /* the item without an id is skipped */
    CHECK(l.n == 1 && l.v[0].progress == 30 &&
          strcmp(l.v[0].status_message, "converting") == 0);
    CHECK(next && strcmp(next, "t2") == 0);
    CHECK(l.n == 1 && ec2_export_key(&l.v[0], key, sizeof key) == 0 &&
          strcmp(key, "amifs-exports/export-ami-0123456789abcdef0.vmdk") == 0,
          "%s", key);
    CHECK(l.n == 1 && ec2_export_key(&l.v[0], key, 10) == -1);
    free(next);
    ec2_export_task_list_release(&l);
    xml_free(doc);
}

static void test_policy(void)
{
    struct policy_need needs[4];
    size_t n = policy_export_needs("aws", "b", "p", needs, 4);
    char *doc = policy_role_doc("aws", "b", "p", NULL);
    CHECK(n == 2);
    for (size_t i = 0; i < n; i++)
        CHECK(policy_allows(doc, needs[i].action, needs[i].resource) == 1,
              "%s on %s", needs[i].action, needs[i].resource);
    CHECK(strcmp(needs[0].resource, "arn:aws:s3:::b/p/*") == 0);
    CHECK(policy_allows(doc, "s3:PutObject", "arn:aws:s3:::other/x") == 0);
    free(doc);
}

/* A disk over ustar's 8 GiB: a pax size record, the layout still exact. */
static void test_big_disk(void)
{
    struct ovagen_vm vm = {"big", "big-disk1.vmdk", (9ULL << 30) + 1,
                           9ULL << 30, false, true};
    struct ovagen g;
    CHECK(ovagen_build(&vm, "big.ovf", &g) == 0);
    CHECK(g.disk_off % 512 == 0 &&
          g.total == g.disk_off + vm.disk_size + 511 + 1024);
    CHECK(memmem(g.head.data, g.head.len, "size=9663676417", 15) != NULL);
    CHECK(memmem(g.head.data, g.head.len, "windows9Server64Guest", 21));
    ovagen_release(&g);
}

int main(void)
{
    test_big_disk();
    test_layout(1, false);
    test_layout(512, true);
    test_layout(70001, false);
    test_parse();
    test_policy();
    return check_exit();
}
