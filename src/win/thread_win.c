/* Threads, locks, condition variables and the monotonic clock on Windows. */
#include <process.h>
#include <stdlib.h>

#include "core/internal.h"

typedef struct thread_start {
    rp_thread_fn fn;
    void *arg;
} thread_start;

static unsigned __stdcall trampoline(void *p)
{
    thread_start st = *(thread_start *)p;
    free(p);
    st.fn(st.arg);
    return 0;
}

int rp__thread_start(rp_thread *t, rp_thread_fn fn, void *arg)
{
    thread_start *st = malloc(sizeof *st);
    if (!st)
        return RP_ENOMEM;
    st->fn = fn;
    st->arg = arg;
    /* _beginthreadex rather than CreateThread: the C runtime sets up its per-thread state. */
    uintptr_t h = _beginthreadex(NULL, 0, trampoline, st, 0, NULL);
    if (h == 0) {
        free(st);
        return RP_ENOMEM;
    }
    *t = (HANDLE)h;
    return 0;
}

void rp__thread_join(rp_thread t)
{
    WaitForSingleObject(t, INFINITE);
    CloseHandle(t);
}

void rp__thread_detach(rp_thread t) { CloseHandle(t); } /* the thread runs on; its handle is not needed */
void rp__thread_yield(void) { SwitchToThread(); }
void rp__sleep_ms(uint32_t ms) { Sleep(ms); }

void rp__mutex_init(rp_mutex *m) { InitializeSRWLock(m); }
void rp__mutex_destroy(rp_mutex *m) { RP_UNUSED(m); } /* SRW locks own no resources */
void rp__mutex_lock(rp_mutex *m) { AcquireSRWLockExclusive(m); }
void rp__mutex_unlock(rp_mutex *m) { ReleaseSRWLockExclusive(m); }
void rp__cond_wait(rp_cond *c, rp_mutex *m) { SleepConditionVariableSRW(c, m, INFINITE, 0); }
void rp__cond_signal(rp_cond *c) { WakeConditionVariable(c); }
void rp__cond_broadcast(rp_cond *c) { WakeAllConditionVariable(c); }

int rp__cpu_count(void)
{
    SYSTEM_INFO si;
    GetSystemInfo(&si);
    return si.dwNumberOfProcessors > 0 ? (int)si.dwNumberOfProcessors : 1;
}

uint64_t rp__now_ns(void)
{
    LARGE_INTEGER freq, now;
    QueryPerformanceFrequency(&freq); /* reads a constant from shared memory: cheap, and no static to race on */
    QueryPerformanceCounter(&now);
    uint64_t f = (uint64_t)freq.QuadPart, c = (uint64_t)now.QuadPart;
    /* Split so that counter * 1e9 cannot overflow. */
    return (c / f) * 1000000000u + (c % f) * 1000000000u / f;
}
