// Sockets handed to another process (rp_send_socket / rp_recv_socket over a Unix domain channel): the
// test binary re-executes itself as the receiving process (`--child <backend> <channel path>`), hands it
// a TCP connection with 100000 bytes the parent never read, then sends 50000 more, and expects the child
// to echo every one of them from the adopted socket; then it hands over a TCP listener, connects to it
// and expects the child to accept and echo. Every byte is checked, on both sides. Runs on each backend
// this build and machine have, and on Linux across backends (the descriptor's open file is what is
// shared, so the receiver's backend need not be the sender's). Where the system has no AF_UNIX (Wine 8)
// there is no channel and the test skips.
//
// The child uses no GoogleTest: it prints why it failed to stderr and exits non-zero, and the parent
// asserts its exit status. Every wait has a deadline, so a hang fails instead of blocking; a child
// still running when the parent gives up is killed.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#if defined(_WIN32)
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>
#else
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
extern char **environ;
#endif

#include "harness.h" // only BackendSelected, ApplyLoopEnv and the byte pattern: no LoopTest here
#include "ringport.h"

namespace {

const char kChildFlag[] = "--child";
const int kDeadlineMs = 20000;           // for every single wait
const int64_t kNoCompletion = INT64_MIN; // what a wait that ran out of time (or gave up) reports
const size_t kChunk = 65536;             // receive size
const size_t kN1 = 100000, kN2 = 50000;  // bytes sent before / after the handoff
const uint64_t kSessionSeed = 7;         // pattern of the handed-over connection's stream
const char kSessionData[] = "session 7"; // the message data that travels with it
const size_t kListenerBytes = 5000;      // echoed through the handed-over listener's connection
const uint64_t kListenerSeed = 8;

std::string g_self; // this executable, to start the child from

std::string What(int64_t r)
{
    if (r == kNoCompletion)
        return "no completion within " + std::to_string(kDeadlineMs / 1000) + " s";
    return r < 0 ? std::string(rp_strerror((int)r)) : std::to_string(r);
}

// "" when p[0..n) is the pattern of seed from offset on, else the first byte that differs.
std::string Diff(const unsigned char *p, size_t n, uint64_t seed, uint64_t offset)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char want = rpt::PatternByte(seed, offset + i);
        if (p[i] != want) {
            char b[96];
            snprintf(b, sizeof b, "byte %llu is 0x%02x, not 0x%02x", (unsigned long long)(offset + i), p[i], want);
            return b;
        }
    }
    return "";
}

// One loop (a single worker thread) and everything its operations touch. Op records and buffers are
// freed only after the loop is destroyed, so a check that gives up early (a failed assertion in the
// parent, a failure return in the child) never leaves a pending operation pointing at freed memory.
// Used by both processes, so it reports results and leaves the judging to its caller.
class Session {
public:
    struct Op {
        rp_op op;
        Session *session = nullptr;
        int submit_error = 0;
        bool done = false; // guarded by session->mu_
    };

    rp_loop *loop = nullptr;

    Session() = default;
    Session(const Session &) = delete;
    Session &operator=(const Session &) = delete;
    ~Session()
    {
        if (loop)
            rp_loop_destroy(loop); // delivers every pending operation's cancellation, then closes everything
    }

    int Open(rp_backend backend)
    {
        rp_loop_options o;
        rp_loop_options_init(&o);
        o.backend = backend;
        o.workers = 1;
        rpt::ApplyLoopEnv(&o);
        int err = rp_loop_create(&loop, &o);
        if (err != 0)
            loop = nullptr;
        return err;
    }

    unsigned char *NewBuf(size_t n)
    {
        bufs_.emplace_back(new unsigned char[n]());
        return bufs_.back().get();
    }

    // Submits an operation on a fresh op record (submit returns the submission's code); does not wait.
    Op *Start(const std::function<int(rp_op *)> &submit)
    {
        ops_.emplace_back(new Op);
        Op *op = ops_.back().get();
        op->session = this;
        rp_op_init(&op->op, Done, op);
        op->submit_error = submit(&op->op);
        return op;
    }

