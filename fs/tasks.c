/*
 * tasks.c — the tasks kind of folder (fs/view.h, fs/tasks.h): the import
 * tasks of one region. One module serves tasks/ (the mounted region: its
 * view has imports/' registry, so it shows this mount's uploads, has
 * `wait` and cancels) and regions/REGION/tasks/ (no registry: read-only,
 * no `wait`, every change EACCES). A view reads its region's task cache
 * (core/taskcache.h), which it borrows from its view_region.
 *
 *   tasks/ID/            every import-image task the region's poller knows
 *   tasks/NAME -> ID     alias named after the dropped file (local job, or
 *                        the task's amifs:name tag: survives a remount)
 *   tasks/NAME/          before ImportImage answered (or when the upload
 *                        failed): the upload's own directory
 *
 * Each directory holds status, status.json, progress, wait, source, and
 * diagnosis (failed/cancelled) or ami (completed, a symlink into amis/),
 * and copies when the import asked for CopyToRegions (fs/imports.c).
 * Files are rendered once per open (a consistent snapshot for the reader)
 * from memory only; they are direct_io so `cat`, `head` and `watch cat` see
 * fresh text although getattr's size is only the current length. `wait`
 * blocks in read() until the task ends, waking on the cache's condition
 * variable and polling fuse_interrupted() so Ctrl-C works.
 *
 * rmdir of a task directory (rm -r) cancels an active task or aborts an
 * upload in flight, and hides an ended task (the tag amifs:hidden, see
 * core/taskcache.h) or forgets a failed upload; unlink of the files inside
 * is accepted and does nothing so that `rm -r` reaches the rmdir. (Views
 * with a registry only.) tasks/NAME also follows a temporary name that
 * will be renamed to NAME (doc/design/saywhy-tasks.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/diagnosis.h"
#include "core/snaproute.h"
#include "fs/imports.h"
#include "fs/tasks.h"
#include "core/status.h"

#define FIRST_LIST_WAIT_MS 3000
#define WAIT_TICK_MS 250

/* A view: the region's task cache, and imports/' registry or NULL. */
struct tview {
    struct taskcache *tc;
    struct fsimport *reg;
    struct diagnosis_where where; /* for the fixes of diagnosis files */
    char *region;                 /* where.region (owned) */
};

/* What a path's first component names. */
struct tnode {
    char id[128];            /* task id ("" for an upload without one) */
    struct importjob *job;   /* the local job of an alias, or NULL */
    bool link;               /* NAME -> ID */
};

static bool is_task_id(const char *name)
{
    return strncmp(name, "import-", 7) == 0;
}

static void node_release(struct tnode *n)
{
    importjob_unref(n->job);
    n->job = NULL;
}

static void has_task(void *arg, const struct ec2_import_task *t, bool c)
{
    *(bool *)arg = true;
}

/* 0 with *n filled (release with node_release), or -ENOENT. */
static int resolve(struct tview *s, const char *name, struct tnode *n)
{
    memset(n, 0, sizeof *n);
    bool known = false;
    if (is_task_id(name) &&
        taskcache_with(s->tc, name, has_task, &known) == 0) {
        if (taskcache_hidden(s->tc, name))
            return -ENOENT; /* rm -r'ed: gone from every listing */
        snprintf(n->id, sizeof n->id, "%s", name);
        if (s->reg) /* upload facts, if ours */
            n->job = fsimport_job_by_task(s->reg, name);
        return 0;
    }
    n->job = s->reg ? fsimport_job(s->reg, name) : NULL;
    struct importjob *tmp = s->reg ? fsimport_job_temp_for(s->reg, name)
                                   : NULL;
    if (tmp && (!n->job ||
                importjob_started(tmp) >= importjob_started(n->job))) {
        importjob_unref(n->job); /* rsync's .NAME.XXXXXX, from byte one */
        n->job = tmp;
        return 0;
    }
    importjob_unref(tmp);
    if (n->job) {
        n->link = importjob_task_id(n->job, n->id, sizeof n->id) == 0;
        if (!n->link || !taskcache_hidden(s->tc, n->id))
            return 0;
        node_release(n); /* its task was hidden: an older alias may show */
        memset(n, 0, sizeof *n);
    }
    /* Right after mounting, names come from the first listing: wait for it
     * (bounded; returns at once once it has happened). */
    if (taskcache_alias(s->tc, name, n->id, sizeof n->id) != 0)
        taskcache_wait_first(s->tc, FIRST_LIST_WAIT_MS);
    if (taskcache_alias(s->tc, name, n->id, sizeof n->id) == 0) {
        n->link = true;
        return 0;
    }
    if (is_task_id(name) &&
        taskcache_with(s->tc, name, has_task, &known) == 0) {
        snprintf(n->id, sizeof n->id, "%s", name);
        return 0;
    }
    return -ENOENT;
}

