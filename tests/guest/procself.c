/* A process looks at itself through /proc, and checks what it finds
 * against what it knows first-hand. One check per mode (argv[1]); each
 * prints "MODE ok" or what differs, and exits non-zero on a mismatch.
 *
 *   args      /proc/self/cmdline, environ and auxv are its argv, its
 *             environment and the auxiliary vector on its stack (byte for
 *             byte), and getauxval agrees.
 *   stat      /proc/self/stat and statm: ids, sizes, and that statm's and
 *             stat's sizes agree.
 *   maps F..  maps each file F, then finds the mapping in /proc/self/maps:
 *             it must name F (as given, a canonical guest path) with the
 *             file's device and inode; prints the whole maps afterwards.
 *   threads   /proc/self/task lists both threads; each thread's stat and
 *             status give its own id; /proc/TID works for a thread too.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

extern char **environ;
static int bad;

static void fail(const char *what) {
    printf("MISMATCH %s\n", what);
    bad = 1;
}

/* Reads a whole file into a static buffer (no malloc: reading must not
 * change the sizes being read). Returns its length, or -1 with errno. */
static char buf[1 << 20];
static long slurp(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    long n = 0, r;
    while ((r = read(fd, buf + n, sizeof buf - 1 - n)) > 0) n += r;
    close(fd);
    buf[n] = 0;
    return n;
}

/* argv or environ, as the kernel lays the strings out. */
static long joined(char **v, char *out) {
    long n = 0;
    for (; *v; v++) {
        size_t l = strlen(*v) + 1;
        memcpy(out + n, *v, l);
        n += l;
    }
    return n;
}

static char want[1 << 20];

static void args(char **argv) {
    long n = slurp("/proc/self/cmdline");
    long w = joined(argv, want);
    if (n != w || memcmp(buf, want, n)) fail("cmdline");
    n = slurp("/proc/self/environ");
    w = joined(environ, want);
    if (n != w || memcmp(buf, want, n)) fail("environ");
    /* The auxv on the stack follows envp's NULL. */
    char **p = environ;
    while (*p) p++;
    unsigned long *aux = (unsigned long *)(p + 1), *a = aux;
    while (a[0] != AT_NULL) a += 2;
    long auxlen = (long)((char *)(a + 2) - (char *)aux);
    n = slurp("/proc/self/auxv");
    if (n != auxlen || memcmp(buf, aux, n)) fail("auxv bytes");
    unsigned long *v = (unsigned long *)buf;
    int entries = 0;
    /* (glibc's getauxval(AT_HWCAP) is its own view of the CPU, not the
     * kernel's word.) */
    for (; v[0] != AT_NULL; v += 2, entries++)
        if (v[0] != AT_HWCAP && getauxval(v[0]) != v[1]) printf("MISMATCH getauxval(%lu)\n", v[0]), bad = 1;
    if (getauxval(AT_PAGESZ) != 4096 || !getauxval(AT_RANDOM) || !getauxval(AT_ENTRY)) fail("auxv values");
    if (!bad) printf("args ok: %d auxv entries\n", entries);
}

static void stat_(void) {
    long pid, ppid, pgrp, sid, threads;
    unsigned long long start, vsize;
    long rss;
    char state;
    if (slurp("/proc/self/stat") < 0) fail("open stat");
    /* The name is in parentheses; the fields follow the last ')'. */
    char *r = strrchr(buf, ')');
    if (sscanf(buf, "%ld", &pid) != 1 || !r ||
        sscanf(r + 2, "%c %ld %ld %ld %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %ld %*d %llu %llu %ld",
               &state, &ppid, &pgrp, &sid, &threads, &start, &vsize, &rss) != 8)
        fail("stat fields");
    if (pid != getpid() || ppid != getppid() || pgrp != getpgrp() || sid != getsid(0)) fail("stat ids");
    if (state != 'R') fail("stat state");
    if (threads != 1) fail("stat threads");
    /* (Linux's resident counts are per-CPU counters, read without summing
     * them up: a small process may show 0.) */
    if (vsize == 0 || rss < 0 || (unsigned long long)rss * 4096 > vsize) fail("stat sizes");
    unsigned long size, resident, shared, text, lib, data, dt;
    if (slurp("/proc/self/statm") < 0 ||
        sscanf(buf, "%lu %lu %lu %lu %lu %lu %lu", &size, &resident, &shared, &text, &lib, &data, &dt) != 7)
        fail("statm fields");
    if (size * 4096 != vsize) fail("statm size");
    if (resident > size || text == 0 || data == 0) fail("statm values");
    if (!bad) printf("stat ok\n");
}

