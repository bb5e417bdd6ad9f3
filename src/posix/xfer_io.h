/* Sockets handed between processes, the POSIX backends' part (posix/xfer_io.c). */
#ifndef RP_POSIX_XFER_IO_H
#define RP_POSIX_XFER_IO_H

#include <sys/socket.h>

#include "core/internal.h"

/* The active receive of s is a RECV_SOCKET: reads its message without blocking. Returns 1 when the
 * receive was reported (the message is whole, or it ended), 0 when it must wait for readability. */
int rp__xfer_io_recv(rp_worker *w, rp_sock *s);
/* msg is the first request of SEND_SOCKET op: the descriptor's control data goes with it (a request
 * resuming after a partial send gets none). */
void rp__xfer_attach_control(rp_op *op, struct msghdr *msg);

#endif
