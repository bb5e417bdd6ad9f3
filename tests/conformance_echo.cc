// Echo at scale: 1000 concurrent connections in one loop, an echo server (recv, then send of the same
// bytes, recv re-armed when the send completed) and clients sending messages of log-uniformly random
// sizes from 1 B to 1 MiB, every echoed byte checked against the client's seeded pattern.
//
// Volume: about 64 MB each way at RINGPORT_TEST_SCALE=1 (scaled linearly); a few messages near 1 MiB are
// part of every run, the others are log-uniform up to a cap chosen to keep the volume on budget.
#include "harness.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

using namespace rpt;

namespace {

class Echo : public LoopTest {};

struct EchoServer {
    LoopTest *fx;
    Op *accept_op = nullptr;
    std::atomic<int> live{0}, accepted{0}, errors{0};

    struct Conn {
        rp_socket s;
        Op *op;
        unsigned char *buf;
        static constexpr size_t kCap = 65536;
    };

    void Start(rp_socket ls)
    {
        accept_op = fx->NewOp([this](rp_op *o) {
            if (!(o->flags & RP_OP_F_MORE))
                return;
            accepted++;
            live++;
            Conn *c = fx->Make<Conn>();
            c->s = o->socket;
            c->buf = fx->NewBuf(Conn::kCap);
            c->op = fx->NewOp([this, c](rp_op *op) { Step(c, op); });
            Recv(c);
        });
        EXPECT_EQ(fx->Accept(accept_op, ls, RP_ACCEPT_MULTISHOT), 0);
    }
    void Drop(Conn *c)
    {
        fx->Close(fx->NewOp(), c->s);
        live--;
    }
    void Recv(Conn *c)
    {
        if (fx->Recv(c->op, c->s, c->buf, Conn::kCap) != 0) {
            errors++;
            Drop(c);
        }
    }
    void Step(Conn *c, rp_op *op)
    {
        if (op->kind == RP_OP_RECV) {
            if (op->result <= 0) { // the client closed (0), or an error
                if (op->result < 0)
                    errors++;
                Drop(c);
                return;
            }
            if (fx->Send(c->op, c->s, c->buf, (size_t)op->result) != 0) {
                errors++;
                Drop(c);
            }
            return;
        }
        if (op->result < 0) {
            errors++;
            Drop(c);
            return;
        }
        Recv(c); // re-armed once the echo has gone out
    }
};

struct EchoClient {
    LoopTest *fx;
    uint64_t seed = 0;
    std::vector<size_t> sizes;
    rp_socket s = RP_SOCKET_INVALID;
    size_t msg = 0, got = 0;
    bool sent = false;
    std::vector<unsigned char> out;
    unsigned char *in = nullptr;
    static constexpr size_t kInCap = 65536;
    Op *conn = nullptr, *send = nullptr, *recv = nullptr, *close = nullptr;
    std::atomic<int> state{0}; // 0 running, 1 verified, -1 failed
    std::string failure;       // written before state turns -1

