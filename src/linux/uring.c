/* The io_uring backend: one ring per worker, created on the worker's own thread with SINGLE_ISSUER and
 * DEFER_TASKRUN where the kernel has them. Operations are native (recv, send/sendmsg, multishot accept,
 * connect, cancel); cross-thread wake-ups arrive through an eventfd read kept armed in the ring.
 *
 * user_data is the socket pointer with the direction in its low bits. A socket is released only when
 * kernel_refs (requests in flight that reference it) is back to zero, so no completion can ever reach a
 * reused slot. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <liburing.h>

#include "core/backend.h"
#include "core/bufpool.h"
#include "posix/sendfile_posix.h"
#include "posix/udp_io.h"
#include "posix/xfer_io.h"

enum { TAG_IGNORE = 0, TAG_RECV = 1, TAG_SEND = 2, TAG_ACCEPT = 3, TAG_CONNECT = 4, TAG_WAKE = 5, TAG_MASK = 7 };

/* rp_sock.bflags */
#define URING_BF_ACCEPT_CANCELING 0x1u /* a cancel of the multishot accept is in flight */
#define URING_BF_ZC_SEND 0x2u          /* the send in flight is zero-copy: its notification is to come */
#define URING_BF_NONBLOCK 0x4u         /* O_NONBLOCK set (for rp_sendfile's steps) */

#define CQE_BATCH 128
#define URING_IOV_ARENA 1024u
#define SQPOLL_IDLE_MS 50u

/* A pool segment given to the kernel: a provided buffer ring (IORING_REGISTER_PBUF_RING). */
typedef struct uring_bufring {
    struct io_uring_buf_ring *br;
    unsigned mask;
    struct uring_bufring *next; /* the worker's list: what worker_fini frees */
} uring_bufring;

typedef struct uring_worker {
    struct io_uring ring;
    int evfd;
    uint64_t evbuf;
    int multishot_accept;
    int multishot_recv;   /* IORING_RECV_MULTISHOT (6.0) */
    int buf_rings;        /* provided buffer rings (5.19) */
    int defer_taskrun;
    int send_zc;          /* IORING_OP_SEND_ZC for sends of at least loop->zerocopy_min bytes */
    uring_bufring *bufrings;
    /* iovecs of coalesced sends: the kernel has copied them once the SQE is submitted (FEAT_SUBMIT_STABLE),
     * so the space is reused after every submission of the wait. */
    struct iovec iov[URING_IOV_ARENA];
    unsigned iov_used;
} uring_worker;

static uring_worker *uring_of(rp_worker *w) { return (uring_worker *)w->backend; }

static uint64_t make_data(void *p, unsigned tag) { return (uint64_t)(uintptr_t)p | tag; }

static int64_t result_of(int res)
{
    return res >= 0 ? res : rp__from_errno(-res);
}

static int kernel_at_least(int major, int minor)
{
    struct utsname u;
    int ma = 0, mi = 0;
    if (uname(&u) != 0 || sscanf(u.release, "%d.%d", &ma, &mi) != 2)
        return 0;
    return ma > major || (ma == major && mi >= minor);
}

static int read_disabled_sysctl(void)
{
    FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "r");
    int v = 0;
    if (f) {
        if (fscanf(f, "%d", &v) != 1)
            v = 0;
        fclose(f);
    }
    return v;
}

/* 1 if the ring's kernel has every opcode of ops (one probe). */
static int opcodes_supported(struct io_uring *ring, const int *ops, size_t n)
{
    struct io_uring_probe *probe = io_uring_get_probe_ring(ring);
    int ok = probe != NULL;
    for (size_t i = 0; i < n && ok; i++)
        ok = io_uring_opcode_supported(probe, ops[i]);
    if (probe)
        io_uring_free_probe(probe);
    return ok;
}

static int uring_probe(char *why, size_t n)
{
    struct io_uring ring;
    int rc = io_uring_queue_init(4, &ring, 0);
    if (rc < 0) {
        int e = -rc;
        if (e == EPERM && read_disabled_sysctl())
            snprintf(why, n, "io_uring_setup: %s (kernel.io_uring_disabled=%d)", strerror(e), read_disabled_sysctl());
        else if (e == EPERM)
            snprintf(why, n, "io_uring_setup: %s (blocked by seccomp or policy)", strerror(e));
        else if (e == ENOSYS)
            snprintf(why, n, "io_uring_setup: %s (kernel without io_uring)", strerror(e));
        else
            snprintf(why, n, "io_uring_setup: %s", strerror(e));
        return e == ENOSYS ? RP_ENOSYS : rp__from_errno(e);
    }
    static const int needed[] = {IORING_OP_ACCEPT, IORING_OP_CONNECT, IORING_OP_RECV, IORING_OP_SEND,
                                 IORING_OP_SENDMSG, IORING_OP_ASYNC_CANCEL, IORING_OP_READ};
    int ok = opcodes_supported(&ring, needed, sizeof needed / sizeof needed[0]);
    unsigned features = ring.features;
    io_uring_queue_exit(&ring);
    if (!ok || !(features & IORING_FEAT_NODROP) || !(features & IORING_FEAT_FAST_POLL) ||
        !(features & IORING_FEAT_SUBMIT_STABLE)) {
        snprintf(why, n, "io_uring lacks required operations or features (kernel older than 5.7)");
        return RP_ENOSYS;
    }
    return 0;
}

static struct io_uring_sqe *get_sqe(rp_worker *w)
{
    struct io_uring_sqe *sqe;
    while (!(sqe = io_uring_get_sqe(&uring_of(w)->ring)))
        io_uring_submit(&uring_of(w)->ring); /* SQ full: hand what is queued to the kernel and retry */
    return sqe;
}

