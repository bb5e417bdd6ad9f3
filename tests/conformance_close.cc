// rp_close completes every pending op of the socket before its own completion and invalidates the handle;
// rp_loop_destroy cancels and delivers everything pending, closes every socket and leaks no descriptor.
#include "harness.h"
#include "rawsock.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>


using namespace rpt;

namespace {

class Closing : public LoopTest {
protected:
    // Records the completion order of the ops of one socket.
    struct Order {
        std::mutex mu;
        std::vector<std::pair<std::string, int64_t>> seq;
        void Add(const std::string &what, int64_t result)
        {
            std::lock_guard<std::mutex> g(mu);
            seq.emplace_back(what, result);
        }
    };
    std::function<void(rp_op *)> Recorder(Order *o, const std::string &what)
    {
        return [o, what](rp_op *op) { o->Add(what, op->result); };
    }
};

TEST_P(Closing, CompletesEveryPendingOpFirstThenTheHandleIsInvalid)
{
    rp_socket a, b;
    ASSERT_NO_FATAL_FAILURE(Pair(&a, &b));
    Order *order = Make<Order>();
    std::vector<Op *> ops;
    const int kRecvs = 16, kSends = 8;
    for (int i = 0; i < kRecvs; i++) {
        ops.push_back(NewOp(Recorder(order, "recv")));
        ASSERT_EQ(Recv(ops.back(), a, NewBuf(64), 64), 0);
    }
    // Large sends the peer never reads: most of them stay pending.
    const size_t kBig = 4u << 20;
    unsigned char *big = NewBuf(kBig, 0x5A);
    for (int i = 0; i < kSends; i++) {
        ops.push_back(NewOp(Recorder(order, "send")));
        ASSERT_EQ(Send(ops.back(), a, big, kBig), 0);
    }
    ops.push_back(NewOp(Recorder(order, "shutdown"))); // queued behind the sends
    ASSERT_EQ(Shutdown(ops.back(), a), 0);
    ops.push_back(NewOp(Recorder(order, "timer")));
    ASSERT_EQ(Timeout(ops.back(), a, 60000), 0);
    ops.push_back(NewOp(Recorder(order, "repeat")));
    ASSERT_EQ(Timeout(ops.back(), a, 1, 1), 0);
    Pump(20);
    Op *c = NewOp(Recorder(order, "close"));
    ASSERT_EQ(Close(c, a), 0);

    // The handle is dead from the call on.
    Op *late = NewOp();
    unsigned char *buf = NewBuf(8);
    rp_addr addr;
    rp_buf one = {buf, 1};
    EXPECT_EQ(Recv(late, a, buf, 8), RP_EBADF);
    EXPECT_EQ(Send(late, a, buf, 1), RP_EBADF);
    EXPECT_EQ(Sendv(late, a, &one, 1, 1), RP_EBADF);
    EXPECT_EQ(Shutdown(late, a), RP_EBADF);
    EXPECT_EQ(Timeout(late, a, 1), RP_EBADF);
    EXPECT_EQ(Accept(late, a), RP_EBADF);
    EXPECT_EQ(Close(late, a), RP_EBADF) << "second close";
    EXPECT_EQ(Close(nullptr, a), RP_EBADF) << "second close without an op";
    EXPECT_EQ(rp_socket_set_nodelay(loop, a, 1), RP_EBADF);
    EXPECT_EQ(rp_socket_local_addr(loop, a, &addr), RP_EBADF);
    EXPECT_EQ(rp_socket_peer_addr(loop, a, &addr), RP_EBADF);
    EXPECT_EQ(rp_socket_worker(loop, a), RP_EBADF);

    ASSERT_TRUE(WaitFor([&] { return c->done(); }));
    Pump(30);
    std::lock_guard<std::mutex> g(order->mu);
    ASSERT_GE(order->seq.size(), ops.size() + 1); // (plus the repeating timer's RP_OP_F_MORE ticks)
    EXPECT_EQ(order->seq.back().first, "close") << "the close completed before an op of its socket";
    EXPECT_EQ(order->seq.back().second, 0);
    for (size_t i = 0; i + 1 < order->seq.size(); i++) {
        const auto &e = order->seq[i];
        if (e.first == "recv" || e.first == "timer" || e.first == "shutdown") {
            EXPECT_EQ(e.second, RP_ECANCELED) << e.first;
        } else if (e.first == "send") {
            EXPECT_TRUE(e.second == RP_ECANCELED || e.second == (int64_t)kBig) << e.second;
        } else if (e.first == "repeat") {
            EXPECT_TRUE(e.second == 0 || e.second == RP_ECANCELED) << e.second;
        }
    }
    for (Op *op : ops)
        EXPECT_EQ(op->finals.load(), 1);
    Op *rep = ops.back();
    EXPECT_EQ(rep->result(), RP_ECANCELED) << "the repeating timer bound to the socket";
    EXPECT_EQ(late->completions.load(), 0);
    // The peer sees the connection end.
    Reader *rd = StartReader(b, 1 << 20);
    ASSERT_TRUE(WaitFor([&] { return rd->ended.load(); }));
    EXPECT_LE(rd->error.load(), 0);
}

TEST_P(Closing, WithManyOpsInFlightAndTrafficFromAnotherThread)
{
    rp_socket a, b;
    ASSERT_NO_FATAL_FAILURE(Pair(&a, &b));
    // The peer b streams a known pattern at a and reads whatever a sends.
    Reader *rb = StartReader(b);
    static constexpr size_t kChunk = 32768;
    struct Feeder {
        std::atomic<bool> stop{false};
        std::atomic<uint64_t> offset{0};
        unsigned char *buf = nullptr;
        Op *op = nullptr;
    };
    Feeder *fd = Make<Feeder>();
    fd->buf = NewBuf(kChunk);
    fd->op = NewOp([this, fd, b](rp_op *o) {
        if (o->result < 0 || fd->stop.load())
            return;
        fd->offset += (uint64_t)o->result;
        FillPattern(fd->buf, kChunk, 55, fd->offset.load());
        Send(fd->op, b, fd->buf, kChunk);
    });
    FillPattern(fd->buf, kChunk, 55, 0);
    ASSERT_EQ(Send(fd->op, b, fd->buf, kChunk), 0);

    struct Got {
        std::mutex mu;
        std::vector<unsigned char> bytes; // a's receives in completion order
        std::vector<std::string> order;
    };
    Got *got = Make<Got>();
    std::vector<Op *> ops;
    const int kRecvs = 64, kSends = 64;
    for (int i = 0; i < kRecvs; i++) {
        unsigned char *buf = NewBuf(4096);
        ops.push_back(NewOp([got, buf](rp_op *o) {
            std::lock_guard<std::mutex> g(got->mu);
            got->order.push_back("recv");
            if (o->result > 0)
                got->bytes.insert(got->bytes.end(), buf, buf + o->result);
        }));
        ASSERT_EQ(Recv(ops.back(), a, buf, 4096), 0);
    }
    for (int i = 0; i < kSends; i++) {
        size_t len = (size_t)1 << (i % 19); // 1 B .. 256 KiB
        unsigned char *m = NewBuf(len);
        ops.push_back(NewOp([got](rp_op *) {
            std::lock_guard<std::mutex> g(got->mu);
            got->order.push_back("send");
        }));
        ASSERT_EQ(Send(ops.back(), a, m, len), 0);
    }
    Op *c = NewOp([got](rp_op *) {
        std::lock_guard<std::mutex> g(got->mu);
        got->order.push_back("close");
    });
    // Close from another thread while everything is moving.
    std::thread closer([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        EXPECT_EQ(Close(c, a), 0);
    });
    bool ok = WaitFor([&] { return c->done(); });
    closer.join();
    ASSERT_TRUE(ok) << "the close never completed";
    Pump(20);
    for (Op *op : ops)
        EXPECT_EQ(op->finals.load(), 1);
    {
        std::lock_guard<std::mutex> g(got->mu);
        ASSERT_EQ(got->order.size(), ops.size() + 1);
        EXPECT_EQ(got->order.back(), "close");
        // Completed receives got exactly the start of b's stream.
        for (size_t i = 0; i < got->bytes.size(); i++)
            if (got->bytes[i] != PatternByte(55, i)) {
                ADD_FAILURE() << "byte " << i << " received out of order or corrupted";
                break;
            }
    }
    for (int i = 0; i < kRecvs; i++)
        EXPECT_TRUE(ops[i]->result() > 0 || ops[i]->result() == RP_ECANCELED) << ops[i]->result();
    for (int i = kRecvs; i < kRecvs + kSends; i++)
        EXPECT_TRUE(ops[i]->result() == ops[i]->expected_len.load() || ops[i]->result() == RP_ECANCELED)
            << ops[i]->result();
    fd->stop = true;
    ASSERT_TRUE(WaitFor([&] { return rb->ended.load() && fd->op->done(); }));
    CloseAndWait(b);
}

TEST_P(Closing, ListenerCancelsItsPendingAccepts)
{
    uint16_t port;
    rp_socket ls = Listen(&port), ls2 = Listen(&port);
    ASSERT_NE(ls, RP_SOCKET_INVALID);
    Order *order = Make<Order>();
    std::vector<Op *> ops;
    for (int i = 0; i < 3; i++) {
        ops.push_back(NewOp(Recorder(order, "accept")));
        ASSERT_EQ(Accept(ops.back(), ls), 0);
    }
    Op *multi = NewOp(Recorder(order, "multi"));
    ASSERT_EQ(Accept(multi, ls2, RP_ACCEPT_MULTISHOT), 0);
    Pump(10);
    Op *c = NewOp(Recorder(order, "close")), *c2 = NewOp();
    ASSERT_EQ(Close(c, ls), 0);
    ASSERT_EQ(Close(c2, ls2), 0);
    EXPECT_EQ(Accept(NewOp(), ls), RP_EBADF);
    ASSERT_TRUE(WaitFor([&] { return c->done() && c2->done() && multi->done(); }));
    std::lock_guard<std::mutex> g(order->mu);
    ASSERT_EQ(order->seq.size(), 5u);
    size_t close_at = 0, last_accept = 0;
    for (size_t i = 0; i < order->seq.size(); i++) {
        if (order->seq[i].first == "close")
            close_at = i;
        if (order->seq[i].first == "accept")
            last_accept = i;
    }
    EXPECT_GT(close_at, last_accept) << "the close completed before an accept of its listener";
    for (Op *op : ops) {
        EXPECT_EQ(op->result(), RP_ECANCELED);
        EXPECT_EQ(op->socket(), RP_SOCKET_INVALID);
    }
    EXPECT_EQ(multi->result(), RP_ECANCELED);
    EXPECT_EQ(multi->get()->flags & RP_OP_F_MORE, 0u);
}

TEST_P(Closing, WithoutAnOp)
{
    rp_socket a, b;
    ASSERT_NO_FATAL_FAILURE(Pair(&a, &b));
    Op *r = NewOp();
    ASSERT_EQ(Recv(r, a, NewBuf(8), 8), 0);
    ASSERT_EQ(Close(nullptr, a), 0);
    EXPECT_EQ(Close(nullptr, a), RP_EBADF);
    ASSERT_TRUE(WaitFor([&] { return r->done(); }));
    EXPECT_EQ(r->result(), RP_ECANCELED);
    Op *eof = NewOp();
    ASSERT_EQ(Recv(eof, b, NewBuf(8), 8), 0);
    ASSERT_TRUE(WaitFor([&] { return eof->done(); }));
    EXPECT_EQ(eof->result(), 0) << "the peer of a closed socket sees the end of the stream";
    CloseAndWait(b);
}

TEST_P(Closing, StaleHandleIsNotConfusedWithAReusedSlot)
{
    rp_socket a, b;
    ASSERT_NO_FATAL_FAILURE(Pair(&a, &b));
    CloseAndWait(a);
    CloseAndWait(b);
    // New sockets may reuse the slots; the old handles must stay dead.
    rp_socket c, d;
    ASSERT_NO_FATAL_FAILURE(Pair(&c, &d));
    EXPECT_NE(c, a);
    EXPECT_NE(c, b);
    EXPECT_NE(d, a);
    EXPECT_NE(d, b);
    unsigned char *buf = NewBuf(8);
    EXPECT_EQ(Recv(NewOp(), a, buf, 8), RP_EBADF);
    EXPECT_EQ(Send(NewOp(), b, buf, 8), RP_EBADF);
    EXPECT_EQ(Close(nullptr, a), RP_EBADF);
    EXPECT_EQ(Close(nullptr, b), RP_EBADF);
    // The new sockets are unharmed.
    static const char hi[] = "hi";
    Op *r = NewOp();
    ASSERT_EQ(Recv(r, d, buf, 8), 0);
    ASSERT_EQ(Send(NewOp(), c, hi, 2), 0);
    ASSERT_TRUE(WaitFor([&] { return r->done(); }));
    EXPECT_EQ(r->result(), 2);
    CloseAndWait(c);
    CloseAndWait(d);
}

// Waits (up to 10 s) until fd reads end of stream or a reset, discarding data. True if it did.
bool PeerSeesEnd(RawSock fd)
{
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    static char buf[65536];
    while (std::chrono::steady_clock::now() < end) {
        if (RawWaitReadable(fd, 100) <= 0)
            continue;
        long n = RawRecv(fd, buf, sizeof buf);
        if (n == 0 || (n < 0 && RawWasReset()))
            return true;
    }
    return false;
}

TEST_P(Closing, DestroyWithLiveSocketsDeliversCancellationToEveryPendingOp)
{
    // A separate loop for this test; the fixture's own was clean.
    Finish();
    ASSERT_EQ(CreateLoop(), 0);
    struct Seen {
        std::atomic<int> wrong_thread{0};
    };
    Seen *seen = Make<Seen>();
    const bool caller = !threaded();
    const std::thread::id me = std::this_thread::get_id();
    auto check_thread = [seen, caller, me](rp_op *) {
        if (caller && std::this_thread::get_id() != me)
            seen->wrong_thread++;
    };

    // a: accepted from a plain peer that stays silent; c: connected to a plain listener.
    uint16_t port = 0, port2 = 0, pport = 0;
    rp_socket ls = Listen(&port), ls2 = Listen(&port2);
    ASSERT_NE(ls, RP_SOCKET_INVALID);
    Op *acc = NewOp();
    ASSERT_EQ(Accept(acc, ls), 0);
    RawSock p1 = RawConnect(port);
    ASSERT_NE(p1, kRawInvalid);
    ASSERT_TRUE(WaitFor([&] { return acc->done(); }));
    ASSERT_EQ(acc->result(), 0);
    rp_socket a = acc->socket();
    RawSock pl = RawListen(&pport);
    ASSERT_NE(pl, kRawInvalid);
    rp_addr paddr;
    rp_addr_parse(&paddr, "127.0.0.1", pport);
    Op *con = NewOp();
    ASSERT_EQ(Connect(con, paddr), 0);
    ASSERT_TRUE(WaitFor([&] { return con->done(); }));
    ASSERT_EQ(con->result(), 0);
    rp_socket c = con->socket();
    RawSock p2 = accept(pl, nullptr, nullptr);
    ASSERT_NE(p2, kRawInvalid);
    rp_socket idle1, idle2; // an idle ringport pair
    ASSERT_NO_FATAL_FAILURE(Pair(&idle1, &idle2));

    std::vector<Op *> pending, sends;
    auto pend = [&]() {
        pending.push_back(NewOp(check_thread));
        return pending.back();
    };
    EXPECT_EQ(Recv(pend(), a, NewBuf(64), 64), 0);
    EXPECT_EQ(Recv(pend(), a, NewBuf(64), 64), 0);
    EXPECT_EQ(Recv(pend(), c, NewBuf(64), 64), 0);
    const size_t kBig = 16u << 20;
    unsigned char *big = NewBuf(kBig, 7);
    for (int i = 0; i < 3; i++) {
        sends.push_back(NewOp(check_thread));
        EXPECT_EQ(Send(sends.back(), c, big, kBig), 0);
    }
    EXPECT_EQ(Shutdown(pend(), c), 0);
    EXPECT_EQ(Timeout(pend(), a, 60000), 0);
    EXPECT_EQ(Timeout(pend(), RP_SOCKET_INVALID, 60000), 0);
    EXPECT_EQ(Timeout(pend(), RP_SOCKET_INVALID, 5, 5), 0);
    EXPECT_EQ(Accept(pend(), ls, RP_ACCEPT_MULTISHOT), 0);
    EXPECT_EQ(Accept(pend(), ls2), 0);
    // (Its peer is in the same loop: the destroy may close that first, ending this one naturally.)
    Op *idle_recv = NewOp(check_thread);
    EXPECT_EQ(Recv(idle_recv, idle1, NewBuf(8), 8), 0);
    Pump(30);

    int rc = rp_loop_destroy(loop);
    EXPECT_EQ(rc, 0) << rp_strerror(rc);
    if (rc == 0)
        loop = nullptr;
    for (Op *o : pending) {
        EXPECT_EQ(o->finals.load(), 1);
        EXPECT_EQ(o->result(), RP_ECANCELED) << "op kind " << o->get()->kind;
    }
    EXPECT_EQ(idle_recv->finals.load(), 1);
    EXPECT_TRUE(idle_recv->result() == RP_ECANCELED || idle_recv->result() == 0) << idle_recv->result();
    for (Op *o : sends) {
        EXPECT_EQ(o->finals.load(), 1);
        // The first may have gone out in full before the destroy.
        EXPECT_TRUE(o->result() == RP_ECANCELED || o->result() == (int64_t)kBig) << o->result();
    }
    EXPECT_EQ(seen->wrong_thread.load(), 0)
        << "a caller-driven loop ran a cancellation callback on another thread than rp_loop_destroy's";
    // Every socket was closed: the plain peers see the end.
    EXPECT_TRUE(PeerSeesEnd(p1)) << "the accepted socket was not closed by rp_loop_destroy";
    EXPECT_TRUE(PeerSeesEnd(p2)) << "the connected socket was not closed by rp_loop_destroy";
    RawClose(p1);
    RawClose(p2);
    RawClose(pl);
}

TEST_P(Closing, DestroyLeavesNoDescriptorBehind)
{
#if defined(__linux__)
    if (backend() == RP_BACKEND_KQUEUE)
        GTEST_SKIP() << "libkqueue opens and closes descriptors of its own from a helper thread";
#endif
    Finish(); // the fixture's loop existed before the first count
    int before = OpenHandles();
    ASSERT_EQ(CreateLoop(), 0);
    rp_socket a, b, c, d;
    ASSERT_NO_FATAL_FAILURE(Pair(&a, &b));
    ASSERT_NO_FATAL_FAILURE(Pair(&c, &d));
    CloseAndWait(c); // one closed normally, the rest left to the destroy
    uint16_t port;
    rp_socket ls = Listen(&port);
    Op *acc = NewOp(), *r1 = NewOp(), *r2 = NewOp();
    ASSERT_EQ(Accept(acc, ls, RP_ACCEPT_MULTISHOT), 0);
    ASSERT_EQ(Recv(r1, a, NewBuf(8), 8), 0);
    ASSERT_EQ(Recv(r2, d, NewBuf(8), 8), 0);
    rp_addr addr;
    rp_addr_parse(&addr, "127.0.0.1", port);
    std::vector<Op *> conns;
    for (int i = 0; i < 8; i++) { // accepted (or waiting in the listener's queue) at the destroy
        conns.push_back(NewOp());
        ASSERT_EQ(Connect(conns.back(), addr), 0);
    }
    ASSERT_TRUE(WaitFor([&] {
        for (Op *op : conns)
            if (!op->done())
                return false;
        return true;
    }));
    Finish();
    EXPECT_EQ(OpenHandles(), before) << "descriptors leaked by a loop's life";
}

RPT_INSTANTIATE(Closing);

} // namespace
