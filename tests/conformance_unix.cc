// Unix domain stream sockets: listen/connect by path (and abstract names on Linux), socketpair, paths,
// peer credentials, the errors of a missing or busy path, TCP-only calls refused, bad input.
#include <cstdio>
#include <cstring>
#include <string>

#if defined(_WIN32)
#include <windows.h>
#else
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#endif

#include "harness.h"

using namespace rpt;

namespace {

long ProcessId()
{
#if defined(_WIN32)
    return (long)GetCurrentProcessId();
#else
    return (long)getpid();
#endif
}

// A fresh file system path for a socket, in the temporary directory.
std::string TempSocketPath(const char *tag)
{
    static std::atomic<int> seq{0};
    char name[64];
    snprintf(name, sizeof name, "rpt-%ld-%s-%d.sock", ProcessId(), tag, seq.fetch_add(1));
#if defined(_WIN32)
    char dir[MAX_PATH + 1];
    DWORD n = GetTempPathA(sizeof dir, dir);
    std::string p = n ? std::string(dir, n) : std::string(".\\");
#else
    std::string p = "/tmp/";
#endif
    p += name;
    std::remove(p.c_str());
    return p;
}

class UnixTest : public LoopTest {
protected:
    // A listener at path; skips the test where the system has no AF_UNIX (Wine, old Windows).
    rp_socket ListenAt(const std::string &path, const rp_listen_options *opts = nullptr)
    {
        rp_socket ls = RP_SOCKET_INVALID;
        int err = rp_unix_listen(loop, &ls, path.data(), path.size(), opts);
        if (err == RP_EAFNOSUPPORT)
            return RP_SOCKET_INVALID;
        EXPECT_EQ(err, 0) << rp_strerror(err);
        return ls;
    }

    // Connects to path and accepts: *client, *server.
    void UnixPair(const std::string &path, rp_socket ls, rp_socket *client, rp_socket *server)
    {
        Op *acc = NewOp(), *con = NewOp();
        ASSERT_EQ(Accept(acc, ls), 0);
        ASSERT_EQ(UnixConnect(con, path.data(), path.size()), 0);
        ASSERT_TRUE(WaitFor([&] { return acc->done() && con->done(); }));
        ASSERT_EQ(con->result(), 0) << rp_strerror((int)con->result());
        ASSERT_EQ(acc->result(), 0) << rp_strerror((int)acc->result());
        *client = con->socket();
        *server = acc->socket();
    }

