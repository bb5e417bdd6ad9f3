// Sends queued on one socket: the backends may hand them to the kernel together (one sendmsg / WSASend
// for many ops), but every op still completes once, in submission order, with its own byte count, and
// the stream carries exactly the bytes of each op in order. Cancels of sends that wait in the queue or
// ride in a coalesced request take effect without reordering or losing bytes of the other sends.
#include "harness.h"

#include <algorithm>
#include <random>

using namespace rpt;

namespace {

class Coalesce : public LoopTest {};

struct Plan {
    std::vector<size_t> sizes;
    std::vector<std::vector<rp_buf>> gathers; // per op: its rp_sendv list (empty: rp_send)
    std::vector<Op *> ops;
    std::vector<unsigned char *> data;
    std::mutex mu;
    std::vector<int> completion_order;
    std::atomic<int> submitted{0}, failed_submits{0};
};

// Submits every op of plan on socket s from inside a callback on s's worker, so they pile up behind each
// other; every `cancel_every`-th op is cancelled right after its submission (0: none).
void SubmitAll(LoopTest *fx, Plan *plan, rp_socket s, int cancel_every)
{
    for (size_t i = 0; i < plan->sizes.size(); i++) {
        Op *op = plan->ops[i];
        int rc;
        if (plan->gathers[i].empty())
            rc = fx->Send(op, s, plan->data[i], plan->sizes[i]);
        else
            rc = fx->Sendv(op, s, plan->gathers[i].data(), plan->gathers[i].size(), (int64_t)plan->sizes[i]);
        if (rc != 0) {
            plan->failed_submits++;
            continue;
        }
        plan->submitted++;
        if (cancel_every && i % (size_t)cancel_every == (size_t)cancel_every - 1)
            fx->Cancel(op);
    }
}

Plan *MakePlan(LoopTest *fx, int n, uint64_t seed)
{
    Plan *plan = fx->Make<Plan>();
    std::mt19937_64 rng(seed);
    uint64_t offset = 0;
    for (int i = 0; i < n; i++) {
        size_t size = (size_t)(rng() % 3000) + (i % 50 == 0 ? 200000 : 0); // mostly small, a few large
        if (i % 97 == 0)
            size = 0;
        unsigned char *d = fx->NewBuf(size);
        FillPattern(d, size, seed, offset);
        offset += size;
        plan->sizes.push_back(size);
        plan->data.push_back(d);
        std::vector<rp_buf> g;
        if (i % 3 == 0 && size >= 3) { // a gather list of three pieces, one of them maybe empty
            size_t a = size / 3, b = (i % 2) ? 0 : size / 3;
            g.push_back({d, a});
            g.push_back({d + a, b});
            g.push_back({d + a + b, size - a - b});
        }
        plan->gathers.push_back(std::move(g));
        Op *op = fx->NewOp([plan, i](rp_op *) {
            std::lock_guard<std::mutex> l(plan->mu);
            plan->completion_order.push_back(i);
        });
        plan->ops.push_back(op);
    }
    return plan;
}

// Every send of the plan, and the op that submitted them, has completed.
bool AllDone(Plan *plan, Op *go)
{
    for (Op *op : plan->ops)
        if (!op->done())
            return false;
    return go->done();
}

// The received stream must be, op by op, the bytes each op reports as sent.
void CheckStream(Plan *plan, Reader *r, uint64_t seed, int cancel_every)
{
    std::vector<unsigned char> got = r->Data();
    size_t at = 0;
    uint64_t pattern_offset = 0;
    int cancelled = 0;
    for (size_t i = 0; i < plan->sizes.size(); i++) {
        Op *op = plan->ops[i];
        int64_t sent = rp_op_sent(op->get());
        if (op->result() >= 0) {
            EXPECT_EQ(op->result(), (int64_t)plan->sizes[i]) << "op " << i;
        } else {
            EXPECT_EQ(op->result(), RP_ECANCELED) << "op " << i;
            EXPECT_TRUE(cancel_every && i % (size_t)cancel_every == (size_t)cancel_every - 1)
                << "op " << i << " was never cancelled but ended with " << rp_strerror((int)op->result());
            cancelled++;
        }
        ASSERT_LE(at + (size_t)sent, got.size()) << "op " << i << ": stream too short";
        for (int64_t k = 0; k < sent; k++)
            ASSERT_EQ(got[at + (size_t)k], PatternByte(seed, pattern_offset + (uint64_t)k))
                << "op " << i << " byte " << k;
        at += (size_t)sent;
        pattern_offset += plan->sizes[i];
    }
    EXPECT_EQ(at, got.size()) << "bytes in the stream that no op reported";
    std::lock_guard<std::mutex> l(plan->mu);
    std::vector<int> sorted = plan->completion_order;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted.size(), plan->sizes.size());
    // Completions in submission order: the sends of one socket complete in the order they were queued
    // (a cancelled send that waited in the queue may complete before the sends ahead of it).
    int last = -1;
    for (int i : plan->completion_order) {
        if (plan->ops[(size_t)i]->result() == RP_ECANCELED)
            continue;
        EXPECT_GT(i, last) << "send " << i << " completed after send " << last;
        last = std::max(last, i);
    }
    if (cancel_every)
        ::testing::Test::RecordProperty("cancelled", cancelled);
}

