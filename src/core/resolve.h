/* Name resolution, the lookups behind rp_resolve. core/resolve.c keeps the lookups in progress (identical
 * ones are shared), the process-wide pool of resolver threads and the hand-over of results to the
 * workers; the platform runs one lookup: posix/resolve_posix.c (getaddrinfo in a pool thread),
 * win/resolve_win.c (GetAddrInfoExW asynchronously, or GetAddrInfoW in a pool thread where that is
 * missing). docs/architecture.md ("Name resolution") shows how the pieces fit. */
#ifndef RP_RESOLVE_H
#define RP_RESOLVE_H

#include "core/internal.h"

/* Where a lookup is; the resolver's lock guards it. */
enum rp_resolve_state {
    RP_RESOLVE_NEW,     /* created by a submission, not started yet */
    RP_RESOLVE_QUEUED,  /* in the pool's queue */
    RP_RESOLVE_RUNNING, /* a pool thread runs it */
    RP_RESOLVE_ASYNC,   /* the platform runs it asynchronously (Windows' GetAddrInfoExW) */
    RP_RESOLVE_DONE     /* its result was handed to its waiters */
};

/* One lookup: its key (what is looked up), the ops waiting for it, its result. Allocated by the
 * submission that asks for it; freed by the resolver once nothing refers to it. */
struct rp_resolve_job {
    /* the key, set at creation and never changed: lookups with equal keys are shared */
    const char *host;    /* UTF-8, stored after the record */
    const char *service; /* a service name (stored after the host), or NULL: none, or a decimal port
                            that each op puts into its addresses itself */
    int family;          /* 0, RP_AF_INET, RP_AF_INET6 */
    uint32_t flags;      /* RP_RESOLVE_* */
    uint32_t hash;

    /* the resolver's, under its lock */
    rp_resolve_job *table_next; /* the table of lookups later identical ones may join */
    rp_resolve_job *queue_next; /* the pool's queue */
    rp_op *waiters;             /* linked by rp_op_priv.u.resolve.waiter_next */
    uint8_t state;              /* enum rp_resolve_state */
    uint8_t in_table;
    uint8_t issued;             /* ASYNC: the platform call has returned, cancel_handle is set */
    uint8_t cancel_wanted;      /* ASYNC: nobody waits any more: stop it once issued */
    uint32_t refs;              /* the run (queue, pool thread or platform) and, while the platform
                                   call is being made, its caller */
    void *cancel_handle;        /* ASYNC: what rp__resolve_async_cancel needs (Windows: the lookup's
                                   handle) */

    /* the result, written by whoever runs the lookup before it is handed out */
    int err;        /* 0 or an RP_E* code */
    rp_addr *addrs; /* each address once, in the resolver's order */
    uint32_t count;

    void *platform; /* the platform's own state (Windows: UTF-16 strings, the OVERLAPPED) */
};

/* ---- what the core asks of the platform (posix/resolve_posix.c, win/resolve_win.c) ---- */
/* Once per process, under the resolver's lock, before the first lookup: 0 or an RP_E* code. */
int rp__resolve_platform_init(void);
/* At submission, on the submitting thread: the platform's part of a new job (Windows: the UTF-16
 * strings). Returns 0, RP_EINVAL (host or service not valid UTF-8 on Windows) or RP_ENOMEM. */
int rp__resolve_job_prepare(rp_resolve_job *job);
/* Frees what rp__resolve_job_prepare and the lookup left in job->platform. */
void rp__resolve_job_release(rp_resolve_job *job);
/* Whether lookups can run asynchronously without a pool thread (rp__resolve_async_start). Any thread. */
int rp__resolve_async_available(void);

typedef enum rp_resolve_async {
    RP_RESOLVE_ASYNC_NO,      /* not taken: a pool thread must run it (asynchronous lookups unsupported) */
    RP_RESOLVE_ASYNC_PENDING, /* running: rp__resolve_async_done(job) follows, maybe before this returns */
    RP_RESOLVE_ASYNC_FINISHED /* done already: the result is set */
} rp_resolve_async;
/* Starts the lookup without blocking, without the resolver's lock held; *cancel_handle receives what
 * rp__resolve_async_cancel needs. */
rp_resolve_async rp__resolve_async_start(rp_resolve_job *job, void **cancel_handle);
/* With the resolver's lock held: stops a pending asynchronous lookup that nobody waits for any more. It
 * may complete at once, inside this call (rp__resolve_async_done knows). */
void rp__resolve_async_cancel(rp_resolve_job *job);
/* Runs the lookup to its end (on a pool thread): sets job->err, or job->addrs and job->count. */
void rp__resolve_lookup(rp_resolve_job *job);

/* ---- what the platform reports and uses ---- */
/* An asynchronous lookup is done, its result set (any thread). */
void rp__resolve_async_done(rp_resolve_job *job);
/* Makes room for n addresses in job->addrs; RP_ENOMEM if there is none. */
int rp__resolve_reserve(rp_resolve_job *job, size_t n);
/* Adds a to the result unless it is there already (getaddrinfo gives one entry per socket type). */
void rp__resolve_add(rp_resolve_job *job, const rp_addr *a);
/* Test-only: RINGPORT_RESOLVE_DELAY_MS, how long every lookup waits before it reports (0: not at all). */
uint32_t rp__resolve_test_delay_ms(void);

/* ---- the core's calls (submit.c, op.c, worker.c, loop.c) ---- */
/* Checks host and service (rp_resolve's rules) and gives the port a decimal service or none fixes (-1
 * for a service name). Returns 0 or RP_EINVAL. */
int rp__resolve_check(const char *host, const char *service, int32_t *port);
/* Registers loop as a user of the resolver (once per loop; the first one of the process sets the
 * platform up and, where lookups need one, starts the first pool thread). 0 or an RP_E* code. */
int rp__resolver_acquire(rp_loop *loop);
/* rp_loop_destroy, once every op of the loop has completed: the last loop that used the resolver makes
 * its threads end: idle ones are joined, ones still inside a lookup are detached and end after it. */
void rp__resolver_release(void);
/* A job for a submission checked by rp__resolve_check; service is a service name or NULL (none, or a
 * decimal port: the ops apply their port themselves, so lookups of one host for different ports are
 * shared). 0, RP_EINVAL (Windows: not UTF-8) or RP_ENOMEM. */
int rp__resolve_job_new(const char *host, const char *service, const rp_resolve_hints *hints,
                        rp_resolve_job **out);
/* Frees the job a resolve submission carries when its start fails before rp__resolve_start (its
 * deadline could not be armed). */
void rp__resolve_drop(rp_op *op);
/* On the op's worker (rp__op_start): starts the lookup the submission asked for, or joins an identical
 * one in progress; completes at once what needs no lookup (a numeric host) or cannot run. */
void rp__resolve_start(rp_worker *w, rp_op *op, int cancelled);
/* On the op's worker: a pending resolve op is cancelled: it completes with RP_ECANCELED now, unless its
 * result is already in the worker's resolve inbox. */
void rp__resolve_cancel(rp_worker *w, rp_op *op);
/* On the worker: completes the ops whose lookups are done. */
void rp__resolve_drain(rp_worker *w);
/* On the worker, when the loop is destroyed: cancels every resolve op of the worker. */
void rp__resolve_sweep(rp_worker *w);

#endif
