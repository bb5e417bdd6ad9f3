/* Threads, mutexes, condition variables and the monotonic clock on POSIX. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "core/internal.h"

typedef struct thread_start {
    rp_thread_fn fn;
    void *arg;
} thread_start;

static void *trampoline(void *p)
{
    thread_start st = *(thread_start *)p;
    free(p);
    st.fn(st.arg);
    return NULL;
}

int rp__thread_start(rp_thread *t, rp_thread_fn fn, void *arg)
{
    thread_start *st = malloc(sizeof *st);
    if (!st)
        return RP_ENOMEM;
    st->fn = fn;
    st->arg = arg;
    int err = pthread_create(t, NULL, trampoline, st);
    if (err) {
        free(st);
        return err == EAGAIN ? RP_ENOMEM : rp__from_errno(err);
    }
    return 0;
}

void rp__thread_join(rp_thread t) { pthread_join(t, NULL); }
void rp__thread_detach(rp_thread t) { pthread_detach(t); }
void rp__thread_yield(void) { sched_yield(); }

void rp__sleep_ms(uint32_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

void rp__mutex_init(rp_mutex *m) { pthread_mutex_init(m, NULL); }
void rp__mutex_destroy(rp_mutex *m) { pthread_mutex_destroy(m); }
void rp__mutex_lock(rp_mutex *m) { pthread_mutex_lock(m); }
void rp__mutex_unlock(rp_mutex *m) { pthread_mutex_unlock(m); }
void rp__cond_wait(rp_cond *c, rp_mutex *m) { pthread_cond_wait(c, m); }
void rp__cond_signal(rp_cond *c) { pthread_cond_signal(c); }
void rp__cond_broadcast(rp_cond *c) { pthread_cond_broadcast(c); }

int rp__cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

uint64_t rp__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
