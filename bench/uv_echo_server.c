/* The libuv peer: a single-threaded libuv echo server (libuv's model: one loop thread), built from
 * Debian's libuv1-dev, run side by side with ringport by bench/compare.sh.
 *   uv_echo_server [--port 7000] */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

typedef struct conn {
    uv_tcp_t tcp;
    char buf[65536];
    int writing;
} conn;

typedef struct write_req {
    uv_write_t req;
    uv_buf_t buf;
    conn *c;
} write_req;

static uv_loop_t *loop;

static void on_close(uv_handle_t *h) { free(h->data); }

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    conn *c = h->data;
    *buf = uv_buf_init(c->buf, sizeof c->buf);
}

static void on_write(uv_write_t *req, int status)
{
    write_req *w = (write_req *)req;
    conn *c = w->c;
    free(w);
    if (status < 0) {
        uv_close((uv_handle_t *)&c->tcp, on_close);
        return;
    }
    c->writing = 0;
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    conn *c = s->data;
    if (n < 0) {
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    if (n == 0)
        return;
    uv_buf_t b = uv_buf_init(buf->base, (unsigned)n);
    int done = uv_try_write(s, &b, 1);
    if (done == n)
        return;
    if (done < 0 && done != UV_EAGAIN) {
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    if (done < 0)
        done = 0;
    /* The rest goes through uv_write; the connection's buffer is reused by the next read, so copy it. */
    write_req *w = malloc(sizeof *w + (size_t)(n - done));
    w->c = c;
    w->buf = uv_buf_init((char *)(w + 1), (unsigned)(n - done));
    memcpy(w->buf.base, buf->base + done, (size_t)(n - done));
    c->writing = 1;
    uv_write(&w->req, s, &w->buf, 1, on_write);
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    conn *c = malloc(sizeof *c);
    uv_tcp_init(loop, &c->tcp);
    c->tcp.data = c;
    c->writing = 0;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, on_close);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
}

static void on_signal(uv_signal_t *h, int sig)
{
    (void)sig;
    uv_stop(h->loop);
}

static void close_all(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, h->type == UV_TCP && h->data ? on_close : NULL);
}

int main(int argc, char **argv)
{
    int port = 7000;
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--port"))
            port = atoi(argv[i + 1]);
    loop = uv_default_loop();
    uv_tcp_t server;
    server.data = NULL;
    uv_tcp_init(loop, &server);
    struct sockaddr_in addr;
    uv_ip4_addr("0.0.0.0", port, &addr);
    int err = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
    if (!err)
        err = uv_listen((uv_stream_t *)&server, 511, on_connection);
    if (err) {
        fprintf(stderr, "uv_echo_server: %s\n", uv_strerror(err));
        return 1;
    }
    uv_signal_t sigint, sigterm;
    uv_signal_init(loop, &sigint);
    uv_signal_init(loop, &sigterm);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    printf("uv_echo_server: libuv %s listening on port %d\n", uv_version_string(), port);
    fflush(stdout);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_walk(loop, close_all, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    return 0;
}
