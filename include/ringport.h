/*
 * ringport: a completion-based (proactor) networking runtime.
 *
 * Model
 *   Every operation (accept, connect, recv, pool recv, send, shutdown, close, timeout, post, the UDP
 *   datagram send and receives, and name resolution) is submitted with a caller-owned rp_op record. A
 *   submission that returns 0 completes exactly once, later, by calling op->cb on a worker thread (or by
 *   being handed out by rp_loop_poll). A multishot operation delivers zero or more completions flagged
 *   RP_OP_F_MORE and then exactly one final completion. A submission that returns a negative RP_E* code
 *   changes nothing and never calls back.
 *
 * Ownership
 *   From a successful submission until its final completion has been delivered, the op record, and every
 *   buffer and buffer array it names, belong to ringport: do not modify, move or free them. Inside the
 *   final callback (or once rp_loop_poll returned it) the op is the caller's again and may be reused or
 *   freed.
 *
 * Threads
 *   Every function may be called from any thread unless its comment says otherwise. Each socket belongs to
 *   one worker; all callbacks of a socket run on that worker, one at a time. A call made from the
 *   socket's own worker (that is, from one of its callbacks) takes no lock; a call from any other thread
 *   is handed to the worker through a lock-free inbox.
 *
 * Errors
 *   Functions return 0 (or a count) on success and a negative RP_E* code on failure; rp_strerror names
 *   every code. Operation results use the same codes.
 */
#ifndef RINGPORT_H
#define RINGPORT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* RP_API marks every exported function. Define RINGPORT_STATIC when linking the static library on
 * Windows; the build defines RINGPORT_BUILDING while compiling ringport itself. */
#if defined(_WIN32) || defined(__CYGWIN__)
#  if defined(RINGPORT_STATIC)
#    define RP_API
#  elif defined(RINGPORT_BUILDING)
#    define RP_API __declspec(dllexport)
#  else
#    define RP_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__) || defined(__clang__)
#  define RP_API __attribute__((visibility("default")))
#else
#  define RP_API
#endif

#define RINGPORT_VERSION_MAJOR 0
#define RINGPORT_VERSION_MINOR 1
#define RINGPORT_VERSION_PATCH 0

/* ---------------------------------------------------------------------------------------------------
 * Error codes. Stable values, independent of errno or WSA codes. Every code is listed once here, with its
 * value and the message rp_strerror gives; the enum below and rp_strerror are generated from this list.
 * ------------------------------------------------------------------------------------------------- */
#define RP_ERRNO_MAP(X)                                                                                          \
    X(EINVAL, -1, "invalid argument")                                                                            \
    X(ENOMEM, -2, "out of memory")                                                                               \
    X(EBADF, -3, "socket handle is not open")                 /* never opened, closed, or stale */               \
    X(EBUSY, -4, "operation already pending or loop busy")                                                       \
    X(ENOENT, -5, "no such operation or file")                /* rp_cancel; a Unix socket path */                \
    X(ECANCELED, -6, "operation canceled")                    /* rp_cancel, rp_close, rp_loop_destroy */         \
    X(ECONNREFUSED, -7, "connection refused")                                                                    \
    X(ECONNRESET, -8, "connection reset by peer")                                                                \
    X(ECONNABORTED, -9, "connection aborted")                 /* locally */                                      \
    X(EPIPE, -10, "broken pipe")                              /* the stream was shut down for writing */         \
    X(ETIMEDOUT, -11, "connection timed out")                                                                    \
    X(EADDRINUSE, -12, "address already in use")                                                                 \
    X(EADDRNOTAVAIL, -13, "address not available")            /* not an address of this host */                  \
    X(ENETUNREACH, -14, "network is unreachable")                                                                \
    X(EHOSTUNREACH, -15, "host is unreachable")                                                                  \
    X(EMFILE, -16, "too many open files in process")          /* out of descriptors */                           \
    X(ENFILE, -17, "too many open files in system")                                                              \
    X(ENOBUFS, -18, "no buffer space available")              /* kernel buffers, or a caller buffer too small */ \
    X(EAFNOSUPPORT, -19, "address family not supported")                                                         \
    X(EACCES, -20, "permission denied")                                                                          \
    X(ENOTSUP, -21, "operation not supported")                /* on this socket or backend */                    \
    X(ENOSYS, -22, "backend not available")                   /* on this system or build */                      \
    X(ESHUTDOWN, -23, "socket or loop is shutting down")      /* no new operations are accepted */               \
    X(ENOTCONN, -24, "socket is not connected")                                                                  \
    X(EALREADY, -25, "operation already in progress")         /* e.g. a second shutdown */                       \
    X(EPERM, -26, "operation not permitted")                  /* e.g. io_uring disabled by policy */             \
    X(ENETDOWN, -27, "network is down")                                                                          \
    X(EMSGSIZE, -28, "message too long")                                                                         \
    X(EIO, -29, "input/output error")                         /* any other system error */                       \
    X(EAGAIN, -30, "operation would block")                   /* rp_udp_try_send: nothing could go now */     \
    X(ENOTFOUND, -31, "no such name")                         /* rp_resolve: unknown host or service */      \
    X(ETRYAGAIN, -32, "temporary name resolution failure")    /* rp_resolve: no answer from a name server */ \
    X(ENODATA, -33, "file ended before the range to send")    /* rp_sendfile: the file is shorter */

enum {
    RP_OK = 0,
#define RP_ERRNO_ENUM_(name, value, message) RP_##name = (value),
    RP_ERRNO_MAP(RP_ERRNO_ENUM_)
#undef RP_ERRNO_ENUM_
};

/* Returns a static, human-readable name for an RP_E* code (never NULL; unknown codes give
 * "unknown error"). Any thread. */
RP_API const char *rp_strerror(int err);

/* ---------------------------------------------------------------------------------------------------
 * Addresses
 * ------------------------------------------------------------------------------------------------- */
enum { RP_AF_INET = 4, RP_AF_INET6 = 6 };

/* An IPv4 or IPv6 endpoint. Plain data; copy freely. */
typedef struct rp_addr {
    uint16_t family;   /* RP_AF_INET or RP_AF_INET6 */
    uint16_t port;     /* host byte order */
    uint32_t scope_id; /* IPv6 scope (interface index); 0 otherwise */
    uint8_t ip[16];    /* network byte order; IPv4 uses the first 4 bytes */
} rp_addr;

/* Longest text rp_addr_format writes, with the terminating NUL ("[v6%scope]:port"). */
#define RP_ADDR_STRLEN 64

/* Parses a numeric IPv4 ("127.0.0.1") or IPv6 ("::1", "fe80::1%2") address and sets the port.
 * No name resolution. Returns 0, or RP_EINVAL if out or host is NULL or host is not a numeric address. */
RP_API int rp_addr_parse(rp_addr *out, const char *host, uint16_t port);

/* Parses "host:port", "[v6]:port" or "v4:port". Returns 0 or RP_EINVAL. */
RP_API int rp_addr_parse_endpoint(rp_addr *out, const char *endpoint);

/* Writes "a.b.c.d:port" or "[v6]:port" with a terminating NUL into buf. Returns the length written (without
 * the NUL), RP_EINVAL for a NULL or malformed address, or RP_ENOBUFS if size is too small (use
 * RP_ADDR_STRLEN). */
RP_API int rp_addr_format(const rp_addr *addr, char *buf, size_t size);

/* ---------------------------------------------------------------------------------------------------
 * Loop
 * ------------------------------------------------------------------------------------------------- */
typedef struct rp_loop rp_loop;
typedef struct rp_op rp_op;

/* A socket handle: opaque, never 0 for an open socket. Handles carry a generation, so a handle kept
 * after rp_close is detected (RP_EBADF) instead of reaching a reused socket. */
typedef uint64_t rp_socket;
#define RP_SOCKET_INVALID ((rp_socket)0)

typedef enum rp_backend {
    RP_BACKEND_AUTO = 0, /* io_uring, else epoll (Linux); kqueue (BSD, macOS); IOCP (Windows) */
    RP_BACKEND_IO_URING = 1,
    RP_BACKEND_EPOLL = 2,
    RP_BACKEND_KQUEUE = 3,
    RP_BACKEND_IOCP = 4
} rp_backend;

/* Use one worker per CPU (the default of rp_loop_options_init). */
#define RP_WORKERS_PER_CPU (-1)

typedef struct rp_loop_options {
    rp_backend backend;    /* RP_BACKEND_AUTO by default; RINGPORT_BACKEND in the environment overrides
                              AUTO (io_uring|epoll|kqueue|iocp) */
    int workers;           /* number of worker threads; 0 = caller-driven (rp_loop_run / rp_loop_poll);
                              RP_WORKERS_PER_CPU = one per online CPU. At most 256. */
    unsigned queue_depth;  /* native queue size per worker (io_uring SQ entries, events per wait);
                              0 = default (256). Rounded to a power of two, at most 32768. */
    uint32_t flags;        /* RP_LOOP_* */
    uint32_t zerocopy_min; /* io_uring (kernel 6.0+): sends of one buffer of at least this many bytes use
                              zero-copy (SEND_ZC), completing once the kernel has let go of the buffer;
                              0 = never (the default). Other backends and older kernels copy as always:
                              results and ownership are the same either way. */
    uint32_t spin_us;      /* busy-poll window: before sleeping, a worker polls its queue for up to this
                              many microseconds (at most 1000000), trading CPU for wake-up latency;
                              0 = sleep at once (the default) */
    uint32_t reserved[10]; /* must be zero */
} rp_loop_options;

