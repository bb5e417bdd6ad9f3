/* rp_send_socket / rp_recv_socket: checks, the message format, reading a message, and adopting the socket
 * that arrived (core/handoff.h). */
#include <stdlib.h>

#include "core/backend.h"
#include "core/handoff.h"

static const unsigned char xfer_magic[4] = {'R', 'P', 'X', 'S'};
#define XFER_VERSION 1u

static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A connection of the loop that can carry messages: a Unix domain one, or an end of an rp_socketpair
 * (on Windows a loopback TCP connection within this process). */
static int channel_check(const rp_sock *c)
{
    return c->type == RP_SOCK_STREAM && (c->family == AF_UNIX || (c->flags & RP_SF_PAIR)) ? 0 : RP_EINVAL;
}

int rp_send_socket(rp_loop *loop, rp_op *op, rp_socket channel, rp_socket sock, const void *data, size_t len,
                   uint32_t flags)
{
    if (!loop || (!data && len) || len > RP_XFER_DATA_MAX || flags || channel == sock)
        return RP_EINVAL;
    int err = rp__op_check(loop, op, RP_OP_SEND_SOCKET);
    if (err)
        return err;
    rp_sock *c, *s;
    if ((err = rp__sock_lookup(loop, channel, &c)) != 0 || (err = channel_check(c)) != 0)
        return err;
    if ((err = rp__sock_lookup(loop, sock, &s)) != 0)
        return err;
    if (s->type != RP_SOCK_STREAM && s->type != RP_SOCK_LISTENER)
        return RP_EINVAL;
    uint32_t blob_len = rp__xfer_blob_len();
    rp_xfer_out *out = malloc(sizeof *out + RP_XFER_HDR + blob_len + len);
    if (!out)
        return RP_ENOMEM;
    unsigned char *h = out->msg;
    memset(h, 0, RP_XFER_HDR);
    memcpy(h, xfer_magic, 4);
    h[4] = XFER_VERSION;
    h[5] = (unsigned char)(s->type == RP_SOCK_LISTENER ? RP_XFER_TYPE_LISTENER : RP_XFER_TYPE_STREAM);
    put_u32(h + 8, blob_len);
    put_u32(h + 12, (uint32_t)len);
    if (len)
        memcpy(h + RP_XFER_HDR + blob_len, data, len);
    out->buf.base = out->msg;
    out->buf.len = RP_XFER_HDR + blob_len + len;
    out->fd = RP_FD_INVALID;
    out->ctrl_len = 0;
    /* The message carries a duplicate: what the caller does with sock from now on (close it, even at
     * once) cannot change the socket that goes out. */
    if ((err = rp__xfer_out_prepare(out, c, s->fd, h + RP_XFER_HDR)) != 0) {
        free(out);
        return err;
    }
    rp_submit_guard g;
    if ((err = rp__guard_enter(&g, loop)) != 0) {
        rp__net_close(out->fd);
        free(out);
        return err;
    }
    if (rp__atomic_load_u32(&c->wr_shut)) {
        rp__guard_leave(&g);
        rp__net_close(out->fd);
        free(out);
        return RP_ESHUTDOWN;
    }
    rp__atomic_store_u32(&s->handed, 1);
    rp__op_claim(op, RP_OP_SEND_SOCKET, c->worker, channel);
    rp_op_priv *p = RP_PRIV(op);
    p->u.send.bufs = &out->buf;
    p->u.send.count = 1;
    p->u.send.total = (int64_t)out->buf.len;
    rp__dispatch(c->worker, op);
    rp__guard_leave(&g);
    return 0;
}

int rp_recv_socket(rp_loop *loop, rp_op *op, rp_socket channel, void *buf, size_t cap, int worker)
{
    if (!loop || (!buf && cap) || cap > INT32_MAX || worker < -1 || worker >= (int)loop->nworkers)
        return RP_EINVAL;
    int err = rp__op_check(loop, op, RP_OP_RECV_SOCKET);
    if (err)
        return err;
    rp_sock *c;
    if ((err = rp__sock_lookup(loop, channel, &c)) != 0 || (err = channel_check(c)) != 0)
        return err;
    rp_xfer_in *in = calloc(1, sizeof *in);
    if (!in)
        return RP_ENOMEM;
    in->buf = buf;
    in->cap = cap;
    in->worker = worker;
    in->fd = RP_FD_INVALID;
    rp_submit_guard g;
    if ((err = rp__guard_enter(&g, loop)) != 0) {
        free(in);
        return err;
    }
    rp__op_claim(op, RP_OP_RECV_SOCKET, c->worker, channel);
    RP_PRIV(op)->u.xfer_in.in = in;
    rp__dispatch(c->worker, op);
    rp__guard_leave(&g);
    return 0;
}

