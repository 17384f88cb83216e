/*
 * preflight.h — what a mount checks before it returns, so a broken setup
 * fails the mount command with one sentence instead of a mount that
 * answers EIO, an empty tasks/ that reads as "no imports", or an import
 * that fails an hour later.
 *
 * The checks, in the order the mount makes them (fs/main.c), each with the
 * exit code the mount command then returns (documented in doc/amifs.1):
 *
 *   3  PREFLIGHT_MOUNTPOINT  the mount point is missing, is not a directory,
 *                            is already an amifs mount (a second daemon would
 *                            stack on the first), or is a dead mount.
 *   6  PREFLIGHT_ENDPOINT    the AWS endpoint cannot be reached (DNS, TCP,
 *                            TLS): nothing was said about the credentials.
 *   4  PREFLIGHT_CREDENTIALS STS GetCallerIdentity refused the credentials
 *                            (wrong secret, expired token, unknown key).
 *   5  PREFLIGHT_BUCKET      bucket= names a bucket that does not exist, that
 *                            these credentials cannot read, or that lies in
 *                            another region than the mount's (VM Import only
 *                            reads a bucket of its own region).
 *
 * With no bucket= the mount goes ahead: imports/ is then read-only and says
 * why (fs/imports.c). `-o lazy_checks` skips the network checks (for
 * mounts made while offline); the mount point is always checked.
 *
 * The sentence for the user is written into `why` (n bytes, always
 * NUL-terminated). No secret ever goes into it: credentials are named by
 * their source, never by value.
 *
 * Threads: call from the mount command, before libfuse starts; nothing
 * here keeps state.
 */
#ifndef AMIFS_CORE_PREFLIGHT_H
#define AMIFS_CORE_PREFLIGHT_H

#include <stddef.h>

#include "aws/client.h"

enum preflight_exit {
    PREFLIGHT_OK = 0,
    PREFLIGHT_MOUNTPOINT = 3,
    PREFLIGHT_CREDENTIALS = 4,
    PREFLIGHT_BUCKET = 5,
    PREFLIGHT_ENDPOINT = 6,
};

/* The account the credentials belong to (GetCallerIdentity). */
struct preflight_identity {
    char account[16];
    char arn[256];
};

/* PREFLIGHT_OK or PREFLIGHT_MOUNTPOINT with the reason in why. Reads
 * /proc/self/mountinfo to find an amifs mount already there. */
int preflight_mountpoint(const char *path, char *why, size_t n);

/* GetCallerIdentity. PREFLIGHT_OK with *id filled, or PREFLIGHT_ENDPOINT /
 * PREFLIGHT_CREDENTIALS with the reason. */
int preflight_identity(struct aws_client *c, struct preflight_identity *id,
                       char *why, size_t n);

/* The staging bucket ("NAME" or "NAME/prefix") exists, can be read, and is
 * in the client's region. PREFLIGHT_OK, PREFLIGHT_ENDPOINT or
 * PREFLIGHT_BUCKET with the reason. */
int preflight_bucket(struct aws_client *c, const char *bucket, char *why,
                     size_t n);

#endif
