/* The worker's timers: a hierarchical timing wheel (the layout of the old Linux timer wheel) feeding a
 * sorted run, so that timers come out in (deadline, submission sequence) order, equal deadlines in
 * submission order, exactly as a heap would hand them out.
 *
 * Why not a heap: at a million timers every heap step is a cache miss (the keys sit in the op records,
 * scattered over the caller's memory), some twenty per insert or removal. Here starting and cancelling
 * a timer touch only its own record, a neighbour in its slot's list and the slot, and firing reads each
 * record once to take its key into the run, where the sorting and searching happen in one small array.
 *
 * Time is counted in ticks of 2^RP_TW_TICK_SHIFT ns. Level 0 has a slot per tick for the ticks
 * [cur, cur + 1024); a slot of level k >= 1 covers 2^shift(k) ticks, and the level the next 64 such
 * spans. When cur reaches the start of a span of level k, that slot is cascaded: its timers go down to
 * the levels below (each timer moves at most once per level). When cur reaches a level-0 slot that is
 * due (its tick is not after now), the slot's timers are moved into the run and sorted there.
 *
 * Invariant: every timer of the run has a tick before cur, every timer of the wheel a tick at or after
 * it, so the run's first timer is the earliest of all. The wheel is only consulted when the run is empty:
 * a timer whose tick is already before cur (a delay shorter than a tick) goes straight into the run, at
 * its place. The run is never reallocated while firing: its capacity follows the count, so a slot, or a
 * repeating timer put back, always fits.
 *
 * For the wait, each slot keeps a lower bound of its deadlines (lowered on insert, reset when the slot
 * empties; a cancel leaves it early, which costs at most one early wake-up: the slot is due then). */
#include <stdlib.h>

#include "core/internal.h"

#define L0_SIZE (1u << RP_TW_L0_BITS)
#define L0_MASK (L0_SIZE - 1u)
#define LN_MASK ((1u << RP_TW_LN_BITS) - 1u)
#define SHIFT(k) (RP_TW_L0_BITS + ((k) - 1u) * RP_TW_LN_BITS) /* ticks per slot of level k >= 1, log2 */
#define BASE(k) (L0_SIZE + ((k) - 1u) * (1u << RP_TW_LN_BITS)) /* first slot of level k >= 1 */
#define TOP_SPAN (UINT64_C(1) << (SHIFT(RP_TW_LEVELS - 1u) + RP_TW_LN_BITS)) /* ticks the wheel reaches */

#define TIMER(op) (RP_PRIV(op)->u.timer)

static uint64_t tick_of(uint64_t ns) { return ns >> RP_TW_TICK_SHIFT; }

/* Index of the lowest set bit of x != 0 (de Bruijn: plain C, no compiler builtin). */
static unsigned lowest_bit(uint64_t x)
{
    static const unsigned char index[64] = {0,  1,  48, 2,  57, 49, 28, 3,  61, 58, 50, 42, 38, 29, 17, 4,
                                            62, 55, 59, 36, 53, 51, 43, 22, 45, 39, 33, 30, 24, 18, 12, 5,
                                            63, 47, 56, 27, 60, 41, 37, 16, 54, 35, 52, 21, 44, 32, 23, 11,
                                            46, 26, 40, 15, 34, 20, 31, 10, 25, 14, 19, 9,  13, 8,  7,  6};
    return index[((x & (0 - x)) * UINT64_C(0x03f79d71b4cb0a89)) >> 58];
}

static void bit_set(rp_timer_wheel *h, uint32_t slot) { h->bits[slot >> 6] |= UINT64_C(1) << (slot & 63); }
static void bit_clear(rp_timer_wheel *h, uint32_t slot) { h->bits[slot >> 6] &= ~(UINT64_C(1) << (slot & 63)); }

/* The first non-empty level-0 slot in [from, to] (to <= L0_MASK), or -1. */
static int32_t find_l0(const rp_timer_wheel *h, uint32_t from, uint32_t to)
{
    uint32_t wi = from >> 6, wlast = to >> 6;
    uint64_t word = h->bits[wi] & (~UINT64_C(0) << (from & 63));
    for (;;) {
        if (wi == wlast)
            word &= ~UINT64_C(0) >> (63 - (to & 63));
        if (word)
            return (int32_t)(wi * 64 + lowest_bit(word));
        if (wi == wlast)
            return -1;
        word = h->bits[++wi];
    }
}

