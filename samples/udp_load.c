/* udp_load: a UDP load client on ringport that checks every echoed datagram.
 *
 *   udp_load [--host 127.0.0.1] [--port 7000] [--backend auto|io_uring|epoll|kqueue|iocp] [--workers N (1)]
 *            [--sockets N (1)] [--size BYTES (64)] [--window W (32)] [--duration SECONDS (5)]
 *            [--warmup SECONDS (0)] [--rate PPS (0 = unlimited)] [--loss-ms MS (200)] [--recv pool|caller]
 *            [--strict] [--json]
 *
 * Each client socket (bound to a free port, connected to the server with rp_udp_connect) keeps up to W
 * datagrams in flight: sent and neither echoed nor given up yet. Datagram k of socket i carries i (4 bytes)
 * and k (8 bytes, little-endian) and then --size - 12 pattern bytes taken from a fixed pseudo-random table
 * at an offset derived from (i, k), so every byte of an echo can be checked against what that datagram
 * held. Sends go out in batches of up to min(W, 64) datagrams per rp_udp_send, at most one send in flight
 * per socket; --rate caps the total send rate (spread evenly over the sockets, checked every millisecond).
 *
 * Every echo is classified:
 *   corrupted   wrong length, truncated, a header that names another socket or a datagram never sent, or a
 *               payload byte that differs from what was sent (the datagram is then settled as corrupted)
 *   duplicated  a second echo of a datagram already echoed
 *   late        echoed after it had been given up as lost (it then counts as received, not lost)
 *   stale       echo of a datagram so old that its record was reused (4096 or 32 W sends later): a very
 *               late echo or a duplicate, which cannot be told apart any more
 *   reordered   echoed after a datagram of the same socket that was sent later
 * A datagram not echoed within --loss-ms is given up as lost so that it frees its place in the window; so
 * is one still unanswered when its record is needed again. After --duration the client stops sending and
 * waits up to --loss-ms for what is still in flight; what never came back is "lost". Loss is reported
 * (UDP may drop); with --strict any loss, duplicate, late or stale echo fails the run. Corruption always
 * does (exit status 1), and so does a run in which nothing at all was echoed.
 *
 * Reported: datagrams sent and echoes received per second over the measurement (--duration after
 * --warmup), round-trip latency percentiles of the echoes received in it (from the submission of the
 * send to the receive callback; log-linear histogram, 1.6 % resolution), and the counts above over the
 * whole run. --json prints one line of machine-readable results instead. */

#include "common.h"

#define HEADER 12u
#define PERIOD 65521u       /* length of the pattern table: prime, so no datagram size lines up with it */
#define SEND_BATCH_MAX 64u  /* datagrams per rp_udp_send */
#define RECV_BATCH 64u      /* datagrams per receive completion */
#define MAX_SOCKETS 4096
#define MAX_RECV_RETRIES 16

/* ---- time ---- */
#if defined(_WIN32)
static uint64_t now_ns(void)
{
    static LARGE_INTEGER freq;
    LARGE_INTEGER t;
    if (freq.QuadPart == 0)
        QueryPerformanceFrequency(&freq);
    QueryPerformanceCounter(&t);
    return (uint64_t)((double)t.QuadPart * 1e9 / (double)freq.QuadPart);
}

