/* Socket options on Windows. What Winsock lacks (or ignores, like IP_TOS) is RP_ENOTSUP. */
#include "core/internal.h"
#include "win/net_win.h"

#include <mstcpip.h>

/* Values from the Windows SDK's ws2ipdef.h that MinGW's headers may lack. */
#ifndef TCP_MAXRT
#define TCP_MAXRT 5
#endif
#ifndef TCP_KEEPIDLE
#define TCP_KEEPIDLE 3 /* TCP_KEEPALIVE in the SDK: the idle time in seconds (10 1709+) */
#endif
#ifndef TCP_KEEPCNT
#define TCP_KEEPCNT 16
#endif
#ifndef TCP_KEEPINTVL
#define TCP_KEEPINTVL 17
#endif

static int last_error(void) { return rp__from_wsa(WSAGetLastError()); }

static int set_dword(rp_fd fd, int level, int name, DWORD v)
{
    return setsockopt(fd, level, name, (const char *)&v, sizeof v) == 0 ? 0 : last_error();
}

static int get_dword(rp_fd fd, int level, int name, int64_t *out)
{
    DWORD v = 0;
    int len = sizeof v;
    if (getsockopt(fd, level, name, (char *)&v, &len) != 0)
        return last_error();
    *out = len == 1 ? (int64_t)(v & 0xFF) : (int64_t)v; /* some options answer with a BOOLEAN */
    return 0;
}

int rp__net_option_set(rp_fd fd, int family, rp_sockopt opt, int64_t value)
{
    RP_UNUSED(family);
    switch (opt) {
    case RP_SO_RECV_BUFFER: return set_dword(fd, SOL_SOCKET, SO_RCVBUF, (DWORD)value);
    case RP_SO_SEND_BUFFER: return set_dword(fd, SOL_SOCKET, SO_SNDBUF, (DWORD)value);
    case RP_SO_TOS: return RP_ENOTSUP; /* Windows accepts IP_TOS and does not use it */
    case RP_SO_TCP_USER_TIMEOUT_MS:
        if (value == 0)
            return RP_ENOTSUP; /* TCP_MAXRT has no "back to the default" */
        return set_dword(fd, IPPROTO_TCP, TCP_MAXRT, (DWORD)((value + 999) / 1000));
    case RP_SO_TCP_NODELAY: return rp__net_set_nodelay(fd, (int)value);
    case RP_SO_TCP_KEEPALIVE:
    case RP_SO_TCP_FASTOPENED: break; /* get only: the core refuses them */
    }
    return RP_EINVAL;
}

int rp__net_option_get(rp_fd fd, int family, rp_sockopt opt, int64_t *value)
{
    RP_UNUSED(family);
    int err;
    switch (opt) {
    case RP_SO_RECV_BUFFER: return get_dword(fd, SOL_SOCKET, SO_RCVBUF, value);
    case RP_SO_SEND_BUFFER: return get_dword(fd, SOL_SOCKET, SO_SNDBUF, value);
    case RP_SO_TOS: return RP_ENOTSUP;
    case RP_SO_TCP_USER_TIMEOUT_MS:
        if ((err = get_dword(fd, IPPROTO_TCP, TCP_MAXRT, value)) == 0)
            *value *= 1000;
        return err;
    case RP_SO_TCP_NODELAY:
        if ((err = get_dword(fd, IPPROTO_TCP, TCP_NODELAY, value)) == 0)
            *value = *value != 0;
        return err;
    case RP_SO_TCP_KEEPALIVE:
        if ((err = get_dword(fd, SOL_SOCKET, SO_KEEPALIVE, value)) == 0)
            *value = *value != 0;
        return err;
    case RP_SO_TCP_FASTOPENED: return RP_ENOTSUP; /* Winsock does not say whether a SYN carried data */
    }
    return RP_EINVAL;
}

int rp__net_keepalive(rp_fd fd, const rp_keepalive *ka)
{
    if (!ka)
        return set_dword(fd, SOL_SOCKET, SO_KEEPALIVE, FALSE);
    int err = set_dword(fd, SOL_SOCKET, SO_KEEPALIVE, TRUE);
    if (err)
        return err;
    /* Windows 10 1709+: the three options in seconds. */
    if (set_dword(fd, IPPROTO_TCP, TCP_KEEPIDLE, ka->idle_s) == 0 &&
        set_dword(fd, IPPROTO_TCP, TCP_KEEPINTVL, ka->interval_s) == 0 &&
        set_dword(fd, IPPROTO_TCP, TCP_KEEPCNT, ka->count) == 0)
        return 0;
    /* Older: SIO_KEEPALIVE_VALS, in milliseconds, with the probe count fixed at 10. */
    if (ka->count != 10)
        return RP_ENOTSUP;
    struct tcp_keepalive vals;
    vals.onoff = 1;
    vals.keepalivetime = ka->idle_s * 1000u;
    vals.keepaliveinterval = ka->interval_s * 1000u;
    DWORD bytes = 0;
    return WSAIoctl(fd, SIO_KEEPALIVE_VALS, &vals, sizeof vals, NULL, 0, &bytes, NULL, NULL) == 0 ? 0 : last_error();
}

int rp__net_congestion_set(rp_fd fd, const char *name)
{
    RP_UNUSED(fd);
    RP_UNUSED(name);
    return RP_ENOTSUP; /* chosen system-wide (netsh), not per socket */
}

int rp__net_congestion_get(rp_fd fd, char *buf, size_t size)
{
    RP_UNUSED(fd);
    RP_UNUSED(buf);
    RP_UNUSED(size);
    return RP_ENOTSUP;
}

int rp__net_abort_on_close(rp_fd fd)
{
    struct linger abort_now;
    abort_now.l_onoff = 1;
    abort_now.l_linger = 0;
    return setsockopt(fd, SOL_SOCKET, SO_LINGER, (const char *)&abort_now, sizeof abort_now) == 0 ? 0 : last_error();
}
