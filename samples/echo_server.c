/* echo_server: a TCP echo server on ringport.
 *
 *   echo_server [--port 7000] [--host 0.0.0.0] [--backend auto|io_uring|epoll|kqueue|iocp] [--workers N]
 *               [--recv pool|buffer] [--pool-buf BYTES (16384)] [--pool-count N (4096)]
 *               [--spin-us US (0)] [--sqpoll on|off (off)] [--zerocopy-min BYTES (0)]
 *
 * --workers defaults to one worker thread per CPU; --workers 0 runs caller-driven: the main thread drives
 * the loop with rp_loop_run(RP_RUN_ONCE), a repeating 50 ms timer making sure it wakes to see a stop.
 * --spin-us, --sqpoll and --zerocopy-min set the loop's latency and io_uring knobs (rp_loop_options.spin_us,
 * RP_LOOP_SQPOLL, rp_loop_options.zerocopy_min).
 *
 * One multishot accept feeds every connection. Two ways to receive:
 *   --recv pool (the default): one multishot pool receive per connection, into buffers of a library pool
 *     (--pool-count buffers of --pool-buf bytes per worker). An idle connection holds no buffer. Every
 *     chunk is echoed by a send of its own straight from the pool buffer, which goes back to the pool when
 *     the send completes; up to MAX_SENDS sends are in flight per connection, and when a client does not
 *     read its echoes the receive is paused (cancelled; the chunks already received are still delivered
 *     and echoed) until its sends have drained, so one client cannot take every buffer.
 *   --recv buffer: a 64 KiB buffer per connection and exactly one op pending at any time:
 *     recv -> send what was received -> (send complete) recv again -> ...
 * End of stream, an error or RP_ECANCELED closes the socket; the struct is freed once nothing of it is
 * pending, in a callback.
 *
 * SIGINT/SIGTERM only set a flag. The main thread (never a worker) sees it, closes the listener and calls
 * rp_loop_destroy, which cancels every pending op and delivers the RP_ECANCELED completions: each
 * connection frees itself there, so nothing leaks. Then it prints what it served. */

#include "common.h"

#define CONN_BUF_SIZE (64 * 1024)
#define MAX_SENDS 8    /* echo sends in flight per connection (pool mode) before its receive pauses */
#define INLINE_SENDS 1 /* send records kept in the connection (ping-pong needs one); more are malloc'd */

/* --recv buffer: one op pending at a time. */
typedef struct conn {
    rp_op recv_op;
    rp_op send_op;
    rp_socket sock;
    unsigned char buf[CONN_BUF_SIZE];
} conn;

/* --recv pool: a multishot receive and up to MAX_SENDS (plus the chunks delivered after a pause) sends. */
typedef struct pool_conn pool_conn;
typedef struct pool_send {
    rp_op op;
    pool_conn *c;
    void *buf;
    int inline_slot; /* one of the connection's own slots, else malloc'd */
} pool_send;

struct pool_conn {
    rp_op recv_op;
    rp_socket sock;
    int receiving;  /* the multishot receive is pending */
    int paused;     /* it was cancelled because too many sends are in flight */
    int closed;     /* rp_close was called */
    int sends;      /* sends in flight */
    uint32_t free_slots;
    pool_send slot[INLINE_SENDS];
};

static rp_bufpool *pool;

/* Counters per worker, each written only by its own worker (no atomics on the hot path) and read after
 * rp_loop_destroy has joined the workers. Padded to a cache line each. */
#define MAX_WORKERS 256
typedef struct worker_stats {
    _Alignas(64) uint64_t accepted;
    uint64_t closed;
    uint64_t bytes;
    uint64_t errors; /* connections ended by an error other than a reset or a broken pipe, before shutdown */
} worker_stats;

static rp_loop *loop;
static worker_stats stats[MAX_WORKERS];
static sample_atomic accept_failed; /* the multishot accept ended on its own: stop with an error */
static sample_atomic shutting_down; /* set before rp_loop_destroy */

static worker_stats *my_stats(void)
{
    int w = rp_loop_current_worker(loop); /* 0 in caller-driven mode */
    return &stats[w >= 0 && w < MAX_WORKERS ? w : 0];
}

/* Nothing else is pending on the connection when this runs (one op at a time), so it can go at once.
 * result is the op's result, or the error of a submission that failed. */
static void conn_end(conn *c, int64_t result)
{
    worker_stats *st = my_stats();
    st->closed++;
    /* A reset or broken pipe is the client's doing; RP_ECANCELED, RP_ESHUTDOWN and RP_EBADF (the socket
     * was closed by rp_loop_destroy before we could resubmit) are the shutdown. */
    if (result < 0 && result != RP_ECONNRESET && result != RP_EPIPE && !sample_load(&shutting_down))
        st->errors++;
    rp_close(loop, NULL, c->sock); /* RP_EBADF if rp_loop_destroy closed it already: fine */
    free(c);
}

