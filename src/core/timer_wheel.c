/* Binary min-heap of timer ops ordered by (deadline, submission sequence), so equal deadlines fire in
 * submission order. Each op remembers its index, making removal O(log n). */
#include <stdlib.h>

#include "core/internal.h"

static int before(rp_op *a, rp_op *b)
{
    rp_op_priv *pa = RP_PRIV(a), *pb = RP_PRIV(b);
    if (pa->u.timer.deadline != pb->u.timer.deadline)
        return pa->u.timer.deadline < pb->u.timer.deadline;
    return pa->u.timer.seq < pb->u.timer.seq;
}

static void place(rp_timer_heap *h, uint32_t i, rp_op *op)
{
    h->items[i] = op;
    RP_PRIV(op)->u.timer.heap_index = i;
}

static void sift_up(rp_timer_heap *h, uint32_t i)
{
    rp_op *op = h->items[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!before(op, h->items[parent]))
            break;
        place(h, i, h->items[parent]);
        i = parent;
    }
    place(h, i, op);
}

static void sift_down(rp_timer_heap *h, uint32_t i)
{
    rp_op *op = h->items[i];
    for (;;) {
        uint32_t child = 2 * i + 1;
        if (child >= h->count)
            break;
        if (child + 1 < h->count && before(h->items[child + 1], h->items[child]))
            child++;
        if (!before(h->items[child], op))
            break;
        place(h, i, h->items[child]);
        i = child;
    }
    place(h, i, op);
}

int rp__heap_push(rp_timer_heap *h, rp_op *op)
{
    if (h->count == h->cap) {
        uint32_t cap = h->cap ? h->cap * 2 : 64;
        rp_op **items = realloc(h->items, (size_t)cap * sizeof *items);
        if (!items)
            return RP_ENOMEM;
        h->items = items;
        h->cap = cap;
    }
    place(h, h->count, op);
    sift_up(h, h->count++);
    return 0;
}

void rp__heap_remove(rp_timer_heap *h, rp_op *op)
{
    uint32_t i = RP_PRIV(op)->u.timer.heap_index;
    rp_op *last = h->items[--h->count];
    if (i == h->count)
        return;
    place(h, i, last);
    if (i > 0 && before(last, h->items[(i - 1) / 2]))
        sift_up(h, i);
    else
        sift_down(h, i);
}

rp_op *rp__heap_top(const rp_timer_heap *h)
{
    return h->count ? h->items[0] : NULL;
}

void rp__heap_free(rp_timer_heap *h)
{
    free(h->items);
    h->items = NULL;
    h->count = h->cap = 0;
}
