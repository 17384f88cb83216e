/*
 * fs.h — how the FUSE front is put together.
 *
 * fs/fs.c owns the single static `struct fuse_operations` table. Each call
 * resolves the path's first component to a top-level folder module (README,
 * buckets, imports, tasks, amis, regions) and hands that module the rest of
 * the path ("" for the folder itself, otherwise "a/b/c", no leading slash).
 * A rename between two different folders fails with EXDEV before any module
 * sees it. Every handler returns 0 (or a byte count for read/write) or a
 * negative errno, as FUSE does.
 *
 * The whole mount's state is one `struct amifs`, created in main(), returned
 * from FUSE's init() and reached in handlers through amifs_get() (which reads
 * fuse_get_context()->private_data): no process globals. Folder modules keep
 * their own state behind the `void *` slot they own in `struct amifs`.
 *
 * A folder that appears once per region (amis/, tasks/; again under
 * regions/REGION/) is a folder kind instead (fs/view.h): one module whose
 * handlers take the view they answer for, made per region. fs/fs.c makes
 * the mounted region's view of each and passes it to the handlers.
 *
 * Handlers must never hold a lock across an HTTP call: a slow upload may not
 * stall `ls` or `cat tasks/…/status`.
 *
 * Open files: fi->fh holds a pointer the module allocated in open/create and
 * frees in release. (The dispatcher keeps its own record of which module
 * opened the file and hands each module its own fh.) Calls on an open file
 * whose name was removed meanwhile (rm while open: libfuse then has no
 * path) reach the module that opened it with rel "". Modules that serve generated text (status files, README)
 * set fi->direct_io so readers never see stale page cache.
 *
 * Metadata calls (chmod, chown, utimens) that a module leaves NULL succeed
 * whenever getattr finds the node, so cp -p, rsync -a, install and GIO work;
 * setxattr of system.posix_acl_* fails with ENOTSUP, fallocate with
 * EOPNOTSUPP (clients fall back).
 */
#ifndef AMIFS_FS_FS_H
#define AMIFS_FS_FS_H

#define FUSE_USE_VERSION 31
#include <fuse.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include "aws/client.h"
#include "aws/mpu.h"
#include "core/upload.h"
#include "core/errlog.h"

/* Mount options (-o name=value). Each module declares its own fuse_opt table
 * pointing into this struct; main() parses them all. Strings are malloc'd by
 * fuse_opt_parse and freed at exit. */
