/* fsync_loop DIR: for n = 0, 1, 2...: writes DIR/f<n> (content from
 * content() below, 1 to 20,000 bytes), fsyncs and closes it, appends the
 * line "record <n>" padded to 64 bytes to DIR/log, fsyncs that, and only
 * then prints "synced <n>" on stdout. Runs until killed (or n = 100,000).
 * The crash test (tests/disk_crash.rs) kills umvm and checks that every
 * file reported synced is on the disk. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static size_t content(unsigned n, unsigned char *buf) {
    size_t len = 1 + (size_t)n * 7919 % 20000;
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)((n * 31 + i * 7) % 251);
    return len;
}

static void die(const char *what, const char *path) {
    fprintf(stderr, "fsync_loop: %s %s: %s\n", what, path, strerror(errno));
    exit(1);
}

static void write_all(int fd, const void *p, size_t len, const char *path) {
    const char *c = p;
    while (len) {
        ssize_t w = write(fd, c, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            die("write", path);
        }
        c += w;
        len -= (size_t)w;
    }
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/c";
    static unsigned char buf[20000];
    char path[512], log[512];
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        die("mkdir", dir);
    snprintf(log, sizeof log, "%s/log", dir);
    int logfd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (logfd < 0)
        die("open", log);
    for (unsigned n = 0; n < 100000; n++) {
        snprintf(path, sizeof path, "%s/f%u", dir, n);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
            die("open", path);
        write_all(fd, buf, content(n, buf), path);
        if (fsync(fd) < 0)
            die("fsync", path);
        if (close(fd) < 0)
            die("close", path);
        char rec[65];
        snprintf(rec, sizeof rec, "record %-56u\n", n);
        write_all(logfd, rec, 64, log);
        if (fsync(logfd) < 0)
            die("fsync", log);
        printf("synced %u\n", n);
        fflush(stdout);
    }
    return 0;
}
