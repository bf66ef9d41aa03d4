/*
 * Guest side of `cargo bench --bench process`: times N fork+exec+wait cycles.
 *
 * Each cycle forks; the child execs PATH (a static `true`) and the parent
 * waits for it with waitpid and checks that it exited 0. The figure printed
 * is the mean over the N timed cycles (total elapsed / N), after a few
 * untimed warm-up cycles. Timing uses clock_gettime(CLOCK_MONOTONIC).
 *
 * Usage: forkexec N PATH   -> prints "us_per_op=<float>" and exits 0.
 * The host run passes the host path of `true`, the guest run "/true".
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WARMUP 5

extern char **environ;

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* One fork+exec+wait; returns 0 on success, -1 after reporting a failure. */
static int cycle(const char *path)
{
	char *const argv[] = { (char *)path, NULL };
	pid_t pid = fork();
	if (pid < 0) {
		perror("forkexec: fork");
		return -1;
	}
	if (pid == 0) {
		execve(path, argv, environ);
		_exit(127);
	}
	int status;
	if (waitpid(pid, &status, 0) < 0) {
		perror("forkexec: waitpid");
		return -1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "forkexec: child %s ended with status %#x%s\n", path, status,
			WIFEXITED(status) && WEXITSTATUS(status) == 127 ? " (exec failed)" : "");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s N PATH\n", argv[0]);
		return 2;
	}
	long n = strtol(argv[1], NULL, 10);
	if (n <= 0) {
		fprintf(stderr, "forkexec: N must be positive\n");
		return 2;
	}
	const char *path = argv[2];

	for (int i = 0; i < WARMUP; i++)
		if (cycle(path) < 0)
			return 1;

	double start = now_us();
	for (long i = 0; i < n; i++)
		if (cycle(path) < 0)
			return 1;
	double end = now_us();

	printf("us_per_op=%.2f\n", (end - start) / (double)n);
	return 0;
}