/* Flags for rp_loop_options.flags */
/* Receives first wait for data without a buffer, then read into the op's buffer: on IOCP a zero-byte
 * WSARecv followed by a non-blocking read, so idle connections keep no buffer locked in the kernel (the
 * readiness backends never hand buffers to the kernel; io_uring reads only once data is there). Costs one
 * extra system call per receive on IOCP; results and ordering are the same as without it. */
#define RP_LOOP_IDLE_RECV 0x1u
/* io_uring only: a kernel thread per worker polls the submission queue (IORING_SETUP_SQPOLL), so
 * submitting costs no system call; the thread spins on a CPU while there is traffic and sleeps after
 * 50 ms without any, so it pays only where a CPU can be spared for it. rp_loop_create fails with
 * RP_ENOTSUP if the loop would run on another backend, and with the kernel's error if it refuses. */
#define RP_LOOP_SQPOLL 0x2u

/* Fills opts with the defaults: AUTO backend, one worker per CPU, default queue depth. Any thread. */
RP_API void rp_loop_options_init(rp_loop_options *opts);

/* Creates a loop. opts may be NULL for the defaults. With workers > 0 the worker threads are running when
 * this returns. Returns 0 and sets *out, or RP_EINVAL (NULL out, bad option, non-zero reserved field or
 * unknown RINGPORT_BACKEND value), RP_ENOSYS (the requested backend is not built in or not supported by
 * the kernel), RP_EPERM (io_uring requested explicitly but forbidden), RP_ENOTSUP (RP_LOOP_SQPOLL on a backend other than
 * io_uring), RP_ENOMEM, RP_EMFILE, RP_EIO, or on Windows the RP_E* code of a failed WSAStartup.
 * With RP_BACKEND_AUTO an unusable io_uring falls back to the next backend; rp_loop_fallback_reason says
 * why. Any thread. */
RP_API int rp_loop_create(rp_loop **out, const rp_loop_options *opts);

/* Destroys the loop: cancels every pending operation and delivers those completions (RP_ECANCELED), closes
 * every socket, joins the workers and frees all memory. Must not be called from a callback or while
 * another thread is inside rp_loop_run / rp_loop_poll. In caller-driven mode the callbacks of the
 * cancelled operations run inside this call, on the calling thread. Submissions made from those callbacks
 * fail: RP_ESHUTDOWN, or RP_EBADF for a socket the destroy has already closed. Returns 0, RP_EINVAL (NULL), or
 * RP_EBUSY (called from a worker or callback; nothing is changed). */
RP_API int rp_loop_destroy(rp_loop *loop);

/* The backend the loop runs. Any thread. Returns RP_BACKEND_AUTO for NULL. */
RP_API rp_backend rp_loop_backend(const rp_loop *loop);

/* "io_uring", "epoll", "kqueue", "iocp", or "auto". Never NULL. */
RP_API const char *rp_backend_name(rp_backend backend);

/* Why AUTO did not pick its first choice ("io_uring_setup: Operation not permitted
 * (kernel.io_uring_disabled)", ...), or NULL when it did not fall back. The string lives as long as the
 * loop. Any thread. */
RP_API const char *rp_loop_fallback_reason(const rp_loop *loop);

/* Number of worker threads (0 for a caller-driven loop), or RP_EINVAL for NULL. */
RP_API int rp_loop_workers(const rp_loop *loop);

/* Index of the calling thread's worker in this loop (0 in a caller-driven loop while inside rp_loop_run or
 * rp_loop_poll), or -1 when the calling thread is not one of its workers. */
RP_API int rp_loop_current_worker(const rp_loop *loop);

typedef enum rp_run_mode {
    RP_RUN_DEFAULT = 0, /* run until rp_loop_stop */
    RP_RUN_ONCE = 1,    /* wait until at least one completion is delivered, deliver all that are ready */
    RP_RUN_NOWAIT = 2   /* deliver what is ready without waiting */
} rp_run_mode;

/* Caller-driven loops only (workers == 0): waits for completions and runs their callbacks on the calling
 * thread. Returns the number of callbacks run, or RP_EINVAL (NULL loop, bad mode, or a loop with worker
 * threads), or RP_EBUSY (another thread is inside rp_loop_run/rp_loop_poll, or called from a callback). */
RP_API int rp_loop_run(rp_loop *loop, rp_run_mode mode);

/* Caller-driven loops only: the game-loop style. Waits up to timeout_ms (0 = do not wait, < 0 = forever)
 * for completions and stores up to max completed ops in out[], without calling their callbacks. An op
 * appears at most once per call; a multishot op with RP_OP_F_MORE set comes back in a later call with
 * its next result. Returns the number stored, or RP_EINVAL / RP_EBUSY as rp_loop_run. */
RP_API int rp_loop_poll(rp_loop *loop, rp_op **out, int max, int timeout_ms);

/* Makes a running rp_loop_run(RP_RUN_DEFAULT) return after the callback in progress; a stop requested
 * while the loop is not running makes the next rp_loop_run(RP_RUN_DEFAULT) return at once. Any thread.
 * Returns 0, or RP_EINVAL (NULL, or a loop with worker threads: those stop in rp_loop_destroy). */
RP_API int rp_loop_stop(rp_loop *loop);

/* ---------------------------------------------------------------------------------------------------
 * Operation records
 * ------------------------------------------------------------------------------------------------- */
typedef void (*rp_callback)(rp_op *op);

/* Set in op->flags when more completions of a multishot operation follow. */
#define RP_OP_F_MORE 0x1u

/* The kinds of operation, with their stable values. (Inside ringport each kind has one row in an
 * internal table that says how it runs; a kind listed here without that row does not compile.) */
#define RP_OP_KIND_MAP(X) \
    X(ACCEPT, 1)          \
    X(CONNECT, 2)         \
    X(RECV, 3)            \
    X(SEND, 4)            \
    X(SHUTDOWN, 5)        \
    X(CLOSE, 6)           \
    X(TIMEOUT, 7)         \
    X(POST, 8)            \
    X(RECV_POOL, 9)       \
    X(UDP_SEND, 10)       \
    X(UDP_RECV, 11)       \
    X(UDP_RECV_POOL, 12)  \
    X(RESOLVE, 13)        \
    X(SEND_SOCKET, 14)    \
    X(RECV_SOCKET, 15)    \
    X(MOVE, 16)           \
    X(SENDFILE, 17)

typedef enum rp_op_kind {
    RP_OP_NONE = 0, /* a record that was never submitted */
#define RP_OP_KIND_ENUM_(name, value) RP_OP_##name = (value),
    RP_OP_KIND_MAP(RP_OP_KIND_ENUM_)
#undef RP_OP_KIND_ENUM_
} rp_op_kind;

/* A caller-owned operation record. Initialise it with rp_op_init (or zero it and set cb) before its first
 * submission; it can be resubmitted after each final completion. Private fields are reserved so that
 * later versions can grow without changing the size. */
struct rp_op {
    rp_callback cb;     /* called once per completion; may be NULL only in caller-driven loops that
                           collect completions with rp_loop_poll */
    void *user;         /* yours */
    int64_t result;     /* set at completion: bytes (recv, send), datagrams (UDP), addresses stored
                           (resolve), 0 (accept, connect, shutdown, close, timeout, post), or a negative
                           RP_E* code */
    rp_socket socket;   /* set at completion: the new socket of accept and connect, otherwise the socket
                           the op ran on (RP_SOCKET_INVALID for timeouts without one, posts, resolves) */
    uint32_t flags;     /* set at completion: RP_OP_F_MORE */
    uint32_t kind;      /* rp_op_kind of the last submission; read-only */
    void *buf;          /* set at completion of a pool receive (rp_recv_pool) that carries data: the pool
                           buffer holding the result bytes, yours until rp_bufpool_release; else NULL */
    uint64_t internal_[18];
};

/* Zeroes op and sets its callback and user pointer. It reads nothing from op, so it may be used on fresh
 * memory; it must not be used on a pending op (one submitted and not yet finally completed): that record
 * belongs to ringport. Returns 0, or RP_EINVAL if op is NULL. Any thread. */
RP_API int rp_op_init(rp_op *op, rp_callback cb, void *user);

/* Longest per-operation timeout rp_op_set_timeout accepts (about 24 days). */
#define RP_OP_TIMEOUT_MAX_MS 0x7FFFFFFFu

/* Gives op a deadline for its later submissions as a connect, receive (rp_recv, or rp_recv_pool without
 * RP_RECV_MULTISHOT), send (rp_send, rp_sendv, rp_sendfile), UDP send or receive (rp_udp_send, rp_udp_recv, or
 * rp_udp_recv_pool without RP_RECV_MULTISHOT) or name resolution (rp_resolve: the lookup is detached as
 * by rp_cancel): one that has not completed timeout_ms milliseconds after
 * it started on its worker (shortly after the submission; time spent queued behind other receives or
 * sends of the socket counts) completes with RP_ETIMEDOUT, exactly as if it had been cancelled then: a
 * send reports the bytes that went out through rp_op_sent, a UDP send completes with the datagrams sent
 * so far (the others' error is RP_ETIMEDOUT), a connect releases its socket. A completion
 * that wins the race keeps its own result. The same on every backend (the deadline lives in the
 * worker's timer wheel). 0 removes the deadline; rp_op_init clears it; it is kept across submissions
 * otherwise. Submitting op as any other kind (accept, shutdown, close, timeout, post, multishot pool
 * receive) while a deadline is set fails with RP_EINVAL. Returns 0, RP_EINVAL (NULL op, timeout_ms above
 * RP_OP_TIMEOUT_MAX_MS), RP_EBUSY (op pending). Any thread, but not concurrently with a submission of op. */
