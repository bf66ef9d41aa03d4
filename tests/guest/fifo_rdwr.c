/* A FIFO opened O_RDWR, as Linux's fifo_open serves it: the open never
 * waits (the end is a reader and a writer at once), bytes written through
 * it read back through it, other readers and writers open without waiting
 * while it is open, and poll and epoll see POLLOUT and, with data,
 * POLLIN. Also /proc/self/fd/N of an anonymous pipe reopened O_RDWR. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char *what, long r) {
    if (r < 0)
        printf("%s = %s\n", what, strerror(errno));
    else
        printf("%s = %ld\n", what, r);
}

/* The fd's poll events of `events`, without waiting (or up to `ms`). */
static void show_poll(const char *what, int fd, short events, int ms) {
    struct pollfd p = {.fd = fd, .events = events};
    int n = poll(&p, 1, ms);
    printf("%s: poll = %d,%s%s%s%s\n", what, n, p.revents & POLLIN ? " IN" : "", p.revents & POLLOUT ? " OUT" : "",
           p.revents & POLLHUP ? " HUP" : "", p.revents & POLLERR ? " ERR" : "");
}

/* What one read of up to 64 bytes gives. */
static void show_read(const char *what, int fd) {
    char buf[64];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0)
        printf("%s: read = %s\n", what, strerror(errno));
    else
        printf("%s: read = \"%.*s\"\n", what, (int)n, buf);
}

int main(void) {
    /* A wrongly blocking open or read ends the program here. */
    alarm(10);
    unlink("/rw.fifo");
    report("mkfifo", mkfifo("/rw.fifo", 0600));

    int rw = open("/rw.fifo", O_RDWR);
    report("open O_RDWR alone", rw >= 0 ? 0 : -1);
    show_poll("empty", rw, POLLIN | POLLOUT, 0);
    report("write", write(rw, "hi", 2));
    int queued = -1;
    report("FIONREAD", ioctl(rw, FIONREAD, &queued) < 0 ? -1 : queued);
    show_poll("with data", rw, POLLIN | POLLOUT, 0);

    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT};
    report("epoll_ctl", epoll_ctl(ep, EPOLL_CTL_ADD, rw, &ev));
    struct epoll_event got = {0};
    int n = epoll_wait(ep, &got, 1, 0);
    printf("epoll = %d,%s%s\n", n, got.events & EPOLLIN ? " IN" : "", got.events & EPOLLOUT ? " OUT" : "");
    close(ep);

    show_read("same fd", rw);

    /* A writer exists: a blocking reader opens at once; a reader exists:
     * a non-blocking writer opens too. */
    int r = open("/rw.fifo", O_RDONLY);
    report("open O_RDONLY", r >= 0 ? 0 : -1);
    int w = open("/rw.fifo", O_WRONLY | O_NONBLOCK);
    report("open O_WRONLY|O_NONBLOCK", w >= 0 ? 0 : -1);
    report("write other end", write(w, "xy", 2));
    show_read("O_RDONLY end", r);
    report("write rw end", write(rw, "to r", 4));
    show_read("O_RDONLY end", r);
    close(w);
    close(r);

    /* A poll on the O_RDWR end wakes for a writer that comes later. */
    pid_t child = fork();
    if (child == 0) {
        usleep(100000);
        int cw = open("/rw.fifo", O_WRONLY);
        _exit(write(cw, "late", 4) == 4 ? 0 : 1);
    }
    show_poll("waiting", rw, POLLIN, 5000);
    show_read("rw end", rw);
    int st = 0;
    waitpid(child, &st, 0);
    report("child status", WIFEXITED(st) ? WEXITSTATUS(st) : 100);

    /* With only the O_RDWR end open, it is still a writer: no EOF. */
    fcntl(rw, F_SETFL, O_NONBLOCK);
    show_read("drained", rw);
    /* And the last reader and writer gone with its close: a new
     * non-blocking writer finds no reader. */
    close(rw);
    int w2 = open("/rw.fifo", O_WRONLY | O_NONBLOCK);
    report("open O_WRONLY|O_NONBLOCK after close", w2 >= 0 ? 0 : -1);
    unlink("/rw.fifo");

    /* /proc/self/fd/N of an anonymous pipe, reopened O_RDWR: a new end
     * that reads and writes the same pipe. */
    int p[2];
    report("pipe", pipe(p));
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", p[0]);
    int both = open(link, O_RDWR);
    report("reopen O_RDWR", both >= 0 ? 0 : -1);
    close(p[1]);
    report("write reopened", write(both, "ab", 2));
    show_read("pipe read end", p[0]);
    report("write reopened again", write(both, "cd", 2));
    show_read("reopened", both);
    show_poll("reopened empty", both, POLLIN | POLLOUT, 0);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    show_read("read end, writer left", p[0]);
    close(both);
    show_read("read end, no writer", p[0]);
    return 0;
}
