/*
 * fs.c — the FUSE operations table and the dispatcher to folder modules.
 *
 * Every handler resolves the first path component to a folder (README,
 * buckets, imports, tasks, amis, regions) and calls that module with the rest
 * of the path. The dispatcher itself never does network I/O and holds no
 * lock, so it cannot stall the tree; modules follow the same rule.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core/upload.h"

#include "fs/fs.h"
#include <fuse_lowlevel.h> /* after fs.h: it sets FUSE_USE_VERSION */
#include "fs/fsops.h"
#include "core/janitor.h"
#include "core/journal.h"
#include "fs/amis.h"
#include "fs/instances.h"
#include "fs/snapshots.h"
#include "fs/tasks.h"
#include "fs/exports.h"
#include "core/listing.h"

/* A top-level folder: a module (folder_ops: its mount-wide life and
 * options, and its handlers) and/or a folder kind (view.h), whose view of
 * the mounted region fs->views[i] then answers for the folder. */
struct folder {
    const char *name;
    const struct folder_ops *ops; /* NULL: no module (or a kind alone) */
    const struct view_ops *kind;  /* NULL: the module's handlers answer */
    bool optional;                /* hidden when not built in */
};

/* Order matters for `ls /` and for init/destroy order: a kind's view is
 * made after the folders before it started (tasks/ borrows imports/'
 * registry) and freed before they stop. */
static const struct folder folders[] = {
    {"README", &readme_folder, NULL, false},
    {"buckets", &buckets_folder, NULL, false},
    {"imports", &imports_folder, NULL, false},
    {"tasks", &tasks_folder, &tasks_view_ops, false},
    {"amis", NULL, &amis_view_ops, false},
    {"instances", NULL, &instances_view_ops, false},
    {"snapshots", NULL, &snapshots_view_ops, false},
    {"exports", NULL, &exports_view_ops, false},
    {"regions", &regions_folder, NULL, true},
    {".amifs", &dotamifs_folder, NULL, false},
};
#define NFOLDERS (sizeof(folders) / sizeof(folders[0]))
_Static_assert(NFOLDERS <= AMIFS_MAX_FOLDERS, "fs->views is too small");

static bool built_in(const struct folder *f)
{
    return f->ops || f->kind;
}

struct amifs *amifs_get(void)
{
    return fuse_get_context()->private_data;
}

long amifs_caller_process(void)
{
    pid_t tid = fuse_get_context()->pid;
    char path[64], line[128];
    long tgid = 0;

    if (tid <= 0)
        return 0;
    snprintf(path, sizeof(path), "/proc/%ld/status", (long)tid);
    FILE *f = fopen(path, "re");
    if (!f)
        return (long)tid; /* no /proc: the thread is the best we know */
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "Tgid:", 5) == 0) {
            tgid = strtol(line + 5, NULL, 10);
            break;
        }
    fclose(f);
    return tgid > 0 ? tgid : (long)tid;
}

int amifs_caller_exit_signal(void)
{
    pid_t tid = fuse_get_context()->pid;
    char path[64], text[2048];

    if (tid <= 0)
        return 0;
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)tid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    int sig = uw_stat_exit_signal(text);
    return sig > 0 ? sig : 0;
}

/* Does the link /proc/PID/fd/NAME end in "/" + path? */
static bool fd_is(const char *dir, const char *name, const char *path)
{
    char link[4200], target[4200];
    size_t plen = strlen(path);

    if (snprintf(link, sizeof(link), "%s/%s", dir, name) >= (int)sizeof(link))
        return false;
    ssize_t n = readlink(link, target, sizeof(target) - 1);
    if (n <= (ssize_t)plen)
        return false;
    target[n] = '\0';
    return target[n - (ssize_t)plen - 1] == '/' &&
           strcmp(target + n - (ssize_t)plen, path) == 0;
}

bool amifs_caller_holds(struct amifs *fs, const char *path)
{
    char dir[64];
    long pid = amifs_caller_process();
    bool found = false;
    struct dirent *e;

    (void)fs;
    if (pid <= 0)
        return false;
    snprintf(dir, sizeof(dir), "/proc/%ld/fd", pid);
    DIR *d = opendir(dir);
    if (!d)
        return false;
    while (!found && (e = readdir(d)) != NULL)
        found = e->d_name[0] != '.' && fd_is(dir, e->d_name, path);
    closedir(d);
    return found;
}

