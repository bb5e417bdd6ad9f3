// Cross-thread stress: several threads submit receives and sends and cancel random pending ops on shared
// sockets at once. Every accepted submission must complete exactly once, and each stream's received
// bytes (appended in completion order) must be exactly the start of what was sent: nothing lost,
// duplicated or reordered, whatever the cancels hit.
#include "harness.h"

#include <mutex>
#include <random>

using namespace rpt;

namespace {

class Stress : public LoopTest {};

struct RecvSlot {
    rp_op op;
    std::atomic<int> busy{0};            // claimed by a submitter until its final completion
    std::atomic<int64_t> submitted{0}, completed{0};
    std::vector<unsigned char> buf = std::vector<unsigned char>(1 + 997);
    struct PairState *pair = nullptr;
};

struct PairState {
    rp_socket a = 0, b = 0;
    std::vector<RecvSlot> slots = std::vector<RecvSlot>(4);
    std::vector<unsigned char> received; // appended on b's worker only (its callbacks never overlap)
    uint64_t sent = 0;                   // bytes whose send completed (sender thread only)
    rp_op send_op;
    std::atomic<int> send_busy{0};
    std::atomic<int64_t> sends_submitted{0}, sends_completed{0};
    std::vector<unsigned char> chunk;
};

void OnRecv(rp_op *op)
{
    auto *slot = static_cast<RecvSlot *>(op->user);
    if (op->result > 0)
        slot->pair->received.insert(slot->pair->received.end(), slot->buf.begin(), slot->buf.begin() + op->result);
    slot->completed++;
    slot->busy = 0; // last touch: the slot may be resubmitted by another thread right away
}

void OnSend(rp_op *op)
{
    auto *p = static_cast<PairState *>(op->user);
    if (op->result > 0)
        p->sent += (uint64_t)op->result;
    p->sends_completed++;
    p->send_busy = 0;
}

TEST_P(Stress, ConcurrentSubmitCancelAndSendKeepStreamsExact)
{
    if (!threaded())
        GTEST_SKIP() << "cross-thread stress needs worker threads";
    const int kPairs = 16, kThreads = 4, kIterations = 20000;
    std::vector<std::unique_ptr<PairState>> pairs;
    for (int i = 0; i < kPairs; i++) {
        auto p = std::make_unique<PairState>();
        Pair(&p->a, &p->b);
        for (auto &s : p->slots) {
            rp_op_init(&s.op, OnRecv, &s);
            s.pair = p.get();
        }
        rp_op_init(&p->send_op, OnSend, p.get());
        pairs.push_back(std::move(p));
    }
    std::atomic<int> errors{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; t++) {
        threads.emplace_back([&, t] {
            std::mt19937 rng(1234 + t);
            for (int it = 0; it < kIterations; it++) {
                int pi = (int)(rng() % kPairs);
                PairState &p = *pairs[pi];
                switch (rng() % 3) {
                case 0: { // receive into an idle slot
                    RecvSlot &s = p.slots[rng() % p.slots.size()];
                    int expected = 0;
                    if (!s.busy.compare_exchange_strong(expected, 1))
                        break;
                    size_t len = 1 + rng() % s.buf.size();
                    if (rp_recv(loop, &s.op, p.b, s.buf.data(), len) == 0)
                        s.submitted++;
                    else
                        s.busy = 0, errors++;
                    break;
                }
                case 1: { // cancel whatever a slot holds: pending, completing, or idle
                    RecvSlot &s = p.slots[rng() % p.slots.size()];
                    int rc = rp_cancel(loop, &s.op);
                    if (rc != 0 && rc != RP_ENOENT)
                        errors++;
                    break;
                }
                default: { // the pair's sender: one thread per pair keeps the byte order defined
                    if (pi % kThreads != t)
                        break;
                    int expected = 0;
                    if (!p.send_busy.compare_exchange_strong(expected, 1))
                        break;
                    size_t len = 1 + rng() % 3000;
                    p.chunk.resize(len);
                    for (size_t k = 0; k < len; k++)
                        p.chunk[k] = PatternByte(99, p.sent + k);
                    if (rp_send(loop, &p.send_op, p.a, p.chunk.data(), len) == 0)
                        p.sends_submitted++;
                    else
                        p.send_busy = 0, errors++;
                    break;
                }
                }
            }
        });
    }
    for (auto &th : threads)
        th.join();
    EXPECT_EQ(errors.load(), 0);
    // Let the last sends finish, then drain: keep receiving until every sent byte has arrived.
    ASSERT_TRUE(WaitFor([&] {
        for (auto &p : pairs)
            if (p->send_busy.load())
                return false;
        return true;
    }));
    for (auto &p : pairs) {
        // Receives still pending may wait for data that never comes: cancel them, and they must end.
        for (auto &s : p->slots) {
            int rc = rp_cancel(loop, &s.op);
            EXPECT_TRUE(rc == 0 || rc == RP_ENOENT);
        }
        ASSERT_TRUE(WaitFor([&] {
            for (auto &s : p->slots)
                if (s.busy.load())
                    return false;
            return true;
        })) << "a cancelled receive never completed";
        while (p->received.size() < p->sent) {
            RecvSlot &s = p->slots[0];
            s.busy = 1;
            ASSERT_EQ(rp_recv(loop, &s.op, p->b, s.buf.data(), s.buf.size()), 0);
            s.submitted++;
            ASSERT_TRUE(WaitFor([&] { return s.busy.load() == 0; }));
        }
    }
    for (auto &p : pairs) {
        EXPECT_EQ(p->sends_submitted.load(), p->sends_completed.load());
        for (auto &s : p->slots)
            EXPECT_EQ(s.submitted.load(), s.completed.load()) << "a receive completed twice or never";
        ASSERT_EQ(p->received.size(), p->sent);
        for (size_t k = 0; k < p->received.size(); k++)
            if (p->received[k] != PatternByte(99, k)) {
                ADD_FAILURE() << "stream differs at byte " << k;
                break;
            }
    }
    Finish();
}

// Closes race with submissions and cancels from other threads: a submission either returns an error and
// never calls back, or completes exactly once; every close completes after the socket's other ops.
struct RaceOp {
    rp_op op;
    std::atomic<int> busy{0};
    std::atomic<int64_t> accepted{0}, completed{0}, rejected_then_called{0};
    char buf[64];
};

void OnRaceOp(rp_op *op)
{
    auto *r = static_cast<RaceOp *>(op->user);
    r->completed++;
    r->busy = 0;
}

TEST_P(Stress, ClosesRacingWithSubmissionsAndCancels)
{
    if (!threaded())
        GTEST_SKIP() << "cross-thread stress needs worker threads";
    const int kPairs = 24, kThreads = 4, kIterations = 5000;
    std::vector<rp_socket> socks;
    for (int i = 0; i < kPairs; i++) {
        rp_socket a, b;
        Pair(&a, &b);
        socks.push_back(a);
        socks.push_back(b);
    }
    const size_t kOps = 64;
    std::vector<RaceOp> ops(kOps);
    for (auto &r : ops)
        rp_op_init(&r.op, OnRaceOp, &r);
    std::vector<RaceOp> closes(socks.size());
    for (auto &r : closes)
        rp_op_init(&r.op, OnRaceOp, &r);
    std::atomic<int> close_accepted{0}, unexpected{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; t++) {
        threads.emplace_back([&, t] {
            std::mt19937 rng(777 + t);
            for (int it = 0; it < kIterations; it++) {
                size_t si = rng() % socks.size();
                rp_socket sock = socks[si];
                RaceOp &r = ops[rng() % kOps];
                int action = (int)(rng() % 100);
                if (action < 70) { // receive (0-44) or send (45-69) on a maybe-closed socket
                    int expected = 0;
                    if (!r.busy.compare_exchange_strong(expected, 1))
                        continue;
                    int rc = action < 45 ? rp_recv(loop, &r.op, sock, r.buf, sizeof r.buf)
                                         : rp_send(loop, &r.op, sock, r.buf, 1 + rng() % sizeof r.buf);
                    if (rc == 0) {
                        r.accepted++;
                    } else {
                        if (rc != RP_EBADF && rc != RP_ESHUTDOWN)
                            unexpected++;
                        r.busy = 0;
                    }
                } else if (action < 97) {
                    int rc = rp_cancel(loop, &r.op);
                    if (rc != 0 && rc != RP_ENOENT)
                        unexpected++;
                } else {
                    RaceOp &c = closes[si];
                    int expected = 0;
                    if (!c.busy.compare_exchange_strong(expected, 1))
                        continue;
                    int rc = rp_close(loop, &c.op, sock);
                    if (rc == 0) {
                        c.accepted++;
                        close_accepted++;
                    } else {
                        if (rc != RP_EBADF)
                            unexpected++;
                        c.busy = 0;
                    }
                }
            }
        });
    }
    for (auto &th : threads)
        th.join();
    EXPECT_EQ(unexpected.load(), 0);
    for (auto &c : closes)
        EXPECT_LE(c.accepted.load(), 1) << "a socket was closed twice";
    // Whatever is still pending ends with the loop; then every accepted submission has completed once.
    Finish();
    for (auto &r : ops)
        EXPECT_EQ(r.accepted.load(), r.completed.load());
    for (auto &c : closes)
        EXPECT_EQ(c.accepted.load(), c.completed.load());
    EXPECT_GT(close_accepted.load(), 0);
}

RPT_INSTANTIATE(Stress);

} // namespace
