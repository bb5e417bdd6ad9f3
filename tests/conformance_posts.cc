// Posts: from many threads at once, each runs once on the requested worker (or the calling one).
#include "harness.h"

#include <algorithm>
#include <mutex>
#include <thread>
#include <vector>

using namespace rpt;

namespace {

class Posts : public LoopTest {};

TEST_P(Posts, FromEightThreadsEachRunsOnceOnTheRequestedWorker)
{
    const int W = std::max(1, workers());
    const int kThreads = 8, kPerThread = (int)(10000 * std::min(1.0, Scale() * 2));
    struct State {
        std::atomic<int> ran{0}, wrong_worker{0};
    };
    State *st = Make<State>();
    std::vector<std::vector<Op *>> ops(kThreads);
    for (int t = 0; t < kThreads; t++)
        for (int i = 0; i < kPerThread; i++) {
            int target = (i % 4 == 3) ? -1 : (t + i) % W; // every fourth: any worker (round-robin)
            rp_loop *l = loop;
            ops[t].push_back(NewOp([st, target, l, W](rp_op *) {
                int w = rp_loop_current_worker(l);
                if (target >= 0 ? w != target : (w < 0 || w >= W))
                    st->wrong_worker++;
                st->ran++;
            }));
        }
    std::atomic<int> rejected{0}, started{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; t++)
        threads.emplace_back([&, t] {
            started++;
            while (started.load() < kThreads)
                std::this_thread::yield();
            for (int i = 0; i < kPerThread; i++) {
                int target = (i % 4 == 3) ? -1 : (t + i) % W;
                if (Post(ops[t][i], target) != 0)
                    rejected++;
            }
        });
    const int total = kThreads * kPerThread;
    // A caller-driven loop is driven by the test thread while the posts arrive.
    bool ok = WaitFor([&] { return st->ran.load() + rejected.load() == total; }, 100000);
    for (auto &th : threads)
        th.join();
    ASSERT_TRUE(ok) << st->ran.load() << " of " << total << " posts ran";
    EXPECT_EQ(rejected.load(), 0);
    EXPECT_EQ(st->wrong_worker.load(), 0) << "posts ran on another worker than requested";
    Pump(20);
    EXPECT_EQ(st->ran.load(), total);
    for (auto &v : ops)
        for (Op *op : v)
            if (op->completions.load() != 1) {
                ADD_FAILURE() << "a post completed " << op->completions.load() << " times";
                break;
            }
}

TEST_P(Posts, FromACallbackWithoutAWorkerRunsOnTheCallingWorker)
{
    const int W = std::max(1, workers());
    std::vector<Op *> inner(W);
    for (int w = 0; w < W; w++) {
        inner[w] = NewOp();
        Op *in = inner[w];
        Op *outer = NewOp([this, in](rp_op *) { EXPECT_EQ(Post(in, -1), 0); });
        ASSERT_EQ(Post(outer, w), 0);
    }
    ASSERT_TRUE(WaitFor([&] {
        for (Op *op : inner)
            if (!op->done())
                return false;
        return true;
    }));
    for (int w = 0; w < W; w++)
        EXPECT_EQ(inner[w]->last_worker.load(), w);
}


RPT_INSTANTIATE(Posts);

} // namespace
