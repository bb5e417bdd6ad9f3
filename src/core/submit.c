/* The public operation calls: validate everything, claim the op record, then run the submission on the
 * owning worker (directly when called from it, otherwise through its inbox). Nothing here fails after
 * the op has been claimed, so a negative return always means "nothing happened". */
#include <stdint.h>
#include <stdlib.h>

#include "core/backend.h"
#include "core/bufpool.h"
#include "core/resolve.h"

#define MAX_SENDV 1024

/* The option records keep their size as fields take reserved words (64 bytes on 64-bit platforms). */
RP_STATIC_ASSERT(sizeof(rp_listen_options) == 64, "rp_listen_options keeps its size");
RP_STATIC_ASSERT(sizeof(void *) != 8 || sizeof(rp_connect_options) == 64, "rp_connect_options keeps its size");

int rp__guard_enter(rp_submit_guard *g, rp_loop *loop)
{
    g->loop = loop;
    g->held = 0;
    if (!rp__current || rp__current->loop != loop) {
        rp__atomic_fetch_add_u32(&loop->foreign_submitters, 1);
        g->held = 1;
        rp__atomic_fence(); /* pairs with destroy: its flag store and our count are both seen in order */
    }
    if (rp__atomic_load_u32(&loop->destroying)) {
        if (g->held)
            rp__atomic_fetch_add_u32(&loop->foreign_submitters, (uint32_t)-1);
        g->held = 0;
        return RP_ESHUTDOWN;
    }
    return 0;
}

void rp__guard_leave(rp_submit_guard *g)
{
    if (g->held)
        rp__atomic_fetch_add_u32(&g->loop->foreign_submitters, (uint32_t)-1);
}

/* Checks the op record can be submitted as kind: not pending, with a callback where one is needed, and
 * without a deadline unless the kind takes one. */
int rp__op_check(rp_loop *loop, rp_op *op, rp_op_kind kind)
{
    if (!op)
        return RP_EINVAL;
    if (rp_op_pending(op))
        return RP_EBUSY;
    if (!op->cb && loop->threaded)
        return RP_EINVAL; /* nobody could ever see its completion */
    if (RP_PRIV(op)->timeout_ms && !rp__op_kinds[kind].deadline)
        return RP_EINVAL;
    return 0;
}

/* Checks a submission of kind on socket h: the loop, the record, and the socket type the op table
 * names. On success the guard is held and *out is the socket. */
static int socket_op(rp_loop *loop, rp_op *op, rp_socket h, rp_op_kind kind, rp_sock **out, rp_submit_guard *g)
{
    if (!loop)
        return RP_EINVAL;
    int err = rp__op_check(loop, op, kind);
    if (err)
        return err;
    rp_sock *s;
    if ((err = rp__sock_lookup(loop, h, &s)) != 0)
        return err;
    rp_op_socket need = rp__op_kinds[kind].socket;
    if ((need == RP_OPSOCK_STREAM || need == RP_OPSOCK_LISTENER || need == RP_OPSOCK_DGRAM) &&
        s->type != (uint32_t)need)
        return RP_EINVAL;
    if ((err = rp__guard_enter(g, loop)) != 0)
        return err;
    *out = s;
    return 0;
}

int rp_recv(rp_loop *loop, rp_op *op, rp_socket socket, void *buf, size_t len)
{
    rp_submit_guard g;
    rp_sock *s;
    if (!buf || len == 0 || len > INT32_MAX)
        return RP_EINVAL;
    int err = socket_op(loop, op, socket, RP_OP_RECV, &s, &g);
    if (err)
        return err;
    rp__op_claim(op, RP_OP_RECV, s->worker, socket);
    RP_PRIV(op)->u.recv.buf = buf;
    RP_PRIV(op)->u.recv.len = len;
    rp__dispatch(s->worker, op);
    rp__guard_leave(&g);
    return 0;
}

