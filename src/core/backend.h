/* The contract between the core and a backend (one file each: linux/uring.c, posix/reactor.c with
 * linux/epoll.c and bsd/kqueue.c, win/iocp.c).
 *
 * The core owns every queue, the op records and the rp_sock fields above bflags. It hands the backend one
 * op per direction at a time through io_start; the backend moves bytes and reports through the rp__*
 * calls below, and never touches a queue, the active/stopping bits or the private fields of an op it was
 * not handed. What a backend may use of a socket: fd, family, type, the per-platform request records
 * (u.stream.io, u.stream.connect_addr), u.listen.posted_depth/backend_posts, its own bflags, and
 * kernel_refs, which counts its requests in flight that still use fd: the core closes fd and reuses the
 * slot only once that count is zero and no direction is active. */
#ifndef RP_BACKEND_H
#define RP_BACKEND_H

#include "core/internal.h"

struct rp_backend_vtable {
    rp_backend id;
    int nonblocking; /* sockets are switched to non-blocking mode (readiness backends) */
    /* Checks that the backend can run here; on failure writes why into `why`. */
    int (*probe)(char *why, size_t why_size);
    /* Per-worker setup and teardown, called on the thread that will drive the worker. */
    int (*worker_init)(rp_worker *w, unsigned queue_depth, int threaded);
    void (*worker_fini)(rp_worker *w);
    /* Any thread: interrupt the worker's wait. */
    void (*wake)(rp_worker *w);
    /* Submits what is pending and waits up to timeout_ns (< 0 forever, 0 poll) for events, reporting
     * results through the rp__* calls below, and rp__wake_consumed when it consumes a wake-up. */
    void (*wait)(rp_worker *w, int64_t timeout_ns);
    /* A socket was created for worker w (may run on another thread, before the worker sees it). */
    int (*sock_attach)(rp_worker *w, rp_sock *s);
    /* Start op in direction dir: the head of the receive or send queue (RP_DIR_RECV / RP_DIR_SEND, whose
     * kind says what to do), the connect (RP_DIR_CONNECT), or accepting on a listener (RP_DIR_ACCEPT; op is
     * the first waiting accept, and accepted connections go to rp__accept_push). The backend reports the
     * outcome later, or at once from inside this call. */
    void (*io_start)(rp_worker *w, rp_sock *s, uint32_t dir, rp_op *op);
    /* The active op of direction dir must stop. Returns 1 if it stopped now (the core completes the op),
     * 0 if the backend will report the outcome later through the usual rp__* call (then
     * rp__io_stopping(s, dir) is true until it does). */
    int (*io_cancel)(rp_worker *w, rp_sock *s, uint32_t dir);
    /* The socket is closing: every active direction was already asked to stop; drop what the backend
     * holds. The core releases the socket (and closes fd unless the backend set it to RP_FD_INVALID after
     * closing it itself) once kernel_refs and every active direction are back to zero. */
    void (*sock_close)(rp_worker *w, rp_sock *s);

    /* Optional: socket s, idle (no direction active, no request in flight), leaves worker from for worker
     * to (called on from's thread, before s->worker changes). NULL: the backend holds nothing per worker
     * but what sock_attach sets up, which is then called for the new worker. Returns 0 or an RP_E* code
     * (then s stays with from, unchanged). */
    int (*sock_move)(rp_worker *from, rp_worker *to, rp_sock *s);

    /* Optional: issue what was started since the last call. The core calls it before it waits and after
     * each delivery round, so a backend that defers work to it (the reactor's sends) still has every
     * request of a round issued before the next round and before any wait. */
    void (*flush)(rp_worker *w);

    /* Buffer pools (optional: NULL where the core hands buffers out). A pool's segment for worker w is
     * attached on w's thread before the first pool receive starts there: return 1 if the backend takes
     * every buffer of it (io_uring: a provided buffer ring, seg->group its id), 0 to leave them to the
     * core (the backend then reads into buffers from rp__buf_take). A segment the backend took gets its
     * buffers back through buf_return and is let go of with pool_detach (on w's thread; not called when
     * the loop is destroyed: worker_fini frees what is left). */
    int (*pool_attach)(rp_worker *w, rp_bufseg *seg);
    void (*buf_return)(rp_worker *w, rp_bufseg *seg, uint32_t idx);
    void (*pool_detach)(rp_worker *w, rp_bufseg *seg);
};

