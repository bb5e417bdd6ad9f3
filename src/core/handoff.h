/* Sockets handed between processes (rp_send_socket / rp_recv_socket): the message on the channel and the
 * state of one being sent or read. The core frames and parses messages and adopts what arrives; the
 * platform moves the socket (posix/xfer_io.c: the descriptor as SCM_RIGHTS on the message's first byte;
 * win/xfer_win.c: WSADuplicateSocketW's protocol information as the message's platform data).
 *
 * A message: a 16-byte header, then blob_len bytes of platform data (none on POSIX, a WSAPROTOCOL_INFOW
 * on Windows: a receiver takes only the length its own platform sends), then data_len bytes of the
 * sender's data. Header: "RPXS", version 1, the socket's type (1 connection, 2 listener), 2 bytes
 * reserved (0), then blob_len and data_len as 32-bit little-endian numbers. */
#ifndef RP_HANDOFF_H
#define RP_HANDOFF_H

#include "core/internal.h"

#define RP_XFER_HDR 16u
#define RP_XFER_TYPE_STREAM 1u
#define RP_XFER_TYPE_LISTENER 2u
#define RP_XFER_CTRL_SIZE 64u /* room for the control data of one descriptor, aligned as cmsghdr */
#define RP_XFER_BLOB_MAX 1024u /* room for the platform data (a WSAPROTOCOL_INFOW is 628 bytes) */

/* A message being sent: what the send op sends (buf, which the op's u.send.bufs points at), and the
 * descriptor that goes with its first byte. */
typedef struct rp_xfer_out {
    rp_buf buf;
    rp_fd fd; /* POSIX: our duplicate of the socket's descriptor, closed when the send has completed */
    union {
        uint64_t align;
        unsigned char bytes[RP_XFER_CTRL_SIZE]; /* control data, built by the platform */
    } ctrl;
    size_t ctrl_len;
    unsigned char msg[]; /* header, platform data and data */
} rp_xfer_out;

/* The rp_xfer_out of a SEND_SOCKET op. */
static inline rp_xfer_out *rp__xfer_out_of(const rp_op *op)
{
    return (rp_xfer_out *)(void *)((char *)(void *)(uintptr_t)RP_PRIV(op)->u.send.bufs - offsetof(rp_xfer_out, buf));
}

/* A message being read by a RECV_SOCKET op. */
typedef struct rp_xfer_in {
    unsigned char hdr[RP_XFER_HDR];
    uint64_t got;            /* bytes of the message read so far, header included */
    uint32_t blob_len;       /* from the header, once read */
    uint32_t data_len;
    uint32_t type;           /* RP_XFER_TYPE_* */
    unsigned char *buf;      /* the caller's */
    size_t cap;
    int worker;              /* where the socket is adopted (-1: the channel's worker) */
    rp_fd fd;                /* the descriptor received, or RP_FD_INVALID */
    int error;               /* found while reading (e.g. the descriptor was lost): reported at the end */
    unsigned char skip[512]; /* where data beyond cap is read to be dropped */
    unsigned char blob[RP_XFER_BLOB_MAX]; /* the platform data */
} rp_xfer_in;

/* Where the next bytes of the message go: *len > 0 bytes at *buf, never past the message's end. */
void rp__xfer_in_target(rp_xfer_in *in, void **buf, size_t *len);
/* A read of the message returned n bytes (0: the channel's end). Returns RP_XFER_MORE while the message
 * goes on, else what the receive completes with: the data length, or an RP_E* code. */
#define RP_XFER_MORE INT64_MIN
int64_t rp__xfer_in_progress(rp_xfer_in *in, size_t n);
/* A descriptor arrived with the message: the first is kept, any other is closed. */
void rp__xfer_in_fd(rp_xfer_in *in, rp_fd fd);
/* The kernel dropped control data (MSG_CTRUNC): the descriptor is lost. */
void rp__xfer_in_truncated(rp_xfer_in *in);

/* Platform (posix/xfer_io.c, win/xfer_win.c). */
/* The length of the platform data a message carries (0 on POSIX). */
uint32_t rp__xfer_blob_len(void);
/* Readies the message out for sending socket fd over channel: POSIX: a duplicate of fd (close-on-exec)
 * and the control data carrying it in out->ctrl / ctrl_len; Windows: the socket duplicated for the
 * channel's peer process, described in blob (rp__xfer_blob_len bytes). */
int rp__xfer_out_prepare(rp_xfer_out *out, const rp_sock *channel, rp_fd fd, unsigned char *blob);
/* The platform data of a message has been read (in->blob): takes the socket it describes in with
 * rp__xfer_in_fd, or notes why not in in->error. Called only where rp__xfer_blob_len() > 0. */
void rp__xfer_in_blob(rp_xfer_in *in);
/* Readies a received descriptor for this loop (non-blocking if the backend needs it, close-on-exec) and
 * tells what it is: 0 with *type RP_XFER_TYPE_* and *family, or RP_EIO (not a stream socket of a family
 * ringport runs). */
int rp__xfer_socket_prepare(rp_fd fd, int nonblocking, uint32_t *type, int *family);

/* The final delivery of a SEND_SOCKET / RECV_SOCKET op (core/op.c's before_final): frees the message; a
 * receive adopts its socket (op->socket) or closes the descriptor. */
void rp__xfer_send_final(rp_worker *w, rp_op *op);
void rp__xfer_recv_final(rp_worker *w, rp_op *op);

#endif
