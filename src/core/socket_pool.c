/* The socket pool: slots in fixed-size chunks that never move or get freed before the loop, so a handle
 * can be checked from any thread without a lock. A handle is (generation << 32 | index + 1); freeing a
 * slot bumps its generation, which turns every old handle into RP_EBADF. */
#include <stdlib.h>

#include "core/internal.h"

int rp__sock_lookup(rp_loop *loop, rp_socket h, rp_sock **out)
{
    uint32_t low = (uint32_t)h;
    if (low == 0 || low > rp__atomic_load_u32(&loop->nslots))
        return RP_EBADF;
    rp_sock *s = rp__sock_at(loop, low - 1);
    if (!s || rp__atomic_load_u32(&s->gen) != (uint32_t)(h >> 32) || rp__atomic_load_u32(&s->closing))
        return RP_EBADF;
    *out = s;
    return 0;
}

static int grow(rp_loop *loop)
{
    uint32_t n = rp__atomic_relaxed_u32(&loop->nslots);
    uint32_t chunk = n >> RP_POOL_CHUNK_SHIFT;
    if (chunk >= RP_POOL_MAX_CHUNKS)
        return RP_EMFILE;
    rp_sock *base = calloc(RP_POOL_CHUNK, sizeof *base);
    if (!base)
        return RP_ENOMEM;
    for (uint32_t i = 0; i < RP_POOL_CHUNK; i++) {
        base[i].index = n + i;
        base[i].fd = RP_FD_INVALID;
        rp__atomic_store_u32(&base[i].gen, 1);
    }
    /* Push in reverse so low indexes are handed out first. */
    for (uint32_t i = RP_POOL_CHUNK; i-- > 0;) {
        base[i].free_next = loop->free_list;
        loop->free_list = &base[i];
    }
    rp__atomic_store_ptr(&loop->chunks[chunk], base);
    rp__atomic_store_u32(&loop->nslots, n + RP_POOL_CHUNK);
    return 0;
}

int rp__sock_new(rp_loop *loop, rp_worker *w, rp_fd fd, uint32_t type, rp_sock **out)
{
    rp__mutex_lock(&loop->pool_lock);
    if (!loop->free_list) {
        int err = grow(loop);
        if (err) {
            rp__mutex_unlock(&loop->pool_lock);
            return err;
        }
    }
    rp_sock *s = loop->free_list;
    loop->free_list = s->free_next;
    rp__mutex_unlock(&loop->pool_lock);

    uint32_t gen = rp__atomic_relaxed_u32(&s->gen);
    uint32_t index = s->index;
    memset((char *)s + offsetof(rp_sock, type), 0, sizeof *s - offsetof(rp_sock, type));
    s->index = index;
    s->type = type;
    s->fd = fd;
    s->worker = w;
    rp__atomic_store_u32(&s->closing, 0);
    rp__atomic_store_u32(&s->wr_shut, 0);
    rp__atomic_store_u32(&s->handed, 0);
    rp__atomic_fetch_add_u32(&w->live_socks, 1);
    rp__atomic_store_u32(&s->gen, gen);
    *out = s;
    return 0;
}

void rp__sock_publish(rp_sock *s)
{
    /* Release: every field the creator set is visible to the worker that finds the socket by its owner. */
    rp__atomic_store_u32(&s->owner, s->worker->index + 1u);
}

void rp__sock_free(rp_loop *loop, rp_sock *s)
{
    rp_worker *w = s->worker;
    uint32_t gen = rp__atomic_relaxed_u32(&s->gen) + 1;
    rp__atomic_store_u32(&s->gen, gen ? gen : 1);
    rp__atomic_store_u32(&s->owner, 0);
    s->fd = RP_FD_INVALID;
    rp__mutex_lock(&loop->pool_lock);
    s->free_next = loop->free_list;
    loop->free_list = s;
    rp__mutex_unlock(&loop->pool_lock);
    rp__atomic_fetch_add_u32(&w->live_socks, (uint32_t)-1);
}

void rp__pool_free_all(rp_loop *loop)
{
    for (uint32_t c = 0; c < RP_POOL_MAX_CHUNKS; c++) {
        rp_sock *base = rp__atomic_load_ptr(&loop->chunks[c]);
        if (!base)
            break;
        free(base);
    }
}
