/* Name resolution (rp_resolve): the lookups in progress, shared between identical requests; the
 * process-wide pool of resolver threads; the hand-over of results to the ops' workers; cancel and
 * destroy. The platform file runs one lookup (core/resolve.h).
 *
 * A lookup is a job. A resolve op carries the job its submission created; when the op starts on its
 * worker it either joins an identical job in progress (same host, service, family and flags) or starts
 * its own: into the pool's queue, or asynchronously through the platform (Windows' GetAddrInfoExW).
 * The ops waiting on a job are linked in it. When the job is done, whoever ran it copies the result
 * into each waiter's out array, under the resolver's lock, and pushes the op onto its worker's resolve
 * inbox (a lock-free MPSC stack) and wakes that worker, which completes the op. A cancel takes the op
 * out of its job's waiters under the same lock, so once it has, nothing touches the op or its array:
 * the op completes with RP_ECANCELED at once and the lookup goes on detached. A job nobody waits for
 * any more leaves the queue if it has not started; one that runs is left to finish (Windows: asked to
 * stop), and its result is dropped.
 *
 * The pool belongs to the process, not to a loop: a lookup can outlive the loop that asked for it (a
 * getaddrinfo can block for many seconds without a network), and identical lookups of different loops
 * are shared. Threads start with the first lookup and on demand, up to RESOLVER_THREADS_MAX. When the
 * last loop that used the resolver is destroyed, the threads' generation ends: idle threads are
 * joined, threads inside a lookup are detached and end once it returns; the next lookup starts a new
 * generation. */
#include <stdlib.h>

#include "core/backend.h"
#include "core/mpsc.h"
#include "core/resolve.h"

#define RESOLVER_THREADS_MAX 4
#define TABLE_SIZE 64 /* buckets of the table of jobs in progress (a power of two) */
#define GENERATION_MASK 0x0FFFFFFFu /* generations travel in a thread's argument with its slot */

static struct {
    rp_mutex lock;
    rp_cond work; /* a job was queued, or the generation ended */
    int ready;    /* the platform is set up */
    uint32_t delay_ms;
    uint32_t users; /* loops that used the resolver and are not destroyed yet */
    rp_resolve_job *table[TABLE_SIZE];
    rp_resolve_job *queue_head, *queue_tail;
    uint32_t queued;
    uint32_t generation;
    uint32_t nthreads; /* threads of this generation */
    uint32_t idle;     /* of which waiting for work */
    struct {
        rp_thread thread;
        uint8_t used, busy; /* busy: inside a lookup, outside the lock */
    } slots[RESOLVER_THREADS_MAX];
} R = {.lock = RP_MUTEX_INITIALIZER, .work = RP_COND_INITIALIZER};

/* Set on a thread that holds the lock while it asks the platform to stop a lookup: the platform may
 * report it done inside that call, and rp__resolve_async_done must not take the lock again. */
static RP_THREAD_LOCAL int lock_held_here;

/* ---- hints, checks, the public accessor ---- */
void rp_resolve_hints_init(rp_resolve_hints *hints)
{
    if (!hints)
        return;
    memset(hints, 0, sizeof *hints);
    hints->worker = -1;
}

uint32_t rp_op_resolved(const rp_op *op)
{
    if (!op || op->kind != RP_OP_RESOLVE || op->result < 0)
        return 0;
    return ((const rp_op_priv *)(const void *)op->internal_)->u.resolve.found;
}

/* Length of s if it is at most max bytes, else max + 1; reads no further than that. */
static size_t bounded_len(const char *s, size_t max)
{
    const char *end = memchr(s, '\0', max + 1);
    return end ? (size_t)(end - s) : max + 1;
}

/* A decimal service gives its port; anything else is a service name (-1). */
static int service_port(const char *service, size_t len, int32_t *port)
{
    uint32_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (service[i] < '0' || service[i] > '9') {
            *port = -1;
            return 0;
        }
        v = v * 10u + (uint32_t)(service[i] - '0');
        if (v > 65535u)
            return RP_EINVAL; /* a number, but not a port */
    }
    *port = (int32_t)v;
    return 0;
}

