// rp_sendfile: a range of a file, between an optional head and tail, sent in the socket's send queue like
// any send: every byte checked at the peer, ordered with the sends around it, partial progress reported
// when cancelled, closed or cut short by the file's end, bad input refused.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#if defined(_WIN32)
#include <windows.h>
#else
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

#include "harness.h"

using namespace rpt;

namespace {

// A file of n pattern bytes (seed) in the temporary directory, opened for reading; removed at the end.
class TempFile {
public:
    TempFile(size_t n, uint64_t seed, int tag)
    {
#if defined(_WIN32)
        char dir[MAX_PATH + 1];
        DWORD len = GetTempPathA((DWORD)sizeof dir, dir);
        path_ = std::string(dir, len > 0 && len < sizeof dir ? len : 0) + "rpt-sendfile-" +
                std::to_string((unsigned long)GetCurrentProcessId());
#else
        path_ = "/tmp/rpt-sendfile-" + std::to_string((long)getpid());
#endif
        path_ += "-" + std::to_string(tag) + ".bin";
        data_.resize(n);
        FillPattern(data_.data(), n, seed);
        FILE *f = fopen(path_.c_str(), "wb");
        if (!f || fwrite(data_.data(), 1, n, f) != n || fclose(f) != 0) {
            ADD_FAILURE() << "cannot write " << path_;
            return;
        }
#if defined(_WIN32)
        HANDLE h = CreateFileA(path_.c_str(), GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_DELETE, nullptr,
                               OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, nullptr);
        if (h == INVALID_HANDLE_VALUE)
            ADD_FAILURE() << "cannot open " << path_;
        else
            file_ = (rp_file)(intptr_t)h;
#else
        int fd = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            ADD_FAILURE() << "cannot open " << path_;
        else
            file_ = fd;
#endif
    }
    ~TempFile()
    {
        Close();
        std::remove(path_.c_str());
    }
    TempFile(const TempFile &) = delete;
    TempFile &operator=(const TempFile &) = delete;

    void Close()
    {
        if (file_ == kNone)
            return;
#if defined(_WIN32)
        CloseHandle((HANDLE)(intptr_t)file_);
#else
        close((int)file_);
#endif
        file_ = kNone;
    }

    rp_file file() const { return file_; }
    const unsigned char *data() const { return data_.data(); }
    const std::string &path() const { return path_; }

    static const rp_file kNone = -1;

private:
    std::string path_;
    std::vector<unsigned char> data_;
    rp_file file_ = kNone;
};

class SendFileTest : public LoopTest {
protected:
    // What the peer must receive: the pieces in order.
    static std::vector<unsigned char> Concat(std::initializer_list<std::pair<const unsigned char *, size_t>> parts)
    {
        std::vector<unsigned char> v;
        for (auto &p : parts)
            v.insert(v.end(), p.first, p.first + p.second);
        return v;
    }

