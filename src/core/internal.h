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
typedef struct rp_bufseg rp_bufseg;
typedef struct rp_resolve_job rp_resolve_job;

/* Defaults and limits defined once. */
#define RP_LISTEN_BACKLOG_DEFAULT 511 /* rp_listen_options.backlog 0, on every platform */
#define RP_ACCEPTS_POSTED_DEFAULT 128u /* rp_listen_options.accepts_posted 0 (IOCP) */
#define RP_ACCEPTS_POSTED_MAX 1024

/* ---- sockets and directions ---- */
enum rp_sock_type { RP_SOCK_LISTENER = 1, RP_SOCK_STREAM, RP_SOCK_DGRAM };

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
    RP_PLACE_RESOLVER,    /* a lookup with the resolver, or its result in the worker's resolve inbox */
    RP_PLACE_READY        /* final result set, waiting in the ready queue */
};

/* rp_op_priv.iflags */
#define RP_IF_REPEATING 0x1u /* may complete more than once (multishot accept, repeating timer) */
#define RP_IF_IN_READY 0x2u  /* linked in the ready queue */
#define RP_IF_FINAL 0x4u     /* a repeating op whose final result is stored */
#define RP_IF_FIRED 0x8u     /* repeating timer: an expiry waits for delivery */
#define RP_IF_DEADLINE 0x10u /* an internal timer record: the deadline of the op in u.timer.deadline_of */
#define RP_IF_TIMED_OUT 0x20u /* its deadline passed: a cancellation it ends with is RP_ETIMEDOUT */

/* The payload of a connect: where to (TCP), or the outcome of a Unix domain connect, which the submission
 * made at once (it never waits) and the worker reports as the completion. */
typedef struct rp_connect_payload {
    rp_addr addr;
    const char *early;    /* rp_connect_options.early_data, or NULL */
    uint32_t early_len;
    uint32_t early_sent;  /* bytes of it handed to the kernel so far */
    uint32_t established; /* the backend saw the handshake complete (IOCP: always; POSIX: early data) */
    int unix_result;      /* Unix domain: the outcome of the connect the submission made */
} rp_connect_payload;

