/* The libuv peer of the comparison: an echo server in libuv's own model, one loop thread.
 *
 *   uv_echo_server [--port 7000] [--host 0.0.0.0]
 *
 * Each connection owns a 64 KiB buffer that uv_read_start reads into. What was read is written back with
 * uv_try_write; whatever the socket did not take at once goes out with uv_write straight from the same
 * buffer, and reading pauses (uv_read_stop) until that write completes, so the buffer is never overwritten
 * while libuv still holds it. That is the same discipline as ringport's echo_server (receive, send, and
 * receive again only once the send has completed) and the hand-written epoll server, without a copy.
 * End of stream or any error closes the connection. SIGINT/SIGTERM stop the loop; every handle is then
 * closed and freed and the loop closed, and the server prints what it served. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define CONN_BUF_SIZE (64 * 1024)

typedef struct conn {
    uv_tcp_t tcp; /* first member: the handle's address is the connection's */
    uv_write_t write_req;
    char buf[CONN_BUF_SIZE];
} conn;

static uv_loop_t *loop;
static unsigned long long accepted, bytes_echoed;

static void on_closed(uv_handle_t *h) { free(h->data); }

static void conn_close(conn *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_closed); /* also cancels a pending write (UV_ECANCELED) */
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    conn *c = h->data;
    *buf = uv_buf_init(c->buf, sizeof c->buf);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void on_written(uv_write_t *req, int status)
{
    conn *c = req->data;
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
        conn_close(c);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    conn *c = s->data;
    if (n < 0) { /* UV_EOF or an error */
        conn_close(c);
        return;
    }
    if (n == 0)
        return; /* EAGAIN: nothing this time */
    bytes_echoed += (unsigned long long)n;
    uv_buf_t out = uv_buf_init(buf->base, (unsigned)n);
    int done = uv_try_write(s, &out, 1);
    if (done == n)
        return;
    if (done < 0 && done != UV_EAGAIN) {
        conn_close(c);
        return;
    }
    if (done < 0)
        done = 0;
    /* The socket is full: write the rest from the buffer and stop reading into it until that is done. */
    uv_read_stop(s);
    out = uv_buf_init(buf->base + done, (unsigned)(n - done));
    c->write_req.data = c;
    if (uv_write(&c->write_req, s, &out, 1, on_written) != 0)
        conn_close(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0) {
        fprintf(stderr, "uv_echo_server: accept: %s\n", uv_strerror(status));
        return;
    }
    conn *c = malloc(sizeof *c);
    if (!c)
        return;
    uv_tcp_init(loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    accepted++;
    uv_tcp_nodelay(&c->tcp, 1);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
        conn_close(c);
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    uv_stop(h->loop);
}

static void close_every_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (uv_is_closing(h))
        return;
    /* Connections carry their struct in data; the listener and the signal handles live on main's stack. */
    uv_close(h, h->type == UV_TCP && h->data ? on_closed : NULL);
}

int main(int argc, char **argv)
{
    int port = 7000;
    const char *host = "0.0.0.0";
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && !strcmp(argv[i], "--port"))
            port = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--host"))
            host = argv[++i];
        else {
            fprintf(stderr, "usage: uv_echo_server [--port 7000] [--host 0.0.0.0]\n");
            return 2;
        }
    }
    loop = uv_default_loop();
    uv_tcp_t server;
    uv_tcp_init(loop, &server);
    server.data = NULL;
    struct sockaddr_storage addr;
    int err = strchr(host, ':') ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr)
                                : uv_ip4_addr(host, port, (struct sockaddr_in *)&addr);
    if (!err)
        err = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
    if (!err)
        err = uv_listen((uv_stream_t *)&server, 511, on_connection);
    if (err) {
        fprintf(stderr, "uv_echo_server: cannot listen on %s port %d: %s\n", host, port, uv_strerror(err));
        return 1;
    }
    uv_signal_t sigint, sigterm;
    uv_signal_init(loop, &sigint);
    uv_signal_init(loop, &sigterm);
    sigint.data = sigterm.data = NULL;
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
#ifdef SIGPIPE
    signal(SIGPIPE, SIG_IGN); /* libuv ignores it too; say so anyway */
#endif
    printf("uv_echo_server: libuv %s, 1 loop thread, listening on %s:%d\n", uv_version_string(), host, port);
    fflush(stdout);

    uv_run(loop, UV_RUN_DEFAULT);

    uv_walk(loop, close_every_handle, NULL);
    uv_run(loop, UV_RUN_DEFAULT); /* runs the close callbacks */
    err = uv_loop_close(loop);
    uv_library_shutdown();
    printf("uv_echo_server: stopped; %llu connections served, %llu bytes echoed\n", accepted, bytes_echoed);
    return err ? 1 : 0;
}
