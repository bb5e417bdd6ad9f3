// Zero-copy sends (rp_loop_options.zerocopy_min; io_uring's SEND_ZC on kernels that have it, ordinary
// sends elsewhere): the same results and ownership as any send, the stream exact, and a close while the
// peer does not read still completes everything (the kernel can give the buffer back only once the
// queued data is gone: the connection is reset).
#include "harness.h"

#include <algorithm>
#include <cstring>

using namespace rpt;

namespace {

class ZeroCopy : public LoopTest {
protected:
    void SetUp() override
    {
        zerocopy_min_ = 16384;
        LoopTest::SetUp();
    }
};

TEST_P(ZeroCopy, LargeAndSmallSendsKeepTheStreamExact)
{
    rp_socket c, s;
    ASSERT_NO_FATAL_FAILURE(Pair(&c, &s));
    Reader *r = StartReader(s);
    const int kSends = (int)(24 * std::min(1.0, Scale() * 2)) + 4;
    std::vector<Op *> ops;
    std::vector<size_t> sizes;
    uint64_t offset = 0;
    for (int i = 0; i < kSends; i++) {
        size_t n = (i % 3 == 2) ? 100 + (size_t)i : (size_t)(1u << 20) + (size_t)i * 777; // zero-copy and not
        unsigned char *d = NewBuf(n);
        FillPattern(d, n, 5150, offset);
        offset += n;
        Op *op = NewOp();
        ASSERT_EQ(Send(op, c, d, n), 0);
        ops.push_back(op);
        sizes.push_back(n);
    }
    ASSERT_TRUE(WaitFor([&] {
        for (Op *op : ops)
            if (!op->done())
                return false;
        return true;
    }, 60000));
    for (size_t i = 0; i < ops.size(); i++)
        EXPECT_EQ(ops[i]->result(), (int64_t)sizes[i]) << "send " << i;
    ASSERT_TRUE(WaitFor([&] { return r->bytes.load() >= offset; }, 60000));
    std::vector<unsigned char> got = r->Data();
    ASSERT_EQ(got.size(), offset);
    for (uint64_t i = 0; i < offset; i++)
        ASSERT_EQ(got[i], PatternByte(5150, i)) << "byte " << i;
    CloseAndWait(c);
    ASSERT_TRUE(WaitFor([&] { return r->ended.load(); }));
    CloseAndWait(s);
}

TEST_P(ZeroCopy, CloseWhileThePeerDoesNotReadCompletesEverything)
{
    rp_socket c, s;
    ASSERT_NO_FATAL_FAILURE(Pair(&c, &s));
    const size_t kBig = 32u << 20; // far more than the socket buffers hold: part of it stays queued
    unsigned char *d = NewBuf(kBig, 0x5a);
    Op *big = NewOp();
    ASSERT_EQ(Send(big, c, d, kBig), 0);
    Pump(100);
    EXPECT_FALSE(big->done()) << "32 MiB went out to a peer that does not read";
    Op *close_op = NewOp();
    ASSERT_EQ(Close(close_op, c), 0);
    ASSERT_TRUE(WaitFor([&] { return big->done() && close_op->done(); }, 30000))
        << "close never completed while a zero-copy send waited";
    EXPECT_EQ(big->result(), RP_ECANCELED);
    EXPECT_LT(rp_op_sent(big->get()), (int64_t)kBig);
    EXPECT_EQ(close_op->result(), 0);
    CloseAndWait(s);
}

TEST_P(ZeroCopy, AHandedOverConnectionClosedWithASendInFlightIsNotReset)
{
    // The same close, on a connection handed to another owner first: that owner may still be serving it,
    // so the close must not reset it, now or when that owner closes it. What the cancelled send had queued and what the new owner sends
    // reach the peer, in order.
    rp_socket c, s, ch[2];
    ASSERT_NO_FATAL_FAILURE(Pair(&c, &s));
    ASSERT_EQ(rp_socketpair(loop, ch, -1), 0);
    const size_t kBig = 32u << 20, kTail = 5000;
    unsigned char *d = NewBuf(kBig);
    FillPattern(d, kBig, 77);
    Op *big = NewOp();
    ASSERT_EQ(Send(big, s, d, kBig), 0);
    Pump(100);
    EXPECT_FALSE(big->done()) << "32 MiB went out to a peer that does not read";
    Op *hand = NewOp();
    ASSERT_EQ(SendSocket(hand, ch[0], s, nullptr, 0), 0);
    ASSERT_TRUE(WaitFor([&] { return hand->done(); }));
    ASSERT_EQ(hand->result(), 0) << rp_strerror((int)hand->result());
    Op *close_op = NewOp();
    ASSERT_EQ(Close(close_op, s), 0);
    Op *recv = NewOp();
    ASSERT_EQ(RecvSocket(recv, ch[1], nullptr, 0, -1), 0);
    ASSERT_TRUE(WaitFor([&] { return recv->done(); }));
    ASSERT_EQ(recv->result(), 0) << rp_strerror((int)recv->result());
    rp_socket s2 = recv->socket();
    // The cancelled send ends once the kernel has let go of its buffer (zero-copy: when the peer has
    // taken the queued data), and the close with it.
    Reader *r = StartReader(c);
    ASSERT_TRUE(WaitFor([&] { return big->done() && close_op->done(); }, 60000));
    EXPECT_EQ(big->result(), RP_ECANCELED);
    EXPECT_EQ(close_op->result(), 0);
    const size_t sent = (size_t)rp_op_sent(big->get());
    unsigned char *tail = NewBuf(kTail);
    FillPattern(tail, kTail, 78);
    Op *more = NewOp();
    ASSERT_EQ(Send(more, s2, tail, kTail), 0);
    ASSERT_TRUE(WaitFor([&] { return r->bytes.load() >= sent + kTail || r->ended.load(); }, 60000));
    EXPECT_FALSE(r->ended.load()) << "the connection was reset: " << rp_strerror((int)r->error.load());
    std::vector<unsigned char> got = r->Data();
    ASSERT_EQ(got.size(), sent + kTail);
    EXPECT_EQ(memcmp(got.data(), d, sent), 0);
    EXPECT_EQ(memcmp(got.data() + sent, tail, kTail), 0);
    ASSERT_TRUE(WaitFor([&] { return more->done(); }));
    EXPECT_EQ(more->result(), (int64_t)kTail);
    // The new owner's close is an orderly end of the stream: nothing the old owner did turned it into a
    // reset (SO_LINGER belongs to the socket, not to one descriptor).
    CloseAndWait(s2);
    ASSERT_TRUE(WaitFor([&] { return r->ended.load(); }));
    EXPECT_EQ(r->error.load(), 0) << rp_strerror((int)r->error.load());
    CloseAndWait(c);
    CloseAndWait(ch[0]);
    CloseAndWait(ch[1]);
}

RPT_INSTANTIATE(ZeroCopy);

} // namespace
