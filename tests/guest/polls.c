/*
 * polls: poll, select and epoll (level- and edge-triggered) on pipes, with
 * a child process writing while the parent waits; timeouts that expire;
 * POLLOUT on a write end, POLLHUP/EPOLLHUP once every writer is gone.
 * Prints a deterministic summary; exits 0 when every check holds, 1 if not.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int failures;

#define EXPECT(cond, ...)                                                                                      \
	do {                                                                                                   \
		if (!(cond)) {                                                                                 \
			printf("FAIL: " __VA_ARGS__);                                                          \
			printf("\n");                                                                          \
			failures++;                                                                            \
		}                                                                                              \
	} while (0)

static void xpipe(int p[2])
{
	if (pipe(p) != 0) {
		printf("pipe: %s\n", strerror(errno));
		exit(1);
	}
}

/* Forks a child that sleeps `ms`, writes `msg` to `fd` and exits. */
static pid_t delayed_writer(int fd, const char *msg, long ms)
{
	pid_t c = fork();
	if (c < 0) {
		printf("fork: %s\n", strerror(errno));
		exit(1);
	}
	if (c == 0) {
		struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
		nanosleep(&t, NULL);
		if (write(fd, msg, strlen(msg)) < 0)
			_exit(1);
		_exit(0);
	}
	return c;
}