    // Waits for op: its result, the submission's error, or kNoCompletion once the deadline passed or
    // give_up() held (checked every 10 ms).
    int64_t Wait(Op *op, const std::function<bool()> &give_up = nullptr)
    {
        if (op->submit_error != 0)
            return op->submit_error;
        auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kDeadlineMs);
        std::unique_lock<std::mutex> g(mu_);
        while (!op->done) {
            if (std::chrono::steady_clock::now() >= deadline)
                return kNoCompletion;
            if (give_up) {
                g.unlock();
                bool stop = give_up();
                g.lock();
                if (stop && !op->done)
                    return kNoCompletion;
            }
            cv_.wait_for(g, std::chrono::milliseconds(10));
        }
        return op->op.result;
    }

    // Start and Wait; *socket gets the completion's socket (accept, connect, rp_recv_socket).
    int64_t Run(const std::function<int(rp_op *)> &submit, rp_socket *socket = nullptr)
    {
        Op *op = Start(submit);
        int64_t r = Wait(op);
        if (socket)
            *socket = r == kNoCompletion || op->submit_error != 0 ? RP_SOCKET_INVALID : op->op.socket;
        return r;
    }

    int64_t Close(rp_socket s)
    {
        return Run([&](rp_op *o) { return rp_close(loop, o, s); });
    }

private:
    static void Done(rp_op *o)
    {
        Op *op = static_cast<Op *>(o->user);
        std::lock_guard<std::mutex> g(op->session->mu_);
        op->done = true;
        op->session->cv_.notify_all();
    }

    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::unique_ptr<Op>> ops_;
    std::deque<std::unique_ptr<unsigned char[]>> bufs_;
};

bool Unavailable(int err)
{
    // As the conformance suite: not built in, not supported by this kernel, or forbidden (io_uring).
    return err == RP_ENOSYS || err == RP_EPERM;
}

// A TCP listener on 127.0.0.1 with a port of the kernel's choosing, in *addr.
int ListenLoopback(rp_loop *loop, rp_socket *ls, rp_addr *addr)
{
    int err = rp_addr_parse(addr, "127.0.0.1", 0);
    if (err == 0)
        err = rp_listen(loop, ls, addr, nullptr);
    if (err == 0)
        err = rp_socket_local_addr(loop, *ls, addr);
    return err;
}

// Receives sock's stream into *out until it ends: 0 at the end, else the error (or kNoCompletion).
int64_t RecvAll(Session &s, rp_socket sock, std::vector<unsigned char> *out)
{
    unsigned char *buf = s.NewBuf(kChunk);
    for (;;) {
        int64_t r = s.Run([&](rp_op *o) { return rp_recv(s.loop, o, sock, buf, kChunk); });
        if (r <= 0)
            return r;
        out->insert(out->end(), buf, buf + (size_t)r);
    }
}

// Child: reads sock to the end of its stream, checking every byte against the pattern of seed and
// sending it straight back, and expects `expected` bytes in all. "" on success, else what went wrong.
std::string Echo(Session &s, rp_socket sock, uint64_t seed, size_t expected)
{
    unsigned char *buf = s.NewBuf(kChunk);
    size_t total = 0;
    for (;;) {
        int64_t r = s.Run([&](rp_op *o) { return rp_recv(s.loop, o, sock, buf, kChunk); });
        if (r < 0)
            return "receiving after " + std::to_string(total) + " bytes: " + What(r);
        if (r == 0)
            break;
        std::string diff = Diff(buf, (size_t)r, seed, total);
        if (!diff.empty())
            return "received " + diff;
        int64_t w = s.Run([&](rp_op *o) { return rp_send(s.loop, o, sock, buf, (size_t)r); });
        if (w != r)
            return "echoing " + std::to_string(r) + " bytes: " + What(w);
        total += (size_t)r;
    }
    if (total != expected)
        return "the stream ended after " + std::to_string(total) + " bytes, not " + std::to_string(expected);
    return "";
}

