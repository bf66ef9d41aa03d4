/* eventfd: counter semantics, EFD_SEMAPHORE, non-blocking reads, a child
 * blocked in read until its parent writes, and poll readiness. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long rd(int fd) {
    uint64_t v;
    return read(fd, &v, 8) == 8 ? (long)v : -errno;
}

static void wr(int fd, uint64_t v) {
    if (write(fd, &v, 8) != 8)
        perror("write");
}

int main(void) {
    int e = eventfd(3, 0);
    printf("initial: %ld\n", rd(e));
    wr(e, 5);
    wr(e, 2);
    struct pollfd p = { .fd = e, .events = POLLIN | POLLOUT };
    int ready = poll(&p, 1, 0);
    printf("poll: %d in=%d out=%d\n", ready, !!(p.revents & POLLIN), !!(p.revents & POLLOUT));
    printf("sum: %ld\n", rd(e));
    int n = eventfd(0, EFD_NONBLOCK);
    printf("empty non-blocking: %s\n", rd(n) == -EAGAIN ? "EAGAIN" : "?");
    int s = eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK);
    long a = rd(s), b = rd(s), c = rd(s);
    printf("semaphore: %ld %ld %s\n", a, b, c == -EAGAIN ? "EAGAIN" : "?");
    uint64_t big = UINT64_MAX;
    printf("write max: %s\n", write(e, &big, 8) == -1 && errno == EINVAL ? "EINVAL" : "?");
    pid_t child = fork();
    if (child == 0)
        _exit((int)rd(e));
    struct timespec t = { 0, 100000000 };
    nanosleep(&t, 0);
    wr(e, 7);
    int st;
    waitpid(child, &st, 0);
    printf("blocked child read: %d\n", WEXITSTATUS(st));
    return 0;
}
