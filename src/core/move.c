/* rp_socket_move: a socket changes workers inside the process. The move runs on the socket's worker, which
 * is the only thread that touches the socket's state: it checks that nothing of the socket is in progress,
 * has the backend re-register the socket with the new worker, and sends the op on to that worker, where it
 * completes (so the first callback the caller sees after the move already runs there). */
#include "core/backend.h"

int rp_socket_move(rp_loop *loop, rp_op *op, rp_socket socket, int worker)
{
    if (!loop || worker < 0 || worker >= (int)loop->nworkers)
        return RP_EINVAL;
    int err = rp__op_check(loop, op, RP_OP_MOVE);
    if (err)
        return err;
    rp_sock *s;
    if ((err = rp__sock_lookup(loop, socket, &s)) != 0)
        return err;
    rp_submit_guard g;
    if ((err = rp__guard_enter(&g, loop)) != 0)
        return err;
    rp__op_claim(op, RP_OP_MOVE, s->worker, socket);
    RP_PRIV(op)->u.move.to = (uint32_t)worker;
    rp__dispatch(s->worker, op);
    rp__guard_leave(&g);
    return 0;
}

/* Nothing of s is in progress on w: no op queued, handed to the backend, or completed and waiting for
 * its delivery (that callback would run on w after the move), and no request of the backend in flight. */
static int sock_idle(rp_worker *w, const rp_sock *s, rp_socket h)
{
    if (s->recvq.head || s->sendq.head || s->acceptq.head || s->connect_op || s->close_op || s->timers ||
        s->active || s->kernel_refs || (s->flags & (RP_SF_ACCEPT_BACKOFF | RP_SF_RECV_HELD)))
        return 0;
    for (rp_op *op = w->ready_head; op; op = RP_PRIV(op)->ready_next)
        if (RP_PRIV(op)->target == h)
            return 0;
    for (rp_op *op = w->batch_rest; op; op = RP_PRIV(op)->ready_next) /* taken out for this round */
        if (RP_PRIV(op)->target == h)
            return 0;
    return 1;
}

void rp__sock_move_start(rp_worker *w, rp_op *op, int cancelled)
{
    RP_UNUSED(cancelled); /* a move cannot be cancelled (op table) */
    rp_op_priv *p = RP_PRIV(op);
    rp_sock *s = rp__sock_live(w->loop, p->target);
    if (!s || (s->flags & RP_SF_CLOSE_STARTED) || w->sweeping) {
        rp__complete(w, op, s && !w->sweeping ? RP_EBADF : RP_ECANCELED);
        return;
    }
    rp_worker *to = &w->loop->workers[p->u.move.to];
    if (s->worker == to) {
        rp__complete(w, op, 0); /* there already, or the second step: the move is done */
        return;
    }
    if (s->worker != w || !sock_idle(w, s, p->target)) {
        rp__complete(w, op, RP_EBUSY);
        return;
    }
    const rp_backend_vtable *be = w->loop->backend;
    int err = be->sock_move ? be->sock_move(w, to, s) : be->sock_attach(to, s);
    if (err) {
        rp__complete(w, op, err);
        return;
    }
    /* The socket now belongs to `to`: the owner index lets its sweep find it, live_socks its quiet check.
     * Submissions from here on go to `to` (they read s->worker; the caller makes none until completion). */
    rp__atomic_fetch_add_u32(&to->live_socks, 1);
    s->worker = to;
    rp__sock_publish(s);
    rp__atomic_fetch_add_u32(&w->live_socks, (uint32_t)-1);
    p->worker = to;
    rp__dispatch(to, op);
}
