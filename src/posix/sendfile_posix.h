/* rp_sendfile's steps on POSIX (posix/sendfile_posix.c), shared by the io_uring and reactor backends. */
#ifndef RP_SENDFILE_POSIX_H
#define RP_SENDFILE_POSIX_H

#include "core/internal.h"

/* One non-blocking step of sendfile op, the active send of s: the bytes it moved (> 0, to report with
 * rp__send_progress), RP_EAGAIN (no room: wait for writability, then step again), or why it failed
 * (RP_ENODATA: the file ended before the range; RP_EIO: the file could not be read; a send error). */
int64_t rp__sendfile_step(rp_sock *s, rp_op *op);

#endif