static double process_cpu_s(void)
{
    FILETIME c, e, k, u;
    if (!GetProcessTimes(GetCurrentProcess(), &c, &e, &k, &u))
        return 0;
    ULARGE_INTEGER kk, uu;
    kk.LowPart = k.dwLowDateTime;
    kk.HighPart = k.dwHighDateTime;
    uu.LowPart = u.dwLowDateTime;
    uu.HighPart = u.dwHighDateTime;
    return (double)(kk.QuadPart + uu.QuadPart) / 1e7;
}
#else
static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double process_cpu_s(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
        return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
#endif

/* ---- latency histogram: log-linear, 64 sub-buckets per power of two, in nanoseconds ---- */
#define SUB_BITS 6
#define SUB (1u << SUB_BITS)
#define HIST_BUCKETS (SUB * 58u)

static unsigned hist_index(uint64_t v)
{
    if (v < 2u * SUB)
        return (unsigned)v;
    unsigned msb = 0;
    for (uint64_t x = v; x > 1; x >>= 1)
        msb++;
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

static double hist_pct(const uint64_t *h, uint64_t total, double p)
{
    if (total == 0)
        return 0;
    uint64_t want = (uint64_t)(p * (double)total);
    if (want >= total)
        want = total - 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h[i];
        if (seen > want)
            return hist_mid(i);
    }
    return hist_mid(HIST_BUCKETS - 1);
}

/* ---- state ---- */
enum { SLOT_FREE = 0, SLOT_INFLIGHT, SLOT_DONE, SLOT_LOST, SLOT_UNSENT };
enum { PHASE_WARMUP = 0, PHASE_MEASURE, PHASE_DRAIN, PHASE_STOP };

typedef struct slot {
    uint64_t seq;
    uint64_t t_ns; /* when its send was submitted */
    uint32_t state;
} slot;

typedef struct csock {
    rp_op recv_op;
    rp_op send_op;
    rp_socket sock;
    uint32_t id;
    int receiving, sending, drained;
    unsigned retries;
    uint64_t next_seq; /* the next datagram to send */
    uint64_t low;      /* every datagram below it is settled */
    uint64_t inflight; /* sent (or being sent) and not settled */
    uint64_t max_seen; /* highest sequence number echoed so far, + 1 */
    slot *ring;
    uint64_t mask;
    rp_dgram *sd;       /* the send batch */
    unsigned char *sbuf;
    size_t scount;
    rp_dgram *rd;       /* receive array */
    unsigned char *rbuf; /* --recv caller: RECV_BATCH buffers of rcap bytes */
    uint64_t rate_sent; /* datagrams the rate allowed so far */
    /* figures, written only on the socket's worker, read after rp_loop_destroy */
    uint64_t sent, received, m_sent, m_received, lost, late, dup, corrupt, stale, reordered, send_errors,
        recv_errors, refused, m_lat_count;
    int32_t last_send_error, last_recv_error;
    uint64_t *hist;
} csock;

/* The sockets of one worker and the repeating timer that drives them (timeouts, the rate, the start). */
typedef struct group {
    rp_op tick;
    csock **socks;
    int count;
} group;

static rp_loop *loop;
static rp_bufpool *pool;
static size_t dsize = 64;        /* datagram size */
static uint32_t rcap;             /* receive capacity per datagram: longer than dsize, to see longer echoes */
static uint64_t window = 32;
static size_t send_batch;
static double rate_per_sock;      /* 0: unlimited */
static uint64_t loss_ns;
static uint64_t t_start;          /* the rate counts from here */
static unsigned char pattern[PERIOD + RP_DGRAM_MAX];
static sample_atomic phase;
static sample_atomic drained_count;
static sample_atomic printed; /* corruption reports printed so far (the first few are) */

static size_t pattern_off(uint32_t id, uint64_t seq)
{
    return (size_t)(((seq % PERIOD) * 40503u + (uint64_t)(id % PERIOD) * 9973u + 17u) % PERIOD);
}

static void put_header(unsigned char *p, uint32_t id, uint64_t seq)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(id >> (8 * i));
    for (int i = 0; i < 8; i++)
        p[4 + i] = (unsigned char)(seq >> (8 * i));
}

static void get_header(const unsigned char *p, uint32_t *id, uint64_t *seq)
{
    uint32_t a = 0;
    uint64_t b = 0;
    for (int i = 0; i < 4; i++)
        a |= (uint32_t)p[i] << (8 * i);
    for (int i = 0; i < 8; i++)
        b |= (uint64_t)p[4 + i] << (8 * i);
    *id = a;
    *seq = b;
}

/* ---- settling datagrams ---- */
/* Moves low past every settled datagram and gives up those in flight for longer than --loss-ms (all of
 * them with force). */
static void expire(csock *c, uint64_t now, int force)
{
    while (c->low < c->next_seq) {
        slot *s = &c->ring[c->low & c->mask];
        if (s->seq == c->low && s->state == SLOT_INFLIGHT) {
            if (!force && now - s->t_ns < loss_ns)
                break;
            s->state = SLOT_LOST;
            c->lost++;
            c->inflight--;
        }
        c->low++;
    }
}

static void check_drained(csock *c)
{
    if (!c->drained && sample_load(&phase) >= PHASE_DRAIN && c->inflight == 0 && !c->sending) {
        c->drained = 1;
        sample_fetch_add(&drained_count, 1);
    }
}

static void on_sent(rp_op *op);

