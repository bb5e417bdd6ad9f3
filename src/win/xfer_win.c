/* Sockets handed between processes on Windows: the sender duplicates the socket for the channel's peer
 * process with WSADuplicateSocketW and sends the WSAPROTOCOL_INFOW that describes it as the message's
 * platform data; the receiver makes its own socket from it with WSASocketW(FROM_PROTOCOL_INFO). Both
 * handles refer to one socket, so bytes in flight stay where they are.
 *
 * The duplicate shares the sender's completion port association, which cannot be changed from here
 * (CreateIoCompletionPort fails with ERROR_INVALID_PARAMETER): the IOCP backend runs such a socket with
 * event-signalled requests instead (win/iocp.c, IOCP_BF_EVENTS). */
#include <winsock2.h>
#include <ws2tcpip.h>

#include "core/handoff.h"
#include "win/net_win.h"

RP_STATIC_ASSERT(sizeof(WSAPROTOCOL_INFOW) <= RP_XFER_BLOB_MAX, "the protocol information fits a message");

uint32_t rp__xfer_blob_len(void) { return (uint32_t)sizeof(WSAPROTOCOL_INFOW); }

/* The process at the other end of channel: this one for an rp_socketpair end, else the Unix domain
 * peer's (SIO_AF_UNIX_GETPEERPID). */
static int channel_peer_pid(const rp_sock *channel, DWORD *pid)
{
    if (channel->flags & RP_SF_PAIR) {
        *pid = GetCurrentProcessId();
        return 0;
    }
    rp_peer_cred cred;
    cred.pid = cred.uid = cred.gid = -1;
    int err = rp__net_peer_cred(channel->fd, &cred);
    if (err)
        return err;
    if (cred.pid <= 0)
        return RP_ENOTCONN;
    *pid = (DWORD)cred.pid;
    return 0;
}

int rp__xfer_out_prepare(rp_xfer_out *out, const rp_sock *channel, rp_fd fd, unsigned char *blob)
{
    DWORD pid;
    int err = channel_peer_pid(channel, &pid);
    if (err)
        return err;
    WSAPROTOCOL_INFOW info;
    memset(&info, 0, sizeof info);
    /* The duplicate is made in the peer now: a message that never arrives leaves that handle open there
     * until the peer process exits (Windows offers no way to take it back). */
    if (WSADuplicateSocketW(fd, pid, &info) != 0)
        return rp__from_wsa(WSAGetLastError());
    memcpy(blob, &info, sizeof info);
    out->fd = RP_FD_INVALID; /* nothing of ours to close once it went */
    out->ctrl_len = 0;
    return 0;
}

void rp__xfer_in_blob(rp_xfer_in *in)
{
    WSAPROTOCOL_INFOW info;
    memcpy(&info, in->blob, sizeof info);
    if (info.iSocketType != SOCK_STREAM ||
        (info.iAddressFamily != AF_INET && info.iAddressFamily != AF_INET6 && info.iAddressFamily != AF_UNIX)) {
        if (!in->error)
            in->error = RP_EIO; /* not a socket ringport runs */
        return;
    }
    SOCKET s = WSASocketW(FROM_PROTOCOL_INFO, FROM_PROTOCOL_INFO, FROM_PROTOCOL_INFO, &info, 0,
                          WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
    if (s == INVALID_SOCKET) {
        int e = WSAGetLastError();
        if (!in->error)
            in->error = e == WSAEMFILE || e == WSAENOBUFS ? rp__from_wsa(e) : RP_EIO;
        return;
    }
    rp__xfer_in_fd(in, s);
}

int rp__xfer_socket_prepare(rp_fd fd, int nonblocking, uint32_t *type, int *family)
{
    RP_UNUSED(nonblocking); /* every IOCP socket is non-blocking (win/net_win.c) */
    WSAPROTOCOL_INFOW info;
    int len = sizeof info;
    if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL_INFOW, (char *)&info, &len) != 0 || info.iSocketType != SOCK_STREAM)
        return RP_EIO;
    if (info.iAddressFamily != AF_INET && info.iAddressFamily != AF_INET6 && info.iAddressFamily != AF_UNIX)
        return RP_EIO;
    BOOL listening = FALSE;
    len = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, (char *)&listening, &len) != 0)
        listening = FALSE;
    int err = rp__net_set_nonblocking(fd);
    if (err)
        return err;
    *type = listening ? RP_XFER_TYPE_LISTENER : RP_XFER_TYPE_STREAM;
    *family = info.iAddressFamily;
    return 0;
}
