/*
 * imports.h — state shared by fs/imports.c and fs/tasks.c (one owner:
 * imports.c creates it in its init and frees it in its destroy; the tasks/
 * view borrows it through its view_region (fs/view.h), made after imports/
 * started and freed before it stops. When imports/ could not start there
 * is no registry and no task poller, and tasks/ answers EIO as imports/
 * does).
 *
 * The registry maps file names to import jobs (core/importjob.h): at most one
 * job per name; a newer job of the same name replaces an ended or failed
 * one. Jobs stay in the registry after they leave imports/ (their task ended,
 * or they failed before reaching AWS) so tasks/NAME keeps answering with the
 * outcome for the mount's lifetime. The registry lock is never held across a
 * network call: lookups return a referenced job.
 */
#ifndef AMIFS_FS_IMPORTS_H
#define AMIFS_FS_IMPORTS_H

#include <pthread.h>

#include "fs/fs.h"
#include "core/importjob.h"
#include "core/importqueue.h"
#include "core/regioncopy.h"
#include "core/taskcache.h"

struct fsimport {
    struct import_config cfg;    /* cfg.bucket NULL: no staging bucket */
    char *bucket;                /* owned strings cfg points into */
    char *prefix;
    struct taskcache *tc;        /* never NULL once created */
    struct taskcache_client tcc;
    struct snaproute *routes;    /* the snapshot route's runner */
    int cleanup;                 /* delete the staged object on success */
    struct importqueue *queue;   /* the shared import queue (fleet.md) */
    struct regioncopy *copies;   /* CopyToRegions (core/regioncopy.h) */
    char *copy_regions;          /* the mount's "R1,R2", or NULL */
    /* The background callbacks (task ends, queue starts, reroutes) run
     * under a read hold of cb_lock and do nothing once `closing`:
     * fsimport_free sets it under the write hold, so no callback is inside
     * the queue, the copies or the routes while they are freed. */
    pthread_rwlock_t cb_lock;
    bool closing;
    pthread_mutex_t mu;
    struct importjob **jobs;
    size_t njobs;
    struct sidecar *sidecars;
    size_t nsidecars;
    struct impdirs *dirs;        /* folders (fs/importdirs.h) */
};

struct sidecar {
    char *name;                  /* "vm.ova.json" */
    char *data;
    size_t len;
    time_t mtime;
};

/* Create the shared state (taskcache started). 0 or -errno. */
int fsimport_create(struct amifs *fs, struct fsimport **out);
void fsimport_free(struct fsimport *s);

/* The job registered under `name` (referenced: importjob_unref it), or
 * NULL. */
struct importjob *fsimport_job(struct fsimport *s, const char *name);

/* The job whose ImportImage started task `id` (referenced), or NULL. */
struct importjob *fsimport_job_by_task(struct fsimport *s, const char *id);

/* The newest job under a temporary name whose writer will rename it to
 * `final` (core/importjob.h importjob_temp_target), referenced, or NULL:
 * tasks/FINAL follows an rsync from its first byte. */
struct importjob *fsimport_job_temp_for(struct fsimport *s,
                                        const char *final);

/* Names of every registered job (malloc'd array of malloc'd strings). */
int fsimport_job_names(struct fsimport *s, char ***names, size_t *n);
void fsimport_names_free(char **names, size_t n);

/* Register j under name (the lead job of a folder set, fs/importdirs.c),
 * replacing an ended job of that name; takes the caller's reference.
 * 0 or -ENOMEM. */
int fsimport_register(struct fsimport *s, struct importjob *j,
                      const char *name);

/* Drop job j from the registry (tasks/NAME of a failed upload that was
 * `rm -r`ed, or of a task that was hidden): it no longer answers. */
void fsimport_forget(struct fsimport *s, struct importjob *j);
/* tasks/NAME/copies (core/regioncopy.h) of task `task_id` (NULL: no task
 * yet) whose amifs:copy-to tag is `regions` (NULL: not known; then the
 * local job j's own CopyToRegions, if j). 0, or -ENOENT when no copy was
 * asked for. */
int fsimport_copies(struct fsimport *s, const char *task_id,
                    const char *regions, struct importjob *j,
                    struct buf *out);

/* Whether the job still shows in imports/ (in flight, staged, or its task
 * not ended). */
bool fsimport_visible(struct fsimport *s, struct importjob *j);

#endif