/* A pool receive, TCP or UDP (dgrams: the caller's array of a UDP one, filled at each delivery). */
static int pool_submit(rp_loop *loop, rp_op *op, rp_socket socket, rp_bufpool *pool, uint32_t flags, rp_op_kind kind,
                       rp_dgram *dgrams, size_t count)
{
    rp_submit_guard g;
    rp_sock *s;
    if (!pool || (flags & ~RP_RECV_MULTISHOT) || (loop && pool->loop != loop))
        return RP_EINVAL;
    if ((flags & RP_RECV_MULTISHOT) && op && RP_PRIV(op)->timeout_ms)
        return RP_EINVAL; /* a deadline ends one receive, not a stream of them */
    int err = socket_op(loop, op, socket, kind, &s, &g);
    if (err)
        return err;
    if ((err = rp__recv_pool_claim(pool)) != 0) {
        rp__guard_leave(&g);
        return err;
    }
    rp__op_claim(op, kind, s->worker, socket);
    rp_op_priv *p = RP_PRIV(op);
    p->u.recv_pool.pool = pool;
    p->u.recv_pool.dgrams = dgrams;
    p->u.recv_pool.cap = (uint32_t)count;
    if (flags & RP_RECV_MULTISHOT) {
        p->u.recv_pool.multishot = 1;
        p->iflags |= RP_IF_REPEATING;
    }
    rp__dispatch(s->worker, op);
    rp__guard_leave(&g);
    return 0;
}

int rp_recv_pool(rp_loop *loop, rp_op *op, rp_socket socket, rp_bufpool *pool, uint32_t flags)
{
    return pool_submit(loop, op, socket, pool, flags, RP_OP_RECV_POOL, NULL, 0);
}

static int send_common(rp_loop *loop, rp_op *op, rp_socket socket, const rp_buf *bufs, size_t count,
                       int64_t total, const void *one, size_t one_len)
{
    rp_submit_guard g;
    rp_sock *s;
    int err = socket_op(loop, op, socket, RP_OP_SEND, &s, &g);
    if (err)
        return err;
    if (rp__atomic_load_u32(&s->wr_shut)) {
        rp__guard_leave(&g);
        return RP_ESHUTDOWN;
    }
    rp__op_claim(op, RP_OP_SEND, s->worker, socket);
    rp_op_priv *p = RP_PRIV(op);
    if (bufs) {
        p->u.send.bufs = bufs;
        p->u.send.count = (uint32_t)count; /* at most MAX_SENDV */
    } else {
        p->u.send.one.base = (void *)(uintptr_t)one;
        p->u.send.one.len = one_len;
        p->u.send.bufs = &p->u.send.one;
        p->u.send.count = 1;
    }
    p->u.send.total = total;
    rp__dispatch(s->worker, op);
    rp__guard_leave(&g);
    return 0;
}

int rp_send(rp_loop *loop, rp_op *op, rp_socket socket, const void *buf, size_t len)
{
    if (!buf && len)
        return RP_EINVAL;
    if (len > (size_t)INT64_MAX)
        return RP_EINVAL;
    static const char empty;
    return send_common(loop, op, socket, NULL, 0, (int64_t)len, buf ? buf : &empty, len);
}

int rp_sendv(rp_loop *loop, rp_op *op, rp_socket socket, const rp_buf *bufs, size_t count)
{
    if (!bufs || count == 0 || count > MAX_SENDV)
        return RP_EINVAL;
    uint64_t total = 0;
    for (size_t i = 0; i < count; i++) {
        if (!bufs[i].base && bufs[i].len)
            return RP_EINVAL;
        total += bufs[i].len;
        if (total > (uint64_t)INT64_MAX)
            return RP_EINVAL;
    }
    return send_common(loop, op, socket, bufs, count, (int64_t)total, NULL, 0);
}

int rp_shutdown(rp_loop *loop, rp_op *op, rp_socket socket)
{
    rp_submit_guard g;
    rp_sock *s;
    int err = socket_op(loop, op, socket, RP_OP_SHUTDOWN, &s, &g);
    if (err)
        return err;
    if (rp__atomic_exchange_u32(&s->wr_shut, 1)) {
        rp__guard_leave(&g);
        return RP_EALREADY;
    }
    rp__op_claim(op, RP_OP_SHUTDOWN, s->worker, socket);
    rp__dispatch(s->worker, op);
    rp__guard_leave(&g);
    return 0;
}

