// rp_socket_move: connections, listeners and UDP sockets change workers inside the process; callbacks then
// run on the new worker, no byte is lost, a busy socket is refused, bad input is refused.
#include <cstring>
#include <mutex>
#include <vector>

#include "harness.h"
#include "rawsock.h"

using namespace rpt;

namespace {

// Every backend moves sockets (IOCP: by replacing the completion port, or with event-signalled requests
// where the system cannot, as under Wine).
class MoveTest : public LoopTest {};

TEST_P(MoveTest, ConnectionMovesWithTheBytesInFlight)
{
    rp_socket c, s;
    Pair(&c, &s);
    const size_t n1 = 64000, n2 = 64000;
    unsigned char *data = NewBuf(n1 + n2);
    FillPattern(data, n1 + n2, 71);
    Op *snd = NewOp();
    ASSERT_EQ(Send(snd, c, data, n1), 0);
    ASSERT_TRUE(WaitFor([&] { return snd->done(); }));
    int from = rp_socket_worker(loop, s);
    int to = threaded() ? 1 - from : 0;
    int ran_on = -1;
    int64_t r = MoveAndWait(s, to, &ran_on);
    ASSERT_EQ(r, 0) << rp_strerror((int)r);
    EXPECT_EQ(rp_socket_worker(loop, s), to);
    EXPECT_EQ(ran_on, to) << "the move completes on the worker the socket went to";
    Reader *rd = StartReader(s);
    ASSERT_EQ(Send(NewOp(), c, data + n1, n2), 0);
    ASSERT_TRUE(WaitFor([&] { return rd->bytes.load() >= n1 + n2; }));
    std::vector<unsigned char> got = rd->Data();
    ASSERT_EQ(got.size(), n1 + n2);
    EXPECT_EQ(memcmp(got.data(), data, n1 + n2), 0);
    EXPECT_EQ(rd->op->last_worker.load(), to) << "receives run on the new worker";
    CloseAndWait(c);
    ASSERT_TRUE(WaitFor([&] { return rd->ended.load(); }));
    CloseAndWait(s);
}

TEST_P(MoveTest, ListenerAcceptsOnItsNewWorker)
{
    uint16_t port;
    rp_socket ls = Listen(&port);
    int to = threaded() ? 1 - rp_socket_worker(loop, ls) : 0;
    ASSERT_EQ(MoveAndWait(ls, to), 0);
    Op *acc = NewOp(), *con = NewOp();
    ASSERT_EQ(Accept(acc, ls), 0);
    rp_addr a;
    ASSERT_EQ(rp_addr_parse(&a, "127.0.0.1", port), 0);
    ASSERT_EQ(Connect(con, a), 0);
    ASSERT_TRUE(WaitFor([&] { return acc->done() && con->done(); }));
    ASSERT_EQ(acc->result(), 0);
    EXPECT_EQ(acc->last_worker.load(), to);
    unsigned char *data = NewBuf(3000);
    FillPattern(data, 3000, 72);
    Reader *rd = StartReader(acc->socket());
    ASSERT_EQ(Send(NewOp(), con->socket(), data, 3000), 0);
    ASSERT_TRUE(WaitFor([&] { return rd->bytes.load() >= 3000; }));
    EXPECT_EQ(memcmp(rd->Data().data(), data, 3000), 0);
    CloseAndWait(acc->socket());
    CloseAndWait(con->socket());
    CloseAndWait(ls);
}

TEST_P(MoveTest, UdpSocketMoves)
{
    rp_socket u = UdpBind("127.0.0.1");
    rp_socket v = UdpBind("127.0.0.1");
    int to = threaded() ? 1 - rp_socket_worker(loop, u) : 0;
    ASSERT_EQ(MoveAndWait(u, to), 0);
    char in[64];
    rp_dgram rd[1];
    memset(rd, 0, sizeof rd);
    rd[0].base = in;
    rd[0].len = sizeof in;
    Op *rcv = NewOp();
    ASSERT_EQ(UdpRecv(rcv, u, rd, 1), 0);
    rp_dgram sd[1];
    memset(sd, 0, sizeof sd);
    sd[0].base = (void *)"hello";
    sd[0].len = 5;
    sd[0].peer = LocalAddr(u);
    ASSERT_EQ(UdpSend(NewOp(), v, sd, 1), 0);
    ASSERT_TRUE(WaitFor([&] { return rcv->done(); }));
    ASSERT_EQ(rcv->result(), 1);
    EXPECT_EQ(rd[0].len, 5u);
    EXPECT_EQ(memcmp(in, "hello", 5), 0);
    EXPECT_EQ(rcv->last_worker.load(), to);
    CloseAndWait(u);
    CloseAndWait(v);
}

TEST_P(MoveTest, BusySocketIsRefusedAndKeepsWorking)
{
    rp_socket c, s;
    Pair(&c, &s);
    int from = rp_socket_worker(loop, s);
    int to = threaded() ? 1 - from : 0;
    char buf[16];
    Op *rcv = NewOp();
    ASSERT_EQ(Recv(rcv, s, buf, sizeof buf), 0);
    int64_t r = MoveAndWait(s, to);
    if (threaded()) {
        EXPECT_EQ(r, RP_EBUSY) << rp_strerror((int)r);
        EXPECT_EQ(rp_socket_worker(loop, s), from);
    } else {
        EXPECT_EQ(r, 0); // caller-driven: there is only worker 0, where it already is
    }
    ASSERT_EQ(Send(NewOp(), c, "abc", 3), 0);
    ASSERT_TRUE(WaitFor([&] { return rcv->done(); }));
    EXPECT_EQ(rcv->result(), 3);
    EXPECT_EQ(memcmp(buf, "abc", 3), 0);
    CloseAndWait(c);
    CloseAndWait(s);
}

// The socket goes back and forth between the workers between receives (each move submitted from the
// callback of the receive before it) while the peer sends throughout: every byte arrives, in order.
TEST_P(MoveTest, BackAndForthUnderTrafficLosesNothing)
{
    rp_socket c, s;
    Pair(&c, &s);
    {
        int64_t probe = MoveAndWait(s, rp_socket_worker(loop, s));
        ASSERT_EQ(probe, 0);
    }
    const size_t total = (size_t)(2000000 * Scale()) + 1000;
    unsigned char *data = NewBuf(total);
    FillPattern(data, total, 73);
    struct State {
        std::mutex mu;
        std::vector<unsigned char> got;
        std::atomic<int> moves{0};
        std::atomic<bool> failed{false};
        std::atomic<bool> ended{false};
        std::atomic<int64_t> error{0};
    };
    State *st = Make<State>();
    unsigned char *buf = NewBuf(4096);
    Op *rcv = NewOp();
    Op *mov = NewOp();
    const int nworkers = workers() > 0 ? workers() : 1;
    rcv->fn = [&, st, buf, rcv, mov, nworkers](rp_op *o) {
        if (o->result <= 0) {
            st->error = o->result;
            st->ended = true;
            return;
        }
        {
            std::lock_guard<std::mutex> g(st->mu);
            st->got.insert(st->got.end(), buf, buf + o->result);
        }
        int next = (rp_socket_worker(loop, s) + 1) % nworkers;
        mov->expected_kind = RP_OP_MOVE;
        mov->expected_socket = s;
        mov->submits++;
        if (rp_socket_move(loop, mov->get(), s, next) != 0) {
            mov->submits--;
            st->failed = true;
        }
        (void)rcv;
    };
    mov->fn = [&, st, buf, rcv](rp_op *o) {
        if (o->result != 0) {
            st->error = o->result;
            st->failed = true;
            return;
        }
        st->moves++;
        if (Recv(rcv, s, buf, 4096) != 0)
            st->failed = true;
    };
    ASSERT_EQ(Recv(rcv, s, buf, 4096), 0);
    Op *snd = NewOp();
    ASSERT_EQ(Send(snd, c, data, total), 0);
    bool ok = WaitFor([&] {
        std::lock_guard<std::mutex> g(st->mu);
        return st->got.size() >= total || st->failed.load() || st->ended.load();
    }, 120000);
    ASSERT_TRUE(ok);
    ASSERT_FALSE(st->failed.load()) << rp_strerror((int)st->error.load());
    {
        std::lock_guard<std::mutex> g(st->mu);
        ASSERT_EQ(st->got.size(), total);
        EXPECT_EQ(memcmp(st->got.data(), data, total), 0);
    }
    EXPECT_GT(st->moves.load(), 10);
    ASSERT_TRUE(WaitFor([&] { return snd->done() && mov->done(); }));
    CloseAndWait(c);
    CloseAndWait(s);
}

TEST_P(MoveTest, BadInput)
{
    rp_socket c, s;
    Pair(&c, &s);
    Op *op = NewOp();
    EXPECT_EQ(rp_socket_move(loop, op->get(), s, 99), RP_EINVAL);
    EXPECT_EQ(rp_socket_move(loop, op->get(), s, -1), RP_EINVAL);
    EXPECT_EQ(rp_socket_move(loop, nullptr, s, 0), RP_EINVAL);
    EXPECT_EQ(rp_socket_move(nullptr, op->get(), s, 0), RP_EINVAL);
    EXPECT_EQ(rp_socket_move(loop, op->get(), RP_SOCKET_INVALID, 0), RP_EBADF);
    // Not cancellable.
    op->expected_kind = RP_OP_MOVE;
    op->expected_socket = s;
    op->submits++;
    ASSERT_EQ(rp_socket_move(loop, op->get(), s, rp_socket_worker(loop, s)), 0);
    int cancel = rp_cancel(loop, op->get());
    EXPECT_TRUE(cancel == RP_ENOTSUP || cancel == RP_ENOENT) << rp_strerror(cancel);
    ASSERT_TRUE(WaitFor([&] { return op->done(); }));
    EXPECT_EQ(op->result(), 0);
    CloseAndWait(s);
    EXPECT_EQ(rp_socket_move(loop, op->get(), s, 0), RP_EBADF);
    CloseAndWait(c);
}

RPT_INSTANTIATE(MoveTest);

} // namespace
