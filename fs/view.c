/*
 * view.c — the mounted region as a view_region, and the read-only text
 * files the folder kinds serve (see view.h).
 */
#include "fs/view.h"
#include "core/name.h"
#include "fs/imports.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void view_region_mounted(struct amifs *fs, struct view_region *out)
{
    const char *name = fs->client ? aws_client_region(fs->client) : NULL;
    struct fsimport *imp = fs->imports;
    *out = (struct view_region){
        .name = name ? name : "us-east-1",
        .client = fs->client,
        .depth = 1,
        .tasks = imp ? imp->tc : NULL,
        .registry = imp,
        .region_known = regions_known,
    };
}

/* ---- read-only text files (view.h) ------------------------------------ */

struct buf *view_text_new(void)
{
    struct buf *b = calloc(1, sizeof(*b));
    if (b)
        buf_init(b, 0);
    return b;
}

void view_text_drop(struct buf *b)
{
    if (b) {
        buf_release(b);
        free(b);
    }
}

int view_text_open(struct fuse_file_info *fi, struct buf *b)
{
    fi->fh = (uint64_t)(uintptr_t)b;
    fi->direct_io = 1;
    return 0;
}

int view_text_slice(const struct buf *b, char *out, size_t n, off_t off)
{
    if (off < 0 || (size_t)off >= b->len)
        return 0;
    if (n > b->len - (size_t)off)
        n = b->len - (size_t)off;
    memcpy(out, b->data + off, n);
    return (int)n;
}

int view_text_read(void *self, struct amifs *fs, const char *rel, char *buf,
                   size_t n, off_t off, struct fuse_file_info *fi)
{
    struct buf *b = (struct buf *)(uintptr_t)fi->fh;
    (void)self, (void)fs, (void)rel;
    if (!b)
        return -EBADF;
    return view_text_slice(b, buf, n, off);
}

int view_text_release(void *self, struct amifs *fs, const char *rel,
                      struct fuse_file_info *fi)
{
    (void)self, (void)fs, (void)rel;
    view_text_drop((struct buf *)(uintptr_t)fi->fh);
    fi->fh = 0;
    return 0;
}

/* ---- small helpers (view.h) ------------------------------------------- */

double view_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int view_aws_fail(struct amifs *fs, const char *folder, const char *what,
                  const struct aws_error *err)
{
    char line[768];
    aws_error_format(err, line, sizeof line);
    /* the mount's logger itself, as amifs_log() would (a call into fs.c
     * from here would make fs.c and view.c call each other) */
    aws_log(&fs->logger, AWS_LOG_ERROR, "%s: %s: %s", folder, what, line);
    int e = aws_error_errno(err);
    return e > 0 ? -e : -EIO;
}

bool view_ami_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 3 || n > 128)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || strchr("()[] ./'@_-", *s)))
            return false;
    return true;
}

void view_fill_name(void *buf, fuse_fill_dir_t filler, const char *s)
{
    char enc[512 * 3];
    if (s && *s && name_tag_encode(s, enc, sizeof(enc)) >= 0)
        filler(buf, enc, NULL, 0, 0);
}

int view_split(char *tmp, char **c, int max)
{
    int nc = 0;
    for (char *s = tmp; s && *tmp;) {
        char *slash = strchr(s, '/');
        if (nc == max || !*s)
            return -ENOENT;
        c[nc++] = s;
        if (slash)
            *slash = '\0';
        s = slash ? slash + 1 : NULL;
    }
    return nc;
}
