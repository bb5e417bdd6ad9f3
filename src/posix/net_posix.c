/* BSD-socket helpers for the POSIX backends, errno to RP_E* mapping, and the gather list of a send. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <limits.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/internal.h"
#include "posix/xfer_io.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

int rp__from_errno(int e)
{
    switch (e) {
    case 0: return 0;
    case EINVAL: return RP_EINVAL;
    case ENOMEM: return RP_ENOMEM;
    case EBADF: return RP_EBADF;
    case EBUSY: return RP_EBUSY;
    case ENOENT: return RP_ENOENT;
    case ECANCELED: return RP_ECANCELED;
    case ECONNREFUSED: return RP_ECONNREFUSED;
    case ECONNRESET: return RP_ECONNRESET;
    case ECONNABORTED: return RP_ECONNABORTED;
    case EPIPE: return RP_EPIPE;
    case ETIMEDOUT: return RP_ETIMEDOUT;
    case EADDRINUSE: return RP_EADDRINUSE;
    case EADDRNOTAVAIL: return RP_EADDRNOTAVAIL;
    case ENETUNREACH: return RP_ENETUNREACH;
    case EHOSTUNREACH: return RP_EHOSTUNREACH;
    case EMFILE: return RP_EMFILE;
    case ENFILE: return RP_ENFILE;
    case ENOBUFS: return RP_ENOBUFS;
    case EAFNOSUPPORT: return RP_EAFNOSUPPORT;
    case EACCES: return RP_EACCES;
    case EOPNOTSUPP: return RP_ENOTSUP;
    case ENOPROTOOPT: return RP_ENOTSUP; /* an option this kernel does not know */
    case ENOSYS: return RP_ENOSYS;
    case ESHUTDOWN: return RP_ESHUTDOWN;
    case ENOTCONN: return RP_ENOTCONN;
    case EALREADY: return RP_EALREADY;
    case EPERM: return RP_EPERM;
    case ENETDOWN: return RP_ENETDOWN;
    case EMSGSIZE: return RP_EMSGSIZE;
    case ENETRESET: return RP_ECONNRESET;
    case EHOSTDOWN: return RP_EHOSTUNREACH;
    default: return RP_EIO;
    }
}

int rp__net_startup(void) { return 0; }
void rp__net_cleanup(void) {}

int rp__net_set_nonblocking(rp_fd fd)
{
    int on = 1;
    return ioctl(fd, FIONBIO, &on) == 0 ? 0 : rp__from_errno(errno);
}

int rp__net_socket(int family, int nonblocking, rp_fd *out)
{
    int type = SOCK_STREAM;
#if defined(SOCK_CLOEXEC) && defined(SOCK_NONBLOCK)
    type |= SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0);
#endif
    int fd = socket(family, type, family == AF_UNIX ? 0 : IPPROTO_TCP);
    if (fd < 0) {
        *out = RP_FD_INVALID;
        return rp__from_errno(errno);
    }
#if !defined(SOCK_CLOEXEC)
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    if (nonblocking)
        rp__net_set_nonblocking(fd);
#endif
#if defined(SO_NOSIGPIPE)
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &on, sizeof on);
#endif
    *out = fd;
    return 0;
}

int rp__net_prepare_accepted(rp_fd fd)
{
    /* Where accept4 is missing: what SOCK_NONBLOCK | SOCK_CLOEXEC and MSG_NOSIGNAL give elsewhere. */
    fcntl(fd, F_SETFD, FD_CLOEXEC);
#if defined(SO_NOSIGPIPE)
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &on, sizeof on);
#endif
    return rp__net_set_nonblocking(fd);
}

int rp__net_close(rp_fd fd)
{
    return close(fd) == 0 ? 0 : rp__from_errno(errno);
}

/* TCP Fast Open on a listener (rp_listen_options.fastopen_queue > 0), before listen(). */
static int listen_fastopen(rp_fd fd, int queue)
{
#if defined(TCP_FASTOPEN)
#if defined(__linux__)
    int v = queue; /* connections with data in their SYN whose handshake is not complete yet */
#else
    int v = 1; /* macOS, FreeBSD: on or off, the queue is the system's */
    RP_UNUSED(queue);
#endif
    if (setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN, &v, sizeof v) == 0)
        return 0;
    /* EPERM: FreeBSD with net.inet.tcp.fastopen.server_enable off; ENOTSUP (macOS, where it differs from
     * EOPNOTSUPP): server Fast Open turned off; ENOPROTOOPT: a kernel without it. */
    int e = errno;
#if defined(ENOTSUP)
    if (e == ENOTSUP)
        return RP_ENOTSUP;
#endif
    return e == EPERM || e == EOPNOTSUPP || e == ENOPROTOOPT ? RP_ENOTSUP : rp__from_errno(e);
