/* The IOCP backend: one completion port per worker, dequeued in batches with GetQueuedCompletionStatusEx.
 * Every request is native: AcceptEx (several kept posted per listener, each with a pre-created socket),
 * ConnectEx, WSARecv (optionally a zero-byte one first, see RP_LOOP_IDLE_RECV), WSASend with gather lists.
 * Cross-thread wake-ups are PostQueuedCompletionStatus packets.
 *
 * Every request in flight counts in its socket's kernel_refs, and a socket is released (closesocket and
 * slot reuse) only when that count is back to zero: an OVERLAPPED belongs to the kernel until its packet
 * has been dequeued, even after CancelIoEx or closesocket.
 *
 * With FILE_SKIP_COMPLETION_PORT_ON_SUCCESS (only when every TCP provider returns IFS handles) a request
 * that succeeds at once posts no packet. Such requests, and requests that fail at once (which never post
 * one), go on the worker's "done" list and are handled in the next wait exactly like a dequeued packet, so
 * no result is handled inside the call that started the request and none is handled twice.
 *
 * A handle that already belongs to a completion port (a socket handed over from another process shares
 * its sender's, and CreateIoCompletionPort cannot change that) runs with events (IOCP_BF_EVENTS): each
 * request gets an event, with the OVERLAPPED's low bit set so that the other port never sees a packet,
 * and a thread-pool wait on the event posts the packet to this worker's port. */
#include <stdio.h>
#include <stdlib.h>

#include <mswsock.h>
#include <afunix.h>

#include "core/backend.h"
#include "core/handoff.h"
#include "win/net_win.h"

/* rp_sock.bflags */
#define IOCP_BF_SKIP_ON_SUCCESS 0x1u /* the socket posts no packet for requests that succeed at once */
#define IOCP_BF_EVENTS 0x2u          /* requests signal events, whose waits post the packets (see above) */

#define WAKE_KEY ((ULONG_PTR)1)
#define SOCK_KEY ((ULONG_PTR)0)
#define MAX_ENTRIES 1024u
/* AcceptEx writes each address with 16 bytes of its own: room for the largest (a Unix domain path). */
#define ACCEPT_ADDR_LEN ((DWORD)(sizeof(SOCKADDR_UN) + 16))
#define MAX_IO_LEN 0x7FFFFFFFu /* WSABUF lengths are 32-bit */
#define SEND_BUFS 64           /* WSABUFs per WSASend (rp_buf and WSABUF differ in layout: copied) */

typedef struct accept_slot {
    rp_win_io io; /* first: the packet's OVERLAPPED is the slot */
    SOCKET sock;  /* the pre-created socket the connection is accepted into */
    int in_flight;
    char addrs[2 * ACCEPT_ADDR_LEN];
} accept_slot;

typedef struct accept_posts {
    accept_slot *slots;
    uint32_t count;
    uint32_t in_flight;
    rp_sock *sock;                    /* the listener */
    struct accept_posts *repost_next; /* on the worker's repost list */
    int on_repost;
} accept_posts;

typedef struct iocp_worker {
    HANDLE port;
    OVERLAPPED_ENTRY *entries;
    ULONG max_entries;
    rp_win_io *done_head, *done_tail;
    accept_posts *repost; /* listeners with idle accept slots to fill at the next wait */
    LPFN_ACCEPTEX accept_ex;
    LPFN_CONNECTEX connect_ex;
    LPFN_TRANSMITFILE transmit_file;
    int skip_on_success;
} iocp_worker;

static iocp_worker *iocp_of(rp_worker *w) { return (iocp_worker *)w->backend; }

static int load_extension(SOCKET s, GUID guid, void *fn, size_t fn_size)
{
    DWORD bytes = 0;
    if (WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &guid, sizeof guid, fn, (DWORD)fn_size, &bytes, NULL, NULL) != 0)
        return rp__from_wsa(WSAGetLastError());
    return 0;
}

static int load_extensions(LPFN_ACCEPTEX *accept_ex, LPFN_CONNECTEX *connect_ex, LPFN_TRANSMITFILE *transmit_file)
{
    GUID accept_guid = WSAID_ACCEPTEX, connect_guid = WSAID_CONNECTEX, transmit_guid = WSAID_TRANSMITFILE;
    rp_fd s;
    int err = rp__net_socket(AF_INET, 1, &s);
    if (err)
        return err;
    err = load_extension(s, accept_guid, accept_ex, sizeof *accept_ex);
    if (!err)
        err = load_extension(s, connect_guid, connect_ex, sizeof *connect_ex);
    if (!err)
        err = load_extension(s, transmit_guid, transmit_file, sizeof *transmit_file);
    closesocket(s);
    return err;
}

static int iocp_probe(char *why, size_t n)
{
    LPFN_ACCEPTEX a;
    LPFN_CONNECTEX c;
    LPFN_TRANSMITFILE tf;
    int err = load_extensions(&a, &c, &tf);
    if (err)
        snprintf(why, n, "Winsock has no AcceptEx/ConnectEx/TransmitFile: %s", rp_strerror(err));
    return err;
}

static int iocp_worker_init(rp_worker *w, unsigned depth, int threaded)
{
    RP_UNUSED(threaded);
    iocp_worker *iw = calloc(1, sizeof *iw);
    if (!iw)
        return RP_ENOMEM;
    iw->max_entries = depth > MAX_ENTRIES ? MAX_ENTRIES : depth;
    iw->entries = calloc(iw->max_entries, sizeof *iw->entries);
    int err = iw->entries ? load_extensions(&iw->accept_ex, &iw->connect_ex, &iw->transmit_file) : RP_ENOMEM;
    if (!err) {
        iw->port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
        if (!iw->port)
            err = rp__from_wsa((int)GetLastError());
    }
    if (err) {
        free(iw->entries);
        free(iw);
        return err;
    }
    /* RINGPORT_IOCP_NO_SKIP=1 takes the path of systems with non-IFS providers: every request posts. */
    const char *no_skip = getenv("RINGPORT_IOCP_NO_SKIP");
    iw->skip_on_success = !(no_skip && no_skip[0] == '1') && rp__net_ifs_handles_only();
    w->backend = iw;
    return 0;
}

static void iocp_worker_fini(rp_worker *w)
{
    iocp_worker *iw = iocp_of(w);
    if (!iw)
        return;
    CloseHandle(iw->port);
    free(iw->entries);
    free(iw);
    w->backend = NULL;
}

static void iocp_wake(rp_worker *w)
{
    PostQueuedCompletionStatus(iocp_of(w)->port, 0, WAKE_KEY, NULL);
}

