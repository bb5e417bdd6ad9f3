/* The hand-written baseline of the UDP comparison: no library, one thread, one socket. Linux only.
 *
 *   mmsg_udp_echo_server [--port 7000] [--host 0.0.0.0] [--batch N (64)]
 *
 * One non-blocking UDP socket registered edge-triggered with epoll (EPOLLIN | EPOLLOUT | EPOLLET). On
 * readiness: recvmmsg batches of up to --batch datagrams into fixed buffers (DGRAM_MAX bytes each, like
 * samples/udp_echo_server's default), then ONE sendmmsg per batch sends each datagram back to its source
 * from the same buffer. A short batch means the socket is empty: the next datagram brings a new edge, so
 * no recvmmsg is spent on EAGAIN. A partial sendmmsg continues with the rest; a datagram the kernel
 * refuses (sendmmsg fails on the first of the rest: EINVAL, EACCES, ...) is counted and skipped; EAGAIN
 * keeps the rest of the batch pending and stops reading until an EPOLLOUT edge (so the fixed buffers are
 * not overwritten). A truncated datagram (MSG_TRUNC) is counted and not echoed. SIGINT/SIGTERM stop it
 * and it prints what it served. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define DGRAM_MAX 2048
#define BATCH_MAX 1024

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int fd;
static size_t batch = 64;
static unsigned char *bufs;
static struct mmsghdr *rmsg, *smsg;
static struct iovec *riov, *siov;
static struct sockaddr_storage *peers;
static size_t pend_off, pend_count; /* smsg[pend_off .. pend_count) wait for EPOLLOUT */
static unsigned long long received, echoed, send_errors, truncated, recv_errors, batches, eagain;

/* Sends smsg[pend_off .. pend_count). Returns 1 when all went (or were refused), 0 on EAGAIN. */
static int flush(void)
{
    while (pend_off < pend_count) {
        int n = sendmmsg(fd, smsg + pend_off, (unsigned)(pend_count - pend_off), 0);
        if (n > 0) {
            echoed += (unsigned long long)n;
            pend_off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            eagain++;
            return 0;
        } else {
            send_errors++; /* the first of the rest was refused: skip it, the others still go */
            pend_off++;
        }
    }
    pend_off = pend_count = 0;
    return 1;
}

static void receive_all(void)
{
    while (!stop) {
        for (size_t i = 0; i < batch; i++) {
            riov[i].iov_base = bufs + i * DGRAM_MAX;
            riov[i].iov_len = DGRAM_MAX;
            memset(&rmsg[i].msg_hdr, 0, sizeof rmsg[i].msg_hdr);
            rmsg[i].msg_hdr.msg_name = &peers[i];
            rmsg[i].msg_hdr.msg_namelen = sizeof peers[i];
            rmsg[i].msg_hdr.msg_iov = &riov[i];
            rmsg[i].msg_hdr.msg_iovlen = 1;
        }
        int n = recvmmsg(fd, rmsg, (unsigned)batch, MSG_DONTWAIT, NULL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                recv_errors++; /* e.g. a queued ICMP error: not fatal, and the edge is consumed */
            return;
        }
        batches++;
        received += (unsigned long long)n;
        size_t k = 0;
        for (int i = 0; i < n; i++) {
            if (rmsg[i].msg_hdr.msg_flags & MSG_TRUNC) {
                truncated++;
                continue;
            }
            siov[k].iov_base = riov[i].iov_base;
            siov[k].iov_len = rmsg[i].msg_len;
            memset(&smsg[k].msg_hdr, 0, sizeof smsg[k].msg_hdr);
            smsg[k].msg_hdr.msg_name = &peers[i];
            smsg[k].msg_hdr.msg_namelen = rmsg[i].msg_hdr.msg_namelen;
            smsg[k].msg_hdr.msg_iov = &siov[k];
            smsg[k].msg_hdr.msg_iovlen = 1;
            k++;
        }
        pend_off = 0;
        pend_count = k;
        if (!flush())
            return; /* the rest waits for EPOLLOUT; reading resumes after it */
        if ((size_t)n < batch)
            return; /* the socket was emptied: the next datagram is a new edge */
    }
}

