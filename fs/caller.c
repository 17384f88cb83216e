/*
 * caller.c — is the process whose close() we are completing still there to
 * hear the answer? (fs/fs.h amifs_caller_gone; doc/design/upload.md,
 * "Killed during close").
 *
 * A FLUSH is sent by the kernel with FR_FORCE: when the closing process
 * gets a signal while it waits, the kernel sends FUSE an INTERRUPT for the
 * request and keeps waiting (uninterruptibly) for our answer. libfuse marks
 * the request; fuse_interrupted() reads that mark in the handler's thread.
 * A caught signal (SIGCHLD with a handler, SIGWINCH) interrupts too, and
 * that process will read close()'s result: so the caller counts as gone
 * only when the kernel has also queued SIGKILL for the thread — which is
 * what every fatal signal becomes for a thread group (SIGKILL itself, and
 * SIGINT/SIGTERM/... with their default action), visible in the SigPnd /
 * ShdPnd masks of /proc/<tid>/status.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/fs.h"

#define SIGKILL_BIT (1ull << (9 - 1))

/* SIGKILL in the "SigPnd:" or "ShdPnd:" hex mask of a /proc status text. */
static bool sigkill_pending(FILE *f)
{
    char line[256];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        if (strncmp(line, "SigPnd:", 7) != 0 && strncmp(line, "ShdPnd:", 7) != 0)
            continue;
        found = (strtoull(line + 7, NULL, 16) & SIGKILL_BIT) != 0;
    }
    return found;
}

int amifs_caller_gone(void *ctx)
{
    (void)ctx;
    struct fuse_context *c = fuse_get_context();
    if (!c || c->pid <= 0 || !fuse_interrupted())
        return 0;
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)c->pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 1; /* interrupted, and already reaped: nobody to answer */
    bool dying = sigkill_pending(f);
    fclose(f);
    return dying;
}
