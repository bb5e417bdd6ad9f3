// rp_cancel: pending receives, timers, accepts (single and multishot) and blocked sends end promptly with
// RP_ECANCELED; cancelling an op that is not pending returns RP_ENOENT and harms nothing; cancels may come
// from any thread; a cancel racing with a completion loses no data.
#include "harness.h"

#include <algorithm>
#include <cstring>
#include <mutex>

using namespace rpt;

namespace {

class Cancellation : public LoopTest {};

TEST_P(Cancellation, PendingReceiveEndsCancelledAndTheSocketKeepsWorking)
{
    rp_socket a, b;
    ASSERT_NO_FATAL_FAILURE(Pair(&a, &b));
    unsigned char *buf = NewBuf(8);
    // Cancelled at once (the request may still be on its way to the worker) ...
    Op *r0 = NewOp();
    ASSERT_EQ(Recv(r0, b, buf, 8), 0);
    ASSERT_EQ(Cancel(r0), 0);
    ASSERT_TRUE(WaitFor([&] { return r0->done(); }));
    EXPECT_EQ(r0->result(), RP_ECANCELED);
    // ... and after it has surely reached the kernel.
    Op *r = NewOp();
    ASSERT_EQ(Recv(r, b, buf, 8), 0);
    Pump(20);
    EXPECT_FALSE(r->done());
    ASSERT_EQ(Cancel(r), 0);
    ASSERT_TRUE(WaitFor([&] { return r->done(); }));
    EXPECT_EQ(r->result(), RP_ECANCELED);
    EXPECT_EQ(r->completions.load(), 1);
    EXPECT_EQ(Cancel(r), RP_ENOENT) << "cancel of a completed op";

    // The record can be reused and the socket still delivers every byte.
    static const char msg[] = "abcdef";
    Op *s = NewOp();
    ASSERT_EQ(Recv(r, b, buf, 8), 0);
    ASSERT_EQ(Send(s, a, msg, 6), 0);
    ASSERT_TRUE(WaitFor([&] { return r->done() && s->done(); }));
    ASSERT_GT(r->result(), 0);
    EXPECT_EQ(memcmp(buf, msg, (size_t)r->result()), 0) << "bytes lost by the cancelled receives";
    CloseAndWait(a);
    CloseAndWait(b);
}

TEST_P(Cancellation, PendingTimersEndCancelled)
{
    rp_socket a, b;
    ASSERT_NO_FATAL_FAILURE(Pair(&a, &b));
    Op *t = NewOp(), *tb = NewOp(), *soon = NewOp();
    ASSERT_EQ(Timeout(t, RP_SOCKET_INVALID, 60000), 0);
    ASSERT_EQ(Timeout(tb, a, 60000), 0);
    ASSERT_EQ(Timeout(soon, RP_SOCKET_INVALID, 40), 0);
    ASSERT_EQ(Cancel(t), 0);
    ASSERT_EQ(Cancel(tb), 0);
    ASSERT_EQ(Cancel(soon), 0);
    ASSERT_TRUE(WaitFor([&] { return t->done() && tb->done() && soon->done(); }));
    EXPECT_EQ(t->result(), RP_ECANCELED);
    EXPECT_EQ(tb->result(), RP_ECANCELED);
    EXPECT_EQ(soon->result(), RP_ECANCELED);
    Pump(100); // past the 40 ms deadline: the cancelled timer never fires
    for (Op *op : {t, tb, soon})
        EXPECT_EQ(op->completions.load(), 1);
    EXPECT_EQ(Cancel(t), RP_ENOENT);
    CloseAndWait(a);
    CloseAndWait(b);
}

TEST_P(Cancellation, AcceptSingleAndMultishot)
{
    uint16_t port;
    rp_socket ls = Listen(&port);
    ASSERT_NE(ls, RP_SOCKET_INVALID);
    Op *single = NewOp();
    ASSERT_EQ(Accept(single, ls), 0);
    Pump(10);
    ASSERT_EQ(Cancel(single), 0);
    ASSERT_TRUE(WaitFor([&] { return single->done(); }));
    EXPECT_EQ(single->result(), RP_ECANCELED);
    EXPECT_EQ(single->socket(), RP_SOCKET_INVALID);

    // Multishot: one RP_OP_F_MORE completion per connection, then cancel gives the final one.
    struct State {
        std::mutex mu;
        std::vector<rp_socket> accepted;
    };
    State *st = Make<State>();
    Op *multi = NewOp([st](rp_op *o) {
        if (o->flags & RP_OP_F_MORE) {
            std::lock_guard<std::mutex> g(st->mu);
            st->accepted.push_back(o->socket);
        }
    });
    ASSERT_EQ(Accept(multi, ls, RP_ACCEPT_MULTISHOT), 0);
    const int kConns = 10;
    rp_addr addr;
    ASSERT_EQ(rp_addr_parse(&addr, "127.0.0.1", port), 0);
    std::vector<Op *> conns;
    for (int i = 0; i < kConns; i++) {
        conns.push_back(NewOp());
        ASSERT_EQ(Connect(conns.back(), addr), 0);
    }
    ASSERT_TRUE(WaitFor([&] { return multi->mores.load() == kConns; }));
    EXPECT_FALSE(multi->done());
    ASSERT_EQ(Cancel(multi), 0);
    ASSERT_TRUE(WaitFor([&] { return multi->done(); }));
    EXPECT_EQ(multi->result(), RP_ECANCELED);
    EXPECT_EQ(multi->get()->flags & RP_OP_F_MORE, 0u);
    EXPECT_EQ(multi->completions.load(), kConns + 1);

    // The listener still works after both cancellations.
    Op *again = NewOp(), *late = NewOp();
    ASSERT_EQ(Accept(again, ls), 0);
    ASSERT_EQ(Connect(late, addr), 0);
    ASSERT_TRUE(WaitFor([&] {
        for (Op *c : conns)
            if (!c->done())
                return false;
        return again->done() && late->done();
    }));
    EXPECT_EQ(again->result(), 0);
    EXPECT_EQ(late->result(), 0);
    for (Op *c : conns) {
        EXPECT_EQ(c->result(), 0);
        CloseAndWait(c->socket());
    }
    {
        std::lock_guard<std::mutex> g(st->mu);
        for (rp_socket s : st->accepted)
            CloseAndWait(s);
    }
    CloseAndWait(again->socket());
    CloseAndWait(late->socket());
    CloseAndWait(ls);
}

TEST_P(Cancellation, CancelOfAnOpThatIsNotPendingReturnsENOENTAndHarmsNothing)
{
    rp_socket a, b;
    ASSERT_NO_FATAL_FAILURE(Pair(&a, &b));
    unsigned char *buf = NewBuf(8);
    Op *pending = NewOp();
    ASSERT_EQ(Recv(pending, b, buf, 8), 0);

    Op *never = NewOp();
    EXPECT_EQ(Cancel(never), RP_ENOENT) << "never submitted";
    Op *post = NewOp();
    ASSERT_EQ(Post(post, 0), 0);
    ASSERT_TRUE(WaitFor([&] { return post->done(); }));
    EXPECT_EQ(Cancel(post), RP_ENOENT) << "already completed";
    rp_op raw;
    memset(&raw, 0, sizeof raw);
    EXPECT_EQ(rp_cancel(loop, &raw), RP_ENOENT) << "a zeroed record";

    // Nothing else was disturbed: the pending receive gets its data, and the records are usable.
    static const char x[] = "x";
    ASSERT_EQ(Send(NewOp(), a, x, 1), 0);
    ASSERT_TRUE(WaitFor([&] { return pending->done(); }));
    EXPECT_EQ(pending->result(), 1);
    EXPECT_EQ(never->completions.load(), 0);
    EXPECT_EQ(post->completions.load(), 1);
    ASSERT_EQ(Timeout(never, RP_SOCKET_INVALID, 0), 0);
    ASSERT_TRUE(WaitFor([&] { return never->done(); }));
    EXPECT_EQ(never->result(), 0);
    CloseAndWait(a);
    CloseAndWait(b);
}

TEST_P(Cancellation, FromAForeignThread)
{
    rp_socket a, b;
    ASSERT_NO_FATAL_FAILURE(Pair(&a, &b));
    uint16_t port;
    rp_socket ls = Listen(&port);
    ASSERT_NE(ls, RP_SOCKET_INVALID);
    Op *r = NewOp(), *t = NewOp(), *tb = NewOp(), *rep = NewOp(), *acc = NewOp(), *multi = NewOp();
    unsigned char *buf = NewBuf(8);
    ASSERT_EQ(Recv(r, b, buf, 8), 0);
    ASSERT_EQ(Timeout(t, RP_SOCKET_INVALID, 60000), 0);
    ASSERT_EQ(Timeout(tb, a, 60000), 0);
    ASSERT_EQ(Timeout(rep, RP_SOCKET_INVALID, 1, 1), 0);
    ASSERT_EQ(Accept(acc, ls), 0);
    Pump(10);
    std::vector<Op *> ops = {r, t, tb, rep, acc};
    // In a caller-driven loop this thread cancels while the test thread is inside rp_loop_run.
    std::thread canceller([&] {
        for (Op *op : ops)
            EXPECT_EQ(Cancel(op), 0);
    });
    bool ok = WaitFor([&] {
        for (Op *op : ops)
            if (!op->done())
                return false;
        return true;
    });
    canceller.join();
    ASSERT_TRUE(ok) << "an op cancelled from another thread never completed";
    for (Op *op : ops)
        EXPECT_EQ(op->result(), RP_ECANCELED);
    EXPECT_EQ(rep->get()->flags & RP_OP_F_MORE, 0u);

    // A multishot accept cancelled from another thread while connections arrive.
    ASSERT_EQ(Accept(multi, ls, RP_ACCEPT_MULTISHOT), 0);
    rp_addr addr;
    rp_addr_parse(&addr, "127.0.0.1", port);
    std::vector<Op *> conns;
    for (int i = 0; i < 5; i++) {
        conns.push_back(NewOp());
        ASSERT_EQ(Connect(conns.back(), addr), 0);
    }
    ASSERT_TRUE(WaitFor([&] { return multi->mores.load() >= 1; }));
    std::thread([&] { EXPECT_EQ(Cancel(multi), 0); }).join();
    ASSERT_TRUE(WaitFor([&] {
        for (Op *c : conns)
            if (!c->done())
                return false;
        return multi->done();
    }));
    EXPECT_EQ(multi->result(), RP_ECANCELED);
    EXPECT_GE(multi->mores.load(), 1);
}

TEST_P(Cancellation, PostsAndClosesCannotBeCancelled)
{
    Op *post = NewOp();
    ASSERT_EQ(Post(post, 0), 0);
    int rc = Cancel(post);
    EXPECT_TRUE(rc == RP_ENOTSUP || rc == RP_ENOENT) << rp_strerror(rc);
    ASSERT_TRUE(WaitFor([&] { return post->done(); }));
    EXPECT_EQ(post->result(), 0) << "a post completes with 0";

    rp_socket a, b;
    ASSERT_NO_FATAL_FAILURE(Pair(&a, &b));
    Op *r = NewOp(), *c = NewOp();
    ASSERT_EQ(Recv(r, a, NewBuf(8), 8), 0);
    ASSERT_EQ(Close(c, a), 0);
    rc = Cancel(c);
    EXPECT_TRUE(rc == RP_ENOTSUP || rc == RP_ENOENT) << rp_strerror(rc);
    ASSERT_TRUE(WaitFor([&] { return c->done() && r->done(); }));
    EXPECT_EQ(c->result(), 0);
    EXPECT_EQ(r->result(), RP_ECANCELED);
    CloseAndWait(b);
}

TEST_P(Cancellation, SendBlockedOnAPeerThatNeverReads)
{
    rp_socket a, b;
    ASSERT_NO_FATAL_FAILURE(Pair(&a, &b));
    const size_t kBig = 64u << 20; // far more than the socket buffers hold
    unsigned char *big = NewBuf(kBig, 0x42);
    Op *s = NewOp(), *after = NewOp();
    ASSERT_EQ(Send(s, a, big, kBig), 0);
    ASSERT_EQ(Send(after, a, big, 16), 0); // queued behind it
    Pump(50);
    EXPECT_FALSE(s->done());
    ASSERT_EQ(Cancel(s), 0);
    ASSERT_TRUE(WaitFor([&] { return s->done(); })) << "a cancelled send kept going";
    EXPECT_EQ(s->result(), RP_ECANCELED);
    EXPECT_GT(rp_op_sent(s->get()), 0);
    EXPECT_LT(rp_op_sent(s->get()), (int64_t)kBig);
    // The queued send is unaffected by the cancel; close ends it (cancelled or, if it went out, sent).
    Pump(20);
    CloseAndWait(a);
    ASSERT_TRUE(WaitFor([&] { return after->done(); }));
    EXPECT_TRUE(after->result() == RP_ECANCELED || after->result() == 16) << after->result();
    CloseAndWait(b);
}

TEST_P(Cancellation, RacingACompletionLosesNoData)
{
    rp_socket a, b;
    ASSERT_NO_FATAL_FAILURE(Pair(&a, &b));
    const int kRounds = (int)(300 * std::min(1.0, Scale()));
    const size_t kPer = 3;
    unsigned char *stream = NewBuf(kRounds * kPer + 1);
    FillPattern(stream, kRounds * kPer, 21);
    std::vector<unsigned char> got;
    int cancelled = 0, natural = 0;
    for (int i = 0; i < kRounds; i++) {
        unsigned char *buf = NewBuf(16);
        Op *r = NewOp(), *s = NewOp();
        ASSERT_EQ(Recv(r, b, buf, 16), 0);
        ASSERT_EQ(Send(s, a, stream + i * kPer, kPer), 0);
        if (i % 3 == 1)
            std::this_thread::sleep_for(std::chrono::microseconds(50 * (i % 7)));
        int rc = Cancel(r);
        ASSERT_TRUE(rc == 0 || rc == RP_ENOENT) << rp_strerror(rc);
        ASSERT_TRUE(WaitFor([&] { return r->done() && s->done(); }));
        if (r->result() > 0) {
            natural++;
            got.insert(got.end(), buf, buf + r->result());
        } else {
            cancelled++;
            ASSERT_EQ(r->result(), RP_ECANCELED);
        }
    }
    // Whatever the cancelled receives did not take is still there, in order.
    while (got.size() < (size_t)kRounds * kPer) {
        unsigned char *buf = NewBuf(64);
        Op *r = NewOp();
        ASSERT_EQ(Recv(r, b, buf, 64), 0);
        ASSERT_TRUE(WaitFor([&] { return r->done(); })) << "only " << got.size() << " bytes arrived";
        ASSERT_GT(r->result(), 0);
        got.insert(got.end(), buf, buf + r->result());
    }
    ASSERT_EQ(got.size(), (size_t)kRounds * kPer);
    EXPECT_EQ(memcmp(got.data(), stream, got.size()), 0) << "a cancelled receive consumed or reordered data";
    RecordProperty("cancelled", cancelled);
    RecordProperty("natural", natural);
    CloseAndWait(a);
    CloseAndWait(b);
}

RPT_INSTANTIATE(Cancellation);

} // namespace