static void maps(int argc, char **argv) {
    for (int i = 2; i < argc; i++) {
        int fd = open(argv[i], O_RDONLY);
        struct stat st;
        if (fd < 0 || fstat(fd, &st)) {
            fail("open file");
            continue;
        }
        char *at = mmap(0, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        if (at == MAP_FAILED) {
            fail("mmap");
            continue;
        }
        char key[32];
        snprintf(key, sizeof key, "%lx-", (unsigned long)at);
        slurp("/proc/self/maps");
        char *line = strstr(buf, key);
        if (!line || (line != buf && line[-1] != '\n')) {
            fail("no maps line");
            continue;
        }
        char *end = strchr(line, '\n');
        *end = 0;
        unsigned maj, min;
        unsigned long ino, off;
        char path[4096];
        if (sscanf(line, "%*x-%*x %*s %lx %x:%x %lu %4095[^\n]", &off, &maj, &min, &ino, path) != 5)
            fail("maps fields");
        else if (strcmp(path, argv[i]) || ino != st.st_ino || maj != major(st.st_dev) || min != minor(st.st_dev) ||
                 off != 0)
            printf("MISMATCH %s: %s (dev %u:%u ino %lu)\n", argv[i], line, major(st.st_dev), minor(st.st_dev),
                   (unsigned long)st.st_ino),
                bad = 1;
        else
            printf("maps ok %s\n", argv[i]);
    }
    slurp("/proc/self/maps");
    fputs(buf, stdout);
}

/* ready: the thread is up; release: it may end. One pipe for both would let
 * the thread read back its own byte and leave the main thread waiting. */
static int ready[2], release[2];
static pid_t other;

static void *thread(void *arg) {
    (void)arg;
    other = syscall(SYS_gettid);
    char c;
    write(ready[1], "x", 1);
    read(release[0], &c, 1);
    return 0;
}

static void threads(void) {
    pthread_t t;
    if (pipe(ready) || pipe(release) || pthread_create(&t, 0, thread, 0)) fail("thread");
    char c;
    read(ready[0], &c, 1);
    DIR *d = opendir("/proc/self/task");
    int n = 0, seen_main = 0, seen_other = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        n++;
        seen_main |= atoi(e->d_name) == getpid();
        seen_other |= atoi(e->d_name) == other;
    }
    if (d) closedir(d);
    if (n != 2 || !seen_main || !seen_other) fail("task list");
    pid_t ids[2] = {getpid(), other};
    for (int i = 0; i < 2; i++) {
        char path[64], want_pid[64], want_tgid[64];
        snprintf(path, sizeof path, "/proc/self/task/%d/stat", ids[i]);
        if (slurp(path) < 0 || atoi(buf) != ids[i]) fail("task stat");
        snprintf(path, sizeof path, "/proc/%d/task/%d/status", getpid(), ids[i]);
        snprintf(want_pid, sizeof want_pid, "\nPid:\t%d\n", ids[i]);
        snprintf(want_tgid, sizeof want_tgid, "\nTgid:\t%d\n", getpid());
        if (slurp(path) < 0 || !strstr(buf, want_pid) || !strstr(buf, want_tgid)) fail("task status");
        /* /proc/TID: not listed in /proc, but there. */
        snprintf(path, sizeof path, "/proc/%d/status", ids[i]);
        if (slurp(path) < 0 || !strstr(buf, want_pid) || !strstr(buf, want_tgid)) fail("tid status");
    }
    if (slurp("/proc/self/stat") < 0) fail("stat");
    char *r = strrchr(buf, ')');
    long nthreads = 0;
    if (!r || sscanf(r + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %ld", &nthreads) != 1 ||
        nthreads != 2)
        fail("num_threads");
    write(release[1], "x", 1);
    pthread_join(t, 0);
    if (!bad) printf("threads ok\n");
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "args")) args(argv);
    else if (!strcmp(mode, "stat")) stat_();
    else if (!strcmp(mode, "maps")) maps(argc, argv);
    else if (!strcmp(mode, "threads")) threads();
    else fail("mode");
    return bad;
}
