/* Unit tests for core/guest*.c: the rule table (core/guest_rules.c, the
 * mirror of doc/AWS.md "VM Import facts"), version comparison, and the
 * check's answers on disks that are not disks (never a guess, never more
 * than the budget). Images with guests: tests/test_guest.py. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/guest.h"
#include "check.h"

static void test_versions(void)
{
    CHECK(guest_version_cmp("6.5.0-14-generic", "5.15.0") > 0);
    CHECK(guest_version_cmp("5.10", "5.4.0") > 0);
    CHECK(guest_version_cmp("22.04", "22.04") == 0);
    CHECK(guest_version_cmp("8.10", "8.99") < 0);
    CHECK(guest_version_cmp(NULL, "1") < 0);
}

static void test_rules(void)
{
    char b[200];
    const char *m;
    CHECK(!guest_rules_refusal("ubuntu", "22.04", "5.15.0-91-generic", false,
                               b, sizeof b));
    m = guest_rules_refusal("ubuntu", "24.04", "5.15.0", false, b, sizeof b);
    CHECK(m && streq(m, "ClientError: Unknown OS / Missing OS files."));
    m = guest_rules_refusal("ubuntu", "22.04", "6.5.0-14-generic", false, b,
                            sizeof b);
    CHECK(m && streq(m, "ClientError: Unsupported kernel version "
                        "6.5.0-14-generic"), "%s", m ? m : "(null)");
    m = guest_rules_refusal("fedora", "36", "5.17.5-300.fc36.x86_64", true,
                            b, sizeof b);
    CHECK(m && strstr(m, "BLSC-style GRUB"));
    /* a distribution the table does not list: only kernel and BLS rules */
    CHECK(!guest_rules_refusal("arch", "rolling", "5.4.0", false, b,
                               sizeof b));
    CHECK(!guest_rules_refusal("debian", "11", "", false, b, sizeof b));
    m = guest_rules_refusal("debian", "12", "6.1.0", false, b, sizeof b);
    CHECK(m && strstr(m, "Unknown OS"));
    m = guest_rules_refusal("centos", "7", "3.10.0-1160.el7.x86_64", false,
                            b, sizeof b);
    CHECK(!m);
}

struct mem {
    const unsigned char *p;
    size_t n;
    int fail;
};

static int mem_read(void *ctx, uint64_t off, void *buf, size_t len)
{
    struct mem *m = ctx;
    if (m->fail)
        return -m->fail;
    if (off > m->n || len > m->n - off)
        return -EIO;
    memcpy(buf, m->p + off, len);
    return 0;
}

static void test_not_disks(void)
{
    unsigned char *z = calloc(1, 1 << 20);
    struct mem m = {z, 1 << 20, 0};
    struct guest_disk d = {mem_read, &m, 1 << 20, "zeros"};
    struct guest_report *r = guest_check(&d, 1, 0);
    /* no table, no filesystem: every filesystem was read (none): no OS */
    CHECK(r && guest_report_verdict(r) == GUEST_REFUSED);
    guest_report_free(r);
    memcpy(z, "vhdxfile", 8);
    r = guest_check(&d, 1, 0);
    CHECK(r && guest_report_verdict(r) == GUEST_NOT_CHECKED &&
          strstr(guest_report_reason(r), "VHDX"), "%s",
          r ? guest_report_reason(r) : "");
    guest_report_free(r);
    m.fail = ECONNRESET; /* the reader fails: not checked, never a guess */
    r = guest_check(&d, 1, 0);
    CHECK(r && guest_report_verdict(r) == GUEST_NOT_CHECKED);
    char line[600];
    guest_report_line(r, line, sizeof line);
    CHECK(!strncmp(line, "not checked: ", 13), "%s", line);
    guest_report_free(r);
    m.fail = 0;
    memset(z, 0, 8);
    r = guest_check(&d, 1, 1000); /* a budget below one block */
    CHECK(r && guest_report_verdict(r) == GUEST_NOT_CHECKED &&
          guest_report_bytes(r) <= 1000);
    char *j = r ? guest_report_json(r) : NULL;
    CHECK(j && strstr(j, "\"verdict\":\t\"not-checked\""), "%s", j ? j : "");
    free(j);
    guest_report_free(r);
    free(z);
}

static void test_elf_arch(void)
{
    unsigned char h[20] = {0x7f, 'E', 'L', 'F', 2, 1, 1};
    h[18] = 183;
    CHECK(streq(guest_elf_arch(h, sizeof h), "arm64"));
    h[18] = 62;
    CHECK(streq(guest_elf_arch(h, sizeof h), "x86_64"));
    h[18] = 3;
    CHECK(streq(guest_elf_arch(h, sizeof h), "i386"));
    h[18] = 40; /* ARM (32-bit): not one EC2 imports */
    CHECK(!guest_elf_arch(h, sizeof h));
    h[18] = 183;
    CHECK(!guest_elf_arch(h, 19));   /* short */
    h[5] = 2;                        /* big-endian */
    CHECK(!guest_elf_arch(h, sizeof h));
    h[5] = 1;
    h[0] = '#';                      /* a script, not ELF */
    CHECK(!guest_elf_arch(h, sizeof h));
}

int main(void)
{
    test_versions();
    test_elf_arch();
    test_rules();
    test_not_disks();
    return check_exit();
}
