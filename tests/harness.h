// Test harness for the ringport conformance suite.
//
// LoopTest is a fixture parameterized over (backend, workers): every test runs on each backend this
// platform can have (RPT_BACKENDS) and this machine has (RP_ENOSYS skips it), with worker threads (2) and caller-driven (0). RINGPORT_TEST_BACKENDS
// ("epoll,io_uring") restricts the backends; RINGPORT_TEST_SCALE scales the heavy tests;
// RINGPORT_TEST_LOOP_FLAGS=idle_recv,sqpoll,zerocopy,spin sets loop options (see ApplyLoopEnv).
//
// Everything ringport may touch while an op is pending (op records, buffers, per-test state reached from
// callbacks) is allocated through the fixture (NewOp, NewBuf, Make) and freed only after the loop is
// destroyed, so a failing assertion that leaves the test body early cannot turn into a use-after-free.
//
// Submissions go through the fixture's wrappers (Recv, Send, UdpSend, UdpRecv, ..., Cancel). They count
// accepted submissions per op and mark the calling thread "inside a submitting call"; the op's callback
// checks every delivery: never inside a submitting call, never after the final completion, RP_OP_F_MORE
// only on multishot ops, rp_op_pending() consistent, kind/socket/result plausible (UDP: the datagram count
// and each datagram's error, length, flags and source). TearDown destroys the loop and then checks that
// every accepted submission got exactly one final completion.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "ringport.h"

namespace rpt {

// ---- parameters ----
using LoopParam = std::tuple<rp_backend, int>; // (backend, workers): 2 = threaded, 0 = caller-driven

// True if RINGPORT_TEST_BACKENDS is unset/empty or lists the backend's name.
bool BackendSelected(rp_backend b);
// Readable test-name suffix: "io_uring_threaded", "epoll_caller", ...
std::string ParamName(const ::testing::TestParamInfo<LoopParam> &info);
// RINGPORT_TEST_SCALE (default 1.0): multiplies the volume of the heavy tests.
double Scale();
// RINGPORT_TEST_LOOP_FLAGS, a comma list, sets loop options for every loop the fixture creates, so the
// whole suite can run again with them: idle_recv (RP_LOOP_IDLE_RECV), sqpoll (RP_LOOP_SQPOLL, io_uring
// loops only), zerocopy (zerocopy_min = 1), spin (spin_us = 50). o->backend must be set first.
void ApplyLoopEnv(rp_loop_options *o);
// Whether ::1 can be bound on this host.
bool Ipv6Available();

// The backends this platform can have; those missing from the build or the machine are skipped at run
// time. Only these are instantiated, so a Windows run under Wine starts no process for a Linux backend.
#if defined(_WIN32)
#define RPT_BACKENDS ::testing::Values(RP_BACKEND_IOCP)
#elif defined(__linux__)
#define RPT_BACKENDS ::testing::Values(RP_BACKEND_IO_URING, RP_BACKEND_EPOLL, RP_BACKEND_KQUEUE)
#else
#define RPT_BACKENDS ::testing::Values(RP_BACKEND_KQUEUE)
#endif
// Instantiates a LoopTest-derived fixture over every backend, threaded (2 workers) and caller-driven.
#define RPT_INSTANTIATE(Fixture)                                                                           \
    INSTANTIATE_TEST_SUITE_P(Backends, Fixture, ::testing::Combine(RPT_BACKENDS, ::testing::Values(2, 0)),  \
                             ::rpt::ParamName)

// ---- "inside a submitting call" ----
// > 0 while the current thread is inside a ringport call made through a wrapper (or SubmitScope).
extern thread_local int g_submit_depth;
struct SubmitScope {
    SubmitScope() { ++g_submit_depth; }
    ~SubmitScope() { --g_submit_depth; }
    SubmitScope(const SubmitScope &) = delete;
    SubmitScope &operator=(const SubmitScope &) = delete;
};

// Deterministic byte pattern for stream checks.
inline unsigned char PatternByte(uint64_t seed, uint64_t offset)
{
    uint64_t x = (offset + 1) * 0x9E3779B97F4A7C15ull ^ (seed * 0xD1B54A32D192ED03ull);
    x ^= x >> 31;
    return (unsigned char)(x >> 17);
}
void FillPattern(unsigned char *p, size_t n, uint64_t seed, uint64_t offset = 0);

class LoopTest;

// An op record with a callback and completion bookkeeping. Allocate with LoopTest::NewOp.
struct Op {
    rp_op op; // op.user points back to this Op
    LoopTest *fx = nullptr;
    std::function<void(rp_op *)> fn; // the test's callback (not run once the fixture tears down)

