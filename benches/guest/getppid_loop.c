/*
 * Guest side of `cargo bench --bench trap`: times N getppid round trips.
 *
 * getppid is issued with a raw `syscall` instruction rather than through libc
 * so that nothing (errno handling, a libc cache) sits between the loop and the
 * trap being measured. Timing uses clock_gettime(CLOCK_MONOTONIC), which musl
 * serves from the vDSO, so the clock itself does not trap.
 *
 * Usage: getppid_loop N   -> prints "ns_per_call=<float>" and exits 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>

#define WARMUP 1000

static inline long raw_getppid(void)
{
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"((long)SYS_getppid)
			 : "rcx", "r11", "memory");
	return ret;
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s N\n", argv[0]);
		return 2;
	}
	long n = strtol(argv[1], NULL, 10);
	if (n <= 0) {
		fprintf(stderr, "getppid_loop: N must be positive\n");
		return 2;
	}

	/* Warm-up: fault in the code and let the tracer settle into its loop. */
	for (int i = 0; i < WARMUP; i++)
		raw_getppid();

	double start = now_ns();
	for (long i = 0; i < n; i++)
		raw_getppid();
	double end = now_ns();

	printf("ns_per_call=%.1f\n", (end - start) / (double)n);
	return 0;
}
