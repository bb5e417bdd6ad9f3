// Name resolution (rp_resolve): numeric hosts, service names, localhost, a name of the hosts file, names
// that do not resolve, RP_RESOLVE_NUMERIC_HOST, family filtering, an array too small, identical lookups
// in flight together, cancel, destroy with lookups pending, rp_loop_poll, the completing worker, and every
// bad argument. The lookups that need the system resolver ask only for names this machine answers itself
// (the hosts file) except UnresolvableNameIsNotFoundOrTryAgain, which needs an answer from DNS.
// resolve_slow_test.cc runs cancel, deadlines and destroy against lookups that never finish in time.
#include "harness.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace rpt;

namespace {

std::string Text(const rp_addr &a)
{
    char buf[RP_ADDR_STRLEN];
    return rp_addr_format(&a, buf, sizeof buf) > 0 ? std::string(buf) : std::string("(bad address)");
}

bool SameIpAndPort(const rp_addr &a, const rp_addr &b)
{
    size_t n = a.family == RP_AF_INET ? 4 : 16;
    return a.family == b.family && a.port == b.port && memcmp(a.ip, b.ip, n) == 0;
}

bool IsLoopback(const rp_addr &a)
{
    static const uint8_t v6_loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return (a.family == RP_AF_INET && a.ip[0] == 127) ||
           (a.family == RP_AF_INET6 && memcmp(a.ip, v6_loopback, 16) == 0);
}

// The system's hosts and services files.
std::string SystemFile(const char *name)
{
#if defined(_WIN32)
    const char *root = getenv("SystemRoot");
    return std::string(root ? root : "C:\\windows") + "\\system32\\drivers\\etc\\" + name;
#else
    return std::string("/etc/") + name;
#endif
}

// The lines of a hosts-style file split into words, comments dropped.
std::vector<std::vector<std::string>> ReadTable(const std::string &path)
{
    std::vector<std::vector<std::string>> rows;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        line = line.substr(0, line.find('#'));
        std::istringstream words(line);
        std::vector<std::string> row;
        for (std::string w; words >> w;)
            row.push_back(w);
        if (row.size() >= 2)
            rows.push_back(row);
    }
    return rows;
}

// The services file maps http to 80/tcp.
bool ServicesFileHasHttp()
{
    for (auto &row : ReadTable(SystemFile("services")))
        if (row[0] == "http" && row[1] == "80/tcp")
            return true;
    return false;
}

// A name of the hosts file other than localhost and its address (port 0), or false if there is none.
bool HostsFileEntry(std::string *name, rp_addr *addr)
{
    for (auto &row : ReadTable(SystemFile("hosts"))) {
        rp_addr a;
        if (rp_addr_parse(&a, row[0].c_str(), 0) != 0)
            continue;
        for (size_t i = 1; i < row.size(); i++) {
            std::string n = row[i];
            std::string lower = n;
            std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return (char)tolower(c); });
            if (lower.find("localhost") != std::string::npos || n.find(':') != std::string::npos)
                continue;
            *name = n;
            *addr = a;
            return true;
        }
    }
    return false;
}

// One lookup, waited for: its result, with out[0 .. result) the addresses.
struct Lookup {
    Op *op = nullptr;
    std::vector<rp_addr> out;
};

class ResolveTest : public LoopTest {
protected:
    // Submits a lookup (asserting the submission succeeds) and waits for its completion.
    Lookup *Run(const char *host, const char *service, const rp_resolve_hints *hints = nullptr, size_t cap = 16)
    {
        Lookup *l = Make<Lookup>();
        l->op = NewOp();
        l->out.assign(cap, rp_addr{});
        int rc = Resolve(l->op, host, service, hints, l->out.data(), cap);
        EXPECT_EQ(rc, 0) << "rp_resolve(" << host << ", " << (service ? service : "NULL") << "): " << rp_strerror(rc);
        if (rc == 0) {
            EXPECT_TRUE(WaitFor([&] { return l->op->done(); })) << "the lookup of " << host << " never completed";
        }
        return l;
    }

    std::vector<rp_addr> Addresses(const Lookup *l)
    {
        int64_t r = l->op->result();
        return r > 0 ? std::vector<rp_addr>(l->out.begin(), l->out.begin() + r) : std::vector<rp_addr>();
    }