static void io_init(rp_win_io *io, rp_sock *s, uint32_t dir)
{
    memset(io, 0, sizeof *io);
    io->sock = s;
    io->dir = dir;
}

static int iocp_attach(rp_worker *w, rp_sock *s)
{
    if (CreateIoCompletionPort((HANDLE)s->fd, iocp_of(w)->port, SOCK_KEY, 0) != iocp_of(w)->port) {
        DWORD e = GetLastError();
        if (e != ERROR_INVALID_PARAMETER)
            return rp__from_wsa((int)e);
        s->bflags |= IOCP_BF_EVENTS; /* the handle is bound to another port already */
    }
    /* Skip-on-success is known safe for the TCP and UDP providers (checked at start-up), not AF_UNIX's. */
    if (iocp_of(w)->skip_on_success && s->family != AF_UNIX && !(s->bflags & IOCP_BF_EVENTS) &&
        SetFileCompletionNotificationModes((HANDLE)s->fd,
                                           FILE_SKIP_COMPLETION_PORT_ON_SUCCESS | FILE_SKIP_SET_EVENT_ON_HANDLE))
        s->bflags |= IOCP_BF_SKIP_ON_SUCCESS;
    if (s->type == RP_SOCK_STREAM) {
        io_init(&s->u.stream.io.rio, s, RP_DIR_RECV);
        io_init(&s->u.stream.io.sio, s, RP_DIR_SEND);
        io_init(&s->u.stream.io.cio, s, RP_DIR_CONNECT);
    } else if (s->type == RP_SOCK_DGRAM) {
        io_init(&s->u.stream.io.rio, s, RP_DIR_RECV);
        io_init(&s->u.stream.io.sio, s, RP_DIR_SEND);
        s->u.stream.io.dgram.pool_idx = -1;
    }
    return 0;
}

/* rp_socket_move: a handle's completion port cannot be changed with CreateIoCompletionPort; Windows 8.1+
 * replaces it with NtSetInformationFile(FileReplaceCompletionInformation). Where that call is missing or
 * refused (older systems, Wine) the socket, idle now, goes on with events (IOCP_BF_EVENTS), which post to
 * whichever worker owns it. */
typedef struct completion_info {
    HANDLE port;
    PVOID key;
} completion_info;
typedef struct nt_io_status {
    union {
        LONG status;
        PVOID pointer;
    } u;
    ULONG_PTR information;
} nt_io_status;
typedef LONG(WINAPI *nt_set_information_file_fn)(HANDLE, nt_io_status *, PVOID, ULONG, int);
#define FILE_REPLACE_COMPLETION_INFORMATION 61

static int replace_port(rp_sock *s, HANDLE port)
{
    HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
    nt_set_information_file_fn set_info =
        ntdll ? (nt_set_information_file_fn)(void (*)(void))GetProcAddress(ntdll, "NtSetInformationFile") : NULL;
    if (!set_info)
        return -1;
    completion_info info = {port, (PVOID)SOCK_KEY};
    nt_io_status io;
    memset(&io, 0, sizeof io);
    /* STATUS_INVALID_INFO_CLASS, STATUS_NOT_IMPLEMENTED, ...: negative */
    return set_info((HANDLE)s->fd, &io, &info, sizeof info, FILE_REPLACE_COMPLETION_INFORMATION) < 0 ? -1 : 0;
}

static int iocp_sock_move(rp_worker *from, rp_worker *to, rp_sock *s)
{
    RP_UNUSED(from);
    if (!(s->bflags & IOCP_BF_EVENTS) && replace_port(s, iocp_of(to)->port) != 0) {
        s->bflags |= IOCP_BF_EVENTS;
        s->bflags &= ~IOCP_BF_SKIP_ON_SUCCESS; /* the event is set for every request that does not fail */
    }
    return 0; /* an IOCP_BF_EVENTS request names the port to post to each time (ov_reset) */
}

/* A request finished inside the call that started it, without a packet to come: handled by the next wait. */
static void done_push(rp_worker *w, rp_win_io *io, int error, DWORD bytes)
{
    iocp_worker *iw = iocp_of(w);
    io->error = error;
    io->bytes = bytes;
    io->done_next = NULL;
    if (iw->done_tail)
        iw->done_tail->done_next = io;
    else
        iw->done_head = io;
    iw->done_tail = io;
}

/* Error of a finished request: the OVERLAPPED carries an NTSTATUS; Winsock translates it. */
static int packet_error(rp_win_io *io, SOCKET fd)
{
    if (io->ov.Internal == 0)
        return 0;
    DWORD bytes = 0, flags = 0;
    if (WSAGetOverlappedResult(fd, &io->ov, &bytes, FALSE, &flags))
        return 0;
    int e = WSAGetLastError();
    return e ? e : WSAECONNABORTED;
}

/* ---- requests of IOCP_BF_EVENTS sockets ---- */
/* Clears a request record before the call that starts it; a request of an IOCP_BF_EVENTS socket gets its
 * event. Returns 0, or the WSA error the request fails with (no event could be made): then the caller
 * reports it with request_failed. */
static int ov_reset(rp_worker *w, rp_sock *s, rp_win_io *io)
{
    memset(&io->ov, 0, sizeof io->ov);
    if (!(s->bflags & IOCP_BF_EVENTS))
        return 0;
    io->event = CreateEventW(NULL, FALSE, FALSE, NULL);
    if (!io->event)
        return WSAENOBUFS;
    io->port = iocp_of(w)->port;
    io->ov.hEvent = (HANDLE)((ULONG_PTR)io->event | 1u); /* the low bit: no packet to the handle's port */
    return 0;
}

/* The thread-pool wait saw the request's event: the packet the port would have had. */
static VOID CALLBACK event_signalled(PVOID ctx, BOOLEAN timed_out)
{
    RP_UNUSED(timed_out); /* the wait has no time-out */
    rp_win_io *io = (rp_win_io *)ctx;
    /* Posting fails only when the system is out of memory, and the request must still be reported once. */
    while (!PostQueuedCompletionStatus(io->port, (DWORD)io->ov.InternalHigh, SOCK_KEY, &io->ov))
        Sleep(1);
}

/* A request of an IOCP_BF_EVENTS socket is in flight (or done: its event is set either way). */
static void watch_event(rp_worker *w, rp_sock *s, rp_win_io *io)
{
    if (RegisterWaitForSingleObject(&io->wait, io->event, event_signalled, io, INFINITE,
                                    WT_EXECUTEONLYONCE | WT_EXECUTEINWAITTHREAD))
        return;
    /* Nobody would see it end: end it now and report what it came to. */
    io->wait = NULL;
    CancelIoEx((HANDLE)s->fd, &io->ov);
    WaitForSingleObject(io->event, INFINITE);
    int e = packet_error(io, s->fd);
    done_push(w, io, e == WSA_OPERATION_ABORTED ? WSAENOBUFS : e, (DWORD)io->ov.InternalHigh);
}

