/* restart_client: keeps connections to an echo server open and sending for a given time, and checks that
 * every byte comes back, in order and unchanged: the client side of a zero-downtime restart test
 * (samples/restart_server.c), usable against any echo server.
 *
 *   restart_client [--host 127.0.0.1] [--port 7000] [--connections 200] [--seconds 10]
 *                  [--chunk BYTES (16384)] [--window BYTES (65536)] [--drain-timeout SECONDS (30)]
 *                  [--stalled N (0)] [--stall-bytes BYTES (8388608)]
 *                  [--backend auto|io_uring|epoll|kqueue|iocp] [--workers N]
 *
 * Each connection sends chunks of varying size (1 .. --chunk bytes) one after the other, with up to
 * --window bytes sent and not yet echoed, and always has a receive pending. Byte k of connection i is a
 * fixed function of (i, k), so every echoed byte is checked against what must be at that offset: a lost,
 * repeated, reordered, crossed or altered byte is caught, not only a short stream. After --seconds a
 * connection stops sending, waits for the rest of its echo (up to --drain-timeout) and closes.
 *
 * --stalled N adds N connections that do not read: each sends --stall-bytes at once (more than the
 * socket buffers hold, so the server's echo send stays blocked) and reads its echo only after --seconds,
 * checking it like the others. A server that waits for its sends to finish before doing something (a
 * handover) is held up by them for as long; they must still get every byte back.
 *
 * A connection that ends early (end of stream, reset, error), or whose echo differs or is incomplete, is
 * a failure: the exit status is 1 if there was any (0 otherwise, 2 for bad options). The report gives the
 * connections, the bytes echoed and verified, the errors, and the longest time a connection waited for
 * an echo (during a restart: how long the handover held its traffic). */

#include "common.h"

enum { RUNNING = 0, DRAINING = 1, DONE = 2, FAILED = 3 };

typedef struct client {
    rp_op recv_op; /* first the connect, then every receive */
    rp_op send_op;
    rp_op timer_op; /* fires at the end of the sending time */
    rp_socket sock;
    unsigned char *out, *in, *expect;
    uint64_t sent;     /* bytes whose send completed */
    uint64_t queued;   /* bytes submitted (sent + the send in flight) */
    uint64_t verified; /* bytes echoed and checked */
    uint64_t rng;      /* chunk sizes */
    uint64_t wait_since; /* when the connection last had an echo or started waiting for one */
    uint64_t max_wait_ms;
    int sending;       /* a send is pending */
    int stalled;       /* --stalled: one big send, no reading until the end of the sending time */
    int state;         /* touched only on the connection's worker */
    unsigned index;
} client;

static rp_loop *loop;
static size_t chunk_max, window, stall_bytes;
static uint64_t run_ms;
static sample_atomic finished;  /* connections DONE or FAILED */
static sample_atomic reported;  /* failures printed so far (the first few are) */
static sample_atomic quitting;  /* interrupted or timed out: the cancellations that follow are not news */

/* The byte at offset k of connection i: splitmix64 of (i, k / 8), byte k % 8 of it. */
static uint64_t mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15u;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9u;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBu;
    return x ^ (x >> 31);
}

static void pattern(unsigned char *p, size_t n, unsigned index, uint64_t off)
{
    uint64_t seed = (uint64_t)index * 0xD1B54A32D192ED03u;
    size_t i = 0;
    while (i < n) {
        uint64_t word = mix(seed ^ ((off + i) >> 3));
        for (unsigned b = (unsigned)((off + i) & 7); b < 8 && i < n; b++, i++)
            p[i] = (unsigned char)(word >> (8 * b));
    }
}

static void finish(client *c, int state)
{
    c->state = state;
    rp_close(loop, NULL, c->sock); /* cancels the receive and the timer; their callbacks ignore it */
    sample_fetch_add(&finished, 1);
}

static void fail(client *c, const char *what, int64_t code)
{
    if (c->state == DONE || c->state == FAILED)
        return;
    if (!sample_load(&quitting) && sample_fetch_add(&reported, 1) < 10)
        fprintf(stderr, "restart_client: connection %u after %llu bytes echoed: %s: %s\n", c->index,
                (unsigned long long)c->verified, what,
                code < 0 ? rp_strerror((int)code) : code == 0 ? "end of stream" : "check failed");
    finish(c, FAILED);
}

