/*
 * imports.c — the imports/ drop box (doc/CONTRACT.md "imports/").
 *
 * Maps FUSE calls onto import jobs (core/importjob.h) and sidecars:
 *  - a file with a final name (.ova .vmdk .vhd .vhdx .raw .img) or any other
 *    (temporary) name is a job: create starts it, writes stream, the first
 *    flush after data completes it (and for a final name starts the import)
 *    and reports the outcome to that close();
 *  - "X.json" where X is a final name is a sidecar: a small JSON text (≤ 64
 *    KiB) kept in memory, whose parameters apply to X's import;
 *  - rename of a closed temporary file onto a final name starts the import.
 * chmod/chown/utimens are left to the dispatcher (they succeed on any node
 * that exists), ACL xattrs get ENOTSUP there too.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "aws/s3.h"
#include "fs/fs.h"
#include "fs/buckets_int.h"
#include "fs/imports.h"
#include "fs/importdirs.h"
#include "core/name.h"
#include "core/snaproute.h"
#include "core/streamcheck.h"

#define SIDECAR_MAX 65536
/* doc/CONTRACT.md "Saying why, continued" */
#define IMPORT_NAME_MAX 255
#define STR_(x) #x
#define STR(x) STR_(x)

/* One open file. */
struct ihandle {
    struct importjob *job;  /* a job, or NULL for a sidecar */
    char *sc_name;          /* sidecar being read/written */
    struct buf sc_data;     /* sidecar bytes written through this handle */
    bool writer;            /* opened for writing */
    long opener;            /* process that opened it (writers), or 0 */
    bool wrote;             /* job data written through this handle */
    bool dirty;             /* sidecar bytes not stored yet */
    bool sc_created;        /* this handle created the sidecar */
    int sc_err;             /* the sidecar was refused (-errno): store
                             * nothing, fail every later write and close */
    bool completed;         /* the completing flush happened */
    int result;             /* its result */
    bool rdwr;              /* opened O_RDWR (a disk tool, e.g. qemu-img) */
    bool fresh_rdwr;        /* created so (no O_TRUNC/O_APPEND): closing it
                               empty is qemu-img's create step, no refusal */
    struct streamcheck sc;  /* rdwr: a header that cannot be streamed */
    struct impdir_handle *dh; /* a file below a folder (fs/importdirs.h) */
};

static struct fsimport *state(struct amifs *fs)
{
    return fs->imports;
}

static bool is_json(const char *name)
{
    size_t n = strlen(name);
    return n > 5 && strcmp(name + n - 5, ".json") == 0;
}

static bool is_sidecar_name(const char *name)
{
    size_t n = strlen(name);
    if (n < 6 || strcmp(name + n - 5, ".json") != 0)
        return false;
    char stem[1024];
    if (n - 5 >= sizeof stem)
        return false;
    memcpy(stem, name, n - 5);
    stem[n - 5] = '\0';
    return importjob_final_name(stem);
}

static bool valid_name(const char *rel)
{
    return *rel && !strchr(rel, '/');
}

/* A new name must be UTF-8 without control characters (core/name.h): it
 * becomes an S3 key, tags, a status file and log lines. 0, or -EILSEQ /
 * -EINVAL with a log line, before anything is uploaded. */
static int refuse_name(struct amifs *fs, const char *rel, const char *what)
{
    const char *why = NULL;
    size_t n = strlen(rel);
    size_t max = IMPORT_NAME_MAX + (is_json(rel) ? 5 : 0); /* X.json */
    if (n > max) /* refused, not cut: a cut name loses its
                              * extension and never becomes an import */
        return amifs_refuse(fs, "imports", rel, what, ENAMETOOLONG,
                            "the name is %zu bytes; a name in imports/ is "
                            "at most %d bytes (it becomes the AMI's Name "
                            "tag, which AWS limits to 256 characters)",
                            n, (int)max);
    int rc = name_check(rel, &why);
    if (rc < 0)
        return amifs_refuse(fs, "imports", rel, what, -rc, "%s", why);
    return rc;
}

/* Image formats VM Import does not read, each with what to do instead. A
 * name ending so is refused at create(): as a temporary name it would be
 * uploaded and then wait for a rename that never comes (silent success). */
static const char *foreign_format(const char *rel)
{
    static const struct {
        const char *ext, *advice;
    } FOREIGN[] = {
        {".qcow2", "QCOW2 is not a format VM Import reads; convert it with "
                   "`qemu-img convert -O vmdk -o subformat=streamOptimized "
                   "SRC disk.vmdk` (or -O raw / -O vpc) and copy that"},
        {".qcow", "QCOW is not a format VM Import reads; convert it with "
                  "`qemu-img convert -O vmdk -o subformat=streamOptimized "
                  "SRC disk.vmdk` and copy that"},
        {".vdi", "VDI is not a format VM Import reads; export the VM from "
                 "VirtualBox as an OVA, or convert the disk with `qemu-img "
                 "convert -O vmdk -o subformat=streamOptimized SRC disk.vmdk`"},
        {".iso", "an ISO is an installer, not a disk: install the VM, then "
                 "export it as an OVA"},
        {".ovf", "an OVF descriptor alone is not an image: pack it with its "
                 "disks as an OVA (`tar -cf vm.ova vm.ovf vm-disk1.vmdk`, "
                 "the .ovf first) and copy that"},
        {".xz", "unpack the image first (`unxz`), then copy it"},
        {".gz", "unpack the image first (`gunzip`), then copy it"},
        {".zip", "unpack the image first (`unzip`), then copy it"},
    };
    size_t n = strlen(rel);
    for (size_t i = 0; i < sizeof FOREIGN / sizeof FOREIGN[0]; i++) {
        size_t k = strlen(FOREIGN[i].ext);
        if (n > k && strcasecmp(rel + n - k, FOREIGN[i].ext) == 0)
            return FOREIGN[i].advice;
    }
    return NULL;
}

/* ---- shared state ----------------------------------------------------- */

struct importjob *fsimport_job_by_task(struct fsimport *s, const char *id)
{
    char tid[128];
    struct importjob *found = NULL;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->njobs && !found; i++)
        if (importjob_task_id(s->jobs[i], tid, sizeof tid) == 0 &&
            strcmp(tid, id) == 0) {
            found = s->jobs[i];
            importjob_ref(found);
        }
    pthread_mutex_unlock(&s->mu);
    return found;
}

/* Enter a background callback: false once the mount is closing (the
 * parts it would touch are being freed); else cb_leave() after. */
static bool cb_enter(struct fsimport *s)
{
    pthread_rwlock_rdlock(&s->cb_lock);
    if (!s->closing)
        return true;
    pthread_rwlock_unlock(&s->cb_lock);
    return false;
}

static void cb_leave(struct fsimport *s)
{
    pthread_rwlock_unlock(&s->cb_lock);
}

/* Delete the staged object of a task of ours that completed (cleanup, the
 * default; -o keep_staged or the file's KeepStaged keeps it). */
