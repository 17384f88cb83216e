/*
 * dotamifs.c — MOUNT/.amifs/: what the mount itself has to say.
 *
 *   .amifs/errors   every refusal of this mount, one line each, oldest first
 *                   (core/errlog.h): the time, the path, the operation, the
 *                   errno the program saw and the sentence a person acts on.
 *
 * Read-only, served with direct_io from a snapshot taken at open, so a
 * reader sees a consistent file whatever is refused meanwhile.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "aws/buf.h"
#include "fs/fs.h"

#define ERRORS "errors"

/* A snapshot of the record, taken at open (fi->fh). */
struct snap {
    char *text;
    size_t len;
};

static int dot_getattr(struct amifs *fs, const char *rel, struct stat *st,
                       struct fuse_file_info *fi)
{
    if (rel[0] == '\0') {
        amifs_stat_dir(fs, st, fs->mount_time);
        return 0;
    }
    if (strcmp(rel, ERRORS) != 0)
        return -ENOENT;
    /* Size 0 with direct_io: readers read to EOF whatever the size says. */
    amifs_stat_file(fs, st, 0, time(NULL), false);
    return 0;
}

static int dot_readdir(struct amifs *fs, const char *rel, void *buf,
                       fuse_fill_dir_t filler)
{
    if (rel[0] != '\0')
        return strcmp(rel, ERRORS) == 0 ? -ENOTDIR : -ENOENT;
    filler(buf, ".", NULL, 0, 0);
    filler(buf, "..", NULL, 0, 0);
    filler(buf, ERRORS, NULL, 0, 0);
    return 0;
}

static int dot_open(struct amifs *fs, const char *rel,
                    struct fuse_file_info *fi)
{
    struct snap *s;
    struct buf b;

    if (strcmp(rel, ERRORS) != 0)
        return rel[0] == '\0' ? -EISDIR : -ENOENT;
    if ((fi->flags & O_ACCMODE) != O_RDONLY)
        return -EACCES;
    if (!(s = calloc(1, sizeof *s)))
        return -ENOMEM;
    buf_init(&b, 0);
    if (fs->errors && errlog_render(fs->errors, &b) < 0) {
        buf_release(&b);
        free(s);
        return -ENOMEM;
    }
    s->len = b.len;
    s->text = buf_detach(&b);
    fi->fh = (uint64_t)(uintptr_t)s;
    fi->direct_io = 1;
    return 0;
}

static int dot_read(struct amifs *fs, const char *rel, char *buf, size_t n,
                    off_t off, struct fuse_file_info *fi)
{
    const struct snap *s = (const struct snap *)(uintptr_t)fi->fh;

    if (!s || off < 0)
        return -EINVAL;
    if ((size_t)off >= s->len)
        return 0;
    if (n > s->len - (size_t)off)
        n = s->len - (size_t)off;
    memcpy(buf, s->text + off, n);
    return (int)n;
}

static int dot_release(struct amifs *fs, const char *rel,
                       struct fuse_file_info *fi)
{
    struct snap *s = (struct snap *)(uintptr_t)fi->fh;

    if (s) {
        free(s->text);
        free(s);
    }
    return 0;
}

const struct folder_ops dotamifs_folder = {
    .name = ".amifs",
    .getattr = dot_getattr,
    .readdir = dot_readdir,
    .open = dot_open,
    .read = dot_read,
    .release = dot_release,
};
