/* UDP on POSIX: the bound socket and its options, and the datagram I/O that io_uring (after a poll) and
 * the epoll/kqueue reactor (on readiness) share: batched receives into the caller's datagrams or into
 * pool buffers, and batched sends. Linux and FreeBSD batch with recvmmsg/sendmmsg (one system call per
 * up to UDP_BATCH datagrams); elsewhere (macOS) the same loops run one recvmsg/sendmsg per datagram. */
#if defined(__APPLE__)
#define __APPLE_USE_RFC_3542 1 /* IPV6_RECVPKTINFO (RFC 3542) rather than RFC 2292's IPV6_PKTINFO */
#endif
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/bufpool.h"
#include "posix/udp_io.h"

#if defined(__linux__) || defined(__FreeBSD__)
#define HAVE_MMSG 1
#endif

#define UDP_BATCH 64   /* datagrams per system call */

/* ---- the socket ---- */

static int set_int(rp_fd fd, int level, int name, int value)
{
    return setsockopt(fd, level, name, &value, sizeof value) == 0 ? 0 : rp__from_errno(errno);
}

static int apply_options(rp_fd fd, int family, const rp_udp_options *o)
{
    int err = 0;
    if (o->flags & RP_UDP_REUSEADDR)
        err = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    if (!err && (o->flags & RP_UDP_REUSEPORT)) {
#if defined(SO_REUSEPORT_LB) /* FreeBSD: plain SO_REUSEPORT does not spread datagrams */
        err = set_int(fd, SOL_SOCKET, SO_REUSEPORT_LB, 1);
#elif defined(SO_REUSEPORT)
        err = set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1);
#else
        err = RP_ENOTSUP;
#endif
    }
    if (!err && family == AF_INET6)
        err = set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, (o->flags & RP_UDP_V6ONLY) ? 1 : 0);
    if (!err && (o->flags & RP_UDP_BROADCAST))
        err = set_int(fd, SOL_SOCKET, SO_BROADCAST, 1);
    if (!err && o->recv_buffer)
        err = set_int(fd, SOL_SOCKET, SO_RCVBUF, o->recv_buffer);
    if (!err && o->send_buffer)
        err = set_int(fd, SOL_SOCKET, SO_SNDBUF, o->send_buffer);
    if (!err && (o->flags & RP_UDP_PKTINFO)) {
        if (family == AF_INET6) {
#if defined(IPV6_RECVPKTINFO)
            err = set_int(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
#else
            err = RP_ENOTSUP;
#endif
        }
        /* A dual-stack socket gets IPv4 datagrams too: their destination comes as IP_PKTINFO. */
        if (!err || family == AF_INET) {
#if defined(IP_PKTINFO)
            int e4 = set_int(fd, IPPROTO_IP, IP_PKTINFO, 1);
#elif defined(IP_RECVDSTADDR)
            int e4 = set_int(fd, IPPROTO_IP, IP_RECVDSTADDR, 1);
#else
            int e4 = RP_ENOTSUP;
#endif
            if (family == AF_INET)
                err = e4;
        }
    }
    if (!err && (o->flags & RP_UDP_MULTICAST_NO_LOOP)) {
        if (family == AF_INET6)
            err = set_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0);
        if (!err) {
            unsigned char off = 0; /* IPv4's option is a byte on the BSDs; Linux takes either */
            int e4 = setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &off, sizeof off) == 0 ? 0 : rp__from_errno(errno);
            if (family == AF_INET)
                err = e4;
        }
    }
    if (!err && o->multicast_ttl >= 0) {
        if (family == AF_INET6)
            err = set_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, o->multicast_ttl);
        if (!err) {
            unsigned char ttl = (unsigned char)o->multicast_ttl;
            int e4 = setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl) == 0 ? 0 : rp__from_errno(errno);
            if (family == AF_INET)
                err = e4;
        }
    }
    return err;
}

int rp__net_udp_socket(const rp_addr *addr, const rp_udp_options *opts, int nonblocking, rp_fd *out)
{
    int family = addr->family == RP_AF_INET ? AF_INET : AF_INET6;
    int type = SOCK_DGRAM;
#if defined(SOCK_CLOEXEC) && defined(SOCK_NONBLOCK)
    type |= SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0);