    // Sends n pattern bytes from a to b and checks every byte at b.
    void Transfer(rp_socket a, rp_socket b, size_t n, uint64_t seed)
    {
        unsigned char *data = NewBuf(n);
        FillPattern(data, n, seed);
        Reader *r = StartReader(b);
        Op *snd = NewOp();
        ASSERT_EQ(Send(snd, a, data, n), 0);
        ASSERT_TRUE(WaitFor([&] { return snd->done() && r->bytes.load() >= n; }));
        ASSERT_EQ(snd->result(), (int64_t)n);
        std::vector<unsigned char> got = r->Data();
        ASSERT_EQ(got.size(), n);
        ASSERT_EQ(memcmp(got.data(), data, n), 0);
    }
};

TEST_P(UnixTest, ListenConnectTransferBothWays)
{
    std::string path = TempSocketPath("xfer");
    rp_socket ls = ListenAt(path);
    if (ls == RP_SOCKET_INVALID)
        GTEST_SKIP() << "no AF_UNIX on this system";
    rp_socket c, s;
    UnixPair(path, ls, &c, &s);
    Transfer(c, s, 1 << 20, 1);
    Transfer(s, c, 300000, 2);

    char buf[RP_UNIX_PATH_MAX + 1];
    EXPECT_EQ(rp_socket_unix_path(loop, ls, 0, buf, sizeof buf), (int)path.size());
    EXPECT_EQ(std::string(buf), path);
    EXPECT_EQ(rp_socket_unix_path(loop, c, 1, buf, sizeof buf), (int)path.size());
    EXPECT_EQ(std::string(buf), path);
    EXPECT_EQ(rp_socket_unix_path(loop, s, 0, buf, sizeof buf), (int)path.size());
    EXPECT_EQ(rp_socket_unix_path(loop, c, 0, buf, sizeof buf), 0); // the connecting side has no name
    EXPECT_EQ(rp_socket_unix_path(loop, ls, 1, buf, sizeof buf), RP_ENOTCONN);
    EXPECT_EQ(rp_socket_unix_path(loop, ls, 0, buf, 4), RP_ENOBUFS);

    // Half-close: the server reads the end of the stream, and can still send.
    Op *sh = NewOp();
    Reader *r = StartReader(s);
    ASSERT_EQ(Shutdown(sh, c), 0);
    ASSERT_TRUE(WaitFor([&] { return sh->done() && r->ended.load(); }));
    EXPECT_EQ(sh->result(), 0);
    EXPECT_EQ(r->error.load(), 0);
    CloseAndWait(c);
    CloseAndWait(s);
    CloseAndWait(ls);
    std::remove(path.c_str());
}

TEST_P(UnixTest, ManyConnectionsEcho)
{
    std::string path = TempSocketPath("many");
    rp_socket ls = ListenAt(path);
    if (ls == RP_SOCKET_INVALID)
        GTEST_SKIP() << "no AF_UNIX on this system";
    const int n = 64;
    std::vector<rp_socket> clients, servers;
    for (int i = 0; i < n; i++) {
        rp_socket c, s;
        UnixPair(path, ls, &c, &s);
        clients.push_back(c);
        servers.push_back(s);
    }
    for (int i = 0; i < n; i++)
        Transfer(clients[i], servers[i], 4096 + (size_t)i * 97, 10 + (uint64_t)i);
    for (int i = 0; i < n; i++) {
        EXPECT_EQ(Close(nullptr, clients[i]), 0);
        EXPECT_EQ(Close(nullptr, servers[i]), 0);
    }
    CloseAndWait(ls);
    std::remove(path.c_str());
}

TEST_P(UnixTest, AbstractNamesOnLinuxOnly)
{
    char name[64];
    int n = snprintf(name + 1, sizeof name - 1, "rpt-abstract-%ld-%d", ProcessId(), (int)backend()) + 1;
    name[0] = '\0';
    rp_socket ls = RP_SOCKET_INVALID;
    int err = rp_unix_listen(loop, &ls, name, (size_t)n, nullptr);
#if defined(__linux__)
    ASSERT_EQ(err, 0) << rp_strerror(err);
    std::string path(name, (size_t)n);
    rp_socket c, s;
    UnixPair(path, ls, &c, &s);
    Transfer(c, s, 100000, 3);
    char buf[RP_UNIX_PATH_MAX + 1];
    ASSERT_EQ(rp_socket_unix_path(loop, c, 1, buf, sizeof buf), n);
    EXPECT_EQ(std::string(buf, (size_t)n), path);
    // Abstract names need no file: a second listener on the same name is refused while the first lives.
    rp_socket ls2 = RP_SOCKET_INVALID;
    EXPECT_EQ(rp_unix_listen(loop, &ls2, name, (size_t)n, nullptr), RP_EADDRINUSE);
    CloseAndWait(c);
    CloseAndWait(s);
    CloseAndWait(ls);
#else
    EXPECT_TRUE(err == RP_ENOTSUP) << rp_strerror(err);
#endif
}

TEST_P(UnixTest, PeerCredentials)
{
    std::string path = TempSocketPath("cred");
    rp_socket ls = ListenAt(path);
    if (ls == RP_SOCKET_INVALID)
        GTEST_SKIP() << "no AF_UNIX on this system";
    rp_socket c, s;
    UnixPair(path, ls, &c, &s);
    for (rp_socket h : {c, s}) {
        rp_peer_cred cred;
        int err = rp_socket_peer_cred(loop, h, &cred);
        ASSERT_EQ(err, 0) << rp_strerror(err);
        EXPECT_EQ(cred.pid, (int64_t)ProcessId());
#if defined(_WIN32)
        EXPECT_EQ(cred.uid, -1);
        EXPECT_EQ(cred.gid, -1);
#else
        EXPECT_EQ(cred.uid, (int64_t)getuid());
        EXPECT_EQ(cred.gid, (int64_t)getgid());
#endif
    }
    rp_peer_cred cred;
    EXPECT_EQ(rp_socket_peer_cred(loop, ls, &cred), RP_EINVAL); // a listener has no peer
    CloseAndWait(c);
    CloseAndWait(s);
    CloseAndWait(ls);
    std::remove(path.c_str());
}

TEST_P(UnixTest, SocketpairCarriesBothWays)
{
    rp_socket p[2] = {RP_SOCKET_INVALID, RP_SOCKET_INVALID};
    ASSERT_EQ(rp_socketpair(loop, p, -1), 0);
    EXPECT_EQ(rp_socket_worker(loop, p[0]), rp_socket_worker(loop, p[1]));
    Transfer(p[0], p[1], 500000, 4);
    Transfer(p[1], p[0], 70000, 5);
#if !defined(_WIN32)
    rp_peer_cred cred;
    ASSERT_EQ(rp_socket_peer_cred(loop, p[0], &cred), 0);
    EXPECT_EQ(cred.pid, (int64_t)ProcessId());
#endif
    if (threaded()) {
        rp_socket q[2];
        ASSERT_EQ(rp_socketpair(loop, q, 1), 0);
        EXPECT_EQ(rp_socket_worker(loop, q[0]), 1);
        EXPECT_EQ(rp_socket_worker(loop, q[1]), 1);
        Transfer(q[1], q[0], 1000, 6);
        CloseAndWait(q[0]);
        CloseAndWait(q[1]);
    }
    // The end of one side is the other's end of stream.
    Reader *r = StartReader(p[1]);
    CloseAndWait(p[0]);
    ASSERT_TRUE(WaitFor([&] { return r->ended.load(); }));
    EXPECT_EQ(r->error.load(), 0);
    CloseAndWait(p[1]);
}

TEST_P(UnixTest, ConnectErrors)
{
    std::string missing = TempSocketPath("missing");
    Op *con = NewOp();
    int err = UnixConnect(con, missing.data(), missing.size());
    if (err == RP_EAFNOSUPPORT)
        GTEST_SKIP() << "no AF_UNIX on this system";
    ASSERT_EQ(err, 0);
    ASSERT_TRUE(WaitFor([&] { return con->done(); }));
    EXPECT_EQ(con->result(), RP_ENOENT) << rp_strerror((int)con->result());
    EXPECT_EQ(con->socket(), RP_SOCKET_INVALID);

    // A socket file nobody listens on any more.
    std::string stale = TempSocketPath("stale");
    rp_socket ls = ListenAt(stale);
    ASSERT_NE(ls, RP_SOCKET_INVALID);
    CloseAndWait(ls);
    Op *con2 = NewOp();
    ASSERT_EQ(UnixConnect(con2, stale.data(), stale.size()), 0);
    ASSERT_TRUE(WaitFor([&] { return con2->done(); }));
    EXPECT_EQ(con2->result(), RP_ECONNREFUSED) << rp_strerror((int)con2->result());

    // The stale file blocks a new listener, unless it is removed first.
    rp_socket again = RP_SOCKET_INVALID;
    EXPECT_EQ(rp_unix_listen(loop, &again, stale.data(), stale.size(), nullptr), RP_EADDRINUSE);
    rp_listen_options lo;
    rp_listen_options_init(&lo);
    lo.flags = RP_LISTEN_UNIX_UNLINK;
    ASSERT_EQ(rp_unix_listen(loop, &again, stale.data(), stale.size(), &lo), 0);
    rp_socket c, s;
    UnixPair(stale, again, &c, &s);
    Transfer(c, s, 1000, 7);
    CloseAndWait(c);
    CloseAndWait(s);
    CloseAndWait(again);
    std::remove(stale.c_str());

    // RP_LISTEN_UNIX_UNLINK leaves a file that is not a socket alone.
    std::string plain = TempSocketPath("plain");
    FILE *f = fopen(plain.c_str(), "w");
    ASSERT_NE(f, nullptr);
    fputs("keep me", f);
    fclose(f);
    EXPECT_EQ(rp_unix_listen(loop, &again, plain.data(), plain.size(), &lo), RP_EADDRINUSE);
    f = fopen(plain.c_str(), "r");
    ASSERT_NE(f, nullptr) << "a regular file was removed";
    fclose(f);
    Op *con3 = NewOp();
    ASSERT_EQ(UnixConnect(con3, plain.data(), plain.size()), 0);
    ASSERT_TRUE(WaitFor([&] { return con3->done(); }));
    EXPECT_LT(con3->result(), 0);
    std::remove(plain.c_str());
}

TEST_P(UnixTest, BadInputAndTcpOnlyCalls)
{
    rp_socket ls = RP_SOCKET_INVALID;
    const size_t max = rp_unix_path_max();
    EXPECT_TRUE(max == 107 || max == 103) << max;
    std::string toolong(max + 1, 'a');
    EXPECT_EQ(rp_unix_listen(loop, &ls, nullptr, 5, nullptr), RP_EINVAL);
    EXPECT_EQ(rp_unix_listen(loop, &ls, "/tmp/x", 0, nullptr), RP_EINVAL);
    EXPECT_EQ(rp_unix_listen(loop, &ls, toolong.data(), toolong.size(), nullptr), RP_EINVAL);
    EXPECT_EQ(rp_unix_listen(loop, &ls, "/tmp/a\0b", 8, nullptr), RP_EINVAL);
    EXPECT_EQ(rp_unix_listen(loop, nullptr, "/tmp/x", 6, nullptr), RP_EINVAL);
    EXPECT_EQ(rp_unix_listen(nullptr, &ls, "/tmp/x", 6, nullptr), RP_EINVAL);
    int lone = rp_unix_listen(loop, &ls, "\0", 1, nullptr);
    EXPECT_TRUE(lone == RP_EINVAL || lone == RP_ENOTSUP) << rp_strerror(lone);
    rp_listen_options lo;
    rp_listen_options_init(&lo);
    lo.flags = RP_LISTEN_REUSEPORT;
    EXPECT_EQ(rp_unix_listen(loop, &ls, "/tmp/x", 6, &lo), RP_EINVAL);
    lo.flags = RP_LISTEN_V6ONLY;
    EXPECT_EQ(rp_unix_listen(loop, &ls, "/tmp/x", 6, &lo), RP_EINVAL);
    rp_listen_options_init(&lo);
    lo.reserved[0] = 1;
    EXPECT_EQ(rp_unix_listen(loop, &ls, "/tmp/x", 6, &lo), RP_EINVAL);
    // TCP listeners do not take the Unix flag.
    rp_listen_options_init(&lo);
    lo.flags = RP_LISTEN_UNIX_UNLINK;
    rp_addr a;
    ASSERT_EQ(rp_addr_parse(&a, "127.0.0.1", 0), 0);
    EXPECT_EQ(rp_listen(loop, &ls, &a, &lo), RP_EINVAL);

    Op *con = NewOp();
    EXPECT_EQ(rp_unix_connect(loop, con->get(), toolong.data(), toolong.size(), nullptr), RP_EINVAL);
    EXPECT_EQ(rp_unix_connect(loop, con->get(), nullptr, 3, nullptr), RP_EINVAL);
    EXPECT_EQ(rp_unix_connect(loop, nullptr, "/tmp/x", 6, nullptr), RP_EINVAL);
    rp_connect_options co;
    rp_connect_options_init(&co);
    co.flags = 0x80;
    EXPECT_EQ(rp_unix_connect(loop, con->get(), "/tmp/x", 6, &co), RP_EINVAL);
    rp_connect_options_init(&co);
    co.worker = 99;
    EXPECT_EQ(rp_unix_connect(loop, con->get(), "/tmp/x", 6, &co), RP_EINVAL);
    EXPECT_EQ(rp_socketpair(loop, nullptr, -1), RP_EINVAL);
    rp_socket p[2];
    EXPECT_EQ(rp_socketpair(loop, p, 99), RP_EINVAL);
    EXPECT_EQ(rp_socketpair(nullptr, p, -1), RP_EINVAL);

    // TCP-only calls on a Unix domain connection; the calls that apply work.
    std::string path = TempSocketPath("tcponly");
    ls = ListenAt(path);
    if (ls == RP_SOCKET_INVALID)
        GTEST_SKIP() << "no AF_UNIX on this system";
    rp_socket c, s;
    UnixPair(path, ls, &c, &s);
    EXPECT_EQ(rp_socket_set_nodelay(loop, c, 1), RP_EINVAL);
    EXPECT_EQ(rp_socket_set_option(loop, c, RP_SO_TCP_NODELAY, 1), RP_EINVAL);
    EXPECT_EQ(rp_socket_set_option(loop, c, RP_SO_TCP_USER_TIMEOUT_MS, 1000), RP_EINVAL);
    EXPECT_EQ(rp_socket_set_option(loop, c, RP_SO_TOS, 0x10), RP_EINVAL);
    rp_keepalive ka = {10, 5, 3, {0}};
    EXPECT_EQ(rp_socket_set_keepalive(loop, c, &ka), RP_EINVAL);
    EXPECT_EQ(rp_socket_set_congestion(loop, c, "reno"), RP_EINVAL);
    char cc[16];
    EXPECT_EQ(rp_socket_get_congestion(loop, ls, cc, sizeof cc), RP_EINVAL);
    EXPECT_EQ(rp_close_ex(loop, nullptr, c, RP_CLOSE_ABORT), RP_EINVAL);
    rp_addr out;
    EXPECT_EQ(rp_socket_local_addr(loop, c, &out), RP_EAFNOSUPPORT);
    EXPECT_EQ(rp_socket_peer_addr(loop, c, &out), RP_EAFNOSUPPORT);
    int64_t v = 0;
    EXPECT_EQ(rp_socket_set_option(loop, c, RP_SO_SEND_BUFFER, 65536), 0);
    EXPECT_EQ(rp_socket_get_option(loop, c, RP_SO_SEND_BUFFER, &v), 0);
    EXPECT_GT(v, 0);
    char buf[8];
    EXPECT_EQ(rp_socket_unix_path(loop, c, 1, nullptr, 8), RP_EINVAL);
    EXPECT_EQ(rp_socket_peer_cred(loop, c, nullptr), RP_EINVAL);

    // A TCP connection is not a Unix domain one.
    rp_socket tc, ts;
    Pair(&tc, &ts);
    rp_peer_cred cred;
    EXPECT_EQ(rp_socket_peer_cred(loop, tc, &cred), RP_EINVAL);
    EXPECT_EQ(rp_socket_unix_path(loop, tc, 0, buf, sizeof buf), RP_EINVAL);
    CloseAndWait(tc);
    CloseAndWait(ts);

    // Closed handles.
    CloseAndWait(c);
    EXPECT_EQ(rp_socket_peer_cred(loop, c, &cred), RP_EBADF);
    EXPECT_EQ(rp_socket_unix_path(loop, c, 0, buf, sizeof buf), RP_EBADF);
    CloseAndWait(s);
    CloseAndWait(ls);
    std::remove(path.c_str());
}

TEST_P(UnixTest, PoolReceivesOnUnixConnections)
{
    std::string path = TempSocketPath("pool");
    rp_socket ls = ListenAt(path);
    if (ls == RP_SOCKET_INVALID)
        GTEST_SKIP() << "no AF_UNIX on this system";
    rp_socket c, s;
    UnixPair(path, ls, &c, &s);
    rp_bufpool *pool = nullptr;
    rp_bufpool_options po;
    rp_bufpool_options_init(&po);
    po.buf_size = 4096;
    po.count = 16;
    ASSERT_EQ(rp_bufpool_create(loop, &pool, &po), 0);
    const size_t n = 200000;
    unsigned char *data = NewBuf(n);
    FillPattern(data, n, 8);
    std::mutex mu;
    std::vector<unsigned char> got;
    Op *rcv = NewOp([&](rp_op *o) {
        if (o->result > 0) {
            std::lock_guard<std::mutex> g(mu);
            got.insert(got.end(), (unsigned char *)o->buf, (unsigned char *)o->buf + o->result);
        }
        if (o->buf)
            rp_bufpool_release(pool, o->buf);
    });
    ASSERT_EQ(RecvPool(rcv, s, pool, RP_RECV_MULTISHOT), 0);
    Op *snd = NewOp();
    ASSERT_EQ(Send(snd, c, data, n), 0);
    ASSERT_TRUE(WaitFor([&] {
        std::lock_guard<std::mutex> g(mu);
        return got.size() >= n;
    }));
    {
        std::lock_guard<std::mutex> g(mu);
        ASSERT_EQ(got.size(), n);
        EXPECT_EQ(memcmp(got.data(), data, n), 0);
    }
    CloseAndWait(c);
    ASSERT_TRUE(WaitFor([&] { return rcv->done(); }));
    EXPECT_EQ(rcv->result(), 0); // the end of the stream ends the multishot receive
    CloseAndWait(s);
    CloseAndWait(ls);
    EXPECT_EQ(rp_bufpool_destroy(pool), 0);
    std::remove(path.c_str());
}

RPT_INSTANTIATE(UnixTest);

} // namespace
