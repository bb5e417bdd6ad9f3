/* A worker: one native queue, its inboxes, its timers and its ready queue. One iteration takes the
 * submissions other threads handed over, waits on the backend, fires timers and delivers completions.
 * Every callback runs here, after the submitting call has returned. */
#include <stdlib.h>

#include "core/backend.h"
#include "core/mpsc.h"

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
    while ((op = rp__heap_top(&w->timers)) && RP_PRIV(op)->u.timer.deadline <= w->now) {
        rp_op_priv *p = RP_PRIV(op);
        rp__heap_remove(&w->timers, op);
        if (p->u.timer.period) {
            uint64_t next = p->u.timer.deadline + p->u.timer.period;
            p->u.timer.deadline = next > w->now ? next : w->now + p->u.timer.period;
            p->u.timer.seq = w->timer_seq++;
            rp__heap_push(&w->timers, op); /* cannot fail: the slot was just freed */
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
    rp_op *top = rp__heap_top(&w->timers);
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
    w->now = rp__now_ns();
    drain_inbox(w);
    rp__drain_closes(w);
    rp__drain_cancels(w);
    fire_timers(w);

    if (w->ready_head)
        timeout_ns = 0;
    timeout_ns = timer_timeout(w, timeout_ns);
    if (timeout_ns != 0) {
        rp__atomic_store_u32(&w->sleeping, 1);
        rp__atomic_fence();
        if (rp__atomic_load_ptr(&w->inbox) || rp__atomic_load_ptr(&w->cancel_inbox) ||
            rp__atomic_load_ptr(&w->close_inbox))
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
            if (out)
                rp__deliver(w, op, out, &delivered);
            else
                delivered += rp__deliver(w, op, NULL, NULL);
        }
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
    rp_op *op;
    while ((op = rp__heap_top(&w->timers))) {
        rp__cancel_handle(w, op);
    }
}
