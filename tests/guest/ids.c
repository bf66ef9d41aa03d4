/*
 * ids: process ids as a guest sees them, run as init (pid 1): children get
 * small virtual pids of their own and see the parent's pid as their ppid;
 * setsid, getsid, setpgid and getpgid behave as on Linux (EPERM for a
 * session leader, ESRCH for no such process); kill(-pgrp) reaches a whole
 * process group. Prints a deterministic report; exits 0 when every check
 * holds, 1 if not.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* One write(2) per line: no stdio buffer is duplicated by fork. */
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

static const char *err(int r)
{
	if (r == 0)
		return "0";
	switch (errno) {
	case EPERM:
		return "EPERM";
	case ESRCH:
		return "ESRCH";
	case EINVAL:
		return "EINVAL";
	case EACCES:
		return "EACCES";
	default:
		return strerror(errno);
	}
}

static const char *yes_no(int b)
{
	return b ? "yes" : "no";
}

/* Waits for child `c` and returns its exit status (-1 unless it exited). */
static int reap(pid_t c)
{
	int status;
	if (waitpid(c, &status, 0) != c)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int main(void)
{
	pid_t me = getpid();
	say("init: pid=%d ppid=%d gettid==getpid: %s\n", me, getppid(), yes_no(syscall(SYS_gettid) == me));

	/* A child that reports what it sees; a grandchild, too. */
	int p[2];
	if (pipe(p) != 0) {
		say("pipe: %s\n", strerror(errno));
		return 1;
	}
	pid_t c = fork();
	if (c == 0) {
		pid_t mine = getpid();
		pid_t gc = fork();
		if (gc == 0)
			_exit(getppid() == mine ? 0 : 1);
		int gcs = reap(gc);
		pid_t ids[2] = { mine, getppid() };
		write(p[1], ids, sizeof ids);
		_exit(gcs == 0 && gc != mine && gc > 1 && gc < 1000 ? 0 : 1);
	}
	pid_t ids[2];
	read(p[0], ids, sizeof ids);
	say("child: getpid()==fork's return: %s, != parent's: %s, small (<1000): %s, getppid()==parent's pid: %s\n",
	    yes_no(ids[0] == c), yes_no(c != me), yes_no(c > 1 && c < 1000), yes_no(ids[1] == me));
	say("child: grandchild ids right: %s\n", yes_no(reap(c) == 0));

	/* setsid in a child: a new session and group named by its pid;
	 * setsid again and setpgid on itself then fail with EPERM. */
	pid_t init_sid = getsid(0);
	c = fork();
	if (c == 0) {
		pid_t mine = getpid();
		int before = getsid(0) == init_sid && getpgid(0) != mine;
		pid_t sid = setsid();
		say("setsid child: not a leader before: %s, setsid returned its pid: %s, getsid(0): %s, getpgid(0): %s\n",
		    yes_no(before), yes_no(sid == mine), yes_no(getsid(0) == mine), yes_no(getpgid(0) == mine));
		int r = setsid();
		say("setsid child: setsid again: %s\n", err(r));
		r = setpgid(0, 0);
		say("setsid child: setpgid(0, 0) as session leader: %s\n", err(r));
		_exit(0);
	}
	reap(c);

	/* setpgid in a child: a new group in the same session. The parent
	 * can see (getpgid/getsid) and set (setpgid) a child's group. */
	c = fork();
	if (c == 0) {
		/* Report through the pipe, for the parent to print in order. */
		int facts[4];
		facts[0] = setpgid(0, 0) == 0 ? 0 : errno;
		facts[1] = getpgid(0) == getpid();
		facts[2] = getpgrp() == getpid();
		facts[3] = getsid(0) == init_sid;
		write(p[1], facts, sizeof facts);
		pause();
		_exit(0);
	}
	/* Set it from this side too: whichever call comes first, both make
	 * the same group. */
	int r = setpgid(c, c);
	say("parent: setpgid(child, child): %s\n", err(r));
	int facts[4];
	read(p[0], facts, sizeof facts);
	errno = facts[0];
	say("setpgid child: setpgid(0, 0): %s, getpgid(0)==pid: %s, getpgrp()==pid: %s, session kept: %s\n",
	    err(facts[0]), yes_no(facts[1]), yes_no(facts[2]), yes_no(facts[3]));
	say("parent: getpgid(child)==child: %s, getsid(child)==mine: %s\n", yes_no(getpgid(c) == c),
	    yes_no(getsid(c) == init_sid));

	/* A second member joins the child's group; kill(-pgrp) ends both. */
	pid_t c2 = fork();
	if (c2 == 0) {
		pause();
		_exit(0);
	}
	r = setpgid(c2, c);
	say("parent: second child joins the group: %s, getpgid: %s\n", err(r), yes_no(getpgid(c2) == c));
	r = kill(-c, SIGTERM);
	int s1, s2;
	waitpid(c, &s1, 0);
	waitpid(c2, &s2, 0);
	say("parent: kill(-pgrp, SIGTERM): %s, both killed: %s\n", err(r),
	    yes_no(WIFSIGNALED(s1) && WTERMSIG(s1) == SIGTERM && WIFSIGNALED(s2) && WTERMSIG(s2) == SIGTERM));

	errno = 0;
	say("getpgid(no such pid): %s\n", err(getpgid(999)));
	say("getsid(no such pid): %s\n", err(getsid(999)));
	say("kill(no such pid, 0): %s\n", err(kill(999, 0)));
	say("setpgid(no such pid): %s\n", err(setpgid(999, 999)));
	return 0;
}
