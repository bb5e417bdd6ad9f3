/* file_send: how fast a file goes out over TCP, by four servers in one process: two hand-written io_uring
 * ones (a POLL_ADD for writability then a non-blocking sendfile, and IORING_OP_SPLICE file -> pipe ->
 * socket with a pipe per connection), and ringport's rp_sendfile on io_uring and on epoll. It settles which
 * way ringport's io_uring backend sends files (docs/architecture.md, "Sending files").
 *
 *   file_send --mode poll-sendfile|splice|rp-io_uring|rp-epoll [--conns 50] [--size 1048576] [--repeat 200]
 *
 * C loopback connections; each server connection sends the file R times; one reader thread (epoll) reads
 * and counts everything (a byte count, not the content: tests check content). Prints one line: the mode,
 * seconds, GB/s, files/s and the server's CPU time per file (the process's CPU minus the reader's), so a
 * client-bound run still compares the servers. bench/file_send.sh alternates the modes and takes medians. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ringport.h"

static int conns = 50, repeat = 200;
static size_t size = 1u << 20;
static int file_fd = -1;
static uint64_t total_bytes;
static double reader_cpu;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(int who)
{
    struct rusage ru;
    getrusage(who, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

/* ---- the reader: every client connection, through one epoll ---- */
static int *client_fds;

static void *reader(void *arg)
{
    (void)arg;
    int ep = epoll_create1(0);
    for (int i = 0; i < conns; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = client_fds[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, client_fds[i], &ev);
    }
    static char buf[1 << 18];
    uint64_t got = 0;
    struct epoll_event evs[64];
    while (got < total_bytes) {
        int n = epoll_wait(ep, evs, 64, 10000);
        if (n <= 0) {
            fprintf(stderr, "file_send: the reader waited 10 s for data (%llu of %llu bytes)\n",
                    (unsigned long long)got, (unsigned long long)total_bytes);
            exit(1);
        }
        for (int i = 0; i < n; i++) {
            ssize_t r;
            while ((r = recv(evs[i].data.fd, buf, sizeof buf, MSG_DONTWAIT)) > 0)
                got += (uint64_t)r;
        }
    }
    reader_cpu = cpu_s(RUSAGE_THREAD);
    close(ep);
    return NULL;
}

/* ---- loopback connections for the hand-written servers ---- */
static int listen_loopback(uint16_t *port)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 4096) != 0 ||
        getsockname(l, (struct sockaddr *)&a, &len) != 0)
        die("listen");
    *port = ntohs(a.sin_port);
    return l;
}

static int connect_loopback(uint16_t port)
{
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a) != 0)
        die("connect");
    return c;
}

/* ---- hand-written io_uring servers ---- */
typedef struct hconn {
    int fd, pipe_r, pipe_w;
    int left;        /* files still to send */
    size_t off;      /* into the current file */
    size_t in_pipe;  /* splice: bytes in the pipe, not yet on the socket */
} hconn;

enum { OP_POLL = 1, OP_TO_PIPE = 2, OP_TO_SOCK = 3 };

static struct io_uring_sqe *sqe_get(struct io_uring *ring)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    if (!sqe) {
        io_uring_submit(ring);
        sqe = io_uring_get_sqe(ring);
    }
    return sqe;
}

static void set_data(struct io_uring_sqe *sqe, int conn, int op) { io_uring_sqe_set_data64(sqe, (uint64_t)conn << 8 | (uint64_t)op); }

/* poll-sendfile: non-blocking sendfile until EAGAIN, then a POLLOUT poll. Returns 1 when all is sent. */
static int sendfile_run(struct io_uring *ring, hconn *c, int i)
{
    while (c->left > 0) {
        off_t o = (off_t)c->off;
        ssize_t n = sendfile(c->fd, file_fd, &o, size - c->off);
        if (n < 0 && errno == EAGAIN) {
            struct io_uring_sqe *sqe = sqe_get(ring);
            io_uring_prep_poll_add(sqe, c->fd, POLLOUT);
            set_data(sqe, i, OP_POLL);
            return 0;
        }
        if (n <= 0)
            die("sendfile");
        c->off += (size_t)n;
        if (c->off == size) {
            c->off = 0;
            c->left--;
        }
    }
    return 1;
}

