/* Job control as wait sees it: SIGSTOP and SIGTSTP stop a child (WUNTRACED),
 * SIGCONT continues it (WCONTINUED), a signal sent while stopped waits for
 * SIGCONT and then takes effect. */
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    pid_t c = fork();
    if (c == 0) { for (;;) pause(); }
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