/* The request's packet is being handled: its wait (whose callback has run) and event go. */
static void event_release(rp_win_io *io)
{
    if (io->wait)
        UnregisterWaitEx(io->wait, INVALID_HANDLE_VALUE); /* returns at once: the callback has posted */
    io->wait = NULL;
    CloseHandle(io->event);
    io->event = NULL;
}

/* Bookkeeping after WSARecv/WSASend/AcceptEx/ConnectEx returned: ok is its success flag. */
static void issued(rp_worker *w, rp_sock *s, rp_win_io *io, int ok, DWORD bytes)
{
    s->kernel_refs++;
    int e = ok ? 0 : WSAGetLastError();
    if (!ok && e != WSA_IO_PENDING) {
        done_push(w, io, e, 0); /* failed at once: no packet */
        return;
    }
    if (s->bflags & IOCP_BF_EVENTS)
        watch_event(w, s, io);
    else if (ok && (s->bflags & IOCP_BF_SKIP_ON_SUCCESS))
        done_push(w, io, 0, bytes); /* no packet will come */
    /* else the packet reports it */
}

/* A request that could not be started (e.g. no event for it): reported like one that failed at once. */
static void request_failed(rp_worker *w, rp_sock *s, rp_win_io *io, int error)
{
    s->kernel_refs++;
    done_push(w, io, error, 0);
}

/* ---- receive ---- */
/* A plain receive reads into the op's buffer (or, with RP_LOOP_IDLE_RECV, first waits with a zero-byte
 * WSARecv); a pool receive always waits with a zero-byte WSARecv and then reads into pool buffers without
 * blocking, so an idle connection locks no buffer in the kernel. */
static void start_recv(rp_worker *w, rp_sock *s, rp_op *op)
{
    rp_win_io *io = &s->u.stream.io.rio;
    rp_op_priv *p = RP_PRIV(op);
    WSABUF b;
    DWORD bytes = 0, flags = 0;
    int e = ov_reset(w, s, io);
    if (e) {
        request_failed(w, s, io, e);
        return;
    }
    io->zero_read = op->kind == RP_OP_RECV_POOL || op->kind == RP_OP_RECV_SOCKET ||
                    (w->loop->flags & RP_LOOP_IDLE_RECV) != 0;
    b.buf = io->zero_read ? NULL : (char *)p->u.recv.buf;
    b.len = io->zero_read ? 0 : (ULONG)(p->u.recv.len > MAX_IO_LEN ? MAX_IO_LEN : p->u.recv.len);
    int rc = WSARecv(s->fd, &b, 1, &bytes, &flags, &io->ov, NULL);
    issued(w, s, io, rc == 0, bytes);
}

/* A receive without blocking (the socket is non-blocking): 0 with *n bytes, or the WSA error. */
static int recv_now(rp_sock *s, void *buf, size_t len, DWORD *n)
{
    WSABUF b;
    DWORD flags = 0;
    b.buf = (char *)buf;
    b.len = (ULONG)(len > MAX_IO_LEN ? MAX_IO_LEN : len);
    *n = 0;
    return WSARecv(s->fd, &b, 1, n, &flags, NULL, NULL) == 0 ? 0 : WSAGetLastError();
}

/* After the zero-byte receive: the op's buffer, read without blocking. */
static void read_ready(rp_worker *w, rp_sock *s, rp_op *op)
{
    DWORD n;
    int e = recv_now(s, RP_PRIV(op)->u.recv.buf, RP_PRIV(op)->u.recv.len, &n);
    if (e == 0) {
        rp__io_finish(w, s, RP_DIR_RECV, (int64_t)n);
        return;
    }
    if (e == WSAEWOULDBLOCK)
        start_recv(w, s, op); /* someone else's data, or a spurious wake: wait again */
    else
        rp__io_finish(w, s, RP_DIR_RECV, rp__from_wsa(e));
}

/* After the zero-byte receive of a pool receive: pool buffers, read without blocking until the socket is
 * drained, the core says to wait (no free buffer, or enough chunks wait for delivery: it starts the
 * receive again when it can go on) or the receive ends. */
static void read_pool_ready(rp_worker *w, rp_sock *s, rp_op *op)
{
    for (;;) {
        void *buf;
        size_t len;
        int64_t idx = rp__buf_take(w, s, &buf, &len);
        if (idx < 0)
            return;
        DWORD n;
        int e = recv_now(s, buf, len, &n);
        if (e == 0 && n > 0) {
            if (rp__recv_pool_data(w, s, idx, n) == RP_IO_FINISHED)
                return;
            continue;
        }
        rp__buf_untake(w, s, idx);
        if (e == WSAEWOULDBLOCK)
            start_recv(w, s, op); /* drained: wait with a zero-byte receive again */
        else
            rp__io_finish(w, s, RP_DIR_RECV, e ? rp__from_wsa(e) : 0); /* 0: the end of the stream */
        return;
    }
}

/* After the zero-byte receive of an rp_recv_socket: the message, read without blocking and never past its
 * end (what follows on the channel belongs to the next receive). */
static void read_xfer_ready(rp_worker *w, rp_sock *s, rp_op *op)
{
    rp_xfer_in *in = RP_PRIV(op)->u.xfer_in.in;
    for (;;) {
        void *buf;
        size_t len;
        rp__xfer_in_target(in, &buf, &len);
        DWORD n;
        int e = recv_now(s, buf, len, &n);
        if (e == WSAEWOULDBLOCK) {
            start_recv(w, s, op); /* the rest is still on its way */
            return;
        }
        int64_t r = e ? rp__from_wsa(e) : rp__xfer_in_progress(in, n);
        if (r != RP_XFER_MORE) {
            rp__io_finish(w, s, RP_DIR_RECV, r);
            return;
        }
    }
}

