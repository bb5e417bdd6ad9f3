/* Sending batches of UDP datagrams from one socket on one thread: which costs less CPU per datagram,
 * one sendmmsg per batch or one io_uring SENDMSG SQE per datagram? Linux + liburing, no library of ours.
 *
 *   uring_udp_send [--batch 64] [--size 64] [--count 2000000] [--rounds 5] [--mode mmsg,sqe,sqe_skip]
 *                  [--sender-cpu 0] [--receiver-cpu 1] [--connect] [--fixed-file] [--recv-block]
 *
 * The modes (each sends --count datagrams of --size bytes, in batches of --batch, from batch slots of
 * their own buffer and msghdr, to a receiving socket on 127.0.0.1):
 *   mmsg      one sendmmsg(MSG_DONTWAIT) per batch; a partial send continues with the rest.
 *   sqe       one IORING_OP_SENDMSG SQE per datagram, the batch submitted with ONE io_uring_submit_and_wait
 *             that waits for all of its CQEs (more waits only if some are still missing).
 *   sqe_skip  the same with IOSQE_CQE_SKIP_SUCCESS on every SQE but the batch's last, so a successful
 *             batch posts one CQE. (A send the kernel had to park on a full socket buffer could complete
 *             after that CQE: fine here, since the buffers and msghdrs never change, but a library would
 *             need its own way to know when such a buffer is free.) At --batch 1 it is the same as sqe.
 * EAGAIN/ENOBUFS (from sendmmsg, or in a CQE) are retried after a short poll for POLLOUT ("waits").
 * The ring is set up with SINGLE_ISSUER|DEFER_TASKRUN where the kernel allows, else COOP_TASKRUN, else
 * plain; --fixed-file registers the socket (IOSQE_FIXED_FILE). By default the socket is unconnected and
 * every datagram names its destination (msg_name), as a server's replies do; --connect connects it.
 *
 * The receiver is a second thread (pinned to --receiver-cpu) that drains its socket (big SO_RCVBUF) with
 * recvmmsg and counts datagrams and bytes. While a mode runs it polls the socket without sleeping, so the
 * sender pays no wake-ups (--recv-block: it sleeps in poll instead). After each run the sender waits
 * (untimed) until the receiver has everything or stops getting more; what never arrived is "loss".
 *
 * Measured on the sender thread (pinned to --sender-cpu): CLOCK_THREAD_CPUTIME_ID around the send loop,
 * divided by --count, and datagrams per wall-clock second. On loopback the sender's CPU time includes the
 * receive path up to the receiving socket's queue (softirq work on the sending CPU): the same for every
 * mode, so it shrinks ratios towards 1 but not differences. "other" is the process CPU time used by
 * neither thread (io_uring's io-wq workers would show there); it should be ~0.
 * Each round runs every selected mode once, the starting mode rotating from round to round, after one
 * untimed warm-up run of each mode; the summary gives per mode the median over rounds (with min-max) and
 * the per-round ratios sqe/mmsg and sqe_skip/mmsg of CPU per datagram. Linux only. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#define BATCH_MAX 1024
#define UDP_PAYLOAD_MAX 65507 /* IPv4 */
#define ROUNDS_MAX 101
#define RECV_BATCH 64
#define RCVBUF_WANT (64 * 1024 * 1024)
#define TAG_MARK ((uint64_t)1 << 63) /* the CQE that ends a sqe_skip batch */

enum { MODE_MMSG, MODE_SQE, MODE_SKIP, MODE_N };
static const char *const mode_name[MODE_N] = {"mmsg", "sqe", "sqe_skip"};