static void try_send(csock *c, uint64_t now)
{
    if (c->sending || sample_load(&phase) >= PHASE_DRAIN || c->inflight >= window)
        return;
    uint64_t n = window - c->inflight;
    if (n > send_batch)
        n = send_batch;
    if (rate_per_sock > 0) {
        uint64_t due = (uint64_t)(rate_per_sock * (double)(now - t_start) / 1e9);
        if (due > c->rate_sent + window)
            c->rate_sent = due - window; /* fell behind: no burst larger than the window */
        uint64_t allowed = due - c->rate_sent;
        if (allowed < n)
            n = allowed;
        if (n == 0)
            return;
        c->rate_sent += n;
    }
    for (uint64_t k = 0; k < n; k++) {
        uint64_t seq = c->next_seq++;
        slot *s = &c->ring[seq & c->mask];
        if (s->state == SLOT_INFLIGHT) { /* its record is needed: the datagram there has been overtaken */
            s->state = SLOT_LOST;
            c->lost++;
            c->inflight--;
        }
        s->seq = seq;
        s->t_ns = now;
        s->state = SLOT_INFLIGHT;
        unsigned char *p = c->sbuf + k * dsize;
        put_header(p, c->id, seq);
        memcpy(p + HEADER, pattern + pattern_off(c->id, seq), dsize - HEADER);
        rp_dgram *d = &c->sd[k];
        memset(d, 0, sizeof *d);
        d->base = p;
        d->len = (uint32_t)dsize;
    }
    c->inflight += n;
    c->scount = (size_t)n;
    expire(c, now, 0); /* low may lag behind evicted records */
    int err = rp_udp_send(loop, &c->send_op, c->sock, c->sd, (size_t)n);
    if (err) {
        /* Not sent at all (RP_ESHUTDOWN at the end): settle them as unsent. */
        for (uint64_t k = 0; k < n; k++)
            c->ring[(c->next_seq - n + k) & c->mask].state = SLOT_UNSENT;
        c->inflight -= n;
        if (sample_load(&phase) < PHASE_STOP) {
            c->send_errors += n;
            c->last_send_error = err;
        }
        return;
    }
    c->sending = 1;
}

static void on_sent(rp_op *op)
{
    csock *c = op->user;
    c->sending = 0;
    uint64_t first = c->next_seq - c->scount; /* the batch is the last scount sequence numbers */
    uint64_t ok = 0;
    for (size_t k = 0; k < c->scount; k++) {
        if (c->sd[k].error == 0) {
            ok++;
            continue;
        }
        slot *s = &c->ring[(first + k) & c->mask];
        if (s->seq == first + k && s->state == SLOT_INFLIGHT) {
            s->state = SLOT_UNSENT;
            c->inflight--;
        }
        if (c->sd[k].error != RP_ECANCELED || sample_load(&phase) < PHASE_STOP) {
            c->send_errors++;
            c->last_send_error = c->sd[k].error;
        }
    }
    c->sent += ok;
    if (sample_load(&phase) == PHASE_MEASURE)
        c->m_sent += ok;
    uint64_t now = now_ns();
    expire(c, now, 0);
    try_send(c, now);
    check_drained(c);
}

/* ---- receiving ---- */
static void report_corrupt(csock *c, const char *what, uint64_t seq, size_t at)
{
    if (sample_fetch_add(&printed, 1) < 5)
        fprintf(stderr, "udp_load: socket %u: corrupted echo (%s, datagram %llu, byte %zu)\n", c->id, what,
                (unsigned long long)seq, at);
}