TEST_P(Coalesce, QueuedSendsCompleteInOrderAndTheStreamIsExact)
{
    rp_socket c, s;
    ASSERT_NO_FATAL_FAILURE(Pair(&c, &s));
    const int kOps = (int)(2000 * std::min(1.0, Scale() * 2));
    Plan *plan = MakePlan(this, kOps, 4242);
    Op *go = NewOp([this, plan, c](rp_op *) { SubmitAll(this, plan, c, 0); });
    ASSERT_EQ(Timeout(go, c, 0), 0); // runs on c's worker: every send queues behind the first
    // Nobody reads until everything is submitted: the socket's buffer fills up and the sends wait in the
    // queue (on the readiness backends too), to go out coalesced once the reader drains the stream.
    ASSERT_TRUE(WaitFor([&] { return go->done(); }));
    Pump(20);
    Reader *r = StartReader(s);
    ASSERT_TRUE(WaitFor([&] { return AllDone(plan, go); }, 60000));
    EXPECT_EQ(plan->failed_submits.load(), 0);
    uint64_t total = 0;
    for (size_t n : plan->sizes)
        total += n;
    ASSERT_TRUE(WaitFor([&] { return r->bytes.load() >= total; }, 60000)) << r->bytes.load() << " of " << total;
    ASSERT_NO_FATAL_FAILURE(CheckStream(plan, r, 4242, 0));
    CloseAndWait(c);
    ASSERT_TRUE(WaitFor([&] { return r->ended.load(); }));
    CloseAndWait(s);
}

TEST_P(Coalesce, CancelledQueuedSendsLeaveTheOthersExact)
{
    rp_socket c, s;
    ASSERT_NO_FATAL_FAILURE(Pair(&c, &s));
    const int kOps = (int)(1500 * std::min(1.0, Scale() * 2));
    const int kCancelEvery = 7;
    Plan *plan = MakePlan(this, kOps, 777);
    Reader *r = StartReader(s);
    Op *go = NewOp([this, plan, c](rp_op *) { SubmitAll(this, plan, c, kCancelEvery); });
    ASSERT_EQ(Timeout(go, c, 0), 0);
    ASSERT_TRUE(WaitFor([&] { return AllDone(plan, go); }, 60000));
    uint64_t total = 0;
    for (Op *op : plan->ops)
        total += (uint64_t)rp_op_sent(op->get());
    ASSERT_TRUE(WaitFor([&] { return r->bytes.load() >= total; }, 60000)) << r->bytes.load() << " of " << total;
    Pump(20);
    ASSERT_NO_FATAL_FAILURE(CheckStream(plan, r, 777, kCancelEvery));
    CloseAndWait(c);
    ASSERT_TRUE(WaitFor([&] { return r->ended.load(); }));
    CloseAndWait(s);
}

// Cancels from another thread while sends are in flight: each op ends once, the stream stays exact.
TEST_P(Coalesce, CancelsFromAnotherThreadRaceWithCoalescedSends)
{
    rp_socket c, s;
    ASSERT_NO_FATAL_FAILURE(Pair(&c, &s));
    const int kOps = (int)(1500 * std::min(1.0, Scale() * 2));
    Plan *plan = MakePlan(this, kOps, 99);
    Reader *r = StartReader(s);
    Op *go = NewOp([this, plan, c](rp_op *) { SubmitAll(this, plan, c, 0); });
    ASSERT_EQ(Timeout(go, c, 0), 0);
    std::thread canceller([&] {
        SleepUntil([&] { return go->done(); });
        for (int i = 4; i < kOps; i += 5)
            rp_cancel(loop, plan->ops[(size_t)i]->get());
    });
    bool all = WaitFor([&] { return AllDone(plan, go); }, 60000);
    canceller.join();
    ASSERT_TRUE(all);
    uint64_t total = 0;
    for (Op *op : plan->ops)
        total += (uint64_t)rp_op_sent(op->get());
    ASSERT_TRUE(WaitFor([&] { return r->bytes.load() >= total; }, 60000)) << r->bytes.load() << " of " << total;
    Pump(20);
    ASSERT_NO_FATAL_FAILURE(CheckStream(plan, r, 99, 5));
    CloseAndWait(c);
    ASSERT_TRUE(WaitFor([&] { return r->ended.load(); }));
    CloseAndWait(s);
}

RPT_INSTANTIATE(Coalesce);

} // namespace
