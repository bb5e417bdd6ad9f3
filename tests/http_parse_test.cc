// samples/http_parse.c: the HTTP request head, request targets as paths, Range and dates, with every
// malformed case the server must answer with 400, 404, 416, 431, 501 or 505 rather than guess.
#include <gtest/gtest.h>

#include <string>

extern "C" {
#include "http_parse.h"
}

namespace {

long Parse(const std::string &s, http_request *r, size_t max_head = 8192)
{
    return http_parse_request(s.data(), s.size(), max_head, r);
}

TEST(HttpHead, ASimpleGetAndWhatItSays)
{
    http_request r;
    std::string s = "GET /index.html HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\n"
                    "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\nNEXT";
    ASSERT_EQ(Parse(s, &r), (long)s.size() - 4);
    EXPECT_EQ(r.method, HTTP_GET);
    EXPECT_EQ(std::string(r.target, r.target_len), "/index.html");
    EXPECT_EQ(r.minor, 1);
    EXPECT_EQ(r.keep_alive, 1);
    EXPECT_EQ(std::string(r.range, r.range_len), "bytes=0-9");
    EXPECT_EQ(std::string(r.if_modified_since, r.if_modified_since_len), "Sun, 06 Nov 1994 08:49:37 GMT");
    EXPECT_EQ(r.content_length, 0u);
}

TEST(HttpHead, EveryPrefixIsIncompleteAndPipelinedRequestsFollowEachOther)
{
    std::string one = "HEAD /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    http_request r;
    for (size_t n = 0; n < one.size(); n++)
        ASSERT_EQ(http_parse_request(one.data(), n, 8192, &r), HTTP_INCOMPLETE) << n;
    std::string two = one + "GET /b HTTP/1.0\r\n\r\n";
    long a = Parse(two, &r);
    ASSERT_EQ(a, (long)one.size());
    EXPECT_EQ(r.method, HTTP_HEAD);
    EXPECT_EQ(r.keep_alive, 0);
    long b = http_parse_request(two.data() + a, two.size() - (size_t)a, 8192, &r);
    ASSERT_EQ(b, (long)(two.size() - one.size()));
    EXPECT_EQ(r.minor, 0);
    EXPECT_EQ(r.keep_alive, 0) << "HTTP/1.0 closes unless asked otherwise";
}

TEST(HttpHead, ConnectionTokensAndLenientLineEnds)
{
    http_request r;
    EXPECT_GT(Parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r), 0);
    EXPECT_EQ(r.keep_alive, 1);
    EXPECT_GT(Parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade, CLOSE\r\n\r\n", &r), 0);
    EXPECT_EQ(r.keep_alive, 0);
    EXPECT_GT(Parse("\r\n\r\nGET / HTTP/1.1\nHost: h\n\n", &r), 0) << "leading empty lines, bare LFs";
    EXPECT_GT(Parse("GET / HTTP/1.1\r\nHost:h\r\nX-Empty:\r\nX-Tab:\tv\t\r\n\r\n", &r), 0);
    EXPECT_GT(Parse("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", &r), 0);
    EXPECT_EQ(r.method, HTTP_OTHER);
}

TEST(HttpHead, MalformedHeadsAre400)
{
    const char *bad[] = {
        "GET\r\n\r\n",                                   // no target
        "GET  / HTTP/1.1\r\nHost: h\r\n\r\n",            // two spaces
        "GET / HTTP/1.1 \r\nHost: h\r\n\r\n",            // trailing space
        "GET /\r\nHost: h\r\n\r\n",                      // no version (HTTP/0.9 is not served)
        "GET / http/1.1\r\nHost: h\r\n\r\n",             // lower-case protocol name
        "GET / HTTP/1\r\nHost: h\r\n\r\n",               // malformed version
        "G(T / HTTP/1.1\r\nHost: h\r\n\r\n",             // not a token
        "GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n",        // control in the target
        "GET / HTTP/1.1\r\nHost : h\r\n\r\n",            // whitespace before the colon
        "GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n",  // obsolete line folding
        "GET / HTTP/1.1\r\nHost h\r\n\r\n",              // no colon
        "GET / HTTP/1.1\r\n: v\r\nHost: h\r\n\r\n",      // no name
        "GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n",       // a CR inside a line
        "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 1\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",                        // HTTP/1.1 without Host
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",  // two Hosts
    };
    for (const char *s : bad) {
        http_request r;
        EXPECT_EQ(Parse(s, &r), HTTP_BAD_REQUEST) << s;
    }
    std::string nul = std::string("GET / HTTP/1.1\r\nHost: h\r\nX: a") + '\0' + "b\r\n\r\n";
    http_request r;
    EXPECT_EQ(Parse(nul, &r), HTTP_BAD_REQUEST) << "a NUL in a field value";
}

TEST(HttpHead, VersionsBodiesAndSizes)
{
    http_request r;
    EXPECT_EQ(Parse("GET / HTTP/2.0\r\n\r\n", &r), HTTP_BAD_VERSION);
    EXPECT_EQ(Parse("GET / HTTP/1.2\r\nHost: h\r\n\r\n", &r), HTTP_BAD_VERSION);
    EXPECT_EQ(Parse("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", &r), HTTP_NOT_IMPLEMENTED);
    EXPECT_GT(Parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\nContent-Length: 12\r\n\r\n", &r), 0);
    EXPECT_EQ(r.content_length, 12u);
    // A head over the limit: 431 as soon as that is certain, complete or not.
    std::string big = "GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(9000, 'a') + "\r\n\r\n";
    EXPECT_EQ(Parse(big, &r), HTTP_TOO_LARGE);
    EXPECT_EQ(Parse(big.substr(0, 8500), &r), HTTP_TOO_LARGE);
    EXPECT_EQ(Parse(std::string(9000, '\n'), &r), HTTP_TOO_LARGE) << "endless empty lines";
    std::string fits = "GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(8000, 'a') + "\r\n\r\n";
    EXPECT_GT(Parse(fits, &r), 0);
}

std::string Path(const std::string &target, int *rc, size_t cap = 256)
{
    char out[1024];
    *rc = http_target_path(target.data(), target.size(), out, cap);
    return *rc >= 0 ? std::string(out) : std::string();
}

TEST(HttpTarget, PathsAreNormalised)
{
    int rc;
    EXPECT_EQ(Path("/", &rc), "");
    EXPECT_EQ(rc, 0);
    EXPECT_EQ(Path("/a/b.html", &rc), "a/b.html");
    EXPECT_EQ(Path("//a///b/", &rc), "a/b");
    EXPECT_EQ(Path("/./a/./b/.", &rc), "a/b");
    EXPECT_EQ(Path("/a%20b/%41.txt?x=1#f", &rc), "a b/A.txt");
    EXPECT_EQ(Path("http://example.com/x/y?q", &rc), "x/y");
    EXPECT_EQ(Path("HTTP://example.com", &rc), "");
    EXPECT_EQ(Path("/...", &rc), "...") << "three dots are a name";
    EXPECT_EQ(Path("/a..b/..c", &rc), "a..b/..c");
    EXPECT_EQ(Path("/%252e%252e/x", &rc), "%2e%2e/x") << "decoded once only";
}

TEST(HttpTarget, TraversalAndStrangeBytesAre404)
{
    const char *out_of_root[] = {"/..",         "/../etc/passwd", "/a/../../b", "/%2e%2e/x",  "/%2E%2e/x",
                                 "/a/%2e%2E",   "/..%2fx",        "/a%2f..",    "/%00",       "/a%00.html",
                                 "/a%0a",       "/a\\..\\b",      "/%5c..%5cb", "/c:/windows", "/a%3a%3adata",
                                 "/a/%7f"};
    for (const char *t : out_of_root) {
        int rc;
        Path(t, &rc);
        EXPECT_EQ(rc, -404) << t;
    }
    int rc;
    Path("*", &rc);
    EXPECT_EQ(rc, -400);
    Path("a/b", &rc);
    EXPECT_EQ(rc, -400);
    Path("/a%zz", &rc);
    EXPECT_EQ(rc, -400);
    Path("/a%2", &rc);
    EXPECT_EQ(rc, -400);
    Path("/" + std::string(300, 'x'), &rc, 256);
    EXPECT_EQ(rc, -414);
}

TEST(HttpRange, SingleRangesAndWhatIsIgnored)
{
    uint64_t a = 0, b = 0;
    auto R = [&](const char *v, uint64_t size) { return http_parse_range(v, strlen(v), size, &a, &b); };
    EXPECT_EQ(R("bytes=0-9", 100), 1);
    EXPECT_EQ(a, 0u);
    EXPECT_EQ(b, 9u);
    EXPECT_EQ(R("bytes=90-200", 100), 1);
    EXPECT_EQ(b, 99u) << "the end is clamped";
    EXPECT_EQ(R("bytes=50-", 100), 1);
    EXPECT_EQ(a, 50u);
    EXPECT_EQ(b, 99u);
    EXPECT_EQ(R("bytes=-10", 100), 1);
    EXPECT_EQ(a, 90u);
    EXPECT_EQ(R("bytes=-1000", 100), 1);
    EXPECT_EQ(a, 0u);
    EXPECT_EQ(R("Bytes= 5-5 ", 100), 1);
    EXPECT_EQ(a, 5u);
    EXPECT_EQ(b, 5u);
    EXPECT_EQ(R("bytes=100-", 100), -416);
    EXPECT_EQ(R("bytes=100-200", 100), -416);
    EXPECT_EQ(R("bytes=-0", 100), -416);
    EXPECT_EQ(R("bytes=0-0", 0), -416);
    for (const char *ignored : {"items=0-1", "bytes=1-0", "bytes=0-1,5-6", "bytes=x-1", "bytes=1-y", "bytes=-",
                                "bytes=", "bytes=1", "bytes=99999999999999999999-"})
        EXPECT_EQ(R(ignored, 100), 0) << ignored;
}

TEST(HttpDate, TheThreeFormsAndRoundTrips)
{
    const int64_t t = 784111777; // Sun, 06 Nov 1994 08:49:37 GMT
    auto D = [](const char *v) { return http_parse_date(v, strlen(v)); };
    EXPECT_EQ(D("Sun, 06 Nov 1994 08:49:37 GMT"), t);
    EXPECT_EQ(D("Sunday, 06-Nov-94 08:49:37 GMT"), t);
    EXPECT_EQ(D("Sun Nov  6 08:49:37 1994"), t);
    EXPECT_EQ(D("Thu, 29 Feb 2024 00:00:00 GMT"), 1709164800);
    for (const char *bad : {"", "yesterday", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 32 Nov 1994 08:49:37 GMT",
                            "Sun, 06 Xyz 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT",
                            "Sun, 29 Feb 2023 00:00:00 GMT", "Sun, 06 Nov 1969 08:49:37 GMT"})
        EXPECT_EQ(D(bad), -1) << bad;
    char out[30];
    http_format_date(t, out);
    EXPECT_STREQ(out, "Sun, 06 Nov 1994 08:49:37 GMT");
    for (int64_t x : {(int64_t)0, (int64_t)951782400, (int64_t)1709164800, (int64_t)4102444799}) {
        http_format_date(x, out);
        EXPECT_EQ(D(out), x) << out;
    }
}

TEST(HttpMime, ByExtension)
{
    EXPECT_STREQ(http_mime_type("a/b/index.HTML"), "text/html; charset=utf-8");
    EXPECT_STREQ(http_mime_type("x.png"), "image/png");
    EXPECT_STREQ(http_mime_type("archive.tar.gz"), "application/gzip");
    EXPECT_STREQ(http_mime_type(".htaccess"), "application/octet-stream");
    EXPECT_STREQ(http_mime_type("dir.d/noext"), "application/octet-stream");
    EXPECT_STREQ(http_mime_type(""), "application/octet-stream");
}

} // namespace