static void check_echo(csock *c, const rp_dgram *d, uint64_t now, int measuring)
{
    const unsigned char *p = d->base;
    if ((d->flags & RP_DGRAM_TRUNC) || d->len != dsize) {
        c->corrupt++;
        report_corrupt(c, d->len != dsize ? "wrong length" : "truncated", 0, d->len);
        return;
    }
    uint32_t id;
    uint64_t seq;
    get_header(p, &id, &seq);
    if (id != c->id || seq >= c->next_seq) {
        c->corrupt++;
        report_corrupt(c, id != c->id ? "names another socket" : "datagram never sent", seq, 0);
        return;
    }
    slot *s = &c->ring[seq & c->mask];
    if (s->seq != seq) {
        c->stale++;
        return;
    }
    if (memcmp(p + HEADER, pattern + pattern_off(id, seq), dsize - HEADER) != 0) {
        size_t at = HEADER;
        const unsigned char *want = pattern + pattern_off(id, seq);
        while (p[at] == want[at - HEADER])
            at++;
        c->corrupt++;
        report_corrupt(c, "payload differs", seq, at);
        if (s->state == SLOT_INFLIGHT)
            c->inflight--;
        else if (s->state == SLOT_LOST)
            c->lost--;
        s->state = SLOT_DONE;
        return;
    }
    switch (s->state) {
    case SLOT_INFLIGHT:
        c->inflight--;
        break;
    case SLOT_LOST:
        c->lost--;
        c->late++;
        break;
    case SLOT_DONE:
        c->dup++;
        return;
    default: /* SLOT_UNSENT, SLOT_FREE: an echo of what was never sent */
        c->corrupt++;
        report_corrupt(c, "echo of a datagram that was not sent", seq, 0);
        return;
    }
    s->state = SLOT_DONE;
    c->received++;
    if (seq + 1 < c->max_seen)
        c->reordered++;
    else
        c->max_seen = seq + 1;
    if (measuring) {
        c->m_received++;
        c->hist[hist_index(now - s->t_ns)]++;
        c->m_lat_count++;
    }
}

static void on_recv_pool(rp_op *op);
static void on_recv_caller(rp_op *op);

static int start_receive(csock *c)
{
    int err;
    if (pool) {
        rp_op_init(&c->recv_op, on_recv_pool, c);
        err = rp_udp_recv_pool(loop, &c->recv_op, c->sock, pool, c->rd, RECV_BATCH, RP_RECV_MULTISHOT);
    } else {
        memset(c->rd, 0, RECV_BATCH * sizeof c->rd[0]);
        for (size_t i = 0; i < RECV_BATCH; i++) {
            c->rd[i].base = c->rbuf + i * rcap;
            c->rd[i].len = rcap;
        }
        rp_op_init(&c->recv_op, on_recv_caller, c);
        err = rp_udp_recv(loop, &c->recv_op, c->sock, c->rd, RECV_BATCH);
    }
    c->receiving = err == 0;
    return err;
}

/* A receive ended by itself: count it and start again (a few times in a row at most). */
static void receive_ended(csock *c, int64_t why)
{
    if (sample_load(&phase) >= PHASE_STOP || why == RP_ECANCELED || why == RP_ESHUTDOWN || why == RP_EBADF)
        return;
    if (why == RP_ECONNREFUSED) {
        c->refused++; /* an ICMP port unreachable: no server (yet); keep listening */
    } else {
        c->recv_errors++;
        c->last_recv_error = (int32_t)why;
        if (++c->retries > MAX_RECV_RETRIES) {
            fprintf(stderr, "udp_load: socket %u stops receiving: %s\n", c->id, rp_strerror((int)why));
            return;
        }
    }
    int err = start_receive(c);
    if (err && sample_load(&phase) < PHASE_STOP)
        fprintf(stderr, "udp_load: socket %u: cannot receive again: %s\n", c->id, rp_strerror(err));
}

static void after_receive(csock *c, uint64_t now)
{
    expire(c, now, 0);
    try_send(c, now);
    check_drained(c);
}

static void on_recv_pool(rp_op *op)
{
    csock *c = op->user;
    if (!(op->flags & RP_OP_F_MORE)) {
        c->receiving = 0;
        receive_ended(c, op->result);
        return;
    }
    uint64_t now = now_ns();
    int measuring = sample_load(&phase) == PHASE_MEASURE;
    c->retries = 0;
    for (int64_t i = 0; i < op->result; i++) {
        check_echo(c, &c->rd[i], now, measuring);
        if (rp_bufpool_release(pool, c->rd[i].base) != 0 && sample_fetch_add(&printed, 1) < 5)
            fprintf(stderr, "udp_load: rp_bufpool_release refused a buffer of a pool receive\n");
    }
    after_receive(c, now);
}

static void on_recv_caller(rp_op *op)
{
    csock *c = op->user;
    c->receiving = 0;
    if (op->result < 0) {
        receive_ended(c, op->result);
        return;
    }
    uint64_t now = now_ns();
    int measuring = sample_load(&phase) == PHASE_MEASURE;
    c->retries = 0;
    for (int64_t i = 0; i < op->result; i++)
        check_echo(c, &c->rd[i], now, measuring);
    if (sample_load(&phase) < PHASE_STOP) {
        int err = start_receive(c);
        if (err)
            receive_ended(c, err);
    }
    after_receive(c, now);
}

