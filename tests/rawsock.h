// Plain sockets and process facilities the tests use next to ringport (far ends that ringport must not
// see, resets, descriptor counts, environment), on POSIX and on Windows. Nothing here goes through
// ringport: these are the independent witnesses.
#pragma once

#include <cstdint>
#include <cstdlib>

#if defined(_WIN32)
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
using RawSock = SOCKET;
const RawSock kRawInvalid = INVALID_SOCKET;
#else
#include <arpa/inet.h>
#include <cerrno>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
using RawSock = int;
const RawSock kRawInvalid = -1;
#endif

namespace rpt {

inline void RawStartup()
{
#if defined(_WIN32)
    static const bool started = [] {
        WSADATA d;
        return WSAStartup(MAKEWORD(2, 2), &d) == 0;
    }();
    (void)started;
#endif
}

inline void RawClose(RawSock s)
{
#if defined(_WIN32)
    closesocket(s);
#else
    close(s);
#endif
}

inline RawSock RawSocket(int family)
{
    RawStartup();
    return socket(family, SOCK_STREAM, 0);
}

// A blocking connect to 127.0.0.1:port; kRawInvalid on failure.
inline RawSock RawConnect(uint16_t port)
{
    RawSock s = RawSocket(AF_INET);
    if (s == kRawInvalid)
        return s;
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(s, reinterpret_cast<sockaddr *>(&sa), sizeof sa) != 0) {
        RawClose(s);
        return kRawInvalid;
    }
    return s;
}

// Starts a connect to host:port (an IPv4 address) without waiting for it (the socket is non-blocking);
// kRawInvalid on failure.
inline RawSock RawConnectNonBlocking(uint16_t port, const char *host = "127.0.0.1")
{
    RawSock s = RawSocket(AF_INET);
    if (s == kRawInvalid)
        return s;
#if defined(_WIN32)
    u_long on = 1;
    ioctlsocket(s, FIONBIO, &on);
#else
    fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
#endif
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    inet_pton(AF_INET, host, &sa.sin_addr);
    connect(s, reinterpret_cast<sockaddr *>(&sa), sizeof sa); // in progress, or done: either will do
    return s;
}

// A socket bound to 127.0.0.1 with a kernel-chosen port (*port) that does not listen: connects to it are
// refused, and while it stays open no other socket can take the port (a closed listener's port can be
// reused by a test running in parallel). kRawInvalid on failure.
inline RawSock RawBoundNotListening(uint16_t *port)
{
    RawSock s = RawSocket(AF_INET);
    if (s == kRawInvalid)
        return s;
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (bind(s, reinterpret_cast<sockaddr *>(&sa), sizeof sa) != 0 ||
        getsockname(s, reinterpret_cast<sockaddr *>(&sa), &len) != 0) {
        RawClose(s);
        return kRawInvalid;
    }
    *port = ntohs(sa.sin_port);
    return s;
}

// A listener on 127.0.0.1 with a kernel-chosen port (*port); kRawInvalid on failure.
inline RawSock RawListen(uint16_t *port, int backlog = 16)
{
    RawSock s = RawBoundNotListening(port);
    if (s != kRawInvalid && listen(s, backlog) != 0) {
        RawClose(s);
        return kRawInvalid;
    }
    return s;
}

// Closes with SO_LINGER {1, 0}: the peer sees a reset. False if the option was refused.
inline bool RawReset(RawSock s)
{
    linger lg{};
    lg.l_onoff = 1;
    lg.l_linger = 0;
    bool ok = setsockopt(s, SOL_SOCKET, SO_LINGER, reinterpret_cast<const char *>(&lg), sizeof lg) == 0;
    RawClose(s);
    return ok;
}

// recv(): bytes, 0 at end of stream, -1 on error (RawWasReset() tells a reset apart).
inline long RawRecv(RawSock s, void *buf, size_t len)
{
    return (long)recv(s, static_cast<char *>(buf), (int)len, 0);
}

inline bool RawWasReset()
{
#if defined(_WIN32)
    int e = WSAGetLastError();
    return e == WSAECONNRESET || e == WSAECONNABORTED;
#else
    return errno == ECONNRESET;
#endif
}

// 1 when s is readable within ms milliseconds, 0 on timeout, -1 on error.
inline int RawWaitReadable(RawSock s, int ms)
{
#if defined(_WIN32)
    WSAPOLLFD p{};
    p.fd = s;
    p.events = POLLRDNORM;
    int n = WSAPoll(&p, 1, ms);
#else
    pollfd p{s, POLLIN, 0};
    int n = poll(&p, 1, ms);
#endif
    return n > 0 ? 1 : n;
}

// Whether ::1 can be bound on this host.
inline bool RawIpv6Bindable()
{
    RawSock s = RawSocket(AF_INET6);
    if (s == kRawInvalid)
        return false;
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_addr = in6addr_loopback;
    bool ok = bind(s, reinterpret_cast<sockaddr *>(&sa), sizeof sa) == 0;
    RawClose(s);
    return ok;
}

// Open descriptors (POSIX) or kernel handles (Windows, where every socket is one) of this process.
inline int OpenHandles()
{
#if defined(_WIN32)
    DWORD n = 0;
    GetProcessHandleCount(GetCurrentProcess(), &n);
    return (int)n;
#else
    int n = 0;
    for (int fd = 0; fd < 8192; fd++)
        n += fcntl(fd, F_GETFD) != -1;
    return n;
#endif
}

// True in a Windows build running under Wine (which differs from Windows in a few documented places).
inline bool RunningUnderWine()
{
#if defined(_WIN32)
    HMODULE ntdll = GetModuleHandleA("ntdll.dll");
    return ntdll && GetProcAddress(ntdll, "wine_get_version") != nullptr;
#else
    return false;
#endif
}

inline void EnvSet(const char *name, const char *value)
{
#if defined(_WIN32)
    _putenv_s(name, value);
#else
    setenv(name, value, 1);
#endif
}

inline void EnvUnset(const char *name)
{
#if defined(_WIN32)
    _putenv_s(name, ""); // an empty value removes the variable
#else
    unsetenv(name);
#endif
}

} // namespace rpt
