/*
 * signals: handlers installed with sigaction, signals sent with kill(getpid())
 * and raise(), blocked and released with sigprocmask, taken with
 * sigtimedwait, delivered on a sigaltstack, and SIGCHLD for children that
 * exit or are killed, with si_pid equal to what fork returned. Prints a
 * deterministic summary; exits 0 when every check holds, 1 if not.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, ...)                                                                                       \
	do {                                                                                                   \
		if (!(cond)) {                                                                                 \
			printf("FAIL: " __VA_ARGS__);                                                          \
			printf("\n");                                                                          \
			failures++;                                                                            \
		}                                                                                              \
	} while (0)

static volatile sig_atomic_t usr1_count, usr2_count;
static volatile pid_t usr1_pid;
static volatile int usr1_code, usr2_code;

static void on_usr1(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)ctx;
	usr1_count++;
	usr1_pid = si->si_pid;
	usr1_code = si->si_code;
}

static void on_usr2(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)ctx;
	usr2_count++;
	usr2_code = si->si_code;
}

/* The alternate stack and what the handler saw of it. */
static char altstack[64 * 1024];
static volatile uintptr_t handler_local;
static volatile int handler_onstack_flag;

static void on_altstack(int sig)
{
	volatile int local = sig;
	stack_t now;
	handler_local = (uintptr_t)&local;
	if (sigaltstack(NULL, &now) == 0)
		handler_onstack_flag = (now.ss_flags & SS_ONSTACK) != 0;
}

static volatile sig_atomic_t chld_count;
static volatile pid_t chld_pid;
static volatile int chld_code, chld_status;

static void on_chld(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)ctx;
	chld_count++;
	chld_pid = si->si_pid;
	chld_code = si->si_code;
	chld_status = si->si_status;
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

static void install(int sig, void (*fn)(int, siginfo_t *, void *))
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = fn;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL) != 0) {
		printf("sigaction(%d): %s\n", sig, strerror(errno));
		exit(1);
	}
}

static const char *code_name(int code)
{
	switch (code) {
	case SI_USER:
		return "SI_USER";
	case SI_TKILL:
		return "SI_TKILL";
	case SI_QUEUE:
		return "SI_QUEUE";
	case CLD_EXITED:
		return "CLD_EXITED";
	case CLD_KILLED:
		return "CLD_KILLED";
	default:
		return "other";
	}
}

/* Waits (with SIGCHLD blocked beforehand, so none is missed) until the
 * SIGCHLD handler has run `count` times in all. */
static void await_sigchld(int count, const sigset_t *unblocked)
{
	while (chld_count < count) {
		/* sigsuspend only ever returns -1/EINTR: anything else would
		 * spin here for ever. */
		if (sigsuspend(unblocked) != -1 || errno != EINTR) {
			printf("sigsuspend: %s\n", strerror(errno));
			exit(1);
		}
	}
}

