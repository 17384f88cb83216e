/*
 * exports.h — the exports kind of folder (fs/view.h): the ExportImage tasks
 * of one region, as EC2 lists them (doc/design/exports.md).
 *
 * One module, fs/exports.c, serves exports/ (the mounted region: its view
 * acts — `wait`, and rm -r cancels) and regions/REGION/exports/ (read-only).
 * A view keeps only a copy of the last DescribeExportImageTasks answer
 * (refreshed after the mount's cache_ttl, or at once after a change it
 * made); every task, whoever started it, is listed, so a remount shows the
 * exports a killed daemon had started.
 *
 *   exports/export-ami-…/status     "active: converting, 30%",
 *                                   "completed: s3://B/KEY", "failed: why",
 *                                   "cancelled: why"
 *   exports/export-ami-…/progress   0..100
 *   exports/export-ami-…/wait       blocks until the export ends, then
 *                                   reads as status (mounted region only)
 *   exports/export-ami-…/source     the AMI, the format, the object
 *   exports/export-ami-…/diagnosis  failed or cancelled: what happened and
 *                                   what to do (core/diagnosis.h)
 *   exports/export-ami-…/file       completed: symlink to the object under
 *                                   buckets/
 *
 * Files are rendered at open (direct_io), like tasks/. rmdir of a task
 * directory (rm -r) sends CancelExportTask for an active export (EPERM for
 * an ended one: history is not removed); unlinking the files inside is
 * accepted and changes nothing so rm -r reaches the rmdir.
 *
 * exports_start() is what `mkdir amis/ami-…/export-to/FORMAT` calls
 * (fs/amis.c): ExportImage into the mount's staging bucket under
 * `[PREFIX/]amifs-exports/`. Refusals go to .amifs/errors with the fix.
 *
 * Views are thread-safe; no lock is held across an HTTP call.
 */
#ifndef AMIFS_FS_EXPORTS_H
#define AMIFS_FS_EXPORTS_H

#include "fs/view.h"

/* Where exports go, below the staging bucket's prefix. */
#define EXPORTS_PREFIX "amifs-exports/"

extern const struct view_ops exports_view_ops;

/* ExportImage of `ami` in `region` as `format` ("vmdk", "vhd" or "raw", as
 * the directory is named). rel is the path below amis/ for the refusal
 * line. The task id into out (n bytes). 0 or -errno (refused: logged in
 * .amifs/errors with AWS's message and the fix). */
int exports_start(struct amifs *fs, struct aws_client *client,
                  const char *region, const char *ami, const char *format,
                  const char *rel, char *out, size_t n);

#endif
