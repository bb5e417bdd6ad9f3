/* rp_load: a neutral echo load generator written with plain epoll (not ringport), so every server is
 * measured by the same client.
 *
 *   rp_load --port P [--host 127.0.0.1] [--mode pingpong|throughput] [--connections C] [--size S]
 *           [--duration SEC] [--warmup SEC] [--threads T] [--window BYTES] [--json]
 *
 * pingpong:   each connection sends S bytes, waits for all S back, checks them, repeats. Reports round
 *             trips per second and round-trip latency percentiles.
 * throughput: each connection keeps up to --window bytes in flight in S-byte writes and checks every byte
 *             echoed. Reports MB/s echoed.
 * Any error or mismatch is counted and makes the exit status 1. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HIST_US 100000 /* 1 us buckets up to 100 ms; slower round trips land in the last bucket */

typedef struct options {
    const char *host;
    int port, conns, size, threads, json, throughput;
    double duration, warmup;
    long window;
} options;

typedef struct conn {
    int fd;
    uint64_t sent, recvd;   /* stream offsets (throughput) or bytes of this round (pingpong) */
    uint64_t round_start;
    int want_write;
} conn;

typedef struct worker {
    const options *o;
    int index, nconns;
    conn *conns;
    uint64_t rounds, bytes, errors;
    uint32_t *hist;
    pthread_t thread;
} worker;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static unsigned char pattern(uint64_t offset) { return (unsigned char)(offset * 2654435761u >> 24); }

static int connect_one(const options *o)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)o->port);
    inet_pton(AF_INET, o->host, &sa.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        perror("rp_load: connect");
        exit(1);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static void set_write(int ep, conn *c, int on)
{
    if (c->want_write == on)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0u), .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_write = on;
}