static struct {
    unsigned batch, size, rounds;
    unsigned long long count;
    unsigned modes; /* bit (1u << MODE_x) per selected mode */
    int explicit_modes;
    int sender_cpu, receiver_cpu;
    int connect_dst, fixed_file, recv_block;
} opt = {64, 64, 5, 2000000ULL, 7u, 0, 0, 1, 0, 0, 0};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: uring_udp_send [options]\n"
            "  Sender-thread CPU per UDP datagram: one sendmmsg per batch (mmsg) against one io_uring\n"
            "  SENDMSG SQE per datagram and one submit-and-wait per batch (sqe, sqe_skip), to 127.0.0.1.\n"
            "  --batch N          datagrams per batch, 1..%d (64)\n"
            "  --size BYTES       payload bytes per datagram, 1..%d (64)\n"
            "  --count N          datagrams per run of a mode (2000000)\n"
            "  --rounds R         rounds, each running every mode once, 1..%d (5)\n"
            "  --mode LIST        comma-separated modes among mmsg, sqe, sqe_skip, or all (all)\n"
            "  --sender-cpu C     pin the sender (main) thread to CPU C; -1: do not pin (0)\n"
            "  --receiver-cpu C   pin the receiver thread to CPU C; -1: do not pin (1)\n"
            "  --connect          connect the sending socket (default: msg_name on every datagram)\n"
            "  --fixed-file       register the socket with the ring (IOSQE_FIXED_FILE)\n"
            "  --recv-block       the receiver sleeps in poll() instead of polling the socket\n"
            "  --help             this text\n",
            BATCH_MAX, UDP_PAYLOAD_MAX, ROUNDS_MAX);
}

static int bad_arg(const char *what, const char *val)
{
    fprintf(stderr, "uring_udp_send: bad %s \"%s\" (see --help)\n", what, val);
    return 2;
}

static int parse_ll(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_modes(const char *s)
{
    if (!strcmp(s, "all")) {
        opt.modes = 7u;
        return 0;
    }
    unsigned m = 0;
    const char *p = s;
    while (*p) {
        size_t len = strcspn(p, ",");
        int found = 0;
        for (int i = 0; i < MODE_N; i++)
            if (strlen(mode_name[i]) == len && !strncmp(p, mode_name[i], len)) {
                m |= 1u << i;
                found = 1;
            }
        if (!found)
            return -1;
        p += len;
        if (*p == ',')
            p++;
    }
    if (!m)
        return -1;
    opt.modes = m;
    return 0;
}

static uint64_t clock_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int pin(pthread_t t, int cpu, const char *who)
{
    if (cpu < 0)
        return 0;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    int rc = pthread_setaffinity_np(t, sizeof set, &set);
    if (rc) {
        fprintf(stderr, "uring_udp_send: cannot pin the %s thread to CPU %d: %s (--%s-cpu -1: do not pin)\n", who,
                cpu, strerror(rc), who);
        return -1;
    }
    return 0;
}

/* ---- the receiver ---- */
typedef struct {
    int fd;
    int block;
    unsigned size;
    _Atomic unsigned long long dgrams, bytes;
    atomic_int spin; /* a mode is running: poll the socket without sleeping */
    atomic_int quit;
    int err; /* errno of a recvmmsg that failed, which ends the thread */
} receiver;

static void *receiver_main(void *arg)
{
    receiver *r = arg;
    struct mmsghdr mm[RECV_BATCH];
    struct iovec iov[RECV_BATCH];
    char *buf = malloc((size_t)RECV_BATCH * r->size);
    if (!buf) {
        r->err = ENOMEM;
        return NULL;
    }
    memset(mm, 0, sizeof mm);
    for (int i = 0; i < RECV_BATCH; i++) {
        iov[i].iov_base = buf + (size_t)i * r->size;
        iov[i].iov_len = r->size;
        mm[i].msg_hdr.msg_iov = &iov[i];
        mm[i].msg_hdr.msg_iovlen = 1;
    }
    unsigned long long d = 0, b = 0;
    while (!atomic_load_explicit(&r->quit, memory_order_relaxed)) {
        if (r->block || !atomic_load_explicit(&r->spin, memory_order_relaxed)) {
            struct pollfd p = {.fd = r->fd, .events = POLLIN};
            poll(&p, 1, 20);
        }
        int n = recvmmsg(r->fd, mm, RECV_BATCH, MSG_DONTWAIT, NULL);
        if (n > 0) {
            for (int i = 0; i < n; i++)
                b += mm[i].msg_len;
            d += (unsigned)n;
            atomic_store_explicit(&r->bytes, b, memory_order_relaxed);
            atomic_store_explicit(&r->dgrams, d, memory_order_relaxed);
        } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            r->err = errno;
            break;
        }
    }
    free(buf);
    return NULL;
}

