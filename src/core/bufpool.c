/* Buffer pools and the core side of pool receives: segments per worker, taking and giving back buffers,
 * chunk queues of multishot receives, receives that wait for buffers, and the destroy hand-over to the
 * workers. The structures are described in core/bufpool.h. */
#include <stdlib.h>

#include "core/backend.h"
#include "core/bufpool.h"
#include "core/mpsc.h"

#define DEFAULT_BUF_SIZE 16384u
#define DEFAULT_COUNT 256u
#define MIN_BUF_SIZE 64u
#define MAX_BUF_SIZE (16u << 20)
#define MAX_COUNT 32768u

#define RETURN_LINK offsetof(rp_bufmeta, return_next)
#define DETACH_LINK offsetof(rp_bufseg, detach_next)

void rp_bufpool_options_init(rp_bufpool_options *opts)
{
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->buf_size = DEFAULT_BUF_SIZE;
    opts->count = DEFAULT_COUNT;
}

size_t rp_bufpool_buf_size(const rp_bufpool *pool)
{
    return pool ? pool->buf_size : 0;
}

static void pool_free(rp_bufpool *pool)
{
    free(pool->mem);
    free(pool->meta);
    free(pool->segs);
    free(pool);
}

/* The pool's references: one for its creator (dropped by rp_bufpool_destroy) and one per attached
 * segment (dropped when its worker lets go of it). The last one frees the memory. */
static void pool_unref(rp_bufpool *pool)
{
    if (rp__atomic_fetch_add_u32(&pool->attached_left, (uint32_t)-1) == 1)
        pool_free(pool);
}

int rp_bufpool_create(rp_loop *loop, rp_bufpool **out, const rp_bufpool_options *opts)
{
    rp_bufpool_options defaults;
    if (!loop || !out)
        return RP_EINVAL;
    if (!opts) {
        rp_bufpool_options_init(&defaults);
        opts = &defaults;
    }
    for (size_t i = 0; i < sizeof opts->reserved / sizeof opts->reserved[0]; i++)
        if (opts->reserved[i])
            return RP_EINVAL;
    uint32_t size = opts->buf_size ? opts->buf_size : DEFAULT_BUF_SIZE;
    uint32_t want = opts->count ? opts->count : DEFAULT_COUNT;
    if (size < MIN_BUF_SIZE || size > MAX_BUF_SIZE || want > MAX_COUNT)
        return RP_EINVAL;
    uint32_t count = 1;
    while (count < want)
        count <<= 1;
    if (rp__atomic_load_u32(&loop->destroying))
        return RP_ESHUTDOWN;
    uint64_t per_worker = (uint64_t)count * (size + RP_BUFPOOL_HEADROOM), total = per_worker * loop->nworkers;
    if (total > (uint64_t)SIZE_MAX / 2)
        return RP_ENOMEM;

    rp_bufpool *pool = calloc(1, sizeof *pool);
    if (!pool)
        return RP_ENOMEM;
    pool->loop = loop;
    pool->buf_size = size + RP_BUFPOOL_HEADROOM;
    pool->count = count;
    pool->mem_size = total;
    /* malloc, not calloc: the pages are touched only as buffers are used. */
    pool->mem = malloc((size_t)total);
    pool->meta = calloc((size_t)count * loop->nworkers, sizeof *pool->meta);
    pool->segs = calloc(loop->nworkers, sizeof *pool->segs);
    if (!pool->mem || !pool->meta || !pool->segs) {
        pool_free(pool);
        return RP_ENOMEM;
    }
    for (uint32_t i = 0; i < loop->nworkers; i++) {
        rp_bufseg *seg = &pool->segs[i];
        seg->pool = pool;
        seg->w = &loop->workers[i];
        seg->base = pool->mem + (size_t)i * (size_t)per_worker;
        seg->meta = pool->meta + (size_t)i * count;
    }
    rp__atomic_store_u32(&pool->attached_left, 1);
    rp__mutex_lock(&loop->bufpool_lock);
    pool->next_in_loop = loop->bufpools;
    loop->bufpools = pool;
    rp__mutex_unlock(&loop->bufpool_lock);
    *out = pool;
    return 0;
}

