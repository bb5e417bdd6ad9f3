/* Socket logic shared by every backend: per-socket queues (at most one op per direction is handed to the
 * backend, so receives complete and sends go out in submission order), send progress, the accept ring
 * and back-off, connect, half-close, sockets' timers and the close sequence. Backends only move bytes and
 * report (core/backend.h). */
#include <stdlib.h>

#include "core/backend.h"
#include "core/bufpool.h"

#define ACCEPT_HIGH_WATER 16u          /* stop accepting while this many connections wait for an accept op */
#define ACCEPT_BACKOFF_NS 100000000ull /* retry after EMFILE/ENFILE */

static void complete_all(rp_worker *w, rp_opq *q, int64_t result)
{
    rp_op *op;
    while ((op = rp__opq_pop(q)))
        rp__complete(w, op, result);
}

static void sock_maybe_release(rp_worker *w, rp_sock *s);

int rp__opq_remove(rp_opq *q, rp_op *op)
{
    rp_op *prev = NULL;
    for (rp_op *it = q->head; it; prev = it, it = RP_PRIV(it)->next) {
        if (it != op)
            continue;
        if (prev)
            RP_PRIV(prev)->next = RP_PRIV(it)->next;
        else
            q->head = RP_PRIV(it)->next;
        if (q->tail == it)
            q->tail = prev;
        RP_PRIV(it)->next = NULL;
        return 1;
    }
    return 0;
}

/* Asks the backend to stop the active op of dir. Returns 1 if it stopped now (the direction is no longer
 * active), 0 if the backend reports it later; until then rp__io_stopping(s, dir) holds. */
int rp__stop_active(rp_worker *w, rp_sock *s, uint32_t dir)
{
    s->stopping |= dir;
    /* A pool receive waiting for buffers or deliveries has nothing with the backend. */
    int stopped = dir == RP_DIR_RECV && rp__recv_pool_stop_waiting(s);
    if (!stopped && !w->loop->backend->io_cancel(w, s, dir))
        return 0;
    s->stopping &= ~dir;
    s->active &= ~dir;
    return 1;
}

/* ---- sends ---- */
size_t rp__send_seg_len(const rp_op *op, uint32_t i)
{
    const rp_op_priv *p = (const rp_op_priv *)(const void *)op->internal_;
    if (op->kind != RP_OP_SENDFILE)
        return p->u.send.bufs[i].len;
    if (i == 0)
        return p->u.send.file.head_len;
    if (i == 2)
        return p->u.send.file.tail_len;
    return (size_t)(p->u.send.total - p->u.send.file.head_len - p->u.send.file.tail_len);
}

/* Records n more bytes sent (at most what op has left). */
static void send_advance(rp_op *op, size_t n)
{
    rp_op_priv *p = RP_PRIV(op);
    p->u.send.sent += (int64_t)n;
    while (p->u.send.idx < p->u.send.count) {
        size_t left = rp__send_seg_len(op, p->u.send.idx) - p->u.send.off;
        if (n < left) {
            p->u.send.off += n;
            return;
        }
        n -= left;
        p->u.send.idx++;
        p->u.send.off = 0;
    }
}

static uint64_t send_left(const rp_op *op)
{
    const rp_op_priv *p = (const rp_op_priv *)(const void *)op->internal_;
    return (uint64_t)(p->u.send.total - p->u.send.sent);
}

int rp__io_in_flight(const rp_sock *s, uint32_t dir, const rp_op *op)
{
    const rp_op *it = dir == RP_DIR_RECV ? s->recvq.head : s->sendq.head;
    if (it == op)
        return 1;
    if (dir != RP_DIR_SEND)
        return 0;
    for (uint32_t i = 1; i < s->send_batch && it; i++) {
        it = ((const rp_op_priv *)(const void *)it->internal_)->next;
        if (it == op)
            return 1;
    }
    return 0;
}

/* Whether op carries bytes that a send request moves (and so takes part in send progress). A new kind in
 * the send queue must say here how its bytes are counted. */
