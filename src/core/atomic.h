/* Atomics through one wrapper: C11 <stdatomic.h> where it exists, Interlocked intrinsics on MSVC.
 * Only the handful of operations ringport needs, with explicit memory orders. */
#ifndef RP_ATOMIC_H
#define RP_ATOMIC_H

#include <stdint.h>

#if defined(_MSC_VER) && !defined(__clang__)
#include <windows.h>
typedef struct { volatile LONG v; } rp_atomic_u32;
typedef struct { void *volatile v; } rp_atomic_ptr;

static __inline uint32_t rp__atomic_load_u32(rp_atomic_u32 *a) { return (uint32_t)InterlockedOr(&a->v, 0); }
static __inline void rp__atomic_store_u32(rp_atomic_u32 *a, uint32_t x) { InterlockedExchange(&a->v, (LONG)x); }
static __inline uint32_t rp__atomic_relaxed_u32(rp_atomic_u32 *a) { return (uint32_t)a->v; }
static __inline uint32_t rp__atomic_fetch_add_u32(rp_atomic_u32 *a, uint32_t x)
{ return (uint32_t)InterlockedExchangeAdd(&a->v, (LONG)x); }
static __inline uint32_t rp__atomic_exchange_u32(rp_atomic_u32 *a, uint32_t x)
{ return (uint32_t)InterlockedExchange(&a->v, (LONG)x); }
static __inline int rp__atomic_cas_u32(rp_atomic_u32 *a, uint32_t *expected, uint32_t desired)
{
    LONG old = InterlockedCompareExchange(&a->v, (LONG)desired, (LONG)*expected);
    if ((uint32_t)old == *expected) return 1;
    *expected = (uint32_t)old;
    return 0;
}
static __inline void *rp__atomic_load_ptr(rp_atomic_ptr *a) { return InterlockedCompareExchangePointer(&a->v, NULL, NULL); }
static __inline void rp__atomic_store_ptr(rp_atomic_ptr *a, void *p) { InterlockedExchangePointer(&a->v, p); }
static __inline void *rp__atomic_exchange_ptr(rp_atomic_ptr *a, void *p) { return InterlockedExchangePointer(&a->v, p); }
static __inline int rp__atomic_cas_ptr(rp_atomic_ptr *a, void **expected, void *desired)
{
    void *old = InterlockedCompareExchangePointer(&a->v, desired, *expected);
    if (old == *expected) return 1;
    *expected = old;
    return 0;
}
static __inline void rp__atomic_fence(void) { MemoryBarrier(); }
#else
#include <stdatomic.h>
typedef struct { _Atomic uint32_t v; } rp_atomic_u32;
typedef struct { _Atomic(void *) v; } rp_atomic_ptr;

static inline uint32_t rp__atomic_load_u32(rp_atomic_u32 *a) { return atomic_load_explicit(&a->v, memory_order_acquire); }
static inline void rp__atomic_store_u32(rp_atomic_u32 *a, uint32_t x) { atomic_store_explicit(&a->v, x, memory_order_release); }
static inline uint32_t rp__atomic_relaxed_u32(rp_atomic_u32 *a) { return atomic_load_explicit(&a->v, memory_order_relaxed); }
static inline uint32_t rp__atomic_fetch_add_u32(rp_atomic_u32 *a, uint32_t x)
{ return atomic_fetch_add_explicit(&a->v, x, memory_order_acq_rel); }
static inline uint32_t rp__atomic_exchange_u32(rp_atomic_u32 *a, uint32_t x)
{ return atomic_exchange_explicit(&a->v, x, memory_order_acq_rel); }
static inline int rp__atomic_cas_u32(rp_atomic_u32 *a, uint32_t *expected, uint32_t desired)
{ return atomic_compare_exchange_strong_explicit(&a->v, expected, desired, memory_order_acq_rel, memory_order_acquire); }
static inline void *rp__atomic_load_ptr(rp_atomic_ptr *a) { return atomic_load_explicit(&a->v, memory_order_acquire); }
static inline void rp__atomic_store_ptr(rp_atomic_ptr *a, void *p) { atomic_store_explicit(&a->v, p, memory_order_release); }
static inline void *rp__atomic_exchange_ptr(rp_atomic_ptr *a, void *p)
{ return atomic_exchange_explicit(&a->v, p, memory_order_acq_rel); }
static inline int rp__atomic_cas_ptr(rp_atomic_ptr *a, void **expected, void *desired)
{ return atomic_compare_exchange_weak_explicit(&a->v, expected, desired, memory_order_acq_rel, memory_order_acquire); }
static inline void rp__atomic_fence(void) { atomic_thread_fence(memory_order_seq_cst); }
#endif

#endif
