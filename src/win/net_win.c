/* Winsock helpers for the IOCP backend: sockets, addresses, and Windows/WSA error codes mapped to RP_E*. */
#include <errno.h>
#include <stdlib.h>
#include <mswsock.h>

#include "core/internal.h"
#include "win/net_win.h"

int rp__from_wsa(int e)
{
    switch (e) {
    case 0: return 0;
    case WSAEINVAL:
    case WSAEFAULT:
    case WSAEISCONN:
    case ERROR_INVALID_PARAMETER: return RP_EINVAL;
    case WSA_NOT_ENOUGH_MEMORY: /* == ERROR_NOT_ENOUGH_MEMORY */
    case ERROR_OUTOFMEMORY: return RP_ENOMEM;
    case WSAENOTSOCK:
    case WSAEBADF:
    case ERROR_INVALID_HANDLE: return RP_EBADF;
    case WSA_OPERATION_ABORTED:
    case WSAEINTR:
    case ERROR_REQUEST_ABORTED: return RP_ECANCELED;
    case WSAECONNREFUSED:
    case ERROR_CONNECTION_REFUSED:
    case ERROR_PORT_UNREACHABLE: return RP_ECONNREFUSED;
    case WSAECONNRESET:
    case WSAENETRESET:
    case ERROR_NETNAME_DELETED: return RP_ECONNRESET;
    case WSAECONNABORTED:
    case ERROR_CONNECTION_ABORTED: return RP_ECONNABORTED;
    case WSAESHUTDOWN: return RP_EPIPE; /* what a send after shutdown gives on POSIX */
    case WSAETIMEDOUT:
    case ERROR_SEM_TIMEOUT: return RP_ETIMEDOUT;
    case WSAEADDRINUSE: return RP_EADDRINUSE;
    case WSAEADDRNOTAVAIL: return RP_EADDRNOTAVAIL;
    case WSAENETUNREACH:
    case ERROR_NETWORK_UNREACHABLE: return RP_ENETUNREACH;
    case WSAEHOSTUNREACH:
    case WSAEHOSTDOWN:
    case ERROR_HOST_UNREACHABLE: return RP_EHOSTUNREACH;
    case WSAEMFILE: return RP_EMFILE;
    case WSAENOBUFS: return RP_ENOBUFS;
    case WSAEAFNOSUPPORT:
    case WSAEPFNOSUPPORT:
    case WSAEPROTONOSUPPORT:
    case WSAESOCKTNOSUPPORT: return RP_EAFNOSUPPORT;
    case WSAEACCES:
    case ERROR_ACCESS_DENIED: return RP_EACCES;
    case WSAEOPNOTSUPP:
    case WSAENOPROTOOPT: /* an option this Windows (or Wine) does not know */
    case ERROR_NOT_SUPPORTED: return RP_ENOTSUP;
    case WSAENOTCONN: return RP_ENOTCONN;
    case WSAEALREADY: return RP_EALREADY;
    case WSAENETDOWN: return RP_ENETDOWN;
    case WSAEMSGSIZE: return RP_EMSGSIZE;
    default: return RP_EIO;
    }
}

int rp__from_errno(int e)
{
    switch (e) {
    case 0: return 0;
    case EINVAL: return RP_EINVAL;
    case ENOMEM: return RP_ENOMEM;
    case EBADF: return RP_EBADF;
    case EBUSY: return RP_EBUSY;
    case ENOENT: return RP_ENOENT;
    case EMFILE: return RP_EMFILE;
    case ENFILE: return RP_ENFILE;
    case EACCES: return RP_EACCES;
    case ENOSYS: return RP_ENOSYS;
    case EPERM: return RP_EPERM;
    default: return RP_EIO;
    }
}

static int last_error(void) { return rp__from_wsa(WSAGetLastError()); }

/* ---- Winsock start-up: reference counted, one WSAStartup per live loop ---- */
int rp__net_startup(void)
{
    WSADATA data;
    int rc = WSAStartup(MAKEWORD(2, 2), &data);
    if (rc != 0)
        return rp__from_wsa(rc);
    if (LOBYTE(data.wVersion) != 2 || HIBYTE(data.wVersion) != 2) {
        WSACleanup();
        return RP_ENOSYS;
    }
    return 0;
}

void rp__net_cleanup(void) { WSACleanup(); }

int rp__net_set_nonblocking(rp_fd fd)
{
    u_long on = 1;
    return ioctlsocket(fd, FIONBIO, &on) == 0 ? 0 : last_error();
}