static void on_recv(rp_op *op)
{
    conn *c = op->user;
    if (op->result <= 0) { /* 0: the peer finished; < 0: error, or RP_ECANCELED from rp_loop_destroy */
        conn_end(c, op->result);
        return;
    }
    my_stats()->bytes += (uint64_t)op->result;
    int err = rp_send(loop, &c->send_op, c->sock, c->buf, (size_t)op->result);
    if (err)
        conn_end(c, err);
}

static void on_sent(rp_op *op)
{
    conn *c = op->user;
    if (op->result < 0) {
        conn_end(c, op->result);
        return;
    }
    int err = rp_recv(loop, &c->recv_op, c->sock, c->buf, sizeof c->buf);
    if (err)
        conn_end(c, err); /* RP_ESHUTDOWN or RP_EBADF while the loop is being destroyed */
}

static void accept_buffered(rp_socket s)
{
    conn *c = malloc(sizeof *c);
    if (!c) {
        rp_close(loop, NULL, s);
        return;
    }
    c->sock = s;
    rp_op_init(&c->recv_op, on_recv, c);
    rp_op_init(&c->send_op, on_sent, c);
    my_stats()->accepted++;
    int err = rp_recv(loop, &c->recv_op, s, c->buf, sizeof c->buf);
    if (err)
        conn_end(c, err);
}

/* ---- --recv pool ---- */
static void pool_on_recv(rp_op *op);

static void pool_conn_close(pool_conn *c, int64_t why)
{
    if (c->closed)
        return;
    c->closed = 1;
    if (why < 0 && why != RP_ECONNRESET && why != RP_EPIPE && why != RP_ECANCELED && !sample_load(&shutting_down))
        my_stats()->errors++;
    rp_close(loop, NULL, c->sock); /* ends the receive (RP_ECANCELED) and every send */
}

/* Frees the connection once nothing of it is pending. */
static void pool_conn_maybe_free(pool_conn *c)
{
    if (c->receiving || c->sends)
        return;
    if (!c->closed)
        pool_conn_close(c, 0);
    my_stats()->closed++;
    free(c);
}

static int pool_receive(pool_conn *c)
{
    int err = rp_recv_pool(loop, &c->recv_op, c->sock, pool, RP_RECV_MULTISHOT);
    c->receiving = err == 0;
    return err;
}

static void pool_on_sent(rp_op *op)
{
    pool_send *snd = op->user;
    pool_conn *c = snd->c;
    rp_bufpool_release(pool, snd->buf);
    c->sends--;
    if (snd->inline_slot)
        c->free_slots |= 1u << (snd - c->slot);
    else
        free(snd);
    if (op->result < 0)
        pool_conn_close(c, op->result);
    else if (c->paused && c->sends == 0 && !c->receiving && !c->closed) {
        c->paused = 0;
        int err = pool_receive(c); /* the client reads again: so do we */
        if (err)
            pool_conn_close(c, err);
    }
    pool_conn_maybe_free(c);
}

static void pool_on_recv(rp_op *op)
{
    pool_conn *c = op->user;
    if (!(op->flags & RP_OP_F_MORE)) {
        c->receiving = 0;
        if (!(c->paused && op->result == RP_ECANCELED) || c->closed)
            pool_conn_close(c, op->result); /* the end of the stream, an error, or the loop's end */
        else if (c->sends == 0 && pool_receive(c) != 0) /* paused, and already drained */
            pool_conn_close(c, RP_ESHUTDOWN);
        else if (c->sends == 0)
            c->paused = 0;
        pool_conn_maybe_free(c);
        return;
    }
    my_stats()->bytes += (uint64_t)op->result;
    if (c->closed) {
        rp_bufpool_release(pool, op->buf);
        return;
    }
    pool_send *snd;
    if (c->free_slots) {
        unsigned i = 0;
        while (!(c->free_slots & (1u << i)))
            i++;
        c->free_slots &= ~(1u << i);
        snd = &c->slot[i];
    } else if ((snd = malloc(sizeof *snd)) != NULL) {
        snd->inline_slot = 0;
    } else {
        rp_bufpool_release(pool, op->buf);
        pool_conn_close(c, RP_ENOMEM);
        return;
    }
    snd->c = c;
    snd->buf = op->buf;
    rp_op_init(&snd->op, pool_on_sent, snd);
    int err = rp_send(loop, &snd->op, c->sock, op->buf, (size_t)op->result);
    if (err) {
        rp_bufpool_release(pool, op->buf);
        if (snd->inline_slot)
            c->free_slots |= 1u << (snd - c->slot);
        else
            free(snd);
        pool_conn_close(c, err);
        return;
    }
    if (++c->sends >= MAX_SENDS && !c->paused) {
        c->paused = 1; /* the client is not reading its echoes: stop taking buffers for it */
        rp_cancel(loop, &c->recv_op);
    }
}

