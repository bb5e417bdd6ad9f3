/* The life cycle of an op record, for every kind in one place: claim (the submitting call), route and
 * start (on the owning worker), cancel, complete, deliver. What a kind needs is read from its row in the
 * op table (core/op_table.h); the socket-side work (queues, the accept ring, the close sequence) is in
 * core/stream.c. */
#include <stdlib.h>

#include "core/backend.h"
#include "core/bufpool.h"
#include "core/handoff.h"
#include "core/mpsc.h"
#include "core/resolve.h"

/* ---- the op table ---- */
const rp_op_kind_info rp__op_kinds[RP_OP_KIND_LIMIT] = {
#define RP_OP_ROW_(kind, route, socket, dir, cancel, repeat, newsock, deadline, payload)                       \
    [RP_OP_##kind] = {#kind,      RP_ROUTE_##route, RP_OPSOCK_##socket, (dir), (cancel), (repeat), (newsock), \
                      (deadline), (uint32_t)sizeof(((rp_op_priv *)0)->u.payload)},
    RP_OP_TABLE(RP_OP_ROW_)
#undef RP_OP_ROW_
};

#define RP_OP_COUNT_(...) +1
RP_STATIC_ASSERT(0 RP_OP_TABLE(RP_OP_COUNT_) == RP_OP_KIND_LIMIT - 1,
                 "every kind of RP_OP_KIND_MAP (ringport.h) needs exactly one row in RP_OP_TABLE (core/op_table.h)");
#undef RP_OP_COUNT_

/* ---- claim: the submitting call ---- */

/* Zeroes the private part except the state word, which other threads may read at any time (rp_cancel,
 * rp_op_pending): it only ever changes through atomic operations. */
static void priv_reset(rp_op_priv *p)
{
    size_t state_at = offsetof(rp_op_priv, state), after = state_at + sizeof p->state;
    uint32_t timeout_ms = p->timeout_ms; /* the caller's setting outlives submissions */
    memset(p, 0, state_at);
    memset((char *)p + after, 0, sizeof *p - after);
    p->timeout_ms = timeout_ms;
}

int rp_op_init(rp_op *op, rp_callback cb, void *user)
{
    /* The record may be fresh memory: nothing in it is read, so initialising never depends on garbage. */
    if (!op)
        return RP_EINVAL;
    memset(op, 0, offsetof(rp_op, internal_));
    RP_PRIV(op)->timeout_ms = 0;
    priv_reset(RP_PRIV(op));
    rp__atomic_store_u32(&RP_PRIV(op)->state, RP_OP_STATE_IDLE);
    op->cb = cb;
    op->user = user;
    return 0;
}

int rp_op_set_timeout(rp_op *op, uint32_t timeout_ms)
{
    if (!op || timeout_ms > RP_OP_TIMEOUT_MAX_MS)
        return RP_EINVAL;
    if (rp_op_pending(op))
        return RP_EBUSY;
    RP_PRIV(op)->timeout_ms = timeout_ms;
    return 0;
}

int rp_op_pending(const rp_op *op)
{
    if (!op)
        return 0;
    uint32_t state = rp__atomic_load_u32(&((rp_op_priv *)(void *)op->internal_)->state);
    return state == RP_OP_STATE_PENDING || state == RP_OP_STATE_CANCEL_QUEUED;
}

int64_t rp_op_sent(const rp_op *op)
{
    if (!op || (op->kind != RP_OP_SEND && op->kind != RP_OP_SENDFILE))
        return 0;
    return ((const rp_op_priv *)(const void *)op->internal_)->u.send.sent;
}

/* Takes the record for a submission of kind on worker w; from here on it belongs to ringport. The caller
 * has checked everything that can fail, and fills the payload before rp__dispatch. */
void rp__op_claim(rp_op *op, rp_op_kind kind, rp_worker *w, rp_socket target)
{
    rp_op_priv *p = RP_PRIV(op);
    priv_reset(p);
    op->kind = (uint32_t)kind;
    op->result = 0;
    op->flags = 0;
    op->buf = NULL;
    op->socket = rp__op_kinds[kind].newsock ? RP_SOCKET_INVALID : target;
    p->worker = w;
    p->target = target;
    p->place = RP_PLACE_TRANSIT;
    rp__atomic_store_u32(&p->state, RP_OP_STATE_PENDING);
}