/* ---- rendering -------------------------------------------------------- */

enum tfile { F_STATUS, F_JSON, F_PROGRESS, F_WAIT, F_SOURCE, F_DIAG, F_AMI,
             F_COPIES, F_GUEST, F_GUEST_JSON, F_NONE };
static const char *const FILES[] = {"status", "status.json", "progress",
                                    "wait",   "source",      "diagnosis",
                                    "ami",    "copies",      "guest",
                                    "guest.json"};

/* A file of a view's task directory (`wait` only where a view acts). */
static enum tfile file_of(const struct tview *s, const char *name)
{
    for (int i = 0; i < F_NONE; i++)
        if (strcmp(name, FILES[i]) == 0)
            return i == F_WAIT && !s->reg ? F_NONE : (enum tfile)i;
    return F_NONE;
}

struct view {
    const struct diagnosis_where *where;
    enum tfile f;
    const struct upload_info *u;
    struct buf *out;
    int rc;
    enum status_word word;
    bool have_task;
};

/* An ImportImage the snapshot route continues keeps its first failure
 * (core/snaproute.h): diagnosis explains it, and says what amifs did. */
static int rerouted_diagnosis(const struct ec2_import_task *t, struct buf *out)
{
    const char *first = t ? status_tag(&t->tags, SNAPROUTE_TAG_FIRST) : NULL;
    if (!first)
        return -ENOENT;
    int rc = diagnosis_render(first, out);
    return rc != 0 ? rc : buf_printf(out, "Route: amifs continued by the "
                                          "snapshot route (ImportSnapshot "
                                          "per disk, then RegisterImage) "
                                          "from the staged object\n");
}

static int render(struct view *v, const struct ec2_import_task *t,
                  bool cancelled)
{
    v->word = status_word_of(v->u, t, cancelled);
    switch (v->f) {
    case F_STATUS:
    case F_WAIT:
        return status_line(v->u, t, cancelled, v->out);
    case F_JSON:
        return status_json(v->u, t, cancelled, v->out);
    case F_PROGRESS:
        return buf_printf(v->out, "%d\n", status_progress(v->u, t, cancelled));
    case F_SOURCE:
        return status_source(v->u, t, v->out);
    case F_DIAG:
        if (v->word != STATUS_FAILED && v->word != STATUS_CANCELLED)
            return rerouted_diagnosis(t, v->out);
        return diagnosis_render_at(status_failure(v->u, t, cancelled),
                                   v->where, v->out);
    case F_AMI:
        if (v->word != STATUS_COMPLETED || !t || !t->image_id)
            return -ENOENT;
        return buf_printf(v->out, "../../amis/%s", t->image_id);
    default:
        return -ENOENT;
    }
}

static void render_cb(void *arg, const struct ec2_import_task *t, bool c)
{
    struct view *v = arg;
    v->have_task = true;
    v->rc = render(v, t, c);
}

/* The status of a second drop of a name whose earlier import made an AMI
 * (doc/CONTRACT.md "Saying why, continued"): a second line that warns. */
