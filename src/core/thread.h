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

int rp_thread_start(rp_thread *t, rp_thread_fn fn, void *arg); /* 0 or RP_E* */
void rp_thread_join(rp_thread t);
void rp_thread_yield(void);

void rp_mutex_init(rp_mutex *m);
void rp_mutex_destroy(rp_mutex *m);
void rp_mutex_lock(rp_mutex *m);
void rp_mutex_unlock(rp_mutex *m);

int rp_cpu_count(void);
uint64_t rp_now_ns(void); /* monotonic */

#endif
