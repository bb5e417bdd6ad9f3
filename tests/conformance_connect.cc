// Connections: refused connects, IPv4 and IPv6 connect/accept with their addresses, accept order,
// multishot accept, worker placement options, and a peer that resets the connection mid-send.
#include "harness.h"
#include "rawsock.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <set>


using namespace rpt;

namespace {

class Connection : public LoopTest {
protected:
    // Exchanges a few bytes both ways over a connected pair.
    void Exchange(rp_socket a, rp_socket b)
    {
        static const char m1[] = "ping", m2[] = "pong!";
        unsigned char *b1 = NewBuf(4), *b2 = NewBuf(5);
        Op *r1 = NewOp(), *r2 = NewOp(), *s1 = NewOp(), *s2 = NewOp();
        ASSERT_EQ(Recv(r1, b, b1, 4), 0);
        ASSERT_EQ(Recv(r2, a, b2, 5), 0);
        ASSERT_EQ(Send(s1, a, m1, 4), 0);
        ASSERT_EQ(Send(s2, b, m2, 5), 0);
        ASSERT_TRUE(WaitFor([&] { return r1->done() && r2->done() && s1->done() && s2->done(); }));
        ASSERT_EQ(r1->result(), 4);
        ASSERT_EQ(r2->result(), 5);
        EXPECT_EQ(memcmp(b1, m1, 4), 0);
        EXPECT_EQ(memcmp(b2, m2, 5), 0);
    }
};

bool SameEndpoint(const rp_addr &x, const rp_addr &y)
{
    return x.family == y.family && x.port == y.port && memcmp(x.ip, y.ip, x.family == RP_AF_INET ? 4 : 16) == 0;
}

std::string Text(const rp_addr &a)
{
    char buf[RP_ADDR_STRLEN];
    return rp_addr_format(&a, buf, sizeof buf) > 0 ? buf : "<unformattable>";
}

TEST_P(Connection, ConnectToAClosedPortIsRefused)
{
    uint16_t port;
    rp_socket ls = Listen(&port);
    ASSERT_NE(ls, RP_SOCKET_INVALID);
    CloseAndWait(ls); // nothing listens on the port any more
    rp_addr addr;
    ASSERT_EQ(rp_addr_parse(&addr, "127.0.0.1", port), 0);
    Op *c = NewOp();
    ASSERT_EQ(Connect(c, addr), 0);
    ASSERT_TRUE(WaitFor([&] { return c->done(); }));
    EXPECT_EQ(c->result(), RP_ECONNREFUSED) << rp_strerror((int)c->result());
    EXPECT_EQ(c->socket(), RP_SOCKET_INVALID);
    // The record is reusable at once.
    ASSERT_EQ(Connect(c, addr), 0);
    ASSERT_TRUE(WaitFor([&] { return c->done(); }));
    EXPECT_EQ(c->result(), RP_ECONNREFUSED);
}

TEST_P(Connection, IPv4ConnectAndAccept)
{
    uint16_t port;
    rp_socket ls = Listen(&port);
    ASSERT_NE(ls, RP_SOCKET_INVALID);
    rp_addr laddr;
    ASSERT_EQ(rp_socket_local_addr(loop, ls, &laddr), 0);
    EXPECT_EQ(laddr.family, RP_AF_INET);
    EXPECT_EQ(Text(laddr), "127.0.0.1:" + std::to_string(port));
    Op *acc = NewOp(), *con = NewOp();
    ASSERT_EQ(Accept(acc, ls), 0);
    ASSERT_EQ(Connect(con, laddr), 0);
    ASSERT_TRUE(WaitFor([&] { return acc->done() && con->done(); }));
    ASSERT_EQ(acc->result(), 0) << rp_strerror((int)acc->result());
    ASSERT_EQ(con->result(), 0) << rp_strerror((int)con->result());
    rp_socket a = con->socket(), b = acc->socket();
    EXPECT_NE(a, b);
    rp_addr a_local, a_peer, b_local, b_peer;
    ASSERT_EQ(rp_socket_local_addr(loop, a, &a_local), 0);
    ASSERT_EQ(rp_socket_peer_addr(loop, a, &a_peer), 0);
    ASSERT_EQ(rp_socket_local_addr(loop, b, &b_local), 0);
    ASSERT_EQ(rp_socket_peer_addr(loop, b, &b_peer), 0);
    EXPECT_TRUE(SameEndpoint(a_peer, laddr)) << Text(a_peer);
    EXPECT_TRUE(SameEndpoint(b_local, laddr)) << Text(b_local);
    EXPECT_TRUE(SameEndpoint(a_local, b_peer)) << Text(a_local) << " vs " << Text(b_peer);
    EXPECT_EQ(a_local.ip[0], 127);
    EXPECT_EQ(rp_socket_set_nodelay(loop, a, 0), 0);
    EXPECT_EQ(rp_socket_set_nodelay(loop, a, 1), 0);
    ASSERT_NO_FATAL_FAILURE(Exchange(a, b));
    CloseAndWait(a);
    CloseAndWait(b);
    CloseAndWait(ls);
}

TEST_P(Connection, IPv6ConnectAndAccept)
{
    if (!Ipv6Available())
        GTEST_SKIP() << "::1 cannot be bound on this host";
    rp_addr any6;
    ASSERT_EQ(rp_addr_parse(&any6, "::1", 0), 0);
    rp_socket ls;
    int err = rp_listen(loop, &ls, &any6, nullptr);
    if (err == RP_EAFNOSUPPORT || err == RP_EADDRNOTAVAIL)
        GTEST_SKIP() << "no IPv6 loopback: " << rp_strerror(err);
    ASSERT_EQ(err, 0) << rp_strerror(err);
    rp_addr laddr;
    ASSERT_EQ(rp_socket_local_addr(loop, ls, &laddr), 0);
    EXPECT_EQ(laddr.family, RP_AF_INET6);
    EXPECT_EQ(Text(laddr), "[::1]:" + std::to_string(laddr.port));
    Op *acc = NewOp(), *con = NewOp();
    ASSERT_EQ(Accept(acc, ls), 0);
    ASSERT_EQ(Connect(con, laddr), 0);
    ASSERT_TRUE(WaitFor([&] { return acc->done() && con->done(); }));
    ASSERT_EQ(acc->result(), 0) << rp_strerror((int)acc->result());
    ASSERT_EQ(con->result(), 0) << rp_strerror((int)con->result());
    rp_socket a = con->socket(), b = acc->socket();
    rp_addr a_local, a_peer, b_peer;
    ASSERT_EQ(rp_socket_local_addr(loop, a, &a_local), 0);
    ASSERT_EQ(rp_socket_peer_addr(loop, a, &a_peer), 0);
    ASSERT_EQ(rp_socket_peer_addr(loop, b, &b_peer), 0);
    EXPECT_EQ(b_peer.family, RP_AF_INET6);
    EXPECT_TRUE(SameEndpoint(a_peer, laddr)) << Text(a_peer);
    EXPECT_TRUE(SameEndpoint(a_local, b_peer)) << Text(a_local) << " vs " << Text(b_peer);
    EXPECT_EQ(b_peer.ip[15], 1);
    ASSERT_NO_FATAL_FAILURE(Exchange(a, b));
    CloseAndWait(a);
    CloseAndWait(b);
    CloseAndWait(ls);
}

TEST_P(Connection, AcceptsCompleteInSubmissionOrder)
{
    uint16_t port;
    rp_socket ls = Listen(&port);
    ASSERT_NE(ls, RP_SOCKET_INVALID);
    struct State {
        std::mutex mu;
        std::vector<int> order;
    };
    State *st = Make<State>();
    const int kAccepts = 6;
    std::vector<Op *> accs;
    for (int i = 0; i < kAccepts; i++) {
        accs.push_back(NewOp([st, i](rp_op *) {
            std::lock_guard<std::mutex> g(st->mu);
            st->order.push_back(i);
        }));
        ASSERT_EQ(Accept(accs.back(), ls), 0);
    }
    rp_addr addr;
    rp_addr_parse(&addr, "127.0.0.1", port);
    std::vector<Op *> cons;
    for (int i = 0; i < kAccepts; i++) {
        cons.push_back(NewOp());
        ASSERT_EQ(Connect(cons.back(), addr), 0);
    }
    ASSERT_TRUE(WaitFor([&] {
        for (int i = 0; i < kAccepts; i++)
            if (!accs[i]->done() || !cons[i]->done())
                return false;
        return true;
    }));
    std::lock_guard<std::mutex> g(st->mu);
    std::vector<int> expect;
    for (int i = 0; i < kAccepts; i++)
        expect.push_back(i);
    EXPECT_EQ(st->order, expect) << "accepts completed out of submission order";
    std::set<rp_socket> distinct;
    for (Op *op : accs) {
        EXPECT_EQ(op->result(), 0);
        distinct.insert(op->socket());
        CloseAndWait(op->socket());
    }
    EXPECT_EQ(distinct.size(), (size_t)kAccepts);
    for (Op *op : cons)
        CloseAndWait(op->socket());
    CloseAndWait(ls);
}

TEST_P(Connection, MultishotAcceptDeliversEachConnectionWithMore)
{
    uint16_t port;
    rp_socket ls = Listen(&port);
    ASSERT_NE(ls, RP_SOCKET_INVALID);
    struct State {
        std::mutex mu;
        std::vector<rp_socket> accepted;
        std::atomic<int> inside{0}, overlaps{0}, bad{0};
    };
    State *st = Make<State>();
    Op *multi = NewOp([st](rp_op *o) {
        // The next connection is not delivered before this callback has returned.
        if (st->inside.fetch_add(1) != 0)
            st->overlaps++;
        if (o->flags & RP_OP_F_MORE) {
            if (o->result != 0 || o->socket == RP_SOCKET_INVALID)
                st->bad++;
            std::lock_guard<std::mutex> g(st->mu);
            st->accepted.push_back(o->socket);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        st->inside--;
    });
    ASSERT_EQ(Accept(multi, ls, RP_ACCEPT_MULTISHOT), 0);
    const int kConns = 24;
    rp_addr addr;
    rp_addr_parse(&addr, "127.0.0.1", port);
    std::vector<Op *> cons;
    for (int i = 0; i < kConns; i++) {
        cons.push_back(NewOp());
        ASSERT_EQ(Connect(cons.back(), addr), 0);
    }
    ASSERT_TRUE(WaitFor([&] { return multi->mores.load() == kConns; }))
        << multi->mores.load() << " of " << kConns << " connections delivered";
    EXPECT_FALSE(multi->done());
    EXPECT_EQ(st->bad.load(), 0);
    EXPECT_EQ(st->overlaps.load(), 0) << "a multishot accept delivered two connections at once";
    ASSERT_TRUE(WaitFor([&] {
        for (Op *c : cons)
            if (!c->done())
                return false;
        return true;
    }));
    // Every accepted socket is a distinct, working connection.
    std::vector<rp_socket> accepted;
    {
        std::lock_guard<std::mutex> g(st->mu);
        accepted = st->accepted;
    }
    std::set<rp_socket> distinct(accepted.begin(), accepted.end());
    EXPECT_EQ(distinct.size(), (size_t)kConns) << "a socket was delivered twice";
    std::set<uint16_t> client_ports, peer_ports;
    for (Op *c : cons) {
        rp_addr a;
        ASSERT_EQ(rp_socket_local_addr(loop, c->socket(), &a), 0);
        client_ports.insert(a.port);
    }
    for (rp_socket s : accepted) {
        rp_addr a;
        ASSERT_EQ(rp_socket_peer_addr(loop, s, &a), 0);
        peer_ports.insert(a.port);
    }
    EXPECT_EQ(client_ports, peer_ports);
    // The accepted socket whose peer is cons[0] carries its data.
    rp_addr c0;
    ASSERT_EQ(rp_socket_local_addr(loop, cons[0]->socket(), &c0), 0);
    rp_socket partner = RP_SOCKET_INVALID;
    for (rp_socket s : accepted) {
        rp_addr a;
        if (rp_socket_peer_addr(loop, s, &a) == 0 && a.port == c0.port)
            partner = s;
    }
    ASSERT_NE(partner, RP_SOCKET_INVALID);
    ASSERT_NO_FATAL_FAILURE(Exchange(cons[0]->socket(), partner));

    ASSERT_EQ(Cancel(multi), 0);
    ASSERT_TRUE(WaitFor([&] { return multi->done(); }));
    EXPECT_EQ(multi->result(), RP_ECANCELED);
    EXPECT_EQ(multi->get()->flags & RP_OP_F_MORE, 0u);
    EXPECT_EQ(multi->completions.load(), kConns + 1);
    for (rp_socket s : accepted)
        CloseAndWait(s);
    for (Op *c : cons)
        CloseAndWait(c->socket());
    CloseAndWait(ls);
}

TEST_P(Connection, WorkerPlacementOptions)
{
    const int W = std::max(1, workers());
    rp_listen_options lo;
    rp_listen_options_init(&lo);
    lo.worker = W - 1;
    lo.accept_worker = 0;
    uint16_t port;
    rp_socket ls = Listen(&port, "127.0.0.1", &lo);
    ASSERT_NE(ls, RP_SOCKET_INVALID);
    EXPECT_EQ(rp_socket_worker(loop, ls), W - 1);
    rp_addr addr;
    rp_addr_parse(&addr, "127.0.0.1", port);
    rp_connect_options co;
    rp_connect_options_init(&co);
    co.worker = W - 1;
    Op *acc = NewOp(), *con = NewOp();
    ASSERT_EQ(Accept(acc, ls), 0);
    ASSERT_EQ(Connect(con, addr, &co), 0);
    ASSERT_TRUE(WaitFor([&] { return acc->done() && con->done(); }));
    ASSERT_EQ(acc->result(), 0);
    ASSERT_EQ(con->result(), 0);
    EXPECT_EQ(rp_socket_worker(loop, acc->socket()), 0) << "accept_worker";
    EXPECT_EQ(rp_socket_worker(loop, con->socket()), W - 1) << "connect worker";
    EXPECT_EQ(acc->last_worker.load(), W - 1) << "an accept completes on its listener's worker";
    EXPECT_EQ(con->last_worker.load(), W - 1) << "a connect completes on its new socket's worker";
    ASSERT_NO_FATAL_FAILURE(Exchange(con->socket(), acc->socket()));
    CloseAndWait(acc->socket());
    CloseAndWait(con->socket());

    // Without a worker, connected sockets are spread round-robin over every worker. (The listener and
    // its accepted sockets are placed explicitly so that they take no turns of the round-robin.)
    std::vector<Op *> cons;
    const int kConns = 4 * W;
    rp_listen_options_init(&lo);
    lo.worker = 0;
    lo.accept_worker = 0;
    uint16_t port2;
    rp_socket ls2 = Listen(&port2, "127.0.0.1", &lo);
    rp_addr addr2;
    rp_addr_parse(&addr2, "127.0.0.1", port2);
    Op *acc2 = NewOp();
    ASSERT_EQ(Accept(acc2, ls2, RP_ACCEPT_MULTISHOT), 0);
    for (int i = 0; i < kConns; i++) {
        cons.push_back(NewOp());
        ASSERT_EQ(Connect(cons.back(), addr2), 0);
    }
    ASSERT_TRUE(WaitFor([&] {
        for (Op *c : cons)
            if (!c->done())
                return false;
        return acc2->mores.load() == kConns;
    }));
    std::set<int> used;
    for (Op *c : cons) {
        ASSERT_EQ(c->result(), 0);
        int w = rp_socket_worker(loop, c->socket());
        EXPECT_GE(w, 0);
        EXPECT_LT(w, W);
        used.insert(w);
        EXPECT_EQ(c->last_worker.load(), w);
    }
    EXPECT_EQ((int)used.size(), W) << "round-robin placement left a worker unused";
    ASSERT_EQ(Cancel(acc2), 0);
    ASSERT_TRUE(WaitFor([&] { return acc2->done(); }));
    // (the sockets accepted by acc2 end with the loop)
}

TEST_P(Connection, PeerResetMidSendFailsTheSend)
{
    // The peer is a plain socket that resets the connection (SO_LINGER 0) while we are sending.
    uint16_t lport = 0;
    RawSock lfd = RawListen(&lport, 4);
    ASSERT_NE(lfd, kRawInvalid);
    rp_addr addr;
    rp_addr_parse(&addr, "127.0.0.1", lport);
    Op *c = NewOp();
    ASSERT_EQ(Connect(c, addr), 0);
    ASSERT_TRUE(WaitFor([&] { return c->done(); })); // the kernel completes the handshake from the backlog
    ASSERT_EQ(c->result(), 0);
    RawSock peer = accept(lfd, nullptr, nullptr);
    ASSERT_NE(peer, kRawInvalid);
    const size_t kBig = 32u << 20;
    unsigned char *big = NewBuf(kBig, 1);
    Op *s = NewOp(), *s2 = NewOp();
    ASSERT_EQ(Send(s, c->socket(), big, kBig), 0);
    ASSERT_EQ(Send(s2, c->socket(), big, 1000), 0); // queued behind
    Pump(50);
    // Read a little so the connection is clearly mid-transfer, then reset.
    char tmp[4096];
    ASSERT_EQ(RawWaitReadable(peer, 10000), 1) << "nothing of the send arrived";
    ASSERT_GT(RawRecv(peer, tmp, sizeof tmp), 0);
    ASSERT_TRUE(RawReset(peer));
    RawClose(lfd);
    ASSERT_TRUE(WaitFor([&] { return s->done() && s2->done(); })) << "a send to a reset peer never completed";
    EXPECT_TRUE(s->result() == RP_ECONNRESET || s->result() == RP_EPIPE) << rp_strerror((int)s->result());
    EXPECT_GT(rp_op_sent(s->get()), 0);
    EXPECT_LE(rp_op_sent(s->get()), (int64_t)kBig);
    EXPECT_LT(s2->result(), 0) << "a send queued behind the failed one";
    // A receive on the reset socket fails (or sees the end) and never hangs.
    Op *r = NewOp();
    ASSERT_EQ(Recv(r, c->socket(), NewBuf(4), 4), 0);
    ASSERT_TRUE(WaitFor([&] { return r->done(); }));
    EXPECT_LE(r->result(), 0);
    CloseAndWait(c->socket());
}

RPT_INSTANTIATE(Connection);

} // namespace