static int warn_previous(struct tview *s, const struct tnode *n,
                         struct buf *out)
{
    char name[1024] = "", ami[64];
    if (n->job)
        importjob_name(n->job, name, sizeof name);
    if (!taskcache_previous(s->tc, name, n->id[0] ? n->id : NULL, ami,
                            sizeof ami))
        return 0;
    return buf_printf(out, "warning: %s was already imported from this "
                      "name; this import makes a second AMI with the same "
                      "Name (rm -r the older task in tasks/ to stop this "
                      "warning)\n", ami);
}

static void copy_to_tag(void *arg, const struct ec2_import_task *t, bool c)
{
    const char *v = status_tag(&t->tags, STATUS_TAG_COPY_TO);
    (void)c;
    if (v)
        snprintf(arg, 512, "%s", v);
}

/* tasks/NAME/copies: the regions from the task's amifs:copy-to tag, or
 * the local job's CopyToRegions before the task exists. */
static int copies_of(struct tview *s, struct tnode *n, struct buf *out)
{
    char regions[512] = "";
    if (!s->reg)
        return -ENOENT;
    if (n->id[0])
        taskcache_with(s->tc, n->id, copy_to_tag, regions);
    return fsimport_copies(s->reg, n->id[0] ? n->id : NULL,
                           regions[0] ? regions : NULL, n->job, out);
}

/* tasks/NAME/guest and guest.json: the guest check's report
 * (doc/design/guest-check.md), while the mount knows the upload. */
static int guest_of(struct tnode *n, bool json, struct buf *out)
{
    char *text = n->job ? importjob_guest(n->job, json) : NULL;
    if (!text)
        return -ENOENT;
    int rc = buf_printf(out, "%s%s", text, json ? "\n" : "");
    free(text);
    return rc;
}

/* The guest check's warnings as one more status line, and its verdict in
 * diagnosis (doc/CONTRACT.md "The guest check"). */
static int guest_note(struct tnode *n, enum tfile f, struct buf *out)
{
    char line[700];
    if (!n->job || importjob_guest_line(n->job, line, sizeof line) != 0)
        return 0;
    if (f == F_DIAG) {
        int rc = buf_printf(out, "Guest check: %s (tasks/NAME/guest has "
                            "the details)\n", line);
        if (rc == 0 && !strncmp(line, "refused: ", 9) &&
            !strncmp(n->id, "import-snap-", 12))
            rc = buf_printf(out, "Route: amifs went by the snapshot route "
                            "(ImportSnapshot per disk, then RegisterImage) "
                            "without calling ImportImage\n");
        return rc;
    }
    if (strncmp(line, "warnings: ", 10) != 0)
        return 0;
    return buf_printf(out, "guest check: %s\n", line + 10);
}

/* Whether the guest check has something to say (not "ok"). */
static bool guest_worth(struct tnode *n)
{
    char line[700];
    return n->job && importjob_guest_line(n->job, line, sizeof line) == 0 &&
           strcmp(line, "ok") != 0;
}