RP_API int rp_op_set_timeout(rp_op *op, uint32_t timeout_ms);

/* 1 if op has been submitted and its final completion has not been delivered yet, else 0. */
RP_API int rp_op_pending(const rp_op *op);

/* ---------------------------------------------------------------------------------------------------
 * Sockets (TCP)
 * ------------------------------------------------------------------------------------------------- */
/* Flags for rp_listen_options.flags */
#define RP_LISTEN_NO_REUSEADDR 0x1u /* do not set SO_REUSEADDR (set by default; on Windows the listener
                                       is SO_EXCLUSIVEADDRUSE either way, as Windows' SO_REUSEADDR would let
                                       another socket take over the port) */
#define RP_LISTEN_REUSEPORT 0x2u    /* SO_REUSEPORT (FreeBSD: SO_REUSEPORT_LB): several listeners on one port,
                                       e.g. one per worker (rp_listen_options.worker), among which the
                                       kernel spreads new connections (Linux, FreeBSD; macOS allows the
                                       sharing but does not spread); RP_ENOTSUP where absent (Windows) */
#define RP_LISTEN_V6ONLY 0x4u       /* IPv6 listener does not accept IPv4-mapped connections */
#define RP_LISTEN_NO_NODELAY 0x8u   /* accepted sockets keep Nagle (TCP_NODELAY is set by default) */

typedef struct rp_listen_options {
    int backlog;            /* listen() backlog; 0 = default (511) */
    uint32_t flags;         /* RP_LISTEN_* */
    int worker;             /* worker that owns the listener; -1 = round-robin */
    int accept_worker;      /* worker that owns accepted sockets; -1 = spread round-robin over all */
    int accepts_posted;     /* IOCP: AcceptEx calls kept posted while accepts are wanted (each holds a
                               pre-created socket); 0 = default (128), at most 1024. Ignored elsewhere. */
    int fastopen_queue;     /* TCP Fast Open (RFC 7413): connections may bring data in their SYN (a
                               client's rp_connect_options.early_data), readable as soon as they are
                               accepted. 0 = off (the default); > 0 = on, at most this many connections
                               whose handshake is not complete yet may hold such data (Linux caps it at
                               net.core.somaxconn). Linux: TCP_FASTOPEN with that queue length, honoured
                               while the net.ipv4.tcp_fastopen sysctl has the server bit (2; the usual
                               default, 1, lets clients only): without it connections are accepted as
                               usual, their data arriving after the handshake. macOS, FreeBSD:
                               TCP_FASTOPEN on (the length is the system's). Windows 10 1607+:
                               TCP_FASTOPEN on. Where the system lacks the option or has it turned off
                               (FreeBSD's net.inet.tcp.fastopen.server_enable; Wine 8), rp_listen fails
                               with RP_ENOTSUP: it is never ignored. Negative: RP_EINVAL. */
    uint32_t reserved[10];  /* must be zero */
} rp_listen_options;

/* Fills opts with the defaults (backlog 511, SO_REUSEADDR, TCP_NODELAY, worker -1, accept_worker -1, no
 * TCP Fast Open). */
RP_API void rp_listen_options_init(rp_listen_options *opts);

/* Creates a TCP socket bound to addr (port 0 picks a free port: see rp_socket_local_addr) and listening.
 * Synchronous. opts may be NULL for the defaults. Returns 0 and sets *out, or RP_EINVAL (NULL loop/out/addr,
 * bad family, bad option such as a negative fastopen_queue), RP_EADDRINUSE, RP_EADDRNOTAVAIL, RP_EACCES,
 * RP_EAFNOSUPPORT, RP_EMFILE, RP_ENFILE, RP_ENOMEM, RP_ENOTSUP (an option the platform lacks:
 * RP_LISTEN_REUSEPORT, fastopen_queue), RP_ESHUTDOWN (loop being destroyed), RP_EIO. */
RP_API int rp_listen(rp_loop *loop, rp_socket *out, const rp_addr *addr, const rp_listen_options *opts);

/* Flags for rp_accept */
#define RP_ACCEPT_MULTISHOT 0x1u /* keep accepting: one completion flagged RP_OP_F_MORE per connection, until
                                    cancelled, closed, or a fatal error ends it with a final completion */

/* Accepts one connection (or, with RP_ACCEPT_MULTISHOT, every connection until cancelled). On success the
 * completion has result 0 and op->socket holds the new, connected socket, which the caller owns and must
 * rp_close. Completions deliver one connection each; the next is not delivered before the callback of the
 * previous has returned. Accepts complete in submission order. A shortage of descriptors (EMFILE, ENFILE)
 * does not fail the accept: the listener backs off and retries. Returns 0, RP_EINVAL (NULL loop/op, unknown
 * flags, not a listener, NULL cb in a threaded loop), RP_EBUSY (op pending), RP_EBADF, RP_ESHUTDOWN. */
RP_API int rp_accept(rp_loop *loop, rp_op *op, rp_socket listener, uint32_t flags);

#define RP_CONNECT_NO_NODELAY 0x1u /* keep Nagle on the connected socket */

/* Most bytes of early data one connect takes (rp_connect_options.early_len). */
#define RP_CONNECT_EARLY_MAX 65536u

/* 64 bytes on 64-bit platforms, as before early_data was added (60 on 32-bit ones). */
typedef struct rp_connect_options {
    uint32_t flags;         /* RP_CONNECT_* */
    int worker;             /* worker that owns the new socket; -1 = round-robin */
    const void *early_data; /* TCP Fast Open (RFC 7413): early_len bytes (1 .. RP_CONNECT_EARLY_MAX) sent
                               as the connection opens, in the SYN where the system has a cookie from
                               an earlier connection to the server (and the server takes it), otherwise
                               right after the handshake: the peer receives them first, before anything
                               sent with rp_send, either way. NULL with early_len 0 = none (the default).
                               A buffer the op names: ringport's until the connect completes. Data in a
                               SYN may reach the server application twice (a duplicated SYN: RFC 7413
                               section 6): send only what can safely be repeated. What each platform
                               does: rp_connect and docs/architecture.md ("Socket options"). */
    uint32_t early_len;     /* bytes of early_data; 0 without it */
    uint32_t reserved[11];  /* must be zero */
} rp_connect_options;

/* Fills opts with the defaults (TCP_NODELAY, worker -1, no early data). */
RP_API void rp_connect_options_init(rp_connect_options *opts);

/* Opens a TCP connection to addr (IPv4 or IPv6). opts may be NULL. On success the completion has result 0
 * and op->socket is the connected socket, owned by the caller (rp_close it). On failure (RP_ECONNREFUSED,
 * RP_ETIMEDOUT, RP_ENETUNREACH, RP_ECANCELED, ...) the library has already released the socket and
 * op->socket is RP_SOCKET_INVALID. Cancel it with rp_cancel (e.g. from a timeout).
 * With opts->early_data the connect completes with 0 once the connection is established and every byte
 * of the early data has been handed to the kernel, the same on every backend; on failure it completes
 * with the usual codes and nothing is promised about the early data (none, some or all of it may have
 * reached the peer). Linux: TCP_FASTOPEN_CONNECT, then the data is sent as the first bytes (in the SYN
 * with a cookie; the kernel asks for one otherwise); macOS: connectx with CONNECT_DATA_IDEMPOTENT;
 * FreeBSD: TCP_FASTOPEN and sendto; Windows: TCP_FASTOPEN and ConnectEx's send buffer. Where the system
 * refuses Fast Open (an older kernel, the client bit of net.ipv4.tcp_fastopen cleared, Windows before
 * 10 1607, Wine) the data goes right after a plain handshake: it arrives either way.
 * Returns 0, RP_EINVAL (NULL loop/addr, bad family, unknown flags, worker out of range, non-zero reserved
 * field, early_data NULL with early_len > 0 or set with early_len 0, early_len above
 * RP_CONNECT_EARLY_MAX, NULL cb in a threaded loop), RP_EBUSY, RP_EMFILE, RP_ENFILE, RP_ENOMEM,
 * RP_EAFNOSUPPORT, RP_ESHUTDOWN. */
RP_API int rp_connect(rp_loop *loop, rp_op *op, const rp_addr *addr, const rp_connect_options *opts);

/* Receives up to len (> 0) bytes into buf. Completes with the byte count (> 0), 0 at the orderly end of the
 * stream, or a negative RP_E* code. Receives on a socket complete in submission order. Returns 0,
 * RP_EINVAL (NULL loop/op/buf, len 0, len > INT32_MAX, listener), RP_EBUSY, RP_EBADF, RP_ESHUTDOWN. */