int rp_accept(rp_loop *loop, rp_op *op, rp_socket listener, uint32_t flags)
{
    rp_submit_guard g;
    rp_sock *s;
    if (flags & ~RP_ACCEPT_MULTISHOT)
        return RP_EINVAL;
    int err = socket_op(loop, op, listener, RP_OP_ACCEPT, &s, &g);
    if (err)
        return err;
    rp__op_claim(op, RP_OP_ACCEPT, s->worker, listener);
    if (flags & RP_ACCEPT_MULTISHOT)
        RP_PRIV(op)->iflags |= RP_IF_REPEATING;
    rp__dispatch(s->worker, op);
    rp__guard_leave(&g);
    return 0;
}

int rp_close(rp_loop *loop, rp_op *op, rp_socket socket)
{
    return rp_close_ex(loop, op, socket, 0);
}

int rp_close_ex(rp_loop *loop, rp_op *op, rp_socket socket, uint32_t flags)
{
    if (!loop || (flags & ~RP_CLOSE_ABORT))
        return RP_EINVAL;
    if (op) {
        int err = rp__op_check(loop, op, RP_OP_CLOSE);
        if (err)
            return err;
    }
    rp_sock *s;
    int err = rp__sock_lookup(loop, socket, &s);
    if (err)
        return err;
    if ((flags & RP_CLOSE_ABORT) && (s->type != RP_SOCK_STREAM || s->family == AF_UNIX))
        return RP_EINVAL;
    uint32_t expected = 0;
    if (!rp__atomic_cas_u32(&s->closing, &expected, 1))
        return RP_EBADF; /* a close is already under way */
    if (flags & RP_CLOSE_ABORT)
        rp__net_abort_on_close(s->fd); /* takes effect when the descriptor is closed, after the requests */
    /* Closing is allowed while the loop is destroyed: the sweep may not have reached this socket. */
    rp_submit_guard g;
    g.loop = loop;
    g.held = !rp__current || rp__current->loop != loop;
    if (g.held) {
        rp__atomic_fetch_add_u32(&loop->foreign_submitters, 1);
        rp__atomic_fence();
    }
    if (op) {
        rp__op_claim(op, RP_OP_CLOSE, s->worker, socket);
        rp__dispatch(s->worker, op);
    } else {
        rp__close_async(s->worker, s); /* no completion wanted: the socket itself carries the request */
    }
    rp__guard_leave(&g);
    return 0;
}

int rp__sock_open(rp_loop *loop, rp_worker *w, rp_fd fd, uint32_t type, int family, rp_sock **out)
{
    int err = rp__sock_new(loop, w, fd, type, out);
    if (err) {
        rp__net_close(fd);
        return err;
    }
    (*out)->family = family;
    return 0;
}

int rp__sock_attach_new(rp_loop *loop, rp_worker *w, rp_sock *s, rp_socket *out)
{
    rp_fd fd = s->fd;
    rp__sock_publish(s);
    int err = loop->backend->sock_attach(w, s);
    if (err) {
        s->fd = RP_FD_INVALID;
        rp__sock_free(loop, s);
        rp__net_close(fd);
        return err;
    }
    *out = RP_SOCK_HANDLE(s);
    return 0;
}

int rp__listen_check(const rp_loop *loop, const rp_listen_options *opts, uint32_t flags)
{
    if (opts->backlog < 0 || (opts->flags & ~flags) || opts->fastopen_queue < 0)
        return RP_EINVAL;
    for (size_t i = 0; i < sizeof opts->reserved / sizeof opts->reserved[0]; i++)
        if (opts->reserved[i])
            return RP_EINVAL;
    if (opts->worker < -1 || opts->worker >= (int)loop->nworkers || opts->accept_worker < -1 ||
        opts->accept_worker >= (int)loop->nworkers || opts->accepts_posted < 0 || opts->accepts_posted > RP_ACCEPTS_POSTED_MAX)
        return RP_EINVAL;
    return 0;
}

