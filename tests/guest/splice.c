/* splice, tee and vmsplice as Linux's fs/splice.c serves them: between a
 * pipe and a regular file (with and without offsets), between pipes,
 * from procfs files and /dev/zero, into /dev/null; waiting for data;
 * and the errors for what cannot be spliced (/proc/PID files, /dev/null
 * as a source, /dev/full as a destination, eventfd, directories). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char *what, ssize_t r) {
    if (r < 0)
        printf("%s = %s\n", what, strerror(errno));
    else
        printf("%s = %zd\n", what, r);
}

/* Everything left in a pipe, read without waiting (NULs shown as 0,
 * newlines as $). */
static void drain(const char *what, int fd) {
    char buf[256];
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    fcntl(fd, F_SETFL, fl);
    if (n < 0) {
        printf("  %s: %s\n", what, strerror(errno));
        return;
    }
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == 0)
            buf[i] = '0';
        else if (buf[i] == '\n')
            buf[i] = '$';
    buf[n] = 0;
    printf("  %s: \"%s\"\n", what, buf);
}

static void file_is(int fd) {
    char buf[64] = {0};
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    printf("  file: \"%.*s\"\n", (int)(n < 0 ? 0 : n), buf);
}

int main(void) {
    setvbuf(stdout, 0, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    int p[2], q[2];
    pipe(p);
    pipe(q);
    int fd = open("/tmp/splice-file", O_RDWR | O_CREAT | O_TRUNC, 0644);
    loff_t off;

    /* Pipe to file, at an offset and at the file's position. */
    write(p[1], "hello world", 11);
    off = 0;
    report("pipe -> file at offset 0, 5", splice(p[0], 0, fd, &off, 5, 0));
    printf("  offset now %lld, position %lld\n", (long long)off, (long long)lseek(fd, 0, SEEK_CUR));
    file_is(fd);
    report("pipe -> file at its position, 100", splice(p[0], 0, fd, 0, 100, 0));
    printf("  position now %lld\n", (long long)lseek(fd, 0, SEEK_CUR));
    file_is(fd);

    /* File to pipe. */
    off = 1;
    report("file at offset 1 -> pipe, 4", splice(fd, &off, p[1], 0, 4, 0));
    printf("  offset now %lld\n", (long long)off);
    drain("pipe", p[0]);
    lseek(fd, 2, SEEK_SET);
    report("file at its position 2 -> pipe, 100", splice(fd, 0, p[1], 0, 100, 0));
    printf("  position now %lld\n", (long long)lseek(fd, 0, SEEK_CUR));
    drain("pipe", p[0]);
    off = 1000;
    report("file past its end -> pipe", splice(fd, &off, p[1], 0, 10, 0));

    /* Pipe to pipe, and tee. */
    write(p[1], "abcdef", 6);
    report("pipe -> pipe, 4", splice(p[0], 0, q[1], 0, 4, 0));
    drain("source", p[0]);
    drain("destination", q[0]);
    write(p[1], "xyz", 3);
    report("tee, 10", tee(p[0], q[1], 10, 0));
    drain("tee source", p[0]);
    drain("tee destination", q[0]);

    /* Procfs and devices. */
    int comm = open("/proc/self/comm", O_RDONLY);
    report("/proc/self/comm -> pipe", splice(comm, 0, p[1], 0, 100, 0));
    int ngroups = open("/proc/sys/kernel/ngroups_max", O_RDONLY);
    report("/proc/sys/kernel/ngroups_max -> pipe", splice(ngroups, 0, p[1], 0, 100, 0));
    drain("pipe", p[0]);
    int zero = open("/dev/zero", O_RDONLY);
    report("/dev/zero -> pipe, 3", splice(zero, 0, p[1], 0, 3, 0));
    drain("pipe", p[0]);
    int null = open("/dev/null", O_RDWR);
    write(p[1], "gone", 4);
    report("pipe -> /dev/null", splice(p[0], 0, null, 0, 100, 0));
    drain("pipe", p[0]);
    report("/dev/null -> pipe", splice(null, 0, p[1], 0, 10, 0));
    int full = open("/dev/full", O_WRONLY);
    write(p[1], "full", 4);
    report("pipe -> /dev/full", splice(p[0], 0, full, 0, 10, 0));
    drain("pipe", p[0]);

    /* A big file fills the pipe, no more. */
    char big[100000];
    memset(big, 'b', sizeof big);
    int bf = open("/tmp/splice-big", O_RDWR | O_CREAT | O_TRUNC, 0644);
    write(bf, big, sizeof big);
    off = 0;
    report("100000-byte file -> empty pipe", splice(bf, &off, p[1], 0, sizeof big, 0));
    report("full pipe -> file", splice(p[0], 0, bf, 0, sizeof big, 0));

    /* Waiting for data. */
    if (fork() == 0) {
        usleep(200 * 1000);
        write(p[1], "late", 4);
        _exit(0);
    }
    lseek(fd, 0, SEEK_SET);
    report("pipe (filled later) -> file", splice(p[0], 0, fd, 0, 100, 0));
    wait(0);
    file_is(fd);

    /* Errors. */
    report("len 0, bad fds", splice(-1, 0, -1, 0, 0, 0));
    report("unknown flag", splice(p[0], 0, fd, 0, 1, 0x100));
    report("bad fd", splice(99, 0, p[1], 0, 1, 0));
    report("no pipe", splice(fd, 0, bf, 0, 1, 0));
    off = 0;
    report("offset for a pipe", splice(p[0], &off, fd, 0, 1, 0));
    report("same pipe", splice(p[0], 0, p[1], 0, 1, 0));
    report("offset not readable", splice(fd, (loff_t *)8, p[1], 0, 1, 0));
    off = -1;
    report("negative offset", splice(fd, &off, p[1], 0, 1, 0));
    report("write end as source", splice(p[1], 0, fd, 0, 1, 0));
    int app = open("/tmp/splice-file", O_WRONLY | O_APPEND);
    write(p[1], "a", 1);
    report("O_APPEND destination", splice(p[0], 0, app, 0, 1, 0));
    drain("pipe", p[0]);
    report("empty pipe, SPLICE_F_NONBLOCK", splice(p[0], 0, fd, 0, 1, SPLICE_F_NONBLOCK));
    int efd = eventfd(0, 0);
    report("eventfd -> pipe", splice(efd, 0, p[1], 0, 8, 0));
    int dir = open("/tmp", O_RDONLY | O_DIRECTORY);
    report("directory -> pipe", splice(dir, 0, p[1], 0, 8, 0));
    report("tee file", tee(fd, q[1], 1, 0));
    report("tee same pipe", tee(p[0], p[1], 1, 0));
    report("tee unknown flag", tee(p[0], q[1], 1, 0x100));
    report("tee len 0", tee(-1, -1, 0, 0));
    report("tee empty, SPLICE_F_NONBLOCK", tee(p[0], q[1], 1, SPLICE_F_NONBLOCK));

    /* vmsplice, both ways. */
    char text[] = "vmspliced";
    struct iovec iov = {text, 9};
    report("vmsplice into pipe", vmsplice(p[1], &iov, 1, 0));
    drain("pipe", p[0]);
    write(p[1], "back", 4);
    char got[16] = {0};
    struct iovec in = {got, sizeof got};
    report("vmsplice out of pipe", vmsplice(p[0], &in, 1, 0));
    printf("  got \"%s\"\n", got);
    report("vmsplice on a file", vmsplice(fd, &iov, 1, 0));
    report("vmsplice bad iovec", vmsplice(p[1], (struct iovec *)8, 1, 0));
    report("vmsplice unknown flag", vmsplice(p[1], &iov, 1, 0x100));
    report("vmsplice empty", vmsplice(p[1], &iov, 0, 0));
    report("vmsplice empty pipe, nonblocking", vmsplice(p[0], &in, 1, SPLICE_F_NONBLOCK));

    /* No reader left: EPIPE (SIGPIPE ignored). */
    close(q[0]);
    report("file -> pipe without reader", splice(fd, 0, q[1], 0, 1, 0));
    write(p[1], "z", 1);
    report("pipe -> pipe without reader", splice(p[0], 0, q[1], 0, 1, 0));
    report("vmsplice without reader", vmsplice(q[1], &iov, 1, 0));
    /* No writer left: end of file. */
    close(p[1]);
    drain("pipe", p[0]);
    report("pipe without writer -> file", splice(p[0], 0, fd, 0, 1, 0));
    unlink("/tmp/splice-file");
    unlink("/tmp/splice-big");
    return 0;
}
