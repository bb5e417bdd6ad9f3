/* million_timers on ringport; bench/timers_uv.c is its libuv peer and bench/timers.sh runs the two
 * side by side. The idea is libuv's test/benchmark-million-timers.c: start many one-shot timers, then run.
 *
 *   timers_ringport [--timers N (1000000)] [--seed S (1)] [--mode fire|cancel] [--backend auto|io_uring|epoll]
 *
 * fire:   N timers with seeded deadlines in [1, 1000] ms; run until every one has fired, checking the
 *         order (bench/timers_common.h says how).
 * cancel: N timers, each cancelled with rp_cancel before the loop runs them; run until every one has
 *         delivered its RP_ECANCELED completion.
 *
 * The loop is caller-driven (workers = 0) and the op records are one calloc'd array. The timers are
 * started (and cancelled) inside a post callback, on the loop's own thread: there rp_timeout puts each
 * timer straight into the heap, as uv_timer_start does. From outside the loop it would only queue the op
 * in the worker's inbox, and the heap work would move into the run phase.
 *
 * Phases (wall and CPU seconds): start = rp_op_init + rp_timeout for all; cancel = rp_cancel for all;
 * run = from the end of the previous phase to the last completion (in fire mode this includes waiting for
 * the deadlines: about 1 s); cleanup = rp_loop_destroy + free; total = from rp_post to the end of cleanup.
 * Each timer's deadline counts from its own submission (ringport reads the clock in rp_timeout's start),
 * so the last deadline falls about 1 s after the end of the start phase. */
#include <ringport.h>

#include "timers_common.h"

static rp_loop *loop;
static rp_op *ops;
static tm_opts opt;
static tm_check chk;
static tm_mark m_begin, m_started, m_cancelled, m_last;
static int failed_at_start, watchdog_fired;

/* ringport's timer clock is CLOCK_MONOTONIC, read when the timer is put in the heap and when it fires. */
static uint64_t loop_now(void) { return tm_mono_ns(); }

static void on_timer(rp_op *op)
{
    if (op->result != (opt.cancel ? RP_ECANCELED : 0) || (op->flags & RP_OP_F_MORE))
        chk.bad_result++;
    tm_completed(&chk, op - ops, !opt.cancel);
    if (chk.count == chk.n) {
        m_last = tm_now();
        rp_loop_stop(loop);
    }
}

/* Stops a run that would otherwise wait for ever because some completion never came. */
static void on_watchdog(rp_op *op)
{
    if (op->result == 0) {
        watchdog_fired = 1;
        rp_loop_stop(loop);
    }
}

static void on_start(rp_op *post)
{
    (void)post;
    m_begin = tm_now();
    for (long i = 0; i < chk.n; i++) {
        tm_starting(&chk, i);
        rp_op_init(&ops[i], on_timer, NULL);
        int err = rp_timeout(loop, &ops[i], RP_SOCKET_INVALID, chk.delay[i], 0);
        if (err) {
            fprintf(stderr, "timers_ringport: rp_timeout #%ld: %s\n", i, rp_strerror(err));
            failed_at_start = 1;
            rp_loop_stop(loop);
            return;
        }
    }
    tm_starting(&chk, chk.n);
    m_started = tm_now();
    if (!opt.cancel)
        return;
    for (long i = 0; i < chk.n; i++) {
        int err = rp_cancel(loop, &ops[i]);
        if (err) {
            fprintf(stderr, "timers_ringport: rp_cancel #%ld: %s\n", i, rp_strerror(err));
            failed_at_start = 1;
            rp_loop_stop(loop);
            return;
        }
    }
    m_cancelled = tm_now();
}

static int parse_backend(const char *name, rp_backend *out)
{
    static const rp_backend all[] = {RP_BACKEND_AUTO, RP_BACKEND_IO_URING, RP_BACKEND_EPOLL, RP_BACKEND_KQUEUE};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (!strcmp(name, rp_backend_name(all[i]))) {
            *out = all[i];
            return 0;
        }
    }
    return -1;
}

int main(int argc, char **argv)
{
    int rc = tm_parse(argc, argv, &opt, 1);
    if (rc)
        return rc > 0 ? 0 : 2;
    rp_loop_options lopts;
    rp_loop_options_init(&lopts);
    lopts.workers = 0;
    if (parse_backend(opt.backend, &lopts.backend)) {
        fprintf(stderr, "timers_ringport: unknown backend \"%s\" (auto, io_uring, epoll, kqueue)\n", opt.backend);
        return 2;
    }
    tm_check_init(&chk, &opt, loop_now);
    ops = calloc((size_t)chk.n, sizeof *ops);
    if (!ops) {
        fprintf(stderr, "timers_ringport: out of memory for %ld op records\n", chk.n);
        return 1;
    }
    int err = rp_loop_create(&loop, &lopts);
    if (err) {
        fprintf(stderr, "timers_ringport: rp_loop_create: %s\n", rp_strerror(err));
        return 1;
    }
    static rp_op watchdog, start;
    rp_op_init(&watchdog, on_watchdog, NULL);
    rp_op_init(&start, on_start, NULL);
    err = rp_timeout(loop, &watchdog, RP_SOCKET_INVALID, TM_MAX_DELAY_MS + 120000, 0);
    tm_mark m_post = tm_now();
    if (!err)
        err = rp_post(loop, &start, 0);
    int ran = err ? err : rp_loop_run(loop, RP_RUN_DEFAULT);
    if (ran < 0)
        fprintf(stderr, "timers_ringport: %s\n", rp_strerror(ran));
    tm_mark m_ran = tm_now();
    if (chk.count != chk.n)
        m_last = m_ran;
    if (watchdog_fired)
        fprintf(stderr, "timers_ringport: gave up waiting: %ld of %ld completions came\n", chk.count, chk.n);
    const char *backend = rp_backend_name(rp_loop_backend(loop));
    rp_loop_destroy(loop); /* delivers the watchdog's RP_ECANCELED; nothing else is pending */
    free(ops);
    tm_mark m_end = tm_now();

    long failed = (ran < 0) + failed_at_start + watchdog_fired + tm_verify(&chk, 1);
    tm_phase ph[5];
    int k = 0;
    ph[k++] = (tm_phase){"start", m_begin, m_started};
    if (opt.cancel)
        ph[k++] = (tm_phase){"cancel", m_started, m_cancelled};
    ph[k++] = (tm_phase){"run", opt.cancel ? m_cancelled : m_started, m_last};
    ph[k++] = (tm_phase){"cleanup", m_ran, m_end};
    ph[k++] = (tm_phase){"total", m_post, m_end};
    tm_report("ringport", backend, &opt, ph, k, failed);
    return failed ? 1 : 0;
}
