/* Loop life cycle: options, backend choice (with the reason for any fallback), worker threads,
 * caller-driven run/poll, and destroy. */
#include <stdio.h>
#include <stdlib.h>

#include "core/backend.h"
#include "core/bufpool.h"
#include "core/resolve.h"

#define DEFAULT_QUEUE_DEPTH 256u
#define MAX_QUEUE_DEPTH 32768u
#define MAX_WORKERS 256
#define MAX_SPIN_US 1000000u

void rp_loop_options_init(rp_loop_options *opts)
{
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->backend = RP_BACKEND_AUTO;
    opts->workers = RP_WORKERS_PER_CPU;
    opts->queue_depth = 0;
}

void rp_listen_options_init(rp_listen_options *opts)
{
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->backlog = RP_LISTEN_BACKLOG_DEFAULT;
    opts->worker = -1;
    opts->accept_worker = -1;
}

void rp_connect_options_init(rp_connect_options *opts)
{
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->worker = -1;
}

const char *rp_backend_name(rp_backend b)
{
    switch (b) {
    case RP_BACKEND_IO_URING: return "io_uring";
    case RP_BACKEND_EPOLL: return "epoll";
    case RP_BACKEND_KQUEUE: return "kqueue";
    case RP_BACKEND_IOCP: return "iocp";
    case RP_BACKEND_AUTO: break;
    }
    return "auto"; /* also for values outside the enum */
}

/* The backend built in for b, or NULL. */
static const rp_backend_vtable *backend_table(rp_backend b)
{
    static const rp_backend_vtable *const built_in[] = {
#if defined(RINGPORT_HAVE_IO_URING)
        &rp__backend_io_uring,
#endif
#if defined(RINGPORT_HAVE_EPOLL)
        &rp__backend_epoll,
#endif
#if defined(RINGPORT_HAVE_KQUEUE)
        &rp__backend_kqueue,
#endif
#if defined(_WIN32)
        &rp__backend_iocp,
#endif
        NULL};
    for (size_t i = 0; built_in[i]; i++)
        if (built_in[i]->id == b)
            return built_in[i];
    return NULL;
}

/* AUTO's order of preference: the platform's native backends only (kqueue through libkqueue on Linux
 * is there for testing and must be asked for). */
static const rp_backend auto_order[] = {
#if defined(_WIN32)
    RP_BACKEND_IOCP,
#elif defined(__linux__)
    RP_BACKEND_IO_URING, RP_BACKEND_EPOLL,
#else
    RP_BACKEND_KQUEUE,
#endif
};

static int backend_from_env(rp_backend *out)
{
    const char *v = getenv("RINGPORT_BACKEND");
    if (!v || !*v)
        return 0;
    static const rp_backend all[] = {RP_BACKEND_IO_URING, RP_BACKEND_EPOLL, RP_BACKEND_KQUEUE, RP_BACKEND_IOCP};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(v, rp_backend_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    }
    if (strcmp(v, "auto") == 0)
        return 0;
    return RP_EINVAL;
}

static int choose_backend(rp_loop *loop, rp_backend requested)
{
    char why[160];
    if (requested != RP_BACKEND_AUTO) {
        const rp_backend_vtable *vt = backend_table(requested);
        if (!vt)
            return RP_ENOSYS;
        int err = vt->probe(why, sizeof why);
        if (err)
            return err;
        loop->backend = vt;
        return 0;
    }
    int last = RP_ENOSYS;
    for (size_t i = 0; i < sizeof auto_order / sizeof auto_order[0]; i++) {
        const rp_backend_vtable *vt = backend_table(auto_order[i]);
        why[0] = '\0';
        int err = vt ? vt->probe(why, sizeof why) : RP_ENOSYS;
        if (!vt)
            snprintf(why, sizeof why, "not built in (built without its library)");
        if (err == 0) {
            loop->backend = vt;
            return 0;
        }
        last = err;
        if (!loop->has_fallback) {
            snprintf(loop->fallback, sizeof loop->fallback, "%s unavailable: %s", rp_backend_name(auto_order[i]),
                     why[0] ? why : rp_strerror(err));
            loop->has_fallback = 1;
        }
    }
    return last;
}

rp_worker *rp__pick_worker(rp_loop *loop, int index)
{
    if (index >= 0 && (uint32_t)index < loop->nworkers)
        return &loop->workers[index];
    uint32_t n = rp__atomic_fetch_add_u32(&loop->rr, 1);
    return &loop->workers[n % loop->nworkers];
}

