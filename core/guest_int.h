/*
 * guest_int.h — the pieces of the guest check (core/guest.h), shared by
 * core/guest*.c only.
 *
 * Layers, each reading through the one below:
 *   gsrc    the caller's reader with a block cache and the byte budget
 *           (guest_disk.c);
 *   gvdisk  the virtual disk: raw, VMDK sparse/streamOptimized, VHD
 *           fixed/dynamic (guest_disk.c);
 *   gpart   the partitions and their filesystem types (guest_part.c);
 *   gext    an ext2/3/4 filesystem through libext2fs (guest_ext.c), the
 *           facts it yields (guest_facts.c, guest_initrd.c);
 *   rules   the verdict (guest_rules.c), rendering (guest_report.c).
 * Everything belongs to one check on one thread; nothing is shared.
 *
 * Ownership: guest_check() (guest.c) owns one struct walk holding a gsrc
 * and a gvdisk per disk and at most two open ext filesystems (the root
 * and a separate /boot); it closes all of them before it returns the
 * report. The report (struct guest_report) is a plain value: fixed-size
 * strings, no pointers, freed with free().
 *
 * Errors: the layers answer 0 or -errno; a gsrc remembers its first
 * failure (the reader's -errno, or -EFBIG once the byte budget is spent)
 * and every later read fails with it, so one failed ranged GET stops the
 * whole check quickly and the walk can tell "the disk said nothing" from
 * "the disk could not be read". Functions that inspect files (gfacts_*)
 * never fail: what they cannot read stays unknown ("" or -1), and the
 * walk turns a read error into "not checked" rather than into a verdict.
 *
 * Bounds: every offset read from the disk (grain directory and table
 * entries, BAT entries, partition entries, EBR links) is checked against
 * the disk's size before use; loops over on-disk chains are bounded (64
 * EBRs, 1024 GPT entries, 4 initramfs segments).
 */
#ifndef AMIFS_CORE_GUEST_INT_H
#define AMIFS_CORE_GUEST_INT_H

#include "core/guest.h"

#define GSRC_BLOCK (256u << 10)
#define GSRC_BLOCKS 48

struct gblk {
    uint64_t no;          /* block number, or UINT64_MAX unused */
    uint64_t stamp;       /* last use, for LRU */
    size_t len;           /* valid bytes (the last block may be short) */
    unsigned char *data;
};

/* The caller's reader, cached. err: the first read error (-errno), or
 * -EFBIG once the budget is spent; every later read fails with it. Reads
 * are whole cache blocks (GSRC_BLOCK, the last one short), so a ranged
 * GET fetches 256 KiB at most and neighbouring metadata comes free;
 * eviction is least recently used. gsrc_read() of a range past the end
 * of the disk file is -EIO (a damaged header must not read outside it). */
struct gsrc {
    struct guest_disk d;
    struct gblk blk[GSRC_BLOCKS];
    uint64_t tick;
    uint64_t *bytes;      /* shared across the check's disks */
    uint64_t budget;
    int err;
};
void gsrc_init(struct gsrc *s, const struct guest_disk *d, uint64_t *bytes,
               uint64_t budget);
void gsrc_fini(struct gsrc *s);
int gsrc_read(struct gsrc *s, uint64_t off, void *buf, size_t len);

enum gvd_kind { GVD_RAW, GVD_VMDK, GVD_VHD_FIXED, GVD_VHD_DYNAMIC };

struct gvdisk {
    struct gsrc *src;
    enum gvd_kind kind;
    uint64_t vsize;          /* virtual size, bytes */
    char format[40];         /* "raw", "VMDK streamOptimized", … */
    /* VMDK */
    uint64_t grain;          /* bytes per grain */
    uint32_t gtes;           /* entries per grain table */
    bool compressed;
    uint64_t gd_sector;
    size_t ngd;
    uint32_t *gd;            /* grain directory (sector of each table) */
    uint32_t **gt;           /* tables, loaded on demand */
    unsigned char *gbuf;     /* one inflated grain */
    unsigned char *zbuf;     /* its compressed bytes */
    uint64_t gbuf_no;        /* grain in gbuf, UINT64_MAX none */
    /* VHD dynamic */
    uint32_t *bat;
    size_t nbat;
    uint32_t block;          /* bytes per block */
    uint32_t bitmap;         /* bytes of each block's sector bitmap */
};
/* Recognise the disk file's format by its content (never its name):
 * "KDMV" a VMDK sparse extent, "# Disk DescriptorFile" a VMDK
 * descriptor (its extents are elsewhere: not read), "vhdxfile" VHDX and
 * "QFI\xfb" qcow2 (not read), a "conectix" footer at the end a VHD,
 * anything else raw. 0, or -1 with why (a format this check does not read,
 * or a header it does not understand); call gvd_close() either way. */
int gvd_open(struct gvdisk *v, struct gsrc *s, char *why, size_t n);
/* Bytes of the virtual disk; past its end reads zeros. 0 or -errno. */
int gvd_read(struct gvdisk *v, uint64_t off, void *buf, size_t len);
void gvd_close(struct gvdisk *v);

#define GUEST_MAX_PARTS 16