/* Ordering of the run: deadline, then submission sequence (unique per worker). */
static int before(const rp_timer_entry *a, const rp_timer_entry *b)
{
    return a->deadline != b->deadline ? a->deadline < b->deadline : a->seq < b->seq;
}

static void swap_entries(rp_timer_entry *a, rp_timer_entry *b)
{
    rp_timer_entry t = *a;
    *a = *b;
    *b = t;
}

static void insertion_sort(rp_timer_entry *a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        rp_timer_entry e = a[i];
        size_t j = i;
        for (; j > 0 && before(&e, &a[j - 1]); j--)
            a[j] = a[j - 1];
        a[j] = e;
    }
}

static void sift_down(rp_timer_entry *a, size_t n, size_t i)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            return;
        if (c + 1 < n && before(&a[c], &a[c + 1]))
            c++;
        if (!before(&a[i], &a[c]))
            return;
        swap_entries(&a[i], &a[c]);
        i = c;
    }
}

/* The fallback that keeps the sort O(n log n) whatever the deadlines. */
static void heap_sort(rp_timer_entry *a, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift_down(a, n, i);
    for (size_t end = n; end-- > 1;) {
        swap_entries(&a[0], &a[end]);
        sift_down(a, end, 0);
    }
}

/* Introsort: quicksort with a median-of-three pivot, recursing into the smaller part (so the stack stays
 * O(log n)), heap sort past a depth limit, insertion sort for short ranges. No allocation: it runs while
 * firing, where nothing may fail. */
static void sort_entries(rp_timer_entry *a, size_t n, unsigned depth)
{
    while (n > 16) {
        if (depth-- == 0) {
            heap_sort(a, n);
            return;
        }
        size_t mid = n / 2;
        if (before(&a[mid], &a[0]))
            swap_entries(&a[mid], &a[0]);
        if (before(&a[n - 1], &a[0]))
            swap_entries(&a[n - 1], &a[0]);
        if (before(&a[n - 1], &a[mid]))
            swap_entries(&a[n - 1], &a[mid]);
        rp_timer_entry pivot = a[mid];
        /* Hoare: a[0] <= pivot <= a[n - 1] stop both scans inside the range; both parts are non-empty. */
        size_t i = 0, j = n - 1;
        for (;;) {
            while (before(&a[i], &pivot))
                i++;
            while (before(&pivot, &a[j]))
                j--;
            if (i >= j)
                break;
            swap_entries(&a[i], &a[j]);
            i++;
            j--;
        }
        size_t left = j + 1; /* [0, left) <= pivot <= [left, n) */
        if (left < n - left) {
            sort_entries(a, left, depth);
            a += left;
            n -= left;
        } else {
            sort_entries(a + left, n - left, depth);
            n = left;
        }
    }
    insertion_sort(a, n);
}

static void sort_run(rp_timer_entry *a, size_t n)
{
    unsigned depth = 0;
    for (size_t m = n; m > 1; m >>= 1)
        depth += 2;
    sort_entries(a, n, depth);
}

/* ---- the wheel ---- */

/* The slot a timer of tick t >= cur belongs in. */
static uint32_t slot_for(const rp_timer_wheel *h, uint64_t t)
{
    uint64_t ahead = t - h->cur;
    if (ahead < L0_SIZE)
        return (uint32_t)(t & L0_MASK);
    unsigned k = 1;
    while (k < RP_TW_LEVELS - 1u && ahead >= UINT64_C(1) << (SHIFT(k) + RP_TW_LN_BITS))
        k++;
    if (ahead >= TOP_SPAN) /* beyond the wheel: parked in its last span, placed again when cascaded */
        t = h->cur + TOP_SPAN - 1;
    return BASE(k) + (uint32_t)((t >> SHIFT(k)) & LN_MASK);
}

