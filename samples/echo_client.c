/* echo_client: opens connections to an echo server with rp_connect, sends pattern-filled messages on each,
 * reads every echo back and checks every byte. Exits 0 only if every connection exchanged all its messages
 * intact; any mismatch, error or timeout makes the exit status 1.
 *
 *   echo_client [--host 127.0.0.1] [--port 7000] [--connections 10] [--size 4096] [--count 100]
 *               [--backend auto|io_uring|epoll|kqueue|iocp] [--workers N (one per CPU; 0 = caller-driven)]
 *               [--timeout SECONDS (60)]
 *
 * Per connection, one message at a time: the send of message k and the receive of its echo are both
 * submitted at once (a full-duplex socket needs no ordering between them; a message larger than the socket
 * buffers would otherwise deadlock); message k+1 starts when both have completed and the echo matched.
 * The content of each message depends on the connection and the message number, so a stale, reordered or
 * crossed echo is caught, not only a corrupted one. */

#include "common.h"

enum { RUNNING = 0, DONE = 1, FAILED = 2 };

typedef struct client {
    rp_op recv_op; /* first the connect, then every receive */
    rp_op send_op;
    rp_socket sock;
    unsigned char *out, *in;
    size_t got;      /* bytes of the current echo received so far */
    long msg;        /* index of the current message */
    int outstanding; /* completions the current message still waits for (send, receive) */
    int state;       /* RUNNING, DONE or FAILED; touched only on the socket's worker */
    unsigned index;
} client;

static rp_loop *loop;
static size_t msg_size;
static long msg_count;
static sample_atomic finished; /* clients that reached DONE or FAILED */
static sample_atomic reported;  /* failures printed so far (the first few are) */
static sample_atomic quitting;  /* timeout or signal: the cancellations that follow are not news */

/* Message content: a 64-bit xorshift stream seeded by connection and message number. */
static void fill(unsigned char *p, size_t n, unsigned index, long msg)
{
    uint64_t x = ((uint64_t)index << 32 | (uint32_t)msg) * 0x9E3779B97F4A7C15u + 0x632BE59BD9B4E019u;
    for (size_t i = 0; i < n; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        for (size_t k = 0; k < 8 && i + k < n; k++)
            p[i + k] = (unsigned char)(x >> (8 * k));
    }
}

static void finish(client *c, int state)
{
    c->state = state;
    if (c->sock != RP_SOCKET_INVALID)
        rp_close(loop, NULL, c->sock); /* cancels whatever is still pending; its callback ignores it */
    sample_fetch_add(&finished, 1);
}

static void fail(client *c, const char *what, int64_t code)
{
    if (c->state != RUNNING)
        return;
    if (!sample_load(&quitting) && sample_fetch_add(&reported, 1) < 10)
        fprintf(stderr, "echo_client: connection %u, message %ld: %s: %s\n", c->index, c->msg, what,
                code < 0 ? rp_strerror((int)code) : code == 0 ? "end of stream" : "echo differs");
    finish(c, FAILED);
}

static void start_message(client *c)
{
    fill(c->out, msg_size, c->index, c->msg);
    c->got = 0;
    c->outstanding = 2;
    int err = rp_send(loop, &c->send_op, c->sock, c->out, msg_size);
    if (err) {
        fail(c, "rp_send", err);
        return;
    }
    err = rp_recv(loop, &c->recv_op, c->sock, c->in, msg_size);
    if (err)
        fail(c, "rp_recv", err); /* closes the socket, which cancels the send */
}

static void message_done(client *c)
{
    if (--c->outstanding > 0)
        return;
    if (++c->msg == msg_count)
        finish(c, DONE);
    else
        start_message(c);
}

static void on_sent(rp_op *op)
{
    client *c = op->user;
    if (c->state != RUNNING)
        return;
    if (op->result != (int64_t)msg_size) {
        fail(c, "send", op->result < 0 ? op->result : RP_EIO);
        return;
    }
    message_done(c);
}

static void on_recv(rp_op *op)
{
    client *c = op->user;
    if (c->state != RUNNING)
        return;
    if (op->result <= 0) {
        fail(c, "receive", op->result);
        return;
    }
    c->got += (size_t)op->result;
    if (c->got < msg_size) {
        int err = rp_recv(loop, &c->recv_op, c->sock, c->in + c->got, msg_size - c->got);
        if (err)
            fail(c, "rp_recv", err);
        return;
    }
    if (memcmp(c->in, c->out, msg_size) != 0) {
        size_t at = 0;
        while (c->in[at] == c->out[at])
            at++;
        if (!sample_load(&quitting) && sample_load(&reported) < 10)
            fprintf(stderr, "echo_client: connection %u, message %ld: byte %zu is 0x%02x, sent 0x%02x\n", c->index,
                    c->msg, at, c->in[at], c->out[at]);
        fail(c, "verify", 1);
        return;
    }
    message_done(c);
}

static void on_connect(rp_op *op)
{
    client *c = op->user;
    if (op->result < 0) {
        fail(c, "connect", op->result);
        return;
    }
    c->sock = op->socket;
    rp_op_init(&c->recv_op, on_recv, c); /* the connect has completed: the record is ours to reuse */
    start_message(c);
}

static void on_tick(rp_op *op) { (void)op; }