static void on_task_end_body(void *ctx, const struct ec2_import_task *t)
{
    struct fsimport *s = ctx;
    if (s->queue)
        importqueue_kick(s->queue); /* a quota slot may be free */
    if (!t->status || strcmp(t->status, "completed") != 0)
        return; /* a failed import keeps its object for diagnosis */
    const char *copy_to = status_tag(&t->tags, STATUS_TAG_COPY_TO);
    if (copy_to && t->image_id && s->copies) /* whoever's import it was */
        regioncopy_add(s->copies, t->import_task_id, t->image_id, NULL,
                       copy_to, &t->tags);
    struct importjob *found = fsimport_job_by_task(s, t->import_task_id);
    if (!found)
        return;
    int keep = importjob_keep_staged(found);
    if (keep > 0 || (keep < 0 && !s->cleanup)) {
        importjob_unref(found);
        return;
    }
    importjob_delete_staged(found); /* a folder set's: every disk */
    importjob_unref(found);
}

static void on_task_end(void *ctx, const struct ec2_import_task *t)
{
    struct fsimport *cs = ctx;
    if (!cb_enter(cs))
        return;
    on_task_end_body(ctx, t);
    cb_leave(cs);
}

/* The job whose staged object is `key` (referenced), or NULL. */
static struct importjob *job_by_key(struct fsimport *s, const char *key)
{
    struct importjob *found = NULL;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->njobs && !found; i++)
        if (strcmp(importjob_key(s->jobs[i]), key) == 0) {
            found = s->jobs[i];
            importjob_ref(found);
        }
    pthread_mutex_unlock(&s->mu);
    return found;
}

static void copy_task(void *arg, const struct ec2_import_task *t,
                      bool cancelled)
{
    (void)cancelled;
    taskcache_task_dup(arg, t);
}

/* The shared queue (core/importqueue.h) started a queued job of ours. A
 * task that ended before we learnt it was ours gets its cleanup now. */
static void on_dequeued_body(void *ctx, const char *key,
                             const struct ec2_import_task *t)
{
    struct fsimport *s = ctx;
    struct importjob *j = job_by_key(s, key);
    if (j && importjob_dequeued(j, t) == 0) {
        struct ec2_import_task now;
        memset(&now, 0, sizeof now);
        if (taskcache_ended(s->tc, t->import_task_id) &&
            taskcache_with(s->tc, t->import_task_id, copy_task, &now) == 0)
            on_task_end_body(s, &now);
        else if (t->status && strcmp(t->status, "completed") == 0)
            on_task_end_body(s, t);
        taskcache_task_free(&now);
    }
    importjob_unref(j);
}

static void on_dequeued(void *ctx, const char *key,
                        const struct ec2_import_task *t)
{
    struct fsimport *cs = ctx;
    if (!cb_enter(cs))
        return;
    on_dequeued_body(ctx, key, t);
    cb_leave(cs);
}

static void on_queue_failed_body(void *ctx, const char *key, const char *why)
{
    struct importjob *j = job_by_key(ctx, key);
    if (j)
        importjob_queue_failed(j, why);
    importjob_unref(j);
}

static void on_queue_failed(void *ctx, const char *key, const char *why)
{
    struct fsimport *cs = ctx;
    if (!cb_enter(cs))
        return;
    on_queue_failed_body(ctx, key, why);
    cb_leave(cs);
}

int fsimport_copies(struct fsimport *s, const char *task_id,
                    const char *regions, struct importjob *j, struct buf *out)
{
    char *mine = !regions && j ? importjob_copy_regions(j) : NULL;
    const char *r = regions ? regions : mine;
    int rc = r && s->copies ? regioncopy_render(s->copies,
                                                task_id ? task_id : "", r, out)
                            : -ENOENT;
    free(mine);
    return rc;
}

/* copy_to_regions=R1:R2 (':' because ',' separates mount options). */
static int start_copies(struct fsimport *s, const struct amifs_opts *o)
{
    if (o->copy_to_regions && *o->copy_to_regions) {
        s->copy_regions = strdup(o->copy_to_regions);
        if (!s->copy_regions)
            return -ENOMEM;
        for (char *c = s->copy_regions; *c; c++)
            *c = *c == ':' ? ',' : *c;
        if (!import_regions_ok(s->copy_regions))
            return -EINVAL;
        s->cfg.copy_regions = s->copy_regions;
    }
    s->copies = regioncopy_new(s->cfg.client, o->poll_interval, s->cfg.lg);
    return s->copies ? regioncopy_start(s->copies) : -ENOMEM;
}

static int start_queue(struct fsimport *s, const struct amifs_opts *o)
{
    if (!s->bucket)
        return 0;
    struct importqueue_config qc = {
        .client = s->cfg.client, .bucket = s->bucket, .prefix = s->prefix,
        .lease = o->queue_lease,
        .interval = o->poll_interval > 0 ? o->poll_interval : 10.0,
        .lg = s->cfg.lg, .started = on_dequeued, .failed = on_queue_failed,
        .ctx = s};
    s->queue = importqueue_new(&qc);
    s->cfg.queue = s->queue;
    return s->queue ? importqueue_start(s->queue) : -ENOMEM;
}

/* An ImportImage of route=auto failed for an OS cause (or a remount found
 * one half-way): continue by the snapshot route (core/snaproute.h). */
static void on_reroute_body(void *ctx, const struct ec2_import_task *t)
{
    struct fsimport *s = ctx;
    int rc = snaproute_resume(s->routes, t);
    if (rc != 0 && rc != -EALREADY)
        aws_log(s->cfg.lg, AWS_LOG_WARN, "%s: snapshot route not started "
                "(%s)", t->import_task_id, strerror(-rc));
}

static void on_reroute(void *ctx, const struct ec2_import_task *t)
{
    struct fsimport *cs = ctx;
    if (!cb_enter(cs))
        return;
    on_reroute_body(ctx, t);
    cb_leave(cs);
}

static int split_bucket(struct fsimport *s, const char *opt)
{
    const char *slash = opt ? strchr(opt, '/') : NULL;
    s->bucket = opt ? strndup(opt, slash ? (size_t)(slash - opt)
                                         : strlen(opt))
                    : NULL;
    const char *pre = slash ? slash + 1 : "";
    size_t n = strlen(pre);
    while (n && pre[n - 1] == '/')
        n--;
    s->prefix = strndup(pre, n);
    if ((opt && !s->bucket) || !s->prefix)
        return -ENOMEM;
    return 0;
}

/* The folder registry's view of ours (struct impdirs_host,
 * fs/importdirs.h): it calls back only through these. */
static struct importjob *host_job(void *ctx, const char *name)
{
    return fsimport_job(ctx, name);
}

static bool host_visible(void *ctx, struct importjob *j)
{
    return fsimport_visible(ctx, j);
}

static int host_enlist(void *ctx, struct importjob *j, const char *name)
{
    return fsimport_register(ctx, j, name);
}

/* Folders in imports/ (fs/importdirs.h). 0 or -errno. */
static int start_dirs(struct amifs *fs, struct fsimport *s)
{
    struct impdirs_host host = {.cfg = &s->cfg, .job = host_job,
                                .visible = host_visible,
                                .enlist = host_enlist, .ctx = s};
    return impdirs_new(fs, &host, &s->dirs);
}

