// The conformance suite: every semantic of the public API, run on every backend this machine has, both
// with worker threads and caller-driven.
#include "harness.h"

#include <algorithm>
#include <cmath>
#include <arpa/inet.h>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <mutex>
#include <netinet/in.h>
#include <random>
#include <sys/socket.h>
#include <unistd.h>

using namespace rpt;

namespace {

double Scale()
{
    const char *s = getenv("RINGPORT_TEST_SCALE");
    double v = s ? atof(s) : 1.0;
    return v > 0 ? v : 1.0;
}

class Conformance : public LoopTest {};

// ---- 1, 2: exactly once, never inside the submitting call ----
TEST_P(Conformance, EveryAcceptedSubmissionCompletesExactlyOnceAndNeverInline)
{
    rp_socket a, b;
    Pair(&a, &b);
    // Data already buffered: the receive can complete at once, but the callback must still be deferred.
    const char msg[] = "hello";
    Op s1;
    ASSERT_EQ(Submit([&] { return rp_send(loop, s1.get(), a, msg, 5); }), 0);
    ASSERT_TRUE(WaitFor([&] { return s1.done(); }));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    char buf[16];
    Op r1;
    ASSERT_EQ(Submit([&] { return rp_recv(loop, r1.get(), b, buf, sizeof buf); }), 0);
    Op post, timer, zero_send;
    ASSERT_EQ(Submit([&] { return rp_post(loop, post.get(), -1); }), 0);
    ASSERT_EQ(Submit([&] { return rp_timeout(loop, timer.get(), RP_SOCKET_INVALID, 0, 0); }), 0);
    ASSERT_EQ(Submit([&] { return rp_send(loop, zero_send.get(), a, msg, 0); }), 0);
    // Rejected submissions never call back.
    Op rejected;
    EXPECT_EQ(rp_recv(loop, rejected.get(), b, nullptr, 4), RP_EINVAL);
    EXPECT_EQ(rp_recv(loop, rejected.get(), 12345, buf, 4), RP_EBADF);
    ASSERT_TRUE(WaitFor([&] { return r1.done() && post.done() && timer.done() && zero_send.done(); }));
    EXPECT_EQ(r1.op.result, 5);
    EXPECT_EQ(memcmp(buf, "hello", 5), 0);
    EXPECT_EQ(post.op.result, 0);
    EXPECT_EQ(timer.op.result, 0);
    EXPECT_EQ(zero_send.op.result, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (!threaded())
        rp_loop_run(loop, RP_RUN_NOWAIT);
    for (Op *op : {&s1, &r1, &post, &timer, &zero_send})
        EXPECT_EQ(op->completions.load(), 1);
    EXPECT_EQ(rejected.completions.load(), 0);
    Finish();
}

// ---- 3: per-socket serialization, receive order ----
TEST_P(Conformance, ReceivesCompleteInOrderAndSocketCallbacksNeverOverlap)
{
    rp_socket a, b;
    Pair(&a, &b);
    const int kRecvs = 32;
    std::atomic<int> inside{0}, overlap{0};
    std::mutex mu;
    std::vector<int> order;
    std::vector<std::vector<unsigned char>> bufs(kRecvs, std::vector<unsigned char>(7));
    std::vector<std::unique_ptr<Op>> recvs;
    auto guard = [&] {
        if (inside.fetch_add(1) != 0)
            overlap++;
        std::this_thread::sleep_for(std::chrono::microseconds(200)); // widen any window
        inside--;
    };
    for (int i = 0; i < kRecvs; i++) {
        recvs.push_back(std::make_unique<Op>([&, i](rp_op *) {
            guard();
            std::lock_guard<std::mutex> g(mu);
            order.push_back(i);
        }));
        ASSERT_EQ(rp_recv(loop, recvs.back()->get(), b, bufs[i].data(), bufs[i].size()), 0);
    }
    Op tick([&](rp_op *) { guard(); });
    ASSERT_EQ(rp_timeout(loop, tick.get(), b, 1, 1), 0); // bound to b: serialized with its callbacks
    std::vector<unsigned char> stream(kRecvs * 7);
    for (size_t i = 0; i < stream.size(); i++)
        stream[i] = PatternByte(7, i);
    // Sent in pieces so receives see partial data.
    std::vector<std::unique_ptr<Op>> sends;
    for (size_t off = 0; off < stream.size(); off += 13) {
        sends.push_back(std::make_unique<Op>());
        size_t n = std::min<size_t>(13, stream.size() - off);
        ASSERT_EQ(rp_send(loop, sends.back()->get(), a, stream.data() + off, n), 0);
    }
    ASSERT_TRUE(WaitFor([&] {
        std::lock_guard<std::mutex> g(mu);
        return (int)order.size() == kRecvs;
    }));
    ASSERT_EQ(rp_cancel(loop, tick.get()), 0);
    ASSERT_TRUE(WaitFor([&] { return tick.done(); }));
    EXPECT_EQ(overlap.load(), 0);
    std::vector<unsigned char> got;
    for (int i = 0; i < kRecvs; i++) {
        EXPECT_EQ(order[i], i) << "receives completed out of submission order";
        ASSERT_GT(recvs[i]->op.result, 0);
        got.insert(got.end(), bufs[i].begin(), bufs[i].begin() + recvs[i]->op.result);
    }
    // Whatever each receive got, in order they are a prefix of the stream.
    ASSERT_LE(got.size(), stream.size());
    EXPECT_TRUE(std::equal(got.begin(), got.end(), stream.begin()));
    Finish();
}

// ---- 3, 4: send order, never interleaved, complete counts ----
struct StreamReader {
    rp_loop *loop;
    rp_socket s;
    std::vector<unsigned char> got;
    std::vector<unsigned char> buf = std::vector<unsigned char>(1 << 16);
    std::atomic<bool> eof{false};
    std::atomic<int64_t> error{0};
    Op op;
    StreamReader(rp_loop *l, rp_socket sock) : loop(l), s(sock)
    {
        op.fn = [this](rp_op *o) {
            if (o->result <= 0) {
                if (o->result < 0)
                    error = o->result;
                eof = true;
                return;
            }
            got.insert(got.end(), buf.begin(), buf.begin() + o->result);
            if (rp_recv(loop, &op.op, s, buf.data(), buf.size()) != 0)
                eof = true;
        };
        EXPECT_EQ(rp_recv(loop, &op.op, s, buf.data(), buf.size()), 0);
    }
};

TEST_P(Conformance, SendsAreTransmittedInOrderAndNeverInterleave)
{
    rp_socket a, b;
    Pair(&a, &b);
    std::vector<size_t> sizes = {1, 100, 262144, 3, 1 << 20, 7, 65536, 300000, 1, 4096, 524288, 17};
    std::vector<std::vector<unsigned char>> msgs;
    std::vector<unsigned char> expect;
    for (size_t i = 0; i < sizes.size(); i++) {
        std::vector<unsigned char> m(sizes[i]);
        for (size_t k = 0; k < m.size(); k++)
            m[k] = PatternByte(i + 100, k);
        expect.insert(expect.end(), m.begin(), m.end());
        msgs.push_back(std::move(m));
    }
    // A gather send too: three pieces of one message.
    std::vector<unsigned char> g1(1000, 0xA1), g2(70000, 0xB2), g3(5, 0xC3);
    rp_buf gather[3] = {{g1.data(), g1.size()}, {g2.data(), g2.size()}, {g3.data(), g3.size()}};
    StreamReader reader(loop, b);
    std::vector<std::unique_ptr<Op>> sends;
    for (auto &m : msgs) {
        sends.push_back(std::make_unique<Op>());
        ASSERT_EQ(rp_send(loop, sends.back()->get(), a, m.data(), m.size()), 0);
    }
    Op gs;
    ASSERT_EQ(rp_sendv(loop, gs.get(), a, gather, 3), 0);
    for (auto *g : {&g1, &g2, &g3})
        expect.insert(expect.end(), g->begin(), g->end());
    Op shut;
    ASSERT_EQ(rp_shutdown(loop, shut.get(), a), 0);
    ASSERT_TRUE(WaitFor([&] { return reader.eof.load(); }, 60000));
    // The peer seeing everything does not order our completions: wait for them before reading results.
    ASSERT_TRUE(WaitFor([&] {
        for (auto &op : sends)
            if (!op->done())
                return false;
        return gs.done() && shut.done();
    }));
    EXPECT_EQ(reader.error.load(), 0);
    for (size_t i = 0; i < sends.size(); i++) {
        EXPECT_EQ(sends[i]->op.result, (int64_t)sizes[i]);
        EXPECT_EQ(rp_op_sent(sends[i]->get()), (int64_t)sizes[i]);
    }
    EXPECT_EQ(gs.op.result, (int64_t)(g1.size() + g2.size() + g3.size()));
    EXPECT_EQ(shut.op.result, 0);
    ASSERT_EQ(reader.got.size(), expect.size());
    EXPECT_TRUE(reader.got == expect) << "stream differs from the sends in submission order";
    Finish();
}

// ---- 5: end of stream and half-close ----
TEST_P(Conformance, HalfCloseDeliversEndOfStreamAndKeepsTheOtherDirection)
{
    rp_socket a, b;
    Pair(&a, &b);
    std::vector<unsigned char> data(200000);
    for (size_t i = 0; i < data.size(); i++)
        data[i] = PatternByte(3, i);
    StreamReader reader(loop, b);
    Op send, shut;
    ASSERT_EQ(rp_send(loop, send.get(), a, data.data(), data.size()), 0);
    ASSERT_EQ(rp_shutdown(loop, shut.get(), a), 0);
    Op again;
    EXPECT_EQ(rp_shutdown(loop, again.get(), a), RP_EALREADY);
    EXPECT_EQ(rp_send(loop, again.get(), a, data.data(), 1), RP_ESHUTDOWN);
    ASSERT_TRUE(WaitFor([&] { return reader.eof.load() && shut.done(); }));
    EXPECT_EQ(reader.error.load(), 0);
    EXPECT_TRUE(reader.got == data);
    // The half-closed side still receives.
    char back[6] = {0};
    Op r, s;
    ASSERT_EQ(rp_recv(loop, r.get(), a, back, sizeof back), 0);
    ASSERT_EQ(rp_send(loop, s.get(), b, "reply!", 6), 0);
    ASSERT_TRUE(WaitFor([&] { return r.done(); }));
    EXPECT_GT(r.op.result, 0);
    EXPECT_EQ(memcmp(back, "reply!", (size_t)r.op.result), 0);
    // Orderly end after the peer closes.
    ASSERT_TRUE(WaitFor([&] { return s.done(); }));
    CloseAndWait(b);
    char more[8];
    int64_t total = r.op.result;
    for (;;) {
        Op eof;
        ASSERT_EQ(rp_recv(loop, eof.get(), a, more, sizeof more), 0);
        ASSERT_TRUE(WaitFor([&] { return eof.done(); }));
        if (eof.op.result <= 0) {
            EXPECT_EQ(eof.op.result, 0);
            break;
        }
        total += eof.op.result;
    }
    EXPECT_EQ(total, 6);
    Finish();
}

// ---- 6: cancellation ----
TEST_P(Conformance, CancelCompletesPendingOpsAndRejectsIdleOnes)
{
    rp_socket a, b;
    Pair(&a, &b);
    char buf[8];
    Op r;
    ASSERT_EQ(rp_recv(loop, r.get(), b, buf, sizeof buf), 0);
    ASSERT_EQ(Submit([&] { return rp_cancel(loop, r.get()); }), 0);
    ASSERT_TRUE(WaitFor([&] { return r.done(); }));
    EXPECT_EQ(r.op.result, RP_ECANCELED);
    EXPECT_EQ(rp_cancel(loop, r.get()), RP_ENOENT) << "cancel of a completed op";
    Op never;
    EXPECT_EQ(rp_cancel(loop, never.get()), RP_ENOENT);

    // The socket still works after a cancelled receive.
    Op r2, s2;
    ASSERT_EQ(rp_recv(loop, r2.get(), b, buf, sizeof buf), 0);
    ASSERT_EQ(rp_send(loop, s2.get(), a, "x", 1), 0);
    ASSERT_TRUE(WaitFor([&] { return r2.done(); }));
    EXPECT_EQ(r2.op.result, 1);

    // Timers: a pending one is cancelled; a repeating one fires with MORE, then ends cancelled.
    Op t;
    ASSERT_EQ(rp_timeout(loop, t.get(), RP_SOCKET_INVALID, 60000, 0), 0);
    ASSERT_EQ(rp_cancel(loop, t.get()), 0);
    ASSERT_TRUE(WaitFor([&] { return t.done(); }));
    EXPECT_EQ(t.op.result, RP_ECANCELED);
    EXPECT_EQ(t.completions.load(), 1);

    // Cancel from another thread while the op is pending on a worker (or in the caller's queue).
    Op r3;
    ASSERT_EQ(rp_recv(loop, r3.get(), b, buf, sizeof buf), 0);
    std::thread([&] { EXPECT_EQ(rp_cancel(loop, r3.get()), 0); }).join();
    ASSERT_TRUE(WaitFor([&] { return r3.done(); }));
    EXPECT_EQ(r3.op.result, RP_ECANCELED);
    Op post;
    ASSERT_EQ(rp_post(loop, post.get(), 0), 0);
    int c = rp_cancel(loop, post.get());
    EXPECT_TRUE(c == RP_ENOTSUP || c == RP_ENOENT);
    ASSERT_TRUE(WaitFor([&] { return post.done(); }));
    EXPECT_EQ(post.op.result, 0);
    Finish();
}

TEST_P(Conformance, CancelEndsASendBlockedOnAPeerThatNeverReads)
{
    rp_socket a, b;
    Pair(&a, &b);
    std::vector<unsigned char> big(64 << 20, 0x42); // far more than the socket buffers hold
    Op s, after;
    ASSERT_EQ(rp_send(loop, s.get(), a, big.data(), big.size()), 0);
    ASSERT_EQ(rp_send(loop, after.get(), a, big.data(), 16), 0); // queued behind it
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (!threaded())
        rp_loop_run(loop, RP_RUN_NOWAIT);
    ASSERT_EQ(rp_cancel(loop, s.get()), 0);
    ASSERT_TRUE(WaitFor([&] { return s.done(); }, 10000)) << "a cancelled send kept going";
    EXPECT_EQ(s.op.result, RP_ECANCELED);
    EXPECT_GT(rp_op_sent(s.get()), 0);
    EXPECT_LT(rp_op_sent(s.get()), (int64_t)big.size());
    Finish();
    EXPECT_EQ(after.finals.load(), 1);
}

TEST_P(Conformance, AcceptSingleAndMultishotCancel)
{
    uint16_t port;
    rp_socket ls = Listen(&port);
    Op single;
    ASSERT_EQ(rp_accept(loop, single.get(), ls, 0), 0);
    ASSERT_EQ(rp_cancel(loop, single.get()), 0);
    ASSERT_TRUE(WaitFor([&] { return single.done(); }));
    EXPECT_EQ(single.op.result, RP_ECANCELED);
    EXPECT_EQ(single.op.socket, RP_SOCKET_INVALID);

    std::mutex mu;
    std::vector<rp_socket> accepted;
    Op multi([&](rp_op *o) {
        if (o->flags & RP_OP_F_MORE) {
            EXPECT_EQ(o->result, 0);
            std::lock_guard<std::mutex> g(mu);
            accepted.push_back(o->socket);
        }
    });
    ASSERT_EQ(rp_accept(loop, multi.get(), ls, RP_ACCEPT_MULTISHOT), 0);
    const int kConns = 20;
    std::vector<std::unique_ptr<Op>> conns;
    rp_addr addr;
    rp_addr_parse(&addr, "127.0.0.1", port);
    for (int i = 0; i < kConns; i++) {
        conns.push_back(std::make_unique<Op>());
        ASSERT_EQ(rp_connect(loop, conns.back()->get(), &addr, nullptr), 0);
    }
    ASSERT_TRUE(WaitFor([&] {
        std::lock_guard<std::mutex> g(mu);
        return (int)accepted.size() == kConns;
    }));
    EXPECT_FALSE(multi.done());
    ASSERT_EQ(rp_cancel(loop, multi.get()), 0);
    ASSERT_TRUE(WaitFor([&] { return multi.done(); }));
    EXPECT_EQ(multi.op.result, RP_ECANCELED);
    EXPECT_EQ(multi.op.flags & RP_OP_F_MORE, 0u);
    EXPECT_EQ(multi.completions.load(), kConns + 1);
    std::sort(accepted.begin(), accepted.end());
    EXPECT_EQ(std::unique(accepted.begin(), accepted.end()), accepted.end()) << "a socket was delivered twice";
    for (auto &c : conns)
        ASSERT_TRUE(WaitFor([&] { return c->done(); }));
    Finish();
}

// ---- 7: close ----
TEST_P(Conformance, CloseCompletesEveryPendingOpBeforeItsOwnCompletion)
{
    rp_socket a, b;
    Pair(&a, &b);
    std::mutex mu;
    std::vector<std::string> order;
    auto record = [&](const std::string &what) {
        std::lock_guard<std::mutex> g(mu);
        order.push_back(what);
    };
    const int kRecvs = 16, kSends = 8;
    std::vector<std::unique_ptr<Op>> ops;
    std::vector<char> rbuf(64 * kRecvs);
    for (int i = 0; i < kRecvs; i++) {
        ops.push_back(std::make_unique<Op>([&](rp_op *o) { record(o->result == RP_ECANCELED ? "recv-cancel" : "recv"); }));
        ASSERT_EQ(rp_recv(loop, ops.back()->get(), a, rbuf.data() + i * 64, 64), 0);
    }
    // Large sends that the peer never reads: most stay pending.
    std::vector<unsigned char> big(4 << 20, 0x5A);
    for (int i = 0; i < kSends; i++) {
        ops.push_back(std::make_unique<Op>([&](rp_op *o) { record(o->result == RP_ECANCELED ? "send-cancel" : "send"); }));
        ASSERT_EQ(rp_send(loop, ops.back()->get(), a, big.data(), big.size()), 0);
    }
    Op timer([&](rp_op *o) { record(o->result == RP_ECANCELED ? "timer-cancel" : "timer"); });
    ASSERT_EQ(rp_timeout(loop, timer.get(), a, 60000, 0), 0);
    Op close([&](rp_op *) { record("close"); });
    ASSERT_EQ(rp_close(loop, close.get(), a), 0);
    // The handle is dead at once.
    Op late;
    char c;
    EXPECT_EQ(rp_recv(loop, late.get(), a, &c, 1), RP_EBADF);
    EXPECT_EQ(rp_close(loop, late.get(), a), RP_EBADF);
    EXPECT_EQ(rp_close(loop, nullptr, a), RP_EBADF);
    ASSERT_TRUE(WaitFor([&] { return close.done(); }));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (!threaded())
        rp_loop_run(loop, RP_RUN_NOWAIT);
    std::lock_guard<std::mutex> g(mu);
    ASSERT_EQ(order.size(), (size_t)(kRecvs + kSends + 2));
    EXPECT_EQ(order.back(), "close");
    int cancelled = 0;
    for (auto &s : order)
        cancelled += s.find("cancel") != std::string::npos;
    EXPECT_GE(cancelled, kRecvs + 1 + kSends - 2) << "pending ops must end cancelled";
    for (auto &op : ops)
        EXPECT_EQ(op->completions.load(), 1);
    EXPECT_EQ(late.completions.load(), 0);
    Finish();
}

// ---- echo at scale ----
struct EchoServer {
    rp_loop *loop;
    Op accept_op;
    std::atomic<int> live{0};
    struct Conn {
        EchoServer *srv;
        rp_socket s;
        Op op;
        std::vector<unsigned char> buf = std::vector<unsigned char>(65536);
    };
    explicit EchoServer(rp_loop *l, rp_socket ls) : loop(l)
    {
        accept_op.fn = [this](rp_op *o) {
            if (!(o->flags & RP_OP_F_MORE))
                return;
            auto *c = new Conn{this, o->socket, {}};
            live++;
            c->op.may_delete_itself = true;
            c->op.fn = [c](rp_op *op) { c->srv->Step(c, op); };
            Recv(c);
        };
        EXPECT_EQ(rp_accept(loop, accept_op.get(), ls, RP_ACCEPT_MULTISHOT), 0);
    }
    void Drop(Conn *c)
    {
        rp_close(loop, nullptr, c->s);
        live--;
        delete c;
    }
    void Recv(Conn *c)
    {
        if (rp_recv(loop, c->op.get(), c->s, c->buf.data(), c->buf.size()) != 0)
            Drop(c);
    }
    void Step(Conn *c, rp_op *op)
    {
        if (op->kind == RP_OP_RECV) {
            if (op->result <= 0) {
                Drop(c);
                return;
            }
            if (rp_send(loop, c->op.get(), c->s, c->buf.data(), (size_t)op->result) != 0)
                Drop(c);
            return;
        }
        if (op->result < 0) {
            Drop(c);
            return;
        }
        Recv(c);
    }
};

struct EchoClient {
    rp_loop *loop;
    rp_socket s = 0;
    uint64_t seed;
    std::vector<size_t> sizes;
    size_t msg = 0, got = 0;
    std::vector<unsigned char> out, in;
    Op conn, send, recv;
    std::atomic<int> state{0}; // 0 running, 1 verified, -1 failed
    std::string failure;

    void Fail(const std::string &why)
    {
        failure = why;
        state = -1;
    }
    void Next()
    {
        if (msg == sizes.size()) {
            state = 1;
            return;
        }
        out.resize(sizes[msg]);
        for (size_t k = 0; k < out.size(); k++)
            out[k] = PatternByte(seed + msg, k);
        in.assign(out.size(), 0);
        got = 0;
        if (rp_send(loop, send.get(), s, out.data(), out.size()) != 0 ||
            rp_recv(loop, recv.get(), s, in.data(), in.size()) != 0)
            Fail("submit");
    }
    void Start(const rp_addr &addr)
    {
        conn.fn = [this](rp_op *o) {
            if (o->result != 0)
                return Fail(std::string("connect: ") + rp_strerror((int)o->result));
            s = o->socket;
            Next();
        };
        send.fn = [this](rp_op *o) {
            if (o->result != (int64_t)out.size())
                Fail("send result");
        };
        recv.fn = [this](rp_op *o) {
            if (o->result <= 0)
                return Fail(std::string("recv: ") + rp_strerror((int)o->result));
            got += (size_t)o->result;
            if (got < in.size()) {
                if (rp_recv(loop, recv.get(), s, in.data() + got, in.size() - got) != 0)
                    Fail("recv submit");
                return;
            }
            if (in != out)
                return Fail("echoed bytes differ");
            msg++;
            Next();
        };
        if (rp_connect(loop, conn.get(), &addr, nullptr) != 0)
            Fail("connect submit");
    }
};

TEST_P(Conformance, EchoThousandConnectionsRandomSizesEveryByteChecked)
{
    uint16_t port;
    rp_socket ls = Listen(&port);
    EchoServer server(loop, ls);
    const int kConns = 1000;
    // Sizes log-uniform from 1 B to 1 MiB; the byte budget keeps sanitizer runs reasonable.
    double budget = 64e6 * Scale();
    std::mt19937_64 rng(12345);
    std::uniform_real_distribution<double> logsize(0.0, 20.0);
    std::vector<std::unique_ptr<EchoClient>> clients;
    double total = 0;
    for (int i = 0; i < kConns; i++) {
        auto c = std::make_unique<EchoClient>();
        c->loop = loop;
        c->seed = (uint64_t)i * 1000;
        int n = 1 + (int)(rng() % 3);
        for (int k = 0; k < n; k++) {
            size_t sz = (size_t)std::pow(2.0, logsize(rng));
            if (i % 97 == 0 && k == 0)
                sz = 1 << 20; // some full 1 MiB messages in every run
            if (total + (double)sz > budget)
                sz = 1 + sz % 1024;
            total += (double)sz;
            c->sizes.push_back(std::max<size_t>(1, std::min<size_t>(sz, 1 << 20)));
        }
        clients.push_back(std::move(c));
    }
    rp_addr addr;
    rp_addr_parse(&addr, "127.0.0.1", port);
    for (auto &c : clients)
        c->Start(addr);
    ASSERT_TRUE(WaitFor(
        [&] {
            for (auto &c : clients)
                if (c->state.load() == 0)
                    return false;
            return true;
        },
        120000));
    int ok = 0;
    for (auto &c : clients) {
        ok += c->state.load() == 1;
        if (c->state.load() != 1)
            ADD_FAILURE() << "client failed: " << c->failure;
        if (ok + 1 < (int)clients.size() && c->state.load() != 1)
            break;
    }
    EXPECT_EQ(ok, kConns);
    Finish(); // closes the server connections (their pending receives end cancelled) and the clients
    EXPECT_EQ(server.live.load(), 0);
}

// ---- connection errors ----
TEST_P(Conformance, ConnectToClosedPortIsRefused)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    ASSERT_EQ(bind(fd, (sockaddr *)&sa, sizeof sa), 0);
    ASSERT_EQ(getsockname(fd, (sockaddr *)&sa, &len), 0);
    close(fd); // the port is now closed
    rp_addr addr;
    rp_addr_parse(&addr, "127.0.0.1", ntohs(sa.sin_port));
    Op c;
    ASSERT_EQ(rp_connect(loop, c.get(), &addr, nullptr), 0);
    ASSERT_TRUE(WaitFor([&] { return c.done(); }));
    EXPECT_EQ(c.op.result, RP_ECONNREFUSED);
    EXPECT_EQ(c.op.socket, RP_SOCKET_INVALID);
    Finish();
}

TEST_P(Conformance, IPv6ConnectAndAccept)
{
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_addr = in6addr_loopback;
    bool have_v6 = probe >= 0 && bind(probe, (sockaddr *)&sa, sizeof sa) == 0;
    if (probe >= 0)
        close(probe);
    if (!have_v6)
        GTEST_SKIP() << "no IPv6 loopback";
    rp_socket a, b;
    Pair(&a, &b, "::1");
    rp_addr peer;
    ASSERT_EQ(rp_socket_peer_addr(loop, b, &peer), 0);
    EXPECT_EQ(peer.family, RP_AF_INET6);
    char buf[4];
    Op r, s;
    ASSERT_EQ(rp_recv(loop, r.get(), b, buf, 4), 0);
    ASSERT_EQ(rp_send(loop, s.get(), a, "six!", 4), 0);
    ASSERT_TRUE(WaitFor([&] { return r.done() && s.done(); }));
    EXPECT_EQ(r.op.result, 4);
    Finish();
}

TEST_P(Conformance, PeerResetMidSendFailsTheSend)
{
    // The peer is a plain socket that resets the connection (SO_LINGER 0) while we are sending.
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    ASSERT_EQ(bind(lfd, (sockaddr *)&sa, sizeof sa), 0);
    ASSERT_EQ(listen(lfd, 4), 0);
    ASSERT_EQ(getsockname(lfd, (sockaddr *)&sa, &len), 0);
    rp_addr addr;
    rp_addr_parse(&addr, "127.0.0.1", ntohs(sa.sin_port));
    Op c;
    ASSERT_EQ(rp_connect(loop, c.get(), &addr, nullptr), 0);
    ASSERT_TRUE(WaitFor([&] { return c.done(); })); // the kernel completes the handshake from its backlog
    ASSERT_EQ(c.op.result, 0);
    int peer = accept(lfd, nullptr, nullptr);
    ASSERT_GE(peer, 0);
    std::vector<unsigned char> big(32 << 20, 1);
    Op s;
    ASSERT_EQ(rp_send(loop, s.get(), c.op.socket, big.data(), big.size()), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (!threaded())
        rp_loop_run(loop, RP_RUN_NOWAIT);
    linger lg{1, 0};
    setsockopt(peer, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(peer);
    close(lfd);
    ASSERT_TRUE(WaitFor([&] { return s.done(); }));
    EXPECT_TRUE(s.op.result == RP_ECONNRESET || s.op.result == RP_EPIPE) << rp_strerror((int)s.op.result);
    EXPECT_LE(rp_op_sent(s.get()), (int64_t)big.size());
    // A receive on the reset socket fails (or sees the end) too, and never hangs.
    char buf[4];
    Op r;
    ASSERT_EQ(rp_recv(loop, r.get(), c.op.socket, buf, 4), 0);
    ASSERT_TRUE(WaitFor([&] { return r.done(); }));
    EXPECT_LE(r.op.result, 0);
    Finish();
}

// ---- timers ----
TEST_P(Conformance, TimersFireInDeadlineOrderAndEqualDeadlinesInSubmissionOrder)
{
    std::mutex mu;
    std::vector<int> order;
    std::vector<std::unique_ptr<Op>> timers;
    const uint64_t delays[] = {40, 10, 30, 10, 20, 10, 0, 30};
    for (int i = 0; i < 8; i++) {
        timers.push_back(std::make_unique<Op>([&, i](rp_op *) {
            std::lock_guard<std::mutex> g(mu);
            order.push_back(i);
        }));
    }
    // All on one worker (worker 0 from outside the loop) so that their order is defined.
    for (int i = 0; i < 8; i++)
        ASSERT_EQ(rp_timeout(loop, timers[i]->get(), RP_SOCKET_INVALID, delays[i], 0), 0);
    ASSERT_TRUE(WaitFor([&] {
        std::lock_guard<std::mutex> g(mu);
        return order.size() == 8;
    }));
    std::vector<int> expect = {6, 1, 3, 5, 4, 2, 7, 0};
    EXPECT_EQ(order, expect);
    Finish();
}

TEST_P(Conformance, RepeatingTimerFiresWithMoreUntilCancelled)
{
    std::atomic<int> more{0};
    Op t([&](rp_op *o) {
        if (o->flags & RP_OP_F_MORE) {
            EXPECT_EQ(o->result, 0);
            more++;
        }
    });
    ASSERT_EQ(rp_timeout(loop, t.get(), RP_SOCKET_INVALID, 1, 2), 0);
    ASSERT_TRUE(WaitFor([&] { return more.load() >= 5; }));
    EXPECT_FALSE(t.done());
    ASSERT_EQ(rp_cancel(loop, t.get()), 0);
    ASSERT_TRUE(WaitFor([&] { return t.done(); }));
    EXPECT_EQ(t.op.result, RP_ECANCELED);
    EXPECT_EQ(t.finals.load(), 1);
    Finish();
}

TEST_P(Conformance, HundredThousandTimersEachFireOnceAndNeverEarly)
{
    const int kTimers = (int)(100000 * std::min(1.0, Scale() * 4));
    using clock = std::chrono::steady_clock;
    struct T {
        Op op;
        uint64_t delay;
        clock::time_point submitted;
    };
    std::vector<std::unique_ptr<T>> timers;
    std::mt19937 rng(7);
    std::atomic<int> fired{0}, early{0}, failed{0};
    for (int i = 0; i < kTimers; i++) {
        auto t = std::make_unique<T>();
        t->delay = rng() % 50;
        T *raw = t.get();
        raw->op.fn = [&, raw](rp_op *o) {
            if (o->result != 0)
                failed++;
            if (clock::now() < raw->submitted + std::chrono::milliseconds(raw->delay))
                early++;
            fired++;
        };
        timers.push_back(std::move(t));
    }
    for (auto &t : timers) {
        t->submitted = clock::now();
        ASSERT_EQ(rp_timeout(loop, t->op.get(), RP_SOCKET_INVALID, t->delay, 0), 0);
    }
    ASSERT_TRUE(WaitFor([&] { return fired.load() == kTimers; }, 120000));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (!threaded())
        rp_loop_run(loop, RP_RUN_NOWAIT);
    for (auto &t : timers)
        ASSERT_EQ(t->op.completions.load(), 1);
    EXPECT_EQ(failed.load(), 0);
    EXPECT_EQ(early.load(), 0) << "a timer fired before its delay";
    Finish();
}

// ---- posts ----
TEST_P(Conformance, PostsFromEightThreadsAllRunOnceOnTheRequestedWorker)
{
    const int kThreads = 8, kPerThread = (int)(10000 * std::min(1.0, Scale() * 2));
    int workers = std::max(1, rp_loop_workers(loop));
    std::vector<std::vector<std::unique_ptr<Op>>> ops(kThreads);
    std::atomic<int> ran{0}, wrong_worker{0};
    for (int t = 0; t < kThreads; t++)
        for (int i = 0; i < kPerThread; i++) {
            int target = (t + i) % workers;
            ops[t].push_back(std::make_unique<Op>([&, target](rp_op *) {
                if (rp_loop_current_worker(loop) != target)
                    wrong_worker++;
                ran++;
            }));
        }
    std::vector<std::thread> threads;
    std::atomic<int> rejected{0};
    for (int t = 0; t < kThreads; t++)
        threads.emplace_back([&, t] {
            for (int i = 0; i < kPerThread; i++)
                if (rp_post(loop, ops[t][i]->get(), (t + i) % workers) != 0)
                    rejected++;
        });
    if (!threaded()) {
        // The caller drives the loop while the posts arrive.
        ASSERT_TRUE(WaitFor([&] { return ran.load() == kThreads * kPerThread; }, 120000));
    }
    for (auto &th : threads)
        th.join();
    EXPECT_EQ(rejected.load(), 0);
    ASSERT_TRUE(WaitFor([&] { return ran.load() == kThreads * kPerThread; }, 120000));
    EXPECT_EQ(wrong_worker.load(), 0);
    for (auto &v : ops)
        for (auto &op : v)
            EXPECT_EQ(op->completions.load(), 1);
    Finish();
}

// ---- destroy ----
TEST_P(Conformance, DestroyWithLiveSocketsCancelsAndDeliversEverything)
{
    rp_socket a, b;
    Pair(&a, &b);
    uint16_t port;
    rp_socket ls = Listen(&port);
    std::vector<std::unique_ptr<Op>> ops;
    char buf[64][8];
    for (int i = 0; i < 64; i++) {
        ops.push_back(std::make_unique<Op>());
        ASSERT_EQ(rp_recv(loop, ops.back()->get(), i % 2 ? a : b, buf[i], 8), 0);
    }
    ops.push_back(std::make_unique<Op>());
    ASSERT_EQ(rp_accept(loop, ops.back()->get(), ls, RP_ACCEPT_MULTISHOT), 0);
    ops.push_back(std::make_unique<Op>());
    ASSERT_EQ(rp_timeout(loop, ops.back()->get(), RP_SOCKET_INVALID, 100000, 0), 0);
    ops.push_back(std::make_unique<Op>());
    ASSERT_EQ(rp_timeout(loop, ops.back()->get(), a, 50, 50), 0);
    Finish();
    for (auto &op : ops) {
        EXPECT_EQ(op->finals.load(), 1);
        // A receive may see its peer's close (end of stream) before its own socket is swept.
        if (op->op.kind == RP_OP_RECV && op->op.result == 0)
            continue;
        EXPECT_EQ(op->op.result, RP_ECANCELED) << "kind " << op->op.kind;
    }
}

// ---- descriptors ----
int OpenDescriptors()
{
    int n = 0;
    for (int fd = 0; fd < 8192; fd++)
        n += fcntl(fd, F_GETFD) != -1;
    return n;
}

TEST_P(Conformance, DestroyLeavesNoDescriptorBehind)
{
#if defined(__linux__)
    if (GetParam().backend == RP_BACKEND_KQUEUE)
        GTEST_SKIP() << "libkqueue opens and closes descriptors of its own from a helper thread";
#endif
    Finish(); // the fixture's loop was created before the first count
    int before = OpenDescriptors();
    rp_loop_options o;
    rp_loop_options_init(&o);
    o.backend = GetParam().backend;
    o.workers = GetParam().workers;
    ASSERT_EQ(rp_loop_create(&loop, &o), 0);
    if (!threaded()) {
        heartbeat = std::make_unique<Op>();
        ASSERT_EQ(rp_timeout(loop, heartbeat->get(), RP_SOCKET_INVALID, 5, 5), 0);
    }
    rp_socket a, b, c, d;
    Pair(&a, &b);
    Pair(&c, &d);
    CloseAndWait(c); // one closed normally, the rest left to destroy
    uint16_t port;
    rp_socket ls = Listen(&port);
    Op acc, r1, r2, refused;
    ASSERT_EQ(rp_accept(loop, acc.get(), ls, RP_ACCEPT_MULTISHOT), 0);
    char buf[8];
    ASSERT_EQ(rp_recv(loop, r1.get(), a, buf, sizeof buf), 0);
    ASSERT_EQ(rp_recv(loop, r2.get(), d, buf, sizeof buf), 0);
    rp_addr addr;
    rp_addr_parse(&addr, "127.0.0.1", port);
    std::vector<std::unique_ptr<Op>> conns;
    for (int i = 0; i < 8; i++) { // accepted and waiting in the listener's queue at destroy
        conns.push_back(std::make_unique<Op>());
        ASSERT_EQ(rp_connect(loop, conns.back()->get(), &addr, nullptr), 0);
    }
    ASSERT_TRUE(WaitFor([&] {
        for (auto &op : conns)
            if (!op->done())
                return false;
        return true;
    }));
    Finish();
    EXPECT_EQ(OpenDescriptors(), before) << "descriptors leaked by a loop's life";
}

// ---- caller-driven specifics ----
TEST_P(Conformance, CallerDrivenPollRunAndStop)
{
    if (threaded()) {
        EXPECT_EQ(rp_loop_run(loop, RP_RUN_NOWAIT), RP_EINVAL);
        rp_op *out[4];
        EXPECT_EQ(rp_loop_poll(loop, out, 4, 0), RP_EINVAL);
        EXPECT_EQ(rp_loop_stop(loop), RP_EINVAL);
        Finish();
        return;
    }
    // Ops without callbacks, collected by rp_loop_poll.
    rp_op posts[3];
    for (auto &p : posts) {
        ASSERT_EQ(rp_op_init(&p, nullptr, nullptr), 0);
        ASSERT_EQ(rp_post(loop, &p, 0), 0);
    }
    std::vector<rp_op *> seen;
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (seen.size() < 3 && std::chrono::steady_clock::now() < until) {
        rp_op *out[8];
        int n = rp_loop_poll(loop, out, 8, 10);
        ASSERT_GE(n, 0);
        for (int i = 0; i < n; i++)
            if (out[i] != heartbeat->get())
                seen.push_back(out[i]);
    }
    ASSERT_EQ(seen.size(), 3u);
    for (auto &p : posts)
        EXPECT_EQ(std::count(seen.begin(), seen.end(), &p), 1);
    // A multishot accept appears at most once per poll call.
    uint16_t port;
    rp_socket ls = Listen(&port);
    rp_op acc;
    rp_op_init(&acc, nullptr, nullptr);
    ASSERT_EQ(rp_accept(loop, &acc, ls, RP_ACCEPT_MULTISHOT), 0);
    rp_addr addr;
    rp_addr_parse(&addr, "127.0.0.1", port);
    std::vector<std::unique_ptr<Op>> conns;
    for (int i = 0; i < 5; i++) {
        conns.push_back(std::make_unique<Op>());
        ASSERT_EQ(rp_connect(loop, conns.back()->get(), &addr, nullptr), 0);
    }
    int accepted = 0;
    until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (accepted < 5 && std::chrono::steady_clock::now() < until) {
        rp_op *out[16];
        int n = rp_loop_poll(loop, out, 16, 10);
        int mine = 0;
        for (int i = 0; i < n; i++) {
            if (out[i] == &acc) {
                mine++;
                EXPECT_TRUE(acc.flags & RP_OP_F_MORE);
                EXPECT_NE(acc.socket, RP_SOCKET_INVALID);
                accepted++;
            } else if (out[i]->cb) {
                out[i]->cb(out[i]); // poll hands out callback ops too; run them ourselves
            }
        }
        EXPECT_LE(mine, 1);
    }
    EXPECT_EQ(accepted, 5);
    // NOWAIT returns at once; stop from another thread ends a DEFAULT run.
    EXPECT_GE(rp_loop_run(loop, RP_RUN_NOWAIT), 0);
    std::thread stopper([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        EXPECT_EQ(rp_loop_stop(loop), 0);
    });
    EXPECT_GE(rp_loop_run(loop, RP_RUN_DEFAULT), 0);
    stopper.join();
    // Another thread may not drive the loop at the same time; a callback may not destroy it.
    Op destroyer([&](rp_op *) { EXPECT_EQ(rp_loop_destroy(loop), RP_EBUSY); });
    ASSERT_EQ(rp_post(loop, destroyer.get(), 0), 0);
    ASSERT_TRUE(WaitFor([&] { return destroyer.done(); }));
    ASSERT_EQ(rp_cancel(loop, &acc), 0);
    Finish();
}

// ---- bad arguments to every call ----
TEST_P(Conformance, BadArgumentsAreRejectedWithoutSideEffects)
{
    rp_socket a, b;
    Pair(&a, &b);
    uint16_t port;
    rp_socket ls = Listen(&port);
    Op op;
    char buf[4];
    rp_addr addr;
    rp_addr_parse(&addr, "127.0.0.1", port);
    const rp_socket stale = a ^ (1ull << 40), garbage = 0xFFFFFFFFFFFFull;
    rp_buf bufs[1] = {{buf, 4}};

    EXPECT_EQ(rp_recv(nullptr, op.get(), a, buf, 4), RP_EINVAL);
    EXPECT_EQ(rp_recv(loop, nullptr, a, buf, 4), RP_EINVAL);
    EXPECT_EQ(rp_recv(loop, op.get(), a, nullptr, 4), RP_EINVAL);
    EXPECT_EQ(rp_recv(loop, op.get(), a, buf, 0), RP_EINVAL);
    EXPECT_EQ(rp_recv(loop, op.get(), 0, buf, 4), RP_EBADF);
    EXPECT_EQ(rp_recv(loop, op.get(), stale, buf, 4), RP_EBADF);
    EXPECT_EQ(rp_recv(loop, op.get(), garbage, buf, 4), RP_EBADF);
    EXPECT_EQ(rp_recv(loop, op.get(), ls, buf, 4), RP_EINVAL) << "receive on a listener";
    EXPECT_EQ(rp_send(nullptr, op.get(), a, buf, 4), RP_EINVAL);
    EXPECT_EQ(rp_send(loop, nullptr, a, buf, 4), RP_EINVAL);
    EXPECT_EQ(rp_send(loop, op.get(), a, nullptr, 4), RP_EINVAL);
    EXPECT_EQ(rp_send(loop, op.get(), stale, buf, 4), RP_EBADF);
    EXPECT_EQ(rp_sendv(loop, op.get(), a, nullptr, 1), RP_EINVAL);
    EXPECT_EQ(rp_sendv(loop, op.get(), a, bufs, 0), RP_EINVAL);
    EXPECT_EQ(rp_sendv(loop, op.get(), a, bufs, 100000), RP_EINVAL);
    EXPECT_EQ(rp_shutdown(nullptr, op.get(), a), RP_EINVAL);
    EXPECT_EQ(rp_shutdown(loop, nullptr, a), RP_EINVAL);
    EXPECT_EQ(rp_shutdown(loop, op.get(), garbage), RP_EBADF);
    EXPECT_EQ(rp_accept(loop, op.get(), a, 0), RP_EINVAL) << "accept on a stream socket";
    EXPECT_EQ(rp_accept(loop, op.get(), ls, 0x80), RP_EINVAL);
    EXPECT_EQ(rp_accept(nullptr, op.get(), ls, 0), RP_EINVAL);
    EXPECT_EQ(rp_accept(loop, nullptr, ls, 0), RP_EINVAL);
    EXPECT_EQ(rp_accept(loop, op.get(), stale, 0), RP_EBADF);
    EXPECT_EQ(rp_connect(nullptr, op.get(), &addr, nullptr), RP_EINVAL);
    EXPECT_EQ(rp_connect(loop, nullptr, &addr, nullptr), RP_EINVAL);
    EXPECT_EQ(rp_connect(loop, op.get(), nullptr, nullptr), RP_EINVAL);
    rp_addr bad = addr;
    bad.family = 99;
    EXPECT_EQ(rp_connect(loop, op.get(), &bad, nullptr), RP_EINVAL);
    rp_connect_options copts;
    rp_connect_options_init(&copts);
    copts.reserved[3] = 1;
    EXPECT_EQ(rp_connect(loop, op.get(), &addr, &copts), RP_EINVAL);
    rp_connect_options_init(&copts);
    copts.worker = 999;
    EXPECT_EQ(rp_connect(loop, op.get(), &addr, &copts), RP_EINVAL);
    rp_socket out;
    EXPECT_EQ(rp_listen(nullptr, &out, &addr, nullptr), RP_EINVAL);
    EXPECT_EQ(rp_listen(loop, nullptr, &addr, nullptr), RP_EINVAL);
    EXPECT_EQ(rp_listen(loop, &out, nullptr, nullptr), RP_EINVAL);
    EXPECT_EQ(rp_listen(loop, &out, &bad, nullptr), RP_EINVAL);
    rp_listen_options lopts;
    rp_listen_options_init(&lopts);
    lopts.backlog = -1;
    EXPECT_EQ(rp_listen(loop, &out, &addr, &lopts), RP_EINVAL);
    rp_listen_options_init(&lopts);
    lopts.reserved[0] = 7;
    EXPECT_EQ(rp_listen(loop, &out, &addr, &lopts), RP_EINVAL);
    EXPECT_EQ(rp_listen(loop, &out, &addr, nullptr), RP_EADDRINUSE) << "port already listened on";
    EXPECT_EQ(rp_timeout(nullptr, op.get(), 0, 1, 0), RP_EINVAL);
    EXPECT_EQ(rp_timeout(loop, nullptr, 0, 1, 0), RP_EINVAL);
    EXPECT_EQ(rp_timeout(loop, op.get(), stale, 1, 0), RP_EBADF);
    EXPECT_EQ(rp_timeout(loop, op.get(), 0, UINT64_MAX, 0), RP_EINVAL);
    EXPECT_EQ(rp_post(nullptr, op.get(), 0), RP_EINVAL);
    EXPECT_EQ(rp_post(loop, nullptr, 0), RP_EINVAL);
    EXPECT_EQ(rp_post(loop, op.get(), 999), RP_EINVAL);
    EXPECT_EQ(rp_post(loop, op.get(), -2), RP_EINVAL);
    EXPECT_EQ(rp_cancel(nullptr, op.get()), RP_EINVAL);
    EXPECT_EQ(rp_cancel(loop, nullptr), RP_EINVAL);
    EXPECT_EQ(rp_close(nullptr, op.get(), a), RP_EINVAL);
    EXPECT_EQ(rp_close(loop, op.get(), 0), RP_EBADF);
    EXPECT_EQ(rp_close(loop, op.get(), garbage), RP_EBADF);
    EXPECT_EQ(rp_socket_set_nodelay(nullptr, a, 1), RP_EINVAL);
    EXPECT_EQ(rp_socket_set_nodelay(loop, stale, 1), RP_EBADF);
    EXPECT_EQ(rp_socket_set_nodelay(loop, a, 0), 0);
    EXPECT_EQ(rp_socket_local_addr(loop, a, nullptr), RP_EINVAL);
    EXPECT_EQ(rp_socket_local_addr(nullptr, a, &addr), RP_EINVAL);
    EXPECT_EQ(rp_socket_peer_addr(loop, stale, &addr), RP_EBADF);
    EXPECT_EQ(rp_socket_peer_addr(loop, ls, &addr), RP_ENOTCONN);
    EXPECT_EQ(rp_socket_worker(nullptr, a), RP_EINVAL);
    EXPECT_EQ(rp_socket_worker(loop, garbage), RP_EBADF);
    EXPECT_GE(rp_socket_worker(loop, a), 0);
    EXPECT_EQ(rp_loop_workers(nullptr), RP_EINVAL);
    EXPECT_EQ(rp_loop_backend(nullptr), RP_BACKEND_AUTO);
    EXPECT_EQ(rp_loop_current_worker(loop), -1);
    EXPECT_EQ(rp_loop_current_worker(nullptr), -1);
    EXPECT_EQ(rp_loop_run(nullptr, RP_RUN_NOWAIT), RP_EINVAL);
    EXPECT_EQ(rp_loop_run(loop, (rp_run_mode)7), RP_EINVAL);
    rp_op *outs[2];
    EXPECT_EQ(rp_loop_poll(nullptr, outs, 2, 0), RP_EINVAL);
    EXPECT_EQ(rp_loop_poll(loop, nullptr, 2, 0), RP_EINVAL);
    EXPECT_EQ(rp_loop_poll(loop, outs, 0, 0), RP_EINVAL);
    EXPECT_EQ(rp_loop_stop(nullptr), RP_EINVAL);
    EXPECT_EQ(rp_loop_destroy(nullptr), RP_EINVAL);
    EXPECT_EQ(rp_op_init(nullptr, nullptr, nullptr), RP_EINVAL);
    EXPECT_EQ(rp_op_pending(nullptr), 0);
    EXPECT_EQ(rp_op_sent(nullptr), 0);
    rp_loop *l2 = nullptr;
    EXPECT_EQ(rp_loop_create(nullptr, nullptr), RP_EINVAL);
    rp_loop_options lo;
    rp_loop_options_init(&lo);
    lo.reserved[5] = 1;
    EXPECT_EQ(rp_loop_create(&l2, &lo), RP_EINVAL);
    rp_loop_options_init(&lo);
    lo.workers = -5;
    EXPECT_EQ(rp_loop_create(&l2, &lo), RP_EINVAL);
    rp_loop_options_init(&lo);
    lo.backend = (rp_backend)42;
    EXPECT_EQ(rp_loop_create(&l2, &lo), RP_EINVAL);
    EXPECT_EQ(l2, nullptr);

    // A pending op cannot be submitted again, and a threaded loop needs callbacks.
    Op pending;
    ASSERT_EQ(rp_recv(loop, pending.get(), b, buf, 4), 0);
    EXPECT_EQ(rp_recv(loop, pending.get(), b, buf, 4), RP_EBUSY);
    EXPECT_EQ(rp_send(loop, pending.get(), a, buf, 4), RP_EBUSY);
    EXPECT_EQ(rp_op_pending(pending.get()), 1);
    if (threaded()) {
        rp_op nocb;
        rp_op_init(&nocb, nullptr, nullptr);
        EXPECT_EQ(rp_post(loop, &nocb, 0), RP_EINVAL);
    }
    // Destroy from inside a callback is refused.
    Op inside([&](rp_op *) { EXPECT_EQ(rp_loop_destroy(loop), RP_EBUSY); });
    ASSERT_EQ(rp_post(loop, inside.get(), 0), 0);
    ASSERT_TRUE(WaitFor([&] { return inside.done(); }));
    EXPECT_EQ(op.completions.load(), 0) << "a rejected submission called back";
    Finish();
}

INSTANTIATE_TEST_SUITE_P(Backends, Conformance, ::testing::ValuesIn(AllModes()), ModeName);

// ---- plain functions, no loop ----
TEST(Errors, EveryCodeHasAName)
{
    std::map<std::string, int> seen;
    for (int code = RP_EINVAL; code >= RP_EIO; code--) {
        const char *s = rp_strerror(code);
        ASSERT_NE(s, nullptr);
        EXPECT_STRNE(s, "unknown error") << code;
        EXPECT_EQ(seen.count(s), 0u) << "duplicate name " << s;
        seen[s] = code;
    }
    EXPECT_STREQ(rp_strerror(-9999), "unknown error");
    EXPECT_STREQ(rp_strerror(12345), "unknown error");
    EXPECT_NE(rp_strerror(0), nullptr);
}

TEST(Addr, ParseAndFormatRoundTrip)
{
    rp_addr a;
    char text[RP_ADDR_STRLEN];
    ASSERT_EQ(rp_addr_parse(&a, "127.0.0.1", 8080), 0);
    EXPECT_EQ(a.family, RP_AF_INET);
    ASSERT_GT(rp_addr_format(&a, text, sizeof text), 0);
    EXPECT_STREQ(text, "127.0.0.1:8080");
    ASSERT_EQ(rp_addr_parse_endpoint(&a, "[::1]:8080"), 0);
    EXPECT_EQ(a.family, RP_AF_INET6);
    EXPECT_EQ(a.port, 8080);
    rp_addr_format(&a, text, sizeof text);
    EXPECT_STREQ(text, "[::1]:8080");
    const char *v6[] = {"2001:db8::1", "::", "fe80::1:2:3:4", "1:2:3:4:5:6:7:8", "::ffff:10.1.2.3"};
    for (const char *s : v6) {
        rp_addr x, y;
        ASSERT_EQ(rp_addr_parse(&x, s, 1), 0) << s;
        rp_addr_format(&x, text, sizeof text);
        ASSERT_EQ(rp_addr_parse_endpoint(&y, text), 0) << text;
        EXPECT_EQ(memcmp(x.ip, y.ip, 16), 0) << s;
    }
    ASSERT_EQ(rp_addr_parse(&a, "fe80::1%3", 9), 0);
    EXPECT_EQ(a.scope_id, 3u);
    ASSERT_EQ(rp_addr_parse_endpoint(&a, "10.0.0.1:65535"), 0);
    EXPECT_EQ(a.port, 65535);
    const char *junk[] = {"", "1.2.3", "256.1.1.1", "1.2.3.4.5", "01.2.3.4", ":::", "1::2::3", "g::1", "12345::",
                          "1:2:3:4:5:6:7:8:9", "fe80::1%", "fe80::1%x", "hello"};
    for (const char *s : junk)
        EXPECT_EQ(rp_addr_parse(&a, s, 1), RP_EINVAL) << s;
    const char *bad_endpoints[] = {"1.2.3.4", "1.2.3.4:", "1.2.3.4:70000", "[::1]", "::1:80", "[::1]:x", ":80"};
    for (const char *s : bad_endpoints)
        EXPECT_EQ(rp_addr_parse_endpoint(&a, s), RP_EINVAL) << s;
    EXPECT_EQ(rp_addr_parse(nullptr, "1.1.1.1", 1), RP_EINVAL);
    EXPECT_EQ(rp_addr_parse(&a, nullptr, 1), RP_EINVAL);
    EXPECT_EQ(rp_addr_format(nullptr, text, sizeof text), RP_EINVAL);
    rp_addr_parse(&a, "1.1.1.1", 1);
    EXPECT_EQ(rp_addr_format(&a, text, 4), RP_ENOBUFS);
    a.family = 0;
    EXPECT_EQ(rp_addr_format(&a, text, sizeof text), RP_EINVAL);
}

TEST(Loop, EnvironmentOverridesAutoBackend)
{
    rp_loop *l = nullptr;
    rp_loop_options o;
    rp_loop_options_init(&o);
    o.workers = 0;
#if defined(__linux__)
    const char *name = "epoll";
    const rp_backend expected = RP_BACKEND_EPOLL;
#else
    const char *name = "kqueue";
    const rp_backend expected = RP_BACKEND_KQUEUE;
#endif
    setenv("RINGPORT_BACKEND", name, 1);
    ASSERT_EQ(rp_loop_create(&l, &o), 0);
    EXPECT_EQ(rp_loop_backend(l), expected);
    EXPECT_EQ(rp_loop_destroy(l), 0);
    setenv("RINGPORT_BACKEND", "nonsense", 1);
    l = nullptr;
    EXPECT_EQ(rp_loop_create(&l, &o), RP_EINVAL);
    EXPECT_EQ(l, nullptr);
    unsetenv("RINGPORT_BACKEND");
    ASSERT_EQ(rp_loop_create(&l, &o), 0);
    EXPECT_NE(rp_loop_backend(l), RP_BACKEND_AUTO);
#if defined(__linux__)
    // On Linux AUTO prefers io_uring; anything else must come with the reason.
    if (rp_loop_backend(l) != RP_BACKEND_IO_URING)
        EXPECT_NE(rp_loop_fallback_reason(l), nullptr) << "AUTO fell back without saying why";
    else
        EXPECT_EQ(rp_loop_fallback_reason(l), nullptr);
#endif
    EXPECT_EQ(rp_loop_destroy(l), 0);
}

} // namespace
