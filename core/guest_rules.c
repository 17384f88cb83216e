/* guest_rules.c — the verdict of the guest check: what VM Import is known
 * to refuse, and what it takes but would not boot well on EC2.
 *
 * THE RULE TABLE lives here and only here. It mirrors doc/AWS.md "VM
 * Import facts" (AWS's published support matrix for ImportImage), as the
 * local endpoint's tests/endpoint/guestrules.py does; tests/test_guest.py
 * checks that both agree on the test images. Change both together.
 * Messages are VM Import's own. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/guest_int.h"

#define MSG_KERNEL "ClientError: Unsupported kernel version %s"
#define MSG_OS "ClientError: Unknown OS / Missing OS files."
/* ImportImage takes Architecture i386 or x86_64 only (doc/AWS.md "VM
 * Import facts": arm64 is refused); its answer to arm64, as
 * tests/endpoint/vmimport.py gives it. i386 is only reported. */
#define MSG_ARM64 "InvalidParameterValue: Value (arm64) for parameter " \
                  "Architecture is invalid. Valid values are: i386, x86_64"
#define MSG_BLS "ClientError: BLSC-style GRUB found, but unable to detect " \
                "default kernel"

/* Releases VM Import supports, per os-release ID: lowest and highest
 * VERSION_ID, compared as dotted numbers. */
static const struct {
    const char *id, *lo, *hi;
} RELEASES[] = {
    {"ubuntu", "12.04", "22.04"}, {"debian", "6", "11"},
    {"rhel", "5.1", "9.99"},      {"centos", "5.1", "8.99"},
    {"fedora", "19", "36"},       {"sles", "11.3", "15.4"},
    {"ol", "5.10", "8.99"},       {"amzn", "2", "2"},
};
/* Kernels VM Import can update: major versions 2 to 5. */
enum { KERNEL_MAJOR_LO = 2, KERNEL_MAJOR_HI = 5 };

/* The first three numbers of a version ("6.5.0-14-generic" → 6,5,0). */
static void nums(const char *v, long out[3])
{
    out[0] = out[1] = out[2] = 0;
    int k = 0;
    for (const char *p = v ? v : ""; *p && k < 3;) {
        if (!isdigit((unsigned char)*p)) {
            p++;
            continue;
        }
        char *end;
        out[k++] = strtol(p, &end, 10);
        p = end;
    }
}

int guest_version_cmp(const char *a, const char *b)
{
    long x[3], y[3];
    nums(a, x);
    nums(b, y);
    for (int i = 0; i < 3; i++)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return 0;
}

const char *guest_rules_refusal(const char *os_id, const char *version_id,
                                const char *kernel, bool bls, char *out,
                                size_t n)
{
    for (size_t i = 0; os_id && i < sizeof RELEASES / sizeof *RELEASES; i++)
        if (strcasecmp(os_id, RELEASES[i].id) == 0 &&
            (guest_version_cmp(version_id, RELEASES[i].lo) < 0 ||
             guest_version_cmp(version_id, RELEASES[i].hi) > 0))
            return MSG_OS;
    if (kernel && *kernel) {
        long k[3];
        nums(kernel, k);
        if (k[0] < KERNEL_MAJOR_LO || k[0] > KERNEL_MAJOR_HI) {
            snprintf(out, n, MSG_KERNEL, kernel);
            return out;
        }
    }
    return bls ? MSG_BLS : NULL;
}

static void warn(struct guest_report *r, const char *code, const char *text,
                 const char *arg)
{
    if (r->nwarn >= GUEST_MAX_WARN)
        return;
    snprintf(r->warn_code[r->nwarn], sizeof r->warn_code[0], "%s", code);
    snprintf(r->warn[r->nwarn], sizeof r->warn[0], "%s%s", text, arg);
    size_t len = strlen(r->warnings);
    snprintf(r->warnings + len, sizeof r->warnings - len, "%s%s",
             len ? ", " : "", r->warn[r->nwarn]);
    r->nwarn++;
}

void guest_report_warn(struct guest_report *r, const char *code,
                       const char *text)
{
    warn(r, code, text, "");
    if (r->verdict == GUEST_OK)
        r->verdict = GUEST_WARNINGS;
}

static void warnings(struct guest_report *r)
{
    const struct gfacts *f = &r->f;
    if (f->ena == 0)
        warn(r, "no-ena", "no ENA driver in the initramfs", "");
    if (f->nvme == 0)
        warn(r, "no-nvme", "no NVMe driver in the initramfs", "");
    if (f->nfstab_dev)
        warn(r, "fstab-device-names", "fstab names ", f->fstab_dev[0]);
    if (f->static_net)
        warn(r, "static-network", "static network configuration in ",
             f->static_net_file);
}

/* Why the root filesystem was not read, from the partitions. */
static bool unread_root(struct guest_report *r)
{
    for (size_t d = 0; d < r->ndisks; d++) {
        const struct gdiskrep *k = &r->disks[d];
        if (k->note[0]) {
            snprintf(r->reason, sizeof r->reason, "%s: %s", k->name, k->note);
            return true;
        }
        for (size_t i = 0; i < k->nparts; i++) {
            const struct gpart *p = &k->parts[i];
            if (p->read || p->esp || !strcmp(p->fs, "swap") ||
                !strcmp(p->fs, "vfat"))
                continue;
            snprintf(r->reason, sizeof r->reason,
                     "%s partition %d: %s%s%s", k->name, p->index,
                     p->note[0] ? p->note
                     : p->fs[0] ? p->fs
                                : "an unknown filesystem",
                     p->note[0] ? "" : ", which amifs cannot read",
                     "");
            return true;
        }
    }
    return false;
}

void guest_rules_apply(struct guest_report *r)
{
    const struct gfacts *f = &r->f;
    if (!f->have_root) {
        if (unread_root(r)) {
            r->verdict = GUEST_NOT_CHECKED;
            return;
        }
        snprintf(r->message, sizeof r->message, "%s", MSG_OS);
    } else if (strcmp(f->arch, "arm64") == 0) {
        snprintf(r->message, sizeof r->message, "%s", MSG_ARM64);
    } else {
        char buf[256];
        const char *m = guest_rules_refusal(f->os_id, f->version_id,
                                            f->newest, f->bls, buf,
                                            sizeof buf);
        snprintf(r->message, sizeof r->message, "%s", m ? m : "");
    }
    if (r->message[0]) {
        const char *m = r->message;
        for (const char *const *pre = (const char *const[]){
                 "ClientError: ", "InvalidParameterValue: ", NULL};
             *pre; pre++)
            if (strncmp(m, *pre, strlen(*pre)) == 0)
                m += strlen(*pre);
        int w = snprintf(r->reason, sizeof r->reason, "%s%.*s",
                         strcmp(f->arch, "arm64") == 0 ? "arm64 guest: " : "",
                         (int)sizeof r->reason - 16, m);
        (void)w;
        r->verdict = GUEST_REFUSED;
        warnings(r);
        return;
    }
    warnings(r);
    r->verdict = r->nwarn ? GUEST_WARNINGS : GUEST_OK;
}