void rp__dispatch(rp_worker *w, rp_op *op)
{
    if (rp__current == w) {
        rp__op_start(w, op);
        return;
    }
    rp__mpsc_push(&w->inbox, op, RP_OP_NEXT_LINK);
    rp__wake_if_sleeping(w);
}

/* ---- route and start: on the owning worker ---- */

/* Ends a submission that cannot run (cancelled in transit, socket gone or closing). */
static void refuse(rp_worker *w, rp_op *op)
{
    rp__complete(w, op, RP_ECANCELED);
}

static void start_timer(rp_worker *w, rp_op *op, int cancelled)
{
    rp_op_priv *p = RP_PRIV(op);
    rp_sock *s = NULL;
    if (p->target) {
        s = rp__sock_live(w->loop, p->target);
        if (!s || (s->flags & RP_SF_CLOSE_STARTED))
            cancelled = 1;
    }
    if (cancelled || w->sweeping) {
        refuse(w, op);
        return;
    }
    uint64_t now = rp__now_ns();
    p->u.timer.deadline += now; /* held the delay until now */
    p->u.timer.seq = w->timer_seq++;
    if (rp__timers_push(&w->timers, op, now) != 0) {
        rp__complete(w, op, RP_ENOMEM);
        return;
    }
    p->place = RP_PLACE_TIMER;
    if (s)
        rp__timer_bind(s, op);
}

static void start_close(rp_worker *w, rp_op *op)
{
    rp_sock *s = rp__sock_live(w->loop, RP_PRIV(op)->target);
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
}

static void start_connect(rp_worker *w, rp_op *op, int cancelled)
{
    rp_sock *s = rp__sock_live(w->loop, RP_PRIV(op)->target);
    if (!s) {
        refuse(w, op);
        return;
    }
    s->connect_op = op;
    RP_PRIV(op)->place = RP_PLACE_QUEUE;
    if (cancelled || (s->flags & RP_SF_CLOSE_STARTED) || w->sweeping) {
        rp__connect_finish(w, s, RP_ECANCELED);
        return;
    }
    if (s->family == AF_UNIX) {
        rp__connect_finish(w, s, RP_PRIV(op)->u.connect.unix_result); /* connected (or not) at submission */
        return;
    }
    s->active |= RP_DIR_CONNECT;
    w->loop->backend->io_start(w, s, RP_DIR_CONNECT, op);
}

static rp_opq *queue_of(rp_sock *s, rp_op_route route)
{
    switch (route) {
    case RP_ROUTE_RECVQ: return &s->recvq;
    case RP_ROUTE_SENDQ: return &s->sendq;
    case RP_ROUTE_ACCEPTQ: return &s->acceptq;
    case RP_ROUTE_INLINE:
    case RP_ROUTE_TIMER:
    case RP_ROUTE_CLOSE:
    case RP_ROUTE_CONNECT:
    case RP_ROUTE_RESOLVE:
    case RP_ROUTE_MOVE: break;
    }
    return NULL;
}

/* ---- deadlines (rp_op_set_timeout) ---- */
/* A deadline is an internal timer record in the worker's wheel, pointing at its op; the op points back.
 * It is armed when the op starts on its worker and goes when the op completes; if it fires first, the op
 * is cancelled and the cancellation is reported as RP_ETIMEDOUT. */
static int deadline_arm(rp_worker *w, rp_op *op)
{
    rp_op_priv *p = RP_PRIV(op);
    rp_op *t = w->deadline_free;
    if (t)
        w->deadline_free = RP_PRIV(t)->next;
    else if (!(t = calloc(1, sizeof *t)))
        return RP_ENOMEM;
    rp_op_priv *tp = RP_PRIV(t);
    memset(tp, 0, sizeof *tp);
    tp->iflags = RP_IF_DEADLINE;
    uint64_t now = rp__now_ns();
    tp->u.timer.deadline = now + (uint64_t)p->timeout_ms * 1000000u;
    tp->u.timer.seq = w->timer_seq++;
    tp->u.timer.deadline_of = op;
    if (rp__timers_push(&w->timers, t, now) != 0) {
        RP_PRIV(t)->next = w->deadline_free;
        w->deadline_free = t;
        return RP_ENOMEM;
    }
    p->deadline = t;
    return 0;
}