    static rp_resolve_hints Hints(int family, uint32_t flags = 0, int worker = -1)
    {
        rp_resolve_hints h;
        rp_resolve_hints_init(&h);
        h.family = family;
        h.flags = flags;
        h.worker = worker;
        return h;
    }
};

TEST_P(ResolveTest, NumericHostsWithAPortAServiceNameOrNone)
{
    struct Case {
        const char *host, *service;
        const char *expect; // rp_addr_parse_endpoint form
    } cases[] = {
        {"127.0.0.1", "8080", "127.0.0.1:8080"},
        {"10.1.2.3", "0", "10.1.2.3:0"},
        {"127.0.0.1", nullptr, "127.0.0.1:0"},
        {"::1", "443", "[::1]:443"},
        {"fe80::1:2", "65535", "[fe80::1:2]:65535"},
        {"::ffff:1.2.3.4", "00080", "[::ffff:1.2.3.4]:80"},
    };
    for (const Case &c : cases) {
        Lookup *l = Run(c.host, c.service);
        ASSERT_EQ(l->op->result(), 1) << c.host << ": " << rp_strerror((int)l->op->result());
        EXPECT_EQ(rp_op_resolved(l->op->get()), 1u);
        rp_addr want;
        ASSERT_EQ(rp_addr_parse_endpoint(&want, c.expect), 0) << c.expect;
        EXPECT_TRUE(SameIpAndPort(l->out[0], want)) << c.host << " gave " << Text(l->out[0]) << ", not " << c.expect;
    }
    // A scope survives.
    Lookup *scoped = Run("fe80::1%2", "7");
    ASSERT_EQ(scoped->op->result(), 1);
    EXPECT_EQ(scoped->out[0].scope_id, 2u);
    EXPECT_EQ(scoped->out[0].port, 7);
    // A service name goes through the services database.
    for (const char *host : {"127.0.0.1", "::1"}) {
        Lookup *l = Run(host, "http");
        if (ServicesFileHasHttp()) {
            ASSERT_EQ(l->op->result(), 1) << host << " http: " << rp_strerror((int)l->op->result());
            EXPECT_EQ(l->out[0].port, 80) << Text(l->out[0]);
            EXPECT_EQ(l->out[0].family, strchr(host, ':') ? RP_AF_INET6 : RP_AF_INET);
        } else {
            EXPECT_TRUE(l->op->result() == 1 || l->op->result() == RP_ENOTFOUND) << rp_strerror((int)l->op->result());
        }
    }
    Lookup *unknown = Run("127.0.0.1", "no-such-service-here");
    EXPECT_EQ(unknown->op->result(), RP_ENOTFOUND) << rp_strerror((int)unknown->op->result());
    EXPECT_EQ(rp_op_resolved(unknown->op->get()), 0u);
}

TEST_P(ResolveTest, LocalhostIsALoopbackAddress)
{
    Lookup *l = Run("localhost", "5000");
    ASSERT_GE(l->op->result(), 1) << rp_strerror((int)l->op->result());
    for (const rp_addr &a : Addresses(l)) {
        EXPECT_TRUE(IsLoopback(a)) << "localhost resolved to " << Text(a);
        EXPECT_EQ(a.port, 5000);
    }
    // Each address at most once, though the system lists one entry per socket type.
    std::vector<rp_addr> v = Addresses(l);
    for (size_t i = 0; i < v.size(); i++)
        for (size_t j = i + 1; j < v.size(); j++)
            EXPECT_FALSE(SameIpAndPort(v[i], v[j])) << Text(v[i]) << " twice";
}

TEST_P(ResolveTest, ANameOfTheHostsFileGivesItsAddress)
{
    std::string name;
    rp_addr want;
    if (!HostsFileEntry(&name, &want))
        GTEST_SKIP() << SystemFile("hosts") << " names no host other than localhost";
    rp_resolve_hints h = Hints(want.family);
    Lookup *l = Run(name.c_str(), "22", &h);
    ASSERT_GE(l->op->result(), 1) << name << ": " << rp_strerror((int)l->op->result());
    want.port = 22;
    std::vector<rp_addr> got = Addresses(l);
    bool found = std::any_of(got.begin(), got.end(), [&](const rp_addr &a) { return SameIpAndPort(a, want); });
    EXPECT_TRUE(found) << name << " did not resolve to " << Text(want) << " (the hosts file's address); first: "
                       << Text(got[0]);
}