static int worker_quiet(rp_worker *w)
{
    return rp__atomic_load_u32(&w->live_socks) == 0 && !w->ready_head && w->timers.count == 0 &&
           w->resolves == 0 && !rp__atomic_load_ptr(&w->inbox) && !rp__atomic_load_ptr(&w->cancel_inbox) &&
           !rp__atomic_load_ptr(&w->close_inbox) && !rp__atomic_load_ptr(&w->resolve_inbox);
}

static void worker_main(void *arg)
{
    rp_worker *w = arg;
    rp__current = w;
    for (;;) {
        uint32_t stop = rp__atomic_load_u32(&w->stop);
        if (stop == 2)
            break;
        /* Again while sockets are left: a connection another worker's listener accepted for this one
         * (a multishot accept delivered during the destroy) can arrive after the first sweep. */
        if (stop == 1 && (!w->sweeping || rp__atomic_load_u32(&w->live_socks))) {
            w->sweeping = 1;
            rp__worker_sweep(w);
        }
        int n = rp__iterate(w, stop ? 1000000 : -1, NULL, 0);
        if (stop) {
            if (n > 0)
                rp__atomic_fetch_add_u32(&w->epoch, 1);
            rp__atomic_store_u32(&w->idle, worker_quiet(w));
        }
    }
    rp__current = NULL;
}

/* Threaded workers set their backend up on their own thread (io_uring's SINGLE_ISSUER wants the ring
 * created by the thread that submits), so start-up reports back through worker_start.result. */
typedef struct worker_start {
    rp_worker *w;
    rp_atomic_u32 done;
    int result;
} worker_start;

static void worker_entry(void *arg)
{
    worker_start *st = arg;
    rp_worker *w = st->w;
    int err = w->loop->backend->worker_init(w, w->loop->queue_depth, 1);
    st->result = err;
    rp__atomic_store_u32(&st->done, 1);
    if (err == 0)
        worker_main(w);
}

static void loop_free(rp_loop *loop)
{
    if (loop->workers) {
        for (uint32_t i = 0; i < loop->nworkers; i++) {
            rp__timers_free(&loop->workers[i].timers);
            rp__deadlines_free(&loop->workers[i]);
        }
    }
    rp__bufpool_free_all(loop);
    rp__pool_free_all(loop);
    if (loop->net_started)
        rp__net_cleanup(); /* after every socket is closed */
    rp__mutex_destroy(&loop->pool_lock);
    rp__mutex_destroy(&loop->bufpool_lock);
    free(loop->workers);
    free(loop);
}

static void stop_threads(rp_loop *loop, uint32_t started)
{
    for (uint32_t i = 0; i < started; i++) {
        rp__atomic_store_u32(&loop->workers[i].stop, 2);
        rp__atomic_store_u32(&loop->workers[i].wake_pending, 1);
        loop->backend->wake(&loop->workers[i]);
    }
    /* Backends are torn down only after every thread has gone: a late wake-up must find them alive. */
    for (uint32_t i = 0; i < started; i++)
        rp__thread_join(loop->workers[i].thread);
    for (uint32_t i = 0; i < started; i++)
        loop->backend->worker_fini(&loop->workers[i]);
}