int main(void)
{
	sigset_t set, old;

	setvbuf(stdout, NULL, _IOLBF, 0);
	install(SIGUSR1, on_usr1);
	install(SIGUSR2, on_usr2);

	/* A signal sent to oneself is delivered before kill returns. */
	CHECK(kill(getpid(), SIGUSR1) == 0, "kill: %s", strerror(errno));
	printf("kill(getpid(), SIGUSR1): handled %d time(s), si_code=%s, si_pid is mine: %s\n", usr1_count,
	       code_name(usr1_code), usr1_pid == getpid() ? "yes" : "no");

	CHECK(raise(SIGUSR2) == 0, "raise: %s", strerror(errno));
	printf("raise(SIGUSR2): handled %d time(s), si_code=%s\n", usr2_count, code_name(usr2_code));

	/* Blocked: pending, not delivered, until unblocked; one delivery for
	 * two sends of a standard signal. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, &old);
	kill(getpid(), SIGUSR1);
	kill(getpid(), SIGUSR1);
	sigset_t pending;
	sigpending(&pending);
	printf("blocked: handled %d time(s), pending: %s\n", usr1_count, sigismember(&pending, SIGUSR1) ? "yes" : "no");
	sigprocmask(SIG_SETMASK, &old, NULL);
	sigpending(&pending);
	printf("unblocked: handled %d time(s), pending: %s\n", usr1_count,
	       sigismember(&pending, SIGUSR1) ? "yes" : "no");

	/* sigtimedwait takes a blocked pending signal without running the
	 * handler, and times out when there is none. */
	sigprocmask(SIG_BLOCK, &set, &old);
	kill(getpid(), SIGUSR1);
	siginfo_t si;
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	int got = sigtimedwait(&set, &si, &ts);
	printf("sigtimedwait: %s, si_code=%s, si_pid is mine: %s, handled %d time(s)\n",
	       got == SIGUSR1 ? "SIGUSR1" : "other", code_name(si.si_code), si.si_pid == getpid() ? "yes" : "no",
	       usr1_count);
	errno = 0;
	got = sigtimedwait(&set, &si, &ts);
	printf("sigtimedwait with nothing pending: %d %s\n", got, errno == EAGAIN ? "EAGAIN" : strerror(errno));
	sigprocmask(SIG_SETMASK, &old, NULL);

	/* sigqueue carries a value. */
	union sigval val = { .sival_int = 77 };
	CHECK(sigqueue(getpid(), SIGUSR2, val) == 0, "sigqueue: %s", strerror(errno));
	printf("sigqueue(SIGUSR2): handled %d time(s) in all, si_code=%s\n", usr2_count, code_name(usr2_code));

	/* sigaltstack: the handler's locals live on the alternate stack. */
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0 };
	CHECK(sigaltstack(&ss, NULL) == 0, "sigaltstack: %s", strerror(errno));
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_altstack;
	sa.sa_flags = SA_ONSTACK;
	sigaction(SIGWINCH, &sa, NULL);
	raise(SIGWINCH);
	uintptr_t lo = (uintptr_t)altstack, hi = lo + sizeof altstack;
	printf("sigaltstack: handler local on the alternate stack: %s, SS_ONSTACK in handler: %s\n",
	       handler_local >= lo && handler_local < hi ? "yes" : "no", handler_onstack_flag ? "yes" : "no");
	stack_t now;
	sigaltstack(NULL, &now);
	printf("sigaltstack after the handler: SS_ONSTACK=%d\n", (now.ss_flags & SS_ONSTACK) != 0);

	/* SIGCHLD: one for a child that exits, one for a child that is
	 * killed, each naming the pid fork returned. */
	install(SIGCHLD, on_chld);
	sigset_t chld, unblocked;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &unblocked);
	sigdelset(&unblocked, SIGCHLD);

	pid_t c = xfork();
	if (c == 0)
		_exit(5);
	await_sigchld(1, &unblocked);
	printf("SIGCHLD after exit: si_pid is fork's: %s, si_code=%s, si_status=%d\n", chld_pid == c ? "yes" : "no",
	       code_name(chld_code), chld_status);
	int status;
	CHECK(waitpid(c, &status, 0) == c, "waitpid: %s", strerror(errno));
	printf("waitpid: exited=%d status=%d\n", WIFEXITED(status), WEXITSTATUS(status));

	c = xfork();
	if (c == 0) {
		for (;;)
			pause();
	}
	CHECK(kill(c, SIGTERM) == 0, "kill(child): %s", strerror(errno));
	await_sigchld(2, &unblocked);
	printf("SIGCHLD after SIGTERM: si_pid is fork's: %s, si_code=%s, si_status=%d\n",
	       chld_pid == c ? "yes" : "no", code_name(chld_code), chld_status);
	CHECK(waitpid(c, &status, 0) == c, "waitpid: %s", strerror(errno));
	printf("waitpid: signaled=%d termsig=%d\n", WIFSIGNALED(status), WTERMSIG(status));

	/* A child's signal to its parent: SIGUSR1 from the child's pid. */
	sigprocmask(SIG_BLOCK, &set, &old);
	pid_t parent = getpid();
	c = xfork();
	if (c == 0) {
		kill(parent, SIGUSR1);
		_exit(0);
	}
	got = sigwaitinfo(&set, &si);
	printf("SIGUSR1 from a child: si_pid is fork's: %s, si_code=%s\n", si.si_pid == c ? "yes" : "no",
	       code_name(si.si_code));
	sigprocmask(SIG_SETMASK, &old, NULL);
	await_sigchld(3, &unblocked);
	waitpid(c, &status, 0);

	printf("failures=%d\n", failures);
	return failures != 0;
}
