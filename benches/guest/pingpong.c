/*
 * Guest side of `cargo bench --bench process`: times N one-byte round trips
 * through two pipes between a parent and a forked child.
 *
 * The parent writes a byte into one pipe; the child reads it and writes a
 * byte back through the other; the parent reads it. The figure printed is
 * the mean over the N timed round trips (total elapsed / N), after a few
 * hundred untimed warm-up trips. At the end the parent closes its write end,
 * the child sees EOF and exits 0, and the parent reaps it.
 *
 * Usage: pingpong N   -> prints "us_per_op=<float>" and exits 0.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WARMUP 200

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Reads exactly one byte: 1 on success, 0 on EOF, -1 on error. */
static int get(int fd, char *c)
{
	for (;;) {
		ssize_t r = read(fd, c, 1);
		if (r >= 0)
			return (int)r;
		if (errno != EINTR)
			return -1;
	}
}

static int put(int fd, char c)
{
	for (;;) {
		ssize_t r = write(fd, &c, 1);
		if (r == 1)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

static int child(int in, int out)
{
	char c;
	int r;
	while ((r = get(in, &c)) == 1)
		if (put(out, c) < 0) {
			perror("pingpong child: write");
			return 1;
		}
	if (r < 0) {
		perror("pingpong child: read");
		return 1;
	}
	return 0;
}

static int trip(int out, int in, long i)
{
	char c = (char)i;
	char back;
	if (put(out, c) < 0) {
		perror("pingpong: write");
		return -1;
	}
	int r = get(in, &back);
	if (r != 1 || back != c) {
		if (r < 0)
			perror("pingpong: read");
		else
			fprintf(stderr, "pingpong: %s\n", r == 0 ? "child closed its pipe" : "wrong byte back");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s N\n", argv[0]);
		return 2;
	}
	long n = strtol(argv[1], NULL, 10);
	if (n <= 0) {
		fprintf(stderr, "pingpong: N must be positive\n");
		return 2;
	}

	int to_child[2], to_parent[2];
	if (pipe(to_child) < 0 || pipe(to_parent) < 0) {
		perror("pingpong: pipe");
		return 1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("pingpong: fork");
		return 1;
	}
	if (pid == 0) {
		close(to_child[1]);
		close(to_parent[0]);
		_exit(child(to_child[0], to_parent[1]));
	}
	close(to_child[0]);
	close(to_parent[1]);

	int ok = 1;
	for (long i = 0; ok && i < WARMUP; i++)
		ok = trip(to_child[1], to_parent[0], i) == 0;
	double start = now_us();
	for (long i = 0; ok && i < n; i++)
		ok = trip(to_child[1], to_parent[0], i) == 0;
	double end = now_us();

	close(to_child[1]);
	int status;
	if (waitpid(pid, &status, 0) < 0) {
		perror("pingpong: waitpid");
		return 1;
	}
	if (!ok)
		return 1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "pingpong: child ended with status %#x\n", status);
		return 1;
	}
	printf("us_per_op=%.3f\n", (end - start) / (double)n);
	return 0;
}
