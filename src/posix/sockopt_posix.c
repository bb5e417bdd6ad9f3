/* Socket options on POSIX (Linux, macOS, the BSDs). What a platform lacks is RP_ENOTSUP. */
#if defined(__APPLE__)
#define __APPLE_USE_RFC_3542 1 /* IPV6_TCLASS */
#endif
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "core/internal.h"

static int set_int(rp_fd fd, int level, int name, int value)
{
    return setsockopt(fd, level, name, &value, sizeof value) == 0 ? 0 : rp__from_errno(errno);
}

static int get_int(rp_fd fd, int level, int name, int64_t *out)
{
    int v = 0;
    socklen_t len = sizeof v;
    if (getsockopt(fd, level, name, &v, &len) != 0)
        return rp__from_errno(errno);
    *out = v;
    return 0;
}

int rp__net_option_set(rp_fd fd, int family, rp_sockopt opt, int64_t value)
{
    switch (opt) {
    case RP_SO_RECV_BUFFER: return set_int(fd, SOL_SOCKET, SO_RCVBUF, (int)value);
    case RP_SO_SEND_BUFFER: return set_int(fd, SOL_SOCKET, SO_SNDBUF, (int)value);
    case RP_SO_TOS:
        if (family == AF_INET6) {
#if defined(IPV6_TCLASS)
            int err = set_int(fd, IPPROTO_IPV6, IPV6_TCLASS, (int)value);
            if (!err)
                set_int(fd, IPPROTO_IP, IP_TOS, (int)value); /* IPv4 traffic of a dual-stack socket */
            return err;
#else
            return RP_ENOTSUP;
#endif
        }
        return set_int(fd, IPPROTO_IP, IP_TOS, (int)value);
    case RP_SO_TCP_USER_TIMEOUT_MS:
#if defined(TCP_USER_TIMEOUT)
        return set_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, (int)value);
#else
        return RP_ENOTSUP;
#endif
    case RP_SO_TCP_NODELAY: return rp__net_set_nodelay(fd, (int)value);
    case RP_SO_TCP_KEEPALIVE:
    case RP_SO_TCP_FASTOPENED: break; /* get only: the core refuses them */
    }
    return RP_EINVAL;
}

int rp__net_option_get(rp_fd fd, int family, rp_sockopt opt, int64_t *value)
{
    switch (opt) {
    case RP_SO_RECV_BUFFER: return get_int(fd, SOL_SOCKET, SO_RCVBUF, value);
    case RP_SO_SEND_BUFFER: return get_int(fd, SOL_SOCKET, SO_SNDBUF, value);
    case RP_SO_TOS:
        if (family != AF_INET6)
            return get_int(fd, IPPROTO_IP, IP_TOS, value);
#if defined(IPV6_TCLASS)
        return get_int(fd, IPPROTO_IPV6, IPV6_TCLASS, value);
#else
        return RP_ENOTSUP;
#endif
    case RP_SO_TCP_USER_TIMEOUT_MS:
#if defined(TCP_USER_TIMEOUT)
        return get_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, value);
#else
        return RP_ENOTSUP;
#endif
    case RP_SO_TCP_NODELAY: {
        int err = get_int(fd, IPPROTO_TCP, TCP_NODELAY, value);
        if (!err)
            *value = *value != 0;
        return err;
    }
    case RP_SO_TCP_KEEPALIVE: {
        int err = get_int(fd, SOL_SOCKET, SO_KEEPALIVE, value);
        if (!err)
            *value = *value != 0;
        return err;
    }
    case RP_SO_TCP_FASTOPENED: {
#if defined(__linux__) && defined(TCP_INFO) && defined(TCPI_OPT_SYN_DATA)
        struct tcp_info info;
        socklen_t len = sizeof info;
        memset(&info, 0, sizeof info);
        if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0)
            return rp__from_errno(errno);
        *value = (info.tcpi_options & TCPI_OPT_SYN_DATA) != 0;
        return 0;
#else
        return RP_ENOTSUP;
#endif
    }
    }
    return RP_EINVAL;
}

int rp__net_keepalive(rp_fd fd, const rp_keepalive *ka)
{
    if (!ka)
        return set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 0);
#if defined(TCP_KEEPIDLE)
    int err = set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, (int)ka->idle_s);
#elif defined(TCP_KEEPALIVE) /* macOS: the idle time has this name */
    int err = set_int(fd, IPPROTO_TCP, TCP_KEEPALIVE, (int)ka->idle_s);
#else
    int err = RP_ENOTSUP;
#endif
#if defined(TCP_KEEPINTVL) && defined(TCP_KEEPCNT)
    if (!err)
        err = set_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, (int)ka->interval_s);
    if (!err)
        err = set_int(fd, IPPROTO_TCP, TCP_KEEPCNT, (int)ka->count);
#else
    if (!err)
        err = RP_ENOTSUP;
#endif
    if (!err)
        err = set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
    return err;
}

int rp__net_congestion_set(rp_fd fd, const char *name)
{
#if defined(TCP_CONGESTION)
    if (setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, (socklen_t)strlen(name)) == 0)
        return 0;
    return errno == ENOENT ? RP_ENOTSUP : rp__from_errno(errno); /* ENOENT: no such algorithm here */
#else
    RP_UNUSED(fd);
    RP_UNUSED(name);
    return RP_ENOTSUP;
#endif
}

int rp__net_congestion_get(rp_fd fd, char *buf, size_t size)
{
#if defined(TCP_CONGESTION)
    socklen_t len = (socklen_t)(size - 1);
    memset(buf, 0, size);
    return getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, buf, &len) == 0 ? 0 : rp__from_errno(errno);
#else
    RP_UNUSED(fd);
    RP_UNUSED(buf);
    RP_UNUSED(size);
    return RP_ENOTSUP;
#endif
}

int rp__net_abort_on_close(rp_fd fd)
{
    struct linger abort_now = {1, 0};
    return setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_now, sizeof abort_now) == 0 ? 0 : rp__from_errno(errno);
}