    void Fail(const std::string &why)
    {
        failure = why + " (message " + std::to_string(msg) + " of " + std::to_string(sizes.size()) + ", size " +
                  (msg < sizes.size() ? std::to_string(sizes[msg]) : std::string("-")) + ", " +
                  std::to_string(got) + " bytes echoed)";
        state = -1;
    }
    void Next()
    {
        if (msg == sizes.size()) {
            state = 1;
            fx->Close(close, s);
            return;
        }
        out.resize(sizes[msg]);
        FillPattern(out.data(), out.size(), seed * 1000 + msg);
        got = 0;
        sent = false;
        if (fx->Send(send, s, out.data(), out.size()) != 0)
            return Fail("send submission");
        ArmRecv();
    }
    void ArmRecv()
    {
        if (fx->Recv(recv, s, in, std::min(kInCap, out.size() - got)) != 0)
            Fail("recv submission");
    }
    void Start(const rp_addr &addr)
    {
        in = fx->NewBuf(kInCap);
        close = fx->NewOp();
        conn = fx->NewOp([this](rp_op *o) {
            if (o->result != 0)
                return Fail(std::string("connect: ") + rp_strerror((int)o->result));
            s = o->socket;
            Next();
        });
        // The send and the receive callbacks of one socket never run at the same time: no locking here.
        send = fx->NewOp([this](rp_op *o) {
            if (o->result != (int64_t)out.size())
                return Fail(std::string("send completed with ") + std::to_string(o->result));
            sent = true;
            if (got == out.size()) {
                msg++;
                Next();
            }
        });
        recv = fx->NewOp([this](rp_op *o) {
            if (o->result <= 0)
                return Fail(std::string("recv: ") + (o->result ? rp_strerror((int)o->result) : "end of stream"));
            size_t n = (size_t)o->result;
            if (memcmp(in, out.data() + got, n) != 0) {
                size_t k = 0;
                while (in[k] == out[got + k])
                    k++;
                return Fail("echoed byte " + std::to_string(got + k) + " differs");
            }
            got += n;
            if (got < out.size())
                return ArmRecv();
            if (sent) {
                msg++;
                Next();
            }
        });
        if (fx->Connect(conn, addr) != 0)
            Fail("connect submission");
    }
};

// Message sizes for the whole run: `pinned` messages near 1 MiB, the rest log-uniform on [1, cap] with
// cap chosen so that the expected total is `budget`.
std::vector<std::vector<size_t>> PlanSizes(int conns, double budget, uint64_t seed, size_t *total_out,
                                           size_t *largest_out)
{
    std::mt19937_64 rng(seed);
    std::vector<std::vector<size_t>> plan(conns);
    size_t nmsgs = 0;
    for (auto &p : plan) {
        p.resize(1 + rng() % 3);
        nmsgs += p.size();
    }
    const double kMiB = 1048576.0;
    int pinned = (int)std::lround(0.25 * budget / kMiB);
    pinned = std::max(2, std::min(pinned, 24));
    double rest = std::max(budget - pinned * 0.9 * kMiB, (double)nmsgs * 16);
    double mean = rest / (double)(nmsgs - (size_t)pinned);
    // Mean of a log-uniform distribution on [1, cap] is (cap - 1) / ln(cap): solve for cap.
    double lo = 2, hi = kMiB;
    for (int i = 0; i < 100; i++) {
        double mid = std::sqrt(lo * hi);
        ((mid - 1) / std::log(mid) < mean ? lo : hi) = mid;
    }
    std::uniform_real_distribution<double> logsize(0.0, std::log(lo));
    std::uniform_real_distribution<double> nearmax(0.75 * kMiB, kMiB);
    size_t total = 0, largest = 0;
    for (int i = 0; i < conns; i++)
        for (size_t k = 0; k < plan[i].size(); k++) {
            size_t sz = (size_t)std::exp(logsize(rng));
            plan[i][k] = std::max<size_t>(1, std::min<size_t>(sz, 1 << 20));
        }
    for (int j = 0; j < pinned; j++) {
        int i = (int)((uint64_t)j * 7919 % (uint64_t)conns);
        plan[i][0] = j == 0 ? (1u << 20) : (size_t)nearmax(rng);
    }
    for (auto &p : plan)
        for (size_t sz : p) {
            total += sz;
            largest = std::max(largest, sz);
        }
    *total_out = total;
    *largest_out = largest;
    return plan;
}

TEST_P(Echo, ThousandConnectionsRandomSizesEveryByteChecked)
{
    const int kConns = 1000;
    rp_listen_options lo;
    rp_listen_options_init(&lo);
    lo.backlog = 1024;
    uint16_t port;
    rp_socket ls = Listen(&port, "127.0.0.1", &lo);
    ASSERT_NE(ls, RP_SOCKET_INVALID);
    EchoServer *server = Make<EchoServer>();
    server->fx = this;
    server->Start(ls);

    size_t total = 0, largest = 0;
    auto plan = PlanSizes(kConns, 64e6 * Scale(), 20261122, &total, &largest);
    std::vector<EchoClient *> clients;
    for (int i = 0; i < kConns; i++) {
        EchoClient *c = Make<EchoClient>();
        c->fx = this;
        c->seed = (uint64_t)i + 1;
        c->sizes = plan[i];
        clients.push_back(c);
    }
    RecordProperty("bytes_each_way", std::to_string(total));
    RecordProperty("largest_message", std::to_string(largest));
    EXPECT_GE(largest, (size_t)1 << 20);
    rp_addr addr;
    rp_addr_parse(&addr, "127.0.0.1", port);
    for (EchoClient *c : clients)
        c->Start(addr);
    bool finished = WaitFor(
        [&] {
            for (EchoClient *c : clients)
                if (c->state.load() == 0)
                    return false;
            return true;
        },
        100000);
    int ok = 0, failed = 0, running = 0;
    for (EchoClient *c : clients) {
        int st = c->state.load();
        ok += st == 1;
        running += st == 0;
        if (st == -1 && failed++ < 5)
            ADD_FAILURE() << "client " << c->seed << ": " << c->failure;
    }
    ASSERT_TRUE(finished) << running << " clients still running, " << ok << " verified, " << failed << " failed";
    EXPECT_EQ(ok, kConns);
    // Clients close after their last message; the server sees each end and closes its side.
    ASSERT_TRUE(WaitFor([&] {
        for (EchoClient *c : clients)
            if (c->state.load() == 1 && !c->close->done())
                return false;
        return server->live.load() == 0;
    })) << server->live.load() << " server connections still open";
    EXPECT_EQ(server->accepted.load(), kConns);
    EXPECT_EQ(server->errors.load(), 0);
    ASSERT_EQ(Cancel(server->accept_op), 0);
    ASSERT_TRUE(WaitFor([&] { return server->accept_op->done(); }));
    EXPECT_EQ(server->accept_op->result(), RP_ECANCELED);
    CloseAndWait(ls);
}

RPT_INSTANTIATE(Echo);

} // namespace
