/* rp_strerror: the message of every RP_E* code, generated from the one list in ringport.h. */
#include "core/internal.h"

const char *rp_strerror(int err)
{
    switch (err) {
    case RP_OK: return "success";
#define RP_ERRNO_MESSAGE_(name, value, message) \
    case RP_##name: return message;
        RP_ERRNO_MAP(RP_ERRNO_MESSAGE_)
#undef RP_ERRNO_MESSAGE_
    default: return "unknown error";
    }
}