static void deadline_recycle(rp_worker *w, rp_op *t)
{
    RP_PRIV(t)->next = w->deadline_free;
    w->deadline_free = t;
}

void rp__deadline_fired(rp_worker *w, rp_op *t)
{
    rp_op *op = RP_PRIV(t)->u.timer.deadline_of;
    deadline_recycle(w, t);
    RP_PRIV(op)->deadline = NULL;
    RP_PRIV(op)->iflags |= RP_IF_TIMED_OUT;
    rp__cancel_handle(w, op);
}

void rp__deadline_drop(rp_worker *w, rp_op *t)
{
    rp__timers_remove(&w->timers, t);
    RP_PRIV(RP_PRIV(t)->u.timer.deadline_of)->deadline = NULL;
    deadline_recycle(w, t);
}

void rp__deadlines_free(rp_worker *w)
{
    while (w->deadline_free) {
        rp_op *t = w->deadline_free;
        w->deadline_free = RP_PRIV(t)->next;
        free(t);
    }
}

void rp__op_start(rp_worker *w, rp_op *op)
{
    rp_op_priv *p = RP_PRIV(op);
    int cancelled = p->cancelled || rp__atomic_load_u32(&p->state) == RP_OP_STATE_CANCEL_QUEUED;
    rp_op_route route = rp__op_info(op)->route;

    if (p->timeout_ms && rp__op_info(op)->deadline && !cancelled && deadline_arm(w, op) != 0) {
        if (route == RP_ROUTE_RESOLVE)
            rp__resolve_drop(op); /* the lookup it carries never starts */
        rp__complete(w, op, RP_ENOMEM);
        return;
    }

    switch (route) {
    case RP_ROUTE_INLINE: rp__complete(w, op, 0); return;
    case RP_ROUTE_TIMER: start_timer(w, op, cancelled); return;
    case RP_ROUTE_CLOSE: start_close(w, op); return;
    case RP_ROUTE_CONNECT: start_connect(w, op, cancelled); return;
    case RP_ROUTE_RESOLVE: rp__resolve_start(w, op, cancelled); return;
    case RP_ROUTE_MOVE: rp__sock_move_start(w, op, cancelled); return;
    case RP_ROUTE_RECVQ:
    case RP_ROUTE_SENDQ:
    case RP_ROUTE_ACCEPTQ: break;
    }
    rp_sock *s = rp__sock_live(w->loop, p->target);
    if (!s || cancelled || (s->flags & RP_SF_CLOSE_STARTED)) {
        refuse(w, op);
        return;
    }
    p->place = RP_PLACE_QUEUE;
    rp__opq_push(queue_of(s, route), op);
    if (route == RP_ROUTE_ACCEPTQ)
        rp__accept_pump(w, s);
    rp__kick(w, s);
}

/* ---- complete and deliver ---- */
void rp__ready_push(rp_worker *w, rp_op *op)
{
    rp_op_priv *p = RP_PRIV(op);
    if (p->iflags & RP_IF_IN_READY)
        return;
    p->iflags |= RP_IF_IN_READY;
    p->ready_next = NULL;
    if (w->ready_tail)
        RP_PRIV(w->ready_tail)->ready_next = op;
    else
        w->ready_head = op;
    w->ready_tail = op;
}

void rp__complete(rp_worker *w, rp_op *op, int64_t result)
{
    rp_op_priv *p = RP_PRIV(op);
    if (p->deadline)
        rp__deadline_drop(w, p->deadline);
    if ((p->iflags & RP_IF_TIMED_OUT) && result == RP_ECANCELED)
        result = RP_ETIMEDOUT;
    if (op->kind == RP_OP_UDP_SEND)
        result = rp__udp_send_outcome(op, result);
    if (p->iflags & RP_IF_REPEATING) {
        /* The stored final result is delivered after any repeated result already queued. */
        p->iflags |= RP_IF_FINAL;
        p->final_result = result;
    } else {
        op->result = result;
    }
    p->place = RP_PLACE_READY;
    rp__ready_push(w, op);
}

