/* Orphans and their reapers: a child subreaper adopts its grandchild
 * when the child exits, and the grandchild, which asked for a
 * parent-death signal, gets it from its exiting parent. Also prctl's
 * getters and its refusals. The work runs in a process below init (init
 * reaps orphans anyway). */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t got_sig, from_pid;

static void on_usr1(int sig, siginfo_t *si, void *ctx) {
    (void)ctx;
    got_sig = sig;
    from_pid = si->si_pid;
}

static int top(void) {
    int on = -1;
    printf("subreaper before: %d\n", prctl(PR_GET_CHILD_SUBREAPER, &on) == 0 ? on : -1);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    prctl(PR_GET_CHILD_SUBREAPER, &on);
    printf("subreaper after: %d\n", on);
    int ready[2];
    pipe(ready);
    pid_t me = getpid();
    pid_t a = fork();
    if (a == 0) {
        /* Not inherited by fork. */
        prctl(PR_GET_CHILD_SUBREAPER, &on);
        printf("child subreaper: %d\n", on);
        pid_t g = fork();
        if (g == 0) {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_sigaction = on_usr1;
            sa.sa_flags = SA_SIGINFO;
            sigaction(SIGUSR1, &sa, 0);
            prctl(PR_SET_PDEATHSIG, SIGUSR1);
            int sig = 0;
            prctl(PR_GET_PDEATHSIG, &sig);
            pid_t parent = getppid();
            write(ready[1], "r", 1);
            while (!got_sig) pause();
            printf("grandchild: signal %d from its parent %d, adopted by the subreaper %d\n", got_sig,
                   from_pid == parent, getppid() == me);
            printf("grandchild: pdeathsig was %d\n", sig);
            exit(5);
        }
        char c;
        read(ready[0], &c, 1);
        exit(3);
    }
    /* Printed once both are reaped: the grandchild prints before it exits. */
    int st, gst;
    waitpid(a, &st, 0);
    pid_t w = waitpid(-1, &gst, 0);
    printf("child exited %d\n", WEXITSTATUS(st));
    printf("reaped the grandchild: %d, status %d\n", w > 0 && w != a, WEXITSTATUS(gst));
    printf("no more children: %d\n", waitpid(-1, &st, WNOHANG) < 0 && errno == ECHILD);
    int r = prctl(PR_SET_PDEATHSIG, 99);
    printf("pdeathsig 99: %d %s\n", r, strerror(errno));
    printf("capbset 0: %d\n", prctl(PR_CAPBSET_READ, 0));
    r = prctl(PR_CAPBSET_READ, 99);
    printf("capbset 99: %d %s\n", r, strerror(errno));
    return 0;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    pid_t t = fork();
    if (t == 0) exit(top());
    int st;
    waitpid(t, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