struct amifs_opts {
    /* AWS (fs/main.c) */
    char *profile;
    char *region;
    char *endpoint;
    char *ca_bundle;
    /* presentation (fs/main.c) */
    unsigned uid, gid, umask;
    int uid_set, gid_set, umask_set;
    int allow_other; /* -o allow_other given (still passed to libfuse) */
    double cache_ttl;            /* listing/attribute cache, seconds; 5 */
    /* uploads (buckets/ and imports/) */
    unsigned long part_size;     /* bytes; default 8 MiB */
    int upload_concurrency;      /* workers of the mount's upload pool; 10 */
    unsigned long max_memory;    /* bytes of part buffers, whole mount;
                                    0 (default): automatic, 64 MiB
                                    growing to 160 MiB (aws/mpu.h) */
    /* reads (fs/bucket_io.c, core/readpool.h) */
    int read_concurrency;        /* ranged GETs in flight: per open file
                                    and the mount's read workers; 8 */
    unsigned long read_memory;   /* bytes of read-ahead buffers, whole
                                    mount; default 64 MiB */
    /* imports (fs/imports.c) */
    char *bucket;                /* staging "NAME[/prefix]" */
    char *role;                  /* default "vmimport" */
    char *kms_key;
    char *boot_mode;
    char *license_type;
    char *platform;
    char *architecture;
    char *route;                 /* auto (default) | image | snapshot:
                                    core/snaproute.h */
    int cleanup;                 /* accepted, the default now (fleet.md) */
    int keep_staged;             /* keep the staged object after success */
    int no_guest_check;          /* imports/: no guest check before ImportImage */
    double queue_lease;          /* seconds a queue claim lasts (fleet.md) */
    char *copy_to_regions;       /* "R1:R2": copy completed AMIs there */
    /* amis/ (fs/amis.c, fs/amis_kms.h): the consent to create the KMS
     * grants that sharing an encrypted AMI needs */
    int share_kms_grants;
    /* tasks (fs/tasks.c) */
    double poll_interval;        /* DescribeImportImageTasks refresh; 10 s,
                                    2 s while a task is active */
    /* command line (fs/main.c): seen by main's option hook, also passed on
     * to libfuse */
    int foreground;              /* -f or -d */
    int debug;                   /* -d */
    int core_dumps;              /* -o core_dumps: stay dumpable (the
                                    secrets are still MADV_DONTDUMP) */
    int show_help;               /* -h, --help */
    int show_version;            /* -V, --version */
    char *mountpoint;            /* the last non-option argument */
    char *source;                /* mount(8)'s SOURCE before it, or NULL */
    /* retries (fs/main.c): test aids, 0 = the AWS defaults */
    int retry_base_ms;           /* backoff unit in ms */
    int max_attempts;            /* HTTP attempts per request */
    /* resume (doc/design/resume.md): days a copy that failed from the
     * network (or a killed daemon's) keeps its upload for `cp` again;
     * 0 = never keep (abort at once, as before); unset: 6 */
    double resume_days;
    int resume_days_set;
    /* mount-time checks and logging (fs/main.c, core/preflight.h) */
    int lazy_checks;             /* skip the network checks at mount */
    char *log_file;              /* -o log=FILE, or NULL */
};

struct open_file;
struct journal; /* core/journal.h */
struct janitor; /* core/janitor.h */

#define AMIFS_MAX_FOLDERS 12

struct amifs {
    struct amifs_opts opts;
    struct aws_client *client;   /* thread-safe */
    /* The upload pool every upload of the mount shares (memory budget
     * max_memory, upload_concurrency workers): created in init before the
     * modules, freed in destroy after them. Pass it as mpu_options.shared. */
    struct mpu_shared *uploads;
    /* The upload journal as core/upload.h reaches it (fs/fs.c wires it to
     * `journal` and `janitor`); one for buckets/ and imports/ alike. */
    struct uw_journal_ops jops;
    struct aws_logger logger;    /* stderr with -f, syslog when daemonized,
                                    or the file of -o log=FILE */
    FILE *log;                   /* -o log=FILE, opened before the mount */
    struct errlog *errors;       /* refusals, MOUNT/.amifs/errors */
    char account[16];            /* from the mount-time check, or "" */
    uid_t uid;                   /* owner shown on every node */
    gid_t gid;
    mode_t umask;
    time_t mount_time;
    /* The upload journal and the janitor (core/journal.h, core/janitor.h),
     * shared by buckets/ and imports/: created in init before the folder
     * modules, stopped in destroy after them. journal NULL: no usable
     * journal directory (logged); janitor NULL: no thread. */
    struct journal *journal;
    struct janitor *janitor;
    /* Module state; each module owns its slot (created in its init hook). */
    void *buckets;
    void *imports;
    void *regions;
    /* fs/fs.c: for each top-level folder that is a folder kind (view.h),
     * its view of the mounted region, by folder index. */
    void *views[AMIFS_MAX_FOLDERS];
    /* fs/fs.c: bit i set when folder i's init failed (its folder then
     * answers EIO). */
    unsigned modules_failed;
    /* fs/fs.c: files still open (released by destroy when the kernel
     * unmounts before delivering every RELEASE). */
    pthread_mutex_t open_lock;
    struct open_file *open_files;
    /* fs/fs.c: set once the daemon is told to stop (destroy: SIGTERM,
     * unmount). From then on, releases abort uploads still open instead
     * of completing them (doc/design/upload.md). */
    atomic_bool stopping;
};

