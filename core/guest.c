/* guest.c — the guest check's walk: disks, partitions, the root and /boot
 * filesystems, then the rules. See core/guest.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/guest_int.h"

struct walk {
    struct guest_report *r;
    struct gsrc src[GUEST_MAX_DISKS];
    struct gvdisk vd[GUEST_MAX_DISKS];
    bool open[GUEST_MAX_DISKS];
    struct gext *root, *boot;  /* kept open for the initramfs */
};

static void merge_boot(struct gfacts *f, const struct gfacts *b)
{
    for (size_t i = 0; i < b->nkernels && f->nkernels < GUEST_MAX_KERNELS;
         i++) {
        bool dup = false;
        for (size_t k = 0; k < f->nkernels; k++)
            dup = dup || !strcmp(f->kernels[k], b->kernels[i]);
        if (!dup)
            snprintf(f->kernels[f->nkernels++], 64, "%s", b->kernels[i]);
    }
    f->bls = f->bls || b->bls;
    f->nbls += b->nbls;
    if (!f->grub[0])
        snprintf(f->grub, sizeof f->grub, "%s", b->grub);
    if (!f->grub_default[0])
        snprintf(f->grub_default, sizeof f->grub_default, "%s",
                 b->grub_default);
    f->have_boot = true;
}

/* One ext partition: the root (os-release), a separate /boot, or data. */
static void ext_part(struct walk *w, size_t d, struct gpart *p)
{
    struct guest_report *r = w->r;
    char why[160];
    struct gext *e = gext_open(&w->vd[d], p, why, sizeof why);
    if (!e) {
        snprintf(p->note, sizeof p->note, "%s", why);
        return;
    }
    p->read = true;
    if (!r->f.have_root) {
        gfacts_root(e, &r->f);
        if (r->f.have_root) {
            snprintf(p->role, sizeof p->role, "root");
            snprintf(r->root, sizeof r->root, "disk %zu partition %d", d + 1,
                     p->index);
            w->root = e;
            return;
        }
    }
    if (!w->boot) {
        struct gfacts b;
        memset(&b, 0, sizeof b);
        gfacts_boot(e, true, &b);
        if (b.have_boot) {
            merge_boot(&r->f, &b);
            snprintf(p->role, sizeof p->role, "boot");
            snprintf(r->boot, sizeof r->boot, "disk %zu partition %d", d + 1,
                     p->index);
            w->boot = e;
            return;
        }
    }
    gext_close(e);
}

static void scan_disk(struct walk *w, size_t d, const struct guest_disk *gd)
{
    struct gdiskrep *k = &w->r->disks[d];
    snprintf(k->name, sizeof k->name, "%s", gd->name ? gd->name : "disk");
    char why[160];
    if (gvd_open(&w->vd[d], &w->src[d], why, sizeof why) != 0) {
        snprintf(k->note, sizeof k->note, "%s", why);
        gvd_close(&w->vd[d]);
        return;
    }
    w->open[d] = true;
    snprintf(k->format, sizeof k->format, "%s", w->vd[d].format);
    k->vsize = w->vd[d].vsize;
    k->nparts = gpart_scan(&w->vd[d], k->parts, GUEST_MAX_PARTS, k->table,
                           sizeof k->table);
    for (size_t i = 0; i < k->nparts; i++) {
        if (k->parts[i].esp && !strcmp(k->table, "gpt"))
            snprintf(w->r->boot_mode, sizeof w->r->boot_mode, "uefi");
        if (!strncmp(k->parts[i].fs, "ext", 3))
            ext_part(w, d, &k->parts[i]);
    }
    if (k->nparts == 0 && w->src[d].err)
        snprintf(k->note, sizeof k->note, "the disk could not be read (%s)",
                 strerror(-w->src[d].err));
}

