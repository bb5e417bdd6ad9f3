// Resource limits: descriptor exhaustion on accept (EMFILE must neither spin nor stop the listener) and a
// queue depth so small that io_uring's submission queue fills and its completion queue overflows.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>
#if !defined(_WIN32)
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

#include "harness.h"
#include "ringport.h"

namespace {

class Limits : public ::testing::TestWithParam<rpt::LoopParam> {
protected:
    rp_loop *loop = nullptr;

    void Create(unsigned depth)
    {
        if (!rpt::BackendSelected(std::get<0>(GetParam())))
            GTEST_SKIP() << "backend not selected";
        rp_loop_options o;
        rp_loop_options_init(&o);
        o.backend = std::get<0>(GetParam());
        o.workers = std::get<1>(GetParam());
        o.queue_depth = depth;
        rpt::ApplyLoopEnv(&o);
        int err = rp_loop_create(&loop, &o);
        if (err == RP_ENOSYS || err == RP_EPERM)
            GTEST_SKIP() << "backend not available: " << rp_strerror(err);
        ASSERT_EQ(err, 0) << rp_strerror(err);
    }

    void TearDown() override
    {
        if (loop) {
            EXPECT_EQ(rp_loop_destroy(loop), 0);
        }
    }

    // Waits for cond, pumping caller-driven loops; false after 30 s.
    template <class F> bool WaitFor(F cond)
    {
        auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (!cond()) {
            if (std::chrono::steady_clock::now() > end)
                return false;
            if (std::get<1>(GetParam()) == 0)
                rp_loop_run(loop, RP_RUN_NOWAIT);
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        return true;
    }

    uint16_t Listen(rp_socket *ls)
    {
        rp_addr a;
        rp_addr_parse(&a, "127.0.0.1", 0);
        EXPECT_EQ(rp_listen(loop, ls, &a, nullptr), 0);
        EXPECT_EQ(rp_socket_local_addr(loop, *ls, &a), 0);
        return a.port;
    }
};

#if !defined(_WIN32) // used by the descriptor-exhaustion test only
struct AcceptCounter {
    std::atomic<int> accepted{0};
    std::atomic<int> finals{0};
    std::mutex mu;
    std::vector<rp_socket> sockets;
};

void OnAccept(rp_op *op)
{
    auto *c = static_cast<AcceptCounter *>(op->user);
    if (!(op->flags & RP_OP_F_MORE)) {
        c->finals++;
        return;
    }
    std::lock_guard<std::mutex> g(c->mu);
    c->sockets.push_back(op->socket);
    c->accepted++;
}
#endif

TEST_P(Limits, AcceptSurvivesDescriptorExhaustion)
{
#if defined(_WIN32)
    GTEST_SKIP() << "Windows has no descriptor limit to lower (sockets are kernel handles bounded by memory); "
                    "socket creation failures take the same back-off path as EMFILE elsewhere";
#else
    Create(0);
    if (!loop)
        return;
    rp_socket ls;
    uint16_t port = Listen(&ls);
    AcceptCounter counter;
    rp_op accept_op;
    rp_op_init(&accept_op, OnAccept, &counter);

    const int kClients = 12;
    const int kRoom = 4; // descriptors left for accepted sockets while limited
    struct rlimit saved;
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);

    // The connecting side lives in a child process so that it does not use our descriptors.
    int go[2];
    ASSERT_EQ(pipe(go), 0);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        close(go[1]); // or the final read below never sees end of file
        char b;
        if (read(go[0], &b, 1) != 1)
            _exit(2);
        std::vector<int> fds;
        for (int i = 0; i < kClients; i++) {
            int fd = socket(AF_INET, SOCK_STREAM, 0);
            sockaddr_in sa{};
            sa.sin_family = AF_INET;
            sa.sin_port = htons(port);
            sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            if (connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof sa) != 0)
                _exit(3);
            fds.push_back(fd);
        }
        if (read(go[0], &b, 1) < 0) // parent closes the pipe when done
            _exit(4);
        _exit(0);
    }
    close(go[0]);

    // The limit bounds descriptor numbers: leave exactly the kRoom lowest free numbers usable.
    int probe[kRoom], highest = 0;
    for (int &fd : probe) {
        fd = dup(go[1]);
        ASSERT_GE(fd, 0);
        highest = fd > highest ? fd : highest;
    }
    for (int fd : probe)
        close(fd);
    struct rlimit lowered = saved;
    lowered.rlim_cur = (rlim_t)highest + 1;
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &lowered), 0);
    // Armed after the limit is lowered: io_uring reads the limit when it prepares the accept.
    ASSERT_EQ(rp_accept(loop, &accept_op, ls, RP_ACCEPT_MULTISHOT), 0);
    ASSERT_EQ(write(go[1], "g", 1), 1);

    // Some are accepted, then the process runs out of descriptors and the listener backs off.
    EXPECT_TRUE(WaitFor([&] { return counter.accepted.load() >= 1; }));
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    int while_limited = counter.accepted.load();
    EXPECT_LT(while_limited, kClients) << "descriptor limit had no effect";
    EXPECT_EQ(counter.finals.load(), 0) << "the accept must not end on EMFILE";

    // Room again: the listener resumes by itself and takes every waiting connection.
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
    EXPECT_TRUE(WaitFor([&] { return counter.accepted.load() == kClients; }))
        << "accepted " << counter.accepted.load() << " of " << kClients;
    EXPECT_EQ(counter.finals.load(), 0);

    close(go[1]);
    int status = 0;
    waitpid(child, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "client child status " << status;

    ASSERT_EQ(rp_cancel(loop, &accept_op), 0);
    EXPECT_TRUE(WaitFor([&] { return counter.finals.load() == 1; }));
    std::lock_guard<std::mutex> g(counter.mu);
    for (rp_socket s : counter.sockets)
        EXPECT_EQ(rp_close(loop, nullptr, s), 0);
    EXPECT_EQ(rp_close(loop, nullptr, ls), 0);
#endif
}