TEST_P(ResolveTest, UnresolvableNameIsNotFoundOrTryAgain)
{
    // .invalid never exists (RFC 6761); without a network the resolver may only fail to ask.
    Lookup *l = Run("name.invalid", "80");
    int64_t r = l->op->result();
    EXPECT_TRUE(r == RP_ENOTFOUND || r == RP_ETRYAGAIN) << "name.invalid: " << r << " " << rp_strerror((int)r);
    EXPECT_EQ(rp_op_resolved(l->op->get()), 0u);
}

TEST_P(ResolveTest, NumericHostFlagRefusesNamesWithoutALookup)
{
    rp_resolve_hints numeric = Hints(0, RP_RESOLVE_NUMERIC_HOST);
    for (const char *name : {"localhost", "name.invalid", "example.com"}) {
        Lookup *l = Run(name, "80", &numeric);
        EXPECT_EQ(l->op->result(), RP_ENOTFOUND) << name << ": " << rp_strerror((int)l->op->result());
    }
    // A host name at the length limit, never looked up.
    std::string longest(RP_RESOLVE_HOST_MAX, 'a');
    Lookup *l = Run(longest.c_str(), nullptr, &numeric);
    EXPECT_EQ(l->op->result(), RP_ENOTFOUND) << rp_strerror((int)l->op->result());
    // Numeric hosts pass, with a service name too.
    Lookup *v4 = Run("127.0.0.1", "http", &numeric);
    if (ServicesFileHasHttp()) {
        EXPECT_EQ(v4->op->result(), 1) << rp_strerror((int)v4->op->result());
    }
    Lookup *v6 = Run("::1", "9", &numeric);
    ASSERT_EQ(v6->op->result(), 1) << rp_strerror((int)v6->op->result());
    EXPECT_EQ(v6->out[0].family, RP_AF_INET6);
}

TEST_P(ResolveTest, FamilyFilteringKeepsOnlyThatFamily)
{
    rp_resolve_hints v4 = Hints(RP_AF_INET), v6 = Hints(RP_AF_INET6);
    Lookup *l4 = Run("localhost", nullptr, &v4);
    ASSERT_GE(l4->op->result(), 1) << rp_strerror((int)l4->op->result());
    for (const rp_addr &a : Addresses(l4))
        EXPECT_EQ(a.family, RP_AF_INET) << Text(a);
    // IPv6 only where the hosts file has an IPv6 localhost: elsewhere the resolver would ask DNS.
    bool v6_localhost = false;
    for (auto &row : ReadTable(SystemFile("hosts"))) {
        rp_addr a;
        if (rp_addr_parse(&a, row[0].c_str(), 0) == 0 && a.family == RP_AF_INET6 &&
            std::find(row.begin() + 1, row.end(), "localhost") != row.end())
            v6_localhost = true;
    }
    if (v6_localhost) {
        Lookup *l6 = Run("localhost", nullptr, &v6);
        ASSERT_GE(l6->op->result(), 1) << rp_strerror((int)l6->op->result());
        for (const rp_addr &a : Addresses(l6))
            EXPECT_EQ(a.family, RP_AF_INET6) << Text(a);
    }
    // Numeric hosts of the other family are not found.
    Lookup *x = Run("127.0.0.1", "1", &v6);
    EXPECT_EQ(x->op->result(), RP_ENOTFOUND) << rp_strerror((int)x->op->result());
    Lookup *y = Run("::1", "1", &v4);
    EXPECT_EQ(y->op->result(), RP_ENOTFOUND) << rp_strerror((int)y->op->result());
    // The same through the system resolver (a service name takes the lookup there).
    Lookup *z = Run("::1", "http", &v4);
    EXPECT_EQ(z->op->result(), RP_ENOTFOUND) << rp_strerror((int)z->op->result());
}

