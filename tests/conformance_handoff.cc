// Sockets handed over a channel (rp_send_socket / rp_recv_socket): connections keep the bytes in flight,
// listeners keep accepting, messages keep their data, hostile channel input (garbage, missing or extra
// descriptors, truncated control data, an early end) is reported without leaking a descriptor.
#include <cstring>
#include <string>

#if defined(_WIN32)
#include <winsock2.h>
#else
#include <dirent.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>
#endif

#include "harness.h"

using namespace rpt;

namespace {

#if !defined(_WIN32)
// Open descriptors of this process.
int OpenFds()
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        d = opendir("/dev/fd");
    if (!d)
        return -1;
    while (struct dirent *e = readdir(d))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}
#endif

class HandoffTest : public LoopTest {
protected:
    rp_socket ch[2] = {RP_SOCKET_INVALID, RP_SOCKET_INVALID};

    void SetUp() override
    {
        LoopTest::SetUp();
        if (IsSkipped() || !loop)
            return; /* a backend this build or machine lacks */
        ASSERT_EQ(rp_socketpair(loop, ch, -1), 0);
    }

    // Sends sock with data over ch[0] and waits for the send.
    void SendAndWait(rp_socket sock, const std::string &data)
    {
        Op *op = NewOp();
        int err = SendSocket(op, ch[0], sock, data.data(), data.size());
        ASSERT_EQ(err, 0) << rp_strerror(err);
        ASSERT_TRUE(WaitFor([&] { return op->done(); }));
        ASSERT_EQ(op->result(), (int64_t)data.size()) << rp_strerror((int)op->result());
    }

    // Submits a receive of one message on ch[1] into buf.
    Op *RecvOn(void *buf, size_t cap, int worker = -1)
    {
        Op *op = NewOp();
        int err = RecvSocket(op, ch[1], buf, cap, worker);
        if (err)
            ADD_FAILURE() << "rp_recv_socket: " << rp_strerror(err);
        return op;
    }

    // Receives one message and returns its socket, checking its data.
    rp_socket Receive(const std::string &want, int worker = -1)
    {
        unsigned char *buf = NewBuf(RP_XFER_DATA_MAX);
        Op *op = RecvOn(buf, RP_XFER_DATA_MAX, worker);
        if (!WaitFor([&] { return op->done(); })) {
            ADD_FAILURE() << "rp_recv_socket never completed";
            return RP_SOCKET_INVALID;
        }
        EXPECT_EQ(op->result(), (int64_t)want.size()) << rp_strerror((int)op->result());
        EXPECT_EQ(std::string((char *)buf, op->result() > 0 ? (size_t)op->result() : 0), want);
        EXPECT_NE(op->socket(), RP_SOCKET_INVALID);
        return op->socket();
    }

    void Check(Reader *r, const unsigned char *want, size_t n)
    {
        ASSERT_TRUE(WaitFor([&] { return r->bytes.load() >= n; }));
        std::vector<unsigned char> got = r->Data();
        ASSERT_EQ(got.size(), n);
        EXPECT_EQ(memcmp(got.data(), want, n), 0);
    }
};

TEST_P(HandoffTest, ConnectionKeepsTheBytesInFlight)
{
    rp_socket c, s;
    Pair(&c, &s);
    // Bytes the server has not read yet when it hands the connection over.
    const size_t n1 = 100000, n2 = 50000;
    unsigned char *data = NewBuf(n1 + n2);
    FillPattern(data, n1 + n2, 21);
    Op *snd = NewOp();
    ASSERT_EQ(Send(snd, c, data, n1), 0);
    ASSERT_TRUE(WaitFor([&] { return snd->done(); }));
    SendAndWait(s, "session 42");
    CloseAndWait(s); // the old owner lets go of its copy
    rp_socket s2 = Receive("session 42", threaded() ? 1 : -1);
    ASSERT_NE(s2, RP_SOCKET_INVALID);
    if (threaded()) {
        EXPECT_EQ(rp_socket_worker(loop, s2), 1);
    }
    Reader *r = StartReader(s2);
    Op *snd2 = NewOp();
    ASSERT_EQ(Send(snd2, c, data + n1, n2), 0);
    Check(r, data, n1 + n2);
    // And the other way: the adopted socket sends to the client.
    Reader *back = StartReader(c);
    Op *snd3 = NewOp();
    ASSERT_EQ(Send(snd3, s2, data, 7777), 0);
    Check(back, data, 7777);
    rp_addr peer;
    EXPECT_EQ(rp_socket_peer_addr(loop, s2, &peer), 0);
    CloseAndWait(s2);
    ASSERT_TRUE(WaitFor([&] { return back->ended.load(); }));
    CloseAndWait(c);
}

