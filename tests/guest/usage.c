/* getrusage, wait4's rusage and times report real CPU time: a child burns
 * about 0.3 s of CPU; its parent sees it in wait4's rusage, in
 * RUSAGE_CHILDREN and in times(); then the parent burns its own. Prints
 * which checks hold (the exact times vary). */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double cpu(struct timeval u, struct timeval s) {
    return u.tv_sec + s.tv_sec + (u.tv_usec + s.tv_usec) / 1e6;
}

static void burn(double seconds) {
    struct timespec a, b;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    volatile unsigned long x = 0;
    do {
        for (int i = 0; i < 100000; i++)
            x += i;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    } while ((b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9 < seconds);
}

int main(void) {
    pid_t c = fork();
    if (c == 0) {
        burn(0.3);
        _exit(0);
    }
    int st;
    struct rusage ru;
    wait4(c, &st, 0, &ru);
    double w = cpu(ru.ru_utime, ru.ru_stime);
    printf("wait4 rusage >= 0.25s: %s\n", w >= 0.25 && w < 5 ? "yes" : "no");
    getrusage(RUSAGE_CHILDREN, &ru);
    double ch = cpu(ru.ru_utime, ru.ru_stime);
    printf("RUSAGE_CHILDREN >= 0.25s: %s\n", ch >= 0.25 && ch < 5 ? "yes" : "no");
    struct tms t;
    clock_t now = times(&t);
    long hz = sysconf(_SC_CLK_TCK);
    printf("times children >= 0.25s: %s, clock advances: %s\n",
           (double)(t.tms_cutime + t.tms_cstime) / hz >= 0.25 ? "yes" : "no", now > 0 ? "yes" : "no");
    burn(0.2);
    getrusage(RUSAGE_SELF, &ru);
    double me = cpu(ru.ru_utime, ru.ru_stime);
    printf("RUSAGE_SELF >= 0.15s: %s, maxrss > 0: %s\n", me >= 0.15 && me < 5 ? "yes" : "no",
           ru.ru_maxrss > 0 ? "yes" : "no");
    return 0;
}
