// Caller-driven loops (workers = 0): rp_loop_poll hands out completed ops without running callbacks
// (multishot accepts at most once per call), RP_RUN_NOWAIT does not block, rp_loop_stop ends
// RP_RUN_DEFAULT, one thread at a time may drive the loop, and callbacks run on the driving thread.
// Threaded loops reject rp_loop_run / rp_loop_poll / rp_loop_stop.
#include "harness.h"
#include "rawsock.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <map>
#include <set>


using namespace rpt;

namespace {

class CallerDriven : public LoopTest {
protected:
    void SetUp() override
    {
        LoopTest::SetUp();
        if (!IsSkipped() && !HasFatalFailure() && threaded())
            GTEST_SKIP() << "caller-driven loops only";
    }

    // rp_loop_run(RP_RUN_DEFAULT), with a watchdog that stops the loop after 20 s so that a stop the loop
    // ignored fails the test instead of hanging it. *watchdog_fired tells whether it had to.
    int RunDefaultGuarded(bool *watchdog_fired)
    {
        std::atomic<bool> returned{false}, fired{false};
        std::thread watchdog([&] {
            if (!SleepUntil([&] { return returned.load(); }, 20000)) {
                fired = true;
                while (!returned.load()) {
                    rp_loop_stop(loop);
                    std::this_thread::sleep_for(std::chrono::milliseconds(10));
                }
            }
        });
        int n = rp_loop_run(loop, RP_RUN_DEFAULT);
        returned = true;
        watchdog.join();
        *watchdog_fired = fired.load();
        return n;
    }
};

class CallerDrivenAny : public LoopTest {};

TEST_P(CallerDrivenAny, RunPollAndStopNeedACallerDrivenLoop)
{
    rp_op *out[4];
    if (threaded()) {
        for (rp_run_mode m : {RP_RUN_DEFAULT, RP_RUN_ONCE, RP_RUN_NOWAIT})
            EXPECT_EQ(rp_loop_run(loop, m), RP_EINVAL);
        EXPECT_EQ(rp_loop_poll(loop, out, 4, 0), RP_EINVAL);
        EXPECT_EQ(rp_loop_poll(loop, out, 4, 10), RP_EINVAL);
        EXPECT_EQ(rp_loop_stop(loop), RP_EINVAL);
    } else {
        EXPECT_GE(rp_loop_run(loop, RP_RUN_NOWAIT), 0);
        EXPECT_EQ(rp_loop_run(loop, (rp_run_mode)3), RP_EINVAL);
        EXPECT_EQ(rp_loop_run(loop, (rp_run_mode)-1), RP_EINVAL);
    }
    // Outside any callback the test thread is not a worker.
    EXPECT_EQ(rp_loop_current_worker(loop), -1);
}

TEST_P(CallerDrivenAny, DestroyFromInsideACallbackIsRefused)
{
    auto *rc = Make<std::atomic<int>>(1);
    Op *op = NewOp([this, rc](rp_op *) { *rc = rp_loop_destroy(loop); });
    ASSERT_EQ(Post(op, 0), 0);
    ASSERT_TRUE(WaitFor([&] { return op->done(); }));
    EXPECT_EQ(rc->load(), RP_EBUSY);
    // Nothing was changed: the loop still works.
    Op *t = NewOp();
    ASSERT_EQ(Timeout(t, RP_SOCKET_INVALID, 0), 0);
    ASSERT_TRUE(WaitFor([&] { return t->done(); }));
    EXPECT_EQ(t->result(), 0);
}

TEST_P(CallerDriven, PollReturnsCompletedOpsWithoutRunningTheirCallbacks)
{
    rp_socket a, b;
    ASSERT_NO_FATAL_FAILURE(Pair(&a, &b));
    StopHeartbeat(); // nothing else completes behind our back
    auto *called = Make<std::atomic<int>>(0);
    struct Raw {
        rp_op op;
    };
    std::vector<rp_op *> ops;
    auto raw = [&](rp_callback cb) {
        rp_op *o = &Make<Raw>()->op;
        rp_op_init(o, cb, called);
        ops.push_back(o);
        return o;
    };
    rp_callback counting = [](rp_op *o) { (*static_cast<std::atomic<int> *>(o->user))++; };
    static const char msg[] = "poll!";
    unsigned char *buf = NewBuf(16);
    rp_op *p1 = raw(nullptr), *p2 = raw(nullptr), *p3 = raw(counting), *t = raw(nullptr), *t2 = raw(counting),
          *s = raw(nullptr), *r = raw(nullptr);
    ASSERT_EQ(rp_post(loop, p1, 0), 0);
    ASSERT_EQ(rp_post(loop, p2, -1), 0);
    ASSERT_EQ(rp_post(loop, p3, 0), 0);
    ASSERT_EQ(rp_timeout(loop, t, RP_SOCKET_INVALID, 1, 0), 0);
    ASSERT_EQ(rp_timeout(loop, t2, a, 0, 0), 0);
    ASSERT_EQ(rp_send(loop, s, a, msg, 5), 0);
    ASSERT_EQ(rp_recv(loop, r, b, buf, 16), 0);
    std::map<rp_op *, int> seen;
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (seen.size() < ops.size() && std::chrono::steady_clock::now() < end) {
        rp_op *out[3];
        int n = rp_loop_poll(loop, out, 3, 10);
        ASSERT_GE(n, 0) << rp_strerror(n);
        ASSERT_LE(n, 3) << "rp_loop_poll stored more than max";
        for (int i = 0; i < n; i++) {
            ASSERT_TRUE(std::find(ops.begin(), ops.end(), out[i]) != ops.end()) << "an op that was never submitted";
            seen[out[i]]++;
            EXPECT_EQ(out[i]->flags & RP_OP_F_MORE, 0u);
            EXPECT_EQ(rp_op_pending(out[i]), 0) << "an op handed out by rp_loop_poll is still pending";
        }
    }
    ASSERT_EQ(seen.size(), ops.size()) << "not every op was handed out";
    for (auto &kv : seen)
        EXPECT_EQ(kv.second, 1) << "an op was handed out twice";
    EXPECT_EQ(called->load(), 0) << "rp_loop_poll ran a callback";
    for (rp_op *o : {p1, p2, p3, t, t2})
        EXPECT_EQ(o->result, 0);
    EXPECT_EQ(s->result, 5);
    EXPECT_EQ(r->result, 5);
    EXPECT_EQ(memcmp(buf, msg, 5), 0);
    EXPECT_EQ(p1->kind, (uint32_t)RP_OP_POST);
    EXPECT_EQ(t->kind, (uint32_t)RP_OP_TIMEOUT);
    EXPECT_EQ(r->socket, b);
    // Nothing is left: a poll without waiting returns 0 at once.
    rp_op *out[4];
    EXPECT_EQ(rp_loop_poll(loop, out, 4, 0), 0);
    EXPECT_EQ(called->load(), 0);
}

TEST_P(CallerDriven, PollHandsOutAMultishotAcceptAtMostOncePerCall)
{
    uint16_t port;
    rp_socket ls = Listen(&port);
    ASSERT_NE(ls, RP_SOCKET_INVALID);
    StopHeartbeat();
    auto *acc = Make<rp_op>();
    rp_op_init(acc, nullptr, nullptr);
    ASSERT_EQ(rp_accept(loop, acc, ls, RP_ACCEPT_MULTISHOT), 0);
    // Plain clients: connect() completes from the listen backlog, so several connections are ready at once.
    const int kConns = 6;
    std::vector<RawSock> fds;
    for (int i = 0; i < kConns; i++) {
        RawSock fd = RawConnect(port);
        ASSERT_NE(fd, kRawInvalid);
        fds.push_back(fd);
    }
    std::set<rp_socket> accepted;
    int calls_with_accept = 0;
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while ((int)accepted.size() < kConns && std::chrono::steady_clock::now() < end) {
        rp_op *out[16];
        int n = rp_loop_poll(loop, out, 16, 10);
        ASSERT_GE(n, 0) << rp_strerror(n);
        int mine = 0;
        for (int i = 0; i < n; i++) {
            ASSERT_EQ(out[i], acc) << "an op that was never submitted";
            mine++;
            EXPECT_TRUE(acc->flags & RP_OP_F_MORE);
            EXPECT_EQ(acc->result, 0);
            EXPECT_NE(acc->socket, RP_SOCKET_INVALID);
            EXPECT_EQ(rp_op_pending(acc), 1) << "a multishot op with more to come is still pending";
            accepted.insert(acc->socket);
        }
        EXPECT_LE(mine, 1) << "a multishot op appeared twice in one rp_loop_poll";
        calls_with_accept += mine;
    }
    EXPECT_EQ((int)accepted.size(), kConns);
    EXPECT_EQ(calls_with_accept, kConns);
    // Cancel: the final completion comes without RP_OP_F_MORE.
    ASSERT_EQ(rp_cancel(loop, acc), 0);
    bool final_seen = false;
    end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!final_seen && std::chrono::steady_clock::now() < end) {
        rp_op *out[4];
        int n = rp_loop_poll(loop, out, 4, 10);
        ASSERT_GE(n, 0);
        for (int i = 0; i < n; i++) {
            ASSERT_EQ(out[i], acc);
            if (!(acc->flags & RP_OP_F_MORE))
                final_seen = true;
        }
    }
    ASSERT_TRUE(final_seen);
    EXPECT_EQ(acc->result, RP_ECANCELED);
    EXPECT_EQ(rp_op_pending(acc), 0);
    for (rp_socket s : accepted)
        EXPECT_EQ(rp_close(loop, nullptr, s), 0);
    for (RawSock fd : fds)
        RawClose(fd);
}