TEST_P(HandoffTest, AnAdoptedConnectionMovesBetweenWorkers)
{
    // IOCP: the adopted socket shares the sender's completion port and runs with event-signalled
    // requests, which post to whichever worker owns it now.
    rp_socket c, s;
    Pair(&c, &s);
    SendAndWait(s, "");
    CloseAndWait(s);
    rp_socket s2 = Receive("", 0);
    ASSERT_NE(s2, RP_SOCKET_INVALID);
    const size_t n = 3 * 40000;
    unsigned char *data = NewBuf(n);
    FillPattern(data, n, 23);
    Reader *back = StartReader(c);
    for (int round = 0; round < 3; round++) {
        int to = threaded() ? (round + 1) % 2 : 0;
        int ran_on = -1;
        ASSERT_EQ(MoveAndWait(s2, to, &ran_on), 0);
        EXPECT_EQ(ran_on, to);
        // Bytes sent before the receive starts, then read on the new worker, then echoed back.
        ASSERT_EQ(Send(NewOp(), c, data + round * 40000, 40000), 0);
        Reader *r = StartReader(s2);
        Check(r, data + round * 40000, 40000);
        EXPECT_EQ(r->op->last_worker.load(), to);
        ASSERT_EQ(Cancel(r->op), 0);
        ASSERT_TRUE(WaitFor([&] { return r->ended.load(); }));
        Op *echo = NewOp();
        ASSERT_EQ(Send(echo, s2, data + round * 40000, 40000), 0);
        ASSERT_TRUE(WaitFor([&] { return echo->done() && back->bytes.load() >= (uint64_t)(round + 1) * 40000; }));
        ASSERT_EQ(echo->result(), 40000);
    }
    std::vector<unsigned char> got = back->Data();
    ASSERT_EQ(got.size(), n);
    EXPECT_EQ(memcmp(got.data(), data, n), 0);
    CloseAndWait(s2);
    ASSERT_TRUE(WaitFor([&] { return back->ended.load(); }));
    CloseAndWait(c);
}

TEST_P(HandoffTest, ListenerKeepsAccepting)
{
    uint16_t port;
    rp_socket ls = Listen(&port);
    SendAndWait(ls, "");
    CloseAndWait(ls);
    rp_socket ls2 = Receive("");
    ASSERT_NE(ls2, RP_SOCKET_INVALID);
    Op *acc = NewOp(), *con = NewOp();
    ASSERT_EQ(Accept(acc, ls2), 0);
    rp_addr a;
    ASSERT_EQ(rp_addr_parse(&a, "127.0.0.1", port), 0);
    ASSERT_EQ(Connect(con, a), 0);
    ASSERT_TRUE(WaitFor([&] { return acc->done() && con->done(); }));
    ASSERT_EQ(acc->result(), 0);
    ASSERT_EQ(con->result(), 0);
    unsigned char *data = NewBuf(5000);
    FillPattern(data, 5000, 22);
    Reader *r = StartReader(acc->socket());
    ASSERT_EQ(Send(NewOp(), con->socket(), data, 5000), 0);
    Check(r, data, 5000);
    int64_t nodelay = 0;
    EXPECT_EQ(rp_socket_get_option(loop, acc->socket(), RP_SO_TCP_NODELAY, &nodelay), 0);
    EXPECT_EQ(nodelay, 1) << "an adopted listener's connections get TCP_NODELAY like any other";
    CloseAndWait(acc->socket());
    CloseAndWait(con->socket());
    CloseAndWait(ls2);
}

