/* Internal structures of the core: op records, sockets, workers and the loop. Not installed. What the
 * backends may use of it is listed in core/backend.h. */
#ifndef RP_INTERNAL_H
#define RP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(_WIN32)
#include <winsock2.h> /* before anything that includes windows.h */
#include <ws2tcpip.h>
#endif

#include "ringport.h"
#include "core/atomic.h"
#include "core/compat.h"
#include "core/thread.h"

#if defined(_WIN32)
typedef SOCKET rp_fd;
#define RP_FD_INVALID INVALID_SOCKET
#else
#include <netinet/in.h>
#include <sys/socket.h>
typedef int rp_fd;
#define RP_FD_INVALID (-1)
#endif

typedef struct rp_worker rp_worker;
typedef struct rp_sock rp_sock;
typedef struct rp_backend_vtable rp_backend_vtable;

/* Defaults and limits defined once. */
#define RP_LISTEN_BACKLOG_DEFAULT 511 /* rp_listen_options.backlog 0, on every platform */
#define RP_ACCEPTS_POSTED_DEFAULT 32u /* rp_listen_options.accepts_posted 0 (IOCP) */
#define RP_ACCEPTS_POSTED_MAX 1024

/* ---- sockets and directions ---- */
enum rp_sock_type { RP_SOCK_LISTENER = 1, RP_SOCK_STREAM };

/* Directions: at most one op per direction is handed to the backend at a time (its queue head, the
 * listener's accepting, the connect). */
enum rp_dir { RP_DIR_RECV = 1, RP_DIR_SEND = 2, RP_DIR_ACCEPT = 4, RP_DIR_CONNECT = 8 };

#include "core/op_table.h"

/* ---- op records: the private part of rp_op ---- */
#define RP_OP_STATE_IDLE 0u
#define RP_OP_STATE_PENDING 0x52504F50u /* "RPOP": unlikely in garbage, so a stale record reads as idle */
/* Pending, and a cancel request from another thread is in the worker's cancel inbox. One word with
 * "pending" so that a cancel can only be queued on a record that is still pending, and a record with a
 * queued cancel is neither delivered nor resubmitted until the worker has taken the request in. */
#define RP_OP_STATE_CANCEL_QUEUED 0x52504F43u

/* Where a pending op currently is; only its worker reads or writes this. */
enum rp_op_place {
    RP_PLACE_TRANSIT = 0, /* submitted from another thread, still in the worker's inbox */
    RP_PLACE_QUEUE,       /* in a socket queue or the connect slot (the head may be with the backend) */
    RP_PLACE_TIMER,       /* in the timer heap */
    RP_PLACE_READY        /* final result set, waiting in the ready queue */
};

/* rp_op_priv.iflags */
#define RP_IF_REPEATING 0x1u /* may complete more than once (multishot accept, repeating timer) */
#define RP_IF_IN_READY 0x2u  /* linked in the ready queue */
#define RP_IF_FINAL 0x4u     /* a repeating op whose final result is stored */
#define RP_IF_FIRED 0x8u     /* repeating timer: an expiry waits for delivery */

typedef struct rp_op_priv {
    rp_op *next;            /* socket queue or inbox link */
    rp_op *ready_next;      /* ready queue link */
    rp_op *cancel_next;     /* cancel inbox link */
    rp_worker *worker;      /* worker that owns the op while pending */
    rp_atomic_u32 state;    /* RP_OP_STATE_* */
    uint32_t cancelled;     /* worker-owned: a cancel reached this submission */
    uint32_t place;         /* enum rp_op_place */
    uint32_t iflags;        /* RP_IF_* */
    rp_socket target;       /* socket the op was submitted on (0 for timers/posts without one) */
    int64_t final_result;   /* repeating op: the stored final result */
    union {                 /* the payload: one member per kind, named in the op table */
        uint8_t none;
        struct {
            void *buf;
            size_t len;
        } recv;
        struct {
            const rp_buf *bufs;
            size_t count;
            size_t idx;  /* first buffer not fully sent */
            size_t off;  /* bytes of bufs[idx] already sent */
            int64_t sent;
            rp_buf one;  /* storage for rp_send's single buffer */
        } send;
        struct {
            uint64_t deadline;
            uint64_t period;
            uint64_t seq;
            uint32_t heap_index;
            rp_op *sock_prev, *sock_next; /* timers bound to a socket */
        } timer;
        struct {
            rp_addr addr;
        } connect;
    } u;
} rp_op_priv;