static void on_recv(rp_worker *w, rp_sock *s, rp_win_io *io, int error, DWORD bytes)
{
    if (error) {
        rp__io_finish(w, s, RP_DIR_RECV, rp__from_wsa(error));
        return;
    }
    if (!io->zero_read) {
        rp__io_finish(w, s, RP_DIR_RECV, (int64_t)bytes);
        return;
    }
    /* The zero-byte receive says data (or the end of the stream) is there: read it without blocking. */
    if (rp__io_stopping(s, RP_DIR_RECV)) {
        rp__io_finish(w, s, RP_DIR_RECV, RP_ECANCELED);
        return;
    }
    rp_op *op = rp__io_op(s, RP_DIR_RECV);
    switch ((rp_op_kind)op->kind) {
    case RP_OP_RECV: read_ready(w, s, op); return;
    case RP_OP_RECV_POOL: read_pool_ready(w, s, op); return;
    case RP_OP_RECV_SOCKET: read_xfer_ready(w, s, op); return;
    case RP_OP_ACCEPT:
    case RP_OP_CONNECT:
    case RP_OP_SEND:
    case RP_OP_UDP_SEND:
    case RP_OP_UDP_RECV:
    case RP_OP_UDP_RECV_POOL: /* datagram sockets take on_udp_recv */
    case RP_OP_SEND_SOCKET:
    case RP_OP_SENDFILE:
    RP_CASE_KINDS_RUN_BY_THE_CORE: break; /* never in the receive direction (op table) */
    }
    rp__io_finish(w, s, RP_DIR_RECV, RP_EINVAL);
}

/* ---- send ---- */
/* One WSASend for the rest of the head op and, coalesced, the sends queued behind it (not cancelled), in
 * order: up to SEND_BUFS buffers. s->send_batch tells the core how many ops the request covers. */
static void start_send(rp_worker *w, rp_sock *s, rp_op *op)
{
    rp_win_io *io = &s->u.stream.io.sio;
    WSABUF wb[SEND_BUFS];
    DWORD n = 0, bytes = 0;
    uint32_t ops = 0;
    int cut = 0; /* a buffer longer than one WSABUF can take: the rest goes in the next request */
    /* A socket handed over is bytes like a send's here: its message has no control data (win/xfer_win.c). */
    for (rp_op *it = op; it && (it->kind == RP_OP_SEND || it->kind == RP_OP_SEND_SOCKET) && n < SEND_BUFS && !cut;
         it = RP_PRIV(it)->next) {
        rp_op_priv *p = RP_PRIV(it);
        if (it != op && p->cancelled)
            break;
        for (size_t i = p->u.send.idx; i < p->u.send.count && n < SEND_BUFS; i++) {
            const rp_buf *b = &p->u.send.bufs[i];
            size_t off = i == p->u.send.idx ? p->u.send.off : 0;
            size_t len = b->len - off;
            if (len == 0)
                continue;
            wb[n].buf = (char *)b->base + off;
            wb[n].len = (ULONG)(len > MAX_IO_LEN ? MAX_IO_LEN : len);
            n++;
            if (len > MAX_IO_LEN) {
                cut = 1;
                break;
            }
        }
        ops++;
    }
    s->send_batch = ops;
    int e = ov_reset(w, s, io);
    if (e) {
        request_failed(w, s, io, e);
        return;
    }
    int rc = WSASend(s->fd, wb, n, &bytes, 0, &io->ov, NULL); /* WSASend copies the WSABUF array */
    issued(w, s, io, rc == 0, bytes);
}

/* ---- rp_sendfile ---- */
/* One TransmitFile for what is left of the head, up to TF_MAX bytes of the file's range (from the offset
 * in the OVERLAPPED: ringport's handle onto the file is overlapped, win/sendfile_win.c) and the tail if
 * the range ends in this request. A request whose file part comes back short met the file's end. */
#define TF_MAX 0x7FFFFFFEu /* bytes one TransmitFile moves at most */

static void start_sendfile(rp_worker *w, rp_sock *s, rp_op *op)
{
    rp_win_io *io = &s->u.stream.io.sio;
    rp_op_priv *p = RP_PRIV(op);
    uint32_t idx = p->u.send.idx;
    size_t off = p->u.send.off;
    while (idx < 3 && rp__send_seg_len(op, idx) == off) {
        idx++;
        off = 0;
    }
    TRANSMIT_FILE_BUFFERS tfb;
    memset(&tfb, 0, sizeof tfb);
    uint64_t head = 0, chunk = 0, tail = 0, at = p->u.send.file.file_off;
    if (idx == 0) {
        head = rp__send_seg_len(op, 0) - off;
        tfb.Head = (PVOID)(uintptr_t)(p->u.send.file.head + off);
    } else if (idx == 2) { /* only the tail is left: it goes as the "head" of a request without a file */
        head = rp__send_seg_len(op, 2) - off;
        tfb.Head = (PVOID)(uintptr_t)(p->u.send.file.tail + off);
    }
    if (head > TF_MAX)
        head = TF_MAX;
    if (idx <= 1) {
        uint64_t file_done = idx == 1 ? off : 0;
        uint64_t file_left = rp__send_seg_len(op, 1) - file_done;
        at += file_done;
        chunk = file_left < TF_MAX - head ? file_left : TF_MAX - head;
        if (chunk == file_left && p->u.send.file.tail_len <= TF_MAX - head - chunk) {
            tail = p->u.send.file.tail_len;
            tfb.Tail = (PVOID)(uintptr_t)p->u.send.file.tail;
        }
    }
    tfb.HeadLength = (DWORD)head;
    tfb.TailLength = (DWORD)tail;
    io->want = head + chunk + tail;
    io->file_part = chunk;
    s->send_batch = 1;
    int e = ov_reset(w, s, io);
    if (e) {
        request_failed(w, s, io, e);
        return;
    }
    io->ov.Offset = (DWORD)at;
    io->ov.OffsetHigh = (DWORD)(at >> 32);
    HANDLE file = chunk ? (HANDLE)p->u.send.file.file : NULL;
    BOOL ok = iocp_of(w)->transmit_file(s->fd, file, (DWORD)chunk, 0, &io->ov, head || tail ? &tfb : NULL, 0);
    issued(w, s, io, ok != FALSE, (DWORD)io->ov.InternalHigh); /* no count from the call: the OVERLAPPED's */
}

static void iocp_io_start(rp_worker *w, rp_sock *s, uint32_t dir, rp_op *op);

static void on_send(rp_worker *w, rp_sock *s, rp_win_io *io, int error, DWORD bytes)
{
    rp_op *op = rp__io_op(s, RP_DIR_SEND);
    int err = error ? rp__from_wsa(error) : 0;
    /* A TransmitFile request ends early without an error only at the file's end. */
    if (!err && op && op->kind == RP_OP_SENDFILE && io->file_part > 0 && bytes < io->want)
        err = RP_ENODATA;
    /* A send stopped part-way still reports what went out through rp_op_sent. */
    if (rp__send_progress(w, s, bytes, err) == RP_IO_RESTART)
        iocp_io_start(w, s, RP_DIR_SEND, rp__io_op(s, RP_DIR_SEND)); /* the rest, or the next send */
}