TEST_P(ResolveTest, AnArrayTooSmallKeepsTheFirstAndTellsHowManyThereWere)
{
    // The name with the most addresses this machine knows.
    std::vector<std::string> names = {"localhost"};
    std::string name;
    rp_addr unused;
    if (HostsFileEntry(&name, &unused))
        names.push_back(name);
    for (auto &row : ReadTable(SystemFile("hosts")))
        for (size_t i = 1; i < row.size(); i++)
            names.push_back(row[i]);
    Lookup *most = nullptr;
    std::string most_name;
    for (const std::string &n : names) {
        Lookup *l = Run(n.c_str(), "80", nullptr, 64);
        if (l->op->result() > 0 && (!most || l->op->result() > most->op->result())) {
            most = l;
            most_name = n;
        }
    }
    ASSERT_NE(most, nullptr) << "no name of the hosts file resolves";
    const int64_t all = most->op->result();
    EXPECT_EQ(rp_op_resolved(most->op->get()), (uint32_t)all);
    // cap = the exact count: nothing lost.
    Lookup *exact = Run(most_name.c_str(), "80", nullptr, (size_t)all);
    ASSERT_EQ(exact->op->result(), all);
    EXPECT_EQ(rp_op_resolved(exact->op->get()), (uint32_t)all);
    if (all < 2)
        GTEST_SKIP() << "no name here has more than one address (" << most_name << ": " << Text(most->out[0])
                     << "), so a short array cannot be shown";
    Lookup *one = Run(most_name.c_str(), "80", nullptr, 1);
    ASSERT_EQ(one->op->result(), 1);
    EXPECT_EQ(rp_op_resolved(one->op->get()), (uint32_t)all) << "how many were found";
    EXPECT_TRUE(SameIpAndPort(one->out[0], most->out[0])) << "the first address is kept";
    Lookup *less = Run(most_name.c_str(), "80", nullptr, (size_t)all - 1);
    ASSERT_EQ(less->op->result(), all - 1);
    for (int64_t i = 0; i < all - 1; i++)
        EXPECT_TRUE(SameIpAndPort(less->out[i], most->out[i])) << i;
}

TEST_P(ResolveTest, SixtyFourIdenticalLookupsAtOnceAllGetTheSameAddresses)
{
    const int kThreads = 4, kPerThread = 16;
    std::vector<Lookup *> lookups;
    for (int i = 0; i < kThreads * kPerThread; i++) {
        Lookup *l = Make<Lookup>();
        l->op = NewOp();
        l->out.assign(8, rp_addr{});
        lookups.push_back(l);
    }
    std::atomic<int> rejected{0}, started{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; t++)
        threads.emplace_back([&, t] {
            started++;
            while (started.load() < kThreads)
                std::this_thread::yield();
            for (int i = 0; i < kPerThread; i++) {
                Lookup *l = lookups[(size_t)(t * kPerThread + i)];
                // Two ports: a decimal service is applied per op, so these still share one lookup.
                if (Resolve(l->op, "localhost", i % 2 ? "443" : "80", nullptr, l->out.data(), l->out.size()) != 0)
                    rejected++;
            }
        });
    for (auto &th : threads)
        th.join();
    ASSERT_EQ(rejected.load(), 0);
    ASSERT_TRUE(WaitFor([&] {
        return std::all_of(lookups.begin(), lookups.end(), [](Lookup *l) { return l->op->done(); });
    }));
    ASSERT_GE(lookups[0]->op->result(), 1) << rp_strerror((int)lookups[0]->op->result());
    std::vector<rp_addr> first = Addresses(lookups[0]);
    for (size_t i = 0; i < lookups.size(); i++) {
        std::vector<rp_addr> got = Addresses(lookups[i]);
        ASSERT_EQ(got.size(), first.size()) << "lookup " << i;
        uint16_t port = (i % kPerThread) % 2 ? 443 : 80;
        for (size_t k = 0; k < got.size(); k++) {
            EXPECT_EQ(got[k].port, port) << "lookup " << i;
            rp_addr same = first[k];
            same.port = port;
            EXPECT_TRUE(SameIpAndPort(got[k], same)) << "lookup " << i << " address " << k << ": " << Text(got[k]);
        }
        EXPECT_EQ(lookups[i]->op->completions.load(), 1);
    }
}