/* Fills op (a repeating op) with its next non-final result. Returns 0 if there is none (any more): then
 * its final result is delivered if it is in. Connections and expiries that are still waiting when the
 * final result is in are not delivered (the connections stay for the listener's other accepts); received
 * data always is, before the final result. */
static int next_repeated_result(rp_worker *w, rp_op *op)
{
    rp_op_priv *p = RP_PRIV(op);
    int final_in = (p->iflags & RP_IF_FINAL) != 0;
    switch ((rp_op_kind)op->kind) {
    case RP_OP_ACCEPT: return !final_in && rp__accept_fill(w, op);
    case RP_OP_RECV_POOL:
    case RP_OP_UDP_RECV_POOL: return rp__recv_pool_next(w, op);
    case RP_OP_TIMEOUT:
        if (final_in || !(p->iflags & RP_IF_FIRED))
            return 0;
        p->iflags &= ~RP_IF_FIRED;
        op->result = 0;
        op->flags = RP_OP_F_MORE;
        op->socket = p->target;
        return 1;
    case RP_OP_NONE:
    case RP_OP_CONNECT:
    case RP_OP_RECV:
    case RP_OP_SEND:
    case RP_OP_SHUTDOWN:
    case RP_OP_CLOSE:
    case RP_OP_POST:
    case RP_OP_UDP_SEND:
    case RP_OP_UDP_RECV:
    case RP_OP_SEND_SOCKET:
    case RP_OP_RECV_SOCKET:
    case RP_OP_RESOLVE:
    case RP_OP_MOVE:
    case RP_OP_SENDFILE: break; /* never repeating (op table) */
    }
    return 0;
}

/* Hands out one ready op: to out[] (rp_loop_poll) or to its callback. Returns 1 if a completion was
 * delivered. */
uint32_t rp__results_waiting(rp_worker *w, rp_op *op)
{
    rp_op_priv *p = RP_PRIV(op);
    if ((p->iflags & (RP_IF_REPEATING | RP_IF_FINAL)) != RP_IF_REPEATING)
        return 0;
    switch ((rp_op_kind)op->kind) {
    case RP_OP_ACCEPT: {
        rp_sock *ls = rp__sock_live(w->loop, p->target);
        return ls && ls->type == RP_SOCK_LISTENER ? ls->u.listen.count : 0;
    }
    case RP_OP_RECV_POOL: return p->u.recv_pool.queued;
    case RP_OP_UDP_RECV_POOL: /* a delivery takes up to cap datagrams */
        return (p->u.recv_pool.queued + p->u.recv_pool.cap - 1) / p->u.recv_pool.cap;
    case RP_OP_TIMEOUT: return (p->iflags & RP_IF_FIRED) ? 1u : 0u;
    case RP_OP_NONE:
    case RP_OP_CONNECT:
    case RP_OP_RECV:
    case RP_OP_SEND:
    case RP_OP_SHUTDOWN:
    case RP_OP_CLOSE:
    case RP_OP_POST:
    case RP_OP_UDP_SEND:
    case RP_OP_UDP_RECV:
    case RP_OP_SEND_SOCKET:
    case RP_OP_RECV_SOCKET:
    case RP_OP_RESOLVE:
    case RP_OP_MOVE:
    case RP_OP_SENDFILE: break; /* never repeating (op table) */
    }
    return 0;
}

