/*
 * Guest side of `cargo bench --bench net`: TCP throughput and round-trip
 * latency between two machines (two guests, or the host with itself over
 * loopback), timed where they run.
 *
 * netbench serve
 *     Listens on ports 5001 (sink: reads one connection to its end, then
 *     closes it) and 5002 (echo: sends every byte of one connection back),
 *     prints "SERVE-READY" once both listen, serves one connection on each
 *     (printing SINK-ACCEPTED and ECHO-ACCEPTED as it takes them, which
 *     tells where a stalled run stopped) and exits 0.
 * netbench client HOST MIB TRIPS
 *     Connects to HOST:5001 (trying again for up to 60 s while nobody
 *     listens), writes MIB MiB in 64 KiB writes, shuts down its sending
 *     half and waits for the server to close: the time from connect to that
 *     close is the transfer's. Then connects to HOST:5002 with TCP_NODELAY
 *     and times TRIPS one-byte round trips after 100 untimed ones. Prints
 *     "mib_s=<float>" and "rtt_us=<float>" and exits 0.
 *
 * Any failure prints "netbench: ..." and exits 1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SINK_PORT 5001
#define ECHO_PORT 5002
#define CHUNK (64 * 1024)
#define WARMUP 100

static char buf[CHUNK];

static void die(const char *what)
{
	fprintf(stderr, "netbench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int listener(int port)
{
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0)
		die("bind");
	if (listen(fd, 4) < 0)
		die("listen");
	return fd;
}

static int accept_one(int lfd)
{
	int fd;
	do
		fd = accept(lfd, NULL, NULL);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		die("accept");
	close(lfd);
	return fd;
}

static void sink(int lfd)
{
	int fd = accept_one(lfd);
	printf("SINK-ACCEPTED\n");
	fflush(stdout);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n == 0)
			break;
		if (n < 0 && errno != EINTR)
			die("sink read");
	}
	close(fd);
}

static void echo(int lfd)
{
	int fd = accept_one(lfd);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	printf("ECHO-ACCEPTED\n");
	fflush(stdout);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("echo read");
		}
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(fd, buf + off, n - off);
			if (w < 0 && errno != EINTR)
				die("echo write");
			if (w > 0)
				off += w;
		}
	}
	close(fd);
}

static int serve(void)
{
	int s = listener(SINK_PORT), e = listener(ECHO_PORT);
	printf("SERVE-READY\n");
	fflush(stdout);
	pid_t child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		close(s);
		echo(e);
		_exit(0);
	}
	close(e);
	sink(s);
	int status;
	if (waitpid(child, &status, 0) < 0)
		die("waitpid");
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

/* Connects to host:port, trying again while refused or unreachable. */
static int dial(const char *host, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
		fprintf(stderr, "netbench: bad address %s\n", host);
		exit(1);
	}
	double end = now_s() + 60;
	for (;;) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			die("socket");
		if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
			return fd;
		close(fd);
		if (now_s() > end)
			die("connect");
		usleep(50 * 1000);
	}
}

static double throughput(const char *host, long mib)
{
	memset(buf, 0x5a, sizeof buf);
	double start = now_s();
	int fd = dial(host, SINK_PORT);
	long long left = (long long)mib << 20;
	while (left > 0) {
		ssize_t w = write(fd, buf, left < CHUNK ? left : CHUNK);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			die("write");
		}
		left -= w;
	}
	if (shutdown(fd, SHUT_WR) < 0)
		die("shutdown");
	/* The server closes once it has read everything. */
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n == 0)
			break;
		if (n < 0 && errno != EINTR)
			die("read");
	}
	double secs = now_s() - start;
	close(fd);
	return (double)mib / secs;
}

static void trip(int fd)
{
	char c = 'x';
	ssize_t n;
	do
		n = write(fd, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		die("ping write");
	do
		n = read(fd, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1) {
		if (n == 0)
			errno = ECONNRESET;
		die("ping read");
	}
}

static double latency(const char *host, long trips)
{
	int fd = dial(host, ECHO_PORT);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	for (int i = 0; i < WARMUP; i++)
		trip(fd);
	double start = now_s();
	for (long i = 0; i < trips; i++)
		trip(fd);
	double us = (now_s() - start) * 1e6 / (double)trips;
	close(fd);
	return us;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "serve") == 0)
		return serve();
	if (argc == 5 && strcmp(argv[1], "client") == 0) {
		long mib = atol(argv[3]), trips = atol(argv[4]);
		if (mib <= 0 || trips <= 0) {
			fprintf(stderr, "netbench: MIB and TRIPS must be positive\n");
			return 1;
		}
		printf("mib_s=%.3f\n", throughput(argv[2], mib));
		fflush(stdout);
		printf("rtt_us=%.3f\n", latency(argv[2], trips));
		return 0;
	}
	fprintf(stderr, "usage: netbench serve | netbench client HOST MIB TRIPS\n");
	return 1;
}
