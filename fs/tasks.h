/*
 * tasks.h — the tasks kind of folder (fs/view.h): the import-image tasks
 * of one region, as directories of status files.
 *
 * fs/tasks.c serves tasks/ (made by fs/fs.c for the mounted region, with
 * imports/' registry: it also shows this mount's uploads before their task
 * exists, has the blocking `wait` file, and rmdir/rm cancels) and
 * regions/REGION/tasks/ (made by fs/regions.c without a registry: what the
 * region's poller knows, read-only — every change answers EACCES — and no
 * `wait`). A view borrows its region's task cache (view_region.tasks, which
 * must not be NULL: `new` fails with EIO otherwise) and, for tasks/, the
 * registry; both outlive it (fs/fs.c frees views before imports/ stops,
 * fs/regions.c frees its views before the pollers it started).
 *
 * Files are rendered from memory only (never an HTTP call in a handler);
 * see fs/tasks.c for the layout.
 */
#ifndef AMIFS_FS_TASKS_H
#define AMIFS_FS_TASKS_H

#include "fs/view.h"

/* The kind. */
extern const struct view_ops tasks_view_ops;

#endif