RP_API int rp_recv(rp_loop *loop, rp_op *op, rp_socket socket, void *buf, size_t len);

/* One element of a gather list (same layout as struct iovec on POSIX). */
typedef struct rp_buf {
    void *base;
    size_t len;
} rp_buf;

/* Sends len bytes from buf. Completes when every byte has been handed to the kernel (result = len) or on
 * error (result < 0; bytes already handed over are reported by rp_op_sent). Sends on a socket are
 * transmitted in submission order and never interleave. len may be 0 (completes with 0). Returns 0,
 * RP_EINVAL, RP_EBUSY, RP_EBADF, RP_ESHUTDOWN (socket closing, or after rp_shutdown). */
RP_API int rp_send(rp_loop *loop, rp_op *op, rp_socket socket, const void *buf, size_t len);

/* As rp_send, gathering count buffers (at most 1024, total at most INT64_MAX). The array bufs must stay
 * valid and unchanged until completion; it is not copied. */
RP_API int rp_sendv(rp_loop *loop, rp_op *op, rp_socket socket, const rp_buf *bufs, size_t count);

/* An open file to send from: a descriptor on POSIX, a HANDLE on Windows, cast to intptr_t. */
typedef intptr_t rp_file;

/* Sends length bytes of file from offset, after head (if not NULL) and before tail (if not NULL), as one
 * send in the socket's send queue: it goes out after the sends submitted before it and before those
 * submitted after it, never interleaved. The kernel reads the file and sends it without copying it
 * through user space where it can: Linux sendfile (io_uring: after a writability poll), macOS/FreeBSD
 * sendfile, Windows TransmitFile. Completes with head->len + length + tail->len once every byte has been
 * handed to the kernel, or with an error, rp_op_sent telling how much went out before it: RP_ENODATA
 * (the file ended before offset + length; the bytes up to its end went), RP_EIO (reading the file
 * failed), RP_EBADF (POSIX: the file is not open for reading), RP_ECANCELED, or a send error. The file's
 * position is neither used nor moved. file, head,
 * tail and the memory they point to belong to the caller and must stay valid and unchanged until the
 * completion (head and tail are not copied); the file may be closed after that. The file must be open
 * for reading (Windows: a file handle opened with FILE_SHARE_READ; ringport sends through a handle of its
 * own onto the same file, opened for overlapped reads with ReOpenFile, so the caller's may be synchronous).
 * flags must be 0. Any thread. Returns 0, RP_EINVAL (NULL loop/op, flags, a head or tail with NULL base
 * and len > 0, not a connected stream socket, head or tail longer than UINT32_MAX, length + head and tail
 * lengths above INT64_MAX or length above SIZE_MAX, offset + length above INT64_MAX, file not a regular
 * file), RP_EBADF (socket, or file not open), RP_EACCES (Windows: the file cannot be
 * reopened for reading: opened without FILE_SHARE_READ), RP_EBUSY, RP_ESHUTDOWN (socket closing, or
 * after rp_shutdown), RP_ENOMEM, or a system error. */
RP_API int rp_sendfile(rp_loop *loop, rp_op *op, rp_socket socket, rp_file file, uint64_t offset, uint64_t length,
                       const rp_buf *head, const rp_buf *tail, uint32_t flags);

/* Bytes of a send op (rp_send, rp_sendv, rp_sendfile) that reached the kernel; after an error completion
 * this is the count already sent. Returns 0 for NULL or for an op of another kind. */
RP_API int64_t rp_op_sent(const rp_op *op);

/* Half-close: after every send submitted before it has been transmitted, shuts the write side down (the
 * peer reads end of stream). Receives keep working. Completes with 0 or an error. Returns 0, RP_EINVAL,
 * RP_EBUSY, RP_EBADF, RP_ESHUTDOWN, RP_EALREADY (shutdown already submitted). */
RP_API int rp_shutdown(rp_loop *loop, rp_op *op, rp_socket socket);

/* Closes the socket: every pending op on it (accepts, connects, recvs, sends, shutdowns, timeouts bound to
 * it) completes with RP_ECANCELED (or its natural result if it had already finished), then the close op
 * completes with 0. The handle is invalid from this call on: later calls with it return RP_EBADF, and a
 * second close returns RP_EBADF. op may be NULL when no completion is wanted. Returns 0, RP_EINVAL,
 * RP_EBUSY (op pending), RP_EBADF. */
RP_API int rp_close(rp_loop *loop, rp_op *op, rp_socket socket);

/* Turns TCP_NODELAY on or off. Synchronous. Returns 0, RP_EINVAL, RP_EBADF, or a mapped system error. */
RP_API int rp_socket_set_nodelay(rp_loop *loop, rp_socket socket, int on);

/* Flags for rp_close_ex */
#define RP_CLOSE_ABORT 0x1u /* TCP: abortive close (SO_LINGER {1, 0}): unsent data is discarded and the peer
                               gets a reset instead of an orderly end of stream */

/* As rp_close, with flags (RP_CLOSE_*). Returns what rp_close returns, and RP_EINVAL for unknown flags or
 * RP_CLOSE_ABORT on a socket other than a TCP connection. */
RP_API int rp_close_ex(rp_loop *loop, rp_op *op, rp_socket socket, uint32_t flags);

/* ---------------------------------------------------------------------------------------------------
 * Socket options: synchronous, on any open socket, from any thread. An option a platform lacks returns
 * RP_ENOTSUP; nothing is silently ignored. What each platform supports: docs/architecture.md ("Socket
 * options").
 * ------------------------------------------------------------------------------------------------- */
/* The options of rp_socket_set_option / rp_socket_get_option, with their stable values. */
#define RP_SOCKOPT_MAP(X)                                                                                   \
    X(RECV_BUFFER, 1)         /* SO_RCVBUF in bytes (TCP, UDP); get: what the kernel uses (Linux doubles the  \
                                 value asked for and clamps it to net.core.rmem_max) */                    \
    X(SEND_BUFFER, 2)         /* SO_SNDBUF in bytes (TCP, UDP); get: what the kernel uses */               \
    X(TOS, 3)                 /* IP_TOS / IPV6_TCLASS, 0 .. 255 (DSCP << 2 | ECN); RP_ENOTSUP on Windows,   \
                                 which ignores the option */                                              \
    X(TCP_NODELAY, 4)         /* 0 or 1 */                                                                 \
    X(TCP_USER_TIMEOUT_MS, 5) /* how long sent data may stay unacknowledged before the connection is        \
                                 dropped (RP_ETIMEDOUT); 0 = the system's default. Linux TCP_USER_TIMEOUT; \
                                 Windows TCP_MAXRT (whole seconds, rounded up; 0 is RP_ENOTSUP there);     \
                                 RP_ENOTSUP elsewhere */                                                   \
    X(TCP_KEEPALIVE, 6)       /* get only: 1 if keepalive is on (rp_socket_set_keepalive), else 0 */      \
    X(TCP_FASTOPENED, 7)      /* get only, TCP connections: 1 if data rode in the connection's SYN and was \
                                 acknowledged (TCP Fast Open: a connect's early data went in the SYN, or \
                                 an accepted connection received data in its SYN), else 0. Linux         \
                                 (TCP_INFO, TCPI_OPT_SYN_DATA); RP_ENOTSUP elsewhere */

typedef enum rp_sockopt {
#define RP_SOCKOPT_ENUM_(name, value) RP_SO_##name = (value),
    RP_SOCKOPT_MAP(RP_SOCKOPT_ENUM_)
#undef RP_SOCKOPT_ENUM_
} rp_sockopt;

/* Sets option opt of socket to value. Returns 0, RP_EINVAL (NULL loop, unknown option, a TCP option on a
 * UDP socket or listener where it does not apply, a value out of range, a get-only option), RP_EBADF,
 * RP_ENOTSUP (the platform lacks it), or a mapped system error. */
RP_API int rp_socket_set_option(rp_loop *loop, rp_socket socket, rp_sockopt opt, int64_t value);

/* Reads option opt of socket into *value: what the kernel really uses. Returns 0, RP_EINVAL (NULL, unknown
 * option, one that does not apply to the socket), RP_EBADF, RP_ENOTSUP, or a mapped system error. */
RP_API int rp_socket_get_option(rp_loop *loop, rp_socket socket, rp_sockopt opt, int64_t *value);

/* TCP keepalive probes: after idle_s seconds without traffic, a probe every interval_s seconds, the
 * connection dropped (RP_ETIMEDOUT) after count unanswered ones. */
typedef struct rp_keepalive {
    uint32_t idle_s;      /* 1 .. 32767 */
    uint32_t interval_s;  /* 1 .. 32767 */
    uint32_t count;       /* 1 .. 127; Windows before 10 1709 always sends 10 (another count: RP_ENOTSUP) */
    uint32_t reserved[5]; /* must be zero */
} rp_keepalive;

/* Turns keepalive on with ka's timing, or off (ka NULL), on a TCP connection (or a listener: accepted
 * sockets inherit it where the platform does so). Returns 0, RP_EINVAL (NULL loop, bad values, non-zero
 * reserved, a UDP socket), RP_EBADF, RP_ENOTSUP, or a mapped system error. */
RP_API int rp_socket_set_keepalive(rp_loop *loop, rp_socket socket, const rp_keepalive *ka);

