/* rp_addr <-> sockaddr_in / sockaddr_in6: the same on POSIX and Winsock. */
#include "core/internal.h"

#if !defined(_WIN32)
#include <arpa/inet.h>
#endif

int rp__net_to_sockaddr(const rp_addr *a, void *sa, int *len)
{
    if (a->family == RP_AF_INET) {
        struct sockaddr_in *in = sa;
        memset(in, 0, sizeof *in);
        in->sin_family = AF_INET;
        in->sin_port = htons(a->port);
        memcpy(&in->sin_addr, a->ip, 4);
        *len = (int)sizeof *in;
        return 0;
    }
    if (a->family == RP_AF_INET6) {
        struct sockaddr_in6 *in6 = sa;
        memset(in6, 0, sizeof *in6);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(a->port);
        in6->sin6_scope_id = a->scope_id;
        memcpy(&in6->sin6_addr, a->ip, 16);
        *len = (int)sizeof *in6;
        return 0;
    }
    return RP_EINVAL;
}

int rp__net_from_sockaddr(const struct sockaddr_storage *ss, rp_addr *out)
{
    memset(out, 0, sizeof *out);
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)ss;
        out->family = RP_AF_INET;
        out->port = ntohs(in->sin_port);
        memcpy(out->ip, &in->sin_addr, 4);
        return 0;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)ss;
        out->family = RP_AF_INET6;
        out->port = ntohs(in6->sin6_port);
        out->scope_id = in6->sin6_scope_id;
        memcpy(out->ip, &in6->sin6_addr, 16);
        return 0;
    }
    return RP_EAFNOSUPPORT;
}

void rp__addr_unmap(rp_addr *a)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    if (a->family != RP_AF_INET6 || memcmp(a->ip, mapped, sizeof mapped) != 0)
        return;
    a->family = RP_AF_INET;
    a->scope_id = 0;
    memmove(a->ip, a->ip + 12, 4);
    memset(a->ip + 4, 0, 12);
}

int rp__net_from_sockaddr_unmapped(const struct sockaddr_storage *ss, rp_addr *out)
{
    int err = rp__net_from_sockaddr(ss, out);
    if (!err)
        rp__addr_unmap(out);
    return err;
}