bool amifs_unmounting(void)
{
    struct fuse *f = fuse_get_context()->fuse;
    return f && fuse_session_exited(fuse_get_session(f));
}

void amifs_log(struct amifs *fs, enum aws_log_level lvl, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;

    if (!fs || !fs->logger.fn || lvl > fs->logger.level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fs->logger.fn(fs->logger.ctx, lvl, msg);
}

int amifs_refuse(struct amifs *fs, const char *folder, const char *rel,
                 const char *op, int err, const char *fmt, ...)
{
    char why[1024], path[1100];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    snprintf(path, sizeof(path), "%s%s%s", folder ? folder : "",
             folder && rel && rel[0] ? "/" : "", rel ? rel : "");
    return errlog_refuse(fs ? fs->errors : NULL, path, op, err, "%s", why);
}

static void stat_common(const struct amifs *fs, struct stat *st, time_t mtime)
{
    memset(st, 0, sizeof(*st));
    st->st_uid = fs->uid;
    st->st_gid = fs->gid;
    if (mtime == 0)
        mtime = fs->mount_time;
    st->st_mtime = mtime;
    st->st_ctime = mtime;
    st->st_atime = mtime;
}

void amifs_stat_dir(const struct amifs *fs, struct stat *st, time_t mtime)
{
    stat_common(fs, st, mtime);
    st->st_mode = S_IFDIR | (0777 & ~fs->umask);
    st->st_nlink = 2;
    st->st_size = 4096;
}

/* The largest FUSE write (op_init) and the st_blksize of files: cp, dd
 * and most tools size their buffers by st_blksize, and the kernel passes
 * each write() on as one request, so 1 MiB here is what makes 1 MiB
 * writes reach the daemon (doc/design/perf.md). */
#define AMIFS_MAX_WRITE (1u << 20)

void amifs_stat_file(const struct amifs *fs, struct stat *st, uint64_t size,
                     time_t mtime, bool writable)
{
    stat_common(fs, st, mtime);
    st->st_mode = S_IFREG | ((writable ? 0666 : 0444) & ~fs->umask);
    st->st_nlink = 1;
    st->st_size = (off_t)size;
    /* Report the blocks the data would take: a smaller st_blocks makes cp
     * believe the file is sparse. */
    st->st_blocks = (blkcnt_t)((size + 511) / 512);
    st->st_blksize = AMIFS_MAX_WRITE;
}

void amifs_stat_link(const struct amifs *fs, struct stat *st, size_t target_len)
{
    stat_common(fs, st, 0);
    st->st_mode = S_IFLNK | 0777;
    st->st_nlink = 1;
    st->st_size = (off_t)target_len;
}

/* ---- routing ------------------------------------------------------------ */

struct route {
    int idx;                      /* folder index, -1 for the root */
    const struct folder_ops *ops; /* NULL: folder without a module */
    const struct view_ops *kind;  /* the folder's kind, or NULL */
    void *self;                   /* its view of the mounted region */
    const char *rel;              /* never NULL */
};

/* Does r's folder have handler `op` (from its kind, else its module)? */
#define HAS(r, op) ((r).kind ? (r).kind->op != NULL : (r).ops && (r).ops->op)
/* Call it; a kind's handler gets the folder's view first. */
#define CALL(r, op, ...)                                                       \
    ((r).kind ? (r).kind->op((r).self, fs, __VA_ARGS__)                        \
              : (r).ops->op(fs, __VA_ARGS__))

static void route_to(const struct amifs *fs, size_t i, struct route *r)
{
    r->idx = (int)i;
    r->ops = folders[i].ops;
    r->kind = folders[i].kind;
    r->self = fs->views[i];
}

/* 0 with r filled, or -ENOENT / -EIO (module failed to start). */
static int route(const struct amifs *fs, const char *path, struct route *r)
{
    const char *p = path[0] == '/' ? path + 1 : path;
    const char *slash = strchr(p, '/');
    size_t len = slash ? (size_t)(slash - p) : strlen(p);

    r->idx = -1;
    r->ops = NULL;
    r->kind = NULL;
    r->self = NULL;
    r->rel = "";
    if (len == 0)
        return 0;
    for (size_t i = 0; i < NFOLDERS; i++) {
        if (strlen(folders[i].name) != len ||
            memcmp(folders[i].name, p, len) != 0)
            continue;
        if (folders[i].optional && !built_in(&folders[i]))
            return -ENOENT;
        if (fs->modules_failed & (1u << i))
            return -EIO;
        route_to(fs, i, r);
        r->rel = slash ? slash + 1 : "";
        return 0;
    }
    return -ENOENT;
}

/* route() for a name about to be created: a new name at the top level
 * (`touch MOUNT/x`, `mkdir MOUNT/x`) is refused with EACCES — "No such
 * file or directory" would send the user looking for a missing parent. */
static int route_new(struct amifs *fs, const char *path, struct route *r)
{
    int rc = route(fs, path, r);
    const char *p = path[0] == '/' ? path + 1 : path;

    if (rc == -ENOENT && *p && !strchr(p, '/'))
        return amifs_refuse(fs, NULL, p, "create", EACCES,
                            "the top of the mount holds only amifs's own "
                            "folders; copy files into buckets/BUCKET/ or "
                            "imports/");
    return rc;
}

static bool is_root(const struct route *r)
{
    return r->idx < 0;
}

/* A folder whose module is missing: the folder itself, empty. */
static bool is_bare_folder(const struct route *r)
{
    return r->idx >= 0 && r->rel[0] == '\0' &&
           strcmp(folders[r->idx].name, "README") != 0;
}

/* An open file: which folder opened it and the module's own fi->fh. With
 * hard_remove, libfuse passes a NULL path for a file whose name was removed
 * while open, so calls on open files are routed by this, not by the path. */
struct open_file {
    int idx;
    uint64_t fh;
    char *rel;                     /* path below the folder, for destroy */
    struct open_file *prev, *next; /* fs->open_files, under open_lock */
};

static void open_file_link(struct amifs *fs, struct open_file *of)
{
    pthread_mutex_lock(&fs->open_lock);
    of->prev = NULL;
    of->next = fs->open_files;
    if (of->next)
        of->next->prev = of;
    fs->open_files = of;
    pthread_mutex_unlock(&fs->open_lock);
}

static void open_file_unlink(struct amifs *fs, struct open_file *of)
{
    pthread_mutex_lock(&fs->open_lock);
    if (of->prev)
        of->prev->next = of->next;
    else
        fs->open_files = of->next;
    if (of->next)
        of->next->prev = of->prev;
    pthread_mutex_unlock(&fs->open_lock);
    free(of->rel);
    free(of);
}

static struct open_file *open_file_of(const struct fuse_file_info *fi)
{
    return fi ? (struct open_file *)(uintptr_t)fi->fh : NULL;
}

/* Route a call that may come with an open file. `mfi` gets the module's
 * view of fi (its own fh) or NULL when there is no open file. */
static int route_fi(const struct amifs *fs, const char *path,
                    struct fuse_file_info *fi, struct route *r,
                    struct fuse_file_info *mfi, struct fuse_file_info **out)
{
    struct open_file *of = open_file_of(fi);
    int rc = 0;

    *out = NULL;
    if (path)
        rc = route(fs, path, r);
    else
        r->rel = "";
    if (!of)
        return path ? rc : -EBADF;
    route_to(fs, (size_t)of->idx, r);
    if (rc < 0 || r->rel == NULL)
        r->rel = "";
    *mfi = *fi;
    mfi->fh = of->fh;
    *out = mfi;
    return 0;
}

#define ROUTE_FI(path, fi, r)                                                  \
    struct amifs *fs = amifs_get();                                            \
    struct route r;                                                            \
    struct fuse_file_info mfi_, *mfi;                                          \
    int rcf_ = route_fi(fs, (path), (fi), &r, &mfi_, &mfi);                    \
    if (rcf_ < 0)                                                              \
        return rcf_;

#define ROUTE(path, r)                                                         \
    struct amifs *fs = amifs_get();                                            \
    struct route r;                                                            \
    int rc_ = route(fs, (path), &r);                                           \
    if (rc_ < 0)                                                               \
        return rc_;

/* ---- namespace ---------------------------------------------------------- */

static int op_getattr(const char *path, struct stat *st,
                      struct fuse_file_info *fi)
{
    ROUTE_FI(path, fi, r);
    if (is_root(&r)) {
        amifs_stat_dir(fs, st, fs->mount_time);
        return 0;
    }
    if (HAS(r, getattr))
        return CALL(r, getattr, r.rel, st, mfi);
    if (is_bare_folder(&r)) {
        amifs_stat_dir(fs, st, fs->mount_time);
        return 0;
    }
    return -ENOENT;
}

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t filler,
                      off_t off, struct fuse_file_info *fi,
                      enum fuse_readdir_flags flags)
{
    ROUTE(path, r);
    if (!r.kind && r.ops && r.ops->readdir_at && fi && fi->fh)
        return r.ops->readdir_at(fs, r.rel,
                                 (struct amifs_dir *)(uintptr_t)fi->fh, buf,
                                 filler, off, flags);
    if (is_root(&r)) {
        filler(buf, ".", NULL, 0, 0);
        filler(buf, "..", NULL, 0, 0);
        for (size_t i = 0; i < NFOLDERS; i++)
            if (built_in(&folders[i]) || !folders[i].optional)
                filler(buf, folders[i].name, NULL, 0, 0);
        return 0;
    }
    if (HAS(r, readdir))
        return CALL(r, readdir, r.rel, buf, filler);
    if (is_bare_folder(&r)) {
        filler(buf, ".", NULL, 0, 0);
        filler(buf, "..", NULL, 0, 0);
        return 0;
    }
    return -ENOTDIR;
}

