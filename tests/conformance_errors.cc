// rp_strerror: every RP_E* code has its own name; unknown codes have one too.
#include "harness.h"

#include <climits>
#include <cstring>
#include <set>
#include <string>

using namespace rpt;

namespace {

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

} // namespace
