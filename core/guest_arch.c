/* guest_arch.c — the guest's CPU architecture, from the ELF header of a
 * binary every Linux root has (/sbin/init, systemd, /bin/sh, env; symlinks
 * followed inside the guest), else from an uncompressed arm64 kernel
 * Image ("ARM\x64" at 0x38) in /boot. Only the first bytes are read. See
 * core/guest_int.h and doc/design/guest-check.md. */
#include <stdio.h>
#include <string.h>

#include "core/guest_int.h"

/* ELF e_machine values (elf.h: EM_386, EM_X86_64, EM_AARCH64). */
enum { ELF_I386 = 3, ELF_X86_64 = 62, ELF_AARCH64 = 183 };

/* Read the first n bytes of path; true when all n arrived. */
static bool head(struct gext *e, const char *path, unsigned char *buf,
                 size_t n)
{
    struct gextfile *f = gext_fopen(e, path);
    if (!f)
        return false;
    size_t have = 0;
    long got = 1;
    while (have < n && got > 0) {
        got = gext_fread(f, buf + have, n - have);
        if (got > 0)
            have += (size_t)got;
    }
    gext_fclose(f);
    return have == n;
}

const char *guest_elf_arch(const unsigned char *h, size_t n)
{
    if (n < 20 || memcmp(h, "\x7f" "ELF", 4) != 0 || h[5] != 1)
        return NULL; /* not ELF, or big-endian */
    switch (h[18] | h[19] << 8) {
    case ELF_X86_64:
        return "x86_64";
    case ELF_AARCH64:
        return "arm64";
    case ELF_I386:
        return "i386";
    default:
        return NULL;
    }
}

struct kscan {
    struct gext *e;
    struct gfacts *f;
};

static void kernel_image(const char *name, void *arg)
{
    struct kscan *k = arg;
    char path[96];
    unsigned char h[64];
    if (k->f->arch[0] || strncmp(name, "vmlinuz-", 8) != 0)
        return;
    snprintf(path, sizeof path, "/boot/%s", name);
    if (head(k->e, path, h, sizeof h) && memcmp(h + 0x38, "ARM\x64", 4) == 0)
        snprintf(k->f->arch, sizeof k->f->arch, "arm64");
}

void gfacts_arch(struct gext *e, struct gfacts *f)
{
    static const char *const bins[] = {"/sbin/init",
                                       "/usr/lib/systemd/systemd", "/bin/sh",
                                       "/usr/bin/env"};
    unsigned char h[20];
    for (size_t i = 0; i < 4 && !f->arch[0]; i++) {
        const char *a = head(e, bins[i], h, sizeof h)
                            ? guest_elf_arch(h, sizeof h)
                            : NULL;
        if (a)
            snprintf(f->arch, sizeof f->arch, "%s", a);
    }
    struct kscan k = {e, f};
    if (!f->arch[0])
        gext_list(e, "/boot", kernel_image, &k);
}
