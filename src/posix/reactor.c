/* Completions on top of readiness, shared by the epoll and kqueue backends: the head op of a direction is
 * tried at once (optimistic), and only on EAGAIN waits for the edge, after which it is tried again. One
 * code path per operation, two triggers. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "posix/poller.h"
#include "posix/sendfile_posix.h"
#include "posix/udp_io.h"
#include "posix/xfer_io.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* SO_NOSIGPIPE is set on the socket instead */
#endif

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

typedef struct reactor {
    const rp_poller_vtable *pv;
    void *poller;
    rp_poll_event *events;
    int max_events;
    struct iovec iov[IOV_MAX]; /* sends coalesced into one sendmsg (used within one call) */
    uint64_t *deferred;        /* handles of sockets whose send waits for rp__reactor_flush */
    uint32_t ndeferred, cap_deferred;
} reactor;

static reactor *reactor_of(rp_worker *w) { return (reactor *)w->backend; }

/* rp_sock.bflags */
/* The socket may have unread data. Cleared by a short read or EAGAIN, set again by the next read edge:
 * with edge-triggered registration every arrival raises an edge, so a receive submitted after a short
 * read waits for it instead of spending a recv() on EAGAIN (one syscall per message in ping-pong). */
#define REACTOR_BF_MAYBE_READABLE 0x1u
/* The peer's FIN (or an error) was seen: it raises no further edge, so reads are always tried from now on
 * (a short read before the end of stream must not park the next receive). */
#define REACTOR_BF_PEER_CLOSED 0x2u
/* The event reported a reset. libkqueue reads (and so clears) SO_ERROR while building the event, after
 * which recv() returns 0 as if the stream had ended in order: the reset is reported from here instead. */
#define REACTOR_BF_PEER_RESET 0x4u
/* Write readiness is being watched (only while a send or a connect waits for it). */
#define REACTOR_BF_WRITE_INTEREST 0x8u
/* A send was started and waits for the next flush (on the worker's deferred list). */
#define REACTOR_BF_SEND_DEFERRED 0x10u

int rp__reactor_init(rp_worker *w, const rp_poller_vtable *pv, unsigned depth)
{
    reactor *r = calloc(1, sizeof *r);
    if (!r)
        return RP_ENOMEM;
    r->pv = pv;
    r->max_events = depth > 1024 ? 1024 : (int)depth;
    r->events = calloc((size_t)r->max_events, sizeof *r->events);
    int err = r->events ? pv->init(&r->poller, (unsigned)r->max_events) : RP_ENOMEM;
    if (err) {
        free(r->events);
        free(r);
        return err;
    }
    w->backend = r;
    return 0;
}

void rp__reactor_fini(rp_worker *w)
{
    reactor *r = reactor_of(w);
    if (!r)
        return;
    r->pv->fini(r->poller);
    free(r->events);
    free(r->deferred);
    free(r);
    w->backend = NULL;
}

void rp__reactor_wake(rp_worker *w)
{
    reactor_of(w)->pv->wake(reactor_of(w)->poller);
}

int rp__reactor_attach(rp_worker *w, rp_sock *s)
{
    /* Every path that creates a socket for this backend made it non-blocking already. */
    s->bflags |= REACTOR_BF_MAYBE_READABLE;
    return reactor_of(w)->pv->add(reactor_of(w)->poller, s->fd, RP_SOCK_HANDLE(s));
}

int rp__reactor_sock_move(rp_worker *from, rp_worker *to, rp_sock *s)
{
    int err = reactor_of(to)->pv->add(reactor_of(to)->poller, s->fd, RP_SOCK_HANDLE(s));
    if (err)
        return err;
    reactor_of(from)->pv->del(reactor_of(from)->poller, s->fd);
    /* The write interest was the old registration's; what is known of the peer stays, and the socket may
     * hold bytes (the new registration reports them too, but a read costs nothing when there are none). */
    s->bflags = (s->bflags & (REACTOR_BF_PEER_CLOSED | REACTOR_BF_PEER_RESET)) | REACTOR_BF_MAYBE_READABLE;
    return 0;
}

static void watch_write(rp_worker *w, rp_sock *s, int on)
{
    if (!!(s->bflags & REACTOR_BF_WRITE_INTEREST) == !!on)
        return;
    if (reactor_of(w)->pv->watch_write(reactor_of(w)->poller, s->fd, RP_SOCK_HANDLE(s), on) == 0) {
        if (on)
            s->bflags |= REACTOR_BF_WRITE_INTEREST;
        else
            s->bflags &= ~REACTOR_BF_WRITE_INTEREST;
    }
}

/* One recv() into buf for the active receive (EINTR retried), keeping the readability flag. Returns the
 * bytes read (> 0), 0 to wait for the next read edge, or -1 with *end set to how the receive ends: 0 at
 * the orderly end of the stream, RP_ECONNRESET, or another error. */
