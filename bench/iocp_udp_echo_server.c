/* Hand-written IOCP UDP echo server: the no-library baseline for ringport's IOCP backend with UDP (Windows;
 * under Wine from Linux, like bench/iocp_echo_server.c). One socket, --slots overlapped WSARecvFrom posted
 * at once, each into its own DGRAM_MAX-byte buffer (like samples/udp_echo_server's default); a completed
 * receive is echoed with an overlapped WSASendTo from the same buffer to its source, and once that send has
 * completed the slot receives again. One thread dequeues the completions in batches
 * (GetQueuedCompletionStatusEx). SIO_UDP_CONNRESET and SIO_UDP_NETRESET are off, so an ICMP error caused by
 * an echo does not fail the next receive. A truncated datagram is counted and not echoed.
 *
 *   iocp_udp_echo_server [--host 0.0.0.0] [--port 7000] [--slots N (64)]
 *
 * Ctrl-C (or SIGINT from Wine) stops it; it prints what it served. */
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <mswsock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SIO_UDP_CONNRESET
#define SIO_UDP_CONNRESET _WSAIOW(IOC_VENDOR, 12)
#endif
#ifndef SIO_UDP_NETRESET
#define SIO_UDP_NETRESET _WSAIOW(IOC_VENDOR, 15)
#endif
#define DGRAM_MAX 2048
#define SLOTS_MAX 4096
#define STATUS_BUFFER_OVERFLOW_ ((ULONG_PTR)0x80000005L) /* a datagram longer than the buffer */

typedef struct slot {
    OVERLAPPED ov; /* first: a packet's OVERLAPPED is its slot */
    int sending;
    WSABUF wb;
    struct sockaddr_storage from;
    int fromlen;
    DWORD flags;
    char buf[DGRAM_MAX];
} slot;

static HANDLE port;
static SOCKET sock;
static volatile LONG stopping;
static unsigned long long received, echoed, send_errors, recv_errors, truncated;

/* Posts the slot's receive; an error at once (no packet follows) is counted and the receive tried again. */
static int post_recv(slot *c)
{
    for (int tries = 0; tries < 64; tries++) {
        c->sending = 0;
        memset(&c->ov, 0, sizeof c->ov);
        c->wb.buf = c->buf;
        c->wb.len = sizeof c->buf;
        c->fromlen = (int)sizeof c->from;
        c->flags = 0;
        if (WSARecvFrom(sock, &c->wb, 1, NULL, &c->flags, (struct sockaddr *)&c->from, &c->fromlen, &c->ov, NULL) == 0 ||
            WSAGetLastError() == WSA_IO_PENDING)
            return 0;
        if (WSAGetLastError() == WSAEMSGSIZE)
            truncated++;
        else
            recv_errors++;
    }
    return -1;
}

