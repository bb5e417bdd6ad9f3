/* The libuv peer of the UDP comparison: a UDP echo server in libuv's own model, one loop thread.
 *
 *   uv_udp_echo_server [--port 7000] [--host 0.0.0.0]
 *
 * The socket is made with uv_udp_init_ex(AF_INET or AF_INET6 | UV_UDP_RECVMMSG), so libuv reads with
 * recvmmsg: the alloc callback hands it one buffer of MMSG_BATCH x 64 KiB (libuv cuts it into 64 KiB
 * chunks, one per datagram, and reads at most 20 datagrams per call in 1.44), the receive callback is
 * called once per datagram (UV_UDP_MMSG_CHUNK) and then once more with UV_UDP_MMSG_FREE, when the buffer
 * is the application's again. Each datagram is echoed to its source with uv_udp_try_send; one the socket
 * cannot take at once (UV_EAGAIN, which libuv also returns while earlier sends are queued) goes out with
 * uv_udp_send straight from the receive buffer, which then stays alive until every such send has
 * completed (a reference count per buffer; buffers are kept on a free list, not freed, so the steady
 * state allocates nothing). A truncated datagram (UV_UDP_PARTIAL) is counted and not echoed.
 * SIGINT/SIGTERM stop the loop; the handles are closed, queued sends complete (UV_ECANCELED), everything
 * is freed, and the server prints what it served. */
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define MMSG_BATCH 20            /* datagrams per recvmmsg: libuv 1.44's own maximum */
#define CHUNK (64 * 1024)        /* libuv's chunk per datagram in recvmmsg mode */

typedef struct rbuf {
    struct rbuf *next; /* free list */
    int refs;          /* the receive (until UV_UDP_MMSG_FREE) + each queued uv_udp_send */
    char data[];       /* MMSG_BATCH x CHUNK */
} rbuf;

typedef struct send_req {
    uv_udp_send_t req;
    rbuf *owner;
    struct send_req *next;
} send_req;

static uv_loop_t *loop;
static uv_udp_t udp;
static rbuf *free_bufs, *current; /* current: the buffer libuv is reading into */
static send_req *free_reqs;
static unsigned long long received, echoed, queued, send_errors, truncated, alloc_bufs, alloc_reqs;

