/* udp_echo_server: a UDP echo server on ringport.
 *
 *   udp_echo_server [--port 7000] [--host 0.0.0.0] [--backend auto|io_uring|epoll|kqueue|iocp] [--workers N]
 *                   [--recv pool|caller (pool)] [--batch N (64)] [--sockets N (1)] [--recv-buffer BYTES (0)]
 *                   [--dgram-max BYTES (2048)] [--pool-count N (4096)] [--quiet]
 *
 * Every datagram that arrives is sent back, unchanged, to the address it came from. --workers defaults to
 * one worker thread per CPU; --workers 0 runs caller-driven (the main thread drives the loop with
 * rp_loop_run(RP_RUN_ONCE), a repeating 50 ms timer making sure it wakes to see a stop and to report).
 *
 * --sockets N binds N sockets to the same address with RP_UDP_REUSEPORT (Linux: the kernel spreads the
 * datagrams over them by source address), spread round-robin over the workers; with N = 1 the one socket
 * is bound without it. --recv-buffer sets SO_RCVBUF (and SO_SNDBUF) of each; 0 keeps the system's
 * default. What the kernel drops because a receive buffer overflowed is reported (rp_udp_drops).
 *
 * Two ways to receive:
 *   --recv pool (the default): one multishot rp_udp_recv_pool per socket, up to --batch datagrams per
 *     completion, each in a buffer of a library pool (--pool-count buffers of --dgram-max bytes per
 *     worker). Each completion's datagrams are echoed by ONE rp_udp_send straight from their pool buffers,
 *     which go back to the pool when that send completes. While one send is in flight the next
 *     completion takes another send record (op + datagram array) from the socket's free list; a socket
 *     keeps at most MAX_SENDS records. When they are all in flight, which takes a client that floods
 *     faster than the socket sends, the datagrams of the completion are dropped and counted (UDP may
 *     drop; the pool, which runs dry before that in practice, makes the receive wait for buffers).
 *   --recv caller: rp_udp_recv into the server's own buffers (--batch x --dgram-max bytes per send
 *     record), then rp_udp_send of the same datagram array and buffers. The next receive goes into
 *     another record while that send is in flight; with all MAX_SENDS records in flight the socket stops
 *     receiving until a send completes (the datagrams queue in the kernel meanwhile).
 *
 * Hostile input is just echoed: any content, any length up to --dgram-max (a longer datagram arrives
 * truncated and is counted and not echoed, since the echo would differ from what was sent), a zero-length
 * datagram is echoed as one. A datagram the kernel refuses to send (e.g. to port 0 or to a broadcast
 * address) is counted as a send error; the rest of its batch still goes. Nothing a peer sends can make
 * a socket stop receiving.
 *
 * Statistics: packets per second in and out every second (unless --quiet), and a summary when it stops.
 * SIGINT/SIGTERM only set a flag. The main thread sees it, prints the last figures and calls
 * rp_loop_destroy, which ends every receive and send with RP_ECANCELED (their pool buffers go back in the
 * callbacks); then every send record is freed and the server checks that none was left behind. */

#include "common.h"

#define MAX_SENDS 64       /* send records per socket (each one rp_udp_send in flight) */
#define MAX_SOCKETS 1024   /* --sockets */
#define MAX_RECV_RETRIES 8 /* a receive that ends by itself is restarted this often in a row before giving up */

typedef struct usock usock;

/* One echo batch: a send op and its datagram array (and, with --recv caller, the buffers it points into). */
typedef struct send_rec send_rec;
struct send_rec {
    rp_op op;
    usock *u;
    send_rec *next;       /* on the socket's free list */
    size_t count;         /* datagrams being sent */
    unsigned char *data;  /* --recv caller: batch x dgram_max bytes; NULL with pool receives */
    rp_dgram d[];         /* batch entries */
};

/* Counters of one socket, written by its worker and drained once per second by the main thread: each
 * holds at most the work since the last drain, so a 32-bit long (Windows) does not overflow. */
