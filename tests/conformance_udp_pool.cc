// UDP pool receives (rp_udp_recv_pool): datagrams in library-owned buffers, one buffer each, released
// with rp_bufpool_release(pool, base) from the callback or another thread; multishot receives delivering
// 1 .. count datagrams per completion, one completion at a time, in order; exhaustion that waits and
// loses nothing; single-shot receives; truncation to the pool's buffer size; cancel and close; and many
// senders to one socket, each datagram received exactly once. Every byte is checked.
#include "udp_util.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

using namespace rpt;

namespace {

class UdpPool : public UdpTest {
protected:
    rp_bufpool *NewPool(uint32_t buf_size, uint32_t count)
    {
        rp_bufpool_options o;
        rp_bufpool_options_init(&o);
        o.buf_size = buf_size;
        o.count = count;
        rp_bufpool *p = nullptr;
        EXPECT_EQ(rp_bufpool_create(loop, &p, &o), 0);
        return p;
    }
};

// What pool receives delivered: datagrams copied out in delivery order, with checks made in the
// callback (one callback at a time, never overlapping).
struct PoolLog {
    std::mutex mu;
    std::vector<GotDgram> got;
    std::atomic<int> inside{0}, overlaps{0}, completions{0}, bad_release{0}, dup_base{0};
    std::atomic<size_t> count{0};
    // Copies dgrams[0 .. n) out; checks that no two share a buffer.
    void Add(const rp_dgram *d, int64_t n)
    {
        std::lock_guard<std::mutex> g(mu);
        std::set<const void *> bases;
        for (int64_t i = 0; i < n; i++) {
            got.push_back(CopyDgram(d[i]));
            if (!bases.insert(d[i].base).second)
                dup_base++;
        }
        count += (size_t)n;
        completions++;
    }
    size_t size() const { return count.load(); }
    std::vector<GotDgram> Take()
    {
        std::lock_guard<std::mutex> g(mu);
        return got;
    }
};

// Checks got against sizes[i] bytes of pattern seed0 + i, from src.
void ExpectDatagrams(const std::vector<GotDgram> &got, const std::vector<uint32_t> &sizes, uint64_t seed0,
                     const rp_addr &src)
{
    ASSERT_EQ(got.size(), sizes.size());
    for (size_t i = 0; i < sizes.size(); i++) {
        SCOPED_TRACE("datagram " + std::to_string(i));
        EXPECT_EQ(got[i].len, sizes[i]);
        EXPECT_EQ(got[i].flags, 0u);
        EXPECT_TRUE(PatternIs(got[i].data.data(), got[i].data.size(), seed0 + i));
        EXPECT_TRUE(SameEndpoint(got[i].peer, src)) << AddrText(got[i].peer);
    }
}

// A multishot pool receive: every completion flagged RP_OP_F_MORE with 1 .. 8 datagrams, each in its own
// pool buffer (rp_bufpool_release accepts its base), delivered one completion at a time, in order.
// The sender sends a batch only once the previous one has arrived, so no receive buffer overflows.
TEST_P(UdpPool, MultishotReceiveDeliversBatchesInPoolBuffersOneCompletionAtATime)
{
    rp_socket rx = UdpBind("127.0.0.1"), tx = UdpBind("127.0.0.1");
    ASSERT_NE(rx, RP_SOCKET_INVALID);
    ASSERT_NE(tx, RP_SOCKET_INVALID);
    rp_bufpool *pool = NewPool(2048, 64);
    ASSERT_NE(pool, nullptr);
    rp_dgram *d = NewDgrams(8);
    PoolLog *log = Make<PoolLog>();
    Op *rcv = NewOp([log, pool, d](rp_op *o) {
        if (log->inside.fetch_add(1) != 0)
            log->overlaps++;
        if (o->flags & RP_OP_F_MORE) {
            log->Add(d, o->result);
            for (int64_t i = 0; i < o->result; i++)
                if (rp_bufpool_release(pool, d[i].base) != 0)
                    log->bad_release++;
        }
        log->inside--;
    });
    ASSERT_EQ(UdpRecvPool(rcv, rx, pool, d, 8, RP_RECV_MULTISHOT), 0);
    const rp_addr to = LocalAddr(rx);
    std::vector<uint32_t> sizes;
    const int kBatches = 10, kPer = 12;
    for (int b = 0; b < kBatches; b++) {
        std::vector<uint32_t> bs;
        for (int i = 0; i < kPer; i++)
            bs.push_back((uint32_t)((b * kPer + i) * 131 % 2048)); // 0 .. 2047 bytes
        ASSERT_EQ(SendWait(tx, PatternDgrams(to, bs, 1000 + sizes.size()), kPer), kPer);
        sizes.insert(sizes.end(), bs.begin(), bs.end());
        ASSERT_TRUE(WaitFor([&] { return log->size() >= sizes.size(); }))
            << log->size() << " of " << sizes.size() << " datagrams";
    }
    Pump(20);
    EXPECT_FALSE(rcv->done()) << "the multishot receive ended by itself: " << rcv->result();
    ASSERT_EQ(Cancel(rcv), 0);
    ASSERT_TRUE(WaitFor([&] { return rcv->done(); }));
    EXPECT_EQ(rcv->result(), RP_ECANCELED);
    EXPECT_EQ(rcv->completions.load(), rcv->mores.load() + 1) << "one final completion after the datagrams";
    EXPECT_EQ(rcv->mores.load(), log->completions.load());
    EXPECT_EQ(log->overlaps.load(), 0) << "two completions were delivered at once";
    EXPECT_EQ(log->bad_release.load(), 0) << "a base was not accepted back by rp_bufpool_release";
    EXPECT_EQ(log->dup_base.load(), 0) << "two datagrams of one completion shared a buffer";
    ExpectDatagrams(log->Take(), sizes, 1000, LocalAddr(tx));
    CloseAndWait(rx);
    CloseAndWait(tx);
    EXPECT_EQ(rp_bufpool_destroy(pool), 0);
}

// Four buffers, 64 datagrams queued in the kernel (a big receive buffer keeps them), a consumer that
// holds every buffer: the receive stops at four, waits, and goes on by itself as another thread gives
// the buffers back; all 64 arrive in order and the receive never ends.
TEST_P(UdpPool, ExhaustionWaitsForReleasesFromAnotherThreadAndLosesNothing)
{
    rp_udp_options big = Opts(0, 1 << 20, 1 << 20);
    rp_socket rx = UdpBind("127.0.0.1", 0, &big), tx = UdpBind("127.0.0.1");
    ASSERT_NE(rx, RP_SOCKET_INVALID);
    ASSERT_NE(tx, RP_SOCKET_INVALID);
    rp_bufpool *pool = NewPool(1024, 4);
    ASSERT_NE(pool, nullptr);
    // A held buffer: its base, and which datagram (index, length) it holds, checked again at release:
    // the buffer is the caller's until then, nothing may overwrite it.
    struct HeldBuf {
        void *base;
        size_t index;
        uint32_t len;
    };
    struct Held {
        std::mutex mu;
        std::deque<HeldBuf> bufs;
        std::atomic<size_t> out{0}, max_out{0};
    };
    Held *held = Make<Held>();
    PoolLog *log = Make<PoolLog>();
    rp_dgram *d = NewDgrams(16);
    Op *rcv = NewOp([log, held, d](rp_op *o) {
        if (!(o->flags & RP_OP_F_MORE))
            return;
        const size_t first = log->size();
        log->Add(d, o->result);
        std::lock_guard<std::mutex> g(held->mu);
        for (int64_t i = 0; i < o->result; i++)
            held->bufs.push_back(HeldBuf{d[i].base, first + (size_t)i, d[i].len});
        size_t n = held->out += (size_t)o->result;
        if (n > held->max_out)
            held->max_out = n;
    });
    ASSERT_EQ(UdpRecvPool(rcv, rx, pool, d, 16, RP_RECV_MULTISHOT), 0);
    const rp_addr to = LocalAddr(rx);
    std::vector<uint32_t> sizes;
    for (int i = 0; i < 64; i++)
        sizes.push_back((uint32_t)(100 + (i * 37) % 900));
    for (int k = 0; k < 4; k++) {
        std::vector<uint32_t> part(sizes.begin() + 16 * k, sizes.begin() + 16 * (k + 1));
        ASSERT_EQ(SendWait(tx, PatternDgrams(to, part, 2000 + 16 * k), 16), 16);
    }
    ASSERT_TRUE(WaitFor([&] { return log->size() >= 4; })) << log->size() << " datagrams";
    Pump(100);
    EXPECT_EQ(log->size(), 4u) << "more datagrams delivered than the pool has buffers";
    EXPECT_FALSE(rcv->done()) << "exhaustion ended the receive";

    std::atomic<bool> stop{false};
    std::atomic<int> bad_release{0}, overwritten{0};
    std::thread releaser([&] {
        while (!stop.load()) {
            HeldBuf b{nullptr, 0, 0};
            {
                std::lock_guard<std::mutex> g(held->mu);
                if (!held->bufs.empty()) {
                    b = held->bufs.front();
                    held->bufs.pop_front();
                    held->out--;
                }
            }
            if (b.base) {
                if (!PatternIs(b.base, b.len, 2000 + b.index))
                    overwritten++;
                if (rp_bufpool_release(pool, b.base) != 0)
                    bad_release++;
                std::this_thread::sleep_for(std::chrono::microseconds(500)); // the consumer is slow
            } else {
                std::this_thread::sleep_for(std::chrono::microseconds(200));
            }
        }
    });
    bool all = WaitFor([&] { return log->size() >= 64; }, 30000);
    stop = true;
    releaser.join();
    uint64_t drops = 0;
    rp_udp_drops(loop, rx, &drops);
    ASSERT_TRUE(all) << log->size() << " of 64 datagrams (kernel drops: " << drops << ")";
    EXPECT_LE(held->max_out.load(), 4u);
    EXPECT_FALSE(rcv->done()) << "exhaustion ended the receive";
    EXPECT_EQ(bad_release.load(), 0);
    EXPECT_EQ(overwritten.load(), 0) << "a held buffer changed before it was released";
    ExpectDatagrams(log->Take(), sizes, 2000, LocalAddr(tx));
    ASSERT_EQ(Cancel(rcv), 0);
    ASSERT_TRUE(WaitFor([&] { return rcv->done(); }));
    EXPECT_EQ(rcv->result(), RP_ECANCELED);
    for (const HeldBuf &b : held->bufs) {
        EXPECT_TRUE(PatternIs(b.base, b.len, 2000 + b.index));
        EXPECT_EQ(rp_bufpool_release(pool, b.base), 0);
    }
    CloseAndWait(rx);
    CloseAndWait(tx);
    Pump(5); // releases from another thread land at the worker's next iteration
    EXPECT_TRUE(WaitFor([&] { return rp_bufpool_destroy(pool) == 0; }, 5000));
}

// Without RP_RECV_MULTISHOT: one final completion with 1 .. count datagrams (whatever is there), and
// later receives get the rest.
TEST_P(UdpPool, SingleShotReceiveCompletesOnceWithTheDatagramsThere)
{
    rp_socket rx = UdpBind("127.0.0.1"), tx = UdpBind("127.0.0.1");
    ASSERT_NE(rx, RP_SOCKET_INVALID);
    ASSERT_NE(tx, RP_SOCKET_INVALID);
    rp_bufpool *pool = NewPool(512, 8);
    ASSERT_NE(pool, nullptr);
    const std::vector<uint32_t> sizes = {30, 300, 3};
    ASSERT_EQ(SendWait(tx, PatternDgrams(LocalAddr(rx), sizes, 3000), 3), 3);
    Pump(20);
    rp_dgram *d = NewDgrams(8);
    std::vector<GotDgram> got;
    Op *r = NewOp();
    for (int round = 0; round < 3 && got.size() < 3; round++) {
        ASSERT_EQ(UdpRecvPool(r, rx, pool, d, 8), 0);
        ASSERT_TRUE(WaitFor([&] { return r->done(); }));
        ASSERT_GE(r->result(), 1);
        ASSERT_LE(r->result(), (int64_t)(3 - got.size())) << "more datagrams than were sent";
        EXPECT_EQ(r->completions.load(), round + 1) << "a single-shot receive completed more than once";
        for (int64_t i = 0; i < r->result(); i++) {
            got.push_back(CopyDgram(d[i]));
            EXPECT_EQ(rp_bufpool_release(pool, d[i].base), 0);
        }
    }
    ExpectDatagrams(got, sizes, 3000, LocalAddr(tx));
    // The next one waits.
    ASSERT_EQ(UdpRecvPool(r, rx, pool, d, 8), 0);
    Pump(50);
    EXPECT_FALSE(r->done());
    ASSERT_EQ(Cancel(r), 0);
    ASSERT_TRUE(WaitFor([&] { return r->done(); }));
    EXPECT_EQ(r->result(), RP_ECANCELED);
    CloseAndWait(rx);
    CloseAndWait(tx);
    EXPECT_TRUE(WaitFor([&] { return rp_bufpool_destroy(pool) == 0; }, 5000));
}

// A datagram of up to the buf_size asked for always fits whole and unflagged; one longer than the whole
// buffer (rp_bufpool_buf_size: buf_size plus the library's headroom) is truncated and flagged
// RP_DGRAM_TRUNC, keeping at least buf_size and at most the whole buffer's bytes, intact. Single-shot
// receives, then a multishot one.
static void ExpectTruncated(const GotDgram &g, uint32_t asked, size_t whole, uint64_t seed, const char *what)
{
    SCOPED_TRACE(what);
    EXPECT_EQ(g.flags, RP_DGRAM_TRUNC) << "a datagram longer than the pool's buffers was not flagged";
    EXPECT_GE(g.len, asked);
    EXPECT_LE(g.len, whole);
    EXPECT_TRUE(PatternIs(g.data.data(), g.data.size(), seed));
}

static void ExpectWhole(const GotDgram &g, uint32_t len, uint64_t seed, const char *what)
{
    SCOPED_TRACE(what);
    EXPECT_EQ(g.len, len);
    EXPECT_EQ(g.flags, 0u);
    EXPECT_TRUE(PatternIs(g.data.data(), g.data.size(), seed));
}

TEST_P(UdpPool, DatagramLongerThanThePoolBufferIsTruncatedAndFlagged)
{
    rp_udp_options big = Opts(0, 1 << 20, 1 << 20);
    rp_socket rx = UdpBind("127.0.0.1", 0, &big), tx = UdpBind("127.0.0.1", 0, &big);
    ASSERT_NE(rx, RP_SOCKET_INVALID);
    ASSERT_NE(tx, RP_SOCKET_INVALID);
    rp_bufpool *pool = NewPool(256, 8);
    ASSERT_NE(pool, nullptr);
    const size_t whole = rp_bufpool_buf_size(pool);
    ASSERT_GE(whole, 256u);
    ASSERT_EQ(SendWait(tx, PatternDgrams(LocalAddr(rx), {uint32_t(whole + 700), 100, 256, uint32_t(whole + 1)}, 4000), 4), 4);
    Pump(20);
    rp_dgram *d = NewDgrams(4);
    std::vector<GotDgram> got;
    Op *r = NewOp();
    while (got.size() < 4) {
        ASSERT_EQ(UdpRecvPool(r, rx, pool, d, 4), 0);
        ASSERT_TRUE(WaitFor([&] { return r->done(); }));
        ASSERT_GE(r->result(), 1);
        for (int64_t i = 0; i < r->result(); i++) {
            got.push_back(CopyDgram(d[i]));
            EXPECT_EQ(rp_bufpool_release(pool, d[i].base), 0);
        }
    }
    ASSERT_EQ(got.size(), 4u);
    ExpectTruncated(got[0], 256, whole, 4000, "whole + 700 bytes, single-shot");
    ExpectWhole(got[1], 100, 4001, "100 bytes, single-shot");
    ExpectWhole(got[2], 256, 4002, "buf_size bytes, single-shot");
    ExpectTruncated(got[3], 256, whole, 4003, "whole + 1 bytes, single-shot");

    // The same through a multishot receive, with buffers of 2048 bytes.
    rp_bufpool *bigpool = NewPool(2048, 8);
    ASSERT_NE(bigpool, nullptr);
    const size_t bwhole = rp_bufpool_buf_size(bigpool);
    ASSERT_GE(bwhole, 2048u);
    PoolLog *log = Make<PoolLog>();
    rp_dgram *md = NewDgrams(4);
    Op *multi = NewOp([log, bigpool, md](rp_op *o) {
        if (!(o->flags & RP_OP_F_MORE))
            return;
        log->Add(md, o->result);
        for (int64_t i = 0; i < o->result; i++)
            rp_bufpool_release(bigpool, md[i].base);
    });
    ASSERT_EQ(UdpRecvPool(multi, rx, bigpool, md, 4, RP_RECV_MULTISHOT), 0);
    ASSERT_EQ(SendWait(tx, PatternDgrams(LocalAddr(rx), {uint32_t(bwhole + 700), 2048, uint32_t(bwhole + 1), 2047}, 4100), 4),
              4);
    ASSERT_TRUE(WaitFor([&] { return log->size() >= 4; }));
    ASSERT_EQ(Cancel(multi), 0);
    ASSERT_TRUE(WaitFor([&] { return multi->done(); }));
    got = log->Take();
    ASSERT_EQ(got.size(), 4u);
    ExpectTruncated(got[0], 2048, bwhole, 4100, "whole + 700 bytes, multishot");
    ExpectWhole(got[1], 2048, 4101, "buf_size bytes, multishot");
    ExpectTruncated(got[2], 2048, bwhole, 4102, "whole + 1 bytes, multishot");
    ExpectWhole(got[3], 2047, 4103, "buf_size - 1 bytes, multishot");
    CloseAndWait(rx);
    CloseAndWait(tx);
    EXPECT_TRUE(WaitFor([&] { return rp_bufpool_destroy(pool) == 0; }, 5000));
    EXPECT_TRUE(WaitFor([&] { return rp_bufpool_destroy(bigpool) == 0; }, 5000));
}

// rp_cancel ends a multishot pool receive with one final RP_ECANCELED after the datagrams it delivered;
// a receive after it gets the next datagram: none is lost.
TEST_P(UdpPool, CancelEndsAMultishotReceiveOnceAfterItsDatagrams)
{
    rp_socket rx = UdpBind("127.0.0.1"), tx = UdpBind("127.0.0.1");
    ASSERT_NE(rx, RP_SOCKET_INVALID);
    ASSERT_NE(tx, RP_SOCKET_INVALID);
    rp_bufpool *pool = NewPool(512, 16);
    ASSERT_NE(pool, nullptr);
    const rp_addr to = LocalAddr(rx);
    // Cancelled at once.
    rp_dgram *d = NewDgrams(4);
    Op *r0 = NewOp();
    ASSERT_EQ(UdpRecvPool(r0, rx, pool, d, 4, RP_RECV_MULTISHOT), 0);
    ASSERT_EQ(Cancel(r0), 0);
    ASSERT_TRUE(WaitFor([&] { return r0->done(); }));
    EXPECT_EQ(r0->result(), RP_ECANCELED);
    EXPECT_EQ(r0->completions.load(), 1);
    // Cancelled after five datagrams.
    PoolLog *log = Make<PoolLog>();
    Op *r = NewOp([log, pool, d](rp_op *o) {
        if (o->flags & RP_OP_F_MORE) {
            log->Add(d, o->result);
            for (int64_t i = 0; i < o->result; i++)
                rp_bufpool_release(pool, d[i].base);
        }
    });
    ASSERT_EQ(UdpRecvPool(r, rx, pool, d, 4, RP_RECV_MULTISHOT), 0);
    const std::vector<uint32_t> sizes = {50, 51, 52, 53, 54};
    ASSERT_EQ(SendWait(tx, PatternDgrams(to, sizes, 5000), 5), 5);
    ASSERT_TRUE(WaitFor([&] { return log->size() >= 5; }));
    ASSERT_EQ(Cancel(r), 0);
    ASSERT_TRUE(WaitFor([&] { return r->done(); }));
    EXPECT_EQ(r->result(), RP_ECANCELED);
    Pump(20);
    EXPECT_EQ(r->completions.load(), r->mores.load() + 1);
    EXPECT_EQ(Cancel(r), RP_ENOENT);
    ExpectDatagrams(log->Take(), sizes, 5000, LocalAddr(tx));
    // The next datagram goes to the next receive.
    ASSERT_EQ(SendOne(tx, to, 60, 5005), 1);
    std::vector<GotDgram> got;
    std::string why;
    ASSERT_TRUE(RecvN(rx, 1, &got, 256, 4, 10000, &why)) << why;
    ExpectDatagrams(got, {60}, 5005, LocalAddr(tx));
    CloseAndWait(rx);
    CloseAndWait(tx);
    EXPECT_TRUE(WaitFor([&] { return rp_bufpool_destroy(pool) == 0; }, 5000));
}

// rp_close ends pending pool receives (multishot and single-shot) with RP_ECANCELED; the pool can be
// destroyed afterwards, not before.
TEST_P(UdpPool, CloseEndsPendingPoolReceivesAndThePoolCanGoAfterwards)
{
    rp_socket s = UdpBind("127.0.0.1");
    ASSERT_NE(s, RP_SOCKET_INVALID);
    rp_bufpool *pool = NewPool(512, 4);
    ASSERT_NE(pool, nullptr);
    rp_dgram *d1 = NewDgrams(4), *d2 = NewDgrams(4);
    Op *multi = NewOp(), *single = NewOp();
    ASSERT_EQ(UdpRecvPool(multi, s, pool, d1, 4, RP_RECV_MULTISHOT), 0);
    ASSERT_EQ(UdpRecvPool(single, s, pool, d2, 4), 0);
    Pump(20);
    EXPECT_EQ(rp_bufpool_destroy(pool), RP_EBUSY);
    CloseAndWait(s);
    ASSERT_TRUE(WaitFor([&] { return multi->done() && single->done(); }));
    EXPECT_EQ(multi->result(), RP_ECANCELED);
    EXPECT_EQ(single->result(), RP_ECANCELED);
    EXPECT_EQ(multi->completions.load(), 1);
    EXPECT_EQ(single->completions.load(), 1);
    EXPECT_TRUE(WaitFor([&] { return rp_bufpool_destroy(pool) == 0; }, 5000));
}

// Eight senders, 200 datagrams each (scaled), to one socket with a multishot pool receive: every datagram
// arrives exactly once, each sender's in the order sent, every byte intact. A sender sends its next batch
// once its previous batch has arrived (the receiver's callback starts it), so the receive buffer never
// overflows on loopback.
TEST_P(UdpPool, ManySendersToOneSocketEachDatagramArrivesExactlyOnce)
{
    const int kSenders = 8, kBatch = 10;
    const int kPer = std::max(kBatch, (int)(200 * Scale()) / kBatch * kBatch);
    const int kBatches = kPer / kBatch;
    rp_udp_options big = Opts(0, 4 << 20, 0);
    rp_socket rx = UdpBind("127.0.0.1", 0, &big);
    ASSERT_NE(rx, RP_SOCKET_INVALID);
    const rp_addr to = LocalAddr(rx);
    rp_bufpool *pool = NewPool(512, 64);
    ASSERT_NE(pool, nullptr);

    // Payload: sender (4 bytes), sequence (4 bytes), then pattern bytes of seed sender * 1e6 + seq.
    auto size_of = [](int seq) { return (uint32_t)(8 + (seq * 37) % 400); };
    struct Sender {
        rp_socket s = RP_SOCKET_INVALID;
        rp_addr addr{};
        std::vector<rp_dgram *> batches;
        std::vector<Op *> ops;
        int next = 0; // receiver side: the next sequence expected (callbacks of rx only)
    };
    struct State {
        std::vector<Sender> senders;
        std::vector<std::vector<unsigned char>> seen;
        std::atomic<int> total{0}, dups{0}, out_of_order{0}, corrupt{0}, send_failed{0}, bad_release{0};
        std::mutex mu;
        std::string first_problem;
        void Problem(const std::string &p)
        {
            std::lock_guard<std::mutex> g(mu);
            if (first_problem.empty())
                first_problem = p;
        }
    };
    State *st = Make<State>();
    st->senders.resize(kSenders);
    st->seen.assign(kSenders, std::vector<unsigned char>(kPer, 0));
    for (int k = 0; k < kSenders; k++) {
        Sender &sd = st->senders[k];
        sd.s = UdpBind("127.0.0.1");
        ASSERT_NE(sd.s, RP_SOCKET_INVALID);
        sd.addr = LocalAddr(sd.s);
        for (int b = 0; b < kBatches; b++) {
            rp_dgram *d = NewDgrams(kBatch);
            for (int i = 0; i < kBatch; i++) {
                const int seq = b * kBatch + i;
                const uint32_t n = size_of(seq);
                unsigned char *p = NewBuf(n);
                const uint32_t hdr[2] = {(uint32_t)k, (uint32_t)seq};
                memcpy(p, hdr, 8);
                FillPattern(p + 8, n - 8, (uint64_t)k * 1000000 + (uint64_t)seq);
                d[i].base = p;
                d[i].len = n;
                d[i].peer = to;
            }
            sd.batches.push_back(d);
            Op *op = NewOp([st](rp_op *o) {
                if (o->result != kBatch) {
                    st->send_failed++;
                    st->Problem("a send completed with " + std::to_string(o->result));
                }
            });
            sd.ops.push_back(op);
        }
    }
    rp_dgram *d = NewDgrams(32);
    Op *rcv = NewOp([this, st, d, pool, kPer, kBatches, size_of](rp_op *o) {
        if (!(o->flags & RP_OP_F_MORE))
            return;
        for (int64_t i = 0; i < o->result; i++) {
            const rp_dgram &g = d[i];
            uint32_t hdr[2] = {~0u, ~0u};
            if (g.len >= 8)
                memcpy(hdr, g.base, 8);
            const int k = (int)hdr[0], seq = (int)hdr[1];
            if (g.len < 8 || k < 0 || k >= kSenders || seq < 0 || seq >= kPer || g.len != size_of(seq) ||
                !PatternIs(static_cast<const unsigned char *>(g.base) + 8, g.len - 8, (uint64_t)k * 1000000 + (uint64_t)seq)) {
                st->corrupt++;
                st->Problem("a datagram of " + std::to_string(g.len) + " bytes is not one that was sent");
            } else {
                Sender &sd = st->senders[k];
                if (!SameEndpoint(g.peer, sd.addr))
                    st->Problem("sender " + std::to_string(k) + "'s datagram came from " + AddrText(g.peer));
                if (st->seen[k][seq]++) {
                    st->dups++;
                    st->Problem("sender " + std::to_string(k) + " datagram " + std::to_string(seq) + " twice");
                } else {
                    st->total++;
                }
                if (seq != sd.next) {
                    st->out_of_order++;
                    st->Problem("sender " + std::to_string(k) + ": datagram " + std::to_string(seq) + " when " +
                                std::to_string(sd.next) + " was next");
                }
                sd.next = seq + 1;
                // The sender's batch has all arrived: its next one goes.
                if ((seq + 1) % kBatch == 0 && (seq + 1) / kBatch < kBatches) {
                    const int b = (seq + 1) / kBatch;
                    if (UdpSend(sd.ops[b], sd.s, sd.batches[b], kBatch) != 0) {
                        st->send_failed++;
                        st->Problem("send submission of batch " + std::to_string(b));
                    }
                }
            }
            if (rp_bufpool_release(pool, g.base) != 0)
                st->bad_release++;
        }
    });
    ASSERT_EQ(UdpRecvPool(rcv, rx, pool, d, 32, RP_RECV_MULTISHOT), 0);
    for (int k = 0; k < kSenders; k++)
        ASSERT_EQ(UdpSend(st->senders[k].ops[0], st->senders[k].s, st->senders[k].batches[0], kBatch), 0);
    const int want = kSenders * kPer;
    bool all = WaitFor([&] { return st->total.load() >= want || st->send_failed.load() > 0; }, 60000);
    Pump(50); // duplicates, if any, would come now
    uint64_t drops = 0;
    rp_udp_drops(loop, rx, &drops);
    EXPECT_TRUE(all && st->total.load() == want)
        << st->total.load() << " of " << want << " datagrams (kernel drops: " << drops << ")";
    EXPECT_EQ(st->dups.load(), 0);
    EXPECT_EQ(st->corrupt.load(), 0);
    EXPECT_EQ(st->out_of_order.load(), 0);
    EXPECT_EQ(st->send_failed.load(), 0);
    EXPECT_EQ(st->bad_release.load(), 0);
    {
        std::lock_guard<std::mutex> g(st->mu);
        EXPECT_TRUE(st->first_problem.empty()) << st->first_problem;
    }
    ASSERT_EQ(Cancel(rcv), 0);
    ASSERT_TRUE(WaitFor([&] { return rcv->done(); }));
    EXPECT_EQ(rcv->result(), RP_ECANCELED);
    for (Sender &sd : st->senders) {
        for (Op *op : sd.ops) {
            if (op->submits.load() > 0) {
                EXPECT_TRUE(WaitFor([&] { return op->done(); }));
            }
        }
        CloseAndWait(sd.s);
    }
    CloseAndWait(rx);
    EXPECT_TRUE(WaitFor([&] { return rp_bufpool_destroy(pool) == 0; }, 5000));
}

RPT_INSTANTIATE(UdpPool);

} // namespace
