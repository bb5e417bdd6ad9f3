/* A worker: one native queue, its inboxes, its timers and its ready queue. One iteration takes the
 * submissions other threads handed over, waits on the backend, fires timers and delivers completions.
 * Every callback runs here, after the submitting call has returned. */
#include <stdlib.h>

#include "core/internal.h"

RP_THREAD_LOCAL rp_worker *rp__current;

#define DELIVERY_ROUNDS 4

int rp_opq_remove(rp_opq *q, rp_op *op)
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
    if (p->iflags & (RP_IF_MULTISHOT | RP_IF_FIRED) || (op->kind == RP_OP_TIMEOUT && p->u.timer.period)) {
        /* The stored final result is delivered after any multishot result already queued. */
        p->iflags |= RP_IF_FINAL;
        p->final_result = result;
    } else {
        op->result = result;
    }
    p->place = RP_PLACE_READY;
    rp__ready_push(w, op);
}

/* Lock-free MPSC stack: producers push, the worker takes the whole stack and reverses it to FIFO. */
static void inbox_push(rp_atomic_ptr *head, rp_op *op, rp_op **link)
{
    void *old = rp_atomic_load_ptr(head);
    do {
        *link = old;
    } while (!rp_atomic_cas_ptr(head, &old, op));
}

static void wake_if_sleeping(rp_worker *w)
{
    rp_atomic_fence();
    if (rp_atomic_load_u32(&w->sleeping) && rp_atomic_exchange_u32(&w->wake_pending, 1) == 0)
        w->loop->backend->wake(w);
}

void rp__dispatch(rp_worker *w, rp_op *op)
{
    if (rp__current == w) {
        rp__op_start(w, op);
        return;
    }
    inbox_push(&w->inbox, op, &RP_PRIV(op)->next);
    wake_if_sleeping(w);
}

int rp_cancel(rp_loop *loop, rp_op *op)
{
    if (!loop || !op)
        return RP_EINVAL;
    rp_op_priv *p = RP_PRIV(op);
    /* Take the record first: while it is marked, it can be neither delivered for the last time nor
     * resubmitted, so its fields (and later its inbox link) are stable. Only a pending record can be
     * marked. */
    uint32_t expected = RP_OP_STATE_PENDING;
    if (!rp_atomic_cas_u32(&p->state, &expected, RP_OP_STATE_CANCEL_QUEUED))
        return expected == RP_OP_STATE_CANCEL_QUEUED ? 0 : RP_ENOENT; /* already requested, or idle */
    rp_worker *w = p->worker;
    int err = 0;
    if (op->kind == RP_OP_POST || op->kind == RP_OP_CLOSE)
        err = RP_ENOTSUP;
    else if (!w || w->loop != loop)
        err = RP_EINVAL;
    if (err || rp__current == w) {
        rp_atomic_store_u32(&p->state, RP_OP_STATE_PENDING); /* release the mark */
        if (err)
            return err;
        /* On the owning worker: act now. */
        if (p->place == RP_PLACE_READY && !(p->iflags & (RP_IF_MULTISHOT | RP_IF_FIRED)) &&
            !(op->kind == RP_OP_TIMEOUT && p->u.timer.period))
            return RP_ENOENT; /* its result is already in: nothing to cancel */
        rp__cancel_handle(w, op);
        return 0;
    }
    /* From another thread: the worker takes the request in before it delivers the op's final
     * completion, so the record stays valid until then. */
    inbox_push(&w->cancel_inbox, op, &RP_PRIV(op)->cancel_next);
    wake_if_sleeping(w);
    return 0;
}

void rp__drain_cancels(rp_worker *w)
{
    rp_op *list = rp_atomic_exchange_ptr(&w->cancel_inbox, NULL);
    rp_op *fifo = NULL;
    while (list) {
        rp_op *next = RP_PRIV(list)->cancel_next;
        RP_PRIV(list)->cancel_next = fifo;
        fifo = list;
        list = next;
    }
    while (fifo) {
        rp_op *op = fifo;
        fifo = RP_PRIV(op)->cancel_next;
        RP_PRIV(op)->cancelled = 1;
        rp_atomic_store_u32(&RP_PRIV(op)->state, RP_OP_STATE_PENDING); /* request taken in */
        if (RP_PRIV(op)->place != RP_PLACE_TRANSIT)
            rp__cancel_handle(w, op);
        /* In transit: rp__op_start sees the flag and completes it with RP_ECANCELED. */
    }
}

