/* The table of operation kinds: one row per kind of RP_OP_KIND_MAP (ringport.h) saying how the core runs
 * it. Every place that acts on a kind reads this row or switches over rp_op_kind without a default (the
 * build uses -Wswitch-enum), so a kind added to RP_OP_KIND_MAP without a row here, or without a case in
 * one of those switches, does not compile. docs/architecture.md ("Adding an operation") lists the places.
 *
 *   route    where the core keeps a pending op of this kind:
 *              INLINE   nowhere: it completes on its worker as soon as it gets there
 *              TIMER    the worker's timer heap
 *              CLOSE    the socket's close sequence
 *              CONNECT  the socket's connect slot (the socket is created by the submission)
 *              RECVQ    the socket's receive queue; its head is handed to the backend (RP_DIR_RECV)
 *              SENDQ    the socket's send queue; its head is handed to the backend (RP_DIR_SEND) or, for
 *                       kinds the core runs itself (dir 0), done by the core in queue order
 *              ACCEPTQ  the listener's accept queue, served from the ring of accepted connections
 *              MOVE     nowhere: it runs on the socket's worker, then completes on the worker it moved to
 *              RESOLVE  a lookup of the resolver (core/resolve.c), which hands its result back through
 *                       the worker's resolve inbox
 *   socket   the socket it is submitted on: STREAM, LISTENER, DGRAM (UDP), ANY (any open socket), OPTIONAL (none or any
 *            open socket), NONE (no socket)
 *   dir      the backend direction that runs it (RP_DIR_*), 0 if the backend never sees it
 *   cancel   1 if rp_cancel can stop it (0: rp_cancel returns RP_ENOTSUP)
 *   repeat   1 if one submission may complete more than once (results flagged RP_OP_F_MORE)
 *   newsock  1 if its result carries a new socket in op->socket (else op->socket is the target)
 *   deadline 1 if rp_op_set_timeout applies to it (its submission with a timeout set fails otherwise)
 *   payload  its member of rp_op_priv.u
 */
#ifndef RP_OP_TABLE_H
#define RP_OP_TABLE_H

/* clang-format off */
#define RP_OP_TABLE(X)                                                                    \
    /* kind      route    socket    dir             cancel repeat newsock deadline payload */ \
    X(ACCEPT,    ACCEPTQ, LISTENER, RP_DIR_ACCEPT,  1,     1,     1,      0,       none)      \
    X(CONNECT,   CONNECT, NONE,     RP_DIR_CONNECT, 1,     0,     1,      1,       connect)   \
    X(RECV,      RECVQ,   STREAM,   RP_DIR_RECV,    1,     0,     0,      1,       recv)      \
    X(SEND,      SENDQ,   STREAM,   RP_DIR_SEND,    1,     0,     0,      1,       send)      \
    X(SHUTDOWN,  SENDQ,   STREAM,   0,              1,     0,     0,      0,       none)      \
    X(CLOSE,     CLOSE,   ANY,      0,              0,     0,     0,      0,       none)      \
    X(TIMEOUT,   TIMER,   OPTIONAL, 0,              1,     1,     0,      0,       timer)     \
    X(POST,      INLINE,  NONE,     0,              0,     0,     0,      0,       none)      \
    X(RECV_POOL, RECVQ,   STREAM,   RP_DIR_RECV,    1,     1,     0,      1,       recv_pool) \
    X(UDP_SEND,  SENDQ,   DGRAM,    RP_DIR_SEND,    1,     0,     0,      1,       udp)       \
    X(UDP_RECV,  RECVQ,   DGRAM,    RP_DIR_RECV,    1,     0,     0,      1,       udp)       \
    X(UDP_RECV_POOL, RECVQ, DGRAM,  RP_DIR_RECV,    1,     1,     0,      1,       recv_pool) \
    X(RESOLVE,   RESOLVE, NONE,     0,              1,     0,     0,      1,       resolve)   \
    X(SEND_SOCKET, SENDQ,   STREAM, RP_DIR_SEND,    1,     0,     0,      0,       send)      \
    X(RECV_SOCKET, RECVQ,   STREAM, RP_DIR_RECV,    1,     0,     1,      0,       xfer_in)   \
    X(MOVE,      MOVE,    ANY,      0,              0,     0,     0,      0,       move)      \
    X(SENDFILE,  SENDQ,   STREAM,   RP_DIR_SEND,    1,     0,     0,      1,       send)
/* clang-format on */

typedef enum rp_op_route {
    RP_ROUTE_INLINE,
    RP_ROUTE_TIMER,
    RP_ROUTE_CLOSE,
    RP_ROUTE_CONNECT,
    RP_ROUTE_RECVQ,
    RP_ROUTE_SENDQ,
    RP_ROUTE_ACCEPTQ,
    RP_ROUTE_RESOLVE,
    RP_ROUTE_MOVE
} rp_op_route;

typedef enum rp_op_socket {
    RP_OPSOCK_LISTENER = RP_SOCK_LISTENER, /* the socket types compare equal to rp_sock.type */
    RP_OPSOCK_STREAM = RP_SOCK_STREAM,
    RP_OPSOCK_DGRAM = RP_SOCK_DGRAM,
    RP_OPSOCK_NONE = 16,
    RP_OPSOCK_OPTIONAL,
    RP_OPSOCK_ANY
} rp_op_socket;

typedef struct rp_op_kind_info {
    const char *name;
    rp_op_route route;
    rp_op_socket socket;
    uint32_t dir;
    uint8_t cancel, repeat, newsock, deadline;
    uint32_t payload_size; /* sizeof its payload member: ringport's own checks and debugging */
} rp_op_kind_info;

/* Indexed by rp_op_kind; RP_OP_NONE has an empty row. */
#define RP_OP_KIND_LIMIT_COUNT_(name, value) +1
enum { RP_OP_KIND_LIMIT = 1 RP_OP_KIND_MAP(RP_OP_KIND_LIMIT_COUNT_) };
#undef RP_OP_KIND_LIMIT_COUNT_
extern const rp_op_kind_info rp__op_kinds[RP_OP_KIND_LIMIT];

static inline const rp_op_kind_info *rp__op_info(const rp_op *op)
{
    return &rp__op_kinds[op->kind < (uint32_t)RP_OP_KIND_LIMIT ? op->kind : 0u];
}

#endif
