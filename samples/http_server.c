/* http_server: a static file server (HTTP/1.1) on ringport.
 *
 *   http_server --root DIR [--port 8080] [--host 0.0.0.0] [--backend auto|io_uring|epoll|kqueue|iocp]
 *               [--workers N] [--idle-timeout MS (15000)]
 *
 * GET and HEAD of the regular files under DIR: keep-alive and pipelining (requests on a connection are
 * answered in order, one response at a time), Content-Length, Last-Modified and If-Modified-Since (304),
 * a single Range (206, or 416 when it cannot be satisfied), Content-Type by extension. File bodies go with
 * rp_sendfile (the response head travels as its head, in the same send). No directory listing (403).
 * Symbolic links under DIR are followed, as nginx does by default: whoever controls DIR decides.
 *
 * Bad input costs little and gets a clear answer: a malformed request 400 (and the connection closed), a
 * target outside DIR, encoded or not, 404 (samples/http_parse.c never yields a path with a ".."
 * segment), a head over 8 KiB 431, Transfer-Encoding 501, another HTTP version 505, other methods 405.
 * A connection gets --idle-timeout to send a whole request head (counted from its first byte, so a client
 * trickling bytes does not keep it forever) or, between requests, to start the next one; a response that
 * the client does not take within 60 s ends the connection. Each connection holds one 8 KiB buffer.
 *
 * SIGINT/SIGTERM: the listener is closed, rp_loop_destroy cancels everything and every connection frees
 * itself in its last callback; then the totals are printed. Exit 1 if it cannot start, 2 on bad options. */

#include "common.h"
#include "http_parse.h"

#include <time.h>
#if defined(_WIN32)
#include <windows.h>
#else
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

#define HEAD_MAX 8192         /* the request head, and the connection's buffer */
#define SEND_TIMEOUT_MS 60000 /* a client that does not read its response */
#define PATH_MAX_LEN 1024

typedef struct conn {
    rp_op recv_op, send_op;
    rp_socket sock;
    size_t have;          /* bytes in buf */
    uint64_t skip;        /* body bytes of the last request still to drop */
    uint64_t head_started; /* when the first byte of the pending request head came (0: none yet) */
    size_t answered;      /* the head (in buf) of the request being answered, dropped once it is */
    int close_after;      /* close once the response has gone */
    rp_file file;         /* the file being sent, or -1 */
    size_t hdr_len;
    rp_buf hdr_buf;
    char hdr[512];        /* the response head */
    char buf[HEAD_MAX];
} conn;

static rp_loop *loop;
static const char *root;
static uint32_t idle_timeout_ms = 15000;
static sample_atomic open_conns, total_conns, responses, bad_requests;

/* ---- files ---- */
typedef struct file_info {
    uint64_t size;
    int64_t mtime;
    int is_dir;
} file_info;

/* Opens root/rel for reading: 0 with *f, or 404 (absent, not a regular file), 403 (a directory). */
static int file_open(const char *rel, rp_file *f, file_info *fi)
{
    char path[PATH_MAX_LEN + 64];
    int n = snprintf(path, sizeof path, "%s/%s", root, rel);
    if (n < 0 || (size_t)n >= sizeof path)
        return 404;
#if defined(_WIN32)
    HANDLE h = CreateFileA(path, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                           OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS, NULL);
    if (h == INVALID_HANDLE_VALUE)
        return 404;
    BY_HANDLE_FILE_INFORMATION info;
    if (!GetFileInformationByHandle(h, &info)) {
        CloseHandle(h);
        return 404;
    }
    if (info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) {
        CloseHandle(h);
        return 403;
    }
    fi->size = (uint64_t)info.nFileSizeHigh << 32 | info.nFileSizeLow;
    uint64_t ft = (uint64_t)info.ftLastWriteTime.dwHighDateTime << 32 | info.ftLastWriteTime.dwLowDateTime;
    fi->mtime = (int64_t)(ft / 10000000u) - 11644473600LL; /* 100 ns since 1601 -> s since 1970 */
    *f = (rp_file)(intptr_t)h;
#else
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* O_NONBLOCK: a FIFO does not hang the open */
    if (fd < 0)
        return 404;
    struct stat st;
    if (fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) {
        close(fd);
        return 404;
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return 403;
    }
    fi->size = (uint64_t)st.st_size;
    fi->mtime = (int64_t)st.st_mtime;
    *f = fd;
#endif
    return 0;
}

