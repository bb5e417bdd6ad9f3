/* BSD-socket helpers for the POSIX backends and errno to RP_E* mapping. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/internal.h"

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
    int fd = socket(family, type, IPPROTO_TCP);
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

int rp__net_listen(rp_fd fd, const rp_addr *addr, const rp_listen_options *opts)
{
    int on = 1;
    if (!(opts->flags & RP_LISTEN_NO_REUSEADDR) && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0)
        return rp__from_errno(errno);
    if (opts->flags & RP_LISTEN_REUSEPORT) {
#if defined(SO_REUSEPORT)
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
    if (listen(fd, opts->backlog ? opts->backlog : 511) != 0)
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