void rp__close_async(rp_worker *w, rp_sock *s)
{
    void *old = rp_atomic_load_ptr(&w->close_inbox);
    do {
        s->close_next = old;
    } while (!rp_atomic_cas_ptr(&w->close_inbox, &old, s));
    wake_if_sleeping(w);
}

void rp__drain_closes(rp_worker *w)
{
    rp_sock *s = rp_atomic_exchange_ptr(&w->close_inbox, NULL);
    while (s) {
        rp_sock *next = s->close_next;
        s->close_next = NULL;
        if (!(s->flags & RP_SF_CLOSE_STARTED))
            rp__sock_close_begin(w, s, NULL);
        s = next;
    }
}

static void drain_inbox(rp_worker *w)
{
    rp_op *list = rp_atomic_exchange_ptr(&w->inbox, NULL);
    rp_op *fifo = NULL;
    while (list) {
        rp_op *next = RP_PRIV(list)->next;
        RP_PRIV(list)->next = fifo;
        fifo = list;
        list = next;
    }
    while (fifo) {
        rp_op *op = fifo;
        fifo = RP_PRIV(op)->next;
        RP_PRIV(op)->next = NULL;
        rp__op_start(w, op);
    }
}

static void fire_timers(rp_worker *w)
{
    rp_op *op;
    while ((op = rp_heap_top(&w->timers)) && RP_PRIV(op)->u.timer.deadline <= w->now) {
        rp_op_priv *p = RP_PRIV(op);
        rp_heap_remove(&w->timers, op);
        if (p->u.timer.period) {
            uint64_t next = p->u.timer.deadline + p->u.timer.period;
            p->u.timer.deadline = next > w->now ? next : w->now + p->u.timer.period;
            p->u.timer.seq = w->timer_seq++;
            rp_heap_push(&w->timers, op); /* cannot fail: the slot was just freed */
            p->iflags |= RP_IF_FIRED;
            rp__ready_push(w, op);
        } else {
            rp__timer_unbind(w, op);
            rp__complete(w, op, 0);
        }
    }
    if (w->backoff && w->backoff_deadline <= w->now)
        rp__backoff_run(w);
}

/* Hands out one ready op. Returns 1 if a completion was delivered. */
static int deliver(rp_worker *w, rp_op *op, rp_op **out, int *nout)
{
    rp_op_priv *p = RP_PRIV(op);
    p->iflags &= ~RP_IF_IN_READY;
    int final = 1;

    if (op->kind == RP_OP_ACCEPT && (p->iflags & RP_IF_MULTISHOT) && !(p->iflags & RP_IF_FINAL)) {
        if (!rp__accept_fill(w, op))
            return 0;
        final = 0;
    } else if (op->kind == RP_OP_TIMEOUT && p->u.timer.period && !(p->iflags & RP_IF_FINAL)) {
        if (!(p->iflags & RP_IF_FIRED))
            return 0;
        p->iflags &= ~RP_IF_FIRED;
        op->result = 0;
        op->flags = RP_OP_F_MORE;
        op->socket = p->target;
        final = 0;
    }

    if (final) {
        if (p->iflags & RP_IF_FINAL)
            op->result = p->final_result;
        op->flags = 0;
        if (op->kind != RP_OP_ACCEPT && op->kind != RP_OP_CONNECT)
            op->socket = p->target;
        else if (op->result < 0)
            op->socket = RP_SOCKET_INVALID;
        p->iflags = 0;
        p->place = RP_PLACE_TRANSIT;
        /* Idle only from plain "pending": a cancel request another thread has queued must be taken in
         * first, so it never reaches a record the caller has already reused or freed. */
        for (;;) {
            uint32_t expected = RP_OP_STATE_PENDING;
            if (rp_atomic_cas_u32(&p->state, &expected, RP_OP_STATE_IDLE))
                break;
            rp__drain_cancels(w);
            if (rp_atomic_load_u32(&p->state) == RP_OP_STATE_CANCEL_QUEUED)
                rp_thread_yield(); /* the requester is between its mark and its push */
        }
    }

    rp_socket listener = (!final && op->kind == RP_OP_ACCEPT) ? p->target : 0;
    if (out) {
        out[(*nout)++] = op;
    } else if (op->cb) {
        op->cb(op);
    }
    if (listener)
        rp__accept_delivered(w, listener);
    return 1;
}

