/*
 * amis_retire.h — deprecation and disabling as files of amis/ami-…/
 * (fs/amis.c buffers the writes and calls these once, at the completing
 * close; see doc/design/lifecycle.md):
 *
 *   deprecation   the image's DeprecationTime ("" when none). Writing a
 *                 time YYYY-MM-DDTHH:MM[:SS][Z] (UTC) calls
 *                 EnableImageDeprecation; writing nothing (`: > f`)
 *                 DisableImageDeprecation.
 *   disabled      "true" or "false". Writing true calls DisableImage (EC2
 *                 makes a shared or public image private), false
 *                 EnableImage.
 *
 * A value that is not one of these is EINVAL before any call (logged in
 * .amifs/errors with `what`); an AWS refusal (a time in the past, more
 * than 10 years ahead, a wrong state) is its errno with EC2's message.
 * Stateless and thread-safe; makes one HTTP call.
 */
#ifndef AMIFS_FS_AMIS_RETIRE_H
#define AMIFS_FS_AMIS_RETIRE_H

#include <stdbool.h>
#include <stddef.h>

#include "fs/fs.h"

/* The bytes written to the file (text[0..n), one trailing newline
 * allowed); `disabled` says which file. 0 or -errno. */
int amis_retire_apply(struct amifs *fs, struct aws_client *c,
                      const char *region, const char *image_id,
                      bool disabled, const char *text, size_t n,
                      const char *what);

#endif