/* A folder that lists by offset (readdir_at) gets an open directory to
 * keep its listing in; the others none (fh 0). */
static int op_opendir(const char *path, struct fuse_file_info *fi)
{
    struct amifs *fs = amifs_get();
    struct route r;
    struct amifs_dir *d;

    fi->fh = 0;
    if (route(fs, path, &r) < 0 || r.kind || !r.ops || !r.ops->readdir_at)
        return 0; /* readdir says what is wrong */
    d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    fi->fh = (uintptr_t)d;
    return 0;
}

static int op_releasedir(const char *path, struct fuse_file_info *fi)
{
    struct amifs_dir *d = (struct amifs_dir *)(uintptr_t)fi->fh;

    if (d) {
        listing_free(d->listing);
        free(d);
    }
    return 0;
}

static int op_readlink(const char *path, char *out, size_t n)
{
    ROUTE(path, r);
    if (HAS(r, readlink))
        return CALL(r, readlink, r.rel, out, n);
    return -EINVAL;
}

/* Changes to the root or to a folder without the handler. */
static int refuse(const struct route *r)
{
    if (is_root(r) || r->rel[0] == '\0')
        return -EPERM;
    return r->ops || r->kind ? -EPERM : -ENOENT;
}

static int op_mkdir(const char *path, mode_t mode)
{
    struct amifs *fs = amifs_get();
    struct route r;
    int rc_ = route_new(fs, path, &r);
    if (rc_ < 0)
        return rc_;
    if (is_root(&r) || r.rel[0] == '\0')
        return -EEXIST;
    if (HAS(r, mkdir))
        return CALL(r, mkdir, r.rel, mode);
    return refuse(&r);
}