/* Selects the TCP congestion control algorithm by name ("cubic", "reno", "bbr", ...) on a TCP socket.
 * Linux and FreeBSD; RP_ENOTSUP elsewhere, and for a name this system does not have (for example a module
 * that is not loaded). Returns 0, RP_EINVAL (NULL, empty or longer than 15 characters, not TCP),
 * RP_EBADF, RP_ENOTSUP, RP_EPERM (the name needs privileges), or a mapped system error. */
RP_API int rp_socket_set_congestion(rp_loop *loop, rp_socket socket, const char *name);

/* Writes the name of the socket's congestion control algorithm with a terminating NUL into buf. Returns its
 * length, RP_EINVAL (NULL, not TCP), RP_ENOBUFS (size too small: 16 always suffices), RP_EBADF,
 * RP_ENOTSUP. */
RP_API int rp_socket_get_congestion(rp_loop *loop, rp_socket socket, char *buf, size_t size);

/* Local / peer address of an open socket. Synchronous. Returns 0, RP_EINVAL, RP_EBADF, RP_ENOTCONN. */
RP_API int rp_socket_local_addr(rp_loop *loop, rp_socket socket, rp_addr *out);
RP_API int rp_socket_peer_addr(rp_loop *loop, rp_socket socket, rp_addr *out);

/* Index of the worker that owns the socket (0 in caller-driven loops), or RP_EINVAL / RP_EBADF. */
RP_API int rp_socket_worker(rp_loop *loop, rp_socket socket);

/* Moves socket (a connection, listener or UDP socket) to worker, inside this process: from the completion on,
 * its callbacks run on that worker and its operations go through that worker's queue. The handle stays the
 * same and nothing is lost: the socket is handed over while no operation of it is in progress. Completes on
 * the new worker with 0, or with RP_EBUSY (an operation of the socket was pending, or completed and not yet
 * delivered, when the move got to the socket's worker: submit the move when the socket is idle, e.g. from
 * the callback of its last operation), RP_EBADF (closed meanwhile), or a system error. (IOCP: the handle
 * is re-associated with the new worker's completion port where the system can, Windows 8.1+; elsewhere,
 * e.g. under Wine, the socket's requests signal events from then on, which cost a wait each.) A
 * move to the worker that already owns it completes with 0. Submit no other operation on socket until the
 * move has completed. Not cancellable (rp_cancel returns RP_ENOTSUP). Any thread. Returns 0, RP_EINVAL (NULL
 * loop/op, worker out of range), RP_EBUSY (op pending), RP_EBADF, RP_ESHUTDOWN. */
RP_API int rp_socket_move(rp_loop *loop, rp_op *op, rp_socket socket, int worker);

/* ---------------------------------------------------------------------------------------------------
 * Unix domain stream sockets (local IPC). Their connections are ordinary stream sockets: rp_recv,
 * rp_recv_pool, rp_send, rp_sendv, rp_shutdown, rp_close and the deadlines work on them as on TCP, and
 * listeners take rp_accept. TCP-only calls (TCP options, keepalive, congestion control, RP_CLOSE_ABORT,
 * rp_socket_set_nodelay) return RP_EINVAL on them, and rp_socket_local_addr / rp_socket_peer_addr return
 * RP_EAFNOSUPPORT (use rp_socket_unix_path). Windows 10 1803+ has AF_UNIX stream sockets (no socketpair,
 * no abstract names, no ancillary data); where the system lacks them the calls return RP_EAFNOSUPPORT.
 *
 * A path is given as len bytes, not NUL-terminated: a file system path (no NUL byte in it), or on Linux
 * an abstract name, whose first byte is NUL (the rest, NULs included, is the name; no file is created).
 * At most RP_UNIX_PATH_MAX bytes (the platform's sun_path less its terminating NUL: 107 on Linux and
 * Windows, 103 on macOS and BSD, which rp_unix_path_max tells).
 * ------------------------------------------------------------------------------------------------- */
#define RP_UNIX_PATH_MAX 107

/* The longest path (in bytes) this platform takes: 107 on Linux and Windows, 103 on macOS and BSD. */
RP_API size_t rp_unix_path_max(void);

/* Flag for rp_listen_options.flags, rp_unix_listen only: a socket file already at path is removed before
 * binding (one left behind by a process that ended without removing it). Anything at path that is not a
 * socket is left alone (RP_EADDRINUSE). */
#define RP_LISTEN_UNIX_UNLINK 0x10u

/* Creates a Unix domain stream socket bound to path and listening. The socket file is created with the
 * process's umask and is not removed when the listener closes (it may be handed to another process that goes
 * on serving it): remove it yourself, or start with RP_LISTEN_UNIX_UNLINK. opts may be NULL; of its flags only
 * RP_LISTEN_UNIX_UNLINK applies (RP_LISTEN_NO_REUSEADDR and RP_LISTEN_NO_NODELAY are accepted and mean nothing
 * here), and fastopen_queue must be 0. Synchronous, any thread. Returns 0 and sets *out, or RP_EINVAL (NULL
 * loop/out/path, len 0 or above rp_unix_path_max(), a NUL inside a file system path, RP_LISTEN_REUSEPORT or
 * RP_LISTEN_V6ONLY, bad option), RP_ENOTSUP (an abstract name off Linux), RP_EADDRINUSE (path exists),
 * RP_ENOENT (a directory of path does not exist), RP_EACCES, RP_EAFNOSUPPORT (no AF_UNIX here), RP_EMFILE,
 * RP_ENFILE, RP_ENOMEM, RP_ESHUTDOWN, RP_EIO. */
RP_API int rp_unix_listen(rp_loop *loop, rp_socket *out, const char *path, size_t len, const rp_listen_options *opts);

/* Connects to the Unix domain listener at path. Completes as rp_connect: result 0 and op->socket the connected
 * socket (the caller's to rp_close), or an error with the socket already released: RP_ECONNREFUSED (a socket
 * file nobody listens on; also a full backlog on macOS and BSD), RP_ENOENT (no such file), RP_EACCES,
 * RP_EAGAIN (Linux: the listener's backlog is full; try again later), RP_ECANCELED. opts may be NULL;
 * opts->worker applies, opts->flags must be 0 or RP_CONNECT_NO_NODELAY (meaningless here), and there is no
 * early data. Returns 0, RP_EINVAL (as rp_unix_listen for the path; NULL loop/op, bad options), RP_EBUSY,
 * RP_ENOTSUP, RP_EAFNOSUPPORT, RP_EMFILE, RP_ENFILE, RP_ENOMEM, RP_ESHUTDOWN. */
RP_API int rp_unix_connect(rp_loop *loop, rp_op *op, const char *path, size_t len, const rp_connect_options *opts);

/* Creates two connected stream sockets, both owned by worker (-1: the calling thread's worker if it is
 * one, else round-robin). POSIX: socketpair(AF_UNIX).
 * Windows, which has no AF_UNIX socketpair: a TCP connection over the loopback interface (127.0.0.1),
 * checked to be between the two sockets it returns. Synchronous, any thread. Returns 0 and sets out[0],
 * out[1] (the caller's to rp_close), or RP_EINVAL (NULL loop/out, bad worker), RP_EMFILE, RP_ENFILE,
 * RP_ENOMEM, RP_ESHUTDOWN, RP_EIO. */
RP_API int rp_socketpair(rp_loop *loop, rp_socket out[2], int worker);

/* Writes the path of a Unix domain socket into buf: its own (peer 0) or its peer's (peer 1), len bytes
 * as rp_unix_listen takes them (an abstract name starts with a NUL byte), plus a terminating NUL when
 * there is room. A connecting socket usually has no path of its own (length 0). Returns the length, or
 * RP_EINVAL (NULL, not a Unix domain socket), RP_ENOBUFS (size below the length), RP_EBADF, RP_ENOTCONN
 * (peer of a listener or of a socket whose peer has gone). */
RP_API int rp_socket_unix_path(rp_loop *loop, rp_socket socket, int peer, char *buf, size_t size);

/* The credentials of the process at the other end of a Unix domain connection, as the kernel recorded
 * them when the connection was made. A field the platform does not report is -1. */
typedef struct rp_peer_cred {
    int64_t pid;          /* Linux, macOS, FreeBSD 13+, Windows */
    int64_t uid;          /* POSIX only */
    int64_t gid;          /* POSIX only */
    uint32_t reserved[6]; /* set to zero */
} rp_peer_cred;

/* Fills *out with the peer's credentials (Linux SO_PEERCRED; macOS getpeereid and LOCAL_PEERPID; FreeBSD
 * LOCAL_PEERCRED; Windows SIO_AF_UNIX_GETPEERPID). Synchronous, any thread. Returns 0, RP_EINVAL (NULL,
 * not a Unix domain connection: a listener, TCP, UDP, or a Windows rp_socketpair), RP_EBADF, RP_ENOTCONN,
 * RP_ENOTSUP (the platform reports none of them). */
RP_API int rp_socket_peer_cred(rp_loop *loop, rp_socket socket, rp_peer_cred *out);

