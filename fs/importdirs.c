/* importdirs.c — folders in imports/ become one import each
 * (fs/importdirs.h, core/importset.h, doc/design/ovf-folders.md). */
#include "fs/importdirs.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/importset.h"
#include "core/name.h"

struct dirent_set {
    char *name;
    struct importset *set;
    struct importjob *lead;      /* referenced */
};

struct impdirs {
    struct amifs *fs;
    struct impdirs_host host;    /* the drop box's job registry */
    struct importset_env env;
    pthread_mutex_t mu;
    struct dirent_set *v;
    size_t n;
};

struct impdir_handle {
    struct importset *set;       /* the set holds the file */
    struct importset_file *f;
    char *rel;
    bool closed;
    int result;
};

static void on_fail(void *ctx, const char *name, const char *why)
{
    struct impdirs *d = ctx;
    amifs_refuse(d->fs, "imports", name, "import", EINVAL, "%s", why);
}

int impdirs_new(struct amifs *fs, const struct impdirs_host *host,
                struct impdirs **out)
{
    struct impdirs *d = calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    d->fs = fs;
    d->host = *host;
    d->env = (struct importset_env){.cfg = host->cfg, .fail = on_fail,
                                    .ctx = d};
    pthread_mutex_init(&d->mu, NULL);
    if (host->cfg->bucket)
        importset_reap(&d->env);
    *out = d;
    return 0;
}

void impdirs_free(struct impdirs *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++) {
        importset_free(d->v[i].set);
        importjob_unref(d->v[i].lead);
        free(d->v[i].name);
    }
    free(d->v);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

/* The names of importset_names(). */
static void names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Split "vm/file" into the folder (out, n bytes) and the file (returned,
 * "" for the folder itself). */
static const char *split(const char *rel, char *out, size_t n)
{
    const char *slash = strchr(rel, '/');
    size_t k = slash ? (size_t)(slash - rel) : strlen(rel);
    snprintf(out, n, "%.*s", (int)k, rel);
    return slash ? slash + 1 : "";
}

/* The set shown as folder `name` (its lead visible), referenced through
 * *lead; NULL when none. */
static struct importset *find(struct impdirs *d, const char *name,
                              struct importjob **lead)
{
    struct importset *set = NULL;
    pthread_mutex_lock(&d->mu);
    for (size_t i = d->n; i-- > 0 && !set;)
        if (strcmp(d->v[i].name, name) == 0) {
            set = d->v[i].set;
            *lead = d->v[i].lead;
            importjob_ref(*lead);
        }
    pthread_mutex_unlock(&d->mu);
    if (set && !d->host.visible(d->host.ctx, *lead)) {
        importjob_unref(*lead);
        set = NULL;
    }
    return set;
}

bool impdirs_owns(struct impdirs *d, const char *rel)
{
    if (!d)
        return false;
    if (strchr(rel, '/'))
        return true;
    struct importjob *lead;
    struct importset *set = find(d, rel, &lead);
    if (set)
        importjob_unref(lead);
    return set != NULL;
}

int impdirs_mkdir(struct amifs *fs, struct impdirs *d, const char *rel)
{
    if (strchr(rel, '/'))
        return amifs_refuse(fs, "imports", rel, "mkdir", EPERM, "a folder "
                            "import takes the files beside the .ovf only; "
                            "subfolders are not read");
    if (!d->host.cfg->bucket)
        return -EROFS;
    struct importjob *old = d->host.job(d->host.ctx, rel);
    bool busy = old && d->host.visible(d->host.ctx, old);
    importjob_unref(old);
    if (busy)
        return -EEXIST;
    struct importjob *lead;
    struct importset *set = importset_new(&d->env, rel, &lead);
    char *name = set ? strdup(rel) : NULL;
    pthread_mutex_lock(&d->mu);
    struct dirent_set *nv =
        name ? realloc(d->v, (d->n + 1) * sizeof *nv) : NULL;
    if (nv) {
        d->v = nv;
        d->v[d->n++] = (struct dirent_set){name, set, lead};
    }
    pthread_mutex_unlock(&d->mu);
    if (!nv) {
        free(name);
        if (set) {
            importjob_unref(lead);
            importset_free(set);
        }
        return -ENOMEM;
    }
    importjob_ref(lead);
    int rc = d->host.enlist(d->host.ctx, lead, rel);
    if (rc != 0)
        importjob_unref(lead);
    return rc;
}