/* The mount's state inside a FUSE handler. */
struct amifs *amifs_get(void);

/* The process (thread group id) that made the current FUSE request, or 0
 * when unknown. FUSE reports the calling *thread*; uploads compare
 * processes (a GIO worker thread may open and another close), so the
 * thread is mapped to its process through /proc. Only for handlers. */
long amifs_caller_process(void);
/* The signal that is killing the calling thread (the writer of a flush
 * that comes from do_exit()), read from /proc/<tid>/stat: >0 the signal,
 * 0 alive or a plain exit(), unknown, or not in a handler. */
int amifs_caller_exit_signal(void);
/* The process whose close() this handler is completing was killed while it
 * waited (its FLUSH was interrupted and SIGKILL is pending for it): 1, so
 * the upload must be aborted, not completed (fs/caller.c). 0 otherwise,
 * also outside a handler. ctx unused (the uw_config.may_complete shape). */
int amifs_caller_gone(void *ctx);
/* Whether the calling process still holds an fd open on the mount's file
 * `path` ("buckets/B/k"): a flush then closes a dup, not the last fd. */
bool amifs_caller_holds(struct amifs *fs, const char *path);

/* True once the kernel connection is gone (unmounted or aborted). libfuse
 * joins every worker thread before it calls destroy, so a handler that
 * waits for something slow (tasks/X/wait) must check this and give up, or
 * the daemon outlives its mount. Only for handlers. */
bool amifs_unmounting(void);

