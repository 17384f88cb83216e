/*
 * options.h — the command line of the mount: defaults, the merged fuse_opt
 * table (main's own options plus each folder module's `opts`), help text.
 *
 * Options that amifs does not know stay in `args` for libfuse (allow_other,
 * -f, -d, -s, ro, …). String fields of struct amifs_opts are malloc'd (or
 * NULL) and owned by the struct: amifs_opts_release() frees them.
 */
#ifndef AMIFS_FS_OPTIONS_H
#define AMIFS_FS_OPTIONS_H

#include <stdio.h>

#include "fs/fs.h"

/* Fill every field with its documented default. 0, or -1 out of memory. */
int amifs_opts_defaults(struct amifs_opts *o);
void amifs_opts_release(struct amifs_opts *o);

/* Parse -o options and the flags main cares about (-f, -d, -h, -V) from
 * `args`, consuming amifs' options and keeping the rest for libfuse. Returns
 * 0, or -1 after printing one line that names the bad option to stderr. */
int amifs_opts_parse(struct fuse_args *args, struct amifs_opts *o);

/* Print amifs' own and the modules' option help. */
void amifs_opts_help(FILE *out);

/* "8M", "5242880", "1G", "512k" → bytes (K/M/G/T are powers of 1024).
 * 0, or -1 when not a size. */
int amifs_parse_size(const char *s, unsigned long *out);

#endif
