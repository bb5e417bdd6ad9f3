/* Small helpers shared by the samples: option parsing, backend names, sleeping, a stop flag set by
 * SIGINT/SIGTERM (POSIX) or the console control handler (Windows), and the descriptor limit.
 * Everything else in the samples is portable C11 against ringport.h. */
#ifndef RP_SAMPLES_COMMON_H
#define RP_SAMPLES_COMMON_H

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringport.h"

#if defined(_WIN32)
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#else
#include <sys/resource.h>
#include <time.h>
#endif

/* Shared counters and flags: C11 atomics, or Interlocked calls where MSVC's C mode lacks <stdatomic.h>. */
#if defined(_MSC_VER) && !defined(__clang__)
typedef volatile long sample_atomic;
#define sample_load(a) InterlockedCompareExchange((a), 0, 0)
#define sample_store(a, v) InterlockedExchange((a), (v))
#define sample_fetch_add(a, v) InterlockedExchangeAdd((a), (v))
#else
#include <stdatomic.h>
typedef atomic_long sample_atomic;
#define sample_load(a) atomic_load(a)
#define sample_store(a, v) atomic_store((a), (v))
#define sample_fetch_add(a, v) atomic_fetch_add((a), (v))
#endif

/* Set once a stop was asked for; the handlers below do nothing else. */
static volatile sig_atomic_t sample_stop;

#if defined(_WIN32)
static BOOL WINAPI sample_on_console(DWORD type)
{
    switch (type) {
    case CTRL_C_EVENT:
    case CTRL_BREAK_EVENT:
    case CTRL_CLOSE_EVENT:
    case CTRL_SHUTDOWN_EVENT:
        sample_stop = 1;
        return TRUE;
    default:
        return FALSE;
    }
}

static inline void sample_install_signals(void) { SetConsoleCtrlHandler(sample_on_console, TRUE); }

static inline void sample_sleep_ms(unsigned ms) { Sleep(ms); }

static inline uint64_t sample_now_ms(void) { return (uint64_t)GetTickCount64(); }

static inline void sample_raise_fd_limit(void) {}
#else
static void sample_on_signal(int sig)
{
    (void)sig;
    sample_stop = 1;
}

static inline void sample_install_signals(void)
{
    signal(SIGINT, sample_on_signal);
    signal(SIGTERM, sample_on_signal);
    signal(SIGPIPE, SIG_IGN); /* ringport never raises it; a belt for anything else */
}

static inline void sample_sleep_ms(unsigned ms)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(ms / 1000u);
    ts.tv_nsec = (long)(ms % 1000u) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !sample_stop)
        ;
}

static inline uint64_t sample_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Many connections need many descriptors: lift the soft limit to the hard one. */
static inline void sample_raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}
#endif

static inline int sample_parse_backend(const char *name, rp_backend *out)
{
    static const rp_backend all[] = {RP_BACKEND_AUTO, RP_BACKEND_IO_URING, RP_BACKEND_EPOLL, RP_BACKEND_KQUEUE,
                                     RP_BACKEND_IOCP};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(name, rp_backend_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    }
    return -1;
}

/* Parses a whole decimal number within [lo, hi]. Returns 0, or -1 (and says why on stderr). */
static inline int sample_parse_long(const char *opt, const char *text, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "%s: expected a number from %ld to %ld, got \"%s\"\n", opt, lo, hi, text);
        return -1;
    }
    *out = v;
    return 0;
}

/* One "--name value" option of a sample. */
typedef struct sample_option {
    const char *name;
    const char **value; /* set to the text that follows the name */
} sample_option;

/* Matches argv against opts; returns 0, 1 for --help, or -1 (unknown option or missing value). */
static inline int sample_parse_args(int argc, char **argv, const sample_option *opts, size_t count)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
        size_t k = 0;
        while (k < count && strcmp(argv[i], opts[k].name) != 0)
            k++;
        if (k == count) {
            fprintf(stderr, "unknown option %s (try --help)\n", argv[i]);
            return -1;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "%s needs a value\n", argv[i]);
            return -1;
        }
        *opts[k].value = argv[++i];
    }
    return 0;
}

/* --backend and --workers (the options every sample shares) into loop options, defaults for the rest.
 * Returns 0, or -1 after saying what is wrong. */
static inline int sample_loop_options(const char *backend, const char *workers, rp_loop_options *opts)
{
    rp_loop_options_init(opts);
    if (sample_parse_backend(backend, &opts->backend) != 0) {
        fprintf(stderr, "unknown backend \"%s\" (auto, io_uring, epoll, kqueue or iocp)\n", backend);
        return -1;
    }
    long n = RP_WORKERS_PER_CPU;
    if (workers && sample_parse_long("--workers", workers, 0, 256, &n) != 0)
        return -1;
    opts->workers = (int)n;
    return 0;
}

#endif