    std::atomic<int> submits{0};    // accepted submissions
    std::atomic<int> finals{0};     // final completions delivered
    std::atomic<int> completions{0}; // every delivery, RP_OP_F_MORE ones included
    std::atomic<int> mores{0};      // deliveries flagged RP_OP_F_MORE
    std::atomic<int64_t> last_result{0};
    std::atomic<int> last_worker{-2}; // rp_loop_current_worker() during the last delivery

    // What the last accepted submission was, for the checks in the callback.
    std::atomic<int> expected_kind{RP_OP_NONE};
    std::atomic<bool> multishot{false};
    std::atomic<rp_socket> expected_socket{RP_SOCKET_INVALID}; // recv/send/shutdown/close: its socket
    std::atomic<int64_t> expected_len{-1};                     // recv: capacity; send: length; pool recv: buffer size;
                                                               // UDP send/recv: datagram count
    // UDP ops: the datagram array and its count (UDP pool receives: expected_len is the buffer size).
    std::atomic<rp_dgram *> dgrams{nullptr};
    std::atomic<int64_t> dgram_count{-1};
    // rp_udp_recv: each datagram's capacity at the last submission (recorded only when the op was not
    // pending, so a refused resubmission never touches what a pending receive is checked against).
    std::vector<uint32_t> dgram_caps;

    rp_op *get() { return &op; }
    // Every accepted submission has had its final completion (and at least one was made).
    bool done() const
    {
        int s = submits.load();
        return s > 0 && finals.load() == s;
    }
    int64_t result() const { return op.result; }
    rp_socket socket() const { return op.socket; }

    static void Trampoline(rp_op *o);
};

// Receives a stream until its end or an error, appending every byte (LoopTest::StartReader).
struct Reader {
    rp_socket s = RP_SOCKET_INVALID;
    Op *op = nullptr;
    unsigned char *buf = nullptr;
    size_t cap = 0;
    std::atomic<bool> ended{false};     // end of stream, an error, or a failed resubmission
    std::atomic<int64_t> error{0};      // the negative result or submission code that ended it, else 0
    std::atomic<uint64_t> bytes{0};
    std::vector<unsigned char> Data()
    {
        std::lock_guard<std::mutex> g(mu);
        return got;
    }

    std::mutex mu;
    std::vector<unsigned char> got;
};

class LoopTest : public ::testing::TestWithParam<LoopParam> {
public:
    rp_loop *loop = nullptr;

    rp_backend backend() const { return std::get<0>(GetParam()); }
    int workers() const { return std::get<1>(GetParam()); }
    bool threaded() const { return workers() > 0; }

    // Records a violation seen on any thread; reported by TearDown (and by CheckNoAnomalies).
    void Anomaly(const std::string &what);
    // Reports (as test failures) the violations recorded so far.
    void CheckNoAnomalies();

    // ---- allocation that outlives the loop ----
    Op *NewOp(std::function<void(rp_op *)> fn = {});
    unsigned char *NewBuf(size_t n, unsigned char fill = 0);
    template <class T, class... A> T *Make(A &&...args)
    {
        auto p = std::make_shared<T>(std::forward<A>(args)...);
        std::lock_guard<std::mutex> g(arena_mu_);
        keep_.push_back(p);
        return p.get();
    }

    // ---- submission wrappers (any thread, callbacks included) ----
    int Recv(Op *op, rp_socket s, void *buf, size_t len);
    int RecvPool(Op *op, rp_socket s, rp_bufpool *pool, uint32_t flags = 0);
    int Send(Op *op, rp_socket s, const void *buf, size_t len);
    int Sendv(Op *op, rp_socket s, const rp_buf *bufs, size_t count, int64_t total);
    int UdpSend(Op *op, rp_socket s, rp_dgram *dgrams, size_t count);
    int UdpRecv(Op *op, rp_socket s, rp_dgram *dgrams, size_t count);
    int UdpRecvPool(Op *op, rp_socket s, rp_bufpool *pool, rp_dgram *dgrams, size_t count, uint32_t flags = 0);
    int Accept(Op *op, rp_socket listener, uint32_t flags = 0);
    int Connect(Op *op, const rp_addr &addr, const rp_connect_options *opts = nullptr);
    int UnixConnect(Op *op, const char *path, size_t len, const rp_connect_options *opts = nullptr);
    // rp_sendfile; the completion is checked against head + length + tail.
    int SendFile(Op *op, rp_socket s, rp_file file, uint64_t offset, uint64_t length, const rp_buf *head = nullptr,
                 const rp_buf *tail = nullptr);
    int SendSocket(Op *op, rp_socket channel, rp_socket sock, const void *data, size_t len, uint32_t flags = 0);
    int RecvSocket(Op *op, rp_socket channel, void *buf, size_t cap, int worker = -1);
    int Shutdown(Op *op, rp_socket s);
    int Close(Op *op, rp_socket s); // op may be nullptr
    int Timeout(Op *op, rp_socket s, uint64_t delay_ms, uint64_t repeat_ms = 0);
    int Post(Op *op, int worker);
    int Resolve(Op *op, const char *host, const char *service, const rp_resolve_hints *hints, rp_addr *out,
                size_t cap);
    int Cancel(Op *op);