#endif
    int fd = socket(family, type, IPPROTO_UDP);
    *out = RP_FD_INVALID;
    if (fd < 0)
        return rp__from_errno(errno);
#if !defined(SOCK_CLOEXEC)
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    if (nonblocking)
        rp__net_set_nonblocking(fd);
#endif
    int err = apply_options(fd, family, opts);
    struct sockaddr_storage ss;
    int len = 0;
    if (!err)
        err = rp__net_to_sockaddr(addr, &ss, &len);
    if (!err && bind(fd, (struct sockaddr *)&ss, (socklen_t)len) != 0)
        err = rp__from_errno(errno);
    if (err) {
        close(fd);
        return err;
    }
    *out = fd;
    return 0;
}

int rp__net_udp_connect(rp_fd fd, const void *sa, int len)
{
    return connect(fd, (const struct sockaddr *)sa, (socklen_t)len) == 0 ? 0 : rp__from_errno(errno);
}

int rp__net_udp_membership(rp_fd fd, int family, const rp_addr *group, const rp_addr *iface, int join)
{
    int rc;
    if (group->family == RP_AF_INET) {
        struct ip_mreq m;
        memset(&m, 0, sizeof m);
        memcpy(&m.imr_multiaddr, group->ip, 4);
        if (iface)
            memcpy(&m.imr_interface, iface->ip, 4);
        rc = setsockopt(fd, IPPROTO_IP, join ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP, &m, sizeof m);
    } else {
        struct ipv6_mreq m;
        memset(&m, 0, sizeof m);
        memcpy(&m.ipv6mr_multiaddr, group->ip, 16);
        m.ipv6mr_interface = iface ? iface->scope_id : 0;
        rc = setsockopt(fd, IPPROTO_IPV6, join ? IPV6_JOIN_GROUP : IPV6_LEAVE_GROUP, &m, sizeof m);
    }
    RP_UNUSED(family);
    return rc == 0 ? 0 : rp__from_errno(errno);
}

int rp__net_udp_drops(rp_fd fd, uint64_t *out)
{
#if defined(__linux__) && defined(SO_MEMINFO)
    uint32_t info[16]; /* SK_MEMINFO_VARS grows with kernels: ask for room */
    memset(info, 0, sizeof info);
    socklen_t len = sizeof info;
    if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, info, &len) != 0)
        return rp__from_errno(errno);
    if (len < (socklen_t)(9 * sizeof info[0]))
        return RP_ENOTSUP;
    *out = info[8]; /* SK_MEMINFO_DROPS */
    return 0;
#else
    RP_UNUSED(fd);
    RP_UNUSED(out);
    return RP_ENOTSUP;
#endif
}

/* ---- receiving ---- */

int rp__udp_local_from_cmsg(struct msghdr *msg, uint16_t port, rp_addr *out)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
        memset(out, 0, sizeof *out);
        out->port = port;
#if defined(IP_PKTINFO)
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo pi;
            memcpy(&pi, CMSG_DATA(c), sizeof pi);
            out->family = RP_AF_INET;
            memcpy(out->ip, &pi.ipi_addr, 4);
            return 0;
        }
#elif defined(IP_RECVDSTADDR)
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVDSTADDR) {
            out->family = RP_AF_INET;
            memcpy(out->ip, CMSG_DATA(c), 4);
            return 0;
        }
#endif
#if defined(IPV6_PKTINFO)
        if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo pi;
            memcpy(&pi, CMSG_DATA(c), sizeof pi);
            out->family = RP_AF_INET6;
            memcpy(out->ip, &pi.ipi6_addr, 16);
            out->scope_id = pi.ipi6_ifindex;
            rp__addr_unmap(out); /* an IPv4 datagram on a dual-stack socket */
            return 0;
        }
#endif
    }
    return -1;
}

/* One batch of receive slots: a message header, the source and the control data each. */
typedef struct recv_batch {
#if HAVE_MMSG
    struct mmsghdr m[UDP_BATCH];
#else
    struct {
        struct msghdr msg_hdr;
        unsigned msg_len;
    } m[UDP_BATCH];
#endif
    struct iovec iov[UDP_BATCH];
    struct sockaddr_storage name[UDP_BATCH];
    union {
        struct cmsghdr align;
        char bytes[RP_UDP_CTRL_SIZE];
    } ctrl[UDP_BATCH];
} recv_batch;