typedef struct usock_counters {
    sample_atomic rx;          /* datagrams received */
    sample_atomic rx_bytes;    /* their bytes */
    sample_atomic tx;          /* datagrams echoed (handed to the kernel) */
    sample_atomic send_errors; /* datagrams the kernel refused */
    sample_atomic truncated;   /* datagrams longer than --dgram-max: not echoed */
    sample_atomic backlog;     /* datagrams dropped because every send record was in flight */
    sample_atomic recv_errors; /* receives that ended by themselves (restarted) */
    sample_atomic leaks;       /* rp_bufpool_release refused a buffer the pool handed out (a library bug) */
} usock_counters;

struct usock {
    rp_op recv_op;
    rp_socket sock;
    int index;
    int receiving;        /* recv_op is pending */
    int waiting;          /* --recv caller: no free record for the next receive; a send completion resumes */
    int dead;             /* the receive could not be restarted: the socket serves no more */
    unsigned retries;     /* receives in a row that ended by themselves */
    unsigned recs;        /* send records allocated */
    unsigned recs_free;   /* of which on the free list */
    send_rec *free_list;
    send_rec *rx_rec;     /* --recv caller: the record the pending receive reads into */
    rp_dgram *rx;         /* --recv pool: the multishot receive's array */
    usock_counters c;
    sample_atomic last_error; /* the last send error (RP_E*), for the report */
};

/* Totals kept by the main thread from the drained counters. */
typedef struct totals {
    uint64_t rx, rx_bytes, tx, send_errors, truncated, backlog, recv_errors, leaks;
} totals;

static rp_loop *loop;
static rp_bufpool *pool; /* NULL with --recv caller */
static size_t batch = 64;
static uint32_t dgram_max = 2048;
static usock *socks[MAX_SOCKETS];
static int nsocks;
static sample_atomic shutting_down; /* set before rp_loop_destroy: cancellations are expected from then on */
static sample_atomic dead_sockets;

static void count(sample_atomic *a, long n)
{
    if (n)
        sample_fetch_add(a, n);
}

/* ---- send records ---- */
static send_rec *rec_get(usock *u)
{
    send_rec *r = u->free_list;
    if (r) {
        u->free_list = r->next;
        u->recs_free--;
        return r;
    }
    if (u->recs >= MAX_SENDS)
        return NULL;
    r = malloc(sizeof *r + batch * sizeof(rp_dgram));
    if (!r)
        return NULL;
    r->u = u;
    r->data = NULL;
    if (!pool && (r->data = malloc(batch * (size_t)dgram_max)) == NULL) {
        free(r);
        return NULL;
    }
    u->recs++;
    return r;
}

static void rec_put(usock *u, send_rec *r)
{
    r->next = u->free_list;
    u->free_list = r;
    u->recs_free++;
}

/* Gives the pool buffers of r->d[0 .. n-1] back (pool receives only). */
static void release_dgrams(usock *u, const rp_dgram *d, size_t n)
{
    long refused = 0;
    for (size_t i = 0; i < n; i++)
        if (rp_bufpool_release(pool, d[i].base) != 0)
            refused++;
    count(&u->c.leaks, refused);
}

/* ---- receiving ---- */
static void on_sent(rp_op *op);
static void on_recv_pool(rp_op *op);
static void on_recv_caller(rp_op *op);
static int start_receive(usock *u);

/* The receive ended (or could not start) and will not be restarted: say so once. */
static void socket_dead(usock *u, int64_t why)
{
    if (u->dead)
        return;
    u->dead = 1;
    sample_fetch_add(&dead_sockets, 1);
    fprintf(stderr, "udp_echo_server: socket %d stops receiving: %s\n", u->index, rp_strerror((int)why));
}

/* A receive ended by itself (not by the shutdown): count it and start again, a few times in a row at
 * most (a fault that repeats at once would otherwise spin). */
