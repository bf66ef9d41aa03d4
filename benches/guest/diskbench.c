/* diskbench: the timed steps of `cargo bench --bench disk`, the same static
 * binary on the host, in umvm and in UML. Each prints "NAME SECONDS" (the
 * CLOCK_MONOTONIC time of the step alone) on stdout.
 *   diskbench write FILE MB   writes MB MiB in 1 MiB writes, then fsync
 *   diskbench read FILE       reads FILE in 1 MiB reads
 *   diskbench rand FILE N     N preads of 4 KiB at random 4 KiB offsets
 *   diskbench run CMD ARG...  fork, exec CMD, wait (must exit 0)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

int main(int argc, char **argv) {
    static char buf[1 << 20];
    if (argc < 3) {
        fprintf(stderr, "usage: diskbench write|read|rand|run ...\n");
        return 2;
    }
    const char *mode = argv[1];
    double start = now();
    if (!strcmp(mode, "write") && argc == 4) {
        long mb = atol(argv[3]);
        for (size_t i = 0; i < sizeof buf; i++)
            buf[i] = (char)(i * 7 + 1);
        int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
            die(argv[2]);
        start = now();
        for (long i = 0; i < mb; i++) {
            buf[0] = (char)i;
            if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf)
                die("write");
        }
        if (fsync(fd) < 0)
            die("fsync");
        close(fd);
    } else if (!strcmp(mode, "read") && argc == 3) {
        int fd = open(argv[2], O_RDONLY);
        if (fd < 0)
            die(argv[2]);
        ssize_t r;
        long long total = 0;
        while ((r = read(fd, buf, sizeof buf)) > 0)
            total += r;
        if (r < 0)
            die("read");
        close(fd);
        if (total == 0) {
            fprintf(stderr, "diskbench: %s is empty\n", argv[2]);
            return 1;
        }
    } else if (!strcmp(mode, "rand") && argc == 4) {
        long n = atol(argv[3]);
        int fd = open(argv[2], O_RDONLY);
        if (fd < 0)
            die(argv[2]);
        struct stat st;
        if (fstat(fd, &st) < 0 || st.st_size < 4096)
            die("fstat");
        unsigned long long x = 0x2545f4914f6cdd1dULL, blocks = (unsigned long long)st.st_size / 4096;
        start = now();
        for (long i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if (pread(fd, buf, 4096, (off_t)(x % blocks * 4096)) != 4096)
                die("pread");
        }
        close(fd);
    } else if (!strcmp(mode, "run")) {
        pid_t pid = fork();
        if (pid < 0)
            die("fork");
        if (pid == 0) {
            execv(argv[2], argv + 2);
            die(argv[2]);
        }
        int status;
        if (waitpid(pid, &status, 0) < 0)
            die("waitpid");
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "diskbench: %s failed (status %d)\n", argv[2], status);
            return 1;
        }
    } else {
        fprintf(stderr, "diskbench: bad arguments\n");
        return 2;
    }
    printf("%s %.6f\n", mode, now() - start);
    return 0;
}
