/*
 * stdin_echo: copies its stdin to its stdout with read(2)/write(2), then
 * reports the byte count on stderr and exits 0.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
	static char buf[65536];
	unsigned long long total = 0;
	ssize_t n;

	while ((n = read(0, buf, sizeof buf)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "stdin_echo: read: %s\n", strerror(errno));
			return 1;
		}
		for (ssize_t done = 0; done < n;) {
			ssize_t w = write(1, buf + done, n - done);
			if (w < 0) {
				fprintf(stderr, "stdin_echo: write: %s\n", strerror(errno));
				return 1;
			}
			done += w;
		}
		total += n;
	}
	fprintf(stderr, "stdin_echo: %llu bytes\n", total);
	return 0;
}