static int moves_bytes(const rp_op *op)
{
    if (!op)
        return 0;
    switch ((rp_op_kind)op->kind) {
    case RP_OP_SEND:
    case RP_OP_SEND_SOCKET: return 1; /* a socket handed over: its message is bytes like a send's */
    case RP_OP_SENDFILE: return 1;    /* head, file range and tail: segments like a send's buffers */
    case RP_OP_SHUTDOWN: return 0;    /* run by the core in queue order */
    case RP_OP_NONE:
    case RP_OP_ACCEPT:
    case RP_OP_CONNECT:
    case RP_OP_RECV:
    case RP_OP_CLOSE:
    case RP_OP_TIMEOUT:
    case RP_OP_UDP_SEND: return 0; /* datagrams: the backend reports them (rp__udp_send_done) */
    case RP_OP_POST:
    case RP_OP_RECV_POOL:
    case RP_OP_UDP_RECV:
    case RP_OP_UDP_RECV_POOL:
    case RP_OP_RECV_SOCKET:
    case RP_OP_RESOLVE:
    case RP_OP_MOVE: return 0; /* not routed to the send queue (op table) */
    }
    return 0;
}

/* The op may be sent: a send not cancelled while it waited in the queue. */
static int send_goes_on(const rp_op *op)
{
    return moves_bytes(op) && !((const rp_op_priv *)(const void *)op->internal_)->cancelled;
}

rp_io_next rp__send_progress(rp_worker *w, rp_sock *s, size_t n, int err)
{
    /* The request covered the head and, coalesced, the sends after it (send_batch of them): the bytes go
     * to them in queue order, and every send they finish completes, in order. */
    s->send_batch = 0;
    rp_op *op = s->sendq.head;
    while (moves_bytes(op) && n >= send_left(op)) {
        n -= (size_t)send_left(op);
        send_advance(op, (size_t)send_left(op));
        rp__opq_pop(&s->sendq);
        rp__complete(w, op, RP_PRIV(op)->u.send.sent);
        op = s->sendq.head;
    }
    if (moves_bytes(op) && n > 0)
        send_advance(op, n);
    if (err == RP_ECANCELED && rp__io_stopping(s, RP_DIR_SEND))
        err = 0; /* the request was stopped on our request: below decides what that means for the head */
    if (err && moves_bytes(op)) {
        rp__io_finish(w, s, RP_DIR_SEND, err); /* rp_op_sent tells how much went out before it */
        return RP_IO_FINISHED;
    }
    if (rp__io_stopping(s, RP_DIR_SEND)) {
        /* Stopped: by a close, by a cancel of the head (it ends part-way with RP_ECANCELED), or by a cancel
         * of a send coalesced behind it (the head goes on; the cancelled one ends when it gets there). */
        if (moves_bytes(op) && (rp__sock_closing(s) || RP_PRIV(op)->cancelled)) {
            rp__io_finish(w, s, RP_DIR_SEND, RP_ECANCELED);
            return RP_IO_FINISHED;
        }
        s->stopping &= ~RP_DIR_SEND;
    }
    if (send_goes_on(op))
        return RP_IO_RESTART; /* the backend issues the next request: rp__io_op(s, RP_DIR_SEND) */
    rp__io_done(w, s, RP_DIR_SEND);
    return RP_IO_FINISHED;
}

/* Starts or runs the head of the send queue. Returns 0 once the direction is handed to the backend, 1 if
 * the head was completed here (the next one may follow). */
