/* A worker: one native queue, its inboxes, its timers and its ready queue. One iteration takes the
 * submissions other threads handed over, waits on the backend, fires timers and delivers completions.
 * Every callback runs here, after the submitting call has returned. */
#include <stdlib.h>

#include "core/backend.h"
#include "core/bufpool.h"
#include "core/mpsc.h"
#include "core/resolve.h"

#define CLOSE_LINK_OFFSET offsetof(rp_sock, close_next)

RP_THREAD_LOCAL rp_worker *rp__current;

#define DELIVERY_ROUNDS 4

void rp__wake_if_sleeping(rp_worker *w)
{
    rp__atomic_fence();
    if (rp__atomic_load_u32(&w->sleeping) && rp__atomic_exchange_u32(&w->wake_pending, 1) == 0)
        w->loop->backend->wake(w);
}

void rp__close_async(rp_worker *w, rp_sock *s)
{
    rp__mpsc_push(&w->close_inbox, s, CLOSE_LINK_OFFSET);
    rp__wake_if_sleeping(w);
}

void rp__drain_closes(rp_worker *w)
{
    rp_sock *s = rp__mpsc_take(&w->close_inbox, CLOSE_LINK_OFFSET);
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
    rp_op *op = rp__mpsc_take(&w->inbox, RP_OP_NEXT_LINK);
    while (op) {
        rp_op *next = RP_PRIV(op)->next;
        RP_PRIV(op)->next = NULL;
        rp__op_start(w, op);
        op = next;
    }
}