TEST_P(HandoffTest, UnixConnectionsAndManyMessagesInARow)
{
    // Each message: a socketpair end with its own data, of every size up to the maximum.
    const int n = 24;
    std::vector<rp_socket> keep;
    std::vector<std::string> texts;
    for (int i = 0; i < n; i++) {
        rp_socket p[2];
        ASSERT_EQ(rp_socketpair(loop, p, -1), 0);
        size_t len = i == n - 1 ? RP_XFER_DATA_MAX : (size_t)i * 977;
        std::string text(len, '\0');
        FillPattern((unsigned char *)&text[0], len, 30 + (uint64_t)i);
        ASSERT_EQ(SendSocket(NewOp(), ch[0], p[1], text.data(), text.size()), 0);
        keep.push_back(p[0]);
        texts.push_back(text);
        EXPECT_EQ(Close(nullptr, p[1]), 0); // at once: the message holds its own descriptor
    }
    for (int i = 0; i < n; i++) {
        rp_socket got = Receive(texts[i]);
        ASSERT_NE(got, RP_SOCKET_INVALID);
        unsigned char *data = NewBuf(3000);
        FillPattern(data, 3000, 50 + (uint64_t)i);
        Reader *r = StartReader(keep[i]);
        ASSERT_EQ(Send(NewOp(), got, data, 3000), 0);
        Check(r, data, 3000);
        CloseAndWait(got);
        CloseAndWait(keep[i]);
    }
}

TEST_P(HandoffTest, DataBeyondCapIsCutAndTheChannelStaysInStep)
{
    rp_socket p[2];
    ASSERT_EQ(rp_socketpair(loop, p, -1), 0);
    std::string big(10000, 'x');
    SendAndWait(p[0], big);
    SendAndWait(p[1], "next");
    unsigned char *buf = NewBuf(100);
    Op *op = RecvOn(buf, 100);
    ASSERT_TRUE(WaitFor([&] { return op->done(); }));
    EXPECT_EQ(op->result(), 10000); // the real length: only 100 bytes were stored
    EXPECT_EQ(std::string((char *)buf, 100), big.substr(0, 100));
    rp_socket a = op->socket();
    rp_socket b = Receive("next");
    CloseAndWait(a);
    CloseAndWait(b);
    CloseAndWait(p[0]);
    CloseAndWait(p[1]);
}