static void link_op(rp_timer_wheel *h, rp_op *op, uint32_t slot)
{
    rp_timer_slot *s = &h->slots[slot];
    rp_op **head = &s->head[s->turn++ % RP_TW_CHAINS];
    bit_set(h, slot);
    if (*head)
        TIMER(*head).wheel_link = &TIMER(op).wheel_next;
    TIMER(op).wheel_next = *head;
    TIMER(op).wheel_link = head;
    TIMER(op).slot = slot;
    *head = op;
    if (TIMER(op).deadline < s->min)
        s->min = TIMER(op).deadline;
}

static void clear_slot(rp_timer_wheel *h, uint32_t slot)
{
    rp_timer_slot *s = &h->slots[slot];
    for (unsigned k = 0; k < RP_TW_CHAINS; k++)
        s->head[k] = NULL;
    s->min = UINT64_MAX;
    s->turn = 0;
    bit_clear(h, slot);
}

/* Empties a slot into c, its lists, for walk_next. */
static void take_slot(rp_timer_wheel *h, uint32_t slot, rp_op *c[RP_TW_CHAINS])
{
    for (unsigned k = 0; k < RP_TW_CHAINS; k++)
        c[k] = h->slots[slot].head[k];
    clear_slot(h, slot);
}

/* The next op of lists c taken out of a slot, one list after the other in turn, or NULL at the end. The
 * caller's work on an op then overlaps the fetch of the other lists' next records. */
static rp_op *walk_next(rp_op *c[RP_TW_CHAINS], unsigned *turn)
{
    for (unsigned n = 0; n < RP_TW_CHAINS; n++) {
        unsigned k = (*turn)++ % RP_TW_CHAINS;
        rp_op *op = c[k];
        if (op) {
            c[k] = TIMER(op).wheel_next;
            return op;
        }
    }
    return NULL;
}

/* cur has reached t, the start of a level-0 revolution: the slots of the levels above whose span starts
 * at t come down. A level is looked at only when the one below it starts a revolution as well. */
static void cascade(rp_timer_wheel *h, uint64_t t)
{
    for (unsigned k = 1; k < RP_TW_LEVELS; k++) {
        uint32_t index = (uint32_t)((t >> SHIFT(k)) & LN_MASK);
        rp_op *c[RP_TW_CHAINS], *op;
        unsigned turn = 0;
        take_slot(h, BASE(k) + index, c);
        while ((op = walk_next(c, &turn)))
            link_op(h, op, slot_for(h, tick_of(TIMER(op).deadline)));
        if (index != 0)
            return;
    }
}

/* ---- the run ---- */