#else
    RP_UNUSED(fd);
    RP_UNUSED(queue);
    return RP_ENOTSUP;
#endif
}

int rp__net_listen(rp_fd fd, const rp_addr *addr, const rp_listen_options *opts)
{
    int on = 1;
    if (!(opts->flags & RP_LISTEN_NO_REUSEADDR) && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0)
        return rp__from_errno(errno);
    if (opts->flags & RP_LISTEN_REUSEPORT) {
#if defined(SO_REUSEPORT_LB) /* FreeBSD: plain SO_REUSEPORT does not spread connections */
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT_LB, &on, sizeof on) != 0)
            return rp__from_errno(errno);
#elif defined(SO_REUSEPORT)
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0)
            return rp__from_errno(errno);
#else
        return RP_ENOTSUP;
#endif
    }
    if (addr->family == RP_AF_INET6) {
        int v6only = (opts->flags & RP_LISTEN_V6ONLY) ? 1 : 0;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
    }
    struct sockaddr_storage ss;
    int len = 0;
    rp__net_to_sockaddr(addr, &ss, &len);
    if (bind(fd, (struct sockaddr *)&ss, (socklen_t)len) != 0)
        return rp__from_errno(errno);
    if (opts->fastopen_queue > 0) {
        int err = listen_fastopen(fd, opts->fastopen_queue);
        if (err)
            return err;
    }
    if (listen(fd, opts->backlog ? opts->backlog : RP_LISTEN_BACKLOG_DEFAULT) != 0)
        return rp__from_errno(errno);
    return 0;
}

int rp__net_set_nodelay(rp_fd fd, int on)
{
    on = on ? 1 : 0;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) == 0 ? 0 : rp__from_errno(errno);
}

int rp__net_local_addr(rp_fd fd, rp_addr *out)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return rp__from_errno(errno);
    return rp__net_from_sockaddr(&ss, out);
}

int rp__net_peer_addr(rp_fd fd, rp_addr *out)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
        return rp__from_errno(errno);
    return rp__net_from_sockaddr(&ss, out);
}

int rp__net_shutdown_write(rp_fd fd)
{
    return shutdown(fd, SHUT_WR) == 0 ? 0 : rp__from_errno(errno);
}

/* ---- the gather list of a send in progress (used by io_uring and the reactor) ---- */
RP_STATIC_ASSERT(sizeof(rp_buf) == sizeof(struct iovec) && offsetof(rp_buf, base) == offsetof(struct iovec, iov_base) &&
                     offsetof(rp_buf, len) == offsetof(struct iovec, iov_len),
                 "rp_buf has the layout of struct iovec, so a caller's array is passed to the kernel as it is");

size_t rp__send_iov(rp_sock *s, rp_op *op, struct iovec *scratch, size_t cap)
{
    rp_stream_io *io = &s->u.stream.io;
    rp_op_priv *p = RP_PRIV(op);
    struct msghdr *msg = &io->msg;
    memset(msg, 0, sizeof *msg);
    rp_op *next = p->next;
    if (scratch && cap > 1 && op->kind == RP_OP_SEND && next && next->kind == RP_OP_SEND && !RP_PRIV(next)->cancelled) {
        /* Sends queued behind this one go in the same request: their buffers, in order, after its rest. */
        size_t n = 0;
        uint32_t ops = 0;
        for (rp_op *it = op; it && it->kind == RP_OP_SEND && !RP_PRIV(it)->cancelled && n < cap;
             it = RP_PRIV(it)->next) {
            rp_op_priv *q = RP_PRIV(it);
            for (size_t i = q->u.send.idx; i < q->u.send.count && n < cap; i++) {
                size_t off = i == q->u.send.idx ? q->u.send.off : 0;
                if (q->u.send.bufs[i].len == off)
                    continue;
                scratch[n].iov_base = (char *)q->u.send.bufs[i].base + off;
                scratch[n].iov_len = q->u.send.bufs[i].len - off;
                n++;
            }
            ops++;
        }
        msg->msg_iov = scratch;
        msg->msg_iovlen = n;
        s->send_batch = ops;
        return n;
    }
    s->send_batch = 1;
    if (op->kind == RP_OP_SEND_SOCKET)
        rp__xfer_attach_control(op, msg); /* never coalesced: its descriptor belongs to its first byte */
    size_t left = p->u.send.count - p->u.send.idx;
    if (p->u.send.off == 0) {
        msg->msg_iov = (struct iovec *)(void *)&p->u.send.bufs[p->u.send.idx];
        msg->msg_iovlen = left < IOV_MAX ? left : IOV_MAX;
    } else {
        /* Resuming mid-buffer (after a partial send, which is rare): the rest of that buffer alone keeps
         * the per-socket state small; the following buffers go in the next request. */
        const rp_buf *b = &p->u.send.bufs[p->u.send.idx];
        io->rest.iov_base = (char *)b->base + p->u.send.off;
        io->rest.iov_len = b->len - p->u.send.off;
        msg->msg_iov = &io->rest;
        msg->msg_iovlen = 1;
    }
    return (size_t)msg->msg_iovlen;
}

