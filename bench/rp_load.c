/* rp_load: a neutral echo load generator written with plain epoll (not ringport), so that every server is
 * measured by the same client. Linux only.
 *
 *   rp_load --port P [--host 127.0.0.1] [--mode pingpong|throughput] [--connections C (1)] [--size S (64)]
 *           [--duration SEC (5)] [--warmup SEC (1)] [--threads T (1)] [--window BYTES (262144)] [--json]
 *
 * pingpong    Each connection sends one message of S bytes, waits until all S bytes came back, checks them,
 *             and sends the next. Reports round trips per second and round-trip latency percentiles
 *             (microseconds, from a log-linear histogram with 1.6 % resolution).
 * throughput  Each connection keeps up to --window bytes in flight, written in chunks of S bytes, and reads
 *             the echo as it comes. Reports MB/s echoed (10^6 bytes per second received back).
 *
 * Every echoed byte is checked: each connection sends a pseudo-random stream that depends on its position
 * in the stream and on the connection, and every received chunk is compared (memcmp) against what was sent
 * at that offset. A stale, reordered, crossed or corrupted echo is a mismatch. Connections are established
 * before the clock starts; nothing completed during --warmup is counted; the measurement then lasts exactly
 * --duration seconds. Errors (mismatch, reset, unexpected end of stream) are counted and reported, and make
 * the exit status 1. --json prints one line of machine-readable results instead of the text summary.
 *
 * Fairness (pingpong): the overall percentiles can hide a server that serves some connections while others
 * wait, so each connection also counts its own round trips and keeps its own latency histogram (coarser:
 * 8 sub-buckets per power of two, 12.5 % resolution). Reported: the min / median / max of the connections'
 * round-trip counts, the median and the worst of their own p99s, "starved" (connections that completed
 * fewer than 10 % of the median count), and the longest any message was still unanswered when the
 * measurement ended (a connection the server ignores completes nothing, so none of the other figures
 * would show its wait). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PERIOD 65521u /* length of the repeating pattern: prime, so no message size lines up with it */
#define RECV_BUF (64u * 1024u)

/* ---- latency histogram: log-linear, 64 sub-buckets per power of two, in nanoseconds ---- */
#define SUB_BITS 6
#define SUB (1u << SUB_BITS)
#define HIST_BUCKETS (SUB * 60u)

/* Per-connection histogram: the same log-linear scheme with 8 sub-buckets per power of two, up to 2^37 ns
 * (137 s, longer waits land in the last bucket), so that thousands of connections each keep one. */
#define CSUB_BITS 3
#define CSUB (1u << CSUB_BITS)
#define CHIST_BUCKETS (CSUB * 36u)