// Child: receives one message on chan; its data in *text.
int64_t ReceiveMessage(Session &s, rp_socket chan, rp_socket *sock, std::string *text)
{
    unsigned char *buf = s.NewBuf(RP_XFER_DATA_MAX);
    int64_t r = s.Run([&](rp_op *o) { return rp_recv_socket(s.loop, o, chan, buf, RP_XFER_DATA_MAX, -1); }, sock);
    if (r >= 0)
        text->assign((const char *)buf, (size_t)r < RP_XFER_DATA_MAX ? (size_t)r : RP_XFER_DATA_MAX);
    return r;
}

int ChildFail(const char *backend, const std::string &why)
{
    fprintf(stderr, "handoff_process_test child (%s): %s\n", backend, why.c_str());
    return 1;
}

// The receiving process: connects to the parent's channel, serves the connection and then the listener
// it is handed, and exits 0 if everything was as expected.
int ChildMain(const char *backend_name, const char *path)
{
    rp_backend backend = RP_BACKEND_AUTO;
    for (rp_backend b : {RP_BACKEND_IO_URING, RP_BACKEND_EPOLL, RP_BACKEND_KQUEUE, RP_BACKEND_IOCP})
        if (strcmp(rp_backend_name(b), backend_name) == 0)
            backend = b;
    if (backend == RP_BACKEND_AUTO)
        return ChildFail(backend_name, "unknown backend");
    Session s;
    int err = s.Open(backend);
    if (err != 0)
        return ChildFail(backend_name, std::string("rp_loop_create: ") + rp_strerror(err));
    rp_socket chan = RP_SOCKET_INVALID;
    int64_t r = s.Run([&](rp_op *o) { return rp_unix_connect(s.loop, o, path, strlen(path), nullptr); }, &chan);
    if (r != 0)
        return ChildFail(backend_name, std::string("rp_unix_connect ") + path + ": " + What(r));

    // The connection, with the bytes the parent never read still queued in it.
    rp_socket conn = RP_SOCKET_INVALID;
    std::string text;
    r = ReceiveMessage(s, chan, &conn, &text);
    if (r < 0)
        return ChildFail(backend_name, "rp_recv_socket (connection): " + What(r));
    if (text != kSessionData)
        return ChildFail(backend_name, "the connection came with \"" + text + "\", not \"" + kSessionData + "\"");
    std::string why = Echo(s, conn, kSessionSeed, kN1 + kN2);
    if (!why.empty())
        return ChildFail(backend_name, "adopted connection: " + why);
    if ((r = s.Close(conn)) != 0)
        return ChildFail(backend_name, "rp_close (connection): " + What(r));

    // The listener; its data names its port, which tells that the right socket arrived.
    rp_socket ls = RP_SOCKET_INVALID;
    r = ReceiveMessage(s, chan, &ls, &text);
    if (r < 0)
        return ChildFail(backend_name, "rp_recv_socket (listener): " + What(r));
    rp_addr local;
    if ((err = rp_socket_local_addr(s.loop, ls, &local)) != 0)
        return ChildFail(backend_name, std::string("rp_socket_local_addr (listener): ") + rp_strerror(err));
    if (text != "listener " + std::to_string(local.port))
        return ChildFail(backend_name,
                         "a listener on port " + std::to_string(local.port) + " came with \"" + text + "\"");
    rp_socket accepted = RP_SOCKET_INVALID;
    r = s.Run([&](rp_op *o) { return rp_accept(s.loop, o, ls, 0); }, &accepted);
    if (r != 0)
        return ChildFail(backend_name, "rp_accept on the adopted listener: " + What(r));
    why = Echo(s, accepted, kListenerSeed, kListenerBytes);
    if (!why.empty())
        return ChildFail(backend_name, "connection of the adopted listener: " + why);
    for (rp_socket sock : {accepted, ls, chan})
        if ((r = s.Close(sock)) != 0)
            return ChildFail(backend_name, "rp_close: " + What(r));
    return 0;
}