/* ---- connect ---- */
/* With early data (TCP Fast Open): TCP_FASTOPEN on the socket, then the data as ConnectEx's send buffer,
 * which the system puts in the SYN where it has a cookie and sends right after the handshake otherwise.
 * A system that refuses the option (before Windows 10 1607; Wine) still sends the buffer after a plain
 * handshake. The connect completes once every byte went: whatever ConnectEx did not send goes out by
 * WSASend on the same request record first. */
static void start_connect(rp_worker *w, rp_sock *s, rp_op *op)
{
    rp_win_io *io = &s->u.stream.io.cio;
    rp_op_priv *p = RP_PRIV(op);
    int len = 0;
    int err = rp__net_bind_any(s->fd, s->family); /* ConnectEx works only on a bound socket */
    int e = err ? WSAGetLastError() : ov_reset(w, s, io);
    if (e) {
        request_failed(w, s, io, e);
        return;
    }
    if (p->u.connect.early)
        rp__net_fastopen_client(s->fd);
    rp__net_to_sockaddr(&p->u.connect.addr, &s->u.stream.connect_addr, &len);
    DWORD sent = 0;
    BOOL ok = iocp_of(w)->connect_ex(s->fd, (const struct sockaddr *)&s->u.stream.connect_addr, len,
                                     (PVOID)(uintptr_t)p->u.connect.early, p->u.connect.early_len, &sent, &io->ov);
    issued(w, s, io, ok != FALSE, sent);
}

/* The rest of the early data after the connect (a partial send). */
static void send_early_rest(rp_worker *w, rp_sock *s, rp_op_priv *p)
{
    rp_win_io *io = &s->u.stream.io.cio;
    WSABUF b;
    DWORD bytes = 0;
    b.buf = (char *)(uintptr_t)(p->u.connect.early + p->u.connect.early_sent);
    b.len = p->u.connect.early_len - p->u.connect.early_sent;
    int e = ov_reset(w, s, io);
    if (e) {
        request_failed(w, s, io, e);
        return;
    }
    int rc = WSASend(s->fd, &b, 1, &bytes, 0, &io->ov, NULL);
    issued(w, s, io, rc == 0, bytes);
}

static void on_connect(rp_worker *w, rp_sock *s, int error, DWORD bytes)
{
    rp_op *op = rp__io_op(s, RP_DIR_CONNECT);
    rp_op_priv *p = op ? RP_PRIV(op) : NULL;
    if (!error && p && !p->u.connect.established) {
        if (setsockopt(s->fd, SOL_SOCKET, SO_UPDATE_CONNECT_CONTEXT, NULL, 0) != 0)
            error = WSAGetLastError();
        p->u.connect.established = 1;
    }
    if (!error && p && p->u.connect.early) {
        uint32_t left = p->u.connect.early_len - p->u.connect.early_sent;
        p->u.connect.early_sent += bytes < left ? (uint32_t)bytes : left;
        if (p->u.connect.early_sent < p->u.connect.early_len) {
            if (rp__io_stopping(s, RP_DIR_CONNECT))
                rp__connect_finish(w, s, RP_ECANCELED);
            else
                send_early_rest(w, s, p);
            return;
        }
    }
    rp__connect_finish(w, s, error ? rp__from_wsa(error) : 0);
}

/* ---- accept ---- */
static accept_posts *posts_of(rp_sock *s) { return (accept_posts *)s->u.listen.backend_posts; }

static void posts_free(rp_worker *w, rp_sock *s)
{
    accept_posts *a = posts_of(s);
    if (!a)
        return;
    if (a->on_repost) {
        accept_posts **p = &iocp_of(w)->repost;
        while (*p != a)
            p = &(*p)->repost_next;
        *p = a->repost_next;
    }
    free(a->slots);
    free(a);
    s->u.listen.backend_posts = NULL;
}

/* Keeps AcceptEx posted in every idle slot while accepts are wanted. */
static void post_accepts(rp_worker *w, rp_sock *s)
{
    accept_posts *a = posts_of(s);
    if (!a) {
        a = calloc(1, sizeof *a);
        if (a) {
            a->count = s->u.listen.posted_depth ? s->u.listen.posted_depth : 1;
            a->slots = calloc(a->count, sizeof *a->slots);
            if (!a->slots) {
                free(a);
                a = NULL;
            }
        }
        if (!a) {
            rp__accept_stopped(w, s, RP_ENOMEM); /* retried after the back-off */
            return;
        }
        for (uint32_t i = 0; i < a->count; i++) {
            io_init(&a->slots[i].io, s, RP_DIR_ACCEPT);
            a->slots[i].sock = INVALID_SOCKET;
        }
        a->sock = s;
        s->u.listen.backend_posts = a;
    }
    int create_error = 0;
    for (uint32_t i = 0; i < a->count && rp__accept_wanted(s); i++) {
        accept_slot *slot = &a->slots[i];
        if (slot->in_flight)
            continue;
        rp_fd fd;
        if ((create_error = rp__net_socket(s->family, 1, &fd)) != 0)
            break;
        slot->sock = fd;
        slot->in_flight = 1;
        a->in_flight++;
        int e = ov_reset(w, s, &slot->io);
        if (e) {
            request_failed(w, s, &slot->io, e); /* its packet closes the socket made for it */
            continue;
        }
        DWORD bytes = 0;
        BOOL ok = iocp_of(w)->accept_ex(s->fd, fd, slot->addrs, 0, ACCEPT_ADDR_LEN, ACCEPT_ADDR_LEN, &bytes, &slot->io.ov);
        issued(w, s, &slot->io, ok != FALSE, bytes);
    }
    if (a->in_flight == 0) {
        /* Nothing could be posted: out of sockets or memory. Neither spin nor stop: back off and retry. */
        rp__accept_stopped(w, s, create_error == RP_EMFILE ? RP_EMFILE : RP_ENOBUFS);
    }
}

static void on_accept(rp_worker *w, rp_sock *s, accept_slot *slot, int error)
{
    accept_posts *a = posts_of(s);
    SOCKET fd = slot->sock;
    slot->sock = INVALID_SOCKET;
    slot->in_flight = 0;
    a->in_flight--;
    if (!error) {
        SOCKET listener = s->fd;
        if (setsockopt(fd, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT, (const char *)&listener, sizeof listener) != 0)
            error = WSAGetLastError();
    }
    if (error)
        closesocket(fd);
    else
        rp__accept_push(w, s, fd); /* closes it if the listener is closing */

    if (rp__sock_closing(s)) {
        if (a->in_flight == 0) {
            posts_free(w, s);
            rp__accept_stopped(w, s, 0); /* releases the listener */
        }
        return;
    }
    if (error)
        rp__accept_failed(w, s, rp__from_wsa(error)); /* the core decides: post again, or fail an accept */
    if (rp__accept_wanted(s)) {
        post_accepts(w, s);
    } else if (a->in_flight == 0) {
        rp__accept_stopped(w, s, 0); /* restarted by the core when an accept is wanted again */
    } else if (!a->on_repost) {
        /* Not wanted now, typically because the connections of this batch reached the core's high
         * water, while the other requests keep the direction active: so the core, once it has handed
         * the queued connections out, does not call io_start, and this slot stayed idle until another
         * AcceptEx completed. Under a burst of connections that left 17 of the 32 slots idle every
         * other iteration. The next wait, after the core's delivery, posts them again if wanted. */
        iocp_worker *iw = iocp_of(w);
        a->on_repost = 1;
        a->repost_next = iw->repost;
        iw->repost = a;
    }
}

