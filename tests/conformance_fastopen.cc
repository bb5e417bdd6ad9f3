// TCP Fast Open: listeners with rp_listen_options.fastopen_queue, connects with
// rp_connect_options.early_data. The early data reaches the peer first and intact, ahead of what is sent
// after the connect, whether it rode in the SYN (a cookie from an earlier connection) or went after the
// handshake; failures release the socket; cancels and deadlines end the connect; bad values are refused.
// On Linux, with net.ipv4.tcp_fastopen having both the client and the server bit (3: scripts/test.sh sets
// it), the connections after the first must really carry their data in the SYN (RP_SO_TCP_FASTOPENED).
#include "harness.h"
#include "rawsock.h"

#include <cstdio>
#include <cstring>
#include <vector>

#if !defined(_WIN32)
#include <arpa/inet.h>
#endif

using namespace rpt;

namespace {

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

// net.ipv4.tcp_fastopen (Linux), or -1.
int TfoSysctl()
{
#if defined(__linux__)
    int v = -1;
    if (FILE *f = std::fopen("/proc/sys/net/ipv4/tcp_fastopen", "r")) {
        if (std::fscanf(f, "%d", &v) != 1)
            v = -1;
        std::fclose(f);
    }
    return v;
#else
    return -1;
#endif
}

// A plain listener of the system's on host (IPv4), port chosen by the kernel; kRawInvalid on failure.
RawSock RawListenOn(const char *host, uint16_t *port, int backlog)
{
    RawSock s = RawSocket(AF_INET);
    if (s == kRawInvalid)
        return s;
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    socklen_t len = sizeof sa;
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1 || bind(s, reinterpret_cast<sockaddr *>(&sa), sizeof sa) != 0 ||
        listen(s, backlog) != 0 || getsockname(s, reinterpret_cast<sockaddr *>(&sa), &len) != 0) {
        RawClose(s);
        return kRawInvalid;
    }
    *port = ntohs(sa.sin_port);
    return s;
}

// The peer port of a connected plain socket, or 0.
uint16_t RawPeerPort(RawSock s)
{
    sockaddr_in sa{};
    socklen_t len = sizeof sa;
    return getpeername(s, reinterpret_cast<sockaddr *>(&sa), &len) == 0 ? ntohs(sa.sin_port) : 0;
}

class FastOpen : public LoopTest {
protected:
    // A listener on host with fastopen_queue set; where the platform refuses it (RP_ENOTSUP, which
    // only a platform other than Linux may answer) a plain one, *tfo saying which.
    rp_socket FastOpenListener(bool *tfo, const char *host = "127.0.0.1")
    {
        rp_listen_options lo;
        rp_listen_options_init(&lo);
        lo.fastopen_queue = 16;
        rp_addr any;
        EXPECT_EQ(rp_addr_parse(&any, host, 0), 0);
        rp_socket ls = RP_SOCKET_INVALID;
        int rc = rp_listen(loop, &ls, &any, &lo);
        *tfo = rc == 0;
        if (rc == RP_ENOTSUP) {
            EXPECT_FALSE(kLinux) << "Linux has TCP_FASTOPEN on listeners";
            lo.fastopen_queue = 0;
            rc = rp_listen(loop, &ls, &any, &lo);
        }
        EXPECT_EQ(rc, 0) << rp_strerror(rc);
        return rc == 0 ? ls : RP_SOCKET_INVALID;
    }

    static rp_connect_options Early(const void *data, size_t len)
    {
        rp_connect_options co;
        rp_connect_options_init(&co);
        co.early_data = data;
        co.early_len = (uint32_t)len;
        return co;
    }