static void arm_wake(rp_worker *w)
{
    struct io_uring_sqe *sqe = get_sqe(w);
    io_uring_prep_read(sqe, uring_of(w)->evfd, &uring_of(w)->evbuf, sizeof uring_of(w)->evbuf, 0);
    io_uring_sqe_set_data64(sqe, make_data(NULL, TAG_WAKE));
}

static int uring_worker_init(rp_worker *w, unsigned depth, int threaded)
{
    uring_worker *u = calloc(1, sizeof *u);
    if (!u)
        return RP_ENOMEM;
    struct io_uring_params p;
    int rc = -EINVAL;
    /* Room for bursts of completions; the kernel refuses more than 65536 CQ entries. */
    unsigned cq_entries = depth * 4 > 65536 ? 65536 : depth * 4;
    if (w->loop->flags & RP_LOOP_SQPOLL) {
        /* A kernel thread consumes the submission queue (DEFER_TASKRUN cannot go with it). No fallback:
         * the caller asked for exactly this. */
        memset(&p, 0, sizeof p);
        p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SQPOLL;
        p.sq_thread_idle = SQPOLL_IDLE_MS;
        p.cq_entries = cq_entries;
        rc = io_uring_queue_init_params(depth, &u->ring, &p);
        if (rc < 0) {
            free(u);
            return rp__from_errno(-rc);
        }
    }
    if (rc < 0 && threaded && kernel_at_least(6, 1)) {
        /* One ring per thread: the kernel may skip its locking and run completions in our wait. */
        memset(&p, 0, sizeof p);
        p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER |
                  IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
        p.cq_entries = cq_entries;
        rc = io_uring_queue_init_params(depth, &u->ring, &p);
        u->defer_taskrun = rc == 0;
    }
    if (rc < 0 && kernel_at_least(5, 19)) {
        memset(&p, 0, sizeof p);
        p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN;
        p.cq_entries = cq_entries;
        rc = io_uring_queue_init_params(depth, &u->ring, &p);
    }
    if (rc < 0) {
        memset(&p, 0, sizeof p);
        p.flags = IORING_SETUP_CQSIZE;
        p.cq_entries = cq_entries;
        rc = io_uring_queue_init_params(depth, &u->ring, &p);
    }
    if (rc < 0) {
        free(u);
        return rc == -ENOSYS ? RP_ENOSYS : rp__from_errno(-rc);
    }
    /* A registered ring fd spares the kernel a file lookup on every io_uring_enter (5.18); optional. It
     * is valid only in the registering thread, so only a worker thread (which alone enters its ring)
     * registers: a caller-driven loop may be driven by any thread. */
    if (threaded && kernel_at_least(5, 18))
        io_uring_register_ring_fd(&u->ring);
    u->multishot_accept = kernel_at_least(5, 19);
    /* RINGPORT_URING_NO_BUF_RING=1 (test-only) takes the path of kernels without buffer rings. */
    const char *no_buf_ring = getenv("RINGPORT_URING_NO_BUF_RING");
    /* 6.0 rather than 5.19: a multishot datagram receive needs 6.0's multishot RECVMSG to read into
     * them, and a ring is shared by every pool receive of the worker. */
    u->buf_rings = kernel_at_least(6, 0) && !(no_buf_ring && *no_buf_ring == '1');
    u->multishot_recv = kernel_at_least(6, 0);
    static const int send_zc_op = IORING_OP_SEND_ZC;
    u->send_zc = w->loop->zerocopy_min && kernel_at_least(6, 0) && opcodes_supported(&u->ring, &send_zc_op, 1);
    u->evfd = eventfd(0, EFD_CLOEXEC);
    if (u->evfd < 0) {
        int err = rp__from_errno(errno);
        io_uring_queue_exit(&u->ring);
        free(u);
        return err;
    }
    w->backend = u;
    arm_wake(w);
    return 0;
}

static void uring_worker_fini(rp_worker *w)
{
    uring_worker *u = uring_of(w);
    if (!u)
        return;
    io_uring_queue_exit(&u->ring); /* unregisters the buffer rings too */
    while (u->bufrings) {
        uring_bufring *b = u->bufrings;
        u->bufrings = b->next;
        free(b->br);
        free(b);
    }
    close(u->evfd);
    free(u);
    w->backend = NULL;
}

static void uring_wake(rp_worker *w)
{
    uint64_t one = 1;
    ssize_t r = write(uring_of(w)->evfd, &one, sizeof one);
    (void)r;
}

static int uring_attach(rp_worker *w, rp_sock *s)
{
    RP_UNUSED(w);
    RP_UNUSED(s);
    return 0; /* io_uring needs no registration */
}

static void start_recv(rp_worker *w, rp_sock *s, rp_op *op)
{
    rp_op_priv *p = RP_PRIV(op);
    struct io_uring_sqe *sqe = get_sqe(w);
    io_uring_prep_recv(sqe, s->fd, p->u.recv.buf, p->u.recv.len, 0);
    io_uring_sqe_set_data64(sqe, make_data(s, TAG_RECV));
    s->kernel_refs++;
}

/* A pool receive. Into a segment the kernel holds: the kernel picks the buffer when data is there
 * (IOSQE_BUFFER_SELECT), and a multishot receive stays armed across chunks. Into a segment the core holds
 * (kernels without buffer rings): a poll for readability, then non-blocking reads into buffers taken only
 * then, so a connection waiting for data holds no buffer either. */
