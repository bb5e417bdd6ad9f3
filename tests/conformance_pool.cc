// Buffer pools and pool receives (rp_bufpool_*, rp_recv_pool): data in library-owned buffers, every byte
// checked; multishot receives in stream order, one chunk at a time; exhaustion that waits and never loses
// data; releases from other threads; cancel and close; the pool's life cycle and its argument checks.
#include "harness.h"

#include <algorithm>
#include <cstring>
#include <deque>

using namespace rpt;

namespace {

class Pool : public LoopTest {
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
    // Sends n pattern bytes (seed) from s in one rp_send; returns its op.
    Op *SendPattern(rp_socket s, size_t n, uint64_t seed, uint64_t offset = 0)
    {
        unsigned char *data = NewBuf(n);
        FillPattern(data, n, seed, offset);
        Op *op = NewOp();
        EXPECT_EQ(Send(op, s, data, n), 0);
        return op;
    }
};

// What a multishot receive collected: every chunk appended in delivery order.
struct Collected {
    std::mutex mu;
    std::vector<unsigned char> data;
    std::atomic<int> inside{0}, overlaps{0}, chunks{0};
    std::atomic<uint64_t> bytes{0};
    void Add(const rp_op *o)
    {
        std::lock_guard<std::mutex> g(mu);
        const unsigned char *b = static_cast<const unsigned char *>(o->buf);
        data.insert(data.end(), b, b + o->result);
        bytes += (uint64_t)o->result;
        chunks++;
    }
    bool Matches(uint64_t seed, size_t n, uint64_t offset = 0)
    {
        std::lock_guard<std::mutex> g(mu);
        if (data.size() != n)
            return false;
        for (size_t i = 0; i < n; i++)
            if (data[i] != PatternByte(seed, offset + i))
                return false;
        return true;
    }
};

TEST_P(Pool, SingleShotReceiveDeliversDataInAPoolBufferThenTheEndOfTheStream)
{
    rp_socket c, s;
    ASSERT_NO_FATAL_FAILURE(Pair(&c, &s));
    rp_bufpool *pool = NewPool(4096, 8);
    ASSERT_NE(pool, nullptr);
    const size_t kBytes = 100000;
    Op *snd = SendPattern(c, kBytes, 7);
    Collected *got = Make<Collected>();
    Op *rcv = NewOp();
    rcv->fn = [this, rcv, got, pool, s](rp_op *o) {
        if (o->result <= 0)
            return;
        got->Add(o);
        EXPECT_EQ(rp_bufpool_release(pool, o->buf), 0);
        if (got->bytes.load() < kBytes) {
            EXPECT_EQ(RecvPool(rcv, s, pool), 0);
        }
    };
    ASSERT_EQ(RecvPool(rcv, s, pool), 0);
    ASSERT_TRUE(WaitFor([&] { return got->bytes.load() >= kBytes && rcv->done(); }));
    ASSERT_TRUE(WaitFor([&] { return snd->done(); }));
    EXPECT_TRUE(got->Matches(7, kBytes)) << "the stream arrived altered";
    // The end of the stream: result 0 and no buffer.
    ASSERT_EQ(Shutdown(NewOp(), c), 0);
    Op *eof = NewOp();
    ASSERT_EQ(RecvPool(eof, s, pool), 0);
    ASSERT_TRUE(WaitFor([&] { return eof->done(); }));
    EXPECT_EQ(eof->result(), 0);
    EXPECT_EQ(eof->get()->buf, nullptr);
    CloseAndWait(c);
    CloseAndWait(s);
    EXPECT_EQ(rp_bufpool_destroy(pool), 0);
}

TEST_P(Pool, MultishotReceiveDeliversTheWholeStreamInOrderOneChunkAtATime)
{
    rp_socket c, s;
    ASSERT_NO_FATAL_FAILURE(Pair(&c, &s));
    rp_bufpool *pool = NewPool(2048, 16);
    ASSERT_NE(pool, nullptr);
    const size_t kBytes = (size_t)(4e6 * std::min(1.0, Scale() * 2)) + 12345;
    Collected *got = Make<Collected>();
    Op *rcv = NewOp([got, pool](rp_op *o) {
        if (got->inside.fetch_add(1) != 0)
            got->overlaps++;
        if (o->flags & RP_OP_F_MORE) {
            got->Add(o);
            rp_bufpool_release(pool, o->buf);
        }
        got->inside--;
    });
    ASSERT_EQ(RecvPool(rcv, s, pool, RP_RECV_MULTISHOT), 0);
    Op *snd = SendPattern(c, kBytes, 11);
    ASSERT_TRUE(WaitFor([&] { return snd->done(); }));
    EXPECT_EQ(snd->result(), (int64_t)kBytes);
    CloseAndWait(c); // the end of the stream ends the receive with 0, after every chunk
    ASSERT_TRUE(WaitFor([&] { return rcv->done(); }));
    EXPECT_EQ(rcv->result(), 0);
    EXPECT_EQ(rcv->get()->buf, nullptr);
    EXPECT_EQ(got->overlaps.load(), 0) << "two chunks were delivered at once";
    EXPECT_EQ(rcv->mores.load(), got->chunks.load());
    EXPECT_TRUE(got->Matches(11, kBytes)) << got->bytes.load() << " of " << kBytes << " bytes, or altered";
    CloseAndWait(s);
    EXPECT_EQ(rp_bufpool_destroy(pool), 0);
}

// Four small buffers, a stream many times their size, and a consumer that keeps every buffer until a
// thread of its own gives it back: the receive waits when the pool is empty and goes on by itself.
TEST_P(Pool, ExhaustionWaitsForReleasesFromAnotherThreadAndLosesNothing)
{
    rp_socket c, s;
    ASSERT_NO_FATAL_FAILURE(Pair(&c, &s));
    rp_bufpool *pool = NewPool(256, 4);
    ASSERT_NE(pool, nullptr);
    const size_t kBytes = 300000;
    struct Held {
        std::mutex mu;
        std::deque<void *> bufs;
    };
    Held *held = Make<Held>();
    Collected *got = Make<Collected>();
    Op *rcv = NewOp([got, held](rp_op *o) {
        if (!(o->flags & RP_OP_F_MORE))
            return;
        got->Add(o);
        std::lock_guard<std::mutex> g(held->mu);
        held->bufs.push_back(o->buf);
    });
    ASSERT_EQ(RecvPool(rcv, s, pool, RP_RECV_MULTISHOT), 0);
    Op *snd = SendPattern(c, kBytes, 23);
    std::atomic<bool> stop{false};
    std::atomic<int> bad_release{0};
    std::thread releaser([&] {
        while (!stop.load()) {
            void *b = nullptr;
            {
                std::lock_guard<std::mutex> g(held->mu);
                if (!held->bufs.empty()) {
                    b = held->bufs.front();
                    held->bufs.pop_front();
                }
            }
            if (b) {
                if (rp_bufpool_release(pool, b) != 0)
                    bad_release++;
            } else {
                std::this_thread::sleep_for(std::chrono::microseconds(200));
            }
        }
    });
    bool all = WaitFor([&] { return got->bytes.load() >= kBytes; }, 60000);
    stop = true;
    releaser.join();
    ASSERT_TRUE(all) << got->bytes.load() << " of " << kBytes << " bytes";
    EXPECT_FALSE(rcv->done()) << "exhaustion ended the receive";
    EXPECT_EQ(bad_release.load(), 0);
    EXPECT_TRUE(got->Matches(23, kBytes));
    ASSERT_TRUE(WaitFor([&] { return snd->done(); }));
    ASSERT_EQ(Cancel(rcv), 0);
    ASSERT_TRUE(WaitFor([&] { return rcv->done(); }));
    EXPECT_EQ(rcv->result(), RP_ECANCELED);
    for (void *b : held->bufs)
        EXPECT_EQ(rp_bufpool_release(pool, b), 0);
    CloseAndWait(c);
    CloseAndWait(s);
    EXPECT_EQ(rp_bufpool_destroy(pool), 0);
}

// More connections than buffers: idle connections hold none, so each gets one when its data comes.
TEST_P(Pool, ManyIdleConnectionsShareAFewBuffers)
{
    uint16_t port;
    rp_socket ls = Listen(&port);
    ASSERT_NE(ls, RP_SOCKET_INVALID);
    rp_bufpool *pool = NewPool(512, 8);
    ASSERT_NE(pool, nullptr);
    const int kConns = 64;
    struct Conn {
        rp_socket c = RP_SOCKET_INVALID, s = RP_SOCKET_INVALID;
        Op *rcv = nullptr;
        Collected got;
    };
    std::vector<Conn *> conns;
    for (int i = 0; i < kConns; i++) {
        Conn *k = Make<Conn>();
        Op *acc = NewOp(), *con = NewOp();
        ASSERT_EQ(Accept(acc, ls), 0);
        rp_addr a;
        rp_addr_parse(&a, "127.0.0.1", port);
        ASSERT_EQ(Connect(con, a), 0);
        ASSERT_TRUE(WaitFor([&] { return acc->done() && con->done(); }));
        ASSERT_EQ(acc->result(), 0);
        k->c = con->socket();
        k->s = acc->socket();
        k->rcv = NewOp([k, pool](rp_op *o) {
            if (o->flags & RP_OP_F_MORE) {
                k->got.Add(o);
                rp_bufpool_release(pool, o->buf);
            }
        });
        ASSERT_EQ(RecvPool(k->rcv, k->s, pool, RP_RECV_MULTISHOT), 0);
        conns.push_back(k);
    }
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < kConns; i++)
            SendPattern(conns[i]->c, 1000, 100 + i, 1000 * round);
    ASSERT_TRUE(WaitFor([&] {
        for (Conn *k : conns)
            if (k->got.bytes.load() < 3000)
                return false;
        return true;
    }));
    for (int i = 0; i < kConns; i++)
        EXPECT_TRUE(conns[i]->got.Matches(100 + i, 3000)) << "connection " << i;
    for (Conn *k : conns) {
        CloseAndWait(k->c);
        ASSERT_TRUE(WaitFor([&] { return k->rcv->done(); }));
        EXPECT_EQ(k->rcv->result(), 0);
        CloseAndWait(k->s);
    }
    CloseAndWait(ls);
    EXPECT_EQ(rp_bufpool_destroy(pool), 0);
}