static int op_unlink(const char *path)
{
    ROUTE(path, r);
    if (HAS(r, unlink) && r.rel[0] != '\0')
        return CALL(r, unlink, r.rel);
    return refuse(&r);
}

static int op_rmdir(const char *path)
{
    ROUTE(path, r);
    if (HAS(r, rmdir) && r.rel[0] != '\0')
        return CALL(r, rmdir, r.rel);
    return refuse(&r);
}

static int op_rename(const char *from, const char *to, unsigned int flags)
{
    struct amifs *fs = amifs_get();
    struct route a, b;
    int rc = route(fs, from, &a);

    if (rc < 0)
        return rc;
    rc = route(fs, to, &b);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    if (rc < 0 || a.idx != b.idx)
        return -EXDEV;
    if (a.rel[0] == '\0' || b.rel[0] == '\0')
        return -EPERM;
    if (HAS(a, rename))
        return CALL(a, rename, a.rel, b.rel, flags);
    return refuse(&a);
}

static int op_symlink(const char *target, const char *path)
{
    struct amifs *fs = amifs_get();
    struct route r;
    int rc_ = route_new(fs, path, &r);
    if (rc_ < 0)
        return rc_;
    if (!r.kind && r.ops && r.ops->symlink && r.rel[0] != '\0')
        return r.ops->symlink(fs, target, r.rel);
    return -EPERM;
}

