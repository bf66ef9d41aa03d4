/* Job control as wait sees it: SIGSTOP and SIGTSTP stop a child (WUNTRACED),
 * SIGCONT continues it (WCONTINUED), a signal sent while stopped waits for
 * SIGCONT and then takes effect.
 *
 * Linux discards SIGTSTP sent to a process group it sees as orphaned, and
 * whether the test's own group is orphaned depends on how the tests were
 * started. So the child gets a group of its own, under a parent that is
 * not init (init's children never keep a group from being orphaned):
 * the job control runs in a middle process, which init waits for. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
static int jobs(void) {
    pid_t c = fork();
    if (c == 0) { setpgid(0, 0); for (;;) pause(); }
    setpgid(c, c);
    kill(c, SIGSTOP);
    int st; pid_t w = waitpid(c, &st, WUNTRACED);
    printf("stopped: %d %d sig=%d\n", w == c, WIFSTOPPED(st), WSTOPSIG(st));
    kill(c, SIGCONT);
    w = waitpid(c, &st, WCONTINUED);
    printf("continued: %d %d\n", w == c, WIFCONTINUED(st));
    kill(c, SIGTSTP);
    w = waitpid(c, &st, WUNTRACED);
    printf("tstp: %d sig=%d\n", WIFSTOPPED(st), WSTOPSIG(st));
    kill(c, SIGTERM);   /* pending while stopped */
    kill(c, SIGCONT);
    w = waitpid(c, &st, 0);
    printf("terminated: %d sig=%d\n", WIFSIGNALED(st), WTERMSIG(st));
    return 0;
}

int main(void) {
    pid_t mid = fork();
    if (mid == 0) exit(jobs());
    int st;
    waitpid(mid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
