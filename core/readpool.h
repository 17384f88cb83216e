/*
 * readpool.h — the mount-wide pool that fetches read-ahead ranges for every
 * open file of buckets/: a memory budget and a few worker threads
 * (design: doc/design/perf.md, "Reads").
 *
 * Who owns what: the mount (fs/buckets.c) creates one pool at init and
 * frees it at destroy, after every reader using it is gone. A reader
 * (core/reader.h) owns its jobs and their buffers; the pool only runs jobs
 * and counts bytes:
 *
 *  - Budget: a reader reserves the bytes of a read-ahead buffer before it
 *    allocates it (rp_reserve never waits: a reader that cannot have more
 *    simply keeps fewer ranges in flight, or reads on its own thread) and
 *    gives them back when it frees the buffer. So read-ahead buffers held
 *    at once, summed over every open file of the mount, never exceed the
 *    budget (option read_memory). This is a bound separate from the
 *    uploads' (aws/mpu.h, option max_memory).
 *  - Workers: at most `workers` threads (option read_concurrency), started
 *    on demand, each running one job at a time — one ranged GET on the
 *    client's pooled connections (aws/client_pool.c). Jobs run in the
 *    order they were submitted.
 *
 * A job's run() is called on a worker with no pool lock held; it must
 * not touch the job after telling its owner it is done (the owner may free
 * it then). rp_unqueue() takes back a job not yet started; a job already
 * started cannot be taken back: its owner asks it to stop (its own cancel
 * flag) and waits for it.
 *
 * Threads: every function is thread-safe. Errors: rp_submit fails only
 * when no worker can run the job (none could be started): the caller then
 * does the work itself.
 */
#ifndef AMIFS_CORE_READPOOL_H
#define AMIFS_CORE_READPOOL_H

#include <stdbool.h>
#include <stddef.h>

struct rp_job {
    struct rp_job *next; /* the pool's queue; the pool's */
    void (*run)(struct rp_job *job);
};

struct read_pool;

/* budget_bytes (0: 64 MiB) of read-ahead buffers, at most `workers`
 * threads (< 1: 8; at most 64). No thread before the first job. NULL when
 * out of memory. */
struct read_pool *read_pool_new(size_t budget_bytes, int workers);
/* Stops and joins the workers; jobs still queued are dropped (their
 * owners must be gone). NULL is ignored. */
void read_pool_free(struct read_pool *p);

/* Reserve n bytes of the budget: true, or false (nothing reserved) when
 * that would exceed it. */
bool rp_reserve(struct read_pool *p, size_t n);
void rp_release(struct read_pool *p, size_t n);

/* Queue a job. 0, or -1 when no worker exists or could be started. */
int rp_submit(struct read_pool *p, struct rp_job *job);
/* Take a queued job back: true if it was still queued (it will never
 * run), false if a worker has it (or had it). */
bool rp_unqueue(struct read_pool *p, struct rp_job *job);

struct read_pool_stats {
    size_t budget, used, peak; /* bytes */
    int threads;               /* workers started */
    int workers;               /* their limit */
};
void read_pool_stats(struct read_pool *p, struct read_pool_stats *out);

#endif
