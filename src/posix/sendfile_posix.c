/* rp_sendfile on POSIX: one step of a sendfile op at a time, without blocking, for the io_uring and the
 * epoll/kqueue backends alike (both wait for writability when a step says RP_EAGAIN). The head and the tail
 * go with send(); the file's range with the system's sendfile, which reads the file in the kernel and takes
 * the offset as an argument, so the file's own position is never used or moved. */
#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/sendfile.h>
#endif

#include "core/backend.h"
#include "posix/sendfile_posix.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* SO_NOSIGPIPE is set on the socket instead */
#endif
#ifndef MSG_MORE
#define MSG_MORE 0
#endif

/* One call moves at most this much of the file: Linux stops at 0x7ffff000 anyway, and a bounded step
 * lets the worker go on with its other sockets between steps of a large file. */
#define FILE_STEP_MAX ((size_t)1 << 30)

int rp__file_open_for_send(rp_file file, rp_file *out)
{
    if (file < 0 || file > INT32_MAX)
        return RP_EBADF;
    /* One system call per submission: with a second one for the access mode the two cost about a sixth of
     * the files/s of 16 KiB files in bench/file_send. A file not open for reading fails in sendfile
     * instead, with RP_EBADF. */
    struct stat st;
    if (fstat((int)file, &st) != 0)
        return errno == EBADF ? RP_EBADF : rp__from_errno(errno);
    if (!S_ISREG(st.st_mode))
        return RP_EINVAL;
    *out = file;
    return 0;
}

void rp__file_close_for_send(rp_file file) { RP_UNUSED(file); /* the caller's */ }

/* Up to len bytes of the file from offset at. Returns the bytes sent, 0 at the file's end, or -1 with
 * errno. */
static ssize_t send_file_part(int sock, int file, uint64_t at, size_t len)
{
    if (len > FILE_STEP_MAX)
        len = FILE_STEP_MAX;
#if defined(__linux__)
    off_t o = (off_t)at;
    return sendfile(sock, file, &o, len);
#elif defined(__APPLE__)
    /* macOS: the length is in and out; a partial send before EAGAIN reports its count there. */
    off_t n = (off_t)len;
    if (sendfile(file, sock, (off_t)at, &n, NULL, 0) == 0 || ((errno == EAGAIN || errno == EINTR) && n > 0))
        return (ssize_t)n;
    return -1;
#elif defined(__FreeBSD__) || defined(__DragonFly__)
    off_t n = 0;
    int rc = sendfile(file, sock, (off_t)at, len, NULL, &n, 0);
    if (rc == 0 || ((errno == EAGAIN || errno == EBUSY || errno == EINTR) && n > 0))
        return (ssize_t)n;
    if (errno == EBUSY)
        errno = EAGAIN;
    return -1;
#else
    /* No sendfile: the range is read here and sent (a copy through user space). */
    char buf[16384];
    ssize_t got = pread(file, buf, len < sizeof buf ? len : sizeof buf, (off_t)at);
    if (got <= 0)
        return got;
    ssize_t n = send(sock, buf, (size_t)got, MSG_NOSIGNAL);
    return n;
#endif
}

int64_t rp__sendfile_step(rp_sock *s, rp_op *op)
{
    rp_op_priv *p = RP_PRIV(op);
    uint32_t idx = p->u.send.idx;
    size_t off = p->u.send.off;
    while (idx < 3 && rp__send_seg_len(op, idx) == off) { /* empty segments */
        idx++;
        off = 0;
    }
    if (idx >= 3)
        return 0;
    size_t left = rp__send_seg_len(op, idx) - off;
    for (;;) {
        ssize_t n;
        if (idx == 1) {
            n = send_file_part(s->fd, (int)p->u.send.file.file, p->u.send.file.file_off + off, left);
            if (n == 0)
                return RP_ENODATA; /* the file ended before the range did */
        } else {
            const char *base = idx == 0 ? p->u.send.file.head : p->u.send.file.tail;
            /* The head waits (briefly) for the file's first bytes, so a small response goes out whole. */
            int more = idx == 0 && p->u.send.total > (int64_t)p->u.send.file.head_len ? MSG_MORE : 0;
            n = send(s->fd, base + off, left, MSG_NOSIGNAL | more);
        }
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return RP_EAGAIN;
        /* Errors of reading the file (EIO; EINVAL/EOVERFLOW for a range the file cannot have) are not the
         * socket's: they say the file could not be read. */
        if (idx == 1 && (errno == EIO || errno == EOVERFLOW))
            return RP_EIO;
        return rp__from_errno(errno);
    }
}
