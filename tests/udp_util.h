// Helpers of the UDP conformance files (conformance_udp.cc, conformance_udp_pool.cc): datagram arrays
// allocated through the fixture (they belong to ringport while an op is pending, so they must outlive
// the loop), pattern datagrams, a receive-until-n loop over rp_udp_recv, and address comparisons.
#pragma once

#include "harness.h"

#include <cstring>
#include <string>
#include <vector>

namespace rpt {

inline std::string AddrText(const rp_addr &a)
{
    char buf[RP_ADDR_STRLEN];
    if (rp_addr_format(&a, buf, sizeof buf) < 0)
        return "(family " + std::to_string(a.family) + ", port " + std::to_string(a.port) + ")";
    return buf;
}

// Same family, port and address bytes (4 for IPv4, 16 for IPv6).
inline bool SameEndpoint(const rp_addr &a, const rp_addr &b)
{
    if (a.family != b.family || a.port != b.port)
        return false;
    return memcmp(a.ip, b.ip, a.family == RP_AF_INET ? 4 : 16) == 0;
}

// a is host (an IPv4 text address) with port, either as IPv4 or as its IPv4-mapped IPv6 form.
inline bool IsIpv4OrMapped(const rp_addr &a, const char *host, uint16_t port)
{
    rp_addr v4;
    if (rp_addr_parse(&v4, host, port) != 0 || v4.family != RP_AF_INET || a.port != port)
        return false;
    if (a.family == RP_AF_INET)
        return memcmp(a.ip, v4.ip, 4) == 0;
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return a.family == RP_AF_INET6 && memcmp(a.ip, prefix, 12) == 0 && memcmp(a.ip + 12, v4.ip, 4) == 0;
}

inline rp_addr Addr(const char *host, uint16_t port)
{
    rp_addr a;
    memset(&a, 0, sizeof a);
    EXPECT_EQ(rp_addr_parse(&a, host, port), 0) << host;
    return a;
}

// Every byte of p[0 .. n) is PatternByte(seed, offset + i).
inline ::testing::AssertionResult PatternIs(const void *p, size_t n, uint64_t seed, uint64_t offset = 0)
{
    const unsigned char *b = static_cast<const unsigned char *>(p);
    for (size_t i = 0; i < n; i++)
        if (b[i] != PatternByte(seed, offset + i))
            return ::testing::AssertionFailure()
                   << "byte " << i << " of " << n << " is " << (int)b[i] << ", not " << (int)PatternByte(seed, offset + i)
                   << " (pattern seed " << seed << ")";
    return ::testing::AssertionSuccess();
}

// A datagram as a receive delivered it, copied out of the op's buffers.
struct GotDgram {
    std::vector<unsigned char> data;
    uint32_t len = 0;
    uint16_t flags = 0;
    rp_addr peer{}, local{};
};

inline GotDgram CopyDgram(const rp_dgram &d)
{
    GotDgram g;
    g.len = d.len;
    g.flags = d.flags;
    g.peer = d.peer;
    g.local = d.local;
    if (d.base && d.len)
        g.data.assign(static_cast<const unsigned char *>(d.base), static_cast<const unsigned char *>(d.base) + d.len);
    return g;
}

class UdpTest : public LoopTest {
protected:
    // n zeroed datagram records (they outlive the loop).
    rp_dgram *NewDgrams(size_t n)
    {
        rp_dgram *d = Make<std::vector<rp_dgram>>(n ? n : 1)->data();
        memset(d, 0, sizeof(rp_dgram) * (n ? n : 1));
        return d;
    }
    // Datagrams to `to`, datagram i of sizes[i] bytes holding the pattern of seed seed0 + i.
    rp_dgram *PatternDgrams(const rp_addr &to, const std::vector<uint32_t> &sizes, uint64_t seed0)
    {
        rp_dgram *d = NewDgrams(sizes.size());
        for (size_t i = 0; i < sizes.size(); i++) {
            d[i].base = NewBuf(sizes[i]);
            d[i].len = sizes[i];
            FillPattern(static_cast<unsigned char *>(d[i].base), sizes[i], seed0 + i);
            d[i].peer = to;
        }
        return d;
    }
    // n receive records with buffers of cap bytes each.
    rp_dgram *RecvDgrams(size_t n, uint32_t cap)
    {
        rp_dgram *d = NewDgrams(n);
        for (size_t i = 0; i < n; i++) {
            d[i].base = cap ? NewBuf(cap) : nullptr;
            d[i].len = cap;
        }
        return d;
    }
    rp_udp_options Opts(uint32_t flags = 0, int recv_buffer = 0, int send_buffer = 0)
    {
        rp_udp_options o;
        rp_udp_options_init(&o);
        o.flags = flags;
        o.recv_buffer = recv_buffer;
        o.send_buffer = send_buffer;
        return o;
    }
    // rp_udp_send and wait for its completion: its result, or the submission's error code.
    int64_t SendWait(rp_socket s, rp_dgram *d, size_t n)
    {
        Op *op = NewOp();
        int rc = UdpSend(op, s, d, n);
        if (rc != 0)
            return rc;
        if (!WaitFor([&] { return op->done(); })) {
            ADD_FAILURE() << "rp_udp_send of " << n << " datagrams never completed";
            return RP_ETIMEDOUT;
        }
        return op->result();
    }
    // One datagram of size pattern bytes (seed) to `to`; the send's result (1 when it went).
    int64_t SendOne(rp_socket s, const rp_addr &to, uint32_t size, uint64_t seed)
    {
        return SendWait(s, PatternDgrams(to, {size}, seed), 1);
    }
    // Receives with rp_udp_recv (up to `batch` datagrams per op, buffers of cap bytes) until `want`
    // datagrams have come, appending them to *out. False (with *why) on an error result or when
    // timeout_ms passes without the next datagram; the pending receive is then cancelled.
    bool RecvN(rp_socket s, size_t want, std::vector<GotDgram> *out, uint32_t cap = 65536, size_t batch = 16,
               int timeout_ms = 10000, std::string *why = nullptr)
    {
        Op *op = NewOp();
        rp_dgram *d = RecvDgrams(batch, cap);
        size_t got = 0;
        while (got < want) {
            for (size_t i = 0; i < batch; i++) {
                d[i].len = cap;
                d[i].flags = 0;
            }
            int rc = UdpRecv(op, s, d, batch);
            if (rc != 0) {
                if (why)
                    *why = std::string("rp_udp_recv submission: ") + rp_strerror(rc);
                return false;
            }
            if (!WaitFor([&] { return op->done(); }, timeout_ms)) {
                Cancel(op);
                WaitFor([&] { return op->done(); });
                if (why)
                    *why = "timed out after " + std::to_string(got) + " of " + std::to_string(want) + " datagrams";
                if (op->result() > 0) // it won the race with the cancel
                    for (int64_t i = 0; i < op->result(); i++)
                        out->push_back(CopyDgram(d[i]));
                return false;
            }
            int64_t r = op->result();
            if (r <= 0) {
                if (why)
                    *why = "rp_udp_recv completed with " + std::to_string(r) + " (" + rp_strerror((int)r) + ") after " +
                           std::to_string(got) + " of " + std::to_string(want) + " datagrams";
                return false;
            }
            for (int64_t i = 0; i < r; i++)
                out->push_back(CopyDgram(d[i]));
            got += (size_t)r;
        }
        return true;
    }
    // A receive of up to n datagrams (buffers of cap bytes) left pending: its op; *d gets the records.
    Op *PendingRecv(rp_socket s, size_t n, uint32_t cap, rp_dgram **d)
    {
        *d = RecvDgrams(n, cap);
        Op *op = NewOp();
        EXPECT_EQ(UdpRecv(op, s, *d, n), 0);
        return op;
    }
};

} // namespace rpt