#define RP_PRIV(op) ((rp_op_priv *)(void *)(op)->internal_)
/* Offsets of the links in rp_op, for the MPSC inboxes (core/mpsc.h). */
#define RP_OP_NEXT_LINK (offsetof(rp_op, internal_) + offsetof(rp_op_priv, next))
#define RP_OP_CANCEL_LINK (offsetof(rp_op, internal_) + offsetof(rp_op_priv, cancel_next))

RP_STATIC_ASSERT(sizeof(rp_op_priv) <= sizeof(((rp_op *)0)->internal_), "rp_op_priv fits the public record");

/* ---- op queues ---- */
typedef struct rp_opq {
    rp_op *head, *tail;
} rp_opq;

static inline void rp__opq_push(rp_opq *q, rp_op *op)
{
    RP_PRIV(op)->next = NULL;
    if (q->tail)
        RP_PRIV(q->tail)->next = op;
    else
        q->head = op;
    q->tail = op;
}

static inline rp_op *rp__opq_pop(rp_opq *q)
{
    rp_op *op = q->head;
    if (op) {
        q->head = RP_PRIV(op)->next;
        if (!q->head)
            q->tail = NULL;
        RP_PRIV(op)->next = NULL;
    }
    return op;
}

/* Unlinks op from q; returns 1 if it was there. O(n): only cancellation uses it. */
int rp__opq_remove(rp_opq *q, rp_op *op);

/* ---- sockets ---- */
/* Per-platform request records the backends keep in every stream socket. */
#if defined(_WIN32)
#include "win/sock_io.h"
#else
#include "posix/sock_io.h"
#endif

/* rp_sock.flags (worker-owned, core only; backends keep theirs in bflags) */
#define RP_SF_CLOSE_STARTED 0x1u
#define RP_SF_NODELAY 0x2u
#define RP_SF_ACCEPT_BACKOFF 0x4u

struct rp_sock {
    rp_atomic_u32 gen;     /* part of the handle; bumped when the slot is freed */
    rp_atomic_u32 closing; /* 1 once a close was accepted: new submissions get RP_EBADF */
    rp_atomic_u32 wr_shut; /* 1 once rp_shutdown was accepted */
    rp_atomic_u32 owner;   /* index + 1 of the owning worker, 0 while free: lets the destroy sweep scan */
    uint32_t index;        /* slot index */
    uint32_t type;         /* enum rp_sock_type */
    uint32_t flags;        /* RP_SF_* */
    uint32_t active;       /* rp_dir bits handed to the backend */
    uint32_t stopping;     /* rp_dir bits the core asked the backend to stop (cancel or close) */
    uint32_t bflags;       /* the backend's own flags: each backend names its bits */
    uint32_t kernel_refs;  /* backend requests in flight that still use fd */
    rp_fd fd;
    int family;            /* AF_INET / AF_INET6 */
    rp_worker *worker;
    rp_sock *free_next;
    rp_sock *close_next;   /* close inbox link (rp_close without an op, from another thread) */
    rp_opq recvq, sendq, acceptq;
    rp_op *connect_op;
    rp_op *close_op;
    rp_op *timers;         /* timers bound to this socket */
    union {
        struct {
            rp_fd *ring;          /* accepted descriptors not yet handed to an accept op */
            uint32_t cap, head, count;
            int accept_worker;    /* -1 = round-robin */
            rp_sock *backoff_next;
            uint32_t posted_depth; /* rp_listen_options.accepts_posted (IOCP) */
            void *backend_posts;  /* the backend's per-listener records (IOCP: AcceptEx slots) */
        } listen;
        struct {
            rp_stream_io io;      /* the backend's request records (posix/sock_io.h, win/sock_io.h) */
            union {
                struct sockaddr_in v4;
                struct sockaddr_in6 v6;
            } connect_addr;       /* connect target, stable while the connect is in flight */
        } stream;
    } u;
};

