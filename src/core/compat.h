/* The one place for compiler-specific constructs. Everything else in ringport is plain C11. */
#ifndef RP_COMPAT_H
#define RP_COMPAT_H

#if defined(_MSC_VER)
#  define RP_THREAD_LOCAL __declspec(thread)
#  define RP_LIKELY(x) (x)
#  define RP_UNLIKELY(x) (x)
#elif defined(__GNUC__) || defined(__clang__)
#  define RP_THREAD_LOCAL _Thread_local
#  define RP_LIKELY(x) __builtin_expect(!!(x), 1)
#  define RP_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#  define RP_THREAD_LOCAL _Thread_local
#  define RP_LIKELY(x) (x)
#  define RP_UNLIKELY(x) (x)
#endif

#define RP_UNUSED(x) ((void)(x))
#define RP_CONTAINER_OF(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#endif