int rp__resolve_check(const char *host, const char *service, int32_t *port)
{
    size_t hlen = bounded_len(host, RP_RESOLVE_HOST_MAX);
    if (hlen == 0 || hlen > RP_RESOLVE_HOST_MAX)
        return RP_EINVAL;
    if (!service) {
        *port = 0;
        return 0;
    }
    size_t slen = bounded_len(service, RP_RESOLVE_SERVICE_MAX);
    if (slen == 0 || slen > RP_RESOLVE_SERVICE_MAX)
        return RP_EINVAL;
    return service_port(service, slen, port);
}

/* ---- jobs ---- */
static uint32_t hash_bytes(uint32_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u; /* FNV-1a */
    return h;
}

int rp__resolve_job_new(const char *host, const char *service, const rp_resolve_hints *hints, rp_resolve_job **out)
{
    int err;
    size_t hlen = strlen(host), slen = service ? strlen(service) : 0;
    rp_resolve_job *job = calloc(1, sizeof *job + hlen + 1 + (service ? slen + 1 : 0));
    if (!job)
        return RP_ENOMEM;
    char *text = (char *)(job + 1);
    memcpy(text, host, hlen + 1);
    job->host = text;
    if (service) {
        memcpy(text + hlen + 1, service, slen + 1);
        job->service = text + hlen + 1;
    }
    job->family = hints->family;
    job->flags = hints->flags;
    uint32_t h = hash_bytes(2166136261u, job->host);
    h = hash_bytes((h ^ 0x1Fu) * 16777619u, job->service ? job->service : "");
    job->hash = (h ^ (uint32_t)job->family * 31u ^ job->flags * 131u) * 16777619u;
    job->state = RP_RESOLVE_NEW;
    job->refs = 1; /* its run */
    if ((err = rp__resolve_job_prepare(job)) != 0) {
        rp__resolve_job_release(job);
        free(job);
        return err;
    }
    *out = job;
    return 0;
}

static void job_free(rp_resolve_job *job)
{
    rp__resolve_job_release(job);
    free(job->addrs);
    free(job);
}

static void job_unref(rp_resolve_job *job)
{
    if (--job->refs == 0)
        job_free(job);
}

static int same_key(const rp_resolve_job *a, const rp_resolve_job *b)
{
    return a->hash == b->hash && a->family == b->family && a->flags == b->flags && strcmp(a->host, b->host) == 0 &&
           (a->service ? b->service && strcmp(a->service, b->service) == 0 : !b->service);
}

static rp_resolve_job *table_find(const rp_resolve_job *key)
{
    for (rp_resolve_job *j = R.table[key->hash & (TABLE_SIZE - 1)]; j; j = j->table_next)
        if (same_key(j, key))
            return j;
    return NULL;
}

static void table_insert(rp_resolve_job *job)
{
    rp_resolve_job **bucket = &R.table[job->hash & (TABLE_SIZE - 1)];
    job->table_next = *bucket;
    *bucket = job;
    job->in_table = 1;
}

static void table_remove(rp_resolve_job *job)
{
    if (!job->in_table)
        return;
    for (rp_resolve_job **at = &R.table[job->hash & (TABLE_SIZE - 1)]; *at; at = &(*at)->table_next)
        if (*at == job) {
            *at = job->table_next;
            break;
        }
    job->in_table = 0;
    job->table_next = NULL;
}

int rp__resolve_reserve(rp_resolve_job *job, size_t n)
{
    if (n == 0 || n > UINT32_MAX / sizeof(rp_addr))
        return n == 0 ? 0 : RP_ENOMEM;
    rp_addr *v = realloc(job->addrs, n * sizeof *v);
    if (!v)
        return RP_ENOMEM;
    job->addrs = v;
    return 0;
}

