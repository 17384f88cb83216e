/*
 * errlog.h — the mount's record of refusals, readable by the user.
 *
 * Every time amifs refuses something a person asked for (a copy into
 * imports/ that cannot become an import, a value AWS would reject, a write
 * S3 cannot do), the FUSE call returns an errno, and the program that made
 * the call prints only that errno's text ("Permission denied"). The
 * sentence a person can act on goes here: one line per refusal,
 *
 *     2026-12-07T04:01:02Z imports/disk.qcow2 create: Invalid argument:
 *         .qcow2 is not a format VM Import reads; convert it with ...
 *
 * (on one line), served as MOUNT/.amifs/errors (fs/dotamifs.c) and also
 * sent to the mount's logger at warning level, so it reaches syslog, the
 * terminal with -f, or the file of -o log=FILE.
 *
 * The record is a ring of the last ERRLOG_LINES lines: memory is bounded
 * whatever a hostile or looping client does. Paths and sentences are
 * printed with control bytes escaped by core/name.h's name_esc (a name can
 * hold ESC or BEL, and the file is read on terminals). Secrets never belong in a sentence.
 *
 * Threads: every function may be called from any thread; one mutex guards
 * the ring and is never held across anything slow.
 */
#ifndef AMIFS_CORE_ERRLOG_H
#define AMIFS_CORE_ERRLOG_H

#include <stddef.h>

#include "aws/buf.h"
#include "aws/log.h"

#define ERRLOG_LINES 256

struct errlog;

/* A new, empty record that also logs through lg (borrowed; may be NULL).
 * NULL when out of memory. */
struct errlog *errlog_new(const struct aws_logger *lg);
void errlog_free(struct errlog *e);

/* Record one refusal: `path` (mount-relative, may be NULL), the operation
 * ("create", "write", "close", "rename", ...), the positive errno the caller
 * returns, and the sentence (printf format). Returns -err, so a handler can
 * `return errlog_refuse(...)`. */
int errlog_refuse(struct errlog *e, const char *path, const char *op, int err,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* The whole record, oldest line first, appended to out. 0 or -ENOMEM. */
int errlog_render(struct errlog *e, struct buf *out);

/* The last line recorded for `path` (without time and path), copied into
 * out (n bytes); 1 when found, 0 when none. */
int errlog_last_for(struct errlog *e, const char *path, char *out, size_t n);

#endif
