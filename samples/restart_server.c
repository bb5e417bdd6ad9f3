/* restart_server: a TCP echo server that can be restarted without downtime. A new process started with
 * the same --control path (the successor) takes the listener and every live connection over from the
 * running one (the predecessor), which then exits: no connection is dropped and no byte is lost, so a new
 * binary or configuration can be put in place under load.
 *
 *   restart_server [--control PATH] [--port 7000] [--host 0.0.0.0]
 *                  [--backend auto|io_uring|epoll|kqueue|iocp] [--workers N] [--handover-timeout MS]
 *
 * Start-up. With --control, the server first connects to PATH. If a predecessor listens there, it asks it
 * for everything and serves what it receives (--host and --port are then ignored: the listener is the
 * predecessor's); once that is done it listens on PATH itself, replacing the predecessor's socket file, so
 * that the next successor finds it. If nobody listens on PATH (no file, or one left behind), it starts
 * fresh: it listens on host:port and on PATH. Without --control it is a plain echo server.
 *
 * The echo: one receive or one send pending per connection at a time (receive, send what came, receive
 * again), into a buffer of the connection's own. Every connection belongs to one worker and is touched
 * only there; the handover reaches the workers through posts.
 *
 * The handover protocol. Every message on the control connection (the channel) is an rp_send_socket
 * message: a socket and a little data, whose first 4 bytes say what it is.
 *   successor -> predecessor  "RSH1 pid N"   a request, with a throwaway socket (each message carries one)
 *   predecessor -> successor  "RSC1" bytes   one per connection: the bytes the predecessor had received
 *                                            and not yet echoed (the successor echoes them first)
 *   predecessor -> successor  "RSL1" count   the listener, sent last, with the number of connections sent
 *   successor -> predecessor  "RSA1" count   the acknowledgement, with a throwaway socket
 *   predecessor -> successor  "RSG1"         the go-ahead (after the acknowledgement), or
 *                             "RSX1"         the handover given up (no acknowledgement in time),
 *                                            each with a throwaway socket
 * On a valid request the predecessor stops accepting (cancels its accept and waits for the final
 * completion), and for each connection cancels what it has pending and waits for that completion: a
 * receive (whose bytes, if it won the race, go into the message) or an echo send (the part that had not
 * reached the kernel goes into the message: a client that does not read its echoes cannot hold the
 * handover up), then sends it. The kernel keeps every
 * connection as it is: bytes the client sends meanwhile wait in the socket for the successor. The
 * predecessor keeps its copies, idle, until the acknowledgement: if anything fails before (the successor
 * dies, a send fails, the channel ends), or the acknowledgement has not come within --handover-timeout
 * (the successor hangs: then it is told so with RSX1 first), it resumes serving every connection and the
 * listener as if nothing had happened, and the next successor can try again. The predecessor's word is
 * final: the successor touches nothing it received until the go-ahead has arrived; given up, or failing
 * on its side, it closes its copies (the predecessor still has the connections) and exits 1. If the
 * channel ends after its acknowledgement with neither message, the predecessor has died, and the
 * successor serves. Once the go-ahead is in the channel the predecessor closes its copies (the
 * connections live on in the successor) and exits 0; if it cannot be sent (the successor has gone) the
 * predecessor serves on. (One race is left: a successor whose own 30 s limit ends just as the go-ahead
 * arrives gives up while the predecessor exits. The predecessor's limit is shorter, so it decides first.)
 *
 * Trust: the control socket file is created with the process's umask, and a connection on it is heard
 * only if it comes from the same user (peer credentials) and starts with a valid request within 5 s.
 * Anything else (garbage, a stray client) is closed and logged, and the server serves on. A successor that
 * finds something on PATH that does not speak this protocol gives up with an error (exit 1).
 *
 * Windows (10 1803+, which has AF_UNIX): the same, except that the uid check is not made: who may connect
 * to PATH is decided by the file's access control list, inherited from its directory.
 *
 * SIGINT/SIGTERM: a clean shutdown (everything closed, the control socket file removed if it is still
 * ours), exit 0. Exit 1 on a failed start or take-over, 2 on bad options.
 *
 * For tests: with RESTART_SERVER_CRASH_AFTER=N in its environment, a successor exits at once with status
 * 3, as if it had crashed, after receiving N connections: the predecessor must then serve on with
 * everything (tests/restart_test.sh). With RESTART_SERVER_STALL_ACK=1 a successor never acknowledges, as
 * if it hung: the predecessor gives up after --handover-timeout, serves on, and the successor exits 1. With
 * RESTART_SERVER_EXIT_ON_ACK=1 a predecessor exits with status 3 when the acknowledgement arrives, before
 * its go-ahead: the successor must then serve everything. */

#include "common.h"

#if !defined(_WIN32)
#include <unistd.h> /* getpid, getuid */
#endif

#define CONN_BUF_SIZE (16 * 1024)
#define TAG_LEN 4
#define HELLO_MAX 256              /* bytes of a request we read */
#define HELLO_TIMEOUT_MS 5000      /* a control connection must send its request within this */
#define TAKEOVER_TIMEOUT_MS 30000  /* the successor gives up if the predecessor has not sent all by then */
#define HANDOVER_TIMEOUT_MS 10000  /* --handover-timeout: the predecessor's wait for the acknowledgement */
#define MAX_WORKERS 256
#define CHAN_RING 64               /* see chans[] */

static const char TAG_HELLO[TAG_LEN] = {'R', 'S', 'H', '1'};
static const char TAG_CONN[TAG_LEN] = {'R', 'S', 'C', '1'};
static const char TAG_LISTENER[TAG_LEN] = {'R', 'S', 'L', '1'};
static const char TAG_ACK[TAG_LEN] = {'R', 'S', 'A', '1'};
static const char TAG_GO[TAG_LEN] = {'R', 'S', 'G', '1'};
static const char TAG_GIVE_UP[TAG_LEN] = {'R', 'S', 'X', '1'};

/* ---- state ---- */
enum phase { PH_SERVING = 0, PH_HANDING = 1, PH_DONE = 2, PH_STOPPING = 3 };

/* Connection states; a connection has at most one operation pending. */
enum cstate {
    C_IDLE,   /* nothing pending: being started or resumed */
    C_RECV,   /* a receive is pending */
    C_SEND,   /* an echo send is pending */
    C_DRAIN,  /* its receive or send was cancelled for a handover; waiting for the completion */
    C_XFER,   /* rp_send_socket in flight */
    C_HANDED  /* its message is in the channel; idle until the acknowledgement (or a resume) */
};