static void start_recv_pool(rp_worker *w, rp_sock *s, rp_op *op)
{
    rp_bufseg *seg = rp__recv_pool_seg(op);
    struct io_uring_sqe *sqe = get_sqe(w);
    if (seg->backend_held) {
        if (RP_PRIV(op)->u.recv_pool.multishot && uring_of(w)->multishot_recv)
            io_uring_prep_recv_multishot(sqe, s->fd, NULL, 0, 0);
        else
            io_uring_prep_recv(sqe, s->fd, NULL, seg->pool->buf_size, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = seg->group;
    } else {
        io_uring_prep_poll_add(sqe, s->fd, POLLIN);
    }
    io_uring_sqe_set_data64(sqe, make_data(s, TAG_RECV));
    s->kernel_refs++;
}

/* The socket is readable (core-held segment): read until it is drained, the core says to wait, or the
 * receive ends; then poll again. */
static void read_pool_ready(rp_worker *w, rp_sock *s, rp_op *op)
{
    for (;;) {
        void *buf;
        size_t len;
        int64_t idx = rp__buf_take(w, s, &buf, &len);
        if (idx < 0)
            return; /* waits: the core starts it again */
        ssize_t n = recv(s->fd, buf, len, MSG_DONTWAIT);
        if (n > 0) {
            if (rp__recv_pool_data(w, s, idx, (size_t)n) == RP_IO_FINISHED)
                return;
            continue;
        }
        int e = n < 0 ? errno : 0;
        rp__buf_untake(w, s, idx);
        if (n < 0 && e == EINTR)
            continue;
        if (n < 0 && (e == EAGAIN || e == EWOULDBLOCK)) {
            start_recv_pool(w, s, op);
            return;
        }
        rp__io_finish(w, s, RP_DIR_RECV, n == 0 ? 0 : rp__from_errno(e));
        return;
    }
}

static void start_send(rp_worker *w, rp_sock *s, rp_op *op)
{
    struct io_uring_sqe *sqe = get_sqe(w);
    struct msghdr *msg = &s->u.stream.io.msg;
    uring_worker *u = uring_of(w);
    size_t n = rp__send_iov(s, op, u->iov + u->iov_used, URING_IOV_ARENA - u->iov_used);
    if (msg->msg_iov == u->iov + u->iov_used)
        u->iov_used += (unsigned)n;
    if (msg->msg_control) /* a socket handed over: its descriptor rides in the control data */
        io_uring_prep_sendmsg(sqe, s->fd, msg, MSG_NOSIGNAL);
    else if (n == 1 && u->send_zc && msg->msg_iov[0].iov_len >= w->loop->zerocopy_min) {
        io_uring_prep_send_zc(sqe, s->fd, msg->msg_iov[0].iov_base, msg->msg_iov[0].iov_len, MSG_NOSIGNAL, 0);
        s->bflags |= URING_BF_ZC_SEND;
    } else if (n == 1)
        io_uring_prep_send(sqe, s->fd, msg->msg_iov[0].iov_base, msg->msg_iov[0].iov_len, MSG_NOSIGNAL);
    else
        io_uring_prep_sendmsg(sqe, s->fd, msg, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, make_data(s, TAG_SEND));
    s->kernel_refs++;
}

static void start_accept(rp_worker *w, rp_sock *s)
{
    struct io_uring_sqe *sqe = get_sqe(w);
    if (uring_of(w)->multishot_accept)
        io_uring_prep_multishot_accept(sqe, s->fd, NULL, NULL, SOCK_CLOEXEC);
    else
        io_uring_prep_accept(sqe, s->fd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, make_data(s, TAG_ACCEPT));
    s->bflags &= ~URING_BF_ACCEPT_CANCELING;
    s->kernel_refs++;
}

static void start_connect(rp_worker *w, rp_sock *s, rp_op *op)
{
    int len = 0;
    rp__net_to_sockaddr(&RP_PRIV(op)->u.connect.addr, &s->u.stream.connect_addr, &len);
    if (RP_PRIV(op)->u.connect.early)
        rp__connect_early_prepare(s->fd); /* TCP Fast Open: a cached cookie makes the CONNECT return at once */
    struct io_uring_sqe *sqe = get_sqe(w);
    io_uring_prep_connect(sqe, s->fd, (struct sockaddr *)&s->u.stream.connect_addr, (socklen_t)len);
    io_uring_sqe_set_data64(sqe, make_data(s, TAG_CONNECT));
    s->kernel_refs++;
}

/* ---- UDP ---- */
/* A poll for readiness in direction tag (TAG_RECV: POLLIN, TAG_SEND: POLLOUT); the datagrams then move
 * through posix/udp_io.c's batched calls. */
static void start_poll(rp_worker *w, rp_sock *s, unsigned tag)
{
    struct io_uring_sqe *sqe = get_sqe(w);
    io_uring_prep_poll_add(sqe, s->fd, tag == TAG_RECV ? POLLIN : POLLOUT);
    io_uring_sqe_set_data64(sqe, make_data(s, tag));
    s->kernel_refs++;
}

/* Datagrams into a segment the kernel holds (its provided buffer ring): native RECVMSG with buffer
 * selection, the only way to read into those buffers. A multishot receive is one multishot request whose
 * buffers start with an io_uring_recvmsg_out header, the source and the control data (the pool's
 * headroom makes room for them, so a datagram of the size the pool was asked for still fits). A single-shot one is a plain request: the kernel writes the
 * source and the control data through the msghdr template, into the op's first rp_dgram, which belongs
 * to ringport until the op completes and is filled with the result only at its delivery. */
#define UDP_HDR_ROOM (sizeof(struct io_uring_recvmsg_out) + sizeof(struct sockaddr_in6) + RP_UDP_CTRL_SIZE)
RP_STATIC_ASSERT(UDP_HDR_ROOM <= RP_BUFPOOL_HEADROOM, "a pool buffer's headroom takes a datagram's header");
#define UDP_SCRATCH_CTRL 32 /* where the control data goes in the first rp_dgram (after a sockaddr_in6) */
#define UDP_SCRATCH_CTRL_SIZE (sizeof(rp_dgram) - UDP_SCRATCH_CTRL)
RP_STATIC_ASSERT(sizeof(struct sockaddr_in6) <= UDP_SCRATCH_CTRL && UDP_SCRATCH_CTRL_SIZE >= 40,
                 "an rp_dgram holds a source address and an in6_pktinfo control message");

static int udp_native_pool(const rp_op *op) { return rp__recv_pool_seg(op)->backend_held; }

static void start_udp_recvmsg(rp_worker *w, rp_sock *s, rp_op *op)
{
    rp_bufseg *seg = rp__recv_pool_seg(op);
    struct msghdr *msg = &s->u.stream.io.msg; /* the template; the kernel writes lengths and flags back */
    int multishot = RP_PRIV(op)->u.recv_pool.multishot;
    memset(msg, 0, sizeof *msg);
    msg->msg_namelen = s->family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (!multishot) {
        char *scratch = (char *)(void *)RP_PRIV(op)->u.recv_pool.dgrams;
        msg->msg_name = scratch;
        if (s->flags & RP_SF_PKTINFO) {
            msg->msg_control = scratch + UDP_SCRATCH_CTRL;
            msg->msg_controllen = UDP_SCRATCH_CTRL_SIZE;
        }
    } else if (s->flags & RP_SF_PKTINFO) {
        msg->msg_controllen = RP_UDP_CTRL_SIZE;
    }
    struct io_uring_sqe *sqe = get_sqe(w);
    /* MSG_TRUNC: a single request's result is the datagram's real length, so truncation shows. */
    io_uring_prep_recvmsg(sqe, s->fd, msg, multishot ? 0 : MSG_TRUNC);
    if (multishot)
        sqe->ioprio |= IORING_RECV_MULTISHOT;
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = seg->group;
    io_uring_sqe_set_data64(sqe, make_data(s, TAG_RECV));
    s->kernel_refs++;
}

/* Tries the receive at once (data usually waits on a busy socket), else polls. */
static void start_udp_recv(rp_worker *w, rp_sock *s, rp_op *op)
{
    if (op->kind == RP_OP_UDP_RECV_POOL && udp_native_pool(op)) {
        start_udp_recvmsg(w, s, op);
        return;
    }
    int done = op->kind == RP_OP_UDP_RECV ? rp__udp_io_recv(w, s) : rp__udp_io_recv_pool(w, s);
    if (!done)
        start_poll(w, s, TAG_RECV);
}

static void start_udp_send(rp_worker *w, rp_sock *s)
{
    if (!rp__udp_io_send(w, s))
        start_poll(w, s, TAG_SEND);
}

/* ---- rp_sendfile ---- */
static void uring_io_start(rp_worker *w, rp_sock *s, uint32_t dir, rp_op *op);

/* Steps without blocking (posix/sendfile_posix.c), and a writability poll when the socket has no room: a
 * poll and a synchronous sendfile beat SPLICE through a pipe (netty measured 7.2k against 6.0k requests/s
 * for 1 MB bodies), need no pipe per connection, and do not go through io-wq. */
static void run_sendfile(rp_worker *w, rp_sock *s)
{
    /* The steps must not block the worker, and sendfile takes no MSG_DONTWAIT: the socket becomes
     * non-blocking, which changes nothing for io_uring's own requests (they poll on EAGAIN in the kernel;
     * sockets adopted from a reactor run so already). */
    if (!(s->bflags & URING_BF_NONBLOCK)) {
        int err = rp__net_set_nonblocking(s->fd);
        if (err) {
            rp__send_progress(w, s, 0, err);
            return;
        }
        s->bflags |= URING_BF_NONBLOCK;
    }
    rp_op *op;
    while ((op = rp__io_op(s, RP_DIR_SEND)) && op->kind == RP_OP_SENDFILE) {
        int64_t r = rp__sendfile_step(s, op);
        if (r == RP_EAGAIN) {
            start_poll(w, s, TAG_SEND);
            return;
        }
        s->send_batch = 1;
        if (rp__send_progress(w, s, r > 0 ? (size_t)r : 0, r < 0 ? (int)r : 0) == RP_IO_FINISHED)
            return;
    }
    if (op)
        uring_io_start(w, s, RP_DIR_SEND, op); /* the next send, of another kind */
}

static void on_sendfile_poll(rp_worker *w, rp_sock *s, int res)
{
    s->kernel_refs--;
    int err = res < 0 && res != -EINTR && res != -EAGAIN && res != -ECANCELED ? result_of(res) : 0;
    if ((rp__io_stopping(s, RP_DIR_SEND) || err) && rp__send_progress(w, s, 0, err) == RP_IO_FINISHED)
        return; /* cancelled, closing, or failed */
    run_sendfile(w, s);
}

/* A socket handed over (posix/xfer_io.c): read at once, else after a readability poll. */
static void start_xfer_recv(rp_worker *w, rp_sock *s)
{
    if (!rp__xfer_io_recv(w, s))
        start_poll(w, s, TAG_RECV);
}

static void on_xfer_poll_recv(rp_worker *w, rp_sock *s, int res)
{
    s->kernel_refs--;
    if (rp__io_stopping(s, RP_DIR_RECV) || (res < 0 && res != -EINTR && res != -EAGAIN)) {
        rp__io_finish(w, s, RP_DIR_RECV, res >= 0 || res == -ECANCELED ? RP_ECANCELED : result_of(res));
        return;
    }
    start_xfer_recv(w, s);
}

/* A readability poll of a datagram receive completed. */
static void on_udp_poll_recv(rp_worker *w, rp_sock *s, rp_op *op, int res)
{
    s->kernel_refs--;
    if (rp__io_stopping(s, RP_DIR_RECV) || (res < 0 && res != -EINTR && res != -EAGAIN)) {
        rp__io_finish(w, s, RP_DIR_RECV, res >= 0 || res == -ECANCELED ? RP_ECANCELED : result_of(res));
        return;
    }
    start_udp_recv(w, s, op);
}

static void on_udp_poll_send(rp_worker *w, rp_sock *s, int res)
{
    s->kernel_refs--;
    RP_UNUSED(res);
    if (rp__io_stopping(s, RP_DIR_SEND))
        rp__udp_send_done(w, s); /* the untried datagrams end with RP_ECANCELED */
    else
        start_udp_send(w, s);
}

/* A datagram (or the end) of the native pool receive. */
static void on_udp_recvmsg(rp_worker *w, rp_sock *s, rp_op *op, int res, unsigned flags)
{
    int more = (flags & IORING_CQE_F_MORE) != 0;
    if (!more)
        s->kernel_refs--;
    int64_t idx = (flags & IORING_CQE_F_BUFFER) ? (int64_t)(flags >> IORING_CQE_BUFFER_SHIFT) : -1;
    if (res >= 0 && idx >= 0) {
        rp_bufseg *seg = rp__recv_pool_seg(op);
        char *buf = seg->base + (size_t)idx * seg->pool->buf_size;
        struct msghdr *msg = &s->u.stream.io.msg;
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof ss);
        rp_addr peer, local;
        int has_local = 0;
        uint32_t off, len, dflags;
        if (RP_PRIV(op)->u.recv_pool.multishot) {
            struct io_uring_recvmsg_out *o = io_uring_recvmsg_validate(buf, res, msg);
            if (!o) { /* cannot happen with the room uring_pool_attach asks for; never deliver garbage */
                rp__buf_untake(w, s, idx);
                rp__io_finish(w, s, RP_DIR_RECV, RP_EIO);
                return;
            }
            memcpy(&ss, io_uring_recvmsg_name(o), o->namelen < sizeof ss ? o->namelen : sizeof ss);
            if (s->flags & RP_SF_PKTINFO) {
                struct msghdr c;
                memset(&c, 0, sizeof c);
                c.msg_control = (char *)(o + 1) + msg->msg_namelen;
                c.msg_controllen = o->controllen;
                has_local = rp__udp_local_from_cmsg(&c, s->u.stream.dgram.local_port, &local) == 0;
            }
            char *payload = io_uring_recvmsg_payload(o, msg);
            off = (uint32_t)(payload - buf);
            len = (uint32_t)io_uring_recvmsg_payload_length(o, res, msg);
            dflags = (o->flags & MSG_TRUNC) ? RP_DGRAM_TRUNC : 0u;
            if (o->namelen == 0)
                ss.ss_family = AF_UNSPEC;
        } else {
            memcpy(&ss, msg->msg_name, msg->msg_namelen < sizeof ss ? msg->msg_namelen : sizeof ss);
            if (s->flags & RP_SF_PKTINFO)
                has_local = rp__udp_local_from_cmsg(msg, s->u.stream.dgram.local_port, &local) == 0;
            off = 0;
            len = (uint32_t)res < seg->pool->buf_size ? (uint32_t)res : seg->pool->buf_size;
            dflags = ((uint32_t)res > seg->pool->buf_size || (msg->msg_flags & MSG_TRUNC)) ? RP_DGRAM_TRUNC : 0u;
        }
        if (rp__net_from_sockaddr_unmapped(&ss, &peer) != 0)
            memset(&peer, 0, sizeof peer);
        if (rp__recv_pool_dgram(w, s, idx, off, len, dflags, &peer, has_local ? &local : NULL) == RP_IO_FINISHED)
            return;
        if (more)
            return;
        /* The kernel ended the multishot receive (or a single one went on): the next request. */
        if (rp__io_stopping(s, RP_DIR_RECV))
            rp__io_finish(w, s, RP_DIR_RECV, RP_ECANCELED);
        else
            start_udp_recvmsg(w, s, op);
        return;
    }
    if (idx >= 0)
        rp__buf_untake(w, s, idx);
    if (more)
        return;
    if (!rp__io_stopping(s, RP_DIR_RECV)) {
        if (res == -ENOBUFS) {
            rp__recv_pool_starved(w, s); /* the ring ran dry: goes on when buffers come back */
            return;
        }
        if (res == -EINTR || res == -EAGAIN || rp__udp_error_ignorable(s, -res)) {
            start_udp_recvmsg(w, s, op);
            return;
        }
    } else if (res == -ENOBUFS || res == -EINTR || res == -EAGAIN) {
        res = -ECANCELED;
    }
    rp__io_finish(w, s, RP_DIR_RECV, result_of(res));
}

