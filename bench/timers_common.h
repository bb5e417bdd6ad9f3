/* Shared by bench/timers_ringport.c and bench/timers_uv.c, so that the two programs differ only in their
 * loop calls: the options, the seeded deadlines, the checks made at fire time and the one-line report.
 *
 * Deadlines: timer i gets delay[i] in [1, 1000] ms from splitmix64 seeded with --seed, generated before
 * any clock starts. Checks, counted and reported (the program fails if any is non-zero):
 *   - every timer completes exactly once;
 *   - fire order respects deadlines, as far as the loop promises them. A loop computes a timer's deadline
 *     as "its clock when the timer was started + delay". The program samples that clock before every
 *     block of TM_BLOCK starts and after the last, so timer i's deadline lies within
 *     [clock before its block, clock after its block] + delay[i]. A timer fired after another whose
 *     earliest possible deadline is later than its own latest possible one is out of order. Timers with
 *     equal delays must fire in start order (both loops promise that for equal deadlines, and equal
 *     delays started later never have earlier deadlines);
 *   - no timer fires early: every TM_BLOCK-th fire compares the loop's clock with the earliest deadline
 *     (sampled, so as not to add a clock read to every callback of the measured phase). */
#ifndef BENCH_TIMERS_COMMON_H
#define BENCH_TIMERS_COMMON_H

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define TM_BLOCK 1024
#define TM_MAX_DELAY_MS 1000
#define TM_MAX_TIMERS 100000000L

typedef struct tm_opts {
    long timers;
    uint64_t seed;
    int cancel;          /* --mode cancel */
    const char *backend; /* ringport only; NULL when the program takes no --backend */
} tm_opts;

static void tm_usage(const char *prog, int with_backend)
{
    fprintf(stderr,
            "usage: %s [--timers N (1000000)] [--seed S (1)] [--mode fire|cancel (fire)]%s\n"
            "  fire:   start N timers with seeded deadlines in [1, %d] ms, run until all fired, check order\n"
            "  cancel: start N timers, cancel them all before running, run until every cancellation is in\n"
            "Prints one JSON line: phase times (wall and CPU seconds) and peak RSS.\n",
            prog, with_backend ? " [--backend auto|io_uring|epoll]" : "", TM_MAX_DELAY_MS);
}

/* Returns 0, 1 after --help, or -1 after saying what is wrong. */
static int tm_parse(int argc, char **argv, tm_opts *o, int with_backend)
{
    o->timers = 1000000;
    o->seed = 1;
    o->cancel = 0;
    o->backend = with_backend ? "auto" : NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            tm_usage(argv[0], with_backend);
            return 1;
        }
        int known = !strcmp(a, "--timers") || !strcmp(a, "--seed") || !strcmp(a, "--mode") ||
                    (with_backend && !strcmp(a, "--backend"));
        if (!known) {
            fprintf(stderr, "%s: unknown option %s (try --help)\n", argv[0], a);
            return -1;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "%s: %s needs a value\n", argv[0], a);
            return -1;
        }
        const char *v = argv[++i];
        char *end;
        errno = 0;
        if (!strcmp(a, "--timers")) {
            o->timers = strtol(v, &end, 10);
            if (errno || end == v || *end || o->timers < 1 || o->timers > TM_MAX_TIMERS) {
                fprintf(stderr, "%s: --timers: expected 1 to %ld, got \"%s\"\n", argv[0], TM_MAX_TIMERS, v);
                return -1;
            }
        } else if (!strcmp(a, "--seed")) {
            unsigned long long s = strtoull(v, &end, 10);
            if (errno || end == v || *end || *v == '-') {
                fprintf(stderr, "%s: --seed: expected an unsigned number, got \"%s\"\n", argv[0], v);
                return -1;
            }
            o->seed = (uint64_t)s;
        } else if (!strcmp(a, "--mode")) {
            if (strcmp(v, "fire") && strcmp(v, "cancel")) {
                fprintf(stderr, "%s: --mode: expected fire or cancel, got \"%s\"\n", argv[0], v);
                return -1;
            }
            o->cancel = !strcmp(v, "cancel");
        } else {
            o->backend = v;
        }
    }
    return 0;
}

