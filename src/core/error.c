/* rp_strerror: the name of every RP_E* code. */
#include "core/internal.h"

const char *rp_strerror(int err)
{
    switch (err) {
    case RP_OK: return "success";
    case RP_EINVAL: return "invalid argument";
    case RP_ENOMEM: return "out of memory";
    case RP_EBADF: return "socket handle is not open";
    case RP_EBUSY: return "operation already pending or loop busy";
    case RP_ENOENT: return "operation is not pending";
    case RP_ECANCELED: return "operation canceled";
    case RP_ECONNREFUSED: return "connection refused";
    case RP_ECONNRESET: return "connection reset by peer";
    case RP_ECONNABORTED: return "connection aborted";
    case RP_EPIPE: return "broken pipe";
    case RP_ETIMEDOUT: return "connection timed out";
    case RP_EADDRINUSE: return "address already in use";
    case RP_EADDRNOTAVAIL: return "address not available";
    case RP_ENETUNREACH: return "network is unreachable";
    case RP_EHOSTUNREACH: return "host is unreachable";
    case RP_EMFILE: return "too many open files in process";
    case RP_ENFILE: return "too many open files in system";
    case RP_ENOBUFS: return "no buffer space available";
    case RP_EAFNOSUPPORT: return "address family not supported";
    case RP_EACCES: return "permission denied";
    case RP_ENOTSUP: return "operation not supported";
    case RP_ENOSYS: return "backend not available";
    case RP_ESHUTDOWN: return "socket or loop is shutting down";
    case RP_ENOTCONN: return "socket is not connected";
    case RP_EALREADY: return "operation already in progress";
    case RP_EPERM: return "operation not permitted";
    case RP_ENETDOWN: return "network is down";
    case RP_EMSGSIZE: return "message too long";
    case RP_EIO: return "input/output error";
    default: return "unknown error";
    }
}