int rp_loop_create(rp_loop **out, const rp_loop_options *opts)
{
    rp_loop_options defaults;
    if (!out)
        return RP_EINVAL;
    if (!opts) {
        rp_loop_options_init(&defaults);
        opts = &defaults;
    }
    for (size_t i = 0; i < sizeof opts->reserved / sizeof opts->reserved[0]; i++)
        if (opts->reserved[i])
            return RP_EINVAL;
    if (opts->workers < RP_WORKERS_PER_CPU || opts->workers > MAX_WORKERS)
        return RP_EINVAL;
    if ((unsigned)opts->backend > RP_BACKEND_IOCP || opts->queue_depth > MAX_QUEUE_DEPTH ||
        (opts->flags & ~(RP_LOOP_IDLE_RECV | RP_LOOP_SQPOLL)) || opts->spin_us > MAX_SPIN_US)
        return RP_EINVAL;
    rp_backend requested = opts->backend;
    if (requested == RP_BACKEND_AUTO && backend_from_env(&requested) != 0)
        return RP_EINVAL;

    rp_loop *loop = calloc(1, sizeof *loop);
    if (!loop)
        return RP_ENOMEM;
    rp__mutex_init(&loop->pool_lock);
    rp__mutex_init(&loop->bufpool_lock);
    loop->flags = opts->flags;
    loop->zerocopy_min = opts->zerocopy_min;
    loop->spin_ns = (uint64_t)opts->spin_us * 1000u;
    int err = rp__net_startup();
    if (err) {
        loop_free(loop);
        return err;
    }
    loop->net_started = 1;
    err = choose_backend(loop, requested);
    if (!err && (loop->flags & RP_LOOP_SQPOLL) && loop->backend->id != RP_BACKEND_IO_URING)
        err = RP_ENOTSUP;
    if (err) {
        loop_free(loop);
        return err;
    }
    unsigned depth = opts->queue_depth ? opts->queue_depth : DEFAULT_QUEUE_DEPTH;
    unsigned pow2 = 1;
    while (pow2 < depth)
        pow2 <<= 1;
    loop->queue_depth = pow2;

    int nthreads = opts->workers == RP_WORKERS_PER_CPU ? rp__cpu_count() : opts->workers;
    if (nthreads > MAX_WORKERS)
        nthreads = MAX_WORKERS;
    loop->threaded = nthreads > 0;
    loop->nworkers = nthreads > 0 ? (uint32_t)nthreads : 1u;
    loop->workers = calloc(loop->nworkers, sizeof *loop->workers);
    if (!loop->workers) {
        loop_free(loop);
        return RP_ENOMEM;
    }
    for (uint32_t i = 0; i < loop->nworkers; i++) {
        loop->workers[i].loop = loop;
        loop->workers[i].index = i;
    }

    if (!loop->threaded) {
        err = loop->backend->worker_init(&loop->workers[0], loop->queue_depth, 0);
        if (err) {
            loop_free(loop);
            return err;
        }
        *out = loop;
        return 0;
    }
    for (uint32_t i = 0; i < loop->nworkers; i++) {
        worker_start st;
        st.w = &loop->workers[i];
        st.result = 0;
        rp__atomic_store_u32(&st.done, 0);
        err = rp__thread_start(&loop->workers[i].thread, worker_entry, &st);
        if (!err) {
            while (!rp__atomic_load_u32(&st.done))
                rp__thread_yield();
            err = st.result;
            if (err)
                rp__thread_join(loop->workers[i].thread);
        }
        if (err) {
            stop_threads(loop, i);
            loop_free(loop);
            return err;
        }
    }
    *out = loop;
    return 0;
}

rp_backend rp_loop_backend(const rp_loop *loop)
{
    return loop ? loop->backend->id : RP_BACKEND_AUTO;
}

const char *rp_loop_fallback_reason(const rp_loop *loop)
{
    return (loop && loop->has_fallback) ? loop->fallback : NULL;
}

int rp_loop_workers(const rp_loop *loop)
{
    if (!loop)
        return RP_EINVAL;
    return loop->threaded ? (int)loop->nworkers : 0;
}

int rp_loop_current_worker(const rp_loop *loop)
{
    if (!loop || !rp__current || rp__current->loop != loop)
        return -1;
    return (int)rp__current->index;
}

/* ---- caller-driven mode ---- */
static int drive_begin(rp_loop *loop)
{
    if (!loop || loop->threaded)
        return RP_EINVAL;
    if (rp__current)
        return RP_EBUSY; /* from a callback */
    uint32_t expected = 0;
    if (!rp__atomic_cas_u32(&loop->driving, &expected, 1))
        return RP_EBUSY;
    rp__current = &loop->workers[0];
    return 0;
}

static void drive_end(rp_loop *loop)
{
    rp__current = NULL;
    rp__atomic_store_u32(&loop->driving, 0);
}

int rp_loop_run(rp_loop *loop, rp_run_mode mode)
{
    if ((unsigned)mode > RP_RUN_NOWAIT)
        return RP_EINVAL;
    int err = drive_begin(loop);
    if (err)
        return err;
    rp_worker *w = &loop->workers[0];
    int total = 0;
    for (;;) {
        if (mode == RP_RUN_DEFAULT && rp__atomic_exchange_u32(&loop->stop_requested, 0))
            break;
        int n = rp__iterate(w, mode == RP_RUN_NOWAIT ? 0 : -1, NULL, 0);
        total += n;
        if (mode == RP_RUN_NOWAIT || (mode == RP_RUN_ONCE && total > 0))
            break;
    }
    drive_end(loop);
    return total;
}

