/* echo_server: a TCP echo server on ringport.
 *   echo_server [--port 7000] [--host 0.0.0.0] [--backend auto|io_uring|epoll|kqueue|iocp] [--workers N]
 * --workers 0 runs caller-driven on the main thread. Serves until SIGINT/SIGTERM, then closes the
 * listener, destroys the loop (which cancels every pending operation: each connection frees itself on
 * that completion) and prints what it served. */
#include <stdint.h>

#include "common.h"

#define BUF_SIZE 65536

typedef struct conn {
    rp_op recv_op, send_op, close_op;
    rp_socket sock;
    char buf[BUF_SIZE];
} conn;

static rp_loop *loop;
static uint64_t served_bytes[256], served_conns[256]; /* per worker: no atomics on the hot path */

static size_t slot(void)
{
    int w = rp_loop_current_worker(loop);
    return w < 0 ? 0 : (size_t)w;
}

static void on_closed(rp_op *op) { free(op->user); }

static void conn_close(conn *c)
{
    rp_op_init(&c->close_op, on_closed, c);
    if (rp_close(loop, &c->close_op, c->sock) != 0)
        free(c); /* already closed (by rp_loop_destroy): nothing else refers to c */
}

static void on_sent(rp_op *op);

static void start_recv(conn *c)
{
    if (rp_recv(loop, &c->recv_op, c->sock, c->buf, sizeof c->buf) != 0)
        conn_close(c);
}

static void on_recv(rp_op *op)
{
    conn *c = op->user;
    if (op->result <= 0) { /* end of stream, error, or cancelled by shutdown */
        conn_close(c);
        return;
    }
    served_bytes[slot()] += (uint64_t)op->result;
    if (rp_send(loop, &c->send_op, c->sock, c->buf, (size_t)op->result) != 0)
        conn_close(c);
}

static void on_sent(rp_op *op)
{
    conn *c = op->user;
    if (op->result < 0) {
        conn_close(c);
        return;
    }
    start_recv(c);
}

static void on_accept(rp_op *op)
{
    if (op->result < 0) {
        if (op->result != RP_ECANCELED)
            fprintf(stderr, "echo_server: accept ended: %s\n", rp_strerror((int)op->result));
        return;
    }
    conn *c = malloc(sizeof *c);
    if (!c) {
        rp_close(loop, NULL, op->socket);
        return;
    }
    c->sock = op->socket;
    rp_op_init(&c->recv_op, on_recv, c);
    rp_op_init(&c->send_op, on_sent, c);
    served_conns[slot()]++;
    start_recv(c);
}

static void on_tick(rp_op *op) { (void)op; }

int main(int argc, char **argv)
{
    rp_loop_options opts;
    if (sample_loop_options(argc, argv, &opts) != 0)
        return 2;
    const char *host = sample_opt(argc, argv, "--host");
    long port = sample_opt_long(argc, argv, "--port", 7000);

    rp_addr addr;
    if (port < 0 || port > 65535 || rp_addr_parse(&addr, host ? host : "0.0.0.0", (uint16_t)port) != 0) {
        fprintf(stderr, "bad address\n");
        return 2;
    }
    sample_install_signals();
    int err = rp_loop_create(&loop, &opts);
    if (err) {
        fprintf(stderr, "rp_loop_create: %s\n", rp_strerror(err));
        return 1;
    }
    rp_socket listener;
    err = rp_listen(loop, &listener, &addr, NULL);
    if (err) {
        fprintf(stderr, "rp_listen: %s\n", rp_strerror(err));
        rp_loop_destroy(loop);
        return 1;
    }
    rp_socket_local_addr(loop, listener, &addr);
    char text[RP_ADDR_STRLEN];
    rp_addr_format(&addr, text, sizeof text);
    const char *why = rp_loop_fallback_reason(loop);
    printf("echo_server: backend %s, %d worker%s%s, listening on %s%s%s\n", rp_backend_name(rp_loop_backend(loop)),
           rp_loop_workers(loop), rp_loop_workers(loop) == 1 ? "" : "s",
           rp_loop_workers(loop) == 0 ? " (caller-driven)" : "", text, why ? "; fallback: " : "", why ? why : "");
    fflush(stdout);

    static rp_op accept_op;
    rp_op_init(&accept_op, on_accept, NULL);
    err = rp_accept(loop, &accept_op, listener, RP_ACCEPT_MULTISHOT);
    if (err) {
        fprintf(stderr, "rp_accept: %s\n", rp_strerror(err));
        rp_loop_destroy(loop);
        return 1;
    }

    if (rp_loop_workers(loop) == 0) {
        /* Caller-driven: a 50 ms heartbeat bounds each run so the stop flag is seen. */
        static rp_op tick;
        rp_op_init(&tick, on_tick, NULL);
        rp_timeout(loop, &tick, RP_SOCKET_INVALID, 50, 50);
        while (!sample_stop)
            rp_loop_run(loop, RP_RUN_ONCE);
    } else {
        while (!sample_stop)
            sample_sleep_ms(50);
    }

    rp_close(loop, NULL, listener);
    err = rp_loop_destroy(loop);
    uint64_t bytes = 0, conns = 0;
    for (size_t i = 0; i < 256; i++) {
        bytes += served_bytes[i];
        conns += served_conns[i];
    }
    printf("echo_server: stopped (%s); %llu connections, %llu bytes echoed\n", err ? rp_strerror(err) : "clean",
           (unsigned long long)conns, (unsigned long long)bytes);
    return err ? 1 : 0;
}
