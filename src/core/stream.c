/* Socket operation logic shared by every backend: per-socket queues (at most one op per direction is
 * handed to the backend, so receives complete and sends go out in submission order), the accept ring,
 * connect, half-close, cancellation and the close sequence. Backends only move bytes and report. */
#include <stdlib.h>

#include "core/internal.h"

#define ACCEPT_HIGH_WATER 16u      /* stop accepting while this many connections wait for an accept op */
#define ACCEPT_BACKOFF_NS 100000000ull /* retry after EMFILE/ENFILE */

#if !defined(_WIN32)
#include <limits.h>
#include <sys/uio.h>
typedef char rp_buf_matches_iovec[(sizeof(rp_buf) == sizeof(struct iovec) &&
                                   offsetof(rp_buf, base) == offsetof(struct iovec, iov_base) &&
                                   offsetof(rp_buf, len) == offsetof(struct iovec, iov_len)) ? 1 : -1];
#ifndef IOV_MAX
#define IOV_MAX 1024
#endif
#endif

static rp_sock *sock_of(rp_worker *w, rp_op *op)
{
    rp_socket h = RP_PRIV(op)->target;
    rp_sock *s = rp__sock_at(w->loop, (uint32_t)h - 1u);
    /* Generation first: a stale handle must not read a slot another thread may be reusing. */
    if (!s || rp_atomic_load_u32(&s->gen) != (uint32_t)(h >> 32) || rp_atomic_relaxed_u32(&s->owner) == 0)
        return NULL;
    return s;
}

static void complete_all(rp_worker *w, rp_opq *q, int64_t result)
{
    rp_op *op;
    while ((op = rp_opq_pop(q)))
        rp__complete(w, op, result);
}

/* ---- sends ---- */
int rp__send_advance(rp_op *op, size_t n)
{
    rp_op_priv *p = RP_PRIV(op);
    p->u.send.sent += (int64_t)n;
    while (p->u.send.idx < p->u.send.count) {
        size_t left = p->u.send.bufs[p->u.send.idx].len - p->u.send.off;
        if (n < left) {
            p->u.send.off += n;
            return 0;
        }
        n -= left;
        p->u.send.idx++;
        p->u.send.off = 0;
    }
    return 1;
}

#if !defined(_WIN32)
size_t rp__send_iov(rp_sock *s, rp_op *op)
{
    rp_op_priv *p = RP_PRIV(op);
    size_t left = p->u.send.count - p->u.send.idx;
    struct msghdr *msg = &s->u.stream.msg;
    memset(msg, 0, sizeof *msg);
    if (p->u.send.off == 0) {
        msg->msg_iov = (struct iovec *)(void *)&p->u.send.bufs[p->u.send.idx];
        msg->msg_iovlen = left < IOV_MAX ? left : IOV_MAX;
    } else {
        size_t n = left < RP_SEND_IOV_MAX ? left : RP_SEND_IOV_MAX;
        for (size_t i = 0; i < n; i++) {
            const rp_buf *b = &p->u.send.bufs[p->u.send.idx + i];
            s->u.stream.iov[i].iov_base = b->base;
            s->u.stream.iov[i].iov_len = b->len;
        }
        s->u.stream.iov[0].iov_base = (char *)s->u.stream.iov[0].iov_base + p->u.send.off;
        s->u.stream.iov[0].iov_len -= p->u.send.off;
        msg->msg_iov = s->u.stream.iov;
        msg->msg_iovlen = n;
    }
    return (size_t)msg->msg_iovlen;
}
#endif

/* Hands queue heads to the backend where nothing is active. Shutdowns and empty sends at the head of the
 * send queue are done here, in order. */
void rp__kick(rp_worker *w, rp_sock *s)
{
    const rp_backend_vtable *be = w->loop->backend;
    if (s->flags & RP_SF_CLOSE_STARTED)
        return;
    if (s->recvq.head && !(s->active & RP_DIR_RECV)) {
        s->active |= RP_DIR_RECV;
        be->io_start(w, s, RP_DIR_RECV);
    }
    while (s->sendq.head && !(s->active & RP_DIR_SEND)) {
        rp_op *op = s->sendq.head;
        if (op->kind == RP_OP_SHUTDOWN) {
            rp_opq_pop(&s->sendq);
            rp__complete(w, op, rp__net_shutdown_write(s->fd));
            continue;
        }
        rp_op_priv *p = RP_PRIV(op);
        if (p->u.send.idx >= p->u.send.count || rp__send_advance(op, 0)) {
            rp_opq_pop(&s->sendq);
            rp__complete(w, op, p->u.send.sent);
            continue;
        }
        s->active |= RP_DIR_SEND;
        be->io_start(w, s, RP_DIR_SEND);
    }
    if (s->type == RP_SOCK_LISTENER && rp__accept_wanted(s) && !(s->active & RP_DIR_ACCEPT)) {
        s->active |= RP_DIR_ACCEPT;
        be->io_start(w, s, RP_DIR_ACCEPT);
    }
}