int impdirs_rmdir(struct amifs *fs, struct impdirs *d, const char *rel)
{
    if (strchr(rel, '/'))
        return -ENOENT;
    struct importjob *lead;
    struct importset *set = find(d, rel, &lead);
    if (!set)
        return -ENOENT;
    char **names;
    size_t n = 0;
    int rc = importset_names(set, &names, &n);
    if (rc == 0 && n && !importset_started(set))
        rc = -ENOTEMPTY;
    if (rc == 0)
        rc = importset_cancel(set);
    if (rc == 0 || rc == -ENOTEMPTY)
        names_free(names, n);
    importjob_unref(lead);
    return rc;
}

int impdirs_getattr(struct amifs *fs, struct impdirs *d, const char *rel,
                    struct stat *st)
{
    char dir[1024];
    const char *file = split(rel, dir, sizeof dir);
    struct importjob *lead;
    struct importset *set = find(d, dir, &lead);
    if (!set)
        return -ENOENT;
    int rc = 0;
    if (!*file) {
        struct importjob_info in;
        importjob_info(lead, &in);
        amifs_stat_dir(fs, st, in.mtime);
        st->st_mode |= 0200; /* files can be added */
        importjob_info_release(&in);
    } else {
        uint64_t size;
        bool open;
        time_t mt;
        rc = importset_stat(set, file, &size, &open, &mt);
        if (rc == 0)
            amifs_stat_file(fs, st, size, mt, open);
    }
    importjob_unref(lead);
    return rc;
}

int impdirs_readdir(struct impdirs *d, const char *rel, void *buf,
                    fuse_fill_dir_t filler)
{
    struct importjob *lead;
    struct importset *set = strchr(rel, '/') ? NULL : find(d, rel, &lead);
    if (!set)
        return -ENOENT;
    char **names;
    size_t n;
    int rc = importset_names(set, &names, &n);
    importjob_unref(lead);
    if (rc != 0)
        return rc;
    filler(buf, ".", NULL, 0, 0);
    filler(buf, "..", NULL, 0, 0);
    for (size_t i = 0; i < n; i++)
        filler(buf, names[i], NULL, 0, 0);
    names_free(names, n);
    return 0;
}

int impdirs_unlink(struct amifs *fs, struct impdirs *d, const char *rel)
{
    char dir[1024];
    const char *file = split(rel, dir, sizeof dir);
    struct importjob *lead;
    struct importset *set = find(d, dir, &lead);
    if (!set)
        return -ENOENT;
    int rc = *file ? importset_unlink(set, file) : -EISDIR;
    importjob_unref(lead);
    return rc;
}

int impdirs_create(struct amifs *fs, struct impdirs *d, const char *rel,
                   struct impdir_handle **out)
{
    char dir[1024], why[600];
    const char *file = split(rel, dir, sizeof dir);
    struct importjob *lead;
    struct importset *set = find(d, dir, &lead);
    if (!set)
        return -ENOENT;
    importjob_unref(lead); /* the registry keeps the set until unmount */
    int bad = strlen(file) > 255 ? -ENAMETOOLONG : 0;
    const char *badwhy = NULL;
    if (bad == 0 && name_check(file, &badwhy) < 0)
        return amifs_refuse(fs, "imports", rel, "create", EILSEQ, "%s",
                            badwhy);
    if (bad)
        return bad;
    struct impdir_handle *h = calloc(1, sizeof *h);
    if (!h || !(h->rel = strdup(rel))) {
        free(h);
        return -ENOMEM;
    }
    int rc = importset_create(set, file, &h->f, why, sizeof why);
    if (rc != 0) {
        free(h->rel);
        free(h);
        return amifs_refuse(fs, "imports", rel, "create", -rc, "%s", why);
    }
    h->set = set;
    *out = h;
    return 0;
}

int impdirs_write(struct impdir_handle *h, const char *buf, size_t n,
                  off_t off)
{
    if (h->closed)
        return -EBADF;
    ssize_t rc = importset_write(h->set, h->f, buf, n, off);
    return (int)rc;
}

int impdirs_truncate(struct impdir_handle *h, off_t size)
{
    return h->closed ? -EBADF : importset_truncate(h->set, h->f, size);
}

int impdirs_flush(struct impdir_handle *h)
{
    if (!h->closed) {
        h->closed = true;
        h->result = importset_close(h->set, h->f);
    }
    return h->result;
}

void impdirs_release(struct impdir_handle *h)
{
    impdirs_flush(h);
    importset_release(h->set, h->f);
    free(h->rel);
    free(h);
}
