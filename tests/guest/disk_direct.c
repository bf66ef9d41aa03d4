/* A private mapping of a file on an ext2 disk whose blocks lie together
 * on the disk (tests/disk_direct.rs): umvm maps it straight from the
 * backing image. Whatever the path taken, the mapping equals read(2), its
 * last partial page holds the file's last bytes then zeros, the page past
 * the end reads zeros, its stores stay private, and /proc/self/maps names
 * the file at the right offsets. Prints the mapping's address, one line
 * per check and "ready", then waits for a line on stdin (the test looks at
 * the host's view of the mapping meanwhile).
 * Usage: disk_direct FILE [rewrite|past] -- with rewrite, first overwrites
 * the file's first bytes with write(2); with past, also reads the page
 * mapped wholly past the end of the file (SIGBUS on Linux, zeros in a
 * mapping umvm made from the disk). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static void die(const char *what) {
    printf("FAIL %s: %s\n", what, strerror(errno));
    exit(1);
}

/* Whether /proc/self/maps has a line for `at` naming `path`, inode `ino`,
 * at file offset `off`. */
static int named(void *at, const char *path, unsigned long ino, unsigned long off) {
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[512];
    int found = 0;
    while (maps && fgets(line, sizeof line, maps)) {
        unsigned long lo, hi, o, i;
        char perms[8], dev[16], name[300] = "";
        if (sscanf(line, "%lx-%lx %7s %lx %15s %lu %299s", &lo, &hi, perms, &o, dev, &i, name) >= 6 &&
            lo == (unsigned long)at && o == off && i == ino && strcmp(name, path) == 0)
            found = 1;
    }
    if (maps) fclose(maps);
    return found;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2) return 2;
    const char *file = argv[1];
    const char *mode = argc > 2 ? argv[2] : "";
    int rewrite = strcmp(mode, "rewrite") == 0, past = strcmp(mode, "past") == 0;
    int fd = open(file, rewrite ? O_RDWR : O_RDONLY);
    if (fd < 0) die("open");
    if (rewrite && pwrite(fd, "CHANGED", 7, 0) != 7) die("pwrite");
    struct stat st;
    if (fstat(fd, &st) != 0) die("fstat");
    long size = st.st_size, total = (size + 4095) / 4096 * 4096 + 4096;
    char *want = malloc(size);
    if (pread(fd, want, size, 0) != size) die("pread");
    char *p = mmap(0, total, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) die("mmap");
    printf("addr %lx\n", (unsigned long)p);
    printf("private equals read %d\n", memcmp(p, want, size) == 0);
    printf("starts %.7s\n", p);
    printf("tail %.7s\n", p + size - 7);
    int zeros = 1;
    for (long i = size; i < (past ? total : total - 4096); i++)
        zeros &= p[i] == 0;
    printf("zeros after end %d\n", zeros);
    printf("maps names the file %d\n", named(p, file, st.st_ino, 0));
    /* A mapping from the second page on: the offset shows. */
    char *q = mmap(0, 8192, PROT_READ, MAP_PRIVATE, fd, 4096);
    if (q == MAP_FAILED) die("mmap at 4096");
    printf("offset mapping %d named %d\n", memcmp(q, want + 4096, 8192) == 0, named(q, file, st.st_ino, 4096));
    memcpy(p, "PRIVATE", 7);
    memcpy(p + size - 3, "XYZ", 3);
    char got[8] = {0};
    pread(fd, got, 7, 0);
    printf("private store stays private %d %d\n", memcmp(got, want, 7) == 0, q[0] == want[4096]);
    printf("ready\n");
    char line[16];
    if (!fgets(line, sizeof line, stdin)) die("stdin");
    munmap(q, 8192);
    munmap(p, total);
    printf("done\n");
    return 0;
}