TEST_P(HandoffTest, GarbageAndMissingDescriptorsAreReported)
{
#if !defined(_WIN32)
    int before = OpenFds();
#endif
    // Not a message at all.
    const char junk[] = "GET / HTTP/1.1\r\n\r\n";
    ASSERT_EQ(Send(NewOp(), ch[0], junk, sizeof junk - 1), 0);
    Op *op = RecvOn(nullptr, 0);
    ASSERT_TRUE(WaitFor([&] { return op->done(); }));
    EXPECT_EQ(op->result(), RP_EIO);
    EXPECT_EQ(op->socket(), RP_SOCKET_INVALID);
    CloseAndWait(ch[0]);
    CloseAndWait(ch[1]);

    // A well-formed header without a descriptor.
    ASSERT_EQ(rp_socketpair(loop, ch, -1), 0);
    unsigned char hdr[20] = {'R', 'P', 'X', 'S', 1, 1, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 'd', 'a', 't', 'a'};
    ASSERT_EQ(Send(NewOp(), ch[0], hdr, sizeof hdr), 0);
    unsigned char buf[8];
    Op *op2 = RecvOn(buf, sizeof buf);
    ASSERT_TRUE(WaitFor([&] { return op2->done(); }));
    EXPECT_EQ(op2->result(), RP_EIO);
#if defined(_WIN32)
    // A header of the right form whose protocol information describes no socket: RP_EIO, and the rest of
    // the message is read, so the next one is read whole.
    CloseAndWait(ch[0]);
    CloseAndWait(ch[1]);
    ASSERT_EQ(rp_socketpair(loop, ch, -1), 0);
    std::vector<unsigned char> bad(16 + sizeof(WSAPROTOCOL_INFOW) + 4, 0);
    memcpy(bad.data(), hdr, 16);
    uint32_t blob = (uint32_t)sizeof(WSAPROTOCOL_INFOW);
    for (int i = 0; i < 4; i++)
        bad[8 + i] = (unsigned char)(blob >> (8 * i));
    memcpy(bad.data() + 16 + blob, "data", 4);
    ASSERT_EQ(Send(NewOp(), ch[0], bad.data(), bad.size()), 0);
    Op *bo = RecvOn(buf, sizeof buf);
    ASSERT_TRUE(WaitFor([&] { return bo->done(); }));
    EXPECT_EQ(bo->result(), RP_EIO);
    EXPECT_EQ(bo->socket(), RP_SOCKET_INVALID);
    rp_socket c, s;
    Pair(&c, &s);
    SendAndWait(s, "next");
    rp_socket s2 = Receive("next");
    ASSERT_NE(s2, RP_SOCKET_INVALID);
    CloseAndWait(s2);
    CloseAndWait(s);
    CloseAndWait(c);
#endif
    // The end of the channel inside a message, and before one.
    ASSERT_EQ(Send(NewOp(), ch[0], hdr, 10), 0);
    Op *op3 = RecvOn(buf, sizeof buf);
    Op *sh = NewOp();
    ASSERT_EQ(Shutdown(sh, ch[0]), 0);
    ASSERT_TRUE(WaitFor([&] { return op3->done(); }));
    EXPECT_EQ(op3->result(), RP_ECONNRESET);
    Op *op4 = RecvOn(buf, sizeof buf);
    ASSERT_TRUE(WaitFor([&] { return op4->done(); }));
    EXPECT_EQ(op4->result(), RP_ENOTCONN);
    CloseAndWait(ch[0]);
    CloseAndWait(ch[1]);
    Pump(20);
#if !defined(_WIN32)
    // Both ends of the channel are closed now, and nothing the messages brought stayed open (a leak
    // shows as more; fewer is descriptors of earlier tests, or libkqueue's, being closed meanwhile).
    EXPECT_LE(OpenFds(), before - 2);
#endif
    ch[0] = ch[1] = RP_SOCKET_INVALID;
}

#if !defined(_WIN32)

TEST_P(HandoffTest, ExtraDescriptorsAreClosed)
{
    // A raw peer connected to a ringport listener sends a message with three descriptors: the first is
    // adopted, the other two are closed.
    std::string path = "/tmp/rpt-handoff-" + std::to_string((long)getpid()) + "-" + std::to_string((int)backend()) +
                       "-" + std::to_string(workers()) + ".sock";
    unlink(path.c_str());
    rp_socket ls = RP_SOCKET_INVALID;
    ASSERT_EQ(rp_unix_listen(loop, &ls, path.data(), path.size(), nullptr), 0);
    Op *acc = NewOp();
    ASSERT_EQ(Accept(acc, ls), 0);
    int raw = socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_GE(raw, 0);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path.data(), path.size());
    ASSERT_EQ(connect(raw, (struct sockaddr *)&sa, sizeof sa), 0);
    ASSERT_TRUE(WaitFor([&] { return acc->done(); }));
    ASSERT_EQ(acc->result(), 0);
    rp_socket chan = acc->socket();

    int a[2], b[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
    unsigned char hdr[18] = {'R', 'P', 'X', 'S', 1, 1, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 'o', 'k'};
    int fds[3] = {a[1], b[0], b[1]};
    struct iovec iov = {hdr, sizeof hdr};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof fds)];
    } ctrl;
    memset(&ctrl, 0, sizeof ctrl);
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctrl.buf;
    m.msg_controllen = sizeof ctrl.buf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(c), fds, sizeof fds);
    ASSERT_EQ(sendmsg(raw, &m, 0), (ssize_t)sizeof hdr);
    close(a[1]);
    close(b[0]);
    close(b[1]);
    int before = OpenFds();

    unsigned char buf[8];
    Op *op = NewOp();
    ASSERT_EQ(RecvSocket(op, chan, buf, sizeof buf), 0);
    ASSERT_TRUE(WaitFor([&] { return op->done(); }));
    ASSERT_EQ(op->result(), 2);
    EXPECT_EQ(memcmp(buf, "ok", 2), 0);
    EXPECT_LE(OpenFds(), before + 1) << "one descriptor adopted, the two extra ones closed";
    // The adopted one is a[1]: what it sends arrives at a[0].
    Op *snd = NewOp();
    ASSERT_EQ(Send(snd, op->socket(), "ping", 4), 0);
    ASSERT_TRUE(WaitFor([&] { return snd->done(); })); // (caller-driven: the loop runs only in WaitFor)
    char got[4];
    ASSERT_EQ(recv(a[0], got, 4, MSG_WAITALL), 4);
    EXPECT_EQ(memcmp(got, "ping", 4), 0);
    CloseAndWait(op->socket());
    CloseAndWait(chan);
    CloseAndWait(ls);
    close(raw);
    close(a[0]);
    unlink(path.c_str());
}