static void file_close(rp_file f)
{
    if (f == -1)
        return;
#if defined(_WIN32)
    CloseHandle((HANDLE)(intptr_t)f);
#else
    close((int)f);
#endif
}

/* ---- connections ---- */
static void on_recv(rp_op *op);
static void on_sent(rp_op *op);
static void serve(conn *c);

static void conn_end(conn *c)
{
    file_close(c->file);
    rp_close(loop, NULL, c->sock); /* nothing of it is pending: it had one op at a time */
    sample_fetch_add(&open_conns, -1);
    free(c);
}

/* The next receive: the rest of a request head (its deadline counts from its first byte) or the next
 * request (the idle timeout). */
static void conn_recv(conn *c)
{
    uint64_t now = sample_now_ms();
    uint64_t waited = c->head_started ? now - c->head_started : 0;
    if (waited >= idle_timeout_ms) {
        conn_end(c);
        return;
    }
    rp_op_set_timeout(&c->recv_op, (uint32_t)(idle_timeout_ms - waited));
    if (rp_recv(loop, &c->recv_op, c->sock, c->buf + c->have, sizeof c->buf - c->have) != 0)
        conn_end(c);
}

static const char *status_text(int code)
{
    switch (code) {
    case 200: return "OK";
    case 206: return "Partial Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
    }
}

/* Sends the response head in c->hdr, then (with a file) the body: one send either way. */
static void respond(conn *c, uint64_t off, uint64_t len, int with_body)
{
    c->hdr_buf.base = c->hdr;
    c->hdr_buf.len = c->hdr_len;
    rp_op_set_timeout(&c->send_op, SEND_TIMEOUT_MS);
    sample_fetch_add(&responses, 1);
    int err = with_body && len ? rp_sendfile(loop, &c->send_op, c->sock, c->file, off, len, &c->hdr_buf, NULL, 0)
                               : rp_send(loop, &c->send_op, c->sock, c->hdr, c->hdr_len);
    if (err)
        conn_end(c);
}

/* An error answer with a short text body; errors of the request itself (400, 431, ...) also close. */
static void respond_error(conn *c, int code, int keep_alive, const char *extra)
{
    char date[30];
    http_format_date((int64_t)time(NULL), date);
    const char *text = status_text(code);
    c->close_after = !keep_alive;
    int n = snprintf(c->hdr, sizeof c->hdr,
                     "HTTP/1.1 %d %s\r\nServer: ringport-http\r\nDate: %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %zu\r\n%s%s\r\n%d %s\n",
                     code, text, date, strlen(text) + 5, extra ? extra : "", keep_alive ? "" : "Connection: close\r\n",
                     code, text);
    c->hdr_len = (size_t)n < sizeof c->hdr ? (size_t)n : sizeof c->hdr - 1;
    respond(c, 0, 0, 0);
}

/* One parsed request: a file, an error, or 304. */
static void answer(conn *c, const http_request *r)
{
    if (r->method == HTTP_OTHER) {
        respond_error(c, 405, r->keep_alive, "Allow: GET, HEAD\r\n");
        return;
    }
    char rel[PATH_MAX_LEN];
    int pr = http_target_path(r->target, r->target_len, rel, sizeof rel);
    if (pr < 0) {
        respond_error(c, -pr, r->keep_alive && pr != -400, NULL);
        return;
    }
    file_info fi;
    int code = file_open(rel, &c->file, &fi);
    if (code) {
        respond_error(c, code, r->keep_alive, NULL);
        return;
    }
    char date[30], modified[30];
    http_format_date((int64_t)time(NULL), date);
    http_format_date(fi.mtime, modified);
    c->close_after = !r->keep_alive;
    const char *conn_hdr = r->keep_alive ? "" : "Connection: close\r\n";
    if (r->if_modified_since && !r->range) {
        int64_t since = http_parse_date(r->if_modified_since, r->if_modified_since_len);
        if (since >= 0 && fi.mtime <= since) {
            c->hdr_len = (size_t)snprintf(c->hdr, sizeof c->hdr,
                                          "HTTP/1.1 304 Not Modified\r\nServer: ringport-http\r\nDate: %s\r\n"
                                          "Last-Modified: %s\r\n%s\r\n",
                                          date, modified, conn_hdr);
            file_close(c->file);
            c->file = -1;
            respond(c, 0, 0, 0);
            return;
        }
    }
    uint64_t first = 0, last = fi.size ? fi.size - 1 : 0;
    int ranged = r->range ? http_parse_range(r->range, r->range_len, fi.size, &first, &last) : 0;
    if (ranged < 0) {
        char cr[64];
        snprintf(cr, sizeof cr, "Content-Range: bytes */%llu\r\n", (unsigned long long)fi.size);
        file_close(c->file);
        c->file = -1;
        respond_error(c, 416, r->keep_alive, cr);
        return;
    }
    uint64_t len = fi.size ? last - first + 1 : 0;
    char range_hdr[96] = "";
    if (ranged)
        snprintf(range_hdr, sizeof range_hdr, "Content-Range: bytes %llu-%llu/%llu\r\n", (unsigned long long)first,
                 (unsigned long long)last, (unsigned long long)fi.size);
    c->hdr_len = (size_t)snprintf(c->hdr, sizeof c->hdr,
                                  "HTTP/1.1 %s\r\nServer: ringport-http\r\nDate: %s\r\nContent-Type: %s\r\n"
                                  "Content-Length: %llu\r\nLast-Modified: %s\r\nAccept-Ranges: bytes\r\n%s%s\r\n",
                                  ranged ? "206 Partial Content" : "200 OK", date, http_mime_type(rel),
                                  (unsigned long long)len, modified, range_hdr, conn_hdr);
    respond(c, first, len, r->method == HTTP_GET);
}

