/*
 * streamcheck.h — does an image tool's first bytes announce that it will
 * write earlier offsets again later?
 *
 * S3 objects are written front to back (core/upload.h). Most writers
 * stream, but some disk tools that open a new file O_RDWR write a layout
 * whose metadata at the front is updated after every later block. The one
 * known today is `qemu-img convert -O vmdk -o subformat=streamOptimized`:
 * its VMDK header (compressed grains) places the grain directory and grain
 * tables at the front (gdOffset set, not "at end"), then, for every 64 KiB
 * grain, qemu writes the grain and goes back to fill two 4-byte grain
 * table entries near offset 10 KiB, and it reads its own header back
 * between the two opens. No bounded window can hold that: the table region
 * grows with the disk and is rewritten until the end.
 *
 * Such a file is refused at the write that completes its header (the
 * first write from which the pattern is known), so nothing is uploaded or
 * imported and the tool stops at once; the caller says, in .amifs/errors,
 * to convert to a local file first and then cp it (a copy of the finished
 * file streams: the same bytes, written in order).
 *
 * Only callers that know the file was opened O_RDWR feed this: `cp` of a
 * finished qemu VMDK (O_WRONLY) is the supported path and is never looked at.
 *
 * A struct streamcheck is plain memory owned by one open file; no locks
 * (the caller's write lock serializes the feeds). Cost: a copy of at most
 * STREAMCHECK_HEAD bytes per write, nothing once decided.
 */
#ifndef AMIFS_CORE_STREAMCHECK_H
#define AMIFS_CORE_STREAMCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STREAMCHECK_HEAD 64 /* a VMDK sparse header up to gdOffset */

struct streamcheck {
    unsigned char b[STREAMCHECK_HEAD];
    unsigned char have[STREAMCHECK_HEAD]; /* 1: byte i was written */
    bool decided;                         /* judged (or given up): done */
};

/* Feed `n` bytes written at `off` (any order, any size). 0: nothing to
 * say (or not known yet); 1: the header announces a layout that rewrites
 * earlier offsets — `why` (whyn bytes) holds the sentence for the user,
 * naming the two-step alternative. After a verdict (or once the header
 * bytes are all in) later calls return 0 at once. */
int streamcheck_feed(struct streamcheck *s, const void *data, size_t n,
                     uint64_t off, char *why, size_t whyn);

#endif