static int start_send_head(rp_worker *w, rp_sock *s, rp_op *op)
{
    switch ((rp_op_kind)op->kind) {
    case RP_OP_SEND:
    case RP_OP_SEND_SOCKET:
    case RP_OP_SENDFILE:
        if (RP_PRIV(op)->cancelled || send_left(op) == 0) {
            /* Cancelled while coalesced behind a send in flight, or nothing (left) to send. */
            rp__opq_pop(&s->sendq);
            rp__complete(w, op, RP_PRIV(op)->cancelled ? RP_ECANCELED : RP_PRIV(op)->u.send.sent);
            return 1;
        }
        s->active |= RP_DIR_SEND;
        w->loop->backend->io_start(w, s, RP_DIR_SEND, op);
        return 0;
    case RP_OP_UDP_SEND:
        if (RP_PRIV(op)->cancelled) {
            rp__opq_pop(&s->sendq);
            rp__complete(w, op, RP_ECANCELED);
            return 1;
        }
        s->active |= RP_DIR_SEND;
        w->loop->backend->io_start(w, s, RP_DIR_SEND, op);
        return 0;
    case RP_OP_SHUTDOWN: /* in order: after every send queued before it */
        rp__opq_pop(&s->sendq);
        rp__complete(w, op, rp__net_shutdown_write(s->fd));
        return 1;
    case RP_OP_NONE:
    case RP_OP_ACCEPT:
    case RP_OP_CONNECT:
    case RP_OP_RECV:
    case RP_OP_CLOSE:
    case RP_OP_TIMEOUT:
    case RP_OP_POST:
    case RP_OP_RECV_POOL:
    case RP_OP_UDP_RECV:
    case RP_OP_UDP_RECV_POOL:
    case RP_OP_RECV_SOCKET:
    case RP_OP_RESOLVE:
    case RP_OP_MOVE: break; /* not routed to the send queue (op table) */
    }
    rp__opq_pop(&s->sendq);
    rp__complete(w, op, RP_EINVAL);
    return 1;
}

/* What the core prepares before the head of the receive queue goes to the backend. */
static void prepare_recv_head(rp_worker *w, rp_op *op)
{
    switch ((rp_op_kind)op->kind) {
    case RP_OP_RECV_POOL:
    case RP_OP_UDP_RECV_POOL: rp__recv_pool_prepare(w, op); return;
    case RP_OP_RECV:
    case RP_OP_UDP_RECV:
    case RP_OP_RECV_SOCKET: return;
    case RP_OP_NONE:
    case RP_OP_ACCEPT:
    case RP_OP_CONNECT:
    case RP_OP_SEND:
    case RP_OP_SHUTDOWN:
    case RP_OP_CLOSE:
    case RP_OP_TIMEOUT:
    case RP_OP_POST:
    case RP_OP_UDP_SEND:
    case RP_OP_SEND_SOCKET:
    case RP_OP_SENDFILE:
    case RP_OP_RESOLVE:
    case RP_OP_MOVE: return; /* not routed to the receive queue (op table) */
    }
}

/* Hands queue heads to the backend where nothing is active. */
void rp__kick(rp_worker *w, rp_sock *s)
{
    const rp_backend_vtable *be = w->loop->backend;
    if (s->flags & RP_SF_CLOSE_STARTED)
        return;
    if (s->recvq.head && !(s->active & RP_DIR_RECV) && !(s->flags & RP_SF_RECV_HELD)) {
        prepare_recv_head(w, s->recvq.head);
        s->active |= RP_DIR_RECV;
        be->io_start(w, s, RP_DIR_RECV, s->recvq.head);
    }
    while (s->sendq.head && !(s->active & RP_DIR_SEND) && start_send_head(w, s, s->sendq.head))
        ;
    if (s->type == RP_SOCK_LISTENER && rp__accept_wanted(s) && !(s->active & RP_DIR_ACCEPT)) {
        s->active |= RP_DIR_ACCEPT;
        be->io_start(w, s, RP_DIR_ACCEPT, s->acceptq.head);
    }
}

static rp_opq *dir_queue(rp_sock *s, uint32_t dir)
{
    return dir == RP_DIR_RECV ? &s->recvq : &s->sendq;
}

void rp__io_finish(rp_worker *w, rp_sock *s, uint32_t dir, int64_t result)
{
    rp_op *op = rp__opq_pop(dir_queue(s, dir));
    if (op) {
        if (op->kind == RP_OP_RECV_POOL || op->kind == RP_OP_UDP_RECV_POOL)
            rp__recv_pool_finished(s, op);
        rp__complete(w, op, result);
    }
    rp__io_done(w, s, dir);
}

