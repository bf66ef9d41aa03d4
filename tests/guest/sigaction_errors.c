/* rt_sigaction's bad input, as Linux answers it: the checks that fail
 * before any change (size, signal number, SIGKILL/SIGSTOP, an unreadable
 * act) change nothing; a bad oldact fails the call after the new action
 * is installed. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct ksa { void *handler; unsigned long flags; void *restorer; unsigned long mask; };

static void on_usr1(int s) { (void)s; }

static void r(const char *what, long v) { printf("%s: %s\n", what, v < 0 ? strerror(errno) : "ok"); }

static void *current(int sig) {
    struct ksa old;
    syscall(SYS_rt_sigaction, sig, 0, &old, 8);
    return old.handler;
}

int main(void) {
    struct ksa sa = {on_usr1, 0x04000000 /* SA_RESTORER */, 0, 0};
    struct sigaction libc_sa;
    memset(&libc_sa, 0, sizeof libc_sa);
    libc_sa.sa_handler = on_usr1;
    sigaction(SIGUSR2, &libc_sa, 0);
    struct ksa good;
    syscall(SYS_rt_sigaction, SIGUSR2, 0, &good, 8);
    sa.restorer = good.restorer;
    r("size 4", syscall(SYS_rt_sigaction, SIGUSR1, &sa, 0, 4));
    r("signal 0", syscall(SYS_rt_sigaction, 0, &sa, 0, 8));
    r("signal 65", syscall(SYS_rt_sigaction, 65, &sa, 0, 8));
    r("SIGKILL", syscall(SYS_rt_sigaction, SIGKILL, &sa, 0, 8));
    r("SIGSTOP query", syscall(SYS_rt_sigaction, SIGSTOP, 0, &good, 8));
    r("bad act", syscall(SYS_rt_sigaction, SIGUSR1, (void *)8, 0, 8));
    printf("after bad act: %s\n", current(SIGUSR1) == SIG_DFL ? "default" : "changed");
    r("bad oldact", syscall(SYS_rt_sigaction, SIGUSR1, &sa, (void *)8, 8));
    printf("after bad oldact: %s\n", current(SIGUSR1) == (void *)on_usr1 ? "installed" : "not installed");
    /* The installed handler is live: SA_RESTART-less, it runs. */
    raise(SIGUSR1);
    printf("raised\n");
    return 0;
}