/* Log through the mount's logger (printf-style). */
void amifs_log(struct amifs *fs, enum aws_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Record a refusal where the user can read it (MOUNT/.amifs/errors and
 * the log, core/errlog.h) and return -err: `folder` and `rel` name the
 * path ("imports", "disk.qcow2"), `op` the operation ("create"), then the
 * sentence a person acts on. */
int amifs_refuse(struct amifs *fs, const char *folder, const char *rel,
                 const char *op, int err, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Fill a stat for a directory / regular file / symlink owned by the mount
 * user, with the mount's umask applied. */
void amifs_stat_dir(const struct amifs *fs, struct stat *st, time_t mtime);
void amifs_stat_file(const struct amifs *fs, struct stat *st, uint64_t size,
                     time_t mtime, bool writable);
void amifs_stat_link(const struct amifs *fs, struct stat *st, size_t target_len);

/* An open directory of a folder with readdir_at: fs/fs.c makes it at
 * opendir and frees it (and its listing) at releasedir. libfuse hands the
 * READDIR calls of one open directory over one at a time. */
struct listing;
struct amifs_dir {
    struct listing *listing; /* core/listing.h; NULL until offset 0 */
};

/* A top-level folder module. Any handler may be NULL: the dispatcher then
 * answers ENOENT for lookups below the folder, EROFS/EPERM for changes, and
 * success for chmod/chown/utimens on existing nodes. */
struct folder_ops {
    const char *name; /* "buckets" */
    int (*init)(struct amifs *fs);     /* create state; 0 or -errno */
    void (*destroy)(struct amifs *fs); /* wait for/abort work, free state */

    int (*getattr)(struct amifs *fs, const char *rel, struct stat *st,
                   struct fuse_file_info *fi);
    int (*readdir)(struct amifs *fs, const char *rel, void *buf,
                   fuse_fill_dir_t filler);
    /* readdir by offset, for a folder whose listings are large (buckets/):
     * `dir` is the open directory (struct amifs_dir); at off 0 the folder
     * takes a listing into dir->listing, and every call hands over the
     * entries from `off` on, with their attributes when known (READDIRPLUS
     * when `flags` asks for it), until `filler` says the reply is full.
     * When set it is used instead of readdir. */
    int (*readdir_at)(struct amifs *fs, const char *rel, struct amifs_dir *dir,
                      void *buf, fuse_fill_dir_t filler, off_t off,
                      enum fuse_readdir_flags flags);
    int (*readlink)(struct amifs *fs, const char *rel, char *out, size_t n);
    /* symlink(target, rel): target as the caller wrote it (imports/) */
    int (*symlink)(struct amifs *fs, const char *target, const char *rel);
    int (*open)(struct amifs *fs, const char *rel, struct fuse_file_info *fi);
    int (*create)(struct amifs *fs, const char *rel, mode_t mode,
                  struct fuse_file_info *fi);
    int (*read)(struct amifs *fs, const char *rel, char *buf, size_t n,
                off_t off, struct fuse_file_info *fi);
    int (*write)(struct amifs *fs, const char *rel, const char *buf, size_t n,
                 off_t off, struct fuse_file_info *fi);
    int (*flush)(struct amifs *fs, const char *rel, struct fuse_file_info *fi);
    int (*fsync)(struct amifs *fs, const char *rel, int datasync,
                 struct fuse_file_info *fi);
    int (*release)(struct amifs *fs, const char *rel,
                   struct fuse_file_info *fi);
    int (*truncate)(struct amifs *fs, const char *rel, off_t size,
                    struct fuse_file_info *fi);
    int (*unlink)(struct amifs *fs, const char *rel);
    int (*mkdir)(struct amifs *fs, const char *rel, mode_t mode);
    int (*rmdir)(struct amifs *fs, const char *rel);
    int (*rename)(struct amifs *fs, const char *from, const char *to,
                  unsigned int flags);
    int (*chmod)(struct amifs *fs, const char *rel, mode_t mode,
                 struct fuse_file_info *fi);
    int (*utimens)(struct amifs *fs, const char *rel,
                   const struct timespec tv[2], struct fuse_file_info *fi);
    int (*setxattr)(struct amifs *fs, const char *rel, const char *name,
                    const char *value, size_t n, int flags);
    int (*getxattr)(struct amifs *fs, const char *rel, const char *name,
                    char *value, size_t n);
    int (*listxattr)(struct amifs *fs, const char *rel, char *list, size_t n);
    int (*removexattr)(struct amifs *fs, const char *rel, const char *name);

    /* Mount options this module understands: a FUSE_OPT_END-terminated
     * fuse_opt table whose offsets are offsetof(struct amifs_opts, field), or
     * NULL. Entries must store into the struct (template with a format or a
     * value); FUSE_OPT_KEY entries are not seen by the modules. main() merges
     * the modules' tables and its own (the first entry for a given template
     * wins, modules first) and parses -o once. `opts_help` is the module's part of
     * `amifs --help` ("    -o name=VALUE   what it does\n" lines) or NULL. */
    const struct fuse_opt *opts;
    const char *opts_help;
};

/* The modules (each defined in its own file). */
extern const struct folder_ops buckets_folder; /* fs/buckets.c */
extern const struct folder_ops imports_folder; /* fs/imports.c */
extern const struct folder_ops tasks_folder;   /* fs/tasks.c (options) */
extern const struct folder_ops regions_folder; /* fs/regions.c (optional) */
extern const struct folder_ops readme_folder;  /* fs/root.c: the README */
extern const struct folder_ops dotamifs_folder; /* fs/dotamifs.c: .amifs/ */

/* Whether an upload handle may bypass the page cache (direct_io): a
 * write-only descriptor can be neither read nor mapped shared, and what
 * was written is read back from S3 after close either way, so nothing a
 * user could see changes, and the kernel's copy of each write into page
 * cache pages (cp's CPU) and the daemon's second copy out of them are
 * saved (doc/design/perf.md). Read-write handles keep the page cache. */
static inline bool fs_write_only(const struct fuse_file_info *fi)
{
    return (fi->flags & O_ACCMODE) == O_WRONLY;
}

#endif
