/* UDP on Windows: the bound socket and its options (ICMP resets turned off), multicast membership, and
 * the non-blocking datagram send that rp_udp_try_send and the IOCP backend's send share. */
#include "core/internal.h"
#include "win/net_win.h"

#include <mstcpip.h>
#include <mswsock.h>

#ifndef SIO_UDP_CONNRESET
#define SIO_UDP_CONNRESET _WSAIOW(IOC_VENDOR, 12)
#endif
#ifndef SIO_UDP_NETRESET
#define SIO_UDP_NETRESET _WSAIOW(IOC_VENDOR, 15)
#endif

static int last_error(void) { return rp__from_wsa(WSAGetLastError()); }

static int set_opt(rp_fd fd, int level, int name, const void *v, int len)
{
    return setsockopt(fd, level, name, (const char *)v, len) == 0 ? 0 : last_error();
}

static int apply_options(rp_fd fd, int family, const rp_udp_options *o)
{
    DWORD on = 1, off = 0;
    int err = 0;
    if (o->flags & RP_UDP_REUSEPORT)
        return RP_ENOTSUP; /* Windows has no SO_REUSEPORT */
    if (o->flags & RP_UDP_PKTINFO) {
        if (!rp__win_recvmsg())
            return RP_ENOTSUP;
        if (family == AF_INET6)
            err = set_opt(fd, IPPROTO_IPV6, IPV6_PKTINFO, &on, sizeof on);
        int e4 = set_opt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof on); /* dual stack: IPv4 ones too */
        if (family == AF_INET)
            err = e4;
        if (err)
            return err;
    }
    if (o->flags & RP_UDP_REUSEADDR)
        err = set_opt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (!err && family == AF_INET6) {
        DWORD v6only = (o->flags & RP_UDP_V6ONLY) ? 1 : 0;
        err = set_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
    }
    if (!err && (o->flags & RP_UDP_BROADCAST))
        err = set_opt(fd, SOL_SOCKET, SO_BROADCAST, &on, sizeof on);
    if (!err && o->recv_buffer)
        err = set_opt(fd, SOL_SOCKET, SO_RCVBUF, &o->recv_buffer, sizeof o->recv_buffer);
    if (!err && o->send_buffer)
        err = set_opt(fd, SOL_SOCKET, SO_SNDBUF, &o->send_buffer, sizeof o->send_buffer);
    if (!err && (o->flags & RP_UDP_MULTICAST_NO_LOOP)) {
        if (family == AF_INET6)
            err = set_opt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &off, sizeof off);
        int e4 = set_opt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &off, sizeof off);
        if (family == AF_INET)
            err = e4;
    }
    if (!err && o->multicast_ttl >= 0) {
        DWORD ttl = (DWORD)o->multicast_ttl;
        if (family == AF_INET6)
            err = set_opt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &ttl, sizeof ttl);
        int e4 = set_opt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl);
        if (!err && family == AF_INET)
            err = e4;
    }
    return err;
}

int rp__net_udp_socket(const rp_addr *addr, const rp_udp_options *opts, int nonblocking, rp_fd *out)
{
    RP_UNUSED(nonblocking);
    int family = addr->family == RP_AF_INET ? AF_INET : AF_INET6;
    *out = RP_FD_INVALID;
    SOCKET s = WSASocketW(family, SOCK_DGRAM, IPPROTO_UDP, NULL, 0, WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
    if (s == INVALID_SOCKET)
        return last_error();
    /* Non-blocking for the plain calls (try-send, draining receives); overlapped requests ignore the mode. */
    int err = rp__net_set_nonblocking(s);
    if (!err) {
        /* Without this, an ICMP port unreachable for any datagram this socket sent makes the next receive
         * fail with WSAECONNRESET (and TTL expiry with WSAENETRESET), which would end the receive of a
         * server for one vanished client. Best effort: the receive path ignores those errors on an
         * unconnected socket anyway. */
        BOOL off = FALSE;
        DWORD bytes = 0;
        WSAIoctl(s, SIO_UDP_CONNRESET, &off, sizeof off, NULL, 0, &bytes, NULL, NULL);
        WSAIoctl(s, SIO_UDP_NETRESET, &off, sizeof off, NULL, 0, &bytes, NULL, NULL);
        err = apply_options(s, family, opts);
    }
    struct sockaddr_storage ss;
    int len = 0;
    if (!err)
        err = rp__net_to_sockaddr(addr, &ss, &len);
    if (!err && bind(s, (struct sockaddr *)&ss, len) != 0)
        err = last_error();
    if (err) {
        closesocket(s);
        return err;
    }
    *out = s;
    return 0;
}

static rp_atomic_ptr recvmsg_fn;
static rp_atomic_u32 recvmsg_probed;

rp_wsarecvmsg_fn rp__win_recvmsg(void)
{
    if (!rp__atomic_load_u32(&recvmsg_probed)) {
        GUID guid = WSAID_WSARECVMSG;
        rp_wsarecvmsg_fn fn = NULL;
        DWORD bytes = 0;
        SOCKET s = WSASocketW(AF_INET, SOCK_DGRAM, IPPROTO_UDP, NULL, 0, WSA_FLAG_OVERLAPPED);
        if (s != INVALID_SOCKET) {
            if (WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &guid, sizeof guid, &fn, sizeof fn, &bytes, NULL, NULL) != 0)
                fn = NULL;
            closesocket(s);
        }
        rp__atomic_store_ptr(&recvmsg_fn, (void *)fn); /* the same value from every thread that races here */
        rp__atomic_store_u32(&recvmsg_probed, 1);
    }
    return (rp_wsarecvmsg_fn)rp__atomic_load_ptr(&recvmsg_fn);
}

