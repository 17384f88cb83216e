/* Unit test of fs/options.c: sizes, defaults, the merge of the modules'
 * fuse_opt tables with main's, and that unknown options stay for libfuse.
 * The folder list is a fake one defined here (fs/fs.c is not linked). */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "fs/fsops.h"
#include "fs/options.h"
#include "check.h"

static const struct fuse_opt fake_opts[] = {
    {"bucket=%s", offsetof(struct amifs_opts, bucket), 0},
    {"cleanup", offsetof(struct amifs_opts, cleanup), 1},
    {"poll_interval=%lf", offsetof(struct amifs_opts, poll_interval), 0},
    FUSE_OPT_END,
};
static const struct folder_ops fake_module = {
    .name = "fake",
    .opts = fake_opts,
    .opts_help = "    -o fake\n",
};

size_t amifs_folder_count(void)
{
    return 2;
}

const struct folder_ops *amifs_folder_at(size_t i)
{
    return i == 1 ? &fake_module : NULL; /* 0: a module not built in */
}

int amifs_client_open(struct amifs *fs, struct aws_error *err)
{
    return -1; /* not used here */
}

static void test_sizes(void)
{
    unsigned long v;

    CHECK(amifs_parse_size("5242880", &v) == 0 && v == 5242880);
    CHECK(amifs_parse_size("8M", &v) == 0 && v == 8ul << 20);
    CHECK(amifs_parse_size("16MiB", &v) == 0 && v == 16ul << 20);
    CHECK(amifs_parse_size("1G", &v) == 0 && v == 1ul << 30);
    CHECK(amifs_parse_size("512k", &v) == 0 && v == 512ul << 10);
    CHECK(amifs_parse_size("", &v) < 0);
    CHECK(amifs_parse_size("-5M", &v) < 0);
    CHECK(amifs_parse_size("5X", &v) < 0);
    CHECK(amifs_parse_size("M", &v) < 0);
    CHECK(amifs_parse_size("99999999999999999999", &v) < 0);
    CHECK(amifs_parse_size("99999999999T", &v) < 0);
}

static int parse(struct amifs_opts *o, int argc, char **argv,
                 struct fuse_args *args)
{
    args->argc = argc;
    args->argv = argv;
    args->allocated = 0;
    CHECK(amifs_opts_defaults(o) == 0);
    return amifs_opts_parse(args, o);
}

static bool has_arg(const struct fuse_args *a, const char *s)
{
    for (int i = 0; i < a->argc; i++)
        if (strstr(a->argv[i], s))
            return true;
    return false;
}

static void test_parse(void)
{
    char *argv[] = {"amifs",
                    "-f",
                    "-o",
                    "endpoint=http://127.0.0.1:5000,bucket=stage/p,cleanup,"
                    "part_size=16M,cache_ttl=0.5,uid=1234,umask=027,"
                    "allow_other,poll_interval=2,read_concurrency=4,"
                    "read_memory=32M",
                    "/mnt/x",
                    NULL};
    struct amifs_opts o;
    struct fuse_args args;

    CHECK(parse(&o, 5, argv, &args) == 0);
    CHECK(o.foreground == 1 && o.debug == 0);
    CHECK(o.endpoint && strcmp(o.endpoint, "http://127.0.0.1:5000") == 0);
    CHECK(o.bucket && strcmp(o.bucket, "stage/p") == 0);
    CHECK(o.cleanup == 1);
    CHECK(o.part_size == 16ul << 20);
    CHECK(o.cache_ttl == 0.5);
    CHECK(o.uid == 1234 && o.uid_set == 1 && o.gid_set == 0);
    CHECK(o.umask == 027 && o.umask_set == 1);
    CHECK(o.poll_interval == 2.0);
    CHECK(o.upload_concurrency == 10);
    CHECK(o.read_concurrency == 4 && o.read_memory == 32ul << 20);
    CHECK(o.role && strcmp(o.role, "vmimport") == 0);
    /* libfuse's own options and the mount point stay. */
    CHECK(has_arg(&args, "allow_other"));
    CHECK(has_arg(&args, "/mnt/x"));
    CHECK(has_arg(&args, "-f"));
    CHECK(!has_arg(&args, "endpoint="));
    CHECK(!has_arg(&args, "part_size="));
    fuse_opt_free_args(&args);
    amifs_opts_release(&o);
}