static void uring_io_start(rp_worker *w, rp_sock *s, uint32_t dir, rp_op *op)
{
    RP_UNUSED(dir);
    switch ((rp_op_kind)op->kind) {
    case RP_OP_UDP_SEND: start_udp_send(w, s); break;
    case RP_OP_UDP_RECV:
    case RP_OP_UDP_RECV_POOL: start_udp_recv(w, s, op); break;
    case RP_OP_RECV: start_recv(w, s, op); break;
    case RP_OP_RECV_POOL: start_recv_pool(w, s, op); break;
    case RP_OP_SEND:
    case RP_OP_SEND_SOCKET: start_send(w, s, op); break;
    case RP_OP_SENDFILE: run_sendfile(w, s); break;
    case RP_OP_RECV_SOCKET: start_xfer_recv(w, s); break;
    case RP_OP_ACCEPT: start_accept(w, s); break;
    case RP_OP_CONNECT: start_connect(w, s, op); break;
    RP_CASE_KINDS_RUN_BY_THE_CORE: break;
    }
}

static void cancel_request(rp_worker *w, rp_sock *s, unsigned tag)
{
    struct io_uring_sqe *sqe = get_sqe(w);
    io_uring_prep_cancel64(sqe, make_data(s, tag), 0);
    io_uring_sqe_set_data64(sqe, make_data(NULL, TAG_IGNORE));
}