static void on_tick(rp_op *op)
{
    group *g = op->user;
    if (op->result < 0 || sample_load(&phase) >= PHASE_STOP)
        return;
    uint64_t now = now_ns();
    for (int i = 0; i < g->count; i++) {
        csock *c = g->socks[i];
        expire(c, now, 0);
        try_send(c, now);
        check_drained(c);
    }
}

/* ---- main ---- */
static void usage(void)
{
    fprintf(stderr,
            "usage: udp_load [--host H (127.0.0.1)] [--port P (7000)] [--backend auto|io_uring|epoll|kqueue|iocp]\n"
            "                [--workers N (1; 0 = caller-driven)] [--sockets N (1)] [--size BYTES (64; at least 12)]\n"
            "                [--window W (32 datagrams in flight per socket)] [--duration SECONDS (5)]\n"
            "                [--warmup SECONDS (0)] [--rate PPS (0 = unlimited; all sockets together)]\n"
            "                [--loss-ms MS (200)] [--recv pool|caller (pool)] [--strict] [--json]\n");
}

static int parse_seconds(const char *opt, const char *text, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !(v >= lo && v <= hi)) {
        fprintf(stderr, "%s: expected a number of seconds from %g to %g, got \"%s\"\n", opt, lo, hi, text);
        return -1;
    }
    *out = v;
    return 0;
}

/* Runs the loop (caller-driven) or sleeps (workers) until the deadline or until done() says so. */
static int wait_until(uint64_t deadline_ns, int driven, int (*done)(void))
{
    while (!sample_stop && now_ns() < deadline_ns && !(done && done())) {
        if (driven) {
            int n = rp_loop_run(loop, RP_RUN_ONCE);
            if (n < 0) {
                fprintf(stderr, "udp_load: rp_loop_run: %s\n", rp_strerror(n));
                return n;
            }
        } else {
            sample_sleep_ms(1);
        }
    }
    return 0;
}