/* ---- the sender ---- */
typedef struct {
    int fd;
    struct mmsghdr *mm; /* slot i: mm[i].msg_hdr is also the msghdr of slot i's SQE */
    struct iovec *iov;
    unsigned char *bufs;
    unsigned *pend, *next; /* slots of the batch still to send, and of the next try */
    struct io_uring ring;
    int have_ring, skip_ok;
    const char *ring_kind;
    uint32_t seq; /* attempt number, in every SQE's user_data */
} sender;

typedef struct {
    double cpu_ns, wall_ns, other_ns; /* per run */
    unsigned long long received, waits, late;
} run_stats;

static void wait_writable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    poll(&p, 1, 1);
}

static int send_mmsg(sender *s, unsigned long long total, run_stats *st)
{
    unsigned long long left = total;
    while (left) {
        unsigned n = left < opt.batch ? (unsigned)left : opt.batch, off = 0;
        while (off < n) {
            int r = sendmmsg(s->fd, s->mm + off, n - off, MSG_DONTWAIT);
            if (r > 0) {
                off += (unsigned)r;
                continue;
            }
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
                st->waits++;
                wait_writable(s->fd);
                continue;
            }
            fprintf(stderr, "uring_udp_send: sendmmsg: %s\n", r < 0 ? strerror(errno) : "sent nothing");
            return -1;
        }
        left -= n;
    }
    return 0;
}

static int send_sqe(sender *s, unsigned long long total, int skip, run_stats *st)
{
    struct io_uring_cqe *cqes[BATCH_MAX];
    unsigned long long left = total;
    while (left) {
        unsigned n = left < opt.batch ? (unsigned)left : opt.batch, np = n;
        left -= n;
        for (unsigned i = 0; i < n; i++)
            s->pend[i] = i;
        while (np) {
            uint32_t seq = ++s->seq & 0x7fffffffu;
            for (unsigned k = 0; k < np; k++) {
                struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
                if (!sqe) { /* only if an earlier submit was interrupted before taking them all */
                    io_uring_submit(&s->ring);
                    if (!(sqe = io_uring_get_sqe(&s->ring))) {
                        fprintf(stderr, "uring_udp_send: the submission queue stays full\n");
                        return -1;
                    }
                }
                io_uring_prep_sendmsg(sqe, opt.fixed_file ? 0 : s->fd, &s->mm[s->pend[k]].msg_hdr, 0);
                uint64_t tag = (uint64_t)seq << 32 | s->pend[k];
                if (opt.fixed_file)
                    sqe->flags |= IOSQE_FIXED_FILE;
                if (skip && k + 1 < np)
                    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
                else if (skip)
                    tag |= TAG_MARK;
                io_uring_sqe_set_data64(sqe, tag);
            }
            unsigned expect = skip ? 1 : np, got = 0, nn = 0;
            int rc = io_uring_submit_and_wait(&s->ring, expect);
            for (;;) {
                if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
                    fprintf(stderr, "uring_udp_send: io_uring_enter: %s\n", strerror(-rc));
                    return -1;
                }
                unsigned c;
                while ((c = io_uring_peek_batch_cqe(&s->ring, cqes, BATCH_MAX)) > 0) {
                    for (unsigned i = 0; i < c; i++) {
                        uint64_t tag = io_uring_cqe_get_data64(cqes[i]);
                        int res = cqes[i]->res, current = (uint32_t)(tag >> 32 & 0x7fffffffu) == seq;
                        if (current && (!skip || (tag & TAG_MARK)))
                            got++;
                        if (res >= 0)
                            continue;
                        if (res == -EAGAIN || res == -EWOULDBLOCK || res == -ENOBUFS || res == -EINTR) {
                            if (current)
                                s->next[nn++] = (unsigned)(tag & 0xffffffffu);
                            else { /* a skipped SQE of an earlier try that failed after its batch ended */
                                st->late++;
                                left++;
                            }
                            continue;
                        }
                        fprintf(stderr, "uring_udp_send: IORING_OP_SENDMSG: %s\n", strerror(-res));
                        return -1;
                    }
                    io_uring_cq_advance(&s->ring, c);
                }
                if (got >= expect)
                    break;
                rc = io_uring_submit_and_wait(&s->ring, expect - got);
            }
            if (nn) {
                st->waits++;
                wait_writable(s->fd);
            }
            unsigned *t = s->pend;
            s->pend = s->next;
            s->next = t;
            np = nn;
        }
    }
    return 0;
}