static void batch_slot(recv_batch *b, int i, void *buf, size_t len, int pktinfo)
{
    struct msghdr *h = &b->m[i].msg_hdr;
    memset(h, 0, sizeof *h); /* musl's msghdr has padding the kernel checks */
    b->iov[i].iov_base = buf;
    b->iov[i].iov_len = len;
    h->msg_iov = &b->iov[i];
    h->msg_iovlen = 1;
    h->msg_name = &b->name[i];
    h->msg_namelen = sizeof b->name[i];
    if (pktinfo) {
        h->msg_control = b->ctrl[i].bytes;
        h->msg_controllen = RP_UDP_CTRL_SIZE;
    }
}

/* Whether a receive error on s is an ICMP report that must not end anything: on an unconnected socket
 * the next datagram is simply read (no platform is expected to report them there, but none may end a
 * receive if one does). */
int rp__udp_error_ignorable(const rp_sock *s, int e)
{
    if (rp__atomic_load_u32(&((rp_sock *)s)->u.stream.dgram.peer_fixed))
        return 0;
    return e == ECONNREFUSED || e == ECONNRESET || e == EHOSTUNREACH || e == ENETUNREACH || e == EHOSTDOWN ||
           e == ENETDOWN;
}

/* Receives up to n (<= UDP_BATCH) datagrams into the slots of b. Returns the number (> 0), 0 if none is
 * there, or a negative RP_E* code (connected socket: ICMP errors). */
static int recv_some(rp_sock *s, recv_batch *b, int n)
{
    for (;;) {
#if HAVE_MMSG
        int got = recvmmsg(s->fd, b->m, (unsigned)n, MSG_DONTWAIT, NULL);
#else
        int got = 0;
        while (got < n) {
            ssize_t r = recvmsg(s->fd, &b->m[got].msg_hdr, MSG_DONTWAIT);
            if (r < 0)
                break;
            b->m[got++].msg_len = (unsigned)r;
        }
        if (got == 0)
            got = -1;
#endif
        if (got > 0)
            return got;
        int e = errno;
        if (e == EAGAIN || e == EWOULDBLOCK)
            return 0;
        if (e == EINTR || rp__udp_error_ignorable(s, e))
            continue;
        return rp__from_errno(e);
    }
}

/* What slot i of b received: length, flags, source and destination. */
static void slot_result(const rp_sock *s, recv_batch *b, int i, uint32_t *len, uint32_t *flags, rp_addr *peer,
                        rp_addr *local, int *has_local)
{
    struct msghdr *h = &b->m[i].msg_hdr;
    *len = b->m[i].msg_len;
    *flags = (h->msg_flags & MSG_TRUNC) ? RP_DGRAM_TRUNC : 0u;
    if (h->msg_namelen == 0 || rp__net_from_sockaddr_unmapped(&b->name[i], peer) != 0)
        memset(peer, 0, sizeof *peer);
    *has_local = (s->flags & RP_SF_PKTINFO) && rp__udp_local_from_cmsg(h, s->u.stream.dgram.local_port, local) == 0;
}

int rp__udp_io_recv(rp_worker *w, rp_sock *s)
{
    rp_op *op = rp__io_op(s, RP_DIR_RECV);
    rp_op_priv *p = RP_PRIV(op);
    recv_batch b;
    uint32_t done = 0;
    while (done < p->u.udp.count) {
        uint32_t n = p->u.udp.count - done;
        if (n > UDP_BATCH)
            n = UDP_BATCH;
        for (uint32_t i = 0; i < n; i++)
            batch_slot(&b, (int)i, p->u.udp.v[done + i].base, p->u.udp.v[done + i].len, (s->flags & RP_SF_PKTINFO) != 0);
        int got = recv_some(s, &b, (int)n);
        if (got < 0 && done == 0) {
            rp__io_finish(w, s, RP_DIR_RECV, got);
            return 1;
        }
        if (got <= 0)
            break; /* drained (or an error: reported by the next receive) */
        for (int i = 0; i < got; i++) {
            rp_dgram *d = &p->u.udp.v[done + (uint32_t)i];
            uint32_t len, flags;
            int has_local;
            slot_result(s, &b, i, &len, &flags, &d->peer, &d->local, &has_local);
            d->len = len;
            d->flags = (uint16_t)(flags | (has_local ? RP_DGRAM_LOCAL : 0u));
            d->error = 0;
        }
        done += (uint32_t)got;
        if ((uint32_t)got < n)
            break;
    }
    if (done == 0)
        return 0;
    rp__io_finish(w, s, RP_DIR_RECV, done);
    return 1;
}

