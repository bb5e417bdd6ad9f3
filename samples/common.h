/* Small helpers shared by the samples: option parsing, backend names, a stop flag set by signals. */
#ifndef RP_SAMPLES_COMMON_H
#define RP_SAMPLES_COMMON_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringport.h"

#if defined(_WIN32)
#include <windows.h>
static void sample_sleep_ms(unsigned ms) { Sleep(ms); }
#else
#include <time.h>
static void sample_sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}
#endif

static volatile sig_atomic_t sample_stop;

static void sample_on_signal(int sig)
{
    (void)sig;
    sample_stop = 1;
}

static void sample_install_signals(void)
{
    signal(SIGINT, sample_on_signal);
    signal(SIGTERM, sample_on_signal);
#if !defined(_WIN32)
    signal(SIGPIPE, SIG_IGN);
#endif
}

static int sample_parse_backend(const char *name, rp_backend *out)
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

/* "--name value" options: returns the value for name, or NULL. */
static const char *sample_opt(int argc, char **argv, const char *name)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return NULL;
}

static long sample_opt_long(int argc, char **argv, const char *name, long dflt)
{
    const char *v = sample_opt(argc, argv, name);
    return v ? strtol(v, NULL, 10) : dflt;
}

/* --backend and --workers into loop options; prints and returns -1 on a bad backend name. */
static int sample_loop_options(int argc, char **argv, rp_loop_options *opts)
{
    rp_loop_options_init(opts);
    const char *backend = sample_opt(argc, argv, "--backend");
    if (backend && sample_parse_backend(backend, &opts->backend) != 0) {
        fprintf(stderr, "unknown backend %s\n", backend);
        return -1;
    }
    opts->workers = (int)sample_opt_long(argc, argv, "--workers", RP_WORKERS_PER_CPU);
    return 0;
}

#endif