void rp__resolve_add(rp_resolve_job *job, const rp_addr *a)
{
    for (uint32_t i = 0; i < job->count; i++)
        if (memcmp(&job->addrs[i], a, sizeof *a) == 0)
            return;
    job->addrs[job->count++] = *a;
}

uint32_t rp__resolve_test_delay_ms(void)
{
    return R.delay_ms; /* set once, before the first lookup */
}

/* ---- handing results out ---- */
static void waiter_add(rp_resolve_job *job, rp_op *op)
{
    rp_op_priv *p = RP_PRIV(op);
    p->u.resolve.job = job;
    p->u.resolve.waiter_next = job->waiters;
    job->waiters = op;
}

static void waiter_remove(rp_resolve_job *job, rp_op *op)
{
    for (rp_op **at = &job->waiters; *at; at = &RP_PRIV(*at)->u.resolve.waiter_next)
        if (*at == op) {
            *at = RP_PRIV(op)->u.resolve.waiter_next;
            break;
        }
    RP_PRIV(op)->u.resolve.job = NULL;
    RP_PRIV(op)->u.resolve.waiter_next = NULL;
}

/* The op's share of a result: its addresses (with its port), their number, what it completes with. */
static void fill(rp_op *op, int err, const rp_addr *addrs, uint32_t count)
{
    rp_op_priv *p = RP_PRIV(op);
    uint32_t n = count < p->u.resolve.cap ? count : p->u.resolve.cap;
    for (uint32_t i = 0; i < n && !err; i++) {
        p->u.resolve.out[i] = addrs[i];
        if (p->u.resolve.port >= 0)
            p->u.resolve.out[i].port = (uint16_t)p->u.resolve.port;
    }
    p->u.resolve.found = err ? 0 : count;
    p->u.resolve.result = err ? err : count ? (int32_t)n : RP_ENOTFOUND;
}

/* Under the lock: the job is done; each waiter gets the result and goes to its worker. The waiters'
 * workers are alive: a loop is destroyed only after its ops have left every job (rp__resolve_sweep).
 * The hand-over counts as a foreign submission of the loop, as a submission from another thread does:
 * the worker may complete the op (and the caller destroy the loop) between the push and the wake-up,
 * and rp_loop_destroy waits for foreign submissions in progress before it tears the workers down. */
static void job_finish(rp_resolve_job *job)
{
    table_remove(job);
    job->state = RP_RESOLVE_DONE;
    rp_op *op = NULL; /* the waiters in the order they came (the list has the latest first) */
    while (job->waiters) {
        rp_op *it = job->waiters;
        job->waiters = RP_PRIV(it)->u.resolve.waiter_next;
        RP_PRIV(it)->u.resolve.waiter_next = op;
        op = it;
    }
    while (op) {
        rp_op_priv *p = RP_PRIV(op);
        rp_op *next = p->u.resolve.waiter_next;
        rp_worker *w = p->worker;
        rp_loop *loop = w->loop;
        fill(op, job->err, job->addrs, job->count);
        p->u.resolve.job = NULL;
        p->u.resolve.waiter_next = NULL;
        rp__atomic_fetch_add_u32(&loop->foreign_submitters, 1);
        rp__mpsc_push(&w->resolve_inbox, op, RP_OP_NEXT_LINK); /* op is the worker's from here on */
        rp__wake_if_sleeping(w);
        rp__atomic_fetch_add_u32(&loop->foreign_submitters, (uint32_t)-1); /* the loop's last use here */
        op = next;
    }
    job_unref(job); /* the run's reference */
}

/* ---- the pool ---- */
static void pool_main(void *arg);

