/* Lookups on Windows. Windows 8 and later: GetAddrInfoExW with an OVERLAPPED and a completion routine,
 * so no thread of ours waits; a lookup nobody waits for any more is stopped with GetAddrInfoExCancel.
 * Where that is missing (Windows 7: no GetAddrInfoExCancel, and GetAddrInfoExW takes no OVERLAPPED) or
 * refused, lookups run on the resolver's pool threads with GetAddrInfoW (core/resolve.c). Host and
 * service are UTF-8 in the API and UTF-16 here.
 *
 * The functions are looked up at run time: MinGW's headers declare neither GetAddrInfoExCancel nor the
 * completion routine's type, and an executable that imported them would not start on Windows 7.
 * Test-only: RINGPORT_RESOLVE_NO_ASYNC=1 takes the pool path even where GetAddrInfoExW could run. */
#include <stdlib.h>

#include "core/resolve.h"
#include "win/net_win.h"

/* GetAddrInfoExW's completion routine (LPLOOKUPSERVICE_COMPLETION_ROUTINE in the Windows SDK). */
typedef void(CALLBACK *gai_done_fn)(DWORD error, DWORD bytes, LPWSAOVERLAPPED overlapped);
typedef INT(WSAAPI *gai_ex_fn)(PCWSTR name, PCWSTR service, DWORD name_space, LPGUID provider,
                               const ADDRINFOEXW *hints, PADDRINFOEXW *result, struct timeval *timeout,
                               LPOVERLAPPED overlapped, gai_done_fn done, LPHANDLE handle);
typedef INT(WSAAPI *gai_ex_cancel_fn)(LPHANDLE handle);
typedef void(WSAAPI *gai_ex_free_fn)(PADDRINFOEXW result);

static struct {
    gai_ex_fn start;
    gai_ex_cancel_fn cancel;
    gai_ex_free_fn free_result;
    rp_atomic_u32 async_off; /* 1: lookups go to the pool (missing, refused once, or the test switch) */
} G;

/* The platform's part of a job. */
typedef struct win_job {
    OVERLAPPED overlapped; /* first: the completion routine gets a pointer to it */
    rp_resolve_job *job;
    ADDRINFOEXW *result;   /* GetAddrInfoExW's */
    wchar_t *host, *service;
} win_job;

/* Any callable pointer through the one function type that converts to every other without a warning. */
typedef void (*any_fn)(void);

int rp__resolve_platform_init(void)
{
    /* The resolver outlives loops (a lookup may still run when the last one is destroyed), so it keeps
     * Winsock initialised for the rest of the process: one reference, never released. */
    WSADATA data;
    int rc = WSAStartup(MAKEWORD(2, 2), &data);
    if (rc != 0)
        return rp__from_wsa(rc);
    HMODULE ws2 = GetModuleHandleW(L"ws2_32.dll");
    if (ws2) {
        G.start = (gai_ex_fn)(any_fn)GetProcAddress(ws2, "GetAddrInfoExW");
        G.cancel = (gai_ex_cancel_fn)(any_fn)GetProcAddress(ws2, "GetAddrInfoExCancel");
        G.free_result = (gai_ex_free_fn)(any_fn)GetProcAddress(ws2, "FreeAddrInfoExW");
    }
    const char *off = getenv("RINGPORT_RESOLVE_NO_ASYNC");
    int usable = G.start && G.cancel && G.free_result && !(off && off[0] == '1');
    rp__atomic_store_u32(&G.async_off, usable ? 0u : 1u);
    return 0;
}

int rp__resolve_async_available(void)
{
    return !rp__atomic_load_u32(&G.async_off);
}

/* UTF-8 -> a new UTF-16 string. RP_EINVAL for text that is not valid UTF-8. */
static int widen(const char *s, wchar_t **out)
{
    int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
    if (n <= 0)
        return RP_EINVAL;
    wchar_t *w = malloc((size_t)n * sizeof *w);
    if (!w)
        return RP_ENOMEM;
    if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, n) != n) {
        free(w);
        return RP_EINVAL;
    }
    *out = w;
    return 0;
}

int rp__resolve_job_prepare(rp_resolve_job *job)
{
    win_job *wj = calloc(1, sizeof *wj);
    if (!wj)
        return RP_ENOMEM;
    wj->job = job;
    job->platform = wj;
    int err = widen(job->host, &wj->host);
    if (!err && job->service)
        err = widen(job->service, &wj->service);
    return err;
}

void rp__resolve_job_release(rp_resolve_job *job)
{
    win_job *wj = job->platform;
    if (!wj)
        return;
    if (wj->result)
        G.free_result(wj->result);
    free(wj->host);
    free(wj->service);
    free(wj);
    job->platform = NULL;
}

/* A lookup's error (a WSA code) as RP_E*. */
static int from_lookup_error(int e)
{
    switch (e) {
    case WSAHOST_NOT_FOUND: /* EAI_NONAME */
    case WSANO_DATA:        /* the name exists but has no address of the kind asked for */
    case WSATYPE_NOT_FOUND: /* EAI_SERVICE: a service name the services file does not have */
    case WSASERVICE_NOT_FOUND:
    case -9: /* Wine 8 passes glibc's EAI_ADDRFAMILY (no address of that family) through untranslated */
        return RP_ENOTFOUND;
    case WSATRY_AGAIN: return RP_ETRYAGAIN; /* EAI_AGAIN */
    case WSANO_RECOVERY: return RP_EIO;     /* EAI_FAIL */
    case WSA_E_CANCELLED: return RP_ECANCELED;
    default: return rp__from_wsa(e); /* WSAEAFNOSUPPORT, WSA_NOT_ENOUGH_MEMORY, WSAEINVAL, ... */
    }
}

