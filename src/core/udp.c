/* UDP sockets, the parts shared by every backend: the synchronous calls (connect, try-send, multicast
 * membership, drop counts), the checks of datagram arrays, and how a datagram send's outcome is
 * reported. The submissions are in core/submit.c; the backends move the datagrams. */
#include "core/backend.h"

void rp_udp_options_init(rp_udp_options *opts)
{
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->worker = -1;
    opts->multicast_ttl = -1;
}

int rp__udp_check_dgrams(const rp_dgram *v, size_t count, int sending)
{
    if (!v || count == 0 || count > RP_DGRAM_BATCH_MAX)
        return RP_EINVAL;
    for (size_t i = 0; i < count; i++) {
        const rp_dgram *d = &v[i];
        if (d->len && !d->base)
            return RP_EINVAL;
        if (!sending)
            continue;
        if (d->len > RP_DGRAM_MAX || d->flags || d->reserved1)
            return RP_EINVAL;
        if (d->segment && (d->len + d->segment - 1u) / d->segment > RP_DGRAM_SEGMENTS_MAX)
            return RP_EINVAL;
        if (d->peer.family != 0 && d->peer.family != RP_AF_INET && d->peer.family != RP_AF_INET6)
            return RP_EINVAL;
    }
    return 0;
}

/* peer as a sockaddr for a socket of family: an IPv4 peer of a dual-stack socket as ::ffff:a.b.c.d. */
static int udp_sockaddr(int family, const rp_addr *peer, void *sa, int *len)
{
    if (peer->family == RP_AF_INET6 && family == AF_INET)
        return RP_EAFNOSUPPORT;
    if (peer->family == RP_AF_INET && family == AF_INET6) {
        rp_addr mapped = *peer;
        mapped.family = RP_AF_INET6;
        memset(mapped.ip, 0, 10);
        mapped.ip[10] = mapped.ip[11] = 0xFF;
        memcpy(mapped.ip + 12, peer->ip, 4);
        mapped.scope_id = 0;
        return rp__net_to_sockaddr(&mapped, sa, len);
    }
    return rp__net_to_sockaddr(peer, sa, len);
}

/* A UDP socket of the loop, open and not closing. */
static int udp_lookup(rp_loop *loop, rp_socket h, rp_sock **out)
{
    if (!loop)
        return RP_EINVAL;
    int err = rp__sock_lookup(loop, h, out);
    if (err)
        return err;
    return (*out)->type == RP_SOCK_DGRAM ? 0 : RP_EINVAL;
}

int rp_udp_connect(rp_loop *loop, rp_socket socket, const rp_addr *peer)
{
    rp_sock *s;
    if (!peer || (peer->family != RP_AF_INET && peer->family != RP_AF_INET6))
        return RP_EINVAL;
    int err = udp_lookup(loop, socket, &s);
    if (err)
        return err;
    struct sockaddr_storage ss;
    int len = 0;
    if ((err = udp_sockaddr(s->family, peer, &ss, &len)) != 0 || (err = rp__net_udp_connect(s->fd, &ss, len)) != 0)
        return err;
    rp__atomic_store_u32(&s->u.stream.dgram.peer_fixed, 1);
    return 0;
}

int rp_udp_try_send(rp_loop *loop, rp_socket socket, rp_dgram *dgrams, size_t count)
{
    rp_sock *s;
    int err = rp__udp_check_dgrams(dgrams, count, 1);
    if (err)
        return err;
    if ((err = udp_lookup(loop, socket, &s)) != 0)
        return err;
    return rp__net_udp_send_now(s, dgrams, (uint32_t)count);
}

int rp_udp_set_membership(rp_loop *loop, rp_socket socket, const rp_addr *group, const rp_addr *iface, int join)
{
    rp_sock *s;
    if (!group || (group->family != RP_AF_INET && group->family != RP_AF_INET6))
        return RP_EINVAL;
    int multicast = group->family == RP_AF_INET ? (group->ip[0] & 0xF0) == 0xE0 : group->ip[0] == 0xFF;
    if (!multicast || (iface && iface->family != group->family))
        return RP_EINVAL;
    int err = udp_lookup(loop, socket, &s);
    if (err)
        return err;
    if (group->family == RP_AF_INET6 && s->family != AF_INET6)
        return RP_EINVAL;
    return rp__net_udp_membership(s->fd, s->family, group, iface, join);
}

int rp_udp_drops(rp_loop *loop, rp_socket socket, uint64_t *out)
{
    rp_sock *s;
    if (!out)
        return RP_EINVAL;
    int err = udp_lookup(loop, socket, &s);
    return err ? err : rp__net_udp_drops(s->fd, out);
}

int rp__udp_dest(const rp_sock *s, const rp_dgram *d, void *sa, int *len)
{
    *len = 0;
    int fixed = rp__atomic_load_u32(&((rp_sock *)s)->u.stream.dgram.peer_fixed) != 0;
    if (d->peer.family == 0)
        return fixed ? 0 : RP_EINVAL;
    if (fixed)
        return RP_EINVAL; /* a connected socket sends to its peer only */
    return udp_sockaddr(s->family, &d->peer, sa, len);
}

int64_t rp__udp_send_outcome(rp_op *op, int64_t result)
{
    rp_op_priv *p = RP_PRIV(op);
    rp_dgram *v = p->u.udp.v;
    if (result < 0)
        for (uint32_t i = p->u.udp.next; i < p->u.udp.count; i++)
            v[i].error = (int32_t)result;
    int64_t sent = 0;
    for (uint32_t i = 0; i < p->u.udp.count; i++)
        sent += v[i].error == 0;
    return sent ? sent : (int64_t)v[0].error;
}

void rp__udp_send_done(rp_worker *w, rp_sock *s)
{
    rp_op *op = s->sendq.head;
    int stopped = RP_PRIV(op)->u.udp.next < RP_PRIV(op)->u.udp.count;
    rp__io_finish(w, s, RP_DIR_SEND, stopped ? RP_ECANCELED : 0);
}