static unsigned tag_of(uint32_t dir)
{
    switch ((enum rp_dir)dir) {
    case RP_DIR_RECV: return TAG_RECV;
    case RP_DIR_SEND: return TAG_SEND;
    case RP_DIR_ACCEPT: return TAG_ACCEPT;
    case RP_DIR_CONNECT: return TAG_CONNECT;
    }
    return TAG_IGNORE;
}

static int uring_io_cancel(rp_worker *w, rp_sock *s, uint32_t dir)
{
    if (dir == RP_DIR_ACCEPT) {
        if (s->bflags & URING_BF_ACCEPT_CANCELING)
            return 0;
        s->bflags |= URING_BF_ACCEPT_CANCELING;
    }
    /* The request may still finish with its natural result or partial progress; rp__io_stopping keeps the
     * remainder from being issued as a fresh request that the cancel never reaches. */
    cancel_request(w, s, tag_of(dir));
    return 0; /* the request completes with -ECANCELED (or its natural result) */
}

static void uring_sock_close(rp_worker *w, rp_sock *s)
{
    /* Every active direction was already asked to stop through io_cancel; the descriptor is closed once
     * the last in-flight request has completed (the core releases the socket then). Except while a
     * zero-copy send waits for its notification: that comes only when the kernel frees the data still
     * queued on the socket, which a peer that does not read never lets happen, not even after an orderly
     * close (the orphaned socket keeps its data). So the connection is reset now, which discards the
     * queue (requests in flight hold their own reference to the file, and no new one is issued on a
     * closing socket); the slot is still released only after the notification. Not a connection handed
     * over (rp_send_socket): its new owner may serve it still, and SO_LINGER, an option of the socket
     * rather than of this descriptor, would turn that owner's close into a reset too. That one is only
     * closed here, and its slot waits until the data has been taken. */
    RP_UNUSED(w);
    if ((s->bflags & URING_BF_ZC_SEND) && s->fd != RP_FD_INVALID) {
        struct linger abort_now = {1, 0};
        if (!rp__atomic_load_u32(&s->handed))
            setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &abort_now, sizeof abort_now);
        rp__net_close(s->fd);
        s->fd = RP_FD_INVALID;
    }
}

