/* Job control on the console terminal (run as a child of init, with the
 * console's foreground group being ours and "hello\n" as typed input):
 * a background reader gets SIGTTIN (or EIO when it blocks or ignores it,
 * or when its group is orphaned, or EINTR with a handler), a background
 * writer gets SIGTTOU under TOSTOP, a background tcsetattr gets SIGTTOU,
 * and a stopped reader brought to the foreground reads its line. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static void on_sig(int s) { (void)s; }

/* Forks a child in its own (background) group running `body`. */
static pid_t bg(void (*body)(void)) {
    pid_t c = fork();
    if (c == 0) {
        setpgid(0, 0);
        signal(SIGTTOU, SIG_DFL);
        body();
        _exit(0);
    }
    setpgid(c, c);
    return c;
}

static void report_read(const char *what) {
    char buf[64];
    ssize_t n = read(0, buf, sizeof buf - 1);
    if (n < 0) printf("%s: read -1 %s\n", what, strerror(errno));
    else { buf[n] = 0; printf("%s: read %zd %s", what, n, buf); }
}

static void reader(void) { report_read("bg reader"); }
static void ignoring_reader(void) { signal(SIGTTIN, SIG_IGN); report_read("ignoring reader"); }
static void blocking_reader(void) {
    sigset_t s; sigemptyset(&s); sigaddset(&s, SIGTTIN); sigprocmask(SIG_BLOCK, &s, 0);
    report_read("blocking reader");
}
static void handling_reader(void) {
    struct sigaction sa; memset(&sa, 0, sizeof sa); sa.sa_handler = on_sig;
    sigaction(SIGTTIN, &sa, 0);
    report_read("handling reader");
}
static void writer(void) { printf("bg write\n"); }
static void attr_setter(void) {
    struct termios t; tcgetattr(0, &t);
    int r = tcsetattr(0, TCSANOW, &t);
    printf("bg tcsetattr: %d\n", r);
}

static int orphan_pipe[2];
static void orphan_maker(void) {
    pid_t g = fork();
    if (g == 0) {
        setpgid(0, 0);
        while (getppid() != 1) usleep(1000);
        char buf[8];
        ssize_t n = read(0, buf, sizeof buf);
        char msg[64];
        int len = snprintf(msg, sizeof msg, "orphan read: %zd %s\n", n, n < 0 ? strerror(errno) : "");
        write(orphan_pipe[1], msg, len);
        _exit(0);
    }
    _exit(0);
}

static void wait_report(pid_t c, const char *what) {
    int st;
    waitpid(c, &st, WUNTRACED);
    if (WIFSTOPPED(st)) printf("%s: stopped by %s\n", what, strsignal(WSTOPSIG(st)));
    else if (WIFEXITED(st)) printf("%s: exited %d\n", what, WEXITSTATUS(st));
    else printf("%s: killed by %s\n", what, strsignal(WTERMSIG(st)));
}

static void finish(pid_t c) {
    kill(c, SIGKILL);
    int st;
    waitpid(c, &st, 0);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    /* As a shell does: we will hand the terminal around. */
    signal(SIGTTOU, SIG_IGN);
    printf("isatty %d, foreground is ours: %d\n", isatty(0), tcgetpgrp(0) == getpgrp());

    pid_t c = bg(reader);
    wait_report(c, "bg reader");
    /* Bring it to the foreground and continue it: its read restarts. */
    tcsetpgrp(0, c);
    kill(c, SIGCONT);
    wait_report(c, "fg reader");
    tcsetpgrp(0, getpgrp());

    wait_report(bg(ignoring_reader), "ignoring reader");
    wait_report(bg(blocking_reader), "blocking reader");
    wait_report(bg(handling_reader), "handling reader");

    wait_report(bg(writer), "bg writer");
    struct termios t, saved;
    tcgetattr(0, &saved);
    t = saved;
    t.c_lflag |= TOSTOP;
    tcsetattr(0, TCSANOW, &t);
    c = bg(writer);
    wait_report(c, "tostop writer");
    finish(c);
    tcsetattr(0, TCSANOW, &saved);

    c = bg(attr_setter);
    wait_report(c, "bg tcsetattr");
    finish(c);

    pipe(orphan_pipe);
    wait_report(bg(orphan_maker), "orphan maker");
    char buf[128];
    ssize_t n = read(orphan_pipe[0], buf, sizeof buf);
    if (n > 0) fwrite(buf, 1, n, stdout);
    return 0;
}
