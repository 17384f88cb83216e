/* guest_ext.c — ext2/3/4 through libext2fs, read through the guest
 * check's virtual disk: an io_manager of our own (read-only) whose
 * channel reads gvd_read() at the partition's offset. See
 * core/guest_int.h. libext2fs names a device by a string; ours is
 * "amifs-guest:<pointer to the struct gext>" (the manager is a constant
 * table; the state hangs off the channel). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ext2fs/ext2_fs.h>
#include <ext2fs/ext2fs.h>

#include "core/guest_int.h"

struct gext {
    ext2_filsys fs;
    struct gvdisk *v;
    uint64_t base, len;
};

struct gextfile {
    ext2_file_t f;
};

static struct struct_io_manager guest_io; /* forward: the table below */

static errcode_t g_open(const char *name, int flags, io_channel *out)
{
    void *p = NULL;
    (void)flags;
    if (!name || sscanf(name, "amifs-guest:%p", &p) != 1 || !p)
        return EXT2_ET_BAD_DEVICE_NAME;
    io_channel ch = calloc(1, sizeof *ch);
    char *nm = strdup(name);
    if (!ch || !nm) {
        free(ch);
        free(nm);
        return EXT2_ET_NO_MEMORY;
    }
    ch->magic = EXT2_ET_MAGIC_IO_CHANNEL;
    ch->manager = &guest_io;
    ch->name = nm;
    ch->block_size = 1024;
    ch->refcount = 1;
    ch->private_data = p;
    *out = ch;
    return 0;
}

static errcode_t g_close(io_channel ch)
{
    if (--ch->refcount > 0)
        return 0;
    free(ch->name);
    free(ch);
    return 0;
}

static errcode_t g_set_blksize(io_channel ch, int blksize)
{
    ch->block_size = blksize;
    return 0;
}

static errcode_t g_read64(io_channel ch, unsigned long long block, int count,
                          void *data)
{
    struct gext *e = ch->private_data;
    uint64_t size = count < 0 ? (uint64_t)-(int64_t)count
                              : (uint64_t)count * (uint64_t)ch->block_size;
    uint64_t off = (uint64_t)block * (uint64_t)ch->block_size;
    if (off > e->len || size > e->len - off)
        return EXT2_ET_SHORT_READ;
    return gvd_read(e->v, e->base + off, data, (size_t)size) == 0
               ? 0
               : EXT2_ET_SHORT_READ;
}

static errcode_t g_read(io_channel ch, unsigned long block, int count,
                        void *data)
{
    return g_read64(ch, block, count, data);
}

static errcode_t g_write(io_channel ch, unsigned long block, int count,
                         const void *data)
{
    (void)ch, (void)block, (void)count, (void)data;
    return EXT2_ET_UNIMPLEMENTED;
}

static errcode_t g_write64(io_channel ch, unsigned long long block, int count,
                           const void *data)
{
    (void)ch, (void)block, (void)count, (void)data;
    return EXT2_ET_UNIMPLEMENTED;
}

static errcode_t g_flush(io_channel ch)
{
    (void)ch;
    return 0;
}

static struct struct_io_manager guest_io = {
    .magic = EXT2_ET_MAGIC_IO_MANAGER,
    .name = "amifs guest reader",
    .open = g_open,
    .close = g_close,
    .set_blksize = g_set_blksize,
    .read_blk = g_read,
    .write_blk = g_write,
    .flush = g_flush,
    .read_blk64 = g_read64,
    .write_blk64 = g_write64,
};

struct gext *gext_open(struct gvdisk *v, const struct gpart *part, char *why,
                       size_t n)
{
    struct gext *e = calloc(1, sizeof *e);
    char name[64];
    if (!e) {
        snprintf(why, n, "out of memory");
        return NULL;
    }
    e->v = v;
    e->base = part->off;
    e->len = part->len;
    snprintf(name, sizeof name, "amifs-guest:%p", (void *)e);
    errcode_t rc = ext2fs_open2(name, NULL,
                                EXT2_FLAG_64BITS | EXT2_FLAG_IGNORE_CSUM_ERRORS,
                                0, 0, &guest_io, &e->fs);
    if (rc != 0) {
        int err = v->src->err;
        snprintf(why, n, "%s could not be opened (%s)", part->fs,
                 err == -EFBIG ? "read budget spent"
                 : err          ? strerror(-err)
                                : "libext2fs refused its superblock");
        free(e);
        return NULL;
    }
    return e;
}

void gext_close(struct gext *e)
{
    if (!e)
        return;
    ext2fs_close_free(&e->fs);
    free(e);
}

static int lookup(struct gext *e, const char *path, ext2_ino_t *ino,
                  struct ext2_inode *in)
{
    if (ext2fs_namei_follow(e->fs, EXT2_ROOT_INO, EXT2_ROOT_INO, path, ino))
        return -1;
    return ext2fs_read_inode(e->fs, *ino, in) ? -1 : 0;
}

bool gext_exists(struct gext *e, const char *path)
{
    ext2_ino_t ino;
    struct ext2_inode in;
    return lookup(e, path, &ino, &in) == 0;
}

struct gextfile *gext_fopen(struct gext *e, const char *path)
{
    ext2_ino_t ino;
    struct ext2_inode in;
    if (lookup(e, path, &ino, &in) != 0 || !LINUX_S_ISREG(in.i_mode))
        return NULL;
    struct gextfile *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    if (ext2fs_file_open(e->fs, ino, 0, &f->f) != 0) {
        free(f);
        return NULL;
    }
    return f;
}

long gext_fread(struct gextfile *f, void *buf, size_t n)
{
    unsigned int got = 0;
    if (n > (1u << 30))
        n = 1u << 30;
    if (ext2fs_file_read(f->f, buf, (unsigned int)n, &got) != 0)
        return -1;
    return (long)got;
}

void gext_fclose(struct gextfile *f)
{
    if (!f)
        return;
    ext2fs_file_close(f->f);
    free(f);
}

char *gext_slurp(struct gext *e, const char *path, size_t max, size_t *len)
{
    struct gextfile *f = gext_fopen(e, path);
    if (!f)
        return NULL;
    char *buf = malloc(max + 1);
    size_t have = 0;
    long got = 1;
    while (buf && have < max && got > 0) {
        got = gext_fread(f, buf + have, max - have);
        if (got > 0)
            have += (size_t)got;
    }
    gext_fclose(f);
    if (!buf || got < 0) {
        free(buf);
        return NULL;
    }
    buf[have] = '\0';
    if (len)
        *len = have;
    return buf;
}

struct listing {
    void (*fn)(const char *name, void *arg);
    void *arg;
};

static int list_cb(ext2_ino_t dir, int entry, struct ext2_dir_entry *d,
                   int offset, int blocksize, char *buf, void *priv)
{
    struct listing *l = priv;
    char name[256];
    int len = ext2fs_dirent_name_len(d);
    (void)dir, (void)entry, (void)offset, (void)blocksize, (void)buf;
    if (len <= 0 || len >= (int)sizeof name)
        return 0;
    memcpy(name, d->name, (size_t)len);
    name[len] = '\0';
    if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0)
        l->fn(name, l->arg);
    return 0;
}

int gext_list(struct gext *e, const char *dir,
              void (*fn)(const char *name, void *arg), void *arg)
{
    ext2_ino_t ino;
    struct ext2_inode in;
    if (lookup(e, dir, &ino, &in) != 0 || !LINUX_S_ISDIR(in.i_mode))
        return -1;
    struct listing l = {fn, arg};
    return ext2fs_dir_iterate2(e->fs, ino, 0, NULL, list_cb, &l) ? -1 : 0;
}
