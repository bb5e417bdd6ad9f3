/* rp_sendfile's file on Windows: TransmitFile takes the offset from the OVERLAPPED only for a handle opened
 * for overlapped I/O (otherwise it reads from the file pointer), so the op sends through a handle of its
 * own onto the same file, made with ReOpenFile: the caller's handle may be synchronous, and its file
 * pointer is never used or moved. */
#include <winsock2.h>
#include <windows.h>

#include "core/internal.h"
#include "win/net_win.h"

int rp__file_open_for_send(rp_file file, rp_file *out)
{
    HANDLE h = (HANDLE)file;
    if (h == NULL || h == INVALID_HANDLE_VALUE)
        return RP_EBADF;
    DWORD type = GetFileType(h);
    if (type == FILE_TYPE_UNKNOWN && GetLastError() != NO_ERROR)
        return RP_EBADF;
    if (type != FILE_TYPE_DISK)
        return RP_EINVAL; /* a pipe, a console, a socket: not a file to send from */
    HANDLE own = ReOpenFile(h, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                            FILE_FLAG_OVERLAPPED | FILE_FLAG_SEQUENTIAL_SCAN);
    if (own == INVALID_HANDLE_VALUE) {
        DWORD e = GetLastError();
        if (e == ERROR_INVALID_HANDLE)
            return RP_EBADF;
        if (e == ERROR_INVALID_PARAMETER)
            return RP_EINVAL; /* not a file that can be reopened */
        if (e == ERROR_ACCESS_DENIED || e == ERROR_SHARING_VIOLATION)
            return RP_EACCES; /* not readable by us, or opened without FILE_SHARE_READ */
        return rp__from_wsa((int)e);
    }
    *out = (rp_file)(intptr_t)own;
    return 0;
}

void rp__file_close_for_send(rp_file file) { CloseHandle((HANDLE)file); }
