/* wait.c — `amifs wait`: block on tasks/X/wait, exit by the outcome. */
#include "cli/wait.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The wait file for PATH: PATH itself when it is a file, else PATH/wait. */
static int wait_path(const char *path, char *out, size_t n)
{
    struct stat st;

    if (stat(path, &st) < 0)
        return -errno;
    if (S_ISDIR(st.st_mode))
        return snprintf(out, n, "%s/wait", path) < (int)n ? 0 : -ENAMETOOLONG;
    return snprintf(out, n, "%s", path) < (int)n ? 0 : -ENAMETOOLONG;
}

/* Read the whole (small) file; the first read blocks until the task ends. */
static ssize_t read_all(int fd, char *buf, size_t n)
{
    size_t got = 0;

    while (got + 1 < n) {
        ssize_t r = read(fd, buf + got, n - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    buf[got] = '\0';
    return (ssize_t)got;
}

int amifs_wait_main(int argc, char **argv)
{
    char path[4096], line[4096];
    ssize_t n;
    int fd;

    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: amifs wait MOUNT/tasks/NAME\n"
                        "exit 0 completed, 1 failed or cancelled, 2 usage\n");
        return 2;
    }
    if (wait_path(argv[1], path, sizeof path) < 0 ||
        (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        fprintf(stderr, "amifs wait: %s: not a task of an amifs mount (%s)\n",
                argv[1], strerror(errno));
        return 2;
    }
    n = read_all(fd, line, sizeof line);
    close(fd);
    if (n <= 0) {
        fprintf(stderr, "amifs wait: %s: %s\n", path,
                n < 0 ? strerror((int)-n) : "no status");
        return 2;
    }
    fputs(line, stdout);
    if (line[n - 1] != '\n')
        fputc('\n', stdout);
    return strncmp(line, "completed", 9) == 0 ? 0 : 1;
}