void rp__io_done(rp_worker *w, rp_sock *s, uint32_t dir)
{
    rp_opq *q = dir_queue(s, dir);
    s->active &= ~dir;
    s->stopping &= ~dir;
    if (dir == RP_DIR_SEND)
        s->send_batch = 0;
    if (s->flags & RP_SF_CLOSE_STARTED) {
        complete_all(w, q, RP_ECANCELED);
        sock_maybe_release(w, s);
        return;
    }
    rp__kick(w, s);
}

/* ---- accept ---- */
int rp__accept_wanted(const rp_sock *s)
{
    return s->acceptq.head && s->u.listen.count < ACCEPT_HIGH_WATER &&
           !(s->flags & (RP_SF_ACCEPT_BACKOFF | RP_SF_CLOSE_STARTED));
}

rp_accept_error_class rp__accept_error_class(int err)
{
    switch (err) {
    case RP_EMFILE:
    case RP_ENFILE:
    case RP_ENOBUFS:
    case RP_ENOMEM: return RP_ACCEPT_BACKOFF;
    case 0:
    case RP_ECONNABORTED:
    case RP_ECONNRESET:
    case RP_ECANCELED: return RP_ACCEPT_RETRY;
    default: return RP_ACCEPT_FAIL;
    }
}

static rp_fd ring_pop(rp_sock *s)
{
    rp_fd fd = s->u.listen.ring[s->u.listen.head];
    s->u.listen.head = (s->u.listen.head + 1) % s->u.listen.cap;
    s->u.listen.count--;
    return fd;
}

/* Wraps an accepted descriptor in a socket owned by the accept worker (fd closed on failure). */
static int adopt(rp_worker *w, rp_sock *ls, rp_fd fd, rp_socket *out)
{
    rp_loop *loop = w->loop;
    rp_worker *tw = rp__pick_worker(loop, ls->u.listen.accept_worker);
    rp_sock *s;
    int err = rp__sock_open(loop, tw, fd, RP_SOCK_STREAM, ls->family, &s);
    if (err)
        return err;
    if (ls->flags & RP_SF_NODELAY)
        rp__net_set_nodelay(fd, 1);
    return rp__sock_attach_new(loop, tw, s, out);
}

int rp__accept_fill(rp_worker *w, rp_op *op)
{
    rp_sock *ls = rp__sock_live(w->loop, RP_PRIV(op)->target);
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
    }
    return 0;
}

