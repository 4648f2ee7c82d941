/* ferry-pause: the process of a pod's infra container. It holds the network namespace open and
 * exits on SIGTERM or SIGINT; it reaps nothing and does nothing else. */
#include <signal.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

int main(void) {
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    while (!stop_requested)
        pause();
    return 0;
}