static void usage(void) { fprintf(stderr, "usage: mmsg_udp_echo_server [--port 7000] [--host 0.0.0.0] [--batch N (64)]\n"); }

int main(int argc, char **argv)
{
    long port = 7000;
    const char *host = "0.0.0.0";
    for (int i = 1; i < argc; i++) {
        char *end;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage();
            return 0;
        } else if (i + 1 < argc && !strcmp(argv[i], "--port")) {
            port = strtol(argv[++i], &end, 10);
            if (*end || end == argv[i] || port < 0 || port > 65535) {
                fprintf(stderr, "mmsg_udp_echo_server: --port expects 0 .. 65535, got \"%s\"\n", argv[i]);
                return 2;
            }
        } else if (i + 1 < argc && !strcmp(argv[i], "--batch")) {
            long b = strtol(argv[++i], &end, 10);
            if (*end || end == argv[i] || b < 1 || b > BATCH_MAX) {
                fprintf(stderr, "mmsg_udp_echo_server: --batch expects 1 .. %d, got \"%s\"\n", BATCH_MAX, argv[i]);
                return 2;
            }
            batch = (size_t)b;
        } else if (i + 1 < argc && !strcmp(argv[i], "--host")) {
            host = argv[++i];
        } else {
            fprintf(stderr, "mmsg_udp_echo_server: unknown option or missing value: %s\n", argv[i]);
            usage();
            return 2;
        }
    }
    struct sockaddr_storage addr;
    socklen_t alen;
    memset(&addr, 0, sizeof addr);
    if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&addr)->sin_addr) == 1) {
        struct sockaddr_in *a = (struct sockaddr_in *)&addr;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        alen = sizeof *a;
    } else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&addr)->sin6_addr) == 1) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&addr;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        alen = sizeof *a;
    } else {
        fprintf(stderr, "mmsg_udp_echo_server: \"%s\" is not a numeric IPv4 or IPv6 address\n", host);
        return 2;
    }
    bufs = malloc(batch * DGRAM_MAX);
    rmsg = calloc(batch, sizeof *rmsg);
    smsg = calloc(batch, sizeof *smsg);
    riov = calloc(batch, sizeof *riov);
    siov = calloc(batch, sizeof *siov);
    peers = calloc(batch, sizeof *peers);
    if (!bufs || !rmsg || !smsg || !riov || !siov || !peers) {
        fprintf(stderr, "mmsg_udp_echo_server: out of memory\n");
        return 1;
    }
    fd = socket(addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, alen) != 0) {
        fprintf(stderr, "mmsg_udp_echo_server: cannot bind %s port %ld: %s\n", host, port, strerror(errno));
        return 1;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.fd = fd};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        fprintf(stderr, "mmsg_udp_echo_server: epoll: %s\n", strerror(errno));
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    printf("mmsg_udp_echo_server: epoll (edge-triggered), recvmmsg/sendmmsg batches of %zu, %d B buffers, listening "
           "on %s:%ld\n",
           batch, DGRAM_MAX, host, port);
    fflush(stdout);

    while (!stop) {
        struct epoll_event evs[4];
        int n = epoll_wait(ep, evs, 4, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "mmsg_udp_echo_server: epoll_wait: %s\n", strerror(errno));
            return 1;
        }
        int readable = 0, writable = 0;
        for (int i = 0; i < n; i++) {
            readable |= (evs[i].events & (EPOLLIN | EPOLLERR)) != 0;
            writable |= (evs[i].events & (EPOLLOUT | EPOLLERR)) != 0;
        }
        if (pend_count) {
            if (!writable || !flush())
                continue; /* still full: wait for the next EPOLLOUT edge */
            readable = 1; /* reading stopped while the batch waited: data may have come meanwhile */
        }
        if (readable)
            receive_all();
    }
    close(ep);
    close(fd);
    printf("mmsg_udp_echo_server: stopped; %llu datagrams received in %llu batches, %llu echoed, %llu send errors, "
           "%llu truncated, %llu receive errors, %llu EAGAIN on send\n",
           received, batches, echoed, send_errors, truncated, recv_errors, eagain);
    free(bufs);
    free(rmsg);
    free(smsg);
    free(riov);
    free(siov);
    free(peers);
    return 0;
}
