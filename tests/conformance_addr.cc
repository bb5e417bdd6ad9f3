// rp_addr: parsing and formatting of IPv4/IPv6 addresses and endpoints, buffer sizes, junk rejected.
#include "harness.h"

#include <cstring>
#include <string>

using namespace rpt;

namespace {

TEST(Addr, ParseFields)
{
    rp_addr a;
    ASSERT_EQ(rp_addr_parse(&a, "127.0.0.1", 8080), 0);
    EXPECT_EQ(a.family, RP_AF_INET);
    EXPECT_EQ(a.port, 8080);
    EXPECT_EQ(a.scope_id, 0u);
    const uint8_t v4[4] = {127, 0, 0, 1};
    EXPECT_EQ(memcmp(a.ip, v4, 4), 0) << "IPv4 bytes in network order";
    ASSERT_EQ(rp_addr_parse(&a, "::1", 443), 0);
    EXPECT_EQ(a.family, RP_AF_INET6);
    EXPECT_EQ(a.port, 443);
    for (int i = 0; i < 15; i++)
        EXPECT_EQ(a.ip[i], 0);
    EXPECT_EQ(a.ip[15], 1);
    ASSERT_EQ(rp_addr_parse(&a, "fe80::1%3", 9), 0);
    EXPECT_EQ(a.scope_id, 3u);
    EXPECT_EQ(a.ip[0], 0xfe);
    EXPECT_EQ(a.ip[1], 0x80);
    ASSERT_EQ(rp_addr_parse_endpoint(&a, "10.1.2.3:65535"), 0);
    EXPECT_EQ(a.family, RP_AF_INET);
    EXPECT_EQ(a.port, 65535);
    EXPECT_EQ(a.ip[3], 3);
    ASSERT_EQ(rp_addr_parse_endpoint(&a, "[::1]:8080"), 0);
    EXPECT_EQ(a.family, RP_AF_INET6);
    EXPECT_EQ(a.port, 8080);
    EXPECT_EQ(a.ip[15], 1);
    ASSERT_EQ(rp_addr_parse_endpoint(&a, "[fe80::2%7]:1"), 0);
    EXPECT_EQ(a.scope_id, 7u);
    EXPECT_EQ(a.port, 1);
    ASSERT_EQ(rp_addr_parse_endpoint(&a, "0.0.0.0:0"), 0);
    EXPECT_EQ(a.port, 0);
}

TEST(Addr, FormatAndRoundTrip)
{
    rp_addr a;
    char text[RP_ADDR_STRLEN];
    ASSERT_EQ(rp_addr_parse(&a, "127.0.0.1", 8080), 0);
    EXPECT_EQ(rp_addr_format(&a, text, sizeof text), (int)strlen("127.0.0.1:8080"));
    EXPECT_STREQ(text, "127.0.0.1:8080");
    ASSERT_EQ(rp_addr_parse(&a, "::1", 8080), 0);
    EXPECT_EQ(rp_addr_format(&a, text, sizeof text), (int)strlen("[::1]:8080"));
    EXPECT_STREQ(text, "[::1]:8080");
    ASSERT_EQ(rp_addr_parse(&a, "fe80::1%2", 9), 0);
    ASSERT_GT(rp_addr_format(&a, text, sizeof text), 0);
    EXPECT_STREQ(text, "[fe80::1%2]:9");

    const char *endpoints[] = {"127.0.0.1:8080", "[::1]:8080",      "0.0.0.0:0",         "255.255.255.255:65535",
                               "[::]:1",         "[2001:db8::1]:53", "[fe80::1:2:3:4%5]:6", "[1:2:3:4:5:6:7:8]:9",
                               "10.0.0.1:443",   "[::ffff:10.1.2.3]:7"};
    for (const char *e : endpoints) {
        rp_addr x, y;
        ASSERT_EQ(rp_addr_parse_endpoint(&x, e), 0) << e;
        int n = rp_addr_format(&x, text, sizeof text);
        ASSERT_GT(n, 0) << e;
        EXPECT_EQ((size_t)n, strlen(text));
        ASSERT_EQ(rp_addr_parse_endpoint(&y, text), 0) << text;
        EXPECT_EQ(x.family, y.family) << e;
        EXPECT_EQ(x.port, y.port) << e;
        EXPECT_EQ(x.scope_id, y.scope_id) << e;
        EXPECT_EQ(memcmp(x.ip, y.ip, x.family == RP_AF_INET ? 4 : 16), 0) << e;
    }
    const char *hosts[] = {"2001:db8::1", "::", "fe80::1:2:3:4", "1:2:3:4:5:6:7:8", "192.168.0.255", "1.2.3.4"};
    for (const char *h : hosts) {
        rp_addr x, y;
        ASSERT_EQ(rp_addr_parse(&x, h, 1234), 0) << h;
        ASSERT_GT(rp_addr_format(&x, text, sizeof text), 0) << h;
        ASSERT_EQ(rp_addr_parse_endpoint(&y, text), 0) << text;
        EXPECT_EQ(memcmp(x.ip, y.ip, 16), 0) << h;
        EXPECT_EQ(y.port, 1234);
    }
}

TEST(Addr, FormatBufferSizes)
{
    rp_addr a;
    char text[RP_ADDR_STRLEN];
    ASSERT_EQ(rp_addr_parse(&a, "1.2.3.4", 5), 0); // "1.2.3.4:5": 9 characters
    EXPECT_EQ(rp_addr_format(&a, text, 10), 9);
    EXPECT_STREQ(text, "1.2.3.4:5");
    EXPECT_EQ(rp_addr_format(&a, text, 9), RP_ENOBUFS) << "no room for the NUL";
    EXPECT_EQ(rp_addr_format(&a, text, 4), RP_ENOBUFS);
    EXPECT_EQ(rp_addr_format(&a, text, 0), RP_ENOBUFS);
    // The longest text fits RP_ADDR_STRLEN.
    rp_addr big;
    memset(&big, 0, sizeof big);
    big.family = RP_AF_INET6;
    big.port = 65535;
    big.scope_id = 4294967295u;
    memset(big.ip, 0xff, 16);
    int n = rp_addr_format(&big, text, sizeof text);
    ASSERT_GT(n, 0) << rp_strerror(n);
    EXPECT_LT(n, RP_ADDR_STRLEN);
    EXPECT_EQ(std::string(text), "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535");
}

TEST(Addr, RejectsJunk)
{
    rp_addr a;
    char text[RP_ADDR_STRLEN];
    const char *junk[] = {"",        "1.2.3",     "256.1.1.1",  "1.2.3.4.5",        ":::",        "1::2::3", "g::1",
                          "12345::", "1:2:3:4:5:6:7:8:9", "fe80::1%", "hello",      "localhost", " 1.2.3.4",
                          "1.2.3.4 ", "1.2.3.4:80", "-1.2.3.4", "1.2.3.4/8"};
    for (const char *s : junk)
        EXPECT_EQ(rp_addr_parse(&a, s, 1), RP_EINVAL) << "\"" << s << "\"";
    const char *bad_endpoints[] = {"",           "1.2.3.4",      "1.2.3.4:",   "1.2.3.4:70000", "1.2.3.4:65536",
                                   "1.2.3.4:-1", "1.2.3.4:8x",   "[::1]",      "[::1]:",        "[::1]:x",
                                   "[::1]:99999", ":80",         "[::1:80",    "::1]:80",       "localhost:80",
                                   "[1.2.3.4.5]:80", "1.2.3.4:80:80", "[]:80"};
    for (const char *s : bad_endpoints)
        EXPECT_EQ(rp_addr_parse_endpoint(&a, s), RP_EINVAL) << "\"" << s << "\"";
    EXPECT_EQ(rp_addr_parse(nullptr, "1.1.1.1", 1), RP_EINVAL);
    EXPECT_EQ(rp_addr_parse(&a, nullptr, 1), RP_EINVAL);
    EXPECT_EQ(rp_addr_parse_endpoint(nullptr, "1.1.1.1:1"), RP_EINVAL);
    EXPECT_EQ(rp_addr_parse_endpoint(&a, nullptr), RP_EINVAL);
    EXPECT_EQ(rp_addr_format(nullptr, text, sizeof text), RP_EINVAL);
    rp_addr_parse(&a, "1.1.1.1", 1);
    int rc = rp_addr_format(&a, nullptr, 0);
    EXPECT_LT(rc, 0) << "a NULL buffer";
    for (uint16_t fam : {0, 5, 99}) {
        a.family = fam;
        EXPECT_EQ(rp_addr_format(&a, text, sizeof text), RP_EINVAL) << "family " << fam;
    }
}

} // namespace
