/*
 * root.c — MOUNT/README: what each folder is for, for someone who opened the
 * mount in a file manager. A folder module whose only node is the file itself
 * (rel ""), read-only, served with direct_io from static text.
 */
#include <errno.h>
#include <string.h>

#include "fs/fs.h"

static const char readme_text[] =
    "amifs — this folder is your AWS account (one region).\n"
    "\n"
    "buckets/   Your S3 buckets. Open, copy, rename and delete files as\n"
    "           usual: buckets/BUCKET/folder/file is the object\n"
    "           s3://BUCKET/folder/file. Copies into a bucket are uploaded\n"
    "           while they are written; a copy that fails reports an error\n"
    "           and leaves nothing half-written behind. The ETag of a file\n"
    "           is its extended attribute user.amifs.etag.\n"
    "\n"
    "imports/   Drop box for virtual machines. Copy an exported VM here\n"
    "           (.ova, .vmdk, .vhd, .vhdx, .raw or .img) and it becomes an\n"
    "           AMI: the file is checked and uploaded while it is copied,\n"
    "           then EC2 VM Import starts. A bad image fails the copy with a\n"
    "           message in tasks/NAME/status.\n"
    "\n"
    "tasks/     One folder per import. tasks/NAME/status says where it is\n"
    "           (uploading, validating, active, completed, failed);\n"
    "           reading tasks/NAME/wait blocks until it ends; tasks/NAME/ami\n"
    "           points to the new AMI; tasks/NAME/diagnosis explains a\n"
    "           failure and how to fix it. Deleting an active task's folder\n"
    "           cancels it.\n"
    "\n"
    "amis/      The AMIs this account owns: amis/ami-.../image.json, its\n"
    "           state, tags/KEY files (write to set, delete to remove),\n"
    "           snapshots and launch-permissions. Deleting an AMI's folder\n"
    "           deregisters it and deletes its snapshots. mkdir\n"
    "           amis/ID/copy-to/REGION copies it to another region;\n"
    "           amis/by-name/NAME finds an AMI by its name.\n"
    "           copy-to/REGION@alias%2FKEY makes an encrypted copy (the\n"
    "           same region too). amis/shared/ lists the AMIs other\n"
    "           accounts shared with this one (read-only; copy-to/).\n"
    "\n"
    "instances/ instances/ID/state, name, type, volumes, tags/. mkdir\n"
    "           instances/ID/image/NAME makes an AMI, rebooting the instance\n"
    "           (consistent file systems); image-noreboot/NAME does not\n"
    "           reboot (crash-consistent, like pulling the power cord).\n"
    "\n"
    "snapshots/ snapshots/ID/info.json, size, amis, tags/; mkdir\n"
    "           snapshots/ID/register/NAME registers an AMI from it;\n"
    "           snapshots/orphans/ lists VM Import snapshots no AMI uses\n"
    "           (dry-run shows the GiB; rm deletes one).\n"
    "\n"
    "exports/   The way back out. mkdir amis/ID/export-to/vmdk (or vhd,\n"
    "           raw) exports the AMI into the staging bucket; exports/TASK/\n"
    "           has status, wait, file (the object) and, for a VMDK, an\n"
    "           .ova made on the fly. mkdir amis/ID/store stores the AMI.\n"
    "           ln -s ../buckets/B/KEY imports/NAME imports an object\n"
    "           where it lies.\n"
    "\n"
    "regions/   regions/REGION/amis (and tasks) show another region, so a\n"
    "           copy can be followed without mounting again.\n"
    "\n"
    "Errors are also logged (syslog, or the terminal with amifs -f).\n"
    "Run `amifs doctor` to check that imports can work in this account.\n";

static int readme_getattr(struct amifs *fs, const char *rel, struct stat *st,
                          struct fuse_file_info *fi)
{
    if (rel[0] != '\0')
        return -ENOTDIR;
    amifs_stat_file(fs, st, sizeof(readme_text) - 1, fs->mount_time, false);
    return 0;
}

static int readme_open(struct amifs *fs, const char *rel,
                       struct fuse_file_info *fi)
{
    if (rel[0] != '\0')
        return -ENOTDIR;
    if ((fi->flags & O_ACCMODE) != O_RDONLY)
        return -EACCES;
    fi->direct_io = 1;
    return 0;
}

static int readme_read(struct amifs *fs, const char *rel, char *buf, size_t n,
                       off_t off, struct fuse_file_info *fi)
{
    size_t len = sizeof(readme_text) - 1;

    if (off < 0)
        return -EINVAL;
    if ((size_t)off >= len)
        return 0;
    if (n > len - (size_t)off)
        n = len - (size_t)off;
    memcpy(buf, readme_text + off, n);
    return (int)n;
}

static int readme_refuse(struct amifs *fs, const char *rel, off_t size,
                         struct fuse_file_info *fi)
{
    return -EACCES;
}

const struct folder_ops readme_folder = {
    .name = "README",
    .getattr = readme_getattr,
    .open = readme_open,
    .read = readme_read,
    .truncate = readme_refuse,
};
