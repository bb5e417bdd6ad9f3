// Bad arguments to every public function: none may crash; each returns its documented code and changes
// nothing.
#include "harness.h"
#include "rawsock.h"

#include <climits>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>

using namespace rpt;

namespace {

class Arguments : public LoopTest {};

TEST_P(Arguments, EveryFunctionRejectsBadArguments)
{
    rp_socket a, b, c, d;
    ASSERT_NO_FATAL_FAILURE(Pair(&a, &b));
    ASSERT_NO_FATAL_FAILURE(Pair(&c, &d));
    CloseAndWait(c);
    const rp_socket stale = c; // closed: a handle kept after rp_close
    uint16_t port;
    rp_socket ls = Listen(&port);
    ASSERT_NE(ls, RP_SOCKET_INVALID);
    rp_addr addr;
    ASSERT_EQ(rp_addr_parse(&addr, "127.0.0.1", port), 0);
    unsigned char *buf = NewBuf(16);
    auto *bufs = Make<std::vector<rp_buf>>(1100, rp_buf{buf, 1});
    Op *op = NewOp(); // never accepted: must never call back
    const int W = std::max(1, workers());

    // ---- NULL loop ----
    rp_socket out = RP_SOCKET_INVALID;
    rp_addr aout;
    rp_op *pout[2];
    EXPECT_EQ(rp_listen(nullptr, &out, &addr, nullptr), RP_EINVAL);
    EXPECT_EQ(rp_accept(nullptr, op->get(), ls, 0), RP_EINVAL);
    EXPECT_EQ(rp_connect(nullptr, op->get(), &addr, nullptr), RP_EINVAL);
    EXPECT_EQ(rp_recv(nullptr, op->get(), a, buf, 4), RP_EINVAL);
    EXPECT_EQ(rp_send(nullptr, op->get(), a, buf, 4), RP_EINVAL);
    EXPECT_EQ(rp_sendv(nullptr, op->get(), a, bufs->data(), 1), RP_EINVAL);
    EXPECT_EQ(rp_shutdown(nullptr, op->get(), a), RP_EINVAL);
    EXPECT_EQ(rp_close(nullptr, op->get(), a), RP_EINVAL);
    EXPECT_EQ(rp_close(nullptr, nullptr, a), RP_EINVAL);
    EXPECT_EQ(rp_socket_set_nodelay(nullptr, a, 1), RP_EINVAL);
    EXPECT_EQ(rp_socket_local_addr(nullptr, a, &aout), RP_EINVAL);
    EXPECT_EQ(rp_socket_peer_addr(nullptr, a, &aout), RP_EINVAL);
    EXPECT_EQ(rp_socket_worker(nullptr, a), RP_EINVAL);
    EXPECT_EQ(rp_timeout(nullptr, op->get(), RP_SOCKET_INVALID, 1, 0), RP_EINVAL);
    EXPECT_EQ(rp_post(nullptr, op->get(), 0), RP_EINVAL);
    EXPECT_EQ(rp_cancel(nullptr, op->get()), RP_EINVAL);
    EXPECT_EQ(rp_loop_run(nullptr, RP_RUN_NOWAIT), RP_EINVAL);
    EXPECT_EQ(rp_loop_poll(nullptr, pout, 2, 0), RP_EINVAL);
    EXPECT_EQ(rp_loop_stop(nullptr), RP_EINVAL);
    EXPECT_EQ(rp_loop_destroy(nullptr), RP_EINVAL);
    EXPECT_EQ(rp_loop_workers(nullptr), RP_EINVAL);
    EXPECT_EQ(rp_loop_backend(nullptr), RP_BACKEND_AUTO);
    EXPECT_EQ(rp_loop_current_worker(nullptr), -1);
    (void)rp_loop_fallback_reason(nullptr); // must not crash

    // ---- NULL op, NULL buffers and addresses, bad lengths ----
    EXPECT_EQ(rp_accept(loop, nullptr, ls, 0), RP_EINVAL);
    EXPECT_EQ(rp_connect(loop, nullptr, &addr, nullptr), RP_EINVAL);
    EXPECT_EQ(rp_recv(loop, nullptr, a, buf, 4), RP_EINVAL);
    EXPECT_EQ(rp_send(loop, nullptr, a, buf, 4), RP_EINVAL);
    EXPECT_EQ(rp_sendv(loop, nullptr, a, bufs->data(), 1), RP_EINVAL);
    EXPECT_EQ(rp_shutdown(loop, nullptr, a), RP_EINVAL);
    EXPECT_EQ(rp_timeout(loop, nullptr, RP_SOCKET_INVALID, 1, 0), RP_EINVAL);
    EXPECT_EQ(rp_post(loop, nullptr, 0), RP_EINVAL);
    EXPECT_EQ(rp_cancel(loop, nullptr), RP_EINVAL);
    EXPECT_EQ(rp_op_init(nullptr, nullptr, nullptr), RP_EINVAL);
    EXPECT_EQ(rp_op_pending(nullptr), 0);
    EXPECT_EQ(rp_op_sent(nullptr), 0);
    EXPECT_EQ(rp_op_sent(op->get()), 0) << "rp_op_sent of a record that never sent";
    EXPECT_EQ(Recv(op, a, nullptr, 4), RP_EINVAL);
    EXPECT_EQ(Recv(op, a, buf, 0), RP_EINVAL) << "len 0";
    EXPECT_EQ(Recv(op, a, buf, (size_t)INT32_MAX + 1), RP_EINVAL) << "len > INT32_MAX";
    EXPECT_EQ(Send(op, a, nullptr, 4), RP_EINVAL);
    EXPECT_EQ(Sendv(op, a, nullptr, 1, 1), RP_EINVAL);
    EXPECT_EQ(Sendv(op, a, bufs->data(), 1025, 1025), RP_EINVAL) << "more than 1024 buffers";
    EXPECT_EQ(rp_connect(loop, op->get(), nullptr, nullptr), RP_EINVAL);
    EXPECT_EQ(rp_listen(loop, nullptr, &addr, nullptr), RP_EINVAL);
    EXPECT_EQ(rp_listen(loop, &out, nullptr, nullptr), RP_EINVAL);
    EXPECT_EQ(rp_socket_local_addr(loop, a, nullptr), RP_EINVAL);
    EXPECT_EQ(rp_socket_peer_addr(loop, a, nullptr), RP_EINVAL);
    rp_op *outs[2];
    EXPECT_EQ(rp_loop_poll(loop, nullptr, 2, 0), RP_EINVAL);
    EXPECT_EQ(rp_loop_poll(loop, outs, -1, 0), RP_EINVAL);
    int zero_max = rp_loop_poll(loop, outs, 0, 0);
    EXPECT_TRUE(zero_max == RP_EINVAL || zero_max == 0) << zero_max;
    // A gather send of no buffers: rejected, or a send of 0 bytes.
    int rc = Sendv(op, a, bufs->data(), 0, 0);
    EXPECT_TRUE(rc == 0 || rc == RP_EINVAL) << rp_strerror(rc);
    if (rc == 0) {
        ASSERT_TRUE(WaitFor([&] { return op->done(); }));
        EXPECT_EQ(op->result(), 0);
    }

    // ---- bad addresses and options ----
    rp_addr bad = addr;
    bad.family = 99;
    EXPECT_EQ(rp_connect(loop, op->get(), &bad, nullptr), RP_EINVAL);
    EXPECT_EQ(rp_listen(loop, &out, &bad, nullptr), RP_EINVAL);
    bad.family = 0;
    EXPECT_EQ(rp_connect(loop, op->get(), &bad, nullptr), RP_EINVAL);
    rp_connect_options co;
    for (size_t i : {size_t(0), sizeof co.reserved / sizeof co.reserved[0] - 1}) {
        rp_connect_options_init(&co);
        co.reserved[i] = 1;
        EXPECT_EQ(rp_connect(loop, op->get(), &addr, &co), RP_EINVAL) << "reserved[" << i << "]";
    }
    rp_connect_options_init(&co);
    co.worker = W;
    EXPECT_EQ(rp_connect(loop, op->get(), &addr, &co), RP_EINVAL) << "worker out of range";
    rp_connect_options_init(&co);
    co.worker = -2;
    EXPECT_EQ(rp_connect(loop, op->get(), &addr, &co), RP_EINVAL);
    rp_connect_options_init(&co);
    co.flags = 0x80;
    EXPECT_EQ(rp_connect(loop, op->get(), &addr, &co), RP_EINVAL) << "unknown connect flag";
    rp_listen_options lo;
    rp_addr any;
    rp_addr_parse(&any, "127.0.0.1", 0);
    for (size_t i : {size_t(0), sizeof lo.reserved / sizeof lo.reserved[0] - 1}) {
        rp_listen_options_init(&lo);
        lo.reserved[i] = 7;
        EXPECT_EQ(rp_listen(loop, &out, &any, &lo), RP_EINVAL) << "reserved[" << i << "]";
    }
    for (int posted : {-1, 1025}) {
        rp_listen_options_init(&lo);
        lo.accepts_posted = posted;
        EXPECT_EQ(rp_listen(loop, &out, &any, &lo), RP_EINVAL) << "accepts_posted " << posted;
    }
    rp_listen_options_init(&lo);
    lo.backlog = -1;
    EXPECT_EQ(rp_listen(loop, &out, &any, &lo), RP_EINVAL) << "negative backlog";
    rp_listen_options_init(&lo);
    lo.flags = 0x100;
    EXPECT_EQ(rp_listen(loop, &out, &any, &lo), RP_EINVAL) << "unknown listen flag";
    rp_listen_options_init(&lo);
    lo.worker = W;
    EXPECT_EQ(rp_listen(loop, &out, &any, &lo), RP_EINVAL) << "worker out of range";
    rp_listen_options_init(&lo);
    lo.accept_worker = W;
    EXPECT_EQ(rp_listen(loop, &out, &any, &lo), RP_EINVAL) << "accept_worker out of range";
    rp_listen_options_init(&lo);
    lo.accept_worker = -2;
    EXPECT_EQ(rp_listen(loop, &out, &any, &lo), RP_EINVAL);
    EXPECT_EQ(rp_listen(loop, &out, &addr, nullptr), RP_EADDRINUSE) << "a port already listened on";
    rp_addr foreign;
    rp_addr_parse(&foreign, "192.0.2.1", 0); // TEST-NET-1: not an address of this host
    EXPECT_EQ(rp_listen(loop, &out, &foreign, nullptr), RP_EADDRNOTAVAIL);

    // ---- operations on the wrong kind of socket, bad flags and worker indices ----
    EXPECT_EQ(Accept(op, a), RP_EINVAL) << "accept on a connected socket";
    EXPECT_EQ(Accept(op, ls, 0x80), RP_EINVAL) << "unknown accept flag";
    EXPECT_EQ(Recv(op, ls, buf, 4), RP_EINVAL) << "receive on a listener";
    EXPECT_EQ(Send(op, ls, buf, 4), RP_EINVAL) << "send on a listener";
    EXPECT_EQ(Post(op, W), RP_EINVAL) << "worker index out of range";
    EXPECT_EQ(Post(op, -2), RP_EINVAL);
    EXPECT_EQ(Post(op, 1000), RP_EINVAL);
    if (!threaded()) {
        EXPECT_EQ(rp_loop_run(loop, (rp_run_mode)9), RP_EINVAL);
    } else {
        // A threaded loop needs callbacks.
        rp_op *nocb = Make<rp_op>();
        rp_op_init(nocb, nullptr, nullptr);
        EXPECT_EQ(rp_post(loop, nocb, 0), RP_EINVAL);
        EXPECT_EQ(rp_accept(loop, nocb, ls, 0), RP_EINVAL);
        EXPECT_EQ(rp_timeout(loop, nocb, RP_SOCKET_INVALID, 1, 0), RP_EINVAL);
        EXPECT_EQ(rp_recv(loop, nocb, a, buf, 4), RP_EINVAL);
        EXPECT_EQ(rp_send(loop, nocb, a, buf, 4), RP_EINVAL);
        EXPECT_EQ(rp_sendv(loop, nocb, a, bufs->data(), 1), RP_EINVAL);
        EXPECT_EQ(rp_shutdown(loop, nocb, a), RP_EINVAL);
        EXPECT_EQ(rp_connect(loop, nocb, &addr, nullptr), RP_EINVAL);
        EXPECT_EQ(rp_close(loop, nocb, a), RP_EINVAL);
        EXPECT_EQ(rp_loop_run(loop, RP_RUN_NOWAIT), RP_EINVAL);
        EXPECT_EQ(rp_loop_poll(loop, outs, 2, 0), RP_EINVAL);
        EXPECT_EQ(rp_loop_stop(loop), RP_EINVAL);
    }

    // ---- stale, zero and garbage handles ----
    const rp_socket handles[] = {RP_SOCKET_INVALID, stale, ~(rp_socket)0, 0xDEADBEEFDEADBEEFull,
                                 a ^ (1ull << 40)};
    for (rp_socket h : handles) {
        SCOPED_TRACE("handle " + std::to_string(h));
        EXPECT_EQ(Recv(op, h, buf, 4), RP_EBADF);
        EXPECT_EQ(Send(op, h, buf, 4), RP_EBADF);
        EXPECT_EQ(Sendv(op, h, bufs->data(), 1, 1), RP_EBADF);
        EXPECT_EQ(Shutdown(op, h), RP_EBADF);
        EXPECT_EQ(Accept(op, h), RP_EBADF);
        EXPECT_EQ(Close(op, h), RP_EBADF);
        EXPECT_EQ(Close(nullptr, h), RP_EBADF);
        if (h != RP_SOCKET_INVALID) { // RP_SOCKET_INVALID is an unbound timer
            EXPECT_EQ(Timeout(op, h, 1), RP_EBADF);
        }
        EXPECT_EQ(rp_socket_set_nodelay(loop, h, 1), RP_EBADF);
        EXPECT_EQ(rp_socket_local_addr(loop, h, &aout), RP_EBADF);
        EXPECT_EQ(rp_socket_peer_addr(loop, h, &aout), RP_EBADF);
        EXPECT_EQ(rp_socket_worker(loop, h), RP_EBADF);
    }
    EXPECT_EQ(rp_socket_peer_addr(loop, ls, &aout), RP_ENOTCONN) << "peer of a listener";

    // ---- a pending op cannot be submitted again, to any function ----
    Op *pending = NewOp();
    ASSERT_EQ(Recv(pending, b, buf, 4), 0);
    EXPECT_EQ(rp_op_pending(pending->get()), 1);
    EXPECT_EQ(Recv(pending, b, buf, 4), RP_EBUSY);
    EXPECT_EQ(Send(pending, a, buf, 4), RP_EBUSY);
    EXPECT_EQ(Sendv(pending, a, bufs->data(), 1, 1), RP_EBUSY);
    EXPECT_EQ(Shutdown(pending, a), RP_EBUSY);
    EXPECT_EQ(Accept(pending, ls), RP_EBUSY);
    EXPECT_EQ(Connect(pending, addr), RP_EBUSY);
    EXPECT_EQ(Timeout(pending, RP_SOCKET_INVALID, 1), RP_EBUSY);
    EXPECT_EQ(Post(pending, 0), RP_EBUSY);
    EXPECT_EQ(Close(pending, d), RP_EBUSY);
    EXPECT_EQ(rp_socket_local_addr(loop, d, &aout), 0) << "a refused close closed the socket anyway";
    EXPECT_EQ(rp_op_pending(pending->get()), 1);
    // The pending op is unharmed: it still gets its data, exactly once.
    static const char x[] = "abcd";
    ASSERT_EQ(Send(NewOp(), a, x, 4), 0);
    ASSERT_TRUE(WaitFor([&] { return pending->done(); }));
    EXPECT_GT(pending->result(), 0);
    EXPECT_EQ(pending->completions.load(), 1);
    EXPECT_EQ(pending->get()->kind, (uint32_t)RP_OP_RECV);

    // ---- the connection and the refused record are unaffected ----
    static const char y[] = "y";
    Op *r = NewOp();
    ASSERT_EQ(Recv(r, b, buf, 16), 0);
    ASSERT_EQ(Send(NewOp(), a, y, 1), 0);
    ASSERT_TRUE(WaitFor([&] { return r->done(); }));
    EXPECT_GT(r->result(), 0);
    Pump(20);
    EXPECT_EQ(op->completions.load(), op->submits.load()) << "a rejected submission called back";
    EXPECT_EQ(rp_cancel(loop, op->get()), RP_ENOENT);
    CloseAndWait(a);
    CloseAndWait(b);
    CloseAndWait(d);
    CloseAndWait(ls);
}

TEST_P(Arguments, ShutdownIsRefusedOnceAndSendAfterItToo)
{
    rp_socket a, b;
    ASSERT_NO_FATAL_FAILURE(Pair(&a, &b));
    Op *sh = NewOp(), *again = NewOp();
    ASSERT_EQ(Shutdown(sh, a), 0);
    EXPECT_EQ(Shutdown(again, a), RP_EALREADY);
    static const char z[] = "z";
    EXPECT_EQ(Send(again, a, z, 1), RP_ESHUTDOWN);
    rp_buf one = {const_cast<char *>(z), 1};
    EXPECT_EQ(Sendv(again, a, &one, 1, 1), RP_ESHUTDOWN);
    ASSERT_TRUE(WaitFor([&] { return sh->done(); }));
    EXPECT_EQ(sh->result(), 0);
    EXPECT_EQ(Shutdown(again, a), RP_EALREADY) << "after the shutdown completed";
    EXPECT_EQ(again->completions.load(), 0);
}

RPT_INSTANTIATE(Arguments);

} // namespace