/* Render file f of node n into out; *word gets the status word. */
static int view_node(struct tview *s, struct tnode *n, enum tfile f,
                     struct buf *out, enum status_word *word)
{
    struct importjob_info in;
    struct view v = {&s->where, f, NULL, out, 0, STATUS_ACTIVE, false};
    if (f == F_COPIES || f == F_GUEST || f == F_GUEST_JSON) {
        if (word)
            *word = STATUS_ACTIVE;
        return f == F_COPIES ? copies_of(s, n, out) /* doc/design/fleet.md */
                             : guest_of(n, f == F_GUEST_JSON, out);
    }
    if (n->job) {
        importjob_info(n->job, &in);
        v.u = &in.u;
    }
    if (n->id[0])
        taskcache_with(s->tc, n->id, render_cb, &v);
    struct ec2_import_task rt; /* a link onto a stored AMI (exports.md) */
    if (!v.have_task && n->job && importjob_restore_task(n->job, &rt) == 0) {
        render_cb(&v, &rt, false);
        ec2_import_task_release(&rt);
    }
    if (!v.have_task)
        v.rc = v.u ? render(&v, NULL, false) : -ENOENT;
    if (n->job)
        importjob_info_release(&in);
    if (word)
        *word = v.word;
    if (v.rc == 0 && (f == F_STATUS || f == F_WAIT))
        v.rc = warn_previous(s, n, out);
    if (v.rc == -ENOENT && f == F_DIAG && guest_worth(n))
        v.rc = 0; /* a diagnosis of the guest check alone */
    if (v.rc == 0 && (f == F_STATUS || f == F_DIAG))
        v.rc = guest_note(n, f, out);
    return v.rc;
}

/* Split "NAME/FILE" (FILE may be absent). -ENOENT for deeper paths. */
static int split(const char *rel, char *name, size_t n, const char **file)
{
    const char *slash = strchr(rel, '/');
    size_t len = slash ? (size_t)(slash - rel) : strlen(rel);
    if (len == 0 || len >= n || (slash && strchr(slash + 1, '/')))
        return -ENOENT;
    memcpy(name, rel, len);
    name[len] = '\0';
    *file = slash ? slash + 1 : NULL;
    return 0;
}

enum want { ANY_PATH, NAME_ONLY };

/* rel split into NAME[/FILE] (*file NULL or inside rel) and NAME resolved
 * into *n (release with node_release). With NAME_ONLY, a NAME/FILE path is
 * -ENOENT before NAME is looked up (which may wait for the first listing). */
static int lookup(struct tview *s, const char *rel, enum want want,
                  struct tnode *n, const char **file)
{
    char name[1024];
    if (split(rel, name, sizeof name, file) != 0 ||
        (want == NAME_ONLY && *file) ||
        resolve(s, name, n) != 0)
        return -ENOENT;
    return 0;
}

/* ---- folder_ops ------------------------------------------------------- */

static void *tasks_new(struct amifs *fs, const struct view_region *r,
                       int *rc)
{
    struct tview *s = calloc(1, sizeof *s);
    *rc = !r->tasks ? -EIO : !s ? -ENOMEM : 0;
    if (*rc != 0) { /* no poller: imports/ (which runs it) did not start */
        free(s);
        return NULL;
    }
    s->tc = r->tasks;
    s->reg = r->registry;
    s->region = strdup(r->name);
    s->where = (struct diagnosis_where){fs->opts.endpoint, s->region,
                                        fs->opts.bucket, fs->opts.role};
    return s;
}

static void tasks_free(void *self)
{
    struct tview *s = self;
    if (s)
        free(s->region);
    free(self);
}

/* When the task started (ls -l tasks/): its amifs:started tag, else the
 * local upload's creation, else 0 (the mount time: a task amifs did not
 * start; AWS records no creation time for import tasks). */
static time_t node_time(struct tview *s, const struct tnode *n)
{
    long long t = n->id[0] ? taskcache_started(s->tc, n->id) : 0;
    if (t <= 0 && n->job)
        t = (long long)importjob_started(n->job);
    return t > 0 ? (time_t)t : 0;
}

static void set_times(struct stat *st, time_t t)
{
    if (t > 0)
        st->st_mtime = st->st_ctime = st->st_atime = t;
}

static int file_attr(struct tview *s, struct amifs *fs, struct tnode *n,
                     const char *file, struct stat *st)
{
    enum tfile f = file_of(s, file);
    if (f == F_NONE)
        return -ENOENT;
    struct buf b;
    buf_init(&b, 0);
    enum status_word w;
    int rc = view_node(s, n, f == F_WAIT ? F_STATUS : f, &b, &w);
    bool ended = status_word_ended(w);
    if (rc == 0 && f == F_AMI)
        amifs_stat_link(fs, st, b.len);
    else if (rc == 0)
        amifs_stat_file(fs, st, f == F_WAIT && !ended ? 0 : b.len, 0, false);
    if (rc == 0)
        set_times(st, node_time(s, n));
    buf_release(&b);
    return rc;
}