static void receive_ended(usock *u, int64_t why)
{
    if (sample_load(&shutting_down) || why == RP_ECANCELED || why == RP_ESHUTDOWN || why == RP_EBADF)
        return; /* the loop is going away */
    count(&u->c.recv_errors, 1);
    if (++u->retries > MAX_RECV_RETRIES) {
        socket_dead(u, why);
        return;
    }
    int err = start_receive(u);
    if (err)
        socket_dead(u, err);
}

static int start_receive(usock *u)
{
    int err;
    if (pool) {
        rp_op_init(&u->recv_op, on_recv_pool, u);
        err = rp_udp_recv_pool(loop, &u->recv_op, u->sock, pool, u->rx, batch, RP_RECV_MULTISHOT);
    } else {
        send_rec *r = rec_get(u);
        if (!r) {
            u->waiting = 1; /* every record is in flight: the next send completion starts the receive */
            return 0;
        }
        memset(r->d, 0, batch * sizeof r->d[0]);
        for (size_t i = 0; i < batch; i++) {
            r->d[i].base = r->data + i * dgram_max;
            r->d[i].len = dgram_max;
        }
        u->rx_rec = r;
        rp_op_init(&u->recv_op, on_recv_caller, u);
        err = rp_udp_recv(loop, &u->recv_op, u->sock, r->d, batch);
        if (err) {
            u->rx_rec = NULL;
            rec_put(u, r);
        }
    }
    u->receiving = err == 0;
    return err;
}

/* Sends r->d[0 .. n-1] back to their sources. Returns 0, or the submission's error (the caller then
 * still owns r and its buffers). */
static int echo(usock *u, send_rec *r, size_t n)
{
    r->count = n;
    rp_op_init(&r->op, on_sent, r);
    return rp_udp_send(loop, &r->op, u->sock, r->d, n);
}

static void on_recv_pool(rp_op *op)
{
    usock *u = op->user;
    if (!(op->flags & RP_OP_F_MORE)) { /* the final completion: carries no datagram */
        u->receiving = 0;
        receive_ended(u, op->result);
        return;
    }
    size_t n = (size_t)op->result;
    long bytes = 0, trunc = 0;
    u->retries = 0;
    send_rec *r = sample_load(&shutting_down) ? NULL : rec_get(u);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const rp_dgram *in = &u->rx[i];
        bytes += (long)in->len;
        if (!r || (in->flags & RP_DGRAM_TRUNC)) {
            trunc += (in->flags & RP_DGRAM_TRUNC) != 0;
            release_dgrams(u, in, 1);
            continue;
        }
        rp_dgram *out = &r->d[k++];
        memset(out, 0, sizeof *out);
        out->base = in->base;
        out->len = in->len;
        out->peer = in->peer;
    }
    count(&u->c.rx, (long)n);
    count(&u->c.rx_bytes, bytes);
    count(&u->c.truncated, trunc);
    if (!r) {
        if (!sample_load(&shutting_down))
            count(&u->c.backlog, (long)(n - (size_t)trunc));
        return;
    }
    if (k == 0) {
        rec_put(u, r);
        return;
    }
    int err = echo(u, r, k);
    if (err) { /* RP_ESHUTDOWN / RP_EBADF while the loop is being destroyed */
        release_dgrams(u, r->d, k);
        rec_put(u, r);
        if (!sample_load(&shutting_down)) {
            count(&u->c.send_errors, (long)k);
            sample_store(&u->last_error, err);
        }
    }
}