    // Connects to addr (listener ls) with `early` bytes of early data, then sends `rest` more bytes with
    // rp_send once the connect has completed; the accepted end must receive exactly those early + rest
    // bytes, in order, before the end of the stream. *client_fo / *server_fo: RP_SO_TCP_FASTOPENED of
    // both ends (-1 where the platform cannot tell).
    void RoundTrip(rp_socket ls, const rp_addr &addr, uint64_t seed, size_t early, size_t rest, int64_t *client_fo,
                   int64_t *server_fo)
    {
        const size_t total = early + rest;
        unsigned char *data = NewBuf(total);
        FillPattern(data, total, seed);
        Op *acc = NewOp(), *con = NewOp();
        ASSERT_EQ(Accept(acc, ls), 0);
        rp_connect_options co = Early(data, early);
        ASSERT_EQ(Connect(con, addr, &co), 0);
        ASSERT_TRUE(WaitFor([&] { return acc->done() && con->done(); }));
        ASSERT_EQ(con->result(), 0) << rp_strerror((int)con->result());
        ASSERT_EQ(acc->result(), 0) << rp_strerror((int)acc->result());
        rp_socket c = con->socket(), s = acc->socket();
        Reader *r = StartReader(s);
        if (rest) {
            Op *snd = NewOp();
            ASSERT_EQ(Send(snd, c, data + early, rest), 0);
            ASSERT_TRUE(WaitFor([&] { return snd->done(); }));
            ASSERT_EQ(snd->result(), (int64_t)rest) << rp_strerror((int)snd->result());
        }
        ASSERT_TRUE(WaitFor([&] { return r->bytes.load() >= total; }))
            << r->bytes.load() << " of " << total << " bytes arrived";
        int64_t v = -1;
        int rc = rp_socket_get_option(loop, c, RP_SO_TCP_FASTOPENED, &v);
        *client_fo = rc == 0 ? v : -1;
        EXPECT_TRUE(rc == 0 || (!kLinux && rc == RP_ENOTSUP)) << rp_strerror(rc);
        v = -1;
        rc = rp_socket_get_option(loop, s, RP_SO_TCP_FASTOPENED, &v);
        *server_fo = rc == 0 ? v : -1;
        EXPECT_TRUE(rc == 0 || (!kLinux && rc == RP_ENOTSUP)) << rp_strerror(rc);
        CloseAndWait(c); // the end of the stream: nothing may follow the bytes counted
        ASSERT_TRUE(WaitFor([&] { return r->ended.load(); }));
        EXPECT_EQ(r->error.load(), 0) << rp_strerror((int)r->error.load());
        std::vector<unsigned char> got = r->Data();
        ASSERT_EQ(got.size(), total);
        for (size_t i = 0; i < total; i++)
            ASSERT_EQ(got[i], data[i]) << "byte " << i << " (the early data is the first " << early << ")";
        CloseAndWait(s);
    }
};

TEST_P(FastOpen, EarlyDataArrivesFirstThenTheStream)
{
    bool tfo = false;
    rp_socket ls = FastOpenListener(&tfo);
    ASSERT_NE(ls, RP_SOCKET_INVALID);
    rp_addr addr = LocalAddr(ls);
    const int sys = TfoSysctl();
    // Both bits: the first connection asks for a cookie, the next ones bring it with data in the SYN.
    const bool syn_data_expected = kLinux && tfo && (sys & 3) == 3;
    const int kConns = 4;
    for (int i = 0; i < kConns; i++) {
        int64_t cfo = -1, sfo = -1;
        ASSERT_NO_FATAL_FAILURE(RoundTrip(ls, addr, 100 + (uint64_t)i, 1000 + 700 * (size_t)i, 30000, &cfo, &sfo))
            << "connection " << i;
        if (!kLinux)
            continue;
        EXPECT_TRUE(cfo == 0 || cfo == 1) << cfo;
        EXPECT_EQ(cfo, sfo) << "connection " << i << ": the two ends disagree on whether the SYN carried data";
        if (syn_data_expected && i > 0) {
            EXPECT_EQ(cfo, 1) << "connection " << i << ": the early data did not go in the SYN, though the "
                              << "first connection got a cookie (net.ipv4.tcp_fastopen=" << sys << ")";
        }
        if (sys == 0 || sys == 1) {
            EXPECT_EQ(cfo, 0) << "no server bit: no cookie, no data in a SYN";
        }
    }
    if (kLinux && !syn_data_expected)
        std::printf("[ note ] net.ipv4.tcp_fastopen=%d: not both bits (3), so whether a SYN carried the data "
                    "was not asserted\n",
                    sys);
    CloseAndWait(ls);
}

TEST_P(FastOpen, OneByteAndTheMostEarlyData)
{
    bool tfo = false;
    rp_socket ls = FastOpenListener(&tfo);
    ASSERT_NE(ls, RP_SOCKET_INVALID);
    rp_addr addr = LocalAddr(ls);
    uint64_t seed = 7;
    for (size_t early : {size_t(1), size_t(RP_CONNECT_EARLY_MAX)}) {
        for (int round = 0; round < 2; round++) { // the second one with a cookie where the system has them
            int64_t cfo, sfo;
            ASSERT_NO_FATAL_FAILURE(RoundTrip(ls, addr, seed++, early, 10, &cfo, &sfo))
                << early << " bytes, round " << round;
        }
    }
    CloseAndWait(ls);
    if (!Ipv6Available())
        return;
    rp_socket ls6 = FastOpenListener(&tfo, "::1");
    ASSERT_NE(ls6, RP_SOCKET_INVALID);
    rp_addr addr6 = LocalAddr(ls6);
    for (int round = 0; round < 2; round++) {
        int64_t cfo, sfo;
        ASSERT_NO_FATAL_FAILURE(RoundTrip(ls6, addr6, seed++, 5000, 100, &cfo, &sfo)) << "IPv6, round " << round;
    }
    CloseAndWait(ls6);
}

