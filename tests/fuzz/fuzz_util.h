/*
 * fuzz_util.h — scratch files for the fuzz targets whose entry points read
 * files (test code only).
 *
 * fuzz_tmpdir() makes one private directory under $TMPDIR (or /tmp) on the
 * first call and removes it with everything in it at exit; it returns its
 * path (never NULL: it aborts when the directory cannot be made, since the
 * target could not test anything). fuzz_path() builds "<tmpdir>/<name>" into
 * a caller buffer. fuzz_write() replaces a file's contents with n bytes and
 * aborts on I/O failure.
 */
#ifndef AMIFS_TESTS_FUZZ_UTIL_H
#define AMIFS_TESTS_FUZZ_UTIL_H

#include <stddef.h>

const char *fuzz_tmpdir(void);
void fuzz_path(char *out, size_t n, const char *name);
void fuzz_write(const char *path, const void *data, size_t n);

#endif
