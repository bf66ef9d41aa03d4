/*
 * orphan: run as init (pid 1). Init forks a parent P; P forks
 *  - Z, which exits at once and stays a zombie (P never reaps it), and
 *  - O, which outlives P;
 * tells init both pids through a pipe, waits (WNOWAIT, so Z stays a zombie)
 * until Z has exited, and exits 3. Both are re-parented to init: O sees
 * getppid() become 1 and exits 12; init reaps P, then the zombie Z (status
 * 11) and the orphan O (status 12) by their pids. Prints a deterministic
 * report; exits 0 when every check holds, 1 if not.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* One write(2) per line, so that stdio buffers are never duplicated by
 * fork. Each process prints only at points ordered by waits, so the
 * output's order is deterministic. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (write(1, buf, n) != n)
		_exit(99);
}

int main(void)
{
	int failures = 0;
	int p[2], started[2];

	say("init: pid=%d\n", getpid());
	if (pipe(p) != 0 || pipe(started) != 0) {
		say("pipe: %s\n", strerror(errno));
		return 1;
	}
	pid_t parent = fork();
	if (parent < 0) {
		say("fork: %s\n", strerror(errno));
		return 1;
	}
	if (parent == 0) {
		close(p[0]);
		pid_t z = fork();
		if (z == 0)
			_exit(11);
		pid_t me = getpid();
		pid_t o = fork();
		if (o == 0) {
			int was_parent = getppid() == me;
			/* Tell the parent it may exit now. */
			close(started[0]);
			close(started[1]);
			/* Poll for the re-parenting, for at most 10 s. */
			for (int i = 0; i < 10000 && getppid() != 1; i++) {
				struct timespec t = { 0, 1000000 };
				nanosleep(&t, NULL);
			}
			say("orphan: ppid was its parent's pid: %s; re-parented, ppid=%d\n", was_parent ? "yes" : "no",
			    getppid());
			_exit(12);
		}
		pid_t kids[2] = { z, o };
		if (write(p[1], kids, sizeof kids) != sizeof kids)
			_exit(98);
		siginfo_t si;
		memset(&si, 0, sizeof si);
		if (waitid(P_PID, z, &si, WEXITED | WNOWAIT) != 0)
			say("parent: waitid: %s\n", strerror(errno));
		/* Until the orphan has looked at its ppid. */
		close(started[1]);
		char c;
		while (read(started[0], &c, 1) > 0)
			;
		say("parent: zombie child exited with %d (left unreaped); exiting\n", si.si_status);
		_exit(3);
	}
	close(p[1]);
	close(started[0]);
	close(started[1]);
	pid_t kids[2];
	if (read(p[0], kids, sizeof kids) != sizeof kids) {
		say("init: no pids from the parent\n");
		return 1;
	}

	int status;
	pid_t got = waitpid(parent, &status, 0);
	int parent_ok = got == parent, parent_status = WEXITSTATUS(status);
	failures += got != parent || WEXITSTATUS(status) != 3;

	/* The zombie and the orphan are init's children now, in whatever
	 * order they finish: report them sorted. */
	int zombie_status = -1, orphan_status = -1;
	for (int i = 0; i < 2; i++) {
		got = waitpid(-1, &status, 0);
		if (got == kids[0])
			zombie_status = WEXITSTATUS(status);
		else if (got == kids[1])
			orphan_status = WEXITSTATUS(status);
		else {
			say("init: waitpid returned %d: %s\n", got, got < 0 ? strerror(errno) : "unknown pid");
			failures++;
		}
	}
	/* Only now, after the orphan's last line. */
	say("init: reaped the parent: %s, status %d\n", parent_ok ? "yes" : "no", parent_status);
	say("init: reaped the zombie by its pid, status %d\n", zombie_status);
	say("init: reaped the orphan by its pid, status %d\n", orphan_status);
	failures += zombie_status != 11 || orphan_status != 12;
	errno = 0;
	got = waitpid(-1, &status, WNOHANG);
	say("init: nothing left: %s\n", got == -1 && errno == ECHILD ? "ECHILD" : "children remain");
	failures += !(got == -1 && errno == ECHILD);
	return failures != 0;
}