static int ring_init(sender *s)
{
    static const struct {
        unsigned flags;
        const char *name;
    } setups[] = {
        {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
         "SINGLE_ISSUER|DEFER_TASKRUN"},
        {IORING_SETUP_COOP_TASKRUN, "COOP_TASKRUN"},
        {0, "plain"},
    };
    unsigned entries = 8;
    while (entries < opt.batch)
        entries <<= 1;
    int rc = -EINVAL;
    for (size_t i = 0; i < sizeof setups / sizeof setups[0] && rc < 0; i++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        p.flags = setups[i].flags | IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
        p.cq_entries = entries * 4;
        rc = io_uring_queue_init_params(entries, &s->ring, &p);
        if (rc == 0) {
            s->ring_kind = setups[i].name;
            s->skip_ok = (p.features & IORING_FEAT_CQE_SKIP) != 0;
        }
    }
    if (rc < 0) {
        fprintf(stderr, "uring_udp_send: io_uring_setup: %s\n", strerror(-rc));
        return -1;
    }
    s->have_ring = 1;
    if (opt.fixed_file && (rc = io_uring_register_files(&s->ring, &s->fd, 1)) < 0) {
        fprintf(stderr, "uring_udp_send: io_uring_register_files: %s\n", strerror(-rc));
        return -1;
    }
    return 0;
}