TEST_P(Pool, CancelEndsAMultishotReceiveAfterItsDataAndTheNextReceiveGetsTheRest)
{
    rp_socket c, s;
    ASSERT_NO_FATAL_FAILURE(Pair(&c, &s));
    rp_bufpool *pool = NewPool(1024, 8);
    ASSERT_NE(pool, nullptr);
    Collected *got = Make<Collected>();
    Op *rcv = NewOp([got, pool](rp_op *o) {
        if (o->flags & RP_OP_F_MORE) {
            got->Add(o);
            rp_bufpool_release(pool, o->buf);
        }
    });
    ASSERT_EQ(RecvPool(rcv, s, pool, RP_RECV_MULTISHOT), 0);
    // A plain receive queued behind the multishot one waits for its final delivery.
    unsigned char *rest = NewBuf(65536);
    Op *plain = NewOp();
    ASSERT_EQ(Recv(plain, s, rest, 65536), 0);
    SendPattern(c, 5000, 31);
    ASSERT_TRUE(WaitFor([&] { return got->bytes.load() >= 5000; }));
    ASSERT_EQ(Cancel(rcv), 0);
    ASSERT_TRUE(WaitFor([&] { return rcv->done(); }));
    EXPECT_EQ(rcv->result(), RP_ECANCELED);
    EXPECT_FALSE(plain->done());
    SendPattern(c, 3000, 31, 5000);
    ASSERT_TRUE(WaitFor([&] { return plain->done(); }));
    ASSERT_GT(plain->result(), 0);
    size_t n = (size_t)plain->result();
    for (size_t i = 0; i < n; i++)
        ASSERT_EQ(rest[i], PatternByte(31, 5000 + i)) << "byte " << i << " of the plain receive";
    EXPECT_TRUE(got->Matches(31, 5000));
    CloseAndWait(c);
    CloseAndWait(s);
    EXPECT_EQ(rp_bufpool_destroy(pool), 0);
}

