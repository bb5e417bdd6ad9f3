/* What the IOCP backend keeps in every stream socket: one overlapped request record per direction.
 * Included by core/internal.h. (WSASend copies its WSABUF array before returning, so that array lives on
 * the stack of the call.) */
#ifndef RP_WIN_SOCK_IO_H
#define RP_WIN_SOCK_IO_H


/* One overlapped request of the IOCP backend. The OVERLAPPED comes first: a dequeued packet's
 * OVERLAPPED pointer is the record. */
typedef struct rp_win_io {
    OVERLAPPED ov;
    rp_sock *sock;
    uint32_t dir;                /* RP_DIR_* it serves */
    uint32_t zero_read;          /* a zero-byte receive (idle mode): data is read once it completes */
    struct rp_win_io *done_next; /* finished without a packet: handled on the next wait */
    int error;                   /* result of an inline completion: WSA code */
    uint32_t bytes;
    uint64_t want, file_part;    /* a TransmitFile request: the bytes it moves, of which from the file */
    /* A socket whose handle belongs to another completion port (IOCP_BF_EVENTS in win/iocp.c): the
     * request's event, the thread-pool wait that posts its packet once signalled, and where to. */
    HANDLE event, wait, port;
} rp_win_io;

typedef struct rp_stream_io {
    rp_win_io rio, sio; /* receive, send requests */
    union {
        rp_win_io cio;  /* TCP: the connect request */
        struct {        /* UDP: what a posted receive fills in */
            struct sockaddr_in6 from;
            INT fromlen;
            DWORD flags;
            int64_t pool_idx; /* the pool buffer a posted pool receive reads into, or -1 */
            struct sockaddr_in6 to; /* the destination of the send posted overlapped */
            WSAMSG msg;       /* RP_UDP_PKTINFO: WSARecvMsg's header, buffer and control data */
            WSABUF buf;
            union {
                uint64_t align; /* a WSACMSGHDR's alignment */
                char bytes[64];
            } ctrl;
        } dgram;
    };
} rp_stream_io;

#endif
