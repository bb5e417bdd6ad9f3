/* The one place for compiler-specific constructs. Everything else in ringport is plain C11. */
#ifndef RP_COMPAT_H
#define RP_COMPAT_H

#if defined(_MSC_VER)
#  define RP_THREAD_LOCAL __declspec(thread) /* MSVC's C mode has no _Thread_local */
#else
#  define RP_THREAD_LOCAL _Thread_local
#endif

#define RP_UNUSED(x) ((void)(x))

/* Compile-time check (C11 _Static_assert; MSVC accepts it in C mode from /std:c11 on). */
#define RP_STATIC_ASSERT(cond, message) _Static_assert(cond, message)

#endif