/* The kind's part of a final delivery, before the record goes back to the caller. */
static void before_final(rp_worker *w, rp_op *op)
{
    switch ((rp_op_kind)op->kind) {
    case RP_OP_RECV_POOL:
    case RP_OP_UDP_RECV_POOL: rp__recv_pool_final(w, op); return;
    case RP_OP_SEND_SOCKET: rp__xfer_send_final(w, op); return;
    case RP_OP_RECV_SOCKET: rp__xfer_recv_final(w, op); return;
    case RP_OP_SENDFILE: rp__sendfile_final(w, op); return;
    case RP_OP_NONE:
    case RP_OP_ACCEPT:
    case RP_OP_CONNECT:
    case RP_OP_RECV:
    case RP_OP_SEND:
    case RP_OP_SHUTDOWN:
    case RP_OP_CLOSE:
    case RP_OP_TIMEOUT:
    case RP_OP_POST:
    case RP_OP_UDP_SEND:
    case RP_OP_UDP_RECV:
    case RP_OP_RESOLVE:
    case RP_OP_MOVE: op->buf = NULL; return;
    }
}

int rp__deliver(rp_worker *w, rp_op *op, rp_op **out, int *nout)
{
    rp_op_priv *p = RP_PRIV(op);
    p->iflags &= ~RP_IF_IN_READY;
    int final;
    if (!(p->iflags & RP_IF_REPEATING))
        final = 1;
    else if (next_repeated_result(w, op))
        final = 0;
    else if (p->iflags & RP_IF_FINAL)
        final = 1;
    else
        return 0;
    if (final) {
        if (p->iflags & RP_IF_FINAL)
            op->result = p->final_result;
        op->flags = 0;
        before_final(w, op);
        if (!rp__op_info(op)->newsock)
            op->socket = p->target;
        else if (op->result < 0)
            op->socket = RP_SOCKET_INVALID;
        p->iflags = 0;
        p->place = RP_PLACE_TRANSIT;
        /* Idle only from plain "pending": a cancel request another thread has queued must be taken in
         * first, so it never reaches a record the caller has already reused or freed. */
        for (;;) {
            uint32_t expected = RP_OP_STATE_PENDING;
            if (rp__atomic_cas_u32(&p->state, &expected, RP_OP_STATE_IDLE))
                break;
            rp__drain_cancels(w);
            if (rp__atomic_load_u32(&p->state) == RP_OP_STATE_CANCEL_QUEUED)
                rp__thread_yield(); /* the requester is between its mark and its push */
        }
    }

    /* A multishot accept resumes serving its listener once the caller has seen this connection; a
     * multishot receive queues its next chunk. (After a non-final delivery the record is still ours.) */
    rp_socket listener = (!final && op->kind == RP_OP_ACCEPT) ? p->target : 0;
    rp_op *more = (!final && (op->kind == RP_OP_RECV_POOL || op->kind == RP_OP_UDP_RECV_POOL)) ? op : NULL;
    if (out) {
        out[(*nout)++] = op;
    } else if (op->cb) {
        op->cb(op);
    }
    if (listener)
        rp__accept_delivered(w, listener);
    if (more)
        rp__recv_pool_delivered(w, more);
    return 1;
}

/* ---- cancel ---- */
int rp_cancel(rp_loop *loop, rp_op *op)
{
    if (!loop || !op)
        return RP_EINVAL;
    rp_op_priv *p = RP_PRIV(op);
    /* Take the record first: while it is marked, it can be neither delivered for the last time nor
     * resubmitted, so its fields (and later its inbox link) are stable. Only a pending record can be
     * marked. */
    uint32_t expected = RP_OP_STATE_PENDING;
    if (!rp__atomic_cas_u32(&p->state, &expected, RP_OP_STATE_CANCEL_QUEUED))
        return expected == RP_OP_STATE_CANCEL_QUEUED ? 0 : RP_ENOENT; /* already requested, or idle */
    rp_worker *w = p->worker;
    int err = 0;
    if (!rp__op_info(op)->cancel)
        err = RP_ENOTSUP;
    else if (!w || w->loop != loop)
        err = RP_EINVAL;
    if (err || rp__current == w) {
        rp__atomic_store_u32(&p->state, RP_OP_STATE_PENDING); /* release the mark */
        if (err)
            return err;
        /* On the owning worker: act now. */
        if (p->place == RP_PLACE_READY && !(p->iflags & RP_IF_REPEATING))
            return RP_ENOENT; /* its result is already in: nothing to cancel */
        rp__cancel_handle(w, op);
        return 0;
    }
    /* From another thread: the worker takes the request in before it delivers the op's final
     * completion, so the record stays valid until then. */
    rp__mpsc_push(&w->cancel_inbox, op, RP_OP_CANCEL_LINK);
    rp__wake_if_sleeping(w);
    return 0;
}

