// Every documented queue depth works on every backend, including the maximum (32768): io_uring sizes its
// completion queue from it and must stay within the kernel's limit.
#include <gtest/gtest.h>

#include "ringport.h"

TEST(QueueDepth, EveryDocumentedDepthCreatesALoop)
{
    for (rp_backend b : {RP_BACKEND_IO_URING, RP_BACKEND_EPOLL, RP_BACKEND_KQUEUE, RP_BACKEND_IOCP}) {
        for (int workers : {0, 1}) {
            for (unsigned depth : {0u, 1u, 2u, 256u, 4096u, 32768u}) {
                rp_loop_options o;
                rp_loop_options_init(&o);
                o.backend = b;
                o.workers = workers;
                o.queue_depth = depth;
                rp_loop *loop = nullptr;
                int err = rp_loop_create(&loop, &o);
                if (err == RP_ENOSYS || err == RP_EPERM)
                    break; // backend not here
                ASSERT_EQ(err, 0) << rp_backend_name(b) << " workers " << workers << " depth " << depth << ": "
                                  << rp_strerror(err);
                EXPECT_EQ(rp_loop_destroy(loop), 0);
            }
        }
    }
}
