// Name resolution against lookups that never finish in time: every lookup of this process waits ten
// minutes before it reports (RINGPORT_RESOLVE_DELAY_MS, set before main), as a getaddrinfo blocked on an
// unreachable name server would. Cancel, deadlines (rp_op_set_timeout) and rp_loop_destroy must still
// complete every lookup at once, with RP_ECANCELED / RP_ETIMEDOUT, and never wait for the resolver: a
// wait would hang the test until ctest's timeout. Numeric hosts need no lookup and are not delayed.
#include "harness.h"

#include <cstdlib>
#include <string>
#include <vector>

using namespace rpt;

namespace {

// Before main, so before any thread exists: the library reads it once, at its first lookup.
const bool kDelaySet = [] {
#if defined(_WIN32)
    return _putenv_s("RINGPORT_RESOLVE_DELAY_MS", "600000") == 0;
#else
    return setenv("RINGPORT_RESOLVE_DELAY_MS", "600000", 1) == 0;
#endif
}();

const char *const kServices[] = {"http", "https", "ssh", "smtp", "ftp", "telnet", "domain", "pop3", "imap2", "ntp"};

class SlowResolve : public LoopTest {
protected:
    struct Lookup {
        Op *op = nullptr;
        std::vector<rp_addr> out;
    };

    Lookup *Submit(const char *host, const char *service = "80", const rp_resolve_hints *hints = nullptr)
    {
        Lookup *l = Make<Lookup>();
        l->op = NewOp();
        l->out.assign(4, rp_addr{});
        EXPECT_EQ(Resolve(l->op, host, service, hints, l->out.data(), l->out.size()), 0) << host;
        return l;
    }
};

TEST_P(SlowResolve, CancelCompletesAtOnceWithCanceledWhileTheLookupRuns)
{
    ASSERT_TRUE(kDelaySet);
    Lookup *a = Submit("localhost");
    Lookup *b = Submit("localhost"); // shares a's lookup
    Lookup *c = Submit("localhost", "443");
    Pump(20); // the lookup is with the resolver now
    EXPECT_FALSE(a->op->done());
    ASSERT_EQ(Cancel(a->op), 0);
    ASSERT_TRUE(WaitFor([&] { return a->op->done(); })) << "the cancel waited for the lookup";
    EXPECT_EQ(a->op->result(), RP_ECANCELED);
    EXPECT_FALSE(b->op->done()) << "the others still wait for the shared lookup";
    EXPECT_FALSE(c->op->done());
    ASSERT_EQ(Cancel(b->op), 0);
    ASSERT_EQ(Cancel(c->op), 0);
    ASSERT_TRUE(WaitFor([&] { return b->op->done() && c->op->done(); }));
    EXPECT_EQ(b->op->result(), RP_ECANCELED);
    EXPECT_EQ(c->op->result(), RP_ECANCELED);
    for (Lookup *l : {a, b, c})
        EXPECT_EQ(l->op->completions.load(), 1);
    // More lookups than the resolver has threads (distinct by their service names; all answered by the
    // hosts and services files, should one ever run): the ones still queued go as well.
    std::vector<Lookup *> many;
    for (const char *service : kServices)
        many.push_back(Submit("localhost", service));
    Pump(10);
    for (Lookup *l : many)
        ASSERT_EQ(Cancel(l->op), 0);
    ASSERT_TRUE(WaitFor([&] {
        for (Lookup *l : many)
            if (!l->op->done())
                return false;
        return true;
    }));
    for (Lookup *l : many)
        EXPECT_EQ(l->op->result(), RP_ECANCELED);
    // A numeric host needs no lookup: not delayed.
    Lookup *numeric = Submit("127.0.0.1", "80");
    ASSERT_TRUE(WaitFor([&] { return numeric->op->done(); }));
    EXPECT_EQ(numeric->op->result(), 1);
}

TEST_P(SlowResolve, ADeadlineEndsTheLookupWithTimedOut)
{
    Lookup *l = Make<Lookup>();
    l->op = NewOp();
    l->out.assign(2, rp_addr{});
    ASSERT_EQ(rp_op_set_timeout(l->op->get(), 30), 0);
    ASSERT_EQ(Resolve(l->op, "localhost", "80", nullptr, l->out.data(), 2), 0);
    ASSERT_TRUE(WaitFor([&] { return l->op->done(); }));
    EXPECT_EQ(l->op->result(), RP_ETIMEDOUT);
    EXPECT_EQ(rp_op_resolved(l->op->get()), 0u);
    // The deadline stays on the record; a numeric host beats it.
    ASSERT_EQ(Resolve(l->op, "::1", "80", nullptr, l->out.data(), 2), 0);
    ASSERT_TRUE(WaitFor([&] { return l->op->done(); }));
    EXPECT_EQ(l->op->result(), 1);
}

TEST_P(SlowResolve, DestroyCompletesLookupsWithoutWaitingForThem)
{
    std::vector<Lookup *> v;
    for (int i = 0; i < 6; i++)
        v.push_back(Submit(i % 2 ? "127.0.0.1" : "localhost", kServices[i]));
    Pump(10);
    Finish(); // would hang for ten minutes if it waited for a lookup
    for (Lookup *l : v)
        EXPECT_EQ(l->op->result(), RP_ECANCELED);
    // A new loop: the resolver starts over (its threads of before are still inside their lookups).
    ASSERT_EQ(CreateLoop(), 0);
    Lookup *again = Submit("localhost");
    Lookup *numeric = Submit("::1", "1");
    ASSERT_TRUE(WaitFor([&] { return numeric->op->done(); }));
    EXPECT_EQ(numeric->op->result(), 1);
    EXPECT_FALSE(again->op->done());
    // Destroyed with that lookup pending too (its Finish is in TearDown).
}

RPT_INSTANTIATE(SlowResolve);

} // namespace