static void on_recv_caller(rp_op *op)
{
    usock *u = op->user;
    send_rec *r = u->rx_rec;
    u->rx_rec = NULL;
    u->receiving = 0;
    if (op->result < 0) {
        rec_put(u, r);
        receive_ended(u, op->result);
        return;
    }
    size_t n = (size_t)op->result, k = 0;
    long bytes = 0, trunc = 0;
    u->retries = 0;
    for (size_t i = 0; i < n; i++) {
        bytes += (long)r->d[i].len;
        if (r->d[i].flags & RP_DGRAM_TRUNC) {
            trunc++;
            continue;
        }
        if (k != i)
            r->d[k] = r->d[i]; /* keeps the datagram's buffer: only the entry moves */
        r->d[k].flags = 0;     /* a send wants 0 here */
        r->d[k].error = 0;
        k++;
    }
    count(&u->c.rx, (long)n);
    count(&u->c.rx_bytes, bytes);
    count(&u->c.truncated, trunc);
    int err = k ? echo(u, r, k) : 0;
    if (k == 0 || err) {
        rec_put(u, r);
        if (err && !sample_load(&shutting_down)) {
            count(&u->c.send_errors, (long)k);
            sample_store(&u->last_error, err);
        }
    }
    if (sample_load(&shutting_down))
        return;
    err = start_receive(u);
    if (err)
        receive_ended(u, err);
}

static void on_sent(rp_op *op)
{
    send_rec *r = op->user;
    usock *u = r->u;
    int quitting = (int)sample_load(&shutting_down);
    long errors = 0, sent = op->result > 0 ? (long)op->result : 0;
    for (size_t i = 0; i < r->count; i++) {
        int32_t e = r->d[i].error;
        if (e == 0 || (e == RP_ECANCELED && quitting))
            continue;
        errors++;
        sample_store(&u->last_error, e);
    }
    count(&u->c.tx, sent);
    count(&u->c.send_errors, errors);
    if (pool)
        release_dgrams(u, r->d, r->count);
    rec_put(u, r);
    if (u->waiting && !quitting) {
        u->waiting = 0;
        int err = start_receive(u);
        if (err)
            receive_ended(u, err);
    }
}

/* ---- statistics ---- */
static long drain(sample_atomic *a)
{
    long v = sample_load(a);
    if (v)
        sample_fetch_add(a, -v);
    return v;
}

static void collect(totals *t, totals *delta)
{
    totals d;
    memset(&d, 0, sizeof d);
    for (int i = 0; i < nsocks; i++) {
        usock_counters *c = &socks[i]->c;
        d.rx += (uint64_t)drain(&c->rx);
        d.rx_bytes += (uint64_t)drain(&c->rx_bytes);
        d.tx += (uint64_t)drain(&c->tx);
        d.send_errors += (uint64_t)drain(&c->send_errors);
        d.truncated += (uint64_t)drain(&c->truncated);
        d.backlog += (uint64_t)drain(&c->backlog);
        d.recv_errors += (uint64_t)drain(&c->recv_errors);
        d.leaks += (uint64_t)drain(&c->leaks);
    }
    t->rx += d.rx;
    t->rx_bytes += d.rx_bytes;
    t->tx += d.tx;
    t->send_errors += d.send_errors;
    t->truncated += d.truncated;
    t->backlog += d.backlog;
    t->recv_errors += d.recv_errors;
    t->leaks += d.leaks;
    if (delta)
        *delta = d;
}

/* Kernel drops over every socket; -1 where the platform does not count them. */
static int64_t kernel_drops(void)
{
    uint64_t sum = 0;
    for (int i = 0; i < nsocks; i++) {
        uint64_t v;
        if (rp_udp_drops(loop, socks[i]->sock, &v) != 0)
            return -1;
        sum += v;
    }
    return (int64_t)sum;
}

static void report_second(const totals *d, double secs, int64_t drops, int64_t *last_drops)
{
    if (secs <= 0)
        secs = 1;
    char extra[160] = "";
    size_t len = 0;
    if (d->send_errors)
        len += (size_t)snprintf(extra + len, sizeof extra - len, ", %llu send errors",
                                (unsigned long long)d->send_errors);
    if (d->truncated && len < sizeof extra)
        len += (size_t)snprintf(extra + len, sizeof extra - len, ", %llu truncated", (unsigned long long)d->truncated);
    if (d->backlog && len < sizeof extra)
        len += (size_t)snprintf(extra + len, sizeof extra - len, ", %llu dropped (sends backlogged)",
                                (unsigned long long)d->backlog);
    if (drops > *last_drops && len < sizeof extra)
        snprintf(extra + len, sizeof extra - len, ", %lld dropped by the kernel", (long long)(drops - *last_drops));
    if (drops >= 0)
        *last_drops = drops;
    printf("udp_echo_server: %.0f pkt/s in, %.0f pkt/s out, %.2f MB/s in%s\n", (double)d->rx / secs,
           (double)d->tx / secs, (double)d->rx_bytes / secs / 1e6, extra);
    fflush(stdout);
}