void rp__io_finish(rp_worker *w, rp_sock *s, uint32_t dir, int64_t result)
{
    rp_opq *q = dir == RP_DIR_RECV ? &s->recvq : &s->sendq;
    s->active &= ~dir;
    rp_op *op = rp_opq_pop(q);
    if (op) {
        if (dir == RP_DIR_SEND && result >= 0)
            result = RP_PRIV(op)->u.send.sent;
        rp__complete(w, op, result);
    }
    if (s->flags & RP_SF_CLOSE_STARTED) {
        complete_all(w, q, RP_ECANCELED);
        rp__sock_maybe_release(w, s);
        return;
    }
    rp__kick(w, s);
}

/* ---- accept ---- */
int rp__accept_wanted(rp_sock *s)
{
    return s->acceptq.head && s->u.listen.count < ACCEPT_HIGH_WATER &&
           !(s->flags & (RP_SF_ACCEPT_BACKOFF | RP_SF_CLOSE_STARTED));
}

static rp_fd ring_pop(rp_sock *s)
{
    rp_fd fd = s->u.listen.ring[s->u.listen.head];
    s->u.listen.head = (s->u.listen.head + 1) % s->u.listen.cap;
    s->u.listen.count--;
    return fd;
}

/* Wraps an accepted descriptor in a socket owned by the accept worker. */
static int adopt(rp_worker *w, rp_sock *ls, rp_fd fd, rp_socket *out)
{
    rp_loop *loop = w->loop;
    rp_worker *tw = rp__pick_worker(loop, ls->u.listen.accept_worker);
    rp_sock *s;
    int err = rp__sock_new(loop, tw, fd, RP_SOCK_STREAM, &s);
    if (err)
        return err;
    s->family = ls->family;
    if (ls->flags & RP_SF_NODELAY)
        rp__net_set_nodelay(fd, 1);
    rp__sock_publish(s);
    err = loop->backend->sock_attach(tw, s);
    if (err) {
        s->fd = RP_FD_INVALID;
        rp__sock_free(loop, s);
        return err;
    }
    *out = RP_SOCK_HANDLE(s);
    return 0;
}

int rp__accept_fill(rp_worker *w, rp_op *op)
{
    rp_sock *ls = sock_of(w, op);
    if (!ls || (ls->flags & RP_SF_CLOSE_STARTED))
        return 0;
    while (ls->u.listen.count) {
        rp_fd fd = ring_pop(ls);
        rp_socket h;
        if (adopt(w, ls, fd, &h) == 0) {
            op->socket = h;
            op->result = 0;
            op->flags = RP_OP_F_MORE;
            return 1;
        }
        rp__net_close(fd);
    }
    return 0;
}

static void accept_pump(rp_worker *w, rp_sock *s)
{
    while (s->u.listen.count && s->acceptq.head) {
        rp_op *op = s->acceptq.head;
        if (RP_PRIV(op)->iflags & RP_IF_MULTISHOT) {
            rp__ready_push(w, op);
            break;
        }
        rp_opq_pop(&s->acceptq);
        rp_fd fd = ring_pop(s);
        rp_socket h;
        int err = adopt(w, s, fd, &h);
        if (err) {
            rp__net_close(fd);
            op->socket = RP_SOCKET_INVALID;
            rp__complete(w, op, err);
            continue;
        }
        op->socket = h;
        rp__complete(w, op, 0);
    }
}