static void reap(pid_t c)
{
	int status;
	EXPECT(waitpid(c, &status, 0) == c && WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer %d", status);
}

static void drain(int fd, const char *want)
{
	char buf[64];
	ssize_t n = read(fd, buf, sizeof buf);
	EXPECT(n == (ssize_t)strlen(want) && memcmp(buf, want, n) == 0, "read %zd bytes, wanted %s", n, want);
}

static const char *events(short ev)
{
	static char s[64];
	s[0] = 0;
	if (ev & POLLIN)
		strcat(s, "IN ");
	if (ev & POLLOUT)
		strcat(s, "OUT ");
	if (ev & POLLHUP)
		strcat(s, "HUP ");
	if (ev & POLLERR)
		strcat(s, "ERR ");
	if (ev & POLLNVAL)
		strcat(s, "NVAL ");
	if (s[0])
		s[strlen(s) - 1] = 0;
	else
		strcpy(s, "-");
	return s;
}

static const char *epevents(unsigned ev)
{
	static char s[64];
	s[0] = 0;
	if (ev & EPOLLIN)
		strcat(s, "IN ");
	if (ev & EPOLLOUT)
		strcat(s, "OUT ");
	if (ev & EPOLLHUP)
		strcat(s, "HUP ");
	if (ev & EPOLLERR)
		strcat(s, "ERR ");
	if (s[0])
		s[strlen(s) - 1] = 0;
	else
		strcpy(s, "-");
	return s;
}

static void test_poll(void)
{
	int p[2];
	xpipe(p);
	struct pollfd fds[2] = { { .fd = p[0], .events = POLLIN }, { .fd = p[1], .events = POLLOUT } };

	int n = poll(fds, 1, 0);
	printf("poll empty pipe, timeout 0: %d\n", n);
	n = poll(fds, 1, 50);
	printf("poll empty pipe, timeout 50ms: %d\n", n);
	n = poll(&fds[1], 1, 0);
	printf("poll write end: %d %s\n", n, events(fds[1].revents));

	pid_t c = delayed_writer(p[1], "ping", 100);
	n = poll(fds, 1, -1);
	printf("poll, child writes: %d %s\n", n, events(fds[0].revents));
	drain(p[0], "ping");
	reap(c);

	struct pollfd bad = { .fd = 999, .events = POLLIN };
	n = poll(&bad, 1, 0);
	printf("poll closed fd: %d %s\n", n, events(bad.revents));

	close(p[1]);
	n = poll(fds, 1, -1);
	printf("poll after last writer closed: %d %s\n", n, events(fds[0].revents));
	close(p[0]);
}

static void test_select(void)
{
	int p[2];
	xpipe(p);
	fd_set r, w;

	FD_ZERO(&r);
	FD_SET(p[0], &r);
	struct timeval tv = { 0, 50000 };
	int n = select(p[0] + 1, &r, NULL, NULL, &tv);
	printf("select empty pipe, timeout 50ms: %d, read set: %d\n", n, FD_ISSET(p[0], &r));

	FD_ZERO(&w);
	FD_SET(p[1], &w);
	n = select(p[1] + 1, NULL, &w, NULL, NULL);
	printf("select write end: %d, write set: %d\n", n, FD_ISSET(p[1], &w));

	pid_t c = delayed_writer(p[1], "pong", 100);
	FD_ZERO(&r);
	FD_SET(p[0], &r);
	n = select(p[0] + 1, &r, NULL, NULL, NULL);
	printf("select, child writes: %d, read set: %d\n", n, FD_ISSET(p[0], &r));
	drain(p[0], "pong");
	reap(c);

	/* pselect with a timeout and a signal mask. */
	sigset_t none;
	sigemptyset(&none);
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	FD_ZERO(&r);
	FD_SET(p[0], &r);
	n = pselect(p[0] + 1, &r, NULL, NULL, &ts, &none);
	printf("pselect empty pipe, timeout 20ms: %d\n", n);
	close(p[0]);
	close(p[1]);
}

static void test_epoll(int et)
{
	const char *mode = et ? "edge" : "level";
	int p[2];
	xpipe(p);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) {
		printf("epoll_create1: %s\n", strerror(errno));
		exit(1);
	}
	struct epoll_event ev = { .events = EPOLLIN | (et ? EPOLLET : 0), .data.u64 = 0x1234 };
	EXPECT(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) == 0, "epoll_ctl: %s", strerror(errno));
	errno = 0;
	EXPECT(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) == -1 && errno == EEXIST, "second EPOLL_CTL_ADD: %s",
	       strerror(errno));

	struct epoll_event out[4];
	int n = epoll_wait(ep, out, 4, 0);
	printf("epoll %s: empty pipe: %d\n", mode, n);
	n = epoll_wait(ep, out, 4, 30);
	printf("epoll %s: empty pipe, timeout 30ms: %d\n", mode, n);

	pid_t c = delayed_writer(p[1], "ab", 100);
	n = epoll_wait(ep, out, 4, -1);
	printf("epoll %s: child writes: %d %s data=%#llx\n", mode, n, epevents(n > 0 ? out[0].events : 0),
	       n > 0 ? (unsigned long long)out[0].data.u64 : 0ULL);
	reap(c);

	/* Nothing read yet: level-triggered reports again, edge does not. */
	n = epoll_wait(ep, out, 4, 0);
	printf("epoll %s: again without reading: %d\n", mode, n);

	char ch;
	read(p[0], &ch, 1);
	n = epoll_wait(ep, out, 4, 0);
	printf("epoll %s: after reading 1 of 2 bytes: %d\n", mode, n);
	read(p[0], &ch, 1);
	n = epoll_wait(ep, out, 4, 0);
	printf("epoll %s: after reading everything: %d\n", mode, n);

	/* New data is a new edge. */
	write(p[1], "c", 1);
	n = epoll_wait(ep, out, 4, 0);
	printf("epoll %s: new data: %d\n", mode, n);
	read(p[0], &ch, 1);

	/* epoll_pwait, and EPOLL_CTL_MOD to watch the write end instead. */
	struct epoll_event wev = { .events = EPOLLOUT, .data.u64 = 7 };
	EXPECT(epoll_ctl(ep, EPOLL_CTL_ADD, p[1], &wev) == 0, "add write end: %s", strerror(errno));
	sigset_t none;
	sigemptyset(&none);
	n = epoll_pwait(ep, out, 4, 0, &none);
	printf("epoll %s: write end: %d %s data=%llu\n", mode, n, epevents(n > 0 ? out[0].events : 0),
	       n > 0 ? (unsigned long long)out[0].data.u64 : 0ULL);
	EXPECT(epoll_ctl(ep, EPOLL_CTL_DEL, p[1], NULL) == 0, "EPOLL_CTL_DEL: %s", strerror(errno));

	close(p[1]);
	n = epoll_wait(ep, out, 4, -1);
	printf("epoll %s: last writer closed: %d %s\n", mode, n, epevents(n > 0 ? out[0].events : 0));
	close(p[0]);
	close(ep);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_poll();
	test_select();
	test_epoll(0);
	test_epoll(1);
	printf("failures=%d\n", failures);
	return failures != 0;
}