/* ---- segments on their worker ---- */

static char *buf_at(const rp_bufseg *seg, uint32_t idx)
{
    return seg->base + (size_t)idx * seg->pool->buf_size;
}

static void seg_attach(rp_worker *w, rp_bufseg *seg)
{
    /* The backend's id for the segment: the smallest one none of the worker's segments has. */
    uint16_t group = 0;
    for (int again = 1; again;) {
        again = 0;
        for (rp_bufseg *it = w->bufsegs; it; it = it->next_attached)
            if (it->group == group) {
                group++;
                again = 1;
            }
    }
    seg->group = group;
    seg->free_head = 0;
    for (uint32_t i = seg->pool->count; i-- > 0;) {
        seg->meta[i].next = seg->free_head;
        seg->free_head = i + 1;
    }
    seg->nfree = seg->pool->count;
    const rp_backend_vtable *be = w->loop->backend;
    seg->backend_held = be->pool_attach && be->pool_attach(w, seg) == 1;
    if (seg->backend_held)
        seg->free_head = 0; /* the backend has them all now */
    seg->next_attached = w->bufsegs;
    w->bufsegs = seg;
    rp__atomic_fetch_add_u32(&seg->pool->attached_left, 1);
    rp__atomic_store_u32(&seg->attached, 1);
}

static void seg_detach(rp_worker *w, rp_bufseg *seg)
{
    const rp_backend_vtable *be = w->loop->backend;
    if (seg->backend_held && be->pool_detach)
        be->pool_detach(w, seg);
    for (rp_bufseg **it = &w->bufsegs; *it; it = &(*it)->next_attached)
        if (*it == seg) {
            *it = seg->next_attached;
            break;
        }
    rp__atomic_store_u32(&seg->attached, 0);
    pool_unref(seg->pool);
}

/* Buffer idx is free again (the worker's thread). */
static void give_back(rp_worker *w, rp_bufseg *seg, uint32_t idx)
{
    rp__atomic_store_u32(&seg->meta[idx].state, RP_BUF_FREE);
    seg->nfree++;
    if (seg->backend_held) {
        w->loop->backend->buf_return(w, seg, idx);
    } else {
        seg->meta[idx].next = seg->free_head;
        seg->free_head = idx + 1;
    }
}

static void starved_push(rp_bufseg *seg, rp_op *op)
{
    rp_op_priv *p = RP_PRIV(op);
    p->u.recv_pool.wait = RP_RECV_STARVED;
    p->u.recv_pool.wait_next = NULL;
    if (seg->starved_tail)
        RP_PRIV(seg->starved_tail)->u.recv_pool.wait_next = op;
    else
        seg->starved_head = op;
    seg->starved_tail = op;
    rp__atomic_store_u32(&seg->starved_flag, 1);
}

static void starved_unlink(rp_bufseg *seg, rp_op *op)
{
    rp_op *prev = NULL;
    for (rp_op *it = seg->starved_head; it; prev = it, it = RP_PRIV(it)->u.recv_pool.wait_next) {
        if (it != op)
            continue;
        rp_op *next = RP_PRIV(it)->u.recv_pool.wait_next;
        if (prev)
            RP_PRIV(prev)->u.recv_pool.wait_next = next;
        else
            seg->starved_head = next;
        if (seg->starved_tail == it)
            seg->starved_tail = prev;
        break;
    }
    if (!seg->starved_head)
        rp__atomic_store_u32(&seg->starved_flag, 0);
}

/* Hands a waiting receive back to the backend (or ends it if it was asked to stop meanwhile). */
static void resume(rp_worker *w, rp_op *op)
{
    rp_sock *s = rp__sock_live(w->loop, RP_PRIV(op)->target);
    if (!s || rp__io_op(s, RP_DIR_RECV) != op)
        return;
    if (rp__io_stopping(s, RP_DIR_RECV)) {
        rp__io_finish(w, s, RP_DIR_RECV, RP_ECANCELED);
        return;
    }
    w->loop->backend->io_start(w, s, RP_DIR_RECV, op);
}