TEST_P(Pool, CloseEndsPendingPoolReceivesAndTheirBuffersComeBack)
{
    rp_socket c, s;
    ASSERT_NO_FATAL_FAILURE(Pair(&c, &s));
    rp_bufpool *pool = NewPool(1024, 4);
    ASSERT_NE(pool, nullptr);
    Op *multi = NewOp([pool](rp_op *o) {
        if (o->buf)
            rp_bufpool_release(pool, o->buf);
    });
    Op *single = NewOp();
    ASSERT_EQ(RecvPool(multi, s, pool, RP_RECV_MULTISHOT), 0);
    ASSERT_EQ(RecvPool(single, s, pool), 0);
    Pump(20);
    EXPECT_EQ(rp_bufpool_destroy(pool), RP_EBUSY) << "destroyed while receives use it";
    CloseAndWait(s);
    ASSERT_TRUE(WaitFor([&] { return multi->done() && single->done(); }));
    EXPECT_EQ(multi->result(), RP_ECANCELED);
    EXPECT_EQ(single->result(), RP_ECANCELED);
    EXPECT_EQ(single->get()->buf, nullptr);
    CloseAndWait(c);
    EXPECT_EQ(rp_bufpool_destroy(pool), 0);
}

TEST_P(Pool, DestroyIsRefusedWhileABufferIsOutAndReleaseChecksItsBuffer)
{
    rp_socket c, s;
    ASSERT_NO_FATAL_FAILURE(Pair(&c, &s));
    rp_bufpool *pool = NewPool(128, 2);
    rp_bufpool *other = NewPool(128, 2);
    ASSERT_NE(pool, nullptr);
    ASSERT_NE(other, nullptr);
    EXPECT_EQ(rp_bufpool_buf_size(pool), 128u + RP_BUFPOOL_HEADROOM);
    Op *rcv = NewOp();
    ASSERT_EQ(RecvPool(rcv, s, pool), 0);
    SendPattern(c, 100, 5);
    ASSERT_TRUE(WaitFor([&] { return rcv->done(); }));
    ASSERT_EQ(rcv->result(), 100);
    void *b = rcv->get()->buf;
    ASSERT_NE(b, nullptr);
    for (int i = 0; i < 100; i++)
        ASSERT_EQ(static_cast<unsigned char *>(b)[i], PatternByte(5, (uint64_t)i));
    EXPECT_EQ(rp_bufpool_destroy(pool), RP_EBUSY) << "destroyed while a buffer is out";
    EXPECT_EQ(rp_bufpool_release(other, b), RP_EINVAL) << "released into the wrong pool";
    EXPECT_EQ(rp_bufpool_release(pool, nullptr), RP_EINVAL);
    EXPECT_EQ(rp_bufpool_release(nullptr, b), RP_EINVAL);
    int local = 0;
    EXPECT_EQ(rp_bufpool_release(pool, &local), RP_EINVAL);
    // Any address inside a handed-out buffer names it (a UDP pool receive's datagram starts after a header).
    EXPECT_EQ(rp_bufpool_release(pool, static_cast<char *>(b) + 99), 0) << "an address inside the buffer";
    EXPECT_EQ(rp_bufpool_release(pool, b), RP_EINVAL) << "released twice";
    EXPECT_EQ(rp_bufpool_release(pool, static_cast<char *>(b) + 1), RP_EINVAL) << "released twice, inside";
    Pump(5); // a release from outside the worker lands at its next iteration
    EXPECT_EQ(rp_bufpool_destroy(pool), 0);
    EXPECT_EQ(rp_bufpool_destroy(other), 0);
    CloseAndWait(c);
    CloseAndWait(s);
}