/* The first position in [run_pos, run_len] whose entry does not come before key. */
static uint32_t run_search(const rp_timer_wheel *h, const rp_timer_entry *key)
{
    uint32_t lo = h->run_pos, hi = h->run_len;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (before(&h->run[mid], key))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Drops cancelled entries from both ends, so that run[run_pos] is always a live timer. */
static void run_trim(rp_timer_wheel *h)
{
    while (h->run_pos < h->run_len && !h->run[h->run_pos].op)
        h->run_pos++;
    while (h->run_len > h->run_pos && !h->run[h->run_len - 1].op)
        h->run_len--;
    if (h->run_pos == h->run_len)
        h->run_pos = h->run_len = 0;
}

static void run_compact(rp_timer_wheel *h)
{
    uint32_t n = 0;
    for (uint32_t i = h->run_pos; i < h->run_len; i++)
        if (h->run[i].op)
            h->run[n++] = h->run[i];
    h->run_pos = 0;
    h->run_len = n;
}

/* A timer whose tick is before cur: into the run at its place, moving the shorter side of it. There is
 * room: run_cap >= count, and cancelled entries are dropped when the array is full. */
static void run_insert(rp_timer_wheel *h, rp_op *op)
{
    rp_timer_entry e = {TIMER(op).deadline, TIMER(op).seq, op};
    TIMER(op).slot = RP_TW_IN_RUN;
    if (h->run_pos == 0 && h->run_len == h->run_cap)
        run_compact(h);
    uint32_t at = run_search(h, &e);
    if (h->run_pos > 0 && (h->run_len == h->run_cap || at - h->run_pos < h->run_len - at)) {
        memmove(&h->run[h->run_pos - 1], &h->run[h->run_pos], (size_t)(at - h->run_pos) * sizeof e);
        h->run_pos--;
        h->run[at - 1] = e;
    } else {
        memmove(&h->run[at + 1], &h->run[at], (size_t)(h->run_len - at) * sizeof e);
        h->run_len++;
        h->run[at] = e;
    }
}

/* Moves a due level-0 slot into the (empty) run, sorted. */
static void expand(rp_timer_wheel *h, uint32_t slot)
{
    uint32_t n = 0;
    rp_op *c[RP_TW_CHAINS], *op;
    unsigned turn = 0;
    take_slot(h, slot, c);
    while ((op = walk_next(c, &turn))) {
        rp_timer_entry *e = &h->run[n++];
        e->deadline = TIMER(op).deadline;
        e->seq = TIMER(op).seq;
        e->op = op;
        TIMER(op).slot = RP_TW_IN_RUN;
    }
    h->wheel_count -= n;
    h->run_pos = 0;
    h->run_len = n;
    sort_run(h->run, n);
}

/* Advances cur through the ticks up to now_tick, cascading on the way, and expands the first non-empty
 * level-0 slot it meets. Returns 1 if it expanded one, 0 if cur went past now_tick. The run is empty. */
static int advance(rp_timer_wheel *h, uint64_t now_tick)
{
    while (h->cur <= now_tick) {
        uint64_t t = h->cur;
        uint32_t i = (uint32_t)(t & L0_MASK);
        if (i == 0)
            cascade(h, t);
        uint32_t last = now_tick - t < (uint64_t)(L0_MASK - i) ? i + (uint32_t)(now_tick - t) : L0_MASK;
        int32_t j = find_l0(h, i, last);
        if (j >= 0) {
            h->cur = t + (uint32_t)j - i + 1;
            expand(h, (uint32_t)j);
            return 1;
        }
        h->cur = t + (last - i) + 1;
    }
    return 0;
}

/* ---- the interface ---- */

int rp__timers_push(rp_timer_wheel *h, rp_op *op, uint64_t now)
{
    if (!h->slots) {
        h->slots = malloc(RP_TW_SLOTS * sizeof *h->slots);
        if (!h->slots)
            return RP_ENOMEM;
        for (uint32_t i = 0; i < RP_TW_SLOTS; i++)
            clear_slot(h, i);
    }
    if (h->count == h->run_cap) {
        /* Not realloc: that would copy the whole old array, making all of it resident, where the run
         * seldom holds more than a slot's worth. */
        if (h->run_cap > UINT32_MAX / 2)
            return RP_ENOMEM;
        uint32_t cap = h->run_cap ? h->run_cap * 2 : 64;
        rp_timer_entry *run = malloc((size_t)cap * sizeof *run);
        if (!run)
            return RP_ENOMEM;
        if (h->run_len > h->run_pos)
            memcpy(run, &h->run[h->run_pos], (size_t)(h->run_len - h->run_pos) * sizeof *run);
        free(h->run);
        h->run = run;
        h->run_len -= h->run_pos;
        h->run_pos = 0;
        h->run_cap = cap;
    }
    uint64_t t = tick_of(TIMER(op).deadline);
    if (h->count == 0) {
        /* Nothing held: cur may have fallen behind (the loop was not run); placing from now saves
         * cascading through the time in between. */
        h->run_pos = h->run_len = 0;
        if (h->cur < tick_of(now))
            h->cur = tick_of(now);
    }
    h->count++;
    if (t < h->cur) {
        run_insert(h, op);
    } else {
        link_op(h, op, slot_for(h, t));
        h->wheel_count++;
    }
    return 0;
}

void rp__timers_remove(rp_timer_wheel *h, rp_op *op)
{
    uint32_t slot = TIMER(op).slot;
    if (slot == RP_TW_IN_RUN) {
        rp_timer_entry key = {TIMER(op).deadline, TIMER(op).seq, op};
        /* A cancelled entry keeps its key, so the search stays valid. Keys are unique (the worker numbers
         * every start), so the loop finds the op's entry at once. */
        uint32_t at = run_search(h, &key);
        while (at < h->run_len && h->run[at].op != op)
            at++;
        if (at < h->run_len)
            h->run[at].op = NULL;
        run_trim(h);
    } else {
        rp_op *next = TIMER(op).wheel_next;
        *TIMER(op).wheel_link = next;
        if (next) {
            TIMER(next).wheel_link = TIMER(op).wheel_link;
        } else {
            const rp_timer_slot *s = &h->slots[slot];
            unsigned k = 0;
            while (k < RP_TW_CHAINS && !s->head[k])
                k++;
            if (k == RP_TW_CHAINS)
                clear_slot(h, slot); /* now empty: its bit and bound go */
        }
        h->wheel_count--;
    }
    TIMER(op).wheel_next = NULL;
    TIMER(op).wheel_link = NULL;
    if (--h->count == 0)
        h->run_pos = h->run_len = 0;
}

rp_op *rp__timers_pop_due(rp_timer_wheel *h, uint64_t now)
{
    for (;;) {
        if (h->run_pos < h->run_len) {
            rp_timer_entry *e = &h->run[h->run_pos];
            if (e->deadline > now)
                return NULL; /* and nothing in the wheel is due either: it all comes later */
            rp_op *op = e->op;
            h->run_pos++;
            run_trim(h);
            h->count--;
            return op;
        }
        if (h->wheel_count == 0) {
            if (h->cur <= tick_of(now))
                h->cur = tick_of(now) + 1; /* nothing to cascade on the way */
            return NULL;
        }
        if (!advance(h, tick_of(now)))
            return NULL;
    }
}

uint64_t rp__timers_next_deadline(const rp_timer_wheel *h)
{
    if (h->run_pos < h->run_len)
        return h->run[h->run_pos].deadline;
    if (h->wheel_count == 0)
        return UINT64_MAX;
    uint64_t m = UINT64_MAX;
    /* Level 0: the first non-empty slot from cur on holds the earliest ticks. */
    uint32_t i = (uint32_t)(h->cur & L0_MASK);
    int32_t j = find_l0(h, i, L0_MASK);
    if (j < 0 && i > 0)
        j = find_l0(h, 0, i - 1);
    if (j >= 0)
        m = h->slots[j].min;
    /* Above: the slot at cur's index holds either the nearest span (not cascaded yet) or the farthest
     * (a full revolution ahead); after it come the others in order. So the earlier of that slot and the
     * next non-empty one bounds the level. */
    for (unsigned k = 1; k < RP_TW_LEVELS; k++) {
        uint64_t word = h->bits[BASE(k) / 64];
        if (!word)
            continue;
        unsigned at = (unsigned)((h->cur >> SHIFT(k)) & LN_MASK);
        if (word & (UINT64_C(1) << at) && h->slots[BASE(k) + at].min < m)
            m = h->slots[BASE(k) + at].min;
        uint64_t after = at < 63 ? word & (~UINT64_C(0) << (at + 1)) : 0;
        uint64_t rest = after ? after : word;
        uint32_t s = BASE(k) + lowest_bit(rest);
        if (h->slots[s].min < m)
            m = h->slots[s].min;
    }
    return m;
}

rp_op *rp__timers_top(const rp_timer_wheel *h)
{
    if (h->run_pos < h->run_len)
        return h->run[h->run_pos].op;
    if (h->wheel_count == 0)
        return NULL;
    for (uint32_t w = 0; w < (RP_TW_SLOTS + 63) / 64; w++) {
        if (!h->bits[w])
            continue;
        const rp_timer_slot *s = &h->slots[w * 64 + lowest_bit(h->bits[w])];
        for (unsigned k = 0; k < RP_TW_CHAINS; k++)
            if (s->head[k])
                return s->head[k];
    }
    return NULL;
}

void rp__timers_free(rp_timer_wheel *h)
{
    free(h->slots);
    free(h->run);
    memset(h, 0, sizeof *h);
}