    // ---- driving ----
    // Waits until cond() holds or the deadline passes (false). Threaded loops: sleep-polls in 1 ms steps;
    // caller-driven loops: pumps rp_loop_run(RP_RUN_ONCE) (bounded by the heartbeat timer).
    bool WaitFor(const std::function<bool()> &cond, int timeout_ms = 30000);
    // Lets the loop run for about ms milliseconds (to see that nothing more arrives).
    void Pump(int ms);
    // Caller-driven: cancels the heartbeat timer and waits for its final RP_ECANCELED completion.
    void StopHeartbeat();
    bool heartbeat_running() const { return heartbeat_ && !heartbeat_->done(); }
    Op *heartbeat() const { return heartbeat_; }

    // ---- sockets ----
    // A listener on host, port 0; *port receives the port the kernel chose.
    rp_socket Listen(uint16_t *port, const char *host = "127.0.0.1", const rp_listen_options *opts = nullptr);
    // A connected pair: *client from rp_connect, *server from rp_accept (the listener is closed again).
    void Pair(rp_socket *client, rp_socket *server, const char *host = "127.0.0.1");
    // A UDP socket bound to host:port (port 0: the kernel picks one); RP_SOCKET_INVALID, with a test
    // failure, if rp_udp_bind fails.
    rp_socket UdpBind(const char *host, uint16_t port = 0, const rp_udp_options *opts = nullptr);
    // rp_socket_local_addr of s (a test failure if it fails).
    rp_addr LocalAddr(rp_socket s);
    // rp_close with an op, and waits for its completion (result 0).
    void CloseAndWait(rp_socket s);
    // rp_socket_move of s to worker, and waits: the completion's result, or the submission's error (and
    // the worker the completion ran on, if asked).
    int64_t MoveAndWait(rp_socket s, int worker, int *ran_on = nullptr);
    // Keeps a receive pending on s, collecting the stream (recv resubmitted from its callback).
    Reader *StartReader(rp_socket s, size_t cap = 65536);

    // Cancels the heartbeat, destroys the loop (callbacks still run, delivering every cancellation) and
    // checks that every accepted submission completed exactly once. Idempotent.
    void Finish();

    bool callbacks_disabled() const { return callbacks_disabled_.load(); }
    std::thread::id test_thread() const { return test_thread_; }

protected:
    void SetUp() override;
    void TearDown() override;

    // Creates the loop for this test's parameters (SetUp does it; tests that destroyed theirs may call it
    // again). Returns the rp_loop_create code.
    int CreateLoop(unsigned queue_depth = 0);
    // Loop options a fixture sets before SetUp creates the loop (on top of RINGPORT_TEST_LOOP_FLAGS).
    uint32_t zerocopy_min_ = 0;
    void CheckOps();

private:
    template <class F>
    int Submit(Op *op, int kind, bool multishot, rp_socket s, int64_t len, F &&call, rp_dgram *dgrams = nullptr,
               int64_t dgram_count = -1);

    Op *heartbeat_ = nullptr;
    std::atomic<bool> callbacks_disabled_{false};
    std::thread::id test_thread_;
    std::mutex arena_mu_;
    std::deque<std::unique_ptr<Op>> ops_;
    std::vector<std::shared_ptr<void>> keep_;
    std::mutex anomaly_mu_;
    std::vector<std::string> anomalies_;
    size_t anomalies_reported_ = 0;
    int anomaly_count_ = 0;
};

// Waits for cond with a deadline, sleeping 1 ms between checks (no loop driving). For helper threads.
bool SleepUntil(const std::function<bool()> &cond, int timeout_ms = 30000);

} // namespace rpt