// Echo through a queue of depth 2: submissions overflow the SQ and completions the CQ; nothing is lost.
struct TinyConn {
    rp_loop *loop;
    rp_socket s = 0;
    rp_op op{}, send_op{};
    std::vector<unsigned char> out, in;
    size_t got = 0;
    std::atomic<int> state{0}; // 0 running, 1 verified, -1 failed
};

void TinyRecv(rp_op *op);

void TinyStartRecv(TinyConn *c)
{
    rp_op_init(&c->op, TinyRecv, c);
    if (rp_recv(c->loop, &c->op, c->s, c->in.data() + c->got, c->in.size() - c->got) != 0)
        c->state = -1;
}

void TinyRecv(rp_op *op)
{
    auto *c = static_cast<TinyConn *>(op->user);
    if (op->result <= 0) {
        c->state = -1;
        return;
    }
    c->got += (size_t)op->result;
    if (c->got < c->in.size()) {
        TinyStartRecv(c);
        return;
    }
    c->state = c->in == c->out ? 1 : -1;
}

void TinySent(rp_op *op)
{
    if (op->result != (int64_t)static_cast<TinyConn *>(op->user)->out.size())
        static_cast<TinyConn *>(op->user)->state = -1;
}

void TinyConnected(rp_op *op)
{
    auto *c = static_cast<TinyConn *>(op->user);
    if (op->result != 0) {
        c->state = -1;
        return;
    }
    c->s = op->socket;
    TinyStartRecv(c);
    rp_op_init(&c->send_op, TinySent, c);
    if (rp_send(c->loop, &c->send_op, c->s, c->out.data(), c->out.size()) != 0)
        c->state = -1;
}

struct EchoConn {
    rp_loop *loop;
    rp_socket s;
    rp_op op{};
    unsigned char buf[4096];
};

void EchoRecv(rp_op *op);
void EchoSent(rp_op *op)
{
    auto *e = static_cast<EchoConn *>(op->user);
    if (op->result < 0) {
        rp_close(e->loop, nullptr, e->s);
        delete e;
        return;
    }
    rp_op_init(&e->op, EchoRecv, e);
    if (rp_recv(e->loop, &e->op, e->s, e->buf, sizeof e->buf) != 0)
        delete e;
}

void EchoRecv(rp_op *op)
{
    auto *e = static_cast<EchoConn *>(op->user);
    if (op->result <= 0) {
        rp_close(e->loop, nullptr, e->s);
        delete e;
        return;
    }
    size_t n = (size_t)op->result; // read before the record is re-initialised
    rp_op_init(&e->op, EchoSent, e);
    if (rp_send(e->loop, &e->op, e->s, e->buf, n) != 0)
        delete e;
}

void EchoAccept(rp_op *op)
{
    if (!(op->flags & RP_OP_F_MORE))
        return;
    auto *e = new EchoConn;
    e->loop = static_cast<rp_loop *>(op->user);
    e->s = op->socket;
    rp_op_init(&e->op, EchoRecv, e);
    if (rp_recv(e->loop, &e->op, e->s, e->buf, sizeof e->buf) != 0)
        delete e;
}

TEST_P(Limits, EchoThroughTinyQueue)
{
    Create(2);
    if (!loop)
        return;
    rp_socket ls;
    uint16_t port = Listen(&ls);
    rp_op accept_op;
    rp_op_init(&accept_op, EchoAccept, loop);
    ASSERT_EQ(rp_accept(loop, &accept_op, ls, RP_ACCEPT_MULTISHOT), 0);

    const int kConns = 200;
    std::vector<std::unique_ptr<TinyConn>> conns;
    rp_addr a;
    rp_addr_parse(&a, "127.0.0.1", port);
    for (int i = 0; i < kConns; i++) {
        auto c = std::make_unique<TinyConn>();
        c->loop = loop;
        c->out.resize(1000 + (size_t)i * 97);
        for (size_t k = 0; k < c->out.size(); k++)
            c->out[k] = (unsigned char)(k * 31 + (size_t)i);
        c->in.resize(c->out.size());
        rp_op_init(&c->op, TinyConnected, c.get());
        ASSERT_EQ(rp_connect(loop, &c->op, &a, nullptr), 0);
        conns.push_back(std::move(c));
    }
    EXPECT_TRUE(WaitFor([&] {
        for (auto &c : conns)
            if (c->state.load() == 0)
                return false;
        return true;
    }));
    int verified = 0, failed = 0;
    size_t partial = 0;
    for (auto &c : conns) {
        verified += c->state.load() == 1;
        failed += c->state.load() == -1;
        partial += c->state.load() == 0 ? 1 : 0;
    }
    if (partial)
        for (auto &c : conns)
            if (c->state.load() == 0) {
                ADD_FAILURE() << "stuck: got " << c->got << " of " << c->in.size() << " socket " << c->s;
                break;
            }
    EXPECT_EQ(failed, 0);
    EXPECT_EQ(verified, kConns);
    // Destroy while the connections' records still exist: it cancels and delivers everything pending.
    EXPECT_EQ(rp_loop_destroy(loop), 0);
    loop = nullptr;
}

// One worker is enough here (and makes the tiny queue's overflow certain); 0 = caller-driven.
INSTANTIATE_TEST_SUITE_P(Backends, Limits, ::testing::Combine(RPT_BACKENDS, ::testing::Values(1, 0)), rpt::ParamName);

} // namespace