/* Works through what is in the buffer: drops a body, answers the next complete request (one response in
 * flight at a time: the next pipelined one waits for it), or reads more. */
static void serve(conn *c)
{
    if (c->skip) {
        uint64_t drop = c->skip < c->have ? c->skip : c->have;
        memmove(c->buf, c->buf + drop, c->have - (size_t)drop);
        c->have -= (size_t)drop;
        c->skip -= drop;
        if (c->skip) {
            conn_recv(c);
            return;
        }
    }
    if (c->have == 0) {
        c->head_started = 0;
        conn_recv(c);
        return;
    }
    if (!c->head_started)
        c->head_started = sample_now_ms();
    http_request r;
    long n = http_parse_request(c->buf, c->have, HEAD_MAX, &r);
    if (n == HTTP_INCOMPLETE && c->have == sizeof c->buf)
        n = HTTP_TOO_LARGE;
    if (n == HTTP_INCOMPLETE) {
        conn_recv(c);
        return;
    }
    if (n < 0) {
        sample_fetch_add(&bad_requests, 1);
        respond_error(c, (int)-n, 0, NULL);
        return;
    }
    c->skip = r.content_length;
    c->answered = (size_t)n; /* before the response goes: c may be gone once it is submitted */
    answer(c, &r);           /* r points into buf: the head leaves it once the response has gone */
}

static void on_sent(rp_op *op)
{
    conn *c = op->user;
    file_close(c->file);
    c->file = -1;
    c->head_started = 0;
    if (op->result < 0 || c->close_after || sample_stop) {
        conn_end(c);
        return;
    }
    memmove(c->buf, c->buf + c->answered, c->have - c->answered);
    c->have -= c->answered;
    c->answered = 0;
    serve(c);
}

static void on_recv(rp_op *op)
{
    conn *c = op->user;
    if (op->result <= 0) { /* the end, an error, the timeout or the loop's end */
        conn_end(c);
        return;
    }
    c->have += (size_t)op->result;
    serve(c);
}

static void on_accept(rp_op *op)
{
    if (op->result == 0) {
        conn *c = calloc(1, sizeof *c);
        if (!c) {
            rp_close(loop, NULL, op->socket);
        } else {
            c->sock = op->socket;
            c->file = -1;
            rp_op_init(&c->recv_op, on_recv, c);
            rp_op_init(&c->send_op, on_sent, c);
            sample_fetch_add(&open_conns, 1);
            sample_fetch_add(&total_conns, 1);
            conn_recv(c);
        }
    }
    if (!(op->flags & RP_OP_F_MORE) && op->result != RP_ECANCELED && !sample_stop)
        fprintf(stderr, "http_server: accepting stopped: %s\n", rp_strerror((int)op->result));
}

static void on_tick(rp_op *op) { (void)op; }