/* Under the lock: one more thread of this generation. 0 or an RP_E* code. */
static int thread_add(void)
{
    for (uint32_t i = 0; i < RESOLVER_THREADS_MAX; i++) {
        if (R.slots[i].used)
            continue;
        uintptr_t a = ((uintptr_t)R.generation << 3) | i; /* the slot fits in 3 bits */
        int err = rp__thread_start(&R.slots[i].thread, pool_main, (void *)a);
        if (err)
            return err;
        R.slots[i].used = 1;
        R.slots[i].busy = 0;
        R.nthreads++;
        return 0;
    }
    return RP_EBUSY;
}

static rp_resolve_job *queue_pop(void)
{
    rp_resolve_job *job = R.queue_head;
    if (job) {
        R.queue_head = job->queue_next;
        if (!R.queue_head)
            R.queue_tail = NULL;
        job->queue_next = NULL;
        R.queued--;
    }
    return job;
}

static void queue_remove(rp_resolve_job *job)
{
    rp_resolve_job *prev = NULL;
    for (rp_resolve_job *j = R.queue_head; j; prev = j, j = j->queue_next) {
        if (j != job)
            continue;
        if (prev)
            prev->queue_next = j->queue_next;
        else
            R.queue_head = j->queue_next;
        if (R.queue_tail == j)
            R.queue_tail = prev;
        j->queue_next = NULL;
        R.queued--;
        return;
    }
}

/* Under the lock: the job goes into the pool's queue, and a thread takes it. */
static void job_enqueue(rp_resolve_job *job)
{
    job->state = RP_RESOLVE_QUEUED;
    job->queue_next = NULL;
    if (R.queue_tail)
        R.queue_tail->queue_next = job;
    else
        R.queue_head = job;
    R.queue_tail = job;
    R.queued++;
    if (R.queued > R.idle && R.nthreads < RESOLVER_THREADS_MAX && thread_add() != 0 && R.nthreads == 0) {
        /* No thread to run it (only where asynchronous lookups had been enough until now). */
        queue_remove(job);
        job->err = RP_ENOMEM;
        job_finish(job);
        return;
    }
    rp__cond_signal(&R.work);
}

static void pool_main(void *arg)
{
    uintptr_t a = (uintptr_t)arg;
    uint32_t slot = (uint32_t)(a & 7u), generation = (uint32_t)(a >> 3);
    rp__mutex_lock(&R.lock);
    uint32_t delay_ms = R.delay_ms;
    while (R.generation == generation) {
        rp_resolve_job *job = queue_pop();
        if (!job) {
            R.idle++;
            rp__cond_wait(&R.work, &R.lock);
            if (R.generation != generation)
                break; /* the new generation started counting afresh */
            R.idle--;
            continue;
        }
        job->state = RP_RESOLVE_RUNNING;
        R.slots[slot].busy = 1;
        rp__mutex_unlock(&R.lock);
        if (delay_ms)
            rp__sleep_ms(delay_ms);
        rp__resolve_lookup(job);
        rp__mutex_lock(&R.lock);
        job_finish(job);
        if (R.generation == generation)
            R.slots[slot].busy = 0; /* else the slot is no longer this thread's */
    }
    rp__mutex_unlock(&R.lock);
}

int rp__resolver_acquire(rp_loop *loop)
{
    if (rp__atomic_load_u32(&loop->resolver_user))
        return 0;
    int err = 0;
    rp__mutex_lock(&R.lock);
    if (!R.ready) {
        err = rp__resolve_platform_init();
        if (!err) {
            const char *delay = getenv("RINGPORT_RESOLVE_DELAY_MS");
            R.delay_ms = delay ? (uint32_t)strtoul(delay, NULL, 10) : 0;
            R.ready = 1;
        }
    }
    if (!err && !rp__atomic_load_u32(&loop->resolver_user)) {
        /* The first thread now, so that a failure is the submission's error, not a lookup's. */
        if (!rp__resolve_async_available() && R.nthreads == 0)
            err = thread_add();
        if (!err) {
            R.users++;
            rp__atomic_store_u32(&loop->resolver_user, 1);
        }
    }
    rp__mutex_unlock(&R.lock);
    return err;
}

