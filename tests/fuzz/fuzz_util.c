/*
 * fuzz_util.c — scratch files for the fuzz targets (contract in
 * fuzz_util.h). The directory name lives in a function-local static: a
 * fuzz target is a process of its own and libFuzzer's entry points take no
 * context argument, so there is nowhere else to keep it.
 */
#include "fuzz_util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *tmpdir_buf(void)
{
    static char dir[512];

    return dir;
}

static void cleanup(void)
{
    char *dir = tmpdir_buf();
    char path[1024];
    DIR *d = opendir(dir);
    struct dirent *e;

    if (!d)
        return;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    closedir(d);
    rmdir(dir);
}

const char *fuzz_tmpdir(void)
{
    char *dir = tmpdir_buf();
    const char *base = getenv("TMPDIR");

    if (dir[0])
        return dir;
    snprintf(dir, 512, "%s/amifs-fuzz-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(cleanup);
    return dir;
}

void fuzz_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", fuzz_tmpdir(), name);
}

void fuzz_write(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "w");

    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f)) {
        perror(path);
        abort();
    }
}