/* n buffers came back: as many waiting receives go on, oldest first. */
static void seg_resume(rp_worker *w, rp_bufseg *seg, uint32_t n)
{
    while (n-- > 0 && seg->starved_head) {
        rp_op *op = seg->starved_head;
        seg->starved_head = RP_PRIV(op)->u.recv_pool.wait_next;
        if (!seg->starved_head)
            seg->starved_tail = NULL;
        RP_PRIV(op)->u.recv_pool.wait = RP_RECV_RUNNING;
        if (!seg->starved_head)
            rp__atomic_store_u32(&seg->starved_flag, 0);
        resume(w, op);
    }
}

void rp__bufpool_poll(rp_worker *w)
{
    if (rp__atomic_load_ptr(&w->bufseg_detach)) {
        rp_bufseg *seg = rp__mpsc_take(&w->bufseg_detach, DETACH_LINK);
        while (seg) {
            rp_bufseg *next = seg->detach_next;
            seg_detach(w, seg);
            seg = next;
        }
    }
    for (rp_bufseg *seg = w->bufsegs; seg; seg = seg->next_attached) {
        if (!rp__atomic_load_ptr(&seg->returns))
            continue;
        rp_bufmeta *m = rp__mpsc_take(&seg->returns, RETURN_LINK);
        uint32_t n = 0;
        while (m) {
            rp_bufmeta *next = m->return_next;
            give_back(w, seg, (uint32_t)(m - seg->meta));
            n++;
            m = next;
        }
        seg_resume(w, seg, n);
    }
}

int rp__bufpool_work_pending(rp_worker *w)
{
    if (rp__atomic_load_ptr(&w->bufseg_detach))
        return 1;
    for (rp_bufseg *seg = w->bufsegs; seg; seg = seg->next_attached)
        if (rp__atomic_load_u32(&seg->starved_flag) && rp__atomic_load_ptr(&seg->returns))
            return 1;
    return 0;
}

/* ---- release and destroy (any thread) ---- */

int rp_bufpool_release(rp_bufpool *pool, void *buf)
{
    if (!pool || !buf)
        return RP_EINVAL;
    uintptr_t at = (uintptr_t)buf, base = (uintptr_t)pool->mem;
    if (at < base || at - base >= pool->mem_size)
        return RP_EINVAL; /* any address inside a buffer names it (a datagram starts after a header) */
    uint64_t global = (at - base) / pool->buf_size;
    rp_bufseg *seg = &pool->segs[global / pool->count];
    uint32_t idx = (uint32_t)(global % pool->count);
    uint32_t expected = RP_BUF_HELD;
    if (!rp__atomic_cas_u32(&seg->meta[idx].state, &expected, RP_BUF_RETURNING))
        return RP_EINVAL; /* not handed out (free, or already being released) */
    if (rp__current == seg->w) {
        give_back(seg->w, seg, idx);
        seg_resume(seg->w, seg, 1);
        return 0;
    }
    rp__mpsc_push(&seg->returns, &seg->meta[idx], RETURN_LINK);
    rp__atomic_fence(); /* pairs with the worker: it either sees this buffer or we see it starved */
    if (rp__atomic_load_u32(&seg->starved_flag))
        rp__wake_if_sleeping(seg->w);
    return 0;
}