int rp__listener_open(rp_loop *loop, rp_fd fd, int family, const rp_listen_options *opts, rp_socket *out)
{
    rp_worker *w = rp__pick_worker(loop, opts->worker);
    rp_sock *s;
    int err = rp__sock_open(loop, w, fd, RP_SOCK_LISTENER, family, &s);
    if (err)
        return err;
    s->u.listen.accept_worker = opts->accept_worker;
    s->u.listen.posted_depth = opts->accepts_posted ? (uint32_t)opts->accepts_posted : RP_ACCEPTS_POSTED_DEFAULT;
    if (!(opts->flags & RP_LISTEN_NO_NODELAY) && family != AF_UNIX)
        s->flags |= RP_SF_NODELAY;
    return rp__sock_attach_new(loop, w, s, out);
}

#define LISTEN_FLAGS_TCP (RP_LISTEN_NO_REUSEADDR | RP_LISTEN_REUSEPORT | RP_LISTEN_V6ONLY | RP_LISTEN_NO_NODELAY)

int rp_listen(rp_loop *loop, rp_socket *out, const rp_addr *addr, const rp_listen_options *opts)
{
    rp_listen_options defaults;
    if (!loop || !out || !addr)
        return RP_EINVAL;
    if (!opts) {
        rp_listen_options_init(&defaults);
        opts = &defaults;
    }
    int err = rp__listen_check(loop, opts, LISTEN_FLAGS_TCP);
    if (err)
        return err;
    if (addr->family != RP_AF_INET && addr->family != RP_AF_INET6)
        return RP_EINVAL;
    rp_submit_guard g;
    if ((err = rp__guard_enter(&g, loop)) != 0)
        return err;
    int family = addr->family == RP_AF_INET ? AF_INET : AF_INET6;
    rp_fd fd;
    err = rp__net_socket(family, loop->backend->nonblocking, &fd);
    if (!err)
        err = rp__net_listen(fd, addr, opts);
    if (err) {
        if (fd != RP_FD_INVALID)
            rp__net_close(fd);
    } else {
        err = rp__listener_open(loop, fd, family, opts, out);
    }
    rp__guard_leave(&g);
    return err;
}

#define UDP_FLAGS_ALL                                                                                       \
    (RP_UDP_REUSEADDR | RP_UDP_REUSEPORT | RP_UDP_V6ONLY | RP_UDP_BROADCAST | RP_UDP_PKTINFO |                  \
     RP_UDP_MULTICAST_NO_LOOP)

int rp_udp_bind(rp_loop *loop, rp_socket *out, const rp_addr *addr, const rp_udp_options *opts)
{
    rp_udp_options defaults;
    if (!loop || !out || !addr)
        return RP_EINVAL;
    if (!opts) {
        rp_udp_options_init(&defaults);
        opts = &defaults;
    }
    if ((opts->flags & ~(uint32_t)UDP_FLAGS_ALL) || opts->worker < -1 || opts->worker >= (int)loop->nworkers ||
        opts->recv_buffer < 0 || opts->send_buffer < 0 || opts->multicast_ttl < -1 || opts->multicast_ttl > 255)
        return RP_EINVAL;
    for (size_t i = 0; i < sizeof opts->reserved / sizeof opts->reserved[0]; i++)
        if (opts->reserved[i])
            return RP_EINVAL;
    if (addr->family != RP_AF_INET && addr->family != RP_AF_INET6)
        return RP_EINVAL;
    if ((opts->flags & RP_UDP_V6ONLY) && addr->family != RP_AF_INET6)
        return RP_EINVAL;
    rp_submit_guard g;
    int err = rp__guard_enter(&g, loop);
    if (err)
        return err;
    rp_fd fd = RP_FD_INVALID;
    err = rp__net_udp_socket(addr, opts, loop->backend->nonblocking, &fd);
    if (err) {
        rp__guard_leave(&g);
        return err;
    }
    rp_worker *w = rp__pick_worker(loop, opts->worker);
    rp_sock *s;
    err = rp__sock_open(loop, w, fd, RP_SOCK_DGRAM, addr->family == RP_AF_INET ? AF_INET : AF_INET6, &s);
    if (err) {
        rp__guard_leave(&g);
        return err;
    }
    if (opts->flags & RP_UDP_PKTINFO)
        s->flags |= RP_SF_PKTINFO;
    rp_addr bound;
    s->u.stream.dgram.local_port = rp__net_local_addr(fd, &bound) == 0 ? bound.port : addr->port;
    rp__atomic_store_u32(&s->u.stream.dgram.peer_fixed, 0);
    /* RINGPORT_UDP_NO_GSO=1 (test-only) takes the path of devices without UDP GSO: segments split here. */
    const char *no_gso = getenv("RINGPORT_UDP_NO_GSO");
    rp__atomic_store_u32(&s->u.stream.dgram.gso_off, no_gso && no_gso[0] == '1');
    err = rp__sock_attach_new(loop, w, s, out);
    rp__guard_leave(&g);
    return err;
}

