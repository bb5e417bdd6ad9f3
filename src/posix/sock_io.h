/* What a POSIX backend (io_uring, the epoll/kqueue reactor) keeps in every stream socket: the msghdr of the
 * send in progress, which io_uring needs stable until the request completes, and the one iovec a send
 * resumed mid-buffer needs. Included by core/internal.h; filled by rp__send_iov (posix/net_posix.c). */
#ifndef RP_POSIX_SOCK_IO_H
#define RP_POSIX_SOCK_IO_H

#include <sys/socket.h>
#include <sys/uio.h>

typedef struct rp_stream_io {
    struct msghdr msg;
    struct iovec rest; /* the rest of a buffer a partial send stopped in */
} rp_stream_io;

/* Points io->msg at what op (an RP_OP_SEND) has left to send: the caller's rp_buf array itself when the
 * next byte starts a buffer (rp_buf has iovec's layout), else the rest of the buffer the last send stopped
 * in (one iovec: the buffers after it go in the next request, from the caller's array again). Returns the
 * number of iovecs. */
size_t rp__send_iov(rp_stream_io *io, rp_op *op);

#endif
