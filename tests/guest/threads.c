/*
 * threads: 8 pthreads doing counted work under a mutex, released together
 * by a condition variable and kept in step by a barrier. Exercises clone
 * with CLONE_THREAD|CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID
 * (pthread_join waits on the cleared tid), futex and thread-local storage.
 * Prints a deterministic summary; exits 0 when every check holds, 1 if not.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NTHREADS 8
#define ROUNDS 3
#define ITERS 20000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static pthread_barrier_t barrier;
static int ready, go;
static long counter;
static long round_total[ROUNDS];
static int serial_count[ROUNDS];
static pid_t tids[NTHREADS], pids[NTHREADS];
static __thread long tls_value = -1;
static int failures;

static void fail(const char *what)
{
	pthread_mutex_lock(&lock);
	printf("FAIL: %s\n", what);
	failures++;
	pthread_mutex_unlock(&lock);
}

static void *worker(void *arg)
{
	long id = (long)arg;

	if (tls_value != -1)
		fail("thread-local storage not fresh in a new thread");
	tls_value = id * 1000;
	tids[id] = (pid_t)syscall(SYS_gettid);
	pids[id] = getpid();

	/* Report ready, then wait for the main thread's broadcast. */
	pthread_mutex_lock(&lock);
	ready++;
	pthread_cond_broadcast(&cond);
	while (!go)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);

	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < ITERS; i++) {
			pthread_mutex_lock(&lock);
			counter++;
			pthread_mutex_unlock(&lock);
		}
		/* Exactly one thread per round gets the serial return value,
		 * and it sees every thread's increments of that round. */
		int b = pthread_barrier_wait(&barrier);
		if (b == PTHREAD_BARRIER_SERIAL_THREAD) {
			round_total[r] = counter;
			serial_count[r]++;
		} else if (b != 0) {
			fail("pthread_barrier_wait");
		}
		pthread_barrier_wait(&barrier);
	}
	if (tls_value != id * 1000)
		fail("thread-local storage changed under a thread");
	return (void *)(id + 100);
}

int main(void)
{
	pthread_t th[NTHREADS];

	tls_value = 42;
	pthread_barrier_init(&barrier, NULL, NTHREADS);
	for (long i = 0; i < NTHREADS; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)i) != 0) {
			printf("pthread_create failed\n");
			return 1;
		}

	pthread_mutex_lock(&lock);
	while (ready < NTHREADS)
		pthread_cond_wait(&cond, &lock);
	printf("ready: %d threads\n", ready);
	go = 1;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);

	long joined = 0;
	for (int i = 0; i < NTHREADS; i++) {
		void *ret;
		if (pthread_join(th[i], &ret) != 0)
			fail("pthread_join");
		joined += (long)ret;
	}

	for (int r = 0; r < ROUNDS; r++)
		printf("round %d: total=%ld serial=%d\n", r, round_total[r], serial_count[r]);
	printf("counter=%ld (expected %d)\n", counter, NTHREADS * ROUNDS * ITERS);
	printf("join values sum=%ld\n", joined);

	/* Virtual ids: host tids must never reach the guest. */
	int distinct = 1, same_pid = 1, small = 1;
	pid_t me = (pid_t)syscall(SYS_gettid);
	for (int i = 0; i < NTHREADS; i++) {
		if (pids[i] != getpid())
			same_pid = 0;
		if (tids[i] == me || tids[i] <= 0)
			distinct = 0;
		if (tids[i] >= 1000)
			small = 0;
		for (int j = 0; j < i; j++)
			if (tids[i] == tids[j])
				distinct = 0;
	}
	printf("threads share the pid: %s\n", same_pid ? "yes" : "no");
	printf("thread ids distinct: %s\n", distinct ? "yes" : "no");
	printf("thread ids small: %s\n", small ? "yes" : "no");
	printf("main tid == pid: %s\n", me == getpid() ? "yes" : "no");
	printf("main tls intact: %s\n", tls_value == 42 ? "yes" : "no");
	printf("failures=%d\n", failures);
	return failures || counter != NTHREADS * ROUNDS * ITERS || !distinct || !same_pid;
}
