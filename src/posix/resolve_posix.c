/* One lookup with getaddrinfo, run on a resolver pool thread (core/resolve.c), and getaddrinfo's EAI_*
 * codes mapped to RP_E*. POSIX has no asynchronous lookup worth using (glibc's getaddrinfo_a is a thread
 * pool of its own), so every lookup goes through the pool. */
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "core/resolve.h"

int rp__resolve_platform_init(void) { return 0; }
int rp__resolve_job_prepare(rp_resolve_job *job) { RP_UNUSED(job); return 0; }
void rp__resolve_job_release(rp_resolve_job *job) { RP_UNUSED(job); }
int rp__resolve_async_available(void) { return 0; }

rp_resolve_async rp__resolve_async_start(rp_resolve_job *job, void **cancel_handle)
{
    RP_UNUSED(job);
    RP_UNUSED(cancel_handle);
    return RP_RESOLVE_ASYNC_NO;
}

void rp__resolve_async_cancel(rp_resolve_job *job) { RP_UNUSED(job); }

/* err: getaddrinfo's result; sys_errno: errno right after it (EAI_SYSTEM). */
static int from_eai(int err, int sys_errno)
{
    switch (err) {
    case EAI_NONAME:
#if defined(EAI_NODATA) && EAI_NODATA != EAI_NONAME
    case EAI_NODATA: /* the name exists but has no address */
#endif
#if defined(EAI_ADDRFAMILY)
    case EAI_ADDRFAMILY: /* no address of the family asked for */
#endif
    case EAI_SERVICE: return RP_ENOTFOUND; /* a service name the services database does not have */
    case EAI_AGAIN: return RP_ETRYAGAIN;
    case EAI_FAMILY: return RP_EAFNOSUPPORT;
    case EAI_MEMORY: return RP_ENOMEM;
    case EAI_BADFLAGS: return RP_EINVAL;
    case EAI_SYSTEM: return sys_errno ? rp__from_errno(sys_errno) : RP_EIO;
    default: return RP_EIO; /* EAI_FAIL (a non-recoverable failure), EAI_OVERFLOW, ... */
    }
}

void rp__resolve_lookup(rp_resolve_job *job)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = job->family == RP_AF_INET ? AF_INET : job->family == RP_AF_INET6 ? AF_INET6 : AF_UNSPEC;
    /* Socket type 0: a service name of any protocol resolves; the entries this gives per socket type
     * are merged by rp__resolve_add. */
    hints.ai_flags = ((job->flags & RP_RESOLVE_NUMERIC_HOST) ? AI_NUMERICHOST : 0) |
                     ((job->flags & RP_RESOLVE_ADDRCONFIG) ? AI_ADDRCONFIG : 0);
    errno = 0;
    int rc = getaddrinfo(job->host, job->service, &hints, &res);
    if (rc != 0) {
        job->err = from_eai(rc, errno);
        return;
    }
    size_t n = 0;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next)
        n++;
    job->err = rp__resolve_reserve(job, n);
    for (const struct addrinfo *ai = res; ai && !job->err; ai = ai->ai_next) {
        struct sockaddr_storage ss;
        rp_addr a;
        if (!ai->ai_addr || ai->ai_addrlen > sizeof ss)
            continue;
        memset(&ss, 0, sizeof ss);
        memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
        if (rp__net_from_sockaddr(&ss, &a) == 0) /* IPv4 and IPv6 only */
            rp__resolve_add(job, &a);
    }
    freeaddrinfo(res);
}