typedef struct conn {
    rp_op recv_op, send_op, xfer_op, ctl_op; /* ctl_op: posts to the connection's worker */
    rp_socket sock;
    int worker;
    int state;
    long xfer_gen;       /* the handover its message went to */
    long failed_gen;     /* a handover it could not be sent to: it stays out of that one */
    int64_t xfer_result; /* set on the channel's worker, read on its own after a post */
    size_t have;         /* bytes received and not yet echoed: buf[0 .. have) */
    size_t cap;
    unsigned char *raw;  /* TAG_LEN bytes for a handover message's tag, then buf: sent without a copy */
    unsigned char *buf;
    struct conn *prev, *next;
} conn;

/* Counters per worker, each written only by its own worker and read after rp_loop_destroy. */
typedef struct worker_stats {
    _Alignas(64) uint64_t accepted;
    uint64_t adopted; /* taken over from the predecessor */
    uint64_t closed;
    uint64_t bytes;
    uint64_t errors; /* connections ended by an error other than a reset or a broken pipe */
} worker_stats;

static rp_loop *loop;
static int nworkers;                  /* rp_loop_workers: 0 when caller-driven */
static worker_stats stats[MAX_WORKERS];
static conn *lists[MAX_WORKERS];      /* each worker's connections, touched only by that worker */
static const char *control_path;      /* NULL: no handover */
static size_t control_len;

/* Shared across workers. */
static sample_atomic phase;    /* enum phase */
static sample_atomic gen;      /* the number of the current (or last) handover */
static sample_atomic pending;  /* connections not handed over + 1 while the accept runs: 0 = all sent */
static sample_atomic handed;   /* connections whose message is in the channel (current handover) */
static sample_atomic handed_bytes;
static sample_atomic passes_out; /* sync passes not yet run by their worker */
static sample_atomic fatal;    /* stop with exit status 1 */
static sample_atomic finished; /* handed over: exit 0 */
/* The channel of handover g is chans[g % CHAN_RING], written before gen and phase announce it: a
 * connection that saw handover g reads its channel without a lock, and the slot is not reused for 64
 * handovers (a dead one just makes rp_send_socket fail with RP_EBADF, which is handled). */
static rp_socket chans[CHAN_RING];

/* Worker 0 only (the control socket, its connections and the channel live there). */
enum lstate { L_NONE, L_ACCEPTING, L_STOPPING, L_STOPPED, L_XFER, L_SENT };
static rp_socket listener = RP_SOCKET_INVALID;
static int lst_state = L_NONE;
static rp_op accept_op, accept_final_op, lst_xfer_op;
static int64_t accept_final_result;
static char lst_msg[64];
static rp_socket ctl_listener = RP_SOCKET_INVALID;
static rp_op ctl_accept_op;
static rp_op chan_recv_op;
static int chan_recv_busy;
static unsigned char chan_buf[HELLO_MAX];
static int64_t successor_pid = -1;
static uint64_t handover_t0;
static long handover_timeout_ms = HANDOVER_TIMEOUT_MS;
static rp_op ack_timer_op, verdict_op;
static rp_socket verdict_pair[2] = {RP_SOCKET_INVALID, RP_SOCKET_INVALID};
static int verdict_sending; /* RSG1 or RSX1 on its way: the acknowledgement's receive no longer counts */
static long exit_on_ack;     /* RESTART_SERVER_EXIT_ON_ACK */

static worker_stats *my_stats(void)
{
    int w = rp_loop_current_worker(loop); /* 0 in caller-driven mode */
    return &stats[w >= 0 && w < MAX_WORKERS ? w : 0];
}

static const char *why(int64_t err) { return rp_strerror((int)err); }

static int64_t self_pid(void)
{
#if defined(_WIN32)
    return (int64_t)GetCurrentProcessId();
#else
    return (int64_t)getpid();
#endif
}

static long load_gen(void) { return (long)sample_load(&gen); }

static rp_socket current_chan(long g) { return chans[(unsigned long)g % CHAN_RING]; }

/* Runs fn(arg) on worker w through a post of its own (freed when it has run). Returns 0 or an RP_E* code. */
typedef struct post_job {
    rp_op op;
    void (*fn)(void *arg, int64_t value);
    void *arg;
    int64_t value;
} post_job;

static void on_job(rp_op *op)
{
    post_job *j = op->user;
    if (op->result == 0 && sample_load(&phase) != PH_STOPPING)
        j->fn(j->arg, j->value);
    free(j);
}

static int post_to(int w, void (*fn)(void *, int64_t), void *arg, int64_t value)
{
    post_job *j = malloc(sizeof *j);
    if (!j)
        return RP_ENOMEM;
    j->fn = fn;
    j->arg = arg;
    j->value = value;
    rp_op_init(&j->op, on_job, j);
    int err = rp_post(loop, &j->op, nworkers ? w : 0);
    if (err)
        free(j);
    return err;
}

/* ---- connections ---- */
static void try_send_listener(void *arg, int64_t value);
static void request_abort(long g, int64_t err);
static void conn_quiet(conn *c);
static void on_recv(rp_op *op);
static void on_sent(rp_op *op);
static void on_xfer(rp_op *op);

static void list_add(conn **head, conn *c)
{
    c->prev = NULL;
    c->next = *head;
    if (*head)
        (*head)->prev = c;
    *head = c;
}

