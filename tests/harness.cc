#include "harness.h"

#include <cstdlib>
#include <cstring>
#include <sstream>

#if !defined(_WIN32)
#include <sys/resource.h>
#endif

#include "rawsock.h"

namespace rpt {

thread_local int g_submit_depth = 0;

namespace {

// The suite holds a few thousand descriptors at once: raise the soft limit to the hard limit at start.
struct RaiseFdLimit {
    RaiseFdLimit()
    {
#if !defined(_WIN32) // Windows has no per-process socket limit to raise
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
            return;
        // macOS reports an infinite hard limit but refuses it: step down to what it accepts.
        const rlim_t wanted[] = {rl.rlim_max, 1048576, 65536, 20000, 10240, 4096};
        for (rlim_t w : wanted) {
            if (w <= rl.rlim_cur || w > rl.rlim_max)
                continue;
            struct rlimit next = rl;
            next.rlim_cur = w;
            if (setrlimit(RLIMIT_NOFILE, &next) == 0)
                return;
        }
#endif
    }
} raise_fd_limit;

const char *KindName(int kind)
{
    switch (kind) {
    case RP_OP_ACCEPT: return "accept";
    case RP_OP_CONNECT: return "connect";
    case RP_OP_RECV: return "recv";
    case RP_OP_SEND: return "send";
    case RP_OP_SHUTDOWN: return "shutdown";
    case RP_OP_CLOSE: return "close";
    case RP_OP_TIMEOUT: return "timeout";
    case RP_OP_POST: return "post";
    case RP_OP_RECV_POOL: return "pool recv";
    case RP_OP_UDP_SEND: return "udp send";
    case RP_OP_UDP_RECV: return "udp recv";
    case RP_OP_UDP_RECV_POOL: return "udp pool recv";
    case RP_OP_SEND_SOCKET: return "send socket";
    case RP_OP_RECV_SOCKET: return "recv socket";
    case RP_OP_MOVE: return "move";
    case RP_OP_RESOLVE: return "resolve";
    case RP_OP_SENDFILE: return "sendfile";
    default: return "none";
    }
}

// The most negative RP_E* code.
constexpr int LowestErrorCode()
{
    int lowest = 0;
#define RPT_LOWEST_(name, value, message) lowest = (value) < lowest ? (value) : lowest;
    RP_ERRNO_MAP(RPT_LOWEST_)
#undef RPT_LOWEST_
    return lowest;
}

bool IsErrorCode(int64_t r)
{
    return r < 0 && r >= LowestErrorCode() && strcmp(rp_strerror((int)r), "unknown error") != 0;
}

bool IsAddrFamily(uint16_t f)
{
    return f == RP_AF_INET || f == RP_AF_INET6;
}

// The datagrams a UDP receive completed with (dgrams[0 .. r-1]): plausible lengths, flags and sources.
// cap_of(i) is datagram i's capacity, or -1 when unknown; a truncated datagram keeps at least kept_min
// bytes (its capacity, or for pool receives the buf_size asked for) and at most its capacity.
template <class Cap>
void CheckReceivedDgrams(LoopTest *fx, const std::string &tag, const rp_dgram *d, int64_t r, Cap &&cap_of,
                         int64_t kept_min = -1)
{
    for (int64_t i = 0; i < r; i++) {
        const rp_dgram &g = d[i];
        const std::string at = tag + "datagram " + std::to_string(i) + ": ";
        const int64_t cap = cap_of((size_t)i);
        const int64_t kept = kept_min >= 0 ? kept_min : cap;
        if (g.flags & ~(RP_DGRAM_TRUNC | RP_DGRAM_LOCAL))
            fx->Anomaly(at + "unknown flags " + std::to_string(g.flags));
        if (g.error != 0)
            fx->Anomaly(at + "received with error " + std::to_string(g.error));
        if (cap >= 0 && g.len > cap)
            fx->Anomaly(at + std::to_string(g.len) + " bytes in a buffer of " + std::to_string(cap));
        if (kept >= 0 && (g.flags & RP_DGRAM_TRUNC) && g.len < kept)
            fx->Anomaly(at + "truncated to " + std::to_string(g.len) + " bytes, less than the " +
                        std::to_string(kept) + " that fit");
        if (g.len > 0 && !g.base)
            fx->Anomaly(at + std::to_string(g.len) + " bytes at a NULL base");
        if (!IsAddrFamily(g.peer.family))
            fx->Anomaly(at + "source family " + std::to_string(g.peer.family));
        if ((g.flags & RP_DGRAM_LOCAL) && !IsAddrFamily(g.local.family))
            fx->Anomaly(at + "RP_DGRAM_LOCAL with local family " + std::to_string(g.local.family));
    }
}

} // namespace

bool BackendSelected(rp_backend b)
{
    const char *only = getenv("RINGPORT_TEST_BACKENDS");
    if (!only || !*only)
        return true;
    std::string list = std::string(",") + only + ",";
    std::string cleaned;
    for (char c : list)
        if (c != ' ')
            cleaned += c;
    return cleaned.find(std::string(",") + rp_backend_name(b) + ",") != std::string::npos;
}

std::string ParamName(const ::testing::TestParamInfo<LoopParam> &info)
{
    return std::string(rp_backend_name(std::get<0>(info.param))) +
           (std::get<1>(info.param) > 0 ? "_threaded" : "_caller");
}

double Scale()
{
    const char *s = getenv("RINGPORT_TEST_SCALE");
    double v = s && *s ? atof(s) : 1.0;
    if (!(v > 0))
        v = 1.0;
    return v > 100 ? 100 : v;
}

void ApplyLoopEnv(rp_loop_options *o)
{
    const char *v = getenv("RINGPORT_TEST_LOOP_FLAGS");
    std::string list = std::string(",") + (v ? v : "") + ",";
    auto has = [&](const char *name) { return list.find(std::string(",") + name + ",") != std::string::npos; };
    if (has("idle_recv"))
        o->flags |= RP_LOOP_IDLE_RECV;
    if (has("sqpoll") && o->backend == RP_BACKEND_IO_URING)
        o->flags |= RP_LOOP_SQPOLL;
    if (has("zerocopy"))
        o->zerocopy_min = 1; // every single-buffer send, where the backend can
    if (has("spin"))
        o->spin_us = 50;
}

bool Ipv6Available()
{
    return RawIpv6Bindable();
}

void FillPattern(unsigned char *p, size_t n, uint64_t seed, uint64_t offset)
{
    for (size_t i = 0; i < n; i++)
        p[i] = PatternByte(seed, offset + i);
}

bool SleepUntil(const std::function<bool()> &cond, int timeout_ms)
{
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!cond()) {
        if (std::chrono::steady_clock::now() > end)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

// ---- Op ----
void Op::Trampoline(rp_op *o)
{
    Op *self = static_cast<Op *>(o->user);
    LoopTest *fx = self->fx;
    const bool more = (o->flags & RP_OP_F_MORE) != 0;
    const int kind = self->expected_kind.load();
    const int64_t r = o->result;
    const std::string tag = std::string(KindName(kind)) + " op: "; // short: no allocation

    if (g_submit_depth > 0)
        fx->Anomaly(tag + "callback ran inside a submitting call");
    if (o->flags & ~RP_OP_F_MORE)
        fx->Anomaly(tag + "unknown flag bits " + std::to_string(o->flags));
    if (more && !self->multishot.load())
        fx->Anomaly(tag + "RP_OP_F_MORE on a single-shot op");
    if (self->finals.load() >= self->submits.load())
        fx->Anomaly(tag + "delivered with no submission pending (a second final completion, or a callback of a "
                          "rejected submission)");
    if ((int)o->kind != kind)
        fx->Anomaly(tag + "op->kind is " + std::to_string(o->kind));
    int pending = rp_op_pending(o);
    if (pending != (more ? 1 : 0))
        fx->Anomaly(tag + "rp_op_pending() is " + std::to_string(pending) + " in a " + (more ? "MORE" : "final") +
                    " callback");
    if (r < 0 && !IsErrorCode(r))
        fx->Anomaly(tag + "result " + std::to_string(r) + " is not an RP_E* code");
    if (more && r != 0 && kind != RP_OP_RECV_POOL && kind != RP_OP_UDP_RECV_POOL)
        fx->Anomaly(tag + "RP_OP_F_MORE completion with result " + std::to_string(r));
    if (kind != RP_OP_RECV_POOL && o->buf)
        fx->Anomaly(tag + "op->buf set on a completion that carries no pool buffer");
    const int64_t len = self->expected_len.load();
    const rp_socket sock = self->expected_socket.load();
    switch (kind) {
    case RP_OP_RECV:
        if (r > len)
            fx->Anomaly(tag + "received " + std::to_string(r) + " bytes into " + std::to_string(len));
        break;
    case RP_OP_SEND:
    case RP_OP_SENDFILE: {
        int64_t sent = rp_op_sent(o);
        if (r >= 0 && r != len)
            fx->Anomaly(tag + "send completed with " + std::to_string(r) + " of " + std::to_string(len));
        if (r >= 0 && sent != len)
            fx->Anomaly(tag + "rp_op_sent() " + std::to_string(sent) + " after a complete send of " +
                        std::to_string(len));
        if (r < 0 && (sent < 0 || sent > len))
            fx->Anomaly(tag + "rp_op_sent() " + std::to_string(sent) + " after a failed send of " +
                        std::to_string(len));
        break;
    }
    case RP_OP_SEND_SOCKET:
        if (r >= 0 && r != len)
            fx->Anomaly(tag + "completed with " + std::to_string(r) + " for " + std::to_string(len) + " bytes of data");
        break;
    case RP_OP_RECV_SOCKET: // the message's data length (above the capacity when cut), and its socket
        if ((r >= 0) != (o->socket != RP_SOCKET_INVALID))
            fx->Anomaly(tag + "result " + std::to_string(r) + (o->socket ? " with" : " without") + " a socket");
        if (r > (int64_t)RP_XFER_DATA_MAX)
            fx->Anomaly(tag + "a message longer than RP_XFER_DATA_MAX");
        break;
    case RP_OP_ACCEPT:
    case RP_OP_CONNECT:
        if (r > 0)
            fx->Anomaly(tag + "positive result " + std::to_string(r));
        if (r == 0 && o->socket == RP_SOCKET_INVALID)
            fx->Anomaly(tag + "success without a socket");
        if (kind == RP_OP_CONNECT && r < 0 && o->socket != RP_SOCKET_INVALID)
            fx->Anomaly(tag + "failed connect left op->socket set");
        break;
    case RP_OP_CLOSE:
        if (r != 0)
            fx->Anomaly(tag + "close completed with " + std::to_string(r));
        break;
    case RP_OP_RECV_POOL:
        // len: the pool's buffer size. Data comes with a buffer; a multishot receive's final has none.
        if (r > len)
            fx->Anomaly(tag + "received " + std::to_string(r) + " bytes into a pool buffer of " + std::to_string(len));
        if ((r > 0) != (o->buf != nullptr))
            fx->Anomaly(tag + "result " + std::to_string(r) + (o->buf ? " with" : " without") + " a buffer");
        if (more && r <= 0)
            fx->Anomaly(tag + "RP_OP_F_MORE completion with result " + std::to_string(r));
        if (!more && self->multishot.load() && r > 0)
            fx->Anomaly(tag + "final completion of a multishot receive carries data");
        break;
    case RP_OP_UDP_SEND: {
        // The count handed to the kernel (1 .. count, each of those with error 0), or the first
        // datagram's error when none was.
        const int64_t n = self->dgram_count.load();
        const rp_dgram *d = self->dgrams.load();
        if (r == 0 || r > n)
            fx->Anomaly(tag + "completed with " + std::to_string(r) + " for " + std::to_string(n) + " datagrams");
        if (d && n > 0 && n <= (int64_t)RP_DGRAM_BATCH_MAX) {
            int64_t ok = 0;
            for (int64_t i = 0; i < n; i++) {
                if (d[i].error == 0)
                    ok++;
                else if (!IsErrorCode(d[i].error))
                    fx->Anomaly(tag + "datagram " + std::to_string(i) + " has error " + std::to_string(d[i].error) +
                                ", not an RP_E* code");
            }
            if (r > 0 && ok != r)
                fx->Anomaly(tag + "completed with " + std::to_string(r) + " but " + std::to_string(ok) +
                            " datagrams have error 0");
            if (r < 0 && ok != 0)
                fx->Anomaly(tag + "failed (" + std::to_string(r) + ") but " + std::to_string(ok) +
                            " datagrams have error 0");
            if (r < 0 && d[0].error != r)
                fx->Anomaly(tag + "failed with " + std::to_string(r) + ", not with the first datagram's error " +
                            std::to_string(d[0].error));
        }
        break;
    }
    case RP_OP_UDP_RECV: {
        const int64_t n = self->dgram_count.load();
        const rp_dgram *d = self->dgrams.load();
        if (r == 0 || r > n)
            fx->Anomaly(tag + "completed with " + std::to_string(r) + " datagrams for " + std::to_string(n));
        if (d && r > 0 && r <= n) {
            const std::vector<uint32_t> &caps = self->dgram_caps;
            CheckReceivedDgrams(fx, tag, d, r,
                                [&](size_t i) { return i < caps.size() ? (int64_t)caps[i] : (int64_t)-1; });
        }
        break;
    }
    case RP_OP_UDP_RECV_POOL: {
        // len: the pool's buffer size. A completion with datagrams carries 1 .. count of them; a
        // multishot receive's final carries none and is an error (there is no end of stream).
        const int64_t n = self->dgram_count.load();
        const rp_dgram *d = self->dgrams.load();
        if (r == 0 || r > n)
            fx->Anomaly(tag + "completed with " + std::to_string(r) + " datagrams for " + std::to_string(n));
        if (more && r <= 0)
            fx->Anomaly(tag + "RP_OP_F_MORE completion with result " + std::to_string(r));
        if (!more && self->multishot.load() && r > 0)
            fx->Anomaly(tag + "final completion of a multishot receive carries datagrams");
        if (d && r > 0 && r <= n) {
            // rp_bufpool_buf_size is the whole buffer; a datagram of the buf_size asked for always fits.
#ifdef RP_BUFPOOL_HEADROOM
            const int64_t fits = len - (int64_t)RP_BUFPOOL_HEADROOM;
#else
            const int64_t fits = len;
#endif
            CheckReceivedDgrams(fx, tag, d, r, [&](size_t) { return len; }, fits);
            for (int64_t i = 0; i < r; i++)
                if (!d[i].base)
                    fx->Anomaly(tag + "datagram " + std::to_string(i) + " without a pool buffer");
        }
        break;
    }
    case RP_OP_POST:
        if (r != 0 && r != RP_ECANCELED)
            fx->Anomaly(tag + "post completed with " + std::to_string(r));
        break;
    case RP_OP_RESOLVE: {
        // len: the capacity of the address array. At least one address, at most cap; fewer than found
        // only when the array is full.
        const uint32_t found = rp_op_resolved(o);
        if (r == 0 || r > len)
            fx->Anomaly(tag + "completed with " + std::to_string(r) + " addresses, room for " + std::to_string(len));
        if (r > 0 && (found < (uint64_t)r || (found > (uint64_t)r && r != len)))
            fx->Anomaly(tag + "stored " + std::to_string(r) + " of the " + std::to_string(found) +
                        " addresses found, room for " + std::to_string(len));
        if (r < 0 && found != 0)
            fx->Anomaly(tag + "failed, yet rp_op_resolved() is " + std::to_string(found));
        break;
    }
    default:
        if (r > 0)
            fx->Anomaly(tag + "positive result " + std::to_string(r));
        break;
    }
    if (kind != RP_OP_ACCEPT && kind != RP_OP_CONNECT && kind != RP_OP_RECV_SOCKET && o->socket != sock)
        fx->Anomaly(tag + "op->socket is not the socket it ran on");

    self->last_result = r;
    self->last_worker = fx->loop ? rp_loop_current_worker(fx->loop) : -3;
    self->completions++;
    if (more)
        self->mores++;
    if (self->fn && !fx->callbacks_disabled())
        self->fn(o);
    if (!more)
        self->finals++; // last: WaitFor(done) then sees the callback's effects
}

// ---- LoopTest ----
void LoopTest::Anomaly(const std::string &what)
{
    std::lock_guard<std::mutex> g(anomaly_mu_);
    anomaly_count_++;
    if (anomalies_.size() < 40)
        anomalies_.push_back(what);
}

void LoopTest::CheckNoAnomalies()
{
    std::lock_guard<std::mutex> g(anomaly_mu_);
    for (; anomalies_reported_ < anomalies_.size(); anomalies_reported_++)
        ADD_FAILURE() << "completion check failed: " << anomalies_[anomalies_reported_];
    if (anomaly_count_ > (int)anomalies_.size() && anomalies_reported_ == anomalies_.size()) {
        ADD_FAILURE() << (anomaly_count_ - (int)anomalies_.size()) << " more completion check failures";
        anomaly_count_ = (int)anomalies_.size();
    }
}

Op *LoopTest::NewOp(std::function<void(rp_op *)> fn)
{
    auto op = std::make_unique<Op>();
    rp_op_init(&op->op, &Op::Trampoline, op.get());
    op->fx = this;
    op->fn = std::move(fn);
    Op *raw = op.get();
    std::lock_guard<std::mutex> g(arena_mu_);
    ops_.push_back(std::move(op));
    return raw;
}

unsigned char *LoopTest::NewBuf(size_t n, unsigned char fill)
{
    return Make<std::vector<unsigned char>>(n ? n : 1, fill)->data();
}

template <class F>
int LoopTest::Submit(Op *op, int kind, bool multishot, rp_socket s, int64_t len, F &&call, rp_dgram *dgrams,
                     int64_t dgram_count)
{
    int pk = 0;
    bool pm = false;
    rp_socket ps = 0;
    int64_t pl = 0, pc = -1;
    rp_dgram *pd = nullptr;
    if (op) {
        pk = op->expected_kind.exchange(kind);
        pm = op->multishot.exchange(multishot);
        ps = op->expected_socket.exchange(s);
        pl = op->expected_len.exchange(len);
        pd = op->dgrams.exchange(dgrams);
        pc = op->dgram_count.exchange(dgram_count);
        op->submits++;
    }
    int rc;
    {
        SubmitScope scope;
        rc = call();
    }
    if (op && rc != 0) {
        op->submits--;
        op->expected_kind = pk;
        op->multishot = pm;
        op->expected_socket = ps;
        op->expected_len = pl;
        op->dgrams = pd;
        op->dgram_count = pc;
    }
    return rc;
}

int LoopTest::Recv(Op *op, rp_socket s, void *buf, size_t len)
{
    return Submit(op, RP_OP_RECV, false, s, (int64_t)len,
                  [&] { return rp_recv(loop, op ? op->get() : nullptr, s, buf, len); });
}

int LoopTest::RecvPool(Op *op, rp_socket s, rp_bufpool *pool, uint32_t flags)
{
    return Submit(op, RP_OP_RECV_POOL, (flags & RP_RECV_MULTISHOT) != 0, s, (int64_t)rp_bufpool_buf_size(pool),
                  [&] { return rp_recv_pool(loop, op ? op->get() : nullptr, s, pool, flags); });
}

int LoopTest::Send(Op *op, rp_socket s, const void *buf, size_t len)
{
    return Submit(op, RP_OP_SEND, false, s, (int64_t)len,
                  [&] { return rp_send(loop, op ? op->get() : nullptr, s, buf, len); });
}

int LoopTest::Sendv(Op *op, rp_socket s, const rp_buf *bufs, size_t count, int64_t total)
{
    return Submit(op, RP_OP_SEND, false, s, total,
                  [&] { return rp_sendv(loop, op ? op->get() : nullptr, s, bufs, count); });
}

int LoopTest::UdpSend(Op *op, rp_socket s, rp_dgram *dgrams, size_t count)
{
    return Submit(
        op, RP_OP_UDP_SEND, false, s, (int64_t)count,
        [&] { return rp_udp_send(loop, op ? op->get() : nullptr, s, dgrams, count); }, dgrams, (int64_t)count);
}

int LoopTest::UdpRecv(Op *op, rp_socket s, rp_dgram *dgrams, size_t count)
{
    if (op && !rp_op_pending(op->get())) {
        op->dgram_caps.clear();
        if (dgrams && count <= RP_DGRAM_BATCH_MAX)
            for (size_t i = 0; i < count; i++)
                op->dgram_caps.push_back(dgrams[i].len);
    }
    return Submit(
        op, RP_OP_UDP_RECV, false, s, (int64_t)count,
        [&] { return rp_udp_recv(loop, op ? op->get() : nullptr, s, dgrams, count); }, dgrams, (int64_t)count);
}

int LoopTest::UdpRecvPool(Op *op, rp_socket s, rp_bufpool *pool, rp_dgram *dgrams, size_t count, uint32_t flags)
{
    return Submit(
        op, RP_OP_UDP_RECV_POOL, (flags & RP_RECV_MULTISHOT) != 0, s, (int64_t)rp_bufpool_buf_size(pool),
        [&] { return rp_udp_recv_pool(loop, op ? op->get() : nullptr, s, pool, dgrams, count, flags); }, dgrams,
        (int64_t)count);
}

int LoopTest::Accept(Op *op, rp_socket listener, uint32_t flags)
{
    return Submit(op, RP_OP_ACCEPT, (flags & RP_ACCEPT_MULTISHOT) != 0, RP_SOCKET_INVALID, -1,
                  [&] { return rp_accept(loop, op ? op->get() : nullptr, listener, flags); });
}

int LoopTest::Connect(Op *op, const rp_addr &addr, const rp_connect_options *opts)
{
    return Submit(op, RP_OP_CONNECT, false, RP_SOCKET_INVALID, -1,
                  [&] { return rp_connect(loop, op ? op->get() : nullptr, &addr, opts); });
}

int LoopTest::UnixConnect(Op *op, const char *path, size_t len, const rp_connect_options *opts)
{
    return Submit(op, RP_OP_CONNECT, false, RP_SOCKET_INVALID, -1,
                  [&] { return rp_unix_connect(loop, op ? op->get() : nullptr, path, len, opts); });
}

int LoopTest::SendFile(Op *op, rp_socket s, rp_file file, uint64_t offset, uint64_t length, const rp_buf *head,
                       const rp_buf *tail)
{
    int64_t total = (int64_t)length + (int64_t)(head ? head->len : 0) + (int64_t)(tail ? tail->len : 0);
    return Submit(op, RP_OP_SENDFILE, false, s, total, [&] {
        return rp_sendfile(loop, op ? op->get() : nullptr, s, file, offset, length, head, tail, 0);
    });
}

int LoopTest::SendSocket(Op *op, rp_socket channel, rp_socket sock, const void *data, size_t len, uint32_t flags)
{
    return Submit(op, RP_OP_SEND_SOCKET, false, channel, (int64_t)len, [&] {
        return rp_send_socket(loop, op ? op->get() : nullptr, channel, sock, data, len, flags);
    });
}

int LoopTest::RecvSocket(Op *op, rp_socket channel, void *buf, size_t cap, int worker)
{
    return Submit(op, RP_OP_RECV_SOCKET, false, RP_SOCKET_INVALID, (int64_t)cap,
                  [&] { return rp_recv_socket(loop, op ? op->get() : nullptr, channel, buf, cap, worker); });
}

int LoopTest::Shutdown(Op *op, rp_socket s)
{
    return Submit(op, RP_OP_SHUTDOWN, false, s, -1,
                  [&] { return rp_shutdown(loop, op ? op->get() : nullptr, s); });
}

int LoopTest::Close(Op *op, rp_socket s)
{
    return Submit(op, RP_OP_CLOSE, false, s, -1, [&] { return rp_close(loop, op ? op->get() : nullptr, s); });
}

int LoopTest::Timeout(Op *op, rp_socket s, uint64_t delay_ms, uint64_t repeat_ms)
{
    return Submit(op, RP_OP_TIMEOUT, repeat_ms > 0, s, -1,
                  [&] { return rp_timeout(loop, op ? op->get() : nullptr, s, delay_ms, repeat_ms); });
}

int LoopTest::Post(Op *op, int worker)
{
    return Submit(op, RP_OP_POST, false, RP_SOCKET_INVALID, -1,
                  [&] { return rp_post(loop, op ? op->get() : nullptr, worker); });
}

int LoopTest::Resolve(Op *op, const char *host, const char *service, const rp_resolve_hints *hints, rp_addr *out,
                      size_t cap)
{
    return Submit(op, RP_OP_RESOLVE, false, RP_SOCKET_INVALID, (int64_t)cap,
                  [&] { return rp_resolve(loop, op ? op->get() : nullptr, host, service, hints, out, cap); });
}

int LoopTest::Cancel(Op *op)
{
    SubmitScope scope;
    return rp_cancel(loop, op ? op->get() : nullptr);
}

bool LoopTest::WaitFor(const std::function<bool()> &cond, int timeout_ms)
{
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    bool reported = false;
    while (!cond()) {
        if (std::chrono::steady_clock::now() > end)
            return false;
        if (threaded() || !loop) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
            continue;
        }
        int n = rp_loop_run(loop, heartbeat_running() ? RP_RUN_ONCE : RP_RUN_NOWAIT);
        if (n < 0 && !reported) {
            ADD_FAILURE() << "rp_loop_run: " << rp_strerror(n);
            reported = true;
        }
        if (n < 0 || !heartbeat_running())
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

void LoopTest::Pump(int ms)
{
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    WaitFor([&] { return std::chrono::steady_clock::now() >= end; }, ms + 60000);
}

void LoopTest::StopHeartbeat()
{
    if (!heartbeat_running() || !loop)
        return;
    EXPECT_EQ(Cancel(heartbeat_), 0) << "cancel of the heartbeat timer";
    EXPECT_TRUE(WaitFor([&] { return heartbeat_->done(); })) << "the cancelled heartbeat never completed";
    EXPECT_EQ(heartbeat_->last_result.load(), RP_ECANCELED);
}

int LoopTest::CreateLoop(unsigned queue_depth)
{
    rp_loop_options o;
    rp_loop_options_init(&o);
    o.backend = backend();
    o.workers = workers();
    o.queue_depth = queue_depth;
    ApplyLoopEnv(&o);
    if (zerocopy_min_)
        o.zerocopy_min = zerocopy_min_;
    loop = nullptr;
    heartbeat_ = nullptr;
    int err = rp_loop_create(&loop, &o);
    if (err != 0) {
        loop = nullptr;
        return err;
    }
    EXPECT_EQ(rp_loop_backend(loop), backend());
    EXPECT_EQ(rp_loop_workers(loop), workers());
    if (!threaded()) {
        // Bounds every RP_RUN_ONCE so that waiting can check its condition and deadline.
        heartbeat_ = NewOp();
        EXPECT_EQ(Timeout(heartbeat_, RP_SOCKET_INVALID, 5, 5), 0);
    }
    return 0;
}

void LoopTest::SetUp()
{
    test_thread_ = std::this_thread::get_id();
    if (!BackendSelected(backend()))
        GTEST_SKIP() << rp_backend_name(backend()) << " is not in RINGPORT_TEST_BACKENDS";
    int err = CreateLoop();
    // Not built in, not supported by this kernel, or (io_uring) forbidden by policy or seccomp.
    if (err == RP_ENOSYS || err == RP_EPERM)
        GTEST_SKIP() << rp_backend_name(backend()) << " is not available here: " << rp_strerror(err);
    ASSERT_EQ(err, 0) << "rp_loop_create: " << rp_strerror(err);
}

void LoopTest::CheckOps()
{
    std::lock_guard<std::mutex> g(arena_mu_);
    int reported = 0;
    for (auto &op : ops_) {
        int s = op->submits.load(), f = op->finals.load();
        if (s != f && reported++ < 10)
            ADD_FAILURE() << KindName(op->expected_kind.load()) << " op: " << s << " accepted submissions but " << f
                          << " final completions";
    }
}

void LoopTest::Finish()
{
    if (loop) {
        StopHeartbeat();
        int rc = rp_loop_destroy(loop);
        EXPECT_EQ(rc, 0) << "rp_loop_destroy: " << rp_strerror(rc);
        loop = nullptr;
    }
    CheckOps();
    CheckNoAnomalies();
}

void LoopTest::TearDown()
{
    // The test body is over: its locals may be gone, so callbacks no longer run its code.
    callbacks_disabled_ = true;
    Finish();
}

rp_socket LoopTest::Listen(uint16_t *port, const char *host, const rp_listen_options *opts)
{
    rp_addr a;
    rp_socket ls = RP_SOCKET_INVALID;
    *port = 0;
    if (rp_addr_parse(&a, host, 0) != 0) {
        ADD_FAILURE() << "rp_addr_parse " << host;
        return ls;
    }
    int err = rp_listen(loop, &ls, &a, opts);
    if (err != 0) {
        ADD_FAILURE() << "rp_listen " << host << ": " << rp_strerror(err);
        return RP_SOCKET_INVALID;
    }
    err = rp_socket_local_addr(loop, ls, &a);
    EXPECT_EQ(err, 0) << "rp_socket_local_addr: " << rp_strerror(err);
    EXPECT_NE(a.port, 0);
    *port = a.port;
    return ls;
}

void LoopTest::Pair(rp_socket *client, rp_socket *server, const char *host)
{
    *client = *server = RP_SOCKET_INVALID;
    uint16_t port;
    rp_socket ls = Listen(&port, host);
    ASSERT_NE(ls, RP_SOCKET_INVALID);
    Op *acc = NewOp(), *con = NewOp();
    ASSERT_EQ(Accept(acc, ls), 0);
    rp_addr a;
    ASSERT_EQ(rp_addr_parse(&a, host, port), 0);
    ASSERT_EQ(Connect(con, a), 0);
    ASSERT_TRUE(WaitFor([&] { return acc->done() && con->done(); })) << "connect/accept never completed";
    ASSERT_EQ(acc->result(), 0) << rp_strerror((int)acc->result());
    ASSERT_EQ(con->result(), 0) << rp_strerror((int)con->result());
    *client = con->socket();
    *server = acc->socket();
    CloseAndWait(ls);
}

rp_socket LoopTest::UdpBind(const char *host, uint16_t port, const rp_udp_options *opts)
{
    rp_addr a;
    rp_socket s = RP_SOCKET_INVALID;
    if (rp_addr_parse(&a, host, port) != 0) {
        ADD_FAILURE() << "rp_addr_parse " << host;
        return s;
    }
    int err = rp_udp_bind(loop, &s, &a, opts);
    if (err != 0) {
        ADD_FAILURE() << "rp_udp_bind " << host << ":" << port << ": " << rp_strerror(err);
        return RP_SOCKET_INVALID;
    }
    return s;
}

rp_addr LoopTest::LocalAddr(rp_socket s)
{
    rp_addr a;
    memset(&a, 0, sizeof a);
    int err = rp_socket_local_addr(loop, s, &a);
    EXPECT_EQ(err, 0) << "rp_socket_local_addr: " << rp_strerror(err);
    return a;
}

void LoopTest::CloseAndWait(rp_socket s)
{
    Op *c = NewOp();
    ASSERT_EQ(Close(c, s), 0);
    ASSERT_TRUE(WaitFor([&] { return c->done(); })) << "close never completed";
    EXPECT_EQ(c->result(), 0);
}

int64_t LoopTest::MoveAndWait(rp_socket s, int worker, int *ran_on)
{
    Op *op = NewOp();
    op->expected_kind = RP_OP_MOVE;
    op->expected_socket = s;
    op->submits++;
    int err;
    {
        SubmitScope scope;
        err = rp_socket_move(loop, op->get(), s, worker);
    }
    if (err) {
        op->submits--;
        return err;
    }
    if (!WaitFor([&] { return op->done(); })) {
        ADD_FAILURE() << "the move never completed";
        return RP_ETIMEDOUT;
    }
    if (ran_on)
        *ran_on = op->last_worker.load();
    return op->result();
}

Reader *LoopTest::StartReader(rp_socket s, size_t cap)
{
    Reader *r = Make<Reader>();
    r->s = s;
    r->cap = cap;
    r->buf = NewBuf(cap);
    r->op = NewOp([this, r](rp_op *o) {
        if (o->result > 0) {
            {
                std::lock_guard<std::mutex> g(r->mu);
                r->got.insert(r->got.end(), r->buf, r->buf + o->result);
            }
            r->bytes += (uint64_t)o->result;
            int rc = Recv(r->op, r->s, r->buf, r->cap);
            if (rc != 0) {
                r->error = rc;
                r->ended = true;
            }
            return;
        }
        r->error = o->result;
        r->ended = true;
    });
    int rc = Recv(r->op, s, r->buf, cap);
    EXPECT_EQ(rc, 0) << "reader recv: " << rp_strerror(rc);
    if (rc != 0) {
        r->error = rc;
        r->ended = true;
    }
    return r;
}

} // namespace rpt