TEST_P(CallerDriven, RunNowaitAndPollWithoutTimeoutDoNotBlock)
{
    StopHeartbeat();
    Op *distant = NewOp();
    ASSERT_EQ(Timeout(distant, RP_SOCKET_INVALID, 60000), 0); // pending, but not ready for a long time
    EXPECT_GE(rp_loop_run(loop, RP_RUN_NOWAIT), 0);         // takes the submission in
    // A helper wakes the loop after 5 s unless told not to: a blocking call would return only then.
    std::mutex mu;
    std::condition_variable cv;
    bool release = false;
    std::atomic<bool> woke{false};
    Op *wake = NewOp();
    std::thread helper([&] {
        std::unique_lock<std::mutex> lk(mu);
        if (!cv.wait_for(lk, std::chrono::seconds(5), [&] { return release; })) {
            woke = true;
            EXPECT_EQ(Post(wake, 0), 0);
        }
    });
    int n1 = rp_loop_run(loop, RP_RUN_NOWAIT);
    rp_op *out[4];
    int n2 = rp_loop_poll(loop, out, 4, 0);
    bool blocked = woke.load();
    {
        std::lock_guard<std::mutex> g(mu);
        release = true;
    }
    cv.notify_all();
    helper.join();
    EXPECT_FALSE(blocked) << "RP_RUN_NOWAIT or rp_loop_poll(timeout 0) waited for a completion";
    EXPECT_EQ(n1, 0);
    EXPECT_EQ(n2, 0);
    ASSERT_EQ(Cancel(distant), 0);
    ASSERT_TRUE(WaitFor([&] { return distant->done(); }));
    if (blocked) { // the helper's post is pending: let it complete
        ASSERT_TRUE(WaitFor([&] { return wake->done(); }));
    }
}

