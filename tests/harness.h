// Test harness for the conformance suite: a fixture parameterized by backend and threading mode, ops with
// std::function callbacks that count their completions and check they never run inside a submission,
// connected socket pairs, and waiting that drives caller-driven loops.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "ringport.h"

namespace rpt {

struct Mode {
    rp_backend backend;
    int workers; // 2 = threaded, 0 = caller-driven
};

std::vector<Mode> AllModes();
bool BackendSelected(rp_backend b); // RINGPORT_TEST_BACKENDS (comma list) allows it, or is unset
std::string ModeName(const ::testing::TestParamInfo<Mode> &info);

// Set while a test thread is inside a submitting call: a callback that sees it set ran re-entrantly.
extern thread_local bool g_in_submit;
extern std::atomic<int> g_reentrant_callbacks;

template <class F> auto Submit(F &&f) -> decltype(f())
{
    g_in_submit = true;
    auto r = f();
    g_in_submit = false;
    return r;
}

// An op record with a callback and counters. Keep it alive until its final completion.
struct Op {
    rp_op op;
    std::function<void(rp_op *)> fn;
    std::atomic<int> completions{0}; // every delivery, including RP_OP_F_MORE ones
    std::atomic<int> finals{0};
    std::atomic<int64_t> last_result{0};
    bool may_delete_itself = false; // fn may free this Op: count before calling it, touch nothing after

    Op() { rp_op_init(&op, &Op::Trampoline, this); }
    explicit Op(std::function<void(rp_op *)> f) : Op() { fn = std::move(f); }
    Op(const Op &) = delete;
    Op &operator=(const Op &) = delete;

    rp_op *get() { return &op; }
    bool done() const { return finals.load() > 0; }

    static void Trampoline(rp_op *o)
    {
        auto *self = static_cast<Op *>(o->user);
        if (g_in_submit)
            g_reentrant_callbacks++;
        self->last_result = o->result;
        self->completions++;
        bool final = !(o->flags & RP_OP_F_MORE);
        if (self->may_delete_itself) {
            if (final)
                self->finals++;
            if (self->fn)
                self->fn(o);
            return;
        }
        if (self->fn)
            self->fn(o);
        if (final)
            self->finals++; // last: the test may destroy the Op once it sees this
    }
};

class LoopTest : public ::testing::TestWithParam<Mode> {
protected:
    rp_loop *loop = nullptr;
    std::unique_ptr<Op> heartbeat;

    void SetUp() override;
    void TearDown() override;

    bool threaded() const { return GetParam().workers > 0; }

    // Destroys the loop now (delivering every cancellation while the test's records still exist).
    void Finish();

    // Waits until cond() holds; drives the loop in caller-driven mode. False after timeout.
    bool WaitFor(const std::function<bool()> &cond, int timeout_ms = 30000);

    // A listener on 127.0.0.1 (or ::1), port chosen by the kernel.
    rp_socket Listen(uint16_t *port, const char *host = "127.0.0.1");

    // A connected pair: client (from rp_connect) and server (from rp_accept).
    void Pair(rp_socket *client, rp_socket *server, const char *host = "127.0.0.1");

    // Closes s and waits for the close completion.
    void CloseAndWait(rp_socket s);
};

// Deterministic byte pattern for stream checks.
inline unsigned char PatternByte(uint64_t seed, uint64_t offset)
{
    uint64_t x = (offset + 1) * 0x9E3779B97F4A7C15ull ^ seed;
    return (unsigned char)(x >> 29);
}

} // namespace rpt
