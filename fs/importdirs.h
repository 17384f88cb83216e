/*
 * importdirs.h — folders in imports/ (core/importset.h): `mkdir
 * imports/vm`, `cp -r vm/ imports/` make an import set whose files become
 * one import, tasks/vm. fs/imports.c keeps the file-level drop box and
 * hands this file every path below a folder, the folder's own getattr,
 * readdir, mkdir and rmdir, and the handles it opened here.
 *
 * Owner: imports.c creates the registry in its init (after its own state)
 * and frees it first in its destroy, before the jobs (the sets hold
 * references on their lead and member jobs). The registry maps a folder
 * name to its set; a newer mkdir of a name whose set ended replaces it.
 * Each set's lead job is also registered in imports.c's job registry under
 * the folder's name, so tasks/NAME, cleanup, the queue and CopyToRegions
 * treat it as any import. The registry lock is never held across a call
 * into a set (which may wait on the network).
 *
 * Arrows point one way: imports.c calls this file; this file never calls
 * imports.c. What it needs of the drop box's job registry comes through
 * the struct impdirs_host that imports.c hands impdirs_new():
 *   - cfg: the mount's import settings (borrowed, outlive the registry);
 *     cfg->bucket NULL means no staging bucket (mkdir answers EROFS);
 *   - job(ctx, name): the job registered under `name`, referenced (the
 *     caller unrefs it), or NULL;
 *   - visible(ctx, j): whether job j still shows in imports/;
 *   - enlist(ctx, j, name): register the lead job j under `name`,
 *     replacing an ended job of that name; takes the caller's reference;
 *     0 or -ENOMEM.
 * Each may be called from any FUSE thread, with no lock of this file
 * held; none calls back into this file.
 *
 * Refusals a user should understand (a subfolder, an OVA in a folder, a
 * refused set) go to .amifs/errors through amifs_refuse, and into the
 * lead's status.
 */
#ifndef AMIFS_FS_IMPORTDIRS_H
#define AMIFS_FS_IMPORTDIRS_H

#include <stdbool.h>
#include <sys/stat.h>

#include "fs/fs.h"

struct import_config;
struct importjob;
struct impdirs;
struct impdir_handle;

/* The drop box's side, as this file sees it (contract above). */
struct impdirs_host {
    const struct import_config *cfg;
    struct importjob *(*job)(void *ctx, const char *name);
    bool (*visible)(void *ctx, struct importjob *j);
    int (*enlist)(void *ctx, struct importjob *j, const char *name);
    void *ctx;
};

/* Registry for the host (*host is copied; what it points to is borrowed);
 * reaps the markers of dead daemons (importset_reap). 0 or -errno. */
int impdirs_new(struct amifs *fs, const struct impdirs_host *host,
                struct impdirs **out);
void impdirs_free(struct impdirs *d);

/* Whether rel is a folder set shown in imports/, or a path below one. */
bool impdirs_owns(struct impdirs *d, const char *rel);

int impdirs_mkdir(struct amifs *fs, struct impdirs *d, const char *rel);
int impdirs_rmdir(struct amifs *fs, struct impdirs *d, const char *rel);
int impdirs_getattr(struct amifs *fs, struct impdirs *d, const char *rel,
                    struct stat *st);
int impdirs_readdir(struct impdirs *d, const char *rel, void *buf,
                    fuse_fill_dir_t filler);
int impdirs_unlink(struct amifs *fs, struct impdirs *d, const char *rel);

/* create: a handle (into *h) for a new file below a folder. */
int impdirs_create(struct amifs *fs, struct impdirs *d, const char *rel,
                   struct impdir_handle **h);
int impdirs_write(struct impdir_handle *h, const char *buf, size_t n,
                  off_t off);
/* ftruncate of an open file: a disk's size hint, else only its size. */
int impdirs_truncate(struct impdir_handle *h, off_t size);
/* flush and release: the first one closes the file (0 or -errno). */
int impdirs_flush(struct impdir_handle *h);
void impdirs_release(struct impdir_handle *h);

#endif