void rp__drain_cancels(rp_worker *w)
{
    rp_op *op = rp__mpsc_take(&w->cancel_inbox, RP_OP_CANCEL_LINK);
    while (op) {
        rp_op *next = RP_PRIV(op)->cancel_next;
        RP_PRIV(op)->cancelled = 1;
        rp__atomic_store_u32(&RP_PRIV(op)->state, RP_OP_STATE_PENDING); /* request taken in */
        if (RP_PRIV(op)->place != RP_PLACE_TRANSIT)
            rp__cancel_handle(w, op);
        /* In transit: rp__op_start sees the flag and completes it with RP_ECANCELED. */
        op = next;
    }
}

/* Cancels a queued op: the head of the receive or send queue is stopped in the backend first. */
static void cancel_queued(rp_worker *w, rp_sock *s, rp_op *op, rp_op_route route)
{
    rp_opq *q = queue_of(s, route);
    uint32_t dir = rp__op_info(op)->dir;
    switch (route) {
    case RP_ROUTE_CONNECT:
        if (s->connect_op == op && (!(s->active & RP_DIR_CONNECT) || rp__stop_active(w, s, RP_DIR_CONNECT)))
            rp__connect_finish(w, s, RP_ECANCELED);
        return;
    case RP_ROUTE_ACCEPTQ:
        /* The listener's accepting is shared by every accept op: stopped once none is left. */
        if (rp__opq_remove(q, op))
            rp__complete(w, op, RP_ECANCELED);
        if (!s->acceptq.head && (s->active & RP_DIR_ACCEPT))
            rp__stop_active(w, s, RP_DIR_ACCEPT);
        return;
    case RP_ROUTE_RECVQ:
    case RP_ROUTE_SENDQ:
        if (dir && (s->active & dir) && rp__io_in_flight(s, dir, op)) {
            /* With the backend: the head, or a send coalesced behind it into the request in flight. */
            RP_PRIV(op)->cancelled = 1;
            if (!rp__stop_active(w, s, dir))
                return; /* the backend reports the request; the core then ends op with RP_ECANCELED */
            if (q->head == op) {
                rp__io_finish(w, s, dir, RP_ECANCELED);
                return;
            }
            rp__io_done(w, s, dir); /* the head was stopped for op's sake: it goes on */
        }
        if (rp__opq_remove(q, op))
            rp__complete(w, op, RP_ECANCELED);
        return;
    case RP_ROUTE_INLINE:
    case RP_ROUTE_TIMER:
    case RP_ROUTE_CLOSE:
    case RP_ROUTE_RESOLVE:
    case RP_ROUTE_MOVE: return; /* not queued on a socket */
    }
}

void rp__cancel_handle(rp_worker *w, rp_op *op)
{
    rp_op_priv *p = RP_PRIV(op);
    uint32_t state = rp__atomic_load_u32(&p->state);
    if (state != RP_OP_STATE_PENDING && state != RP_OP_STATE_CANCEL_QUEUED)
        return;
    switch ((enum rp_op_place)p->place) {
    case RP_PLACE_TRANSIT:
        p->cancelled = 1; /* rp__op_start completes it with RP_ECANCELED */
        return;
    case RP_PLACE_READY: return; /* the natural result won */
    case RP_PLACE_TIMER:
        rp__timer_unbind(w, op);
        rp__timers_remove(&w->timers, op);
        rp__complete(w, op, RP_ECANCELED);
        return;
    case RP_PLACE_RESOLVER: rp__resolve_cancel(w, op); return;
    case RP_PLACE_QUEUE: break;
    }
    rp_sock *s = rp__sock_live(w->loop, p->target);
    if (s)
        cancel_queued(w, s, op, rp__op_info(op)->route);
}
