/* The hand-written io_uring baseline: a single-threaded echo server on liburing with no library of ours.
 *
 *   uring_echo_server [--port 7000] [--host 0.0.0.0]
 *
 * One ring (SINGLE_ISSUER | DEFER_TASKRUN where the kernel has them, else COOP_TASKRUN, else plain), a
 * multishot accept (one-shot accepts re-armed on kernels before 5.19), and per connection a 64 KiB buffer
 * with one request in flight: a RECV into the buffer, then SENDs until the chunk is written back, then the
 * next RECV (the same discipline as the other servers of the comparison). Completions are reaped in
 * batches and new requests go in with the next submit-and-wait. SIGINT/SIGTERM stop it: every connection is
 * closed and freed and it prints what it served. Linux only. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <liburing.h>

#define CONN_BUF_SIZE (64 * 1024)
#define RING_DEPTH 4096
#define ACCEPT_TAG ((uint64_t)1) /* user_data of the accept; connections are pointers (aligned) */

typedef struct conn {
    int fd;
    int sending;                  /* 1: a SEND is in flight, else a RECV */
    size_t off, len;              /* the chunk being written back */
    struct conn *prev, *next;     /* every open connection, to free them at exit */
    char buf[CONN_BUF_SIZE];
} conn;

static volatile sig_atomic_t stop;
static conn *conns;
static unsigned long long accepted, bytes_echoed;
static struct io_uring ring;
static int multishot;

static void on_signal(int s)
{
    (void)s;
    stop = 1;
}

static struct io_uring_sqe *sqe_get(void)
{
    struct io_uring_sqe *sqe;
    while (!(sqe = io_uring_get_sqe(&ring)))
        io_uring_submit(&ring);
    return sqe;
}

static void arm_accept(int lfd)
{
    struct io_uring_sqe *sqe = sqe_get();
    if (multishot)
        io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
    else
        io_uring_prep_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, ACCEPT_TAG);
}

static void arm_recv(conn *c)
{
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_recv(sqe, c->fd, c->buf, sizeof c->buf, 0);
    io_uring_sqe_set_data(sqe, c);
    c->sending = 0;
}

static void arm_send(conn *c)
{
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_send(sqe, c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
    io_uring_sqe_set_data(sqe, c);
    c->sending = 1;
}

static void drop(conn *c)
{
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
}

static void on_conn(conn *c, int res)
{
    if (res == -EINTR || res == -EAGAIN) { /* try the same request again */
        if (c->sending)
            arm_send(c);
        else
            arm_recv(c);
        return;
    }
    if (res <= 0 && !(c->sending && res == 0)) { /* end of stream or error */
        drop(c);
        return;
    }
    if (!c->sending) {
        bytes_echoed += (unsigned long long)res;
        c->off = 0;
        c->len = (size_t)res;
        arm_send(c);
        return;
    }
    c->off += (size_t)res;
    if (c->off < c->len)
        arm_send(c); /* short write: the rest */
    else
        arm_recv(c);
}

static void on_accept(int lfd, int res, unsigned flags)
{
    if (!(flags & IORING_CQE_F_MORE))
        arm_accept(lfd); /* one-shot, or the kernel ended the multishot (e.g. EMFILE): re-arm */
    if (res < 0)
        return;
    int one = 1;
    setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conn *c = malloc(sizeof *c);
    if (!c) {
        close(res);
        return;
    }
    c->fd = res;
    c->prev = NULL;
    c->next = conns;
    if (conns)
        conns->prev = c;
    conns = c;
    accepted++;
    arm_recv(c);
}

static int ring_init(void)
{
    struct io_uring_params p;
    static const unsigned setups[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
        IORING_SETUP_COOP_TASKRUN, 0};
    int rc = -EINVAL;
    for (size_t i = 0; i < sizeof setups / sizeof setups[0] && rc < 0; i++) {
        memset(&p, 0, sizeof p);
        p.flags = setups[i] | IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
        p.cq_entries = RING_DEPTH * 4;
        rc = io_uring_queue_init_params(RING_DEPTH, &ring, &p);
    }
    if (rc < 0)
        return rc;
    struct io_uring_probe *probe = io_uring_get_probe_ring(&ring);
    /* Multishot accept came with 5.19, as did IORING_OP_SOCKET: a cheap way to tell. */
    multishot = probe && io_uring_opcode_supported(probe, IORING_OP_SOCKET);
    if (probe)
        io_uring_free_probe(probe);
    return 0;
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
            fprintf(stderr, "usage: uring_echo_server [--port 7000] [--host 0.0.0.0]\n");
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
        fprintf(stderr, "uring_echo_server: \"%s\" is not a numeric address\n", host);
        return 2;
    }
    int lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(lfd, (struct sockaddr *)&ss, sslen) != 0 || listen(lfd, 511) != 0) {
        fprintf(stderr, "uring_echo_server: cannot listen on %s port %d: %s\n", host, port, strerror(errno));
        return 1;
    }
    int rc = ring_init();
    if (rc < 0) {
        fprintf(stderr, "uring_echo_server: io_uring_setup: %s\n", strerror(-rc));
        return 1;
    }
    arm_accept(lfd);
    printf("uring_echo_server: 1 thread, io_uring (%s accept), listening on %s:%d\n",
           multishot ? "multishot" : "one-shot", host, port);
    fflush(stdout);

    struct __kernel_timespec tick = {.tv_sec = 0, .tv_nsec = 100000000}; /* look at the stop flag */
    struct io_uring_cqe *cqes[256];
    while (!stop) {
        struct io_uring_cqe *cqe;
        rc = io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &tick, NULL);
        if (rc < 0 && rc != -ETIME && rc != -EINTR) {
            fprintf(stderr, "uring_echo_server: io_uring_enter: %s\n", strerror(-rc));
            break;
        }
        unsigned n;
        while ((n = io_uring_peek_batch_cqe(&ring, cqes, 256)) > 0) {
            for (unsigned i = 0; i < n; i++) {
                uint64_t data = io_uring_cqe_get_data64(cqes[i]);
                if (data == ACCEPT_TAG)
                    on_accept(lfd, cqes[i]->res, cqes[i]->flags);
                else
                    on_conn((conn *)(uintptr_t)data, cqes[i]->res);
            }
            io_uring_cq_advance(&ring, n);
        }
    }
    /* Closing the ring first cancels every request in flight, so no completion can reach a freed conn. */
    io_uring_queue_exit(&ring);
    while (conns)
        drop(conns);
    close(lfd);
    printf("uring_echo_server: stopped; %llu connections served, %llu bytes echoed\n", accepted, bytes_echoed);
    return 0;
}