int rp_bufpool_destroy(rp_bufpool *pool)
{
    if (!pool)
        return RP_EINVAL;
    uint32_t expected = 0;
    if (!rp__atomic_cas_u32(&pool->dead, &expected, 1))
        return RP_EINVAL;
    /* A submission counts itself in users and then checks dead; we set dead and then check users: one
     * of the two sees the other. */
    int busy = rp__atomic_load_u32(&pool->users) != 0;
    uint32_t n = pool->count * pool->loop->nworkers;
    for (uint32_t i = 0; i < n && !busy; i++)
        busy = rp__atomic_load_u32(&pool->meta[i].state) == RP_BUF_HELD;
    if (busy) {
        rp__atomic_store_u32(&pool->dead, 0);
        return RP_EBUSY;
    }
    rp_loop *loop = pool->loop;
    rp__mutex_lock(&loop->bufpool_lock);
    for (rp_bufpool **it = &loop->bufpools; *it; it = &(*it)->next_in_loop)
        if (*it == pool) {
            *it = pool->next_in_loop;
            break;
        }
    rp__mutex_unlock(&loop->bufpool_lock);
    for (uint32_t i = 0; i < loop->nworkers; i++) {
        rp_bufseg *seg = &pool->segs[i];
        if (!rp__atomic_load_u32(&seg->attached))
            continue;
        if (rp__current == seg->w) {
            seg_detach(seg->w, seg);
        } else {
            rp__mpsc_push(&seg->w->bufseg_detach, seg, DETACH_LINK);
            rp__wake_if_sleeping(seg->w);
        }
    }
    pool_unref(pool);
    return 0;
}

void rp__bufpool_free_all(rp_loop *loop)
{
    /* The workers' backends are gone (and with them any provided buffer rings): no segment needs to be
     * let go of on a worker any more. Pools destroyed but still waiting for a worker are found in the
     * workers' detach inboxes. */
    for (uint32_t i = 0; loop->workers && i < loop->nworkers; i++) {
        rp_bufseg *seg = rp__mpsc_take(&loop->workers[i].bufseg_detach, DETACH_LINK);
        while (seg) {
            rp_bufseg *next = seg->detach_next;
            pool_unref(seg->pool);
            seg = next;
        }
    }
    while (loop->bufpools) {
        rp_bufpool *pool = loop->bufpools;
        loop->bufpools = pool->next_in_loop;
        pool_free(pool);
    }
}

/* ---- pool receives: the op life cycle's side ---- */

int rp__recv_pool_claim(rp_bufpool *pool)
{
    rp__atomic_fetch_add_u32(&pool->users, 1);
    if (rp__atomic_load_u32(&pool->dead)) {
        rp__atomic_fetch_add_u32(&pool->users, (uint32_t)-1);
        return RP_EINVAL;
    }
    return 0;
}

void rp__recv_pool_prepare(rp_worker *w, rp_op *op)
{
    rp_op_priv *p = RP_PRIV(op);
    if (p->u.recv_pool.seg)
        return;
    rp_bufseg *seg = &p->u.recv_pool.pool->segs[w->index];
    if (!rp__atomic_load_u32(&seg->attached))
        seg_attach(w, seg);
    p->u.recv_pool.seg = seg;
}

int rp__recv_pool_stop_waiting(rp_sock *s)
{
    rp_op *op = s->recvq.head;
    if (!op || (op->kind != RP_OP_RECV_POOL && op->kind != RP_OP_UDP_RECV_POOL))
        return 0;
    rp_op_priv *p = RP_PRIV(op);
    switch ((enum rp_recv_wait)p->u.recv_pool.wait) {
    case RP_RECV_RUNNING: return 0;
    case RP_RECV_STARVED: starved_unlink(p->u.recv_pool.seg, op); break;
    case RP_RECV_BACKLOGGED: break;
    }
    p->u.recv_pool.wait = RP_RECV_RUNNING;
    return 1;
}

/* A UDP pool receive's datagram in buffer idx, as the caller sees it. */
static void fill_dgram(rp_dgram *d, const rp_bufseg *seg, uint32_t idx)
{
    const rp_bufmeta *m = &seg->meta[idx];
    d->base = buf_at(seg, idx) + m->off;
    d->len = m->len;
    d->flags = (uint16_t)m->dflags;
    d->error = 0;
    d->peer = m->peer;
    d->local = m->local;
}