static int op_link(const char *from, const char *to)
{
    return -EPERM; /* S3 has no hard links */
}

/* ---- metadata ----------------------------------------------------------- */

/* The node exists (chmod/chown/utimens then succeed as no-ops). */
static int exists(const char *path, struct fuse_file_info *fi)
{
    struct stat st;
    return op_getattr(path, &st, fi);
}

static int op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    ROUTE_FI(path, fi, r);
    if (r.ops && r.ops->chmod && (r.rel[0] != '\0' || mfi))
        return r.ops->chmod(fs, r.rel, mode, mfi);
    return exists(path, fi);
}

static int op_chown(const char *path, uid_t uid, gid_t gid,
                    struct fuse_file_info *fi)
{
    return exists(path, fi);
}

static int op_utimens(const char *path, const struct timespec tv[2],
                      struct fuse_file_info *fi)
{
    ROUTE_FI(path, fi, r);
    if (r.ops && r.ops->utimens && (r.rel[0] != '\0' || mfi))
        return r.ops->utimens(fs, r.rel, tv, mfi);
    return exists(path, fi);
}

static int op_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
    ROUTE_FI(path, fi, r);
    if (size < 0)
        return -EINVAL;
    if (HAS(r, truncate))
        return CALL(r, truncate, r.rel, size, mfi);
    return is_root(&r) || is_bare_folder(&r) ? -EISDIR : -EPERM;
}

static bool is_acl_name(const char *name)
{
    return strncmp(name, "system.posix_acl_", 17) == 0;
}

/* Namespaces amifs has nothing in (SELinux labels, ACLs): "not supported"
 * rather than "no such attribute", because `ls -l` then asks once per
 * mount instead of twice per file (coreutils remembers ENOTSUP per
 * device), which is two FUSE requests per name (doc/design/perf.md). */
static bool unsupported_xattr(const char *name)
{
    return strncmp(name, "security.", 9) == 0 ||
           strncmp(name, "system.", 7) == 0;
}

static int op_setxattr(const char *path, const char *name, const char *value,
                       size_t n, int flags)
{
    ROUTE(path, r);
    if (is_acl_name(name))
        return -ENOTSUP; /* cp -p and mv then fall back to chmod */
    if (r.ops && r.ops->setxattr && r.rel[0] != '\0')
        return r.ops->setxattr(fs, r.rel, name, value, n, flags);
    return -ENOTSUP;
}

static int op_getxattr(const char *path, const char *name, char *value,
                       size_t n)
{
    if (unsupported_xattr(name))
        return -ENOTSUP;
    ROUTE(path, r);
    if (r.ops && r.ops->getxattr && !is_acl_name(name))
        return r.ops->getxattr(fs, r.rel, name, value, n);
    return -ENODATA;
}

static int op_listxattr(const char *path, char *list, size_t n)
{
    ROUTE(path, r);
    if (r.ops && r.ops->listxattr)
        return r.ops->listxattr(fs, r.rel, list, n);
    return 0;
}

static int op_removexattr(const char *path, const char *name)
{
    ROUTE(path, r);
    if (r.ops && r.ops->removexattr && !is_acl_name(name))
        return r.ops->removexattr(fs, r.rel, name);
    return -ENODATA;
}

static int op_statfs(const char *path, struct statvfs *sv)
{
    /* Plenty of room: file managers refuse to copy when free space looks
     * smaller than the file. S3 has no practical limit. */
    memset(sv, 0, sizeof(*sv));
    sv->f_bsize = 4096;
    sv->f_frsize = 4096;
    sv->f_blocks = (fsblkcnt_t)1 << 40;
    sv->f_bfree = sv->f_blocks;
    sv->f_bavail = sv->f_blocks;
    sv->f_files = (fsfilcnt_t)1 << 32;
    sv->f_ffree = sv->f_files;
    sv->f_favail = sv->f_files;
    sv->f_namemax = 1024; /* S3 keys: up to 1024 bytes */
    return 0;
}