static void post_send(slot *c, DWORD len)
{
    c->sending = 1;
    memset(&c->ov, 0, sizeof c->ov);
    c->wb.buf = c->buf;
    c->wb.len = len;
    if (WSASendTo(sock, &c->wb, 1, NULL, 0, (struct sockaddr *)&c->from, c->fromlen, &c->ov, NULL) == 0 ||
        WSAGetLastError() == WSA_IO_PENDING)
        return;
    send_errors++; /* refused at once: no packet follows */
    post_recv(c);
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
    const char *host = "0.0.0.0";
    long portno = 7000, nslots = 64;
    for (int i = 1; i < argc; i++) {
        char *end;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fprintf(stderr, "usage: iocp_udp_echo_server [--host 0.0.0.0] [--port 7000] [--slots N (64)]\n");
            return 0;
        } else if (i + 1 < argc && !strcmp(argv[i], "--host")) {
            host = argv[++i];
        } else if (i + 1 < argc && !strcmp(argv[i], "--port")) {
            portno = strtol(argv[++i], &end, 10);
            if (*end || end == argv[i] || portno < 0 || portno > 65535) {
                fprintf(stderr, "iocp_udp_echo_server: --port expects 0 .. 65535, got \"%s\"\n", argv[i]);
                return 2;
            }
        } else if (i + 1 < argc && !strcmp(argv[i], "--slots")) {
            nslots = strtol(argv[++i], &end, 10);
            if (*end || end == argv[i] || nslots < 1 || nslots > SLOTS_MAX) {
                fprintf(stderr, "iocp_udp_echo_server: --slots expects 1 .. %d, got \"%s\"\n", SLOTS_MAX, argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "iocp_udp_echo_server: unknown option or missing value: %s\n", argv[i]);
            return 2;
        }
    }
    WSADATA wsa;
    if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0)
        return 1;
    struct sockaddr_storage sa;
    int salen;
    memset(&sa, 0, sizeof sa);
    struct sockaddr_in *a4 = (struct sockaddr_in *)&sa;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&sa;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((u_short)portno);
        salen = (int)sizeof *a4;
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((u_short)portno);
        salen = (int)sizeof *a6;
    } else {
        fprintf(stderr, "iocp_udp_echo_server: \"%s\" is not a numeric IPv4 or IPv6 address\n", host);
        return 2;
    }
    port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
    sock = WSASocketW(sa.ss_family, SOCK_DGRAM, IPPROTO_UDP, NULL, 0, WSA_FLAG_OVERLAPPED);
    if (!port || sock == INVALID_SOCKET || bind(sock, (struct sockaddr *)&sa, salen) != 0 ||
        CreateIoCompletionPort((HANDLE)sock, port, 0, 0) != port) {
        fprintf(stderr, "iocp_udp_echo_server: cannot bind %s:%ld (error %d)\n", host, portno, WSAGetLastError());
        return 1;
    }
    BOOL off = FALSE;
    DWORD got = 0;
    WSAIoctl(sock, SIO_UDP_CONNRESET, &off, sizeof off, NULL, 0, &got, NULL, NULL);
    WSAIoctl(sock, SIO_UDP_NETRESET, &off, sizeof off, NULL, 0, &got, NULL, NULL);
    slot *slots = calloc((size_t)nslots, sizeof *slots);
    if (!slots) {
        fprintf(stderr, "iocp_udp_echo_server: out of memory\n");
        return 1;
    }
    long posted = 0;
    for (long i = 0; i < nslots; i++)
        posted += post_recv(&slots[i]) == 0;
    if (posted == 0) {
        fprintf(stderr, "iocp_udp_echo_server: WSARecvFrom fails (error %d)\n", WSAGetLastError());
        return 1;
    }
    SetConsoleCtrlHandler(on_console, TRUE);
    printf("iocp_udp_echo_server: %ld overlapped WSARecvFrom of %d B, WSASendTo from the same buffer, listening on "
           "%s:%ld\n",
           nslots, DGRAM_MAX, host, portno);
    fflush(stdout);
    OVERLAPPED_ENTRY entries[128];
    while (!stopping) {
        ULONG n = 0;
        if (!GetQueuedCompletionStatusEx(port, entries, 128, &n, INFINITE, FALSE))
            continue;
        for (ULONG i = 0; i < n; i++) {
            slot *c = (slot *)(void *)entries[i].lpOverlapped;
            if (!c)
                continue; /* the stop packet */
            ULONG_PTR status = c->ov.Internal;
            if (c->sending) {
                if (status != 0)
                    send_errors++;
                else
                    echoed++;
                post_recv(c);
            } else if (status == STATUS_BUFFER_OVERFLOW_) {
                received++;
                truncated++;
                post_recv(c);
            } else if (status != 0) {
                recv_errors++;
                post_recv(c);
            } else {
                received++;
                post_send(c, entries[i].dwNumberOfBytesTransferred);
            }
        }
    }
    closesocket(sock); /* the posted operations end: collect their packets before the slots are freed */
    for (;;) {
        ULONG n = 0;
        if (!GetQueuedCompletionStatusEx(port, entries, 128, &n, 200, FALSE) || n == 0)
            break;
    }
    printf("iocp_udp_echo_server: stopped; %llu datagrams received, %llu echoed, %llu send errors, %llu receive "
           "errors, %llu truncated\n",
           received, echoed, send_errors, recv_errors, truncated);
    fflush(stdout);
    free(slots);
    WSACleanup();
    return 0;
}