static void list_del(conn **head, conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else if (*head == c)
        *head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

static conn *conn_alloc(rp_socket s, size_t have)
{
    size_t cap = have > CONN_BUF_SIZE ? have : CONN_BUF_SIZE;
    conn *c = calloc(1, sizeof *c + TAG_LEN + cap);
    if (!c)
        return NULL;
    c->sock = s;
    c->cap = cap;
    c->raw = (unsigned char *)(c + 1);
    c->buf = c->raw + TAG_LEN;
    c->failed_gen = -1;
    c->xfer_gen = -1;
    rp_op_init(&c->recv_op, on_recv, c);
    rp_op_init(&c->send_op, on_sent, c);
    rp_op_init(&c->xfer_op, on_xfer, c);
    int w = rp_socket_worker(loop, s);
    c->worker = w >= 0 && w < MAX_WORKERS ? w : 0;
    return c;
}

/* One fewer connection (or accept) to wait for: the last one lets the listener go. */
static void pending_dec(void)
{
    if (sample_fetch_add(&pending, -1) == 1 && sample_load(&phase) == PH_HANDING)
        post_to(0, try_send_listener, NULL, 0);
}

/* Closes and frees a connection with nothing pending. */
static void conn_end(conn *c, int64_t result)
{
    worker_stats *st = my_stats();
    st->closed++;
    if (result < 0 && result != RP_ECONNRESET && result != RP_EPIPE && result != RP_ECANCELED &&
        sample_load(&phase) != PH_STOPPING)
        st->errors++;
    rp_close(loop, NULL, c->sock);
    list_del(&lists[c->worker], c);
    free(c);
    pending_dec();
}

static void conn_recv(conn *c)
{
    c->state = C_RECV;
    int err = rp_recv(loop, &c->recv_op, c->sock, c->buf, c->cap);
    if (err)
        conn_end(c, err);
}

static void conn_echo(conn *c)
{
    c->state = C_SEND;
    int err = rp_send(loop, &c->send_op, c->sock, c->buf, c->have);
    if (err)
        conn_end(c, err);
}

/* Sends the connection and its unechoed bytes to the successor. */
static void conn_xfer(conn *c, long g)
{
    c->state = C_XFER;
    c->xfer_gen = g;
    memcpy(c->raw, TAG_CONN, TAG_LEN);
    int err = rp_send_socket(loop, &c->xfer_op, current_chan(g), c->sock, c->raw, TAG_LEN + c->have, 0);
    if (err) {
        c->failed_gen = g; /* serve it ourselves; this handover cannot finish without it */
        request_abort(g, err);
        c->state = C_IDLE;
        conn_quiet(c);
    }
}

/* The connection has nothing pending: hand it over if a handover is on, else go on echoing. */
static void conn_quiet(conn *c)
{
    long p = (long)sample_load(&phase);
    if (p == PH_STOPPING) {
        conn_end(c, RP_ECANCELED);
        return;
    }
    long g = load_gen();
    if (p == PH_HANDING && c->failed_gen != g)
        conn_xfer(c, g);
    else if (c->have)
        conn_echo(c);
    else
        conn_recv(c);
}

static void on_recv(rp_op *op)
{
    conn *c = op->user;
    if (op->result > 0) {
        c->have = (size_t)op->result;
        my_stats()->bytes += (uint64_t)op->result;
        conn_quiet(c); /* echo it, or hand it over with the connection */
    } else if (op->result == RP_ECANCELED && c->state == C_DRAIN) {
        conn_quiet(c); /* cancelled for a handover (or one that was abandoned meanwhile) */
    } else {
        conn_end(c, op->result); /* 0: the client finished; else an error or the loop's end */
    }
}

static void on_sent(rp_op *op)
{
    conn *c = op->user;
    if (op->result == RP_ECANCELED && c->state == C_DRAIN) {
        /* Cancelled for a handover: what did not reach the kernel is still to be echoed. */
        size_t sent = (size_t)rp_op_sent(op);
        if (sent > c->have)
            sent = c->have;
        memmove(c->buf, c->buf + sent, c->have - sent);
        c->have -= sent;
        conn_quiet(c);
        return;
    }
    if (op->result < 0) {
        conn_end(c, op->result);
        return;
    }
    c->have = 0;
    conn_quiet(c);
}

/* On the connection's worker, once the channel's worker has reported the send's result. */
static void conn_xfer_done(rp_op *op)
{
    conn *c = op->user;
    if (op->result < 0) /* the post itself: the loop is going away */
        return;
    if (c->xfer_result < 0) {
        c->failed_gen = c->xfer_gen;
        request_abort(c->xfer_gen, c->xfer_result);
        c->state = C_IDLE;
        conn_quiet(c); /* still ours: serve on */
        return;
    }
    if (sample_load(&phase) == PH_HANDING && load_gen() == c->xfer_gen) {
        c->state = C_HANDED;
        sample_fetch_add(&handed, 1);
        sample_fetch_add(&handed_bytes, (long)c->have);
        pending_dec();
    } else {
        c->state = C_IDLE; /* the handover was abandoned while the message went: serve on */
        conn_quiet(c);
    }
}

/* On the channel's worker (worker 0). */
static void on_xfer(rp_op *op)
{
    conn *c = op->user;
    c->xfer_result = op->result;
    rp_op_init(&c->ctl_op, conn_xfer_done, c);
    rp_post(loop, &c->ctl_op, nworkers ? c->worker : 0); /* fails only while the loop is destroyed */
}

/* A new connection (accepted, or taken over) starts on its own worker. */
static void conn_start(rp_op *op)
{
    conn *c = op->user;
    list_add(&lists[c->worker], c);
    if (op->result < 0) { /* the loop is going away */
        conn_end(c, RP_ECANCELED);
        return;
    }
    c->state = C_IDLE;
    conn_quiet(c);
}

static int conn_launch(conn *c)
{
    sample_fetch_add(&pending, 1);
    rp_op_init(&c->ctl_op, conn_start, c);
    int err = rp_post(loop, &c->ctl_op, nworkers ? c->worker : 0);
    if (err) {
        rp_close(loop, NULL, c->sock);
        free(c);
        pending_dec();
    }
    return err;
}

/* A sync pass, on one worker: makes its connections follow the phase. During a handover, receives and
 * sends are cancelled, so that each connection reaches conn_quiet; after an abandoned one, the
 * connections already handed are taken back. Idempotent, so passes may run in any order. */
static void sync_pass(void *arg, int64_t w)
{
    (void)arg;
    long p = (long)sample_load(&phase), g = load_gen();
    conn *next;
    for (conn *c = lists[w]; c; c = next) {
        next = c->next;
        if ((c->state == C_RECV || c->state == C_SEND) && p == PH_HANDING && c->failed_gen != g) {
            rp_cancel(loop, c->state == C_RECV ? &c->recv_op : &c->send_op);
            c->state = C_DRAIN;
        } else if (c->state == C_HANDED && !(p == PH_HANDING && c->xfer_gen == g) && p != PH_DONE) {
            sample_fetch_add(&pending, 1);
            c->state = C_IDLE;
            conn_quiet(c);
        }
    }
    sample_fetch_add(&passes_out, -1);
}

static void post_sync_passes(void)
{
    int n = nworkers ? nworkers : 1;
    for (int w = 0; w < n; w++) {
        sample_fetch_add(&passes_out, 1);
        if (post_to(w, sync_pass, NULL, w) != 0)
            sample_fetch_add(&passes_out, -1);
    }
}

/* ---- the listener (its state lives on worker 0) ---- */
static void on_accept(rp_op *op);

static int listener_arm(void)
{
    sample_fetch_add(&pending, 1);
    lst_state = L_ACCEPTING;
    rp_op_init(&accept_op, on_accept, NULL);
    int err = rp_accept(loop, &accept_op, listener, RP_ACCEPT_MULTISHOT);
    if (err) {
        sample_fetch_add(&pending, -1);
        lst_state = L_STOPPED;
        fprintf(stderr, "restart_server: rp_accept: %s\n", why(err));
        sample_store(&fatal, 1);
    }
    return err;
}

static void on_accept_final(rp_op *op)
{
    (void)op;
    sample_fetch_add(&pending, -1);
    if (sample_load(&phase) == PH_STOPPING)
        return;
    if (lst_state != L_STOPPING) {
        fprintf(stderr, "restart_server: accept ended: %s\n",
                accept_final_result < 0 ? why(accept_final_result) : "without an error");
        sample_store(&fatal, 1);
        return;
    }
    lst_state = L_STOPPED;
    if (sample_load(&phase) == PH_HANDING)
        try_send_listener(NULL, 0);
    else
        listener_arm(); /* the handover was abandoned before the accept had stopped */
}

static void on_accept(rp_op *op) /* on the listener's worker */
{
    if (op->result == 0) {
        conn *c = conn_alloc(op->socket, 0);
        if (!c)
            rp_close(loop, NULL, op->socket);
        else if (conn_launch(c) == 0)
            my_stats()->accepted++;
    }
    if (op->flags & RP_OP_F_MORE)
        return;
    /* The final completion: RP_ECANCELED when a handover stops it, else an error. Worker 0 decides. */
    accept_final_result = op->result;
    rp_op_init(&accept_final_op, on_accept_final, NULL);
    rp_post(loop, &accept_final_op, 0);
}

/* ---- the predecessor's side of a handover (worker 0) ---- */
static void handover_abort(const char *what, int64_t err)
{
    if (sample_load(&phase) != PH_HANDING)
        return;
    fprintf(stderr, "restart_server: handover to pid %lld abandoned (%s%s%s): serving on\n", (long long)successor_pid,
            what, err ? ": " : "", err ? why(err) : "");
    sample_store(&phase, PH_SERVING);
    rp_close(loop, NULL, current_chan(load_gen())); /* ends the acknowledgement's receive and every send */
    if (lst_state == L_STOPPED || lst_state == L_SENT)
        listener_arm(); /* otherwise its pending completion does it */
    post_sync_passes();
}

static void abort_job(void *arg, int64_t err)
{
    long g = (long)(intptr_t)arg;
    if (load_gen() == g)
        handover_abort("a connection could not be sent", err);
}

static void request_abort(long g, int64_t err) { post_to(0, abort_job, (void *)(intptr_t)g, err); }

static void on_lst_xfer(rp_op *op)
{
    if (op->result < 0) {
        lst_state = L_STOPPED;
        if (sample_load(&phase) == PH_HANDING)
            handover_abort("the listener could not be sent", op->result);
        else if (sample_load(&phase) == PH_SERVING)
            listener_arm();
        return;
    }
    lst_state = L_SENT;
    if (sample_load(&phase) == PH_SERVING)
        listener_arm(); /* abandoned while it went */
}

/* Every connection has gone (or ended) and the accept has stopped: the listener goes last, with the
 * count, which tells the successor that it has everything. */
static void try_send_listener(void *arg, int64_t value)
{
    (void)arg;
    (void)value;
    if (sample_load(&phase) != PH_HANDING || lst_state != L_STOPPED || sample_load(&pending) != 0)
        return;
    int len = snprintf(lst_msg, sizeof lst_msg, "%.4s%ld", TAG_LISTENER, (long)sample_load(&handed));
    lst_state = L_XFER;
    rp_op_init(&lst_xfer_op, on_lst_xfer, NULL);
    int err = rp_send_socket(loop, &lst_xfer_op, current_chan(load_gen()), listener, lst_msg, (size_t)len, 0);
    if (err) {
        lst_state = L_STOPPED;
        handover_abort("the listener could not be sent", err);
    }
}

static void pair_close(rp_socket p[2])
{
    for (int i = 0; i < 2; i++)
        if (p[i] != RP_SOCKET_INVALID)
            rp_close(loop, NULL, p[i]);
    p[0] = p[1] = RP_SOCKET_INVALID;
}

/* The go-ahead (or the notice that the handover is given up) has gone, or could not go. */
static void on_verdict(rp_op *op)
{
    int go = op->user != NULL;
    pair_close(verdict_pair);
    verdict_sending = 0;
    if (sample_load(&phase) != PH_HANDING)
        return;
    if (!go) {
        handover_abort("no acknowledgement within the handover timeout", 0);
        return;
    }
    if (op->result < 0) {
        handover_abort("the go-ahead could not be sent", op->result);
        return;
    }
    sample_store(&phase, PH_DONE);
    printf("restart_server: handed the listener and %ld connections (%ld bytes received and not yet echoed) "
           "over to pid %lld in %llu ms; exiting\n",
           (long)sample_load(&handed), (long)sample_load(&handed_bytes), (long long)successor_pid,
           (unsigned long long)(sample_now_ms() - handover_t0));
    fflush(stdout);
    sample_store(&finished, 1); /* the main thread closes our copies (rp_loop_destroy) and exits 0 */
}

/* Tells the successor the predecessor's decision: go (serve) or not (close your copies). */
static void send_verdict(int go)
{
    const char *tag = go ? TAG_GO : TAG_GIVE_UP;
    verdict_sending = 1;
    rp_cancel(loop, &ack_timer_op);
    rp_op_init(&verdict_op, on_verdict, go ? (void *)&verdict_op : NULL);
    int err = rp_socketpair(loop, verdict_pair, 0);
    if (!err) {
        err = rp_send_socket(loop, &verdict_op, current_chan(load_gen()), verdict_pair[1], tag, TAG_LEN, 0);
        if (err)
            pair_close(verdict_pair);
    }
    if (err) {
        verdict_sending = 0;
        handover_abort(go ? "the go-ahead could not be sent" : "no acknowledgement within the handover timeout", err);
    }
}

static void on_ack_timer(rp_op *op)
{
    if (op->result != 0 || sample_load(&phase) != PH_HANDING || verdict_sending)
        return; /* cancelled: acknowledged, or the handover ended otherwise */
    if (lst_state == L_SENT)
        send_verdict(0); /* everything went: the successor waits for our word, which is no */
    else
        handover_abort("the successor did not take everything within the handover timeout", 0);
}

static void on_chan_recv(rp_op *op)
{
    chan_recv_busy = 0;
    if (op->result >= 0 && op->socket != RP_SOCKET_INVALID)
        rp_close(loop, NULL, op->socket); /* the acknowledgement's throwaway socket */
    if (sample_load(&phase) != PH_HANDING || verdict_sending)
        return; /* cancelled by an abandoned handover, the loop's end, or too late: given up */
    if (op->result < 0) {
        handover_abort(op->result == RP_ENOTCONN ? "the successor went away before confirming"
                                                 : "the channel failed",
                       op->result == RP_ENOTCONN ? 0 : op->result);
        return;
    }
    if (op->result < TAG_LEN || op->result > (int64_t)sizeof chan_buf || memcmp(chan_buf, TAG_ACK, TAG_LEN) != 0 ||
        lst_state != L_SENT) {
        handover_abort("the successor sent something other than an acknowledgement after the listener", 0);
        return;
    }
    if (exit_on_ack)
        _Exit(3); /* a test's predecessor that dies between the acknowledgement and the go-ahead */
    send_verdict(1);
}

/* A control connection made a valid request and nothing else is under way: hand everything over. */
static void handover_begin(rp_socket ch)
{
    rp_peer_cred cred;
    successor_pid = rp_socket_peer_cred(loop, ch, &cred) == 0 ? cred.pid : -1;
    long g = load_gen() + 1;
    chans[(unsigned long)g % CHAN_RING] = ch;
    sample_store(&handed, 0);
    sample_store(&handed_bytes, 0);
    handover_t0 = sample_now_ms();
    sample_store(&gen, g);
    sample_store(&phase, PH_HANDING);
    printf("restart_server: pid %lld asks for a handover: handing over\n", (long long)successor_pid);
    fflush(stdout);
    rp_op_init(&chan_recv_op, on_chan_recv, NULL);
    int err = rp_recv_socket(loop, &chan_recv_op, ch, chan_buf, sizeof chan_buf, -1);
    if (err) {
        handover_abort("rp_recv_socket", err);
        return;
    }
    chan_recv_busy = 1;
    rp_op_init(&ack_timer_op, on_ack_timer, NULL);
    if ((err = rp_timeout(loop, &ack_timer_op, ch, (uint64_t)handover_timeout_ms, 0)) != 0) {
        handover_abort("rp_timeout", err);
        return;
    }
    lst_state = L_STOPPING;
    rp_cancel(loop, &accept_op); /* new connections wait in the backlog for the successor */
    post_sync_passes();
}

/* ---- control connections (worker 0) ---- */
typedef struct candidate {
    rp_op recv_op, timer_op;
    rp_socket sock;
    int ops;
    unsigned char buf[HELLO_MAX];
} candidate;

static void cand_close(candidate *k)
{
    if (k->sock != RP_SOCKET_INVALID)
        rp_close(loop, NULL, k->sock); /* cancels whatever of it is pending */
    k->sock = RP_SOCKET_INVALID;
}

static void cand_done(candidate *k)
{
    if (--k->ops == 0) {
        cand_close(k);
        free(k);
    }
}

static void on_cand_recv(rp_op *op)
{
    candidate *k = op->user;
    if (op->result >= 0 && op->socket != RP_SOCKET_INVALID)
        rp_close(loop, NULL, op->socket); /* the request's throwaway socket */
    long p = (long)sample_load(&phase);
    if (op->result == RP_ECANCELED || p == PH_STOPPING) {
        cand_close(k);
    } else if (op->result < 0) {
        fprintf(stderr, "restart_server: ignored a control connection: %s\n",
                op->result == RP_EIO       ? "what it sent is not a handover request"
                : op->result == RP_ENOTCONN ? "it closed without sending a request"
                                            : why(op->result));
        cand_close(k);
    } else if (op->result < TAG_LEN || op->result > (int64_t)sizeof k->buf || memcmp(k->buf, TAG_HELLO, TAG_LEN) != 0) {
        fprintf(stderr, "restart_server: ignored a control connection: its message is not a handover request\n");
        cand_close(k);
    } else if (p != PH_SERVING || lst_state != L_ACCEPTING || sample_load(&passes_out) != 0 || chan_recv_busy) {
        fprintf(stderr, "restart_server: refused a handover request: %s\n",
                p == PH_SERVING ? "still resuming after an abandoned handover" : "a handover is already under way");
        cand_close(k);
    } else {
        rp_cancel(loop, &k->timer_op);
        rp_socket ch = k->sock;
        k->sock = RP_SOCKET_INVALID; /* the channel now */
        handover_begin(ch);
    }
    cand_done(k);
}

static void on_cand_timer(rp_op *op)
{
    candidate *k = op->user;
    if (op->result == 0 && k->sock != RP_SOCKET_INVALID) {
        fprintf(stderr, "restart_server: closed a control connection that sent no request within %d s\n",
                HELLO_TIMEOUT_MS / 1000);
        cand_close(k);
    }
    cand_done(k);
}

static void candidate_new(rp_socket s)
{
#if !defined(_WIN32)
    rp_peer_cred cred;
    if (rp_socket_peer_cred(loop, s, &cred) == 0 && cred.uid >= 0 && cred.uid != (int64_t)getuid()) {
        fprintf(stderr, "restart_server: refused a control connection from uid %lld (pid %lld): only uid %lld may "
                        "take over\n",
                (long long)cred.uid, (long long)cred.pid, (long long)getuid());
        rp_close(loop, NULL, s);
        return;
    }
#endif
    candidate *k = calloc(1, sizeof *k);
    if (!k) {
        rp_close(loop, NULL, s);
        return;
    }
    k->sock = s;
    rp_op_init(&k->recv_op, on_cand_recv, k);
    rp_op_init(&k->timer_op, on_cand_timer, k);
    if (rp_recv_socket(loop, &k->recv_op, s, k->buf, sizeof k->buf, -1) != 0) {
        cand_close(k);
        free(k);
        return;
    }
    k->ops = 1;
    if (rp_timeout(loop, &k->timer_op, s, HELLO_TIMEOUT_MS, 0) == 0)
        k->ops++;
    else
        cand_close(k); /* no deadline, no hearing: its receive completes cancelled */
}

static void on_ctl_accept(rp_op *op)
{
    if (op->result == 0)
        candidate_new(op->socket);
    if (!(op->flags & RP_OP_F_MORE) && op->result != RP_ECANCELED && sample_load(&phase) != PH_STOPPING)
        fprintf(stderr, "restart_server: the control socket stopped accepting (%s): no handover possible any more\n",
                why(op->result));
}

/* Listens on the control path (replacing a socket file left there) on worker 0. */
static int control_listen(void)
{
    rp_listen_options lo;
    rp_listen_options_init(&lo);
    lo.flags = RP_LISTEN_UNIX_UNLINK;
    lo.worker = 0;
    lo.accept_worker = 0;
    int err = rp_unix_listen(loop, &ctl_listener, control_path, control_len, &lo);
    if (err) {
        fprintf(stderr, "restart_server: cannot listen on the control socket %s: %s%s\n", control_path, why(err),
                err == RP_ENOENT ? " (does its directory exist?)" : "");
        return err;
    }
    rp_op_init(&ctl_accept_op, on_ctl_accept, NULL);
    err = rp_accept(loop, &ctl_accept_op, ctl_listener, RP_ACCEPT_MULTISHOT);
    if (err) {
        fprintf(stderr, "restart_server: rp_accept on the control socket: %s\n", why(err));
        rp_close(loop, NULL, ctl_listener);
        ctl_listener = RP_SOCKET_INVALID;
    }
    return err;
}

/* ---- the successor's side (worker 0) ---- */
enum { TK_CONNECTING, TK_NOBODY, TK_RUNNING, TK_DONE, TK_FAILED };
static sample_atomic tk_state;
static rp_op tk_connect_op, tk_hello_op, tk_recv_op, tk_timer_op, tk_ack_op;
static rp_socket tk_chan = RP_SOCKET_INVALID, tk_hello_pair[2], tk_ack_pair[2];
static rp_socket tk_listener = RP_SOCKET_INVALID;
static conn *staged; /* received connections, untouched until the acknowledgement has gone */
static long staged_n, staged_bytes, tk_rr;
static unsigned char *tk_buf;
static char tk_text[128];
static int64_t predecessor_pid = -1;
static long crash_after; /* RESTART_SERVER_CRASH_AFTER */
static long stall_ack;   /* RESTART_SERVER_STALL_ACK */
static uint64_t tk_t0, tk_ms;

/* Gives the take-over up: our copies are closed (the predecessor still has everything). */
static void takeover_fail(const char *what, int64_t err)
{
    if (sample_load(&tk_state) != TK_RUNNING)
        return;
    if (sample_load(&phase) != PH_STOPPING) /* else a signal stopped us: nothing to explain */
        fprintf(stderr, "restart_server: cannot take over from the process on %s: %s%s%s\n", control_path, what,
            err ? ": " : "", err ? why(err) : "");
    while (staged) {
        conn *c = staged;
        list_del(&staged, c);
        rp_close(loop, NULL, c->sock);
        free(c);
    }
    if (tk_listener != RP_SOCKET_INVALID)
        rp_close(loop, NULL, tk_listener);
    tk_listener = RP_SOCKET_INVALID;
    rp_close(loop, NULL, tk_chan); /* ends the receive, the timer and any send */
    sample_store(&tk_state, TK_FAILED);
}

static void on_tk_timer(rp_op *op)
{
    if (op->result == 0)
        takeover_fail("the predecessor did not hand everything over in time", RP_ETIMEDOUT);
}

/* The predecessor has said go (or died after our acknowledgement): everything received is ours. */
static void tk_serve(void)
{
    rp_close(loop, NULL, tk_chan); /* also cancels the timer */
    tk_ms = sample_now_ms() - tk_t0;
    listener = tk_listener;
    while (staged) {
        conn *c = staged;
        list_del(&staged, c);
        conn_launch(c); /* echoes its bytes first, then receives */
    }
    listener_arm();
    sample_store(&tk_state, TK_DONE);
}

static void on_tk_ack(rp_op *op)
{
    pair_close(tk_ack_pair);
    /* A failure means the channel has ended: the predecessor's verdict, or its end, is read next. */
    if (op->result < 0 && sample_load(&tk_state) == TK_RUNNING)
        fprintf(stderr, "restart_server: the acknowledgement did not reach the predecessor (%s)\n", why(op->result));
}

/* What the predecessor decided after everything had arrived (tk_acked). */
static void on_tk_verdict(rp_op *op)
{
    if (op->result >= 0 && op->socket != RP_SOCKET_INVALID)
        rp_close(loop, NULL, op->socket); /* the verdict's throwaway socket */
    if (sample_load(&tk_state) != TK_RUNNING)
        return;
    if (op->result == RP_ENOTCONN || op->result == RP_ECONNRESET) {
        /* No word, and the channel is gone: the predecessor died (a predecessor that gives up says so
         * before it closes the channel), and with it its copies. Nobody else serves them. */
        fprintf(stderr, "restart_server: the predecessor ended after our acknowledgement without a word: serving\n");
        tk_serve();
    } else if (op->result < 0) {
        takeover_fail("waiting for the predecessor's go-ahead failed", op->result);
    } else if (op->result == TAG_LEN && memcmp(tk_buf, TAG_GO, TAG_LEN) == 0) {
        tk_serve();
    } else if (op->result == TAG_LEN && memcmp(tk_buf, TAG_GIVE_UP, TAG_LEN) == 0) {
        takeover_fail("the predecessor gave the handover up (no acknowledgement in time) and serves on", 0);
    } else {
        takeover_fail("the predecessor sent a message this version does not know", 0);
    }
}

static void tk_receive(void);

static void on_tk_recv(rp_op *op)
{
    if (sample_load(&tk_state) != TK_RUNNING) {
        if (op->result >= 0 && op->socket != RP_SOCKET_INVALID)
            rp_close(loop, NULL, op->socket);
        return;
    }
    if (op->result < 0) {
        switch (op->result) {
        case RP_EIO:
            takeover_fail("what it sent is not a handover message (is another program listening there?)", 0);
            break;
        case RP_ENOTCONN:
            takeover_fail(staged_n ? "the predecessor closed the channel before it had sent everything"
                                   : "the predecessor closed the channel without handing anything over (busy "
                                     "with another successor, or it refused us: see its log)",
                          0);
            break;
        default:
            takeover_fail("receiving from the predecessor failed", op->result);
        }
        return;
    }
    rp_socket s = op->socket;
    size_t n = (size_t)op->result;
    if (n > RP_XFER_DATA_MAX || n < TAG_LEN) {
        rp_close(loop, NULL, s);
        takeover_fail("the predecessor sent a message this version does not know", 0);
        return;
    }
    if (memcmp(tk_buf, TAG_CONN, TAG_LEN) == 0) {
        conn *c = conn_alloc(s, n - TAG_LEN);
        if (!c) {
            rp_close(loop, NULL, s);
            takeover_fail("out of memory", RP_ENOMEM);
            return;
        }
        c->have = n - TAG_LEN;
        memcpy(c->buf, tk_buf + TAG_LEN, c->have);
        list_add(&staged, c);
        staged_n++;
        staged_bytes += (long)c->have;
        if (crash_after > 0 && staged_n == crash_after)
            _Exit(3); /* a test's crash in the middle of a handover: no clean-up of any kind */
        tk_receive();
        return;
    }
    if (memcmp(tk_buf, TAG_LISTENER, TAG_LEN) != 0) {
        rp_close(loop, NULL, s);
        takeover_fail("the predecessor sent a message this version does not know", 0);
        return;
    }
    tk_listener = s;
    char count[24];
    size_t cl = n - TAG_LEN < sizeof count - 1 ? n - TAG_LEN : sizeof count - 1;
    memcpy(count, tk_buf + TAG_LEN, cl);
    count[cl] = '\0';
    char *end;
    long want = strtol(count, &end, 10);
    if (end == count || *end != '\0' || want != staged_n) {
        snprintf(tk_text, sizeof tk_text, "it says it sent \"%s\" connections, %ld arrived", count, staged_n);
        takeover_fail(tk_text, 0);
        return;
    }
    /* Everything is here: acknowledge, and start serving on the go-ahead. */
    rp_op_init(&tk_recv_op, on_tk_verdict, NULL);
    int err = rp_recv_socket(loop, &tk_recv_op, tk_chan, tk_buf, RP_XFER_DATA_MAX, -1);
    if (err) {
        takeover_fail("rp_recv_socket", err);
        return;
    }
    if (stall_ack)
        return; /* a test's successor that hangs before it confirms */
    err = rp_socketpair(loop, tk_ack_pair, 0);
    if (!err) {
        int len = snprintf(tk_text, sizeof tk_text, "%.4s%ld", TAG_ACK, staged_n);
        rp_op_init(&tk_ack_op, on_tk_ack, NULL);
        err = rp_send_socket(loop, &tk_ack_op, tk_chan, tk_ack_pair[1], tk_text, (size_t)len, 0);
        if (err)
            pair_close(tk_ack_pair);
    }
    if (err)
        takeover_fail("cannot acknowledge", err);
}

static void tk_receive(void)
{
    /* Spread the connections over the workers as they arrive. */
    int w = nworkers ? (int)(tk_rr++ % nworkers) : -1;
    rp_op_init(&tk_recv_op, on_tk_recv, NULL);
    int err = rp_recv_socket(loop, &tk_recv_op, tk_chan, tk_buf, RP_XFER_DATA_MAX, w);
    if (err)
        takeover_fail("rp_recv_socket", err);
}

static void on_tk_hello(rp_op *op)
{
    pair_close(tk_hello_pair);
    if (op->result < 0)
        takeover_fail("cannot send the request", op->result);
}

static void on_tk_connect(rp_op *op)
{
    if (op->result == RP_ENOENT || op->result == RP_ECONNREFUSED) {
        sample_store(&tk_state, TK_NOBODY); /* no file, or one nobody listens on: start fresh */
        return;
    }
    if (op->result < 0) {
        fprintf(stderr, "restart_server: cannot connect to the control socket %s: %s\n", control_path,
                why(op->result));
        sample_store(&tk_state, TK_FAILED);
        return;
    }
    tk_chan = op->socket;
    tk_t0 = sample_now_ms();
    rp_peer_cred cred;
    predecessor_pid = rp_socket_peer_cred(loop, tk_chan, &cred) == 0 ? cred.pid : -1;
    sample_store(&tk_state, TK_RUNNING);
    rp_op_init(&tk_timer_op, on_tk_timer, NULL);
    int err = rp_timeout(loop, &tk_timer_op, tk_chan, TAKEOVER_TIMEOUT_MS, 0);
    if (err) {
        takeover_fail("rp_timeout", err);
        return;
    }
    tk_receive();
    if (sample_load(&tk_state) != TK_RUNNING)
        return;
    err = rp_socketpair(loop, tk_hello_pair, 0);
    if (err) {
        takeover_fail("rp_socketpair", err);
        return;
    }
    int len = snprintf(tk_text, sizeof tk_text, "%.4s pid %lld", TAG_HELLO, (long long)self_pid());
    rp_op_init(&tk_hello_op, on_tk_hello, NULL);
    err = rp_send_socket(loop, &tk_hello_op, tk_chan, tk_hello_pair[1], tk_text, (size_t)len, 0);
    if (err) {
        pair_close(tk_hello_pair);
        takeover_fail("cannot send the request", err);
    }
}

/* ---- main ---- */
static void on_tick(rp_op *op) { (void)op; /* wakes rp_loop_run so that flags are seen */ }

/* Waits until done() or a stop: sleeping while workers run, running the loop when caller-driven. */
static void wait_until(int (*done)(void))
{
    while (!done() && !sample_stop && !sample_load(&fatal)) {
        if (nworkers) {
            sample_sleep_ms(5);
        } else {
            int n = rp_loop_run(loop, RP_RUN_ONCE);
            if (n < 0) {
                fprintf(stderr, "restart_server: rp_loop_run: %s\n", why(n));
                sample_store(&fatal, 1);
            }
        }
    }
}

static int takeover_settled(void)
{
    long st = (long)sample_load(&tk_state);
    return st != TK_CONNECTING && st != TK_RUNNING;
}
static int serving_ended(void) { return (int)sample_load(&finished); }

static void usage(void)
{
    fprintf(stderr,
            "usage: restart_server [--control PATH] [--port P (7000)] [--host ADDR (0.0.0.0)]\n"
            "                      [--backend auto|io_uring|epoll|kqueue|iocp] [--workers N (one per CPU; 0 = "
            "caller-driven)]\n"
            "                      [--handover-timeout MS (10000)]\n"
            "An echo server that hands its listener and every connection over to a successor and exits.\n"
            "  --control PATH  Unix socket path of the handover. If a restart_server listens there, take its\n"
            "                  listener and connections over (--host and --port are then ignored) and it exits;\n"
            "                  else listen on host:port. Either way, then listen on PATH for the next one.\n"
            "                  Without --control: a plain echo server.\n"
            "  --handover-timeout MS  How long this server, handing over, waits for the successor to take\n"
            "                  everything and confirm; then it gives the handover up and serves on.\n"
            "SIGINT/SIGTERM: clean shutdown, exit 0. Exit 1: start or take-over failed; 2: bad options.\n");
}

int main(int argc, char **argv)
{
    const char *port_s = NULL, *host = NULL, *backend_s = "auto", *workers_s = NULL, *control_s = NULL,
               *timeout_s = NULL;
    const sample_option options[] = {{"--port", &port_s},       {"--host", &host},         {"--backend", &backend_s},
                                     {"--workers", &workers_s}, {"--control", &control_s},
                                     {"--handover-timeout", &timeout_s}};
    int rc = sample_parse_args(argc, argv, options, sizeof options / sizeof options[0]);
    if (rc != 0) {
        usage();
        return rc > 0 ? 0 : 2;
    }
    rp_loop_options lopts;
    long port = 7000;
    if ((port_s && sample_parse_long("--port", port_s, 0, 65535, &port) != 0) ||
        (timeout_s && sample_parse_long("--handover-timeout", timeout_s, 100, 600000, &handover_timeout_ms) != 0) ||
        sample_loop_options(backend_s, workers_s, &lopts) != 0) {
        usage();
        return 2;
    }
    rp_addr addr;
    if (rp_addr_parse(&addr, host ? host : "0.0.0.0", (uint16_t)port) != 0) {
        fprintf(stderr, "restart_server: \"%s\" is not a numeric IPv4 or IPv6 address\n", host);
        return 2;
    }
    if (control_s) {
        control_len = strlen(control_s);
        if (control_len == 0 || control_len > rp_unix_path_max()) {
            fprintf(stderr, "restart_server: --control needs a path of 1 to %zu bytes, got %zu\n", rp_unix_path_max(),
                    control_len);
            return 2;
        }
    }

    sample_install_signals();
    sample_raise_fd_limit();
    int err = rp_loop_create(&loop, &lopts);
    if (err) {
        fprintf(stderr, "restart_server: cannot run the %s backend: %s\n", backend_s, why(err));
        return 1;
    }
    nworkers = rp_loop_workers(loop);
    static rp_op tick;
    if (nworkers == 0) {
        rp_op_init(&tick, on_tick, NULL);
        err = rp_timeout(loop, &tick, RP_SOCKET_INVALID, 50, 50);
        if (err) {
            fprintf(stderr, "restart_server: rp_timeout: %s\n", why(err));
            rp_loop_destroy(loop);
            return 1;
        }
    }
    control_path = control_s;
    const char *crash = getenv("RESTART_SERVER_CRASH_AFTER");
    if (crash && sample_parse_long("RESTART_SERVER_CRASH_AFTER", crash, 0, 1L << 30, &crash_after) != 0)
        crash_after = 0;
    const char *stall = getenv("RESTART_SERVER_STALL_ACK");
    if (stall && sample_parse_long("RESTART_SERVER_STALL_ACK", stall, 0, 1, &stall_ack) != 0)
        stall_ack = 0;
    const char *exit_ack = getenv("RESTART_SERVER_EXIT_ON_ACK");
    if (exit_ack && sample_parse_long("RESTART_SERVER_EXIT_ON_ACK", exit_ack, 0, 1, &exit_on_ack) != 0)
        exit_on_ack = 0;

    int took_over = 0, served = 0;
    if (control_path) {
        tk_buf = malloc(RP_XFER_DATA_MAX);
        tk_hello_pair[0] = tk_hello_pair[1] = tk_ack_pair[0] = tk_ack_pair[1] = RP_SOCKET_INVALID;
        rp_connect_options co;
        rp_connect_options_init(&co);
        co.worker = 0;
        rp_op_init(&tk_connect_op, on_tk_connect, NULL);
        err = tk_buf ? rp_unix_connect(loop, &tk_connect_op, control_path, control_len, &co) : RP_ENOMEM;
        if (err) {
            fprintf(stderr, "restart_server: cannot connect to the control socket %s: %s\n", control_path, why(err));
            sample_store(&fatal, 1);
        } else {
            wait_until(takeover_settled);
            if (sample_load(&tk_state) == TK_FAILED)
                sample_store(&fatal, 1);
            took_over = sample_load(&tk_state) == TK_DONE;
        }
    }
    if (!took_over && !sample_load(&fatal) && !sample_stop) {
        err = rp_listen(loop, &listener, &addr, NULL);
        if (err) {
            fprintf(stderr, "restart_server: cannot listen on %s port %ld: %s\n", host ? host : "0.0.0.0", port,
                    why(err));
            sample_store(&fatal, 1);
        } else {
            listener_arm(); /* before the control socket exists: worker 0 cannot look at lst_state yet */
        }
    }
    if (!sample_load(&fatal) && !sample_stop && control_path && control_listen() != 0) {
        if (took_over) /* the connections are ours now: dropping them would be worse */
            fprintf(stderr, "restart_server: serving on without handover\n");
        else
            sample_store(&fatal, 1);
    }

    if (!sample_load(&fatal) && !sample_stop) {
        rp_addr local;
        char where[RP_ADDR_STRLEN] = "?";
        if (rp_socket_local_addr(loop, listener, &local) == 0)
            rp_addr_format(&local, where, sizeof where);
        const char *fb = rp_loop_fallback_reason(loop);
        printf("restart_server: pid %lld, backend %s%s%s%s, %d worker%s%s, listening on %s, control %s\n",
               (long long)self_pid(), rp_backend_name(rp_loop_backend(loop)), fb ? " (fallback: " : "", fb ? fb : "",
               fb ? ")" : "", nworkers, nworkers == 1 ? "" : "s", nworkers == 0 ? " (caller-driven)" : "", where,
               ctl_listener != RP_SOCKET_INVALID ? control_path : "none (no handover)");
        if (took_over) {
            printf("restart_server: took over the listener and %ld connections (%ld bytes to echo first) from pid "
                   "%lld in %llu ms\n",
                   staged_n, staged_bytes, (long long)predecessor_pid, (unsigned long long)tk_ms);
            if (host || port_s)
                printf("restart_server: (--host and --port ignored: the listener is the predecessor's)\n");
        }
        fflush(stdout);
        served = 1;
        wait_until(serving_ended);
    }

    /* Shutdown, or the end of a handover: everything still open is closed by rp_loop_destroy. Handed
     * connections live on in the successor: closing our copies sends nothing to the clients. */
    int handed_over = (int)sample_load(&finished);
    sample_store(&phase, PH_STOPPING);
    if (ctl_listener != RP_SOCKET_INVALID && !handed_over)
        remove(control_path); /* still ours: nobody took it over */
    int derr = rp_loop_destroy(loop);
    if (derr)
        fprintf(stderr, "restart_server: rp_loop_destroy: %s\n", why(derr));
    /* Connections with nothing pending (handed over, or received by a take-over that failed) were not
     * called back by the destroy: free them here. */
    for (int w = 0; w < MAX_WORKERS; w++)
        while (lists[w]) {
            conn *c = lists[w];
            list_del(&lists[w], c);
            free(c);
        }
    while (staged) {
        conn *c = staged;
        list_del(&staged, c);
        free(c);
    }
    free(tk_buf);
    uint64_t accepted = 0, bytes = 0, errors = 0;
    for (int i = 0; i < MAX_WORKERS; i++) {
        accepted += stats[i].accepted;
        bytes += stats[i].bytes;
        errors += stats[i].errors;
    }
    if (served)
        printf("restart_server: %s; %ld connections taken over, %llu accepted, %llu bytes received, %llu connection "
               "errors\n",
               handed_over ? "handed over" : "stopped", took_over ? staged_n : 0L, (unsigned long long)accepted,
               (unsigned long long)bytes, (unsigned long long)errors);
    return (sample_load(&fatal) || derr) ? 1 : 0;
}