/* Posts the idle accept slots of the listeners on the repost list (see on_accept). */
static void run_reposts(rp_worker *w)
{
    iocp_worker *iw = iocp_of(w);
    accept_posts *a;
    while ((a = iw->repost)) {
        iw->repost = a->repost_next;
        a->on_repost = 0;
        rp_sock *s = a->sock;
        if (rp__io_active(s, RP_DIR_ACCEPT) && !rp__io_stopping(s, RP_DIR_ACCEPT) && rp__accept_wanted(s))
            post_accepts(w, s);
    }
}

static void cancel_accepts(rp_sock *s)
{
    accept_posts *a = posts_of(s);
    if (!a)
        return;
    for (uint32_t i = 0; i < a->count; i++)
        if (a->slots[i].in_flight)
            CancelIoEx((HANDLE)s->fd, &a->slots[i].io.ov); /* fails harmlessly if it is on the done list */
}

/* ---- UDP ---- */
/* A receive error that must not end a receive: an ICMP report on an unconnected socket (SIO_UDP_CONNRESET
 * is off, but a platform that ignores it must not end the receive loop either). */
static int udp_ignorable(const rp_sock *s, int e)
{
    return !rp__atomic_load_u32(&((rp_sock *)s)->u.stream.dgram.peer_fixed) &&
           (e == WSAECONNRESET || e == WSAENETRESET || e == WSAEHOSTUNREACH || e == WSAENETUNREACH);
}

/* A receive error as the caller sees it: on a connected socket the ICMP port unreachable arrives as a
 * reset, which for a datagram socket means the peer refused. */
static int udp_error(int e) { return e == WSAECONNRESET ? RP_ECONNREFUSED : rp__from_wsa(e); }

/* One datagram without blocking: 0 (with its length, flags, source and, with RP_UDP_PKTINFO, its
 * destination: *has_local), or the WSA error. */
static int udp_recv_now(rp_sock *s, void *buf, uint32_t len, uint32_t *n, uint32_t *dflags, rp_addr *peer,
                        rp_addr *local, int *has_local)
{
    struct sockaddr_storage from;
    INT fromlen = sizeof from;
    WSABUF b;
    DWORD got = 0, flags = 0;
    b.buf = (char *)buf;
    b.len = len;
    *dflags = 0;
    *has_local = 0;
    int e;
    if (s->flags & RP_SF_PKTINFO) {
        union {
            uint64_t align;
            char bytes[64];
        } ctrl;
        WSAMSG msg;
        memset(&msg, 0, sizeof msg);
        msg.name = (struct sockaddr *)&from;
        msg.namelen = fromlen;
        msg.lpBuffers = &b;
        msg.dwBufferCount = 1;
        msg.Control.buf = ctrl.bytes;
        msg.Control.len = sizeof ctrl.bytes;
        e = rp__win_recvmsg()(s->fd, &msg, &got, NULL, NULL) == 0 ? 0 : WSAGetLastError();
        if (e == 0 || e == WSAEMSGSIZE)
            *has_local = rp__udp_local_from_wsamsg(&msg, s->u.stream.dgram.local_port, local) == 0;
    } else {
        e = WSARecvFrom(s->fd, &b, 1, &got, &flags, (struct sockaddr *)&from, &fromlen, NULL, NULL) == 0
                ? 0 : WSAGetLastError();
    }
    if (e == WSAEMSGSIZE) { /* truncated: the buffer is full, the rest of the datagram is gone */
        e = 0;
        got = len;
        *dflags = RP_DGRAM_TRUNC;
    }
    if (e == 0 && rp__net_from_sockaddr_unmapped(&from, peer) != 0)
        memset(peer, 0, sizeof *peer);
    *n = got;
    return e;
}

/* Posts one overlapped WSARecvFrom: into the first datagram of an rp_udp_recv, or into a pool buffer
 * taken now (a pool receive waiting for a buffer posts nothing: the core starts it again). */
static void start_udp_recv(rp_worker *w, rp_sock *s, rp_op *op)
{
    rp_win_io *io = &s->u.stream.io.rio;
    WSABUF b;
    if (op->kind == RP_OP_UDP_RECV) {
        rp_dgram *d = &RP_PRIV(op)->u.udp.v[0];
        b.buf = (char *)d->base;
        b.len = d->len;
    } else {
        void *buf;
        size_t len;
        int64_t idx = rp__buf_take(w, s, &buf, &len);
        if (idx < 0)
            return;
        s->u.stream.io.dgram.pool_idx = idx;
        b.buf = (char *)buf;
        b.len = (ULONG)len;
    }
    io->zero_read = 0;
    int e = ov_reset(w, s, io);
    if (e) {
        if (s->u.stream.io.dgram.pool_idx >= 0)
            rp__buf_untake(w, s, s->u.stream.io.dgram.pool_idx);
        s->u.stream.io.dgram.pool_idx = -1;
        request_failed(w, s, io, e);
        return;
    }
    s->u.stream.io.dgram.fromlen = (INT)sizeof s->u.stream.io.dgram.from;
    s->u.stream.io.dgram.flags = 0;
    DWORD bytes = 0;
    int rc;
    if (s->flags & RP_SF_PKTINFO) { /* WSARecvMsg: the same, plus the destination in control data */
        WSAMSG *msg = &s->u.stream.io.dgram.msg;
        memset(msg, 0, sizeof *msg);
        s->u.stream.io.dgram.buf = b;
        msg->name = (struct sockaddr *)&s->u.stream.io.dgram.from;
        msg->namelen = s->u.stream.io.dgram.fromlen;
        msg->lpBuffers = &s->u.stream.io.dgram.buf;
        msg->dwBufferCount = 1;
        msg->Control.buf = s->u.stream.io.dgram.ctrl.bytes;
        msg->Control.len = sizeof s->u.stream.io.dgram.ctrl.bytes;
        rc = rp__win_recvmsg()(s->fd, msg, &bytes, &io->ov, NULL);
    } else {
        rc = WSARecvFrom(s->fd, &b, 1, &bytes, &s->u.stream.io.dgram.flags,
                         (struct sockaddr *)&s->u.stream.io.dgram.from, &s->u.stream.io.dgram.fromlen, &io->ov, NULL);
    }
    if (rc != 0 && WSAGetLastError() == WSAEMSGSIZE) {
        /* A datagram already queued and longer than the buffer: STATUS_BUFFER_OVERFLOW is a warning, not
         * an error, so the request completes as a success does: through a packet that carries the bytes
         * kept, or, with skip-on-success, without one (then the OVERLAPPED has the count). */
        if (s->bflags & IOCP_BF_EVENTS) {
            issued(w, s, io, 1, 0); /* its event is set like a success's */
            return;
        }
        s->kernel_refs++;
        if (s->bflags & IOCP_BF_SKIP_ON_SUCCESS)
            done_push(w, io, WSAEMSGSIZE, (DWORD)io->ov.InternalHigh);
        return;
    }
    issued(w, s, io, rc == 0, bytes);
}

