/*
 * Guest side of `umvm bench files-*`: times N files going through create,
 * stat and unlink in one directory.
 *
 * Each file is created (open O_CREAT|O_EXCL, a 64-byte write, close), then
 * every file is stat'ed, then every file is unlinked; the figure printed is
 * the total elapsed time over N, timed with clock_gettime(CLOCK_MONOTONIC).
 *
 * Usage: fileops DIR N   -> prints "us_per_op=<float>" and exits 0.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s DIR N\n", argv[0]);
		return 2;
	}
	long n = strtol(argv[2], NULL, 10);
	if (n <= 0) {
		fprintf(stderr, "fileops: N must be positive\n");
		return 2;
	}
	static const char body[64] = "fileops: a small file body, sixty-four bytes in all, no more.\n";
	char path[4096];
	double start = now_us();
	for (long i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/f%ld", argv[1], i);
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0 || write(fd, body, sizeof body) != (ssize_t)sizeof body || close(fd) != 0) {
			perror(path);
			return 1;
		}
	}
	for (long i = 0; i < n; i++) {
		struct stat st;
		snprintf(path, sizeof path, "%s/f%ld", argv[1], i);
		if (stat(path, &st) != 0 || st.st_size != (off_t)sizeof body) {
			fprintf(stderr, "fileops: stat %s failed or wrong size\n", path);
			return 1;
		}
	}
	for (long i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/f%ld", argv[1], i);
		if (unlink(path) != 0) {
			perror(path);
			return 1;
		}
	}
	printf("us_per_op=%.3f\n", (now_us() - start) / (double)n);
	return 0;
}