typedef struct rp_op_priv {
    rp_op *next;            /* socket queue or inbox link */
    rp_op *ready_next;      /* ready queue link */
    rp_op *cancel_next;     /* cancel inbox link */
    rp_worker *worker;      /* worker that owns the op while pending */
    rp_atomic_u32 state;    /* RP_OP_STATE_* */
    uint32_t timeout_ms;    /* rp_op_set_timeout: kept across submissions (claim does not clear it) */
    uint8_t cancelled;      /* worker-owned: a cancel reached this submission */
    uint8_t place;          /* enum rp_op_place */
    uint16_t iflags;        /* RP_IF_* */
    rp_socket target;       /* socket the op was submitted on (0 for timers/posts without one) */
    int64_t final_result;   /* repeating op: the stored final result */
    rp_op *deadline;        /* the timer record of its deadline while it runs, or NULL */
    union {                 /* the payload: one member per kind, named in the op table */
        uint8_t none;
        struct {
            void *buf;
            size_t len;
        } recv;
        struct {         /* SEND, SEND_SOCKET, SENDFILE: a sequence of segments sent in order */
            uint32_t count;
            uint32_t idx;  /* first segment not fully sent */
            size_t off;    /* bytes of segment idx already sent */
            int64_t sent;
            int64_t total; /* bytes of all its segments */
            union {
                struct {   /* SEND, SEND_SOCKET: the segments are bufs[0 .. count) */
                    const rp_buf *bufs;
                    int64_t backend_res; /* the backend's: io_uring keeps a zero-copy request's result
                                            here until the kernel's notification that the buffer is free */
                    rp_buf one; /* storage for rp_send's single buffer */
                };
                struct {   /* SENDFILE: the segments are head, the file's range, tail (rp__send_seg_len) */
                    const char *head, *tail;
                    uint32_t head_len, tail_len;
                    rp_file file;      /* the caller's (Windows: ringport's own handle, closed at the end) */
                    uint64_t file_off; /* where the range starts */
                } file;
            };
        } send;
        struct {                /* 64 bytes: all that the timer wheel touches in a record lies here */
            uint64_t deadline;
            uint64_t period;
            uint64_t seq;
            rp_op *wheel_next;    /* the wheel slot's list (core/timer_wheel.c) */
            rp_op **wheel_link;   /* what points at this op in that list */
            uint32_t slot;        /* wheel slot, or RP_TW_IN_RUN */
            union {
                struct {
                    rp_op *sock_prev, *sock_next; /* timers bound to a socket */
                };
                rp_op *deadline_of; /* RP_IF_DEADLINE: the op whose deadline this is */
            };
        } timer;
        rp_connect_payload connect;
        struct {              /* UDP_SEND, UDP_RECV */
            rp_dgram *v;
            uint32_t count;
            uint32_t next;    /* send: the first datagram not tried yet */
            uint32_t seg_off; /* send: bytes of datagram next already sent as segments (no GSO) */
        } udp;
        struct {
            rp_bufpool *pool;
            rp_bufseg *seg;    /* the worker's segment of the pool, set when the receive first starts */
            uint32_t head, tail; /* chunks waiting for delivery: buffer index + 1, linked by rp_bufmeta.next */
            uint32_t queued;   /* their number */
            uint32_t result;   /* single shot: index + 1 of the buffer holding its result */
            uint16_t multishot;
            uint16_t wait;     /* enum rp_recv_wait (core/bufpool.h) */
            rp_op *wait_next;  /* the segment's list of receives waiting for buffers */
            rp_dgram *dgrams;  /* UDP_RECV_POOL: the caller's array, filled at each delivery */
            uint32_t cap;      /* its length */
        } recv_pool;
        struct {
            struct rp_xfer_in *in; /* RECV_SOCKET: the message being read (core/handoff.h) */
        } xfer_in;
        struct {
            uint32_t to; /* MOVE: the worker the socket goes to */
        } move;
        struct {               /* RESOLVE (core/resolve.c); the fields below job are the resolver's while the
                                  op waits on a lookup (guarded by its lock) */
            rp_resolve_job *job; /* from the submission to the start: the lookup it asks for; then
                                    the lookup it waits on, NULL once detached or done */
            rp_op *waiter_next; /* the other ops waiting on the same lookup */
            rp_addr *out;
            uint32_t cap;
            int32_t port;      /* a decimal service's port, or -1: the ports the lookup found */
            uint32_t found;    /* addresses the lookup found (rp_op_resolved) */
            int32_t result;    /* what the op completes with, set when the lookup is done */
        } resolve;
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
#define RP_SF_RECV_HELD 0x8u /* a multishot pool receive ended: the next receive waits for its final delivery */
#define RP_SF_PKTINFO 0x10u  /* UDP: receives report the destination address (RP_UDP_PKTINFO) */
#define RP_SF_PAIR 0x20u     /* an end of an rp_socketpair: a channel that can carry sockets (Windows: TCP) */

struct rp_sock {
    rp_atomic_u32 gen;     /* part of the handle; bumped when the slot is freed */
    rp_atomic_u32 closing; /* 1 once a close was accepted: new submissions get RP_EBADF */
    rp_atomic_u32 wr_shut; /* 1 once rp_shutdown was accepted */
    rp_atomic_u32 handed;  /* 1 once rp_send_socket sent it: another process may hold the connection */
    rp_atomic_u32 owner;   /* index + 1 of the owning worker, 0 while free: lets the destroy sweep scan */
    uint32_t index;        /* slot index */
    uint32_t type;         /* enum rp_sock_type */
    uint32_t flags;        /* RP_SF_* */
    uint32_t active;       /* rp_dir bits handed to the backend */
    uint32_t stopping;     /* rp_dir bits the core asked the backend to stop (cancel or close) */
    uint32_t bflags;       /* the backend's own flags: each backend names its bits */
    uint32_t kernel_refs;  /* backend requests in flight that still use fd */
    uint32_t send_batch;   /* sends (from the head of sendq) the send request in flight covers */
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
                union {
                    struct sockaddr_in v4;
                    struct sockaddr_in6 v6;
                } connect_addr;   /* TCP: connect target, stable while the connect is in flight */
                struct {
                    rp_atomic_u32 peer_fixed; /* rp_udp_connect fixed a peer (sends need no destination) */
                    rp_atomic_u32 gso_off;    /* the kernel refused GSO once: segments are split here */
                    uint16_t local_port;      /* the bound port, reported in rp_dgram.local */
                } dgram;          /* UDP */
            };
        } stream;                 /* also the record of UDP sockets (RP_SOCK_DGRAM) */
    } u;
};

