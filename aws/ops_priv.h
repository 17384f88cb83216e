/*
 * ops_priv.h — helpers shared by the aws/ operation modules (ec2.c, s3.c,
 * iam.c, sts.c). Not for use outside aws/; static inline so no module owns
 * them and no build file changes.
 */
#ifndef AMIFS_AWS_OPS_PRIV_H
#define AMIFS_AWS_OPS_PRIV_H

#include <stddef.h>
#include <stdlib.h>

#include "aws/err.h"

/* Make room for element n of the array *v of `elem`-byte elements, growing
 * it when n reaches a power of two, so appends are amortised O(1) without a
 * capacity field in the public structs. Call before every append with the
 * current count. 0, or -1 with *v untouched (still the caller's to free). */
static inline int aws_grow_array(void **v, size_t n, size_t elem)
{
    if (n != 0 && (n & (n - 1)) != 0)
        return 0;
    size_t cap = n < 8 ? 16 : n * 2;
    void *p = realloc(*v, cap * elem);
    if (!p)
        return -1;
    *v = p;
    return 0;
}

/* Sets err to AWS_ERR_NOMEM and returns -1 (so `return aws_nomem(err);`). */
static inline int aws_nomem(struct aws_error *err)
{
    return aws_error_set(err, AWS_ERR_NOMEM, "out of memory");
}

#endif
