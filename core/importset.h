/*
 * importset.h — a folder dropped into imports/ (doc/design/ovf-folders.md):
 * `mkdir imports/vm` (or `cp -r vm/ imports/`) makes an import set, and
 * the files copied into it become ONE import.
 *
 * Members, by file name:
 *  - `*.ovf`: the descriptor (at most one; held in memory, ≤ 4 MiB), read
 *    through ova/ovfdir.h for the disks (in order), firmware and OS facts;
 *  - `*.mf`: the manifest (held in memory, ≤ 1 MiB); every present file
 *    it lists must match its digest;
 *  - a disk (`.vmdk .vhd .vhdx .raw .img`): an import job of its own
 *    (core/importjob.h, importjob_member) that streams to its staged object
 *    `DIR/FILE` through the same upload writer and validator as a single
 *    file, and stages without an ImportImage;
 *  - `amifs.json`: the set's parameters (the keys of a sidecar,
 *    core/params.h) plus, for a folder without an OVF, `"Disks": [names]`,
 *    the disks in volume order (the loose-disk rule);
 *  - anything else (`.nvram`, an ISO, a log): accepted, digested for the
 *    manifest, not stored, never imported.
 * An `.ova` inside a folder, or a subfolder, is refused at create.
 *
 * Completeness: the set starts when the OVF (or amifs.json's Disks) is
 * closed, every disk it names is closed and staged, every file the
 * manifest lists that is present matched, no file of the folder is open,
 * and nothing changed for `settle` seconds (a manifest or parameters
 * copied after the last disk still count). Then the lead job (the folder's
 * name, tasks/NAME) calls ImportImage once with one DiskContainer per disk,
 * in order (importjob_start_set). Until then the lead's status says what
 * is missing: "waiting for vm-disk2.vmdk (1 of 2 disks present)".
 *
 * Refusals (two OVFs, an OVF that does not parse or names a disk format VM
 * Import cannot read, a manifest mismatch, a refused disk): the lead is
 * FAILED with the sentence, every staged member object is deleted and
 * every upload in flight aborted, `fail` is called (fs/ writes
 * .amifs/errors), and no ImportImage is ever called for the set.
 *
 * Crash safety: while a set is open a marker file (PID.RANDOM.json under
 * $XDG_STATE_HOME/amifs/sets, or ~/.local/state/amifs/sets) lists its
 * staged objects; it goes when the set started or was refused. At mount,
 * importset_reap() deletes the staged objects of markers whose daemon is
 * dead (the upload in flight is the upload journal's: its multipart upload
 * is aborted by the janitor) and reports each such set through `fail`.
 * A marker written while ImportImage was being called ("starting") is
 * only reported: a task may already read those objects.
 *
 * Threads: every call may come from any FUSE thread; the set's lock is
 * never held across a network call. One worker thread per set waits for
 * the settle time and starts the import; importset_free joins it.
 */
#ifndef AMIFS_CORE_IMPORTSET_H
#define AMIFS_CORE_IMPORTSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "core/importjob.h"

struct importset_env {
    const struct import_config *cfg;
    double settle;         /* seconds of quiet before the start; 0: 2 s */
    const char *state_dir; /* marker directory; NULL: the default */
    /* A set was refused (or found dead at mount): name and the sentence. */
    void (*fail)(void *ctx, const char *name, const char *why);
    void *ctx;
};

struct importset;
struct importset_file;

/* A new, empty set for folder `name` and its lead job (referenced into
 * *lead for the caller's registry). NULL when out of memory. */
struct importset *importset_new(const struct importset_env *env,
                                const char *name, struct importjob **lead);
/* Stop the worker, abort what is in flight (unmount), free. */
void importset_free(struct importset *s);

/* A file is created in the set. 0 with *out, or -errno with why (one
 * sentence, for .amifs/errors): EEXIST, EINVAL (refused name), EBUSY
 * (the set has started or failed). */
int importset_create(struct importset *s, const char *file,
                     struct importset_file **out, char *why, size_t wn);
/* Bytes of an open file (in order for non-disk members). n or -errno. */
ssize_t importset_write(struct importset *s, struct importset_file *f,
                        const void *buf, size_t n, off_t off);
/* ftruncate: a disk's size hint (core/importjob.h); another file only to
 * its current size. 0 or -errno. */
int importset_truncate(struct importset *s, struct importset_file *f,
                       off_t size);
/* The file's close: 0 or -errno (a disk's upload result, a refused OVF
 * or manifest). Later calls return the same. */
int importset_close(struct importset *s, struct importset_file *f);
/* The file's handle is gone (after importset_close): a file rm'd while
 * open is freed now. */
void importset_release(struct importset *s, struct importset_file *f);
/* rm FILE: 0, -ENOENT, -EBUSY once the set started. */
int importset_unlink(struct importset *s, const char *file);
/* rmdir / rm -r: cancel the whole set (staged objects deleted). 0, or
 * -EBUSY once ImportImage was called. */
int importset_cancel(struct importset *s);
/* Whether ImportImage was called (or is being called). */
bool importset_started(struct importset *s);

/* Listing: the names of the files (malloc'd array of malloc'd strings). */
int importset_names(struct importset *s, char ***names, size_t *n);
/* A file's size and whether it is still open: 0, or -ENOENT. */
int importset_stat(struct importset *s, const char *file, uint64_t *size,
                   bool *open, time_t *mtime);

/* At mount: reap the markers of dead daemons (see above). */
void importset_reap(const struct importset_env *env);

#endif