static int tasks_getattr(void *self, struct amifs *fs, const char *rel,
                         struct stat *st, struct fuse_file_info *fi)
{
    struct tview *s = self;
    if (!*rel) {
        amifs_stat_dir(fs, st, fs->mount_time);
        return 0;
    }
    const char *file;
    struct tnode n;
    if (lookup(s, rel, ANY_PATH, &n, &file) != 0)
        return -ENOENT;
    int rc = 0;
    if (!file && n.link)
        amifs_stat_link(fs, st, strlen(n.id));
    else if (!file)
        amifs_stat_dir(fs, st, 0);
    if (!file)
        set_times(st, node_time(s, &n));
    else /* NAME/FILE of an alias: the kernel still holds NAME as the
            upload's directory it was until ImportImage answered (for
            entry_timeout); answer as the task's directory would. */
        rc = file_attr(s, fs, &n, file, st);
    node_release(&n);
    return rc;
}

static int tasks_readlink(void *self, struct amifs *fs, const char *rel,
                          char *out, size_t size)
{
    struct tview *s = self;
    const char *file;
    struct tnode n;
    if (lookup(s, rel, ANY_PATH, &n, &file) != 0)
        return -ENOENT;
    struct buf b;
    buf_init(&b, 0);
    int rc = 0;
    if (!file && n.link)
        rc = buf_appends(&b, n.id);
    else if (file && file_of(s, file) == F_AMI)
        rc = view_node(s, &n, F_AMI, &b, NULL);
    else
        rc = -EINVAL;
    if (rc == 0 && size > 0)
        snprintf(out, size, "%s", buf_cstr(&b));
    buf_release(&b);
    node_release(&n);
    return rc;
}

/* Names already given to the filler (each name once). */
struct listed {
    char **v;
    size_t n, cap;
};

static void fill_once(struct listed *l, void *buf, fuse_fill_dir_t filler,
                      const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], name) == 0)
            return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        char **nv = realloc(l->v, cap * sizeof *nv);
        if (!nv)
            return;
        l->v = nv;
        l->cap = cap;
    }
    if ((l->v[l->n] = strdup(name)) == NULL)
        return;
    l->n++;
    filler(buf, name, NULL, 0, 0);
}

/* This mount's uploads: each name that resolves, and the final name a
 * temporary name will get (tasks/vm.ova while rsync writes .vm.ova.X). */
static void list_jobs(struct tview *s, struct listed *l, void *buf,
                      fuse_fill_dir_t filler, char **jobs, size_t nj)
{
    char target[1024];
    for (size_t k = 0; k < nj; k++) {
        struct tnode n;
        if (resolve(s, jobs[k], &n) == 0)
            fill_once(l, buf, filler, jobs[k]);
        node_release(&n);
        if (importjob_temp_target(jobs[k], target, sizeof target))
            fill_once(l, buf, filler, target);
    }
}

static void list_root(struct tview *s, void *buf, fuse_fill_dir_t filler)
{
    taskcache_wait_first(s->tc, FIRST_LIST_WAIT_MS);
    struct taskcache_names tn;
    struct listed l = {NULL, 0, 0};
    char **jobs = NULL;
    size_t nj = 0;
    if (s->reg)
        fsimport_job_names(s->reg, &jobs, &nj);
    if (taskcache_names(s->tc, &tn) == 0) {
        for (size_t i = 0; i < tn.nids; i++)
            filler(buf, tn.ids[i], NULL, 0, 0);
        for (size_t i = 0; i < tn.naliases; i++) {
            bool local = false;
            for (size_t k = 0; k < nj && !local; k++)
                local = strcmp(jobs[k], tn.alias_names[i]) == 0;
            if (!local)
                fill_once(&l, buf, filler, tn.alias_names[i]);
        }
        taskcache_names_release(&tn);
    }
    list_jobs(s, &l, buf, filler, jobs, nj);
    fsimport_names_free(jobs, nj);
    fsimport_names_free(l.v, l.n);
}

