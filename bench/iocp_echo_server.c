/* Hand-written IOCP echo server: the no-library baseline for ringport's IOCP backend (Windows; under Wine
 * from Linux with scripts/bench-wine.sh). One thread accepts with plain blocking accept(); the main thread
 * dequeues completions in batches: WSARecv into the connection's buffer, WSASend of what arrived, again.
 *
 *   iocp_echo_server [--host 127.0.0.1] [--port 7000]
 */
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <process.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct conn {
    OVERLAPPED ov; /* first: a packet's OVERLAPPED is its connection */
    SOCKET s;
    int sending;
    WSABUF wb;
    DWORD off, len;
    char buf[65536]; /* as samples/echo_server */
} conn;

static HANDLE port;
static volatile LONG stopping;

static int post_recv(conn *c)
{
    DWORD flags = 0;
    c->sending = 0;
    memset(&c->ov, 0, sizeof c->ov);
    c->wb.buf = c->buf;
    c->wb.len = sizeof c->buf;
    return WSARecv(c->s, &c->wb, 1, NULL, &flags, &c->ov, NULL) == 0 || WSAGetLastError() == WSA_IO_PENDING ? 0 : -1;
}

static int post_send(conn *c)
{
    c->sending = 1;
    memset(&c->ov, 0, sizeof c->ov);
    c->wb.buf = c->buf + c->off;
    c->wb.len = c->len - c->off;
    return WSASend(c->s, &c->wb, 1, NULL, 0, &c->ov, NULL) == 0 || WSAGetLastError() == WSA_IO_PENDING ? 0 : -1;
}

static void drop(conn *c)
{
    closesocket(c->s);
    free(c);
}

static unsigned __stdcall acceptor(void *arg)
{
    SOCKET ls = (SOCKET)(uintptr_t)arg;
    while (!stopping) {
        SOCKET s = accept(ls, NULL, NULL);
        if (s == INVALID_SOCKET)
            continue;
        BOOL on = TRUE;
        setsockopt(s, IPPROTO_TCP, TCP_NODELAY, (const char *)&on, sizeof on);
        conn *c = calloc(1, sizeof *c);
        if (!c) {
            closesocket(s);
            continue;
        }
        c->s = s;
        if (CreateIoCompletionPort((HANDLE)s, port, 0, 0) != port || post_recv(c) != 0)
            drop(c); /* failed at once: no packet will come */
    }
    return 0;
}

static BOOL WINAPI on_console(DWORD type)
{
    (void)type;
    InterlockedExchange(&stopping, 1);
    PostQueuedCompletionStatus(port, 0, 1, NULL);
    return TRUE;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    int portno = 7000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--host") == 0)
            host = argv[i + 1];
        else if (strcmp(argv[i], "--port") == 0)
            portno = atoi(argv[i + 1]);
    }
    WSADATA wsa;
    if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0)
        return 1;
    port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
    SOCKET ls = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((u_short)portno);
    if (!port || ls == INVALID_SOCKET || inet_pton(AF_INET, host, &sa.sin_addr) != 1 ||
        bind(ls, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(ls, SOMAXCONN) != 0) {
        fprintf(stderr, "iocp_echo_server: cannot listen on %s:%d (error %d)\n", host, portno, WSAGetLastError());
        return 1;
    }
    SetConsoleCtrlHandler(on_console, TRUE);
    printf("iocp_echo_server: listening on %s:%d\n", host, portno);
    fflush(stdout);
    HANDLE t = (HANDLE)_beginthreadex(NULL, 0, acceptor, (void *)(uintptr_t)ls, 0, NULL);
    OVERLAPPED_ENTRY entries[128];
    while (!stopping) {
        ULONG n = 0;
        if (!GetQueuedCompletionStatusEx(port, entries, 128, &n, INFINITE, FALSE))
            continue;
        for (ULONG i = 0; i < n; i++) {
            conn *c = (conn *)(void *)entries[i].lpOverlapped;
            DWORD bytes = entries[i].dwNumberOfBytesTransferred;
            if (!c)
                continue; /* the stop packet */
            if (c->ov.Internal != 0 || (!c->sending && bytes == 0)) {
                drop(c); /* error, or the peer closed */
                continue;
            }
            if (!c->sending) {
                c->off = 0;
                c->len = bytes;
            } else {
                c->off += bytes;
            }
            if ((c->off < c->len ? post_send(c) : post_recv(c)) != 0)
                drop(c);
        }
    }
    closesocket(ls);
    if (t)
        CloseHandle(t);
    WSACleanup();
    return 0;
}