#define RP_SOCK_HANDLE(s) (((uint64_t)rp__atomic_relaxed_u32(&(s)->gen) << 32) | (uint64_t)((s)->index + 1u))

/* ---- timers (per worker): a hierarchical timing wheel that hands out its timers in (deadline, sequence)
 * order; core/timer_wheel.c says how. */
#define RP_TW_TICK_SHIFT 20 /* a tick is 2^20 ns, about 1.05 ms: the width of a level-0 slot */
#define RP_TW_L0_BITS 10    /* level 0: 1024 slots of one tick, about 1.07 s */
#define RP_TW_LN_BITS 6     /* levels 1..: 64 slots, each as wide as the whole level below */
#define RP_TW_LEVELS 6      /* 10 + 5 * 6 = 40 bits of ticks (~36 years): past the longest delay (2^40 ms) */
#define RP_TW_SLOTS ((1u << RP_TW_L0_BITS) + (RP_TW_LEVELS - 1) * (1u << RP_TW_LN_BITS))
#define RP_TW_IN_RUN UINT32_MAX /* rp_op_priv.u.timer.slot of a timer in the run */

typedef struct rp_timer_entry {
    uint64_t deadline, seq; /* the key, kept here so that sorting and searching read no op */
    rp_op *op;              /* NULL: cancelled while in the run */
} rp_timer_entry;

/* A slot's timers are dealt round-robin into RP_TW_CHAINS lists, so that taking the slot out walks them
 * side by side: each step of a list is a cache miss on an op record, and the lists' misses overlap. */
#define RP_TW_CHAINS 4
typedef struct rp_timer_slot {
    rp_op *head[RP_TW_CHAINS];
    uint64_t min;  /* no later than the earliest deadline in the slot (UINT64_MAX when empty) */
    uint32_t turn; /* the list the next timer goes to */
} rp_timer_slot;

typedef struct rp_timer_wheel {
    rp_timer_slot *slots;  /* RP_TW_SLOTS, allocated with the first timer */
    rp_timer_entry *run;   /* [run_pos, run_len): the timers of ticks before cur, sorted */
    uint32_t run_pos, run_len, run_cap; /* run_cap >= count: a slot always fits in the run */
    uint32_t count;        /* timers held (run and wheel) */
    uint32_t wheel_count;  /* of which in the wheel */
    uint64_t cur;          /* the next tick to take out of the wheel */
    uint64_t bits[(RP_TW_SLOTS + 63) / 64]; /* non-empty slots */
} rp_timer_wheel;

/* now: the clock the deadline was computed from. Fails (RP_ENOMEM) only when the count grows. */
int rp__timers_push(rp_timer_wheel *h, rp_op *op, uint64_t now);
void rp__timers_remove(rp_timer_wheel *h, rp_op *op);
/* Removes and returns the earliest timer due at now (deadline <= now), or returns NULL. */
rp_op *rp__timers_pop_due(rp_timer_wheel *h, uint64_t now);
/* No later than the earliest deadline (UINT64_MAX without timers); exact when the run holds a timer. */
uint64_t rp__timers_next_deadline(const rp_timer_wheel *h);
/* Some timer held (the earliest when the run holds one), or NULL. */
rp_op *rp__timers_top(const rp_timer_wheel *h);
void rp__timers_free(rp_timer_wheel *h);

/* ---- workers ---- */
struct rp_worker {
    rp_loop *loop;
    uint32_t index;
    rp_thread thread;
    void *backend;            /* backend per-worker state */

