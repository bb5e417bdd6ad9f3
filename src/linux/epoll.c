/* The epoll poller: edge-triggered registrations made once per socket; write interest added only while a
 * send waits for buffer space; an eventfd for wake-ups. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "posix/poller.h"

typedef struct epoll_poller {
    int epfd;
    int evfd;
    struct epoll_event *raw;
    int max;
} epoll_poller;

static int ep_init(void **state, unsigned max_events)
{
    epoll_poller *p = calloc(1, sizeof *p);
    if (!p)
        return RP_ENOMEM;
    p->max = (int)max_events;
    p->raw = calloc(max_events, sizeof *p->raw);
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    p->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    int err = 0;
    if (!p->raw)
        err = RP_ENOMEM;
    else if (p->epfd < 0 || p->evfd < 0)
        err = rp__from_errno(errno);
    if (!err) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};
        if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->evfd, &ev) != 0)
            err = rp__from_errno(errno);
    }
    if (err) {
        if (p->epfd >= 0)
            close(p->epfd);
        if (p->evfd >= 0)
            close(p->evfd);
        free(p->raw);
        free(p);
        return err;
    }
    *state = p;
    return 0;
}

static void ep_fini(void *state)
{
    epoll_poller *p = state;
    close(p->epfd);
    close(p->evfd);
    free(p->raw);
    free(p);
}

static int ep_add(void *state, rp_fd fd, uint64_t token)
{
    epoll_poller *p = state;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.u64 = token};
    return epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : rp__from_errno(errno);
}

static int ep_watch_write(void *state, rp_fd fd, uint64_t token, int on)
{
    epoll_poller *p = state;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET | (on ? EPOLLOUT : 0u), .data.u64 = token};
    return epoll_ctl(p->epfd, EPOLL_CTL_MOD, fd, &ev) == 0 ? 0 : rp__from_errno(errno);
}

static void ep_del(void *state, rp_fd fd)
{
    epoll_poller *p = state;
    struct epoll_event ev = {0};
    epoll_ctl(p->epfd, EPOLL_CTL_DEL, fd, &ev);
}

static int ep_wait(void *state, int64_t timeout_ns, rp_poll_event *events, int max)
{
    epoll_poller *p = state;
    int ms;
    if (timeout_ns < 0)
        ms = -1;
    else if (timeout_ns > (int64_t)1000000 * 1000000)
        ms = 1000000000;
    else
        ms = (int)((timeout_ns + 999999) / 1000000); /* round up: never wake before a deadline */
    if (max > p->max)
        max = p->max;
    int n = epoll_wait(p->epfd, p->raw, max, ms);
    if (n < 0)
        return 0; /* EINTR */
    for (int i = 0; i < n; i++) {
        uint32_t e = p->raw[i].events;
        events[i].token = p->raw[i].data.u64;
        events[i].error = 0; /* epoll leaves SO_ERROR to be read */
        events[i].events = ((e & (EPOLLIN | EPOLLRDHUP)) ? RP_EV_READ : 0u) | ((e & EPOLLOUT) ? RP_EV_WRITE : 0u) |
                           ((e & (EPOLLERR | EPOLLHUP)) ? RP_EV_ERROR : 0u) |
                           ((e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) ? RP_EV_HUP : 0u);
        if (events[i].token == 0) {
            uint64_t v;
            ssize_t r = read(p->evfd, &v, sizeof v);
            (void)r;
        }
    }
    return n;
}

static void ep_wake(void *state)
{
    epoll_poller *p = state;
    uint64_t one = 1;
    ssize_t r = write(p->evfd, &one, sizeof one);
    (void)r;
}

static const rp_poller_vtable epoll_poller_vt = {
    .init = ep_init,
    .fini = ep_fini,
    .add = ep_add,
    .watch_write = ep_watch_write,
    .del = ep_del,
    .wait = ep_wait,
    .wake = ep_wake,
};

static int epoll_probe(char *why, size_t n)
{
    int fd = epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) {
        snprintf(why, n, "epoll_create1: %s", strerror(errno));
        return rp__from_errno(errno);
    }
    close(fd);
    return 0;
}

static int epoll_worker_init(rp_worker *w, unsigned depth, int threaded)
{
    RP_UNUSED(threaded);
    return rp__reactor_init(w, &epoll_poller_vt, depth);
}

const rp_backend_vtable rp__backend_epoll = {
    .id = RP_BACKEND_EPOLL,
    .nonblocking = 1,
    .probe = epoll_probe,
    .worker_init = epoll_worker_init,
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