// ---- the child process, and the channel's path: the platform bits ----

#if defined(_WIN32)
// One argument as the CRT parses it back: quoted, backslashes before a quote (or the closing one) doubled.
std::string QuoteArg(const std::string &arg)
{
    std::string q = "\"";
    size_t slashes = 0;
    for (char c : arg) {
        if (c == '\\') {
            slashes++;
            continue;
        }
        q.append(c == '"' ? 2 * slashes + 1 : slashes, '\\');
        slashes = 0;
        q += c;
    }
    q.append(2 * slashes, '\\');
    return q + "\"";
}
#endif

class ChildProcess {
public:
    ChildProcess() = default;
    ChildProcess(const ChildProcess &) = delete;
    ChildProcess &operator=(const ChildProcess &) = delete;
    ~ChildProcess()
    {
        Kill();
#if defined(_WIN32)
        if (h_)
            CloseHandle(h_);
#endif
    }

    // Starts exe with args (argv[1] ...); false, and why in *why, if it could not.
    bool Start(const std::string &exe, const std::vector<std::string> &args, std::string *why)
    {
#if defined(_WIN32)
        std::string line = QuoteArg(exe);
        for (const std::string &a : args)
            line += " " + QuoteArg(a);
        std::vector<char> cmd(line.begin(), line.end());
        cmd.push_back('\0'); // CreateProcessA may write to the command line
        STARTUPINFOA si;
        ZeroMemory(&si, sizeof si);
        si.cb = sizeof si;
        PROCESS_INFORMATION pi;
        if (!CreateProcessA(exe.c_str(), cmd.data(), nullptr, nullptr, FALSE, 0, nullptr, nullptr, &si, &pi)) {
            *why = "CreateProcessA " + exe + ": error " + std::to_string((unsigned long)GetLastError());
            return false;
        }
        CloseHandle(pi.hThread);
        h_ = pi.hProcess;
#else
        std::vector<std::string> all(1, exe);
        all.insert(all.end(), args.begin(), args.end());
        std::vector<char *> argv;
        for (std::string &a : all)
            argv.push_back(&a[0]);
        argv.push_back(nullptr);
        // posix_spawnp: argv[0] may be a bare name found through PATH.
        int err = posix_spawnp(&pid_, exe.c_str(), nullptr, nullptr, argv.data(), environ);
        if (err != 0) {
            pid_ = -1;
            *why = "posix_spawnp " + exe + ": " + strerror(err);
            return false;
        }
#endif
        return true;
    }