TEST_P(CallerDriven, StopEndsRunDefault)
{
    // From another thread while running (the heartbeat keeps completions coming).
    bool fired = false;
    std::thread stopper([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        EXPECT_EQ(rp_loop_stop(loop), 0);
    });
    int n = RunDefaultGuarded(&fired);
    stopper.join();
    EXPECT_GE(n, 0) << rp_strerror(n);
    EXPECT_FALSE(fired) << "rp_loop_stop from another thread did not end rp_loop_run";

    // Requested while not running: the next RP_RUN_DEFAULT returns at once.
    EXPECT_EQ(rp_loop_stop(loop), 0);
    n = RunDefaultGuarded(&fired);
    EXPECT_GE(n, 0) << rp_strerror(n);
    EXPECT_FALSE(fired) << "a stop requested before rp_loop_run did not end it";

    // From inside a callback: run returns after that callback.
    auto *rc = Make<std::atomic<int>>(1);
    Op *stopper_op = NewOp([this, rc](rp_op *) { *rc = rp_loop_stop(loop); });
    ASSERT_EQ(Post(stopper_op, 0), 0);
    n = RunDefaultGuarded(&fired);
    EXPECT_GE(n, 1);
    EXPECT_TRUE(stopper_op->done());
    EXPECT_EQ(rc->load(), 0);
    EXPECT_FALSE(fired) << "rp_loop_stop from a callback did not end rp_loop_run";
}