static void usage(void)
{
    fprintf(stderr, "usage: echo_client [--host H (127.0.0.1)] [--port P (7000)] [--connections C (10)]\n"
                    "                   [--size BYTES (4096)] [--count MESSAGES (100)] [--backend B (auto)]\n"
                    "                   [--workers N (one per CPU; 0 = caller-driven)] [--timeout SECONDS (60)]\n");
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *port_s = "7000", *conns_s = "10", *size_s = "4096", *count_s = "100";
    const char *backend_s = "auto", *workers_s = NULL, *timeout_s = "60";
    const sample_option options[] = {
        {"--host", &host},         {"--port", &port_s},   {"--connections", &conns_s}, {"--size", &size_s},
        {"--count", &count_s},     {"--backend", &backend_s}, {"--workers", &workers_s}, {"--timeout", &timeout_s}};
    int rc = sample_parse_args(argc, argv, options, sizeof options / sizeof options[0]);
    if (rc != 0) {
        usage();
        return rc > 0 ? 0 : 2;
    }
    long port, nconn, size, count, timeout_sec;
    rp_loop_options lopts;
    if (sample_parse_long("--port", port_s, 1, 65535, &port) ||
        sample_parse_long("--connections", conns_s, 1, 1000000, &nconn) ||
        sample_parse_long("--size", size_s, 1, 1L << 30, &size) ||
        sample_parse_long("--count", count_s, 1, 1L << 30, &count) ||
        sample_parse_long("--timeout", timeout_s, 1, 86400, &timeout_sec) ||
        sample_loop_options(backend_s, workers_s, &lopts)) {
        usage();
        return 2;
    }
    rp_addr addr;
    if (rp_addr_parse(&addr, host, (uint16_t)port) != 0) {
        fprintf(stderr, "echo_client: \"%s\" is not a numeric IPv4 or IPv6 address\n", host);
        return 2;
    }
    msg_size = (size_t)size;
    msg_count = count;

    sample_install_signals();
    sample_raise_fd_limit();
    int err = rp_loop_create(&loop, &lopts);
    if (err) {
        fprintf(stderr, "echo_client: cannot run the %s backend: %s\n", backend_s, rp_strerror(err));
        return 1;
    }
    client *clients = calloc((size_t)nconn, sizeof *clients);
    if (!clients) {
        fprintf(stderr, "echo_client: out of memory\n");
        rp_loop_destroy(loop);
        return 1;
    }
    uint64_t t0 = sample_now_ms();
    for (long i = 0; i < nconn; i++) {
        client *c = &clients[i];
        c->index = (unsigned)i;
        c->out = malloc(msg_size);
        c->in = malloc(msg_size);
        rp_op_init(&c->recv_op, on_connect, c);
        rp_op_init(&c->send_op, on_sent, c);
        err = (c->out && c->in) ? rp_connect(loop, &c->recv_op, &addr, NULL) : RP_ENOMEM;
        if (err)
            fail(c, "rp_connect", err); /* fine from this thread: the client has nothing pending */
    }

    static rp_op tick; /* caller-driven: wakes rp_loop_run at least every 50 ms to check time and signals */
    int driven = rp_loop_workers(loop) == 0;
    if (driven) {
        rp_op_init(&tick, on_tick, NULL);
        rp_timeout(loop, &tick, RP_SOCKET_INVALID, 50, 50);
    }
    int timed_out = 0;
    while (sample_load(&finished) < nconn && !sample_stop) {
        if (sample_now_ms() - t0 > (uint64_t)timeout_sec * 1000u) {
            timed_out = 1;
            break;
        }
        if (driven) {
            int n = rp_loop_run(loop, RP_RUN_ONCE);
            if (n < 0) {
                fprintf(stderr, "echo_client: rp_loop_run: %s\n", rp_strerror(n));
                break;
            }
        } else {
            sample_sleep_ms(1);
        }
    }
    double secs = (double)(sample_now_ms() - t0) / 1000.0;
    sample_store(&quitting, 1);
    const char *backend = rp_backend_name(rp_loop_backend(loop));
    int nworkers = rp_loop_workers(loop);
    int derr = rp_loop_destroy(loop); /* cancels what is still pending; the callbacks ignore it */
    if (derr)
        fprintf(stderr, "echo_client: rp_loop_destroy: %s\n", rp_strerror(derr));

    long ok = 0, messages = 0;
    for (long i = 0; i < nconn; i++) {
        ok += clients[i].state == DONE;
        messages += clients[i].msg;
        free(clients[i].out);
        free(clients[i].in);
    }
    free(clients);
    double mb = (double)messages * (double)msg_size / 1e6;
    if (secs <= 0)
        secs = 0.001;
    printf("echo_client: %ld/%ld connections verified, %ld messages of %zu B echoed intact (%.1f MB each way) "
           "in %.2f s: %.0f msg/s, %.1f MB/s; client backend %s, %d worker%s%s\n",
           ok, nconn, messages, msg_size, mb, secs, (double)messages / secs, mb / secs, backend, nworkers,
           nworkers == 1 ? "" : "s", timed_out ? " -- TIMED OUT" : sample_stop ? " -- INTERRUPTED" : "");
    if (ok != nconn)
        fprintf(stderr, "echo_client: FAILED: %ld connection%s did not complete\n", nconn - ok,
                nconn - ok == 1 ? "" : "s");
    return (ok == nconn && derr == 0) ? 0 : 1;
}