static unsigned hist_index(uint64_t v)
{
    if (v < 2u * SUB)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned e = msb - SUB_BITS;
    unsigned idx = e * SUB + (unsigned)(v >> e);
    return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

static double hist_mid(unsigned idx)
{
    if (idx < 2u * SUB)
        return idx + 0.5;
    unsigned e = idx / SUB - 1u, m = idx - e * SUB;
    return ((double)m + 0.5) * (double)(1ull << e);
}

static unsigned chist_index(uint64_t v)
{
    if (v < 2u * CSUB)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned e = msb - CSUB_BITS;
    unsigned idx = e * CSUB + (unsigned)(v >> e);
    return idx < CHIST_BUCKETS ? idx : CHIST_BUCKETS - 1;
}

static double chist_mid(unsigned idx)
{
    if (idx < 2u * CSUB)
        return idx + 0.5;
    unsigned e = idx / CSUB - 1u, m = idx - e * CSUB;
    return ((double)m + 0.5) * (double)(1ull << e);
}

/* ---- options and state ---- */
typedef struct options {
    const char *host;
    int port, conns, threads, json, throughput;
    size_t size, window;
    double duration, warmup;
} options;

typedef struct conn {
    int fd;
    int alive;
    uint32_t events;   /* the current epoll interest */
    uint64_t seed;     /* where this connection's stream starts in the pattern */
    uint64_t sent;     /* bytes sent so far (stream offset) */
    uint64_t recvd;    /* bytes received and verified so far */
    uint64_t msg_end;  /* pingpong: stream offset where the current message ends */
    uint64_t t_start;  /* pingpong: when the current message was sent */
    uint64_t rounds;   /* pingpong: round trips completed during the measurement */
    uint32_t *hist;    /* pingpong: this connection's latencies (CHIST_BUCKETS), for its own p99 */
} conn;

typedef struct worker {
    const options *o;
    int nconns, first, epfd; /* first: global index of conns[0] */
    conn *conns;
    uint64_t start, measure_from, end;
    uint64_t rounds, bytes, errors, mismatches;
    uint64_t lat_sum, lat_max;
    uint64_t pending_max; /* pingpong: the oldest unanswered message when the measurement ended */
    uint64_t *hist;
    unsigned char *buf;
    pthread_t thread;
} worker;

static unsigned char *pattern; /* PERIOD bytes, then repeated for as long as the longest read or write */
static pthread_barrier_t ready;
static atomic_int setup_failed;
static atomic_int reported;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static const unsigned char *expect(const conn *c, uint64_t offset) { return pattern + (c->seed + offset) % PERIOD; }

static void conn_fail(worker *w, conn *c, const char *why, int err)
{
    if (!c->alive)
        return;
    w->errors++;
    if (atomic_fetch_add(&reported, 1) < 5)
        fprintf(stderr, "rp_load: connection %d: %s%s%s (after %llu bytes echoed)\n", w->first + (int)(c - w->conns),
                why, err ? ": " : "", err ? strerror(err) : "", (unsigned long long)c->recvd);
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    c->alive = 0;
}

static void set_events(worker *w, conn *c, uint32_t events)
{
    if (c->events == events || !c->alive)
        return;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->events = events;
}

/* Writes what the mode allows; asks for EPOLLOUT only while the socket is full. */
static void do_send(worker *w, conn *c)
{
    const options *o = w->o;
    int full = 0;
    for (;;) {
        size_t len;
        if (o->throughput) {
            /* Whole chunks of S bytes, a new one only when it fits in the window. */
            len = o->size - (size_t)(c->sent % o->size);
            if (len == o->size && c->sent - c->recvd + o->size > o->window)
                break;
        } else {
            if (c->sent >= c->msg_end)
                break;
            len = (size_t)(c->msg_end - c->sent);
        }
        ssize_t n = send(c->fd, expect(c, c->sent), len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                full = 1;
                break;
            }
            if (errno == EINTR)
                continue;
            conn_fail(w, c, "send", errno);
            return;
        }
        c->sent += (uint64_t)n;
    }
    set_events(w, c, EPOLLIN | (full ? EPOLLOUT : 0u));
}

static void do_recv(worker *w, conn *c)
{
    const options *o = w->o;
    size_t want = RECV_BUF;
    if (!o->throughput && c->msg_end > c->recvd && c->msg_end - c->recvd < want)
        want = (size_t)(c->msg_end - c->recvd);
    ssize_t r = recv(c->fd, w->buf, want, 0);
    if (r < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            conn_fail(w, c, "recv", errno);
        return;
    }
    if (r == 0) {
        conn_fail(w, c, "the server closed the connection", 0);
        return;
    }
    if (c->recvd + (uint64_t)r > c->sent) {
        w->mismatches++;
        conn_fail(w, c, "more bytes came back than were sent", 0);
        return;
    }
    if (memcmp(w->buf, expect(c, c->recvd), (size_t)r) != 0) {
        w->mismatches++;
        conn_fail(w, c, "echoed bytes differ from those sent", 0);
        return;
    }
    c->recvd += (uint64_t)r;
    uint64_t t = now_ns();
    int measuring = t >= w->measure_from && t < w->end;
    if (o->throughput) {
        if (measuring)
            w->bytes += (uint64_t)r;
        do_send(w, c);
        return;
    }
    if (c->recvd < c->msg_end)
        return;
    if (measuring) {
        uint64_t lat = t - c->t_start;
        w->rounds++;
        w->bytes += o->size;
        w->hist[hist_index(lat)]++;
        w->lat_sum += lat;
        if (lat > w->lat_max)
            w->lat_max = lat;
        c->rounds++;
        c->hist[chist_index(lat)]++;
    }
    c->msg_end += o->size;
    c->t_start = t;
    do_send(w, c);
}