TEST_P(FastOpen, EarlyDataReachesAListenerWithoutFastOpen)
{
    // A plain listener of the system's: the SYN asks for a cookie (or carries data it drops), and the
    // data must still arrive, right after the handshake.
    uint16_t port = 0;
    RawSock lfd = RawListen(&port, 4);
    ASSERT_NE(lfd, kRawInvalid);
    rp_addr addr;
    ASSERT_EQ(rp_addr_parse(&addr, "127.0.0.1", port), 0);
    for (int round = 0; round < 2; round++) {
        const size_t n = 5000;
        unsigned char *data = NewBuf(n);
        FillPattern(data, n, 40 + (uint64_t)round);
        rp_connect_options co = Early(data, n);
        Op *con = NewOp();
        ASSERT_EQ(Connect(con, addr, &co), 0);
        ASSERT_TRUE(WaitFor([&] { return con->done(); }));
        ASSERT_EQ(con->result(), 0) << rp_strerror((int)con->result());
        RawSock peer = accept(lfd, nullptr, nullptr);
        ASSERT_NE(peer, kRawInvalid);
        std::vector<unsigned char> got;
        char tmp[4096];
        while (got.size() < n) {
            ASSERT_EQ(RawWaitReadable(peer, 10000), 1) << got.size() << " of " << n << " bytes arrived";
            long k = RawRecv(peer, tmp, sizeof tmp);
            ASSERT_GT(k, 0);
            got.insert(got.end(), tmp, tmp + k);
        }
        EXPECT_EQ(got.size(), n);
        EXPECT_EQ(memcmp(got.data(), data, n), 0);
        CloseAndWait(con->socket());
        RawClose(peer);
    }
    RawClose(lfd);
}

TEST_P(FastOpen, EarlyDataWaitsForAHandshakeThatTakesItsTime)
{
    // The first SYN is dropped (the listener's backlog is full), the kernel sends it again about a
    // second later, when there is room: the connect completes only after that handshake, its data
    // following it. Linux, Windows: an address of its own in 127/8 (no cookie is ever cached for it, so
    // the dropped SYN carries no data and does not make the system shy of Fast Open towards 127.0.0.1).
#if defined(__APPLE__)
    const char *host = "127.0.0.1";
#else
    const char *host = "127.0.0.3";
#endif
    uint16_t port = 0;
    RawSock ls = RawListenOn(host, &port, 1);
    ASSERT_NE(ls, kRawInvalid);
    std::vector<RawSock> fill;
    for (int i = 0; i < 8; i++)
        fill.push_back(RawConnectNonBlocking(port, host));
    rp_addr a;
    ASSERT_EQ(rp_addr_parse(&a, host, port), 0);
    const size_t n = 4000;
    unsigned char *data = NewBuf(n);
    FillPattern(data, n, 77);
    rp_connect_options co = Early(data, n);
    Op *con = NewOp();
    ASSERT_EQ(Connect(con, a, &co), 0);
    Pump(100);
    bool early_end = con->done();
    // Room for the retried SYN: the attempts that fill the backlog go, the queued ones are taken.
    for (RawSock f : fill)
        if (f != kRawInvalid)
            RawClose(f);
    while (RawWaitReadable(ls, 0) == 1) {
        RawSock q = accept(ls, nullptr, nullptr);
        if (q == kRawInvalid)
            break;
        RawClose(q);
    }
    if (early_end) {
        RawClose(ls);
        if (con->result() == 0)
            CloseAndWait(con->socket());
        if (kWindows && !RunningUnderWine() && con->result() == RP_ECONNREFUSED)
            GTEST_SKIP() << "this system refuses connections past the backlog (Windows does)";
        FAIL() << "the connect ended while its SYN could get no answer: " << rp_strerror((int)con->result());
    }
    ASSERT_TRUE(WaitFor([&] { return con->done(); }));
    ASSERT_EQ(con->result(), 0) << rp_strerror((int)con->result());
    rp_addr local = LocalAddr(con->socket());
    RawSock peer = kRawInvalid;
    while (peer == kRawInvalid) {
        ASSERT_EQ(RawWaitReadable(ls, 10000), 1) << "the connection never reached the listener";
        RawSock q = accept(ls, nullptr, nullptr);
        ASSERT_NE(q, kRawInvalid);
        if (RawPeerPort(q) == local.port)
            peer = q;
        else
            RawClose(q); // one of the attempts that filled the backlog
    }
    std::vector<unsigned char> got;
    char tmp[4096];
    while (got.size() < n) {
        ASSERT_EQ(RawWaitReadable(peer, 10000), 1) << got.size() << " of " << n << " bytes arrived";
        long k = RawRecv(peer, tmp, sizeof tmp);
        ASSERT_GT(k, 0);
        got.insert(got.end(), tmp, tmp + k);
    }
    EXPECT_EQ(got.size(), n);
    EXPECT_EQ(memcmp(got.data(), data, n), 0);
    CloseAndWait(con->socket());
    RawClose(peer);
    RawClose(ls);
}