int rp__udp_io_recv_pool(rp_worker *w, rp_sock *s)
{
    recv_batch b;
    int64_t idx[UDP_BATCH];
    for (;;) {
        rp_op *op = rp__io_op(s, RP_DIR_RECV);
        if (!op)
            return 1;
        rp_bufseg *seg = rp__recv_pool_seg(op);
        /* Take only buffers that are free now, so a take cannot fail (and park the receive) part-way. */
        uint32_t want = RP_PRIV(op)->u.recv_pool.multishot ? UDP_BATCH : 1;
        if (want > seg->nfree)
            want = seg->nfree ? seg->nfree : 1;
        int n = 0;
        while ((uint32_t)n < want) {
            void *buf;
            size_t len;
            int64_t i = rp__buf_take(w, s, &buf, &len);
            if (i < 0)
                break;
            idx[n] = i;
            batch_slot(&b, n, buf, len, (s->flags & RP_SF_PKTINFO) != 0);
            n++;
        }
        if (n == 0)
            return 1; /* waits for buffers or deliveries: the core restarts it */
        int got = recv_some(s, &b, n);
        for (int i = got > 0 ? got : 0; i < n; i++)
            rp__buf_untake(w, s, idx[i]);
        if (got < 0) {
            rp__io_finish(w, s, RP_DIR_RECV, got);
            return 1;
        }
        if (got == 0)
            return 0;
        for (int i = 0; i < got; i++) {
            uint32_t len, flags;
            rp_addr peer, local;
            int has_local;
            slot_result(s, &b, i, &len, &flags, &peer, &local, &has_local);
            if (rp__recv_pool_dgram(w, s, idx[i], 0, len, flags, &peer, has_local ? &local : NULL) == RP_IO_FINISHED) {
                for (int j = i + 1; j < got; j++) /* single shot: took one buffer only, so never here */
                    rp__buf_untake(w, s, idx[j]);
                return 1;
            }
        }
        if (got < n)
            return 0; /* drained */
    }
}

/* ---- sending ---- */

#if defined(__linux__) && defined(UDP_SEGMENT)
#define HAVE_GSO 1
#endif

/* What one message of a send batch carries: a datagram, a segment of one, or (GSO) all its segments. */
typedef struct send_ent {
    uint32_t idx; /* its datagram */
    uint32_t end; /* offset in the datagram after this message */
    int gso;      /* UDP_SEGMENT set on it */
} send_ent;

/* Sends v[from .. n), resuming datagram `from` at *seg_off (bytes of its segments already sent). Returns
 * the index of the first datagram not dealt with (n when all were), with *again set if the socket had no
 * room for it (then *seg_off says how far it got). */