TEST_P(ResolveTest, CancelCompletesOnceWithCanceledOrTheResultThatWon)
{
    // From the test thread: in a caller-driven loop the op is still in the inbox (nothing runs until the
    // loop is driven), so the cancel always wins.
    Lookup *l = Make<Lookup>();
    l->op = NewOp();
    l->out.assign(4, rp_addr{});
    ASSERT_EQ(Resolve(l->op, "localhost", "80", nullptr, l->out.data(), 4), 0);
    int first = Cancel(l->op);
    if (threaded()) {
        EXPECT_TRUE(first == 0 || first == RP_ENOENT) << "the lookup may be done already: " << rp_strerror(first);
    } else {
        ASSERT_EQ(first, 0);
    }
    int again = Cancel(l->op);
    EXPECT_TRUE(again == 0 || again == RP_ENOENT) << rp_strerror(again);
    ASSERT_TRUE(WaitFor([&] { return l->op->done(); }));
    if (!threaded())
        EXPECT_EQ(l->op->result(), RP_ECANCELED);
    else
        EXPECT_TRUE(l->op->result() == RP_ECANCELED || l->op->result() >= 1) << rp_strerror((int)l->op->result());
    Pump(20);
    EXPECT_EQ(l->op->completions.load(), 1);
    EXPECT_EQ(Cancel(l->op), RP_ENOENT) << "after the completion";
    // The record can be used again.
    ASSERT_EQ(Resolve(l->op, "localhost", "80", nullptr, l->out.data(), 4), 0);
    ASSERT_TRUE(WaitFor([&] { return l->op->done(); }));
    EXPECT_GE(l->op->result(), 1) << rp_strerror((int)l->op->result());

    // From the worker, right after the submission there (the lookup is with the resolver by then), for
    // several lookups sharing one: each completes exactly once, cancelled or not, and the ones left
    // alone still get the addresses.
    const int kN = 8;
    std::vector<Lookup *> v;
    for (int i = 0; i < kN; i++) {
        Lookup *x = Make<Lookup>();
        x->op = NewOp();
        x->out.assign(4, rp_addr{});
        v.push_back(x);
    }
    Op *post = NewOp([this, v](rp_op *) {
        for (int i = 0; i < kN; i++)
            EXPECT_EQ(Resolve(v[(size_t)i]->op, "localhost", "81", nullptr, v[(size_t)i]->out.data(), 4), 0);
        for (int i = 0; i < kN; i += 2)
            EXPECT_EQ(Cancel(v[(size_t)i]->op), 0);
    });
    ASSERT_EQ(Post(post, 0), 0);
    ASSERT_TRUE(WaitFor([&] { return std::all_of(v.begin(), v.end(), [](Lookup *x) { return x->op->done(); }); }));
    for (int i = 0; i < kN; i++) {
        int64_t r = v[(size_t)i]->op->result();
        if (i % 2) {
            EXPECT_GE(r, 1) << "an uncancelled lookup sharing with cancelled ones: " << rp_strerror((int)r);
        } else {
            EXPECT_TRUE(r == RP_ECANCELED || r >= 1) << rp_strerror((int)r);
        }
        if (r >= 1) {
            EXPECT_TRUE(IsLoopback(v[(size_t)i]->out[0])) << Text(v[(size_t)i]->out[0]);
        }
    }
}