    void ExpectStream(Reader *r, const std::vector<unsigned char> &want)
    {
        ASSERT_TRUE(WaitFor([&] { return r->bytes.load() >= want.size() || r->ended.load(); }, 60000));
        std::vector<unsigned char> got = r->Data();
        ASSERT_EQ(got.size(), want.size());
        for (size_t i = 0; i < want.size(); i++)
            ASSERT_EQ(got[i], want[i]) << "byte " << i;
    }
};

TEST_P(SendFileTest, HeadFileAndTailArriveWhole)
{
    TempFile f(1000003, 31, 1);
    rp_socket c, s;
    Pair(&c, &s);
    Reader *r = StartReader(c);
    std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 1000003\r\n\r\n", tail = "-- the end --";
    rp_buf hb = {&head[0], head.size()}, tb = {&tail[0], tail.size()};
    Op *op = NewOp();
    ASSERT_EQ(SendFile(op, s, f.file(), 0, 1000003, &hb, &tb), 0);
    ASSERT_TRUE(WaitFor([&] { return op->done(); }, 60000));
    EXPECT_EQ(op->result(), (int64_t)(head.size() + 1000003 + tail.size()));
    ExpectStream(r, Concat({{(const unsigned char *)head.data(), head.size()},
                            {f.data(), 1000003},
                            {(const unsigned char *)tail.data(), tail.size()}}));
    CloseAndWait(s);
    CloseAndWait(c);
}

TEST_P(SendFileTest, ARangeFromTheMiddleAndEmptyRanges)
{
    TempFile f(400000, 32, 2);
    rp_socket c, s;
    Pair(&c, &s);
    Reader *r = StartReader(c);
    Op *a = NewOp(), *b = NewOp(), *z = NewOp();
    ASSERT_EQ(SendFile(a, s, f.file(), 4097, 300000), 0);
    std::string head = "only a head";
    rp_buf hb = {&head[0], head.size()};
    ASSERT_EQ(SendFile(b, s, f.file(), 123, 0, &hb), 0); // no file bytes at all
    ASSERT_EQ(SendFile(z, s, f.file(), 400000, 0), 0);    // nothing: at the very end of the file
    ASSERT_TRUE(WaitFor([&] { return a->done() && b->done() && z->done(); }, 60000));
    EXPECT_EQ(a->result(), 300000);
    EXPECT_EQ(b->result(), (int64_t)head.size());
    EXPECT_EQ(z->result(), 0);
    ExpectStream(r, Concat({{f.data() + 4097, 300000}, {(const unsigned char *)head.data(), head.size()}}));
    CloseAndWait(s);
    CloseAndWait(c);
}

TEST_P(SendFileTest, OrderedWithTheSendsAroundIt)
{
    TempFile f(200000, 33, 3);
    rp_socket c, s;
    Pair(&c, &s);
    Reader *r = StartReader(c);
    unsigned char *x = NewBuf(70000), *y = NewBuf(5000);
    FillPattern(x, 70000, 34);
    FillPattern(y, 5000, 35);
    Op *s1 = NewOp(), *sf = NewOp(), *s2 = NewOp(), *sf2 = NewOp();
    ASSERT_EQ(Send(s1, s, x, 70000), 0);
    ASSERT_EQ(SendFile(sf, s, f.file(), 0, 200000), 0);
    ASSERT_EQ(Send(s2, s, y, 5000), 0);
    ASSERT_EQ(SendFile(sf2, s, f.file(), 100, 900), 0);
    ASSERT_TRUE(WaitFor([&] { return s1->done() && sf->done() && s2->done() && sf2->done(); }, 60000));
    EXPECT_EQ(sf->result(), 200000);
    EXPECT_EQ(sf2->result(), 900);
    ExpectStream(r, Concat({{x, 70000}, {f.data(), 200000}, {y, 5000}, {f.data() + 100, 900}}));
    CloseAndWait(s);
    CloseAndWait(c);
}

TEST_P(SendFileTest, ALargeFileToAPeerThatReadsLate)
{
    const size_t n = (size_t)(24u << 20);
    TempFile f(n, 36, 4);
    rp_socket c, s;
    Pair(&c, &s);
    Op *op = NewOp();
    ASSERT_EQ(SendFile(op, s, f.file(), 0, n), 0);
    Pump(100);
    EXPECT_FALSE(op->done()) << "24 MiB went out to a peer that does not read";
    Reader *r = StartReader(c);
    ASSERT_TRUE(WaitFor([&] { return op->done(); }, 60000));
    EXPECT_EQ(op->result(), (int64_t)n);
    ExpectStream(r, Concat({{f.data(), n}}));
    CloseAndWait(s);
    CloseAndWait(c);
}

TEST_P(SendFileTest, CancelledPartWayReportsWhatWent)
{
    const size_t n = (size_t)(32u << 20);
    TempFile f(n, 37, 5);
    rp_socket c, s;
    Pair(&c, &s);
    std::string head(1000, 'h');
    rp_buf hb = {&head[0], head.size()};
    Op *op = NewOp();
    ASSERT_EQ(SendFile(op, s, f.file(), 0, n, &hb), 0);
    Pump(100);
    ASSERT_FALSE(op->done());
    ASSERT_EQ(Cancel(op), 0);
    ASSERT_TRUE(WaitFor([&] { return op->done(); }, 30000));
    EXPECT_EQ(op->result(), RP_ECANCELED);
    const size_t sent = (size_t)rp_op_sent(op->get());
    EXPECT_GT(sent, head.size()) << "the head and part of the file went before the cancel";
    EXPECT_LT(sent, head.size() + n);
    // The socket goes on: what was sent, then a send after the cancel, arrive in order.
    unsigned char *after = NewBuf(3000);
    FillPattern(after, 3000, 38);
    ASSERT_EQ(Send(NewOp(), s, after, 3000), 0);
    Reader *r = StartReader(c);
    std::vector<unsigned char> want = Concat({{(const unsigned char *)head.data(), head.size()}, {f.data(), n}});
    want.resize(sent);
    want.insert(want.end(), after, after + 3000);
    ExpectStream(r, want);
    CloseAndWait(s);
    CloseAndWait(c);
}

TEST_P(SendFileTest, CloseWhileSendingCompletesIt)
{
    const size_t n = (size_t)(32u << 20);
    TempFile f(n, 39, 6);
    rp_socket c, s;
    Pair(&c, &s);
    Op *op = NewOp();
    ASSERT_EQ(SendFile(op, s, f.file(), 0, n), 0);
    Pump(50);
    Op *cl = NewOp();
    ASSERT_EQ(Close(cl, s), 0);
    ASSERT_TRUE(WaitFor([&] { return op->done() && cl->done(); }, 30000));
    EXPECT_EQ(op->result(), RP_ECANCELED);
    EXPECT_EQ(cl->result(), 0);
    CloseAndWait(c);
}

TEST_P(SendFileTest, ADeadlineEndsASendTheClientDoesNotTake)
{
    const size_t n = (size_t)(32u << 20);
    TempFile f(n, 43, 10);
    rp_socket c, s;
    Pair(&c, &s);
    Op *op = NewOp();
    ASSERT_EQ(rp_op_set_timeout(op->get(), 200), 0);
    ASSERT_EQ(SendFile(op, s, f.file(), 0, n), 0);
    ASSERT_TRUE(WaitFor([&] { return op->done(); }, 30000));
    EXPECT_EQ(op->result(), RP_ETIMEDOUT);
    const size_t sent = (size_t)rp_op_sent(op->get());
    EXPECT_LT(sent, n);
    // What went before the deadline is exactly what the peer reads.
    Op *sh = NewOp();
    ASSERT_EQ(Shutdown(sh, s), 0);
    Reader *r = StartReader(c);
    ASSERT_TRUE(WaitFor([&] { return r->ended.load(); }, 30000));
    std::vector<unsigned char> got = r->Data();
    ASSERT_EQ(got.size(), sent);
    EXPECT_EQ(memcmp(got.data(), f.data(), sent), 0);
    CloseAndWait(s);
    CloseAndWait(c);
}

TEST_P(SendFileTest, AFileShorterThanTheRangeEndsWithWhatItHad)
{
    TempFile f(1000, 40, 7);
    rp_socket c, s;
    Pair(&c, &s);
    Reader *r = StartReader(c);
    std::string head = "head:";
    rp_buf hb = {&head[0], head.size()};
    Op *op = NewOp();
    ASSERT_EQ(SendFile(op, s, f.file(), 200, 5000, &hb), 0);
    ASSERT_TRUE(WaitFor([&] { return op->done(); }));
    EXPECT_EQ(op->result(), RP_ENODATA);
    EXPECT_EQ(rp_op_sent(op->get()), (int64_t)(head.size() + 800));
    // The socket is still usable and the stream is exact.
    ASSERT_EQ(Send(NewOp(), s, "!", 1), 0);
    ExpectStream(r, Concat({{(const unsigned char *)head.data(), head.size()},
                            {f.data() + 200, 800},
                            {(const unsigned char *)"!", 1}}));
    CloseAndWait(s);
    CloseAndWait(c);
}

#if !defined(_WIN32)
TEST_P(SendFileTest, AFileNotOpenForReadingFailsTheSend)
{
    TempFile f(100, 42, 9);
    int wr = open(f.path().c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_GE(wr, 0);
    rp_socket c, s;
    Pair(&c, &s);
    Op *op = NewOp();
    ASSERT_EQ(SendFile(op, s, wr, 0, 10), 0);
    ASSERT_TRUE(WaitFor([&] { return op->done(); }));
    EXPECT_EQ(op->result(), RP_EBADF);
    EXPECT_EQ(rp_op_sent(op->get()), 0);
    close(wr);
    CloseAndWait(s);
    CloseAndWait(c);
}
#endif

TEST_P(SendFileTest, BadInputIsRefused)
{
    TempFile f(100, 41, 8);
    rp_socket c, s;
    Pair(&c, &s);
    Op *op = NewOp();
    rp_buf null_head = {nullptr, 5};
    EXPECT_EQ(rp_sendfile(loop, op->get(), s, f.file(), 0, 10, nullptr, nullptr, 1), RP_EINVAL);
    EXPECT_EQ(rp_sendfile(loop, op->get(), s, f.file(), 0, 10, &null_head, nullptr, 0), RP_EINVAL);
    EXPECT_EQ(rp_sendfile(loop, op->get(), s, f.file(), 0, 10, nullptr, &null_head, 0), RP_EINVAL);
    EXPECT_EQ(rp_sendfile(loop, op->get(), s, f.file(), UINT64_MAX - 5, 10, nullptr, nullptr, 0), RP_EINVAL);
    EXPECT_EQ(rp_sendfile(loop, op->get(), s, f.file(), 0, UINT64_MAX, nullptr, nullptr, 0), RP_EINVAL);
    EXPECT_EQ(rp_sendfile(nullptr, op->get(), s, f.file(), 0, 10, nullptr, nullptr, 0), RP_EINVAL);
    EXPECT_EQ(rp_sendfile(loop, nullptr, s, f.file(), 0, 10, nullptr, nullptr, 0), RP_EINVAL);
    EXPECT_EQ(rp_sendfile(loop, op->get(), s, (rp_file)-1, 0, 10, nullptr, nullptr, 0), RP_EBADF);
    uint16_t port;
    rp_socket ls = Listen(&port);
    EXPECT_EQ(rp_sendfile(loop, op->get(), ls, f.file(), 0, 10, nullptr, nullptr, 0), RP_EINVAL);
    rp_socket u = UdpBind("127.0.0.1");
    EXPECT_EQ(rp_sendfile(loop, op->get(), u, f.file(), 0, 10, nullptr, nullptr, 0), RP_EINVAL);
#if !defined(_WIN32)
    // Not a regular file: a directory, a pipe.
    int dir = open("/tmp", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(dir, 0);
    EXPECT_EQ(rp_sendfile(loop, op->get(), s, dir, 0, 10, nullptr, nullptr, 0), RP_EINVAL);
    close(dir);
    int pair[2];
    ASSERT_EQ(pipe(pair), 0);
    EXPECT_EQ(rp_sendfile(loop, op->get(), s, pair[0], 0, 10, nullptr, nullptr, 0), RP_EINVAL);
    close(pair[0]);
    close(pair[1]);
#else
    // Not a file: a pipe. A file opened without FILE_SHARE_READ cannot be reopened for reading.
    HANDLE rd, wrp;
    ASSERT_TRUE(CreatePipe(&rd, &wrp, nullptr, 0));
    EXPECT_EQ(rp_sendfile(loop, op->get(), s, (rp_file)(intptr_t)rd, 0, 10, nullptr, nullptr, 0), RP_EINVAL);
    CloseHandle(rd);
    CloseHandle(wrp);
    std::string excl = f.path() + ".excl";
    HANDLE x = CreateFileA(excl.c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr, CREATE_ALWAYS,
                           FILE_ATTRIBUTE_NORMAL, nullptr);
    ASSERT_NE(x, INVALID_HANDLE_VALUE);
    EXPECT_EQ(rp_sendfile(loop, op->get(), s, (rp_file)(intptr_t)x, 0, 10, nullptr, nullptr, 0), RP_EACCES);
    CloseHandle(x);
    DeleteFileA(excl.c_str());
#endif
    CloseAndWait(u);
    CloseAndWait(ls);
    Op *sh = NewOp();
    ASSERT_EQ(Shutdown(sh, s), 0);
    ASSERT_TRUE(WaitFor([&] { return sh->done(); }));
    EXPECT_EQ(rp_sendfile(loop, op->get(), s, f.file(), 0, 10, nullptr, nullptr, 0), RP_ESHUTDOWN);
    CloseAndWait(s);
    EXPECT_EQ(rp_sendfile(loop, op->get(), s, f.file(), 0, 10, nullptr, nullptr, 0), RP_EBADF);
    EXPECT_EQ(rp_op_pending(op->get()), 0);
    CloseAndWait(c);
}

RPT_INSTANTIATE(SendFileTest);

} // namespace