#if defined(RINGPORT_HAVE_IO_URING)
extern const rp_backend_vtable rp__backend_io_uring;
#endif
#if defined(RINGPORT_HAVE_EPOLL)
extern const rp_backend_vtable rp__backend_epoll;
#endif
#if defined(RINGPORT_HAVE_KQUEUE)
extern const rp_backend_vtable rp__backend_kqueue;
#endif
#if defined(_WIN32)
extern const rp_backend_vtable rp__backend_iocp;
#endif

/* The case labels of the kinds a backend is never handed: the core runs them itself (their op table row
 * has no direction). A backend's io_start switch names the kinds it runs, then these. */
#define RP_CASE_KINDS_RUN_BY_THE_CORE \
    case RP_OP_NONE:                  \
    case RP_OP_SHUTDOWN:              \
    case RP_OP_CLOSE:                 \
    case RP_OP_TIMEOUT:               \
    case RP_OP_POST:                  \
    case RP_OP_RESOLVE:               \
    case RP_OP_MOVE

/* ---- what a backend asks the core ---- */

/* The op the backend is running in direction dir, or NULL if that direction is not active. Inline: the
 * reactor asks on every readiness event. */
static inline rp_op *rp__io_op(rp_sock *s, uint32_t dir)
{
    if (!(s->active & dir))
        return NULL;
    switch ((enum rp_dir)dir) {
    case RP_DIR_RECV: return s->recvq.head;
    case RP_DIR_SEND: return s->sendq.head;
    case RP_DIR_ACCEPT: return s->acceptq.head;
    case RP_DIR_CONNECT: return s->connect_op;
    }
    return NULL;
}

/* Direction dir is handed to the backend (io_start was called and its outcome not yet reported). */
static inline int rp__io_active(const rp_sock *s, uint32_t dir) { return (s->active & dir) != 0; }

/* The active op of dir was cancelled, or the socket is closing: a request that ends without a final
 * result (a partial send, EAGAIN, a zero-byte receive) must be reported, not issued again. */
static inline int rp__io_stopping(const rp_sock *s, uint32_t dir)
{
    return (s->flags & RP_SF_CLOSE_STARTED) || (s->stopping & dir);
}

/* s belongs to w. Safe from any worker's thread for any live socket: it reads the owner index (atomic)
 * rather than s->worker, which a move (rp_socket_move) changes on another thread. */
static inline int rp__sock_owned_by(const rp_sock *s, const rp_worker *w)
{
    return rp__atomic_load_u32(&((rp_sock *)(uintptr_t)s)->owner) == w->index + 1u;
}

/* The socket is closing: events that arrive for it are to be ignored. */
static inline int rp__sock_closing(const rp_sock *s) { return (s->flags & RP_SF_CLOSE_STARTED) != 0; }

/* ---- what a backend reports ---- */

/* The backend consumed a wake-up (rp_backend_vtable.wake) in its wait. */
static inline void rp__wake_consumed(rp_worker *w)
{
    rp__atomic_store_u32(&w->wake_pending, 0);
    w->wakes_consumed++;
}

/* The active op of dir ended with result. Backends report receives this way (bytes received, 0 = end of
 * stream, or an RP_E* code) and sends through rp__send_progress. The core completes the op and starts
 * the next op of the queue, possibly from inside this call. */
void rp__io_finish(rp_worker *w, rp_sock *s, uint32_t dir, int64_t result);

typedef enum rp_io_next { RP_IO_FINISHED, RP_IO_RESTART } rp_io_next;

/* A send request of the active send moved n bytes; err is 0, or the RP_E* code it failed with. The core
 * records the progress and either completes the op (RP_IO_FINISHED: everything sent, an error, or
 * stopped part-way, which completes with RP_ECANCELED and rp_op_sent telling how much went out) or
 * answers RP_IO_RESTART: the backend issues a request for the rest (rp__send_iov / the op's payload). */