int rp__connect_check(rp_loop *loop, rp_op *op, const rp_connect_options *opts)
{
    int err = rp__op_check(loop, op, RP_OP_CONNECT);
    if (err)
        return err;
    if (opts->flags & ~RP_CONNECT_NO_NODELAY)
        return RP_EINVAL;
    for (size_t i = 0; i < sizeof opts->reserved / sizeof opts->reserved[0]; i++)
        if (opts->reserved[i])
            return RP_EINVAL;
    if (opts->worker < -1 || opts->worker >= (int)loop->nworkers)
        return RP_EINVAL;
    if (!opts->early_data != !opts->early_len || opts->early_len > RP_CONNECT_EARLY_MAX)
        return RP_EINVAL;
    return 0;
}

int rp__connect_open(rp_loop *loop, rp_op *op, rp_fd fd, int family, const rp_connect_options *opts,
                     const rp_connect_payload *payload)
{
    rp_worker *w = rp__pick_worker(loop, opts->worker);
    rp_sock *s;
    rp_socket h;
    int err = rp__sock_open(loop, w, fd, RP_SOCK_STREAM, family, &s);
    if (err)
        return err;
    if (!(opts->flags & RP_CONNECT_NO_NODELAY) && family != AF_UNIX)
        s->flags |= RP_SF_NODELAY;
    if ((err = rp__sock_attach_new(loop, w, s, &h)) != 0)
        return err;
    rp__op_claim(op, RP_OP_CONNECT, w, h);
    RP_PRIV(op)->u.connect = *payload;
    rp__dispatch(w, op);
    return 0;
}

int rp_connect(rp_loop *loop, rp_op *op, const rp_addr *addr, const rp_connect_options *opts)
{
    rp_connect_options defaults;
    if (!loop || !addr)
        return RP_EINVAL;
    if (!opts) {
        rp_connect_options_init(&defaults);
        opts = &defaults;
    }
    int err = rp__connect_check(loop, op, opts);
    if (err)
        return err;
    if (addr->family != RP_AF_INET && addr->family != RP_AF_INET6)
        return RP_EINVAL;
    rp_submit_guard g;
    if ((err = rp__guard_enter(&g, loop)) != 0)
        return err;
    int family = addr->family == RP_AF_INET ? AF_INET : AF_INET6;
    rp_fd fd;
    err = rp__net_socket(family, loop->backend->nonblocking, &fd);
    if (!err) {
        rp_connect_payload payload;
        memset(&payload, 0, sizeof payload);
        payload.addr = *addr;
        payload.early = (const char *)opts->early_data;
        payload.early_len = opts->early_len;
        err = rp__connect_open(loop, op, fd, family, opts, &payload);
    }
    rp__guard_leave(&g);
    return err;
}

