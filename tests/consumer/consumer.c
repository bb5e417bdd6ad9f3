/* Smallest user of an installed ringport: a loop, a timer, a clean destroy. */
#include <ringport.h>
#include <stdio.h>

static void on_timer(rp_op *op) { *(int *)op->user = (int)op->result + 1; }

int main(void)
{
    rp_loop *loop;
    rp_loop_options opts;
    rp_loop_options_init(&opts);
    opts.workers = 0;
    int err = rp_loop_create(&loop, &opts);
    if (err) {
        fprintf(stderr, "rp_loop_create: %s\n", rp_strerror(err));
        return 1;
    }
    int fired = 0;
    rp_op op;
    rp_op_init(&op, on_timer, &fired);
    rp_timeout(loop, &op, RP_SOCKET_INVALID, 1, 0);
    while (!fired)
        rp_loop_run(loop, RP_RUN_ONCE);
    printf("consumer: %s backend, timer fired\n", rp_backend_name(rp_loop_backend(loop)));
    return rp_loop_destroy(loop) == 0 && fired == 1 ? 0 : 1;
}