#define RP_SOCK_HANDLE(s) (((uint64_t)rp__atomic_relaxed_u32(&(s)->gen) << 32) | (uint64_t)((s)->index + 1u))

/* ---- timer heap (per worker) ---- */
typedef struct rp_timer_heap {
    rp_op **items;
    uint32_t count, cap;
} rp_timer_heap;

int rp__heap_push(rp_timer_heap *h, rp_op *op);
void rp__heap_remove(rp_timer_heap *h, rp_op *op);
rp_op *rp__heap_top(const rp_timer_heap *h);
void rp__heap_free(rp_timer_heap *h);

/* ---- workers ---- */
struct rp_worker {
    rp_loop *loop;
    uint32_t index;
    rp_thread thread;
    void *backend;            /* backend per-worker state */

    /* owned by the worker's thread */
    rp_op *ready_head, *ready_tail;
    rp_timer_heap timers;
    uint64_t timer_seq;
    rp_sock *backoff;         /* listeners waiting to retry accept after EMFILE/ENFILE */
    uint64_t backoff_deadline;
    int sweeping;             /* the loop is being destroyed: everything of this worker is cancelled */
    uint64_t now;             /* clock cached per iteration */

    /* shared with other threads */
    rp_atomic_ptr inbox;        /* MPSC stack of submissions (rp_op_priv.next) */
    rp_atomic_ptr cancel_inbox; /* MPSC stack of cancel requests (rp_op_priv.cancel_next) */
    rp_atomic_ptr close_inbox;  /* MPSC stack of sockets to close without a completion (rp_sock.close_next) */
    rp_atomic_u32 sleeping;     /* 1 while blocked in the backend wait */
    rp_atomic_u32 wake_pending; /* a wake-up was signalled and not consumed yet */
    rp_atomic_u32 live_socks;   /* sockets owned by this worker */
    rp_atomic_u32 stop;         /* 1: sweep; 2: exit */
    rp_atomic_u32 idle;         /* set by the worker when it has nothing left (destroy only) */
    rp_atomic_u32 epoch;        /* bumped on every iteration that did work (destroy only) */
};

/* ---- the loop ---- */
#define RP_POOL_CHUNK_SHIFT 8
#define RP_POOL_CHUNK (1u << RP_POOL_CHUNK_SHIFT)
#define RP_POOL_MAX_CHUNKS 4096 /* 1M sockets per loop */

struct rp_loop {
    const rp_backend_vtable *backend;
    char fallback[192];
    int has_fallback;
    int threaded;
    uint32_t nworkers;        /* worker structures (1 for caller-driven) */
    rp_worker *workers;
    unsigned queue_depth;
    uint32_t flags;           /* RP_LOOP_* */
    int net_started;          /* rp__net_startup succeeded */
    rp_atomic_u32 rr;         /* round-robin cursor */
    rp_atomic_u32 destroying;
    rp_atomic_u32 foreign_submitters;
    rp_atomic_u32 stop_requested;
    rp_atomic_u32 driving;    /* caller-driven: a thread is inside run/poll */

    rp_mutex pool_lock;
    rp_atomic_ptr chunks[RP_POOL_MAX_CHUNKS];
    rp_atomic_u32 nslots;
    rp_sock *free_list;
};

/* ---- core entry points ---- */
extern RP_THREAD_LOCAL rp_worker *rp__current;

int rp__from_errno(int e);
rp_worker *rp__pick_worker(rp_loop *loop, int index);
void rp__wake_if_sleeping(rp_worker *w);

/* socket pool (core/socket_pool.c) */
int rp__sock_lookup(rp_loop *loop, rp_socket h, rp_sock **out); /* public calls: open and not closing */

