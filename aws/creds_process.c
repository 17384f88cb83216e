/*
 * creds_process.c — run a profile's credential_process with a deadline
 * (contract in creds_priv.h).
 *
 * The command runs as `/bin/sh -c CMD` (the CLI splits it with shlex; a
 * shell accepts the same quoting and more) in a process group of its own,
 * so that a timeout can kill the helper together with anything it started
 * (`aws sso login` wrappers, `op`, `vault`…). posix_spawn is used instead
 * of fork: the daemon is multi-threaded and the child must not run any of
 * the parent's code. stdin and stderr are inherited; stdout is a pipe read
 * here with poll() until EOF or the deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "aws/buf.h"
#include "aws/creds_priv.h"

extern char **environ;

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int spawn_helper(const char *cmd, int out_fd, int close_fd,
                        pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    char *argv[] = {"sh", "-c", (char *)cmd, NULL};
    int rc;

    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, close_fd);
    posix_spawnattr_setpgroup(&at, 0); /* a group of its own */
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
    rc = posix_spawn(pid, "/bin/sh", &fa, &at, argv, environ);
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    return rc;
}

/* Read the pipe into out until EOF. 0 at EOF, 1 on the deadline, -1 when
 * the output is too large or reading failed. */
static int read_until(int fd, struct buf *out, long long deadline)
{
    char chunk[4096];
    int rc = 0;

    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        long long left = deadline - now_ms();
        ssize_t n;

        if (left <= 0) {
            rc = 1;
            break;
        }
        if (poll(&pfd, 1, left > 1000 ? 1000 : (int)left) < 0 &&
            errno != EINTR) {
            rc = -1;
            break;
        }
        if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        n = read(fd, chunk, sizeof chunk);
        if (n == 0)
            break;
        if ((n < 0 && errno != EINTR) ||
            (n > 0 && buf_append(out, chunk, (size_t)n))) {
            rc = -1;
            break;
        }
    }
    OPENSSL_cleanse(chunk, sizeof chunk);
    return rc;
}

/* Wait for the helper; after a timeout or a read error kill its whole
 * group first. Returns the wait status, or -1. */
static int reap(pid_t pid, bool kill_group)
{
    int st = -1;

    if (kill_group)
        kill(-pid, SIGKILL);
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return st;
}

int aws_run_credential_process(const char *cmd, int timeout_s,
                               struct buf *out, struct aws_error *err)
{
    int fds[2];
    pid_t pid;
    int rc, st;

    if (pipe2(fds, O_CLOEXEC))
        return aws_error_set(err, AWS_ERR_CREDENTIALS,
                             "credential_process: pipe: %s", strerror(errno));
    rc = spawn_helper(cmd, fds[1], fds[0], &pid);
    close(fds[1]);
    if (rc) {
        close(fds[0]);
        return aws_error_set(err, AWS_ERR_CREDENTIALS,
                             "credential_process could not be started: %s",
                             strerror(rc));
    }
    rc = read_until(fds[0], out, now_ms() + (long long)timeout_s * 1000);
    close(fds[0]);
    st = reap(pid, rc != 0);
    if (rc == 1)
        return aws_error_set(err, AWS_ERR_CREDENTIALS,
                             "credential_process timed out after %d s and "
                             "was killed",
                             timeout_s);
    if (rc < 0)
        return aws_error_set(err, AWS_ERR_CREDENTIALS,
                             "credential_process: output unreadable or "
                             "larger than 1 MiB");
    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return aws_error_set(err, AWS_ERR_CREDENTIALS,
                             "credential_process failed (status %d)", st);
    return 0;
}