static int connect_one(const struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static struct addrinfo *resolve(const options *o)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    char port[16];
    snprintf(port, sizeof port, "%d", o->port);
    int rc = getaddrinfo(o->host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "rp_load: %s: %s\n", o->host, gai_strerror(rc));
        return NULL;
    }
    return res;
}

static void *run_worker(void *arg)
{
    worker *w = arg;
    const options *o = w->o;
    struct addrinfo *ai = resolve(o);
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    int ok = ai && w->epfd >= 0;
    for (int i = 0; ok && i < w->nconns; i++) {
        conn *c = &w->conns[i];
        c->fd = connect_one(ai);
        if (c->fd < 0) {
            fprintf(stderr, "rp_load: connect to %s port %d (connection %d): %s\n", o->host, o->port, i,
                    strerror(errno));
            ok = 0;
            break;
        }
        c->alive = 1;
        c->events = EPOLLIN;
        c->seed = (uint64_t)(w->first + i) * 7919u % PERIOD; /* a different stream per connection */
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &ev);
    }
    if (ai)
        freeaddrinfo(ai);
    if (!ok)
        atomic_store(&setup_failed, 1);
    pthread_barrier_wait(&ready); /* every connection of every thread is up before the clock starts */
    if (atomic_load(&setup_failed))
        goto out;

    w->start = now_ns();
    w->measure_from = w->start + (uint64_t)(o->warmup * 1e9);
    w->end = w->measure_from + (uint64_t)(o->duration * 1e9);
    for (int i = 0; i < w->nconns; i++) {
        conn *c = &w->conns[i];
        c->msg_end = o->size;
        c->t_start = now_ns();
        do_send(w, c);
    }
    struct epoll_event events[512];
    for (;;) {
        uint64_t t = now_ns();
        if (t >= w->end)
            break;
        uint64_t left_ms = (w->end - t) / 1000000u + 1u;
        int n = epoll_wait(w->epfd, events, 512, left_ms < 100 ? (int)left_ms : 100);
        if (n < 0 && errno != EINTR) {
            perror("rp_load: epoll_wait");
            w->errors++;
            break;
        }
        for (int i = 0; i < n; i++) {
            conn *c = events[i].data.ptr;
            uint32_t ev = events[i].events;
            if (!c->alive)
                continue; /* failed earlier in this batch */
            if (ev & EPOLLIN)
                do_recv(w, c);
            if (c->alive && (ev & EPOLLOUT))
                do_send(w, c);
            if (c->alive && (ev & (EPOLLERR | EPOLLHUP)) && !(ev & EPOLLIN)) {
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
                conn_fail(w, c, "connection error", err);
            }
        }
    }
    if (!o->throughput) {
        /* A message still unanswered at the end: how long it has waited (unbounded by any completion). */
        for (int i = 0; i < w->nconns; i++) {
            const conn *c = &w->conns[i];
            if (c->alive && c->recvd < c->msg_end && w->end > c->t_start && w->end - c->t_start > w->pending_max)
                w->pending_max = w->end - c->t_start;
        }
    }
out:
    for (int i = 0; i < w->nconns; i++)
        if (w->conns[i].fd >= 0)
            close(w->conns[i].fd);
    if (w->epfd >= 0)
        close(w->epfd);
    return NULL;
}

static double percentile_us(const uint64_t *hist, uint64_t total, double p)
{
    if (total == 0)
        return 0;
    uint64_t rank = (uint64_t)(p * (double)total), acc = 0;
    if (rank >= total)
        rank = total - 1;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        acc += hist[i];
        if (acc > rank)
            return hist_mid(i) / 1000.0;
    }
    return hist_mid(HIST_BUCKETS - 1) / 1000.0;
}

