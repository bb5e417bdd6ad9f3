// rp_strerror: every RP_E* code has its own name; unknown codes have one too.
#include "harness.h"

#include <climits>
#include <cstring>
#include <set>
#include <string>

using namespace rpt;

namespace {

// The most negative code of RP_ERRNO_MAP (the list grows at its end).
constexpr int LowestCode()
{
    int lowest = 0;
#define RPT_LOWEST_(name, value, message) lowest = (value) < lowest ? (value) : lowest;
    RP_ERRNO_MAP(RPT_LOWEST_)
#undef RPT_LOWEST_
    return lowest;
}

TEST(Errors, EveryCodeHasADistinctName)
{
    std::set<std::string> seen;
    for (int code = RP_EINVAL; code >= LowestCode(); code--) {
        const char *s = rp_strerror(code);
        ASSERT_NE(s, nullptr) << code;
        EXPECT_STRNE(s, "unknown error") << code;
        EXPECT_GT(strlen(s), 0u) << code;
        EXPECT_TRUE(seen.insert(s).second) << "code " << code << " shares its name \"" << s << "\"";
    }
    for (int code : {-9999, LowestCode() - 1, 1, 12345, INT_MIN, INT_MAX}) {
        const char *s = rp_strerror(code);
        ASSERT_NE(s, nullptr) << code;
        EXPECT_STREQ(s, "unknown error") << code;
    }
    EXPECT_NE(rp_strerror(RP_OK), nullptr);
}

} // namespace