int rp_timeout(rp_loop *loop, rp_op *op, rp_socket socket, uint64_t delay_ms, uint64_t repeat_ms)
{
    if (!loop)
        return RP_EINVAL;
    int err = rp__op_check(loop, op, RP_OP_TIMEOUT);
    if (err)
        return err;
    /* Keep deadlines far from overflow: ~292 years of nanoseconds fit in 64 bits. */
    if (delay_ms > UINT64_C(1) << 40 || repeat_ms > UINT64_C(1) << 40)
        return RP_EINVAL;
    rp_worker *w;
    if (socket != RP_SOCKET_INVALID) {
        rp_sock *s;
        if ((err = rp__sock_lookup(loop, socket, &s)) != 0)
            return err;
        w = s->worker;
    } else if (rp__current && rp__current->loop == loop) {
        w = rp__current;
    } else {
        w = &loop->workers[0];
    }
    rp_submit_guard g;
    if ((err = rp__guard_enter(&g, loop)) != 0)
        return err;
    rp__op_claim(op, RP_OP_TIMEOUT, w, socket);
    RP_PRIV(op)->u.timer.deadline = delay_ms * 1000000u; /* made absolute on the worker */
    RP_PRIV(op)->u.timer.period = repeat_ms * 1000000u;
    if (repeat_ms)
        RP_PRIV(op)->iflags |= RP_IF_REPEATING;
    rp__dispatch(w, op);
    rp__guard_leave(&g);
    return 0;
}

int rp_post(rp_loop *loop, rp_op *op, int worker)
{
    if (!loop)
        return RP_EINVAL;
    int err = rp__op_check(loop, op, RP_OP_POST);
    if (err)
        return err;
    if (worker < -1 || worker >= (int)loop->nworkers)
        return RP_EINVAL;
    rp_worker *w;
    if (worker >= 0)
        w = &loop->workers[worker];
    else if (rp__current && rp__current->loop == loop)
        w = rp__current;
    else
        w = rp__pick_worker(loop, -1);
    rp_submit_guard g;
    if ((err = rp__guard_enter(&g, loop)) != 0)
        return err;
    rp__op_claim(op, RP_OP_POST, w, RP_SOCKET_INVALID);
    rp__dispatch(w, op);
    rp__guard_leave(&g);
    return 0;
}

/* ---- synchronous socket calls ---- */
int rp_socket_set_nodelay(rp_loop *loop, rp_socket socket, int on)
{
    rp_sock *s;
    if (!loop)
        return RP_EINVAL;
    int err = rp__sock_lookup(loop, socket, &s);
    if (err)
        return err;
    if (s->type != RP_SOCK_STREAM || s->family == AF_UNIX)
        return RP_EINVAL;
    return rp__net_set_nodelay(s->fd, on);
}

int rp_socket_local_addr(rp_loop *loop, rp_socket socket, rp_addr *out)
{
    rp_sock *s;
    if (!loop || !out)
        return RP_EINVAL;
    int err = rp__sock_lookup(loop, socket, &s);
    return err ? err : rp__net_local_addr(s->fd, out);
}

int rp_socket_peer_addr(rp_loop *loop, rp_socket socket, rp_addr *out)
{
    rp_sock *s;
    if (!loop || !out)
        return RP_EINVAL;
    int err = rp__sock_lookup(loop, socket, &s);
    if (err)
        return err;
    if (s->type == RP_SOCK_LISTENER)
        return RP_ENOTCONN;
    if ((err = rp__net_peer_addr(s->fd, out)) != 0)
        return err;
    if (s->type == RP_SOCK_DGRAM)
        rp__addr_unmap(out); /* an IPv4 peer of a dual-stack socket, as it was given */
    return 0;
}

int rp_socket_worker(rp_loop *loop, rp_socket socket)
{
    rp_sock *s;
    if (!loop)
        return RP_EINVAL;
    int err = rp__sock_lookup(loop, socket, &s);
    return err ? err : (int)s->worker->index;
}