TEST_P(FastOpen, RefusedConnectReleasesItsSocket)
{
#if defined(__linux__)
    const bool count_handles = backend() != RP_BACKEND_KQUEUE; // libkqueue opens descriptors of its own
#else
    const bool count_handles = true;
#endif
    uint16_t port = 0;
    RawSock lfd = RawBoundNotListening(&port); // nobody listens on the port, and nobody else can take it
    ASSERT_NE(lfd, kRawInvalid);
    rp_addr addr;
    ASSERT_EQ(rp_addr_parse(&addr, "127.0.0.1", port), 0);
    Finish(); // the fixture's loop existed before the first count
    int before = OpenHandles();
    ASSERT_EQ(CreateLoop(), 0);
    unsigned char *data = NewBuf(3000, 0x5A);
    for (int round = 0; round < 3; round++) { // later rounds: with a cookie for the address, the SYN has data
        rp_connect_options co = Early(data, 3000);
        Op *con = NewOp();
        ASSERT_EQ(Connect(con, addr, &co), 0);
        ASSERT_TRUE(WaitFor([&] { return con->done(); }));
        EXPECT_EQ(con->result(), RP_ECONNREFUSED) << rp_strerror((int)con->result());
        EXPECT_EQ(con->socket(), RP_SOCKET_INVALID);
    }
    Finish();
    if (count_handles) {
        EXPECT_EQ(OpenHandles(), before) << "a refused connect left its socket open";
    }
    RawClose(lfd);
}

TEST_P(FastOpen, CancelAndDeadlineEndAConnectWithEarlyData)
{
    // A listener that never accepts, its backlog full: the SYN gets no answer (Linux drops it), so the
    // connect stays pending until it is cancelled or its deadline passes.
    uint16_t port = 0;
    RawSock ls = RawListen(&port, 1);
    ASSERT_NE(ls, kRawInvalid);
    std::vector<RawSock> fill;
    for (int i = 0; i < 8; i++)
        fill.push_back(RawConnectNonBlocking(port));
    rp_addr a;
    ASSERT_EQ(rp_addr_parse(&a, "127.0.0.1", port), 0);
    unsigned char *data = NewBuf(2000, 0x33);
    rp_connect_options co = Early(data, 2000);
    Op *con = NewOp();
    ASSERT_EQ(Connect(con, a, &co), 0);
    Pump(20);
    int rc = Cancel(con);
    EXPECT_TRUE(rc == 0 || rc == RP_ENOENT) << rp_strerror(rc);
    ASSERT_TRUE(WaitFor([&] { return con->done(); }));
    int64_t cancelled = con->result();
    Op *timed = NewOp();
    ASSERT_EQ(rp_op_set_timeout(timed->get(), 100), 0);
    ASSERT_EQ(Connect(timed, a, &co), 0);
    ASSERT_TRUE(WaitFor([&] { return timed->done(); }));
    for (RawSock f : fill)
        if (f != kRawInvalid)
            RawClose(f);
    RawClose(ls);
    for (Op *o : {con, timed})
        if (o->result() == 0)
            CloseAndWait(o->socket());
    if (kWindows && !RunningUnderWine() && cancelled == RP_ECONNREFUSED)
        GTEST_SKIP() << "this system refuses connections past the backlog (Windows does)";
    EXPECT_EQ(cancelled, RP_ECANCELED) << rp_strerror((int)cancelled);
    EXPECT_EQ(con->socket(), RP_SOCKET_INVALID);
    EXPECT_EQ(timed->result(), RP_ETIMEDOUT) << rp_strerror((int)timed->result());
    EXPECT_EQ(timed->socket(), RP_SOCKET_INVALID);
}