TEST_P(Pool, ArgumentsAreChecked)
{
    rp_socket c, s;
    ASSERT_NO_FATAL_FAILURE(Pair(&c, &s));
    rp_bufpool_options o;
    rp_bufpool_options_init(&o);
    EXPECT_EQ(o.buf_size, 16384u);
    EXPECT_EQ(o.count, 256u);
    rp_bufpool *pool = nullptr;
    EXPECT_EQ(rp_bufpool_create(nullptr, &pool, nullptr), RP_EINVAL);
    EXPECT_EQ(rp_bufpool_create(loop, nullptr, nullptr), RP_EINVAL);
    o.buf_size = 63;
    EXPECT_EQ(rp_bufpool_create(loop, &pool, &o), RP_EINVAL);
    o.buf_size = (16u << 20) + 1;
    EXPECT_EQ(rp_bufpool_create(loop, &pool, &o), RP_EINVAL);
    rp_bufpool_options_init(&o);
    o.count = 32769;
    EXPECT_EQ(rp_bufpool_create(loop, &pool, &o), RP_EINVAL);
    rp_bufpool_options_init(&o);
    o.reserved[3] = 1;
    EXPECT_EQ(rp_bufpool_create(loop, &pool, &o), RP_EINVAL);
    EXPECT_EQ(rp_bufpool_destroy(nullptr), RP_EINVAL);
    EXPECT_EQ(rp_bufpool_buf_size(nullptr), 0u);

    ASSERT_EQ(rp_bufpool_create(loop, &pool, nullptr), 0);
    Op *op = NewOp();
    EXPECT_EQ(RecvPool(op, s, nullptr), RP_EINVAL);
    EXPECT_EQ(RecvPool(op, s, pool, 0x80), RP_EINVAL);
    EXPECT_EQ(rp_recv_pool(nullptr, op->get(), s, pool, 0), RP_EINVAL);
    EXPECT_EQ(rp_recv_pool(loop, nullptr, s, pool, 0), RP_EINVAL);
    EXPECT_EQ(RecvPool(op, RP_SOCKET_INVALID, pool), RP_EBADF);
    uint16_t port;
    rp_socket ls = Listen(&port);
    EXPECT_EQ(RecvPool(op, ls, pool), RP_EINVAL) << "a listener";
    CloseAndWait(ls);
    // A pool of another loop.
    rp_loop *other = nullptr;
    rp_loop_options lo;
    rp_loop_options_init(&lo);
    lo.backend = backend();
    lo.workers = 0;
    ASSERT_EQ(rp_loop_create(&other, &lo), 0);
    rp_bufpool *foreign = nullptr;
    ASSERT_EQ(rp_bufpool_create(other, &foreign, nullptr), 0);
    EXPECT_EQ(RecvPool(op, s, foreign), RP_EINVAL);
    EXPECT_EQ(rp_loop_destroy(other), 0); // frees foreign too
    // Busy record, then a destroyed pool.
    ASSERT_EQ(RecvPool(op, s, pool), 0);
    EXPECT_EQ(RecvPool(op, s, pool), RP_EBUSY);
    CloseAndWait(s);
    ASSERT_TRUE(WaitFor([&] { return op->done(); }));
    EXPECT_EQ(rp_bufpool_destroy(pool), 0);
    CloseAndWait(c);
}

