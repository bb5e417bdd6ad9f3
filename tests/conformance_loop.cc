// Loop life cycle without I/O: option defaults, backend names, bad options, creation variants, the
// RINGPORT_BACKEND override.
#include "harness.h"
#include "rawsock.h"

#include <cstdlib>
#include <cstring>
#include <string>

using namespace rpt;

namespace {

TEST(Loop, OptionDefaults)
{
    rp_loop_options lo;
    memset(&lo, 0xAB, sizeof lo);
    rp_loop_options_init(&lo);
    EXPECT_EQ(lo.backend, RP_BACKEND_AUTO);
    EXPECT_EQ(lo.workers, RP_WORKERS_PER_CPU);
    EXPECT_EQ(lo.queue_depth, 0u);
    EXPECT_EQ(lo.zerocopy_min, 0u);
    EXPECT_EQ(lo.spin_us, 0u);
    for (uint32_t r : lo.reserved)
        EXPECT_EQ(r, 0u);
    rp_listen_options so;
    memset(&so, 0xAB, sizeof so);
    rp_listen_options_init(&so);
    EXPECT_TRUE(so.backlog == 511 || so.backlog == 0) << so.backlog;
    EXPECT_EQ(so.flags, 0u);
    EXPECT_EQ(so.worker, -1);
    EXPECT_EQ(so.accept_worker, -1);
    for (uint32_t r : so.reserved)
        EXPECT_EQ(r, 0u);
    rp_connect_options co;
    memset(&co, 0xAB, sizeof co);
    rp_connect_options_init(&co);
    EXPECT_EQ(co.flags, 0u);
    EXPECT_EQ(co.worker, -1);
    for (uint32_t r : co.reserved)
        EXPECT_EQ(r, 0u);
    rp_op op;
    memset(&op, 0xAB, sizeof op);
    int x;
    ASSERT_EQ(rp_op_init(&op, nullptr, &x), 0);
    EXPECT_EQ(op.cb, nullptr);
    EXPECT_EQ(op.user, &x);
    EXPECT_EQ(op.result, 0);
    EXPECT_EQ(op.socket, RP_SOCKET_INVALID);
    EXPECT_EQ(op.flags, 0u);
    EXPECT_EQ(op.kind, (uint32_t)RP_OP_NONE);
    EXPECT_EQ(op.buf, nullptr);
    EXPECT_EQ(rp_op_pending(&op), 0);
    EXPECT_EQ(rp_op_sent(&op), 0);
    // The init functions tolerate NULL.
    rp_loop_options_init(nullptr);
    rp_listen_options_init(nullptr);
    rp_connect_options_init(nullptr);
}

TEST(Loop, BackendNames)
{
    EXPECT_STREQ(rp_backend_name(RP_BACKEND_AUTO), "auto");
    EXPECT_STREQ(rp_backend_name(RP_BACKEND_IO_URING), "io_uring");
    EXPECT_STREQ(rp_backend_name(RP_BACKEND_EPOLL), "epoll");
    EXPECT_STREQ(rp_backend_name(RP_BACKEND_KQUEUE), "kqueue");
    EXPECT_STREQ(rp_backend_name(RP_BACKEND_IOCP), "iocp");
    EXPECT_NE(rp_backend_name((rp_backend)77), nullptr);
    EXPECT_NE(rp_backend_name((rp_backend)-1), nullptr);
}

TEST(Loop, CreateRejectsBadOptions)
{
    rp_loop *l = nullptr;
    rp_loop_options o;
    EXPECT_EQ(rp_loop_create(nullptr, nullptr), RP_EINVAL);
    rp_loop_options_init(&o);
    EXPECT_EQ(rp_loop_create(nullptr, &o), RP_EINVAL);
    for (size_t i : {size_t(0), size_t(5), sizeof o.reserved / sizeof o.reserved[0] - 1}) {
        rp_loop_options_init(&o);
        o.reserved[i] = 1;
        EXPECT_EQ(rp_loop_create(&l, &o), RP_EINVAL) << "reserved[" << i << "]";
    }
    rp_loop_options_init(&o);
    o.flags = 0x80;
    EXPECT_EQ(rp_loop_create(&l, &o), RP_EINVAL) << "unknown loop flag";
    rp_loop_options_init(&o);
    o.workers = 257;
    EXPECT_EQ(rp_loop_create(&l, &o), RP_EINVAL) << "more than 256 workers";
    rp_loop_options_init(&o);
    o.workers = -2;
    EXPECT_EQ(rp_loop_create(&l, &o), RP_EINVAL);
    rp_loop_options_init(&o);
    o.backend = (rp_backend)42;
    EXPECT_EQ(rp_loop_create(&l, &o), RP_EINVAL);
    rp_loop_options_init(&o);
    o.spin_us = 1000001;
    EXPECT_EQ(rp_loop_create(&l, &o), RP_EINVAL) << "busy-poll window over a second";
    EXPECT_EQ(l, nullptr) << "a failed create set *out";
}

// RP_LOOP_SQPOLL is io_uring's: on any other backend the loop is refused, never run without it.
TEST(Loop, SqpollIsRefusedOutsideIoUring)
{
    for (rp_backend b : {RP_BACKEND_EPOLL, RP_BACKEND_KQUEUE, RP_BACKEND_IOCP}) {
        rp_loop_options o;
        rp_loop_options_init(&o);
        o.backend = b;
        o.workers = 1;
        o.flags = RP_LOOP_SQPOLL;
        rp_loop *l = nullptr;
        int err = rp_loop_create(&l, &o);
        if (err == RP_ENOSYS)
            continue; // not built in here
        EXPECT_EQ(err, RP_ENOTSUP) << rp_backend_name(b);
        EXPECT_EQ(l, nullptr);
        if (l)
            rp_loop_destroy(l);
    }
}

TEST(Loop, CreateVariants)
{
    // Defaults (NULL options): AUTO, one worker per CPU.
    rp_loop *l = nullptr;
    int rc = rp_loop_create(&l, nullptr);
    ASSERT_EQ(rc, 0) << rp_strerror(rc);
    EXPECT_NE(rp_loop_backend(l), RP_BACKEND_AUTO);
    unsigned cpus = std::thread::hardware_concurrency();
    if (cpus > 0 && cpus <= 256) {
        EXPECT_EQ(rp_loop_workers(l), (int)cpus);
    }
    EXPECT_GE(rp_loop_workers(l), 1);
    EXPECT_EQ(rp_loop_destroy(l), 0);
    // Small and odd queue depths are rounded up, the documented maximum (32768) is accepted, on every
    // backend this machine has.
    for (rp_backend be : {RP_BACKEND_IO_URING, RP_BACKEND_EPOLL, RP_BACKEND_KQUEUE, RP_BACKEND_IOCP}) {
        if (!BackendSelected(be))
            continue;
        for (unsigned depth : {1u, 3u, 100u, 4096u, 32768u})
            for (int w : {0, 1}) {
                rp_loop_options o;
                rp_loop_options_init(&o);
                o.backend = be;
                o.workers = w;
                o.queue_depth = depth;
                l = nullptr;
                rc = rp_loop_create(&l, &o);
                if (rc == RP_ENOSYS || rc == RP_EPERM)
                    break; // backend not available here
                EXPECT_EQ(rc, 0) << rp_backend_name(be) << ", workers " << w << ", queue_depth " << depth << ": "
                                 << rp_strerror(rc);
                if (rc == 0) {
                    EXPECT_EQ(rp_loop_destroy(l), 0);
                }
            }
    }
    rp_loop_options o;
    rp_loop_options_init(&o);
    o.queue_depth = 1u << 20; // above the maximum: rejected, or clamped
    l = nullptr;
    rc = rp_loop_create(&l, &o);
    EXPECT_TRUE(rc == RP_EINVAL || rc == 0) << rp_strerror(rc);
    if (rc == 0) {
        EXPECT_EQ(rp_loop_destroy(l), 0);
    }
}

// Sets an environment variable for one scope and restores the previous value.
struct ScopedEnv {
    std::string name, old;
    bool had;
    ScopedEnv(const char *n, const char *value) : name(n)
    {
        const char *o = getenv(n);
        had = o != nullptr;
        if (had)
            old = o;
        if (value)
            EnvSet(n, value);
        else
            EnvUnset(n);
    }
    ~ScopedEnv()
    {
        if (had)
            EnvSet(name.c_str(), old.c_str());
        else
            EnvUnset(name.c_str());
    }
};

TEST(Loop, EnvironmentOverridesAutoBackend)
{
#if defined(__linux__)
    const char *name = "epoll";
    const rp_backend expected = RP_BACKEND_EPOLL;
#elif defined(_WIN32)
    const char *name = "iocp";
    const rp_backend expected = RP_BACKEND_IOCP;
#else
    const char *name = "kqueue";
    const rp_backend expected = RP_BACKEND_KQUEUE;
#endif
    rp_loop *l = nullptr;
    rp_loop_options o;
    rp_loop_options_init(&o);
    o.workers = 0;
    {
        ScopedEnv env("RINGPORT_BACKEND", name);
        ASSERT_EQ(rp_loop_create(&l, &o), 0);
        EXPECT_EQ(rp_loop_backend(l), expected);
        EXPECT_EQ(rp_loop_destroy(l), 0);
    }
    {
        ScopedEnv env("RINGPORT_BACKEND", "nonsense");
        l = nullptr;
        EXPECT_EQ(rp_loop_create(&l, &o), RP_EINVAL) << "unknown RINGPORT_BACKEND value";
        EXPECT_EQ(l, nullptr);
    }
    {
        // The override applies to AUTO only: an explicit backend is kept.
        ScopedEnv env("RINGPORT_BACKEND", "io_uring");
        rp_loop_options e = o;
        e.backend = expected;
        l = nullptr;
        ASSERT_EQ(rp_loop_create(&l, &e), 0);
        EXPECT_EQ(rp_loop_backend(l), expected);
        EXPECT_EQ(rp_loop_destroy(l), 0);
    }
    {
        ScopedEnv env("RINGPORT_BACKEND", nullptr);
        l = nullptr;
        ASSERT_EQ(rp_loop_create(&l, &o), 0);
        EXPECT_NE(rp_loop_backend(l), RP_BACKEND_AUTO);
#if defined(__linux__)
        // On Linux AUTO prefers io_uring; anything else must come with the reason.
        if (rp_loop_backend(l) != RP_BACKEND_IO_URING) {
            EXPECT_NE(rp_loop_fallback_reason(l), nullptr) << "AUTO fell back without saying why";
        } else {
            EXPECT_EQ(rp_loop_fallback_reason(l), nullptr);
        }
#endif
        EXPECT_EQ(rp_loop_destroy(l), 0);
    }
}

} // namespace
