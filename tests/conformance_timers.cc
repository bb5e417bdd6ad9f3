// Timers: deadline order, submission order for equal deadlines, repeating timers, 100k timers, cancel,
// which worker runs them.
//
// Ordering checks do not assume when the library reads its clock: the only assumption is that a timer's
// deadline is its delay plus a base time that never decreases in submission order on one worker. Then a
// timer submitted before another with a delay no longer than the other's must fire first.
#include "harness.h"

#include <algorithm>
#include <mutex>
#include <random>

using namespace rpt;

namespace {

class Timers : public LoopTest {};

// fire_pos[i]: position of timer i in its worker's firing sequence; delay[i] in ms; timers indexed in
// submission order. Returns "" or a description of the first violation.
std::string CheckDeadlineOrder(const std::vector<int64_t> &fire_pos, const std::vector<uint32_t> &delay,
                               uint32_t max_delay)
{
    std::vector<int64_t> best(max_delay + 1, -1); // highest fire position among earlier timers of each delay
    std::vector<size_t> who(max_delay + 1, 0);
    for (size_t j = 0; j < fire_pos.size(); j++) {
        for (uint32_t d = 0; d <= delay[j]; d++)
            if (best[d] > fire_pos[j])
                return "timer #" + std::to_string(who[d]) + " (" + std::to_string(d) + " ms) fired after timer #" +
                       std::to_string(j) + " (" + std::to_string(delay[j]) + " ms), submitted later";
        if (fire_pos[j] > best[delay[j]]) {
            best[delay[j]] = fire_pos[j];
            who[delay[j]] = j;
        }
    }
    return "";
}

TEST_P(Timers, FireInDeadlineOrderAndEqualDeadlinesInSubmissionOrder)
{
    const uint32_t delays[] = {160, 40, 120, 40, 80, 40, 0, 120};
    const int kN = 8;
    struct State {
        std::mutex mu;
        std::vector<int> order;
    };
    // Twice: submitted from the test thread, and from a callback on worker 0 (no inbox in between).
    for (int pass = 0; pass < 2; pass++) {
        State *st = Make<State>();
        std::vector<Op *> timers;
        for (int i = 0; i < kN; i++)
            timers.push_back(NewOp([st, i](rp_op *) {
                std::lock_guard<std::mutex> g(st->mu);
                st->order.push_back(i);
            }));
        auto *span_ms = Make<std::atomic<int64_t>>(0);
        auto submit_all = [this, timers, delays, span_ms] {
            auto t0 = std::chrono::steady_clock::now();
            for (int i = 0; i < kN; i++)
                EXPECT_EQ(Timeout(timers[i], RP_SOCKET_INVALID, delays[i]), 0);
            *span_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
                           .count();
        };
        if (pass == 0) {
            submit_all();
        } else {
            Op *p = NewOp([submit_all](rp_op *) { submit_all(); });
            ASSERT_EQ(Post(p, 0), 0);
        }
        ASSERT_TRUE(WaitFor([&] {
            std::lock_guard<std::mutex> g(st->mu);
            return st->order.size() == (size_t)kN;
        }));
        std::lock_guard<std::mutex> g(st->mu);
        std::vector<int64_t> pos(kN);
        for (int k = 0; k < kN; k++)
            pos[st->order[k]] = k;
        std::string err = CheckDeadlineOrder(pos, std::vector<uint32_t>(delays, delays + kN), 160);
        EXPECT_EQ(err, "") << (pass ? "from a callback" : "from the test thread");
        if (pass == 1 && span_ms->load() < 30) {
            // Submitted within 30 ms on the timers' own worker: the order is fully determined.
            std::vector<int> expect = {6, 1, 3, 5, 4, 2, 7, 0};
            EXPECT_EQ(st->order, expect);
        }
        for (Op *t : timers) {
            EXPECT_EQ(t->result(), 0);
            EXPECT_EQ(t->last_worker.load(), 0) << "an unbound timer from outside the loop runs on worker 0";
        }
    }
}

TEST_P(Timers, RepeatingTimerFiresWithMoreUntilCancelled)
{
    auto *bad = Make<std::atomic<int>>(0);
    Op *t = NewOp([bad](rp_op *o) {
        if ((o->flags & RP_OP_F_MORE) && o->result != 0)
            (*bad)++;
    });
    ASSERT_EQ(Timeout(t, RP_SOCKET_INVALID, 1, 2), 0);
    ASSERT_TRUE(WaitFor([&] { return t->mores.load() >= 5; }));
    EXPECT_FALSE(t->done());
    EXPECT_EQ(rp_op_pending(t->get()), 1);
    ASSERT_EQ(Cancel(t), 0);
    ASSERT_TRUE(WaitFor([&] { return t->done(); }));
    EXPECT_EQ(t->result(), RP_ECANCELED);
    EXPECT_EQ(t->get()->flags & RP_OP_F_MORE, 0u);
    EXPECT_EQ(t->finals.load(), 1);
    EXPECT_EQ(bad->load(), 0);
    int n = t->completions.load();
    Pump(30);
    EXPECT_EQ(t->completions.load(), n) << "the repeating timer fired after its final completion";
    // A repeating timer bound to a socket, ended by a cancel from inside its own callback.
    rp_socket a, b;
    ASSERT_NO_FATAL_FAILURE(Pair(&a, &b));
    Op *tb = NewOp();
    tb->fn = [this, tb](rp_op *o) {
        if ((o->flags & RP_OP_F_MORE) && tb->mores.load() == 3) {
            EXPECT_EQ(Cancel(tb), 0);
        }
    };
    ASSERT_EQ(Timeout(tb, a, 0, 1), 0);
    ASSERT_TRUE(WaitFor([&] { return tb->done(); }));
    EXPECT_EQ(tb->result(), RP_ECANCELED);
    EXPECT_GE(tb->mores.load(), 3);
    EXPECT_EQ(tb->last_worker.load(), rp_socket_worker(loop, a));
    CloseAndWait(a);
    CloseAndWait(b);
}

TEST_P(Timers, CancelOfAPendingTimer)
{
    Op *t = NewOp();
    ASSERT_EQ(Timeout(t, RP_SOCKET_INVALID, 50), 0);
    Pump(5);
    ASSERT_EQ(Cancel(t), 0);
    ASSERT_TRUE(WaitFor([&] { return t->done(); }));
    EXPECT_EQ(t->result(), RP_ECANCELED);
    Pump(120);
    EXPECT_EQ(t->completions.load(), 1) << "a cancelled timer fired anyway";
    EXPECT_EQ(Cancel(t), RP_ENOENT);
    // Resubmitted, it fires normally.
    ASSERT_EQ(Timeout(t, RP_SOCKET_INVALID, 1), 0);
    ASSERT_TRUE(WaitFor([&] { return t->done(); }));
    EXPECT_EQ(t->result(), 0);
    EXPECT_EQ(t->completions.load(), 2);
}

TEST_P(Timers, RunOnTheSubmittingWorkerOrTheirSocketsWorker)
{
    const int W = std::max(1, workers());
    rp_socket a, b;
    ASSERT_NO_FATAL_FAILURE(Pair(&a, &b));
    Op *outside = NewOp(), *bound = NewOp();
    ASSERT_EQ(Timeout(outside, RP_SOCKET_INVALID, 0), 0);
    ASSERT_EQ(Timeout(bound, b, 0), 0);
    std::vector<Op *> inside(W), posts(W);
    for (int w = 0; w < W; w++) {
        inside[w] = NewOp();
        Op *in = inside[w];
        posts[w] = NewOp([this, in](rp_op *) { EXPECT_EQ(Timeout(in, RP_SOCKET_INVALID, 1), 0); });
        ASSERT_EQ(Post(posts[w], w), 0);
    }
    ASSERT_TRUE(WaitFor([&] {
        for (Op *op : inside)
            if (!op->done())
                return false;
        return outside->done() && bound->done();
    }));
    EXPECT_EQ(outside->last_worker.load(), 0);
    EXPECT_EQ(bound->last_worker.load(), rp_socket_worker(loop, b));
    for (int w = 0; w < W; w++) {
        EXPECT_EQ(posts[w]->last_worker.load(), w);
        EXPECT_EQ(inside[w]->last_worker.load(), w) << "a timer runs on the worker that submitted it";
    }
    CloseAndWait(a);
    CloseAndWait(b);
}

// 100k timers with random delays 0..50 ms: each fires exactly once, on the expected worker, never before
// its delay, and in deadline order on each worker.
struct Bulk;
struct BulkTimer {
    rp_op op;
    Bulk *owner = nullptr;
    uint32_t delay = 0;
    int expected_worker = 0;
    bool from_outside = false;
    std::chrono::steady_clock::time_point before;
    std::atomic<int> fired{0};
    int64_t fire_pos = -1;
    int fired_worker = -2;
    std::chrono::steady_clock::time_point fired_at;
};

struct Bulk {
    rp_loop *loop = nullptr;
    std::vector<BulkTimer> timers;
    std::vector<std::vector<int64_t>> sequence; // per worker: timer indices in firing order
    std::atomic<int> fired{0}, bad{0}, inline_calls{0};
    explicit Bulk(size_t n, int workers) : timers(n), sequence((size_t)workers) {}
};

void OnBulkTimer(rp_op *op)
{
    BulkTimer *t = static_cast<BulkTimer *>(op->user);
    Bulk *b = t->owner;
    if (g_submit_depth > 0)
        b->inline_calls++;
    if (op->result != 0 || op->flags != 0 || rp_op_pending(op) != 0)
        b->bad++;
    int w = rp_loop_current_worker(b->loop);
    t->fired_worker = w;
    t->fired_at = std::chrono::steady_clock::now();
    if (w >= 0 && w < (int)b->sequence.size()) {
        auto &seq = b->sequence[(size_t)w]; // only this worker's thread appends here
        t->fire_pos = (int64_t)seq.size();
        seq.push_back(t - b->timers.data());
    }
    t->fired++;
    b->fired++;
}

TEST_P(Timers, HundredThousandTimersFireOnceEachInDeadlineOrderPerWorker)
{
    const int W = std::max(1, workers());
    const size_t kTimers = (size_t)(100000 * std::min(1.0, Scale() * 4));
    Bulk *bulk = Make<Bulk>(kTimers, W);
    bulk->loop = loop;
    std::mt19937 rng(7);
    const size_t half = kTimers / 2;
    const int inside_worker = W - 1;
    for (size_t i = 0; i < kTimers; i++) {
        BulkTimer &t = bulk->timers[i];
        rp_op_init(&t.op, OnBulkTimer, &t);
        t.owner = bulk;
        t.delay = rng() % 51;
        t.from_outside = i < half;
        t.expected_worker = t.from_outside ? 0 : inside_worker;
    }
    auto *rejected = Make<std::atomic<int>>(0);
    auto submit = [this, bulk, rejected](size_t from, size_t to) {
        for (size_t i = from; i < to; i++) {
            BulkTimer &t = bulk->timers[i];
            t.before = std::chrono::steady_clock::now();
            SubmitScope scope;
            if (rp_timeout(loop, &t.op, RP_SOCKET_INVALID, t.delay, 0) != 0)
                (*rejected)++;
        }
    };
    // The first half from the test thread (worker 0), the second from a callback on the last worker.
    submit(0, half);
    Op *p = NewOp([submit, half, kTimers](rp_op *) { submit(half, kTimers); });
    ASSERT_EQ(Post(p, inside_worker), 0);
    bool all = WaitFor([&] { return bulk->fired.load() == (int)kTimers - rejected->load(); }, 100000);
    Pump(60);
    ASSERT_EQ(rejected->load(), 0);
    ASSERT_TRUE(all) << bulk->fired.load() << " of " << kTimers << " timers fired";
    EXPECT_EQ(bulk->bad.load(), 0) << "a timer completed with a result, flags or pending state other than 0";
    EXPECT_EQ(bulk->inline_calls.load(), 0) << "a timer callback ran inside rp_timeout";
    int twice = 0, wrong_worker = 0, early = 0;
    for (BulkTimer &t : bulk->timers) {
        twice += t.fired.load() != 1;
        wrong_worker += t.fired_worker != t.expected_worker;
        // Never before its delay (1 ms for clock granularity); the base of a callback's timers may be the
        // worker's cached time, so only those submitted from outside are checked.
        if (t.from_outside && t.fired_at + std::chrono::milliseconds(1) < t.before + std::chrono::milliseconds(t.delay))
            early++;
    }
    EXPECT_EQ(twice, 0) << "timers that fired other than exactly once";
    EXPECT_EQ(wrong_worker, 0) << "timers that ran on another worker than expected";
    EXPECT_EQ(early, 0) << "timers that fired before their delay";
    for (int w = 0; w < W; w++) {
        std::vector<int64_t> pos;
        std::vector<uint32_t> delay;
        for (size_t i = 0; i < kTimers; i++)
            if (bulk->timers[i].expected_worker == w) {
                pos.push_back(bulk->timers[i].fire_pos);
                delay.push_back(bulk->timers[i].delay);
            }
        EXPECT_EQ(CheckDeadlineOrder(pos, delay, 50), "") << "worker " << w;
    }
}

RPT_INSTANTIATE(Timers);

} // namespace
