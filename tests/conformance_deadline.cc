// Per-operation deadlines (rp_op_set_timeout): receives, sends and connects that do not finish in time end
// with RP_ETIMEDOUT, as a cancel would end them (the socket keeps working, a send reports what went out);
// finished ones keep their result; kinds without a deadline refuse one.
#include "harness.h"
#include "rawsock.h"

#include <algorithm>

using namespace rpt;

namespace {

class Deadline : public LoopTest {};

TEST_P(Deadline, ReceiveTimesOutAndTheSocketKeepsWorking)
{
    rp_socket c, s;
    ASSERT_NO_FATAL_FAILURE(Pair(&c, &s));
    unsigned char *buf = NewBuf(256);
    Op *r = NewOp();
    ASSERT_EQ(rp_op_set_timeout(r->get(), 50), 0);
    ASSERT_EQ(Recv(r, s, buf, 256), 0);
    ASSERT_TRUE(WaitFor([&] { return r->done(); }));
    EXPECT_EQ(r->result(), RP_ETIMEDOUT);
    // Data sent afterwards reaches the next receive, which finishes well within its own deadline.
    unsigned char msg[100];
    FillPattern(msg, sizeof msg, 3);
    Op *snd = NewOp();
    ASSERT_EQ(Send(snd, c, msg, sizeof msg), 0);
    ASSERT_EQ(rp_op_set_timeout(r->get(), 10000), 0);
    ASSERT_EQ(Recv(r, s, buf, 256), 0);
    ASSERT_TRUE(WaitFor([&] { return r->done(); }));
    ASSERT_GT(r->result(), 0);
    for (int64_t i = 0; i < r->result(); i++)
        ASSERT_EQ(buf[i], msg[i]);
    Pump(30); // a deadline left behind would be a second completion: the harness would see it
    CloseAndWait(c);
    CloseAndWait(s);
}

TEST_P(Deadline, QueuedReceiveTimesOutWhileTheOneAheadWaits)
{
    rp_socket c, s;
    ASSERT_NO_FATAL_FAILURE(Pair(&c, &s));
    unsigned char *b1 = NewBuf(64), *b2 = NewBuf(64);
    Op *first = NewOp(), *second = NewOp();
    ASSERT_EQ(Recv(first, s, b1, 64), 0);
    ASSERT_EQ(rp_op_set_timeout(second->get(), 40), 0);
    ASSERT_EQ(Recv(second, s, b2, 64), 0);
    ASSERT_TRUE(WaitFor([&] { return second->done(); }));
    EXPECT_EQ(second->result(), RP_ETIMEDOUT);
    EXPECT_FALSE(first->done());
    unsigned char x = 42;
    ASSERT_EQ(Send(NewOp(), c, &x, 1), 0);
    ASSERT_TRUE(WaitFor([&] { return first->done(); }));
    EXPECT_EQ(first->result(), 1);
    CloseAndWait(c);
    CloseAndWait(s);
}

TEST_P(Deadline, PoolReceiveTimesOut)
{
    rp_socket c, s;
    ASSERT_NO_FATAL_FAILURE(Pair(&c, &s));
    rp_bufpool *pool = nullptr;
    ASSERT_EQ(rp_bufpool_create(loop, &pool, nullptr), 0);
    Op *r = NewOp();
    ASSERT_EQ(rp_op_set_timeout(r->get(), 30), 0);
    ASSERT_EQ(RecvPool(r, s, pool), 0);
    ASSERT_TRUE(WaitFor([&] { return r->done(); }));
    EXPECT_EQ(r->result(), RP_ETIMEDOUT);
    EXPECT_EQ(r->get()->buf, nullptr);
    EXPECT_EQ(RecvPool(r, s, pool, RP_RECV_MULTISHOT), RP_EINVAL) << "a deadline on a multishot receive";
    CloseAndWait(c);
    CloseAndWait(s);
    EXPECT_EQ(rp_bufpool_destroy(pool), 0);
}

TEST_P(Deadline, SendToAPeerThatNeverReadsTimesOutWithItsProgress)
{
    rp_socket c, s;
    ASSERT_NO_FATAL_FAILURE(Pair(&c, &s));
    const size_t kBig = 64u << 20;
    unsigned char *data = NewBuf(kBig);
    FillPattern(data, kBig, 17);
    Op *snd = NewOp();
    ASSERT_EQ(rp_op_set_timeout(snd->get(), 200), 0);
    ASSERT_EQ(Send(snd, c, data, kBig), 0);
    ASSERT_TRUE(WaitFor([&] { return snd->done(); }));
    EXPECT_EQ(snd->result(), RP_ETIMEDOUT);
    int64_t sent = rp_op_sent(snd->get());
    EXPECT_GE(sent, 0);
    EXPECT_LT(sent, (int64_t)kBig);
    // The peer receives exactly the bytes reported as sent, then (after our close) the end of the stream.
    Reader *r = StartReader(s);
    CloseAndWait(c);
    ASSERT_TRUE(WaitFor([&] { return r->ended.load(); }, 60000));
    std::vector<unsigned char> got = r->Data();
    ASSERT_EQ((int64_t)got.size(), sent);
    for (size_t i = 0; i < got.size(); i++)
        ASSERT_EQ(got[i], data[i]) << "byte " << i;
    CloseAndWait(s);
}

TEST_P(Deadline, ConnectTimesOut)
{
    // A listener that never accepts, its backlog full: further connection attempts get no answer (Linux
    // drops the SYN) and the connect would wait for the kernel's retries, far longer than its deadline.
    uint16_t port = 0;
    RawSock ls = RawListen(&port, 1);
    ASSERT_NE(ls, kRawInvalid);
    std::vector<RawSock> fill;
    for (int i = 0; i < 8; i++)
        fill.push_back(RawConnectNonBlocking(port));
    rp_addr a;
    ASSERT_EQ(rp_addr_parse(&a, "127.0.0.1", port), 0);
    Op *con = NewOp();
    ASSERT_EQ(rp_op_set_timeout(con->get(), 150), 0);
    ASSERT_EQ(Connect(con, a), 0);
    ASSERT_TRUE(WaitFor([&] { return con->done(); }));
    for (RawSock f : fill)
        if (f != kRawInvalid)
            RawClose(f);
    RawClose(ls);
    if (con->result() == 0) {
        CloseAndWait(con->socket());
        GTEST_SKIP() << "this system accepted past the backlog: nothing to time out";
    }
    if (con->result() == RP_ECONNREFUSED)
        GTEST_SKIP() << "this system refuses connections past the backlog (Windows does)";
    EXPECT_EQ(con->result(), RP_ETIMEDOUT) << rp_strerror((int)con->result());
    EXPECT_EQ(con->socket(), RP_SOCKET_INVALID);
}

TEST_P(Deadline, OnlyReceivesSendsAndConnectsTakeOne)
{
    uint16_t port;
    rp_socket ls = Listen(&port);
    ASSERT_NE(ls, RP_SOCKET_INVALID);
    rp_socket c, s;
    ASSERT_NO_FATAL_FAILURE(Pair(&c, &s));
    Op *op = NewOp();
    EXPECT_EQ(rp_op_set_timeout(nullptr, 5), RP_EINVAL);
    EXPECT_EQ(rp_op_set_timeout(op->get(), RP_OP_TIMEOUT_MAX_MS + 1u), RP_EINVAL);
    ASSERT_EQ(rp_op_set_timeout(op->get(), 1000), 0);
    EXPECT_EQ(Accept(op, ls), RP_EINVAL);
    EXPECT_EQ(Shutdown(op, c), RP_EINVAL);
    EXPECT_EQ(Timeout(op, RP_SOCKET_INVALID, 5), RP_EINVAL);
    EXPECT_EQ(Post(op, -1), RP_EINVAL);
    EXPECT_EQ(Close(op, c), RP_EINVAL);
    // A pending op keeps its deadline; a new one cannot be set until it completes.
    unsigned char b[8];
    ASSERT_EQ(Recv(op, s, b, sizeof b), 0);
    EXPECT_EQ(rp_op_set_timeout(op->get(), 5), RP_EBUSY);
    ASSERT_TRUE(WaitFor([&] { return op->done(); }));
    EXPECT_EQ(op->result(), RP_ETIMEDOUT);
    // rp_op_init clears it; 0 removes it.
    rp_op_init(op->get(), &Op::Trampoline, op);
    EXPECT_EQ(Shutdown(op, c), 0);
    ASSERT_TRUE(WaitFor([&] { return op->done(); }));
    CloseAndWait(ls);
    CloseAndWait(c);
    CloseAndWait(s);
}

RPT_INSTANTIATE(Deadline);

} // namespace