/* ---- setup ---- */
static void on_tick(rp_op *op) { (void)op; /* only wakes rp_loop_run so the stop flag is seen */ }

static void usage(void)
{
    fprintf(stderr,
            "usage: udp_echo_server [--port P (7000)] [--host ADDR (0.0.0.0)]\n"
            "                       [--backend auto|io_uring|epoll|kqueue|iocp] [--workers N (one per CPU; 0 = "
            "caller-driven)]\n"
            "                       [--recv pool|caller (pool)] [--batch N (64 datagrams per completion)]\n"
            "                       [--sockets N (1; > 1: SO_REUSEPORT)] [--recv-buffer BYTES (0 = system "
            "default)]\n"
            "                       [--dgram-max BYTES (2048; longer datagrams are not echoed)] [--pool-count N "
            "(4096 per worker)]\n"
            "                       [--quiet (no per-second report)]\n");
}

static void free_sockets(void)
{
    for (int i = 0; i < nsocks; i++) {
        usock *u = socks[i];
        while (u->free_list) {
            send_rec *r = u->free_list;
            u->free_list = r->next;
            free(r->data);
            free(r);
        }
        free(u->rx);
        free(u);
    }
    nsocks = 0;
}

int main(int argc, char **argv)
{
    const char *port_s = "7000", *host = "0.0.0.0", *backend_s = "auto", *workers_s = NULL, *recv_s = "pool",
               *batch_s = "64", *sockets_s = "1", *rcvbuf_s = "0", *dgram_s = "2048", *pool_count_s = "4096";
    const sample_option options[] = {
        {"--port", &port_s},           {"--host", &host},         {"--backend", &backend_s},
        {"--workers", &workers_s},     {"--recv", &recv_s},       {"--batch", &batch_s},
        {"--sockets", &sockets_s},     {"--recv-buffer", &rcvbuf_s}, {"--dgram-max", &dgram_s},
        {"--pool-count", &pool_count_s}};
    /* --quiet takes no value: take it out before the shared parser sees the rest. */
    int quiet = 0, nargs = 0;
    char **args = malloc(((size_t)argc + 1) * sizeof *args);
    if (!args)
        return 1;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && strcmp(argv[i], "--quiet") == 0)
            quiet = 1;
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
    rp_loop_options lopts;
    long port, batch_l, sockets_l, rcvbuf, dgram_l, pool_count;
    if (sample_parse_long("--port", port_s, 0, 65535, &port) != 0 ||
        sample_loop_options(backend_s, workers_s, &lopts) != 0 ||
        sample_parse_long("--batch", batch_s, 1, RP_DGRAM_BATCH_MAX, &batch_l) != 0 ||
        sample_parse_long("--sockets", sockets_s, 1, MAX_SOCKETS, &sockets_l) != 0 ||
        sample_parse_long("--recv-buffer", rcvbuf_s, 0, 1L << 30, &rcvbuf) != 0 ||
        sample_parse_long("--dgram-max", dgram_s, 64, RP_DGRAM_MAX, &dgram_l) != 0 ||
        sample_parse_long("--pool-count", pool_count_s, 1, 32768, &pool_count) != 0) {
        usage();
        return 2;
    }
    int use_pool = strcmp(recv_s, "pool") == 0;
    if (!use_pool && strcmp(recv_s, "caller") != 0) {
        fprintf(stderr, "udp_echo_server: --recv expects pool or caller, got \"%s\"\n", recv_s);
        usage();
        return 2;
    }
    batch = (size_t)batch_l;
    dgram_max = (uint32_t)dgram_l;
    rp_addr addr;
    if (rp_addr_parse(&addr, host, (uint16_t)port) != 0) {
        fprintf(stderr, "udp_echo_server: \"%s\" is not a numeric IPv4 or IPv6 address\n", host);
        return 2;
    }

    sample_install_signals();
    int err = rp_loop_create(&loop, &lopts);
    if (err) {
        fprintf(stderr, "udp_echo_server: cannot run the %s backend: %s\n", backend_s, rp_strerror(err));
        return 1;
    }
    int nworkers = rp_loop_workers(loop);
    if (use_pool) {
        rp_bufpool_options popts;
        rp_bufpool_options_init(&popts);
        popts.buf_size = dgram_max;
        popts.count = (uint32_t)pool_count;
        err = rp_bufpool_create(loop, &pool, &popts);
        if (err) {
            fprintf(stderr, "udp_echo_server: cannot create the buffer pool (%ld x %u B per worker): %s\n", pool_count,
                    dgram_max, rp_strerror(err));
            rp_loop_destroy(loop);
            return 1;
        }
    }

    /* The sockets: the first one fixes the port (--port 0 picks one), the others join it. */
    for (long i = 0; i < sockets_l; i++) {
        usock *u = calloc(1, sizeof *u);
        if (!u || (use_pool && (u->rx = calloc(batch, sizeof *u->rx)) == NULL)) {
            free(u);
            fprintf(stderr, "udp_echo_server: out of memory\n");
            err = RP_ENOMEM;
            break;
        }
        u->index = (int)i;
        socks[nsocks++] = u;
        rp_udp_options uopts;
        rp_udp_options_init(&uopts);
        if (sockets_l > 1)
            uopts.flags |= RP_UDP_REUSEPORT;
        uopts.worker = nworkers > 0 ? (int)(i % nworkers) : -1;
        uopts.recv_buffer = (int)rcvbuf;
        uopts.send_buffer = (int)rcvbuf;
        err = rp_udp_bind(loop, &u->sock, &addr, &uopts);
        if (err) {
            fprintf(stderr, "udp_echo_server: cannot bind %s port %u (socket %ld of %ld%s): %s\n", host,
                    (unsigned)addr.port, i + 1, sockets_l, sockets_l > 1 ? ", SO_REUSEPORT" : "", rp_strerror(err));
            if (err == RP_ENOTSUP && sockets_l > 1)
                fprintf(stderr, "udp_echo_server: this platform has no SO_REUSEPORT: use --sockets 1\n");
            break;
        }
        if (i == 0)
            rp_socket_local_addr(loop, u->sock, &addr); /* the real port when --port 0 */
    }
    if (err) {
        rp_loop_destroy(loop);
        free_sockets();
        return 1;
    }
    char where[RP_ADDR_STRLEN];
    if (rp_addr_format(&addr, where, sizeof where) < 0)
        snprintf(where, sizeof where, "%s:%ld", host, port);

    for (int i = 0; i < nsocks && !err; i++) {
        err = start_receive(socks[i]);
        if (err)
            fprintf(stderr, "udp_echo_server: cannot start receiving on socket %d: %s\n", i, rp_strerror(err));
    }
    if (err) {
        sample_store(&shutting_down, 1);
        rp_loop_destroy(loop);
        free_sockets();
        return 1;
    }

    const char *why = rp_loop_fallback_reason(loop);
    char recv_mode[96];
    if (use_pool)
        snprintf(recv_mode, sizeof recv_mode, "pool receives (%ld x %u B per worker)", pool_count, dgram_max);
    else
        snprintf(recv_mode, sizeof recv_mode, "receives into own buffers (%u B each)", dgram_max);
    printf("udp_echo_server: backend %s%s%s%s, %d worker%s%s, %d socket%s%s, %s, batch %zu, listening on %s\n",
           rp_backend_name(rp_loop_backend(loop)), why ? " (fallback: " : "", why ? why : "", why ? ")" : "",
           nworkers, nworkers == 1 ? "" : "s", nworkers == 0 ? " (caller-driven)" : "", nsocks, nsocks == 1 ? "" : "s",
           nsocks > 1 ? " (SO_REUSEPORT)" : "", recv_mode, batch, where);
    fflush(stdout);

    static rp_op tick;
    if (nworkers == 0) {
        rp_op_init(&tick, on_tick, NULL);
        err = rp_timeout(loop, &tick, RP_SOCKET_INVALID, 50, 50);
        if (err)
            fprintf(stderr, "udp_echo_server: rp_timeout: %s\n", rp_strerror(err));
    }
    totals total, delta;
    memset(&total, 0, sizeof total);
    uint64_t t0 = sample_now_ms(), last = t0;
    int64_t drops0 = kernel_drops(), last_drops = drops0;
    while (!err && !sample_stop && sample_load(&dead_sockets) < nsocks) {
        if (nworkers == 0) {
            int n = rp_loop_run(loop, RP_RUN_ONCE);
            if (n < 0) {
                fprintf(stderr, "udp_echo_server: rp_loop_run: %s\n", rp_strerror(n));
                err = n;
            }
        } else {
            sample_sleep_ms(50);
        }
        uint64_t now = sample_now_ms();
        if (now - last >= 1000) {
            collect(&total, &delta);
            if (!quiet)
                report_second(&delta, (double)(now - last) / 1000.0, kernel_drops(), &last_drops);
            last = now;
        }
    }
    if (sample_load(&dead_sockets) >= nsocks)
        fprintf(stderr, "udp_echo_server: no socket is receiving any more: stopping\n");
    double secs = (double)(sample_now_ms() - t0) / 1000.0;
    int64_t drops = kernel_drops();

    /* Shutdown: cancel everything; the callbacks give the pool buffers back and file their records. */
    sample_store(&shutting_down, 1);
    int derr = rp_loop_destroy(loop);
    if (derr)
        fprintf(stderr, "udp_echo_server: rp_loop_destroy: %s\n", rp_strerror(derr));
    collect(&total, NULL);
    unsigned lost_recs = 0;
    int32_t last_error = 0;
    for (int i = 0; i < nsocks; i++) {
        lost_recs += socks[i]->recs - socks[i]->recs_free; /* a pending receive's record counts too */
        if (sample_load(&socks[i]->last_error))
            last_error = (int32_t)sample_load(&socks[i]->last_error);
    }
    free_sockets();

    char kdrops[64] = "", lasterr[96] = "";
    if (drops >= 0 && drops0 >= 0)
        snprintf(kdrops, sizeof kdrops, ", %lld dropped by the kernel", (long long)(drops - drops0));
    if (last_error)
        snprintf(lasterr, sizeof lasterr, " (last: %s)", rp_strerror(last_error));
    if (secs <= 0)
        secs = 0.001;
    printf("udp_echo_server: stopped after %.1f s; %llu datagrams received (%llu bytes), %llu echoed (%.0f pkt/s "
           "out), %llu send errors%s, %llu truncated, %llu dropped (sends backlogged)%s, %llu receive restarts\n",
           secs, (unsigned long long)total.rx, (unsigned long long)total.rx_bytes, (unsigned long long)total.tx,
           (double)total.tx / secs, (unsigned long long)total.send_errors, lasterr,
           (unsigned long long)total.truncated, (unsigned long long)total.backlog, kdrops,
           (unsigned long long)total.recv_errors);
    if (lost_recs)
        fprintf(stderr, "udp_echo_server: %u send records were not given back (a send never completed!)\n", lost_recs);
    if (total.leaks)
        fprintf(stderr, "udp_echo_server: rp_bufpool_release refused %llu pool buffers\n",
                (unsigned long long)total.leaks);
    return (err || derr || lost_recs || total.leaks) ? 1 : 0;
}
