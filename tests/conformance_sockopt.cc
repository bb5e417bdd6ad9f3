// Socket options (rp_socket_set_option / get_option, keepalive, congestion control) and abortive close:
// values that round-trip through the kernel, getters that report what the kernel uses, what each platform
// lacks reported as RP_ENOTSUP, and bad input refused with RP_EINVAL / RP_EBADF.
#include "harness.h"
#include "rawsock.h"

#include <atomic>
#include <cstring>
#include <mutex>
#include <vector>

using namespace rpt;

namespace {

class SockOpt : public LoopTest {};

#if defined(__linux__)
constexpr bool kLinux = true;
#else
constexpr bool kLinux = false;
#endif
#if defined(_WIN32)
constexpr bool kWindows = true;
#else
constexpr bool kWindows = false;
#endif

TEST_P(SockOpt, BufferSizesReportWhatTheKernelUses)
{
    rp_socket c, s;
    ASSERT_NO_FATAL_FAILURE(Pair(&c, &s));
    rp_socket u = UdpBind("127.0.0.1");
    ASSERT_NE(u, RP_SOCKET_INVALID);
    for (rp_socket h : {c, u}) {
        for (rp_sockopt opt : {RP_SO_RECV_BUFFER, RP_SO_SEND_BUFFER}) {
            int64_t before = 0, small = 0, large = 0;
            ASSERT_EQ(rp_socket_get_option(loop, h, opt, &before), 0);
            EXPECT_GT(before, 0);
            ASSERT_EQ(rp_socket_set_option(loop, h, opt, 16384), 0);
            ASSERT_EQ(rp_socket_get_option(loop, h, opt, &small), 0);
            ASSERT_EQ(rp_socket_set_option(loop, h, opt, 131072), 0);
            ASSERT_EQ(rp_socket_get_option(loop, h, opt, &large), 0);
            // Linux doubles what is asked for (and clamps it to the system maximum); others keep it.
            EXPECT_GE(small, 16384 / 2);
            EXPECT_GT(large, small) << "a larger buffer asked for is larger";
            if (kLinux) {
                EXPECT_EQ(small, 2 * 16384);
            }
        }
    }
    CloseAndWait(u);
    CloseAndWait(c);
    CloseAndWait(s);
}

TEST_P(SockOpt, TosAndNodelayRoundTrip)
{
    rp_socket c, s;
    ASSERT_NO_FATAL_FAILURE(Pair(&c, &s));
    int64_t v = -1;
    int rc = rp_socket_set_option(loop, c, RP_SO_TOS, 0x28);
    if (kWindows) {
        EXPECT_EQ(rc, RP_ENOTSUP) << "Windows ignores IP_TOS: it must not pretend to set it";
        EXPECT_EQ(rp_socket_get_option(loop, c, RP_SO_TOS, &v), RP_ENOTSUP);
    } else {
        ASSERT_EQ(rc, 0);
        ASSERT_EQ(rp_socket_get_option(loop, c, RP_SO_TOS, &v), 0);
        EXPECT_EQ(v, 0x28);
    }
    ASSERT_EQ(rp_socket_get_option(loop, c, RP_SO_TCP_NODELAY, &v), 0);
    EXPECT_EQ(v, 1) << "connections are TCP_NODELAY by default";
    ASSERT_EQ(rp_socket_set_option(loop, c, RP_SO_TCP_NODELAY, 0), 0);
    ASSERT_EQ(rp_socket_get_option(loop, c, RP_SO_TCP_NODELAY, &v), 0);
    EXPECT_EQ(v, 0);
    if (Ipv6Available() && !kWindows) {
        rp_socket u6 = UdpBind("::1");
        ASSERT_NE(u6, RP_SOCKET_INVALID);
        ASSERT_EQ(rp_socket_set_option(loop, u6, RP_SO_TOS, 0xB8), 0);
        ASSERT_EQ(rp_socket_get_option(loop, u6, RP_SO_TOS, &v), 0);
        EXPECT_EQ(v, 0xB8) << "IPV6_TCLASS";
        CloseAndWait(u6);
    }
    CloseAndWait(c);
    CloseAndWait(s);
}

TEST_P(SockOpt, UserTimeoutRoundTripsWhereThePlatformHasIt)
{
    rp_socket c, s;
    ASSERT_NO_FATAL_FAILURE(Pair(&c, &s));
    int rc = rp_socket_set_option(loop, c, RP_SO_TCP_USER_TIMEOUT_MS, 5000);
    if (!kLinux && !kWindows) {
        EXPECT_EQ(rc, RP_ENOTSUP);
    } else if (kWindows && RunningUnderWine() && rc == RP_ENOTSUP) {
        // Wine does not implement TCP_MAXRT; Windows does.
    } else {
        ASSERT_EQ(rc, 0);
        int64_t v = 0;
        ASSERT_EQ(rp_socket_get_option(loop, c, RP_SO_TCP_USER_TIMEOUT_MS, &v), 0);
        EXPECT_EQ(v, 5000);
        if (kLinux) {
            EXPECT_EQ(rp_socket_set_option(loop, c, RP_SO_TCP_USER_TIMEOUT_MS, 0), 0) << "back to the default";
            ASSERT_EQ(rp_socket_get_option(loop, c, RP_SO_TCP_USER_TIMEOUT_MS, &v), 0);
            EXPECT_EQ(v, 0);
        }
    }
    CloseAndWait(c);
    CloseAndWait(s);
}

TEST_P(SockOpt, KeepaliveTurnsOnAndOff)
{
    rp_socket c, s;
    ASSERT_NO_FATAL_FAILURE(Pair(&c, &s));
    int64_t v = -1;
    ASSERT_EQ(rp_socket_get_option(loop, c, RP_SO_TCP_KEEPALIVE, &v), 0);
    EXPECT_EQ(v, 0);
    rp_keepalive ka;
    memset(&ka, 0, sizeof ka);
    ka.idle_s = 60;
    ka.interval_s = 10;
    ka.count = 5;
    int rc = rp_socket_set_keepalive(loop, c, &ka);
    if (kWindows && rc == RP_ENOTSUP) {
        // Windows before 10 1709 (and Wine) only has SIO_KEEPALIVE_VALS: the count is always 10.
        ka.count = 10;
        rc = rp_socket_set_keepalive(loop, c, &ka);
    }
    ASSERT_EQ(rc, 0) << rp_strerror(rc);
    ASSERT_EQ(rp_socket_get_option(loop, c, RP_SO_TCP_KEEPALIVE, &v), 0);
    EXPECT_EQ(v, 1);
    ASSERT_EQ(rp_socket_set_keepalive(loop, c, nullptr), 0);
    ASSERT_EQ(rp_socket_get_option(loop, c, RP_SO_TCP_KEEPALIVE, &v), 0);
    EXPECT_EQ(v, 0);
    // Bad timing or reserved fields.
    rp_keepalive bad = ka;
    bad.idle_s = 0;
    EXPECT_EQ(rp_socket_set_keepalive(loop, c, &bad), RP_EINVAL);
    bad = ka;
    bad.count = 128;
    EXPECT_EQ(rp_socket_set_keepalive(loop, c, &bad), RP_EINVAL);
    bad = ka;
    bad.interval_s = 40000;
    EXPECT_EQ(rp_socket_set_keepalive(loop, c, &bad), RP_EINVAL);
    bad = ka;
    bad.reserved[4] = 1;
    EXPECT_EQ(rp_socket_set_keepalive(loop, c, &bad), RP_EINVAL);
    CloseAndWait(c);
    CloseAndWait(s);
}

TEST_P(SockOpt, CongestionControlByNameWhereThePlatformHasIt)
{
    rp_socket c, s;
    ASSERT_NO_FATAL_FAILURE(Pair(&c, &s));
    char name[16];
    int rc = rp_socket_get_congestion(loop, c, name, sizeof name);
    if (!kLinux) {
        // FreeBSD has TCP_CONGESTION too; macOS and Windows do not.
        if (rc == RP_ENOTSUP) {
            EXPECT_EQ(rp_socket_set_congestion(loop, c, "reno"), RP_ENOTSUP);
            CloseAndWait(c);
            CloseAndWait(s);
            return;
        }
    }
    ASSERT_GT(rc, 0) << rp_strerror(rc);
    EXPECT_EQ((size_t)rc, strlen(name));
    ASSERT_EQ(rp_socket_set_congestion(loop, c, "reno"), 0) << "reno is built into every kernel";
    ASSERT_EQ(rp_socket_get_congestion(loop, c, name, sizeof name), 4);
    EXPECT_STREQ(name, "reno");
    EXPECT_EQ(rp_socket_get_congestion(loop, c, name, 4), RP_ENOBUFS) << "no room for the NUL";
    EXPECT_EQ(rp_socket_set_congestion(loop, c, "no-such-cc"), RP_ENOTSUP);
    EXPECT_EQ(rp_socket_set_congestion(loop, c, ""), RP_EINVAL);
    EXPECT_EQ(rp_socket_set_congestion(loop, c, "sixteen-chars-xx"), RP_EINVAL);
    EXPECT_EQ(rp_socket_set_congestion(loop, c, nullptr), RP_EINVAL);
    CloseAndWait(c);
    CloseAndWait(s);
}

TEST_P(SockOpt, AbortiveCloseResetsThePeer)
{
    rp_socket c, s;
    ASSERT_NO_FATAL_FAILURE(Pair(&c, &s));
    Reader *r = StartReader(c);
    // Unsent data is discarded and the peer sees a reset, not the end of the stream.
    unsigned char *data = NewBuf(1000, 7);
    Op *snd = NewOp();
    ASSERT_EQ(Send(snd, s, data, 1000), 0);
    ASSERT_TRUE(WaitFor([&] { return snd->done(); }));
    ASSERT_TRUE(WaitFor([&] { return r->bytes.load() == 1000; }));
    Op *cl = NewOp();
    // As the harness's wrappers do: what the callback checks is set before the submission, which may
    // complete on a worker before this thread goes on.
    cl->expected_kind = RP_OP_CLOSE;
    cl->expected_socket = s;
    cl->submits++;
    int rc;
    {
        SubmitScope scope;
        rc = rp_close_ex(loop, cl->get(), s, RP_CLOSE_ABORT);
    }
    if (rc != 0)
        cl->submits--;
    ASSERT_EQ(rc, 0);
    ASSERT_TRUE(WaitFor([&] { return cl->done(); }));
    EXPECT_EQ(cl->result(), 0);
    ASSERT_TRUE(WaitFor([&] { return r->ended.load(); }));
    EXPECT_EQ(r->error.load(), RP_ECONNRESET) << rp_strerror((int)r->error.load());
    EXPECT_EQ(rp_close_ex(loop, nullptr, s, 0), RP_EBADF) << "the handle is dead";
    CloseAndWait(c);
}

TEST_P(SockOpt, BadArgumentsAreRefused)
{
    rp_socket c, s;
    ASSERT_NO_FATAL_FAILURE(Pair(&c, &s));
    uint16_t port = 0;
    rp_socket l = Listen(&port);
    rp_socket u = UdpBind("127.0.0.1");
    ASSERT_NE(u, RP_SOCKET_INVALID);
    int64_t v = 0;
    EXPECT_EQ(rp_socket_set_option(nullptr, c, RP_SO_RECV_BUFFER, 4096), RP_EINVAL);
    EXPECT_EQ(rp_socket_get_option(loop, c, RP_SO_RECV_BUFFER, nullptr), RP_EINVAL);
    EXPECT_EQ(rp_socket_set_option(loop, c, (rp_sockopt)0, 1), RP_EINVAL) << "unknown option";
    EXPECT_EQ(rp_socket_set_option(loop, c, (rp_sockopt)99, 1), RP_EINVAL);
    EXPECT_EQ(rp_socket_get_option(loop, c, (rp_sockopt)99, &v), RP_EINVAL);
    EXPECT_EQ(rp_socket_set_option(loop, c, RP_SO_RECV_BUFFER, 0), RP_EINVAL);
    EXPECT_EQ(rp_socket_set_option(loop, c, RP_SO_RECV_BUFFER, -5), RP_EINVAL);
    EXPECT_EQ(rp_socket_set_option(loop, c, RP_SO_SEND_BUFFER, (int64_t)1 << 40), RP_EINVAL);
    EXPECT_EQ(rp_socket_set_option(loop, c, RP_SO_TOS, 256), RP_EINVAL);
    EXPECT_EQ(rp_socket_set_option(loop, c, RP_SO_TCP_NODELAY, 2), RP_EINVAL);
    EXPECT_EQ(rp_socket_set_option(loop, c, RP_SO_TCP_USER_TIMEOUT_MS, -1), RP_EINVAL);
    EXPECT_EQ(rp_socket_set_option(loop, c, RP_SO_TCP_KEEPALIVE, 1), RP_EINVAL) << "get only";
    // TCP options on a UDP socket, and per-connection ones on a listener.
    EXPECT_EQ(rp_socket_set_option(loop, u, RP_SO_TCP_NODELAY, 1), RP_EINVAL);
    EXPECT_EQ(rp_socket_set_option(loop, u, RP_SO_TCP_USER_TIMEOUT_MS, 1000), RP_EINVAL);
    EXPECT_EQ(rp_socket_get_option(loop, u, RP_SO_TCP_KEEPALIVE, &v), RP_EINVAL);
    EXPECT_EQ(rp_socket_set_option(loop, l, RP_SO_TCP_NODELAY, 1), RP_EINVAL);
    rp_keepalive ka;
    memset(&ka, 0, sizeof ka);
    ka.idle_s = ka.interval_s = ka.count = 3;
    EXPECT_EQ(rp_socket_set_keepalive(loop, u, &ka), RP_EINVAL);
    EXPECT_EQ(rp_socket_set_keepalive(nullptr, c, &ka), RP_EINVAL);
    EXPECT_EQ(rp_socket_set_congestion(loop, u, "reno"), RP_EINVAL);
    char name[16];
    EXPECT_EQ(rp_socket_get_congestion(loop, u, name, sizeof name), RP_EINVAL);
    EXPECT_EQ(rp_socket_get_congestion(loop, c, nullptr, 16), RP_EINVAL);
    // Abortive close applies to connections only; unknown flags.
    EXPECT_EQ(rp_close_ex(loop, nullptr, u, RP_CLOSE_ABORT), RP_EINVAL);
    EXPECT_EQ(rp_close_ex(loop, nullptr, l, RP_CLOSE_ABORT), RP_EINVAL);
    EXPECT_EQ(rp_close_ex(loop, nullptr, c, 0x80), RP_EINVAL);
    EXPECT_EQ(rp_close_ex(nullptr, nullptr, c, 0), RP_EINVAL);
    // Closed and garbage handles.
    CloseAndWait(u);
    for (rp_socket h : {u, (rp_socket)0, ~(rp_socket)0}) {
        EXPECT_EQ(rp_socket_set_option(loop, h, RP_SO_RECV_BUFFER, 4096), RP_EBADF);
        EXPECT_EQ(rp_socket_get_option(loop, h, RP_SO_RECV_BUFFER, &v), RP_EBADF);
        EXPECT_EQ(rp_socket_set_keepalive(loop, h, &ka), RP_EBADF);
        EXPECT_EQ(rp_socket_set_congestion(loop, h, "reno"), RP_EBADF);
        EXPECT_EQ(rp_socket_get_congestion(loop, h, name, sizeof name), RP_EBADF);
        EXPECT_EQ(rp_close_ex(loop, nullptr, h, RP_CLOSE_ABORT), RP_EBADF);
    }
    CloseAndWait(l);
    CloseAndWait(c);
    CloseAndWait(s);
}

TEST_P(SockOpt, ReuseportListenersShareNewConnections)
{
    rp_listen_options lo;
    rp_listen_options_init(&lo);
    lo.flags = RP_LISTEN_REUSEPORT;
    lo.worker = 0;
    rp_addr any;
    ASSERT_EQ(rp_addr_parse(&any, "127.0.0.1", 0), 0);
    rp_socket a = RP_SOCKET_INVALID, b = RP_SOCKET_INVALID;
    int rc = rp_listen(loop, &a, &any, &lo);
    if (kWindows) {
        EXPECT_EQ(rc, RP_ENOTSUP) << "Windows has no SO_REUSEPORT";
        return;
    }
    ASSERT_EQ(rc, 0) << rp_strerror(rc);
    rp_addr bound = LocalAddr(a);
    lo.worker = threaded() ? 1 : 0; // one listener per worker: the sharding this option is for
    ASSERT_EQ(rp_listen(loop, &b, &bound, &lo), 0) << "a second listener on the same port";
    rp_listen_options plain;
    rp_listen_options_init(&plain);
    rp_socket c = RP_SOCKET_INVALID;
    EXPECT_EQ(rp_listen(loop, &c, &bound, &plain), RP_EADDRINUSE) << "only listeners that all ask may share";
    std::atomic<int> got_a{0}, got_b{0};
    std::mutex mu;
    std::vector<rp_socket> accepted;
    auto on_accept = [&](std::atomic<int> *n) {
        return [&, n](rp_op *o) {
            if (o->result == 0) {
                (*n)++;
                std::lock_guard<std::mutex> g(mu);
                accepted.push_back(o->socket);
            }
        };
    };
    Op *acc_a = NewOp(on_accept(&got_a)), *acc_b = NewOp(on_accept(&got_b));
    ASSERT_EQ(Accept(acc_a, a, RP_ACCEPT_MULTISHOT), 0);
    ASSERT_EQ(Accept(acc_b, b, RP_ACCEPT_MULTISHOT), 0);
    const int n = 64;
    std::vector<Op *> conns;
    for (int i = 0; i < n; i++) {
        conns.push_back(NewOp());
        ASSERT_EQ(Connect(conns.back(), bound), 0);
    }
    ASSERT_TRUE(WaitFor([&] { return got_a.load() + got_b.load() == n; }));
    for (Op *o : conns) {
        ASSERT_TRUE(WaitFor([&] { return o->done(); }));
        ASSERT_EQ(o->result(), 0);
    }
#if defined(__linux__) || defined(__FreeBSD__)
    // The kernel hashes each connection to one of the listeners: 64 all to one would be a 2^-63 chance.
    EXPECT_GT(got_a.load(), 0);
    EXPECT_GT(got_b.load(), 0);
#endif
    ASSERT_EQ(Cancel(acc_a), 0);
    ASSERT_EQ(Cancel(acc_b), 0);
    ASSERT_TRUE(WaitFor([&] { return acc_a->done() && acc_b->done(); }));
    for (Op *o : conns)
        CloseAndWait(o->socket());
    std::vector<rp_socket> all;
    {
        std::lock_guard<std::mutex> g(mu);
        all = accepted;
    }
    for (rp_socket h : all)
        CloseAndWait(h);
    CloseAndWait(a);
    CloseAndWait(b);
}

RPT_INSTANTIATE(SockOpt);

} // namespace