/* splitmix64: tiny, seedable, and identical in both programs, so both get the same deadlines. */
static uint64_t tm_next(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static uint64_t tm_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* User + system CPU seconds of the whole process. */
static double tm_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* A phase boundary: wall and CPU clocks read together. */
typedef struct tm_mark {
    uint64_t ns;
    double cpu;
} tm_mark;

static tm_mark tm_now(void)
{
    tm_mark m = {tm_mono_ns(), tm_cpu_s()};
    return m;
}

typedef struct tm_check {
    long n;
    uint16_t *delay;      /* ms, per timer */
    uint8_t *done;        /* completions seen, per timer */
    uint64_t *clock;      /* the loop's clock (ns) before each block of starts, and after the last */
    uint64_t (*loop_now)(void);
    long count;           /* completions seen in all */
    uint64_t max_lo;      /* latest "earliest possible deadline" among the timers fired so far */
    long last_of[TM_MAX_DELAY_MS + 1]; /* per delay: index of the last timer fired with it */
    long twice, out_of_order, early, bad_result;
} tm_check;

/* Allocates and fills the deadlines; exits on out-of-memory (a benchmark has nothing better to do). */
static void tm_check_init(tm_check *c, const tm_opts *o, uint64_t (*loop_now)(void))
{
    memset(c, 0, sizeof *c);
    c->n = o->timers;
    c->loop_now = loop_now;
    c->delay = malloc((size_t)c->n * sizeof *c->delay);
    c->done = calloc((size_t)c->n, 1);
    c->clock = calloc((size_t)(c->n / TM_BLOCK + 2), sizeof *c->clock);
    if (!c->delay || !c->done || !c->clock) {
        fprintf(stderr, "out of memory for %ld timers\n", c->n);
        exit(1);
    }
    uint64_t state = o->seed;
    for (long i = 0; i < c->n; i++)
        c->delay[i] = (uint16_t)(1 + tm_next(&state) % TM_MAX_DELAY_MS);
    for (int d = 0; d <= TM_MAX_DELAY_MS; d++)
        c->last_of[d] = -1;
    /* Touch every page now, so that their faults land outside the measured phases (volatile: a plain memset
     * of calloc'd memory may be optimised away). */
    volatile uint8_t *touch = c->done;
    for (long i = 0; i < c->n; i += 4096)
        touch[i] = 0;
}

/* Call before starting timer i (it samples the clock at block boundaries) and with i == n after the last. */
static inline void tm_starting(tm_check *c, long i)
{
    if (i % TM_BLOCK == 0 || i == c->n)
        c->clock[(i + TM_BLOCK - 1) / TM_BLOCK] = c->loop_now();
}

/* Call from every completion of timer i; ordered = 0 for cancellations, whose order nobody promises. */
static inline void tm_completed(tm_check *c, long i, int ordered)
{
    if (c->done[i]++) {
        c->twice++;
        return;
    }
    c->count++;
    if (!ordered)
        return;
    uint16_t d = c->delay[i];
    long b = i / TM_BLOCK;
    uint64_t lo = c->clock[b] + d * UINT64_C(1000000), hi = c->clock[b + 1] + d * UINT64_C(1000000);
    if (hi < c->max_lo || c->last_of[d] > i)
        c->out_of_order++;
    c->last_of[d] = i;
    if (lo > c->max_lo)
        c->max_lo = lo;
    if (c->count % TM_BLOCK == 0 && c->loop_now() < lo)
        c->early++;
}

/* After the run: every timer must have completed exactly `want` times (1, or 0 for libuv's stopped timers).
 * Returns the number of failed checks, having described them on stderr. */
static long tm_verify(const tm_check *c, int want)
{
    long missing = 0;
    for (long i = 0; i < c->n; i++)
        missing += c->done[i] != want;
    long bad = 0;
#define TM_REPORT_(count, what)                                   \
    if (count) {                                                  \
        fprintf(stderr, "check failed: %ld timers %s\n", (long)(count), what); \
        bad++;                                                    \
    }
    TM_REPORT_(missing, want ? "did not complete exactly once" : "fired although stopped")
    TM_REPORT_(c->twice, "completed more than once")
    TM_REPORT_(c->out_of_order, "fired out of deadline order")
    TM_REPORT_(c->early, "fired before their deadline")
    TM_REPORT_(c->bad_result, "completed with an unexpected result")
#undef TM_REPORT_
    return bad;
}

/* One named phase of the report: seconds of wall and CPU time between two marks. */
typedef struct tm_phase {
    const char *name;
    tm_mark from, to;
} tm_phase;

static void tm_report(const char *lib, const char *backend, const tm_opts *o, const tm_phase *ph, int count,
                      long failed)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"lib\":\"%s\",\"backend\":\"%s\",\"mode\":\"%s\",\"timers\":%ld,\"seed\":%" PRIu64, lib, backend,
           o->cancel ? "cancel" : "fire", o->timers, o->seed);
    for (int k = 0; k < count; k++)
        printf(",\"%s_s\":%.6f,\"%s_cpu_s\":%.6f", ph[k].name, (double)(ph[k].to.ns - ph[k].from.ns) / 1e9,
               ph[k].name, ph[k].to.cpu - ph[k].from.cpu);
    printf(",\"max_rss_kib\":%ld,\"ok\":%s}\n", (long)ru.ru_maxrss, failed ? "false" : "true");
}

#endif
