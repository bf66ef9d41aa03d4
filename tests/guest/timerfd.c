/* timerfd: a one-shot timer read blocks until it expires; a periodic one
 * counts its periods; an absolute expiry on CLOCK_MONOTONIC; non-blocking
 * reads and poll. Prints facts, not times. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static long rd(int fd) {
    uint64_t v;
    return read(fd, &v, 8) == 8 ? (long)v : -errno;
}

int main(void) {
    int t = timerfd_create(CLOCK_MONOTONIC, 0);
    struct itimerspec once = { .it_value = { 0, 50000000 } };
    timerfd_settime(t, 0, &once, 0);
    double t0 = now();
    long n = rd(t);
    printf("one-shot: %ld, waited >= 40ms: %s\n", n, now() - t0 >= 0.04 ? "yes" : "no");
    struct itimerspec cur;
    timerfd_gettime(t, &cur);
    printf("disarmed after expiry: %s\n", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0 ? "yes" : "no");

    int p = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    printf("not yet: %s\n", rd(p) == -EAGAIN ? "EAGAIN" : "?");
    struct itimerspec period = { .it_interval = { 0, 20000000 }, .it_value = { 0, 20000000 } };
    timerfd_settime(p, 0, &period, 0);
    struct timespec nap = { 0, 110000000 };
    nanosleep(&nap, 0);
    long periods = rd(p);
    printf("periodic: >= 4 periods: %s\n", periods >= 4 && periods <= 6 ? "yes" : "no");

    struct pollfd pf = { .fd = p, .events = POLLIN };
    int ready = poll(&pf, 1, 1000);
    printf("poll: %d in=%d\n", ready, !!(pf.revents & POLLIN));

    struct timespec m;
    clock_gettime(CLOCK_MONOTONIC, &m);
    m.tv_nsec += 30000000;
    if (m.tv_nsec >= 1000000000) {
        m.tv_sec++;
        m.tv_nsec -= 1000000000;
    }
    struct itimerspec abs = { .it_value = m };
    timerfd_settime(t, TFD_TIMER_ABSTIME, &abs, 0);
    t0 = now();
    n = rd(t);
    printf("absolute: %ld, waited >= 20ms: %s\n", n, now() - t0 >= 0.02 ? "yes" : "no");
    return 0;
}
