/* The kqueue poller for the shared reactor (macOS, FreeBSD, and Linux through libkqueue): EVFILT_READ
 * registered once per socket with EV_CLEAR (edge-triggered), EVFILT_WRITE added and removed on demand
 * with the change batched into the kevent call that waits, EVFILT_USER for wake-ups. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/event.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "posix/poller.h"

/* The event's udata carries the whole 64-bit socket token (generation and index). */
_Static_assert(sizeof(void *) >= sizeof(uint64_t), "kqueue backend needs 64-bit pointers");

#define WAKE_IDENT 0

typedef struct kq_poller {
    int kq;
    struct kevent *raw;
    int max;
    struct kevent *changes; /* write-interest changes waiting for the next kevent call */
    int nchanges, cap_changes;
} kq_poller;

static void *token_ptr(uint64_t token) { return (void *)(uintptr_t)token; }

static int kq_init(void **state, unsigned max_events)
{
    kq_poller *p = calloc(1, sizeof *p);
    if (!p)
        return RP_ENOMEM;
    p->max = (int)max_events;
    p->raw = calloc(max_events, sizeof *p->raw);
    p->cap_changes = 64;
    p->changes = calloc((size_t)p->cap_changes, sizeof *p->changes);
    p->kq = kqueue();
    int err = 0;
    if (!p->raw || !p->changes)
        err = RP_ENOMEM;
    else if (p->kq < 0)
        err = rp__from_errno(errno);
    if (!err) {
        struct kevent ev;
        EV_SET(&ev, WAKE_IDENT, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
        if (kevent(p->kq, &ev, 1, NULL, 0, NULL) != 0)
            err = rp__from_errno(errno);
    }
    if (err) {
        if (p->kq >= 0)
            close(p->kq);
        free(p->raw);
        free(p->changes);
        free(p);
        return err;
    }
    *state = p;
    return 0;
}

static void kq_fini(void *state)
{
    kq_poller *p = state;
    close(p->kq);
    free(p->raw);
    free(p->changes);
    free(p);
}

static int kq_add(void *state, rp_fd fd, uint64_t token)
{
    /* Immediate, not batched: sockets are registered from other threads too (accepted sockets). */
    kq_poller *p = state;
    struct kevent ev;
    EV_SET(&ev, fd, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, token_ptr(token));
    return kevent(p->kq, &ev, 1, NULL, 0, NULL) == 0 ? 0 : rp__from_errno(errno);
}

static int flush_changes(kq_poller *p)
{
    if (p->nchanges == 0)
        return 0;
    /* With no room for events, kevent reports a failed change as its return value; a write filter that
     * is already gone (ENOENT) is harmless. */
    int rc = kevent(p->kq, p->changes, p->nchanges, NULL, 0, NULL);
    p->nchanges = 0;
    return rc < 0 && errno != ENOENT ? rp__from_errno(errno) : 0;
}

static int kq_watch_write(void *state, rp_fd fd, uint64_t token, int on)
{
    kq_poller *p = state;
    if (p->nchanges == p->cap_changes) {
        int err = flush_changes(p);
        if (err)
            return err;
    }
    EV_SET(&p->changes[p->nchanges++], fd, EVFILT_WRITE, on ? (EV_ADD | EV_CLEAR) : EV_DELETE, 0, 0, token_ptr(token));
    return 0;
}

static void kq_del(void *state, rp_fd fd)
{
    kq_poller *p = state;
    /* Pending changes name this descriptor: apply them before it can be closed and reused. */
    flush_changes(p);
    struct kevent ev[2];
    EV_SET(&ev[0], fd, EVFILT_READ, EV_DELETE, 0, 0, NULL);
    EV_SET(&ev[1], fd, EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
    kevent(p->kq, &ev[0], 1, NULL, 0, NULL);
    kevent(p->kq, &ev[1], 1, NULL, 0, NULL); /* ENOENT when no write filter: fine */
}

static int kq_wait(void *state, int64_t timeout_ns, rp_poll_event *events, int max)
{
    kq_poller *p = state;
    struct timespec ts, *tsp = NULL;
    if (timeout_ns >= 0) {
        /* Whole milliseconds, rounded up, as the other backends wait: many timers a few µs apart then
         * cost one wake-up per millisecond, not one each. */
        int64_t ms = timeout_ns / 1000000 + (timeout_ns % 1000000 != 0);
        ts.tv_sec = (time_t)(ms / 1000);
        ts.tv_nsec = (long)(ms % 1000) * 1000000L;
        tsp = &ts;
    }
    if (max > p->max)
        max = p->max;
    /* The batched changes go in with the wait; failures come back as EV_ERROR events. */
    int n = kevent(p->kq, p->changes, p->nchanges, p->raw, max, tsp);
    p->nchanges = 0;
    if (n < 0)
        return 0; /* EINTR */
    int out = 0;
    for (int i = 0; i < n; i++) {
        struct kevent *e = &p->raw[i];
        if (e->flags & EV_ERROR)
            continue; /* a change that did not apply (e.g. deleting an absent write filter) */
        events[out].error = 0;
        if (e->filter == EVFILT_USER) {
            events[out].token = 0;
            events[out].events = 0;
            out++;
            continue;
        }
        uint32_t ev = 0;
        if (e->filter == EVFILT_READ)
            ev |= RP_EV_READ;
        else if (e->filter == EVFILT_WRITE)
            ev |= RP_EV_WRITE;
        if (e->flags & EV_EOF) {
            ev |= RP_EV_ERROR | (e->filter == EVFILT_READ ? RP_EV_HUP : 0u);
            events[out].error = (int)e->fflags; /* the socket error, if any */
        }
        events[out].token = (uint64_t)(uintptr_t)e->udata;
        events[out].events = ev;
        out++;
    }
    return out;
}

static void kq_wake(void *state)
{
    kq_poller *p = state;
    struct kevent ev;
    EV_SET(&ev, WAKE_IDENT, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
    kevent(p->kq, &ev, 1, NULL, 0, NULL);
}

static const rp_poller_vtable kqueue_poller_vt = {
    .init = kq_init,
    .fini = kq_fini,
    .add = kq_add,
    .watch_write = kq_watch_write,
    .del = kq_del,
    .wait = kq_wait,
    .wake = kq_wake,
};

static int kqueue_probe(char *why, size_t n)
{
    int kq = kqueue();
    if (kq < 0) {
        snprintf(why, n, "kqueue: %s", strerror(errno));
        return rp__from_errno(errno);
    }
    close(kq);
    return 0;
}

static int kqueue_worker_init(rp_worker *w, unsigned depth, int threaded)
{
    RP_UNUSED(threaded);
    return rp__reactor_init(w, &kqueue_poller_vt, depth);
}

const rp_backend_vtable rp__backend_kqueue = {
    .id = RP_BACKEND_KQUEUE,
    .nonblocking = 1,
    .probe = kqueue_probe,
    .worker_init = kqueue_worker_init,
    .worker_fini = rp__reactor_fini,
    .wake = rp__reactor_wake,
    .wait = rp__reactor_wait,
    .sock_attach = rp__reactor_attach,
    .sock_move = rp__reactor_sock_move,
    .io_start = rp__reactor_io_start,
    .io_cancel = rp__reactor_io_cancel,
    .sock_close = rp__reactor_sock_close,
    .flush = rp__reactor_flush,
};
