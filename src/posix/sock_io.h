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

/* A connect with early data (TCP Fast Open, rp_connect_options.early_data), the same steps on io_uring
 * and the reactor: prepare, connect, then rp__connect_early_step after the connect and after every
 * writability (or error) event until it no longer answers RP_EARLY_WAIT. */
#define RP_EARLY_WAIT 1
/* Asks the kernel for Fast Open on the socket before it connects (Linux: TCP_FASTOPEN_CONNECT); where it
 * refuses, the connect is a plain one and the data goes after the handshake. */
void rp__connect_early_prepare(rp_fd fd);
/* The reactor's connect without blocking, to s->u.stream.connect_addr (len bytes): prepare and connect()
 * (Linux); connectx with the data (macOS) or sendto (FreeBSD), which hand over the first bytes already.
 * Returns 0 (connected or in progress) or the RP_E* code it failed with. */
int rp__connect_early_start(rp_sock *s, rp_op *op, int len);
/* Hands what is left of the early data to the kernel without blocking, then checks the handshake is
 * complete. Returns 0 (the connect is done), RP_EARLY_WAIT (wait until the socket is writable or has an
 * error, check SO_ERROR, then call again), or an RP_E* code. */
int rp__connect_early_step(rp_sock *s, rp_op *op);
/* The socket's pending error (SO_ERROR, which reading clears), as an errno value; 0 for none. */
int rp__net_so_error(rp_fd fd);

#endif
