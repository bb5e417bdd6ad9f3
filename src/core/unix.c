/* Unix domain stream sockets: argument checks, and the sockets around what the platform's calls return
 * (posix/unix_posix.c, win/unix_win.c). Their connections are ordinary stream sockets from then on. */
#include "core/backend.h"

/* A path as rp_unix_listen / rp_unix_connect take it: 0, RP_EINVAL or RP_ENOTSUP. */
static int path_check(const char *path, size_t len)
{
    if (!path || len == 0 || len > rp__net_unix_path_max())
        return RP_EINVAL;
    if (path[0] == '\0') {
        if (!rp__net_unix_abstract())
            return RP_ENOTSUP;
        return len > 1 ? 0 : RP_EINVAL; /* a lone NUL would ask Linux for an automatic name */
    }
    return memchr(path, '\0', len) ? RP_EINVAL : 0;
}

size_t rp_unix_path_max(void) { return rp__net_unix_path_max(); }

#define LISTEN_FLAGS_UNIX (RP_LISTEN_NO_REUSEADDR | RP_LISTEN_NO_NODELAY | RP_LISTEN_UNIX_UNLINK)

int rp_unix_listen(rp_loop *loop, rp_socket *out, const char *path, size_t len, const rp_listen_options *opts)
{
    rp_listen_options defaults;
    if (!loop || !out)
        return RP_EINVAL;
    if (!opts) {
        rp_listen_options_init(&defaults);
        opts = &defaults;
    }
    int err = rp__listen_check(loop, opts, LISTEN_FLAGS_UNIX);
    if (err || (err = path_check(path, len)) != 0)
        return err;
    if (opts->fastopen_queue)
        return RP_EINVAL; /* TCP only */
    rp_submit_guard g;
    if ((err = rp__guard_enter(&g, loop)) != 0)
        return err;
    rp_fd fd;
    err = rp__net_socket(AF_UNIX, loop->backend->nonblocking, &fd);
    if (!err)
        err = rp__net_unix_listen(fd, path, len, opts);
    if (err) {
        if (fd != RP_FD_INVALID)
            rp__net_close(fd);
    } else {
        err = rp__listener_open(loop, fd, AF_UNIX, opts, out);
    }
    rp__guard_leave(&g);
    return err;
}

int rp_unix_connect(rp_loop *loop, rp_op *op, const char *path, size_t len, const rp_connect_options *opts)
{
    rp_connect_options defaults;
    if (!loop)
        return RP_EINVAL;
    if (!opts) {
        rp_connect_options_init(&defaults);
        opts = &defaults;
    }
    int err = rp__connect_check(loop, op, opts);
    if (err || (err = path_check(path, len)) != 0)
        return err;
    if (opts->early_data)
        return RP_EINVAL; /* TCP Fast Open only */
    rp_submit_guard g;
    if ((err = rp__guard_enter(&g, loop)) != 0)
        return err;
    rp_fd fd;
    err = rp__net_socket(AF_UNIX, loop->backend->nonblocking, &fd);
    if (!err) {
        /* A local connect never waits (a full backlog is an error), so it is made here; the worker
         * reports its outcome as the completion. */
        rp_connect_payload payload;
        memset(&payload, 0, sizeof payload);
        payload.unix_result = rp__net_unix_connect(fd, path, len, loop->backend->nonblocking);
        err = rp__connect_open(loop, op, fd, AF_UNIX, opts, &payload);
    }
    rp__guard_leave(&g);
    return err;
}

int rp__stream_open(rp_loop *loop, rp_worker *w, rp_fd fd, int family, uint32_t sflags, rp_socket *out)
{
    rp_sock *s;
    int err = rp__sock_open(loop, w, fd, RP_SOCK_STREAM, family, &s);
    if (err)
        return err;
    s->flags |= sflags;
    return rp__sock_attach_new(loop, w, s, out);
}

int rp_socketpair(rp_loop *loop, rp_socket out[2], int worker)
{
    if (!loop || !out || worker < -1 || worker >= (int)loop->nworkers)
        return RP_EINVAL;
    rp_submit_guard g;
    int err = rp__guard_enter(&g, loop);
    if (err)
        return err;
    rp_fd fds[2];
    int family;
    err = rp__net_socketpair(loop->backend->nonblocking, fds, &family);
    if (!err) {
        rp_worker *w = worker < 0 && rp__current && rp__current->loop == loop ? rp__current
                                                                               : rp__pick_worker(loop, worker);
        if ((err = rp__stream_open(loop, w, fds[0], family, RP_SF_PAIR, &out[0])) != 0) {
            rp__net_close(fds[1]);
        } else if ((err = rp__stream_open(loop, w, fds[1], family, RP_SF_PAIR, &out[1])) != 0) {
            rp_close(loop, NULL, out[0]);
        }
    }
    rp__guard_leave(&g);
    return err;
}

/* A Unix domain socket of the loop, open and not closing: a connection, or (listeners_too) a listener. */
static int unix_lookup(rp_loop *loop, rp_socket h, int listeners_too, rp_sock **out)
{
    int err = rp__sock_lookup(loop, h, out);
    if (err)
        return err;
    if ((*out)->family != AF_UNIX)
        return RP_EINVAL;
    if ((*out)->type == RP_SOCK_STREAM || (listeners_too && (*out)->type == RP_SOCK_LISTENER))
        return 0;
    return RP_EINVAL;
}

int rp_socket_unix_path(rp_loop *loop, rp_socket socket, int peer, char *buf, size_t size)
{
    rp_sock *s;
    if (!loop || !buf)
        return RP_EINVAL;
    int err = unix_lookup(loop, socket, 1, &s);
    if (err)
        return err;
    if (peer && s->type == RP_SOCK_LISTENER)
        return RP_ENOTCONN;
    return rp__net_unix_path(s->fd, peer, buf, size);
}

int rp_socket_peer_cred(rp_loop *loop, rp_socket socket, rp_peer_cred *out)
{
    rp_sock *s;
    if (!loop || !out)
        return RP_EINVAL;
    int err = unix_lookup(loop, socket, 0, &s);
    if (err)
        return err;
    memset(out, 0, sizeof *out);
    out->pid = out->uid = out->gid = -1;
    return rp__net_peer_cred(s->fd, out);
}