TEST_P(ResolveTest, LookupsAndCancelsFromManyThreadsEachCompleteOnce)
{
    // Threads submit lookups of a few names (shared, distinct, numeric; all answered by this machine)
    // and cancel every other one at once, racing the resolver; each op is resubmitted from its own
    // callback a few times.
    const int kThreads = 4, kPerThread = 24, kRounds = (int)std::max(2.0, 6 * std::min(1.0, Scale()));
    std::string listed = "localhost";
    rp_addr unused;
    HostsFileEntry(&listed, &unused);
    const char *hosts[] = {"localhost", "127.0.0.1", "::1", listed.c_str(), "localhost"};
    struct Slot {
        Lookup l;
        std::atomic<int> rounds{0}, bad{0};
        const char *host = nullptr;
    };
    std::vector<Slot *> slots;
    for (int i = 0; i < kThreads * kPerThread; i++) {
        Slot *sl = Make<Slot>();
        sl->host = hosts[i % 5];
        sl->l.out.assign(4, rp_addr{});
        sl->l.op = NewOp();
        Op *op = sl->l.op;
        op->fn = [this, sl, op, kRounds](rp_op *o) {
            int64_t r = o->result;
            if (r != RP_ECANCELED && r < 1)
                sl->bad++;
            if (++sl->rounds < kRounds &&
                Resolve(op, sl->host, "53", nullptr, sl->l.out.data(), sl->l.out.size()) != 0)
                sl->bad++;
        };
        slots.push_back(sl);
    }
    std::atomic<int> started{0}, rejected{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; t++)
        threads.emplace_back([&, t] {
            started++;
            while (started.load() < kThreads)
                std::this_thread::yield();
            for (int i = 0; i < kPerThread; i++) {
                Slot *sl = slots[(size_t)(t * kPerThread + i)];
                if (Resolve(sl->l.op, sl->host, "53", nullptr, sl->l.out.data(), sl->l.out.size()) != 0)
                    rejected++;
                if (i % 2)
                    Cancel(sl->l.op); // 0, or RP_ENOENT if it completed already: both fine
            }
        });
    for (auto &th : threads)
        th.join();
    ASSERT_EQ(rejected.load(), 0);
    ASSERT_TRUE(WaitFor([&] {
        return std::all_of(slots.begin(), slots.end(), [&](Slot *sl) { return sl->rounds.load() >= kRounds; });
    }));
    for (Slot *sl : slots) {
        EXPECT_EQ(sl->bad.load(), 0) << sl->host;
        EXPECT_EQ(sl->l.op->completions.load(), kRounds) << sl->host;
    }
}

TEST_P(ResolveTest, DestroyCompletesPendingLookupsAndALaterLoopResolvesAgain)
{
    // Lookups of several names at once, some identical: more than the resolver has threads.
    std::vector<std::string> names = {"localhost", "localhost", "127.0.0.1"};
    for (auto &row : ReadTable(SystemFile("hosts")))
        for (size_t i = 1; i < row.size(); i++)
            names.push_back(row[i]);
    std::vector<Lookup *> v;
    for (int round = 0; round < 4; round++)
        for (const std::string &n : names) {
            Lookup *l = Make<Lookup>();
            l->op = NewOp();
            l->out.assign(4, rp_addr{});
            rp_resolve_hints h = Hints(round % 2 ? RP_AF_INET : 0);
            ASSERT_EQ(Resolve(l->op, n.c_str(), round < 2 ? "80" : "http", &h, l->out.data(), 4), 0) << n;
            v.push_back(l);
        }
    Finish(); // rp_loop_destroy: every accepted submission completed exactly once (checked there)
    for (Lookup *l : v) {
        int64_t r = l->op->result();
        EXPECT_TRUE(r == RP_ECANCELED || r >= 1 || r == RP_ENOTFOUND) << rp_strerror((int)r);
    }
    // The resolver lets go of its threads with the last loop, and starts again with the next.
    ASSERT_EQ(CreateLoop(), 0);
    Lookup *again = Run("localhost", "80");
    EXPECT_GE(again->op->result(), 1) << rp_strerror((int)again->op->result());
}

