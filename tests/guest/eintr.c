/*
 * eintr: a signal interrupts a blocking read of an empty pipe.
 *  1. SIGALRM from alarm(1), handler without SA_RESTART: read returns -1/EINTR.
 *  2. SIGALRM from setitimer, handler with SA_RESTART: the read resumes and
 *     returns the data a child writes afterwards. The child writes only
 *     once the parent's handler has run (the handler sends it SIGUSR1), so
 *     the read really was interrupted and restarted: no timing race.
 *  3. nanosleep is never restarted, even under SA_RESTART: EINTR, with the
 *     time left.
 *  4. A signal whose disposition is SIG_IGN does not interrupt the read.
 * Prints a deterministic summary; exits 0 when every check holds, 1 if not.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t alarms;
static volatile pid_t writer;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
	if (writer > 0)
		kill(writer, SIGUSR1);
}

static void on_usr1(int sig)
{
	(void)sig;
}

/* fork, or exit with a message: a parent must never wait for a child
 * that does not exist. */
static pid_t xfork(void)
{
	pid_t c = fork();
	if (c < 0) {
		printf("fork: %s\n", strerror(errno));
		exit(1);
	}
	return c;
}

static void handle(int sig, void (*fn)(int), int flags)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = fn;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

static const char *err_name(int e)
{
	return e == EINTR ? "EINTR" : e == 0 ? "none" : strerror(e);
}

static void itimer_ms(long ms)
{
	struct itimerval it = { { 0, 0 }, { ms / 1000, (ms % 1000) * 1000 } };
	/* Without the timer, the reads below would block for ever. */
	if (setitimer(ITIMER_REAL, &it, NULL) != 0) {
		printf("setitimer: %s\n", strerror(errno));
		exit(1);
	}
}

int main(void)
{
	int p[2], failures = 0;
	char buf[16];
	ssize_t n;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (pipe(p) != 0) {
		printf("pipe: %s\n", strerror(errno));
		return 1;
	}

	/* 1. No SA_RESTART. */
	handle(SIGALRM, on_alarm, 0);
	/* The alarm syscall itself (musl's alarm() calls setitimer), checked:
	 * without the alarm the read would block for ever. */
	if (syscall(SYS_alarm, 1) < 0) {
		printf("alarm: %s\n", strerror(errno));
		return 1;
	}
	errno = 0;
	n = read(p[0], buf, sizeof buf);
	printf("without SA_RESTART: read=%zd errno=%s alarms=%d\n", n, err_name(errno), alarms);
	failures += !(n == -1 && errno == EINTR && alarms == 1);

	/* 2. SA_RESTART, with a child that writes once it gets SIGUSR1. */
	sigset_t usr1, old;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, &old);
	pid_t c = xfork();
	if (c == 0) {
		handle(SIGUSR1, on_usr1, 0);
		sigset_t wait_mask = old;
		sigdelset(&wait_mask, SIGUSR1);
		sigsuspend(&wait_mask);
		write(p[1], "data", 4);
		_exit(0);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	writer = c;
	handle(SIGALRM, on_alarm, SA_RESTART);
	itimer_ms(200);
	errno = 0;
	n = read(p[0], buf, sizeof buf);
	printf("with SA_RESTART: read=%zd data=%.*s errno=%s alarms=%d\n", n, n > 0 ? (int)n : 0, buf, err_name(errno),
	       alarms);
	failures += !(n == 4 && memcmp(buf, "data", 4) == 0 && alarms == 2);
	int status;
	waitpid(c, &status, 0);
	printf("writer: exited=%d status=%d\n", WIFEXITED(status), WEXITSTATUS(status));
	writer = 0;

	/* 3. nanosleep: EINTR even under SA_RESTART, with most of the time
	 * left. */
	itimer_ms(100);
	struct timespec req = { 10, 0 }, rem = { 0, 0 };
	errno = 0;
	int r = nanosleep(&req, &rem);
	printf("nanosleep: %d errno=%s alarms=%d remaining>8s: %s\n", r, err_name(errno), alarms,
	       rem.tv_sec >= 8 ? "yes" : "no");
	failures += !(r == -1 && errno == EINTR && alarms == 3 && rem.tv_sec >= 8);

	/* 4. An ignored signal interrupts nothing: the read gets the data a
	 * child writes after sending it. */
	signal(SIGUSR2, SIG_IGN);
	pid_t parent = getpid();
	c = xfork();
	if (c == 0) {
		/* Sleep so that the parent is most likely blocked in read
		 * when the signal comes; the outcome is the same if not. */
		struct timespec t = { 0, 100 * 1000 * 1000 };
		nanosleep(&t, NULL);
		kill(parent, SIGUSR2);
		nanosleep(&t, NULL);
		write(p[1], "late", 4);
		_exit(0);
	}
	errno = 0;
	n = read(p[0], buf, sizeof buf);
	printf("ignored signal: read=%zd data=%.*s errno=%s\n", n, n > 0 ? (int)n : 0, buf, err_name(errno));
	failures += !(n == 4 && memcmp(buf, "late", 4) == 0);
	waitpid(c, &status, 0);

	printf("failures=%d\n", failures);
	return failures != 0;
}