/* ---------------------------------------------------------------------------------------------------
 * Handing sockets to another process: a TCP or Unix domain connection or listener travels over a
 * channel, a Unix domain connection between the two processes or an end of an rp_socketpair (POSIX: with
 * SCM_RIGHTS; Windows: WSADuplicateSocketW's protocol information, for the channel's peer process as
 * SIO_AF_UNIX_GETPEERPID names it, or this one for an rp_socketpair), and is adopted
 * on the other side as a ringport socket of that process's loop. The kernel keeps the connection as it
 * is: bytes the peer sent that nobody has read yet are read by the new owner, bytes queued for sending
 * still go out. Bytes the sender has already received and not yet dealt with travel in the message's
 * data. A message (a socket and up to RP_XFER_DATA_MAX bytes of data) is sent with rp_send_socket and
 * received whole with rp_recv_socket; the two ends of a channel use only these on it (they frame their
 * messages), in both directions if they like. The peer is trusted: what it sends becomes a socket here.
 * Windows: the duplicate is made in the peer process at submission, and stays open there until that
 * process exits if the message never arrives; an adopted socket keeps the sender's completion port, so
 * the IOCP backend runs it with event-signalled requests (a wait per request).
 * ------------------------------------------------------------------------------------------------- */
#define RP_XFER_DATA_MAX 65536u

/* Sends sock (a TCP or Unix domain connection or listener of this loop, not the channel itself) with len
 * bytes of data over channel (a connected Unix domain stream socket or rp_socketpair end), queued after
 * the sends already submitted on channel. The data is copied at submission. Completes with len once the
 * whole message is in the channel, or an error (RP_EPIPE, RP_ECONNRESET, RP_ECANCELED, ...: then the peer
 * may or may not have the socket). The socket stays open here: close it once the send has completed (in its callback)
 * unless both processes are to use it (then both read from and write to one connection, in no order
 * between them); on failure it is still yours to serve. Stop receiving on it before sending (cancel and
 * wait for the receives' completions, whose bytes go in data): a receive still pending can take bytes
 * the new owner should read. flags must be 0. Any thread. Returns 0, RP_EINVAL (NULL loop/op, data NULL
 * with len > 0, len above RP_XFER_DATA_MAX, flags, channel not a Unix domain connection or socketpair end,
 * sock a UDP socket or the channel), RP_EBUSY (op pending), RP_EBADF (either handle), RP_ESHUTDOWN
 * (channel shut down for writing, or loop shutting down), RP_EMFILE (no descriptor left to duplicate sock
 * into), RP_ENOMEM, RP_ENOTCONN (Windows: the channel's peer process is unknown), or a system error
 * (Windows: WSADuplicateSocketW refused, e.g. the peer process is gone). */
RP_API int rp_send_socket(rp_loop *loop, rp_op *op, rp_socket channel, rp_socket sock, const void *data, size_t len,
                          uint32_t flags);

/* Receives one message sent with rp_send_socket on channel: the socket, adopted into this loop on worker
 * (-1: the channel's worker), and its data into buf (cap bytes; buf may be NULL when cap is 0).
 * Completes with the message's data length and op->socket the adopted socket (the caller's to rp_close;
 * a listener takes rp_accept, with round-robin accept workers and TCP_NODELAY on accepted TCP
 * connections); a result above cap means only the first cap bytes were stored, the rest was dropped.
 * Errors (op->socket RP_SOCKET_INVALID, no descriptor left open): RP_ENOTCONN (the channel ended before
 * a message), RP_ECONNRESET (it ended inside one), RP_EIO (what arrived is not such a message, or came
 * without a socket: the channel is out of step and should be closed), RP_EMFILE (the descriptor could
 * not be received: the process is out of descriptors; the rest of the message was read), RP_ECANCELED,
 * or another receive error. Receives on channel complete in submission order, mixed with rp_recv ones.
 * Any thread. Returns 0, RP_EINVAL (NULL loop/op, buf NULL with cap > 0, cap above INT32_MAX, bad worker,
 * channel not a Unix domain connection or socketpair end), RP_EBUSY, RP_EBADF, RP_ENOMEM, RP_ESHUTDOWN. */
RP_API int rp_recv_socket(rp_loop *loop, rp_op *op, rp_socket channel, void *buf, size_t cap, int worker);

/* ---------------------------------------------------------------------------------------------------
 * Buffer pools and pool receives
 *
 * A pool is a set of fixed-size receive buffers owned by the library, so that a connection holds no buffer
 * while it waits for data (idle connections are cheap) and the kernel can pick the buffer only when data
 * is there (io_uring's provided buffer rings; elsewhere the library reads into a free buffer once the
 * socket is readable). Each worker of the loop has its own `count` buffers of the pool.
 *
 * A buffer handed out by a pool receive belongs to the caller until it gives it back with
 * rp_bufpool_release, from any thread. Exhaustion policy: when a worker's buffers are all out, its pool
 * receives wait without reading from the socket (TCP flow control slows the peer down) and go on by
 * themselves as buffers come back. Exhaustion never fails or ends a receive and never loses data.
 * ------------------------------------------------------------------------------------------------- */
typedef struct rp_bufpool rp_bufpool;

typedef struct rp_bufpool_options {
    uint32_t buf_size;     /* bytes per buffer: 0 = default (16384); 64 .. 16 MiB. A datagram of up to this
                              many bytes always fits whole; the library adds RP_BUFPOOL_HEADROOM bytes to
                              each buffer (io_uring writes a datagram's source before it there), which TCP
                              receives may fill too: rp_bufpool_buf_size tells the whole size */
    uint32_t count;        /* buffers per worker: 0 = default (256); rounded up to a power of two, at most
                              32768 */
    uint32_t reserved[14]; /* must be zero */
} rp_bufpool_options;

/* Fills opts with the defaults (16384-byte buffers, 256 per worker). */
RP_API void rp_bufpool_options_init(rp_bufpool_options *opts);

/* Creates a pool for loop: count buffers of buf_size bytes for each worker (memory: workers x count x
 * buf_size, reserved at once, touched as buffers are used). opts may be NULL for the defaults. The pool
 * lives until rp_bufpool_destroy or rp_loop_destroy. Returns 0 and sets *out, or RP_EINVAL (NULL
 * loop/out, bad option, non-zero reserved field), RP_ENOMEM, RP_ESHUTDOWN (loop being destroyed). Any
 * thread. */
RP_API int rp_bufpool_create(rp_loop *loop, rp_bufpool **out, const rp_bufpool_options *opts);

/* Destroys pool. Every pool receive using it must have finally completed and every buffer must have been
 * released; the pool pointer is invalid afterwards. The memory is freed once each worker that used the
 * pool has let go of it (at once from a worker of the loop or when no worker used it, else at the
 * workers' next iteration; a caller-driven loop lets go in its next rp_loop_run / rp_loop_poll or in
 * rp_loop_destroy). Returns 0, RP_EINVAL (NULL), or RP_EBUSY (a receive is pending on it or a buffer is
 * out: nothing is changed). Any thread, but not concurrently with submissions on the same pool. */
RP_API int rp_bufpool_destroy(rp_bufpool *pool);

/* Gives buf, a buffer a pool receive handed out (op->buf, or any address inside it such as an rp_dgram's
 * base from rp_udp_recv_pool), back to pool. Any thread; from the buffer's
 * own worker it takes effect at once, from elsewhere at that worker's next iteration (it is woken if a
 * receive waits for buffers). Returns 0, or RP_EINVAL (NULL, not a buffer of this pool, or not handed out:
 * e.g. released twice). */
RP_API int rp_bufpool_release(rp_bufpool *pool, void *buf);

/* Room the library adds to every pool buffer. */
#define RP_BUFPOOL_HEADROOM 128u

/* The size of the pool's buffers in bytes (the buf_size asked for + RP_BUFPOOL_HEADROOM): the most a pool
 * receive's chunk holds. 0 for NULL. Any thread. */
RP_API size_t rp_bufpool_buf_size(const rp_bufpool *pool);

/* Flags for rp_recv_pool */
#define RP_RECV_MULTISHOT 0x1u /* keep receiving: one completion flagged RP_OP_F_MORE per chunk of data, until
                                  the end of the stream, an error, rp_cancel or rp_close ends it with a final
                                  completion */

/* Receives into a buffer of pool (a pool of the same loop) chosen when data arrives. A completion with
 * data has result > 0 and op->buf pointing at the buffer (at most rp_bufpool_buf_size bytes), which the
 * caller owns until rp_bufpool_release. Without RP_RECV_MULTISHOT that is the only completion. With it,
 * every chunk of data is such a completion flagged RP_OP_F_MORE, delivered in stream order, the next
 * only after the callback of the previous has returned; the final completion carries no buffer: 0 at the
 * orderly end of the stream, RP_ECANCELED (rp_cancel, rp_close), or another RP_E* code. Data received
 * before a cancel or close is still delivered, before the final completion. Receives on a socket run in
 * submission order: one submitted after a multishot receive starts once that receive's final completion
 * has been delivered. Returns 0, RP_EINVAL (NULL loop/op/pool, pool of another loop or destroyed, unknown
 * flags, listener, NULL cb in a threaded loop), RP_EBUSY, RP_EBADF, RP_ESHUTDOWN. */
RP_API int rp_recv_pool(rp_loop *loop, rp_op *op, rp_socket socket, rp_bufpool *pool, uint32_t flags);

