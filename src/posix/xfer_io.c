/* Sockets handed between processes on POSIX: the descriptor travels as SCM_RIGHTS control data on the
 * first byte of its message (the send op's first request carries it; a request resuming a partial send
 * does not, so the descriptor goes exactly once), and is read back with recvmsg, MSG_CMSG_CLOEXEC where
 * the system has it. Used by the io_uring and the epoll/kqueue backends alike. */
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/backend.h"
#include "core/handoff.h"
#include "posix/xfer_io.h"

#if !defined(MSG_CMSG_CLOEXEC)
#define MSG_CMSG_CLOEXEC 0
#endif

/* Descriptors one read takes in: one is expected; the room for more lets the extras a hostile sender
 * adds be seen and closed rather than left to the kernel (macOS installs what does not fit and leaks it). */
#define XFER_FDS_IN 16

RP_STATIC_ASSERT(CMSG_SPACE(sizeof(int)) <= RP_XFER_CTRL_SIZE, "control data of one descriptor fits");

uint32_t rp__xfer_blob_len(void) { return 0; }

void rp__xfer_in_blob(rp_xfer_in *in) { RP_UNUSED(in); } /* never called: POSIX messages have no blob */

int rp__xfer_out_prepare(rp_xfer_out *out, const rp_sock *channel, rp_fd fd, unsigned char *blob)
{
    RP_UNUSED(channel);
    RP_UNUSED(blob);
    int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup_fd < 0)
        return rp__from_errno(errno);
    out->fd = dup_fd;
    memset(out->ctrl.bytes, 0, sizeof out->ctrl.bytes);
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_control = out->ctrl.bytes;
    m.msg_controllen = CMSG_SPACE(sizeof(int));
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &dup_fd, sizeof dup_fd);
    out->ctrl_len = CMSG_SPACE(sizeof(int));
    return 0;
}

void rp__xfer_attach_control(rp_op *op, struct msghdr *msg)
{
    if (RP_PRIV(op)->u.send.sent != 0)
        return; /* the descriptor went with the first byte */
    rp_xfer_out *out = rp__xfer_out_of(op);
    msg->msg_control = out->ctrl.bytes;
    msg->msg_controllen = out->ctrl_len;
}

int rp__xfer_socket_prepare(rp_fd fd, int nonblocking, uint32_t *type, int *family)
{
    int so_type = 0;
    socklen_t len = sizeof so_type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &so_type, &len) != 0 || so_type != SOCK_STREAM)
        return RP_EIO; /* not a socket, or not a stream */
    struct sockaddr_storage ss;
    len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return RP_EIO;
    if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6 && ss.ss_family != AF_UNIX)
        return RP_EIO;
    int listening = 0;
#if defined(SO_ACCEPTCONN)
    len = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0)
        listening = 0;
#endif
    /* The mode is the open file's, shared with the sender's copy, which may still be in use (a reactor
     * there relies on it): a backend that needs non-blocking mode sets it, and nobody ever clears it
     * (io_uring runs non-blocking sockets as well: it waits for readiness itself on EAGAIN). */
    int on = 1;
    if (nonblocking && ioctl(fd, FIONBIO, &on) != 0)
        return rp__from_errno(errno);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
#if defined(SO_NOSIGPIPE)
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
    *type = listening ? RP_XFER_TYPE_LISTENER : RP_XFER_TYPE_STREAM;
    *family = ss.ss_family;
    return 0;
}

/* Every descriptor in the control data of m goes to the message (the first kept, others closed). */
static void take_descriptors(rp_xfer_in *in, struct msghdr *m)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        /* cmsg_len may claim more than was delivered (macOS reports the size before truncation). */
        size_t avail = (size_t)((unsigned char *)m->msg_control + m->msg_controllen - CMSG_DATA(c));
        size_t bytes = c->cmsg_len > CMSG_LEN(0) ? c->cmsg_len - CMSG_LEN(0) : 0;
        if (bytes > avail)
            bytes = avail;
        for (size_t i = 0; i + sizeof(int) <= bytes; i += sizeof(int)) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i, sizeof fd);
            rp__xfer_in_fd(in, fd);
        }
    }
    if (m->msg_flags & MSG_CTRUNC)
        rp__xfer_in_truncated(in);
}

int rp__xfer_io_recv(rp_worker *w, rp_sock *s)
{
    rp_op *op;
    while ((op = rp__io_op(s, RP_DIR_RECV)) && op->kind == RP_OP_RECV_SOCKET) {
        if (rp__io_stopping(s, RP_DIR_RECV)) {
            rp__io_finish(w, s, RP_DIR_RECV, RP_ECANCELED);
            return 1;
        }
        rp_xfer_in *in = RP_PRIV(op)->u.xfer_in.in;
        struct iovec iov;
        rp__xfer_in_target(in, &iov.iov_base, &iov.iov_len);
        union {
            struct cmsghdr align;
            unsigned char bytes[CMSG_SPACE(sizeof(int) * XFER_FDS_IN)];
        } ctrl;
        struct msghdr m;
        memset(&m, 0, sizeof m);
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        m.msg_control = ctrl.bytes;
        m.msg_controllen = sizeof ctrl.bytes;
        ssize_t n = recvmsg(s->fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (n < 0) {
            rp__io_finish(w, s, RP_DIR_RECV, rp__from_errno(errno));
            return 1;
        }
        take_descriptors(in, &m);
        int64_t r = rp__xfer_in_progress(in, (size_t)n);
        if (r != RP_XFER_MORE) {
            rp__io_finish(w, s, RP_DIR_RECV, r);
            return 1;
        }
    }
    return 1;
}