static void try_send(client *c)
{
    if (c->state != RUNNING || c->sending || c->stalled || c->queued - c->verified >= window)
        return;
    size_t room = (size_t)(window - (c->queued - c->verified));
    c->rng = mix(c->rng);
    size_t n = 1 + (size_t)(c->rng % chunk_max);
    if (n > room)
        n = room;
    pattern(c->out, n, c->index, c->queued);
    if (c->queued == c->verified)
        c->wait_since = sample_now_ms(); /* nothing was outstanding: the wait for an echo starts now */
    int err = rp_send(loop, &c->send_op, c->sock, c->out, n);
    if (err) {
        fail(c, "rp_send", err);
        return;
    }
    c->sending = 1;
    c->queued += n;
}

/* Draining and everything echoed: the connection has passed. */
static void maybe_done(client *c)
{
    if (c->state == DRAINING && !c->sending && c->verified == c->sent)
        finish(c, DONE);
}

static void on_sent(rp_op *op)
{
    client *c = op->user;
    c->sending = 0;
    if (c->state == DONE || c->state == FAILED)
        return;
    if (op->result < 0) {
        fail(c, "send", op->result);
        return;
    }
    c->sent = c->queued;
    try_send(c);
    maybe_done(c);
}

static void on_recv(rp_op *op)
{
    client *c = op->user;
    if (c->state == DONE || c->state == FAILED)
        return;
    if (op->result <= 0) {
        fail(c, "receive", op->result);
        return;
    }
    size_t n = (size_t)op->result;
    if (c->verified + n > c->queued) {
        fail(c, "more bytes echoed than were sent", 1);
        return;
    }
    pattern(c->expect, n, c->index, c->verified);
    if (memcmp(c->in, c->expect, n) != 0) {
        size_t at = 0;
        while (c->in[at] == c->expect[at])
            at++;
        if (!sample_load(&quitting) && sample_load(&reported) < 10)
            fprintf(stderr, "restart_client: connection %u: byte %llu of the stream is 0x%02x, 0x%02x was sent\n",
                    c->index, (unsigned long long)(c->verified + at), c->in[at], c->expect[at]);
        fail(c, "verify", 1);
        return;
    }
    uint64_t now = sample_now_ms();
    if (now - c->wait_since > c->max_wait_ms && !c->stalled) /* a stalled one waits on purpose */
        c->max_wait_ms = now - c->wait_since;
    c->wait_since = now;
    c->verified += n;
    int err = rp_recv(loop, &c->recv_op, c->sock, c->in, chunk_max);
    if (err) {
        fail(c, "rp_recv", err);
        return;
    }
    try_send(c);
    maybe_done(c);
}

static void on_timer(rp_op *op)
{
    client *c = op->user;
    if (op->result != 0 || c->state != RUNNING)
        return;
    c->state = DRAINING; /* no more sends: wait for the rest of the echo */
    if (c->stalled) {
        int err = rp_recv(loop, &c->recv_op, c->sock, c->in, chunk_max); /* reads at last */
        if (err) {
            fail(c, "rp_recv", err);
            return;
        }
    }
    maybe_done(c);
}

static void on_connect(rp_op *op)
{
    client *c = op->user;
    if (op->result < 0) {
        c->sock = RP_SOCKET_INVALID;
        if (!sample_load(&quitting) && sample_fetch_add(&reported, 1) < 10)
            fprintf(stderr, "restart_client: connection %u: connect: %s\n", c->index, rp_strerror((int)op->result));
        c->state = FAILED;
        sample_fetch_add(&finished, 1);
        return;
    }
    c->sock = op->socket;
    c->wait_since = sample_now_ms();
    rp_op_init(&c->recv_op, on_recv, c); /* the connect has completed: the record is ours to reuse */
    int err;
    if (c->stalled) {
        err = rp_send(loop, &c->send_op, c->sock, c->out, stall_bytes); /* all at once; read later */
        if (err) {
            fail(c, "rp_send", err);
            return;
        }
        c->sending = 1;
        c->queued = stall_bytes;
    } else if ((err = rp_recv(loop, &c->recv_op, c->sock, c->in, chunk_max)) != 0) {
        fail(c, "rp_recv", err);
        return;
    }
    /* The sending time counts from the connect, so every connection sends for --seconds. */
    err = rp_timeout(loop, &c->timer_op, c->sock, run_ms, 0);
    if (err) {
        fail(c, "rp_timeout", err);
        return;
    }
    try_send(c);
}