void rp__accept_push(rp_worker *w, rp_sock *s, rp_fd fd)
{
    if (s->flags & RP_SF_CLOSE_STARTED) {
        rp__net_close(fd);
        return;
    }
    if (s->u.listen.count == s->u.listen.cap) {
        uint32_t cap = s->u.listen.cap ? s->u.listen.cap * 2 : 32;
        rp_fd *ring = malloc((size_t)cap * sizeof *ring);
        if (!ring) {
            rp__net_close(fd); /* out of memory: the peer sees a reset rather than a hang */
            return;
        }
        for (uint32_t i = 0; i < s->u.listen.count; i++)
            ring[i] = s->u.listen.ring[(s->u.listen.head + i) % s->u.listen.cap];
        free(s->u.listen.ring);
        s->u.listen.ring = ring;
        s->u.listen.cap = cap;
        s->u.listen.head = 0;
    }
    s->u.listen.ring[(s->u.listen.head + s->u.listen.count) % s->u.listen.cap] = fd;
    s->u.listen.count++;
    accept_pump(w, s);
}

void rp__accept_delivered(rp_worker *w, rp_socket listener)
{
    rp_sock *s = rp__sock_at(w->loop, (uint32_t)listener - 1u);
    if (!s || rp_atomic_load_u32(&s->gen) != (uint32_t)(listener >> 32) || s->type != RP_SOCK_LISTENER ||
        (s->flags & RP_SF_CLOSE_STARTED))
        return;
    accept_pump(w, s);
    rp__kick(w, s);
}

void rp__accept_error(rp_worker *w, rp_sock *s, int err)
{
    s->active &= ~RP_DIR_ACCEPT;
    if (s->flags & RP_SF_CLOSE_STARTED) {
        rp__sock_maybe_release(w, s);
        return;
    }
    switch (err) {
    case RP_EMFILE:
    case RP_ENFILE:
    case RP_ENOBUFS:
    case RP_ENOMEM:
        /* Out of descriptors: neither spin nor stop; retry later. */
        if (!(s->flags & RP_SF_ACCEPT_BACKOFF)) {
            s->flags |= RP_SF_ACCEPT_BACKOFF;
            s->u.listen.backoff_next = w->backoff;
            if (!w->backoff)
                w->backoff_deadline = rp_now_ns() + ACCEPT_BACKOFF_NS;
            w->backoff = s;
        }
        return;
    case RP_ECONNABORTED:
    case RP_ECONNRESET:
    case RP_ECANCELED:
    case 0:
        break; /* the connection died in the backlog, or the backend stopped: accept again */
    default:
        if (s->acceptq.head) {
            rp_op *op = rp_opq_pop(&s->acceptq);
            op->socket = RP_SOCKET_INVALID;
            rp__complete(w, op, err);
        }
        break;
    }
    rp__kick(w, s);
}

void rp__backoff_run(rp_worker *w)
{
    rp_sock *s = w->backoff;
    w->backoff = NULL;
    while (s) {
        rp_sock *next = s->u.listen.backoff_next;
        s->u.listen.backoff_next = NULL;
        s->flags &= ~RP_SF_ACCEPT_BACKOFF;
        rp__kick(w, s);
        s = next;
    }
}

static void backoff_remove(rp_worker *w, rp_sock *s)
{
    rp_sock **pp = &w->backoff;
    while (*pp && *pp != s)
        pp = &(*pp)->u.listen.backoff_next;
    if (*pp)
        *pp = s->u.listen.backoff_next;
    s->flags &= ~RP_SF_ACCEPT_BACKOFF;
}

/* ---- connect ---- */
void rp__connect_finish(rp_worker *w, rp_sock *s, int err)
{
    rp_op *op = s->connect_op;
    s->active &= ~RP_DIR_CONNECT;
    s->connect_op = NULL;
    if (!op) {
        rp__sock_maybe_release(w, s);
        return;
    }
    if (err == 0 && (s->flags & RP_SF_CLOSE_STARTED))
        err = RP_ECANCELED;
    if (err == 0) {
        if (s->flags & RP_SF_NODELAY)
            rp__net_set_nodelay(s->fd, 1);
        op->socket = RP_SOCK_HANDLE(s);
        rp__complete(w, op, 0);
        rp__kick(w, s);
        return;
    }
    op->socket = RP_SOCKET_INVALID;
    rp__complete(w, op, err);
    if (!(s->flags & RP_SF_CLOSE_STARTED)) {
        rp_atomic_store_u32(&s->closing, 1);
        rp__sock_close_begin(w, s, NULL);
    } else {
        rp__sock_maybe_release(w, s);
    }
}

/* ---- timers bound to sockets ---- */
static void timer_bind(rp_sock *s, rp_op *op)
{
    rp_op_priv *p = RP_PRIV(op);
    p->u.timer.sock_prev = NULL;
    p->u.timer.sock_next = s->timers;
    if (s->timers)
        RP_PRIV(s->timers)->u.timer.sock_prev = op;
    s->timers = op;
}

