/* test_ovfdir.c — an exported OVF folder's descriptor and manifest
 * (ova/ovfdir.h): disks in DiskSection order with their formats, CD-ROM
 * files as media, the firmware; refusals for a disk format VM Import does
 * not read, a subfolder, a descriptor that does not parse; the manifest in
 * ovftool's and VirtualBox's spellings; digests. */
#include <stdio.h>
#include <string.h>

#include "ova/ovfdir.h"
#include "check.h"

#define HEAD                                                                 \
    "<?xml version=\"1.0\"?>\n"                                              \
    "<Envelope xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\" "            \
    "xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/1\" "                  \
    "xmlns:rasd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"        \
    "CIM_ResourceAllocationSettingData\" "                                   \
    "xmlns:vmw=\"http://www.vmware.com/schema/ovf\">"

static const char two_disks[] =
    HEAD "<References>"
    "<File ovf:href=\"b.vmdk\" ovf:id=\"f2\" ovf:size=\"10\"/>"
    "<File ovf:href=\"a.vhd\" ovf:id=\"f1\" ovf:size=\"10\"/>"
    "<File ovf:href=\"x.iso\" ovf:id=\"f3\"/></References>"
    "<DiskSection><Info>d</Info>"
    "<Disk ovf:diskId=\"d1\" ovf:fileRef=\"f2\" ovf:capacity=\"1\" "
    "ovf:capacityAllocationUnits=\"byte * 2^30\" ovf:format=\"http://www."
    "vmware.com/interfaces/specifications/vmdk.html#streamOptimized\"/>"
    "<Disk ovf:diskId=\"d2\" ovf:fileRef=\"f1\" ovf:capacity=\"1024\"/>"
    "</DiskSection><VirtualSystem ovf:id=\"vm\">"
    "<OperatingSystemSection ovf:id=\"94\" vmw:osType=\"ubuntu64Guest\">"
    "<Info>o</Info></OperatingSystemSection>"
    "<VirtualHardwareSection><Info>h</Info>"
    "<Item><rasd:ElementName>CD/DVD drive 1</rasd:ElementName>"
    "<rasd:HostResource>ovf:/file/f3</rasd:HostResource>"
    "<rasd:InstanceID>7</rasd:InstanceID>"
    "<rasd:ResourceType>15</rasd:ResourceType></Item>"
    "<vmw:Config ovf:required=\"false\" vmw:key=\"firmware\" "
    "vmw:value=\"efi\"/>"
    "</VirtualHardwareSection></VirtualSystem></Envelope>";

static void test_parse(void)
{
    static struct ovfdir_desc d;
    char why[600], code[32];
    int rc = ovfdir_parse(two_disks, strlen(two_disks), &d, why, sizeof why,
                          code, sizeof code);
    CHECK(rc == 0, "%s", why);
    CHECK(d.ndisks == 2, "%zu disks", d.ndisks);
    CHECK(streq(d.disks[0].href, "b.vmdk") && streq(d.disks[0].format,
                                                     "VMDK"),
          "DiskSection order: %s", d.disks[0].href);
    CHECK(streq(d.disks[1].format, "VHD"), "%s", d.disks[1].format);
    CHECK(d.disks[0].capacity == (1ULL << 30), "capacity");
    CHECK(ovfdir_is_media(&d, "x.iso") && !ovfdir_is_media(&d, "b.vmdk"),
          "media");
    CHECK(ovfdir_disk_index(&d, "a.vhd") == 1, "index");
    CHECK(streq(ova_facts_boot_mode(&d.facts), "uefi"), "firmware");
    CHECK(streq(ova_facts_platform(&d.facts), "Linux"), "platform");
}

static void refused(const char *text, const char *want)
{
    static struct ovfdir_desc d;
    char why[600], code[32] = "";
    CHECK(ovfdir_parse(text, strlen(text), &d, why, sizeof why, code,
                       sizeof code) < 0 && streq(code, want),
          "want %s, got '%s' (%s)", want, code, why);
}

static void test_refusals(void)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", two_disks);
    char *p = strstr(buf, "a.vhd");
    memcpy(p, "a.vdi", 5);
    refused(buf, "bad-format");
    snprintf(buf, sizeof buf, "%s", two_disks);
    p = strstr(buf, "b.vmdk");
    memcpy(p, "d/b.vm", 6);
    refused(buf, "unsafe-path");
    refused("<Envelope><References>", "bad-xml");
    refused(HEAD "</Envelope>", "no-disks");
}

static void test_manifest(void)
{
    const char *vbox = "SHA1 (vm.ovf) = "
                       "0123456789abcdef0123456789abcdef01234567\n"
                       "SHA256(vm-disk1.vmdk)= "
                       "00112233445566778899aabbccddeeff"
                       "00112233445566778899aabbccddeeff\n";
    char why[600] = "";
    struct ovfdir_mf *m = ovfdir_mf_parse(vbox, strlen(vbox), why,
                                          sizeof why);
    CHECK(m != NULL, "VirtualBox spelling refused: %s", why);
    if (!m)
        return;
    CHECK(ovfdir_mf_alg(m, "vm.ovf") == OVFDIR_SHA1, "alg");
    CHECK(ovfdir_mf_alg(m, "vm.nvram") == 0, "unlisted");
    CHECK(ovfdir_mf_algs(m) == (OVFDIR_SHA1 | OVFDIR_SHA256), "algs");
    unsigned char dg[64];
    struct ovfdir_hash *h = ovfdir_hash_new(OVFDIR_SHA1 | OVFDIR_SHA256);
    ovfdir_hash_update(h, "abc", 3);
    size_t n = ovfdir_hash_final(h, OVFDIR_SHA1, dg);
    CHECK(n == 20 && dg[0] == 0xa9 && dg[19] == 0x9d, "sha1(abc)");
    CHECK(ovfdir_hash_final(h, OVFDIR_SHA512, dg) == 0, "not computed");
    CHECK(ovfdir_mf_check(m, "vm.ovf", OVFDIR_SHA1, dg, n) == 0, "mismatch");
    CHECK(ovfdir_mf_check(m, "nope", OVFDIR_SHA1, dg, n) == -1, "absent");
    ovfdir_hash_free(h);
    ovfdir_mf_free(m);
}

int main(void)
{
    test_parse();
    test_refusals();
    test_manifest();
    return failures ? 1 : 0;
}