static int tasks_readdir(void *self, struct amifs *fs, const char *rel,
                         void *buf, fuse_fill_dir_t filler)
{
    struct tview *s = self;
    filler(buf, ".", NULL, 0, 0);
    filler(buf, "..", NULL, 0, 0);
    if (!*rel) {
        list_root(s, buf, filler);
        return 0;
    }
    const char *file;
    struct tnode n;
    if (lookup(s, rel, NAME_ONLY, &n, &file) != 0)
        return -ENOENT;
    struct stat st;
    for (int f = 0; f < F_NONE; f++) /* an alias too: see getattr */
        if (file_attr(s, fs, &n, FILES[f], &st) == 0)
            filler(buf, FILES[f], NULL, 0, 0);
    node_release(&n);
    return 0;
}

/* An open status file: the text rendered at the first read. */
struct thandle {
    char name[1024];
    enum tfile f;
    bool filled;
    struct buf text;
};

static int tasks_open(void *self, struct amifs *fs, const char *rel,
                      struct fuse_file_info *fi)
{
    struct tview *s = self;
    char name[1024]; /* kept: the handle remembers NAME */
    const char *file;
    struct tnode n;
    if (split(rel, name, sizeof name, &file) != 0 || !file ||
        resolve(s, name, &n) != 0)
        return -ENOENT;
    node_release(&n);
    enum tfile f = file_of(s, file);
    if (f == F_NONE || f == F_AMI) /* an alias's NAME/FILE: see getattr */
        return -ENOENT;
    if ((fi->flags & O_ACCMODE) != O_RDONLY)
        return -EACCES;
    struct thandle *h = calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    snprintf(h->name, sizeof h->name, "%s", name);
    h->f = f;
    buf_init(&h->text, 0);
    fi->fh = (uint64_t)(uintptr_t)h;
    fi->direct_io = 1;
    return 0;
}

/* Render h's file now (for wait: once the task has ended). */
static int fill(struct tview *s, struct thandle *h)
{
    uint64_t gen = taskcache_generation(s->tc);
    for (;;) {
        struct tnode n;
        if (resolve(s, h->name, &n) != 0)
            return -ENOENT;
        enum status_word w;
        buf_reset(&h->text);
        int rc = view_node(s, &n, h->f, &h->text, &w);
        node_release(&n);
        if (rc != 0 || h->f != F_WAIT || status_word_ended(w))
            return rc;
        if (fuse_interrupted() || amifs_unmounting())
            return -EINTR;
        if (!taskcache_wait_change(s->tc, &gen, WAIT_TICK_MS))
            return -EINTR; /* unmounting */
    }
}

static int tasks_read(void *self, struct amifs *fs, const char *rel,
                      char *buf, size_t n, off_t off,
                      struct fuse_file_info *fi)
{
    struct thandle *h = (struct thandle *)(uintptr_t)fi->fh;
    if (!h->filled) {
        int rc = fill(self, h);
        if (rc != 0)
            return rc;
        h->filled = true;
    }
    return view_text_slice(&h->text, buf, n, off);
}

static int tasks_release(void *self, struct amifs *fs, const char *rel,
                         struct fuse_file_info *fi)
{
    struct thandle *h = (struct thandle *)(uintptr_t)fi->fh;
    buf_release(&h->text);
    free(h);
    return 0;
}

static bool upload_ended(struct importjob *j)
{
    enum upload_phase ph = importjob_phase(j);
    return ph == UPLOAD_FAILED || ph == UPLOAD_CANCELLED;
}

