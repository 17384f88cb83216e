/*
 * secmem.h — memory for secrets that must never reach a core dump.
 *
 * Key material (access key id, secret key and session token of every
 * `struct aws_credentials`, the per-request copies the signer uses) lives in
 * blocks from aws_secure_alloc(): anonymous page-aligned mappings marked
 * MADV_DONTDUMP, so a core file (when the process is dumpable at all, see
 * doc/design/aws.md "Secrets and core dumps") holds zeros there. Blocks are
 * wiped before they are unmapped. Transient copies that cannot live in such
 * a block (a "AWS4"+secret HMAC key, a line of the credentials file) are
 * wiped with OPENSSL_cleanse before their memory is freed.
 *
 * Costs: one mmap/munmap pair per block (one block per credentials struct,
 * i.e. per signed request), at least one page each. Not for bulk data.
 *
 * Threads: every function is thread-safe (no shared state). Errors:
 * aws_secure_alloc() returns NULL (errno from mmap); madvise failing (a
 * kernel without MADV_DONTDUMP) is not an error — the block still works and
 * is still wiped; the process-level protection (non-dumpable) remains.
 */
#ifndef AMIFS_AWS_SECMEM_H
#define AMIFS_AWS_SECMEM_H

#include <stddef.h>

/* n zeroed bytes, excluded from core dumps; NULL on failure. The caller
 * owns the block and releases it with aws_secure_free(). */
void *aws_secure_alloc(size_t n);
/* Wipe and unmap a block from aws_secure_alloc(); NULL is fine. */
void aws_secure_free(void *p);
/* Exclude the pages holding [p, p+n) from core dumps, for secrets whose
 * memory is not ours to allocate (the process environment). The whole
 * pages are excluded, neighbours included. Best effort, no error. */
void aws_secure_exclude(const void *p, size_t n);
/* aws_secure_exclude() on the values of the secret environment variables
 * (AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_SECURITY_TOKEN,
 * AWS_CONTAINER_AUTHORIZATION_TOKEN). Called by the credentials provider
 * when it is created. */
void aws_secure_exclude_env(void);

#endif