static void usage(void)
{
    fprintf(stderr, "usage: http_server --root DIR [--port P (8080)] [--host ADDR (0.0.0.0)]\n"
                    "                   [--backend auto|io_uring|epoll|kqueue|iocp] [--workers N (one per CPU; 0 = "
                    "caller-driven)]\n"
                    "                   [--idle-timeout MS (15000)]\n"
                    "Serves the regular files under DIR over HTTP/1.1 (GET, HEAD, Range, If-Modified-Since).\n"
                    "SIGINT/SIGTERM: clean shutdown, exit 0. Exit 1: cannot start; 2: bad options.\n");
}

int main(int argc, char **argv)
{
    const char *port_s = NULL, *host = "0.0.0.0", *backend_s = "auto", *workers_s = NULL, *idle_s = NULL;
    const sample_option options[] = {{"--root", &root},       {"--port", &port_s},       {"--host", &host},
                                     {"--backend", &backend_s}, {"--workers", &workers_s}, {"--idle-timeout", &idle_s}};
    int rc = sample_parse_args(argc, argv, options, sizeof options / sizeof options[0]);
    if (rc != 0) {
        usage();
        return rc > 0 ? 0 : 2;
    }
    long port = 8080, idle = (long)idle_timeout_ms;
    rp_loop_options lopts;
    if ((port_s && sample_parse_long("--port", port_s, 0, 65535, &port) != 0) ||
        (idle_s && sample_parse_long("--idle-timeout", idle_s, 100, 3600000, &idle) != 0) ||
        sample_loop_options(backend_s, workers_s, &lopts) != 0) {
        usage();
        return 2;
    }
    if (!root) {
        fprintf(stderr, "http_server: --root DIR is required\n");
        usage();
        return 2;
    }
    if (strlen(root) > PATH_MAX_LEN - 1) {
        fprintf(stderr, "http_server: --root is too long\n");
        return 2;
    }
    file_info fi;
    rp_file probe;
    if (file_open(".", &probe, &fi) != 403) {
        fprintf(stderr, "http_server: --root %s is not a directory that can be read\n", root);
        return 2;
    }
    idle_timeout_ms = (uint32_t)idle;
    rp_addr addr;
    if (rp_addr_parse(&addr, host, (uint16_t)port) != 0) {
        fprintf(stderr, "http_server: \"%s\" is not a numeric IPv4 or IPv6 address\n", host);
        return 2;
    }
    sample_install_signals();
    sample_raise_fd_limit();
    int err = rp_loop_create(&loop, &lopts);
    if (err) {
        fprintf(stderr, "http_server: cannot run the %s backend: %s\n", backend_s, rp_strerror(err));
        return 1;
    }
    rp_socket listener;
    if ((err = rp_listen(loop, &listener, &addr, NULL)) != 0) {
        fprintf(stderr, "http_server: cannot listen on %s port %ld: %s\n", host, port, rp_strerror(err));
        rp_loop_destroy(loop);
        return 1;
    }
    static rp_op accept_op, tick;
    rp_op_init(&accept_op, on_accept, NULL);
    rp_op_init(&tick, on_tick, NULL);
    if ((err = rp_accept(loop, &accept_op, listener, RP_ACCEPT_MULTISHOT)) != 0 ||
        (rp_loop_workers(loop) == 0 && (err = rp_timeout(loop, &tick, RP_SOCKET_INVALID, 50, 50)) != 0)) {
        fprintf(stderr, "http_server: %s\n", rp_strerror(err));
        rp_loop_destroy(loop);
        return 1;
    }
    rp_addr local;
    char where[RP_ADDR_STRLEN] = "?";
    if (rp_socket_local_addr(loop, listener, &local) == 0)
        rp_addr_format(&local, where, sizeof where);
    printf("http_server: serving %s on %s, backend %s, %d worker%s\n", root, where,
           rp_backend_name(rp_loop_backend(loop)), rp_loop_workers(loop), rp_loop_workers(loop) == 1 ? "" : "s");
    fflush(stdout);
    while (!sample_stop) {
        if (rp_loop_workers(loop) == 0)
            rp_loop_run(loop, RP_RUN_ONCE);
        else
            sample_sleep_ms(50);
    }
    rp_close(loop, NULL, listener);
    err = rp_loop_destroy(loop); /* every connection frees itself in its cancelled op's callback */
    printf("http_server: stopped; %ld connections, %ld responses, %ld bad requests\n", (long)sample_load(&total_conns),
           (long)sample_load(&responses), (long)sample_load(&bad_requests));
    return err ? 1 : 0;
}