    // Waits up to ms for the child to exit; true once it has.
    bool WaitExit(int ms)
    {
        if (exited_)
            return true;
#if defined(_WIN32)
        if (!h_ || WaitForSingleObject(h_, (DWORD)ms) != WAIT_OBJECT_0)
            return false;
        DWORD exit_code = 1;
        GetExitCodeProcess(h_, &exit_code);
        Record((int)exit_code, "exited with status " + std::to_string((unsigned long)exit_code));
#else
        if (pid_ < 0)
            return false;
        auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        for (;;) {
            int st = 0;
            pid_t r = waitpid(pid_, &st, WNOHANG);
            if (r == pid_) {
                if (WIFEXITED(st))
                    Record(WEXITSTATUS(st), "exited with status " + std::to_string(WEXITSTATUS(st)));
                else
                    Record(128 + WTERMSIG(st), "was killed by signal " + std::to_string(WTERMSIG(st)));
                break;
            }
            if (r < 0 && errno != EINTR) {
                Record(-1, std::string("could not be waited for: ") + strerror(errno));
                break;
            }
            if (std::chrono::steady_clock::now() >= deadline)
                return false;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
#endif
        return true;
    }

    bool Exited() { return WaitExit(0); }
    int code() const { return code_; }                    // once exited: 0 is success
    const std::string &status() const { return status_; } // once exited: how it ended

    // Kills the child if it still runs, and reaps it.
    void Kill()
    {
        if (Exited())
            return;
#if defined(_WIN32)
        if (h_) {
            TerminateProcess(h_, 9);
            WaitExit(kDeadlineMs);
        }
#else
        if (pid_ > 0) {
            kill(pid_, SIGKILL);
            WaitExit(kDeadlineMs);
        }
#endif
    }

private:
    void Record(int exit_code, const std::string &how)
    {
        exited_ = true;
        code_ = exit_code;
        status_ = how;
    }

#if defined(_WIN32)
    HANDLE h_ = nullptr;
#else
    pid_t pid_ = -1;
#endif
    bool exited_ = false;
    int code_ = -1;
    std::string status_ = "has not exited";
};

// A path for the channel no other test process uses: the temporary directory, this process's id and a
// counter.
std::string ChannelPath()
{
    static int counter = 0;
#if defined(_WIN32)
    char dir[MAX_PATH + 1];
    DWORD n = GetTempPathA((DWORD)sizeof dir, dir);
    std::string base = n > 0 && n < sizeof dir ? std::string(dir, n) : std::string(".\\");
    unsigned long pid = (unsigned long)GetCurrentProcessId();
#else
    std::string base = "/tmp/";
    unsigned long pid = (unsigned long)getpid();
#endif
    return base + "rp-xproc-" + std::to_string(pid) + "-" + std::to_string(++counter) + ".sock";
}

// Removes the socket file at scope exit, however the test ends (rp_unix_listen leaves it behind).
struct RemoveFile {
    std::string path;
    ~RemoveFile() { std::remove(path.c_str()); }
};

// ---- the parent: the test ----

struct Combo {
    rp_backend parent, child;
};

std::vector<Combo> Combos()
{
#if defined(_WIN32)
    return {{RP_BACKEND_IOCP, RP_BACKEND_IOCP}};
#elif defined(__linux__)
    // Each backend with itself, and the handed-over socket adopted by another backend than the sender's.
    return {{RP_BACKEND_IO_URING, RP_BACKEND_IO_URING}, {RP_BACKEND_EPOLL, RP_BACKEND_EPOLL},
            {RP_BACKEND_KQUEUE, RP_BACKEND_KQUEUE},     {RP_BACKEND_EPOLL, RP_BACKEND_IO_URING},
            {RP_BACKEND_IO_URING, RP_BACKEND_EPOLL},    {RP_BACKEND_EPOLL, RP_BACKEND_KQUEUE},
            {RP_BACKEND_KQUEUE, RP_BACKEND_IO_URING}};
#else
    return {{RP_BACKEND_KQUEUE, RP_BACKEND_KQUEUE}};
#endif
}

std::string ComboName(const ::testing::TestParamInfo<Combo> &info)
{
    const Combo &c = info.param;
    if (c.parent == c.child)
        return rp_backend_name(c.parent);
    return std::string(rp_backend_name(c.parent)) + "_to_" + rp_backend_name(c.child);
}

class HandoffProcess : public ::testing::TestWithParam<Combo> {};

TEST_P(HandoffProcess, ConnectionAndListenerKeepWorkingInTheChild)
{
    const Combo c = GetParam();
    for (rp_backend b : {c.parent, c.child}) {
        if (!rpt::BackendSelected(b))
            GTEST_SKIP() << rp_backend_name(b) << " is not in RINGPORT_TEST_BACKENDS";
        // Probed here for the child's sake too: a backend it lacks then skips instead of failing it.
        Session probe;
        int err = probe.Open(b);
        if (Unavailable(err))
            GTEST_SKIP() << rp_backend_name(b) << " is not available here: " << rp_strerror(err);
        ASSERT_EQ(err, 0) << "rp_loop_create " << rp_backend_name(b) << ": " << rp_strerror(err);
    }
    ASSERT_FALSE(g_self.empty());
    Session s;
    int err = s.Open(c.parent);
    ASSERT_EQ(err, 0) << "rp_loop_create: " << rp_strerror(err);

    // The channel: a Unix domain listener the child connects to.
    RemoveFile channel_file{ChannelPath()};
    const std::string &path = channel_file.path;
    ASSERT_LE(path.size(), rp_unix_path_max()) << path;
    rp_listen_options lo;
    rp_listen_options_init(&lo);
    lo.flags |= RP_LISTEN_UNIX_UNLINK;
    rp_socket chl = RP_SOCKET_INVALID;
    err = rp_unix_listen(s.loop, &chl, path.data(), path.size(), &lo);
    if (err == RP_EAFNOSUPPORT)
        GTEST_SKIP() << "no AF_UNIX sockets on this system (rp_unix_listen: " << rp_strerror(err)
                     << "; Wine 8 has none), so no channel to hand a socket to another process over";
    ASSERT_EQ(err, 0) << "rp_unix_listen " << path << ": " << rp_strerror(err);
    Session::Op *chan_accept = s.Start([&](rp_op *o) { return rp_accept(s.loop, o, chl, 0); });
    ChildProcess child; // declared after the session: killed, if still running, before the loop goes
    std::string why;
    ASSERT_TRUE(child.Start(g_self, {kChildFlag, rp_backend_name(c.child), path}, &why)) << why;
    int64_t r = s.Wait(chan_accept, [&] { return child.Exited(); });
    ASSERT_FALSE(r == kNoCompletion && child.Exited()) << "the child " << child.status() << " before it connected";
    ASSERT_EQ(r, 0) << "the child's channel connection: " << What(r);
    const rp_socket chan = chan_accept->op.socket;

    // A TCP connection over the loopback interface.
    rp_socket ls = RP_SOCKET_INVALID, client = RP_SOCKET_INVALID;
    rp_addr addr;
    ASSERT_EQ(err = ListenLoopback(s.loop, &ls, &addr), 0) << rp_strerror(err);
    Session::Op *acc = s.Start([&](rp_op *o) { return rp_accept(s.loop, o, ls, 0); });
    ASSERT_EQ(r = s.Run([&](rp_op *o) { return rp_connect(s.loop, o, &addr, nullptr); }, &client), 0) << What(r);
    ASSERT_EQ(r = s.Wait(acc), 0) << "rp_accept: " << What(r);
    const rp_socket server = acc->op.socket;
    ASSERT_EQ(r = s.Close(ls), 0) << What(r);

    // kN1 bytes the server side never reads: they are the child's to read from the kernel's queue.
    unsigned char *data = s.NewBuf(kN1 + kN2);
    rpt::FillPattern(data, kN1 + kN2, kSessionSeed);
    ASSERT_EQ(r = s.Run([&](rp_op *o) { return rp_send(s.loop, o, client, data, kN1); }), (int64_t)kN1) << What(r);
    r = s.Run([&](rp_op *o) {
        return rp_send_socket(s.loop, o, chan, server, kSessionData, strlen(kSessionData), 0);
    });
    ASSERT_EQ(r, (int64_t)strlen(kSessionData)) << "rp_send_socket (connection): " << What(r);
    // This process lets go of its copy: from here on the connection lives in the child only.
    ASSERT_EQ(r = s.Close(server), 0) << What(r);

    // kN2 bytes more, then the end of the client's stream, which makes the child close its end once it
    // has echoed everything; meanwhile the echo is read back.
    Session::Op *snd = s.Start([&](rp_op *o) { return rp_send(s.loop, o, client, data + kN1, kN2); });
    Session::Op *shut = s.Start([&](rp_op *o) { return rp_shutdown(s.loop, o, client); });
    std::vector<unsigned char> echo;
    r = RecvAll(s, client, &echo);
    ASSERT_EQ(r, 0) << "reading the echo after " << echo.size() << " bytes: " << What(r);
    EXPECT_EQ(r = s.Wait(snd), (int64_t)kN2) << What(r);
    EXPECT_EQ(r = s.Wait(shut), 0) << What(r);
    ASSERT_EQ(echo.size(), kN1 + kN2) << "the child echoes exactly the bytes it read from the adopted socket";
    EXPECT_EQ(Diff(echo.data(), echo.size(), kSessionSeed, 0), "");
    ASSERT_EQ(r = s.Close(client), 0) << What(r);

    // A listener, handed over and closed here before anyone connects: the child accepts on it.
    ASSERT_EQ(err = ListenLoopback(s.loop, &ls, &addr), 0) << rp_strerror(err);
    const std::string text = "listener " + std::to_string(addr.port);
    r = s.Run([&](rp_op *o) { return rp_send_socket(s.loop, o, chan, ls, text.data(), text.size(), 0); });
    ASSERT_EQ(r, (int64_t)text.size()) << "rp_send_socket (listener): " << What(r);
    ASSERT_EQ(r = s.Close(ls), 0) << What(r);
    rp_socket conn = RP_SOCKET_INVALID;
    r = s.Run([&](rp_op *o) { return rp_connect(s.loop, o, &addr, nullptr); }, &conn);
    ASSERT_EQ(r, 0) << "connecting to the listener the child has now: " << What(r);
    unsigned char *small = s.NewBuf(kListenerBytes);
    rpt::FillPattern(small, kListenerBytes, kListenerSeed);
    snd = s.Start([&](rp_op *o) { return rp_send(s.loop, o, conn, small, kListenerBytes); });
    shut = s.Start([&](rp_op *o) { return rp_shutdown(s.loop, o, conn); });
    echo.clear();
    r = RecvAll(s, conn, &echo);
    ASSERT_EQ(r, 0) << "reading the echo after " << echo.size() << " bytes: " << What(r);
    EXPECT_EQ(r = s.Wait(snd), (int64_t)kListenerBytes) << What(r);
    EXPECT_EQ(r = s.Wait(shut), 0) << What(r);
    ASSERT_EQ(echo.size(), kListenerBytes);
    EXPECT_EQ(Diff(echo.data(), echo.size(), kListenerSeed, 0), "");
    ASSERT_EQ(r = s.Close(conn), 0) << What(r);

    // The child closes its sockets and exits by itself; its stderr says why if it failed.
    ASSERT_TRUE(child.WaitExit(kDeadlineMs)) << "the child did not exit within " << kDeadlineMs / 1000 << " s";
    EXPECT_EQ(child.code(), 0) << "the child " << child.status();
    EXPECT_EQ(r = s.Close(chan), 0) << What(r);
    EXPECT_EQ(r = s.Close(chl), 0) << What(r);
}

INSTANTIATE_TEST_SUITE_P(Backends, HandoffProcess, ::testing::ValuesIn(Combos()), ComboName);

} // namespace

// Our own main: the child is this executable again, started with kChildFlag, and the parent needs its
// path to start it.
int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], kChildFlag) == 0) {
        if (argc != 4) {
            fprintf(stderr, "usage: %s %s <backend> <channel path>\n", argv[0], kChildFlag);
            return 2;
        }
        return ChildMain(argv[2], argv[3]);
    }
#if defined(_WIN32)
    // argv[0] may lack the directory or the .exe; the module's own file name has both.
    char self[MAX_PATH + 1];
    DWORD n = GetModuleFileNameA(nullptr, self, (DWORD)sizeof self);
    g_self = n > 0 && n < sizeof self ? std::string(self, n) : std::string(argv[0]);
#else
    g_self = argv[0];
#endif
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