/* Chunks a multishot receive may have waiting for delivery before it stops reading. */
static uint32_t backlog_of(const rp_op *op)
{
    const rp_op_priv *p = (const rp_op_priv *)(const void *)op->internal_;
    if (op->kind == RP_OP_UDP_RECV_POOL && p->u.recv_pool.cap > RP_RECV_POOL_BACKLOG)
        return p->u.recv_pool.cap; /* a delivery takes up to cap datagrams: have that many ready */
    return RP_RECV_POOL_BACKLOG;
}

int rp__recv_pool_next(rp_worker *w, rp_op *op)
{
    RP_UNUSED(w);
    rp_op_priv *p = RP_PRIV(op);
    if (!p->u.recv_pool.head)
        return 0;
    rp_bufseg *seg = p->u.recv_pool.seg;
    if (op->kind == RP_OP_UDP_RECV_POOL) {
        uint32_t k = 0;
        while (p->u.recv_pool.head && k < p->u.recv_pool.cap) {
            uint32_t idx = p->u.recv_pool.head - 1;
            p->u.recv_pool.head = seg->meta[idx].next;
            p->u.recv_pool.queued--;
            fill_dgram(&p->u.recv_pool.dgrams[k++], seg, idx);
        }
        if (!p->u.recv_pool.head)
            p->u.recv_pool.tail = 0;
        op->result = k;
        op->buf = NULL;
        op->flags = RP_OP_F_MORE;
        op->socket = p->target;
        return 1;
    }
    uint32_t idx = p->u.recv_pool.head - 1;
    p->u.recv_pool.head = seg->meta[idx].next;
    if (!p->u.recv_pool.head)
        p->u.recv_pool.tail = 0;
    p->u.recv_pool.queued--;
    op->result = seg->meta[idx].len;
    op->buf = buf_at(seg, idx);
    op->flags = RP_OP_F_MORE;
    op->socket = p->target;
    return 1;
}

void rp__recv_pool_delivered(rp_worker *w, rp_op *op)
{
    rp_op_priv *p = RP_PRIV(op);
    if (p->u.recv_pool.queued || (p->iflags & RP_IF_FINAL))
        rp__ready_push(w, op);
    /* Read again once half the backlog has been taken: not one read per delivery. */
    if (p->u.recv_pool.wait == RP_RECV_BACKLOGGED && p->u.recv_pool.queued <= backlog_of(op) / 2) {
        p->u.recv_pool.wait = RP_RECV_RUNNING;
        resume(w, op);
    }
}

void rp__recv_pool_final(rp_worker *w, rp_op *op)
{
    rp_op_priv *p = RP_PRIV(op);
    if (op->kind == RP_OP_UDP_RECV_POOL) {
        if (p->u.recv_pool.result)
            fill_dgram(&p->u.recv_pool.dgrams[0], p->u.recv_pool.seg, p->u.recv_pool.result - 1);
        op->buf = NULL;
    } else {
        op->buf = p->u.recv_pool.result ? buf_at(p->u.recv_pool.seg, p->u.recv_pool.result - 1) : NULL;
    }
    rp__atomic_fetch_add_u32(&p->u.recv_pool.pool->users, (uint32_t)-1);
    if (!p->u.recv_pool.multishot)
        return;
    rp_sock *s = rp__sock_live(w->loop, p->target);
    if (s && (s->flags & RP_SF_RECV_HELD)) {
        s->flags &= ~RP_SF_RECV_HELD;
        rp__kick(w, s);
    }
}

void rp__recv_pool_finished(rp_sock *s, rp_op *op)
{
    if (RP_PRIV(op)->u.recv_pool.multishot)
        s->flags |= RP_SF_RECV_HELD;
}

/* ---- pool receives: what the backends call (core/backend.h) ---- */

rp_bufseg *rp__recv_pool_seg(const rp_op *op)
{
    return ((const rp_op_priv *)(const void *)op->internal_)->u.recv_pool.seg;
}

