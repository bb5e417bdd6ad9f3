/* million_timers on libuv: the peer of bench/timers_ringport.c (read its comment and bench/timers_common.h
 * first; the options, deadlines, checks and report are the same).
 *
 *   timers_uv [--timers N (1000000)] [--seed S (1)] [--mode fire|cancel]
 *
 * One uv_loop_t; the uv_timer_t handles are one calloc'd array, started from main before uv_run:
 * uv_timer_start puts a timer into the heap at once, the same work as ringport's start inside its loop.
 *
 * Where libuv differs, and the figures with it:
 *  - A timeout counts from the loop's cached time (uv_now), which uv_timer_start does not advance: every
 *    deadline here counts from just before the start phase, so the last falls about 1 s after the start
 *    phase began, and timers shorter than the start phase are already due when uv_run begins. ringport
 *    counts from each submission, about start_s later. Compare run_cpu_s rather than run_s.
 *  - cancel: uv_timer_stop delivers nothing (no callback), whereas rp_cancel delivers an RP_ECANCELED
 *    completion to every op. So "run" is a uv_run that finds nothing to do, and the check is that no timer
 *    fired. The one per-handle callback libuv does have, the close callback, comes in cleanup.
 *  - cleanup: a libuv handle must be uv_close'd, and its close callback run by the loop, before its memory
 *    may be freed; a ringport op is the caller's again after its final completion. Cleanup here is
 *    uv_close for all + uv_run (N close callbacks) + uv_loop_close + free. */
#include <uv.h>

#include "timers_common.h"

static uv_loop_t loop;
static uv_timer_t *timers;
static tm_opts opt;
static tm_check chk;
static tm_mark m_last;
static long closed;

/* The clock libuv compares deadlines with: the loop's cached time, in ms. */
static uint64_t loop_now(void) { return uv_now(&loop) * UINT64_C(1000000); }

static void on_timer(uv_timer_t *t)
{
    tm_completed(&chk, t - timers, 1);
    if (chk.count == chk.n)
        m_last = tm_now();
}

static void on_close(uv_handle_t *h)
{
    (void)h;
    closed++;
}

int main(int argc, char **argv)
{
    int rc = tm_parse(argc, argv, &opt, 0);
    if (rc)
        return rc > 0 ? 0 : 2;
    tm_check_init(&chk, &opt, loop_now);
    timers = calloc((size_t)chk.n, sizeof *timers);
    if (!timers) {
        fprintf(stderr, "timers_uv: out of memory for %ld timer handles\n", chk.n);
        return 1;
    }
    int err = uv_loop_init(&loop);
    if (err) {
        fprintf(stderr, "timers_uv: uv_loop_init: %s\n", uv_strerror(err));
        return 1;
    }
    long failed = 0;
    tm_mark m_begin = tm_now();
    uv_update_time(&loop); /* the deadlines count from here */
    for (long i = 0; i < chk.n; i++) {
        tm_starting(&chk, i);
        uv_timer_init(&loop, &timers[i]);
        if ((err = uv_timer_start(&timers[i], on_timer, chk.delay[i], 0)) != 0) {
            fprintf(stderr, "timers_uv: uv_timer_start #%ld: %s\n", i, uv_strerror(err));
            return 1;
        }
    }
    tm_starting(&chk, chk.n);
    tm_mark m_started = tm_now(), m_cancelled = m_started;
    if (opt.cancel) {
        for (long i = 0; i < chk.n; i++)
            uv_timer_stop(&timers[i]);
        m_cancelled = tm_now();
    }
    uv_run(&loop, UV_RUN_DEFAULT); /* returns once no timer is active */
    tm_mark m_ran = tm_now();
    if (opt.cancel || chk.count != chk.n)
        m_last = m_ran;

    for (long i = 0; i < chk.n; i++)
        uv_close((uv_handle_t *)&timers[i], on_close);
    uv_run(&loop, UV_RUN_DEFAULT);
    if ((err = uv_loop_close(&loop)) != 0) {
        fprintf(stderr, "timers_uv: uv_loop_close: %s\n", uv_strerror(err));
        failed++;
    }
    free(timers);
    tm_mark m_end = tm_now();

    if (closed != chk.n) {
        fprintf(stderr, "check failed: %ld of %ld close callbacks ran\n", closed, chk.n);
        failed++;
    }
    failed += tm_verify(&chk, opt.cancel ? 0 : 1);
    tm_phase ph[5];
    int k = 0;
    ph[k++] = (tm_phase){"start", m_begin, m_started};
    if (opt.cancel)
        ph[k++] = (tm_phase){"cancel", m_started, m_cancelled};
    ph[k++] = (tm_phase){"run", m_cancelled, m_last};
    ph[k++] = (tm_phase){"cleanup", m_ran, m_end};
    ph[k++] = (tm_phase){"total", m_begin, m_end};
    tm_report("libuv", "epoll", &opt, ph, k, failed);
    return failed ? 1 : 0;
}