/* p (0..1) of one connection's latencies, in microseconds. */
static double conn_percentile_us(const conn *c, double p)
{
    if (c->rounds == 0)
        return 0;
    uint64_t rank = (uint64_t)(p * (double)c->rounds), acc = 0;
    if (rank >= c->rounds)
        rank = c->rounds - 1;
    for (unsigned i = 0; i < CHIST_BUCKETS; i++) {
        acc += c->hist[i];
        if (acc > rank)
            return chist_mid(i) / 1000.0;
    }
    return chist_mid(CHIST_BUCKETS - 1) / 1000.0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The per-connection fairness figures (pingpong), over every connection of every thread. */
typedef struct fairness {
    uint64_t rounds_min, rounds_median, rounds_max, starved;
    double p99_median_us, p99_worst_us;
} fairness;

static int fairness_of(const worker *ws, int nthreads, int nconns, fairness *f)
{
    uint64_t *counts = malloc((size_t)nconns * sizeof *counts);
    double *p99s = malloc((size_t)nconns * sizeof *p99s);
    if (!counts || !p99s) {
        free(counts);
        free(p99s);
        return -1;
    }
    int n = 0;
    for (int t = 0; t < nthreads; t++)
        for (int i = 0; i < ws[t].nconns; i++, n++) {
            counts[n] = ws[t].conns[i].rounds;
            p99s[n] = conn_percentile_us(&ws[t].conns[i], 0.99);
        }
    qsort(counts, (size_t)n, sizeof *counts, cmp_u64);
    qsort(p99s, (size_t)n, sizeof *p99s, cmp_double);
    memset(f, 0, sizeof *f);
    if (n > 0) {
        f->rounds_min = counts[0];
        f->rounds_max = counts[n - 1];
        f->rounds_median = n % 2 ? counts[n / 2] : (counts[n / 2 - 1] + counts[n / 2]) / 2;
        f->p99_median_us = n % 2 ? p99s[n / 2] : (p99s[n / 2 - 1] + p99s[n / 2]) / 2;
        f->p99_worst_us = p99s[n - 1];
        for (int i = 0; i < n; i++)
            if ((double)counts[i] < 0.1 * (double)f->rounds_median)
                f->starved++;
    }
    free(counts);
    free(p99s);
    return 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: rp_load --port P [--host 127.0.0.1] [--mode pingpong|throughput] [--connections C (1)]\n"
            "               [--size BYTES (64)] [--duration SEC (5)] [--warmup SEC (1)] [--threads T (1)]\n"
            "               [--window BYTES (262144, throughput)] [--json]\n");
}

static int parse_num(const char *opt, const char *v, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || d < lo || d > hi) {
        fprintf(stderr, "rp_load: %s: expected a number from %g to %g, got \"%s\"\n", opt, lo, hi, v);
        return -1;
    }
    *out = d;
    return 0;
}

