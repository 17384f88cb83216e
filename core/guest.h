/*
 * guest.h — the guest check: look inside a VM's disks, offline, before
 * VM Import spends an hour on them (doc/design/guest-check.md,
 * doc/CONTRACT.md "The guest check").
 *
 * What it reads. The caller hands one block reader per disk (a callback
 * read(offset, len) over the disk *file*: a local file for `amifs inspect
 * --guest`, ranged GETs of the staged object for imports/). The check reads
 * only what it needs, through a block cache (256 KiB blocks, a bounded
 * number of them), and stops at a byte budget:
 *   1. the disk format: raw; VMDK sparse extents (monolithicSparse and
 *      streamOptimized: grain directory and tables, grains inflated with
 *      zlib); VHD fixed and dynamic (block allocation table). Anything
 *      else (VHDX, qcow2, a descriptor-only VMDK) is "not checked";
 *   2. the partition table: MBR (with logical partitions) or GPT; a disk
 *      without one is taken as one filesystem;
 *   3. each partition's filesystem type from its superblock magic (ext2/3/4,
 *      xfs, btrfs, ntfs, vfat, swap, LVM, LUKS);
 *   4. from ext2/3/4 only, through libext2fs with an io_manager of our own
 *      that reads through the reader: os-release, installed kernels
 *      (/boot/vmlinuz-*, /lib/modules), GRUB (default entry, BLS entries),
 *      /etc/fstab lines naming /dev/sd*, /dev/xvd*, /dev/hd*, the ENA and
 *      NVMe drivers in the newest initramfs (libarchive: cpio, gzip/xz/zstd;
 *      or modules.builtin), static network configuration (ifupdown,
 *      ifcfg, netplan, NetworkManager) and cloud-init. A separate /boot
 *      filesystem (kernels and GRUB at its root) is merged in.
 * A filesystem no library here reads (xfs, btrfs, ntfs…) is reported as not
 * checked: the verdict never guesses.
 *
 * The verdict (struct guest_report):
 *   refused      VM Import's own message for a cause it is known to refuse
 *                (core/guest_rules.c mirrors the support matrix of
 *                doc/AWS.md "VM Import facts": releases per distribution,
 *                kernel major versions, BLS boot entries);
 *   not-checked  the root filesystem could not be read (unknown format or
 *                filesystem, a read error, the byte budget), with why;
 *   warnings     it would import, but: no ENA driver, no NVMe driver,
 *                fstab naming devices, static network configuration;
 *   ok.
 *
 * Threads: a check runs on the caller's thread; the reader is called from
 * it only. Reports are immutable once returned and may be shared read-only.
 * Errors: guest_check() never fails for bad input — a damaged disk is a
 * verdict ("not checked: …"); it returns NULL only when out of memory.
 * No global state: everything hangs off the check and the report.
 */
#ifndef AMIFS_CORE_GUEST_H
#define AMIFS_CORE_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Read len bytes at off of the disk file into buf: 0, or -errno (a short
 * read past the end is the caller's -EIO). Called from the checking
 * thread only. */
typedef int (*guest_read_fn)(void *ctx, uint64_t off, void *buf, size_t len);

/* One disk file. name is what the report calls it ("disk1.vmdk"). */
struct guest_disk {
    guest_read_fn read;
    void *ctx;
    uint64_t size;      /* bytes of the disk file */
    const char *name;
};

#define GUEST_MAX_DISKS 4       /* disks looked at (the boot disk is first) */
#define GUEST_BUDGET_DEFAULT (96ULL << 20) /* bytes read from the readers */

enum guest_verdict {
    GUEST_OK,
    GUEST_WARNINGS,
    GUEST_REFUSED,
    GUEST_NOT_CHECKED,
};

struct guest_report;

/* Check up to GUEST_MAX_DISKS disks; budget 0 means GUEST_BUDGET_DEFAULT.
 * NULL only when out of memory. */
struct guest_report *guest_check(const struct guest_disk *disks,
                                 size_t ndisks, uint64_t budget);
/* A report that says only "not checked: why" (e.g. the object could not
 * be read at all). NULL when out of memory. */
struct guest_report *guest_report_unread(const char *why);
void guest_report_free(struct guest_report *r);

enum guest_verdict guest_report_verdict(const struct guest_report *r);
/* "ok", "warnings", "refused", "not-checked". */
const char *guest_verdict_word(enum guest_verdict v);
/* Refused: VM Import's message without "ClientError: " ("Unsupported
 * kernel version 6.5.0-14-generic"); not checked: why; else "". Never
 * NULL; owned by r. */
const char *guest_report_reason(const struct guest_report *r);
/* The warnings, short, comma-separated ("no ENA driver in the initramfs,
 * fstab names /dev/sda1"); "" when none. Never NULL; owned by r. */
const char *guest_report_warnings(const struct guest_report *r);
/* One line for a status: "refused: …", "not checked: …", "warnings: …" or
 * "ok" (no newline), into out. */
void guest_report_line(const struct guest_report *r, char *out, size_t n);
/* Bytes the check read from the readers. */
uint64_t guest_report_bytes(const struct guest_report *r);

/* The report as JSON (doc/design/guest-check.md lists the fields) or as
 * "key: value" lines, the first "verdict: …". malloc'd (free()), NULL when
 * out of memory. */
char *guest_report_json(const struct guest_report *r);
char *guest_report_text(const struct guest_report *r);

/* ---- the rules (core/guest_rules.c), pure, for tests ------------------ */

/* VM Import's refusal for these facts ("ClientError: …", static or in
 * out), or NULL when it takes them. os_id/version_id from os-release (NULL
 * or "" unknown), kernel the newest installed ("" none), bls whether boot
 * entries exist. */
const char *guest_rules_refusal(const char *os_id, const char *version_id,
                                const char *kernel, bool bls, char *out,
                                size_t n);
/* The architecture an ELF header names ("x86_64", "arm64", "i386"), from
 * its first n bytes (at least 20: e_machine at 18, little-endian); NULL
 * for anything else. */
const char *guest_elf_arch(const unsigned char *h, size_t n);
/* The guest's architecture as the check found it ("x86_64", "arm64",
 * "i386"), or "" when unknown. Never NULL; owned by r. */
const char *guest_report_arch(const struct guest_report *r);
/* Add a warning of the caller's (code e.g. "architecture-mismatch", text
 * shown as is); an ok verdict becomes warnings. */
void guest_report_warn(struct guest_report *r, const char *code,
                       const char *text);
/* Compare dotted versions numerically (first 3 numbers): <0, 0, >0. */
int guest_version_cmp(const char *a, const char *b);

/* ---- the offline CLI --------------------------------------------------- */

/* `amifs inspect --guest [--json] FILE`: an OVA (its disk members, found
 * by seeking through the tar with libarchive), a VMDK, VHD or raw file.
 * Prints the report to out. 0 ok or warnings, 1 refused, 3 not checked, 2
 * the file could not be opened. */
int guest_inspect_file(const char *path, FILE *out, bool json);

#endif
