/*
 * main.c — the amifs command: mount (the default) and the subcommands
 * (inspect, doctor, setup).
 *
 * Mounting (also as mount.fuse3 runs us for fstab: `amifs SOURCE MOUNTPOINT
 * -o OPTS`, see fs/options.c): options are parsed into struct amifs_opts
 * (fs/options.c), the AWS configuration and credentials are checked with a
 * probe client *before* libfuse daemonizes, so a bad setup fails the mount
 * command with a clear message instead of a daemon that answers EIO. The client
 * the mount uses is created in FUSE's init (after the fork: worker threads and
 * connections must belong to the daemon, not to the parent that exits).
 */
#include "fs/fs.h" /* first: sets FUSE_USE_VERSION */

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "cli/doctor.h"
#include "fs/fsops.h"
#include "fs/options.h"
#include "cli/setup.h"
#include "cli/wait.h"
#include "core/guest.h"
#include "core/preflight.h"
#include "ova/ova.h"

#ifndef AMIFS_VERSION
#define AMIFS_VERSION "unknown"
#endif

static const char *level_name(enum aws_log_level lvl)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    return (unsigned)lvl < 4 ? names[lvl] : "log";
}

/* stderr with -f (one fprintf per line: stdio locks the stream), syslog
 * when daemonized. */
static void log_line(void *ctx, enum aws_log_level lvl, const char *msg)
{
    const struct amifs *fs = ctx;
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

    if (fs->log || fs->opts.foreground) {
        struct timespec ts;
        struct tm tm;
        char when[32];

        clock_gettime(CLOCK_REALTIME, &ts);
        localtime_r(&ts.tv_sec, &tm);
        strftime(when, sizeof(when), "%H:%M:%S", &tm);
        fprintf(fs->log ? fs->log : stderr, "amifs %s.%03ld %s: %s\n", when,
                ts.tv_nsec / 1000000, level_name(lvl), msg);
        if (fs->log)
            fflush(fs->log);
    } else {
        syslog((unsigned)lvl < 4 ? prio[lvl] : LOG_INFO, "%s", msg);
    }
}

/* The network checks of core/preflight.h, with the client just opened. */
static int probe_network(struct amifs *fs)
{
    struct preflight_identity id;
    char why[1024];
    int rc;

    rc = preflight_identity(fs->client, &id, why, sizeof why);
    if (rc == PREFLIGHT_OK && fs->opts.bucket)
        rc = preflight_bucket(fs->client, fs->opts.bucket, why, sizeof why);
    if (rc != PREFLIGHT_OK) {
        fprintf(stderr, "amifs: %s\n", why);
        return rc;
    }
    snprintf(fs->account, sizeof fs->account, "%s", id.account);
    amifs_log(fs, AWS_LOG_INFO, "account %s, region %s%s%s", id.account,
              aws_client_region(fs->client), fs->opts.bucket ? ", bucket " : "",
              fs->opts.bucket ? fs->opts.bucket : "");
    return PREFLIGHT_OK;
}

/* Resolve configuration and credentials once, in the foreground, then
 * (unless lazy_checks) ask AWS whether they work. 0, or the exit code. */
static int probe_aws(struct amifs *fs)
{
    struct aws_error err;
    struct aws_credentials cr;
    char msg[768];
    int rc = PREFLIGHT_OK;

    aws_error_clear(&err);
    if (amifs_client_open(fs, &err) < 0) {
        aws_error_format(&err, msg, sizeof(msg));
        fprintf(stderr, "amifs: cannot set up the AWS client: %s\n", msg);
        return 1;
    }
    memset(&cr, 0, sizeof(cr));
    if (aws_creds_get(aws_client_creds(fs->client), &cr, &err) < 0) {
        aws_error_format(&err, msg, sizeof(msg));
        fprintf(stderr,
                "amifs: no AWS credentials: %s\n"
                "amifs: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                "AWS_PROFILE / -o profile=NAME (see `aws configure`)\n",
                msg);
        rc = PREFLIGHT_CREDENTIALS;
    } else {
        amifs_log(fs, AWS_LOG_INFO, "region %s, credentials from %s",
                  aws_client_region(fs->client), cr.source ? cr.source : "?");
        aws_credentials_release(&cr);
        if (!fs->opts.lazy_checks)
            rc = probe_network(fs);
    }
    aws_client_free(fs->client);
    fs->client = NULL;
    return rc;
}