static void fire_timers(rp_worker *w)
{
    rp_op *op;
    while ((op = rp__timers_pop_due(&w->timers, w->now))) {
        rp_op_priv *p = RP_PRIV(op);
        if (p->iflags & RP_IF_DEADLINE) {
            rp__deadline_fired(w, op);
            continue;
        }
        if (p->u.timer.period) {
            uint64_t next = p->u.timer.deadline + p->u.timer.period;
            p->u.timer.deadline = next > w->now ? next : w->now + p->u.timer.period;
            p->u.timer.seq = w->timer_seq++;
            rp__timers_push(&w->timers, op, w->now); /* cannot fail: the count is back where it was */
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

static int64_t timer_timeout(rp_worker *w, int64_t timeout_ns)
{
    uint64_t deadline = rp__timers_next_deadline(&w->timers);
    if (w->backoff && w->backoff_deadline < deadline)
        deadline = w->backoff_deadline;
    if (deadline == UINT64_MAX)
        return timeout_ns;
    int64_t until = deadline > w->now ? (int64_t)(deadline - w->now) : 0;
    return (timeout_ns < 0 || until < timeout_ns) ? until : timeout_ns;
}

/* Takes the ready queue's tail off the queue; after is an op before it in the queue (NULL: search from
 * the head). */
static void ready_unlink_tail(rp_worker *w, rp_op *after)
{
    rp_op *prev = after, *it = after ? RP_PRIV(after)->ready_next : w->ready_head;
    while (it != w->ready_tail) {
        prev = it;
        it = RP_PRIV(it)->ready_next;
    }
    if (prev)
        RP_PRIV(prev)->ready_next = NULL;
    else
        w->ready_head = NULL;
    w->ready_tail = prev;
    RP_PRIV(it)->iflags &= ~RP_IF_IN_READY;
}

/* Delivers op to its callback. A multishot accept carries one connection per delivery and, while its
 * listener has more queued, re-queues itself at the tail (rp__accept_delivered); a multishot pool receive
 * likewise with its chunks. Left to the next round,
 * that was one new connection per round, DELIVERY_ROUNDS per iteration however many waited: under load an
 * iteration is long (IOCP under Wine serving 500 connections: 12-40 ms), so connections accepted then
 * waited up to seconds for their first callback while the established ones were served. So every
 * connection already queued when the accept op comes up is handed out in its turn, one callback each.
 * Connections accepted meanwhile (a reactor accepts inline when the listener is kicked) wait for the
 * next round, so a stream of new connections cannot starve I/O. */
static int deliver_cb(rp_worker *w, rp_op *op)
{
    /* Results queued beyond the one this delivery takes (connections, received chunks). */
    uint32_t waiting = rp__results_waiting(w, op);
    uint32_t more = waiting > 1 ? waiting - 1 : 0;
    int n = 0;
    for (;;) {
        rp_op *tail = w->ready_tail; /* op is not queued now: only what the callback queues follows */
        /* After its final result the record is the caller's again (reused or freed): never touched. */
        int repeated = (RP_PRIV(op)->iflags & (RP_IF_REPEATING | RP_IF_FINAL)) == RP_IF_REPEATING;
        n += rp__deliver(w, op, NULL, NULL);
        if (!repeated || more == 0 || w->ready_tail != op)
            break; /* not re-queued last (nothing more, or something else queued after it): next round */
        ready_unlink_tail(w, tail);
        more--;
    }
    return n;
}

/* Something for this iteration: ready ops, inbox entries, or a wake-up signalled (rp_loop_destroy sets
 * wake_pending before it wakes the worker to stop; a spinning worker that consumed that wake-up in its
 * polls and then went to sleep would never see the stop). */
static int work_waiting(rp_worker *w)
{
    return w->ready_head || rp__atomic_load_ptr(&w->inbox) || rp__atomic_load_ptr(&w->cancel_inbox) ||
           rp__atomic_load_ptr(&w->close_inbox) || rp__atomic_load_ptr(&w->resolve_inbox) ||
           rp__bufpool_work_pending(w) || rp__atomic_load_u32(&w->wake_pending);
}

/* The busy-poll window (rp_loop_options.spin_us): polls the backend without sleeping until something
 * arrives or the window (bounded by timeout_ns) has passed. Returns the timeout left for the real wait:
 * 0 if something arrived. Other threads need not wake a spinning worker: it sees their inbox pushes. */
static int64_t spin(rp_worker *w, int64_t timeout_ns)
{
    uint64_t start = rp__now_ns(), now = start;
    uint64_t window = w->loop->spin_ns, wakes = w->wakes_consumed;
    if (timeout_ns > 0 && (uint64_t)timeout_ns < window)
        window = (uint64_t)timeout_ns;
    while (now - start < window) {
        if (work_waiting(w))
            return 0;
        w->loop->backend->wait(w, 0);
        if (work_waiting(w) || w->wakes_consumed != wakes)
            return 0; /* a consumed wake-up may mean "stop": the iteration must end */
        now = rp__now_ns();
    }
    if (timeout_ns < 0)
        return timeout_ns;
    return (uint64_t)timeout_ns > now - start ? timeout_ns - (int64_t)(now - start) : 0;
}

int rp__iterate(rp_worker *w, int64_t timeout_ns, rp_op **out, int max)
{
    w->now = rp__now_ns();
    drain_inbox(w);
    rp__drain_closes(w);
    rp__drain_cancels(w);
    if (rp__atomic_load_ptr(&w->resolve_inbox))
        rp__resolve_drain(w);
    if (w->bufsegs || rp__atomic_load_ptr(&w->bufseg_detach))
        rp__bufpool_poll(w);
    fire_timers(w);
    if (w->loop->backend->flush)
        w->loop->backend->flush(w);

    if (w->ready_head)
        timeout_ns = 0;
    timeout_ns = timer_timeout(w, timeout_ns);
    if (timeout_ns != 0 && w->loop->spin_ns) {
        timeout_ns = spin(w, timeout_ns);
        /* What the polls reported may have set a deadline (an accept back-off): wait no longer. */
        w->now = rp__now_ns();
        timeout_ns = timer_timeout(w, timeout_ns);
    }
    if (timeout_ns != 0) {
        rp__atomic_store_u32(&w->sleeping, 1);
        rp__atomic_fence();
        if (rp__atomic_load_ptr(&w->inbox) || rp__atomic_load_ptr(&w->cancel_inbox) ||
            rp__atomic_load_ptr(&w->close_inbox) || rp__atomic_load_ptr(&w->resolve_inbox) ||
            rp__bufpool_work_pending(w))
            timeout_ns = 0;
    }
    w->loop->backend->wait(w, timeout_ns);
    rp__atomic_store_u32(&w->sleeping, 0);

    w->now = rp__now_ns();
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
            w->batch_rest = batch;
            if (out)
                rp__deliver(w, op, out, &delivered);
            else
                delivered += deliver_cb(w, op);
        }
        w->batch_rest = NULL;
        /* What the round's callbacks started goes out now, together: its results feed the next round. */
        if (w->loop->backend->flush)
            w->loop->backend->flush(w);
    }
    return delivered;
}

void rp__worker_sweep(rp_worker *w)
{
    rp_loop *loop = w->loop;
    rp__drain_closes(w); /* a queued close must not outlive the socket the sweep is about to release */
    uint32_t n = rp__atomic_load_u32(&loop->nslots);
    for (uint32_t i = 0; i < n; i++) {
        rp_sock *s = rp__sock_at(loop, i);
        if (!s || rp__atomic_load_u32(&s->owner) != w->index + 1u || (s->flags & RP_SF_CLOSE_STARTED))
            continue;
        rp__atomic_store_u32(&s->closing, 1);
        rp__sock_close_begin(w, s, NULL);
    }
    rp__resolve_sweep(w);
    rp_op *op;
    while ((op = rp__timers_top(&w->timers))) {
        if (RP_PRIV(op)->iflags & RP_IF_DEADLINE) {
            rp__deadline_drop(w, op); /* none should be left: their ops sat on sockets just closed */
            continue;
        }
        rp__cancel_handle(w, op);
    }
}