int rp__udp_local_from_wsamsg(const WSAMSG *msg, uint16_t port, rp_addr *out)
{
    for (WSACMSGHDR *c = WSA_CMSG_FIRSTHDR(msg); c; c = WSA_CMSG_NXTHDR(msg, c)) {
        memset(out, 0, sizeof *out);
        out->port = port;
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            IN_PKTINFO pi;
            memcpy(&pi, WSA_CMSG_DATA(c), sizeof pi);
            out->family = RP_AF_INET;
            memcpy(out->ip, &pi.ipi_addr, 4);
            return 0;
        }
        if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
            IN6_PKTINFO pi;
            memcpy(&pi, WSA_CMSG_DATA(c), sizeof pi);
            out->family = RP_AF_INET6;
            memcpy(out->ip, &pi.ipi6_addr, 16);
            out->scope_id = pi.ipi6_ifindex;
            rp__addr_unmap(out); /* an IPv4 datagram on a dual-stack socket */
            return 0;
        }
    }
    return -1;
}

int rp__net_udp_connect(rp_fd fd, const void *sa, int len)
{
    return connect(fd, (const struct sockaddr *)sa, len) == 0 ? 0 : last_error();
}

int rp__net_udp_membership(rp_fd fd, int family, const rp_addr *group, const rp_addr *iface, int join)
{
    RP_UNUSED(family);
    if (group->family == RP_AF_INET) {
        struct ip_mreq m;
        memset(&m, 0, sizeof m);
        memcpy(&m.imr_multiaddr, group->ip, 4);
        if (iface)
            memcpy(&m.imr_interface, iface->ip, 4);
        return set_opt(fd, IPPROTO_IP, join ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP, &m, sizeof m);
    }
    struct ipv6_mreq m;
    memset(&m, 0, sizeof m);
    memcpy(&m.ipv6mr_multiaddr, group->ip, 16);
    m.ipv6mr_interface = iface ? iface->scope_id : 0;
    return set_opt(fd, IPPROTO_IPV6, join ? IPV6_ADD_MEMBERSHIP : IPV6_DROP_MEMBERSHIP, &m, sizeof m);
}

int rp__net_udp_drops(rp_fd fd, uint64_t *out)
{
    RP_UNUSED(fd);
    RP_UNUSED(out);
    return RP_ENOTSUP; /* Winsock keeps no per-socket drop count */
}

int rp__udp_send_part_now(rp_sock *s, const rp_dgram *d, uint32_t off, uint32_t len)
{
    struct sockaddr_storage to;
    int tolen = 0;
    int err = rp__udp_dest(s, d, &to, &tolen);
    if (err)
        return err;
    WSABUF b;
    b.buf = off ? (char *)d->base + off : (char *)d->base; /* base may be NULL for 0 bytes */
    b.len = len;
    DWORD sent = 0;
    if (WSASendTo(s->fd, &b, 1, &sent, 0, tolen ? (struct sockaddr *)&to : NULL, tolen, NULL, NULL) == 0)
        return 0;
    int e = WSAGetLastError();
    if (e == WSAEWOULDBLOCK)
        return RP_EAGAIN;
    return e == WSAECONNRESET ? RP_ECONNREFUSED : rp__from_wsa(e);
}

int rp__net_udp_send_now(rp_sock *s, rp_dgram *dgrams, uint32_t count)
{
    uint32_t i = 0;
    for (; i < count; i++) {
        /* Segments are split here: Windows' USO (UDP_SEND_MSG_SIZE) needs WSASendMsg, not used yet. */
        rp_dgram *d = &dgrams[i];
        uint32_t off = 0;
        int err;
        do {
            uint32_t part = rp__udp_seg_len(d, off);
            err = rp__udp_send_part_now(s, d, off, part);
            off += part;
        } while (err == 0 && off < d->len);
        if (err == RP_EAGAIN && off == rp__udp_seg_len(d, 0)) /* not even the first segment went */
            break;
        d->error = err; /* RP_EAGAIN: only its first segments went */
    }
    return i == 0 && count > 0 ? RP_EAGAIN : (int)i;
}
