/* Socket options and abortive close: argument checks and which sockets an option applies to; the system
 * calls are per platform (posix/sockopt_posix.c, win/sockopt_win.c). */
#include <limits.h>

#include "core/internal.h"

/* What an option applies to and how its value is bounded. */
static int option_fits(const rp_sock *s, rp_sockopt opt, int64_t value, int setting)
{
    int ip = s->family != AF_UNIX;
    int tcp = ip && (s->type == RP_SOCK_STREAM || s->type == RP_SOCK_LISTENER);
    switch (opt) {
    case RP_SO_RECV_BUFFER:
    case RP_SO_SEND_BUFFER: return !setting || (value > 0 && value <= INT_MAX);
    case RP_SO_TOS: return ip && (!setting || (value >= 0 && value <= 255));
    case RP_SO_TCP_NODELAY: return tcp && s->type == RP_SOCK_STREAM && (!setting || value == 0 || value == 1);
    case RP_SO_TCP_USER_TIMEOUT_MS: return tcp && (!setting || (value >= 0 && value <= INT_MAX));
    case RP_SO_TCP_KEEPALIVE: return tcp && !setting;
    case RP_SO_TCP_FASTOPENED: return s->type == RP_SOCK_STREAM && !setting;
    }
    return 0; /* not an option */
}

/* A TCP socket (connection or listener, not Unix domain) of the loop, open and not closing. */
static int tcp_lookup(rp_loop *loop, rp_socket h, rp_sock **out)
{
    int err = rp__sock_lookup(loop, h, out);
    if (err)
        return err;
    return ((*out)->type == RP_SOCK_STREAM || (*out)->type == RP_SOCK_LISTENER) && (*out)->family != AF_UNIX ? 0
                                                                                                      : RP_EINVAL;
}

int rp_socket_set_option(rp_loop *loop, rp_socket socket, rp_sockopt opt, int64_t value)
{
    rp_sock *s;
    if (!loop)
        return RP_EINVAL;
    int err = rp__sock_lookup(loop, socket, &s);
    if (err)
        return err;
    if (!option_fits(s, opt, value, 1))
        return RP_EINVAL;
    return rp__net_option_set(s->fd, s->family, opt, value);
}

int rp_socket_get_option(rp_loop *loop, rp_socket socket, rp_sockopt opt, int64_t *value)
{
    rp_sock *s;
    if (!loop || !value)
        return RP_EINVAL;
    int err = rp__sock_lookup(loop, socket, &s);
    if (err)
        return err;
    if (!option_fits(s, opt, 0, 0))
        return RP_EINVAL;
    return rp__net_option_get(s->fd, s->family, opt, value);
}

int rp_socket_set_keepalive(rp_loop *loop, rp_socket socket, const rp_keepalive *ka)
{
    rp_sock *s;
    if (!loop)
        return RP_EINVAL;
    if (ka) {
        if (ka->idle_s < 1 || ka->idle_s > 32767 || ka->interval_s < 1 || ka->interval_s > 32767 || ka->count < 1 ||
            ka->count > 127)
            return RP_EINVAL;
        for (size_t i = 0; i < sizeof ka->reserved / sizeof ka->reserved[0]; i++)
            if (ka->reserved[i])
                return RP_EINVAL;
    }
    int err = tcp_lookup(loop, socket, &s);
    return err ? err : rp__net_keepalive(s->fd, ka);
}

#define CONGESTION_NAME_MAX 15 /* TCP_CA_NAME_MAX - 1 on Linux and FreeBSD */

int rp_socket_set_congestion(rp_loop *loop, rp_socket socket, const char *name)
{
    rp_sock *s;
    if (!loop || !name || !name[0] || strlen(name) > CONGESTION_NAME_MAX)
        return RP_EINVAL;
    int err = tcp_lookup(loop, socket, &s);
    return err ? err : rp__net_congestion_set(s->fd, name);
}

int rp_socket_get_congestion(rp_loop *loop, rp_socket socket, char *buf, size_t size)
{
    rp_sock *s;
    if (!loop || !buf)
        return RP_EINVAL;
    int err = tcp_lookup(loop, socket, &s);
    if (err)
        return err;
    char name[CONGESTION_NAME_MAX + 1];
    if ((err = rp__net_congestion_get(s->fd, name, sizeof name)) != 0)
        return err;
    size_t n = strlen(name);
    if (n + 1 > size)
        return RP_ENOBUFS;
    memcpy(buf, name, n + 1);
    return (int)n;
}