/* ---- open files --------------------------------------------------------- */

/* After a module's open/create succeeded: remember which module owns the
 * file; the module's fh moves into the wrapper. */
static int wrap_open(const struct route *r, struct fuse_file_info *fi,
                     const char *rel)
{
    struct open_file *of = malloc(sizeof(*of));
    struct amifs *fs = amifs_get();

    if (!of) {
        if (HAS(*r, release))
            CALL(*r, release, rel, fi);
        return -ENOMEM;
    }
    of->idx = r->idx;
    of->fh = fi->fh;
    of->rel = strdup(rel);
    open_file_link(amifs_get(), of);
    fi->fh = (uint64_t)(uintptr_t)of;
    return 0;
}

static int op_open(const char *path, struct fuse_file_info *fi)
{
    ROUTE(path, r);
    int rc;

    if (!HAS(r, open))
        return is_root(&r) || is_bare_folder(&r) ? -EISDIR : -ENOENT;
    fi->fh = 0;
    rc = CALL(r, open, r.rel, fi);
    return rc < 0 ? rc : wrap_open(&r, fi, r.rel);
}

static int op_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    struct amifs *fs = amifs_get();
    struct route r;
    int rc = route_new(fs, path, &r);

    if (rc < 0)
        return rc;
    if (!HAS(r, create) || r.rel[0] == '\0')
        return refuse(&r);
    fi->fh = 0;
    rc = CALL(r, create, r.rel, mode, fi);
    return rc < 0 ? rc : wrap_open(&r, fi, r.rel);
}

static int op_read(const char *path, char *buf, size_t n, off_t off,
                   struct fuse_file_info *fi)
{
    ROUTE_FI(path, fi, r);
    if (HAS(r, read) && mfi)
        return CALL(r, read, r.rel, buf, n, off, mfi);
    return -EBADF;
}

static int op_write(const char *path, const char *buf, size_t n, off_t off,
                    struct fuse_file_info *fi)
{
    ROUTE_FI(path, fi, r);
    if (HAS(r, write) && mfi)
        return CALL(r, write, r.rel, buf, n, off, mfi);
    return -EBADF;
}

static int op_flush(const char *path, struct fuse_file_info *fi)
{
    ROUTE_FI(path, fi, r);
    if (HAS(r, flush) && mfi)
        return CALL(r, flush, r.rel, mfi);
    return 0;
}

static int op_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
    ROUTE_FI(path, fi, r);
    if (r.ops && r.ops->fsync && mfi)
        return r.ops->fsync(fs, r.rel, datasync, mfi);
    return 0;
}

static int op_release(const char *path, struct fuse_file_info *fi)
{
    struct open_file *of = open_file_of(fi);
    ROUTE_FI(path, fi, r);
    if (HAS(r, release) && mfi)
        CALL(r, release, r.rel, mfi);
    if (of)
        open_file_unlink(fs, of);
    return 0;
}

static int op_fallocate(const char *path, int mode, off_t off, off_t len,
                        struct fuse_file_info *fi)
{
    return -EOPNOTSUPP; /* cp --sparse and friends fall back */
}

/* ---- lifetime ----------------------------------------------------------- */

/* The journal and the janitor every folder's uploads use. The origin's
 * account is learnt by the janitor thread (STS), not here: a slow STS must
 * not delay the mount. */
/* core/upload.h's journal ops: add → journal_add; done → journal_done;
 * a failed abort → the janitor, which keeps the entry until S3 confirms. */
static void *jops_add(void *ctx, const char *bucket, const char *key,
                      const char *upload_id, size_t part_size,
                      const char *label)
{
    struct journal_resume rs = {part_size, label};
    return journal_add_resumable(((struct amifs *)ctx)->journal, bucket, key,
                                 upload_id, &rs);
}

/* Resume (doc/design/resume.md): a kept upload's entry stays, marked. */
static void jops_keep(void *ctx, void *entry, uint64_t stored, uint64_t size)
{
    journal_mark_kept(((struct amifs *)ctx)->journal, entry, stored, size);
}

