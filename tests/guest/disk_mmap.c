/* File mappings of files on an ext2 disk (tests/disk_mmap.rs): a private
 * mapping reads what read(2) reads and its stores stay private; a shared
 * mapping's stores reach read(2) and, after msync, the file; write(2) is
 * seen at once by shared and private mappings; ftruncate growth while
 * mapped makes the new pages usable and fstat shows the size; stores left
 * without msync reach the file at the last close or at unmount. Prints one
 * line per check; the test compares the lines. Usage: disk_mmap DIR. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *dir;

static char *path(const char *name) {
    static char buf[4][256];
    static int i;
    char *b = buf[i++ % 4];
    snprintf(b, 256, "%s/%s", dir, name);
    return b;
}

static void die(const char *what) {
    printf("FAIL %s: %s\n", what, strerror(errno));
    exit(1);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    dir = argc > 1 ? argv[1] : "/data";

    /* ro.txt (from the image): a private mapping equals read(2). */
    int fd = open(path("ro.txt"), O_RDONLY);
    if (fd < 0) die("open ro.txt");
    struct stat st;
    fstat(fd, &st);
    char *want = malloc(st.st_size);
    if (pread(fd, want, st.st_size, 0) != st.st_size) die("pread ro.txt");
    char *p = mmap(0, st.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) die("mmap ro.txt");
    printf("private equals read %d (%ld bytes)\n", memcmp(p, want, st.st_size) == 0, (long)st.st_size);
    /* /proc/self/maps names the file, with its inode number. */
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[512], wanted[300];
    snprintf(wanted, sizeof wanted, " %lu ", (unsigned long)st.st_ino);
    int named = 0;
    while (maps && fgets(line, sizeof line, maps)) {
        unsigned long lo;
        if (sscanf(line, "%lx-", &lo) == 1 && lo == (unsigned long)p && strstr(line, path("ro.txt")) &&
            strstr(line, wanted))
            named = 1;
    }
    if (maps) fclose(maps);
    printf("maps names the file %d\n", named);
    memcpy(p, "PRIVATE", 7);
    char got[16] = {0};
    pread(fd, got, 7, 0);
    printf("private store stays private %d\n", memcmp(got, want, 7) == 0);
    /* A second mapping of the same file sees the file, not the store. */
    char *p2 = mmap(0, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    printf("second mapping %d\n", p2 != MAP_FAILED && memcmp(p2, want, 7) == 0);
    munmap(p, st.st_size);
    munmap(p2, 4096);
    /* MAP_SHARED|PROT_WRITE of a read-only fd. */
    void *w = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    printf("rdonly shared write: %s\n", w == MAP_FAILED ? strerror(errno) : "mapped");
    close(fd);

    /* rw.bin (8192 bytes of '.'): shared stores, write(2), msync. */
    fd = open(path("rw.bin"), O_RDWR);
    if (fd < 0) die("open rw.bin");
    char *s = mmap(0, 16384, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    char *pr = mmap(0, 8192, PROT_READ, MAP_PRIVATE, fd, 0);
    if (s == MAP_FAILED || pr == MAP_FAILED) die("mmap rw.bin");
    printf("shared sees file %d\n", s[0] == '.' && s[8191] == '.');
    memcpy(s + 100, "shared-store", 12);
    int other = open(path("rw.bin"), O_RDONLY);
    memset(got, 0, sizeof got);
    pread(other, got, 12, 100);
    printf("read sees store before msync: %s\n", got);
    if (msync(s, 8192, MS_SYNC) != 0) die("msync");
    pwrite(fd, "via-write", 9, 5000);
    printf("shared sees write %.9s\n", s + 5000);
    printf("private sees write %.9s\n", pr + 5000);

    /* Growth while mapped. */
    if (ftruncate(fd, 12288) != 0) die("ftruncate");
    fstat(fd, &st);
    printf("size after growth %ld\n", (long)st.st_size);
    memcpy(s + 9000, "grown", 5);
    printf("new page zero before the store %d\n", s[9005] == 0);
    if (msync(s + 8192, 4096, MS_ASYNC) != 0) die("msync async");
    memset(got, 0, sizeof got);
    pread(other, got, 5, 9000);
    printf("read of grown page: %s\n", got);

    /* A store left for the last close (no msync). */
    memcpy(s + 200, "at-close", 8);
    munmap(s, 16384);
    munmap(pr, 8192);
    close(other);
    close(fd);

    /* A child maps shared and stores; its exit leaves it in the page
     * cache, where the parent's read(2) finds it. */
    fd = open(path("rw.bin"), O_RDWR);
    if (fork() == 0) {
        char *c = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (c == MAP_FAILED) _exit(1);
        memcpy(c + 300, "child", 5);
        _exit(0);
    }
    int status;
    wait(&status);
    memset(got, 0, sizeof got);
    pread(fd, got, 5, 300);
    printf("child store %s (status %d)\n", got, status);
    /* This one stays mapped to the end: unmount writes it back. */
    char *last = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    memcpy(last + 400, "at-unmount", 10);

    /* A new file, sized with ftruncate and written through a mapping. */
    fd = open(path("new.bin"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die("create new.bin");
    ftruncate(fd, 6000);
    char *n = mmap(0, 6000, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (n == MAP_FAILED) die("mmap new.bin");
    memcpy(n + 4500, "made-by-mmap", 12);
    msync(n, 6000, MS_SYNC);
    /* Shrinking while mapped: the size follows. */
    ftruncate(fd, 5000);
    fstat(fd, &st);
    printf("size after shrink %ld\n", (long)st.st_size);
    munmap(n, 6000);
    close(fd);
    return 0;
}