/* After the posted receive of a pool receive delivered: the datagrams already waiting, into more pool
 * buffers without blocking; then the next posted receive. */
static void drain_udp_pool(rp_worker *w, rp_sock *s, rp_op *op)
{
    for (int k = 0; k < 64; k++) {
        void *buf;
        size_t len;
        int64_t idx = rp__buf_take(w, s, &buf, &len);
        if (idx < 0)
            return; /* waits for buffers or deliveries: the core starts it again */
        uint32_t n, dflags;
        rp_addr peer, local;
        int has_local;
        int e = udp_recv_now(s, buf, (uint32_t)len, &n, &dflags, &peer, &local, &has_local);
        if (e) {
            rp__buf_untake(w, s, idx);
            if (e == WSAEWOULDBLOCK)
                break;
            if (udp_ignorable(s, e))
                continue;
            rp__io_finish(w, s, RP_DIR_RECV, udp_error(e));
            return;
        }
        if (rp__recv_pool_dgram(w, s, idx, 0, n, dflags, &peer, has_local ? &local : NULL) == RP_IO_FINISHED)
            return;
    }
    start_udp_recv(w, s, op);
}

static void on_udp_recv(rp_worker *w, rp_sock *s, int error, DWORD bytes)
{
    rp_op *op = rp__io_op(s, RP_DIR_RECV);
    if (!op)
        return; /* never: one receive is posted at a time, and only for the active op */
    int64_t idx = s->u.stream.io.dgram.pool_idx;
    s->u.stream.io.dgram.pool_idx = -1;
    uint32_t dflags = 0;
    if (error == WSAEMSGSIZE) {
        error = 0;
        dflags = RP_DGRAM_TRUNC;
    }
    if (error || rp__io_stopping(s, RP_DIR_RECV)) {
        if (idx >= 0)
            rp__buf_untake(w, s, idx);
        if (rp__io_stopping(s, RP_DIR_RECV))
            rp__io_finish(w, s, RP_DIR_RECV, RP_ECANCELED);
        else if (udp_ignorable(s, error))
            start_udp_recv(w, s, op);
        else
            rp__io_finish(w, s, RP_DIR_RECV, udp_error(error));
        return;
    }
    rp_addr peer, local;
    if (rp__net_from_sockaddr_unmapped((const struct sockaddr_storage *)(const void *)&s->u.stream.io.dgram.from, &peer))
        memset(&peer, 0, sizeof peer);
    int has_local = (s->flags & RP_SF_PKTINFO) &&
                    rp__udp_local_from_wsamsg(&s->u.stream.io.dgram.msg, s->u.stream.dgram.local_port, &local) == 0;
    if (op->kind == RP_OP_UDP_RECV_POOL) {
        if (rp__recv_pool_dgram(w, s, idx, 0, bytes, dflags, &peer, has_local ? &local : NULL) != RP_IO_FINISHED)
            drain_udp_pool(w, s, op);
        return;
    }
    rp_op_priv *p = RP_PRIV(op);
    rp_dgram *d = p->u.udp.v;
    d[0].len = bytes;
    d[0].flags = (uint16_t)dflags;
    d[0].error = 0;
    d[0].peer = peer;
    if (has_local) {
        d[0].local = local;
        d[0].flags |= RP_DGRAM_LOCAL;
    } else {
        memset(&d[0].local, 0, sizeof d[0].local);
    }
    uint32_t got = 1;
    while (got < p->u.udp.count) {
        uint32_t n;
        int e = udp_recv_now(s, d[got].base, d[got].len, &n, &dflags, &d[got].peer, &local, &has_local);
        if (e && udp_ignorable(s, e))
            continue;
        if (e)
            break; /* nothing more now (or an error: the next receive reports it) */
        d[got].len = n;
        d[got].flags = (uint16_t)(dflags | (has_local ? RP_DGRAM_LOCAL : 0u));
        d[got].error = 0;
        if (has_local)
            d[got].local = local;
        else
            memset(&d[got].local, 0, sizeof d[got].local);
        got++;
    }
    rp__io_finish(w, s, RP_DIR_RECV, got);
}

/* Datagrams go out with plain non-blocking sends; only one the socket has no room for is posted
 * overlapped, and the rest follow once it has completed. */
static void udp_send_go(rp_worker *w, rp_sock *s)
{
    rp_op_priv *p = RP_PRIV(rp__io_op(s, RP_DIR_SEND));
    while (p->u.udp.next < p->u.udp.count && !rp__io_stopping(s, RP_DIR_SEND)) {
        rp_dgram *d = &p->u.udp.v[p->u.udp.next];
        uint32_t part = rp__udp_seg_len(d, p->u.udp.seg_off); /* segments are split here (no USO) */
        int err = rp__udp_send_part_now(s, d, p->u.udp.seg_off, part);
        if (err == 0 && p->u.udp.seg_off + part < d->len) {
            p->u.udp.seg_off += part;
            continue;
        }
        if (err == RP_EAGAIN) {
            rp_win_io *io = &s->u.stream.io.sio;
            int len = 0;
            rp__udp_dest(s, d, &s->u.stream.io.dgram.to, &len); /* it worked a moment ago */
            WSABUF b;
            b.buf = p->u.udp.seg_off ? (char *)d->base + p->u.udp.seg_off : (char *)d->base;
            b.len = part;
            DWORD bytes = 0;
            int e = ov_reset(w, s, io);
            if (e) {
                request_failed(w, s, io, e);
                return;
            }
            int rc = WSASendTo(s->fd, &b, 1, &bytes, 0, len ? (struct sockaddr *)&s->u.stream.io.dgram.to : NULL, len,
                               &io->ov, NULL);
            issued(w, s, io, rc == 0, bytes);
            return;
        }
        d->error = err;
        p->u.udp.next++;
        p->u.udp.seg_off = 0;
    }
    rp__udp_send_done(w, s); /* datagrams not tried when it was stopped end with RP_ECANCELED */
}

