/* The small interface a readiness mechanism (epoll, kqueue) implements for the shared reactor. Events
 * carry a 64-bit token: the socket handle (generation and index), so an event that arrives after its
 * socket was closed and the slot reused is recognised as stale. Token 0 is the wake-up. */
#ifndef RP_POLLER_H
#define RP_POLLER_H

#include "core/backend.h"

#define RP_EV_READ 0x1u
#define RP_EV_WRITE 0x2u
#define RP_EV_ERROR 0x4u /* error or hang-up: the next syscall reports what happened */
#define RP_EV_HUP 0x8u   /* the peer closed its side (or the connection failed): no more read edges */

typedef struct rp_poll_event {
    uint64_t token;
    uint32_t events;
    int error; /* errno the mechanism reported with the event (kqueue's EV_EOF fflags), else 0 */
} rp_poll_event;

typedef struct rp_poller_vtable {
    int (*init)(void **state, unsigned max_events);
    void (*fini)(void *state);
    /* Registers fd for edge-triggered read readiness (and errors). Any thread. */
    int (*add)(void *state, rp_fd fd, uint64_t token);
    /* Turns edge-triggered write readiness on or off. Worker thread. */
    int (*watch_write)(void *state, rp_fd fd, uint64_t token, int on);
    void (*del)(void *state, rp_fd fd);
    /* Waits up to timeout_ns (< 0 forever); fills events; consumes the wake-up itself (reports token 0). */
    int (*wait)(void *state, int64_t timeout_ns, rp_poll_event *events, int max);
    void (*wake)(void *state);
} rp_poller_vtable;

/* Backend functions of the reactor, parameterised by the worker's poller (posix/reactor.c). */
int rp__reactor_init(rp_worker *w, const rp_poller_vtable *pv, unsigned depth);
void rp__reactor_fini(rp_worker *w);
void rp__reactor_wake(rp_worker *w);
void rp__reactor_wait(rp_worker *w, int64_t timeout_ns);
int rp__reactor_attach(rp_worker *w, rp_sock *s);
int rp__reactor_sock_move(rp_worker *from, rp_worker *to, rp_sock *s);
void rp__reactor_io_start(rp_worker *w, rp_sock *s, uint32_t dir, rp_op *op);
int rp__reactor_io_cancel(rp_worker *w, rp_sock *s, uint32_t dir);
void rp__reactor_sock_close(rp_worker *w, rp_sock *s);
void rp__reactor_flush(rp_worker *w);

#endif