rp_io_next rp__send_progress(rp_worker *w, rp_sock *s, size_t n, int err);
/* The length of segment i of a send op: buffer i of a send, or of a sendfile its head (0), file range (1)
 * or tail (2). The segment in progress is u.send.idx, u.send.off bytes into it. */
size_t rp__send_seg_len(const rp_op *op, uint32_t i);

/* Connecting ended: 0 or an RP_E* code. */
void rp__connect_finish(rp_worker *w, rp_sock *s, int err);

/* How an accept error is handled: RETRY (the connection died in the backlog, or the backend stopped the
 * request: accept again), BACKOFF (out of descriptors or memory: pause the listener and retry after a
 * delay, never failing the accept op), FAIL (the first waiting accept op completes with it). */
typedef enum rp_accept_error_class { RP_ACCEPT_RETRY, RP_ACCEPT_BACKOFF, RP_ACCEPT_FAIL } rp_accept_error_class;
rp_accept_error_class rp__accept_error_class(int err);

/* The listener wants connections: accept ops wait and not too many accepted ones are queued. */
int rp__accept_wanted(const rp_sock *s);
/* A connection was accepted on s; the core owns fd from here (closes it if s is closing). */
void rp__accept_push(rp_worker *w, rp_sock *s, rp_fd fd);
/* One accept request failed with err (an RP_E* code) while the backend goes on accepting (IOCP's other
 * AcceptEx requests). */
void rp__accept_failed(rp_worker *w, rp_sock *s, int err);
/* The backend stopped accepting on s: err is why (0: nothing wrong, e.g. not wanted any more). Clears the
 * direction; the core restarts it when accepts are wanted again, releases a closing listener, or backs
 * off. */
void rp__accept_stopped(rp_worker *w, rp_sock *s, int err);

/* ---- pool receives (RP_OP_RECV_POOL in RP_DIR_RECV) ---- */
/* The segment of the pool the receive op reads into: base, meta, group, backend_held, pool->buf_size
 * (core/bufpool.h). */
rp_bufseg *rp__recv_pool_seg(const rp_op *op);
/* Takes a free buffer of the active pool receive's segment for a read (segments the core holds). Returns
 * its index and sets *buf and *len, or -1: the receive must wait (no buffer free, or enough chunks wait
 * for delivery); the core starts it again through io_start when it can go on. */
int64_t rp__buf_take(rp_worker *w, rp_sock *s, void **buf, size_t *len);
/* A taken buffer (or one the kernel picked) received nothing: back to the pool. */
void rp__buf_untake(rp_worker *w, rp_sock *s, int64_t idx);
/* n > 0 bytes arrived in buffer idx for the active pool receive. RP_IO_FINISHED: a single-shot receive
 * completed (the direction is released, the next receive may have started); RP_IO_RESTART: a multishot
 * receive goes on (the backend keeps its request, or issues the next read). */
rp_io_next rp__recv_pool_data(rp_worker *w, rp_sock *s, int64_t idx, size_t n);
/* A datagram of len bytes (at off in buffer idx; dflags RP_DGRAM_*, local NULL without RP_UDP_PKTINFO)
 * arrived for the active UDP pool receive. Answers as rp__recv_pool_data. */
rp_io_next rp__recv_pool_dgram(rp_worker *w, rp_sock *s, int64_t idx, uint32_t off, uint32_t len, uint32_t dflags,
                               const rp_addr *peer, const rp_addr *local);

/* ---- UDP sends (RP_OP_UDP_SEND in RP_DIR_SEND) ---- */
/* The backend tries the datagrams of the active send from u.udp.next on, setting each one's error (0 when
 * the kernel took it) and advancing next; on EAGAIN it waits for writability and goes on from next. When
 * next reaches count (or the send is stopping: the untried ones end with RP_ECANCELED), it reports: */
void rp__udp_send_done(rp_worker *w, rp_sock *s);

/* The kernel found no buffer in the backend's ring for the active pool receive (io_uring's ENOBUFS): the
 * receive waits; the core starts it again when buffers come back. */
void rp__recv_pool_starved(rp_worker *w, rp_sock *s);

#endif
