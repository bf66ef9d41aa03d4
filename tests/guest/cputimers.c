/* ITIMER_VIRTUAL and ITIMER_PROF: interval timers on the process's CPU
 * time. A busy loop until SIGVTALRM / SIGPROF arrives (from the kernel:
 * SI_KERNEL, no sender); getitimer counts down with CPU time, not while
 * sleeping; the timers survive execve and fork children do not inherit
 * them. CPU-time clocks read the same time, by pid or thread too. Prints
 * facts, not times. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t vtalrm, prof, code = -1, sender = -1;

static void handler(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    if (sig == SIGVTALRM) vtalrm++;
    if (sig == SIGPROF) prof++;
    code = si->si_code;
    sender = si->si_pid;
}

static double wall(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static double cpu(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

/* Burns CPU until *flag reaches n, or `secs` of CPU time, or 10s go by. */
static void burn(volatile sig_atomic_t *flag, int n, double secs) {
    double c0 = cpu(), end = wall() + 10;
    volatile unsigned long x = 0;
    while ((!flag || *flag < n) && cpu() - c0 < secs && wall() < end) {
        for (int i = 0; i < 100000; i++) x += i;
    }
}

/* Linux adds up to a clock tick (10ms at HZ=100) to the value set. */
#define TICK 10000

static long left_us(int which) {
    struct itimerval v;
    if (getitimer(which, &v) < 0) return -errno;
    return v.it_value.tv_sec * 1000000L + v.it_value.tv_usec;
}

static long interval_us(int which) {
    struct itimerval v;
    getitimer(which, &v);
    return v.it_interval.tv_sec * 1000000L + v.it_interval.tv_usec;
}

static void arm(int which, long value_us, long interval_us) {
    struct itimerval v = { { interval_us / 1000000, interval_us % 1000000 }, { value_us / 1000000, value_us % 1000000 } };
    if (setitimer(which, &v, 0) < 0) printf("setitimer(%d): %s\n", which, strerror(errno));
}

static const char *yes(int c) {
    return c ? "yes" : "no";
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "after-exec") == 0) {
        long v = left_us(ITIMER_VIRTUAL), p = left_us(ITIMER_PROF);
        printf("after exec: virtual kept %s, prof kept %s\n", yes(v > 0 && v <= 10000000 + TICK), yes(p > 0 && p <= 20000000 + TICK));
        return 0;
    }
    struct sigaction sa = { .sa_sigaction = handler, .sa_flags = SA_SIGINFO | SA_RESTART };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGVTALRM, &sa, 0);
    sigaction(SIGPROF, &sa, 0);

    /* One-shot ITIMER_VIRTUAL. */
    arm(ITIMER_VIRTUAL, 50000, 0);
    long l = left_us(ITIMER_VIRTUAL);
    printf("virtual armed: %s\n", yes(l > 0 && l <= 50000 + TICK));
    burn(&vtalrm, 1, 5);
    printf("SIGVTALRM: %d, SI_KERNEL %s, si_pid 0 %s\n", (int)vtalrm, yes(code == SI_KERNEL), yes(sender == 0));
    printf("virtual disarmed after: %s\n", yes(left_us(ITIMER_VIRTUAL) == 0));

    /* Periodic ITIMER_PROF. */
    code = sender = -1;
    arm(ITIMER_PROF, 20000, 20000);
    printf("prof interval: %ldus\n", interval_us(ITIMER_PROF));
    burn(&prof, 3, 5);
    printf("SIGPROF: 3 or more %s, SI_KERNEL %s, si_pid 0 %s\n", yes(prof >= 3), yes(code == SI_KERNEL),
           yes(sender == 0));
    arm(ITIMER_PROF, 0, 0);
    printf("prof disarmed: %s\n", yes(left_us(ITIMER_PROF) == 0 && interval_us(ITIMER_PROF) == 0));

    /* CPU time, not time: sleeping leaves ITIMER_VIRTUAL alone. */
    arm(ITIMER_VIRTUAL, 10000000, 0);
    struct timespec nap = { 0, 200000000 };
    nanosleep(&nap, 0);
    long slept = left_us(ITIMER_VIRTUAL);
    printf("sleeping costs no CPU time: %s\n", yes(slept > 9950000));
    burn(0, 0, 0.2);
    long burnt = left_us(ITIMER_VIRTUAL);
    printf("burning 0.2s counts: %s\n", yes(burnt < slept - 100000 && burnt > 5000000));

    /* CPU-time clocks named by pid and by thread. */
    clockid_t by_pid, by_thread;
    struct timespec ts;
    double before = cpu();
    int r = clock_getcpuclockid(getpid(), &by_pid);
    clock_gettime(by_pid, &ts);
    printf("own clock by pid: %s, agrees %s\n", r ? strerror(r) : "ok", yes(ts.tv_sec + ts.tv_nsec / 1e9 >= before));
    r = pthread_getcpuclockid(pthread_self(), &by_thread);
    printf("own clock by thread: %s, readable %s\n", r ? strerror(r) : "ok", yes(clock_gettime(by_thread, &ts) == 0));
    printf("clock of no process: %s\n", strerror(clock_getcpuclockid(99999, &by_pid)));

    /* A fork child has none; execve keeps them. */
    arm(ITIMER_PROF, 20000000, 0);
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        printf("fork child: none %s\n", yes(left_us(ITIMER_VIRTUAL) == 0 && left_us(ITIMER_PROF) == 0));
        return 0;
    }
    int status;
    waitpid(child, &status, 0);
    fflush(stdout);
    execl("/proc/self/exe", argv[0], "after-exec", (char *)0);
    printf("execl: %s\n", strerror(errno));
    return 1;
}
