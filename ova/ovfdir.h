/*
 * ovfdir.h — an exported OVF folder: `vm.ovf` beside its disk files, maybe
 * a `vm.mf` manifest, an `.nvram`, an ISO, as vSphere and VirtualBox write
 * them (doc/design/ovf-folders.md). This is the pure part of a folder
 * import: the descriptor read through expat (the same parser as an OVA's,
 * ova/ovf.c) for what the import needs, the manifest parsed (ova/manifest.c)
 * and digests computed while the files stream. No AWS, no FUSE, no threads:
 * core/importset.c drives it.
 *
 * Descriptor rules (ovfdir_parse):
 *  - it must parse (expat, no DTD or entities) and pass the OVA checks of a
 *    descriptor (at least one disk with a file, at most 21, none chunked,
 *    none of 8 TiB or more, every fileRef resolves);
 *  - the disks come in DiskSection order (the order VM Import numbers the
 *    volumes in; the first is the boot disk), each with the format its file
 *    name gives (.vmdk .vhd .vhdx .raw .img); a disk file of another kind
 *    (.qcow2, .vdi, …) or whose OVF format URL names one is refused with
 *    code "bad-format";
 *  - files of CD-ROM and floppy drives (ResourceType 14, 15, 16) are media:
 *    never imported, and an absent one is simply dropped (a folder import
 *    sends only the disks to ImportImage, so the drive does not matter);
 *  - a file href with a '/' (a subfolder) is refused ("unsafe-path").
 * Failures give a sentence and a code as the validator's (ova/ova.h).
 *
 * Manifest: `ALG(name)= hex` lines (SHA1, SHA256, SHA512). Digests are
 * computed with OpenSSL's EVP for the algorithms asked (a bit mask), so a
 * folder whose .mf came first computes only what it names.
 */
#ifndef AMIFS_OVA_OVFDIR_H
#define AMIFS_OVA_OVFDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ova/ova.h"

#define OVFDIR_MAX_MEDIA 16

enum { OVFDIR_SHA1 = 1, OVFDIR_SHA256 = 2, OVFDIR_SHA512 = 4 };

struct ovfdir_disk {
    char href[256];          /* the file name in the folder */
    char format[8];          /* ImportImage DiskContainer Format */
    uint64_t capacity;       /* bytes, 0 unknown */
};

struct ovfdir_desc {
    struct ovfdir_disk disks[OVA_MAX_DISKS]; /* DiskSection order */
    size_t ndisks;
    char media[OVFDIR_MAX_MEDIA][256];       /* CD-ROM / floppy files */
    size_t nmedia;
    struct ova_facts facts;  /* os_*, firmware (for BootMode, Platform) */
};

/* Read descriptor text (n bytes) into *out. 0, or -1 with a sentence in
 * why (wn bytes) and a code in code (cn bytes). */
int ovfdir_parse(const void *text, size_t n, struct ovfdir_desc *out,
                 char *why, size_t wn, char *code, size_t cn);

/* The disk whose file is `href`, or -1. */
int ovfdir_disk_index(const struct ovfdir_desc *d, const char *href);
/* Whether `href` is a CD-ROM/floppy file of the descriptor. */
bool ovfdir_is_media(const struct ovfdir_desc *d, const char *href);

/* A parsed manifest; malloc'd by ovfdir_mf_parse, freed by ovfdir_mf_free
 * (NULL is fine). */
struct ovfdir_mf;
/* NULL with why filled (bad syntax) or when out of memory. */
struct ovfdir_mf *ovfdir_mf_parse(const void *text, size_t n, char *why,
                                  size_t wn);
void ovfdir_mf_free(struct ovfdir_mf *m);
/* The algorithm (one OVFDIR_SHA*) the manifest gives for name, or 0 when it
 * does not list it. */
int ovfdir_mf_alg(const struct ovfdir_mf *m, const char *name);
/* OR of every algorithm the manifest uses. */
int ovfdir_mf_algs(const struct ovfdir_mf *m);
/* 1 the listed digest matches, 0 it does not, -1 not listed. */
int ovfdir_mf_check(const struct ovfdir_mf *m, const char *name, int alg,
                    const unsigned char *digest, size_t len);
const char *ovfdir_alg_name(int alg);

/* Digests of one file, for the algorithms in `algs`. */
struct ovfdir_hash;
struct ovfdir_hash *ovfdir_hash_new(int algs);
void ovfdir_hash_update(struct ovfdir_hash *h, const void *p, size_t n);
/* The digest for alg (which must be in algs) into out (64 bytes); its
 * length, or 0 when that algorithm was not computed. Ends the hashing of
 * that algorithm (call once per alg, after the last update). */
size_t ovfdir_hash_final(struct ovfdir_hash *h, int alg, unsigned char *out);
/* The algorithms computed. */
int ovfdir_hash_algs(const struct ovfdir_hash *h);
void ovfdir_hash_free(struct ovfdir_hash *h);

#endif