static ssize_t read_once(rp_sock *s, void *buf, size_t len, int64_t *end)
{
    ssize_t n;
    do {
        n = recv(s->fd, buf, len, 0);
    } while (n < 0 && errno == EINTR);
    int again = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    if ((again || (n > 0 && (size_t)n < len)) && !(s->bflags & REACTOR_BF_PEER_CLOSED))
        s->bflags &= ~REACTOR_BF_MAYBE_READABLE; /* drained (or nearly): the next edge says when to try */
    if (n > 0)
        return n;
    if (again)
        return 0;
    if (n == 0)
        *end = (s->bflags & REACTOR_BF_PEER_RESET) ? RP_ECONNRESET : 0;
    else
        *end = rp__from_errno(errno);
    return -1;
}

static void try_recv(rp_worker *w, rp_sock *s)
{
    rp_op *op = rp__io_op(s, RP_DIR_RECV);
    if (!op || !(s->bflags & REACTOR_BF_MAYBE_READABLE))
        return;
    int64_t end = 0;
    ssize_t n = read_once(s, RP_PRIV(op)->u.recv.buf, RP_PRIV(op)->u.recv.len, &end);
    if (n != 0)
        rp__io_finish(w, s, RP_DIR_RECV, n > 0 ? (int64_t)n : end); /* starts the next receive, if any */
}

/* A pool receive: on readiness, reads into a free pool buffer. A multishot one goes on until the socket
 * is drained, the core says to wait (no free buffer, or enough chunks wait for delivery: it calls
 * io_start again when it can go on) or the receive ends. */
static void try_recv_pool(rp_worker *w, rp_sock *s)
{
    while (rp__io_op(s, RP_DIR_RECV) && (s->bflags & REACTOR_BF_MAYBE_READABLE)) {
        void *buf;
        size_t len;
        int64_t idx = rp__buf_take(w, s, &buf, &len);
        if (idx < 0)
            return;
        int64_t end = 0;
        ssize_t n = read_once(s, buf, len, &end);
        if (n > 0) {
            if (rp__recv_pool_data(w, s, idx, (size_t)n) == RP_IO_FINISHED)
                return; /* single shot: done (the next receive, if any, was started) */
            continue;
        }
        rp__buf_untake(w, s, idx);
        if (n < 0)
            rp__io_finish(w, s, RP_DIR_RECV, end);
        return;
    }
}

static void try_send(rp_worker *w, rp_sock *s)
{
    rp_op *op;
    while ((op = rp__io_op(s, RP_DIR_SEND))) {
        if (op->kind == RP_OP_SENDFILE) {
            int64_t r = rp__sendfile_step(s, op);
            s->send_batch = r == RP_EAGAIN ? 0 : 1;
            if (r == RP_EAGAIN) {
                watch_write(w, s, 1);
                return;
            }
            if (rp__send_progress(w, s, r > 0 ? (size_t)r : 0, r < 0 ? (int)r : 0) == RP_IO_FINISHED)
                return;
            continue;
        }
        struct msghdr *msg = &s->u.stream.io.msg;
        size_t iovcnt = rp__send_iov(s, op, reactor_of(w)->iov, IOV_MAX);
        /* One buffer (the common case) goes through send(): no msghdr and iovec to copy in. */
        ssize_t n = iovcnt == 1 && !msg->msg_control ? send(s->fd, msg->msg_iov[0].iov_base, msg->msg_iov[0].iov_len, MSG_NOSIGNAL)
                                : sendmsg(s->fd, msg, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            s->send_batch = 0; /* nothing is in flight while it waits for writability */
            watch_write(w, s, 1);
            return;
        }
        if (n < 0) {
            rp__send_progress(w, s, 0, rp__from_errno(errno));
            return;
        }
        if (rp__send_progress(w, s, (size_t)n, 0) == RP_IO_FINISHED)
            return; /* rp__send_progress started the next send, if any, through io_start */
    }
}

/* Datagrams: tried at once; waiting for readiness only when the socket had nothing (or no room). */
static void try_udp_recv(rp_worker *w, rp_sock *s, rp_op *op)
{
    if (!(s->bflags & REACTOR_BF_MAYBE_READABLE))
        return;
    int done = op->kind == RP_OP_UDP_RECV ? rp__udp_io_recv(w, s) : rp__udp_io_recv_pool(w, s);
    if (!done)
        s->bflags &= ~REACTOR_BF_MAYBE_READABLE; /* drained: the next datagram raises an edge */
}