int fsimport_create(struct amifs *fs, struct fsimport **out)
{
    struct fsimport *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    pthread_mutex_init(&s->mu, NULL);
    pthread_rwlock_init(&s->cb_lock, NULL);
    const struct amifs_opts *o = &fs->opts;
    if (split_bucket(s, o->bucket && *o->bucket ? o->bucket : NULL) != 0) {
        fsimport_free(s);
        return -ENOMEM;
    }
    s->cfg = (struct import_config){
        .client = fs->client, .bucket = s->bucket, .prefix = s->prefix,
        .role = o->role, .kms_key = o->kms_key, .boot_mode = o->boot_mode,
        .license_type = o->license_type, .platform = o->platform,
        .architecture = o->architecture, .part_size = o->part_size,
        .concurrency = o->upload_concurrency, .uploads = fs->uploads,
        .lg = &fs->logger,
        /* the mount's upload journal and janitor (fs/fs.c: fs->jops) */
        .journal = &fs->jops, .may_complete = amifs_caller_gone,
        .no_guest_check = o->no_guest_check != 0};
    s->cleanup = !o->keep_staged; /* the default since doc/design/fleet.md */
    s->tcc = (struct taskcache_client){fs->client, NULL, on_task_end, s,
                                       on_reroute};
    struct taskcache_ops ops = taskcache_ops_for_client(&s->tcc);
    double iv = o->poll_interval > 0 ? o->poll_interval : 10.0;
    s->tc = taskcache_new(&ops, iv, iv < 2.0 ? iv : 2.0, &fs->logger);
    s->cfg.tasks = s->tc;
    s->cfg.route = o->route;
    struct snaproute_config rc_cfg = {fs->client, &fs->logger, s->tc, o->role,
                                      !o->keep_staged, iv < 2.0 ? iv : 2.0};
    s->routes = s->tc ? snaproute_new(&rc_cfg) : NULL;
    s->cfg.routes = s->routes;
    int rc = s->tc && s->routes ? taskcache_start(s->tc) : -ENOMEM;
    if (rc == 0)
        rc = start_queue(s, o);
    if (rc == 0)
        rc = start_copies(s, o);
    if (rc == 0)
        rc = start_dirs(fs, s);
    if (rc != 0) {
        fsimport_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void fsimport_free(struct fsimport *s)
{
    if (!s)
        return;
    pthread_rwlock_wrlock(&s->cb_lock); /* no callback runs past this */
    s->closing = true;
    pthread_rwlock_unlock(&s->cb_lock);
    impdirs_free(s->dirs); /* the folder sets hold jobs: first */
    snaproute_stop(s->routes); /* routes show in the cache: stop first */
    importqueue_free(s->queue); /* its worker calls into the jobs */
    regioncopy_free(s->copies);
    taskcache_free(s->tc); /* stops the poller first: no more callbacks */
    snaproute_free(s->routes);
    for (size_t i = 0; i < s->njobs; i++) {
        if (importjob_phase(s->jobs[i]) == UPLOAD_WRITING)
            importjob_cancel(s->jobs[i]); /* unmount: nothing left behind */
        importjob_unref(s->jobs[i]);
    }
    free(s->jobs);
    for (size_t i = 0; i < s->nsidecars; i++) {
        free(s->sidecars[i].name);
        free(s->sidecars[i].data);
    }
    free(s->sidecars);
    free(s->bucket);
    free(s->prefix);
    free(s->copy_regions);
    pthread_mutex_destroy(&s->mu);
    pthread_rwlock_destroy(&s->cb_lock);
    free(s);
}

/* Lock held. Index of the job named `name`, or -1. */
static long job_index(struct fsimport *s, const char *name)
{
    char nm[1024];
    for (size_t i = s->njobs; i-- > 0;) {
        importjob_name(s->jobs[i], nm, sizeof nm);
        if (strcmp(nm, name) == 0)
            return (long)i;
    }
    return -1;
}

struct importjob *fsimport_job(struct fsimport *s, const char *name)
{
    pthread_mutex_lock(&s->mu);
    long i = job_index(s, name);
    struct importjob *j = i >= 0 ? s->jobs[i] : NULL;
    if (j)
        importjob_ref(j);
    pthread_mutex_unlock(&s->mu);
    return j;
}

struct importjob *fsimport_job_temp_for(struct fsimport *s,
                                        const char *final)
{
    struct importjob *best = NULL;
    char nm[1024], target[1024];
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->njobs; i++) {
        importjob_name(s->jobs[i], nm, sizeof nm);
        if (!importjob_temp_target(nm, target, sizeof target) ||
            strcmp(target, final) != 0)
            continue;
        if (!best || importjob_started(s->jobs[i]) >= importjob_started(best))
            best = s->jobs[i];
    }
    if (best)
        importjob_ref(best);
    pthread_mutex_unlock(&s->mu);
    return best;
}

void fsimport_names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

int fsimport_job_names(struct fsimport *s, char ***names, size_t *n)
{
    pthread_mutex_lock(&s->mu);
    char **v = calloc(s->njobs + 1, sizeof *v);
    size_t k = 0;
    for (size_t i = 0; v && i < s->njobs; i++) {
        char nm[1024];
        importjob_name(s->jobs[i], nm, sizeof nm);
        if ((v[k] = strdup(nm)) != NULL)
            k++;
    }
    pthread_mutex_unlock(&s->mu);
    *names = v;
    *n = k;
    return v ? 0 : -ENOMEM;
}

bool fsimport_visible(struct fsimport *s, struct importjob *j)
{
    char id[128];
    switch (importjob_phase(j)) {
    case UPLOAD_WRITING:
    case UPLOAD_STAGED:
    case UPLOAD_FINISHING:
    case UPLOAD_QUEUED:
        return true;
    case UPLOAD_STARTED:
        return importjob_task_id(j, id, sizeof id) != 0 ||
               !taskcache_ended(s->tc, id);
    default:
        return false;
    }
}

/* Register j under its name, dropping an older job of that name. Lock
 * held. */
static int job_add(struct fsimport *s, struct importjob *j, const char *name)
{
    long old = job_index(s, name);
    if (old >= 0) {
        importjob_unref(s->jobs[old]);
        s->jobs[old] = j;
        return 0;
    }
    struct importjob **nv = realloc(s->jobs, (s->njobs + 1) * sizeof *nv);
    if (!nv)
        return -ENOMEM;
    s->jobs = nv;
    s->jobs[s->njobs++] = j;
    return 0;
}

int fsimport_register(struct fsimport *s, struct importjob *j,
                      const char *name)
{
    pthread_mutex_lock(&s->mu);
    int rc = job_add(s, j, name);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* ---- sidecars (lock held) --------------------------------------------- */

static struct sidecar *sidecar_find(struct fsimport *s, const char *name)
{
    for (size_t i = 0; i < s->nsidecars; i++)
        if (strcmp(s->sidecars[i].name, name) == 0)
            return &s->sidecars[i];
    return NULL;
}

static void sidecar_remove(struct fsimport *s, const char *name)
{
    struct sidecar *sc = sidecar_find(s, name);
    if (!sc)
        return;
    free(sc->name);
    free(sc->data);
    *sc = s->sidecars[--s->nsidecars];
}

/* Store a copy of `data` as sidecar `name` (the handle keeps its bytes:
 * writes may go on after a flush). */
static int sidecar_store(struct fsimport *s, const char *name,
                         const struct buf *data)
{
    char *copy = malloc(data->len + 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, buf_cstr(data), data->len);
    copy[data->len] = '\0';
    struct sidecar *sc = sidecar_find(s, name);
    if (!sc) {
        struct sidecar *nv =
            realloc(s->sidecars, (s->nsidecars + 1) * sizeof *nv);
        if (!nv) {
            free(copy);
            return -ENOMEM;
        }
        s->sidecars = nv;
        sc = &nv[s->nsidecars];
        memset(sc, 0, sizeof *sc);
        if (!(sc->name = strdup(name))) {
            free(copy);
            return -ENOMEM;
        }
        s->nsidecars++;
    }
    free(sc->data);
    sc->len = data->len;
    sc->data = copy;
    sc->mtime = time(NULL);
    return 0;
}

/* Apply the sidecar of `name` (if any) to the job before its import. */
static int apply_sidecar(struct fsimport *s, struct importjob *j,
                         const char *name)
{
    char scname[1100];
    snprintf(scname, sizeof scname, "%s.json", name);
    pthread_mutex_lock(&s->mu);
    struct sidecar *sc = sidecar_find(s, scname);
    char *copy = sc && sc->data ? strndup(sc->data, sc->len) : NULL;
    size_t len = sc ? sc->len : 0;
    pthread_mutex_unlock(&s->mu);
    if (!copy)
        return 0;
    int rc = importjob_set_sidecar(j, copy, len);
    free(copy);
    return rc;
}

/* ---- folder_ops ------------------------------------------------------- */

static int imp_init(struct amifs *fs)
{
    struct fsimport *s;
    int rc = fsimport_create(fs, &s);
    if (rc == 0)
        fs->imports = s;
    if (rc == 0 && !s->bucket)
        amifs_log(fs, AWS_LOG_WARN,
                  "imports/: no staging bucket (-o bucket=NAME[/prefix]); "
                  "copies into imports/ will fail with EROFS");
    return rc;
}

static void imp_destroy(struct amifs *fs)
{
    fsimport_free(state(fs));
    fs->imports = NULL;
}

static void stat_job(struct amifs *fs, struct importjob *j, struct stat *st)
{
    char link[1100];
    if (importjob_link(j, link, sizeof link) == 0) { /* imp_symlink */
        amifs_stat_link(fs, st, strlen(link));
        return;
    }
    struct importjob_info in;
    importjob_info(j, &in);
    amifs_stat_file(fs, st, in.u.received, in.mtime,
                    in.u.phase == UPLOAD_WRITING);
    importjob_info_release(&in);
}

static int imp_getattr(struct amifs *fs, const char *rel, struct stat *st,
                       struct fuse_file_info *fi)
{
    struct fsimport *s = state(fs);
    struct ihandle *h = fi && fi->fh ? (struct ihandle *)(uintptr_t)fi->fh
                                     : NULL;
    if (h && h->job) { /* fstat: also after an unlink (rel is then "") */
        stat_job(fs, h->job, st);
        return 0;
    }
    if (h && h->sc_name)
        rel = h->sc_name;
    if (!*rel) {
        amifs_stat_dir(fs, st, fs->mount_time);
        return 0;
    }
    if (impdirs_owns(s->dirs, rel))
        return impdirs_getattr(fs, s->dirs, rel, st);
    struct importjob *j = fsimport_job(s, rel);
    bool shown = j && fsimport_visible(s, j);
    if (shown)
        stat_job(fs, j, st);
    importjob_unref(j);
    if (shown)
        return 0;
    pthread_mutex_lock(&s->mu);
    struct sidecar *sc = sidecar_find(s, rel);
    if (sc)
        amifs_stat_file(fs, st, sc->len, sc->mtime, true);
    pthread_mutex_unlock(&s->mu);
    return sc ? 0 : -ENOENT;
}

static int imp_readdir(struct amifs *fs, const char *rel, void *buf,
                       fuse_fill_dir_t filler)
{
    struct fsimport *s = state(fs);
    if (*rel)
        return impdirs_owns(s->dirs, rel)
                   ? impdirs_readdir(s->dirs, rel, buf, filler)
                   : -ENOTDIR;
    filler(buf, ".", NULL, 0, 0);
    filler(buf, "..", NULL, 0, 0);
    char **names;
    size_t n;
    if (fsimport_job_names(s, &names, &n) != 0)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        struct importjob *j = fsimport_job(s, names[i]);
        if (j && fsimport_visible(s, j))
            filler(buf, names[i], NULL, 0, 0);
        importjob_unref(j);
    }
    fsimport_names_free(names, n);
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nsidecars; i++)
        filler(buf, s->sidecars[i].name, NULL, 0, 0);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

static struct ihandle *handle_new(struct importjob *j, const char *sc_name)
{
    struct ihandle *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->job = j;
    buf_init(&h->sc_data, SIDECAR_MAX);
    if (sc_name && !(h->sc_name = strdup(sc_name))) {
        free(h);
        return NULL;
    }
    return h;
}

/* The handle may write: remember who opened it (the completing flush is
 * that process's) and count it among the job's writers (the last one to
 * close a file that never got a byte decides its fate). */
static void mark_writer(struct ihandle *h, int flags)
{
    h->rdwr = (flags & O_ACCMODE) == O_RDWR;
    h->writer = true;
    h->opener = amifs_caller_process();
    if (h->job)
        importjob_writers(h->job, +1);
}

/* Nothing was ever written to this job and it still takes bytes. */
static bool never_written(struct importjob *j)
{
    return importjob_phase(j) == UPLOAD_WRITING && importjob_size(j) == 0;
}

static bool has_final_name(struct importjob *j)
{
    char nm[1024];
    importjob_name(j, nm, sizeof nm);
    return importjob_final_name(nm);
}

/* A new job for `rel`, registered; replaces an ended/failed/staged one. */
static int new_job(struct fsimport *s, const char *rel,
                   struct fuse_file_info *fi)
{
    if (!s->bucket)
        return -EROFS;
    struct importjob *old = fsimport_job(s, rel);
    if (old) {
        enum upload_phase ph = importjob_phase(old);
        bool busy = fsimport_visible(s, old) && ph != UPLOAD_STAGED;
        if (!busy && ph == UPLOAD_STAGED)
            importjob_cancel(old); /* overwritten: drop the staged object */
        importjob_unref(old);
        if (busy)
            return -EBUSY;
    }
    struct importjob *j = importjob_new(&s->cfg, rel);
    struct ihandle *h = j ? handle_new(j, NULL) : NULL;
    if (!h) {
        importjob_unref(j);
        return -ENOMEM;
    }
    importjob_ref(j); /* the registry's reference */
    pthread_mutex_lock(&s->mu);
    int rc = job_add(s, j, rel);
    pthread_mutex_unlock(&s->mu);
    if (rc != 0) {
        importjob_unref(j);
        importjob_unref(j);
        free(h);
        return rc;
    }
    fi->fh = (uint64_t)(uintptr_t)h;
    return 0;
}

/* A file below a folder: the set's (fs/importdirs.h). */
static int create_in_dir(struct amifs *fs, const char *rel,
                         struct fuse_file_info *fi)
{
    struct ihandle *h = handle_new(NULL, NULL);
    if (!h)
        return -ENOMEM;
    int rc = impdirs_create(fs, state(fs)->dirs, rel, &h->dh);
    if (rc != 0) {
        free(h);
        return rc;
    }
    h->writer = true;
    fi->fh = (uint64_t)(uintptr_t)h;
    fi->direct_io = fs_write_only(fi);
    return 0;
}

static int imp_create(struct amifs *fs, const char *rel, mode_t mode,
                      struct fuse_file_info *fi)
{
    if (strchr(rel, '/'))
        return create_in_dir(fs, rel, fi);
    if (!valid_name(rel))
        return -EPERM;
    int bad = refuse_name(fs, rel, "create");
    if (bad < 0)
        return bad;
    const char *foreign = foreign_format(rel);
    if (foreign)
        return amifs_refuse(fs, "imports", rel, "create", EINVAL, "%s",
                            foreign);
    if (is_sidecar_name(rel)) {
        struct fsimport *s = state(fs);
        struct ihandle *h = handle_new(NULL, rel);
        if (!h)
            return -ENOMEM;
        h->sc_created = true;
        /* Registered at once: the kernel looks the new file up next. */
        pthread_mutex_lock(&s->mu);
        int rc = sidecar_store(s, rel, &h->sc_data);
        pthread_mutex_unlock(&s->mu);
        if (rc != 0) {
            free(h->sc_name);
            free(h);
            return rc;
        }
        h->writer = true;
        fi->fh = (uint64_t)(uintptr_t)h;
        fi->direct_io = 1;
        return 0;
    }
    int rc = new_job(state(fs), rel, fi);
    if (rc == 0) {
        struct ihandle *h = (struct ihandle *)(uintptr_t)fi->fh;
        fi->direct_io = fs_write_only(fi);
        mark_writer(h, fi->flags);
        h->fresh_rdwr = h->rdwr && !(fi->flags & (O_TRUNC | O_APPEND));
    } else if (rc == -EROFS)
        amifs_refuse(fs, "imports", rel, "create", EROFS,
                     "imports/ is read-only: this mount has no staging "
                     "bucket; mount again with -o bucket=NAME (`amifs setup "
                     "--bucket NAME --yes` creates one)");
    else if (rc == -EBUSY)
        amifs_refuse(fs, "imports", rel, "create", EBUSY,
                     "an upload of this name is still being written; wait "
                     "for it, or rm it to abort it");
    return rc;
}

/* ---- symlink: import an object where it lies ---------------------------- */

/* "../buckets/B/KEY" (the names as buckets/ shows them) into *p. */
static int link_object(const char *target, struct bpath *p)
{
    static const char pre[] = "../buckets/";
    if (strncmp(target, pre, sizeof pre - 1) != 0)
        return -EINVAL;
    int rc = bpath_parse(target + sizeof pre - 1, p);
    return rc != 0 || !p->key[0] ? -EINVAL : 0;
}

static void job_forget(struct fsimport *s, struct importjob *j);

/* Whether imports/ shows a job of this name. */
static bool name_shown(struct fsimport *s, const char *rel)
{
    struct importjob *old = fsimport_job(s, rel);
    bool busy = old && fsimport_visible(s, old);
    importjob_unref(old);
    return busy;
}

/* A link onto a stored-AMI object: CreateRestoreImageTask, no validator
 * (doc/design/exports.md). The job is the link's record; a refusal leaves
 * nothing but its sentence in .amifs/errors. */
static int restore_link(struct amifs *fs, const char *target, const char *rel,
                        const struct bpath *p)
{
    struct fsimport *s = state(fs);
    struct importjob *j = importjob_new(&s->cfg, rel);
    if (!j)
        return -ENOMEM;
    importjob_ref(j); /* the registry's reference */
    pthread_mutex_lock(&s->mu);
    int rc = job_add(s, j, rel);
    pthread_mutex_unlock(&s->mu);
    if (rc == 0)
        rc = importjob_restore(j, p->bucket, p->key, target);
    if (rc != 0) {
        struct importjob_info in;
        importjob_info(j, &in);
        char why[1100];
        snprintf(why, sizeof why, "%s", in.u.detail ? in.u.detail : "");
        importjob_info_release(&in);
        job_forget(s, j);
        importjob_unref(j);
        if (rc == -EEXIST)
            return amifs_refuse(fs, "imports", rel, "symlink", EEXIST,
                                "an AMI named %s exists already; name the "
                                "link differently (%s)", rel, why);
        return amifs_refuse(fs, "imports", rel, "symlink", -rc, "%s",
                            why[0] ? why : "the restore was refused");
    }
    importjob_unref(j);
    return 0;
}

static int imp_symlink(struct amifs *fs, const char *target, const char *rel)
{
    struct fsimport *s = state(fs);
    struct bpath p;
    if (!valid_name(rel) || is_sidecar_name(rel))
        return -EPERM;
    int rc = refuse_name(fs, rel, "symlink");
    if (rc < 0)
        return rc;
    if (link_object(target, &p) == 0 &&
        stored_ami(target + sizeof "../buckets/" - 1, NULL, 0) > 0 &&
        !name_shown(s, rel))
        return restore_link(fs, target, rel, &p);
    const char *foreign = foreign_format(rel);
    if (foreign)
        return amifs_refuse(fs, "imports", rel, "symlink", EINVAL, "%s",
                            foreign);
    if (!importjob_final_name(rel))
        return amifs_refuse(fs, "imports", rel, "symlink", EINVAL,
                            "name the link after the image's format (.ova, "
                            ".vmdk, .vhd, .vhdx, .raw or .img)");
    if (link_object(target, &p) != 0)
        return amifs_refuse(fs, "imports", rel, "symlink", EINVAL,
                            "the link must point at an object under "
                            "buckets/, written ../buckets/BUCKET/KEY");
    if (name_shown(s, rel))
        return amifs_refuse(fs, "imports", rel, "symlink", EBUSY,
                            "an import of this name is still under way");
    struct importjob *j = importjob_new(&s->cfg, rel);
    if (!j)
        return -ENOMEM;
    importjob_ref(j); /* the registry's reference */
    pthread_mutex_lock(&s->mu);
    rc = job_add(s, j, rel);
    pthread_mutex_unlock(&s->mu);
    if (rc != 0) {
        importjob_unref(j);
        importjob_unref(j);
        return rc;
    }
    apply_sidecar(s, j, rel);
    rc = importjob_adopt(j, p.bucket, p.key, target);
    importjob_unref(j);
    return rc;
}

static int imp_readlink(struct amifs *fs, const char *rel, char *out,
                        size_t n)
{
    struct importjob *j = fsimport_job(state(fs), rel);
    int rc = j ? importjob_link(j, out, n) : -ENOENT;
    importjob_unref(j);
    return rc;
}

static int open_sidecar(struct fsimport *s, const char *rel,
                        struct fuse_file_info *fi)
{
    pthread_mutex_lock(&s->mu);
    bool exists = sidecar_find(s, rel) != NULL;
    pthread_mutex_unlock(&s->mu);
    if (!exists)
        return -ENOENT;
    struct ihandle *h = handle_new(NULL, rel);
    if (!h)
        return -ENOMEM;
    if ((fi->flags & O_ACCMODE) != O_RDONLY) {
        h->writer = true;
        h->dirty = (fi->flags & O_TRUNC) != 0;
        if (!h->dirty) { /* appending: start from the stored text */
            pthread_mutex_lock(&s->mu);
            struct sidecar *sc = sidecar_find(s, rel);
            int rc = sc && sc->len ? buf_append(&h->sc_data, sc->data,
                                                sc->len)
                                   : 0;
            pthread_mutex_unlock(&s->mu);
            if (rc != 0) {
                buf_release(&h->sc_data);
                free(h->sc_name);
                free(h);
                return rc;
            }
        }
    }
    fi->fh = (uint64_t)(uintptr_t)h;
    fi->direct_io = 1;
    return 0;
}

/* A write into a name whose upload or import is still going on. */
static int refuse_busy(struct amifs *fs, const char *rel,
                       enum upload_phase ph)
{
    if (ph == UPLOAD_WRITING)
        return amifs_refuse(fs, "imports", rel, "open", EBUSY,
                            "an upload of this name is still being "
                            "written; wait for it, or rm it to abort it");
    return amifs_refuse(fs, "imports", rel, "open", EACCES,
                        "the import of this name is still active (see "
                        "tasks/%s/status); wait for it with `amifs wait "
                        "MOUNT/tasks/%s`, cancel it with `rm -r "
                        "MOUNT/tasks/%s`, or copy under another name",
                        rel, rel, rel);
}

/* A new job opened for writing (open() of a name that is not, or no
 * longer, a file here). */
static void writer_opened(struct fuse_file_info *fi)
{
    mark_writer((struct ihandle *)(uintptr_t)fi->fh, fi->flags);
    fi->direct_io = fs_write_only(fi);
}

static int imp_open(struct amifs *fs, const char *rel,
                    struct fuse_file_info *fi)
{
    struct fsimport *s = state(fs);
    if (impdirs_owns(s->dirs, rel)) /* folder files are written once */
        return strchr(rel, '/') ? -EACCES : -EISDIR;
    if (is_sidecar_name(rel))
        return open_sidecar(s, rel, fi);
    struct importjob *j = fsimport_job(s, rel);
    bool wr = (fi->flags & O_ACCMODE) != O_RDONLY;
    int rc;
    if (!j || !fsimport_visible(s, j)) {
        importjob_unref(j);
        /* The kernel still has the name from before the file left
         * imports/ (a refused copy, an empty file that was closed): for a
         * writer this is a create (`mktemp; cat > $tmp`). */
        if (!wr)
            return -ENOENT;
        if ((rc = new_job(s, rel, fi)) == 0)
            writer_opened(fi);
        return rc;
    }
    enum upload_phase ph = importjob_phase(j);
    if (wr && ph == UPLOAD_STAGED && (fi->flags & O_TRUNC)) {
        importjob_unref(j);
        if ((rc = new_job(s, rel, fi)) == 0) /* cp onto a staged temp */
            writer_opened(fi);
        return rc;
    }
    /* A second writer, or a write into a closed upload: S3 objects are
     * written once, front to back. An empty job (`: > f; cat >> f`) is
     * fine. */
    if (wr && (ph != UPLOAD_WRITING || importjob_wrote(j))) {
        importjob_unref(j);
        return refuse_busy(fs, rel, ph);
    }
    struct ihandle *h = handle_new(j, NULL);
    if (!h) {
        importjob_unref(j);
        return -ENOMEM;
    }
    if (wr)
        mark_writer(h, fi->flags);
    fi->fh = (uint64_t)(uintptr_t)h;
    return 0;
}

static int imp_read(struct amifs *fs, const char *rel, char *buf, size_t n,
                    off_t off, struct fuse_file_info *fi)
{
    struct ihandle *h = (struct ihandle *)(uintptr_t)fi->fh;
    if (h->job)
        return (int)importjob_read(h->job, buf, n, off);
    struct fsimport *s = state(fs);
    pthread_mutex_lock(&s->mu);
    struct sidecar *sc = sidecar_find(s, h->sc_name);
    size_t got = 0;
    if (sc && off >= 0 && (size_t)off < sc->len) {
        got = sc->len - (size_t)off < n ? sc->len - (size_t)off : n;
        memcpy(buf, sc->data + off, got);
    }
    pthread_mutex_unlock(&s->mu);
    return (int)got;
}

/* Refuse the sidecar open in h: nothing of it is stored (the sidecar is
 * removed when `drop`, else its old text stays), the sentence goes to
 * .amifs/errors, and every later write and close of h fails with err. */
static int sidecar_refuse(struct amifs *fs, struct ihandle *h, bool drop,
                          int err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int sidecar_refuse(struct amifs *fs, struct ihandle *h, bool drop,
                          int err, const char *fmt, ...)
{
    struct fsimport *s = state(fs);
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    h->sc_err = -err;
    h->dirty = false;
    if (drop) {
        pthread_mutex_lock(&s->mu);
        sidecar_remove(s, h->sc_name);
        pthread_mutex_unlock(&s->mu);
    }
    return amifs_refuse(fs, "imports", h->sc_name, "write", err, "%s", why);
}

static bool all_zero(const char *buf, size_t n)
{
    return n == 0 || (buf[0] == 0 && memcmp(buf, buf + 1, n - 1) == 0);
}

/* What is special about an O_RDWR writer (a disk tool): a header that
 * announces rewrites is refused at once (core/streamcheck.h), and zeros
 * before any data are a size hint, not data (qemu-img probes the first
 * 4 KiB of the disk it creates with zeros; the validator must not take
 * them for the disk's partition table). n or -errno when handled here, 1
 * when the write goes on as usual. */
static int rdwr_write(struct amifs *fs, struct ihandle *h, const char *rel,
                      const char *buf, size_t n, off_t off)
{
    char why[512];
    if (off >= 0 && streamcheck_feed(&h->sc, buf, n, (uint64_t)off, why,
                                     sizeof why) == 1) {
        importjob_refuse(h->job, ESPIPE, why);
        return amifs_refuse(fs, "imports", rel, "write", ESPIPE, "%s", why);
    }
    if (off < 0 || importjob_wrote(h->job) || !all_zero(buf, n))
        return 1;
    uint64_t end = (uint64_t)off + n;
    if (end <= importjob_size(h->job))
        return (int)n;
    int rc = importjob_truncate(h->job, (off_t)end);
    return rc < 0 ? rc : (int)n;
}

static int imp_write(struct amifs *fs, const char *rel, const char *buf,
                     size_t n, off_t off, struct fuse_file_info *fi)
{
    struct ihandle *h = (struct ihandle *)(uintptr_t)fi->fh;
    if (h->dh) {
        int rc = impdirs_write(h->dh, buf, n, off);
        h->wrote = h->wrote || rc >= 0;
        return rc;
    }
    if (h->job && h->rdwr) {
        int rc = rdwr_write(fs, h, rel, buf, n, off);
        if (rc != 1)
            return rc;
    }
    if (h->job) {
        ssize_t rc = importjob_write(h->job, buf, n, off);
        if (rc >= 0)
            h->wrote = true;
        return (int)rc;
    }
    if (off < 0 || (size_t)off != h->sc_data.len)
        return -ESPIPE;
    if (h->sc_err)
        return h->sc_err;
    int rc = buf_append(&h->sc_data, buf, n);
    if (rc == -E2BIG) /* refused: leave nothing (or the old text) */
        return sidecar_refuse(fs, h, h->sc_created, EFBIG,
                              "a sidecar is at most " STR(SIDECAR_MAX)
                              " bytes");
    if (rc != 0)
        return rc;
    /* A complete JSON text with a bad key or value fails the write() that
     * completed it: a shell reports that (`echo '{...}' > vm.ova.json`),
     * not the error of its close(). */
    char why[256] = "";
    if ((rc = import_params_check(h->sc_data.data, h->sc_data.len, why,
                                  sizeof why)) < 0)
        return sidecar_refuse(fs, h, true, -rc, "the sidecar is refused "
                              "and its parameters not used: %s", why);
    h->dirty = true;
    return (int)n;
}

static int flush_sidecar(struct amifs *fs, struct ihandle *h)
{
    struct fsimport *s = state(fs);
    struct import_params p;
    import_params_init(&p);
    char why[256] = "";
    int rc = h->sc_data.len == 0
                 ? 0
                 : import_params_from_json(&p, h->sc_data.data,
                                           h->sc_data.len, why, sizeof why);
    import_params_release(&p);
    if (rc != 0) {
        amifs_refuse(fs, "imports", h->sc_name, "close", -rc,
                     "the sidecar is refused and its parameters not used: "
                     "%s", why);
        pthread_mutex_lock(&s->mu);
        sidecar_remove(s, h->sc_name);
        pthread_mutex_unlock(&s->mu);
        return rc;
    }
    pthread_mutex_lock(&s->mu);
    rc = sidecar_store(s, h->sc_name, &h->sc_data);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* The completing flush: the first one after data (doc/ARCHITECTURE.md "Close semantics"). A
 * sidecar is small text in memory: every flush after a change stores it. */
static int complete(struct amifs *fs, struct ihandle *h)
{
    struct fsimport *s = state(fs);
    if (!h->job) {
        if (!h->dirty)
            return h->sc_err;
        h->dirty = false;
        return flush_sidecar(fs, h);
    }
    if (h->completed)
        return h->result;
    /* Nothing written through this handle: nothing to end, unless the job
     * failed meanwhile (a refused write poisons the file). */
    if (!h->wrote && !(h->writer && importjob_phase(h->job) == UPLOAD_FAILED))
        return 0;
    h->completed = true;
    char nm[1024];
    importjob_name(h->job, nm, sizeof nm);
    if (importjob_final_name(nm))
        apply_sidecar(s, h->job, nm);
    h->result = importjob_close(h->job);
    return h->result;
}

/* FUSE cannot tell the last close of a file from the close of one of its
 * fds, so two refinements of "the first flush after data completes":
 *  - only the process that opened the file completes it: a child that
 *    inherited the fd and exits (`{ cat a; cat b; } > imports/vm.ova`)
 *    flushes too, and must not end the upload halfway; what no flush of
 *    the opener completed, release completes (the status has the outcome);
 *  - a file with a final name that never got a byte cannot become an
 *    import: every such flush answers EINVAL, so `cp empty.ova` and `touch
 *    x.ova` report it. Nothing changes state here — a shell's dup flush
 *    (`cat vm > x.ova`) comes before the data, and shells ignore its error;
 *    the last close (release) records the refusal. */
/* The flush of an opener that is being killed by a signal: it never sees
 * a close() result, so its upload is aborted (status: cancelled). */
static int abort_killed(struct ihandle *h, int sig)
{
    char why[80];
    snprintf(why, sizeof why, "the writer was killed by signal %d", sig);
    importjob_abort(h->job, why);
    h->completed = true;
    h->result = importjob_phase(h->job) == UPLOAD_CANCELLED ? -ECANCELED
                                                           : -EBUSY;
    return h->result;
}

static int imp_flush(struct amifs *fs, const char *rel,
                     struct fuse_file_info *fi)
{
    struct ihandle *h = (struct ihandle *)(uintptr_t)fi->fh;
    int sig;
    if (h->dh)
        return h->wrote ? impdirs_flush(h->dh) : 0;
    if (h->job && h->writer && !h->completed &&
        (!h->opener || amifs_caller_process() == h->opener) &&
        (sig = amifs_caller_exit_signal()) > 0)
        return abort_killed(h, sig);
    if (h->job && h->writer && !h->completed) {
        if (h->wrote && h->opener &&
            importjob_phase(h->job) == UPLOAD_WRITING &&
            amifs_caller_process() != h->opener)
            return 0; /* (a failure already known is reported to all) */
        if (!h->wrote && never_written(h->job) && has_final_name(h->job) &&
            !h->fresh_rdwr)
            return -EINVAL;
    }
    return complete(fs, h);
}

static int imp_release(struct amifs *fs, const char *rel,
                       struct fuse_file_info *fi)
{
    struct ihandle *h = (struct ihandle *)(uintptr_t)fi->fh;
    if (h->dh) {
        impdirs_release(h->dh);
        buf_release(&h->sc_data);
        free(h);
        return 0;
    }
    bool last = h->job && h->writer && importjob_writers(h->job, -1) == 0;
    /* Told to stop: nobody will see this close's result; abort. */
    if (h->job && h->writer && !h->completed && atomic_load(&fs->stopping)) {
        importjob_abort(h->job, "the daemon is stopping");
        h->completed = true;
    }
    /* The last writer of a final name that never got a byte (`cp
     * empty.ova`, `touch x.ova`): the file is closed for good, so it is
     * refused now (status: the file is empty); nothing was uploaded. An
     * empty temporary name stays an empty file (mktemp, a browser's
     * .part): written later, or refused when renamed to a final name. A
     * release without flush (NFS re-export) completes what was written. */
    if (last && !h->wrote && never_written(h->job) &&
        has_final_name(h->job) && !h->fresh_rdwr)
        h->wrote = true;
    complete(fs, h);
    importjob_unref(h->job);
    free(h->sc_name);
    buf_release(&h->sc_data);
    free(h);
    return 0;
}

static int imp_fsync(struct amifs *fs, const char *rel, int datasync,
                     struct fuse_file_info *fi)
{
    return 0; /* bytes are on their way; close() tells the truth */
}

static int imp_truncate(struct amifs *fs, const char *rel, off_t size,
                        struct fuse_file_info *fi)
{
    struct ihandle *h = fi ? (struct ihandle *)(uintptr_t)fi->fh : NULL;
    if (h && h->dh)
        return impdirs_truncate(h->dh, size);
    if (h && !h->job) {
        if (size != 0)
            return -EINVAL;
        buf_reset(&h->sc_data);
        h->dirty = true;
        return 0;
    }
    struct importjob *j = h ? h->job : fsimport_job(state(fs), rel);
    if (!j)
        return is_sidecar_name(rel) ? (size == 0 ? 0 : -EINVAL) : -ENOENT;
    int rc = importjob_truncate(j, size); /* a size hint, not data */
    if (!h)
        importjob_unref(j);
    return rc;
}

/* rm of a file that never got a byte (an empty mktemp/.part file): there
 * was nothing to upload, so nothing is left to report in tasks/ either. */
static void job_forget(struct fsimport *s, struct importjob *j)
{
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->njobs; i++)
        if (s->jobs[i] == j) {
            importjob_unref(j); /* the registry's reference */
            s->jobs[i] = s->jobs[--s->njobs];
            break;
        }
    pthread_mutex_unlock(&s->mu);
}

void fsimport_forget(struct fsimport *s, struct importjob *j)
{
    job_forget(s, j);
}

static int imp_unlink(struct amifs *fs, const char *rel)
{
    struct fsimport *s = state(fs);
    if (impdirs_owns(s->dirs, rel))
        return impdirs_unlink(fs, s->dirs, rel);
    struct importjob *j = fsimport_job(s, rel);
    if (j && fsimport_visible(s, j)) {
        bool empty = never_written(j) || importjob_is_restore(j);
        int rc = importjob_cancel(j);
        if (rc == 0 && empty)
            job_forget(s, j);
        importjob_unref(j);
        return rc;
    }
    importjob_unref(j);
    pthread_mutex_lock(&s->mu);
    bool had = sidecar_find(s, rel) != NULL;
    sidecar_remove(s, rel);
    pthread_mutex_unlock(&s->mu);
    return had ? 0 : -ENOENT;
}

static int rename_sidecar(struct fsimport *s, const char *from,
                          const char *to)
{
    if (!is_sidecar_name(to))
        return -EINVAL;
    pthread_mutex_lock(&s->mu);
    struct sidecar *sc = sidecar_find(s, from);
    int rc = sc ? 0 : -ENOENT;
    if (sc) {
        sidecar_remove(s, to);
        sc = sidecar_find(s, from);
        char *nn = strdup(to);
        rc = nn ? 0 : -ENOMEM;
        if (nn) {
            free(sc->name);
            sc->name = nn;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int imp_rename(struct amifs *fs, const char *from, const char *to,
                      unsigned int flags)
{
    struct fsimport *s = state(fs);
    if (flags & RENAME_EXCHANGE)
        return -EINVAL;
    if (strchr(from, '/') || strchr(to, '/') || impdirs_owns(s->dirs, from))
        return -EXDEV; /* folders: cp -r (doc/design/ovf-folders.md) */
    if (!valid_name(to))
        return -EPERM;
    int bad = refuse_name(fs, to, "rename");
    if (bad < 0)
        return bad;
    if (is_sidecar_name(from))
        return rename_sidecar(s, from, to);
    struct importjob *j = fsimport_job(s, from);
    if (!j || !fsimport_visible(s, j)) {
        importjob_unref(j);
        return -ENOENT;
    }
    /* An empty file nobody has open cannot become an import. Refused
     * without a change, with ENODATA: mv retries a rename2() that failed
     * with EINVAL as a plain rename(), and reports EINVAL from rename as
     * "cannot move to a subdirectory of itself". */
    if (importjob_final_name(to) && never_written(j) &&
        importjob_writers(j, 0) == 0) {
        importjob_unref(j);
        aws_log(s->cfg.lg, AWS_LOG_ERROR,
                "imports/%s: not renamed to %s: the file is empty",
                name_esc(from, (char[NAME_ESC_MAX]){0}, NAME_ESC_MAX),
                name_esc(to, (char[NAME_ESC_MAX]){0}, NAME_ESC_MAX));
        return -ENODATA;
    }
    struct importjob *target = fsimport_job(s, to);
    bool busy = target && target != j && fsimport_visible(s, target) &&
                importjob_phase(target) != UPLOAD_STAGED;
    int rc = busy ? -EBUSY
             : (flags & RENAME_NOREPLACE) && target &&
                     fsimport_visible(s, target)
                 ? -EEXIST
                 : 0;
    if (rc == 0 && target && target != j &&
        importjob_phase(target) == UPLOAD_STAGED)
        importjob_cancel(target);
    importjob_unref(target);
    if (rc == 0 && importjob_final_name(to))
        apply_sidecar(s, j, to);
    if (rc == 0) {
        pthread_mutex_lock(&s->mu);
        long ti = job_index(s, to);
        if (ti >= 0 && s->jobs[ti] != j) { /* drop the replaced entry */
            importjob_unref(s->jobs[ti]);
            s->jobs[ti] = s->jobs[--s->njobs];
        }
        pthread_mutex_unlock(&s->mu);
        rc = importjob_rename(j, to);
    }
    importjob_unref(j);
    return rc;
}

static int imp_setxattr(struct amifs *fs, const char *rel, const char *name,
                        const char *value, size_t n, int flags)
{
    struct importjob *j = fsimport_job(state(fs), rel);
    if (!j)
        return is_sidecar_name(rel) ? -ENOTSUP : -ENOENT;
    int rc = importjob_setxattr(j, name, value, n);
    importjob_unref(j);
    return rc;
}

static int imp_getxattr(struct amifs *fs, const char *rel, const char *name,
                        char *value, size_t n)
{
    struct importjob *j = fsimport_job(state(fs), rel);
    if (!j)
        return -ENODATA;
    int rc = importjob_getxattr(j, name, value, n);
    importjob_unref(j);
    return rc;
}

static int imp_mkdir(struct amifs *fs, const char *rel, mode_t mode)
{
    int bad = strchr(rel, '/') ? 0 : refuse_name(fs, rel, "mkdir");
    return bad < 0 ? bad : impdirs_mkdir(fs, state(fs)->dirs, rel);
}

static int imp_rmdir(struct amifs *fs, const char *rel)
{
    return impdirs_rmdir(fs, state(fs)->dirs, rel);
}

#define IOPT(t, f, v) {t, offsetof(struct amifs_opts, f), v}

static const struct fuse_opt imports_opts[] = {
    IOPT("bucket=%s", bucket, 0),
    IOPT("role=%s", role, 0),
    IOPT("kms_key=%s", kms_key, 0),
    IOPT("boot_mode=%s", boot_mode, 0),
    IOPT("license_type=%s", license_type, 0),
    IOPT("platform=%s", platform, 0),
    IOPT("architecture=%s", architecture, 0),
    IOPT("route=%s", route, 0),
    IOPT("cleanup", cleanup, 1),
    IOPT("keep_staged", keep_staged, 1),
    IOPT("no_guest_check", no_guest_check, 1),
    IOPT("queue_lease=%lf", queue_lease, 0),
    IOPT("copy_to_regions=%s", copy_to_regions, 0),
    FUSE_OPT_END,
};

static const char imports_help[] =
    "imports/ options:\n"
    "    -o bucket=NAME[/PREFIX]  staging bucket for imports (required)\n"
    "    -o role=NAME           VM Import service role (vmimport)\n"
    "    -o kms_key=ID          encrypt the AMI's snapshots with this key\n"
    "    -o boot_mode=MODE      legacy-bios | uefi (default: from the image)\n"
    "    -o license_type=T      AWS | BYOL\n"
    "    -o platform=P          Linux | Windows (default: from the image)\n"
    "    -o architecture=A      x86_64 | i386 | arm64 (snapshot route)\n"
    "    -o route=R             auto | image | snapshot (default auto: "
    "ImportImage,\n"
    "                           then ImportSnapshot + RegisterImage if it "
    "refuses\n"
    "                           the guest's OS, kernel or boot loader)\n"
    "    -o no_guest_check      do not look inside the guest before "
    "ImportImage\n"
    "    -o keep_staged         keep the staged object after success (the\n"
    "                           default deletes it once the AMI is available)\n"
    "    -o queue_lease=SECONDS  how long a claim on a queued import lasts\n"
    "                           before another mount may take it (120)\n"
    "    -o copy_to_regions=R1:R2  copy every completed AMI to these regions\n";

const struct folder_ops imports_folder = {
    .name = "imports",
    .init = imp_init,
    .destroy = imp_destroy,
    .getattr = imp_getattr,
    .readdir = imp_readdir,
    .readlink = imp_readlink,
    .symlink = imp_symlink,
    .open = imp_open,
    .create = imp_create,
    .read = imp_read,
    .write = imp_write,
    .flush = imp_flush,
    .fsync = imp_fsync,
    .release = imp_release,
    .truncate = imp_truncate,
    .mkdir = imp_mkdir,
    .rmdir = imp_rmdir,
    .unlink = imp_unlink,
    .rename = imp_rename,
    .setxattr = imp_setxattr,
    .getxattr = imp_getxattr,
    .opts = imports_opts,
    .opts_help = imports_help,
};
