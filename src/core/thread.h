/* Threads, mutexes and clocks: implemented once per platform (src/posix/thread_posix.c,
 * src/win/thread_win.c). */
#ifndef RP_THREAD_H
#define RP_THREAD_H

#include <stdint.h>

#if defined(_WIN32)
#include <windows.h>
typedef HANDLE rp_thread;
typedef SRWLOCK rp_mutex;
#else
#include <pthread.h>
typedef pthread_t rp_thread;
typedef pthread_mutex_t rp_mutex;
#endif

typedef void (*rp_thread_fn)(void *arg);

int rp__thread_start(rp_thread *t, rp_thread_fn fn, void *arg); /* 0 or RP_E* */
void rp__thread_join(rp_thread t);
void rp__thread_yield(void);

void rp__mutex_init(rp_mutex *m);
void rp__mutex_destroy(rp_mutex *m);
void rp__mutex_lock(rp_mutex *m);
void rp__mutex_unlock(rp_mutex *m);

int rp__cpu_count(void);
uint64_t rp__now_ns(void); /* monotonic */

#endif