int main(int argc, char **argv)
{
    options o = {.host = "127.0.0.1", .port = 7000, .conns = 1, .threads = 1, .size = 64, .window = 262144,
                 .duration = 5.0, .warmup = 1.0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d = 0;
        int bad = 0;
        if (!strcmp(a, "--json")) {
            o.json = 1;
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage();
            return 0;
        }
        if (!v) {
            fprintf(stderr, "rp_load: %s needs a value\n", a);
            usage();
            return 2;
        }
        i++;
        if (!strcmp(a, "--host"))
            o.host = v;
        else if (!strcmp(a, "--mode")) {
            if (!strcmp(v, "pingpong"))
                o.throughput = 0;
            else if (!strcmp(v, "throughput"))
                o.throughput = 1;
            else {
                fprintf(stderr, "rp_load: --mode is pingpong or throughput\n");
                return 2;
            }
        } else if (!strcmp(a, "--port"))
            bad = parse_num(a, v, 1, 65535, &d) || (o.port = (int)d, 0);
        else if (!strcmp(a, "--connections"))
            bad = parse_num(a, v, 1, 1000000, &d) || (o.conns = (int)d, 0);
        else if (!strcmp(a, "--size"))
            bad = parse_num(a, v, 1, 64 << 20, &d) || (o.size = (size_t)d, 0);
        else if (!strcmp(a, "--duration"))
            bad = parse_num(a, v, 0.01, 86400, &o.duration);
        else if (!strcmp(a, "--warmup"))
            bad = parse_num(a, v, 0, 86400, &o.warmup);
        else if (!strcmp(a, "--threads"))
            bad = parse_num(a, v, 1, 1024, &d) || (o.threads = (int)d, 0);
        else if (!strcmp(a, "--window"))
            bad = parse_num(a, v, 1, 1 << 30, &d) || (o.window = (size_t)d, 0);
        else {
            fprintf(stderr, "rp_load: unknown option %s\n", a);
            usage();
            return 2;
        }
        if (bad)
            return 2;
    }
    if (o.threads > o.conns)
        o.threads = o.conns;
    if (o.throughput && o.window < o.size)
        o.window = o.size; /* at least one chunk in flight */
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    size_t span = o.size > RECV_BUF ? o.size : RECV_BUF;
    pattern = malloc(PERIOD + span);
    if (!pattern) {
        fprintf(stderr, "rp_load: out of memory\n");
        return 1;
    }
    uint64_t x = 0x9E3779B97F4A7C15u;
    for (size_t i = 0; i < PERIOD; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        pattern[i] = (unsigned char)(x >> 24);
    }
    for (size_t i = 0; i < span; i++)
        pattern[PERIOD + i] = pattern[i % PERIOD];

    worker *ws = calloc((size_t)o.threads, sizeof *ws);
    pthread_barrier_init(&ready, NULL, (unsigned)o.threads);
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    for (int t = 0; t < o.threads; t++) {
        worker *w = &ws[t];
        w->o = &o;
        w->epfd = -1;
        w->nconns = o.conns / o.threads + (t < o.conns % o.threads);
        w->first = t == 0 ? 0 : ws[t - 1].first + ws[t - 1].nconns;
        w->conns = calloc((size_t)w->nconns, sizeof(conn));
        w->hist = calloc(HIST_BUCKETS, sizeof(uint64_t));
        w->buf = malloc(RECV_BUF);
        if (!w->conns || !w->hist || !w->buf) {
            fprintf(stderr, "rp_load: out of memory\n");
            return 1;
        }
        for (int i = 0; i < w->nconns; i++) {
            w->conns[i].fd = -1;
            if (!o.throughput && !(w->conns[i].hist = calloc(CHIST_BUCKETS, sizeof(uint32_t)))) {
                fprintf(stderr, "rp_load: out of memory\n");
                return 1;
            }
        }
        pthread_create(&w->thread, NULL, run_worker, w);
    }
    uint64_t rounds = 0, bytes = 0, errors = 0, mismatches = 0, lat_sum = 0, lat_max = 0, pending_max = 0;
    uint64_t *hist = calloc(HIST_BUCKETS, sizeof *hist);
    for (int t = 0; t < o.threads; t++) {
        worker *w = &ws[t];
        pthread_join(w->thread, NULL);
        rounds += w->rounds;
        bytes += w->bytes;
        errors += w->errors;
        mismatches += w->mismatches;
        lat_sum += w->lat_sum;
        if (w->lat_max > lat_max)
            lat_max = w->lat_max;
        if (w->pending_max > pending_max)
            pending_max = w->pending_max;
        for (unsigned i = 0; i < HIST_BUCKETS; i++)
            hist[i] += w->hist[i];
    }
    getrusage(RUSAGE_SELF, &ru1);
    fairness fair;
    if (o.throughput || fairness_of(ws, o.threads, o.conns, &fair) != 0)
        memset(&fair, 0, sizeof fair);
    for (int t = 0; t < o.threads; t++) {
        worker *w = &ws[t];
        for (int i = 0; i < w->nconns; i++)
            free(w->conns[i].hist);
        free(w->conns);
        free(w->hist);
        free(w->buf);
    }
    pthread_barrier_destroy(&ready);
    free(ws);
    free(pattern);
    if (atomic_load(&setup_failed)) {
        free(hist);
        if (o.json)
            printf("{\"mode\":\"%s\",\"error\":\"connect failed\",\"errors\":1}\n",
                   o.throughput ? "throughput" : "pingpong");
        return 1;
    }

    double cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                 (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) /
                     1e6;
    double cpu_pct = 100.0 * cpu / (o.duration + o.warmup) / o.threads; /* per client thread */
    double rps = (double)rounds / o.duration, mbps = (double)bytes / o.duration / 1e6;
    double p50 = percentile_us(hist, rounds, 0.50), p90 = percentile_us(hist, rounds, 0.90),
           p99 = percentile_us(hist, rounds, 0.99), p999 = percentile_us(hist, rounds, 0.999);
    double mean = rounds ? (double)lat_sum / (double)rounds / 1000.0 : 0, max = (double)lat_max / 1000.0;
    free(hist);
    const char *mode = o.throughput ? "throughput" : "pingpong";
    if (o.json) {
        printf("{\"mode\":\"%s\",\"connections\":%d,\"size\":%zu,\"threads\":%d,\"duration_s\":%.3f,"
               "\"requests\":%llu,\"requests_per_s\":%.0f,\"mb_per_s\":%.1f,\"mean_us\":%.1f,\"p50_us\":%.1f,"
               "\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,\"client_cpu_pct\":%.0f,"
               "\"mismatches\":%llu,\"errors\":%llu,\"conn_rounds_min\":%llu,\"conn_rounds_median\":%llu,"
               "\"conn_rounds_max\":%llu,\"conn_p99_median_us\":%.1f,\"conn_p99_worst_us\":%.1f,\"starved\":%llu,"
               "\"pending_max_us\":%.1f}\n",
               mode, o.conns, o.size, o.threads, o.duration, (unsigned long long)rounds, o.throughput ? 0.0 : rps,
               mbps, mean, p50, p90, p99, p999, max, cpu_pct, (unsigned long long)mismatches,
               (unsigned long long)errors, (unsigned long long)fair.rounds_min,
               (unsigned long long)fair.rounds_median, (unsigned long long)fair.rounds_max, fair.p99_median_us,
               fair.p99_worst_us, (unsigned long long)fair.starved, (double)pending_max / 1000.0);
    } else if (o.throughput) {
        printf("throughput: %d connections, %zu B writes, %zu B window, %d thread%s, %.1f s: %.1f MB/s echoed and "
               "verified; client CPU %.0f%%; %llu errors (%llu mismatches)\n",
               o.conns, o.size, o.window, o.threads, o.threads == 1 ? "" : "s", o.duration, mbps, cpu_pct,
               (unsigned long long)errors, (unsigned long long)mismatches);
    } else {
        printf("pingpong: %d connections, %zu B, %d thread%s, %.1f s: %.0f round trips/s (%.1f MB/s each way); "
               "latency us: mean %.1f p50 %.1f p90 %.1f p99 %.1f p99.9 %.1f max %.1f; client CPU %.0f%%; "
               "%llu errors (%llu mismatches)\n",
               o.conns, o.size, o.threads, o.threads == 1 ? "" : "s", o.duration, rps, mbps, mean, p50, p90, p99,
               p999, max, cpu_pct, (unsigned long long)errors, (unsigned long long)mismatches);
        printf("per connection: round trips min %llu median %llu max %llu; own p99 median %.1f us, worst %.1f us; "
               "%llu starved (< 10%% of the median); longest unanswered at the end %.1f us\n",
               (unsigned long long)fair.rounds_min, (unsigned long long)fair.rounds_median,
               (unsigned long long)fair.rounds_max, fair.p99_median_us, fair.p99_worst_us,
               (unsigned long long)fair.starved, (double)pending_max / 1000.0);
    }
    return errors ? 1 : 0;
}