/* ---------------------------------------------------------------------------------------------------
 * UDP datagram sockets
 *
 * Datagram boundaries are kept: each rp_dgram is one datagram. Sends and receives take arrays of them, so
 * a batch costs one system call where the platform has one (Linux sendmmsg/recvmmsg). A datagram longer
 * than its buffer is delivered truncated and flagged RP_DGRAM_TRUNC, never silently cut; a zero-length
 * datagram is delivered with len 0. On an unconnected socket an ICMP error (port unreachable, ...) never
 * fails or ends a receive, on any platform (on Windows the library turns SIO_UDP_CONNRESET and
 * SIO_UDP_NETRESET off); on a connected socket it is reported: a receive completes with RP_ECONNREFUSED
 * (the socket stays usable), a send reports it on the datagram it was returned for. rp_cancel and
 * rp_close work as for TCP; rp_socket_local_addr and rp_socket_peer_addr (once connected) apply.
 * ------------------------------------------------------------------------------------------------- */
/* rp_dgram.flags (set by receives) */
#define RP_DGRAM_TRUNC 0x1u /* the datagram was longer than the buffer: len bytes were kept, the rest lost */
#define RP_DGRAM_LOCAL 0x2u /* local holds the address the datagram was sent to (RP_UDP_PKTINFO) */

/* Largest datagram payload: 65,507 bytes over IPv4 (65,527 over IPv6 without jumbograms). */
#define RP_DGRAM_MAX 65507u
/* Most datagrams one send or receive takes. */
#define RP_DGRAM_BATCH_MAX 1024u
/* Most segments one rp_dgram with a segment size may be cut into (Linux's UDP_MAX_SEGMENTS). */
#define RP_DGRAM_SEGMENTS_MAX 64u

/* One datagram. Caller-owned; an array of them is named by a UDP op and belongs to ringport from the
 * submission until the final completion (a multishot pool receive rewrites it at each completion). */
typedef struct rp_dgram {
    void *base;        /* send: the bytes to send; rp_udp_recv: where to receive them; pool receives:
                          set to the pool buffer's data (yours until rp_bufpool_release(pool, base)) */
    uint32_t len;      /* send: bytes to send (0 .. RP_DGRAM_MAX); rp_udp_recv: capacity in, bytes received
                          out (at most the capacity); pool receives: bytes received */
    uint16_t flags;    /* receives: RP_DGRAM_*; send: must be 0 */
    uint16_t segment;  /* send: 0, or a segment size: the len bytes go out as datagrams of `segment` bytes
                          each (the last may be shorter; at most RP_DGRAM_SEGMENTS_MAX of them), all to
                          peer. Linux hands them to the kernel in one call (UDP GSO, UDP_SEGMENT); where
                          the kernel or device refuses (EIO, EINVAL) the library splits them itself from
                          then on for that socket, as it always does elsewhere. The datagram counts as one
                          in results; if a segment fails, error says why (earlier segments went out).
                          receives: 0 */
    int32_t error;     /* send, out: 0 if the datagram was handed to the kernel, else why not (RP_E*);
                          receives: 0 */
    uint32_t reserved1; /* must be 0 */
    rp_addr peer;      /* send: the destination (family 0: the connected peer, which a connected socket
                          requires); receives: the source */
    rp_addr local;     /* receives with RP_UDP_PKTINFO: the destination address (RP_DGRAM_LOCAL) */
} rp_dgram;

/* Flags for rp_udp_options.flags */
#define RP_UDP_REUSEADDR 0x1u      /* SO_REUSEADDR (several sockets on one multicast port; Windows: same) */
#define RP_UDP_REUSEPORT 0x2u      /* SO_REUSEPORT: the kernel spreads datagrams over the sockets bound to
                                      the port (Linux; RP_ENOTSUP where absent) */
#define RP_UDP_V6ONLY 0x4u         /* an IPv6 socket does not take IPv4 (dual stack is the default) */
#define RP_UDP_BROADCAST 0x8u      /* SO_BROADCAST: may send to broadcast addresses */
#define RP_UDP_PKTINFO 0x10u       /* receives report each datagram's destination address in local
                                      (IP_PKTINFO / IPV6_RECVPKTINFO; RP_ENOTSUP where absent) */
#define RP_UDP_MULTICAST_NO_LOOP 0x20u /* multicast sent from this socket is not looped back to this host */

typedef struct rp_udp_options {
    uint32_t flags;         /* RP_UDP_* */
    int worker;             /* worker that owns the socket; -1 = round-robin */
    int recv_buffer;        /* SO_RCVBUF in bytes; 0 = the system's default */
    int send_buffer;        /* SO_SNDBUF in bytes; 0 = the system's default */
    int multicast_ttl;      /* IP_MULTICAST_TTL / IPV6_MULTICAST_HOPS (0 .. 255); -1 = default (1) */
    uint32_t reserved[11];  /* must be zero */
} rp_udp_options;

/* Fills opts with the defaults (no flags: dual stack, worker -1, system buffer sizes, multicast TTL -1). */
RP_API void rp_udp_options_init(rp_udp_options *opts);

/* Creates a UDP socket bound to addr (port 0 picks a free port: rp_socket_local_addr tells it; the
 * unspecified address 0.0.0.0 or :: binds every interface). Synchronous. opts may be NULL. Returns 0 and
 * sets *out, or RP_EINVAL (NULL loop/out/addr, bad family, bad option, non-zero reserved field),
 * RP_EADDRINUSE, RP_EADDRNOTAVAIL, RP_EACCES, RP_EAFNOSUPPORT, RP_ENOTSUP (an option this platform
 * lacks), RP_EMFILE, RP_ENFILE, RP_ENOMEM, RP_ESHUTDOWN, RP_EIO. Any thread. */
RP_API int rp_udp_bind(rp_loop *loop, rp_socket *out, const rp_addr *addr, const rp_udp_options *opts);

/* Fixes the socket's peer (connect(2) on a datagram socket): sends go there (with peer.family 0), only its
 * datagrams are received, and ICMP errors are reported (RP_ECONNREFUSED). Synchronous; may be called
 * again to change the peer. Returns 0, RP_EINVAL (NULL, not a UDP socket, bad address), RP_EBADF,
 * RP_EAFNOSUPPORT, RP_ENETUNREACH, RP_EHOSTUNREACH, RP_EACCES, RP_EIO. Any thread; do not race it with
 * sends or receives in flight on the socket (which peer they use is then undefined). */
RP_API int rp_udp_connect(rp_loop *loop, rp_socket socket, const rp_addr *peer);

/* Sends count (1 .. RP_DGRAM_BATCH_MAX) datagrams, in order. Every datagram is tried: one the kernel
 * refuses (RP_EMSGSIZE, RP_EHOSTUNREACH, RP_ECONNREFUSED on a connected socket, RP_EINVAL for a bad peer,
 * ...) gets the error in its error field and the others still go. When the socket's send buffer is full
 * the send waits for room; it never drops a datagram itself. Completes with the number of datagrams
 * handed to the kernel (their error is 0), or, when none was, with the first datagram's error; a send
 * cancelled or closed part-way completes with the count sent so far, the rest having error
 * RP_ECANCELED (RP_ECANCELED as the result if none went). Sends on a socket go out in submission order.
 * Returns 0, RP_EINVAL (NULL loop/op/dgrams, count 0 or too large, len above RP_DGRAM_MAX, NULL base
 * with len > 0, non-zero flags or reserved field, more than RP_DGRAM_SEGMENTS_MAX segments, a peer
 * family other than 0, RP_AF_INET, RP_AF_INET6,
 * not a UDP socket, NULL cb in a threaded loop), RP_EBUSY, RP_EBADF, RP_ESHUTDOWN. */
RP_API int rp_udp_send(rp_loop *loop, rp_op *op, rp_socket socket, rp_dgram *dgrams, size_t count);

/* Receives 1 .. count datagrams into the caller's buffers (dgrams[i].base, capacity dgrams[i].len):
 * completes as soon as at least one datagram is there, with the number received, each dgrams[i]
 * (i < result) holding its length, flags and source; later entries are left as they were. A negative
 * result is an error: RP_ECANCELED, RP_ECONNREFUSED (connected socket, after an ICMP error), ... Receives
 * on a socket complete in submission order. Returns 0, RP_EINVAL (NULL loop/op/dgrams, count 0 or too
 * large, NULL base with len > 0, not a UDP socket, NULL cb in a threaded loop), RP_EBUSY, RP_EBADF,
 * RP_ESHUTDOWN. */
RP_API int rp_udp_recv(rp_loop *loop, rp_op *op, rp_socket socket, rp_dgram *dgrams, size_t count);

/* Receives datagrams into buffers of pool (of the same loop), one buffer per datagram; a datagram longer
 * than the pool's buffers is truncated and flagged. Each completion carries 1 .. count datagrams in
 * dgrams[0 .. result-1] (base: inside a pool buffer, yours until rp_bufpool_release(pool, base); len,
 * flags, peer, local). With RP_RECV_MULTISHOT it keeps receiving, each completion flagged RP_OP_F_MORE
 * and delivered only after the callback of the previous one returned (the array is rewritten each time:
 * read it in the callback), until rp_cancel, rp_close or an error ends it with a final completion that
 * carries no datagram (RP_ECANCELED, RP_ECONNREFUSED on a connected socket, ...). When the pool runs out
 * the receive waits (datagrams queue in the kernel's receive buffer, which drops what overflows it: see
 * rp_udp_drops) and goes on by itself as buffers come back: exhaustion never fails or ends it. Returns
 * 0, RP_EINVAL (as rp_udp_recv, plus NULL pool, a pool of another loop or destroyed, unknown flags),
 * RP_EBUSY, RP_EBADF, RP_ESHUTDOWN. */