/* Hands queued connections to waiting accept ops (a multishot one takes them as it is delivered). */
void rp__accept_pump(rp_worker *w, rp_sock *s)
{
    while (s->u.listen.count && s->acceptq.head) {
        rp_op *op = s->acceptq.head;
        if (RP_PRIV(op)->iflags & RP_IF_REPEATING) {
            rp__ready_push(w, op);
            break;
        }
        rp__opq_pop(&s->acceptq);
        rp_fd fd = ring_pop(s);
        rp_socket h;
        int err = adopt(w, s, fd, &h);
        if (err) {
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
    rp__accept_pump(w, s);
}

void rp__accept_delivered(rp_worker *w, rp_socket listener)
{
    rp_sock *s = rp__sock_live(w->loop, listener);
    if (!s || s->type != RP_SOCK_LISTENER || (s->flags & RP_SF_CLOSE_STARTED))
        return;
    rp__accept_pump(w, s);
    rp__kick(w, s);
}

static void backoff_enter(rp_worker *w, rp_sock *s)
{
    if (s->flags & RP_SF_ACCEPT_BACKOFF)
        return;
    s->flags |= RP_SF_ACCEPT_BACKOFF;
    s->u.listen.backoff_next = w->backoff;
    if (!w->backoff)
        w->backoff_deadline = rp__now_ns() + ACCEPT_BACKOFF_NS;
    w->backoff = s;
}

static void accept_fail_first(rp_worker *w, rp_sock *s, int err)
{
    rp_op *op = rp__opq_pop(&s->acceptq);
    if (op)
        rp__complete(w, op, err);
}

void rp__accept_failed(rp_worker *w, rp_sock *s, int err)
{
    if (s->flags & RP_SF_CLOSE_STARTED)
        return;
    switch (rp__accept_error_class(err)) {
    case RP_ACCEPT_FAIL: accept_fail_first(w, s, err); break;
    case RP_ACCEPT_RETRY:
    case RP_ACCEPT_BACKOFF: break; /* the backend goes on accepting; it backs off when nothing is posted */
    }
}

void rp__accept_stopped(rp_worker *w, rp_sock *s, int err)
{
    s->active &= ~RP_DIR_ACCEPT;
    s->stopping &= ~RP_DIR_ACCEPT;
    if (s->flags & RP_SF_CLOSE_STARTED) {
        sock_maybe_release(w, s);
        return;
    }
    switch (rp__accept_error_class(err)) {
    case RP_ACCEPT_BACKOFF: backoff_enter(w, s); return; /* neither spin nor stop: retry later */
    case RP_ACCEPT_FAIL: accept_fail_first(w, s, err); break;
    case RP_ACCEPT_RETRY: break;
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
    s->stopping &= ~RP_DIR_CONNECT;
    s->connect_op = NULL;
    if (!op) {
        sock_maybe_release(w, s);
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
    rp__complete(w, op, err);
    if (!(s->flags & RP_SF_CLOSE_STARTED)) {
        rp__atomic_store_u32(&s->closing, 1);
        rp__sock_close_begin(w, s, NULL);
    } else {
        sock_maybe_release(w, s);
    }
}

/* ---- timers bound to sockets ---- */
void rp__timer_bind(rp_sock *s, rp_op *op)
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
    rp_sock *s = rp__sock_live(w->loop, p->target);
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
static void stop_direction(rp_worker *w, rp_sock *s, uint32_t dir)
{
    rp_opq *q = dir_queue(s, dir);
    if ((s->active & dir) && rp__stop_active(w, s, dir)) {
        rp_op *op = rp__opq_pop(q);
        if (op)
            rp__complete(w, op, RP_ECANCELED);
    }
    if (!(s->active & dir))
        complete_all(w, q, RP_ECANCELED);
    /* else: the backend reports the active op; rp__io_finish then cancels the rest in order. */
}

void rp__sock_close_begin(rp_worker *w, rp_sock *s, rp_op *close_op)
{
    s->flags |= RP_SF_CLOSE_STARTED;
    s->close_op = close_op;

    stop_direction(w, s, RP_DIR_RECV);
    stop_direction(w, s, RP_DIR_SEND);
    if (s->connect_op) {
        if (!(s->active & RP_DIR_CONNECT) || rp__stop_active(w, s, RP_DIR_CONNECT)) {
            rp_op *op = s->connect_op;
            s->connect_op = NULL;
            s->active &= ~RP_DIR_CONNECT;
            rp__complete(w, op, RP_ECANCELED);
        }
    }
    if (s->type == RP_SOCK_LISTENER) {
        complete_all(w, &s->acceptq, RP_ECANCELED);
        if (s->active & RP_DIR_ACCEPT)
            rp__stop_active(w, s, RP_DIR_ACCEPT);
        while (s->u.listen.count)
            rp__net_close(ring_pop(s));
        if (s->flags & RP_SF_ACCEPT_BACKOFF)
            backoff_remove(w, s);
    }
    while (s->timers) {
        rp_op *t = s->timers;
        rp__timer_unbind(w, t);
        rp__timers_remove(&w->timers, t);
        rp__complete(w, t, RP_ECANCELED);
    }
    w->loop->backend->sock_close(w, s);
    sock_maybe_release(w, s);
}

static void sock_release(rp_worker *w, rp_sock *s)
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

/* Releases a closing socket once nothing of it is with the backend any more. */
static void sock_maybe_release(rp_worker *w, rp_sock *s)
{
    if ((s->flags & RP_SF_CLOSE_STARTED) && s->kernel_refs == 0 && s->active == 0)
        sock_release(w, s);
}
