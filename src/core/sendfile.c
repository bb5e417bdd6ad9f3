/* rp_sendfile: a send of three segments (head, a range of a file, tail) in the socket's send queue. The
 * core's send progress (core/stream.c) counts it like any send; the backends move the file's segment
 * with the system's file-sending call (posix/sendfile_posix.c, win/iocp.c). */
#include "core/backend.h"

int rp_sendfile(rp_loop *loop, rp_op *op, rp_socket socket, rp_file file, uint64_t offset, uint64_t length,
                const rp_buf *head, const rp_buf *tail, uint32_t flags)
{
    if (!loop || flags || (head && !head->base && head->len) || (tail && !tail->base && tail->len))
        return RP_EINVAL;
    uint64_t head_len = head ? head->len : 0, tail_len = tail ? tail->len : 0;
    /* The segments' lengths are size_t and 32-bit in the record; the whole counts as an int64_t. */
    if (head_len > UINT32_MAX || tail_len > UINT32_MAX || length > (uint64_t)SIZE_MAX ||
        length > (uint64_t)INT64_MAX - head_len - tail_len || offset > (uint64_t)INT64_MAX - length)
        return RP_EINVAL;
    rp_submit_guard g;
    int err = rp__op_check(loop, op, RP_OP_SENDFILE);
    if (err)
        return err;
    rp_sock *s;
    if ((err = rp__sock_lookup(loop, socket, &s)) != 0)
        return err;
    if (s->type != RP_SOCK_STREAM)
        return RP_EINVAL;
    rp_file own;
    if ((err = rp__file_open_for_send(file, &own)) != 0)
        return err;
    if ((err = rp__guard_enter(&g, loop)) != 0) {
        rp__file_close_for_send(own);
        return err;
    }
    if (rp__atomic_load_u32(&s->wr_shut)) {
        rp__guard_leave(&g);
        rp__file_close_for_send(own);
        return RP_ESHUTDOWN;
    }
    rp__op_claim(op, RP_OP_SENDFILE, s->worker, socket);
    rp_op_priv *p = RP_PRIV(op);
    p->u.send.count = 3;
    p->u.send.total = (int64_t)(head_len + length + tail_len);
    p->u.send.file.head = head ? (const char *)head->base : NULL;
    p->u.send.file.head_len = (uint32_t)head_len;
    p->u.send.file.tail = tail ? (const char *)tail->base : NULL;
    p->u.send.file.tail_len = (uint32_t)tail_len;
    p->u.send.file.file = own;
    p->u.send.file.file_off = offset;
    rp__dispatch(s->worker, op);
    rp__guard_leave(&g);
    return 0;
}

void rp__sendfile_final(rp_worker *w, rp_op *op)
{
    RP_UNUSED(w);
    rp__file_close_for_send(RP_PRIV(op)->u.send.file.file);
}