TEST_P(FastOpen, ListenerOptionIsAppliedOrRefused)
{
    rp_listen_options lo;
    rp_listen_options_init(&lo);
    EXPECT_EQ(lo.fastopen_queue, 0) << "off by default";
    lo.fastopen_queue = 1;
    rp_addr any;
    ASSERT_EQ(rp_addr_parse(&any, "127.0.0.1", 0), 0);
    rp_socket ls = RP_SOCKET_INVALID;
    int rc = rp_listen(loop, &ls, &any, &lo);
    if (kLinux) {
        ASSERT_EQ(rc, 0) << rp_strerror(rc);
    } else if (rc == RP_ENOTSUP) {
        EXPECT_EQ(ls, RP_SOCKET_INVALID) << "a refused listen creates nothing";
        std::printf("[ note ] TCP_FASTOPEN on a listener: RP_ENOTSUP here%s\n", RunningUnderWine() ? " (Wine)" : "");
        return;
    } else {
        ASSERT_EQ(rc, 0) << rp_strerror(rc);
    }
    // It listens as any other: a connection without early data is accepted and carries a stream.
    Op *acc = NewOp(), *con = NewOp();
    ASSERT_EQ(Accept(acc, ls), 0);
    ASSERT_EQ(Connect(con, LocalAddr(ls)), 0);
    ASSERT_TRUE(WaitFor([&] { return acc->done() && con->done(); }));
    ASSERT_EQ(acc->result(), 0);
    ASSERT_EQ(con->result(), 0);
    int64_t v = -1;
    rc = rp_socket_get_option(loop, con->socket(), RP_SO_TCP_FASTOPENED, &v);
    if (kLinux) {
        ASSERT_EQ(rc, 0) << rp_strerror(rc);
        EXPECT_EQ(v, 0) << "no early data, nothing in the SYN";
    } else {
        EXPECT_EQ(rc, RP_ENOTSUP) << rp_strerror(rc);
    }
    CloseAndWait(con->socket());
    CloseAndWait(acc->socket());
    CloseAndWait(ls);
}

TEST_P(FastOpen, BadValuesAreRefused)
{
    rp_addr any;
    ASSERT_EQ(rp_addr_parse(&any, "127.0.0.1", 0), 0);
    rp_listen_options lo;
    rp_listen_options_init(&lo);
    lo.fastopen_queue = -1;
    rp_socket out = RP_SOCKET_INVALID;
    EXPECT_EQ(rp_listen(loop, &out, &any, &lo), RP_EINVAL) << "negative fastopen_queue";
    EXPECT_EQ(out, RP_SOCKET_INVALID);

    uint16_t port = 0;
    rp_socket ls = Listen(&port);
    ASSERT_NE(ls, RP_SOCKET_INVALID);
    rp_addr addr = LocalAddr(ls);
    unsigned char *data = NewBuf(RP_CONNECT_EARLY_MAX + 1, 1);
    Op *op = NewOp();
    rp_connect_options co = Early(data, 0);
    EXPECT_EQ(rp_connect(loop, op->get(), &addr, &co), RP_EINVAL) << "early data of zero bytes";
    co = Early(nullptr, 5);
    EXPECT_EQ(rp_connect(loop, op->get(), &addr, &co), RP_EINVAL) << "no early data, a length";
    co = Early(data, RP_CONNECT_EARLY_MAX + 1);
    EXPECT_EQ(rp_connect(loop, op->get(), &addr, &co), RP_EINVAL) << "more than RP_CONNECT_EARLY_MAX";
    co = Early(data, 10);
    co.reserved[0] = 1;
    EXPECT_EQ(rp_connect(loop, op->get(), &addr, &co), RP_EINVAL) << "reserved field";
    EXPECT_FALSE(rp_op_pending(op->get())) << "a refused submission changes nothing";

    // RP_SO_TCP_FASTOPENED: get only, on connections.
    rp_socket c, s;
    ASSERT_NO_FATAL_FAILURE(Pair(&c, &s));
    rp_socket u = UdpBind("127.0.0.1");
    ASSERT_NE(u, RP_SOCKET_INVALID);
    int64_t v = 0;
    EXPECT_EQ(rp_socket_set_option(loop, c, RP_SO_TCP_FASTOPENED, 1), RP_EINVAL) << "get only";
    EXPECT_EQ(rp_socket_get_option(loop, ls, RP_SO_TCP_FASTOPENED, &v), RP_EINVAL) << "not on a listener";
    EXPECT_EQ(rp_socket_get_option(loop, u, RP_SO_TCP_FASTOPENED, &v), RP_EINVAL) << "not on UDP";
    CloseAndWait(u);
    CloseAndWait(c);
    CloseAndWait(s);
    CloseAndWait(ls);
}

RPT_INSTANTIATE(FastOpen);

} // namespace
