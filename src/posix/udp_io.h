/* The datagram I/O the POSIX backends share (posix/udp_io.c): each call works on the active op of its
 * direction and reports through the core (core/backend.h), or says to wait for readiness. */
#ifndef RP_POSIX_UDP_IO_H
#define RP_POSIX_UDP_IO_H

#include "core/backend.h"

/* The active rp_udp_recv: receives what is there into its datagrams and completes it (also with an error:
 * returns 1), or returns 0 when nothing is there (wait for readability, then call again). */
int rp__udp_io_recv(rp_worker *w, rp_sock *s);
/* The active UDP pool receive: reads datagrams into pool buffers until the socket is drained (returns 0:
 * wait for readability) or the receive ended or must wait for buffers or deliveries (returns 1: the core
 * starts it again through io_start when it can go on). */
int rp__udp_io_recv_pool(rp_worker *w, rp_sock *s);
/* The active UDP send: sends its datagrams from u.udp.next on; returns 1 once it completed, 0 when the
 * socket has no room (wait for writability, then call again). */
int rp__udp_io_send(rp_worker *w, rp_sock *s);

/* Control data per datagram that RP_UDP_PKTINFO needs room for (one in_pktinfo / in6_pktinfo). */
#define RP_UDP_CTRL_SIZE 64
/* The destination address in a received datagram's control data (RP_UDP_PKTINFO), with port; 0 if found. */
int rp__udp_local_from_cmsg(struct msghdr *msg, uint16_t port, rp_addr *out);
/* A receive error (errno) that must not end a receive: an ICMP report on an unconnected socket. */
int rp__udp_error_ignorable(const rp_sock *s, int e);

#endif
