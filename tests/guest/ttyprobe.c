/* Drives the console terminal step by step; the test answers each "> step"
 * prompt with input. Steps: signal characters, raw mode passing bytes
 * through, VMIN/VTIME timeouts, FIONREAD, canonical mode back on, and
 * TIOCSWINSZ raising SIGWINCH. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

static volatile sig_atomic_t got[65];
static void on_sig(int s) { got[s]++; }

static void prompt(const char *step) { printf("> %s\n", step); }

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sig;
    sa.sa_flags = SA_RESTART;
    int sigs[] = {SIGINT, SIGQUIT, SIGTSTP, SIGWINCH};
    for (int i = 0; i < 4; i++) sigaction(sigs[i], &sa, 0);
    /* Our own group in the foreground, as a shell would make us. */
    signal(SIGTTOU, SIG_IGN);
    setpgid(0, 0);
    tcsetpgrp(0, getpgrp());

    struct termios saved, t;
    tcgetattr(0, &saved);
    prompt("signals");
    char line[256];
    ssize_t n = read(0, line, sizeof line);   /* ^C ^\ ^Z flush; then "after\n" */
    printf("line %zd: %.*s", n, (int)n, line);
    printf("INT %d QUIT %d TSTP %d\n", got[SIGINT], got[SIGQUIT], got[SIGTSTP]);

    t = saved;
    cfmakeraw(&t);
    tcsetattr(0, TCSANOW, &t);
    prompt("raw");
    unsigned char raw[6];
    size_t have = 0;
    while (have < sizeof raw) {
        n = read(0, raw + have, sizeof raw - have);
        if (n <= 0) break;
        have += n;
    }
    printf("raw bytes:");
    for (size_t i = 0; i < have; i++) printf(" %02x", raw[i]);
    printf("\n");

    t.c_cc[VMIN] = 0;
    t.c_cc[VTIME] = 2;
    tcsetattr(0, TCSANOW, &t);
    n = read(0, raw, 1);
    printf("vtime read: %zd\n", n);
    t.c_cc[VTIME] = 0;
    tcsetattr(0, TCSANOW, &t);
    n = read(0, raw, 1);
    printf("poll read: %zd\n", n);
    t.c_cc[VMIN] = 3;
    tcsetattr(0, TCSANOW, &t);
    prompt("vmin");
    n = read(0, line, sizeof line);
    printf("vmin read: %zd %.*s\n", n, (int)n, line);
    int avail = -1;
    prompt("fionread");
    usleep(300000);
    ioctl(0, FIONREAD, &avail);
    n = read(0, line, sizeof line);
    printf("fionread %d, read %zd\n", avail, n);

    tcsetattr(0, TCSANOW, &saved);
    prompt("canonical");
    n = read(0, line, sizeof line);
    printf("canonical %zd: %.*s", n, (int)n, line);

    struct winsize ws = {.ws_row = 33, .ws_col = 111};
    ioctl(0, TIOCSWINSZ, &ws);
    struct winsize back;
    ioctl(0, TIOCGWINSZ, &back);
    printf("winsize %dx%d WINCH %d\n", back.ws_row, back.ws_col, got[SIGWINCH]);
    prompt("eof");
    n = read(0, line, sizeof line);
    printf("eof read %zd\n", n);
    return 0;
}
