/*
 * children: 200 children alive at once, each exiting with its own status,
 * all reaped with waitpid and matched by pid; WNOHANG and ECHILD; vfork
 * (the parent sleeps until the child's _exit, and they share memory); fork
 * + execve of /bin/busybox true and false, and of a missing file. Prints a
 * deterministic summary; exits 0 when every check holds, 1 if not.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define N 200

static int failures;
static volatile int shared;

#define CHECK(cond, ...)                                                                                       \
	do {                                                                                                   \
		if (!(cond)) {                                                                                 \
			printf("FAIL: " __VA_ARGS__);                                                          \
			printf("\n");                                                                          \
			failures++;                                                                            \
		}                                                                                              \
	} while (0)

/* fork + execve PATH ARGV; returns the child's wait status. */
static int spawn(const char *path, char *const argv[])
{
	pid_t pid = fork();
	if (pid < 0) {
		printf("fork: %s\n", strerror(errno));
		exit(1);
	}
	if (pid == 0) {
		char *envp[] = { "PATH=/bin", NULL };
		execve(path, argv, envp);
		/* Report the errno through the exit status. */
		_exit(errno == ENOENT ? 127 : 126);
	}
	int status;
	pid_t got = waitpid(pid, &status, 0);
	CHECK(got == pid, "waitpid returned %d, expected %d", got, pid);
	return status;
}

int main(void)
{
	static pid_t pids[N];
	int gate[2];

	setvbuf(stdout, NULL, _IOLBF, 0);

	/* No children yet: ECHILD. */
	errno = 0;
	CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD, "waitpid without children: errno %d", errno);

	/* Every child blocks on the gate pipe until all N exist, so they are
	 * alive at the same time; closing the write end releases them all. */
	if (pipe(gate) != 0) {
		printf("pipe: %s\n", strerror(errno));
		return 1;
	}
	for (int i = 0; i < N; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			printf("fork %d: %s\n", i, strerror(errno));
			return 1;
		}
		if (pid == 0) {
			char c;
			close(gate[1]);
			while (read(gate[0], &c, 1) > 0)
				;
			_exit(i % 256);
		}
		pids[i] = pid;
	}
	close(gate[0]);

	/* All children are blocked: nothing to reap yet. */
	int status;
	CHECK(waitpid(-1, &status, WNOHANG) == 0, "WNOHANG with %d live children did not return 0", N);

	int distinct = 1;
	for (int i = 0; i < N; i++)
		for (int j = 0; j < i; j++)
			if (pids[i] == pids[j] || pids[i] <= 1)
				distinct = 0;
	printf("forked %d children, pids distinct: %s\n", N, distinct ? "yes" : "no");

	close(gate[1]);
	int reaped = 0, good = 0;
	for (int n = 0; n < N; n++) {
		pid_t got = waitpid(-1, &status, 0);
		if (got < 0) {
			printf("waitpid: %s after %d\n", strerror(errno), reaped);
			break;
		}
		reaped++;
		int i;
		for (i = 0; i < N && pids[i] != got; i++)
			;
		if (i == N) {
			printf("FAIL: waitpid returned unknown pid %d\n", got);
			failures++;
			continue;
		}
		pids[i] = -1;
		if (WIFEXITED(status) && WEXITSTATUS(status) == i % 256)
			good++;
		else
			printf("FAIL: child %d: status %#x\n", i, status);
	}
	printf("reaped %d, statuses right: %d\n", reaped, good);
	errno = 0;
	CHECK(waitpid(-1, NULL, 0) == -1 && errno == ECHILD, "waitpid after reaping all: errno %d", errno);

	/* vfork: the parent is suspended until the child's _exit, and the
	 * child runs in the parent's memory. */
	pid_t v = vfork();
	if (v == 0) {
		shared = 1234;
		_exit(42);
	}
	CHECK(v > 0, "vfork: %s", strerror(errno));
	printf("vfork: shared=%d (child wrote before parent resumed)\n", shared);
	CHECK(waitpid(v, &status, 0) == v, "waitpid(vfork child)");
	printf("vfork child: exited=%d status=%d\n", WIFEXITED(status), WEXITSTATUS(status));

	/* fork + exec */
	char *t[] = { "true", NULL }, *f[] = { "false", NULL }, *m[] = { "missing", NULL };
	status = spawn("/bin/busybox", t);
	printf("exec busybox true: exited=%d status=%d\n", WIFEXITED(status), WEXITSTATUS(status));
	status = spawn("/bin/busybox", f);
	printf("exec busybox false: exited=%d status=%d\n", WIFEXITED(status), WEXITSTATUS(status));
	status = spawn("/no/such/program", m);
	printf("exec missing: exited=%d status=%d\n", WIFEXITED(status), WEXITSTATUS(status));

	printf("failures=%d\n", failures);
	return failures != 0 || reaped != N || good != N;
}