/* One entry of a result list into the job's addresses. */
static void add_sockaddr(rp_resolve_job *job, const struct sockaddr *sa, size_t len)
{
    struct sockaddr_storage ss;
    rp_addr a;
    if (!sa || len > sizeof ss)
        return;
    memset(&ss, 0, sizeof ss);
    memcpy(&ss, sa, len);
    if (rp__net_from_sockaddr(&ss, &a) == 0) /* IPv4 and IPv6 only */
        rp__resolve_add(job, &a);
}

static void take_result_ex(rp_resolve_job *job, const ADDRINFOEXW *res)
{
    size_t n = 0;
    /* MinGW's ADDRINFOEXW names its ai_next with another struct tag than its own: hence the casts. */
    for (const ADDRINFOEXW *ai = res; ai; ai = (const ADDRINFOEXW *)ai->ai_next)
        n++;
    job->err = rp__resolve_reserve(job, n);
    for (const ADDRINFOEXW *ai = res; ai && !job->err; ai = (const ADDRINFOEXW *)ai->ai_next)
        add_sockaddr(job, ai->ai_addr, ai->ai_addrlen);
}

static void fill_hints_ex(const rp_resolve_job *job, ADDRINFOEXW *h)
{
    memset(h, 0, sizeof *h);
    h->ai_family = job->family == RP_AF_INET ? AF_INET : job->family == RP_AF_INET6 ? AF_INET6 : AF_UNSPEC;
    h->ai_flags = ((job->flags & RP_RESOLVE_NUMERIC_HOST) ? AI_NUMERICHOST : 0) |
                  ((job->flags & RP_RESOLVE_ADDRCONFIG) ? AI_ADDRCONFIG : 0);
}

static void CALLBACK on_lookup_done(DWORD error, DWORD bytes, LPWSAOVERLAPPED overlapped)
{
    RP_UNUSED(bytes);
    win_job *wj = (win_job *)(void *)overlapped;
    rp_resolve_job *job = wj->job;
    uint32_t delay_ms = rp__resolve_test_delay_ms();
    if (delay_ms)
        Sleep(delay_ms); /* on a thread of the system's pool: only tests ask for it */
    if (error != 0)
        job->err = from_lookup_error((int)error);
    else
        take_result_ex(job, wj->result);
    if (wj->result) {
        G.free_result(wj->result);
        wj->result = NULL;
    }
    rp__resolve_async_done(job);
}

/* What GetAddrInfoExW answers when it cannot take an OVERLAPPED here (older systems, some Wine builds). */
static int async_unsupported(int rc)
{
    return rc == WSAEINVAL || rc == WSAVERNOTSUPPORTED || rc == WSAEOPNOTSUPP || rc == ERROR_NOT_SUPPORTED ||
           rc == ERROR_CALL_NOT_IMPLEMENTED || rc == ERROR_INVALID_PARAMETER;
}

rp_resolve_async rp__resolve_async_start(rp_resolve_job *job, void **cancel_handle)
{
    win_job *wj = job->platform;
    ADDRINFOEXW hints;
    HANDLE handle = NULL;
    fill_hints_ex(job, &hints);
    memset(&wj->overlapped, 0, sizeof wj->overlapped);
    wj->result = NULL;
    int rc = G.start(wj->host, wj->service, NS_ALL, NULL, &hints, &wj->result, NULL, &wj->overlapped, on_lookup_done,
                     &handle);
    if (rc == WSA_IO_PENDING) {
        *cancel_handle = handle; /* Wine 8 gives none (and its GetAddrInfoExCancel does nothing) */
        return RP_RESOLVE_ASYNC_PENDING;
    }
    if (rc != 0 && async_unsupported(rc)) {
        /* Our arguments are always valid: this system cannot run the call asynchronously. */
        rp__atomic_store_u32(&G.async_off, 1);
        return RP_RESOLVE_ASYNC_NO;
    }
    /* Completed at once (the completion routine is not called then). */
    if (rc != 0)
        job->err = from_lookup_error(rc);
    else
        take_result_ex(job, wj->result);
    if (wj->result) {
        G.free_result(wj->result);
        wj->result = NULL;
    }
    return RP_RESOLVE_ASYNC_FINISHED;
}

void rp__resolve_async_cancel(rp_resolve_job *job)
{
    HANDLE handle = job->cancel_handle;
    if (handle)
        G.cancel(&handle); /* the lookup then completes with WSA_E_CANCELLED, or has completed already */
}

void rp__resolve_lookup(rp_resolve_job *job)
{
    win_job *wj = job->platform;
    ADDRINFOW hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = job->family == RP_AF_INET ? AF_INET : job->family == RP_AF_INET6 ? AF_INET6 : AF_UNSPEC;
    hints.ai_flags = ((job->flags & RP_RESOLVE_NUMERIC_HOST) ? AI_NUMERICHOST : 0) |
                     ((job->flags & RP_RESOLVE_ADDRCONFIG) ? AI_ADDRCONFIG : 0);
    int rc = GetAddrInfoW(wj->host, wj->service, &hints, &res);
    if (rc != 0) {
        job->err = from_lookup_error(rc);
        return;
    }
    size_t n = 0;
    for (const ADDRINFOW *ai = res; ai; ai = ai->ai_next)
        n++;
    job->err = rp__resolve_reserve(job, n);
    for (const ADDRINFOW *ai = res; ai && !job->err; ai = ai->ai_next)
        add_sockaddr(job, ai->ai_addr, ai->ai_addrlen);
    FreeAddrInfoW(res);
}
