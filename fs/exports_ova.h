/*
 * exports_ova.h — exports/ID/NAME.ova: the OVA that no AWS tool makes,
 * assembled on the fly around a completed VMDK export (core/ovagen.h for
 * the layout, doc/design/exports.md for the why).
 *
 * An xova is built once per export (DescribeImages for the name, boot mode
 * and platform; HeadObject for the VMDK's size and ETag; one ranged GET of
 * the VMDK's first 64 KiB, read by the OVA validator, for its capacity) and
 * is immutable afterwards, shared by reference count between the view's
 * cache and open files. Reads fetch the disk's bytes with ranged GETs
 * (If-Match the ETag seen at build: a replaced object fails with ESTALE
 * rather than mixing two disks) into a per-handle window of XOVA_WINDOW
 * bytes, guarded by the handle's own lock (the kernel may read ahead in
 * parallel).
 *
 * Errors: -ENOENT when the export is not a completed VMDK export, -errno
 * from aws_error_errno for the AWS calls (logged).
 */
#ifndef AMIFS_FS_EXPORTS_OVA_H
#define AMIFS_FS_EXPORTS_OVA_H

#include <stdint.h>
#include <sys/types.h>

#include "aws/ec2_export.h"
#include "fs/fs.h"

#define XOVA_WINDOW (8u << 20)

struct xova;
struct xova_reader;

int xova_build(struct amifs *fs, struct aws_client *c, const char *region,
               const struct ec2_export_task *t, struct xova **out);
void xova_ref(struct xova *o);
void xova_unref(struct xova *o);
/* The file's name ("NAME.ova") and exact size. */
const char *xova_name(const struct xova *o);
uint64_t xova_size(const struct xova *o);

/* A reader of o (takes a reference); NULL when out of memory. */
struct xova_reader *xova_reader_new(struct xova *o);
void xova_reader_free(struct xova_reader *r);
/* pread of the OVA: bytes read, 0 at the end, or -errno. */
int xova_read(struct amifs *fs, struct aws_client *c, struct xova_reader *r,
              char *buf, size_t n, off_t off);

#endif