TEST_P(HandoffTest, TruncatedControlDataLeaksNothing)
{
    rp_socket p[2];
    ASSERT_EQ(rp_socketpair(loop, p, -1), 0);
    SendAndWait(p[0], "lost");
    // The receiving process is out of descriptors: the kernel drops the descriptor (MSG_CTRUNC).
    struct rlimit old;
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
    int highest = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        GTEST_SKIP() << "no /proc/self/fd";
    while (struct dirent *e = readdir(d))
        if (e->d_name[0] != '.' && atoi(e->d_name) > highest)
            highest = atoi(e->d_name);
    closedir(d);
    struct rlimit tight = old;
    tight.rlim_cur = (rlim_t)highest + 1;
    int before = OpenFds();
    if (setrlimit(RLIMIT_NOFILE, &tight) != 0)
        GTEST_SKIP() << "RLIMIT_NOFILE cannot be lowered here (valgrind keeps it)";
    std::vector<int> fillers; // the free numbers below the limit, taken
    for (int fd; (fd = dup(0)) >= 0;)
        fillers.push_back(fd);
    unsigned char buf[16];
    Op *op = RecvOn(buf, sizeof buf);
    bool done = WaitFor([&] { return op->done(); });
    for (int fd : fillers)
        close(fd);
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
    ASSERT_TRUE(done);
    EXPECT_EQ(op->result(), RP_EMFILE) << rp_strerror((int)op->result());
    EXPECT_EQ(op->socket(), RP_SOCKET_INVALID);
    EXPECT_LE(OpenFds(), before);
    // The channel is still in step: the next message arrives whole.
    SendAndWait(p[1], "kept");
    rp_socket got = Receive("kept");
    CloseAndWait(got);
    CloseAndWait(p[0]);
    CloseAndWait(p[1]);
}

TEST_P(HandoffTest, PartialSendsCarryTheDescriptorOnce)
{
    // A small channel buffer and a large message: the send goes out in several requests.
    rp_socket_set_option(loop, ch[0], RP_SO_SEND_BUFFER, 4096);
    rp_socket_set_option(loop, ch[1], RP_SO_RECV_BUFFER, 4096);
    rp_socket p[2];
    ASSERT_EQ(rp_socketpair(loop, p, -1), 0);
    std::string big(RP_XFER_DATA_MAX, '\0');
    FillPattern((unsigned char *)&big[0], big.size(), 60);
    Op *op = NewOp();
    ASSERT_EQ(SendSocket(op, ch[0], p[1], big.data(), big.size()), 0);
    Pump(20);
    int before = OpenFds();
    rp_socket got = Receive(big);
    ASSERT_TRUE(WaitFor([&] { return op->done(); }));
    EXPECT_EQ(op->result(), (int64_t)big.size());
    Pump(20);
    EXPECT_LE(OpenFds(), before) << "exactly one descriptor arrived and the sender's duplicate was closed";
    CloseAndWait(got);
    CloseAndWait(p[0]);
    CloseAndWait(p[1]);
}
#endif