/* rm -r of an ended task: tag it hidden (every mount leaves it out), and
 * forget the local upload that named it. */
static int hide_node(struct tview *s, struct amifs *fs, struct tnode *n)
{
    struct aws_error err;
    aws_error_clear(&err);
    int rc = taskcache_hide(s->tc, n->id, &err);
    if (rc == 0 && n->job)
        fsimport_forget(s->reg, n->job);
    if (rc != 0 && rc != -ENOENT) {
        char msg[700];
        aws_error_format(&err, msg, sizeof msg);
        return amifs_refuse(fs, "tasks", n->id, "rmdir", -rc,
                            "the ended task could not be hidden (its tag "
                            STATUS_TAG_HIDDEN " was refused): %s", msg);
    }
    return rc;
}

/* Cancel what node n names: the AWS task, or the upload in flight; hide
 * (or forget) what has ended. */
static int cancel_node(struct tview *s, struct amifs *fs, struct tnode *n)
{
    if (!n->id[0] && n->job && upload_ended(n->job)) {
        fsimport_forget(s->reg, n->job); /* a failed upload: forget it */
        return 0;
    }
    if (!n->id[0])
        return n->job ? importjob_cancel(n->job) : -ENOENT;
    struct aws_error err;
    aws_error_clear(&err);
    int rc = taskcache_cancel(s->tc, n->id, &err);
    if (rc == -EBUSY) /* ended: hide it (AWS keeps tasks for 7 days) */
        return hide_node(s, fs, n);
    if (rc != 0 && rc != -ENOENT) {
        char msg[700];
        aws_error_format(&err, msg, sizeof msg);
        amifs_log(fs, AWS_LOG_ERROR, "cancelling %s failed: %s", n->id, msg);
    }
    return rc;
}

static int tasks_rmdir(void *self, struct amifs *fs, const char *rel)
{
    struct tview *s = self;
    const char *file;
    struct tnode n;
    if (!s->reg)
        return -EACCES; /* cancel from the mounted region's tasks/ */
    if (lookup(s, rel, NAME_ONLY, &n, &file) != 0)
        return -ENOENT;
    int rc = n.link ? -ENOTDIR : cancel_node(s, fs, &n);
    node_release(&n);
    return rc;
}

static int tasks_unlink(void *self, struct amifs *fs, const char *rel)
{
    struct tview *s = self;
    const char *file;
    struct tnode n;
    if (!s->reg)
        return -EACCES;
    if (lookup(s, rel, ANY_PATH, &n, &file) != 0)
        return -ENOENT;
    int rc;
    if (file) /* a status file: accepted so rm -r reaches rmdir */
        rc = file_of(s, file) == F_NONE ? -ENOENT : 0;
    else if (n.link) /* rm tasks/NAME: cancel what it points at */
        rc = cancel_node(s, fs, &n);
    else
        rc = -EISDIR;
    node_release(&n);
    return rc;
}

static const struct fuse_opt tasks_opts[] = {
    {"poll_interval=%lf", offsetof(struct amifs_opts, poll_interval), 0},
    FUSE_OPT_END,
};

static const char tasks_help[] =
    "tasks/ options:\n"
    "    -o poll_interval=SECONDS  DescribeImportImageTasks refresh (10; "
    "2 while a task is active)\n";

/* tasks/'s mount-wide part: its option (the pollers read it). */
const struct folder_ops tasks_folder = {
    .name = "tasks",
    .opts = tasks_opts,
    .opts_help = tasks_help,
};

const struct view_ops tasks_view_ops = {
    .name = "tasks",
    .needs_tasks = true,
    .new = tasks_new,
    .free = tasks_free,
    .getattr = tasks_getattr,
    .readdir = tasks_readdir,
    .readlink = tasks_readlink,
    .open = tasks_open,
    .read = tasks_read,
    .release = tasks_release,
    .rmdir = tasks_rmdir,
    .unlink = tasks_unlink,
};
