/* Windows-only networking helpers (src/win/net_win.c) used by the IOCP backend and the loop. */
#ifndef RP_NET_WIN_H
#define RP_NET_WIN_H

#include "core/internal.h"

int rp__from_wsa(int e);          /* WSA / Win32 error code -> RP_E* */
int rp__net_bind_any(rp_fd fd, int family); /* ConnectEx needs a bound socket */
int rp__net_ifs_handles_only(void); /* every TCP provider returns IFS handles */
/* Asks for TCP Fast Open on a socket about to connect with early data; a refusal changes nothing. */
void rp__net_fastopen_client(rp_fd fd);
/* Sends len bytes at off of datagram d (the datagram, or one of its segments) without blocking
 * (win/udp_win.c): 0, RP_EAGAIN (no room), or why it was refused. */
int rp__udp_send_part_now(rp_sock *s, const rp_dgram *d, uint32_t off, uint32_t len);
/* WSARecvMsg (RP_UDP_PKTINFO receives), loaded once; NULL where Winsock has none. */
typedef INT(WINAPI *rp_wsarecvmsg_fn)(SOCKET, LPWSAMSG, LPDWORD, LPWSAOVERLAPPED, LPWSAOVERLAPPED_COMPLETION_ROUTINE);
rp_wsarecvmsg_fn rp__win_recvmsg(void);
/* The destination address in a WSARecvMsg's control data; 0 if found. */
int rp__udp_local_from_wsamsg(const WSAMSG *msg, uint16_t port, rp_addr *out);

#endif
