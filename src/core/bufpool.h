/* Buffer pools (core/bufpool.c): the structures, and what the op life cycle and the backends ask of them.
 *
 * A pool has one segment per worker: `count` buffers of `buf_size` bytes in one block of memory, so a
 * buffer pointer tells its worker and index by arithmetic. A segment is attached on its worker's thread
 * when the first pool receive starts there. Its free buffers are held either by the core (a free list,
 * taken with rp__buf_take when the backend reads) or by the backend (io_uring: a provided buffer ring
 * from which the kernel picks; released buffers go back through the backend's buf_return hook). */
#ifndef RP_BUFPOOL_H
#define RP_BUFPOOL_H

#include "core/internal.h"

/* rp_bufmeta.state */
#define RP_BUF_FREE 0u      /* in the pool: the core's free list or the backend's ring */
#define RP_BUF_HELD 1u      /* out: queued on a receive, or the caller's */
#define RP_BUF_RETURNING 2u /* released from another thread, waiting in the segment's return stack */

typedef struct rp_bufmeta {
    rp_atomic_u32 state;             /* RP_BUF_*: the release path checks it, so a double release fails */
    uint32_t len;                    /* bytes received, while queued on a receive */
    uint32_t next;                   /* index + 1 of the next buffer: free list or a receive's chunk queue */
    struct rp_bufmeta *return_next;  /* return stack link (core/mpsc.h) */
    uint32_t off;                    /* UDP: where the datagram starts in the buffer (io_uring's header) */
    uint32_t dflags;                 /* UDP: RP_DGRAM_* */
    rp_addr peer, local;             /* UDP: source, and destination with RP_UDP_PKTINFO */
} rp_bufmeta;

/* Why a pool receive is not with the backend although its direction is active. */
enum rp_recv_wait { RP_RECV_RUNNING = 0, RP_RECV_STARVED, RP_RECV_BACKLOGGED };

struct rp_bufseg {
    rp_bufpool *pool;
    rp_worker *w;
    char *base;                  /* count * buf_size bytes */
    rp_bufmeta *meta;            /* count entries */
    rp_atomic_u32 attached;      /* set up on its worker (read by rp_bufpool_destroy) */
    int backend_held;            /* the backend holds the free buffers (buf_return gives them back) */
    uint16_t group;              /* the backend's id for this segment, unique among the worker's */
    uint32_t free_head;          /* core-held: index + 1 of the first free buffer */
    uint32_t nfree;              /* buffers in the pool (free list or the backend's ring) */
    rp_atomic_ptr returns;       /* buffers released from other threads (rp_bufmeta.return_next) */
    rp_atomic_u32 starved_flag;  /* receives wait for buffers: a release from another thread wakes w */
    rp_op *starved_head, *starved_tail; /* those receives, oldest first (rp_op_priv.u.recv_pool.wait_next) */
    void *backend;               /* the backend's state for this segment */
    rp_bufseg *next_attached;    /* the worker's list of attached segments */
    rp_bufseg *detach_next;      /* the worker's detach inbox link */
};

struct rp_bufpool {
    rp_loop *loop;
    uint32_t buf_size, count;
    char *mem;
    uint64_t mem_size;           /* workers x count x buf_size bytes at mem */
    rp_bufmeta *meta;
    rp_bufseg *segs;             /* one per worker */
    rp_atomic_u32 users;         /* pool receives submitted and not finally delivered */
    rp_atomic_u32 dead;          /* rp_bufpool_destroy succeeded */
    rp_atomic_u32 attached_left; /* segments still to be detached before the memory goes */
    rp_bufpool *next_in_loop;    /* the loop's list (loop->pool_lock) */
};

/* How many chunks a pool receive whose buffers the core hands out may have waiting for delivery before
 * it stops reading: one busy connection cannot take a worker's whole pool, and each gets its turn. */
#define RP_RECV_POOL_BACKLOG 8u

/* ---- the op life cycle (op.c, stream.c, worker.c, submit.c) ---- */
/* A pool receive is being submitted: counts it as a user of pool. RP_EINVAL if pool was destroyed. */
int rp__recv_pool_claim(rp_bufpool *pool);
/* The receive at the head of s's queue is a pool receive about to be handed to the backend: attaches its
 * worker's segment. */
void rp__recv_pool_prepare(rp_worker *w, rp_op *op);
/* The active pool receive of s must stop: returns 1 if it was waiting for buffers or deliveries (nothing
 * with the backend: stopped now), else 0 (the backend is asked). */
int rp__recv_pool_stop_waiting(rp_sock *s);
/* Fills op (a repeating pool receive) with its next chunk; 0 if none is queued. */
int rp__recv_pool_next(rp_worker *w, rp_op *op);
/* After a chunk of op was delivered: queues the next (or the final result) and lets a receive that
 * stopped for deliveries read again. */
void rp__recv_pool_delivered(rp_worker *w, rp_op *op);
/* Before op's final completion is delivered: its buffer (if any) to op->buf, the pool's user count, and
 * a multishot receive's hold on the socket's receive queue released. */
void rp__recv_pool_final(rp_worker *w, rp_op *op);
/* The next receive in s's queue may start only after the final completion of a multishot one. */
void rp__recv_pool_finished(rp_sock *s, rp_op *op);
/* Per iteration: buffers released from other threads, pools being destroyed. */
void rp__bufpool_poll(rp_worker *w);
/* 1 if a release from another thread is waiting for w and a receive waits for buffers (w must not sleep). */
int rp__bufpool_work_pending(rp_worker *w);
/* rp_loop_destroy, after every worker's backend is gone: frees every pool of the loop. */
void rp__bufpool_free_all(rp_loop *loop);

#endif