static void unref(rbuf *b)
{
    if (--b->refs == 0) {
        b->next = free_bufs;
        free_bufs = b;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    rbuf *b = free_bufs;
    if (b)
        free_bufs = b->next;
    else if ((b = malloc(sizeof *b + (size_t)MMSG_BATCH * CHUNK)) != NULL)
        alloc_bufs++;
    if (!b) {
        *buf = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS */
        return;
    }
    b->refs = 1;
    current = b;
    *buf = uv_buf_init(b->data, (unsigned)(MMSG_BATCH * CHUNK));
}

static void on_sent(uv_udp_send_t *req, int status)
{
    send_req *r = (send_req *)req;
    if (status < 0 && status != UV_ECANCELED)
        send_errors++;
    else if (status >= 0)
        echoed++;
    unref(r->owner);
    r->next = free_reqs;
    free_reqs = r;
}

static void echo(rbuf *owner, char *base, size_t len, const struct sockaddr *addr)
{
    uv_buf_t out = uv_buf_init(base, (unsigned)len);
    int n = uv_udp_try_send(&udp, &out, 1, addr);
    if (n >= 0) {
        echoed++;
        return;
    }
    if (n != UV_EAGAIN) {
        send_errors++;
        return;
    }
    send_req *r = free_reqs;
    if (r)
        free_reqs = r->next;
    else if ((r = malloc(sizeof *r)) != NULL)
        alloc_reqs++;
    if (!r) {
        send_errors++;
        return;
    }
    r->owner = owner;
    owner->refs++;
    queued++;
    if (uv_udp_send(&r->req, &udp, &out, 1, addr, on_sent) != 0) {
        send_errors++;
        owner->refs--;
        r->next = free_reqs;
        free_reqs = r;
    }
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr, unsigned flags)
{
    (void)h;
    if (flags & UV_UDP_MMSG_CHUNK) { /* one datagram inside the current buffer */
        received++;
        if (flags & UV_UDP_PARTIAL)
            truncated++;
        else if (nread >= 0 && addr)
            echo(current, buf->base, (size_t)nread, addr);
        return;
    }
    /* UV_UDP_MMSG_FREE, or a plain callback (nothing to read, an error, or a datagram read without
     * recvmmsg): the buffer comes back to us either way. */
    rbuf *b = buf->base ? (rbuf *)(void *)(buf->base - offsetof(rbuf, data)) : NULL;
    if (!(flags & UV_UDP_MMSG_FREE) && nread >= 0 && addr && b) {
        received++;
        if (flags & UV_UDP_PARTIAL)
            truncated++;
        else
            echo(b, buf->base, (size_t)nread, addr);
    }
    if (b)
        unref(b);
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    uv_stop(h->loop);
}

static void close_every_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void usage(void) { fprintf(stderr, "usage: uv_udp_echo_server [--port 7000] [--host 0.0.0.0]\n"); }

int main(int argc, char **argv)
{
    long port = 7000;
    const char *host = "0.0.0.0";
    for (int i = 1; i < argc; i++) {
        char *end;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage();
            return 0;
        } else if (i + 1 < argc && !strcmp(argv[i], "--port")) {
            port = strtol(argv[++i], &end, 10);
            if (*end || end == argv[i] || port < 0 || port > 65535) {
                fprintf(stderr, "uv_udp_echo_server: --port expects 0 .. 65535, got \"%s\"\n", argv[i]);
                return 2;
            }
        } else if (i + 1 < argc && !strcmp(argv[i], "--host")) {
            host = argv[++i];
        } else {
            fprintf(stderr, "uv_udp_echo_server: unknown option or missing value: %s\n", argv[i]);
            usage();
            return 2;
        }
    }
    loop = uv_default_loop();
    struct sockaddr_storage addr;
    int v6 = strchr(host, ':') != NULL;
    int err = v6 ? uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)&addr)
                 : uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&addr);
    if (err) {
        fprintf(stderr, "uv_udp_echo_server: \"%s\" is not a numeric IPv4 or IPv6 address\n", host);
        return 2;
    }
    err = uv_udp_init_ex(loop, &udp, (unsigned)(v6 ? AF_INET6 : AF_INET) | UV_UDP_RECVMMSG);
    if (!err)
        err = uv_udp_bind(&udp, (const struct sockaddr *)&addr, 0);
    if (!err)
        err = uv_udp_recv_start(&udp, on_alloc, on_recv);
    if (err) {
        fprintf(stderr, "uv_udp_echo_server: cannot bind %s port %ld: %s\n", host, port, uv_strerror(err));
        return 1;
    }
    uv_signal_t sigint, sigterm;
    uv_signal_init(loop, &sigint);
    uv_signal_init(loop, &sigterm);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    printf("uv_udp_echo_server: libuv %s, 1 loop thread, %s, listening on %s:%ld\n", uv_version_string(),
           uv_udp_using_recvmmsg(&udp) ? "recvmmsg (20 per call)" : "recvmsg (no recvmmsg here)", host, port);
    fflush(stdout);

    uv_run(loop, UV_RUN_DEFAULT);

    uv_walk(loop, close_every_handle, NULL);
    uv_run(loop, UV_RUN_DEFAULT); /* close callbacks; queued sends complete with UV_ECANCELED */
    err = uv_loop_close(loop);
    uv_library_shutdown();
    unsigned long long held = 0;
    while (free_bufs) {
        rbuf *b = free_bufs;
        free_bufs = b->next;
        free(b);
        held++;
    }
    while (free_reqs) {
        send_req *r = free_reqs;
        free_reqs = r->next;
        free(r);
    }
    printf("uv_udp_echo_server: stopped; %llu datagrams received, %llu echoed (%llu through uv_udp_send), %llu send "
           "errors, %llu truncated%s\n",
           received, echoed, queued, send_errors, truncated,
           held == alloc_bufs ? "" : " (some receive buffers were not given back!)");
    return err ? 1 : 0;
}
