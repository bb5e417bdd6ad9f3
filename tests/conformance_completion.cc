// Completion guarantees: every accepted submission completes exactly once (a rejected one never calls
// back), and no callback runs inside the call that submitted it, even when the OS could complete at once.
// (The harness checks every delivery of every op as well; see harness.h.)
#include "harness.h"

#include <array>
#include <cstring>

using namespace rpt;

namespace {

class Completion : public LoopTest {};

TEST_P(Completion, EveryAcceptedSubmissionCompletesExactlyOnce)
{
    rp_socket a, b;
    ASSERT_NO_FATAL_FAILURE(Pair(&a, &b));
    uint16_t port;
    rp_socket ls = Listen(&port);
    ASSERT_NE(ls, RP_SOCKET_INVALID);
    rp_addr addr;
    ASSERT_EQ(rp_addr_parse(&addr, "127.0.0.1", port), 0);

    static const char hello[] = "hello";
    unsigned char *zero = NewBuf(1);
    unsigned char *g1 = NewBuf(3000), *g2 = NewBuf(5);
    FillPattern(g1, 3000, 1);
    FillPattern(g2, 5, 2);
    auto *vec = Make<std::array<rp_buf, 2>>();
    (*vec)[0] = {g1, 3000};
    (*vec)[1] = {g2, 5};

    Op *post_any = NewOp(), *post0 = NewOp(), *t0 = NewOp(), *t1 = NewOp(), *tb = NewOp(), *s0 = NewOp(),
       *s1 = NewOp(), *sv = NewOp(), *sh = NewOp(), *acc = NewOp(), *con = NewOp();
    ASSERT_EQ(Post(post_any, -1), 0);
    ASSERT_EQ(Post(post0, 0), 0);
    ASSERT_EQ(Timeout(t0, RP_SOCKET_INVALID, 0), 0);
    ASSERT_EQ(Timeout(t1, RP_SOCKET_INVALID, 1), 0);
    ASSERT_EQ(Timeout(tb, a, 2), 0);
    ASSERT_EQ(Send(s0, a, zero, 0), 0);
    ASSERT_EQ(Send(s1, a, hello, 5), 0);
    ASSERT_EQ(Sendv(sv, a, vec->data(), 2, 3005), 0);
    ASSERT_EQ(Shutdown(sh, a), 0);
    ASSERT_EQ(Accept(acc, ls), 0);
    ASSERT_EQ(Connect(con, addr), 0);
    Reader *rd = StartReader(b, 1000);

    // Rejected submissions change nothing and never call back.
    Op *rej = NewOp();
    unsigned char *buf = NewBuf(16);
    EXPECT_EQ(Recv(rej, b, nullptr, 4), RP_EINVAL);
    EXPECT_EQ(Recv(rej, b, buf, 0), RP_EINVAL);
    EXPECT_EQ(Recv(rej, RP_SOCKET_INVALID, buf, 4), RP_EBADF);
    EXPECT_EQ(Recv(rej, ls, buf, 4), RP_EINVAL);
    EXPECT_EQ(Send(rej, a, buf, 1), RP_ESHUTDOWN) << "send after rp_shutdown";
    EXPECT_EQ(Shutdown(rej, a), RP_EALREADY);
    EXPECT_EQ(Post(rej, 999), RP_EINVAL);
    EXPECT_EQ(Accept(rej, a), RP_EINVAL) << "accept on a connected socket";
    EXPECT_EQ(Timeout(rej, 0xDEAD00000000BEEFull, 1), RP_EBADF);

    std::vector<Op *> ops = {post_any, post0, t0, t1, tb, s0, s1, sv, sh, acc, con};
    ASSERT_TRUE(WaitFor([&] {
        for (Op *op : ops)
            if (!op->done())
                return false;
        return rd->ended.load();
    }));
    EXPECT_EQ(post_any->result(), 0);
    EXPECT_EQ(post0->result(), 0);
    EXPECT_EQ(t0->result(), 0);
    EXPECT_EQ(t1->result(), 0);
    EXPECT_EQ(tb->result(), 0);
    EXPECT_EQ(s0->result(), 0) << "a zero-length send completes with 0";
    EXPECT_EQ(s1->result(), 5);
    EXPECT_EQ(sv->result(), 3005);
    EXPECT_EQ(sh->result(), 0);
    EXPECT_EQ(acc->result(), 0);
    EXPECT_EQ(con->result(), 0);
    EXPECT_EQ(rd->error.load(), 0) << rp_strerror((int)rd->error.load());
    std::vector<unsigned char> expect(hello, hello + 5);
    expect.insert(expect.end(), g1, g1 + 3000);
    expect.insert(expect.end(), g2, g2 + 5);
    EXPECT_TRUE(rd->Data() == expect) << "received " << rd->Data().size() << " bytes, expected " << expect.size();

    // Nothing more arrives later.
    Pump(50);
    for (Op *op : ops) {
        EXPECT_EQ(op->completions.load(), 1);
        EXPECT_EQ(op->finals.load(), 1);
        EXPECT_EQ(op->mores.load(), 0);
    }
    EXPECT_EQ(rej->completions.load(), 0) << "a rejected submission called back";
    EXPECT_EQ(rd->op->completions.load(), rd->op->submits.load());

    CloseAndWait(acc->socket());
    CloseAndWait(con->socket());
    CloseAndWait(ls);
    CloseAndWait(a);
    CloseAndWait(b);
}

TEST_P(Completion, CallbacksNeverRunInsideTheSubmittingCall)
{
    rp_socket a, b;
    ASSERT_NO_FATAL_FAILURE(Pair(&a, &b));
    static const char ping[] = "ping!!";

    // 1. From the test thread, including operations the OS completes at once.
    Op *s = NewOp();
    ASSERT_EQ(Send(s, a, ping, 6), 0); // a small send completes in the kernel immediately
    ASSERT_TRUE(WaitFor([&] { return s->done(); }));
    Pump(20); // the bytes are now buffered at b
    unsigned char *buf = NewBuf(64), *buf2 = NewBuf(64), *zero = NewBuf(1);
    Op *r = NewOp(), *p = NewOp(), *t = NewOp(), *z = NewOp(), *s2 = NewOp(), *pend = NewOp();
    ASSERT_EQ(Recv(r, b, buf, 64), 0); // data already there: ready at once
    ASSERT_EQ(Post(p, -1), 0);
    ASSERT_EQ(Timeout(t, RP_SOCKET_INVALID, 0), 0);
    ASSERT_EQ(Send(z, a, zero, 0), 0);
    ASSERT_EQ(Send(s2, b, ping, 1), 0);
    ASSERT_EQ(Recv(pend, a, buf2, 64), 0); // gets the byte s2 sends, or is cancelled
    int crc = Cancel(pend);
    EXPECT_TRUE(crc == 0 || crc == RP_ENOENT) << rp_strerror(crc);
    if (!threaded()) {
        // Nothing has run: callbacks of a caller-driven loop run only inside rp_loop_run.
        for (Op *op : {r, p, t, z, s2, pend})
            EXPECT_EQ(op->completions.load(), 0);
    }
    ASSERT_TRUE(WaitFor([&] {
        for (Op *op : {r, p, t, z, s2, pend})
            if (!op->done())
                return false;
        return true;
    }));
    EXPECT_EQ(r->result(), 6);
    EXPECT_EQ(memcmp(buf, ping, 6), 0);
    EXPECT_EQ(s2->result(), 1);
    EXPECT_TRUE(pend->result() == 1 || pend->result() == RP_ECANCELED) << pend->result();

    // 2. From a callback running on b's worker (a timer bound to b): submissions there must not call back
    // before that callback has returned, since b's callbacks and the worker run one at a time.
    Op *s3 = NewOp();
    ASSERT_EQ(Send(s3, a, ping, 6), 0);
    ASSERT_TRUE(WaitFor([&] { return s3->done(); }));
    Pump(20);
    unsigned char *ib = NewBuf(64), *ib2 = NewBuf(64);
    Op *ir = NewOp(), *is = NewOp(), *ip = NewOp(), *it = NewOp(), *itb = NewOp(), *ir2 = NewOp();
    auto *early = Make<std::atomic<int>>(0);
    auto *rcs = Make<std::atomic<int>>(0);
    Op *tick = NewOp([=](rp_op *) {
        int bad = 0;
        bad += Recv(ir, b, ib, 64) != 0; // buffered data: ready at once
        bad += Send(is, b, ping, 4) != 0;
        bad += Post(ip, -1) != 0;
        bad += Timeout(it, RP_SOCKET_INVALID, 0) != 0;
        bad += Timeout(itb, b, 0) != 0;
        bad += Recv(ir2, b, ib2, 64) != 0; // nothing more to read: stays pending
        int c = Cancel(ir2);
        bad += c != 0 && c != RP_ENOENT;
        *rcs = bad;
        for (Op *op : {ir, is, ip, it, itb, ir2})
            *early += op->completions.load();
    });
    ASSERT_EQ(Timeout(tick, b, 0), 0);
    ASSERT_TRUE(WaitFor([&] {
        if (!tick->done())
            return false;
        for (Op *op : {ir, is, ip, it, itb, ir2})
            if (op->submits.load() && !op->done())
                return false;
        return true;
    }));
    EXPECT_EQ(rcs->load(), 0) << "a submission from the callback was rejected";
    EXPECT_EQ(early->load(), 0) << "an op submitted from a callback completed before that callback returned";
    EXPECT_EQ(ir->result(), 6);
    EXPECT_EQ(is->result(), 4);
    EXPECT_EQ(ip->result(), 0);
    EXPECT_EQ(it->result(), 0);
    EXPECT_EQ(itb->result(), 0);
    EXPECT_EQ(ir2->result(), RP_ECANCELED);
    // The post and the unbound timer ran on the worker that submitted them (b's).
    int bw = rp_socket_worker(loop, b);
    EXPECT_EQ(ip->last_worker.load(), bw);
    EXPECT_EQ(it->last_worker.load(), bw);
    EXPECT_EQ(itb->last_worker.load(), bw);
    CloseAndWait(a);
    CloseAndWait(b);
}

RPT_INSTANTIATE(Completion);

} // namespace