TEST_P(ResolveTest, CallerDrivenPollHandsTheLookupOutAndIsWokenForIt)
{
    if (threaded())
        GTEST_SKIP() << "caller-driven loops only";
    StopHeartbeat(); // nothing else would wake the loop: the lookup's result must
    rp_op *op = Make<rp_op>();
    rp_op_init(op, nullptr, nullptr);
    std::vector<rp_addr> out(4);
    ASSERT_EQ(rp_resolve(loop, op, "localhost", "80", nullptr, out.data(), out.size()), 0);
    // Watchdog: should the loop never be woken, a post after 20 s ends the wait and the test fails.
    std::atomic<bool> got{false};
    rp_op *rescue = Make<rp_op>();
    rp_op_init(rescue, nullptr, nullptr);
    std::thread watchdog([&] {
        if (!SleepUntil([&] { return got.load(); }, 20000))
            rp_post(loop, rescue, 0);
    });
    bool rescued = false;
    while (!got.load()) {
        rp_op *done[4];
        int n = rp_loop_poll(loop, done, 4, -1);
        ASSERT_GE(n, 0) << rp_strerror(n);
        for (int i = 0; i < n; i++) {
            if (done[i] == op)
                got = true;
            else if (done[i] == rescue)
                rescued = true;
        }
        if (rescued)
            break;
    }
    got = true;
    watchdog.join();
    ASSERT_FALSE(rescued) << "the loop was not woken by the lookup's result";
    EXPECT_EQ(rp_op_pending(op), 0);
    EXPECT_EQ(op->kind, (uint32_t)RP_OP_RESOLVE);
    EXPECT_EQ(op->socket, RP_SOCKET_INVALID);
    ASSERT_GE(op->result, 1) << rp_strerror((int)op->result);
    EXPECT_TRUE(IsLoopback(out[0])) << Text(out[0]);
    EXPECT_EQ(out[0].port, 80);
    // A numeric host too: no lookup, still handed out by the next poll, never inside rp_resolve.
    ASSERT_EQ(rp_resolve(loop, op, "::1", "1", nullptr, out.data(), out.size()), 0);
    EXPECT_EQ(rp_op_pending(op), 1);
    rp_op *done[4];
    int n = rp_loop_poll(loop, done, 4, 10000);
    ASSERT_EQ(n, 1);
    EXPECT_EQ(done[0], op);
    EXPECT_EQ(op->result, 1);
    EXPECT_EQ(rp_loop_poll(loop, done, 4, 0), 0);
}

TEST_P(ResolveTest, CompletesOnTheWorkerTheHintsNameOrTheCallingOne)
{
    const int W = std::max(1, workers());
    for (int w = 0; w < W; w++) {
        rp_resolve_hints h = Hints(0, 0, w);
        Lookup *named = Run("localhost", "80", &h);
        EXPECT_EQ(named->op->last_worker.load(), w);
        Lookup *numeric = Run("127.0.0.1", "80", &h);
        EXPECT_EQ(numeric->op->last_worker.load(), w);
    }
    // From outside the loop with worker -1: some worker of the loop.
    Lookup *any = Run("localhost", "80");
    EXPECT_GE(any->op->last_worker.load(), 0);
    EXPECT_LT(any->op->last_worker.load(), W);
    // From a callback with worker -1: that callback's worker.
    for (int w = 0; w < W; w++) {
        Lookup *in = Make<Lookup>();
        in->op = NewOp();
        in->out.assign(4, rp_addr{});
        Op *post = NewOp(
            [this, in](rp_op *) { EXPECT_EQ(Resolve(in->op, "localhost", "80", nullptr, in->out.data(), 4), 0); });
        ASSERT_EQ(Post(post, w), 0);
        ASSERT_TRUE(WaitFor([&] { return in->op->done(); }));
        EXPECT_EQ(in->op->last_worker.load(), w);
        EXPECT_GE(in->op->result(), 1);
    }
}

