/* Locks between processes: flock and fcntl record locks conflict across
 * processes, a blocking request waits for the holder; memfd_create gives
 * a file shared through mmap with a fork child; copy_file_range copies. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int fd = open("/tmp/lockfile", O_RDWR | O_CREAT | O_TRUNC, 0644);
    write(fd, "0123456789", 10);
    flock(fd, LOCK_EX);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 5};
    printf("parent setlk %d\n", fcntl(fd, F_SETLK, &fl));
    pid_t c = fork();
    if (c == 0) {
        int f = open("/tmp/lockfile", O_RDWR);
        printf("child flock nb: %s\n", flock(f, LOCK_EX | LOCK_NB) ? strerror(errno) : "got it");
        struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 2, .l_len = 1};
        fcntl(f, F_GETLK, &q);
        printf("child getlk: %s at %ld len %ld\n", q.l_type == F_WRLCK ? "write-locked" : "free", (long)q.l_start,
               (long)q.l_len);
        q.l_type = F_WRLCK;
        printf("child setlk: %s\n", fcntl(f, F_SETLK, &q) ? strerror(errno) : "got it");
        struct flock other = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 6, .l_len = 2};
        printf("child setlk elsewhere: %s\n", fcntl(f, F_SETLK, &other) ? strerror(errno) : "got it");
        double t0 = now();
        flock(f, LOCK_EX);
        printf("child flock waited: %d\n", now() - t0 > 0.1);
        t0 = now();
        fcntl(f, F_SETLKW, &q);
        printf("child setlkw waited: %d\n", now() - t0 > 0.1);
        _exit(0);
    }
    usleep(300000);
    flock(fd, LOCK_UN);
    usleep(300000);
    fl.l_type = F_UNLCK;
    fcntl(fd, F_SETLK, &fl);
    waitpid(c, 0, 0);

    int m = memfd_create("shared", MFD_CLOEXEC);
    ftruncate(m, 4096);
    char *p = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
    if (fork() == 0) { strcpy(p, "from child"); _exit(0); }
    wait(0);
    printf("memfd: %s\n", p);
    char buf[16] = {0};
    pread(m, buf, 10, 0);
    printf("memfd read: %s\n", buf);

    int out = open("/tmp/copy", O_RDWR | O_CREAT | O_TRUNC, 0644);
    loff_t in_off = 3;
    ssize_t n = copy_file_range(fd, &in_off, out, NULL, 5, 0);
    memset(buf, 0, sizeof buf);
    pread(out, buf, 10, 0);
    printf("copied %zd: %s, in_off %ld\n", n, buf, (long)in_off);
    return 0;
}