int64_t rp__buf_take(rp_worker *w, rp_sock *s, void **buf, size_t *len)
{
    RP_UNUSED(w);
    rp_op *op = rp__io_op(s, RP_DIR_RECV);
    rp_op_priv *p = RP_PRIV(op);
    rp_bufseg *seg = p->u.recv_pool.seg;
    if (p->u.recv_pool.wait != RP_RECV_RUNNING)
        return -1; /* already waiting (a readiness event while it waits) */
    if (p->u.recv_pool.multishot && p->u.recv_pool.queued >= backlog_of(op)) {
        p->u.recv_pool.wait = RP_RECV_BACKLOGGED;
        return -1;
    }
    if (!seg->free_head) {
        starved_push(seg, op);
        return -1;
    }
    uint32_t idx = seg->free_head - 1;
    seg->free_head = seg->meta[idx].next;
    seg->nfree--;
    rp__atomic_store_u32(&seg->meta[idx].state, RP_BUF_HELD);
    *buf = buf_at(seg, idx);
    *len = seg->pool->buf_size;
    return idx;
}

void rp__buf_untake(rp_worker *w, rp_sock *s, int64_t idx)
{
    rp_op *op = rp__io_op(s, RP_DIR_RECV);
    rp_bufseg *seg = RP_PRIV(op)->u.recv_pool.seg;
    if (seg->backend_held) {
        rp__atomic_store_u32(&seg->meta[idx].state, RP_BUF_HELD);
        seg->nfree--; /* the kernel had picked it: it goes back through give_back */
    }
    give_back(w, seg, (uint32_t)idx);
}

rp_io_next rp__recv_pool_data(rp_worker *w, rp_sock *s, int64_t idx, size_t n)
{
    rp_op *op = rp__io_op(s, RP_DIR_RECV);
    rp_op_priv *p = RP_PRIV(op);
    rp_bufseg *seg = p->u.recv_pool.seg;
    if (seg->backend_held) {
        rp__atomic_store_u32(&seg->meta[idx].state, RP_BUF_HELD); /* the kernel picked it */
        seg->nfree--;
    }
    seg->meta[idx].len = (uint32_t)n;
    if (!p->u.recv_pool.multishot) {
        p->u.recv_pool.result = (uint32_t)idx + 1;
        rp__io_finish(w, s, RP_DIR_RECV, op->kind == RP_OP_UDP_RECV_POOL ? 1 : (int64_t)n); /* datagrams */
        return RP_IO_FINISHED;
    }
    seg->meta[idx].next = 0;
    if (p->u.recv_pool.tail)
        seg->meta[p->u.recv_pool.tail - 1].next = (uint32_t)idx + 1;
    else
        p->u.recv_pool.head = (uint32_t)idx + 1;
    p->u.recv_pool.tail = (uint32_t)idx + 1;
    p->u.recv_pool.queued++;
    rp__ready_push(w, op);
    return RP_IO_RESTART;
}

rp_io_next rp__recv_pool_dgram(rp_worker *w, rp_sock *s, int64_t idx, uint32_t off, uint32_t len, uint32_t dflags,
                               const rp_addr *peer, const rp_addr *local)
{
    rp_bufmeta *m = &RP_PRIV(rp__io_op(s, RP_DIR_RECV))->u.recv_pool.seg->meta[idx];
    m->off = off;
    m->dflags = dflags | (local ? RP_DGRAM_LOCAL : 0u);
    m->peer = *peer;
    if (local)
        m->local = *local;
    else
        memset(&m->local, 0, sizeof m->local);
    return rp__recv_pool_data(w, s, idx, len);
}

void rp__recv_pool_starved(rp_worker *w, rp_sock *s)
{
    rp_op *op = rp__io_op(s, RP_DIR_RECV);
    rp_bufseg *seg = RP_PRIV(op)->u.recv_pool.seg;
    if (seg->nfree) {
        /* Buffers came back after the kernel found none: try again now, no release is coming for it. */
        w->loop->backend->io_start(w, s, RP_DIR_RECV, op);
        return;
    }
    starved_push(seg, op);
}
