/* Unix domain sockets on Windows (AF_UNIX, Windows 10 1803+: stream sockets by path only), and
 * rp_socketpair as a loopback TCP connection, since Windows has no AF_UNIX socketpair. */
#include <winsock2.h>
#include <ws2tcpip.h>
#include <afunix.h>
#include <stddef.h>

#include "core/internal.h"
#include "win/net_win.h"

#define SUN_PATH_SIZE sizeof(((SOCKADDR_UN *)0)->sun_path)

static int last_error(void) { return rp__from_wsa(WSAGetLastError()); }

size_t rp__net_unix_path_max(void) { return SUN_PATH_SIZE - 1; }

int rp__net_unix_abstract(void) { return 0; }

static int unix_sockaddr(SOCKADDR_UN *sa, const char *path, size_t len)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, path, len);
    return (int)(offsetof(SOCKADDR_UN, sun_path) + len + 1);
}

int rp__net_unix_listen(rp_fd fd, const char *path, size_t len, const rp_listen_options *opts)
{
    SOCKADDR_UN sa;
    int salen = unix_sockaddr(&sa, path, len);
    if (opts->flags & RP_LISTEN_UNIX_UNLINK) {
        /* An AF_UNIX socket file is a reparse point; a file of any other kind is left alone. */
        DWORD attrs = GetFileAttributesA(sa.sun_path);
        if (attrs != INVALID_FILE_ATTRIBUTES && (attrs & FILE_ATTRIBUTE_REPARSE_POINT) &&
            !(attrs & FILE_ATTRIBUTE_DIRECTORY))
            DeleteFileA(sa.sun_path);
    }
    if (bind(fd, (struct sockaddr *)&sa, salen) != 0)
        return last_error();
    if (listen(fd, opts->backlog ? opts->backlog : RP_LISTEN_BACKLOG_DEFAULT) != 0)
        return last_error();
    return 0;
}

int rp__net_unix_connect(rp_fd fd, const char *path, size_t len, int nonblocking)
{
    RP_UNUSED(nonblocking);
    SOCKADDR_UN sa;
    int salen = unix_sockaddr(&sa, path, len);
    /* Our sockets are non-blocking (win/net_win.c); a local connect is made in blocking mode so that its
     * outcome is known at once. */
    u_long mode = 0;
    if (ioctlsocket(fd, FIONBIO, &mode) != 0)
        return last_error();
    int err = connect(fd, (struct sockaddr *)&sa, salen) == 0 ? 0 : last_error();
    mode = 1;
    if (ioctlsocket(fd, FIONBIO, &mode) != 0 && !err)
        err = last_error();
    return err;
}

/* The loopback pair: a listener on an ephemeral port of 127.0.0.1, one connect, one accept, and a check
 * that the accepted connection is ours (another local process could connect first). */
int rp__net_socketpair(int nonblocking, rp_fd out[2], int *family)
{
    RP_UNUSED(nonblocking);
    rp_fd l = RP_FD_INVALID, c = RP_FD_INVALID, a = INVALID_SOCKET;
    struct sockaddr_in la, cl, peer;
    int len, err;
    memset(&la, 0, sizeof la);
    la.sin_family = AF_INET;
    la.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOL on = TRUE;
    if ((err = rp__net_socket(AF_INET, 1, &l)) != 0 || (err = rp__net_socket(AF_INET, 1, &c)) != 0)
        goto fail;
    u_long blocking = 0;
    if (setsockopt(l, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (const char *)&on, sizeof on) != 0 ||
        bind(l, (struct sockaddr *)&la, sizeof la) != 0 || listen(l, 1) != 0 ||
        ioctlsocket(l, FIONBIO, &blocking) != 0 || ioctlsocket(c, FIONBIO, &blocking) != 0)
        goto fail_wsa;
    len = sizeof la;
    if (getsockname(l, (struct sockaddr *)&la, &len) != 0 || connect(c, (struct sockaddr *)&la, sizeof la) != 0)
        goto fail_wsa;
    len = sizeof cl;
    if (getsockname(c, (struct sockaddr *)&cl, &len) != 0)
        goto fail_wsa;
    for (;;) {
        len = sizeof peer;
        a = accept(l, (struct sockaddr *)&peer, &len);
        if (a == INVALID_SOCKET)
            goto fail_wsa;
        if (peer.sin_port == cl.sin_port && peer.sin_addr.s_addr == cl.sin_addr.s_addr)
            break;
        closesocket(a); /* someone else's connection */
    }
    u_long nb = 1;
    if (ioctlsocket(a, FIONBIO, &nb) != 0 || ioctlsocket(c, FIONBIO, &nb) != 0)
        goto fail_wsa;
    rp__net_set_nodelay(a, 1);
    rp__net_set_nodelay(c, 1);
    closesocket(l);
    out[0] = c;
    out[1] = a;
    *family = AF_INET;
    return 0;
fail_wsa:
    err = last_error();
fail:
    if (a != INVALID_SOCKET)
        closesocket(a);
    if (c != RP_FD_INVALID)
        closesocket(c);
    if (l != RP_FD_INVALID)
        closesocket(l);
    return err;
}

int rp__net_unix_path(rp_fd fd, int peer, char *buf, size_t size)
{
    SOCKADDR_UN sa;
    int salen = sizeof sa;
    memset(&sa, 0, sizeof sa);
    int rc = peer ? getpeername(fd, (struct sockaddr *)&sa, &salen) : getsockname(fd, (struct sockaddr *)&sa, &salen);
    if (rc != 0)
        return last_error();
    size_t n = salen > (int)offsetof(SOCKADDR_UN, sun_path) ? (size_t)salen - offsetof(SOCKADDR_UN, sun_path) : 0;
    if (n > SUN_PATH_SIZE)
        n = SUN_PATH_SIZE;
    n = strnlen(sa.sun_path, n);
    if (n > size)
        return RP_ENOBUFS;
    memcpy(buf, sa.sun_path, n);
    if (n < size)
        buf[n] = '\0';
    return (int)n;
}

int rp__net_peer_cred(rp_fd fd, rp_peer_cred *out)
{
    ULONG pid = 0;
    DWORD bytes = 0; /* some versions report 0 bytes returned even though pid is set */
    if (WSAIoctl(fd, SIO_AF_UNIX_GETPEERPID, NULL, 0, &pid, sizeof pid, &bytes, NULL, NULL) != 0)
        return last_error();
    out->pid = (int64_t)pid;
    return 0;
}