/* ---- TCP Fast Open connects (rp_connect_options.early_data; used by io_uring and the reactor) ---- */
#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* SO_NOSIGPIPE is set on the socket instead */
#endif

void rp__connect_early_prepare(rp_fd fd)
{
#if defined(TCP_FASTOPEN_CONNECT)
    /* Linux 4.11+: connect() returns at once without a SYN when a cookie for the server is cached, and
     * the first send carries the data in the SYN; without a cookie the handshake asks for one. Refused
     * (an older kernel, EOPNOTSUPP with the client bit of net.ipv4.tcp_fastopen cleared): the connect
     * is a plain one and the data goes after the handshake. */
    int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &on, sizeof on);
#else
    RP_UNUSED(fd);
#endif
}

int rp__connect_early_start(rp_sock *s, rp_op *op, int len)
{
    rp_op_priv *p = RP_PRIV(op);
    const struct sockaddr *sa = (const struct sockaddr *)(const void *)&s->u.stream.connect_addr;
    int rc;
#if defined(__APPLE__) && defined(CONNECT_DATA_IDEMPOTENT)
    /* macOS: the connect and the first bytes in one call, in the SYN where the system has a cookie. */
    sa_endpoints_t ep;
    memset(&ep, 0, sizeof ep);
    ep.sae_dstaddr = sa;
    ep.sae_dstaddrlen = (socklen_t)len;
    struct iovec iov;
    iov.iov_base = (void *)(uintptr_t)p->u.connect.early;
    iov.iov_len = p->u.connect.early_len;
    size_t queued = 0;
    rc = connectx(s->fd, &ep, SAE_ASSOCID_ANY, CONNECT_DATA_IDEMPOTENT, &iov, 1, &queued, NULL);
    int e = errno;
    if (rc == 0 || e == EINPROGRESS)
        p->u.connect.early_sent = (uint32_t)(queued < p->u.connect.early_len ? queued : p->u.connect.early_len);
    errno = e;
#elif defined(__FreeBSD__) && defined(TCP_FASTOPEN)
    /* FreeBSD: sendto on the unconnected socket connects it, the data in the SYN with a cookie. Refused
     * (net.inet.tcp.fastopen.client_enable off): the same call makes a plain connect. */
    int on = 1;
    setsockopt(s->fd, IPPROTO_TCP, TCP_FASTOPEN, &on, sizeof on);
    ssize_t n;
    do {
        n = sendto(s->fd, p->u.connect.early, p->u.connect.early_len, MSG_NOSIGNAL, sa, (socklen_t)len);
    } while (n < 0 && errno == EINTR);
    if (n > 0)
        p->u.connect.early_sent = (uint32_t)n;
    rc = n < 0 ? -1 : 0;
#else
    RP_UNUSED(p);
    rp__connect_early_prepare(s->fd);
    do {
        rc = connect(s->fd, sa, (socklen_t)len);
    } while (rc != 0 && errno == EINTR);
#endif
    if (rc == 0 || errno == EINPROGRESS || errno == EWOULDBLOCK || errno == EAGAIN)
        return 0;
    return rp__from_errno(errno);
}

int rp__connect_early_step(rp_sock *s, rp_op *op)
{
    rp_op_priv *p = RP_PRIV(op);
    while (p->u.connect.early_sent < p->u.connect.early_len) {
        ssize_t n = send(s->fd, p->u.connect.early + p->u.connect.early_sent,
                         p->u.connect.early_len - p->u.connect.early_sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            p->u.connect.early_sent += (uint32_t)n;
            continue;
        }
        int e = n < 0 ? errno : EIO;
        if (e == EINTR)
            continue;
        /* Still connecting: Linux says EAGAIN (EINPROGRESS when a deferred SYN found no room for data),
         * the BSDs ENOTCONN. */
        if (e == EAGAIN || e == EWOULDBLOCK || e == EINPROGRESS || e == EALREADY ||
            (e == ENOTCONN && !p->u.connect.established))
            return RP_EARLY_WAIT;
        return rp__from_errno(e);
    }
    if (!p->u.connect.established) {
        /* Every byte is with the kernel, maybe all in a SYN that is still unanswered: getpeername fails
         * with ENOTCONN until the handshake is complete (Linux: in SYN_SENT; the BSDs likewise). */
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        if (getpeername(s->fd, (struct sockaddr *)&ss, &sl) != 0)
            return errno == ENOTCONN ? RP_EARLY_WAIT : rp__from_errno(errno);
        p->u.connect.established = 1;
    }
    return 0;
}

int rp__net_so_error(rp_fd fd)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    return err;
}
