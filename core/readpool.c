/*
 * readpool.c — read-ahead workers and budget (contract in readpool.h).
 *
 * Lock: p->lock guards the queue, the thread list and the byte counts; it
 * is never held while a job runs.
 */
#include <pthread.h>
#include <stdlib.h>

#include "core/readpool.h"

#define DEFAULT_BUDGET ((size_t)64 << 20)
#define DEFAULT_WORKERS 8
#define MAX_WORKERS 64

struct read_pool {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct rp_job *head, *tail;
    size_t budget, used, peak;
    int workers, nthreads, idle;
    bool stopping;
    pthread_t threads[MAX_WORKERS];
};

struct read_pool *read_pool_new(size_t budget_bytes, int workers)
{
    struct read_pool *p = calloc(1, sizeof *p);

    if (!p)
        return NULL;
    p->budget = budget_bytes ? budget_bytes : DEFAULT_BUDGET;
    p->workers = workers < 1 ? DEFAULT_WORKERS
                 : workers > MAX_WORKERS ? MAX_WORKERS : workers;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    return p;
}

void read_pool_free(struct read_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

bool rp_reserve(struct read_pool *p, size_t n)
{
    bool ok;

    pthread_mutex_lock(&p->lock);
    ok = n <= p->budget - p->used;
    if (ok) {
        p->used += n;
        if (p->used > p->peak)
            p->peak = p->used;
    }
    pthread_mutex_unlock(&p->lock);
    return ok;
}

void rp_release(struct read_pool *p, size_t n)
{
    pthread_mutex_lock(&p->lock);
    p->used = n > p->used ? 0 : p->used - n;
    pthread_mutex_unlock(&p->lock);
}

static struct rp_job *pop_locked(struct read_pool *p)
{
    struct rp_job *j = p->head;

    if (j) {
        p->head = j->next;
        if (!p->head)
            p->tail = NULL;
        j->next = NULL;
    }
    return j;
}

static void *worker_main(void *arg)
{
    struct read_pool *p = arg;

    pthread_mutex_lock(&p->lock);
    while (!p->stopping) {
        struct rp_job *j = pop_locked(p);
        if (!j) {
            p->idle++;
            pthread_cond_wait(&p->cond, &p->lock);
            p->idle--;
            continue;
        }
        pthread_mutex_unlock(&p->lock);
        j->run(j); /* j may be gone once this returns */
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* One more worker when every started one is busy. p->lock held. */
static void grow_locked(struct read_pool *p)
{
    int queued = 0;

    for (struct rp_job *j = p->head; j; j = j->next)
        queued++;
    if (queued <= p->idle || p->nthreads >= p->workers)
        return;
    if (pthread_create(&p->threads[p->nthreads], NULL, worker_main, p) == 0)
        p->nthreads++;
}

int rp_submit(struct read_pool *p, struct rp_job *job)
{
    int rc = 0;

    job->next = NULL;
    pthread_mutex_lock(&p->lock);
    if (p->stopping) {
        pthread_mutex_unlock(&p->lock);
        return -1;
    }
    if (p->tail)
        p->tail->next = job;
    else
        p->head = job;
    p->tail = job;
    grow_locked(p);
    if (p->nthreads == 0) {
        pop_locked(p); /* the only job (no worker ever ran one) */
        rc = -1;
    } else {
        pthread_cond_signal(&p->cond);
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

bool rp_unqueue(struct read_pool *p, struct rp_job *job)
{
    bool found = false;

    pthread_mutex_lock(&p->lock);
    for (struct rp_job **pp = &p->head, *prev = NULL; *pp;
         prev = *pp, pp = &(*pp)->next) {
        if (*pp != job)
            continue;
        *pp = job->next;
        if (p->tail == job)
            p->tail = prev;
        job->next = NULL;
        found = true;
        break;
    }
    pthread_mutex_unlock(&p->lock);
    return found;
}

void read_pool_stats(struct read_pool *p, struct read_pool_stats *out)
{
    pthread_mutex_lock(&p->lock);
    out->budget = p->budget;
    out->used = p->used;
    out->peak = p->peak;
    out->threads = p->nthreads;
    out->workers = p->workers;
    pthread_mutex_unlock(&p->lock);
}
