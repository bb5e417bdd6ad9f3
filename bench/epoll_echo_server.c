/* A hand-written single-threaded epoll echo server: the "no library at all" baseline. Edge-triggered,
 * read until EAGAIN, echo at once, park the rest and wait for EPOLLOUT when the peer is slow.
 *   epoll_echo_server [--port 7000] */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF 65536

typedef struct conn {
    int fd;
    size_t pending_off, pending_len; /* bytes of buf still to write */
    char buf[BUF];
} conn;

static volatile sig_atomic_t stop;
static void on_signal(int s) { (void)s; stop = 1; }

static void drop(int ep, conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c);
}

/* Returns 0 when everything pending is written, 1 when the socket is full, -1 on error. */
static int flush(conn *c)
{
    while (c->pending_len) {
        ssize_t n = send(c->fd, c->buf + c->pending_off, c->pending_len, MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN ? 1 : -1;
        c->pending_off += (size_t)n;
        c->pending_len -= (size_t)n;
    }
    return 0;
}

static void serve(int ep, conn *c, uint32_t events)
{
    if (events & EPOLLOUT) {
        int rc = flush(c);
        if (rc < 0) {
            drop(ep, c);
            return;
        }
        if (rc == 1)
            return;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    }
    while (!c->pending_len) {
        ssize_t n = recv(c->fd, c->buf, BUF, 0);
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            drop(ep, c);
            return;
        }
        c->pending_off = 0;
        c->pending_len = (size_t)n;
        int rc = flush(c);
        if (rc < 0) {
            drop(ep, c);
            return;
        }
        if (rc == 1) {
            struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c};
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            return;
        }
    }
}

int main(int argc, char **argv)
{
    int port = 7000;
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--port"))
            port = atoi(argv[i + 1]);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, 511) != 0) {
        perror("epoll_echo_server");
        return 1;
    }
    int ep = epoll_create1(0);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
    printf("epoll_echo_server: listening on port %d\n", port);
    fflush(stdout);
    struct epoll_event events[256];
    while (!stop) {
        int n = epoll_wait(ep, events, 256, 100);
        for (int i = 0; i < n; i++) {
            if (events[i].data.ptr == NULL) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    conn *c = calloc(1, sizeof *c);
                    c->fd = fd;
                    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                    serve(ep, c, 0);
                }
                continue;
            }
            serve(ep, events[i].data.ptr, events[i].events);
        }
    }
    close(ep);
    close(lfd);
    return 0;
}