struct gpart {
    int index;               /* 1-based partition number; 0 whole disk */
    uint64_t off, len;       /* bytes in the virtual disk */
    char type[40];           /* "0x83" or a GPT type GUID */
    char fs[12];             /* ext2 ext3 ext4 xfs btrfs ntfs vfat swap lvm
                                luks "" (unknown) */
    bool esp;
    char role[8];            /* "root", "boot", "" */
    bool read;               /* its files were read */
    char note[160];          /* why not read, when it matters */
};
/* Partitions of v into p (at most max): the table kind into table ("mbr",
 * "gpt", "none"). Returns the count (0 when none and no filesystem). A
 * protective MBR (type 0xee) means GPT; an MBR's extended partition is
 * followed through its EBR chain (logical partitions numbered from 5, as
 * Linux does); without any table the whole disk is sniffed as one
 * filesystem (index 0). Each partition's fs is filled from its magic. */
size_t gpart_scan(struct gvdisk *v, struct gpart *p, size_t max,
                  char *table, size_t tn);

#define GUEST_MAX_KERNELS 8
#define GUEST_MAX_FSTAB 4

/* What the files say. Strings "" when unknown. */
struct gfacts {
    char os_id[32], version_id[32], pretty[128];
    char kernels[GUEST_MAX_KERNELS][64];
    size_t nkernels;
    char modules[GUEST_MAX_KERNELS][64];   /* /lib/modules entries */
    size_t nmodules;
    char newest[64];                       /* newest kernel */
    char grub[8];                          /* "grub2", "grub", "" */
    char grub_default[128];
    bool bls;
    size_t nbls;
    char fstab_dev[GUEST_MAX_FSTAB][64];
    size_t nfstab_dev;
    char initramfs[96];                    /* the one read */
    int ena, nvme;                         /* 1 yes, 0 no, -1 not known */
    char initramfs_note[96];
    bool static_net;
    char static_net_file[96];
    bool cloud_init;
    bool have_root, have_boot;
    char arch[8];                          /* x86_64 arm64 i386 "" */
};

/* An ext2/3/4 filesystem opened read-only through libext2fs with the
 * check's own io_manager (guest_ext.c): nothing is ever written, journals
 * are not replayed (a guest shut down uncleanly may show slightly older
 * files), checksum errors are ignored. Paths are absolute inside the
 * filesystem and symlinks are followed within it (an absolute link target
 * resolves against the filesystem's root, never the host's). */
struct gext;
/* Open the ext2/3/4 filesystem at part of v; NULL with why. */
struct gext *gext_open(struct gvdisk *v, const struct gpart *part, char *why,
                       size_t n);
void gext_close(struct gext *e);
/* Read a whole file (following symlinks) up to max bytes: malloc'd, NUL
 * terminated, *len its length. NULL when absent or unreadable. */
char *gext_slurp(struct gext *e, const char *path, size_t max, size_t *len);
/* Names in a directory (following symlinks): fn(name, arg) for each but
 * "." and "..". 0, or -1 when absent. */
int gext_list(struct gext *e, const char *dir,
              void (*fn)(const char *name, void *arg), void *arg);
bool gext_exists(struct gext *e, const char *path);
/* A file's reader for libarchive: an open handle. */
struct gextfile;
struct gextfile *gext_fopen(struct gext *e, const char *path);
/* 0 at end, bytes read, or -1. */
long gext_fread(struct gextfile *f, void *buf, size_t n);
void gext_fclose(struct gextfile *f);

/* Facts from a root filesystem (prefix "") or a /boot one (files at its
 * root; prefix "/boot" maps onto ""). */
void gfacts_root(struct gext *e, struct gfacts *f);
void gfacts_boot(struct gext *e, bool separate, struct gfacts *f);
/* The architecture (guest_arch.c): the ELF e_machine of /sbin/init,
 * /usr/lib/systemd/systemd, /bin/sh or /usr/bin/env (the first that is an
 * ELF file), else an uncompressed arm64 kernel Image in /boot. */
void gfacts_arch(struct gext *e, struct gfacts *f);
/* The ENA/NVMe drivers in the initramfs (guest_initrd.c). */
void gfacts_initrd(struct gext *e, const char *path, struct gfacts *f);
/* The drivers a kernel has built in (its modules.builtin at path). */
void gfacts_builtin(struct gext *e, const char *path, struct gfacts *f);


/* ---- the report (guest.c fills it, guest_report.c renders it) ---------- */

#define GUEST_MAX_WARN 8

struct gdiskrep {
    char name[128];
    char format[40];         /* "raw", "VMDK streamOptimized", … or "" */
    uint64_t vsize;
    char table[8];           /* "mbr", "gpt", "none" */
    char note[160];          /* why it was not read, or "" */
    size_t nparts;
    struct gpart parts[GUEST_MAX_PARTS];
};

struct guest_report {
    enum guest_verdict verdict;
    char reason[512];        /* refusal (no "ClientError: ") or why not */
    char message[512];       /* refused: VM Import's whole message */
    char warn[GUEST_MAX_WARN][160];
    char warn_code[GUEST_MAX_WARN][24];
    size_t nwarn;
    char warnings[640];      /* the short, comma-separated form */
    uint64_t bytes;
    size_t ndisks;
    struct gdiskrep disks[GUEST_MAX_DISKS];
    struct gfacts f;
    char root[48], boot[48]; /* "disk 1 partition 2" or "" */
    char boot_mode[16];      /* "uefi" (GPT + ESP) or "legacy-bios" */
};

/* The verdict from r's facts (guest_rules.c). */
void guest_rules_apply(struct guest_report *r);

#endif
