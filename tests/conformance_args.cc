// Bad arguments to every public function (none may crash; each returns its documented code and changes
// nothing), error names, address parsing and formatting, options defaults, the RINGPORT_BACKEND override.
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
    for (int i : {0, 13}) {
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

// ---- plain functions, no loop ----
TEST(Errors, EveryCodeHasADistinctName)
{
    std::set<std::string> seen;
    for (int code = RP_EINVAL; code >= RP_EIO; code--) {
        const char *s = rp_strerror(code);
        ASSERT_NE(s, nullptr) << code;
        EXPECT_STRNE(s, "unknown error") << code;
        EXPECT_GT(strlen(s), 0u) << code;
        EXPECT_TRUE(seen.insert(s).second) << "code " << code << " shares its name \"" << s << "\"";
    }
    for (int code : {-9999, RP_EIO - 1, 1, 12345, INT_MIN, INT_MAX}) {
        const char *s = rp_strerror(code);
        ASSERT_NE(s, nullptr) << code;
        EXPECT_STREQ(s, "unknown error") << code;
    }
    EXPECT_NE(rp_strerror(RP_OK), nullptr);
}

TEST(Addr, ParseFields)
{
    rp_addr a;
    ASSERT_EQ(rp_addr_parse(&a, "127.0.0.1", 8080), 0);
    EXPECT_EQ(a.family, RP_AF_INET);
    EXPECT_EQ(a.port, 8080);
    EXPECT_EQ(a.scope_id, 0u);
    const uint8_t v4[4] = {127, 0, 0, 1};
    EXPECT_EQ(memcmp(a.ip, v4, 4), 0) << "IPv4 bytes in network order";
    ASSERT_EQ(rp_addr_parse(&a, "::1", 443), 0);
    EXPECT_EQ(a.family, RP_AF_INET6);
    EXPECT_EQ(a.port, 443);
    for (int i = 0; i < 15; i++)
        EXPECT_EQ(a.ip[i], 0);
    EXPECT_EQ(a.ip[15], 1);
    ASSERT_EQ(rp_addr_parse(&a, "fe80::1%3", 9), 0);
    EXPECT_EQ(a.scope_id, 3u);
    EXPECT_EQ(a.ip[0], 0xfe);
    EXPECT_EQ(a.ip[1], 0x80);
    ASSERT_EQ(rp_addr_parse_endpoint(&a, "10.1.2.3:65535"), 0);
    EXPECT_EQ(a.family, RP_AF_INET);
    EXPECT_EQ(a.port, 65535);
    EXPECT_EQ(a.ip[3], 3);
    ASSERT_EQ(rp_addr_parse_endpoint(&a, "[::1]:8080"), 0);
    EXPECT_EQ(a.family, RP_AF_INET6);
    EXPECT_EQ(a.port, 8080);
    EXPECT_EQ(a.ip[15], 1);
    ASSERT_EQ(rp_addr_parse_endpoint(&a, "[fe80::2%7]:1"), 0);
    EXPECT_EQ(a.scope_id, 7u);
    EXPECT_EQ(a.port, 1);
    ASSERT_EQ(rp_addr_parse_endpoint(&a, "0.0.0.0:0"), 0);
    EXPECT_EQ(a.port, 0);
}

TEST(Addr, FormatAndRoundTrip)
{
    rp_addr a;
    char text[RP_ADDR_STRLEN];
    ASSERT_EQ(rp_addr_parse(&a, "127.0.0.1", 8080), 0);
    EXPECT_EQ(rp_addr_format(&a, text, sizeof text), (int)strlen("127.0.0.1:8080"));
    EXPECT_STREQ(text, "127.0.0.1:8080");
    ASSERT_EQ(rp_addr_parse(&a, "::1", 8080), 0);
    EXPECT_EQ(rp_addr_format(&a, text, sizeof text), (int)strlen("[::1]:8080"));
    EXPECT_STREQ(text, "[::1]:8080");
    ASSERT_EQ(rp_addr_parse(&a, "fe80::1%2", 9), 0);
    ASSERT_GT(rp_addr_format(&a, text, sizeof text), 0);
    EXPECT_STREQ(text, "[fe80::1%2]:9");

    const char *endpoints[] = {"127.0.0.1:8080", "[::1]:8080",      "0.0.0.0:0",         "255.255.255.255:65535",
                               "[::]:1",         "[2001:db8::1]:53", "[fe80::1:2:3:4%5]:6", "[1:2:3:4:5:6:7:8]:9",
                               "10.0.0.1:443",   "[::ffff:10.1.2.3]:7"};
    for (const char *e : endpoints) {
        rp_addr x, y;
        ASSERT_EQ(rp_addr_parse_endpoint(&x, e), 0) << e;
        int n = rp_addr_format(&x, text, sizeof text);
        ASSERT_GT(n, 0) << e;
        EXPECT_EQ((size_t)n, strlen(text));
        ASSERT_EQ(rp_addr_parse_endpoint(&y, text), 0) << text;
        EXPECT_EQ(x.family, y.family) << e;
        EXPECT_EQ(x.port, y.port) << e;
        EXPECT_EQ(x.scope_id, y.scope_id) << e;
        EXPECT_EQ(memcmp(x.ip, y.ip, x.family == RP_AF_INET ? 4 : 16), 0) << e;
    }
    const char *hosts[] = {"2001:db8::1", "::", "fe80::1:2:3:4", "1:2:3:4:5:6:7:8", "192.168.0.255", "1.2.3.4"};
    for (const char *h : hosts) {
        rp_addr x, y;
        ASSERT_EQ(rp_addr_parse(&x, h, 1234), 0) << h;
        ASSERT_GT(rp_addr_format(&x, text, sizeof text), 0) << h;
        ASSERT_EQ(rp_addr_parse_endpoint(&y, text), 0) << text;
        EXPECT_EQ(memcmp(x.ip, y.ip, 16), 0) << h;
        EXPECT_EQ(y.port, 1234);
    }
}

TEST(Addr, FormatBufferSizes)
{
    rp_addr a;
    char text[RP_ADDR_STRLEN];
    ASSERT_EQ(rp_addr_parse(&a, "1.2.3.4", 5), 0); // "1.2.3.4:5": 9 characters
    EXPECT_EQ(rp_addr_format(&a, text, 10), 9);
    EXPECT_STREQ(text, "1.2.3.4:5");
    EXPECT_EQ(rp_addr_format(&a, text, 9), RP_ENOBUFS) << "no room for the NUL";
    EXPECT_EQ(rp_addr_format(&a, text, 4), RP_ENOBUFS);
    EXPECT_EQ(rp_addr_format(&a, text, 0), RP_ENOBUFS);
    // The longest text fits RP_ADDR_STRLEN.
    rp_addr big;
    memset(&big, 0, sizeof big);
    big.family = RP_AF_INET6;
    big.port = 65535;
    big.scope_id = 4294967295u;
    memset(big.ip, 0xff, 16);
    int n = rp_addr_format(&big, text, sizeof text);
    ASSERT_GT(n, 0) << rp_strerror(n);
    EXPECT_LT(n, RP_ADDR_STRLEN);
    EXPECT_EQ(std::string(text), "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535");
}

TEST(Addr, RejectsJunk)
{
    rp_addr a;
    char text[RP_ADDR_STRLEN];
    const char *junk[] = {"",        "1.2.3",     "256.1.1.1",  "1.2.3.4.5",        ":::",        "1::2::3", "g::1",
                          "12345::", "1:2:3:4:5:6:7:8:9", "fe80::1%", "hello",      "localhost", " 1.2.3.4",
                          "1.2.3.4 ", "1.2.3.4:80", "-1.2.3.4", "1.2.3.4/8"};
    for (const char *s : junk)
        EXPECT_EQ(rp_addr_parse(&a, s, 1), RP_EINVAL) << "\"" << s << "\"";
    const char *bad_endpoints[] = {"",           "1.2.3.4",      "1.2.3.4:",   "1.2.3.4:70000", "1.2.3.4:65536",
                                   "1.2.3.4:-1", "1.2.3.4:8x",   "[::1]",      "[::1]:",        "[::1]:x",
                                   "[::1]:99999", ":80",         "[::1:80",    "::1]:80",       "localhost:80",
                                   "[1.2.3.4.5]:80", "1.2.3.4:80:80", "[]:80"};
    for (const char *s : bad_endpoints)
        EXPECT_EQ(rp_addr_parse_endpoint(&a, s), RP_EINVAL) << "\"" << s << "\"";
    EXPECT_EQ(rp_addr_parse(nullptr, "1.1.1.1", 1), RP_EINVAL);
    EXPECT_EQ(rp_addr_parse(&a, nullptr, 1), RP_EINVAL);
    EXPECT_EQ(rp_addr_parse_endpoint(nullptr, "1.1.1.1:1"), RP_EINVAL);
    EXPECT_EQ(rp_addr_parse_endpoint(&a, nullptr), RP_EINVAL);
    EXPECT_EQ(rp_addr_format(nullptr, text, sizeof text), RP_EINVAL);
    rp_addr_parse(&a, "1.1.1.1", 1);
    int rc = rp_addr_format(&a, nullptr, 0);
    EXPECT_LT(rc, 0) << "a NULL buffer";
    for (uint16_t fam : {0, 5, 99}) {
        a.family = fam;
        EXPECT_EQ(rp_addr_format(&a, text, sizeof text), RP_EINVAL) << "family " << fam;
    }
}

TEST(Loop, OptionDefaults)
{
    rp_loop_options lo;
    memset(&lo, 0xAB, sizeof lo);
    rp_loop_options_init(&lo);
    EXPECT_EQ(lo.backend, RP_BACKEND_AUTO);
    EXPECT_EQ(lo.workers, RP_WORKERS_PER_CPU);
    EXPECT_EQ(lo.queue_depth, 0u);
    for (uint32_t r : lo.reserved)
        EXPECT_EQ(r, 0u);
    rp_listen_options so;
    memset(&so, 0xAB, sizeof so);
    rp_listen_options_init(&so);
    EXPECT_TRUE(so.backlog == 511 || so.backlog == 0) << so.backlog;
    EXPECT_EQ(so.flags, 0u);
    EXPECT_EQ(so.worker, -1);
    EXPECT_EQ(so.accept_worker, -1);
    for (uint32_t r : so.reserved)
        EXPECT_EQ(r, 0u);
    rp_connect_options co;
    memset(&co, 0xAB, sizeof co);
    rp_connect_options_init(&co);
    EXPECT_EQ(co.flags, 0u);
    EXPECT_EQ(co.worker, -1);
    for (uint32_t r : co.reserved)
        EXPECT_EQ(r, 0u);
    rp_op op;
    memset(&op, 0xAB, sizeof op);
    int x;
    ASSERT_EQ(rp_op_init(&op, nullptr, &x), 0);
    EXPECT_EQ(op.cb, nullptr);
    EXPECT_EQ(op.user, &x);
    EXPECT_EQ(op.result, 0);
    EXPECT_EQ(op.socket, RP_SOCKET_INVALID);
    EXPECT_EQ(op.flags, 0u);
    EXPECT_EQ(op.kind, (uint32_t)RP_OP_NONE);
    EXPECT_EQ(rp_op_pending(&op), 0);
    EXPECT_EQ(rp_op_sent(&op), 0);
    // The init functions tolerate NULL.
    rp_loop_options_init(nullptr);
    rp_listen_options_init(nullptr);
    rp_connect_options_init(nullptr);
}

TEST(Loop, BackendNames)
{
    EXPECT_STREQ(rp_backend_name(RP_BACKEND_AUTO), "auto");
    EXPECT_STREQ(rp_backend_name(RP_BACKEND_IO_URING), "io_uring");
    EXPECT_STREQ(rp_backend_name(RP_BACKEND_EPOLL), "epoll");
    EXPECT_STREQ(rp_backend_name(RP_BACKEND_KQUEUE), "kqueue");
    EXPECT_STREQ(rp_backend_name(RP_BACKEND_IOCP), "iocp");
    EXPECT_NE(rp_backend_name((rp_backend)77), nullptr);
    EXPECT_NE(rp_backend_name((rp_backend)-1), nullptr);
}

TEST(Loop, CreateRejectsBadOptions)
{
    rp_loop *l = nullptr;
    rp_loop_options o;
    EXPECT_EQ(rp_loop_create(nullptr, nullptr), RP_EINVAL);
    rp_loop_options_init(&o);
    EXPECT_EQ(rp_loop_create(nullptr, &o), RP_EINVAL);
    for (size_t i : {size_t(0), size_t(5), sizeof o.reserved / sizeof o.reserved[0] - 1}) {
        rp_loop_options_init(&o);
        o.reserved[i] = 1;
        EXPECT_EQ(rp_loop_create(&l, &o), RP_EINVAL) << "reserved[" << i << "]";
    }
    rp_loop_options_init(&o);
    o.flags = 0x80;
    EXPECT_EQ(rp_loop_create(&l, &o), RP_EINVAL) << "unknown loop flag";
    rp_loop_options_init(&o);
    o.workers = 257;
    EXPECT_EQ(rp_loop_create(&l, &o), RP_EINVAL) << "more than 256 workers";
    rp_loop_options_init(&o);
    o.workers = -2;
    EXPECT_EQ(rp_loop_create(&l, &o), RP_EINVAL);
    rp_loop_options_init(&o);
    o.backend = (rp_backend)42;
    EXPECT_EQ(rp_loop_create(&l, &o), RP_EINVAL);
    EXPECT_EQ(l, nullptr) << "a failed create set *out";
}

TEST(Loop, CreateVariants)
{
    // Defaults (NULL options): AUTO, one worker per CPU.
    rp_loop *l = nullptr;
    int rc = rp_loop_create(&l, nullptr);
    ASSERT_EQ(rc, 0) << rp_strerror(rc);
    EXPECT_NE(rp_loop_backend(l), RP_BACKEND_AUTO);
    unsigned cpus = std::thread::hardware_concurrency();
    if (cpus > 0 && cpus <= 256) {
        EXPECT_EQ(rp_loop_workers(l), (int)cpus);
    }
    EXPECT_GE(rp_loop_workers(l), 1);
    EXPECT_EQ(rp_loop_destroy(l), 0);
    // Small and odd queue depths are rounded up, the documented maximum (32768) is accepted, on every
    // backend this machine has.
    for (rp_backend be : {RP_BACKEND_IO_URING, RP_BACKEND_EPOLL, RP_BACKEND_KQUEUE, RP_BACKEND_IOCP}) {
        if (!BackendSelected(be))
            continue;
        for (unsigned depth : {1u, 3u, 100u, 4096u, 32768u})
            for (int w : {0, 1}) {
                rp_loop_options o;
                rp_loop_options_init(&o);
                o.backend = be;
                o.workers = w;
                o.queue_depth = depth;
                l = nullptr;
                rc = rp_loop_create(&l, &o);
                if (rc == RP_ENOSYS || rc == RP_EPERM)
                    break; // backend not available here
                EXPECT_EQ(rc, 0) << rp_backend_name(be) << ", workers " << w << ", queue_depth " << depth << ": "
                                 << rp_strerror(rc);
                if (rc == 0) {
                    EXPECT_EQ(rp_loop_destroy(l), 0);
                }
            }
    }
    rp_loop_options o;
    rp_loop_options_init(&o);
    o.queue_depth = 1u << 20; // above the maximum: rejected, or clamped
    l = nullptr;
    rc = rp_loop_create(&l, &o);
    EXPECT_TRUE(rc == RP_EINVAL || rc == 0) << rp_strerror(rc);
    if (rc == 0) {
        EXPECT_EQ(rp_loop_destroy(l), 0);
    }
}

// Sets an environment variable for one scope and restores the previous value.
struct ScopedEnv {
    std::string name, old;
    bool had;
    ScopedEnv(const char *n, const char *value) : name(n)
    {
        const char *o = getenv(n);
        had = o != nullptr;
        if (had)
            old = o;
        if (value)
            EnvSet(n, value);
        else
            EnvUnset(n);
    }
    ~ScopedEnv()
    {
        if (had)
            EnvSet(name.c_str(), old.c_str());
        else
            EnvUnset(name.c_str());
    }
};

TEST(Loop, EnvironmentOverridesAutoBackend)
{
#if defined(__linux__)
    const char *name = "epoll";
    const rp_backend expected = RP_BACKEND_EPOLL;
#elif defined(_WIN32)
    const char *name = "iocp";
    const rp_backend expected = RP_BACKEND_IOCP;
#else
    const char *name = "kqueue";
    const rp_backend expected = RP_BACKEND_KQUEUE;
#endif
    rp_loop *l = nullptr;
    rp_loop_options o;
    rp_loop_options_init(&o);
    o.workers = 0;
    {
        ScopedEnv env("RINGPORT_BACKEND", name);
        ASSERT_EQ(rp_loop_create(&l, &o), 0);
        EXPECT_EQ(rp_loop_backend(l), expected);
        EXPECT_EQ(rp_loop_destroy(l), 0);
    }
    {
        ScopedEnv env("RINGPORT_BACKEND", "nonsense");
        l = nullptr;
        EXPECT_EQ(rp_loop_create(&l, &o), RP_EINVAL) << "unknown RINGPORT_BACKEND value";
        EXPECT_EQ(l, nullptr);
    }
    {
        // The override applies to AUTO only: an explicit backend is kept.
        ScopedEnv env("RINGPORT_BACKEND", "io_uring");
        rp_loop_options e = o;
        e.backend = expected;
        l = nullptr;
        ASSERT_EQ(rp_loop_create(&l, &e), 0);
        EXPECT_EQ(rp_loop_backend(l), expected);
        EXPECT_EQ(rp_loop_destroy(l), 0);
    }
    {
        ScopedEnv env("RINGPORT_BACKEND", nullptr);
        l = nullptr;
        ASSERT_EQ(rp_loop_create(&l, &o), 0);
        EXPECT_NE(rp_loop_backend(l), RP_BACKEND_AUTO);
#if defined(__linux__)
        // On Linux AUTO prefers io_uring; anything else must come with the reason.
        if (rp_loop_backend(l) != RP_BACKEND_IO_URING) {
            EXPECT_NE(rp_loop_fallback_reason(l), nullptr) << "AUTO fell back without saying why";
        } else {
            EXPECT_EQ(rp_loop_fallback_reason(l), nullptr);
        }
#endif
        EXPECT_EQ(rp_loop_destroy(l), 0);
    }
}

} // namespace