/* pingpong: returns 0 or -1 on error */
static int pp_send(worker *w, conn *c, const unsigned char *msg)
{
    const options *o = w->o;
    while (c->sent < (uint64_t)o->size) {
        ssize_t n = send(c->fd, msg + c->sent, (size_t)o->size - c->sent, MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN ? 1 : -1;
        c->sent += (uint64_t)n;
    }
    return 0;
}

static void *run_worker(void *arg)
{
    worker *w = arg;
    const options *o = w->o;
    int ep = epoll_create1(0);
    size_t bufsize = (size_t)o->size > 65536 ? (size_t)o->size : 65536;
    unsigned char *buf = malloc(bufsize);
    unsigned char *msg = malloc((size_t)o->size);
    unsigned char *out = malloc(65536);
    for (int i = 0; i < o->size; i++)
        msg[i] = pattern((uint64_t)i);
    for (int i = 0; i < w->nconns; i++) {
        conn *c = &w->conns[i];
        c->fd = connect_one(o);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    }
    uint64_t start = now_ns();
    uint64_t measure_from = start + (uint64_t)(o->warmup * 1e9);
    uint64_t end = measure_from + (uint64_t)(o->duration * 1e9);
    for (int i = 0; i < w->nconns; i++) {
        conn *c = &w->conns[i];
        c->round_start = now_ns();
        if (!o->throughput && pp_send(w, c, msg) == 1)
            set_write(ep, c, 1);
        if (o->throughput)
            set_write(ep, c, 1);
    }
    struct epoll_event events[256];
    for (;;) {
        uint64_t t = now_ns();
        if (t >= end)
            break;
        int n = epoll_wait(ep, events, 256, 10);
        t = now_ns();
        int measuring = t >= measure_from;
        for (int i = 0; i < n; i++) {
            conn *c = events[i].data.ptr;
            if (events[i].events & EPOLLIN) {
                for (;;) {
                    size_t want = o->throughput ? bufsize : (size_t)o->size - c->recvd;
                    ssize_t r = recv(c->fd, buf, want, 0);
                    if (r < 0 && errno == EAGAIN)
                        break;
                    if (r <= 0) {
                        fprintf(stderr, "rp_load: connection ended: %s\n", r == 0 ? "eof" : strerror(errno));
                        w->errors++;
                        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                        break;
                    }
                    if (o->throughput) {
                        for (ssize_t k = 0; k < r; k++)
                            if (buf[k] != pattern(c->recvd + (uint64_t)k)) {
                                w->errors++;
                                break;
                            }
                        c->recvd += (uint64_t)r;
                        if (measuring)
                            w->bytes += (uint64_t)r;
                        if (c->sent - c->recvd < (uint64_t)o->window)
                            set_write(ep, c, 1);
                        continue;
                    }
                    if (memcmp(buf, msg + c->recvd, (size_t)r) != 0)
                        w->errors++;
                    c->recvd += (uint64_t)r;
                    if (c->recvd == (uint64_t)o->size) {
                        uint64_t done = now_ns();
                        if (measuring) {
                            uint64_t us = (done - c->round_start) / 1000;
                            w->hist[us < HIST_US ? us : HIST_US - 1]++;
                            w->rounds++;
                            w->bytes += (uint64_t)o->size;
                        }
                        c->sent = c->recvd = 0;
                        c->round_start = done;
                        int rc = pp_send(w, c, msg);
                        if (rc < 0)
                            w->errors++;
                        else if (rc == 1)
                            set_write(ep, c, 1);
                        break;
                    }
                }
            }
            if (events[i].events & EPOLLOUT) {
                if (o->throughput) {
                    while (c->sent - c->recvd < (uint64_t)o->window) {
                        size_t chunk = (size_t)o->size < 65536 ? (size_t)o->size : 65536;
                        for (size_t k = 0; k < chunk; k++)
                            out[k] = pattern(c->sent + k);
                        ssize_t s = send(c->fd, out, chunk, MSG_NOSIGNAL);
                        if (s < 0)
                            break;
                        c->sent += (uint64_t)s;
                    }
                    set_write(ep, c, c->sent - c->recvd < (uint64_t)o->window);
                } else {
                    int rc = pp_send(w, c, msg);
                    if (rc < 0)
                        w->errors++;
                    set_write(ep, c, rc == 1);
                }
            }
            if (events[i].events & (EPOLLERR | EPOLLHUP)) {
                w->errors++;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            }
        }
    }
    for (int i = 0; i < w->nconns; i++)
        close(w->conns[i].fd);
    close(ep);
    free(buf);
    free(msg);
    free(out);
    return NULL;
}

static double percentile(const uint64_t *hist, uint64_t total, double p)
{
    uint64_t target = (uint64_t)(p * (double)total), acc = 0;
    for (int i = 0; i < HIST_US; i++) {
        acc += hist[i];
        if (acc > target)
            return i;
    }
    return HIST_US;
}

int main(int argc, char **argv)
{
    options o = {"127.0.0.1", 7000, 1, 64, 1, 0, 0, 5.0, 1.0, 262144};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--json")) { o.json = 1; continue; }
        if (!v) { fprintf(stderr, "missing value for %s\n", a); return 2; }
        if (!strcmp(a, "--host")) o.host = v;
        else if (!strcmp(a, "--port")) o.port = atoi(v);
        else if (!strcmp(a, "--mode")) o.throughput = !strcmp(v, "throughput");
        else if (!strcmp(a, "--connections")) o.conns = atoi(v);
        else if (!strcmp(a, "--size")) o.size = atoi(v);
        else if (!strcmp(a, "--duration")) o.duration = atof(v);
        else if (!strcmp(a, "--warmup")) o.warmup = atof(v);
        else if (!strcmp(a, "--threads")) o.threads = atoi(v);
        else if (!strcmp(a, "--window")) o.window = atol(v);
        else { fprintf(stderr, "unknown option %s\n", a); return 2; }
        i++;
    }
    if (o.conns < 1 || o.size < 1 || o.threads < 1 || o.threads > o.conns || o.duration <= 0) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    worker *ws = calloc((size_t)o.threads, sizeof *ws);
    for (int t = 0; t < o.threads; t++) {
        ws[t].o = &o;
        ws[t].index = t;
        ws[t].nconns = o.conns / o.threads + (t < o.conns % o.threads);
        ws[t].conns = calloc((size_t)ws[t].nconns, sizeof(conn));
        ws[t].hist = calloc(HIST_US, sizeof(uint32_t));
        pthread_create(&ws[t].thread, NULL, run_worker, &ws[t]);
    }
    uint64_t rounds = 0, bytes = 0, errors = 0;
    uint64_t *hist = calloc(HIST_US, sizeof *hist);
    for (int t = 0; t < o.threads; t++) {
        pthread_join(ws[t].thread, NULL);
        rounds += ws[t].rounds;
        bytes += ws[t].bytes;
        errors += ws[t].errors;
        for (int i = 0; i < HIST_US; i++)
            hist[i] += ws[t].hist[i];
        free(ws[t].conns);
        free(ws[t].hist);
    }
    double rps = (double)rounds / o.duration, mbps = (double)bytes / o.duration / 1e6;
    double p50 = percentile(hist, rounds, 0.50), p99 = percentile(hist, rounds, 0.99),
           p999 = percentile(hist, rounds, 0.999);
    if (o.json)
        printf("{\"mode\":\"%s\",\"connections\":%d,\"size\":%d,\"requests_per_s\":%.0f,\"mb_per_s\":%.1f,"
               "\"p50_us\":%.0f,\"p99_us\":%.0f,\"p999_us\":%.0f,\"errors\":%llu}\n",
               o.throughput ? "throughput" : "pingpong", o.conns, o.size, rps, mbps, p50, p99, p999,
               (unsigned long long)errors);
    else if (o.throughput)
        printf("throughput: %d connections, %d B writes: %.1f MB/s echoed, %llu errors\n", o.conns, o.size, mbps,
               (unsigned long long)errors);
    else
        printf("pingpong: %d connections, %d B: %.0f round trips/s, p50 %.0f us, p99 %.0f us, p99.9 %.0f us, "
               "%llu errors\n",
               o.conns, o.size, rps, p50, p99, p999, (unsigned long long)errors);
    free(hist);
    free(ws);
    return errors ? 1 : 0;
}