static int64_t timer_timeout(rp_worker *w, int64_t timeout_ns)
{
    rp_op *top = rp_heap_top(&w->timers);
    uint64_t deadline = top ? RP_PRIV(top)->u.timer.deadline : UINT64_MAX;
    if (w->backoff && w->backoff_deadline < deadline)
        deadline = w->backoff_deadline;
    if (deadline == UINT64_MAX)
        return timeout_ns;
    int64_t until = deadline > w->now ? (int64_t)(deadline - w->now) : 0;
    return (timeout_ns < 0 || until < timeout_ns) ? until : timeout_ns;
}

int rp__iterate(rp_worker *w, int64_t timeout_ns, rp_op **out, int max)
{
    w->now = rp_now_ns();
    drain_inbox(w);
    rp__drain_closes(w);
    rp__drain_cancels(w);
    fire_timers(w);

    if (w->ready_head)
        timeout_ns = 0;
    timeout_ns = timer_timeout(w, timeout_ns);
    if (timeout_ns != 0) {
        rp_atomic_store_u32(&w->sleeping, 1);
        rp_atomic_fence();
        if (rp_atomic_load_ptr(&w->inbox) || rp_atomic_load_ptr(&w->cancel_inbox) ||
            rp_atomic_load_ptr(&w->close_inbox))
            timeout_ns = 0;
    }
    w->loop->backend->wait(w, timeout_ns);
    rp_atomic_store_u32(&w->sleeping, 0);

    w->now = rp_now_ns();
    fire_timers(w);

    /* Deliver in rounds: a round hands out only what was ready when it began, so a callback whose
     * resubmission completes at once cannot starve I/O; a few rounds per iteration save a trip through the
     * backend for the common "recv done -> send -> send done" chain. rp_loop_poll takes one round, so an op
     * appears at most once per call. */
    int delivered = 0;
    for (int round = 0; round < (out ? 1 : DELIVERY_ROUNDS) && w->ready_head; round++) {
        rp_op *batch = w->ready_head;
        w->ready_head = w->ready_tail = NULL;
        while (batch) {
            if (out && delivered >= max) {
                /* Put the rest back in front of anything queued meanwhile. */
                rp_op *last = batch;
                while (RP_PRIV(last)->ready_next)
                    last = RP_PRIV(last)->ready_next;
                RP_PRIV(last)->ready_next = w->ready_head;
                if (!w->ready_head)
                    w->ready_tail = last;
                w->ready_head = batch;
                break;
            }
            rp_op *op = batch;
            batch = RP_PRIV(op)->ready_next;
            if (out)
                deliver(w, op, out, &delivered);
            else
                delivered += deliver(w, op, NULL, NULL);
        }
    }
    return delivered;
}

void rp__worker_sweep(rp_worker *w)
{
    rp_loop *loop = w->loop;
    rp__drain_closes(w); /* a queued close must not outlive the socket the sweep is about to release */
    uint32_t n = rp_atomic_load_u32(&loop->nslots);
    for (uint32_t i = 0; i < n; i++) {
        rp_sock *s = rp__sock_at(loop, i);
        if (!s || rp_atomic_load_u32(&s->owner) != w->index + 1u || (s->flags & RP_SF_CLOSE_STARTED))
            continue;
        rp_atomic_store_u32(&s->closing, 1);
        rp__sock_close_begin(w, s, NULL);
    }
    rp_op *op;
    while ((op = rp_heap_top(&w->timers))) {
        rp__cancel_handle(w, op);
    }
}