int rp__net_socket(int family, int nonblocking, rp_fd *out)
{
    RP_UNUSED(nonblocking);
    SOCKET s = WSASocketW(family, SOCK_STREAM, family == AF_UNIX ? 0 : IPPROTO_TCP, NULL, 0,
                          WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
    if (s == INVALID_SOCKET) {
        *out = RP_FD_INVALID;
        return last_error();
    }
    /* Always non-blocking: the idle-receive mode reads with plain, non-overlapped calls after a zero-byte
     * receive completes. Overlapped requests are unaffected by the mode. */
    int err = rp__net_set_nonblocking(s);
    if (err) {
        closesocket(s);
        *out = RP_FD_INVALID;
        return err;
    }
    *out = s;
    return 0;
}

int rp__net_prepare_accepted(rp_fd fd) { return rp__net_set_nonblocking(fd); }

int rp__net_close(rp_fd fd) { return closesocket(fd) == 0 ? 0 : last_error(); }

/* TCP_FASTOPEN (Windows 10 1607+; ws2ipdef.h), which older MinGW headers lack. */
#ifndef TCP_FASTOPEN
#define TCP_FASTOPEN 15
#endif

void rp__net_fastopen_client(rp_fd fd)
{
    /* Refused (an older Windows; Wine): ConnectEx still sends its buffer, after a plain handshake. */
    DWORD on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN, (const char *)&on, sizeof on);
}

int rp__net_listen(rp_fd fd, const rp_addr *addr, const rp_listen_options *opts)
{
    /* Windows' SO_REUSEADDR lets another socket bind the very same address and steal connections; what
     * the POSIX option gives (rebinding while old connections linger in TIME_WAIT) is Windows' default.
     * So the default is SO_EXCLUSIVEADDRUSE, and RP_LISTEN_NO_REUSEADDR changes nothing here. */
    BOOL on = TRUE;
    if (opts->flags & RP_LISTEN_REUSEPORT)
        return RP_ENOTSUP;
    if (setsockopt(fd, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (const char *)&on, sizeof on) != 0)
        return last_error();
    if (addr->family == RP_AF_INET6) {
        DWORD v6only = (opts->flags & RP_LISTEN_V6ONLY) ? 1 : 0;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, (const char *)&v6only, sizeof v6only);
    }
    struct sockaddr_storage ss;
    int len = 0;
    rp__net_to_sockaddr(addr, &ss, &len);
    if (bind(fd, (struct sockaddr *)&ss, len) != 0)
        return last_error();
    if (opts->fastopen_queue > 0) {
        /* On or off on Windows: the queue is the system's. An option this Windows (or Wine) does not
         * know is refused with WSAENOPROTOOPT or WSAEINVAL. */
        DWORD on = 1;
        if (setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN, (const char *)&on, sizeof on) != 0) {
            int e = WSAGetLastError();
            return e == WSAEINVAL || e == WSAENOPROTOOPT || e == WSAEOPNOTSUPP ? RP_ENOTSUP : rp__from_wsa(e);
        }
    }
    if (listen(fd, opts->backlog ? opts->backlog : RP_LISTEN_BACKLOG_DEFAULT) != 0)
        return last_error();
    return 0;
}

int rp__net_bind_any(rp_fd fd, int family)
{
    struct sockaddr_storage ss;
    int len;
    memset(&ss, 0, sizeof ss);
    if (family == AF_INET6) {
        ((struct sockaddr_in6 *)(void *)&ss)->sin6_family = AF_INET6;
        len = (int)sizeof(struct sockaddr_in6);
    } else {
        ((struct sockaddr_in *)(void *)&ss)->sin_family = AF_INET;
        len = (int)sizeof(struct sockaddr_in);
    }
    return bind(fd, (struct sockaddr *)&ss, len) == 0 ? 0 : last_error();
}

int rp__net_set_nodelay(rp_fd fd, int on)
{
    BOOL v = on ? TRUE : FALSE;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, (const char *)&v, sizeof v) == 0 ? 0 : last_error();
}

int rp__net_local_addr(rp_fd fd, rp_addr *out)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return last_error();
    return rp__net_from_sockaddr(&ss, out);
}

int rp__net_peer_addr(rp_fd fd, rp_addr *out)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
        return last_error();
    return rp__net_from_sockaddr(&ss, out);
}

int rp__net_shutdown_write(rp_fd fd)
{
    return shutdown(fd, SD_SEND) == 0 ? 0 : last_error();
}

int rp__net_ifs_handles_only(void)
{
    /* FILE_SKIP_COMPLETION_PORT_ON_SUCCESS is only safe when no layered provider hands out non-IFS
     * handles (whose completions would not follow the rule). Check every TCP provider. */
    int protocols[] = {IPPROTO_TCP, 0};
    DWORD size = 0;
    if (WSAEnumProtocolsW(protocols, NULL, &size) != SOCKET_ERROR || WSAGetLastError() != WSAENOBUFS)
        return 0;
    WSAPROTOCOL_INFOW *info = malloc(size);
    if (!info)
        return 0;
    int n = WSAEnumProtocolsW(protocols, info, &size);
    int ok = n > 0;
    for (int i = 0; i < n; i++)
        if (!(info[i].dwServiceFlags1 & XP1_IFS_HANDLES))
            ok = 0;
    free(info);
    return ok;
}
