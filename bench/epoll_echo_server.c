/* The hand-written baseline: a single-threaded, edge-triggered epoll echo server with no library at all.
 *
 *   epoll_echo_server [--port 7000] [--host 0.0.0.0]
 *
 * Each connection owns a 64 KiB buffer. On a readable edge it reads until EAGAIN, writing back each chunk at
 * once; what the socket does not take is parked and the connection waits for EPOLLOUT, reading nothing more
 * until it is flushed (the same discipline as the other servers of the comparison). SIGINT/SIGTERM stop it;
 * every connection is closed and freed, and it prints what it served. Linux only. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONN_BUF_SIZE (64 * 1024)

typedef struct conn {
    int fd;
    int waiting_out;                 /* EPOLLOUT is in the interest set */
    size_t pending_off, pending_len; /* bytes of buf still to write */
    struct conn *prev, *next;        /* every open connection, to free them at exit */
    char buf[CONN_BUF_SIZE];
} conn;

static volatile sig_atomic_t stop;
static conn *conns;
static unsigned long long accepted, bytes_echoed;

static void on_signal(int s)
{
    (void)s;
    stop = 1;
}

static void drop(int ep, conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
}

/* Returns 0 when everything pending is written, 1 when the socket is full, -1 on error. */
static int flush(conn *c)
{
    while (c->pending_len) {
        ssize_t n = send(c->fd, c->buf + c->pending_off, c->pending_len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? 1 : -1;
        }
        c->pending_off += (size_t)n;
        c->pending_len -= (size_t)n;
    }
    return 0;
}

static int want_out(int ep, conn *c, int on)
{
    if (c->waiting_out == on)
        return 0;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET | (on ? EPOLLOUT : 0u), .data.ptr = c};
    c->waiting_out = on;
    return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void serve(int ep, conn *c)
{
    int rc = flush(c);
    if (rc < 0) {
        drop(ep, c);
        return;
    }
    if (rc == 1)
        return; /* still full: the next EPOLLOUT edge brings us back */
    if (want_out(ep, c, 0) != 0) {
        drop(ep, c);
        return;
    }
    for (;;) {
        ssize_t n = recv(c->fd, c->buf, sizeof c->buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) { /* end of stream or error */
            drop(ep, c);
            return;
        }
        bytes_echoed += (unsigned long long)n;
        c->pending_off = 0;
        c->pending_len = (size_t)n;
        rc = flush(c);
        if (rc < 0) {
            drop(ep, c);
            return;
        }
        if (rc == 1) { /* park the rest; stop reading until it is out */
            if (want_out(ep, c, 1) != 0)
                drop(ep, c);
            return;
        }
    }
}

int main(int argc, char **argv)
{
    int port = 7000;
    const char *host = "0.0.0.0";
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && !strcmp(argv[i], "--port"))
            port = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--host"))
            host = argv[++i];
        else {
            fprintf(stderr, "usage: epoll_echo_server [--port 7000] [--host 0.0.0.0]\n");
            return 2;
        }
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct sockaddr_storage ss;
    socklen_t sslen;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        sslen = sizeof *sin;
    } else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        sslen = sizeof *sin6;
    } else {
        fprintf(stderr, "epoll_echo_server: \"%s\" is not a numeric address\n", host);
        return 2;
    }
    int lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(lfd, (struct sockaddr *)&ss, sslen) != 0 || listen(lfd, 511) != 0) {
        fprintf(stderr, "epoll_echo_server: cannot listen on %s port %d: %s\n", host, port, strerror(errno));
        return 1;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
    printf("epoll_echo_server: 1 thread, edge-triggered epoll, listening on %s:%d\n", host, port);
    fflush(stdout);

    struct epoll_event events[256];
    while (!stop) {
        int n = epoll_wait(ep, events, 256, 100);
        for (int i = 0; i < n; i++) {
            conn *c = events[i].data.ptr;
            if (c) {
                serve(ep, c);
                continue;
            }
            for (;;) { /* the listener (level-triggered): take every pending connection */
                int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0) {
                    if (errno == EINTR || errno == ECONNABORTED)
                        continue;
                    break; /* EAGAIN, or EMFILE and friends: try again on the next wake-up */
                }
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                conn *nc = malloc(sizeof *nc);
                if (!nc) {
                    close(fd);
                    continue;
                }
                nc->fd = fd;
                nc->waiting_out = 0;
                nc->pending_off = nc->pending_len = 0;
                nc->prev = NULL;
                nc->next = conns;
                if (conns)
                    conns->prev = nc;
                conns = nc;
                accepted++;
                struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.ptr = nc};
                if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
                    drop(ep, nc);
                    continue;
                }
                serve(ep, nc); /* data may have arrived with the connection */
            }
        }
    }
    while (conns)
        drop(ep, conns);
    close(ep);
    close(lfd);
    printf("epoll_echo_server: stopped; %llu connections served, %llu bytes echoed\n", accepted, bytes_echoed);
    return 0;
}