static void on_tick(rp_op *op) { (void)op; }

static void usage(void)
{
    fprintf(stderr,
            "usage: restart_client [--host H (127.0.0.1)] [--port P (7000)] [--connections C (200)]\n"
            "                      [--seconds S (10)] [--chunk BYTES (16384)] [--window BYTES (65536)]\n"
            "                      [--drain-timeout SECONDS (30)] [--stalled N (0)] [--stall-bytes BYTES (8388608)]\n"
            "                      [--backend B (auto)] [--workers N (one per CPU)]\n"
            "Keeps C connections sending pattern data for S seconds and checks every echoed byte.\n"
            "--stalled adds N connections that send BYTES at once and read their echo only after S seconds.\n"
            "Exit 0: every connection stayed up and got all its bytes back intact; 1: any drop, error,\n"
            "mismatch or missing echo; 2: bad options.\n");
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *port_s = "7000", *conns_s = "200", *secs_s = "10", *chunk_s = "16384";
    const char *window_s = "65536", *drain_s = "30", *backend_s = "auto", *workers_s = NULL;
    const char *stalled_s = "0", *stall_bytes_s = "8388608";
    const sample_option options[] = {{"--host", &host},
                                     {"--port", &port_s},
                                     {"--connections", &conns_s},
                                     {"--seconds", &secs_s},
                                     {"--chunk", &chunk_s},
                                     {"--window", &window_s},
                                     {"--drain-timeout", &drain_s},
                                     {"--stalled", &stalled_s},
                                     {"--stall-bytes", &stall_bytes_s},
                                     {"--backend", &backend_s},
                                     {"--workers", &workers_s}};
    int rc = sample_parse_args(argc, argv, options, sizeof options / sizeof options[0]);
    if (rc != 0) {
        usage();
        return rc > 0 ? 0 : 2;
    }
    long port, nconn, secs, chunk, win, drain, nstalled, stall;
    rp_loop_options lopts;
    if (sample_parse_long("--port", port_s, 1, 65535, &port) ||
        sample_parse_long("--connections", conns_s, 1, 100000, &nconn) ||
        sample_parse_long("--seconds", secs_s, 1, 86400, &secs) ||
        sample_parse_long("--chunk", chunk_s, 1, 1L << 24, &chunk) ||
        sample_parse_long("--window", window_s, 1, 1L << 30, &win) ||
        sample_parse_long("--drain-timeout", drain_s, 1, 3600, &drain) ||
        sample_parse_long("--stalled", stalled_s, 0, 100000, &nstalled) ||
        sample_parse_long("--stall-bytes", stall_bytes_s, 1, 1L << 30, &stall) ||
        sample_loop_options(backend_s, workers_s, &lopts)) {
        usage();
        return 2;
    }
    rp_addr addr;
    if (rp_addr_parse(&addr, host, (uint16_t)port) != 0) {
        fprintf(stderr, "restart_client: \"%s\" is not a numeric IPv4 or IPv6 address\n", host);
        return 2;
    }
    chunk_max = (size_t)chunk;
    window = (size_t)win;
    run_ms = (uint64_t)secs * 1000u;
    stall_bytes = (size_t)stall;
    long nsteady = nconn;
    nconn += nstalled; /* the stalled ones come after the others */

    sample_install_signals();
    sample_raise_fd_limit();
    int err = rp_loop_create(&loop, &lopts);
    if (err) {
        fprintf(stderr, "restart_client: cannot run the %s backend: %s\n", backend_s, rp_strerror(err));
        return 1;
    }
    client *clients = calloc((size_t)nconn, sizeof *clients);
    if (!clients) {
        fprintf(stderr, "restart_client: out of memory\n");
        rp_loop_destroy(loop);
        return 1;
    }
    uint64_t t0 = sample_now_ms();
    for (long i = 0; i < nconn; i++) {
        client *c = &clients[i];
        c->index = (unsigned)i;
        c->rng = (uint64_t)i + 1;
        c->stalled = i >= nsteady;
        c->out = malloc(c->stalled ? stall_bytes : chunk_max);
        if (c->stalled && c->out)
            pattern(c->out, stall_bytes, c->index, 0);
        c->in = malloc(chunk_max);
        c->expect = malloc(chunk_max);
        rp_op_init(&c->recv_op, on_connect, c);
        rp_op_init(&c->send_op, on_sent, c);
        rp_op_init(&c->timer_op, on_timer, c);
        err = (c->out && c->in && c->expect) ? rp_connect(loop, &c->recv_op, &addr, NULL) : RP_ENOMEM;
        if (err) {
            fprintf(stderr, "restart_client: connection %ld: rp_connect: %s\n", i, rp_strerror(err));
            c->state = FAILED; /* nothing pending on it: fine from this thread */
            sample_fetch_add(&finished, 1);
        }
    }

    static rp_op tick; /* caller-driven: wakes rp_loop_run at least every 50 ms to check time and signals */
    int driven = rp_loop_workers(loop) == 0;
    if (driven) {
        rp_op_init(&tick, on_tick, NULL);
        rp_timeout(loop, &tick, RP_SOCKET_INVALID, 50, 50);
    }
    int timed_out = 0;
    uint64_t limit = run_ms + (uint64_t)drain * 1000u;
    while (sample_load(&finished) < nconn && !sample_stop) {
        if (sample_now_ms() - t0 > limit) {
            timed_out = 1;
            break;
        }
        if (driven) {
            int n = rp_loop_run(loop, RP_RUN_ONCE);
            if (n < 0) {
                fprintf(stderr, "restart_client: rp_loop_run: %s\n", rp_strerror(n));
                break;
            }
        } else {
            sample_sleep_ms(10);
        }
    }
    double secs_run = (double)(sample_now_ms() - t0) / 1000.0;
    sample_store(&quitting, 1);
    int derr = rp_loop_destroy(loop); /* cancels what is still pending; the callbacks ignore it */
    if (derr)
        fprintf(stderr, "restart_client: rp_loop_destroy: %s\n", rp_strerror(derr));

    long ok = 0, failed = 0, unfinished = 0;
    uint64_t echoed = 0, sent = 0, max_wait = 0;
    for (long i = 0; i < nconn; i++) {
        client *c = &clients[i];
        ok += c->state == DONE;
        failed += c->state == FAILED;
        if (c->state == RUNNING || c->state == DRAINING) {
            unfinished++;
            if (unfinished <= 10)
                fprintf(stderr, "restart_client: connection %u: %llu of %llu bytes echoed when the run ended\n",
                        c->index, (unsigned long long)c->verified, (unsigned long long)c->sent);
        }
        echoed += c->verified;
        sent += c->sent;
        if (c->max_wait_ms > max_wait)
            max_wait = c->max_wait_ms;
        free(c->out);
        free(c->in);
        free(c->expect);
    }
    free(clients);
    if (nstalled)
        printf("restart_client: %ld of the connections stalled (%zu bytes sent at once, read after %ld s)\n",
               nstalled, stall_bytes, secs);
    printf("restart_client: %ld/%ld connections intact, %llu bytes sent, %llu echoed and verified (%.1f MB/s each "
           "way), %ld errors, longest wait for an echo %llu ms, %.1f s%s\n",
           ok, nconn, (unsigned long long)sent, (unsigned long long)echoed, (double)echoed / 1e6 / secs_run,
           failed + unfinished, (unsigned long long)max_wait, secs_run,
           timed_out ? " -- TIMED OUT" : sample_stop ? " -- INTERRUPTED" : "");
    if (ok != nconn)
        fprintf(stderr, "restart_client: FAILED: %ld connection%s dropped, broken or incomplete\n", nconn - ok,
                nconn - ok == 1 ? "" : "s");
    return (ok == nconn && derr == 0) ? 0 : 1;
}