#if defined(__linux__)
// A connection of an epoll loop adopted by an io_uring loop, and the other way round: both copies go on
// working (the socket's blocking mode is shared by the two: the adopter must not take away what the
// sender's reactor relies on).
TEST_P(HandoffTest, AdoptionByAnotherBackendLeavesTheSendersCopyWorking)
{
    rp_backend other = backend() == RP_BACKEND_IO_URING ? RP_BACKEND_EPOLL : RP_BACKEND_IO_URING;
    rp_loop_options o;
    rp_loop_options_init(&o);
    o.backend = other;
    o.workers = 0;
    rp_loop *l2 = nullptr;
    if (rp_loop_create(&l2, &o) != 0)
        GTEST_SKIP() << "no " << rp_backend_name(other) << " here";
    // A connection of the other loop: its listener accepts what this loop's client connects.
    rp_addr a;
    ASSERT_EQ(rp_addr_parse(&a, "127.0.0.1", 0), 0);
    rp_socket ls2 = RP_SOCKET_INVALID;
    ASSERT_EQ(rp_listen(l2, &ls2, &a, nullptr), 0);
    rp_addr bound;
    ASSERT_EQ(rp_socket_local_addr(l2, ls2, &bound), 0);
    rp_op acc2;
    rp_op_init(&acc2, nullptr, nullptr);
    ASSERT_EQ(rp_accept(l2, &acc2, ls2, 0), 0);
    Op *con = NewOp();
    ASSERT_EQ(Connect(con, bound), 0);
    rp_op *done2[4];
    for (int i = 0; i < 2000 && rp_op_pending(&acc2); i++) {
        rp_loop_poll(l2, done2, 4, 1);
        Pump(1);
    }
    ASSERT_EQ(acc2.result, 0);
    ASSERT_TRUE(WaitFor([&] { return con->done(); }));
    rp_socket c = con->socket(), s2 = acc2.socket;
    // The other loop's channel end: a socketpair of its own, whose other end this loop receives on... is
    // not needed: the other loop sends over a channel whose far end is ours. Build it from a path.
    std::string path = "/tmp/rpt-cross-" + std::to_string((long)getpid()) + "-" + std::to_string(workers()) + "-" +
                       std::to_string((int)backend()) + ".sock";
    unlink(path.c_str());
    rp_socket cls = RP_SOCKET_INVALID;
    ASSERT_EQ(rp_unix_listen(loop, &cls, path.data(), path.size(), nullptr), 0);
    Op *cacc = NewOp();
    ASSERT_EQ(Accept(cacc, cls), 0);
    rp_op ccon;
    rp_op_init(&ccon, nullptr, nullptr);
    ASSERT_EQ(rp_unix_connect(l2, &ccon, path.data(), path.size(), nullptr), 0);
    for (int i = 0; i < 2000 && rp_op_pending(&ccon); i++)
        rp_loop_poll(l2, done2, 4, 1);
    ASSERT_EQ(ccon.result, 0);
    ASSERT_TRUE(WaitFor([&] { return cacc->done(); }));
    rp_op xs;
    rp_op_init(&xs, nullptr, nullptr);
    ASSERT_EQ(rp_send_socket(l2, &xs, ccon.socket, s2, "x", 1, 0), 0);
    for (int i = 0; i < 2000 && rp_op_pending(&xs); i++)
        rp_loop_poll(l2, done2, 4, 1);
    ASSERT_EQ(xs.result, 1);
    char one[1];
    Op *xr = NewOp();
    ASSERT_EQ(RecvSocket(xr, cacc->socket(), one, 1), 0);
    ASSERT_TRUE(WaitFor([&] { return xr->done(); }));
    ASSERT_EQ(xr->result(), 1);
    rp_socket mine = xr->socket();

    // The sender's copy: a receive with a deadline must end by its deadline, not block its worker.
    rp_op r2;
    char b2[16];
    rp_op_init(&r2, nullptr, nullptr);
    ASSERT_EQ(rp_op_set_timeout(&r2, 100), 0);
    ASSERT_EQ(rp_recv(l2, &r2, s2, b2, sizeof b2), 0);
    for (int i = 0; i < 5000 && rp_op_pending(&r2); i++)
        rp_loop_poll(l2, done2, 4, 1);
    EXPECT_EQ(r2.result, RP_ETIMEDOUT);

    // The adopted copy carries a stream both ways.
    const size_t n = 300000;
    unsigned char *data = NewBuf(n);
    FillPattern(data, n, 81);
    Reader *rd = StartReader(mine);
    ASSERT_EQ(Send(NewOp(), c, data, n), 0);
    ASSERT_TRUE(WaitFor([&] { return rd->bytes.load() >= n; }));
    EXPECT_EQ(memcmp(rd->Data().data(), data, n), 0);
    Reader *back = StartReader(c);
    ASSERT_EQ(Send(NewOp(), mine, data, n), 0);
    ASSERT_TRUE(WaitFor([&] { return back->bytes.load() >= n; }));
    EXPECT_EQ(memcmp(back->Data().data(), data, n), 0);
    CloseAndWait(mine);
    CloseAndWait(c);
    CloseAndWait(cacc->socket());
    CloseAndWait(cls);
    unlink(path.c_str());
    EXPECT_EQ(rp_loop_destroy(l2), 0);
}
#endif