static void accept_pooled(rp_socket s)
{
    pool_conn *c = calloc(1, sizeof *c);
    if (!c) {
        rp_close(loop, NULL, s);
        return;
    }
    c->sock = s;
    c->free_slots = (1u << INLINE_SENDS) - 1;
    for (int i = 0; i < INLINE_SENDS; i++)
        c->slot[i].inline_slot = 1;
    rp_op_init(&c->recv_op, pool_on_recv, c);
    my_stats()->accepted++;
    int err = pool_receive(c);
    if (err) {
        pool_conn_close(c, err);
        pool_conn_maybe_free(c);
    }
}

static void on_accept(rp_op *op)
{
    if (op->result == 0) {
        if (pool)
            accept_pooled(op->socket);
        else
            accept_buffered(op->socket);
    }
    if (op->flags & RP_OP_F_MORE)
        return;
    /* The final completion: RP_ECANCELED when the listener is closed at shutdown, else a fatal error. */
    if (op->result != RP_ECANCELED) {
        fprintf(stderr, "echo_server: accept ended: %s\n",
                op->result < 0 ? rp_strerror((int)op->result) : "without an error");
        sample_store(&accept_failed, 1);
    }
}

static void on_tick(rp_op *op) { (void)op; /* only wakes rp_loop_run so the stop flag is seen */ }

static void usage(void)
{
    fprintf(stderr, "usage: echo_server [--port P (7000)] [--host ADDR (0.0.0.0)]\n"
                    "                   [--backend auto|io_uring|epoll|kqueue|iocp] [--workers N (one per CPU; "
                    "0 = caller-driven)]\n"
                    "                   [--recv pool|buffer (pool)] [--pool-buf BYTES (16384)] [--pool-count N "
                    "(4096 per worker)]\n"
                    "                   [--spin-us US (0)] [--sqpoll on|off (off; io_uring)] [--zerocopy-min BYTES "
                    "(0 = off; io_uring)]\n");
}