static void newest_kernel(struct gfacts *f)
{
    for (size_t i = 0; i < f->nkernels; i++)
        if (!f->newest[0] || guest_version_cmp(f->kernels[i], f->newest) > 0)
            snprintf(f->newest, sizeof f->newest, "%s", f->kernels[i]);
}

/* The ENA/NVMe drivers: modules.builtin, then the newest initramfs. */
static void drivers(struct walk *w)
{
    struct gfacts *f = &w->r->f;
    char path[160];
    if (!w->root || !f->newest[0])
        return;
    snprintf(path, sizeof path, "/lib/modules/%s/modules.builtin", f->newest);
    gfacts_builtin(w->root, path, f);
    if (f->ena == 1 && f->nvme == 1)
        return;
    struct gext *ke = w->boot ? w->boot : w->root;
    const char *pre = w->boot ? "" : "/boot";
    for (size_t i = 0; i < 2; i++) {
        if (i == 0)
            snprintf(path, sizeof path, "%s/initrd.img-%s", pre, f->newest);
        else
            snprintf(path, sizeof path, "%s/initramfs-%s.img", pre,
                     f->newest);
        if (gext_exists(ke, path)) {
            gfacts_initrd(ke, path, f);
            return;
        }
    }
    snprintf(f->initramfs_note, sizeof f->initramfs_note,
             "no initramfs for kernel %s", f->newest);
}

static int read_error(const struct walk *w, size_t n)
{
    for (size_t d = 0; d < n; d++)
        if (w->src[d].err)
            return w->src[d].err;
    return 0;
}

struct guest_report *guest_check(const struct guest_disk *disks,
                                 size_t ndisks, uint64_t budget)
{
    struct walk *w = calloc(1, sizeof *w);
    struct guest_report *r = calloc(1, sizeof *r);
    if (!w || !r) {
        free(w);
        free(r);
        return NULL;
    }
    w->r = r;
    r->f.ena = r->f.nvme = -1;
    snprintf(r->boot_mode, sizeof r->boot_mode, "legacy-bios");
    r->ndisks = ndisks < GUEST_MAX_DISKS ? ndisks : GUEST_MAX_DISKS;
    for (size_t d = 0; d < r->ndisks; d++) {
        gsrc_init(&w->src[d], &disks[d], &r->bytes,
                  budget ? budget : GUEST_BUDGET_DEFAULT);
        scan_disk(w, d, &disks[d]);
    }
    newest_kernel(&r->f);
    int early = read_error(w, r->ndisks);
    if (!early)
        drivers(w);
    int err = read_error(w, r->ndisks);
    if (err && r->f.initramfs[0] && (r->f.ena != 1 || r->f.nvme != 1)) {
        r->f.ena = r->f.ena == 1 ? 1 : -1;
        r->f.nvme = r->f.nvme == 1 ? 1 : -1;
        snprintf(r->f.initramfs_note, sizeof r->f.initramfs_note,
                 "the initramfs was not read to its end (%s)",
                 err == -EFBIG ? "read budget spent" : strerror(-err));
    }
    if (early) { /* facts half-read: no verdict on them */
        r->verdict = GUEST_NOT_CHECKED;
        snprintf(r->reason, sizeof r->reason, "reading the disk failed (%s)",
                 early == -EFBIG ? "read budget spent" : strerror(-early));
    } else {
        guest_rules_apply(r);
    }
    gext_close(w->root);
    gext_close(w->boot);
    for (size_t d = 0; d < r->ndisks; d++) {
        if (w->open[d])
            gvd_close(&w->vd[d]);
        gsrc_fini(&w->src[d]);
    }
    free(w);
    return r;
}

struct guest_report *guest_report_unread(const char *why)
{
    struct guest_report *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->verdict = GUEST_NOT_CHECKED;
    r->f.ena = r->f.nvme = -1;
    snprintf(r->reason, sizeof r->reason, "%s", why ? why : "");
    return r;
}

void guest_report_free(struct guest_report *r)
{
    free(r);
}