static int nsocks_global;
static int all_drained(void) { return sample_load(&drained_count) >= nsocks_global; }

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *port_s = "7000", *backend_s = "auto", *workers_s = "1", *sockets_s = "1",
               *size_s = "64", *window_s = "32", *duration_s = "5", *warmup_s = "0", *rate_s = "0",
               *loss_s = "200", *recv_s = "pool";
    const sample_option options[] = {
        {"--host", &host},         {"--port", &port_s},       {"--backend", &backend_s}, {"--workers", &workers_s},
        {"--sockets", &sockets_s}, {"--size", &size_s},       {"--window", &window_s},   {"--duration", &duration_s},
        {"--warmup", &warmup_s},   {"--rate", &rate_s},       {"--loss-ms", &loss_s},    {"--recv", &recv_s}};
    int json = 0, strict = 0, nargs = 0;
    char **args = malloc(((size_t)argc + 1) * sizeof *args);
    if (!args)
        return 1;
    for (int i = 0; i < argc; i++) { /* the flags without a value */
        if (i > 0 && strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (i > 0 && strcmp(argv[i], "--strict") == 0)
            strict = 1;
        else
            args[nargs++] = argv[i];
    }
    args[nargs] = NULL;
    int rc = sample_parse_args(nargs, args, options, sizeof options / sizeof options[0]);
    free(args);
    if (rc != 0) {
        usage();
        return rc > 0 ? 0 : 2;
    }
    long port, nsocks, size, window_l, rate, loss_ms;
    double duration, warmup;
    rp_loop_options lopts;
    if (sample_parse_long("--port", port_s, 1, 65535, &port) || sample_loop_options(backend_s, workers_s, &lopts) ||
        sample_parse_long("--sockets", sockets_s, 1, MAX_SOCKETS, &nsocks) ||
        sample_parse_long("--size", size_s, HEADER, RP_DGRAM_MAX - 1, &size) ||
        sample_parse_long("--window", window_s, 1, 65536, &window_l) ||
        sample_parse_long("--rate", rate_s, 0, 1000000000L, &rate) ||
        sample_parse_long("--loss-ms", loss_s, 1, 600000, &loss_ms) ||
        parse_seconds("--duration", duration_s, 0.01, 86400, &duration) ||
        parse_seconds("--warmup", warmup_s, 0, 3600, &warmup)) {
        usage();
        return 2;
    }
    int use_pool = strcmp(recv_s, "pool") == 0;
    if (!use_pool && strcmp(recv_s, "caller") != 0) {
        fprintf(stderr, "udp_load: --recv expects pool or caller, got \"%s\"\n", recv_s);
        usage();
        return 2;
    }
    rp_addr server;
    if (rp_addr_parse(&server, host, (uint16_t)port) != 0) {
        fprintf(stderr, "udp_load: \"%s\" is not a numeric IPv4 or IPv6 address\n", host);
        return 2;
    }
    dsize = (size_t)size;
    rcap = (uint32_t)((dsize + 64) & ~(size_t)63); /* room for a longer echo, which is then seen as corrupted */
    if (rcap > RP_DGRAM_MAX)
        rcap = RP_DGRAM_MAX;
    window = (uint64_t)window_l;
    send_batch = window < SEND_BATCH_MAX ? (size_t)window : SEND_BATCH_MAX;
    rate_per_sock = (double)rate / (double)nsocks;
    loss_ns = (uint64_t)loss_ms * 1000000u;
    uint64_t x = 0x9E3779B97F4A7C15u;
    for (size_t i = 0; i < sizeof pattern; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        pattern[i] = (unsigned char)(x >> 24);
    }

    sample_install_signals();
    sample_raise_fd_limit();
    int err = rp_loop_create(&loop, &lopts);
    if (err) {
        fprintf(stderr, "udp_load: cannot run the %s backend: %s\n", backend_s, rp_strerror(err));
        return 1;
    }
    int nworkers = rp_loop_workers(loop), ngroups = nworkers > 0 ? nworkers : 1;
    if (ngroups > nsocks)
        ngroups = (int)nsocks;
    if (use_pool) {
        rp_bufpool_options popts;
        rp_bufpool_options_init(&popts);
        popts.buf_size = rcap;
        popts.count = 4096;
        err = rp_bufpool_create(loop, &pool, &popts);
        if (err) {
            fprintf(stderr, "udp_load: cannot create the buffer pool: %s\n", rp_strerror(err));
            rp_loop_destroy(loop);
            return 1;
        }
    }

    /* Records: at least 4096 and 32 windows, so that a datagram is given up for its record only when far
     * more datagrams sent after it have come back than could ever be in flight with it. */
    uint64_t ring = 4096;
    while (ring < 32u * window)
        ring <<= 1;
    csock *socks = calloc((size_t)nsocks, sizeof *socks);
    group *groups = calloc((size_t)ngroups, sizeof *groups);
    csock **members = calloc((size_t)nsocks, sizeof *members);
    if (!socks || !groups || !members)
        err = RP_ENOMEM;
    rp_addr local;
    rp_addr_parse(&local, server.family == RP_AF_INET6 ? "::" : "0.0.0.0", 0);
    for (long i = 0; i < nsocks && !err; i++) {
        csock *c = &socks[i];
        c->id = (uint32_t)i;
        c->mask = ring - 1;
        c->ring = calloc((size_t)ring, sizeof *c->ring);
        c->sd = calloc(send_batch, sizeof *c->sd);
        c->sbuf = malloc(send_batch * dsize);
        c->rd = calloc(RECV_BATCH, sizeof *c->rd);
        c->rbuf = use_pool ? NULL : malloc((size_t)RECV_BATCH * rcap);
        c->hist = calloc(HIST_BUCKETS, sizeof *c->hist);
        if (!c->ring || !c->sd || !c->sbuf || !c->rd || (!use_pool && !c->rbuf) || !c->hist) {
            err = RP_ENOMEM;
            break;
        }
        rp_op_init(&c->send_op, on_sent, c);
        rp_udp_options uopts;
        rp_udp_options_init(&uopts);
        uopts.worker = nworkers > 0 ? (int)(i % ngroups) : -1;
        err = rp_udp_bind(loop, &c->sock, &local, &uopts);
        if (err) {
            fprintf(stderr, "udp_load: cannot bind socket %ld: %s\n", i, rp_strerror(err));
            break;
        }
        err = rp_udp_connect(loop, c->sock, &server);
        if (err) {
            fprintf(stderr, "udp_load: cannot connect socket %ld to %s port %ld: %s\n", i, host, port,
                    rp_strerror(err));
            break;
        }
    }
    if (err) {
        if (err == RP_ENOMEM)
            fprintf(stderr, "udp_load: out of memory\n");
        rp_loop_destroy(loop);
        return 1;
    }
    /* Groups: the sockets of one worker, driven by one timer bound to the first of them (so that it runs
     * on that worker, serialized with the callbacks of all of them). */
    for (long i = 0, k = 0; i < ngroups; i++) {
        groups[i].socks = members + k;
        for (long j = i; j < nsocks; j += ngroups)
            members[k++] = &socks[j];
        groups[i].count = (int)((nsocks - i + ngroups - 1) / ngroups);
    }
    nsocks_global = (int)nsocks;
    for (long i = 0; i < nsocks && !err; i++) {
        err = start_receive(&socks[i]);
        if (err)
            fprintf(stderr, "udp_load: cannot start receiving on socket %ld: %s\n", i, rp_strerror(err));
    }
    uint64_t tick_ms = rate > 0 ? 1 : 5;
    t_start = now_ns();
    double cpu0 = process_cpu_s();
    for (int i = 0; i < ngroups && !err; i++) {
        rp_op_init(&groups[i].tick, on_tick, &groups[i]);
        err = rp_timeout(loop, &groups[i].tick, groups[i].socks[0]->sock, 1, tick_ms);
        if (err)
            fprintf(stderr, "udp_load: rp_timeout: %s\n", rp_strerror(err));
    }
    int driven = nworkers == 0;
    uint64_t t_measure = t_start, t_end = t_start;
    if (!err) {
        err = wait_until(t_start + (uint64_t)(warmup * 1e9), driven, NULL);
        t_measure = now_ns();
        sample_store(&phase, PHASE_MEASURE);
    }
    if (!err) {
        err = wait_until(t_measure + (uint64_t)(duration * 1e9), driven, NULL);
    }
    t_end = now_ns();
    sample_store(&phase, PHASE_DRAIN);
    if (!err) /* what is in flight gets --loss-ms (and a little) to come back */
        err = wait_until(t_end + loss_ns + 50000000u, driven, all_drained);
    int interrupted = sample_stop != 0;
    sample_store(&phase, PHASE_STOP);
    double cpu = process_cpu_s() - cpu0;
    double wall = (double)(now_ns() - t_start) / 1e9;
    const char *backend = rp_backend_name(rp_loop_backend(loop));
    int derr = rp_loop_destroy(loop);
    if (derr)
        fprintf(stderr, "udp_load: rp_loop_destroy: %s\n", rp_strerror(derr));

    /* Totals. What is still in flight now never came back: lost. */
    uint64_t sent = 0, received = 0, m_sent = 0, m_received = 0, lost = 0, late = 0, dup = 0, corrupt = 0,
             stale = 0, reordered = 0, send_errors = 0, recv_errors = 0, refused = 0, lat_count = 0;
    int32_t last_send_error = 0, last_recv_error = 0;
    uint64_t *hist = calloc(HIST_BUCKETS, sizeof *hist);
    for (long i = 0; i < nsocks; i++) {
        csock *c = &socks[i];
        expire(c, 0, 1);
        for (uint64_t k = 0; k < ring; k++)
            if (c->ring[k].state == SLOT_INFLIGHT) /* below low only if a record was reused: counted already */
                c->lost++;
        sent += c->sent;
        received += c->received;
        m_sent += c->m_sent;
        m_received += c->m_received;
        lost += c->lost;
        late += c->late;
        dup += c->dup;
        corrupt += c->corrupt;
        stale += c->stale;
        reordered += c->reordered;
        send_errors += c->send_errors;
        recv_errors += c->recv_errors;
        refused += c->refused;
        lat_count += c->m_lat_count;
        if (c->last_send_error)
            last_send_error = c->last_send_error;
        if (c->last_recv_error)
            last_recv_error = c->last_recv_error;
        if (hist)
            for (unsigned b = 0; b < HIST_BUCKETS; b++)
                hist[b] += c->hist[b];
        free(c->ring);
        free(c->sd);
        free(c->sbuf);
        free(c->rd);
        free(c->rbuf);
        free(c->hist);
    }
    free(socks);
    free(groups);
    free(members);
    double msecs = (double)(t_end - t_measure) / 1e9;
    if (msecs <= 0)
        msecs = 1e-9;
    double p50 = hist ? hist_pct(hist, lat_count, 0.50) / 1000.0 : 0;
    double p99 = hist ? hist_pct(hist, lat_count, 0.99) / 1000.0 : 0;
    double p999 = hist ? hist_pct(hist, lat_count, 0.999) / 1000.0 : 0;
    free(hist);
    double loss_pct = sent ? 100.0 * (double)lost / (double)sent : 0;
    double cpu_pct = wall > 0 ? 100.0 * cpu / wall : 0;

    int failed = err != 0 || derr != 0 || corrupt > 0 || (sent > 0 && received == 0) ||
                 (strict && (lost || dup || late || stale));
    if (json) {
        printf("{\"backend\":\"%s\",\"sockets\":%ld,\"size\":%zu,\"window\":%llu,\"rate\":%ld,\"duration_s\":%.3f,"
               "\"sent_per_s\":%.1f,\"received_per_s\":%.1f,\"p50_us\":%.2f,\"p99_us\":%.2f,\"p999_us\":%.2f,"
               "\"sent\":%llu,\"received\":%llu,\"lost\":%llu,\"loss_pct\":%.4f,\"late\":%llu,\"duplicated\":%llu,"
               "\"corrupted\":%llu,\"stale\":%llu,\"reordered\":%llu,\"send_errors\":%llu,\"recv_errors\":%llu,"
               "\"refused\":%llu,\"client_cpu_pct\":%.1f,\"ok\":%d}\n",
               backend, nsocks, dsize, (unsigned long long)window, rate, msecs, (double)m_sent / msecs,
               (double)m_received / msecs, p50, p99, p999, (unsigned long long)sent, (unsigned long long)received,
               (unsigned long long)lost, loss_pct, (unsigned long long)late, (unsigned long long)dup,
               (unsigned long long)corrupt, (unsigned long long)stale, (unsigned long long)reordered,
               (unsigned long long)send_errors, (unsigned long long)recv_errors, (unsigned long long)refused,
               cpu_pct, !failed);
    } else {
        printf("udp_load: %ld socket%s x window %llu, %zu B datagrams%s, to %s port %ld, client backend %s, %d "
               "worker%s\n",
               nsocks, nsocks == 1 ? "" : "s", (unsigned long long)window, dsize, rate > 0 ? " (rate-limited)" : "",
               host, port, backend, nworkers, nworkers == 1 ? "" : "s");
        printf("  measured %.2f s: %.0f pkt/s sent, %.0f pkt/s echoed (%.2f MB/s each way)\n", msecs,
               (double)m_sent / msecs, (double)m_received / msecs, (double)m_received * (double)dsize / msecs / 1e6);
        printf("  round trip: p50 %.1f us, p99 %.1f us, p99.9 %.1f us (%llu echoes)\n", p50, p99, p999,
               (unsigned long long)lat_count);
        printf("  whole run: %llu sent, %llu echoed; lost %llu (%.3f %%), late %llu, duplicated %llu, corrupted "
               "%llu, stale %llu, reordered %llu\n",
               (unsigned long long)sent, (unsigned long long)received, (unsigned long long)lost, loss_pct,
               (unsigned long long)late, (unsigned long long)dup, (unsigned long long)corrupt,
               (unsigned long long)stale, (unsigned long long)reordered);
        if (send_errors || recv_errors || refused)
            printf("  errors: %llu datagrams not sent%s%s%s, %llu receive errors%s%s%s, %llu port unreachable\n",
                   (unsigned long long)send_errors, last_send_error ? " (last: " : "",
                   last_send_error ? rp_strerror(last_send_error) : "", last_send_error ? ")" : "",
                   (unsigned long long)recv_errors, last_recv_error ? " (last: " : "",
                   last_recv_error ? rp_strerror(last_recv_error) : "", last_recv_error ? ")" : "",
                   (unsigned long long)refused);
        printf("  client CPU %.0f %% of one core%s\n", cpu_pct, interrupted ? " -- INTERRUPTED" : "");
    }
    if (corrupt)
        fprintf(stderr, "udp_load: FAILED: %llu corrupted echoes\n", (unsigned long long)corrupt);
    else if (sent > 0 && received == 0)
        fprintf(stderr, "udp_load: FAILED: nothing was echoed (is a server listening on %s port %ld?)\n", host, port);
    else if (strict && (lost || dup || late || stale))
        fprintf(stderr, "udp_load: FAILED (--strict): %llu lost, %llu duplicated, %llu late, %llu stale\n",
                (unsigned long long)lost, (unsigned long long)dup, (unsigned long long)late,
                (unsigned long long)stale);
    return failed ? 1 : 0;
}