static uint32_t send_some(rp_sock *s, rp_dgram *v, uint32_t from, uint32_t n, uint32_t *seg_off, int *again)
{
    *again = 0;
    while (from < n) {
#if HAVE_MMSG
        struct mmsghdr m[UDP_BATCH];
#else
        struct {
            struct msghdr msg_hdr;
        } m[UDP_BATCH];
#endif
        struct iovec iov[UDP_BATCH];
        struct sockaddr_storage name[UDP_BATCH];
        send_ent ent[UDP_BATCH];
#if HAVE_GSO
        union {
            struct cmsghdr align;
            char bytes[CMSG_SPACE(sizeof(uint16_t))];
        } ctrl[UDP_BATCH];
        int gso = !rp__atomic_load_u32(&s->u.stream.dgram.gso_off);
#endif
        uint32_t k = 0, idx = from, off = *seg_off;
        /* Gather messages; a datagram without a valid destination ends the batch and fails alone. */
        while (idx < n && k < UDP_BATCH) {
            rp_dgram *d = &v[idx];
            int len = 0;
            int err = rp__udp_dest(s, d, &name[k], &len);
            if (err) {
                if (k == 0) {
                    d->error = err;
                    from = ++idx;
                    off = *seg_off = 0;
                    continue;
                }
                break;
            }
            struct msghdr *h = &m[k].msg_hdr;
            memset(h, 0, sizeof *h);
            h->msg_name = len ? &name[k] : NULL;
            h->msg_namelen = (socklen_t)len;
            h->msg_iov = &iov[k];
            h->msg_iovlen = 1;
            uint32_t part = rp__udp_seg_len(d, off);
            ent[k].gso = 0;
#if HAVE_GSO
            if (gso && off == 0 && part < d->len) { /* the whole datagram, cut by the kernel */
                part = d->len;
                memset(ctrl[k].bytes, 0, sizeof ctrl[k].bytes); /* the padding after the data too */
                h->msg_control = ctrl[k].bytes;
                h->msg_controllen = sizeof ctrl[k].bytes;
                struct cmsghdr *c = CMSG_FIRSTHDR(h);
                c->cmsg_level = SOL_UDP;
                c->cmsg_type = UDP_SEGMENT;
                c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
                uint16_t size = d->segment;
                memcpy(CMSG_DATA(c), &size, sizeof size);
                ent[k].gso = 1;
            }
#endif
            iov[k].iov_base = off ? (char *)d->base + off : d->base; /* base may be NULL for 0 bytes */
            iov[k].iov_len = part;
            ent[k].idx = idx;
            ent[k].end = off + part;
            k++;
            off += part;
            if (off >= d->len) {
                idx++;
                off = 0;
            }
        }
        if (k == 0)
            continue;
#if HAVE_MMSG
        int sent = sendmmsg(s->fd, m, k, MSG_DONTWAIT);
#else
        int sent = 0;
        while ((uint32_t)sent < k && sendmsg(s->fd, &m[sent].msg_hdr, MSG_DONTWAIT) >= 0)
            sent++;
        if (sent == 0)
            sent = -1;
#endif
        if (sent > 0) {
            for (int i = 0; i < sent; i++) {
                rp_dgram *d = &v[ent[i].idx];
                if (ent[i].end >= d->len) {
                    d->error = 0;
                    from = ent[i].idx + 1;
                    *seg_off = 0;
                } else {
                    *seg_off = ent[i].end;
                }
            }
            continue; /* a message that failed returns its error in the next call */
        }
        int e = errno;
        if (e == EINTR)
            continue;
        if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS) {
            /* No room (ENOBUFS: the BSDs' full interface queue): wait for writability. */
            *again = 1;
            return from;
        }
#if HAVE_GSO
        if (ent[0].gso && (e == EIO || e == EINVAL)) {
            /* The device (or the kernel for this route) cannot segment: split here from now on. */
            rp__atomic_store_u32(&s->u.stream.dgram.gso_off, 1);
            continue;
        }
#endif
        v[from].error = rp__from_errno(e); /* this one fails; the rest still go */
        from++;
        *seg_off = 0;
    }
    return from;
}

int rp__udp_io_send(rp_worker *w, rp_sock *s)
{
    rp_op *op = rp__io_op(s, RP_DIR_SEND);
    rp_op_priv *p = RP_PRIV(op);
    int again;
    p->u.udp.next = send_some(s, p->u.udp.v, p->u.udp.next, p->u.udp.count, &p->u.udp.seg_off, &again);
    if (again && !rp__io_stopping(s, RP_DIR_SEND))
        return 0;
    rp__udp_send_done(w, s);
    return 1;
}

int rp__net_udp_send_now(rp_sock *s, rp_dgram *dgrams, uint32_t count)
{
    int again;
    uint32_t seg_off = 0;
    uint32_t tried = send_some(s, dgrams, 0, count, &seg_off, &again);
    if (again && seg_off) { /* only its first segments went: dealt with, and says so */
        dgrams[tried++].error = RP_EAGAIN;
    }
    return tried == 0 && again ? RP_EAGAIN : (int)tried;
}