static void on_recv(rp_worker *w, rp_sock *s, int res)
{
    s->kernel_refs--;
    if (res == -EINTR || res == -EAGAIN) {
        if (!rp__io_stopping(s, RP_DIR_RECV)) {
            start_recv(w, s, rp__io_op(s, RP_DIR_RECV));
            return;
        }
        res = -ECANCELED;
    }
    rp__io_finish(w, s, RP_DIR_RECV, result_of(res));
}

static void on_recv_pool(rp_worker *w, rp_sock *s, rp_op *op, int res, unsigned flags)
{
    int more = (flags & IORING_CQE_F_MORE) != 0;
    if (!more)
        s->kernel_refs--;
    if (!rp__recv_pool_seg(op)->backend_held) { /* the poll of a core-held segment */
        if (res >= 0 && !rp__io_stopping(s, RP_DIR_RECV))
            read_pool_ready(w, s, op);
        else
            rp__io_finish(w, s, RP_DIR_RECV, res >= 0 || res == -ECANCELED ? RP_ECANCELED : result_of(res));
        return;
    }
    int64_t idx = (flags & IORING_CQE_F_BUFFER) ? (int64_t)(flags >> IORING_CQE_BUFFER_SHIFT) : -1;
    if (res > 0) {
        if (rp__recv_pool_data(w, s, idx, (size_t)res) == RP_IO_FINISHED || more)
            return;
        /* A multishot receive the kernel ended: the next one. */
        if (rp__io_stopping(s, RP_DIR_RECV))
            rp__io_finish(w, s, RP_DIR_RECV, RP_ECANCELED);
        else
            start_recv_pool(w, s, op);
        return;
    }
    if (idx >= 0)
        rp__buf_untake(w, s, idx);
    if (more)
        return;
    if (res == -EINTR || res == -EAGAIN || res == -ENOBUFS) {
        if (!rp__io_stopping(s, RP_DIR_RECV)) {
            if (res == -ENOBUFS)
                rp__recv_pool_starved(w, s); /* the ring ran dry: goes on when buffers come back */
            else
                start_recv_pool(w, s, op);
            return;
        }
        res = -ECANCELED;
    }
    rp__io_finish(w, s, RP_DIR_RECV, result_of(res));
}

/* A receive's completion, by the kind of the op at the head of the queue. */
static void on_recv_cqe(rp_worker *w, rp_sock *s, int res, unsigned flags)
{
    rp_op *op = rp__io_op(s, RP_DIR_RECV);
    switch ((rp_op_kind)(op ? op->kind : RP_OP_NONE)) {
    case RP_OP_RECV: on_recv(w, s, res); return;
    case RP_OP_RECV_POOL: on_recv_pool(w, s, op, res, flags); return;
    case RP_OP_UDP_RECV: on_udp_poll_recv(w, s, op, res); return;
    case RP_OP_UDP_RECV_POOL:
        if (udp_native_pool(op))
            on_udp_recvmsg(w, s, op, res, flags);
        else
            on_udp_poll_recv(w, s, op, res);
        return;
    case RP_OP_RECV_SOCKET: on_xfer_poll_recv(w, s, res); return;
    case RP_OP_UDP_SEND:
    case RP_OP_SEND_SOCKET:
    case RP_OP_SENDFILE:
    case RP_OP_NONE:
    case RP_OP_ACCEPT:
    case RP_OP_CONNECT:
    case RP_OP_SEND:
    case RP_OP_SHUTDOWN:
    case RP_OP_CLOSE:
    case RP_OP_TIMEOUT:
    case RP_OP_POST:
    case RP_OP_RESOLVE:
    case RP_OP_MOVE: s->kernel_refs--; return; /* never in the receive direction (op table) */
    }
}