// Pools created, used and destroyed again and again: each worker's share is set up and let go of.
TEST_P(Pool, CreateUseDestroyRepeatedly)
{
    rp_socket c, s;
    ASSERT_NO_FATAL_FAILURE(Pair(&c, &s));
    const int kRounds = 40;
    uint64_t offset = 0;
    for (int i = 0; i < kRounds; i++) {
        rp_bufpool *keep = NewPool(256, 2); // stays alive across the next round: ids must not clash
        rp_bufpool *pool = NewPool(1024, 4);
        ASSERT_NE(pool, nullptr);
        Op *rcv = NewOp();
        ASSERT_EQ(RecvPool(rcv, s, pool), 0);
        SendPattern(c, 500, 77, offset);
        ASSERT_TRUE(WaitFor([&] { return rcv->done(); }));
        ASSERT_GT(rcv->result(), 0);
        const unsigned char *b = static_cast<const unsigned char *>(rcv->get()->buf);
        size_t n = (size_t)rcv->result();
        for (size_t k = 0; k < n; k++)
            ASSERT_EQ(b[k], PatternByte(77, offset + k));
        offset += n;
        ASSERT_EQ(rp_bufpool_release(pool, rcv->get()->buf), 0);
        ASSERT_TRUE(WaitFor([&] { return rp_bufpool_destroy(pool) == 0; }));
        // Whatever is still unread goes to the next round's receive.
        if (n < 500) {
            unsigned char *tail = NewBuf(500);
            size_t want = 500 - n;
            while (want) {
                Op *r = NewOp();
                ASSERT_EQ(Recv(r, s, tail, want), 0);
                ASSERT_TRUE(WaitFor([&] { return r->done(); }));
                ASSERT_GT(r->result(), 0);
                for (int64_t k = 0; k < r->result(); k++)
                    ASSERT_EQ(tail[k], PatternByte(77, offset + (uint64_t)k));
                offset += (uint64_t)r->result();
                want -= (size_t)r->result();
            }
        }
        EXPECT_EQ(rp_bufpool_destroy(keep), 0);
    }
    CloseAndWait(c);
    CloseAndWait(s);
}

RPT_INSTANTIATE(Pool);

} // namespace