/* splice: file -> pipe (at most the pipe's 64 KiB), then pipe -> socket, one request each. */
static void splice_next(struct io_uring *ring, hconn *c, int i)
{
    struct io_uring_sqe *sqe = sqe_get(ring);
    if (c->in_pipe) {
        io_uring_prep_splice(sqe, c->pipe_r, -1, c->fd, -1, (unsigned)c->in_pipe, SPLICE_F_MOVE);
        set_data(sqe, i, OP_TO_SOCK);
    } else {
        size_t len = size - c->off < 65536 ? size - c->off : 65536;
        io_uring_prep_splice(sqe, file_fd, (int64_t)c->off, c->pipe_w, -1, (unsigned)len, SPLICE_F_MOVE);
        set_data(sqe, i, OP_TO_PIPE);
    }
}

static void hand_written(int splice_mode, int listener)
{
    hconn *cs = calloc((size_t)conns, sizeof *cs);
    for (int i = 0; i < conns; i++) {
        cs[i].fd = accept(listener, NULL, NULL);
        if (cs[i].fd < 0)
            die("accept");
        int one = 1;
        setsockopt(cs[i].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (!splice_mode) /* sendfile must not block; io_uring's SPLICE waits in io-wq on a blocking socket */
            fcntl(cs[i].fd, F_SETFL, O_NONBLOCK);
        cs[i].left = repeat;
        int p[2];
        if (splice_mode && pipe(p) != 0)
            die("pipe (raise the pipe-user-pages limits for this many connections)");
        cs[i].pipe_r = splice_mode ? p[0] : -1;
        cs[i].pipe_w = splice_mode ? p[1] : -1;
    }
    struct io_uring ring;
    if (io_uring_queue_init(4096, &ring, 0) != 0)
        die("io_uring_queue_init");
    int done = 0;
    for (int i = 0; i < conns; i++) {
        if (splice_mode)
            splice_next(&ring, &cs[i], i);
        else
            done += sendfile_run(&ring, &cs[i], i);
    }
    while (done < conns) {
        io_uring_submit_and_wait(&ring, 1);
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe)
        {
            seen++;
            int i = (int)(cqe->user_data >> 8), op = (int)(cqe->user_data & 0xff), res = cqe->res;
            hconn *c = &cs[i];
            if (op == OP_POLL) {
                done += sendfile_run(&ring, c, i);
                continue;
            }
            if (res < 0) {
                errno = -res;
                die("splice");
            }
            if (op == OP_TO_PIPE) {
                c->in_pipe = (size_t)res;
                c->off += (size_t)res;
            } else {
                c->in_pipe -= (size_t)res;
                if (!c->in_pipe && c->off == size) {
                    c->off = 0;
                    if (--c->left == 0) {
                        done++;
                        continue;
                    }
                }
            }
            splice_next(&ring, c, i);
        }
        io_uring_cq_advance(&ring, seen);
    }
    io_uring_queue_exit(&ring);
    for (int i = 0; i < conns; i++) {
        close(cs[i].fd);
        if (splice_mode) {
            close(cs[i].pipe_r);
            close(cs[i].pipe_w);
        }
    }
    free(cs);
}

/* ---- ringport ---- */
typedef struct rconn {
    rp_op op;
    rp_socket s;
    int left;
} rconn;

static rp_loop *loop;
static int rp_done; /* under rp_mu */
static pthread_mutex_t rp_mu = PTHREAD_MUTEX_INITIALIZER;

static void on_sent(rp_op *op)
{
    rconn *c = op->user;
    if (op->result != (int64_t)size) {
        fprintf(stderr, "file_send: rp_sendfile: %s\n", op->result < 0 ? rp_strerror((int)op->result) : "short");
        exit(1);
    }
    if (--c->left > 0) {
        int err = rp_sendfile(loop, &c->op, c->s, file_fd, 0, size, NULL, NULL, 0);
        if (err) {
            fprintf(stderr, "file_send: rp_sendfile: %s\n", rp_strerror(err));
            exit(1);
        }
        return;
    }
    pthread_mutex_lock(&rp_mu);
    rp_done++;
    pthread_mutex_unlock(&rp_mu);
}

static int accepted_n; /* under rp_mu */
static rconn *rcs;
static void on_accept(rp_op *op)
{
    if (op->result == RP_ECANCELED)
        return; /* every connection is in */
    if (op->result != 0) {
        fprintf(stderr, "file_send: rp_accept: %s\n", rp_strerror((int)op->result));
        exit(1);
    }
    pthread_mutex_lock(&rp_mu);
    rcs[accepted_n++].s = op->socket;
    pthread_mutex_unlock(&rp_mu);
}

