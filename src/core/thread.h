/* Threads, mutexes, condition variables and clocks: implemented once per platform
 * (src/posix/thread_posix.c, src/win/thread_win.c). */
#ifndef RP_THREAD_H
#define RP_THREAD_H

#include <stdint.h>

#if defined(_WIN32)
#include <windows.h>
typedef HANDLE rp_thread;
typedef SRWLOCK rp_mutex;
typedef CONDITION_VARIABLE rp_cond;
#define RP_MUTEX_INITIALIZER SRWLOCK_INIT
#define RP_COND_INITIALIZER CONDITION_VARIABLE_INIT
#else
#include <pthread.h>
typedef pthread_t rp_thread;
typedef pthread_mutex_t rp_mutex;
typedef pthread_cond_t rp_cond;
#define RP_MUTEX_INITIALIZER PTHREAD_MUTEX_INITIALIZER
#define RP_COND_INITIALIZER PTHREAD_COND_INITIALIZER
#endif

typedef void (*rp_thread_fn)(void *arg);

int rp__thread_start(rp_thread *t, rp_thread_fn fn, void *arg); /* 0 or RP_E* */
void rp__thread_join(rp_thread t);
/* Lets the thread run on without anyone joining it: its resources go when it returns. */
void rp__thread_detach(rp_thread t);
void rp__thread_yield(void);
void rp__sleep_ms(uint32_t ms);

/* Mutexes and condition variables made with RP_MUTEX_INITIALIZER / RP_COND_INITIALIZER (static ones)
 * need no init and are never destroyed. */
void rp__mutex_init(rp_mutex *m);
void rp__mutex_destroy(rp_mutex *m);
void rp__mutex_lock(rp_mutex *m);
void rp__mutex_unlock(rp_mutex *m);
/* Releases m, waits for a signal (or a spurious wake-up) and takes m again. */
void rp__cond_wait(rp_cond *c, rp_mutex *m);
void rp__cond_signal(rp_cond *c);
void rp__cond_broadcast(rp_cond *c);

int rp__cpu_count(void);
uint64_t rp__now_ns(void); /* monotonic */

#endif