static void test_defaults_and_errors(void)
{
    char *ok_argv[] = {"amifs", "-d", "/mnt/x", NULL};
    char *small[] = {"amifs", "-o", "part_size=1M", "/mnt/x", NULL};
    char *badsize[] = {"amifs", "-o", "part_size=lots", "/mnt/x", NULL};
    char *conc[] = {"amifs", "-o", "upload_concurrency=0", "/mnt/x", NULL};
    char *rconc[] = {"amifs", "-o", "read_concurrency=65", "/mnt/x", NULL};
    char *rmem[] = {"amifs", "-o", "read_memory=4M", "/mnt/x", NULL};
    char *help[] = {"amifs", "--help", NULL};
    struct amifs_opts o;
    struct fuse_args args;

    CHECK(parse(&o, 3, ok_argv, &args) == 0);
    CHECK(o.debug == 1 && o.foreground == 1);
    CHECK(o.part_size == 8ul << 20 && o.cache_ttl == 5.0 && o.umask == 022);
    CHECK(o.read_concurrency == 8 && o.read_memory == 64ul << 20);
    fuse_opt_free_args(&args);
    amifs_opts_release(&o);
    fprintf(stderr, "(five option errors expected below)\n");
    CHECK(parse(&o, 4, small, &args) < 0);
    fuse_opt_free_args(&args);
    amifs_opts_release(&o);
    CHECK(parse(&o, 4, badsize, &args) < 0);
    fuse_opt_free_args(&args);
    amifs_opts_release(&o);
    CHECK(parse(&o, 4, conc, &args) < 0);
    fuse_opt_free_args(&args);
    amifs_opts_release(&o);
    CHECK(parse(&o, 4, rconc, &args) < 0);
    fuse_opt_free_args(&args);
    amifs_opts_release(&o);
    CHECK(parse(&o, 4, rmem, &args) < 0);
    fuse_opt_free_args(&args);
    amifs_opts_release(&o);
    CHECK(parse(&o, 2, help, &args) == 0 && o.show_help == 1);
    fuse_opt_free_args(&args);
    amifs_opts_release(&o);
}

/* mount.fuse3 (fstab, mount -t fuse.amifs) runs `amifs SOURCE MOUNTPOINT
 * -o OPTS` with mount(8)'s and systemd's options mixed in. */
static void test_mount_helper_form(void)
{
    char *argv[] = {"amifs",
                    "amifs",
                    "/mnt/y",
                    "-o",
                    "rw,_netdev,nofail,x-systemd.automount,comment=hi,"
                    "region=eu-west-1",
                    NULL};
    char *three[] = {"amifs", "a", "b", "c", NULL};
    struct amifs_opts o;
    struct fuse_args args;

    CHECK(parse(&o, 5, argv, &args) == 0);
    CHECK(o.source && strcmp(o.source, "amifs") == 0);
    CHECK(o.mountpoint && strcmp(o.mountpoint, "/mnt/y") == 0);
    CHECK(o.region && strcmp(o.region, "eu-west-1") == 0);
    CHECK(has_arg(&args, "/mnt/y") && has_arg(&args, "rw"));
    CHECK(!has_arg(&args, "_netdev") && !has_arg(&args, "x-systemd"));
    CHECK(!has_arg(&args, "comment") && !has_arg(&args, "nofail"));
    /* the source is not passed on: libfuse takes one mount point */
    for (int i = 1; i < args.argc; i++)
        CHECK(strcmp(args.argv[i], "amifs") != 0);
    fuse_opt_free_args(&args);
    amifs_opts_release(&o);
    CHECK(parse(&o, 4, three, &args) < 0);
    fuse_opt_free_args(&args);
    amifs_opts_release(&o);
}

/* allow_other opens the mount to other users: without an explicit umask=
 * the umask becomes 027 (owner and group only); allow_other still reaches
 * libfuse. */
static void test_allow_other_umask(void)
{
    char *bare[] = {"amifs", "-o", "allow_other", "/mnt/x", NULL};
    char *given[] = {"amifs", "-o", "allow_other,umask=022", "/mnt/x", NULL};
    struct amifs_opts o;
    struct fuse_args args;

    CHECK(parse(&o, 4, bare, &args) == 0);
    CHECK(o.allow_other == 1 && o.umask == 027, "umask %o", o.umask);
    CHECK(has_arg(&args, "allow_other"));
    fuse_opt_free_args(&args);
    amifs_opts_release(&o);
    CHECK(parse(&o, 4, given, &args) == 0);
    CHECK(o.allow_other == 1 && o.umask == 022, "umask %o", o.umask);
    CHECK(has_arg(&args, "allow_other"));
    fuse_opt_free_args(&args);
    amifs_opts_release(&o);
}

int main(void)
{
    test_allow_other_umask();
    test_sizes();
    test_mount_helper_form();
    test_parse();
    test_defaults_and_errors();
    return check_exit();
}
