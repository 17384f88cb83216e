/* base.c — the bottom of ova/: what the validator (validator.c) and the
 * code on its OVA thread (archive.c, and the checks of disk.c, ovf.c,
 * manifest.c) share. Strings and verdicts; the ring's reading end, the
 * refusal and the cancel flag, all under the validator's mutex or atomic
 * (ova/internal.h, "Threads"). Calls nothing else in ova/, so no file of
 * ova/ has to call back up into validator.c. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ova/internal.h"

void ova_strlcpy(char *dst, const char *s, size_t dsz)
{
    size_t n = strlen(s);
    if (n >= dsz)
        n = dsz - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

bool ova_ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

void verdict_set(struct ova_verdict *vd, const char *code, const char *fmt,
                 ...)
{
    va_list ap;
    ova_strlcpy(vd->code, code, sizeof vd->code);
    va_start(ap, fmt);
    vsnprintf(vd->reason, sizeof vd->reason, fmt, ap);
    va_end(ap);
}

void ova_refuse(struct ova_validator *v, const struct ova_verdict *vd)
{
    pthread_mutex_lock(&v->mu);
    if (!v->refused) {
        v->verdict = *vd;
        v->refused = true;
    }
    pthread_cond_broadcast(&v->space_cv);
    pthread_cond_broadcast(&v->data_cv);
    pthread_mutex_unlock(&v->mu);
}

long ova_ring_lend(struct ova_validator *v, const unsigned char **out,
                   size_t max)
{
    pthread_mutex_lock(&v->mu);
    if (v->ring_lent) { /* the previous block is done with */
        v->ring_head = (v->ring_head + v->ring_lent) % OVA_RING_SIZE;
        v->ring_len -= v->ring_lent;
        v->ring_lent = 0;
        pthread_cond_broadcast(&v->space_cv);
    }
    while (v->ring_len == 0 && !v->eof && !v->abort && !v->refused) {
        v->idle = true;
        pthread_cond_broadcast(&v->space_cv);
        pthread_cond_wait(&v->data_cv, &v->mu);
    }
    v->idle = false;
    if (v->abort || v->refused) {
        pthread_mutex_unlock(&v->mu);
        return -1;
    }
    size_t n = v->ring_len;
    if (n > OVA_RING_SIZE - v->ring_head)
        n = OVA_RING_SIZE - v->ring_head;
    if (n > max)
        n = max;
    *out = v->ring + v->ring_head;
    v->ring_lent = n;
    pthread_mutex_unlock(&v->mu);
    return (long)n;
}

bool ova_cancelled(const struct ova_validator *v)
{
    return __atomic_load_n(&v->cancel_flag, __ATOMIC_ACQUIRE);
}