/* Waits until *count (under rp_mu) reaches conns. */
static void wait_for_all(const int *count)
{
    for (;;) {
        pthread_mutex_lock(&rp_mu);
        int n = *count;
        pthread_mutex_unlock(&rp_mu);
        if (n == conns)
            return;
        usleep(1000);
    }
}

int main(int argc, char **argv)
{
    const char *mode = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mode") && i + 1 < argc)
            mode = argv[++i];
        else if (!strcmp(argv[i], "--conns") && i + 1 < argc)
            conns = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--size") && i + 1 < argc)
            size = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: file_send --mode poll-sendfile|splice|rp-io_uring|rp-epoll [--conns N] [--size "
                            "BYTES] [--repeat R]\n");
            return 2;
        }
    }
    if (!mode || conns < 1 || repeat < 1 || size < 1) {
        fprintf(stderr, "file_send: --mode is needed; --conns, --size and --repeat must be positive\n");
        return 2;
    }
    char path[] = "/tmp/file_send.XXXXXX";
    file_fd = mkstemp(path);
    if (file_fd < 0)
        die("mkstemp");
    unlink(path);
    char *chunk = malloc(65536);
    memset(chunk, 'f', 65536);
    for (size_t at = 0; at < size; at += 65536)
        if (write(file_fd, chunk, size - at < 65536 ? size - at : 65536) < 0)
            die("write");
    free(chunk);
    total_bytes = (uint64_t)conns * (uint64_t)repeat * size;
    client_fds = calloc((size_t)conns, sizeof *client_fds);

    int rp_mode = !strncmp(mode, "rp-", 3);
    uint16_t port;
    int listener = -1;
    if (rp_mode) {
        rp_loop_options o;
        rp_loop_options_init(&o);
        o.backend = !strcmp(mode, "rp-io_uring") ? RP_BACKEND_IO_URING : RP_BACKEND_EPOLL;
        o.workers = 1;
        if (rp_loop_create(&loop, &o) != 0) {
            fprintf(stderr, "file_send: cannot run %s\n", mode);
            return 1;
        }
        rp_addr a;
        rp_addr_parse(&a, "127.0.0.1", 0);
        rp_socket ls;
        if (rp_listen(loop, &ls, &a, NULL) != 0 || rp_socket_local_addr(loop, ls, &a) != 0)
            die("rp_listen");
        port = a.port;
        rcs = calloc((size_t)conns, sizeof *rcs);
        static rp_op acc;
        rp_op_init(&acc, on_accept, NULL);
        if (rp_accept(loop, &acc, ls, RP_ACCEPT_MULTISHOT) != 0)
            die("rp_accept");
        for (int i = 0; i < conns; i++)
            client_fds[i] = connect_loopback(port);
        wait_for_all(&accepted_n);
        rp_cancel(loop, &acc);
    } else {
        if (strcmp(mode, "poll-sendfile") && strcmp(mode, "splice")) {
            fprintf(stderr, "file_send: unknown mode %s\n", mode);
            return 2;
        }
        listener = listen_loopback(&port);
        for (int i = 0; i < conns; i++)
            client_fds[i] = connect_loopback(port);
    }

    double cpu0 = cpu_s(RUSAGE_SELF), t0 = now_s();
    pthread_t rt;
    pthread_create(&rt, NULL, reader, NULL);
    if (rp_mode) {
        for (int i = 0; i < conns; i++) {
            rcs[i].left = repeat;
            rp_op_init(&rcs[i].op, on_sent, &rcs[i]);
            if (rp_sendfile(loop, &rcs[i].op, rcs[i].s, file_fd, 0, size, NULL, NULL, 0) != 0)
                die("rp_sendfile");
        }
    } else {
        hand_written(!strcmp(mode, "splice"), listener);
    }
    pthread_join(rt, NULL);
    double secs = now_s() - t0, cpu = cpu_s(RUSAGE_SELF) - cpu0 - reader_cpu;
    if (rp_mode) {
        wait_for_all(&rp_done);
        rp_loop_destroy(loop);
    }
    double files = (double)conns * repeat;
    printf("%s conns %d size %zu: %.3f s, %.2f GB/s, %.0f files/s, server CPU %.1f us/file\n", mode, conns, size, secs,
           (double)total_bytes / secs / 1e9, files / secs, cpu / files * 1e6);
    return 0;
}