int rp_loop_poll(rp_loop *loop, rp_op **out, int max, int timeout_ms)
{
    if (!out || max <= 0)
        return RP_EINVAL;
    int err = drive_begin(loop);
    if (err)
        return err;
    rp_worker *w = &loop->workers[0];
    uint64_t deadline = timeout_ms > 0 ? rp__now_ns() + (uint64_t)timeout_ms * 1000000u : 0;
    int n;
    for (;;) {
        int64_t wait_ns = -1;
        if (timeout_ms == 0) {
            wait_ns = 0;
        } else if (timeout_ms > 0) {
            uint64_t now = rp__now_ns();
            wait_ns = now >= deadline ? 0 : (int64_t)(deadline - now);
        }
        n = rp__iterate(w, wait_ns, out, max);
        if (n > 0 || wait_ns == 0)
            break;
    }
    drive_end(loop);
    return n;
}

int rp_loop_stop(rp_loop *loop)
{
    if (!loop || loop->threaded)
        return RP_EINVAL;
    rp__atomic_store_u32(&loop->stop_requested, 1);
    rp_worker *w = &loop->workers[0];
    if (rp__atomic_exchange_u32(&w->wake_pending, 1) == 0)
        loop->backend->wake(w);
    return 0;
}

/* ---- destroy ---- */
static int all_quiet(rp_loop *loop, uint32_t *epochs)
{
    int quiet = rp__atomic_load_u32(&loop->foreign_submitters) == 0;
    for (uint32_t i = 0; i < loop->nworkers; i++) {
        uint32_t e = rp__atomic_load_u32(&loop->workers[i].epoch);
        if (!rp__atomic_load_u32(&loop->workers[i].idle) || e != epochs[i])
            quiet = 0;
        epochs[i] = e;
    }
    return quiet;
}

static void sleep_briefly(void)
{
    uint64_t until = rp__now_ns() + 1000000u;
    while (rp__now_ns() < until)
        rp__thread_yield();
}

int rp_loop_destroy(rp_loop *loop)
{
    if (!loop)
        return RP_EINVAL;
    if (rp__current)
        return RP_EBUSY; /* inside a callback or a worker of some loop */
    if (!loop->threaded) {
        uint32_t expected = 0;
        if (!rp__atomic_cas_u32(&loop->driving, &expected, 1))
            return RP_EBUSY;
    }
    rp__atomic_store_u32(&loop->destroying, 1);
    rp__atomic_fence(); /* store-load: a submitter either sees the flag or is counted */
    while (rp__atomic_load_u32(&loop->foreign_submitters))
        rp__thread_yield();

    if (loop->threaded) {
        for (uint32_t i = 0; i < loop->nworkers; i++) {
            rp__atomic_store_u32(&loop->workers[i].stop, 1);
            rp__atomic_store_u32(&loop->workers[i].wake_pending, 1);
            loop->backend->wake(&loop->workers[i]);
        }
        uint32_t epochs[MAX_WORKERS] = {0};
        int stable = 0;
        while (stable < 3) {
            sleep_briefly();
            stable = all_quiet(loop, epochs) ? stable + 1 : 0;
        }
        stop_threads(loop, loop->nworkers);
    } else {
        rp_worker *w = &loop->workers[0];
        rp__current = w;
        w->sweeping = 1;
        rp__worker_sweep(w);
        int quiet_rounds = 0;
        while (quiet_rounds < 2) {
            if (rp__atomic_load_u32(&w->live_socks))
                rp__worker_sweep(w); /* sockets a delivery created since (accepted connections) */
            int n = rp__iterate(w, worker_quiet(w) ? 0 : 1000000, NULL, 0);
            quiet_rounds = (n == 0 && worker_quiet(w)) ? quiet_rounds + 1 : 0;
        }
        loop->backend->worker_fini(w);
        rp__current = NULL;
    }
    /* Every lookup of the loop has completed: the resolver's threads may go if no other loop uses it. */
    if (rp__atomic_load_u32(&loop->resolver_user))
        rp__resolver_release();
    loop_free(loop);
    return 0;
}
