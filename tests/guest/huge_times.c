/* Times too large for the kernel's clocks: Linux clamps them (to KTIME_MAX,
 * about 292 years); they must neither crash nor hang umvm. ITIMER_REAL, a
 * POSIX timer, a timerfd, and ppoll/pselect/sigtimedwait timeouts with
 * something ready at once. Prints facts. */
#define _GNU_SOURCE
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/select.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static const char *yes(int c) {
    return c ? "yes" : "no";
}

int main(void) {
    struct itimerval iv = { { LONG_MAX, 0 }, { LONG_MAX, 0 } }, cur;
    int r = setitimer(ITIMER_REAL, &iv, 0);
    getitimer(ITIMER_REAL, &cur);
    printf("setitimer: %d, centuries left %s\n", r, yes(cur.it_value.tv_sec > 9000000000L));
    struct itimerval off = { 0 };
    setitimer(ITIMER_REAL, &off, 0);

    struct itimerspec big = { { LONG_MAX, 999999999 }, { LONG_MAX, 999999999 } }, now;
    timer_t t;
    struct sigevent ev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1 };
    timer_create(CLOCK_MONOTONIC, &ev, &t);
    r = timer_settime(t, 0, &big, 0);
    timer_gettime(t, &now);
    printf("timer_settime: %d, centuries left %s\n", r, yes(now.it_value.tv_sec > 9000000000L));
    r = timer_settime(t, TIMER_ABSTIME, &big, 0);
    timer_gettime(t, &now);
    printf("timer_settime absolute: %d, centuries left %s\n", r, yes(now.it_value.tv_sec > 9000000000L));
    timer_delete(t);

    int fd = timerfd_create(CLOCK_MONOTONIC, 0);
    r = timerfd_settime(fd, 0, &big, 0);
    timerfd_gettime(fd, &now);
    printf("timerfd_settime: %d, centuries left %s\n", r, yes(now.it_value.tv_sec > 9000000000L));

    int p[2];
    pipe(p);
    write(p[1], "x", 1);
    struct timespec forever = { LONG_MAX, 999999999 };
    struct pollfd pf = { .fd = p[0], .events = POLLIN };
    printf("ppoll: %d\n", ppoll(&pf, 1, &forever, 0));
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(p[0], &rd);
    printf("pselect: %d\n", pselect(p[0] + 1, &rd, 0, 0, &forever, 0));
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);
    sigprocmask(SIG_BLOCK, &s, 0);
    raise(SIGUSR2);
    printf("sigtimedwait: %s\n", yes(sigtimedwait(&s, 0, &forever) == SIGUSR2));
    return 0;
}