TEST_P(CallerDriven, OneThreadAtATimeDrivesTheLoopAndRunsItsCallbacks)
{
    std::atomic<bool> inside{false};
    std::thread::id driver_id;
    auto *cb_thread = Make<std::thread::id>();
    auto *flag = &inside;
    Op *marker = NewOp([cb_thread, flag](rp_op *) {
        *cb_thread = std::this_thread::get_id();
        *flag = true;
    });
    std::atomic<int> driver_rc{0};
    std::thread driver([&] {
        driver_id = std::this_thread::get_id();
        driver_rc = rp_loop_run(loop, RP_RUN_DEFAULT); // until stopped; the heartbeat keeps it turning
    });
    ASSERT_EQ(Post(marker, 0), 0);
    bool in = SleepUntil([&] { return inside.load(); }, 20000);
    if (in) {
        // The other thread is inside rp_loop_run: this one may not drive the loop now.
        EXPECT_EQ(rp_loop_run(loop, RP_RUN_NOWAIT), RP_EBUSY);
        EXPECT_EQ(rp_loop_run(loop, RP_RUN_ONCE), RP_EBUSY);
        rp_op *out[4];
        EXPECT_EQ(rp_loop_poll(loop, out, 4, 0), RP_EBUSY);
    }
    EXPECT_EQ(rp_loop_stop(loop), 0);
    driver.join();
    ASSERT_TRUE(in) << "the posted op never ran";
    EXPECT_GE(driver_rc.load(), 1);
    EXPECT_EQ(*cb_thread, driver_id) << "a callback ran on another thread than the one inside rp_loop_run";

    // Inside a callback, driving the loop again is refused too, and the worker index is 0.
    struct Inner {
        std::atomic<int> run{1}, once{1}, poll{1}, worker{-2};
    };
    Inner *in2 = Make<Inner>();
    Op *nest = NewOp([this, in2](rp_op *) {
        in2->run = rp_loop_run(loop, RP_RUN_NOWAIT);
        in2->once = rp_loop_run(loop, RP_RUN_ONCE);
        rp_op *out[4];
        in2->poll = rp_loop_poll(loop, out, 4, 0);
        in2->worker = rp_loop_current_worker(loop);
    });
    ASSERT_EQ(Post(nest, 0), 0);
    ASSERT_TRUE(WaitFor([&] { return nest->done(); }));
    EXPECT_EQ(in2->run.load(), RP_EBUSY);
    EXPECT_EQ(in2->once.load(), RP_EBUSY);
    EXPECT_EQ(in2->poll.load(), RP_EBUSY);
    EXPECT_EQ(in2->worker.load(), 0);
    EXPECT_EQ(rp_loop_current_worker(loop), -1);
}

RPT_INSTANTIATE(CallerDriven);
RPT_INSTANTIATE(CallerDrivenAny);

} // namespace