static void on_send(rp_worker *w, rp_sock *s, int res, unsigned flags)
{
    rp_op *op = rp__io_op(s, RP_DIR_SEND);
    if (op && op->kind == RP_OP_UDP_SEND) {
        on_udp_poll_send(w, s, res);
        return;
    }
    if (op && op->kind == RP_OP_SENDFILE) {
        on_sendfile_poll(w, s, res);
        return;
    }
    /* Zero-copy: the result comes first (flagged MORE), the notification that the kernel is done with
     * the buffer after it; the send completes only then, so the caller's buffer rule stays the same. */
    if (flags & IORING_CQE_F_MORE) {
        RP_PRIV(op)->u.send.backend_res = res;
        return;
    }
    if (flags & IORING_CQE_F_NOTIF)
        res = (int)RP_PRIV(op)->u.send.backend_res;
    s->bflags &= ~URING_BF_ZC_SEND;
    s->kernel_refs--;
    size_t n = res > 0 ? (size_t)res : 0;
    int err = (res < 0 && res != -EINTR && res != -EAGAIN) ? rp__from_errno(-res) : 0;
    if (rp__send_progress(w, s, n, err) == RP_IO_RESTART)
        uring_io_start(w, s, RP_DIR_SEND, rp__io_op(s, RP_DIR_SEND)); /* the rest, or the next send */
}

static void on_accept(rp_worker *w, rp_sock *s, int res, unsigned flags)
{
    if (res >= 0)
        rp__accept_push(w, s, res); /* closed there if the listener is closing */
    if (!(flags & IORING_CQE_F_MORE)) {
        s->kernel_refs--;
        s->bflags &= ~URING_BF_ACCEPT_CANCELING;
        rp__accept_stopped(w, s, res >= 0 ? 0 : rp__from_errno(-res));
        return;
    }
    if (!rp__accept_wanted(s) && !(s->bflags & URING_BF_ACCEPT_CANCELING)) {
        /* Nobody is accepting, or enough connections are queued: stop the multishot until wanted. */
        s->bflags |= URING_BF_ACCEPT_CANCELING;
        cancel_request(w, s, TAG_ACCEPT);
    }
}

/* The CONNECT completed, or (a connect with early data) a writability poll did: with early data the
 * connect goes on until every byte is with the kernel and the handshake is complete, polling for
 * writability in between (the data is sent by non-blocking sends from here: there is no SQE that waits
 * for the end of a handshake that a SYN carrying data started). The poll counts as the connect's request
 * (TAG_CONNECT), so a cancel reaches it. */
static void on_connect(rp_worker *w, rp_sock *s, int res)
{
    s->kernel_refs--;
    rp_op *op = rp__io_op(s, RP_DIR_CONNECT);
    if (res < 0 || !op || !RP_PRIV(op)->u.connect.early) {
        rp__connect_finish(w, s, res >= 0 ? 0 : rp__from_errno(-res));
        return;
    }
    if (rp__io_stopping(s, RP_DIR_CONNECT)) {
        rp__connect_finish(w, s, RP_ECANCELED); /* not done yet: the cancel wins */
        return;
    }
    int err = rp__net_so_error(s->fd);
    err = err ? rp__from_errno(err) : rp__connect_early_step(s, op);
    if (err != RP_EARLY_WAIT) {
        rp__connect_finish(w, s, err);
        return;
    }
    struct io_uring_sqe *sqe = get_sqe(w);
    io_uring_prep_poll_add(sqe, s->fd, POLLOUT);
    io_uring_sqe_set_data64(sqe, make_data(s, TAG_CONNECT));
    s->kernel_refs++;
}

typedef struct cqe_copy {
    uint64_t data;
    int res;
    unsigned flags;
} cqe_copy;

static int reap(rp_worker *w)
{
    struct io_uring *ring = &uring_of(w)->ring;
    struct io_uring_cqe *cqes[CQE_BATCH];
    cqe_copy got[CQE_BATCH];
    int total = 0;
    for (;;) {
        unsigned n = io_uring_peek_batch_cqe(ring, cqes, CQE_BATCH);
        if (n == 0)
            break;
        for (unsigned i = 0; i < n; i++) {
            got[i].data = io_uring_cqe_get_data64(cqes[i]);
            got[i].res = cqes[i]->res;
            got[i].flags = cqes[i]->flags;
        }
        io_uring_cq_advance(ring, n); /* handlers may queue new requests: free the slots first */
        for (unsigned i = 0; i < n; i++) {
            unsigned tag = (unsigned)(got[i].data & TAG_MASK);
            rp_sock *s = (rp_sock *)(uintptr_t)(got[i].data & ~(uint64_t)TAG_MASK);
            switch (tag) {
            case TAG_RECV: on_recv_cqe(w, s, got[i].res, got[i].flags); break;
            case TAG_SEND: on_send(w, s, got[i].res, got[i].flags); break;
            case TAG_ACCEPT: on_accept(w, s, got[i].res, got[i].flags); break;
            case TAG_CONNECT: on_connect(w, s, got[i].res); break;
            case TAG_WAKE:
                rp__wake_consumed(w);
                arm_wake(w);
                break;
            default: break;
            }
        }
        total += (int)n;
    }
    return total;
}