static int jops_find_label(void *ctx, const char *bucket, const char *label,
                           char *key, size_t n)
{
    return journal_find_label(((struct amifs *)ctx)->journal, bucket, label,
                              key, n);
}

static void *jops_claim(void *ctx, const char *bucket, const char *key,
                        size_t part_size, char *upload_id, size_t n)
{
    return journal_claim(((struct amifs *)ctx)->journal, bucket, key,
                         part_size, upload_id, n);
}

static void jops_done(void *ctx, void *entry)
{
    journal_done(((struct amifs *)ctx)->journal, entry);
}

static void jops_abort_failed(void *ctx, const char *bucket, const char *key,
                              const char *upload_id, void *entry)
{
    janitor_add(((struct amifs *)ctx)->janitor, bucket, key, upload_id,
                entry);
}

static void uploads_start(struct amifs *fs)
{
    const struct aws_config *cfg = aws_client_config(fs->client);
    const char *region = aws_client_region(fs->client);
    const char *ep = cfg ? cfg->endpoint[AWS_SVC_S3] : NULL;
    char dflt[256];
    struct journal_origin o;

    snprintf(dflt, sizeof(dflt), "https://s3.%s.amazonaws.com", region);
    o = (struct journal_origin){ep ? ep : dflt, region, NULL};
    fs->journal = journal_open(NULL, &o, &fs->logger);
    if (fs->journal && fs->account[0]) /* known from the mount-time check */
        journal_set_account(fs->journal, fs->account);
    if (fs->opts.resume_days_set) /* doc/design/resume.md */
        journal_set_resume_ttl(fs->journal,
                               (long)(fs->opts.resume_days * 86400.0));
    fs->janitor = janitor_start(fs->client, fs->journal, &fs->logger);
    fs->jops = (struct uw_journal_ops){.ctx = fs, .add = jops_add,
                                       .done = jops_done,
                                       .abort_failed = jops_abort_failed,
                                       .keep = jops_keep,
                                       .claim = jops_claim,
                                       .find_label = jops_find_label};
    if (journal_resume_ttl(fs->journal) <= 0) { /* resume_days=0, none */
        fs->jops.keep = NULL;
        fs->jops.claim = NULL;
        fs->jops.find_label = NULL;
    }
}

/* fs->client from the options and the environment (fsops.h). */
static void client_options(const struct amifs *fs,
                           struct aws_client_options *co)
{
    memset(co, 0, sizeof(*co));
    co->config.profile = fs->opts.profile;
    co->config.region = fs->opts.region;
    co->config.endpoint = fs->opts.endpoint;
    co->config.ca_bundle = fs->opts.ca_bundle;
    co->config.max_attempts = fs->opts.max_attempts;
    co->logger = fs->logger;
    co->retry_base_ms = fs->opts.retry_base_ms;
    co->max_attempts = fs->opts.max_attempts;
}

int amifs_client_open(struct amifs *fs, struct aws_error *err)
{
    struct aws_client_options co;

    client_options(fs, &co);
    fs->client = aws_client_new(&co, err);
    return fs->client ? 0 : -1;
}