void rp__resolver_release(void)
{
    rp_thread join[RESOLVER_THREADS_MAX];
    uint32_t njoin = 0;
    rp__mutex_lock(&R.lock);
    if (--R.users == 0) {
        for (uint32_t i = 0; i < RESOLVER_THREADS_MAX; i++) {
            if (!R.slots[i].used)
                continue;
            if (R.slots[i].busy)
                rp__thread_detach(R.slots[i].thread); /* inside a lookup that may block for long */
            else
                join[njoin++] = R.slots[i].thread;
            R.slots[i].used = 0;
            R.slots[i].busy = 0;
        }
        R.nthreads = 0;
        R.idle = 0;
        R.generation = (R.generation + 1) & GENERATION_MASK;
        rp__cond_broadcast(&R.work);
    }
    rp__mutex_unlock(&R.lock);
    for (uint32_t i = 0; i < njoin; i++)
        rp__thread_join(join[i]); /* idle: it ends as soon as it sees the generation has changed */
}

/* ---- asynchronous lookups (the platform runs them) ---- */
void rp__resolve_async_done(rp_resolve_job *job)
{
    int lock = !lock_held_here;
    if (lock)
        rp__mutex_lock(&R.lock);
    job_finish(job);
    if (lock)
        rp__mutex_unlock(&R.lock);
}

/* Under the lock: asks the platform to stop the job's lookup (its result, if any, is dropped). */
static void async_cancel(rp_resolve_job *job)
{
    lock_held_here = 1;
    rp__resolve_async_cancel(job); /* may finish (and free) the job: not touched after */
    lock_held_here = 0;
}

/* Without the lock: a new job in state ASYNC (in the table, with its first waiter, holding a reference
 * for this call) is handed to the platform. */
static void job_launch(rp_resolve_job *job)
{
    void *handle = NULL;
    rp_resolve_async how = rp__resolve_async_start(job, &handle);
    rp__mutex_lock(&R.lock);
    job->refs--; /* the launch's own reference: it kept the job alive through the platform call */
    switch (how) {
    case RP_RESOLVE_ASYNC_NO:
        if (job->waiters) {
            job_enqueue(job);
        } else { /* every waiter left meanwhile */
            table_remove(job);
            job_unref(job);
        }
        break;
    case RP_RESOLVE_ASYNC_FINISHED: job_finish(job); break;
    case RP_RESOLVE_ASYNC_PENDING:
        if (job->refs == 0) {
            job_free(job); /* already done and handed out */
            break;
        }
        job->cancel_handle = handle;
        job->issued = 1;
        if (job->cancel_wanted)
            async_cancel(job);
        break;
    }
    rp__mutex_unlock(&R.lock);
}

/* Under the lock: the last waiter of job left. */
static void job_abandon(rp_resolve_job *job)
{
    switch ((enum rp_resolve_state)job->state) {
    case RP_RESOLVE_QUEUED:
        queue_remove(job);
        table_remove(job);
        job_unref(job);
        return;
    case RP_RESOLVE_ASYNC:
        table_remove(job); /* it is being stopped: an identical lookup must not join it */
        if (job->issued)
            async_cancel(job);
        else
            job->cancel_wanted = 1; /* job_launch stops it once the platform call has returned */
        return;
    case RP_RESOLVE_NEW: /* job_launch sees it has no waiter */
    case RP_RESOLVE_RUNNING: /* a pool thread finishes it; later identical lookups may still join */
    case RP_RESOLVE_DONE: return;
    }
}

/* ---- the op side, on its worker ---- */

/* A numeric host with a decimal port or none needs no lookup: the answer is written now. Returns 1 if
 * the op was answered. */
static int answer_numeric(rp_worker *w, rp_op *op, const rp_resolve_job *job)
{
    rp_addr a;
    if (job->service || (job->flags & RP_RESOLVE_ADDRCONFIG) || rp_addr_parse(&a, job->host, 0) != 0)
        return 0; /* a service name, or the system's rule for configured families, needs the resolver */
    if (job->family && job->family != a.family) {
        fill(op, RP_ENOTFOUND, NULL, 0);
    } else {
        fill(op, 0, &a, 1);
    }
    rp__complete(w, op, RP_PRIV(op)->u.resolve.result);
    return 1;
}