TEST_P(HandoffTest, CancelAndBadInput)
{
    unsigned char buf[8];
    Op *op = RecvOn(buf, sizeof buf);
    ASSERT_EQ(Cancel(op), 0);
    ASSERT_TRUE(WaitFor([&] { return op->done(); }));
    EXPECT_EQ(op->result(), RP_ECANCELED);

    rp_socket c, s;
    Pair(&c, &s);
    Op *o = NewOp();
    EXPECT_EQ(rp_send_socket(loop, o->get(), c, s, "x", 1, 0), RP_EINVAL); // a TCP channel
    EXPECT_EQ(rp_send_socket(loop, o->get(), ch[0], ch[0], "x", 1, 0), RP_EINVAL);
    EXPECT_EQ(rp_send_socket(loop, o->get(), ch[0], s, nullptr, 1, 0), RP_EINVAL);
    EXPECT_EQ(rp_send_socket(loop, o->get(), ch[0], s, "x", RP_XFER_DATA_MAX + 1, 0), RP_EINVAL);
    EXPECT_EQ(rp_send_socket(loop, o->get(), ch[0], s, "x", 1, 1), RP_EINVAL);
    EXPECT_EQ(rp_send_socket(loop, nullptr, ch[0], s, "x", 1, 0), RP_EINVAL);
    EXPECT_EQ(rp_send_socket(nullptr, o->get(), ch[0], s, "x", 1, 0), RP_EINVAL);
    rp_socket u = UdpBind("127.0.0.1");
    EXPECT_EQ(rp_send_socket(loop, o->get(), ch[0], u, "x", 1, 0), RP_EINVAL);
    EXPECT_EQ(rp_recv_socket(loop, o->get(), c, buf, sizeof buf, -1), RP_EINVAL);
    EXPECT_EQ(rp_recv_socket(loop, o->get(), ch[1], nullptr, 4, -1), RP_EINVAL);
    EXPECT_EQ(rp_recv_socket(loop, o->get(), ch[1], buf, sizeof buf, 99), RP_EINVAL);
    EXPECT_EQ(rp_recv_socket(loop, nullptr, ch[1], buf, sizeof buf, -1), RP_EINVAL);
    CloseAndWait(u);
    CloseAndWait(s);
    EXPECT_EQ(rp_send_socket(loop, o->get(), ch[0], s, "x", 1, 0), RP_EBADF);
    CloseAndWait(c);
    CloseAndWait(ch[1]);
    EXPECT_EQ(rp_recv_socket(loop, o->get(), ch[1], buf, sizeof buf, -1), RP_EBADF);
    EXPECT_EQ(rp_op_pending(o->get()), 0);
    // A receive pending when the loop goes: cancelled, like every op.
    ASSERT_EQ(rp_socketpair(loop, ch, -1), 0);
    RecvOn(buf, sizeof buf);
}

RPT_INSTANTIATE(HandoffTest);

} // namespace