/* ---- reading a message ---- */
void rp__xfer_in_target(rp_xfer_in *in, void **buf, size_t *len)
{
    if (in->got < RP_XFER_HDR) {
        *buf = in->hdr + in->got;
        *len = RP_XFER_HDR - (size_t)in->got;
        return;
    }
    if (in->got < RP_XFER_HDR + (uint64_t)in->blob_len) {
        *buf = in->blob + (in->got - RP_XFER_HDR);
        *len = (size_t)(RP_XFER_HDR + in->blob_len - in->got);
        return;
    }
    uint64_t off = in->got - RP_XFER_HDR - in->blob_len, left = in->data_len - off;
    if (off < in->cap) {
        *buf = in->buf + off;
        *len = (size_t)(in->cap - off < left ? in->cap - off : left);
    } else {
        *buf = in->skip;
        *len = (size_t)(left < sizeof in->skip ? left : sizeof in->skip);
    }
}

/* The header is whole: 0 if it is one of ours. */
static int header_check(rp_xfer_in *in)
{
    const unsigned char *h = in->hdr;
    if (memcmp(h, xfer_magic, 4) != 0 || h[4] != XFER_VERSION || h[6] || h[7] ||
        get_u32(h + 8) != rp__xfer_blob_len() || get_u32(h + 12) > RP_XFER_DATA_MAX)
        return RP_EIO;
    if (h[5] != RP_XFER_TYPE_STREAM && h[5] != RP_XFER_TYPE_LISTENER)
        return RP_EIO;
    in->type = h[5];
    in->blob_len = get_u32(h + 8);
    in->data_len = get_u32(h + 12);
    return 0;
}

int64_t rp__xfer_in_progress(rp_xfer_in *in, size_t n)
{
    if (n == 0)
        return in->got == 0 && in->fd == RP_FD_INVALID ? RP_ENOTCONN : RP_ECONNRESET;
    int at_header = in->got < RP_XFER_HDR;
    int in_blob = !at_header && in->got < RP_XFER_HDR + (uint64_t)in->blob_len;
    in->got += n;
    if (at_header && in->got == RP_XFER_HDR) {
        int err = header_check(in);
        if (err)
            return err; /* the channel is out of step: nothing after this can be trusted */
    }
    if (in_blob && in->got == RP_XFER_HDR + (uint64_t)in->blob_len)
        rp__xfer_in_blob(in);
    if (in->got < RP_XFER_HDR || in->got < RP_XFER_HDR + (uint64_t)in->blob_len + in->data_len)
        return RP_XFER_MORE;
    if (in->error)
        return in->error;
    if (in->fd == RP_FD_INVALID)
        return RP_EIO; /* a message must carry a socket */
    return in->data_len;
}

void rp__xfer_in_fd(rp_xfer_in *in, rp_fd fd)
{
    if (in->fd == RP_FD_INVALID && !in->error)
        in->fd = fd;
    else
        rp__net_close(fd); /* one socket per message: anything more is not ours to keep */
}

void rp__xfer_in_truncated(rp_xfer_in *in)
{
    if (in->fd == RP_FD_INVALID && !in->error)
        in->error = RP_EMFILE;
}

/* ---- final deliveries ---- */
void rp__xfer_send_final(rp_worker *w, rp_op *op)
{
    RP_UNUSED(w);
    rp_xfer_out *out = rp__xfer_out_of(op);
    int64_t ours = (int64_t)RP_XFER_HDR + rp__xfer_blob_len();
    if (op->result >= ours)
        op->result -= ours; /* the caller's data went; the header and platform data are ours */
    if (out->fd != RP_FD_INVALID)
        rp__net_close(out->fd);
    free(out);
    op->buf = NULL;
}

/* Wraps a received descriptor in a socket of the loop: *out, or an error (fd closed). */
static int adopt(rp_loop *loop, rp_worker *channel_worker, int worker, rp_fd fd, rp_socket *out)
{
    uint32_t type;
    int family;
    int err = rp__xfer_socket_prepare(fd, loop->backend->nonblocking, &type, &family);
    if (err) {
        rp__net_close(fd);
        return err;
    }
    if (type == RP_XFER_TYPE_LISTENER) {
        rp_listen_options lo;
        rp_listen_options_init(&lo);
        lo.worker = worker >= 0 ? worker : (int)channel_worker->index;
        return rp__listener_open(loop, fd, family, &lo, out);
    }
    return rp__stream_open(loop, worker >= 0 ? &loop->workers[worker] : channel_worker, fd, family, 0, out);
}

void rp__xfer_recv_final(rp_worker *w, rp_op *op)
{
    rp_xfer_in *in = RP_PRIV(op)->u.xfer_in.in;
    op->buf = NULL;
    if (op->result >= 0 && in->fd != RP_FD_INVALID) {
        rp_socket h = RP_SOCKET_INVALID;
        int err = w->sweeping ? RP_ECANCELED : 0;
        if (err)
            rp__net_close(in->fd);
        else
            err = adopt(w->loop, w, in->worker, in->fd, &h);
        in->fd = RP_FD_INVALID;
        if (err)
            op->result = err;
        else
            op->socket = h;
    }
    if (in->fd != RP_FD_INVALID)
        rp__net_close(in->fd);
    free(in);
}
