#include "harness.h"

#include <cstdlib>
#include <sys/resource.h>

namespace rpt {

thread_local bool g_in_submit = false;
std::atomic<int> g_reentrant_callbacks{0};

namespace {

// The suite holds a few thousand descriptors at once.
struct RaiseFdLimit {
    RaiseFdLimit()
    {
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
            return;
        // macOS reports an infinite hard limit but refuses it: step down to what it accepts.
        const rlim_t wanted[] = {rl.rlim_max, 65536, 20000, 10240, 4096};
        for (rlim_t w : wanted) {
            if (w <= rl.rlim_cur || w > rl.rlim_max)
                continue;
            struct rlimit next = rl;
            next.rlim_cur = w;
            if (setrlimit(RLIMIT_NOFILE, &next) == 0)
                return;
        }
    }
} raise_fd_limit;

} // namespace

bool BackendSelected(rp_backend b)
{
    const char *only = getenv("RINGPORT_TEST_BACKENDS");
    if (!only || !*only)
        return true;
    std::string list = std::string(",") + only + ",";
    return list.find(std::string(",") + rp_backend_name(b) + ",") != std::string::npos;
}

std::vector<Mode> AllModes()
{
    std::vector<Mode> v;
    for (rp_backend b : {RP_BACKEND_IO_URING, RP_BACKEND_EPOLL, RP_BACKEND_KQUEUE, RP_BACKEND_IOCP})
        for (int workers : {2, 0})
            v.push_back({b, workers});
    return v;
}

std::string ModeName(const ::testing::TestParamInfo<Mode> &info)
{
    return std::string(rp_backend_name(info.param.backend)) + (info.param.workers ? "_threaded" : "_caller");
}

void LoopTest::SetUp()
{
    g_reentrant_callbacks = 0;
    if (!BackendSelected(GetParam().backend))
        GTEST_SKIP() << "not in RINGPORT_TEST_BACKENDS";
    rp_loop_options o;
    rp_loop_options_init(&o);
    o.backend = GetParam().backend;
    o.workers = GetParam().workers;
    int err = rp_loop_create(&loop, &o);
    if (err == RP_ENOSYS || err == RP_EPERM) // not built in, not in this kernel, or forbidden by policy
        GTEST_SKIP() << rp_backend_name(GetParam().backend) << " is not available here: " << rp_strerror(err);
    ASSERT_EQ(err, 0) << rp_strerror(err);
    ASSERT_EQ(rp_loop_backend(loop), GetParam().backend);
    if (!threaded()) {
        // Bounds every RP_RUN_ONCE so waiting can check its condition and deadline.
        heartbeat = std::make_unique<Op>();
        ASSERT_EQ(rp_timeout(loop, heartbeat->get(), RP_SOCKET_INVALID, 5, 5), 0);
    }
}

void LoopTest::Finish()
{
    if (!loop)
        return;
    EXPECT_EQ(rp_loop_destroy(loop), 0);
    loop = nullptr;
    if (heartbeat) {
        EXPECT_EQ(heartbeat->finals.load(), 1);
        EXPECT_EQ(heartbeat->last_result.load(), RP_ECANCELED);
    }
}

void LoopTest::TearDown()
{
    Finish();
    EXPECT_EQ(g_reentrant_callbacks.load(), 0) << "a callback ran inside its submitting call";
}

bool LoopTest::WaitFor(const std::function<bool()> &cond, int timeout_ms)
{
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!cond()) {
        if (std::chrono::steady_clock::now() > end)
            return false;
        if (threaded())
            std::this_thread::sleep_for(std::chrono::microseconds(500));
        else
            rp_loop_run(loop, RP_RUN_ONCE);
    }
    return true;
}

rp_socket LoopTest::Listen(uint16_t *port, const char *host)
{
    rp_addr a;
    EXPECT_EQ(rp_addr_parse(&a, host, 0), 0);
    rp_socket ls = RP_SOCKET_INVALID;
    int err = rp_listen(loop, &ls, &a, nullptr);
    EXPECT_EQ(err, 0) << rp_strerror(err);
    EXPECT_EQ(rp_socket_local_addr(loop, ls, &a), 0);
    *port = a.port;
    return ls;
}

void LoopTest::Pair(rp_socket *client, rp_socket *server, const char *host)
{
    uint16_t port;
    rp_socket ls = Listen(&port, host);
    Op acc, con;
    ASSERT_EQ(rp_accept(loop, acc.get(), ls, 0), 0);
    rp_addr a;
    rp_addr_parse(&a, host, port);
    ASSERT_EQ(rp_connect(loop, con.get(), &a, nullptr), 0);
    ASSERT_TRUE(WaitFor([&] { return acc.done() && con.done(); }));
    ASSERT_EQ(acc.op.result, 0) << rp_strerror((int)acc.op.result);
    ASSERT_EQ(con.op.result, 0) << rp_strerror((int)con.op.result);
    *client = con.op.socket;
    *server = acc.op.socket;
    CloseAndWait(ls);
}

void LoopTest::CloseAndWait(rp_socket s)
{
    Op c;
    ASSERT_EQ(rp_close(loop, c.get(), s), 0);
    ASSERT_TRUE(WaitFor([&] { return c.done(); }));
    EXPECT_EQ(c.op.result, 0);
}

} // namespace rpt
