/* echo_client: opens connections to an echo server, sends pattern-filled messages, checks every byte of
 * every echo, and exits non-zero on any mismatch or error.
 *   echo_client [--host 127.0.0.1] [--port 7000] [--connections 10] [--size 4096] [--count 100]
 *               [--backend B] [--workers N] */
#include <stdint.h>

#include "common.h"

typedef struct client {
    rp_op op, send_op;
    rp_socket sock;
    unsigned char *out, *in;
    size_t size, got;
    long left;      /* messages still to exchange */
    unsigned seed;
    volatile int state; /* 0 running, 1 done, -1 failed */
} client;

static rp_loop *loop;
static long total_messages;

static void fail(client *c, const char *what, int64_t code)
{
    fprintf(stderr, "echo_client: %s: %s\n", what, code < 0 ? rp_strerror((int)code) : "unexpected data");
    c->state = -1;
}

static void fill(client *c)
{
    for (size_t i = 0; i < c->size; i++)
        c->out[i] = (unsigned char)((c->seed + i * 131u) >> 3);
    c->seed = c->seed * 1103515245u + 12345u;
}

static void on_recv(rp_op *op);

static void exchange(client *c)
{
    fill(c);
    c->got = 0;
    if (rp_send(loop, &c->send_op, c->sock, c->out, c->size) != 0 ||
        rp_recv(loop, &c->op, c->sock, c->in, c->size) != 0)
        fail(c, "submit", RP_EINVAL);
}

static void on_sent(rp_op *op)
{
    client *c = op->user;
    if (op->result != (int64_t)c->size)
        fail(c, "send", op->result);
}

static void on_recv(rp_op *op)
{
    client *c = op->user;
    if (op->result <= 0) {
        fail(c, "recv", op->result == 0 ? RP_ECONNRESET : op->result);
        return;
    }
    c->got += (size_t)op->result;
    if (c->got < c->size) {
        if (rp_recv(loop, &c->op, c->sock, c->in + c->got, c->size - c->got) != 0)
            fail(c, "recv submit", RP_EINVAL);
        return;
    }
    if (memcmp(c->in, c->out, c->size) != 0) {
        fail(c, "verify", 1);
        return;
    }
    if (--c->left == 0) {
        c->state = 1;
        return;
    }
    exchange(c);
}

static void on_connect(rp_op *op)
{
    client *c = op->user;
    if (op->result < 0) {
        fail(c, "connect", op->result);
        return;
    }
    c->sock = op->socket;
    rp_op_init(&c->op, on_recv, c);
    exchange(c);
}

int main(int argc, char **argv)
{
    rp_loop_options opts;
    if (sample_loop_options(argc, argv, &opts) != 0)
        return 2;
    const char *host = sample_opt(argc, argv, "--host");
    long port = sample_opt_long(argc, argv, "--port", 7000);
    long nconn = sample_opt_long(argc, argv, "--connections", 10);
    long size = sample_opt_long(argc, argv, "--size", 4096);
    long count = sample_opt_long(argc, argv, "--count", 100);
    rp_addr addr;
    if (nconn < 1 || size < 1 || count < 1 || port < 1 || port > 65535 ||
        rp_addr_parse(&addr, host ? host : "127.0.0.1", (uint16_t)port) != 0) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    sample_install_signals();
    int err = rp_loop_create(&loop, &opts);
    if (err) {
        fprintf(stderr, "rp_loop_create: %s\n", rp_strerror(err));
        return 1;
    }
    client *clients = calloc((size_t)nconn, sizeof *clients);
    for (long i = 0; i < nconn; i++) {
        client *c = &clients[i];
        c->size = (size_t)size;
        c->left = count;
        c->seed = (unsigned)i * 2654435761u + 1u;
        c->out = malloc(c->size);
        c->in = malloc(c->size);
        rp_op_init(&c->op, on_connect, c);
        rp_op_init(&c->send_op, on_sent, c);
        if (!c->out || !c->in || rp_connect(loop, &c->op, &addr, NULL) != 0)
            fail(c, "connect submit", RP_ENOMEM);
    }
    for (;;) {
        long running = 0;
        for (long i = 0; i < nconn; i++)
            running += clients[i].state == 0;
        if (running == 0 || sample_stop)
            break;
        if (rp_loop_workers(loop) == 0)
            rp_loop_run(loop, RP_RUN_NOWAIT);
        sample_sleep_ms(rp_loop_workers(loop) == 0 ? 0 : 5);
    }
    long ok = 0, failed = 0;
    for (long i = 0; i < nconn; i++) {
        ok += clients[i].state == 1;
        failed += clients[i].state == -1;
    }
    total_messages = ok * count;
    err = rp_loop_destroy(loop);
    for (long i = 0; i < nconn; i++) {
        free(clients[i].out);
        free(clients[i].in);
    }
    free(clients);
    printf("echo_client: %ld/%ld connections verified, %ld messages of %ld bytes echoed intact%s\n", ok, nconn,
           total_messages, size, failed ? " -- FAILURES" : "");
    return (ok == nconn && err == 0) ? 0 : 1;
}