static void on_udp_send(rp_worker *w, rp_sock *s, int error)
{
    rp_op_priv *p = RP_PRIV(rp__io_op(s, RP_DIR_SEND));
    rp_dgram *d = &p->u.udp.v[p->u.udp.next];
    uint32_t end = p->u.udp.seg_off + rp__udp_seg_len(d, p->u.udp.seg_off);
    if (!error && end < d->len) {
        p->u.udp.seg_off = end; /* the next segment */
    } else {
        d->error = error ? udp_error(error) : 0;
        p->u.udp.next++;
        p->u.udp.seg_off = 0;
    }
    udp_send_go(w, s);
}

/* ---- the vtable ---- */
static void iocp_io_start(rp_worker *w, rp_sock *s, uint32_t dir, rp_op *op)
{
    RP_UNUSED(dir); /* the kind says it */
    switch ((rp_op_kind)op->kind) {
    case RP_OP_RECV:
    case RP_OP_RECV_POOL: start_recv(w, s, op); break;
    case RP_OP_SEND: start_send(w, s, op); break;
    case RP_OP_UDP_SEND: udp_send_go(w, s); break;
    case RP_OP_UDP_RECV:
    case RP_OP_UDP_RECV_POOL: start_udp_recv(w, s, op); break;
    case RP_OP_ACCEPT: post_accepts(w, s); break;
    case RP_OP_CONNECT: start_connect(w, s, op); break;
    case RP_OP_SEND_SOCKET: start_send(w, s, op); break;
    case RP_OP_SENDFILE: start_sendfile(w, s, op); break;
    case RP_OP_RECV_SOCKET: start_recv(w, s, op); break;
    RP_CASE_KINDS_RUN_BY_THE_CORE: break;
    }
}

static int iocp_io_cancel(rp_worker *w, rp_sock *s, uint32_t dir)
{
    RP_UNUSED(w);
    switch ((enum rp_dir)dir) {
    case RP_DIR_RECV: CancelIoEx((HANDLE)s->fd, &s->u.stream.io.rio.ov); break;
    case RP_DIR_SEND: CancelIoEx((HANDLE)s->fd, &s->u.stream.io.sio.ov); break;
    case RP_DIR_CONNECT: CancelIoEx((HANDLE)s->fd, &s->u.stream.io.cio.ov); break;
    case RP_DIR_ACCEPT:
        cancel_accepts(s);
        return !posts_of(s) || posts_of(s)->in_flight == 0; /* nothing posted: stopped now */
    }
    return 0; /* every request reports through its packet (or the done list) */
}

static void iocp_sock_close(rp_worker *w, rp_sock *s)
{
    /* The core has asked every active direction to stop. A listener with nothing in flight can drop its
     * accept records now; otherwise the last accept packet frees them. */
    if (s->type == RP_SOCK_LISTENER && (!posts_of(s) || posts_of(s)->in_flight == 0))
        posts_free(w, s);
}

static void handle(rp_worker *w, rp_win_io *io, int error, DWORD bytes)
{
    rp_sock *s = io->sock;
    s->kernel_refs--;
    if (io->event)
        event_release(io);
    switch ((enum rp_dir)io->dir) {
    case RP_DIR_RECV:
        if (s->type == RP_SOCK_DGRAM)
            on_udp_recv(w, s, error, bytes);
        else
            on_recv(w, s, io, error, bytes);
        break;
    case RP_DIR_SEND:
        if (s->type == RP_SOCK_DGRAM)
            on_udp_send(w, s, error);
        else
            on_send(w, s, io, error, bytes);
        break;
    case RP_DIR_CONNECT: on_connect(w, s, error, bytes); break;
    case RP_DIR_ACCEPT: on_accept(w, s, (accept_slot *)(void *)io, error); break;
    }
    /* The core releases a closing socket once nothing is in flight: s may be gone now. */
}

static int run_done(rp_worker *w)
{
    iocp_worker *iw = iocp_of(w);
    rp_win_io *io = iw->done_head;
    int n = 0;
    /* Handlers may queue new entries: take the current list only, so one wait cannot spin forever. */
    iw->done_head = iw->done_tail = NULL;
    while (io) {
        rp_win_io *next = io->done_next;
        io->done_next = NULL;
        handle(w, io, io->error, io->bytes);
        io = next;
        n++;
    }
    return n;
}

static void iocp_wait(rp_worker *w, int64_t timeout_ns)
{
    iocp_worker *iw = iocp_of(w);
    DWORD ms;
    run_reposts(w);
    if (run_done(w) > 0 || iw->done_head)
        timeout_ns = 0; /* results are ready: do not sleep */
    if (timeout_ns < 0)
        ms = INFINITE;
    else if (timeout_ns == 0)
        ms = 0;
    else
        ms = (DWORD)((uint64_t)timeout_ns / 1000000u + ((uint64_t)timeout_ns % 1000000u != 0));
    if (timeout_ns > 0 && (uint64_t)timeout_ns / 1000000u >= INFINITE)
        ms = INFINITE - 1;
    ULONG n = 0;
    if (!GetQueuedCompletionStatusEx(iw->port, iw->entries, iw->max_entries, &n, ms, FALSE))
        return; /* timed out */
    for (ULONG i = 0; i < n; i++) {
        OVERLAPPED_ENTRY *e = &iw->entries[i];
        if (!e->lpOverlapped) {
            if (e->lpCompletionKey == WAKE_KEY)
                rp__wake_consumed(w);
            continue;
        }
        rp_win_io *io = (rp_win_io *)(void *)e->lpOverlapped;
        rp_sock *s = io->sock;
        handle(w, io, packet_error(io, s->fd), e->dwNumberOfBytesTransferred);
    }
}

const rp_backend_vtable rp__backend_iocp = {
    .id = RP_BACKEND_IOCP,
    .nonblocking = 0,
    .probe = iocp_probe,
    .worker_init = iocp_worker_init,
    .worker_fini = iocp_worker_fini,
    .wake = iocp_wake,
    .wait = iocp_wait,
    .sock_attach = iocp_attach,
    .sock_move = iocp_sock_move,
    .io_start = iocp_io_start,
    .io_cancel = iocp_io_cancel,
    .sock_close = iocp_sock_close,
};