/* ---- UDP ---- */
/* A datagram send or receive into the caller's array: the same payload, the kind says which. */
static int udp_submit(rp_loop *loop, rp_op *op, rp_socket socket, rp_dgram *dgrams, size_t count, rp_op_kind kind)
{
    rp_submit_guard g;
    rp_sock *s;
    int err = rp__udp_check_dgrams(dgrams, count, kind == RP_OP_UDP_SEND);
    if (err)
        return err;
    if ((err = socket_op(loop, op, socket, kind, &s, &g)) != 0)
        return err;
    rp__op_claim(op, kind, s->worker, socket);
    RP_PRIV(op)->u.udp.v = dgrams;
    RP_PRIV(op)->u.udp.count = (uint32_t)count;
    RP_PRIV(op)->u.udp.next = 0;
    RP_PRIV(op)->u.udp.seg_off = 0;
    rp__dispatch(s->worker, op);
    rp__guard_leave(&g);
    return 0;
}

int rp_udp_send(rp_loop *loop, rp_op *op, rp_socket socket, rp_dgram *dgrams, size_t count)
{
    return udp_submit(loop, op, socket, dgrams, count, RP_OP_UDP_SEND);
}

int rp_udp_recv(rp_loop *loop, rp_op *op, rp_socket socket, rp_dgram *dgrams, size_t count)
{
    return udp_submit(loop, op, socket, dgrams, count, RP_OP_UDP_RECV);
}

int rp_udp_recv_pool(rp_loop *loop, rp_op *op, rp_socket socket, rp_bufpool *pool, rp_dgram *dgrams, size_t count,
                     uint32_t flags)
{
    if (!dgrams || count == 0 || count > RP_DGRAM_BATCH_MAX)
        return RP_EINVAL;
    return pool_submit(loop, op, socket, pool, flags, RP_OP_UDP_RECV_POOL, dgrams, count);
}

/* ---- name resolution ---- */
#define RESOLVE_FLAGS_ALL (RP_RESOLVE_NUMERIC_HOST | RP_RESOLVE_ADDRCONFIG)

int rp_resolve(rp_loop *loop, rp_op *op, const char *host, const char *service, const rp_resolve_hints *hints,
               rp_addr *out, size_t cap)
{
    rp_resolve_hints defaults;
    int32_t port;
    if (!loop || !host || !out || cap == 0)
        return RP_EINVAL;
    int err = rp__op_check(loop, op, RP_OP_RESOLVE);
    if (err)
        return err;
    if (!hints) {
        rp_resolve_hints_init(&defaults);
        hints = &defaults;
    }
    if ((hints->family != 0 && hints->family != RP_AF_INET && hints->family != RP_AF_INET6) ||
        (hints->flags & ~(uint32_t)RESOLVE_FLAGS_ALL) || hints->worker < -1 || hints->worker >= (int)loop->nworkers)
        return RP_EINVAL;
    for (size_t i = 0; i < sizeof hints->reserved / sizeof hints->reserved[0]; i++)
        if (hints->reserved[i])
            return RP_EINVAL;
    if ((err = rp__resolve_check(host, service, &port)) != 0)
        return err;
    rp_submit_guard g;
    if ((err = rp__guard_enter(&g, loop)) != 0)
        return err;
    rp_resolve_job *job = NULL;
    err = rp__resolver_acquire(loop);
    if (!err)
        err = rp__resolve_job_new(host, port >= 0 ? NULL : service, hints, &job);
    if (err) {
        rp__guard_leave(&g);
        return err;
    }
    rp_worker *w;
    if (hints->worker >= 0)
        w = &loop->workers[hints->worker];
    else if (rp__current && rp__current->loop == loop)
        w = rp__current;
    else
        w = rp__pick_worker(loop, -1);
    rp__op_claim(op, RP_OP_RESOLVE, w, RP_SOCKET_INVALID);
    rp_op_priv *p = RP_PRIV(op);
    p->u.resolve.job = job;
    p->u.resolve.out = out;
    p->u.resolve.cap = cap > UINT32_MAX ? UINT32_MAX : (uint32_t)cap;
    p->u.resolve.port = port;
    rp__dispatch(w, op);
    rp__guard_leave(&g);
    return 0;
}