int main(int argc, char **argv)
{
    const char *port_s = "7000", *host = "0.0.0.0", *backend_s = "auto", *workers_s = NULL, *recv_s = "pool",
               *pool_buf_s = "16384", *pool_count_s = "4096", *spin_s = "0", *sqpoll_s = "off", *zc_s = "0";
    const sample_option options[] = {{"--port", &port_s},         {"--host", &host},
                                     {"--backend", &backend_s},   {"--workers", &workers_s},
                                     {"--recv", &recv_s},         {"--pool-buf", &pool_buf_s},
                                     {"--pool-count", &pool_count_s}, {"--spin-us", &spin_s},
                                     {"--sqpoll", &sqpoll_s},         {"--zerocopy-min", &zc_s}};
    int rc = sample_parse_args(argc, argv, options, sizeof options / sizeof options[0]);
    if (rc != 0) {
        usage();
        return rc > 0 ? 0 : 2;
    }
    rp_loop_options lopts;
    long port, pool_buf, pool_count, spin_us, zc_min;
    if (sample_parse_long("--port", port_s, 0, 65535, &port) != 0 ||
        sample_loop_options(backend_s, workers_s, &lopts) != 0 ||
        sample_parse_long("--pool-buf", pool_buf_s, 64, 16L << 20, &pool_buf) != 0 ||
        sample_parse_long("--pool-count", pool_count_s, 1, 32768, &pool_count) != 0 ||
        sample_parse_long("--spin-us", spin_s, 0, 1000000, &spin_us) != 0 ||
        sample_parse_long("--zerocopy-min", zc_s, 0, 1L << 30, &zc_min) != 0) {
        usage();
        return 2;
    }
    if (strcmp(sqpoll_s, "on") != 0 && strcmp(sqpoll_s, "off") != 0) {
        fprintf(stderr, "echo_server: --sqpoll expects on or off, got \"%s\"\n", sqpoll_s);
        usage();
        return 2;
    }
    lopts.spin_us = (uint32_t)spin_us;
    lopts.zerocopy_min = (uint32_t)zc_min;
    if (strcmp(sqpoll_s, "on") == 0)
        lopts.flags |= RP_LOOP_SQPOLL;
    int use_pool = strcmp(recv_s, "pool") == 0;
    if (!use_pool && strcmp(recv_s, "buffer") != 0) {
        fprintf(stderr, "echo_server: --recv expects pool or buffer, got \"%s\"\n", recv_s);
        usage();
        return 2;
    }
    rp_addr addr;
    if (rp_addr_parse(&addr, host, (uint16_t)port) != 0) {
        fprintf(stderr, "echo_server: \"%s\" is not a numeric IPv4 or IPv6 address\n", host);
        return 2;
    }

    sample_install_signals();
    sample_raise_fd_limit();
    int err = rp_loop_create(&loop, &lopts);
    if (err) {
        fprintf(stderr, "echo_server: cannot run the %s backend: %s\n", backend_s, rp_strerror(err));
        return 1;
    }
    if (use_pool) {
        rp_bufpool_options popts;
        rp_bufpool_options_init(&popts);
        popts.buf_size = (uint32_t)pool_buf;
        popts.count = (uint32_t)pool_count;
        err = rp_bufpool_create(loop, &pool, &popts);
        if (err) {
            fprintf(stderr, "echo_server: cannot create the buffer pool: %s\n", rp_strerror(err));
            rp_loop_destroy(loop);
            return 1;
        }
    }
    rp_socket listener;
    err = rp_listen(loop, &listener, &addr, NULL);
    if (err) {
        fprintf(stderr, "echo_server: cannot listen on %s port %ld: %s\n", host, port, rp_strerror(err));
        rp_loop_destroy(loop);
        return 1;
    }
    rp_socket_local_addr(loop, listener, &addr); /* the real port when --port 0 */
    char where[RP_ADDR_STRLEN];
    if (rp_addr_format(&addr, where, sizeof where) < 0)
        snprintf(where, sizeof where, "%s:%ld", host, port);

    static rp_op accept_op;
    rp_op_init(&accept_op, on_accept, NULL);
    err = rp_accept(loop, &accept_op, listener, RP_ACCEPT_MULTISHOT);
    if (err) {
        fprintf(stderr, "echo_server: rp_accept: %s\n", rp_strerror(err));
        rp_loop_destroy(loop);
        return 1;
    }

    int nworkers = rp_loop_workers(loop);
    const char *why = rp_loop_fallback_reason(loop);
    char recv_mode[64];
    if (use_pool)
        snprintf(recv_mode, sizeof recv_mode, "pool receives (%ld x %ld B per worker)", pool_count, pool_buf);
    else
        snprintf(recv_mode, sizeof recv_mode, "a %d KiB buffer per connection", CONN_BUF_SIZE / 1024);
    printf("echo_server: backend %s%s%s%s, %d worker%s%s, %s, listening on %s\n",
           rp_backend_name(rp_loop_backend(loop)), why ? " (fallback: " : "", why ? why : "", why ? ")" : "",
           nworkers, nworkers == 1 ? "" : "s", nworkers == 0 ? " (caller-driven)" : "", recv_mode, where);
    fflush(stdout);

    if (nworkers == 0) {
        static rp_op tick;
        rp_op_init(&tick, on_tick, NULL);
        err = rp_timeout(loop, &tick, RP_SOCKET_INVALID, 50, 50);
        if (err)
            fprintf(stderr, "echo_server: rp_timeout: %s\n", rp_strerror(err));
        while (!err && !sample_stop && !sample_load(&accept_failed)) {
            int n = rp_loop_run(loop, RP_RUN_ONCE);
            if (n < 0) {
                fprintf(stderr, "echo_server: rp_loop_run: %s\n", rp_strerror(n));
                err = n;
            }
        }
    } else {
        while (!sample_stop && !sample_load(&accept_failed))
            sample_sleep_ms(50);
    }

    /* Shutdown: no new connections, then cancel everything and let each connection free itself. */
    sample_store(&shutting_down, 1);
    rp_close(loop, NULL, listener);
    int derr = rp_loop_destroy(loop);
    if (derr)
        fprintf(stderr, "echo_server: rp_loop_destroy: %s\n", rp_strerror(derr));

    uint64_t accepted = 0, closed = 0, bytes = 0, errors = 0;
    for (int i = 0; i < MAX_WORKERS; i++) {
        accepted += stats[i].accepted;
        closed += stats[i].closed;
        bytes += stats[i].bytes;
        errors += stats[i].errors;
    }
    printf("echo_server: stopped; %llu connections served, %llu bytes echoed, %llu connection errors%s\n",
           (unsigned long long)accepted, (unsigned long long)bytes, (unsigned long long)errors,
           accepted == closed ? "" : " (some connections were not released!)");
    return (err || derr || sample_load(&accept_failed) || accepted != closed) ? 1 : 0;
}