void rp__timer_unbind(rp_worker *w, rp_op *op)
{
    rp_op_priv *p = RP_PRIV(op);
    if (!p->target)
        return;
    rp_sock *s = sock_of(w, op);
    if (!s)
        return;
    if (p->u.timer.sock_prev)
        RP_PRIV(p->u.timer.sock_prev)->u.timer.sock_next = p->u.timer.sock_next;
    else if (s->timers == op)
        s->timers = p->u.timer.sock_next;
    if (p->u.timer.sock_next)
        RP_PRIV(p->u.timer.sock_next)->u.timer.sock_prev = p->u.timer.sock_prev;
    p->u.timer.sock_prev = p->u.timer.sock_next = NULL;
}

/* ---- close ---- */
static void stop_direction(rp_worker *w, rp_sock *s, uint32_t dir, rp_opq *q)
{
    if ((s->active & dir) && w->loop->backend->io_cancel(w, s, dir)) {
        s->active &= ~dir;
        rp_op *op = rp_opq_pop(q);
        if (op)
            rp__complete(w, op, RP_ECANCELED);
    }
    if (!(s->active & dir))
        complete_all(w, q, RP_ECANCELED);
    /* else: the backend reports the active op; rp__io_finish then cancels the rest in order. */
}

void rp__sock_close_begin(rp_worker *w, rp_sock *s, rp_op *close_op)
{
    const rp_backend_vtable *be = w->loop->backend;
    s->flags |= RP_SF_CLOSE_STARTED;
    s->close_op = close_op;

    stop_direction(w, s, RP_DIR_RECV, &s->recvq);
    stop_direction(w, s, RP_DIR_SEND, &s->sendq);
    if (s->connect_op) {
        if (!(s->active & RP_DIR_CONNECT) || be->io_cancel(w, s, RP_DIR_CONNECT)) {
            rp_op *op = s->connect_op;
            s->connect_op = NULL;
            s->active &= ~RP_DIR_CONNECT;
            op->socket = RP_SOCKET_INVALID;
            rp__complete(w, op, RP_ECANCELED);
        }
    }
    if (s->type == RP_SOCK_LISTENER) {
        complete_all(w, &s->acceptq, RP_ECANCELED);
        if ((s->active & RP_DIR_ACCEPT) && be->io_cancel(w, s, RP_DIR_ACCEPT))
            s->active &= ~RP_DIR_ACCEPT;
        while (s->u.listen.count)
            rp__net_close(ring_pop(s));
        if (s->flags & RP_SF_ACCEPT_BACKOFF)
            backoff_remove(w, s);
    }
    while (s->timers) {
        rp_op *t = s->timers;
        rp__timer_unbind(w, t);
        rp_heap_remove(&w->timers, t);
        rp__complete(w, t, RP_ECANCELED);
    }
    be->sock_close(w, s);
    rp__sock_maybe_release(w, s);
}

void rp__sock_maybe_release(rp_worker *w, rp_sock *s)
{
    if ((s->flags & RP_SF_CLOSE_STARTED) && s->kernel_refs == 0 && s->active == 0)
        rp__sock_release(w, s);
}

void rp__sock_release(rp_worker *w, rp_sock *s)
{
    rp_op *close_op = s->close_op;
    if (s->fd != RP_FD_INVALID)
        rp__net_close(s->fd);
    if (s->type == RP_SOCK_LISTENER)
        free(s->u.listen.ring);
    s->close_op = NULL;
    rp__sock_free(w->loop, s);
    if (close_op)
        rp__complete(w, close_op, 0);
}