/* After the folders: their last aborts may still hand uploads over. */
static void uploads_stop(struct amifs *fs)
{
    janitor_stop(fs->janitor);
    fs->janitor = NULL;
    journal_close(fs->journal);
    fs->journal = NULL;
}

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
    struct amifs *fs = fuse_get_context()->private_data;
    struct aws_error err;

    aws_error_clear(&err);
    cfg->use_ino = 0;
    cfg->hard_remove = 1;   /* no .fuse_hidden renames: S3 cannot do them */
    cfg->entry_timeout = 1; /* short: other writers change the bucket */
    cfg->attr_timeout = 1;
    cfg->negative_timeout = 0;
    if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
        conn->want |= FUSE_CAP_ATOMIC_O_TRUNC; /* O_TRUNC reaches open() */
    conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
    /* 1 MiB writes (libfuse asks the kernel for max_pages to match; the
     * kernel's limit is fs.fuse.max_pages_limit, 256 pages by default):
     * an eighth of the requests and context switches of 128 KiB ones
     * (doc/design/perf.md). */
    conn->max_write = AMIFS_MAX_WRITE;
    if (!fs->client && amifs_client_open(fs, &err) < 0) {
        char msg[768];
        aws_error_format(&err, msg, sizeof(msg));
        amifs_log(fs, AWS_LOG_ERROR, "cannot set up the AWS client: %s", msg);
        fs->modules_failed = ~0u;
        fuse_exit(fuse_get_context()->fuse);
        return fs;
    }
    if (!fs->uploads)
        fs->uploads = mpu_shared_new(fs->opts.max_memory,
                                     fs->opts.upload_concurrency, NULL);
    if (!fs->uploads) {
        amifs_log(fs, AWS_LOG_ERROR, "cannot set up the upload pool");
        fs->modules_failed = ~0u;
        fuse_exit(fuse_get_context()->fuse);
        return fs;
    }
    uploads_start(fs);
    for (size_t i = 0; i < NFOLDERS; i++) {
        const struct folder_ops *m = folders[i].ops;
        int rc = m && m->init ? m->init(fs) : 0;

        if (rc == 0 && folders[i].kind) {
            struct view_region vr;
            view_region_mounted(fs, &vr);
            fs->views[i] = folders[i].kind->new(fs, &vr, &rc);
        }
        if (rc < 0) {
            fs->modules_failed |= 1u << i;
            amifs_log(fs, AWS_LOG_ERROR, "%s/: cannot start: %s",
                      folders[i].name, strerror(-rc));
        }
    }
    return fs;
}

/* The kernel may unmount before it delivered the RELEASE of a file whose
 * last close raced the unmount: release those here, before the modules'
 * state goes away. */
static void release_leftovers(struct amifs *fs)
{
    struct open_file *of;

    while ((of = fs->open_files) != NULL) {
        struct fuse_file_info fi;
        struct route r;

        route_to(fs, (size_t)of->idx, &r);
        memset(&fi, 0, sizeof(fi));
        fi.fh = of->fh;
        if (HAS(r, release) && !(fs->modules_failed & (1u << of->idx)))
            CALL(r, release, of->rel ? of->rel : "", &fi);
        open_file_unlink(fs, of);
    }
}

static void op_destroy(void *private_data)
{
    struct amifs *fs = private_data;

    /* Told to stop with files open: their uploads are aborted, never
     * completed (nobody will see a close() result for them). */
    atomic_store(&fs->stopping, true);
    release_leftovers(fs);
    for (size_t i = NFOLDERS; i-- > 0;) {
        const struct folder_ops *m = folders[i].ops;
        if (folders[i].kind && fs->views[i])
            folders[i].kind->free(fs->views[i]);
        fs->views[i] = NULL;
        if (m && m->destroy && !(fs->modules_failed & (1u << i)))
            m->destroy(fs);
    }
    uploads_stop(fs);
    mpu_shared_free(fs->uploads); /* every upload is gone with its module */
    fs->uploads = NULL;
}

static const struct fuse_operations amifs_ops = {
    .getattr = op_getattr,
    .readlink = op_readlink,
    .mkdir = op_mkdir,
    .unlink = op_unlink,
    .rmdir = op_rmdir,
    .symlink = op_symlink,
    .rename = op_rename,
    .link = op_link,
    .chmod = op_chmod,
    .chown = op_chown,
    .truncate = op_truncate,
    .open = op_open,
    .read = op_read,
    .write = op_write,
    .statfs = op_statfs,
    .flush = op_flush,
    .release = op_release,
    .fsync = op_fsync,
    .setxattr = op_setxattr,
    .getxattr = op_getxattr,
    .listxattr = op_listxattr,
    .removexattr = op_removexattr,
    .readdir = op_readdir,
    .opendir = op_opendir,
    .releasedir = op_releasedir,
    .init = op_init,
    .destroy = op_destroy,
    .create = op_create,
    .utimens = op_utimens,
    .fallocate = op_fallocate,
};

const struct fuse_operations *amifs_operations(void)
{
    return &amifs_ops;
}

size_t amifs_folder_count(void)
{
    return NFOLDERS;
}

const struct folder_ops *amifs_folder_at(size_t i)
{
    return i < NFOLDERS ? folders[i].ops : NULL;
}
