/* Unix domain sockets on POSIX: addresses, bind and listen, connect, socketpair, paths and peer
 * credentials. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#if defined(__APPLE__) || defined(__FreeBSD__)
#include <sys/ucred.h>
#endif

#include "core/internal.h"

#define SUN_PATH_SIZE sizeof(((struct sockaddr_un *)0)->sun_path)

size_t rp__net_unix_path_max(void) { return SUN_PATH_SIZE - 1; }

int rp__net_unix_abstract(void)
{
#if defined(__linux__)
    return 1;
#else
    return 0;
#endif
}

/* Fills sa with path; returns the address length to pass to bind/connect. */
static socklen_t unix_sockaddr(struct sockaddr_un *sa, const char *path, size_t len)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, path, len);
    /* An abstract name is exactly its bytes; a file system path ends at its NUL (the zeroed byte after). */
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (path[0] ? 1 : 0));
}

/* RP_LISTEN_UNIX_UNLINK: a socket file at path goes; anything else stays and makes bind fail. */
static void unlink_stale_socket(const struct sockaddr_un *sa)
{
    struct stat st;
    if (sa->sun_path[0] && lstat(sa->sun_path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(sa->sun_path);
}

int rp__net_unix_listen(rp_fd fd, const char *path, size_t len, const rp_listen_options *opts)
{
    struct sockaddr_un sa;
    socklen_t salen = unix_sockaddr(&sa, path, len);
    if (opts->flags & RP_LISTEN_UNIX_UNLINK)
        unlink_stale_socket(&sa);
    if (bind(fd, (struct sockaddr *)&sa, salen) != 0)
        return rp__from_errno(errno);
    if (listen(fd, opts->backlog ? opts->backlog : RP_LISTEN_BACKLOG_DEFAULT) != 0)
        return rp__from_errno(errno);
    return 0;
}

int rp__net_unix_connect(rp_fd fd, const char *path, size_t len, int nonblocking)
{
    struct sockaddr_un sa;
    socklen_t salen = unix_sockaddr(&sa, path, len);
    int off = 0, on = 1;
    if (!nonblocking && ioctl(fd, FIONBIO, &on) != 0)
        return rp__from_errno(errno);
    int rc;
    do {
        rc = connect(fd, (struct sockaddr *)&sa, salen);
    } while (rc != 0 && errno == EINTR);
    int err = rc == 0 ? 0 : errno == EWOULDBLOCK ? RP_EAGAIN : rp__from_errno(errno);
    if (!nonblocking && ioctl(fd, FIONBIO, &off) != 0 && !err)
        err = rp__from_errno(errno);
    return err;
}

int rp__net_socketpair(int nonblocking, rp_fd out[2], int *family)
{
    int type = SOCK_STREAM;
#if defined(SOCK_CLOEXEC) && defined(SOCK_NONBLOCK)
    type |= SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0);
#endif
    int fds[2];
    if (socketpair(AF_UNIX, type, 0, fds) != 0)
        return rp__from_errno(errno);
#if !defined(SOCK_CLOEXEC)
    for (int i = 0; i < 2; i++) {
        fcntl(fds[i], F_SETFD, FD_CLOEXEC);
        if (nonblocking)
            rp__net_set_nonblocking(fds[i]);
    }
#endif
#if defined(SO_NOSIGPIPE)
    for (int i = 0; i < 2; i++) {
        int one = 1;
        setsockopt(fds[i], SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
    }
#endif
    out[0] = fds[0];
    out[1] = fds[1];
    *family = AF_UNIX;
    return 0;
}

int rp__net_unix_path(rp_fd fd, int peer, char *buf, size_t size)
{
    struct sockaddr_un sa;
    socklen_t salen = sizeof sa;
    memset(&sa, 0, sizeof sa);
    int rc = peer ? getpeername(fd, (struct sockaddr *)&sa, &salen) : getsockname(fd, (struct sockaddr *)&sa, &salen);
    if (rc != 0)
        return rp__from_errno(errno);
    size_t n = salen > offsetof(struct sockaddr_un, sun_path) ? salen - offsetof(struct sockaddr_un, sun_path) : 0;
    if (n > SUN_PATH_SIZE)
        n = SUN_PATH_SIZE;
    if (n > 0 && sa.sun_path[0]) /* a file system path: up to its NUL */
        n = strnlen(sa.sun_path, n);
    if (n > size)
        return RP_ENOBUFS;
    memcpy(buf, sa.sun_path, n);
    if (n < size)
        buf[n] = '\0';
    return (int)n;
}

int rp__net_peer_cred(rp_fd fd, rp_peer_cred *out)
{
#if defined(SO_PEERCRED) && defined(__linux__)
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        return rp__from_errno(errno);
    if (cred.pid == 0 && cred.uid == (uid_t)-1)
        return RP_ENOTCONN; /* the kernel recorded nobody: not a connected socket */
    out->pid = cred.pid;
    out->uid = cred.uid;
    out->gid = cred.gid;
    return 0;
#elif defined(__APPLE__) || defined(__FreeBSD__)
    uid_t uid;
    gid_t gid;
    if (getpeereid(fd, &uid, &gid) != 0)
        return rp__from_errno(errno);
    out->uid = uid;
    out->gid = gid;
#if defined(LOCAL_PEERPID)
    pid_t pid;
    socklen_t len = sizeof pid;
    if (getsockopt(fd, SOL_LOCAL, LOCAL_PEERPID, &pid, &len) == 0)
        out->pid = pid;
#elif defined(LOCAL_PEERCRED) && defined(cr_pid)
    struct xucred xc;
    socklen_t len = sizeof xc;
    if (getsockopt(fd, SOL_LOCAL, LOCAL_PEERCRED, &xc, &len) == 0 && xc.cr_version == XUCRED_VERSION)
        out->pid = xc.cr_pid;
#endif
    return 0;
#else
    RP_UNUSED(fd);
    RP_UNUSED(out);
    return RP_ENOTSUP;
#endif
}
