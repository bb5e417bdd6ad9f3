/* Lock-free multi-producer, single-consumer stacks: any thread pushes, the owning worker takes the whole
 * stack at once and gets it back in push order. Intrusive: each node has a pointer link at link_offset
 * (rp_op_priv.next for submissions, rp_op_priv.cancel_next for cancels, rp_sock.close_next for closes). */
#ifndef RP_MPSC_H
#define RP_MPSC_H

#include <stddef.h>

#include "core/atomic.h"

#define RP_MPSC_LINK(node, link_offset) (*(void **)(void *)((char *)(node) + (link_offset)))

static inline void rp__mpsc_push(rp_atomic_ptr *head, void *node, size_t link_offset)
{
    void *old = rp__atomic_load_ptr(head);
    do {
        RP_MPSC_LINK(node, link_offset) = old;
    } while (!rp__atomic_cas_ptr(head, &old, node));
}

/* Takes every node pushed so far; returns them oldest first, linked through the same link. */
static inline void *rp__mpsc_take(rp_atomic_ptr *head, size_t link_offset)
{
    void *list = rp__atomic_exchange_ptr(head, NULL), *fifo = NULL;
    while (list) {
        void *next = RP_MPSC_LINK(list, link_offset);
        RP_MPSC_LINK(list, link_offset) = fifo;
        fifo = list;
        list = next;
    }
    return fifo;
}

#endif