    /* owned by the worker's thread */
    rp_op *ready_head, *ready_tail;
    rp_op *batch_rest;        /* the rest of the delivery round's batch while its callbacks run */
    rp_timer_wheel timers;
    uint64_t timer_seq;
    rp_sock *backoff;         /* listeners waiting to retry accept after EMFILE/ENFILE */
    uint64_t backoff_deadline;
    int sweeping;             /* the loop is being destroyed: everything of this worker is cancelled */
    uint64_t now;             /* clock cached per iteration */
    uint64_t wakes_consumed;  /* wake-ups the backend consumed (rp__wake_consumed) */
    rp_op *deadline_free;     /* spare timer records for deadlines (linked by rp_op_priv.next) */

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

    /* buffer pools (core/bufpool.c) */
    rp_bufseg *bufsegs;          /* segments attached to this worker (worker-owned) */
    rp_atomic_ptr bufseg_detach; /* MPSC stack of segments of destroyed pools to let go of */

    /* name resolution (core/resolve.c) */
    rp_atomic_ptr resolve_inbox; /* MPSC stack of resolve ops whose lookup is done (rp_op_priv.next) */
    uint32_t resolves;           /* resolve ops started here and not completed yet (worker-owned) */
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
    uint32_t zerocopy_min;    /* rp_loop_options.zerocopy_min */
    uint64_t spin_ns;         /* rp_loop_options.spin_us, in ns */
    int net_started;          /* rp__net_startup succeeded */
    rp_atomic_u32 rr;         /* round-robin cursor */
    rp_atomic_u32 destroying;
    rp_atomic_u32 foreign_submitters;
    rp_atomic_u32 stop_requested;
    rp_atomic_u32 driving;    /* caller-driven: a thread is inside run/poll */
    rp_atomic_u32 resolver_user; /* the loop has used the resolver: destroy lets go of it */

