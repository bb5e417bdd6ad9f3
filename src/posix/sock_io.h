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

/* Points s->u.stream.io.msg at what op (the RP_OP_SEND at the head of s's send queue) has left to send,
 * and sets s->send_batch to the number of sends the request covers. When more sends wait behind op and
 * scratch has room (cap > 1), they are coalesced: the rest of op and their buffers, in order, as up to cap
 * iovecs written to scratch, which must then stay valid until the request has been issued. Otherwise op
 * alone: the caller's rp_buf array itself when the next byte starts a buffer (rp_buf has iovec's layout),
 * else the rest of the buffer the last send stopped in. Returns the number of iovecs. */
size_t rp__send_iov(rp_sock *s, rp_op *op, struct iovec *scratch, size_t cap);

#endif