/* A socket handed over: its message is read with recvmsg, on readiness like the rest. */
static void try_xfer_recv(rp_worker *w, rp_sock *s)
{
    if ((s->bflags & REACTOR_BF_MAYBE_READABLE) && !rp__xfer_io_recv(w, s))
        s->bflags &= ~REACTOR_BF_MAYBE_READABLE; /* drained: the next byte raises an edge */
}

static void try_udp_send(rp_worker *w, rp_sock *s)
{
    if (!rp__udp_io_send(w, s))
        watch_write(w, s, 1);
}

/* The active send goes on after writability: by its kind. */
static void resume_send(rp_worker *w, rp_sock *s)
{
    rp_op *op = rp__io_op(s, RP_DIR_SEND);
    if (op && op->kind == RP_OP_UDP_SEND)
        try_udp_send(w, s);
    else
        try_send(w, s);
}

/* A send started by the core goes out at the next flush (after the delivery round, or before the wait),
 * with every other send the round queued on the socket: one sendmsg instead of one send each. If the
 * list cannot grow, it is tried at once. */
static void defer_send(rp_worker *w, rp_sock *s)
{
    reactor *r = reactor_of(w);
    if (s->bflags & REACTOR_BF_SEND_DEFERRED)
        return;
    if (r->ndeferred == r->cap_deferred) {
        uint32_t cap = r->cap_deferred ? r->cap_deferred * 2 : 64;
        uint64_t *grown = realloc(r->deferred, cap * sizeof *grown);
        if (!grown) {
            try_send(w, s);
            return;
        }
        r->deferred = grown;
        r->cap_deferred = cap;
    }
    r->deferred[r->ndeferred++] = RP_SOCK_HANDLE(s);
    s->bflags |= REACTOR_BF_SEND_DEFERRED;
}

void rp__reactor_flush(rp_worker *w)
{
    reactor *r = reactor_of(w);
    /* Sends can defer more sends (a completion's next send): take the list as it is now. */
    for (uint32_t i = 0; i < r->ndeferred; i++) {
        rp_sock *s = rp__sock_live(w->loop, r->deferred[i]);
        if (!s || !rp__sock_owned_by(s, w) || !(s->bflags & REACTOR_BF_SEND_DEFERRED))
            continue; /* closed (and maybe reused) since */
        s->bflags &= ~REACTOR_BF_SEND_DEFERRED;
        if (!rp__sock_closing(s) && rp__io_active(s, RP_DIR_SEND))
            try_send(w, s); /* even with write interest on: an edge that came before this send is gone */
    }
    r->ndeferred = 0;
}