void rp__resolve_drop(rp_op *op)
{
    rp_op_priv *p = RP_PRIV(op);
    if (p->u.resolve.job)
        job_free(p->u.resolve.job);
    p->u.resolve.job = NULL;
}

void rp__resolve_start(rp_worker *w, rp_op *op, int cancelled)
{
    rp_op_priv *p = RP_PRIV(op);
    rp_resolve_job *job = p->u.resolve.job;
    p->u.resolve.job = NULL;
    if (cancelled || w->sweeping) {
        job_free(job);
        rp__complete(w, op, RP_ECANCELED);
        return;
    }
    if (answer_numeric(w, op, job)) {
        job_free(job);
        return;
    }
    w->resolves++;
    p->place = RP_PLACE_RESOLVER;
    int launch = 0;
    rp__mutex_lock(&R.lock);
    rp_resolve_job *shared = table_find(job);
    if (shared) {
        waiter_add(shared, op);
    } else {
        table_insert(job);
        waiter_add(job, op);
        if (rp__resolve_async_available()) {
            job->state = RP_RESOLVE_ASYNC;
            job->refs++; /* job_launch's, while it makes the platform call */
            launch = 1;
        } else {
            job_enqueue(job); /* a pool thread may run (and free) it as soon as the lock is released */
        }
    }
    rp__mutex_unlock(&R.lock);
    if (shared)
        job_free(job); /* the candidate: never seen by anyone else */
    else if (launch)
        job_launch(job);
}

void rp__resolve_cancel(rp_worker *w, rp_op *op)
{
    rp_op_priv *p = RP_PRIV(op);
    rp__mutex_lock(&R.lock);
    rp_resolve_job *job = p->u.resolve.job;
    if (job) {
        waiter_remove(job, op);
        if (!job->waiters)
            job_abandon(job);
    }
    rp__mutex_unlock(&R.lock);
    if (!job)
        return; /* done: its result is in the resolve inbox, and wins */
    w->resolves--;
    rp__complete(w, op, RP_ECANCELED);
}

void rp__resolve_drain(rp_worker *w)
{
    rp_op *op = rp__mpsc_take(&w->resolve_inbox, RP_OP_NEXT_LINK);
    while (op) {
        rp_op *next = RP_PRIV(op)->next;
        RP_PRIV(op)->next = NULL;
        w->resolves--;
        rp__complete(w, op, RP_PRIV(op)->u.resolve.result);
        op = next;
    }
}

void rp__resolve_sweep(rp_worker *w)
{
    if (!w->resolves)
        return;
    rp_op *cancelled = NULL;
    rp__mutex_lock(&R.lock);
    for (uint32_t b = 0; b < TABLE_SIZE; b++) {
        rp_resolve_job *job = R.table[b];
        while (job) {
            rp_resolve_job *next = job->table_next; /* job_abandon may take job out of the table */
            for (rp_op *op = job->waiters, *after; op; op = after) {
                after = RP_PRIV(op)->u.resolve.waiter_next;
                if (RP_PRIV(op)->worker != w)
                    continue;
                waiter_remove(job, op);
                RP_PRIV(op)->u.resolve.waiter_next = cancelled;
                cancelled = op;
            }
            if (!job->waiters)
                job_abandon(job);
            job = next;
        }
    }
    rp__mutex_unlock(&R.lock);
    while (cancelled) {
        rp_op *op = cancelled;
        cancelled = RP_PRIV(op)->u.resolve.waiter_next;
        RP_PRIV(op)->u.resolve.waiter_next = NULL;
        w->resolves--;
        rp__complete(w, op, RP_ECANCELED);
    }
}