/* -o log=FILE: opened once, before the daemon forks (append, 0600). */
static int open_log(struct amifs *fs)
{
    int fd;

    if (!fs->opts.log_file)
        return 0;
    fd = open(fs->opts.log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
              0600);
    if (fd < 0 || !(fs->log = fdopen(fd, "a"))) {
        fprintf(stderr, "amifs: cannot open the log file %s: %s\n",
                fs->opts.log_file, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return 0;
}

static void usage(FILE *out, const char *prog)
{
    fprintf(out,
            "usage: %s [-o opt,...] MOUNTPOINT   mount an AWS account\n"
            "       %s inspect [--json] FILE    check an image offline\n"
            "       %s inspect --guest [--json] FILE  look inside its guest\n"
            "       %s doctor                   check the account setup\n"
            "       %s setup [--yes]            create bucket and role\n"
            "       %s wait MOUNT/tasks/NAME     wait for an import; exit 0 "
            "only when it completed\n"
            "       %s --version\n\n",
            prog, prog, prog, prog, prog, prog, prog);
}

static void help(const char *prog, struct fuse_args *args)
{
    usage(stdout, prog);
    amifs_opts_help(stdout);
    printf("\nFUSE options:\n");
    fflush(stdout);
    fuse_cmdline_help();
    fuse_lib_help(args);
}

static void setup_identity(struct amifs *fs)
{
    fs->uid = fs->opts.uid_set ? (uid_t)fs->opts.uid : getuid();
    fs->gid = fs->opts.gid_set ? (gid_t)fs->opts.gid : getgid();
    fs->umask = (mode_t)fs->opts.umask;
    fs->mount_time = time(NULL);
    fs->logger.fn = log_line;
    fs->logger.ctx = fs;
    fs->logger.level = fs->opts.debug ? AWS_LOG_DEBUG : AWS_LOG_INFO;
}

/* Mount options every amifs mount gets: the kernel checks the modes we show
 * (only the mounting user gets in unless allow_other), mount(8) shows the
 * filesystem by name, and enough worker threads that uploads waiting on the
 * network leave threads for `ls` (max_idle_threads also keeps libfuse 3.14
 * from warning about its unset default). Inserted before the user's
 * options, so -o max_threads=N still wins. */
static int add_fixed_args(struct fuse_args *args)
{
    return fuse_opt_insert_arg(args, 1,
                               "-odefault_permissions,fsname=amifs,"
                               "subtype=amifs,max_threads=64,"
                               "max_idle_threads=16");
}

static int run_mount(int argc, char **argv)
{
    struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
    struct amifs *fs = calloc(1, sizeof(*fs));
    char why[1024];
    int rc = 1;

    if (!fs || amifs_opts_defaults(&fs->opts) < 0) {
        fprintf(stderr, "amifs: out of memory\n");
        free(fs);
        return 1;
    }
    pthread_mutex_init(&fs->open_lock, NULL);
    if (amifs_opts_parse(&args, &fs->opts) < 0)
        goto out;
    if (fs->opts.show_version) {
        printf("amifs %s\nFUSE library version %s\n", AMIFS_VERSION,
               fuse_pkgversion());
        rc = 0;
        goto out;
    }
    if (fs->opts.show_help) {
        help(argv[0], &args);
        rc = 0;
        goto out;
    }
    setup_identity(fs);
    /* No core file unless asked for: it would hold what the mount read
     * (doc/design/aws.md "Secrets and core dumps"). */
    if (!fs->opts.core_dumps)
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (!fs->opts.foreground && !fs->opts.log_file)
        openlog("amifs", LOG_PID, LOG_DAEMON);
    if (open_log(fs) < 0)
        goto out;
    if ((rc = preflight_mountpoint(fs->opts.mountpoint, why, sizeof why))) {
        fprintf(stderr, "amifs: %s\n", why);
        goto out;
    }
    if ((rc = probe_aws(fs)) != 0)
        goto out;
    rc = 1;
    if (!(fs->errors = errlog_new(&fs->logger)) || add_fixed_args(&args) < 0)
        goto out;
    rc = fuse_main(args.argc, args.argv, amifs_operations(), fs);
    if (fs->client)
        aws_client_free(fs->client);
out:
    fuse_opt_free_args(&args);
    amifs_opts_release(&fs->opts);
    errlog_free(fs->errors);
    if (fs->log)
        fclose(fs->log);
    free(fs);
    return rc;
}

/* amifs inspect [--guest] [--json] FILE: the imports/ validation, or the
 * guest check (core/guest.h), offline. Validation: exit 0 accepted, 1
 * refused, 2 usage error or unreadable file. --guest: 0 ok or warnings,
 * 1 refused by VM Import's rules, 3 not checked, 2 usage/unreadable. */
static int run_inspect(int argc, char **argv)
{
    bool json = false, guest = false;
    int i = 2, rc;
    for (; i < argc - 1; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (strcmp(argv[i], "--guest") == 0)
            guest = true;
        else
            break;
    }
    if (i != argc - 1 || argv[i][0] == '-') {
        fprintf(stderr, "usage: %s inspect [--guest] [--json] FILE\n",
                argv[0]);
        return 2;
    }
    if (guest)
        return guest_inspect_file(argv[i], stdout, json);
    rc = ova_inspect_file(argv[i], stdout, json);
    return rc < 0 ? 2 : rc > 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "inspect") == 0)
        return run_inspect(argc, argv);
    if (argc >= 2 && (strcmp(argv[1], "doctor") == 0 ||
                      strcmp(argv[1], "setup") == 0))
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); /* they read credentials */
    if (argc >= 2 && strcmp(argv[1], "doctor") == 0)
        return amifs_doctor_main(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "setup") == 0)
        return amifs_setup_main(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "wait") == 0)
        return amifs_wait_main(argc - 1, argv + 1);
    return run_mount(argc, argv);
}