static void try_accept(rp_worker *w, rp_sock *s)
{
    while (rp__io_active(s, RP_DIR_ACCEPT) && rp__accept_wanted(s)) {
#if defined(__linux__) || defined(__FreeBSD__)
        int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
        int fd = accept(s->fd, NULL, NULL);
        if (fd >= 0 && rp__net_prepare_accepted(fd) != 0) {
            close(fd);
            continue;
        }
#endif
        if (fd >= 0) {
            rp__accept_push(w, s, fd);
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return; /* wait for the next connection */
        int err = rp__from_errno(errno);
        if (rp__accept_error_class(err) == RP_ACCEPT_RETRY)
            continue; /* the connection died in the backlog */
        rp__accept_stopped(w, s, err);
        return;
    }
    if (rp__io_active(s, RP_DIR_ACCEPT))
        rp__accept_stopped(w, s, 0); /* nobody waiting, or enough connections queued: kick restarts it */
}

/* A connect with early data (TCP Fast Open) goes on: the data, then the handshake's end. */
static void early_step(rp_worker *w, rp_sock *s, rp_op *op)
{
    int err = rp__connect_early_step(s, op);
    if (err == RP_EARLY_WAIT) {
        watch_write(w, s, 1); /* kept on while it waits: edge-triggered, every new room raises an edge */
        return;
    }
    watch_write(w, s, 0);
    rp__connect_finish(w, s, err);
}

static void start_connect(rp_worker *w, rp_sock *s, rp_op *op)
{
    int len = 0;
    rp__net_to_sockaddr(&RP_PRIV(op)->u.connect.addr, &s->u.stream.connect_addr, &len);
    if (RP_PRIV(op)->u.connect.early) {
        int err = rp__connect_early_start(s, op, len);
        if (err)
            rp__connect_finish(w, s, err);
        else
            early_step(w, s, op);
        return;
    }
    int rc;
    do {
        rc = connect(s->fd, (struct sockaddr *)&s->u.stream.connect_addr, (socklen_t)len);
    } while (rc != 0 && errno == EINTR);
    if (rc == 0) {
        rp__connect_finish(w, s, 0);
    } else if (errno == EINPROGRESS) {
        watch_write(w, s, 1);
    } else {
        rp__connect_finish(w, s, rp__from_errno(errno));
    }
}

static void finish_connect(rp_worker *w, rp_sock *s, int event_error)
{
    int err = rp__net_so_error(s->fd);
    if (err == 0)
        err = event_error; /* the mechanism may have read (and so cleared) SO_ERROR itself: libkqueue does */
    if (err == EINPROGRESS || err == EALREADY)
        return; /* spurious wake-up */
    rp_op *op = rp__io_op(s, RP_DIR_CONNECT);
    if (err == 0 && op && RP_PRIV(op)->u.connect.early) {
        early_step(w, s, op);
        return;
    }
    if (!rp__io_op(s, RP_DIR_SEND))
        watch_write(w, s, 0);
    rp__connect_finish(w, s, err ? rp__from_errno(err) : 0);
}

void rp__reactor_io_start(rp_worker *w, rp_sock *s, uint32_t dir, rp_op *op)
{
    RP_UNUSED(dir);
    switch ((rp_op_kind)op->kind) {
    case RP_OP_RECV: try_recv(w, s); break;
    case RP_OP_RECV_POOL: try_recv_pool(w, s); break;
    case RP_OP_SEND:
    case RP_OP_SEND_SOCKET:
    case RP_OP_SENDFILE: defer_send(w, s); break;
    case RP_OP_RECV_SOCKET: try_xfer_recv(w, s); break;
    case RP_OP_ACCEPT: try_accept(w, s); break;
    case RP_OP_CONNECT: start_connect(w, s, op); break;
    case RP_OP_UDP_SEND: try_udp_send(w, s); break;
    case RP_OP_UDP_RECV:
    case RP_OP_UDP_RECV_POOL: try_udp_recv(w, s, op); break;
    RP_CASE_KINDS_RUN_BY_THE_CORE: break;
    }
}

int rp__reactor_io_cancel(rp_worker *w, rp_sock *s, uint32_t dir)
{
    /* Nothing is in the kernel: the op is only waiting for readiness, so it stops at once. */
    RP_UNUSED(w);
    RP_UNUSED(s);
    RP_UNUSED(dir);
    return 1;
}

void rp__reactor_sock_close(rp_worker *w, rp_sock *s)
{
    if (s->fd != RP_FD_INVALID)
        reactor_of(w)->pv->del(reactor_of(w)->poller, s->fd);
}

static void on_event(rp_worker *w, rp_sock *s, uint32_t ev, int error)
{
    if (rp__sock_closing(s))
        return;
    if (s->type == RP_SOCK_DGRAM && error && rp__atomic_load_u32(&s->u.stream.dgram.peer_fixed) &&
        rp__io_active(s, RP_DIR_RECV)) {
        /* An ICMP error on a connected datagram socket that the mechanism read (and so cleared) while
         * building the event, as libkqueue does: the receive would find nothing, so it is reported here. */
        rp__io_finish(w, s, RP_DIR_RECV, rp__from_errno(error));
        return;
    }
    if (ev & RP_EV_HUP)
        s->bflags |= REACTOR_BF_PEER_CLOSED;
    if ((ev & RP_EV_HUP) && error == ECONNRESET)
        s->bflags |= REACTOR_BF_PEER_RESET;
    if (ev & (RP_EV_READ | RP_EV_ERROR | RP_EV_HUP)) {
        s->bflags |= REACTOR_BF_MAYBE_READABLE;
        rp_op *recv_op = rp__io_op(s, RP_DIR_RECV);
        if (recv_op)
            rp__reactor_io_start(w, s, RP_DIR_RECV, recv_op); /* the receive's kind says how */
        if (rp__io_active(s, RP_DIR_ACCEPT))
            try_accept(w, s);
    }
    if (ev & (RP_EV_WRITE | RP_EV_ERROR)) {
        if (rp__io_active(s, RP_DIR_CONNECT))
            finish_connect(w, s, error);
        else if (rp__io_active(s, RP_DIR_SEND))
            resume_send(w, s);
        else if ((s->bflags & REACTOR_BF_WRITE_INTEREST) && !rp__sock_closing(s))
            watch_write(w, s, 0); /* nothing left to send: stop watching */
    }
}

void rp__reactor_wait(rp_worker *w, int64_t timeout_ns)
{
    reactor *r = reactor_of(w);
    int n = r->pv->wait(r->poller, timeout_ns, r->events, r->max_events);
    for (int i = 0; i < n; i++) {
        uint64_t token = r->events[i].token;
        if (token == 0) {
            rp__wake_consumed(w);
            continue;
        }
        rp_sock *s = rp__sock_live(w->loop, token);
        if (!s || !rp__sock_owned_by(s, w))
            continue; /* stale: the socket was closed (or moved to another worker) after the event was queued */
        on_event(w, s, r->events[i].events, r->events[i].error);
    }
}