/* With DEFER_TASKRUN the kernel runs only a bounded batch of deferred completions per enter (about 20),
 * flagging IORING_SQ_TASKRUN while more wait. Without draining them here, receives that became ready sit
 * behind newer work and a few connections see tens of milliseconds of extra latency under load. */
#define TASKRUN_DRAIN_MAX 64

static void drain_deferred(rp_worker *w)
{
    struct io_uring *ring = &uring_of(w)->ring;
    for (int i = 0; i < TASKRUN_DRAIN_MAX && (IO_URING_READ_ONCE(*ring->sq.kflags) & IORING_SQ_TASKRUN); i++) {
        io_uring_get_events(ring);
        reap(w);
    }
}

static void uring_wait(rp_worker *w, int64_t timeout_ns)
{
    struct io_uring *ring = &uring_of(w)->ring;
    /* Everything prepared so far is submitted below, and the kernel has copied the iovecs of an entry
     * once it has consumed it: at once with our own submission, later with SQPOLL's thread. */
    if (!(ring->flags & IORING_SETUP_SQPOLL) || io_uring_sq_ready(ring) == 0)
        uring_of(w)->iov_used = 0;
    if (timeout_ns == 0) {
        if (uring_of(w)->defer_taskrun || io_uring_sq_ready(ring) || io_uring_cq_has_overflow(ring))
            io_uring_submit_and_get_events(ring);
        reap(w);
        drain_deferred(w);
        return;
    }
    if (io_uring_cq_ready(ring) == 0) {
        struct io_uring_cqe *cqe = NULL;
        struct __kernel_timespec ts;
        struct __kernel_timespec *tsp = NULL;
        if (timeout_ns > 0) {
            /* Whole milliseconds, rounded up, as epoll_wait and GetQueuedCompletionStatusEx take them: to
             * the nanosecond, the loop would wake for each next deadline of many timers (a few µs apart)
             * instead of once per millisecond. */
            int64_t ms = timeout_ns / 1000000 + (timeout_ns % 1000000 != 0);
            ts.tv_sec = ms / 1000;
            ts.tv_nsec = (ms % 1000) * 1000000;
            tsp = &ts;
        }
        io_uring_submit_and_wait_timeout(ring, &cqe, 1, tsp, NULL);
    } else if (io_uring_sq_ready(ring)) {
        io_uring_submit(ring);
    }
    reap(w);
    drain_deferred(w);
}

/* ---- pool segments as provided buffer rings ---- */
static int uring_pool_attach(rp_worker *w, rp_bufseg *seg)
{
    uring_worker *u = uring_of(w);
    if (!u->buf_rings)
        return 0;
    uring_bufring *b = calloc(1, sizeof *b);
    if (!b)
        return 0;
    unsigned entries = seg->pool->count; /* a power of two, at most 32768: what the kernel accepts */
    size_t bytes = (size_t)entries * sizeof(struct io_uring_buf);
    long page = sysconf(_SC_PAGESIZE);
    void *mem = NULL;
    if (posix_memalign(&mem, page > 0 ? (size_t)page : 4096u, bytes) != 0) {
        free(b);
        return 0;
    }
    memset(mem, 0, bytes);
    b->br = mem;
    b->mask = io_uring_buf_ring_mask(entries);
    io_uring_buf_ring_init(b->br);
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (uint64_t)(uintptr_t)b->br;
    reg.ring_entries = entries;
    reg.bgid = seg->group;
    if (io_uring_register_buf_ring(&u->ring, &reg, 0) != 0) {
        free(b->br);
        free(b);
        u->buf_rings = 0; /* not on this kernel: the core hands buffers out */
        return 0;
    }
    for (unsigned i = 0; i < entries; i++)
        io_uring_buf_ring_add(b->br, seg->base + (size_t)i * seg->pool->buf_size, seg->pool->buf_size,
                              (unsigned short)i, b->mask, (int)i);
    io_uring_buf_ring_advance(b->br, (int)entries);
    seg->backend = b;
    b->next = u->bufrings;
    u->bufrings = b;
    return 1;
}

static void uring_buf_return(rp_worker *w, rp_bufseg *seg, uint32_t idx)
{
    RP_UNUSED(w);
    uring_bufring *b = seg->backend;
    io_uring_buf_ring_add(b->br, seg->base + (size_t)idx * seg->pool->buf_size, seg->pool->buf_size,
                          (unsigned short)idx, b->mask, 0);
    io_uring_buf_ring_advance(b->br, 1);
}

static void uring_pool_detach(rp_worker *w, rp_bufseg *seg)
{
    uring_worker *u = uring_of(w);
    uring_bufring *b = seg->backend;
    io_uring_unregister_buf_ring(&u->ring, seg->group);
    for (uring_bufring **it = &u->bufrings; *it; it = &(*it)->next)
        if (*it == b) {
            *it = b->next;
            break;
        }
    free(b->br);
    free(b);
    seg->backend = NULL;
}

const rp_backend_vtable rp__backend_io_uring = {
    .id = RP_BACKEND_IO_URING,
    .nonblocking = 0,
    .probe = uring_probe,
    .worker_init = uring_worker_init,
    .worker_fini = uring_worker_fini,
    .wake = uring_wake,
    .wait = uring_wait,
    .sock_attach = uring_attach,
    .io_start = uring_io_start,
    .io_cancel = uring_io_cancel,
    .sock_close = uring_sock_close,
    .pool_attach = uring_pool_attach,
    .buf_return = uring_buf_return,
    .pool_detach = uring_pool_detach,
};