TEST_P(ResolveTest, BadArgumentsAreRefusedAndChangeNothing)
{
    std::vector<rp_addr> out(4);
    rp_addr canary;
    memset(&canary, 0xA5, sizeof canary);
    std::fill(out.begin(), out.end(), canary);
    Op *op = NewOp();
    rp_resolve_hints h = Hints(0);
    auto bad_hints = [&](void (*change)(rp_resolve_hints *)) {
        rp_resolve_hints x = Hints(0);
        change(&x);
        return Resolve(op, "localhost", "80", &x, out.data(), out.size());
    };
    EXPECT_EQ(rp_resolve(nullptr, op->get(), "localhost", "80", nullptr, out.data(), 4), RP_EINVAL);
    EXPECT_EQ(Resolve(nullptr, "localhost", "80", nullptr, out.data(), 4), RP_EINVAL);
    EXPECT_EQ(Resolve(op, nullptr, "80", nullptr, out.data(), 4), RP_EINVAL);
    EXPECT_EQ(Resolve(op, "localhost", "80", nullptr, nullptr, 4), RP_EINVAL);
    EXPECT_EQ(Resolve(op, "localhost", "80", nullptr, out.data(), 0), RP_EINVAL);
    EXPECT_EQ(Resolve(op, "", "80", nullptr, out.data(), 4), RP_EINVAL);
    EXPECT_EQ(Resolve(op, "localhost", "", nullptr, out.data(), 4), RP_EINVAL);
    std::string too_long_host(RP_RESOLVE_HOST_MAX + 1, 'a'), too_long_service(RP_RESOLVE_SERVICE_MAX + 1, 's');
    EXPECT_EQ(Resolve(op, too_long_host.c_str(), "80", nullptr, out.data(), 4), RP_EINVAL);
    EXPECT_EQ(Resolve(op, "localhost", too_long_service.c_str(), nullptr, out.data(), 4), RP_EINVAL);
    for (const char *port : {"65536", "99999999999999999999", "4294967376"})
        EXPECT_EQ(Resolve(op, "localhost", port, nullptr, out.data(), 4), RP_EINVAL) << port;
    EXPECT_EQ(bad_hints([](rp_resolve_hints *x) { x->family = 5; }), RP_EINVAL);
    EXPECT_EQ(bad_hints([](rp_resolve_hints *x) { x->family = -1; }), RP_EINVAL);
    EXPECT_EQ(bad_hints([](rp_resolve_hints *x) { x->family = 2; }), RP_EINVAL) << "AF_INET's value, not RP_AF_INET";
    EXPECT_EQ(bad_hints([](rp_resolve_hints *x) { x->flags = 0x4; }), RP_EINVAL);
    EXPECT_EQ(bad_hints([](rp_resolve_hints *x) { x->flags = 0x80000000u; }), RP_EINVAL);
    EXPECT_EQ(bad_hints([](rp_resolve_hints *x) { x->worker = -2; }), RP_EINVAL);
    rp_resolve_hints past = Hints(0, 0, std::max(1, workers()));
    EXPECT_EQ(Resolve(op, "localhost", "80", &past, out.data(), 4), RP_EINVAL) << "worker index past the last";
    for (size_t i = 0; i < sizeof h.reserved / sizeof h.reserved[0]; i++) {
        rp_resolve_hints x = Hints(0);
        x.reserved[i] = 1;
        EXPECT_EQ(Resolve(op, "localhost", "80", &x, out.data(), 4), RP_EINVAL) << "reserved[" << i << "]";
    }
    if (threaded()) {
        rp_op *nocb = Make<rp_op>();
        rp_op_init(nocb, nullptr, nullptr);
        EXPECT_EQ(rp_resolve(loop, nocb, "localhost", "80", nullptr, out.data(), 4), RP_EINVAL) << "NULL cb";
    }
#if defined(_WIN32)
    EXPECT_EQ(Resolve(op, "bad\xff" "utf8", "80", nullptr, out.data(), 4), RP_EINVAL) << "not UTF-8";
#endif
    // A pending op (here a timer) is busy.
    Op *timer = NewOp();
    ASSERT_EQ(Timeout(timer, RP_SOCKET_INVALID, 60000), 0);
    EXPECT_EQ(Resolve(timer, "localhost", "80", nullptr, out.data(), 4), RP_EBUSY);
    EXPECT_EQ(Cancel(timer), 0);
    ASSERT_TRUE(WaitFor([&] { return timer->done(); }));
    for (const rp_addr &a : out)
        EXPECT_EQ(memcmp(&a, &canary, sizeof a), 0) << "a refused submission wrote into out";
    EXPECT_EQ(op->submits.load(), 0) << "a refused submission was counted";
    // Harmless NULLs.
    rp_resolve_hints_init(nullptr);
    EXPECT_EQ(rp_op_resolved(nullptr), 0u);
    EXPECT_EQ(rp_op_resolved(timer->get()), 0u) << "not a resolve op";
    // While the loop is destroyed, a submission from a callback of a cancelled op is refused.
    auto *rc = Make<std::atomic<int>>(1);
    Op *late = NewOp();
    rp_addr *late_out = Make<rp_addr>();
    Op *t = NewOp(
        [this, rc, late, late_out](rp_op *) { *rc = Resolve(late, "localhost", "80", nullptr, late_out, 1); });
    ASSERT_EQ(Timeout(t, RP_SOCKET_INVALID, 60000), 0);
    Finish();
    EXPECT_EQ(t->result(), RP_ECANCELED);
    EXPECT_EQ(rc->load(), RP_ESHUTDOWN);
}

RPT_INSTANTIATE(ResolveTest);

} // namespace