/* One run of a mode: timed send loop, then (untimed) wait for the receiver. */
static int run_mode(sender *s, receiver *r, clockid_t rclock, int mode, unsigned long long total, run_stats *st)
{
    memset(st, 0, sizeof *st);
    unsigned long long rx0 = atomic_load(&r->dgrams);
    uint64_t p0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID), r0 = clock_ns(rclock);
    uint64_t t0 = clock_ns(CLOCK_THREAD_CPUTIME_ID), w0 = clock_ns(CLOCK_MONOTONIC);
    int rc = mode == MODE_MMSG ? send_mmsg(s, total, st) : send_sqe(s, total, mode == MODE_SKIP, st);
    uint64_t w1 = clock_ns(CLOCK_MONOTONIC), t1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    uint64_t r1 = clock_ns(rclock), p1 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    if (rc < 0)
        return -1;
    st->cpu_ns = (double)(t1 - t0);
    st->wall_ns = (double)(w1 - w0);
    st->other_ns = (double)(p1 - p0) - (double)(t1 - t0) - (double)(r1 - r0);
    /* Until the receiver has them all, or 50 ms without a new one. */
    unsigned long long last = atomic_load(&r->dgrams), seen;
    uint64_t quiet_since = clock_ns(CLOCK_MONOTONIC);
    for (;;) {
        seen = atomic_load(&r->dgrams);
        if (seen - rx0 >= total || r->err)
            break;
        uint64_t now = clock_ns(CLOCK_MONOTONIC);
        if (seen != last) {
            last = seen;
            quiet_since = now;
        } else if (now - quiet_since > 50000000u)
            break;
        struct timespec nap = {0, 200000};
        nanosleep(&nap, NULL);
    }
    st->received = seen - rx0;
    if (r->err) {
        fprintf(stderr, "uring_udp_send: receiver: recvmmsg: %s\n", strerror(r->err));
        return -1;
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median, min and max of v[0..n). */
static void stats(const double *v, unsigned n, double *med, double *lo, double *hi)
{
    double t[ROUNDS_MAX];
    memcpy(t, v, n * sizeof *t);
    qsort(t, n, sizeof *t, cmp_double);
    *med = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
    *lo = t[0];
    *hi = t[n - 1];
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--connect"))
            opt.connect_dst = 1;
        else if (!strcmp(a, "--fixed-file"))
            opt.fixed_file = 1;
        else if (!strcmp(a, "--recv-block"))
            opt.recv_block = 1;
        else if (i + 1 >= argc) {
            fprintf(stderr, "uring_udp_send: %s: unknown option or missing value (see --help)\n", a);
            return 2;
        } else if (!strcmp(a, "--batch")) {
            if (parse_ll(argv[++i], 1, BATCH_MAX, &v))
                return bad_arg("--batch (1..1024)", argv[i]);
            opt.batch = (unsigned)v;
        } else if (!strcmp(a, "--size")) {
            if (parse_ll(argv[++i], 1, UDP_PAYLOAD_MAX, &v))
                return bad_arg("--size (1..65507)", argv[i]);
            opt.size = (unsigned)v;
        } else if (!strcmp(a, "--count")) {
            if (parse_ll(argv[++i], 1, 1000000000000LL, &v))
                return bad_arg("--count", argv[i]);
            opt.count = (unsigned long long)v;
        } else if (!strcmp(a, "--rounds")) {
            if (parse_ll(argv[++i], 1, ROUNDS_MAX, &v))
                return bad_arg("--rounds (1..101)", argv[i]);
            opt.rounds = (unsigned)v;
        } else if (!strcmp(a, "--mode")) {
            if (parse_modes(argv[++i]))
                return bad_arg("--mode (mmsg, sqe, sqe_skip, comma-separated, or all)", argv[i]);
            opt.explicit_modes = 1;
        } else if (!strcmp(a, "--sender-cpu")) {
            if (parse_ll(argv[++i], -1, CPU_SETSIZE - 1, &v))
                return bad_arg("--sender-cpu", argv[i]);
            opt.sender_cpu = (int)v;
        } else if (!strcmp(a, "--receiver-cpu")) {
            if (parse_ll(argv[++i], -1, CPU_SETSIZE - 1, &v))
                return bad_arg("--receiver-cpu", argv[i]);
            opt.receiver_cpu = (int)v;
        } else {
            fprintf(stderr, "uring_udp_send: unknown option %s (see --help)\n", a);
            return 2;
        }
    }
    if (opt.sender_cpu >= 0 && opt.sender_cpu == opt.receiver_cpu)
        fprintf(stderr, "uring_udp_send: warning: sender and receiver pinned to the same CPU %d\n", opt.sender_cpu);
    if (pin(pthread_self(), opt.sender_cpu, "sender") < 0)
        return 1;

    /* The receiving socket. */
    static receiver r;
    r.size = opt.size;
    r.block = opt.recv_block;
    r.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (r.fd < 0) {
        fprintf(stderr, "uring_udp_send: socket: %s\n", strerror(errno));
        return 1;
    }
    int want = RCVBUF_WANT, rcvbuf = 0;
    socklen_t optlen = sizeof rcvbuf;
    if (setsockopt(r.fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) != 0) /* needs CAP_NET_ADMIN */
        setsockopt(r.fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want);     /* capped by net.core.rmem_max */
    getsockopt(r.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &optlen);
    struct sockaddr_in dst;
    socklen_t dlen = sizeof dst;
    memset(&dst, 0, sizeof dst);
    dst.sin_family = AF_INET;
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(r.fd, (struct sockaddr *)&dst, sizeof dst) != 0 || getsockname(r.fd, (struct sockaddr *)&dst, &dlen)) {
        fprintf(stderr, "uring_udp_send: cannot bind the receiver to 127.0.0.1: %s\n", strerror(errno));
        return 1;
    }
    pthread_t rt;
    int rc = pthread_create(&rt, NULL, receiver_main, &r);
    if (rc) {
        fprintf(stderr, "uring_udp_send: pthread_create: %s\n", strerror(rc));
        return 1;
    }
    clockid_t rclock;
    if (pin(rt, opt.receiver_cpu, "receiver") < 0 || (rc = pthread_getcpuclockid(rt, &rclock)) != 0) {
        if (rc)
            fprintf(stderr, "uring_udp_send: pthread_getcpuclockid: %s\n", strerror(rc));
        atomic_store(&r.quit, 1);
        pthread_join(rt, NULL);
        return 1;
    }

    /* The sending socket and its batch slots. */
    static sender s;
    s.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int sndbuf = 4 * 1024 * 1024;
    if (s.fd < 0 || setsockopt(s.fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) != 0 ||
        (opt.connect_dst && connect(s.fd, (struct sockaddr *)&dst, sizeof dst) != 0)) {
        fprintf(stderr, "uring_udp_send: sending socket: %s\n", strerror(errno));
        return 1;
    }
    s.mm = calloc(opt.batch, sizeof *s.mm);
    s.iov = calloc(opt.batch, sizeof *s.iov);
    s.bufs = malloc((size_t)opt.batch * opt.size);
    s.pend = calloc(opt.batch, sizeof *s.pend);
    s.next = calloc(opt.batch, sizeof *s.next);
    if (!s.mm || !s.iov || !s.bufs || !s.pend || !s.next) {
        fprintf(stderr, "uring_udp_send: out of memory\n");
        return 1;
    }
    for (unsigned i = 0; i < opt.batch; i++) {
        memset(s.bufs + (size_t)i * opt.size, 'a' + (int)(i % 26), opt.size);
        s.iov[i].iov_base = s.bufs + (size_t)i * opt.size;
        s.iov[i].iov_len = opt.size;
        s.mm[i].msg_hdr.msg_iov = &s.iov[i];
        s.mm[i].msg_hdr.msg_iovlen = 1;
        if (!opt.connect_dst) {
            s.mm[i].msg_hdr.msg_name = &dst;
            s.mm[i].msg_hdr.msg_namelen = sizeof dst;
        }
    }
    if ((opt.modes & (1u << MODE_SQE | 1u << MODE_SKIP)) && ring_init(&s) < 0)
        return 1;
    if ((opt.modes & 1u << MODE_SKIP) && !s.skip_ok) {
        if (opt.explicit_modes) {
            fprintf(stderr, "uring_udp_send: this kernel has no IOSQE_CQE_SKIP_SUCCESS (5.17+): no sqe_skip\n");
            return 1;
        }
        opt.modes &= ~(1u << MODE_SKIP);
        printf("note: no IOSQE_CQE_SKIP_SUCCESS on this kernel: sqe_skip left out\n");
    }
    int modes[MODE_N], nmodes = 0;
    for (int m = 0; m < MODE_N; m++)
        if (opt.modes & 1u << m)
            modes[nmodes++] = m;

    printf("uring_udp_send: batch %u, %u B datagrams, %llu per run, %u rounds, modes", opt.batch, opt.size,
           opt.count, opt.rounds);
    for (int k = 0; k < nmodes; k++)
        printf("%s%s", k ? "," : " ", mode_name[modes[k]]);
    printf("\n  sender: CPU %d, %s socket; receiver: CPU %d, %s recvmmsg x%d, SO_RCVBUF %d, 127.0.0.1:%u\n",
           opt.sender_cpu, opt.connect_dst ? "connected" : "unconnected (msg_name)", opt.receiver_cpu,
           opt.recv_block ? "sleeping" : "polling", RECV_BATCH, rcvbuf, (unsigned)ntohs(dst.sin_port));
    if (s.have_ring)
        printf("  ring: %s, %u SQ entries, socket %s\n", s.ring_kind, s.ring.sq.ring_entries,
               opt.fixed_file ? "registered (IOSQE_FIXED_FILE)" : "not registered");
    fflush(stdout);

    static double cpu[MODE_N][ROUNDS_MAX], rate[MODE_N][ROUNDS_MAX], other[MODE_N][ROUNDS_MAX];
    unsigned long long lost[MODE_N] = {0}, waits[MODE_N] = {0}, late[MODE_N] = {0};
    run_stats st;
    int ok = 1;
    atomic_store(&r.spin, 1);
    /* Warm-up: one untimed short run of each mode (caches, page faults, the ring's first requests). */
    unsigned long long warm = opt.count / 10 > opt.batch ? opt.count / 10 : opt.batch;
    for (int k = 0; k < nmodes && ok; k++)
        ok = run_mode(&s, &r, rclock, modes[k], warm, &st) == 0;
    for (unsigned round = 0; round < opt.rounds && ok; round++) {
        printf("round %u:", round + 1);
        for (int j = 0; j < nmodes && ok; j++) {
            int m = modes[(round + (unsigned)j) % (unsigned)nmodes];
            if (run_mode(&s, &r, rclock, m, opt.count, &st) < 0) {
                ok = 0;
                break;
            }
            cpu[m][round] = st.cpu_ns / (double)opt.count;
            rate[m][round] = (double)opt.count / (st.wall_ns / 1e9);
            other[m][round] = st.other_ns / (double)opt.count;
            lost[m] += opt.count - (st.received < opt.count ? st.received : opt.count);
            waits[m] += st.waits;
            late[m] += st.late;
            printf("  %s %.1f ns %.3f M/s%s", mode_name[m], cpu[m][round], rate[m][round] / 1e6,
                   j + 1 < nmodes ? " |" : "");
        }
        printf("\n");
        fflush(stdout);
    }
    atomic_store(&r.spin, 0);
    atomic_store(&r.quit, 1);
    pthread_join(rt, NULL);
    if (s.have_ring)
        io_uring_queue_exit(&s.ring);
    close(s.fd);
    close(r.fd);
    if (!ok)
        return 1;

    printf("%-9s %-33s %-23s %-8s %-6s %s\n", "mode", "sender CPU ns/dgram med [min-max]",
           "Mdgram/s med [min-max]", "loss", "waits", "other CPU ns/dgram (med)");
    double med[MODE_N] = {0}, lo, hi, rmed, rlo, rhi, omed, olo, ohi;
    for (int k = 0; k < nmodes; k++) {
        int m = modes[k];
        stats(cpu[m], opt.rounds, &med[m], &lo, &hi);
        stats(rate[m], opt.rounds, &rmed, &rlo, &rhi);
        stats(other[m], opt.rounds, &omed, &olo, &ohi);
        char c1[64], c2[64], c3[32];
        snprintf(c1, sizeof c1, "%.1f [%.1f-%.1f]", med[m], lo, hi);
        snprintf(c2, sizeof c2, "%.3f [%.3f-%.3f]", rmed / 1e6, rlo / 1e6, rhi / 1e6);
        snprintf(c3, sizeof c3, "%.3f%%", 100.0 * (double)lost[m] / ((double)opt.count * opt.rounds));
        printf("%-9s %-33s %-23s %-8s %-6llu %.1f\n", mode_name[m], c1, c2, c3, waits[m], omed);
        if (late[m])
            printf("          (%llu sends failed after their batch's last CQE, and were sent again)\n", late[m]);
    }
    if (opt.modes & 1u << MODE_MMSG) {
        for (int m = MODE_SQE; m < MODE_N; m++) {
            if (!(opt.modes & 1u << m))
                continue;
            double ratio[ROUNDS_MAX];
            for (unsigned i = 0; i < opt.rounds; i++)
                ratio[i] = cpu[m][i] / cpu[MODE_MMSG][i];
            stats(ratio, opt.rounds, &rmed, &rlo, &rhi);
            printf("ratio %s/mmsg (sender CPU per datagram, per round): median %.3f [%.3f-%.3f]: %s\n", mode_name[m],
                   rmed, rlo, rhi,
                   rlo > 1   ? "mmsg cheaper in every round"
                   : rhi < 1 ? "io_uring cheaper in every round"
                             : "the rounds disagree (within the spread)");
        }
    }
    return 0;
}