    rp_mutex bufpool_lock;    /* guards bufpools */
    rp_bufpool *bufpools;     /* every pool not yet destroyed (core/bufpool.c) */

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

/* Guards a submission made from outside the owning worker against a concurrent rp_loop_destroy (core/
 * submit.c): destroy waits until no such call is between rp__guard_enter and rp__guard_leave. */
typedef struct rp_submit_guard {
    rp_loop *loop;
    int held;
} rp_submit_guard;
int rp__guard_enter(rp_submit_guard *g, rp_loop *loop); /* 0, or RP_ESHUTDOWN (nothing held) */
void rp__guard_leave(rp_submit_guard *g);
/* The op record can be submitted as kind: not pending, a callback where needed, no deadline unless the
 * kind takes one. */
int rp__op_check(rp_loop *loop, rp_op *op, rp_op_kind kind);
/* Listeners and connections, TCP or Unix domain (core/submit.c). The checks of the options (flags: those
 * allowed), then the socket around fd (which they take over, closing it on failure): a listener published
 * as *out, or a connecting socket whose connect op is dispatched with payload. */
int rp__listen_check(const rp_loop *loop, const rp_listen_options *opts, uint32_t flags);
int rp__listener_open(rp_loop *loop, rp_fd fd, int family, const rp_listen_options *opts, rp_socket *out);
/* Every new socket (core/submit.c): a slot of type around fd for worker w, *out (fd closed on failure);
 * then, its fields set, visible to other threads and registered with the worker's backend as *out (slot
 * and descriptor released on failure). */
int rp__sock_open(rp_loop *loop, rp_worker *w, rp_fd fd, uint32_t type, int family, rp_sock **out);
int rp__sock_attach_new(rp_loop *loop, rp_worker *w, rp_sock *s, rp_socket *out);
/* rp_sendfile's file (posix/sendfile_posix.c, win/sendfile_win.c): checks that file can be sent from and
 * gives the handle the op uses (POSIX: file itself; Windows: a handle of ringport's own onto the same file,
 * for overlapped reads), released by rp__file_close_for_send at the op's final delivery. Returns 0,
 * RP_EBADF (not open), RP_EINVAL (not a regular file open for reading) or a system error. */
int rp__file_open_for_send(rp_file file, rp_file *out);
void rp__file_close_for_send(rp_file file);
/* The final delivery of a SENDFILE op (core/op.c's before_final). */
void rp__sendfile_final(rp_worker *w, rp_op *op);
/* A connected stream socket around fd for worker w with RP_SF_* sflags, published as *out (core/unix.c);
 * closes fd on failure. */
int rp__stream_open(rp_loop *loop, rp_worker *w, rp_fd fd, int family, uint32_t sflags, rp_socket *out);
int rp__connect_check(rp_loop *loop, rp_op *op, const rp_connect_options *opts);
int rp__connect_open(rp_loop *loop, rp_op *op, rp_fd fd, int family, const rp_connect_options *opts,
                     const rp_connect_payload *payload);

/* the op life cycle (core/op.c) */
void rp__op_claim(rp_op *op, rp_op_kind kind, rp_worker *w, rp_socket target);
void rp__dispatch(rp_worker *w, rp_op *op); /* any thread: run op's submission on its worker */
void rp__op_start(rp_worker *w, rp_op *op);
void rp__ready_push(rp_worker *w, rp_op *op);
void rp__complete(rp_worker *w, rp_op *op, int64_t result);
int rp__deliver(rp_worker *w, rp_op *op, rp_op **out, int *nout);
/* How many results a repeating op has queued for delivery (0 for others, or once its final is in). */
uint32_t rp__results_waiting(rp_worker *w, rp_op *op);
void rp__cancel_handle(rp_worker *w, rp_op *op);
/* Deadlines (rp_op_set_timeout): the timer record fired, or must go (the destroy sweep). */
void rp__deadline_fired(rp_worker *w, rp_op *timer);
void rp__deadline_drop(rp_worker *w, rp_op *timer);
void rp__deadlines_free(rp_worker *w);
void rp__drain_cancels(rp_worker *w);

/* worker iteration (core/worker.c) */
int rp__iterate(rp_worker *w, int64_t timeout_ns, rp_op **out, int max);
void rp__worker_sweep(rp_worker *w);
void rp__close_async(rp_worker *w, rp_sock *s);
void rp__drain_closes(rp_worker *w);

/* stream logic (core/stream.c): what the op life cycle asks of a socket */
void rp__kick(rp_worker *w, rp_sock *s);
void rp__io_done(rp_worker *w, rp_sock *s, uint32_t dir);
int rp__io_in_flight(const rp_sock *s, uint32_t dir, const rp_op *op);
int rp__stop_active(rp_worker *w, rp_sock *s, uint32_t dir);
void rp__accept_pump(rp_worker *w, rp_sock *s);
void rp__accept_delivered(rp_worker *w, rp_socket listener);
int rp__accept_fill(rp_worker *w, rp_op *op);
void rp__backoff_run(rp_worker *w);
void rp__sock_close_begin(rp_worker *w, rp_sock *s, rp_op *close_op);
void rp__timer_bind(rp_sock *s, rp_op *op);
/* A MOVE op reached the worker w of its socket, or (second step) the worker it moved the socket to. */
void rp__sock_move_start(rp_worker *w, rp_op *op, int cancelled);
void rp__timer_unbind(rp_worker *w, rp_op *op);

/* UDP (core/udp.c): the result a UDP send completes with, from result (0: every datagram was tried; < 0:
 * it stopped with that error, which the untried ones get): the number sent, or the first error. */
int64_t rp__udp_send_outcome(rp_op *op, int64_t result);
/* Checks a datagram array given to a send (sending = 1) or a receive. */
int rp__udp_check_dgrams(const rp_dgram *v, size_t count, int sending);

/* platform networking (posix/net_posix.c, win/net_win.c, core/sockaddr.c) */
int rp__net_startup(void);  /* per loop: Winsock's WSAStartup; nothing on POSIX */
void rp__net_cleanup(void);
int rp__net_socket(int family, int nonblocking, rp_fd *out);
int rp__net_close(rp_fd fd);
int rp__net_listen(rp_fd fd, const rp_addr *addr, const rp_listen_options *opts);
int rp__net_set_nodelay(rp_fd fd, int on);
/* Socket options (posix/sockopt_posix.c, win/sockopt_win.c); the core has checked the arguments. */
int rp__net_option_set(rp_fd fd, int family, rp_sockopt opt, int64_t value);
int rp__net_option_get(rp_fd fd, int family, rp_sockopt opt, int64_t *value);
int rp__net_keepalive(rp_fd fd, const rp_keepalive *ka); /* NULL: off */
int rp__net_congestion_set(rp_fd fd, const char *name);
int rp__net_congestion_get(rp_fd fd, char *buf, size_t size);
int rp__net_abort_on_close(rp_fd fd); /* SO_LINGER {1, 0} */
int rp__net_set_nonblocking(rp_fd fd);
int rp__net_prepare_accepted(rp_fd fd);
int rp__net_local_addr(rp_fd fd, rp_addr *out);
int rp__net_peer_addr(rp_fd fd, rp_addr *out);
int rp__net_to_sockaddr(const rp_addr *a, void *sa, int *len);
int rp__net_from_sockaddr(const struct sockaddr_storage *ss, rp_addr *out);
/* As rp__net_from_sockaddr, but an IPv4-mapped IPv6 address (a dual-stack socket's IPv4 peer) comes out
 * as the IPv4 address. */
int rp__net_from_sockaddr_unmapped(const struct sockaddr_storage *ss, rp_addr *out);
void rp__addr_unmap(rp_addr *a); /* ::ffff:a.b.c.d -> a.b.c.d */
int rp__net_shutdown_write(rp_fd fd);
/* Unix domain sockets (posix/unix_posix.c, win/unix_win.c); the core has checked the path. */
size_t rp__net_unix_path_max(void);
int rp__net_unix_abstract(void); /* 1 where abstract names exist (Linux) */
int rp__net_unix_listen(rp_fd fd, const char *path, size_t len, const rp_listen_options *opts);
/* Connects at once; a socket in blocking mode (nonblocking 0) is switched to non-blocking for the call,
 * so that a full backlog cannot make it wait. Returns 0 or the RP_E* code of the failure. */
int rp__net_unix_connect(rp_fd fd, const char *path, size_t len, int nonblocking);
/* Two connected stream sockets; *family is what they are (AF_UNIX, or AF_INET for Windows' loopback
 * pair). */
int rp__net_socketpair(int nonblocking, rp_fd out[2], int *family);
int rp__net_unix_path(rp_fd fd, int peer, char *buf, size_t size);
int rp__net_peer_cred(rp_fd fd, rp_peer_cred *out); /* out preset to -1s */
/* UDP (posix/net_posix.c, win/net_win.c): a bound datagram socket with the options applied. */
int rp__net_udp_socket(const rp_addr *addr, const rp_udp_options *opts, int nonblocking, rp_fd *out);
int rp__net_udp_connect(rp_fd fd, const void *sa, int len);
int rp__net_udp_membership(rp_fd fd, int family, const rp_addr *group, const rp_addr *iface, int join);
int rp__net_udp_drops(rp_fd fd, uint64_t *out);
/* Sends dgrams[0..count) without blocking (rp_udp_try_send); returns the number dealt with (each one's
 * error set) before the first that found no room, or RP_EAGAIN if that was the first. */
int rp__net_udp_send_now(rp_sock *s, rp_dgram *dgrams, uint32_t count);
/* The segment of datagram d that starts at off: its length (d->len - off without a segment size). */
static inline uint32_t rp__udp_seg_len(const rp_dgram *d, uint32_t off)
{
    uint32_t left = d->len - off;
    return d->segment && d->segment < left ? d->segment : left;
}
/* The UDP destination of d for a socket of family (IPv4 peers of a dual-stack socket are mapped): fills
 * sa/len, 0 with len 0 for "the connected peer", or RP_EINVAL / RP_EAFNOSUPPORT. */
int rp__udp_dest(const rp_sock *s, const rp_dgram *d, void *sa, int *len);

#endif