/* The slot at index, or NULL beyond the slots allocated so far. Any thread. */
static inline rp_sock *rp__sock_at(rp_loop *loop, uint32_t index)
{
    uint32_t chunk = index >> RP_POOL_CHUNK_SHIFT;
    if (chunk >= RP_POOL_MAX_CHUNKS)
        return NULL;
    rp_sock *base = rp__atomic_load_ptr(&loop->chunks[chunk]);
    return base ? &base[index & (RP_POOL_CHUNK - 1)] : NULL;
}

/* Worker side: the socket of handle h if it is still the same socket (generation) and owned by a worker,
 * else NULL. Generation first: a stale handle must not read a slot another thread may be reusing. The
 * owner load (acquire) makes every field the creator set before rp__sock_publish visible. */
static inline rp_sock *rp__sock_live(rp_loop *loop, rp_socket h)
{
    rp_sock *s = rp__sock_at(loop, (uint32_t)h - 1u);
    if (!s || rp__atomic_load_u32(&s->gen) != (uint32_t)(h >> 32) || rp__atomic_load_u32(&s->owner) == 0)
        return NULL;
    return s;
}
int rp__sock_new(rp_loop *loop, rp_worker *w, rp_fd fd, uint32_t type, rp_sock **out);
void rp__sock_publish(rp_sock *s); /* after the creator has set every field, before registering it */
void rp__sock_free(rp_loop *loop, rp_sock *s);
void rp__pool_free_all(rp_loop *loop);

/* the op life cycle (core/op.c) */
void rp__op_claim(rp_op *op, rp_op_kind kind, rp_worker *w, rp_socket target);
void rp__dispatch(rp_worker *w, rp_op *op); /* any thread: run op's submission on its worker */
void rp__op_start(rp_worker *w, rp_op *op);
void rp__ready_push(rp_worker *w, rp_op *op);
void rp__complete(rp_worker *w, rp_op *op, int64_t result);
int rp__deliver(rp_worker *w, rp_op *op, rp_op **out, int *nout);
void rp__cancel_handle(rp_worker *w, rp_op *op);
void rp__drain_cancels(rp_worker *w);

/* worker iteration (core/worker.c) */
int rp__iterate(rp_worker *w, int64_t timeout_ns, rp_op **out, int max);
void rp__worker_sweep(rp_worker *w);
void rp__close_async(rp_worker *w, rp_sock *s);
void rp__drain_closes(rp_worker *w);

/* stream logic (core/stream.c): what the op life cycle asks of a socket */
void rp__kick(rp_worker *w, rp_sock *s);
int rp__stop_active(rp_worker *w, rp_sock *s, uint32_t dir);
void rp__accept_pump(rp_worker *w, rp_sock *s);
void rp__accept_delivered(rp_worker *w, rp_socket listener);
int rp__accept_fill(rp_worker *w, rp_op *op);
void rp__backoff_run(rp_worker *w);
void rp__sock_close_begin(rp_worker *w, rp_sock *s, rp_op *close_op);
void rp__timer_bind(rp_sock *s, rp_op *op);
void rp__timer_unbind(rp_worker *w, rp_op *op);

/* platform networking (posix/net_posix.c, win/net_win.c, core/sockaddr.c) */
int rp__net_startup(void);  /* per loop: Winsock's WSAStartup; nothing on POSIX */
void rp__net_cleanup(void);
int rp__net_socket(int family, int nonblocking, rp_fd *out);
int rp__net_close(rp_fd fd);
int rp__net_listen(rp_fd fd, const rp_addr *addr, const rp_listen_options *opts);
int rp__net_set_nodelay(rp_fd fd, int on);
int rp__net_set_nonblocking(rp_fd fd);
int rp__net_prepare_accepted(rp_fd fd);
int rp__net_local_addr(rp_fd fd, rp_addr *out);
int rp__net_peer_addr(rp_fd fd, rp_addr *out);
int rp__net_to_sockaddr(const rp_addr *a, void *sa, int *len);
int rp__net_from_sockaddr(const struct sockaddr_storage *ss, rp_addr *out);
int rp__net_shutdown_write(rp_fd fd);

#endif