/* ---- starting a submission on its worker ---- */
void rp__op_start(rp_worker *w, rp_op *op)
{
    rp_op_priv *p = RP_PRIV(op);
    rp_sock *s = NULL;
    int cancelled = p->cancelled || rp_atomic_load_u32(&p->state) == RP_OP_STATE_CANCEL_QUEUED;

    if (op->kind == RP_OP_POST) {
        rp__complete(w, op, 0);
        return;
    }
    if (op->kind == RP_OP_TIMEOUT) {
        if (p->target) {
            s = sock_of(w, op);
            if (!s || (s->flags & RP_SF_CLOSE_STARTED))
                cancelled = 1;
        }
        if (cancelled || w->sweeping) {
            rp__complete(w, op, RP_ECANCELED);
            return;
        }
        p->u.timer.deadline += rp_now_ns(); /* held the delay until now */
        p->u.timer.seq = w->timer_seq++;
        if (rp_heap_push(&w->timers, op) != 0) {
            rp__complete(w, op, RP_ENOMEM);
            return;
        }
        p->place = RP_PLACE_TIMER;
        if (s)
            timer_bind(s, op);
        return;
    }

    s = sock_of(w, op);
    if (op->kind == RP_OP_CLOSE) {
        if (!s) {
            rp__complete(w, op, 0); /* already released (e.g. by rp_loop_destroy) */
        } else if (s->flags & RP_SF_CLOSE_STARTED) {
            if (!s->close_op)
                s->close_op = op;
            else
                rp__complete(w, op, 0);
        } else {
            rp__sock_close_begin(w, s, op);
        }
        return;
    }
    if (op->kind == RP_OP_CONNECT) {
        if (!s) {
            op->socket = RP_SOCKET_INVALID;
            rp__complete(w, op, RP_ECANCELED);
            return;
        }
        s->connect_op = op;
        p->place = RP_PLACE_QUEUE;
        if (cancelled || (s->flags & RP_SF_CLOSE_STARTED) || w->sweeping) {
            rp__connect_finish(w, s, RP_ECANCELED);
            return;
        }
        s->active |= RP_DIR_CONNECT;
        w->loop->backend->io_start(w, s, RP_DIR_CONNECT);
        return;
    }
    if (!s || cancelled || (s->flags & RP_SF_CLOSE_STARTED)) {
        if (op->kind == RP_OP_ACCEPT)
            op->socket = RP_SOCKET_INVALID;
        rp__complete(w, op, RP_ECANCELED);
        return;
    }
    p->place = RP_PLACE_QUEUE;
    switch (op->kind) {
    case RP_OP_RECV:
        rp_opq_push(&s->recvq, op);
        break;
    case RP_OP_SEND:
    case RP_OP_SHUTDOWN:
        rp_opq_push(&s->sendq, op);
        break;
    case RP_OP_ACCEPT:
        rp_opq_push(&s->acceptq, op);
        accept_pump(w, s);
        break;
    default:
        break;
    }
    rp__kick(w, s);
}

/* ---- cancellation on the owning worker ---- */
void rp__cancel_handle(rp_worker *w, rp_op *op)
{
    rp_op_priv *p = RP_PRIV(op);
    uint32_t state = rp_atomic_load_u32(&p->state);
    if (state != RP_OP_STATE_PENDING && state != RP_OP_STATE_CANCEL_QUEUED)
        return;
    switch (p->place) {
    case RP_PLACE_TRANSIT:
        p->cancelled = 1; /* rp__op_start completes it with RP_ECANCELED */
        return;
    case RP_PLACE_READY:
        return; /* the natural result won */
    case RP_PLACE_TIMER:
        rp__timer_unbind(w, op);
        rp_heap_remove(&w->timers, op);
        rp__complete(w, op, RP_ECANCELED);
        return;
    default:
        break;
    }
    rp_sock *s = sock_of(w, op);
    if (!s)
        return;
    const rp_backend_vtable *be = w->loop->backend;
    if (op->kind == RP_OP_CONNECT) {
        if (s->connect_op == op && (!(s->active & RP_DIR_CONNECT) || be->io_cancel(w, s, RP_DIR_CONNECT)))
            rp__connect_finish(w, s, RP_ECANCELED);
        return;
    }
    if (op->kind == RP_OP_ACCEPT) {
        if (rp_opq_remove(&s->acceptq, op)) {
            op->socket = RP_SOCKET_INVALID;
            rp__complete(w, op, RP_ECANCELED);
        }
        if (!s->acceptq.head && (s->active & RP_DIR_ACCEPT) && be->io_cancel(w, s, RP_DIR_ACCEPT))
            s->active &= ~RP_DIR_ACCEPT;
        return;
    }
    uint32_t dir = op->kind == RP_OP_RECV ? RP_DIR_RECV : RP_DIR_SEND;
    rp_opq *q = dir == RP_DIR_RECV ? &s->recvq : &s->sendq;
    if (q->head == op && (s->active & dir)) {
        if (be->io_cancel(w, s, dir))
            rp__io_finish(w, s, dir, RP_ECANCELED);
        return;
    }
    if (rp_opq_remove(q, op))
        rp__complete(w, op, RP_ECANCELED);
}