RP_API int rp_udp_recv_pool(rp_loop *loop, rp_op *op, rp_socket socket, rp_bufpool *pool, rp_dgram *dgrams,
                            size_t count, uint32_t flags);

/* Sends datagrams now, without an op: for caller-driven game loops that send a tick's snapshots at once.
 * Never blocks: stops at the first datagram the socket has no room for. Returns how many datagrams were
 * dealt with, k (1 .. count): each of dgrams[0 .. k) has error 0 if the kernel took it, or why it was
 * refused (the call goes on with the next), or RP_EAGAIN if it had a segment size and only its first
 * segments found room; dgrams[k ..) found no room and were not sent. Returns
 * RP_EAGAIN if the first already found no room, or RP_EINVAL (as rp_udp_send), RP_EBADF. Datagrams of an
 * rp_udp_send in progress on the socket may go out before or after these. Any thread. */
RP_API int rp_udp_try_send(rp_loop *loop, rp_socket socket, rp_dgram *dgrams, size_t count);

/* Joins (join = 1) or leaves (0) the multicast group on the interface with address iface (NULL: the
 * system's choice; for IPv6, iface->scope_id names the interface). Synchronous. Returns 0, RP_EINVAL
 * (NULL, not a UDP socket, group not multicast, families differ), RP_EBADF, RP_EADDRNOTAVAIL, RP_ENOTSUP,
 * or a mapped system error. Any thread. */
RP_API int rp_udp_set_membership(rp_loop *loop, rp_socket socket, const rp_addr *group, const rp_addr *iface,
                                 int join);

/* Datagrams the kernel dropped on this socket because its receive buffer was full (Linux: SO_MEMINFO's
 * drop count since the socket was created). Synchronous. Returns 0 and sets *out, or RP_EINVAL (NULL, not
 * a UDP socket), RP_EBADF, RP_ENOTSUP (the platform does not count them). Any thread. */
RP_API int rp_udp_drops(rp_loop *loop, rp_socket socket, uint64_t *out);

/* ---------------------------------------------------------------------------------------------------
 * Name resolution
 *
 * rp_resolve turns a host name into addresses with the system's resolver (getaddrinfo: the hosts file,
 * DNS, and whatever else the system is configured to ask), without blocking any worker. On POSIX a small
 * pool of resolver threads, shared by every loop of the process and never a worker, runs the lookups;
 * on Windows (8 and later) GetAddrInfoExW runs them asynchronously, and the same pool with GetAddrInfoW
 * does where that is not available. Lookups of the same host, service, family and flags that are in
 * progress at the same time share one system call. The pool's threads start with the first rp_resolve
 * and end when the last loop that used them is destroyed; a thread still blocked in a lookup then is
 * detached and ends by itself when the lookup returns (it touches no loop). On Windows the resolver keeps
 * Winsock initialised (one WSAStartup) from its first use to the end of the process.
 * docs/architecture.md ("Name resolution") says more.
 * ------------------------------------------------------------------------------------------------- */
/* Flags for rp_resolve_hints.flags */
#define RP_RESOLVE_NUMERIC_HOST 0x1u /* host must be a numeric IPv4 or IPv6 address: never a lookup (a name
                                        completes with RP_ENOTFOUND) */
#define RP_RESOLVE_ADDRCONFIG 0x2u   /* only addresses of the families this host has an address of
                                        (AI_ADDRCONFIG; whether loopback addresses count is the system's
                                        rule, so on a host without network this may find nothing) */

/* Longest host name and service rp_resolve accepts, in bytes without the terminating NUL. */
#define RP_RESOLVE_HOST_MAX 1024u
#define RP_RESOLVE_SERVICE_MAX 64u

typedef struct rp_resolve_hints {
    int family;            /* 0 = any, RP_AF_INET or RP_AF_INET6: only addresses of that family */
    uint32_t flags;        /* RP_RESOLVE_* */
    int worker;            /* worker that completes the op: -1 = the calling thread's worker if it is one
                              of this loop's, else round-robin (0 in caller-driven loops) */
    uint32_t reserved[13]; /* must be zero */
} rp_resolve_hints;

/* Fills hints with the defaults: any family, no flags, worker -1. */
RP_API void rp_resolve_hints_init(rp_resolve_hints *hints);

/* Looks up host and stores the addresses found in out[0 .. cap), with their ports, in the order the
 * system's resolver gives them (its preferred address first), each address at most once. host is a name
 * ("example.com", "localhost", a name of the hosts file) or a numeric IPv4 or IPv6 address ("10.0.0.1",
 * "::1", "fe80::1%2"; with a decimal port or none, these are answered without a lookup). service is a
 * decimal port ("443") or a service name of the system's services database ("http"), or NULL for port
 * 0. Both are UTF-8 (Windows converts them to UTF-16) and are copied: they may be freed when this
 * returns. hints may be NULL for the defaults and is copied too.
 *
 * Completes on the worker the hints name (like every op: a callback on that worker, or handed out by
 * rp_loop_poll in a caller-driven loop) with the number of addresses stored, at least 1. When more were
 * found than cap holds, the first cap are stored and rp_op_resolved tells how many there were. Errors:
 * RP_ENOTFOUND (no such host, no address of the family asked for, unknown service name, or a name
 * with RP_RESOLVE_NUMERIC_HOST), RP_ETRYAGAIN (temporary failure: the name servers did not answer),
 * RP_ECANCELED (rp_cancel, rp_loop_destroy), RP_ETIMEDOUT (rp_op_set_timeout), RP_ENOMEM,
 * RP_EAFNOSUPPORT, RP_EIO (the resolver failed otherwise). After a failure the contents of out are
 * unspecified. out and the op belong to ringport until the completion.
 *
 * rp_cancel completes a pending lookup promptly with RP_ECANCELED without waiting for the system call:
 * the lookup goes on detached and its result is dropped (on Windows GetAddrInfoExCancel stops it when
 * no other lookup shares it). rp_loop_destroy does the same for every lookup of the loop. Unlike other
 * operations, each submission allocates a little memory (the copied strings and the lookup's state).
 *
 * Returns 0, or RP_EINVAL (NULL loop, op, host or out, cap 0, an empty host or service, host longer than
 * RP_RESOLVE_HOST_MAX or service longer than RP_RESOLVE_SERVICE_MAX bytes, a decimal service above
 * 65535, on Windows host or service not valid UTF-8; in hints a family other than 0, RP_AF_INET,
 * RP_AF_INET6, unknown flags, a bad worker index or a non-zero reserved field; NULL cb in a threaded
 * loop), RP_EBUSY (op pending), RP_ENOMEM (no memory, or the first resolver thread could not be
 * started), RP_ESHUTDOWN (the loop is being destroyed). Any thread. */
RP_API int rp_resolve(rp_loop *loop, rp_op *op, const char *host, const char *service,
                      const rp_resolve_hints *hints, rp_addr *out, size_t cap);

/* How many addresses the last rp_resolve of op found, once it has completed (in its callback, or after
 * rp_loop_poll returned it): more than op->result when out was too small and the rest was not stored.
 * 0 for NULL, an op of another kind or a failed lookup. Any thread, but not while op is pending. */
RP_API uint32_t rp_op_resolved(const rp_op *op);

/* ---------------------------------------------------------------------------------------------------
 * Timers, posts, cancellation
 * ------------------------------------------------------------------------------------------------- */
/* Starts a timer that completes after delay_ms with result 0. With repeat_ms > 0 it then keeps firing every
 * repeat_ms, each completion flagged RP_OP_F_MORE, until cancelled (final completion RP_ECANCELED). When
 * socket is not RP_SOCKET_INVALID the timer runs on the socket's worker, serialized with its callbacks,
 * and rp_close of the socket cancels it; otherwise it runs on the calling worker, or worker 0 when called
 * from outside the loop. Timers with equal deadlines fire in submission order. Returns 0, RP_EINVAL,
 * RP_EBUSY, RP_EBADF, RP_ESHUTDOWN. */
RP_API int rp_timeout(rp_loop *loop, rp_op *op, rp_socket socket, uint64_t delay_ms, uint64_t repeat_ms);

/* Runs op->cb with result 0 on worker `worker` (-1 = the calling worker, or round-robin from outside the
 * loop; 0 in caller-driven loops). The only way to hand work to a worker from another thread without a
 * socket. Returns 0, RP_EINVAL (bad worker index, NULL cb in a threaded loop), RP_EBUSY, RP_ESHUTDOWN. */
RP_API int rp_post(rp_loop *loop, rp_op *op, int worker);

/* Requests cancellation of a pending op: it completes promptly with RP_ECANCELED, or with its natural
 * result if that won the race. Posts cannot be cancelled. Returns 0 (requested), RP_EINVAL (NULL),
 * RP_ENOENT (op not pending: harmless), RP_ENOTSUP (post, close). The completion is still delivered
 * through the callback, never inside this call. */
RP_API int rp_cancel(rp_loop *loop, rp_op *op);

#ifdef __cplusplus
}
#endif

#endif /* RINGPORT_H */
