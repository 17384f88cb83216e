/*
 * secmem.c — DONTDUMP memory for secrets (contract in secmem.h).
 *
 * A block is one anonymous mapping: a 16-byte header holding the mapping's
 * length, then the caller's bytes.
 */
#include "aws/secmem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define HEADER 16

static size_t page_size(void)
{
    long p = sysconf(_SC_PAGESIZE);

    return p > 0 ? (size_t)p : 4096;
}

void *aws_secure_alloc(size_t n)
{
    size_t pg = page_size();
    size_t len;
    unsigned char *m;

    if (n > SIZE_MAX - HEADER - pg)
        return NULL;
    len = (n + HEADER + pg - 1) / pg * pg;
    m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
             -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    (void)madvise(m, len, MADV_DONTDUMP);
    memcpy(m, &len, sizeof len);
    return m + HEADER;
}

void aws_secure_free(void *p)
{
    unsigned char *m;
    size_t len;

    if (!p)
        return;
    m = (unsigned char *)p - HEADER;
    memcpy(&len, m, sizeof len);
    OPENSSL_cleanse(m, len);
    munmap(m, len);
}

void aws_secure_exclude(const void *p, size_t n)
{
    uintptr_t pg = page_size();
    uintptr_t a = (uintptr_t)p / pg * pg;
    uintptr_t e = ((uintptr_t)p + n + pg - 1) / pg * pg;

    if (p && n)
        (void)madvise((void *)a, e - a, MADV_DONTDUMP);
}

void aws_secure_exclude_env(void)
{
    static const char *const names[] = {
        "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN"};

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = getenv(names[i]);

        if (v)
            aws_secure_exclude(v, strlen(v) + 1);
    }
}
